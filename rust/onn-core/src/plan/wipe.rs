//! Reinstall on purpose (`onn install --wipe`): an imgbased Node found on the named disks is
//! removed first, as steps of the plan, and only when every part of it is imgbased's and lies
//! on those disks. The rest of the plan is the install onto the disks as the removal leaves
//! them.

use anyhow::Result;

use crate::ground::error::precondition;
use crate::image::nvr::ImageName;
use crate::names;
use crate::storage::lvm::{Lv, LvmState, Vg};

use super::{Action, Facts, Request, Step};

/// Is `holder` (`/dev/mapper/<name> (dm-N)`, as a device's facts name it) a device of VG `vg`?
fn held_by(holder: &str, vg: &str) -> bool {
    holder
        .strip_prefix("/dev/mapper/")
        .and_then(|rest| rest.split(' ').next())
        .and_then(names::split_dm_name)
        .is_some_and(|(v, _)| v == vg)
}

/// What `inspect` read of a Node that `--wipe` may remove, beyond LVM's own report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeFacts {
    /// `vg/lv` and the path in it of each `__DIRECT_IO_TEST__` found: an oVirt local storage
    /// domain lives there (its filesystems were read, read-only).
    pub storage_domains: Vec<String>,
    /// `vg/lv` and where it is mounted (or what else holds it): a Node that is in use.
    pub in_use: Vec<String>,
}

/// The file vdsm keeps at the top of every file storage domain; oVirt's own image update
/// refuses to proceed while one is on the host's volumes.
pub const STORAGE_DOMAIN_MARK: &str = "__DIRECT_IO_TEST__";

/// The imgbased VGs that have a PV among the disks given: what `--wipe` would remove.
pub fn nodes_on<'a>(lvm: &'a LvmState, disks: &[String]) -> Vec<&'a Vg> {
    lvm.imgbased_vgs()
        .into_iter()
        .filter(|vg| {
            lvm.pvs_of(&vg.name)
                .iter()
                .any(|pv| disks.iter().any(|d| d == pv))
        })
        .collect()
}

/// Is this LV imgbased's (or what an interrupted onn left of one, as `onn recover` judges it):
/// its pool, a base, a layer, a data volume, or an untagged base or layer in its pool.
fn imgbased_lv(lvm: &LvmState, lv: &Lv) -> bool {
    let tagged = [
        names::TAG_POOL,
        names::TAG_BASE,
        names::TAG_LAYER,
        names::TAG_VOLUME,
    ]
    .iter()
    .any(|t| lv.has_tag(t));
    let pool = lvm
        .lvs_of(&lv.vg)
        .find(|l| l.has_tag(names::TAG_POOL))
        .map(|p| p.name.as_str());
    let unfinished = lv.tags.is_empty()
        && ImageName::parse(&lv.name).is_some()
        && pool.is_some()
        && lv.pool() == pool;
    tagged || unfinished
}

/// The removal steps of the Nodes on `disks`, or the refusal that keeps them; and the facts
/// as the removal leaves them (the VGs gone, their disks free), from which the install is
/// planned.
pub(super) fn plan_wipe(req: &Request, facts: &Facts) -> Result<(Vec<Step>, Facts)> {
    if req.action != Action::Install || req.adopt {
        return Err(precondition(
            "request.conflict",
            "--wipe removes a Node from the disks an install is given: use it with onn install --pv, without --adopt",
        ));
    }
    let disks = super::layout::given_disks(req, facts)?;
    let disks = &disks;
    let mut steps = Vec::new();
    let mut after = facts.clone();
    for vg in nodes_on(&facts.lvm, disks) {
        let name = &vg.name;
        let pvs: Vec<String> = facts
            .lvm
            .pvs_of(name)
            .into_iter()
            .map(str::to_string)
            .collect();
        if let Some(other) = pvs.iter().find(|pv| !disks.contains(pv)) {
            return Err(precondition(
                "wipe.other-disk",
                format!(
                    "the Node's volume group {name} extends onto {other}, which is not named; onn removes a Node only from the disks it is given: name every disk of {name} with --pv ({}), or remove it by hand",
                    pvs.join(", ")
                ),
            ));
        }
        let lvs: Vec<&Lv> = facts.lvm.lvs_of(name).collect();
        if let Some(foreign) = lvs.iter().find(|lv| !imgbased_lv(&facts.lvm, lv)) {
            return Err(precondition(
                "wipe.foreign-lv",
                format!(
                    "volume group {name} holds {name}/{}, which is not imgbased's (no imgbased tag): it may hold data that is not the Node's; move it elsewhere and remove it (lvremove), then run onn again",
                    foreign.name
                ),
            ));
        }
        let mine = |s: &String| s.starts_with(&format!("{name}/"));
        if let Some(found) = facts.node.storage_domains.iter().find(|s| mine(s)) {
            return Err(precondition(
                "wipe.storage-domain",
                format!(
                    "an oVirt local storage domain is on the Node's volumes ({STORAGE_DOMAIN_MARK} in {found}): its virtual machines' disks would be lost; move the domain to other storage in oVirt (or remove it there), then run onn again"
                ),
            ));
        }
        if let Some(used) = facts.node.in_use.iter().find(|s| mine(s)) {
            return Err(precondition(
                "pv.in-use",
                format!(
                    "the Node in volume group {name} is in use ({used}); a running Node cannot be removed: stop using it, or install from an installer"
                ),
            ));
        }
        let layers: Vec<String> = lvs
            .iter()
            .filter(|lv| matches!(ImageName::parse(&lv.name), Some(ImageName::Layer(..))))
            .map(|lv| lv.name.clone())
            .collect();
        if !layers.is_empty() {
            steps.push(Step::RemoveBootFiles {
                vg: name.clone(),
                layers,
            });
        }
        steps.push(Step::RemoveNode {
            vg: name.clone(),
            pvs: pvs.clone(),
            lvs: lvs.iter().map(|lv| lv.name.clone()).collect(),
        });
        // The disks as the removal leaves them: LVM labels removed, nothing built on them.
        after.lvm.vgs.retain(|v| &v.name != name);
        after.lvm.lvs.retain(|l| &l.vg != name);
        after.lvm.pvs.retain(|p| p.vg.as_ref() != Some(name));
        for d in after.devices.iter_mut().filter(|d| pvs.contains(&d.path)) {
            let before = d.holders.len();
            d.holders.retain(|h| !held_by(h, name));
            // The kernel's refusal of an exclusive open is explained by the VG's own devices
            // when they were all that held the disk.
            if d.holders.len() < before && d.holders.is_empty() {
                d.busy = false;
            }
            if d.signature.as_deref() == Some("LVM2_member") {
                d.signature = None;
            }
        }
    }
    Ok((steps, after))
}
