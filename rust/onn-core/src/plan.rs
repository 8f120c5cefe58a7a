//! Inspect → **plan** → apply. `plan()` is pure: from a request and the facts read by
//! `inspect`, it decides every step or refuses with a precondition error, before anything is
//! written. The plan is serde data with a schema version (`onn … --dry-run --json`).

use anyhow::{Context, Result};

use crate::blockdev::Device;
use crate::boot::BootFacts;
use crate::digest::FileDigest;
use crate::error::{not_found, precondition};
use crate::fs::FsType;
use crate::image::{ImageFacts, Layout};
use crate::lvm::{self, LvmState};
use crate::names::{self, ImageName, Nvr, VolumeSet};
use crate::progress;
use crate::units::{Bytes, GIB, MIB};

pub const SCHEMA: u32 = 3;
/// The volume group onn creates unless told otherwise.
pub const DEFAULT_VG: &str = "onn";
/// LVM's default extent size; sizes are rounded to it.
const EXTENT: Bytes = Bytes(4 * MIB);
/// Space per PV that LVM keeps for its label and metadata area.
const PV_OVERHEAD: Bytes = Bytes(MIB);
/// A new pool takes this share of the VG (after metadata and its spare): the rest stays free
/// so the `imgbased-pool` profile's autoextend (+20 % at 70 % full) has room to act.
const POOL_SHARE_PERCENT: u64 = 80;
/// Headroom for writing an image: the pool must stay under imgbased's 80 % check limit
/// after writing the image's filesystem plus 10 % (data volumes get /var's content).
pub const IMAGE_HEADROOM_PERCENT: u64 = 110;
/// Smallest pool onn creates.
const POOL_MIN: Bytes = Bytes(256 * MIB);
/// Smallest default root LV (virtual size; thin, so it costs nothing until written).
const ROOT_MIN: Bytes = Bytes(10 * GIB);

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
    /// The image's digest from its download, when this process downloaded it: the image is
    /// then not hashed again while the file is unchanged. Not part of the plan's JSON.
    #[serde(skip)]
    pub downloaded: Option<FileDigest>,
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
}

fn default_pool() -> String {
    "pool00".into()
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
            downloaded: None,
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

/// Everything `inspect` read; `plan` looks at nothing else. It deserializes from JSON (the
/// LVM rows in `lvm --reportformat json` form), so facts a caller knows before the storage
/// exists (the installer's device tree) can be planned too (`onn.plan_from_facts`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Facts {
    pub lvm: LvmState,
    pub devices: Vec<Device>,
    pub image: Option<ImageFacts>,
    pub boot: Option<BootFacts>,
    /// The LV mounted at `Request::root`.
    pub root_lv: Option<lvm::LvRow>,
    /// The installer's data volumes: LVs of the root's VG mounted below `Request::root`.
    pub root_volumes: Vec<PlannedVolume>,
    /// Data volumes (`vg/lv`, tagged by onn) that hold no filesystem: an interrupted run made
    /// them and never formatted them.
    pub blank_volumes: Vec<String>,
    /// The ESP of `Request::efi`.
    pub efi: Option<crate::efi::EfiFacts>,
}

/// One data volume in the plan.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PlannedVolume {
    pub lv: String,
    pub mount: String,
    pub size: Bytes,
}

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
}

/// Every id a progress event can carry: the download's, each step's, the base's sub-steps'.
/// The addon has a translated message for each (its tests read this list as `onn.STEP_IDS`).
pub fn progress_ids() -> Vec<&'static str> {
    let mut ids = vec![progress::DOWNLOAD];
    ids.extend(Step::IDS);
    ids.extend([progress::BASE_COPY, progress::BASE_FINISH]);
    ids
}

