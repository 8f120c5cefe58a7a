use super::*;
use crate::boot::efi::{EfiFacts, EfiFile};
use crate::boot::Kernel;
use crate::ground::error::{id_of, kind_of, Kind};
use crate::image::nvr::Nvr;
use crate::image::Layout;
use crate::storage::blockdev::Device;
use crate::storage::lvm::{Lv, LvKind, LvmState, Pv};

pub(crate) fn disk(path: &str, gib: u64) -> Device {
    Device {
        given: path.into(),
        path: path.into(),
        size: Bytes::gib(gib),
        signature: None,
        partition_table: None,
        mounts: vec![],
        holders: vec![],
        busy: false,
        logical_sector: 512,
    }
}

pub(crate) fn image() -> ImageFacts {
    ImageFacts {
        path: "/srv/onn-demo.squashfs.img".into(),
        size: Bytes::mib(300),
        sha256: None,
        layout: Layout::Liveos,
        nvr: Nvr::parse("onn-demo-1.0-0.20261125.0").unwrap(),
        fs: Some(FsType::Ext4),
        rootfs_size: Bytes::mib(900),
        kernels: vec![Kernel {
            version: "6.1.0-28-amd64".into(),
            linux: "boot/vmlinuz-6.1.0-28-amd64".into(),
            initrd: "boot/initrd.img-6.1.0-28-amd64".into(),
        }],
        cmdline: "console=ttyS0".into(),
        warnings: Vec::new(),
        efi_files: vec![EfiFile {
            path: "EFI/BOOT/BOOTX64.EFI".into(),
            size: Bytes::mib(1),
        }],
        fs_sector: Some(4096),
        provenance: Default::default(),
    }
}

fn esp(free_mib: u64, fstype: &str) -> EfiFacts {
    EfiFacts {
        given: "/dev/vda1".into(),
        device: "/dev/vda1".into(),
        fstype: fstype.into(),
        free: Bytes::mib(free_mib),
        existing: Vec::new(),
    }
}

fn boot(gib: u64) -> BootFacts {
    BootFacts {
        given: "/dev/vda".into(),
        device: "/dev/vda".into(),
        size: Bytes::gib(gib),
        uuid: "0b7c5b4c-0000-4000-8000-000000000001".into(),
        fstype: "ext4".into(),
    }
}

fn fresh() -> Facts {
    Facts {
        lvm: LvmState::default(),
        devices: vec![disk("/dev/vdb", 20), disk("/dev/vdc", 20)],
        image: Some(image()),
        boot: Some(boot(1)),
        root_lv: None,
        root_volumes: Vec::new(),
        blank_volumes: Vec::new(),
        efi: None,
        node: Default::default(),
    }
}

fn install_request() -> Request {
    Request {
        image: Some("/srv/onn-demo.squashfs.img".into()),
        pvs: vec!["/dev/vdb".into(), "/dev/vdc".into()],
        boot: Some("/dev/vda".into()),
        ..Request::new(Action::Install)
    }
}

/// The state a completed install leaves (real lvm2 output, see tests/fixtures/README.md).
fn installed() -> Facts {
    let lvm = LvmState::parse(include_bytes!("../../tests/fixtures/fullreport.json")).unwrap();
    let mut devs = vec![disk("/dev/ubda", 8), disk("/dev/ubdb", 8)];
    for d in &mut devs {
        d.signature = Some("LVM2_member".into());
        d.busy = true; // its LVs are active
    }
    Facts {
        lvm,
        devices: devs,
        ..fresh()
    }
}

/// A copy of an LV's row, to make another like it.
fn lv_like(f: &Facts, name: &str) -> Lv {
    f.lvm.lvs.iter().find(|l| l.name == name).unwrap().clone()
}

/// The same VG and pool as an installer leaves them: no imgbased tags.
fn installer_made() -> Facts {
    let mut f = installed();
    for l in &mut f.lvm.lvs {
        l.tags.clear();
    }
    for v in &mut f.lvm.vgs {
        v.tags.clear();
    }
    f
}

fn refusal(req: &Request, facts: &Facts) -> &'static str {
    let err = plan(req, facts).unwrap_err();
    assert_eq!(kind_of(&err), Kind::Precondition, "{err:#}");
    id_of(&err)
}

