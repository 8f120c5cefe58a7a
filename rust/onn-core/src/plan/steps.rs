//! What `plan` decides: the steps, each with its stable id, and the plan that holds them.

use crate::boot::BootFacts;
use crate::ground::progress;
use crate::ground::units::Bytes;
use crate::image::{ImageFacts, Layout};
use crate::storage::fs::FsType;

use super::{PlannedVolume, Request};

/// Declares [`Step`] with each step's stable id written once: it is the step's `step` tag in
/// the plan's JSON, its [`Step::id`] (progress events and translations use it) and an entry of
/// [`Step::IDS`].
macro_rules! steps {
    ($(
        $(#[$meta:meta])*
        $id:literal => $variant:ident { $($(#[$fmeta:meta])* $field:ident: $ty:ty),* $(,)? }
    ),* $(,)?) => {
        /// One step of the plan.
        #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        #[serde(tag = "step")]
        pub enum Step {
            $(
                $(#[$meta])*
                #[serde(rename = $id)]
                $variant { $($(#[$fmeta])* $field: $ty),* },
            )*
        }

        impl Step {
            /// Every step's id, in the order of their declaration.
            pub const IDS: &'static [&'static str] = &[$($id),*];

            pub fn id(&self) -> &'static str {
                match self {
                    $(Step::$variant { .. } => $id,)*
                }
            }
        }
    };
}

steps! {
    /// `--wipe`: the boot entries and kernels of an imgbased Node's layers (on the disks given)
    /// removed from /boot, before its volume group, which names them.
    "node.boot-remove" => RemoveBootFiles { vg: String, layers: Vec<String> },
    /// `--wipe`: an imgbased Node's volume group removed whole, with its disks' LVM labels:
    /// every LV in it imgbased's (`lvs`, listed for the plan's reader), every disk named.
    "node.remove" => RemoveNode {
        vg: String,
        pvs: Vec<String>,
        lvs: Vec<String>,
    },
    "vg.create" => CreateVg { vg: String, pvs: Vec<String> },
    "vg.adopt" => AdoptVg { vg: String },
    "pool.create" => CreatePool {
        vg: String,
        pool: String,
        data: Bytes,
        metadata: Bytes,
    },
    "pool.adopt" => AdoptPool {
        vg: String,
        pool: String,
        grow_metadata_to: Option<Bytes>,
    },
    "volume.create" => CreateVolume {
        vg: String,
        pool: String,
        lv: String,
        size: Bytes,
        fs: FsType,
    },
    /// A data volume an interrupted run created but never formatted.
    "volume.format" => FormatVolume { vg: String, lv: String, fs: FsType },
    /// `replace`: an untagged LV of this name is what an interrupted run left; remove it first.
    "base.write" => WriteBase {
        vg: String,
        pool: String,
        lv: String,
        size: Bytes,
        layout: Layout,
        fs: FsType,
        replace: bool,
    },
    /// `replace`: an untagged LV of this name is what an interrupted run left; remove it first.
    "layer.create" => CreateLayer {
        vg: String,
        origin: String,
        layer: String,
        #[serde(default)]
        replace: bool,
    },
    "layer.configure" => ConfigureLayer {
        vg: String,
        layer: String,
        volumes: Vec<PlannedVolume>,
        /// The install's own kernel arguments: the host's imgbased carries them to the next
        /// layer's entry from the layer's /etc/default/grub.
        kernel_args: Vec<String>,
    },
    /// The image's EFI boot files from the layer onto the ESP (`Plan::efi`).
    "efi.files" => InstallEfi { vg: String, layer: String },
    "boot.entry" => InstallBoot {
        vg: String,
        layer: String,
        nvr: String,
        kernel_args: Vec<String>,
    },
    /// The VG this run (or an interrupted one) created is complete: drop its unfinished mark.
    "vg.finish" => Finish { vg: String },
    /// The install report (`apply::install_report`) into the layer's `/var/log/onn/`, with
    /// `volumes` (the data volumes on the way there, parents first) mounted where the host
    /// mounts them. Last: past the commit point, so a report that cannot be written is a
    /// warning of the run, never the undoing of an install that boots.
    "report.write" => WriteReport {
        vg: String,
        layer: String,
        volumes: Vec<PlannedVolume>,
    },
}

/// Every id a progress event can carry: the download's, each step's, the base's sub-steps'.
/// The addon has a translated message for each (its tests read this list as `onn.STEP_IDS`).
pub fn progress_ids() -> Vec<&'static str> {
    let mut ids = vec![progress::DOWNLOAD, progress::EXTRACT];
    ids.extend(Step::IDS);
    ids.extend([progress::BASE_COPY, progress::BASE_FINISH]);
    ids
}

impl Step {
    /// English description (the addon shows its own translation of `id()` instead).
    pub fn describe(&self) -> String {
        match self {
            Step::RemoveBootFiles { vg, layers } => format!(
                "removing the boot entries and kernels of the Node in {vg} from /boot (layers {})",
                layers.join(", ")
            ),
            Step::RemoveNode { vg, pvs, lvs } => format!(
                "removing the Node in volume group {vg} from {} ({}) and their LVM labels",
                pvs.join(", "),
                lvs.join(", ")
            ),
            Step::CreateVg { vg, pvs } => {
                format!("creating volume group {vg} on {}", pvs.join(", "))
            }
            Step::AdoptVg { vg } => format!("adopting volume group {vg}"),
            Step::CreatePool {
                vg,
                pool,
                data,
                metadata,
            } => {
                format!("creating thin pool {vg}/{pool} ({data}, metadata {metadata})")
            }
            Step::AdoptPool { vg, pool, .. } => format!("adopting thin pool {vg}/{pool}"),
            Step::CreateVolume { vg, lv, size, .. } => {
                format!("creating data volume {vg}/{lv} ({size})")
            }
            Step::FormatVolume { vg, lv, .. } => {
                format!("formatting data volume {vg}/{lv}, left blank by an interrupted run")
            }
            Step::WriteBase { vg, lv, .. } => format!("writing base {vg}/{lv}"),
            Step::CreateLayer { vg, layer, .. } => format!("creating layer {vg}/{layer}"),
            Step::ConfigureLayer { vg, layer, .. } => format!("configuring layer {vg}/{layer}"),
            Step::InstallEfi { layer, .. } => {
                format!("copying the EFI boot files of {layer} onto the EFI system partition")
            }
            Step::InstallBoot { layer, .. } => format!("installing the boot entry of {layer}"),
            Step::Finish { vg } => format!("marking volume group {vg} complete"),
            Step::WriteReport { vg, layer, .. } => format!(
                "writing the install report into {vg}/{layer} ({})",
                super::REPORT_DIR
            ),
        }
    }
}

/// How the VG and pool come to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LayoutMode {
    Create,
    Adopt,
    /// Already there (a re-run, or a later base/layer).
    Present,
}

/// The plan: what will exist afterwards, and the steps to get there.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Plan {
    pub schema: u32,
    pub request: Request,
    pub vg: String,
    pub pool: String,
    pub pvs: Vec<String>,
    pub layout: LayoutMode,
    pub pool_size: Bytes,
    pub pool_metadata: Bytes,
    /// Estimated free space in the pool when done.
    pub pool_free_after: Bytes,
    pub fs: Option<FsType>,
    pub volumes: Vec<PlannedVolume>,
    pub image: Option<ImageFacts>,
    pub base: Option<String>,
    pub base_size: Option<Bytes>,
    pub layer: Option<String>,
    /// The kernel the boot entry will use, when known from the image.
    pub kernel: Option<String>,
    pub boot: Option<BootFacts>,
    /// The ESP that gets the image's EFI boot files.
    pub efi: Option<crate::boot::efi::EfiFacts>,
    /// Things the request wants that already exist (a re-run is a no-op for them).
    pub present: Vec<String>,
    pub steps: Vec<Step>,
}
