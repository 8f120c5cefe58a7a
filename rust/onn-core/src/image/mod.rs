//! Reading a Node image: checksum, squashfs, `LiveOS/rootfs.img`, NVR, kernels. Below it: where
//! it comes from ([`source`]: a squashfs or oVirt's image-update RPM ([`rpm`]), a file or a
//! URL, and the keys that must have signed it ([`signature`])), its download ([`fetch`]) and
//! digest ([`digest`]), the squashfs and filesystem headers read
//! before anything is mounted (`headers`), one file of the squashfs as blocks ([`squash`]) and
//! their copy onto an LV ([`copy`]), and what the host's imgbased needs to update it
//! ([`updatable`]).

pub mod copy;
pub mod digest;
pub mod fetch;
mod headers;
pub mod nvr;
pub mod rpm;
pub mod signature;
pub mod source;
pub mod squash;
pub mod updatable;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::{Context, Result};

use crate::boot::Kernel;
use crate::ground::error::{not_found, precondition};
use crate::ground::rootfs;
use crate::ground::runner::Runner;
use crate::ground::units::Bytes;
use crate::image::digest::{FileDigest, FileId};
use crate::image::nvr::Nvr;
use crate::image::squash::SquashFile;
use crate::names;
use crate::storage::blockdev;
use crate::storage::fs::FsType;
use crate::storage::guard::Mount;

/// How the OS is stored in the squashfs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// `LiveOS/rootfs.img`, a filesystem image: copied block by block.
    Liveos,
    /// The root tree itself at the top of the squashfs: copied file by file into a new
    /// filesystem.
    Tree,
}

/// What onn knows about an image after reading it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageFacts {
    pub path: String,
    pub size: Bytes,
    /// The sha256 that was verified, when one was given.
    pub sha256: Option<String>,
    pub layout: Layout,
    pub nvr: Nvr,
    /// Filesystem of `rootfs.img` (None for a plain tree: onn makes the filesystem).
    pub fs: Option<FsType>,
    /// Bytes to write: the size of `rootfs.img`, or the tree's file data.
    pub rootfs_size: Bytes,
    /// Newest first (rpm version order).
    pub kernels: Vec<Kernel>,
    /// The image's own kernel arguments (`/etc/kernel/cmdline`), if any.
    pub cmdline: String,
    /// What the image lacks for the host's imgbased to update it later (it installs).
    #[serde(default)]
    pub warnings: Vec<crate::image::updatable::Warning>,
    /// Its EFI boot files (`/boot/efi/EFI`), as paths on the ESP.
    #[serde(default)]
    pub efi_files: Vec<crate::boot::efi::EfiFile>,
    /// The largest logical sector size of a disk its filesystem mounts from (None: a plain
    /// tree, whose filesystem onn makes for the disks).
    #[serde(default)]
    pub fs_sector: Option<u32>,
    /// Who signed it and the RPM it came out of ([`source::obtain`]); left out when neither.
    #[serde(default, skip_serializing_if = "source::Provenance::is_empty")]
    pub provenance: source::Provenance,
}

/// An image as one read found it: its facts (with the SHA-256 that was verified, if one was
/// given) and the file they were read from, identified before it was read. It stands for
/// the image while the file is unchanged: opening it again then neither hashes nor mounts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRead {
    pub facts: ImageFacts,
    /// None: the file could not be identified, so nothing would tell a change.
    file: Option<FileId>,
}

impl ImageRead {
    /// The verified SHA-256 as a digest of the file it was read from.
    pub fn digest(&self) -> Option<FileDigest> {
        let sha256 = self.facts.sha256.as_deref()?;
        Some(FileDigest::new(sha256, self.file.clone()?))
    }

    /// Whether the file identified now as `file` is the one this was read from.
    fn holds_for(&self, file: Option<&FileId>) -> bool {
        self.file.is_some() && self.file.as_ref() == file
    }
}

/// What this process already knows of an image file, each part counting only while the file
/// is unchanged: its digest (a download's, computed as its bytes arrived; an earlier verified
/// read's) and an earlier read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Known {
    pub digest: Option<FileDigest>,
    pub read: Option<ImageRead>,
}

impl Known {
    /// An image read before: its facts, and its digest when it was verified.
    pub fn read(read: ImageRead) -> Known {
        Known {
            digest: read.digest(),
            read: Some(read),
        }
    }
}