#[test]
fn install_plan_golden() {
    let p = plan(&install_request(), &fresh()).unwrap();
    let json = serde_json::to_string_pretty(&p).unwrap() + "\n";
    let golden =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/plan-install.json");
    if std::env::var_os("ONN_UPDATE_GOLDEN").is_some() {
        std::fs::write(&golden, &json).unwrap();
    }
    assert_eq!(
        json,
        std::fs::read_to_string(&golden).unwrap(),
        "rerun with ONN_UPDATE_GOLDEN=1 and review the diff"
    );
    // What a reader of the golden file would check by eye:
    let ids: Vec<&str> = p.steps.iter().map(Step::id).collect();
    assert_eq!(
        ids,
        [
            "vg.create",
            "pool.create",
            "volume.create",
            "volume.create",
            "volume.create",
            "volume.create",
            "volume.create",
            "volume.create",
            "volume.create",
            "base.write",
            "layer.create",
            "layer.configure",
            "vg.finish",
            "boot.entry",
            "report.write"
        ]
    );
    assert!(p.pool_metadata >= Bytes::gib(1));
    assert_eq!(p.layer.as_deref(), Some("onn-demo-1.0-0.20261125.0+1"));
}

#[test]
fn plan_is_deterministic() {
    assert_eq!(
        plan(&install_request(), &fresh()).unwrap(),
        plan(&install_request(), &fresh()).unwrap()
    );
}

#[test]
fn minimal_volumes_and_none() {
    let mut req = install_request();
    req.volumes = VolumeSet::Minimal;
    let p = plan(&req, &fresh()).unwrap();
    assert_eq!(
        p.volumes
            .iter()
            .map(|v| v.mount.as_str())
            .collect::<Vec<_>>(),
        ["/var"]
    );
    assert_eq!(p.volumes[0].size, Bytes::gib(8));
}

/// The report goes to /var/log/onn on the volume that holds it, the volumes above it mounted
/// first; into the layer itself without one; and an installer's second apply writes none.
#[test]
fn the_install_report_is_written_last_onto_the_volume_that_holds_var_log() {
    let on = |volumes: VolumeSet, report: bool| {
        let req = Request {
            volumes,
            report,
            ..install_request()
        };
        let p = plan(&req, &fresh()).unwrap();
        match p.steps.last() {
            Some(Step::WriteReport { layer, volumes, .. }) => {
                assert_eq!(Some(layer), p.layer.as_ref());
                Some(volumes.iter().map(|v| v.lv.clone()).collect::<Vec<_>>())
            }
            _ => None,
        }
    };
    assert_eq!(on(VolumeSet::Default, true).unwrap(), ["var", "var_log"]);
    assert_eq!(on(VolumeSet::Minimal, true).unwrap(), ["var"]);
    assert!(on(VolumeSet::None, true).unwrap().is_empty());
    assert_eq!(on(VolumeSet::Default, false), None);
}

#[test]
fn rerun_of_a_completed_install_creates_nothing() {
    let mut req = install_request();
    req.pvs = vec!["/dev/ubda".into(), "/dev/ubdb".into()];
    req.volumes = VolumeSet::Minimal;
    let p = plan(&req, &installed()).unwrap();
    let ids: Vec<&str> = p.steps.iter().map(Step::id).collect();
    // Only the idempotent rewrites of the layer's files and boot entry remain, and the run's
    // own report.
    assert_eq!(ids, ["layer.configure", "boot.entry", "report.write"]);
    assert!(p
        .present
        .iter()
        .any(|s| s == "base onn-demo-1.0-0.20261125.0"));
    assert!(p
        .present
        .iter()
        .any(|s| s == "layer onn-demo-1.0-0.20261125.0+1"));
}

#[test]
fn refuses_disks_that_hold_data() {
    let req = install_request();
    type Spoil = fn(&mut Device);
    let cases: [(Spoil, &str); 6] = [
        (|d| d.mounts = vec!["/mnt".into()], "pv.mounted"),
        (|d| d.holders = vec!["dm-0".into()], "pv.in-use"),
        (|d| d.busy = true, "pv.in-use"),
        (|d| d.partition_table = Some("gpt".into()), "pv.partitioned"),
        (|d| d.signature = Some("ext4".into()), "pv.signature"),
        (|d| d.signature = Some("xfs".into()), "pv.signature"),
    ];
    for (spoil, id) in cases {
        let mut f = fresh();
        spoil(&mut f.devices[1]);
        assert_eq!(refusal(&req, &f), id);
    }
    let mut f = fresh();
    f.devices[0].signature = Some("LVM2_member".into());
    f.lvm.pvs.push(Pv {
        name: "/dev/vdb".into(),
        vg: Some("data".into()),
        size: Bytes::gib(20),
    });
    assert_eq!(refusal(&req, &f), "pv.other-vg");
}

