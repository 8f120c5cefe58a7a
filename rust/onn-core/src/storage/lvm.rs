//! LVM commands (argv builders) and its JSON reports, parsed into serde structs named after
//! the tool's own fields and turned into the typed storage the planner, the checks and the
//! cleanup read ([`Pv`], [`Vg`], [`Lv`] of an [`LvKind`]), which `plan/installer.rs` also makes
//! of storage an installer has yet to create. Every report is read as JSON, never as columns.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::ground::runner::{Cmd, Runner};
use crate::ground::units::Bytes;
use crate::names;

const REPORT_ARGS: [&str; 5] = ["--reportformat", "json", "--units", "b", "--nosuffix"];
pub const PV_FIELDS: &str = "pv_name,vg_name,pv_size";
pub const VG_FIELDS: &str = "vg_name,vg_size,vg_free,vg_extent_size,vg_tags";
pub const LV_FIELDS: &str = "lv_name,vg_name,lv_attr,lv_size,pool_lv,origin,lv_tags,\
data_percent,metadata_percent,lv_metadata_size,lv_profile,lv_skip_activation,lv_permissions,lv_active";

/// A physical volume, as LVM reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pv {
    /// The device.
    pub name: String,
    /// Its volume group; None for a PV of none (an orphan).
    pub vg: Option<String>,
    pub size: Bytes,
}

/// A volume group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vg {
    pub name: String,
    pub size: Bytes,
    pub free: Bytes,
    pub extent_size: Bytes,
    pub tags: Vec<String>,
}

/// A logical volume: what the planner, the checks and the cleanup know of one, whether LVM
/// reported it or an installer is about to create it.
#[derive(Debug, Clone, PartialEq)]
pub struct Lv {
    pub name: String,
    pub vg: String,
    pub kind: LvKind,
    /// Its (virtual, for a thin LV) size.
    pub size: Bytes,
    /// The LV it is a snapshot of.
    pub origin: Option<String>,
    pub tags: Vec<String>,
    /// How full it is in percent: a thin pool's data, the share of a thin LV that is written.
    pub data_percent: Option<f64>,
    pub read_only: bool,
    /// Skipped when the VG is activated (imgbased's bases are).
    pub skip_activation: bool,
    pub active: bool,
}

/// What an LV is, of what onn tells apart.
#[derive(Debug, Clone, PartialEq)]
pub enum LvKind {
    ThinPool(ThinPool),
    /// A thin LV (a base, a layer, a data volume) in the thin pool `pool`.
    Thin {
        pool: String,
    },
    /// Anything else: a linear LV, a cache, a VDO volume.
    Other,
}

/// What a thin pool has besides its data.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ThinPool {
    pub metadata_size: Option<Bytes>,
    pub metadata_percent: Option<f64>,
    /// Its metadata profile (imgbased's autoextend); empty: none.
    pub profile: String,
}

impl Lv {
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }
    pub fn is_thin_pool(&self) -> bool {
        matches!(self.kind, LvKind::ThinPool(_))
    }
    /// Its thin pool's facts, when it is one.
    pub fn thin_pool(&self) -> Option<&ThinPool> {
        match &self.kind {
            LvKind::ThinPool(t) => Some(t),
            _ => None,
        }
    }
    /// The thin pool it is in, when it is a thin LV.
    pub fn pool(&self) -> Option<&str> {
        match &self.kind {
            LvKind::Thin { pool } => Some(pool),
            _ => None,
        }
    }
}

impl Vg {
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }
}

/// A row of `lvm pvs`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
struct PvRow {
    pv_name: String,
    vg_name: String,
    #[serde(deserialize_with = "de_bytes")]
    pv_size: Bytes,
}