/// An image opened for installation: its squashfs stays mounted while this lives, when it is
/// (a plain tree's files are copied from the mount; an image known from an earlier read is
/// not mounted again for its facts, and its base is written from the squashfs's blocks).
pub struct OpenImage<'r> {
    squash: Option<Mount<'r>>,
    /// `LiveOS/rootfs.img`'s block list, for the base write (None for a plain tree).
    rootfs: Option<SquashFile>,
    /// The file as it was before it was read (None: it cannot be stat'ed).
    file: Option<FileId>,
    pub facts: ImageFacts,
}

impl<'r> OpenImage<'r> {
    /// Verify (when a checksum is given), mount and read an image. `known`: its digest from
    /// its download, used instead of hashing it again while the file is unchanged.
    pub fn open(
        runner: &'r dyn Runner,
        path: &Path,
        sha256: Option<&str>,
        known: Option<&FileDigest>,
    ) -> Result<OpenImage<'r>> {
        let known = Known {
            digest: known.cloned(),
            read: None,
        };
        Self::open_known(runner, path, sha256, &known)
    }

    /// [`Self::open`], with what is already known of the image: an earlier read of the same,
    /// unchanged file is taken as it is (no mount for its facts), a known digest instead of
    /// hashing it again.
    pub fn open_known(
        runner: &'r dyn Runner,
        path: &Path,
        sha256: Option<&str>,
        known: &Known,
    ) -> Result<OpenImage<'r>> {
        let path = std::fs::canonicalize(path).map_err(|e| {
            not_found(
                "image.missing",
                format!(
                    "image {} cannot be opened ({e}); check its path",
                    path.display()
                ),
            )
        })?;
        if !path.is_file() {
            return Err(precondition(
                "image.not-file",
                format!(
                    "image {} is not a file; give the Node image file (*.squashfs.img)",
                    path.display()
                ),
            ));
        }
        // Before anything is read: a change while it is read makes what was read stale.
        let file = FileId::of(&path);
        let earlier = known.read.as_ref().filter(|r| r.holds_for(file.as_ref()));
        let digest = known
            .digest
            .clone()
            .or_else(|| earlier.and_then(ImageRead::digest));
        let want = sha256.map(digest::parse_sha256).transpose()?;
        // Hashing and reading the image only read it, so they run side by side. A mismatch
        // is reported first, whatever else failed: it explains the rest.
        let (got, opened) = std::thread::scope(|s| {
            let hash = want
                .as_ref()
                .map(|_| s.spawn(|| digest::sha256_of(&path, digest.as_ref())));
            let opened = match earlier {
                Some(r) => Self::reopen(runner, &path, &r.facts),
                None => Self::read(runner, &path),
            };
            let got = hash.map(|h| h.join().expect("hashing the image panicked"));
            (got, opened)
        });
        let verified = match (want, got) {
            (Some(want), Some(got)) => Some(digest::check(&path, &want, got?)?),
            _ => None,
        };
        let mut image = opened?;
        image.facts.sha256 = verified;
        image.file = file;
        Ok(image)
    }

    /// What this read found, to open the same image again without reading it.
    pub fn as_read(&self) -> ImageRead {
        ImageRead {
            facts: self.facts.clone(),
            file: self.file.clone(),
        }
    }

    /// An image read before, unchanged since: its facts as they were; the squashfs mounted
    /// only for a plain tree, whose files are copied from the mount.
    fn reopen(runner: &'r dyn Runner, path: &Path, facts: &ImageFacts) -> Result<OpenImage<'r>> {
        let (squash, rootfs) = match facts.layout {
            Layout::Liveos => (None, Some(SquashFile::open(path, names::ROOTFS_IMG)?)),
            Layout::Tree => (Some(mount_squash(runner, path)?), None),
        };
        Ok(OpenImage {
            squash,
            rootfs,
            file: None,
            facts: facts.clone(),
        })
    }

    fn read(runner: &'r dyn Runner, path: &Path) -> Result<OpenImage<'r>> {
        let squash = mount_squash(runner, path)?;
        let rootfs_img = squash.path().join(names::ROOTFS_IMG);
        // The image's facts are read through this path: a symlink in the image (LiveOS ->
        // /dev) must not lead to a file of the machine onn runs on.
        if rootfs::resolve(squash.path(), names::ROOTFS_IMG)? != rootfs_img {
            return Err(precondition(
                "image.rootfs-symlink",
                format!(
                    "{} in {} is a symbolic link; a Node image holds the file itself: rebuild \
                     the image",
                    names::ROOTFS_IMG,
                    path.display()
                ),
            ));
        }
        let (facts, rootfs) = if rootfs_img.is_file() {
            (
                read_liveos(runner, path, &rootfs_img)?,
                Some(SquashFile::open(path, names::ROOTFS_IMG)?),
            )
        } else if rootfs::resolve(squash.path(), names::NVR_FILE)?.is_file() {
            (read_tree(runner, squash.path(), path)?, None)
        } else {
            return Err(precondition(
                "image.no-rootfs",
                format!(
                    "{} holds neither {} nor a root tree with {}; it is not a Node image: give \
                     the oVirt Node image (a squashfs with {})",
                    path.display(),
                    names::ROOTFS_IMG,
                    names::NVR_FILE,
                    names::ROOTFS_IMG
                ),
            ));
        };
        Ok(OpenImage {
            squash: Some(squash),
            rootfs,
            file: None,
            facts: ImageFacts {
                size: blockdev::size_of(path)?,
                ..facts
            },
        })
    }

    /// `LiveOS/rootfs.img` as blocks of the squashfs, for the base write.
    pub fn rootfs(&self) -> Option<&SquashFile> {
        self.rootfs.as_ref()
    }

    /// The plain tree's root, to copy its files from (None for a `LiveOS/rootfs.img` image,
    /// whose base is written from the squashfs's blocks).
    pub fn tree(&self) -> Option<&Path> {
        match self.facts.layout {
            Layout::Liveos => None,
            Layout::Tree => self.squash.as_ref().map(|m| m.path()),
        }
    }

    /// Copy each kernel and its initramfs into `dest/boot/` under the names an installer's
    /// tarball payload uses (`vmlinuz-<kver>`, `initramfs-<kver>.img`), keeping their modes,
    /// and the image's EFI boot files into `dest/boot/efi/EFI/`. Returns the paths written,
    /// relative to `dest`.
    pub fn export_boot(&self, runner: &dyn Runner, dest: &Path) -> Result<Vec<String>> {
        // The files are in the image's filesystem: a `LiveOS/rootfs.img` is mounted from the
        // squashfs, itself mounted when this image was opened from an earlier read.
        let squash = match &self.squash {
            Some(_) => None,
            None => Some(mount_squash(runner, Path::new(&self.facts.path))?),
        };
        let squash_root = self
            .squash
            .as_ref()
            .or(squash.as_ref())
            .map(|m| m.path().to_path_buf())
            .context("the image's squashfs is mounted")?;
        let mounted = match self.facts.layout {
            Layout::Liveos => {
                let fs = self.facts.fs.unwrap_or(FsType::Ext4);
                Some(Mount::temp(
                    runner,
                    &squash_root.join(names::ROOTFS_IMG),
                    Some(fs.name()),
                    &format!("{},loop", fs.read_only_options()),
                )?)
            }
            Layout::Tree => None,
        };
        let root = mounted.as_ref().map_or(squash_root.as_path(), |m| m.path());
        let boot = dest.join("boot");
        std::fs::create_dir_all(&boot).with_context(|| format!("creating {}", boot.display()))?;
        let mut written = Vec::new();
        for k in &self.facts.kernels {
            for (from, name) in [
                (&k.linux, format!("vmlinuz-{}", k.version)),
                (&k.initrd, format!("initramfs-{}.img", k.version)),
            ] {
                let src = rootfs::resolve(root, from)?;
                std::fs::copy(&src, boot.join(&name))
                    .with_context(|| format!("copying {} from the image", src.display()))?;
                written.push(format!("boot/{name}"));
            }
        }
        // The ESP's files (Anaconda's payload unpacks them onto the ESP mounted at /boot/efi),
        // mode 0700: what Anaconda's ESP mount (umask=0077) shows, so unpacking sets no mode
        // FAT cannot keep.
        for f in &self.facts.efi_files {
            let rel = format!("boot/efi/{}", f.path);
            let src = rootfs::resolve(root, &rel)?;
            let dst = dest.join(&rel);
            std::fs::create_dir_all(dst.parent().context("an EFI file has a directory")?)
                .with_context(|| format!("creating the directory of {}", dst.display()))?;
            std::fs::copy(&src, &dst)
                .with_context(|| format!("copying {} from the image", src.display()))?;
            std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("setting the mode of {}", dst.display()))?;
            written.push(rel);
        }
        if let Some(m) = mounted {
            m.close()?;
        }
        if let Some(m) = squash {
            m.close()?;
        }
        Ok(written)
    }

    pub fn close(self) -> Result<()> {
        match self.squash {
            Some(m) => m.close(),
            None => Ok(()),
        }
    }
}

