//! Plan tests on real trees (Exynos 5250 Snow, QEMU virt with and without an
//! SMMUv3) and on small synthetic trees for the error cases.

use alloc::string::String;
use alloc::vec::Vec;
use alloc::{format, vec};

use super::*;
pub(crate) use snowvisor_dt::testing::{blob, c, copy_tree, n, s, synthetic, N};
use snowvisor_dt::testing::{
    vop_sharing_a_page_with_an_iommu, EXYNOS5250_SNOW_DTB, QEMU_VIRT_DTB, QEMU_VIRT_SMMUV3_DTB,
};

fn plan_of(dtb: &[u8], iommu: Option<&str>, swiotlb: Option<&str>) -> Plan {
    let (opts, errs) = PlanOptions::parse(iommu, swiotlb);
    assert!(errs.is_empty(), "{errs:?}");
    make(&HostTree::new(dtb).unwrap(), &opts, &Keep::none()).unwrap()
}

fn device<'p>(p: &'p Plan, path: &str) -> &'p Passthrough {
    p.passthrough
        .iter()
        .find(|d| d.path == path)
        .unwrap_or_else(|| panic!("{path} not passed through"))
}

#[test]
fn snow_hides_every_sysmmu_by_default() {
    let p = plan_of(EXYNOS5250_SNOW_DTB, None, None);
    assert_eq!(p.iommus.len(), 23);
    assert!(p.iommus.iter().all(|d| d.action == IommuAction::Hide
        && d.removed
        && d.compatible == "samsung,exynos-sysmmu"));
    assert_eq!(p.hidden.len(), 23);
    assert_eq!(
        p.iommus.iter().filter(|d| !d.masters.is_empty()).count(),
        10
    );
    assert_eq!(
        p.iommu("/soc/sysmmu@14650000").unwrap().masters,
        ["/soc/mixer@14450000"]
    );
    assert_eq!(
        p.iommu("/soc/sysmmu@11210000").unwrap().masters,
        ["/soc/codec@11000000"]
    );
    // No sysmmu MMIO reaches Dom0; masters and the combiner do.
    let mmio = p.mmio_regions();
    for d in &p.iommus {
        assert!(!p.passthrough.iter().any(|x| x.path == d.path));
        let base = u64::from_str_radix(d.path.rsplit('@').next().unwrap(), 16).unwrap();
        assert!(
            !mmio
                .iter()
                .any(|r| r.contains(&Region { base, size: 0x1000 })),
            "{}",
            d.path
        );
    }
    let mixer = device(&p, "/soc/mixer@14450000");
    assert_eq!(
        (mixer.mmio[0].base, mixer.spis.as_slice()),
        (0x1445_0000, &[126][..])
    );
    assert_eq!(
        device(&p, "/soc/interrupt-controller@10440000").spis,
        (32..64).collect::<Vec<u32>>()
    );
    // The RTC's come through the PMU (a stacked wrapper), the MCT's through its
    // interrupt-map nexus.
    assert_eq!(device(&p, "/soc/rtc@101e0000").spis, [75, 76]);
    assert_eq!(device(&p, "/soc/timer@101c0000").spis, [152, 153]);
    assert!(p.swiotlb.enabled);
    assert!(matches!(p.swiotlb.why, SwiotlbWhy::Uncovered { .. }));
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    let gic = p.gic.as_ref().unwrap();
    assert_eq!(gic.frames.len(), 4);
    assert!(!p.passthrough.iter().any(|d| d.path == gic.path));
    let r = report::lines(&p).join("\n");
    assert!(r.contains("plan: /soc/sysmmu@14650000  samsung,exynos-sysmmu  hide    known IOMMU, no snowvisor driver (default)  /soc/mixer@14450000"), "{r}");
    assert!(
        r.contains("plan: note: samsung,exynos-sysmmu: Exynos System MMU"),
        "{r}"
    );
    assert!(
        r.contains("plan: iommus: 0 own, 23 hide, 0 pass; dom0 gets"),
        "{r}"
    );
}

#[test]
fn snow_pass_turns_swiotlb_off_with_the_reason() {
    let p = plan_of(
        EXYNOS5250_SNOW_DTB,
        Some("pass:samsung,exynos-sysmmu"),
        None,
    );
    assert!(p
        .iommus
        .iter()
        .all(|d| d.action == IommuAction::Pass && !d.removed));
    assert!(p.hidden.is_empty());
    assert!(!p.swiotlb.enabled);
    assert_eq!(
        format!("{}", p.swiotlb),
        "swiotlb-xen off: Dom0 drives IOMMU /soc/sysmmu@10a60000 and 9 more, so its IOMMU DMA ops must not be replaced by swiotlb-xen"
    );
    assert_eq!(
        format!("{}", p.iommus[0].reason),
        "iommu=pass:samsung,exynos-sysmmu"
    );
    assert!(p
        .passthrough
        .iter()
        .any(|d| d.path == "/soc/sysmmu@14650000"));
    // Forcing swiotlb on against that is allowed, with a warning.
    let p = plan_of(EXYNOS5250_SNOW_DTB, Some("pass:all"), Some("on"));
    assert!(p.swiotlb.enabled);
    assert!(format!("{}", p.warnings[0]).starts_with("warning: swiotlb=on: Dom0 drives an IOMMU"));
}

