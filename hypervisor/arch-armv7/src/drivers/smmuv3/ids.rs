//! What an SMMUv3 can do, from its ID registers, and whether snowvisor can use
//! it: stage-2 translation of 40-bit IPAs with a 4 KiB granule, in a table
//! format the CPU's LPAE stage-2 tables are valid in. Pure, host-tested.

use core::fmt;

use tock_registers::LocalRegisterCopy;

use super::regs::{IDR0, IDR1, IDR5};

/// The stage-2 table format the STEs select (STE.S2AA64).
///
/// The CPU's ARMv7 LPAE stage-2 tables (4 KiB granule, start at level 1,
/// 40-bit IPA, two concatenated level-1 tables) are also valid VMSAv8-64
/// stage-2 tables with S2T0SZ = 24 and
/// S2SL0 = 1: the descriptors have the same layout and the output addresses
/// fit in 40 bits. So either format walks the same tables; AArch64 is
/// preferred because QEMU's model implements only that one (IDR0.TTF = 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S2Format {
    Aarch64,
    /// VMSAv7 long-descriptor (LPAE), as VTCR/VTTBR on the CPU.
    Aarch32,
}

/// The parts of the ID registers snowvisor relies on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    pub format: S2Format,
    /// IDR0.COHACC: table walks and queue accesses snoop the CPU caches.
    pub coherent: bool,
    pub two_level: bool,
    /// IDR1.SIDSIZE: stream IDs are this many bits wide.
    pub sid_bits: u32,
    /// Largest queue sizes, as log2 of entries.
    pub cmdq_max_log2: u32,
    pub eventq_max_log2: u32,
    /// IDR5.OAS, the encoded output address size (0 = 32 bits ... 6 = 52 bits).
    pub oas: u32,
    pub vmid16: bool,
    pub stage1: bool,
}

/// Why snowvisor cannot use an SMMU. Each names the register and field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// IDR0.S2P = 0: no stage-2 translation (QEMU 8.2 to 9.1 default to stage 1
    /// only; since 9.2 the virt machine's SMMU is nested, stages 1 and 2).
    NoStage2,
    /// IDR0.TTF names no known table format.
    NoTableFormat { ttf: u32 },
    /// IDR0.TTENDIAN = 3: big-endian tables only.
    BigEndianOnly,
    /// IDR5.GRAN4K = 0.
    No4kGranule,
    /// IDR1.TABLES_PRESET or QUEUES_PRESET: fixed table or queue addresses.
    Preset { what: &'static str },
    /// IDR1.CMDQS or EVENTQS below what CMD_SYNC and reporting need.
    QueueTooSmall { what: &'static str, log2: u32 },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NoStage2 => write!(
                f,
                "no stage-2 translation (IDR0.S2P = 0); QEMU 8.2 to 9.1 need -global arm-smmuv3.stage=2"
            ),
            Refusal::NoTableFormat { ttf } => write!(
                f,
                "IDR0.TTF = {ttf}: neither the AArch32 (LPAE) nor the AArch64 table format"
            ),
            Refusal::BigEndianOnly => write!(f, "IDR0.TTENDIAN: big-endian tables only"),
            Refusal::No4kGranule => write!(f, "IDR5.GRAN4K = 0: no 4 KiB translation granule"),
            Refusal::Preset { what } => write!(
                f,
                "IDR1.{what}_PRESET: fixed {} addresses are not supported",
                what.to_ascii_lowercase()
            ),
            Refusal::QueueTooSmall { what, log2 } => {
                write!(f, "IDR1.{what} = {log2}: queue too small")
            }
        }
    }
}

/// Output address size in bits for an IDR5.OAS / STE.S2PS encoding.
pub fn oas_bits(code: u32) -> u32 {
    match code {
        0 => 32,
        1 => 36,
        2 => 40,
        3 => 42,
        4 => 44,
        5 => 48,
        _ => 52,
    }
}

/// Decodes IDR0, IDR1 and IDR5 and checks snowvisor can use the SMMU.
pub fn features(idr0: u32, idr1: u32, idr5: u32) -> Result<Features, Refusal> {
    let i0 = LocalRegisterCopy::<u32, IDR0::Register>::new(idr0);
    let i1 = LocalRegisterCopy::<u32, IDR1::Register>::new(idr1);
    let i5 = LocalRegisterCopy::<u32, IDR5::Register>::new(idr5);
    if !i0.is_set(IDR0::S2P) {
        return Err(Refusal::NoStage2);
    }
    let ttf = i0.read(IDR0::TTF);
    let format = if ttf & 2 != 0 {
        S2Format::Aarch64
    } else if ttf & 1 != 0 {
        S2Format::Aarch32
    } else {
        return Err(Refusal::NoTableFormat { ttf });
    };
    if i0.read(IDR0::TTENDIAN) == 3 {
        return Err(Refusal::BigEndianOnly);
    }
    if !i5.is_set(IDR5::GRAN4K) {
        return Err(Refusal::No4kGranule);
    }
    if i1.is_set(IDR1::TABLES_PRESET) {
        return Err(Refusal::Preset { what: "TABLES" });
    }
    if i1.is_set(IDR1::QUEUES_PRESET) {
        return Err(Refusal::Preset { what: "QUEUES" });
    }
    // A command batch is up to three commands plus CMD_SYNC.
    let cmdq = i1.read(IDR1::CMDQS);
    if cmdq < 2 {
        return Err(Refusal::QueueTooSmall {
            what: "CMDQS",
            log2: cmdq,
        });
    }
    Ok(Features {
        format,
        coherent: i0.is_set(IDR0::COHACC),
        two_level: i0.read(IDR0::ST_LEVEL) == 1,
        sid_bits: i1.read(IDR1::SIDSIZE).min(32),
        cmdq_max_log2: cmdq,
        eventq_max_log2: i1.read(IDR1::EVENTQS),
        oas: i5.read(IDR5::OAS),
        vmid16: i0.is_set(IDR0::VMID16),
        stage1: i0.is_set(IDR0::S1P),
    })
}

