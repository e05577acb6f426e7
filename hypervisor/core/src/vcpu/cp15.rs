//! Trapped 32-bit coprocessor accesses (MCR/MRC to CP15 and CP14), decided
//! per register class by `snowvisor_arm::coproc`.

use super::regs::set_reg;
use super::{guest_log, inject, Next};
use crate::domain::Domain;
use crate::hal::Arch;
use snowvisor_arm::coproc::{condition_passed, decide, Access, Action};
use snowvisor_arm::exception::Kind;
use snowvisor_arm::frame::TrapFrame;
use snowvisor_arm::hsr::Hsr;

/// An MCR/MRC to coprocessor `cp` (14 or 15) that trapped.
pub(super) fn coproc(a: &impl Arch, d: &mut Domain, f: &mut TrapFrame, hsr: Hsr, cp: u32) -> Next {
    if !condition_passed(hsr.iss(), f.spsr) {
        return Next::Skip;
    }
    let acc = Access::from_iss(cp, hsr.iss());
    if cp == 15 {
        a.exits().cp15(acc.crn, acc.opc1, acc.crm, acc.opc2);
    } else {
        a.exits().other(hsr.ec());
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
