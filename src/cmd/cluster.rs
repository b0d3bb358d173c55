//! `blastradius cluster scheduler|executor`: the nodes of a Ballista cluster, from this binary,
//! for `analyze --detector sql --engine ballista://HOST:PORT`. Only in builds with
//! `--features ballista`; tokio stays in here (and in the sql detector's client).

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Run a node of a Ballista cluster for the sql detector (`analyze --detector sql --engine
/// ballista://HOST:PORT`). Every executor must read the dataset at the path the client
/// gives (shared storage).
#[derive(Debug, clap::Subcommand)]
pub enum Args {
    /// The scheduler: plans each query into stages and hands their tasks to executors.
    /// Runs until stopped (Ctrl-C).
    Scheduler(SchedulerArgs),
    /// An executor: runs tasks, keeps their shuffle output under --work-dir and serves it to
    /// other executors. Runs until stopped (Ctrl-C).
    Executor(ExecutorArgs),
}

#[derive(Debug, clap::Args)]
pub struct SchedulerArgs {
    /// Address to listen on (clients and executors connect here). Use 0.0.0.0:PORT to
    /// accept other machines.
    #[arg(long, default_value = "127.0.0.1:50050", value_name = "HOST:PORT")]
    pub bind: String,

    /// Seconds without a heartbeat after which an executor is taken for dead (executors of
    /// this binary send one every 5 s; one that cannot take a task is dropped at once). Its
    /// tasks go to the other executors; with none left, a running job fails after as long
    /// again, unless an executor joins meanwhile. The scheduler names each executor it loses.
    #[arg(long, default_value_t = 20, value_parser = executor_timeout, value_name = "SECS")]
    pub executor_timeout: u64,
}

/// `--executor-timeout`: whole seconds, at least twice the executors' heartbeat.
fn executor_timeout(text: &str) -> Result<u64, String> {
    let least = 2 * EXECUTOR_HEARTBEAT_SECS;
    match text.parse::<u64>() {
        Ok(s) if s >= least => Ok(s),
        _ => Err(format!(
            "give whole seconds, at least {least} (executors beat every {EXECUTOR_HEARTBEAT_SECS} s; a shorter timeout would drop live ones)"
        )),
    }
}

/// How often an executor of this binary tells the scheduler it is alive.
pub const EXECUTOR_HEARTBEAT_SECS: u64 = 5;

#[derive(Debug, clap::Args)]
pub struct ExecutorArgs {
    /// The scheduler's address.
    #[arg(long, default_value = "127.0.0.1:50050", value_name = "HOST:PORT")]
    pub scheduler: String,

    /// Host to listen on. Use 0.0.0.0 to serve other machines, with --advertise.
    #[arg(long, default_value = "127.0.0.1", value_name = "HOST")]
    pub bind: String,

    /// The name or address other machines reach this one by (default: the address the
    /// scheduler sees this executor connect from). The client fetches results from it too.
    #[arg(long, value_name = "HOST")]
    pub advertise: Option<String>,

    /// Port of the Arrow Flight service that serves shuffle data to other executors.
    #[arg(long, default_value_t = 50051)]
    pub port: u16,

    /// Port of the gRPC service the scheduler pushes tasks to.
    #[arg(long, default_value_t = 50052)]
    pub grpc_port: u16,

    /// Tasks run at once (default: the number of cores).
    #[arg(long, value_parser = super::util::whole::<usize>)]
    pub cores: Option<usize>,

    /// Memory of this executor in bytes, split evenly among its task slots (--cores); a task
    /// spills to --work-dir beyond its share (default: Ballista's share of the machine's
    /// memory).
    #[arg(long, value_parser = super::util::whole::<u64>, value_name = "BYTES")]
    pub memory: Option<u64>,

    /// Folder for shuffle files and spills; must exist. Default: a new folder under the
    /// system's temporary folder, removed when the executor stops.
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,

    /// Seconds to wait for the scheduler to accept connections before giving up.
    #[arg(long, default_value_t = 30)]
    pub wait: u64,
}

/// A HOST:PORT flag: its addresses (the first one to bind), its host as given, its port.
fn address(flag: &str, value: &str) -> Result<(Vec<SocketAddr>, String, u16)> {
    let (host, port) = blastradius_analyzer::detect::host_port(value)
        .with_context(|| format!("{flag} {value}: give HOST:PORT, e.g. 127.0.0.1:50050"))?;
    let addrs: Vec<SocketAddr> = value
        .to_socket_addrs()
        .map(Iterator::collect)
        .unwrap_or_default();
    if addrs.is_empty() {
        bail!("{flag} {value}: cannot resolve host `{host}`");
    }
    Ok((addrs, host.to_string(), port))
}

