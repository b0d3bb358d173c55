//! Whether this process can hold a run: the disk where the dataset goes, and the memory the
//! process may really use, which is the least of what the kernel has available, the
//! address-space limit (`ulimit -v`) and the cgroup's `memory.max`, less what is in use.
//!
//! The policy ([`check`]) is plain code over a [`Limits`] value; only [`Limits::measure`]
//! asks the operating system.

use std::path::{Path, PathBuf};

use crate::generate::{Estimate, MEMORY_PER_EVENT, Options};

/// Where a memory figure comes from, to name it in a refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemorySource {
    /// `MemAvailable` of `/proc/meminfo`.
    Machine,
    /// The address-space limit (`RLIMIT_AS`, `ulimit -v`), less the process's own size.
    AddressSpace,
    /// The cgroup's `memory.max`, less its `memory.current`.
    Cgroup,
}

impl MemorySource {
    /// The source in words.
    pub fn describe(self) -> &'static str {
        match self {
            MemorySource::Machine => "available on this machine",
            MemorySource::AddressSpace => {
                "left under this process's address-space limit (ulimit -v)"
            }
            MemorySource::Cgroup => "left under this control group's memory.max",
        }
    }
}

/// What the process may use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Bytes free where the dataset goes; `None` when it cannot be told.
    pub free_disk: Option<u64>,
    /// Bytes of memory the process may still take, and what says so; `None` when nothing
    /// can be told.
    pub memory: Option<(u64, MemorySource)>,
}

impl Limits {
    /// The limits of this process, for a dataset written at `out`.
    pub fn measure(out: &Path) -> Limits {
        let candidates = [
            available_memory().map(|b| (b, MemorySource::Machine)),
            address_space_left().map(|b| (b, MemorySource::AddressSpace)),
            cgroup_left().map(|b| (b, MemorySource::Cgroup)),
        ];
        Limits {
            free_disk: free_disk(out),
            memory: least(candidates),
        }
    }
}

/// The smallest figure among those known.
fn least(candidates: [Option<(u64, MemorySource)>; 3]) -> Option<(u64, MemorySource)> {
    candidates.into_iter().flatten().min_by_key(|c| c.0)
}

/// Why a run does not fit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The dataset would not fit on the disk where it goes.
    Disk { needed: u64, free: u64 },
    /// The workers' shards would not fit in memory.
    Memory {
        needed: u64,
        available: u64,
        source: MemorySource,
        /// Events of the largest shard.
        events_per_shard: u64,
        /// Shards the run would need for the same workers to fit.
        shards_that_fit: u64,
        /// Workers that fit with the current shards.
        workers_that_fit: u64,
    },
}

/// What the run of `options`, estimated as `estimate`, writes to disk: its share of the
/// shards when it writes one (`--shard I/N`).
pub fn bytes_written(options: &Options, estimate: &Estimate) -> u64 {
    let shards = if options.only_shard.is_some() {
        1
    } else {
        options.shards as u64
    };
    estimate.bytes * shards / options.shards.max(1) as u64
}

/// Events the run of `options` writes (its share, as [`bytes_written`]).
pub fn events_written(options: &Options, estimate: &Estimate) -> u64 {
    match options.only_shard {
        Some(_) => estimate.events / options.shards.max(1) as u64,
        None => estimate.events,
    }
}

/// Refuses a run that the disk or the memory of `limits` cannot hold.
///
/// # Errors
/// The first [`Refusal`]: the disk, then the memory.
pub fn check(options: &Options, estimate: &Estimate, limits: &Limits) -> Result<(), Refusal> {
    let on_disk = bytes_written(options, estimate);
    if let Some(free) = limits.free_disk
        && on_disk > free
    {
        return Err(Refusal::Disk {
            needed: on_disk,
            free,
        });
    }
    if let Some((available, source)) = limits.memory
        && estimate.memory > available
    {
        let per_shard = MEMORY_PER_EVENT * estimate.events_per_shard;
        return Err(Refusal::Memory {
            needed: estimate.memory,
            available,
            source,
            events_per_shard: estimate.events_per_shard,
            shards_that_fit: options.shards as u64 * estimate.memory.div_ceil(available.max(1)),
            workers_that_fit: (available.saturating_sub(64 << 20) / per_shard.max(1)).max(1),
        });
    }
    Ok(())
}

