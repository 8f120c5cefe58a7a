//! The VG, the thin pool and the data volumes: created on the given disks, adopted from the
//! installer, or found from an earlier run.

use anyhow::Result;

use crate::ground::error::{not_found, precondition};
use crate::ground::units::Bytes;
use crate::names;
use crate::storage::blockdev::Device;
use crate::storage::lvm::{self, Lv, LvmState, Pv, Vg};

use super::volumes::{plan_volumes, VAR_MIN};
use super::{alloc, existing_volumes, pool, Facts, LayoutMode, Plan, Request, Step};
use super::{DEFAULT_POOL, DEFAULT_VG, EXTENT};

/// Plan the VG, pool and volumes (create, adopt, or find them from an earlier run).
/// Returns the bytes already used in the pool.
pub(super) fn plan_layout(req: &Request, facts: &Facts, p: &mut Plan) -> Result<Bytes> {
    let vg = req.vg.clone().unwrap_or_else(|| DEFAULT_VG.into());
    p.vg = vg.clone();
    let tagged = facts.lvm.imgbased_vgs();
    if let Some(other) = tagged.iter().find(|v| v.name != vg) {
        return Err(precondition(
            "vg.imgbased-exists",
            format!(
                "volume group {} is already managed by imgbased (tag {}); imgbased supports one. Add images to it with `onn base add`, or remove it first",
                other.name,
                names::TAG_VG
            ),
        ));
    }
    if req.adopt {
        return plan_adopt(req, facts, p, &vg);
    }
    let pvs = given_disks(req, facts)?;
    p.pvs = pvs.clone();

    if let Some(existing) = facts.lvm.vg(&vg) {
        return plan_resumed(req, facts, p, existing, &pvs);
    }

    for d in facts.devices.iter().filter(|d| pvs.contains(&d.path)) {
        check_free_disk(d, &facts.lvm)?;
    }
    check_sector_size(facts, p, &pvs)?;
    // Free extents per PV, in the order given.
    let free = pvs
        .iter()
        .filter_map(|pv| facts.devices.iter().find(|d| &d.path == pv))
        .map(|d| d.size.saturating_sub(pool::PV_OVERHEAD).0 / EXTENT.0)
        .collect();
    p.layout = LayoutMode::Create;
    p.steps.push(Step::CreateVg {
        vg: vg.clone(),
        pvs,
    });
    plan_new_pool(req, facts, p, free, EXTENT)
}

/// The disks `--pv` names, as the paths they were inspected at, each once.
pub(super) fn given_disks(req: &Request, facts: &Facts) -> Result<Vec<String>> {
    if req.pvs.is_empty() {
        return Err(precondition(
            "pv.required",
            "name the disks for the volume group with --pv",
        ));
    }
    let mut pvs: Vec<String> = Vec::new();
    for given in &req.pvs {
        let dev = facts
            .devices
            .iter()
            .find(|d| &d.given == given || &d.path == given)
            .ok_or_else(|| {
                not_found(
                    "device.missing",
                    format!("device {given} was not inspected; plan with the facts of every --pv"),
                )
            })?;
        if pvs.contains(&dev.path) {
            return Err(precondition(
                "pv.duplicate",
                format!(
                    "{given} names the same disk as another --pv ({}); name each disk once",
                    dev.path
                ),
            ));
        }
        pvs.push(dev.path.clone());
    }
    Ok(pvs)
}

