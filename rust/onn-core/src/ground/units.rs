//! Sizes as a unit type, never bare integers.

use std::fmt;
use std::str::FromStr;

/// A size in bytes.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct Bytes(pub u64);

pub const KIB: u64 = 1024;
pub const MIB: u64 = 1024 * KIB;
pub const GIB: u64 = 1024 * MIB;

impl Bytes {
    pub const fn gib(n: u64) -> Self {
        Bytes(n * GIB)
    }
    pub const fn mib(n: u64) -> Self {
        Bytes(n * MIB)
    }
    /// Round up to a multiple of `align` (which must be > 0).
    pub fn round_up(self, align: Bytes) -> Bytes {
        Bytes(self.0.div_ceil(align.0) * align.0)
    }
    /// Round down to a multiple of `align` (which must be > 0).
    pub fn round_down(self, align: Bytes) -> Bytes {
        Bytes(self.0 / align.0 * align.0)
    }
    /// `self * num / den`, computed without overflow for any realistic disk size.
    pub fn scale(self, num: u64, den: u64) -> Bytes {
        Bytes((u128::from(self.0) * u128::from(num) / u128::from(den)) as u64)
    }
    pub fn saturating_sub(self, other: Bytes) -> Bytes {
        Bytes(self.0.saturating_sub(other.0))
    }
    /// The argument form LVM takes: an exact byte count with the `b` unit.
    pub fn lvm_arg(self) -> String {
        format!("{}b", self.0)
    }
}

impl std::ops::Add for Bytes {
    type Output = Bytes;
    fn add(self, o: Bytes) -> Bytes {
        Bytes(self.0 + o.0)
    }
}

impl std::iter::Sum for Bytes {
    fn sum<I: Iterator<Item = Bytes>>(iter: I) -> Bytes {
        Bytes(iter.map(|b| b.0).sum())
    }
}

impl fmt::Display for Bytes {
    /// Human form with binary units, e.g. `5 GiB`, `1.5 GiB`, `512 MiB`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(u64, &str); 4] =
            [(1 << 40, "TiB"), (GIB, "GiB"), (MIB, "MiB"), (KIB, "KiB")];
        for (size, name) in UNITS {
            if self.0 >= size {
                let whole = self.0 / size;
                let tenths = (self.0 % size) * 10 / size;
                return if tenths == 0 {
                    write!(f, "{whole} {name}")
                } else {
                    write!(f, "{whole}.{tenths} {name}")
                };
            }
        }
        write!(f, "{} B", self.0)
    }
}

/// A size that could not be parsed.
#[derive(Debug, thiserror::Error)]
#[error("invalid size {0:?}: write a whole number with a unit, e.g. 512MiB, 5GiB, 1T")]
pub struct ParseSizeError(String);

impl FromStr for Bytes {
    type Err = ParseSizeError;
    /// Accepts `123`, `123b`, `64k`, `512M`, `5G`, `5GiB`, `1T` (binary multiples, like LVM).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseSizeError(s.to_string());
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: u64 = num.parse().map_err(|_| err())?;
        let mult = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "k" | "kb" | "kib" => KIB,
            "m" | "mb" | "mib" => MIB,
            "g" | "gb" | "gib" => GIB,
            "t" | "tb" | "tib" => 1 << 40,
            _ => return Err(err()),
        };
        n.checked_mul(mult).map(Bytes).ok_or_else(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lvm_style_sizes() {
        assert_eq!("5G".parse::<Bytes>().unwrap(), Bytes::gib(5));
        assert_eq!("1GiB".parse::<Bytes>().unwrap(), Bytes::gib(1));
        assert_eq!("512m".parse::<Bytes>().unwrap(), Bytes::mib(512));
        assert_eq!("4096".parse::<Bytes>().unwrap(), Bytes(4096));
        assert!("5 parsecs".parse::<Bytes>().is_err());
        assert!("-1G".parse::<Bytes>().is_err());
        assert!("99999999999999T".parse::<Bytes>().is_err());
    }

    #[test]
    fn displays_binary_units() {
        assert_eq!(Bytes::gib(5).to_string(), "5 GiB");
        assert_eq!(Bytes(3 * GIB / 2).to_string(), "1.5 GiB");
        assert_eq!(Bytes(100).to_string(), "100 B");
    }

    #[test]
    fn rounds_to_alignment() {
        assert_eq!(Bytes(1).round_up(Bytes::mib(4)), Bytes::mib(4));
        assert_eq!(Bytes::mib(5).round_down(Bytes::mib(4)), Bytes::mib(4));
        assert_eq!(Bytes::gib(10).scale(8, 10), Bytes(8 * GIB));
    }
}
