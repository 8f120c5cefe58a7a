//! `onn`: the command line of the oVirt Node Next installer. Arguments and output only; all
//! decisions are in onn-core.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::OnceLock;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use onn_core::ground::error;
use onn_core::ground::runner::SystemRunner;
use onn_core::image::digest::FileDigest;
use onn_core::image::fetch::{self, DownloadDir, FetchOptions};
use onn_core::plan::VolumeSet;
use onn_core::storage::fs::FsType;
use onn_core::storage::lvm::LvmState;
use onn_core::{apply, image, report, Action, Bytes, CancelToken, Event, Request};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

#[derive(Parser)]
#[command(
    name = "onn",
    version,
    about = "Install oVirt Node images into LVM thin pools, the way imgbased expects"
)]
struct Cli {
    /// Log what is run (-v: steps, -vv: every command).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
    /// never committed. Run it when no other onn is running.
    Recover(RecoverArgs),
}

#[derive(Subcommand)]
enum BaseCommand {
    /// Write an image as a new read-only base.
    Add(BaseAddArgs),
}

#[derive(Subcommand)]
enum LayerCommand {
    /// Add the next writable layer on a base (default: the newest) and make it the default boot entry.
    Add(LayerAddArgs),
}

#[derive(Args)]
struct Output {
    /// Print the plan and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print JSON (the plan with --dry-run, else the outcome).
    #[arg(long)]
    json: bool,
    /// Write progress as JSON lines (protocol version 1) to this file descriptor.
    #[arg(long, value_name = "FD")]
    progress_fd: Option<i32>,
}

