//! Pipeline files: typed with serde (`deny_unknown_fields`, through `serde_path_to_error`),
//! checked before anything runs, every error located as `file:line:col: key.path: message`.
//!
//! ```yaml
//! name: perceptron-small
//! defaults: { train: { max_steps: 100000 } }     # per stage kind
//! stages:
//!   train:
//!     kind: train
//!     params: { data: depleted, chi: 1, dim: 16, arch: linear, alpha: 32768, batch: 2 }
//!     sweep: { grid: { P: [256, 512], T: "2^-4..2^-2", seed: "0..2" } }
//!   runs: { kind: collect, needs: [train] }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::located::{self, Node, Pos};
use super::{graph, sweep};
use crate::stages::params::{self, Params};
use crate::stages::registry::{self, StageKind};

/// An invalid pipeline, pointing at the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineError {
    pub file: PathBuf,
    pub pos: Option<Pos>,
    pub path: String,
    pub message: String,
}

impl fmt::Display for PipelineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(p) = self.pos {
            write!(f, ":{}:{}", p.line, p.col)?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for PipelineError {}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    name: String,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(default)]
    defaults: serde_yaml::Mapping,
    stages: serde_yaml::Mapping,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StageSpec {
    kind: String,
    #[serde(default)]
    params: serde_yaml::Mapping,
    #[serde(default)]
    needs: Vec<String>,
    #[serde(default)]
    sweep: Option<SweepSpec>,
    #[serde(default)]
    weight: Option<usize>,
    #[serde(default)]
    replicas: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepSpec {
    #[serde(default)]
    grid: Option<serde_yaml::Mapping>,
    #[serde(default)]
    zip: Option<serde_yaml::Mapping>,
    #[serde(default)]
    list: Option<Vec<serde_yaml::Mapping>>,
}

/// Swept values of one instance, in axis order.
pub type SweepPoint = Vec<(String, Value)>;

/// One instance of a stage: its id and resolved parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceSpec {
    pub id: String,
    pub params: Params,
    /// The swept values, in axis order.
    pub point: Vec<(String, Value)>,
}

pub struct Stage {
    pub name: String,
    pub kind: &'static dyn StageKind,
    /// Indices of the stages this one needs, in the order written.
    pub needs: Vec<usize>,
    pub instances: Vec<InstanceSpec>,
    /// Worker slots an instance occupies.
    pub weight: usize,
    /// Up to this many compatible instances run together as batched replicas (train stages).
    pub replicas: usize,
}

impl fmt::Debug for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stage")
            .field("name", &self.name)
            .field("kind", &self.kind.name())
            .field("needs", &self.needs)
            .field("instances", &self.instances.len())
            .finish()
    }
}

/// A validated pipeline.
#[derive(Debug)]
pub struct Pipeline {
    pub file: PathBuf,
    pub name: String,
    pub stages: Vec<Stage>,
    /// Topological order, ties broken by declaration order.
    pub order: Vec<usize>,
}

impl Pipeline {
    pub fn stage(&self, name: &str) -> Option<usize> {
        self.stages.iter().position(|s| s.name == name)
    }

    pub fn instance_count(&self) -> usize {
        self.stages.iter().map(|s| s.instances.len()).sum()
    }
}

struct Ctx<'a> {
    file: &'a Path,
    tree: &'a Node,
}

impl Ctx<'_> {
    /// An error at the key of `path` (or the deepest existing part of it).
    fn at(&self, path: &str, message: impl Into<String>) -> PipelineError {
        PipelineError {
            file: self.file.to_owned(),
            pos: Some(self.tree.locate(path)),
            path: path.to_owned(),
            message: message.into(),
        }
    }

    /// An error at the value of `path` when it exists.
    fn at_value(&self, path: &str, message: impl Into<String>) -> PipelineError {
        let pos = self.tree.value_pos(path).unwrap_or_else(|| self.tree.locate(path));
        PipelineError { file: self.file.to_owned(), pos: Some(pos), path: path.to_owned(), message: message.into() }
    }
}

