//! `blastradius replay` and `blastradius detect --follow`: the log as a live stream.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Result, bail};
use blastradius_live::replay::{Options, Target, run};
use blastradius_live::schedule::Shape;
use blastradius_live::wire::Format;

use super::util::{Stdout, positive, whole};

/// Stream a dataset's log, merged in log order, to a detector at a chosen rate, take its
/// findings back, and measure detection latency from the intended send time of each exposing
/// call (so a replayer that falls behind cannot hide the delay).
///
/// The detector connects to --listen (default), is connected to with --connect, or reads
/// standard output (--stdout, findings then to --findings-listen). It sends findings back as JSON
/// lines: {"user_id":U,"app_id":A,"photo_id":P} (an exposure), {"user_id":U} (an affected
/// user) or {"event_id":E} (a message violation); in a View-As world, whose access log the
/// stream carries too, {"token_id":T} (a stolen token) and {"view_as_user_id":U,"tier":"..."}
/// (a user the attack reached). A discovery detector sends {"alarm":{"confidence":C,...}}
/// lines instead (data/README §14): each is dated by the log time the stream had reached
/// when it came and scored as `score` scores alarms, with time to detect in wall time too.
/// Writes report.json, report.md, latency.hgrm and live.html under --out.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The dataset to replay.
    pub dataset: PathBuf,
    /// Wait for a detector to connect here. The stream carries every user's activity: the
    /// default is loopback, and a wider address is warned about.
    #[arg(long, value_name = "ADDR", conflicts_with_all = ["connect", "stdout"])]
    pub listen: Option<String>,
    /// Connect to a detector listening here instead.
    #[arg(long, value_name = "ADDR", conflicts_with = "stdout")]
    pub connect: Option<String>,
    /// Write the stream to standard output (findings then come to --findings-listen).
    #[arg(long)]
    pub stdout: bool,
    /// Listen here for the detector's findings, on a connection of their own (elsewhere,
    /// --findings names a findings folder; here the findings arrive live).
    #[arg(long, value_name = "ADDR")]
    pub findings_listen: Option<String>,
    /// json (one object per line; readable by anything) or arrow (an Arrow IPC stream of
    /// record batches; pyarrow.ipc.open_stream reads it; several times faster).
    #[arg(long, default_value = "json")]
    pub format: String,
    /// Events per second: the constant rate, or the rate between bursts (a ramp sets its
    /// own rates and refuses this flag).
    #[arg(long)]
    pub rate: Option<f64>,
    /// constant, ramp:FROM:TO:DURATION (events/s, then a duration like 30s) or
    /// burst:PEAK:EVERY:LENGTH (bursts at PEAK events/s for LENGTH every EVERY, else --rate).
    #[arg(long, default_value = "constant")]
    pub shape: String,
    /// Replay at log time sped up by this factor instead of a rate (1000: a day in 86 s).
    #[arg(long, value_name = "X")]
    pub speedup: Option<f64>,
    /// Replay only events at or after this UTC time (the deploys always go).
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// Replay only events before this UTC time.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// The answer key, for a blind dataset.
    #[arg(long, value_name = "KEY")]
    pub truth: Option<PathBuf>,
    /// Seconds to wait for findings after the last event.
    #[arg(long, default_value_t = 10, value_parser = whole::<u64>)]
    pub wait: u64,
    /// Seconds to wait for a detector to connect.
    #[arg(long, default_value_t = 60, value_parser = positive)]
    pub accept_timeout: u64,
    /// Seconds a send may wait for the detector to read anything; past it the detector is
    /// taken as stuck and the replay stops with a report. A slow reader only slows the replay.
    #[arg(long, default_value_t = 60, value_parser = positive)]
    pub read_timeout: u64,
    /// Send a heartbeat whenever SECS pass without a write (while the schedule pauses, or
    /// the log is slow to read): an empty line in JSON lines, a batch of no rows in Arrow.
    /// Lets a detector's idle timeout (`detect --follow --idle-timeout`) tell a pause from a
    /// replayer that is stuck or gone. Off by default: a JSON reader must skip empty lines.
    #[arg(long, value_name = "SECS", value_parser = positive)]
    pub heartbeat: Option<u64>,
    /// Pause the replayer before event N for DURATION (N:DURATION), to see that a stall
    /// shows in the latency (the coordinated-omission check).
    #[arg(long, value_name = "N:DURATION")]
    pub inject_stall: Option<String>,
    /// Output folder. Default: data/generated/live/<dataset folder name>.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Replace an earlier replay report at --out.
    #[arg(long)]
    pub force: bool,
    /// Run a schedule longer than a day. Without it such a replay is refused with its
    /// length (a --rate of 1e-30 events/s would wait for ever after the first event).
    #[arg(long)]
    pub yes: bool,
}

