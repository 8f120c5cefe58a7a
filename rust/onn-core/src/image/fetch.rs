//! Downloading an `http(s)://` image into a local file, for [`crate::image::OpenImage`].
//!
//! The HTTP client is `ureq` (3.x), not hand-written code: HTTP/1.1 framing (chunked bodies,
//! `Content-Length`, keep-alive), redirects, proxies (CONNECT, with credentials, and the
//! standard environment variables with `NO_PROXY`) and TLS through rustls are each a source of
//! subtle bugs and security holes that a small, widely used, blocking crate has already paid
//! for. It needs no async runtime (the engine is synchronous and runs inside Anaconda's
//! process), verifies certificates against the system's CA store through the platform
//! verifier (on Linux: `rustls-native-certs`, i.e. `/etc/pki/tls/certs` on RHEL,
//! `/etc/ssl/certs` on Debian, or `SSL_CERT_FILE`/`SSL_CERT_DIR` when set), and has a timeout
//! on each read, which is what tells a stalled server from a slow one. What is ours is the
//! policy on top: Range resumes, retries, the checks on what the server says, hashing while
//! downloading, space reservation and the error ids.
//!
//! One download: a temporary file in the caller's directory (a tmpfs keeps the image in RAM),
//! sized to the image when the server states its length (free space checked and the file
//! preallocated before the first byte, so a full disk is refused up front), SHA-256 computed
//! while the bytes arrive, resumed with `Range` (+ `If-Range`) after a dropped or stalled
//! connection, retried with exponential backoff, and renamed to its final name only once
//! complete and verified. On any failure or cancellation the temporary file is removed.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use ureq::tls::{RootCerts, TlsConfig};
use ureq::{Agent, Proxy};

use crate::ground::error::{not_found, precondition};
use crate::ground::progress::{CancelToken, Event, Throttle, DOWNLOAD};
use crate::ground::units::Bytes;
use crate::image::digest::{self, hex, FileDigest};

/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
const CHUNK: usize = 256 << 10;
/// File name when the URL's path does not end in a usable one.
const DEFAULT_NAME: &str = "image.squashfs.img";

/// How to download. `Default` is what a user gets: TLS verified, 30 s timeouts, 5 retries.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Expected SHA-256 (64 hex digits), compared with the digest computed while downloading.
    pub sha256: Option<String>,
    /// Proxy URL (`http://[user:pass@]host:port`). `None`: the environment's `ALL_PROXY`,
    /// `HTTPS_PROXY`, `HTTP_PROXY` (or lowercase), with `NO_PROXY` honoured.
    pub proxy: Option<String>,
    /// Verify the server's certificate against the system's CA store. Off only when asked:
    /// then anyone on the network path can substitute the image, and only `sha256` proves it.
    pub verify_tls: bool,
    /// Connecting, and each read or write, may take this long; a read that stalls longer
    /// counts as a dropped connection (and is resumed).
    pub timeout: Duration,
    /// Attempts in a row that bring no new byte, after the first one, before giving up.
    pub retries: u32,
    /// Wait before the first retry; it doubles for each further one, up to 30 s. So a server
    /// that is down costs at most `retries` × (timeout + wait) before the error.
    pub backoff: Duration,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            sha256: None,
            proxy: None,
            verify_tls: true,
            timeout: Duration::from_secs(30),
            retries: 5,
            backoff: Duration::from_secs(1),
        }
    }
}

/// A finished download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub path: PathBuf,
    /// Computed while downloading (equal to the expected one, when one was given).
    pub sha256: String,
    pub size: Bytes,
    /// The digest with the file it belongs to, for opening the image without hashing it again
    /// (None when the file could not be stat'ed).
    pub digest: Option<FileDigest>,
}

