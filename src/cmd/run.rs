//! `blastradius run`: the main job. Generates the dataset unless an identical one is already
//! there, then analyzes it with every detector.

use std::io::Write;
use std::time::Instant;

use anyhow::Result;
use blastradius_simulator::dataset::Options;
use blastradius_simulator::manifest::Manifest;

use super::analyze::default_out;
use super::generate;
use super::util::Terminal;
use blastradius_analyzer::evaluate::{AnalyzeOptions, analyze};

/// Generate the default dataset (or reuse an identical one) and analyze it with every detector.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub world: generate::World,

    /// Worker threads for generation and replay. Default: the number of cores.
    #[arg(long)]
    pub threads: Option<usize>,

    /// Generate again even if an identical dataset is already there.
    #[arg(long)]
    pub regenerate: bool,
}

/// Whether the dataset at `options.out` was made by this version with these parameters and
/// is complete (the analyzer then checks every file's presence and size).
fn reusable(options: &Options) -> bool {
    let Ok(text) = std::fs::read_to_string(options.out.join("manifest.json")) else {
        return false;
    };
    let Ok(m) = serde_json::from_str::<Manifest>(&text) else {
        return false;
    };
    m.complete
        && m.perturbation.is_none()
        && m.truth_key.is_none()
        && m.generator == format!("blastradius {}", env!("CARGO_PKG_VERSION"))
        && m.users == options.users
        && m.seed == options.seed
        && m.shards == options.shards
        && m.compression == options.compression
        && m.scenario.toml == options.scenario.to_toml()
}

pub fn run(args: Args) -> Result<()> {
    let started = Instant::now();
    let gen_args = generate::Args {
        world: args.world.clone(),
        shards: None,
        shard: None,
        threads: args.threads,
        out: None,
        force: true,
        split_truth: None,
        skip_resource_check: false,
    };
    let options = gen_args.options()?;
    options.validate()?;
    let mut out = super::util::Stdout::default();
    if !args.regenerate && reusable(&options) {
        writeln!(
            out,
            "reusing   {} (same version and parameters)",
            options.out.display()
        )?;
    } else {
        generate::check_resources(&options, false)?;
        generate::generate(&options)?;
    }
    writeln!(out)?;
    let dataset = options.out.clone();
    let options = AnalyzeOptions {
        detectors: blastradius_analyzer::analyze::detector_names()
            .iter()
            .map(|s| s.to_string())
            .collect(),
        settings: Default::default(),
        threads: options.threads,
        verify: false,
        truth_key: None,
        score: true,
        out: default_out(&options.out),
        // The report of a dataset this command made: replaced on every run (only an
        // earlier report is ever replaced).
        force: true,
    };
    let mut terminal = Terminal::default();
    analyze(&dataset, &options, &mut terminal)?;
    let mut out = terminal.out;
    writeln!(
        out,
        "report      {}",
        options.out.join("report.md").display()
    )?;
    writeln!(out, "total       {:.1} s", started.elapsed().as_secs_f64())?;
    Ok(())
}