#[test]
fn owning_without_a_driver_is_an_error_and_falls_back_to_hide() {
    let p = plan_of(EXYNOS5250_SNOW_DTB, Some("own:/soc/sysmmu@14650000"), None);
    let d = p.iommu("/soc/sysmmu@14650000").unwrap();
    assert_eq!((d.action, d.removed), (IommuAction::Hide, true));
    assert_eq!(
        d.reason,
        Reason::OwnWithoutDriver {
            rule: "own:/soc/sysmmu@14650000".into()
        }
    );
    assert_eq!(p.warnings.len(), 1);
    assert!(p.warnings[0].is_error());
    assert_eq!(
        format!("{}", p.warnings[0]),
        "error: iommu=own:/soc/sysmmu@14650000: snowvisor has no driver for /soc/sysmmu@14650000; hidden instead"
    );
}

#[test]
fn later_rules_win_and_unmatched_rules_are_reported() {
    let p = plan_of(
        EXYNOS5250_SNOW_DTB,
        Some("pass:all,hide:samsung,exynos-sysmmu,pass:/soc/sysmmu@11210000,hide:foo,bar"),
        None,
    );
    let passed: Vec<&str> = p
        .iommus
        .iter()
        .filter(|d| d.action == IommuAction::Pass)
        .map(|d| d.path.as_str())
        .collect();
    assert_eq!(passed, ["/soc/sysmmu@11210000"]);
    assert_eq!(
        p.warnings,
        [PlanWarning::RuleMatchedNothing {
            rule: "hide:foo,bar".into()
        }]
    );
    assert_eq!(
        format!("{}", p.warnings[0]),
        "error: iommu=hide:foo,bar matches no IOMMU node; rule ignored"
    );
    assert!(
        p.warnings[0].is_error(),
        "a typo in a selector is not quiet"
    );
}

#[test]
fn qemu_smmuv3_is_owned_and_gic_frames_stay_out() {
    let p = plan_of(QEMU_VIRT_SMMUV3_DTB, None, None);
    assert_eq!(p.iommus.len(), 1);
    let d = &p.iommus[0];
    assert_eq!(
        (d.path.as_str(), d.action, d.removed),
        ("/smmuv3@9050000", IommuAction::Own, true)
    );
    assert_eq!(d.reason, Reason::Driven);
    assert_eq!(d.masters, ["/pcie@10000000"]);
    let pcie = device(&p, "/pcie@10000000");
    assert_eq!(pcie.spis, [35, 36, 37, 38]);
    assert!(pcie.mmio.contains(&Region {
        base: 0x1000_0000,
        size: 0x2eff_0000
    }));
    assert!(pcie.mmio.contains(&Region {
        base: 0x3f00_0000,
        size: 0x100_0000
    }));
    assert_eq!(device(&p, "/pl011@9000000").spis, [33]);
    assert!(
        !p.spis().iter().any(|s| (106..110).contains(s)),
        "SMMU SPIs routed"
    );
    let gic = p.gic.as_ref().unwrap();
    assert_eq!(
        gic.frames[2],
        Region {
            base: 0x803_0000,
            size: 0x1_0000
        }
    );
    for r in p.mmio_regions() {
        assert!(
            !gic.frames.iter().any(|g| g.overlaps(&r)),
            "{r:?} overlaps the GIC"
        );
        assert!(
            !r.overlaps(&Region {
                base: 0x905_0000,
                size: 0x2_0000
            }),
            "SMMU mapped"
        );
    }
    assert!(p
        .passthrough
        .iter()
        .any(|d| d.path == "/intc@8000000/v2m@8020000"));
    assert!(!p
        .passthrough
        .iter()
        .any(|d| d.path == "/timer" || d.path == "/psci" || d.path.starts_with("/cpus")));
}