#[test]
fn refuses_an_existing_imgbased_vg_on_other_disks() {
    let f = Facts {
        devices: vec![disk("/dev/vdb", 20), disk("/dev/vdc", 20)],
        ..installed()
    };
    assert_eq!(refusal(&install_request(), &f), "vg.imgbased-exists");
    let mut req = install_request();
    req.vg = Some("other".into());
    assert_eq!(refusal(&req, &f), "vg.imgbased-exists");
}

#[test]
fn refuses_small_boot_small_disks_and_large_images() {
    let mut f = fresh();
    f.boot = Some(boot(0));
    assert_eq!(refusal(&install_request(), &f), "boot.too-small");
    // A /boot that is one of the LVs, by either of its names, however large.
    let f = installer_made();
    let lv = lv_like(&f, "var");
    for device in [
        format!("/dev/{}/{}", lv.vg, lv.name),
        format!("/dev/mapper/{}", names::dm_name(&lv.vg, &lv.name)),
    ] {
        let mut on_lvm = f.clone();
        on_lvm.boot = Some(BootFacts { device, ..boot(4) });
        assert_eq!(refusal(&install_request(), &on_lvm), "boot.on-lvm");
    }

    let mut f = fresh();
    f.devices = vec![disk("/dev/vdb", 1), disk("/dev/vdc", 1)];
    assert_eq!(refusal(&install_request(), &f), "disk.too-small");

    let mut f = fresh();
    f.image.as_mut().unwrap().rootfs_size = Bytes::gib(30);
    let id = refusal(&install_request(), &f);
    assert_eq!(id, "pool.too-small");
    let msg = format!("{:#}", plan(&install_request(), &f).unwrap_err());
    assert!(
        msg.contains("onn-demo-1.0-0.20261125.0") && msg.contains("30 GiB"),
        "{msg}"
    );
}

#[test]
fn refuses_images_without_kernel_and_fs_mismatch() {
    let mut f = fresh();
    f.image.as_mut().unwrap().kernels.clear();
    assert_eq!(refusal(&install_request(), &f), "image.no-kernel");
    let mut req = install_request();
    req.fs = Some(FsType::Xfs);
    assert_eq!(refusal(&req, &fresh()), "fs.mismatch");
    let mut req = install_request();
    req.kernel_args = vec!["a b".into()];
    assert_eq!(refusal(&req, &fresh()), "kernel-arg.invalid");
}

#[test]
fn second_base_and_next_layer() {
    let mut f = installed();
    let mut img = image();
    img.nvr = Nvr::parse("onn-demo-1.1-0.20261125.0").unwrap();
    img.rootfs_size = Bytes::mib(200);
    f.image = Some(img);
    let req = Request {
        image: Some("/srv/b.img".into()),
        ..Request::new(Action::AddBase)
    };
    let p = plan(&req, &f).unwrap();
    assert_eq!(p.steps.len(), 1);
    match &p.steps[0] {
        // The new base is as large as the existing one (imgbased sizes new bases that way).
        Step::WriteBase { lv, size, .. } => {
            assert_eq!(lv, "onn-demo-1.1-0.20261125.0");
            assert_eq!(*size, Bytes::gib(10));
        }
        s => panic!("unexpected {s:?}"),
    }

    let req = Request {
        boot: Some("/boot".into()),
        ..Request::new(Action::AddLayer)
    };
    let p = plan(&req, &installed()).unwrap();
    assert_eq!(
        p.steps[0],
        Step::CreateLayer {
            vg: "onn".into(),
            origin: "onn-demo-1.0-0.20261125.0+1".into(),
            layer: "onn-demo-1.0-0.20261125.0+2".into(),
            replace: false,
        }
    );
    // Layers see the existing data volume.
    assert!(
        matches!(&p.steps[1], Step::ConfigureLayer { volumes, .. } if volumes[0].mount == "/var")
    );

    let req = Request {
        boot: Some("/boot".into()),
        base: Some("onn-demo-9-9".into()),
        ..Request::new(Action::AddLayer)
    };
    let err = plan(&req, &installed()).unwrap_err();
    assert_eq!(kind_of(&err), Kind::NotFound);
}

