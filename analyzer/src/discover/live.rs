//! The discovery baselines one event at a time, for `detect --follow`: the batch detector's
//! own state and rule ([`policy::Replay`] and the [`Pager`], [`tokens::Rate`]), fed the
//! stream as it comes.

use blastradius_dataset::access::AccessRow;

use super::alarms::Alarm;
use super::pager::Pager;
use super::{Deploys, Incident, incident_of, policy, tokens};
use crate::detect::Row;

/// A discovery baseline that takes one event at a time.
#[derive(Debug)]
pub enum Watcher {
    /// `policy-replay`: flags from the intended rule, paged by the [`Pager`], blaming the
    /// latest deploy (of the watched service, when `deploys` knows services) before the
    /// evidence. Deploys are learnt from the stream's system rows.
    PolicyReplay(Box<PolicyWatch>),
    /// `token-rate`.
    TokenRate(tokens::Rate),
}

/// The state of the live `policy-replay`.
#[derive(Debug)]
pub struct PolicyWatch {
    replay: policy::Replay,
    pager: Pager,
    deploys: Deploys,
    /// The latest log time paged on: a flag that comes out of order is paged at it.
    latest: i64,
}

impl Watcher {
    /// The live form of the built-in discovery detector `name`; `deploys` says which deploys
    /// were the watched service's (from a dataset's `deploys.parquet`), or is empty.
    ///
    /// # Errors
    /// A name that is not a discovery detector with a live form (`aggregate` judges a week
    /// against the next, and has none).
    pub fn new(name: &str, deploys: Deploys) -> Result<Self, String> {
        match name {
            "policy-replay" => Ok(Watcher::PolicyReplay(Box::new(PolicyWatch {
                replay: policy::Replay::new(),
                pager: Pager::default(),
                deploys,
                latest: i64::MIN,
            }))),
            "token-rate" => Ok(Watcher::TokenRate(tokens::Rate::new())),
            other if incident_of(other).is_some() => Err(format!(
                "the discovery detector `{other}` has no live form (live: {})",
                LIVE.join(", ")
            )),
            other => Err(format!("`{other}` is not a discovery detector")),
        }
    }

    /// The incident its alarms are about.
    pub fn incident(&self) -> Incident {
        match self {
            Watcher::PolicyReplay(_) => Incident::PhotoBug,
            Watcher::TokenRate(_) => Incident::ViewAs,
        }
    }

    /// Applies one event of `events/`; returns the page it sends, if any.
    pub fn photo(&mut self, row: &Row, items_returned: u32) -> Option<Alarm> {
        let Watcher::PolicyReplay(w) = self else {
            return None;
        };
        let PolicyWatch {
            replay,
            pager,
            deploys,
            latest,
        } = &mut **w;
        if row.kind.is_system() {
            deploys.add(row.ts, row.event_id);
            return None;
        }
        let flag = replay.push(row, items_returned)?;
        *latest = (*latest).max(flag.ts);
        pager.observe(*latest, flag.user, flag.app, |t| deploys.at(t))
    }

    /// Applies one row of a View-As world's access log; returns the page it sends, if any.
    pub fn access(&mut self, row: &AccessRow) -> Option<Alarm> {
        match self {
            Watcher::TokenRate(rate) => rate.push(row),
            Watcher::PolicyReplay(_) => None,
        }
    }

    /// The end of the stream: what is still to judge.
    pub fn finish(&mut self) -> Option<Alarm> {
        match self {
            Watcher::TokenRate(rate) => rate.finish(),
            Watcher::PolicyReplay(_) => None,
        }
    }

    /// Users it holds state for.
    pub fn users(&self) -> usize {
        match self {
            Watcher::PolicyReplay(w) => w.replay.users(),
            Watcher::TokenRate(_) => 0,
        }
    }
}

/// The discovery detectors with a live form.
pub const LIVE: &[&str] = &["policy-replay", "token-rate"];

#[cfg(test)]
mod tests {
    use super::*;
    use blastradius_schema::{Action, Kind, Scope, Surface};

    fn row(event_id: u64, ts: i64, kind: Kind, photo: u64, page: u32) -> Row {
        Row {
            event_id,
            ts,
            kind,
            user_id: 7,
            app_id: 3,
            photo_id: photo,
            surface: Surface::Timeline,
            scope: Scope::UserPhotos,
            action: Action::Read,
            status: 200,
            page,
            page_size: 2,
        }
    }

    #[test]
    fn the_live_policy_replay_pages_on_the_first_flag_and_blames_the_deploy_before_it() {
        let mut w = Watcher::new("policy-replay", Deploys::default()).unwrap();
        let mut pages = Vec::new();
        let mut feed = |r: Row, items: u32| pages.extend(w.photo(&r, items));
        feed(row(101, 5, Kind::Deploy, 0, 0), 0);
        feed(row(1, 10, Kind::PhotoUploaded, 1, 0), 0);
        feed(row(2, 20, Kind::PhotoApiCall, 0, 0), 1); // one photo, one returned: fine
        feed(row(102, 30, Kind::Deploy, 0, 0), 0);
        feed(row(3, 40, Kind::PhotoApiCall, 0, 1), 1); // page 1 of a one-photo timeline
        assert_eq!(pages.len(), 1);
        assert_eq!(
            (pages[0].fired_ts, pages[0].deploy_id, &pages[0].users[..]),
            (40, Some(102), &[7][..])
        );
        assert!(matches!(
            Watcher::new("aggregate", Deploys::default()),
            Err(e) if e.contains("no live form")
        ));
    }
}
