//! The small typed error kind that adapters map to exit codes and exceptions.
//!
//! Core code uses `anyhow` with sentence-like contexts; the root cause of an error that an
//! adapter must tell apart is an [`OnnError`] carrying a [`Kind`].

use std::fmt;

/// What kind of failure happened, for exit codes and Python exception classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// The request cannot be carried out as asked; nothing was written.
    Precondition,
    /// An external program failed.
    Command,
    /// Something that was asked for does not exist.
    NotFound,
    /// The run was cancelled by the caller.
    Cancelled,
    /// Undoing a failed run failed too; the disk may hold leftovers.
    Rollback,
}

impl Kind {
    /// Process exit code used by the CLI (1 is reserved for "check failed").
    pub fn exit_code(self) -> i32 {
        match self {
            Kind::Precondition => 2,
            Kind::NotFound => 3,
            Kind::Command => 4,
            Kind::Cancelled => 5,
            Kind::Rollback => 6,
        }
    }
}

/// An error with a stable id (for translation) and an English message.
#[derive(Debug, thiserror::Error)]
pub struct OnnError {
    pub kind: Kind,
    /// Stable, dotted identifier, e.g. `pv.mounted`; the addon translates by it.
    pub id: &'static str,
    pub message: String,
}

impl fmt::Display for OnnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A failed external program: argv, exit status and the tail of its stderr.
#[derive(Debug, thiserror::Error)]
#[error("{program} failed ({status}): {stderr_tail}")]
pub struct CommandError {
    pub program: String,
    pub argv: Vec<String>,
    /// Exit code, or `None` when killed by a signal.
    pub code: Option<i32>,
    pub status: String,
    pub stderr_tail: String,
}

/// A failed run whose undo failed as well; both causes are kept.
#[derive(Debug, thiserror::Error)]
#[error("{first:#}; undoing it also failed: {undo}")]
pub struct RollbackError {
    pub first: anyhow::Error,
    pub undo: String,
}

/// The id of every refusal the engine can raise: each precondition and not-found error, and
/// each warning of an image that `--strict` turns into one (`image.update.*`, checked in the
/// order of `image/updatable.rs`). The addon has a translated message for each (its tests read
/// this list as `onn.ERROR_IDS`) and README.md's "When things go wrong" explains each. Besides
/// these, [`id_of`] gives the kinds' own: `cancelled`, `command`, `rollback`, `internal`.
/// Sorted; a test below finds every id the sources raise here, and nothing else.
pub const IDS: &[&str] = &[
    "base.missing",
    "base.name-taken",
    "boot.grubenv-link",
    "boot.missing",
    "boot.no-filesystem",
    "boot.not-mounted",
    "boot.on-lvm",
    "boot.required",
    "boot.too-small",
    "busy",
    "device.missing",
    "device.not-block",
    "disk.too-small",
    "download.dir",
    "download.http",
    "download.length",
    "download.network",
    "download.no-space",
    "download.not-found",
    "download.proxy",
    "download.tls",
    "download.url",
    "efi.missing",
    "efi.not-mounted",
    "efi.not-vfat",
    "efi.too-small",
    "fs.mismatch",
    "fs.sector-size",
    "image.corrupt",
    "image.fs-unsupported",
    "image.missing",
    "image.no-efi",
    "image.no-kernel",
    "image.no-nvr",
    "image.no-rootfs",
    "image.not-file",
    "image.not-squashfs",
    "image.required",
    "image.rootfs-symlink",
    "image.rootfs-truncated",
    "image.squashfs-unsupported",
    "image.truncated",
    "image.update.default-grub",
    "image.update.dev-urandom",
    "image.update.factory-etc",
    "image.update.name",
    "image.update.nvr-space",
    "image.update.release-cpe",
    "image.update.rpmdb",
    "image.update.sshd-config",
    "kernel-arg.invalid",
    "key.expired",
    "key.invalid",
    "key.missing",
    "key.revoked",
    "layer.name-taken",
    "layer.no-kernel",
    "name.dm-too-long",
    "name.invalid",
    "name.reserved",
    "name.too-long",
    "nvr.different-names",
    "nvr.invalid",
    "nvr.too-long",
    "plan.stale",
    "pool-metadata.too-small",
    "pool.full",
    "pool.imgbased-exists",
    "pool.metadata-no-room",
    "pool.missing",
    "pool.not-thin",
    "pool.too-small",
    "pv.duplicate",
    "pv.in-use",
    "pv.mounted",
    "pv.other-vg",
    "pv.partitioned",
    "pv.required",
    "pv.signature",
    "request.conflict",
    "root-size.too-small",
    "root.needs-adopt",
    "root.not-lvm",
    "root.not-mounted",
    "root.not-thin",
    "root.other-vg",
    "rpm.file-digest",
    "rpm.invalid",
    "rpm.many-squashfs",
    "rpm.no-squashfs",
    "rpm.tampered",
    "sha256.malformed",
    "sha256.mismatch",
    "signature.invalid",
    "signature.mismatch",
    "signature.missing",
    "signature.unknown-key",
    "tool.missing",
    "var.not-separate",
    "var.too-small",
    "vg.exists",
    "vg.imgbased-exists",
    "vg.imgbased-many",
    "vg.missing",
    "vg.name-taken",
    "wipe.foreign-lv",
    "wipe.other-disk",
    "wipe.storage-domain",
];

