//! Bases and layers: the base an image becomes, the layer on top of it, and what a VG holds
//! of either.

use anyhow::Result;

use crate::ground::error::{not_found, precondition};
use crate::ground::units::{Bytes, GIB};
use crate::image::nvr::{self, ImageName, Nvr};
use crate::image::ImageFacts;
use crate::names;
use crate::storage::fs::FsType;
use crate::storage::lvm::LvmState;

use super::{existing_volumes, pool, Action, Facts, Plan, Request, Step, EXTENT};

/// Smallest default root LV (virtual size; thin, so it costs nothing until written).
const ROOT_MIN: Bytes = Bytes(10 * GIB);

/// The base LV's size: `--root-size`, else twice the image's filesystem, at least ROOT_MIN and
/// the newest base's size.
fn base_size(req: &Request, facts: &Facts, p: &Plan, i: &ImageFacts) -> Bytes {
    let newest_base = facts
        .lvm
        .lvs_of(&p.vg)
        .filter(|l| l.has_tag(names::TAG_BASE))
        .map(|l| l.size)
        .max()
        .unwrap_or_default();
    req.root_size
        .unwrap_or_else(|| i.rootfs_size.scale(2, 1).max(ROOT_MIN).max(newest_base))
        .round_up(EXTENT)
}

/// The refusal of a pool that cannot take the new volumes' filesystems and the image below
/// lvm2's threshold for creating thin LVs (the layer is created after the base is written).
pub(super) fn pool_too_small(
    p: &Plan,
    used: Bytes,
    volumes: Bytes,
    image: Option<&ImageFacts>,
) -> anyhow::Error {
    let what = match image {
        Some(i) => format!(
            "image {} ({} plus headroom and its growth to the root LV) and the new volumes' filesystems ({volumes})",
            i.nvr, i.rootfs_size
        ),
        None => format!("the new volumes' filesystems ({volumes})"),
    };
    precondition(
        "pool.too-small",
        format!(
            "thin pool {}/{} ({}, {} in use once its volumes are made) cannot take {what} and stay under the {} % at which lvm2 stops creating volumes in it; use larger disks or a larger --pool-size",
            p.vg,
            p.pool,
            p.pool_size,
            used.saturating_sub(volumes),
            pool::THRESHOLD_PERCENT
        ),
    )
}

/// Is an LV named like the base or layer about to be made the leftover of an interrupted run
/// (in the pool, no tags: the tag is the commit point)? `Some(true)`: it is, and is replaced;
/// `None`: an LV of that name is somebody's, and the caller refuses.
fn unfinished(facts: &Facts, p: &Plan, lv: &str) -> Option<bool> {
    match facts.lvm.lv(&p.vg, lv) {
        None => Some(false),
        Some(l) if l.pool() == Some(p.pool.as_str()) && l.tags.is_empty() => Some(true),
        Some(_) => None,
    }
}

fn name_taken(p: &Plan, lv: &str) -> String {
    format!("{}/{lv} exists and is not onn's; remove or rename it", p.vg)
}

/// Bases in a VG, by their NVR.
pub fn bases(lvm: &LvmState, vg: &str) -> Vec<Nvr> {
    lvm.lvs_of(vg)
        .filter(|l| l.has_tag(names::TAG_BASE))
        .filter_map(|l| match ImageName::parse(&l.name) {
            Some(ImageName::Base(n)) => Some(n),
            _ => None,
        })
        .collect()
}

/// Layer indexes of a base, ascending.
pub fn layers_of(lvm: &LvmState, vg: &str, base: &Nvr) -> Vec<u32> {
    let mut v: Vec<u32> = lvm
        .lvs_of(vg)
        .filter(|l| l.has_tag(names::TAG_LAYER))
        .filter_map(|l| match ImageName::parse(&l.name) {
            Some(ImageName::Layer(n, i)) if &n == base => Some(i),
            _ => None,
        })
        .collect();
    v.sort_unstable();
    v
}

fn newest_base(lvm: &LvmState, vg: &str) -> Result<Nvr> {
    let mut all = bases(lvm, vg);
    if all.is_empty() {
        return Err(not_found(
            "base.missing",
            format!("{vg} holds no base; add one with `onn base add IMAGE`"),
        ));
    }
    let mut newest = all.remove(0);
    for b in all {
        if b.compare(&newest)? == std::cmp::Ordering::Greater {
            newest = b;
        }
    }
    Ok(newest)
}

