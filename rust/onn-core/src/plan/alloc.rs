//! Where lvm2 puts a new thin pool, PV by PV, in extents: a plan may promise only a pool that
//! lvm2 can allocate. Observed with real lvm2 (Debian 12's 2.03.16) and checked at the
//! boundaries by `tests/guest/test_vm_disks.py`: `lvcreate --type thin-pool` first makes the
//! metadata spare, whole, on the PV with the most free extents; then it takes the data from the
//! largest free areas (the data may span PVs); then the metadata, which it can only place whole
//! on one PV: where it would have to split it, lvcreate aborts (`consume_pv_area: Assertion
//! 'to_go <= pva->count' failed`) after the VG exists. Two disks of 2 GiB hit that with a pool
//! of 80 % of the VG.

/// Can a pool of `data` extents with `meta` extents of metadata (and a spare as large) be
/// allocated from PVs with these free extents?
pub fn pool_fits(free: &[u64], data: u64, meta: u64) -> bool {
    let mut free = free.to_vec();
    let take_whole = |free: &mut Vec<u64>, n: u64| match free.iter_mut().max() {
        Some(f) if *f >= n => {
            *f -= n;
            true
        }
        _ => false,
    };
    if !take_whole(&mut free, meta) {
        return false;
    }
    let mut left = data;
    while left > 0 {
        let Some(f) = free.iter_mut().filter(|f| **f > 0).max() else {
            return false;
        };
        let n = left.min(*f);
        *f -= n;
        left -= n;
    }
    take_whole(&mut free, meta)
}

/// The largest pool data, in extents and at most `want`, that fits (0 when none does).
pub fn max_pool_data(free: &[u64], want: u64, meta: u64) -> u64 {
    // Less data never makes a pool harder to place: search the boundary.
    let (mut lo, mut hi) = (0, want);
    if !pool_fits(free, 0, meta) {
        return 0;
    }
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if pool_fits(free, mid, meta) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;

    // Extents of 4 MiB; a PV of N MiB has (N - 1) / 4 of them; metadata of 1 GiB is 256.
    const META: u64 = 256;

    #[test]
    fn what_real_lvm2_did_on_two_equal_disks() {
        // 2 × 1800 MiB and 2 × 2 GiB: lvcreate aborted with onn's old 80 % pool; 2 × 2200 MiB
        // installed (tests/guest/test_vm_disks.py finds the boundaries again).
        assert!(!pool_fits(&[449, 449], 309, META));
        assert!(!pool_fits(&[449, 449], 200, META));
        assert!(!pool_fits(&[511, 511], 408, META));
        assert!(pool_fits(&[549, 549], 468, META));
        // The data that does fit on two 2 GiB disks: the metadata then has a whole PV.
        assert_eq!(max_pool_data(&[511, 511], 408, META), 255);
    }

    #[test]
    fn one_disk_holds_metadata_spare_and_data_side_by_side() {
        assert_eq!(max_pool_data(&[1000], 1000, META), 1000 - 2 * META);
        assert_eq!(max_pool_data(&[400], 400, META), 0);
    }

    #[test]
    fn unequal_disks_put_the_spare_on_the_largest() {
        // Spare on the 1000, data from what is largest then, metadata whole somewhere.
        assert!(pool_fits(&[300, 1000], 400, META));
        assert_eq!(
            max_pool_data(&[300, 1000], 2000, META),
            300 + 1000 - 2 * META
        );
        assert_eq!(max_pool_data(&[200, 200, 200], 600, META), 0);
    }
}