fn utc(flag: &str, text: &Option<String>) -> Result<Option<i64>> {
    text.as_deref()
        .map(|t| blastradius_schema::time::parse_utc(t).map_err(|e| anyhow::anyhow!("{flag}: {e}")))
        .transpose()
}

/// Warns when `addr` is not a loopback address.
fn warn_if_wide(addr: &str) {
    let host = addr
        .rsplit_once(':')
        .map_or(addr, |(h, _)| h)
        .trim_matches(['[', ']']);
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        eprintln!(
            "warning: listening on {addr}, beyond this machine: the stream carries every user's activity"
        );
    }
}

pub fn run_replay(args: Args) -> Result<()> {
    let format = Format::parse(&args.format).map_err(anyhow::Error::msg)?;
    let shape = Shape::parse(args.rate, &args.shape, args.speedup).map_err(anyhow::Error::msg)?;
    let stall = match &args.inject_stall {
        None => None,
        Some(text) => {
            let Some((n, d)) = text.split_once(':') else {
                bail!("--inject-stall {text}: expected N:DURATION, e.g. 100000:1s");
            };
            let n: u64 = whole(n).map_err(|e| anyhow::anyhow!("--inject-stall {text}: N {e}"))?;
            let us = blastradius_live::schedule::parse_duration(d)
                .map_err(|e| anyhow::anyhow!("--inject-stall: {e}"))?;
            Some((n, Duration::from_micros(us as u64)))
        }
    };
    let target = match (&args.listen, &args.connect, args.stdout) {
        (_, Some(a), _) => Target::Connect(a.clone()),
        (_, _, true) => Target::Stdout,
        (Some(a), _, _) => Target::Listen(a.clone()),
        (None, None, false) => Target::Listen("127.0.0.1:7070".into()),
    };
    if args.stdout && args.findings_listen.is_none() {
        eprintln!(
            "note: --stdout without --findings-listen: no findings come back, so no latency is measured"
        );
    }
    if let Target::Listen(a) = &target {
        warn_if_wide(a);
    }
    if let Some(a) = &args.findings_listen {
        warn_if_wide(a);
    }
    let out = args.out.clone().unwrap_or_else(|| {
        let name = args
            .dataset
            .file_name()
            .map_or("dataset".into(), |n| n.to_string_lossy().into_owned());
        PathBuf::from("data/generated/live").join(name)
    });
    blastradius_safefs::check(
        &out,
        blastradius_safefs::Kind::Output("replay"),
        args.force,
        "--out",
        &[&args.dataset],
    )?;
    let (from, until) = (utc("--from", &args.from)?, utc("--until", &args.until)?);
    if let (Some(f), Some(u)) = (from, until)
        && f >= u
    {
        anyhow::bail!(
            "--from {} is not before --until {}: the slice would hold no event; swap them",
            args.from.as_deref().unwrap_or_default(),
            args.until.as_deref().unwrap_or_default()
        );
    }
    // A slice past the end of the log would send only the deploys and look like a quiet run.
    if let Some(f) = from
        && let Some((_, end)) = blastradius_dataset::Dataset::open(&args.dataset)
            .ok()
            .and_then(|d| d.time_range())
        && f > end
    {
        anyhow::bail!(
            "--from {}: after the end of the log ({}); the slice would hold no event",
            args.from.as_deref().unwrap_or_default(),
            blastradius_schema::time::format_utc(end)
        );
    }
    // How long a rate schedule asks for, said first, and a day at most unless --yes. Only
    // where it is known here: a whole log at a rate (the events counted in the manifest); a
    // slice's events, or a speed-up's span of log time, are known only as the stream runs.
    let rate_of_whole_log =
        !matches!(shape, Shape::Speedup(_)) && from.is_none() && until.is_none();
    if rate_of_whole_log && let Ok(d) = blastradius_dataset::Dataset::open(&args.dataset) {
        let events: u64 = d
            .parts(blastradius_schema::path::EVENTS_DIR)
            .iter()
            .map(|f| f.rows)
            .sum();
        let seconds = shape.intended(events, 0) as f64 / 1e6;
        const DAY: f64 = 86_400.0;
        if seconds > DAY && !args.yes {
            // An i64 of microseconds saturates near 292,000 years.
            let length = match seconds {
                s if s >= 9.2e12 => "more than 290,000 years".to_string(),
                s => format!("about {:.0} days", s / DAY),
            };
            anyhow::bail!(
                "the schedule would take {length} ({events} events): give a faster --rate or --speedup, a slice (--from/--until), or --yes to run it anyway"
            );
        }
        if seconds > 60.0 {
            eprintln!("note: the schedule takes about {:.0} s", seconds);
        }
    }
    let options = Options {
        dataset: args.dataset.clone(),
        target,
        findings: args.findings_listen.clone(),
        format,
        shape,
        from,
        until,
        truth_key: args.truth.clone(),
        wait: Duration::from_secs(args.wait),
        accept_timeout: Duration::from_secs(args.accept_timeout.max(1)),
        read_timeout: Duration::from_secs(args.read_timeout.max(1)),
        heartbeat: args.heartbeat.map(Duration::from_secs),
        stall,
        on_listen: Some(Box::new(|a| {
            eprintln!(
                "listening on {a}: connect a detector, e.g. `blastradius detect --follow {a}`"
            )
        })),
    };
    let report = run(options)?;
    report.write(&out, args.force, &args.dataset)?;
    // The stream may be standard output: the summary goes to standard error then.
    let summary = report.to_markdown();
    if args.stdout {
        eprint!("{summary}");
    } else {
        let mut o = Stdout::default();
        write!(o, "{summary}")?;
        writeln!(o, "report      {}", out.join("report.md").display())?;
    }
    Ok(())
}

