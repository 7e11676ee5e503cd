//! The stored outputs of the stage kinds, as typed structs in one place: the writers serialise
//! them, and the report, `results`, the analyses and the tests deserialise them; nobody indexes
//! a stored `Value` by string. An output's bytes are its identity (its hash enters every key
//! downstream), so each struct serialises to exactly the bytes its kind has always stored, and
//! [`encode`] checks in debug builds that what it writes reads back to the same bytes (as cargo
//! does with its fingerprints in `write_fingerprint`).
//!
//! | file            | struct             | written by                 |
//! |-----------------|--------------------|----------------------------|
//! | `record.json`   | [`TrainRecord`]    | train                      |
//! | `runs.json`     | [`RunsTable`]      | collect                    |
//! | `coverage.json` | [`Coverage`]       | collect, with `--partial`  |
//! | `fit.json`      | [`FitOutput`]      | fit                        |
//! | `crossover.json`| [`CrossoverOutput`]| crossover                  |
//! | `optimum.json`  | [`OptimumOutput`]  | optimum                    |
//!
//! (`dataset` stores a binary `pool.bin` with its own codec; `report` stores HTML, Markdown and
//! SVG for people.)

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::analysis::optimum::OptimumFit;
use crate::analysis::powerlaw::FitResult;
use crate::analysis::table::Row;
use crate::job::Input;
use crate::run::RunSpec;
use crate::run::{RunRecord, Status};
use crate::store::{Store, StoreError};

/// A stage output stored as one JSON file.
pub trait Stored: Serialize + DeserializeOwned {
    /// The output's file name.
    const FILE: &'static str;
}

