use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::*;
use crate::testing::{blob, c, n, s, N};

type Props = Vec<(&'static str, Vec<u8>)>;

/// A module node: `compat`, `reg` = <0 base 0xffffff> (two address cells and
/// one size cell, as booting.txt's example), `extra` properties.
fn module(name: &'static str, compat: &str, base: u32, extra: Props) -> N {
    let mut p = vec![("compatible", s(compat)), ("reg", c(&[0, base, 0xff_ffff]))];
    p.extend(extra);
    n(name, p, vec![])
}

fn kernel(name: &'static str, base: u32, args: Option<&str>) -> N {
    let extra = args.map(|a| vec![("bootargs", s(a))]).unwrap_or_default();
    module(name, "multiboot,kernel\0multiboot,module", base, extra)
}

fn ramdisk(name: &'static str, base: u32) -> N {
    module(name, "multiboot,ramdisk\0multiboot,module", base, vec![])
}

/// A domain node as booting.txt's example writes it; a property of `extra`
/// replaces the default of the same name, others are appended.
fn domain(name: &'static str, extra: Props, kids: Vec<N>) -> N {
    let mut p: Props = vec![
        ("compatible", s("xen,domain")),
        ("#address-cells", c(&[2])),
        ("#size-cells", c(&[1])),
        ("memory", c(&[0, 131072])),
        ("cpus", c(&[2])),
    ];
    for (k, v) in extra {
        match p.iter_mut().find(|(pk, _)| *pk == k) {
            Some(slot) => slot.1 = v,
            None => p.push((k, v)),
        }
    }
    p.retain(|(_, v)| v != b"DROP");
    n(name, p, kids)
}

/// Drops a default property of [`domain`].
fn drop(name: &'static str) -> (&'static str, Vec<u8>) {
    (name, b"DROP".to_vec())
}

/// A tree (root with 2 address and 2 size cells) whose /chosen holds
/// Dom0's kernel at 0x4200_0000 and then `chosen_kids`.
fn tree(chosen_kids: Vec<N>) -> Vec<u8> {
    let mut kids = vec![n(
        "module@42000000",
        vec![
            ("compatible", s("multiboot,kernel\0multiboot,module")),
            ("reg", c(&[0, 0x4200_0000, 0, 0x10_0000])),
            ("bootargs", s("console=hvc0")),
        ],
        vec![],
    )];
    kids.extend(chosen_kids);
    blob(&n(
        "",
        vec![("#address-cells", c(&[2])), ("#size-cells", c(&[2]))],
        vec![n("chosen", vec![], kids)],
    ))
}

fn parse(dtb: &[u8]) -> Result<Vec<DomUSpec<'_>>, DomUError> {
    domus(&HostTree::new(dtb).unwrap())
}

fn error(dtb: &[u8]) -> String {
    format!("{}", parse(dtb).unwrap_err())
}

/// One domain `domU1` with `extra` properties and a kernel with bootargs.
/// The blob is leaked so that the specs read from it can outlive the call.
fn one(extra: Props) -> &'static [u8] {
    tree(vec![domain(
        "domU1",
        extra,
        vec![kernel(
            "module@4a000000",
            0x4a00_0000,
            Some("console=ttyAMA0"),
        )],
    )])
    .leak()
}

/// One domain `domU1` with the default properties and `kids`.
fn with_kids(kids: Vec<N>) -> Vec<u8> {
    tree(vec![domain("domU1", vec![], kids)])
}