impl fmt::Display for Features {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "stage 2 ({} tables), {}-bit stream IDs, {} stream table, {}-bit output, {}",
            match self.format {
                S2Format::Aarch64 => "AArch64",
                S2Format::Aarch32 => "AArch32 LPAE",
            },
            self.sid_bits,
            if self.two_level { "2-level" } else { "linear" },
            oas_bits(self.oas),
            if self.coherent {
                "coherent"
            } else {
                "not coherent"
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// QEMU's `arm-smmuv3` with `stage=2`: S2P, TTF=AArch64, COHACC, VMID16,
    /// TTENDIAN=LE, STALL_MODEL=1, TERM_MODEL, ST_LEVEL=2-level.
    const QEMU_IDR0: u32 = 1
        | (2 << 2)
        | (1 << 4)
        | (1 << 12)
        | (1 << 18)
        | (2 << 21)
        | (1 << 24)
        | (1 << 26)
        | (1 << 27);
    const QEMU_IDR1: u32 = 16 | (19 << 16) | (19 << 21);
    const QEMU_IDR5: u32 = 4 | (1 << 4) | (1 << 5) | (1 << 6);

    #[test]
    fn qemu_stage2_model() {
        let f = features(QEMU_IDR0, QEMU_IDR1, QEMU_IDR5).unwrap();
        assert_eq!(f.format, S2Format::Aarch64);
        assert!(f.coherent && f.two_level && f.vmid16 && !f.stage1);
        assert_eq!(
            (f.sid_bits, f.cmdq_max_log2, f.eventq_max_log2),
            (16, 19, 19)
        );
        assert_eq!(oas_bits(f.oas), 44);
        assert_eq!(
            alloc::format!("{f}"),
            "stage 2 (AArch64 tables), 16-bit stream IDs, 2-level stream table, 44-bit output, coherent"
        );
    }

    /// IDR0 as read from QEMU 10.0: virt's nested SMMU, virt-9.1 with
    /// stage=2, virt-9.1 by default (stage 1 only).
    #[test]
    fn qemu_10_idr0_values() {
        for idr0 in [0x0d44_101b, 0x0d44_1019] {
            let f = features(idr0, QEMU_IDR1, QEMU_IDR5).unwrap();
            assert_eq!(f.format, S2Format::Aarch64);
            assert!(f.coherent && f.two_level);
        }
        assert_eq!(
            features(0x0d44_101a, QEMU_IDR1, QEMU_IDR5),
            Err(Refusal::NoStage2)
        );
    }

    #[test]
    fn refusals() {
        // QEMU's default: stage 1 only.
        let s1_only = (QEMU_IDR0 & !1) | 2;
        assert_eq!(
            features(s1_only, QEMU_IDR1, QEMU_IDR5),
            Err(Refusal::NoStage2)
        );
        assert!(alloc::format!("{}", Refusal::NoStage2).contains("arm-smmuv3.stage=2"));
        let no_ttf = QEMU_IDR0 & !(3 << 2);
        assert_eq!(
            features(no_ttf, QEMU_IDR1, QEMU_IDR5),
            Err(Refusal::NoTableFormat { ttf: 0 })
        );
        assert_eq!(
            features(QEMU_IDR0 | (3 << 21), QEMU_IDR1, QEMU_IDR5),
            Err(Refusal::BigEndianOnly)
        );
        assert_eq!(
            features(QEMU_IDR0, QEMU_IDR1, QEMU_IDR5 & !(1 << 4)),
            Err(Refusal::No4kGranule)
        );
        assert_eq!(
            features(QEMU_IDR0, QEMU_IDR1 | (1 << 30), QEMU_IDR5),
            Err(Refusal::Preset { what: "TABLES" })
        );
        assert_eq!(
            alloc::format!("{}", Refusal::Preset { what: "QUEUES" }),
            "IDR1.QUEUES_PRESET: fixed queues addresses are not supported"
        );
        assert!(matches!(
            features(QEMU_IDR0, 16 | (1 << 21), QEMU_IDR5),
            Err(Refusal::QueueTooSmall {
                what: "CMDQS",
                log2: 1
            })
        ));
    }

    #[test]
    fn aarch32_only_and_linear_only() {
        let v7 = (QEMU_IDR0 & !(3 << 2) & !(3 << 27) & !(1 << 4)) | (1 << 2);
        let f = features(v7, 8 | (7 << 16) | (8 << 21), QEMU_IDR5).unwrap();
        assert_eq!(f.format, S2Format::Aarch32);
        assert!(!f.two_level && !f.coherent);
        assert_eq!(f.sid_bits, 8);
    }
}