/// The VG is there already: a run that made it on these disks is carried on from where it
/// stopped.
fn plan_resumed(
    req: &Request,
    facts: &Facts,
    p: &mut Plan,
    existing: &Vg,
    pvs: &[String],
) -> Result<Bytes> {
    let vg = &existing.name;
    // Only a VG onn made (tagged) on exactly these disks is resumed; anything else is
    // someone's data.
    let mut have: Vec<String> = facts
        .lvm
        .pvs_of(vg)
        .into_iter()
        .map(str::to_string)
        .collect();
    have.sort();
    let mut want = pvs.to_vec();
    want.sort();
    if !existing.has_tag(names::TAG_VG) {
        return Err(precondition(
            "vg.exists",
            format!("volume group {vg} already exists; to use it, pass --adopt; to install elsewhere, choose another --vg"),
        ));
    }
    if have != want {
        return Err(precondition(
            "vg.imgbased-exists",
            format!("imgbased volume group {vg} exists on {}, not on {}; remove it first or name the same disks", have.join(", "), want.join(", ")),
        ));
    }
    p.present.push(format!("volume group {vg}"));
    let pool = facts
        .lvm
        .lv(vg, &req.pool)
        .filter(|l| l.has_tag(names::TAG_POOL));
    let Some(pool) = pool else {
        // The VG is ours but the pool never got made: carry on from there.
        let extent = existing.extent_size;
        let free = facts
            .lvm
            .pvs
            .iter()
            .filter(|pv| pv.vg.as_deref() == Some(vg.as_str()))
            .map(|pv| pv.size.0 / extent.0.max(1))
            .collect();
        return plan_new_pool(req, facts, p, free, extent);
    };
    p.present.push(format!("thin pool {vg}/{}", req.pool));
    p.pool_size = pool.size;
    p.pool_metadata = metadata_size(pool);
    plan_volumes(req, facts, p);
    Ok(pool::used(pool.size, pool.data_percent))
}

/// A filesystem is read in units no smaller than the disk's logical sector: an xfs made with
/// 512-byte sectors does not mount from a 4Kn disk (the base's LV has the largest sector of
/// its PVs).
fn check_sector_size(facts: &Facts, p: &Plan, pvs: &[String]) -> Result<()> {
    let sector = facts
        .devices
        .iter()
        .filter(|d| pvs.contains(&d.path))
        .map(|d| d.logical_sector)
        .max()
        .unwrap_or(512);
    if let Some((i, fs_sector)) = p.image.as_ref().and_then(|i| Some((i, i.fs_sector?))) {
        if fs_sector < sector {
            return Err(precondition(
                "fs.sector-size",
                format!(
                    "the disks have {sector}-byte logical sectors, but the {} filesystem of image {} reads {fs_sector}-byte units and would not mount from them; use disks with {fs_sector}-byte sectors, or an image whose filesystem is made for {sector} (mkfs.xfs -s size={sector}, or ext4 with 4 KiB blocks)",
                    i.fs.map_or("image's", |f| f.name()),
                    i.nvr
                ),
            ));
        }
    }
    Ok(())
}

fn plan_new_pool(
    req: &Request,
    facts: &Facts,
    p: &mut Plan,
    free: Vec<u64>,
    extent: Bytes,
) -> Result<Bytes> {
    let vg_size = Bytes(free.iter().sum::<u64>() * extent.0);
    let metadata = match req.pool_metadata {
        Some(m) => m.round_up(extent),
        None => pool::metadata_size(vg_size, extent),
    };
    let want = match req.pool_size {
        Some(s) => s.round_up(extent),
        None => pool::default_data(vg_size, metadata, extent),
    };
    // What lvm2 can place of it, PV by PV (the metadata and its spare each whole on one PV).
    let meta_extents = metadata.0 / extent.0;
    let fits = Bytes(alloc::max_pool_data(&free, want.0 / extent.0, meta_extents) * extent.0);
    let data = if req.pool_size.is_some() { want } else { fits };
    if data < pool::DATA_MIN || data > fits {
        let sizes: Vec<String> = free
            .iter()
            .map(|f| Bytes(f * extent.0).to_string())
            .collect();
        return Err(precondition(
            "disk.too-small",
            format!(
                "the disks ({}) give a volume group of {vg_size}, where lvm2 places {metadata} of pool metadata and a spare as large each whole on one disk: a thin pool of {} does not fit ({} short); use larger disks",
                sizes.join(", "),
                data.max(pool::DATA_MIN),
                data.max(pool::DATA_MIN).saturating_sub(fits)
            ),
        ));
    }
    p.layout = LayoutMode::Create;
    p.pool_size = data;
    p.pool_metadata = metadata;
    p.steps.push(Step::CreatePool {
        vg: p.vg.clone(),
        pool: p.pool.clone(),
        data,
        metadata,
    });
    plan_volumes(req, facts, p);
    Ok(Bytes(0))
}

