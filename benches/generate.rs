//! Generation benchmarks: the world model alone, Parquet encoding of a shard, and the whole
//! `generate` pipeline on every core (the 5M events/s target).

use std::hint::black_box;
use std::sync::atomic::AtomicU64;

use blastradius_dataset::Codec;
use blastradius_simulator::Scenario;
use blastradius_simulator::generate::{self, Options, Progress};
use blastradius_simulator::shard::{Buffers, generate_shard};
use blastradius_simulator::user::World;
use blastradius_simulator::write::{Provenance, write_events};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const USERS: u64 = 40_000;

/// The footer and codec of the bench's files: the default codec, as `generate` writes.
fn provenance() -> Provenance {
    Provenance {
        metadata: vec![("bench".into(), "1".into())],
        codec: Codec::default(),
    }
}

fn world() -> World {
    World::new(Scenario::preset("facebook-2018").unwrap(), 2018)
}

fn model(c: &mut Criterion) {
    let world = world();
    let counter = AtomicU64::new(0);
    let mut buffers = Buffers::default();
    let events = generate_shard(&world, USERS, 1, 0, &counter, &mut buffers)
        .events
        .len();
    let mut group = c.benchmark_group("generate_shard_in_memory");
    group.throughput(Throughput::Elements(events as u64));
    group.sample_size(10);
    group.bench_function(format!("{USERS}_users"), |b| {
        b.iter(|| {
            let data = generate_shard(&world, USERS, 1, 0, &counter, &mut buffers);
            black_box(data.events.len());
            buffers.recycle(data);
        })
    });
    group.finish();
}

fn encode(c: &mut Criterion) {
    let world = world();
    let data = generate_shard(
        &world,
        USERS,
        1,
        0,
        &AtomicU64::new(0),
        &mut Buffers::default(),
    );
    let dir = tempfile::tempdir().unwrap();
    let provenance = provenance();
    let mut group = c.benchmark_group("encode_events_parquet");
    group.throughput(Throughput::Elements(data.events.len() as u64));
    group.sample_size(10);
    group.bench_function(
        format!("{USERS}_users_{}", Codec::default().as_str()),
        |b| b.iter(|| black_box(write_events(dir.path(), 0, &data.events, &provenance).unwrap())),
    );
    group.finish();
}

/// The bound of the target: arrow-rs alone encoding the same event columns (batches built
/// beforehand) with the same compression, against our whole per-shard pipeline (generate,
/// sort, build arrays, encode) on one thread.
fn bound(c: &mut Criterion) {
    let world = world();
    let mut buffers = Buffers::default();
    let data = generate_shard(&world, USERS, 1, 0, &AtomicU64::new(0), &mut buffers);
    let schema = blastradius_schema::events_schema();
    let batches: Vec<_> = data
        .events
        .chunks(1 << 16)
        .map(|chunk| blastradius_simulator::write::events_batch(chunk, &schema))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let provenance = provenance();
    let mut group = c.benchmark_group("one_thread_pipeline_vs_arrow_encode");
    group.throughput(Throughput::Elements(data.events.len() as u64));
    group.sample_size(10);
    group.bench_function(
        format!("arrow_rs_encode_only_{}", Codec::default().as_str()),
        |b| {
            b.iter(|| {
                let file = std::fs::File::create(dir.path().join("bound.parquet")).unwrap();
                let props = parquet::file::properties::WriterProperties::builder()
                    .set_compression(Codec::default().compression())
                    .build();
                let mut w = parquet::arrow::ArrowWriter::try_new(file, schema.clone(), Some(props))
                    .unwrap();
                for batch in &batches {
                    w.write(batch).unwrap();
                }
                black_box(w.close().unwrap());
            })
        },
    );
    buffers.recycle(data);
    group.bench_function("generate_sort_encode", |b| {
        b.iter(|| {
            let data = generate_shard(&world, USERS, 1, 0, &AtomicU64::new(0), &mut buffers);
            black_box(write_events(dir.path(), 0, &data.events, &provenance).unwrap());
            buffers.recycle(data);
        })
    });
    group.finish();
}

fn pipeline(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let options = Options {
        users: 4 * USERS,
        seed: 2018,
        scenario: Scenario::preset("facebook-2018").unwrap(),
        shards: 8,
        only_shard: None,
        threads,
        out: dir.path().join("d"),
        force: true,
        compression: Default::default(),
        split_truth: None,
        discovery: false,
    };
    let events = generate::generate(&options, &Progress::default())
        .unwrap()
        .manifest
        .counts
        .events;
    let mut group = c.benchmark_group("generate_dataset");
    group.throughput(Throughput::Elements(events));
    group.sample_size(10);
    group.bench_function(format!("{}_users_{threads}_threads", 4 * USERS), |b| {
        b.iter(|| black_box(generate::generate(&options, &Progress::default()).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, model, encode, bound, pipeline);
criterion_main!(benches);
