//! oVirt's image-update RPM (`ovirt-node-ng-image-update`, built by oVirt/ovirt-node-ng-image's
//! `ovirt-node-ng.spec.in`): one squashfs at
//! `/usr/share/ovirt-node-ng-image-update/image/<name>-<version>-<release>.squashfs.img`, an
//! uncompressed payload (`w0.gzdio`), signed with the project's release key. dnf checks that
//! signature at every host update; onn checks it at install and installs the squashfs from
//! the payload, so the image an operator installs is the one the release key vouches for.
//!
//! The RPM format is the `rpm` crate's (see the workspace Cargo.toml), the OpenPGP one
//! [`super::signature`]'s. What is onn's: the order of the checks, all before the payload is
//! used and before anything is written to a disk:
//!
//! 1. the header against its digests in the signature header (`rpm.tampered`);
//! 2. with keys, the header signature (rpm's header-only RSA/EdDSA signature, which rpm ≥ 4.14
//!    makes): none (`signature.missing`), by a key not given (`signature.unknown-key`), not
//!    matching (`signature.mismatch`); the payload is covered through the signed header's
//!    payload digest, so an RPM without one has no signature over its payload;
//! 3. the header's file list: exactly one squashfs under the image directory (`rpm.no-squashfs`,
//!    `rpm.many-squashfs`), with a SHA-256 file digest;
//! 4. one pass over the payload: the squashfs streamed into the download directory and hashed
//!    as it arrives, the payload hashed beside it; the file is the image only when the payload
//!    matches the signed header's digest (`rpm.tampered`) and the squashfs its file digest
//!    (`rpm.file-digest`). Until then it is a temporary file, removed on any failure.

use std::cell::RefCell;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use anyhow::{Context, Result};
use rpm::{DigestAlgorithm, FileType, IndexTag, PackageMetadata, PackageReader};
use sha2::{Digest, Sha256};

use crate::ground::error::precondition;
use crate::ground::progress::{CancelToken, Event, Throttle, EXTRACT};
use crate::ground::units::Bytes;
use crate::image::digest::{hex, FileDigest};
use crate::image::fetch;
use crate::image::signature::{Keyring, Signer};

/// Where the image-update package keeps its image.
pub const IMAGE_DIR: &str = "/usr/share/ovirt-node-ng-image-update/image/";
const IMAGE_SUFFIX: &str = ".squashfs.img";
/// An RPM file's first bytes (its lead's magic).
const MAGIC: [u8; 4] = [0xed, 0xab, 0xee, 0xdb];
const CHUNK: usize = 1 << 20;

/// Is the file an RPM (by its content, whatever its name)?
pub fn is_rpm(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok_and(|()| magic == MAGIC)
}

/// An image-update RPM whose header was checked (and, with keys, its signature): what it
/// holds, before its payload is read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Package {
    /// `name-version-release.arch` of the package.
    pub nevra: String,
    /// The squashfs's path in the package.
    pub image: String,
    pub size: Bytes,
    /// Its SHA-256, from the header's file digests.
    pub sha256: String,
    /// Who signed the header (None: no key was given, the signature was not checked).
    pub signer: Option<Signer>,
}

/// A checked RPM, ready for [`extract`].
pub struct Checked {
    path: PathBuf,
    pub package: Package,
    /// The payload's SHA-256 from the header (None: an RPM older than rpm 4.14 has none).
    payload_sha256: Option<String>,
    payload_offset: u64,
}

fn invalid(path: &Path, why: impl std::fmt::Display) -> anyhow::Error {
    precondition(
        "rpm.invalid",
        format!(
            "{} is not a readable RPM ({why}); download it again, or give the image-update \
             package as the project publishes it",
            path.display()
        ),
    )
}

