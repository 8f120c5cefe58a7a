//! The data volumes, shared by every layer: imgbased's NIST layout and its minimal one with
//! their default sizes (imgbased `volume.py`), the least /var a Node needs, the ones a plan
//! creates or finds, and when the host's imgbased needs to be told that some are missing.

use crate::ground::units::Bytes;
use crate::names::{self, volume_lv_name};
use crate::storage::fs::FsType;
use crate::storage::lvm::LvmState;

use super::{Facts, Plan, PlannedVolume, Request, Step};

/// The Node profile's least /var (data/profile.d/ovirt-node-onn.conf): every layer shares it.
pub(super) const VAR_MIN: Bytes = Bytes::gib(5);

/// A data volume of the NIST layout: its mount point, LV name and default size.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Volume {
    pub mount: String,
    pub lv: String,
    pub size: Bytes,
}

/// Which data volumes to create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VolumeSet {
    /// The NIST layout: /var, /var/crash, /var/log, /var/log/audit, /var/tmp, /home, /tmp.
    Default,
    /// /var only (imgbased's minimal layout).
    Minimal,
    /// No data volumes (only for layouts adopted from an installer that made its own).
    None,
}

impl VolumeSet {
    /// The volumes, parents before children, with imgbased's default sizes.
    pub fn volumes(self) -> Vec<Volume> {
        let table: &[(&str, u64)] = match self {
            VolumeSet::Default => &[
                ("/var", 5),
                ("/var/crash", 10),
                ("/var/log", 8),
                ("/var/log/audit", 2),
                ("/var/tmp", 10),
                ("/home", 1),
                ("/tmp", 1),
            ],
            VolumeSet::Minimal => &[("/var", 8)],
            VolumeSet::None => &[],
        };
        table
            .iter()
            .map(|&(mount, gib)| Volume {
                mount: mount.to_string(),
                lv: volume_lv_name(mount),
                size: Bytes::gib(gib),
            })
            .collect()
    }
}

impl std::str::FromStr for VolumeSet {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "default" => Ok(VolumeSet::Default),
            "minimal" => Ok(VolumeSet::Minimal),
            "none" => Ok(VolumeSet::None),
            _ => Err(format!(
                "unknown volume set {s:?}: use default, minimal or none"
            )),
        }
    }
}

/// Whether a layer with data volumes at `mounts` needs [`names::SKIP_VOLUMES_MARK`]: it lacks
/// some volume of the NIST layout.
pub fn needs_skip_volumes<'a>(mounts: impl IntoIterator<Item = &'a str> + Clone) -> bool {
    VolumeSet::Default
        .volumes()
        .iter()
        .any(|v| !mounts.clone().into_iter().any(|m| m == v.mount))
}

/// Plan the data volumes that do not exist yet.
pub(super) fn plan_volumes(req: &Request, facts: &Facts, p: &mut Plan) {
    let fs = p.fs.unwrap_or(FsType::Ext4);
    // Adopting, the set completes the installer's volumes: what it mounts stays, what the set
    // names and the installer did not make is created (as imgbased's own layout does).
    let installer_made = |mount: &str| facts.root_volumes.iter().any(|rv| rv.mount == mount);
    for v in req.volumes.volumes() {
        if installer_made(&v.mount) {
            continue;
        }
        let mut planned = PlannedVolume {
            lv: v.lv.clone(),
            mount: v.mount.clone(),
            size: v.size,
        };
        if let Some(existing) = facts.lvm.lv(&p.vg, &v.lv) {
            p.present.push(format!("data volume {}", v.lv));
            planned.size = existing.size;
            if facts.blank_volumes.contains(&format!("{}/{}", p.vg, v.lv)) {
                p.steps.push(Step::FormatVolume {
                    vg: p.vg.clone(),
                    lv: v.lv.clone(),
                    fs,
                });
            }
        } else {
            p.steps.push(Step::CreateVolume {
                vg: p.vg.clone(),
                pool: p.pool.clone(),
                lv: v.lv,
                size: v.size,
                fs,
            });
        }
        p.volumes.push(planned);
    }
    // The installer made and mounted its own: the layer's fstab names them and they get the
    // image's content, as onn's volumes do (parents first, so sorted by mount point).
    if !facts.root_volumes.is_empty() {
        p.volumes.extend(facts.root_volumes.iter().cloned());
        p.volumes.sort_by(|a, b| a.mount.cmp(&b.mount));
    }
    if p.volumes.is_empty() {
        p.volumes = existing_volumes(&facts.lvm, &p.vg);
    }
}

/// Data volumes in a VG, parents first, with their mount points (imgbased's naming reversed).
pub fn existing_volumes(lvm: &LvmState, vg: &str) -> Vec<PlannedVolume> {
    let mut v: Vec<PlannedVolume> = lvm
        .lvs_of(vg)
        .filter(|l| l.has_tag(names::TAG_VOLUME))
        .map(|l| PlannedVolume {
            lv: l.name.clone(),
            mount: names::volume_mount(&l.name),
            size: l.size,
        })
        .collect();
    v.sort_by(|a, b| a.mount.cmp(&b.mount));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_layer_with_every_nist_volume_goes_without_the_skip_volumes_mark() {
        let all: Vec<String> = VolumeSet::Default
            .volumes()
            .into_iter()
            .map(|v| v.mount)
            .collect();
        assert!(!needs_skip_volumes(all.iter().map(String::as_str)));
        assert!(needs_skip_volumes(all[1..].iter().map(String::as_str)));
        assert!(needs_skip_volumes(["/var"]));
        assert!(needs_skip_volumes([]));
    }

    #[test]
    fn volume_names_follow_imgbased() {
        assert_eq!(volume_lv_name("/var/log/audit"), "var_log_audit");
        assert_eq!(volume_lv_name("/var/my-data"), "var_my--data");
        let names: Vec<_> = VolumeSet::Default
            .volumes()
            .into_iter()
            .map(|v| v.lv)
            .collect();
        assert_eq!(
            names,
            [
                "var",
                "var_crash",
                "var_log",
                "var_log_audit",
                "var_tmp",
                "home",
                "tmp"
            ]
        );
        let minimal = VolumeSet::Minimal.volumes();
        assert_eq!(
            (minimal[0].lv.as_str(), minimal[0].size),
            ("var", Bytes::gib(8))
        );
    }
}
