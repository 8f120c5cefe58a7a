//! The new layer's own files (fstab, grub defaults, LVM profile), its EFI files and its boot
//! entry, each with the label the layer's SELinux policy gives it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::exec::probe_fs;
use super::install_report::{self, InstallReport};
use super::Exec;
use crate::boot::bls::{self, EntrySpec};
use crate::boot::{self, BootDir, FstabVolume};
use crate::ground::atomic;
use crate::ground::error::precondition;
use crate::ground::rootfs;
use crate::ground::runner::Runner;
use crate::image::updatable::Warning;
use crate::image::{self, nvr::ImageName};
use crate::names;
use crate::plan::{self, pool, PlannedVolume};
use crate::storage::fs as fsops;
use crate::storage::guard::Mount;
use crate::storage::labels::{self, Policy};
use crate::storage::lvm;

impl Exec<'_, '_> {
    pub(super) fn configure_layer(
        &mut self,
        vg: &str,
        layer: &str,
        volumes: &[PlannedVolume],
        kernel_args: &[String],
    ) -> Result<()> {
        let (root, fs) = mount_lv(self.runner, vg, layer, true)?;
        let skip_volumes = plan::needs_skip_volumes(volumes.iter().map(|v| v.mount.as_str()));
        // What this step writes in the layer, to be labelled.
        let mut written = vec![
            "/etc/fstab".to_string(),
            format!("/{}", names::DEFAULT_GRUB),
            format!("/{}", names::HOST_PROFILE_DIR),
        ];
        written.extend(fsops::make_mount_points(
            root.path(),
            "/",
            volumes.iter().map(|v| v.mount.as_str()),
        )?);
        // Data volumes made by this run start empty: give them the image's content.
        let mut fstab_volumes = Vec::new();
        for v in volumes {
            let (m, vfs) = mount_lv(self.runner, vg, &v.lv, true)?;
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
            written.push(format!("/var/{}", names::VAR_STATE_DIR));
        }
        let mut args = image_and_install_args(root.path(), kernel_args)?;
        let ours = bls::rd_lvm_lv(vg, layer);
        args.push(ours.clone());
        // A layer made from another has that one's root in its copy of the file: replaced, as
        // imgbased replaces it at an update (else the next entry would wait for a layer LV that
        // imgbased may have removed).
        let of_vg = bls::rd_lvm_lv(vg, "");
        let earlier_root = |w: &str| {
            w != ours
                && w.strip_prefix(&of_vg)
                    .is_some_and(|lv| matches!(ImageName::parse(lv), Some(ImageName::Layer(..))))
        };
        let grub = rootfs::resolve(root.path(), names::DEFAULT_GRUB)?;
        let existing = std::fs::read_to_string(&grub).unwrap_or_default();
        atomic::write(
            &grub,
            boot::render_default_grub(&existing, &args, &earlier_root).as_bytes(),
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
        atomic::write(&profile, pool::profile_text().as_bytes())
            .context("writing the layer's LVM profile")?;
        if let Some(policy) = labels::policy_of(root.path(), layer)? {
            self.label_layer(&policy, root.path(), vg, volumes, &written)?;
            self.outcome.selinux = Some(policy.name);
        }
        root.close()
    }

    /// Label what configure_layer wrote by the layer's policy: its files in the layer, then
    /// each data volume, whole, mounted where its host mounts it, parents first, so that the
    /// mount points in a volume are labelled before another volume covers them (the host's
    /// systemd mounts on them). The volumes are shared by all layers: the newest layer's
    /// policy labels them, as imgbased's update relabels /var.
    fn label_layer(
        &self,
        policy: &Policy,
        root: &Path,
        vg: &str,
        volumes: &[PlannedVolume],
        written: &[String],
    ) -> Result<()> {
        policy.relabel(self.runner, root, written)?;
        let mut in_order: Vec<&PlannedVolume> = volumes.iter().collect();
        in_order.sort_by(|a, b| a.mount.cmp(&b.mount));
        let mut mounted = Vec::new();
        let labelled = || -> Result<()> {
            for v in in_order {
                mounted.push(self.mount_volume(vg, v, root)?);
                policy.relabel(self.runner, root, std::slice::from_ref(&v.mount))?;
            }
            Ok(())
        };
        let result = labelled();
        // Children before their parents.
        while let Some(m) = mounted.pop() {
            m.close()?;
        }
        result
    }

    pub(super) fn install_efi(&mut self, vg: &str, layer: &str) -> Result<()> {
        let facts = self
            .plan
            .efi
            .as_ref()
            .context("EFI files need the ESP's facts")?;
        let (root, _) = mount_lv(self.runner, vg, layer, false)?;
        let written = crate::boot::efi::install(self.runner, facts, root.path());
        root.close()?;
        self.outcome.efi_files = written?;
        Ok(())
    }

    pub(super) fn install_boot(
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
        let (root, _) = mount_lv(self.runner, vg, layer, false)?;
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
        let policy = labels::Policy::of(root.path())?.ok();
        let written = write_boot_files(
            self.runner,
            root.path(),
            bootdir.path(),
            host,
            policy.as_ref(),
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
            Ok((entry, options)) => {
                self.outcome.boot_entry = Some(entry);
                self.outcome.kernel = Some(kernel.version.clone());
                self.outcome.boot_options = Some(options);
                Ok(())
            }
            Err(e) => {
                // Boot files live on a filesystem this step mounts: undo them here.
                let _ = std::fs::remove_dir_all(bootdir.path().join(layer));
                let _ = std::fs::remove_file(
                    bootdir.path().join(bls::entry_path(layer, &kernel.version)),
                );
                Err(e)
            }
        };
        bootdir.close()?;
        root.close()?;
        result
    }
}

impl Exec<'_, '_> {
    /// The install report into the layer's /var/log/onn, labelled by the layer's policy, and
    /// kept in the outcome. Past the commit point: a failure is the run's warning, not its
    /// undoing (the install boots; its report is what is missing).
    pub(super) fn write_report(&mut self, vg: &str, layer: &str, volumes: &[PlannedVolume]) {
        let name = install_report::file_name(self.started, layer);
        let run = install_report::Run {
            plan: self.plan,
            outcome: &self.outcome,
            started: self.started,
            downloaded_sha256: self
                .plan
                .request
                .known
                .digest
                .as_ref()
                .map(|d| d.sha256().to_string()),
        };
        let report = InstallReport::of(&run, install_report::host_path(&name));
        match self.write_report_file(vg, layer, volumes, &name, &report) {
            Ok(()) => self.outcome.report = Some(report),
            Err(e) => {
                tracing::warn!("{e:#}");
                let warning = Warning {
                    id: "report.unwritten".into(),
                    message: format!("the install report was not written into {vg}/{layer}: {e:#}"),
                };
                self.outcome.warnings.push(warning.clone());
                let mut report = report;
                report.warnings.push(warning);
                self.outcome.report = Some(report);
            }
        }
    }

