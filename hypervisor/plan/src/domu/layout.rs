//! A DomU's guest physical address space: Xen 4.17's virtual platform, from
//! `xen/include/public/arch-arm.h` (the line of each value is cited, at tag
//! RELEASE-4.17.7). A Linux guest finds every address and interrupt in the
//! device tree snowvisor writes for it ([`super::tree`]), so these are a
//! convention shared with Xen's tools, not ABI a guest may hard-code; keeping
//! Xen's values lets the same guest kernel and tools run under both.
//!
//! Addresses are IPAs (guest physical), sizes in bytes, interrupts INTIDs.

use alloc::vec::Vec;
use core::fmt;

use snowvisor_dt::Region;

/// `GUEST_GICD_BASE` (arch-arm.h:403): the guest's GICv2 distributor.
pub const GUEST_GICD_BASE: u64 = 0x0300_1000;
/// `GUEST_GICD_SIZE` (arch-arm.h:404): 4 KiB, one distributor frame.
pub const GUEST_GICD_SIZE: u64 = 0x0000_1000;
/// `GUEST_GICC_BASE` (arch-arm.h:405): the guest's GICv2 CPU interface (the
/// hardware's GICV frame mapped here).
pub const GUEST_GICC_BASE: u64 = 0x0300_2000;
/// `GUEST_GICC_SIZE` (arch-arm.h:406): 8 KiB (GICC_DIR is at 0x1000).
pub const GUEST_GICC_SIZE: u64 = 0x0000_2000;
/// `GUEST_PL011_BASE` (arch-arm.h:429): the emulated UART (`vpl011`).
pub const GUEST_PL011_BASE: u64 = 0x2200_0000;
/// `GUEST_PL011_SIZE` (arch-arm.h:430): one 4 KiB page.
pub const GUEST_PL011_SIZE: u64 = 0x0000_1000;
/// `GUEST_GNTTAB_BASE` (arch-arm.h:441): where the guest maps grant frames.
pub const GUEST_GNTTAB_BASE: u64 = 0x3800_0000;
/// `GUEST_GNTTAB_SIZE` (arch-arm.h:442): 16 MiB, 4096 frames.
pub const GUEST_GNTTAB_SIZE: u64 = 0x0100_0000;
/// `GUEST_MAGIC_BASE` (arch-arm.h:444): xenstore and console rings of a
/// toolstack-built guest; kept clear of RAM.
pub const GUEST_MAGIC_BASE: u64 = 0x3900_0000;
/// A DomU's PV console ring: `CONSOLE_PFN_OFFSET` (0) pages into the
/// magic region, where Xen's toolstack puts an ARM guest's
/// (`tools/libs/guest/xg_dom_arm.c`, `alloc_magic_pages`).
pub const GUEST_CONSOLE_BASE: u64 = GUEST_MAGIC_BASE;
/// A dom0less DomU's xenstore page: `XENSTORE_PFN_OFFSET` (1) pages into
/// the magic region, where Xen's `init-dom0less`
/// (`tools/helpers/init-dom0less.c`) puts it.
pub const GUEST_XENSTORE_BASE: u64 = GUEST_MAGIC_BASE + 0x1000;
/// `GUEST_MAGIC_SIZE` (arch-arm.h:445).
pub const GUEST_MAGIC_SIZE: u64 = 0x0100_0000;
/// `GUEST_RAM0_BASE` (arch-arm.h:454): 3 GiB of low RAM at 1 GiB.
pub const GUEST_RAM0_BASE: u64 = 0x4000_0000;
/// `GUEST_RAM0_SIZE` (arch-arm.h:455).
pub const GUEST_RAM0_SIZE: u64 = 0xc000_0000;
/// `GUEST_RAM1_BASE` (arch-arm.h:462): the rest of RAM, at 8 GiB.
pub const GUEST_RAM1_BASE: u64 = 0x02_0000_0000;
/// `GUEST_RAM1_SIZE` (arch-arm.h:463): 1016 GiB, up to 1 TiB (40 bits of IPA,
/// what LPAE stage 2 gives on a Cortex-A15).
pub const GUEST_RAM1_SIZE: u64 = 0xfe_0000_0000;
/// `GUEST_RAM_MAX` (arch-arm.h:467): the most RAM a guest can have, in bytes.
pub const GUEST_RAM_MAX: u64 = GUEST_RAM0_SIZE + GUEST_RAM1_SIZE;
/// `GUEST_TIMER_VIRT_PPI` (arch-arm.h:476): the virtual timer, INTID 27.
pub const GUEST_TIMER_VIRT_PPI: u32 = 27;
/// `GUEST_TIMER_PHYS_S_PPI` (arch-arm.h:477): the secure physical timer, INTID 29.
pub const GUEST_TIMER_PHYS_S_PPI: u32 = 29;
/// `GUEST_TIMER_PHYS_NS_PPI` (arch-arm.h:478): the non-secure physical timer, INTID 30.
pub const GUEST_TIMER_PHYS_NS_PPI: u32 = 30;
/// `GUEST_EVTCHN_PPI` (arch-arm.h:479): the event-channel upcall, INTID 31.
pub const GUEST_EVTCHN_PPI: u32 = 31;
/// `GUEST_VPL011_SPI` (arch-arm.h:481): the emulated UART's interrupt, INTID
/// 32 (SPI 0).
pub const GUEST_VPL011_SPI: u32 = 32;
/// `GUEST_PHANDLE_GIC` (xen/include/public/device_tree_defs.h:15): the
/// phandle of the guest's interrupt controller.
pub const GUEST_PHANDLE_GIC: u32 = 65000;
/// `GUEST_ROOT_ADDRESS_CELLS` (device_tree_defs.h:18): the guest tree's root
/// `#address-cells`.
pub const GUEST_ROOT_ADDRESS_CELLS: u32 = 2;
/// `GUEST_ROOT_SIZE_CELLS` (device_tree_defs.h:19): the root `#size-cells`.
pub const GUEST_ROOT_SIZE_CELLS: u32 = 2;

