//! `onn._native`: a thin pyo3 adapter over onn-core. It converts arguments, releases the GIL
//! around everything that touches disks or runs programs, and maps errors through one
//! function into one exception tree. No storage logic lives here.

use std::sync::Mutex;

use onn_core::ground::error::{self, CommandError as CoreCommandError, Kind};
use onn_core::ground::lock as core_lock;
use onn_core::ground::progress;
use onn_core::ground::runner::{Cmd, Output, Runner, SystemRunner};
use onn_core::image::digest::FileDigest;
use onn_core::image::{self, fetch, source};
use onn_core::storage::lvm::LvmState;
use onn_core::{apply as engine, report, Request};
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

pyo3::create_exception!(onn, Error, PyException, "Every error onn raises.");
pyo3::create_exception!(
    onn,
    PreconditionError,
    Error,
    "Refused before anything was written."
);
pyo3::create_exception!(onn, CommandError, Error, "An external program failed.");
pyo3::create_exception!(
    onn,
    NotFoundError,
    Error,
    "Something asked for does not exist."
);
pyo3::create_exception!(
    onn,
    CancelledError,
    Error,
    "The run was cancelled; what it made was undone."
);
pyo3::create_exception!(
    onn,
    RollbackError,
    Error,
    "A run failed and undoing it failed too."
);

/// The module's one runner: the system's, keeping the argv of each program it runs while a
/// [`Recording`] is open.
struct ModuleRunner {
    log: Mutex<Option<Vec<Vec<String>>>>,
}

static RUNNER: ModuleRunner = ModuleRunner {
    log: Mutex::new(None),
};

impl Runner for ModuleRunner {
    fn run(&self, cmd: &Cmd) -> anyhow::Result<Output> {
        if let Some(log) = self.log.lock().ok().as_mut().and_then(|l| l.as_mut()) {
            log.push(cmd.argv());
        }
        SystemRunner.run(cmd)
    }
}

/// What onn does in this process while it is entered (`with recording:`; entered again, it goes
/// on counting): the programs it runs (`commands`, as argv lists) and how many times it read a
/// whole image to hash it (`hash_passes`). For tests that count what an install costs; one is
/// entered at a time.
#[pyclass(module = "onn._native")]
#[derive(Default)]
struct Recording {
    entered: bool,
    hash_start: u64,
    hash_passes: u64,
    commands: Vec<Vec<String>>,
}

