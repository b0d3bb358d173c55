//! Generation benchmarks: the world model alone, Parquet encoding of a shard, and the whole
//! `generate` pipeline on every core (the 5M events/s target).

use std::hint::black_box;
use std::sync::atomic::AtomicU64;

use blastradius_simulator::Scenario;
use blastradius_simulator::dataset::{self, Options, Progress};
use blastradius_simulator::shard::{Buffers, generate_shard};
use blastradius_simulator::user::World;
use blastradius_simulator::write::{Provenance, write_events};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const USERS: u64 = 40_000;

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
    let provenance = Provenance(vec![("bench".into(), "1".into())]);
    let mut group = c.benchmark_group("encode_events_parquet");
    group.throughput(Throughput::Elements(data.events.len() as u64));
    group.sample_size(10);
    group.bench_function(format!("{USERS}_users_zstd1"), |b| {
        b.iter(|| black_box(write_events(dir.path(), 0, &data.events, &provenance).unwrap()))
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
    };
    let events = dataset::generate(&options, &Progress::default())
        .unwrap()
        .manifest
        .counts
        .events;
    let mut group = c.benchmark_group("generate_dataset");
    group.throughput(Throughput::Elements(events));
    group.sample_size(10);
    group.bench_function(format!("{}_users_{threads}_threads", 4 * USERS), |b| {
        b.iter(|| black_box(dataset::generate(&options, &Progress::default()).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, model, encode, pipeline);
criterion_main!(benches);
