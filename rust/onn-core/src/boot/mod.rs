//! The /boot side: the separate boot filesystem, per-layer kernels, the default entry, and the
//! layer's fstab. Text formats are rendered by pure functions (golden tests). The BLS entry's
//! format is [`bls`]; the EFI system partition is [`efi`].

pub mod bls;
pub mod efi;

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::ground::error::precondition;
use crate::ground::runner::Runner;
use crate::ground::units::Bytes;
use crate::names;
use crate::storage::blockdev;
use crate::storage::fs as fsops;
use crate::storage::guard::Mount;
use crate::storage::lvm;

/// Anaconda's `ovirt` profile and imgbased both want a separate /boot of at least 1 GiB: a
/// kernel and an initramfs per layer.
pub const BOOT_MIN: Bytes = Bytes::gib(1);

/// A kernel and its initramfs, as an image or a layer has them: paths relative to its root.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Kernel {
    pub version: String,
    pub linux: String,
    pub initrd: String,
}

/// Facts about the /boot filesystem, for the plan.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BootFacts {
    /// What the user gave: a device or a mounted directory.
    pub given: String,
    pub device: String,
    pub size: Bytes,
    pub uuid: String,
    pub fstype: String,
}

/// Read the facts of a /boot given as a device or as a mounted directory.
pub fn inspect(runner: &dyn Runner, given: &str) -> Result<BootFacts> {
    let p = Path::new(given);
    let device = if p.is_dir() {
        let (src, _) = blockdev::mount_source(p)?.ok_or_else(|| {
            precondition(
                "boot.not-mounted",
                format!(
                    "{given} is not a mount point; give the /boot partition or where it is mounted"
                ),
            )
        })?;
        src
    } else {
        fs::canonicalize(p)
            .map_err(|e| {
                precondition(
                    "boot.missing",
                    format!("boot device {given} does not exist ({e}); give the /boot partition or where it is mounted"),
                )
            })?
            .to_string_lossy()
            .into_owned()
    };
    let (fstype, uuid) = blockdev::fs_type_and_uuid(runner, Path::new(&device))?;
    let (Some(fstype), Some(uuid)) = (fstype, uuid) else {
        return Err(precondition(
            "boot.no-filesystem",
            format!("{device} holds no filesystem; format the /boot partition (ext4 or xfs) first"),
        ));
    };
    Ok(BootFacts {
        given: given.to_string(),
        size: blockdev::size_of(Path::new(&device))?,
        device,
        uuid,
        fstype,
    })
}

/// /boot made available for writing: the given directory, or the device mounted by us.
pub struct BootDir<'r> {
    dir: PathBuf,
    mount: Option<Mount<'r>>,
}

impl<'r> BootDir<'r> {
    pub fn open(runner: &'r dyn Runner, facts: &BootFacts) -> Result<BootDir<'r>> {
        let given = Path::new(&facts.given);
        if given.is_dir() {
            return Ok(BootDir {
                dir: given.to_path_buf(),
                mount: None,
            });
        }
        let m = Mount::temp(runner, Path::new(&facts.device), Some(&facts.fstype), "rw")?;
        Ok(BootDir {
            dir: m.path().to_path_buf(),
            mount: Some(m),
        })
    }
    pub fn path(&self) -> &Path {
        &self.dir
    }
    pub fn close(self) -> Result<()> {
        match self.mount {
            Some(m) => m.close(),
            None => Ok(()),
        }
    }
}

/// GRUB's environment block: `# GRUB Environment Block`, `key=value` lines, `#` padding to
/// exactly 1024 bytes. Sets `key` (or, with `None`, removes it), keeping the other variables.
pub fn set_grubenv(existing: Option<&str>, key: &str, value: Option<&str>) -> Result<String> {
    const HEADER: &str = "# GRUB Environment Block\n";
    const SIZE: usize = 1024;
    let mut lines: Vec<String> = existing
        .unwrap_or("")
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains('=') && !l.starts_with(&format!("{key}=")))
        .map(str::to_string)
        .collect();
    if let Some(value) = value {
        lines.push(format!("{key}={value}"));
    }
    let mut out = String::from(HEADER);
    for l in &lines {
        out.push_str(l);
        out.push('\n');
    }
    if out.len() > SIZE {
        anyhow::bail!("the GRUB environment block would exceed {SIZE} bytes");
    }
    out.push_str(&"#".repeat(SIZE - out.len()));
    Ok(out)
}

