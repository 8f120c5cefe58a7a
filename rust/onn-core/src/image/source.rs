//! From what a user gives as the image to the squashfs onn installs, before anything is
//! written to a disk: a squashfs or oVirt's image-update RPM, a file or an http(s) URL
//! (downloaded by [`super::fetch`], the one downloader), with the keys it must be signed by and,
//! for a bare squashfs, its detached signature.
//!
//! The policy (README.md, "Signed images"): a key given means a signature is required, by one
//! of the keys given, over what is installed: an RPM's header signature (which covers its
//! payload through the payload digest), or a squashfs's detached signature (`--signature`, or
//! by default `<image>.sig`, then `<image>.asc`, beside the image). No key means what onn did
//! before: the image is installed with a warning that nothing vouches for it (`--sha256`, if
//! given, is checked as always), and an RPM's signature is not checked, which it says.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::ground::error::{id_of, not_found, precondition};
use crate::ground::progress::{CancelToken, Event};
use crate::image::digest::{self, FileDigest};
use crate::image::fetch::{self, FetchOptions};
use crate::image::rpm;
use crate::image::signature::{self, Keyring, Signer};

/// What the user gave.
#[derive(Debug, Clone, Default)]
pub struct Given {
    /// The image: a file or an http(s) URL, of a squashfs or an image-update RPM.
    pub image: String,
    /// Its SHA-256 (of the file given: the RPM, for an RPM).
    pub sha256: Option<String>,
    /// Keys (files or URLs, armored or binary) it must be signed by; empty: not checked.
    pub keys: Vec<String>,
    /// A bare squashfs's detached signature (a file or URL); None: beside the image.
    pub signature: Option<String>,
    /// How URLs are downloaded (its `sha256` is ignored: the image's is `sha256` above).
    pub fetch: FetchOptions,
}

/// Where the squashfs came from and who vouches for it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Provenance {
    /// Who signed it (None: no key was given).
    pub signer: Option<Signer>,
    /// The image-update RPM it came out of (`name-version-release.arch`), if any.
    pub package: Option<String>,
}

impl Given {
    /// Does obtaining the image write a file (a download, an RPM's image, a key or signature
    /// fetched)? A local squashfs and local keys need no directory.
    pub fn needs_dir(&self) -> bool {
        let local_rpm = !fetch::is_url(&self.image) && rpm::is_rpm(Path::new(&self.image));
        fetch::is_url(&self.image)
            || local_rpm
            || self.keys.iter().any(|k| fetch::is_url(k))
            || self.signature.as_deref().is_some_and(fetch::is_url)
    }
}

impl Provenance {
    /// No signer, no package: a bare squashfs installed without a key.
    pub fn is_empty(&self) -> bool {
        *self == Provenance::default()
    }
}

/// The squashfs to install, local and verified as the policy asks.
#[derive(Debug, Clone)]
pub struct Obtained {
    pub path: PathBuf,
    /// Its SHA-256, verified (from an RPM's file digest, or `--sha256`), for the request.
    pub sha256: Option<String>,
    /// Its digest as computed while it was written (a download, an RPM's payload): the image
    /// is not hashed again while the file is unchanged.
    pub digest: Option<FileDigest>,
    pub provenance: Provenance,
}

