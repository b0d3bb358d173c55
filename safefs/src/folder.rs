//! What a folder is, to a run that may replace or remove it: a dataset (its manifest lists
//! every file), a command's output (its marker names the command and lists every file with
//! its size and CRC-32C), a staging folder (its marker), or someone else's.

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::path::Path;

/// The file a staging folder holds while its run works: it says the folder is ours to
/// remove once that run is dead.
pub const STAGING_MARKER: &str = ".blastradius-staging";

/// The file that marks a folder as a blastradius command's output (a report, a sweep, an
/// export), so that `--force` may replace it.
pub const OUTPUT_MARKER: &str = ".blastradius-output";

/// What a command writes, and so what `--force` may replace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A dataset folder (its `manifest.json` says `blastradius-dataset`).
    Dataset,
    /// The output folder of the named command (it holds [`OUTPUT_MARKER`]).
    Output(&'static str),
}

impl Kind {
    pub(crate) fn describe(self) -> String {
        match self {
            Kind::Dataset => "a dataset".into(),
            Kind::Output(command) => format!("the output of `blastradius {command}`"),
        }
    }

    /// Why `--force` may not replace the folder at `path`: `None` when it is of this kind
    /// and blastradius wrote every file in it (a dataset whose manifest lists them all, each
    /// of its listed size; an output whose marker names this very command and lists them
    /// all, each of its listed size and CRC-32C). Folders are not counted, only what is in
    /// them: removing an empty one loses nothing.
    pub(crate) fn foreign(self, path: &Path) -> Option<String> {
        let (listed, own, what) = match self {
            Kind::Dataset => match dataset_files(path) {
                Ok(listed) => (listed, "manifest.json", "its manifest"),
                Err(why) => return Some(why),
            },
            Kind::Output(command) => match output_files(path, command) {
                Ok(listed) => (listed, OUTPUT_MARKER, "its marker"),
                Err(why) => return Some(why),
            },
        };
        // The cheap walk first; the checksums only of a folder that lists all it holds.
        unlisted(path, own, &listed)
            .map(|f| {
                format!(
                    "holds `{f}`, which {what} does not list: blastradius did not write it, so \
                     --force replaces nothing here; move out what you keep, or choose another \
                     folder"
                )
            })
            .or_else(|| match self {
                Kind::Output(command) => output_unchanged(path, command),
                Kind::Dataset => None,
            })
    }
}

/// The first file under `path` that is neither `own` (the manifest or marker itself) nor in
/// `listed`.
pub(crate) fn unlisted(path: &Path, own: &str, listed: &HashSet<String>) -> Option<String> {
    first_file(path, &mut |f| f != own && !listed.contains(f))
}

/// The first file under the dataset folder `path` that its manifest does not list (a path
/// relative to it), or why the folder is not a dataset: the same walk `--force` makes
/// before it replaces a dataset, for a caller that must know a copy was not added to.
pub fn unlisted_in_dataset(path: &Path) -> Option<String> {
    match dataset_files(path) {
        Ok(listed) => unlisted(path, "manifest.json", &listed),
        Err(why) => Some(why),
    }
}

fn not_of(kind: Kind) -> String {
    format!(
        "exists and is not {}; blastradius replaces only what it wrote, so choose another folder",
        kind.describe()
    )
}

/// The files a dataset's manifest lists, or why the folder is not a dataset.
fn dataset_files(path: &Path) -> std::result::Result<HashSet<String>, String> {
    let not = || not_of(Kind::Dataset);
    let text = std::fs::read_to_string(path.join("manifest.json")).map_err(|_| not())?;
    let manifest: serde_json::Value = serde_json::from_str(&text).map_err(|_| not())?;
    if manifest["format"] != "blastradius-dataset" {
        return Err(not());
    }
    let files = manifest["files"].as_array().into_iter().flatten();
    // A listed file of another size than listed is not what was generated (a manifest
    // edited to list someone's files names them, but not their sizes).
    for f in files.clone() {
        let (Some(name), Some(bytes)) = (f["path"].as_str(), f["bytes"].as_u64()) else {
            return Err(not());
        };
        if let Ok(m) = std::fs::symlink_metadata(path.join(name))
            && (!m.is_file() || m.len() != bytes)
        {
            return Err(format!(
                "holds `{name}`, which is not what its manifest lists (not a file, or another \
                 size): \
                 blastradius did not write it, so --force replaces nothing here; move out what \
                 you keep, or choose another folder"
            ));
        }
    }
    Ok(files
        .filter_map(|f| f["path"].as_str().map(str::to_string))
        .collect())
}

