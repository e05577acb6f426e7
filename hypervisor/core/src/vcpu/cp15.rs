//! Trapped 32-bit coprocessor accesses (MCR/MRC to CP15 and CP14), decided
//! per register class by `arch::armv7::coproc`.

use super::regs::set_reg;
use super::{guest_log, inject, Next};
use crate::arch::armv7::coproc::{condition_passed, decide, Access, Action};
use crate::arch::armv7::exception::Kind;
use crate::arch::armv7::frame::TrapFrame;
use crate::arch::armv7::hsr::Hsr;
use crate::domain::Domain;
use crate::hal::Arch;

/// An MCR/MRC to coprocessor `cp` (14 or 15) that trapped.
pub(super) fn coproc(a: &impl Arch, d: &mut Domain, f: &mut TrapFrame, hsr: Hsr, cp: u32) -> Next {
    if !condition_passed(hsr.iss(), f.spsr) {
        return Next::Skip;
    }
    let acc = Access::from_iss(cp, hsr.iss());
    if cp == 15 {
        crate::stats::EXITS.cp15(acc.crn, acc.opc1, acc.crm, acc.opc2);
    } else {
        crate::stats::EXITS.other(hsr.ec());
    }
    match decide(&acc, a.midr()) {
        Action::Actlr => {
            if acc.read {
                set_reg(a, f, acc.rt, a.actlr());
            }
        }
        Action::RazWi => {
            if acc.read {
                set_reg(a, f, acc.rt, 0);
            }
        }
        Action::Read(v) => {
            set_reg(a, f, acc.rt, v);
        }
        Action::Undefined => {
            guest_log!(
                a,
                d,
                warn,
                "{}: CP{cp} {} c{}, {}, c{}, {} (r{}) at pc {:#010x} not allowed; injecting undefined instruction",
                d.name,
                if acc.read { "read" } else { "write" },
                acc.crn,
                acc.opc1,
                acc.crm,
                acc.opc2,
                acc.rt,
                f.elr
            );
            inject(a, f, Kind::Undefined);
            return Next::Stay;
        }
    }
    Next::Skip
}
