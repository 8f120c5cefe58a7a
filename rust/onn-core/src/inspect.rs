//! Inspect → plan → apply: **inspect** reads the system (the image, LVM, the disks, /boot and
//! the ESP) into the [`Facts`] that `plan` decides from; it writes nothing.

use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::boot;
use crate::ground::error::precondition;
use crate::ground::runner::Runner;
use crate::image::OpenImage;
use crate::names;
use crate::plan::{self, Facts, PlannedVolume, Request};
use crate::storage::blockdev;
use crate::storage::lvm::{self, LvmState};

/// Read everything the plan needs. The image's checksum is verified here, first of all.
pub fn inspect<'r>(
    runner: &'r dyn Runner,
    req: &Request,
) -> Result<(Facts, Option<OpenImage<'r>>)> {
    let image = match (&req.image, req.needs_image()) {
        (Some(path), true) => Some(OpenImage::open_known(
            runner,
            Path::new(path),
            req.sha256.as_deref(),
            &req.known,
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
        .filter(|l| l.has_tag(names::TAG_VOLUME) && l.active)
    {
        let dev = PathBuf::from(lvm::lv_path(&lv.vg, &lv.name));
        if blockdev::fs_type_and_uuid(runner, &dev)?.0.is_none() {
            facts.blank_volumes.push(format!("{}/{}", lv.vg, lv.name));
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
        facts.root_volumes = blockdev::lvs_mounted_below(&facts.lvm, Path::new(root), &root_lv.vg)?
            .into_iter()
            .map(|(lv, mount)| PlannedVolume {
                size: lv.size,
                lv: lv.name,
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
        facts.efi = Some(crate::boot::efi::inspect(runner, e)?);
    }
    Ok((facts, image))
}
