//! Inspect → plan → **apply**. Steps run in order; each one that creates something records how
//! to undo it. On failure the first error is logged, then the journal is undone in reverse; a
//! failing undo is reported together with the first error. Commit points come last: a base is
//! tagged only after its copy is checked, and the default boot entry is set last of all.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::atomic;
use crate::blockdev;
use crate::boot::{self, BootDir, EntrySpec, FstabVolume};
use crate::copy::{self, CopyStats};
use crate::error::{precondition, RollbackError};
use crate::fault;
use crate::fs::{self as fsops, FsType};
use crate::guard::{self, Mount};
use crate::image::{self, Layout, OpenImage};
use crate::lvm::{self, LvmState};
use crate::names;
use crate::plan::{self, Facts, Plan, PlannedVolume, Request, Step};
use crate::progress::{self, CancelToken, Event, Throttle};
use crate::rootfs;
use crate::runner::{Cmd, Runner};
use crate::units::Bytes;

/// What an apply did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Outcome {
    pub vg: String,
    pub created: Vec<String>,
    pub present: Vec<String>,
    pub base: Option<String>,
    pub layer: Option<String>,
    /// The BLS entry, relative to the /boot filesystem.
    pub boot_entry: Option<String>,
    /// The EFI boot files written onto the ESP (`EFI/…`).
    pub efi_files: Vec<String>,
    pub copy: Option<CopyStats>,
}

/// Read everything the plan needs. The image's checksum is verified here, first of all.
pub fn inspect<'r>(
    runner: &'r dyn Runner,
    req: &Request,
) -> Result<(Facts, Option<OpenImage<'r>>)> {
    let image = match (&req.image, req.needs_image()) {
        (Some(path), true) => Some(OpenImage::open(
            runner,
            Path::new(path),
            req.sha256.as_deref(),
            req.downloaded.as_ref(),
        )?),
        _ => None,
    };
    let mut facts = Facts {
        lvm: LvmState::read(runner)?,
        image: image.as_ref().map(|i| i.facts.clone()),
        ..Default::default()
    };
    for lv in facts
        .lvm
        .lvs
        .iter()
        .filter(|l| l.has_tag(names::TAG_VOLUME) && l.is_active())
    {
        let dev = PathBuf::from(lvm::lv_path(&lv.vg_name, &lv.lv_name));
        if blockdev::fs_type_and_uuid(runner, &dev)?.0.is_none() {
            facts
                .blank_volumes
                .push(format!("{}/{}", lv.vg_name, lv.lv_name));
        }
    }
    if req.creates_layout() && !req.adopt {
        let vg = req.vg.as_deref().unwrap_or(plan::DEFAULT_VG);
        names::validate_vg_name(vg)?;
        // LVM refuses a new VG named like anything in /dev ("already exists in filesystem").
        if facts.lvm.vg(vg).is_none() && Path::new("/dev").join(vg).exists() {
            return Err(precondition(
                "vg.name-taken",
                format!("/dev/{vg} exists, so LVM cannot create a volume group named {vg}; choose another --vg"),
            ));
        }
        for pv in &req.pvs {
            facts.devices.push(blockdev::probe(runner, pv)?);
        }
    }
    if let Some(root) = &req.root {
        let root_lv = blockdev::lv_mounted_at(&facts.lvm, Path::new(root))?;
        facts.root_volumes =
            blockdev::lvs_mounted_below(&facts.lvm, Path::new(root), &root_lv.vg_name)?
                .into_iter()
                .map(|(lv, mount)| PlannedVolume {
                    size: lv.lv_size,
                    lv: lv.lv_name,
                    mount,
                })
                .collect();
        facts.root_lv = Some(root_lv);
    }
    if req.needs_boot() {
        if let Some(b) = &req.boot {
            facts.boot = Some(boot::inspect(runner, b)?);
            // A mounted /boot's grubenv link is checked before anything is written; a device,
            // which onn mounts by itself, has no ESP below it: checked when the entry is written.
            if Path::new(b).is_dir() {
                boot::grubenv_target(Path::new(b))?;
            }
        }
    }
    if let Some(e) = &req.efi {
        facts.efi = Some(crate::efi::inspect(runner, e)?);
    }
    Ok((facts, image))
}

/// A plan with what it was made from, ready to apply.
pub struct Prepared<'r> {
    runner: &'r dyn Runner,
    image: Option<OpenImage<'r>>,
    pub plan: Plan,
}

