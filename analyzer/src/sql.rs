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
//!
//! On a Ballista cluster ([`Engine::Ballista`], feature `ballista`) the same statements run
//! one by one, but a memory table would live in the client's process, where no executor can
//! read it: each intermediate table is written by the executors as Parquet into a new folder
//! under the engine's scratch folder and read back from there, and the folder is removed at
//! the end. The executors read the dataset, and the scratch folder, at the same paths as the
//! client (shared storage).

use std::path::Path;
use std::time::Instant;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, TimestampMicrosecondType, UInt64Type};
use blastradius_schema::{Action, Surface, path};
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};

pub use crate::detect::Engine;
use crate::detect::{DetectorOutput, Exposure, Violation};
use crate::error::{Error, Result};
pub use crate::sql_script::{EXPOSURES_SQL, VIOLATIONS_SQL, created_table, statements};
use blastradius_dataset::Dataset;
use blastradius_schema::arrays::id_column;

/// Runs the statements of a script in order on `ctx`; returns what the last one returns.
/// With `tables`, each `CREATE OR REPLACE TABLE` is written there as Parquet by whoever
/// executes it and registered under its name, instead of kept in this process's memory.
async fn run_script(
    ctx: &SessionContext,
    script: &[String],
    tables: Option<&Path>,
) -> datafusion::error::Result<Vec<RecordBatch>> {
    use datafusion::dataframe::DataFrameWriteOptions;
    let mut last = Vec::new();
    for statement in script {
        match (tables, created_table(statement)) {
            (Some(dir), Some(table)) => {
                let (name, query) = table.map_err(datafusion::error::DataFusionError::Plan)?;
                let location = format!("{}/", dir.join(name).display());
                let frame = ctx.sql(query).await?;
                let schema = frame.schema().as_arrow().clone();
                let written = total(
                    &frame
                        .write_parquet(&location, DataFrameWriteOptions::new(), None)
                        .await?,
                );
                ctx.deregister_table(name)?;
                ctx.register_parquet(
                    name,
                    &location,
                    ParquetReadOptions::default().schema(&schema),
                )
                .await?;
                // A node that does not share the folder lists it empty: say so, rather than
                // answer from tables that lost their rows.
                let read = count(ctx, name).await?;
                if read != written {
                    return Err(datafusion::error::DataFusionError::Execution(format!(
                        "the cluster wrote {written} rows of table {name} into {} and reads back {read}: --scratch must be a folder that this machine, the scheduler and every executor mount at the same path",
                        dir.display()
                    )));
                }
                last = Vec::new();
            }
            _ => last = ctx.sql(statement).await?.collect().await?,
        }
    }
    Ok(last)
}

/// The sum of the first column (a row count) of `batches`.
fn total(batches: &[RecordBatch]) -> u64 {
    batches
        .iter()
        .filter(|b| b.num_columns() > 0)
        .filter_map(|b| {
            arrow::compute::cast(b.column(0), &DataType::UInt64)
                .ok()
                .map(|c| arrow::compute::sum(c.as_primitive::<UInt64Type>()).unwrap_or(0))
        })
        .sum()
}