#[pymethods]
impl Recording {
    #[new]
    fn new() -> Self {
        Self::default()
    }
    fn __enter__(mut slf: PyRefMut<'_, Self>) -> PyResult<PyRefMut<'_, Self>> {
        let mut log = RUNNER
            .log
            .lock()
            .map_err(|_| Error::new_err("the recording's log is poisoned"))?;
        if log.is_some() {
            return Err(Error::new_err("another onn.Recording is open"));
        }
        *log = Some(Vec::new());
        slf.hash_start = image::digest::hash_passes();
        slf.entered = true;
        Ok(slf)
    }
    #[pyo3(signature = (*_exc))]
    fn __exit__(&mut self, _exc: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        if !std::mem::take(&mut self.entered) {
            return false;
        }
        let ran = RUNNER.log.lock().ok().and_then(|mut l| l.take());
        self.commands.extend(ran.unwrap_or_default());
        self.hash_passes += image::digest::hash_passes() - self.hash_start;
        false
    }
    /// The programs onn ran while the recording was entered, as argv lists, in order.
    #[getter]
    fn commands(&self) -> Vec<Vec<String>> {
        self.commands.clone()
    }
    /// Whole-image reads to hash it (a SHA-256 check, a detached signature's check).
    #[getter]
    fn hash_passes(&self) -> u64 {
        self.hash_passes
    }
}

/// Map an engine error to the exception tree, with `id` (stable, for translation) and, for
/// command failures, `argv`, `returncode` and `stderr_tail`.
fn to_py(py: Python<'_>, err: anyhow::Error) -> PyErr {
    let msg = format!("{err:#}");
    let pyerr = match error::kind_of(&err) {
        Kind::Precondition => PreconditionError::new_err(msg),
        Kind::Command => CommandError::new_err(msg),
        Kind::NotFound => NotFoundError::new_err(msg),
        Kind::Cancelled => CancelledError::new_err(msg),
        Kind::Rollback => RollbackError::new_err(msg),
    };
    let value = pyerr.value(py);
    let _ = value.setattr("id", error::id_of(&err));
    if let Some(c) = err
        .chain()
        .find_map(|c| c.downcast_ref::<CoreCommandError>())
    {
        let _ = value.setattr("argv", c.argv.clone());
        let _ = value.setattr("returncode", c.code);
        let _ = value.setattr("stderr_tail", c.stderr_tail.clone());
    }
    pyerr
}

fn json_to_py(py: Python<'_>, text: &str) -> PyResult<Py<PyAny>> {
    Ok(py.import("json")?.call_method1("loads", (text,))?.unbind())
}

fn to_json<T: serde::Serialize>(v: &T) -> PyResult<String> {
    serde_json::to_string(v).map_err(|e| Error::new_err(format!("serializing: {e}")))
}

/// What an image holds (read by `read_image`), and the read itself: given where an image
/// goes (`read_image`, `export_boot`, `plan`), the image is neither hashed nor read again while
/// its file is unchanged.
#[pyclass(module = "onn._native", frozen)]
struct ImageInfo {
    facts: image::ImageFacts,
    /// What the engine's read found, as the engine takes it back.
    read: image::ImageRead,
}

#[pymethods]
impl ImageInfo {
    #[getter]
    fn path(&self) -> &str {
        &self.facts.path
    }
    #[getter]
    fn nvr(&self) -> String {
        self.facts.nvr.to_string()
    }
    #[getter]
    fn name(&self) -> &str {
        &self.facts.nvr.name
    }
    #[getter]
    fn version(&self) -> &str {
        &self.facts.nvr.version
    }
    #[getter]
    fn release(&self) -> &str {
        &self.facts.nvr.release
    }
    /// "liveos" (LiveOS/rootfs.img) or "tree" (a plain root tree).
    #[getter]
    fn layout(&self) -> &'static str {
        match self.facts.layout {
            image::Layout::Liveos => "liveos",
            image::Layout::Tree => "tree",
        }
    }
    #[getter]
    fn fs(&self) -> Option<&'static str> {
        self.facts.fs.map(|f| f.name())
    }
    #[getter]
    fn size(&self) -> u64 {
        self.facts.size.0
    }
    #[getter]
    fn rootfs_size(&self) -> u64 {
        self.facts.rootfs_size.0
    }
    /// Kernel versions, newest first.
    #[getter]
    fn kernels(&self) -> Vec<String> {
        self.facts
            .kernels
            .iter()
            .map(|k| k.version.clone())
            .collect()
    }
    #[getter]
    fn sha256(&self) -> Option<&str> {
        self.facts.sha256.as_deref()
    }
    #[getter]
    fn cmdline(&self) -> &str {
        &self.facts.cmdline
    }
    /// (id, English message) of each thing the host's imgbased would lack to update it.
    #[getter]
    fn warnings(&self) -> Vec<(String, String)> {
        self.facts
            .warnings
            .iter()
            .map(|w| (w.id.clone(), w.message.clone()))
            .collect()
    }
    /// The verified signer's key id (16 hex digits); None: no key was given.
    #[getter]
    fn signer_key_id(&self) -> Option<&str> {
        self.facts
            .provenance
            .signer
            .as_ref()
            .map(|s| s.key_id.as_str())
    }
    /// The verified signer's user id, e.g. `oVirt <infra@ovirt.org>`.
    #[getter]
    fn signer_user_id(&self) -> Option<&str> {
        self.facts
            .provenance
            .signer
            .as_ref()
            .map(|s| s.user_id.as_str())
    }
    #[getter]
    fn signer_fingerprint(&self) -> Option<&str> {
        self.facts
            .provenance
            .signer
            .as_ref()
            .map(|s| s.fingerprint.as_str())
    }
    /// The image-update RPM it came out of (`name-version-release.arch`), if any.
    #[getter]
    fn package(&self) -> Option<&str> {
        self.facts.provenance.package.as_deref()
    }
    fn to_json(&self) -> PyResult<String> {
        to_json(&self.facts)
    }
    fn __repr__(&self) -> String {
        format!(
            "ImageInfo(nvr={:?}, layout={:?}, fs={:?})",
            self.nvr(),
            self.layout(),
            self.fs()
        )
    }
}

/// A plan: what `apply` will do. Serializes to the JSON `onn … --dry-run --json` prints.
#[pyclass(module = "onn._native", frozen)]
struct Plan(onn_core::Plan);