/// Read an RPM's header and check it (steps 1 to 3 of the module's comment); `keys`: the
/// keys its signature must be by (None: not checked).
pub fn check(path: &Path, keys: Option<&Keyring>) -> Result<Checked> {
    let meta = PackageMetadata::open(path).map_err(|e| invalid(path, e))?;
    let shown = path.display();
    if let Err(e) = meta.check_digests().and_then(|r| r.result()) {
        return Err(precondition(
            "rpm.tampered",
            format!(
                "{shown} was changed after it was built: its header does not match its digest \
                 ({e}); download it again from the release"
            ),
        ));
    }
    let nevra = meta
        .get_nevra()
        .map(|n| format!("{}-{}-{}.{}", n.name(), n.version(), n.release(), n.arch()))
        .map_err(|e| invalid(path, e))?;
    let payload_sha256 = meta
        .header
        .get_entry_data_as_string_array(IndexTag::RPMTAG_PAYLOADSHA256)
        .ok()
        .and_then(|v| v.first().map(|s| s.to_ascii_lowercase()))
        .or_else(|| {
            meta.header
                .get_entry_data_as_string(IndexTag::RPMTAG_PAYLOADSHA256)
                .ok()
                .map(str::to_ascii_lowercase)
        });
    let signer = match keys {
        Some(keys) => Some(check_signature(
            &meta,
            path,
            keys,
            payload_sha256.is_some(),
        )?),
        None => {
            tracing::warn!(
                "{shown}: no key given, so its signature was not checked; give the release key \
                 (--gpg-key) to install only what it signed"
            );
            None
        }
    };
    let (image, size, sha256) = the_image(&meta, path)?;
    Ok(Checked {
        path: path.to_path_buf(),
        package: Package {
            nevra,
            image,
            size: Bytes(size),
            sha256,
            signer,
        },
        payload_sha256,
        payload_offset: meta.get_package_segment_offsets().payload,
    })
}

/// The header's signature, by one of `keys`.
fn check_signature(
    meta: &PackageMetadata,
    path: &Path,
    keys: &Keyring,
    has_payload_digest: bool,
) -> Result<Signer> {
    let shown = path.display().to_string();
    let sigs = meta.raw_signatures().map_err(|e| invalid(path, e))?;
    if sigs.is_empty() {
        return Err(precondition(
            "signature.missing",
            format!(
                "{shown} is not signed, and a key was given ({}): an image must be signed by \
                 it; use the package as the project publishes it (rpm -K shows its signature)",
                keys.sources()
            ),
        ));
    }
    if !has_payload_digest {
        return Err(precondition(
            "signature.missing",
            format!(
                "{shown} has no payload digest in its header (rpm before 4.14 built it), so \
                 its signature does not cover the image; rebuild and sign it with a current rpm"
            ),
        ));
    }
    let header = meta.header_bytes().map_err(|e| invalid(path, e))?;
    let mut refusal = None;
    for sig in sigs {
        match keys.verify(&header[..], &sig, &shown) {
            Ok(signer) => return Ok(signer),
            // A signature by a key not given says less than one that does not match.
            Err(e)
                if refusal.is_none()
                    || crate::ground::error::id_of(&e) != "signature.unknown-key" =>
            {
                refusal = Some(e)
            }
            Err(_) => {}
        }
    }
    Err(refusal.unwrap_or_else(|| invalid(path, "no signature")))
}

/// The one squashfs under [`IMAGE_DIR`]: its path, size and SHA-256.
fn the_image(meta: &PackageMetadata, path: &Path) -> Result<(String, u64, String)> {
    let shown = path.display();
    let entries = meta.get_file_entries().map_err(|e| invalid(path, e))?;
    let images: Vec<_> = entries
        .iter()
        .filter(|e| e.file_type() == FileType::Regular)
        .filter(|e| {
            let p = e.path();
            let p = p.to_string_lossy();
            p.starts_with(IMAGE_DIR)
                && p.ends_with(IMAGE_SUFFIX)
                && !p[IMAGE_DIR.len()..].contains('/')
        })
        .collect();
    let image = match images.as_slice() {
        [one] => one,
        [] => {
            return Err(precondition(
                "rpm.no-squashfs",
                format!(
                    "{shown} holds no image: no {IMAGE_DIR}*{IMAGE_SUFFIX}; give oVirt Node's \
                     image-update package (ovirt-node-ng-image-update)"
                ),
            ))
        }
        many => {
            let names: Vec<_> = many.iter().map(|e| e.basename().to_owned()).collect();
            return Err(precondition(
                "rpm.many-squashfs",
                format!(
                    "{shown} holds {} images ({}); onn installs one: give a package with one \
                     image",
                    many.len(),
                    names.join(", ")
                ),
            ));
        }
    };
    let digest = image
        .digest()
        .filter(|d| d.algorithm() == DigestAlgorithm::Sha2_256)
        .ok_or_else(|| {
            invalid(
                path,
                format!(
                    "its header gives {} no SHA-256 file digest",
                    image.basename()
                ),
            )
        })?;
    Ok((
        image.path().to_string_lossy().into_owned(),
        image.size() as u64,
        digest.as_hex().to_ascii_lowercase(),
    ))
}