/// The `saved_entry` of a grubenv text.
pub fn saved_entry(grubenv: &str) -> Option<&str> {
    grubenv.lines().find_map(|l| l.strip_prefix("saved_entry="))
}

/// Remove the boot files of `layer` from a /boot directory: its BLS entries (found by their
/// `img.bootid=`, the way imgbased maps entries to layers), its kernel directory, and
/// `saved_entry` when it names one of those entries. Returns what was removed.
pub fn remove_layer_files(boot_dir: &Path, layer: &str) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    let mut ids = Vec::new();
    for (id, text) in bls::entries(boot_dir) {
        if bls::boots_layer(&text, layer) {
            let path = boot_dir.join(bls::path_of(&id));
            fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
            removed.push(path.display().to_string());
            ids.push(id);
        }
    }
    let kernels = boot_dir.join(layer);
    if kernels.is_dir() {
        fs::remove_dir_all(&kernels).with_context(|| format!("removing {}", kernels.display()))?;
        removed.push(kernels.display().to_string());
    }
    let env_path = boot_dir.join(names::GRUBENV);
    if let Ok(env) = fs::read_to_string(&env_path) {
        if saved_entry(&env).is_some_and(|s| ids.iter().any(|id| id == s)) {
            write_grubenv(boot_dir, &set_grubenv(Some(&env), "saved_entry", None)?)?;
            removed.push(format!("saved_entry in {}", env_path.display()));
        }
    }
    Ok(removed)
}

/// The BLS entries of a /boot directory that boot `device`: their `root=` or `rd.lvm.lv=` names
/// it by the same path, the same device node, or the other spelling of the same LV
/// (`/dev/mapper/VG-LV`, `/dev/VG/LV`). An installer's entries for its own root volume, which
/// holds no system once the layer is the root. Their file names, sorted.
pub fn entries_booting(boot_dir: &Path, device: &str) -> Vec<String> {
    let canonical = |p: &str| {
        fs::canonicalize(p)
            .ok()
            .map(|c| c.to_string_lossy().into_owned())
    };
    let mut spellings = vec![device.to_string()];
    spellings.extend(canonical(device));
    if let Some((vg, lv)) = device
        .strip_prefix("/dev/mapper/")
        .and_then(names::split_dm_name)
    {
        spellings.push(lvm::lv_path(&vg, &lv));
    }
    let boots = |text: &str| {
        bls::booted_devices(text).any(|path| {
            spellings.contains(&path) || canonical(&path).is_some_and(|c| spellings.contains(&c))
        })
    };
    bls::entries(boot_dir)
        .into_iter()
        .filter(|(_, text)| boots(text))
        .map(|(id, _)| format!("{id}.conf"))
        .collect()
}

/// One data volume line in a layer's fstab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FstabVolume {
    pub device: String,
    pub mount: String,
    pub fstype: String,
}