/// A row of `lvm vgs`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
struct VgRow {
    vg_name: String,
    #[serde(deserialize_with = "de_bytes")]
    vg_size: Bytes,
    #[serde(deserialize_with = "de_bytes")]
    vg_free: Bytes,
    #[serde(deserialize_with = "de_bytes")]
    vg_extent_size: Bytes,
    #[serde(deserialize_with = "de_tags")]
    vg_tags: Vec<String>,
}

/// A row of `lvm lvs`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
struct LvRow {
    lv_name: String,
    vg_name: String,
    lv_attr: String,
    #[serde(deserialize_with = "de_bytes")]
    lv_size: Bytes,
    pool_lv: String,
    origin: String,
    #[serde(deserialize_with = "de_tags")]
    lv_tags: Vec<String>,
    #[serde(deserialize_with = "de_percent")]
    data_percent: Option<f64>,
    #[serde(deserialize_with = "de_percent")]
    metadata_percent: Option<f64>,
    #[serde(deserialize_with = "de_opt_bytes")]
    lv_metadata_size: Option<Bytes>,
    lv_profile: String,
    lv_skip_activation: String,
    lv_permissions: String,
    lv_active: String,
}

impl From<PvRow> for Pv {
    fn from(r: PvRow) -> Pv {
        Pv {
            name: r.pv_name,
            vg: Some(r.vg_name).filter(|v| !v.is_empty()),
            size: r.pv_size,
        }
    }
}

impl From<VgRow> for Vg {
    fn from(r: VgRow) -> Vg {
        Vg {
            name: r.vg_name,
            size: r.vg_size,
            free: r.vg_free,
            extent_size: r.vg_extent_size,
            tags: r.vg_tags,
        }
    }
}

impl From<LvRow> for Lv {
    fn from(r: LvRow) -> Lv {
        // lv_attr's first character is the volume type (lvs(8)): `t` a thin pool, `V` a thin
        // volume, which names its pool in pool_lv.
        let kind = match r.lv_attr.chars().next() {
            Some('t') => LvKind::ThinPool(ThinPool {
                metadata_size: r.lv_metadata_size,
                metadata_percent: r.metadata_percent,
                profile: r.lv_profile,
            }),
            Some('V') => LvKind::Thin { pool: r.pool_lv },
            _ => LvKind::Other,
        };
        Lv {
            name: r.lv_name,
            vg: r.vg_name,
            kind,
            size: r.lv_size,
            origin: Some(r.origin).filter(|o| !o.is_empty()),
            tags: r.lv_tags,
            data_percent: r.data_percent,
            read_only: r.lv_permissions.starts_with("read-only"),
            skip_activation: !r.lv_skip_activation.is_empty(),
            active: r.lv_active == "active",
        }
    }
}

fn de_bytes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
    let s = String::deserialize(d)?;
    s.trim()
        .parse::<u64>()
        .map(Bytes)
        .map_err(serde::de::Error::custom)
}

fn de_opt_bytes<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Bytes>, D::Error> {
    let s = String::deserialize(d)?;
    match s.trim() {
        "" => Ok(None),
        t => t
            .parse::<u64>()
            .map(|n| Some(Bytes(n)))
            .map_err(serde::de::Error::custom),
    }
}

fn de_percent<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let s = String::deserialize(d)?;
    match s.trim() {
        "" => Ok(None),
        t => t.parse::<f64>().map(Some).map_err(serde::de::Error::custom),
    }
}

fn de_tags<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let s = String::deserialize(d)?;
    Ok(s.split(',')
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect())
}

/// Parse an lvm JSON report: `{"report": [{"<key>": [rows…]}, …]}` (one object per VG for
/// some commands); the rows of every object are concatenated.
pub fn parse_report<T: for<'de> Deserialize<'de>>(json: &[u8], key: &str) -> Result<Vec<T>> {
    #[derive(Deserialize)]
    struct Report {
        report: Vec<BTreeMap<String, serde_json::Value>>,
    }
    let report: Report = serde_json::from_slice(json).context("parsing lvm JSON report")?;
    let mut rows = Vec::new();
    for obj in report.report {
        if let Some(v) = obj.get(key) {
            let mut part: Vec<T> = serde_json::from_value(v.clone())
                .with_context(|| format!("parsing the {key} rows of an lvm report"))?;
            rows.append(&mut part);
        }
    }
    Ok(rows)
}

