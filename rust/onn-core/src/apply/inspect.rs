//! Reading the system into [`Facts`], and planning from them.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::Prepared;
use crate::blockdev;
use crate::boot;
use crate::error::precondition;
use crate::image::OpenImage;
use crate::lvm::{self, LvmState};
use crate::names;
use crate::plan::{self, Facts, Plan, PlannedVolume, Request};
use crate::runner::Runner;

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
