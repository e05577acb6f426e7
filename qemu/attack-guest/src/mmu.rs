//! The guest's stage 1: long-descriptor (LPAE) tables, so that its 32-bit
//! VAs reach every IPA of the 40-bit space stage 2 translates (ARM ARM
//! B3.6). TTBR0 covers all 4 GiB (TTBCR.EAE = 1, T0SZ = 0) with one
//! first-level table of four 1 GiB blocks: the first three map
//! 0x0000_0000-0xbfff_ffff 1:1 (RAM's gigabyte as Normal memory, the others
//! as Device), the fourth is a window moved onto any gigabyte of IPA.

use core::ptr::{addr_of, addr_of_mut, write_volatile};

/// VA of the window.
pub const WINDOW: u32 = 0xc000_0000;
const GIB: u64 = 1 << 30;

#[repr(C, align(32))]
struct Level1([u64; 4]);

static mut LEVEL1: Level1 = Level1([0; 4]);

/// MAIR0 (B4.1.104): Attr0 Device-nGnRnE (strongly ordered), Attr1 Normal
/// inner/outer non-cacheable (the guest runs with caches off, SCTLR.C = 0).
const MAIR0: u32 = 0x0000_4400;
/// Block descriptor bits (B3.6.2): valid block, AF, and for Normal memory
/// AttrIndx 1 inner shareable; Device memory is XN and PXN.
const BLOCK: u64 = 0b01 | (1 << 10);
const NORMAL: u64 = (1 << 2) | (3 << 8);
const DEVICE_XN: u64 = (1 << 54) | (1 << 53);

fn block(ipa: u64, normal: bool) -> u64 {
    (ipa & 0xff_c000_0000) | BLOCK | if normal { NORMAL } else { DEVICE_XN }
}

fn tlb_flush() {
    // SAFETY: TLBIALL with the barriers a table change needs (B3.10.1).
    unsafe {
        core::arch::asm!(
            "dsb",
            "mcr p15, 0, {z}, c8, c7, 0",
            "dsb",
            "isb",
            z = in(reg) 0u32,
            options(nostack)
        )
    };
}

/// Turns the MMU on with the tables above; `ram` is the gigabyte holding
/// the guest's RAM (mapped Normal).
pub fn enable(ram: u64) {
    let table = addr_of_mut!(LEVEL1) as *mut u64;
    for i in 0..3u64 {
        let ipa = i * GIB;
        // SAFETY: our own table, before the MMU uses it.
        unsafe { write_volatile(table.add(i as usize), block(ipa, ipa == ram & !(GIB - 1))) };
    }
    // SAFETY: as above.
    unsafe { write_volatile(table.add(3), block(3 * GIB, false)) };
    let base = addr_of!(LEVEL1) as u32;
    // SAFETY: MAIR0, TTBCR (EAE, T0SZ 0, walks non-cacheable), TTBR0 (the
    // 64-bit form, ASID 0), then SCTLR.M; the code and stack are in RAM,
    // mapped 1:1, so execution goes on at the next instruction.
    unsafe {
        core::arch::asm!(
            "mcr p15, 0, {mair}, c10, c2, 0",
            "mcr p15, 0, {ttbcr}, c2, c0, 2",
            "mcrr p15, 0, {lo}, {hi}, c2",
            "isb",
            "dsb",
            "mcr p15, 0, {z}, c8, c7, 0",
            "dsb",
            "isb",
            "mrc p15, 0, {t}, c1, c0, 0",
            "orr {t}, {t}, #1",
            "mcr p15, 0, {t}, c1, c0, 0",
            "isb",
            mair = in(reg) MAIR0,
            ttbcr = in(reg) 0x8000_0000u32,
            lo = in(reg) base,
            hi = in(reg) 0u32,
            z = in(reg) 0u32,
            t = out(reg) _,
            options(nostack)
        )
    };
}

/// Moves the window onto the gigabyte holding `ipa` (Device memory) and
/// returns the VA that reaches `ipa`.
pub fn window(ipa: u64) -> u32 {
    let table = addr_of_mut!(LEVEL1) as *mut u64;
    // SAFETY: our own table's last entry, which only the window uses.
    unsafe { write_volatile(table.add(3), block(ipa, false)) };
    tlb_flush();
    WINDOW + (ipa & (GIB - 1)) as u32
}
