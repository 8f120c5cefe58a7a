//! The thin pool's size rule: every number and formula the plan sizes a pool by and checks a
//! pool against, and the LVM profile that keeps it growing.
//!
//! A new pool gets metadata of twice what LVM needs for its chunks (at least imgbased's
//! minimum), a spare as large, and [`DATA_SHARE_PERCENT`] of what the VG has left as data; the
//! rest of the VG stays free for the profile's autoextend. lvm2 creates no thin volume in a
//! pool whose data use has reached the profile's [`THRESHOLD_PERCENT`], and the layer is the
//! last thin volume an install creates: the new volumes' filesystems and the image with its
//! headroom must fit below it. Where lvm2 places the pool on the disks is `alloc.rs`.

use crate::ground::units::{Bytes, MIB};
use crate::storage::fs::{self, FsType};

/// Thin pool chunk size onn uses (LVM's default for thin pools of this size).
pub const CHUNK: Bytes = Bytes(64 * 1024);
/// Space per PV that LVM keeps for its label and metadata area.
pub const PV_OVERHEAD: Bytes = Bytes(MIB);
/// A new pool takes this share of the VG (after metadata and its spare): the rest stays free
/// so the profile's autoextend (+[`AUTOEXTEND_PERCENT`] at [`THRESHOLD_PERCENT`] full) has
/// room to act.
pub const DATA_SHARE_PERCENT: u64 = 80;
/// Smallest pool onn creates.
pub const DATA_MIN: Bytes = Bytes(256 * MIB);
/// imgbased grows pool metadata to at least this before adding a layer.
pub const METADATA_MIN: Bytes = Bytes::gib(1);
/// LVM's thin metadata limit, 15.81 GiB.
const METADATA_MAX: Bytes = Bytes(16_978_542_592);
/// The profile's `thin_pool_autoextend_threshold`: lvm2 refuses to create a thin LV in a pool
/// whose data use has reached it ("free space in thin pool reached threshold"), so an install
/// must create its last LV, the layer, below it.
pub const THRESHOLD_PERCENT: u64 = 70;
/// The profile's `thin_pool_autoextend_percent`: how much the pool grows each time.
pub const AUTOEXTEND_PERCENT: u64 = 20;
/// imgbased's `imgbase check` limit for pool data and metadata use, in percent: `onn check`
/// fails at it too.
pub const USAGE_LIMIT_PERCENT: u64 = 80;
/// Headroom for writing an image: the pool must stay under [`THRESHOLD_PERCENT`] after
/// writing the image's filesystem plus 10 % (data volumes get /var's content).
pub const IMAGE_HEADROOM_PERCENT: u64 = 110;

/// The `imgbased-pool` LVM profile imgbased expects on the pool (and the installed host needs
/// to autoextend it).
pub fn profile_text() -> String {
    format!(
        "# Created by onn for imgbased\n\
         activation {{\n\
         \tthin_pool_autoextend_threshold = {THRESHOLD_PERCENT}\n\
         \tthin_pool_autoextend_percent = {AUTOEXTEND_PERCENT}\n\
         }}\n"
    )
}

/// Pool metadata size for a pool in a VG of `vg_size`: twice what LVM needs for 64 KiB chunks
/// (64 bytes per chunk), at least 1 GiB (imgbased grows smaller metadata before every layer
/// anyway), at most LVM's maximum of 15.81 GiB; rounded up to the VG's extent size.
pub fn metadata_size(vg_size: Bytes, extent: Bytes) -> Bytes {
    let need = Bytes(vg_size.0 / CHUNK.0 * 64 * 2);
    let size = need.max(METADATA_MIN).min(METADATA_MAX);
    let rounded = size.round_up(extent);
    if rounded > METADATA_MAX {
        size.round_down(extent)
    } else {
        rounded
    }
}

/// What metadata of `size` takes of the VG: itself and its spare copy, as large (LVM keeps
/// one for repairs, and grows it with the metadata).
pub fn metadata_with_spare(size: Bytes) -> Bytes {
    Bytes(2 * size.0)
}

/// The data size of a new pool when none is asked for: its share of what the VG has after the
/// metadata and its spare, in whole extents.
pub fn default_data(vg_size: Bytes, metadata: Bytes, extent: Bytes) -> Bytes {
    let usable = vg_size.saturating_sub(metadata_with_spare(metadata));
    usable.scale(DATA_SHARE_PERCENT, 100).round_down(extent)
}

/// The pool's use past which lvm2 creates no more thin volumes in it (the layer, created last,
/// must fit below it).
pub fn threshold(pool_size: Bytes) -> Bytes {
    pool_size.scale(THRESHOLD_PERCENT, 100)
}

/// What a pool of `size` holds at lvm2's `data_percent` (none reported: empty).
pub fn used(size: Bytes, data_percent: Option<f64>) -> Bytes {
    Bytes((size.0 as f64 * data_percent.unwrap_or(0.0) / 100.0).ceil() as u64)
}

/// What writing an image's root filesystem of `rootfs` onto a base LV of `lv_size` takes of
/// the pool: the filesystem with headroom, and what growing it to the LV writes.
pub fn image_cost(rootfs: Bytes, fs: FsType, lv_size: Bytes) -> Bytes {
    rootfs.scale(IMAGE_HEADROOM_PERCENT, 100) + fs::grow_cost(fs, lv_size.saturating_sub(rootfs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_is_imgbaseds_with_the_one_threshold() {
        assert_eq!(
            profile_text(),
            "# Created by onn for imgbased\nactivation {\n\tthin_pool_autoextend_threshold = 70\n\tthin_pool_autoextend_percent = 20\n}\n"
        );
    }

    #[test]
    fn metadata_is_at_least_one_gib_and_grows_with_the_vg() {
        let ext = Bytes::mib(4);
        assert_eq!(metadata_size(Bytes::gib(20), ext), Bytes::gib(1));
        // 16 TiB: 2^28 chunks * 128 B = 32 GiB wanted, capped at LVM's maximum.
        let big = metadata_size(Bytes(16 << 40), ext);
        assert!(big > Bytes::gib(15) && big < Bytes::gib(16));
        assert_eq!(big.0 % ext.0, 0);
        // 10 TiB: 10 * 2^24 chunks * 128 B = 20 GiB -> capped; 4 TiB: 8 GiB.
        assert_eq!(metadata_size(Bytes(4 << 40), ext), Bytes::gib(8));
    }
}
