//! The trapped instruction's general-purpose registers, as the guest's mode
//! banks them: r0-r12 and LR_usr are in the [`TrapFrame`], its mode's SP and
//! LR (and FIQ mode's r8-r12) behind [`Arch::banked`]
//! (`snowvisor_arm::regs::locate` says which).

use snowvisor_arm::frame::TrapFrame;
use snowvisor_arm::regs::{locate, Location};

use crate::hal::Arch;

/// Guest register `n` as the trapped instruction named it in the guest's
/// mode (`None` for the PC, which no trapped instruction snowvisor emulates
/// names, and for a mode no guest runs in).
pub(super) fn reg(a: &impl Arch, f: &TrapFrame, n: u32) -> Option<u32> {
    Some(match locate(f.spsr, n)? {
        Location::Frame(i) => f.r[i],
        Location::LrUsr => f.lr,
        Location::Banked(b) => a.banked(b),
    })
}

/// Writes guest register `n` as [`reg`] reads it; false if it cannot.
pub(super) fn set_reg(a: &impl Arch, f: &mut TrapFrame, n: u32, v: u32) -> bool {
    match locate(f.spsr, n) {
        Some(Location::Frame(i)) => f.r[i] = v,
        Some(Location::LrUsr) => f.lr = v,
        Some(Location::Banked(b)) => a.set_banked(b, v),
        None => return false,
    }
    true
}
