//! `onn`: the command line of the oVirt Node Next installer. Arguments and output only; all
//! decisions are in onn-core. The commands and their options are `args.rs`, what they print
//! `render.rs`, the progress bar and `--progress-fd` `progress.rs`.

mod args;
mod progress;
mod render;

use std::io::Write;
use std::process::ExitCode;
use std::sync::OnceLock;

use anyhow::Result;
use clap::Parser;
use onn_core::ground::error;
use onn_core::ground::lock::{self, Lock};
use onn_core::ground::runner::SystemRunner;
use onn_core::image::fetch::{self, DownloadDir, FetchOptions};
use onn_core::image::source::{self, Given, Obtained};
use onn_core::storage::lvm::LvmState;
use onn_core::{apply, image, report, CancelToken, Event, Request};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

use args::{
    BaseCommand, CheckArgs, Cli, Command, Image, ImageArgs, JsonArgs, LayerCommand, LockOpts,
    Output, RecoverArgs,
};
use progress::Reporter;

/// The image as a local, verified squashfs: the path given, a download, or the image out of
/// an RPM, each lasting as long as this value (with its digest, so that opening it does not
/// hash it again), and who signed it.
struct LocalImage {
    obtained: Obtained,
    _download: Option<DownloadDir>,
}

impl LocalImage {
    fn get(o: &Image, reporter: &mut Reporter) -> Result<LocalImage> {
        let given = Given {
            image: o.image.to_owned(),
            sha256: o.sha256.map(str::to_owned),
            keys: o.gpg_keys.to_vec(),
            signature: o.signature.map(str::to_owned),
            fetch: FetchOptions {
                proxy: o.fetch.proxy.clone(),
                verify_tls: !o.fetch.insecure,
                ..FetchOptions::default()
            },
        };
        let dir = given
            .needs_dir()
            .then(|| DownloadDir::new(&o.fetch.download_dir))
            .transpose()?;
        let here = std::path::Path::new(".");
        let obtained = source::obtain(
            &given,
            dir.as_ref().map_or(here, |d| d.path()),
            &mut |e| reporter.event(e),
            interrupted(),
        )?;
        Ok(LocalImage {
            obtained,
            _download: dir,
        })
    }