#[pymethods]
impl Plan {
    #[staticmethod]
    fn from_json(text: &str) -> PyResult<Plan> {
        serde_json::from_str(text)
            .map(Plan)
            .map_err(|e| PreconditionError::new_err(format!("not an onn plan: {e}")))
    }
    fn to_json(&self) -> PyResult<String> {
        to_json(&self.0)
    }
    fn to_dict(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        json_to_py(py, &self.to_json()?)
    }
    #[getter]
    fn schema(&self) -> u32 {
        self.0.schema
    }
    #[getter]
    fn vg(&self) -> &str {
        &self.0.vg
    }
    #[getter]
    fn pool(&self) -> &str {
        &self.0.pool
    }
    #[getter]
    fn pvs(&self) -> Vec<String> {
        self.0.pvs.clone()
    }
    #[getter]
    fn base(&self) -> Option<&str> {
        self.0.base.as_deref()
    }
    #[getter]
    fn layer(&self) -> Option<&str> {
        self.0.layer.as_deref()
    }
    #[getter]
    fn kernel(&self) -> Option<&str> {
        self.0.kernel.as_deref()
    }
    #[getter]
    fn pool_size(&self) -> u64 {
        self.0.pool_size.0
    }
    #[getter]
    fn pool_free_after(&self) -> u64 {
        self.0.pool_free_after.0
    }
    /// Data volumes: dicts with `lv`, `mount`, `size`.
    #[getter]
    fn volumes(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        json_to_py(py, &to_json(&self.0.volumes)?)
    }
    /// Steps in order: dicts with `step` (the kind) and its fields.
    #[getter]
    fn steps(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        json_to_py(py, &to_json(&self.0.steps)?)
    }
    /// Stable step ids (`vg.create`, `base.write`, …), as progress events carry them.
    #[getter]
    fn step_ids(&self) -> Vec<&'static str> {
        self.0.steps.iter().map(onn_core::Step::id).collect()
    }
    #[getter]
    fn present(&self) -> Vec<String> {
        self.0.present.clone()
    }
    /// Plans are equal when their JSON is: the image a plan keeps for `apply` is not part of
    /// it.
    fn __eq__(&self, other: &Plan) -> bool {
        let unknown = |p: &onn_core::Plan| {
            let mut p = p.clone();
            p.request.known = image::Known::default();
            p
        };
        unknown(&self.0) == unknown(&other.0)
    }
    fn __repr__(&self) -> String {
        format!(
            "Plan(vg={:?}, layer={:?}, steps={:?})",
            self.0.vg,
            self.0.layer,
            self.step_ids()
        )
    }
}

/// What `apply` did.
#[pyclass(module = "onn._native", frozen, get_all)]
struct Outcome {
    vg: String,
    created: Vec<String>,
    present: Vec<String>,
    base: Option<String>,
    layer: Option<String>,
    boot_entry: Option<String>,
    bytes_written: Option<u64>,
    /// The SELinux policy that labelled what onn wrote (None: the layer has none).
    selinux: Option<String>,
    /// The install report (JSON; docs/install-report.schema.json), as written into the layer,
    /// for an install or a layer add that wrote one.
    report: Option<String>,
    /// (id, English message) of what went wrong past the commit point (`report.unwritten`).
    warnings: Vec<(String, String)>,
}

/// A progress event: stable step id, step n of m, bytes for the copy, English fallback text.
#[pyclass(module = "onn._native", frozen, get_all)]
struct Event {
    step: &'static str,
    index: usize,
    total: usize,
    done: u64,
    size: u64,
    message: String,
}

#[pymethods]
impl Event {
    fn __repr__(&self) -> String {
        format!(
            "Event({:?}, {}/{}, {}/{})",
            self.step, self.index, self.total, self.done, self.size
        )
    }
}

/// Cancels a running `apply` or `fetch_image` (from another thread); honoured between steps,
/// during the copy and between reads of a download.
#[pyclass(module = "onn._native", frozen)]
#[derive(Default)]
struct CancelToken(progress::CancelToken);

#[pymethods]
impl CancelToken {
    #[new]
    fn new() -> Self {
        Self::default()
    }
    fn cancel(&self) {
        self.0.cancel();
    }
    #[getter]
    fn cancelled(&self) -> bool {
        self.0.is_cancelled()
    }
}

/// The lock of one onn at a time (`lock`), held until `release()`, the end of a `with`
/// block, or the end of the process.
#[pyclass(module = "onn._native", frozen)]
struct Lock(Mutex<Option<core_lock::Lock>>);

