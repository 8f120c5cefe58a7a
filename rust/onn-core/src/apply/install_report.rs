//! The install report: one versioned JSON document for each install and layer add, which a
//! provisioning system (Foreman's `built` call) or an operator reads. Its schema is
//! `docs/install-report.schema.json`; a copy stays in the layer, in `/var/log/onn/`.

use std::path::Path;
use std::time::SystemTime;

use crate::image::copy::CopyStats;
use crate::image::signature::Signer;
use crate::image::updatable::Warning;
use crate::plan::{Action, Plan, PlannedVolume, REPORT_DIR};
use crate::storage::blockdev;

/// What the document is, for a reader that finds it out of context.
pub const KIND: &str = "onn-install-report";
/// The report's format version: a field removed or changed in meaning makes a new one.
pub const VERSION: u32 = 1;

/// One install's (or layer add's) report.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct InstallReport {
    pub report: &'static str,
    pub version: u32,
    /// onn's own version.
    pub onn: &'static str,
    pub action: Action,
    /// When the run started and when its report was made (UTC, RFC 3339), and the seconds
    /// between.
    pub started: String,
    pub finished: String,
    pub seconds: f64,
    /// "success": a run that fails makes no report (its error and exit status say why, and
    /// what it made is undone).
    pub outcome: &'static str,
    /// The image written (None for a layer add).
    pub image: Option<ReportImage>,
    pub disks: Vec<ReportDisk>,
    pub vg: String,
    pub pool: String,
    pub base: Option<String>,
    pub layer: Option<String>,
    pub volumes: Vec<PlannedVolume>,
    /// The /boot partition.
    pub boot: Option<ReportBoot>,
    /// The BLS entry, relative to the /boot filesystem, and the kernel it boots.
    pub boot_entry: Option<String>,
    pub kernel: Option<String>,
    /// The install's own kernel arguments (`--kernel-arg`), and the entry's whole options
    /// line (the image's, these, then imgbased's own).
    pub kernel_args: Vec<String>,
    pub boot_options: Option<String>,
    pub efi_files: Vec<String>,
    /// The SELinux policy that labelled what onn wrote (None: the layer has none).
    pub selinux: Option<String>,
    /// The volume groups of Nodes this run removed first (`--wipe`), what it made, and what
    /// it found already there.
    pub removed: Vec<String>,
    pub created: Vec<String>,
    pub present: Vec<String>,
    pub copy: Option<CopyStats>,
    pub warnings: Vec<Warning>,
    /// Each step of the plan that ran before the report was made, with its duration.
    pub steps: Vec<StepTime>,
    /// Where the copy in the layer is, as the host sees it.
    pub file: String,
}

/// The image, as it was verified and read.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ReportImage {
    /// What was given: a path, or the URL it was downloaded from (without credentials).
    pub source: String,
    /// The file that was read (a download's local copy).
    pub path: String,
    pub nvr: String,
    /// Its SHA-256 where known: checked against `--sha256` (`verified`), or computed while
    /// it was downloaded; None for a local file given without a checksum (not read twice).
    pub sha256: Option<String>,
    pub verified: bool,
    pub size: u64,
    /// The verified signer (None: no key was given), and the image-update RPM it came out of.
    pub signer: Option<Signer>,
    pub package: Option<String>,
}

/// A disk of the volume group.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ReportDisk {
    pub device: String,
    /// Its names under /dev/disk/by-id (stable across boots and controllers), where udev
    /// made any.
    pub by_id: Vec<String>,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ReportBoot {
    pub device: String,
    pub uuid: String,
}

/// A plan step that ran, and how long it took.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StepTime {
    pub step: &'static str,
    pub description: String,
    pub seconds: f64,
}

/// What an apply knows of its run when it makes the report.
pub(super) struct Run<'a> {
    pub plan: &'a Plan,
    pub outcome: &'a super::Outcome,
    pub started: SystemTime,
    /// The image's SHA-256 from its download, when this process downloaded it.
    pub downloaded_sha256: Option<String>,
}

