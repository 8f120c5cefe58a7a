//! Inspect → plan → **apply**. Steps run in order; each one that creates something records how
//! to undo it. On failure the first error is logged, then the journal is undone in reverse; a
//! failing undo is reported together with the first error. Commit points come last: a base is
//! tagged only after its copy is checked, and the default boot entry is set last of all.

mod exec;
mod install_report;
mod layer;
mod prepare;
mod recover;

use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::Result;

use crate::ground::error::RollbackError;
use crate::ground::fault;
use crate::ground::lock::Lock;
use crate::ground::progress::{CancelToken, Event};
use crate::ground::runner::{Cmd, Runner};
use crate::image::copy::CopyStats;
use crate::image::OpenImage;
use crate::plan::Plan;
use crate::storage::guard;

pub use install_report::{InstallReport, StepTime};
pub use prepare::{prepare, prepare_again};
pub use recover::{recover, Recovered};

/// What an apply did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Outcome {
    pub vg: String,
    /// The volume groups of Nodes removed first (`--wipe`).
    pub removed: Vec<String>,
    pub created: Vec<String>,
    pub present: Vec<String>,
    pub base: Option<String>,
    pub layer: Option<String>,
    /// The BLS entry, relative to the /boot filesystem.
    pub boot_entry: Option<String>,
    /// The EFI boot files written onto the ESP (`EFI/…`).
    pub efi_files: Vec<String>,
    pub copy: Option<CopyStats>,
    /// The SELinux policy whose labels what onn wrote got (the layer's; none: the layer has
    /// no policy, and nothing was labelled).
    pub selinux: Option<String>,
    /// The kernel the boot entry boots, and the entry's whole options line.
    pub kernel: Option<String>,
    pub boot_options: Option<String>,
    /// What went wrong past the commit point without undoing the run (a report that could
    /// not be written).
    pub warnings: Vec<crate::image::updatable::Warning>,
    /// Each step that ran, with its duration.
    pub steps: Vec<StepTime>,
    /// The install report, as written into the layer (install, layer add).
    pub report: Option<InstallReport>,
}

/// A plan with what it was made from, ready to apply.
pub struct Prepared<'r> {
    runner: &'r dyn Runner,
    image: Option<OpenImage<'r>>,
    pub plan: Plan,
}

/// How to undo one thing this run created.
enum Undo {
    Run { what: String, cmds: Vec<Cmd> },
    RemoveFile(PathBuf),
}

struct Exec<'a, 'r> {
    runner: &'a dyn Runner,
    plan: &'a Plan,
    image: Option<&'a OpenImage<'r>>,
    observer: &'a mut dyn FnMut(&Event) -> Result<()>,
    cancel: &'a CancelToken,
    journal: Vec<Undo>,
    outcome: Outcome,
    index: usize,
    started: SystemTime,
}

impl Prepared<'_> {
    /// Carry out the plan. `observer` gets progress events; an error from it cancels the run.
    /// `lock`: the caller holds the lock of one onn at a time (`ground::lock`), taken before
    /// the plan was made or checked again, so that nothing else writes between the two.
    pub fn apply(
        self,
        lock: &Lock,
        observer: &mut dyn FnMut(&Event) -> Result<()>,
        cancel: &CancelToken,
    ) -> Result<Outcome> {
        tracing::debug!("holding {}", lock.path().display());
        let Prepared {
            runner,
            image,
            plan,
        } = self;
        let counted = fault::Counted(runner);
        fault::arm(true);
        // A crash skips every guard: its mounts would block fsck, lvremove and the copy.
        let released = guard::release_stale_mounts(runner);
        let mut exec = Exec {
            runner: &counted,
            plan: &plan,
            image: image.as_ref(),
            observer,
            cancel,
            journal: Vec::new(),
            outcome: Outcome {
                vg: plan.vg.clone(),
                present: plan.present.clone(),
                base: plan.base.clone(),
                layer: plan.layer.clone(),
                ..Default::default()
            },
            index: 0,
            started: SystemTime::now(),
        };
        let result = released.and_then(|_| exec.run_all());
        fault::arm(false);
        let Exec {
            journal, outcome, ..
        } = exec;
        let result = match result {
            Ok(()) => Ok(outcome),
            Err(first) => {
                // Log the first error before cleaning up, so an undo error cannot hide it.
                tracing::error!("{first:#}");
                let undo_errors = undo(runner, journal);
                if undo_errors.is_empty() {
                    Err(first)
                } else {
                    Err(RollbackError {
                        first,
                        undo: undo_errors.join("; "),
                    }
                    .into())
                }
            }
        };
        if let Some(i) = image {
            if let Err(e) = i.close() {
                tracing::warn!("{e:#}");
            }
        }
        result
    }
}

