use alloc::vec;

use super::layout::*;
use super::*;
use snowvisor_dt::{HostTree, Region};

#[test]
fn ram_banks_fill_ram0_then_ram1() {
    const G: u64 = 1 << 30;
    assert_eq!(
        layout::ram_banks(128 << 20).unwrap(),
        [Region {
            base: 0x4000_0000,
            size: 128 << 20
        }]
    );
    assert_eq!(
        layout::ram_banks(3 * G).unwrap(),
        [Region {
            base: 0x4000_0000,
            size: 3 * G
        }]
    );
    assert_eq!(
        layout::ram_banks(4 * G).unwrap(),
        [
            Region {
                base: 0x4000_0000,
                size: 3 * G
            },
            Region {
                base: 0x2_0000_0000,
                size: G
            }
        ]
    );
    let all = layout::ram_banks(GUEST_RAM_MAX).unwrap();
    assert_eq!(all[1].end(), 1 << 40, "RAM1 ends at 40 bits of IPA");
    let e = layout::ram_banks(GUEST_RAM_MAX + 4096).unwrap_err();
    assert_eq!(
        alloc::format!("{e}"),
        "1068498948 KiB of RAM: Xen's guest memory map holds at most 1068498944 KiB (GUEST_RAM0 + GUEST_RAM1)"
    );
    assert_eq!(layout::ram_banks(0).unwrap(), []);
}

#[test]
fn device_regions_clear_of_ram_and_each_other() {
    let ram = [
        Region {
            base: GUEST_RAM0_BASE,
            size: GUEST_RAM0_SIZE,
        },
        Region {
            base: GUEST_RAM1_BASE,
            size: GUEST_RAM1_SIZE,
        },
    ];
    for (i, (name, r)) in DEVICE_REGIONS.iter().enumerate() {
        assert!(!ram.iter().any(|m| m.overlaps(r)), "{name} overlaps RAM");
        for (other, o) in &DEVICE_REGIONS[i + 1..] {
            assert!(!r.overlaps(o), "{name} overlaps {other}");
        }
        assert_eq!(r.base % 4096, 0, "{name} is not page-aligned");
    }
}

fn params() -> DomUParams<'static> {
    DomUParams {
        xen_version: (4, 17),
        memory: layout::ram_banks(256 << 20).unwrap(),
        vcpus: 2,
        cpu_compatible: "arm,cortex-a15",
        timer_clock_frequency: None,
        vpl011: true,
        xen_pv: true,
        bootargs: Some("console=ttyAMA0 earlycon"),
        initrd: Some(Region {
            base: 0x4800_0000,
            size: 0x12_3456,
        }),
    }
}

