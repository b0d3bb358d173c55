//! `sql`: the detection written as one DataFusion query over the whole event log.
//!
//! The same plan runs on a Ballista cluster for logs that outgrow one machine. The query
//! assumes one `bug_introduced` and at most one `bug_fixed` deploy, as every scenario has.

use std::path::Path;
use std::time::Instant;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, TimestampMicrosecondType, UInt32Type, UInt64Type};
use blastradius_schema::{Action, Surface, path};
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};

use crate::dataset::Dataset;
use crate::detect::{Exposure, Findings, Violation};
use crate::error::{Error, Result};

/// Deploy positions, then every (call, photo) the API returned, ranked per call.
pub const EXPOSURES_SQL: &str = "
WITH deploys AS (
    SELECT
        min(CASE WHEN kind = 'bug_introduced' THEN ts END) AS intro_ts,
        min(CASE WHEN kind = 'bug_introduced' THEN event_id END) AS intro_id,
        min(CASE WHEN kind = 'bug_fixed' THEN ts END) AS fix_ts,
        min(CASE WHEN kind = 'bug_fixed' THEN event_id END) AS fix_id
    FROM ev WHERE kind = 'bug_introduced' OR kind = 'bug_fixed'
),
uploads AS (
    SELECT user_id, photo_id, ts AS up_ts, event_id AS up_id, CAST(surface AS VARCHAR) AS surface
    FROM ev WHERE kind = 'photo_uploaded'
),
publishes AS (SELECT photo_id, ts AS pub_ts, event_id AS pub_id FROM ev WHERE kind = 'photo_published'),
deletes AS (SELECT photo_id, ts AS del_ts, event_id AS del_id FROM ev WHERE kind = 'photo_deleted'),
calls AS (
    SELECT c.event_id AS call_id, c.ts AS call_ts, c.user_id, c.app_id, c.page, c.page_size,
        ((c.ts > d.intro_ts OR (c.ts = d.intro_ts AND c.event_id > d.intro_id))
         AND (d.fix_ts IS NULL OR c.ts < d.fix_ts OR (c.ts = d.fix_ts AND c.event_id < d.fix_id))) AS bug
    FROM ev c CROSS JOIN deploys d
    WHERE c.kind = 'photo_api_call' AND c.status = 200
),
candidates AS (
    SELECT c.call_id, c.call_ts, c.user_id, c.app_id, c.page, c.page_size, u.photo_id, u.up_ts, c.bug,
        CASE WHEN p.pub_ts IS NOT NULL AND (p.pub_ts < c.call_ts OR (p.pub_ts = c.call_ts AND p.pub_id < c.call_id))
             THEN 'timeline' ELSE u.surface END AS surface_now
    FROM calls c
    JOIN uploads u ON u.user_id = c.user_id
    LEFT JOIN publishes p ON p.photo_id = u.photo_id
    LEFT JOIN deletes x ON x.photo_id = u.photo_id
    WHERE (u.up_ts < c.call_ts OR (u.up_ts = c.call_ts AND u.up_id < c.call_id))
      AND (x.del_ts IS NULL OR x.del_ts > c.call_ts OR (x.del_ts = c.call_ts AND x.del_id > c.call_id))
),
visible AS (
    SELECT *, row_number() OVER (PARTITION BY call_id ORDER BY up_ts DESC, photo_id DESC) AS pos
    FROM candidates
    WHERE surface_now = 'timeline' OR (bug AND surface_now IN ('marketplace', 'story', 'draft'))
)
SELECT app_id, user_id, photo_id, min(call_ts) AS first_exposed_ts,
       first_value(surface_now ORDER BY call_ts) AS surface
FROM visible
WHERE surface_now <> 'timeline'
  AND pos > page * page_size AND pos <= page * page_size + page_size
GROUP BY app_id, user_id, photo_id
ORDER BY app_id, user_id, photo_id
";