#[test]
fn booting_txt_example() {
    let dtb = tree(vec![
        domain(
            "domU1",
            vec![("vpl011", vec![])],
            vec![
                kernel(
                    "module@0x4a000000",
                    0x4a00_0000,
                    Some("console=ttyAMA0 init=/bin/sh"),
                ),
                ramdisk("module@0x4b000000", 0x4b00_0000),
            ],
        ),
        domain(
            "domU2",
            vec![("memory", c(&[0, 65536])), ("cpus", c(&[1]))],
            vec![
                kernel("module@0x4c000000", 0x4c00_0000, None),
                ramdisk("module@0x4d000000", 0x4d00_0000),
            ],
        ),
    ]);
    let d = parse(&dtb).unwrap();
    assert_eq!(d.len(), 2);
    let region = |base| Region {
        base,
        size: 0xff_ffff,
    };
    assert_eq!(
        d[0],
        DomUSpec {
            domid: 1,
            name: "domU1",
            memory_kib: 131072,
            vcpus: 2,
            vpl011: true,
            nr_spis: None,
            enhanced: Enhanced::Disabled,
            p2m_mem_mb: None,
            kernel: DomUModule {
                node: "module@0x4a000000",
                region: region(0x4a00_0000)
            },
            ramdisk: Some(DomUModule {
                node: "module@0x4b000000",
                region: region(0x4b00_0000)
            }),
            bootargs: Some("console=ttyAMA0 init=/bin/sh"),
            cpupool: None,
        }
    );
    assert_eq!(d[0].memory_bytes(), 128 << 20);
    let d1 = &d[1];
    assert_eq!(
        (d1.domid, d1.name, d1.vcpus, d1.vpl011, d1.memory_kib),
        (2, "domU2", 1, false, 65536)
    );
    assert_eq!(d1.bootargs, None);
    assert_eq!(d1.ramdisk.unwrap().region, region(0x4d00_0000));
    // Dom0's modules are only the direct children of /chosen: the domains'
    // kernels and ramdisks are not among them.
    let t = HostTree::new(&dtb).unwrap();
    let m = t.modules();
    assert_eq!(m.len(), 1, "{m:?}");
    assert_eq!(
        (m[0].node, m[0].kind, m[0].region.base),
        ("module@42000000", crate::ModuleKind::Kernel, 0x4200_0000)
    );
}

#[test]
fn no_chosen_no_domain_or_other_nodes() {
    assert_eq!(parse(&tree(vec![])).unwrap(), []);
    assert_eq!(parse(&blob(&n("", vec![], vec![]))).unwrap(), []);
    let other = tree(vec![n(
        "something",
        vec![("compatible", s("vendor,thing"))],
        vec![],
    )]);
    assert_eq!(parse(&other).unwrap(), []);
}

#[test]
fn memory_one_or_two_cells_and_cells_inherited() {
    let d = parse(one(vec![("memory", c(&[262144]))])).unwrap();
    assert_eq!(d[0].memory_kib, 262144);
    let d = parse(one(vec![("memory", c(&[1, 0]))])).unwrap();
    assert_eq!(d[0].memory_bytes(), 4 << 40);
    // No #address-cells/#size-cells on the domain node: the root's (2 and
    // 2) apply, as in Xen's early walk.
    let dtb = tree(vec![domain(
        "domU1",
        vec![drop("#address-cells"), drop("#size-cells")],
        vec![n(
            "k",
            vec![
                ("compatible", s("multiboot,kernel\0multiboot,module")),
                ("reg", c(&[0, 0x4a00_0000, 0, 0x20_0000])),
            ],
            vec![],
        )],
    )]);
    let d = parse(&dtb).unwrap();
    assert_eq!(
        d[0].kernel.region,
        Region {
            base: 0x4a00_0000,
            size: 0x20_0000
        }
    );
    // 1 and 1 on the domain node.
    let dtb = tree(vec![domain(
        "domU1",
        vec![("#address-cells", c(&[1])), ("#size-cells", c(&[1]))],
        vec![n(
            "k",
            vec![
                ("compatible", s("multiboot,kernel")),
                ("reg", c(&[0x4a00_0000, 0x1000])),
            ],
            vec![],
        )],
    )]);
    assert_eq!(parse(&dtb).unwrap()[0].kernel.region.size, 0x1000);
}

