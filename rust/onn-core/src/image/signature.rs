//! OpenPGP: the keys an image must be signed by (`--gpg-key`, kickstart `--gpgkey`) and the
//! signatures onn checks with them: an image-update RPM's header signature ([`super::rpm`]) and
//! a detached signature (`.sig`, `.asc`) of a bare squashfs.
//!
//! The OpenPGP format is the `pgp` crate's (packets, armor, the public-key algorithms), the
//! same implementation the `rpm` crate verifies with; what is decided here is which keys and
//! signatures count. A key counts when a self-signature of its own binds a user id to it, it
//! carries no revocation it made itself, and it has not expired; a signing subkey counts when
//! its primary key binds it, and it is neither revoked nor expired. A key that does not count
//! is refused when it is given (`key.expired`, `key.revoked`), never silently skipped: a fleet
//! whose release key expired must learn it before an install, not from a host that did not
//! get its update.

use std::io::{Cursor, Read};
use std::path::Path;

use anyhow::Result;
use pgp::composed::{Deserializable, DetachedSignature, SignedPublicKey, SignedPublicSubKey};
use pgp::packet::{Signature, SignatureType};
use pgp::types::{KeyDetails, Tag, Timestamp};

use crate::ground::error::{not_found, precondition};

/// Who signed an image, as verified: the signing key's id (16 hex digits, as rpm and
/// `gpg --keyid-format long` show it), its certificate's fingerprint and primary user id.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Signer {
    pub key_id: String,
    pub fingerprint: String,
    pub user_id: String,
}

impl std::fmt::Display for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.user_id, self.key_id)
    }
}

/// One key as given: a certificate that counts (see the module's comment).
#[derive(Debug, Clone)]
struct Cert {
    key: SignedPublicKey,
    user_id: String,
}

/// The keys given, each checked as it was loaded.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    certs: Vec<Cert>,
    /// Where they came from, for messages.
    sources: Vec<String>,
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

pub(crate) fn now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
}

