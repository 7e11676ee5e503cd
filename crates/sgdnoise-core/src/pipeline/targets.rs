//! Targets: `run` and `plan` may name stages, globs over stage names or instance ids, or
//! instance ids; only those and everything they need are planned. The selection is a smaller
//! pipeline of the same name whose instances keep their ids and parameters, so their keys (and
//! what is cached) are exactly those of the whole pipeline.
//!
//! A target is matched, in this order, as a stage name, an instance id, a glob (`*`, `?`) over
//! stage names, then a glob over instance ids (`fc-mnist[P=1024,*]`); `[` and `]` are literal.

use std::collections::BTreeSet;

use super::graph;
use super::spec::{Pipeline, Stage};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    #[error("target `{target}` matches no stage or instance of {pipeline} (stages: {stages})")]
    NoMatch { target: String, pipeline: String, stages: String },
}

/// What one target selects.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Selection {
    /// Every instance of the stage.
    Stage(usize),
    /// One instance of a stage.
    Instance(usize, usize),
}

/// The part of `pipeline` that `targets` name, with everything upstream of it; the whole
/// pipeline when `targets` is empty.
pub fn select(pipeline: Pipeline, targets: &[String]) -> Result<Pipeline, TargetError> {
    if targets.is_empty() {
        return Ok(pipeline);
    }
    let n = pipeline.stages.len();
    // Per stage: None (not selected), Some(None) (all instances), Some(Some(set)) (some).
    let mut chosen: Vec<Option<Option<BTreeSet<usize>>>> = vec![None; n];
    for target in targets {
        let found = matches(&pipeline, target);
        if found.is_empty() {
            return Err(TargetError::NoMatch {
                target: target.clone(),
                pipeline: pipeline.name.clone(),
                stages: pipeline.stages.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", "),
            });
        }
        for sel in found {
            match sel {
                Selection::Stage(s) => chosen[s] = Some(None),
                Selection::Instance(s, i) => match &mut chosen[s] {
                    Some(None) => {}
                    Some(Some(set)) => {
                        set.insert(i);
                    }
                    slot @ None => *slot = Some(Some(BTreeSet::from([i]))),
                },
            }
        }
    }
    // What a selected stage needs is needed whole: an aggregate reads every upstream instance.
    for &si in pipeline.order.iter().rev() {
        if chosen[si].is_some() {
            for &u in &pipeline.stages[si].needs {
                chosen[u] = Some(None);
            }
        }
    }
    let kept: Vec<usize> = (0..n).filter(|&i| chosen[i].is_some()).collect();
    let new_index = |old: usize| kept.iter().position(|&k| k == old).expect("needs of a kept stage are kept");
    let Pipeline { file, name, stages, .. } = pipeline;
    let mut reduced: Vec<Stage> = Vec::with_capacity(kept.len());
    for (old, mut stage) in stages.into_iter().enumerate() {
        let Some(which) = chosen[old].take() else { continue };
        if let Some(set) = which {
            let mut index = 0;
            stage.instances.retain(|_| {
                let keep = set.contains(&index);
                index += 1;
                keep
            });
        }
        stage.needs = stage.needs.iter().map(|&u| new_index(u)).collect();
        reduced.push(stage);
    }
    let needs: Vec<Vec<usize>> = reduced.iter().map(|s| s.needs.clone()).collect();
    let order = graph::order(&needs).expect("a subgraph of an acyclic graph is acyclic");
    Ok(Pipeline { file, name, stages: reduced, order })
}

fn matches(pipeline: &Pipeline, target: &str) -> Vec<Selection> {
    if let Some(s) = pipeline.stage(target) {
        return vec![Selection::Stage(s)];
    }
    let instances = || {
        pipeline
            .stages
            .iter()
            .enumerate()
            .flat_map(|(s, st)| st.instances.iter().enumerate().map(move |(i, inst)| (s, i, inst)))
    };
    if let Some((s, i, _)) = instances().find(|(_, _, inst)| inst.id == target) {
        return vec![Selection::Instance(s, i)];
    }
    if !target.contains(['*', '?']) {
        return Vec::new();
    }
    let stages: Vec<Selection> =
        (0..pipeline.stages.len()).filter(|&s| glob(target, &pipeline.stages[s].name)).map(Selection::Stage).collect();
    if !stages.is_empty() {
        return stages;
    }
    instances().filter(|(_, _, inst)| glob(target, &inst.id)).map(|(s, i, _)| Selection::Instance(s, i)).collect()
}

