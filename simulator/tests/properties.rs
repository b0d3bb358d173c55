//! Properties of generated datasets, checked by a deliberately naive replay of the Parquet
//! files read back (hash maps and a full sort per call), independent of the server model.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;

use blastradius_schema::time::parse_utc;

use crate::common::{
    Row, generate, options, read_batches, read_events, string_at, ts_column, u32_column, u64_column,
};

#[derive(Default)]
struct UserState {
    grants: HashSet<(u32, String)>,
    /// photo id -> (uploaded, surface, deleted)
    photos: HashMap<u64, (i64, String, bool)>,
}

#[derive(Default)]
struct Naive {
    /// (app, user, photo) -> (first ts, surface then)
    exposures: BTreeMap<(u32, u64, u64), (i64, String)>,
    violations: BTreeSet<u64>,
    photo_calls: u64,
    ok_calls_with_items: u64,
}

fn replay_shard(rows: &[Row], naive: &mut Naive) {
    let mut bug = false;
    let mut users: HashMap<u64, UserState> = HashMap::new();
    for r in rows {
        match r.kind.as_str() {
            "bug_introduced" => bug = true,
            "bug_fixed" => bug = false,
            _ => {}
        }
        let Some(user) = r.user_id else { continue };
        let s = users.entry(user).or_default();
        match r.kind.as_str() {
            "permission_granted" => {
                s.grants
                    .insert((r.app_id.unwrap(), r.scope.clone().unwrap()));
            }
            "permission_revoked" => {
                s.grants
                    .remove(&(r.app_id.unwrap(), r.scope.clone().unwrap()));
            }
            "photo_uploaded" => {
                let old = s.photos.insert(
                    r.photo_id.unwrap(),
                    (r.ts, r.surface.clone().unwrap(), false),
                );
                assert!(old.is_none(), "photo uploaded twice: {r:?}");
            }
            "photo_published" => {
                let p = s
                    .photos
                    .get_mut(&r.photo_id.unwrap())
                    .expect("publish of a known photo");
                assert_eq!(p.1, "draft", "only drafts are published: {r:?}");
                p.1 = "timeline".into();
            }
            "photo_deleted" => {
                let p = s
                    .photos
                    .get_mut(&r.photo_id.unwrap())
                    .expect("delete of a known photo");
                assert!(!p.2, "deleted twice: {r:?}");
                p.2 = true;
            }
            "photo_api_call" => {
                naive.photo_calls += 1;
                let app = r.app_id.unwrap();
                let granted = s.grants.contains(&(app, "user_photos".to_string()));
                let status = r.status.unwrap();
                match status {
                    200 => assert!(granted, "a 200 photo call without a grant: {r:?}"),
                    403 => assert!(!granted, "403 despite a grant: {r:?}"),
                    429 | 500 | 502 | 503 => {
                        assert!(granted, "faults hit only granted calls: {r:?}")
                    }
                    other => panic!("unexpected status {other}"),
                }
                if status != 200 {
                    assert_eq!(r.items_returned, Some(0));
                    continue;
                }
                let mut visible: Vec<(i64, u64, String)> = s
                    .photos
                    .iter()
                    .filter(|(_, (_, surface, deleted))| {
                        !deleted
                            && (surface == "timeline"
                                || (bug
                                    && ["marketplace", "story", "draft"]
                                        .contains(&surface.as_str())))
                    })
                    .map(|(id, (ts, surface, _))| (*ts, *id, surface.clone()))
                    .collect();
                visible.sort_by_key(|v| std::cmp::Reverse((v.0, v.1)));
                let (page, size) = (r.page.unwrap() as usize, r.page_size.unwrap() as usize);
                let returned: Vec<_> = visible.iter().skip(page * size).take(size).collect();
                assert_eq!(
                    r.items_returned,
                    Some(returned.len() as u32),
                    "items_returned: {r:?}"
                );
                naive.ok_calls_with_items += (!returned.is_empty()) as u64;
                for (_, photo, surface) in returned {
                    if surface != "timeline" {
                        naive
                            .exposures
                            .entry((app, user, *photo))
                            .or_insert((r.ts, surface.clone()));
                    }
                }
            }
            "message_api_call" => {
                let scope = format!("{}_mailbox", r.action.as_deref().unwrap());
                let granted = s.grants.contains(&(r.app_id.unwrap(), scope));
                if r.status == Some(200) && !granted {
                    naive.violations.insert(r.event_id);
                }
            }
            "user_registered" => {}
            other => panic!("unknown kind {other}"),
        }
    }
}

