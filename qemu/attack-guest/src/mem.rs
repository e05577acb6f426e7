//! Loads and stores aimed outside the guest: the host's RAM (where Dom0,
//! the other DomUs and snowvisor live) taken as IPAs, snowvisor's image,
//! the GIC's distributor, CPU, hypervisor (GICH) and virtual CPU interfaces
//! at their host addresses, every device of QEMU's `virt` machine
//! (`hw/arm/virt.c`, `base_memmap` and the high regions), and a sweep of
//! the whole 40-bit IPA space. Each must end in a data abort snowvisor
//! injects (it reports the stage-2 fault with the domain's name). An IPA
//! in the guest's own space (its RAM, emulated GIC and UART) is "own":
//! IPAs are not PAs, so snowvisor's or Dom0's physical address there is the
//! guest's own memory.

use core::fmt::Write;

use crate::console::Line;
use crate::mmu;
use crate::probe;
use crate::report::{self, Report, Verdict};

/// The guest's own IPA ranges (base, size): RAM and emulated devices, from
/// its device tree.
pub struct Space {
    pub own: [(u64, u64); 64],
    pub n: usize,
}

impl Space {
    pub fn add(&mut self, base: u64, size: u64) {
        if self.n < self.own.len() {
            self.own[self.n] = (base, size);
            self.n += 1;
        }
    }

    fn owns(&self, ipa: u64) -> bool {
        self.own[..self.n]
            .iter()
            .any(|&(b, s)| ipa >= b && ipa - b < s)
    }
}

/// QEMU virt's host devices (hw/arm/virt.c `base_memmap`, QEMU 8.2-10.0,
/// and the high regions `extended_memmap` puts after RAM in a 40-bit space).
const DEVICES: &[(&str, u64)] = &[
    ("flash0", 0x0000_0000),
    ("flash1", 0x0400_0000),
    ("gicd", 0x0800_0000),
    ("gicc", 0x0801_0000),
    ("gicv2m", 0x0802_0000),
    ("gich", 0x0803_0000),
    ("gich-cpu0", 0x0803_0200),
    ("gicv", 0x0804_0000),
    ("uart0", 0x0900_0000),
    ("rtc", 0x0901_0000),
    ("fw-cfg", 0x0902_0000),
    ("gpio", 0x0903_0000),
    ("secure-uart", 0x0904_0000),
    ("smmuv3", 0x0905_0000),
    ("smmuv3-page1", 0x0906_0000),
    ("pvtime", 0x090a_0000),
    ("secure-gpio", 0x090b_0000),
    ("platform-bus", 0x0c00_0000),
    ("secure-mem", 0x0e00_0000),
    ("pcie-mmio", 0x1000_0000),
    ("pcie-pio", 0x3eff_0000),
    ("pcie-ecam", 0x3f00_0000),
    ("high-pcie-ecam", 0x40_1000_0000),
    ("high-pcie-mmio", 0x80_0000_0000),
];

/// virtio-mmio transports: 32 of 0x200 bytes from 0x0a00_0000.
const VIRTIO_MMIO: u64 = 0x0a00_0000;

/// Where snowvisor sits on QEMU virt (its board's load address) and Dom0's
/// usual places (RAM after snowvisor's 10 MiB, zImage and device tree as
/// QEMU loads them), all host PAs.
const HOST_RAM: u64 = 0x4000_0000;
const HOST_RAM_SIZE: u64 = 0x4000_0000;
const SNOWVISOR: &[(&str, u64)] = &[
    ("image", 0x4001_0000),
    ("image+64k", 0x4002_0000),
    ("image+1m", 0x4011_0000),
    ("ram-log", 0x4000_8000),
];
const DOM0: &[(&str, u64)] = &[
    ("ram-start", 0x40a0_0000),
    ("kernel", 0x40a0_8000),
    ("initrd", 0x4400_0000),
    ("zimage", 0x4600_0000),
    ("dtb", 0x4800_0000),
    ("ram-end", 0x7fff_f000),
];

const PATTERN: u32 = 0x5a5a_a5a5;

/// Attacks one IPA with a load and a store (`write`).
fn attack(r: &mut Report, s: &Space, group: &str, name: &str, ipa: u64, write: bool) {
    if s.owns(ipa) {
        r.case(
            group,
            format_args!("{name}-{}", if write { "write" } else { "read" }),
            Verdict::Own,
            format_args!("ipa {ipa:#x} is the guest's own"),
        );
        return;
    }
    let va = mmu::window(ipa);
    let o = if write {
        probe::store(va, PATTERN)
    } else {
        probe::load(va)
    };
    let mut l = Line::new();
    let v = report::access(&o, va, write, &mut l);
    r.case(
        group,
        format_args!("{name}-{}", if write { "write" } else { "read" }),
        v,
        format_args!("ipa {ipa:#x} {}", l.as_str()),
    );
}

/// Every memory attack. `writes`: false booted as Dom0, whose mappings are
/// real (a smoke test of the probes: only loads).
pub fn run(r: &mut Report, s: &Space, writes: bool) {
    let go = |r: &mut Report, group: &str, name: &str, ipa: u64| {
        attack(r, s, group, name, ipa, false);
        if writes {
            attack(r, s, group, name, ipa, true);
        }
    };
    for &(name, ipa) in SNOWVISOR {
        go(r, "snowvisor", name, ipa);
    }
    for &(name, ipa) in DOM0 {
        go(r, "dom0", name, ipa);
    }
    // All of the host's RAM, every 16 MiB: Dom0's, the other DomUs' and
    // snowvisor's physical memory, none of which is at the same IPA.
    let mut name = Line::new();
    for i in 0..HOST_RAM_SIZE >> 24 {
        let ipa = HOST_RAM + (i << 24);
        let _ = write!(name, "{ipa:#x}");
        go(r, "host-ram", name.as_str(), ipa + 0x100);
        name = Line::new();
    }
    for &(dev, ipa) in DEVICES {
        go(r, "device", dev, ipa);
    }
    for i in 0..32u64 {
        let _ = write!(name, "virtio-mmio{i}");
        go(r, "device", name.as_str(), VIRTIO_MMIO + i * 0x200);
        name = Line::new();
    }
    // The 40-bit IPA space: each power of two from 4 KiB, every 16 MiB of
    // the low 4 GiB, every 4 GiB above, and the last word.
    for bit in 12..40 {
        let _ = write!(name, "2^{bit}");
        go(r, "sweep", name.as_str(), 1 << bit);
        name = Line::new();
    }
    for i in 0..256u64 {
        let ipa = (i << 24) | 0x40;
        let _ = write!(name, "{ipa:#x}");
        go(r, "sweep", name.as_str(), ipa);
        name = Line::new();
    }
    for i in 1..256u64 {
        let ipa = (i << 32) | 0x80;
        let _ = write!(name, "{ipa:#x}");
        go(r, "sweep", name.as_str(), ipa);
        name = Line::new();
    }
    go(r, "sweep", "top", 0xff_ffff_fffc);
}