fn mount_squash<'a>(runner: &'a dyn Runner, path: &Path) -> Result<Mount<'a>> {
    headers::check_squashfs(path)?;
    Mount::temp(runner, path, Some("squashfs"), "ro,loop")
        .with_context(|| format!("opening image {}", path.display()))
}

fn read_liveos(runner: &dyn Runner, image: &Path, rootfs_img: &Path) -> Result<ImageFacts> {
    let (found, _) = blockdev::fs_type_and_uuid(runner, rootfs_img)?;
    let what = format!("{} in {}", names::ROOTFS_IMG, image.display());
    let fs = FsType::from_probe(found.as_deref(), &what)?;
    headers::check_fs_image(rootfs_img, fs, &what)?;
    let size = blockdev::size_of(rootfs_img)?;
    let root = Mount::temp(
        runner,
        rootfs_img,
        Some(fs.name()),
        &format!("{},loop", fs.read_only_options()),
    )
    .with_context(|| format!("reading {} in {}", names::ROOTFS_IMG, image.display()))?;
    let mut facts = read_root(runner, root.path(), image, Layout::Liveos, Some(fs), size)?;
    facts.fs_sector = Some(headers::fs_sector_size(rootfs_img, fs)?);
    root.close()?;
    Ok(facts)
}

fn read_tree(runner: &dyn Runner, root: &Path, image: &Path) -> Result<ImageFacts> {
    let size = tree_size(root)?;
    read_root(runner, root, image, Layout::Tree, None, size)
}

