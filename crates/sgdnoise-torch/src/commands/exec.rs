//! `sgdnoise exec --key KEY`: execute one planned instance from its job file and print the result
//! as one JSON line. The dispatcher runs training this way; a cluster executor can too.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::cache;
use sgdnoise_core::datasets::DataPaths;
use std::io::Write;

use sgdnoise_core::engine::exec::{
    execute_group_in_process, execute_in_process, read_job, ExecError, ExecResult, ServeReply,
};
use sgdnoise_core::stages::Trainer;

#[derive(Debug, Args)]
pub(crate) struct ExecArgs {
    /// The instance's key (its job file is cache/jobs/KEY.json).
    #[arg(long, required_unless_present_any = ["serve", "task"])]
    key: Option<String>,
    /// Execute the keys listed in FILE (one group a line), leaving one result file each in
    /// cache/slurm/results/: a Slurm array task.
    #[arg(long, value_name = "FILE")]
    task: Option<PathBuf>,
    /// Read keys from standard input, one per line, and answer each with one JSON line
    /// (`{"ok": …}` or `{"error": …}`): the dispatcher's long-lived workers.
    #[arg(long)]
    serve: bool,
    /// The cache folder (default: $SGDNOISE_CACHE or ./cache).
    #[arg(long)]
    cache: Option<PathBuf>,
}

pub(crate) fn run(args: ExecArgs, trainer: &dyn Trainer) -> anyhow::Result<ExitCode> {
    let cache_dir = cache::cache_dir(args.cache.as_deref());
    let store = sgdnoise_core::store::Store::open(&cache_dir)?;
    let data = DataPaths::from_env();
    if args.serve {
        // One line of space-separated keys per group; one reply line per job as it finishes.
        let stdin = std::io::stdin();
        let mut line = String::new();
        while {
            line.clear();
            stdin.read_line(&mut line)? > 0
        } {
            let keys: Vec<&str> = line.split_whitespace().collect();
            if keys.is_empty() {
                continue;
            }
            let mut reply = |key: &str, result: Result<ExecResult, JobFailure>| -> anyhow::Result<()> {
                let (ok, error) = match result {
                    Ok(r) => (Some(r), None),
                    Err(e) => (None, Some(e.to_string())),
                };
                let mut out = std::io::stdout().lock();
                writeln!(out, "{}", serde_json::to_string(&ServeReply { key: key.to_owned(), ok, error })?)?;
                out.flush()?;
                Ok(())
            };
            execute_keys(&store, &data, trainer, &keys, &mut reply)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(task) = args.task {
        return run_task(&store, &data, trainer, &task);
    }
    let key = args.key.unwrap_or_default();
    let job = read_job(&store, &key)?;
    let result = execute_in_process(&store, &data, Some(trainer), &job)?;
    println!("{}", serde_json::to_string(&result)?);
    Ok(ExitCode::SUCCESS)
}

/// A node's share of a Slurm batch: each group of keys is executed unless its result is already
/// there (a requeued task does not redo work), and each result written atomically.
fn run_task(
    store: &sgdnoise_core::store::Store,
    data: &DataPaths,
    trainer: &dyn Trainer,
    task: &std::path::Path,
) -> anyhow::Result<ExitCode> {
    use sgdnoise_core::engine::executor::slurm::{node_place, result_path, NodeResult};
    let text = std::fs::read_to_string(task).with_context(|| format!("reading {}", task.display()))?;
    let place = node_place();
    for line in text.lines() {
        let keys: Vec<&str> = line.split_whitespace().filter(|k| !result_path(store, k).exists()).collect();
        let started_at = sgdnoise_core::engine::clock::now_rfc3339();
        let t0 = std::time::Instant::now();
        let mut write = |key: &str, result: Result<ExecResult, JobFailure>| -> anyhow::Result<()> {
            let (ok, error) = match result {
                Ok(r) => (Some(r), None),
                Err(e) => (None, Some(e.to_string())),
            };
            let r = NodeResult {
                key: key.to_owned(),
                ok,
                error,
                started_at: started_at.clone(),
                seconds: t0.elapsed().as_secs_f64(),
                place: place.clone(),
            };
            store.write_atomic(&result_path(store, key), &serde_json::to_vec_pretty(&r)?)?;
            Ok(())
        };
        execute_keys(store, data, trainer, &keys, &mut write)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Where one job's result goes (a reply line, a result file); an error stops the executions.
type OnResult<'a> = dyn FnMut(&str, Result<ExecResult, JobFailure>) -> anyhow::Result<()> + 'a;

/// Why one job of a group left no result: the node or worker reports it in words.
#[derive(Debug, thiserror::Error)]
enum JobFailure {
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error("panic: {0}")]
    Panic(String),
}

/// Executes the jobs of `keys` as one group in this process, handing each result (or error, a
/// missing job file or a panic included) to `on_result` as it comes.
fn execute_keys(
    store: &sgdnoise_core::store::Store,
    data: &DataPaths,
    trainer: &dyn Trainer,
    keys: &[&str],
    on_result: &mut OnResult,
) -> anyhow::Result<()> {
    let mut jobs = Vec::new();
    for key in keys {
        match read_job(store, key) {
            Ok(j) => jobs.push(j),
            Err(e) => on_result(key, Err(e.into()))?,
        }
    }
    let mut failed = None;
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        execute_group_in_process(store, data, Some(trainer), &jobs, &mut |i, result| {
            if let Err(e) = on_result(&jobs[i].key, result.map_err(JobFailure::from)) {
                failed = Some(e);
            }
        })
    }));
    if let Err(p) = run {
        for j in &jobs {
            on_result(&j.key, Err(JobFailure::Panic(panic_message(&p))))?;
        }
    }
    failed.map_or(Ok(()), Err)
}

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown".into())
}