/// The layer's /etc/fstab: `/` from the layer, /boot by UUID, data volumes, all thin
/// filesystems with `discard` (imgbased's rule). Lines of the image for other mount points
/// are kept after ours.
pub fn render_fstab(
    existing: &str,
    root_device: &str,
    fstype: &str,
    boot: &BootFacts,
    volumes: &[FstabVolume],
) -> String {
    let ours: Vec<&str> = std::iter::once("/")
        .chain(std::iter::once("/boot"))
        .chain(volumes.iter().map(|v| v.mount.as_str()))
        .collect();
    let mut out =
        String::from("# Written by onn for imgbased: / is this layer, data volumes are shared.\n");
    out.push_str(&format!("{root_device} / {fstype} defaults,discard 1 1\n"));
    out.push_str(&format!(
        "UUID={} /boot {} defaults 1 2\n",
        boot.uuid, boot.fstype
    ));
    for v in volumes {
        out.push_str(&format!(
            "{} {} {} defaults,discard 1 2\n",
            v.device, v.mount, v.fstype
        ));
    }
    for line in existing.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with("# Written by onn") {
            continue;
        }
        let mount = t.split_whitespace().nth(1);
        if !t.starts_with('#') && mount.is_some_and(|m| ours.contains(&m)) {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The layer's /etc/default/grub: its `GRUB_CMDLINE_LINUX` holds the image's own arguments,
/// less those `replaced` says this layer's replace (an earlier layer's root), then each of
/// `args` it lacks, double-quoted as grub2-mkconfig's shell and imgbased's parser (which strips
/// the quotes) both read it. Every other line is kept; a file without the variable gets it at
/// the end.
pub fn render_default_grub(
    existing: &str,
    args: &[String],
    replaced: &dyn Fn(&str) -> bool,
) -> String {
    const KEY: &str = "GRUB_CMDLINE_LINUX=";
    let line_of = |l: &str| l.trim_start().starts_with(KEY);
    let current = existing
        .lines()
        .find(|l| line_of(l))
        .map(|l| {
            l.trim_start()[KEY.len()..]
                .trim()
                .trim_matches(|c| c == '"' || c == '\'')
        })
        .unwrap_or("");
    let mut words: Vec<&str> = current
        .split_whitespace()
        .filter(|w| !replaced(w))
        .collect();
    for a in args {
        if !words.contains(&a.as_str()) {
            words.push(a);
        }
    }
    let ours = format!("{KEY}\"{}\"\n", words.join(" "));
    let mut out = String::new();
    let mut placed = false;
    for l in existing.lines() {
        if line_of(l) {
            if !placed {
                out.push_str(&ours);
                placed = true;
            }
            continue;
        }
        out.push_str(l);
        out.push('\n');
    }
    if !placed {
        out.push_str(&ours);
    }
    out
}

/// Where GRUB's environment block of the /boot at `boot_dir` is written. Where it is a symbolic
/// link (EL8 on UEFI links `grub2/grubenv` into the ESP, where GRUB reads it), its target: an
/// atomic rename over the link would cut GRUB off from it. A link into an ESP that is not
/// mounted is refused.
pub fn grubenv_target(boot_dir: &Path) -> Result<PathBuf> {
    let path = boot_dir.join(names::GRUBENV);
    let Ok(link) = fs::read_link(&path) else {
        return Ok(path);
    };
    let target = path.parent().context("grubenv has a parent")?.join(&link);
    if !target.parent().is_some_and(Path::is_dir) {
        return Err(crate::ground::error::precondition(
            "boot.grubenv-link",
            format!(
                "{} is a link to {}, which is not there: mount the EFI system partition below /boot (at /boot/efi) and give --boot as the mounted directory",
                path.display(),
                link.display()
            ),
        ));
    }
    Ok(target)
}

/// Make a layer's initramfs for its host: the host's dracut, run in `host` (the layer as its
/// host runs it, with its /boot, /proc, /sys and /dev), writes `<layer>/initramfs-<kver>.img`
/// of the /boot at `boot_dir` under a temporary name, renamed over the entry's file once whole.
/// `host`'s /boot must be that /boot.
pub fn host_initramfs(
    runner: &dyn Runner,
    host: &Path,
    boot_dir: &Path,
    layer: &str,
    kver: &str,
) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let same = |a: &Path, b: &Path| -> Result<bool> {
        let (a, b) = (fs::metadata(a)?, fs::metadata(b)?);
        Ok((a.dev(), a.ino()) == (b.dev(), b.ino()))
    };
    let inside = host.join("boot").join(layer);
    if !same(&inside, &boot_dir.join(layer)).unwrap_or(false) {
        anyhow::bail!(
            "{} is not the /boot onn writes ({}): mount it there to make the host's initramfs",
            host.join("boot").display(),
            boot_dir.display()
        );
    }
    let tmp = format!("{layer}/.initramfs-{kver}.img.onn");
    let _ = fs::remove_file(boot_dir.join(&tmp));
    runner
        .run(&crate::ground::runner::Cmd::new("chroot").arg(host).args([
            "dracut",
            "--force",
            &format!("/boot/{tmp}"),
            kver,
        ]))
        .with_context(|| {
            format!(
                "making the host's initramfs for {kver} in {}",
                host.display()
            )
        })?;
    let built = boot_dir.join(&tmp);
    fs::File::open(&built)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("flushing {}", built.display()))?;
    fs::rename(&built, boot_dir.join(bls::initrd_path(layer, kver)))
        .with_context(|| format!("renaming {}", built.display()))?;
    crate::ground::fault::point(&|| format!("made the host's initramfs of {layer}"));
    Ok(())
}

