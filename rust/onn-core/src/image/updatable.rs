//! What the installed host's imgbased needs of an image to update it later. onn installs an
//! image that lacks these, and says so with a warning each (stable ids, for translation);
//! `--strict` (the kickstart's `strict`) makes them refusals. The rules follow imgbased
//! 1.2.26: `bootloader.py` (entries by title), `plugins/osupdater.py` (release CPE, factory
//! /etc, sshd_config, /dev/urandom, /etc/default/grub), `bootsetup.py` (the kernel from the
//! rpm database), `utils.py` (`BuildMetadata` reads the NVR file unstripped).

use std::path::Path;

use crate::boot::Kernel;
use crate::ground::rootfs;
use crate::ground::runner::{resolve_tool, Cmd, Runner};

/// One thing the image lacks for imgbased's update.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Warning {
    /// Stable, dotted id: `image.update.<what>`.
    pub id: String,
    /// English text (the addon shows its own translation of `id`).
    pub message: String,
}

/// The ids, in the order they are checked.
pub const IDS: [&str; 8] = [
    NAME,
    NVR_SPACE,
    RELEASE_CPE,
    FACTORY_ETC,
    DEFAULT_GRUB,
    SSHD_CONFIG,
    RPMDB,
    DEV_URANDOM,
];
const NAME: &str = "image.update.name";
const NVR_SPACE: &str = "image.update.nvr-space";
const RELEASE_CPE: &str = "image.update.release-cpe";
const FACTORY_ETC: &str = "image.update.factory-etc";
const DEFAULT_GRUB: &str = "image.update.default-grub";
const SSHD_CONFIG: &str = "image.update.sshd-config";
const RPMDB: &str = "image.update.rpmdb";
const DEV_URANDOM: &str = "image.update.dev-urandom";

/// The products imgbased updates (`SystemRelease.is_supported_product`).
const PRODUCTS: [&str; 3] = ["fedora", "centos", "enterprise_linux"];
/// Where imgbased reads the image's rpm database (`bootsetup.py`), and its file names.
const RPMDB_DIR: &str = "usr/share/rpm";
const RPMDB_FILES: [&str; 3] = ["rpmdb.sqlite", "Packages", "Packages.db"];

/// In strict mode, the first warning as a refusal under its own id; otherwise nothing.
pub fn refuse_if_strict(warnings: &[Warning], strict: bool) -> anyhow::Result<()> {
    match warnings.first().filter(|_| strict) {
        Some(w) => {
            let id = IDS
                .into_iter()
                .find(|i| *i == w.id)
                .unwrap_or("image.update");
            Err(crate::ground::error::precondition(
                id,
                format!("{} (refused: strict)", w.message),
            ))
        }
        None => Ok(()),
    }
}

fn warning(id: &str, why: String) -> Warning {
    Warning {
        id: id.to_string(),
        message: format!(
            "the image installs, but the host's imgbased will not be able to update it, because {why}"
        ),
    }
}

/// The warnings for an image whose root tree is at `root`, whose NVR file holds `nvr_text`
/// and whose kernels are `kernels`. `runner` asks the host's rpm (when it has one) which
/// files the image's `kernel` package owns.
pub fn check(runner: &dyn Runner, root: &Path, nvr_text: &str, kernels: &[Kernel]) -> Vec<Warning> {
    check_with(runner, resolve_tool("rpm").is_ok(), root, nvr_text, kernels)
}

fn check_with(
    runner: &dyn Runner,
    have_rpm: bool,
    root: &Path,
    nvr_text: &str,
    kernels: &[Kernel],
) -> Vec<Warning> {
    let nvr = nvr_text.trim();
    let at = |rel: &str| rootfs::resolve(root, rel).ok();
    let is_file = |rel: &str| at(rel).is_some_and(|p| p.is_file());
    let mut out = Vec::new();
    if !nvr.contains("node") && !nvr.contains("rhvh") {
        out.push(warning(
            NAME,
            format!("its NVR {nvr} has neither \"node\" nor \"rhvh\" in it, and imgbased tells its own boot entries by those words in their titles: rebuild the image under a Node name"),
        ));
    }
    if nvr_text != nvr {
        out.push(warning(
            NVR_SPACE,
            format!("/{} has white space around {nvr}, which imgbased keeps in the names of the LVs it creates: rebuild the image with the NVR alone in that file", crate::names::NVR_FILE),
        ));
    }
    let cpe = at("etc/system-release-cpe")
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default();
    let product = cpe.trim().split(':').nth(3).unwrap_or("");
    if !cpe.starts_with("cpe:") || !PRODUCTS.contains(&product) {
        out.push(warning(
            RELEASE_CPE,
            format!("/etc/system-release-cpe names no product imgbased updates ({}): build the image on one of them", PRODUCTS.join(", ")),
        ));
    }
    if !at("usr/share/factory/etc").is_some_and(|p| p.is_dir()) {
        out.push(warning(
            FACTORY_ETC,
            "it has no /usr/share/factory/etc, from which imgbased merges /etc into the next layer: build the image with it".into(),
        ));
    }
    if !is_file(crate::names::DEFAULT_GRUB) {
        out.push(warning(
            DEFAULT_GRUB,
            "it has no /etc/default/grub, from which imgbased takes the next layer's kernel arguments: build the image with grub2's defaults file".into(),
        ));
    }
    if !is_file("etc/ssh/sshd_config") {
        out.push(warning(
            SSHD_CONFIG,
            "it has no /etc/ssh/sshd_config, which imgbased edits at every update: build the image with openssh-server".into(),
        ));
    }
    if let Some(why) = rpmdb_problem(runner, have_rpm, root, kernels) {
        out.push(warning(RPMDB, why));
    }
    // Whatever it is (a device node, a file, a link): imgbased's mknod fails on any.
    if at("dev").is_some_and(|d| d.join("urandom").symlink_metadata().is_ok()) {
        out.push(warning(
            DEV_URANDOM,
            "it already holds a /dev/urandom, which imgbased creates at each update and fails to: build the image with an empty /dev".into(),
        ));
    }
    out
}

