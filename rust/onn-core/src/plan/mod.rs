//! Inspect → **plan** → apply. `plan()` is pure: from a request and the facts read by
//! `inspect`, it decides every step or refuses with a precondition error, before anything is
//! written. The plan is serde data with a schema version (`onn … --dry-run --json`).
//!
//! By concern: [`request`] is what the plan is given, [`steps`] what it decides, [`pool`] the
//! thin pool's size rule (every number and formula of it), `layout` the VG and pool (with
//! `alloc`, lvm2's placement of the pool on the disks), `volumes` the data volumes, `images`
//! the base and the layer, `installer` the facts of storage an installer has yet to create; this module
//! checks the request and orders the phases.

use anyhow::{Context, Result};

use crate::boot::efi::EfiFacts;
use crate::boot::BootFacts;
use crate::ground::error::{not_found, precondition};
use crate::ground::units::{Bytes, MIB};
use crate::image::ImageFacts;
use crate::names;
use crate::storage::fs::FsType;

mod alloc;
mod images;
mod installer;
mod layout;
pub mod pool;
mod request;
mod steps;
#[cfg(test)]
pub(crate) mod tests;
mod volumes;
mod wipe;

pub use images::{bases, layers_of};
pub use installer::{InstallerBoot, InstallerStorage, InstallerVg, InstallerVolume};
pub use request::{Action, Facts, PlannedVolume, Request};
pub use steps::{progress_ids, LayoutMode, Plan, Step};
pub use volumes::{existing_volumes, needs_skip_volumes, Volume, VolumeSet};
pub use wipe::{nodes_on, NodeFacts, STORAGE_DOMAIN_MARK};

pub const SCHEMA: u32 = 4;
/// The volume group onn creates unless told otherwise.
pub const DEFAULT_VG: &str = "onn";
/// The thin pool onn creates unless told otherwise (the name imgbased's own layout uses).
pub const DEFAULT_POOL: &str = "pool00";
/// LVM's default extent size; sizes are rounded to it.
const EXTENT: Bytes = Bytes(4 * MIB);
/// Where each install and layer add leaves its report, in the host's view of the layer (a
/// directory of its own: /var/log may be a data volume, shared by all layers).
pub const REPORT_DIR: &str = "/var/log/onn";

/// Decide the plan, or refuse with a clear precondition error.
pub fn plan(req: &Request, facts: &Facts) -> Result<Plan> {
    let resolved;
    let req = match &facts.root_lv {
        Some(root) => {
            resolved = layout::adopt_root(req, root)?;
            &resolved
        }
        None => req,
    };
    check_request(req)?;
    // --wipe: the Node on the disks is removed first; the install is planned onto the disks
    // as that leaves them.
    let wiped;
    let (removal, facts) = if req.wipe {
        let (steps, after) = wipe::plan_wipe(req, facts)?;
        wiped = after;
        (steps, &wiped)
    } else {
        (Vec::new(), facts)
    };
    let image = match (&facts.image, req.needs_image()) {
        (Some(i), true) => Some(i),
        (None, true) => {
            return Err(precondition(
                "image.required",
                "this action needs an image: give --image",
            ))
        }
        _ => None,
    };
    let boot = if req.needs_boot() {
        Some(check_boot(facts)?)
    } else {
        None
    };
    let efi = check_efi(req, facts, image)?;
    if let Some(i) = image {
        check_image(req, i)?;
    }
    let fs = root_fs(req, image)?;

    let mut p = Plan {
        schema: SCHEMA,
        request: req.clone(),
        vg: String::new(),
        pool: req.pool.clone(),
        pvs: Vec::new(),
        layout: LayoutMode::Present,
        pool_size: Bytes(0),
        pool_metadata: Bytes(0),
        pool_free_after: Bytes(0),
        fs,
        volumes: Vec::new(),
        image: image.cloned(),
        base: None,
        base_size: None,
        layer: None,
        kernel: image
            .and_then(|i| i.kernels.first())
            .map(|k| k.version.clone()),
        boot,
        efi,
        present: Vec::new(),
        steps: Vec::new(),
    };
    let pool_used = if req.creates_layout() {
        layout::plan_layout(req, facts, &mut p)?
    } else {
        layout::find_layout(req, facts, &mut p)?
    };

    // What the new data volumes' filesystems take of the pool before any file.
    let volumes_cost: Bytes = p
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::CreateVolume { size, fs, .. } => Some(crate::storage::fs::mkfs_cost(*fs, *size)),
            _ => None,
        })
        .sum();
    let mut pool_used = pool_used + volumes_cost;
    if image.is_none() && pool_used > pool::threshold(p.pool_size) {
        return Err(images::pool_too_small(&p, pool_used, volumes_cost, None));
    }
    if let Some(i) = image {
        pool_used = pool_used + images::plan_base(req, facts, &mut p, i, pool_used, volumes_cost)?;
    }
    p.pool_free_after = p.pool_size.saturating_sub(pool_used);
    if matches!(req.action, Action::Install | Action::AddLayer) {
        images::plan_layer(req, facts, &mut p, image.map(|i| &i.nvr))?;
    }
    check_dm_names(&p)?;
    mark_unfinished(req, facts, &mut p);
    plan_report(req, &mut p);
    p.steps.splice(0..0, removal);
    Ok(p)
}

