//! For tests (here and in the crates above): the real DTBs in `testdata/`
//! and builders of small synthetic trees. Built only with the `testing`
//! feature, which only dev-dependencies turn on.

use alloc::vec;
use alloc::vec::Vec;

use crate::writer::FdtWriter;
use crate::HostTree;

/// QEMU 10.0 `virt` (testdata/README.md says how each was made).
pub const QEMU_VIRT_DTB: &[u8] = include_bytes!("testdata/qemu-virt.dtb");
/// QEMU `virt` with two `guest-loader` modules and hypervisor bootargs.
pub const QEMU_VIRT_MODULES_DTB: &[u8] = include_bytes!("testdata/qemu-virt-modules.dtb");
/// QEMU `virt` with an SMMUv3.
pub const QEMU_VIRT_SMMUV3_DTB: &[u8] = include_bytes!("testdata/qemu-virt-smmuv3.dtb");
/// Debian's `exynos5250-snow.dtb`, unmodified.
pub const EXYNOS5250_SNOW_DTB: &[u8] = include_bytes!("testdata/exynos5250-snow.dtb");

/// A node of a synthetic tree.
pub struct N {
    /// Name with unit address (`""` for the root).
    pub name: &'static str,
    /// Properties in order: name, value.
    pub props: Vec<(&'static str, Vec<u8>)>,
    /// Child nodes in order.
    pub kids: Vec<N>,
}

/// A node named `name` with `props` and `kids`.
pub fn n(name: &'static str, props: Vec<(&'static str, Vec<u8>)>, kids: Vec<N>) -> N {
    N { name, props, kids }
}

/// Cells as a big-endian property value.
pub fn c(cells: &[u32]) -> Vec<u8> {
    cells.iter().flat_map(|c| c.to_be_bytes()).collect()
}

/// A string list property value (`"a\0b"` for two strings).
pub fn s(v: &str) -> Vec<u8> {
    let mut b = v.as_bytes().to_vec();
    b.push(0);
    b
}

fn put(w: &mut FdtWriter, node: &N) {
    let h = w.begin_node(node.name).unwrap();
    for (k, v) in &node.props {
        w.property(k, v).unwrap();
    }
    for k in &node.kids {
        put(w, k);
    }
    w.end_node(h).unwrap();
}

/// The blob of the tree under `root`.
pub fn blob(root: &N) -> Vec<u8> {
    let mut w = FdtWriter::new(&[]);
    put(&mut w, root);
    w.finish().unwrap()
}

/// A copy of `t` with the properties `keep` accepts, `extra` added as the
/// root's last children and `memreserve` as the reservation map.
pub fn copy_tree(
    t: &HostTree<'_>,
    keep: &dyn Fn(&str) -> bool,
    extra: &[N],
    memreserve: &[(u64, u64)],
) -> Vec<u8> {
    let x = t.index();
    let mut w = FdtWriter::new(memreserve);
    let mut open = Vec::new();
    let close = |w: &mut FdtWriter, (o, h): (usize, _)| {
        if o == 0 {
            extra.iter().for_each(|e| put(w, e));
        }
        w.end_node(h).unwrap();
    };
    for i in 0..x.len() {
        while open.last().is_some_and(|&(o, _)| !x.is_within(i, o)) {
            close(&mut w, open.pop().unwrap());
        }
        let name = if i == 0 { "" } else { x.nodes[i].name };
        open.push((i, w.begin_node(name).unwrap()));
        for p in x.nodes[i].props.iter().filter(|p| keep(p.name)) {
            w.property(p.name, p.value).unwrap();
        }
    }
    while let Some(o) = open.pop() {
        close(&mut w, o);
    }
    w.finish().unwrap()
}

/// Root (1 address cell, 1 size cell) with memory, a GIC (phandle 1) and `extra`.
pub fn synthetic(extra: Vec<N>) -> Vec<u8> {
    let mut kids = vec![
        n(
            "memory@40000000",
            vec![
                ("device_type", s("memory")),
                ("reg", c(&[0x4000_0000, 0x1000_0000])),
            ],
            vec![],
        ),
        n(
            "interrupt-controller@8000000",
            vec![
                ("compatible", s("arm,cortex-a15-gic")),
                ("interrupt-controller", vec![]),
                ("#interrupt-cells", c(&[3])),
                (
                    "reg",
                    c(&[
                        0x800_0000, 0x1000, 0x801_0000, 0x2000, 0x803_0000, 0x2000, 0x804_0000,
                        0x2000,
                    ]),
                ),
                ("interrupts", c(&[1, 9, 0xf04])),
                ("phandle", c(&[1])),
            ],
            vec![],
        ),
    ];
    kids.extend(extra);
    blob(&n(
        "",
        vec![
            ("#address-cells", c(&[1])),
            ("#size-cells", c(&[1])),
            ("interrupt-parent", c(&[1])),
        ],
        kids,
    ))
}