impl Step {
    /// English description (the addon shows its own translation of `id()` instead).
    pub fn describe(&self) -> String {
        match self {
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
    pub efi: Option<crate::efi::EfiFacts>,
    /// Things the request wants that already exist (a re-run is a no-op for them).
    pub present: Vec<String>,
    pub steps: Vec<Step>,
}

/// Decide the plan, or refuse with a clear precondition error.
pub fn plan(req: &Request, facts: &Facts) -> Result<Plan> {
    let resolved;
    let req = match &facts.root_lv {
        Some(root) => {
            resolved = adopt_root(req, root)?;
            &resolved
        }
        None => req,
    };
    // --adopt takes the VG and pool as they are; disks or a pool size would be silently unused.
    if req.adopt && (!req.pvs.is_empty() || req.pool_size.is_some()) {
        return Err(precondition(
            "request.conflict",
            "--adopt uses the existing volume group and thin pool as they are: leave out --pv and --pool-size, or leave out --adopt to create them",
        ));
    }
    for a in &req.kernel_args {
        if a.is_empty() || a.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(precondition(
                "kernel-arg.invalid",
                format!(
                    "kernel argument {a:?} must be one word; give each with its own --kernel-arg"
                ),
            ));
        }
        // The arguments also go into the layer's /etc/default/grub, which grub2-mkconfig
        // reads as shell, between double quotes.
        if a.chars().any(|c| matches!(c, '"' | '$' | '`' | '\\')) {
            return Err(precondition(
                "kernel-arg.invalid",
                format!(
                    "kernel argument {a:?} holds a character that /etc/default/grub cannot carry (\", $, ` or \\): leave it out"
                ),
            ));
        }
    }
    if let Some(name) = &req.vg {
        names::validate_vg_name(name)?;
    }
    names::validate_lv_name(&req.pool)?;
    if let Some(m) = req.pool_metadata.filter(|m| *m < names::POOL_METADATA_MIN) {
        return Err(precondition(
            "pool-metadata.too-small",
            format!(
                "pool metadata of {m} is below imgbased's minimum of {}; give at least that",
                names::POOL_METADATA_MIN
            ),
        ));
    }
    let image = match (&facts.image, req.needs_image()) {
        (Some(i), true) => Some(i),
        (None, true) => {
            return Err(precondition(
                "image.required",
                "this action needs an image: give --image",
            ))
        }
        _ => None,
    };
    let boot = if req.needs_boot() {
        let b = facts.boot.as_ref().ok_or_else(|| {
            precondition(
                "boot.required",
                "give the /boot partition or its mount point with --boot",
            )
        })?;
        if let Some(lv) = facts.lvm.lvs.iter().find(|l| {
            b.device == format!("/dev/{}/{}", l.vg_name, l.lv_name)
                || b.device == format!("/dev/mapper/{}", names::dm_name(&l.vg_name, &l.lv_name))
        }) {
            return Err(precondition(
                "boot.on-lvm",
                format!(
                    "/boot ({}) is the logical volume {}/{}; the bootloader reads the layers' kernels from a partition of its own: make /boot a partition outside LVM (kickstart: part /boot --size=1024)",
                    b.device, lv.vg_name, lv.lv_name
                ),
            ));
        }
        if b.size < names::BOOT_MIN {
            return Err(precondition(
                "boot.too-small",
                format!(
                    "/boot ({}) is {}; imgbased needs at least {} for a kernel per layer: use a larger /boot partition",
                    b.device,
                    b.size,
                    names::BOOT_MIN
                ),
            ));
        }
        Some(b.clone())
    } else {
        None
    };
    let efi = match (&req.efi, &facts.efi) {
        (None, _) => None,
        (Some(_), _) if req.action != Action::Install => {
            return Err(precondition(
                "request.conflict",
                "the EFI boot files are installed with the image: give --efi to onn install",
            ))
        }
        (Some(given), None) => {
            return Err(not_found(
                "device.missing",
                format!("EFI system partition {given} was not inspected; plan with its facts"),
            ))
        }
        (Some(_), Some(e)) => {
            let i = image.context("an install has an image")?;
            crate::efi::check(e, &i.efi_files, &i.path)?;
            Some(e.clone())
        }
    };
    if let Some(i) = image {
        crate::updatable::refuse_if_strict(&i.warnings, req.strict)?;
        if i.kernels.is_empty() && req.action == Action::Install {
            return Err(precondition(
                "image.no-kernel",
                format!(
                    "image {} contains no kernel with an initramfs, so it cannot boot; use a Node image with its kernel and initramfs in /boot",
                    i.path
                ),
            ));
        }
    }
    // The root filesystem type: the image's, else the one asked for, else ext4.
    let fs = match (image.and_then(|i| i.fs), req.fs) {
        (Some(img), Some(asked)) if img != asked => {
            return Err(precondition(
                "fs.mismatch",
                format!(
                    "the image's root filesystem is {}, not {}; leave out --fs",
                    img.name(),
                    asked.name()
                ),
            ))
        }
        (Some(img), _) => Some(img),
        (None, asked) => asked.or(if req.creates_layout() || image.is_some() {
            Some(FsType::Ext4)
        } else {
            None
        }),
    };

    let mut p = Plan {
        schema: SCHEMA,
        request: req.clone(),
        vg: String::new(),
        pool: req.pool.clone(),
        pvs: Vec::new(),
        layout: LayoutMode::Present,
        pool_size: Bytes(0),
        pool_metadata: Bytes(0),
        pool_free_after: Bytes(0),
        fs,
        volumes: Vec::new(),
        image: image.cloned(),
        base: None,
        base_size: None,
        layer: None,
        kernel: image
            .and_then(|i| i.kernels.first())
            .map(|k| k.version.clone()),
        boot,
        efi,
        present: Vec::new(),
        steps: Vec::new(),
    };
    let pool_used = if req.creates_layout() {
        plan_layout(req, facts, &mut p)?
    } else {
        find_layout(req, facts, &mut p)?
    };

    // What the new data volumes' filesystems take of the pool before any file.
    let volumes_cost: Bytes = p
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::CreateVolume { size, fs, .. } => Some(crate::fs::mkfs_cost(*fs, *size)),
            _ => None,
        })
        .sum();
    let mut pool_used = pool_used + volumes_cost;
    // lvm2 creates no thin LV in a pool past its threshold, and the layer is created last.
    let threshold = p.pool_size.scale(names::POOL_THRESHOLD_PERCENT, 100);
    if image.is_none() && pool_used > threshold {
        return Err(pool_too_small(&p, pool_used, volumes_cost, None));
    }

    // Base.
    let mut base_nvr: Option<Nvr> = None;
    if let Some(i) = image {
        let lv = i.nvr.base_lv();
        let existing = facts.lvm.lv(&p.vg, &lv);
        if existing.is_some_and(|l| l.has_tag(names::TAG_BASE)) {
            p.present.push(format!("base {lv}"));
        } else {
            // The image with headroom, and what growing its filesystem to the LV takes.
            let size = base_size(req, facts, &p, i);
            let fs_kind = fs.unwrap_or(FsType::Ext4);
            let need = i.rootfs_size.scale(IMAGE_HEADROOM_PERCENT, 100)
                + crate::fs::grow_cost(fs_kind, size.saturating_sub(i.rootfs_size));
            if pool_used + need > threshold {
                return Err(pool_too_small(&p, pool_used, volumes_cost, Some(i)));
            }
            let replace = unfinished(facts, &p, &lv)
                .ok_or_else(|| precondition("base.name-taken", name_taken(&p, &lv)))?;
            pool_used = pool_used + need;
            if size < i.rootfs_size {
                return Err(precondition(
                    "root-size.too-small",
                    format!(
                        "--root-size {size} is smaller than the image's filesystem ({}); give at least that, or leave it out",
                        i.rootfs_size
                    ),
                ));
            }
            p.base_size = Some(size);
            p.steps.push(Step::WriteBase {
                vg: p.vg.clone(),
                pool: p.pool.clone(),
                lv: lv.clone(),
                size,
                layout: i.layout,
                fs: fs.unwrap_or(FsType::Ext4),
                replace,
            });
        }
        p.base = Some(lv);
        base_nvr = Some(i.nvr.clone());
    }
    p.pool_free_after = p.pool_size.saturating_sub(pool_used);

    // Layer and boot entry.
    if matches!(req.action, Action::Install | Action::AddLayer) {
        let base = match (base_nvr, &req.base) {
            (Some(n), _) => n,
            (None, Some(b)) => {
                let n = Nvr::parse(b)?;
                if !facts
                    .lvm
                    .lv(&p.vg, b)
                    .is_some_and(|l| l.has_tag(names::TAG_BASE))
                {
                    return Err(not_found(
                        "base.missing",
                        format!("there is no base {b} in {}; see `onn list`", p.vg),
                    ));
                }
                n
            }
            (None, None) => newest_base(&facts.lvm, &p.vg)?,
        };
        let layers = layers_of(&facts.lvm, &p.vg, &base);
        let (layer, origin) = if req.action == Action::Install && !layers.is_empty() {
            // A re-run of an install: its first layer is there already.
            (base.layer_lv(layers[0]), None)
        } else {
            let origin = layers.last().map_or(base.base_lv(), |i| base.layer_lv(*i));
            (
                base.layer_lv(names::next_layer_index(layers.iter().copied())),
                Some(origin),
            )
        };
        names::validate_lv_name(&layer)?;
        match origin {
            Some(origin) => {
                let replace = unfinished(facts, &p, &layer)
                    .ok_or_else(|| precondition("layer.name-taken", name_taken(&p, &layer)))?;
                p.steps.push(Step::CreateLayer {
                    vg: p.vg.clone(),
                    origin,
                    layer: layer.clone(),
                    replace,
                })
            }
            None => p.present.push(format!("layer {layer}")),
        }
        let volumes = if p.volumes.is_empty() {
            existing_volumes(&facts.lvm, &p.vg)
        } else {
            p.volumes.clone()
        };
        p.steps.push(Step::ConfigureLayer {
            vg: p.vg.clone(),
            layer: layer.clone(),
            volumes,
            kernel_args: req.kernel_args.clone(),
        });
        if p.efi.is_some() {
            p.steps.push(Step::InstallEfi {
                vg: p.vg.clone(),
                layer: layer.clone(),
            });
        }
        p.steps.push(Step::InstallBoot {
            vg: p.vg.clone(),
            layer: layer.clone(),
            nvr: base.to_string(),
            kernel_args: req.kernel_args.clone(),
        });
        p.layer = Some(layer);
    }
    for step in &p.steps {
        let (vg, lv, extra) = match step {
            Step::CreatePool { vg, pool, .. } => (vg, pool, names::POOL_DM_SUFFIX),
            Step::CreateVolume { vg, lv, .. } | Step::WriteBase { vg, lv, .. } => (vg, lv, 0),
            Step::CreateLayer { vg, layer, .. } => (vg, layer, 0),
            _ => continue,
        };
        names::validate_dm_name(vg, lv, extra)?;
    }
    // A VG this run creates, or one an interrupted run created, is marked unfinished until its
    // volumes, base and layer are complete; the boot entry stays last, the commit point of an
    // install (a rerun writes it again).
    if req.creates_layout()
        && !req.adopt
        && facts
            .lvm
            .vg(&p.vg)
            .is_none_or(|v| v.has_tag(names::TAG_UNFINISHED))
    {
        let at = p
            .steps
            .iter()
            .position(|s| matches!(s, Step::InstallBoot { .. }))
            .unwrap_or(p.steps.len());
        p.steps.insert(at, Step::Finish { vg: p.vg.clone() });
    }
    Ok(p)
}

