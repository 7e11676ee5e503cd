//! `sgdnoise export PIPELINE --stage NAME --out DIR`: copy the outputs of a stage's fresh
//! instances out of the store under their names (the report's HTML, Markdown and figures, a
//! collect table…). `run` does this for every report stage, into `reports/<pipeline name>/`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::cache;
use crate::cli::InvalidInput;
use crate::engine::plan::{Planner, Status};
use crate::pipeline::Pipeline;
use crate::store::Store;

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// The pipeline file.
    pipeline: PathBuf,
    #[command(flatten)]
    variant: cache::Variant,
    /// The stage whose outputs to copy, e.g. report.
    #[arg(long)]
    stage: String,
    /// Destination folder (default: reports/<pipeline name>/).
    #[arg(long)]
    out: Option<PathBuf>,
    /// The device class the training keys are for: auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// The cache folder (default: $SGDNOISE_CACHE or ./cache).
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Export what `run --partial` made (provisional analyses over the runs done).
    #[arg(long)]
    partial: bool,
}

pub(crate) fn run(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let pipeline = cache::load_pipeline(&args.pipeline, &args.variant)?;
    let si = pipeline.stage(&args.stage).ok_or_else(|| InvalidInput(format!("--stage: no stage `{}`", args.stage)))?;
    let cache_dir = cache::cache_dir(args.cache.as_deref());
    let (store, db) = cache::open_read(&cache_dir)?;
    let (env, _) = cache::plan_env(&args.device)?;
    let mut planner = Planner::new(&pipeline, &db, &store, env)?;
    planner.partial = args.partial;
    let plan = planner.plan();
    let out = args.out.unwrap_or_else(|| default_dir(&pipeline));
    let n = export_stage(&pipeline, &store, &plan, si, &out)?;
    if n == 0 {
        eprintln!("{:>12} {}: no fresh instance to export (run the pipeline first)", "Warning", args.stage);
        return Ok(ExitCode::from(super::EXIT_FAILED));
    }
    eprintln!("{:>12} {n} file(s) of {} to {}", "Exported", args.stage, out.display());
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn default_dir(pipeline: &Pipeline) -> PathBuf {
    PathBuf::from("reports").join(&pipeline.name)
}

/// What an export over an earlier one writes beside the report: the verdicts that changed.
pub(crate) const VERDICT_CHANGES: &str = "verdict-changes.md";

/// The verdicts that changed between the `claims.csv` already in the folder and the new one.
fn verdict_changes_text(old: &str, new: &str) -> String {
    let changes = crate::report::claims::verdict_changes(old, new);
    if changes.is_empty() {
        return "No verdict changed since the previous report in this folder.\n".into();
    }
    let mut text = format!("# Verdicts changed since the previous report in this folder ({})\n\n", changes.len());
    text += "| claim | quantity | estimator | before | now |\n|---|---|---|---|---|\n";
    for [claim, quantity, estimator, before, now] in changes {
        text += &format!("| {} | {quantity} | {estimator} | {before} | {now} |\n", claim.replace('|', "\\|"));
    }
    text
}

/// What `run` leaves in the report folder it exports to: the pipeline file and its `--set`
/// overrides, one a line, so that a report of another file of the same name is not replaced
/// silently.
pub(crate) const SOURCE: &str = ".sgdnoise-source";

/// The manifest an export leaves in each folder it writes: one `blake3 name` line per file.
pub(crate) const MANIFEST: &str = ".sgdnoise-export";

/// Copies the outputs of the fresh instances of stage `si` to `out` (one subfolder per instance
/// when the stage is swept). Returns the number of files written.
///
/// Files of an earlier export that this one does not rewrite (a figure that is gone) are removed,
/// but only a file the manifest lists by a plain name, whose content still has the hash listed
/// there and is an object of this store: what this tool wrote, never a file a prepared manifest
/// points at, never outside the folder.
pub(crate) fn export_stage(
    pipeline: &Pipeline,
    store: &Store,
    plan: &[Vec<crate::engine::plan::PlannedInstance>],
    si: usize,
    out: &Path,
) -> anyhow::Result<usize> {
    let stage = &pipeline.stages[si];
    let mut written = 0;
    for p in plan[si].iter().filter(|p| p.status == Status::Fresh) {
        let Some(rec) = &p.record else { continue };
        let dir = if stage.instances.len() > 1 {
            let id = &stage.instances[p.index].id;
            anyhow::ensure!(
                crate::pipeline::limits::is_path_component(id),
                InvalidInput(format!("stage {}: instance id `{id}` cannot name a folder", stage.name))
            );
            out.join(id)
        } else {
            out.to_path_buf()
        };
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let manifest = dir.join(MANIFEST);
        if let Ok(old) = std::fs::read_to_string(&manifest) {
            for (hash, name) in old.lines().filter_map(|l| l.split_once(' ')) {
                let ours = crate::pipeline::limits::is_path_component(name)
                    && !rec.outputs.contains_key(name)
                    && store.contains(hash)
                    && std::fs::read(dir.join(name)).is_ok_and(|b| blake3::hash(&b).to_hex().as_str() == hash);
                if ours {
                    std::fs::remove_file(dir.join(name))
                        .with_context(|| format!("removing {}", dir.join(name).display()))?;
                }
            }
        }
        if let (Some(hash), Ok(old)) = (rec.outputs.get("claims.csv"), std::fs::read_to_string(dir.join("claims.csv")))
        {
            let new = String::from_utf8_lossy(&store.get(hash)?).into_owned();
            let text = verdict_changes_text(&old, &new);
            eprint!("{text}");
            store
                .write_atomic(&dir.join(VERDICT_CHANGES), text.as_bytes())
                .with_context(|| format!("writing {}", dir.join(VERDICT_CHANGES).display()))?;
        }
        let mut lines = String::new();
        for (name, hash) in &rec.outputs {
            anyhow::ensure!(
                crate::pipeline::limits::is_path_component(name),
                "stage {}: output name `{name}` cannot name a file",
                stage.name
            );
            let bytes = store.get(hash).with_context(|| format!("output {name} of {}", stage.instances[p.index].id))?;
            store
                .write_atomic(&dir.join(name), &bytes)
                .with_context(|| format!("exporting {}", dir.join(name).display()))?;
            lines.push_str(&format!("{hash} {name}\n"));
            written += 1;
        }
        store.write_atomic(&manifest, lines.as_bytes()).with_context(|| format!("writing {}", manifest.display()))?;
    }
    Ok(written)
}
