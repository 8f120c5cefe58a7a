//! imgbased's naming (`naming.py`): an image's NVR, the order of two NVRs (rpm's
//! `rpmvercmp`), and the LV names they give: a base is named by its NVR, its layers
//! `<NVR>+<N>`, the first `+1`, the next one past the highest there is. An LV name that parses
//! as neither is no image of imgbased's (a data volume, the pool).

use std::cmp::Ordering;
use std::fmt;

use crate::ground::error::precondition;
use crate::names::{check_name, LV_NAME_MAX};

/// An image's name-version-release, e.g. `ovirt-node-ng-4.4.10-0.20220303.0`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Nvr {
    pub name: String,
    pub version: String,
    pub release: String,
}

impl Nvr {
    /// Parse with imgbased's rule `^(.*)-([^-]*)-([^-]*)$` (the name is greedy), and refuse what
    /// could not become an LV name (imgbased would fail later, after the disk was written).
    pub fn parse(s: &str) -> anyhow::Result<Nvr> {
        let bad = |why: &str| {
            precondition(
                "nvr.invalid",
                format!(
                    "image NVR {s:?} is malformed ({why}); imgbased expects \
                     <name>-<version>-<release>: use an image built with a valid NVR"
                ),
            )
        };
        let (rest, release) = s.rsplit_once('-').ok_or_else(|| bad("no '-'"))?;
        let (name, version) = rest.rsplit_once('-').ok_or_else(|| bad("only one '-'"))?;
        if name.is_empty() || version.is_empty() || release.is_empty() {
            return Err(bad("an empty part"));
        }
        // Anywhere, not only in the release: a '+' in the name or version makes the base's LV
        // name read as a layer of another base (found by fuzz/rust names).
        if s.contains('+') {
            return Err(bad("'+' is reserved for layer names"));
        }
        // The NVR becomes the base's LV name; a layer name adds "+N": leave room for it.
        check_name(s, "image NVR", true)?;
        if s.len() + 3 > LV_NAME_MAX {
            return Err(precondition(
                "nvr.too-long",
                format!(
                    "image NVR {s:?} has {} characters; with a layer suffix (+N) it must fit \
                     {LV_NAME_MAX}: use an image with a shorter NVR",
                    s.len()
                ),
            ));
        }
        Ok(Nvr {
            name: name.into(),
            version: version.into(),
            release: release.into(),
        })
    }

    /// Order of two images of the same name: rpm's labelCompare on (version, release).
    pub fn compare(&self, other: &Nvr) -> anyhow::Result<Ordering> {
        if self.name != other.name {
            return Err(precondition(
                "nvr.different-names",
                format!(
                    "cannot order images of different names: {} and {}; name the base to use",
                    self.name, other.name
                ),
            ));
        }
        Ok(rpmvercmp(&self.version, &other.version)
            .then_with(|| rpmvercmp(&self.release, &other.release)))
    }

    /// The base LV's name: the NVR itself.
    pub fn base_lv(&self) -> String {
        self.to_string()
    }

    /// The name of layer `index` on this base: `<NVR>+<index>`.
    pub fn layer_lv(&self, index: u32) -> String {
        format!("{self}+{index}")
    }
}

impl fmt::Display for Nvr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.name, self.version, self.release)
    }
}

/// What an LV name means to imgbased: a base, a layer of a base, or neither.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageName {
    Base(Nvr),
    Layer(Nvr, u32),
}

impl ImageName {
    /// Parse an LV name as imgbased does; `None` for names that are neither.
    pub fn parse(lv: &str) -> Option<ImageName> {
        match lv.rsplit_once('+') {
            Some((base, idx)) => {
                let idx: u32 = idx.parse().ok()?;
                Some(ImageName::Layer(Nvr::parse(base).ok()?, idx))
            }
            None => Some(ImageName::Base(Nvr::parse(lv).ok()?)),
        }
    }
}

/// The next layer index on a base: the highest existing index + 1 (the first is 1).
pub fn next_layer_index(existing: impl IntoIterator<Item = u32>) -> u32 {
    existing.into_iter().max().unwrap_or(0) + 1
}