/// Bytes of file data in a tree (hard links counted once).
fn tree_size(root: &Path) -> Result<Bytes> {
    use std::collections::HashSet;
    use std::os::unix::fs::MetadataExt;
    let mut seen = HashSet::new();
    let mut total = 0u64;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
            let e = e?;
            let m = e.metadata()?;
            if m.is_dir() {
                stack.push(e.path());
            } else if m.is_file() && seen.insert(m.ino()) {
                total += m.blocks() * 512;
            }
        }
    }
    Ok(Bytes(total))
}

fn read_root(
    runner: &dyn Runner,
    root: &Path,
    image: &Path,
    layout: Layout,
    fs: Option<FsType>,
    size: Bytes,
) -> Result<ImageFacts> {
    let nvr_path = rootfs::resolve(root, names::NVR_FILE)?;
    let text = std::fs::read_to_string(&nvr_path).map_err(|_| {
        precondition(
            "image.no-nvr",
            format!(
                "image {} has no /{}; imgbased cannot manage an image without its NVR: use \
                 an image built for oVirt Node",
                image.display(),
                names::NVR_FILE
            ),
        )
    })?;
    let nvr = Nvr::parse(text.trim())?;
    let cmdline = read_cmdline(root)?;
    let kernels = find_kernels(root)?;
    let warnings = crate::image::updatable::check(runner, root, &text, &kernels);
    for w in &warnings {
        tracing::warn!("{}", w.message);
    }
    Ok(ImageFacts {
        path: image.to_string_lossy().into_owned(),
        size: Bytes(0),
        sha256: None,
        layout,
        nvr,
        fs,
        rootfs_size: size,
        kernels,
        cmdline,
        warnings,
        efi_files: crate::boot::efi::list_files(root, crate::boot::efi::IMAGE_EFI_DIR)?,
        fs_sector: None,
        provenance: source::Provenance::default(),
    })
}

/// The root's own kernel arguments (`/etc/kernel/cmdline`), whitespace-normalised; empty when
/// it has none.
pub fn read_cmdline(root: &Path) -> Result<String> {
    let path = rootfs::resolve(root, names::KERNEL_CMDLINE_FILE)?;
    Ok(std::fs::read_to_string(path)
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default())
}

