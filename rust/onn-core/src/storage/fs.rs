//! Filesystem operations on LVs: make, grow, fresh UUIDs.

use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use anyhow::{Context, Result};

use crate::ground::error::precondition;
use crate::ground::runner::{Cmd, Runner};
use crate::ground::units::Bytes;
use crate::storage::guard::Mount;

/// The root filesystem types imgbased supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FsType {
    Ext4,
    Xfs,
}

impl FsType {
    pub fn name(self) -> &'static str {
        match self {
            FsType::Ext4 => "ext4",
            FsType::Xfs => "xfs",
        }
    }

    /// Interpret a probed type; anything else is refused with what to do.
    pub fn from_probe(found: Option<&str>, what: &str) -> Result<FsType> {
        match found {
            Some("ext4") => Ok(FsType::Ext4),
            Some("xfs") => Ok(FsType::Xfs),
            other => Err(precondition(
                "image.fs-unsupported",
                format!(
                    "{what} holds {}; imgbased supports only ext4 and xfs root filesystems: \
                     rebuild the image with one of them",
                    other.map_or("no filesystem".to_string(), |t| format!(
                        "a filesystem of type {t}"
                    ))
                ),
            )),
        }
    }

    /// Options to mount a filesystem image for reading without replaying or changing anything.
    pub fn read_only_options(self) -> &'static str {
        match self {
            FsType::Ext4 => "ro,noload",
            // nouuid: a copy of the same filesystem may be mounted elsewhere.
            FsType::Xfs => "ro,norecovery,nouuid",
        }
    }

    /// Options for mounting a thin LV read-write.
    pub fn rw_options(self) -> &'static str {
        match self {
            FsType::Ext4 => "rw,discard",
            FsType::Xfs => "rw,discard,nouuid",
        }
    }
}

impl std::str::FromStr for FsType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "ext4" => Ok(FsType::Ext4),
            "xfs" => Ok(FsType::Xfs),
            _ => Err(format!("unsupported filesystem {s:?}: use ext4 or xfs")),
        }
    }
}

/// Make a new filesystem on a (fresh, thin) device.
/// What a new filesystem of `size` takes of a thin pool before any file: the journal or log,
/// which mkfs writes out, and for ext4 the inode tables (256 bytes per 16 KiB), which the
/// kernel zeroes in the background after the first mount (mke2fs leaves them to it: a thin LV
/// does not promise zeroes after a discard). Measured in the guest: mkfs alone took 35 MiB of
/// a 1 GiB ext4, 69-72 MiB of 2-10 GiB ones, 68 MiB of xfs of 1-10 GiB; two 2 GiB disks with
/// the seven NIST volumes ended at 84 % of a 1020 MiB pool once they had been mounted.
pub fn mkfs_cost(fs: FsType, size: Bytes) -> Bytes {
    const MIB: u64 = 1 << 20;
    let log = match fs {
        // mke2fs's default journal (ext2fs_default_journal_size), in 4 KiB blocks.
        FsType::Ext4 => {
            let blocks = size.0 / 4096;
            let journal = [
                (2048, 0),
                (32768, 1024),
                (256 * 1024, 4096),
                (512 * 1024, 8192),
                (4096 * 1024, 16384),
                (8192 * 1024, 32768),
                (16384 * 1024, 65536),
                (32768 * 1024, 131_072),
            ]
            .iter()
            .find(|(below, _)| blocks < *below)
            .map_or(262_144, |(_, j)| *j);
            journal * 4096
        }
        // mkfs.xfs's log: 1/2048 of the filesystem, at least 64 MiB.
        FsType::Xfs => (size.0 / 2048).max(64 * MIB),
    };
    Bytes(log + grow_cost(fs, size).0 + 8 * MIB)
}

/// What growing a filesystem by `by` takes of a thin pool: ext4's new inode tables (1/64 of the
/// space, zeroed after the first mount); xfs allocates inodes as files come.
pub fn grow_cost(fs: FsType, by: Bytes) -> Bytes {
    match fs {
        FsType::Ext4 => Bytes(by.0 / 64),
        FsType::Xfs => Bytes(0),
    }
}

pub fn mkfs(runner: &dyn Runner, dev: &Path, fs: FsType) -> Result<()> {
    let cmd = match fs {
        FsType::Ext4 => Cmd::new("mkfs.ext4").args(["-q", "-F"]).arg(dev),
        FsType::Xfs => Cmd::new("mkfs.xfs").args(["-q", "-f"]).arg(dev),
    };
    runner
        .run(&cmd)
        .with_context(|| format!("making a {} filesystem on {}", fs.name(), dev.display()))?;
    Ok(())
}

