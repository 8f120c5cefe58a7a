//! The storage an installer is about to create, as its device tree describes it before any of
//! it exists: what the addon shows onn's plan for in the spoke and verifies before the first
//! write. [`InstallerStorage::facts`] turns it into the [`Facts`] `inspect` would read once it
//! exists: the same typed LVs and VG that `storage/lvm.rs` makes of lvm2's report.

use crate::boot::BootFacts;
use crate::ground::units::Bytes;
use crate::image::ImageFacts;
use crate::storage::fs::{mkfs_cost, FsType};
use crate::storage::lvm::{Lv, LvKind, LvmState, ThinPool, Vg};

use super::{Facts, PlannedVolume, EXTENT};

/// `/`, its volume group and thin pool, the volume group's other LVs, and /boot.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallerStorage {
    /// The volume mounted at `/`.
    pub root: InstallerVolume,
    /// `/`'s volume group; None when `/` is not on LVM.
    #[serde(default)]
    pub vg: Option<InstallerVg>,
    /// The thin pool `/` is in; None when `/` is no thin volume.
    #[serde(default)]
    pub pool: Option<InstallerVolume>,
    /// The volume group's other LVs, each with where the installer mounts it (or nowhere).
    #[serde(default)]
    pub volumes: Vec<InstallerVolume>,
    /// The partition mounted at /boot.
    #[serde(default)]
    pub boot: Option<InstallerBoot>,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallerVg {
    pub name: String,
    pub size: Bytes,
    /// What its LVs leave of it.
    pub free: Bytes,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallerVolume {
    /// The LV's own name (not device-mapper's `vg-lv`).
    pub name: String,
    pub size: Bytes,
    #[serde(default)]
    pub mount: Option<String>,
    /// A thin LV of [`InstallerStorage::pool`].
    #[serde(default)]
    pub thin: bool,
    /// The filesystem the installer makes on it (it does so before onn writes anything, so
    /// what mkfs takes of the pool is used when onn plans).
    #[serde(default)]
    pub fs: Option<FsType>,
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallerBoot {
    pub device: String,
    pub size: Bytes,
}

impl InstallerStorage {
    /// The facts onn plans from, as the storage will be when onn's install runs: new LVs,
    /// untagged, the pool holding what the installer's mkfs wrote on its thin volumes, its
    /// metadata size unknown (so the plan grows it to imgbased's minimum, which needs free
    /// space in the VG, exactly as at install).
    pub fn facts(&self, image: Option<ImageFacts>) -> Facts {
        let vg = self.vg.as_ref().map_or("", |v| v.name.as_str());
        let pool = self.pool.as_ref().map_or("", |p| p.name.as_str());
        let new_lv = |v: &InstallerVolume, kind: LvKind, data_percent: Option<f64>| Lv {
            name: v.name.clone(),
            vg: vg.to_string(),
            kind,
            size: v.size,
            origin: None,
            tags: Vec::new(),
            data_percent,
            read_only: false,
            skip_activation: false,
            active: true,
        };
        let lv = |v: &InstallerVolume| {
            let kind = if v.thin {
                LvKind::Thin {
                    pool: pool.to_string(),
                }
            } else {
                LvKind::Other
            };
            new_lv(v, kind, None)
        };
        let thin_pool = |p: &InstallerVolume| {
            let facts = ThinPool::default();
            new_lv(p, LvKind::ThinPool(facts), Some(self.pool_percent_used()))
        };
        let mut lvm = LvmState::default();
        let mut root_volumes = Vec::new();
        if let Some(g) = &self.vg {
            lvm.vgs.push(Vg {
                name: g.name.clone(),
                size: g.size,
                free: g.free,
                extent_size: EXTENT,
                tags: Vec::new(),
            });
            lvm.lvs.extend(self.pool.iter().map(thin_pool));
            lvm.lvs.push(lv(&self.root));
            for v in &self.volumes {
                lvm.lvs.push(lv(v));
                if let Some(mount) = v.mount.as_ref().filter(|m| m.starts_with('/')) {
                    root_volumes.push(PlannedVolume {
                        lv: v.name.clone(),
                        mount: mount.clone(),
                        size: v.size,
                    });
                }
            }
            root_volumes.sort_by(|a, b| a.mount.cmp(&b.mount));
        }
        Facts {
            lvm,
            image,
            boot: self.boot.as_ref().map(|b| BootFacts {
                given: b.device.clone(),
                device: b.device.clone(),
                size: b.size,
                uuid: String::new(),
                fstype: String::new(),
            }),
            root_lv: Some(lv(&self.root)),
            root_volumes,
            ..Facts::default()
        }
    }

    /// What the installer's filesystems take of the pool before onn writes, in lvm's percent.
    fn pool_percent_used(&self) -> f64 {
        let size = self.pool.as_ref().map_or(0, |p| p.size.0);
        let used: u64 = std::iter::once(&self.root)
            .chain(&self.volumes)
            .filter(|v| v.thin)
            .filter_map(|v| Some(mkfs_cost(v.fs?, v.size).0))
            .sum();
        if size == 0 {
            0.0
        } else {
            used as f64 * 100.0 / size as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ground::units::GIB;
    use crate::plan::{plan, Action, Request};

    /// What Anaconda's autopart --type=thinp makes: / and /var thin in pool00, /boot apart.
    fn autopart() -> InstallerStorage {
        let thin = |name: &str, gib: u64, mount: &str| InstallerVolume {
            name: name.into(),
            size: Bytes::gib(gib),
            mount: Some(mount.into()),
            thin: true,
            fs: Some(FsType::Xfs),
        };
        InstallerStorage {
            root: thin("root", 20, "/"),
            vg: Some(InstallerVg {
                name: "node-vg".into(),
                size: Bytes::gib(59),
                free: Bytes::gib(14),
            }),
            pool: Some(InstallerVolume {
                name: "pool00".into(),
                size: Bytes::gib(45),
                mount: None,
                thin: false,
                fs: None,
            }),
            volumes: vec![thin("var_log", 8, "/var/log"), thin("var", 6, "/var")],
            boot: Some(InstallerBoot {
                device: "/dev/vda1".into(),
                size: Bytes::gib(1),
            }),
        }
    }

    fn adopt() -> Request {
        let mut req = Request::new(Action::Layout);
        req.adopt = true;
        req
    }

    #[test]
    fn the_installers_thin_layout_is_adopted_with_its_volumes_in_mount_order() {
        let p = plan(&adopt(), &autopart().facts(None)).unwrap();
        assert_eq!((p.vg.as_str(), p.pool.as_str()), ("node-vg", "pool00"));
        assert_eq!(p.pool_size, Bytes::gib(45));
        let installer: Vec<_> = p
            .volumes
            .iter()
            .filter(|v| v.mount.starts_with("/var"))
            .collect();
        assert_eq!(installer[0].mount, "/var");
        assert_eq!(installer[0].size, Bytes::gib(6));
    }

    #[test]
    fn a_root_outside_a_thin_pool_is_refused_as_not_thin() {
        let mut s = autopart();
        s.root.thin = false;
        s.pool = None;
        let e = plan(&adopt(), &s.facts(None)).unwrap_err();
        assert_eq!(crate::ground::error::id_of(&e), "root.not-thin");
        let mut s = autopart();
        s.vg = None;
        s.root = InstallerVolume {
            name: "vda2".into(),
            size: Bytes(59 * GIB),
            mount: Some("/".into()),
            thin: false,
            fs: Some(FsType::Xfs),
        };
        let e = plan(&adopt(), &s.facts(None)).unwrap_err();
        assert_eq!(crate::ground::error::id_of(&e), "root.not-thin");
    }

    /// The installer's filesystems are on the pool before onn writes: they count when onn
    /// plans from the device tree, so a pool they fill is refused before anything is written,
    /// as the install would refuse it once they are there.
    #[test]
    fn the_installers_mkfs_counts_against_the_pool_before_it_is_written() {
        let mut req = adopt();
        req.action = Action::Install;
        let planned =
            |s: &InstallerStorage| plan(&req, &s.facts(Some(crate::plan::tests::image())));
        let with_fs = autopart();
        let mut bare = autopart();
        for v in std::iter::once(&mut bare.root).chain(&mut bare.volumes) {
            v.fs = None;
        }
        let taken = planned(&bare).unwrap().pool_free_after.0
            - planned(&with_fs).unwrap().pool_free_after.0;
        let mkfs: u64 = [20, 8, 6]
            .map(|g| mkfs_cost(FsType::Xfs, Bytes::gib(g)).0)
            .iter()
            .sum();
        assert!(taken.abs_diff(mkfs) <= 1, "{taken} != {mkfs}");
        // The smallest pool each plan accepts: the installer's filesystems raise it, and the
        // pool that is just enough without them is refused with them.
        let sized = |s: &InstallerStorage, mib: u64| {
            let mut s = s.clone();
            s.pool.as_mut().unwrap().size = Bytes::mib(mib);
            s
        };
        let smallest = |s: &InstallerStorage| {
            (256..16384)
                .step_by(4)
                .find(|&m| planned(&sized(s, m)).is_ok())
                .unwrap()
        };
        let enough_bare = smallest(&bare);
        assert!(smallest(&with_fs) > enough_bare);
        let refused = planned(&sized(&with_fs, enough_bare)).unwrap_err();
        assert_eq!(crate::ground::error::id_of(&refused), "pool.too-small");
    }
}