/// One `lvm fullreport` reads PVs, VGs and LVs in a single device scan (each lvm command
/// scans every disk). Its segment reports cannot be left out, so they get one small field.
pub fn report_cmd() -> Cmd {
    Cmd::new("lvm")
        .arg("fullreport")
        .args(REPORT_ARGS)
        .args(["--configreport", "pv", "-o", PV_FIELDS])
        .args(["--configreport", "vg", "-o", VG_FIELDS])
        .args(["--configreport", "lv", "-o", LV_FIELDS])
        .args(["--configreport", "seg", "-o", "seg_start"])
        .args(["--configreport", "pvseg", "-o", "pvseg_start"])
}

/// Everything LVM knows (orphan PVs included: fullreport lists them in a report of their own),
/// or what an installer is about to create (`plan/installer.rs`): the planner's facts of
/// storage.
#[derive(Debug, Clone, Default)]
pub struct LvmState {
    pub pvs: Vec<Pv>,
    pub vgs: Vec<Vg>,
    pub lvs: Vec<Lv>,
}

impl LvmState {
    pub fn read(runner: &dyn Runner) -> Result<LvmState> {
        let out = runner
            .run(&report_cmd())
            .context("listing LVM volume groups and volumes")?;
        LvmState::parse(&out.stdout)
    }

    pub fn parse(json: &[u8]) -> Result<LvmState> {
        Ok(LvmState {
            pvs: into_all::<PvRow, Pv>(parse_report(json, "pv")?),
            vgs: into_all::<VgRow, Vg>(parse_report(json, "vg")?),
            lvs: into_all::<LvRow, Lv>(parse_report(json, "lv")?),
        })
    }

    pub fn vg(&self, name: &str) -> Option<&Vg> {
        self.vgs.iter().find(|v| v.name == name)
    }
    pub fn lv(&self, vg: &str, name: &str) -> Option<&Lv> {
        self.lvs.iter().find(|l| l.vg == vg && l.name == name)
    }
    pub fn pv(&self, device: &str) -> Option<&Pv> {
        self.pvs.iter().find(|p| p.name == device)
    }
    pub fn pvs_of(&self, vg: &str) -> Vec<&str> {
        self.pvs
            .iter()
            .filter(|p| p.vg.as_deref() == Some(vg))
            .map(|p| p.name.as_str())
            .collect()
    }
    /// VGs carrying the imgbased tag (imgbased requires exactly one).
    pub fn imgbased_vgs(&self) -> Vec<&Vg> {
        self.vgs
            .iter()
            .filter(|v| v.has_tag(names::TAG_VG))
            .collect()
    }
    pub fn lvs_of(&self, vg: &str) -> impl Iterator<Item = &Lv> {
        let vg = vg.to_string();
        self.lvs.iter().filter(move |l| l.vg == vg)
    }
}

fn into_all<R, T: From<R>>(rows: Vec<R>) -> Vec<T> {
    rows.into_iter().map(T::from).collect()
}

/// `/dev/<vg>/<lv>`: the path LVM creates and imgbased writes into fstab and boot entries.
pub fn lv_path(vg: &str, lv: &str) -> String {
    format!("/dev/{vg}/{lv}")
}

fn full(vg: &str, lv: &str) -> String {
    format!("{vg}/{lv}")
}

/// Create a VG tagged for imgbased; vgcreate initialises the PVs itself (one command, not
/// pvcreate + vgcreate), and refuses devices with signatures because stdin is closed.
pub fn vgcreate(vg: &str, pvs: &[String]) -> Cmd {
    Cmd::new("lvm")
        .args(["vgcreate", "--addtag", names::TAG_VG])
        .args(["--addtag", names::TAG_UNFINISHED, vg])
        .args(pvs)
}

