//! `stress`, `scenario` and `bench`: bad flags and outputs.

use super::*;

#[test]
fn stress_scenario_and_bench_refuse_bad_input() {
    run_cases(&[
        Case {
            name: "exec without {out}",
            setup: data,
            args: &[
                "stress",
                "{d}",
                "--out",
                "{t}/s",
                "--exec",
                "python detect.py",
            ],
            needles: &["--exec", "{out}"],
        },
        Case {
            name: "two outside detectors sharing a folder",
            setup: data,
            args: &[
                "stress",
                "{d}",
                "--out",
                "{t}/s",
                "--exec",
                "true {out}",
                "--name",
                "a/b",
                "--exec",
                "true {out}",
                "--name",
                "a_b",
            ],
            needles: &["--name a_b", "`a/b`", "a name of its own"],
        },
        Case {
            name: "an outside detector named as a built-in one",
            setup: none,
            args: &[
                "bench",
                "detectors",
                "--users",
                "100",
                "--out",
                "{t}/b",
                "--exec",
                "true {out}",
                "--name",
                "exact",
            ],
            needles: &["--name exact", "`exact`", "a name of its own"],
        },
        Case {
            name: "a drop share above 1",
            setup: data,
            args: &["stress", "{d}", "--out", "{t}/s", "--drop", "2"],
            needles: &["--drop", "(0, 1]"],
        },
        Case {
            name: "unknown detector",
            setup: data,
            args: &["stress", "{d}", "--out", "{t}/s", "--detectors", "psychic"],
            needles: &["--detectors psychic"],
        },
        Case {
            name: "zero memory",
            setup: data,
            args: &[
                "stress",
                "{d}",
                "--out",
                "{t}/s",
                "--shard-memory-limits",
                "0",
            ],
            needles: &["--shard-memory-limits 0", "at least"],
        },
        Case {
            name: "out inside the dataset",
            setup: data,
            args: &["stress", "{d}", "--out", "{d}/s"],
            needles: &["inside the input"],
        },
        Case {
            name: "out is someone's folder",
            setup: |t| {
                data(t);
                std::fs::create_dir_all(t.join("s/work")).unwrap();
                std::fs::write(t.join("s/work/mine.txt"), "keep").unwrap();
            },
            args: &["stress", "{d}", "--out", "{t}/s", "--force"],
            needles: &["replaces only what it wrote"],
        },
        Case {
            name: "a replay slice that holds nothing",
            setup: data,
            args: &[
                "replay",
                "{d}",
                "--stdout",
                "--rate",
                "1000",
                "--from",
                "2018-10-01T00:00:00Z",
                "--until",
                "2018-09-01T00:00:00Z",
                "--out",
                "{t}/r",
            ],
            needles: &["--from 2018-10-01T00:00:00Z", "--until", "swap"],
        },
        Case {
            name: "a replay slice after the end of the log",
            setup: data,
            args: &[
                "replay",
                "{d}",
                "--stdout",
                "--rate",
                "1000",
                "--from",
                "2030-01-01T00:00:00Z",
                "--out",
                "{t}/r",
            ],
            needles: &["--from 2030-01-01T00:00:00Z", "after the end of the log"],
        },
        // Issue 22: accepted with no estimate, sent one event and waited (about 10^35 s).
        Case {
            name: "a replay schedule of ages",
            setup: data,
            args: &[
                "replay", "{d}", "--stdout", "--rate", "1e-30", "--out", "{t}/r",
            ],
            needles: &["more than 290,000 years", "--rate", "--yes"],
        },
        Case {
            name: "a zero timeout",
            setup: data,
            args: &["stress", "{d}", "--out", "{t}/s", "--timeout", "0"],
            needles: &["--timeout", "at least 1"],
        },
        Case {
            name: "a blind dataset without its key",
            setup: |t| {
                let o = blastradius(&[
                    "generate",
                    "--users",
                    "300",
                    "--out",
                    path_arg(&t.join("d")),
                    "--split-truth",
                    path_arg(&t.join("k")),
                ]);
                assert_ok(&o);
            },
            args: &["stress", "{d}", "--out", "{t}/s"],
            needles: &["--truth KEY"],
        },
        Case {
            name: "scenario show of nothing",
            setup: none,
            args: &["scenario", "show", "facebook-2019"],
            needles: &["facebook-2019"],
        },
        Case {
            name: "bench with no users",
            setup: none,
            args: &["bench", "scaling", "--users", "0", "--out", "{t}/b"],
            needles: &["--users"],
        },
        Case {
            name: "a bench with nothing to rate",
            setup: none,
            args: &[
                "bench",
                "detectors",
                "--detectors",
                "none",
                "--users",
                "100",
                "--out",
                "{t}/b",
            ],
            needles: &["--detectors none", "--exec"],
        },
        Case {
            name: "names without commands",
            setup: data,
            args: &["stress", "{d}", "--out", "{t}/s", "--name", "x"],
            needles: &["--name"],
        },
        Case {
            name: "a cluster executor with one port for two services",
            setup: none,
            args: &[
                "cluster",
                "executor",
                "--port",
                "7000",
                "--grpc-port",
                "7000",
            ],
            needles: if cfg!(feature = "ballista") {
                &["--port 7000 --grpc-port 7000", "two different ports"]
            } else {
                &["cluster", "--features ballista"]
            },
        },
        Case {
            name: "a cluster scheduler address without a port",
            setup: none,
            args: &["cluster", "scheduler", "--bind", "localhost"],
            needles: if cfg!(feature = "ballista") {
                &["--bind localhost", "HOST:PORT"]
            } else {
                &["cluster", "--features ballista"]
            },
        },
    ]);
}