/// e2fsck in repair mode: 0 = clean, 1 = errors corrected; anything else is a failure.
fn e2fsck(runner: &dyn Runner, dev: &Path) -> Result<()> {
    runner
        .run(
            &Cmd::new("e2fsck")
                .args(["-f", "-y"])
                .arg(dev)
                .ok_codes(&[0, 1]),
        )
        .with_context(|| format!("checking the filesystem on {}", dev.display()))?;
    Ok(())
}

/// Give a copied or snapshotted filesystem a new UUID (two filesystems with one UUID confuse
/// mount-by-UUID and xfs refuses to mount the second). With `grow`, also grow it to the device.
pub fn renew(runner: &dyn Runner, dev: &Path, fs: FsType, grow: bool) -> Result<()> {
    match fs {
        FsType::Ext4 => {
            // tune2fs -U and resize2fs both require a freshly checked filesystem.
            e2fsck(runner, dev)?;
            if grow {
                runner
                    .run(&Cmd::new("resize2fs").arg(dev))
                    .with_context(|| format!("growing the filesystem on {}", dev.display()))?;
            }
            runner
                .run(&Cmd::new("tune2fs").args(["-U", "random"]).arg(dev))
                .with_context(|| {
                    format!("giving the filesystem on {} a new UUID", dev.display())
                })?;
        }
        FsType::Xfs => {
            // Mounting once replays the log (xfs_admin refuses a dirty log); xfs grows only
            // while mounted.
            let m = Mount::temp(runner, dev, Some("xfs"), "nouuid")?;
            if grow {
                runner
                    .run(&Cmd::new("xfs_growfs").arg(m.path()))
                    .with_context(|| format!("growing the filesystem on {}", dev.display()))?;
            }
            m.close()?;
            runner
                .run(&Cmd::new("xfs_admin").args(["-U", "generate"]).arg(dev))
                .with_context(|| {
                    format!("giving the filesystem on {} a new UUID", dev.display())
                })?;
        }
    }
    Ok(())
}

/// Copy a directory tree preserving owners, modes, timestamps, xattrs, ACLs, hard links and
/// holes (GNU `cp -a`, a well-tried tool for exactly this).
pub fn copy_tree(runner: &dyn Runner, from: &Path, to: &Path) -> Result<()> {
    runner
        .run(
            &Cmd::new("cp")
                .args(["-a", "--sparse=always", "--no-target-directory"])
                .arg(from)
                .arg(to),
        )
        .with_context(|| format!("copying files from {} to {}", from.display(), to.display()))?;
    Ok(())
}

/// In a data volume while onn fills it: a fill that a crash interrupted is done again.
const FILL_MARKER: &str = ".onn-fill-incomplete";

/// Give a data volume mounted at `root` the image's content at `from`, all or nothing across
/// crashes. Only an empty volume is filled (its data is never overwritten); one that still
/// carries the marker was filled in part, from empty, by an interrupted run: what that run
/// copied is cleared and the fill starts again. Returns whether it filled the volume.
pub fn fill_volume(runner: &dyn Runner, from: &Path, root: &Path) -> Result<bool> {
    let marker = root.join(FILL_MARKER);
    if marker.exists() {
        clear_tree(root, true)?;
    } else if !is_empty_fs(root)? {
        return Ok(false);
    }
    crate::ground::atomic::write(&marker, b"")?;
    copy_tree(runner, from, root)?;
    std::fs::remove_file(&marker).with_context(|| format!("removing {}", marker.display()))?;
    std::fs::File::open(root)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("flushing {}", root.display()))?;
    Ok(true)
}

/// Make, below `root` (the filesystem mounted at `at`), the mount points of the volumes in
/// `mounts` that lie directly in it, where missing (mode 0755, as systemd makes them). A mount
/// inside a nested volume is that volume's to make. Returns the mount points it made.
pub fn make_mount_points<'a>(
    root: &Path,
    at: &str,
    mounts: impl Iterator<Item = &'a str> + Clone,
) -> Result<Vec<String>> {
    let mut made = Vec::new();
    let inside = |m: &str, parent: &str| {
        m != parent && (parent == "/" || m.starts_with(&format!("{parent}/")))
    };
    for m in mounts.clone().filter(|m| inside(m, at)) {
        if mounts.clone().any(|n| inside(n, at) && inside(m, n)) {
            continue;
        }
        let dir = crate::ground::rootfs::resolve(root, m.strip_prefix(at).unwrap_or(m))?;
        if !dir.is_dir() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(&dir)
                .with_context(|| format!("making the mount point {}", dir.display()))?;
            made.push(m.to_string());
        }
    }
    Ok(made)
}

// The kernel's FIFREEZE and FITHAW (linux/fs.h: _IOWR('X', 119/120, int)).
nix::ioctl_readwrite!(fifreeze, b'X', 119, nix::libc::c_int);
nix::ioctl_readwrite!(fithaw, b'X', 120, nix::libc::c_int);