/// rk3288's display controller and its IOMMU in one 4 KiB page (the veyron
/// Chromebooks' DTBs: `vop@ff930000`, reg 0xff930000+0x19c and a second block
/// in the next page; `iommu@ff930300`, reg 0xff930300+0x100, phandle 9).
/// With `owned`, the IOMMU is one snowvisor drives (an SMMUv3 there), so that
/// the plan owns it; else it is rk3288's own `rockchip,iommu`, which the plan
/// hides (no snowvisor driver).
pub fn vop_sharing_a_page_with_an_iommu(owned: bool) -> Vec<u8> {
    let vop = n(
        "vop@ff930000",
        vec![
            ("compatible", s("rockchip,rk3288-vop")),
            ("reg", c(&[0xff93_0000, 0x19c, 0xff93_1000, 0x1000])),
            ("interrupts", c(&[0, 15, 4])),
            ("iommus", if owned { c(&[9, 0x10]) } else { c(&[9]) }),
        ],
        vec![],
    );
    let mut props = vec![("reg", c(&[0xff93_0300, 0x100])), ("phandle", c(&[9]))];
    props.extend(if owned {
        vec![
            ("compatible", s("arm,smmu-v3")),
            ("interrupt-names", s("eventq\0gerror")),
            ("interrupts", c(&[0, 74, 1, 0, 77, 1])),
            ("#iommu-cells", c(&[1])),
        ]
    } else {
        vec![
            ("compatible", s("rockchip,iommu")),
            ("interrupts", c(&[0, 15, 4])),
            ("#iommu-cells", c(&[0])),
        ]
    });
    synthetic(vec![vop, n("iommu@ff930300", props, vec![])])
}

/// QEMU virt's GIC moved under a `simple-bus` whose `ranges` maps bus
/// address 0 to 0x0800_0000, with `bus_props` for the bus.
pub fn gic_on_bus(bus_props: Vec<(&'static str, Vec<u8>)>) -> Vec<u8> {
    let intc = n(
        "interrupt-controller@0",
        vec![
            ("compatible", s("arm,cortex-a15-gic")),
            ("interrupt-controller", vec![]),
            ("#interrupt-cells", c(&[3])),
            (
                "reg",
                c(&[
                    0, 0x10000, 0x10000, 0x10000, 0x30000, 0x10000, 0x40000, 0x10000,
                ]),
            ),
            ("interrupts", c(&[1, 9, 4])),
            ("phandle", c(&[1])),
        ],
        vec![],
    );
    let mut props = vec![
        ("compatible", s("simple-bus")),
        ("#address-cells", c(&[1])),
        ("#size-cells", c(&[1])),
    ];
    props.extend(bus_props);
    let memory = n(
        "memory@40000000",
        vec![
            ("device_type", s("memory")),
            ("reg", c(&[0x4000_0000, 0x1000_0000])),
        ],
        vec![],
    );
    blob(&n(
        "",
        vec![
            ("#address-cells", c(&[1])),
            ("#size-cells", c(&[1])),
            ("interrupt-parent", c(&[1])),
        ],
        vec![memory, n("soc@8000000", props, vec![intc])],
    ))
}

/// QEMU virt's tree with a `no-map` firmware carve-out in `/reserved-memory`,
/// a dynamic reservation, a disabled one and a `/memreserve/` entry.
pub fn with_reservations() -> Vec<u8> {
    let t = HostTree::new(QEMU_VIRT_MODULES_DTB).unwrap();
    let rm = n(
        "reserved-memory",
        vec![
            ("#address-cells", c(&[2])),
            ("#size-cells", c(&[2])),
            ("ranges", vec![]),
        ],
        vec![
            n(
                "fw-carveout@48000000",
                vec![
                    ("reg", c(&[0, 0x4800_0000, 0, 0x20_0000])),
                    ("no-map", vec![]),
                ],
                vec![],
            ),
            n(
                "linux,cma",
                vec![
                    ("compatible", s("shared-dma-pool")),
                    ("size", c(&[0, 0x100_0000])),
                    ("reusable", vec![]),
                ],
                vec![],
            ),
            n(
                "off@49000000",
                vec![
                    ("reg", c(&[0, 0x4900_0000, 0, 0x1000])),
                    ("status", s("disabled")),
                ],
                vec![],
            ),
        ],
    );
    copy_tree(&t, &|_| true, &[rm], &[(0x4a00_0000, 0x1000)])
}
