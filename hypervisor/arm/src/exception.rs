//! Exceptions snowvisor injects into a guest at PL1, computed as the ARM
//! Architecture Reference Manual (ARMv7-A/R, DDI 0406C.d) defines exception
//! entry: B1.8.3 (vector table, `SCTLR.V` high vectors, `VBAR`), B1.8.5
//! (CPSR on entry), B1.9.7 to B1.9.9 (`TakeUndefInstrException`,
//! `TakePrefetchAbortException`, `TakeDataAbortException`: mode, masks and
//! the link register) and B4.1.52 / B4.1.96 (DFSR / IFSR formats).
//!
//! Pure: the trap handler reads the guest's `SCTLR`, `VBAR` and `TTBCR`,
//! calls [`entry`], and writes what it returns (`snowvisor_core::vcpu::inject`).

use aarch32_cpu::register::Sctlr;
use arbitrary_int::{u2, u4, u5, u6};

use crate::sysreg::Ttbcr;

/// VBAR bits 4:0 are reserved (the vector base is 32-byte aligned, B4.1.156).
const VBAR_RES0: u32 = 0x1f;

/// Processor mode numbers (CPSR.M).
pub mod mode {
    pub const ABT: u32 = 0x17;
    pub const UND: u32 = 0x1b;
}

/// A program status register (CPSR, SPSR) as exception entry changes it
/// (B1.3.3): the mode, the execution state and the masks.
#[bitbybit::bitfield(u32, debug)]
#[derive(PartialEq, Eq)]
pub struct Psr {
    /// IT[1:0] of the If-Then state.
    #[bits(25..=26, rw)]
    it_low: u2,
    /// J: Jazelle state.
    #[bit(24, rw)]
    j: bool,
    /// IT[7:2] of the If-Then state.
    #[bits(10..=15, rw)]
    it_high: u6,
    /// E: big-endian data accesses.
    #[bit(9, rw)]
    e: bool,
    /// A: asynchronous aborts masked.
    #[bit(8, rw)]
    a: bool,
    /// I: IRQs masked.
    #[bit(7, rw)]
    i: bool,
    /// T: Thumb state.
    #[bit(5, rw)]
    t: bool,
    /// M: the mode.
    #[bits(0..=4, rw)]
    m: u5,
}

/// A fault status register (DFSR, IFSR) in either format (B4.1.52,
/// B4.1.96): the long-descriptor one when TTBCR.EAE is set (LPAE, bit 9),
/// else the short-descriptor one. Fields of the two overlap.
#[bitbybit::bitfield(u32, default = 0, debug)]
#[derive(PartialEq, Eq)]
pub struct FaultStatus {
    /// WnR (DFSR only): the abort was on a write.
    #[bit(11, rw)]
    wnr: bool,
    /// Short-descriptor format: FS[4].
    #[bit(10, rw)]
    fs_high: bool,
    /// LPAE: the long-descriptor format.
    #[bit(9, rw)]
    lpae: bool,
    /// Long-descriptor format: STATUS.
    #[bits(0..=5, rw)]
    status: u6,
    /// Short-descriptor format: FS[3:0].
    #[bits(0..=3, rw)]
    fs_low: u4,
}

/// Synchronous external abort, not on a translation table walk: what a guest
/// sees when its access reaches nothing (an IPA stage 2 does not map).
/// Short-descriptor FS = 0b01000 (B3.13.3, Table B3-23); long-descriptor
/// STATUS = 0b010000 (B3.13.4, Table B3-24).
fn sync_external_abort(lpae: bool) -> FaultStatus {
    if lpae {
        FaultStatus::DEFAULT
            .with_lpae(true)
            .with_status(u6::new(0b01_0000))
    } else {
        FaultStatus::DEFAULT
            .with_fs_high(false)
            .with_fs_low(u4::new(0b1000))
    }
}

/// Which exception to inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Undefined Instruction (vector 0x04, Undefined mode).
    Undefined,
    /// Prefetch Abort on fetching from `addr` (vector 0x0C, Abort mode, IFSR/IFAR).
    PrefetchAbort { addr: u32 },
    /// Data Abort on an access to `addr` (vector 0x10, Abort mode, DFSR/DFAR).
    DataAbort { addr: u32, write: bool },
}

