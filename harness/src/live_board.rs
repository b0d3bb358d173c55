//! `bench live`: the replayer alone, then every contender rated (see [`crate::rating`]),
//! kept as `live.json` and `live.md` in a staged folder.

use std::path::{Path, PathBuf};

use blastradius_dataset::Dataset;
use blastradius_live::report::LiveReport;
use blastradius_live::wire::Format;
use blastradius_safefs::{Kind, Stage};
use serde::Serialize;

use crate::Error;
use crate::argv::Follow;
use crate::rating::{
    Attempt, Contender, MAX_FINAL_LAG_MS, MAX_FINAL_LAG_SHARE, MAX_P99_MS, MIN_USER_F1, Rating,
    rate, throughput,
};

/// What to rate, and where the results go.
#[derive(Clone, Debug)]
pub struct Options {
    pub dataset: PathBuf,
    pub contenders: Vec<Contender>,
    /// The first rate tried, its ceiling, and the bisection steps (see [`crate::rating::rate`]).
    pub start: f64,
    pub max: f64,
    pub steps: u32,
    pub out: PathBuf,
    pub force: bool,
    /// This executable, which replays (and follows, for the built-in contenders).
    pub exe: PathBuf,
    /// The command line that asked for the rating, as the results name it.
    pub command: String,
}

/// The built-in live detector `name` (as the registry names it) as a contender started from
/// `exe`: `None` for one this benchmark cannot start. `users` and `memory_limit` size the
/// streaming detector's state.
pub fn builtin(name: &str, exe: &Path, users: u64, memory_limit: u64) -> Option<Contender> {
    match name {
        "exact" => Some(Contender {
            name: "exact (incremental)".into(),
            command: Follow::default().command(exe),
            format: Format::Arrow,
        }),
        "streaming" => Some(Contender {
            name: format!("streaming (incremental, {} MiB)", memory_limit >> 20),
            command: Follow {
                streaming: Some((users, memory_limit)),
                discard: false,
            }
            .command(exe),
            format: Format::Arrow,
        }),
        _ => None,
    }
}

/// The users of the dataset at `dataset` (what the streaming contender is sized for).
///
/// # Errors
/// A dataset that does not open.
pub fn users_of(dataset: &Path) -> Result<u64, Error> {
    let d = Dataset::open(dataset)?;
    // A rating needs user F1 at 0.99: a control world has no user to find.
    if d.manifest.control {
        return Err(Error::Input {
            path: dataset.join("manifest.json"),
            message: "is a control world (generate --no-incident): a live rating needs users to find (user F1 at least 0.99); rate on the world it controls, and follow a control world's replay with `detect --follow --control` to count false positives".into(),
        });
    }
    Ok(d.manifest.users)
}

/// The replayer alone, in one format.
#[derive(Clone, Debug, Serialize)]
pub struct Alone {
    pub format: String,
    pub events: u64,
    pub seconds: f64,
    pub events_per_second: f64,
}

/// The criteria a contender is judged by (see [`crate::rating`]).
#[derive(Clone, Debug, Serialize)]
pub struct Criteria {
    pub max_p99_ms: f64,
    pub min_user_f1: f64,
    pub max_final_lag_ms: f64,
    pub max_final_lag_share: f64,
}

/// The whole result.
#[derive(Clone, Debug, Serialize)]
pub struct LiveBoard {
    pub command: String,
    pub machine: String,
    pub dataset: String,
    /// Events of the dataset, as the replayer sent them.
    pub events: u64,
    pub criteria: Criteria,
    pub replayer_alone: Vec<Alone>,
    pub ratings: Vec<Rating>,
    /// The first rate tried (not in `live.json`, which has always named it in the command).
    #[serde(skip)]
    pub start: f64,
}

/// What happens while the board runs, for the terminal.
pub enum Progress<'a> {
    /// The replayer alone, in one format.
    Alone(&'a Alone),
    /// One attempt of a contender.
    Attempt(&'a Contender, &'a Attempt),
    /// A contender's rating.
    Rated(&'a Rating),
}

fn format_name(f: Format) -> &'static str {
    match f {
        Format::Json => "json",
        Format::Arrow => "arrow",
    }
}