#[test]
fn enhanced_nr_spis_p2m() {
    let e = |v: Option<Vec<u8>>| {
        let extra = v.map(|v| vec![("xen,enhanced", v)]).unwrap_or_default();
        parse(one(extra)).map(|d| d[0].enhanced)
    };
    assert_eq!(e(None), Ok(Enhanced::Disabled));
    assert_eq!(e(Some(vec![])), Ok(Enhanced::Enabled));
    assert_eq!(e(Some(s("enabled"))), Ok(Enhanced::Enabled));
    assert_eq!(e(Some(s("disabled"))), Ok(Enhanced::Disabled));
    assert_eq!(e(Some(s("no-xenstore"))), Ok(Enhanced::NoXenstore));
    assert_eq!(
        error(one(vec![("xen,enhanced", s("yes"))])),
        "/chosen/domU1: xen,enhanced: \"yes\": expected \"enabled\", \"disabled\" or \"no-xenstore\" (or no value)"
    );
    let d = parse(one(vec![
        ("nr_spis", c(&[64])),
        ("xen,domain-p2m-mem-mb", c(&[3])),
    ]))
    .unwrap();
    assert_eq!((d[0].nr_spis, d[0].p2m_mem_mb), (Some(64), Some(3)));
    // 0 SPIs is fine without vpl011, not with it (its SPI is INTID 32).
    assert_eq!(
        parse(one(vec![("nr_spis", c(&[0]))])).unwrap()[0].nr_spis,
        Some(0)
    );
    assert_eq!(
        error(one(vec![("nr_spis", c(&[0])), ("vpl011", vec![])])),
        "/chosen/domU1: nr_spis: 0: must be 1..=988 with vpl011 (its SPI is INTID 32), 0..=988 without"
    );
    assert!(error(one(vec![("nr_spis", c(&[989]))])).starts_with("/chosen/domU1: nr_spis: 989: "));
    assert_eq!(
        error(one(vec![("xen,domain-p2m-mem-mb", c(&[0, 3]))])),
        "/chosen/domU1: xen,domain-p2m-mem-mb: 8 bytes, expected 1 cell"
    );
}

#[test]
fn bad_memory_and_cpus() {
    let cases: &[(Props, &str)] = &[
        (
            vec![("memory", c(&[0, 0]))],
            "memory: 0 KiB: a domain needs memory",
        ),
        (
            vec![("memory", c(&[0xffff_ffff, 0xffff_fffc]))],
            "memory: 18446744073709551612 KiB does not fit a 64-bit byte count",
        ),
        (
            vec![("memory", c(&[0, 1026]))],
            "memory: 1026 KiB is not a whole number of 4 KiB pages",
        ),
        (
            vec![("memory", c(&[0, 0, 1]))],
            "memory: 12 bytes, expected 1 or 2 cells",
        ),
        (
            vec![("memory", s("128M"))],
            "memory: 5 bytes, expected 1 or 2 cells",
        ),
        (
            vec![drop("memory")],
            "memory: missing (booting.txt requires it)",
        ),
        (
            vec![("cpus", c(&[0]))],
            "cpus: 0: a domain needs at least one vCPU",
        ),
        (
            vec![("cpus", c(&[9]))],
            "cpus: 9 vCPUs: a guest GICv2 serves at most 8",
        ),
        (vec![("cpus", c(&[0, 2]))], "cpus: 8 bytes, expected 1 cell"),
        (
            vec![drop("cpus")],
            "cpus: missing (booting.txt requires it)",
        ),
    ];
    for (extra, want) in cases {
        assert_eq!(error(one(extra.clone())), format!("/chosen/domU1: {want}"));
    }
    assert_eq!(parse(one(vec![("cpus", c(&[8]))])).unwrap()[0].vcpus, 8);
}

#[test]
fn unsupported_features_are_refused_by_name() {
    for (prop, value, what) in [
        (
            "xen,static-mem",
            c(&[0, 0x6000_0000, 0x800_0000]),
            "static allocation",
        ),
        ("direct-map", vec![], "direct-mapped memory"),
    ] {
        assert_eq!(
            error(one(vec![(prop, value)])),
            format!("/chosen/domU1: {prop}: not supported by snowvisor yet ({what})")
        );
    }
    let k = || kernel("module@4a000000", 0x4a00_0000, None);
    let dt = module(
        "module@c000000",
        "multiboot,device-tree\0multiboot,module",
        0x0c00_0000,
        vec![],
    );
    assert_eq!(
        error(&with_kids(vec![k(), dt])),
        "/chosen/domU1/module@c000000: compatible: not supported by snowvisor yet (device passthrough, multiboot,device-tree)"
    );
    let shm = n(
        "domU1-shared-mem@50000000",
        vec![("compatible", s("xen,domain-shared-memory-v1"))],
        vec![],
    );
    assert!(error(&with_kids(vec![k(), shm])).ends_with(
        "not supported by snowvisor yet (static shared memory, xen,domain-shared-memory-v1)"
    ));
    let uefi = n(
        "module@0",
        vec![
            ("compatible", s("multiboot,kernel\0multiboot,module")),
            ("xen,uefi-binary", s("Image-domU1")),
        ],
        vec![],
    );
    assert_eq!(
        error(&with_kids(vec![uefi])),
        "/chosen/domU1/module@0: xen,uefi-binary: not supported by snowvisor yet (modules loaded by the UEFI stub)"
    );
}

