//! Executing one job: in this process (light stages) or in a child `sgdnoise exec --serve`
//! (training), which isolates libtorch, its threads and any crash from the dispatcher. Either
//! way the outputs end up as objects in the store and a small result comes back.

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::store::Store;
use crate::datasets::DataPaths;
use crate::stages::registry::{self, ExecContext, Job};

/// What an execution returns to the dispatcher.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExecResult {
    /// Output name → object hash.
    pub outputs: BTreeMap<String, String>,
    pub metrics: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExecFailure {
    Failed(String),
    Cancelled,
}

/// Runs `job` here and stores its outputs.
pub fn execute_in_process(store: &Store, data: &DataPaths, job: &Job) -> Result<ExecResult, String> {
    let kind = registry::find(&job.kind).ok_or_else(|| format!("unknown stage kind {}", job.kind))?;
    let ctx = ExecContext { store, data: data.clone() };
    let out = kind.execute(&ctx, job).map_err(|e| e.to_string())?;
    let mut outputs = BTreeMap::new();
    for (name, bytes) in out.outputs {
        let hash = store.put(&bytes).map_err(|e| e.to_string())?;
        outputs.insert(name, hash);
    }
    Ok(ExecResult { outputs, metrics: out.metrics })
}

/// Writes the job file `cache/jobs/KEY.json` that `sgdnoise exec --key KEY` reads.
pub fn write_job(store: &Store, job: &Job) -> Result<PathBuf, String> {
    let path = store.job_path(&job.key);
    let bytes = serde_json::to_vec_pretty(job).map_err(|e| e.to_string())?;
    store.write_atomic(&path, &bytes).map_err(|e| e.to_string())?;
    Ok(path)
}

pub fn read_job(store: &Store, key: &str) -> Result<Job, String> {
    let path = store.job_path(key);
    let bytes = std::fs::read(&path).map_err(|e| {
        format!(
            "no planned job for key {key} ({}: {e}); `sgdnoise run` writes job files before executing them",
            path.display()
        )
    })?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// A child `sgdnoise exec --serve` that executes jobs one after another: libtorch's start-up
/// (about half a second of static initialisation) is paid once per worker, not once per job,
/// while a crash still only takes the child down.
pub struct ChildWorker {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
}

impl ChildWorker {
    pub fn spawn(exe: &Path, cache: &Path) -> Result<ChildWorker, String> {
        let mut cmd = Command::new(exe);
        cmd.args(["exec", "--serve", "--cache"])
            .arg(cache)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // The child dies with the dispatcher, even on SIGKILL.
        // SAFETY: prctl is async-signal-safe and only affects the child.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        let tail = Arc::clone(&stderr_tail);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Ok(mut t) = tail.lock() {
                    t.push_back(line);
                    if t.len() > 20 {
                        t.pop_front();
                    }
                }
            }
        });
        Ok(ChildWorker { child, stdin, lines, stderr_tail })
    }

    /// Executes `job`; on `Err` the worker must be dropped (it may be dead or busy).
    pub fn run(
        &mut self,
        store: &Store,
        job: &Job,
        cancel: &Arc<AtomicBool>,
    ) -> Result<ExecResult, (ExecFailure, bool)> {
        write_job(store, job).map_err(|e| (ExecFailure::Failed(e), true))?;
        if writeln!(self.stdin, "{}", job.key).and_then(|_| self.stdin.flush()).is_err() {
            return Err((ExecFailure::Failed(self.death()), false));
        }
        loop {
            if cancel.load(Ordering::SeqCst) {
                return Err((ExecFailure::Cancelled, false));
            }
            match self.lines.recv_timeout(Duration::from_millis(20)) {
                Ok(line) => {
                    let reply: ServeReply = match serde_json::from_str(&line) {
                        Ok(r) => r,
                        Err(_) => continue, // not ours (a library printing on stdout)
                    };
                    return match reply {
                        ServeReply::Ok(result) => Ok(result),
                        ServeReply::Error(msg) => Err((ExecFailure::Failed(msg), true)),
                    };
                }
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return Err((ExecFailure::Failed(self.death()), false)),
            }
        }
    }

    /// Why the child stopped answering.
    fn death(&mut self) -> String {
        use std::os::unix::process::ExitStatusExt;
        let status = self.child.wait().ok();
        let tail: Vec<String> = self.stderr_tail.lock().map(|t| t.iter().cloned().collect()).unwrap_or_default();
        let how = match status.and_then(|s| {
            s.signal().map(|sig| format!("killed by signal {sig}")).or(s.code().map(|c| format!("exit status {c}")))
        }) {
            Some(h) => h,
            None => "died".into(),
        };
        let detail = tail.iter().filter(|l| !l.trim().is_empty()).cloned().collect::<Vec<_>>().join("; ");
        if detail.is_empty() {
            format!("worker process {how}")
        } else {
            format!("worker process {how}: {detail}")
        }
    }
}

impl Drop for ChildWorker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One reply line of `sgdnoise exec --serve`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServeReply {
    Ok(ExecResult),
    Error(String),
}
