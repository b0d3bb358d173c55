//! The plan for a population no one machine holds: a few shards of the real run are
//! generated and analyzed here (`generate --shard I/N` writes exactly the shard the whole run
//! would), each in a child process, and their measured cost per shard is scaled to every
//! shard and spread over N machines.
//!
//! The arithmetic is plain and stated in the output: shards are independent (a user's events,
//! truth and replay state live in one shard), so a machine with C cores works through its
//! shards C at a time, each at the pace measured here on one core.

use std::path::Path;

use blastradius_pages::doc::{Block, Column, Doc, Table};
use blastradius_safefs::{Kind, Stage};
use serde::Serialize;

use crate::{Error, argv};

use crate::scaling::{child, list, machine, write_output, written_manifest};

/// One sampled shard's measured cost.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub shard: u32,
    pub users: u64,
    pub events: u64,
    pub bytes: u64,
    pub generate_seconds: f64,
    pub generate_peak_bytes: u64,
    pub analyze_seconds: f64,
    pub analyze_peak_bytes: u64,
}

/// The whole run on `machines` machines of `cores` cores.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub machines: u64,
    pub shards_per_machine: u64,
    pub generate_hours: f64,
    pub analyze_hours: f64,
    pub storage_per_machine_bytes: f64,
    pub memory_per_machine_bytes: u64,
}

/// The plan.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub users: u64,
    pub shards: u32,
    pub cores_per_machine: u64,
    pub samples: Vec<Sample>,
    pub events: f64,
    pub bytes: f64,
    pub bytes_per_event: f64,
    pub generate_core_hours: f64,
    pub analyze_core_hours: f64,
    pub rows: Vec<Row>,
}

/// Which shards to sample: `k` spread evenly over `0..n`.
pub fn sample_shards(n: u32, k: u32) -> Vec<u32> {
    let k = k.clamp(1, n.max(1));
    let mut v: Vec<u32> = (0..k)
        .map(|j| (u64::from(n) * u64::from(j) / u64::from(k)) as u32)
        .collect();
    v.dedup();
    v
}

/// Scales the samples to `shards` shards on each machine count.
pub fn scale(users: u64, shards: u32, cores: u64, samples: Vec<Sample>, machines: &[u64]) -> Plan {
    let k = samples.len().max(1) as f64;
    let mean = |f: fn(&Sample) -> f64| samples.iter().map(f).sum::<f64>() / k;
    let per_user = |f: fn(&Sample) -> f64| {
        let users: u64 = samples.iter().map(|s| s.users).sum();
        samples.iter().map(f).sum::<f64>() / users.max(1) as f64
    };
    // Costs per user from the samples, times the whole population: shards differ in size
    // by at most one user, and the samples may include the smaller last shard.
    let events = per_user(|s| s.events as f64) * users as f64;
    let bytes = per_user(|s| s.bytes as f64) * users as f64;
    let (gen_s, ana_s) = (mean(|s| s.generate_seconds), mean(|s| s.analyze_seconds));
    let peak = samples
        .iter()
        .map(|s| s.generate_peak_bytes.max(s.analyze_peak_bytes))
        .max()
        .unwrap_or(0);
    let rows = machines
        .iter()
        .map(|&m| {
            let per_machine = u64::from(shards).div_ceil(m.max(1));
            let rounds = per_machine.div_ceil(cores.max(1)) as f64;
            Row {
                machines: m,
                shards_per_machine: per_machine,
                generate_hours: rounds * gen_s / 3600.0,
                analyze_hours: rounds * ana_s / 3600.0,
                storage_per_machine_bytes: bytes / shards as f64 * per_machine as f64,
                memory_per_machine_bytes: peak * cores.min(per_machine),
            }
        })
        .collect();
    Plan {
        users,
        shards,
        cores_per_machine: cores,
        events,
        bytes,
        bytes_per_event: bytes / events.max(1.0),
        generate_core_hours: gen_s * f64::from(shards) / 3600.0,
        analyze_core_hours: ana_s * f64::from(shards) / 3600.0,
        samples,
        rows,
    }
}

