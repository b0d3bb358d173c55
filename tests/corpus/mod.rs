//! Issue 13: the bad-input corpus. Every case is one command on one bad input; each must exit
//! non-zero with one error line that names the file or flag (and the fix), and harm nothing.

use blastradius_schema::arrays::Ints;
use std::path::{Path, PathBuf};

use crate::util::*;

mod analyze;
mod generate;
mod newer;
mod others;
mod perturb;
mod score;

/// A case: a name, a command line (`{t}` is the case's own folder, `{d}` a fresh copy of the
/// small dataset, `{k}` its answer key when split), and words the error must hold.
struct Case {
    name: &'static str,
    setup: fn(&Path),
    args: &'static [&'static str],
    needles: &'static [&'static str],
}

fn none(_: &Path) {}

/// A fresh copy of the small dataset at `t/d`.
fn data(t: &Path) {
    copy_tree(&small_dataset(), &t.join("d"));
}

fn edit_manifest(t: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    data(t);
    let p = t.join("d/manifest.json");
    let mut m = read_json(&p);
    edit(&mut m);
    write_json(&p, &m);
}

/// A fresh copy at `t/d` with one bit flipped a third of the way into the file `relative`.
fn flip_byte(t: &Path, relative: &str) {
    data(t);
    let p = t.join("d").join(relative);
    let mut b = std::fs::read(&p).unwrap();
    let i = b.len() / 3;
    b[i] ^= 0x10;
    std::fs::write(&p, &b).unwrap();
}

/// A fresh copy at `t/d` that lost the part `relative` together with its line in the
/// manifest.
fn lose_part(t: &Path, relative: &str) {
    edit_manifest(t, |m| {
        m["files"]
            .as_array_mut()
            .unwrap()
            .retain(|f| f["path"] != relative)
    });
    std::fs::remove_file(t.join("d").join(relative)).unwrap();
}

fn file_entry<'a>(m: &'a mut serde_json::Value, path: &str) -> &'a mut serde_json::Value {
    m["files"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|f| f["path"] == path)
        .unwrap()
}

fn scenario(t: &Path, text: &str) {
    std::fs::write(t.join("s.toml"), text).unwrap();
}

/// Rewrites events shard 1 of `t/d` through `change`, then reseals its manifest entry (a
/// foreign pipeline that rewrote the file and updated the manifest).
fn rewrite_shard(t: &Path, change: fn(arrow::array::RecordBatch) -> arrow::array::RecordBatch) {
    data(t);
    rewrite_shard_in_place(t, change);
}

/// [`rewrite_shard`] on the dataset already at `t/d`.
fn rewrite_shard_in_place(
    t: &Path,
    change: fn(arrow::array::RecordBatch) -> arrow::array::RecordBatch,
) {
    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let path = t.join("d/events/part-00001.parquet");
    let batches: Vec<_> =
        ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path).unwrap())
            .unwrap()
            .build()
            .unwrap()
            .map(|b| change(b.unwrap()))
            .collect();
    let mut w = ArrowWriter::try_new(
        std::fs::File::create(&path).unwrap(),
        batches[0].schema(),
        None,
    )
    .unwrap();
    for b in batches {
        w.write(&b).unwrap();
    }
    w.close().unwrap();
    reseal(&t.join("d"), "events/part-00001.parquet");
}

/// `user_id` nulled on every photo row.
fn null_users(b: arrow::array::RecordBatch) -> arrow::array::RecordBatch {
    use arrow::array::{Array, AsArray, Int64Array};
    use arrow::datatypes::Int64Type;
    use std::sync::Arc;
    let kinds = arrow::compute::cast(
        b.column_by_name("kind").unwrap(),
        &arrow::datatypes::DataType::Utf8,
    )
    .unwrap();
    let kinds = kinds.as_string::<i32>();
    let users = b.column_by_name("user_id").unwrap().ints::<Int64Type>();
    let nulled: Int64Array = (0..b.num_rows())
        .map(|i| {
            (users.is_valid(i) && !kinds.value(i).starts_with("photo")).then(|| users.value(i))
        })
        .collect();
    let i = b.schema().index_of("user_id").unwrap();
    let mut cols = b.columns().to_vec();
    cols[i] = Arc::new(nulled);
    let fields: Vec<_> = b
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    arrow::array::RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), cols)
        .unwrap()
}

/// The deploy events removed.
fn no_deploys(b: arrow::array::RecordBatch) -> arrow::array::RecordBatch {
    use arrow::array::{AsArray, BooleanArray};
    let kinds = arrow::compute::cast(
        b.column_by_name("kind").unwrap(),
        &arrow::datatypes::DataType::Utf8,
    )
    .unwrap();
    let keep: BooleanArray = kinds
        .as_string::<i32>()
        .iter()
        .map(|k| Some(!k.unwrap().starts_with("bug_")))
        .collect();
    arrow::compute::filter_record_batch(&b, &keep).unwrap()
}

fn run_cases(cases: &[Case]) {
    let mut failures = Vec::new();
    for case in cases {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path();
        (case.setup)(t);
        let before = snapshot(t);
        let args: Vec<String> = case
            .args
            .iter()
            .map(|a| {
                a.replace("{t}", path_arg(t))
                    .replace("{d}", path_arg(&t.join("d")))
            })
            .collect();
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = blastradius_in(t, &refs);
        let needles: Vec<String> = case
            .needles
            .iter()
            .map(|n| n.replace("{t}", path_arg(t)))
            .collect();
        let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
        if let Err(e) = check_error(&o, &needles) {
            failures.push(format!("{}: {e}", case.name));
            continue;
        }
        // Nothing harmed: every file that was there is there with the same bytes.
        let after = snapshot(t);
        for (path, bytes) in &before {
            if after.get(path) != Some(bytes) {
                failures.push(format!(
                    "{}: {} changed or vanished",
                    case.name,
                    path.display()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Every file under `root` with its contents' checksum.
fn snapshot(root: &Path) -> std::collections::BTreeMap<PathBuf, u32> {
    let mut out = std::collections::BTreeMap::new();
    fn walk(p: &Path, out: &mut std::collections::BTreeMap<PathBuf, u32>) {
        for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
            let path = e.path();
            if e.file_type().unwrap().is_dir() {
                walk(&path, out);
            } else if let Ok(bytes) = std::fs::read(&path) {
                out.insert(path, crc32c::crc32c(&bytes));
            }
        }
    }
    walk(root, &mut out);
    out
}
