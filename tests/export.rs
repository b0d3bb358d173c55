//! Issue 11: the tools the incident promised. Per-app exports equal the truth app by app;
//! the notification list has one row per affected user; lookup answers as the truth says;
//! reports say what they count and break the leak down.

use blastradius_schema::arrays::Ints;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{UInt32Type, UInt64Type};

use crate::util::*;

type Exposure = (u32, u64, u64);

/// Rows of every Parquet file matching `dir/*.parquet`, as (app, user, photo) triples from
/// columns named so.
fn triples(files: &[std::path::PathBuf]) -> BTreeSet<Exposure> {
    let mut out = BTreeSet::new();
    for f in files {
        let file = std::fs::File::open(f).unwrap();
        for b in parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap()
        {
            let b = b.unwrap();
            let a = b.column_by_name("app_id").unwrap().ints::<UInt32Type>();
            let u = b.column_by_name("user_id").unwrap().ints::<UInt64Type>();
            let p = b.column_by_name("photo_id").unwrap().ints::<UInt64Type>();
            for i in 0..b.num_rows() {
                out.insert((a.value(i), u.value(i), p.value(i)));
            }
        }
    }
    out
}

fn parts(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .collect();
    v.sort();
    v
}

fn shared_dataset() -> std::path::PathBuf {
    static ONCE: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    dataset_in(&ONCE, "export", "30000", "31", "messaging-partners")
}

#[test]
fn export_apps_equals_the_truth_app_by_app() {
    let data = shared_dataset();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("apps");
    assert_ok(&blastradius(&[
        "export",
        "apps",
        path_arg(&data),
        "--out",
        path_arg(&out),
        "--csv",
    ]));
    let truth = triples(&parts(&data.join("truth/exposures")));
    let mut by_app: BTreeMap<u32, BTreeSet<Exposure>> = BTreeMap::new();
    for e in &truth {
        by_app.entry(e.0).or_default().insert(*e);
    }
    assert!(by_app.len() > 10, "enough apps to mean something");
    for (app, want) in &by_app {
        let dir = out.join(format!("app_id={app}"));
        let got = triples(&[dir.join("photos.parquet")]);
        assert_eq!(&got, want, "app {app}");
        let users: BTreeSet<u64> = want.iter().map(|e| e.1).collect();
        assert_eq!(
            rows(&dir.join("users.parquet")),
            users.len() as u64,
            "app {app}"
        );
        let csv = std::fs::read_to_string(dir.join("photos.csv")).unwrap();
        assert_eq!(
            csv.lines().count(),
            want.len() + 1,
            "header and one line a photo"
        );
        assert!(csv.starts_with(
            "app_id,app_name,provider_id,provider_name,user_id,photo_id,surface,first_exposed_ts"
        ));
    }
    let dirs = std::fs::read_dir(&out)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("app_id=")
        })
        .count();
    // Issue 20: partners whose calls were violations have their folder too.
    let partners: BTreeSet<u32> = truth_violations(&data)
        .iter()
        .map(|v| v.1)
        .filter(|a| !by_app.contains_key(a))
        .collect();
    assert!(!partners.is_empty());
    for p in &partners {
        assert!(out.join(format!("app_id={p}/violations.parquet")).exists());
    }
    assert_eq!(
        dirs,
        by_app.len() + partners.len(),
        "one folder an affected app"
    );
    assert_eq!(
        rows(&out.join("apps.parquet")),
        (by_app.len() + partners.len()) as u64
    );

    // From a detector's findings: exact's export is the truth's.
    let report = tmp.path().join("r");
    assert_ok(&blastradius(&[
        "analyze",
        path_arg(&data),
        "--detector",
        "exact",
        "--out",
        path_arg(&report),
    ]));
    let one = *by_app.keys().next().unwrap();
    let from_findings = tmp.path().join("from-findings");
    assert_ok(&blastradius(&[
        "export",
        "apps",
        path_arg(&data),
        "--findings",
        path_arg(&report.join("exact")),
        "--app",
        &one.to_string(),
        "--out",
        path_arg(&from_findings),
    ]));
    assert_eq!(
        triples(&[from_findings.join(format!("app_id={one}/photos.parquet"))]),
        by_app[&one]
    );
    let o = blastradius(&[
        "export",
        "apps",
        path_arg(&data),
        "--app",
        "999999",
        "--out",
        path_arg(&tmp.path().join("x")),
    ]);
    assert_error(&o, &["999999", "--app"]);
}

