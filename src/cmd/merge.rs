//! `blastradius merge`: the parts of one run, written apart, back into one dataset.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;

use super::util::Stdout;

/// Merge the parts of one run, each written alone by `generate --shard I/N` (on one machine
/// or many), into the dataset the single run writes, byte for byte. The parts must be of
/// one run (same version, seed, users, shard count, scenario, compression), each shard
/// once, all of them. Their files are linked (copied only across filesystems); the parts
/// are left as they are.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The part folders, in any order.
    #[arg(required = true, value_name = "PART")]
    pub parts: Vec<PathBuf>,
    /// Where the merged dataset goes.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace an existing dataset at --out.
    #[arg(long)]
    pub force: bool,
    /// Check every part file's SHA-256 first (reads every byte; sizes are always checked).
    #[arg(long)]
    pub verify: bool,
}

pub fn run(args: Args) -> Result<()> {
    let merged =
        blastradius_simulator::merge::merge(&args.parts, &args.out, args.force, args.verify)?;
    let m = &merged.manifest;
    let mut o = Stdout::default();
    writeln!(
        o,
        "merged      {} parts: {} users, {} events, {} affected users",
        m.shards,
        m.users,
        m.counts.events,
        m.counts.affected_users.unwrap_or(0)
    )?;
    writeln!(
        o,
        "files       {} linked, {} copied (no hard link possible)",
        merged.linked, merged.copied
    )?;
    writeln!(o, "dataset     {}", args.out.display())?;
    Ok(())
}
