//! Issue 26: control worlds. `generate --no-incident` writes the same world and traffic as
//! its scenario (same seed, same draws) with no incident ever happening. Checked here from
//! the files alone: every row of the log is the incident world's except the partners' calls
//! honoured without a grant and, from the bug's deploy on, rows of users with a photo call
//! since then (whose pages the bug could change); the deploys are gone, the View-As access log is the incident world's less the attack, the
//! truth is empty, and `analyze` finds nothing and says why.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use arrow::array::{Array, AsArray, RecordBatch};

use crate::util::*;

/// Every column of `b` as text, per row: a row's whole content, comparable across files.
pub(crate) fn rows_of(b: &RecordBatch) -> Vec<Vec<String>> {
    let columns: Vec<_> = b
        .columns()
        .iter()
        .map(|c| {
            use arrow::datatypes::DataType;
            // A timestamp as its integer (text of a zone needs a time-zone database).
            let c = match c.data_type() {
                DataType::Timestamp(..) => arrow::compute::cast(c, &DataType::Int64).unwrap(),
                _ => c.clone(),
            };
            arrow::compute::cast(&c, &DataType::Utf8).unwrap()
        })
        .collect();
    (0..b.num_rows())
        .map(|i| {
            columns
                .iter()
                .map(|c| {
                    let s = c.as_string::<i32>();
                    if s.is_valid(i) {
                        s.value(i).to_string()
                    } else {
                        "∅".into()
                    }
                })
                .collect()
        })
        .collect()
}

/// The rows of every part under `dir`, by `event_id` (column 0), each with its user
/// (column 3, "∅" for the platform's own rows).
pub(crate) fn log(dir: &Path) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for part in files_under(dir) {
        for b in batches(&part) {
            for r in rows_of(&b) {
                out.insert(format!("{}/{}", r[0], r[3]), r);
            }
        }
    }
    out
}

/// The `user_id`s of every truth table under `dir` named `table`.
fn users_of(dir: &Path, table: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for part in files_under(&dir.join("truth").join(table)) {
        for b in batches(&part) {
            let i = b.schema().index_of("user_id").unwrap();
            for r in rows_of(&b) {
                out.insert(r[i].clone());
            }
        }
    }
    out
}

fn truth_rows(dir: &Path) -> u64 {
    files_under(&dir.join("truth"))
        .iter()
        .map(|p| rows(p))
        .sum()
}

