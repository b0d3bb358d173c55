//! The "View As" world: the attack, planned once over the friend graph, and each user's
//! ordinary sessions, drawn from the user's own random stream. A shard writes the access-log
//! events, friendships and truth of its own users; the plan is the same in every shard
//! (a pure function of seed, users and scenario), so shard i/N equals the whole run's.
//!
//! The log's rules (data/README §7): a token issued on the `video_uploader` path whose
//! owner (`target_id`) is not the session's account (`user_id`) is taken; its hop is one
//! more than the hop of the token the session used (0 for a login token); a read whose
//! `token_id` is a taken token read that owner's data.

use std::collections::{BinaryHeap, HashMap, HashSet};

use blastradius_schema::time::{HOUR, SECOND, parse_utc};
use blastradius_schema::{AccessKind, Client, FieldGroup, Tier, TokenPath};
use rand::Rng;

use crate::graph::Graph;
use crate::rng::{AliasTable, between, chance, entity_rng, unit};
use crate::scenario::{Scenario, ViewAs};
use crate::user::poisson;

/// Domains of the View-As world's random streams (see [`crate::rng`]).
const PLAN: u64 = 4;
const SESSIONS: u64 = 5;

/// Access-log event ids are `(user_id + 1) << 24 | ACCESS | seq`: above every photo-log id
/// of the same user (whose sequence stays below 2^23). A user's ordinary events come first
/// in the sequence, the attack's after them: nothing in an id tells the two apart.
const ACCESS: u64 = 1 << 23;
// Token and session ids follow the same scheme, `(user_id + 1) << 24 | n`: a user's tokens
// are numbered in the order they are issued (logins first, then the uploader's, then a
// token taken or the attacker's own login), sessions likewise (logins, then the attacker's
// session). A plan numbers its own after the user's ordinary ones (see `Counts`).
/// No user has more sessions than this, so every id fits its range.
const MAX_SESSIONS: u64 = 10_000;

/// What a user's ordinary sessions number: the attack's ids for that user follow them.
#[derive(Clone, Copy, Debug)]
struct Counts {
    events: u64,
    logins: u64,
    tokens: u64,
}

/// The system events' ids, below every user's and after the photo log's deploys (1 and 2).
pub const FLAW_INTRODUCED_ID: u64 = 3;
pub const FLAW_FIXED_ID: u64 = 4;
pub const TOKENS_RESET_ID: u64 = 5;

fn base(user: u64) -> u64 {
    (user + 1) << blastradius_schema::EVENT_SEQ_BITS
}

/// One row of the access log. Fields that do not apply to its kind (see
/// [`AccessKind::columns`]) are written as null; `token_id` 0 is null too (a login).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccessEvent {
    pub ts: i64,
    pub event_id: u64,
    pub user_id: u64,
    pub target_id: u64,
    pub token_id: u64,
    pub issued_token_id: u64,
    pub session_id: u64,
    pub network: u64,
    pub kind: AccessKind,
    pub client: Client,
    pub path: TokenPath,
    pub group: FieldGroup,
}

impl AccessEvent {
    fn system(kind: AccessKind, ts: i64, event_id: u64) -> Self {
        AccessEvent {
            ts,
            event_id,
            user_id: 0,
            target_id: 0,
            token_id: 0,
            issued_token_id: 0,
            session_id: 0,
            network: 0,
            kind,
            client: Client::Web,
            path: TokenPath::Login,
            group: FieldGroup::Contact,
        }
    }
}

/// A token the attack took.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Theft {
    pub token_id: u64,
    /// The token's owner.
    pub user_id: u64,
    pub ts: i64,
    /// The `token_issued` event that took it.
    pub event_id: u64,
    pub hop: u32,
    /// The account whose session it was issued to.
    pub pivot_id: u64,
}

/// One affected user: the tier and the field groups read (a bit per [`FieldGroup`] index).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Victim {
    pub user_id: u64,
    pub tier: Tier,
    pub groups: u8,
}

