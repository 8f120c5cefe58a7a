//! Guards for what onn sets up temporarily: `Drop` undoes it best-effort, `close()` reports
//! errors. A guard only undoes what it made itself.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tempfile::TempDir;

use crate::runner::{Cmd, Runner};

/// A filesystem mounted by onn; unmounted (and its temporary mount point removed) on drop.
pub struct Mount<'r> {
    runner: &'r dyn Runner,
    target: PathBuf,
    mounted: bool,
    // Declared last: dropped after the unmount in `Drop`.
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
            .prefix("onn-mnt.")
            .tempdir()
            .context("creating a temporary mount point")?;
        let target = dir.path().to_path_buf();
        if let Some(existing) = crate::blockdev::mounted_whole(source) {
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

    /// Mount `source` on an existing directory.
    pub fn at(
        runner: &'r dyn Runner,
        source: &Path,
        fstype: Option<&str>,
        options: &str,
        target: &Path,
    ) -> Result<Mount<'r>> {
        Self::mount(runner, source, fstype, options, target)?;
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
