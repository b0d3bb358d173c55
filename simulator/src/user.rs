//! One user's life over the period: a plan drawn from the user's own random stream, then a
//! sweep in log order through the server model, which fills in statuses and the truth.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use blastradius_schema::time::{DAY, HOUR, MINUTE};
use blastradius_schema::{Action, EVENT_SEQ_BITS, Kind, Scope, Surface};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Poisson};

use crate::catalog::Catalog;
use crate::event::Event;
use crate::rng::{AliasTable, USER, between, chance, entity_rng, unit};
use crate::scenario::{Scenario, Timeline};
use crate::server::{Account, Exposure, Violation};

/// No single draw of a count exceeds this, so a user's event ids always fit their range.
const MAX_COUNT: u64 = 10_000;

/// Everything derived once from a scenario and seed, shared read-only by all workers.
#[derive(Debug)]
pub struct World {
    pub scenario: Scenario,
    pub seed: u64,
    pub catalog: Catalog,
    pub timeline: Timeline,
    surfaces: AliasTable,
    actions: AliasTable,
    activity: LogNormal<f64>,
    /// The View-As incident, planned over the run's users (see [`World::for_run`]).
    pub view_as: Option<crate::viewas::ViewAsWorld>,
    /// The platform's deploys in log order, the bug's two among them (none in a control
    /// world).
    pub deploys: Vec<crate::deploys::Deploy>,
    /// The bug's deploys as the server model replays them: `bug_introduced`, `bug_fixed`.
    bug_deploys: Vec<Event>,
    /// Write every deploy as `deploy`, the bug's two unmarked (`generate --discovery`).
    pub discovery: bool,
}

impl World {
    /// Builds the world of `scenario` (already validated) under `seed`.
    pub fn new(scenario: Scenario, seed: u64) -> Self {
        let w = &scenario.photos.surfaces;
        let a = &scenario.messaging.actions;
        let sigma = scenario.users.activity_sigma;
        let deploys = crate::deploys::schedule(seed, &scenario.timeline(), scenario.incident);
        World {
            bug_deploys: deploys.iter().filter_map(|d| d.bug_event()).collect(),
            deploys,
            discovery: false,
            catalog: Catalog::new(&scenario, seed),
            timeline: scenario.timeline(),
            surfaces: AliasTable::new(&[w.timeline, w.marketplace, w.story, w.draft, w.messenger]),
            actions: AliasTable::new(&[a.read, a.write, a.delete]),
            activity: LogNormal::new(-sigma * sigma / 2.0, sigma).expect("validated sigma"),
            scenario,
            seed,
            view_as: None,
        }
    }

    /// The world of a run over `users` users: [`World::new`], with the View-As attack
    /// planned when the scenario has one (the plan depends on the friend graph, and so on
    /// how many users there are).
    pub fn for_run(scenario: Scenario, seed: u64, users: u64) -> Self {
        let view_as = crate::viewas::ViewAsWorld::new(&scenario, seed, users);
        World {
            view_as,
            ..World::new(scenario, seed)
        }
    }
}

/// What one user contributes to a shard.
#[derive(Debug, Default)]
pub struct UserSink {
    pub events: Vec<Event>,
    pub registered_at: Vec<(u64, i64)>,
    pub exposures: Vec<Exposure>,
    pub violations: Vec<Violation>,
}

/// A planned event: the event, with its fault drawn, and whether the platform lets a
/// message call through without the scope.
#[derive(Clone, Copy, Debug)]
struct Planned {
    event: Event,
    fault: Option<u16>,
    honoured_without_grant: bool,
}

/// Buffers reused from one user to the next.
#[derive(Debug, Default)]
pub struct Scratch {
    plan: Vec<Planned>,
    follow_ups: BinaryHeap<Reverse<(i64, u64, u32, u32)>>,
    account: Account,
}

struct Planner<'w> {
    world: &'w World,
    rng: ChaCha8Rng,
    user_id: u64,
    next_seq: u64,
    plan: Vec<Planned>,
}

/// The 429 or 5xx the platform answers instead of serving a call, if any.
fn draw_fault(rng: &mut impl Rng, rate_limited: f64, server_error: f64) -> Option<u16> {
    let u = unit(rng);
    if u < rate_limited {
        Some(429)
    } else if u < rate_limited + server_error {
        Some([500, 502, 503][(rng.next_u32() % 3) as usize])
    } else {
        None
    }
}

pub(crate) fn poisson(rng: &mut impl Rng, mean: f64) -> u64 {
    if mean.is_nan() || mean <= 0.0 {
        return 0;
    }
    let mean = mean.min(MAX_COUNT as f64);
    (Poisson::new(mean)
        .expect("finite positive mean")
        .sample(rng) as u64)
        .min(MAX_COUNT)
}