#[pymethods]
impl Lock {
    /// Let go of the lock (once; later calls do nothing).
    fn release(&self) {
        if let Ok(mut held) = self.0.lock() {
            held.take();
        }
    }
    #[getter]
    fn held(&self) -> bool {
        self.0.lock().is_ok_and(|h| h.is_some())
    }
    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }
    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, _exc: &Bound<'_, pyo3::types::PyTuple>) -> bool {
        self.release();
        false
    }
}

/// What this process is, for the lock's next caller to read: its command line.
fn this_process() -> String {
    std::env::args()
        .map(|a| fetch::redact(&a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Take the lock that lets one onn write at a time (the CLI's commands that write take the
/// same). Refused at once (PreconditionError, id `busy`, naming the holder's pid and command)
/// while another holds it; with `wait`, waits (GIL released) until it is free or `cancel` is
/// cancelled. `command` is what the next caller is told this process is doing (default: its
/// command line).
#[pyfunction]
#[pyo3(signature = (command=None, wait=false, cancel=None))]
fn lock(
    py: Python<'_>,
    command: Option<String>,
    wait: bool,
    cancel: Option<&CancelToken>,
) -> PyResult<Lock> {
    let command = command.unwrap_or_else(this_process);
    let token = cancel.map(|c| c.0.clone()).unwrap_or_default();
    py.detach(|| core_lock::acquire(&command, wait.then_some(&token), &mut |_| {}))
        .map(|l| Lock(Mutex::new(Some(l))))
        .map_err(|e| to_py(py, e))
}

/// A local image ready to read (`fetch_image`, `obtain_image`): the file, its SHA-256 (computed
/// while its bytes arrived; verified), and who signed it. It stands where an image path goes
/// (`os.fspath` gives the path); given to `read_image`, `export_boot` or `plan`, the image is
/// not hashed again while it is unchanged.
#[pyclass(module = "onn._native", frozen)]
struct Download {
    path: std::path::PathBuf,
    sha256: Option<String>,
    digest: Option<FileDigest>,
    provenance: source::Provenance,
}

impl From<fetch::Fetched> for Download {
    fn from(f: fetch::Fetched) -> Self {
        Download {
            path: f.path,
            sha256: Some(f.sha256),
            digest: f.digest,
            provenance: source::Provenance::default(),
        }
    }
}

impl From<source::Obtained> for Download {
    fn from(o: source::Obtained) -> Self {
        Download {
            path: o.path,
            sha256: o.sha256,
            digest: o.digest,
            provenance: o.provenance,
        }
    }
}

#[pymethods]
impl Download {
    #[getter]
    fn path(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }
    #[getter]
    fn sha256(&self) -> Option<&str> {
        self.sha256.as_deref()
    }
    #[getter]
    fn size(&self) -> u64 {
        std::fs::metadata(&self.path).map_or(0, |m| m.len())
    }
    /// The verified signer's key id; None: no key was given.
    #[getter]
    fn signer_key_id(&self) -> Option<&str> {
        self.provenance.signer.as_ref().map(|s| s.key_id.as_str())
    }
    #[getter]
    fn signer_user_id(&self) -> Option<&str> {
        self.provenance.signer.as_ref().map(|s| s.user_id.as_str())
    }
    /// The image-update RPM it came out of, if any.
    #[getter]
    fn package(&self) -> Option<&str> {
        self.provenance.package.as_deref()
    }
    fn __fspath__(&self) -> String {
        self.path()
    }
    fn __repr__(&self) -> String {
        format!("Download({:?}, sha256={:?})", self.path(), self.sha256)
    }
}

/// An image argument: a path, a [`Download`] (which brings its digest) or an [`ImageInfo`]
/// (which brings its digest and its read).
#[derive(FromPyObject)]
enum ImageArg<'py> {
    Info(PyRef<'py, ImageInfo>),
    Download(PyRef<'py, Download>),
    Path(String),
}

impl ImageArg<'_> {
    fn provenance(&self) -> source::Provenance {
        match self {
            ImageArg::Info(i) => i.facts.provenance.clone(),
            ImageArg::Download(d) => d.provenance.clone(),
            ImageArg::Path(_) => source::Provenance::default(),
        }
    }
    fn path(&self) -> std::path::PathBuf {
        match self {
            ImageArg::Info(i) => i.read.facts.path.clone().into(),
            ImageArg::Download(d) => d.path.clone(),
            ImageArg::Path(p) => p.into(),
        }
    }
    fn known(&self) -> image::Known {
        match self {
            ImageArg::Info(i) => image::Known::read(i.read.clone()),
            ImageArg::Download(d) => image::Known {
                digest: d.digest.clone(),
                read: None,
            },
            ImageArg::Path(_) => image::Known::default(),
        }
    }
}

/// Verify (when `sha256` is given) and read an image; writes nothing. A [`Download`] brings
/// who signed it; an [`ImageInfo`] of the unchanged file is taken as it is, without reading
/// the image again.
#[pyfunction]
#[pyo3(signature = (path, sha256=None))]
fn read_image(py: Python<'_>, path: ImageArg<'_>, sha256: Option<&str>) -> PyResult<ImageInfo> {
    let (provenance, known, path) = (path.provenance(), path.known(), path.path());
    py.detach(|| {
        let img = image::OpenImage::open_known(&RUNNER, &path, sha256, &known)?;
        let read = img.as_read();
        img.close()?;
        Ok(ImageInfo {
            facts: image::ImageFacts {
                provenance,
                ..read.facts.clone()
            },
            read,
        })
    })
    .map_err(|e| to_py(py, e))
}

/// The mount table, parents before children: dicts with target, source, fstype, root, dev.
#[pyfunction]
#[pyo3(signature = (path="/proc/self/mountinfo"))]
fn mount_table(py: Python<'_>, path: &str) -> PyResult<Py<PyAny>> {
    let rows = onn_core::storage::blockdev::mount_table_from(std::path::Path::new(path))
        .map_err(|e| to_py(py, e))?;
    let text = serde_json::to_string(&rows).map_err(|e| to_py(py, e.into()))?;
    json_to_py(py, &text)
}

/// Copy the image's kernels and initramfs images into `dest/boot/` (for an installer payload
/// that needs only the boot files); returns the paths written, relative to `dest`.
#[pyfunction]
#[pyo3(signature = (path, dest, sha256=None))]
fn export_boot(
    py: Python<'_>,
    path: ImageArg<'_>,
    dest: &str,
    sha256: Option<&str>,
) -> PyResult<Vec<String>> {
    let (known, path) = (path.known(), path.path());
    py.detach(|| {
        let img = image::OpenImage::open_known(&RUNNER, &path, sha256, &known)?;
        let written = img.export_boot(&RUNNER, std::path::Path::new(dest));
        img.close()?;
        written
    })
    .map_err(|e| to_py(py, e))
}

/// The system's LVM state and imgbased layout, as plain data.
#[pyfunction]
fn inspect(py: Python<'_>) -> PyResult<Py<PyAny>> {
    let text = py
        .detach(|| -> anyhow::Result<String> {
            let lvm = LvmState::read(&RUNNER)?;
            let layout = report::layout(&lvm).ok();
            let pools: Vec<_> = lvm.lvs.iter().filter_map(|l| Some((l, l.thin_pool()?))).map(|(l, t)| {
                serde_json::json!({"vg": l.vg, "name": l.name, "size": l.size, "tags": l.tags,
                                   "data_percent": l.data_percent, "metadata_percent": t.metadata_percent})
            }).collect();
            Ok(serde_json::json!({
                "pvs": lvm.pvs.iter().map(|p| serde_json::json!({"name": p.name, "vg": p.vg.as_deref().unwrap_or(""), "size": p.size})).collect::<Vec<_>>(),
                "vgs": lvm.vgs.iter().map(|v| serde_json::json!({"name": v.name, "size": v.size, "free": v.free, "tags": v.tags})).collect::<Vec<_>>(),
                "pools": pools,
                "layout": layout,
            })
            .to_string())
        })
        .map_err(|e| to_py(py, e))?;
    json_to_py(py, &text)
}

/// Inspect the system (and the image) and plan a request given as JSON (see `onn.plan`);
/// `image`: the request's image as `fetch_image`, `obtain_image` or `read_image` returned it
/// (the plan keeps it, for `apply`).
#[pyfunction]
#[pyo3(signature = (request_json, image=None))]
fn plan(py: Python<'_>, request_json: &str, image: Option<ImageArg<'_>>) -> PyResult<Plan> {
    let mut req: Request = serde_json::from_str(request_json)
        .map_err(|e| PreconditionError::new_err(format!("invalid request: {e}")))?;
    if let Some(i) = image {
        req.known = i.known();
        req.provenance = i.provenance();
    }
    py.detach(|| -> anyhow::Result<onn_core::Plan> {
        let prepared = engine::prepare(&RUNNER, &req)?;
        Ok(prepared.plan)
    })
    .map(Plan)
    .map_err(|e| to_py(py, e))
}

/// Calls a Python progress callback from engine code running without the GIL. An exception the
/// callback raises stops the engine (as a cancellation) and is kept, to be re-raised as is.
struct Progress {
    callback: Option<Py<PyAny>>,
    raised: Mutex<Option<PyErr>>,
}

impl Progress {
    fn new(callback: Option<Py<PyAny>>) -> Self {
        Progress {
            callback,
            raised: Mutex::new(None),
        }
    }

    fn call(&self, e: &progress::Event) -> anyhow::Result<()> {
        let Some(cb) = &self.callback else {
            return Ok(());
        };
        Python::attach(|py| {
            let ev = Event {
                step: e.step,
                index: e.index,
                total: e.total,
                done: e.done,
                size: e.size,
                message: e.message.clone(),
            };
            match cb.call1(py, (ev,)) {
                Ok(_) => Ok(()),
                Err(err) => {
                    if let Ok(mut slot) = self.raised.lock() {
                        *slot = Some(err);
                    }
                    Err(error::cancelled())
                }
            }
        })
    }

    /// The engine's result, or the callback's exception when it raised one.
    fn result<T>(self, py: Python<'_>, result: anyhow::Result<T>) -> PyResult<T> {
        if let Some(err) = self.raised.into_inner().ok().flatten() {
            return Err(err);
        }
        result.map_err(|e| to_py(py, e))
    }
}

fn from_json<'a, T: serde::Deserialize<'a>>(what: &str, json: &'a str) -> PyResult<T> {
    serde_json::from_str(json)
        .map_err(|e| PreconditionError::new_err(format!("invalid {what}: {e}")))
}

/// Plan a request (JSON, as for `plan`) for the storage an installer is about to create,
/// described as JSON (`InstallerStorage` in onn-core), with the image read by `read_image`:
/// pure, reads and writes nothing.
#[pyfunction]
#[pyo3(signature = (request_json, storage_json, image=None))]
fn plan_for_installer(
    py: Python<'_>,
    request_json: &str,
    storage_json: &str,
    image: Option<&ImageInfo>,
) -> PyResult<Plan> {
    let req: Request = from_json("request", request_json)?;
    let storage: onn_core::plan::InstallerStorage = from_json("installer storage", storage_json)?;
    onn_core::plan::plan(&req, &storage.facts(image.map(|i| i.facts.clone())))
        .map(Plan)
        .map_err(|e| to_py(py, e))
}

/// The BLS entries (file names) of a /boot directory that boot `device`, in any spelling of it.
#[pyfunction]
fn entries_booting(boot_dir: &str, device: &str) -> Vec<String> {
    onn_core::entries_booting(std::path::Path::new(boot_dir), device)
}

/// An URL fit to show: without `user:password@`.
#[pyfunction]
fn redact_url(url: &str) -> String {
    fetch::redact(url)
}

/// The VG and LV of a device-mapper name (`vg-lv`, dashes doubled); None for another name.
#[pyfunction]
fn split_dm_name(name: &str) -> Option<(String, String)> {
    onn_core::names::split_dm_name(name)
}

/// Carry out a plan. The system is inspected again and must still give the same plan.
/// `progress(event)` is called with the GIL held; an exception it raises cancels the run
/// (what was made is undone) and is re-raised here. `lock`: the lock of one onn at a time,
/// held by the caller (`lock()`); without it, apply takes it for its own run, refused with
/// `busy` while another onn holds it. `image`: the plan's image as `read_image` or
/// `obtain_image` returned it; by default the one `plan` was given.
#[pyfunction]
#[pyo3(signature = (plan, progress=None, cancel=None, lock=None, image=None))]
fn apply(
    py: Python<'_>,
    plan: &Plan,
    progress: Option<Py<PyAny>>,
    cancel: Option<&CancelToken>,
    lock: Option<&Lock>,
    image: Option<ImageArg<'_>>,
) -> PyResult<Outcome> {
    let token = cancel.map(|c| c.0.clone()).unwrap_or_default();
    let progress = Progress::new(progress);
    let mut earlier = plan.0.clone();
    if let Some(i) = image {
        earlier.request.known = i.known();
    }
    let result = py.detach(|| {
        let own;
        let given = match lock {
            Some(l) => Some(
                l.0.lock()
                    .map_err(|_| anyhow::anyhow!("the lock is poisoned"))?,
            ),
            None => None,
        };
        let held = match given.as_deref() {
            Some(Some(held)) => held,
            Some(None) => anyhow::bail!("the lock given to apply was released; take it again"),
            None => {
                own = core_lock::acquire(&this_process(), None, &mut |_| {})?;
                &own
            }
        };
        engine::prepare_again(&RUNNER, &earlier)?.apply(held, &mut |e| progress.call(e), &token)
    });
    let o = progress.result(py, result)?;
    Ok(Outcome {
        vg: o.vg,
        created: o.created,
        present: o.present,
        base: o.base,
        layer: o.layer,
        boot_entry: o.boot_entry,
        bytes_written: o.copy.map(|c| c.written.0),
        selinux: o.selinux,
        report: o.report.as_ref().map(to_json).transpose()?,
        warnings: o.warnings.into_iter().map(|w| (w.id, w.message)).collect(),
    })
}

/// Download an http(s) image into `dest_dir`, complete and verified against `sha256`
/// (computed while downloading), and return it as a [`Download`]. The GIL is released meanwhile; `progress`
/// gets `image.download` events; `cancel` stops it (the partial file is removed).
#[pyfunction]
#[pyo3(signature = (url, dest_dir, sha256=None, proxy=None, verify_tls=true, progress=None,
                    cancel=None, timeout=30.0, retries=5, backoff=1.0))]
#[allow(clippy::too_many_arguments)]
fn fetch_image(
    py: Python<'_>,
    url: &str,
    dest_dir: &str,
    sha256: Option<String>,
    proxy: Option<String>,
    verify_tls: bool,
    progress: Option<Py<PyAny>>,
    cancel: Option<&CancelToken>,
    timeout: f64,
    retries: u32,
    backoff: f64,
) -> PyResult<Download> {
    let opts = fetch_options(sha256, proxy, verify_tls, timeout, retries, backoff)?;
    let token = cancel.map(|c| c.0.clone()).unwrap_or_default();
    let progress = Progress::new(progress);
    let result = py.detach(|| {
        fetch::fetch(
            url,
            std::path::Path::new(dest_dir),
            &opts,
            &mut |e| progress.call(e),
            &token,
        )
    });
    Ok(progress.result(py, result)?.into())
}

/// The image given (a squashfs or oVirt's image-update RPM; a path or an http(s) URL) as a
/// local, verified squashfs, as onn installs it: `gpg_keys` (paths or URLs) it must be signed
/// by (an RPM's own signature; a squashfs's `signature`, by default `IMAGE.sig`/`.asc` beside
/// it); no key: unverified, as before. Downloads and an RPM's image go into `dest_dir` (the
/// caller removes them). The GIL is released meanwhile; `progress` gets `image.download` and
/// `image.extract` events; `cancel` stops it.
#[pyfunction]
#[pyo3(signature = (image, dest_dir, sha256=None, gpg_keys=Vec::new(), signature=None, proxy=None,
                    verify_tls=true, progress=None, cancel=None, timeout=30.0, retries=5, backoff=1.0))]