#[test]
fn qemu_smmuv3_rules_still_hide_or_pass_it() {
    let r = report::lines(&plan_of(QEMU_VIRT_SMMUV3_DTB, None, None)).join("\n");
    assert!(r.contains("plan: /smmuv3@9050000  arm,smmu-v3  own     snowvisor drives it (default)  /pcie@10000000"), "{r}");
    let p = plan_of(QEMU_VIRT_SMMUV3_DTB, Some("hide:arm,smmu-v3"), None);
    let d = &p.iommus[0];
    assert_eq!((d.action, d.removed), (IommuAction::Hide, true));
    assert_eq!(
        d.reason,
        Reason::Rule {
            rule: "hide:arm,smmu-v3".into()
        }
    );
    assert!(p.is_hidden("/smmuv3@9050000"));
    let p = plan_of(QEMU_VIRT_SMMUV3_DTB, Some("pass:arm,smmu-v3"), None);
    let d = &p.iommus[0];
    assert_eq!((d.action, d.removed), (IommuAction::Pass, false));
    assert!(!p.is_hidden("/smmuv3@9050000"));
    // Passed, Dom0 gets its registers and interrupts.
    assert_eq!(device(&p, "/smmuv3@9050000").spis, [106, 107, 108, 109]);
    // The swiotlb decision: the SMMU covers only the PCIe host.
    let p = plan_of(QEMU_VIRT_SMMUV3_DTB, None, None);
    assert!(p.swiotlb.enabled, "{}", p.swiotlb);
}

#[test]
fn keeping_the_console() {
    let t = HostTree::new(QEMU_VIRT_DTB).unwrap();
    let keep = Keep::none().console(&t).node("/nonexistent");
    let p = make(&t, &PlanOptions::default(), &keep).unwrap();
    assert_eq!(
        p.hidden,
        [Hidden {
            path: "/pl011@9000000".into(),
            why: HiddenWhy::Kept
        }]
    );
    assert!(!p.passthrough.iter().any(|d| d.path == "/pl011@9000000"));
    assert!(!p.spis().contains(&33));
    assert_eq!(
        p.warnings,
        [PlanWarning::KeepNotFound {
            node: "/nonexistent".into()
        }]
    );
    assert!(p.iommus.is_empty());
    assert_eq!(report::lines(&p)[0], "plan: no IOMMU nodes");
}

#[test]
fn the_uart_snowvisor_writes_to_is_kept_without_stdout_path() {
    // QEMU virt's tree without /chosen/stdout-path: snowvisor writes to its
    // board-default PL011 at 0x09000000, found by address.
    let t = HostTree::new(QEMU_VIRT_DTB).unwrap();
    let dtb = copy_tree(&t, &|p| p != "stdout-path", &[], &[]);
    let t = HostTree::new(&dtb).unwrap();
    assert!(t.stdout().is_none());
    assert_eq!(Keep::none().console(&t), Keep::none());
    let p = make(
        &t,
        &PlanOptions::default(),
        &Keep::none().uart_at(&t, 0x0900_0000),
    )
    .unwrap();
    assert!(!p.passthrough.iter().any(|d| d.path == "/pl011@9000000"));
    assert!(report::lines(&p)
        .contains(&"plan: kept for snowvisor, not in Dom0's tree: /pl011@9000000".into()));
    // An address no device has keeps nothing.
    assert_eq!(Keep::none().uart_at(&t, 0x1234_5678), Keep::none());
}

#[test]
fn a_page_shared_with_a_hidden_iommu_is_mapped_for_the_device() {
    // rk3288 (veyron Chromebooks): the display controller's registers and its
    // IOMMU's share the page at 0xff930000.
    let p = plan_of(&vop_sharing_a_page_with_an_iommu(false), None, None);
    assert_eq!(p.iommus[0].action, IommuAction::Hide);
    let page = |base| Region { base, size: 0x1000 };
    assert_eq!(
        device(&p, "/vop@ff930000").mmio,
        [page(0xff93_0000), page(0xff93_1000)]
    );
    assert_eq!(
        p.warnings,
        [PlanWarning::SharedWithHiddenIommu {
            node: "/vop@ff930000".into(),
            base: 0xff93_0000,
            size: 0x1000,
            iommu: "/iommu@ff930300".into(),
        }]
    );
    assert!(report::lines(&p).contains(&"plan: note: /vop@ff930000: 0xff930000+0x1000 is shared with /iommu@ff930300, which is hidden (not protected by snowvisor): mapped for /vop@ff930000".into()));
}

#[test]
fn a_page_shared_with_an_owned_iommu_is_kept_and_the_devices_registers_forwarded() {
    // rk3288's VOP and its IOMMU in one page, the IOMMU owned.
    let p = plan_of(&vop_sharing_a_page_with_an_iommu(true), None, None);
    assert_eq!(p.iommus[0].action, IommuAction::Own);
    let d = device(&p, "/vop@ff930000");
    // The shared page is never mapped for Dom0; the VOP's other page is.
    assert_eq!(
        d.mmio,
        [Region {
            base: 0xff93_1000,
            size: 0x1000
        }]
    );
    let vop_regs = Region {
        base: 0xff93_0000,
        size: 0x19c,
    };
    assert_eq!(d.forwarded, [vop_regs]);
    assert_eq!(p.forwarded(), [(vop_regs, "/vop@ff930000".into())]);
    assert!(report::lines(&p).contains(&"plan: note: /vop@ff930000: 0xff930000+0x1000 is shared with /iommu@ff930300, which snowvisor owns: not mapped; snowvisor forwards Dom0's accesses to /vop@ff930000's registers 0xff930000-0xff93019b".into()), "{:#?}", report::lines(&p));
    // What the data-abort handler does with these ranges on this geometry:
    // the snowvisor crate's `domain::forward` tests.
}

