//! The View-As levels of a live replay (data/README §11, §13): stolen tokens and the users
//! the attack reached, matched to the truth and timed from the **intended** send time of the
//! access-log row that took each token (the truth's `stolen_event_id`), whatever damage did
//! to its `ts`.
//!
//! Plain code, driven by [`crate::latency::Matcher`], which records the first detections it
//! returns.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use blastradius_analyzer::score::{Score, TierAgreement, ViewAsTruth};
use blastradius_dataset::access::AccessRow;
use blastradius_schema::Tier;
use serde::Serialize;

use crate::latency::{Sent, level};

/// The View-As truth, and what the detector said of it.
pub struct ViewAsMatcher {
    /// Per theft row (`stolen_event_id`), the token it took.
    thefts: HashMap<u64, u64>,
    /// Per token of the truth, its owner.
    owners: HashMap<u64, u64>,
    truth_tokens: BTreeSet<u64>,
    /// Per user of the truth, the tokens taken from them.
    user_tokens: HashMap<u64, Vec<u64>>,
    /// Per user of the truth, the tier.
    truth_users: BTreeMap<u64, Tier>,
    /// Per token, when its theft row was due, once sent.
    sent: HashMap<u64, Sent>,
    found_tokens: BTreeSet<u64>,
    early_tokens: BTreeSet<u64>,
    found_users: BTreeSet<u64>,
    early_users: BTreeSet<u64>,
    /// The last tier said of each user (a live detector raises it as it learns).
    tiers: BTreeMap<u64, Tier>,
    reported_tokens: bool,
    reported_users: bool,
}

/// What a first detection at a View-As level is timed from.
pub enum First {
    Token(Sent),
    User(Sent),
}

impl ViewAsMatcher {
    pub fn new(truth: &ViewAsTruth) -> Self {
        ViewAsMatcher {
            thefts: truth
                .theft_events
                .iter()
                .map(|(&token, &event)| (event, token))
                .collect(),
            owners: truth
                .tokens
                .iter()
                .map(|(&token, &(owner, ..))| (token, owner))
                .collect(),
            truth_tokens: truth.tokens.keys().copied().collect(),
            user_tokens: truth.tokens.iter().fold(
                HashMap::new(),
                |mut m: HashMap<u64, Vec<u64>>, (&t, &(u, ..))| {
                    m.entry(u).or_default().push(t);
                    m
                },
            ),
            truth_users: truth.users.iter().map(|(&u, (t, _))| (u, *t)).collect(),
            sent: HashMap::new(),
            found_tokens: BTreeSet::new(),
            early_tokens: BTreeSet::new(),
            found_users: BTreeSet::new(),
            early_users: BTreeSet::new(),
            tiers: BTreeMap::new(),
            reported_tokens: false,
            reported_users: false,
        }
    }

    /// Notes that `row` went out, due as `at` says.
    pub fn sent(&mut self, row: &AccessRow, at: Sent) {
        if let Some(&token) = self.thefts.get(&row.event_id) {
            self.sent.entry(token).or_insert(at);
        }
    }

    /// When the theft of a token of `user` was first due, among those sent.
    fn user_sent(&self, user: u64) -> Option<Sent> {
        self.user_tokens
            .get(&user)
            .into_iter()
            .flatten()
            .filter_map(|t| self.sent.get(t).copied())
            .min_by_key(|s| (s.due, s.ts))
    }

    /// A token named by the detector; the first detection to time, if it is one.
    pub fn token(&mut self, token: u64) -> Option<First> {
        self.reported_tokens = true;
        if !self.truth_tokens.contains(&token) {
            self.found_tokens.insert(token);
            return None;
        }
        match self.sent.get(&token) {
            Some(&at) => self.found_tokens.insert(token).then_some(First::Token(at)),
            None => {
                self.early_tokens.insert(token);
                None
            }
        }
    }

    /// A user named by the detector, with the tier when it says one; the first detection to
    /// time, if it is one.
    pub fn user(&mut self, user: u64, tier: Option<Tier>) -> Option<First> {
        self.reported_users = true;
        if !self.truth_users.contains_key(&user) {
            self.found_users.insert(user);
            return None;
        }
        // A tier counts when said of a user found (not named before the theft).
        let found = self.found_users.contains(&user);
        let sent = if found { None } else { self.user_sent(user) };
        if let Some(t) = tier.filter(|_| found || sent.is_some()) {
            self.tiers.insert(user, t);
        }
        if found {
            return None;
        }
        match sent {
            Some(at) => {
                self.found_users.insert(user);
                Some(First::User(at))
            }
            None => {
                self.early_users.insert(user);
                None
            }
        }
    }

    /// The truth whose theft row was sent: tokens, and users with one.
    fn carried(&self) -> (BTreeSet<u64>, BTreeSet<u64>) {
        let tokens: BTreeSet<u64> = self.sent.keys().copied().collect();
        let users = tokens
            .iter()
            .filter_map(|t| self.owners.get(t).copied())
            .collect();
        (tokens, users)
    }

    /// True tokens and users named before their theft row was sent, which came later, and
    /// not named again after it.
    pub fn premature(&self) -> u64 {
        let (tokens, users) = self.carried();
        let early = |early: &BTreeSet<u64>, carried: &BTreeSet<u64>, found: &BTreeSet<u64>| {
            early
                .iter()
                .filter(|x| carried.contains(*x) && !found.contains(*x))
                .count() as u64
        };
        early(&self.early_tokens, &tokens, &self.found_tokens)
            + early(&self.early_users, &users, &self.found_users)
    }

