//! The EFI system partition. A liveimg install rsyncs the image's `/boot/efi/EFI` tree (shim,
//! GRUB, the `BOOT` fallback) onto the mounted ESP, and Anaconda's EFI bootloader step then
//! only registers it with `efibootmgr`. onn puts the same files there: in the CLI onto
//! `--efi` (a plan step before the boot entry), in the addon flow through the payload tarball
//! ([`crate::image::OpenImage::export_boot`]).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::ground::error::precondition;
use crate::ground::rootfs;
use crate::ground::runner::Runner;
use crate::ground::units::Bytes;
use crate::storage::blockdev;
use crate::storage::guard::Mount;

/// Where an image keeps its EFI boot files: the ESP's `EFI` directory as the image's build
/// left it below the ESP's mount point.
pub const IMAGE_EFI_DIR: &str = "boot/efi/EFI";
/// The filesystem of an ESP, as blkid names it.
pub const ESP_FSTYPE: &str = "vfat";
/// Space is counted in FAT clusters of this size (mkfs.vfat's for an ESP of 256 MiB–8 GiB).
const CLUSTER: Bytes = Bytes(4096);

/// A file of the ESP's `EFI` tree, its path relative to the ESP (`EFI/BOOT/BOOTX64.EFI`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EfiFile {
    pub path: String,
    pub size: Bytes,
}

