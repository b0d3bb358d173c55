//! The deliberately naive baseline: one number for the whole platform.
//!
//! It watches the hourly mean of `items_returned` over successful photo calls and pages when
//! an hour's mean stands three standard deviations above the week before it. It is what a
//! dashboard alert on the photo API would do, and it shows why that is not enough: the bug
//! touches a fraction of a percent of users, under the aggregate's drift and its daily rhythm.
//! It names no user or app; it blames the latest photo-API deploy before the hour.

use std::collections::BTreeMap;

use blastradius_dataset::log::ShardLog;
use blastradius_schema::Kind;
use blastradius_schema::time::HOUR;

use super::alarms::Alarm;

/// Per hour (`ts / HOUR`): items returned and successful photo calls.
pub type Hours = BTreeMap<i64, (u64, u64)>;

/// Hours of history the mean and spread come from (a week), and the fewest it needs.
const HISTORY: usize = 7 * 24;
const MIN_HISTORY: usize = 48;
/// Standard deviations above the mean at which an hour pages.
const Z: f64 = 3.0;

/// One shard's hourly sums (duplicated rows included: the aggregate does not look closely).
pub fn hours(log: &ShardLog) -> Hours {
    let mut out = Hours::new();
    for i in 0..log.len() {
        if log.kind[i] == Kind::PhotoApiCall && log.status[i] == 200 {
            let e = out.entry(log.ts[i].div_euclid(HOUR)).or_default();
            e.0 += log.items_returned[i] as u64;
            e.1 += 1;
        }
    }
    out
}

/// Pages over the whole platform's `hours` (every shard's added up). An hour pages at its
/// end; its confidence is `1 - 3/z`.
pub fn alarms(hours: &Hours, deploy_at: impl Fn(i64) -> Option<u64>) -> Vec<Alarm> {
    let means: Vec<(i64, f64)> = hours
        .iter()
        .filter(|(_, (_, n))| *n > 0)
        .map(|(&h, &(sum, n))| (h, sum as f64 / n as f64))
        .collect();
    let mut out = Vec::new();
    for k in MIN_HISTORY..means.len() {
        let past: Vec<f64> = means[k.saturating_sub(HISTORY)..k]
            .iter()
            .map(|m| m.1)
            .collect();
        let (hour, value) = means[k];
        let z = super::z_score(value, &past, 1e-9);
        if z >= Z {
            out.push(Alarm {
                fired_ts: (hour + 1) * HOUR,
                confidence: (1.0 - Z / z).clamp(0.0, 1.0),
                deploy_id: deploy_at(hour * HOUR),
                users: Vec::new(),
                apps: Vec::new(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_hour_far_above_the_week_before_pages_at_its_end() {
        let mut h = Hours::new();
        for hour in 0..100 {
            // A small wobble: 10 or 11 items a call.
            h.insert(hour, (100 * (10 + hour as u64 % 2), 100));
        }
        assert!(alarms(&h, |_| None).is_empty(), "the wobble is normal");
        h.insert(100, (100 * 14, 100));
        let a = alarms(&h, |t| Some(t as u64));
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].fired_ts, 101 * HOUR);
        assert_eq!(a[0].deploy_id, Some(100 * HOUR as u64));
        assert!(a[0].confidence > 0.5 && a[0].users.is_empty());
        // Too little history: nothing.
        let short: Hours = h.range(60..).map(|(k, v)| (*k, *v)).collect();
        assert!(alarms(&short, |_| None).is_empty());
    }
}
