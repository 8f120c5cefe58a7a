//! Carrying out the plan's steps, one by one, each journaling how to undo what it created.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::{Exec, StepTime, Undo};
use crate::boot::{self, BootDir};
use crate::ground::atomic;
use crate::ground::error::precondition;
use crate::ground::fault;
use crate::ground::progress::{self, Event, Throttle};
use crate::ground::runner::{Cmd, Runner};
use crate::ground::units::Bytes;
use crate::image::copy;
use crate::image::Layout;
use crate::names;
use crate::plan::{self, Step};
use crate::storage::blockdev;
use crate::storage::fs::{self as fsops, FsType};
use crate::storage::guard::Mount;
use crate::storage::lvm::{self, LvmState};

impl Exec<'_, '_> {
    pub(super) fn run_all(&mut self) -> Result<()> {
        let total = self.plan.steps.len();
        for (i, step) in self.plan.steps.iter().enumerate() {
            self.cancel.check()?;
            self.index = i + 1;
            self.emit(step.id(), 0, 0, step.describe())?;
            tracing::info!("[{}/{total}] {}", i + 1, step.describe());
            let began = std::time::Instant::now();
            self.step(step).with_context(|| step.describe())?;
            self.outcome.steps.push(StepTime {
                step: step.id(),
                description: step.describe(),
                seconds: began.elapsed().as_secs_f64(),
            });
            fault::fail_after(step.id())?;
        }
        Ok(())
    }

    fn emit(&mut self, step: &'static str, done: u64, size: u64, message: String) -> Result<()> {
        let e = Event {
            step,
            index: self.index,
            total: self.plan.steps.len(),
            done,
            size,
            message,
        };
        (self.observer)(&e)
    }

    fn run(&self, cmd: Cmd, context: impl FnOnce() -> String) -> Result<()> {
        self.runner.run(&cmd).with_context(context)?;
        Ok(())
    }

    fn created_lv(&mut self, vg: &str, lv: &str) {
        self.outcome.created.push(format!("{vg}/{lv}"));
        self.journal.push(Undo::Run {
            what: format!("removing {vg}/{lv}"),
            cmds: vec![lvm::lvremove(vg, lv)],
        });
    }

    fn step(&mut self, step: &Step) -> Result<()> {
        match step {
            Step::RemoveBootFiles { vg, layers } => self.remove_boot_files(vg, layers),
            Step::RemoveNode { vg, pvs, .. } => self.remove_node(vg, pvs),
            Step::CreateVg { vg, pvs } => self.create_vg(vg, pvs),
            Step::AdoptVg { vg } => self.adopt_vg(vg),
            Step::CreatePool {
                vg,
                pool,
                data,
                metadata,
            } => self.create_pool(vg, pool, *data, *metadata),
            Step::AdoptPool {
                vg,
                pool,
                grow_metadata_to,
            } => self.adopt_pool(vg, pool, *grow_metadata_to),
            Step::CreateVolume {
                vg,
                pool,
                lv,
                size,
                fs,
            } => self.create_volume(vg, pool, lv, *size, *fs),
            Step::WriteBase {
                vg,
                pool,
                lv,
                size,
                layout,
                fs,
                replace,
            } => self.write_base(vg, pool, lv, *size, *layout, *fs, *replace),
            Step::FormatVolume { vg, lv, fs } => {
                fsops::mkfs(self.runner, Path::new(&lvm::lv_path(vg, lv)), *fs)
            }
            Step::CreateLayer {
                vg,
                origin,
                layer,
                replace,
            } => self.create_layer(vg, origin, layer, *replace),
            Step::ConfigureLayer {
                vg,
                layer,
                volumes,
                kernel_args,
            } => self.configure_layer(vg, layer, volumes, kernel_args),
            Step::InstallEfi { vg, layer } => self.install_efi(vg, layer),
            Step::InstallBoot {
                vg,
                layer,
                nvr,
                kernel_args,
            } => self.install_boot(vg, layer, nvr, kernel_args),
            Step::Finish { vg } => self.run(lvm::finish_vg(vg), || {
                format!("marking volume group {vg} complete")
            }),
            Step::WriteReport { vg, layer, volumes } => {
                self.write_report(vg, layer, volumes);
                Ok(())
            }
        }
    }