/// Reads and validates a pipeline file.
pub fn load(file: &Path) -> Result<Pipeline, PipelineError> {
    let text = std::fs::read_to_string(file).map_err(|e| PipelineError {
        file: file.to_owned(),
        pos: None,
        path: String::new(),
        message: format!("cannot read: {e}"),
    })?;
    parse(file, &text)
}

/// Validates pipeline text (`file` only names it in errors).
pub fn parse(file: &Path, text: &str) -> Result<Pipeline, PipelineError> {
    let tree = located::parse(text).map_err(|e| PipelineError {
        file: file.to_owned(),
        pos: Some(e.pos),
        path: e.path,
        message: e.message,
    })?;
    let Some(tree) = tree else {
        return Err(PipelineError {
            file: file.to_owned(),
            pos: None,
            path: String::new(),
            message: "empty pipeline file".into(),
        });
    };
    let ctx = Ctx { file, tree: &tree };
    let spec: FileSpec = typed(&ctx, "", serde_yaml::Deserializer::from_str(text))?;
    if spec.name.trim().is_empty() {
        return Err(ctx.at_value("name", "must not be empty"));
    }
    if spec.stages.is_empty() {
        return Err(ctx.at("stages", "a pipeline needs at least one stage"));
    }

    // Defaults, per stage kind.
    let mut defaults: BTreeMap<String, Params> = BTreeMap::new();
    for (k, v) in &spec.defaults {
        let kind = yaml_key(&ctx, "defaults", k)?;
        let path = format!("defaults.{kind}");
        let Some(kind_impl) = registry::find(&kind) else {
            return Err(
                ctx.at(&path, format!("unknown stage kind `{kind}` (known: {})", registry::kind_names().join(", ")))
            );
        };
        let map = to_params(&ctx, &path, v)?;
        for (p, value) in &map {
            let Some(def) = kind_impl.params().iter().find(|d| d.name == p) else {
                return Err(ctx.at(&format!("{path}.{p}"), format!("unknown parameter of {kind}")));
            };
            params::coerce(def, value).map_err(|m| ctx.at_value(&format!("{path}.{p}"), m))?;
        }
        defaults.insert(kind, map);
    }

    // Stages, in file order.
    let mut names: Vec<String> = Vec::new();
    let mut raw: Vec<(String, StageSpec)> = Vec::new();
    for (k, v) in &spec.stages {
        let name = yaml_key(&ctx, "stages", k)?;
        let path = format!("stages.{name}");
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(ctx.at(&path, "stage names use letters, digits, `_` and `-`"));
        }
        if v.is_null() {
            return Err(ctx.at(&path, "a stage needs at least a `kind`"));
        }
        let stage: StageSpec = typed(&ctx, &path, v.clone())?;
        names.push(name.clone());
        raw.push((name, stage));
    }

    let mut stages: Vec<Stage> = Vec::new();
    let mut needs_all: Vec<Vec<usize>> = Vec::new();
    for (name, s) in &raw {
        let path = format!("stages.{name}");
        let kind = registry::find(&s.kind).ok_or_else(|| {
            ctx.at_value(
                &format!("{path}.kind"),
                format!("unknown stage kind `{}` (known: {})", s.kind, registry::kind_names().join(", ")),
            )
        })?;
        let mut needs = Vec::new();
        for (i, need) in s.needs.iter().enumerate() {
            let idx = names.iter().position(|n| n == need).ok_or_else(|| {
                ctx.at_value(
                    &format!("{path}.needs[{i}]"),
                    format!("unknown stage `{need}` (stages: {})", names.join(", ")),
                )
            })?;
            if needs.contains(&idx) {
                return Err(ctx.at_value(&format!("{path}.needs[{i}]"), format!("`{need}` is needed twice")));
            }
            needs.push(idx);
        }
        if s.weight == Some(0) {
            return Err(ctx.at_value(&format!("{path}.weight"), "must be at least 1"));
        }
        if s.replicas == Some(0) {
            return Err(ctx.at_value(&format!("{path}.replicas"), "must be at least 1"));
        }
        let fixed = to_params(&ctx, &format!("{path}.params"), &serde_yaml::Value::Mapping(s.params.clone()))?;
        let points = expand_sweep(&ctx, &path, s.sweep.as_ref(), &fixed)?;
        let mut instances = Vec::with_capacity(points.len());
        let mut seen_ids = BTreeSet::new();
        let kind_defaults = defaults.get(kind.name()).cloned().unwrap_or_default();
        for (point, origin) in points {
            let mut given = kind_defaults.clone();
            given.extend(fixed.clone());
            given.extend(point.iter().cloned());
            let resolved = params::resolve(kind.params(), &given).map_err(|(param, msg)| {
                let where_ = locate_param(&param, &point, &origin, &fixed, &kind_defaults, &path, kind.name());
                ctx.at(&where_, msg)
            })?;
            let id = sweep::instance_id(name, &point);
            if !seen_ids.insert(id.clone()) {
                return Err(ctx.at(&format!("{path}.sweep"), format!("duplicate sweep point {id}")));
            }
            instances.push(InstanceSpec { id, params: resolved, point });
        }
        needs_all.push(needs.clone());
        stages.push(Stage {
            name: name.clone(),
            kind,
            needs,
            instances,
            weight: s.weight.unwrap_or(1),
            replicas: s.replicas.unwrap_or(1),
        });
    }

    let order = graph::order(&needs_all).map_err(|cycle| {
        let names: Vec<&str> = cycle.iter().map(|&i| stages[i].name.as_str()).collect();
        ctx.at(&format!("stages.{}.needs", names[0]), format!("cycle: {}", names.join(" → ")))
    })?;

    // Kind-specific checks against the upstream instances.
    for stage in &stages {
        let path = format!("stages.{}", stage.name);
        let stages_ref = &stages;
        let upstream: Vec<(&str, &Params)> = stage
            .needs
            .iter()
            .flat_map(|&n| stages_ref[n].instances.iter().map(move |i| (stages_ref[n].kind.name(), &i.params)))
            .collect();
        // Every instance is checked: a sweep can make one point invalid (batch > P).
        for inst in &stage.instances {
            if let Err((param, msg)) = stage.kind.check(&inst.params, &upstream) {
                let where_ = if param.is_empty() {
                    path.clone()
                } else if param == "needs" {
                    format!("{path}.needs")
                } else if inst.point.iter().any(|(k, _)| *k == param) {
                    ["grid", "zip"]
                        .iter()
                        .map(|w| format!("{path}.sweep.{w}.{param}"))
                        .find(|p| ctx.tree.value_pos(p).is_some())
                        .unwrap_or_else(|| format!("{path}.sweep"))
                } else {
                    format!("{path}.params.{param}")
                };
                let msg = if stage.instances.len() > 1 { format!("{msg} (instance {})", inst.id) } else { msg };
                return Err(ctx.at(&where_, msg));
            }
        }
    }
    Ok(Pipeline { file: file.to_owned(), name: spec.name, stages, order })
}