#[test]
fn adopt_needs_separate_var_and_tags_pool() {
    let mut f = installer_made();
    let req = Request {
        adopt: true,
        vg: Some("onn".into()),
        volumes: VolumeSet::None,
        ..Request::new(Action::Layout)
    };
    let p = plan(&req, &f).unwrap();
    let ids: Vec<&str> = p.steps.iter().map(Step::id).collect();
    assert_eq!(ids, ["vg.adopt", "pool.adopt"]);
    // The default set adds the NIST volumes the VG lacks.
    let default = Request {
        volumes: VolumeSet::Default,
        ..req.clone()
    };
    let p = plan(&default, &f).unwrap();
    assert_eq!(p.volumes.len(), 7);
    assert!(p.steps.iter().any(|s| s.id() == "volume.create"));
    let bigger = Request {
        pool_metadata: Some(Bytes::gib(2)),
        ..req.clone()
    };
    let p = plan(&bigger, &f).unwrap();
    assert_eq!(p.pool_metadata, Bytes::gib(2));
    assert!(
        matches!(&p.steps[1], Step::AdoptPool { grow_metadata_to: Some(g), .. } if *g == Bytes::gib(2))
    );
    let small = Request {
        pool_metadata: Some(Bytes::mib(512)),
        ..req.clone()
    };
    assert_eq!(refusal(&small, &f), "pool-metadata.too-small");
    let mut small_var = f.clone();
    for l in &mut small_var.lvm.lvs {
        if l.name == "var" {
            l.size = Bytes(volumes::VAR_MIN.0 - (1 << 20));
        }
    }
    assert_eq!(refusal(&req, &small_var), "var.too-small");
    f.lvm.lvs.retain(|l| l.name != "var");
    assert_eq!(refusal(&req, &f), "var.not-separate");
}

#[test]
fn the_installers_root_names_the_vg_and_pool_to_adopt() {
    let mut f = installer_made();
    let mut root = lv_like(&f, "var");
    root.name = "root".into();
    f.root_lv = Some(root.clone());
    let req = Request {
        adopt: true,
        root: Some("/mnt/sysimage".into()),
        ..Request::new(Action::Layout)
    };
    f.root_volumes = vec![PlannedVolume {
        lv: "var".into(),
        mount: "/var".into(),
        size: lv_like(&f, "var").size,
    }];
    let minimal = Request {
        volumes: VolumeSet::Minimal,
        ..req.clone()
    };
    let p = plan(&minimal, &f).unwrap();
    assert_eq!((p.vg.as_str(), p.pool.as_str()), ("onn", "pool00"));
    assert_eq!(p.request.vg.as_deref(), Some("onn"));
    // The installer's mounted volumes are the layer's data volumes; with volumes = minimal,
    // /var is the installer's, not a second one, and nothing is created.
    assert_eq!(p.volumes, f.root_volumes);
    assert!(!p.steps.iter().any(|s| s.id() == "volume.create"));
    // The default set completes them with the NIST volumes the installer did not make.
    let p = plan(&req, &f).unwrap();
    let mounts: Vec<&str> = p.volumes.iter().map(|v| v.mount.as_str()).collect();
    assert_eq!(
        mounts,
        [
            "/home",
            "/tmp",
            "/var",
            "/var/crash",
            "/var/log",
            "/var/log/audit",
            "/var/tmp"
        ]
    );
    assert_eq!(p.volumes[2], f.root_volumes[0]);
    let created = p.steps.iter().filter(|s| s.id() == "volume.create").count();
    assert_eq!(created, 6);
    let none = Request {
        volumes: VolumeSet::None,
        ..req.clone()
    };
    assert_eq!(plan(&none, &f).unwrap().volumes, f.root_volumes);

    let other = Request {
        vg: Some("data".into()),
        ..req.clone()
    };
    assert_eq!(refusal(&other, &f), "root.other-vg");
    let not_adopting = Request {
        adopt: false,
        ..req.clone()
    };
    assert_eq!(refusal(&not_adopting, &f), "root.needs-adopt");
    root.kind = LvKind::Other;
    f.root_lv = Some(root);
    assert_eq!(refusal(&req, &f), "root.not-thin");
}

