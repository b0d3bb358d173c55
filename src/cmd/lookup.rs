//! `blastradius lookup`: the help-center answer for one user.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use blastradius_analyzer::lookup::lookup;

use super::util::Stdout;

/// Was this user affected, by either incident? Which apps saw which photos (surface, first
/// when), which partners used their mailbox without a grant (calls, first and last, revoked
/// or never granted), and which apps hold a grant now. Reads only the user's shard.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The dataset.
    pub dataset: PathBuf,
    /// The user's id.
    #[arg(value_parser = super::util::whole::<u64>)]
    pub user: u64,
    #[command(flatten)]
    pub from: super::export::From,
    /// Answer as JSON, for machines.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let answer = lookup(&args.dataset, args.user, &args.from.source())?;
    let mut out = Stdout::default();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&answer)?)?;
    } else {
        write!(out, "{}", answer.to_text())?;
    }
    Ok(())
}