/// Whether `text` matches `pattern`, where `*` is any run of characters and `?` any one.
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and where in the text it started matching.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const PIPELINE: &str = r#"
name: t
stages:
  mnist: { kind: dataset, params: { data: mnist-parity, test_size: 64 } }
  fc-a:
    kind: train
    needs: [mnist]
    params: { data: mnist-parity, arch: fc, depth: 1, width: 4, alpha: 1, batch: 2 }
    sweep: { grid: { P: [8, 16], T: [0.5, 1], seed: [0] } }
  fc-b:
    kind: train
    needs: [mnist]
    params: { data: mnist-parity, arch: fc, depth: 1, width: 4, alpha: 1, batch: 2, P: 8, T: 1 }
  perceptron:
    kind: train
    params: { data: depleted, chi: 1, dim: 4, arch: linear, alpha: 1, batch: 2, T: 1 }
    sweep: { grid: { P: [8, 16] } }
  a-runs: { kind: collect, needs: [fc-a] }
  a-weights: { kind: fit, needs: [a-runs], params: { y: rel_dw, law: "T^delta * P^gamma" } }
"#;

    fn pipeline() -> Pipeline {
        crate::pipeline::spec::parse(Path::new("t.yaml"), PIPELINE).expect("valid pipeline")
    }

    fn shape(p: &Pipeline) -> Vec<(String, usize)> {
        p.order.iter().map(|&i| (p.stages[i].name.clone(), p.stages[i].instances.len())).collect()
    }

    fn names(items: &[(&str, usize)]) -> Vec<(String, usize)> {
        items.iter().map(|(n, c)| ((*n).to_owned(), *c)).collect()
    }

    #[test]
    fn a_stage_brings_what_it_needs_and_nothing_else() {
        let p = select(pipeline(), &["a-weights".into()]).unwrap();
        assert_eq!(shape(&p), names(&[("mnist", 1), ("fc-a", 4), ("a-runs", 1), ("a-weights", 1)]));
        for s in &p.stages {
            for &u in &s.needs {
                assert!(u < p.stages.len());
            }
        }
        assert_eq!(p.stages[p.stage("a-runs").unwrap()].needs, vec![p.stage("fc-a").unwrap()]);
    }

    #[test]
    fn globs_match_stage_names_then_instance_ids() {
        let p = select(pipeline(), &["fc-*".into()]).unwrap();
        assert_eq!(shape(&p), names(&[("mnist", 1), ("fc-a", 4), ("fc-b", 1)]));
        let p = select(pipeline(), &["fc-a[P=16,*".into()]).unwrap();
        assert_eq!(shape(&p), names(&[("mnist", 1), ("fc-a", 2)]));
        let ids: Vec<&str> = p.stages[1].instances.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, ["fc-a[P=16,T=0.5,seed=0]", "fc-a[P=16,T=1,seed=0]"]);
    }

    #[test]
    fn an_instance_id_selects_one_instance() {
        let p = select(pipeline(), &["perceptron[P=16]".into()]).unwrap();
        assert_eq!(shape(&p), names(&[("perceptron", 1)]));
        assert_eq!(p.stages[0].instances[0].id, "perceptron[P=16]");
        // A stage named beside one of its instances is taken whole.
        let p = select(pipeline(), &["perceptron[P=16]".into(), "perceptron".into()]).unwrap();
        assert_eq!(shape(&p), names(&[("perceptron", 2)]));
    }

    #[test]
    fn an_unknown_target_names_the_stages() {
        let err = select(pipeline(), &["nope*".into()]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "target `nope*` matches no stage or instance of t (stages: mnist, fc-a, fc-b, perceptron, a-runs, a-weights)"
        );
    }

    #[test]
    fn glob_semantics() {
        assert!(glob("fc-*", "fc-mnist"));
        assert!(glob("*-runs", "fc-mnist-runs"));
        assert!(glob("f?-*s", "fc-runs"));
        assert!(glob("a*b*c", "aXbYbZc"));
        assert!(!glob("fc-*", "phase-fc"));
        assert!(!glob("a*b", "aXbY"));
        assert!(glob("*", ""));
    }
}
