//! Pipeline files: read by the one YAML front end (`located`: a position tree that is itself a
//! serde deserializer) into `#[serde(deny_unknown_fields)]` structs, checked before anything runs,
//! every error located as `file:line:col: key.path: message`. Parsing runs in phases: the file's
//! shape, defaults per kind, each stage (needs, sweep expansion, parameters), the graph's order,
//! then each kind's checks against its upstream instances.
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

use super::limits::{self, MAX_FILE_BYTES, MAX_INSTANCES, MAX_STAGES};
use super::located::{self, LocatedError, Node, Ordered, Pos};
use super::overrides::{self, Override};
use super::{graph, sweep};
use crate::stages::params::{self, ParamAt, Params};
use crate::stages::{self, StageKind};

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
        match self.pos {
            // A node given with `--set`, not read from the file.
            Some(p) if p.line == 0 => write!(f, " (--set)")?,
            Some(p) => write!(f, ":{}:{}", p.line, p.col)?,
            None => {}
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for PipelineError {}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a pipeline: a mapping with `name` and `stages`")]
struct FileSpec {
    name: String,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(default)]
    defaults: Ordered<Ordered<Value>>,
    stages: Ordered<Option<StageSpec>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StageSpec {
    kind: String,
    #[serde(default)]
    params: Ordered<Value>,
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
    grid: Option<Ordered<Value>>,
    #[serde(default)]
    zip: Option<Ordered<Value>>,
    #[serde(default)]
    list: Option<Vec<Ordered<Value>>>,
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

/// Reads and validates a pipeline file: a regular file of at most [`MAX_FILE_BYTES`], UTF-8
/// text without NUL bytes (a byte-order mark at the start is allowed and skipped).
pub fn load(file: &Path) -> Result<Pipeline, PipelineError> {
    load_with(file, &[])
}

/// [`load`] with `--set` overrides applied to the file's tree before it is validated; a variant
/// (any override but of `name`) is named apart ([`overrides::variant_name`]).
pub fn load_with(file: &Path, overrides: &[Override]) -> Result<Pipeline, PipelineError> {
    let text = read_text(file).map_err(|message| PipelineError {
        file: file.to_owned(),
        pos: None,
        path: String::new(),
        message,
    })?;
    parse_with(file, &text, overrides).map_err(|e| PipelineError { file: file.to_owned(), ..e })
}

fn read_text(file: &Path) -> Result<String, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    // Non-blocking, so that opening a FIFO returns at once instead of waiting for a writer.
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(file)
        .map_err(|e| format!("cannot read: {e}"))?;
    let meta = f.metadata().map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        let what = if meta.is_dir() { "a folder" } else { "not a regular file (a FIFO, a socket or a device)" };
        return Err(format!("cannot read: {what}; a pipeline is a YAML file"));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!(
            "{} bytes is larger than a pipeline may be (MAX_FILE_BYTES = {MAX_FILE_BYTES})",
            meta.len()
        ));
    }
    let mut bytes = Vec::new();
    f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!("larger than a pipeline may be (MAX_FILE_BYTES = {MAX_FILE_BYTES})"));
    }
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(&bytes);
    let at = |offset: usize| {
        let before = &bytes[..offset];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let col = offset - before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1) + 1;
        format!("line {line}, column {col}")
    };
    if let Some(i) = bytes.iter().position(|&b| b == 0) {
        return Err(format!("a NUL byte at {}: a pipeline is text (is this a binary file?)", at(i)));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|e| format!("not UTF-8 text: an invalid byte at {}", at(e.valid_up_to())))?;
    if let Some(i) = text.find('\u{feff}') {
        return Err(format!("a byte-order mark (U+FEFF) at {}: remove it", at(i)));
    }
    Ok(text.to_owned())
}

/// Validates pipeline text (`file` only names it in errors). Values quoted in messages are cut
/// to [`limits::MAX_QUOTE`] characters.
pub fn parse(file: &Path, text: &str) -> Result<Pipeline, PipelineError> {
    parse_with(file, text, &[])
}

/// [`parse`] with `--set` overrides.
pub fn parse_with(file: &Path, text: &str, overrides: &[Override]) -> Result<Pipeline, PipelineError> {
    parse_unclipped(file, text, overrides).map_err(|e| PipelineError {
        message: limits::clip_quoted(&e.message),
        path: limits::clip(&e.path),
        ..e
    })
}

