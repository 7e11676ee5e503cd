//! `sgdnoise exec --key KEY`: execute one planned instance from its job file and print the result
//! as one JSON line. The dispatcher runs training this way; a cluster executor can too.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::cache;
use crate::datasets::DataPaths;
use std::io::Write;

use crate::engine::exec::{execute_group_in_process, execute_in_process, read_job, ServeReply};

#[derive(Debug, Args)]
pub(crate) struct ExecArgs {
    /// The instance's key (its job file is cache/jobs/KEY.json).
    #[arg(long, required_unless_present = "serve")]
    key: Option<String>,
    /// Read keys from standard input, one per line, and answer each with one JSON line
    /// (`{"ok": …}` or `{"error": …}`): the dispatcher's long-lived workers.
    #[arg(long)]
    serve: bool,
    #[arg(long)]
    cache: Option<PathBuf>,
}

pub(crate) fn run(args: ExecArgs) -> anyhow::Result<ExitCode> {
    let cache_dir = cache::cache_dir(args.cache.as_deref());
    let store = crate::engine::store::Store::open(&cache_dir)?;
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
            let reply = |key: &str, result: Result<crate::engine::exec::ExecResult, String>| -> anyhow::Result<()> {
                let (ok, error) = match result {
                    Ok(r) => (Some(r), None),
                    Err(e) => (None, Some(e)),
                };
                let mut out = std::io::stdout().lock();
                writeln!(out, "{}", serde_json::to_string(&ServeReply { key: key.to_owned(), ok, error })?)?;
                out.flush()?;
                Ok(())
            };
            let mut jobs = Vec::new();
            for key in &keys {
                match read_job(&store, key) {
                    Ok(j) => jobs.push(j),
                    Err(e) => reply(key, Err(e.to_string()))?,
                }
            }
            let mut failed_write = None;
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                execute_group_in_process(&store, &data, &jobs, &mut |i, result| {
                    if let Err(e) = reply(&jobs[i].key, result.map_err(|e| e.to_string())) {
                        failed_write = Some(e);
                    }
                })
            }));
            if let Err(p) = run {
                for j in &jobs {
                    reply(&j.key, Err(format!("panic: {}", panic_message(&p))))?;
                }
            }
            if let Some(e) = failed_write {
                return Err(e);
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let key = args.key.unwrap_or_default();
    let job = read_job(&store, &key)?;
    let result = execute_in_process(&store, &data, &job)?;
    println!("{}", serde_json::to_string(&result)?);
    Ok(ExitCode::SUCCESS)
}

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown".into())
}
