//! onn-core: the engine of the oVirt Node Next installer.
//!
//! It lays out an LVM thin pool, writes a Node squashfs image as a read-only base and creates
//! its first writable layer with a boot entry, on disk exactly as imgbased expects, so the
//! installed host's `imgbase`/`nodectl` can update and roll it back.
//!
//! Flow: [`inspect::inspect`] → [`plan::plan`] (pure) → [`apply::Prepared::apply`].
//! The library never prints; it emits `tracing` events.
//!
//! The map, each folder needing only those above it: [`ground`] is what everything stands on
//! (the one runner of programs, progress, size units, errors, whole-file writes, fault points);
//! [`names`] every imgbased name and tag; [`storage`] LVM, block devices, filesystems and the
//! mount guards; `boot` the /boot partition, its BLS entries and the ESP; [`image`] the Node
//! image (its download, digest, squashfs, NVR, and what the host's imgbased needs of it);
//! [`inspect`] reads the system into facts; [`plan`] decides every step from them (the thin
//! pool's size rule is `plan/pool.rs`); [`apply`] carries the steps out and undoes them on
//! failure; [`report`] is `onn list` and `onn check` of what was installed. The layer name rule
//! is `image/nvr.rs`, the BLS entry format `boot/bls.rs`.

// Public: what the adapters (onn-cli, onn-py, the benches and fuzzers) use; the rest is the
// engine's own. In the order of the map (apart, so that rustfmt keeps that order).
pub mod ground;

pub mod names;

pub mod storage;

mod boot;

pub mod image;

pub mod inspect;

pub mod plan;

pub mod apply;

pub mod report;

pub use apply::{prepare, prepare_again, recover, Outcome, Prepared, Recovered};
pub use boot::entries_booting;
pub use ground::error::{Kind, OnnError};
pub use ground::progress::{CancelToken, Event};
pub use ground::units::Bytes;
pub use plan::{Action, Plan, Request, Step};