/// The base LV's size: `--root-size`, else twice the image's filesystem, at least ROOT_MIN and
/// the newest base's size.
fn base_size(req: &Request, facts: &Facts, p: &Plan, i: &ImageFacts) -> Bytes {
    let newest_base = facts
        .lvm
        .lvs_of(&p.vg)
        .filter(|l| l.has_tag(names::TAG_BASE))
        .map(|l| l.lv_size)
        .max()
        .unwrap_or_default();
    req.root_size
        .unwrap_or_else(|| i.rootfs_size.scale(2, 1).max(ROOT_MIN).max(newest_base))
        .round_up(EXTENT)
}

/// The refusal of a pool that cannot take the new volumes' filesystems and the image below
/// lvm2's threshold for creating thin LVs (the layer is created after the base is written).
fn pool_too_small(
    p: &Plan,
    used: Bytes,
    volumes: Bytes,
    image: Option<&ImageFacts>,
) -> anyhow::Error {
    let what = match image {
        Some(i) => format!(
            "image {} ({} plus headroom and its growth to the root LV) and the new volumes' filesystems ({volumes})",
            i.nvr, i.rootfs_size
        ),
        None => format!("the new volumes' filesystems ({volumes})"),
    };
    precondition(
        "pool.too-small",
        format!(
            "thin pool {}/{} ({}, {} in use once its volumes are made) cannot take {what} and stay under the {} % at which lvm2 stops creating volumes in it; use larger disks or a larger --pool-size",
            p.vg,
            p.pool,
            p.pool_size,
            used.saturating_sub(volumes),
            names::POOL_THRESHOLD_PERCENT
        ),
    )
}

