//! Dom0 tree tests: real trees through the plan and the writer, then read back.

use alloc::string::String;
use alloc::vec::Vec;
use alloc::{format, vec};

use super::*;
use crate as plan;
use crate::tests::{blob, c, n, s, synthetic};
use crate::{Keep, PlanOptions};
use snowvisor_dt::testing::{EXYNOS5250_SNOW_DTB, QEMU_VIRT_MODULES_DTB, QEMU_VIRT_SMMUV3_DTB};

fn params(tree: &HostTree<'_>, plan: &Plan) -> Dom0Params<'static> {
    let f = &plan.gic.as_ref().unwrap().frames;
    Dom0Params {
        memory: vec![Region {
            base: 0x4000_0000,
            size: 0x2000_0000,
        }],
        bootargs: "console=hvc0 earlycon=xenboot",
        initrd: tree
            .modules()
            .iter()
            .find(|m| m.kind == snowvisor_dt::ModuleKind::Ramdisk)
            .map(|m| m.region),
        gic: Some(GicView {
            gicd: f[0],
            gicc_as_seen: Region {
                base: f[1].base,
                size: f[3].size,
            },
        }),
        hypervisor_node: Some(HypervisorNode {
            version: (4, 17),
            grant_table: Region {
                base: 0x3800_0000,
                size: 0x4_0000,
            },
            evtchn_intid: 31,
        }),
        cpus: Vec::new(),
    }
}

/// Builds Dom0's tree for `dtb` with `iommu=` options, returns (input, output) blobs.
fn dom0_of(dtb: &[u8], iommu: Option<&str>, keep_console: bool) -> Vec<u8> {
    let t = HostTree::new(dtb).unwrap();
    let keep = if keep_console {
        Keep::none().console(&t)
    } else {
        Keep::none()
    };
    let p = plan::make(&t, &PlanOptions::parse(iommu, None).0, &keep).unwrap();
    build(&t, &p, &params(&t, &p)).unwrap()
}

struct Out<'t, 'a> {
    x: &'t NodeIndex<'a>,
}

impl<'t, 'a> Out<'t, 'a> {
    fn new(t: &'t HostTree<'a>) -> Self {
        Out {
            x: t.index().check_phandles().unwrap(),
        }
    }
    fn node(&self, path: &str) -> usize {
        self.x
            .by_path(path)
            .unwrap_or_else(|| panic!("{path} missing"))
    }
    fn cells(&self, path: &str, prop: &'static str) -> Option<Vec<u32>> {
        self.x.cells(self.node(path), prop).unwrap()
    }
}

/// Every node that survives keeps its phandle, and all phandle users resolve.
fn phandles_intact(input: &[u8], output: &[u8]) {
    let (ti, to) = (
        HostTree::new(input).unwrap(),
        HostTree::new(output).unwrap(),
    );
    let (xi, xo) = (ti.index(), to.index());
    for i in 0..xo.len() {
        if let (Some(ph), Some(j)) = (xo.phandle_of(i), xi.by_path(xo.path(i))) {
            assert_eq!(xi.phandle_of(j), Some(ph), "{}", xo.path(i));
        }
    }
    plan::make(&to, &PlanOptions::default(), &Keep::none()).expect("output tree plans cleanly");
}

const SNOW_MASTERS: &[&str] = &[
    "/soc/fimd@14400000",
    "/soc/mixer@14450000",
    "/soc/g2d@10850000",
    "/soc/codec@11000000",
    "/soc/rotator@11c00000",
    "/soc/gsc@13e00000",
    "/soc/gsc@13e30000",
];

#[test]
fn snow_default_drops_sysmmus_and_cleans_masters() {
    let out = dom0_of(EXYNOS5250_SNOW_DTB, None, false);
    let t = HostTree::new(&out).unwrap();
    let o = Out::new(&t);
    assert!(!o.x.nodes.iter().any(|n| n.name.starts_with("sysmmu@")));
    for m in SNOW_MASTERS {
        let i = o.node(m);
        assert!(!o.x.has(i, "iommus") && !o.x.has(i, "iommu-names"), "{m}");
    }
    assert!(!o
        .x
        .nodes
        .iter()
        .any(|n| n.props.iter().any(|p| p.name == "iommus")));
    phandles_intact(EXYNOS5250_SNOW_DTB, &out);
    // The rest of the contract: memory, chosen, PSCI, GIC, /hypervisor.
    assert_eq!(
        t.memory().unwrap(),
        [Region {
            base: 0x4000_0000,
            size: 0x2000_0000
        }]
    );
    let chosen = o.node("/chosen");
    assert_eq!(
        o.x.str_prop(chosen, "bootargs"),
        Some("console=hvc0 earlycon=xenboot")
    );
    assert_eq!(
        o.x.str_prop(chosen, "stdout-path"),
        Some("serial3:115200n8")
    );
    let psci = o.node("/psci");
    assert_eq!(
        o.x.strings(psci, "compatible"),
        ["arm,psci-1.0", "arm,psci-0.2", "arm,psci"]
    );
    assert_eq!(o.x.str_prop(psci, "method"), Some("hvc"));
    let gic = o.node("/soc/interrupt-controller@10481000");
    assert_eq!(
        o.cells("/soc/interrupt-controller@10481000", "reg")
            .unwrap(),
        [0x1048_1000, 0x1000, 0x1048_2000, 0x2000]
    );
    assert!(!o.x.has(gic, "interrupts") && o.x.has(gic, "interrupt-controller"));
    let hv = o.node("/hypervisor");
    assert_eq!(o.x.strings(hv, "compatible"), ["xen,xen-4.17", "xen,xen"]);
    assert_eq!(
        o.cells("/hypervisor", "reg").unwrap(),
        [0x3800_0000, 0x4_0000]
    );
    assert_eq!(
        o.cells("/hypervisor", "interrupts").unwrap(),
        [1, 15, 0xf08]
    );
    assert_eq!(o.x.u32_prop(hv, "interrupt-parent"), o.x.phandle_of(gic));
}

#[test]
fn snow_codec_keeps_the_sysmmu_still_passed_with_its_name() {
    // codec@11000000: iommus = <&sysmmu_mfc_l (0x1a)>, <&sysmmu_mfc_r (0x1b)>, names "left", "right".
    for (passed, ph, name) in [
        ("/soc/sysmmu@11210000", 0x1a, "left"),
        ("/soc/sysmmu@11200000", 0x1b, "right"),
    ] {
        let out = dom0_of(EXYNOS5250_SNOW_DTB, Some(&format!("pass:{passed}")), false);
        let t = HostTree::new(&out).unwrap();
        let o = Out::new(&t);
        assert_eq!(o.cells("/soc/codec@11000000", "iommus").unwrap(), [ph]);
        assert_eq!(
            o.x.strings(o.node("/soc/codec@11000000"), "iommu-names"),
            [name]
        );
        assert_eq!(o.x.phandle_of(o.node(passed)), Some(ph));
        assert!(!o.x.has(o.node("/soc/mixer@14450000"), "iommus"));
        phandles_intact(EXYNOS5250_SNOW_DTB, &out);
    }
}

#[test]
fn snow_pass_all_copies_iommus_unchanged() {
    let out = dom0_of(
        EXYNOS5250_SNOW_DTB,
        Some("pass:samsung,exynos-sysmmu"),
        false,
    );
    let (ti, to) = (
        HostTree::new(EXYNOS5250_SNOW_DTB).unwrap(),
        HostTree::new(&out).unwrap(),
    );
    let (xi, xo) = (ti.index(), to.index());
    assert_eq!(
        xo.nodes
            .iter()
            .filter(|n| n.name.starts_with("sysmmu@"))
            .count(),
        23
    );
    for m in SNOW_MASTERS {
        let (i, j) = (xi.by_path(m).unwrap(), xo.by_path(m).unwrap());
        assert_eq!(xi.prop(i, "iommus"), xo.prop(j, "iommus"), "{m}");
        assert_eq!(xi.prop(i, "iommu-names"), xo.prop(j, "iommu-names"), "{m}");
    }
}

#[test]
fn qemu_modules_chosen_and_memreserve() {
    let out = dom0_of(QEMU_VIRT_MODULES_DTB, None, false);
    let t = HostTree::new(&out).unwrap();
    let o = Out::new(&t);
    assert!(t.modules().is_empty());
    let chosen = o.node("/chosen");
    assert!(!o.x.nodes.iter().any(|n| n.name.starts_with("module@")));
    assert_eq!(
        o.cells("/chosen", "linux,initrd-start").unwrap(),
        [0, 0x4400_0000]
    );
    assert_eq!(
        o.cells("/chosen", "linux,initrd-end").unwrap(),
        [0, 0x4400_2000]
    );
    assert!(!o
        .x
        .nodes
        .get(chosen)
        .unwrap()
        .props
        .iter()
        .any(|p| p.name.starts_with("xen,")));
    // QEMU's PSCI node is rewritten in place, phandle-free as it was.
    assert_eq!(o.x.str_prop(o.node("/psci"), "method"), Some("hvc"));
    assert_eq!(
        o.cells("/intc@8000000", "reg").unwrap(),
        [0, 0x800_0000, 0, 0x1_0000, 0, 0x801_0000, 0, 0x1_0000]
    );
    assert!(o.x.by_path("/intc@8000000/v2m@8020000").is_some());
    phandles_intact(QEMU_VIRT_MODULES_DTB, &out);
}

#[test]
fn qemu_smmuv3_owned_or_hidden_drops_the_iommu_map() {
    for rule in [None, Some("hide:arm,smmu-v3")] {
        let out = dom0_of(QEMU_VIRT_SMMUV3_DTB, rule, false);
        let t = HostTree::new(&out).unwrap();
        let o = Out::new(&t);
        assert!(o.x.by_path("/smmuv3@9050000").is_none(), "{rule:?}");
        let pcie = o.node("/pcie@10000000");
        assert!(!o.x.has(pcie, "iommu-map") && o.x.has(pcie, "msi-map"));
        phandles_intact(QEMU_VIRT_SMMUV3_DTB, &out);
    }
    // Passed, it stays.
    let out = dom0_of(QEMU_VIRT_SMMUV3_DTB, Some("pass:arm,smmu-v3"), false);
    let t = HostTree::new(&out).unwrap();
    let o = Out::new(&t);
    assert_eq!(
        o.cells("/pcie@10000000", "iommu-map").unwrap(),
        [0, 0x8004, 0, 0x10000]
    );
}

#[test]
fn a_kept_console_leaves_dom0s_tree_with_its_stdout_path() {
    let out = dom0_of(QEMU_VIRT_SMMUV3_DTB, None, true);
    let t = HostTree::new(&out).unwrap();
    let o = Out::new(&t);
    assert!(o.x.by_path("/pl011@9000000").is_none());
    assert!(!o.x.has(o.node("/chosen"), "stdout-path"));
}

#[test]
fn synthetic_embedded_iommu_overlays_and_host_xen_node() {
    let mc = n(
        "memory-controller@7000f000",
        vec![
            ("compatible", s("nvidia,tegra124-mc")),
            ("#iommu-cells", c(&[1])),
            ("phandle", c(&[7])),
        ],
        vec![],
    );
    let dma = n(
        "dma@1000000",
        vec![
            ("iommus", c(&[7, 3])),
            ("iommu-names", s("dma")),
            ("reg", c(&[0x100_0000, 0x1000])),
        ],
        vec![],
    );
    let host_xen = n(
        "hypervisor",
        vec![("compatible", s("xen,xen-4.2\0xen,xen"))],
        vec![],
    );
    let symbols = n(
        "__symbols__",
        vec![("mc", s("/memory-controller@7000f000"))],
        vec![],
    );
    let aliases = n(
        "aliases",
        vec![
            ("serial0", s("/gone@1")),
            ("mc", s("/memory-controller@7000f000")),
            ("dma0", s("/dma@1000000")),
        ],
        vec![],
    );
    let dtb = synthetic(vec![mc, dma, host_xen, symbols, aliases]);
    let out = {
        let t = HostTree::new(&dtb).unwrap();
        let p = plan::make(
            &t,
            &PlanOptions::default(),
            &Keep::none().node("/dma@1000000"),
        )
        .unwrap();
        let mut d = params(&t, &p);
        d.hypervisor_node = None;
        build(&t, &p, &d).unwrap()
    };
    let t = HostTree::new(&out).unwrap();
    let o = Out::new(&t);
    assert!(o.x.by_path("/memory-controller@7000f000").is_some());
    assert!(o.x.by_path("/dma@1000000").is_none() && o.x.by_path("/hypervisor").is_none());
    assert!(o.x.by_path("/__symbols__").is_none());
    let aliases = o.node("/aliases");
    assert!(o.x.has(aliases, "serial0") && o.x.has(aliases, "mc") && !o.x.has(aliases, "dma0"));
    // Same tree, the master kept: it loses its only IOMMU reference and its name.
    let t = HostTree::new(&dtb).unwrap();
    let p = plan::make(&t, &PlanOptions::default(), &Keep::none()).unwrap();
    let out = build(&t, &p, &params(&t, &p)).unwrap();
    let t2 = HostTree::new(&out).unwrap();
    let o = Out::new(&t2);
    let dma = o.node("/dma@1000000");
    assert!(!o.x.has(dma, "iommus") && !o.x.has(dma, "iommu-names"));
    assert_eq!(
        o.x.strings(o.node("/hypervisor"), "compatible"),
        ["xen,xen-4.17", "xen,xen"]
    );
    assert_eq!(
        o.x.nodes.iter().filter(|n| n.name == "hypervisor").count(),
        1
    );
}

#[test]
fn bad_parameters_are_named() {
    let t = HostTree::new(EXYNOS5250_SNOW_DTB).unwrap();
    let p = plan::make(&t, &PlanOptions::default(), &Keep::none()).unwrap();
    let mut d = params(&t, &p);
    d.memory.push(Region {
        base: 0x1_0000_0000,
        size: 0x1000,
    });
    let e = build(&t, &p, &d).unwrap_err();
    assert_eq!(
        format!("{e}"),
        "dom0 device tree: memory bank 0x100000000 does not fit 1 cell(s)"
    );
    let mut d = params(&t, &p);
    d.memory.clear();
    assert_eq!(build(&t, &p, &d).unwrap_err(), Dom0DtError::NoMemory);
    let mut d = params(&t, &p);
    d.hypervisor_node = d.hypervisor_node.map(|h| HypervisorNode {
        evtchn_intid: 40,
        ..h
    });
    assert_eq!(
        format!("{}", build(&t, &p, &d).unwrap_err()),
        "dom0 device tree: event-channel interrupt 40 is not a PPI (16..=31)"
    );
}

#[test]
fn gic_behind_a_translating_bus() {
    let gic = n(
        "interrupt-controller@1000",
        vec![
            ("compatible", s("arm,gic-400")),
            ("interrupt-controller", vec![]),
            ("#interrupt-cells", c(&[3])),
            (
                "reg",
                c(&[
                    0x1000, 0x1000, 0x2000, 0x2000, 0x4000, 0x2000, 0x6000, 0x2000,
                ]),
            ),
            ("phandle", c(&[1])),
        ],
        vec![],
    );
    let bus = n(
        "soc",
        vec![
            ("#address-cells", c(&[1])),
            ("#size-cells", c(&[1])),
            ("ranges", c(&[0, 0x2c00_0000, 0x1_0000])),
        ],
        vec![gic],
    );
    let mem = n(
        "memory@40000000",
        vec![
            ("device_type", s("memory")),
            ("reg", c(&[0x4000_0000, 0x1000_0000])),
        ],
        vec![],
    );
    let root = |kids| {
        blob(&n(
            "",
            vec![
                ("#address-cells", c(&[1])),
                ("#size-cells", c(&[1])),
                ("interrupt-parent", c(&[1])),
            ],
            kids,
        ))
    };
    let dtb = root(vec![mem, bus]);
    let t = HostTree::new(&dtb).unwrap();
    let p = plan::make(&t, &PlanOptions::default(), &Keep::none()).unwrap();
    assert_eq!(
        p.gic.as_ref().unwrap().frames[0],
        Region {
            base: 0x2c00_1000,
            size: 0x1000
        }
    );
    let out = build(&t, &p, &params(&t, &p)).unwrap();
    let t2 = HostTree::new(&out).unwrap();
    let o = Out::new(&t2);
    assert_eq!(
        o.cells("/soc/interrupt-controller@1000", "reg").unwrap(),
        [0x1000, 0x1000, 0x2000, 0x2000]
    );
    let mut d = params(&t, &p);
    d.gic = d.gic.map(|g| GicView {
        gicd: Region {
            base: 0x1234_0000,
            size: 0x1000,
        },
        ..g
    });
    let e: String = format!("{}", build(&t, &p, &d).unwrap_err());
    assert_eq!(
        e,
        "dom0 device tree: GIC frame 0x12340000 is outside the GIC parent bus's ranges"
    );
    // A GIC view (or a /hypervisor node) for a tree without a GIC.
    let bare = root(vec![]);
    let tb = HostTree::new(&bare).unwrap();
    let pb = plan::make(&tb, &PlanOptions::default(), &Keep::none()).unwrap();
    assert_eq!(
        build(&tb, &pb, &d).unwrap_err(),
        Dom0DtError::NoGic {
            what: "the GIC view"
        }
    );
    d.gic = None;
    assert_eq!(
        build(&tb, &pb, &d).unwrap_err(),
        Dom0DtError::NoGic {
            what: "the /hypervisor node"
        }
    );
}

#[test]
fn reserved_memory_is_listed_and_kept_for_dom0() {
    let dtb = snowvisor_dt::testing::with_reservations();
    let t = HostTree::new(&dtb).unwrap();
    let r = |base, size| Region { base, size };
    assert_eq!(
        t.reserved(),
        [
            snowvisor_dt::Reserved {
                what: "/reserved-memory/fw-carveout@48000000".into(),
                region: r(0x4800_0000, 0x20_0000),
                no_map: true,
            },
            snowvisor_dt::Reserved {
                what: "/memreserve/".into(),
                region: r(0x4a00_0000, 0x1000),
                no_map: false,
            },
        ]
    );
    // Dom0 sees the same reservations: the nodes (no-map kept) and the entry.
    let out = dom0_of(&dtb, None, false);
    let d = HostTree::new(&out).unwrap();
    assert_eq!(d.reserved(), t.reserved());
    let o = Out::new(&d);
    assert!(o.x.has(o.node("/reserved-memory/linux,cma"), "reusable"));
}

/// A master whose `iommus` names no node is passed to Dom0 as it is.
#[test]
fn odd_master_is_kept_unchanged() {
    let dtb = synthetic(vec![crate::tests::master(&[9, 0])]);
    let out = dom0_of(&dtb, None, false);
    let t = HostTree::new(&out).unwrap();
    let o = Out::new(&t);
    assert_eq!(o.cells("/dma@1000000", "iommus").unwrap(), [9, 0]);
}

/// Dom0's tree lists exactly the CPUs its vCPUs run on.
#[test]
fn cpus_are_dom0s_vcpus() {
    let t = HostTree::new(EXYNOS5250_SNOW_DTB).unwrap();
    let p = plan::make(&t, &PlanOptions::default(), &Keep::none()).unwrap();
    let maps = "/thermal-zones/cpu-thermal/cooling-maps";
    // One vCPU: cpu@1 goes, with the topology and its cooling entries.
    let mut d = params(&t, &p);
    d.cpus = plan::cpus::dom0_cpus(&plan::cpus::host_cpus(t.index()), 0, 1);
    assert_eq!(d.cpus, [0]);
    let out = build(&t, &p, &d).unwrap();
    let to = HostTree::new(&out).unwrap();
    let o = Out::new(&to);
    assert_eq!(to.cpu_count(), 1);
    assert!(o.x.by_path("/cpus/cpu@1").is_none());
    assert!(o.x.by_path("/cpus/cpu-map").is_none());
    let cpu0 = o.node("/cpus/cpu@0");
    assert_eq!(o.x.phandle_of(cpu0), Some(0x57));
    assert_eq!(
        o.cells(&format!("{maps}/map0"), "cooling-device").unwrap(),
        [0x57, 9, 9]
    );
    assert_eq!(
        o.cells(&format!("{maps}/map1"), "cooling-device").unwrap(),
        [0x57, 15, 15]
    );
    phandles_intact(EXYNOS5250_SNOW_DTB, &out);
    // Both: the host's /cpus as it is.
    d.cpus = plan::cpus::dom0_cpus(&plan::cpus::host_cpus(t.index()), 0, 2);
    let out = build(&t, &p, &d).unwrap();
    let to = HostTree::new(&out).unwrap();
    let o = Out::new(&to);
    assert_eq!(to.cpu_count(), 2);
    assert!(o.x.by_path("/cpus/cpu-map/cluster0/core1").is_some());
    assert_eq!(
        o.cells(&format!("{maps}/map0"), "cooling-device").unwrap(),
        [0x57, 9, 9, 0x58, 9, 9]
    );
    // Only cpu@1 for Dom0 (as if booted there): maps keep cpu@1's entries.
    d.cpus = vec![1];
    let out = build(&t, &p, &d).unwrap();
    let to = HostTree::new(&out).unwrap();
    let o = Out::new(&to);
    assert!(o.x.by_path("/cpus/cpu@0").is_none());
    assert_eq!(
        o.cells(&format!("{maps}/map0"), "cooling-device").unwrap(),
        [0x58, 9, 9]
    );
}

/// A cooling map naming only left-out CPUs goes whole; `enable-method`
/// (Dom0 starts its CPUs through PSCI) goes from /cpus and each CPU.
#[test]
fn left_out_cpus_take_their_cooling_maps_and_spin_tables() {
    let cpu = |name, reg: u32, ph: u32, extra: Vec<(&'static str, Vec<u8>)>| {
        let mut props = vec![
            ("device_type", s("cpu")),
            ("reg", c(&[reg])),
            ("#cooling-cells", c(&[2])),
            ("phandle", c(&[ph])),
        ];
        props.extend(extra);
        n(name, props, vec![])
    };
    let cpus = n(
        "cpus",
        vec![
            ("#address-cells", c(&[1])),
            ("#size-cells", c(&[0])),
            ("enable-method", s("brcm,bcm2836-smp")),
        ],
        vec![
            cpu("cpu@0", 0, 20, vec![]),
            cpu(
                "cpu@1",
                1,
                21,
                vec![
                    ("enable-method", s("spin-table")),
                    ("cpu-release-addr", c(&[0, 0x8000])),
                ],
            ),
        ],
    );
    let map = |name, cells: &[u32]| n(name, vec![("cooling-device", c(cells))], vec![]);
    let zones = n(
        "thermal-zones",
        vec![],
        vec![n(
            "z",
            vec![],
            vec![n(
                "cooling-maps",
                vec![],
                vec![
                    map("only1", &[21, 1, 1]),
                    map("both", &[20, 1, 1, 21, 1, 1]),
                ],
            )],
        )],
    );
    let dtb = synthetic(vec![cpus, zones]);
    let t = HostTree::new(&dtb).unwrap();
    let p = plan::make(&t, &PlanOptions::default(), &Keep::none()).unwrap();
    let mut d = params(&t, &p);
    d.cpus = vec![0];
    let out = build(&t, &p, &d).unwrap();
    let to = HostTree::new(&out).unwrap();
    let o = Out::new(&to);
    assert!(o.x.by_path("/thermal-zones/z/cooling-maps/only1").is_none());
    assert_eq!(
        o.cells("/thermal-zones/z/cooling-maps/both", "cooling-device")
            .unwrap()
            .len(),
        3
    );
    assert!(!o.x.has(o.node("/cpus"), "enable-method"));
    d.cpus = vec![0, 1];
    let out = build(&t, &p, &d).unwrap();
    let to = HostTree::new(&out).unwrap();
    let o = Out::new(&to);
    let c1 = o.node("/cpus/cpu@1");
    assert!(!o.x.has(c1, "enable-method") && !o.x.has(c1, "cpu-release-addr"));
    assert!(o.x.by_path("/thermal-zones/z/cooling-maps/only1").is_some());
}
