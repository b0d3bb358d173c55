//! The View-As baseline: a spike in tokens the video uploader issues.
//!
//! It counts, per hour, the `token_issued` rows of path `video_uploader` in the access log
//! (data/README §13), without looking at whom each token was for (a rule that did would be
//! the theft rule itself, the answer), and pages at the end of an hour whose count stands
//! three standard deviations or more above the week before it (the spread taken as at least
//! one token). Its confidence is `1 - 0.5^(z - 3)`. It names the owners of the uploader's
//! tokens of that hour, thefts and ordinary uploads alike: its first estimate of who was hit.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};

use blastradius_dataset::access::AccessRow;
use blastradius_schema::time::{DAY, HOUR};
use blastradius_schema::{AccessKind, TokenPath};

use super::alarms::Alarm;

/// Hours of history each hour is compared with.
const HISTORY: i64 = 7 * 24;
/// Standard deviations above the mean from which an hour pages.
const Z: f64 = 3.0;

/// Pages over the access log's `rows` (any order; a row delivered twice counts once), from a
/// week after `start` (the period's) to `end`.
pub fn alarms(rows: &[AccessRow], start: i64, end: i64) -> Vec<Alarm> {
    let mut seen = BTreeSet::new();
    let mut hours: BTreeMap<i64, Vec<u64>> = BTreeMap::new();
    for r in rows {
        if r.kind == AccessKind::TokenIssued
            && r.path == Some(TokenPath::VideoUploader)
            && seen.insert(r.event_id)
        {
            hours
                .entry(r.ts.div_euclid(HOUR))
                .or_default()
                .push(r.target_id);
        }
    }
    let count = |h: i64| hours.get(&h).map_or(0, Vec::len) as f64;
    let first = (start + 7 * DAY).div_euclid(HOUR);
    (first..end.div_euclid(HOUR))
        .filter_map(|h| {
            let owners = hours.get(&h).map_or(&[][..], Vec::as_slice);
            judge(h, (h - HISTORY..h).map(count), owners)
        })
        .collect()
}

/// The page for hour `h`, whose uploader tokens were for `owners`, against the counts of the
/// `HISTORY` hours before it, if it pages.
fn judge(h: i64, past: impl Iterator<Item = f64>, owners: &[u64]) -> Option<Alarm> {
    let past: Vec<f64> = past.collect();
    let z = super::z_score(owners.len() as f64, &past, 1.0);
    (z >= Z).then(|| Alarm {
        fired_ts: (h + 1) * HOUR,
        confidence: 1.0 - 0.5f64.powf(z - Z),
        deploy_id: None,
        users: owners
            .iter()
            .copied()
            .collect::<BTreeSet<u64>>()
            .into_iter()
            .collect(),
        apps: Vec::new(),
    })
}

/// The same rule on a live stream, one access-log row at a time: an hour is judged when the
/// first row of a later hour comes (or the stream ends), and the week of history starts at
/// the hour of the first token issued (a batch run's: the period's start). A row that comes
/// after its hour was judged counts in the hour it came in.
#[derive(Debug, Default)]
pub struct Rate {
    seen: HashSet<u64>,
    first_hour: Option<i64>,
    /// The hour open, and the owners of its uploader tokens.
    hour: Option<i64>,
    owners: Vec<u64>,
    /// The counts of the hours judged, the newest last (a week at most).
    history: VecDeque<f64>,
}

impl Rate {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes in one row of the access log; returns the page for the hour it closed, if any.
    /// Any user row closes the hours before its own; the platform's rows (a flaw dated a year
    /// before the period) do not.
    pub fn push(&mut self, r: &AccessRow) -> Option<Alarm> {
        if r.kind.is_system() {
            return None;
        }
        let h = r.ts.div_euclid(HOUR);
        let issued = r.kind == AccessKind::TokenIssued;
        if issued {
            self.first_hour.get_or_insert(h);
        }
        let mut page = None;
        match self.hour {
            None if issued => self.hour = Some(h),
            None => {}
            Some(open) if h > open => {
                page = self.close();
                // Hours with no token at all are zeros.
                let quiet = (h - open - 1).min(HISTORY);
                self.history
                    .extend(std::iter::repeat_n(0.0, quiet as usize));
                while self.history.len() > HISTORY as usize {
                    self.history.pop_front();
                }
                self.hour = Some(h);
            }
            Some(_) => {}
        }
        if issued && r.path == Some(TokenPath::VideoUploader) && self.seen.insert(r.event_id) {
            self.owners.push(r.target_id);
        }
        page
    }