/// The files an output's marker lists, or why the folder is not this command's output.
fn output_files(
    path: &Path,
    command: &'static str,
) -> std::result::Result<HashSet<String>, String> {
    let marker = read_marker(path).ok_or_else(|| not_of(Kind::Output(command)))?;
    let written_by = marker.written_by.as_deref().unwrap_or("an unknown command");
    if written_by != format!("blastradius {command}") {
        return Err(format!(
            "is the output of `{written_by}`, not of `blastradius {command}`; --force replaces \
             only an earlier output of the same command, so choose another folder"
        ));
    }
    marker
        .files
        .map(|f| f.into_keys().collect())
        .ok_or_else(|| {
            "was written by an earlier blastradius, which did not list its files with their sizes \
         and checksums, so --force cannot tell them from files added or changed since; remove \
         the folder yourself, or choose another"
                .to_string()
        })
}

/// Why the output at `path` (its marker read and its files all listed) may not be replaced:
/// a listed file that is not what the command wrote; `None` when every one is.
fn output_unchanged(path: &Path, command: &str) -> Option<String> {
    let files = read_marker(path)?.files?;
    changed_since(path, &files).map(|changed| {
        format!(
            "holds `{changed}`, which is not what `blastradius {command}` wrote there (its type, \
             size or checksum differs from its marker's): blastradius did not write it, so \
             --force replaces nothing here; move out what you keep, or choose another folder"
        )
    })
}

/// A file the marker lists whose size or CRC-32C is not the listed one (a file that is gone
/// loses nothing and is not counted).
pub(crate) fn changed_since(dir: &Path, files: &HashMap<String, (u64, String)>) -> Option<String> {
    let mut names: Vec<&String> = files.keys().collect();
    names.sort();
    names
        .into_iter()
        .find(|name| {
            let (bytes, crc) = &files[*name];
            let p = dir.join(name);
            match std::fs::symlink_metadata(&p) {
                Err(_) => false,
                // A link (or a pipe) the command left: recorded as such, and removing it
                // removes the entry, never what it points to.
                Ok(m) if !m.is_file() => crc != NOT_A_FILE,
                Ok(m) if m.len() != *bytes || crc == NOT_A_FILE => true,
                Ok(_) => file_crc(&p).is_none_or(|c| &c != crc),
            }
        })
        .cloned()
}

/// What a marker records instead of a checksum for an entry that is not a regular file (a
/// symbolic link, a pipe): its content is not the output's to vouch for.
const NOT_A_FILE: &str = "not a file";

/// The CRC-32C of the regular file at `path`, as 8 hex digits (never opening a pipe, which
/// would wait for a writer, nor following a link).
fn file_crc(path: &Path) -> Option<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    if !std::fs::symlink_metadata(path).ok()?.is_file() {
        return None;
    }
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let mut buf = vec![0u8; 1 << 20];
    let mut crc = 0u32;
    loop {
        let n = f.read(&mut buf).ok()?;
        if n == 0 {
            return Some(format!("{crc:08x}"));
        }
        crc = crc32c::crc32c_append(crc, &buf[..n]);
    }
}

/// What an output's marker says: who wrote it and, once committed, the files it wrote with
/// their sizes and CRC-32Cs.
struct Marker {
    written_by: Option<String>,
    /// `None` also for a marker of an earlier build, which listed names only: what it says
    /// cannot be checked, so it is not taken (a marker edited by hand is no better).
    files: Option<HashMap<String, (u64, String)>>,
}

/// The marker of the output at `path`; `None` when there is none to read. A marker that is
/// not JSON says nothing (both fields `None`).
fn read_marker(path: &Path) -> Option<Marker> {
    let text = std::fs::read_to_string(path.join(OUTPUT_MARKER)).ok()?;
    let marker: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    Some(Marker {
        written_by: marker["written_by"].as_str().map(str::to_string),
        files: marker["files"].as_array().and_then(|files| {
            files
                .iter()
                .map(|f| {
                    Some((
                        f["path"].as_str()?.to_string(),
                        (f["bytes"].as_u64()?, f["crc32c"].as_str()?.to_string()),
                    ))
                })
                .collect()
        }),
    })
}