/// Is an LV named like the base or layer about to be made the leftover of an interrupted run
/// (in the pool, no tags: the tag is the commit point)? `Some(true)`: it is, and is replaced;
/// `None`: an LV of that name is somebody's, and the caller refuses.
fn unfinished(facts: &Facts, p: &Plan, lv: &str) -> Option<bool> {
    match facts.lvm.lv(&p.vg, lv) {
        None => Some(false),
        Some(l) if l.pool_lv == p.pool && l.lv_tags.is_empty() => Some(true),
        Some(_) => None,
    }
}

fn name_taken(p: &Plan, lv: &str) -> String {
    format!("{}/{lv} exists and is not onn's; remove or rename it", p.vg)
}

/// Plan the VG, pool and volumes (create, adopt, or find them from an earlier run).
/// Returns the bytes already used in the pool.
fn plan_layout(req: &Request, facts: &Facts, p: &mut Plan) -> Result<Bytes> {
    let vg = req.vg.clone().unwrap_or_else(|| DEFAULT_VG.into());
    p.vg = vg.clone();
    let tagged = facts.lvm.imgbased_vgs();
    if let Some(other) = tagged.iter().find(|v| v.vg_name != vg) {
        return Err(precondition(
            "vg.imgbased-exists",
            format!(
                "volume group {} is already managed by imgbased (tag {}); imgbased supports one. Add images to it with `onn base add`, or remove it first",
                other.vg_name,
                names::TAG_VG
            ),
        ));
    }
    if req.adopt {
        return plan_adopt(req, facts, p, &vg);
    }
    if req.pvs.is_empty() {
        return Err(precondition(
            "pv.required",
            "name the disks for the volume group with --pv",
        ));
    }
    let mut pvs: Vec<String> = Vec::new();
    for given in &req.pvs {
        let dev = facts
            .devices
            .iter()
            .find(|d| &d.given == given || &d.path == given)
            .ok_or_else(|| {
                not_found(
                    "device.missing",
                    format!("device {given} was not inspected; plan with the facts of every --pv"),
                )
            })?;
        if pvs.contains(&dev.path) {
            return Err(precondition(
                "pv.duplicate",
                format!(
                    "{given} names the same disk as another --pv ({}); name each disk once",
                    dev.path
                ),
            ));
        }
        pvs.push(dev.path.clone());
    }
    p.pvs = pvs.clone();

    if let Some(existing) = facts.lvm.vg(&vg) {
        // Only a VG onn made (tagged) on exactly these disks is resumed; anything else is
        // someone's data.
        let mut have: Vec<String> = facts
            .lvm
            .pvs_of(&vg)
            .into_iter()
            .map(str::to_string)
            .collect();
        have.sort();
        let mut want = pvs.clone();
        want.sort();
        if !existing.has_tag(names::TAG_VG) {
            return Err(precondition(
                "vg.exists",
                format!("volume group {vg} already exists; to use it, pass --adopt; to install elsewhere, choose another --vg"),
            ));
        }
        if have != want {
            return Err(precondition(
                "vg.imgbased-exists",
                format!("imgbased volume group {vg} exists on {}, not on {}; remove it first or name the same disks", have.join(", "), want.join(", ")),
            ));
        }
        p.present.push(format!("volume group {vg}"));
        let pool = facts
            .lvm
            .lv(&vg, &req.pool)
            .filter(|l| l.has_tag(names::TAG_POOL));
        let Some(pool) = pool else {
            // The VG is ours but the pool never got made: carry on from there.
            let extent = existing.vg_extent_size;
            let free = facts
                .lvm
                .pvs
                .iter()
                .filter(|pv| pv.vg_name == vg)
                .map(|pv| pv.pv_size.0 / extent.0.max(1))
                .collect();
            return plan_new_pool(req, facts, p, free, extent);
        };
        p.present.push(format!("thin pool {vg}/{}", req.pool));
        p.pool_size = pool.lv_size;
        p.pool_metadata = pool.lv_metadata_size.unwrap_or_default();
        plan_volumes(req, facts, p);
        return Ok(pool_used(pool));
    }

    for d in facts.devices.iter().filter(|d| pvs.contains(&d.path)) {
        check_free_disk(d, &facts.lvm)?;
    }
    // A filesystem is read in units no smaller than the disk's logical sector: an xfs made
    // with 512-byte sectors does not mount from a 4Kn disk (the base's LV has the largest
    // sector of its PVs).
    let sector = facts
        .devices
        .iter()
        .filter(|d| pvs.contains(&d.path))
        .map(|d| d.logical_sector)
        .max()
        .unwrap_or(512);
    if let Some((i, fs_sector)) = p.image.as_ref().and_then(|i| Some((i, i.fs_sector?))) {
        if fs_sector < sector {
            return Err(precondition(
                "fs.sector-size",
                format!(
                    "the disks have {sector}-byte logical sectors, but the {} filesystem of image {} reads {fs_sector}-byte units and would not mount from them; use disks with {fs_sector}-byte sectors, or an image whose filesystem is made for {sector} (mkfs.xfs -s size={sector}, or ext4 with 4 KiB blocks)",
                    i.fs.map_or("image's", |f| f.name()),
                    i.nvr
                ),
            ));
        }
    }
    // Free extents per PV, in the order given.
    let free = pvs
        .iter()
        .filter_map(|pv| facts.devices.iter().find(|d| &d.path == pv))
        .map(|d| d.size.saturating_sub(PV_OVERHEAD).0 / EXTENT.0)
        .collect();
    p.layout = LayoutMode::Create;
    p.steps.push(Step::CreateVg {
        vg: vg.clone(),
        pvs,
    });
    plan_new_pool(req, facts, p, free, EXTENT)
}

