//! The command line: its commands and option groups, each group declared once, and the
//! engine request each planning command makes of them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use onn_core::plan::VolumeSet;
use onn_core::storage::fs::FsType;
use onn_core::{Action, Bytes, Request};

#[derive(Parser)]
#[command(
    name = "onn",
    version,
    about = "Install oVirt Node images into LVM thin pools, the way imgbased expects"
)]
pub struct Cli {
    /// Log what is run (-v: steps, -vv: every command).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Lay out the disks, write the image as a base, add its first layer and boot entry.
    Install(InstallArgs),
    /// Create (or adopt) only the volume group, thin pool and data volumes.
    Layout(LayoutArgs),
    /// Bases: read-only images.
    Base {
        #[command(subcommand)]
        command: BaseCommand,
    },
    /// Layers: writable snapshots of a base that the host boots.
    Layer {
        #[command(subcommand)]
        command: LayerCommand,
    },
    /// Show bases and their layers (imgbase layout style).
    List(JsonArgs),
    /// Check the layout's health; exit status 1 when a check fails.
    Check(CheckArgs),
    /// Read an image and print what it holds (NVR, filesystem, kernels); writes nothing.
    Image(ImageArgs),
    /// Clean up after an interrupted onn (a crash, a kill): its mounts, a volume group it
    /// created and never finished (whole: the disks are clean again), and bases or layers it
    /// never committed. Refused (busy) while another onn is running.
    Recover(RecoverArgs),
}

#[derive(Subcommand)]
pub enum BaseCommand {
    /// Write an image as a new read-only base.
    Add(BaseAddArgs),
}

#[derive(Subcommand)]
pub enum LayerCommand {
    /// Add the next writable layer on a base (default: the newest) and make it the default boot entry.
    Add(LayerAddArgs),
}

#[derive(Args)]
pub struct Output {
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print JSON (the plan with --dry-run, else the outcome).
    #[arg(long)]
    pub json: bool,
    /// Write progress as JSON lines (protocol version 1) to this file descriptor.
    #[arg(long, value_name = "FD")]
    pub progress_fd: Option<i32>,
    #[command(flatten)]
    pub lock: LockOpts,
}

/// One onn writes at a time (a lock under /run/lock): what a command that writes does when
/// another holds it.
#[derive(Args)]
pub struct LockOpts {
    /// When another onn is running, wait for it to end instead of refusing (busy).
    #[arg(long)]
    pub wait: bool,
}

#[derive(Args)]
pub struct LayoutOpts {
    /// A disk for the volume group (repeat for several).
    #[arg(long = "pv", value_name = "DEVICE")]
    pvs: Vec<String>,
    /// Volume group name.
    #[arg(long, value_name = "NAME")]
    vg: Option<String>,
    /// Thin pool name.
    #[arg(long, default_value = onn_core::plan::DEFAULT_POOL, value_name = "NAME")]
    pool: String,
    /// Data volumes: default (NIST layout), minimal (/var only) or none.
    #[arg(long, default_value = "default", value_name = "SET")]
    volumes: VolumeSet,
    /// Filesystem for data volumes and plain-tree images (a rootfs.img's own type wins).
    #[arg(long, value_name = "ext4|xfs")]
    fs: Option<FsType>,
    /// Pool data size (default: 80 % of the VG after metadata, leaving room to autoextend).
    #[arg(long, value_name = "SIZE")]
    pool_size: Option<Bytes>,
    /// Pool metadata size (at least 1 GiB; default: from the VG size when creating, 1 GiB when adopting).
    #[arg(long, value_name = "SIZE")]
    pool_metadata: Option<Bytes>,
    /// Use an existing VG and thin pool (e.g. made by Anaconda) instead of creating them.
    #[arg(long)]
    adopt: bool,
    /// With --adopt: the installer's root file system is mounted here; adopt its VG and pool.
    #[arg(long, value_name = "DIR", requires = "adopt")]
    root: Option<String>,
}