/// How many rows `table` has, as whoever runs `ctx`'s queries sees it.
async fn count(ctx: &SessionContext, table: &str) -> datafusion::error::Result<u64> {
    let batches = ctx
        .sql(&format!("SELECT count(*) FROM {table}"))
        .await?
        .collect()
        .await?;
    Ok(total(&batches))
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

/// Runs both queries, in this process on `threads` partitions or on a Ballista cluster with
/// one partition per shard; returns the findings and the wall seconds.
///
/// # Errors
/// When DataFusion cannot read the shards or run the queries, or the cluster cannot be
/// reached.
pub fn run(dataset: &Dataset, threads: usize, engine: &Engine) -> Result<(DetectorOutput, f64)> {
    let started = Instant::now();
    let local = df_err(&dataset.root);
    // On a cluster a query fails mostly for a node's sake: say where to look.
    let fail = |e: datafusion::error::DataFusionError| match engine {
        Engine::Local => local(e),
        Engine::Ballista { scheduler, .. } => {
            // A job the cluster failed (a lost executor, a cancelled job) is the nodes'
            // business; any other error is the plan's or the storage's, and says so itself.
            let text = e.to_string();
            let advice = match text.contains("Job ") && text.contains(" failed") {
                true => format!(
                    "; the scheduler's output names any executor it lost: start executors again (`blastradius cluster executor --scheduler {scheduler}`) and re-run"
                ),
                false => String::new(),
            };
            Error::Dataset {
                path: dataset.root.clone(),
                message: format!(
                    "the sql detector failed on the cluster at {scheduler}: {text}{advice}"
                ),
            }
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        // Planning and encoding a plan recurse through its nested nodes.
        .thread_stack_size(64 << 20)
        .enable_all()
        .build()
        .map_err(|error| Error::Io {
            path: dataset.root.clone(),
            error,
        })?;
    let work = async {
        let (ctx, tables) = match engine {
            Engine::Local => (
                SessionContext::new_with_config(
                    SessionConfig::new().with_target_partitions(threads.max(1)),
                ),
                None,
            ),
            Engine::Ballista { scheduler, scratch } => {
                let shards = dataset.parts(path::EVENTS_DIR).len();
                let ctx = ballista_context(dataset, scheduler, shards).await?;
                (ctx, Some(scratch_folder(scratch.as_deref())?))
            }
        };
        let events = std::path::absolute(dataset.root.join(path::EVENTS_DIR)).map_err(|error| {
            Error::Io {
                path: dataset.root.clone(),
                error,
            }
        })?;
        let location = format!("{}/", events.display());
        ctx.register_parquet("ev", &location, ParquetReadOptions::default())
            .await
            .map_err(&fail)?;
        if tables.is_some() {
            // The cluster opens the files itself: check it sees every event of the dataset.
            let listed: u64 = dataset.parts(path::EVENTS_DIR).iter().map(|f| f.rows).sum();
            let seen = count(&ctx, "ev").await.map_err(&fail)?;
            if seen != listed {
                return Err(Error::Dataset {
                    path: dataset.root.clone(),
                    message: format!(
                        "the cluster reads {seen} events in {location} where the manifest lists {listed}: the scheduler and every executor must mount the dataset at the same path as this machine"
                    ),
                });
            }
        }
        let folder = tables.as_ref().map(|t| t.as_ref());
        let e = run_script(&ctx, &statements(EXPOSURES_SQL), folder)
            .await
            .map_err(&fail)?;
        let v = run_script(&ctx, &statements(VIOLATIONS_SQL), folder)
            .await
            .map_err(&fail)?;
        remove_scratch(tables);
        Ok::<(Vec<RecordBatch>, Vec<RecordBatch>), Error>((e, v))
    };
    let (exposures, violations) = runtime.block_on(async {
        match engine {
            Engine::Local => work.await,
            Engine::Ballista { .. } => interruptible(&dataset.root, work).await,
        }
    })?;
    let mut findings = DetectorOutput::default();
    for b in &exposures {
        // Ids as the dataset stores them: signed, or unsigned in schema version 1.
        let (Some(apps), Some(users), Some(photos)) = (
            id_column::<u32>(b.column(0)),
            id_column::<u64>(b.column(1)),
            id_column::<u64>(b.column(2)),
        ) else {
            return Err(Error::Dataset {
                path: dataset.root.clone(),
                message: "the sql detector's exposures hold an id that is null or out of range"
                    .into(),
            });
        };
        let ts = b.column(3).as_primitive::<TimestampMicrosecondType>();
        let surfaces = strings(b.column(4).as_ref());
        for (i, surface) in surfaces.iter().enumerate() {
            findings.exposures.push(Exposure {
                app_id: apps[i],
                user_id: users[i],
                photo_id: photos[i],
                surface: Surface::parse(surface).unwrap_or(Surface::Timeline),
                first_exposed_ts: ts.value(i),
            });
        }
    }
    for b in &violations {
        let (Some(ids), Some(apps), Some(users)) = (
            id_column::<u64>(b.column(0)),
            id_column::<u32>(b.column(1)),
            id_column::<u64>(b.column(2)),
        ) else {
            return Err(Error::Dataset {
                path: dataset.root.clone(),
                message: "the sql detector's violations hold an id that is null or out of range"
                    .into(),
            });
        };
        let actions = strings(b.column(3).as_ref());
        let ts = b.column(4).as_primitive::<TimestampMicrosecondType>();
        for (i, action) in actions.iter().enumerate() {
            findings.violations.push(Violation {
                event_id: ids[i],
                app_id: apps[i],
                user_id: users[i],
                action: Action::parse(action).unwrap_or(Action::Read),
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

/// A session on the Ballista scheduler at `scheduler` (HOST:PORT), `partitions` wide.
#[cfg(feature = "ballista")]
async fn ballista_context(
    dataset: &Dataset,
    scheduler: &str,
    partitions: usize,
) -> Result<SessionContext> {
    use ballista::prelude::{SessionConfigExt, SessionContextExt};
    use datafusion::execution::SessionStateBuilder;
    use std::net::{TcpStream, ToSocketAddrs};
    let unreachable = |why: String| Error::Dataset {
        path: dataset.root.clone(),
        message: format!(
            "the sql detector cannot reach the Ballista scheduler at {scheduler} ({why}); start one with `blastradius cluster scheduler --bind {scheduler}` and at least one `blastradius cluster executor --scheduler {scheduler}`"
        ),
    };
    // Say so now, not from inside the first query's transport error.
    let mut reached = Err("no address".to_string());
    for addr in scheduler
        .to_socket_addrs()
        .map_err(|e| unreachable(e.to_string()))?
    {
        reached = TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(5))
            .map(drop)
            .map_err(|e| e.to_string());
        if reached.is_ok() {
            break;
        }
    }
    reached.map_err(unreachable)?;
    let config = SessionConfig::new_with_ballista()
        .with_target_partitions(partitions.max(1))
        .with_ballista_job_name("blastradius sql detector");
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .build();
    SessionContext::remote_with_state(&format!("df://{scheduler}"), state)
        .await
        .map_err(|e| unreachable(e.to_string()))
}

/// A new folder for this run's intermediate tables, inside `scratch` (default: the system's
/// temporary folder), removed when dropped: it is this run's own.
#[cfg(feature = "ballista")]
fn scratch_folder(scratch: Option<&Path>) -> Result<tempfile::TempDir> {
    let base = match scratch {
        Some(dir) => std::path::absolute(dir).map_err(|error| Error::Io {
            path: dir.to_path_buf(),
            error,
        })?,
        None => std::env::temp_dir(),
    };
    tempfile::Builder::new()
        .prefix("blastradius-sql-")
        .tempdir_in(&base)
        .map_err(|e| Error::Dataset {
            path: base,
            message: format!(
                "--scratch: cannot make the sql detector's folder here ({e}); give a folder this machine and every executor can write"
            ),
        })
}

/// Removes the run's scratch folder, and says so if it cannot (executors of another user on
/// shared storage may leave files the client may not delete).
#[cfg(feature = "ballista")]
fn remove_scratch(tables: Option<tempfile::TempDir>) {
    if let Some(t) = tables {
        let path = t.path().to_path_buf();
        if let Err(e) = t.close() {
            eprintln!(
                "warning: could not remove the sql detector's scratch folder {} ({e}); remove it by hand",
                path.display()
            );
        }
    }
}

#[cfg(not(feature = "ballista"))]
fn remove_scratch(_tables: Option<std::path::PathBuf>) {}

/// Runs a cluster run's `work`, or stops it at Ctrl-C, so that what it made (its scratch
/// folder) is removed as it is dropped.
#[cfg(feature = "ballista")]
async fn interruptible<T>(root: &Path, work: impl Future<Output = Result<T>>) -> Result<T> {
    tokio::select! {
        done = work => done,
        _ = tokio::signal::ctrl_c() => Err(Error::Dataset {
            path: root.to_path_buf(),
            message: "the sql detector was interrupted (Ctrl-C); its scratch folder is removed, and a job still on the cluster may finish there".into(),
        }),
    }
}

#[cfg(not(feature = "ballista"))]
async fn interruptible<T>(_root: &Path, work: impl Future<Output = Result<T>>) -> Result<T> {
    work.await
}

/// Never reached without the `ballista` feature: [`ballista_context`] refuses first.
#[cfg(not(feature = "ballista"))]
fn scratch_folder(scratch: Option<&Path>) -> Result<std::path::PathBuf> {
    Ok(scratch.map_or_else(std::env::temp_dir, Path::to_path_buf))
}

/// Without the `ballista` feature there is no cluster client.
#[cfg(not(feature = "ballista"))]
async fn ballista_context(
    dataset: &Dataset,
    _scheduler: &str,
    _partitions: usize,
) -> Result<SessionContext> {
    Err(Error::Dataset {
        path: dataset.root.clone(),
        message: "--engine ballista://…: this build has no Ballista client; build with `cargo build --release --features ballista`".into(),
    })
}