/// The file read through the payload reader: the bytes from the payload's offset on hashed as
/// they are read (the decompressor may stop before the file's end; the rest is hashed after).
struct Tee {
    file: File,
    pos: u64,
    start: u64,
    payload: Sha256,
}

struct Shared(Rc<RefCell<Tee>>);

impl Read for Shared {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut t = self.0.borrow_mut();
        let n = t.file.read(buf)?;
        let (pos, start) = (t.pos, t.start);
        if pos + n as u64 > start {
            let from = start.saturating_sub(pos) as usize;
            t.payload.update(&buf[from..n]);
        }
        t.pos += n as u64;
        Ok(n)
    }
}

impl Tee {
    /// Hash the file's bytes not read yet: the payload's SHA-256.
    fn finish(mut self) -> Result<String> {
        if self.pos < self.start {
            self.file.seek(SeekFrom::Start(self.start))?;
        }
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = self.file.read(&mut buf)?;
            if n == 0 {
                return Ok(hex(&self.payload.finalize()));
            }
            self.payload.update(&buf[..n]);
        }
    }
}

/// The squashfs of a checked RPM, streamed out of its payload once into `dir` (step 4 of the
/// module's comment), complete and verified. `observer` gets throttled [`EXTRACT`] events.
pub fn extract(
    checked: &Checked,
    dir: &Path,
    observer: &mut dyn FnMut(&Event) -> Result<()>,
    cancel: &CancelToken,
) -> Result<(PathBuf, FileDigest)> {
    let path = &checked.path;
    let shown = path.display().to_string();
    let package = &checked.package;
    let temp = tempfile::Builder::new()
        .prefix(".onn-extract-")
        .suffix(".part")
        .tempfile_in(dir)
        .map_err(|e| fetch::dir_error(dir, e))?;
    fetch::reserve(temp.as_file(), dir, package.size.0, &shown)?;
    let tee = Rc::new(RefCell::new(Tee {
        file: File::open(path).with_context(|| format!("opening {shown}"))?,
        pos: 0,
        start: checked.payload_offset,
        payload: Sha256::new(),
    }));
    let streamed = stream(
        Shared(tee.clone()),
        &package.image,
        package.size.0,
        temp.as_file(),
        dir,
        observer,
        cancel,
    );
    // The payload reader (and its handle on the file) is gone: the digest of the rest.
    let tee = Rc::try_unwrap(tee)
        .map_err(|_| anyhow::anyhow!("the payload reader outlived the extraction"))?
        .into_inner();
    let payload = tee
        .finish()
        .with_context(|| format!("reading the payload of {shown}"))?;
    if let Some(want) = &checked.payload_sha256 {
        if *want != payload {
            return Err(precondition(
                "rpm.tampered",
                format!(
                    "{shown} was changed after it was built: its payload does not match the \
                     digest in its header (expected {want}, got {payload}); download it again \
                     from the release"
                ),
            ));
        }
    }
    // A failure to read a payload that matches its digest is the package's own.
    let got = streamed.map_err(|e| {
        if crate::ground::error::id_of(&e) == "internal" {
            invalid(path, format!("{e:#}"))
        } else {
            e
        }
    })?;
    if got != package.sha256 {
        return Err(precondition(
            "rpm.file-digest",
            format!(
                "{} in {shown} does not match the digest its header gives it (expected {}, got \
                 {got}): the package was built wrong or made to lie; do not install it, report \
                 it to whoever published it",
                package.image, package.sha256
            ),
        ));
    }
    cancel.check()?;
    let name = fetch::safe_name(package.image.rsplit('/').next().unwrap_or(""));
    let out = dir.join(name);
    temp.persist(&out)
        .map_err(|e| e.error)
        .with_context(|| format!("renaming the image to {}", out.display()))?;
    let digest =
        FileDigest::of_current(&out, &got).with_context(|| format!("reading {}", out.display()))?;
    tracing::info!(
        "{shown}: {} ({}) extracted to {}",
        package.image,
        package.size,
        out.display()
    );
    Ok((out, digest))
}

