//! Paths inside an image's or a layer's root, resolved as if chrooted: a symlink in the image
//! (absolute or with `..`) can never lead outside the root it belongs to.

use std::fs;
use std::path::{Component, Path, PathBuf};

use anyhow::{bail, Result};

/// Resolve `rel` inside `root`, following symlinks relative to `root`. The result is a host path
/// under `root`. The last component need not exist.
pub fn resolve(root: &Path, rel: &str) -> Result<PathBuf> {
    let mut pending: Vec<String> = components(rel);
    pending.reverse();
    let mut resolved: Vec<String> = Vec::new();
    let mut hops = 0;
    while let Some(c) = pending.pop() {
        match c.as_str() {
            "." => continue,
            ".." => {
                resolved.pop();
                continue;
            }
            _ => {}
        }
        let candidate = root.join(resolved.join("/")).join(&c);
        match fs::symlink_metadata(&candidate) {
            Ok(m) if m.file_type().is_symlink() => {
                hops += 1;
                if hops > 40 {
                    bail!(
                        "too many symbolic links resolving {rel:?} in {}",
                        root.display()
                    );
                }
                let target = fs::read_link(&candidate)?;
                let target = target.to_string_lossy();
                if target.starts_with('/') {
                    resolved.clear();
                }
                let mut more = components(&target);
                more.reverse();
                pending.extend(more);
            }
            _ => resolved.push(c),
        }
    }
    Ok(root.join(resolved.join("/")))
}

fn components(p: &str) -> Vec<String> {
    Path::new(p)
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn symlinks_stay_inside_the_root() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        fs::create_dir_all(root.join("usr/lib/modules")).unwrap();
        symlink("usr/lib", root.join("lib")).unwrap();
        symlink("/etc/passwd", root.join("evil")).unwrap();
        symlink("../../../../../../etc", root.join("usr/up")).unwrap();
        assert_eq!(
            resolve(root, "lib/modules").unwrap(),
            root.join("usr/lib/modules")
        );
        assert_eq!(resolve(root, "evil").unwrap(), root.join("etc/passwd"));
        assert_eq!(
            resolve(root, "usr/up/shadow").unwrap(),
            root.join("etc/shadow")
        );
        assert_eq!(resolve(root, "/../../x").unwrap(), root.join("x"));
        symlink("loop", root.join("loop")).unwrap();
        assert!(resolve(root, "loop/x").is_err());
    }
}