    /// The request with this image, as the options gave and checked it.
    fn request(&self, req: Request, o: &Image) -> Request {
        Request {
            image: Some(self.obtained.path.to_string_lossy().into_owned()),
            // A download or an RPM: the report names what was given.
            source: (self.obtained.path != std::path::Path::new(o.image))
                .then(|| fetch::redact(o.image)),
            sha256: self.obtained.sha256.clone(),
            known: onn_core::image::Known {
                digest: self.obtained.digest.clone(),
                read: None,
            },
            provenance: self.obtained.provenance.clone(),
            strict: o.strict,
            ..req
        }
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
            let (req, image, out) = a.request();
            execute(&runner, req, Some(image.given()), &out)
        }
        Command::Layout(a) => {
            let (req, out) = a.request();
            execute(&runner, req, None, &out)
        }
        Command::Base {
            command: BaseCommand::Add(a),
        } => {
            let (req, image, out) = a.request();
            execute(&runner, req, Some(image.given()), &out)
        }
        Command::Layer {
            command: LayerCommand::Add(a),
        } => {
            let (req, out) = a.request();
            execute(&runner, req, None, &out)
        }
        Command::List(a) => list(&runner, &a),
        Command::Check(a) => check(&runner, &a),
        Command::Recover(a) => recover(&runner, &a),
        Command::Image(a) => read_image(&runner, &a),
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

/// The lock that lets one onn write at a time, taken for this command line (its URLs without
/// their credentials, as the next onn shows it): refused at once (busy) while another onn holds
/// it, or, with `--wait`, taken when that one ends.
fn take_lock(opts: &LockOpts) -> Result<Lock> {
    let argv: Vec<String> = std::env::args().map(|a| fetch::redact(&a)).collect();
    let wait = opts.wait.then(interrupted);
    lock::acquire(&argv.join(" "), wait, &mut |holder| {
        let _ = writeln!(
            std::io::stderr(),
            "onn: waiting for another onn to end ({})",
            holder.describe()
        );
    })
}

/// Plan a request (with its image, fetched first when it is a URL), print the plan with
/// `--dry-run`, else apply it and print what was done. What writes holds the lock from before
/// the download to the end; a dry run writes nothing and takes none.
fn execute(
    runner: &SystemRunner,
    req: Request,
    image: Option<Image>,
    out: &Output,
) -> Result<ExitCode> {
    let lock = (!out.dry_run).then(|| take_lock(&out.lock)).transpose()?;
    let mut reporter = Reporter::new(out.progress_fd)?;
    // Kept until the run ends: a downloaded image is removed with it.
    let local = image
        .as_ref()
        .map(|o| LocalImage::get(o, &mut reporter))
        .transpose()?;
    let req = match (&local, &image) {
        (Some(l), Some(o)) => l.request(req, o),
        _ => req,
    };
    interrupted();
    let prepared = apply::prepare(runner, &req)?;
    let Some(lock) = &lock else {
        render::json_or(out.json, &prepared.plan, render::plan)?;
        return Ok(ExitCode::SUCCESS);
    };
    let mut progress = |e: &Event| reporter.event(e);
    let outcome = prepared.apply(lock, &mut progress, interrupted())?;
    // --json: the install report where the run made one (install, layer add), else what the
    // run did.
    match (&outcome.report, out.json) {
        (Some(report), true) => render::json(report)?,
        _ => render::json_or(out.json, &outcome, render::outcome)?,
    }
    if let (false, Some(l)) = (out.json, &local) {
        render::provenance(&l.obtained.provenance);
    }
    Ok(ExitCode::SUCCESS)
}

fn list(runner: &SystemRunner, a: &JsonArgs) -> Result<ExitCode> {
    let r = report::layout(&LvmState::read(runner)?)?;
    render::json_or(a.json, &r, render::layout)?;
    Ok(ExitCode::SUCCESS)
}

/// Exit status 1 when a check fails.
fn check(runner: &SystemRunner, a: &CheckArgs) -> Result<ExitCode> {
    let items = report::check(runner, &LvmState::read(runner)?, &a.boot);
    let ok = items.iter().all(|i| i.ok);
    if a.json {
        render::checks_json(&items, ok)?;
    } else {
        render::checks(&items);
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn recover(runner: &SystemRunner, a: &RecoverArgs) -> Result<ExitCode> {
    // While another onn runs, what it has not finished yet looks just like what a killed one
    // left: the lock tells them apart.
    let lock = take_lock(&a.lock)?;
    let r = onn_core::recover(runner, &lock, a.boot.as_deref())?;
    render::json_or(a.json, &r, render::recovered)?;
    Ok(ExitCode::SUCCESS)
}

/// `onn image`: what the image holds and who signed it; with `--strict`, a refusal when the
/// host's imgbased could not update it (after it was shown). Writes nothing but, for a
/// download or an RPM, the image in a private directory removed on exit.
fn read_image(runner: &SystemRunner, a: &ImageArgs) -> Result<ExitCode> {
    let local = LocalImage::get(&a.image.given(), &mut Reporter::new(None)?)?;
    let o = &local.obtained;
    let img = image::OpenImage::open(runner, &o.path, o.sha256.as_deref(), o.digest.as_ref())?;
    let facts = image::ImageFacts {
        provenance: o.provenance.clone(),
        ..img.facts.clone()
    };
    img.close()?;
    if a.json {
        render::json(&facts)?;
    } else {
        render::image(&facts)?;
    }
    onn_core::image::updatable::refuse_if_strict(&facts.warnings, a.image.strict)?;
    Ok(ExitCode::SUCCESS)
}
