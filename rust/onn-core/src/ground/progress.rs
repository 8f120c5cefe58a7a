//! Progress of a long run: the events an observer gets, the one throttle they pass, and the
//! token that cancels the run. A leaf module: the download, the plan and the apply all report
//! through it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::ground::error::cancelled;

/// Version of the progress JSON-lines protocol (`onn --progress-fd`).
pub const PROGRESS_VERSION: u32 = 1;

/// Progress ids that are not a plan step of their own: the download, the unpacking of an RPM, and the base's copy and
/// filesystem check. The steps' ids come from [`crate::plan::Step`].
pub const DOWNLOAD: &str = "image.download";
/// The squashfs streamed out of an image-update RPM's payload.
pub const EXTRACT: &str = "image.extract";
pub const BASE_COPY: &str = "base.copy";
pub const BASE_FINISH: &str = "base.finish";

/// Progress events are throttled to this interval (the last one always comes).
const INTERVAL: Duration = Duration::from_millis(250);

/// A progress event: a stable step id (translated by the addon), step n of m, bytes for the
/// copy, and an English fallback message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Event {
    pub step: &'static str,
    pub index: usize,
    pub total: usize,
    pub done: u64,
    pub size: u64,
    pub message: String,
}

impl Event {
    /// One line of the progress protocol: `{"v":1,"step":…,"index":…,"total":…,"done":…,
    /// "size":…,"message":…}`. Consumers translate by `step`; `message` is the English fallback.
    pub fn to_json_line(&self) -> String {
        #[derive(serde::Serialize)]
        struct Line<'a> {
            v: u32,
            #[serde(flatten)]
            event: &'a Event,
        }
        let mut s = serde_json::to_string(&Line {
            v: PROGRESS_VERSION,
            event: self,
        })
        .unwrap_or_default();
        s.push('\n');
        s
    }
}

/// Lets through the first event, then at most one per [`INTERVAL`], and always the last one.
#[derive(Debug, Default)]
pub(crate) struct Throttle(Option<Instant>);

impl Throttle {
    /// Is an event due now (`last`: the run's final one)?
    pub(crate) fn due(&mut self, last: bool) -> bool {
        if !last && self.0.is_some_and(|t| t.elapsed() < INTERVAL) {
            return false;
        }
        self.0 = Some(Instant::now());
        true
    }
}

/// Cancels a running apply between steps and during the copy, and a download between reads.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
    /// The flag itself, for a signal handler to set (storing to an atomic is async-signal-safe).
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.0.clone()
    }
    pub(crate) fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(cancelled())
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_passes_the_first_and_the_last_and_holds_the_rest_of_an_interval() {
        let mut t = Throttle::default();
        assert!(t.due(false), "the first event");
        assert!(!t.due(false), "a second one at once");
        assert!(t.due(true), "the last one, whenever it comes");
        std::thread::sleep(INTERVAL);
        assert!(t.due(false), "one interval later");
    }
}