/// Kernels that have both a kernel image and an initramfs, newest first. Looks where Fedora/RHEL
/// (`/lib/modules/<v>/vmlinuz`, `/boot/initramfs-<v>.img`) and Debian (`/boot/vmlinuz-<v>`,
/// `/boot/initrd.img-<v>`) put them.
pub fn find_kernels(root: &Path) -> Result<Vec<Kernel>> {
    let mut versions = Vec::new();
    for dir in ["usr/lib/modules", "lib/modules"] {
        let d = rootfs::resolve(root, dir)?;
        if let Ok(rd) = std::fs::read_dir(&d) {
            for e in rd.flatten() {
                let v = e.file_name().to_string_lossy().into_owned();
                if !versions.contains(&v) {
                    versions.push(v);
                }
            }
        }
    }
    let exists = |rel: &str| {
        rootfs::resolve(root, rel)
            .map(|p| p.is_file())
            .unwrap_or(false)
    };
    let mut kernels: Vec<Kernel> = versions
        .into_iter()
        .filter_map(|v| {
            let linux = [
                format!("boot/vmlinuz-{v}"),
                format!("usr/lib/modules/{v}/vmlinuz"),
            ]
            .into_iter()
            .find(|p| exists(p))?;
            let initrd = [
                format!("boot/initramfs-{v}.img"),
                format!("boot/initrd.img-{v}"),
            ]
            .into_iter()
            .find(|p| exists(p))?;
            Some(Kernel {
                version: v,
                linux,
                initrd,
            })
        })
        .collect();
    kernels.sort_by(|a, b| nvr::rpmvercmp(&b.version, &a.version));
    Ok(kernels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ground::runner::{Cmd, Output, Recorder};
    use std::io::Write;

    /// A runner that runs nothing: opening the image must not mount it.
    fn refuses() -> Recorder<impl Fn(&Cmd) -> Result<Output> + Send + Sync> {
        Recorder::new(|c: &Cmd| anyhow::bail!("{:?} was run", c.argv()))
    }

    #[test]
    fn an_image_read_before_is_neither_mounted_nor_hashed_again_until_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let data = crate::image::copy::tests::sample(4, 128 << 10);
        let path = crate::image::copy::tests::squashfs_of(dir.path(), &data, &["-comp", "zstd"]);
        // What an earlier read found, with a digest that is not the file's: taken as it is,
        // it proves the file was not hashed again.
        let stand_in = "ab".repeat(32);
        let read = ImageRead {
            facts: ImageFacts {
                path: path.display().to_string(),
                sha256: Some(stand_in.clone()),
                ..crate::plan::tests::image()
            },
            file: FileId::of(&path),
        };
        let runner = refuses();
        let known = Known::read(read.clone());
        let img = OpenImage::open_known(&runner, &path, Some(&stand_in), &known).unwrap();
        assert_eq!(img.facts.nvr, read.facts.nvr);
        assert_eq!(img.facts.sha256.as_deref(), Some(stand_in.as_str()));
        assert_eq!(img.rootfs().map(SquashFile::size), Some(data.len() as u64));
        assert_eq!(img.as_read(), read);
        img.close().unwrap();
        assert!(runner.calls().is_empty(), "{:?}", runner.calls());

        // Changed since: hashed (and found not to be what the checksum says) and read again.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"x")
            .unwrap();
        let Err(err) = OpenImage::open_known(&runner, &path, Some(&stand_in), &known) else {
            panic!("a changed image was taken as read before");
        };
        assert_eq!(crate::ground::error::id_of(&err), "sha256.mismatch");
        assert_eq!(runner.calls().len(), 1, "mounted to be read again");
    }

    #[test]
    fn kernels_found_in_both_layouts_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        for d in [
            "usr/lib/modules/5.14.0-1.el9/",
            "usr/lib/modules/5.14.0-10.el9",
            "usr/lib/modules/6.1.0-9",
            "boot",
        ] {
            std::fs::create_dir_all(r.join(d)).unwrap();
        }
        std::os::unix::fs::symlink("usr/lib", r.join("lib")).unwrap();
        for f in [
            "usr/lib/modules/5.14.0-1.el9/vmlinuz",
            "boot/initramfs-5.14.0-1.el9.img",
            "usr/lib/modules/5.14.0-10.el9/vmlinuz",
            "boot/initramfs-5.14.0-10.el9.img",
            "boot/vmlinuz-6.1.0-9", // no initramfs: not bootable, left out
        ] {
            std::fs::write(r.join(f), b"k").unwrap();
        }
        let k = find_kernels(r).unwrap();
        let v: Vec<_> = k.iter().map(|k| k.version.as_str()).collect();
        assert_eq!(v, ["5.14.0-10.el9", "5.14.0-1.el9"]);
        assert_eq!(k[0].linux, "usr/lib/modules/5.14.0-10.el9/vmlinuz");
    }
}