fn undo(runner: &dyn Runner, journal: Vec<Undo>) -> Vec<String> {
    let mut errors = Vec::new();
    for u in journal.into_iter().rev() {
        match u {
            Undo::Run { what, cmds } => {
                tracing::info!("undoing: {what}");
                for c in cmds {
                    if let Err(e) = runner.run(&c) {
                        errors.push(format!("{what}: {e:#}"));
                        break;
                    }
                }
            }
            Undo::RemoveFile(p) => {
                if let Err(e) = std::fs::remove_file(&p) {
                    errors.push(format!("removing {}: {e}", p.display()));
                }
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_line_is_versioned_json() {
        let e = Event {
            step: "base.copy",
            index: 4,
            total: 7,
            done: 10,
            size: 20,
            message: "copying".into(),
        };
        assert_eq!(
            e.to_json_line(),
            "{\"v\":1,\"step\":\"base.copy\",\"index\":4,\"total\":7,\"done\":10,\"size\":20,\"message\":\"copying\"}\n"
        );
    }
}

#[cfg(test)]
mod journal_tests {
    use super::*;
    use crate::ground::runner::{Output, Recorder};
    use crate::plan::{self, Action, Facts, Request, VolumeSet};

    /// A layout plan on one fresh 20 GiB disk with /var only.
    fn layout_plan() -> Plan {
        let disk = crate::plan::tests::disk("/dev/vdb", 20);
        let req = Request {
            pvs: vec!["/dev/vdb".into()],
            volumes: VolumeSet::Minimal,
            ..Request::new(Action::Layout)
        };
        plan::plan(
            &req,
            &Facts {
                devices: vec![disk],
                ..Default::default()
            },
        )
        .unwrap()
    }

    /// Run a plan against a recorder that fails the commands `fail` matches.
    fn run(fail: &'static [&'static str]) -> (Result<Outcome>, Vec<String>) {
        let profiles = tempfile::tempdir().unwrap();
        let dir = profiles.path().to_string_lossy().into_owned();
        let rec = Recorder::new(move |cmd: &Cmd| {
            let line = cmd.argv().join(" ");
            if fail.iter().any(|f| line.starts_with(f)) {
                return Err(anyhow::anyhow!("simulated failure of {line}"));
            }
            let stdout = if line.contains("config/profile_dir") {
                format!("profile_dir=\"{dir}\"\n")
            } else {
                String::new()
            };
            Ok(Output {
                stdout: stdout.into_bytes(),
                stderr: Vec::new(),
            })
        });
        let prepared = Prepared {
            runner: &rec,
            image: None,
            plan: layout_plan(),
        };
        let dir = tempfile::tempdir().unwrap();
        let lock = crate::ground::lock::acquire_at(
            &dir.path().join("onn.lock"),
            "test",
            None,
            &mut |_| {},
        )
        .unwrap();
        let result = prepared.apply(&lock, &mut |_| Ok(()), &CancelToken::new());
        let calls = rec.calls().iter().map(|c| c.join(" ")).collect();
        (result, calls)
    }

    #[test]
    fn layout_argv_golden() {
        let (result, calls) = run(&[]);
        assert_eq!(result.unwrap().created, ["onn", "onn/pool00", "onn/var"]);
        assert_eq!(
            calls,
            [
                "lvm vgcreate --addtag imgbased:vg --addtag onn:unfinished onn /dev/vdb",
                "lvm lvmconfig --type full config/profile_dir",
                // (20 GiB - 1 MiB label, in 4 MiB extents = 20476 MiB - 2 x 1 GiB metadata)
                // x 80 % = 14740 MiB.
                "lvm lvcreate --type thin-pool --size 15456010240b --poolmetadatasize 1073741824b \
                 --chunksize 65536b --metadataprofile imgbased-pool --addtag imgbased:pool --name pool00 onn",
                "lvm lvcreate --type thin --virtualsize 8589934592b --thinpool pool00 --name var \
                 --addtag imgbased:volume onn",
                "mkfs.ext4 -q -F /dev/onn/var",
                "lvm vgchange --deltag onn:unfinished onn",
            ]
        );
    }

    #[test]
    fn failure_undoes_in_reverse_and_reports_the_first_error() {
        let (result, calls) = run(&["mkfs.ext4"]);
        let err = result.unwrap_err();
        assert_eq!(crate::ground::error::kind_of(&err), crate::Kind::Command);
        assert!(
            format!("{err:#}").contains("simulated failure of mkfs.ext4"),
            "{err:#}"
        );
        assert_eq!(
            calls[5..],
            [
                "lvm lvremove --yes onn/var",
                "lvm lvremove --yes onn/pool00",
                "lvm vgremove --yes onn",
                "lvm pvremove --yes /dev/vdb",
            ]
        );
    }

    #[test]
    fn a_failing_undo_is_reported_with_the_first_error() {
        let (result, calls) = run(&["mkfs.ext4", "lvm lvremove --yes onn/pool00"]);
        let err = result.unwrap_err();
        assert_eq!(crate::ground::error::kind_of(&err), crate::Kind::Rollback);
        let msg = format!("{err:#}");
        assert!(msg.contains("simulated failure of mkfs.ext4"), "{msg}");
        assert!(
            msg.contains("undoing it also failed: removing onn/pool00"),
            "{msg}"
        );
        // The undo goes on past the failure: the VG removal is still tried.
        assert!(
            calls.iter().any(|c| c == "lvm vgremove --yes onn"),
            "{calls:?}"
        );
    }
}
