//! Cleaning up after interrupted runs.

use anyhow::{Context, Result};

use crate::boot::{self, BootDir};
use crate::ground::lock::Lock;
use crate::ground::runner::{Cmd, Runner};
use crate::image::nvr::ImageName;
use crate::names;
use crate::storage::guard;
use crate::storage::lvm::{self, LvmState};

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
/// removed. `lock`: the caller holds the lock of one onn at a time: what a running onn has not
/// finished yet looks just like what a killed one left.
pub fn recover(runner: &dyn Runner, lock: &Lock, boot: Option<&str>) -> Result<Recovered> {
    tracing::debug!("holding {}", lock.path().display());
    let mut done = Recovered {
        unmounted: guard::release_stale_mounts(runner)?
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        ..Default::default()
    };
    let lvm = LvmState::read(runner)?;
    let mut layers = Vec::new();
    let is_layer = |lv: &str| matches!(ImageName::parse(lv), Some(ImageName::Layer(..)));
    for vg in lvm.imgbased_vgs() {
        let name = &vg.name;
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
                    .map(|l| l.name.clone())
                    .filter(|l| is_layer(l)),
            );
            continue;
        }
        let Some(pool) = lvm.lvs_of(name).find(|l| l.has_tag(names::TAG_POOL)) else {
            continue;
        };
        for lv in lvm.lvs_of(name) {
            let onns = ImageName::parse(&lv.name).is_some();
            if onns && lv.pool() == Some(pool.name.as_str()) && lv.tags.is_empty() {
                runner
                    .run(&lvm::lvremove(name, &lv.name))
                    .with_context(|| format!("removing the unfinished {name}/{}", lv.name))?;
                done.removed_lvs.push(format!("{name}/{}", lv.name));
                if is_layer(&lv.name) {
                    layers.push(lv.name.clone());
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
