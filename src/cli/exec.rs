//! `sgdnoise exec --key KEY`: execute one planned instance from its job file and print the result
//! as one JSON line. The dispatcher runs training this way; a cluster executor can too.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::cache;
use crate::datasets::DataPaths;
use std::io::Write;

use crate::engine::exec::{execute_in_process, read_job, ServeReply};

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
        let stdin = std::io::stdin();
        let mut line = String::new();
        while {
            line.clear();
            stdin.read_line(&mut line)? > 0
        } {
            let key = line.trim();
            if key.is_empty() {
                continue;
            }
            let reply = match read_job(&store, key).and_then(|job| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| execute_in_process(&store, &data, &job)))
                    .unwrap_or_else(|p| Err(format!("panic: {}", panic_message(&p))))
            }) {
                Ok(r) => ServeReply::Ok(r),
                Err(e) => ServeReply::Error(e),
            };
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", serde_json::to_string(&reply)?)?;
            out.flush()?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let key = args.key.unwrap_or_default();
    let job = read_job(&store, &key).map_err(anyhow::Error::msg)?;
    let result = execute_in_process(&store, &data, &job).map_err(anyhow::Error::msg)?;
    println!("{}", serde_json::to_string(&result)?);
    Ok(ExitCode::SUCCESS)
}

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown".into())
}