/// Inspect and plan.
pub fn prepare<'r>(runner: &'r dyn Runner, req: &Request) -> Result<Prepared<'r>> {
    let (facts, image) = inspect(runner, req)?;
    let plan = plan::plan(req, &facts)?;
    Ok(Prepared {
        runner,
        image,
        plan,
    })
}

/// Apply a plan made earlier (e.g. shown to a user): the system is inspected again and the
/// plan must still be what it would be now. The pool's free space is a measurement, not a
/// decision: a freshly made ext4 keeps writing its inode tables in the background, so it may
/// differ (planning again has checked it still fits).
pub fn prepare_again<'r>(runner: &'r dyn Runner, earlier: &Plan) -> Result<Prepared<'r>> {
    let now = prepare(runner, &earlier.request)?;
    let same = Plan {
        pool_free_after: now.plan.pool_free_after,
        ..earlier.clone()
    };
    if now.plan != same {
        let (a, b) = (
            serde_json::to_value(&now.plan)?,
            serde_json::to_value(&same)?,
        );
        let changed: Vec<&str> = match (a.as_object(), b.as_object()) {
            (Some(a), Some(b)) => a
                .iter()
                .filter(|(k, v)| b.get(*k) != Some(*v))
                .map(|(k, _)| k.as_str())
                .collect(),
            _ => Vec::new(),
        };
        return Err(precondition(
            "plan.stale",
            format!(
                "the system changed since this plan was made ({} differ); inspect and plan again",
                changed.join(", ")
            ),
        ));
    }
    Ok(now)
}

/// What [`recover`] cleaned up.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Recovered {
    /// Mount points an interrupted onn left mounted.
    pub unmounted: Vec<String>,
    /// Volume groups an unfinished run created, removed whole (`vg`), with the LVM labels of
    /// their disks.
    pub removed_vgs: Vec<String>,
    /// Unfinished bases and layers (`vg/lv`) of a finished volume group.
    pub removed_lvs: Vec<String>,
    /// Boot files of the layers removed (with a /boot given).
    pub removed_boot_files: Vec<String>,
}

/// Undo what interrupted onn runs left behind, and nothing else: their mounts; a volume group
/// that a run created and never finished (it still carries `onn:unfinished`), whole, so its
/// disks are clean again; in a finished one, the bases and layers that never got their commit
/// tag; and, given /boot (a device or a directory), the boot entries and kernels of the layers
/// removed. Run it only when no other onn is running.
pub fn recover(runner: &dyn Runner, boot: Option<&str>) -> Result<Recovered> {
    let mut done = Recovered {
        unmounted: guard::release_stale_mounts(runner)?
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        ..Default::default()
    };
    let lvm = LvmState::read(runner)?;
    let mut layers = Vec::new();
    let is_layer = |lv: &str| {
        matches!(
            names::ImageName::parse(lv),
            Some(names::ImageName::Layer(..))
        )
    };
    for vg in lvm.imgbased_vgs() {
        let name = &vg.vg_name;
        if vg.has_tag(names::TAG_UNFINISHED) {
            let pvs: Vec<String> = lvm.pvs_of(name).into_iter().map(str::to_string).collect();
            runner
                .run(&Cmd::new("lvm").args(["vgremove", "--yes", "--force", name]))
                .with_context(|| format!("removing the unfinished volume group {name}"))?;
            runner
                .run(&lvm::pvremove(&pvs))
                .with_context(|| format!("removing the LVM labels of {}", pvs.join(", ")))?;
            done.removed_vgs.push(name.clone());
            layers.extend(
                lvm.lvs_of(name)
                    .map(|l| l.lv_name.clone())
                    .filter(|l| is_layer(l)),
            );
            continue;
        }
        let Some(pool) = lvm.lvs_of(name).find(|l| l.has_tag(names::TAG_POOL)) else {
            continue;
        };
        for lv in lvm.lvs_of(name) {
            let onns = names::ImageName::parse(&lv.lv_name).is_some();
            if onns && lv.pool_lv == pool.lv_name && lv.lv_tags.is_empty() {
                runner
                    .run(&lvm::lvremove(name, &lv.lv_name))
                    .with_context(|| format!("removing the unfinished {name}/{}", lv.lv_name))?;
                done.removed_lvs.push(format!("{name}/{}", lv.lv_name));
                if is_layer(&lv.lv_name) {
                    layers.push(lv.lv_name.clone());
                }
            }
        }
    }
    if let (Some(b), false) = (boot, layers.is_empty()) {
        let dir = BootDir::open(runner, &boot::inspect(runner, b)?)?;
        for layer in &layers {
            done.removed_boot_files
                .extend(boot::remove_layer_files(dir.path(), layer)?);
        }
        dir.close()?;
    }
    Ok(done)
}

