//! onn-core: the engine of the oVirt Node Next installer.
//!
//! It lays out an LVM thin pool, writes a Node squashfs image as a read-only base and creates
//! its first writable layer with a boot entry, on disk exactly as imgbased expects, so the
//! installed host's `imgbase`/`nodectl` can update and roll it back.
//!
//! Flow: [`inspect::inspect`] → [`plan::plan`] (pure) → [`apply::Prepared::apply`].
//! The library never prints; it emits `tracing` events.
//!
//! The map. What the flow stands on, each part using only those before it: [`ground`] (the one
//! runner of programs, progress, size units, errors, whole-file writes, paths inside a root,
//! fault points); [`names`], every imgbased and LVM name and tag; [`storage`], LVM (its reports
//! as typed storage), block devices, filesystems and the mount guards; `boot`, the /boot
//! partition, its BLS entries (`boot/bls.rs`: the entry's format) and the ESP; [`image`], the
//! Node image (its download, digest, squashfs, the NVR and the layer name rule in
//! `image/nvr.rs`, and what the host's imgbased needs of it). Then the flow: [`inspect`] reads
//! the system into the facts that [`plan`] decides every step from (the thin pool's size rule
//! is `plan/pool.rs`; the facts' types are the plan's, so `inspect` uses `plan` and not the
//! other way round); [`apply`] carries the steps out and undoes them on failure; [`report`] is
//! `onn list` and `onn check` of what was installed. `tests/module_graph.rs` keeps the parts
//! free of import loops.

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