    /// Data volume `v` mounted writable where its host mounts it in the layer at `root`.
    fn mount_volume(&self, vg: &str, v: &PlannedVolume, root: &Path) -> Result<Mount<'_>> {
        let dev = PathBuf::from(lvm::lv_path(vg, &v.lv));
        let fs = probe_fs(self.runner, &dev)?;
        let at = rootfs::resolve(root, &v.mount)?;
        Mount::inside(self.runner, &dev, Some(fs.name()), fs.rw_options(), &at)
    }

    fn write_report_file(
        &self,
        vg: &str,
        layer: &str,
        volumes: &[PlannedVolume],
        name: &str,
        report: &InstallReport,
    ) -> Result<()> {
        let text = serde_json::to_string_pretty(report)? + "\n";
        let (root, _) = mount_lv(self.runner, vg, layer, true)?;
        let mut mounted = Vec::new();
        let written = (|| -> Result<()> {
            // The volumes on the way to /var/log/onn where the host mounts them, parents first.
            for v in volumes {
                mounted.push(self.mount_volume(vg, v, root.path())?);
            }
            let dir = rootfs::resolve(root.path(), plan::REPORT_DIR)?;
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("creating {}", plan::REPORT_DIR))?;
            let path = dir.join(name);
            atomic::write(&path, text.as_bytes())
                .with_context(|| format!("writing the install report {}", path.display()))?;
            if let Some(policy) = labels::policy_of(root.path(), layer)? {
                policy.relabel(self.runner, root.path(), &[plan::REPORT_DIR.to_string()])?;
            }
            Ok(())
        })();
        while let Some(m) = mounted.pop() {
            m.close()?;
        }
        root.close()?;
        written
    }
}