fn plan_new_pool(
    req: &Request,
    facts: &Facts,
    p: &mut Plan,
    free: Vec<u64>,
    extent: Bytes,
) -> Result<Bytes> {
    let vg_size = Bytes(free.iter().sum::<u64>() * extent.0);
    let metadata = match req.pool_metadata {
        Some(m) => m.round_up(extent),
        None => lvm::pool_metadata_size(vg_size, extent),
    };
    // Metadata and its spare copy (LVM keeps one for repairs).
    let usable = vg_size.saturating_sub(Bytes(2 * metadata.0));
    let want = match req.pool_size {
        Some(s) => s.round_up(extent),
        None => usable.scale(POOL_SHARE_PERCENT, 100).round_down(extent),
    };
    // What lvm2 can place of it, PV by PV (the metadata and its spare each whole on one PV).
    let meta_extents = metadata.0 / extent.0;
    let fits = Bytes(alloc::max_pool_data(&free, want.0 / extent.0, meta_extents) * extent.0);
    let data = if req.pool_size.is_some() { want } else { fits };
    if data < POOL_MIN || data > fits {
        let sizes: Vec<String> = free
            .iter()
            .map(|f| Bytes(f * extent.0).to_string())
            .collect();
        return Err(precondition(
            "disk.too-small",
            format!(
                "the disks ({}) give a volume group of {vg_size}, where lvm2 places {metadata} of pool metadata and a spare as large each whole on one disk: a thin pool of {} does not fit ({} short); use larger disks",
                sizes.join(", "),
                data.max(POOL_MIN),
                data.max(POOL_MIN).saturating_sub(fits)
            ),
        ));
    }
    p.layout = LayoutMode::Create;
    p.pool_size = data;
    p.pool_metadata = metadata;
    p.steps.push(Step::CreatePool {
        vg: p.vg.clone(),
        pool: p.pool.clone(),
        data,
        metadata,
    });
    plan_volumes(req, facts, p);
    Ok(Bytes(0))
}

