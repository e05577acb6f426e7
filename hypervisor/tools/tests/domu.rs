//! DomUs: dom0less domain nodes read the same in every form a bootloader
//! leaves a tree in (FDT_NOP tokens, properties after children), Dom0's
//! modules stay only the direct children of `/chosen`, and the device tree
//! written for each domain passes dtc's checks (Linux's W=1 ones too).

use snowvisor_dt::dom0less::{domus, Enhanced};
use snowvisor_dt::testing::{blob, c, n, s};
use snowvisor_dt::HostTree;
use snowvisor_tools::fdt_edit::{rewrite, Rewrite};

/// Two domains in the shape of booting.txt's example, and Dom0's modules.
fn tree() -> Vec<u8> {
    let module = |name, compat: &str, base: u32, args: Option<&str>| {
        let mut p = vec![("compatible", s(compat)), ("reg", c(&[0, base, 0xff_ffff]))];
        if let Some(a) = args {
            p.push(("bootargs", s(a)));
        }
        n(name, p, vec![])
    };
    let kernel = "multiboot,kernel\0multiboot,module";
    let ramdisk = "multiboot,ramdisk\0multiboot,module";
    let domain = |name, mem: u32, cpus: u32, kids| {
        n(
            name,
            vec![
                ("compatible", s("xen,domain")),
                ("#address-cells", c(&[2])),
                ("#size-cells", c(&[1])),
                ("memory", c(&[0, mem])),
                ("cpus", c(&[cpus])),
                ("vpl011", vec![]),
                ("xen,enhanced", vec![]),
            ],
            kids,
        )
    };
    blob(&n(
        "",
        vec![("#address-cells", c(&[1])), ("#size-cells", c(&[1]))],
        vec![n(
            "chosen",
            vec![
                ("#address-cells", c(&[2])),
                ("#size-cells", c(&[1])),
                ("xen,xen-bootargs", s("loglvl=all")),
            ],
            vec![
                module("module@42000000", kernel, 0x4200_0000, Some("console=hvc0")),
                domain(
                    "domU1",
                    131072,
                    2,
                    vec![
                        module(
                            "module@4a000000",
                            kernel,
                            0x4a00_0000,
                            Some("console=ttyAMA0"),
                        ),
                        module("module@4b000000", ramdisk, 0x4b00_0000, None),
                    ],
                ),
                module("module@43000000", ramdisk, 0x4300_0000, None),
                domain(
                    "domU2",
                    65536,
                    1,
                    vec![module("module@4c000000", kernel, 0x4c00_0000, None)],
                ),
            ],
        )],
    ))
}

/// Everything read from `dtb`, as text.
fn read(dtb: &[u8]) -> String {
    let t = HostTree::new(dtb).unwrap();
    let d = domus(&t).unwrap();
    format!("{:?}\n{d:?}", t.modules())
}

#[test]
fn domains_read_the_same_with_nops_and_late_properties() {
    let plain = tree();
    let want = read(&plain);
    let t = HostTree::new(&plain).unwrap();
    let d = domus(&t).unwrap();
    assert_eq!(d.len(), 2);
    assert_eq!(
        (d[0].name, d[0].vcpus, d[0].memory_kib),
        ("domU1", 2, 131072)
    );
    assert_eq!(d[0].enhanced, Enhanced::Enabled);
    assert_eq!(d[0].bootargs, Some("console=ttyAMA0"));
    assert_eq!(d[0].ramdisk.unwrap().region.base, 0x4b00_0000);
    assert_eq!((d[1].domid, d[1].ramdisk), (2, None));
    let dom0: Vec<_> = t.modules().iter().map(|m| m.region.base).collect();
    assert_eq!(dom0, [0x4200_0000, 0x4300_0000]);
    for how in Rewrite::forms() {
        let how = &how[..];
        let blob = rewrite(&plain, how).unwrap();
        assert_ne!(blob, plain, "{how:?} changed nothing");
        assert_eq!(read(&blob), want, "{how:?}");
    }
}

/// dtc's checks, with the ones Linux turns on only for `make W=1` enabled
/// too (`scripts/Makefile.lib`); the warnings, one per line.
fn dtc_w1_warnings(dtb: &[u8]) -> Vec<String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut args = vec!["-I", "dtb", "-O", "dts", "-o", "/dev/null"];
    for w in [
        "unit_address_vs_reg",
        "avoid_unnecessary_addr_size",
        "alias_paths",
        "graph_child_address",
        "simple_bus_reg",
        "unique_unit_address",
        "interrupt_provider",
    ] {
        args.extend(["-W", w]);
    }
    let mut c = Command::new("dtc")
        .args(&args)
        .arg("-")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dtc is needed: apt-get install device-tree-compiler");
    c.stdin.take().unwrap().write_all(dtb).unwrap();
    let out = c.wait_with_output().unwrap();
    assert!(out.status.success(), "dtc rejected the DomU tree");
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains("Warning"))
        .map(String::from)
        .collect()
}

/// A DomU's tree for each dom0less domain of [`tree`], from the spec the
/// parser gives and the host's CPU and timer facts (QEMU virt's).
#[test]
fn domu_trees_dtc_clean() {
    use snowvisor_plan::domu::{self, layout};
    let host = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../dt/src/testdata/qemu-virt.dtb"),
    )
    .unwrap();
    let host = HostTree::new(&host).unwrap();
    let x = host.index();
    let cpu = x.by_path("/cpus/cpu@0").unwrap();
    let cpu_compatible = x.str_prop(cpu, "compatible").unwrap();
    let blob = tree();
    let t = HostTree::new(&blob).unwrap();
    for spec in domus(&t).unwrap() {
        let memory = layout::ram_banks(spec.memory_bytes()).unwrap();
        let initrd = spec.ramdisk.map(|r| snowvisor_dt::Region {
            base: memory[0].base + (128 << 20) - (16 << 20),
            size: r.region.size,
        });
        let p = domu::DomUParams {
            xen_version: (4, 17),
            memory,
            vcpus: spec.vcpus,
            cpu_compatible,
            timer_clock_frequency: host.timer().and_then(|t| t.clock_frequency),
            vpl011: spec.vpl011,
            xen_pv: spec.enhanced != Enhanced::Disabled,
            bootargs: spec.bootargs,
            initrd,
        };
        let dtb = domu::build(&p).unwrap();
        let warnings = snowvisor_tools::dtc_warnings(&dtb).unwrap();
        // The one warning Xen's DomU trees have too: Linux finds Xen's node
        // only by the exact name /hypervisor, which cannot carry the unit
        // address its reg asks for.
        assert!(
            warnings
                .iter()
                .all(|w| snowvisor_tools::expected_new_warning(w)),
            "{}: {warnings:?}",
            spec.name
        );
        assert_eq!(warnings.len(), 1, "{}: {warnings:?}", spec.name);
        let w1 = dtc_w1_warnings(&dtb);
        assert!(
            w1.len() == 1 && w1[0].contains("(unit_address_vs_reg): /hypervisor:"),
            "{}: {w1:?}",
            spec.name
        );
        let d = HostTree::new(&dtb).unwrap();
        assert_eq!(d.cpu_count(), spec.vcpus as usize);
        assert_eq!(d.memory().unwrap()[0].size, spec.memory_bytes());
        assert_eq!(d.chosen_str("bootargs"), spec.bootargs);
    }
}