/// Bytes free on the filesystem that `path` (or its nearest existing ancestor) is on.
pub fn free_disk(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let absolute = std::path::absolute(path).ok()?;
    let existing = absolute.ancestors().find(|p| p.exists())?;
    let c = std::ffi::CString::new(existing.as_os_str().as_bytes()).ok()?;
    // SAFETY: an all-zero statvfs is a valid value for the call to overwrite.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `s` is valid for writes.
    // A pseudo filesystem (/proc) reports no blocks at all: nothing to judge by.
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 || s.f_blocks == 0 {
        return None;
    }
    Some(s.f_bavail as u64 * s.f_frsize as u64)
}

/// Memory the kernel says is available for new work, in bytes.
fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    kib_field(&info, "MemAvailable:")
}

/// The `name` line of a `/proc` status text, in KiB, as bytes.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// What the address-space limit leaves this process: the soft limit less its present size
/// (`VmSize`); `None` without a limit.
fn address_space_left() -> Option<u64> {
    // SAFETY: an all-zero rlimit is a valid value for the call to overwrite.
    let mut r: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: `r` is valid for writes.
    if unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut r) } != 0 || r.rlim_cur == libc::RLIM_INFINITY
    {
        return None;
    }
    let size = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| kib_field(&s, "VmSize:"))
        .unwrap_or(0);
    Some((r.rlim_cur as u64).saturating_sub(size))
}

/// What the control groups this process is in leave: for its group and every group above
/// it, the limit less what is in use and cannot be reclaimed (usage less the inactive file
/// cache, which the kernel takes back before it kills), the least of them. cgroup v2:
/// `memory.max`, `memory.current`, `memory.stat`'s `inactive_file`; v1:
/// `memory.limit_in_bytes`, `memory.usage_in_bytes`, `total_inactive_file`. `None` without a
/// limit anywhere.
fn cgroup_left() -> Option<u64> {
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    cgroup_groups(&own)
        .into_iter()
        .filter_map(|g| {
            let read = |name: &str| std::fs::read_to_string(g.dir.join(name)).ok();
            let limit = parse_limit(&read(g.limit)?)?;
            let used = read(g.usage)
                .and_then(|t| t.trim().parse::<u64>().ok())
                .unwrap_or(0);
            let reclaimable = read("memory.stat")
                .and_then(|t| stat_field(&t, g.inactive_file))
                .unwrap_or(0);
            Some(limit.saturating_sub(used.saturating_sub(reclaimable)))
        })
        .min()
}

/// A control group's folder and the names of its memory files.
#[derive(Debug, PartialEq)]
struct Group {
    dir: PathBuf,
    limit: &'static str,
    usage: &'static str,
    inactive_file: &'static str,
}

/// The groups `/proc/self/cgroup` names, and every group above each, up to the root (a
/// limit set on a parent binds its children; a container sees its own group at the root).
fn cgroup_groups(own: &str) -> Vec<Group> {
    let root = Path::new("/sys/fs/cgroup");
    let mut groups = Vec::new();
    for line in own.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let (base, limit, usage, inactive_file) = if id == "0" && controllers.is_empty() {
            (
                root.to_path_buf(),
                "memory.max",
                "memory.current",
                "inactive_file",
            )
        } else if controllers.split(',').any(|c| c == "memory") {
            (
                root.join("memory"),
                "memory.limit_in_bytes",
                "memory.usage_in_bytes",
                "total_inactive_file",
            )
        } else {
            continue;
        };
        let mut dir = base.join(path.trim().trim_start_matches('/'));
        loop {
            groups.push(Group {
                dir: dir.clone(),
                limit,
                usage,
                inactive_file,
            });
            if dir == base || !dir.pop() || !dir.starts_with(&base) {
                break;
            }
        }
    }
    groups
}

/// The value of `name` in a `memory.stat` text (`name value` lines).
fn stat_field(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == name).then(|| v.trim().parse().ok()).flatten()
    })
}

