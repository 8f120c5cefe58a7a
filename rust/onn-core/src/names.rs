//! The names and tags onn writes for imgbased and LVM, and the rules names must follow.
//!
//! These strings are a compatibility contract with the installed host's `imgbase`/`nodectl`
//! (imgbased `lvm.py`, `imgbase.py`, `volume.py`); they must match it exactly.
//! Tests below mirror imgbased's own examples. Two kinds of names live with their rule
//! instead: an image's NVR and the base and layer names it gives in `image/nvr.rs` (imgbased
//! `naming.py`), a boot entry's (its file, its id, `img.bootid=`) with its format in
//! `boot/bls.rs` (imgbased `bootloader.py`).

use crate::ground::error::precondition;

/// Tag on the one volume group imgbased manages.
pub const TAG_VG: &str = "imgbased:vg";
/// Tag on the one thin pool imgbased manages.
pub const TAG_POOL: &str = "imgbased:pool";
/// Tag on each read-only base LV.
pub const TAG_BASE: &str = "imgbased:base";
/// Tag on each writable layer LV.
pub const TAG_LAYER: &str = "imgbased:layer";
/// Tag on data volumes (`/var`, `/var/log`, …) shared by all layers.
pub const TAG_VOLUME: &str = "imgbased:volume";
/// onn's own tag on a volume group it created, until the run that created it has finished
/// (imgbased ignores it): a VG carrying it after a crash is a half-made layout that `onn
/// recover` may remove whole, while a finished one is never touched.
pub const TAG_UNFINISHED: &str = "onn:unfinished";

/// LVM profile imgbased expects on the pool (its text: `plan/pool.rs`, with the numbers).
pub const POOL_PROFILE: &str = "imgbased-pool";
/// Where the installed host keeps LVM profiles (relative to its root).
pub const HOST_PROFILE_DIR: &str = "etc/lvm/profile";

/// Inside the image's root filesystem: the file holding the image's NVR.
pub const NVR_FILE: &str = "usr/share/imgbase/build/meta/nvr";
/// Inside the squashfs: the root filesystem image, picked by this exact name.
pub const ROOTFS_IMG: &str = "LiveOS/rootfs.img";
/// Inside the image's root: the image's own kernel arguments (kernel-install convention).
pub const KERNEL_CMDLINE_FILE: &str = "etc/kernel/cmdline";

/// imgbased refuses longer LV names (lvm.py).
pub const LV_NAME_MAX: usize = 55;

/// LVM reserves LV names starting with these for its own volumes (lvm(8), "VALID NAMES").
const LVM_RESERVED_PREFIXES: [&str; 2] = ["snapshot", "pvmove"];
/// LVM reserves LV names containing these: the suffixes of its hidden sub-volumes (lvm(8),
/// "VALID NAMES", plus the cache, integrity and writecache ones newer releases add).
const LVM_RESERVED_PARTS: [&str; 17] = [
    "_cdata", "_cmeta", "_corig", "_cpool", "_cvol", "_imeta", "_iorig", "_mimage", "_mlog",
    "_pmspare", "_rimage", "_rmeta", "_tdata", "_tmeta", "_vdata", "_vorigin", "_wcorig",
];
/// device-mapper's name limit (DM_NAME_LEN 128, with its terminating NUL).
pub const DM_NAME_MAX: usize = 127;
/// What LVM appends to a thin pool's name for its hidden volumes (`-tpool`, `_tdata`,
/// `_tmeta`): the pool's device-mapper names are this much longer.
pub const POOL_DM_SUFFIX: usize = 6;

/// Check an LV name the way imgbased and LVM accept it: imgbased's
/// `^[a-zA-Z0-9+_.][a-zA-Z0-9+_.-]*$` and at most 55 characters, and none of the names LVM
/// keeps for itself (`.`, `..`, `snapshot…`, `pvmove…`, `…_tmeta…`).
pub fn validate_lv_name(name: &str) -> anyhow::Result<()> {
    check_name(name, "LV name", true)
}

/// Check a VG name given by the user (LVM's character rules; no reserved parts).
pub fn validate_vg_name(name: &str) -> anyhow::Result<()> {
    check_name(name, "volume group name", false)
}

pub(crate) fn check_name(name: &str, what: &str, lv: bool) -> anyhow::Result<()> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '_' | '.');
    let mut chars = name.chars();
    let valid = match chars.next() {
        Some(first) => ok_char(first) && chars.all(|c| ok_char(c) || c == '-'),
        None => false,
    };
    if !valid || name == "." || name == ".." {
        return Err(precondition(
            "name.invalid",
            format!(
                "{what} {name:?} is not valid: use letters, digits and + _ . - (not first), \
                 and not . or .."
            ),
        ));
    }
    if lv {
        let reserved = LVM_RESERVED_PREFIXES
            .iter()
            .find(|p| name.starts_with(*p))
            .or_else(|| LVM_RESERVED_PARTS.iter().find(|p| name.contains(*p)));
        if let Some(r) = reserved {
            return Err(precondition(
                "name.reserved",
                format!("{what} {name:?} contains {r:?}, which LVM reserves for its own volumes; choose another name"),
            ));
        }
    }
    if name.len() > LV_NAME_MAX {
        return Err(precondition(
            "name.too-long",
            format!(
                "{what} {name:?} has {} characters; imgbased allows at most {LV_NAME_MAX}: choose a shorter one",
                name.len()
            ),
        ));
    }
    Ok(())
}

