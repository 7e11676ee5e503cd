//! The stage key: one plain struct, serialised canonically (sorted keys, no whitespace) and hashed
//! with blake3. Everything that decides an instance's output is in it; nothing else is.
//!
//! | field          | what                                                        | why                                   |
//! |----------------|-------------------------------------------------------------|---------------------------------------|
//! | `salt`         | [`KEY_SALT`]                                                | bump when the key's meaning changes   |
//! | `kind`         | stage kind name                                             | a fit is not a train                  |
//! | `kind_version` | the kind's implementation version                           | new code, new outputs                 |
//! | `params`       | keyed params, defaults applied, numbers normalised          | the experiment itself                 |
//! | `inputs`       | sorted set of the upstream instances' output hashes         | aggregates rerun when inputs change   |
//! | `external`     | (file name, sha256) of raw files read outside the store     | new MNIST bytes, new pool             |
//! | `torch`        | libtorch version (with build tag) and device class          | numerics differ across them           |
//! | `determinism`  | determinism-relevant settings                               | reserved; empty today                 |
//! | `partial`      | with `--partial`: upstream instances done of those planned  | a provisional aggregate is not final  |
//!
//! Not keyed (recorded in provenance only): the stage's name, instance id, paths, worker count,
//! threads, GPU index, log level.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::canonical::canonical_json;
use crate::job::Partial;

/// Bump when the meaning of the key changes: every instance reruns.
pub const KEY_SALT: &str = "sgdnoise-key-1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
pub struct TorchKey {
    pub libtorch: String,
    pub device_class: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageKey {
    pub salt: String,
    pub kind: String,
    pub kind_version: u32,
    pub params: BTreeMap<String, Value>,
    pub inputs: Vec<String>,
    pub external: Vec<(String, String)>,
    pub torch: Option<TorchKey>,
    pub determinism: BTreeMap<String, Value>,
    /// Only on aggregates computed over part of their upstream (`--partial`); absent otherwise,
    /// so complete keys serialise exactly as before the field existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial: Option<Partial>,
}

impl StageKey {
    /// The key's hex digest.
    pub fn hash(&self) -> String {
        let value = serde_json::to_value(self).expect("key serialises");
        blake3::hash(canonical_json(&value).as_bytes()).to_hex().to_string()
    }
}

/// What a key was computed from, kept beside it in provenance so a miss can be explained field
/// by field: the key and which upstream stage each input hash came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyInputs {
    pub key: StageKey,
    /// Input output-hash → upstream stage name (names are not keyed, only explained).
    pub input_stages: BTreeMap<String, String>,
    /// External file name → path (not keyed).
    #[serde(default)]
    pub external_paths: BTreeMap<String, String>,
}

/// The hash that stands for an instance's outputs downstream: blake3 over the canonical map of
/// output names to object hashes.
pub fn output_hash(outputs: &BTreeMap<String, String>) -> String {
    let value = serde_json::to_value(outputs).expect("outputs serialise");
    blake3::hash(canonical_json(&value).as_bytes()).to_hex().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key() -> StageKey {
        StageKey {
            salt: KEY_SALT.into(),
            kind: "train".into(),
            kind_version: 1,
            params: [("T".to_owned(), json!(0.25)), ("P".to_owned(), json!(256)), ("seed".to_owned(), json!(0))]
                .into_iter()
                .collect(),
            inputs: vec!["ab".repeat(32)],
            external: vec![],
            torch: Some(TorchKey { libtorch: "2.11.0+cu130".into(), device_class: "cpu".into() }),
            determinism: BTreeMap::new(),
            partial: None,
        }
    }

    #[test]
    fn canonical_json_sorts_keys() {
        assert_eq!(
            canonical_json(&json!({"b": 1, "a": [true, null, {"d": 0.5, "c": "x"}]})),
            r#"{"a":[true,null,{"c":"x","d":0.5}],"b":1}"#
        );
    }

    /// Golden hashes: a change here reruns every cached instance of every user, so it must be
    /// deliberate (bump KEY_SALT and update these together).
    #[test]
    fn golden_key_hashes() {
        assert_eq!(key().hash(), GOLDEN_TRAIN);
        let mut k = key();
        k.params.insert("T".into(), json!(0.5));
        assert_ne!(k.hash(), GOLDEN_TRAIN);
        let outputs: BTreeMap<String, String> = [("record.json".to_owned(), "cd".repeat(32))].into_iter().collect();
        assert_eq!(output_hash(&outputs), GOLDEN_OUTPUTS);
        let mut k = key();
        k.partial = Some(Partial { done: 3, planned: 4 });
        assert_ne!(k.hash(), GOLDEN_TRAIN, "a provisional aggregate has its own key");
    }
    const GOLDEN_TRAIN: &str = "42bdfddff79666597e4831f1d20424ed2946e4d9052754501cd5d0d8084b361b";
    const GOLDEN_OUTPUTS: &str = "d8dd4a6e8d5dd81fb99473396bb1e27501158e11717254333d2b71c39497c801";
}
