//! rpmvercmp is a total order on what it is given: reflexive, antisymmetric, and transitive
//! on every triple the input splits into.
#![no_main]

use libfuzzer_sys::fuzz_target;
use onn_core::image::nvr::rpmvercmp;
use std::cmp::Ordering;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let parts: Vec<&str> = s.splitn(3, '\n').collect();
    for a in &parts {
        assert_eq!(rpmvercmp(a, a), Ordering::Equal);
        for b in &parts {
            assert_eq!(rpmvercmp(a, b), rpmvercmp(b, a).reverse(), "{a:?} vs {b:?}");
        }
    }
    if let [a, b, c] = parts[..] {
        let (ab, bc, ac) = (rpmvercmp(a, b), rpmvercmp(b, c), rpmvercmp(a, c));
        if ab != Ordering::Greater && bc != Ordering::Greater {
            assert_ne!(
                ac,
                Ordering::Greater,
                "{a:?} <= {b:?} <= {c:?} but {a:?} > {c:?}"
            );
        }
    }
});
