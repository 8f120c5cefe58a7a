//! What the commands print: the plan, the outcome, the layout, the checks, what was
//! recovered and what an image holds, as text or as JSON.

use anyhow::Result;
use onn_core::apply::Outcome;
use onn_core::image::source::Provenance;
use onn_core::image::ImageFacts;
use onn_core::report::{self, CheckItem, LayoutReport};
use onn_core::{Bytes, Plan, Recovered};

/// Print `value` as pretty JSON.
pub fn json<T: serde::Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Print `value` as pretty JSON with `--json`, else as `text` shows it.
pub fn json_or<T: serde::Serialize>(as_json: bool, value: &T, text: impl FnOnce(&T)) -> Result<()> {
    if as_json {
        json(value)
    } else {
        text(value);
        Ok(())
    }
}

pub fn plan(p: &Plan) {
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

pub fn outcome(outcome: &Outcome) {
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
    if outcome.layer.is_some() {
        match &outcome.selinux {
            Some(p) => println!("SELinux:    labelled by the layer's policy ({p})"),
            None => println!("SELinux:    the layer has no policy, no labels set"),
        }
    }
    if let Some(c) = &outcome.copy {
        println!(
            "Copied:     {} ({} written, {} of zeros skipped)",
            c.size, c.written, c.skipped_zero
        );
    }
    for w in &outcome.warnings {
        println!("Warning:    {} ({})", w.message, w.id);
    }
    if let Some(r) = outcome
        .report
        .as_ref()
        .filter(|_| outcome.warnings.is_empty())
    {
        println!("Report:     {} (in the layer)", r.file);
    }
}

/// Who vouched for the image installed.
pub fn provenance(p: &Provenance) {
    if let Some(pkg) = &p.package {
        println!("Package:    {pkg}");
    }
    match &p.signer {
        Some(s) => println!("Signed by:  {} (key {}, verified)", s.user_id, s.key_id),
        None => println!("Signed by:  not checked (no --gpg-key)"),
    }
}

pub fn layout(r: &LayoutReport) {
    print!("{}", report::render_layout(r));
}

/// The checks as JSON, with whether all passed.
pub fn checks_json(items: &[CheckItem], ok: bool) -> Result<()> {
    json(&serde_json::json!({"ok": ok, "checks": items}))
}

pub fn checks(items: &[CheckItem]) {
    for i in items {
        println!(
            "{:<6} {:<16} {}",
            if i.ok { "ok" } else { "FAILED" },
            i.id,
            i.message
        );
    }
}

pub fn recovered(r: &Recovered) {
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
    if *r == Recovered::default() {
        println!("Nothing to recover: no interrupted onn left anything behind.");
    }
}

pub fn image(facts: &ImageFacts) -> Result<()> {
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
    if let Some(p) = &facts.provenance.package {
        println!("package: {p}");
    }
    match &facts.provenance.signer {
        Some(s) => println!(
            "signer:  {} (key {}, fingerprint {}; verified)",
            s.user_id, s.key_id, s.fingerprint
        ),
        None => println!("signer:  none checked (no --gpg-key)"),
    }
    for w in &facts.warnings {
        println!("warning: {} ({})", w.message, w.id);
    }
    Ok(())
}
