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
    scenario.incident
        && scenario.period == f.period
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
    let mut rows = photo_rows(scenario, counts);
    let preset = Scenario::preset("view-as-2018").expect("a preset");
    if scenario.view_as.is_some() && scenario.view_as == preset.view_as {
        rows.extend(view_as_rows(scenario, counts));
    }
    rows
}

const VIEW_AS_UPDATE: &str = "Facebook Newsroom, 12 Oct 2018, \"An Update on the Security Issue\"";
const VIEW_AS_FIRST: &str = "Facebook Newsroom, 28 Sep 2018, \"Security Update\"";

/// The View-As rows: shares of users against the public figures, and the incident's dates.
fn view_as_rows(scenario: &Scenario, counts: &Counts) -> Vec<CalibrationRow> {
    let Some(v) = &scenario.view_as else {
        return Vec::new();
    };
    let users = counts.users.max(1) as f64;
    let tiers = counts.view_as_users_by_tier.clone().unwrap_or_default();
    let tier = |name: &str| tiers.get(name).copied().unwrap_or(0);
    let stolen = counts.stolen_tokens.unwrap_or(0);
    let pivots = tier("pivot");
    let share = |n: u64, target: f64| {
        format!(
            "{:.4}% ({n} of {}; {:+.1}% of target)",
            n as f64 / users * 100.0,
            counts.users,
            (n as f64 / users / target - 1.0) * 100.0
        )
    };
    let of_stolen = |n: u64, target: f64| {
        format!(
            "{:.1}% ({n} of {stolen}; {:+.1}% of target)",
            n as f64 / stolen.max(1) as f64 * 100.0,
            (n as f64 / stolen.max(1) as f64 / target - 1.0) * 100.0
        )
    };
    let row = |figure: &str, target: &str, source: &str, simulated: String| CalibrationRow {
        figure: figure.into(),
        target: target.into(),
        source: source.into(),
        simulated,
    };
    let day = |s: &str| s.get(..10).unwrap_or(s).to_string();
    vec![
        row(
            "View As: tokens taken",
            "1.32% (30M of 2.27B)",
            &format!("{VIEW_AS_UPDATE}; {RESULTS}"),
            share(stolen, 30e6 / 2.27e9),
        ),
        row(
            "View As: pivots (profiles loaded, friends' tokens taken)",
            "0.0176% (400,000 of 2.27B)",
            &format!("{VIEW_AS_UPDATE}; {RESULTS}"),
            share(pivots, 0.4e6 / 2.27e9),
        ),
        row(
            "View As: name and contact details read",
            "50% of the tokens taken (15M of 30M)",
            VIEW_AS_UPDATE,
            of_stolen(tier("contact"), 0.5),
        ),
        row(
            "View As: contact and profile details read (pivots included)",
            "46.7% (14M of 30M)",
            VIEW_AS_UPDATE,
            of_stolen(tier("contact_profile") + pivots, 14.0 / 30.0),
        ),
        row(
            "View As: nothing read",
            "3.3% (1M of 30M)",
            VIEW_AS_UPDATE,
            of_stolen(tier("token_only"), 1.0 / 30.0),
        ),
        row(
            "View As: spike, identification, fix",
            "14, 25 and 27 September 2018",
            VIEW_AS_FIRST,
            format!(
                "{}, {} and {}",
                day(&v.attack_start),
                day(&v.identified),
                day(&v.flaw_fixed)
            ),
        ),
    ]
}

/// The photo-API rows.
fn photo_rows(scenario: &Scenario, counts: &Counts) -> Vec<CalibrationRow> {
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
