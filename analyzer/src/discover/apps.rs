//! The statistical baseline: a change point per app, not for the whole platform.
//!
//! The platform-wide mean of `items_returned` drifts upward all period as albums grow, and the
//! bug moves it by far less than that drift. Per app the bug's share of the calls is larger
//! (an app whose users' drafts leak returns more items on their calls), so this baseline
//! compares each app's daily mean of `items_returned` over its successful photo calls with the
//! same app's previous two weeks: a day `Z` or more standard deviations above them is a change
//! point. It judges whole days (an app's hour holds too few calls to judge), so it pages at
//! the day's end (UTC midnight), one page a day listing every app that changed, with
//! confidence `1 - 0.5^(z - Z)` from the largest `z`, blaming the latest photo-API deploy at
//! or before the day's start. It names apps, not users. With about 1,500 apps judged every
//! day, `Z` is set high (4) to keep chance changes rare.

use std::collections::BTreeMap;

use blastradius_dataset::log::ShardLog;
use blastradius_schema::Kind;
use blastradius_schema::time::DAY;

use super::alarms::Alarm;

/// Per `(app, day)`: items returned and successful photo calls.
pub type Days = BTreeMap<(u32, i64), (u64, u64)>;

/// Days of history (two weeks), the fewest judged days it needs, and the fewest calls a day
/// must hold to be judged or used as history.
const HISTORY: i64 = 14;
const MIN_HISTORY: usize = 7;
const MIN_CALLS: u64 = 20;
/// Standard deviations above the app's past from which a day is a change point.
const Z: f64 = 4.0;
/// The smallest spread of an app's daily means taken (items per call): a perfectly steady
/// history would make any wobble infinite.
const MIN_SPREAD: f64 = 0.05;

/// One shard's sums per app and day (duplicated rows included, as a dashboard would count).
pub fn days(log: &ShardLog) -> Days {
    let mut out = Days::new();
    for i in 0..log.len() {
        if log.kind[i] == Kind::PhotoApiCall && log.status[i] == 200 {
            let e = out
                .entry((log.app_id[i], log.ts[i].div_euclid(DAY)))
                .or_default();
            e.0 += log.items_returned[i] as u64;
            e.1 += 1;
        }
    }
    out
}

/// Adds `other`'s sums into `into`.
pub fn merge(into: &mut Days, other: Days) {
    for (k, (sum, n)) in other {
        let e = into.entry(k).or_default();
        e.0 += sum;
        e.1 += n;
    }
}

/// Pages over every shard's `days` added up.
pub fn alarms(days: &Days, deploy_at: impl Fn(i64) -> Option<u64>) -> Vec<Alarm> {
    // Per day: the apps that changed and their z.
    let mut changed: BTreeMap<i64, Vec<(u32, f64)>> = BTreeMap::new();
    let mut app_days: BTreeMap<u32, Vec<(i64, f64)>> = BTreeMap::new();
    for (&(app, day), &(sum, n)) in days {
        if n >= MIN_CALLS {
            app_days
                .entry(app)
                .or_default()
                .push((day, sum as f64 / n as f64));
        }
    }
    for (app, means) in app_days {
        for (k, &(day, value)) in means.iter().enumerate() {
            let past: Vec<f64> = means[..k]
                .iter()
                .filter(|m| m.0 >= day - HISTORY)
                .map(|m| m.1)
                .collect();
            if past.len() < MIN_HISTORY {
                continue;
            }
            let z = super::z_score(value, &past, MIN_SPREAD);
            if z >= Z {
                changed.entry(day).or_default().push((app, z));
            }
        }
    }
    changed
        .into_iter()
        .map(|(day, apps)| {
            let top = apps.iter().map(|a| a.1).fold(Z, f64::max);
            Alarm {
                fired_ts: (day + 1) * DAY,
                confidence: 1.0 - 0.5f64.powf(top - Z),
                deploy_id: deploy_at(day * DAY),
                users: Vec::new(),
                apps: apps.iter().map(|a| a.0).collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_app_whose_mean_steps_up_pages_at_the_days_end_and_a_quiet_one_does_not() {
        let mut d = Days::new();
        // Three apps, 30 days of 100 calls. App 1 wobbles around 10 items a call; app 2
        // around 5; app 3 has too few calls a day to judge.
        for day in 0..30 {
            let wobble = [0, 3, 1, 2, 0, 1, 3][day as usize % 7];
            d.insert((1, day), (1_000 + wobble * 10, 100));
            d.insert((2, day), (500 + wobble * 5, 100));
            d.insert((3, day), (30 * (1 + day as u64), 3));
        }
        assert!(alarms(&d, |_| None).is_empty(), "steady apps never page");
        // Day 20: app 1 returns 12 items a call.
        d.insert((1, 20), (1_200, 100));
        let a = alarms(&d, |t| (t >= 20 * DAY).then_some(9));
        assert_eq!(a.len(), 1);
        assert_eq!(
            (a[0].fired_ts, a[0].apps.clone(), a[0].deploy_id),
            (21 * DAY, vec![1], Some(9))
        );
        assert!(
            a[0].confidence > 0.99 && a[0].users.is_empty(),
            "{:?}",
            a[0]
        );
        // A step down is not a leak.
        d.insert((1, 20), (800, 100));
        assert!(alarms(&d, |_| None).is_empty());
        // Shards add up.
        let mut whole = Days::new();
        merge(&mut whole, [((1, 0), (10, 2))].into_iter().collect());
        merge(&mut whole, [((1, 0), (5, 1))].into_iter().collect());
        assert_eq!(whole[&(1, 0)], (15, 3));
    }
}
