//! `blastradius export`: what each app's developer and the notification team need.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use blastradius_analyzer::export::{Source, export_apps, export_users};

use super::util::Stdout;

/// Where the exposures come from: the dataset's truth (default), its answer key, or any
/// detector's findings.
#[derive(Debug, Clone, clap::Args)]
pub struct From {
    /// Answer from this findings folder (any detector's; data/README.md, "Findings")
    /// instead of the truth.
    #[arg(long, value_name = "DIR", conflicts_with = "truth")]
    pub findings: Option<PathBuf>,
    /// The answer key of a blind dataset.
    #[arg(long, value_name = "KEY")]
    pub truth: Option<PathBuf>,
}

impl From {
    pub fn source(&self) -> Source {
        match (&self.findings, &self.truth) {
            (Some(d), _) => Source::Findings(d.clone()),
            (None, Some(k)) => Source::Key(k.clone()),
            (None, None) => Source::Truth,
        }
    }
}

/// Export the exposures for the people who act on them.
#[derive(Debug, clap::Subcommand)]
pub enum Args {
    /// For every affected app (or one, --app), its affected users and the exact photos to
    /// delete, with the app's and provider's names: Parquet partitioned by app
    /// (app_id=N/photos.parquet, app_id=N/users.parquet) and apps.parquet listing them.
    Apps {
        /// The dataset.
        dataset: PathBuf,
        #[command(flatten)]
        from: From,
        /// Export this app only.
        #[arg(long, value_parser = super::util::whole::<u32>)]
        app: Option<u32>,
        /// Also write every table as CSV beside its Parquet.
        #[arg(long)]
        csv: bool,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        /// Replace an earlier export at --out.
        #[arg(long)]
        force: bool,
    },
    /// The notification list: one row per affected user with the apps involved, as
    /// users.csv (for a mail merge) and users.parquet.
    Users {
        /// The dataset.
        dataset: PathBuf,
        #[command(flatten)]
        from: From,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        /// Replace an earlier export at --out.
        #[arg(long)]
        force: bool,
    },
}

/// What the source does not answer, on standard error: the export is partial there.
fn warn(warnings: &[String]) {
    for w in warnings {
        eprintln!("warning: {w}");
    }
}

pub fn run(args: Args) -> Result<()> {
    let mut out = Stdout::default();
    match args {
        Args::Apps {
            dataset,
            from,
            app,
            csv,
            out: dir,
            force,
        } => {
            let s = export_apps(&dataset, &from.source(), app, &dir, force, csv)?;
            writeln!(
                out,
                "exported    {} app(s) ({} of them partners), {} user(s): {} distinct photo(s) exposed, held as {} copies by apps (to delete); {} mailbox call(s) without a grant",
                s.apps, s.partners, s.users, s.photos, s.copies, s.violations
            )?;
            writeln!(out, "folder      {}", dir.display())?;
            warn(&s.warnings);
        }
        Args::Users {
            dataset,
            from,
            out: dir,
            force,
        } => {
            let s = export_users(&dataset, &from.source(), &dir, force)?;
            writeln!(
                out,
                "exported    {} user(s) to notify: {} distinct photo(s) exposed to {} app(s), {} mailbox call(s) without a grant by {} partner(s)",
                s.users, s.photos, s.apps, s.violations, s.partners
            )?;
            writeln!(out, "list        {}", dir.join("users.csv").display())?;
            warn(&s.warnings);
        }
    }
    Ok(())
}
