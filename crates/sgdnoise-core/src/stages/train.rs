//! `train`: one training run (the same library function as `sgdnoise train`), in its own process.
//! This file declares the kind (parameters, versions, checks); its execution is libtorch's and is
//! given by `sgdnoise-torch` as the [`Trainer`](super::Trainer) of the execution context
//! (`sgdnoise_torch::training::TorchTrainer`).
//! The stored `record.json` holds only what the run computed (deterministic for a given libtorch,
//! device and thread count); wall time and rates go to provenance as metrics.

use serde_json::Value;

use super::dataset::DatasetParams;
use super::kind::{ExecContext, ExecOutput, StageError, StageKind};
use super::params::{typed, CheckError, Params, Schema, Typed};
use crate::job::Job;
use crate::run::ArchKind;
use crate::run::RunSpec;

pub struct Train;

/// The train stage's parameters are a [`RunSpec`], the same struct `sgdnoise train` fills.
static SCHEMA: Typed<RunSpec> = Typed::new();

impl StageKind for Train {
    fn name(&self) -> &'static str {
        "train"
    }

    fn version(&self) -> u32 {
        2
    }

    /// Per architecture since version 2: linear 3 (dot products in eight partial sums), mnas 3
    /// (bounded full-set passes), fc 3 (float32 on the CPU: the CPU's own products, each sum
    /// in a fixed order, the same bits on every x86-64 processor; float64 and GPU runs are
    /// computed as before but share the number).
    /// Called for every instance when planning: reads the one resolved field it needs.
    fn version_of(&self, params: &Params) -> u32 {
        match params.get("arch").and_then(serde_json::Value::as_str).and_then(ArchKind::parse) {
            Some(ArchKind::Linear | ArchKind::Mnas | ArchKind::Fc) => 3,
            None => self.version(),
        }
    }

    fn params(&self) -> &'static dyn Schema {
        &SCHEMA
    }

    fn uses_torch(&self) -> bool {
        true
    }

    fn isolated(&self) -> bool {
        true
    }

    fn check(&self, params: &Params, upstream: &[(&str, &Params)]) -> Result<(), CheckError> {
        let spec: RunSpec = typed(params)?;
        spec.check(None).map_err(|e| CheckError::param(e.param, e.message))?;
        let datasets: Vec<&Params> = upstream.iter().filter(|(k, _)| *k == "dataset").map(|(_, p)| *p).collect();
        if !spec.data.is_image() {
            if !datasets.is_empty() {
                return Err(CheckError::param("data", "depleted data is synthetic and needs no dataset stage"));
            }
            return Ok(());
        }
        let data = spec.data.name();
        match datasets.as_slice() {
            [one] => {
                let dataset: DatasetParams = typed(one)?;
                if dataset.data != spec.data {
                    return Err(CheckError::param(
                        "data",
                        format!("is {data} but the dataset stage it needs prepares {}", dataset.data),
                    ));
                }
                if spec.test_size.is_some() || spec.test_seed.is_some() {
                    return Err(CheckError::param(
                        "test_size",
                        "image tasks take the test split from their dataset stage; set test_size and test_seed there",
                    ));
                }
                Ok(())
            }
            [] => Err(CheckError::param(
                "data",
                format!("{data} needs a dataset stage in `needs` (kind: dataset, params: {{ data: {data} }})"),
            )),
            _ => Err(CheckError::needs("a train stage needs exactly one dataset instance")),
        }
    }

    fn execute(&self, ctx: &ExecContext, job: &Job) -> Result<ExecOutput, StageError> {
        let mut out = None;
        self.execute_group(ctx, std::slice::from_ref(job), &mut |_, r| out = Some(r));
        out.unwrap_or_else(|| Err(StageError::new("the trainer reported nothing")))
    }

    fn group_key(&self, params: &Params) -> Option<String> {
        // Runs that differ only in these can be trained as replicas of one another.
        let mut p = params.clone();
        for free in ["seed", "T", "alpha", "max_steps", "max_wall"] {
            p.remove(free);
        }
        Some(crate::canonical::canonical_json(&serde_json::to_value(&p).expect("params serialise")))
    }

    fn execute_group(
        &self,
        ctx: &ExecContext,
        jobs: &[Job],
        on_done: &mut dyn FnMut(usize, Result<ExecOutput, StageError>),
    ) {
        match ctx.trainer {
            Some(trainer) => trainer.train_group(ctx, jobs, on_done),
            None => {
                for i in 0..jobs.len() {
                    on_done(
                        i,
                        Err(StageError::new("train jobs execute in sgdnoise-torch (the binary that links libtorch)")),
                    );
                }
            }
        }
    }

    fn pending_when_partial(&self) -> bool {
        true
    }

    fn cost_features(&self) -> &'static [&'static str] {
        &["P", "T", "dim", "chi", "alpha", "width", "depth", "batch", "test_size"]
    }

    fn limits(&self) -> &'static [&'static str] {
        &["max_steps", "max_wall"]
    }

    /// A run that converged or diverged at step n, in w seconds, is the same run under any
    /// `max_steps` ≥ n and `max_wall` ≥ w (or none): it never reached them.
    fn ended_within(
        &self,
        outputs: &std::collections::BTreeMap<String, String>,
        store: &crate::store::Store,
        params: &Value,
        wall_s: Option<f64>,
    ) -> Option<String> {
        use crate::outputs::{decode, Stored, TrainRecord};
        let hash = outputs.get(TrainRecord::FILE)?;
        let record: TrainRecord = decode(hash, &store.get(hash).ok()?).ok()?;
        let run = &record.run;
        let ended = matches!(run.status, crate::run::Status::Converged | crate::run::Status::Diverged);
        let limit = |name: &str| params.get(name).and_then(Value::as_f64);
        let within_steps = limit("max_steps").is_none_or(|m| run.steps as f64 <= m);
        let within_wall = limit("max_wall").is_none_or(|m| wall_s.is_some_and(|w| w <= m));
        (ended && within_steps && within_wall).then(|| {
            format!(
                "the same run {} at step {} under max_steps {}{}, within the new limits",
                run.status,
                run.steps,
                record.spec.max_steps,
                record.spec.max_wall.map(|w| format!(" and max_wall {w} s")).unwrap_or_default()
            )
        })
    }

    /// `arch`, with the activation for nets (a GELU step costs more) and χ for the perceptron.
    fn cost_group(&self, params: &Value) -> String {
        let text = |k: &str| params.get(k).and_then(Value::as_str).unwrap_or("");
        match (text("arch"), text("act")) {
            // The perceptron's χ: at χ = 0 a run's cost grows with P and 1/T far faster.
            ("linear", _) => match params.get("chi").and_then(Value::as_f64) {
                Some(chi) => format!("linear chi={chi}"),
                None => "linear".to_owned(),
            },
            (a, "") => a.to_owned(),
            (a, act) => format!("{a} {act}"),
        }
    }
}
