//! The ground the engine stands on, knowing nothing of LVM or images: the one runner of
//! programs, progress and cancellation, the lock that lets one onn write at a time, size
//! units, the typed errors, files written whole, paths resolved inside a root, and the fault
//! points of test builds.

pub(crate) mod atomic;
pub mod error;
pub(crate) mod fault;
pub mod lock;
pub mod progress;
pub(crate) mod rootfs;
pub mod runner;
pub mod units;