fn plan_adopt(req: &Request, facts: &Facts, p: &mut Plan, vg: &str) -> Result<Bytes> {
    let row = facts.lvm.vg(vg).ok_or_else(|| {
        not_found(
            "vg.missing",
            format!("volume group {vg} does not exist; without --adopt onn creates one"),
        )
    })?;
    let pool = facts.lvm.lv(vg, &req.pool).ok_or_else(|| {
        not_found(
            "pool.missing",
            format!(
                "thin pool {vg}/{} does not exist; name the installer's pool with --pool",
                req.pool
            ),
        )
    })?;
    if !pool.is_thin_pool() {
        return Err(precondition(
            "pool.not-thin",
            format!(
                "{vg}/{} is not a thin pool; name the installer's thin pool with --pool",
                req.pool
            ),
        ));
    }
    if let Some(other) = facts
        .lvm
        .lvs_of(vg)
        .find(|l| l.has_tag(names::TAG_POOL) && l.lv_name != req.pool)
    {
        return Err(precondition(
            "pool.imgbased-exists",
            format!(
                "{vg}/{} is already imgbased's pool and imgbased supports one; name it with --pool {}",
                other.lv_name, other.lv_name
            ),
        ));
    }
    let Some(var) = facts.lvm.lv(vg, "var") else {
        return Err(precondition(
            "var.not-separate",
            format!("{vg} has no separate /var volume (LV {vg}/var); imgbased needs /var apart from / so layers share it: create one (kickstart: logvol /var --thin --name=var …)"),
        ));
    };
    if var.lv_size < names::VAR_MIN {
        return Err(precondition(
            "var.too-small",
            format!(
                "/var ({vg}/var) is {}; every layer shares it and a Node needs at least {}: make it larger (kickstart: logvol /var --size=…)",
                var.lv_size,
                names::VAR_MIN
            ),
        ));
    }
    p.pvs = facts
        .lvm
        .pvs_of(vg)
        .into_iter()
        .map(str::to_string)
        .collect();
    p.pool_size = pool.lv_size;
    let meta = pool.lv_metadata_size.unwrap_or_default();
    let want = req.pool_metadata.unwrap_or(names::POOL_METADATA_MIN);
    let grow = (meta < want).then_some(want);
    if let Some(g) = grow {
        let more = g.saturating_sub(meta);
        // LVM grows the spare too.
        if row.vg_free < Bytes(2 * more.0) {
            return Err(precondition(
                "pool.metadata-no-room",
                format!("pool {vg}/{} has {meta} of metadata; imgbased needs {g} and the VG has only {} free: leave room in the volume group or add a disk to it", req.pool, row.vg_free),
            ));
        }
    }
    p.pool_metadata = grow.unwrap_or(meta);
    if row.has_tag(names::TAG_VG) && pool.has_tag(names::TAG_POOL) && grow.is_none() {
        p.present.push(format!("volume group {vg} (adopted)"));
    } else {
        p.layout = LayoutMode::Adopt;
        if !row.has_tag(names::TAG_VG) {
            p.steps.push(Step::AdoptVg { vg: vg.to_string() });
        }
        p.steps.push(Step::AdoptPool {
            vg: vg.to_string(),
            pool: req.pool.clone(),
            grow_metadata_to: grow,
        });
    }
    plan_volumes(req, facts, p);
    Ok(pool_used(pool))
}