/// The regular files below `root`/`dir`, as ESP paths (`EFI/…`), sorted. A missing directory
/// has none.
pub fn list_files(root: &Path, dir: &str) -> Result<Vec<EfiFile>> {
    fn walk(dir: &Path, rel: &str, out: &mut Vec<EfiFile>) -> Result<()> {
        let Ok(rd) = fs::read_dir(dir) else {
            return Ok(());
        };
        for e in rd {
            let e = e.with_context(|| format!("reading {}", dir.display()))?;
            let name = format!("{rel}/{}", e.file_name().to_string_lossy());
            let t = e.file_type()?;
            if t.is_dir() {
                walk(&e.path(), &name, out)?;
            } else if t.is_file() {
                out.push(EfiFile {
                    path: name,
                    size: Bytes(e.metadata()?.len()),
                });
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(&rootfs::resolve(root, dir)?, "EFI", &mut out)?;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Facts about the ESP given with `--efi`, for the plan.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EfiFacts {
    /// What the user gave: a device or a mounted directory.
    pub given: String,
    pub device: String,
    pub fstype: String,
    pub free: Bytes,
    /// The files already in its `EFI` directory (the image's replace those of the same name).
    pub existing: Vec<EfiFile>,
}

/// Read the facts of an ESP given as a device or as a mounted directory.
pub fn inspect(runner: &dyn Runner, given: &str) -> Result<EfiFacts> {
    let p = Path::new(given);
    let device = if p.is_dir() {
        blockdev::mount_source(p)?
            .ok_or_else(|| {
                precondition(
                    "efi.not-mounted",
                    format!("{given} is not a mount point; give the EFI system partition or where it is mounted"),
                )
            })?
            .0
    } else {
        fs::canonicalize(p)
            .map_err(|e| {
                precondition(
                    "efi.missing",
                    format!("EFI system partition {given} does not exist ({e}); give the partition or where it is mounted"),
                )
            })?
            .to_string_lossy()
            .into_owned()
    };
    let fstype = blockdev::fs_type_and_uuid(runner, Path::new(&device))?
        .0
        .unwrap_or_default();
    let mut facts = EfiFacts {
        given: given.to_string(),
        device,
        fstype,
        free: Bytes(0),
        existing: Vec::new(),
    };
    if facts.fstype == ESP_FSTYPE {
        let dir = EspDir::open(runner, &facts, true)?;
        let st = nix::sys::statvfs::statvfs(dir.path())
            .with_context(|| format!("reading the free space of {}", dir.path().display()))?;
        facts.free = Bytes(st.blocks_available() as u64 * st.fragment_size() as u64);
        facts.existing = list_files(dir.path(), "EFI")?;
        dir.close()?;
    }
    Ok(facts)
}

/// The plan's checks of an install onto an ESP: a FAT filesystem, an image that has EFI
/// boot files (`files`), and room for them where they do not replace a file of the same name.
pub fn check(facts: &EfiFacts, files: &[EfiFile], image: &str) -> Result<()> {
    if facts.fstype != ESP_FSTYPE {
        let holds = if facts.fstype.is_empty() {
            "no filesystem".to_string()
        } else {
            facts.fstype.clone()
        };
        return Err(precondition(
            "efi.not-vfat",
            format!(
                "{} holds {holds}, not the FAT filesystem of an EFI system partition; give the ESP (formatted with mkfs.vfat)",
                facts.device
            ),
        ));
    }
    if files.is_empty() {
        return Err(precondition(
            "image.no-efi",
            format!(
                "image {image} has no EFI boot files in /{IMAGE_EFI_DIR}; leave out --efi for a BIOS install, or use an image built with its EFI bootloader"
            ),
        ));
    }
    let clusters = |s: Bytes| s.round_up(CLUSTER);
    let need: Bytes = files.iter().map(|f| clusters(f.size)).sum();
    // FAT names are case-insensitive: EFI/BOOT/bootx64.efi is replaced by EFI/BOOT/BOOTX64.EFI.
    let replaced: Bytes = facts
        .existing
        .iter()
        .filter(|e| files.iter().any(|f| f.path.eq_ignore_ascii_case(&e.path)))
        .map(|e| clusters(e.size))
        .sum();
    let room = facts.free + replaced;
    if need > room {
        return Err(precondition(
            "efi.too-small",
            format!(
                "the image's EFI boot files need {need} on {}, which has {room} for them ({} more needed); free space on the EFI system partition or use a larger one",
                facts.device,
                need.saturating_sub(room)
            ),
        ));
    }
    Ok(())
}

/// Copy the image's EFI boot files from the layer mounted at `root` onto the ESP, each
/// atomically (a crash leaves a file old or new). Returns the ESP paths written.
pub fn install(runner: &dyn Runner, facts: &EfiFacts, root: &Path) -> Result<Vec<String>> {
    let files = list_files(root, IMAGE_EFI_DIR)?;
    let esp = EspDir::open(runner, facts, false)?;
    let mut written = Vec::new();
    for f in &files {
        let rel = f.path.strip_prefix("EFI/").unwrap_or(&f.path);
        let src = rootfs::resolve(root, &format!("{IMAGE_EFI_DIR}/{rel}"))?;
        let dst = rootfs::resolve(esp.path(), &f.path)?;
        crate::ground::atomic::copy_without_mode(&src, &dst)?;
        written.push(f.path.clone());
    }
    esp.close()?;
    Ok(written)
}

/// The ESP made available: the given directory, or the device mounted by us.
struct EspDir<'r> {
    dir: PathBuf,
    mount: Option<Mount<'r>>,
}

impl<'r> EspDir<'r> {
    fn open(runner: &'r dyn Runner, facts: &EfiFacts, read_only: bool) -> Result<EspDir<'r>> {
        let given = Path::new(&facts.given);
        if given.is_dir() {
            return Ok(EspDir {
                dir: given.to_path_buf(),
                mount: None,
            });
        }
        // As Anaconda mounts an ESP: files only root can read.
        let options = if read_only {
            "ro,umask=0077"
        } else {
            "rw,umask=0077"
        };
        let m = Mount::temp(runner, Path::new(&facts.device), Some(ESP_FSTYPE), options)?;
        Ok(EspDir {
            dir: m.path().to_path_buf(),
            mount: Some(m),
        })
    }
    fn path(&self) -> &Path {
        &self.dir
    }
    fn close(self) -> Result<()> {
        match self.mount {
            Some(m) => m.close(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn esp(free: u64, existing: &[(&str, u64)]) -> EfiFacts {
        EfiFacts {
            given: "/dev/vda1".into(),
            device: "/dev/vda1".into(),
            fstype: ESP_FSTYPE.into(),
            free: Bytes(free),
            existing: existing
                .iter()
                .map(|(p, s)| EfiFile {
                    path: p.to_string(),
                    size: Bytes(*s),
                })
                .collect(),
        }
    }

    fn files() -> Vec<EfiFile> {
        [
            ("EFI/BOOT/BOOTX64.EFI", 950_000),
            ("EFI/debian/grubx64.efi", 2_600_000),
        ]
        .iter()
        .map(|(p, s)| EfiFile {
            path: p.to_string(),
            size: Bytes(*s),
        })
        .collect()
    }

    fn id(r: Result<()>) -> &'static str {
        crate::ground::error::id_of(&r.unwrap_err())
    }

    #[test]
    fn an_esp_with_room_takes_the_files_and_same_named_ones_count_as_room() {
        // 950 000 → 232 clusters, 2 600 000 → 635: 3 551 232 bytes in all.
        assert!(check(&esp(3_551_232, &[]), &files(), "i").is_ok());
        assert_eq!(
            id(check(&esp(3_551_231, &[]), &files(), "i")),
            "efi.too-small"
        );
        // The old fallback loader (any case) is replaced, so its clusters count.
        let old = [("EFI/BOOT/bootx64.efi", 950_000)];
        assert!(check(&esp(3_551_232 - 232 * 4096, &old), &files(), "i").is_ok());
    }

    #[test]
    fn not_fat_and_no_efi_files_are_refused_with_their_ids() {
        let mut ext4 = esp(1 << 30, &[]);
        ext4.fstype = "ext4".into();
        assert_eq!(id(check(&ext4, &files(), "i")), "efi.not-vfat");
        assert_eq!(id(check(&esp(1 << 30, &[]), &[], "i")), "image.no-efi");
    }

    #[test]
    fn files_are_listed_as_esp_paths_sorted() {
        let d = tempfile::tempdir().unwrap();
        let efi = d.path().join(IMAGE_EFI_DIR);
        fs::create_dir_all(efi.join("BOOT")).unwrap();
        fs::create_dir_all(efi.join("debian")).unwrap();
        fs::write(efi.join("debian/shimx64.efi"), b"shim").unwrap();
        fs::write(efi.join("BOOT/BOOTX64.EFI"), b"boot").unwrap();
        let listed = list_files(d.path(), IMAGE_EFI_DIR).unwrap();
        let paths: Vec<_> = listed.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["EFI/BOOT/BOOTX64.EFI", "EFI/debian/shimx64.efi"]);
        assert!(list_files(d.path(), "nothing/here").unwrap().is_empty());
    }
}