/// Is this an image to download rather than a local path?
pub fn is_url(image: &str) -> bool {
    let lower = image.get(..8).unwrap_or(image).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// Download `url` into the directory `dir` and return the file, complete and verified.
/// `observer` gets throttled [`DOWNLOAD`] events, which come before any plan exists: index and
/// total are 0; `done`/`size` count bytes (`size` 0 while the length is unknown). An error from
/// the observer stops the download; `cancel` stops it between reads and during waits.
pub fn fetch(
    url: &str,
    dir: &Path,
    opts: &FetchOptions,
    observer: &mut dyn FnMut(&Event) -> Result<()>,
    cancel: &CancelToken,
) -> Result<Fetched> {
    let shown = redact(url);
    if !is_url(url) {
        return Err(precondition(
            "download.url",
            format!("{shown} is not an http:// or https:// URL"),
        ));
    }
    let want = opts
        .sha256
        .as_deref()
        .map(digest::parse_sha256)
        .transpose()?;
    if !opts.verify_tls {
        tracing::warn!(
            "not verifying the TLS certificate of {shown}: as asked; anyone on the network path \
             could substitute the image"
        );
    }
    if want.is_none() {
        tracing::warn!("no sha256 given for {shown}: the download cannot be verified");
    }
    let temp = tempfile::Builder::new()
        .prefix(".onn-download-")
        .suffix(".part")
        .tempfile_in(dir)
        .map_err(|e| dir_error(dir, e))?;
    let mut d = Download {
        url,
        shown: &shown,
        dir,
        agent: agent(opts, &shown)?,
        file: temp.as_file().try_clone().context("opening the download")?,
        hasher: Sha256::new(),
        done: 0,
        total: None,
        validator: None,
        requests: 0,
        observer,
        cancel,
        throttle: Throttle::default(),
    };
    d.emit(false)?;
    let mut failures = 0u32;
    loop {
        cancel.check()?;
        let before = d.done;
        let why = match d.attempt() {
            Ok(()) => break,
            Err(Failure::Fatal(e)) => return Err(e),
            Err(Failure::Retry(why)) => why,
        };
        // A failed attempt that brought bytes restarts the count: only attempts in a row that
        // get nowhere are bounded, so a long download over a flaky link still completes.
        failures = if d.done > before { 1 } else { failures + 1 };
        if failures > opts.retries {
            return Err(d.give_up(&why, failures));
        }
        let wait = backoff(opts.backoff, failures);
        tracing::warn!(
            "downloading {shown}: {}; resuming at byte {} in {wait:?}",
            why.describe(),
            d.done
        );
        sleep(wait, cancel)?;
    }
    let sha256 = hex(&std::mem::take(&mut d.hasher).finalize());
    if let Some(want) = &want {
        if *want != sha256 {
            return Err(digest::sha256_mismatch(
                &format!("{shown} ({} bytes received)", d.done),
                want,
                &sha256,
            ));
        }
    }
    d.emit(true)?;
    // A cancellation up to here is honoured: the caller has not been told the image is in place.
    cancel.check()?;
    let (size, requests) = (Bytes(d.done), d.requests);
    drop(d);
    let path = dir.join(file_name(url));
    temp.persist(&path)
        .map_err(|e| e.error)
        .with_context(|| format!("renaming the download to {}", path.display()))?;
    let digest = FileDigest::of_current(&path, &sha256);
    tracing::info!(
        "downloaded {shown} to {} ({size}, {requests} requests)",
        path.display()
    );
    Ok(Fetched {
        path,
        sha256,
        size,
        digest,
    })
}

/// A private directory for one download, inside `parent`; removed with its content when
/// dropped (the CLI's downloads live only as long as the command).
pub struct DownloadDir(tempfile::TempDir);

impl DownloadDir {
    pub fn new(parent: &Path) -> Result<DownloadDir> {
        tempfile::Builder::new()
            .prefix("onn-download.")
            .tempdir_in(parent)
            .map(DownloadDir)
            .map_err(|e| dir_error(parent, e))
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

/// Check that `dir` has room for `total` bytes of `shown` (an image being downloaded or
/// unpacked into `file`) and preallocate them, before the first byte, so a full disk (or
/// tmpfs) is refused now rather than at 90 %.
pub(crate) fn reserve(file: &File, dir: &Path, total: u64, shown: &str) -> Result<()> {
    let free = free_space(file, dir)?;
    if total > free {
        return Err(no_space(shown, dir, total, free));
    }
    // KEEP_SIZE: the file grows as bytes arrive, so its length is always what was received
    // (a resume starts there).
    match nix::fcntl::fallocate(
        file.as_raw_fd(),
        nix::fcntl::FallocateFlags::FALLOC_FL_KEEP_SIZE,
        0,
        total as i64,
    ) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::ENOSPC) => Err(no_space(shown, dir, total, free)),
        // A filesystem that cannot preallocate (hostfs, some network filesystems): the
        // free-space check above stands.
        Err(nix::errno::Errno::EOPNOTSUPP | nix::errno::Errno::ENOSYS) => Ok(()),
        Err(e) => Err(anyhow::Error::new(e).context(format!(
            "reserving {} in {}",
            Bytes(total),
            dir.display()
        ))),
    }
}

fn free_space(file: &File, dir: &Path) -> Result<u64> {
    let st = nix::sys::statvfs::fstatvfs(file)
        .with_context(|| format!("reading the free space of {}", dir.display()))?;
    Ok(st.blocks_available() * st.fragment_size())
}

fn no_space(shown: &str, dir: &Path, total: u64, free: u64) -> anyhow::Error {
    precondition(
        "download.no-space",
        format!(
            "{shown} is {total} bytes ({}) but {} has {free} bytes ({}) free; free some space \
             or download to another directory (onn --download-dir; in the installer, give \
             the machine more memory)",
            Bytes(total),
            dir.display(),
            Bytes(free)
        ),
    )
}

pub(crate) fn dir_error(dir: &Path, e: std::io::Error) -> anyhow::Error {
    precondition(
        "download.dir",
        format!(
            "cannot download into {}: {e}; give an existing, writable directory",
            dir.display()
        ),
    )
}

fn agent(opts: &FetchOptions, shown: &str) -> Result<Agent> {
    let tls = TlsConfig::builder()
        .root_certs(RootCerts::PlatformVerifier)
        .disable_verification(!opts.verify_tls)
        .build();
    let mut config = Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(tls)
        .user_agent(concat!("onn/", env!("CARGO_PKG_VERSION")))
        .timeout_resolve(Some(opts.timeout))
        .timeout_connect(Some(opts.timeout))
        .timeout_per_read(Some(opts.timeout))
        .timeout_per_write(Some(opts.timeout));
    if let Some(p) = &opts.proxy {
        let proxy = Proxy::new(p).map_err(|e| {
            precondition(
                "download.proxy",
                format!(
                    "the proxy {} for {shown} is not usable ({e}); give http://HOST:PORT",
                    redact(p)
                ),
            )
        })?;
        config = config.proxy(Some(proxy));
    }
    Ok(config.build().into())
}

/// Why an attempt did not finish the download.
enum Failure {
    Retry(Retry),
    Fatal(anyhow::Error),
}

/// A failure worth another attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Retry {
    /// 408, 429 or 5xx: the server may be able to answer later.
    Status(u16),
    /// Connecting failed, or the connection dropped or stalled (the error's text).
    Network(String),
    /// The body ended before the length the server stated.
    ClosedEarly,
}