/// How to undo one thing this run created.
enum Undo {
    Run { what: String, cmds: Vec<Cmd> },
    RemoveFile(PathBuf),
}

struct Exec<'a, 'r> {
    runner: &'a dyn Runner,
    plan: &'a Plan,
    image: Option<&'a OpenImage<'r>>,
    observer: &'a mut dyn FnMut(&Event) -> Result<()>,
    cancel: &'a CancelToken,
    journal: Vec<Undo>,
    outcome: Outcome,
    index: usize,
}

impl Prepared<'_> {
    /// Carry out the plan. `observer` gets progress events; an error from it cancels the run.
    pub fn apply(
        self,
        observer: &mut dyn FnMut(&Event) -> Result<()>,
        cancel: &CancelToken,
    ) -> Result<Outcome> {
        let Prepared {
            runner,
            image,
            plan,
        } = self;
        let counted = fault::Counted(runner);
        fault::arm(true);
        // A crash skips every guard: its mounts would block fsck, lvremove and the copy.
        let released = guard::release_stale_mounts(runner);
        let mut exec = Exec {
            runner: &counted,
            plan: &plan,
            image: image.as_ref(),
            observer,
            cancel,
            journal: Vec::new(),
            outcome: Outcome {
                vg: plan.vg.clone(),
                present: plan.present.clone(),
                base: plan.base.clone(),
                layer: plan.layer.clone(),
                ..Default::default()
            },
            index: 0,
        };
        let result = released.and_then(|_| exec.run_all());
        fault::arm(false);
        let Exec {
            journal, outcome, ..
        } = exec;
        let result = match result {
            Ok(()) => Ok(outcome),
            Err(first) => {
                // Log the first error before cleaning up, so an undo error cannot hide it.
                tracing::error!("{first:#}");
                let undo_errors = undo(runner, journal);
                if undo_errors.is_empty() {
                    Err(first)
                } else {
                    Err(RollbackError {
                        first,
                        undo: undo_errors.join("; "),
                    }
                    .into())
                }
            }
        };
        if let Some(i) = image {
            if let Err(e) = i.close() {
                tracing::warn!("{e:#}");
            }
        }
        result
    }
}

fn undo(runner: &dyn Runner, journal: Vec<Undo>) -> Vec<String> {
    let mut errors = Vec::new();
    for u in journal.into_iter().rev() {
        match u {
            Undo::Run { what, cmds } => {
                tracing::info!("undoing: {what}");
                for c in cmds {
                    if let Err(e) = runner.run(&c) {
                        errors.push(format!("{what}: {e:#}"));
                        break;
                    }
                }
            }
            Undo::RemoveFile(p) => {
                if let Err(e) = std::fs::remove_file(&p) {
                    errors.push(format!("removing {}: {e}", p.display()));
                }
            }
        }
    }
    errors
}