/// What one shard of a View-As world writes.
#[derive(Debug, Default)]
pub struct ViewAsShard {
    /// In log order, `(ts, event_id)`, the system events included.
    pub access: Vec<AccessEvent>,
    /// `(user_id, friend_id)`, by user, then friend.
    pub friendships: Vec<(u64, u64)>,
    /// By owner, then time.
    pub thefts: Vec<Theft>,
    /// By user.
    pub victims: Vec<Victim>,
}

/// The instants of the incident.
#[derive(Clone, Copy, Debug)]
struct Times {
    start: i64,
    end: i64,
    flaw_introduced: i64,
    attack_start: i64,
    flaw_fixed: i64,
    tokens_reset: i64,
}

/// The attack, planned once: every theft, every event of the attacker's sessions (in the
/// shard of the account they act as), and who was affected how.
#[derive(Debug)]
pub struct ViewAsWorld {
    params: ViewAs,
    seed: u64,
    times: Times,
    pub graph: Graph,
    /// The attacker's own accounts, sorted.
    pub attackers: Vec<u64>,
    /// In theft order (which is time order).
    pub thefts: Vec<Theft>,
    /// Pivots in the order the attacker used them.
    pub pivots: Vec<u64>,
    /// The attack's events, by `user_id`, then time.
    attack_events: Vec<AccessEvent>,
    victims: Vec<Victim>,
    clients: AliasTable,
    groups: AliasTable,
    /// `false` in a control world: no flaw, no attack, no reset; the background alone.
    incident: bool,
}

impl ViewAsWorld {
    /// Plans the attack of `scenario` (with a `[view_as]` section, validated) over `users`.
    pub fn new(scenario: &Scenario, seed: u64, users: u64) -> Option<Self> {
        let params = scenario.view_as.clone()?;
        let t = |s: &str| parse_utc(s).expect("validated scenario");
        let timeline = scenario.timeline();
        let times = Times {
            start: timeline.start,
            end: timeline.end,
            flaw_introduced: t(&params.flaw_introduced),
            attack_start: t(&params.attack_start),
            flaw_fixed: t(&params.flaw_fixed),
            tokens_reset: t(&params.tokens_reset),
        };
        let graph = Graph::new(&params.graph, seed, users);
        let mut world = ViewAsWorld {
            clients: AliasTable::new(&[0.35, 0.45, 0.20]),
            groups: AliasTable::new(&[0.5, 0.3, 0.2]),
            params,
            seed,
            times,
            graph,
            attackers: Vec::new(),
            thefts: Vec::new(),
            pivots: Vec::new(),
            attack_events: Vec::new(),
            victims: Vec::new(),
            incident: scenario.incident,
        };
        if world.incident {
            world.plan(users);
        }
        Some(world)
    }