/// A cgroup limit: bytes, or none (`max` in v2; v1 writes a number near 2^63).
fn parse_limit(text: &str) -> Option<u64> {
    match text.trim() {
        "max" => None,
        n => n.parse().ok().filter(|&b: &u64| b < 1 << 62),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Scenario;
    use crate::generate::Codec;

    fn options(shards: u32, only_shard: Option<u32>) -> Options {
        Options {
            users: 1000,
            seed: 1,
            scenario: Scenario::preset("facebook-2018").unwrap(),
            shards,
            only_shard,
            threads: 2,
            out: "unused".into(),
            force: false,
            compression: Codec::default(),
            split_truth: None,
            discovery: false,
        }
    }

    const GIB: u64 = 1 << 30;

    fn estimate() -> Estimate {
        Estimate {
            events: 40_000_000,
            bytes: 8 * GIB,
            memory: 7 * GIB,
            events_per_shard: 20_000_000,
        }
    }

    #[test]
    fn the_least_limit_decides_and_is_named() {
        let machine = Some((20 * GIB, MemorySource::Machine));
        let ulimit = Some((2 * GIB, MemorySource::AddressSpace));
        let cgroup = Some((3 * GIB, MemorySource::Cgroup));
        assert_eq!(
            least([machine, ulimit, cgroup]),
            Some((2 * GIB, MemorySource::AddressSpace))
        );
        assert_eq!(
            least([machine, None, cgroup]).unwrap().1,
            MemorySource::Cgroup
        );
        assert_eq!(least([None, None, None]), None);
        let limits = Limits {
            free_disk: Some(100 * GIB),
            memory: least([machine, ulimit, cgroup]),
        };
        match check(&options(2, None), &estimate(), &limits) {
            Err(Refusal::Memory {
                needed,
                available,
                source,
                shards_that_fit,
                ..
            }) => {
                assert_eq!((needed, available), (7 * GIB, 2 * GIB));
                assert_eq!(source, MemorySource::AddressSpace);
                assert_eq!(shards_that_fit, 8, "2 shards x ceil(7/2)");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn disk_is_judged_by_the_share_a_run_writes() {
        let limits = Limits {
            free_disk: Some(5 * GIB),
            memory: None,
        };
        assert_eq!(
            check(&options(2, None), &estimate(), &limits),
            Err(Refusal::Disk {
                needed: 8 * GIB,
                free: 5 * GIB
            })
        );
        // One shard of two writes half.
        assert_eq!(check(&options(2, Some(0)), &estimate(), &limits), Ok(()));
        assert_eq!(
            events_written(&options(2, Some(1)), &estimate()),
            20_000_000
        );
        // Nothing known, nothing refused.
        assert_eq!(
            check(&options(2, None), &estimate(), &Limits::default()),
            Ok(())
        );
    }

    #[test]
    fn cgroup_files_are_read_as_the_kernel_writes_them() {
        assert_eq!(parse_limit("max\n"), None);
        assert_eq!(parse_limit("2147483648\n"), Some(2 * GIB));
        assert_eq!(parse_limit("9223372036854771712\n"), None, "v1's no limit");
        assert_eq!(parse_limit("junk"), None);
        // v2: the group, then each one above it, to the root.
        let v2: Vec<PathBuf> = cgroup_groups("0::/user.slice/session-1.scope\n")
            .into_iter()
            .map(|g| g.dir)
            .collect();
        assert_eq!(
            v2,
            [
                "/sys/fs/cgroup/user.slice/session-1.scope",
                "/sys/fs/cgroup/user.slice",
                "/sys/fs/cgroup",
            ]
            .map(PathBuf::from)
        );
        let v1 = cgroup_groups("4:memory:/docker/abc\n3:cpuset:/\n0::/\n");
        assert_eq!(v1[0].dir, Path::new("/sys/fs/cgroup/memory/docker/abc"));
        assert_eq!(v1[0].limit, "memory.limit_in_bytes");
        assert_eq!(v1[0].inactive_file, "total_inactive_file");
        assert_eq!(v1[2].dir, Path::new("/sys/fs/cgroup/memory"));
        assert_eq!(
            v1[3].dir,
            Path::new("/sys/fs/cgroup"),
            "then the unified root"
        );
        assert_eq!(v1.len(), 4);
        assert_eq!(
            stat_field(
                "anon 10\ninactive_file 4096\nactive_file 7\n",
                "inactive_file"
            ),
            Some(4096)
        );
        assert_eq!(stat_field("anon 10\n", "inactive_file"), None);
        assert_eq!(kib_field("VmSize:\t  2048 kB\n", "VmSize:"), Some(2 << 20));
    }
}
