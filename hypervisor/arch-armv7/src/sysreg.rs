//! System-register access at HYP: the reads and writes of the registers whose
//! layouts `snowvisor_arm::sysreg` defines (re-exported here with them), the TLB
//! maintenance and address-translation operations with their barriers, and
//! the banked-register and CPSR accesses aarch32-cpu has no function for.
//! Every other register is read and written through `aarch32_cpu::register`.
//! The only module of this crate that emits system-register instructions
//! itself (besides the entry assembly, which runs before Rust does).

pub use snowvisor_arm::sysreg::*;

#[cfg(target_arch = "arm")]
use aarch32_cpu::register::{SysRegRead, SysRegRead64, SysRegWrite, SysRegWrite64};
#[cfg(target_arch = "arm")]
use core::arch::asm;

/// Writes HTCR.
///
/// # Safety
/// HYP's translation must not change under running code: set it before the
/// HYP MMU is enabled.
#[cfg(target_arch = "arm")]
pub unsafe fn write_htcr(value: Htcr) {
    // SAFETY: forwarded from the caller.
    unsafe { Htcr::write_raw(value.raw_value()) }
}

/// Writes HTTBR.
///
/// # Safety
/// The tables must stay valid as long as HYP translates through them.
#[cfg(target_arch = "arm")]
pub unsafe fn write_httbr(value: Httbr) {
    // SAFETY: forwarded from the caller.
    unsafe { Httbr::write_raw(value.raw_value()) }
}

/// Writes VTCR.
///
/// # Safety
/// No guest may run on this CPU with stage-2 tables of another format.
#[cfg(target_arch = "arm")]
pub unsafe fn write_vtcr(value: Vtcr) {
    // SAFETY: forwarded from the caller.
    unsafe { Vtcr::write_raw(value.raw_value()) }
}

/// Writes VTTBR.
///
/// # Safety
/// The tables must stay valid as long as a guest with this VMID runs.
#[cfg(target_arch = "arm")]
pub unsafe fn write_vttbr(value: Vttbr) {
    // SAFETY: forwarded from the caller.
    unsafe { Vttbr::write_raw(value.raw_value()) }
}

/// Reads the guest's TTBCR (PL1's; its EAE selects the fault status format).
#[cfg(target_arch = "arm")]
pub fn read_ttbcr() -> Ttbcr {
    Ttbcr::new_with_raw_value(<Ttbcr as SysRegRead>::read_raw())
}

/// Reads PAR (64 bits): the last address translation's result.
#[cfg(target_arch = "arm")]
pub fn read_par() -> Par64 {
    Par64::new_with_raw_value(<Par64 as SysRegRead64>::read_raw())
}

/// Writes PAR (64 bits): it only holds the last translation's result.
#[cfg(target_arch = "arm")]
pub fn write_par(value: Par64) {
    // SAFETY: PAR has no effect on execution; the caller puts back a value.
    unsafe { Par64::write_raw(value.raw_value()) }
}

#[cfg(target_arch = "arm")]
/// Orders earlier memory accesses of this program before a following
/// maintenance operation: aarch32-cpu's `mcr` asm is declared `nomem`, so the
/// compiler could otherwise move a store past it. No instruction.
#[inline(always)]
pub fn compiler_barrier() {
    // SAFETY: an empty asm block that may read and write memory: a compiler
    // barrier only.
    unsafe { asm!("", options(nostack, preserves_flags)) }
}

#[cfg(target_arch = "arm")]
/// TLBIALLH with its barriers: every HYP TLB entry gone before the next
/// instruction.
pub fn tlbi_all_h() {
    compiler_barrier();
    // SAFETY: TLB invalidation has no effect beyond dropping cached walks.
    unsafe { TlbiAllH::write_raw(0) };
    aarch32_cpu::asm::dsb();
    aarch32_cpu::asm::isb();
}

#[cfg(target_arch = "arm")]
/// TLBIMVAHIS for the page holding `va`, on every CPU (HYP's tables are
/// shared by all); the caller orders it with barriers (a DSB before, after
/// the descriptor write; DSB and ISB after).
pub fn tlbi_mva_h(va: usize) {
    // SAFETY: TLB invalidation has no effect beyond dropping cached walks.
    unsafe { TlbiMvaHIs::write_raw((va & !0xfff) as u32) };
}

#[cfg(target_arch = "arm")]
/// TLBIALLNSNHIS with the barriers a stage-2 change needs: `dsb ishst`
/// makes the descriptor writes visible to the table walkers first; the
/// invalidation reaches every CPU of the Inner Shareable domain (a domain's
/// vCPUs run on several); `dsb ish` waits for it; `isb` so that the next
/// instruction (a guest entry or an AT operation) sees the new tables.
pub fn tlbi_all_nsnh() {
    // SAFETY: barrier only; no `nomem`, so earlier stores are emitted first.
    unsafe { asm!("dsb ishst", options(nostack, preserves_flags)) };
    // SAFETY: TLB invalidation has no effect beyond dropping cached walks.
    unsafe { TlbiAllNsNhIs::write_raw(0) };
    // SAFETY: barriers only.
    unsafe { asm!("dsb ish", "isb", options(nostack, preserves_flags)) };
}

#[cfg(target_arch = "arm")]
/// One `ATS12NSOPR`/`ATS12NSOPW` of guest VA `va` (then an ISB), leaving
/// the result in PAR.
pub fn ats12nso(va: u32, write: bool) {
    // SAFETY: the operation only writes PAR; the guest's translation
    // registers are live at HYP.
    unsafe {
        if write {
            Ats12NsoPw::write_raw(va);
        } else {
            Ats12NsoPr::write_raw(va);
        }
    }
    aarch32_cpu::asm::isb();
}

/// The banked SPSR and LR of the guest's exception modes that snowvisor
/// injects into (`MSR SPSR_<mode>`/`MSR LR_<mode>`, B9.3.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BankedMode {
    Abort,
    Undefined,
}

#[cfg(target_arch = "arm")]
/// Writes SPSR_`mode` and LR_`mode`.
///
/// # Safety
/// The guest must not be running on this CPU (its banked state is replaced).
pub unsafe fn write_banked(mode: BankedMode, spsr: u32, lr: u32) {
    // SAFETY: forwarded from the caller; only the guest's banked registers.
    unsafe {
        match mode {
            BankedMode::Abort => asm!(".arch_extension virt", "msr spsr_abt, {}", "msr lr_abt, {}",
                in(reg) spsr, in(reg) lr, options(nomem, nostack, preserves_flags)),
            BankedMode::Undefined => {
                asm!(".arch_extension virt", "msr spsr_und, {}", "msr lr_und, {}",
                in(reg) spsr, in(reg) lr, options(nomem, nostack, preserves_flags))
            }
        }
    }
}

/// CPSR, through aarch32-cpu.
pub fn read_cpsr() -> u32 {
    aarch32_cpu::register::Cpsr::read().raw_value()
}