impl Planner<'_> {
    fn id(&mut self) -> u64 {
        let id = ((self.user_id + 1) << EVENT_SEQ_BITS) | self.next_seq;
        self.next_seq += 1;
        // In a View-As world the access log numbers its events from 2^23 (data/README §13).
        let room = match self.world.scenario.view_as {
            Some(_) => 1 << (EVENT_SEQ_BITS - 1),
            None => 1 << EVENT_SEQ_BITS,
        };
        assert!(
            self.next_seq < room,
            "user {} has too many events",
            self.user_id
        );
        id
    }

    fn push(&mut self, kind: Kind, ts: i64) -> &mut Planned {
        let event = Event::new(kind, ts, self.id(), self.user_id);
        self.plan.push(Planned {
            event,
            fault: None,
            honoured_without_grant: false,
        });
        self.plan.last_mut().unwrap()
    }

    fn grant_event(&mut self, kind: Kind, ts: i64, app_id: u32, scope: Scope) {
        let e = &mut self.push(kind, ts).event;
        e.app_id = app_id;
        e.scope = scope;
    }

    fn fault(&mut self, rate_limited: f64, server_error: f64) -> Option<u16> {
        draw_fault(&mut self.rng, rate_limited, server_error)
    }

    fn surface(&mut self) -> Surface {
        Surface::ALL[self.world.surfaces.sample(&mut self.rng)]
    }

    /// A photo's life from its upload at `ts`: publication, expiry or deletion.
    fn photo(&mut self, ts: i64, surface: Surface) {
        let (p, end) = (&self.world.scenario.photos, self.world.timeline.end);
        let (publish_p, publish_mean, expiry) = (
            p.draft_publish_probability,
            p.draft_publish_mean_hours,
            p.draft_expiry_hours,
        );
        let (story_life, delete_p) = (p.story_lifetime_hours, p.delete_probability);
        let upload = self.push(Kind::PhotoUploaded, ts);
        upload.event.surface = surface;
        let photo_id = upload.event.event_id;
        upload.event.photo_id = photo_id;
        let mut live_from = ts;
        match surface {
            Surface::Draft => {
                let delay = -(1.0 - unit(&mut self.rng)).ln() * publish_mean * HOUR as f64;
                let expires = ts + (expiry * HOUR as f64) as i64;
                if chance(&mut self.rng, publish_p) && ts + (delay as i64) < expires.min(end) {
                    live_from = ts + delay as i64 + 1;
                    let e = &mut self.push(Kind::PhotoPublished, live_from).event;
                    e.photo_id = photo_id;
                    e.surface = Surface::Timeline;
                } else {
                    if expires < end {
                        self.push(Kind::PhotoDeleted, expires).event.photo_id = photo_id;
                    }
                    return;
                }
            }
            Surface::Story if story_life > 0.0 => {
                let expires = ts + (story_life * HOUR as f64) as i64;
                if expires < end {
                    self.push(Kind::PhotoDeleted, expires).event.photo_id = photo_id;
                }
                return;
            }
            _ => {}
        }
        let earliest = live_from.max(self.world.timeline.start) + 1;
        if chance(&mut self.rng, delete_p) && earliest < end {
            let at = between(&mut self.rng, earliest, end);
            self.push(Kind::PhotoDeleted, at).event.photo_id = photo_id;
        }
    }

    fn photos(&mut self, registered: i64, activity: f64) {
        let t = self.world.timeline;
        let p = &self.world.scenario.photos;
        let (live_mean, uploads_mean) = (p.live_at_start_mean, p.uploads_mean);
        let story_expires = p.story_lifetime_hours > 0.0;
        // The log before the period is compacted: it keeps only photos still live at its
        // start, so expired stories and drafts (published or discarded) are not there.
        if registered < t.start {
            let mut uploads: Vec<(i64, Surface)> =
                (0..poisson(&mut self.rng, live_mean * activity))
                    .map(|_| (between(&mut self.rng, registered, t.start), self.surface()))
                    .collect();
            uploads.sort_unstable_by_key(|u| u.0);
            for (ts, surface) in uploads {
                match surface {
                    Surface::Draft => self.photo(ts, Surface::Timeline),
                    Surface::Story if story_expires => {}
                    s => self.photo(ts, s),
                }
            }
        }
        let from = registered.max(t.start);
        let share = (t.end - from) as f64 / (t.end - t.start) as f64;
        for _ in 0..poisson(&mut self.rng, uploads_mean * activity * share) {
            let ts = between(&mut self.rng, from, t.end);
            let surface = self.surface();
            self.photo(ts, surface);
        }
    }

    /// When a grant made by a user registered at `registered` happens.
    fn grant_time(&mut self, registered: i64, before_share: f64) -> i64 {
        let t = self.world.timeline;
        if registered < t.start && chance(&mut self.rng, before_share) {
            between(&mut self.rng, registered, t.start)
        } else {
            between(&mut self.rng, registered.max(t.start), t.end)
        }
    }

    fn photo_sessions(&mut self, app_id: u32, from: i64, mean: f64) {
        let t = self.world.timeline;
        let (page_size, rate_limited, server_error) = {
            let a = &self.world.scenario.photo_apps;
            (a.page_size, a.rate_limited, a.server_error)
        };
        let share = (t.end - from.max(t.start)) as f64 / (t.end - t.start) as f64;
        for _ in 0..poisson(&mut self.rng, mean * share) {
            let ts = between(&mut self.rng, from.max(t.start), t.end);
            let fault = self.fault(rate_limited, server_error);
            let call = self.push(Kind::PhotoApiCall, ts);
            call.fault = fault;
            call.event.app_id = app_id;
            call.event.page_size = page_size;
        }
    }

    fn photo_apps(&mut self, registered: i64, activity: f64) {
        let a = self.world.scenario.photo_apps.clone();
        let end = self.world.timeline.end;
        let mut apps: Vec<u32> = Vec::new();
        if chance(&mut self.rng, a.users_with_grant) {
            let wanted = 1 + poisson(&mut self.rng, a.extra_apps_mean).min(10);
            for _ in 0..wanted * 4 {
                let app = self.world.catalog.draw_photo_app(&mut self.rng);
                if !apps.contains(&app) {
                    apps.push(app);
                }
                if apps.len() as u64 == wanted {
                    break;
                }
            }
        }
        for app in apps {
            let granted = self.grant_time(registered, a.granted_before_period);
            self.grant_event(Kind::PermissionGranted, granted, app, Scope::UserPhotos);
            let start = self.world.timeline.start;
            if chance(&mut self.rng, a.revoke_probability) && granted.max(start) + 1 < end {
                let revoked = between(&mut self.rng, granted.max(start) + 1, end);
                self.grant_event(Kind::PermissionRevoked, revoked, app, Scope::UserPhotos);
                if chance(&mut self.rng, a.regrant_probability) && revoked + 1 < end {
                    let again = between(&mut self.rng, revoked + 1, end);
                    self.grant_event(Kind::PermissionGranted, again, app, Scope::UserPhotos);
                }
            }
            // Apps keep syncing after a revocation until they notice: those calls get 403.
            self.photo_sessions(app, granted, a.sessions_mean * activity);
        }
        if chance(&mut self.rng, a.ungranted_callers) {
            let app = self.world.catalog.draw_photo_app(&mut self.rng);
            // Usually 403s; 200 when the user happens to have granted that app.
            self.photo_sessions(app, registered, 2.0);
        }
    }

    fn message_calls(
        &mut self,
        app_id: u32,
        from: i64,
        activity: f64,
        leak: impl Fn(i64, Action) -> bool,
    ) {
        let t = self.world.timeline;
        let incident = self.world.scenario.incident;
        let m = &self.world.scenario.messaging;
        let (mean, rate_limited, server_error) =
            (m.calls_mean * activity, m.rate_limited, m.server_error);
        let share = (t.end - from.max(t.start)) as f64 / (t.end - t.start) as f64;
        for _ in 0..poisson(&mut self.rng, mean * share) {
            let ts = between(&mut self.rng, from.max(t.start), t.end);
            let action = Action::ALL[self.world.actions.sample(&mut self.rng)];
            let fault = self.fault(rate_limited, server_error);
            let call = self.push(Kind::MessageApiCall, ts);
            call.event.app_id = app_id;
            call.event.action = action;
            call.fault = fault;
            // A control world honours no call without its grant (the draws are the same).
            call.honoured_without_grant = leak(ts, action) && incident;
        }
    }

    fn messaging(&mut self, registered: i64, activity: f64) {
        let m = self.world.scenario.messaging.clone();
        let t = self.world.timeline;
        if chance(&mut self.rng, m.users_with_partner) {
            let Some(app) = self.world.catalog.draw_partner_app(&mut self.rng) else {
                return;
            };
            let granted = self.grant_time(registered, 0.7);
            let mut scopes = vec![Scope::ReadMailbox];
            if chance(&mut self.rng, m.write_probability) {
                scopes.push(Scope::WriteMailbox);
            }
            if chance(&mut self.rng, m.delete_probability) {
                scopes.push(Scope::DeleteMailbox);
            }
            for &scope in &scopes {
                self.grant_event(Kind::PermissionGranted, granted, app, scope);
            }
            let mut leaky_from = i64::MAX;
            if chance(&mut self.rng, m.revoke_probability) && granted.max(t.start) + 1 < t.end {
                let revoked = between(&mut self.rng, granted.max(t.start) + 1, t.end);
                for &scope in &scopes {
                    self.grant_event(Kind::PermissionRevoked, revoked, app, scope);
                }
                if chance(&mut self.rng, m.token_survives_revoke) {
                    leaky_from = revoked;
                }
            }
            // A surviving token keeps every scope it had; calls for others still get 403.
            self.message_calls(app, granted, activity, |ts, action| {
                ts >= leaky_from && scopes.contains(&action.scope())
            });
        }
        if chance(&mut self.rng, m.ungranted_access)
            && let Some(app) = self.world.catalog.draw_partner_app(&mut self.rng)
        {
            self.message_calls(app, registered, activity, |_, _| true);
        }
    }
}

