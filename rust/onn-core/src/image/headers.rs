//! On-disk headers of an image, read before anything is mounted: a damaged or unsupported
//! image is refused with what is wrong, instead of a `mount` failure (or, for a truncated
//! rootfs.img, a failed fsck after the base was written).

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;

use anyhow::{Context, Result};

use crate::ground::error::precondition;
use crate::ground::units::Bytes;
use crate::storage::fs::FsType;

const SQUASHFS_MAGIC: &[u8; 4] = b"hsqs";
/// Compressors the kernel's squashfs reads (ids of the squashfs 4.0 format), by name. The
/// legacy lzma (id 2) is written by mksquashfs but read by no Linux kernel.
const SQUASHFS_COMPRESSORS: [(u16, &str); 5] =
    [(1, "gzip"), (3, "lzo"), (4, "xz"), (5, "lz4"), (6, "zstd")];

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn be64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Read up to `buf.len()` bytes at `offset`; the rest stays zero (a short file).
fn read_at(path: &Path, offset: u64, buf: &mut [u8]) -> Result<()> {
    let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut done = 0;
    while done < buf.len() {
        let n = f
            .read_at(&mut buf[done..], offset + done as u64)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        done += n;
    }
    Ok(())
}

/// Check an image's squashfs superblock: a squashfs 4.0, compressed with what the kernel
/// reads, and complete (the file holds every byte the superblock says the filesystem uses).
pub fn check_squashfs(path: &Path) -> Result<()> {
    let mut sb = [0u8; 96];
    let size = File::open(path)
        .and_then(|mut f| {
            let n = f.read(&mut sb)?;
            Ok((n, f.metadata()?.len()))
        })
        .with_context(|| format!("reading {}", path.display()))?;
    let (read, file_size) = size;
    let shown = path.display();
    if read < sb.len() || &sb[..4] != SQUASHFS_MAGIC {
        return Err(precondition(
            "image.not-squashfs",
            format!("{shown} is not a squashfs image; give the Node image file (*.squashfs.img)"),
        ));
    }
    let (major, minor) = (le16(&sb, 28), le16(&sb, 30));
    let (block_size, block_log) = (le32(&sb, 12), le16(&sb, 22));
    if (major, minor) != (4, 0) || !(12..=20).contains(&block_log) || block_size != 1 << block_log {
        return Err(precondition(
            "image.squashfs-unsupported",
            format!(
                "{shown} has a squashfs {major}.{minor} superblock with block size {block_size}; \
                 onn reads squashfs 4.0 (mksquashfs 4.x): the image is damaged or too old, \
                 rebuild or download it again"
            ),
        ));
    }
    let comp = le16(&sb, 20);
    if !SQUASHFS_COMPRESSORS.iter().any(|(id, _)| *id == comp) {
        let name = if comp == 2 {
            "lzma"
        } else {
            "an unknown compressor"
        };
        return Err(precondition(
            "image.squashfs-unsupported",
            format!(
                "{shown} is compressed with {name} (id {comp}), which Linux cannot read; \
                 rebuild it with mksquashfs -comp {}",
                SQUASHFS_COMPRESSORS.map(|(_, n)| n).join("|")
            ),
        ));
    }
    let used = le64(&sb, 40);
    if used > file_size {
        return Err(precondition(
            "image.truncated",
            format!(
                "{shown} is truncated: its squashfs spans {} but the file has only {}; \
                 download or copy it again",
                Bytes(used),
                Bytes(file_size)
            ),
        ));
    }
    Ok(())
}

/// Bytes a filesystem image's superblock says it spans.
fn fs_span(path: &Path, fs: FsType) -> Result<u64> {
    match fs {
        FsType::Ext4 => {
            // The superblock is at 1024; block count low/high words, log2(block size) - 10.
            let mut sb = [0u8; 1024];
            read_at(path, 1024, &mut sb)?;
            let incompat_64bit = le32(&sb, 0x60) & 0x80 != 0;
            let hi = if incompat_64bit {
                u64::from(le32(&sb, 0x150))
            } else {
                0
            };
            let blocks = hi << 32 | u64::from(le32(&sb, 0x04));
            Ok(blocks << (10 + le32(&sb, 0x18).min(6)))
        }
        FsType::Xfs => {
            // Big-endian: sb_blocksize at 4, sb_dblocks at 8.
            let mut sb = [0u8; 16];
            read_at(path, 0, &mut sb)?;
            Ok(be64(&sb, 8).saturating_mul(u64::from(be32(&sb, 4))))
        }
    }
}

