//! What a block device holds and who uses it, checked before anything is written.

use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::ground::error::{not_found, precondition};
use crate::ground::runner::{Cmd, Runner};
use crate::ground::units::Bytes;

/// Facts about one block device.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Device {
    /// The path as the user gave it.
    pub given: String,
    /// The canonical path (symlinks such as /dev/disk/by-id resolved).
    pub path: String,
    pub size: Bytes,
    /// Filesystem or other signature found by a low-level probe (`LVM2_member`, `ext4`, …).
    pub signature: Option<String>,
    /// Partition table type, if any.
    pub partition_table: Option<String>,
    /// Where it or one of its partitions is mounted.
    pub mounts: Vec<String>,
    /// Device-mapper or md devices built on it.
    pub holders: Vec<String>,
    /// The kernel refused an exclusive open: something holds it.
    pub busy: bool,
    /// Its logical sector size: the smallest unit a filesystem on it can be read in.
    #[serde(default = "default_sector")]
    pub logical_sector: u32,
}

fn default_sector() -> u32 {
    512
}

/// A block device's logical sector size (a partition's is its disk's), from sysfs.
fn logical_sector(sys: &Path) -> u32 {
    [sys.join("queue"), sys.join("../queue")]
        .iter()
        .find_map(|q| fs::read_to_string(q.join("logical_block_size")).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(default_sector())
}

fn dev_numbers(meta: &fs::Metadata) -> (u64, u64) {
    let rdev = meta.rdev();
    (nix::sys::stat::major(rdev), nix::sys::stat::minor(rdev))
}

/// Size of a block device or file.
pub fn size_of(path: &Path) -> Result<Bytes> {
    let mut f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let end = f
        .seek(SeekFrom::End(0))
        .with_context(|| format!("measuring {}", path.display()))?;
    Ok(Bytes(end))
}

/// Run `blkid -p` (a direct probe: no cache, no udev) and return its `KEY=value` pairs.
pub fn probe_signature(runner: &dyn Runner, path: &Path) -> Result<Vec<(String, String)>> {
    // Exit status 2 means "nothing found".
    let out = runner
        .run(
            &Cmd::new("blkid")
                .args(["-p", "-o", "export"])
                .arg(path)
                .ok_codes(&[0, 2]),
        )
        .with_context(|| format!("probing {} for signatures", path.display()))?;
    Ok(out
        .stdout_str()
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

fn lookup<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The filesystem type and UUID a direct probe finds.
pub fn fs_type_and_uuid(
    runner: &dyn Runner,
    path: &Path,
) -> Result<(Option<String>, Option<String>)> {
    let pairs = probe_signature(runner, path)?;
    Ok((
        lookup(&pairs, "TYPE").map(str::to_string),
        lookup(&pairs, "UUID").map(str::to_string),
    ))
}

/// Mount points of devices (major, minor) from /proc/self/mountinfo, plus active swap.
fn mounts_of(numbers: &[(u64, u64)], paths: &[PathBuf]) -> Vec<String> {
    let mut found: Vec<String> = mount_table()
        .unwrap_or_default()
        .into_iter()
        .filter(|m| numbers.contains(&m.dev))
        .map(|m| m.target.to_string_lossy().into_owned())
        .collect();
    if let Ok(swaps) = fs::read_to_string("/proc/swaps") {
        for line in swaps.lines().skip(1) {
            if let Some(dev) = line.split_whitespace().next() {
                if paths.iter().any(|p| p == Path::new(dev)) {
                    found.push("[swap]".to_string());
                }
            }
        }
    }
    found
}

/// Where the whole filesystem on block device `dev` is mounted, if it is (its root, not a
/// bind of a subdirectory).
pub fn mounted_whole(dev: &Path) -> Option<PathBuf> {
    let meta = fs::metadata(dev).ok()?;
    if !meta.file_type().is_block_device() {
        return None;
    }
    let dev = dev_numbers(&meta);
    mount_table()
        .ok()?
        .into_iter()
        .find(|m| m.dev == dev && m.root == "/")
        .map(|m| m.target)
}

/// One line of /proc/self/mountinfo.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MountRow {
    pub dev: (u64, u64),
    /// The directory of the filesystem that is mounted ("/" unless a bind of a subdirectory).
    pub root: String,
    pub target: PathBuf,
    pub fstype: String,
    pub source: String,
}

/// The mount table, in mount order (parents before children, the mount on top last).
pub fn mount_table() -> Result<Vec<MountRow>> {
    mount_table_from(Path::new("/proc/self/mountinfo"))
}

/// The mount table in a mountinfo file (tests give their own).
pub fn mount_table_from(path: &Path) -> Result<Vec<MountRow>> {
    let info = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(parse_mountinfo(&info))
}

fn parse_mountinfo(info: &str) -> Vec<MountRow> {
    info.lines()
        .filter_map(|line| {
            // Fields: id parent maj:min root target options [optional…] - fstype source superopts
            let (left, right) = line.split_once(" - ")?;
            let l: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            if l.len() < 5 || r.len() < 2 {
                return None;
            }
            let (maj, min) = l[2].split_once(':')?;
            Some(MountRow {
                dev: (maj.parse().ok()?, min.parse().ok()?),
                root: unescape_mountinfo(l[3]),
                target: PathBuf::from(unescape_mountinfo(l[4])),
                fstype: r[0].to_string(),
                source: unescape_mountinfo(r[1]),
            })
        })
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as octal; other bytes (UTF-8 names)
/// pass through.
pub fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 4])
                .ok()
                .and_then(|d| u8::from_str_radix(d, 8).ok())
            {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What holds a block device (an LV of a Node to remove): where it is mounted or swapped on,
/// or that the kernel refuses an exclusive open; None when nothing does.
pub fn in_use(dev: &Path) -> Option<String> {
    let path = fs::canonicalize(dev).ok()?;
    let meta = fs::metadata(&path).ok()?;
    let mounts = mounts_of(&[dev_numbers(&meta)], std::slice::from_ref(&path));
    if !mounts.is_empty() {
        return Some(format!("mounted on {}", mounts.join(", ")));
    }
    let busy = OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_EXCL)
        .open(&path)
        .is_err_and(|e| e.raw_os_error() == Some(nix::libc::EBUSY));
    busy.then(|| "held open by another program".to_string())
}

/// Probe a device given by the user.
pub fn probe(runner: &dyn Runner, given: &str) -> Result<Device> {
    let path = fs::canonicalize(given).map_err(|e| {
        not_found(
            "device.missing",
            format!("device {given} does not exist ({e}); check the name (lsblk lists the disks)"),
        )
    })?;
    let meta = fs::metadata(&path).with_context(|| format!("reading {}", path.display()))?;
    if !meta.file_type().is_block_device() {
        return Err(precondition(
            "device.not-block",
            format!("{given} is not a block device; name a disk such as /dev/vdb"),
        ));
    }
    let (maj, min) = dev_numbers(&meta);
    let sys = PathBuf::from(format!("/sys/dev/block/{maj}:{min}"));
    // Holders by the names users know: a device-mapper map (multipath, crypt) as /dev/mapper/NAME.
    let mut holders: Vec<String> = list_dir(&sys.join("holders"))
        .into_iter()
        .map(|h| holder_name(&h))
        .collect();
    // Partitions are subdirectories that have a `partition` file.
    let mut numbers = vec![(maj, min)];
    let mut paths = vec![path.clone()];
    for part in list_dir(&sys) {
        let p = sys.join(&part);
        if p.join("partition").exists() {
            if let Ok(dev) = fs::read_to_string(p.join("dev")) {
                if let Some((a, b)) = dev.trim().split_once(':') {
                    if let (Ok(a), Ok(b)) = (a.parse(), b.parse()) {
                        numbers.push((a, b));
                    }
                }
            }
            paths.push(PathBuf::from("/dev").join(&part));
        }
    }
    let mounts = mounts_of(&numbers, &paths);
    holders.extend(
        loops_backed_by(&numbers)
            .iter()
            .map(|l| format!("/dev/{l}")),
    );
    // The kernel's own "in use" test: an exclusive open fails while the device is mounted,
    // held by device-mapper/md, or opened exclusively by anyone else.
    let busy = OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_EXCL)
        .open(&path)
        .is_err_and(|e| e.raw_os_error() == Some(nix::libc::EBUSY));
    let pairs = probe_signature(runner, &path)?;
    Ok(Device {
        given: given.to_string(),
        path: path.to_string_lossy().into_owned(),
        size: size_of(&path)?,
        signature: lookup(&pairs, "TYPE").map(str::to_string),
        partition_table: lookup(&pairs, "PTTYPE").map(str::to_string),
        mounts,
        holders,
        busy,
        logical_sector: logical_sector(&sys),
    })
}

