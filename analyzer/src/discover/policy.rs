//! The policy-replay baseline: the platform knows its own policy, not its bug.
//!
//! It replays each user's photos in log order by the *intended* rule (data/README §4
//! without the bug: a photo app sees only the user's live `timeline` photos) and flags a
//! successful `photo_api_call` that returned more items than that rule could fill. It never
//! reads which deploy was the bug: every deploy is just a deploy. The flags go to the
//! [`Pager`](super::pager::Pager), which decides when they are worth a page.

use std::collections::HashMap;

use blastradius_dataset::log::ShardLog;
use blastradius_schema::{Kind, Surface};

use crate::detect::{LogOrder, Row};

/// A call that returned more than the intended rule allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Flag {
    pub ts: i64,
    pub event_id: u64,
    pub user: u64,
    pub app: u32,
}

/// A photo as the intended rule sees it.
#[derive(Clone, Copy, Debug)]
struct Photo {
    timeline: bool,
    deleted: bool,
}

/// The intended rule's state, one event at a time: the batch replay feeds it a shard in log
/// order, `detect --follow` the stream as it comes.
#[derive(Debug, Default)]
pub struct Replay {
    /// Live timeline photos per user.
    visible: HashMap<u64, i64>,
    photos: HashMap<u64, Photo>,
    previous: Option<(i64, u64)>,
}

impl Replay {
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one event (`items_returned` its call's); returns the flag it raises, if any.
    /// An event identical in `(ts, event_id)` to the one before it is a repeat and skipped.
    pub fn push(&mut self, row: &Row, items_returned: u32) -> Option<Flag> {
        let key = (row.ts, row.event_id);
        if self.previous == Some(key) {
            return None; // a duplicated event sits next to its original
        }
        self.previous = Some(key);
        let user = row.user_id;
        match row.kind {
            Kind::PhotoUploaded => {
                let timeline = row.surface == Surface::Timeline;
                self.photos.insert(
                    row.photo_id,
                    Photo {
                        timeline,
                        deleted: false,
                    },
                );
                *self.visible.entry(user).or_default() += timeline as i64;
            }
            Kind::PhotoPublished => {
                // An upload the log lost is taken to be the photo's first sight.
                let p = self.photos.entry(row.photo_id).or_insert(Photo {
                    timeline: false,
                    deleted: false,
                });
                if !p.timeline && !p.deleted {
                    p.timeline = true;
                    *self.visible.entry(user).or_default() += 1;
                }
            }
            Kind::PhotoDeleted => {
                if let Some(p) = self.photos.get_mut(&row.photo_id)
                    && !p.deleted
                {
                    p.deleted = true;
                    *self.visible.entry(user).or_default() -= p.timeline as i64;
                }
            }
            Kind::PhotoApiCall if row.status == 200 => {
                let size = row.page_size as i64;
                let start = row.page as i64 * size;
                let live = self.visible.get(&user).copied().unwrap_or(0);
                let allowed = (live - start).clamp(0, size);
                if items_returned as i64 > allowed {
                    return Some(Flag {
                        ts: row.ts,
                        event_id: row.event_id,
                        user,
                        app: row.app_id,
                    });
                }
            }
            _ => {}
        }
        None
    }

    /// Users with a photo seen.
    pub fn users(&self) -> usize {
        self.visible.len()
    }
}

/// Replays one shard (every column read) and returns its flags in log order. Users belong
/// to one shard, so shards replay apart.
pub fn flags(log: &ShardLog) -> Vec<Flag> {
    let order = LogOrder::of(log);
    let mut replay = Replay::new();
    order
        .to_vec()
        .into_iter()
        .filter_map(|r| {
            let i = r as usize;
            replay.push(&Row::of(log, i), log.items_returned[i])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use blastradius_dataset::log::ShardLog;

    /// A one-user log built row by row, every column filled.
    #[derive(Default)]
    struct Log(ShardLog);

    impl Log {
        fn row(&mut self, ts: i64, kind: Kind) -> &mut Self {
            let l = &mut self.0;
            l.event_id.push(1_000 + l.event_id.len() as u64);
            l.ts.push(ts);
            l.kind.push(kind);
            l.user_id.push(7);
            l.app_id.push(3);
            l.photo_id.push(0);
            l.surface.push(Surface::Timeline);
            l.scope.push(blastradius_schema::Scope::UserPhotos);
            l.action.push(blastradius_schema::Action::Read);
            l.status.push(200);
            l.page.push(0);
            l.page_size.push(2);
            l.items_returned.push(0);
            self
        }

        fn photo(&mut self, ts: i64, kind: Kind, photo: u64, surface: Surface) -> &mut Self {
            self.row(ts, kind);
            *self.0.photo_id.last_mut().unwrap() = photo;
            *self.0.surface.last_mut().unwrap() = surface;
            self
        }

        fn call(&mut self, ts: i64, page: u32, returned: u32) -> &mut Self {
            self.row(ts, Kind::PhotoApiCall);
            *self.0.page.last_mut().unwrap() = page;
            *self.0.items_returned.last_mut().unwrap() = returned;
            self
        }
    }

    #[test]
    fn a_call_that_returns_more_than_the_timeline_holds_is_flagged() {
        let mut l = Log::default();
        l.photo(10, Kind::PhotoUploaded, 1, Surface::Timeline)
            .photo(20, Kind::PhotoUploaded, 2, Surface::Draft)
            .photo(30, Kind::PhotoUploaded, 3, Surface::Timeline)
            .photo(40, Kind::PhotoUploaded, 4, Surface::Story)
            // Two timeline photos: page 0 of size 2 may hold 2, page 1 none.
            .call(50, 0, 2)
            .call(60, 1, 0)
            .call(70, 1, 1) // the bug: a draft on page 1
            // Published: three on the timeline, page 1 may hold 1.
            .photo(80, Kind::PhotoPublished, 2, Surface::Timeline)
            .call(90, 1, 1)
            // Deleted: two again.
            .photo(100, Kind::PhotoDeleted, 1, Surface::Timeline)
            .call(110, 1, 1);
        let f: Vec<i64> = flags(&l.0).iter().map(|f| f.ts).collect();
        assert_eq!(f, vec![70, 110]);
    }

    #[test]
    fn failed_calls_and_repeated_rows_are_passed_over() {
        let mut l = Log::default();
        l.call(10, 0, 1);
        l.0.status[0] = 429;
        l.call(20, 0, 1);
        // The same event delivered twice: flagged once.
        let last = l.0.event_id.len() - 1;
        let id = l.0.event_id[last];
        l.call(20, 0, 1);
        *l.0.event_id.last_mut().unwrap() = id;
        assert_eq!(flags(&l.0).len(), 1);
    }
}
