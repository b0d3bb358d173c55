//! Staged outputs: written in a hidden sibling folder, put in place by one rename.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::folder::{
    Kind, OUTPUT_MARKER, STAGING_MARKER, is_dataset, is_empty_dir, ours, output_marker,
    output_marker_with_files, staging_name,
};
use crate::paths::{disjoint, resolved};
use crate::rename::{exchange, lock, rename_noreplace};
use crate::{Error, Result, io};

/// An output being written. Dropped without [`Stage::commit`], it removes what it wrote.
#[derive(Debug)]
pub struct Stage {
    out: PathBuf,
    dir: PathBuf,
    kind: Kind,
    force: bool,
    flag: &'static str,
    committed: bool,
    /// Staging folders of dead runs removed when this one began.
    pub stale_removed: Vec<PathBuf>,
}

/// Checks, without writing anything, what [`Stage::begin`] checks: that `out` may be
/// written and does not overlap `inputs`. For commands that want to fail before long work.
///
/// # Errors
/// As [`Stage::begin`].
pub fn check(
    out: &Path,
    kind: Kind,
    force: bool,
    flag: &'static str,
    inputs: &[&Path],
) -> Result<()> {
    let refuse = |problem: String| Error::Refused {
        flag,
        path: out.to_path_buf(),
        problem,
    };
    let absolute = resolved(out).map_err(io(out))?;
    if absolute.file_name().is_none() || out.file_name().is_none() {
        return Err(refuse(
            "names no new folder; give one, e.g. ./my-output".into(),
        ));
    }
    if let Ok(cwd) = std::env::current_dir().and_then(|c| c.canonicalize())
        && cwd.starts_with(&absolute)
    {
        return Err(refuse(
            "is the current folder or holds it; give a new folder name, e.g. ./my-output".into(),
        ));
    }
    for input in inputs {
        disjoint(out, input).map_err(&refuse)?;
    }
    // Inside a finished dataset or output, the new folder would be a file its manifest or
    // marker does not list: it breaks the dataset, and the next --force there deletes it.
    if let Some(holder) = absolute.ancestors().skip(1).find(|a| {
        !a.join(STAGING_MARKER).exists() && (is_dataset(a) || a.join(OUTPUT_MARKER).is_file())
    }) {
        return Err(refuse(format!(
            "lies inside {}, which blastradius wrote and which holds only what it lists; \
             write outside it",
            holder.display()
        )));
    }
    // The folder itself is looked at where the path leads (`new/../d` is `d`), without
    // following it if it is a link (`link/` names the link).
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let at = resolved(parent)
        .map_err(io(out))?
        .join(out.file_name().expect("checked"));
    check_existing(out, &at, kind, force, flag)
}