impl InstallReport {
    pub(super) fn of(run: &Run<'_>, file: String) -> InstallReport {
        let Run {
            plan, outcome: o, ..
        } = run;
        let finished = SystemTime::now();
        let image = plan.image.as_ref().map(|i| ReportImage {
            source: plan
                .request
                .source
                .clone()
                .unwrap_or_else(|| i.path.clone()),
            path: i.path.clone(),
            nvr: i.nvr.to_string(),
            sha256: i.sha256.clone().or(run.downloaded_sha256.clone()),
            verified: i.sha256.is_some(),
            size: i.size.0,
            signer: i.provenance.signer.clone(),
            package: i.provenance.package.clone(),
        });
        InstallReport {
            report: KIND,
            version: VERSION,
            onn: env!("CARGO_PKG_VERSION"),
            action: plan.request.action,
            started: rfc3339(run.started),
            finished: rfc3339(finished),
            seconds: finished
                .duration_since(run.started)
                .unwrap_or_default()
                .as_secs_f64(),
            outcome: "success",
            image,
            disks: plan.pvs.iter().map(|d| disk(d)).collect(),
            vg: plan.vg.clone(),
            pool: plan.pool.clone(),
            base: o.base.clone(),
            layer: o.layer.clone(),
            volumes: plan
                .steps
                .iter()
                .find_map(|s| match s {
                    crate::plan::Step::ConfigureLayer { volumes, .. } => Some(volumes.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| plan.volumes.clone()),
            boot: plan.boot.as_ref().map(|b| ReportBoot {
                device: b.device.clone(),
                uuid: b.uuid.clone(),
            }),
            boot_entry: o.boot_entry.clone(),
            kernel: o.kernel.clone(),
            kernel_args: plan.request.kernel_args.clone(),
            boot_options: o.boot_options.clone(),
            efi_files: o.efi_files.clone(),
            selinux: o.selinux.clone(),
            removed: o.removed.clone(),
            created: o.created.clone(),
            present: o.present.clone(),
            copy: o.copy,
            warnings: plan
                .image
                .as_ref()
                .map(|i| i.warnings.clone())
                .unwrap_or_default()
                .into_iter()
                .chain(o.warnings.iter().cloned())
                .collect(),
            steps: o.steps.clone(),
            file,
        }
    }
}

/// The report's file name in [`REPORT_DIR`]: when the run started, then the layer (sorted by
/// time, as a log is read).
pub(super) fn file_name(started: SystemTime, layer: &str) -> String {
    let stamp: String = rfc3339(started)
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect();
    format!("{stamp}-{layer}.json")
}

/// The host's path of a report file.
pub(super) fn host_path(name: &str) -> String {
    format!("{REPORT_DIR}/{name}")
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// A disk: its size, and its names in /dev/disk/by-id.
fn disk(device: &str) -> ReportDisk {
    let canonical = std::fs::canonicalize(device).ok();
    let mut by_id: Vec<String> = std::fs::read_dir("/dev/disk/by-id")
        .map(|it| {
            it.flatten()
                .map(|e| e.path())
                .filter(|p| canonical.is_some() && std::fs::canonicalize(p).ok() == canonical)
                .map(|p| p.display().to_string())
                .collect()
        })
        .unwrap_or_default();
    by_id.sort();
    ReportDisk {
        device: device.to_string(),
        by_id,
        size: blockdev::size_of(Path::new(device)).map_or(0, |b| b.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn the_file_is_named_by_its_start_and_its_layer() {
        let t = UNIX_EPOCH + Duration::from_secs(1_777_000_000);
        assert_eq!(rfc3339(t), "2026-04-24T03:06:40Z");
        assert_eq!(
            file_name(t, "onn-node-1.0-1+1"),
            "20260424T030640Z-onn-node-1.0-1+1.json"
        );
        assert_eq!(
            host_path("x.json"),
            "/var/log/onn/x.json",
            "the host's view of the report"
        );
    }
}
