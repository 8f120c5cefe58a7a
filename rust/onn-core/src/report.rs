//! `onn list` and `onn check`: the layout as imgbase prints it, and health checks that fail
//! loudly (imgbased's own `imgbase check` exits 0 when it fails).

use std::path::Path;

use anyhow::Result;

use crate::boot::{self, bls};
use crate::ground::runner::Runner;
use crate::image::nvr::ImageName;
use crate::names;
use crate::plan::{self, pool};
use crate::storage::lvm::{self, Lv, LvmState};

/// Bases and their layers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LayoutReport {
    pub vg: String,
    pub pool: Option<String>,
    pub bases: Vec<BaseReport>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BaseReport {
    pub name: String,
    pub layers: Vec<String>,
}

/// The imgbased layout of the system's one imgbased VG.
pub fn layout(lvm: &LvmState) -> Result<LayoutReport> {
    let vgs = lvm.imgbased_vgs();
    let vg = match vgs.as_slice() {
        [one] => one.name.clone(),
        [] => {
            return Err(crate::ground::error::not_found(
                "vg.missing",
                "there is no imgbased volume group",
            ))
        }
        many => {
            return Err(crate::ground::error::precondition(
                "vg.imgbased-many",
                format!(
                    "{} volume groups carry {}; imgbased needs exactly one",
                    many.len(),
                    names::TAG_VG
                ),
            ))
        }
    };
    let mut bases = plan::bases(lvm, &vg);
    // Oldest first, as imgbase prints; different names (never expected) keep LVM's order.
    bases.sort_by(|a, b| a.compare(b).unwrap_or(std::cmp::Ordering::Equal));
    Ok(LayoutReport {
        pool: lvm
            .lvs_of(&vg)
            .find(|l| l.has_tag(names::TAG_POOL))
            .map(|l| l.name.clone()),
        bases: bases
            .iter()
            .map(|b| BaseReport {
                name: b.to_string(),
                layers: plan::layers_of(lvm, &vg, b)
                    .into_iter()
                    .map(|i| b.layer_lv(i))
                    .collect(),
            })
            .collect(),
        vg,
    })
}

/// imgbase's `layout` format: each base, then ` +- <layer>` for each of its layers.
pub fn render_layout(r: &LayoutReport) -> String {
    let mut out = String::new();
    for b in &r.bases {
        out.push_str(&b.name);
        out.push('\n');
        for l in &b.layers {
            out.push_str(&format!(" +- {l}\n"));
        }
    }
    out
}

/// One health check.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CheckItem {
    pub id: &'static str,
    pub ok: bool,
    pub message: String,
}

fn item(id: &'static str, ok: bool, message: String) -> CheckItem {
    CheckItem { id, ok, message }
}

/// Run every check, in this order. `boot_dir` is where /boot is mounted.
pub fn check(runner: &dyn Runner, lvm: &LvmState, boot_dir: &Path) -> Vec<CheckItem> {
    let layout = match layout(lvm) {
        Ok(l) => l,
        Err(e) => return vec![item("vg", false, format!("{e:#}"))],
    };
    let vg = &layout.vg;
    let mut items = vec![check_vg(vg)];
    match the_pool(lvm, vg) {
        Ok(pool) => items.extend([
            check_pool_data(vg, pool),
            check_pool_metadata(vg, pool),
            check_pool_autoextend(runner, vg, pool),
        ]),
        Err(refusal) => items.push(refusal),
    }
    items.push(check_var_separate(lvm, vg));
    items.push(check_interrupted(lvm, vg));
    items.push(check_bases(lvm, &layout));
    items.push(check_layers(lvm, &layout));
    let entries = bls::entries(boot_dir);
    items.push(check_boot_entries(&layout, &entries, boot_dir));
    items.push(check_boot_default(&entries, boot_dir));
    items
}

/// `vg`: the one imgbased VG (without it, no other check runs).
fn check_vg(vg: &str) -> CheckItem {
    item(
        "vg",
        true,
        format!("volume group {vg} carries {}", names::TAG_VG),
    )
}

/// The one pool of the VG that carries imgbased's tag, or the `pool` check that fails.
fn the_pool<'a>(lvm: &'a LvmState, vg: &str) -> Result<&'a Lv, CheckItem> {
    let pools: Vec<&Lv> = lvm
        .lvs_of(vg)
        .filter(|l| l.has_tag(names::TAG_POOL))
        .collect();
    match pools.as_slice() {
        [pool] => Ok(pool),
        [] => Err(item(
            "pool",
            false,
            format!("no thin pool in {vg} carries {}", names::TAG_POOL),
        )),
        _ => Err(item(
            "pool",
            false,
            format!(
                "{} pools in {vg} carry {}; imgbased needs one",
                pools.len(),
                names::TAG_POOL
            ),
        )),
    }
}

