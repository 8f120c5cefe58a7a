//! `onn list` and `onn check`: the layout as imgbase prints it, and health checks that fail
//! loudly (imgbased's own `imgbase check` exits 0 when it fails).

use std::path::Path;

use anyhow::Result;

use crate::boot::{self, bls};
use crate::ground::runner::Runner;
use crate::image::nvr::ImageName;
use crate::names;
use crate::plan::{self, pool};
use crate::storage::lvm::{self, LvmState};

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

/// Run every check. `boot_dir` is where /boot is mounted.
pub fn check(runner: &dyn Runner, lvm: &LvmState, boot_dir: &Path) -> Vec<CheckItem> {
    let mut items = Vec::new();
    let layout = match layout(lvm) {
        Ok(l) => {
            items.push(item(
                "vg",
                true,
                format!("volume group {} carries {}", l.vg, names::TAG_VG),
            ));
            l
        }
        Err(e) => {
            items.push(item("vg", false, format!("{e:#}")));
            return items;
        }
    };
    let vg = &layout.vg;
    let pools: Vec<&lvm::Lv> = lvm
        .lvs_of(vg)
        .filter(|l| l.has_tag(names::TAG_POOL))
        .collect();
    match pools.as_slice() {
        [pool] => {
            let limit = pool::USAGE_LIMIT_PERCENT as f64;
            let data = pool.data_percent.unwrap_or(100.0);
            let meta = pool
                .thin_pool()
                .and_then(|t| t.metadata_percent)
                .unwrap_or(100.0);
            items.push(item(
                "pool.data",
                data < limit,
                format!(
                    "pool {vg}/{} data {data:.1} % used (limit {limit} %)",
                    pool.name
                ),
            ));
            items.push(item(
                "pool.metadata",
                meta < limit,
                format!(
                    "pool {vg}/{} metadata {meta:.1} % used (limit {limit} %)",
                    pool.name
                ),
            ));
            let profile = pool.thin_pool().map_or("", |t| t.profile.as_str());
            let autoextend = if profile.is_empty() {
                Err(format!(
                    "pool {vg}/{} has no metadata profile; autoextend is off",
                    pool.name
                ))
            } else {
                match lvm::autoextend_threshold(runner, profile) {
                    Ok(t) if t < 100 => {
                        Ok(format!("pool autoextend at {t} % (profile {})", profile))
                    }
                    Ok(t) => Err(format!(
                        "pool autoextend threshold is {t} %: autoextend is off"
                    )),
                    Err(e) => Err(format!("{e:#}")),
                }
            };
            items.push(match autoextend {
                Ok(m) => item("pool.autoextend", true, m),
                Err(m) => item("pool.autoextend", false, m),
            });
        }
        [] => items.push(item(
            "pool",
            false,
            format!("no thin pool in {vg} carries {}", names::TAG_POOL),
        )),
        _ => items.push(item(
            "pool",
            false,
            format!(
                "{} pools in {vg} carry {}; imgbased needs one",
                pools.len(),
                names::TAG_POOL
            ),
        )),
    }
    let var = lvm.lv(vg, "var").is_some();
    items.push(item(
        "var.separate",
        var,
        if var {
            "/var is a separate volume".into()
        } else {
            format!("{vg} has no separate /var volume")
        },
    ));

    // What an interrupted run leaves: the VG's unfinished mark, bases and layers never tagged.
    let mut leftovers: Vec<String> = lvm
        .lvs_of(vg)
        .filter(|l| ImageName::parse(&l.name).is_some() && l.tags.is_empty())
        .map(|l| l.name.clone())
        .collect();
    if lvm.vg(vg).is_some_and(|v| v.has_tag(names::TAG_UNFINISHED)) {
        leftovers.insert(0, format!("{vg} is marked {}", names::TAG_UNFINISHED));
    }
    items.push(item(
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
    ));

    let mut bad_bases = Vec::new();
    let mut bad_layers = Vec::new();
    for l in lvm.lvs_of(vg) {
        match ImageName::parse(&l.name) {
            Some(ImageName::Base(_))
                if l.has_tag(names::TAG_BASE) && !(l.read_only && l.skip_activation) =>
            {
                bad_bases.push(l.name.clone())
            }
            Some(ImageName::Layer(..))
                if l.has_tag(names::TAG_LAYER) && (l.read_only || l.skip_activation) =>
            {
                bad_layers.push(l.name.clone())
            }
            _ => {}
        }
    }
    let nbases = layout.bases.len();
    items.push(item(
        "bases",
        nbases > 0 && bad_bases.is_empty(),
        if nbases == 0 {
            "there is no base".into()
        } else if bad_bases.is_empty() {
            format!("{nbases} base(s), read-only and skipped at activation")
        } else {
            format!("bases not protected: {}", bad_bases.join(", "))
        },
    ));
    let layers: Vec<&String> = layout.bases.iter().flat_map(|b| b.layers.iter()).collect();
    items.push(item(
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
    ));

    let entries = bls::entries(boot_dir);
    let missing: Vec<&str> = layers
        .iter()
        .filter(|l| !entries.iter().any(|(_, text)| bls::boots_layer(text, l)))
        .map(|l| l.as_str())
        .collect();
    items.push(item(
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
    ));
    let env = std::fs::read_to_string(boot_dir.join(names::GRUBENV)).unwrap_or_default();
    let default = boot::saved_entry(&env).map(str::to_string);
    let default_ok = default
        .as_ref()
        .is_some_and(|d| entries.iter().any(|(id, _)| id == d));
    items.push(item(
        "boot.default",
        default_ok,
        match default {
            Some(d) if default_ok => format!("default boot entry {d}"),
            Some(d) => format!("the default boot entry {d} does not exist"),
            None => "no default boot entry is set".into(),
        },
    ));
    items
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
}