/// Make the image given a local, verified squashfs; downloads and an RPM's image go into
/// `dir`. Keys are read first: a bad key is refused before a large image is downloaded.
pub fn obtain(
    given: &Given,
    dir: &Path,
    observer: &mut dyn FnMut(&Event) -> Result<()>,
    cancel: &CancelToken,
) -> Result<Obtained> {
    let keys = load_keys(given, dir, observer, cancel)?;
    let (path, digest) = if fetch::is_url(&given.image) {
        let fetched = fetch::fetch(
            &given.image,
            dir,
            &FetchOptions {
                sha256: given.sha256.clone(),
                ..given.fetch.clone()
            },
            observer,
            cancel,
        )?;
        (fetched.path, fetched.digest)
    } else {
        (PathBuf::from(&given.image), None)
    };
    if !path.is_file() || !rpm::is_rpm(&path) {
        return bare_squashfs(given, path, digest, keys.as_ref(), dir, observer, cancel);
    }
    if given.signature.is_some() {
        return Err(precondition(
            "request.conflict",
            format!(
                "{} is an RPM, which carries its own signature: leave out --signature",
                path.display()
            ),
        ));
    }
    // --sha256 is the RPM's, as published beside it (a download checked it as it arrived).
    if let Some(want) = &given.sha256 {
        let want = digest::parse_sha256(want)?;
        digest::check(&path, &want, digest::sha256_of(&path, digest.as_ref())?)?;
    }
    let checked = rpm::check(&path, keys.as_ref())?;
    let (image, digest) = rpm::extract(&checked, dir, observer, cancel)?;
    if fetch::is_url(&given.image) {
        // The download was ours and has served: the installer keeps both in RAM otherwise.
        let _ = std::fs::remove_file(&path);
    }
    if keys.is_none() {
        tracing::warn!(
            "{} was installed from {} without checking its signature (no --gpg-key)",
            checked.package.image,
            checked.package.nevra
        );
    }
    Ok(Obtained {
        path: image,
        sha256: Some(checked.package.sha256.clone()),
        digest: Some(digest),
        provenance: Provenance {
            signer: checked.package.signer.clone(),
            package: Some(checked.package.nevra.clone()),
        },
    })
}

fn load_keys(
    given: &Given,
    dir: &Path,
    observer: &mut dyn FnMut(&Event) -> Result<()>,
    cancel: &CancelToken,
) -> Result<Option<Keyring>> {
    if given.keys.is_empty() {
        return Ok(None);
    }
    let mut keys = Keyring::default();
    for key in &given.keys {
        let (shown, bytes) = read_small(
            key,
            "key.missing",
            "--gpg-key",
            given,
            dir,
            observer,
            cancel,
        )?;
        keys.add(&shown, &bytes, signature::now())?;
    }
    Ok(Some(keys))
}

/// A key or signature file's bytes, from a path or a URL (downloaded into a directory of its
/// own in `dir`, removed right after); `missing`: the id of a path that does not exist.
#[allow(clippy::too_many_arguments)]
fn read_small(
    source: &str,
    missing: &'static str,
    option: &str,
    given: &Given,
    dir: &Path,
    observer: &mut dyn FnMut(&Event) -> Result<()>,
    cancel: &CancelToken,
) -> Result<(String, Vec<u8>)> {
    if fetch::is_url(source) {
        let own = tempfile::tempdir_in(dir).map_err(|e| fetch::dir_error(dir, e))?;
        let opts = FetchOptions {
            sha256: None,
            ..given.fetch.clone()
        };
        let fetched = fetch::fetch(source, own.path(), &opts, observer, cancel)?;
        let bytes = std::fs::read(&fetched.path)?;
        return Ok((fetch::redact(source), bytes));
    }
    let bytes = std::fs::read(source).map_err(|e| {
        not_found(
            missing,
            format!("{source} cannot be read ({e}); check {option}"),
        )
    })?;
    Ok((source.to_owned(), bytes))
}

/// A bare squashfs: with keys, its detached signature must be by one of them.
#[allow(clippy::too_many_arguments)]
fn bare_squashfs(
    given: &Given,
    path: PathBuf,
    digest: Option<FileDigest>,
    keys: Option<&Keyring>,
    dir: &Path,
    observer: &mut dyn FnMut(&Event) -> Result<()>,
    cancel: &CancelToken,
) -> Result<Obtained> {
    let unsigned = |path: PathBuf, digest: Option<FileDigest>| Obtained {
        path,
        sha256: given.sha256.clone(),
        digest,
        provenance: Provenance::default(),
    };
    if !path.is_file() {
        // OpenImage names what is wrong with the path (image.missing, image.not-file).
        return Ok(unsigned(path, digest));
    }
    let Some(keys) = keys else {
        if given.signature.is_some() {
            tracing::warn!(
                "{}: a signature without a key proves nothing; give the key with --gpg-key",
                fetch::redact(&given.image)
            );
        }
        tracing::warn!(
            "{} is not signed by a key you gave (no --gpg-key): nothing vouches for it{}",
            fetch::redact(&given.image),
            if given.sha256.is_some() {
                " but its checksum"
            } else {
                ""
            }
        );
        return Ok(unsigned(path, digest));
    };
    let shown = fetch::redact(&given.image);
    let (sig_shown, sig) = match &given.signature {
        Some(s) => read_small(
            s,
            "signature.missing",
            "--signature",
            given,
            dir,
            observer,
            cancel,
        )?,
        None => beside(given, &path, dir, observer, cancel)?.ok_or_else(|| {
            precondition(
                "signature.missing",
                format!(
                    "{shown} has no signature beside it ({shown}.sig or .asc), and a key was \
                     given ({}): an image must be signed by it; give its signature with \
                     --signature",
                    keys.sources()
                ),
            )
        })?,
    };
    let file = File::open(&path).map_err(|e| anyhow::anyhow!("opening {}: {e}", path.display()))?;
    digest::count_pass();
    let signer = keys.verify(
        std::io::BufReader::with_capacity(1 << 20, file),
        &sig,
        &shown,
    )?;
    tracing::info!("{shown}: signed by {signer} ({sig_shown})");
    Ok(Obtained {
        path,
        sha256: given.sha256.clone(),
        digest,
        provenance: Provenance {
            signer: Some(signer),
            package: None,
        },
    })
}