/// Why imgbased would not find the kernel through the image's rpm database, if it would not.
fn rpmdb_problem(
    runner: &dyn Runner,
    have_rpm: bool,
    root: &Path,
    kernels: &[Kernel],
) -> Option<String> {
    let db = rootfs::resolve(root, RPMDB_DIR).ok()?;
    if !RPMDB_FILES.iter().any(|f| db.join(f).is_file()) {
        return Some(format!(
            "it has no rpm database in /{RPMDB_DIR}, where imgbased looks up its kernel package: build the image with rpm"
        ));
    }
    // Without rpm on this machine the database is there, which is as far as onn can see.
    if !have_rpm {
        return None;
    }
    let files = runner
        .run(
            &Cmd::new("rpm")
                .arg("--dbpath")
                .arg(&db)
                .args([
                    "-q",
                    "--whatprovides",
                    "kernel",
                    "--queryformat",
                    "[%{FILENAMES}\\n]",
                ])
                .ok_codes(&[0, 1]),
        )
        .map(|o| o.stdout_str())
        .unwrap_or_default();
    let owned: Vec<&str> = files.lines().map(|l| l.trim_start_matches('/')).collect();
    let kernel = kernels.first()?;
    let initramfs = format!("boot/initramfs-{}.img", kernel.version);
    let found = [format!("boot/vmlinuz-{}", kernel.version), initramfs]
        .into_iter()
        .all(|f| {
            owned.contains(&f.as_str()) && rootfs::resolve(root, &f).is_ok_and(|p| p.exists())
        });
    (!found).then(|| {
        format!(
            "no package providing \"kernel\" in its rpm database owns /boot/vmlinuz-{v} and /boot/initramfs-{v}.img, which imgbased copies from that package's files: build the image with the kernel installed by rpm",
            v = kernel.version
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ground::runner::Recorder;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (f, text) in files {
            let p = d.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        d
    }

    fn ids(w: &[Warning]) -> Vec<&str> {
        w.iter().map(|w| w.id.as_str()).collect()
    }

    #[test]
    fn an_image_that_lacks_everything_gets_every_warning_but_the_urandom_one() {
        let root = tree(&[]);
        let none = Recorder::new(|_| Ok(Default::default()));
        let w = check_with(&none, true, root.path(), "onn-tiny-1.0-0.1\n", &[]);
        // Every id in its order, but the last: a tree without /dev/urandom is right.
        assert_eq!(ids(&w), IDS[..IDS.len() - 1]);
        assert_eq!(IDS.last(), Some(&DEV_URANDOM));
        assert!(w.iter().all(|w| w.message.starts_with(
            "the image installs, but the host's imgbased will not be able to update it, because "
        )));
    }

    #[test]
    fn a_node_image_with_what_imgbased_reads_gets_none_but_what_rpm_says() {
        let root = tree(&[
            ("etc/system-release-cpe", "cpe:/o:centos:centos:9\n"),
            ("usr/share/factory/etc/passwd", ""),
            ("etc/default/grub", "GRUB_CMDLINE_LINUX=\"\"\n"),
            ("etc/ssh/sshd_config", ""),
            ("usr/share/rpm/rpmdb.sqlite", ""),
            ("boot/vmlinuz-6.1", ""),
            ("boot/initramfs-6.1.img", ""),
        ]);
        let kernel = Kernel {
            version: "6.1".into(),
            linux: "boot/vmlinuz-6.1".into(),
            initrd: "boot/initramfs-6.1.img".into(),
        };
        let owner = Recorder::new(|_| {
            Ok(crate::ground::runner::Output {
                stdout: b"/boot/vmlinuz-6.1\n/boot/initramfs-6.1.img\n/lib/modules/6.1/vmlinuz\n"
                    .to_vec(),
                stderr: Vec::new(),
            })
        });
        let nvr = "ovirt-node-ng-4.5.5-0.1";
        let w = check_with(
            &owner,
            true,
            root.path(),
            nvr,
            std::slice::from_ref(&kernel),
        );
        assert_eq!(ids(&w), Vec::<&str>::new());
        assert_eq!(
            owner.calls(),
            [vec![
                "rpm".to_string(),
                "--dbpath".into(),
                root.path().join("usr/share/rpm").display().to_string(),
                "-q".into(),
                "--whatprovides".into(),
                "kernel".into(),
                "--queryformat".into(),
                "[%{FILENAMES}\\n]".into(),
            ]]
        );
        // A database whose kernel package does not own the boot files.
        let nobody = Recorder::new(|_| Ok(Default::default()));
        let w = check_with(
            &nobody,
            true,
            root.path(),
            nvr,
            std::slice::from_ref(&kernel),
        );
        assert_eq!(ids(&w), [RPMDB]);
        // Without rpm here, the database's presence is all onn can tell.
        assert_eq!(
            ids(&check_with(&nobody, false, root.path(), nvr, &[kernel])),
            Vec::<&str>::new()
        );
        std::fs::create_dir_all(root.path().join("dev")).unwrap();
        std::os::unix::fs::symlink("/dev/null", root.path().join("dev/urandom")).unwrap();
        let w = check_with(&owner, true, root.path(), "rhvh-4.5-0.1", &[]);
        assert_eq!(ids(&w), [DEV_URANDOM]);
    }
}