#[test]
fn registers_overlapping_the_owned_iommus_are_not_forwarded() {
    // A device whose reg interleaves with the IOMMU's: only its own parts;
    // one wholly inside the IOMMU's registers gets nothing (and the warning).
    let forwardable = devices::forwardable;
    let page = Region {
        base: 0x1000,
        size: 0x1000,
    };
    let iommu = [Region {
        base: 0x1300,
        size: 0x100,
    }];
    let r = |base, size| Region { base, size };
    assert_eq!(
        forwardable(r(0x1200, 0x400), &page, &iommu),
        [r(0x1200, 0x100), r(0x1400, 0x200)]
    );
    assert_eq!(forwardable(r(0x1300, 0x80), &page, &iommu), []);
    // Only the shared page counts: the rest of a bigger block is mapped.
    assert_eq!(
        forwardable(r(0x0, 0x1400), &page, &iommu),
        [r(0x1000, 0x300)]
    );
}

pub(crate) fn master(iommus: &[u32]) -> N {
    n(
        "dma@1000000",
        vec![
            ("reg", c(&[0x100_0000, 0x1000])),
            ("iommus", c(iommus)),
            ("interrupts", c(&[0, 5, 4])),
        ],
        vec![],
    )
}

#[test]
fn unknown_iommu_is_passed_with_a_warning() {
    let iommu = n(
        "iommu@2000000",
        vec![
            ("compatible", s("acme,iommu")),
            ("#iommu-cells", c(&[1])),
            ("reg", c(&[0x200_0000, 0x1000])),
            ("phandle", c(&[7])),
        ],
        vec![],
    );
    let dtb = synthetic(vec![iommu, master(&[7, 3])]);
    let p = plan_of(&dtb, None, None);
    assert_eq!(
        (p.iommus[0].action, &p.iommus[0].reason),
        (IommuAction::Pass, &Reason::Unknown)
    );
    assert_eq!(p.iommus[0].masters, ["/dma@1000000"]);
    assert_eq!(format!("{}", p.warnings[0]), "warning: /iommu@2000000 (acme,iommu) has #iommu-cells but is not a known IOMMU: passed to Dom0 with its masters");
    assert!(!p.swiotlb.enabled);
    assert_eq!(device(&p, "/dma@1000000").spis, [37]);
}

#[test]
fn an_embedded_iommu_keeps_its_node() {
    let mc = n(
        "memory-controller@7000f000",
        vec![
            ("compatible", s("nvidia,tegra124-mc")),
            ("#iommu-cells", c(&[1])),
            ("reg", c(&[0x7000_f000, 0x1000])),
            ("phandle", c(&[7])),
        ],
        vec![],
    );
    let p = plan_of(&synthetic(vec![mc, master(&[7, 3])]), None, None);
    let d = &p.iommus[0];
    assert_eq!((d.action, d.removed), (IommuAction::Hide, false));
    assert!(p.hidden.is_empty());
    assert!(p
        .passthrough
        .iter()
        .any(|x| x.path == "/memory-controller@7000f000"));
    assert!(report::lines(&p)[1].contains("; node kept, masters stripped"));
}