    /// Who is stolen from whom, in what order: the attacker's accounts take a share of
    /// their friends' tokens (hop 1); then, hub first, a taken account with the most friends
    /// is used as a pivot (its profile loaded) and a share of its friends' tokens taken
    /// with its token, until the budget of tokens or of pivots is spent.
    fn plan(&mut self, users: u64) {
        let a = self.params.attack.clone();
        let mut rng = entity_rng(self.seed, PLAN, 0);
        let budget = (a.stolen_share * users as f64).round() as usize;
        let pivot_budget = (a.pivot_share * users as f64).round() as usize;
        let mut attackers = HashSet::new();
        while attackers.len() < (a.accounts as u64).min(users) as usize {
            attackers.insert(between(&mut rng, 0, users as i64) as u64);
        }
        let mut attackers: Vec<u64> = attackers.into_iter().collect();
        attackers.sort_unstable();
        // (victim, actor, hop) in theft order.
        let mut taken: Vec<(u64, u64, u32)> = Vec::new();
        let mut hop_of: HashMap<u64, u32> = attackers.iter().map(|&u| (u, 0)).collect();
        let mut hubs: BinaryHeap<(usize, std::cmp::Reverse<usize>, u64)> = BinaryHeap::new();
        let mut pivots = Vec::new();
        let mut friends = Vec::new();
        let mut actors: Vec<u64> = attackers.clone();
        actors.reverse();
        'spread: loop {
            let actor = match actors.pop() {
                Some(u) => u,
                None => {
                    if pivots.len() >= pivot_budget {
                        break;
                    }
                    // The taken account with the most friends not yet taken (its friend
                    // list is what the attacker reads with its token). Keys are counts
                    // when pushed, so a popped one is counted again and goes back unless
                    // it still leads (lazy greedy: counts only fall).
                    let mut next = None;
                    while let Some((key, order, u)) = hubs.pop() {
                        self.graph.friends_into(u, &mut friends);
                        let open = friends.iter().filter(|f| !hop_of.contains_key(f)).count();
                        if open == 0 {
                            continue;
                        }
                        if open < key && hubs.peek().is_some_and(|top| top.0 > open) {
                            hubs.push((open, order, u));
                            continue;
                        }
                        next = Some(u);
                        break;
                    }
                    match next {
                        Some(u) => {
                            pivots.push(u);
                            u
                        }
                        None => break,
                    }
                }
            };
            self.graph.friends_into(actor, &mut friends);
            let mut open: Vec<u64> = friends
                .iter()
                .copied()
                .filter(|f| !hop_of.contains_key(f))
                .collect();
            // "Part of those people's friend lists": a share, in an order of the pair's hash.
            let salt = rng.next_u64();
            open.sort_by_key(|&f| crate::graph::pair_hash(salt, actor, f));
            let take = (a.friends_taken * friends.len() as f64).ceil() as usize;
            let hop = hop_of[&actor] + 1;
            for f in open.into_iter().take(take) {
                if taken.len() >= budget {
                    break 'spread;
                }
                hop_of.insert(f, hop);
                taken.push((f, actor, hop));
                if hop < a.max_hops {
                    let open = self
                        .graph
                        .friends(f)
                        .iter()
                        .filter(|g| !hop_of.contains_key(g))
                        .count();
                    hubs.push((open, std::cmp::Reverse(taken.len()), f));
                }
            }
            if taken.len() >= budget {
                break;
            }
        }
        self.attackers = attackers;
        self.pivots = pivots;
        self.schedule(&taken, &mut rng);
    }

    /// Times every theft, in order, evenly over the attack with a little jitter, and writes
    /// the attack's events and the truth.
    fn schedule(&mut self, taken: &[(u64, u64, u32)], rng: &mut impl Rng) {
        let t = self.times;
        let a = &self.params.attack;
        let n = taken.len() as i64;
        let gap = (t.flaw_fixed - t.attack_start) / (n + 1);
        let network = |user: u64| {
            // The attacker's few networks are networks like any (ordinary users may share
            // them): drawn from the same numbers.
            let k = crate::graph::pair_hash(self.seed, PLAN, user) % a.networks as u64;
            1 + crate::graph::pair_hash(self.seed, PLAN + 1, k)
                % self.params.background.networks as u64
        };
        // Every user the attack touches, and how many events, logins and tokens their
        // ordinary sessions have: the attack's ids come after those.
        let mut involved: Vec<u64> = self.attackers.clone();
        involved.extend(taken.iter().map(|x| x.0));
        let counts: HashMap<u64, Counts> = involved.iter().map(|&u| (u, self.counts(u))).collect();
        let token_of = |u: u64| base(u) | counts[&u].tokens;
        let session_of = |u: u64| base(u) | counts[&u].logins;
        let tiers = AliasTable::new(&[a.token_only, a.contact, a.contact_profile]);
        let is_pivot: HashSet<u64> = self.pivots.iter().copied().collect();
        let mut events: Vec<AccessEvent> = Vec::new();
        let web = |kind, ts, user: u64, target: u64, token: u64, session: u64| AccessEvent {
            ts,
            event_id: 0,
            user_id: user,
            target_id: target,
            token_id: token,
            issued_token_id: 0,
            session_id: session,
            network: network(user),
            kind,
            client: Client::Web,
            path: TokenPath::Login,
            group: FieldGroup::Contact,
        };
        // The attacker's own accounts log in before the spike.
        for &u in &self.attackers {
            let mut login = web(
                AccessKind::TokenIssued,
                t.attack_start - HOUR,
                u,
                u,
                0,
                session_of(u),
            );
            login.issued_token_id = token_of(u);
            events.push(login);
        }
        let mut first_theft_by: HashMap<u64, i64> = HashMap::new();
        let mut thefts = Vec::with_capacity(taken.len());
        let mut victims = Vec::with_capacity(taken.len());
        for (k, &(victim, actor, hop)) in taken.iter().enumerate() {
            let jitter = between(rng, -gap / 10, gap / 10 + 1);
            let ts = t.attack_start + gap * (k as i64 + 1) + jitter;
            first_theft_by.entry(actor).or_insert(ts);
            let (parent, session) = (token_of(actor), session_of(actor));
            let stolen = token_of(victim);
            events.push(web(
                AccessKind::ViewAs,
                ts - gap / 4,
                actor,
                victim,
                parent,
                session,
            ));
            let mut issue = web(AccessKind::TokenIssued, ts, actor, victim, parent, session);
            issue.issued_token_id = stolen;
            issue.path = TokenPath::VideoUploader;
            events.push(issue);
            thefts.push(Theft {
                token_id: stolen,
                user_id: victim,
                ts,
                event_id: 0,
                hop,
                pivot_id: actor,
            });
            // What was read with it, as the victim's own session on the attacker's network.
            let tier = [Tier::TokenOnly, Tier::Contact, Tier::ContactProfile][tiers.sample(rng)];
            let read: &[FieldGroup] = match tier {
                Tier::TokenOnly | Tier::Pivot => &[],
                Tier::Contact => &[FieldGroup::Contact],
                Tier::ContactProfile => &[FieldGroup::Contact, FieldGroup::Profile],
            };
            let mut groups = 0u8;
            for (i, &g) in read.iter().enumerate() {
                let mut r = web(
                    AccessKind::ProfileRead,
                    ts + gap / 4 + i as i64,
                    victim,
                    victim,
                    stolen,
                    session_of(victim),
                );
                r.group = g;
                events.push(r);
                groups |= 1 << g.index();
            }
            victims.push(Victim {
                user_id: victim,
                tier,
                groups,
            });
        }
        // A pivot's profile is loaded as it would see it, just before it is used.
        for v in victims.iter_mut().filter(|v| is_pivot.contains(&v.user_id)) {
            let Some(&first) = first_theft_by.get(&v.user_id) else {
                continue; // chosen, but the budget ran out before it was used
            };
            v.tier = Tier::Pivot;
            let stolen = token_of(v.user_id);
            let pivot_reads = [
                FieldGroup::Contact,
                FieldGroup::Profile,
                FieldGroup::Timeline,
                FieldGroup::Friends,
                FieldGroup::Groups,
                FieldGroup::Conversations,
            ];
            for (i, &g) in pivot_reads.iter().enumerate() {
                let mut r = web(
                    AccessKind::ProfileRead,
                    first - gap / 2 + i as i64,
                    v.user_id,
                    v.user_id,
                    stolen,
                    session_of(v.user_id),
                );
                r.group = g;
                events.push(r);
                v.groups |= 1 << g.index();
            }
        }
        self.pivots.retain(|p| first_theft_by.contains_key(p));
        // Ids: per user, the attack's events in time order after the user's ordinary ones.
        events.sort_by_key(|e| (e.user_id, e.ts, e.kind.index(), e.group.index()));
        for run in events.chunk_by_mut(|a, b| a.user_id == b.user_id) {
            let first = counts[&run[0].user_id].events;
            for (j, e) in run.iter_mut().enumerate() {
                e.event_id = base(e.user_id) | ACCESS | (first + j as u64);
            }
        }
        let issued: HashMap<u64, u64> = events
            .iter()
            .filter(|e| e.kind == AccessKind::TokenIssued && e.path == TokenPath::VideoUploader)
            .map(|e| (e.issued_token_id, e.event_id))
            .collect();
        for theft in &mut thefts {
            theft.event_id = issued[&theft.token_id];
        }
        thefts.sort_by_key(|t| (t.user_id, t.ts));
        victims.sort_by_key(|v| v.user_id);
        self.thefts = thefts;
        self.victims = victims;
        self.attack_events = events;
    }

    /// The shard of `range`'s users: their ordinary sessions, the attack's events that are
    /// theirs, their friendships and their truth.
    pub fn shard(&self, range: std::ops::Range<u64>) -> ViewAsShard {
        let mut out = ViewAsShard::default();
        let t = self.times;
        for (kind, ts, id) in [
            (
                AccessKind::FlawIntroduced,
                t.flaw_introduced,
                FLAW_INTRODUCED_ID,
            ),
            (AccessKind::FlawFixed, t.flaw_fixed, FLAW_FIXED_ID),
            (AccessKind::TokensReset, t.tokens_reset, TOKENS_RESET_ID),
        ] {
            if self.incident {
                out.access.push(AccessEvent::system(kind, ts, id));
            }
        }
        let mut reads = Vec::new();
        self.graph.for_each_in(range.clone(), |u, friends| {
            out.friendships.extend(friends.iter().map(|&f| (u, f)));
            self.sessions(u, friends, &mut reads);
            out.access.append(&mut reads);
        });
        let mine = |user: u64| range.contains(&user);
        let from = self
            .attack_events
            .partition_point(|e| e.user_id < range.start);
        out.access.extend(
            self.attack_events[from..]
                .iter()
                .take_while(|e| mine(e.user_id))
                .copied(),
        );
        out.access.sort_unstable_by_key(|e| (e.ts, e.event_id));
        let from = self.thefts.partition_point(|e| e.user_id < range.start);
        out.thefts = self.thefts[from..]
            .iter()
            .take_while(|e| mine(e.user_id))
            .copied()
            .collect();
        let from = self.victims.partition_point(|e| e.user_id < range.start);
        out.victims = self.victims[from..]
            .iter()
            .take_while(|e| mine(e.user_id))
            .copied()
            .collect();
        out
    }

    /// One user's ordinary sessions over the period: a login (a token), reads of their own
    /// and their friends' profiles, sometimes a video posted through the uploader (a token
    /// for themselves), and sometimes a "View As" look-up of their own profile as a friend.
    fn sessions(&self, user: u64, friends: &[u64], out: &mut Vec<AccessEvent>) -> Counts {
        let b = &self.params.background;
        let t = self.times;
        let mut rng = entity_rng(self.seed, SESSIONS, user);
        let home = 1 + rng.next_u64() % b.networks as u64;
        let logins = poisson(&mut rng, b.logins_mean).min(MAX_SESSIONS);
        let view_as_in = if chance(&mut rng, b.view_as_share) && !friends.is_empty() && logins > 0 {
            Some(between(&mut rng, 0, logins as i64) as u64)
        } else {
            None
        };
        let mut seq = 0u64;
        let mut uploads = 0u64;
        let mut push = |out: &mut Vec<AccessEvent>, mut e: AccessEvent| {
            e.event_id = base(user) | ACCESS | seq;
            seq += 1;
            out.push(e);
        };
        for i in 0..logins {
            // Late enough in the period that the session's calls fall inside it.
            let ts = between(&mut rng, t.start, t.end - 12 * HOUR);
            let client = [Client::Web, Client::Android, Client::Ios][self.clients.sample(&mut rng)];
            let network = if chance(&mut rng, 0.8) {
                home
            } else {
                1 + rng.next_u64() % b.networks as u64
            };
            let (token, session) = (base(user) | i, base(user) | i);
            let event = |kind, ts, target, token_id| AccessEvent {
                ts,
                event_id: 0,
                user_id: user,
                target_id: target,
                token_id,
                issued_token_id: 0,
                session_id: session,
                network,
                kind,
                client,
                path: TokenPath::Login,
                group: FieldGroup::Contact,
            };
            let mut login = event(AccessKind::TokenIssued, ts, user, 0);
            login.issued_token_id = token;
            push(out, login);
            let mut at = ts;
            for _ in 0..poisson(&mut rng, b.reads_mean) {
                at += between(&mut rng, SECOND, 600 * SECOND);
                let target = if friends.is_empty() || unit(&mut rng) < 0.3 {
                    user
                } else {
                    friends[between(&mut rng, 0, friends.len() as i64) as usize]
                };
                let mut read = event(AccessKind::ProfileRead, at, target, token);
                read.group = [
                    FieldGroup::Contact,
                    FieldGroup::Profile,
                    FieldGroup::Timeline,
                ][self.groups.sample(&mut rng)];
                push(out, read);
            }
            if chance(&mut rng, b.uploader_share) {
                at += between(&mut rng, SECOND, 600 * SECOND);
                let mut upload = event(AccessKind::TokenIssued, at, user, token);
                upload.path = TokenPath::VideoUploader;
                upload.issued_token_id = base(user) | (logins + uploads);
                uploads += 1;
                push(out, upload);
            }
            if view_as_in == Some(i) {
                at += between(&mut rng, SECOND, 600 * SECOND);
                let friend = friends[between(&mut rng, 0, friends.len() as i64) as usize];
                push(out, event(AccessKind::ViewAs, at, friend, token));
            }
        }
        Counts {
            events: seq,
            logins,
            tokens: logins + uploads,
        }
    }

    /// How many events, logins and tokens `user`'s ordinary sessions have (their sessions
    /// drawn again: a pure function of the seed and the user).
    fn counts(&self, user: u64) -> Counts {
        let friends = self.graph.friends(user);
        self.sessions(user, &friends, &mut Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ring of 12 users, each the friend of its two neighbours only; one attacker account,
    /// a budget of 4 tokens and 1 pivot, every friend taken.
    fn ring_world(seed: u64) -> ViewAsWorld {
        let mut s = Scenario::preset("view-as-2018").unwrap();
        let v = s.view_as.as_mut().unwrap();
        v.graph.median_degree = 1000.0;
        v.graph.degree_sigma = 0.0;
        v.graph.max_degree = 1000;
        v.graph.reach = 1;
        v.graph.far_share = 0.0;
        v.attack.accounts = 1;
        v.attack.stolen_share = 4.0 / 12.0;
        v.attack.pivot_share = 1.0 / 12.0;
        v.attack.friends_taken = 1.0;
        v.attack.max_hops = 3;
        s.validate().unwrap();
        ViewAsWorld::new(&s, seed, 12).unwrap()
    }

    #[test]
    fn a_hand_built_ring_gives_the_known_spread() {
        for seed in 0..20 {
            let w = ring_world(seed);
            for u in 0..12 {
                assert_eq!(w.graph.friends(u), {
                    let mut f = vec![(u + 1) % 12, (u + 11) % 12];
                    f.sort();
                    f
                });
            }
            let a = w.attackers[0];
            let (left, right) = ((a + 11) % 12, (a + 1) % 12);
            // Hop 1: both neighbours of the attacker's account. Then one pivot, the first
            // taken of the two (both have one friend left), takes its outer neighbour: 3
            // tokens, since the pivot budget is spent before the token budget.
            let mut by_time = w.thefts.clone();
            by_time.sort_by_key(|t| t.ts);
            let first = by_time[0].user_id;
            assert!([left, right].contains(&first), "seed {seed}");
            let outer = if first == left {
                (a + 10) % 12
            } else {
                (a + 2) % 12
            };
            let got: Vec<(u64, u32, u64)> = by_time
                .iter()
                .map(|t| (t.user_id, t.hop, t.pivot_id))
                .collect();
            let second = if first == left { right } else { left };
            assert_eq!(
                got,
                vec![(first, 1, a), (second, 1, a), (outer, 2, first)],
                "seed {seed}"
            );
            assert_eq!(w.pivots, vec![first]);
            let tier = |u| w.victims.iter().find(|v| v.user_id == u).unwrap().tier;
            assert_eq!(tier(first), Tier::Pivot);
            assert_ne!(tier(outer), Tier::Pivot);
            // The log holds each theft as the rules say: a video_uploader token for another
            // account, in the pivot's session, with the pivot's token.
            let shard = w.shard(0..12);
            for t in &w.thefts {
                let e = shard
                    .access
                    .iter()
                    .find(|e| e.event_id == t.event_id)
                    .unwrap();
                assert_eq!(
                    (
                        e.kind,
                        e.path,
                        e.user_id,
                        e.target_id,
                        e.issued_token_id,
                        e.ts
                    ),
                    (
                        AccessKind::TokenIssued,
                        TokenPath::VideoUploader,
                        t.pivot_id,
                        t.user_id,
                        t.token_id,
                        t.ts
                    )
                );
                let parent_taken = w.thefts.iter().any(|p| p.token_id == e.token_id);
                assert_eq!(parent_taken, t.hop > 1);
            }
        }
    }

    // A blind dataset must not give its answer away in its ids: every user's access-log
    // events, tokens and sessions are numbered 0, 1, 2, ... with no gap and no mark, the
    // attack's among them; and the attacker's networks are ordinary network numbers.
    #[test]
    fn no_id_tells_the_attack_from_ordinary_traffic() {
        let s = Scenario::preset("view-as-2018").unwrap();
        let w = ViewAsWorld::new(&s, 5, 3000).unwrap();
        assert!(!w.thefts.is_empty());
        let whole = w.shard(0..3000);
        let mut events: HashMap<u64, Vec<u64>> = HashMap::new();
        let mut tokens: HashMap<u64, HashSet<u64>> = HashMap::new();
        let mut sessions: HashMap<u64, HashSet<u64>> = HashMap::new();
        let low = |id: u64| id & ((1 << 24) - 1);
        for e in whole.access.iter().filter(|e| !e.kind.is_system()) {
            events
                .entry(e.user_id)
                .or_default()
                .push(low(e.event_id) - ACCESS);
            sessions
                .entry(e.user_id)
                .or_default()
                .insert(low(e.session_id));
            if e.kind == AccessKind::TokenIssued {
                tokens
                    .entry(e.target_id)
                    .or_default()
                    .insert(low(e.issued_token_id));
            }
            assert!(
                (1..=s.view_as.as_ref().unwrap().background.networks as u64).contains(&e.network)
            );
        }
        let gapless = |ids: Vec<u64>| {
            let mut ids = ids;
            ids.sort_unstable();
            ids.iter().enumerate().all(|(i, &x)| x == i as u64)
        };
        for (user, ids) in events {
            assert!(gapless(ids), "user {user}'s event ids");
        }
        for (user, ids) in tokens {
            assert!(
                gapless(ids.into_iter().collect()),
                "user {user}'s token ids"
            );
        }
        for (user, ids) in sessions {
            assert!(
                gapless(ids.into_iter().collect()),
                "user {user}'s session ids"
            );
        }
    }

    #[test]
    fn shards_hold_exactly_the_whole_runs_rows() {
        let s = Scenario::preset("view-as-2018").unwrap();
        let w = ViewAsWorld::new(&s, 3, 3000).unwrap();
        let whole = w.shard(0..3000);
        let parts: Vec<ViewAsShard> = (0..3).map(|i| w.shard(i * 1000..(i + 1) * 1000)).collect();
        let system = |e: &&AccessEvent| e.kind.is_system();
        let mut access: Vec<AccessEvent> = parts
            .iter()
            .flat_map(|p| p.access.iter().filter(|e| !system(e)).copied())
            .collect();
        access.sort_unstable_by_key(|e| (e.ts, e.event_id));
        let want: Vec<AccessEvent> = whole
            .access
            .iter()
            .filter(|e| !system(e))
            .copied()
            .collect();
        assert_eq!(access, want);
        let thefts: Vec<Theft> = parts.iter().flat_map(|p| p.thefts.clone()).collect();
        assert_eq!(thefts, whole.thefts);
        let friendships: Vec<(u64, u64)> =
            parts.iter().flat_map(|p| p.friendships.clone()).collect();
        assert_eq!(friendships, whole.friendships);
        assert!(!whole.thefts.is_empty());
        let ids: HashSet<u64> = whole.access.iter().map(|e| e.event_id).collect();
        assert_eq!(ids.len(), whole.access.len(), "event ids are unique");
    }
}