/// Where a parameter's value came from, for an error about it.
fn locate_param(
    param: &str,
    point: &[(String, Value)],
    origin: &str,
    fixed: &Params,
    defaults: &Params,
    stage_path: &str,
    kind: &str,
) -> String {
    if point.iter().any(|(k, _)| k == param) {
        format!("{origin}.{param}")
    } else if fixed.contains_key(param) {
        format!("{stage_path}.params.{param}")
    } else if defaults.contains_key(param) {
        format!("defaults.{kind}.{param}")
    } else {
        format!("{stage_path}.params.{param}")
    }
}

/// Sweep points with the path of the sweep part they came from.
fn expand_sweep(
    ctx: &Ctx,
    path: &str,
    sweep: Option<&SweepSpec>,
    fixed: &Params,
) -> Result<Vec<(SweepPoint, String)>, PipelineError> {
    let Some(s) = sweep else { return Ok(vec![(Vec::new(), format!("{path}.params"))]) };
    let spath = format!("{path}.sweep");
    if s.list.is_some() && (s.grid.is_some() || s.zip.is_some()) {
        return Err(ctx.at(&spath, "use either `list` or `grid`/`zip`"));
    }
    if s.list.is_none() && s.grid.is_none() && s.zip.is_none() {
        return Err(ctx.at(&spath, "empty sweep: give `grid`, `zip` or `list`"));
    }
    let mut axis_names: BTreeSet<String> = BTreeSet::new();
    let mut check_axis = |name: &str, apath: &str| -> Result<(), PipelineError> {
        if fixed.contains_key(name) {
            return Err(ctx.at(apath, format!("`{name}` is both in params and in the sweep")));
        }
        if !axis_names.insert(name.to_owned()) {
            return Err(ctx.at(apath, format!("`{name}` is swept twice")));
        }
        Ok(())
    };
    if let Some(list) = &s.list {
        if list.is_empty() {
            return Err(ctx.at(&format!("{spath}.list"), "empty sweep list"));
        }
        let mut out = Vec::new();
        for (i, entry) in list.iter().enumerate() {
            let epath = format!("{spath}.list[{i}]");
            let m = to_params(ctx, &epath, &serde_yaml::Value::Mapping(entry.clone()))?;
            if m.is_empty() {
                return Err(ctx.at(&epath, "empty sweep point"));
            }
            for k in m.keys() {
                if fixed.contains_key(k) {
                    return Err(ctx.at(&format!("{epath}.{k}"), format!("`{k}` is both in params and in the sweep")));
                }
            }
            // Points keep the file's key order.
            let mut point = Vec::new();
            for k in entry.keys() {
                let key = yaml_key(ctx, &epath, k)?;
                let value = m.get(&key).cloned().unwrap_or(Value::Null);
                if matches!(value, Value::Array(_) | Value::Object(_)) {
                    return Err(ctx.at_value(&format!("{epath}.{key}"), "a list point's values are scalars"));
                }
                point.push((key, sweep::scalar(&value)));
            }
            out.push((point, epath));
        }
        return Ok(out);
    }
    let mut parts: Vec<(Vec<SweepPoint>, String)> = Vec::new();
    for (which, map) in [("grid", &s.grid), ("zip", &s.zip)] {
        let Some(map) = map else { continue };
        let gpath = format!("{spath}.{which}");
        if map.is_empty() {
            return Err(ctx.at(&gpath, format!("empty sweep {which}")));
        }
        let mut axes = Vec::new();
        for (k, v) in map {
            let name = yaml_key(ctx, &gpath, k)?;
            let apath = format!("{gpath}.{name}");
            check_axis(&name, &apath)?;
            let json = yaml_to_json(ctx, &apath, v)?;
            let values = sweep::axis_values(&json).map_err(|m| ctx.at_value(&apath, m))?;
            axes.push((name, values));
        }
        let pts =
            if which == "grid" { sweep::grid(&axes) } else { sweep::zip(&axes) }.map_err(|m| ctx.at(&gpath, m))?;
        parts.push((pts, gpath));
    }
    // grid × zip
    let mut out: Vec<(Vec<(String, Value)>, String)> = vec![(Vec::new(), String::new())];
    for (pts, origin) in parts {
        let mut next = Vec::with_capacity(out.len() * pts.len());
        for (prefix, _) in &out {
            for p in &pts {
                let mut point = prefix.clone();
                point.extend(p.iter().cloned());
                next.push((point, origin.clone()));
            }
        }
        if next.len() > sweep::MAX_POINTS {
            return Err(ctx.at(&spath, format!("the sweep has more than {} points", sweep::MAX_POINTS)));
        }
        out = next;
    }
    // An axis error is reported at the axis; the origin of a point is the sweep part of its
    // last axis, good enough to point at the right block.
    Ok(out)
}

