//! Replay benchmarks: Parquet decoding of a shard, each detector over a dataset (reading
//! included, all cores), and scoring against the truth.

use std::hint::black_box;

use blastradius_analyzer::analyze::universe;
use blastradius_analyzer::output::{Catalog, app_counts};
use blastradius_analyzer::score::{Truth, score};
use blastradius_analyzer::{detect, engine, findings};
use blastradius_dataset::Dataset;
use blastradius_dataset::log::read_shard;
use blastradius_dataset::log::{ShardLog, read_shard_into};
use blastradius_schema::col;
use blastradius_simulator::Scenario;
use blastradius_simulator::generate::{self, Codec, Options, Progress};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const USERS: u64 = 200_000;

/// A seeded dataset in a temporary folder (kept alive by the returned guard).
fn dataset(compression: Codec) -> (tempfile::TempDir, Dataset, u64) {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        users: USERS,
        seed: 2018,
        scenario: Scenario::preset("facebook-2018").unwrap(),
        shards: 4,
        only_shard: None,
        threads: 2,
        out: dir.path().join("d"),
        force: true,
        compression,
        split_truth: None,
        discovery: false,
    };
    let events = generate::generate(&options, &Progress::default())
        .unwrap()
        .manifest
        .counts
        .events;
    let ds = Dataset::open(&options.out).unwrap();
    (dir, ds, events)
}

fn benches(c: &mut Criterion) {
    // As the `blastradius` binary does.
    blastradius_analyzer::keep_freed_memory();
    let (_guard, ds, events) = dataset(Codec::default());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let shard = ds.root.join(&ds.parts("events")[0].path);
    let shard_rows = ds.parts("events")[0].rows;

    let mut group = c.benchmark_group("decode_shard");
    group.throughput(Throughput::Elements(shard_rows));
    group.sample_size(10);
    group.bench_function("replay_columns_one_thread", |b| {
        b.iter(|| black_box(read_shard(&shard).unwrap().len()))
    });
    // The read bound of issue 14: only the key columns a replay cannot do without (which
    // rows, whose, when, in what order, successful or not), nothing replayed.
    let keys = [col::EVENT_ID, col::TS, col::KIND, col::STATUS, col::USER_ID];
    let mut log = ShardLog::default();
    group.bench_function("key_columns_one_thread", |b| {
        b.iter(|| {
            read_shard_into(&shard, &keys, None, &mut log).unwrap();
            black_box(log.len())
        })
    });
    // exact on the same shard, reading included: its multiple of the bound.
    let exact = blastradius_analyzer::registry::by_name("exact").unwrap();
    let mut log = ShardLog::default();
    group.bench_function("exact_one_thread", |b| {
        b.iter(|| {
            read_shard_into(&shard, exact.columns(), exact.rows(), &mut log).unwrap();
            black_box(exact.shard(&log).exposures.len())
        })
    });
    group.finish();

    let truth = Truth::read(&ds).unwrap();
    let settings = detect::Settings::default();
    let mut group = c.benchmark_group("replay");
    group.throughput(Throughput::Elements(events));
    group.sample_size(10);
    use blastradius_analyzer::registry::{Mode, names};
    // Every replay detector (sql runs its own way and has its own comparison).
    for name in names(Mode::Batch) {
        let Some(detector) = blastradius_analyzer::registry::by_name(name) else {
            continue;
        };
        group.bench_function(format!("{name}_{USERS}_users_{threads}_threads"), |b| {
            b.iter(|| {
                black_box(
                    engine::run(&ds, detector.as_ref(), threads, &settings)
                        .unwrap()
                        .events,
                )
            })
        });
    }
    // The same events compressed with zstd, the smallest but slowest codec to read.
    let (_zstd_guard, zstd, _) = dataset(Codec::Zstd);
    let exact = blastradius_analyzer::registry::by_name("exact").unwrap();
    group.bench_function(format!("exact_{USERS}_users_{threads}_threads_zstd"), |b| {
        b.iter(|| {
            black_box(
                engine::run(&zstd, exact.as_ref(), threads, &settings)
                    .unwrap()
                    .events,
            )
        })
    });
    group.finish();

    // Scoring goes through the findings contract, as for any detector: written, loaded
    // back, scored.
    let exact = engine::run(
        &ds,
        blastradius_analyzer::registry::by_name("exact")
            .unwrap()
            .as_ref(),
        threads,
        &settings,
    )
    .unwrap();
    let catalog = Catalog::read(&ds).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let counts = app_counts(&exact.findings, &catalog.providers_by_app());
    findings::write(dir.path(), &exact.findings, &counts, &Default::default()).unwrap();
    let universe = universe(&ds, &catalog);
    let mut group = c.benchmark_group("score");
    group.throughput(Throughput::Elements(exact.findings.exposures.len() as u64));
    group.bench_function("load_exact_findings", |b| {
        b.iter(|| black_box(findings::load(dir.path(), &universe).unwrap()))
    });
    let found = findings::load(dir.path(), &universe).unwrap();
    group.bench_function("score_exact_findings", |b| {
        b.iter(|| black_box(score(&truth, &found)))
    });
    group.finish();
}

criterion_group!(analyze_benches, benches);
criterion_main!(analyze_benches);
