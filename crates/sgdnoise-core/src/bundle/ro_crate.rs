//! `ro-crate-metadata.json`: the chain as a Workflow Run RO-Crate, Provenance Run Crate profile
//! (<https://w3id.org/ro/wfrun/provenance/0.5>), so that provenance tools read our bundles as
//! they read Nextflow's, Galaxy's or cwltool's: the pipeline is the `ComputationalWorkflow`,
//! each stage a `HowToStep`, each stage kind (with its version) a `SoftwareApplication`, and
//! each instance a `CreateAction` with its inputs (`object`), outputs (`result`), instrument,
//! times and status (`#run-KEY`, the instance's key). Outputs are named by their blake3 hash
//! (`#blake3:…`): they live in `objects.pack.gz`, or are left out and rebuilt (the manifest says
//! which). Written compact: at paper scale it describes thousands of actions.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::format::{Entry, Scope, MANIFEST, OBJECTS, PROVENANCE};

const CRATE: &str = "https://w3id.org/ro/crate/1.1";
const PROFILES: [&str; 4] = [
    "https://w3id.org/ro/wfrun/process/0.5",
    "https://w3id.org/ro/wfrun/workflow/0.5",
    "https://w3id.org/ro/wfrun/provenance/0.5",
    "https://w3id.org/workflowhub/workflow-ro-crate/1.0",
];

fn id(s: &str) -> Value {
    json!({ "@id": s })
}

pub fn metadata(scope: &Scope, entries: &[Entry]) -> Value {
    let workflow = format!("pipelines/{}.yaml", scope.pipeline);
    let mut graph = vec![
        json!({
            "@id": "ro-crate-metadata.json",
            "@type": "CreativeWork",
            "conformsTo": [id(CRATE), id(PROFILES[3])],
            "about": id("./"),
        }),
        json!({
            "@id": "./",
            "@type": "Dataset",
            "name": format!("sgdnoise results bundle of pipeline {}", scope.pipeline),
            "description": "Every execution behind the results, with their stored outputs: check it with `sgdnoise verify --bundle DIR`, audit with `sgdnoise why --bundle DIR ID`, merge with `sgdnoise import DIR`.",
            "conformsTo": PROFILES[..3].iter().map(|p| id(p)).collect::<Vec<_>>(),
            "license": id("https://spdx.org/licenses/MIT"),
            "mainEntity": id(&workflow),
            "hasPart": [id(&workflow), id(MANIFEST), id(PROVENANCE), id(OBJECTS)],
            "mentions": entries.iter().map(|e| id(&format!("#run-{}", e.key))).collect::<Vec<_>>(),
        }),
        json!({ "@id": MANIFEST, "@type": "File", "encodingFormat": "application/json", "description": "sizes and blake3 hashes of the bundle's files" }),
        json!({ "@id": PROVENANCE, "@type": "File", "encodingFormat": "application/gzip", "description": "one JSON line per execution" }),
        json!({ "@id": OBJECTS, "@type": "File", "encodingFormat": "application/gzip", "description": "the stored outputs, `HASH SIZE` then the bytes" }),
        json!({ "@id": "#sgdnoise-pipeline", "@type": "ComputerLanguage", "name": "sgdnoise pipeline (YAML)" }),
    ];
    let mut stages: BTreeMap<&str, &str> = BTreeMap::new();
    let mut tools: BTreeMap<String, (&str, u32, Value)> = BTreeMap::new();
    for e in entries {
        stages.entry(e.stage.as_str()).or_insert(e.kind.as_str());
        let version = e.env.get("sgdnoise_version").cloned().unwrap_or(Value::Null);
        tools.entry(format!("#kind-{}-v{}", e.kind, e.kind_version)).or_insert((
            e.kind.as_str(),
            e.kind_version,
            version,
        ));
    }
    graph.push(json!({
        "@id": workflow,
        "@type": ["File", "SoftwareSourceCode", "ComputationalWorkflow", "HowTo"],
        "name": scope.pipeline,
        "programmingLanguage": id("#sgdnoise-pipeline"),
        "step": stages.keys().map(|s| id(&format!("#step-{s}"))).collect::<Vec<_>>(),
    }));
    for (i, (stage, kind)) in stages.iter().enumerate() {
        graph.push(json!({
            "@id": format!("#step-{stage}"),
            "@type": "HowToStep",
            "name": stage,
            "position": i,
            "description": format!("stage of kind {kind}"),
        }));
    }
    for (tool, (kind, version, sgdnoise)) in &tools {
        graph.push(json!({
            "@id": tool,
            "@type": "SoftwareApplication",
            "name": format!("sgdnoise stage kind {kind}, version {version}"),
            "softwareVersion": sgdnoise,
        }));
    }
    let mut outputs: BTreeMap<&str, &str> = BTreeMap::new();
    for e in entries {
        let tool = format!("#kind-{}-v{}", e.kind, e.kind_version);
        let inputs: Vec<Value> = e
            .inputs
            .iter()
            .flat_map(|i| entries.binary_search_by(|x| x.key.cmp(&i.key)).ok().map(|j| &entries[j]))
            .flat_map(|up| up.outputs.values().map(|h| id(&format!("#blake3:{h}"))))
            .collect();
        for (name, h) in &e.outputs {
            outputs.entry(h.as_str()).or_insert(name.as_str());
        }
        graph.push(json!({
            "@id": format!("#run-{}", e.key),
            "@type": "CreateAction",
            "name": e.instance,
            "instrument": id(&tool),
            "object": inputs,
            "result": e.outputs.values().map(|h| id(&format!("#blake3:{h}"))).collect::<Vec<_>>(),
            "startTime": e.started_at,
            "endTime": e.finished_at,
            "actionStatus": id("http://schema.org/CompletedActionStatus"),
        }));
    }
    for (hash, name) in outputs {
        graph.push(json!({ "@id": format!("#blake3:{hash}"), "@type": "File", "name": name }));
    }
    json!({ "@context": "https://w3id.org/ro/crate/1.1/context", "@graph": graph })
}