#[test]
fn stacked_wrappers_crossbars_and_cascaded_controllers() {
    let ctl = |name, compat: &str, ph: u32, extra: Vec<(&'static str, Vec<u8>)>| {
        let mut props = vec![
            ("compatible", s(compat)),
            ("interrupt-controller", vec![]),
            ("#interrupt-cells", c(&[3])),
            ("phandle", c(&[ph])),
        ];
        props.extend(extra);
        n(name, props, vec![])
    };
    let dev = |name, parent: u32, spec: &[u32]| {
        n(
            name,
            vec![
                ("reg", c(&[0x100_0000, 0x1000])),
                ("interrupt-parent", c(&[parent])),
                ("interrupts", c(spec)),
            ],
            vec![],
        )
    };
    let dtb = synthetic(vec![
        // i.MX GPC in front of the GIC: SPI 89 goes through unchanged.
        ctl(
            "gpc@20dc000",
            "fsl,imx6q-gpc",
            5,
            vec![("interrupt-parent", c(&[1]))],
        ),
        dev("uart@1", 5, &[0, 89, 4]),
        // Allwinner pinctrl: 3-cell specifiers, but a cascaded controller.
        ctl(
            "pinctrl@1c20800",
            "allwinner,sun7i-a20-pinctrl",
            6,
            vec![("interrupts", c(&[0, 28, 4]))],
        ),
        dev("button@2", 6, &[0, 10, 2]),
        // TI crossbar: the pool of SPIs it can hand out goes to Dom0.
        ctl(
            "crossbar@4a002a48",
            "ti,irq-crossbar",
            7,
            vec![
                ("reg", c(&[0x4a00_2a48, 0x130])),
                ("ti,max-irqs", c(&[8])),
                ("ti,irqs-reserved", c(&[0, 1])),
                ("ti,irqs-skip", c(&[5])),
            ],
        ),
        dev("mmc@3", 7, &[0, 300, 4]),
    ]);
    let p = plan_of(&dtb, None, None);
    assert_eq!(device(&p, "/uart@1").spis, [121]);
    assert!(device(&p, "/button@2").spis.is_empty());
    assert_eq!(device(&p, "/pinctrl@1c20800").spis, [60]);
    assert_eq!(device(&p, "/crossbar@4a002a48").spis, [34, 35, 36, 38, 39]);
    assert!(device(&p, "/mmc@3").spis.is_empty());
}

fn err_of(extra: Vec<N>) -> String {
    let dtb = synthetic(extra);
    let e = make(
        &HostTree::new(&dtb).unwrap(),
        &PlanOptions::default(),
        &Keep::none(),
    )
    .unwrap_err();
    format!("{e}")
}

#[test]
fn inconsistent_trees_are_clear_errors() {
    let dev = |name, props| n(name, props, vec![]);
    assert_eq!(
        err_of(vec![dev("x@1", vec![("phandle", c(&[1]))])]),
        "phandle 0x1 is on both /interrupt-controller@8000000 and /x@1"
    );
}

/// The warnings of a plan that must succeed.
fn warnings_of(extra: Vec<N>) -> Vec<String> {
    let dtb = synthetic(extra);
    let p = make(
        &HostTree::new(&dtb).unwrap(),
        &PlanOptions::default(),
        &Keep::none(),
    )
    .unwrap();
    p.warnings.iter().map(|w| format!("{w}")).collect()
}

#[test]
fn one_odd_node_never_fails_the_plan() {
    let dev = |name, props| n(name, props, vec![]);
    let not_routed = ": its interrupts are not routed to Dom0 (node passed unchanged)";
    // interrupts-extended holes (phandle 0) are empty entries, as Linux reads
    // them: STM32MP1's EXTI, `<&gic 0 6 4>, <0>, <0>, <&gic 0 8 4>`.
    let exti = dev(
        "interrupt-controller@5000d000",
        vec![
            ("reg", c(&[0x5000_d000, 0x400])),
            ("interrupts-extended", c(&[1, 0, 6, 4, 0, 0, 1, 0, 8, 4])),
        ],
    );
    let p = plan_of(&synthetic(vec![exti]), None, None);
    assert_eq!(device(&p, "/interrupt-controller@5000d000").spis, [38, 40]);
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    // A dangling interrupt parent: the node keeps its MMIO, loses its SPIs.
    let w = warnings_of(vec![dev(
        "uart@1000",
        vec![
            ("reg", c(&[0x1000, 0x100])),
            ("interrupt-parent", c(&[9])),
            ("interrupts", c(&[0, 1, 4])),
        ],
    )]);
    assert_eq!(
        w,
        [format!(
            "warning: /uart@1000: interrupt-parent refers to phandle 0x9, which no node has{not_routed}"
        )]
    );
    let ctl = |name, me: u32, parent: u32| {
        dev(
            name,
            vec![
                ("interrupt-controller", vec![]),
                ("#interrupt-cells", c(&[1])),
                ("phandle", c(&[me])),
                ("interrupt-parent", c(&[parent])),
                ("interrupts", c(&[1])),
            ],
        )
    };
    let w = warnings_of(vec![ctl("a@1", 5, 6), ctl("b@2", 6, 5)]);
    assert!(
        w.len() == 1 && w[0].contains("interrupt parents form a cycle (through /"),
        "{w:?}"
    );
    // Two interrupt-map nexus nodes that send each other's interrupts round.
    let nexus = |name, me: u32, other: u32| {
        dev(
            name,
            vec![
                ("#interrupt-cells", c(&[1])),
                ("#address-cells", c(&[0])),
                ("phandle", c(&[me])),
                ("interrupt-map", c(&[0, other, 0])),
            ],
        )
    };
    let user = dev(
        "dev@3",
        vec![("interrupt-parent", c(&[5])), ("interrupts", c(&[0]))],
    );
    assert!(
        warnings_of(vec![nexus("m@1", 5, 6), nexus("m@2", 6, 5), user]).contains(&format!(
            "warning: /dev@3: interrupt parents form a cycle (through /m@1){not_routed}"
        ))
    );
    // A master whose iommus cannot be read: named, and Dom0 gets it as it is.
    let odd = " it is left unchanged in Dom0's tree and is no IOMMU's master";
    assert_eq!(
        warnings_of(vec![master(&[9, 0])]),
        [format!(
            "warning: /dma@1000000: iommus refers to phandle 0x9, which no node has:{odd}"
        )]
    );
    assert_eq!(
        warnings_of(vec![dev("x@1", vec![("phandle", c(&[7]))]), master(&[7])]),
        [format!(
            "warning: /dma@1000000: iommus: names a node without #iommu-cells:{odd}"
        )]
    );
    let bad_len = dev("dev@4", vec![("interrupts", vec![0, 0, 1])]);
    assert_eq!(
        warnings_of(vec![bad_len]),
        [format!(
            "warning: /dev@4: interrupts: length is not a multiple of 4{not_routed}"
        )]
    );
}

