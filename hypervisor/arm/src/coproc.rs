//! What a guest may do with the coprocessor registers snowvisor traps, decided
//! per register class (Xen 4.17's `arch/arm/vcpreg.c` and `traps.c` are the
//! reference; ARM ARM DDI 0406C.d B1.14 lists what each trap control covers).
//!
//! | class | trapped by | guest sees |
//! |---|---|---|
//! | ACTLR | HCR.TAC | reads the real value, writes ignored |
//! | physical timer CNTP_* | CNTHCTL.PL1PCEN = 0 | RAZ/WI (the timer is snowvisor's) |
//! | Performance Monitors (c9, c12-c14) | HDCR.TPM, HDCR.TPMCR | RAZ/WI: no PMU (as Xen) |
//! | IMPLEMENTATION DEFINED c9-c11, c15 | HCR.TIDCP, HSTR.T15 | Undefined (as Xen) |
//! | debug: DBGDIDR | HDCR.TDA | reads 2 breakpoints, 1 watchpoint, v7.1 debug, the CPU's variant and revision; writes Undefined (as Xen) |
//! | debug: DBGDSCRint | HDCR.TDA | reads 0; writes Undefined |
//! | debug: DBGDSCRext, DBGVCR, DBGBVR/BCR0-1, DBGWVR/WCR0 | HDCR.TDA | RAZ/WI |
//! | OS lock: DBGOSLAR (write-only), DBGOSDLR | HDCR.TDOSA | WI / RAZ-WI |
//! | every other debug register, DBGDRAR/DBGDSAR, 64-bit and LDC/STC CP14 | HDCR.TDA, TDRA | Undefined |
//!
//! Not trapped: the ID registers (HCR.TID3; Dom0 sees the real CPU, like a
//! native kernel), set/way cache maintenance (HCR.TSW; HCR.SWIO turns
//! invalidation into clean and invalidate instead), VFP/NEON (HCPTR).
//! Pure and host-tested; `vcpu::cp15` applies the decisions.

use aarch32_cpu::register::hsr::IssTrappedMcrMrc;
use arbitrary_int::u25;

/// One trapped MCR/MRC, decoded from the HSR's ISS (B3.13.6: Opc2 [19:17],
/// Opc1 [16:14], CRn [13:10], Rt [8:5], CRm [4:1], direction [0]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// 14 or 15.
    pub cp: u32,
    pub opc1: u32,
    pub crn: u32,
    pub crm: u32,
    pub opc2: u32,
    pub rt: u32,
    /// MRC (read into Rt).
    pub read: bool,
}

impl Access {
    /// Through aarch32-cpu's `IssTrappedMcrMrc` (the same layout for CP14
    /// and CP15); `iss` is HSR.ISS (bits 24:0).
    pub fn from_iss(cp: u32, iss: u32) -> Self {
        let i = IssTrappedMcrMrc::new_with_raw_value(u25::extract_u32(iss, 0));
        Access {
            cp,
            opc2: u32::from(i.opc2().value()),
            opc1: u32::from(i.opc1().value()),
            crn: u32::from(i.crn().value()),
            rt: u32::from(i.rt().value()),
            crm: u32::from(i.crm().value()),
            read: i.is_read(),
        }
    }
}

/// What to do with an access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Reads see the real ACTLR; writes are ignored.
    Actlr,
    /// Reads return 0; writes are ignored.
    RazWi,
    /// Reads return this value (a write is Undefined, see [`decide`]).
    Read(u32),
    /// Inject an Undefined Instruction exception.
    Undefined,
}

/// The decision for access `a` on a CPU with `midr`.
pub fn decide(a: &Access, midr: u32) -> Action {
    let read_only = |v: u32| {
        if a.read {
            Action::Read(v)
        } else {
            Action::Undefined
        }
    };
    match (a.cp, a.crn, a.opc1, a.crm, a.opc2) {
        (15, 1, 0, 0, 1) => Action::Actlr,
        (15, 14, 0, 2, 0 | 1) => Action::RazWi,
        (15, 9, 0, 12..=14, _) => Action::RazWi,
        // DBGDIDR: WRPs 0 (1 watchpoint) [31:28], BRPs 1 (2 breakpoints)
        // [27:24], version 5 (v7.1) [19:16], variant [7:4], revision [3:0].
        (14, 0, 0, 0, 0) => read_only((1 << 24) | (5 << 16) | ((midr >> 16) & 0xf0) | (midr & 0xf)),
        (14, 0, 0, 1, 0) => read_only(0), // DBGDSCRint
        (14, 0, 0, 2, 2) | (14, 0, 0, 7, 0) => Action::RazWi, // DBGDSCRext, DBGVCR
        (14, 0, 0, 0 | 1, 4 | 5) | (14, 0, 0, 0, 6 | 7) => Action::RazWi, // BVR/BCR0-1, WVR/WCR0
        (14, 1, 0, 0, 4) if !a.read => Action::RazWi, // DBGOSLAR
        (14, 1, 0, 3, 4) => Action::RazWi, // DBGOSDLR
        _ => Action::Undefined,
    }
}