fn parse_unclipped(file: &Path, text: &str, overrides: &[Override]) -> Result<Pipeline, PipelineError> {
    let located_err =
        |e: LocatedError| PipelineError { file: file.to_owned(), pos: Some(e.pos), path: e.path, message: e.message };
    let Some(mut tree) = located::parse(text).map_err(located_err)? else {
        return Err(PipelineError {
            file: file.to_owned(),
            pos: None,
            path: String::new(),
            message: "empty pipeline file".into(),
        });
    };
    for o in overrides {
        overrides::apply(&mut tree, o).map_err(|e| PipelineError {
            file: file.to_owned(),
            pos: None,
            path: String::new(),
            message: e.to_string(),
        })?;
    }
    let ctx = Ctx { file, tree: &tree };
    let mut spec: FileSpec = tree.deserialize().map_err(located_err)?;
    spec.name = overrides::variant_name(&spec.name, overrides);
    if spec.name.trim().is_empty() {
        return Err(ctx.at_value("name", "must not be empty"));
    }
    if !limits::is_pipeline_name(&spec.name) {
        return Err(ctx.at_value(
            "name",
            format!(
                "`{}` cannot name the report folder: use letters, digits, `_`, `-` and `.` (not first), at most {} characters",
                spec.name,
                limits::MAX_QUOTE
            ),
        ));
    }
    if spec.stages.is_empty() {
        return Err(ctx.at("stages", "a pipeline needs at least one stage"));
    }
    if spec.stages.0.len() > MAX_STAGES {
        return Err(ctx.at(
            "stages",
            format!("{} stages is more than a pipeline may have (MAX_STAGES = {MAX_STAGES})", spec.stages.0.len()),
        ));
    }
    let defaults = read_defaults(&ctx, &spec.defaults)?;
    let raw = stage_specs(&ctx, &spec.stages)?;
    let names: Vec<&str> = raw.iter().map(|(n, _)| *n).collect();
    let index: std::collections::HashMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let mut budget = MAX_INSTANCES;
    let stages = raw
        .iter()
        .map(|(name, s)| read_stage(&ctx, name, s, (&names, &index), &defaults, &mut budget))
        .collect::<Result<Vec<Stage>, _>>()?;
    let needs_all: Vec<Vec<usize>> = stages.iter().map(|s| s.needs.clone()).collect();
    let order = graph::order(&needs_all).map_err(|cycle| {
        let names: Vec<&str> = cycle.iter().map(|&i| stages[i].name.as_str()).collect();
        ctx.at(&format!("stages.{}.needs", names[0]), format!("cycle: {}", names.join(" → ")))
    })?;
    check_against_upstream(&ctx, &stages)?;
    Ok(Pipeline { file: file.to_owned(), name: spec.name, stages, order })
}

/// Phase 1: defaults per stage kind, each parameter known to its kind and well-typed.
fn read_defaults(ctx: &Ctx, given: &Ordered<Ordered<Value>>) -> Result<BTreeMap<String, Params>, PipelineError> {
    let mut defaults = BTreeMap::new();
    for (kind, entries) in given.iter() {
        let path = format!("defaults.{kind}");
        let Some(kind_impl) = stages::find(kind) else {
            return Err(
                ctx.at(&path, format!("unknown stage kind `{kind}` (known: {})", stages::kind_names().join(", ")))
            );
        };
        let map = to_params(entries);
        for (p, value) in &map {
            if let Err(e) = kind_impl.params().check_value(p, value) {
                return Err(match e.kind {
                    params::ParamErrorKind::Unknown { .. } => {
                        ctx.at(&format!("{path}.{p}"), format!("unknown parameter of {kind}"))
                    }
                    _ => ctx.at_value(&format!("{path}.{p}"), e.to_string()),
                });
            }
        }
        defaults.insert(kind.to_owned(), map);
    }
    Ok(defaults)
}

/// Phase 2: the stages in file order, each named well and not empty.
fn stage_specs<'a>(
    ctx: &Ctx,
    stages: &'a Ordered<Option<StageSpec>>,
) -> Result<Vec<(&'a str, &'a StageSpec)>, PipelineError> {
    stages
        .iter()
        .map(|(name, stage)| {
            let path = format!("stages.{name}");
            if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                return Err(ctx.at(&path, "stage names use letters, digits, `_` and `-`"));
            }
            let stage = stage.as_ref().ok_or_else(|| ctx.at(&path, "a stage needs at least a `kind`"))?;
            Ok((name, stage))
        })
        .collect()
}