/// `pool.data`: below imgbase check's limit.
fn check_pool_data(vg: &str, pool: &Lv) -> CheckItem {
    let limit = pool::USAGE_LIMIT_PERCENT as f64;
    let data = pool.data_percent.unwrap_or(100.0);
    item(
        "pool.data",
        data < limit,
        format!(
            "pool {vg}/{} data {data:.1} % used (limit {limit} %)",
            pool.name
        ),
    )
}

/// `pool.metadata`: below imgbase check's limit.
fn check_pool_metadata(vg: &str, pool: &Lv) -> CheckItem {
    let limit = pool::USAGE_LIMIT_PERCENT as f64;
    let meta = pool
        .thin_pool()
        .and_then(|t| t.metadata_percent)
        .unwrap_or(100.0);
    item(
        "pool.metadata",
        meta < limit,
        format!(
            "pool {vg}/{} metadata {meta:.1} % used (limit {limit} %)",
            pool.name
        ),
    )
}

/// `pool.autoextend`: the pool's profile extends it before it is full.
fn check_pool_autoextend(runner: &dyn Runner, vg: &str, pool: &Lv) -> CheckItem {
    let profile = pool.thin_pool().map_or("", |t| t.profile.as_str());
    let autoextend = if profile.is_empty() {
        Err(format!(
            "pool {vg}/{} has no metadata profile; autoextend is off",
            pool.name
        ))
    } else {
        match lvm::autoextend_threshold(runner, profile) {
            Ok(t) if t < 100 => Ok(format!("pool autoextend at {t} % (profile {profile})")),
            Ok(t) => Err(format!(
                "pool autoextend threshold is {t} %: autoextend is off"
            )),
            Err(e) => Err(format!("{e:#}")),
        }
    };
    match autoextend {
        Ok(m) => item("pool.autoextend", true, m),
        Err(m) => item("pool.autoextend", false, m),
    }
}

/// `var.separate`: /var is a volume of its own, shared by the layers.
fn check_var_separate(lvm: &LvmState, vg: &str) -> CheckItem {
    let var = lvm.lv(vg, "var").is_some();
    item(
        "var.separate",
        var,
        if var {
            "/var is a separate volume".into()
        } else {
            format!("{vg} has no separate /var volume")
        },
    )
}

/// `interrupted`: what an interrupted run leaves, the VG's unfinished mark and bases and
/// layers never tagged.
fn check_interrupted(lvm: &LvmState, vg: &str) -> CheckItem {
    let mut leftovers: Vec<String> = lvm
        .lvs_of(vg)
        .filter(|l| ImageName::parse(&l.name).is_some() && l.tags.is_empty())
        .map(|l| l.name.clone())
        .collect();
    if lvm.vg(vg).is_some_and(|v| v.has_tag(names::TAG_UNFINISHED)) {
        leftovers.insert(0, format!("{vg} is marked {}", names::TAG_UNFINISHED));
    }
    item(
        "interrupted",
        leftovers.is_empty(),
        if leftovers.is_empty() {
            "no interrupted onn run left anything unfinished".into()
        } else {
            format!(
                "an interrupted onn run left: {}; run the same onn command again to finish it, or `onn recover` to remove it",
                leftovers.join(", ")
            )
        },
    )
}

/// `bases`: there is one, and each is read-only and skipped at activation.
fn check_bases(lvm: &LvmState, layout: &LayoutReport) -> CheckItem {
    let bad_bases: Vec<String> = lvm
        .lvs_of(&layout.vg)
        .filter(|l| matches!(ImageName::parse(&l.name), Some(ImageName::Base(_))))
        .filter(|l| l.has_tag(names::TAG_BASE) && !(l.read_only && l.skip_activation))
        .map(|l| l.name.clone())
        .collect();
    let nbases = layout.bases.len();
    item(
        "bases",
        nbases > 0 && bad_bases.is_empty(),
        if nbases == 0 {
            "there is no base".into()
        } else if bad_bases.is_empty() {
            format!("{nbases} base(s), read-only and skipped at activation")
        } else {
            format!("bases not protected: {}", bad_bases.join(", "))
        },
    )
}

/// `layers`: there is one, and each is writable and activated at boot.
fn check_layers(lvm: &LvmState, layout: &LayoutReport) -> CheckItem {
    let bad_layers: Vec<String> = lvm
        .lvs_of(&layout.vg)
        .filter(|l| matches!(ImageName::parse(&l.name), Some(ImageName::Layer(..))))
        .filter(|l| l.has_tag(names::TAG_LAYER) && (l.read_only || l.skip_activation))
        .map(|l| l.name.clone())
        .collect();
    let layers = layer_names(layout);
    item(
        "layers",
        !layers.is_empty() && bad_layers.is_empty(),
        if layers.is_empty() {
            "there is no layer".into()
        } else if bad_layers.is_empty() {
            format!("{} layer(s), writable", layers.len())
        } else {
            format!(
                "layers not writable or not activated at boot: {}",
                bad_layers.join(", ")
            )
        },
    )
}

fn layer_names(layout: &LayoutReport) -> Vec<&String> {
    layout.bases.iter().flat_map(|b| b.layers.iter()).collect()
}

