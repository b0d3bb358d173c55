//! `naive`: every user with a `user_photos` grant to an app that called during the window.
//!
//! This is the "up to N users" bound of a first announcement: it needs no replay of photos,
//! has recall 1 by construction, and over-counts everyone whose page held no hidden photo.

use std::collections::BTreeSet;

use blastradius_schema::{Kind, Scope};

use crate::detect::{BatchTimer, Detector, DetectorOutput, Grants, Partial, bug_window, log_order};
use blastradius_dataset::log::ShardLog;

/// The upper-bound detector.
pub struct Naive;

impl Detector for Naive {
    fn name(&self) -> &'static str {
        "naive"
    }

    fn columns(&self) -> &'static [&'static str] {
        use blastradius_schema::col;
        &[
            col::EVENT_ID,
            col::TS,
            col::KIND,
            col::USER_ID,
            col::APP_ID,
            col::SCOPE,
        ]
    }

    fn shard(&self, log: &ShardLog) -> Partial {
        let (order, out_of_order) = log_order(log);
        let window = bug_window(log);
        let mut part = Partial {
            out_of_order,
            bug_window: window,
            ..Partial::default()
        };
        let Some((start, end)) = window else {
            return part;
        };
        let mut grants = Grants::default();
        let mut in_window = false;
        let mut timer = BatchTimer::new();
        for &i in &order {
            timer.add(1, &mut part.batch_micros);
            let i = i as usize;
            let ts = log.ts[i];
            if !in_window && ts >= start {
                in_window = true;
                // Grants active when the window opens.
                for (&user, apps) in grants.users() {
                    for (app, scope) in apps.iter() {
                        if scope == Scope::UserPhotos {
                            part.grants_in_window.push((user, app));
                        }
                    }
                }
            }
            if ts >= end {
                break;
            }
            let (user, app) = (log.user_id[i], log.app_id[i]);
            match log.kind[i] {
                Kind::PermissionGranted if log.scope[i] == Scope::UserPhotos => {
                    grants.grant(user, app, Scope::UserPhotos);
                    if in_window {
                        part.grants_in_window.push((user, app));
                    }
                }
                Kind::PermissionRevoked => grants.revoke(user, app, log.scope[i]),
                Kind::PhotoApiCall if in_window => {
                    part.apps_calling_in_window.insert(app);
                }
                _ => {}
            }
        }
        timer.flush(&mut part.batch_micros);
        part
    }

    fn finish(&self, parts: Vec<Partial>) -> DetectorOutput {
        let calling: BTreeSet<u32> = parts
            .iter()
            .flat_map(|p| p.apps_calling_in_window.iter().copied())
            .collect();
        let mut user_apps: Vec<(u64, u32)> = parts
            .iter()
            .flat_map(|p| p.grants_in_window.iter().copied())
            .filter(|(_, app)| calling.contains(app))
            .collect();
        user_apps.sort_unstable();
        user_apps.dedup();
        let affected_users = user_apps.iter().map(|&(user, _)| user).collect();
        DetectorOutput {
            reports: crate::detect::Reports {
                exposures: false,
                violations: false,
            },
            exposures: Vec::new(),
            affected_users,
            user_apps,
            unresolved: Default::default(),
            violations: Vec::new(),
            out_of_order: parts.iter().map(|p| p.out_of_order).sum(),
            bug_window: parts.iter().find_map(|p| p.bug_window),
            stats: Default::default(),
        }
    }
}