#[test]
fn tree_reads_back() {
    let blob = build(&params()).unwrap();
    let t = HostTree::new(&blob).unwrap();
    let x = t.index();
    x.check_phandles().unwrap();
    assert_eq!(x.strings(0, "compatible"), ["xen,xenvm-4.17", "xen,xenvm"]);
    assert_eq!(t.model(), Some("XENVM-4.17"));
    assert_eq!(x.u32_prop(0, "interrupt-parent"), Some(65000));
    assert_eq!((x.address_cells(0), x.size_cells(0)), (2, 2));
    assert_eq!(
        t.memory().unwrap(),
        [Region {
            base: 0x4000_0000,
            size: 256 << 20
        }]
    );
    let gic = t.gic().unwrap();
    assert_eq!(
        (gic.gicd, gic.gicc, gic.gich, gic.gicv),
        (
            Region {
                base: 0x0300_1000,
                size: 0x1000
            },
            Region {
                base: 0x0300_2000,
                size: 0x2000
            },
            None,
            None
        )
    );
    let g = x.by_path("/interrupt-controller@3001000").unwrap();
    assert_eq!(x.phandle_of(g), Some(65000));
    assert!(x.has(g, "interrupt-controller"));
    assert_eq!(x.u32_prop(g, "#interrupt-cells"), Some(3));
    let timer = t.timer().unwrap();
    assert_eq!(timer.intids, [Some(29), Some(30), Some(27), None]);
    assert_eq!(timer.clock_frequency, None);
    let tm = x.by_path("/timer").unwrap();
    assert_eq!(
        x.cells(tm, "interrupts").unwrap().unwrap(),
        [1, 13, 0xf08, 1, 14, 0xf08, 1, 11, 0xf08]
    );
    assert_eq!(t.cpu_count(), 2);
    for n in 0..2u32 {
        let c = x.by_path(&alloc::format!("/cpus/cpu@{n}")).unwrap();
        assert_eq!(x.u32_prop(c, "reg"), Some(n));
        assert_eq!(x.str_prop(c, "enable-method"), Some("psci"));
        assert_eq!(x.compatibles(c), ["arm,cortex-a15"]);
    }
    let cpus = x.by_path("/cpus").unwrap();
    assert_eq!((x.address_cells(cpus), x.size_cells(cpus)), (1, 0));
    let psci = x.by_path("/psci").unwrap();
    assert_eq!(
        x.compatibles(psci),
        ["arm,psci-1.0", "arm,psci-0.2", "arm,psci"]
    );
    assert_eq!(x.str_prop(psci, "method"), Some("hvc"));
    assert_eq!(
        (x.u32_prop(psci, "cpu_off"), x.u32_prop(psci, "cpu_on")),
        (Some(1), Some(2))
    );
    // The UART, as the console.
    let u = t.stdout().unwrap();
    assert_eq!(
        (u.path, u.compatible, u.base),
        ("/sbsa-uart@22000000", "arm,sbsa-uart", 0x2200_0000)
    );
    let un = x.by_path(u.path).unwrap();
    assert_eq!(x.cells(un, "interrupts").unwrap().unwrap(), [0, 0, 0xf04]);
    assert_eq!(x.u32_prop(un, "current-speed"), Some(115_200));
    assert_eq!(
        x.reg(un).unwrap(),
        [(0x2200_0000, 0x1000)],
        "one 4 KiB page at GUEST_PL011_BASE"
    );
    // Xen's node.
    let h = x.by_path("/hypervisor").unwrap();
    assert_eq!(x.compatibles(h), ["xen,xen-4.17", "xen,xen"]);
    assert_eq!(x.reg(h).unwrap(), [(0x3800_0000, 0x100_0000)]);
    assert_eq!(x.cells(h, "interrupts").unwrap().unwrap(), [1, 15, 0xf08]);
    // /chosen.
    assert_eq!(t.chosen_str("bootargs"), Some("console=ttyAMA0 earlycon"));
    let ch = x.by_path("/chosen").unwrap();
    assert_eq!(
        x.cells(ch, "linux,initrd-start").unwrap().unwrap(),
        [0, 0x4800_0000]
    );
    assert_eq!(
        x.cells(ch, "linux,initrd-end").unwrap().unwrap(),
        [0, 0x4812_3456]
    );
    // Nothing else at the root.
    let names: alloc::vec::Vec<&str> = x.nodes[0]
        .children
        .iter()
        .map(|&c| x.nodes[c].name)
        .collect();
    assert_eq!(
        names,
        [
            "chosen",
            "psci",
            "cpus",
            "memory@40000000",
            "interrupt-controller@3001000",
            "timer",
            "sbsa-uart@22000000",
            "hypervisor"
        ]
    );
}

#[test]
fn optional_parts_left_out() {
    let p = DomUParams {
        vpl011: false,
        xen_pv: false,
        bootargs: Some(""),
        initrd: None,
        vcpus: 1,
        timer_clock_frequency: Some(62_500_000),
        memory: layout::ram_banks(4 << 30).unwrap(),
        ..params()
    };
    let blob = build(&p).unwrap();
    let t = HostTree::new(&blob).unwrap();
    let x = t.index();
    for gone in ["/hypervisor", "/sbsa-uart@22000000"] {
        assert!(x.by_path(gone).is_none(), "{gone}");
    }
    let ch = x.by_path("/chosen").unwrap();
    assert!(x.nodes[ch].props.is_empty());
    assert_eq!(t.stdout(), None);
    assert_eq!(t.cpu_count(), 1);
    assert_eq!(t.timer().unwrap().clock_frequency, Some(62_500_000));
    assert_eq!(
        t.memory().unwrap(),
        [
            Region {
                base: 0x4000_0000,
                size: 3 << 30
            },
            Region {
                base: 0x2_0000_0000,
                size: 1 << 30
            }
        ]
    );
}

#[test]
fn bad_params_named() {
    let e = |p: DomUParams<'static>| alloc::format!("{}", build(&p).unwrap_err());
    assert_eq!(
        e(DomUParams {
            memory: vec![],
            ..params()
        }),
        "DomU tree: no RAM bank"
    );
    assert_eq!(
        e(DomUParams {
            vcpus: 9,
            ..params()
        }),
        "DomU tree: 9 vCPUs (1..=8 with a GICv2)"
    );
    assert_eq!(
        e(DomUParams {
            vcpus: 0,
            ..params()
        }),
        "DomU tree: 0 vCPUs (1..=8 with a GICv2)"
    );
    assert_eq!(
        e(DomUParams {
            initrd: Some(Region {
                base: 0x4fff_f000,
                size: 0x2000
            }),
            ..params()
        }),
        "DomU tree: initrd 0x4ffff000..0x50001000 is not inside one RAM bank"
    );
}