/// Write GRUB's environment block of the /boot at `boot_dir` (through a link: [`grubenv_target`]).
pub fn write_grubenv(boot_dir: &Path, content: &str) -> Result<()> {
    crate::ground::atomic::write(&grubenv_target(boot_dir)?, content.as_bytes())
}

/// What was written to the /boot at `boot_dir`, and to the ESP its grubenv may link into,
/// where GRUB reads it: on the disk, not in a journal ([`fsops::checkpoint`]).
pub fn checkpoint(boot_dir: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    fsops::checkpoint(boot_dir)?;
    let env_dir = grubenv_target(boot_dir)?
        .parent()
        .context("grubenv has a parent")?
        .to_path_buf();
    let dev = |p: &Path| fs::metadata(p).map(|m| m.dev()).ok();
    if env_dir.is_dir() && dev(&env_dir) != dev(boot_dir) {
        fsops::checkpoint(&env_dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grubenv_is_written_through_a_link_into_the_esp_and_the_link_stays() {
        let boot = tempfile::tempdir().unwrap();
        fs::create_dir_all(boot.path().join("grub2")).unwrap();
        fs::create_dir_all(boot.path().join("efi/EFI/redhat")).unwrap();
        std::os::unix::fs::symlink(
            "../efi/EFI/redhat/grubenv",
            boot.path().join(names::GRUBENV),
        )
        .unwrap();
        write_grubenv(boot.path(), "saved_entry=x\n").unwrap();
        assert!(fs::symlink_metadata(boot.path().join(names::GRUBENV))
            .unwrap()
            .is_symlink());
        assert_eq!(
            fs::read_to_string(boot.path().join("efi/EFI/redhat/grubenv")).unwrap(),
            "saved_entry=x\n"
        );
        // The ESP not mounted: the link leads nowhere, and onn says so instead of writing there.
        fs::remove_dir_all(boot.path().join("efi")).unwrap();
        let err = write_grubenv(boot.path(), "saved_entry=y\n").unwrap_err();
        assert!(
            format!("{err}").contains("mount the EFI system partition"),
            "{err}"
        );
        // The same refusal is what the plan asks before anything is written.
        let err = grubenv_target(boot.path()).unwrap_err();
        assert_eq!(crate::ground::error::id_of(&err), "boot.grubenv-link");
    }

    #[test]
    fn default_grub_gets_the_entry_arguments_and_keeps_the_rest() {
        let args = [
            "console=ttyS0".to_string(),
            "rd.lvm.lv=onn/n-1-1+1".to_string(),
        ];
        let keep = |_: &str| false;
        assert_eq!(
            render_default_grub("", &args, &keep),
            "GRUB_CMDLINE_LINUX=\"console=ttyS0 rd.lvm.lv=onn/n-1-1+1\"\n"
        );
        let image = "GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX=\"crashkernel=auto console=ttyS0\"\nGRUB_DISABLE_RECOVERY=\"true\"\n";
        assert_eq!(
            render_default_grub(image, &args, &keep),
            "GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX=\"crashkernel=auto console=ttyS0 rd.lvm.lv=onn/n-1-1+1\"\nGRUB_DISABLE_RECOVERY=\"true\"\n"
        );
        // Written again (a rerun), it is the same file.
        let once = render_default_grub(image, &args, &keep);
        assert_eq!(render_default_grub(&once, &args, &keep), once);
        // The next layer made from this one: its root replaces this one's, as imgbased's update
        // replaces it; another LV of the VG the operator boots with stays.
        let next = ["rd.lvm.lv=onn/n-1-1+2".to_string()];
        let earlier = |w: &str| w == "rd.lvm.lv=onn/n-1-1+1";
        let with_swap = once.replace("console=ttyS0", "console=ttyS0 rd.lvm.lv=onn/swap");
        assert_eq!(
            render_default_grub(&with_swap, &next, &earlier),
            "GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX=\"crashkernel=auto console=ttyS0 rd.lvm.lv=onn/swap rd.lvm.lv=onn/n-1-1+2\"\nGRUB_DISABLE_RECOVERY=\"true\"\n"
        );
    }

    #[test]
    fn grubenv_is_1024_bytes_and_keeps_other_keys() {
        let env = set_grubenv(None, "saved_entry", Some("a+1-6.1")).unwrap();
        assert_eq!(env.len(), 1024);
        assert!(env.starts_with("# GRUB Environment Block\nsaved_entry=a+1-6.1\n###"));
        let env2 = set_grubenv(
            Some(&env.replace(
                "saved_entry=a+1-6.1\n",
                "boot_success=1\nsaved_entry=a+1-6.1\n",
            )),
            "saved_entry",
            Some("b+1-6.2"),
        )
        .unwrap();
        assert_eq!(saved_entry(&env2), Some("b+1-6.2"));
        assert!(env2.contains("boot_success=1\n"));
        assert_eq!(env2.matches("saved_entry=").count(), 1);
        let env3 = set_grubenv(Some(&env2), "saved_entry", None).unwrap();
        assert_eq!((saved_entry(&env3), env3.len()), (None, 1024));
        assert!(env3.contains("boot_success=1\n"));
    }

    #[test]
    fn a_layers_boot_files_are_found_by_bootid_and_nothing_else_is_touched() {
        let d = tempfile::tempdir().unwrap();
        let b = d.path();
        let entry = |layer: &str| {
            format!("title x\nlinux /{layer}/vmlinuz\noptions ro img.bootid={layer} quiet\n")
        };
        for (file, text) in [
            ("loader/entries/n-1-1+1-6.1.conf", entry("n-1-1+1")),
            ("loader/entries/n-1-1+10-6.1.conf", entry("n-1-1+10")),
            (
                "loader/entries/other.conf",
                "options root=/dev/sda1\n".into(),
            ),
            ("n-1-1+1/vmlinuz-6.1", "k".into()),
            ("n-1-1+10/vmlinuz-6.1", "k".into()),
        ] {
            fs::create_dir_all(b.join(file).parent().unwrap()).unwrap();
            fs::write(b.join(file), text).unwrap();
        }
        let env = set_grubenv(None, "saved_entry", Some("n-1-1+1-6.1")).unwrap();
        fs::create_dir_all(b.join("grub2")).unwrap();
        fs::write(b.join(names::GRUBENV), env).unwrap();
        let removed = remove_layer_files(b, "n-1-1+1").unwrap();
        assert_eq!(removed.len(), 3, "{removed:?}");
        assert!(!b.join("loader/entries/n-1-1+1-6.1.conf").exists());
        assert!(!b.join("n-1-1+1").exists());
        assert!(b.join("loader/entries/n-1-1+10-6.1.conf").exists());
        assert!(b.join("loader/entries/other.conf").exists());
        assert!(b.join("n-1-1+10/vmlinuz-6.1").exists());
        let env = fs::read_to_string(b.join(names::GRUBENV)).unwrap();
        assert_eq!(saved_entry(&env), None);
    }

    #[test]
    fn fstabmounts_layer_and_volumes_with_discard_and_keeps_the_rest() {
        let boot = BootFacts {
            given: "/dev/vda1".into(),
            device: "/dev/vda1".into(),
            size: Bytes::gib(1),
            uuid: "b-uuid".into(),
            fstype: "ext4".into(),
        };
        let existing = "# image\nUUID=x / ext4 defaults 0 0\n/dev/sr0 /media iso9660 ro 0 0\n/dev/old /var ext4 defaults 0 0\n";
        let volumes = [FstabVolume {
            device: "/dev/onn/var".into(),
            mount: "/var".into(),
            fstype: "xfs".into(),
        }];
        let out = render_fstab(existing, "/dev/onn/n-1-1+1", "ext4", &boot, &volumes);
        assert_eq!(
            out,
            "# Written by onn for imgbased: / is this layer, data volumes are shared.\n\
             /dev/onn/n-1-1+1 / ext4 defaults,discard 1 1\n\
             UUID=b-uuid /boot ext4 defaults 1 2\n\
             /dev/onn/var /var xfs defaults,discard 1 2\n\
             # image\n/dev/sr0 /media iso9660 ro 0 0\n"
        );
        // Rewriting is stable (a re-run changes nothing).
        assert_eq!(
            render_fstab(&out, "/dev/onn/n-1-1+1", "ext4", &boot, &volumes),
            out
        );
    }
}