/// Build a precondition error: the request cannot be carried out, nothing was touched.
pub fn precondition(id: &'static str, message: impl Into<String>) -> anyhow::Error {
    OnnError {
        kind: Kind::Precondition,
        id,
        message: message.into(),
    }
    .into()
}

/// Build a not-found error.
pub fn not_found(id: &'static str, message: impl Into<String>) -> anyhow::Error {
    OnnError {
        kind: Kind::NotFound,
        id,
        message: message.into(),
    }
    .into()
}

/// Build the error returned when the caller cancelled the run.
pub fn cancelled() -> anyhow::Error {
    OnnError {
        kind: Kind::Cancelled,
        id: "cancelled",
        message: "cancelled by the caller".into(),
    }
    .into()
}

/// The kind of an error: the first typed cause in its chain, else `Command` for program
/// failures, else `Precondition` is never assumed: untyped errors are command-like failures.
pub fn kind_of(err: &anyhow::Error) -> Kind {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<OnnError>() {
            return e.kind;
        }
        if cause.is::<RollbackError>() {
            return Kind::Rollback;
        }
        if cause.is::<CommandError>() {
            return Kind::Command;
        }
    }
    Kind::Command
}

/// The stable id of an error, when it has one.
pub fn id_of(err: &anyhow::Error) -> &'static str {
    for cause in err.chain() {
        if let Some(e) = cause.downcast_ref::<OnnError>() {
            return e.id;
        }
        if cause.is::<RollbackError>() {
            return "rollback";
        }
        if cause.is::<CommandError>() {
            return "command";
        }
    }
    "internal"
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn kind_survives_added_context() {
        let err = Err::<(), _>(precondition("pv.mounted", "/dev/vdb is mounted"))
            .context("checking /dev/vdb")
            .unwrap_err();
        assert_eq!(kind_of(&err), Kind::Precondition);
        assert_eq!(id_of(&err), "pv.mounted");
        assert_eq!(format!("{err:#}"), "checking /dev/vdb: /dev/vdb is mounted");
    }

    /// Every `precondition("…"` and `not_found("…"` of the engine's sources, with the image
    /// warnings `--strict` refuses, is in [`IDS`], and [`IDS`] holds nothing else.
    #[test]
    fn every_error_id_of_the_sources_is_listed_once() {
        fn sources(dir: &std::path::Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    sources(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    out.push(std::fs::read_to_string(&path).unwrap());
                }
            }
        }
        // Only what reads as an id (dotted, or `busy`: another onn holds the lock, a refusal of
        // the moment rather than of the input): not this test's own strings.
        let is_id = |id: &&str| {
            (id.contains('.') || *id == "busy")
                && id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        };
        let mut texts = Vec::new();
        sources(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut texts,
        );
        let mut raised: Vec<&str> = crate::image::updatable::IDS.to_vec();
        for text in &texts {
            for call in ["precondition(", "not_found("] {
                for (at, _) in text.match_indices(call) {
                    let rest = text[at + call.len()..].trim_start();
                    let id = rest.strip_prefix('"').and_then(|r| r.split('"').next());
                    raised.extend(id.filter(is_id));
                }
            }
        }
        raised.sort_unstable();
        raised.dedup();
        let mut listed = IDS.to_vec();
        listed.sort_unstable();
        assert_eq!(listed, IDS, "IDS is sorted");
        listed.dedup();
        assert_eq!(listed.len(), IDS.len(), "IDS names each id once");
        assert_eq!(raised, IDS);
    }
}