/// Generates user `user_id`: appends its events (unsorted across users, sorted within),
/// registration and truth to `sink`.
pub fn generate_user(world: &World, user_id: u64, scratch: &mut Scratch, sink: &mut UserSink) {
    let t = world.timeline;
    let u = &world.scenario.users;
    let mut planner = Planner {
        world,
        rng: entity_rng(world.seed, USER, user_id),
        user_id,
        next_seq: 0,
        plan: std::mem::take(&mut scratch.plan),
    };
    planner.plan.clear();
    let rng = &mut planner.rng;
    let registered = if chance(rng, u.registering_in_period) {
        between(rng, t.start, t.end - DAY)
    } else {
        between(rng, t.start - u.history_days as i64 * DAY, t.start - MINUTE)
    };
    let activity = world.activity.sample(rng).min(u.activity_cap);
    planner.push(Kind::UserRegistered, registered);
    planner.photos(registered, activity);
    planner.photo_apps(registered, activity);
    planner.messaging(registered, activity);
    sink.registered_at.push((user_id, registered));

    let Planner {
        mut plan,
        mut rng,
        mut next_seq,
        ..
    } = planner;
    plan.sort_unstable_by_key(|p| p.event.order_key());
    sweep(
        world,
        user_id,
        &plan,
        &mut rng,
        &mut next_seq,
        scratch,
        sink,
    );
    scratch.plan = plan;
}

