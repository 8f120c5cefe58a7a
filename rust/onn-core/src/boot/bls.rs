//! The BLS entry of a layer, the one format imgbased and GRUB read: its file name and id, its
//! text, where its kernel and initramfs lie in /boot, and the one reader of the entries of a
//! /boot (the check, the removal of a layer's files and the search for an installer's entries
//! all read them here).
//!
//! imgbased (`bootloader.py`) maps an entry to its layer by `img.bootid=<layer>` in its
//! options, and wants `rd.lvm.lv=<VG>/<layer> root=/dev/<VG>/<layer> boot=UUID=<uuid of /boot>
//! rootflags=discard img.bootid=<layer>` in this order after the image's own arguments. GRUB's
//! `blscfg` reads `/loader/entries/*.conf` of the partition holding /boot; the entry id is the
//! file name without `.conf`.

use std::fs;
use std::path::Path;

use crate::storage::lvm;

/// Where BLS entries live, relative to the /boot filesystem.
pub const DIR: &str = "loader/entries";
/// What names the LV the initramfs activates (dracut's `rd.lvm.lv=<VG>/<LV>`).
const RD_LVM_LV: &str = "rd.lvm.lv=";

/// The BLS entry id of a layer booting kernel `kver`: also the file stem and `saved_entry`.
pub fn entry_id(layer: &str, kver: &str) -> String {
    format!("{layer}-{kver}")
}

/// The path of the entry with id `id`, relative to the /boot filesystem.
pub fn path_of(id: &str) -> String {
    format!("{DIR}/{id}.conf")
}

/// The BLS entry's path relative to the /boot filesystem.
pub fn entry_path(layer: &str, kver: &str) -> String {
    path_of(&entry_id(layer, kver))
}

/// The layer's kernel, relative to the /boot filesystem (each layer has its own directory).
pub fn linux_path(layer: &str, kver: &str) -> String {
    format!("{layer}/vmlinuz-{kver}")
}

/// The layer's initramfs, relative to the /boot filesystem.
pub fn initrd_path(layer: &str, kver: &str) -> String {
    format!("{layer}/initramfs-{kver}.img")
}

/// The kernel argument imgbased uses to map a boot entry to its layer.
pub fn bootid_arg(layer: &str) -> String {
    format!("img.bootid={layer}")
}

/// The kernel argument that has the initramfs activate the layer's LV: in the entry, and in
/// the layer's /etc/default/grub, from which the host's imgbased makes the next layer's entry.
pub fn rd_lvm_lv(vg: &str, layer: &str) -> String {
    format!("{RD_LVM_LV}{vg}/{layer}")
}

/// What goes into one BLS entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EntrySpec {
    pub vg: String,
    pub layer: String,
    pub nvr: String,
    pub kver: String,
    pub boot_uuid: String,
    /// The image's own arguments plus any the user added, before onn's own.
    pub image_args: String,
}

/// Kernel arguments: the image's own, then imgbased's in its order.
pub fn kernel_options(s: &EntrySpec) -> String {
    let ours = format!(
        "{rd} root={root} boot=UUID={u} rootflags=discard {bootid}",
        rd = rd_lvm_lv(&s.vg, &s.layer),
        root = lvm::lv_path(&s.vg, &s.layer),
        u = s.boot_uuid,
        bootid = bootid_arg(&s.layer)
    );
    if s.image_args.is_empty() {
        ours
    } else {
        format!("{} {ours}", s.image_args)
    }
}

/// The BLS entry file's text (paths relative to the /boot filesystem).
pub fn render_entry(s: &EntrySpec) -> String {
    format!(
        "title {nvr} ({k})\nversion {k}\nlinux /{linux}\ninitrd /{initrd}\noptions {o}\ngrub_users $grub_users\ngrub_arg --unrestricted\ngrub_class kernel\n",
        nvr = s.nvr,
        k = s.kver,
        linux = linux_path(&s.layer, &s.kver),
        initrd = initrd_path(&s.layer, &s.kver),
        o = kernel_options(s)
    )
}

/// (entry id, file text) of every BLS entry of a /boot directory, sorted by id.
pub fn entries(boot_dir: &Path) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = fs::read_dir(boot_dir.join(DIR))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let id = name.strip_suffix(".conf")?.to_string();
                    Some((id, fs::read_to_string(e.path()).ok()?))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The kernel arguments of a BLS entry: the words of its `options` lines.
pub fn kernel_args(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .filter_map(|l| l.strip_prefix("options"))
        .flat_map(str::split_whitespace)
}

/// Whether an entry boots `layer`, by imgbased's rule: its options carry the layer's bootid.
pub fn boots_layer(text: &str, layer: &str) -> bool {
    let bootid = bootid_arg(layer);
    kernel_args(text).any(|a| a == bootid)
}

/// The device paths an entry's arguments boot: its `root=`, and its `rd.lvm.lv=` as
/// `/dev/<VG>/<LV>`.
pub fn booted_devices(text: &str) -> impl Iterator<Item = String> + '_ {
    kernel_args(text).filter_map(|a| {
        a.strip_prefix("root=")
            .map(str::to_string)
            .or_else(|| a.strip_prefix(RD_LVM_LV).map(|lv| format!("/dev/{lv}")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> EntrySpec {
        EntrySpec {
            vg: "onn".into(),
            layer: "onn-demo-1.0-0.1+1".into(),
            nvr: "onn-demo-1.0-0.1".into(),
            kver: "6.1.0-28-amd64".into(),
            boot_uuid: "1234-abcd".into(),
            image_args: "console=ttyS0 quiet".into(),
        }
    }

    #[test]
    fn bls_entry_golden() {
        assert_eq!(
            render_entry(&spec()),
            "title onn-demo-1.0-0.1 (6.1.0-28-amd64)\n\
             version 6.1.0-28-amd64\n\
             linux /onn-demo-1.0-0.1+1/vmlinuz-6.1.0-28-amd64\n\
             initrd /onn-demo-1.0-0.1+1/initramfs-6.1.0-28-amd64.img\n\
             options console=ttyS0 quiet rd.lvm.lv=onn/onn-demo-1.0-0.1+1 root=/dev/onn/onn-demo-1.0-0.1+1 \
             boot=UUID=1234-abcd rootflags=discard img.bootid=onn-demo-1.0-0.1+1\n\
             grub_users $grub_users\ngrub_arg --unrestricted\ngrub_class kernel\n"
        );
    }

    #[test]
    fn boot_names() {
        assert_eq!(
            entry_path("n-1-1+1", "6.1.0-28-amd64"),
            "loader/entries/n-1-1+1-6.1.0-28-amd64.conf"
        );
        assert_eq!(bootid_arg("n-1-1+1"), "img.bootid=n-1-1+1");
    }

    #[test]
    fn an_entry_is_read_back_as_it_was_written() {
        let text = render_entry(&spec());
        assert!(boots_layer(&text, "onn-demo-1.0-0.1+1"));
        assert!(!boots_layer(&text, "onn-demo-1.0-0.1+10"));
        assert_eq!(
            booted_devices(&text).collect::<Vec<_>>(),
            ["/dev/onn/onn-demo-1.0-0.1+1", "/dev/onn/onn-demo-1.0-0.1+1"]
        );
    }
}
