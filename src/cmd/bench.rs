//! `blastradius bench`: the scaling run, the leaderboard, the live rating and the scale plan.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use super::util::Stdout;

/// Benchmarks kept as runs: the scaling run, the detectors' leaderboard, the live rating, the plan.
#[derive(Debug, clap::Subcommand)]
pub enum Args {
    /// The live rating: for each detector, the highest constant rate at which it keeps up
    /// with the replayed stream (ends within 100 ms plus 5% of the schedule's length) with
    /// p99 latency at most 1 s and user F1 at least 0.99; and the replayer alone to a client
    /// that discards.
    /// Writes live.{json,md} under --out.
    Live {
        /// The dataset to replay (every attempt replays all of it).
        dataset: PathBuf,
        /// Built-in detectors to rate (the incremental `exact` and `streaming`, over Arrow
        /// IPC; streaming with its default budget planned for the dataset's users), or `none`.
        #[arg(long, value_delimiter = ',', default_value = "exact,streaming")]
        detectors: Vec<String>,
        /// An outside streaming detector: a shell command with {addr}, the replayer's
        /// address to connect to (it reads the stream and writes findings back).
        #[arg(long, value_name = "CMD")]
        exec: Vec<String>,
        /// The name of each --exec detector, in order.
        #[arg(long)]
        name: Vec<String>,
        /// The incremental streaming detector's whole state budget, in bytes (see `detect`).
        #[arg(long, default_value_t = 8 * blastradius_analyzer::streaming::DEFAULT_LIMIT, value_parser = super::util::whole::<u64>)]
        memory_limit: u64,
        /// The stream format --exec detectors read: json or arrow.
        #[arg(long, default_value = "json")]
        exec_format: String,
        /// The first rate tried, events per second; it doubles while attempts pass and halves
        /// while they fail (down to 1/64 of it), then bisects.
        #[arg(long, default_value_t = 500_000.0)]
        start: f64,
        /// The highest rate tried.
        #[arg(long, default_value_t = 64_000_000.0)]
        max: f64,
        /// Bisection steps after the first failure.
        #[arg(long, default_value_t = 3)]
        steps: u32,
        /// Results folder. Default: benches/runs/<date>-<cores>c-<memory>g/live.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace an earlier live rating at --out.
        #[arg(long)]
        force: bool,
    },
    /// Every built-in detector and every --exec command on every preset, clean and under
    /// the default damage: user and exposure F1, events/s and peak memory of each whole
    /// process. Writes leaderboard.{json,md,html} under --out.
    Detectors {
        /// Presets (or scenario files), comma-separated.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "facebook-2018,messaging-partners,shallow-paging,view-as-2018"
        )]
        scenarios: Vec<String>,
        /// Users of each generated dataset.
        #[arg(long, default_value_t = 200_000, value_parser = super::util::whole::<u64>)]
        users: u64,
        /// Seed of each generated dataset (the world's seed; 2018 as in `generate`).
        #[arg(long, default_value_t = super::generate::DEFAULT_SEED, value_parser = super::util::whole::<u64>)]
        seed: u64,
        /// Built-in detectors, comma-separated (exact, naive, streaming; sql in builds with
        /// `--features datafusion`), or `none`.
        #[arg(long, value_delimiter = ',', default_value = "exact,naive,streaming")]
        detectors: Vec<String>,
        /// An outside detector: a shell command with {dataset} and {out} (see `stress`).
        #[arg(long, value_name = "CMD")]
        exec: Vec<String>,
        /// The name of each --exec detector, in order.
        #[arg(long)]
        name: Vec<String>,
        /// Seconds an outside detector may run on one dataset.
        #[arg(long, default_value_t = 3600, value_parser = super::util::whole::<u64>)]
        timeout: u64,
        /// Results folder. Default: benches/runs/<date>-<cores>c-<memory>g/leaderboard.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace an earlier leaderboard at --out.
        #[arg(long)]
        force: bool,
        /// Keep the generated datasets and findings (under --out/data).
        #[arg(long)]
        keep_data: bool,
    },
    /// Generate and analyze (exact) datasets of each size in child processes; write
    /// scaling.{json,md,html} under --out, and nothing anywhere else.
    Scaling {
        /// Comma-separated numbers of users.
        #[arg(
            long,
            default_value = "10000,100000,1000000,10000000",
            value_delimiter = ','
        )]
        users: Vec<u64>,
        /// Results folder. Default: benches/runs/<date>-<cores>c-<memory>g/scaling.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace an earlier scaling output at --out.
        #[arg(long)]
        force: bool,
        /// Keep the generated datasets (under --out/data).
        #[arg(long)]
        keep_data: bool,
    },
    /// A population no one machine holds, on paper from measurements: a few shards of the
    /// real run are generated and analyzed here, one process each, and their cost is scaled
    /// to every shard on N machines. Writes plan.{json,md} under --out.
    Plan {
        /// The population (default: Facebook's 2.27 billion users of 2018).
        #[arg(long, default_value_t = 2_270_000_000, value_parser = super::util::whole::<u64>)]
        users: u64,
        /// Shards of the run (default: one per 125,000 users, as `generate` picks).
        #[arg(long, value_parser = super::util::whole::<u32>)]
        shards: Option<u32>,
        /// Shards to generate and analyze here, spread over the run.
        #[arg(long, default_value_t = 4, value_parser = super::util::whole::<u32>)]
        sample: u32,
        /// Cores per machine of the plan (default: this machine's).
        #[arg(long, value_parser = super::util::whole::<u64>)]
        cores: Option<u64>,
        /// Machine counts to plan for.
        #[arg(long, value_delimiter = ',', default_value = "1,10,100,1000")]
        machines: Vec<u64>,
        /// Results folder. Default: benches/runs/<date>-<cores>c-<memory>g/plan.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace an earlier plan at --out.
        #[arg(long)]
        force: bool,
    },
}