#[test]
fn the_notification_list_has_one_row_per_affected_user() {
    let data = shared_dataset();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("users");
    assert_ok(&blastradius(&[
        "export",
        "users",
        path_arg(&data),
        "--out",
        path_arg(&out),
    ]));
    let truth = triples(&parts(&data.join("truth/exposures")));
    let mut per_user: BTreeMap<u64, BTreeSet<u32>> = BTreeMap::new();
    for e in &truth {
        per_user.entry(e.1).or_default().insert(e.0);
    }
    // Issue 20: a user whose mailbox was used without a grant is notified too.
    for v in truth_violations(&data) {
        per_user.entry(v.2).or_default();
    }
    let csv = std::fs::read_to_string(out.join("users.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "user_id,apps,app_ids,app_names,photos,surfaces,first_exposed_ts,violations,partner_ids,partner_names,first_violation_ts,incidents"
    );
    let mut seen = 0;
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        let user: u64 = cells[0].parse().unwrap();
        let apps: BTreeSet<u32> = cells[2]
            .split("; ")
            .filter(|a| !a.is_empty())
            .map(|a| a.parse().unwrap())
            .collect();
        assert_eq!(apps, per_user[&user], "user {user}");
        seen += 1;
    }
    assert_eq!(seen, per_user.len());
}

/// The truth's exposures of one user and the photo grants they hold at the end of the log,
/// read independently of `lookup` (plain Parquet, a replay of the user's grants).
fn expected(data: &Path, user: u64) -> (BTreeSet<(u32, u64)>, BTreeSet<u32>) {
    let truth = triples(&parts(&data.join("truth/exposures")));
    let seen = truth
        .iter()
        .filter(|e| e.1 == user)
        .map(|e| (e.0, e.2))
        .collect();
    let mut events = Vec::new();
    for f in parts(&data.join("events")) {
        let file = std::fs::File::open(f).unwrap();
        for b in parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap()
        {
            let b = b.unwrap();
            let users = b.column_by_name("user_id").unwrap().ints::<UInt64Type>();
            let kinds = arrow::compute::cast(
                b.column_by_name("kind").unwrap(),
                &arrow::datatypes::DataType::Utf8,
            )
            .unwrap();
            let scopes = arrow::compute::cast(
                b.column_by_name("scope").unwrap(),
                &arrow::datatypes::DataType::Utf8,
            )
            .unwrap();
            let (kinds, scopes) = (kinds.as_string::<i32>(), scopes.as_string::<i32>());
            let apps = b.column_by_name("app_id").unwrap().ints::<UInt32Type>();
            let ts = b
                .column_by_name("ts")
                .unwrap()
                .as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
            let ids = b.column_by_name("event_id").unwrap().ints::<UInt64Type>();
            for i in 0..b.num_rows() {
                if users.is_valid(i)
                    && users.value(i) == user
                    && scopes.is_valid(i)
                    && scopes.value(i) == "user_photos"
                {
                    events.push((
                        ts.value(i),
                        ids.value(i),
                        kinds.value(i) == "permission_granted",
                        apps.value(i),
                    ));
                }
            }
        }
    }
    events.sort();
    let mut grants = BTreeSet::new();
    for (_, _, granted, app) in events {
        if granted {
            grants.insert(app);
        } else {
            grants.remove(&app);
        }
    }
    (seen, grants)
}