#[test]
fn module_errors() {
    let k = || kernel("module@4a000000", 0x4a00_0000, None);
    assert_eq!(
        error(&with_kids(vec![])),
        "/chosen/domU1: compatible: no child with compatible \"multiboot,kernel\" (the domain's kernel module)"
    );
    assert_eq!(
        error(&with_kids(vec![ramdisk("module@4b000000", 0x4b00_0000)])),
        "/chosen/domU1: compatible: no child with compatible \"multiboot,kernel\" (the domain's kernel module)"
    );
    assert_eq!(
        error(&with_kids(vec![k(), kernel("module@4c000000", 0x4c00_0000, None)])),
        "/chosen/domU1/module@4c000000: compatible: a second kernel module (/chosen/domU1/module@4a000000 is one)"
    );
    assert_eq!(
        error(&with_kids(vec![
            k(),
            ramdisk("r1", 0x4b00_0000),
            ramdisk("r2", 0x4c00_0000)
        ])),
        "/chosen/domU1/r2: compatible: a second ramdisk module (/chosen/domU1/r1 is one)"
    );
    let unknown = n("gpu", vec![("compatible", s("vendor,gpu"))], vec![]);
    assert_eq!(
        error(&with_kids(vec![k(), unknown])),
        "/chosen/domU1/gpu: compatible: \"vendor,gpu\" is not a dom0less child (multiboot,kernel, multiboot,ramdisk, multiboot,device-tree)"
    );
    let bare = n("x", vec![], vec![]);
    assert!(error(&with_kids(vec![k(), bare])).contains("\"(none)\" is not a dom0less child"));
    let generic = module("m", "multiboot,module", 0x4b00_0000, vec![]);
    assert!(error(&with_kids(vec![k(), generic])).starts_with(
        "/chosen/domU1/m: compatible: only \"multiboot,module\": inside a domain node say"
    ));
    let old = module(
        "m",
        "xen,linux-zimage\0xen,multiboot-module",
        0x4b00_0000,
        vec![],
    );
    assert_eq!(
        error(&with_kids(vec![old])),
        "/chosen/domU1/m: compatible: \"xen,linux-zimage\" names Dom0's modules only; a domain's kernel is \"multiboot,kernel\", its ramdisk \"multiboot,ramdisk\""
    );
    let no_reg = n("k", vec![("compatible", s("multiboot,kernel"))], vec![]);
    assert_eq!(
        error(&with_kids(vec![no_reg])),
        "/chosen/domU1/k: reg: missing (booting.txt requires it)"
    );
    for reg in [
        c(&[0, 0x4a00_0000]),
        c(&[0, 0x4a00_0000, 1, 0, 0x4b00_0000, 1]),
    ] {
        let bad = n(
            "k",
            vec![("compatible", s("multiboot,kernel")), ("reg", reg)],
            vec![],
        );
        assert_eq!(
            error(&with_kids(vec![bad])),
            "/chosen/domU1/k: reg: not one (address, size) entry in the domain node's #address-cells/#size-cells"
        );
    }
    let empty = n(
        "k",
        vec![
            ("compatible", s("multiboot,kernel")),
            ("reg", c(&[0, 0x4a00_0000, 0])),
        ],
        vec![],
    );
    assert_eq!(
        error(&with_kids(vec![empty])),
        "/chosen/domU1/k: reg: size 0: the module is empty"
    );
    let r_args = module(
        "r",
        "multiboot,ramdisk\0multiboot,module",
        0x4b00_0000,
        vec![("bootargs", s("quiet"))],
    );
    assert_eq!(
        error(&with_kids(vec![k(), r_args])),
        "/chosen/domU1/r: bootargs: only the kernel module's bootargs are the domain's command line"
    );
}

#[test]
fn overlapping_modules() {
    // With Dom0's kernel (0x4200_0000..0x4210_0000).
    assert_eq!(
        error(&with_kids(vec![kernel("k", 0x420f_f000, None)])),
        "/chosen/domU1/k: reg: overlaps /chosen/module@42000000"
    );
    // Kernel and ramdisk of one domain.
    assert_eq!(
        error(&with_kids(vec![
            kernel("k", 0x4a00_0000, None),
            ramdisk("r", 0x4a80_0000)
        ])),
        "/chosen/domU1/r: reg: overlaps /chosen/domU1/k"
    );
    // Two domains.
    let dtb = tree(vec![
        domain("a", vec![], vec![kernel("k", 0x4a00_0000, None)]),
        domain("b", vec![], vec![kernel("k", 0x4a00_0000, None)]),
    ]);
    assert_eq!(error(&dtb), "/chosen/b/k: reg: overlaps /chosen/a/k");
    // Adjacent is fine.
    let dtb = tree(vec![
        domain("a", vec![], vec![kernel("k", 0x4a00_0000, None)]),
        domain("b", vec![], vec![kernel("k", 0x4aff_ffff, None)]),
    ]);
    assert_eq!(parse(&dtb).unwrap().len(), 2);
}