fn yaml_key(ctx: &Ctx, path: &str, k: &serde_yaml::Value) -> Result<String, PipelineError> {
    match k {
        serde_yaml::Value::String(s) => Ok(s.clone()),
        serde_yaml::Value::Number(n) => Ok(n.to_string()),
        _ => Err(ctx.at(path, "keys must be strings")),
    }
}

fn yaml_to_json(ctx: &Ctx, path: &str, v: &serde_yaml::Value) -> Result<Value, PipelineError> {
    let json = serde_json::to_value(v).map_err(|e| ctx.at_value(path, format!("unsupported value: {e}")))?;
    check_numbers(&json).map_err(|m| ctx.at_value(path, m))?;
    Ok(json)
}

fn check_numbers(v: &Value) -> Result<(), String> {
    match v {
        Value::Array(items) => items.iter().try_for_each(check_numbers),
        Value::Object(m) => m.values().try_for_each(check_numbers),
        _ => Ok(()),
    }
}

fn to_params(ctx: &Ctx, path: &str, v: &serde_yaml::Value) -> Result<Params, PipelineError> {
    let serde_yaml::Value::Mapping(m) = v else {
        return Err(ctx.at_value(path, "expected a mapping of parameters"));
    };
    let mut out = Params::new();
    for (k, val) in m {
        let key = yaml_key(ctx, path, k)?;
        let ppath = format!("{path}.{key}");
        if let serde_yaml::Value::Number(n) = val {
            if n.as_f64().is_some_and(|f| !f.is_finite()) {
                return Err(ctx.at_value(&ppath, format!("invalid number `{n}`")));
            }
        }
        let json = yaml_to_json(ctx, &ppath, val)?;
        out.insert(key, sweep::scalar(&json));
    }
    Ok(out)
}

