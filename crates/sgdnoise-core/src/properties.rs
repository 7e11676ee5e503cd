//! Invariants of keys, sweeps, numbers and the YAML front end, as proptest properties (the
//! turborepo "order resistant" kind): what every golden case only samples.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use crate::canonical::canonical_json;
use crate::engine::key::{StageKey, TorchKey, KEY_SALT};
use crate::numbers::parse_number;
use crate::pipeline::sweep::{grid, instance_id};

fn key(params: BTreeMap<String, Value>) -> StageKey {
    StageKey {
        salt: KEY_SALT.into(),
        kind: "train".into(),
        kind_version: 1,
        params,
        inputs: vec!["a".repeat(64)],
        external: vec![("train-images".into(), "b".repeat(64))],
        torch: Some(TorchKey { libtorch: "2.11.0".into(), device_class: "cpu".into() }),
        determinism: BTreeMap::new(),
        partial: None,
    }
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i32>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        "[a-z]{0,6}".prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
    ]
}

fn params() -> impl Strategy<Value = Vec<(String, Value)>> {
    proptest::collection::btree_map("[a-zA-Z_]{1,6}", scalar(), 0..8).prop_map(|m| m.into_iter().collect())
}

proptest! {
    /// A JSON object's canonical text, and so every key, ignores the order its entries were
    /// inserted in.
    #[test]
    fn canonical_json_ignores_insertion_order(entries in params(), seed in any::<u64>()) {
        let forward: Map<String, Value> = entries.iter().cloned().collect();
        let mut shuffled = entries.clone();
        let n = shuffled.len().max(1) as u64;
        shuffled.rotate_left((seed % n) as usize);
        shuffled.reverse();
        let backward: Map<String, Value> = shuffled.into_iter().collect();
        let (a, b) = (json!({ "p": forward, "x": [1, 2] }), json!({ "x": [1, 2], "p": backward }));
        prop_assert_eq!(canonical_json(&a), canonical_json(&b));
    }

    /// Changing any one keyed parameter changes the key.
    #[test]
    fn every_keyed_parameter_changes_the_key(entries in params(), pick in any::<prop::sample::Index>(), other in scalar()) {
        prop_assume!(!entries.is_empty());
        let base: BTreeMap<String, Value> = entries.iter().cloned().collect();
        let (name, old) = &entries[pick.index(entries.len())];
        prop_assume!(&other != old);
        let mut changed = base.clone();
        changed.insert(name.clone(), other);
        prop_assert_ne!(key(base).hash(), key(changed).hash());
    }

    /// `2^k` reads as the power of two, and a number written plainly reads as itself.
    #[test]
    fn the_power_syntax_round_trips(k in -60i32..60, x in -1e12f64..1e12) {
        prop_assert_eq!(parse_number(&format!("2^{k}")), Some(2f64.powi(k)));
        prop_assert_eq!(parse_number(&format!("2^ {k}")), Some(2f64.powi(k)));
        prop_assert_eq!(parse_number(&x.to_string()), Some(x));
    }

    /// A grid has the product of its axes' sizes, its ids are unique, and expanding it again
    /// gives the same ids in the same order.
    #[test]
    fn grids_have_the_product_size_and_stable_unique_ids(sizes in proptest::collection::vec(1usize..5, 0..4)) {
        let axes: Vec<(String, Vec<Value>)> = sizes
            .iter()
            .enumerate()
            .map(|(a, &n)| (format!("x{a}"), (0..n).map(|i| json!(i as f64 / 4.0)).collect()))
            .collect();
        let points = grid(&axes, crate::pipeline::limits::MAX_INSTANCES).unwrap();
        prop_assert_eq!(points.len(), sizes.iter().product::<usize>());
        let ids: Vec<String> = points.iter().map(|p| instance_id("train", p)).collect();
        let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
        prop_assert_eq!(unique.len(), ids.len());
        let again: Vec<String> = grid(&axes, crate::pipeline::limits::MAX_INSTANCES).unwrap().iter().map(|p| instance_id("train", p)).collect();
        prop_assert_eq!(ids, again);
    }

    /// The front end never panics, whatever the text.
    #[test]
    fn the_pipeline_parser_never_panics(text in "[ -~\\n\\t]{0,300}") {
        let _ = crate::pipeline::spec::parse(std::path::Path::new("p.yaml"), &text);
    }

    /// Nor on text built from YAML's own punctuation, anchors and aliases included.
    #[test]
    fn the_pipeline_parser_never_panics_on_yaml_shapes(
        parts in proptest::collection::vec(prop_oneof![
            Just("name: x\n"), Just("stages:\n"), Just("  t:\n"), Just("    kind: train\n"), Just("&a "), Just("*a"),
            Just("["), Just("]"), Just("{"), Just("}"), Just(", "), Just(": "), Just("- "), Just("\n"), Just("  "),
            Just("2^-3"), Just("'q'"), Just("\"d\""), Just("#c"), Just("? "), Just("!!str "), Just("|\n"),
        ], 0..60)
    ) {
        let text: String = parts.concat();
        let _ = crate::pipeline::spec::parse(std::path::Path::new("p.yaml"), &text);
    }
}

/// `T: 1`, `T: 1.0` and `T: 2^0` are one parameter value, so one key.
#[test]
fn equal_numbers_written_differently_give_one_key() {
    let texts = ["1", "1.0", "2^0", "1e0"];
    let keys: Vec<String> = texts
        .iter()
        .map(|t| {
            let yaml = format!(
                "name: k\nstages:\n  train:\n    kind: train\n    params: {{ data: depleted, dim: 8, chi: 0, arch: linear, alpha: 32768, P: 16, batch: 2, T: {t} }}\n"
            );
            let pipeline = crate::pipeline::spec::parse(std::path::Path::new("k.yaml"), &yaml).unwrap();
            let params = &pipeline.stages[0].instances[0].params;
            key(params.clone()).hash()
        })
        .collect();
    assert!(keys.windows(2).all(|w| w[0] == w[1]), "{keys:?}");
}