/// The run that created the VG is done: drop the mark that lets `onn recover` remove it.
pub fn finish_vg(vg: &str) -> Cmd {
    Cmd::new("lvm").args(["vgchange", "--deltag", names::TAG_UNFINISHED, vg])
}

/// Create the thin pool with imgbased's profile and tag in one command.
pub fn create_pool(vg: &str, pool: &str, data: Bytes, metadata: Bytes, chunk: Bytes) -> Cmd {
    Cmd::new("lvm").args([
        "lvcreate".to_string(),
        "--type".into(),
        "thin-pool".into(),
        "--size".into(),
        data.lvm_arg(),
        "--poolmetadatasize".into(),
        metadata.lvm_arg(),
        "--chunksize".into(),
        chunk.lvm_arg(),
        "--metadataprofile".into(),
        names::POOL_PROFILE.into(),
        "--addtag".into(),
        names::TAG_POOL.into(),
        "--name".into(),
        pool.into(),
        vg.into(),
    ])
}

/// Create a thin LV in the pool, optionally tagged.
pub fn create_thin(vg: &str, pool: &str, lv: &str, size: Bytes, tag: Option<&str>) -> Cmd {
    let mut cmd = Cmd::new("lvm").args([
        "lvcreate".to_string(),
        "--type".into(),
        "thin".into(),
        "--virtualsize".into(),
        size.lvm_arg(),
        "--thinpool".into(),
        pool.into(),
        "--name".into(),
        lv.into(),
    ]);
    if let Some(tag) = tag {
        cmd = cmd.args(["--addtag", tag]);
    }
    cmd.arg(vg)
}

/// A layer: thin snapshot, writable, activated at boot, tagged (one command).
/// A layer starts untagged: the tag, added once its filesystem has its own UUID, is its
/// commit point (an untagged `<NVR>+<N>` is what an interrupted run leaves). Without the
/// activation skip its origin has, the snapshot is activated by this same command.
pub fn create_layer(vg: &str, origin: &str, layer: &str) -> Cmd {
    Cmd::new("lvm").args([
        "lvcreate",
        "--snapshot",
        "--setactivationskip",
        "n",
        "--activate",
        "y",
        "--name",
        layer,
        &full(vg, origin),
    ])
}

pub fn commit_layer(vg: &str, layer: &str) -> Cmd {
    Cmd::new("lvm").args(["lvchange", "--addtag", names::TAG_LAYER, &full(vg, layer)])
}

/// Commit a base: read-only, skipped at activation, tagged (one command, the commit point).
pub fn protect_base(vg: &str, lv: &str) -> Cmd {
    Cmd::new("lvm")
        .args([
            "lvchange",
            "--permission",
            "r",
            "--setactivationskip",
            "y",
            "--addtag",
        ])
        .args([names::TAG_BASE, &full(vg, lv)])
}

pub fn lvremove(vg: &str, lv: &str) -> Cmd {
    Cmd::new("lvm").args(["lvremove", "--yes", &full(vg, lv)])
}

pub fn vgremove(vg: &str) -> Cmd {
    Cmd::new("lvm").args(["vgremove", "--yes", vg])
}

pub fn pvremove(pvs: &[String]) -> Cmd {
    Cmd::new("lvm").args(["pvremove", "--yes"]).args(pvs)
}

/// Adopt a VG an installer made: tag it for imgbased.
pub fn tag_vg(vg: &str) -> Cmd {
    Cmd::new("lvm").args(["vgchange", "--addtag", names::TAG_VG, vg])
}

/// Undo [`tag_vg`].
pub fn untag_vg(vg: &str) -> Cmd {
    Cmd::new("lvm").args(["vgchange", "--deltag", names::TAG_VG, vg])
}

