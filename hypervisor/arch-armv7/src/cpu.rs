//! CPU control at HYP: interrupts, halting, cache maintenance.

use aarch32_cpu::register::{
    csselr::CacheType, BpIAll, Ccsidr, Csselr, Ctr, Dccimvac, Dcimvac, Dcisw, Iciallu,
};
use arbitrary_int::u3;
use core::arch::asm;

use crate::sysreg::compiler_barrier;

/// Unmasks IRQs at HYP.
pub fn enable_irqs() {
    // SAFETY: the HYP vector table is installed before anything unmasks IRQs.
    unsafe { aarch32_cpu::interrupt::enable() }
}

pub fn disable_irqs() {
    aarch32_cpu::interrupt::disable();
}

pub fn wait_for_interrupt() {
    dsb();
    aarch32_cpu::asm::wfi();
}

/// Stops this CPU for good: interrupts masked, WFI in a loop.
pub fn halt() -> ! {
    disable_irqs();
    loop {
        wait_for_interrupt();
    }
}

pub fn dsb() {
    aarch32_cpu::asm::dsb();
}

pub fn isb() {
    aarch32_cpu::asm::isb();
}

/// Clears this CPU's local exclusive monitor (CLREX), as a context switch
/// between two guests' vCPUs must (ARM ARM DDI 0406C A3.4.5: an open
/// `LDREX` of one vCPU must not let the next vCPU's `STREX` succeed).
pub fn clear_exclusive() {
    // SAFETY: CLREX only clears the local monitor; no memory or register
    // but the monitor's state changes.
    unsafe { asm!("clrex", options(nomem, nostack, preserves_flags)) }
}

/// Cache line size of the data cache in bytes, from CTR.DminLine (bits
/// 19:16, log2 of the line in words; B4.1.42).
fn dcache_line() -> usize {
    4 << ((Ctr::read().0 >> 16) & 0xf)
}

/// Cleans and invalidates [start, start+len) to the point of coherency.
/// A range that ends at the top of the address space (4 GiB) is cleaned to
/// its last line: the walk counts lines, never the end address, which
/// would wrap to 0.
pub fn clean_inval_dcache_range(start: usize, len: usize) {
    if len == 0 {
        return;
    }
    let line = dcache_line();
    let first = start & !(line - 1);
    let last = start.saturating_add(len - 1) & !(line - 1);
    let lines = (last - first) / line + 1;
    // The stores to the range are made before the first DCCIMVAC.
    compiler_barrier();
    for i in 0..lines {
        let a = first + i * line;
        // SAFETY: DCCIMVAC on a mapped address only moves data between cache and memory.
        unsafe { Dccimvac::write(Dccimvac(a as u32)) };
    }
    dsb();
}

/// Invalidates (drops, without writing back) the data cache line holding
/// `addr` to the point of coherency, so the next read sees what another
/// agent wrote to memory with its caches off. The line must hold nothing
/// this CPU wrote.
pub fn invalidate_dcache_line(addr: usize) {
    compiler_barrier();
    // SAFETY: DCIMVAC drops one line; the caller vouches it holds no data of
    // this CPU's that is not in memory.
    unsafe { Dcimvac::write(Dcimvac(addr as u32)) };
    dsb();
}

/// Invalidates the whole instruction cache and branch predictor.
pub fn invalidate_icache() {
    compiler_barrier();
    Iciallu::write();
    BpIAll::write();
    dsb();
    isb();
}

/// Invalidates every CPU's instruction cache and branch predictor (the
/// Inner Shareable broadcasts ICIALLUIS and BPIALLIS, ARM ARM B4.2.1):
/// after code was written for a guest that has not run it yet, as Xen does
/// after populating a domain's memory. aarch32-cpu has no accessor for the
/// broadcast forms, hence the raw MCRs.
pub fn invalidate_icache_all_cpus() {
    compiler_barrier();
    dsb();
    // SAFETY: ICIALLUIS and BPIALLIS (CP15 c7, c1, 0 and c7, c1, 6; the
    // written value is ignored) only drop cached instructions and branch
    // predictions on every CPU of the Inner Shareable domain; nothing is
    // lost, the next fetches read memory.
    unsafe {
        core::arch::asm!(
            "mcr p15, 0, {z}, c7, c1, 0",
            "mcr p15, 0, {z}, c7, c1, 6",
            z = in(reg) 0u32,
            options(nostack, preserves_flags)
        );
    }
    dsb();
    isb();
}

/// Invalidates the L1 data cache by set/way, before the caches are first enabled,
/// so no stale line from before reset can be hit. (Clean lines only: the boot
/// protocol hands over with the D-cache off and clean.)
pub fn invalidate_l1_dcache() {
    // CSSELR = L1 data cache selects what CCSIDR then describes.
    let l1_data = Csselr::new_with_raw_value(0)
        .with_level(u3::new(0))
        .with_cache_type(CacheType::DataOrUnified);
    // SAFETY: selecting a cache for CCSIDR reads has no other effect.
    unsafe { Csselr::write(l1_data) };
    isb();
    let ccsidr = Ccsidr::read();
    // Line length log2(bytes) = LineSize + 4; ways and sets are stored minus one.
    let line_shift = usize::from(ccsidr.line_size().value()) + 4;
    let ways = u32::from(ccsidr.associativity().value()) + 1;
    let sets = u32::from(ccsidr.num_sets().value()) + 1;
    // log2(ways) rounded up: the way field sits at the top of the operand.
    let way_bits = (u32::BITS - (ways - 1).leading_zeros()) as usize;
    for set in 0..sets {
        for way in 0..ways {
            let sw =
                Dcisw::new_with_offsets(way_bits, way as u8, line_shift, set as u16, u3::new(0));
            // SAFETY: DCISW on L1 with caches still off drops only clean lines.
            unsafe { Dcisw::write(sw) };
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
