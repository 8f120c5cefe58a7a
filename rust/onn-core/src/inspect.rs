//! Inspect → plan → apply: **inspect** reads the system (the image, LVM, the disks, /boot and
//! the ESP) into the [`Facts`] that `plan` decides from; it writes nothing.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::boot;
use crate::ground::error::precondition;
use crate::ground::runner::{Cmd, Runner};
use crate::image::{ImageFacts, OpenImage};
use crate::names;
use crate::plan::{self, Facts, NodeFacts, PlannedVolume, Request};
use crate::storage::blockdev;
use crate::storage::fs::FsType;
use crate::storage::guard::Mount;
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
        image: image.as_ref().map(|i| ImageFacts {
            // Obtaining the image verified who signed it (an earlier read keeps its own).
            provenance: if req.provenance.is_empty() {
                i.facts.provenance.clone()
            } else {
                req.provenance.clone()
            },
            ..i.facts.clone()
        }),
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
        if req.wipe {
            facts.node = inspect_nodes(runner, &facts)?;
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

/// What `--wipe` needs to know of the Nodes on the named disks beyond LVM's report: which of
/// their volumes and layers are in use, and which hold an oVirt local storage domain (their
/// filesystems mounted read-only, without replaying a journal, and searched). A layer or volume
/// that is not active is activated to be read: activation writes nothing to the disks.
fn inspect_nodes(runner: &dyn Runner, facts: &Facts) -> Result<NodeFacts> {
    let disks: Vec<String> = facts.devices.iter().map(|d| d.path.clone()).collect();
    let mut found = NodeFacts::default();
    for vg in plan::nodes_on(&facts.lvm, &disks) {
        for lv in facts
            .lvm
            .lvs_of(&vg.name)
            .filter(|l| l.has_tag(names::TAG_VOLUME) || l.has_tag(names::TAG_LAYER))
        {
            let name = format!("{}/{}", lv.vg, lv.name);
            let dev = PathBuf::from(lvm::lv_path(&lv.vg, &lv.name));
            if !lv.active {
                runner
                    .run(&Cmd::new("lvm").args(["lvchange", "--activate", "y", &name]))
                    .with_context(|| format!("activating {name} to look into it"))?;
            }
            if let Some(used) = blockdev::in_use(&dev) {
                found.in_use.push(format!("{name} {used}"));
                continue;
            }
            let Ok(fs) = FsType::from_probe(
                blockdev::fs_type_and_uuid(runner, &dev)?.0.as_deref(),
                &name,
            ) else {
                continue;
            };
            let m = Mount::temp(runner, &dev, Some(fs.name()), fs.read_only_options())?;
            let hit = find_file(m.path(), plan::STORAGE_DOMAIN_MARK);
            m.close()?;
            if let Some(path) = hit? {
                found
                    .storage_domains
                    .push(format!("{name}:{}", path.display()));
            }
        }
    }
    Ok(found)
}

/// The first file named `name` in the filesystem mounted at `root` (not crossing into other
/// mounts, not following links), as a path inside it.
fn find_file(root: &Path, name: &str) -> Result<Option<PathBuf>> {
    use std::os::unix::fs::MetadataExt;
    let dev = std::fs::symlink_metadata(root)
        .with_context(|| format!("reading {}", root.display()))?
        .dev();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_name() == name {
                return Ok(Some(Path::new("/").join(path.strip_prefix(root)?)));
            }
            if let Ok(meta) = std::fs::symlink_metadata(&path) {
                if meta.is_dir() && meta.dev() == dev {
                    dirs.push(path);
                }
            }
        }
    }
    Ok(None)
}
