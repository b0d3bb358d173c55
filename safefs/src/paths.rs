//! Paths that must stay where they belong.

use std::path::{Component, Path, PathBuf};

/// The path of `relative` (as a manifest lists it) inside `root`.
///
/// # Errors
/// A message, to be prefixed with the manifest's name, when `relative` is empty, absolute,
/// holds `..` or `.`, or leads outside `root` through a symbolic link.
pub fn confined(root: &Path, relative: &str) -> Result<PathBuf, String> {
    let plain = !relative.is_empty()
        && !relative.contains('\\')
        && Path::new(relative)
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
    if !plain {
        return Err(format!(
            "lists `{relative}`, which is not a plain relative path inside the dataset \
             (empty, absolute, or with `..`); the manifest is damaged: regenerate the dataset"
        ));
    }
    let full = root.join(relative);
    // A path that does not exist is the caller's to report; one that exists must resolve
    // inside the dataset.
    if let (Ok(inside), Ok(resolved)) = (root.canonicalize(), full.canonicalize())
        && !resolved.starts_with(&inside)
    {
        return Err(format!(
            "lists `{relative}`, which leads outside the dataset (to {}) through a symbolic \
             link; copy the file into the dataset instead",
            resolved.display()
        ));
    }
    Ok(full)
}

/// The absolute, resolved form of `path`, which need not exist: its deepest existing
/// ancestor is resolved (symbolic links followed) and the rest appended.
pub(crate) fn resolved(path: &Path) -> std::io::Result<PathBuf> {
    let absolute = std::path::absolute(path)?;
    let parts: Vec<Component> = absolute.components().collect();
    for existing in (1..=parts.len()).rev() {
        let Ok(base) = parts[..existing].iter().collect::<PathBuf>().canonicalize() else {
            continue;
        };
        // The rest does not exist yet, so holds no link: `..` there undoes the name before
        // it, as it will once the folders are made (`new/../d` is `d`).
        let mut out = base;
        for part in &parts[existing..] {
            match part {
                Component::ParentDir => {
                    out.pop();
                }
                Component::Normal(name) => out.push(name),
                _ => {}
            }
        }
        return Ok(out);
    }
    Ok(absolute)
}

/// Checks that `output` and `input` do not overlap: neither is the other, and neither holds
/// the other.
///
/// # Errors
/// A message saying which holds which.
pub fn disjoint(output: &Path, input: &Path) -> Result<(), String> {
    let (Ok(out), Ok(inp)) = (resolved(output), resolved(input)) else {
        return Ok(());
    };
    if out == inp {
        Err(format!(
            "is the input {} itself; write to another folder (the input is never modified)",
            input.display()
        ))
    } else if out.starts_with(&inp) {
        Err(format!(
            "lies inside the input {}; write outside it (the input is never modified)",
            input.display()
        ))
    } else if inp.starts_with(&out) {
        Err(format!(
            "holds the input {}; choose a folder outside it",
            input.display()
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_paths_stay_inside() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir(root.join("events")).unwrap();
        assert_eq!(
            confined(root, "events/part-00000.parquet").unwrap(),
            root.join("events/part-00000.parquet")
        );
        for bad in [
            "",
            "/etc/passwd",
            "../outside.parquet",
            "events/../../x",
            "./events/a",
            "a\\..\\b",
        ] {
            assert!(confined(root, bad).is_err(), "{bad}");
        }
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::write(elsewhere.path().join("x.parquet"), "x").unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), root.join("link")).unwrap();
        let e = confined(root, "link/x.parquet").unwrap_err();
        assert!(e.contains("symbolic link"), "{e}");
    }

    #[test]
    fn dot_dot_after_a_missing_folder_cannot_hide_an_overlap() {
        let tmp = tempfile::tempdir().unwrap();
        let input = tmp.path().join("ds");
        std::fs::create_dir(&input).unwrap();
        let sneaky = tmp.path().join("nope/../ds");
        assert!(disjoint(&sneaky, &input).unwrap_err().contains("itself"));
        let inside = tmp.path().join("nope/../ds/sub");
        assert!(
            disjoint(&inside, &input)
                .unwrap_err()
                .contains("inside the input")
        );
        assert_eq!(
            resolved(&tmp.path().join("a/./b/../c")).unwrap(),
            tmp.path().canonicalize().unwrap().join("a/c")
        );
    }

    #[test]
    fn overlapping_folders_are_named() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        std::fs::create_dir(&data).unwrap();
        assert!(disjoint(&data, &data).unwrap_err().contains("itself"));
        assert!(
            disjoint(&data.join("copy"), &data)
                .unwrap_err()
                .contains("inside")
        );
        assert!(disjoint(tmp.path(), &data).unwrap_err().contains("holds"));
        assert!(disjoint(&tmp.path().join("other"), &data).is_ok());
        // The same folder under another name is still the same folder.
        let cwd_relative = data.join("..").join("data");
        assert!(disjoint(&cwd_relative, &data).is_err());
    }
}
