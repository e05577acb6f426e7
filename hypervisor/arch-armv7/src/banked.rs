//! The guest's banked registers, read and written at HYP with the
//! Virtualization Extensions' banked-register `MRS`/`MSR` (ARM ARM B9.3.9,
//! B9.3.12): the SP and LR of each guest mode and FIQ mode's r8-r12
//! ([`Banked`]; which one a guest register means is `snowvisor_arm::regs`),
//! SPSR and LR of the mode an
//! injected exception enters through `sysreg::write_banked`), and the
//! guest's fault registers an injected abort sets.

use core::arch::asm;

use aarch32_cpu::register::{Dfar, Dfsr, Ifar, Ifsr};

use snowvisor_arm::exception::{mode, FaultRegs};
use snowvisor_arm::regs::Banked;

use crate::sysreg::{self, BankedMode};

/// `mrs` of a banked register by its assembler name.
macro_rules! mrs_banked {
    ($name:literal) => {{
        let v: u32;
        // SAFETY: reads a banked register of the guest, which is not running
        // (HYP may access every mode's banked registers but its own, B9.3.9).
        unsafe {
            asm!(".arch_extension virt", concat!("mrs {}, ", $name), out(reg) v,
                options(nomem, nostack, preserves_flags))
        };
        v
    }};
}

/// `msr` of a banked register by its assembler name.
macro_rules! msr_banked {
    ($name:literal, $v:expr) => {{
        // SAFETY: writes a banked register of the guest, which is not
        // running; snowvisor's own state is not banked for the guest's modes.
        unsafe {
            asm!(".arch_extension virt", concat!("msr ", $name, ", {}"), in(reg) $v,
                options(nomem, nostack, preserves_flags))
        }
    }};
}

/// The guest's banked register `r` (MRS (Banked register), B9.3.9).
pub fn read(r: Banked) -> u32 {
    match r {
        Banked::SpUsr => mrs_banked!("sp_usr"),
        Banked::R8Fiq => mrs_banked!("r8_fiq"),
        Banked::R9Fiq => mrs_banked!("r9_fiq"),
        Banked::R10Fiq => mrs_banked!("r10_fiq"),
        Banked::R11Fiq => mrs_banked!("r11_fiq"),
        Banked::R12Fiq => mrs_banked!("r12_fiq"),
        Banked::SpFiq => mrs_banked!("sp_fiq"),
        Banked::LrFiq => mrs_banked!("lr_fiq"),
        Banked::SpIrq => mrs_banked!("sp_irq"),
        Banked::LrIrq => mrs_banked!("lr_irq"),
        Banked::SpSvc => mrs_banked!("sp_svc"),
        Banked::LrSvc => mrs_banked!("lr_svc"),
        Banked::SpAbt => mrs_banked!("sp_abt"),
        Banked::LrAbt => mrs_banked!("lr_abt"),
        Banked::SpUnd => mrs_banked!("sp_und"),
        Banked::LrUnd => mrs_banked!("lr_und"),
    }
}

/// Writes the guest's banked register `r` (MSR (Banked register), B9.3.12).
pub fn write(r: Banked, v: u32) {
    match r {
        Banked::SpUsr => msr_banked!("sp_usr", v),
        Banked::R8Fiq => msr_banked!("r8_fiq", v),
        Banked::R9Fiq => msr_banked!("r9_fiq", v),
        Banked::R10Fiq => msr_banked!("r10_fiq", v),
        Banked::R11Fiq => msr_banked!("r11_fiq", v),
        Banked::R12Fiq => msr_banked!("r12_fiq", v),
        Banked::SpFiq => msr_banked!("sp_fiq", v),
        Banked::LrFiq => msr_banked!("lr_fiq", v),
        Banked::SpIrq => msr_banked!("sp_irq", v),
        Banked::LrIrq => msr_banked!("lr_irq", v),
        Banked::SpSvc => msr_banked!("sp_svc", v),
        Banked::LrSvc => msr_banked!("lr_svc", v),
        Banked::SpAbt => msr_banked!("sp_abt", v),
        Banked::LrAbt => msr_banked!("lr_abt", v),
        Banked::SpUnd => msr_banked!("sp_und", v),
        Banked::LrUnd => msr_banked!("lr_und", v),
    }
}

/// Writes SPSR and LR of the mode an injected exception enters: Abort for
/// `mode::ABT`, Undefined for anything else.
pub fn set_spsr_lr(m: u32, spsr: u32, lr: u32) {
    let bank = if m == mode::ABT {
        BankedMode::Abort
    } else {
        BankedMode::Undefined
    };
    // SAFETY: the guest's banked registers, written while it is not running,
    // as the exception entry would.
    unsafe { sysreg::write_banked(bank, spsr, lr) }
}

/// Writes the guest's DFAR/DFSR or IFAR/IFSR (Non-secure PL1's at HYP).
pub fn set_fault_regs(r: FaultRegs) {
    // SAFETY: the guest's fault registers, written while it is not running,
    // as the exception entry would.
    unsafe {
        match r {
            FaultRegs::Data { dfsr, dfar } => {
                Dfar::write(Dfar(dfar));
                Dfsr::write(Dfsr::new_with_raw_value(dfsr));
            }
            FaultRegs::Instruction { ifsr, ifar } => {
                Ifar::write(Ifar(ifar));
                Ifsr::write(Ifsr::new_with_raw_value(ifsr));
            }
        }
    }
}