/// Run a built-in detector on a live stream.
#[derive(Debug, clap::Args)]
pub struct DetectArgs {
    /// Connect to a replayer (`blastradius replay --listen ADDR`) and follow its stream,
    /// running the detector one event at a time (the batch detector's own state and rule)
    /// and sending each finding back at once.
    #[arg(long, value_name = "ADDR")]
    pub follow: String,
    /// The detector: exact (every user's full state) or streaming (bounded state: see
    /// --memory-limit and --users); or a discovery baseline, policy-replay or token-rate,
    /// which is not told the bug and sends alarms ({"alarm":{...}}, data/README §14) that
    /// the replay times and scores.
    #[arg(long, default_value = "exact")]
    pub detector: String,
    /// For a discovery baseline: a dataset whose deploys.parquet says each deploy's
    /// service (the platform's deploy list, which a detection team has), so a page blames
    /// the photo API's latest deploy. Without it, a page blames the latest deploy in the
    /// stream, of any service.
    #[arg(long, value_name = "DATASET")]
    pub deploys: Option<PathBuf>,
    /// The streaming detector's whole state budget, in bytes. A stream has one state, not
    /// one per shard: the default is what the batch run gives the default dataset
    /// (8 shards of 64 MiB).
    #[arg(long, default_value_t = 8 * blastradius_analyzer::streaming::DEFAULT_LIMIT, value_parser = super::util::whole::<u64>)]
    pub memory_limit: u64,
    /// How many users the streaming detector plans its budget for (photos kept per user
    /// follow from it); users past the budget are not tracked. Give the dataset's count.
    #[arg(long, default_value_t = 1_000_000, value_parser = super::util::whole::<u64>)]
    pub users: u64,
    /// Read the stream and throw it away, detecting nothing: to measure the replayer alone.
    #[arg(long)]
    pub discard: bool,
    /// Give up with an error when the replayer sends nothing (or reads none of the findings)
    /// for this many seconds. By default the detector waits as long as the connection is
    /// open: a replay's schedule may pause for long (`--from` sends the deploys at their
    /// own log time).
    #[arg(long, value_parser = positive)]
    pub idle_timeout: Option<u64>,
    /// Allowed lateness, in log time (e.g. 15m): hold each event until the stream has
    /// reached that much past it, then feed events in log order (ts, event_id). A damaged
    /// copy (`perturb --reorder D`) delivers events up to D late; with --lateness D or more
    /// the live answer is the batch one, and every finding comes D of log time later (the
    /// wall cost is D divided by the replay's speed-up). Without it events are taken as they
    /// come, and those out of order are counted.
    #[arg(long, value_name = "DURATION", allow_hyphen_values = true)]
    pub lateness: Option<String>,
    /// The stream is a control world's (`generate --no-incident`): it carries no deploy,
    /// and that is no damage (without the flag, a stream with no deploy is refused).
    #[arg(long)]
    pub control: bool,
}

