//! The View-As baseline: a spike in tokens the video uploader issues.
//!
//! It counts, per hour, the `token_issued` rows of path `video_uploader` in the access log
//! (data/README §13), without looking at whom each token was for (a rule that did would be
//! the theft rule itself, the answer), and pages at the end of an hour whose count stands
//! three standard deviations or more above the week before it (the spread taken as at least
//! one token). Its confidence is `1 - 0.5^(z - 3)`. It names the owners of the uploader's
//! tokens of that hour, thefts and ordinary uploads alike: its first estimate of who was hit.

use std::collections::{BTreeMap, BTreeSet};

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
    let mut out = Vec::new();
    let first = (start + 7 * DAY).div_euclid(HOUR);
    for h in first..end.div_euclid(HOUR) {
        let past: Vec<f64> = (h - HISTORY..h).map(count).collect();
        let mean = past.iter().sum::<f64>() / past.len() as f64;
        let var = past.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / past.len() as f64;
        let z = (count(h) - mean) / var.sqrt().max(1.0);
        if z >= Z {
            let owners: BTreeSet<u64> = hours[&h].iter().copied().collect();
            out.push(Alarm {
                fired_ts: (h + 1) * HOUR,
                confidence: 1.0 - 0.5f64.powf(z - Z),
                deploy_id: None,
                users: owners.into_iter().collect(),
                apps: Vec::new(),
            });
        }
    }
    out
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
    }
}
