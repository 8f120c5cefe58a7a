//! Progress for the user: a bar on a terminal, lines otherwise, and the JSON lines of
//! `--progress-fd`.

use std::io::Write;

use anyhow::Result;
use onn_core::Event;

/// Progress for the user: a bar redrawn in place when stderr is a terminal, a line per event
/// otherwise (a log, a pipe); and the JSON lines of `--progress-fd`, whatever stderr is.
pub struct Reporter {
    file: Option<std::fs::File>,
    bar: Option<indicatif::ProgressBar>,
    /// The step the bar shows (a finished one stays above it as a line).
    shown: Option<(usize, &'static str)>,
}

impl Reporter {
    pub fn new(progress_fd: Option<i32>) -> Result<Reporter> {
        use std::io::IsTerminal;
        let bar = std::io::stderr().is_terminal().then(|| {
            indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr())
        });
        Ok(Reporter {
            file: progress_fd.map(progress_writer).transpose()?,
            bar,
            shown: None,
        })
    }

    pub fn event(&mut self, e: &Event) -> Result<()> {
        if let Some(f) = self.file.as_mut() {
            f.write_all(e.to_json_line().as_bytes())?;
            f.flush()?;
        }
        // A download comes before the plan's steps: it has no step number.
        let step = if e.total > 0 {
            format!("[{}/{}] ", e.index, e.total)
        } else {
            String::new()
        };
        let Some(bar) = &self.bar else {
            let mut err = std::io::stderr().lock();
            if let Some(pct) = (e.done * 100).checked_div(e.size) {
                let _ = writeln!(err, "{step}{} ({pct} %)", e.message);
            } else {
                let _ = writeln!(err, "{step}{}", e.message);
            }
            return Ok(());
        };
        if self.shown.is_some_and(|s| s != (e.index, e.step)) {
            keep_line(bar);
        }
        self.shown = Some((e.index, e.step));
        // A bar for what has a size (the copy, a download); the step's text alone otherwise.
        let template = if e.size > 0 {
            "{prefix}{msg} {wide_bar} {percent:>3} %"
        } else {
            "{prefix}{msg}"
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(template).expect("a valid progress template"),
        );
        bar.set_prefix(step);
        bar.set_message(e.message.clone());
        bar.set_length(e.size.max(1));
        bar.set_position(if e.size == 0 { 0 } else { e.done });
        Ok(())
    }
}

/// What the bar showed of a finished step, as a line of its own above it.
fn keep_line(bar: &indicatif::ProgressBar) {
    // Read before `suspend`: it holds the bar's state, which prefix() and message() lock too.
    let line = format!("{}{}", bar.prefix(), bar.message());
    bar.suspend(|| eprintln!("{line}"));
}

impl Drop for Reporter {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            if self.shown.is_some() {
                keep_line(bar);
            }
            bar.finish_and_clear();
        }
    }
}

/// The caller's descriptor for progress lines (e.g. a pipe the addon reads).
fn progress_writer(fd: i32) -> Result<std::fs::File> {
    use std::os::fd::{FromRawFd, OwnedFd};
    // Refuse descriptors that are not open rather than write into a random file later.
    nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD)
        .map_err(|e| anyhow::anyhow!("--progress-fd {fd} is not an open file descriptor ({e})"))?;
    // SAFETY: the descriptor is open and handed to us by the caller for this purpose only.
    Ok(std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}