/// The install report, written last into the new layer: in `/var/log/onn`, on the data volume
/// that holds it where there is one, with the volumes above it mounted first (the layer's own
/// data volumes, as its configuration step has them).
fn plan_report(req: &Request, p: &mut Plan) {
    let Some(layer) = p.layer.clone().filter(|_| req.report) else {
        return;
    };
    let on_the_way = |mount: &str| {
        let mount = mount.trim_end_matches('/');
        REPORT_DIR == mount || REPORT_DIR.starts_with(&format!("{mount}/"))
    };
    let mut volumes: Vec<PlannedVolume> = p
        .steps
        .iter()
        .find_map(|s| match s {
            Step::ConfigureLayer { volumes, .. } => Some(volumes.clone()),
            _ => None,
        })
        .unwrap_or_default()
        .into_iter()
        .filter(|v| on_the_way(&v.mount))
        .collect();
    volumes.sort_by_key(|v| v.mount.len());
    p.steps.push(Step::WriteReport {
        vg: p.vg.clone(),
        layer,
        volumes,
    });
}

/// The request's own consistency: options that exclude each other, kernel arguments, names
/// and sizes.
fn check_request(req: &Request) -> Result<()> {
    // --adopt takes the VG and pool as they are; disks or a pool size would be silently unused.
    if req.adopt && (!req.pvs.is_empty() || req.pool_size.is_some()) {
        return Err(precondition(
            "request.conflict",
            "--adopt uses the existing volume group and thin pool as they are: leave out --pv and --pool-size, or leave out --adopt to create them",
        ));
    }
    for a in &req.kernel_args {
        if a.is_empty() || a.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(precondition(
                "kernel-arg.invalid",
                format!(
                    "kernel argument {a:?} must be one word; give each with its own --kernel-arg"
                ),
            ));
        }
        // The arguments also go into the layer's /etc/default/grub, which grub2-mkconfig
        // reads as shell, between double quotes.
        if a.chars().any(|c| matches!(c, '"' | '$' | '`' | '\\')) {
            return Err(precondition(
                "kernel-arg.invalid",
                format!(
                    "kernel argument {a:?} holds a character that /etc/default/grub cannot carry (\", $, ` or \\): leave it out"
                ),
            ));
        }
    }
    if let Some(name) = &req.vg {
        names::validate_vg_name(name)?;
    }
    names::validate_lv_name(&req.pool)?;
    if let Some(m) = req.pool_metadata.filter(|m| *m < pool::METADATA_MIN) {
        return Err(precondition(
            "pool-metadata.too-small",
            format!(
                "pool metadata of {m} is below imgbased's minimum of {}; give at least that",
                pool::METADATA_MIN
            ),
        ));
    }
    Ok(())
}