    /// `--wipe`: what boots the old Node's layers goes from /boot. Nothing to journal: what was
    /// asked to go is not brought back by a later failure, which leaves the disks as `onn
    /// recover` would.
    fn remove_boot_files(&mut self, vg: &str, layers: &[String]) -> Result<()> {
        let facts = self
            .plan
            .boot
            .as_ref()
            .context("removing boot files needs /boot facts")?;
        let dir = BootDir::open(self.runner, facts)?;
        let removed = (|| -> Result<Vec<String>> {
            let mut removed = Vec::new();
            for layer in layers {
                removed.extend(boot::remove_layer_files(dir.path(), layer)?);
            }
            Ok(removed)
        })();
        dir.close()?;
        for f in removed.with_context(|| format!("removing the boot files of {vg}'s layers"))? {
            tracing::info!("removed {f}");
        }
        Ok(())
    }

    /// `--wipe`: the old Node's volume group, whole, and its disks' LVM labels (a run killed
    /// between the two leaves labels without a VG, which hold nothing and are taken as free).
    fn remove_node(&mut self, vg: &str, pvs: &[String]) -> Result<()> {
        self.run(
            Cmd::new("lvm").args(["vgremove", "--yes", "--force", vg]),
            || format!("removing the Node's volume group {vg}"),
        )?;
        self.run(lvm::pvremove(pvs), || {
            format!("removing the LVM labels of {}", pvs.join(", "))
        })?;
        self.outcome.removed.push(vg.to_string());
        Ok(())
    }

    fn create_vg(&mut self, vg: &str, pvs: &[String]) -> Result<()> {
        self.run(lvm::vgcreate(vg, pvs), || {
            format!("creating volume group {vg}")
        })?;
        self.outcome.created.push(vg.to_string());
        self.journal.push(Undo::Run {
            what: format!("removing volume group {vg}"),
            cmds: vec![lvm::vgremove(vg), lvm::pvremove(pvs)],
        });
        Ok(())
    }

    fn adopt_vg(&mut self, vg: &str) -> Result<()> {
        self.run(lvm::tag_vg(vg), || format!("tagging volume group {vg}"))?;
        self.journal.push(Undo::Run {
            what: format!("untagging {vg}"),
            cmds: vec![lvm::untag_vg(vg)],
        });
        Ok(())
    }

    fn create_pool(&mut self, vg: &str, pool: &str, data: Bytes, metadata: Bytes) -> Result<()> {
        self.ensure_profile()?;
        self.run(
            lvm::create_pool(vg, pool, data, metadata, plan::pool::CHUNK),
            || format!("creating thin pool {vg}/{pool}"),
        )?;
        self.created_lv(vg, pool);
        Ok(())
    }

    fn adopt_pool(&mut self, vg: &str, pool: &str, grow_metadata_to: Option<Bytes>) -> Result<()> {
        self.ensure_profile()?;
        if let Some(size) = grow_metadata_to {
            self.run(lvm::grow_pool_metadata(vg, pool, size), || {
                format!("growing the metadata of {vg}/{pool} to {size}")
            })?;
        }
        self.run(lvm::adopt_pool(vg, pool), || {
            format!("tagging thin pool {vg}/{pool}")
        })?;
        self.journal.push(Undo::Run {
            what: format!("untagging {vg}/{pool}"),
            cmds: vec![lvm::untag_pool(vg, pool)],
        });
        Ok(())
    }

    fn create_volume(
        &mut self,
        vg: &str,
        pool: &str,
        lv: &str,
        size: Bytes,
        fs: FsType,
    ) -> Result<()> {
        self.run(
            lvm::create_thin(vg, pool, lv, size, Some(names::TAG_VOLUME)),
            || format!("creating data volume {vg}/{lv}"),
        )?;
        self.created_lv(vg, lv);
        fsops::mkfs(self.runner, Path::new(&lvm::lv_path(vg, lv)), fs)
    }

    fn create_layer(&mut self, vg: &str, origin: &str, layer: &str, replace: bool) -> Result<()> {
        if replace {
            tracing::info!("removing {vg}/{layer} left by an interrupted run");
            self.run(lvm::lvremove(vg, layer), || {
                format!("removing the unfinished layer {vg}/{layer}")
            })?;
        }
        self.run(lvm::create_layer(vg, origin, layer), || {
            format!("creating layer {vg}/{layer}")
        })?;
        self.created_lv(vg, layer);
        let dev = PathBuf::from(lvm::lv_path(vg, layer));
        let fs = probe_fs(self.runner, &dev)?;
        fsops::renew(self.runner, &dev, fs, false)?;
        // The commit point: a layer with the base's filesystem UUID is never tagged.
        self.run(lvm::commit_layer(vg, layer), || {
            format!("committing layer {vg}/{layer}")
        })
    }

