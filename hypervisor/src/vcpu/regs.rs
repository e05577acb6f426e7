//! The trapped instruction's general-purpose registers, as the guest's mode
//! banks them (LR is banked per exception mode).

use core::arch::asm;

use crate::arch::armv7::frame::TrapFrame;

fn banked_lr(mode: u32) -> Option<u32> {
    let v: u32;
    // SAFETY: reads a banked register of the guest, which is not running.
    unsafe {
        match mode {
            0x13 => asm!(".arch_extension virt", "mrs {}, lr_svc", out(reg) v),
            0x12 => asm!(".arch_extension virt", "mrs {}, lr_irq", out(reg) v),
            0x17 => asm!(".arch_extension virt", "mrs {}, lr_abt", out(reg) v),
            0x1b => asm!(".arch_extension virt", "mrs {}, lr_und", out(reg) v),
            _ => return None,
        }
    }
    Some(v)
}

fn set_banked_lr(mode: u32, v: u32) -> bool {
    // SAFETY: writes a banked register of the guest, which is not running.
    unsafe {
        match mode {
            0x13 => asm!(".arch_extension virt", "msr lr_svc, {}", in(reg) v),
            0x12 => asm!(".arch_extension virt", "msr lr_irq, {}", in(reg) v),
            0x17 => asm!(".arch_extension virt", "msr lr_abt, {}", in(reg) v),
            0x1b => asm!(".arch_extension virt", "msr lr_und, {}", in(reg) v),
            _ => return false,
        }
    }
    true
}

/// Guest register `n` as the trapped instruction named it.
pub(super) fn reg(f: &TrapFrame, n: u32) -> Option<u32> {
    let mode = f.spsr & 0x1f;
    match n {
        0..=12 => Some(f.r[n as usize]),
        14 if matches!(mode, 0x10 | 0x1f) => Some(f.lr),
        14 => banked_lr(mode),
        _ => None,
    }
}

pub(super) fn set_reg(f: &mut TrapFrame, n: u32, v: u32) -> bool {
    let mode = f.spsr & 0x1f;
    match n {
        0..=12 => {
            f.r[n as usize] = v;
            true
        }
        14 if matches!(mode, 0x10 | 0x1f) => {
            f.lr = v;
            true
        }
        14 => set_banked_lr(mode, v),
        _ => false,
    }
}
