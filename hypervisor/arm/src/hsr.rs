//! Hyp Syndrome Register decode, in words, for trap handling and register
//! dumps. The fields, exception classes and ISS layouts are aarch32-cpu's
//! `Hsr` (ARMv7-A ARM B3.13.6); this adds the names and the two ARMv7 classes
//! and one ISS bit that crate does not define.

use aarch32_cpu::register::hsr::{ExceptionClass, InstructionLength, Iss};
use arbitrary_int::u6;
use core::fmt;

/// HSR.EC values (ARMv7-A ARM B3.13.6), as numbers for a `match` on
/// [`Hsr::ec`].
pub mod ec {
    use aarch32_cpu::register::hsr::ExceptionClass as C;

    const fn v(c: C) -> u32 {
        c.raw_value().value() as u32
    }

    pub const UNKNOWN: u32 = v(C::Unknown);
    pub const WFI_WFE: u32 = v(C::TrappedWfiWfe);
    pub const CP15_32: u32 = v(C::TrappedCp15McrMrc);
    pub const CP15_64: u32 = v(C::TrappedCp15McrrMrrc);
    pub const CP14_32: u32 = v(C::TrappedCp14McrMrc);
    pub const CP14_LDC: u32 = v(C::TrappedLdcStc);
    pub const HCPTR: u32 = v(C::TrappedFpu);
    pub const CP10_ID: u32 = v(C::TrappedVmrs);
    /// Jazelle instruction (ARMv7 only; aarch32-cpu follows ARMv8, which
    /// dropped it).
    pub const JAZELLE: u32 = 0x09;
    /// BXJ (ARMv7 only, as [`JAZELLE`]).
    pub const BXJ: u32 = 0x0a;
    pub const CP14_64: u32 = v(C::TrappedCp14McrrMrrc);
    pub const SVC_HYP: u32 = v(C::Svc);
    pub const HVC: u32 = v(C::Hvc);
    pub const SMC: u32 = v(C::Smc);
    pub const PABT_GUEST: u32 = v(C::PrefetchAbortFromLower);
    pub const PABT_HYP: u32 = v(C::PrefetchAbortFromCurrent);
    pub const DABT_GUEST: u32 = v(C::DataAbortFromLower);
    pub const DABT_HYP: u32 = v(C::DataAbortFromCurrent);
}

/// Data-abort ISS.S1PTW (bit 7): the fault was on a stage-1 table walk. Not
/// in aarch32-cpu's `IssDataAbort`.
const ISS_S1PTW: u32 = 1 << 7;

/// A raw HSR value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hsr(pub u32);

impl Hsr {
    /// The value as aarch32-cpu's typed register.
    pub fn fields(self) -> aarch32_cpu::register::Hsr {
        aarch32_cpu::register::Hsr::new_with_raw_value(self.0)
    }

    /// HSR.EC (bits 31:26, aarch32-cpu's `ec` field) as a number, for a
    /// `match` against [`ec`]: the trap path dispatches on it, so it is read
    /// raw, without the typed decode of [`Self::class`].
    pub fn ec(self) -> u32 {
        self.0 >> 26
    }

    /// HSR.EC, known to aarch32-cpu or the raw value.
    pub fn class(self) -> Result<ExceptionClass, u6> {
        self.fields().ec()
    }

    /// 32-bit instruction (IL = 1).
    pub fn il32(self) -> bool {
        self.fields().il() == InstructionLength::ThirtyTwoBit
    }

    pub fn iss(self) -> u32 {
        self.fields().iss().value()
    }

