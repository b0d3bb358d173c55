//! The command lines of this binary that the harnesses run as children (a benchmark times a
//! whole process), built in one place from typed values: a flag's spelling lives here once,
//! and `tests/flags.rs` runs every one of them through the binary's own parser, so a renamed
//! flag fails a test instead of a benchmark at run time.

use std::path::Path;

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// `generate`.
#[derive(Clone, Debug)]
pub struct Generate<'a> {
    pub users: u64,
    pub seed: Option<u64>,
    pub scenario: Option<&'a str>,
    /// `--shards N` and, with `shard`, `--shard I/N`.
    pub shards: Option<u32>,
    pub shard: Option<u32>,
    pub threads: Option<usize>,
    pub skip_resource_check: bool,
    /// `--no-incident`: the control world.
    pub no_incident: bool,
    pub out: &'a Path,
}

impl Default for Generate<'_> {
    /// Every flag left to `generate`'s own default; give `users` and `out`.
    fn default() -> Self {
        Generate {
            users: 0,
            seed: None,
            scenario: None,
            shards: None,
            shard: None,
            threads: None,
            skip_resource_check: false,
            no_incident: false,
            out: Path::new(""),
        }
    }
}

impl Generate<'_> {
    pub fn args(&self) -> Vec<String> {
        let mut a = vec!["generate".into(), "--users".into(), self.users.to_string()];
        if let Some(seed) = self.seed {
            a.extend(["--seed".into(), seed.to_string()]);
        }
        if let Some(scenario) = self.scenario {
            a.extend(["--scenario".into(), scenario.to_string()]);
        }
        if let Some(n) = self.shards {
            a.extend(["--shards".into(), n.to_string()]);
            if let Some(i) = self.shard {
                a.extend(["--shard".into(), format!("{i}/{n}")]);
            }
        }
        if let Some(t) = self.threads {
            a.extend(["--threads".into(), t.to_string()]);
        }
        if self.skip_resource_check {
            a.push("--skip-resource-check".into());
        }
        if self.no_incident {
            a.push("--no-incident".into());
        }
        a.extend(["--out".into(), s(self.out)]);
        a
    }
}

/// `perturb`, with the faults as `perturb`'s flags (e.g. [`crate::leaderboard::DEFAULT_DAMAGE`]).
#[derive(Clone, Debug)]
pub struct Perturb<'a> {
    pub input: &'a Path,
    pub out: &'a Path,
    pub faults: &'a [&'a str],
}

impl Perturb<'_> {
    pub fn args(&self) -> Vec<String> {
        let mut a = vec!["perturb".into(), s(self.input), "--out".into(), s(self.out)];
        a.extend(self.faults.iter().map(|f| f.to_string()));
        a
    }
}

/// `analyze` with one detector.
#[derive(Clone, Debug)]
pub struct Analyze<'a> {
    pub dataset: &'a Path,
    pub detector: &'a str,
    pub threads: Option<usize>,
    pub out: &'a Path,
}

impl Analyze<'_> {
    pub fn args(&self) -> Vec<String> {
        let mut a = vec![
            "analyze".into(),
            s(self.dataset),
            "--detector".into(),
            self.detector.to_string(),
        ];
        if let Some(t) = self.threads {
            a.extend(["--threads".into(), t.to_string()]);
        }
        a.extend(["--out".into(), s(self.out)]);
        a
    }
}

/// `discover` with one detector.
#[derive(Clone, Debug)]
pub struct Discover<'a> {
    pub dataset: &'a Path,
    pub detector: &'a str,
    pub out: &'a Path,
}

impl Discover<'_> {
    pub fn args(&self) -> Vec<String> {
        vec![
            "discover".into(),
            s(self.dataset),
            "--detector".into(),
            self.detector.to_string(),
            "--out".into(),
            s(self.out),
        ]
    }
}

/// `detect --follow {addr}`, as a shell command whose `{addr}` the replayer fills in.
#[derive(Clone, Debug, Default)]
pub struct Follow {
    /// `streaming` with its state budget and the users it plans for; `None`: `exact`.
    pub streaming: Option<(u64, u64)>,
    /// Read and throw away (the replayer alone is timed).
    pub discard: bool,
}

impl Follow {
    /// The arguments after the executable, `{addr}` among them.
    pub fn args(&self) -> Vec<String> {
        let mut a = vec!["detect".into(), "--follow".into(), "{addr}".into()];
        if let Some((users, memory_limit)) = self.streaming {
            a.extend([
                "--detector".into(),
                "streaming".into(),
                "--users".into(),
                users.to_string(),
                "--memory-limit".into(),
                memory_limit.to_string(),
            ]);
        }
        if self.discard {
            a.push("--discard".into());
        }
        a
    }

    /// The shell command that runs it with the executable `exe`.
    pub fn command(&self, exe: &Path) -> String {
        std::iter::once(crate::exec::quote(exe))
            .chain(self.args())
            .collect::<Vec<_>>()
            .join(" ")
    }
}
