//! Outside detectors run as commands: `sh -c 'CMD {dataset} {out}'`, timed as whole
//! processes, their peak memory taken from the kernel, killed with everything they started
//! when they outlive their time limit.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

/// An outside detector: a name and a command template holding `{out}` (the findings folder
/// it writes, created empty) and usually `{dataset}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecDetector {
    pub name: String,
    pub command: String,
}

impl ExecDetector {
    /// Checks that the command names where its findings go.
    ///
    /// # Errors
    /// A message naming the flag when `{out}` is missing.
    pub fn new(name: String, command: String) -> Result<Self, String> {
        if !command.contains("{out}") {
            return Err(format!(
                "--exec '{command}': the command must name {{out}}, the folder it writes its findings to (e.g. 'python detect.py {{dataset}} {{out}}')"
            ));
        }
        if name.is_empty() {
            return Err("--name: give a non-empty name".into());
        }
        Ok(ExecDetector { name, command })
    }

    /// The command line for one run, with both paths quoted for the shell.
    pub fn command_for(&self, dataset: &Path, out: &Path) -> String {
        self.command
            .replace("{dataset}", &quote(dataset))
            .replace("{out}", &quote(out))
    }
}

/// Refuses outside detectors whose names would share a folder or a row: two names that
/// read the same once made safe for a path (`a/b` and `a_b`), or one that is a built-in
/// detector's (`detectors`), since each detector's findings are scored from its own folder.
///
/// # Errors
/// A message naming both.
pub fn check_names(detectors: &[String], exec: &[ExecDetector]) -> Result<(), String> {
    let safe = blastradius_analyzer::analyze::safe_name;
    let mut seen: Vec<(String, &str)> = detectors.iter().map(|d| (safe(d), d.as_str())).collect();
    for x in exec {
        if let Some((_, other)) = seen.iter().find(|(s, _)| *s == safe(&x.name)) {
            return Err(format!(
                "--name {}: it would share its findings folder and its row with `{other}`; give each detector a name of its own",
                x.name
            ));
        }
        seen.push((safe(&x.name), x.name.as_str()));
    }
    Ok(())
}

/// `path` as one shell word.
pub fn quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', "'\\''"))
}

/// Why a run gave no findings.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "failure", rename_all = "snake_case")]
pub enum Failure {
    /// Exited with a non-zero status; the end of what it wrote to standard error.
    Exit { code: i32, stderr: String },
    /// Killed by a signal.
    Signal { signal: i32, stderr: String },
    /// Outlived its time limit and was killed.
    Timeout { seconds: f64 },
    /// Could not be started.
    Spawn { message: String },
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Exit { code, stderr } => write!(f, "exit {code}: {stderr}"),
            Failure::Signal { signal, stderr } => write!(f, "killed by signal {signal}: {stderr}"),
            Failure::Timeout { seconds } => {
                write!(f, "still running after {seconds:.0} s: killed")
            }
            Failure::Spawn { message } => write!(f, "cannot start: {message}"),
        }
    }
}

/// What one run cost, and whether it succeeded.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Outcome {
    pub wall_seconds: f64,
    /// The largest resident set of any one process of the command: those it waited for (from
    /// `wait4`) and those it started without waiting for them (sampled from /proc every
    /// 50 ms), such as the JVM a PySpark driver starts.
    pub peak_memory_bytes: u64,
    pub failure: Option<Failure>,
}

/// The processes under `root` now alive (its children, theirs...), `root` included, from
/// /proc: each one's parent is the fourth field of its `stat`.
fn descendants(root: i32) -> Vec<i32> {
    let mut children: std::collections::HashMap<i32, Vec<i32>> = Default::default();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<i32>().ok());
        if let Some(ppid) = ppid {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let (mut out, mut todo) = (Vec::new(), vec![root]);
    while let Some(p) = todo.pop() {
        out.push(p);
        todo.extend(children.get(&p).into_iter().flatten());
    }
    out
}

/// The largest peak resident set (`VmHWM`, a high-water mark the kernel keeps) among `root`
/// and the processes under it now alive; 0 where /proc says nothing.
fn tree_peak(root: i32) -> u64 {
    descendants(root)
        .into_iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|status| {
            let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .max()
        .map_or(0, |kib| kib * 1024)
}

/// The last `n` characters of a log, on one line.
fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let chars: Vec<char> = one_line.chars().collect();
    let start = chars.len().saturating_sub(n);
    chars[start..].iter().collect()
}