/// Reading a stored output failed.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("input {instance} has no {file}")]
    Missing { instance: String, file: &'static str },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{file} of input {instance}: {source}")]
    Read {
        instance: String,
        file: &'static str,
        #[source]
        source: StoreError,
    },
    #[error("object {hash} is not a valid {file}: {source}")]
    Decode {
        hash: String,
        file: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("{file} does not read back to its own bytes: line {line} `{stored}` became `{again}`")]
    NotRoundTrip { file: &'static str, line: usize, stored: String, again: String },
}

/// The bytes of an output. In debug builds they are checked to read back to themselves.
pub fn encode<T: Stored>(value: &T) -> Vec<u8> {
    let bytes = serde_json::to_vec_pretty(value).expect("a stored output serialises");
    if cfg!(debug_assertions) {
        if let Err(e) = round_trip::<T>(&bytes) {
            panic!("{e}");
        }
    }
    bytes
}

/// Decodes `bytes` as a `T` and encodes it again: an error unless that gives the same bytes.
pub fn round_trip<T: Stored>(bytes: &[u8]) -> Result<T, OutputError> {
    let value = decode::<T>("(unstored)", bytes)?;
    let again = serde_json::to_vec_pretty(&value).expect("a stored output serialises");
    if again != bytes {
        let (stored, again) = (String::from_utf8_lossy(bytes), String::from_utf8_lossy(&again));
        let (line, (a, b)) = stored
            .lines()
            .chain(std::iter::repeat(""))
            .zip(again.lines().chain(std::iter::repeat("")))
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .unwrap_or((0, ("", "")));
        let trim = |s: &str| s.trim().chars().take(80).collect();
        return Err(OutputError::NotRoundTrip { file: T::FILE, line: line + 1, stored: trim(a), again: trim(b) });
    }
    Ok(value)
}

/// Decodes the output `T` stored as object `hash`.
pub fn decode<T: Stored>(hash: &str, bytes: &[u8]) -> Result<T, OutputError> {
    serde_json::from_slice(bytes).map_err(|source| OutputError::Decode { hash: hash.to_owned(), file: T::FILE, source })
}

/// Reads the output `T` of an upstream instance.
pub fn read<T: Stored>(store: &Store, input: &Input) -> Result<T, OutputError> {
    let hash = input
        .outputs
        .get(T::FILE)
        .ok_or_else(|| OutputError::Missing { instance: input.instance.clone(), file: T::FILE })?;
    decode(hash, &get(store, input, T::FILE, hash)?)
}

/// An upstream object, named by its instance when it cannot be read.
fn get(store: &Store, input: &Input, file: &'static str, hash: &str) -> Result<Vec<u8>, OutputError> {
    store.get(hash).map_err(|source| OutputError::Read { instance: input.instance.clone(), file, source })
}

/// Reads `T` if the instance stored one (`coverage.json` exists only for partial tables).
pub fn read_optional<T: Stored>(store: &Store, input: &Input) -> Result<Option<T>, OutputError> {
    match input.outputs.get(T::FILE) {
        Some(hash) => Ok(Some(decode(hash, &get(store, input, T::FILE, hash)?)?)),
        None => Ok(None),
    }
}

/// `record.json`: one training run as stored: its parameters as it ran (the test split it used;
/// options it did not have left out), what it computed, its width and its raw data's hashes.
/// Its clock and environment are provenance, not output.
#[derive(Debug, Clone, Deserialize)]
pub struct TrainRecord {
    #[serde(flatten)]
    pub spec: RunSpec,
    #[serde(flatten)]
    pub run: RunRecord,
    /// The width h in T = dt/(h·B) (1 for the perceptron).
    pub h: usize,
    /// sha256 of the raw data files (their paths are environment, recorded in provenance).
    pub data_sha256: Vec<String>,
}

impl Stored for TrainRecord {
    const FILE: &'static str = "record.json";
}

/// The fields a record has always stored after `h` rather than in [`RunRecord`]'s order.
const AFTER_H: [&str; 2] = ["n_params", "full_checks"];

impl Serialize for TrainRecord {
    /// In the order records have always been stored (their bytes are their identity, and every
    /// cache holds them so): the parameters present, the outcome up to its trajectory, then `h`,
    /// `n_params`, `full_checks` and `data_sha256`.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeMap};
        let (Value::Object(spec), Value::Object(run)) = (
            serde_json::to_value(&self.spec).map_err(S::Error::custom)?,
            serde_json::to_value(&self.run).map_err(S::Error::custom)?,
        ) else {
            return Err(S::Error::custom("a run's parameters and outcome serialise to maps"));
        };
        let mut map = s.serialize_map(None)?;
        for (k, v) in spec.iter().filter(|(_, v)| !v.is_null()) {
            map.serialize_entry(k, v)?;
        }
        for (k, v) in run.iter().filter(|(k, _)| !AFTER_H.contains(&k.as_str())) {
            map.serialize_entry(k, v)?;
        }
        map.serialize_entry("h", &self.h)?;
        for k in AFTER_H {
            map.serialize_entry(k, &run[k])?;
        }
        map.serialize_entry("data_sha256", &self.data_sha256)?;
        map.end()
    }
}

/// One row of `runs.json`: a run's record and the key of the instance that made it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRow {
    #[serde(flatten)]
    pub record: TrainRecord,
    pub key: String,
}

impl RunRow {
    /// The row as named columns, for the analyses' user-named variables (`y: rel_dw`, `select`).
    pub fn columns(&self) -> Row {
        match serde_json::to_value(self).expect("a run row serialises") {
            Value::Object(map) => map,
            _ => unreachable!("a run row serialises to a map"),
        }
    }
}

/// `runs.json`: the runs of a collect, sorted by parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunsTable(pub Vec<RunRow>);

impl Stored for RunsTable {
    const FILE: &'static str = "runs.json";
}

/// `coverage.json`: how many of the planned runs a provisional table holds; analyses above it
/// carry it on as `provisional`, and the report marks their claims with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    pub runs_done: usize,
    pub runs_planned: usize,
}

impl Stored for Coverage {
    const FILE: &'static str = "coverage.json";
}

/// The claim an analysis tests, as its parameters state it, carried into its output.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Claim {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
    /// Expected values: exponent → number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theory: Option<Map<String, Value>>,
    /// What the paper reports, as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paper: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub select: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<Map<String, Value>>,
}

