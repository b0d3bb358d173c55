//! `score`: bad findings folders.

use super::*;
use blastradius_schema::arrays::Ints;

/// A findings folder at `t/f` holding `exposures.csv` with `text`.
fn csv_findings(t: &Path, text: &str) {
    data(t);
    std::fs::create_dir_all(t.join("f")).unwrap();
    std::fs::write(t.join("f/exposures.csv"), text).unwrap();
}

/// The first truth exposure of the small dataset, as a CSV row.
fn a_true_exposure() -> String {
    use arrow::datatypes::{UInt32Type, UInt64Type};
    let d = small_dataset();
    for part in 0..3 {
        let f = d.join(format!("truth/exposures/part-{part:05}.parquet"));
        let batches = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            std::fs::File::open(f).unwrap(),
        )
        .unwrap()
        .build()
        .unwrap();
        for b in batches {
            let b = b.unwrap();
            if b.num_rows() > 0 {
                let app = b.column(0).ints::<UInt32Type>().value(0);
                let user = b.column(1).ints::<UInt64Type>().value(0);
                let photo = b.column(2).ints::<UInt64Type>().value(0);
                return format!("{app},{user},{photo}");
            }
        }
    }
    panic!("the small dataset has no exposure");
}

#[test]
fn score_refuses_bad_findings() {
    run_cases(&[
        Case {
            name: "truth rows edited in the manifest",
            setup: |t| {
                csv_findings(t, "app_id,user_id,photo_id\n");
                edit_manifest(t, |m| {
                    file_entry(m, "truth/exposures/part-00001.parquet")["rows"] = 1.into()
                })
            },
            args: &["score", "{d}", "{t}/f", "--out", "{t}/s"],
            needles: &["truth/exposures/part-00001.parquet", "manifest says 1"],
        },
        Case {
            name: "a column named twice",
            setup: |t| csv_findings(t, "app_id,user_id,user_id,photo_id\n1,2,3,4\n"),
            args: &["score", "{d}", "{t}/f", "--out", "{t}/s"],
            needles: &["exposures.csv", "`user_id` twice"],
        },
        Case {
            name: "no findings folder given",
            setup: data,
            args: &["score", "{d}"],
            needles: &["FINDINGS"],
        },
        Case {
            name: "missing findings folder",
            setup: data,
            args: &["score", "{d}", "{t}/nowhere", "--out", "{t}/r"],
            needles: &["nowhere", "no such findings folder"],
        },
        Case {
            name: "empty findings folder",
            setup: |t| {
                data(t);
                std::fs::create_dir(t.join("f")).unwrap();
            },
            args: &["score", "{d}", "{t}/f", "--out", "{t}/r"],
            needles: &["holds no findings", "exposures"],
        },
        Case {
            name: "empty exposures folder",
            setup: |t| {
                data(t);
                std::fs::create_dir_all(t.join("f/exposures")).unwrap();
            },
            args: &["score", "{d}", "{t}/f", "--out", "{t}/r"],
            needles: &["exposures", "no .parquet or .csv part"],
        },
        Case {
            name: "a missing column",
            setup: |t| csv_findings(t, "app_id,user_id\n1,2\n"),
            args: &["score", "{d}", "{t}/f", "--out", "{t}/r"],
            needles: &["exposures.csv", "`photo_id` is missing"],
        },
        Case {
            name: "a CSV row that does not parse",
            setup: |t| {
                csv_findings(
                    t,
                    &format!("app_id,user_id,photo_id\n{}\n1,abc,3\n", a_true_exposure()),
                )
            },
            args: &["score", "{d}", "{t}/f", "--out", "{t}/r"],
            needles: &["exposures.csv", "`user_id`", "line 3", "`abc`"],
        },
        Case {
            name: "an unknown user",
            setup: |t| csv_findings(t, "app_id,user_id,photo_id\n1,99999999,3\n"),
            args: &["score", "{d}", "{t}/f", "--out", "{t}/r"],
            needles: &["`user_id`", "99999999", "not a user of this dataset"],
        },
        Case {
            name: "an unknown app",
            setup: |t| csv_findings(t, "app_id,user_id,photo_id\n77777,2,3\n"),
            args: &["score", "{d}", "{t}/f", "--out", "{t}/r"],
            needles: &["`app_id`", "77777", "not an app"],
        },
        Case {
            name: "a photo of another user",
            setup: |t| csv_findings(t, "app_id,user_id,photo_id\n1,2,3\n"),
            args: &["score", "{d}", "{t}/f", "--out", "{t}/r"],
            needles: &["`photo_id`", "not a photo of user 2"],
        },
        Case {
            name: "an empty cell",
            setup: |t| csv_findings(t, "app_id,user_id,photo_id\n1,,3\n"),
            args: &["score", "{d}", "{t}/f", "--out", "{t}/r"],
            needles: &["`user_id`", "null", "line 2"],
        },
        Case {
            name: "a table given twice",
            setup: |t| {
                csv_findings(t, "app_id,user_id,photo_id\n");
                std::fs::create_dir(t.join("f/exposures")).unwrap();
            },
            args: &["score", "{d}", "{t}/f", "--out", "{t}/r"],
            needles: &["exposures", "more than once"],
        },
        Case {
            name: "a string id column",
            setup: |t| {
                data(t);
                std::fs::create_dir(t.join("f")).unwrap();
                write_parquet_strings(&t.join("f/affected_users.parquet"));
            },
            args: &["score", "{d}", "{t}/f", "--out", "{t}/r"],
            needles: &["affected_users.parquet", "`user_id`", "integer"],
        },
        Case {
            name: "a negative id",
            setup: |t| {
                data(t);
                std::fs::create_dir(t.join("f")).unwrap();
                write_parquet_negative(&t.join("f/affected_users.parquet"));
            },
            args: &["score", "{d}", "{t}/f", "--out", "{t}/r"],
            needles: &["`user_id`", "-3", "never negative"],
        },
        Case {
            name: "a broken findings.json",
            setup: |t| {
                csv_findings(t, "app_id,user_id,photo_id\n");
                std::fs::write(t.join("f/findings.json"), "{\"wall_seconds\": \"fast\"}").unwrap();
            },
            args: &["score", "{d}", "{t}/f", "--out", "{t}/r"],
            needles: &["findings.json", "not valid"],
        },
        Case {
            name: "more names than folders",
            setup: |t| csv_findings(t, "app_id,user_id,photo_id\n"),
            args: &[
                "score", "{d}", "{t}/f", "--name", "a", "--name", "b", "--out", "{t}/r",
            ],
            needles: &["--name"],
        },
        Case {
            name: "findings inside the out folder",
            setup: |t| csv_findings(t, "app_id,user_id,photo_id\n"),
            args: &["score", "{d}", "{t}/f", "--out", "{t}/f/r"],
            needles: &["inside the input"],
        },
    ]);
}

fn write_parquet_strings(path: &Path) {
    use arrow::array::{RecordBatch, StringArray};
    use std::sync::Arc;
    let b = RecordBatch::try_from_iter([(
        "user_id",
        Arc::new(StringArray::from(vec!["12"])) as arrow::array::ArrayRef,
    )])
    .unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(path).unwrap(),
        b.schema(),
        None,
    )
    .unwrap();
    w.write(&b).unwrap();
    w.close().unwrap();
}

fn write_parquet_negative(path: &Path) {
    use arrow::array::{Int64Array, RecordBatch};
    use std::sync::Arc;
    let b = RecordBatch::try_from_iter([(
        "user_id",
        Arc::new(Int64Array::from(vec![5, -3])) as arrow::array::ArrayRef,
    )])
    .unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(path).unwrap(),
        b.schema(),
        None,
    )
    .unwrap();
    w.write(&b).unwrap();
    w.close().unwrap();
}
