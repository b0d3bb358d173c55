//! `blastradius run`: the main job. Generates the dataset unless an identical one is already
//! there, then analyzes it with every detector.

use std::io::Write;
use std::time::Instant;

use anyhow::Result;

use super::analyze::default_out;
use super::generate;
use super::util::Terminal;
use blastradius_analyzer::analyze::{AnalyzeOptions, analyze};

/// Generate the default dataset (or reuse an identical one) and analyze it with every detector.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub world: generate::World,

    /// Worker threads for generation and replay. Default: the number of cores.
    #[arg(long)]
    pub threads: Option<usize>,

    /// Generate again, replacing the dataset at the default path: an identical one, or a
    /// different one (a damaged copy, another codec) that `run` otherwise refuses to replace.
    #[arg(long)]
    pub regenerate: bool,
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
        discovery: false,
        skip_resource_check: false,
    };
    let options = gen_args.options()?;
    options.validate()?;
    let mut out = super::util::Stdout::default();
    let differ = options.differences_from_existing();
    let older = options
        .existing_schema_version()
        .filter(|&v| v < blastradius_schema::SCHEMA_VERSION);
    if let (Some(v), Some([])) = (older, differ.as_deref()) {
        // This command's own dataset in an older layout: the same world, written again.
        writeln!(
            out,
            "replacing {} (schema version {v}; this build writes {})",
            options.out.display(),
            blastradius_schema::SCHEMA_VERSION
        )?;
        generate::check_resources(&options, false)?;
        generate::generate(&options)?;
    } else if !args.regenerate && differ == Some(vec![]) {
        writeln!(
            out,
            "reusing   {} (same version and parameters)",
            options.out.display()
        )?;
    } else if let (false, Some(differ)) = (args.regenerate, &differ) {
        // Someone's dataset (a damaged copy, another codec): replaced only when asked.
        anyhow::bail!(
            "{} holds a different dataset ({}); pass --regenerate to replace it with this one, or move it elsewhere",
            options.out.display(),
            differ.join(", ")
        );
    } else {
        generate::check_resources(&options, false)?;
        generate::generate(&options)?;
    }
    writeln!(out)?;
    let dataset = options.out.clone();
    let options = AnalyzeOptions {
        detectors: blastradius_analyzer::engine::detector_names()
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