    /// The scores of the levels reported, as [`crate::latency::Matcher::scores`] scores the
    /// photo ones; tiers by the last one said of each user.
    pub fn scores(&self, whole: bool) -> ViewAsScores {
        let (tokens, users) = self.carried();
        let truth_users: BTreeSet<u64> = self.truth_users.keys().copied().collect();
        let compared: Vec<bool> = self
            .tiers
            .iter()
            .filter_map(|(u, t)| self.truth_users.get(u).map(|truth| truth == t))
            .collect();
        ViewAsScores {
            stolen_tokens: self.reported_tokens.then(|| {
                level(
                    &self.found_tokens,
                    &self.early_tokens,
                    &self.truth_tokens,
                    &tokens,
                    whole,
                )
            }),
            view_as_users: self.reported_users.then(|| {
                level(
                    &self.found_users,
                    &self.early_users,
                    &truth_users,
                    &users,
                    whole,
                )
            }),
            view_as_tiers: (!compared.is_empty()).then(|| TierAgreement {
                compared: compared.len() as u64,
                agreed: compared.iter().filter(|&&a| a).count() as u64,
            }),
            truth_carried: (tokens.len(), users.len()),
            truth_whole: (self.truth_tokens.len(), self.truth_users.len()),
        }
    }
}

/// The View-As levels' scores at the end of a replay.
#[derive(Clone, Debug, Serialize)]
pub struct ViewAsScores {
    pub stolen_tokens: Option<Score>,
    pub view_as_users: Option<Score>,
    /// Over the true users named with a tier: how many had the truth's (the last said).
    pub view_as_tiers: Option<TierAgreement>,
    /// Tokens and users whose theft the stream carried, and in the whole truth.
    pub truth_carried: (usize, usize),
    pub truth_whole: (usize, usize),
}

#[cfg(test)]
mod tests {
    use super::*;
    use blastradius_schema::{AccessKind, FieldGroup};

    /// Token 10 of user 1 taken by row 100, token 20 of user 2 by row 200.
    fn truth() -> ViewAsTruth {
        let mut t = ViewAsTruth::default();
        t.tokens.insert(10, (1, 1_000, 1, 9));
        t.tokens.insert(20, (2, 2_000, 2, 1));
        t.theft_events.insert(10, 100);
        t.theft_events.insert(20, 200);
        t.users.insert(1, (Tier::Pivot, FieldGroup::ALL.to_vec()));
        t.users
            .insert(2, (Tier::Contact, vec![FieldGroup::Contact]));
        t
    }

    fn theft(event_id: u64, ts: i64) -> AccessRow {
        AccessRow {
            event_id,
            ts,
            kind: AccessKind::TokenIssued,
            user_id: 9,
            target_id: 1,
            token_id: Some(5),
            issued_token_id: 10,
            session_id: 1,
            client: None,
            network: 1,
            path: None,
            field_group: None,
        }
    }

    #[test]
    fn a_theft_times_its_token_and_owner_and_a_name_before_it_is_premature() {
        let mut m = ViewAsMatcher::new(&truth());
        // Token 20 named before its theft row went out: not a detection.
        assert!(m.token(20).is_none());
        m.sent(&theft(100, 1_000), Sent { due: 7, ts: 1_000 });
        m.sent(&theft(200, 2_000), Sent { due: 9, ts: 2_000 });
        assert!(matches!(
            m.token(10),
            Some(First::Token(Sent { due: 7, .. }))
        ));
        assert!(m.token(10).is_none(), "timed once");
        assert!(matches!(
            m.user(1, Some(Tier::Contact)),
            Some(First::User(Sent { due: 7, .. }))
        ));
        // Raised later: the last tier said is scored.
        assert!(m.user(1, Some(Tier::Pivot)).is_none());
        // A user and a token the truth lacks: false positives.
        assert!(m.user(3, Some(Tier::Contact)).is_none());
        assert!(m.token(30).is_none());
        assert_eq!(m.premature(), 1, "token 20, never named again");
        let s = m.scores(true);
        let tokens = s.stolen_tokens.unwrap();
        assert_eq!(
            (
                tokens.true_positives,
                tokens.false_positives,
                tokens.false_negatives
            ),
            (1, 2, 1),
            "20 premature counts against, 30 is wrong, 20 missed"
        );
        let users = s.view_as_users.unwrap();
        assert_eq!(
            (
                users.true_positives,
                users.false_positives,
                users.false_negatives
            ),
            (1, 1, 1)
        );
        let tiers = s.view_as_tiers.unwrap();
        assert_eq!((tiers.compared, tiers.agreed), (1, 1));
        assert_eq!((s.truth_carried, s.truth_whole), ((2, 2), (2, 2)));
    }

    #[test]
    fn a_theft_the_stream_never_carried_is_scored_as_found_another_way_in_a_whole_replay() {
        let mut m = ViewAsMatcher::new(&truth());
        m.sent(&theft(100, 1_000), Sent { due: 7, ts: 1_000 });
        // Row 200 was dropped: naming its token is no premature finding.
        assert!(m.token(20).is_none());
        assert!(m.token(10).is_some());
        assert_eq!(m.premature(), 0);
        let whole = m.scores(true).stolen_tokens.unwrap();
        assert_eq!((whole.true_positives, whole.false_negatives), (2, 0));
        // A slice is scored on what it carried: token 20 counts neither way.
        let slice = m.scores(false);
        let t = slice.stolen_tokens.unwrap();
        assert_eq!(
            (t.true_positives, t.false_positives, t.false_negatives),
            (1, 0, 0)
        );
        assert_eq!(slice.truth_carried, (1, 1));
    }
}