/// How an http(s):// image is downloaded.
#[derive(Args)]
pub struct FetchOpts {
    /// Download an http(s) image into this directory (it is removed when onn exits). A tmpfs
    /// keeps it in RAM; it must have room for the whole image, which is checked first.
    #[arg(long, value_name = "DIR", default_value = "/var/tmp")]
    pub download_dir: PathBuf,
    /// Proxy for an http(s) image, e.g. http://proxy:3128 (default: ALL_PROXY, HTTPS_PROXY or
    /// HTTP_PROXY from the environment, NO_PROXY honoured).
    #[arg(long, value_name = "URL")]
    pub proxy: Option<String>,
    /// Do not verify the server's TLS certificate: anyone on the network path could then
    /// substitute the image; give --sha256 to still prove it.
    #[arg(long)]
    pub insecure: bool,
}

/// The image a command reads, how it is checked and how it is fetched: the one group of
/// `install`, `base add` and `image`. `S` is where the command takes the image: the first
/// argument ([`ImageArg`]), or `--image` beside `install`'s other options ([`ImageOption`]).
#[derive(Args)]
pub struct ImageOpts<S: Args + Source> {
    #[command(flatten)]
    pub source: S,
    /// Expected SHA-256 of the image (of the RPM, for an RPM), checked before anything is
    /// written.
    #[arg(long, value_name = "HEX")]
    pub sha256: Option<String>,
    /// An OpenPGP public key the image must be signed by (repeat for several): an RPM's own
    /// signature, or a squashfs's detached one. Without one, nothing vouches for the image.
    #[arg(long = "gpg-key", value_name = "FILE|URL")]
    pub gpg_keys: Vec<String>,
    /// The detached signature of a squashfs (default: IMAGE.sig or IMAGE.asc beside it, when a
    /// --gpg-key is given).
    #[arg(long, value_name = "FILE|URL")]
    pub signature: Option<String>,
    /// Refuse an image the host's imgbased could not update (what `onn image` warns of).
    #[arg(long)]
    pub strict: bool,
    #[command(flatten)]
    pub fetch: FetchOpts,
}

/// Where a command takes its image from.
pub trait Source {
    /// The image: a file, or an http(s) URL.
    fn image(&self) -> &str;
}

#[derive(Args)]
pub struct ImageArg {
    /// The Node image: a squashfs or oVirt's image-update RPM, a file or an http(s) URL.
    #[arg(value_name = "IMAGE")]
    image: String,
}

#[derive(Args)]
pub struct ImageOption {
    /// The Node image: a squashfs or oVirt's image-update RPM (ovirt-node-ng-image-update), a
    /// file, or an http:// or https:// URL to download.
    #[arg(long, value_name = "FILE|URL")]
    image: String,
}

impl Source for ImageArg {
    fn image(&self) -> &str {
        &self.image
    }
}

impl Source for ImageOption {
    fn image(&self) -> &str {
        &self.image
    }
}

/// The image options as a command gave them, whichever way it takes the image.
pub struct Image<'a> {
    pub image: &'a str,
    pub sha256: Option<&'a str>,
    pub gpg_keys: &'a [String],
    pub signature: Option<&'a str>,
    pub strict: bool,
    pub fetch: &'a FetchOpts,
}

impl<S: Args + Source> ImageOpts<S> {
    pub fn given(&self) -> Image<'_> {
        Image {
            image: self.source.image(),
            sha256: self.sha256.as_deref(),
            gpg_keys: &self.gpg_keys,
            signature: self.signature.as_deref(),
            strict: self.strict,
            fetch: &self.fetch,
        }
    }
}

/// The size of a new base (`install`, `base add`).
#[derive(Args)]
pub struct BaseSize {
    /// Virtual size of the base and its layers (default: 2x the image's filesystem, at least 10 GiB).
    #[arg(long, value_name = "SIZE")]
    root_size: Option<Bytes>,
}

#[derive(Args)]
pub struct BootOpts {
    /// The /boot partition, or the directory where it is mounted.
    #[arg(long, value_name = "DEVICE|DIR")]
    boot: String,
    /// An extra kernel argument for the boot entry (repeat for several).
    #[arg(long = "kernel-arg", value_name = "ARG")]
    kernel_args: Vec<String>,
}

