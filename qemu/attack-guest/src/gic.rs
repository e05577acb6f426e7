//! Writes to the guest's own distributor naming interrupts it does not
//! have: every register bank past GICD_TYPER.ITLinesNumber, and the last
//! INTIDs (1019, and the special 1020-1023) in the byte-per-interrupt
//! registers. GICv2 (IHI 0048B 4.3.2, 4.3.5-4.3.12): an unimplemented
//! interrupt's bits are RAZ/WI, so each write must read back as zero (or be
//! refused with an abort); none may reach the physical distributor.

use core::fmt::Write;

use crate::console::Line;
use crate::probe::{self, Outcome, Vector};
use crate::report::{Report, Verdict};

const TYPER: u32 = 0x004;
const ISENABLER: u32 = 0x100;
const ISPENDR: u32 = 0x200;
const ISACTIVER: u32 = 0x300;
const IPRIORITYR: u32 = 0x400;
const ITARGETSR: u32 = 0x800;
const ICFGR: u32 = 0xc00;

/// A write then a read back at `off` (word access; byte registers are
/// written a word at a time, four INTIDs at once).
fn write_read(r: &mut Report, gicd: u32, name: &str, off: u32, value: u32) {
    let va = gicd + off;
    let mut l = Line::new();
    let v = match probe::store(va, value) {
        Outcome::Took(e) if e.vector == Vector::DataAbort => {
            let _ = write!(l, "write aborted dfsr {:#x}", e.dfsr);
            Verdict::Refused
        }
        Outcome::Took(e) => {
            let _ = write!(l, "write took {}", e.vector.name());
            Verdict::Wrong
        }
        Outcome::Returned(_) => match probe::load(va) {
            Outcome::Returned(x) if x[0] == 0 => {
                let _ = write!(l, "wrote {value:#010x}, reads 0 (RAZ/WI)");
                Verdict::Refused
            }
            Outcome::Returned(x) => {
                let _ = write!(l, "wrote {value:#010x}, reads {:#010x}", x[0]);
                Verdict::Breach
            }
            Outcome::Took(e) => {
                let _ = write!(l, "write accepted, read took {}", e.vector.name());
                Verdict::Wrong
            }
        },
    };
    r.case(
        "gicd",
        format_args!("{name}"),
        v,
        format_args!("offset {off:#x} {}", l.as_str()),
    );
}

/// Every out-of-range write to the distributor at VA `gicd`.
pub fn run(r: &mut Report, gicd: u32) {
    let lines = match probe::load(gicd + TYPER) {
        Outcome::Returned(x) => 32 * ((x[0] & 0x1f) + 1),
        Outcome::Took(e) => {
            r.case(
                "gicd",
                format_args!("typer"),
                Verdict::Wrong,
                format_args!("read took {}", e.vector.name()),
            );
            return;
        }
    };
    crate::say!("gicd: {lines} interrupt lines (GICD_TYPER)");
    let mut name = Line::new();
    for n in lines / 32..32 {
        for (reg, base) in [
            ("isenabler", ISENABLER),
            ("ispendr", ISPENDR),
            ("isactiver", ISACTIVER),
        ] {
            let _ = write!(name, "{reg}{n}");
            write_read(r, gicd, name.as_str(), base + 4 * n, 0xffff_ffff);
            name = Line::new();
        }
    }
    for (reg, base, value) in [
        ("ipriorityr", IPRIORITYR, 0xa0a0_a0a0u32),
        ("itargetsr", ITARGETSR, 0xffff_ffff),
    ] {
        // INTIDs 1016-1019 and 1020-1023, a word each.
        for first in [1016u32, 1020] {
            if first < lines.min(1020) {
                continue;
            }
            let _ = write!(name, "{reg}-intid{first}");
            write_read(r, gicd, name.as_str(), base + first, value);
            name = Line::new();
        }
    }
    // ICFGR: 16 INTIDs a word; 1008-1023 is the last (its top half is
    // 1020-1023, never interrupts).
    if lines <= 1008 {
        write_read(r, gicd, "icfgr-intid1008", ICFGR + 4 * 63, 0xffff_ffff);
    }
}
