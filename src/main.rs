//! `blastradius`: parses the command line and dispatches to the library crates.

mod cmd;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// Simulate access-control bugs as labelled, event-sourced Parquet logs, and measure
/// detectors against the ground truth.
#[derive(Debug, Parser)]
#[command(
    name = "blastradius",
    version,
    about,
    max_term_width = 100,
    allow_negative_numbers = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Generate(cmd::generate::Args),
    Analyze(cmd::analyze::Args),
    Score(cmd::score::Args),
    Discover(cmd::discover::Args),
    #[command(subcommand)]
    Export(cmd::export::Args),
    Lookup(cmd::lookup::Args),
    Run(cmd::run::Args),
    Merge(cmd::merge::Args),
    #[command(subcommand)]
    Cluster(cmd::cluster::Args),
    Perturb(cmd::perturb::Args),
    Stress(cmd::stress::Args),
    Replay(cmd::replay::Args),
    Detect(cmd::replay::DetectArgs),
    #[command(subcommand)]
    Bench(cmd::bench::Args),
    #[command(subcommand)]
    Scenario(cmd::scenario::Command),
}

fn main() -> ExitCode {
    blastradius_analyzer::keep_freed_memory();
    // `--seed -1` and `--skew -5m` are values (then refused with a message about the
    // value), not unknown flags: every subcommand takes negative numbers as values.
    let command = negative_numbers(Cli::command());
    let cli = match Cli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let result = match cli.command {
        Command::Generate(args) => cmd::generate::run(args),
        Command::Analyze(args) => cmd::analyze::run(args),
        Command::Score(args) => cmd::score::run(args),
        Command::Discover(args) => cmd::discover::run(args),
        Command::Export(args) => cmd::export::run(args),
        Command::Lookup(args) => cmd::lookup::run(args),
        Command::Run(args) => cmd::run::run(args),
        Command::Merge(args) => cmd::merge::run(args),
        Command::Cluster(args) => cmd::cluster::run(args),
        Command::Perturb(args) => cmd::perturb::run(args),
        Command::Stress(args) => cmd::stress::run(args),
        Command::Replay(args) => cmd::replay::run_replay(args),
        Command::Detect(args) => cmd::replay::run_detect(args),
        Command::Bench(args) => cmd::bench::run(args),
        Command::Scenario(command) => cmd::scenario::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn negative_numbers(command: clap::Command) -> clap::Command {
    command
        .allow_negative_numbers(true)
        .mut_subcommands(negative_numbers)
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