/// Generates and analyzes `sample` shards of the `users`-user run of `shards` shards with
/// the binary `exe`, one process each; writes plan.json, plan.md and plan.html under `out`.
///
/// # Errors
/// A child that fails, or an output that may not be written.
#[allow(clippy::too_many_arguments)]
pub fn run(
    exe: &Path,
    users: u64,
    shards: u32,
    sample: u32,
    cores: u64,
    machines: &[u64],
    out: &Path,
    force: bool,
    mut progress: impl FnMut(&Sample),
) -> Result<Plan, Error> {
    let stage = Stage::begin(out, Kind::Output("bench plan"), force, "--out", &[])?;
    let mut samples = Vec::new();
    for i in sample_shards(shards, sample) {
        let data = stage.path().join("data").join(format!("shard-{i}"));
        let report = stage.path().join("data").join(format!("report-{i}"));
        let (gen_s, gen_rss) = child(
            exe,
            &argv::Generate {
                users,
                shards: Some(shards),
                shard: Some(i),
                threads: Some(1),
                skip_resource_check: true,
                out: &data,
                ..Default::default()
            }
            .args(),
        )?;
        let (ana_s, ana_rss) = child(
            exe,
            &argv::Analyze {
                dataset: &data,
                detector: "exact",
                threads: Some(1),
                out: &report,
            }
            .args(),
        )?;
        let manifest = written_manifest(&data)?;
        // The shard's own files; the catalog tables (providers, apps) are written once.
        let bytes = manifest
            .files
            .iter()
            .filter(|f| f.path.contains('/'))
            .map(|f| f.bytes)
            .sum();
        let point = Sample {
            shard: i,
            users: manifest.counts.users,
            events: manifest.counts.events,
            bytes,
            generate_seconds: gen_s,
            generate_peak_bytes: gen_rss,
            analyze_seconds: ana_s,
            analyze_peak_bytes: ana_rss,
        };
        progress(&point);
        samples.push(point);
        let _ = std::fs::remove_dir_all(&data);
        let _ = std::fs::remove_dir_all(&report);
    }
    let _ = std::fs::remove_dir(stage.path().join("data"));
    let plan = scale(users, shards, cores, samples, machines);
    let command = format!(
        "blastradius bench plan --users {users} --shards {shards} --sample {sample} --cores {cores} --machines {}",
        list(machines)
    );
    let json = serde_json::json!({ "command": command, "machine": machine(), "plan": plan });
    let write = |name: &str, text: String| write_output(&stage, out, name, text);
    write(
        "plan.json",
        serde_json::to_string_pretty(&json).expect("serializes") + "\n",
    )?;
    let page = doc(&command, &plan);
    write("plan.md", page.to_markdown())?;
    write("plan.html", page.to_html())?;
    stage.commit()?;
    Ok(plan)
}

/// Bytes in MiB, GiB or TiB, whichever reads best.
pub fn gib(b: f64) -> String {
    if b >= (1u64 << 40) as f64 {
        format!("{:.1} TiB", b / (1u64 << 40) as f64)
    } else if b >= (1u64 << 30) as f64 {
        format!("{:.1} GiB", b / (1u64 << 30) as f64)
    } else {
        format!("{:.1} MiB", b / (1u64 << 20) as f64)
    }
}

fn hours(h: f64) -> String {
    if h * 60.0 < 1.0 {
        format!("{:.1} s", h * 3600.0)
    } else if h < 1.0 {
        format!("{:.0} min", h * 60.0)
    } else {
        format!("{h:.1} h")
    }
}