/// Loop devices whose backing file is one of these devices: a loop over a disk neither shows
/// in the disk's `holders` nor opens it exclusively, so the kernel reports it nowhere else.
fn loops_backed_by(numbers: &[(u64, u64)]) -> Vec<String> {
    list_dir(Path::new("/sys/block"))
        .into_iter()
        .filter(|name| {
            fs::read_to_string(format!("/sys/block/{name}/loop/backing_file"))
                .ok()
                .and_then(|b| fs::metadata(b.trim_end_matches('\n')).ok())
                .is_some_and(|m| {
                    m.file_type().is_block_device() && numbers.contains(&dev_numbers(&m))
                })
        })
        .collect()
}

/// `/dev/mapper/<name> (dm-N)` for a device-mapper holder, `/dev/<h>` for any other.
fn holder_name(h: &str) -> String {
    match fs::read_to_string(Path::new("/sys/class/block").join(h).join("dm/name")) {
        Ok(name) => format!("/dev/mapper/{} ({h})", name.trim()),
        Err(_) => format!("/dev/{h}"),
    }
}

fn list_dir(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .map(|it| {
            it.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The mount whose target is exactly `dir`: (source device, fs type).
pub fn mount_source(dir: &Path) -> Result<Option<(String, String)>> {
    let dir = fs::canonicalize(dir).with_context(|| format!("resolving {}", dir.display()))?;
    // The last matching line is the mount on top.
    Ok(mount_table()?
        .into_iter()
        .rev()
        .find(|m| m.target == dir)
        .map(|m| (m.source, m.fstype)))
}

/// The LV whose device is `source` (matched by device number, so any of its names will do).
fn lv_of_device<'a>(
    lvm: &'a crate::storage::lvm::LvmState,
    source: &str,
) -> Option<&'a crate::storage::lvm::Lv> {
    let rdev = fs::metadata(source).ok()?.rdev();
    lvm.lvs.iter().find(|l| {
        fs::metadata(crate::storage::lvm::lv_path(&l.vg, &l.name)).is_ok_and(|m| m.rdev() == rdev)
    })
}

/// The LV mounted at `dir`.
pub fn lv_mounted_at(
    lvm: &crate::storage::lvm::LvmState,
    dir: &Path,
) -> Result<crate::storage::lvm::Lv> {
    let given = dir.display();
    let (source, _) = mount_source(dir)?.ok_or_else(|| {
        precondition(
            "root.not-mounted",
            format!("{given} is not a mount point; mount the installer's root there first"),
        )
    })?;
    lv_of_device(lvm, &source)
        .cloned()
        .ok_or_else(|| {
            precondition(
                "root.not-lvm",
                format!("{given} is mounted from {source}, which is not an LVM logical volume; imgbased needs / on a thin LV"),
            )
        })
}

/// LVs of `vg` mounted below `dir`, with their mount point relative to `dir` ("/var/log").
pub fn lvs_mounted_below(
    lvm: &crate::storage::lvm::LvmState,
    dir: &Path,
    vg: &str,
) -> Result<Vec<(crate::storage::lvm::Lv, String)>> {
    let dir = fs::canonicalize(dir).with_context(|| format!("resolving {}", dir.display()))?;
    let mut found: Vec<(crate::storage::lvm::Lv, String)> = Vec::new();
    for m in mount_table()? {
        let Ok(rel) = m.target.strip_prefix(&dir) else {
            continue;
        };
        if rel.as_os_str().is_empty() {
            continue;
        }
        if let Some(lv) = lv_of_device(lvm, &m.source).filter(|lv| lv.vg == vg) {
            let mount = format!("/{}", rel.display());
            found.retain(|(_, m)| m != &mount);
            found.push((lv.clone(), mount));
        }
    }
    found.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_rows_are_read_with_optional_fields_and_escapes() {
        let rows = parse_mountinfo(
            "36 35 253:3 / /mnt/sys\\040image rw,relatime shared:1 master:2 - ext4 /dev/mapper/onn-root rw\n\
             37 36 8:1 /sub /mnt/b rw - xfs /dev/vda1 rw\n\
             garbage line\n",
        );
        assert_eq!(
            rows,
            [
                MountRow {
                    dev: (253, 3),
                    root: "/".into(),
                    target: "/mnt/sys image".into(),
                    fstype: "ext4".into(),
                    source: "/dev/mapper/onn-root".into(),
                },
                MountRow {
                    dev: (8, 1),
                    root: "/sub".into(),
                    target: "/mnt/b".into(),
                    fstype: "xfs".into(),
                    source: "/dev/vda1".into(),
                },
            ]
        );
    }

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape_mountinfo("/mnt/a\\040b"), "/mnt/a b");
        assert_eq!(unescape_mountinfo("/plain"), "/plain");
        assert_eq!(unescape_mountinfo("/mnt/my\\040disk-é"), "/mnt/my disk-é");
    }

    #[test]
    fn root_mount_has_a_source() {
        let (src, fstype) = mount_source(Path::new("/")).unwrap().unwrap();
        assert!(!src.is_empty() && !fstype.is_empty());
    }

    #[test]
    fn regular_file_is_not_a_pv_candidate() {
        let f = tempfile::NamedTempFile::new().unwrap();
        let err = probe(
            &crate::ground::runner::SystemRunner,
            f.path().to_str().unwrap(),
        )
        .unwrap_err();
        assert_eq!(crate::ground::error::id_of(&err), "device.not-block");
        let err = probe(
            &crate::ground::runner::SystemRunner,
            "/dev/onn-does-not-exist",
        )
        .unwrap_err();
        assert_eq!(crate::ground::error::id_of(&err), "device.missing");
    }
}