impl Retry {
    fn describe(&self) -> String {
        match self {
            Retry::Status(s) => format!("the server answered {}", status_text(*s)),
            Retry::Network(e) => e.clone(),
            Retry::ClosedEarly => "the server closed the connection early".into(),
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Fatal(e)
    }
}

struct Download<'a> {
    url: &'a str,
    /// The URL without credentials, for messages.
    shown: &'a str,
    dir: &'a Path,
    agent: Agent,
    file: File,
    hasher: Sha256,
    done: u64,
    /// The image's length, once the server has stated it.
    total: Option<u64>,
    /// `If-Range` value: a strong ETag or Last-Modified of the first reply.
    validator: Option<String>,
    requests: u32,
    observer: &'a mut dyn FnMut(&Event) -> Result<()>,
    cancel: &'a CancelToken,
    throttle: Throttle,
}

impl Download<'_> {
    fn attempt(&mut self) -> Result<(), Failure> {
        let mut req = self.agent.get(self.url);
        if self.done > 0 {
            req = req.header("Range", format!("bytes={}-", self.done));
            if let Some(v) = &self.validator {
                req = req.header("If-Range", v.as_str());
            }
        }
        self.requests += 1;
        let resp = req.call().map_err(|e| self.transport_failure(e))?;
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let length = header("content-length").and_then(|v| v.trim().parse::<u64>().ok());
        let range = header("content-range");
        let status = resp.status().as_u16();
        let (start, total) = match judge(
            self.shown,
            status,
            self.done,
            self.total,
            length,
            range.as_deref(),
        )? {
            Reply::Complete => return Ok(()),
            Reply::Retry => return Err(Failure::Retry(Retry::Status(status))),
            Reply::Body { start, total } => (start, total),
        };
        if start == 0 {
            if self.done > 0 {
                tracing::info!(
                    "{}: the server sent the whole image again; starting over",
                    self.shown
                );
            }
            self.restart()?;
            self.total = total;
            self.validator = header("etag")
                .filter(|e| !e.starts_with("W/"))
                .or_else(|| header("last-modified"));
            if let Some(t) = total {
                self.reserve(t)?;
            }
        } else if self.total.is_none() {
            self.total = total;
        }
        let mut body = resp.into_body();
        let mut reader = body.as_reader();
        let mut buf = vec![0u8; CHUNK];
        loop {
            self.cancel.check()?;
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Err(Failure::Retry(Retry::ClosedEarly))
                }
                Err(e) => return Err(Failure::Retry(Retry::Network(e.to_string()))),
            };
            if let Some(t) = self.total.filter(|t| self.done + n as u64 > *t) {
                return Err(Failure::Fatal(precondition(
                    "download.length",
                    format!(
                        "{}: the server sent more than the {t} bytes it announced ({} \
                         received); it is not serving the image it describes",
                        self.shown,
                        self.done + n as u64
                    ),
                )));
            }
            self.file
                .write_all(&buf[..n])
                .map_err(|e| self.write_error(e))?;
            self.hasher.update(&buf[..n]);
            self.done += n as u64;
            self.emit(false)?;
        }
        match self.total {
            Some(t) if self.done < t => Err(Failure::Retry(Retry::ClosedEarly)),
            _ => Ok(()),
        }
    }

    /// Back to byte 0: the server ignored the Range request (or this is the first reply).
    fn restart(&mut self) -> Result<()> {
        self.hasher = Sha256::new();
        self.done = 0;
        self.file.set_len(0).context("emptying the download")?;
        self.file.seek(SeekFrom::Start(0))?;
        Ok(())
    }

    /// Check the free space for the whole image and preallocate it, before the first byte.
    fn reserve(&self, total: u64) -> Result<()> {
        reserve(&self.file, self.dir, total, self.shown)
    }

    fn free_space(&self) -> Result<u64> {
        free_space(&self.file, self.dir)
    }

    fn no_space(&self, total: u64, free: u64) -> anyhow::Error {
        no_space(self.shown, self.dir, total, free)
    }

    fn write_error(&self, e: std::io::Error) -> Failure {
        if e.raw_os_error() == Some(nix::libc::ENOSPC) {
            let free = self.free_space().unwrap_or(0);
            return Failure::Fatal(self.no_space(self.total.unwrap_or(self.done), free));
        }
        Failure::Fatal(
            anyhow::Error::new(e)
                .context(format!("writing the download into {}", self.dir.display())),
        )
    }

    fn transport_failure(&self, e: ureq::Error) -> Failure {
        let shown = self.shown;
        if untrusted_certificate(&e) {
            return Failure::Fatal(precondition(
                "download.tls",
                format!(
                    "the TLS certificate of {shown} is not trusted ({e}); add the CA that signed \
                     it to the system's trust store (or point SSL_CERT_FILE at it), or turn \
                     verification off (kickstart --noverifyssl, onn --insecure) and give the \
                     image's sha256, knowing that anyone on the network path can then \
                     substitute the image"
                ),
            ));
        }
        match e {
            ureq::Error::BadUri(_) | ureq::Error::Http(_) => Failure::Fatal(precondition(
                "download.url",
                format!("{shown} is not a usable URL ({e})"),
            )),
            ureq::Error::InvalidProxyUrl => Failure::Fatal(precondition(
                "download.proxy",
                format!("the proxy for {shown} is not usable ({e}); give http://HOST:PORT"),
            )),
            ureq::Error::TooManyRedirects | ureq::Error::RedirectFailed => {
                Failure::Fatal(precondition(
                    "download.http",
                    format!("{shown} redirects too often ({e}); check the URL"),
                ))
            }
            other => Failure::Retry(Retry::Network(other.to_string())),
        }
    }

    fn give_up(&self, why: &Retry, attempts: u32) -> anyhow::Error {
        let (shown, done) = (self.shown, self.done);
        let expected = self
            .total
            .map_or("an unknown number of".into(), |t| t.to_string());
        match why {
            Retry::Status(s) => precondition(
                "download.http",
                format!(
                    "the server answered {} for {shown}, {attempts} times in a row; try again \
                     later or use another server",
                    status_text(*s)
                ),
            ),
            Retry::ClosedEarly => precondition(
                "download.length",
                format!(
                    "the server closed the connection after {done} of the {expected} bytes it \
                     announced for {shown}, {attempts} times in a row; it does not have the whole \
                     image"
                ),
            ),
            Retry::Network(e) => precondition(
                "download.network",
                format!(
                    "downloading {shown} failed {attempts} times in a row ({e}) after {done} of \
                     {expected} bytes; check the network, the proxy and the server"
                ),
            ),
        }
    }

    /// A progress event, when the throttle lets one through (the last one always).
    fn emit(&mut self, last: bool) -> Result<()> {
        if !self.throttle.due(last) {
            return Ok(());
        }
        let size = self.total.unwrap_or(0);
        (self.observer)(&Event {
            step: DOWNLOAD,
            index: 0,
            total: 0,
            done: self.done,
            size,
            message: format!(
                "downloading {}: {} of {}",
                self.shown,
                Bytes(self.done),
                self.total.map_or("?".into(), |t| Bytes(t).to_string())
            ),
        })
    }
}