/// `boot.entries`: every layer has a boot entry (by its `img.bootid=`).
fn check_boot_entries(
    layout: &LayoutReport,
    entries: &[(String, String)],
    boot_dir: &Path,
) -> CheckItem {
    let missing: Vec<&str> = layer_names(layout)
        .into_iter()
        .filter(|l| !entries.iter().any(|(_, text)| bls::boots_layer(text, l)))
        .map(|l| l.as_str())
        .collect();
    item(
        "boot.entries",
        missing.is_empty(),
        if missing.is_empty() {
            format!("every layer has a boot entry in {}", boot_dir.display())
        } else {
            format!(
                "no boot entry in {} for: {}",
                boot_dir.display(),
                missing.join(", ")
            )
        },
    )
}

/// `boot.default`: GRUB's default entry is set and exists.
fn check_boot_default(entries: &[(String, String)], boot_dir: &Path) -> CheckItem {
    let env = std::fs::read_to_string(boot_dir.join(names::GRUBENV)).unwrap_or_default();
    let default = boot::saved_entry(&env).map(str::to_string);
    let default_ok = default
        .as_ref()
        .is_some_and(|d| entries.iter().any(|(id, _)| id == d));
    item(
        "boot.default",
        default_ok,
        match default {
            Some(d) if default_ok => format!("default boot entry {d}"),
            Some(d) => format!("the default boot entry {d} does not exist"),
            None => "no default boot entry is set".into(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_renders_like_imgbase() {
        let state = LvmState::parse(include_bytes!("../tests/fixtures/fullreport.json")).unwrap();
        let r = layout(&state).unwrap();
        assert_eq!(r.pool.as_deref(), Some("pool00"));
        assert_eq!(
            render_layout(&r),
            "onn-demo-1.0-0.20261125.0\n +- onn-demo-1.0-0.20261125.0+1\n"
        );
    }

    /// What `onn check` says of a complete install, check by check, in order; and of one
    /// whose layer lost its boot entry and whose pool lost its profile.
    #[test]
    fn check_names_every_check_in_order() {
        use crate::ground::runner::{Cmd, Output, Recorder};
        let state = LvmState::parse(include_bytes!("../tests/fixtures/fullreport.json")).unwrap();
        let rec = Recorder::new(|_: &Cmd| {
            Ok(Output {
                stdout: b"thin_pool_autoextend_threshold=70\n".to_vec(),
                stderr: Vec::new(),
            })
        });
        let boot = tempfile::tempdir().unwrap();
        let layer = "onn-demo-1.0-0.20261125.0+1";
        std::fs::create_dir_all(boot.path().join("loader/entries")).unwrap();
        std::fs::create_dir_all(boot.path().join("grub2")).unwrap();
        let entry = boot.path().join(format!("loader/entries/{layer}-6.1.conf"));
        std::fs::write(&entry, format!("title x\noptions ro img.bootid={layer}\n")).unwrap();
        std::fs::write(
            boot.path().join("grub2/grubenv"),
            format!("saved_entry={layer}-6.1\n"),
        )
        .unwrap();
        let shown = |items: Vec<CheckItem>| -> Vec<String> {
            items
                .iter()
                .map(|i| format!("{} {} {}", i.id, i.ok, i.message))
                .collect()
        };
        let b = boot.path().display();
        assert_eq!(
            shown(check(&rec, &state, boot.path())),
            [
                "vg true volume group onn carries imgbased:vg".to_string(),
                "pool.data true pool onn/pool00 data 7.6 % used (limit 80 %)".into(),
                "pool.metadata true pool onn/pool00 metadata 1.6 % used (limit 80 %)".into(),
                "pool.autoextend true pool autoextend at 70 % (profile imgbased-pool)".into(),
                "var.separate true /var is a separate volume".into(),
                "interrupted true no interrupted onn run left anything unfinished".into(),
                "bases true 1 base(s), read-only and skipped at activation".into(),
                "layers true 1 layer(s), writable".into(),
                format!("boot.entries true every layer has a boot entry in {b}"),
                format!("boot.default true default boot entry {layer}-6.1"),
            ]
        );
        std::fs::remove_file(&entry).unwrap();
        let mut state = state;
        for l in state.lvs.iter_mut().filter(|l| l.is_thin_pool()) {
            if let crate::storage::lvm::LvKind::ThinPool(t) = &mut l.kind {
                t.profile.clear();
            }
        }
        let failed: Vec<String> = shown(check(&rec, &state, boot.path()))
            .into_iter()
            .filter(|s| s.contains(" false "))
            .collect();
        assert_eq!(
            failed,
            [
                "pool.autoextend false pool onn/pool00 has no metadata profile; autoextend is off"
                    .to_string(),
                format!("boot.entries false no boot entry in {b} for: {layer}"),
                format!("boot.default false the default boot entry {layer}-6.1 does not exist"),
            ]
        );
    }
}
