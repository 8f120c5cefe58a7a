//! NVR parsing and LV-name rules: a parsed NVR joins back to its input; every name onn
//! accepts (the NVR, its base and layer LVs, a VG or pool name) is one LVM accepts, by the
//! rules of lvm(8) "VALID NAMES" written out again here; a refusal is a precondition error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use onn_core::ground::error::{kind_of, Kind};
use onn_core::image::nvr::{ImageName, Nvr};
use onn_core::names;

/// LVM's rules for a new LV name, from lvm(8), independent of onn's code.
fn lvm_accepts_lv(name: &str) -> bool {
    const RESERVED: [&str; 14] = [
        "_cdata", "_cmeta", "_corig", "_iorig", "_mimage", "_mlog", "_pmspare", "_rimage",
        "_rmeta", "_tdata", "_tmeta", "_vdata", "_vorigin", "_wcorig",
    ];
    lvm_accepts_vg(name)
        && !name.starts_with("snapshot")
        && !name.starts_with("pvmove")
        && !RESERVED.iter().any(|r| name.contains(r))
}

fn lvm_accepts_vg(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 127
        && !name.starts_with('-')
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"+_.-".contains(&c))
}

fn refused(r: anyhow::Result<()>) -> bool {
    match r {
        Ok(()) => false,
        Err(e) => {
            assert_eq!(kind_of(&e), Kind::Precondition, "{e:#}");
            true
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    match Nvr::parse(s) {
        Ok(nvr) => {
            assert_eq!(nvr.to_string(), s);
            assert_eq!(nvr.base_lv(), s);
            assert!(lvm_accepts_lv(&nvr.base_lv()), "{s:?}");
            for i in [1, 9, 99] {
                let layer = nvr.layer_lv(i);
                assert!(lvm_accepts_lv(&layer), "{layer:?}");
                assert!(names::validate_lv_name(&layer).is_ok(), "{layer:?}");
                assert_eq!(
                    ImageName::parse(&layer),
                    Some(ImageName::Layer(nvr.clone(), i))
                );
            }
            assert_eq!(ImageName::parse(s), Some(ImageName::Base(nvr.clone())));
            assert_eq!(nvr.compare(&nvr).ok(), Some(std::cmp::Ordering::Equal));
        }
        Err(e) => assert_eq!(kind_of(&e), Kind::Precondition, "{e:#}"),
    }
    if !refused(names::validate_lv_name(s)) {
        assert!(
            lvm_accepts_lv(s),
            "onn accepts LV name {s:?}, LVM would not"
        );
    }
    if !refused(names::validate_vg_name(s)) {
        assert!(
            lvm_accepts_vg(s),
            "onn accepts VG name {s:?}, LVM would not"
        );
        // A pool of the same name in that VG: accepted only when device-mapper can name it.
        if !refused(names::validate_lv_name(s))
            && !refused(names::validate_dm_name(s, s, names::POOL_DM_SUFFIX))
        {
            assert!(names::dm_name(s, s).len() + names::POOL_DM_SUFFIX <= names::DM_NAME_MAX);
        }
    }
});
