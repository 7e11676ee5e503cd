//! The local executor: a fixed pool of worker threads. Light stages run in the coordinator's
//! process; training runs in one long-lived child `sgdnoise exec --serve` per worker, so
//! libtorch's start-up is paid once per worker and a crash takes down only that child.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use serde_json::Map;

use super::events::{Event, Executor, Outbox, Work};
use crate::datasets::DataPaths;
use crate::engine::clock::now_rfc3339;
use crate::engine::exec::{execute_group_in_process, ChildWorker, ExecFailure, ExecResult};
use crate::job::Job;
use crate::store::Store;

pub struct LocalPool {
    slots: usize,
    work: Option<Sender<Work>>,
    /// Raised by `cancel`: workers stop their children and report the rest cancelled.
    cancel: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
}

/// What a worker needs to execute a job.
#[derive(Clone)]
struct Context {
    exe: PathBuf,
    cache: PathBuf,
    store: Store,
    data: DataPaths,
}

impl LocalPool {
    /// `slots` worker threads; `exe` runs isolated jobs (`sgdnoise exec --serve`).
    pub fn start(slots: usize, exe: PathBuf, cache: PathBuf, store: Store, data: DataPaths, events: Outbox) -> Self {
        let (tx, rx) = mpsc::channel::<Work>();
        let rx = Arc::new(Mutex::new(rx));
        let cancel = Arc::new(AtomicBool::new(false));
        let ctx = Context { exe, cache, store, data };
        let workers = (0..slots.max(1))
            .map(|_| {
                let (rx, events, cancel, ctx) = (Arc::clone(&rx), events.clone(), Arc::clone(&cancel), ctx.clone());
                std::thread::spawn(move || worker(rx, events, cancel, ctx))
            })
            .collect();
        LocalPool { slots: slots.max(1), work: Some(tx), cancel, workers }
    }
}

impl Executor for LocalPool {
    fn slots(&self) -> usize {
        self.slots
    }

    fn submit(&mut self, work: Work) {
        if let Some(tx) = &self.work {
            let _ = tx.send(work);
        }
    }

    fn cancel(&mut self) {
        self.cancel.store(true, Ordering::SeqCst);
    }

    fn shutdown(mut self: Box<Self>) {
        self.work = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

fn worker(rx: Arc<Mutex<Receiver<Work>>>, events: Outbox, cancel: Arc<AtomicBool>, ctx: Context) {
    let mut child: Option<ChildWorker> = None;
    loop {
        let work = {
            let Ok(guard) = rx.lock() else { return };
            match guard.recv() {
                Ok(w) => w,
                Err(_) => return,
            }
        };
        let started_at = now_rfc3339();
        let t0 = Instant::now();
        let (stage, weight) = (work.stage, work.weight);
        let indices: Vec<usize> = work.items.iter().map(|(i, _)| *i).collect();
        let jobs: Vec<Job> = work.items.into_iter().map(|(_, j)| j).collect();
        let mut report = |k: usize, result: Result<ExecResult, ExecFailure>| {
            let _ = std::fs::remove_file(ctx.store.job_path(&jobs[k].key));
            let _ = events.send(Event::Finished {
                stage,
                index: indices[k],
                result,
                started_at: started_at.clone(),
                seconds: t0.elapsed().as_secs_f64(),
                place: Map::new(),
            });
        };
        if cancel.load(Ordering::SeqCst) {
            for k in 0..jobs.len() {
                report(k, Err(ExecFailure::Cancelled));
            }
        } else {
            for &index in &indices {
                let _ = events.send(Event::Started { stage, index });
            }
            if work.isolated {
                if child.is_none() {
                    child = ChildWorker::spawn(&ctx.exe, &ctx.cache).map_err(|e| eprintln!("{e}")).ok();
                }
                match child.as_mut() {
                    None => {
                        let why = format!("cannot start a worker process ({})", ctx.exe.display());
                        for k in 0..jobs.len() {
                            report(k, Err(ExecFailure::Failed(why.clone())));
                        }
                    }
                    Some(c) => {
                        if !c.run_group(&ctx.store, &jobs, &cancel, &mut report) {
                            child = None;
                        }
                    }
                }
            } else {
                execute_group_in_process(&ctx.store, &ctx.data, None, &jobs, &mut |k, r| {
                    report(k, r.map_err(|e| ExecFailure::Failed(e.to_string())))
                });
            }
        }
        let _ = events.send(Event::WorkDone { weight });
    }
}