/// Put what was written to the filesystem holding `dir` where a reader that replays no
/// journal finds it. GRUB reads /boot so: after a power cut, the entry and `saved_entry` onn
/// wrote last would be in ext4's journal or xfs's log, not where GRUB looks, until the kernel
/// replays them at the next mount, which GRUB never does. Freezing the filesystem writes it
/// all home (it checkpoints the journal); thawing it right after lets it go on. ostree does the
/// same with /boot. A filesystem that cannot be frozen is synced (FAT has no journal).
pub fn checkpoint(dir: &Path) -> Result<()> {
    use std::os::fd::AsRawFd;
    let d = std::fs::File::open(dir).with_context(|| format!("opening {}", dir.display()))?;
    let mut unused: nix::libc::c_int = 0;
    // SAFETY: the descriptor is open for the whole call and the argument is an int the kernel
    // does not read.
    match unsafe { fifreeze(d.as_raw_fd(), &mut unused) } {
        Ok(_) => {}
        Err(nix::errno::Errno::EOPNOTSUPP) => {
            return nix::unistd::syncfs(d.as_raw_fd())
                .with_context(|| format!("flushing the filesystem of {}", dir.display()));
        }
        Err(e) => {
            return Err(e).with_context(|| format!("freezing the filesystem of {}", dir.display()))
        }
    }
    // SAFETY: as above.
    unsafe { fithaw(d.as_raw_fd(), &mut unused) }
        .with_context(|| format!("thawing the filesystem of {}", dir.display()))?;
    Ok(())
}

/// Remove every file below `dir` but keep the directories (a nested volume may be mounted on
/// one) and, at the top, `lost+found` and the fill marker.
fn clear_tree(dir: &Path, top: bool) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        if top && (name == "lost+found" || name == FILL_MARKER) {
            continue;
        }
        if entry.file_type()?.is_dir() {
            clear_tree(&entry.path(), false)?;
        } else {
            std::fs::remove_file(entry.path())
                .with_context(|| format!("removing {}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// True when a freshly made filesystem holds nothing but `lost+found` and empty directories
/// (an installer makes the mount points of nested volumes, e.g. `log` in /var).
pub fn is_empty_fs(root: &Path) -> Result<bool> {
    fn only_empty_dirs(dir: &Path) -> Result<bool> {
        for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let entry = entry?;
            if !entry.file_type()?.is_dir() || !only_empty_dirs(&entry.path())? {
                return Ok(false);
            }
        }
        Ok(true)
    }
    for entry in std::fs::read_dir(root).with_context(|| format!("reading {}", root.display()))? {
        let entry = entry?;
        let lost_found = entry.file_name() == "lost+found";
        if !lost_found && (!entry.file_type()?.is_dir() || !only_empty_dirs(&entry.path())?) {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mkfs_costs_cover_what_the_guest_measured() {
        let mib = |m: u64| Bytes(m << 20);
        assert!(mkfs_cost(FsType::Ext4, Bytes::gib(1)) >= mib(35));
        for g in [2, 5, 8, 10] {
            assert!(mkfs_cost(FsType::Ext4, Bytes::gib(g)) >= mib(72));
            assert!(mkfs_cost(FsType::Xfs, Bytes::gib(g)) >= mib(68));
        }
        // Its inode tables: 160 MiB of a 10 GiB ext4.
        assert_eq!(mkfs_cost(FsType::Ext4, Bytes::gib(10)), mib(64 + 160 + 8));
    }

    #[test]
    fn mount_points_of_nested_volumes_are_made_in_their_parent_only() {
        let d = tempfile::tempdir().unwrap();
        let mounts = ["/var", "/var/log", "/var/log/audit", "/var/crash", "/home"];
        make_mount_points(d.path(), "/var", mounts.iter().copied()).unwrap();
        let mut made: Vec<_> = walkdir(d.path());
        made.sort();
        assert_eq!(made, ["crash", "log"]);
        make_mount_points(&d.path().join("log"), "/var/log", mounts.iter().copied()).unwrap();
        assert!(d.path().join("log/audit").is_dir());
        let r = tempfile::tempdir().unwrap();
        make_mount_points(r.path(), "/", mounts.iter().copied()).unwrap();
        let mut top: Vec<_> = walkdir(r.path());
        top.sort();
        assert_eq!(top, ["home", "var"]);
    }

    fn walkdir(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn a_filesystem_with_only_mount_points_is_empty_but_one_file_is_not() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("lost+found/#12")).unwrap();
        std::fs::create_dir_all(d.path().join("log/audit")).unwrap();
        assert!(is_empty_fs(d.path()).unwrap());
        std::fs::write(d.path().join("log/audit/audit.log"), b"x").unwrap();
        assert!(!is_empty_fs(d.path()).unwrap());
    }
}