/// Times the replayer alone (JSON, then Arrow), rates every contender, and writes
/// `live.json` and `live.md` to `options.out` (staged; an earlier rating is replaced only
/// with `force`).
///
/// # Errors
/// An output that may not be written (checked before any work), or a replay that fails.
pub fn run(options: &Options, mut progress: impl FnMut(Progress)) -> Result<LiveBoard, Error> {
    let dataset = &options.dataset;
    blastradius_safefs::check(
        &options.out,
        Kind::Output("bench live"),
        options.force,
        "--out",
        &[dataset],
    )?;
    let mut replayer_alone = Vec::new();
    for format in [Format::Json, Format::Arrow] {
        let r: LiveReport = throughput(dataset, &options.exe, format)?;
        let alone = Alone {
            format: format_name(format).into(),
            events: r.events_sent,
            seconds: r.seconds,
            events_per_second: r.events_per_second,
        };
        progress(Progress::Alone(&alone));
        replayer_alone.push(alone);
    }
    let mut ratings = Vec::new();
    for c in &options.contenders {
        let rating = rate(dataset, c, options.start, options.max, options.steps, |a| {
            progress(Progress::Attempt(c, a))
        })?;
        progress(Progress::Rated(&rating));
        ratings.push(rating);
    }
    let board = LiveBoard {
        command: options.command.clone(),
        machine: crate::scaling::machine(),
        dataset: dataset.display().to_string(),
        events: replayer_alone.first().map_or(0, |a| a.events),
        criteria: Criteria {
            max_p99_ms: MAX_P99_MS,
            min_user_f1: MIN_USER_F1,
            max_final_lag_ms: MAX_FINAL_LAG_MS,
            max_final_lag_share: MAX_FINAL_LAG_SHARE,
        },
        replayer_alone,
        ratings,
        start: options.start,
    };
    let stage = Stage::begin(
        &options.out,
        Kind::Output("bench live"),
        options.force,
        "--out",
        &[dataset],
    )?;
    let write = |name: &str, text: String| {
        std::fs::write(stage.path().join(name), text).map_err(|e| Error::Input {
            path: options.out.join(name),
            message: format!("cannot write ({e})"),
        })
    };
    // Through a JSON value, whose keys are sorted: the file's form since it was first kept.
    let value = serde_json::to_value(&board).expect("a board serializes");
    write(
        "live.json",
        serde_json::to_string_pretty(&value).expect("serializes") + "\n",
    )?;
    write("live.md", board.to_markdown())?;
    stage.commit()?;
    Ok(board)
}

impl LiveBoard {
    /// The rating as Markdown: the criteria, a row per contender with its attempts, and the
    /// replayer alone.
    pub fn to_markdown(&self) -> String {
        let mut md = format!(
            "# Live rating\n\n`{}` on {} ({} events of `{}`). A detector keeps up at a rate when the replay ends at most {} ms plus {}% of the schedule's length behind schedule, the p99 latency of first detections (from the intended send time of the row that made each true) is at most {} ms and user F1 at least {} (in a View-As world, View-As user F1 too, when the detector names the attack's users). From the start rate ({:.0} events/s) the rate doubles while attempts pass and halves while they fail, then bisects.\n\n| detector | stream | rating (events/s) | attempts |\n|---|---|---:|---|\n",
            self.command,
            self.machine,
            self.events,
            self.dataset,
            self.criteria.max_final_lag_ms,
            self.criteria.max_final_lag_share * 100.0,
            self.criteria.max_p99_ms,
            self.criteria.min_user_f1,
            self.start
        );
        for r in &self.ratings {
            let tried: Vec<String> = r
                .attempts
                .iter()
                .map(|a| format!("{:.0}{}", a.rate, if a.passed { " ✓" } else { " ✗" }))
                .collect();
            md.push_str(&format!(
                "| {} | {} | {:.0} | {} |\n",
                r.detector,
                r.format,
                r.rating,
                tried.join(", ")
            ));
        }
        md.push_str("\nThe replayer alone, to a client that reads and discards, the rate unbounded:\n\n| stream | events/s |\n|---|---:|\n");
        for a in &self.replayer_alone {
            md.push_str(&format!(
                "| {} | {:.2}M |\n",
                a.format,
                a.events_per_second / 1e6
            ));
        }
        md
    }
}
