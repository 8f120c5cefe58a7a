//! Files written whole or not at all: a temporary file beside the target, flushed, then renamed
//! over it. A crash at any point leaves the old file or the new one.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result};

/// Write a file (temp file + fsync + rename) so a crash leaves old or new, never half.
pub fn write(path: &Path, content: &[u8]) -> Result<()> {
    write_mode(path, content, 0o644)
}

/// [`write`] with a given mode (e.g. a kernel's or a 0600 initramfs's own), set before
/// the file appears under its name.
pub fn write_mode(path: &Path, content: &[u8], mode: u32) -> Result<()> {
    atomically(path, Some(mode), |f| f.write_all(content))
}

/// Copy `src` to `dst` atomically, keeping its mode (RHEL's initramfs is 0600). Streamed in
/// the kernel: a 100 MiB initramfs costs no memory.
pub fn copy(src: &Path, dst: &Path) -> Result<()> {
    let mut from = File::open(src).with_context(|| format!("reading {}", src.display()))?;
    let mode = from
        .metadata()
        .with_context(|| format!("reading {}", src.display()))?
        .permissions()
        .mode()
        & 0o7777;
    atomically(dst, Some(mode), |f| std::io::copy(&mut from, f).map(drop))
        .with_context(|| format!("copying {}", src.display()))
}

/// [`copy`] onto a filesystem without modes of its own (FAT: the mount's umask
/// decides, and a mode it cannot show is refused).
pub fn copy_without_mode(src: &Path, dst: &Path) -> Result<()> {
    let mut from = File::open(src).with_context(|| format!("reading {}", src.display()))?;
    atomically(dst, None, |f| std::io::copy(&mut from, f).map(drop))
        .with_context(|| format!("copying {}", src.display()))
}

/// The extended attribute of a file's SELinux label.
const SELINUX_LABEL: &str = "security.selinux";

/// Fill a temp file next to `path`, give it `mode` (if any) and the SELinux label of the file
/// it replaces (a rename would otherwise leave a file without one: the host's services may
/// not read it), flush it and rename it to `path`.
fn atomically(
    path: &Path,
    mode: Option<u32>,
    fill: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> Result<()> {
    let dir = path.parent().context("a file path has a parent")?;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a file in {}", dir.display()))?;
    fill(tmp.as_file_mut()).with_context(|| format!("writing {}", path.display()))?;
    if let Some(mode) = mode {
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(mode))
            .with_context(|| format!("setting the mode of {}", path.display()))?;
    }
    if let Ok(Some(label)) = xattr::get(path, SELINUX_LABEL) {
        // Best effort: a filesystem without labels (FAT) has none to keep; a new file gets
        // its label from the layer's policy (storage::labels).
        if let Err(e) = xattr::set(tmp.path(), SELINUX_LABEL, &label) {
            tracing::debug!("keeping the SELinux label of {}: {e}", path.display());
        }
    }
    tmp.as_file()
        .sync_all()
        .with_context(|| format!("flushing {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("renaming into {}", path.display()))?;
    crate::ground::fault::point(&|| format!("wrote {}", path.display()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_file_keeps_its_selinux_label() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("fstab");
        write(&f, b"old").unwrap();
        let label = b"system_u:object_r:etc_t:s0";
        // Only root sets attributes of the security namespace (the test tiers run as root).
        if !nix::unistd::Uid::effective().is_root() {
            return;
        }
        xattr::set(&f, SELINUX_LABEL, label).unwrap();
        write(&f, b"new").unwrap();
        assert_eq!(fs::read(&f).unwrap(), b"new");
        assert_eq!(
            xattr::get(&f, SELINUX_LABEL).unwrap().as_deref(),
            Some(&label[..])
        );
    }

    #[test]
    fn atomic_writes_replace_whole_files_with_the_given_mode() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("layer/initramfs.img");
        write_mode(&f, b"secret", 0o600).unwrap();
        assert_eq!(
            fs::metadata(&f).unwrap().permissions().mode() & 0o7777,
            0o600
        );
        write(&f, b"new").unwrap();
        assert_eq!(fs::read(&f).unwrap(), b"new");
        assert_eq!(
            fs::metadata(&f).unwrap().permissions().mode() & 0o7777,
            0o644
        );
        // No temporary file is left beside it.
        assert_eq!(fs::read_dir(f.parent().unwrap()).unwrap().count(), 1);
    }

    #[test]
    fn a_copy_keeps_content_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("initramfs");
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        fs::write(&src, &data).unwrap();
        fs::set_permissions(&src, fs::Permissions::from_mode(0o600)).unwrap();
        let dst = dir.path().join("layer/initramfs.img");
        copy(&src, &dst).unwrap();
        assert_eq!(fs::read(&dst).unwrap(), data);
        assert_eq!(
            fs::metadata(&dst).unwrap().permissions().mode() & 0o7777,
            0o600
        );
        let err = copy(&dir.path().join("missing"), &dst).unwrap_err();
        assert!(format!("{err:#}").contains("missing"), "{err:#}");
        assert_eq!(
            fs::read(&dst).unwrap(),
            data,
            "a failed copy leaves the old file"
        );
    }
}