#[test]
fn an_unfinished_base_is_replaced_but_a_foreign_lv_is_refused() {
    let mut f = installed();
    let mut img = image();
    img.nvr = Nvr::parse("onn-demo-1.1-0.20261125.0").unwrap();
    f.image = Some(img);
    // A killed run leaves the LV without its commit tag.
    let mut unfinished = lv_like(&f, "var");
    unfinished.name = "onn-demo-1.1-0.20261125.0".into();
    unfinished.tags.clear();
    f.lvm.lvs.push(unfinished);
    let req = Request {
        image: Some("/srv/b.img".into()),
        ..Request::new(Action::AddBase)
    };
    let p = plan(&req, &f).unwrap();
    assert!(
        matches!(&p.steps[0], Step::WriteBase { replace: true, .. }),
        "{:?}",
        p.steps
    );
    // Someone else's LV of that name (tagged, or outside the pool) is never removed.
    f.lvm.lvs.last_mut().unwrap().tags = vec!["keep".into()];
    assert_eq!(refusal(&req, &f), "base.name-taken");
}

#[test]
fn an_interrupted_install_is_resumed_where_it_stopped() {
    // What an install killed after its layer's snapshot leaves: the VG still marked
    // unfinished, the layer without its commit tag, /var made but never formatted.
    let mut f = installed();
    f.lvm.vgs[0].tags.push(names::TAG_UNFINISHED.into());
    let layer = f
        .lvm
        .lvs
        .iter_mut()
        .find(|l| l.has_tag(names::TAG_LAYER))
        .unwrap();
    layer.tags.clear();
    f.blank_volumes = vec!["onn/var".into()];
    let mut req = install_request();
    req.pvs = vec!["/dev/ubda".into(), "/dev/ubdb".into()];
    req.volumes = VolumeSet::Minimal;
    let p = plan(&req, &f).unwrap();
    let ids: Vec<&str> = p.steps.iter().map(Step::id).collect();
    assert_eq!(
        ids,
        [
            "volume.format",
            "layer.create",
            "layer.configure",
            "vg.finish",
            "boot.entry",
            "report.write"
        ]
    );
    assert_eq!(
        p.steps[1],
        Step::CreateLayer {
            vg: "onn".into(),
            origin: "onn-demo-1.0-0.20261125.0".into(),
            layer: "onn-demo-1.0-0.20261125.0+1".into(),
            replace: true,
        }
    );
    // A finished VG is never marked again, and someone's LV named like the layer is kept.
    f.lvm.vgs[0].tags.retain(|t| t != names::TAG_UNFINISHED);
    assert!(!plan(&req, &f)
        .unwrap()
        .steps
        .iter()
        .any(|s| s.id() == "vg.finish"));
    let layer = f
        .lvm
        .lvs
        .iter_mut()
        .find(|l| l.name.ends_with("+1"))
        .unwrap();
    layer.tags = vec!["keep".into()];
    assert_eq!(refusal(&req, &f), "layer.name-taken");
}

fn efi_install(e: EfiFacts) -> (Request, Facts) {
    let req = Request {
        efi: Some(e.given.clone()),
        ..install_request()
    };
    let facts = Facts {
        efi: Some(e),
        ..fresh()
    };
    (req, facts)
}

#[test]
fn a_filesystem_that_reads_smaller_units_than_the_disks_sectors_is_refused() {
    let mut facts = fresh();
    for d in &mut facts.devices {
        d.logical_sector = 4096;
    }
    // ext4 with 4 KiB blocks mounts from 4Kn disks.
    assert!(plan(&install_request(), &facts).is_ok());
    // xfs made with 512-byte sectors does not.
    facts.image.as_mut().unwrap().fs_sector = Some(512);
    assert_eq!(refusal(&install_request(), &facts), "fs.sector-size");
    // One 4Kn disk among 512-byte ones is enough: the LV gets the largest sector.
    facts.devices[0].logical_sector = 512;
    assert_eq!(refusal(&install_request(), &facts), "fs.sector-size");
}