/// A `xen,evtchn-v1` node with phandle `ph`: local `port`, remote `remote`.
fn ev(name: &'static str, ph: u32, port: u32, remote: u32) -> N {
    n(
        name,
        vec![
            ("compatible", s("xen,evtchn-v1")),
            ("phandle", c(&[ph])),
            ("xen,evtchn", c(&[port, remote])),
        ],
        vec![],
    )
}

fn enhanced() -> (&'static str, Vec<u8>) {
    ("xen,enhanced", s("no-xenstore"))
}

fn channels(dtb: &[u8]) -> Result<Vec<StaticEvtchn>, DomUError> {
    let t = HostTree::new(dtb).unwrap();
    let d = domus(&t)?;
    static_evtchns(&t, &d)
}

fn end(node: &str, domid: u16, port: u32) -> EvtchnEnd {
    EvtchnEnd {
        node: String::from(node),
        domid,
        port,
    }
}

/// Xen 4.18 booting.txt's example: Dom0 <-> domU1 on 0xa, domU1 <-> domU2
/// on 0xb/0xc.
#[test]
fn static_event_channels_of_the_example() {
    let k1 = kernel("module@4a000000", 0x4a00_0000, None);
    let k2 = kernel("module@4c000000", 0x4c00_0000, None);
    let dtb = tree(vec![
        ev("evtchn@1", 1, 0xa, 2),
        domain(
            "domU1",
            vec![enhanced()],
            vec![
                k1,
                ev("evtchn@2", 2, 0xa, 1),
                ev("evtchn@3", 3, 0xb, 5),
                ev("evtchn@4", 4, 0xc, 6),
            ],
        ),
        domain(
            "domU2",
            vec![enhanced()],
            vec![k2, ev("evtchn@5", 5, 0xb, 3), ev("evtchn@6", 6, 0xd, 4)],
        ),
    ]);
    let ch = channels(&dtb).unwrap();
    assert_eq!(
        ch,
        [
            StaticEvtchn {
                first: end("/chosen/evtchn@1", 0, 0xa),
                second: end("/chosen/domU1/evtchn@2", 1, 0xa),
            },
            StaticEvtchn {
                first: end("/chosen/domU1/evtchn@3", 1, 0xb),
                second: end("/chosen/domU2/evtchn@5", 2, 0xb),
            },
            StaticEvtchn {
                first: end("/chosen/domU1/evtchn@4", 1, 0xc),
                second: end("/chosen/domU2/evtchn@6", 2, 0xd),
            },
        ]
    );
    // The domains themselves read as before.
    assert_eq!(parse(&dtb).unwrap().len(), 2);
}