/// Deserialises a typed part, turning serde's error into a located one.
fn typed<'de, T: Deserialize<'de>, D: serde::Deserializer<'de, Error = E>, E: fmt::Display>(
    ctx: &Ctx,
    prefix: &str,
    de: D,
) -> Result<T, PipelineError> {
    serde_path_to_error::deserialize(de).map_err(|e| {
        let inner = e.path().to_string();
        let path = match (prefix.is_empty(), inner == ".") {
            (true, _) => {
                if inner == "." {
                    String::new()
                } else {
                    inner.clone()
                }
            }
            (false, true) => prefix.to_owned(),
            (false, false) => format!("{prefix}.{inner}"),
        };
        let mut message = e.inner().to_string();
        // serde_yaml appends its own location (ours is more precise) and may prefix the path.
        if let Some(i) = message.find(" at line ") {
            message.truncate(i);
        }
        let last = path.rsplit('.').next().unwrap_or("");
        for prefix in [format!("{inner}: "), format!("{last}: ")] {
            if !last.is_empty() && message.starts_with(&prefix) {
                message = message[prefix.len()..].to_owned();
            }
        }
        if path.is_empty() {
            // A missing top-level field: point at the start of the file.
            return PipelineError { file: ctx.file.to_owned(), pos: Some(Pos { line: 1, col: 1 }), path, message };
        }
        ctx.at(&path, message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse(Path::new("p.yaml"), text).unwrap_err().to_string()
    }

    #[test]
    fn expands_a_perceptron_sweep() {
        let p = parse(
            Path::new("p.yaml"),
            "name: t\nstages:\n  train:\n    kind: train\n    params: { data: depleted, chi: 1, dim: 8, arch: linear, alpha: 2^15, batch: 2 }\n    sweep:\n      grid: { P: [16, 32], T: \"2^-3..2^-2\", seed: \"0..1\" }\n  runs: { kind: collect, needs: [train] }\n",
        )
        .unwrap();
        assert_eq!(p.stages[0].instances.len(), 8);
        assert_eq!(p.stages[0].instances[0].id, "train[P=16,T=0.125,seed=0]");
        assert_eq!(p.stages[0].instances[0].params["alpha"], serde_json::json!(32768.0));
        assert_eq!(p.order, vec![0, 1]);
    }

    #[test]
    fn errors_point_at_the_text() {
        assert_eq!(
            err("name: t\nstages:\n  a:\n    kind: trian\n"),
            "p.yaml:4:11: stages.a.kind: unknown stage kind `trian` (known: dataset, train, collect, fit, crossover, optimum, report)"
        );
        assert_eq!(
            err("name: t\nstages:\n  a:\n    kind: collect\n    needs: [b]\n"),
            "p.yaml:5:13: stages.a.needs[0]: unknown stage `b` (stages: a)"
        );
        assert!(err("name: t\nstages:\n  a:\n    kind: collect\n    nedds: [b]\n")
            .starts_with("p.yaml:5:5: stages.a.nedds: unknown field `nedds`"));
    }
}