/// The request with the VG and pool of the installer's root LV filled in.
fn adopt_root(req: &Request, root: &lvm::LvRow) -> Result<Request> {
    let at = req.root.as_deref().unwrap_or("/");
    if !req.adopt {
        return Err(precondition(
            "root.needs-adopt",
            "a root mount point names the installer's volume group to adopt; add --adopt",
        ));
    }
    if root.pool_lv.is_empty() {
        return Err(precondition(
            "root.not-thin",
            format!(
                "{at} is on {}/{}, which is not a thin volume; imgbased needs / on a thin pool (kickstart: logvol / --thin --poolname=…)",
                root.vg_name, root.lv_name
            ),
        ));
    }
    for (given, found, what) in [
        (req.vg.as_deref(), root.vg_name.as_str(), "volume group"),
        (
            Some(req.pool.as_str()).filter(|p| *p != default_pool()),
            root.pool_lv.as_str(),
            "thin pool",
        ),
    ] {
        if given.is_some_and(|g| g != found) {
            return Err(precondition(
                "root.other-vg",
                format!(
                    "{at} is in {what} {found}, not {}; leave the name out or make them agree",
                    given.unwrap_or_default()
                ),
            ));
        }
    }
    let mut req = req.clone();
    req.vg = Some(root.vg_name.clone());
    req.pool = root.pool_lv.clone();
    Ok(req)
}

/// Plan the data volumes that do not exist yet.
fn plan_volumes(req: &Request, facts: &Facts, p: &mut Plan) {
    let fs = p.fs.unwrap_or(FsType::Ext4);
    // Adopting, the set completes the installer's volumes: what it mounts stays, what the set
    // names and the installer did not make is created (as imgbased's own layout does).
    let installer_made = |mount: &str| facts.root_volumes.iter().any(|rv| rv.mount == mount);
    for v in req.volumes.volumes() {
        if installer_made(&v.mount) {
            continue;
        }
        let mut planned = PlannedVolume {
            lv: v.lv.clone(),
            mount: v.mount.clone(),
            size: v.size,
        };
        if let Some(existing) = facts.lvm.lv(&p.vg, &v.lv) {
            p.present.push(format!("data volume {}", v.lv));
            planned.size = existing.lv_size;
            if facts.blank_volumes.contains(&format!("{}/{}", p.vg, v.lv)) {
                p.steps.push(Step::FormatVolume {
                    vg: p.vg.clone(),
                    lv: v.lv.clone(),
                    fs,
                });
            }
        } else {
            p.steps.push(Step::CreateVolume {
                vg: p.vg.clone(),
                pool: p.pool.clone(),
                lv: v.lv,
                size: v.size,
                fs,
            });
        }
        p.volumes.push(planned);
    }
    // The installer made and mounted its own: the layer's fstab names them and they get the
    // image's content, as onn's volumes do (parents first, so sorted by mount point).
    if !facts.root_volumes.is_empty() {
        p.volumes.extend(facts.root_volumes.iter().cloned());
        p.volumes.sort_by(|a, b| a.mount.cmp(&b.mount));
    }
    if p.volumes.is_empty() {
        p.volumes = existing_volumes(&facts.lvm, &p.vg);
    }
}

fn pool_used(pool: &lvm::LvRow) -> Bytes {
    Bytes((pool.lv_size.0 as f64 * pool.data_percent.unwrap_or(0.0) / 100.0).ceil() as u64)
}

/// For base/layer actions: the one imgbased VG and pool.
fn find_layout(req: &Request, facts: &Facts, p: &mut Plan) -> Result<Bytes> {
    let tagged = facts.lvm.imgbased_vgs();
    let vg = match (&req.vg, tagged.as_slice()) {
        (Some(v), _) if tagged.iter().any(|t| &t.vg_name == v) => v.clone(),
        (Some(v), _) => {
            return Err(not_found(
                "vg.missing",
                format!(
                    "{v} is not an imgbased volume group; run `onn layout` or `onn install` first"
                ),
            ))
        }
        (None, [one]) => one.vg_name.clone(),
        (None, []) => {
            return Err(not_found(
                "vg.missing",
                "there is no imgbased volume group; run `onn install` or `onn layout` first",
            ))
        }
        (None, many) => {
            return Err(precondition(
                "vg.imgbased-many",
                format!(
                    "{} volume groups carry {}; imgbased needs exactly one. Name one with --vg",
                    many.len(),
                    names::TAG_VG
                ),
            ))
        }
    };
    let pool = facts
        .lvm
        .lvs_of(&vg)
        .find(|l| l.has_tag(names::TAG_POOL))
        .ok_or_else(|| {
            not_found(
                "pool.missing",
                format!("{vg} has no thin pool tagged {}", names::TAG_POOL),
            )
        })?;
    p.vg = vg.clone();
    p.pool = pool.lv_name.clone();
    p.pvs = facts
        .lvm
        .pvs_of(&vg)
        .into_iter()
        .map(str::to_string)
        .collect();
    p.pool_size = pool.lv_size;
    p.pool_metadata = pool.lv_metadata_size.unwrap_or_default();
    p.volumes = existing_volumes(&facts.lvm, &vg);
    Ok(pool_used(pool))
}