#[test]
fn static_event_channel_errors_name_node_and_property() {
    let k = || kernel("module@4a000000", 0x4a00_0000, None);
    let pair = |dom0: N, domu: N, extra: Props| {
        let mut p = vec![enhanced()];
        p.extend(extra);
        tree(vec![dom0, domain("domU1", p, vec![k(), domu])])
    };
    let fails = |dtb: Vec<u8>| format!("{}", channels(&dtb).unwrap_err());
    assert_eq!(
        fails(pair(
            ev("evtchn@1", 1, 0xa, 9),
            ev("evtchn@2", 2, 0xa, 1),
            vec![]
        )),
        "/chosen/evtchn@1: xen,evtchn: phandle 0x9 names no node"
    );
    assert_eq!(
        fails(pair(ev("evtchn@1", 1, 0xa, 2), ev("evtchn@2", 2, 0xa, 2), vec![])),
        "/chosen/evtchn@1: xen,evtchn: the remote end /chosen/domU1/evtchn@2 does not name this node back (each end's xen,evtchn names the other)"
    );
    assert_eq!(
        fails(pair(ev("evtchn@1", 1, 0xa, 2), ev("evtchn@2", 2, 1024, 1), vec![])),
        "/chosen/domU1/evtchn@2: xen,evtchn: local port 1024 is outside 1..=1023, the domain's ports"
    );
    assert_eq!(
        fails(pair(
            ev("evtchn@1", 1, 0, 2),
            ev("evtchn@2", 2, 1, 1),
            vec![]
        )),
        "/chosen/evtchn@1: xen,evtchn: local port 0 is outside 1..=4095, the domain's ports"
    );
    assert_eq!(
        fails(pair(ev("evtchn@1", 1, 0xa, 2), ev("evtchn@2", 2, 0xa, 1), vec![drop("xen,enhanced")])),
        "/chosen/domU1/evtchn@2: compatible: the domain has no event channels: give it xen,enhanced (\"no-xenstore\" or \"enabled\")"
    );
    let short = n(
        "evtchn@1",
        vec![
            ("compatible", s("xen,evtchn-v1")),
            ("xen,evtchn", c(&[0xa])),
        ],
        vec![],
    );
    assert_eq!(
        fails(pair(short, ev("evtchn@2", 2, 0xa, 1), vec![])),
        "/chosen/evtchn@1: xen,evtchn: 4 bytes, expected 2 cells (local port, remote phandle)"
    );
    let bare = n("evtchn@1", vec![("compatible", s("xen,evtchn-v1"))], vec![]);
    assert_eq!(
        fails(pair(bare, ev("evtchn@2", 2, 0xa, 1), vec![])),
        "/chosen/evtchn@1: xen,evtchn: missing (booting.txt requires it)"
    );
    // Not a channel node, or a channel outside any domain.
    let dtb = tree(vec![
        ev("evtchn@1", 1, 0xa, 7),
        n("other", vec![("phandle", c(&[7]))], vec![]),
    ]);
    assert_eq!(
        fails(dtb),
        "/chosen/evtchn@1: xen,evtchn: names /chosen/other, which is not a \"xen,evtchn-v1\" node"
    );
    let dtb = tree(vec![
        ev("evtchn@1", 1, 0xa, 2),
        n("box", vec![], vec![ev("evtchn@2", 2, 0xa, 1)]),
    ]);
    assert_eq!(
        fails(dtb),
        "/chosen/evtchn@1: xen,evtchn: the remote end /chosen/box/evtchn@2 is neither under /chosen (Dom0) nor under a \"xen,domain\" node"
    );
    // Two ends of Dom0 on one port, and a node naming itself.
    let domu2 = domain(
        "domU2",
        vec![enhanced()],
        vec![
            kernel("module@4c000000", 0x4c00_0000, None),
            ev("evtchn@4", 4, 0xb, 3),
        ],
    );
    let dtb = tree(vec![
        ev("evtchn@1", 1, 0xa, 2),
        domain(
            "domU1",
            vec![enhanced()],
            vec![k(), ev("evtchn@2", 2, 0xa, 1)],
        ),
        ev("evtchn@3", 3, 0xa, 4),
        domu2,
    ]);
    assert_eq!(
        fails(dtb),
        "/chosen/evtchn@3: xen,evtchn: the domain's local port is also /chosen/evtchn@1's"
    );
    let dtb = tree(vec![ev("evtchn@1", 1, 0xa, 1)]);
    assert_eq!(
        fails(dtb),
        "/chosen/evtchn@1: xen,evtchn: the domain's local port is also /chosen/evtchn@1's"
    );
}

#[test]
fn domain_ids_stop_below_xens_reserved_ones() {
    assert_eq!(domid_for(0), Ok(1));
    assert_eq!(domid_for(0x7fee), Ok(0x7fef));
    assert_eq!(domid_for(0x7fef), Err(Why::TooManyDomains));
    assert_eq!(domid_for(usize::MAX - 1), Err(Why::TooManyDomains));
    let e = DomUError {
        node: "/chosen/domU32752".into(),
        property: "compatible",
        why: Why::TooManyDomains,
    };
    assert_eq!(
        alloc::format!("{e}"),
        "/chosen/domU32752: compatible: domain IDs run out: at most 32751 domains beside Dom0 (IDs from 0x7ff0 are Xen's reserved ones)"
    );
}

