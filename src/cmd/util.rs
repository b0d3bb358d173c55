//! Small helpers shared by subcommands.

use std::path::Path;

use anyhow::{Context, Result};
use blastradius_simulator::Scenario;

/// Resolves `--scenario`: a preset name, or the path of a TOML file.
pub fn load_scenario(name_or_file: &str) -> Result<Scenario> {
    if blastradius_simulator::scenario::PRESETS.contains(&name_or_file) {
        return Ok(Scenario::preset(name_or_file)?);
    }
    let path = Path::new(name_or_file);
    if path.is_file() || name_or_file.ends_with(".toml") {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--scenario {name_or_file}: cannot read the scenario file"))?;
        return Ok(Scenario::from_toml(&text, name_or_file)?);
    }
    Err(blastradius_simulator::Error::UnknownScenario(name_or_file.to_string()).into())
}

/// Peak resident memory of this process so far, in bytes, where the OS reports it.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
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
