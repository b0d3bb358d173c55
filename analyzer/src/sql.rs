//! `sql`: the detection written as DataFusion SQL over the whole event log.
//!
//! The queries are the tuned formulations of `analyzer/sql/` (the comparison harness measures
//! the same files): only successful calls inside the bug window are joined, only their
//! callers' photo events are read (a small table of their user ids filters the Parquet scan
//! while it decodes), and no call ranks all its user's photos: each photo gets one position
//! per user, and a call's page follows from how many photos were uploaded before it. At 1M
//! users this runs in about half a GB where the straightforward plan (every successful call
//! joined with every photo of its user, ranked by a window function) needed 14 GB.
//!
//! Each file is several statements (a setting, small intermediate tables, the answer), run in
//! order on one context. The plan assumes a clean log (one `bug_introduced`, at most one
//! `bug_fixed`, no duplicated events), as the straightforward one did.

use std::path::Path;
use std::time::Instant;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, TimestampMicrosecondType, UInt32Type, UInt64Type};
use blastradius_schema::{Action, Surface, path};
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};

use crate::dataset::Dataset;
use crate::detect::{Exposure, Findings, Violation};
use crate::error::{Error, Result};

/// The exposures: (app_id, user_id, photo_id, first_exposed_ts, surface).
pub const EXPOSURES_SQL: &str = include_str!("../sql/exposures.sql");

/// The message violations: (event_id, app_id, user_id, action, ts).
pub const VIOLATIONS_SQL: &str = include_str!("../sql/violations.sql");

/// The statements of a file: separated by a semicolon at the end of a line, comments and
/// blank ones left out.
pub fn statements(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let code = line.trim_end();
        if code.trim_start().starts_with("--") && current.trim().is_empty() {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if code.ends_with(';') {
            out.push(current.trim().trim_end_matches(';').to_string());
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_string());
    }
    out
}

/// Runs the statements of `sql` in order on `ctx`; returns what the last one returns.
async fn run_script(
    ctx: &SessionContext,
    sql: &str,
) -> datafusion::error::Result<Vec<RecordBatch>> {
    let mut last = Vec::new();
    for statement in statements(sql) {
        last = ctx.sql(&statement).await?.collect().await?;
    }
    Ok(last)
}

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
        let e = run_script(&ctx, EXPOSURES_SQL).await.map_err(&fail)?;
        let v = run_script(&ctx, VIOLATIONS_SQL).await.map_err(&fail)?;
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
                revoked: None,
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
