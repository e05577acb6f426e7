//! Exceptions injected into the guest: [`exception::entry`] decides every
//! register (ARM ARM B1.8); this writes them through [`Arch`].

use crate::hal::Arch;
use snowvisor_arm::exception::{self, Kind};
use snowvisor_arm::frame::TrapFrame;

/// Injects exception `kind` into the guest for the instruction at `f.elr`:
/// the banked SPSR and LR of the target mode and the fault registers through
/// `a`, CPSR and PC through the frame.
pub fn inject(a: &impl Arch, f: &mut TrapFrame, kind: Kind) {
    let c = a.guest_control();
    let e = exception::entry(
        kind,
        &exception::Guest {
            cpsr: f.spsr,
            pc: f.elr,
            sctlr: c.sctlr,
            vbar: c.vbar,
            ttbcr: c.ttbcr,
        },
    );
    a.set_banked_spsr_lr(e.mode, e.spsr, e.lr);
    if let Some(r) = e.fault {
        a.set_fault_regs(r);
    }
    f.spsr = e.cpsr;
    f.elr = e.pc;
}
