//! `blastradius perturb`: damage a dataset's event log the way real pipelines do.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Result, bail};
use blastradius_simulator::perturb::{Faults, Truncation, perturb};

/// Copy a dataset with a damaged event log: dropped, duplicated, late and skewed events, and a
/// truncated shard. truth/ is copied unchanged (it is what happened); the manifest records
/// what was done.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The dataset to read.
    pub input: PathBuf,
    /// Where the damaged copy goes.
    #[arg(long, value_name = "OUT", required_unless_present = "output")]
    pub out: Option<PathBuf>,
    /// The older spelling of --out (a second positional argument), still taken.
    #[arg(hide = true, conflicts_with = "out")]
    pub output: Option<PathBuf>,
    /// Probability that a user event is lost.
    #[arg(long, default_value_t = 0.0)]
    pub drop: f64,
    /// Probability that a user event is delivered twice (same event_id).
    #[arg(long, default_value_t = 0.0)]
    pub duplicate: f64,
    /// Deliver events up to this late (file order shuffled within the bound, ts unchanged),
    /// e.g. 500ms, 30s, 5m.
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "0s",
        allow_hyphen_values = true
    )]
    pub reorder: String,
    /// Offset each app's clock by a fixed amount within ±DURATION (added to its events' ts).
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "0s",
        allow_hyphen_values = true
    )]
    pub skew: String,
    /// Truncate one shard (chosen by the seed): it loses every user event from a point on,
    /// as a file cut short does. The point is a duration before the end of the period (e.g.
    /// 25d, which in facebook-2018 cuts inside the bug window) or a UTC instant
    /// (2018-09-20T00:00:00Z). Cut by time, it means the same whatever the dataset's size.
    #[arg(long, value_name = "DURATION|TIME", allow_hyphen_values = true)]
    pub truncate: Option<String>,
    /// Seed of the damage; the same seed gives the same bytes. Its default is every command's
    /// (the main dataset's, 2018).
    #[arg(long, default_value_t = super::generate::DEFAULT_SEED, value_parser = super::util::whole::<u64>)]
    pub seed: u64,
    /// Replace an existing dataset at OUTPUT.
    #[arg(long)]
    pub force: bool,
}

/// Parses `--truncate`: a UTC instant, or a duration before the end of the period.
pub fn parse_truncation(text: &str) -> Result<Truncation> {
    if text.ends_with('Z') && text.contains('T') {
        let at = blastradius_schema::time::parse_utc(text)
            .map_err(|e| anyhow::anyhow!("--truncate: {e}"))?;
        return Ok(Truncation::At(at));
    }
    // A date without the time of day looks like a duration with an odd unit: say what is meant.
    if text.len() >= 8
        && text.as_bytes()[..4].iter().all(u8::is_ascii_digit)
        && text[4..].starts_with('-')
    {
        bail!(
            "--truncate {text}: give a UTC instant such as 2018-09-20T00:00:00Z, or a duration before the end of the period such as 3d"
        );
    }
    Ok(Truncation::BeforeEnd(parse_duration("--truncate", text)?))
}

/// Parses `250ms`, `30s`, `5m`, `2h`, `1d` or `10us` into microseconds.
pub fn parse_duration(flag: &str, text: &str) -> Result<i64> {
    use blastradius_schema::time::{DurationError, parse_duration_us};
    if text.trim_start().starts_with('-') {
        bail!("{flag} {text}: a duration cannot be negative; give e.g. {flag} 30s");
    }
    // Seconds or minutes? A bare number (but 0) is not a duration a reader can trust.
    if text.trim().parse::<f64>().is_ok_and(|n| n != 0.0) {
        bail!("{flag} {text}: give its unit, e.g. {flag} {text}s or {flag} {text}m");
    }
    match parse_duration_us(text) {
        Ok(us) if us >= 0.0 => Ok(us.round() as i64),
        Err(DurationError::Unit(unit)) => bail!(
            "{flag} {text}: unknown unit `{unit}`; use us, ms, s, m, h or d (e.g. {flag} 30s)"
        ),
        _ => bail!("{flag} {text}: expected a non-negative duration such as 500ms or 30s"),
    }
}

pub fn run(args: Args) -> Result<()> {
    if args.output.is_some() {
        eprintln!(
            "note: `perturb IN OUT` is the older spelling, kept for this release; write `perturb IN --out OUT`"
        );
    }
    let output = args
        .out
        .clone()
        .or_else(|| args.output.clone())
        .expect("clap requires --out or the positional form");
    let faults = Faults {
        drop: args.drop,
        duplicate: args.duplicate,
        reorder_us: parse_duration("--reorder", &args.reorder)?,
        skew_us: parse_duration("--skew", &args.skew)?,
        truncation: args.truncate.as_deref().map(parse_truncation).transpose()?,
        seed: args.seed,
    };
    let manifest = perturb(&args.input, &output, &faults, args.force)?;
    let p = manifest
        .perturbation
        .as_ref()
        .expect("perturb records what it did");
    let mut out = super::util::Stdout::default();
    writeln!(out, "dataset     {}", output.display())?;
    writeln!(
        out,
        "damage      {} dropped, {} duplicated, {} rows truncated{}",
        p.dropped,
        p.duplicated,
        p.truncated_rows,
        p.truncated_shard
            .map(|s| format!(
                " (shard {s}, from {})",
                p.truncated_at.as_deref().unwrap_or("?")
            ))
            .unwrap_or_default()
    )?;
    writeln!(out, "events      {}", manifest.counts.events)?;
    Ok(())
}