#[derive(Args)]
struct LayoutOpts {
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
struct FetchOpts {
    /// Download an http(s) image into this directory (it is removed when onn exits). A tmpfs
    /// keeps it in RAM; it must have room for the whole image, which is checked first.
    #[arg(long, value_name = "DIR", default_value = "/var/tmp")]
    download_dir: PathBuf,
    /// Proxy for an http(s) image, e.g. http://proxy:3128 (default: ALL_PROXY, HTTPS_PROXY or
    /// HTTP_PROXY from the environment, NO_PROXY honoured).
    #[arg(long, value_name = "URL")]
    proxy: Option<String>,
    /// Do not verify the server's TLS certificate: anyone on the network path could then
    /// substitute the image; give --sha256 to still prove it.
    #[arg(long)]
    insecure: bool,
}

#[derive(Args)]
struct ImageOpts {
    /// The Node image (squashfs): a file, or an http:// or https:// URL to download.
    #[arg(long, value_name = "FILE|URL")]
    image: String,
    /// Expected SHA-256 of the image, checked before anything is written.
    #[arg(long, value_name = "HEX")]
    sha256: Option<String>,
    /// Virtual size of the base and its layers (default: 2x the image's filesystem, at least 10 GiB).
    #[arg(long, value_name = "SIZE")]
    root_size: Option<Bytes>,
    /// Refuse an image the host's imgbased could not update (what `onn image` warns of).
    #[arg(long)]
    strict: bool,
    #[command(flatten)]
    fetch: FetchOpts,
}

#[derive(Args)]
struct BootOpts {
    /// The /boot partition, or the directory where it is mounted.
    #[arg(long, value_name = "DEVICE|DIR")]
    boot: String,
    /// An extra kernel argument for the boot entry (repeat for several).
    #[arg(long = "kernel-arg", value_name = "ARG")]
    kernel_args: Vec<String>,
}

#[derive(Args)]
struct InstallArgs {
    #[command(flatten)]
    image: ImageOpts,
    #[command(flatten)]
    layout: LayoutOpts,
    #[command(flatten)]
    boot: BootOpts,
    /// The EFI system partition, or the directory where it is mounted: it gets the image's
    /// EFI boot files (/boot/efi/EFI: shim, GRUB, the BOOT fallback). For UEFI machines.
    #[arg(long, value_name = "DEVICE|DIR")]
    efi: Option<String>,
    #[command(flatten)]
    out: Output,
}

#[derive(Args)]
struct LayoutArgs {
    #[command(flatten)]
    layout: LayoutOpts,
    #[command(flatten)]
    out: Output,
}

#[derive(Args)]
struct BaseAddArgs {
    /// The Node image (squashfs): a file or an http(s) URL.
    #[arg(value_name = "IMAGE")]
    image: String,
    #[arg(long, value_name = "HEX")]
    sha256: Option<String>,
    #[command(flatten)]
    fetch: FetchOpts,
    #[arg(long, value_name = "SIZE")]
    root_size: Option<Bytes>,
    /// Refuse an image the host's imgbased could not update (what `onn image` warns of).
    #[arg(long)]
    strict: bool,
    /// The imgbased volume group (default: the one carrying imgbased:vg).
    #[arg(long, value_name = "NAME")]
    vg: Option<String>,
    #[command(flatten)]
    out: Output,
}

#[derive(Args)]
struct LayerAddArgs {
    /// The base (NVR); default: the newest.
    #[arg(value_name = "BASE")]
    base: Option<String>,
    #[arg(long, value_name = "NAME")]
    vg: Option<String>,
    #[command(flatten)]
    boot: BootOpts,
    #[command(flatten)]
    out: Output,
}

#[derive(Args)]
struct JsonArgs {
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct RecoverArgs {
    /// The /boot partition or its mount point: the boot files of the layers removed go too.
    #[arg(long, value_name = "DEVICE|DIR")]
    boot: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct CheckArgs {
    /// Where /boot is mounted.
    #[arg(long, default_value = "/boot", value_name = "DIR")]
    boot: PathBuf,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct ImageArgs {
    /// The Node image (squashfs): a file or an http(s) URL.
    #[arg(value_name = "IMAGE")]
    image: String,
    #[arg(long, value_name = "HEX")]
    sha256: Option<String>,
    #[command(flatten)]
    fetch: FetchOpts,
    #[arg(long)]
    json: bool,
    /// Fail (exit 2) when the host's imgbased could not update the image.
    #[arg(long)]
    strict: bool,
}

fn layout_request(action: Action, o: LayoutOpts) -> Request {
    Request {
        pvs: o.pvs,
        vg: o.vg,
        pool: o.pool,
        volumes: o.volumes,
        fs: o.fs,
        pool_size: o.pool_size,
        pool_metadata: o.pool_metadata,
        adopt: o.adopt,
        root: o.root,
        ..Request::new(action)
    }
}

/// The image as a local file: the path given, or a download that lasts as long as this value
/// (with its digest, so that opening it does not hash it again).
struct LocalImage {
    path: PathBuf,
    digest: Option<FileDigest>,
    _download: Option<DownloadDir>,
}

impl LocalImage {
    fn get(
        image: &str,
        sha256: Option<&str>,
        o: &FetchOpts,
        reporter: &mut Reporter,
    ) -> Result<LocalImage> {
        if !fetch::is_url(image) {
            return Ok(LocalImage {
                path: image.into(),
                digest: None,
                _download: None,
            });
        }
        let dir = DownloadDir::new(&o.download_dir)?;
        let opts = FetchOptions {
            sha256: sha256.map(str::to_owned),
            proxy: o.proxy.clone(),
            verify_tls: !o.insecure,
            ..FetchOptions::default()
        };
        let fetched = fetch::fetch(
            image,
            dir.path(),
            &opts,
            &mut |e| reporter.event(e),
            interrupted(),
        )?;
        Ok(LocalImage {
            path: fetched.path,
            digest: fetched.digest,
            _download: Some(dir),
        })
    }

    fn path_string(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }
}

/// stderr for log lines, ignoring write errors: when whoever reads our stderr goes away
/// mid-install, the install must still finish or undo itself, not panic with mounts and
/// half-made LVs left behind.
struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ONN_LOG").unwrap_or_else(|_| level.into()),
        )
        .with_writer(|| LogWriter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .init();
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            // The id is stable: README.md "When things go wrong" explains each one.
            let _ = writeln!(
                std::io::stderr(),
                "onn: error ({}): {e:#}",
                error::id_of(&e)
            );
            ExitCode::from(error::kind_of(&e).exit_code() as u8)
        }
    }
}

fn run(command: Command) -> Result<ExitCode> {
    let runner = SystemRunner;
    match command {
        Command::Install(a) => {
            let mut reporter = Reporter::new(a.out.progress_fd)?;
            let image = LocalImage::get(
                &a.image.image,
                a.image.sha256.as_deref(),
                &a.image.fetch,
                &mut reporter,
            )?;
            let req = Request {
                image: Some(image.path_string()),
                sha256: a.image.sha256,
                downloaded: image.digest.clone(),
                root_size: a.image.root_size,
                strict: a.image.strict,
                boot: Some(a.boot.boot),
                kernel_args: a.boot.kernel_args,
                efi: a.efi,
                ..layout_request(Action::Install, a.layout)
            };
            execute(&runner, &req, &a.out, &mut reporter)
        }
        Command::Layout(a) => execute(
            &runner,
            &layout_request(Action::Layout, a.layout),
            &a.out,
            &mut Reporter::new(a.out.progress_fd)?,
        ),
        Command::Base {
            command: BaseCommand::Add(a),
        } => {
            let mut reporter = Reporter::new(a.out.progress_fd)?;
            let image = LocalImage::get(&a.image, a.sha256.as_deref(), &a.fetch, &mut reporter)?;
            let req = Request {
                image: Some(image.path_string()),
                sha256: a.sha256,
                downloaded: image.digest.clone(),
                root_size: a.root_size,
                strict: a.strict,
                vg: a.vg,
                ..Request::new(Action::AddBase)
            };
            execute(&runner, &req, &a.out, &mut reporter)
        }
        Command::Layer {
            command: LayerCommand::Add(a),
        } => {
            let req = Request {
                base: a.base,
                vg: a.vg,
                boot: Some(a.boot.boot),
                kernel_args: a.boot.kernel_args,
                ..Request::new(Action::AddLayer)
            };
            execute(
                &runner,
                &req,
                &a.out,
                &mut Reporter::new(a.out.progress_fd)?,
            )
        }
        Command::List(a) => {
            let r = report::layout(&LvmState::read(&runner)?)?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                print!("{}", report::render_layout(&r));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Check(a) => {
            let items = report::check(&runner, &LvmState::read(&runner)?, &a.boot);
            let ok = items.iter().all(|i| i.ok);
            if a.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({"ok": ok, "checks": items}))?
                );
            } else {
                for i in &items {
                    println!(
                        "{:<6} {:<16} {}",
                        if i.ok { "ok" } else { "FAILED" },
                        i.id,
                        i.message
                    );
                }
            }
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Recover(a) => {
            let r = onn_core::recover(&runner, a.boot.as_deref())?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                for m in &r.unmounted {
                    println!("Unmounted:  {m} (left mounted by an interrupted onn)");
                }
                for vg in &r.removed_vgs {
                    println!("Removed:    volume group {vg} and its disks' LVM labels (an unfinished install)");
                }
                for lv in &r.removed_lvs {
                    println!("Removed:    {lv} (an unfinished base or layer)");
                }
                for f in &r.removed_boot_files {
                    println!("Removed:    {f} (boot files of a removed layer)");
                }
                if r == onn_core::Recovered::default() {
                    println!("Nothing to recover: no interrupted onn left anything behind.");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Image(a) => {
            let local = LocalImage::get(
                &a.image,
                a.sha256.as_deref(),
                &a.fetch,
                &mut Reporter::new(None)?,
            )?;
            let img = image::OpenImage::open(
                &runner,
                &local.path,
                a.sha256.as_deref(),
                local.digest.as_ref(),
            )?;
            let facts = img.facts.clone();
            img.close()?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&facts)?);
            } else {
                println!("image:   {}", facts.path);
                println!("nvr:     {}", facts.nvr);
                println!(
                    "layout:  {}",
                    serde_json::to_value(facts.layout)?.as_str().unwrap_or("?")
                );
                println!(
                    "fs:      {}",
                    facts.fs.map_or("(made at install)", |f| f.name())
                );
                println!("size:    {} (filesystem {})", facts.size, facts.rootfs_size);
                for k in &facts.kernels {
                    println!("kernel:  {}", k.version);
                }
                if facts.efi_files.is_empty() {
                    println!("efi:     none (BIOS only)");
                } else {
                    let total: Bytes = facts.efi_files.iter().map(|f| f.size).sum();
                    println!("efi:     {} files, {total}", facts.efi_files.len());
                }
                if let Some(s) = &facts.sha256 {
                    println!("sha256:  {s} (verified)");
                }
                for w in &facts.warnings {
                    println!("warning: {} ({})", w.message, w.id);
                }
            }
            onn_core::image::updatable::refuse_if_strict(&facts.warnings, a.strict)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The run's cancel token, set by SIGINT, SIGTERM or SIGHUP: the engine stops between steps or
/// during the copy and undoes what it made, and a download removes its file. A second signal
/// ends onn at once (exit 130), as a second Ctrl-C does elsewhere.
fn interrupted() -> &'static CancelToken {
    static TOKEN: OnceLock<CancelToken> = OnceLock::new();
    TOKEN.get_or_init(|| {
        let token = CancelToken::new();
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            // The shutdown handler runs first: it sees only the flag an earlier signal set.
            let _ = signal_hook::flag::register_conditional_shutdown(sig, 130, token.flag());
            let _ = signal_hook::flag::register(sig, token.flag());
        }
        token
    })
}