/// The signature beside the image (`.sig`, then `.asc`), if there is one.
fn beside(
    given: &Given,
    path: &Path,
    dir: &Path,
    observer: &mut dyn FnMut(&Event) -> Result<()>,
    cancel: &CancelToken,
) -> Result<Option<(String, Vec<u8>)>> {
    for ext in [".sig", ".asc"] {
        if fetch::is_url(&given.image) {
            let url = format!("{}{ext}", given.image);
            match read_small(
                &url,
                "signature.missing",
                "--signature",
                given,
                dir,
                observer,
                cancel,
            ) {
                Ok(found) => return Ok(Some(found)),
                Err(e) if id_of(&e) == "download.not-found" => continue,
                Err(e) => return Err(e),
            }
        }
        let local = PathBuf::from(format!("{}{ext}", path.display()));
        if let Ok(bytes) = std::fs::read(&local) {
            return Ok(Some((local.display().to_string(), bytes)));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/image/fixtures/signed")
            .join(name)
            .display()
            .to_string()
    }

    fn obtain_in(dir: &Path, given: Given) -> Result<Obtained> {
        obtain(&given, dir, &mut |_| Ok(()), &CancelToken::new())
    }

    #[test]
    fn a_signed_rpm_and_a_signed_squashfs_name_their_signer() {
        let dir = tempfile::tempdir().unwrap();
        let got = obtain_in(
            dir.path(),
            Given {
                image: fixture("signed.rpm"),
                keys: vec![fixture("release.asc")],
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            got.provenance.package.as_deref(),
            Some("ovirt-node-ng-image-update-1.0-1.noarch")
        );
        assert!(got.provenance.signer.is_some());
        assert_eq!(got.path.parent(), Some(dir.path()));
        let bare = obtain_in(
            dir.path(),
            Given {
                image: fixture("onn-fixture-1.0-1.squashfs.img"),
                keys: vec![fixture("release.gpg")],
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(bare.provenance.signer, got.provenance.signer);
        assert_eq!(
            bare.path,
            PathBuf::from(fixture("onn-fixture-1.0-1.squashfs.img"))
        );
    }

    #[test]
    fn a_key_given_requires_a_signature() {
        let dir = tempfile::tempdir().unwrap();
        let e = obtain_in(
            dir.path(),
            Given {
                image: fixture("signed.rpm"),
                keys: vec![fixture("release.asc")],
                signature: Some(fixture("onn-fixture-1.0-1.squashfs.img.sig")),
                ..Default::default()
            },
        )
        .unwrap_err();
        assert_eq!(id_of(&e), "request.conflict");
        // A squashfs with no signature beside it (the RPM fixture stands in for one).
        let copy = dir.path().join("image.squashfs.img");
        std::fs::copy(fixture("onn-fixture-1.0-1.squashfs.img"), &copy).unwrap();
        let e = obtain_in(
            dir.path(),
            Given {
                image: copy.display().to_string(),
                keys: vec![fixture("release.asc")],
                ..Default::default()
            },
        )
        .unwrap_err();
        assert_eq!(id_of(&e), "signature.missing", "{e}");
        // Without a key: as before, unverified.
        let got = obtain_in(
            dir.path(),
            Given {
                image: copy.display().to_string(),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(got.provenance, Provenance::default());
    }
}
