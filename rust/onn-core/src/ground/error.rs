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
}