/// Whether a trapped conditional instruction passes its condition (B3.13.6:
/// ISS.CV [24] and COND [23:20]; without CV, a Thumb instruction in an IT
/// block takes its condition from CPSR.IT). Instructions that fail it are
/// skipped, as if not executed.
pub fn condition_passed(iss: u32, cpsr: u32) -> bool {
    let cond = if iss & (1 << 24) != 0 {
        (iss >> 20) & 0xf
    } else {
        let it = ((cpsr >> 8) & 0xfc) | ((cpsr >> 25) & 3);
        if cpsr & (1 << 5) == 0 || it & 0xf == 0 {
            return true;
        }
        it >> 4
    };
    let (n, z, c, v) = (
        cpsr & (1 << 31) != 0,
        cpsr & (1 << 30) != 0,
        cpsr & (1 << 29) != 0,
        cpsr & (1 << 28) != 0,
    );
    let base = match cond >> 1 {
        0 => z,
        1 => c,
        2 => n,
        3 => v,
        4 => c && !z,
        5 => n == v,
        6 => n == v && !z,
        _ => return true,
    };
    base != (cond & 1 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acc(cp: u32, crn: u32, opc1: u32, crm: u32, opc2: u32, read: bool) -> Access {
        let iss = (opc2 << 17) | (opc1 << 14) | (crn << 10) | (3 << 5) | (crm << 1) | read as u32;
        let a = Access::from_iss(cp, iss);
        assert_eq!(
            (a.crn, a.opc1, a.crm, a.opc2, a.rt, a.read),
            (crn, opc1, crm, opc2, 3, read)
        );
        a
    }

    const A15: u32 = 0x414f_c0f0;

    #[test]
    fn register_classes() {
        let d = |cp, crn, opc1, crm, opc2, read| decide(&acc(cp, crn, opc1, crm, opc2, read), A15);
        assert_eq!(d(15, 1, 0, 0, 1, true), Action::Actlr);
        assert_eq!(d(15, 9, 0, 12, 0, true), Action::RazWi, "PMCR");
        assert_eq!(d(15, 9, 0, 13, 0, false), Action::RazWi, "PMCCNTR");
        assert_eq!(d(15, 9, 0, 14, 2, false), Action::RazWi, "PMINTENCLR");
        assert_eq!(
            d(15, 9, 1, 0, 2, true),
            Action::Undefined,
            "L2CTLR (IMP DEF)"
        );
        assert_eq!(d(15, 15, 4, 0, 0, true), Action::Undefined, "CBAR (c15)");
        assert_eq!(
            d(15, 11, 0, 0, 0, false),
            Action::Undefined,
            "c11 DMA (IMP DEF)"
        );
        assert_eq!(
            d(14, 0, 0, 0, 0, true),
            Action::Read(0x0105_0040),
            "DBGDIDR r4p0"
        );
        assert_eq!(d(14, 0, 0, 0, 0, false), Action::Undefined, "DBGDIDR is RO");
        assert_eq!(d(14, 0, 0, 1, 0, true), Action::Read(0));
        assert_eq!(d(14, 0, 0, 2, 2, false), Action::RazWi, "DBGDSCRext");
        assert_eq!(d(14, 0, 0, 1, 4, true), Action::RazWi, "DBGBVR1");
        assert_eq!(d(14, 0, 0, 2, 4, true), Action::Undefined, "DBGBVR2");
        assert_eq!(d(14, 0, 0, 1, 6, true), Action::Undefined, "DBGWVR1");
        assert_eq!(d(14, 1, 0, 0, 4, false), Action::RazWi, "DBGOSLAR write");
        assert_eq!(d(14, 1, 0, 0, 4, true), Action::Undefined, "DBGOSLAR read");
        assert_eq!(d(14, 1, 0, 0, 0, true), Action::Undefined, "DBGDRAR");
    }

    #[test]
    fn conditions() {
        let cv = |cond: u32| (1 << 24) | (cond << 20);
        let z = 1 << 30;
        assert!(condition_passed(cv(0), z), "EQ with Z");
        assert!(!condition_passed(cv(0), 0), "EQ without Z");
        assert!(condition_passed(cv(1), 0), "NE");
        assert!(condition_passed(cv(14), 0), "AL");
        assert!(condition_passed(cv(10), 0), "GE: N == V");
        assert!(!condition_passed(cv(12), z), "GT fails with Z");
        assert!(condition_passed(0, 0), "no CV, ARM: passes");
        // Thumb in an IT NE block (IT = 0x18: firstcond 0001, mask 1000), Z set.
        let it_ne = (1 << 5) | (0x18 >> 2) << 10 | z;
        assert!(!condition_passed(0, it_ne));
        assert!(condition_passed(0, it_ne & !z));
    }
}