#[test]
fn hostile_cell_counts_neither_panic_nor_hang() {
    let big = || c(&[u32::MAX]);
    // Decodable enough to plan: the bus's reg cannot be read, the MSI range is capped.
    let bus = n(
        "bus@1",
        vec![
            ("#address-cells", big()),
            ("#size-cells", big()),
            ("ranges", c(&[1, 2, 3])),
        ],
        vec![n(
            "dev@1",
            vec![("reg", c(&[1, 2, 3, 4])), ("interrupts", c(&[0, 1, 4]))],
            vec![],
        )],
    );
    let v2m = n(
        "v2m@4",
        vec![
            ("reg", c(&[0x4000, 0x1000])),
            ("arm,msi-base-spi", c(&[40])),
            ("arm,msi-num-spis", big()),
        ],
        vec![],
    );
    let p = plan_of(&synthetic(vec![bus, v2m]), None, None);
    assert_eq!(device(&p, "/v2m@4").spis, (40..1020).collect::<Vec<u32>>());
    assert_eq!(device(&p, "/bus@1/dev@1").spis, [33]);
    // Not decodable: named in a warning or a clear error.
    let iommu = n(
        "iommu@2",
        vec![("#iommu-cells", big()), ("phandle", c(&[7]))],
        vec![],
    );
    let master = n("master@3", vec![("iommus", c(&[7, 1, 2]))], vec![]);
    assert!(warnings_of(vec![iommu, master]).contains(&String::from(
        "warning: /master@3: iommus: ends inside a specifier: it is left unchanged in Dom0's tree and is no IOMMU's master"
    )));
    let nexus = n(
        "nexus@5",
        vec![
            ("#address-cells", big()),
            ("#interrupt-cells", c(&[1])),
            ("interrupt-map", c(&[0, 1, 0])),
            ("phandle", c(&[8])),
        ],
        vec![],
    );
    let user = n(
        "user@6",
        vec![("interrupt-parent", c(&[8])), ("interrupts", c(&[0]))],
        vec![],
    );
    assert_eq!(
        warnings_of(vec![nexus, user]),
        ["warning: /nexus@5: interrupt-map: ends inside an entry: its interrupts are not routed to Dom0 (node passed unchanged)"]
    );
}

#[test]
fn corrupt_trees_never_panic() {
    // Flip bytes of real trees: whatever blob::parse lets through must plan
    // (or fail) without a panic.
    for dtb in [QEMU_VIRT_SMMUV3_DTB, EXYNOS5250_SNOW_DTB] {
        let off = u32::from_be_bytes(dtb[8..12].try_into().unwrap()) as usize;
        let len = u32::from_be_bytes(dtb[36..40].try_into().unwrap()) as usize;
        for i in (off..off + len).step_by(if dtb.len() > 10_000 { 149 } else { 11 }) {
            let mut b = dtb.to_vec();
            b[i] ^= 0x5a;
            if let Ok(t) = HostTree::new(&b) {
                let _ = make(
                    &t,
                    &PlanOptions::parse(Some("pass:all"), None).0,
                    &Keep::none(),
                );
                let _ = make(&t, &PlanOptions::default(), &Keep::none().console(&t));
            }
        }
    }
}

