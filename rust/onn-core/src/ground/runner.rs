//! The one way onn runs a program: argv only, absolute paths, `LC_ALL=C`, stdin closed,
//! stderr captured and its tail carried in the error.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use anyhow::{Context, Result};

use crate::ground::error::{not_found, CommandError};

/// Directories searched for system tools, in order. A fixed list, not `$PATH`: the installer's
/// environment must not decide which `lvm` formats a disk.
const TOOL_DIRS: [&str; 4] = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"];
/// How much of a failed program's stderr is kept in the error.
const STDERR_TAIL: usize = 2000;

/// A program invocation: a tool name (resolved in [`TOOL_DIRS`]) and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    tool: &'static str,
    args: Vec<OsString>,
    ok_codes: &'static [i32],
}

impl Cmd {
    pub fn new(tool: &'static str) -> Cmd {
        Cmd {
            tool,
            args: Vec::new(),
            ok_codes: &[0],
        }
    }
    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Cmd {
        self.args.push(a.as_ref().to_owned());
        self
    }
    pub fn args<I, S>(mut self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }
    /// Exit codes that mean success for this program (e.g. e2fsck's 1: "errors corrected").
    pub fn ok_codes(mut self, codes: &'static [i32]) -> Cmd {
        self.ok_codes = codes;
        self
    }
    /// argv as text, tool name first: for logs, errors and golden tests.
    pub fn argv(&self) -> Vec<String> {
        std::iter::once(self.tool.to_string())
            .chain(self.args.iter().map(|a| a.to_string_lossy().into_owned()))
            .collect()
    }
}

/// What a successful program printed.
#[derive(Debug, Clone, Default)]
pub struct Output {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// Runs commands. The system runner spawns them; tests record them.
pub trait Runner: Send + Sync {
    fn run(&self, cmd: &Cmd) -> Result<Output>;
}

/// Find a system tool by name in the fixed tool directories.
pub fn resolve_tool(tool: &str) -> Result<PathBuf> {
    TOOL_DIRS
        .iter()
        .map(|d| Path::new(d).join(tool))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            not_found(
                "tool.missing",
                format!(
                    "the program {tool} was not found in {}; install it",
                    TOOL_DIRS.join(":")
                ),
            )
        })
}

/// Spawns real processes.
#[derive(Debug, Default)]
pub struct SystemRunner;

impl Runner for SystemRunner {
    fn run(&self, cmd: &Cmd) -> Result<Output> {
        let path = resolve_tool(cmd.tool)?;
        tracing::debug!(argv = ?cmd.argv(), "running");
        let out = Command::new(&path)
            .args(&cmd.args)
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("starting {}", path.display()))?;
        let code = out.status.code();
        if code.is_some_and(|c| cmd.ok_codes.contains(&c)) {
            return Ok(Output {
                stdout: out.stdout,
                stderr: out.stderr,
            });
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stderr = stderr.trim();
        let tail = match stderr.char_indices().rev().nth(STDERR_TAIL) {
            Some((i, _)) => &stderr[i..],
            None => stderr,
        };
        Err(CommandError {
            program: cmd.tool.to_string(),
            argv: cmd.argv(),
            code,
            status: match code {
                Some(c) => format!("exit status {c}"),
                None => format!("{}", out.status),
            },
            stderr_tail: tail.to_string(),
        }
        .into())
    }
}

/// A runner for golden tests: records every argv and answers from a closure.
pub struct Recorder<F: Fn(&Cmd) -> Result<Output> + Send + Sync> {
    pub calls: Mutex<Vec<Vec<String>>>,
    respond: F,
}

impl<F: Fn(&Cmd) -> Result<Output> + Send + Sync> Recorder<F> {
    pub fn new(respond: F) -> Self {
        Recorder {
            calls: Mutex::new(Vec::new()),
            respond,
        }
    }
    pub fn calls(&self) -> Vec<Vec<String>> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

impl<F: Fn(&Cmd) -> Result<Output> + Send + Sync> Runner for Recorder<F> {
    fn run(&self, cmd: &Cmd) -> Result<Output> {
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(cmd.argv());
        }
        (self.respond)(cmd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ground::error::{kind_of, Kind};

    #[test]
    fn failure_names_the_command_and_keeps_stderr() {
        let err = SystemRunner
            .run(&Cmd::new("ls").arg("/nonexistent-onn-test"))
            .unwrap_err();
        assert_eq!(kind_of(&err), Kind::Command);
        let msg = err.to_string();
        assert!(msg.starts_with("ls failed (exit status 2)"), "{msg}");
        assert!(msg.contains("nonexistent-onn-test"), "{msg}");
    }

    #[test]
    fn runs_with_c_locale_and_no_shell() {
        // A shell metacharacter is passed through as a plain argument, never interpreted.
        let out = SystemRunner
            .run(&Cmd::new("printf").args(["%s|%s", "$LC_ALL;", "x"]))
            .unwrap();
        assert_eq!(out.stdout_str(), "$LC_ALL;|x");
        let out = SystemRunner.run(&Cmd::new("env")).unwrap();
        assert!(out.stdout_str().lines().any(|l| l == "LC_ALL=C"));
    }

    #[test]
    fn missing_tool_is_not_found() {
        let err = SystemRunner.run(&Cmd::new("onn-no-such-tool")).unwrap_err();
        assert_eq!(kind_of(&err), Kind::NotFound);
    }
}
