//! HYP system registers that `aarch32-cpu` does not provide, each a small safe
//! function over one instruction.

use core::arch::asm;

/// HTCR (p15, 4, c2, c0, 2).
pub fn write_htcr(v: u32) {
    // SAFETY: HTCR only configures HYP translation walks; callers set it before
    // enabling the HYP MMU, so no live translation changes under our feet.
    unsafe {
        asm!(".arch_extension virt", "mcr p15, 4, {}, c2, c0, 2", in(reg) v, options(nostack))
    }
}

/// HMAIR0 (p15, 4, c10, c2, 0).
pub fn write_hmair0(v: u32) {
    // SAFETY: memory-attribute indirection for HYP; set before the MMU is enabled.
    unsafe {
        asm!(".arch_extension virt", "mcr p15, 4, {}, c10, c2, 0", in(reg) v, options(nostack))
    }
}

/// HTTBR (64-bit, p15, 4, c2).
pub fn write_httbr(v: u64) {
    // SAFETY: points the HYP walker at tables the caller keeps alive for ever.
    unsafe {
        asm!(".arch_extension virt", "mcrr p15, 4, {}, {}, c2",
             in(reg) v as u32, in(reg) (v >> 32) as u32, options(nostack))
    }
}

/// TLBIALLH: invalidate all HYP TLB entries.
pub fn tlbi_allh() {
    // SAFETY: TLB invalidation has no memory effects beyond dropping cached walks.
    unsafe {
        asm!(".arch_extension virt", "mcr p15, 4, {}, c8, c7, 0", "dsb", "isb", in(reg) 0, options(nostack))
    }
}

/// TLBIMVAH: invalidate HYP TLB entries for the page at virtual address `va`.
pub fn tlbi_mvah(va: usize) {
    // SAFETY: TLB invalidation has no memory effects beyond dropping cached walks.
    unsafe {
        asm!(".arch_extension virt", "mcr p15, 4, {}, c8, c7, 1", in(reg) va & !0xfff, options(nostack))
    }
}

/// ELR_hyp / SPSR_hyp are in the trap frame; HDFAR/HIFAR/HPFAR via aarch32-cpu.
/// CPSR, read directly.
pub fn read_cpsr() -> u32 {
    let v: u32;
    // SAFETY: reading CPSR has no side effects.
    unsafe { asm!("mrs {}, cpsr", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}
