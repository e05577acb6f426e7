//! The guest's banked registers, read and written at HYP with the
//! Virtualization Extensions' banked-register `MRS`/`MSR` (ARM ARM B9.3.9,
//! B9.3.12): LR of the guest's exception modes (SPSR and LR of the mode an
//! injected exception enters through `sysreg::write_banked`), and the
//! guest's fault registers an injected abort sets.

use core::arch::asm;

use aarch32_cpu::register::{Dfar, Dfsr, Ifar, Ifsr};

use snowvisor_arm::exception::{mode, FaultRegs};

use crate::sysreg::{self, BankedMode};

/// LR of guest mode `m` (SVC, IRQ, ABT, UND); `None` for other modes.
pub fn lr(m: u32) -> Option<u32> {
    let v: u32;
    // SAFETY: reads a banked register of the guest, which is not running.
    unsafe {
        match m {
            0x13 => asm!(".arch_extension virt", "mrs {}, lr_svc", out(reg) v),
            0x12 => asm!(".arch_extension virt", "mrs {}, lr_irq", out(reg) v),
            0x17 => asm!(".arch_extension virt", "mrs {}, lr_abt", out(reg) v),
            0x1b => asm!(".arch_extension virt", "mrs {}, lr_und", out(reg) v),
            _ => return None,
        }
    }
    Some(v)
}

/// Writes LR of guest mode `m`; false if it has no banked LR.
pub fn set_lr(m: u32, v: u32) -> bool {
    // SAFETY: writes a banked register of the guest, which is not running.
    unsafe {
        match m {
            0x13 => asm!(".arch_extension virt", "msr lr_svc, {}", in(reg) v),
            0x12 => asm!(".arch_extension virt", "msr lr_irq, {}", in(reg) v),
            0x17 => asm!(".arch_extension virt", "msr lr_abt, {}", in(reg) v),
            0x1b => asm!(".arch_extension virt", "msr lr_und, {}", in(reg) v),
            _ => return false,
        }
    }
    true
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
