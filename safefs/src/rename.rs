//! Putting a staged folder in place: a lock per parent folder, and renames that never
//! replace what appeared meanwhile (or that swap two folders in one step).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use crate::folder::staging_name;
use crate::{Result, io};

/// An exclusive lock on a folder, held while this run decides what to rename: runs of
/// blastradius writing beside each other commit one at a time.
pub(crate) struct Lock(std::fs::File);

pub(crate) fn lock(dir: &Path) -> Result<Lock> {
    let file = std::fs::File::open(dir).map_err(io(dir))?;
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: the descriptor is open for the lifetime of `file`.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(io(dir)(std::io::Error::last_os_error()));
        }
    }
    Ok(Lock(file))
}

impl Drop for Lock {
    fn drop(&mut self) {
        #[cfg(unix)]
        {
            use std::os::fd::AsRawFd;
            // SAFETY: as in `lock`.
            unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
        }
    }
}

#[cfg(target_os = "linux")]
fn renameat2(from: &Path, to: &Path, flags: libc::c_uint) -> std::io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes())
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))
    };
    let (from, to) = (c(from)?, c(to)?);
    // SAFETY: both paths are valid NUL-terminated strings for the duration of the call.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            flags,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Whether the filesystem or kernel lacks the rename flags (then the parent lock guards).
#[cfg(target_os = "linux")]
fn unsupported(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOSYS))
}

pub(crate) fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    match renameat2(from, to, libc::RENAME_NOREPLACE) {
        Err(e) if unsupported(&e) => {}
        other => return other,
    }
    if to.exists() {
        return Err(std::io::ErrorKind::AlreadyExists.into());
    }
    std::fs::rename(from, to)
}

/// Swaps the staged folder `from` with the existing `to`; returns where the old one now is.
pub(crate) fn exchange(from: &Path, to: &Path, parent: &Path) -> Result<PathBuf> {
    #[cfg(target_os = "linux")]
    match renameat2(from, to, libc::RENAME_EXCHANGE) {
        Ok(()) => return Ok(from.to_path_buf()),
        Err(e) if unsupported(&e) => {}
        Err(e) => return Err(io(to)(e)),
    }
    // Without an atomic exchange: the old folder steps aside under a name the next run
    // recognises, then the new one moves in.
    let name = to.file_name().unwrap_or(OsStr::new("output"));
    let aside = parent.join(staging_name(name, "old", std::process::id()));
    std::fs::rename(to, &aside).map_err(io(to))?;
    if let Err(e) = std::fs::rename(from, to) {
        let _ = std::fs::rename(&aside, to);
        return Err(io(to)(e));
    }
    Ok(aside)
}