impl Stage {
    /// Checks that `out` may be written (absent; or, with `force`, of `kind`), that it does
    /// not overlap any of `inputs`, removes staging folders that dead runs left beside it,
    /// and creates this run's staging folder. `flag` names the output in messages.
    ///
    /// # Errors
    /// [`Error::Exists`] without `force`, [`Error::Refused`] for a file, a link, a folder of
    /// another kind, the current folder or an overlap, [`Error::Io`] when the staging folder
    /// cannot be made.
    pub fn begin(
        out: &Path,
        kind: Kind,
        force: bool,
        flag: &'static str,
        inputs: &[&Path],
    ) -> Result<Self> {
        let refuse = |problem: String| Error::Refused {
            flag,
            path: out.to_path_buf(),
            problem,
        };
        check(out, kind, force, flag, inputs)?;
        let absolute = resolved(out).map_err(io(out))?;
        let name = absolute.file_name().expect("checked").to_owned();
        let parent = absolute
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("/"));
        let cannot = |e: std::io::Error| Error::Refused {
            flag,
            path: out.to_path_buf(),
            problem: format!("cannot be written there ({e}); choose a folder you can write to"),
        };
        std::fs::create_dir_all(&parent).map_err(cannot)?;
        let stale_removed = remove_stale(&parent, &name);
        let dir = parent.join(staging_name(&name, "partial", std::process::id()));
        if dir.exists() {
            // A folder of a dead run whose pid this process now has.
            if !ours(&dir) {
                return Err(refuse(format!(
                    "{} is in the way and is not a blastradius staging folder; remove it",
                    dir.display()
                )));
            }
            remove_ours(&dir).map_err(io(&dir))?;
        }
        std::fs::create_dir(&dir).map_err(cannot)?;
        let marker = dir.join(STAGING_MARKER);
        std::fs::write(&marker, format!("{}\n", std::process::id())).map_err(cannot)?;
        if let Kind::Output(command) = kind {
            let m = dir.join(OUTPUT_MARKER);
            std::fs::write(&m, output_marker(command)).map_err(io(&m))?;
        }
        Ok(Stage {
            out: absolute,
            dir,
            kind,
            force,
            flag,
            committed: false,
            stale_removed,
        })
    }

    /// The folder to write into.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Where the output will be once committed.
    pub fn target(&self) -> &Path {
        &self.out
    }

    /// Puts the staged folder in place of the output: by a rename that fails if something
    /// appeared there meanwhile, or with `force` by an atomic exchange with the old folder,
    /// which is then removed.
    ///
    /// # Errors
    /// When another run wrote the output meanwhile (nothing is replaced, this run's work is
    /// removed), or a filesystem call fails.
    pub fn commit(mut self) -> Result<()> {
        // The list first: a run killed between the two steps leaves a folder that is still
        // recognisably ours, whole, and is removed by the next run.
        if let Kind::Output(command) = self.kind {
            let m = self.dir.join(OUTPUT_MARKER);
            std::fs::write(&m, output_marker_with_files(command, &self.dir)).map_err(io(&m))?;
        }
        let marker = self.dir.join(STAGING_MARKER);
        std::fs::remove_file(&marker).map_err(io(&marker))?;
        let parent = self.out.parent().unwrap_or(Path::new("/")).to_path_buf();
        let lock = lock(&parent)?;
        let old = match std::fs::symlink_metadata(&self.out) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                rename_noreplace(&self.dir, &self.out).map_err(|e| {
                    if e.kind() == std::io::ErrorKind::AlreadyExists {
                        self.raced()
                    } else {
                        io(&self.out)(e)
                    }
                })?;
                None
            }
            Err(e) => return Err(io(&self.out)(e)),
            Ok(_) => {
                // Checked again under the lock: files may have been added meanwhile.
                self.may_replace()?;
                Some(exchange(&self.dir, &self.out, &parent)?)
            }
        };
        drop(lock);
        self.committed = true;
        if let Some(old) = old {
            // A file that reached the old folder after the last check is not ours to delete.
            if let Some(why) = self.kind.foreign(&old) {
                eprintln!(
                    "warning: {} {}: written; the folder it replaced is left at {} because it {why}",
                    self.flag,
                    self.out.display(),
                    old.display()
                );
                return Ok(());
            }
            // The new output is in place: a folder of the old one that cannot be removed
            // (read-only) is said, not made the run's failure.
            if let Err(e) = remove_ours(&old) {
                eprintln!(
                    "warning: {} {}: written; the folder it replaced is left at {} ({e}): remove it by hand",
                    self.flag,
                    self.out.display(),
                    old.display()
                );
            }
        }
        Ok(())
    }

    /// Checks, without writing anything, that the commit may put this output in place: the
    /// target is absent or empty, or `--force` was given and the target is still wholly an
    /// earlier output of this kind. A command that commits two outputs checks the second
    /// before it commits the first.
    ///
    /// # Errors
    /// As [`Stage::commit`] would fail for the target.
    pub fn recheck(&self) -> Result<()> {
        match std::fs::symlink_metadata(&self.out) {
            Ok(_) => self.may_replace(),
            Err(_) => Ok(()),
        }
    }

    fn may_replace(&self) -> Result<()> {
        if is_empty_dir(&self.out) {
            return Ok(());
        }
        if !self.force {
            return Err(self.raced());
        }
        match self.kind.foreign(&self.out) {
            None => Ok(()),
            Some(why) => Err(Error::Refused {
                flag: self.flag,
                path: self.out.clone(),
                problem: format!(
                    "{why} (it was left as it is and this run's output was discarded)"
                ),
            }),
        }
    }

    fn raced(&self) -> Error {
        Error::Refused {
            flag: self.flag,
            path: self.out.clone(),
            problem: "another run wrote this folder while this one worked; it was left as \
                      it is and this run's output was discarded"
                .into(),
        }
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        if !self.committed {
            let _ = remove_ours(&self.dir);
        }
    }
}