    /// Put the `imgbased-pool` profile where this system's LVM reads profiles.
    fn ensure_profile(&mut self) -> Result<()> {
        let dir = lvm::profile_dir(self.runner)?;
        let path = dir.join(format!("{}.profile", names::POOL_PROFILE));
        if !path.exists() {
            atomic::write(&path, plan::pool::profile_text().as_bytes())
                .with_context(|| format!("writing LVM profile {}", path.display()))?;
            self.journal.push(Undo::RemoveFile(path));
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn write_base(
        &mut self,
        vg: &str,
        pool: &str,
        lv: &str,
        size: Bytes,
        layout: Layout,
        fs: FsType,
        replace: bool,
    ) -> Result<()> {
        let image = self.image.context("writing a base needs an opened image")?;
        if replace {
            // An interrupted write left the LV without its commit tag: start over.
            tracing::info!("removing {vg}/{lv} left by an interrupted run");
            self.run(lvm::lvremove(vg, lv), || {
                format!("removing the unfinished base {vg}/{lv}")
            })?;
        }
        self.run(lvm::create_thin(vg, pool, lv, size, None), || {
            format!("creating base {vg}/{lv}")
        })?;
        self.created_lv(vg, lv);
        let dev = PathBuf::from(lvm::lv_path(vg, lv));
        match layout {
            Layout::Liveos => {
                let src = image
                    .rootfs()
                    .context("the image's rootfs.img was not read")?;
                let cancel = self.cancel.clone();
                let mut throttle = Throttle::default();
                let mut halfway = false;
                let mut report = |done: Bytes, total: Bytes| -> Result<()> {
                    cancel.check()?;
                    if !halfway && done.0 * 2 >= total.0 {
                        halfway = true;
                        fault::point(&|| format!("half of {} copied", names::ROOTFS_IMG));
                    }
                    if throttle.due(done == total) {
                        self.emit(
                            progress::BASE_COPY,
                            done.0,
                            total.0,
                            format!("copying the image: {done} of {total}"),
                        )?;
                    }
                    Ok(())
                };
                let stats = copy::copy_squash_file(src, &dev, &mut report)
                    .map_err(|e| explain_full_pool(self.runner, vg, pool, lv, e))
                    .with_context(|| {
                        format!("copying {} to {}", names::ROOTFS_IMG, dev.display())
                    })?;
                tracing::info!(
                    "copied {}: {} written, {} of zero blocks skipped",
                    stats.size,
                    stats.written,
                    stats.skipped_zero
                );
                self.outcome.copy = Some(stats);
                self.emit(
                    progress::BASE_FINISH,
                    0,
                    0,
                    format!("checking and growing the filesystem of {lv}"),
                )?;
                // fsck checks the copy; then the filesystem gets the LV's size and its own UUID.
                fsops::renew(self.runner, &dev, fs, true)?;
            }
            Layout::Tree => {
                fsops::mkfs(self.runner, &dev, fs)?;
                let m = Mount::temp(self.runner, &dev, Some(fs.name()), fs.rw_options())?;
                self.emit(
                    progress::BASE_COPY,
                    0,
                    0,
                    format!("copying the image's files into {lv}"),
                )?;
                let tree = image.tree().context("the image's tree is not mounted")?;
                fsops::copy_tree(self.runner, tree, m.path())?;
                m.close()?;
            }
        }
        self.cancel.check()?;
        // The commit point: only a complete, checked base carries the tag.
        self.run(lvm::protect_base(vg, lv), || {
            format!("protecting base {vg}/{lv}")
        })?;
        Ok(())
    }
}

/// A write error on a thin LV most often means its pool ran out of space (something else
/// filled it since the plan was made): name that, keeping what the kernel said.
fn explain_full_pool(
    runner: &dyn Runner,
    vg: &str,
    pool: &str,
    lv: &str,
    err: anyhow::Error,
) -> anyhow::Error {
    let full = LvmState::read(runner)
        .ok()
        .and_then(|s| s.lv(vg, pool).and_then(|p| p.data_percent))
        .is_some_and(|used| used >= 99.99);
    if !full || crate::ground::error::kind_of(&err) == crate::Kind::Cancelled {
        return err;
    }
    precondition(
        "pool.full",
        format!(
            "thin pool {vg}/{pool} ran out of space while base {lv} was written ({err:#}); \
             what was written is removed again. Free space in the pool or grow it (lvextend), \
             then run onn again"
        ),
    )
}

pub(super) fn probe_fs(runner: &dyn Runner, dev: &Path) -> Result<FsType> {
    let (t, _) = blockdev::fs_type_and_uuid(runner, dev)?;
    FsType::from_probe(t.as_deref(), &dev.display().to_string())
}
