//! Dom0less domain nodes read the same in every form a bootloader leaves a
//! tree in (FDT_NOP tokens, properties after children), and Dom0's modules
//! stay only the direct children of `/chosen`.

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
    for how in Rewrite::ALL
        .map(|r| vec![r])
        .iter()
        .map(Vec::as_slice)
        .chain([&Rewrite::ALL[..]])
    {
        let blob = rewrite(&plain, how).unwrap();
        assert_ne!(blob, plain, "{how:?} changed nothing");
        assert_eq!(read(&blob), want, "{how:?}");
    }
}
