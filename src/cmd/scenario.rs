//! `blastradius scenario`: print presets as TOML.

use anyhow::Result;
use clap::Subcommand;

/// Inspect the built-in scenarios.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a scenario as TOML: a starting point for a `--scenario FILE.toml`.
    Show {
        /// A preset name (facebook-2018, messaging-partners, shallow-paging) or a scenario file.
        #[arg(default_value = "facebook-2018")]
        name: String,
    },
    /// List the built-in presets.
    List,
    /// Print the accepted range of every scenario number, as a Markdown table.
    Ranges,
}

pub fn run(command: Command) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match command {
        Command::Show { name } => {
            let scenario = super::util::load_scenario(&name)?;
            writeln!(
                out,
                "# blastradius scenario; pass as --scenario FILE.toml after editing."
            )?;
            writeln!(
                out,
                "# Keys left out of a file keep the values of `preset`."
            )?;
            writeln!(out, "preset = \"{}\"", preset_of(&scenario.name))?;
            write!(out, "{}", scenario.to_toml())?;
        }
        Command::Ranges => {
            write!(
                out,
                "{}",
                blastradius_simulator::scenario::ranges_markdown()
            )?;
        }
        Command::List => {
            for name in blastradius_simulator::scenario::PRESETS {
                let s = blastradius_simulator::Scenario::preset(name)?;
                writeln!(out, "{name:20} {}", s.description)?;
            }
        }
    }
    Ok(())
}

fn preset_of(name: &str) -> &str {
    blastradius_simulator::scenario::PRESETS
        .iter()
        .find(|p| **p == name)
        .copied()
        .unwrap_or(blastradius_simulator::scenario::PRESETS[0])
}