#[allow(clippy::too_many_arguments)]
fn obtain_image(
    py: Python<'_>,
    image: &str,
    dest_dir: &str,
    sha256: Option<String>,
    gpg_keys: Vec<String>,
    signature: Option<String>,
    proxy: Option<String>,
    verify_tls: bool,
    progress: Option<Py<PyAny>>,
    cancel: Option<&CancelToken>,
    timeout: f64,
    retries: u32,
    backoff: f64,
) -> PyResult<Download> {
    let given = source::Given {
        image: image.to_owned(),
        sha256,
        keys: gpg_keys,
        signature,
        fetch: fetch_options(None, proxy, verify_tls, timeout, retries, backoff)?,
    };
    let token = cancel.map(|c| c.0.clone()).unwrap_or_default();
    let progress = Progress::new(progress);
    let result = py.detach(|| {
        source::obtain(
            &given,
            std::path::Path::new(dest_dir),
            &mut |e| progress.call(e),
            &token,
        )
    });
    Ok(progress.result(py, result)?.into())
}

fn fetch_options(
    sha256: Option<String>,
    proxy: Option<String>,
    verify_tls: bool,
    timeout: f64,
    retries: u32,
    backoff: f64,
) -> PyResult<fetch::FetchOptions> {
    let seconds = |name: &str, v: f64| {
        std::time::Duration::try_from_secs_f64(v).map_err(|_| {
            PreconditionError::new_err(format!("{name} must be a number of seconds ≥ 0, not {v}"))
        })
    };
    Ok(fetch::FetchOptions {
        sha256,
        proxy,
        verify_tls,
        timeout: seconds("timeout", timeout)?,
        retries,
        backoff: seconds("backoff", backoff)?,
    })
}