fn execute(
    runner: &SystemRunner,
    req: &Request,
    out: &Output,
    reporter: &mut Reporter,
) -> Result<ExitCode> {
    interrupted();
    let prepared = apply::prepare(runner, req)?;
    if out.dry_run {
        if out.json {
            println!("{}", serde_json::to_string_pretty(&prepared.plan)?);
        } else {
            print_plan(&prepared.plan);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut progress = |e: &Event| reporter.event(e);
    let outcome = prepared.apply(&mut progress, interrupted())?;
    if out.json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
    } else {
        if outcome.created.is_empty() && outcome.boot_entry.is_none() {
            println!("Nothing to do: everything asked for is already present.");
        }
        if let Some(l) = &outcome.layer {
            println!("Layer:      {}/{l}", outcome.vg);
        }
        if !outcome.efi_files.is_empty() {
            println!("EFI files:  {}", outcome.efi_files.join(", "));
        }
        if let Some(b) = &outcome.boot_entry {
            println!("Boot entry: {b} (default)");
        }
        if let Some(c) = &outcome.copy {
            println!(
                "Copied:     {} ({} written, {} of zeros skipped)",
                c.size, c.written, c.skipped_zero
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Progress for the user: a bar redrawn in place when stderr is a terminal, a line per event
/// otherwise (a log, a pipe); and the JSON lines of `--progress-fd`, whatever stderr is.
struct Reporter {
    file: Option<std::fs::File>,
    bar: Option<indicatif::ProgressBar>,
    /// The step the bar shows (a finished one stays above it as a line).
    shown: Option<(usize, &'static str)>,
}

impl Reporter {
    fn new(progress_fd: Option<i32>) -> Result<Reporter> {
        use std::io::IsTerminal;
        let bar = std::io::stderr().is_terminal().then(|| {
            indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr())
        });
        Ok(Reporter {
            file: progress_fd.map(progress_writer).transpose()?,
            bar,
            shown: None,
        })
    }

    fn event(&mut self, e: &Event) -> Result<()> {
        if let Some(f) = self.file.as_mut() {
            f.write_all(e.to_json_line().as_bytes())?;
            f.flush()?;
        }
        // A download comes before the plan's steps: it has no step number.
        let step = if e.total > 0 {
            format!("[{}/{}] ", e.index, e.total)
        } else {
            String::new()
        };
        let Some(bar) = &self.bar else {
            let mut err = std::io::stderr().lock();
            if let Some(pct) = (e.done * 100).checked_div(e.size) {
                let _ = writeln!(err, "{step}{} ({pct} %)", e.message);
            } else {
                let _ = writeln!(err, "{step}{}", e.message);
            }
            return Ok(());
        };
        if self.shown.is_some_and(|s| s != (e.index, e.step)) {
            keep_line(bar);
        }
        self.shown = Some((e.index, e.step));
        // A bar for what has a size (the copy, a download); the step's text alone otherwise.
        let template = if e.size > 0 {
            "{prefix}{msg} {wide_bar} {percent:>3} %"
        } else {
            "{prefix}{msg}"
        };
        bar.set_style(
            indicatif::ProgressStyle::with_template(template).expect("a valid progress template"),
        );
        bar.set_prefix(step);
        bar.set_message(e.message.clone());
        bar.set_length(e.size.max(1));
        bar.set_position(if e.size == 0 { 0 } else { e.done });
        Ok(())
    }
}

/// What the bar showed of a finished step, as a line of its own above it.
fn keep_line(bar: &indicatif::ProgressBar) {
    // Read before `suspend`: it holds the bar's state, which prefix() and message() lock too.
    let line = format!("{}{}", bar.prefix(), bar.message());
    bar.suspend(|| eprintln!("{line}"));
}

impl Drop for Reporter {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            if self.shown.is_some() {
                keep_line(bar);
            }
            bar.finish_and_clear();
        }
    }
}

/// The caller's descriptor for progress lines (e.g. a pipe the addon reads).
fn progress_writer(fd: i32) -> Result<std::fs::File> {
    use std::os::fd::{FromRawFd, OwnedFd};
    // Refuse descriptors that are not open rather than write into a random file later.
    nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD)
        .map_err(|e| anyhow::anyhow!("--progress-fd {fd} is not an open file descriptor ({e})"))?;
    // SAFETY: the descriptor is open and handed to us by the caller for this purpose only.
    Ok(std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

fn print_plan(p: &onn_core::Plan) {
    println!("Volume group: {} on {}", p.vg, p.pvs.join(", "));
    println!(
        "Thin pool:    {}/{} ({}, metadata {}), about {} free when done",
        p.vg, p.pool, p.pool_size, p.pool_metadata, p.pool_free_after
    );
    for v in &p.volumes {
        println!("Data volume:  {:<16} {:<8} {}", v.mount, v.lv, v.size);
    }
    if let Some(b) = &p.base {
        println!(
            "Base:         {b}{}",
            p.base_size.map_or(String::new(), |s| format!(" ({s})"))
        );
    }
    if let Some(l) = &p.layer {
        println!(
            "Layer:        {l}{}",
            p.kernel
                .as_ref()
                .map_or(String::new(), |k| format!(" (kernel {k})"))
        );
    }
    for what in &p.present {
        println!("Present:      {what}");
    }
    println!("Steps:");
    for (i, s) in p.steps.iter().enumerate() {
        println!("  {}. {}", i + 1, s.describe());
    }
}