    /// The end of the stream: judges the hour still open.
    pub fn finish(&mut self) -> Option<Alarm> {
        let page = self.close();
        self.hour = None;
        page
    }

    /// Judges the open hour (once a week of history is known) and adds it to the history.
    fn close(&mut self) -> Option<Alarm> {
        let (open, first) = (self.hour?, self.first_hour?);
        let page = match open >= first + HISTORY {
            true => judge(open, self.history.iter().copied(), &self.owners),
            false => None,
        };
        self.history.push_back(self.owners.len() as f64);
        while self.history.len() > HISTORY as usize {
            self.history.pop_front();
        }
        self.owners.clear();
        page
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issued(event_id: u64, ts: i64, target: u64, path: TokenPath) -> AccessRow {
        AccessRow {
            event_id,
            ts,
            kind: AccessKind::TokenIssued,
            user_id: 1,
            target_id: target,
            token_id: Some(1),
            issued_token_id: event_id,
            session_id: 1,
            client: None,
            network: 1,
            path: Some(path),
            field_group: None,
        }
    }

    #[test]
    fn a_burst_of_uploader_tokens_pages_at_the_end_of_its_hour() {
        let mut rows = Vec::new();
        let mut id = 0;
        // Ten days of one uploader token every other hour, and logins that do not count.
        for h in 0..240 {
            id += 1;
            rows.push(issued(id, h * HOUR + 5, 100 + h as u64, TokenPath::Login));
            if h % 2 == 0 {
                id += 1;
                rows.push(issued(
                    id,
                    h * HOUR + 7,
                    100 + h as u64,
                    TokenPath::VideoUploader,
                ));
            }
        }
        assert!(
            alarms(&rows, 0, 240 * HOUR).is_empty(),
            "the background is quiet"
        );
        // Hour 200: eight uploader tokens, one delivered twice.
        for k in 0..8 {
            id += 1;
            rows.push(issued(
                id,
                200 * HOUR + 60 + k,
                7 + k as u64,
                TokenPath::VideoUploader,
            ));
        }
        rows.push(rows.last().copied().unwrap());
        let a = alarms(&rows, 0, 240 * HOUR);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].fired_ts, 201 * HOUR);
        assert!(a[0].confidence > 0.97, "z = 8.5: {}", a[0].confidence);
        // The eight owners and the hour's ordinary one (hour 200 is even).
        assert_eq!(a[0].users.len(), 9);
        assert!(a[0].users.contains(&7) && a[0].users.contains(&300));
        // Before a week of history, nothing pages.
        assert!(alarms(&rows, 195 * HOUR, 240 * HOUR).is_empty());

        // The live form, fed the rows in log order, pages the same page at the same time.
        let mut ordered = rows.clone();
        ordered.sort_by_key(|r| (r.ts, r.event_id));
        let mut rate = Rate::new();
        let mut live: Vec<Alarm> = ordered.iter().filter_map(|r| rate.push(r)).collect();
        live.extend(rate.finish());
        assert_eq!(live, a);
        // Seeing the log from hour 30 on, it learns a week from there: hour 200 is judged
        // against the same week as in batch, and pages the same.
        let mut rate = Rate::new();
        let mut late: Vec<Alarm> = ordered
            .iter()
            .filter(|r| r.ts >= 30 * HOUR)
            .filter_map(|r| rate.push(r))
            .collect();
        late.extend(rate.finish());
        assert_eq!(late, a);
        // From hour 100 on, hour 200 has too little history to be judged.
        let mut rate = Rate::new();
        let mut later: Vec<Alarm> = ordered
            .iter()
            .filter(|r| r.ts >= 100 * HOUR)
            .filter_map(|r| rate.push(r))
            .collect();
        later.extend(rate.finish());
        assert!(later.is_empty());
    }
}
