//! One onn at a time: every command that writes holds an exclusive `flock` on one file under
//! `/run/lock`, which names its holder (pid and command line) for the refusal of the next.
//!
//! A lock of `flock(2)` belongs to the open file, so it ends with the process that holds it,
//! however that ends (a crash, `kill -9`): a killed onn never leaves the next one locked out,
//! and there is no stale lock to clean up. The file is opened close-on-exec (Rust's default), so
//! the programs onn runs do not inherit it and cannot outlive it holding the lock.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use crate::ground::error::precondition;
use crate::ground::progress::CancelToken;

/// The lock every writing onn takes: the CLI's commands and the addon's tasks alike. Under
/// `/run/lock` (a tmpfs, empty at every boot), where EL and Debian keep lock files.
pub const LOCK_PATH: &str = "/run/lock/onn.lock";

/// How often a waiting onn tries again.
const RETRY: Duration = Duration::from_millis(250);

/// Who holds the lock, as it wrote itself into the lock file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: Option<u32>,
    pub command: String,
}

impl Holder {
    fn parse(text: &str) -> Holder {
        let mut lines = text.lines();
        Holder {
            pid: lines.next().and_then(|l| l.trim().parse().ok()),
            command: lines.next().unwrap_or_default().trim().to_string(),
        }
    }

    /// "pid 42: onn install …", as the refusal names it.
    pub fn describe(&self) -> String {
        match (self.pid, self.command.is_empty()) {
            (Some(pid), false) => format!("pid {pid}: {}", self.command),
            (Some(pid), true) => format!("pid {pid}"),
            (None, _) => "a process that has not yet said who it is".to_string(),
        }
    }
}

/// The lock, held until this value is dropped (or the process ends).
#[derive(Debug)]
pub struct Lock {
    _flock: Flock<File>,
    path: PathBuf,
}

impl Lock {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Take the lock for `command` (what the holder is doing, shown to the next onn). When another
/// onn holds it: refuse at once with `busy`, naming it; or, given `wait`, try again until it
/// is free, calling `waiting` once with the holder, until `wait` is cancelled.
pub fn acquire(
    command: &str,
    wait: Option<&CancelToken>,
    waiting: &mut dyn FnMut(&Holder),
) -> Result<Lock> {
    acquire_at(Path::new(LOCK_PATH), command, wait, waiting)
}

/// [`acquire`] with the lock file at `path`.
pub fn acquire_at(
    path: &Path,
    command: &str,
    wait: Option<&CancelToken>,
    waiting: &mut dyn FnMut(&Holder),
) -> Result<Lock> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut told = false;
    loop {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(path)
            .with_context(|| format!("opening the lock file {}", path.display()))?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(mut flock) => {
                // Who holds it now, for the refusal of the next onn: written only while held.
                let me = format!("{}\n{}\n", std::process::id(), one_line(command));
                flock
                    .set_len(0)
                    .and_then(|_| flock.seek(SeekFrom::Start(0)))
                    .and_then(|_| flock.write_all(me.as_bytes()))
                    .with_context(|| format!("writing {}", path.display()))?;
                return Ok(Lock {
                    _flock: flock,
                    path: path.to_path_buf(),
                });
            }
            Err((mut file, Errno::EWOULDBLOCK)) => {
                let holder = read_holder(&mut file);
                let Some(cancel) = wait else {
                    return Err(precondition(
                        "busy",
                        format!(
                            "another onn is running ({}); run this when it has ended, or give --wait to wait for it",
                            holder.describe()
                        ),
                    ));
                };
                if !told {
                    told = true;
                    waiting(&holder);
                }
                cancel.check()?;
                std::thread::sleep(RETRY);
            }
            Err((_, e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()));
            }
        }
    }
}

/// The holder's own words, read from the file it locked. It writes them right after it took
/// the lock; read a moment later if the file is still empty.
fn read_holder(file: &mut File) -> Holder {
    for _ in 0..10 {
        let mut text = String::new();
        if file.seek(SeekFrom::Start(0)).is_ok() && file.read_to_string(&mut text).is_ok() {
            let holder = Holder::parse(&text);
            if holder.pid.is_some() && !holder.command.is_empty() {
                return holder;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Holder {
        pid: None,
        command: String::new(),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ground::error::{id_of, kind_of, Kind};

    #[test]
    fn a_second_writer_is_refused_naming_the_first_and_the_lock_is_free_once_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock/onn.lock");
        let first = acquire_at(&path, "onn install --pv /dev/vdb", None, &mut |_| {}).unwrap();
        let err = acquire_at(&path, "onn recover", None, &mut |_| {}).unwrap_err();
        assert_eq!((id_of(&err), kind_of(&err)), ("busy", Kind::Precondition));
        let msg = err.to_string();
        let me = std::process::id();
        assert!(
            msg.contains(&format!("pid {me}: onn install --pv /dev/vdb")),
            "{msg}"
        );
        assert!(msg.contains("--wait"), "{msg}");
        drop(first);
        let again = acquire_at(&path, "onn recover", None, &mut |_| {}).unwrap();
        assert_eq!(
            std::fs::read_to_string(again.path()).unwrap(),
            format!("{me}\nonn recover\n")
        );
    }

    #[test]
    fn a_waiting_writer_gets_the_lock_when_the_holder_lets_go_and_can_be_cancelled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("onn.lock");
        let first = acquire_at(&path, "onn layer add", None, &mut |_| {}).unwrap();
        // Cancelled while waiting: a cancel, not a refusal.
        let cancel = CancelToken::new();
        cancel.cancel();
        let mut seen = Vec::new();
        let err = acquire_at(&path, "onn install", Some(&cancel), &mut |h| {
            seen.push(h.clone())
        })
        .unwrap_err();
        assert_eq!(id_of(&err), "cancelled");
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].command, "onn layer add");
        // Let go from another thread while this one waits.
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(600));
            drop(first);
        });
        let waited = acquire_at(&path, "onn install", Some(&CancelToken::new()), &mut |_| {});
        releaser.join().unwrap();
        assert!(waited.is_ok());
    }
}