/// Checks the folder at `at`, which `out` (as given, for messages) names.
fn check_existing(
    out: &Path,
    at: &Path,
    kind: Kind,
    force: bool,
    flag: &'static str,
) -> Result<()> {
    let refuse = |problem: String| Error::Refused {
        flag,
        path: out.to_path_buf(),
        problem,
    };
    let meta = match std::fs::symlink_metadata(at) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(refuse(format!(
                "cannot be used ({e}); a part of the path may be a file: choose another folder"
            )));
        }
        Ok(m) => m,
    };
    if meta.file_type().is_symlink() {
        return Err(refuse(
            "is a symbolic link; name the folder it points to, or another folder".into(),
        ));
    }
    if !meta.is_dir() {
        return Err(refuse(
            "is a file; give the name of a folder to create".into(),
        ));
    }
    if is_empty_dir(at) {
        return Ok(());
    }
    if let Some(why) = kind.foreign(at) {
        return Err(refuse(why));
    }
    if !force {
        return Err(Error::Exists {
            flag,
            path: out.to_path_buf(),
            what: kind.describe(),
        });
    }
    Ok(())
}

/// Removes a folder of ours so that a run killed at any moment of the removal leaves a folder
/// [`ours`] still recognises: the staging marker is written first and removed last, after
/// everything else. (`remove_dir_all` goes in directory order; it could take the marker or the
/// manifest first and leave half a dataset that no later run may touch.)
fn remove_ours(dir: &Path) -> std::io::Result<()> {
    remove_ours_until(dir, usize::MAX).map(|_| ())
}

/// [`remove_ours`], stopping after `steps` removals as a kill would; true when it finished.
fn remove_ours_until(dir: &Path, steps: usize) -> std::io::Result<bool> {
    // A link named like our folder: the link goes, never what it points to.
    if std::fs::symlink_metadata(dir)?.file_type().is_symlink() {
        std::fs::remove_file(dir)?;
        return Ok(true);
    }
    let marker = dir.join(STAGING_MARKER);
    if !marker.is_file() {
        std::fs::write(&marker, "removing\n")?;
    }
    let mut done = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_name() == STAGING_MARKER {
            continue;
        }
        if done == steps {
            return Ok(false);
        }
        // A link is removed, never what it points to.
        if entry.file_type()?.is_dir() {
            std::fs::remove_dir_all(entry.path())?;
        } else {
            std::fs::remove_file(entry.path())?;
        }
        done += 1;
    }
    if done == steps {
        return Ok(false);
    }
    std::fs::remove_file(&marker)?;
    std::fs::remove_dir(dir)?;
    Ok(true)
}