fn plan_adopt(req: &Request, facts: &Facts, p: &mut Plan, vg: &str) -> Result<Bytes> {
    let row = facts.lvm.vg(vg).ok_or_else(|| {
        not_found(
            "vg.missing",
            format!("volume group {vg} does not exist; without --adopt onn creates one"),
        )
    })?;
    let pool = facts.lvm.lv(vg, &req.pool).ok_or_else(|| {
        not_found(
            "pool.missing",
            format!(
                "thin pool {vg}/{} does not exist; name the installer's pool with --pool",
                req.pool
            ),
        )
    })?;
    if !pool.is_thin_pool() {
        return Err(precondition(
            "pool.not-thin",
            format!(
                "{vg}/{} is not a thin pool; name the installer's thin pool with --pool",
                req.pool
            ),
        ));
    }
    if let Some(other) = facts
        .lvm
        .lvs_of(vg)
        .find(|l| l.has_tag(names::TAG_POOL) && l.name != req.pool)
    {
        return Err(precondition(
            "pool.imgbased-exists",
            format!(
                "{vg}/{} is already imgbased's pool and imgbased supports one; name it with --pool {}",
                other.name, other.name
            ),
        ));
    }
    let Some(var) = facts.lvm.lv(vg, "var") else {
        return Err(precondition(
            "var.not-separate",
            format!("{vg} has no separate /var volume (LV {vg}/var); imgbased needs /var apart from / so layers share it: create one (kickstart: logvol /var --thin --name=var …)"),
        ));
    };
    if var.size < VAR_MIN {
        return Err(precondition(
            "var.too-small",
            format!(
                "/var ({vg}/var) is {}; every layer shares it and a Node needs at least {}: make it larger (kickstart: logvol /var --size=…)",
                var.size,
                VAR_MIN
            ),
        ));
    }
    p.pvs = facts
        .lvm
        .pvs_of(vg)
        .into_iter()
        .map(str::to_string)
        .collect();
    p.pool_size = pool.size;
    let meta = metadata_size(pool);
    let want = req.pool_metadata.unwrap_or(pool::METADATA_MIN);
    let grow = (meta < want).then_some(want);
    if let Some(g) = grow {
        let more = g.saturating_sub(meta);
        // LVM grows the spare too.
        if row.free < pool::metadata_with_spare(more) {
            return Err(precondition(
                "pool.metadata-no-room",
                format!("pool {vg}/{} has {meta} of metadata; imgbased needs {g} and the VG has only {} free: leave room in the volume group or add a disk to it", req.pool, row.free),
            ));
        }
    }
    p.pool_metadata = grow.unwrap_or(meta);
    if row.has_tag(names::TAG_VG) && pool.has_tag(names::TAG_POOL) && grow.is_none() {
        p.present.push(format!("volume group {vg} (adopted)"));
    } else {
        p.layout = LayoutMode::Adopt;
        if !row.has_tag(names::TAG_VG) {
            p.steps.push(Step::AdoptVg { vg: vg.to_string() });
        }
        p.steps.push(Step::AdoptPool {
            vg: vg.to_string(),
            pool: req.pool.clone(),
            grow_metadata_to: grow,
        });
    }
    plan_volumes(req, facts, p);
    Ok(pool::used(pool.size, pool.data_percent))
}

/// The request with the VG and pool of the installer's root LV filled in.
pub(super) fn adopt_root(req: &Request, root: &lvm::Lv) -> Result<Request> {
    let at = req.root.as_deref().unwrap_or("/");
    if !req.adopt {
        return Err(precondition(
            "root.needs-adopt",
            "a root mount point names the installer's volume group to adopt; add --adopt",
        ));
    }
    let Some(root_pool) = root.pool() else {
        return Err(precondition(
            "root.not-thin",
            format!(
                "{at} is on {}/{}, which is not a thin volume; imgbased needs / on a thin pool (kickstart: logvol / --thin --poolname=…)",
                root.vg, root.name
            ),
        ));
    };
    for (given, found, what) in [
        (req.vg.as_deref(), root.vg.as_str(), "volume group"),
        (
            Some(req.pool.as_str()).filter(|p| *p != DEFAULT_POOL),
            root_pool,
            "thin pool",
        ),
    ] {
        if given.is_some_and(|g| g != found) {
            return Err(precondition(
                "root.other-vg",
                format!(
                    "{at} is in {what} {found}, not {}; leave the name out or make them agree",
                    given.unwrap_or_default()
                ),
            ));
        }
    }
    let mut req = req.clone();
    req.vg = Some(root.vg.clone());
    req.pool = root_pool.to_string();
    Ok(req)
}