crate::named_enum! {
    /// Where an expected value comes from.
    pub enum Source {
        /// The paper's abstract (a = γ/δ; k = (D−1)/(D+1)).
        Abstract = "abstract",
        /// The published theory of the perceptron (PNAS 2024: δ = 1, γ = 1/(1+χ)).
        Theory = "theory",
        /// Derived here, from the same scaling argument (the manual gives it).
        Derived = "derived",
    }
}

impl Source {
    /// As the report and the claims table name it.
    pub fn text(self) -> &'static str {
        match self {
            Source::Abstract => "the paper's abstract",
            Source::Theory => "published theory (PNAS 2024)",
            Source::Derived => "derived here",
        }
    }
}

impl Claim {
    /// Where the expected values come from (`theory.source`), when the claim states them.
    pub fn source(&self) -> Option<Source> {
        serde_json::from_value(self.theory.as_ref()?.get("source")?.clone()).ok()
    }

    /// The expected value of exponent `name`, if the claim states one.
    pub fn theory_of(&self, name: &str) -> Option<f64> {
        self.theory.as_ref()?.get(name)?.as_f64().filter(|v| v.is_finite())
    }
}

/// `fit.json`: a power law fitted over runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FitOutput {
    /// The observable fitted.
    pub y: String,
    /// The law as written, e.g. `T^delta * P^gamma`.
    pub law: String,
    /// The law's variables, in the order written.
    pub variables: Vec<String>,
    pub fit: FitResult,
    pub claim: Claim,
    pub runs_used: usize,
    /// Reason → runs left out for it.
    pub runs_excluded: BTreeMap<String, usize>,
    /// Reason → the keys of those runs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub excluded_keys: BTreeMap<String, Vec<String>>,
    pub points: Vec<FitPoint>,
    /// Along each variable of the law: the local exponents between successive values and the
    /// window chosen from them (none with an explicit `range`).
    #[serde(default)]
    pub profiles: Vec<Profile>,
    /// Exponent → the lowest and highest value it takes over the admissible windows: the
    /// systematic part of its uncertainty.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub systematic: BTreeMap<String, (f64, f64)>,
    /// With no single power law: the exponents fitted in the other window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other_window: Option<BTreeMap<String, f64>>,
    pub used_keys: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisional: Option<Coverage>,
}

impl Stored for FitOutput {
    const FILE: &'static str = "fit.json";
}

/// One run as a fit saw it: the law's variables, the observable, the seed and the instance key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FitPoint {
    pub x: Vec<f64>,
    pub y: f64,
    pub seed: i64,
    pub key: String,
}

/// The local exponents along one variable of a law and the window chosen from them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub variable: String,
    pub exponent: String,
    pub slopes: Vec<crate::analysis::window::LocalExponent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<crate::analysis::window::WindowChoice>,
}

/// What a crossover or optimum output ends with: the claim it tests and the runs behind it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunsUsed {
    pub claim: Claim,
    pub runs_used: usize,
    /// Reason → runs left out for it.
    pub runs_excluded: BTreeMap<String, usize>,
    /// Reason → the keys of those runs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub excluded_keys: BTreeMap<String, Vec<String>>,
    pub used_keys: Vec<String>,
    /// Set when computed over part of the planned runs (`--partial`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisional: Option<Coverage>,
}

/// `crossover.json`: T_c(P), a, and δ, γ on the same resamples.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CrossoverOutput {
    pub x: String,
    pub y: String,
    pub group: String,
    /// The smallest temperatures forming each P's plateau.
    pub plateau: usize,
    /// a by each estimator, the T_c behind them and the mechanism test.
    pub panel: crate::analysis::panel::Panel,
    /// The observable of the δ, γ fit.
    pub weights: String,
    /// The window along T of the δ, γ fit: the rule's window nearest T_c (none: all T).
    pub weights_window: Option<crate::analysis::window::Window>,
    pub delta: Option<f64>,
    pub gamma: Option<f64>,
    pub gamma_over_delta: Option<f64>,
    #[serde(deserialize_with = "crate::json_float::pair")]
    pub gamma_over_delta_ci: (f64, f64),
    pub seeds: usize,
    /// Every run used, for the figures (seed spread, instance keys).
    pub runs: Vec<RunPoint>,
    #[serde(flatten)]
    pub used: RunsUsed,
}