/// Refuse an LVM name as the engine does (PreconditionError, `id` name.invalid, name.reserved
/// or name.too-long): `kind` "vg" for a volume group's, "lv" for a logical volume's (a thin
/// pool's too).
#[pyfunction]
fn check_lvm_name(py: Python<'_>, name: &str, kind: &str) -> PyResult<()> {
    match kind {
        "vg" => onn_core::names::validate_vg_name(name),
        "lv" => onn_core::names::validate_lv_name(name),
        _ => {
            return Err(PreconditionError::new_err(format!(
                "kind must be \"vg\" or \"lv\", not {kind:?}"
            )))
        }
    }
    .map_err(|e| to_py(py, e))
}

/// A SHA-256 checksum as the engine takes it: normalised to lowercase, or refused
/// (PreconditionError, `id` sha256.malformed) unless it is 64 hexadecimal digits.
#[pyfunction]
fn parse_sha256(py: Python<'_>, text: &str) -> PyResult<String> {
    onn_core::image::digest::parse_sha256(text).map_err(|e| to_py(py, e))
}

/// Parse a size such as `5G`, `512MiB` or `1024` into bytes.
#[pyfunction]
fn parse_size(text: &str) -> PyResult<u64> {
    text.parse::<onn_core::Bytes>()
        .map(|b| b.0)
        .map_err(|e| PreconditionError::new_err(e.to_string()))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("Error", py.get_type::<Error>())?;
    m.add("PreconditionError", py.get_type::<PreconditionError>())?;
    m.add("CommandError", py.get_type::<CommandError>())?;
    m.add("NotFoundError", py.get_type::<NotFoundError>())?;
    m.add("CancelledError", py.get_type::<CancelledError>())?;
    m.add("RollbackError", py.get_type::<RollbackError>())?;
    // The name limit the kickstart section states in its message.
    m.add("LV_NAME_MAX", onn_core::names::LV_NAME_MAX)?;
    // The least pool metadata imgbased keeps (the kickstart section's pool-metadata).
    m.add("POOL_METADATA_MIN", onn_core::plan::pool::METADATA_MIN.0)?;
    // The pool onn names unless told otherwise (the kickstart section's default).
    m.add("DEFAULT_POOL", onn_core::plan::DEFAULT_POOL)?;
    // Every id a progress event can carry, for the addon's translations.
    m.add("STEP_IDS", onn_core::plan::progress_ids())?;
    // Every id an error of the engine can carry, for the addon's translations.
    m.add("ERROR_IDS", onn_core::ground::error::IDS.to_vec())?;
    m.add_class::<ImageInfo>()?;
    m.add_class::<Plan>()?;
    m.add_class::<Outcome>()?;
    m.add_class::<Event>()?;
    m.add_class::<CancelToken>()?;
    m.add_class::<Download>()?;
    m.add_class::<Lock>()?;
    m.add_function(wrap_pyfunction!(lock, m)?)?;
    m.add_class::<Recording>()?;
    m.add_function(wrap_pyfunction!(read_image, m)?)?;
    m.add_function(wrap_pyfunction!(inspect, m)?)?;
    m.add_function(wrap_pyfunction!(export_boot, m)?)?;
    m.add_function(wrap_pyfunction!(mount_table, m)?)?;
    m.add_function(wrap_pyfunction!(plan, m)?)?;
    m.add_function(wrap_pyfunction!(plan_for_installer, m)?)?;
    m.add_function(wrap_pyfunction!(apply, m)?)?;
    m.add_function(wrap_pyfunction!(fetch_image, m)?)?;
    m.add_function(wrap_pyfunction!(obtain_image, m)?)?;
    m.add_function(wrap_pyfunction!(parse_size, m)?)?;
    m.add_function(wrap_pyfunction!(parse_sha256, m)?)?;
    m.add_function(wrap_pyfunction!(check_lvm_name, m)?)?;
    m.add_function(wrap_pyfunction!(entries_booting, m)?)?;
    m.add_function(wrap_pyfunction!(redact_url, m)?)?;
    m.add_function(wrap_pyfunction!(split_dm_name, m)?)?;
    Ok(())
}
