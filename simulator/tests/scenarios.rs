//! Issue 13: random scenarios. Any scenario file is accepted or refused with a message
//! naming its key; an accepted one generates without panicking, aborting or overflowing.

use blastradius_simulator::Scenario;
use blastradius_simulator::generate::{self, Progress};
use proptest::prelude::*;

/// A number from everywhere a user might type one: typical, extreme, negative, not finite.
fn any_number() -> impl Strategy<Value = String> {
    prop_oneof![
        (0.0f64..2.0).prop_map(|x| format!("{x}")),
        (0u64..100_000).prop_map(|x| format!("{x}")),
        Just("4294967295".to_string()),
        Just("1e300".to_string()),
        Just("1e15".to_string()),
        Just("-5".to_string()),
        Just("nan".to_string()),
        Just("inf".to_string()),
        Just("0".to_string()),
        Just("\"text\"".to_string()),
    ]
}

fn any_key() -> impl Strategy<Value = &'static str> {
    prop::sample::select(
        blastradius_simulator::scenario::RANGES
            .iter()
            .map(|r| r.key)
            .collect::<Vec<_>>(),
    )
}

/// TOML that sets `key` (a dotted path) to `value`.
fn toml_for(key: &str, value: &str) -> String {
    let (table, leaf) = key.rsplit_once('.').unwrap();
    format!("[{table}]\n{leaf} = {value}\n")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn any_scenario_is_refused_by_key_or_generates(
        settings in prop::collection::vec((any_key(), any_number()), 1..4),
    ) {
        let mut text: String = settings.iter().map(|(k, v)| toml_for(k, v)).collect();
        // Half the cases start from the View-As preset, whose keys the others lack.
        if settings.len() % 2 == 0 {
            text = format!("preset = \"view-as-2018\"\n{text}");
        }
        match Scenario::from_toml(&text, "p.toml") {
            Err(e) => {
                let message = e.to_string();
                prop_assert!(
                    settings.iter().any(|(k, _)| message.contains(k.rsplit('.').next().unwrap()))
                        || message.contains("duplicate") || message.contains("sum")
                        || message.contains("photo_apps >= providers")
                        || message.contains("rate_limited + server_error"),
                    "{text}: {message}"
                );
            }
            Ok(scenario) => {
                let tmp = tempfile::tempdir().unwrap();
                let options = generate::Options {
                    users: 25,
                    seed: 1,
                    scenario,
                    shards: 2,
                    only_shard: None,
                    threads: 1,
                    out: tmp.path().join("d"),
                    force: false,
                    compression: Default::default(),
                    split_truth: None,
                    discovery: false,
                };
                let estimate = options.estimate();
                prop_assert!(estimate.events < 1 << 32, "{text}: {estimate:?}");
                generate::generate(&options, &Progress::default()).map_err(|e| {
                    TestCaseError::fail(format!("{text}: {e}"))
                })?;
            }
        }
    }
}