fn check_dataset(root: &Path, users: u64, shards: u32) {
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("manifest.json")).unwrap())
            .unwrap();
    let intro = parse_utc(manifest["bug_window"]["start"].as_str().unwrap()).unwrap();
    let fixed = parse_utc(manifest["bug_window"]["end"].as_str().unwrap()).unwrap();
    let mut naive = Naive::default();
    let mut ids = HashSet::new();
    let mut user_count = 0;
    for i in 0..shards {
        let rows = read_events(&root.join(format!("events/part-{i:05}.parquet")));
        // Log order, system events once per shard, users in the shard's range.
        for w in rows.windows(2) {
            assert!(
                (w[0].ts, w[0].event_id) < (w[1].ts, w[1].event_id),
                "shard {i} out of order"
            );
        }
        // The deploys: the bug's two at the manifest's window, among the ordinary ones.
        let system: Vec<_> = rows
            .iter()
            .filter(|r| r.user_id.is_none() && r.kind != "deploy")
            .map(|r| (r.kind.as_str(), r.ts))
            .collect();
        assert_eq!(
            system,
            vec![("bug_introduced", intro), ("bug_fixed", fixed)],
            "shard {i}"
        );
        assert!(rows.iter().filter(|r| r.kind == "deploy").count() > 100);
        let range = (users * i as u64 / shards as u64)..(users * (i as u64 + 1) / shards as u64);
        for r in &rows {
            if let Some(u) = r.user_id {
                assert!(range.contains(&u), "user {u} in shard {i}");
                assert!(ids.insert(r.event_id), "duplicate event id {}", r.event_id);
            }
            check_nulls(r);
        }
        user_count += rows.iter().filter(|r| r.kind == "user_registered").count() as u64;
        replay_shard(&rows, &mut naive);
    }
    assert_eq!(user_count, users);
    assert!(naive.photo_calls > 0 && naive.ok_calls_with_items > 0);

    // The truth equals the naive replay, exposure by exposure.
    let mut truth = BTreeMap::new();
    let mut affected: BTreeMap<u64, (u32, u32)> = BTreeMap::new();
    let mut violations = BTreeSet::new();
    for i in 0..shards {
        for b in read_batches(&root.join(format!("truth/exposures/part-{i:05}.parquet"))) {
            let (apps, users, photos) = (
                u32_column(&b, "app_id"),
                u64_column(&b, "user_id"),
                u64_column(&b, "photo_id"),
            );
            let ts = ts_column(&b, "first_exposed_ts");
            let surface = b.column_by_name("surface").unwrap();
            for r in 0..b.num_rows() {
                let s = string_at(surface.as_ref(), r).unwrap();
                assert_ne!(s, "messenger");
                assert_ne!(s, "timeline");
                assert!(
                    intro <= ts[r] && ts[r] < fixed,
                    "exposure outside the bug window"
                );
                truth.insert((apps[r], users[r], photos[r]), (ts[r], s));
            }
        }
        for b in read_batches(&root.join(format!("truth/affected_users/part-{i:05}.parquet"))) {
            let (u, a, p) = (
                u64_column(&b, "user_id"),
                u32_column(&b, "apps"),
                u32_column(&b, "photos"),
            );
            for r in 0..b.num_rows() {
                affected.insert(u[r], (a[r], p[r]));
            }
        }
        for b in read_batches(&root.join(format!("truth/message_violations/part-{i:05}.parquet"))) {
            violations.extend(u64_column(&b, "event_id"));
        }
    }
    assert_eq!(truth, naive.exposures);
    assert_eq!(violations, naive.violations);
    let mut expected: BTreeMap<u64, (BTreeSet<u32>, BTreeSet<u64>)> = BTreeMap::new();
    for &(app, user, photo) in naive.exposures.keys() {
        let e = expected.entry(user).or_default();
        e.0.insert(app);
        e.1.insert(photo);
    }
    let expected: BTreeMap<u64, (u32, u32)> = expected
        .into_iter()
        .map(|(u, (a, p))| (u, (a.len() as u32, p.len() as u32)))
        .collect();
    assert_eq!(affected, expected);

    // affected_apps: distinct users and exposures per app.
    let mut per_app: BTreeMap<u32, (BTreeSet<u64>, u64)> = BTreeMap::new();
    for &(app, user, _) in naive.exposures.keys() {
        let e = per_app.entry(app).or_default();
        e.0.insert(user);
        e.1 += 1;
    }
    let b = &read_batches(&root.join("truth/affected_apps.parquet"))[0];
    let got: BTreeMap<u32, (u64, u64)> = u32_column(b, "app_id")
        .into_iter()
        .zip(
            u64_column(b, "users")
                .into_iter()
                .zip(u64_column(b, "photos")),
        )
        .collect();
    let want: BTreeMap<u32, (u64, u64)> = per_app
        .into_iter()
        .map(|(a, (u, n))| (a, (u.len() as u64, n)))
        .collect();
    assert_eq!(got, want);
}