/// rpm's version comparison (`rpmvercmp`): alternating numeric and alphabetic segments,
/// numbers compare numerically and beat letters, `~` sorts before everything (even the end),
/// `^` sorts after the end but before any other segment.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (mut a, mut b) = (a.as_bytes(), b.as_bytes());
    // What separates segments: anything but letters, digits, `~` and `^`.
    fn skip_separators(s: &[u8]) -> &[u8] {
        let n = s
            .iter()
            .take_while(|&&c| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^')
            .count();
        &s[n..]
    }
    loop {
        a = skip_separators(a);
        b = skip_separators(b);
        match (a.first(), b.first()) {
            (Some(&x), Some(&y)) if x == y && (x == b'~' || x == b'^') => {
                a = &a[1..];
                b = &b[1..];
                continue;
            }
            (Some(b'~'), _) => return Ordering::Less,
            (_, Some(b'~')) => return Ordering::Greater,
            (Some(b'^'), None) => return Ordering::Greater,
            (None, Some(b'^')) => return Ordering::Less,
            (Some(b'^'), _) => return Ordering::Less,
            (_, Some(b'^')) => return Ordering::Greater,
            (None, None) => return Ordering::Equal,
            (None, _) => return Ordering::Less,
            (_, None) => return Ordering::Greater,
            _ => {}
        }
        let numeric = a[0].is_ascii_digit();
        let take = |s: &[u8]| {
            let n = s
                .iter()
                .take_while(|c| {
                    if numeric {
                        c.is_ascii_digit()
                    } else {
                        c.is_ascii_alphabetic()
                    }
                })
                .count();
            n
        };
        let (na, nb) = (take(a), take(b));
        if nb == 0 {
            // Segments of different types: numeric is newer.
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let (sa, sb) = (&a[..na], &b[..nb]);
        let ord = if numeric {
            let trim = |s: &[u8]| {
                let z = s.iter().take_while(|&&c| c == b'0').count();
                s[z..].to_vec()
            };
            let (ta, tb) = (trim(sa), trim(sb));
            ta.len().cmp(&tb.len()).then_with(|| ta.cmp(&tb))
        } else {
            sa.cmp(sb)
        };
        if ord != Ordering::Equal {
            return ord;
        }
        a = &a[na..];
        b = &b[nb..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::validate_lv_name;

    #[test]
    fn nvr_parses_like_imgbased() {
        let nvr = Nvr::parse("ovirt-node-ng-4.4.10-0.20220303.0").unwrap();
        assert_eq!(nvr.name, "ovirt-node-ng");
        assert_eq!(nvr.version, "4.4.10");
        assert_eq!(nvr.release, "0.20220303.0");
        assert_eq!(nvr.to_string(), "ovirt-node-ng-4.4.10-0.20220303.0");
        assert_eq!(nvr.layer_lv(1), "ovirt-node-ng-4.4.10-0.20220303.0+1");
    }

    #[test]
    fn nvr_refuses_malformed_and_too_long() {
        for bad in [
            "root",
            "a-b",
            "-1.0-1",
            "x y-1-1",
            "ovirt-node-1-2+3",
            "snapshot-1.0-1",
            &format!("{}-1-1", "n".repeat(50)),
            // fuzz/rust names: it parsed, but as an LV name it read back as nothing.
            "rhvh-4.41h-4.4.10.4-00+hvh-4.3-0.202h_rmet1",
            "n+1-1.0-1",
        ] {
            assert!(Nvr::parse(bad).is_err(), "{bad} should be refused");
        }
        // The longest NVR leaves room for "+99": its layers up to 99 are valid LV names.
        let longest = format!("{}-1-1", "n".repeat(LV_NAME_MAX - 3 - 4));
        let nvr = Nvr::parse(&longest).unwrap();
        assert!(validate_lv_name(&nvr.layer_lv(99)).is_ok());
        let err = Nvr::parse(&format!("n{longest}")).unwrap_err();
        assert_eq!(crate::ground::error::id_of(&err), "nvr.too-long");
    }

    #[test]
    fn nvr_orders_by_version_then_release() {
        let a = Nvr::parse("ovirt-node-ng-4.4.10-0.20220303.0").unwrap();
        let b = Nvr::parse("ovirt-node-ng-4.4.9-0.20220303.0").unwrap();
        let c = Nvr::parse("ovirt-node-ng-4.4.10-1.20220101.0").unwrap();
        assert_eq!(a.compare(&b).unwrap(), Ordering::Greater);
        assert_eq!(a.compare(&c).unwrap(), Ordering::Less);
        let other = Nvr::parse("rhvh-4.4.10-0.20220303.0").unwrap();
        assert!(a.compare(&other).is_err());
    }

    #[test]
    fn rpmvercmp_matches_rpm() {
        use Ordering::*;
        for (a, b, want) in [
            ("1.0", "1.0", Equal),
            ("1.0", "2.0", Less),
            ("2.0.1", "2.0", Greater),
            ("1.10", "1.9", Greater),
            ("1.01", "1.1", Equal),
            ("1.0a", "1.0", Greater),
            ("1a", "1.1", Less),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0^git1", "1.0", Greater),
            ("1.0^git1", "1.0.1", Less),
            ("5.5p1", "5.5p10", Less),
            ("xyz", "xyz.1", Less),
        ] {
            assert_eq!(rpmvercmp(a, b), want, "{a} vs {b}");
        }
    }

    #[test]
    fn image_names_parse_like_imgbased_naming() {
        assert_eq!(
            ImageName::parse("onn-demo-1.0-0.1+2"),
            Some(ImageName::Layer(Nvr::parse("onn-demo-1.0-0.1").unwrap(), 2))
        );
        assert!(matches!(
            ImageName::parse("onn-demo-1.0-0.1"),
            Some(ImageName::Base(_))
        ));
        // Data volumes and the pool are not images (imgbased logs "Failed to parse NVR").
        assert_eq!(ImageName::parse("root"), None);
        assert_eq!(ImageName::parse("var_log"), None);
        assert_eq!(next_layer_index([]), 1);
        assert_eq!(next_layer_index([1, 3, 2]), 4);
    }
}