#[test]
fn an_esp_gets_the_image_efi_files_after_the_layer_and_before_the_entry() {
    let (req, facts) = efi_install(esp(200, "vfat"));
    let ids: Vec<_> = plan(&req, &facts)
        .unwrap()
        .steps
        .iter()
        .map(Step::id)
        .collect();
    assert_eq!(
        &ids[ids.len() - 5..],
        [
            "layer.configure",
            "efi.files",
            "vg.finish",
            "boot.entry",
            "report.write"
        ]
    );
    assert!(!plan(&install_request(), &fresh())
        .unwrap()
        .steps
        .iter()
        .any(|s| s.id() == "efi.files"));
}

#[test]
fn an_esp_that_is_not_fat_too_full_or_an_image_without_efi_files_is_refused() {
    let (req, facts) = efi_install(esp(200, "ext4"));
    assert_eq!(refusal(&req, &facts), "efi.not-vfat");
    let (req, facts) = efi_install(esp(0, "vfat"));
    assert_eq!(refusal(&req, &facts), "efi.too-small");
    let (req, mut facts) = efi_install(esp(200, "vfat"));
    facts.image.as_mut().unwrap().efi_files.clear();
    assert_eq!(refusal(&req, &facts), "image.no-efi");
    // Only an install puts them there.
    let layer = Request {
        efi: Some("/dev/vda1".into()),
        ..Request::new(Action::AddLayer)
    };
    assert_eq!(refusal(&layer, &installed()), "request.conflict");
}

#[test]
fn every_step_kind_is_planned_somewhere_and_named_alike_in_json_and_progress() {
    let mut steps = plan(&install_request(), &fresh()).unwrap().steps;
    let (req, facts) = efi_install(esp(200, "vfat"));
    steps.extend(plan(&req, &facts).unwrap().steps);
    let adopt = Request {
        adopt: true,
        vg: Some("onn".into()),
        volumes: VolumeSet::None,
        ..Request::new(Action::Layout)
    };
    steps.extend(plan(&adopt, &installer_made()).unwrap().steps);
    let mut blank = installed();
    blank.blank_volumes = vec!["onn/var".into()];
    let rerun = Request {
        pvs: vec!["/dev/ubda".into(), "/dev/ubdb".into()],
        ..install_request()
    };
    steps.extend(plan(&rerun, &blank).unwrap().steps);
    steps.extend(wipe(&["/dev/ubda", "/dev/ubdb"], |_| {}).unwrap().steps);
    let kinds: std::collections::BTreeSet<&str> = steps.iter().map(Step::id).collect();
    let declared: std::collections::BTreeSet<&str> = Step::IDS.iter().copied().collect();
    assert_eq!(kinds, declared, "one plan or another has each step kind");
    // The addon translates every progress id (onn.STEP_IDS): each step's is one of them.
    let ids = progress_ids();
    assert!(declared.iter().all(|id| ids.contains(id)), "{ids:?}");
    // One name for a step: the plan's JSON says what progress events say.
    for s in &steps {
        assert_eq!(serde_json::to_value(s).unwrap()["step"], s.id());
    }
}

#[test]
fn installer_storage_read_from_json_plans_like_inspected_facts() {
    // The shape onn.plan_for_installer takes: the installer's devices in its own terms.
    let json = r#"{
        "root": {"name": "root", "size": 21474836480, "mount": "/", "thin": true},
        "vg": {"name": "onn", "size": 42949672960, "free": 4294967296},
        "pool": {"name": "pool00", "size": 34359738368},
        "volumes": [{"name": "var", "size": 16106127360, "mount": "/var", "thin": true}],
        "boot": {"device": "/dev/vda1", "size": 1073741824}
    }"#;
    let storage: super::InstallerStorage = serde_json::from_str(json).unwrap();
    let facts = storage.facts(Some(image()));
    let req = Request {
        adopt: true,
        root: Some("/mnt/sysimage".into()),
        image: Some(image().path),
        boot: Some("/dev/vda1".into()),
        volumes: VolumeSet::Minimal,
        ..Request::new(Action::Install)
    };
    let p = plan(&req, &facts).unwrap();
    assert_eq!((p.vg.as_str(), p.pool.as_str()), ("onn", "pool00"));
    assert_eq!(p.base.as_deref(), Some("onn-demo-1.0-0.20261125.0"));
    assert_eq!(p.layer.as_deref(), Some("onn-demo-1.0-0.20261125.0+1"));
    assert_eq!(p.volumes.len(), 1);
    assert!(serde_json::from_str::<super::InstallerStorage>(
        r#"{"root": {"name": "r", "size": 1}, "disks": []}"#
    )
    .is_err());
}