/// Grow a pool's metadata (and its spare, which LVM grows with it) to `size`.
pub fn grow_pool_metadata(vg: &str, pool: &str, size: Bytes) -> Cmd {
    Cmd::new("lvm").args([
        "lvextend",
        "--poolmetadatasize",
        &size.lvm_arg(),
        &full(vg, pool),
    ])
}

/// Adopt a pool an installer made: tag it and give it imgbased's autoextend profile.
pub fn adopt_pool(vg: &str, pool: &str) -> Cmd {
    Cmd::new("lvm").args([
        "lvchange",
        "--addtag",
        names::TAG_POOL,
        "--metadataprofile",
        names::POOL_PROFILE,
        &full(vg, pool),
    ])
}

/// Undo the tag of [`adopt_pool`] (the profile stays: it only makes the pool autoextend).
pub fn untag_pool(vg: &str, pool: &str) -> Cmd {
    Cmd::new("lvm").args(["lvchange", "--deltag", names::TAG_POOL, &full(vg, pool)])
}

/// Where this system's LVM reads profiles from.
pub fn profile_dir(runner: &dyn Runner) -> Result<std::path::PathBuf> {
    let out = runner
        .run(&Cmd::new("lvm").args(["lvmconfig", "--type", "full", "config/profile_dir"]))
        .context("reading LVM's profile directory")?;
    let text = out.stdout_str();
    let value = text
        .trim()
        .strip_prefix("profile_dir=")
        .map(|v| v.trim_matches('"'))
        .filter(|v| v.starts_with('/'))
        .with_context(|| format!("unexpected lvmconfig output {text:?}"))?;
    Ok(value.into())
}