#[test]
fn a_control_world_is_the_same_traffic_with_nothing_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    for scenario in ["messaging-partners", "view-as-2018"] {
        let (with, without) = (tmp.path().join(scenario), tmp.path().join("control"));
        let _ = std::fs::remove_dir_all(&without);
        generate_into(&with, "3000", "4", scenario);
        generate_with(&without, "3000", "4", scenario, &["--no-incident"]);
        let (a, b) = (log(&with.join("events")), log(&without.join("events")));
        // The rows that differ, either way (columns: ts 1, kind 2, user_id 3, status 9).
        let mut differ: Vec<&Vec<String>> = a
            .iter()
            .filter(|(k, r)| b.get(*k) != Some(*r))
            .map(|(_, r)| r)
            .collect();
        differ.extend(
            b.iter()
                .filter(|(k, r)| a.get(*k) != Some(*r))
                .map(|(_, r)| r),
        );
        let deploys: Vec<i64> = a
            .values()
            .filter(|r| r[2].starts_with("bug_"))
            .map(|r| r[1].parse().unwrap())
            .collect();
        assert!(!deploys.is_empty());
        assert!(
            b.values().all(|r| !r[2].starts_with("bug_")),
            "{scenario}: no deploy"
        );
        let bug_from = *deploys.iter().min().unwrap();
        // The platform's deploys are the same in both, ids and times: the control world
        // ships an ordinary nightly release where the bug's two went out.
        let deploys_of = |l: &BTreeMap<String, Vec<String>>| -> Vec<(String, String)> {
            let mut t: Vec<(String, String)> = l
                .values()
                .filter(|r| r[2] == "deploy" || r[2].starts_with("bug_"))
                .map(|r| (r[0].clone(), r[1].clone()))
                .collect();
            t.sort();
            t
        };
        assert!(deploys_of(&a).len() > 100, "a few deploys a day");
        assert_eq!(deploys_of(&a), deploys_of(&b), "{scenario}: the deploys");
        let affected = users_of(&with, "affected_users");
        let violators = users_of(&with, "message_violations");
        assert!(
            !affected.is_empty(),
            "{scenario} has a photo bug to leave out"
        );
        if scenario == "messaging-partners" {
            assert!(!violators.is_empty(), "and partners' violations");
        }
        // Before the bug's deploy the two logs are the same, but for the partners' calls
        // honoured without a grant; from it on, only users with a successful photo call
        // since then (whose pages the bug may have changed) differ, and the violators.
        let callers: BTreeSet<&String> = a
            .values()
            .filter(|r| r[2] == "photo_api_call" && r[9] == "200")
            .filter(|r| r[1].parse::<i64>().unwrap() >= bug_from)
            .map(|r| &r[3])
            .collect();
        let mut users = BTreeSet::new();
        for r in &differ {
            // The deploys: numbered in log order, so the ids after the bug's differ; their
            // times and count are checked above.
            if r[2].starts_with("bug_") || r[2] == "deploy" {
                continue;
            }
            let ts: i64 = r[1].parse().unwrap();
            let honoured = r[2] == "message_api_call" && violators.contains(&r[3]);
            assert!(
                honoured || (ts >= bug_from && callers.contains(&r[3])),
                "{scenario}: a row the incident did not make differs: {r:?}"
            );
            users.insert(r[3].clone());
        }
        // The photo bug shows: users it exposed are among those whose rows differ.
        assert!(
            users.intersection(&affected).count() * 2 > affected.len(),
            "{scenario}: {} of {} affected users differ",
            users.intersection(&affected).count(),
            affected.len()
        );
        assert!(
            a.len().abs_diff(b.len()) < a.len() / 100,
            "{scenario}: the same traffic ({} rows against {})",
            a.len(),
            b.len()
        );
        assert_eq!(truth_rows(&without), 0, "{scenario}: an empty truth");
        let m = read_json(&without.join("manifest.json"));
        assert_eq!(m["control"], true, "{m}");
        assert!(
            read_json(&with.join("manifest.json"))
                .get("control")
                .is_none()
        );
        if scenario == "view-as-2018" {
            // The access log is the incident world's less the attack: no row of its own, no
            // flaw, no reset, no token taken.
            let (a, b) = (log(&with.join("access")), log(&without.join("access")));
            assert!(b.iter().all(|(k, r)| a.get(k) == Some(r)));
            assert!(a.len() > b.len());
            assert!(
                b.values()
                    .all(|r| !r[2].starts_with("flaw_") && r[2] != "tokens_reset")
            );
            // Rule 1 of data/README §13 (columns: user_id 3, target_id 4, path 10).
            assert!(
                b.values()
                    .all(|r| !(r[10] == "video_uploader" && r[3] != r[4])),
                "no theft in a control world"
            );
        }
        // analyze finds nothing, says why, and exits 0.
        let out = tmp.path().join(format!("{scenario}-analyze"));
        let o = blastradius(&["analyze", path_arg(&without), "--out", path_arg(&out)]);
        assert_ok(&o);
        assert!(stderr(&o).contains("a control world"), "{}", stderr(&o));
        let r = read_json(&out.join("report.json"));
        // What rates F1 refuses a world with nothing to find, saying what to do instead.
        let nowhere = tmp.path().join("never-written");
        for args in [
            vec!["stress", path_arg(&without), "--out", path_arg(&nowhere)],
            vec![
                "bench",
                "live",
                path_arg(&without),
                "--detectors",
                "exact",
                "--out",
                path_arg(&nowhere),
            ],
        ] {
            let o = blastradius(&args);
            assert!(!o.status.success(), "{args:?}");
            let err = stderr(&o);
            assert!(
                err.contains("is a control world") && err.contains("--no-incident"),
                "{args:?}: {err}"
            );
            assert!(!nowhere.exists(), "{args:?} wrote nothing");
        }
        assert_eq!(row(&r, "exact")["affected_users"], 0, "{r}");
        assert_eq!(row(&r, "exact")["exposures"], 0, "{r}");
    }
}
