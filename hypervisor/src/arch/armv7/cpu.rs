//! CPU control at HYP: interrupts, halting, cache maintenance.

use core::arch::asm;

/// Unmasks IRQs at HYP.
pub fn enable_irqs() {
    // SAFETY: the HYP vector table is installed before anything unmasks IRQs.
    unsafe { asm!("cpsie i", options(nomem, nostack)) }
}

pub fn disable_irqs() {
    // SAFETY: masking interrupts cannot break memory safety.
    unsafe { asm!("cpsid i", options(nomem, nostack)) }
}

pub fn wait_for_interrupt() {
    // SAFETY: WFI only pauses the core.
    unsafe { asm!("dsb", "wfi", options(nomem, nostack)) }
}

/// Stops this CPU for good: interrupts masked, WFI in a loop.
pub fn halt() -> ! {
    disable_irqs();
    loop {
        wait_for_interrupt();
    }
}

pub fn dsb() {
    // SAFETY: barrier only.
    unsafe { asm!("dsb", options(nostack)) }
}

pub fn isb() {
    // SAFETY: barrier only.
    unsafe { asm!("isb", options(nostack)) }
}

/// Cache line size of the data cache, from CTR.DminLine.
fn dcache_line() -> usize {
    let ctr = aarch32_cpu::register::Ctr::read().0;
    4 << ((ctr >> 16) & 0xf)
}

/// Cleans and invalidates [start, start+len) to the point of coherency.
pub fn clean_inval_dcache_range(start: usize, len: usize) {
    let line = dcache_line();
    let mut a = start & !(line - 1);
    while a < start + len {
        // SAFETY: DCCIMVAC on a mapped address only moves data between cache and memory.
        unsafe { asm!("mcr p15, 0, {}, c7, c14, 1", in(reg) a, options(nostack)) };
        a += line;
    }
    dsb();
}

/// Invalidates the whole instruction cache and branch predictor.
pub fn invalidate_icache() {
    // SAFETY: ICIALLU/BPIALL have no effect on data.
    unsafe {
        asm!("mcr p15, 0, {0}, c7, c5, 0", "mcr p15, 0, {0}, c7, c5, 6", "dsb", "isb", in(reg) 0, options(nostack))
    }
}

/// Invalidates the L1 data cache by set/way, before the caches are first enabled,
/// so no stale line from before reset can be hit. (Clean lines only: the boot
/// protocol hands over with the D-cache off and clean.)
pub fn invalidate_l1_dcache() {
    // CSSELR = 0 selects the L1 data cache; CCSIDR then describes it.
    // SAFETY: selecting a cache for CCSIDR reads has no other effect.
    unsafe { asm!("mcr p15, 2, {}, c0, c0, 0", "isb", in(reg) 0, options(nostack)) };
    let ccsidr: u32;
    // SAFETY: reading CCSIDR has no side effects.
    unsafe { asm!("mrc p15, 1, {}, c0, c0, 0", out(reg) ccsidr, options(nostack)) };
    let line_shift = (ccsidr & 7) + 4;
    let ways = ((ccsidr >> 3) & 0x3ff) + 1;
    let sets = ((ccsidr >> 13) & 0x7fff) + 1;
    let way_shift = (ways - 1).leading_zeros() % 32;
    for set in 0..sets {
        for way in 0..ways {
            let sw = (way.checked_shl(way_shift).unwrap_or(0)) | (set << line_shift);
            // SAFETY: DCISW on L1 with caches still off drops only clean lines.
            unsafe { asm!("mcr p15, 0, {}, c7, c6, 2", in(reg) sw, options(nostack)) };
        }
    }
    dsb();
}

/// Executes a permanently undefined instruction (the exception-report self-test).
pub fn undefined_instruction() {
    // SAFETY: UDF traps to the HYP undefined-instruction vector, which reports
    // and halts; no state is changed before that.
    unsafe { asm!("udf #0", options(nostack)) }
}