/// A pool's metadata size (none reported: 0).
fn metadata_size(pool: &Lv) -> Bytes {
    pool.thin_pool()
        .and_then(|t| t.metadata_size)
        .unwrap_or_default()
}

/// For base/layer actions: the one imgbased VG and pool.
pub(super) fn find_layout(req: &Request, facts: &Facts, p: &mut Plan) -> Result<Bytes> {
    let tagged = facts.lvm.imgbased_vgs();
    let vg = match (&req.vg, tagged.as_slice()) {
        (Some(v), _) if tagged.iter().any(|t| &t.name == v) => v.clone(),
        (Some(v), _) => {
            return Err(not_found(
                "vg.missing",
                format!(
                    "{v} is not an imgbased volume group; run `onn layout` or `onn install` first"
                ),
            ))
        }
        (None, [one]) => one.name.clone(),
        (None, []) => {
            return Err(not_found(
                "vg.missing",
                "there is no imgbased volume group; run `onn install` or `onn layout` first",
            ))
        }
        (None, many) => {
            return Err(precondition(
                "vg.imgbased-many",
                format!(
                    "{} volume groups carry {}; imgbased needs exactly one. Name one with --vg",
                    many.len(),
                    names::TAG_VG
                ),
            ))
        }
    };
    let pool = facts
        .lvm
        .lvs_of(&vg)
        .find(|l| l.has_tag(names::TAG_POOL))
        .ok_or_else(|| {
            not_found(
                "pool.missing",
                format!("{vg} has no thin pool tagged {}", names::TAG_POOL),
            )
        })?;
    p.vg = vg.clone();
    p.pool = pool.name.clone();
    p.pvs = facts
        .lvm
        .pvs_of(&vg)
        .into_iter()
        .map(str::to_string)
        .collect();
    p.pool_size = pool.size;
    p.pool_metadata = metadata_size(pool);
    p.volumes = existing_volumes(&facts.lvm, &vg);
    Ok(pool::used(pool.size, pool.data_percent))
}

/// Refuse a disk that holds anything: a mount, a holder, partitions, a filesystem or a VG.
fn check_free_disk(d: &Device, lvm: &LvmState) -> Result<()> {
    // Named as given, with what it resolved to (a /dev/disk/by-id link, a `..`).
    let shown = if d.given == d.path {
        d.path.clone()
    } else {
        format!("{} ({})", d.given, d.path)
    };
    let wipe = &d.path;
    if !d.mounts.is_empty() {
        return Err(precondition(
            "pv.mounted",
            format!(
                "{shown} is in use: mounted on {}; unmount it or choose another disk",
                d.mounts.join(", ")
            ),
        ));
    }
    if !d.holders.is_empty() {
        return Err(precondition(
            "pv.in-use",
            format!(
                "{shown} is in use by {}; release it or choose another disk",
                d.holders.join(", ")
            ),
        ));
    }
    if d.busy {
        return Err(precondition(
            "pv.in-use",
            format!("{shown} is in use (the kernel refused exclusive access); choose another disk"),
        ));
    }
    if let Some(pt) = &d.partition_table {
        return Err(precondition(
            "pv.partitioned",
            format!("{shown} has a {pt} partition table; onn will not overwrite partitions. Wipe it (wipefs -a {wipe}) if it holds nothing you need"),
        ));
    }
    match d.signature.as_deref() {
        None => Ok(()),
        Some("LVM2_member") => match lvm.pv(&d.path).or_else(|| lvm.pv(&d.given)) {
            Some(Pv { vg: Some(vg), .. }) => Err(precondition(
                "pv.other-vg",
                format!("{shown} belongs to volume group {vg}; onn will not take disks of another VG: choose another disk, or remove that VG (vgremove) if it holds nothing you need"),
            )),
            // An LVM label without a VG holds no data.
            _ => Ok(()),
        },
        Some(sig) => Err(precondition(
            "pv.signature",
            format!("{shown} holds a {sig} signature (existing data); wipe it (wipefs -a {wipe}) if you mean to reuse the disk"),
        )),
    }
}