impl Exec<'_, '_> {
    fn run_all(&mut self) -> Result<()> {
        let total = self.plan.steps.len();
        for (i, step) in self.plan.steps.iter().enumerate() {
            self.cancel.check()?;
            self.index = i + 1;
            self.emit(step.id(), 0, 0, step.describe())?;
            tracing::info!("[{}/{total}] {}", i + 1, step.describe());
            self.step(step).with_context(|| step.describe())?;
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
            Step::CreateVg { vg, pvs } => {
                self.run(lvm::vgcreate(vg, pvs), || {
                    format!("creating volume group {vg}")
                })?;
                self.outcome.created.push(vg.clone());
                self.journal.push(Undo::Run {
                    what: format!("removing volume group {vg}"),
                    cmds: vec![lvm::vgremove(vg), lvm::pvremove(pvs)],
                });
            }
            Step::AdoptVg { vg } => {
                self.run(lvm::tag_vg(vg), || format!("tagging volume group {vg}"))?;
                self.journal.push(Undo::Run {
                    what: format!("untagging {vg}"),
                    cmds: vec![Cmd::new("lvm").args(["vgchange", "--deltag", names::TAG_VG, vg])],
                });
            }
            Step::CreatePool {
                vg,
                pool,
                data,
                metadata,
            } => {
                self.ensure_profile()?;
                self.run(lvm::create_pool(vg, pool, *data, *metadata), || {
                    format!("creating thin pool {vg}/{pool}")
                })?;
                self.created_lv(vg, pool);
            }
            Step::AdoptPool {
                vg,
                pool,
                grow_metadata_to,
            } => {
                self.ensure_profile()?;
                if let Some(size) = grow_metadata_to {
                    self.run(
                        Cmd::new("lvm").args([
                            "lvextend",
                            "--poolmetadatasize",
                            &size.lvm_arg(),
                            &format!("{vg}/{pool}"),
                        ]),
                        || format!("growing the metadata of {vg}/{pool} to {size}"),
                    )?;
                }
                self.run(lvm::adopt_pool(vg, pool), || {
                    format!("tagging thin pool {vg}/{pool}")
                })?;
                self.journal.push(Undo::Run {
                    what: format!("untagging {vg}/{pool}"),
                    cmds: vec![Cmd::new("lvm").args([
                        "lvchange",
                        "--deltag",
                        names::TAG_POOL,
                        &format!("{vg}/{pool}"),
                    ])],
                });
            }
            Step::CreateVolume {
                vg,
                pool,
                lv,
                size,
                fs,
            } => {
                self.run(
                    lvm::create_thin(vg, pool, lv, *size, Some(names::TAG_VOLUME)),
                    || format!("creating data volume {vg}/{lv}"),
                )?;
                self.created_lv(vg, lv);
                fsops::mkfs(self.runner, Path::new(&lvm::lv_path(vg, lv)), *fs)?;
            }
            Step::WriteBase {
                vg,
                pool,
                lv,
                size,
                layout,
                fs,
                replace,
            } => self.write_base(vg, pool, lv, *size, *layout, *fs, *replace)?,
            Step::FormatVolume { vg, lv, fs } => {
                fsops::mkfs(self.runner, Path::new(&lvm::lv_path(vg, lv)), *fs)?;
            }
            Step::CreateLayer {
                vg,
                origin,
                layer,
                replace,
            } => {
                if *replace {
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
                })?;
            }
            Step::ConfigureLayer {
                vg,
                layer,
                volumes,
                kernel_args,
            } => self.configure_layer(vg, layer, volumes, kernel_args)?,
            Step::InstallEfi { vg, layer } => self.install_efi(vg, layer)?,
            Step::InstallBoot {
                vg,
                layer,
                nvr,
                kernel_args,
            } => self.install_boot(vg, layer, nvr, kernel_args)?,
            Step::Finish { vg } => self.run(lvm::finish_vg(vg), || {
                format!("marking volume group {vg} complete")
            })?,
        }
        Ok(())
    }

    /// Put the `imgbased-pool` profile where this system's LVM reads profiles.
    fn ensure_profile(&mut self) -> Result<()> {
        let dir = lvm::profile_dir(self.runner)?;
        let path = dir.join(format!("{}.profile", names::POOL_PROFILE));
        if !path.exists() {
            atomic::write(&path, names::POOL_PROFILE_CONTENT.as_bytes())
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
                fsops::copy_tree(self.runner, &image.source(), m.path())?;
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

    fn configure_layer(
        &mut self,
        vg: &str,
        layer: &str,
        volumes: &[PlannedVolume],
        kernel_args: &[String],
    ) -> Result<()> {
        let dev = PathBuf::from(lvm::lv_path(vg, layer));
        let fs = probe_fs(self.runner, &dev)?;
        let root = Mount::temp(self.runner, &dev, Some(fs.name()), fs.rw_options())?;
        let skip_volumes = names::needs_skip_volumes(volumes.iter().map(|v| v.mount.as_str()));
        fsops::make_mount_points(root.path(), "/", volumes.iter().map(|v| v.mount.as_str()))?;
        // Data volumes made by this run start empty: give them the image's content.
        let mut fstab_volumes = Vec::new();
        for v in volumes {
            let vdev = PathBuf::from(lvm::lv_path(vg, &v.lv));
            let vfs = probe_fs(self.runner, &vdev)?;
            let m = Mount::temp(self.runner, &vdev, Some(vfs.name()), vfs.rw_options())?;
            let from = rootfs::resolve(root.path(), &v.mount)?;
            if from.is_dir() {
                fsops::fill_volume(self.runner, &from, m.path())?;
            }
            // The mount points of the volumes nested in this one, where the image has none
            // (a Debian /var has no crash/), so that a plain `mount -a` mounts them too.
            fsops::make_mount_points(m.path(), &v.mount, volumes.iter().map(|w| w.mount.as_str()))?;
            if skip_volumes && v.mount == "/var" {
                write_skip_volumes_mark(m.path())?;
            }
            m.close()?;
            fstab_volumes.push(FstabVolume {
                device: lvm::lv_path(vg, &v.lv),
                mount: v.mount.clone(),
                fstype: vfs.name().to_string(),
            });
        }
        let boot = self
            .plan
            .boot
            .as_ref()
            .context("a layer needs /boot facts")?;
        let fstab_path = rootfs::resolve(root.path(), "etc/fstab")?;
        let existing = std::fs::read_to_string(&fstab_path).unwrap_or_default();
        let text = boot::render_fstab(
            &existing,
            &lvm::lv_path(vg, layer),
            fs.name(),
            boot,
            &fstab_volumes,
        );
        atomic::write(&fstab_path, text.as_bytes()).context("writing the layer's /etc/fstab")?;
        if skip_volumes && !volumes.iter().any(|v| v.mount == "/var") {
            write_skip_volumes_mark(&rootfs::resolve(root.path(), "var")?)?;
        }
        let mut args = entry_args(root.path(), kernel_args)?;
        args.push(format!("rd.lvm.lv={vg}/{layer}"));
        let grub = rootfs::resolve(root.path(), names::DEFAULT_GRUB)?;
        let existing = std::fs::read_to_string(&grub).unwrap_or_default();
        atomic::write(
            &grub,
            boot::render_default_grub(&existing, &args).as_bytes(),
        )
        .with_context(|| format!("writing the layer's /{}", names::DEFAULT_GRUB))?;
        // The installed host's LVM needs the pool's profile to autoextend it.
        let profile = rootfs::resolve(
            root.path(),
            &format!(
                "{}/{}.profile",
                names::HOST_PROFILE_DIR,
                names::POOL_PROFILE
            ),
        )?;
        atomic::write(&profile, names::POOL_PROFILE_CONTENT.as_bytes())
            .context("writing the layer's LVM profile")?;
        root.close()
    }

    fn install_efi(&mut self, vg: &str, layer: &str) -> Result<()> {
        let facts = self
            .plan
            .efi
            .as_ref()
            .context("EFI files need the ESP's facts")?;
        let dev = PathBuf::from(lvm::lv_path(vg, layer));
        let fs = probe_fs(self.runner, &dev)?;
        let root = Mount::temp(self.runner, &dev, Some(fs.name()), fs.read_only_options())?;
        let written = crate::efi::install(self.runner, facts, root.path());
        root.close()?;
        self.outcome.efi_files = written?;
        Ok(())
    }

    fn install_boot(
        &mut self,
        vg: &str,
        layer: &str,
        nvr: &str,
        kernel_args: &[String],
    ) -> Result<()> {
        let facts = self
            .plan
            .boot
            .as_ref()
            .context("a boot entry needs /boot facts")?;
        let dev = PathBuf::from(lvm::lv_path(vg, layer));
        let fs = probe_fs(self.runner, &dev)?;
        let root = Mount::temp(self.runner, &dev, Some(fs.name()), fs.read_only_options())?;
        let kernel = image::find_kernels(root.path())?
            .into_iter()
            .next()
            .ok_or_else(|| {
                precondition(
                    "layer.no-kernel",
                    format!("layer {layer} contains no kernel with an initramfs"),
                )
            })?;
        let bootdir = BootDir::open(self.runner, facts)?;
        let host = self.plan.request.host_root.as_deref().map(Path::new);
        let written = write_boot_files(
            self.runner,
            root.path(),
            bootdir.path(),
            host,
            EntryFor {
                vg,
                layer,
                nvr,
                kernel_args,
            },
            &kernel,
            facts,
        );
        let result = match written {
            Ok(entry) => {
                self.outcome.boot_entry = Some(entry);
                Ok(())
            }
            Err(e) => {
                // Boot files live on a filesystem this step mounts: undo them here.
                let _ = std::fs::remove_dir_all(bootdir.path().join(layer));
                let _ = std::fs::remove_file(
                    bootdir
                        .path()
                        .join(names::bls_entry_path(layer, &kernel.version)),
                );
                Err(e)
            }
        };
        bootdir.close()?;
        root.close()?;
        result
    }
}

/// The arguments of a layer's boot entry before onn's own: the image's, then the install's.
fn entry_args(root: &Path, kernel_args: &[String]) -> Result<Vec<String>> {
    Ok(image::read_cmdline(root)?
        .split_whitespace()
        .map(str::to_string)
        .chain(kernel_args.iter().cloned())
        .collect())
}

/// imgbased's mark of a host with the minimal volumes, below `var`, the directory that is
/// the layer's /var.
fn write_skip_volumes_mark(var: &Path) -> Result<()> {
    let path = var
        .join(names::VAR_STATE_DIR)
        .join(names::SKIP_VOLUMES_MARK);
    atomic::write(&path, b"").with_context(|| format!("writing {}", path.display()))
}

/// Whose boot entry: the layer and what its entry carries.
struct EntryFor<'a> {
    vg: &'a str,
    layer: &'a str,
    nvr: &'a str,
    kernel_args: &'a [String],
}

