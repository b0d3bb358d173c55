//! The public figures a scenario is calibrated against, beside the simulated ones.

use crate::scenario::Scenario;
use blastradius_dataset::{CalibrationRow, Counts};
use blastradius_schema::time::DAY;

const DEVELOPER_POST: &str = "Facebook for Developers, 14 Dec 2018, \"Notifying our Developer Ecosystem about a Photo API Bug\"";
const RESULTS: &str = "Facebook Q3 2018 results (2.27 billion monthly active users)";

/// The target share of users affected: 6.8 million of 2.27 billion monthly users.
pub const AFFECTED_SHARE_TARGET: f64 = 6.8e6 / 2.27e9;

/// Whether `scenario` simulates the photo-API bug at the rates calibrated to the public
/// figures: those of `facebook-2018` (which `messaging-partners` keeps, changing only the
/// partners). A preset or a file that changes any of them is not calibrated to a public
/// incident, and a table of its distance from those figures ("+9603% of target") would read
/// as a failure of the simulator when it is only another world.
pub fn is_calibrated(scenario: &Scenario) -> bool {
    let f = Scenario::preset("facebook-2018").expect("a preset");
    scenario.period == f.period
        && scenario.bug == f.bug
        && scenario.catalog == f.catalog
        && scenario.users == f.users
        && scenario.photos == f.photos
        && scenario.photo_apps == f.photo_apps
}

/// The calibration table for a run with `counts`: empty when the scenario is not calibrated
/// to the public figures (see [`is_calibrated`]).
pub fn calibration(scenario: &Scenario, counts: &Counts) -> Vec<CalibrationRow> {
    if !is_calibrated(scenario) {
        return Vec::new();
    }
    let t = scenario.timeline();
    let n = |x: Option<u64>| x.unwrap_or(0);
    let share = n(counts.affected_users) as f64 / counts.users.max(1) as f64;
    let row = |figure: &str, target: &str, source: &str, simulated: String| CalibrationRow {
        figure: figure.into(),
        target: target.into(),
        source: source.into(),
        simulated,
    };
    vec![
        row(
            "users affected",
            "0.30% (up to 6.8M of 2.27B)",
            &format!("{DEVELOPER_POST}; {RESULTS}"),
            format!(
                "{:.3}% ({} of {}; {:+.0}% of target)",
                share * 100.0,
                n(counts.affected_users),
                counts.users,
                (share / AFFECTED_SHARE_TARGET - 1.0) * 100.0
            ),
        ),
        row(
            "apps per provider",
            "1.71 (1,500 apps of 876 developers)",
            DEVELOPER_POST,
            format!(
                "{:.2} ({} photo apps of {} providers)",
                counts.photo_apps as f64 / scenario.catalog.providers.max(1) as f64,
                counts.photo_apps,
                scenario.catalog.providers
            ),
        ),
        row(
            "apps with an exposure",
            "up to 1,500",
            DEVELOPER_POST,
            format!(
                "{} of {} photo apps",
                n(counts.affected_apps),
                counts.photo_apps
            ),
        ),
        row(
            "providers with an exposed app",
            "up to 876",
            DEVELOPER_POST,
            format!(
                "{} of {}",
                n(counts.affected_providers),
                scenario.catalog.providers
            ),
        ),
        row(
            "bug window",
            "12 days (13 to 25 September 2018)",
            DEVELOPER_POST,
            format!(
                "{:.1} days ({} to {})",
                (t.bug_fixed - t.bug_introduced) as f64 / DAY as f64,
                scenario.bug.introduced,
                scenario.bug.fixed
            ),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    // Issue 20: shallow-paging and a user's own rates printed "+233% of target".
    #[test]
    fn only_the_photo_rates_of_facebook_2018_are_calibrated() {
        let calibrated = |name: &str| is_calibrated(&Scenario::preset(name).unwrap());
        assert!(calibrated("facebook-2018"));
        assert!(calibrated("messaging-partners"));
        assert!(!calibrated("shallow-paging"));
        let mut own = Scenario::preset("facebook-2018").unwrap();
        own.photo_apps.page_size += 1;
        assert!(!is_calibrated(&own));
        assert!(calibration(&own, &Counts::default()).is_empty());
    }
}
