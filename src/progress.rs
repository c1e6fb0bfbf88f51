//! One line per resource while a command works: live spinners on a terminal,
//! plain lines otherwise (CI logs), nothing with `--quiet`. Always on stderr,
//! so `--output json` on stdout stays clean.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

#[derive(Clone)]
pub struct Progress {
    multi: Option<MultiProgress>,
    quiet: bool,
    verbose: bool,
}

pub struct Task {
    bar: Option<ProgressBar>,
    label: String,
    quiet: bool,
    verbose: bool,
}

impl Progress {
    pub fn new(quiet: bool, verbose: bool) -> Progress {
        let live = !quiet && std::io::stderr().is_terminal();
        let multi = live.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Progress {
            multi,
            quiet,
            verbose,
        }
    }

    pub fn task(&self, label: impl Into<String>) -> Task {
        let label = label.into();
        let bar = self.multi.as_ref().map(|m| {
            let bar = m.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner:.cyan} {prefix:.bold} {wide_msg}")
                    .expect("valid template"),
            );
            bar.set_prefix(label.clone());
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        Task {
            bar,
            label,
            quiet: self.quiet,
            verbose: self.verbose,
        }
    }

    /// A bar with a known length (a broadcast's recipients).
    pub fn counter(&self, label: &str, total: u64) -> Option<ProgressBar> {
        let bar = self.multi.as_ref()?.add(ProgressBar::new(total));
        bar.set_style(
            ProgressStyle::with_template("{prefix:.bold} [{bar:30}] {pos}/{len} {per_sec} {msg}")
                .expect("valid template"),
        );
        bar.set_prefix(label.to_owned());
        Some(bar)
    }

    /// Lines the user must read while the command goes on (records to add
    /// at a DNS provider before a wait), unless `--quiet`.
    pub fn note(&self, text: &str) {
        if !self.quiet {
            self.suspend(|| eprintln!("{text}"));
        }
    }

    /// Runs `work` with the live lines hidden, for anything else that writes to
    /// the terminal meanwhile (cargo building the functions).
    pub fn suspend<R>(&self, work: impl FnOnce() -> R) -> R {
        match &self.multi {
            Some(m) => m.suspend(work),
            None => work(),
        }
    }
}

impl Task {
    /// What the task is doing now (e.g. waiting for IAM to propagate).
    pub fn set(&self, message: impl Into<String>) {
        let message = message.into();
        match &self.bar {
            Some(bar) => bar.set_message(message),
            None if self.verbose && !self.quiet => eprintln!("  {}: {message}", self.label),
            None => {}
        }
    }

    pub fn finish(&self, message: impl Into<String>) {
        let message = message.into();
        match &self.bar {
            Some(bar) => {
                bar.set_style(
                    ProgressStyle::with_template("  {prefix:.bold} {wide_msg}")
                        .expect("valid template"),
                );
                bar.finish_with_message(message);
            }
            None if !self.quiet => eprintln!("  {}: {message}", self.label),
            None => {}
        }
    }
}
