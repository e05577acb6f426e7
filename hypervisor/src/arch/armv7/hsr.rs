//! Hyp Syndrome Register decode, in words, for trap handling and register dumps.

use core::fmt;

/// HSR.EC values (ARMv7-A ARM B3.13.6).
pub mod ec {
    pub const UNKNOWN: u32 = 0x00;
    pub const WFI_WFE: u32 = 0x01;
    pub const CP15_32: u32 = 0x03;
    pub const CP15_64: u32 = 0x04;
    pub const CP14_32: u32 = 0x05;
    pub const CP14_LDC: u32 = 0x06;
    pub const HCPTR: u32 = 0x07;
    pub const CP10_ID: u32 = 0x08;
    pub const JAZELLE: u32 = 0x09;
    pub const BXJ: u32 = 0x0a;
    pub const CP14_64: u32 = 0x0c;
    pub const SVC_HYP: u32 = 0x11;
    pub const HVC: u32 = 0x12;
    pub const SMC: u32 = 0x13;
    pub const PABT_GUEST: u32 = 0x20;
    pub const PABT_HYP: u32 = 0x21;
    pub const DABT_GUEST: u32 = 0x24;
    pub const DABT_HYP: u32 = 0x25;
}

/// A decoded HSR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hsr(pub u32);

impl Hsr {
    pub fn ec(self) -> u32 {
        self.0 >> 26
    }
    /// 32-bit instruction (IL = 1).
    pub fn il32(self) -> bool {
        self.0 & (1 << 25) != 0
    }
    pub fn iss(self) -> u32 {
        self.0 & 0x01ff_ffff
    }

    pub fn class_name(self) -> &'static str {
        match self.ec() {
            ec::UNKNOWN => "unknown reason",
            ec::WFI_WFE => "WFI/WFE",
            ec::CP15_32 => "MCR/MRC CP15",
            ec::CP15_64 => "MCRR/MRRC CP15",
            ec::CP14_32 => "MCR/MRC CP14",
            ec::CP14_LDC => "LDC/STC CP14",
            ec::HCPTR => "FP/SIMD access (HCPTR)",
            ec::CP10_ID => "VMRS (CP10 ID)",
            ec::JAZELLE => "Jazelle",
            ec::BXJ => "BXJ",
            ec::CP14_64 => "MRRC CP14",
            ec::SVC_HYP => "SVC routed to HYP",
            ec::HVC => "HVC",
            ec::SMC => "SMC",
            ec::PABT_GUEST => "prefetch abort from guest",
            ec::PABT_HYP => "prefetch abort at HYP",
            ec::DABT_GUEST => "data abort from guest",
            ec::DABT_HYP => "data abort at HYP",
            _ => "reserved",
        }
    }

    /// For data aborts: the access syndrome, when the hardware gave one (ISV).
    pub fn data_abort(self) -> Option<DataAbort> {
        if !matches!(self.ec(), ec::DABT_GUEST | ec::DABT_HYP) {
            return None;
        }
        let iss = self.iss();
        Some(DataAbort {
            valid: iss & (1 << 24) != 0,
            size_log2: (iss >> 22) & 3,
            sign_extend: iss & (1 << 21) != 0,
            reg: (iss >> 16) & 0xf,
            write: iss & (1 << 6) != 0,
            s1ptw: iss & (1 << 7) != 0,
            fsc: iss & 0x3f,
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
    fn names_classes() {
        assert_eq!(Hsr(0x12 << 26).class_name(), "HVC");
        assert_eq!(Hsr(0x3f << 26).class_name(), "reserved");
        assert!(Hsr(0x12 << 26).data_abort().is_none());
    }
}