/// Every way an SPI reaches Dom0 (device `interrupts`, `interrupts-extended`,
/// a PCI host's `interrupt-map`, a GICv2m frame's MSI range, a line shared
/// with a kept node) is filtered against the INTIDs snowvisor keeps (an owned
/// SMMUv3's, the kept UART's, the GIC maintenance and HYP timer PPIs), with a
/// warning naming both nodes. The MSI case is QEMU virt's: `arm,msi-base-spi
/// = <80>; arm,msi-num-spis = <64>` covers the SMMU's INTIDs 106-109.
#[test]
fn interrupts_snowvisor_keeps_never_reach_dom0() {
    let gic = |extra: Vec<(&'static str, Vec<u8>)>| {
        let mut p = vec![
            ("compatible", s("arm,cortex-a15-gic")),
            ("interrupt-controller", vec![]),
            ("#interrupt-cells", c(&[3])),
            ("#address-cells", c(&[1])),
            ("#size-cells", c(&[1])),
            ("ranges", vec![]),
            (
                "reg",
                c(&[
                    0x800_0000, 0x1000, 0x801_0000, 0x2000, 0x803_0000, 0x2000, 0x804_0000, 0x2000,
                ]),
            ),
            ("interrupts", c(&[1, 9, 0xf04])),
            ("phandle", c(&[1])),
        ];
        p.extend(extra);
        p
    };
    let v2m = n(
        "v2m@8020000",
        vec![
            ("compatible", s("arm,gic-v2m-frame")),
            ("msi-controller", vec![]),
            ("reg", c(&[0x802_0000, 0x1000])),
            ("arm,msi-base-spi", c(&[80])),
            ("arm,msi-num-spis", c(&[64])),
        ],
        vec![],
    );
    let dtb = blob(&n(
        "",
        vec![
            ("#address-cells", c(&[1])),
            ("#size-cells", c(&[1])),
            ("interrupt-parent", c(&[1])),
        ],
        vec![
            n(
                "memory@40000000",
                vec![
                    ("device_type", s("memory")),
                    ("reg", c(&[0x4000_0000, 0x1000_0000])),
                ],
                vec![],
            ),
            n("intc@8000000", gic(vec![]), vec![v2m]),
            n(
                "timer",
                vec![
                    ("compatible", s("arm,armv7-timer")),
                    (
                        "interrupts",
                        c(&[1, 13, 0xf04, 1, 14, 0xf04, 1, 11, 0xf04, 1, 10, 0xf04]),
                    ),
                ],
                vec![],
            ),
            n(
                "smmuv3@9050000",
                vec![
                    ("compatible", s("arm,smmu-v3")),
                    ("#iommu-cells", c(&[1])),
                    ("reg", c(&[0x905_0000, 0x2_0000])),
                    ("interrupt-names", s("eventq\0priq\0cmdq-sync\0gerror")),
                    ("interrupts", c(&[0, 74, 1, 0, 75, 1, 0, 76, 1, 0, 77, 1])),
                    ("phandle", c(&[2])),
                ],
                vec![],
            ),
            n(
                "pl011@9000000",
                vec![
                    ("compatible", s("arm,pl011")),
                    ("reg", c(&[0x900_0000, 0x1000])),
                    ("interrupts", c(&[0, 1, 4])),
                ],
                vec![],
            ),
            // Shares the UART's line.
            n(
                "gpio@9030000",
                vec![
                    ("compatible", s("arm,pl061")),
                    ("reg", c(&[0x903_0000, 0x1000])),
                    ("interrupts", c(&[0, 1, 4, 0, 7, 4])),
                ],
                vec![],
            ),
            // interrupts-extended naming an SMMU line and a PPI.
            n(
                "rtc@9010000",
                vec![
                    ("compatible", s("arm,pl031")),
                    ("reg", c(&[0x901_0000, 0x1000])),
                    ("interrupts-extended", c(&[1, 0, 2, 4, 1, 0, 77, 1])),
                ],
                vec![],
            ),
            // A PCI host whose INTx lines include an SMMU SPI.
            n(
                "pcie@10000000",
                vec![
                    ("compatible", s("pci-host-ecam-generic")),
                    ("device_type", s("pci")),
                    ("#address-cells", c(&[3])),
                    ("#size-cells", c(&[2])),
                    ("#interrupt-cells", c(&[1])),
                    ("reg", c(&[0x3f00_0000, 0x100_0000])),
                    ("interrupt-map-mask", c(&[0, 0, 0, 7])),
                    (
                        "interrupt-map",
                        c(&[0, 0, 0, 1, 1, 0, 0, 3, 4, 0, 0, 0, 2, 1, 0, 0, 76, 4]),
                    ),
                    ("iommu-map", c(&[0, 2, 0, 0x1_0000])),
                ],
                vec![],
            ),
        ],
    ));
    let tree = HostTree::new(&dtb).unwrap();
    let p = make(
        &tree,
        &PlanOptions::default(),
        &Keep::none().node("/pl011@9000000"),
    )
    .unwrap();
    assert_eq!(p.iommus[0].action, IommuAction::Own);
    let kept: Vec<(u32, &str, &str)> = p
        .kept_irqs
        .iter()
        .map(|k| (k.intid, k.owner.as_str(), k.role.as_str()))
        .collect();
    assert_eq!(
        kept,
        [
            (25, "/intc@8000000", "maintenance"),
            (26, "/timer", "hyp-timer"),
            (106, "/smmuv3@9050000", "eventq"),
            (107, "/smmuv3@9050000", "priq"),
            (108, "/smmuv3@9050000", "cmdq-sync"),
            (109, "/smmuv3@9050000", "gerror"),
            (33, "/pl011@9000000", "console"),
        ]
    );
    let spis = p.spis();
    for k in &p.kept_irqs {
        assert!(!spis.contains(&k.intid), "INTID {} routed to Dom0", k.intid);
    }
    assert_eq!(device(&p, "/gpio@9030000").spis, [39]);
    assert_eq!(device(&p, "/rtc@9010000").spis, [34]);
    assert_eq!(device(&p, "/pcie@10000000").spis, [35]);
    let v2m = device(&p, "/intc@8000000/v2m@8020000");
    assert_eq!(v2m.spis.len(), 60);
    assert!(v2m.spis.contains(&105) && v2m.spis.contains(&110));
    let text: Vec<String> = p.warnings.iter().map(|w| format!("{w}")).collect();
    for want in [
        "warning: /intc@8000000/v2m@8020000: INTIDs 106,107,108,109 belong to /smmuv3@9050000, which snowvisor keeps: not routed to Dom0",
        "warning: /gpio@9030000: INTID 33 belong to /pl011@9000000, which snowvisor keeps: not routed to Dom0",
        "warning: /rtc@9010000: INTID 109 belong to /smmuv3@9050000, which snowvisor keeps: not routed to Dom0",
        "warning: /pcie@10000000: INTID 108 belong to /smmuv3@9050000, which snowvisor keeps: not routed to Dom0",
    ] {
        assert!(text.iter().any(|t| t == want), "missing {want:?} in {text:#?}");
    }
    assert_eq!(
        p.kept_irq(107).map(|k| k.owner.as_str()),
        Some("/smmuv3@9050000")
    );
    assert!(p.kept_irq(105).is_none());
}