fn write_boot_files(
    runner: &dyn Runner,
    root: &Path,
    bootdir: &Path,
    host: Option<&Path>,
    to: EntryFor<'_>,
    kernel: &boot::Kernel,
    facts: &boot::BootFacts,
) -> Result<String> {
    let EntryFor {
        vg,
        layer,
        nvr,
        kernel_args,
    } = to;
    let kver = &kernel.version;
    let copy_in = |from: &str, name: String| -> Result<()> {
        atomic::copy(
            &rootfs::resolve(root, from)?,
            &bootdir.join(layer).join(name),
        )
    };
    copy_in(&kernel.linux, format!("vmlinuz-{kver}"))?;
    let initramfs = format!("initramfs-{kver}.img");
    match host {
        Some(host) => boot::host_initramfs(runner, host, bootdir, layer, kver)?,
        None => copy_in(&kernel.initrd, initramfs)?,
    }
    // FIPS mode checks the kernel against the HMAC file beside it (EL's kernel-core ships one
    // in /boot and beside the modules).
    let hmac = [
        format!("boot/.vmlinuz-{kver}.hmac"),
        format!("usr/lib/modules/{kver}/.vmlinuz.hmac"),
    ]
    .into_iter()
    .find(|p| rootfs::resolve(root, p).is_ok_and(|p| p.is_file()));
    if let Some(hmac) = hmac {
        copy_in(&hmac, format!(".vmlinuz-{kver}.hmac"))?;
    }
    let image_args = entry_args(root, kernel_args)?;
    let spec = EntrySpec {
        vg: vg.into(),
        layer: layer.into(),
        nvr: nvr.into(),
        kver: kver.clone(),
        boot_uuid: facts.uuid.clone(),
        image_args: image_args.join(" "),
    };
    let entry = names::bls_entry_path(layer, kver);
    atomic::write(&bootdir.join(&entry), boot::render_entry(&spec).as_bytes())?;
    // The commit point of the whole install: the new layer becomes the default.
    let existing = std::fs::read_to_string(bootdir.join(names::GRUBENV)).ok();
    let env = boot::set_grubenv(
        existing.as_deref(),
        "saved_entry",
        Some(&names::bls_entry_id(layer, kver)),
    )?;
    boot::write_grubenv(bootdir, &env)?;
    Ok(entry)
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
    if !full || crate::error::kind_of(&err) == crate::Kind::Cancelled {
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

fn probe_fs(runner: &dyn Runner, dev: &Path) -> Result<FsType> {
    let (t, _) = blockdev::fs_type_and_uuid(runner, dev)?;
    FsType::from_probe(t.as_deref(), &dev.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_line_is_versioned_json() {
        let e = Event {
            step: "base.copy",
            index: 4,
            total: 7,
            done: 10,
            size: 20,
            message: "copying".into(),
        };
        assert_eq!(
            e.to_json_line(),
            "{\"v\":1,\"step\":\"base.copy\",\"index\":4,\"total\":7,\"done\":10,\"size\":20,\"message\":\"copying\"}\n"
        );
    }
}

#[cfg(test)]
mod journal_tests {
    use super::*;
    use crate::blockdev::Device;
    use crate::names::VolumeSet;
    use crate::plan::{Action, Facts};
    use crate::runner::{Output, Recorder};

    /// A layout plan on one fresh 20 GiB disk with /var only.
    fn layout_plan() -> Plan {
        let disk = Device {
            given: "/dev/vdb".into(),
            path: "/dev/vdb".into(),
            size: Bytes::gib(20),
            signature: None,
            partition_table: None,
            mounts: vec![],
            holders: vec![],
            busy: false,
            logical_sector: 512,
        };
        let req = Request {
            pvs: vec!["/dev/vdb".into()],
            volumes: VolumeSet::Minimal,
            ..Request::new(Action::Layout)
        };
        plan::plan(
            &req,
            &Facts {
                devices: vec![disk],
                ..Default::default()
            },
        )
        .unwrap()
    }

    /// Run a plan against a recorder that fails the commands `fail` matches.
    fn run(fail: &'static [&'static str]) -> (Result<Outcome>, Vec<String>) {
        let profiles = tempfile::tempdir().unwrap();
        let dir = profiles.path().to_string_lossy().into_owned();
        let rec = Recorder::new(move |cmd: &Cmd| {
            let line = cmd.argv().join(" ");
            if fail.iter().any(|f| line.starts_with(f)) {
                return Err(anyhow::anyhow!("simulated failure of {line}"));
            }
            let stdout = if line.contains("config/profile_dir") {
                format!("profile_dir=\"{dir}\"\n")
            } else {
                String::new()
            };
            Ok(Output {
                stdout: stdout.into_bytes(),
                stderr: Vec::new(),
            })
        });
        let prepared = Prepared {
            runner: &rec,
            image: None,
            plan: layout_plan(),
        };
        let result = prepared.apply(&mut |_| Ok(()), &CancelToken::new());
        let calls = rec.calls().iter().map(|c| c.join(" ")).collect();
        (result, calls)
    }

    #[test]
    fn layout_argv_golden() {
        let (result, calls) = run(&[]);
        assert_eq!(result.unwrap().created, ["onn", "onn/pool00", "onn/var"]);
        assert_eq!(
            calls,
            [
                "lvm vgcreate --addtag imgbased:vg --addtag onn:unfinished onn /dev/vdb",
                "lvm lvmconfig --type full config/profile_dir",
                // (20 GiB - 1 MiB label, in 4 MiB extents = 20476 MiB - 2 x 1 GiB metadata)
                // x 80 % = 14740 MiB.
                "lvm lvcreate --type thin-pool --size 15456010240b --poolmetadatasize 1073741824b \
                 --chunksize 65536b --metadataprofile imgbased-pool --addtag imgbased:pool --name pool00 onn",
                "lvm lvcreate --type thin --virtualsize 8589934592b --thinpool pool00 --name var \
                 --addtag imgbased:volume onn",
                "mkfs.ext4 -q -F /dev/onn/var",
                "lvm vgchange --deltag onn:unfinished onn",
            ]
        );
    }

    #[test]
    fn failure_undoes_in_reverse_and_reports_the_first_error() {
        let (result, calls) = run(&["mkfs.ext4"]);
        let err = result.unwrap_err();
        assert_eq!(crate::error::kind_of(&err), crate::Kind::Command);
        assert!(
            format!("{err:#}").contains("simulated failure of mkfs.ext4"),
            "{err:#}"
        );
        assert_eq!(
            calls[5..],
            [
                "lvm lvremove --yes onn/var",
                "lvm lvremove --yes onn/pool00",
                "lvm vgremove --yes onn",
                "lvm pvremove --yes /dev/vdb",
            ]
        );
    }

    #[test]
    fn a_failing_undo_is_reported_with_the_first_error() {
        let (result, calls) = run(&["mkfs.ext4", "lvm lvremove --yes onn/pool00"]);
        let err = result.unwrap_err();
        assert_eq!(crate::error::kind_of(&err), crate::Kind::Rollback);
        let msg = format!("{err:#}");
        assert!(msg.contains("simulated failure of mkfs.ext4"), "{msg}");
        assert!(
            msg.contains("undoing it also failed: removing onn/pool00"),
            "{msg}"
        );
        // The undo goes on past the failure: the VG removal is still tried.
        assert!(
            calls.iter().any(|c| c == "lvm vgremove --yes onn"),
            "{calls:?}"
        );
    }
}
