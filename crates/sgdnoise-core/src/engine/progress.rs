//! Progress, owned by the dispatcher: an overall bar (done / cached / failed / total, ETA from
//! recorded durations) and one line per running instance on a terminal; plain cargo-style lines
//! otherwise; nothing in `--json` mode.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

pub enum Mode {
    Bars,
    Lines,
    Quiet,
}

pub struct Progress {
    mode: Mode,
    multi: Option<MultiProgress>,
    overall: Option<ProgressBar>,
    running: HashMap<String, ProgressBar>,
    total: usize,
    done: usize,
    cached: usize,
    failed: usize,
    /// Expected seconds of work left, from mean durations per kind.
    remaining_s: f64,
}

fn verb(v: &str, rest: &str) -> String {
    format!("{v:>12} {rest}")
}

impl Progress {
    pub fn new(quiet: bool, total: usize) -> Progress {
        let mode = if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bars
        } else {
            Mode::Lines
        };
        let (multi, overall) = match mode {
            Mode::Bars => {
                let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
                let bar = multi.add(ProgressBar::new(total as u64));
                bar.set_style(
                    ProgressStyle::with_template("{prefix:>12.cyan.bold} [{bar:30}] {pos}/{len} {msg}")
                        .expect("valid template")
                        .progress_chars("=> "),
                );
                bar.set_prefix("Running");
                bar.enable_steady_tick(Duration::from_millis(200));
                (Some(multi), Some(bar))
            }
            _ => (None, None),
        };
        Progress {
            mode,
            multi,
            overall,
            running: HashMap::new(),
            total,
            done: 0,
            cached: 0,
            failed: 0,
            remaining_s: 0.0,
        }
    }

    pub fn set_remaining(&mut self, seconds: f64) {
        self.remaining_s = seconds.max(0.0);
        self.refresh();
    }

    fn refresh(&self) {
        if let Some(bar) = &self.overall {
            bar.set_position((self.done + self.cached + self.failed) as u64);
            let eta = if self.remaining_s > 0.0 { format!(", ETA {}", human(self.remaining_s)) } else { String::new() };
            bar.set_message(format!("({} run, {} cached, {} failed{eta})", self.done, self.cached, self.failed));
        }
    }

    fn line(&self, text: String) {
        match (&self.mode, &self.multi) {
            (Mode::Bars, Some(m)) => {
                let _ = m.println(text);
            }
            (Mode::Lines, _) => eprintln!("{text}"),
            _ => {}
        }
    }

    pub fn fresh(&mut self, stage: &str, count: usize) {
        self.cached += count;
        if count > 0 {
            self.line(verb("Fresh", &format!("{stage}: {count} instance{}", if count == 1 { "" } else { "s" })));
        }
        self.refresh();
    }

    pub fn started(&mut self, id: &str) {
        match (&self.mode, &self.multi) {
            (Mode::Bars, Some(m)) => {
                let bar = m.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{prefix:>12.green} {msg} {elapsed}").expect("valid template"),
                );
                bar.set_prefix("Running");
                bar.set_message(id.to_owned());
                bar.enable_steady_tick(Duration::from_millis(200));
                self.running.insert(id.to_owned(), bar);
            }
            (Mode::Lines, _) => self.line(verb("Running", id)),
            _ => {}
        }
    }

    fn stop(&mut self, id: &str) {
        if let Some(bar) = self.running.remove(id) {
            bar.finish_and_clear();
            if let Some(m) = &self.multi {
                m.remove(&bar);
            }
        }
    }

    pub fn finished(&mut self, id: &str, seconds: f64, expected: f64) {
        self.stop(id);
        self.done += 1;
        self.remaining_s = (self.remaining_s - expected).max(0.0);
        self.line(verb("Finished", &format!("{id} in {}", human(seconds))));
        self.refresh();
    }

    pub fn failed(&mut self, id: &str, error: &str) {
        self.stop(id);
        self.failed += 1;
        self.line(verb("Failed", &format!("{id}: {error}")));
        self.refresh();
    }

    pub fn cancelled(&mut self, id: &str) {
        self.stop(id);
        self.line(verb("Cancelled", id));
    }

    pub fn note(&mut self, v: &str, text: &str) {
        self.line(verb(v, text));
    }

    pub fn finish(&mut self) {
        for (_, bar) in self.running.drain() {
            bar.finish_and_clear();
        }
        if let Some(bar) = self.overall.take() {
            bar.finish_and_clear();
        }
        let _ = self.total;
    }
}

pub fn human(s: f64) -> String {
    if s < 1.0 {
        format!("{:.0}ms", s * 1000.0)
    } else if s < 120.0 {
        format!("{s:.1}s")
    } else if s < 7200.0 {
        format!("{:.1}min", s / 60.0)
    } else {
        format!("{:.1}h", s / 3600.0)
    }
}