/// Runs `command` with `sh -c`, its output to `log` (`.stdout` and `.stderr` beside it),
/// for at most `timeout`.
pub fn run(command: &str, log: &Path, timeout: Duration) -> Outcome {
    use std::os::unix::process::CommandExt;
    let (out_log, err_log) = (with_ext(log, "stdout"), with_ext(log, "stderr"));
    let spawn_failure = |message: String| Outcome {
        wall_seconds: 0.0,
        peak_memory_bytes: 0,
        failure: Some(Failure::Spawn { message }),
    };
    let (Ok(out_file), Ok(err_file)) = (File::create(&out_log), File::create(&err_log)) else {
        return spawn_failure(format!("cannot create the logs {}", log.display()));
    };
    let started = Instant::now();
    let child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(out_file)
        .stderr(err_file)
        // Its own process group, so a timeout kills what it started too.
        .process_group(0)
        .spawn();
    let child = match child {
        Ok(c) => c,
        Err(e) => return spawn_failure(e.to_string()),
    };
    let pid = child.id() as i32;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let mut timed_out = false;
    let (mut sampled, mut last_sample) = (0u64, None::<Instant>);
    loop {
        // A process the command does not wait for is not in wait4's figure: its peak is
        // sampled while it lives.
        if last_sample.is_none_or(|t| t.elapsed() >= Duration::from_millis(50)) {
            sampled = sampled.max(tree_peak(pid));
            last_sample = Some(Instant::now());
        }
        // SAFETY: the pid is our child's; status and usage are valid for writes.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid || r < 0 {
            break;
        }
        if started.elapsed() > timeout {
            timed_out = true;
            // SAFETY: signals the child's own process group.
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            // SAFETY: as above, now blocking until it is gone.
            unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let wall_seconds = started.elapsed().as_secs_f64();
    // Whatever it left running in the background goes too.
    // SAFETY: signals a process group we made; ESRCH when it is empty.
    unsafe { libc::kill(-pid, libc::SIGKILL) };
    let failure = if timed_out {
        Some(Failure::Timeout {
            seconds: timeout.as_secs_f64(),
        })
    } else if libc::WIFSIGNALED(status) {
        Some(Failure::Signal {
            signal: libc::WTERMSIG(status),
            stderr: tail(&err_log, 300),
        })
    } else if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) != 0 {
        Some(Failure::Exit {
            code: libc::WEXITSTATUS(status),
            stderr: tail(&err_log, 300),
        })
    } else {
        None
    };
    Outcome {
        wall_seconds,
        peak_memory_bytes: (usage.ru_maxrss.max(0) as u64 * 1024).max(sampled),
        failure,
    }
}

fn with_ext(path: &Path, ext: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".");
    p.push(ext);
    PathBuf::from(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_is_timed_and_its_failures_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("run");
        let ok = run("true", &log, Duration::from_secs(10));
        assert_eq!(ok.failure, None);
        assert!(ok.peak_memory_bytes > 0);
        let bad = run("echo broken >&2; exit 3", &log, Duration::from_secs(10));
        assert_eq!(
            bad.failure,
            Some(Failure::Exit {
                code: 3,
                stderr: "broken".into()
            })
        );
        let slow = run("sleep 30 & sleep 30", &log, Duration::from_millis(200));
        assert!(matches!(slow.failure, Some(Failure::Timeout { .. })));
        assert!(
            slow.wall_seconds < 5.0,
            "killed at once: {}",
            slow.wall_seconds
        );
    }

    // A PySpark driver starts its JVM and never waits for it, so wait4's figure left the
    // JVM out (63 MiB for a run whose JVM held 2 GiB). A grandchild that is not waited for
    // holds 150 MiB here; the peak must show it.
    #[test]
    fn the_peak_counts_a_process_the_command_does_not_wait_for() {
        let dir = tempfile::tempdir().unwrap();
        // The child says when it holds the memory; the parent then lives on for 1 s (20
        // samples) and exits without waiting for it. No race with a slow start.
        let child = "import sys, time, pathlib\n\
            b = b'x' * (150 << 20)\n\
            pathlib.Path(sys.argv[1]).touch()\n\
            time.sleep(3)\n";
        let parent = "import subprocess, sys, time, pathlib\n\
            subprocess.Popen(['python3', sys.argv[1], sys.argv[2]])\n\
            while not pathlib.Path(sys.argv[2]).exists():\n    time.sleep(0.01)\n\
            time.sleep(1)\n";
        let (child_path, parent_path) = (dir.path().join("child.py"), dir.path().join("parent.py"));
        std::fs::write(&child_path, child).unwrap();
        std::fs::write(&parent_path, parent).unwrap();
        let command = format!(
            "python3 {} {} {}",
            parent_path.display(),
            child_path.display(),
            dir.path().join("holding").display()
        );
        let out = run(&command, &dir.path().join("run"), Duration::from_secs(30));
        assert_eq!(out.failure, None);
        assert!(
            out.peak_memory_bytes >= 150 << 20,
            "peak {} MiB",
            out.peak_memory_bytes >> 20
        );
    }

    #[test]
    fn paths_are_quoted_for_the_shell() {
        let d = ExecDetector::new("x".into(), "run {dataset} {out}".into()).unwrap();
        let line = d.command_for(Path::new("/a b/it's"), Path::new("/o"));
        assert_eq!(line, "run '/a b/it'\\''s' '/o'");
        assert!(ExecDetector::new("x".into(), "run {dataset}".into()).is_err());
    }
}
