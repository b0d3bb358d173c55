//! Small helpers shared by subcommands.

use std::io::Write;
use std::path::Path;

use anyhow::{Result, bail};
use blastradius_analyzer::analyze::Console;
use blastradius_analyzer::report::{DetectorReport, terminal_header, terminal_row};
use blastradius_simulator::Scenario;

pub use blastradius_analyzer::analyze::peak_rss_bytes;

/// Resolves `--scenario`: a preset name, or the path of a TOML file.
pub fn load_scenario(name_or_file: &str) -> Result<Scenario> {
    if blastradius_simulator::scenario::PRESETS.contains(&name_or_file) {
        return Ok(Scenario::preset(name_or_file)?);
    }
    let path = Path::new(name_or_file);
    if path.is_file() || name_or_file.ends_with(".toml") {
        let text = std::fs::read_to_string(path).map_err(|e| {
            anyhow::anyhow!("--scenario {name_or_file}: cannot read the scenario file ({e})")
        })?;
        return Ok(Scenario::from_toml(&text, name_or_file)?);
    }
    Err(blastradius_simulator::scenario::unknown(name_or_file).into())
}

/// `1234567` as `1.23M`.
pub fn si(n: f64) -> String {
    let (value, unit) = match n.abs() {
        x if x >= 1e9 => (n / 1e9, "G"),
        x if x >= 1e6 => (n / 1e6, "M"),
        x if x >= 1e3 => (n / 1e3, "k"),
        _ => (n, ""),
    };
    format!("{value:.2}{unit}")
}

/// Bytes as MiB or GiB.
pub fn bytes(n: u64) -> String {
    if n >= 1 << 30 {
        format!("{:.2} GiB", n as f64 / (1u64 << 30) as f64)
    } else {
        format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64)
    }
}

/// Standard output that survives a reader who stops reading (`| head -1`): after a broken
/// pipe, further lines are dropped and the command goes on to write its files, instead of
/// stopping half-way with exit 0 and nothing written.
#[derive(Debug, Default)]
pub struct Stdout {
    broken: bool,
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.broken {
            return Ok(buf.len());
        }
        match std::io::stdout().write(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.broken = true;
                Ok(buf.len())
            }
            other => other,
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.broken {
            return Ok(());
        }
        match std::io::stdout().flush() {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.broken = true;
                Ok(())
            }
            other => other,
        }
    }
}

/// The terminal as the analyzer's [`Console`]: a table on standard output, notes as
/// warnings on standard error.
#[derive(Debug, Default)]
pub struct Terminal {
    pub out: Stdout,
    header: bool,
}

impl Console for Terminal {
    fn note(&mut self, text: &str) {
        eprintln!("warning: {text}");
    }

    fn row(&mut self, row: &DetectorReport) {
        if !self.header {
            self.header = true;
            let _ = writeln!(self.out, "{}", terminal_header());
        }
        let _ = writeln!(self.out, "{}", terminal_row(row));
    }
}

/// The number of worker threads: the flag, or the number of cores.
pub fn threads(flag: Option<usize>) -> Result<usize> {
    match flag {
        Some(0) => bail!("--threads 0: give at least 1"),
        Some(n) => Ok(n),
        None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
    }
}

/// Parses `START/END` (UTC instants; `END` may be `never`) for `--bug-window`.
pub fn parse_window(text: &str) -> Result<(i64, i64)> {
    use blastradius_schema::time::parse_utc;
    let Some((a, b)) = text.split_once('/') else {
        bail!(
            "--bug-window {text}: expected START/END, e.g. 2018-09-13T00:00:00Z/2018-09-25T00:00:00Z"
        );
    };
    let start = parse_utc(a).map_err(|e| anyhow::anyhow!("--bug-window: {e}"))?;
    let end = if b == "never" {
        i64::MAX
    } else {
        parse_utc(b).map_err(|e| anyhow::anyhow!("--bug-window: {e}"))?
    };
    if start >= end {
        bail!("--bug-window {text}: the start must come before the end");
    }
    Ok((start, end))
}

/// Parses a whole number of 0 or more, for clap (`-1` gets this message, not "unknown flag").
pub fn whole<T: std::str::FromStr>(text: &str) -> std::result::Result<T, String> {
    text.trim().parse().map_err(|_| {
        if text.trim_start().starts_with('-') {
            "must not be negative".to_string()
        } else {
            "is not a whole number".to_string()
        }
    })
}

/// A whole number of at least 1 (a timeout of 0 would give up before it began).
pub fn positive(text: &str) -> std::result::Result<u64, String> {
    match whole::<u64>(text)? {
        0 => Err("must be at least 1".to_string()),
        n => Ok(n),
    }
}