/// The smallest logical sector size of a disk the filesystem in `path` mounts from: ext4 reads
/// in blocks (1 KiB to 64 KiB), xfs in its sector size (`mkfs.xfs -s size=`, 512 by default).
pub fn fs_sector_size(path: &Path, fs: FsType) -> Result<u32> {
    match fs {
        FsType::Ext4 => {
            let mut sb = [0u8; 32];
            read_at(path, 1024, &mut sb)?;
            Ok(1024 << le32(&sb, 0x18).min(6))
        }
        FsType::Xfs => {
            // Big-endian sb_sectsize at 102.
            let mut sb = [0u8; 104];
            read_at(path, 0, &mut sb)?;
            Ok(u32::from(u16::from_be_bytes([sb[102], sb[103]])))
        }
    }
}

/// Check that a `rootfs.img` holds its whole filesystem (a truncated copy mounts, or not,
/// and fails fsck only after it was written).
pub fn check_fs_image(path: &Path, fs: FsType, what: &str) -> Result<()> {
    let span = fs_span(path, fs)?;
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    if span > size {
        return Err(precondition(
            "image.rootfs-truncated",
            format!(
                "{what} is truncated: its {} filesystem spans {} but the file has only {}; \
                 the image was built from a damaged file, rebuild it",
                fs.name(),
                Bytes(span),
                Bytes(size)
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ground::error::id_of;

    /// A squashfs 4.0 superblock: zstd, 128 KiB blocks, `used` bytes.
    fn superblock(comp: u16, used: u64) -> Vec<u8> {
        let mut sb = vec![0u8; 96];
        sb[..4].copy_from_slice(SQUASHFS_MAGIC);
        sb[12..16].copy_from_slice(&(128u32 << 10).to_le_bytes());
        sb[20..22].copy_from_slice(&comp.to_le_bytes());
        sb[22..24].copy_from_slice(&17u16.to_le_bytes());
        sb[28..30].copy_from_slice(&4u16.to_le_bytes());
        sb[40..48].copy_from_slice(&used.to_le_bytes());
        sb
    }

    #[test]
    fn squashfs_superblock_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x.img");
        let check = |bytes: &[u8]| {
            std::fs::write(&f, bytes).unwrap();
            check_squashfs(&f).err().map(|e| id_of(&e))
        };
        let mut good = superblock(6, 4096);
        good.resize(4096, 0);
        assert_eq!(check(&good), None);
        assert_eq!(check(&good[..4000]), Some("image.truncated"));
        assert_eq!(check(b"hsqs"), Some("image.not-squashfs"));
        assert_eq!(check(&[0u8; 4096]), Some("image.not-squashfs"));
        let mut lzma = superblock(2, 96);
        assert_eq!(check(&lzma), Some("image.squashfs-unsupported"));
        lzma[28] = 3; // squashfs 3.x
        assert_eq!(check(&lzma), Some("image.squashfs-unsupported"));
    }

    #[test]
    fn a_filesystem_longer_than_its_file_is_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("rootfs.img");
        // ext4: 1000 blocks of 4 KiB (log 2), in a file of 8 KiB.
        let mut img = vec![0u8; 8192];
        img[1024 + 4..1024 + 8].copy_from_slice(&1000u32.to_le_bytes());
        img[1024 + 0x18..1024 + 0x1c].copy_from_slice(&2u32.to_le_bytes());
        std::fs::write(&f, &img).unwrap();
        let err = check_fs_image(&f, FsType::Ext4, "rootfs.img").unwrap_err();
        assert_eq!(id_of(&err), "image.rootfs-truncated");
        img.resize(4096 * 1000, 0);
        std::fs::write(&f, &img).unwrap();
        assert!(check_fs_image(&f, FsType::Ext4, "rootfs.img").is_ok());
        // xfs: 10 blocks of 4 KiB.
        let mut x = vec![0u8; 4096];
        x[4..8].copy_from_slice(&4096u32.to_be_bytes());
        x[8..16].copy_from_slice(&10u64.to_be_bytes());
        std::fs::write(&f, &x).unwrap();
        let err = check_fs_image(&f, FsType::Xfs, "rootfs.img").unwrap_err();
        assert_eq!(id_of(&err), "image.rootfs-truncated");
    }
}
