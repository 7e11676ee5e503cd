//! Why an instance reruns. The fast path compares key hashes; only on a miss are the stored key
//! inputs of the instance's previous execution compared field by field, in a fixed order,
//! producing typed reasons rendered in one place.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::key::KeyInputs;
use crate::job::Partial;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum RerunReason {
    /// No earlier execution of this instance (a new sweep point, a new stage).
    NewInstance,
    KeyFormatChanged,
    ImplChanged {
        kind: String,
        old: u32,
        new: u32,
    },
    LibtorchChanged {
        old: String,
        new: String,
    },
    DeviceChanged {
        old: String,
        new: String,
    },
    ParamChanged {
        name: String,
        old: Value,
        new: Value,
    },
    ExternalChanged {
        file: String,
    },
    /// A single-output upstream produced something else.
    UpstreamOutputChanged {
        stage: String,
    },
    /// Outputs of a swept upstream were added or removed.
    UpstreamSetChanged {
        stage: String,
        added: usize,
        removed: usize,
    },
    /// An upstream instance is not fresh: this key cannot be known before it runs.
    UpstreamWillRun {
        stage: String,
    },
    /// The raw data this instance reads is missing here: it cannot run until it is provided.
    MissingData {
        message: String,
    },
    /// The record exists but an object of it is gone from the store.
    OutputMissing {
        output: String,
        hash: String,
    },
    /// The record exists but an object of it no longer hashes to its name (a flipped bit, a
    /// truncated file): it is never read, and the instance runs again.
    OutputCorrupt {
        output: String,
        hash: String,
    },
    /// An object of the record cannot be read (permissions, an I/O error): it may be fine, but
    /// it cannot be used.
    OutputUnreadable {
        output: String,
        hash: String,
        message: String,
    },
    /// Its outputs were left out of an imported bundle: rebuilt from its raw files, expected to
    /// give this output hash again.
    Rebuild {
        output_hash: String,
    },
    /// The same key was tried before and failed.
    PreviousFailed {
        error: String,
    },
    /// Nothing differs from the last execution of this id, yet no record holds the key (the
    /// record was removed by `gc`, or the last run was interrupted).
    NotRecorded,
    /// With `--partial`: a training run not done yet, left for a full run.
    Pending,
    /// An aggregate's share of its upstream changed (`--partial` against a full run or another
    /// partial one).
    CoverageChanged {
        old: Option<Partial>,
        new: Option<Partial>,
    },
}

fn coverage(p: &Option<Partial>) -> String {
    match p {
        Some(p) => format!("{} of {}", p.done, p.planned),
        None => "all".into(),
    }
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => "unset".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl fmt::Display for RerunReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RerunReason::NewInstance => write!(f, "new instance"),
            RerunReason::KeyFormatChanged => write!(f, "key format changed"),
            RerunReason::ImplChanged { kind, old, new } => {
                write!(f, "implementation of {kind} changed (version {old} → {new})")
            }
            RerunReason::LibtorchChanged { old, new } => write!(f, "libtorch changed {old} → {new}"),
            RerunReason::DeviceChanged { old, new } => write!(f, "device changed {old} → {new}"),
            RerunReason::ParamChanged { name, old, new } => {
                write!(f, "param {name} changed {} → {}", show(old), show(new))
            }
            RerunReason::ExternalChanged { file } => write!(f, "raw file {file} changed"),
            RerunReason::UpstreamOutputChanged { stage } => write!(f, "upstream {stage} output changed"),
            RerunReason::UpstreamSetChanged { stage, added, removed } => {
                write!(f, "upstream {stage} changed: {added} added, {removed} removed")
            }
            RerunReason::UpstreamWillRun { stage } => write!(f, "upstream {stage} will run"),
            RerunReason::OutputMissing { output, hash } => {
                write!(f, "output missing: {output} (object {}) is not in the store", short(hash))
            }
            RerunReason::OutputUnreadable { output, hash, message } => {
                write!(f, "output unreadable: {output} (object {}): {message}", short(hash))
            }
            RerunReason::OutputCorrupt { output, hash } => {
                write!(f, "output corrupt: {output} (object {}) no longer matches its hash", short(hash))
            }
            RerunReason::MissingData { message } => write!(f, "cannot run here: {message}"),
            RerunReason::PreviousFailed { error } => write!(f, "previous attempt failed: {error}"),
            RerunReason::Rebuild { output_hash } => {
                write!(f, "rebuild: outputs left out of an imported bundle (expected {})", short(output_hash))
            }
            RerunReason::NotRecorded => write!(f, "not recorded (interrupted or collected)"),
            RerunReason::Pending => write!(f, "pending: not run by --partial"),
            RerunReason::CoverageChanged { old, new } => {
                write!(f, "upstream coverage changed {} → {}", coverage(old), coverage(new))
            }
        }
    }
}