/// Waits until something accepts connections at one of `addrs`, for at most `wait`.
fn wait_for(addrs: &[SocketAddr], wait: Duration) -> bool {
    let started = Instant::now();
    loop {
        if addrs
            .iter()
            .any(|a| TcpStream::connect_timeout(a, Duration::from_millis(500)).is_ok())
        {
            return true;
        }
        if started.elapsed() >= wait {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn run(args: Args) -> Result<()> {
    node::available()?;
    match args {
        Args::Scheduler(a) => {
            let (addrs, _, _) = address("--bind", &a.bind)?;
            node::scheduler(addrs[0], a.executor_timeout)
        }
        Args::Executor(a) => {
            let (addrs, host, port) = address("--scheduler", &a.scheduler)?;
            if a.port == a.grpc_port || a.port == 0 || a.grpc_port == 0 {
                bail!(
                    "--port {} --grpc-port {}: give two different ports above 0",
                    a.port,
                    a.grpc_port
                );
            }
            if let Some(dir) = &a.work_dir
                && !dir.is_dir()
            {
                bail!(
                    "--work-dir {}: not a folder; create it first, or leave the flag out for a temporary one",
                    dir.display()
                );
            }
            if a.cores == Some(0) {
                bail!(
                    "--cores 0: give the number of tasks to run at once, or leave it out for every core"
                );
            }
            if a.bind.parse::<std::net::IpAddr>().is_err() {
                bail!(
                    "--bind {}: give an IP address of this machine, e.g. 0.0.0.0 (every interface) or 127.0.0.1",
                    a.bind
                );
            }
            if a.memory == Some(0) {
                bail!("--memory 0: give the pool in bytes, e.g. 4000000000, or leave it out");
            }
            if !wait_for(&addrs, Duration::from_secs(a.wait)) {
                bail!(
                    "--scheduler {}: nothing accepts connections there after {} s; start it first with `blastradius cluster scheduler --bind {}`",
                    a.scheduler,
                    a.wait,
                    a.scheduler
                );
            }
            node::executor(a, &host, port)
        }
    }
}

#[cfg(feature = "ballista")]
mod node {
    use std::collections::{BTreeMap, BTreeSet};
    use std::net::SocketAddr;
    use std::sync::Arc;

    use anyhow::{Context, Result};
    use ballista_core::serde::protobuf::CancelJobParams;
    use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
    use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service};
    use ballista_scheduler::state::SchedulerState;
    use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
    use std::collections::HashMap;
    use std::time::{Duration, Instant};

    /// A job's progress as the scheduler sees it: stages done, the tasks running (stage,
    /// task, executor), the tasks waiting to run.
    type Progress = (usize, Vec<(usize, usize, String)>, usize);
    use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
    use ballista_scheduler::cluster::BallistaCluster;
    use ballista_scheduler::config::SchedulerConfig;

    use super::ExecutorArgs;

    pub fn available() -> Result<()> {
        Ok(())
    }

    /// Plans arrive as nested protobuf messages and are decoded and planned recursively: the
    /// sql detector's overflow a 2 MiB thread stack (seen in debug builds).
    const STACK: usize = 64 << 20;

    fn runtime() -> Result<tokio::runtime::Runtime> {
        tokio::runtime::Builder::new_multi_thread()
            .thread_stack_size(STACK)
            .enable_all()
            .build()
            .context("cannot start the async runtime")
    }

    pub fn scheduler(addr: SocketAddr, executor_timeout: u64) -> Result<()> {
        // Ballista's defaults (180 s to notice a dead executor, as long again before failing
        // the jobs it left) kept a job waiting for over 5 minutes.
        let config = SchedulerConfig {
            bind_host: addr.ip().to_string(),
            bind_port: addr.port(),
            external_host: addr.ip().to_string(),
            executor_timeout_seconds: executor_timeout,
            expire_dead_executor_interval_seconds: super::EXECUTOR_HEARTBEAT_SECS,
            no_executors_grace_period_seconds: executor_timeout,
            ..Default::default()
        };
        // Fail here, with the address, rather than inside the server's task.
        drop(
            std::net::TcpListener::bind(addr)
                .with_context(|| format!("--bind {addr}: cannot listen there"))?,
        );
        eprintln!(
            "scheduler: listening on {addr} (Ballista {}); start executors with `blastradius cluster executor --scheduler {addr}`; analyze with `--detector sql --engine ballista://{addr}`; stop with Ctrl-C",
            ballista_core::BALLISTA_VERSION
        );
        runtime()?.block_on(async move {
            let cluster = BallistaCluster::new_from_config(&config)
                .await
                .context("cannot set up the scheduler's state")?;
            config.validate().context("the scheduler's settings")?;
            let executors = cluster.cluster_state();
            let server =
                create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, Arc::new(config))
                    .await
                    .context("cannot set up the scheduler")?;
            tokio::spawn(watch_executors(
                server.state.clone(),
                executors,
                addr,
                executor_timeout,
            ));
            tokio::select! {
                served = start_grpc_service(addr, server) => {
                    served.with_context(|| format!("scheduler on {addr} stopped"))
                }
                _ = tokio::signal::ctrl_c() => {
                    eprintln!("scheduler: stopped");
                    Ok(())
                }
            }
        })
    }

    /// Says on standard error each executor that joins and each one the scheduler drops, by
    /// id and address: the answer to "what died" when a job fails for want of executors.
    ///
    /// Ballista fails a job itself when the last executor is lost. When others remain it
    /// means to rerun the lost tasks, and mostly does; a job it cannot resume (seen here:
    /// tasks left running on an executor killed mid-job, or nothing running and nothing left
    /// to run) would wait for ever. Such a job, stalled that way for the executor timeout
    /// with no progress, is cancelled, and its client's query fails.
    async fn watch_executors(
        state: Arc<SchedulerState<LogicalPlanNode, PhysicalPlanNode>>,
        cluster: Arc<dyn ballista_scheduler::cluster::ClusterState>,
        addr: SocketAddr,
        timeout: u64,
    ) {
        let mut known: BTreeMap<String, String> = BTreeMap::new();
        // Per job: its progress when last seen, and since when it has been stalled.
        let mut watched: HashMap<String, (Progress, Option<Instant>)> = HashMap::new();
        let mut cancelled: BTreeSet<String> = BTreeSet::new();
        loop {
            let now: BTreeMap<String, String> = cluster
                .registered_executor_metadata()
                .await
                .into_iter()
                .map(|m| (m.id.clone(), format!("{}:{}", m.host, m.grpc_port)))
                .collect();
            for (id, at) in &now {
                if !known.contains_key(id) {
                    eprintln!("scheduler: executor {id} at {at} joined");
                }
            }
            for (id, at) in &known {
                if !now.contains_key(id) {
                    let then = match now.len() {
                        0 => format!(
                            "no executor is left: a running job fails in {timeout} s unless one joins"
                        ),
                        n => format!("its tasks go to the {n} executor(s) left"),
                    };
                    eprintln!(
                        "scheduler: executor {id} at {at} lost (no heartbeat for {timeout} s, or it could not take a task); {then}"
                    );
                }
            }
            let jobs = state.task_manager.get_running_job_cache();
            watched.retain(|job, _| jobs.contains_key(job.as_str()));
            for (job, info) in jobs.iter() {
                let graph = info.execution_graph.read().await;
                let progress: Progress = (
                    graph.completed_stages(),
                    graph
                        .running_tasks()
                        .into_iter()
                        .map(|t| (t.stage_id, t.task_id, t.executor_id))
                        .collect(),
                    graph.available_tasks(),
                );
                drop(graph);
                let on_lost = progress
                    .1
                    .iter()
                    .find(|t| !now.contains_key(&t.2))
                    .map(|t| t.2.clone());
                let idle = progress.1.is_empty() && progress.2 == 0;
                // Stalled: waiting on an executor that is gone, or on nothing at all.
                let stalled = (on_lost.is_some() || idle) && !now.is_empty();
                let entry = watched
                    .entry(job.to_string())
                    .or_insert_with(|| (progress.clone(), None));
                if entry.0 != progress || !stalled {
                    *entry = (progress, None);
                    continue;
                }
                let since = *entry.1.get_or_insert_with(Instant::now);
                if since.elapsed() < Duration::from_secs(timeout)
                    || cancelled.contains(job.as_str())
                {
                    continue;
                }
                let why = match on_lost {
                    Some(id) => format!(
                        "its tasks have been left on executor {id}, which is gone, for {timeout} s"
                    ),
                    None => format!("nothing of it has run or been left to run for {timeout} s"),
                };
                eprintln!(
                    "scheduler: job {job} cancelled: {why} (Ballista does not resume it); run it again"
                );
                cancelled.insert(job.to_string());
                let cancel = async {
                    let mut client = SchedulerGrpcClient::connect(format!("http://{addr}")).await?;
                    client
                        .cancel_job(CancelJobParams {
                            job_id: job.to_string(),
                        })
                        .await?;
                    Ok::<(), Box<dyn std::error::Error>>(())
                };
                if let Err(e) = cancel.await {
                    eprintln!("scheduler: job {job} could not be cancelled ({e})");
                }
            }
            known = now;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    pub fn executor(a: ExecutorArgs, host: &str, port: u16) -> Result<()> {
        let scheduler = format!("{host}:{port}");
        // A temporary work folder is this run's own, and goes when it ends.
        let temporary = match &a.work_dir {
            Some(_) => None,
            None => Some(
                tempfile::Builder::new()
                    .prefix("blastradius-executor-")
                    .tempdir()
                    .context("cannot create a temporary work folder; pass --work-dir DIR")?,
            ),
        };
        let work_dir = match (&a.work_dir, &temporary) {
            (Some(dir), _) => dir.clone(),
            (None, Some(t)) => t.path().to_path_buf(),
            (None, None) => unreachable!("one of the two is set"),
        };
        let defaults = ExecutorProcessConfig::default();
        let config = ExecutorProcessConfig {
            bind_host: a.bind.clone(),
            external_host: a.advertise.clone(),
            port: a.port,
            grpc_port: a.grpc_port,
            scheduler_host: host.to_string(),
            scheduler_port: port,
            vcores: a.cores.unwrap_or(defaults.vcores),
            work_dir: Some(work_dir.to_string_lossy().into_owned()),
            memory_pool_size: a.memory,
            executor_heartbeat_interval_seconds: super::EXECUTOR_HEARTBEAT_SECS,
            ..defaults
        };
        for port in [a.port, a.grpc_port] {
            let at = format!("{}:{port}", a.bind);
            drop(std::net::TcpListener::bind(&at).with_context(|| {
                format!("{at}: cannot listen there; pick another --port/--grpc-port")
            })?);
        }
        eprintln!(
            "executor {}: serving on {}:{} (flight) and :{} (tasks), {} tasks at once, work folder {}; scheduler {scheduler}; stop with Ctrl-C",
            config.executor_id,
            a.bind,
            a.port,
            a.grpc_port,
            config.vcores,
            work_dir.display()
        );
        runtime()?
            .block_on(start_executor_process(Arc::new(config)))
            .with_context(|| format!("executor stopped (scheduler {scheduler})"))?;
        eprintln!("executor: stopped");
        drop(temporary);
        Ok(())
    }
}

#[cfg(not(feature = "ballista"))]
mod node {
    use std::net::SocketAddr;

    use anyhow::{Result, bail};

    pub fn available() -> Result<()> {
        bail!(
            "cluster: this build has no Ballista; build with `cargo build --release --features ballista`"
        )
    }

    pub fn scheduler(_addr: SocketAddr, _executor_timeout: u64) -> Result<()> {
        available()
    }

    pub fn executor(_a: super::ExecutorArgs, _host: &str, _port: u16) -> Result<()> {
        available()
    }
}

#[cfg(test)]
mod tests {
    use super::address;

    #[test]
    fn addresses() {
        let (addrs, host, port) = address("--bind", "127.0.0.1:50050").unwrap();
        assert_eq!(addrs[0].to_string(), "127.0.0.1:50050");
        assert_eq!((host.as_str(), port), ("127.0.0.1", 50050));
        let (addrs, host, _) = address("--scheduler", "[::1]:50050").unwrap();
        assert_eq!(
            (addrs[0].to_string().as_str(), host.as_str()),
            ("[::1]:50050", "[::1]")
        );
        for bad in ["50050", ":50050", "host:", "127.0.0.1:0", "127.0.0.1:70000"] {
            let e = address("--bind", bad).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("--bind {bad}: give HOST:PORT")),
                "{e}"
            );
        }
    }
}