/// Replays the plan in log order through the server model, adding follow-up pages.
fn sweep(
    world: &World,
    user_id: u64,
    plan: &[Planned],
    rng: &mut ChaCha8Rng,
    next_seq: &mut u64,
    scratch: &mut Scratch,
    sink: &mut UserSink,
) {
    let a = &world.scenario.photo_apps;
    let page_delay = a.page_delay_ms as i64 * 1000;
    // A control world's bug never deploys: the server answers by the intended rule all along.
    let system: &[Event] = &world.bug_deploys;
    let account = &mut scratch.account;
    account.reset(user_id);
    let heap = &mut scratch.follow_ups;
    heap.clear();
    let (mut i, mut s) = (0, 0);
    loop {
        let next_plan = plan.get(i).map(|p| p.event.order_key());
        let next_sys = system.get(s).map(|e| e.order_key());
        let next_follow = heap.peek().map(|Reverse(f)| (f.0, f.1));
        let Some(min) = [next_plan, next_sys, next_follow]
            .into_iter()
            .flatten()
            .min()
        else {
            break;
        };
        if Some(min) == next_sys {
            account.apply(&mut system[s].clone(), None, false);
            s += 1;
            continue;
        }
        let (mut event, fault, honoured) = if Some(min) == next_plan {
            let p = plan[i];
            i += 1;
            (p.event, p.fault, p.honoured_without_grant)
        } else {
            let Reverse((ts, id, app_id, page)) = heap.pop().unwrap();
            let mut e = Event::new(Kind::PhotoApiCall, ts, id, user_id);
            e.app_id = app_id;
            e.page = page;
            e.page_size = a.page_size;
            (e, draw_fault(rng, a.rate_limited, a.server_error), false)
        };
        account.apply(&mut event, fault, honoured);
        if event.kind == Kind::PhotoApiCall
            && event.status == 200
            && event.items_returned == event.page_size
            && event.page + 1 < a.max_pages
            && event.ts + page_delay < world.timeline.end
        {
            let id = ((user_id + 1) << EVENT_SEQ_BITS) | *next_seq;
            *next_seq += 1;
            assert!(
                *next_seq < 1 << EVENT_SEQ_BITS,
                "user {user_id} has too many events"
            );
            heap.push(Reverse((
                event.ts + page_delay,
                id,
                event.app_id,
                event.page + 1,
            )));
        }
        sink.events.push(event);
    }
    let mut exposures = account.exposures().to_vec();
    exposures.sort_unstable_by_key(|e| (e.app_id, e.photo_id));
    sink.exposures.extend(exposures);
    sink.violations.extend_from_slice(account.violations());
}