/// The guest RAM banks can not hold `bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooMuchRam {
    pub bytes: u64,
}

impl fmt::Display for TooMuchRam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} KiB of RAM: Xen's guest memory map holds at most {} KiB (GUEST_RAM0 + GUEST_RAM1)",
            self.bytes / 1024,
            GUEST_RAM_MAX / 1024
        )
    }
}

/// The guest's RAM banks for `bytes` of memory, as Xen's `allocate_memory`
/// lays out a DomU: GUEST_RAM0 first, the rest from GUEST_RAM1 when more
/// than 3 GiB. Errors: more than [`GUEST_RAM_MAX`] (0 gives no bank; the
/// binding's parser refuses it before).
pub fn ram_banks(bytes: u64) -> Result<Vec<Region>, TooMuchRam> {
    if bytes > GUEST_RAM_MAX {
        return Err(TooMuchRam { bytes });
    }
    let low = bytes.min(GUEST_RAM0_SIZE);
    let banks = [(GUEST_RAM0_BASE, low), (GUEST_RAM1_BASE, bytes - low)];
    Ok(banks
        .into_iter()
        .filter(|&(_, size)| size > 0)
        .map(|(base, size)| Region { base, size })
        .collect())
}

/// Every region of the layout that is not RAM, named, for overlap checks
/// and for refusing guest accesses outside them.
pub const DEVICE_REGIONS: [(&str, Region); 5] = [
    (
        "GICD",
        Region {
            base: GUEST_GICD_BASE,
            size: GUEST_GICD_SIZE,
        },
    ),
    (
        "GICC",
        Region {
            base: GUEST_GICC_BASE,
            size: GUEST_GICC_SIZE,
        },
    ),
    (
        "PL011",
        Region {
            base: GUEST_PL011_BASE,
            size: GUEST_PL011_SIZE,
        },
    ),
    (
        "grant table",
        Region {
            base: GUEST_GNTTAB_BASE,
            size: GUEST_GNTTAB_SIZE,
        },
    ),
    (
        "magic pages",
        Region {
            base: GUEST_MAGIC_BASE,
            size: GUEST_MAGIC_SIZE,
        },
    ),
];