/// The autoextend threshold a pool's metadata profile gives (100 = off).
pub fn autoextend_threshold(runner: &dyn Runner, profile: &str) -> Result<u64> {
    let out = runner
        .run(&Cmd::new("lvm").args([
            "lvmconfig",
            "--type",
            "full",
            "--metadataprofile",
            profile,
            "activation/thin_pool_autoextend_threshold",
        ]))
        .with_context(|| format!("reading the autoextend threshold of LVM profile {profile}"))?;
    let text = out.stdout_str();
    text.trim()
        .strip_prefix("thin_pool_autoextend_threshold=")
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("unexpected lvmconfig output {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULLREPORT: &[u8] = include_bytes!("../../tests/fixtures/fullreport.json");

    #[test]
    fn parses_real_lvm_output() {
        let state = LvmState::parse(FULLREPORT).unwrap();
        let base = state
            .lvs
            .iter()
            .find(|l| l.has_tag(names::TAG_BASE))
            .unwrap();
        assert_eq!(base.name, "onn-demo-1.0-0.20261125.0");
        assert!(base.read_only && base.skip_activation);
        assert_eq!(base.pool(), Some("pool00"));
        let layer = state
            .lvs
            .iter()
            .find(|l| l.has_tag(names::TAG_LAYER))
            .unwrap();
        assert_eq!(layer.origin.as_deref(), Some(base.name.as_str()));
        assert!(!layer.read_only && !layer.skip_activation);
        let pool = state.lvs.iter().find(|l| l.is_thin_pool()).unwrap();
        assert!(pool.has_tag(names::TAG_POOL));
        let thin = pool.thin_pool().unwrap();
        assert_eq!(thin.profile, names::POOL_PROFILE);
        assert!(thin.metadata_size.unwrap() >= crate::plan::pool::METADATA_MIN);
        assert!(pool.data_percent.is_some());
        let vg = &state.vgs[0];
        assert!(vg.has_tag(names::TAG_VG) && !vg.has_tag(names::TAG_UNFINISHED));
        assert!(vg.free < vg.size);
        assert_eq!(state.pvs_of("onn"), ["/dev/ubda", "/dev/ubdb"]);
        // An orphan PV (no VG) is listed too.
        assert!(state
            .pvs
            .iter()
            .any(|p| p.name == "/dev/ubdc" && p.vg.is_none()));
    }

    #[test]
    fn inspection_runs_one_json_report() {
        use crate::ground::runner::{Output, Recorder};
        let rec = Recorder::new(|_: &Cmd| {
            Ok(Output {
                stdout: FULLREPORT.to_vec(),
                stderr: Vec::new(),
            })
        });
        let state = LvmState::read(&rec).unwrap();
        let calls: Vec<String> = rec.calls().iter().map(|c| c.join(" ")).collect();
        assert_eq!(
            calls,
            [format!(
                "lvm fullreport --reportformat json --units b --nosuffix \
                 --configreport pv -o {PV_FIELDS} --configreport vg -o {VG_FIELDS} \
                 --configreport lv -o {LV_FIELDS} --configreport seg -o seg_start \
                 --configreport pvseg -o pvseg_start"
            )]
        );
        assert_eq!(state.imgbased_vgs().len(), 1);
    }

    #[test]
    fn malformed_report_is_an_error_not_a_panic() {
        assert!(
            parse_report::<LvRow>(b"{\"report\": [{\"lv\": [{\"lv_name\": 1}]}]}", "lv").is_err()
        );
        assert!(parse_report::<LvRow>(b"garbage", "lv").is_err());
        assert!(parse_report::<LvRow>(b"{\"report\": []}", "lv")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn argv_golden() {
        assert_eq!(
            create_pool(
                "onn",
                "pool00",
                Bytes::gib(10),
                Bytes::gib(1),
                crate::plan::pool::CHUNK
            )
            .argv()
            .join(" "),
            "lvm lvcreate --type thin-pool --size 10737418240b --poolmetadatasize 1073741824b \
             --chunksize 65536b --metadataprofile imgbased-pool --addtag imgbased:pool --name pool00 onn"
        );
        assert_eq!(
            create_layer("onn", "n-1-1", "n-1-1+1").argv().join(" "),
            "lvm lvcreate --snapshot --setactivationskip n --activate y --name n-1-1+1 onn/n-1-1"
        );
        assert_eq!(
            commit_layer("onn", "n-1-1+1").argv().join(" "),
            "lvm lvchange --addtag imgbased:layer onn/n-1-1+1"
        );
        assert_eq!(
            protect_base("onn", "n-1-1").argv().join(" "),
            "lvm lvchange --permission r --setactivationskip y --addtag imgbased:base onn/n-1-1"
        );
        assert_eq!(
            create_thin(
                "onn",
                "pool00",
                "var_log",
                Bytes::gib(8),
                Some(names::TAG_VOLUME)
            )
            .argv()
            .join(" "),
            "lvm lvcreate --type thin --virtualsize 8589934592b --thinpool pool00 --name var_log \
             --addtag imgbased:volume onn"
        );
        assert_eq!(
            vgcreate("onn", &["/dev/vdb".into(), "/dev/vdc".into()])
                .argv()
                .join(" "),
            "lvm vgcreate --addtag imgbased:vg --addtag onn:unfinished onn /dev/vdb /dev/vdc"
        );
        assert_eq!(
            finish_vg("onn").argv().join(" "),
            "lvm vgchange --deltag onn:unfinished onn"
        );
        assert_eq!(
            grow_pool_metadata("vg", "pool00", Bytes::gib(1))
                .argv()
                .join(" "),
            "lvm lvextend --poolmetadatasize 1073741824b vg/pool00"
        );
        assert_eq!(
            untag_pool("vg", "pool00").argv().join(" "),
            "lvm lvchange --deltag imgbased:pool vg/pool00"
        );
        assert_eq!(
            untag_vg("vg").argv().join(" "),
            "lvm vgchange --deltag imgbased:vg vg"
        );
    }
}