impl Stored for CrossoverOutput {
    const FILE: &'static str = "crossover.json";
}

/// `optimum.json`: T_opt(α), k, and the whole (α, T) grid for the phase diagram.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OptimumOutput {
    pub x: String,
    pub y: String,
    pub group: String,
    pub alpha_max: f64,
    pub optimum: OptimumFit,
    /// Hidden layers D of the runs (when they share one).
    pub depth: Option<i64>,
    /// (D−1)/(D+1).
    pub theory_k: Option<f64>,
    pub seeds: usize,
    /// Every selected run, diverged and unconverged ones included (holes in the diagram).
    pub grid: Vec<RunPoint>,
    #[serde(flatten)]
    pub used: RunsUsed,
}

impl Stored for OptimumOutput {
    const FILE: &'static str = "optimum.json";
}

/// One run as an analysis saw it: its group (P or α), x (T), y, status, seed and instance key.
/// The report draws these (means and spread over seeds) and names the key on hover.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunPoint {
    pub group: Option<f64>,
    pub x: Option<f64>,
    pub y: Option<f64>,
    pub status: Option<Status>,
    pub seed: Option<u64>,
    pub key: String,
}

impl RunPoint {
    /// The point of a runs-table row for the columns `group`, `x`, `y`.
    pub fn of(row: &crate::analysis::table::Row, group: &str, x: &str, y: &str) -> RunPoint {
        use crate::analysis::table::{num, row_key};
        RunPoint {
            group: num(row, group),
            x: num(row, x),
            y: num(row, y),
            status: row.get("status").and_then(Value::as_str).and_then(Status::parse),
            seed: row.get("seed").and_then(Value::as_u64),
            key: row_key(row),
        }
    }
}

/// The output of one analysis stage, as the report reads it.
#[derive(Debug, Clone)]
pub enum Analysis {
    Fit(FitOutput),
    Crossover(CrossoverOutput),
    Optimum(OptimumOutput),
}

impl Analysis {
    /// Reads the analysis output of an upstream instance; `None` for other kinds.
    pub fn read(store: &Store, input: &Input) -> Option<Result<Analysis, OutputError>> {
        Some(match input.kind.as_str() {
            "fit" => read(store, input).map(Analysis::Fit),
            "crossover" => read(store, input).map(Analysis::Crossover),
            "optimum" => read(store, input).map(Analysis::Optimum),
            _ => return None,
        })
    }

    pub fn provisional(&self) -> Option<Coverage> {
        match self {
            Analysis::Fit(o) => o.provisional,
            Analysis::Crossover(o) => o.used.provisional,
            Analysis::Optimum(o) => o.used.provisional,
        }
    }
}

/// Checks that a stored output file decodes to its type and encodes back to the same bytes;
/// `Ok(false)` for a file that is not one of the typed outputs (HTML, SVG, `pool.bin`).
pub fn check_round_trip(file: &str, bytes: &[u8]) -> Result<bool, OutputError> {
    match file {
        TrainRecord::FILE => round_trip::<TrainRecord>(bytes).map(drop),
        RunsTable::FILE => round_trip::<RunsTable>(bytes).map(drop),
        Coverage::FILE => round_trip::<Coverage>(bytes).map(drop),
        FitOutput::FILE => round_trip::<FitOutput>(bytes).map(drop),
        CrossoverOutput::FILE => round_trip::<CrossoverOutput>(bytes).map(drop),
        OptimumOutput::FILE => round_trip::<OptimumOutput>(bytes).map(drop),
        _ => return Ok(false),
    }?;
    Ok(true)
}