/// cpupools.txt's example machine (two a72s, four a53s; `reg` in two
/// cells, as on arm64) with phandles 0x10.. on the cpu nodes, and `chosen`
/// holding `chosen_kids`.
fn pools_tree(chosen_kids: Vec<N>) -> &'static [u8] {
    let cpu = |name: &'static str, reg: u32, ph: u32| {
        n(
            name,
            vec![
                ("compatible", s("arm,cortex-a53")),
                ("device_type", s("cpu")),
                ("reg", c(&[0, reg])),
                ("phandle", c(&[ph])),
            ],
            vec![],
        )
    };
    let cpus = n(
        "cpus",
        vec![("#address-cells", c(&[2])), ("#size-cells", c(&[0]))],
        vec![
            cpu("cpu@0", 0x0, 0x10),
            cpu("cpu@1", 0x1, 0x11),
            cpu("cpu@100", 0x100, 0x12),
            cpu("cpu@101", 0x101, 0x13),
            cpu("cpu@102", 0x102, 0x14),
            cpu("cpu@103", 0x103, 0x15),
        ],
    );
    let other = n("memory@40000000", vec![("phandle", c(&[0x20]))], vec![]);
    blob(&n(
        "",
        vec![("#address-cells", c(&[2])), ("#size-cells", c(&[2]))],
        vec![cpus, other, n("chosen", vec![], chosen_kids)],
    ))
    .leak()
}

fn pool(name: &'static str, ph: u32, cpus: &[u32], sched: Option<&str>) -> N {
    let mut p = vec![
        ("compatible", s("xen,cpupool")),
        ("cpupool-cpus", c(cpus)),
        ("phandle", c(&[ph])),
    ];
    if let Some(sc) = sched {
        p.push(("cpupool-sched", s(sc)));
    }
    n(name, p, vec![])
}

const ALL_UP: [u64; 6] = [0x0, 0x1, 0x100, 0x101, 0x102, 0x103];