/// The folder results of today's runs on this machine go to.
pub fn runs_dir() -> PathBuf {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal"))
                .map(str::to_string)
        })
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / (1u64 << 20) as f64);
    let days = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64 / 86_400);
    let date = &blastradius_schema::time::format_utc(days * blastradius_schema::time::DAY)[..10];
    PathBuf::from(format!("benches/runs/{date}-{cores}c-{}g", mem_gib.round()))
}

pub fn run(args: Args) -> Result<()> {
    let (users, out, force, keep_data) = match args {
        Args::Plan {
            users,
            shards,
            sample,
            cores,
            machines,
            out,
            force,
        } => return plan(users, shards, sample, cores, &machines, out, force),
        Args::Live {
            dataset,
            detectors,
            exec,
            name,
            exec_format,
            memory_limit,
            start,
            max,
            steps,
            out,
            force,
        } => {
            return live(
                dataset,
                detectors,
                exec,
                name,
                (
                    &exec_format,
                    super::analyze::memory_limit("--memory-limit", memory_limit)?,
                ),
                (start, max, steps),
                out,
                force,
            );
        }
        Args::Scaling {
            users,
            out,
            force,
            keep_data,
        } => (users, out, force, keep_data),
        Args::Detectors {
            scenarios,
            users,
            seed,
            detectors,
            exec,
            name,
            timeout,
            out,
            force,
            keep_data,
        } => {
            return detectors_board(
                scenarios, users, seed, detectors, exec, name, timeout, out, force, keep_data,
            );
        }
    };
    if users.is_empty() || users.contains(&0) {
        bail!("--users: give positive numbers, e.g. --users 10000,100000");
    }
    let out = out.unwrap_or_else(|| runs_dir().join("scaling"));
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let mut stdout = Stdout::default();
    blastradius_harness::scaling::run(&exe, &users, &out, force, keep_data, |p| {
        let _ = writeln!(
            stdout,
            "{:>10} users: {:>12} events, generate {:7.2} s ({:6.0} MiB), analyze {:7.2} s ({:6.0} MiB)",
            p.users,
            p.events,
            p.generate_seconds,
            p.generate_peak_bytes as f64 / 1048576.0,
            p.analyze_seconds,
            p.analyze_peak_bytes as f64 / 1048576.0
        );
    })?;
    writeln!(stdout, "kept in {}", out.display())?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn detectors_board(
    scenarios: Vec<String>,
    users: u64,
    seed: u64,
    detectors: Vec<String>,
    exec: Vec<String>,
    names: Vec<String>,
    timeout: u64,
    out: Option<PathBuf>,
    force: bool,
    keep_data: bool,
) -> Result<()> {
    use blastradius_harness::exec::ExecDetector;
    if users == 0 {
        bail!("--users: give at least 1");
    }
    if names.len() > exec.len() {
        bail!(
            "--name: {} names for {} --exec commands; give one per command, in order",
            names.len(),
            exec.len()
        );
    }
    for s in &scenarios {
        super::util::load_scenario(s)?;
    }
    let detectors: Vec<String> = detectors.into_iter().filter(|d| d != "none").collect();
    super::analyze::batch_detectors(&detectors)?;
    if detectors.is_empty() && exec.is_empty() {
        bail!(
            "--detectors none and no --exec: nothing to rate; name built-in detectors, or add --exec 'CMD {{dataset}} {{out}}'"
        );
    }
    let exec = exec
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let name = names.get(i).cloned().unwrap_or(format!("exec-{}", i + 1));
            ExecDetector::new(name, c.clone()).map_err(anyhow::Error::msg)
        })
        .collect::<Result<Vec<_>>>()?;
    blastradius_harness::exec::check_names(&detectors, &exec).map_err(anyhow::Error::msg)?;
    let out = out.unwrap_or_else(|| runs_dir().join("leaderboard"));
    let options = blastradius_harness::leaderboard::Options {
        exe: std::env::current_exe().context("cannot find this executable")?,
        scenarios,
        users,
        seed,
        detectors,
        exec,
        timeout: std::time::Duration::from_secs(timeout.max(1)),
        out: out.clone(),
        force,
        keep_data,
    };
    let mut stdout = Stdout::default();
    let f = |x: Option<f64>| x.map_or("–".into(), |v| format!("{v:.3}"));
    let board = blastradius_harness::leaderboard::run(&options, |e| {
        let _ = match &e.failure {
            Some(why) => writeln!(
                stdout,
                "{:20} {:8} {:18} failed: {why}",
                e.scenario, e.condition, e.detector
            ),
            None => writeln!(
                stdout,
                "{:20} {:8} {:18} user F1 {}  exposure F1 {}  violation F1 {}{}  {:.2}M events/s  {:.0} MiB",
                e.scenario,
                e.condition,
                e.detector,
                f(e.user_f1),
                f(e.exposure_f1),
                f(e.violation_f1),
                match (e.token_f1, e.view_as_user_f1) {
                    (None, None) => String::new(),
                    (t, u) => format!("  View-As token F1 {}  View-As user F1 {}", f(t), f(u)),
                },
                e.events_per_second / 1e6,
                e.peak_memory_bytes as f64 / 1048576.0
            ),
        };
    })?;
    writeln!(stdout, "kept in {}", out.display())?;
    let failed = blastradius_harness::leaderboard::failed_everywhere(&board);
    if !failed.is_empty() {
        anyhow::bail!(
            "{} gave no findings on any preset (every cell failed; the leaderboard says why): nothing of it was measured",
            failed.join(", ")
        );
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn live(
    dataset: PathBuf,
    detectors: Vec<String>,
    exec: Vec<String>,
    names: Vec<String>,
    (exec_format, memory_limit): (&str, u64),
    (start, max, steps): (f64, f64, u32),
    out: Option<PathBuf>,
    force: bool,
) -> Result<()> {
    use blastradius_harness::live_board::{self, Progress};
    use blastradius_harness::rating::Contender;
    use blastradius_live::wire::Format;
    if !(start > 0.0 && max >= start) {
        bail!("--start and --max: give 0 < start <= max events per second");
    }
    if names.len() > exec.len() {
        bail!(
            "--name: {} names for {} --exec commands; give one per command, in order",
            names.len(),
            exec.len()
        );
    }
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let format = Format::parse(exec_format).map_err(|e| anyhow::anyhow!("--exec-format: {e}"))?;
    let users = live_board::users_of(&dataset)?;
    let mut contenders = Vec::new();
    for d in detectors.iter().filter(|d| d.as_str() != "none") {
        let entry =
            blastradius_analyzer::registry::find(d, blastradius_analyzer::registry::Mode::Live)
                .map_err(|why| {
                    anyhow::anyhow!("--detectors {d}: {why}{}", super::analyze::or(&why, "none"))
                })?;
        // A live detector of the registry that this command does not start yet is refused.
        let Some(c) = live_board::builtin(entry.name, &exe, users, memory_limit) else {
            bail!("--detectors {}: bench live cannot start it", entry.name);
        };
        contenders.push(c);
    }
    for (i, c) in exec.iter().enumerate() {
        if !c.contains("{addr}") {
            bail!("--exec '{c}': the command must name {{addr}}, the replayer's address");
        }
        contenders.push(Contender {
            name: names.get(i).cloned().unwrap_or(format!("exec-{}", i + 1)),
            command: c.clone(),
            format,
        });
    }
    let out = out.unwrap_or_else(|| runs_dir().join("live"));
    let options = live_board::Options {
        dataset,
        contenders,
        start,
        max,
        steps,
        out: out.clone(),
        force,
        exe,
        command: command_line(),
    };
    let mut stdout = Stdout::default();
    live_board::run(&options, |p| {
        let _ = match p {
            Progress::Alone(a) => writeln!(
                stdout,
                "replayer alone, {:5}: {:.2}M events/s ({} events in {:.2} s)",
                a.format,
                a.events_per_second / 1e6,
                a.events,
                a.seconds
            ),
            Progress::Attempt(c, a) => writeln!(
                stdout,
                "{:24} {:>12.0} events/s: {} ({:.2} s, p99 {}, user F1 {}{})",
                c.name,
                a.rate,
                if a.passed {
                    "kept up".into()
                } else {
                    format!("failed: {}", a.why)
                },
                a.seconds,
                a.p99_ms.map_or("–".into(), |p| format!("{p:.1} ms")),
                a.user_f1.map_or("–".into(), |f| format!("{f:.3}")),
                a.view_as_user_f1
                    .map_or(String::new(), |f| format!(", View-As user F1 {f:.3}"))
            ),
            Progress::Rated(r) => {
                writeln!(stdout, "{:24} rating {:.0} events/s", r.detector, r.rating)
            }
        };
    })?;
    writeln!(stdout, "kept in {}", out.display())?;
    Ok(())
}

/// This process's command line, as results name it: `blastradius` and its arguments, each
/// quoted for a shell when it needs to be.
fn command_line() -> String {
    std::iter::once("blastradius".to_string())
        .chain(std::env::args_os().skip(1).map(|a| {
            let a = a.to_string_lossy().into_owned();
            if a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./:,=".contains(c))
            {
                a
            } else {
                blastradius_harness::exec::quote(std::path::Path::new(&a))
            }
        }))
        .collect::<Vec<_>>()
        .join(" ")
}

fn plan(
    users: u64,
    shards: Option<u32>,
    sample: u32,
    cores: Option<u64>,
    machines: &[u64],
    out: Option<PathBuf>,
    force: bool,
) -> Result<()> {
    if users == 0 {
        bail!("--users: give a positive number");
    }
    let shards = shards.unwrap_or_else(|| blastradius_simulator::generate::default_shards(users));
    if shards == 0 || u64::from(shards) > users {
        bail!("--shards {shards}: give 1 to {users} shards");
    }
    if sample == 0 {
        bail!("--sample: give at least 1 shard to measure");
    }
    if machines.is_empty() || machines.contains(&0) {
        bail!("--machines: give positive machine counts, e.g. --machines 1,10,100");
    }
    let cores =
        cores.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()) as u64);
    if cores == 0 {
        bail!("--cores: give at least 1");
    }
    let out = out.unwrap_or_else(|| runs_dir().join("plan"));
    let exe = std::env::current_exe().context("cannot find this executable")?;
    let mut stdout = Stdout::default();
    let plan = blastradius_harness::plan::run(
        &exe,
        users,
        shards,
        sample,
        cores,
        machines,
        &out,
        force,
        |s| {
            let _ = writeln!(
                stdout,
                "shard {:>8}: {:>8} users, {:>10} events, generate {:6.2} s ({:5.0} MiB), analyze {:6.2} s ({:5.0} MiB)",
                s.shard,
                s.users,
                s.events,
                s.generate_seconds,
                s.generate_peak_bytes as f64 / 1048576.0,
                s.analyze_seconds,
                s.analyze_peak_bytes as f64 / 1048576.0
            );
        },
    )?;
    writeln!(
        stdout,
        "whole run: {:.0} events, {}, {:.2} core-hours to generate, {:.2} to analyze",
        plan.events,
        blastradius_harness::plan::gib(plan.bytes),
        plan.generate_core_hours,
        plan.analyze_core_hours
    )?;
    writeln!(stdout, "kept in {}", out.join("plan.md").display())?;
    Ok(())
}
