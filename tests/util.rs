//! Helpers: run the binary, check its errors, make small datasets.

use blastradius_schema::arrays::Ints;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn blastradius(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_blastradius"))
        .args(args)
        .output()
        .expect("the binary runs")
}

/// Runs the binary in `dir`.
pub fn blastradius_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_blastradius"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the binary runs")
}

pub fn path_arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts success, showing standard error otherwise.
pub fn assert_ok(o: &Output) {
    assert!(o.status.success(), "failed: {}", stderr(o));
}

/// The lines of standard error that are errors (warnings and notes left out).
fn error_lines(o: &Output) -> Vec<String> {
    stderr(o)
        .lines()
        .filter(|l| {
            !l.starts_with("warning: ") && !l.starts_with("note: ") && !l.starts_with("estimate ")
        })
        .map(str::to_string)
        .collect()
}

/// Asserts a failure with one error on stderr that contains every `needle`: our errors are
/// one line; clap's add their usage or a pointer to --help beneath.
pub fn assert_error(output: &Output, needles: &[&str]) {
    if let Err(e) = check_error(output, needles) {
        panic!("{e}");
    }
}

/// [`assert_error`] as a result.
pub fn check_error(output: &Output, needles: &[&str]) -> Result<(), String> {
    let all = stderr(output);
    if output.status.success() {
        return Err(format!("expected failure, got success; stderr: {all}"));
    }
    let lines = error_lines(output);
    let errors = lines.iter().filter(|l| l.starts_with("error: ")).count();
    if errors != 1 {
        return Err(format!("one error, got: {all}"));
    }
    let ours = !all.contains("Usage:") && !all.contains("try '--help'");
    if ours && lines.len() != 1 {
        return Err(format!("one line of error, got: {all}"));
    }
    for needle in needles {
        if !all.contains(needle) {
            return Err(format!("`{needle}` missing from: {all}"));
        }
    }
    Ok(())
}

/// Generates a dataset of `users` users in 3 shards.
pub fn generate_into(out: &Path, users: &str, seed: &str, scenario: &str) {
    generate_with(out, users, seed, scenario, &[]);
}

/// [`generate_into`], with `extra` flags for `generate` (`--no-incident`, say).
pub fn generate_with(out: &Path, users: &str, seed: &str, scenario: &str, extra: &[&str]) {
    let mut args = vec![
        "generate",
        "--users",
        users,
        "--seed",
        seed,
        "--scenario",
        scenario,
        "--shards",
        "3",
        "--out",
        path_arg(out),
    ];
    args.extend(extra);
    assert_ok(&blastradius(&args));
}

pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

pub fn write_json(path: &Path, value: &serde_json::Value) {
    std::fs::write(path, serde_json::to_string_pretty(value).unwrap()).unwrap();
}

/// Analyzes with every built-in detector (checking SHA-256s too) and returns report.json.
pub fn analyze_report(dataset: &Path, report_dir: &Path) -> serde_json::Value {
    let o = blastradius(&[
        "analyze",
        path_arg(dataset),
        "--out",
        path_arg(report_dir),
        "--verify",
    ]);
    assert_ok(&o);
    read_json(&report_dir.join("report.json"))
}

/// The report row of `detector`.
pub fn row<'a>(report: &'a serde_json::Value, detector: &str) -> &'a serde_json::Value {
    report["detectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["detector"] == detector)
        .unwrap_or_else(|| panic!("no row for {detector}: {report}"))
}

/// Rows of a Parquet file.
pub fn rows(path: &Path) -> u64 {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .metadata()
        .file_metadata()
        .num_rows() as u64
}

/// The record batches of a Parquet file, or of every file in a folder (in name order).
pub fn batches(path: &Path) -> Vec<arrow::array::RecordBatch> {
    let mut files: Vec<PathBuf> = if path.is_dir() {
        std::fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect()
    } else {
        vec![path.to_path_buf()]
    };
    files.sort();
    files
        .iter()
        .flat_map(|p| {
            let f = std::fs::File::open(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
                .unwrap()
                .build()
                .unwrap()
                .map(|b| b.unwrap())
        })
        .collect()
}

/// The (app_id, user_id, photo_id) rows of an exposures file or folder, in file order.
pub fn exposure_rows(path: &Path) -> Vec<(u32, u64, u64)> {
    use arrow::datatypes::{UInt32Type, UInt64Type};
    let mut out = Vec::new();
    for b in batches(path) {
        let (a, u, p) = (
            b.column(0).ints::<UInt32Type>(),
            b.column(1).ints::<UInt64Type>(),
            b.column(2).ints::<UInt64Type>(),
        );
        for i in 0..b.num_rows() {
            out.push((a.value(i), u.value(i), p.value(i)));
        }
    }
    out
}

/// A small dataset made once per test binary run, copied for each test that damages it.
/// The dataset `cell` holds, generated on first use under this run's own folder `name`
/// (users, seed, scenario as [`generate_into`] takes them): one per test binary run.
pub fn dataset_in(
    cell: &'static std::sync::OnceLock<PathBuf>,
    name: &str,
    users: &str,
    seed: &str,
    scenario: &str,
) -> PathBuf {
    cell.get_or_init(|| {
        let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("{name}-{}", std::process::id()))
            .join("d");
        generate_into(&d, users, seed, scenario);
        d
    })
    .clone()
}

pub fn small_dataset() -> PathBuf {
    static ONCE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let name = format!("small-{}", std::process::id());
        // Datasets of earlier runs may be of an older format: start afresh.
        for entry in std::fs::read_dir(tmp).into_iter().flatten().flatten() {
            let n = entry.file_name().to_string_lossy().into_owned();
            if n.starts_with("small-") && n != name {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let data = tmp.join(name).join("small");
        if !data.join("manifest.json").exists() {
            generate_into(&data, "1500", "11", "facebook-2018");
        }
        data
    })
    .clone()
}

/// A fresh copy of `from` at `to`.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Updates the manifest entry of `relative` to the file's current size and checksums, as a
/// pipeline that rewrote the file and its manifest would.
pub fn reseal(dataset: &Path, relative: &str) {
    use sha2::Digest;
    let bytes = std::fs::read(dataset.join(relative)).unwrap();
    let manifest_path = dataset.join("manifest.json");
    let mut m = read_json(&manifest_path);
    for f in m["files"].as_array_mut().unwrap() {
        if f["path"] == relative {
            f["bytes"] = bytes.len().into();
            f["sha256"] = sha2::Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
                .into();
            f["crc32c"] = format!("{:08x}", crc32c::crc32c(&bytes)).into();
            f["rows"] = rows(&dataset.join(relative)).into();
        }
    }
    // And the totals, which a pipeline that rewrote the manifest would keep true too.
    for (dir, count) in [("events/", "events"), ("users/", "users")] {
        let total: u64 = m["files"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["path"].as_str().unwrap().starts_with(dir))
            .map(|f| f["rows"].as_u64().unwrap())
            .sum();
        m["counts"][count] = total.into();
    }
    write_json(&manifest_path, &m);
}

/// Every file under `dir`, at any depth, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}