fn date(secs: u32) -> String {
    // Days since the epoch to a civil date (Howard Hinnant's algorithm): no calendar crate for
    // one line of a message.
    let days = i64::from(secs / 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

impl Keyring {
    /// Read each key file (armored or binary; one file may hold several certificates).
    pub fn from_files(paths: &[&Path]) -> Result<Keyring> {
        let mut keys = Keyring::default();
        for path in paths {
            let bytes = std::fs::read(path).map_err(|e| {
                not_found(
                    "key.missing",
                    format!(
                        "the key {} cannot be read ({e}); check --gpg-key",
                        path.display()
                    ),
                )
            })?;
            keys.add(&path.display().to_string(), &bytes, now())?;
        }
        Ok(keys)
    }

    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// The keys given, as messages name them.
    pub fn sources(&self) -> String {
        self.sources.join(", ")
    }

    /// Add the certificates of one key file, refusing it unless each counts at `now`.
    pub fn add(&mut self, source: &str, bytes: &[u8], now: u32) -> Result<()> {
        let invalid = |why: String| {
            precondition(
                "key.invalid",
                format!(
                    "{source} is not an OpenPGP public key ({why}); give the release key as \
                     gpg --export (--armor) writes it"
                ),
            )
        };
        let (certs, _) = SignedPublicKey::from_reader_many(Cursor::new(bytes))
            .map_err(|e| invalid(e.to_string()))?;
        let mut found = 0;
        for cert in certs {
            let cert = cert.map_err(|e| invalid(e.to_string()))?;
            self.certs.push(check_cert(source, cert, now)?);
            found += 1;
        }
        if found == 0 {
            return Err(invalid("it holds no public key".into()));
        }
        self.sources.push(source.to_owned());
        Ok(())
    }

    /// Verify `signature` (one OpenPGP signature packet, armored or binary) over `data` (`what`
    /// names it in messages): the signer, or a refusal saying why not.
    pub fn verify(&self, data: impl Read, signature: &[u8], what: &str) -> Result<Signer> {
        let sig = DetachedSignature::from_reader_single(Cursor::new(signature))
            .map(|(s, _)| s.signature)
            .map_err(|e| {
                precondition(
                    "signature.invalid",
                    format!(
                        "the signature of {what} is not an OpenPGP signature ({e}); give the \
                         .sig or .asc file made for this image"
                    ),
                )
            })?;
        let (cert, subkey) = self.issuer(&sig).ok_or_else(|| {
            let by = issuer_id(&sig).unwrap_or_else(|| "a key that does not name itself".into());
            precondition(
                "signature.unknown-key",
                format!(
                    "{what} is signed by {by}, which is none of the keys given ({}); give the \
                     key it is signed with, if you trust it",
                    self.sources()
                ),
            )
        })?;
        let signer = |key_id: String| Signer {
            key_id,
            fingerprint: hex_upper(cert.key.fingerprint().as_bytes()),
            user_id: cert.user_id.clone(),
        };
        let (result, key_id) = match subkey {
            None => (
                sig.verify(&cert.key, data),
                hex_upper(cert.key.legacy_key_id().as_ref()),
            ),
            Some(sub) => {
                check_subkey(cert, sub, what, now())?;
                (
                    sig.verify(sub, data),
                    hex_upper(sub.legacy_key_id().as_ref()),
                )
            }
        };
        result.map_err(|e| {
            // The crate's reason is a hash comparison's: the sentence says what it means.
            tracing::debug!("verifying the signature of {what}: {e}");
            precondition(
                "signature.mismatch",
                format!(
                    "the signature by {} does not match {what}: it was changed after it was \
                     signed, or the signature is another image's; get the image and its \
                     signature again from the release",
                    signer(key_id.clone())
                ),
            )
        })?;
        Ok(signer(key_id))
    }

    /// The certificate (and subkey) a signature names as its issuer.
    fn issuer<'a>(&'a self, sig: &Signature) -> Option<(&'a Cert, Option<&'a SignedPublicSubKey>)> {
        let fingerprints = sig.issuer_fingerprint();
        let ids = sig.issuer_key_id();
        let names = |fp: &pgp::types::Fingerprint, id: pgp::types::KeyId| {
            fingerprints.contains(&fp) || ids.iter().any(|i| **i == id)
        };
        self.certs.iter().find_map(|c| {
            if names(&c.key.fingerprint(), c.key.legacy_key_id()) {
                return Some((c, None));
            }
            c.key
                .public_subkeys
                .iter()
                .find(|s| names(&s.fingerprint(), s.legacy_key_id()))
                .map(|s| (c, Some(s)))
        })
    }
}

/// The key id (or fingerprint) a signature names as its issuer.
pub(crate) fn issuer_id(sig: &Signature) -> Option<String> {
    sig.issuer_key_id()
        .first()
        .map(|k| hex_upper(k.as_ref()))
        .or_else(|| {
            sig.issuer_fingerprint()
                .first()
                .map(|f| hex_upper(f.as_bytes()))
        })
}

/// A certificate as it counts: its own valid self-signatures, no revocation, not expired.
fn check_cert(source: &str, key: SignedPublicKey, now: u32) -> Result<Cert> {
    let id = hex_upper(key.legacy_key_id().as_ref());
    let primary = &key.primary_key;
    let mut self_sigs: Vec<(&Signature, String, bool)> = Vec::new();
    for user in &key.details.users {
        for sig in &user.signatures {
            if sig
                .verify_certification(primary, Tag::UserId, &user.id)
                .is_ok()
            {
                let name = String::from_utf8_lossy(user.id.id()).into_owned();
                self_sigs.push((sig, name, sig.is_primary()));
            }
        }
    }
    let newest = self_sigs
        .iter()
        .max_by_key(|(s, _, primary)| (*primary, s.created().map(Timestamp::as_secs)));
    let Some((newest, user_id, _)) = newest else {
        return Err(precondition(
            "key.invalid",
            format!(
                "{source}: key {id} has no user id it signed itself, so nothing says whose it \
                 is; give the release key as gpg --export writes it"
            ),
        ));
    };
    if let Some(r) = key
        .details
        .revocation_signatures
        .iter()
        .find(|r| r.verify_key(primary).is_ok())
    {
        return Err(revoked(source, &id, user_id, r));
    }
    if let Some(until) = expiry(primary.created_at(), newest) {
        if now >= until {
            return Err(expired(source, &id, user_id, until));
        }
    }
    Ok(Cert {
        user_id: user_id.clone(),
        key,
    })
}

/// A signing subkey as it counts: bound by its primary key, not revoked, not expired.
fn check_subkey(cert: &Cert, sub: &SignedPublicSubKey, what: &str, now: u32) -> Result<()> {
    let id = hex_upper(sub.legacy_key_id().as_ref());
    let primary = &cert.key.primary_key;
    let valid: Vec<&Signature> = sub
        .signatures
        .iter()
        .filter(|s| s.verify_subkey_binding(primary, &sub.key).is_ok())
        .collect();
    if let Some(r) = valid
        .iter()
        .find(|s| s.typ() == Some(SignatureType::SubkeyRevocation))
    {
        return Err(revoked(what, &id, &cert.user_id, r));
    }
    let binding = valid
        .iter()
        .filter(|s| s.typ() == Some(SignatureType::SubkeyBinding))
        .max_by_key(|s| s.created().map(Timestamp::as_secs));
    let Some(binding) = binding else {
        return Err(precondition(
            "signature.unknown-key",
            format!(
                "{what} is signed by subkey {id} of {}, which that key does not bind to itself; \
                 get the release key again",
                cert.user_id
            ),
        ));
    };
    if let Some(until) = expiry(sub.created_at(), binding) {
        if now >= until {
            return Err(expired(what, &id, &cert.user_id, until));
        }
    }
    Ok(())
}

/// When a key made at `created` expires by `sig`'s key expiration time (None: never).
fn expiry(created: Timestamp, sig: &Signature) -> Option<u32> {
    let secs = sig.key_expiration_time()?.as_secs();
    (secs > 0).then(|| created.as_secs().saturating_add(secs))
}

fn revoked(source: &str, id: &str, user_id: &str, r: &Signature) -> anyhow::Error {
    let reason = r
        .revocation_reason_string()
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .filter(|s| !s.is_empty())
        .map_or(String::new(), |s| format!(": {s:?}"));
    precondition(
        "key.revoked",
        format!(
            "{source}: key {id} ({user_id}) is revoked{reason}; nothing it signed can be \
             trusted: get the project's current release key"
        ),
    )
}

fn expired(source: &str, id: &str, user_id: &str, until: u32) -> anyhow::Error {
    precondition(
        "key.expired",
        format!(
            "{source}: key {id} ({user_id}) expired on {}; get the release key again (a renewed \
             key carries a new expiry date) or the project's current one",
            date(until)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ground::error::id_of;

    pub(crate) fn fixture(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/image/fixtures/signed")
            .join(name)
    }

    fn keyring(names: &[&str]) -> Result<Keyring> {
        let paths: Vec<_> = names.iter().map(|n| fixture(n)).collect();
        Keyring::from_files(&paths.iter().map(|p| p.as_path()).collect::<Vec<_>>())
    }

    const IMAGE: &str = "onn-fixture-1.0-1.squashfs.img";

    fn verify(keys: &Keyring, image: &[u8]) -> Result<Signer> {
        let sig = std::fs::read(fixture(&format!("{IMAGE}.sig"))).unwrap();
        keys.verify(image, &sig, IMAGE)
    }

    #[test]
    fn a_detached_signature_names_its_signer() {
        let image = std::fs::read(fixture(IMAGE)).unwrap();
        for key in ["release.asc", "release.gpg"] {
            let keys = keyring(&["other.asc", key]).unwrap();
            let signer = verify(&keys, &image).unwrap();
            assert_eq!(signer.user_id, "onn test release key <release@onn.test>");
            assert_eq!(signer.key_id.len(), 16);
            assert!(signer.fingerprint.ends_with(&signer.key_id), "{signer:?}");
        }
    }

    #[test]
    fn a_changed_image_or_another_key_is_refused() {
        let mut image = std::fs::read(fixture(IMAGE)).unwrap();
        image[100] ^= 1;
        let e = verify(&keyring(&["release.asc"]).unwrap(), &image).unwrap_err();
        assert_eq!(id_of(&e), "signature.mismatch", "{e}");
        assert!(e.to_string().contains("onn test release key"), "{e}");
        let e = verify(&keyring(&["other.asc"]).unwrap(), &image).unwrap_err();
        assert_eq!(id_of(&e), "signature.unknown-key", "{e}");
        assert!(e.to_string().contains("other.asc"), "{e}");
        let e = keyring(&["release.asc"])
            .unwrap()
            .verify(&image[..], b"not a signature", IMAGE)
            .unwrap_err();
        assert_eq!(id_of(&e), "signature.invalid", "{e}");
    }

    #[test]
    fn keys_that_do_not_count_are_refused_when_given() {
        for (key, id, text) in [
            ("expired.asc", "key.expired", "expired on 2020-01-02"),
            ("revoked.asc", "key.revoked", "is revoked"),
            ("secret.asc", "key.invalid", "is not an OpenPGP public key"),
            (IMAGE, "key.invalid", "is not an OpenPGP public key"),
            ("no-such.asc", "key.missing", "cannot be read"),
        ] {
            let e = keyring(&["release.asc", key]).unwrap_err();
            assert_eq!(id_of(&e), id, "{key}: {e}");
            assert!(e.to_string().contains(text), "{key}: {e}");
        }
    }

    #[test]
    fn dates_are_civil() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(1_577_923_200), "2020-01-02");
        assert_eq!(date(951_782_400), "2000-02-29");
    }
}
