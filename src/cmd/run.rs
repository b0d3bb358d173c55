//! `blastradius run`: the main job. Generates the dataset unless an identical one is already
//! there, then analyzes it with every detector.

use std::io::Write;
use std::time::Instant;

use anyhow::Result;
use blastradius_simulator::dataset::Options;
use blastradius_simulator::manifest::Manifest;

use super::analyze::{analyze_dataset, default_out};
use super::generate;

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
    };
    let options = gen_args.options()?;
    options.validate()?;
    let mut out = std::io::stdout().lock();
    if !args.regenerate && reusable(&options) {
        writeln!(
            out,
            "reusing   {} (same version and parameters)",
            options.out.display()
        )?;
    } else {
        drop(out);
        generate::generate(&options)?;
        out = std::io::stdout().lock();
    }
    writeln!(out)?;
    let names = blastradius_analyzer::analyze::detector_names();
    analyze_dataset(
        &options.out,
        &names,
        &blastradius_analyzer::detect::Settings::default(),
        options.threads,
        &default_out(&options.out),
        false,
        &mut out,
    )?;
    writeln!(out, "total       {:.1} s", started.elapsed().as_secs_f64())?;
    Ok(())
}
