//! `blastradius`: parses the command line and dispatches to the library crates.

mod cmd;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Simulate access-control bugs as labelled, event-sourced Parquet logs, and measure
/// detectors against the ground truth.
#[derive(Debug, Parser)]
#[command(name = "blastradius", version, about, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Generate(cmd::generate::Args),
    Analyze(cmd::analyze::Args),
    Run(cmd::run::Args),
    Perturb(cmd::perturb::Args),
    Stress(cmd::stress::Args),
    #[command(subcommand)]
    Bench(cmd::bench::Args),
    #[command(subcommand)]
    Scenario(cmd::scenario::Command),
}

fn main() -> ExitCode {
    blastradius_analyzer::keep_freed_memory();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Generate(args) => cmd::generate::run(args),
        Command::Analyze(args) => cmd::analyze::run(args),
        Command::Run(args) => cmd::run::run(args),
        Command::Perturb(args) => cmd::perturb::run(args),
        Command::Stress(args) => cmd::stress::run(args),
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

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