#[derive(Args)]
pub struct InstallArgs {
    #[command(flatten)]
    pub image: ImageOpts<ImageOption>,
    #[command(flatten)]
    size: BaseSize,
    #[command(flatten)]
    layout: LayoutOpts,
    #[command(flatten)]
    boot: BootOpts,
    /// The EFI system partition, or the directory where it is mounted: it gets the image's
    /// EFI boot files (/boot/efi/EFI: shim, GRUB, the BOOT fallback). For UEFI machines.
    #[arg(long, value_name = "DEVICE|DIR")]
    efi: Option<String>,
    /// Reinstall: remove the imgbased Node found on the disks given first (refused when its
    /// volume group extends onto a disk not given, holds a volume that is not imgbased's, or
    /// a volume holds an oVirt local storage domain). --dry-run lists what would be removed.
    #[arg(long)]
    wipe: bool,
    #[command(flatten)]
    pub out: Output,
}

#[derive(Args)]
pub struct LayoutArgs {
    #[command(flatten)]
    layout: LayoutOpts,
    #[command(flatten)]
    pub out: Output,
}

#[derive(Args)]
pub struct BaseAddArgs {
    #[command(flatten)]
    pub image: ImageOpts<ImageArg>,
    #[command(flatten)]
    size: BaseSize,
    /// The imgbased volume group (default: the one carrying imgbased:vg).
    #[arg(long, value_name = "NAME")]
    vg: Option<String>,
    #[command(flatten)]
    pub out: Output,
}

#[derive(Args)]
pub struct LayerAddArgs {
    /// The base (NVR); default: the newest.
    #[arg(value_name = "BASE")]
    base: Option<String>,
    #[arg(long, value_name = "NAME")]
    vg: Option<String>,
    #[command(flatten)]
    boot: BootOpts,
    #[command(flatten)]
    pub out: Output,
}

#[derive(Args)]
pub struct JsonArgs {
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct RecoverArgs {
    /// The /boot partition or its mount point: the boot files of the layers removed go too.
    #[arg(long, value_name = "DEVICE|DIR")]
    pub boot: Option<String>,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub lock: LockOpts,
}

#[derive(Args)]
pub struct CheckArgs {
    /// Where /boot is mounted.
    #[arg(long, default_value = "/boot", value_name = "DIR")]
    pub boot: PathBuf,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
#[command(mut_arg("strict", |a| a.help("Fail (exit 2) when the host's imgbased could not update the image")))]
pub struct ImageArgs {
    #[command(flatten)]
    pub image: ImageOpts<ImageArg>,
    #[arg(long)]
    pub json: bool,
}

impl LayoutOpts {
    fn request(self, action: Action) -> Request {
        Request {
            pvs: self.pvs,
            vg: self.vg,
            pool: self.pool,
            volumes: self.volumes,
            fs: self.fs,
            pool_size: self.pool_size,
            pool_metadata: self.pool_metadata,
            adopt: self.adopt,
            root: self.root,
            ..Request::new(action)
        }
    }
}

impl InstallArgs {
    /// The request, but for the image (`ImageOpts`, fetched first).
    pub fn request(self) -> (Request, ImageOpts<ImageOption>, Output) {
        let req = Request {
            root_size: self.size.root_size,
            boot: Some(self.boot.boot),
            kernel_args: self.boot.kernel_args,
            efi: self.efi,
            wipe: self.wipe,
            ..self.layout.request(Action::Install)
        };
        (req, self.image, self.out)
    }
}

impl LayoutArgs {
    pub fn request(self) -> (Request, Output) {
        (self.layout.request(Action::Layout), self.out)
    }
}

impl BaseAddArgs {
    /// The request, but for the image (`ImageOpts`, fetched first).
    pub fn request(self) -> (Request, ImageOpts<ImageArg>, Output) {
        let req = Request {
            root_size: self.size.root_size,
            vg: self.vg,
            ..Request::new(Action::AddBase)
        };
        (req, self.image, self.out)
    }
}

impl LayerAddArgs {
    pub fn request(self) -> (Request, Output) {
        let req = Request {
            base: self.base,
            vg: self.vg,
            boot: Some(self.boot.boot),
            kernel_args: self.boot.kernel_args,
            ..Request::new(Action::AddLayer)
        };
        (req, self.out)
    }
}