/// Copy the payload's `image` into `out`, hashing it: its SHA-256.
fn stream(
    input: Shared,
    image: &str,
    size: u64,
    mut out: &File,
    dir: &Path,
    observer: &mut dyn FnMut(&Event) -> Result<()>,
    cancel: &CancelToken,
) -> Result<String> {
    let mut reader = PackageReader::parse(BufReader::with_capacity(CHUNK, input))?;
    let mut throttle = Throttle::default();
    let mut found = None;
    let mut buf = vec![0u8; CHUNK];
    while let Some(mut file) = reader.next_file()? {
        if file.metadata.path() != Path::new(image) {
            file.finish()?;
            continue;
        }
        let mut hasher = Sha256::new();
        let mut done = 0u64;
        loop {
            cancel.check()?;
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n])
                .with_context(|| format!("writing the image into {}", dir.display()))?;
            hasher.update(&buf[..n]);
            done += n as u64;
            if throttle.due(done == size) {
                observer(&Event {
                    step: EXTRACT,
                    index: 0,
                    total: 0,
                    done,
                    size,
                    message: format!("unpacking {image}: {} of {}", Bytes(done), Bytes(size)),
                })?;
            }
        }
        file.finish()?;
        if done != size {
            anyhow::bail!("the payload holds {done} bytes of {image}, its header says {size}");
        }
        found = Some(hex(&hasher.finalize()));
    }
    found.ok_or_else(|| anyhow::anyhow!("its payload does not hold {image}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ground::error::id_of;
    use crate::image::signature::Keyring;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/image/fixtures/signed")
            .join(name)
    }

    fn release() -> Keyring {
        Keyring::from_files(&[fixture("release.asc").as_path()]).unwrap()
    }

    #[test]
    fn a_signed_package_gives_its_image_verified() {
        let dir = tempfile::tempdir().unwrap();
        let keys = release();
        let checked = check(&fixture("signed.rpm"), Some(&keys)).unwrap();
        let p = &checked.package;
        assert_eq!(p.nevra, "ovirt-node-ng-image-update-1.0-1.noarch");
        assert_eq!(
            p.image,
            format!("{IMAGE_DIR}onn-fixture-1.0-1.squashfs.img")
        );
        assert_eq!(
            p.signer.as_ref().unwrap().user_id,
            "onn test release key <release@onn.test>"
        );
        let mut events = Vec::new();
        let (out, digest) = extract(
            &checked,
            dir.path(),
            &mut |e| {
                events.push(e.clone());
                Ok(())
            },
            &CancelToken::new(),
        )
        .unwrap();
        assert_eq!(out, dir.path().join("onn-fixture-1.0-1.squashfs.img"));
        assert_eq!(
            std::fs::read(&out).unwrap(),
            std::fs::read(fixture("onn-fixture-1.0-1.squashfs.img")).unwrap()
        );
        assert_eq!(digest.for_file(&out), Some(p.sha256.as_str()));
        assert_eq!(
            events.last().map(|e| (e.step, e.done)),
            Some((EXTRACT, p.size.0))
        );
        // Nothing else is left in the directory.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn what_the_key_does_not_vouch_for_is_refused_before_the_payload_is_read() {
        let keys = release();
        for (rpm, id) in [
            ("unsigned.rpm", "signature.missing"),
            ("other.rpm", "signature.unknown-key"),
        ] {
            let e = check(&fixture(rpm), Some(&keys)).err().unwrap();
            assert_eq!(id_of(&e), id, "{rpm}: {e}");
        }
        // Without a key the same packages are read (a warning says so).
        assert!(check(&fixture("unsigned.rpm"), None)
            .unwrap()
            .package
            .signer
            .is_none());
        assert!(!is_rpm(&fixture("release.asc")) && is_rpm(&fixture("other.rpm")));
    }

    #[test]
    fn a_changed_payload_is_refused_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let checked = check(&fixture("payload-changed.rpm"), Some(&release())).unwrap();
        let e = extract(&checked, dir.path(), &mut |_| Ok(()), &CancelToken::new()).unwrap_err();
        assert_eq!(id_of(&e), "rpm.tampered", "{e}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
