//! Test builds only (feature `fault-injection`): interrupt a run on purpose, to prove that
//! every interruption converges.
//!
//! - `ONN_FAIL_AFTER=<step id>`: the run fails right after that plan step; its undo runs.
//! - `ONN_KILL_AT=<n>`: the process is killed (SIGKILL: no undo, no unmount, as a crash or an
//!   OOM kill would) at the n-th fault point of an apply (`ONN_KILL_WHEN=<text>`: at the first
//!   whose description holds the text). The fault points are every program an
//!   apply runs, every file it writes and the middle of the base copy; each is logged as
//!   `fault point <n>: <what>`, so a test can list them with a run that is not killed.
//! - `ONN_STOP_AT=<n>`: the process stops itself (SIGSTOP) there, so a test can change the
//!   world under it (fill the pool) before it goes on; `ONN_STOP_WHEN=<text>`: the same at the
//!   first point whose description holds the text (`copied`: the middle of the base copy).
//!
//! In other builds every function here does nothing.

use anyhow::Result;

use crate::ground::runner::{Cmd, Output, Runner};

#[cfg(feature = "fault-injection")]
mod imp {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    use anyhow::Result;
    use nix::sys::signal::{raise, Signal};

    static ARMED: AtomicBool = AtomicBool::new(false);
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    static STOPPED: AtomicBool = AtomicBool::new(false);

    pub fn arm(on: bool) {
        COUNT.store(0, Ordering::SeqCst);
        ARMED.store(on, Ordering::SeqCst);
    }

    pub fn point(what: &dyn Fn() -> String) {
        if !ARMED.load(Ordering::SeqCst) {
            return;
        }
        let n = COUNT.fetch_add(1, Ordering::SeqCst) + 1;
        let what = what();
        tracing::info!("fault point {n}: {what}");
        let at = |var: &str| std::env::var(var).ok().and_then(|v| v.parse().ok()) == Some(n);
        let holds = |var: &str| std::env::var(var).is_ok_and(|w| what.contains(&w));
        if at("ONN_KILL_AT") || holds("ONN_KILL_WHEN") {
            let _ = raise(Signal::SIGKILL);
        }
        if at("ONN_STOP_AT") || (holds("ONN_STOP_WHEN") && !STOPPED.swap(true, Ordering::SeqCst)) {
            let _ = raise(Signal::SIGSTOP);
        }
    }

    pub fn fail_after(step: &str) -> Result<()> {
        match std::env::var("ONN_FAIL_AFTER") {
            Ok(s) if s == step => anyhow::bail!("fault injected after {step}"),
            _ => Ok(()),
        }
    }
}

/// Count fault points from now on (an apply starts), or stop counting (it ended).
pub fn arm(on: bool) {
    #[cfg(feature = "fault-injection")]
    imp::arm(on);
    #[cfg(not(feature = "fault-injection"))]
    let _ = on;
}

/// A place where a test may kill the process; `what` names it in the log.
pub fn point(what: &dyn Fn() -> String) {
    #[cfg(feature = "fault-injection")]
    imp::point(what);
    #[cfg(not(feature = "fault-injection"))]
    let _ = what;
}

/// Fails when `ONN_FAIL_AFTER` names `step`.
pub fn fail_after(step: &str) -> Result<()> {
    #[cfg(feature = "fault-injection")]
    return imp::fail_after(step);
    #[cfg(not(feature = "fault-injection"))]
    {
        let _ = step;
        Ok(())
    }
}

/// A runner whose every finished program is a fault point.
pub struct Counted<'r>(pub &'r dyn Runner);

impl Runner for Counted<'_> {
    fn run(&self, cmd: &Cmd) -> Result<Output> {
        let out = self.0.run(cmd)?;
        point(&|| cmd.argv().join(" "));
        Ok(out)
    }
}