fn alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only asks whether the process exists; nothing is sent.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Removes `.NAME.partial-PID` and `.NAME.old-PID` folders beside `name` whose run is dead
/// and which are ours; returns them.
fn remove_stale(parent: &Path, name: &OsStr) -> Vec<PathBuf> {
    let prefix = format!(".{}.", name.to_string_lossy());
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(parent) else {
        return removed;
    };
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = file.strip_prefix(&prefix) else {
            continue;
        };
        let pid = ["partial-", "old-"]
            .iter()
            .find_map(|w| rest.strip_prefix(w))
            .and_then(|p| p.parse::<u32>().ok());
        let Some(pid) = pid else { continue };
        let path = entry.path();
        if pid != std::process::id() && !alive(pid) && ours(&path) && remove_ours(&path).is_ok() {
            removed.push(path);
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dataset(path: &Path, tag: &str) {
        std::fs::create_dir_all(path).unwrap();
        std::fs::write(
            path.join("manifest.json"),
            format!("{{\"format\": \"blastradius-dataset\", \"tag\": \"{tag}\"}}"),
        )
        .unwrap();
    }

    fn tag(path: &Path) -> String {
        std::fs::read_to_string(path.join("manifest.json")).unwrap()
    }

    #[test]
    fn a_dataset_is_replaced_only_with_force_and_only_by_exchange() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("d");
        dataset(&out, "old");
        let e = Stage::begin(&out, Kind::Dataset, false, "--out", &[]).unwrap_err();
        assert!(matches!(e, Error::Exists { .. }), "{e}");
        let stage = Stage::begin(&out, Kind::Dataset, true, "--out", &[]).unwrap();
        dataset(stage.path(), "new");
        assert!(
            tag(&out).contains("old"),
            "the old one stays until the commit"
        );
        stage.commit().unwrap();
        assert!(tag(&out).contains("new"));
        let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no staging or old folder is left");
    }

    #[test]
    fn a_folder_of_another_kind_is_never_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("mine");
        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join("notes.txt"), "keep me").unwrap();
        for kind in [Kind::Dataset, Kind::Output("stress")] {
            let e = Stage::begin(&out, kind, true, "--out", &[]).unwrap_err();
            assert!(e.to_string().contains("replaces only what it wrote"), "{e}");
        }
        let file = tmp.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let e = Stage::begin(&file, Kind::Dataset, true, "--out", &[]).unwrap_err();
        assert!(e.to_string().contains("is a file"), "{e}");
        assert_eq!(
            std::fs::read_to_string(out.join("notes.txt")).unwrap(),
            "keep me"
        );
    }

    // Issue 22: a marker edited by hand let --force delete a user's folder.
    #[test]
    fn force_replaces_an_output_only_as_it_was_written() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("r");
        let write = |force| {
            let stage = Stage::begin(&out, Kind::Output("analyze"), force, "--out", &[])?;
            std::fs::create_dir(stage.path().join("exact")).unwrap();
            std::fs::write(stage.path().join("exact/findings.json"), "{}").unwrap();
            std::fs::write(stage.path().join("report.md"), "# report").unwrap();
            stage.commit()
        };
        write(false).unwrap();
        write(true).expect("an untouched output is replaced");
        // A file the run wrote, changed since: its size or checksum tells.
        std::fs::write(out.join("report.md"), "# my notes now").unwrap();
        let e = write(true).unwrap_err().to_string();
        assert!(
            e.contains("`report.md`") && e.contains("differs from its marker"),
            "{e}"
        );
        std::fs::write(out.join("report.md"), "# REPORT").unwrap(); // same size
        assert!(write(true).is_err(), "same size, another checksum");
        assert_eq!(
            std::fs::read_to_string(out.join("report.md")).unwrap(),
            "# REPORT"
        );

        // A marker written by hand into someone's folder: names only, or sizes and
        // checksums that are not the files'.
        let mine = tmp.path().join("mine");
        std::fs::create_dir(&mine).unwrap();
        std::fs::write(mine.join("thesis.tex"), "years of work").unwrap();
        for marker in [
            r#"{"written_by": "blastradius analyze", "files": ["thesis.tex"]}"#,
            r#"{"written_by": "blastradius analyze", "files": [{"path": "thesis.tex", "bytes": 13, "crc32c": "00000000"}]}"#,
        ] {
            std::fs::write(mine.join(OUTPUT_MARKER), marker).unwrap();
            let e = Stage::begin(&mine, Kind::Output("analyze"), true, "--out", &[]);
            assert!(e.is_err(), "{marker}");
            assert_eq!(
                std::fs::read_to_string(mine.join("thesis.tex")).unwrap(),
                "years of work"
            );
        }
    }

    #[test]
    fn an_output_holding_a_link_or_a_pipe_is_committed_and_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("s");
        let outside = tmp.path().join("keep.txt");
        std::fs::write(&outside, "not the output's").unwrap();
        let write = || {
            let stage = Stage::begin(&out, Kind::Output("stress"), true, "--out", &[])?;
            std::fs::write(stage.path().join("report.json"), "{}").unwrap();
            std::os::unix::fs::symlink(&outside, stage.path().join("link")).unwrap();
            let fifo =
                std::ffi::CString::new(stage.path().join("pipe").as_os_str().as_encoded_bytes())
                    .unwrap();
            // SAFETY: a valid NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
            stage.commit()
        };
        write().expect("committed without opening the pipe");
        write().expect("replaced: the link and the pipe are as written");
        assert_eq!(
            std::fs::read_to_string(&outside).unwrap(),
            "not the output's"
        );
    }

    #[test]
    fn a_manifest_written_by_hand_does_not_make_a_folder_a_dataset_to_replace() {
        let tmp = tempfile::tempdir().unwrap();
        let mine = tmp.path().join("mine");
        std::fs::create_dir(&mine).unwrap();
        std::fs::write(mine.join("thesis.tex"), "years of work").unwrap();
        for manifest in [
            r#"{"format": "blastradius-dataset", "files": [{"path": "thesis.tex"}]}"#,
            r#"{"format": "blastradius-dataset", "files": [{"path": "thesis.tex", "bytes": 3}]}"#,
        ] {
            std::fs::write(mine.join("manifest.json"), manifest).unwrap();
            assert!(Stage::begin(&mine, Kind::Dataset, true, "--out", &[]).is_err());
            assert!(mine.join("thesis.tex").is_file());
        }
    }

    #[test]
    fn a_folder_that_appears_meanwhile_is_not_overwritten() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("d");
        let first = Stage::begin(&out, Kind::Dataset, false, "--out", &[]).unwrap();
        // Another run finishes into the same folder while `first` works.
        dataset(&out, "other run");
        dataset(first.path(), "first");
        let e = first.commit().unwrap_err();
        assert!(e.to_string().contains("another run"), "{e}");
        assert!(tag(&out).contains("other run"));
    }

    #[test]
    fn dropping_a_stage_removes_its_work_and_dead_runs_are_cleaned() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("d");
        let stage = Stage::begin(&out, Kind::Output("analyze"), false, "--out", &[]).unwrap();
        let dir = stage.path().to_path_buf();
        drop(stage);
        assert!(!dir.exists() && !out.exists());

        // A killed run's folders: pid 2^31-2 does not exist.
        let dead = tmp.path().join(".d.partial-2147483646");
        std::fs::create_dir(&dead).unwrap();
        std::fs::write(dead.join(STAGING_MARKER), "").unwrap();
        let foreign = tmp.path().join(".d.partial-2147483645");
        std::fs::create_dir(&foreign).unwrap();
        std::fs::write(foreign.join("mine.txt"), "not blastradius's").unwrap();
        // Killed between making its folder and marking it: empty, so nothing is lost.
        let empty = tmp.path().join(".d.partial-2147483644");
        std::fs::create_dir(&empty).unwrap();
        let stage = Stage::begin(&out, Kind::Output("analyze"), false, "--out", &[]).unwrap();
        let mut removed = stage.stale_removed.clone();
        removed.sort();
        assert_eq!(removed, vec![empty.clone(), dead.clone()]);
        assert!(!dead.exists() && !empty.exists());
        assert!(
            foreign.exists(),
            "a folder without our marker is left alone"
        );
    }

    #[test]
    fn the_current_folder_and_overlaps_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let input = tmp.path().join("in");
        dataset(&input, "in");
        let e = Stage::begin(&input, Kind::Dataset, true, "OUT", &[&input]).unwrap_err();
        assert!(e.to_string().contains("itself"), "{e}");
        let e = Stage::begin(&input.join("x"), Kind::Dataset, true, "OUT", &[&input]).unwrap_err();
        assert!(e.to_string().contains("inside the input"), "{e}");
        let e = Stage::begin(Path::new("."), Kind::Dataset, false, "--out", &[]).unwrap_err();
        assert!(e.to_string().contains("new folder"), "{e}");
    }

    #[test]
    fn outputs_carry_their_marker_and_can_be_forced() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("r");
        let s = Stage::begin(&out, Kind::Output("score"), false, "--out", &[]).unwrap();
        std::fs::write(s.path().join("a"), "1").unwrap();
        s.commit().unwrap();
        assert!(out.join(OUTPUT_MARKER).is_file());
        assert!(!out.join(STAGING_MARKER).exists());
        let s = Stage::begin(&out, Kind::Output("score"), true, "--out", &[]).unwrap();
        std::fs::write(s.path().join("b"), "2").unwrap();
        s.commit().unwrap();
        assert!(
            out.join("b").is_file() && !out.join("a").exists(),
            "no stale files"
        );
    }

    /// A committed output of `command` holding `report.md` and `exact/findings.json`.
    fn output(out: &Path, command: &'static str) {
        let s = Stage::begin(out, Kind::Output(command), true, "--out", &[]).unwrap();
        std::fs::write(s.path().join("report.md"), "r").unwrap();
        std::fs::create_dir(s.path().join("exact")).unwrap();
        std::fs::write(s.path().join("exact").join("findings.json"), "{}").unwrap();
        s.commit().unwrap();
    }

    #[test]
    fn a_removal_killed_at_any_step_leaves_a_folder_the_next_run_removes() {
        // CI once caught remove_dir_all taking the marker first: the half-removed dataset
        // that a killed run left was no longer recognisably ours and stayed for good.
        let tmp = tempfile::tempdir().unwrap();
        let build = |at: &Path, i: usize| match i {
            0 => output(at, "analyze"),
            _ => dataset(at, "old"),
        };
        for k in 0..6 {
            for i in 0..2 {
                let at = tmp.path().join(format!("o{k}-{i}"));
                build(&at, i);
                assert!(ours(&at));
                let finished = remove_ours_until(&at, k).unwrap();
                assert_eq!(finished, !at.exists());
                if !finished {
                    assert!(ours(&at), "stopped after {k} steps: {}", at.display());
                    remove_ours(&at).unwrap();
                    assert!(!at.exists());
                }
            }
        }
    }

    #[test]
    fn force_replaces_only_the_same_commands_output_and_only_files_it_wrote() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("r");
        output(&out, "analyze");
        // Another command's output, an answer key above all, is never replaced.
        for other in ["generate --split-truth", "score"] {
            let e = Stage::begin(&out, Kind::Output(other), true, "--out", &[]).unwrap_err();
            assert!(
                e.to_string()
                    .contains("is the output of `blastradius analyze`"),
                "{e}"
            );
        }
        // A file added to the output since (at any depth) is named, and nothing is replaced.
        for added in ["notes.txt", "exact/mine.sql"] {
            std::fs::write(out.join(added), "keep me").unwrap();
            let e = Stage::begin(&out, Kind::Output("analyze"), true, "--out", &[]).unwrap_err();
            assert!(e.to_string().contains(&format!("holds `{added}`")), "{e}");
            assert_eq!(std::fs::read_to_string(out.join(added)).unwrap(), "keep me");
            std::fs::remove_file(out.join(added)).unwrap();
        }
        // An empty folder added loses nothing when replaced.
        std::fs::create_dir(out.join("empty")).unwrap();
        output(&out, "analyze");
        assert!(out.join("report.md").is_file() && !out.join("empty").exists());
        // A marker of an earlier version lists no files: refused, with what to do.
        std::fs::write(out.join(OUTPUT_MARKER), output_marker("analyze")).unwrap();
        let e = Stage::begin(&out, Kind::Output("analyze"), true, "--out", &[]).unwrap_err();
        assert!(e.to_string().contains("did not list its files"), "{e}");
    }

    #[test]
    fn a_file_added_while_the_run_works_stops_the_replacement() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("r");
        output(&out, "analyze");
        let s = Stage::begin(&out, Kind::Output("analyze"), true, "--out", &[]).unwrap();
        std::fs::write(out.join("notes.txt"), "keep me").unwrap();
        let e = s.commit().unwrap_err();
        assert!(e.to_string().contains("holds `notes.txt`"), "{e}");
        assert!(e.to_string().contains("discarded"), "{e}");
        assert_eq!(
            std::fs::read_to_string(out.join("notes.txt")).unwrap(),
            "keep me"
        );
        assert!(
            out.join("report.md").is_file(),
            "the old output stays whole"
        );
    }

    #[test]
    fn nothing_is_written_inside_a_finished_dataset_or_output() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("d");
        dataset(&d, "d");
        let r = tmp.path().join("r");
        output(&r, "analyze");
        for inside in [d.join("events/x"), d.join("sub"), r.join("exact/more")] {
            let e = Stage::begin(&inside, Kind::Dataset, false, "--out", &[]).unwrap_err();
            assert!(e.to_string().contains("lies inside"), "{e}");
        }
        // A run's own staging folder is not finished: commands may nest their work there.
        let s = Stage::begin(
            &tmp.path().join("s"),
            Kind::Output("stress"),
            false,
            "--out",
            &[],
        )
        .unwrap();
        let inner = Stage::begin(
            &s.path().join("data/copy"),
            Kind::Dataset,
            false,
            "--out",
            &[],
        );
        assert!(inner.is_ok(), "{inner:?}");
    }

    #[test]
    fn a_copy_named_like_a_dead_runs_folder_is_left_alone_once_added_to() {
        let tmp = tempfile::tempdir().unwrap();
        // pid 2^31-2 does not exist: these look like a killed run's folders.
        let copy = tmp.path().join(".d.partial-2147483646");
        dataset(&copy, "a copy");
        std::fs::write(copy.join("notes.txt"), "keep me").unwrap();
        let whole = tmp.path().join(".d.old-2147483646");
        output(&whole, "analyze");
        let stage =
            Stage::begin(&tmp.path().join("d"), Kind::Dataset, false, "--out", &[]).unwrap();
        assert_eq!(
            stage.stale_removed,
            vec![whole.clone()],
            "only the whole one is ours"
        );
        assert_eq!(
            std::fs::read_to_string(copy.join("notes.txt")).unwrap(),
            "keep me"
        );
    }

    #[test]
    fn the_folder_is_judged_where_the_path_leads_without_following_a_link() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("d");
        dataset(&d, "d");
        // Through a missing folder and `..`: the existing dataset, so --force is needed.
        let e = Stage::begin(
            &tmp.path().join("nope/../d"),
            Kind::Dataset,
            false,
            "--out",
            &[],
        )
        .unwrap_err();
        assert!(matches!(e, Error::Exists { .. }), "{e}");
        assert!(!tmp.path().join("nope").exists(), "nothing made on the way");
        // A link named with a trailing slash is still a link.
        std::os::unix::fs::symlink(&d, tmp.path().join("link")).unwrap();
        let e =
            Stage::begin(&tmp.path().join("link/"), Kind::Dataset, true, "--out", &[]).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(tag(&d).contains("\"d\""), "the link's target is untouched");
    }

    #[test]
    fn recheck_sees_a_file_added_since_the_run_began() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("r");
        output(&out, "analyze");
        let s = Stage::begin(&out, Kind::Output("analyze"), true, "--out", &[]).unwrap();
        s.recheck().unwrap();
        std::fs::write(out.join("notes.txt"), "keep me").unwrap();
        let e = s.recheck().unwrap_err();
        assert!(e.to_string().contains("holds `notes.txt`"), "{e}");
    }

    #[test]
    fn a_dataset_with_files_its_manifest_does_not_list_is_not_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("d");
        std::fs::create_dir_all(out.join("events")).unwrap();
        std::fs::write(
            out.join("manifest.json"),
            r#"{"format": "blastradius-dataset", "files": [{"path": "events/part-00000.parquet", "bytes": 1}]}"#,
        )
        .unwrap();
        std::fs::write(out.join("events/part-00000.parquet"), "p").unwrap();
        Stage::begin(&out, Kind::Dataset, true, "--out", &[]).unwrap();
        std::fs::create_dir(out.join("mywork")).unwrap();
        std::fs::write(out.join("mywork/q.sql"), "keep me").unwrap();
        let e = Stage::begin(&out, Kind::Dataset, true, "--out", &[]).unwrap_err();
        assert!(e.to_string().contains("holds `mywork/q.sql`"), "{e}");
        assert!(e.to_string().contains("its manifest does not list"), "{e}");
        assert_eq!(
            std::fs::read_to_string(out.join("mywork/q.sql")).unwrap(),
            "keep me"
        );
    }
}