/// Phase 3: one stage's kind, needs, sweep points and resolved parameters per instance.
fn read_stage(
    ctx: &Ctx,
    name: &str,
    s: &StageSpec,
    (names, index): (&[&str], &std::collections::HashMap<&str, usize>),
    defaults: &BTreeMap<String, Params>,
    budget: &mut usize,
) -> Result<Stage, PipelineError> {
    let path = format!("stages.{name}");
    let kind = stages::find(&s.kind).ok_or_else(|| {
        ctx.at_value(
            &format!("{path}.kind"),
            format!("unknown stage kind `{}` (known: {})", s.kind, stages::kind_names().join(", ")),
        )
    })?;
    let mut needs = Vec::new();
    for (i, need) in s.needs.iter().enumerate() {
        let idx = *index.get(need.as_str()).ok_or_else(|| {
            let known: Vec<&str> = names.iter().take(20).copied().collect();
            ctx.at_value(
                &format!("{path}.needs[{i}]"),
                format!(
                    "unknown stage `{need}` (stages: {}{})",
                    known.join(", "),
                    if names.len() > known.len() { ", …" } else { "" }
                ),
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
    let fixed = to_params(&s.params);
    let points = expand_sweep(ctx, &path, s.sweep.as_ref(), &fixed, *budget)?;
    *budget -= points.len();
    let mut instances = Vec::with_capacity(points.len());
    let mut seen_ids = BTreeSet::new();
    let kind_defaults = defaults.get(kind.name()).cloned().unwrap_or_default();
    for (point, origin) in points {
        let mut given = kind_defaults.clone();
        given.extend(fixed.clone());
        given.extend(point.iter().cloned());
        let resolved = kind.params().resolve(&given).map_err(|e| {
            let where_ = locate_param(&e.param, &point, &origin, &fixed, &kind_defaults, &path, kind.name());
            ctx.at(&where_, e.to_string())
        })?;
        let id = sweep::instance_id(name, &point);
        if !limits::is_path_component(&id) {
            return Err(ctx.at(
                &origin,
                format!(
                    "instance id {id} cannot name an export folder: swept text may not hold `/`, `\\` or control characters, and an id is at most {} bytes",
                    limits::MAX_COMPONENT_BYTES
                ),
            ));
        }
        if !seen_ids.insert(id.clone()) {
            return Err(ctx.at(&format!("{path}.sweep"), format!("duplicate sweep point {id}")));
        }
        instances.push(InstanceSpec { id, params: resolved, point });
    }
    Ok(Stage {
        name: name.to_owned(),
        kind,
        needs,
        instances,
        weight: s.weight.unwrap_or(1),
        replicas: s.replicas.unwrap_or(1),
    })
}

/// Phase 5: each kind's checks of every instance against its upstream instances (a sweep can
/// make one point invalid: batch > P).
fn check_against_upstream(ctx: &Ctx, stages: &[Stage]) -> Result<(), PipelineError> {
    for stage in stages {
        let path = format!("stages.{}", stage.name);
        let upstream: Vec<(&str, &Params)> = stage
            .needs
            .iter()
            .flat_map(|&n| stages[n].instances.iter().map(move |i| (stages[n].kind.name(), &i.params)))
            .collect();
        for inst in &stage.instances {
            let Err(e) = stage.kind.check(&inst.params, &upstream) else { continue };
            let where_ = match &e.at {
                ParamAt::Stage => path.clone(),
                ParamAt::Needs => format!("{path}.needs"),
                ParamAt::Param(param) if inst.point.iter().any(|(k, _)| k == param) => ["grid", "zip"]
                    .iter()
                    .map(|w| format!("{path}.sweep.{w}.{param}"))
                    .find(|p| ctx.tree.value_pos(p).is_some())
                    .unwrap_or_else(|| format!("{path}.sweep")),
                ParamAt::Param(param) => format!("{path}.params.{param}"),
            };
            let msg =
                if stage.instances.len() > 1 { format!("{} (instance {})", e.message, inst.id) } else { e.message };
            return Err(ctx.at(&where_, msg));
        }
    }
    Ok(())
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

/// Phase 3b: sweep points with the path of the sweep part they came from.
fn expand_sweep(
    ctx: &Ctx,
    path: &str,
    sweep: Option<&SweepSpec>,
    fixed: &Params,
    budget: usize,
) -> Result<Vec<(SweepPoint, String)>, PipelineError> {
    let too_many = |n: String| {
        format!(
            "the sweep has {n} points: more than the {budget} the pipeline may still have (MAX_INSTANCES is {MAX_INSTANCES} over all stages)"
        )
    };
    let Some(s) = sweep else {
        if budget == 0 {
            return Err(ctx.at(path, too_many("1".into())));
        }
        return Ok(vec![(Vec::new(), format!("{path}.params"))]);
    };
    let spath = format!("{path}.sweep");
    if s.list.is_some() && (s.grid.is_some() || s.zip.is_some()) {
        return Err(ctx.at(&spath, "use either `list` or `grid`/`zip`"));
    }
    if s.list.is_none() && s.grid.is_none() && s.zip.is_none() {
        return Err(ctx.at(&spath, "empty sweep: give `grid`, `zip` or `list`"));
    }
    if let Some(list) = &s.list {
        if list.len() > budget {
            return Err(ctx.at(&format!("{spath}.list"), too_many(list.len().to_string())));
        }
        return list_points(ctx, &spath, list, fixed);
    }
    let mut axis_names: BTreeSet<&str> = BTreeSet::new();
    let mut parts: Vec<(Vec<SweepPoint>, String)> = Vec::new();
    for (which, map) in [("grid", &s.grid), ("zip", &s.zip)] {
        let Some(map) = map else { continue };
        let gpath = format!("{spath}.{which}");
        if map.is_empty() {
            return Err(ctx.at(&gpath, format!("empty sweep {which}")));
        }
        let mut axes = Vec::new();
        for (name, v) in map.iter() {
            let apath = format!("{gpath}.{name}");
            if fixed.contains_key(name) {
                return Err(ctx.at(&apath, format!("`{name}` is both in params and in the sweep")));
            }
            if !axis_names.insert(name) {
                return Err(ctx.at(&apath, format!("`{name}` is swept twice")));
            }
            let values = sweep::axis_values(v).map_err(|e| ctx.at_value(&apath, e.to_string()))?;
            axes.push((name.to_owned(), values));
        }
        let pts = if which == "grid" { sweep::grid(&axes, budget) } else { sweep::zip(&axes) }
            .map_err(|e| ctx.at(&gpath, e.to_string()))?;
        parts.push((pts, gpath));
    }
    // grid × zip; the origin of a point is the sweep part of its last axis, good enough to point
    // at the right block.
    let total = parts.iter().try_fold(1usize, |n, (pts, _)| n.checked_mul(pts.len()));
    if total.is_none_or(|n| n > budget) {
        let n = total.map_or_else(|| "too many".to_owned(), |n| n.to_string());
        return Err(ctx.at(&spath, too_many(n)));
    }
    let mut out: Vec<(SweepPoint, String)> = vec![(Vec::new(), String::new())];
    for (pts, origin) in parts {
        let mut next = Vec::with_capacity(out.len() * pts.len());
        for (prefix, _) in &out {
            for p in &pts {
                let mut point = prefix.clone();
                point.extend(p.iter().cloned());
                next.push((point, origin.clone()));
            }
        }
        out = next;
    }
    Ok(out)
}

/// The points of a `list` sweep, each keeping the file's key order.
fn list_points(
    ctx: &Ctx,
    spath: &str,
    list: &[Ordered<Value>],
    fixed: &Params,
) -> Result<Vec<(SweepPoint, String)>, PipelineError> {
    if list.is_empty() {
        return Err(ctx.at(&format!("{spath}.list"), "empty sweep list"));
    }
    let mut out = Vec::new();
    for (i, entry) in list.iter().enumerate() {
        let epath = format!("{spath}.list[{i}]");
        if entry.is_empty() {
            return Err(ctx.at(&epath, "empty sweep point"));
        }
        let mut point = Vec::new();
        for (key, value) in entry.iter() {
            if fixed.contains_key(key) {
                return Err(ctx.at(&format!("{epath}.{key}"), format!("`{key}` is both in params and in the sweep")));
            }
            if matches!(value, Value::Array(_) | Value::Object(_)) {
                return Err(ctx.at_value(&format!("{epath}.{key}"), "a list point's values are scalars"));
            }
            point.push((key.to_owned(), sweep::scalar(value)));
        }
        out.push((point, epath));
    }
    Ok(out)
}

/// Parameters as written (`2^k` strings read as numbers), before their kind resolves them.
fn to_params(entries: &Ordered<Value>) -> Params {
    entries.iter().map(|(k, v)| (k.to_owned(), sweep::scalar(v))).collect()
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