fn check_nulls(r: &Row) {
    let kind = blastradius_schema::Kind::parse(&r.kind).unwrap();
    let c = kind.columns();
    let msg = format!("null pattern of {r:?}");
    assert_eq!(r.user_id.is_some(), c.user_id, "{msg}");
    assert_eq!(r.app_id.is_some(), c.app_id, "{msg}");
    assert_eq!(r.photo_id.is_some(), c.photo_id, "{msg}");
    assert_eq!(r.surface.is_some(), c.surface, "{msg}");
    assert_eq!(r.scope.is_some(), c.scope, "{msg}");
    assert_eq!(r.action.is_some(), c.action, "{msg}");
    assert_eq!(r.status.is_some(), c.status, "{msg}");
    assert_eq!(r.page.is_some(), c.paging, "{msg}");
    assert_eq!(r.page_size.is_some(), c.paging, "{msg}");
    assert_eq!(r.items_returned.is_some(), c.paging, "{msg}");
}

#[test]
fn facebook_2018_truth_matches_a_naive_replay() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(&dir.path().join("d"), 6_000, 1, "facebook-2018", 3);
    let m = generate(&opts);
    assert!(
        m.counts.exposures.unwrap() > 0,
        "a 6,000-user world should expose someone"
    );
    check_dataset(&opts.out, 6_000, 3);
}

#[test]
fn messaging_partners_truth_matches_a_naive_replay() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(&dir.path().join("d"), 3_000, 2, "messaging-partners", 2);
    let m = generate(&opts);
    assert!(m.counts.message_violations.unwrap() > 0);
    check_dataset(&opts.out, 3_000, 2);
}

#[test]
fn worlds_have_the_heavy_tails_and_mix_the_model_promises() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(&dir.path().join("d"), 4_000, 9, "facebook-2018", 2);
    let m = generate(&opts);
    let by_kind = &m.counts.events_by_kind;
    for kind in blastradius_schema::Kind::ALL {
        assert!(by_kind[kind.as_str()] > 0, "no {kind} event");
    }
    for status in [200, 403, 429] {
        assert!(
            m.counts.photo_calls_by_status.contains_key(&status),
            "no {status} photo call"
        );
    }
    assert!(m.counts.photo_calls_by_status.keys().any(|s| *s >= 500));
    // Several pages for users with many photos.
    let rows = read_events(&opts.out.join("events/part-00000.parquet"));
    assert!(rows.iter().any(|r| r.page.unwrap_or(0) >= 1));
    // Heavy-tailed activity: the busiest 1% of users own far more than 1% of events.
    let mut per_user: HashMap<u64, u64> = HashMap::new();
    for r in &rows {
        if let Some(u) = r.user_id {
            *per_user.entry(u).or_default() += 1;
        }
    }
    let mut counts: Vec<u64> = per_user.into_values().collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let top: u64 = counts[..counts.len() / 100].iter().sum();
    let all: u64 = counts.iter().sum();
    assert!(
        top as f64 / all as f64 > 0.05,
        "top 1% of users hold {top} of {all} events"
    );
}
