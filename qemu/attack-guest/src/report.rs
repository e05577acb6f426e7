//! The report: one line per case, then the totals, in a form a test reads:
//!
//! ```text
//! attack: case <group> <name> <verdict> <detail>
//! attack: report: cases N refused R own O breach B wrong W
//! ```
//!
//! Verdicts: `refused` (as the isolation rules and Xen's documented errors
//! say), `own` (the address is in the guest's own space: IPAs are not PAs,
//! nothing to attack), `BREACH` (the access or call went through), `WRONG`
//! (refused, but not in the documented way: another exception, fault
//! status, address or error number).

use core::fmt::{Arguments, Write};

use crate::console::Line;
use crate::probe::{Exception, Outcome, Vector};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Refused,
    Own,
    Breach,
    Wrong,
}

impl Verdict {
    fn name(self) -> &'static str {
        match self {
            Verdict::Refused => "refused",
            Verdict::Own => "own",
            Verdict::Breach => "BREACH",
            Verdict::Wrong => "WRONG",
        }
    }
}

#[derive(Default)]
pub struct Report {
    pub cases: u32,
    pub refused: u32,
    pub own: u32,
    pub breach: u32,
    pub wrong: u32,
}

impl Report {
    pub fn case(&mut self, group: &str, name: Arguments<'_>, v: Verdict, detail: Arguments<'_>) {
        self.cases += 1;
        match v {
            Verdict::Refused => self.refused += 1,
            Verdict::Own => self.own += 1,
            Verdict::Breach => self.breach += 1,
            Verdict::Wrong => self.wrong += 1,
        }
        let mut l = Line::new();
        let _ = write!(l, "attack: case {group} {name} {} {detail}", v.name());
        l.send();
    }

    pub fn totals(&self) {
        crate::say!(
            "report: cases {} refused {} own {} breach {} wrong {}",
            self.cases,
            self.refused,
            self.own,
            self.breach,
            self.wrong
        );
    }
}

/// DFSR/IFSR in the long-descriptor format (B3.13.3): LPAE bit, status
/// 0b010000, synchronous external abort (what snowvisor injects for a
/// stage-2 fault), and WnR for a write.
pub const FSR_LPAE_SYNC_EXT: u32 = 0x210;
pub const FSR_WNR: u32 = 1 << 11;

/// The verdict on an access to `va` that must end in a data abort with
/// DFAR = `va` and DFSR = a synchronous external abort (WnR for `write`).
pub fn access(o: &Outcome, va: u32, write: bool, line: &mut Line) -> Verdict {
    match o {
        Outcome::Returned(r) => {
            let _ = write!(line, "access completed (read {:#010x})", r[0]);
            Verdict::Breach
        }
        Outcome::Took(e) => {
            let want = FSR_LPAE_SYNC_EXT | if write { FSR_WNR } else { 0 };
            let _ = write!(
                line,
                "{} dfsr {:#x} dfar {:#010x}",
                e.vector.name(),
                e.dfsr,
                e.dfar
            );
            if e.vector == Vector::DataAbort && e.dfsr == want && e.dfar == va {
                Verdict::Refused
            } else {
                let _ = write!(line, " (want data-abort dfsr {want:#x} dfar {va:#010x})");
                Verdict::Wrong
            }
        }
    }
}

/// The verdict on a call that must return one of `refused` in r0 (a
/// negative error number, as a signed value); `Undefined` if an injected
/// undefined instruction is also a documented refusal.
pub fn call(o: &Outcome, refused: &[i32], undef_ok: bool, line: &mut Line) -> Verdict {
    match o {
        Outcome::Returned(r) => {
            let got = r[0] as i32;
            let _ = write!(line, "r0 {got}");
            if refused.contains(&got) {
                Verdict::Refused
            } else if got < 0 {
                let _ = write!(line, " (want {refused:?})");
                Verdict::Wrong
            } else {
                Verdict::Breach
            }
        }
        Outcome::Took(Exception {
            vector: Vector::Undefined,
            lr,
            ..
        }) if undef_ok => {
            let _ = write!(line, "undefined lr {lr:#010x}");
            Verdict::Refused
        }
        Outcome::Took(e) => {
            let _ = write!(line, "{} lr {:#010x}", e.vector.name(), e.lr);
            Verdict::Wrong
        }
    }
}