/// The /boot an action that writes a boot entry needs: a partition outside LVM, large enough
/// for a kernel per layer.
fn check_boot(facts: &Facts) -> Result<BootFacts> {
    let b = facts.boot.as_ref().ok_or_else(|| {
        precondition(
            "boot.required",
            "give the /boot partition or its mount point with --boot",
        )
    })?;
    if let Some(lv) = facts.lvm.lvs.iter().find(|l| {
        b.device == crate::storage::lvm::lv_path(&l.vg, &l.name)
            || b.device == format!("/dev/mapper/{}", names::dm_name(&l.vg, &l.name))
    }) {
        return Err(precondition(
            "boot.on-lvm",
            format!(
                "/boot ({}) is the logical volume {}/{}; the bootloader reads the layers' kernels from a partition of its own: make /boot a partition outside LVM (kickstart: part /boot --size=1024)",
                b.device, lv.vg, lv.name
            ),
        ));
    }
    if b.size < crate::boot::BOOT_MIN {
        return Err(precondition(
            "boot.too-small",
            format!(
                "/boot ({}) is {}; imgbased needs at least {} for a kernel per layer: use a larger /boot partition",
                b.device,
                b.size,
                crate::boot::BOOT_MIN
            ),
        ));
    }
    Ok(b.clone())
}

/// The ESP `--efi` names, checked against the image's EFI boot files.
fn check_efi(req: &Request, facts: &Facts, image: Option<&ImageFacts>) -> Result<Option<EfiFacts>> {
    Ok(match (&req.efi, &facts.efi) {
        (None, _) => None,
        (Some(_), _) if req.action != Action::Install => {
            return Err(precondition(
                "request.conflict",
                "the EFI boot files are installed with the image: give --efi to onn install",
            ))
        }
        (Some(given), None) => {
            return Err(not_found(
                "device.missing",
                format!("EFI system partition {given} was not inspected; plan with its facts"),
            ))
        }
        (Some(_), Some(e)) => {
            let i = image.context("an install has an image")?;
            crate::boot::efi::check(e, &i.efi_files, &i.path)?;
            Some(e.clone())
        }
    })
}

/// What makes an image unfit for the request: warnings under `--strict`, no kernel to boot.
fn check_image(req: &Request, i: &ImageFacts) -> Result<()> {
    crate::image::updatable::refuse_if_strict(&i.warnings, req.strict)?;
    if i.kernels.is_empty() && req.action == Action::Install {
        return Err(precondition(
            "image.no-kernel",
            format!(
                "image {} contains no kernel with an initramfs, so it cannot boot; use a Node image with its kernel and initramfs in /boot",
                i.path
            ),
        ));
    }
    Ok(())
}

/// The root filesystem type: the image's, else the one asked for, else ext4.
fn root_fs(req: &Request, image: Option<&ImageFacts>) -> Result<Option<FsType>> {
    Ok(match (image.and_then(|i| i.fs), req.fs) {
        (Some(img), Some(asked)) if img != asked => {
            return Err(precondition(
                "fs.mismatch",
                format!(
                    "the image's root filesystem is {}, not {}; leave out --fs",
                    img.name(),
                    asked.name()
                ),
            ))
        }
        (Some(img), _) => Some(img),
        (None, asked) => asked.or(if req.creates_layout() || image.is_some() {
            Some(FsType::Ext4)
        } else {
            None
        }),
    })
}

/// Every LV the plan creates has a device-mapper name within the kernel's limit.
fn check_dm_names(p: &Plan) -> Result<()> {
    for step in &p.steps {
        let (vg, lv, extra) = match step {
            Step::CreatePool { vg, pool, .. } => (vg, pool, names::POOL_DM_SUFFIX),
            Step::CreateVolume { vg, lv, .. } | Step::WriteBase { vg, lv, .. } => (vg, lv, 0),
            Step::CreateLayer { vg, layer, .. } => (vg, layer, 0),
            _ => continue,
        };
        names::validate_dm_name(vg, lv, extra)?;
    }
    Ok(())
}

/// A VG this run creates, or one an interrupted run created, is marked unfinished until its
/// volumes, base and layer are complete; the boot entry stays last, the commit point of an
/// install (a rerun writes it again).
fn mark_unfinished(req: &Request, facts: &Facts, p: &mut Plan) {
    if req.creates_layout()
        && !req.adopt
        && facts
            .lvm
            .vg(&p.vg)
            .is_none_or(|v| v.has_tag(names::TAG_UNFINISHED))
    {
        let at = p
            .steps
            .iter()
            .position(|s| matches!(s, Step::InstallBoot { .. }))
            .unwrap_or(p.steps.len());
        p.steps.insert(at, Step::Finish { vg: p.vg.clone() });
    }
}