#[test]
fn lookup_answers_as_the_truth_says() {
    let data = shared_dataset();
    let truth = triples(&parts(&data.join("truth/exposures")));
    // Every affected user of one shard, and as many others spread over the id range.
    let mut users: BTreeSet<u64> = truth.iter().map(|e| e.1).take(15).collect();
    users.extend((0..15u64).map(|k| k * 1999 + 7));
    for user in users {
        let o = blastradius(&["lookup", path_arg(&data), &user.to_string(), "--json"]);
        assert_ok(&o);
        let a: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let (seen, grants) = expected(&data, user);
        let got: BTreeSet<(u32, u64)> = a["exposures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["app_id"].as_u64().unwrap() as u32,
                    e["photo_id"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(got, seen, "user {user}");
        let mailbox = !a["mailbox"].as_array().unwrap().is_empty();
        assert_eq!(
            mailbox,
            truth_violations(&data).iter().any(|v| v.2 == user),
            "user {user}"
        );
        assert_eq!(a["affected"], !seen.is_empty() || mailbox);
        let got_grants: BTreeSet<u32> = a["photo_grants_now"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["app_id"].as_u64().unwrap() as u32)
            .collect();
        assert_eq!(got_grants, grants, "user {user}");
    }
    let text = blastradius(&[
        "lookup",
        path_arg(&data),
        &truth.iter().next().unwrap().1.to_string(),
    ]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("was affected"));
    assert_error(
        &blastradius(&["lookup", path_arg(&data), "30000"]),
        &["has no user 30000", "0 to 29999"],
    );
}

#[test]
fn reports_break_the_leak_down_and_say_what_they_count() {
    let data = shared_dataset();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("r");
    let report = analyze_report(&data, &out);
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    for heading in [
        "## Leaks by surface",
        "## Message violations by partner and action",
        "## Top apps by affected users",
        "revoked token",
        "never granted",
    ] {
        assert!(md.contains(heading), "{heading} missing from report.md");
    }
    // The partner x action table adds up to the truth, and exact tells every violation's
    // cause.
    let partners = report["partners"].as_array().unwrap();
    let total: u64 = partners
        .iter()
        .map(|p| p["truth_violations"].as_u64().unwrap())
        .sum();
    assert_eq!(
        total,
        report["truth"]["message_violations"].as_u64().unwrap()
    );
    for p in partners {
        assert_eq!(
            p["revoked_token"].as_u64().unwrap() + p["never_granted"].as_u64().unwrap(),
            p["truth_violations"].as_u64().unwrap(),
            "{p}"
        );
        assert!(!p["partner"].as_str().unwrap().is_empty());
    }
    let surfaces: u64 = report["surfaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["truth_exposures"].as_u64().unwrap())
        .sum();
    assert_eq!(surfaces, report["truth"]["exposures"].as_u64().unwrap());
    // naive names users only: no exposure count pretends to be zero.
    let naive = row(&report, "naive");
    assert!(naive["exposures"].is_null(), "{naive}");
    assert!(md.contains("| naive |") && md.contains(" – |"));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.matches("<svg").count() >= 3, "charts drawn");
    assert!(html.contains("Leaks by surface"));
}

/// The truth's message violations, read as plain Parquet: (event, app, user, action, ts).
type TruthViolation = (u64, u32, u64, String, i64);

fn truth_violations(data: &Path) -> Vec<TruthViolation> {
    let mut out = Vec::new();
    for b in batches(&data.join("truth/message_violations")) {
        let col = |n: &str| b.column_by_name(n).unwrap().clone();
        let action =
            arrow::compute::cast(&col("action"), &arrow::datatypes::DataType::Utf8).unwrap();
        let (e, a, u, t) = (col("event_id"), col("app_id"), col("user_id"), col("ts"));
        for i in 0..b.num_rows() {
            out.push((
                e.ints::<UInt64Type>().value(i),
                a.ints::<UInt32Type>().value(i),
                u.ints::<UInt64Type>().value(i),
                action.as_string::<i32>().value(i).to_string(),
                t.as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                    .value(i),
            ));
        }
    }
    out
}

fn messaging_dataset() -> std::path::PathBuf {
    static ONCE: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    dataset_in(&ONCE, "export-mp", "8000", "3", "messaging-partners")
}

// Issue 20: `lookup` of a user whose mailbox a partner read 198 times without a grant said
// "was not affected".
#[test]
fn lookup_names_the_partners_that_used_a_mailbox_without_a_grant() {
    let data = messaging_dataset();
    let violations = truth_violations(&data);
    let exposed: BTreeSet<u64> = triples(&parts(&data.join("truth/exposures")))
        .iter()
        .map(|e| e.1)
        .collect();
    let mut per_user: BTreeMap<u64, Vec<&TruthViolation>> = BTreeMap::new();
    for v in &violations {
        per_user.entry(v.2).or_default().push(v);
    }
    let mailbox_only: Vec<u64> = per_user
        .keys()
        .copied()
        .filter(|u| !exposed.contains(u))
        .take(5)
        .collect();
    assert!(!mailbox_only.is_empty());
    for user in mailbox_only {
        let o = blastradius(&["lookup", path_arg(&data), &user.to_string(), "--json"]);
        assert_ok(&o);
        let a: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(a["affected"], true, "{a}");
        // Per (partner, action): the calls, first and last, as the truth says.
        let mut want: BTreeMap<(u64, String), (u64, i64, i64)> = BTreeMap::new();
        for v in &per_user[&user] {
            let g = want
                .entry((v.1 as u64, v.3.clone()))
                .or_insert((0, i64::MAX, i64::MIN));
            *g = (g.0 + 1, g.1.min(v.4), g.2.max(v.4));
        }
        let mut got: BTreeMap<(u64, String), (u64, String, String)> = BTreeMap::new();
        for m in a["mailbox"].as_array().unwrap() {
            let g = got
                .entry((
                    m["app_id"].as_u64().unwrap(),
                    m["action"].as_str().unwrap().into(),
                ))
                .or_insert((
                    0,
                    m["first"].as_str().unwrap().into(),
                    m["last"].as_str().unwrap().into(),
                ));
            g.0 += m["calls"].as_u64().unwrap();
            g.1 = g.1.clone().min(m["first"].as_str().unwrap().into());
            g.2 = g.2.clone().max(m["last"].as_str().unwrap().into());
            let cause = m["cause"].as_str().unwrap();
            assert!(cause == "revoked" || cause == "never granted", "{m}");
        }
        assert_eq!(got.len(), want.len(), "user {user}: {a}");
        for (k, (calls, first, last)) in &want {
            let g = &got[k];
            assert_eq!(g.0, *calls, "user {user} {k:?}");
            assert_eq!(g.1, blastradius_schema::time::format_utc(*first));
            assert_eq!(g.2, blastradius_schema::time::format_utc(*last));
        }
        let text = blastradius(&["lookup", path_arg(&data), &user.to_string()]);
        let text = String::from_utf8_lossy(&text.stdout).into_owned();
        assert!(
            text.contains("was affected") && text.contains("without a grant"),
            "{text}"
        );
    }
}

// Issue 20: a user with 5 exposed photos seen by 3 apps was told "15 photo(s)".
#[test]
fn lookup_counts_distinct_photos_and_copies_apart() {
    let data = messaging_dataset();
    let truth = triples(&parts(&data.join("truth/exposures")));
    let mut per_user: BTreeMap<u64, (BTreeSet<u64>, u64)> = BTreeMap::new();
    for e in &truth {
        let u = per_user.entry(e.1).or_default();
        u.0.insert(e.2);
        u.1 += 1;
    }
    let (user, (photos, copies)) = per_user
        .iter()
        .max_by_key(|(_, (p, c))| (*c - p.len() as u64, *c))
        .unwrap();
    let o = blastradius(&["lookup", path_arg(&data), &user.to_string(), "--json"]);
    let a: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        a["photos_exposed"].as_u64(),
        Some(photos.len() as u64),
        "{a}"
    );
    assert_eq!(a["exposures"].as_array().unwrap().len() as u64, *copies);
}

// Issue 20: `export users` and `export apps` on messaging-partners left out every user
// whose mailbox was used and every partner; the summary called copies "photos".
#[test]
fn exports_cover_the_messaging_incident_and_count_photos_and_copies_apart() {
    let data = messaging_dataset();
    let tmp = tempfile::tempdir().unwrap();
    let violations = truth_violations(&data);
    let truth = triples(&parts(&data.join("truth/exposures")));
    let users_out = tmp.path().join("users");
    let o = blastradius(&[
        "export",
        "users",
        path_arg(&data),
        "--out",
        path_arg(&users_out),
    ]);
    assert_ok(&o);
    let mut want_users: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    let photos_of: BTreeMap<u64, BTreeSet<u64>> = truth.iter().fold(BTreeMap::new(), |mut m, e| {
        m.entry(e.1).or_default().insert(e.2);
        m
    });
    for (u, p) in &photos_of {
        want_users.entry(*u).or_default().0 = p.len() as u64;
    }
    for v in &violations {
        want_users.entry(v.2).or_default().1 += 1;
    }
    let csv = std::fs::read_to_string(users_out.join("users.csv")).unwrap();
    let mut got_users = BTreeMap::new();
    for line in csv.lines().skip(1) {
        let c: Vec<&str> = line.split(',').collect();
        let (photos, calls): (u64, u64) = (c[4].parse().unwrap(), c[7].parse().unwrap());
        let incidents = c[11];
        assert_eq!(incidents.contains("photo-api"), photos > 0, "{line}");
        assert_eq!(incidents.contains("messaging"), calls > 0, "{line}");
        got_users.insert(c[0].parse::<u64>().unwrap(), (photos, calls));
    }
    assert_eq!(got_users, want_users);
    assert!(want_users.values().any(|v| v.0 == 0 && v.1 > 0));

    let apps_out = tmp.path().join("apps");
    let o = blastradius(&[
        "export",
        "apps",
        path_arg(&data),
        "--out",
        path_arg(&apps_out),
    ]);
    assert_ok(&o);
    let mut want_apps: BTreeMap<u64, (BTreeSet<u64>, u64, u64)> = BTreeMap::new();
    for e in &truth {
        let a = want_apps.entry(e.0 as u64).or_default();
        a.0.insert(e.1);
        a.1 += 1;
    }
    for v in &violations {
        let a = want_apps.entry(v.1 as u64).or_default();
        a.0.insert(v.2);
        a.2 += 1;
    }
    let mut got_apps = BTreeMap::new();
    for b in batches(&apps_out.join("apps.parquet")) {
        let col = |n: &str| b.column_by_name(n).unwrap().clone();
        for i in 0..b.num_rows() {
            let v = |n: &str| col(n).ints::<UInt64Type>().value(i);
            let app = col("app_id").ints::<UInt32Type>().value(i) as u64;
            got_apps.insert(app, (v("users"), v("photos"), v("violations")));
        }
    }
    let want: BTreeMap<u64, (u64, u64, u64)> = want_apps
        .iter()
        .map(|(a, (u, p, v))| (*a, (u.len() as u64, *p, *v)))
        .collect();
    assert_eq!(got_apps, want);
    let distinct: BTreeSet<u64> = truth.iter().map(|e| e.2).collect();
    let summary = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        summary.contains(&format!(
            "{} distinct photo(s) exposed, held as {} copies",
            distinct.len(),
            truth.len()
        )),
        "{summary}"
    );
    assert!(
        summary.contains(&format!("{} mailbox call(s)", violations.len())),
        "{summary}"
    );
}