/// Two siblings of one name make paths ambiguous: the plan refuses the tree
/// by name instead of hiding one node and editing the other's references
/// (found by the dt_plan fuzz target: a renamed PWM next to a hidden sysmmu
/// left a master's `iommus` dangling in Dom0's tree).
#[test]
fn duplicate_sibling_names_are_refused() {
    let dtb = synthetic(vec![
        n(
            "uart@9000000",
            vec![("reg", c(&[0x900_0000, 0x1000]))],
            vec![],
        ),
        n(
            "uart@9000000",
            vec![("reg", c(&[0x901_0000, 0x1000]))],
            vec![],
        ),
    ]);
    let e = make(
        &HostTree::new(&dtb).unwrap(),
        &PlanOptions::default(),
        &Keep::none(),
    )
    .unwrap_err();
    assert_eq!(
        e,
        PlanError::DuplicateNode {
            path: "/uart@9000000".into()
        }
    );
    assert_eq!(
        format!("{e}"),
        "/uart@9000000: two sibling nodes have this name"
    );
}

#[test]
fn a_boot_time_domu_is_no_warning_and_not_in_dom0s_tree() {
    let dtb = synthetic(vec![n(
        "chosen",
        vec![],
        vec![
            n(
                "domU1",
                vec![("compatible", s("xen,domain"))],
                vec![n(
                    "module@4a000000",
                    vec![("compatible", s("multiboot,kernel"))],
                    vec![],
                )],
            ),
            n("other", vec![("compatible", s("xen,other"))], vec![]),
            n(
                "cpupool",
                vec![
                    ("compatible", s("xen,cpupool")),
                    ("cpupool-cpus", c(&[0x99])),
                ],
                vec![],
            ),
        ],
    )]);
    let t = HostTree::new(&dtb).unwrap();
    let p = make(&t, &PlanOptions::default(), &Keep::none()).unwrap();
    assert_eq!(p.warnings, []);
    let params = dom0::Dom0Params {
        memory: vec![snowvisor_dt::Region {
            base: 0x4000_0000,
            size: 0x1000_0000,
        }],
        bootargs: "",
        initrd: None,
        gic: None,
        hypervisor_node: None,
        cpus: Vec::new(),
    };
    let out = dom0::build(&t, &p, &params).unwrap();
    let d = HostTree::new(&out).unwrap();
    assert!(d.index().by_path("/chosen/domU1").is_none());
    assert!(d.index().by_path("/chosen/cpupool").is_none());
    assert!(d.index().by_path("/chosen/other").is_some());
}