pub fn run_detect(args: DetectArgs) -> Result<()> {
    let idle = args.idle_timeout.map(Duration::from_secs);
    if args.discard {
        let seen = blastradius_live::follow::discard(&args.follow, idle)?;
        eprintln!("discarded   {} bytes", seen.events);
        return Ok(());
    }
    let detector = match blastradius_analyzer::discover::known(&args.detector) {
        true => {
            let mut deploys = blastradius_analyzer::discover::Deploys::default();
            if let Some(path) = &args.deploys {
                let dataset = blastradius_dataset::Dataset::open(path)
                    .map_err(|e| anyhow::anyhow!("--deploys: {e}"))?;
                deploys
                    .read_services(&dataset)
                    .map_err(|e| anyhow::anyhow!("--deploys: {e}"))?;
                if !deploys.knows_services() {
                    bail!(
                        "--deploys {}: the dataset has no deploys.parquet (made before schema version 3); give a dataset made by this build",
                        path.display()
                    );
                }
            }
            blastradius_live::follow::Live::discover(&args.detector, deploys)
        }
        false if args.deploys.is_some() => bail!(
            "--deploys is for a discovery baseline (policy-replay, token-rate); `{}` is told the bug window by the stream",
            args.detector
        ),
        false => blastradius_live::follow::Live::new(
            &args.detector,
            super::analyze::memory_limit("--memory-limit", args.memory_limit)?,
            args.users.max(1),
        ),
    }
    .map_err(|e| anyhow::anyhow!("--detector {e}"))?;
    let discovery = detector.is_discovery();
    let lateness = args
        .lateness
        .as_deref()
        .map(|t| super::perturb::parse_duration("--lateness", t))
        .transpose()?;
    let seen = blastradius_live::follow::follow(&args.follow, detector, idle, lateness)?;
    // As batch refuses a log without deploys: the window is unknown, so "nothing found"
    // would be no answer at all.
    if seen.events > 0 && seen.deploys == 0 && !args.control && !discovery {
        bail!(
            "the stream from {} carried {} events and no bug deploy (bug_introduced, bug_fixed): the bug window is unknown, so nothing could be found; replay a log that holds them (every shard of a dataset does, unless it was made with generate --discovery, whose log does not say which deploy was the bug), or give --control if it is a control world's (generate --no-incident), which has none",
            args.follow,
            seen.events
        );
    }
    // As batch refuses it on a photo world: watching a log that is not there finds nothing,
    // which is no answer.
    if discovery && args.detector == "token-rate" && seen.events > 0 && seen.access_events == 0 {
        bail!(
            "the stream from {} carried {} events and no access-log row: token-rate watches a View-As world's access log (replay a world made with --scenario view-as-2018); on a photo world use policy-replay",
            args.follow,
            seen.events
        );
    }
    let access = match seen.access_events {
        0 => String::new(),
        n => format!(" ({n} of them access-log rows)"),
    };
    match discovery {
        true => eprintln!(
            "followed    {} events{access}, {} alarms sent, {} users tracked",
            seen.events, seen.alarms, seen.users_tracked
        ),
        false => eprintln!(
            "followed    {} events{access}, {} findings sent, {} users tracked",
            seen.events, seen.findings, seen.users_tracked
        ),
    }
    match lateness {
        None if seen.out_of_order > 0 => eprintln!(
            "disorder    {} events came after a later one and were applied as they came: the answer may differ from the batch one (give --lateness as long as the stream's delay; the replay report says how late they came)",
            seen.out_of_order
        ),
        Some(_) if seen.too_late > 0 => eprintln!(
            "too late    {} events came later than --lateness and were applied as they came ({} came out of order in all; raise --lateness)",
            seen.too_late, seen.out_of_order
        ),
        Some(_) => eprintln!(
            "lateness    {} events came out of order, all within --lateness and fed in log order; at most {} events held at once",
            seen.out_of_order, seen.most_held
        ),
        None => {}
    }
    if seen.events_untracked > 0 {
        eprintln!(
            "untracked   {} events of users past the streaming budget (raise --memory-limit or give --users)",
            seen.events_untracked
        );
    }
    Ok(())
}