// Issue 20: lookup and export from findings said "unknown surface, unknown time" though the
// findings carried both; when they do not, the answer says which column is missing.
#[test]
fn answers_from_findings_keep_the_columns_the_findings_carry() {
    let data = messaging_dataset();
    let tmp = tempfile::tempdir().unwrap();
    let b = &batches(&data.join("truth/exposures"))[0];
    let col = |n: &str| b.column_by_name(n).unwrap().clone();
    let surface = arrow::compute::cast(&col("surface"), &arrow::datatypes::DataType::Utf8).unwrap();
    let (a, u, p, t) = (
        col("app_id"),
        col("user_id"),
        col("photo_id"),
        col("first_exposed_ts"),
    );
    let user = u.ints::<UInt64Type>().value(0);
    let mut with = String::from("app_id,user_id,photo_id,surface,first_exposed_ts\n");
    let mut without = String::from("app_id,user_id,photo_id\n");
    let mut want = BTreeSet::new();
    for i in 0..b.num_rows() {
        let (app, photo) = (
            a.ints::<UInt32Type>().value(i),
            p.ints::<UInt64Type>().value(i),
        );
        let when = blastradius_schema::time::format_utc(
            t.as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                .value(i),
        );
        let s = surface.as_string::<i32>().value(i).to_string();
        let uid = u.ints::<UInt64Type>().value(i);
        with.push_str(&format!("{app},{uid},{photo},{s},{when}\n"));
        without.push_str(&format!("{app},{uid},{photo}\n"));
        if uid == user {
            want.insert((app as u64, photo, s, when));
        }
    }
    let (full, bare) = (tmp.path().join("full"), tmp.path().join("bare"));
    for (dir, text) in [(&full, &with), (&bare, &without)] {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("exposures.csv"), text).unwrap();
    }
    let lookup = |dir: &Path| {
        let o = blastradius(&[
            "lookup",
            path_arg(&data),
            &user.to_string(),
            "--json",
            "--findings",
            path_arg(dir),
        ]);
        assert_ok(&o);
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    let a = lookup(&full);
    let got: BTreeSet<(u64, u64, String, String)> = a["exposures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["app_id"].as_u64().unwrap(),
                e["photo_id"].as_u64().unwrap(),
                e["surface"].as_str().unwrap().to_string(),
                e["first_exposed"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(got, want);
    let a = lookup(&bare);
    let missing = a["not_in_source"].to_string();
    assert!(
        missing.contains("`surface`") && missing.contains("`first_exposed_ts`"),
        "{a}"
    );
    assert!(missing.contains("message_violations"), "{a}");
    assert!(a["exposures"][0]["surface"].is_null());
}

// Issue 22: findings made for another dataset (same size, other seed) passed the id-range
// checks: 32 users "to notify", 31 of them not affected here, photos never uploaded here.
#[test]
fn findings_of_another_dataset_are_refused() {
    let data = messaging_dataset();
    let tmp = tempfile::tempdir().unwrap();
    let other = tmp.path().join("other");
    generate_into(&other, "8000", "4", "messaging-partners");
    let found = tmp.path().join("r");
    assert_ok(&blastradius(&[
        "analyze",
        path_arg(&other),
        "--detector",
        "exact",
        "--out",
        path_arg(&found),
    ]));
    let findings = found.join("exact");
    let user = truth_violations(&other)[0].2.to_string();
    for args in [
        vec!["export", "users", path_arg(&data), "--out"],
        vec!["export", "apps", path_arg(&data), "--out"],
    ] {
        let out = tmp.path().join(args[1]);
        let mut args = args.clone();
        args.extend([path_arg(&out), "--findings", path_arg(&findings)]);
        let o = blastradius(&args);
        assert!(!o.status.success(), "{args:?}");
        assert!(
            stderr(&o).contains("made for another dataset"),
            "{}",
            stderr(&o)
        );
        assert!(!out.exists(), "nothing written");
    }
    let o = blastradius(&[
        "lookup",
        path_arg(&data),
        &user,
        "--findings",
        path_arg(&findings),
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("made for another dataset"),
        "{}",
        stderr(&o)
    );
    // User by user too (a photo id of the other world is often an upload here as well; an
    // app that never called for the user is not).
    let exposed: BTreeSet<u64> = triples(&parts(&other.join("truth/exposures")))
        .iter()
        .map(|e| e.1)
        .take(40)
        .collect();
    for u in exposed {
        let o = blastradius(&[
            "lookup",
            path_arg(&data),
            &u.to_string(),
            "--findings",
            path_arg(&findings),
        ]);
        assert!(
            !o.status.success(),
            "user {u} answered from foreign findings"
        );
    }
    // Its own findings are answered.
    assert_ok(&blastradius(&[
        "lookup",
        path_arg(&other),
        &user,
        "--findings",
        path_arg(&findings),
    ]));
}

// Review of issue 20: from findings, lookup gave a user every violation of their shard (80
// calls to a user the truth says was not affected).
#[test]
fn lookup_from_exacts_findings_answers_as_the_truth() {
    let data = messaging_dataset();
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path().join("r");
    assert_ok(&blastradius(&[
        "analyze",
        path_arg(&data),
        "--detector",
        "exact",
        "--out",
        path_arg(&r),
    ]));
    let findings = r.join("exact");
    let mut users: BTreeSet<u64> = truth_violations(&data)
        .iter()
        .map(|v| v.2)
        .take(5)
        .collect();
    users.extend([0, 1, 2, 43, 169]);
    for u in users {
        let ask = |extra: &[&str]| {
            let mut args = vec!["lookup", path_arg(&data)];
            let id = u.to_string();
            args.push(&id);
            args.push("--json");
            args.extend_from_slice(extra);
            let o = blastradius(&args);
            assert_ok(&o);
            let mut a: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            a["source"] = serde_json::Value::Null;
            a["milliseconds"] = serde_json::Value::Null;
            a
        };
        assert_eq!(
            ask(&["--findings", path_arg(&findings)]),
            ask(&[]),
            "user {u}"
        );
    }
}
