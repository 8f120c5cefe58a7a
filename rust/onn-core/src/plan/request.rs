//! What `plan` is given: the request, and the facts `inspect` read.

use crate::boot::BootFacts;
use crate::ground::units::Bytes;
use crate::image::source::Provenance;
use crate::image::{ImageFacts, Known};
use crate::storage::blockdev::Device;
use crate::storage::fs::FsType;
use crate::storage::lvm::{self, LvmState};

use super::{VolumeSet, DEFAULT_POOL};

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Layout + base + first layer + boot entry.
    Install,
    /// VG, pool and data volumes only (or adopt an existing VG and pool).
    Layout,
    /// Write an image as a new base.
    AddBase,
    /// Add the next layer on a base, with its boot entry.
    AddLayer,
}

/// A request, as the CLI, the Python module or the addon give it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    pub action: Action,
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub sha256: Option<String>,
    /// What this process already knows of the image (its download's digest, an earlier
    /// read): while the file is unchanged, it is neither hashed nor read again. Not part of
    /// the plan's JSON.
    #[serde(skip)]
    pub known: Known,
    #[serde(default)]
    pub pvs: Vec<String>,
    /// None: "onn" when creating, the imgbased VG otherwise.
    #[serde(default)]
    pub vg: Option<String>,
    #[serde(default = "default_pool")]
    pub pool: String,
    #[serde(default = "default_volumes")]
    pub volumes: VolumeSet,
    #[serde(default)]
    pub fs: Option<FsType>,
    #[serde(default)]
    pub boot: Option<String>,
    /// Use an existing VG and thin pool (as Anaconda's autopart makes them).
    #[serde(default)]
    pub adopt: bool,
    #[serde(default)]
    pub root_size: Option<Bytes>,
    #[serde(default)]
    pub pool_size: Option<Bytes>,
    /// Pool metadata size (at least imgbased's minimum); None: onn's formula when creating,
    /// imgbased's minimum when adopting.
    #[serde(default)]
    pub pool_metadata: Option<Bytes>,
    #[serde(default)]
    pub kernel_args: Vec<String>,
    /// For `AddLayer`: the base; None = the newest.
    #[serde(default)]
    pub base: Option<String>,
    /// With `adopt`: the installer's root file system is mounted here; its VG and thin pool
    /// are the ones adopted (the installer names them, not the user).
    #[serde(default)]
    pub root: Option<String>,
    /// Refuse an image the host's imgbased could not update (its warnings become refusals).
    #[serde(default)]
    pub strict: bool,
    /// For `Install`: the EFI system partition (a device or where it is mounted) that gets the
    /// image's EFI boot files.
    #[serde(default)]
    pub efi: Option<String>,
    /// The layer as its host runs it, mounted here with its /boot, /proc, /sys and /dev (an
    /// installer's system root after the switch to the layer): the entry's initramfs is made
    /// there by the host's dracut, as imgbased makes one per layer, instead of copied from the
    /// image. It carries the host's storage (multipath, iSCSI, LUKS) and configuration.
    #[serde(default)]
    pub host_root: Option<String>,
    /// Where the image came from when `image` is a local copy of it (the URL it was downloaded
    /// from, without credentials): what the install report names as its source.
    #[serde(default)]
    pub source: Option<String>,
    /// Who signed the image and the RPM it came out of, as obtaining it verified them
    /// ([`crate::image::source::obtain`]): carried into the image's facts and the report.
    #[serde(default, skip_serializing_if = "Provenance::is_empty")]
    pub provenance: Provenance,
    /// Write the install report into the layer (install, layer add). An installer that applies
    /// the same plan a second time, to converge after its own steps (the addon's boot entry
    /// after the bootloader's), writes it once, the first time.
    #[serde(default = "yes")]
    pub report: bool,
    /// For `Install`: remove an imgbased Node found on the disks given first (only when every
    /// part of it is imgbased's and on those disks, and it holds no oVirt storage domain).
    #[serde(default)]
    pub wipe: bool,
}

fn yes() -> bool {
    true
}

fn default_pool() -> String {
    DEFAULT_POOL.into()
}
fn default_volumes() -> VolumeSet {
    VolumeSet::Default
}

impl Request {
    pub fn new(action: Action) -> Request {
        Request {
            action,
            image: None,
            sha256: None,
            known: Known::default(),
            pvs: Vec::new(),
            vg: None,
            pool: default_pool(),
            volumes: default_volumes(),
            fs: None,
            boot: None,
            adopt: false,
            root_size: None,
            pool_size: None,
            pool_metadata: None,
            kernel_args: Vec::new(),
            base: None,
            root: None,
            strict: false,
            efi: None,
            host_root: None,
            source: None,
            provenance: Provenance::default(),
            report: true,
            wipe: false,
        }
    }
    pub fn needs_image(&self) -> bool {
        matches!(self.action, Action::Install | Action::AddBase)
    }
    pub fn needs_boot(&self) -> bool {
        matches!(self.action, Action::Install | Action::AddLayer)
    }
    pub fn creates_layout(&self) -> bool {
        matches!(self.action, Action::Install | Action::Layout)
    }
}

/// Everything `inspect` read (or [`super::InstallerStorage::facts`] described); `plan` looks
/// at nothing else.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub lvm: LvmState,
    pub devices: Vec<Device>,
    pub image: Option<ImageFacts>,
    pub boot: Option<BootFacts>,
    /// The LV mounted at `Request::root`.
    pub root_lv: Option<lvm::Lv>,
    /// The installer's data volumes: LVs of the root's VG mounted below `Request::root`.
    pub root_volumes: Vec<PlannedVolume>,
    /// Data volumes (`vg/lv`, tagged by onn) that hold no filesystem: an interrupted run made
    /// them and never formatted them.
    pub blank_volumes: Vec<String>,
    /// The ESP of `Request::efi`.
    pub efi: Option<crate::boot::efi::EfiFacts>,
    /// With `Request::wipe`: what the Nodes on the disks given hold beyond LVM's report.
    pub node: super::wipe::NodeFacts,
}

/// One data volume in the plan.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlannedVolume {
    pub lv: String,
    pub mount: String,
    pub size: Bytes,
}