/// Mount LV `vg/lv` on a temporary mount point with the filesystem it holds (probed, not
/// assumed: a layer has its base's), writable or read-only; and that filesystem's type.
fn mount_lv<'r>(
    runner: &'r dyn Runner,
    vg: &str,
    lv: &str,
    writable: bool,
) -> Result<(Mount<'r>, fsops::FsType)> {
    let dev = PathBuf::from(lvm::lv_path(vg, lv));
    let fs = probe_fs(runner, &dev)?;
    let options = if writable {
        fs.rw_options()
    } else {
        fs.read_only_options()
    };
    Ok((Mount::temp(runner, &dev, Some(fs.name()), options)?, fs))
}

/// The arguments of a layer's boot entry before onn's own: the image's, then the install's.
fn image_and_install_args(root: &Path, kernel_args: &[String]) -> Result<Vec<String>> {
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

#[allow(clippy::too_many_arguments)]
fn write_boot_files(
    runner: &dyn Runner,
    root: &Path,
    bootdir: &Path,
    host: Option<&Path>,
    policy: Option<&Policy>,
    to: EntryFor<'_>,
    kernel: &boot::Kernel,
    facts: &boot::BootFacts,
) -> Result<(String, String)> {
    let EntryFor {
        vg,
        layer,
        nvr,
        kernel_args,
    } = to;
    let kver = &kernel.version;
    // `to`: relative to the /boot filesystem.
    let copy_in = |from: &str, to: String| -> Result<()> {
        atomic::copy(&rootfs::resolve(root, from)?, &bootdir.join(to))
    };
    copy_in(&kernel.linux, bls::linux_path(layer, kver))?;
    match host {
        Some(host) => boot::host_initramfs(runner, host, bootdir, layer, kver)?,
        None => copy_in(&kernel.initrd, bls::initrd_path(layer, kver))?,
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
        copy_in(&hmac, format!("{layer}/.vmlinuz-{kver}.hmac"))?;
    }
    let image_args = image_and_install_args(root, kernel_args)?;
    let spec = EntrySpec {
        vg: vg.into(),
        layer: layer.into(),
        nvr: nvr.into(),
        kver: kver.clone(),
        boot_uuid: facts.uuid.clone(),
        image_args: image_args.join(" "),
    };
    let entry = bls::entry_path(layer, kver);
    atomic::write(&bootdir.join(&entry), bls::render_entry(&spec).as_bytes())?;
    let options = bls::kernel_options(&spec);
    let existing = std::fs::read_to_string(bootdir.join(names::GRUBENV)).ok();
    if let Some(policy) = policy {
        if existing.is_none() {
            // Made now, to be labelled with the rest before the commit point; its rewrite
            // keeps the label.
            boot::write_grubenv(bootdir, &boot::set_grubenv(None, "saved_entry", None)?)?;
        }
        // /boot where the layer's host mounts it: the policy labels it all (a few files).
        let at = rootfs::resolve(root, "boot")?;
        let bound = Mount::inside(runner, bootdir, None, "rw", &at)?;
        let labelled = policy.relabel(runner, root, &["/boot".to_string()]);
        bound.close()?;
        labelled?;
    }
    // The commit point of the whole install: the new layer becomes the default; on the disk
    // where GRUB reads it when onn returns.
    let env = boot::set_grubenv(
        existing.as_deref(),
        "saved_entry",
        Some(&bls::entry_id(layer, kver)),
    )?;
    boot::write_grubenv(bootdir, &env)?;
    boot::checkpoint(bootdir)?;
    Ok((entry, options))
}