/// The differences between the key inputs of the previous execution and the current ones.
pub fn explain(old: &KeyInputs, new: &KeyInputs) -> Vec<RerunReason> {
    let (o, n) = (&old.key, &new.key);
    let mut out = Vec::new();
    if o.salt != n.salt {
        out.push(RerunReason::KeyFormatChanged);
    }
    if o.kind_version != n.kind_version || o.kind != n.kind {
        out.push(RerunReason::ImplChanged { kind: n.kind.clone(), old: o.kind_version, new: n.kind_version });
    }
    let (ot, nt) = (o.torch.as_ref(), n.torch.as_ref());
    if let (Some(a), Some(b)) = (ot, nt) {
        if a.libtorch != b.libtorch {
            out.push(RerunReason::LibtorchChanged { old: a.libtorch.clone(), new: b.libtorch.clone() });
        }
        if a.device_class != b.device_class {
            out.push(RerunReason::DeviceChanged { old: a.device_class.clone(), new: b.device_class.clone() });
        }
    }
    let names: BTreeSet<&String> = o.params.keys().chain(n.params.keys()).collect();
    for name in names {
        let (a, b) = (o.params.get(name).unwrap_or(&Value::Null), n.params.get(name).unwrap_or(&Value::Null));
        if a != b {
            out.push(RerunReason::ParamChanged { name: name.clone(), old: a.clone(), new: b.clone() });
        }
    }
    for (file, sha) in &n.external {
        if o.external.iter().find(|(f, _)| f == file).map(|(_, s)| s) != Some(sha) {
            out.push(RerunReason::ExternalChanged { file: file.clone() });
        }
    }
    let old_set: BTreeSet<&String> = o.inputs.iter().collect();
    let new_set: BTreeSet<&String> = n.inputs.iter().collect();
    let mut per_stage: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new(); // added, removed, total new
    for h in &n.inputs {
        let stage = new.input_stages.get(h).map(String::as_str).unwrap_or("?");
        let e = per_stage.entry(stage).or_default();
        e.2 += 1;
        if !old_set.contains(h) {
            e.0 += 1;
        }
    }
    for h in &o.inputs {
        if !new_set.contains(h) {
            let stage = old.input_stages.get(h).map(String::as_str).unwrap_or("?");
            // Attribute to the current stage of the same name, or to the only changed one.
            per_stage.entry(stage).or_default().1 += 1;
        }
    }
    if o.partial != n.partial {
        out.push(RerunReason::CoverageChanged { old: o.partial, new: n.partial });
    }
    for (stage, (added, removed, total)) in per_stage {
        if added == 0 && removed == 0 {
            continue;
        }
        if added == 1 && removed == 1 && total == 1 {
            out.push(RerunReason::UpstreamOutputChanged { stage: stage.to_owned() });
        } else {
            out.push(RerunReason::UpstreamSetChanged { stage: stage.to_owned(), added, removed });
        }
    }
    if out.is_empty() {
        out.push(RerunReason::NotRecorded);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::key::{StageKey, TorchKey, KEY_SALT};
    use serde_json::json;

    fn inputs(t: f64, ups: &[&str], version: u32) -> KeyInputs {
        KeyInputs {
            key: StageKey {
                salt: KEY_SALT.into(),
                kind: "train".into(),
                kind_version: version,
                params: [("T".to_owned(), json!(t))].into_iter().collect(),
                inputs: ups.iter().map(|s| s.to_string()).collect(),
                external: vec![],
                torch: Some(TorchKey { libtorch: "2.11.0".into(), device_class: "cpu".into() }),
                determinism: Default::default(),
                partial: None,
            },
            input_stages: ups.iter().map(|s| (s.to_string(), "mnist".to_owned())).collect(),
            external_paths: Default::default(),
        }
    }

    #[test]
    fn wording_is_pinned() {
        let r = explain(&inputs(0.25, &["a"], 1), &inputs(0.5, &["b"], 2));
        let text: Vec<String> = r.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            vec![
                "implementation of train changed (version 1 → 2)",
                "param T changed 0.25 → 0.5",
                "upstream mnist output changed"
            ]
        );
        let r = explain(&inputs(0.25, &["a", "b"], 1), &inputs(0.25, &["a", "b", "c", "d"], 1));
        assert_eq!(r[0].to_string(), "upstream mnist changed: 2 added, 0 removed");
        assert_eq!(RerunReason::NewInstance.to_string(), "new instance");
        assert_eq!(explain(&inputs(0.25, &["a"], 1), &inputs(0.25, &["a"], 1)), vec![RerunReason::NotRecorded]);
    }
}
