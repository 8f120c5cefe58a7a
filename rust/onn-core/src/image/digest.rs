//! SHA-256 of images: a checksum as the user gives it, a file's digest, and the check of one
//! against the other. A digest computed elsewhere (a download's, while its bytes arrived)
//! travels as a [`FileDigest`], which holds only while its file is unchanged.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::ground::error::precondition;

/// Lowercase hexadecimal of a digest.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whole-image reads made to hash an image, in this process (see [`hash_passes`]).
static HASH_PASSES: AtomicU64 = AtomicU64::new(0);

/// How many times this process read a whole image to hash it (a SHA-256 check, a detached
/// signature's check): hashing a 1 GiB image costs about as much as writing it, so a test
/// counts them over an install. A download or an RPM's payload hashed as its bytes arrive is
/// not a pass of its own.
pub fn hash_passes() -> u64 {
    HASH_PASSES.load(Ordering::Relaxed)
}

/// Count one whole-image hash pass.
pub(crate) fn count_pass() {
    HASH_PASSES.fetch_add(1, Ordering::Relaxed);
}

/// Hash a file with SHA-256 (the `sha2` crate uses the CPU's SHA extensions when present).
pub(crate) fn sha256_file(path: &Path) -> Result<String> {
    count_pass();
    let mut f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// A checksum as the user gave it, normalised to lowercase; refused unless 64 hex digits.
pub fn parse_sha256(expected: &str) -> Result<String> {
    let want = expected.trim().to_ascii_lowercase();
    if want.len() != 64 || !want.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(precondition(
            "sha256.malformed",
            format!("{expected:?} is not a SHA-256 checksum: give 64 hexadecimal digits"),
        ));
    }
    Ok(want)
}

/// The error for an image (a file, or a download) whose checksum is not the expected one.
pub(crate) fn sha256_mismatch(what: &str, want: &str, got: &str) -> anyhow::Error {
    precondition(
        "sha256.mismatch",
        format!(
            "checksum mismatch for {what}: expected {want}, got {got}; the image is damaged or \
             not the one you meant, download it again"
        ),
    )
}

/// `got` when it is `want` (both lowercase), else the mismatch naming `path`.
pub(crate) fn check(path: &Path, want: &str, got: String) -> Result<String> {
    if got != want {
        return Err(sha256_mismatch(&path.display().to_string(), want, &got));
    }
    Ok(got)
}

/// A file's identity as `stat` gives it: any write or rename changes the inode, size, mtime or
/// ctime. Taken before a file is read, it tells later whether what was read still holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileId {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl FileId {
    pub(crate) fn of(path: &Path) -> Option<FileId> {
        let m = std::fs::metadata(path).ok()?;
        Some(FileId {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        })
    }
}

/// The SHA-256 of a file as it is now, computed without reading it again (a download hashes
/// its bytes as they arrive). It saves hashing a 1 GB image a second time right after
/// downloading it, and counts only while the file stays exactly as it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDigest {
    sha256: String,
    id: FileId,
}

impl FileDigest {
    /// The file's SHA-256 (hex).
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// `sha256` is the digest of `path`'s content as it is now (None: the file cannot be
    /// stat'ed).
    pub(crate) fn of_current(path: &Path, sha256: &str) -> Option<FileDigest> {
        Some(FileDigest {
            sha256: sha256.to_owned(),
            id: FileId::of(path)?,
        })
    }

    /// `sha256`, computed of the file `id` identified when it was read.
    pub(crate) fn new(sha256: &str, id: FileId) -> FileDigest {
        FileDigest {
            sha256: sha256.to_owned(),
            id,
        }
    }

    /// The digest, if `path` is still the very file it was computed for.
    pub(crate) fn for_file(&self, path: &Path) -> Option<&str> {
        (FileId::of(path)? == self.id).then_some(self.sha256.as_str())
    }
}

/// `path`'s SHA-256: `known`'s when it is still that file's, else read now.
pub(crate) fn sha256_of(path: &Path, known: Option<&FileDigest>) -> Result<String> {
    match known.and_then(|k| k.for_file(path)) {
        Some(digest) => Ok(digest.to_owned()),
        None => sha256_file(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn checksum_is_verified_and_mismatch_named() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x.img");
        std::fs::write(&f, b"abc").unwrap();
        let want = parse_sha256(&ABC.to_uppercase()).unwrap();
        assert_eq!(check(&f, &want, sha256_file(&f).unwrap()).unwrap(), ABC);
        let other = parse_sha256(&ABC.replace('b', "c")).unwrap();
        let err = check(&f, &other, sha256_file(&f).unwrap()).unwrap_err();
        assert_eq!(crate::ground::error::id_of(&err), "sha256.mismatch");
        assert!(err.to_string().contains("expected"));
        let err = parse_sha256("xyz").unwrap_err();
        assert_eq!(crate::ground::error::id_of(&err), "sha256.malformed");
    }

    #[test]
    fn a_known_digest_counts_until_its_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x.img");
        std::fs::write(&f, b"abc").unwrap();
        let known = FileDigest::of_current(&f, "digest").unwrap();
        assert_eq!(known.for_file(&f), Some("digest"));
        assert_eq!(sha256_of(&f, Some(&known)).unwrap(), "digest");
        assert_eq!(known.for_file(&dir.path().join("other.img")), None);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&f)
            .unwrap()
            .write_all(b"d")
            .unwrap();
        assert_eq!(known.for_file(&f), None);
        assert_ne!(sha256_of(&f, Some(&known)).unwrap(), "digest", "read again");
    }
}
