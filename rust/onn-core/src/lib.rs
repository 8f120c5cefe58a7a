//! onn-core: the engine of the oVirt Node Next installer.
//!
//! It lays out an LVM thin pool, writes a Node squashfs image as a read-only base and creates
//! its first writable layer with a boot entry, on disk exactly as imgbased expects, so the
//! installed host's `imgbase`/`nodectl` can update and roll it back.
//!
//! Flow: [`apply::inspect`] → [`plan::plan`] (pure) → [`apply::Prepared::apply`].
//! The library never prints; it emits `tracing` events.

// Public: what the adapters (onn-cli, onn-py, the benches and fuzzers) use; the rest is the
// engine's own.
pub mod apply;
mod atomic;
pub mod blockdev;
mod boot;
pub mod copy;
pub mod digest;
mod efi;
pub mod error;
mod fault;
pub mod fetch;
pub mod fs;
mod guard;
mod headers;
pub mod image;
pub mod lvm;
pub mod names;
pub mod plan;
pub mod progress;
pub mod report;
mod rootfs;
pub mod runner;
pub mod squash;
pub mod units;
pub mod updatable;

pub use apply::{prepare, prepare_again, recover, Outcome, Prepared, Recovered};
pub use boot::entries_booting;
pub use error::{Kind, OnnError};
pub use plan::{Action, Plan, Request, Step};
pub use progress::{CancelToken, Event};
pub use units::Bytes;