/// The base the image becomes, unless it is there already: its size, and whether the pool can
/// take it below lvm2's threshold. Returns what writing it takes of the pool.
pub(super) fn plan_base(
    req: &Request,
    facts: &Facts,
    p: &mut Plan,
    i: &ImageFacts,
    pool_used: Bytes,
    volumes_cost: Bytes,
) -> Result<Bytes> {
    let lv = i.nvr.base_lv();
    if facts
        .lvm
        .lv(&p.vg, &lv)
        .is_some_and(|l| l.has_tag(names::TAG_BASE))
    {
        p.present.push(format!("base {lv}"));
        p.base = Some(lv);
        return Ok(Bytes(0));
    }
    // The image with headroom, and what growing its filesystem to the LV takes.
    let size = base_size(req, facts, p, i);
    let fs = p.fs.unwrap_or(FsType::Ext4);
    let need = pool::image_cost(i.rootfs_size, fs, size);
    if pool_used + need > pool::threshold(p.pool_size) {
        return Err(pool_too_small(p, pool_used, volumes_cost, Some(i)));
    }
    let replace = unfinished(facts, p, &lv)
        .ok_or_else(|| precondition("base.name-taken", name_taken(p, &lv)))?;
    if size < i.rootfs_size {
        return Err(precondition(
            "root-size.too-small",
            format!(
                "--root-size {size} is smaller than the image's filesystem ({}); give at least that, or leave it out",
                i.rootfs_size
            ),
        ));
    }
    p.base_size = Some(size);
    p.steps.push(Step::WriteBase {
        vg: p.vg.clone(),
        pool: p.pool.clone(),
        lv: lv.clone(),
        size,
        layout: i.layout,
        fs,
        replace,
    });
    p.base = Some(lv);
    Ok(need)
}

/// The layer on `base` (the image's, else the one asked for, else the newest), its
/// configuration, EFI files and boot entry.
pub(super) fn plan_layer(
    req: &Request,
    facts: &Facts,
    p: &mut Plan,
    base: Option<&Nvr>,
) -> Result<()> {
    let base = match (base, &req.base) {
        (Some(n), _) => n.clone(),
        (None, Some(b)) => {
            let n = Nvr::parse(b)?;
            if !facts
                .lvm
                .lv(&p.vg, b)
                .is_some_and(|l| l.has_tag(names::TAG_BASE))
            {
                return Err(not_found(
                    "base.missing",
                    format!("there is no base {b} in {}; see `onn list`", p.vg),
                ));
            }
            n
        }
        (None, None) => newest_base(&facts.lvm, &p.vg)?,
    };
    let layers = layers_of(&facts.lvm, &p.vg, &base);
    let (layer, origin) = if req.action == Action::Install && !layers.is_empty() {
        // A re-run of an install: its first layer is there already.
        (base.layer_lv(layers[0]), None)
    } else {
        let origin = layers.last().map_or(base.base_lv(), |i| base.layer_lv(*i));
        (
            base.layer_lv(nvr::next_layer_index(layers.iter().copied())),
            Some(origin),
        )
    };
    names::validate_lv_name(&layer)?;
    match origin {
        Some(origin) => {
            let replace = unfinished(facts, p, &layer)
                .ok_or_else(|| precondition("layer.name-taken", name_taken(p, &layer)))?;
            p.steps.push(Step::CreateLayer {
                vg: p.vg.clone(),
                origin,
                layer: layer.clone(),
                replace,
            })
        }
        None => p.present.push(format!("layer {layer}")),
    }
    let volumes = if p.volumes.is_empty() {
        existing_volumes(&facts.lvm, &p.vg)
    } else {
        p.volumes.clone()
    };
    p.steps.push(Step::ConfigureLayer {
        vg: p.vg.clone(),
        layer: layer.clone(),
        volumes,
        kernel_args: req.kernel_args.clone(),
    });
    if p.efi.is_some() {
        p.steps.push(Step::InstallEfi {
            vg: p.vg.clone(),
            layer: layer.clone(),
        });
    }
    p.steps.push(Step::InstallBoot {
        vg: p.vg.clone(),
        layer: layer.clone(),
        nvr: base.to_string(),
        kernel_args: req.kernel_args.clone(),
    });
    p.layer = Some(layer);
    Ok(())
}