/// The guest's state at the faulting instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guest {
    /// CPSR when the instruction executed (SPSR_hyp at the trap).
    pub cpsr: u32,
    /// Address of the instruction that takes the exception (the preferred
    /// return address of an abort or an undefined instruction).
    pub pc: u32,
    pub sctlr: u32,
    pub vbar: u32,
    pub ttbcr: u32,
}

/// Fault status and address registers an abort writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultRegs {
    Data { dfsr: u32, dfar: u32 },
    Instruction { ifsr: u32, ifar: u32 },
}

/// Everything exception entry changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The mode entered (its SPSR and LR are the ones written).
    pub mode: u32,
    /// SPSR_<mode>: the CPSR at the faulting instruction, unchanged.
    pub spsr: u32,
    /// LR_<mode>.
    pub lr: u32,
    /// The new CPSR.
    pub cpsr: u32,
    /// The vector: where the guest continues.
    pub pc: u32,
    pub fault: Option<FaultRegs>,
}

/// Exception entry for `kind` taken from state `g`.
///
/// - Vector base: 0xFFFF0000 with `SCTLR.V`, else `VBAR` (B1.8.1).
/// - CPSR: mode; I set; A set for aborts (always with the Virtualization
///   Extensions), unchanged for Undefined; F unchanged; T from `SCTLR.TE`, E
///   from `SCTLR.EE`; IT and J cleared; condition flags, GE and Q kept.
/// - LR (B1.8.3, Table B1-7): Undefined +4 (ARM) / +2 (Thumb, 16- and
///   32-bit instructions alike); Prefetch Abort +4; Data Abort +8 (both).
/// - Fault status: short-descriptor or long-descriptor format as
///   `TTBCR.EAE` selects (B3.13.6), WnR for data aborts.
pub fn entry(kind: Kind, g: &Guest) -> Entry {
    let old = Psr::new_with_raw_value(g.cpsr);
    let sctlr = Sctlr::new_with_raw_value(g.sctlr);
    let fs = sync_external_abort(Ttbcr::new_with_raw_value(g.ttbcr).eae());
    let (mode, offset, lr_offset, abort, fault) = match kind {
        Kind::Undefined => (mode::UND, 0x04, if old.t() { 2 } else { 4 }, false, None),
        Kind::PrefetchAbort { addr } => (
            mode::ABT,
            0x0c,
            4,
            true,
            Some(FaultRegs::Instruction {
                ifsr: fs.raw_value(),
                ifar: addr,
            }),
        ),
        Kind::DataAbort { addr, write } => (
            mode::ABT,
            0x10,
            8,
            true,
            Some(FaultRegs::Data {
                dfsr: fs.with_wnr(write).raw_value(),
                dfar: addr,
            }),
        ),
    };
    let cpsr = old
        .with_m(u5::new(mode as u8))
        .with_i(true)
        .with_a(old.a() || abort)
        .with_t(sctlr.te())
        .with_e(sctlr.ee())
        .with_it_low(u2::new(0))
        .with_it_high(u6::new(0))
        .with_j(false);
    let base = if sctlr.v() {
        0xffff_0000
    } else {
        g.vbar & !VBAR_RES0
    };
    Entry {
        mode,
        spsr: g.cpsr,
        lr: g.pc.wrapping_add(lr_offset),
        cpsr: cpsr.raw_value(),
        pc: base.wrapping_add(offset),
        fault,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Written out from the ARM ARM's register diagrams, independently of the
    // bitfields above.
    const CPSR_T: u32 = 1 << 5;
    const CPSR_I: u32 = 1 << 7;
    const CPSR_A: u32 = 1 << 8;
    const CPSR_E: u32 = 1 << 9;
    const CPSR_IT: u32 = (0x3f << 10) | (3 << 25);
    const SCTLR_V: u32 = 1 << 13;
    const SCTLR_EE: u32 = 1 << 25;
    const SCTLR_TE: u32 = 1 << 30;
    const TTBCR_EAE: u32 = 1 << 31;

    const SVC_ARM: u32 = 0x8000_0013; // N set, SVC, ARM, A/I/F clear
    const SVC_THUMB_IT: u32 = 0x0000_0033 | (0x1 << 25) | (0x2 << 10); // Thumb in an IT block

    fn guest(cpsr: u32) -> Guest {
        Guest {
            cpsr,
            pc: 0x4100_1000,
            sctlr: 0x00c5_0078,
            vbar: 0x4100_0000,
            ttbcr: 0,
        }
    }

    #[test]
    fn undefined_in_arm_and_thumb() {
        let e = entry(Kind::Undefined, &guest(SVC_ARM));
        assert_eq!(e.mode, mode::UND);
        assert_eq!(e.pc, 0x4100_0004);
        assert_eq!(e.lr, 0x4100_1004);
        assert_eq!(e.spsr, SVC_ARM);
        assert_eq!(
            e.cpsr,
            0x8000_0000 | mode::UND | CPSR_I,
            "A and F unchanged"
        );
        assert_eq!(e.fault, None);
        let e = entry(Kind::Undefined, &guest(SVC_THUMB_IT));
        assert_eq!(e.lr, 0x4100_1002, "Thumb: +2 for 16- and 32-bit alike");
        assert_eq!(e.spsr, SVC_THUMB_IT, "SPSR keeps T and the IT state");
        assert_eq!(e.cpsr, mode::UND | CPSR_I, "T, IT cleared");
    }

    #[test]
    fn prefetch_abort_uses_ifsr_ifar_and_plus_four() {
        for cpsr in [SVC_ARM, SVC_THUMB_IT] {
            let e = entry(Kind::PrefetchAbort { addr: 0x4001_0000 }, &guest(cpsr));
            assert_eq!((e.mode, e.pc, e.lr), (mode::ABT, 0x4100_000c, 0x4100_1004));
            assert_eq!(
                e.cpsr & (CPSR_A | CPSR_I | CPSR_T | CPSR_IT),
                CPSR_A | CPSR_I
            );
            assert_eq!(
                e.fault,
                Some(FaultRegs::Instruction {
                    ifsr: 0x008,
                    ifar: 0x4001_0000
                })
            );
        }
    }

    #[test]
    fn data_abort_uses_dfsr_dfar_and_plus_eight() {
        for cpsr in [SVC_ARM, SVC_THUMB_IT] {
            let e = entry(
                Kind::DataAbort {
                    addr: 0x900_0000,
                    write: true,
                },
                &guest(cpsr),
            );
            assert_eq!((e.mode, e.pc, e.lr), (mode::ABT, 0x4100_0010, 0x4100_1008));
            assert_eq!(
                e.fault,
                Some(FaultRegs::Data {
                    dfsr: 0x808,
                    dfar: 0x900_0000
                })
            );
        }
    }

    #[test]
    fn lpae_format_high_vectors_thumb_and_big_endian_entry() {
        let mut g = guest(SVC_ARM | (1 << 6));
        g.ttbcr = TTBCR_EAE;
        g.sctlr |= SCTLR_V | SCTLR_TE | SCTLR_EE;
        let e = entry(
            Kind::DataAbort {
                addr: 4,
                write: false,
            },
            &g,
        );
        assert_eq!(e.pc, 0xffff_0010);
        assert_eq!(
            e.cpsr,
            0x8000_0000 | mode::ABT | CPSR_T | CPSR_E | CPSR_A | CPSR_I | (1 << 6),
            "F kept; T and E from SCTLR"
        );
        assert_eq!(
            e.fault,
            Some(FaultRegs::Data {
                dfsr: 0x210,
                dfar: 4
            })
        );
        let e = entry(Kind::PrefetchAbort { addr: 8 }, &g);
        assert_eq!(
            e.fault,
            Some(FaultRegs::Instruction {
                ifsr: 0x210,
                ifar: 8
            })
        );
    }

    #[test]
    fn entry_clears_jazelle_and_keeps_flags_ge_and_q() {
        // N, Z, Q, GE[3:0] = 0b1010, J, F set; USR mode.
        let cpsr = 0xc000_0000 | (1 << 27) | (0xa << 16) | (1 << 24) | (1 << 6) | 0x10;
        let e = entry(Kind::Undefined, &guest(cpsr));
        assert_eq!(
            e.cpsr,
            0xc000_0000 | (1 << 27) | (0xa << 16) | (1 << 6) | CPSR_I | mode::UND
        );
        assert_eq!(e.spsr, cpsr);
    }

    #[test]
    fn vector_base_ignores_vbar_low_bits() {
        let mut g = guest(SVC_ARM);
        g.vbar = 0x4100_001f;
        assert_eq!(entry(Kind::Undefined, &g).pc, 0x4100_0004);
    }
}