    pub fn class_name(self) -> &'static str {
        use ExceptionClass as C;
        match self.class() {
            Ok(C::Unknown) => "unknown reason",
            Ok(C::TrappedWfiWfe) => "WFI/WFE",
            Ok(C::TrappedCp15McrMrc) => "MCR/MRC CP15",
            Ok(C::TrappedCp15McrrMrrc) => "MCRR/MRRC CP15",
            Ok(C::TrappedCp14McrMrc) => "MCR/MRC CP14",
            Ok(C::TrappedLdcStc) => "LDC/STC CP14",
            Ok(C::TrappedFpu) => "FP/SIMD access (HCPTR)",
            Ok(C::TrappedVmrs) => "VMRS (CP10 ID)",
            Ok(C::TrappedCp14McrrMrrc) => "MRRC CP14",
            Ok(C::Svc) => "SVC routed to HYP",
            Ok(C::Hvc) => "HVC",
            Ok(C::Smc) => "SMC",
            Ok(C::PrefetchAbortFromLower) => "prefetch abort from guest",
            Ok(C::PrefetchAbortFromCurrent) => "prefetch abort at HYP",
            Ok(C::DataAbortFromLower) => "data abort from guest",
            Ok(C::DataAbortFromCurrent) => "data abort at HYP",
            // ARMv8 classes, reserved in ARMv7's HSR.
            Ok(C::IllegalAArch32Eret | C::PcAlignment) => "reserved",
            Err(raw) => match u32::from(raw.value()) {
                ec::JAZELLE => "Jazelle",
                ec::BXJ => "BXJ",
                _ => "reserved",
            },
        }
    }

    /// For data aborts: the access syndrome, when the hardware gave one (ISV).
    pub fn data_abort(self) -> Option<DataAbort> {
        let (Iss::DataAbortFromLower(d) | Iss::DataAbortFromCurrent(d)) =
            self.fields().get_iss()?
        else {
            return None;
        };
        Some(DataAbort {
            valid: d.isv(),
            size_log2: u32::from(d.sas().value()),
            sign_extend: d.sae(),
            reg: u32::from(d.srt().value()),
            write: d.wnr(),
            s1ptw: self.iss() & ISS_S1PTW != 0,
            fsc: u32::from(d.dfsc().value()),
        })
    }
}

/// Data-abort ISS fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataAbort {
    /// ISV: the fields below describe the access.
    pub valid: bool,
    pub size_log2: u32,
    pub sign_extend: bool,
    pub reg: u32,
    pub write: bool,
    /// Fault on a stage-1 table walk.
    pub s1ptw: bool,
    pub fsc: u32,
}

/// Names a long-descriptor fault status code.
pub fn fault_name(fsc: u32) -> &'static str {
    match fsc & 0x3c {
        0x04 => "translation fault",
        0x08 => "access flag fault",
        0x0c => "permission fault",
        0x10 if fsc == 0x10 => "synchronous external abort",
        0x20 if fsc == 0x21 => "alignment fault",
        0x30 if fsc == 0x30 => "TLB conflict",
        _ => "other fault",
    }
}

impl fmt::Display for Hsr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "HSR={:#010x} EC={:#04x} ({})",
            self.0,
            self.ec(),
            self.class_name()
        )?;
        if let Some(d) = self.data_abort() {
            write!(
                f,
                " {} {}",
                if d.write { "write" } else { "read" },
                fault_name(d.fsc)
            )?;
            if d.valid {
                write!(f, " size={} r{}", 1u32 << d.size_log2, d.reg)?;
            }
            if d.s1ptw {
                write!(f, " on stage-1 walk")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn decodes_guest_data_abort() {
        // EC 0x24, IL, ISV, SAS=word, SRT=r3, WnR, FSC = level-2 translation fault
        let hsr =
            Hsr((0x24 << 26) | (1 << 25) | (1 << 24) | (2 << 22) | (3 << 16) | (1 << 6) | 0x06);
        let d = hsr.data_abort().unwrap();
        assert!(d.valid && d.write && !d.sign_extend);
        assert_eq!((d.size_log2, d.reg), (2, 3));
        assert_eq!(
            format!("{hsr}"),
            "HSR=0x93830046 EC=0x24 (data abort from guest) write translation fault size=4 r3"
        );
    }

    #[test]
    fn ec_is_aarch32_cpus_field() {
        for raw in 0..64u32 {
            let h = Hsr(raw << 26 | 0x1ff_ffff);
            let typed = match h.class() {
                Ok(c) => c.raw_value(),
                Err(r) => r,
            };
            assert_eq!(h.ec(), u32::from(typed.value()));
        }
        assert!(Hsr(1 << 25).il32() && !Hsr(0).il32());
        assert_eq!(Hsr(0xffff_ffff).iss(), 0x1ff_ffff);
    }

    #[test]
    fn names_classes() {
        assert_eq!(Hsr(0x12 << 26).class_name(), "HVC");
        assert_eq!(Hsr(0x3f << 26).class_name(), "reserved");
        assert!(Hsr(0x12 << 26).data_abort().is_none());
    }
}
