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

use crate::datasets::DataPaths;
use crate::job::Job;
use crate::stages::{self, ExecContext, Trainer};
use crate::store::{Store, StoreError};

/// What an execution returns to the dispatcher.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExecResult {
    /// Output name → object hash.
    pub outputs: BTreeMap<String, String>,
    pub metrics: Value,
}

/// Why a job could not be executed or its outputs not stored.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("unknown stage kind {0}")]
    UnknownKind(String),
    #[error(transparent)]
    Stage(#[from] stages::StageError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot encode job {key}: {source}")]
    EncodeJob {
        key: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("no planned job for key {key} ({}: {source}); `sgdnoise run` writes job files before executing them", .path.display())]
    NoJob {
        key: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {source}", .path.display())]
    BadJob {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot start {}: {source}", .exe.display())]
    Spawn {
        exe: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExecFailure {
    Failed(String),
    Cancelled,
}

/// Runs `job` here and stores its outputs; `trainer` executes training, where this process has one.
pub fn execute_in_process(
    store: &Store,
    data: &DataPaths,
    trainer: Option<&dyn Trainer>,
    job: &Job,
) -> Result<ExecResult, ExecError> {
    let kind = stages::find(&job.kind).ok_or_else(|| ExecError::UnknownKind(job.kind.clone()))?;
    let ctx = ExecContext { store, data: data.clone(), trainer };
    store_outputs(store, kind.execute(&ctx, job)?)
}

/// Puts an execution's outputs into the store.
fn store_outputs(store: &Store, out: stages::ExecOutput) -> Result<ExecResult, ExecError> {
    let mut outputs = BTreeMap::new();
    for (name, bytes) in out.outputs {
        outputs.insert(name, store.put(&bytes)?);
    }
    Ok(ExecResult { outputs, metrics: out.metrics })
}

/// Writes the job file `cache/jobs/KEY.json` that `sgdnoise exec --key KEY` reads.
pub fn write_job(store: &Store, job: &Job) -> Result<PathBuf, ExecError> {
    let path = store.job_path(&job.key);
    let bytes =
        serde_json::to_vec_pretty(job).map_err(|source| ExecError::EncodeJob { key: job.key.clone(), source })?;
    store.write_atomic(&path, &bytes)?;
    Ok(path)
}

pub fn read_job(store: &Store, key: &str) -> Result<Job, ExecError> {
    let path = store.job_path(key);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(source) => return Err(ExecError::NoJob { key: key.to_owned(), path, source }),
    };
    serde_json::from_slice(&bytes).map_err(|source| ExecError::BadJob { path, source })
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
    pub fn spawn(exe: &Path, cache: &Path) -> Result<ChildWorker, ExecError> {
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
        let mut child = cmd.spawn().map_err(|source| ExecError::Spawn { exe: exe.to_owned(), source })?;
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

    /// Executes `jobs` (one line of keys; the child may train them together), reporting each
    /// result as its line arrives. Returns whether the worker can be reused: `false` when it died
    /// or was cancelled, in which case every job not yet reported got the failure.
    pub fn run_group(
        &mut self,
        store: &Store,
        jobs: &[Job],
        cancel: &Arc<AtomicBool>,
        on_result: &mut dyn FnMut(usize, Result<ExecResult, ExecFailure>),
    ) -> bool {
        let mut pending: Vec<bool> = vec![true; jobs.len()];
        let fail_rest = |pending: &mut Vec<bool>,
                         f: ExecFailure,
                         on_result: &mut dyn FnMut(usize, Result<ExecResult, ExecFailure>)| {
            for (i, p) in pending.iter_mut().enumerate() {
                if *p {
                    *p = false;
                    on_result(i, Err(f.clone()));
                }
            }
        };
        for job in jobs {
            if let Err(e) = write_job(store, job) {
                fail_rest(&mut pending, ExecFailure::Failed(e.to_string()), on_result);
                return true;
            }
        }
        let keys: Vec<&str> = jobs.iter().map(|j| j.key.as_str()).collect();
        if writeln!(self.stdin, "{}", keys.join(" ")).and_then(|_| self.stdin.flush()).is_err() {
            let why = self.death();
            fail_rest(&mut pending, ExecFailure::Failed(why), on_result);
            return false;
        }
        while pending.iter().any(|p| *p) {
            if cancel.load(Ordering::SeqCst) {
                fail_rest(&mut pending, ExecFailure::Cancelled, on_result);
                return false;
            }
            match self.lines.recv_timeout(Duration::from_millis(20)) {
                Ok(line) => {
                    // Lines that are not ours (a library printing on stdout) are ignored.
                    let Ok(reply) = serde_json::from_str::<ServeReply>(&line) else { continue };
                    let Some(i) = jobs.iter().position(|j| j.key == reply.key).filter(|&i| pending[i]) else {
                        continue;
                    };
                    pending[i] = false;
                    on_result(
                        i,
                        match (reply.ok, reply.error) {
                            (Some(r), _) => Ok(r),
                            (None, e) => Err(ExecFailure::Failed(e.unwrap_or_else(|| "no result".into()))),
                        },
                    );
                }
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => {
                    let why = self.death();
                    fail_rest(&mut pending, ExecFailure::Failed(why), on_result);
                    return false;
                }
            }
        }
        true
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

/// One reply line of `sgdnoise exec --serve`: the job's key and its result or error.
#[derive(Debug, Serialize, Deserialize)]
pub struct ServeReply {
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ok: Option<ExecResult>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

/// Executes `jobs` of one kind in this process, storing each one's outputs and reporting it as
/// soon as it is done.
pub fn execute_group_in_process(
    store: &Store,
    data: &DataPaths,
    trainer: Option<&dyn Trainer>,
    jobs: &[Job],
    on_result: &mut dyn FnMut(usize, Result<ExecResult, ExecError>),
) {
    let Some(kind) = jobs.first().and_then(|j| stages::find(&j.kind)) else {
        for (i, j) in jobs.iter().enumerate() {
            on_result(i, Err(ExecError::UnknownKind(j.kind.clone())));
        }
        return;
    };
    let ctx = ExecContext { store, data: data.clone(), trainer };
    kind.execute_group(&ctx, jobs, &mut |i, out| {
        on_result(i, out.map_err(ExecError::from).and_then(|out| store_outputs(store, out)));
    });
}
