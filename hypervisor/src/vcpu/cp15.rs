//! Trapped 32-bit CP15 accesses (MCR/MRC).

use core::arch::asm;

use log::warn;

use super::regs::set_reg;
use super::Next;
use crate::arch::armv7::exception::Kind;
use crate::arch::armv7::frame::TrapFrame;
use crate::arch::armv7::guest;
use crate::arch::armv7::hsr::Hsr;

pub(super) fn cp15(f: &mut TrapFrame, hsr: Hsr) -> Next {
    let iss = hsr.iss();
    let read = iss & 1 != 0;
    let (opc2, opc1, crn, rt, crm) = (
        (iss >> 17) & 7,
        (iss >> 14) & 7,
        (iss >> 10) & 0xf,
        (iss >> 5) & 0xf,
        (iss >> 1) & 0xf,
    );
    crate::stats::EXITS.cp15(crn, opc1, crm, opc2);
    match (crn, opc1, crm, opc2) {
        // ACTLR (trapped by HCR.TAC): reads see the real value, writes are ignored.
        (1, 0, 0, 1) => {
            if read {
                let v: u32;
                // SAFETY: reading ACTLR has no side effects.
                unsafe { asm!("mrc p15, 0, {}, c1, c0, 1", out(reg) v, options(nostack)) };
                set_reg(f, rt, v);
            }
            Next::Skip
        }
        // CNTP_CTL / CNTP_TVAL: the physical timer is snowvisor's; RAZ/WI.
        (14, 0, 2, 0 | 1) => {
            if read {
                set_reg(f, rt, 0);
            }
            Next::Skip
        }
        _ => {
            warn!(
                "dom0: CP15 {} c{crn}, {opc1}, c{crm}, {opc2} (r{rt}) at pc {:#010x} not emulated; injecting undefined instruction",
                if read { "read" } else { "write" },
                f.elr
            );
            guest::inject(f, Kind::Undefined);
            Next::Stay
        }
    }
}