/// A certificate the system's CA store does not vouch for: no retry will change that. ureq
/// passes rustls' verdict up inside an I/O error.
fn untrusted_certificate(e: &ureq::Error) -> bool {
    let rustls_error = match e {
        ureq::Error::Rustls(r) => Some(r),
        ureq::Error::Io(io) => io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()),
        _ => None,
    };
    matches!(
        rustls_error,
        Some(rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented)
    ) || matches!(e, ureq::Error::Pem(_))
}

/// What to do with a reply.
#[derive(Debug, PartialEq, Eq)]
enum Reply {
    /// Read the body; its first byte is byte `start` of an image of `total` bytes.
    Body { start: u64, total: Option<u64> },
    /// Every byte has arrived already.
    Complete,
    /// The server may answer later.
    Retry,
}

/// Judge a reply to a request for the bytes from `done` on (the whole image when 0), given
/// the length the server stated before (if any). Pure: the resume decisions.
fn judge(
    url: &str,
    status: u16,
    done: u64,
    known: Option<u64>,
    length: Option<u64>,
    content_range: Option<&str>,
) -> Result<Reply> {
    let length_error = |what: String| precondition("download.length", format!("{url}: {what}"));
    match status {
        200 => Ok(Reply::Body {
            start: 0,
            total: length,
        }),
        206 => {
            let cr = content_range.and_then(ContentRange::parse);
            let Some(ContentRange {
                range: Some((first, last)),
                total,
            }) = cr
            else {
                return Err(length_error(format!(
                    "the server answered 206 with an unreadable Content-Range ({:?})",
                    content_range.unwrap_or("none")
                )));
            };
            if first != done {
                return Err(length_error(format!(
                    "asked for the bytes from {done} on, the server sent bytes {first}-{last}"
                )));
            }
            if let (Some(t), Some(k)) = (total, known) {
                if t != k {
                    return Err(length_error(format!(
                        "the server said the image is {k} bytes, now it says {t}; it changed on \
                         the server during the download, start again"
                    )));
                }
            }
            if let Some(t) = total.or(known) {
                if last >= t {
                    return Err(length_error(format!(
                        "the server sent bytes {first}-{last} of an image it says is {t} bytes"
                    )));
                }
            }
            if length.is_some_and(|l| l != last - first + 1) {
                return Err(length_error(format!(
                    "the server's Content-Length ({}) does not match its Content-Range \
                     ({first}-{last})",
                    length.unwrap_or(0)
                )));
            }
            Ok(Reply::Body {
                start: first,
                total: total.or(known),
            })
        }
        416 => {
            let actual = content_range
                .and_then(ContentRange::parse)
                .and_then(|c| c.total);
            match (known, actual) {
                (Some(k), _) if k == done => Ok(Reply::Complete),
                (None, Some(a)) if a == done => Ok(Reply::Complete),
                _ => Err(length_error(format!(
                    "the server refused the bytes from {done} on (416){}, after announcing {}; it \
                     does not have the image it describes",
                    actual.map_or(String::new(), |a| format!(": it has {a} bytes")),
                    known.map_or("an unknown length".into(), |k| format!("{k} bytes"))
                ))),
            }
        }
        404 | 410 => Err(not_found(
            "download.not-found",
            format!(
                "{url} does not exist on the server ({}); check the URL",
                status_text(status)
            ),
        )),
        408 | 429 | 500..=599 => Ok(Reply::Retry),
        _ => Err(precondition(
            "download.http",
            format!(
                "the server answered {} for {url}; check the URL and the server",
                status_text(status)
            ),
        )),
    }
}