/// The plan as a document: the answer, the measured shards, the whole run on machines of
/// this size, what was assumed.
pub fn doc(command: &str, p: &Plan) -> Doc {
    let k = p.samples.len().max(1) as f64;
    let gen_s = p.samples.iter().map(|s| s.generate_seconds).sum::<f64>() / k;
    let ana_s = p.samples.iter().map(|s| s.analyze_seconds).sum::<f64>() / k;
    let samples = p
        .samples
        .iter()
        .map(|s| {
            vec![
                s.shard.to_string(),
                s.users.to_string(),
                s.events.to_string(),
                format!("{:.1} MiB", s.bytes as f64 / 1048576.0),
                format!("{:.2} s", s.generate_seconds),
                format!("{:.0} MiB", s.generate_peak_bytes as f64 / 1048576.0),
                format!("{:.2} s", s.analyze_seconds),
                format!("{:.0} MiB", s.analyze_peak_bytes as f64 / 1048576.0),
            ]
        })
        .collect();
    let machines = p
        .rows
        .iter()
        .map(|r| {
            vec![
                r.machines.to_string(),
                r.shards_per_machine.to_string(),
                hours(r.generate_hours),
                hours(r.analyze_hours),
                gib(r.storage_per_machine_bytes),
                format!("{:.0} MiB", r.memory_per_machine_bytes as f64 / 1048576.0),
            ]
        })
        .collect();
    let headline = match p.rows.last() {
        Some(r) => format!(
            "{} users: {:.2} billion events, {} of Parquet; on {} machines of {} cores, generate in {} and analyze in {} ({} of storage and {:.0} MiB of memory each).",
            p.users,
            p.events / 1e9,
            gib(p.bytes),
            r.machines,
            p.cores_per_machine,
            hours(r.generate_hours),
            hours(r.analyze_hours),
            gib(r.storage_per_machine_bytes),
            r.memory_per_machine_bytes as f64 / 1048576.0
        ),
        None => format!("{} users: no machine count given.", p.users),
    };
    let number = Column::number;
    Doc {
        title: format!("Plan: {} users", p.users),
        headline: Some(headline),
        blocks: vec![
            Block::Paragraph(format!("`{command}`, measured on {}.", machine())),
            Block::Paragraph(format!(
                "{} shards of about {} users. {} of them were generated (`generate --shard I/{}`, the very shards the whole run writes) and analyzed (`analyze --detector exact`), each alone in a process on one thread:",
                p.shards,
                p.users.div_ceil(u64::from(p.shards).max(1)),
                p.samples.len(),
                p.shards
            )),
            Block::Table(Table {
                caption: None,
                columns: vec![
                    number("shard"),
                    number("users"),
                    number("events"),
                    number("bytes"),
                    number("generate"),
                    number("generate peak"),
                    number("analyze"),
                    number("analyze peak"),
                ],
                rows: samples,
            }),
            Block::Paragraph(format!(
                "The whole run: {:.2} billion events, {} of Parquet ({:.1} bytes an event), {:.1} core-hours to generate ({:.2} s a shard) and {:.1} to analyze ({:.2} s a shard, whole process, start-up included).",
                p.events / 1e9,
                gib(p.bytes),
                p.bytes_per_event,
                p.generate_core_hours,
                gen_s,
                p.analyze_core_hours,
                ana_s
            )),
            Block::Paragraph(format!(
                "On machines of {} cores, each working through its shards {} at a time:",
                p.cores_per_machine, p.cores_per_machine
            )),
            Block::Table(Table {
                caption: None,
                columns: vec![
                    number("machines"),
                    number("shards each"),
                    number("generate"),
                    number("analyze"),
                    number("storage each"),
                    number("memory each"),
                ],
                rows: machines,
            }),
            Block::Paragraph(
                "Assumed, not measured: every core of every machine as fast as one core here with the other idle; storage local to each machine (`merge` then links the parts on a shared filesystem, or each machine analyzes its own parts: a user's state never crosses shards, so the findings of the parts together are the whole run's).".into(),
            ),
        ],
        method: vec![format!(
            "`{command}` on {}: sampled shards generated and analyzed by `blastradius` child processes, timed whole with their peak resident memory (`wait4`); the whole run extrapolated from their mean, shard for shard.",
            machine()
        )],
    }
}

/// The plan in words (see [`doc`]).
pub fn markdown(command: &str, p: &Plan) -> String {
    doc(command, p).to_markdown()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(shard: u32, users: u64) -> Sample {
        Sample {
            shard,
            users,
            events: users * 20,
            bytes: users * 400,
            generate_seconds: 2.0,
            generate_peak_bytes: 100 << 20,
            analyze_seconds: 0.5,
            analyze_peak_bytes: 50 << 20,
        }
    }

    #[test]
    fn samples_spread_over_the_shards() {
        assert_eq!(sample_shards(100, 4), [0, 25, 50, 75]);
        assert_eq!(sample_shards(3, 8), [0, 1, 2]);
        assert_eq!(sample_shards(1, 4), [0]);
    }

    #[test]
    fn the_plan_is_the_samples_scaled() {
        let p = scale(
            1000,
            10,
            2,
            vec![sample(0, 100), sample(5, 100)],
            &[1, 3, 100],
        );
        assert_eq!(p.events, 20_000.0);
        assert_eq!(p.bytes, 400_000.0);
        assert_eq!(p.bytes_per_event, 20.0);
        assert!((p.generate_core_hours - 20.0 / 3600.0).abs() < 1e-12);
        // One machine: 10 shards, 2 at a time: 5 rounds of 2 s.
        assert_eq!(p.rows[0].shards_per_machine, 10);
        assert!((p.rows[0].generate_hours * 3600.0 - 10.0).abs() < 1e-9);
        assert_eq!(p.rows[0].memory_per_machine_bytes, 200 << 20);
        // Three machines: 4, 4 and 2 shards; the slowest takes 2 rounds.
        assert_eq!(p.rows[1].shards_per_machine, 4);
        assert!((p.rows[1].analyze_hours * 3600.0 - 1.0).abs() < 1e-9);
        // More machines than shards: one shard each, one core busy.
        assert_eq!(p.rows[2].shards_per_machine, 1);
        assert_eq!(p.rows[2].memory_per_machine_bytes, 100 << 20);
        assert!(markdown("cmd", &p).contains("| 3 | 4 |"));
    }
}