/// device-mapper's name of LV `lv` in VG `vg`: both with `-` doubled, joined by `-`.
pub fn dm_name(vg: &str, lv: &str) -> String {
    format!("{}-{}", vg.replace('-', "--"), lv.replace('-', "--"))
}

/// The VG and LV a device-mapper name stands for ([`dm_name`] undone): split at the first
/// single `-`, dashes undoubled. None for a name that is no VG-LV pair.
pub fn split_dm_name(name: &str) -> Option<(String, String)> {
    let bytes = name.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'-' {
            if bytes.get(i + 1) == Some(&b'-') {
                i += 2;
                continue;
            }
            let (vg, lv) = (&name[..i], &name[i + 1..]);
            return (!vg.is_empty() && !lv.is_empty())
                .then(|| (vg.replace("--", "-"), lv.replace("--", "-")));
        }
        i += 1;
    }
    None
}

/// Refuse a VG/LV pair whose device-mapper name (plus `extra` characters LVM appends for
/// hidden volumes) would not fit: LVM writes its metadata first and only then fails to
/// activate the LV.
pub fn validate_dm_name(vg: &str, lv: &str, extra: usize) -> anyhow::Result<()> {
    let len = dm_name(vg, lv).len() + extra;
    if len > DM_NAME_MAX {
        return Err(precondition(
            "name.dm-too-long",
            format!(
                "{vg}/{lv} would get a device-mapper name of {len} characters (each '-' counts \
                 twice); the limit is {DM_NAME_MAX}: choose a shorter volume group or pool name"
            ),
        ));
    }
    Ok(())
}

/// imgbased's volume naming: the mount path without the leading `/`, `-` doubled, `/` → `_`.
pub fn volume_lv_name(mount: &str) -> String {
    mount
        .trim_start_matches('/')
        .replace('-', "--")
        .replace('/', "_")
}

/// The mount point of a data volume named `lv` ([`volume_lv_name`] read back, as imgbased
/// does).
pub fn volume_mount(lv: &str) -> String {
    format!("/{}", lv.replace('_', "/").replace("--", "-"))
}

/// imgbased's state directory, relative to /var (shared by all layers).
pub const VAR_STATE_DIR: &str = "imgbased";
/// imgbased's mark, in [`VAR_STATE_DIR`], of a host with the minimal volumes: without it, the
/// host's `imgbase check` and `update` want every volume of the NIST layout (imgbased
/// `constants.py.in`, `volume_paths`).
pub const SKIP_VOLUMES_MARK: &str = ".skip-volumes";
/// The file, relative to the layer's root, whose `GRUB_CMDLINE_LINUX` imgbased carries to
/// the next layer and turns into that layer's boot entry at an update (imgbased
/// `osupdater.py`, `bootsetup.py`).
pub const DEFAULT_GRUB: &str = "etc/default/grub";

/// GRUB's environment block (holds `saved_entry`), relative to the /boot filesystem.
pub const GRUBENV: &str = "grub2/grubenv";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lv_names_follow_lvm_rules() {
        let id = |n: &str| crate::ground::error::id_of(&validate_lv_name(n).unwrap_err());
        assert!(validate_lv_name("onn-demo-1.0-0.1+1").is_ok());
        assert_eq!(id("-x"), "name.invalid");
        assert_eq!(id("a/b"), "name.invalid");
        assert_eq!(id(""), "name.invalid");
        assert_eq!(id(".."), "name.invalid");
        assert_eq!(id(&"a".repeat(56)), "name.too-long");
        // What lvcreate answers "Names starting "snapshot" are reserved" and the like to.
        assert_eq!(id("snapshot-1.0-1"), "name.reserved");
        assert_eq!(id("pvmove0"), "name.reserved");
        assert_eq!(id("data_tmeta-1-1"), "name.reserved");
        // A VG may be called so; only LVs may not.
        assert!(validate_vg_name("snapshot").is_ok());
        assert!(validate_vg_name(".").is_err());
    }

    #[test]
    fn device_mapper_names_double_dashes_and_must_fit() {
        assert_eq!(dm_name("my-vg", "n-1-1+1"), "my--vg-n--1--1+1");
        let vg = "a-".repeat(27) + "a";
        let pool = "b-".repeat(27) + "b";
        // lvcreate of such a pair wrote its metadata, then failed to activate (LVM 2.03.16).
        assert_eq!(
            crate::ground::error::id_of(&validate_dm_name(&vg, &pool, POOL_DM_SUFFIX).unwrap_err()),
            "name.dm-too-long"
        );
        assert!(validate_dm_name(&vg, "pool00", POOL_DM_SUFFIX).is_ok());
    }

    #[test]
    fn dm_names_split_back_into_vg_and_lv() {
        for (vg, lv) in [
            ("onn", "root"),
            ("node-vg", "var_log"),
            ("a--b", "c-d-"),
            ("x", "pool00_tmeta"),
        ] {
            assert_eq!(
                split_dm_name(&dm_name(vg, lv)),
                Some((vg.to_string(), lv.to_string()))
            );
        }
        assert_eq!(split_dm_name("mpatha"), None);
        assert_eq!(split_dm_name("only--dashes--doubled"), None);
    }
}