/// `--wipe` of the completed install on /dev/ubda and /dev/ubdb (the disks held by its VG's
/// devices, as an active VG holds them).
fn wipe(pvs: &[&str], change: impl FnOnce(&mut Facts)) -> Result<Plan> {
    let mut f = installed();
    for d in &mut f.devices {
        d.holders = vec!["/dev/mapper/onn-pool00_tdata (dm-1)".into()];
    }
    change(&mut f);
    let req = Request {
        pvs: pvs.iter().map(|p| p.to_string()).collect(),
        volumes: VolumeSet::Minimal,
        wipe: true,
        ..install_request()
    };
    plan(&req, &f)
}

#[test]
fn wipe_removes_the_node_first_then_installs_onto_the_disks_it_frees() {
    let p = wipe(&["/dev/ubda", "/dev/ubdb"], |_| {}).unwrap();
    let ids: Vec<&str> = p.steps.iter().map(Step::id).collect();
    assert_eq!(
        ids[..4],
        [
            "node.boot-remove",
            "node.remove",
            "vg.create",
            "pool.create"
        ]
    );
    let Step::RemoveNode { vg, pvs, lvs } = &p.steps[1] else {
        panic!("{:?}", p.steps[1]);
    };
    assert_eq!(
        (vg.as_str(), pvs.clone()),
        ("onn", vec!["/dev/ubda".to_string(), "/dev/ubdb".into()])
    );
    assert!(lvs.contains(&"pool00".to_string()) && lvs.contains(&"var".to_string()));
    let Step::RemoveBootFiles { layers, .. } = &p.steps[0] else {
        panic!("{:?}", p.steps[0]);
    };
    assert!(layers.iter().all(|l| l.ends_with("+1")) && !layers.is_empty());
    // Without --wipe the same disks are not free: the Node's VG is resumed as onn's own.
    assert!(!plan(
        &Request {
            pvs: vec!["/dev/ubda".into(), "/dev/ubdb".into()],
            volumes: VolumeSet::Minimal,
            ..install_request()
        },
        &installed()
    )
    .unwrap()
    .steps
    .iter()
    .any(|s| s.id().starts_with("node.")));
}

#[test]
fn wipe_refuses_a_node_that_is_not_all_imgbased_or_not_all_on_the_disks_named() {
    let id = |r: Result<Plan>| id_of(&r.unwrap_err());
    assert_eq!(id(wipe(&["/dev/ubda"], |_| {})), "wipe.other-disk");
    assert_eq!(
        id(wipe(&["/dev/ubda", "/dev/ubdb"], |f| {
            let mut data = lv_like(f, "var");
            data.name = "data".into();
            data.tags.clear();
            data.kind = LvKind::Other;
            f.lvm.lvs.push(data);
        })),
        "wipe.foreign-lv"
    );
    assert_eq!(
        id(wipe(&["/dev/ubda", "/dev/ubdb"], |f| {
            f.node.storage_domains = vec!["onn/var:/data/__DIRECT_IO_TEST__".into()];
        })),
        "wipe.storage-domain"
    );
    assert_eq!(
        id(wipe(&["/dev/ubda", "/dev/ubdb"], |f| {
            f.node.in_use = vec!["onn/var mounted on /var".into()];
        })),
        "pv.in-use"
    );
    // An untagged base or layer in the pool is what an interrupted onn left: onn's to remove.
    assert!(wipe(&["/dev/ubda", "/dev/ubdb"], |f| {
        let mut left = lv_like(f, "var");
        left.name = "onn-demo-1.1-0.20261125.0".into();
        left.tags.clear();
        f.lvm.lvs.push(left);
    })
    .is_ok());
    // Only an install wipes.
    let req = Request {
        pvs: vec!["/dev/ubda".into()],
        wipe: true,
        ..Request::new(Action::Layout)
    };
    assert_eq!(id(plan(&req, &installed())), "request.conflict");
}