/// The first file (any entry but a folder) under `root` for which `pick` holds, as a path
/// relative to `root` with `/` between names (lossy where a name is not UTF-8).
fn first_file(root: &Path, pick: &mut dyn FnMut(&str) -> bool) -> Option<String> {
    fn walk(dir: &Path, prefix: &str, pick: &mut dyn FnMut(&str) -> bool) -> Option<String> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            // Unreadable: what is inside cannot be told apart, so it counts as foreign.
            return Some(format!("{prefix}(unreadable)"));
        };
        for entry in entries {
            let Ok(entry) = entry else {
                return Some(format!("{prefix}(unreadable)"));
            };
            let relative = format!("{prefix}{}", entry.file_name().to_string_lossy());
            let found = if entry.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&entry.path(), &format!("{relative}/"), pick)
            } else {
                pick(&relative).then_some(relative)
            };
            if found.is_some() {
                return found;
            }
        }
        None
    }
    walk(root, "", pick)
}

pub(crate) fn is_dataset(path: &Path) -> bool {
    std::fs::read_to_string(path.join("manifest.json"))
        .is_ok_and(|m| m.contains("\"blastradius-dataset\""))
}

/// The text of the marker a command leaves in its output folder while it works. The
/// commit adds the list of every file the command wrote (see [`Kind::foreign`]).
pub fn output_marker(command: &str) -> String {
    format!("{{\"written_by\": \"blastradius {command}\"}}\n")
}

/// The marker of a finished output: who wrote it and every file it holds, with its size and
/// CRC-32C, so that `--force` later replaces it only as it was written.
pub(crate) fn output_marker_with_files(command: &'static str, dir: &Path) -> String {
    let mut files = Vec::new();
    first_file(dir, &mut |f| {
        if f != OUTPUT_MARKER && f != STAGING_MARKER {
            files.push(f.to_string());
        }
        false
    });
    files.sort();
    let files: Vec<serde_json::Value> = files
        .into_iter()
        .map(|f| {
            let p = dir.join(&f);
            let (bytes, crc) = match std::fs::symlink_metadata(&p) {
                Ok(m) if m.is_file() => (m.len(), file_crc(&p).unwrap_or_default()),
                _ => (0, NOT_A_FILE.to_string()),
            };
            serde_json::json!({ "path": f, "bytes": bytes, "crc32c": crc })
        })
        .collect();
    let marker = serde_json::json!({
        "written_by": format!("blastradius {command}"),
        "files": files,
    });
    serde_json::to_string_pretty(&marker).expect("a marker serializes") + "\n"
}

pub(crate) fn is_empty_dir(path: &Path) -> bool {
    std::fs::read_dir(path).is_ok_and(|mut d| d.next().is_none())
}

/// Whether a leftover folder is one blastradius made: a staging folder (with its marker, or
/// still empty: killed before the marker was written), or a dataset or output on its way in
/// or out that holds only what its manifest or marker lists (a copy someone made under such
/// a name and added to is left alone).
pub(crate) fn ours(dir: &Path) -> bool {
    if dir.join(STAGING_MARKER).is_file() || is_empty_dir(dir) {
        return true;
    }
    if is_dataset(dir) {
        return Kind::Dataset.foreign(dir).is_none();
    }
    read_marker(dir).is_some_and(|m| {
        m.written_by.is_some_and(|w| w.starts_with("blastradius "))
            && m.files.is_some_and(|files| {
                let listed: HashSet<String> = files.keys().cloned().collect();
                unlisted(dir, OUTPUT_MARKER, &listed).is_none()
                    && changed_since(dir, &files).is_none()
            })
    })
}

/// The hidden name of a run's folder beside `name`: `.NAME.partial-PID` while it is written,
/// `.NAME.old-PID` for what it replaces.
pub(crate) fn staging_name(name: &OsStr, what: &str, pid: u32) -> String {
    format!(".{}.{what}-{pid}", name.to_string_lossy())
}
