//! Guards for what onn sets up temporarily: `Drop` undoes it best-effort, `close()` reports
//! errors. A guard only undoes what it made itself.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tempfile::TempDir;

use crate::ground::runner::{Cmd, Runner};

/// Temporary mount points are `<tmp>/onn-mnt.<pid>.<random>`: the pid tells whose they are
/// after a crash.
const MOUNT_PREFIX: &str = "onn-mnt.";

/// The onn process that made a temporary mount point, from its name.
fn mount_owner(target: &Path) -> Option<u32> {
    let rest = target.file_name()?.to_str()?.strip_prefix(MOUNT_PREFIX)?;
    rest.split_once('.')?.0.parse().ok()
}

/// Unmount what killed onn processes left mounted on their temporary mount points (a crash
/// skips every guard's `Drop`), deepest first, and remove those mount points. Mounts of a
/// running onn, this one included, are left alone. Returns the mount points released.
pub fn release_stale_mounts(runner: &dyn Runner) -> Result<Vec<PathBuf>> {
    let me = std::process::id();
    let mut stale: Vec<PathBuf> = crate::storage::blockdev::mount_table()?
        .into_iter()
        .filter_map(|m| {
            let owner = m.target.ancestors().find_map(mount_owner)?;
            let gone = owner != me && !Path::new("/proc").join(owner.to_string()).exists();
            gone.then_some(m.target)
        })
        .collect();
    stale.sort_by_key(|t| std::cmp::Reverse(t.components().count()));
    stale.dedup();
    for target in &stale {
        tracing::info!(
            "unmounting {}, left by an interrupted onn",
            target.display()
        );
        runner
            .run(&Cmd::new("umount").arg(target))
            .with_context(|| format!("unmounting {}", target.display()))?;
        if mount_owner(target).is_some() {
            let _ = std::fs::remove_dir(target);
        }
    }
    Ok(stale)
}

/// A filesystem mounted by onn; unmounted (and its temporary mount point removed) on drop.
pub struct Mount<'r> {
    runner: &'r dyn Runner,
    target: PathBuf,
    mounted: bool,
    // Declared last: dropped after the unmount in `Drop`. None: a mount point not of ours.
    _dir: Option<TempDir>,
}

impl<'r> Mount<'r> {
    /// Mount `source` on a fresh temporary directory. `options` go to `mount -o`.
    pub fn temp(
        runner: &'r dyn Runner,
        source: &Path,
        fstype: Option<&str>,
        options: &str,
    ) -> Result<Mount<'r>> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("{MOUNT_PREFIX}{}.", std::process::id()))
            .tempdir()
            .context("creating a temporary mount point")?;
        let target = dir.path().to_path_buf();
        if let Some(existing) = crate::storage::blockdev::mounted_whole(source) {
            // Mounted already (an installer's system root): a second mount of a mounted
            // filesystem with other options (ro, noload) is refused; bind the one there is.
            Self::bind(
                runner,
                &existing,
                &target,
                options.split(',').any(|o| o == "ro"),
            )?;
        } else {
            Self::mount(runner, source, fstype, options, &target)?;
        }
        Ok(Mount {
            runner,
            target,
            mounted: true,
            _dir: Some(dir),
        })
    }

    /// Mount `source` on `target`, a directory inside a filesystem this onn mounted (a data
    /// volume where its host mounts it in a layer, /proc in a layer onn runs a program in), or
    /// bind it there when `fstype` is None.
    pub fn inside(
        runner: &'r dyn Runner,
        source: &Path,
        fstype: Option<&str>,
        options: &str,
        target: &Path,
    ) -> Result<Mount<'r>> {
        match fstype {
            Some(_) => Self::mount(runner, source, fstype, options, target)?,
            None => Self::bind(
                runner,
                source,
                target,
                options.split(',').any(|o| o == "ro"),
            )?,
        }
        Ok(Mount {
            runner,
            target: target.to_path_buf(),
            mounted: true,
            _dir: None,
        })
    }

    fn mount(
        runner: &dyn Runner,
        source: &Path,
        fstype: Option<&str>,
        options: &str,
        target: &Path,
    ) -> Result<()> {
        let mut cmd = Cmd::new("mount");
        if let Some(t) = fstype {
            cmd = cmd.args(["-t", t]);
        }
        cmd = cmd.args(["-o", options]).arg(source).arg(target);
        runner
            .run(&cmd)
            .with_context(|| format!("mounting {} on {}", source.display(), target.display()))?;
        Ok(())
    }

    fn bind(runner: &dyn Runner, existing: &Path, target: &Path, read_only: bool) -> Result<()> {
        let context = || format!("binding {} on {}", existing.display(), target.display());
        runner
            .run(&Cmd::new("mount").arg("--bind").arg(existing).arg(target))
            .with_context(context)?;
        if read_only {
            let remount = Cmd::new("mount")
                .args(["-o", "remount,bind,ro"])
                .arg(target);
            if let Err(e) = runner.run(&remount) {
                let _ = runner.run(&Cmd::new("umount").arg(target));
                return Err(e).with_context(context);
            }
        }
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.target
    }

    /// Unmount now and report an error.
    pub fn close(mut self) -> Result<()> {
        self.unmount()
    }

    fn unmount(&mut self) -> Result<()> {
        if !self.mounted {
            return Ok(());
        }
        self.mounted = false;
        self.runner
            .run(&Cmd::new("umount").arg(&self.target))
            .with_context(|| format!("unmounting {}", self.target.display()))?;
        Ok(())
    }
}

impl Drop for Mount<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.unmount() {
            tracing::warn!("{e:#}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_mount_points_name_their_owner() {
        assert_eq!(
            mount_owner(Path::new("/tmp/onn-mnt.4242.aB3xYz")),
            Some(4242)
        );
        assert_eq!(mount_owner(Path::new("/tmp/onn-mnt.aB3xYz")), None);
        assert_eq!(mount_owner(Path::new("/mnt/sysimage")), None);
        let dir = tempfile::Builder::new()
            .prefix(&format!("{MOUNT_PREFIX}{}.", std::process::id()))
            .tempdir()
            .unwrap();
        assert_eq!(mount_owner(dir.path()), Some(std::process::id()));
    }
}
