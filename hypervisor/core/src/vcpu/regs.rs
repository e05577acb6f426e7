//! The trapped instruction's general-purpose registers, as the guest's mode
//! banks them (LR is banked per exception mode: [`Arch::banked_lr`]).

use crate::hal::Arch;
use snowvisor_arm::frame::TrapFrame;

/// Guest register `n` as the trapped instruction named it (`None` for SP
/// and PC, which no trapped instruction snowvisor emulates names).
pub(super) fn reg(a: &impl Arch, f: &TrapFrame, n: u32) -> Option<u32> {
    let mode = f.spsr & 0x1f;
    match n {
        0..=12 => Some(f.r[n as usize]),
        14 if matches!(mode, 0x10 | 0x1f) => Some(f.lr),
        14 => a.banked_lr(mode),
        _ => None,
    }
}

/// Writes guest register `n` as [`reg`] reads it; false if it cannot.
pub(super) fn set_reg(a: &impl Arch, f: &mut TrapFrame, n: u32, v: u32) -> bool {
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
        14 => a.set_banked_lr(mode, v),
        _ => false,
    }
}
