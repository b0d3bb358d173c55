//! Which detectors exist, decided here once: each command that takes `--detector(s)` asks
//! this list what it may run and refuses with its wording. Adding a detector is its own file
//! and one line here.

use crate::detect::{Detector, Settings};

/// Where a detector can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Over a dataset's files (`analyze`, `stress`, `bench detectors`).
    Batch,
    /// One event at a time on a live stream (`detect --follow`, `bench live`).
    Live,
}

impl Mode {
    fn word(self) -> &'static str {
        match self {
            Mode::Batch => "batch",
            Mode::Live => "live",
        }
    }
}

/// Makes a batch replay detector with the run's settings.
pub type Make = fn(&Settings) -> Box<dyn Detector>;

/// One detector.
pub struct Entry {
    pub name: &'static str,
    /// One line, for help texts and reports.
    pub summary: &'static str,
    pub live: bool,
    /// The cargo feature a build needs for it, if any.
    pub feature: Option<&'static str>,
    /// Its batch replay detector (`None`: it runs its own way, as `sql` does).
    pub make: Option<Make>,
    /// Its form for the View-As incident, run over the access log of a View-As world.
    pub view_as: Option<crate::view_as::Form>,
}

/// Every detector, in the order reports list them.
pub const DETECTORS: &[Entry] = &[
    Entry {
        name: "exact",
        summary: "event-sourced replay: on a clean log, exactly the truth",
        live: true,
        feature: None,
        make: Some(|_| Box::new(crate::exact::Exact)),
        view_as: Some(crate::view_as::exact),
    },
    Entry {
        name: "naive",
        summary: "users with a photo grant to an app that called in the window: the \"up to\" bound",
        live: false,
        feature: None,
        make: Some(|_| Box::new(crate::naive::Naive)),
        view_as: Some(crate::view_as::precautionary),
    },
    Entry {
        name: "streaming",
        summary: "one pass with bounded per-user state (--shard-memory-limit)",
        live: true,
        feature: None,
        make: Some(|s| {
            Box::new(crate::streaming::Streaming {
                memory_limit: s.memory_limit,
            })
        }),
        view_as: None,
    },
    Entry {
        name: "sql",
        summary: "the rules as a DataFusion query, in this process or on a Ballista cluster",
        live: false,
        feature: Some("datafusion"),
        make: None,
        view_as: None,
    },
];

/// Whether this build has `entry`.
fn built(entry: &Entry) -> bool {
    match entry.feature {
        None => true,
        Some("datafusion") => cfg!(feature = "datafusion"),
        // A feature this list does not know how to test for yet: say it is missing.
        Some(_) => false,
    }
}

/// The detectors this build runs in `mode`, in order.
pub fn names(mode: Mode) -> Vec<&'static str> {
    DETECTORS
        .iter()
        .filter(|e| built(e) && (mode == Mode::Batch || e.live))
        .map(|e| e.name)
        .collect()
}

/// Why a name was refused: one wording for every command, which puts its flag and the name
/// before it (`--detector psychic: not a detector; ...`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No detector has that name; the ones of the mode.
    Unknown(Mode),
    /// This build lacks it; the cargo feature it needs.
    NotBuilt(&'static str),
    /// A batch detector where a live one was asked for.
    NotLive,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Unknown(mode) => write!(
                f,
                "not a detector; the {} detectors are {}",
                mode.word(),
                names(*mode).join(", ")
            ),
            Refusal::NotBuilt(feature) => write!(
                f,
                "this build does not have it; build with `cargo build --release --features {feature}`"
            ),
            Refusal::NotLive => write!(
                f,
                "not a live detector; the live detectors are {}",
                names(Mode::Live).join(", ")
            ),
        }
    }
}

/// The detector called `name`, if this build runs it in `mode`.
///
/// # Errors
/// A [`Refusal`]: an unknown name, one this build lacks, a batch detector asked to run live.
pub fn find(name: &str, mode: Mode) -> Result<&'static Entry, Refusal> {
    let entry = DETECTORS
        .iter()
        .find(|e| e.name == name)
        .ok_or(Refusal::Unknown(mode))?;
    // Not live whatever the build: say that first (building it would not help).
    if mode == Mode::Live && !entry.live {
        return Err(Refusal::NotLive);
    }
    if !built(entry) {
        return Err(Refusal::NotBuilt(entry.feature.unwrap_or_default()));
    }
    Ok(entry)
}

/// The replay detector called `name`, with default settings.
pub fn by_name(name: &str) -> Option<Box<dyn Detector>> {
    replay_detector(name, &Settings::default())
}

/// The batch replay detector called `name`, built with `settings` (`None` for an unknown
/// name or one that runs its own way, as `sql`).
pub fn replay_detector(name: &str, settings: &Settings) -> Option<Box<dyn Detector>> {
    let entry = find(name, Mode::Batch).ok()?;
    entry.make.map(|make| make(settings))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_wording_for_every_refusal() {
        assert_eq!(
            find("psychic", Mode::Batch).err().unwrap().to_string(),
            format!(
                "not a detector; the batch detectors are {}",
                names(Mode::Batch).join(", ")
            )
        );
        assert_eq!(
            find("naive", Mode::Live).err().unwrap().to_string(),
            "not a live detector; the live detectors are exact, streaming"
        );
        assert_eq!(names(Mode::Live), ["exact", "streaming"]);
        assert_eq!(find("sql", Mode::Live).err(), Some(Refusal::NotLive));
        assert!(names(Mode::Batch).starts_with(&["exact", "naive", "streaming"]));
        assert_eq!(
            names(Mode::Batch).contains(&"sql"),
            cfg!(feature = "datafusion")
        );
        for name in names(Mode::Batch) {
            let made = replay_detector(name, &Settings::default());
            assert_eq!(made.is_some(), name != "sql", "{name}");
            if let Some(d) = made {
                assert_eq!(d.name(), name);
            }
        }
    }
}