/// Refuse a disk that holds anything: a mount, a holder, partitions, a filesystem or a VG.
fn check_free_disk(d: &Device, lvm: &LvmState) -> Result<()> {
    // Named as given, with what it resolved to (a /dev/disk/by-id link, a `..`).
    let shown = if d.given == d.path {
        d.path.clone()
    } else {
        format!("{} ({})", d.given, d.path)
    };
    let wipe = &d.path;
    if !d.mounts.is_empty() {
        return Err(precondition(
            "pv.mounted",
            format!(
                "{shown} is in use: mounted on {}; unmount it or choose another disk",
                d.mounts.join(", ")
            ),
        ));
    }
    if !d.holders.is_empty() {
        return Err(precondition(
            "pv.in-use",
            format!(
                "{shown} is in use by {}; release it or choose another disk",
                d.holders.join(", ")
            ),
        ));
    }
    if d.busy {
        return Err(precondition(
            "pv.in-use",
            format!("{shown} is in use (the kernel refused exclusive access); choose another disk"),
        ));
    }
    if let Some(pt) = &d.partition_table {
        return Err(precondition(
            "pv.partitioned",
            format!("{shown} has a {pt} partition table; onn will not overwrite partitions. Wipe it (wipefs -a {wipe}) if it holds nothing you need"),
        ));
    }
    match d.signature.as_deref() {
        None => Ok(()),
        Some("LVM2_member") => match lvm.pv(&d.path).or_else(|| lvm.pv(&d.given)) {
            Some(pv) if !pv.vg_name.is_empty() => Err(precondition(
                "pv.other-vg",
                format!("{shown} belongs to volume group {}; onn will not take disks of another VG: choose another disk, or remove that VG (vgremove) if it holds nothing you need", pv.vg_name),
            )),
            // An LVM label without a VG holds no data.
            _ => Ok(()),
        },
        Some(sig) => Err(precondition(
            "pv.signature",
            format!("{shown} holds a {sig} signature (existing data); wipe it (wipefs -a {wipe}) if you mean to reuse the disk"),
        )),
    }
}

/// Bases in a VG, by their NVR.
pub fn bases(lvm: &LvmState, vg: &str) -> Vec<Nvr> {
    lvm.lvs_of(vg)
        .filter(|l| l.has_tag(names::TAG_BASE))
        .filter_map(|l| match ImageName::parse(&l.lv_name) {
            Some(ImageName::Base(n)) => Some(n),
            _ => None,
        })
        .collect()
}

/// Layer indexes of a base, ascending.
pub fn layers_of(lvm: &LvmState, vg: &str, base: &Nvr) -> Vec<u32> {
    let mut v: Vec<u32> = lvm
        .lvs_of(vg)
        .filter(|l| l.has_tag(names::TAG_LAYER))
        .filter_map(|l| match ImageName::parse(&l.lv_name) {
            Some(ImageName::Layer(n, i)) if &n == base => Some(i),
            _ => None,
        })
        .collect();
    v.sort_unstable();
    v
}

fn newest_base(lvm: &LvmState, vg: &str) -> Result<Nvr> {
    let mut all = bases(lvm, vg);
    if all.is_empty() {
        return Err(not_found(
            "base.missing",
            format!("{vg} holds no base; add one with `onn base add IMAGE`"),
        ));
    }
    let mut newest = all.remove(0);
    for b in all {
        if b.compare(&newest)? == std::cmp::Ordering::Greater {
            newest = b;
        }
    }
    Ok(newest)
}

/// Data volumes in a VG, parents first, with their mount points (imgbased's naming reversed).
pub fn existing_volumes(lvm: &LvmState, vg: &str) -> Vec<PlannedVolume> {
    let mut v: Vec<PlannedVolume> = lvm
        .lvs_of(vg)
        .filter(|l| l.has_tag(names::TAG_VOLUME))
        .map(|l| PlannedVolume {
            lv: l.lv_name.clone(),
            mount: format!("/{}", l.lv_name.replace('_', "/").replace("--", "-")),
            size: l.lv_size,
        })
        .collect();
    v.sort_by(|a, b| a.mount.cmp(&b.mount));
    v
}

mod alloc;
#[cfg(test)]
mod tests;
