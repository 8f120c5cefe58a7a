//! SELinux labels of what onn writes on a host: the labels the layer's own policy gives each
//! path, set by the layer's own `setfiles` in a chroot of the layer, as imgbased labels every
//! layer it makes (`plugins/osupdater.py`, `_relabel_selinux`).
//!
//! Why the image's setfiles and not the same rules read by onn: a policy's file contexts are
//! regular expressions with an order of precedence, local and home-directory additions,
//! path substitutions and a compiled form whose format follows the libselinux that made it.
//! The image's own libselinux reads its own policy as the running host will; the installer's
//! (or code of ours) may be older or newer than it.

use std::path::Path;

use anyhow::{Context, Result};

use crate::ground::rootfs;
use crate::ground::runner::{Cmd, Runner};
use crate::storage::guard::Mount;

/// Where a tree says which policy it runs: `SELINUXTYPE=` (EL: targeted).
const CONFIG: &str = "etc/selinux/config";
/// Where setfiles is in an EL tree, and in an older or unmerged one.
const SETFILES: [&str; 2] = ["usr/sbin/setfiles", "sbin/setfiles"];

/// A layer's SELinux policy, as its own tools read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The policy's name (`SELINUXTYPE`), e.g. `targeted`.
    pub name: String,
    /// Its file contexts, a path inside the layer.
    file_contexts: String,
    /// The layer's setfiles, a path inside the layer.
    setfiles: String,
}

impl Policy {
    /// The policy of the tree at `root` (a mounted layer), or why it has none: no
    /// `/etc/selinux/config` naming a policy, no file contexts for it, or no setfiles.
    pub fn of(root: &Path) -> Result<std::result::Result<Policy, String>> {
        let config = rootfs::resolve(root, CONFIG)?;
        let Ok(text) = std::fs::read_to_string(&config) else {
            return Ok(Err(format!("it has no /{CONFIG}")));
        };
        let Some(name) = text.lines().find_map(|l| {
            let v = l
                .trim()
                .strip_prefix("SELINUXTYPE=")?
                .trim()
                .trim_matches('"');
            (!v.is_empty()).then(|| v.to_string())
        }) else {
            return Ok(Err(format!("its /{CONFIG} names no SELINUXTYPE")));
        };
        let file_contexts = format!("/etc/selinux/{name}/contexts/files/file_contexts");
        if !rootfs::resolve(root, &file_contexts)?.is_file() {
            return Ok(Err(format!("it has no {file_contexts}")));
        }
        let Some(setfiles) = SETFILES
            .iter()
            .find(|p| rootfs::resolve(root, p).is_ok_and(|p| p.is_file()))
        else {
            return Ok(Err("it has no setfiles (policycoreutils)".into()));
        };
        Ok(Ok(Policy {
            name,
            file_contexts,
            setfiles: format!("/{setfiles}"),
        }))
    }

    /// Give `paths` (absolute as the host sees them) and everything below them on the same
    /// filesystem the labels of this policy, in a chroot of `root`, the layer with the host's
    /// filesystems mounted where the host mounts them. While SELinux is off setfiles does not
    /// cross into another mount: a path per filesystem.
    pub fn relabel(&self, runner: &dyn Runner, root: &Path, paths: &[String]) -> Result<()> {
        if paths.is_empty() {
            return Ok(());
        }
        // libselinux sets labels through /proc/self/fd.
        let proc_dir = rootfs::resolve(root, "proc")?;
        let proc = Mount::inside(runner, Path::new("proc"), Some("proc"), "rw", &proc_dir)?;
        let labelled = runner
            .run(
                &Cmd::new("chroot")
                    .arg(root)
                    .args([&self.setfiles, &self.file_contexts])
                    .args(paths),
            )
            .with_context(|| {
                format!(
                    "labelling {} by the layer's SELinux policy ({})",
                    paths.join(", "),
                    self.name
                )
            });
        proc.close()?;
        labelled?;
        tracing::debug!("labelled {} ({})", paths.join(", "), self.name);
        Ok(())
    }
}

/// The policy of the layer mounted at `root`, logging why labels are not set when it has none.
pub fn policy_of(root: &Path, layer: &str) -> Result<Option<Policy>> {
    Ok(match Policy::of(root)? {
        Ok(p) => Some(p),
        Err(why) => {
            tracing::info!("{layer} has no SELinux policy ({why}): no labels set");
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ground::runner::{Output, Recorder};

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (path, text) in files {
            let p = d.path().join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        std::fs::create_dir_all(d.path().join("proc")).unwrap();
        d
    }

    const FC: &str = "etc/selinux/targeted/contexts/files/file_contexts";

    #[test]
    fn a_layer_without_a_policy_says_why() {
        let why = |files: &[(&str, &str)]| Policy::of(tree(files).path()).unwrap().unwrap_err();
        assert_eq!(why(&[]), "it has no /etc/selinux/config");
        assert_eq!(
            why(&[(CONFIG, "SELINUX=enforcing\n")]),
            "its /etc/selinux/config names no SELINUXTYPE"
        );
        assert_eq!(
            why(&[(CONFIG, "SELINUXTYPE=targeted\n")]),
            "it has no /etc/selinux/targeted/contexts/files/file_contexts"
        );
        assert_eq!(
            why(&[(CONFIG, "SELINUXTYPE=targeted\n"), (FC, "")]),
            "it has no setfiles (policycoreutils)"
        );
    }

    #[test]
    fn the_layers_setfiles_labels_each_path_in_a_chroot_with_proc_mounted() {
        let t = tree(&[
            (CONFIG, "SELINUX=enforcing\nSELINUXTYPE=targeted\n"),
            (FC, ""),
            ("usr/sbin/setfiles", ""),
        ]);
        let policy = Policy::of(t.path()).unwrap().unwrap();
        assert_eq!(policy.name, "targeted");
        let rec = Recorder::new(|_: &Cmd| Ok(Output::default()));
        let paths = ["/etc/fstab".to_string(), "/var".to_string()];
        policy.relabel(&rec, t.path(), &paths).unwrap();
        let root = t.path().display();
        assert_eq!(
            rec.calls().iter().map(|c| c.join(" ")).collect::<Vec<_>>(),
            [
                format!("mount -t proc -o rw proc {root}/proc"),
                format!("chroot {root} /usr/sbin/setfiles /{FC} /etc/fstab /var"),
                format!("umount {root}/proc"),
            ]
        );
    }
}