/// `Content-Range: bytes FIRST-LAST/TOTAL`, `bytes FIRST-LAST/*` or `bytes */TOTAL`.
#[derive(Debug, PartialEq, Eq)]
struct ContentRange {
    range: Option<(u64, u64)>,
    total: Option<u64>,
}

impl ContentRange {
    fn parse(v: &str) -> Option<ContentRange> {
        let (unit, rest) = v.trim().split_once(' ')?;
        if !unit.eq_ignore_ascii_case("bytes") {
            return None;
        }
        let (range, total) = rest.trim().split_once('/')?;
        let total = match total.trim() {
            "*" => None,
            t => Some(t.parse().ok()?),
        };
        let range = match range.trim() {
            "*" => None,
            r => {
                let (a, b) = r.split_once('-')?;
                let (a, b): (u64, u64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                if b < a {
                    return None;
                }
                Some((a, b))
            }
        };
        if range.is_none() && total.is_none() {
            return None;
        }
        Some(ContentRange { range, total })
    }
}

/// Wait before retry number `n` (1-based): `first`, then doubling, at most [`MAX_BACKOFF`].
fn backoff(first: Duration, n: u32) -> Duration {
    first
        .saturating_mul(1u32 << n.saturating_sub(1).min(16))
        .min(MAX_BACKOFF)
}

/// Sleep, waking up to notice a cancellation.
fn sleep(total: Duration, cancel: &CancelToken) -> Result<()> {
    let end = Instant::now() + total;
    loop {
        cancel.check()?;
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

fn status_text(status: u16) -> String {
    let reason = ureq::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason());
    match reason {
        Some(r) => format!("HTTP {status} {r}"),
        None => format!("HTTP {status}"),
    }
}

/// The URL without `user:password@`, for messages and logs.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// The downloaded file's name: the last segment of the URL's path, reduced to characters that
/// are safe in a file name (never a path, never hidden, never `..`).
fn file_name(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.split(['?', '#']).next().unwrap_or("");
    let last = path.split_once('/').map_or("", |(_, p)| p);
    safe_name(last.rsplit('/').next().unwrap_or(""))
}

/// A file name from a name someone else chose (a URL's, a package's): characters that are safe
/// in a file name, never a path, never hidden, never `..`.
pub(crate) fn safe_name(last: &str) -> String {
    let name: String = last
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._+-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() || name.starts_with('.') {
        DEFAULT_NAME.into()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ground::error::{id_of, kind_of, Kind};

    #[test]
    fn content_range_forms() {
        assert_eq!(
            ContentRange::parse("bytes 100-199/200"),
            Some(ContentRange {
                range: Some((100, 199)),
                total: Some(200)
            })
        );
        assert_eq!(
            ContentRange::parse("bytes 0-9/*"),
            Some(ContentRange {
                range: Some((0, 9)),
                total: None
            })
        );
        assert_eq!(
            ContentRange::parse("bytes */4096"),
            Some(ContentRange {
                range: None,
                total: Some(4096)
            })
        );
        for bad in [
            "bytes 9-0/10",
            "items 0-9/10",
            "bytes */*",
            "bytes 0-/10",
            "bytes x-9/10",
            "",
        ] {
            assert_eq!(ContentRange::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let s = Duration::from_secs;
        let waits: Vec<_> = (1..=7).map(|n| backoff(s(1), n)).collect();
        assert_eq!(waits, [s(1), s(2), s(4), s(8), s(16), s(30), s(30)]);
        assert_eq!(
            backoff(Duration::from_millis(10), 3),
            Duration::from_millis(40)
        );
        assert_eq!(backoff(s(1), u32::MAX), s(30));
    }

    const U: &str = "http://h/i.img";

    #[test]
    fn first_reply_and_resume_decisions() {
        // The first request: a whole body, with or without a stated length.
        assert_eq!(
            judge(U, 200, 0, None, Some(10), None).unwrap(),
            Reply::Body {
                start: 0,
                total: Some(10)
            }
        );
        // A resume the server honours.
        assert_eq!(
            judge(U, 206, 4, Some(10), Some(6), Some("bytes 4-9/10")).unwrap(),
            Reply::Body {
                start: 4,
                total: Some(10)
            }
        );
        // A server that ignores Range (or whose image changed, by If-Range): from zero.
        assert_eq!(
            judge(U, 200, 4, Some(10), Some(10), None).unwrap(),
            Reply::Body {
                start: 0,
                total: Some(10)
            }
        );
        // 416 at the end: everything was there.
        assert_eq!(
            judge(U, 416, 10, Some(10), None, Some("bytes */10")).unwrap(),
            Reply::Complete
        );
        for s in [408, 429, 500, 502, 503, 504] {
            assert_eq!(judge(U, s, 4, Some(10), None, None).unwrap(), Reply::Retry);
        }
    }

    #[test]
    fn a_server_that_lies_about_the_length_is_refused() {
        let cases = [
            // 416 below the stated length: it does not have what it announced.
            (416, 4, Some(10), None, Some("bytes */4"), "it has 4 bytes"),
            // Resumed at the wrong place.
            (
                206,
                4,
                Some(10),
                Some(6),
                Some("bytes 0-9/10"),
                "sent bytes 0-9",
            ),
            // Now a different length.
            (
                206,
                4,
                Some(10),
                Some(16),
                Some("bytes 4-19/20"),
                "now it says 20",
            ),
            // A range beyond the stated end.
            (
                206,
                4,
                Some(10),
                Some(7),
                Some("bytes 4-10/*"),
                "bytes 4-10",
            ),
            // Headers that contradict each other.
            (
                206,
                4,
                Some(10),
                Some(9),
                Some("bytes 4-9/10"),
                "Content-Length (9)",
            ),
            (206, 4, Some(10), None, None, "unreadable Content-Range"),
        ];
        for (status, done, known, length, cr, text) in cases {
            let e = judge(U, status, done, known, length, cr).unwrap_err();
            assert_eq!(id_of(&e), "download.length", "{e}");
            assert!(e.to_string().contains(text), "{e}");
            assert!(e.to_string().starts_with(U), "{e}");
        }
    }

    #[test]
    fn http_errors_name_the_status_and_url() {
        let e = judge(U, 404, 0, None, None, None).unwrap_err();
        assert_eq!(
            (kind_of(&e), id_of(&e)),
            (Kind::NotFound, "download.not-found")
        );
        assert!(e.to_string().contains("HTTP 404 Not Found") && e.to_string().contains(U));
        let e = judge(U, 403, 0, None, None, None).unwrap_err();
        assert_eq!(
            (kind_of(&e), id_of(&e)),
            (Kind::Precondition, "download.http")
        );
        assert!(e.to_string().contains("HTTP 403 Forbidden"), "{e}");
    }

    #[test]
    fn file_names_come_from_the_url_and_stay_names() {
        for (url, name) in [
            ("http://h/a/node.squashfs.img", "node.squashfs.img"),
            ("https://h/x.img?token=1#f", "x.img"),
            ("http://h/", DEFAULT_NAME),
            ("http://h", DEFAULT_NAME),
            ("http://h/..", DEFAULT_NAME),
            ("http://h/.hidden", DEFAULT_NAME),
            ("http://h/a%2F..%2Fb", "a_2F.._2Fb"),
            ("http://h/weird name;rm", "weird_name_rm"),
        ] {
            assert_eq!(file_name(url), name, "{url}");
        }
    }

    #[test]
    fn credentials_are_not_shown() {
        assert_eq!(redact("http://u:p@h:8/a@b"), "http://h:8/a@b");
        assert_eq!(redact("https://h/x"), "https://h/x");
        assert!(is_url("HTTPS://h/x") && is_url("http://h") && !is_url("/srv/x.img"));
        assert!(!is_url("file:///x") && !is_url("ftp://h/x"));
    }

    #[test]
    fn bad_requests_are_refused_before_connecting() {
        let dir = tempfile::tempdir().unwrap();
        let run = |url: &str, opts: &FetchOptions| {
            fetch(url, dir.path(), opts, &mut |_| Ok(()), &CancelToken::new()).unwrap_err()
        };
        let e = run("ftp://h/x", &FetchOptions::default());
        assert_eq!(id_of(&e), "download.url");
        let e = run(
            "http://127.0.0.1:9/x",
            &FetchOptions {
                sha256: Some("xyz".into()),
                ..Default::default()
            },
        );
        assert_eq!(id_of(&e), "sha256.malformed");
        let e = fetch(
            "http://127.0.0.1:9/x",
            &dir.path().join("missing"),
            &FetchOptions::default(),
            &mut |_| Ok(()),
            &CancelToken::new(),
        )
        .unwrap_err();
        assert_eq!(id_of(&e), "download.dir");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
