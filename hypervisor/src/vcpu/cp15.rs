//! Trapped 32-bit coprocessor accesses (MCR/MRC to CP15 and CP14), decided
//! per register class by `arch::armv7::coproc`.

use core::arch::asm;

use super::regs::set_reg;
use super::Next;
use crate::arch::armv7::coproc::{condition_passed, decide, Access, Action};
use crate::arch::armv7::exception::Kind;
use crate::arch::armv7::frame::TrapFrame;
use crate::arch::armv7::guest;
use crate::arch::armv7::hsr::Hsr;

/// An MCR/MRC to coprocessor `cp` (14 or 15) that trapped.
pub(super) fn coproc(f: &mut TrapFrame, hsr: Hsr, cp: u32) -> Next {
    if !condition_passed(hsr.iss(), f.spsr) {
        return Next::Skip;
    }
    let a = Access::from_iss(cp, hsr.iss());
    if cp == 15 {
        crate::stats::EXITS.cp15(a.crn, a.opc1, a.crm, a.opc2);
    } else {
        crate::stats::EXITS.other(hsr.ec());
    }
    let midr: u32;
    // SAFETY: reading MIDR has no side effects.
    unsafe { asm!("mrc p15, 0, {}, c0, c0, 0", out(reg) midr, options(nostack)) };
    match decide(&a, midr) {
        Action::Actlr => {
            if a.read {
                let v: u32;
                // SAFETY: reading ACTLR has no side effects.
                unsafe { asm!("mrc p15, 0, {}, c1, c0, 1", out(reg) v, options(nostack)) };
                set_reg(f, a.rt, v);
            }
        }
        Action::RazWi => {
            if a.read {
                set_reg(f, a.rt, 0);
            }
        }
        Action::Read(v) => {
            set_reg(f, a.rt, v);
        }
        Action::Undefined => {
            super::guest_log!(
                warn,
                "dom0: CP{cp} {} c{}, {}, c{}, {} (r{}) at pc {:#010x} not allowed; injecting undefined instruction",
                if a.read { "read" } else { "write" },
                a.crn,
                a.opc1,
                a.crm,
                a.opc2,
                a.rt,
                f.elr
            );
            guest::inject(f, Kind::Undefined);
            return Next::Stay;
        }
    }
    Next::Skip
}