fn pools(dtb: &'static [u8], online: &[u64]) -> Result<Vec<CpuPool<'static>>, DomUError> {
    cpupools(&HostTree::new(dtb).unwrap(), online)
}

fn pool_error(dtb: &'static [u8], online: &[u64]) -> String {
    format!("{}", pools(dtb, online).unwrap_err())
}

#[test]
fn cpupools_of_the_binding_examples() {
    // No pool node: every CPU up in Pool-0.
    let p = pools(pools_tree(vec![]), &ALL_UP).unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!((p[0].id, p[0].node, &p[0].cpus[..]), (0, None, &ALL_UP[..]));
    // First example: a53s in cpupool_a (Pool-1), a72s with the boot CPU
    // in cpupool_b, which becomes Pool-0 (Xen swaps the IDs).
    let dtb = pools_tree(vec![
        pool("cpupool_a", 1, &[0x12, 0x13, 0x14, 0x15], None),
        pool("cpupool_b", 2, &[0x10, 0x11], Some("credit2")),
    ]);
    let p = pools(dtb, &ALL_UP).unwrap();
    assert_eq!(p.len(), 2);
    assert_eq!(
        (p[0].id, p[0].node, p[0].sched),
        (0, Some("cpupool_b"), Some("credit2"))
    );
    assert_eq!(p[0].cpus, [0x0, 0x1]);
    assert_eq!(
        (p[1].id, p[1].node, p[1].sched),
        (1, Some("cpupool_a"), None)
    );
    assert_eq!(p[1].cpus, [0x100, 0x101, 0x102, 0x103]);
    assert!(p[1].holds(0x8000_0102) && !p[1].holds(0x8000_0000));
    // Second example: a53_3 and a53_4 in no pool form a third pool.
    let dtb = pools_tree(vec![
        pool("cpupool_a", 1, &[0x12, 0x13], None),
        pool("cpupool_b", 2, &[0x10, 0x11], Some("null")),
    ]);
    let p = pools(dtb, &ALL_UP).unwrap();
    let got: Vec<_> = p.iter().map(|p| (p.id, p.node, p.cpus.clone())).collect();
    assert_eq!(
        got,
        [
            (0, Some("cpupool_b"), vec![0x0, 0x1]),
            (1, Some("cpupool_a"), vec![0x100, 0x101]),
            (2, None, vec![0x102, 0x103]),
        ]
    );
    // The boot CPU in no pool: the unlisted CPUs are Pool-0.
    let dtb = pools_tree(vec![pool("cpupool_a", 1, &[0x11], None)]);
    let online = [0x8000_0000, 0x8000_0001, 0x8000_0100];
    let p = pools(dtb, &online).unwrap();
    let got: Vec<_> = p.iter().map(|p| (p.id, p.node, p.cpus.clone())).collect();
    assert_eq!(
        got,
        [
            (0, None, vec![0x0, 0x100]),
            (1, Some("cpupool_a"), vec![0x1])
        ]
    );
    // Every CPU up listed, the boot CPU's pool second in the tree.
    let dtb = pools_tree(vec![
        pool("p1", 1, &[0x11], None),
        pool("p0", 2, &[0x10], None),
    ]);
    let p = pools(dtb, &[0x0, 0x1]).unwrap();
    let got: Vec<_> = p.iter().map(|p| (p.id, p.node)).collect();
    assert_eq!(got, [(0, Some("p0")), (1, Some("p1"))]);
}

#[test]
fn cpupool_errors_name_node_and_property() {
    let e = |kids: Vec<N>| pool_error(pools_tree(kids), &ALL_UP);
    assert_eq!(
        e(vec![pool("pool", 1, &[], None)]),
        "/chosen/pool: cpupool-cpus: missing or empty: a cpupool needs at least one CPU (cpupools.txt)"
    );
    assert_eq!(
        e(vec![n(
            "pool",
            vec![("compatible", s("xen,cpupool"))],
            vec![]
        )]),
        "/chosen/pool: cpupool-cpus: missing or empty: a cpupool needs at least one CPU (cpupools.txt)"
    );
    assert_eq!(
        e(vec![pool("pool", 1, &[0x10, 0x99], None)]),
        "/chosen/pool: cpupool-cpus: phandle 0x99 names no node"
    );
    assert_eq!(
        e(vec![pool("pool", 1, &[0x20], None)]),
        "/chosen/pool: cpupool-cpus: names /memory@40000000, which is not a cpu node (device_type = \"cpu\" under /cpus, with reg)"
    );
    assert_eq!(
        e(vec![
            pool("a", 1, &[0x10, 0x11], None),
            pool("b", 2, &[0x12, 0x11], None)
        ]),
        "/chosen/b: cpupool-cpus: /cpus/cpu@1 is already in cpupool /chosen/a: a CPU is in one pool"
    );
    assert_eq!(
        e(vec![pool("a", 1, &[0x10, 0x10], None)]),
        "/chosen/a: cpupool-cpus: /cpus/cpu@0 is already in cpupool /chosen/a: a CPU is in one pool"
    );
    assert_eq!(
        e(vec![pool("a", 1, &[0x12], Some("sedf"))]),
        "/chosen/a: cpupool-sched: \"sedf\" is not a Xen scheduler (credit, credit2, rtds, arinc653, null)"
    );
    assert_eq!(
        pool_error(
            pools_tree(vec![pool("a", 1, &[0x12, 0x13], None)]),
            &[0x0, 0x100]
        ),
        "/chosen/a: cpupool-cpus: /cpus/cpu@101 did not come up: every CPU of a cpupool must be up (Xen stops too)"
    );
    let mut odd = pool("a", 1, &[0x12], None);
    odd.props[1].1.push(0);
    assert_eq!(
        e(vec![odd]),
        "/chosen/a: cpupool-cpus: 5 bytes, expected whole cells (phandles of cpu nodes)"
    );
}

#[test]
fn domain_cpupool_names_a_pool_node() {
    let dom = |ph: &[u32]| {
        domain(
            "domU1",
            vec![("domain-cpupool", c(ph))],
            vec![kernel("module@4a000000", 0x4a00_0000, None)],
        )
    };
    let dtb = pools_tree(vec![pool("pool1", 1, &[0x12], None), dom(&[1])]);
    let d = parse(dtb).unwrap();
    assert_eq!(d[0].cpupool, Some("pool1"));
    for (ph, want) in [
        (
            vec![7],
            "/chosen/domU1: domain-cpupool: phandle 0x7 names no node",
        ),
        (
            vec![0x12],
            "/chosen/domU1: domain-cpupool: names /cpus/cpu@100, which is not a \"xen,cpupool\" node directly under /chosen",
        ),
        (
            vec![1, 1],
            "/chosen/domU1: domain-cpupool: 8 bytes, expected 1 cell (a phandle)",
        ),
    ] {
        let dtb = pools_tree(vec![pool("pool1", 1, &[0x12], None), dom(&ph)]);
        assert_eq!(error(dtb), want);
    }
}