/// Successful message calls whose latest grant or revocation of the matching scope before
/// them was not a grant (or that had none).
pub const VIOLATIONS_SQL: &str = "
WITH calls AS (
    SELECT event_id, ts, user_id, app_id, CAST(action AS VARCHAR) AS action,
           CAST(action AS VARCHAR) || '_mailbox' AS scope
    FROM ev WHERE kind = 'message_api_call' AND status = 200
),
perms AS (
    SELECT user_id, app_id, CAST(scope AS VARCHAR) AS scope, ts, event_id, CAST(kind AS VARCHAR) AS kind
    FROM ev WHERE kind = 'permission_granted' OR kind = 'permission_revoked'
),
latest AS (
    SELECT c.event_id, c.ts, c.user_id, c.app_id, c.action, p.kind,
        row_number() OVER (PARTITION BY c.event_id ORDER BY p.ts DESC, p.event_id DESC) AS r
    FROM calls c
    LEFT JOIN perms p
      ON p.user_id = c.user_id AND p.app_id = c.app_id AND p.scope = c.scope
     AND (p.ts < c.ts OR (p.ts = c.ts AND p.event_id < c.event_id))
)
SELECT event_id, app_id, user_id, action, ts FROM latest
WHERE r = 1 AND (kind IS NULL OR kind <> 'permission_granted')
ORDER BY event_id
";

fn df_err(dataset: &Path) -> impl Fn(datafusion::error::DataFusionError) -> Error + '_ {
    move |e| Error::Dataset {
        path: dataset.to_path_buf(),
        message: format!("the sql detector failed: {e}"),
    }
}

fn strings(a: &dyn Array) -> Vec<String> {
    let a = arrow::compute::cast(a, &DataType::Utf8).expect("castable to text");
    let s = a.as_string::<i32>();
    (0..s.len()).map(|i| s.value(i).to_string()).collect()
}

/// Runs both queries on `threads` partitions; returns the findings and the wall seconds.
///
/// # Errors
/// When DataFusion cannot read the shards or run the queries.
pub fn run(dataset: &Dataset, threads: usize) -> Result<(Findings, f64)> {
    let started = Instant::now();
    let events = dataset.root.join(path::EVENTS_DIR);
    let fail = df_err(&dataset.root);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .map_err(|error| Error::Io {
            path: dataset.root.clone(),
            error,
        })?;
    let (exposures, violations) = runtime.block_on(async {
        let ctx = SessionContext::new_with_config(
            SessionConfig::new().with_target_partitions(threads.max(1)),
        );
        let location = format!("{}/", events.display());
        ctx.register_parquet("ev", &location, ParquetReadOptions::default())
            .await
            .map_err(&fail)?;
        let e = ctx
            .sql(EXPOSURES_SQL)
            .await
            .map_err(&fail)?
            .collect()
            .await
            .map_err(&fail)?;
        let v = ctx
            .sql(VIOLATIONS_SQL)
            .await
            .map_err(&fail)?
            .collect()
            .await
            .map_err(&fail)?;
        Ok::<(Vec<RecordBatch>, Vec<RecordBatch>), Error>((e, v))
    })?;
    let mut findings = Findings::default();
    for b in &exposures {
        let apps = b.column(0).as_primitive::<UInt32Type>();
        let users = b.column(1).as_primitive::<UInt64Type>();
        let photos = b.column(2).as_primitive::<UInt64Type>();
        let ts = b.column(3).as_primitive::<TimestampMicrosecondType>();
        let surfaces = strings(b.column(4).as_ref());
        for i in 0..b.num_rows() {
            findings.exposures.push(Exposure {
                app_id: apps.value(i),
                user_id: users.value(i),
                photo_id: photos.value(i),
                surface: Surface::parse(&surfaces[i]).unwrap_or(Surface::Timeline),
                first_exposed_ts: ts.value(i),
            });
        }
    }
    for b in &violations {
        let ids = b.column(0).as_primitive::<UInt64Type>();
        let apps = b.column(1).as_primitive::<UInt32Type>();
        let users = b.column(2).as_primitive::<UInt64Type>();
        let actions = strings(b.column(3).as_ref());
        let ts = b.column(4).as_primitive::<TimestampMicrosecondType>();
        for i in 0..b.num_rows() {
            findings.violations.push(Violation {
                event_id: ids.value(i),
                app_id: apps.value(i),
                user_id: users.value(i),
                action: Action::parse(&actions[i]).unwrap_or(Action::Read),
                ts: ts.value(i),
            });
        }
    }
    findings.affected_users = findings.exposures.iter().map(|e| e.user_id).collect();
    findings.user_apps = findings
        .exposures
        .iter()
        .map(|e| (e.user_id, e.app_id))
        .collect();
    findings.user_apps.sort_unstable();
    findings.user_apps.dedup();
    Ok((findings, started.elapsed().as_secs_f64()))
}
