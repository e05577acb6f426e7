//! Stream table entries and the stream table's shape (IHI 0070 §5.2, §3.3).
//! Pure: encodes 64-byte STEs and 8-byte level-1 descriptors, and chooses a
//! linear or 2-level table for the stream IDs in use. Host-tested.

use alloc::vec::Vec;
use core::fmt;

use tock_registers::fields::FieldValue;
use tock_registers::{register_bitfields, LocalRegisterCopy};

use super::ids::{Features, S2Format};
use snowvisor_arm::sysreg::{Vtcr, WalkCache, WalkShare};

/// One STE: eight little-endian 64-bit words.
pub type Ste = [u64; 8];

/// Bytes per STE.
pub const STE_BYTES: usize = 64;

register_bitfields![u64,
    /// STE word 0 (§5.2).
    STE0 [
        V OFFSET(0) NUMBITS(1) [],
        CONFIG OFFSET(1) NUMBITS(3) [
            Abort = 0b000,
            Bypass = 0b100,
            /// Stage 1 bypass, stage 2 translate.
            S2Translate = 0b110
        ]
    ],
    /// STE word 1.
    STE1 [
        SHCFG OFFSET(44) NUMBITS(2) [
            /// Use the incoming shareability.
            Incoming = 0b01
        ]
    ],
    /// STE word 2: the stage-2 settings.
    STE2 [
        S2VMID OFFSET(0) NUMBITS(16) [],
        S2T0SZ OFFSET(32) NUMBITS(6) [],
        S2SL0 OFFSET(38) NUMBITS(2) [],
        S2IR0 OFFSET(40) NUMBITS(2) [],
        S2OR0 OFFSET(42) NUMBITS(2) [],
        S2SH0 OFFSET(44) NUMBITS(2) [],
        /// Granule: 0 = 4 KiB.
        S2TG OFFSET(46) NUMBITS(2) [],
        /// Output size, an IDR5.OAS encoding.
        S2PS OFFSET(48) NUMBITS(3) [],
        /// AArch64 translation tables (else AArch32 LPAE).
        S2AA64 OFFSET(51) NUMBITS(1) [],
        /// Record stage-2 faults in the event queue.
        S2R OFFSET(58) NUMBITS(1) []
    ],
    /// STE word 3.
    STE3 [
        /// Stage-2 table base, address bits 51:4.
        S2TTB OFFSET(4) NUMBITS(48) []
    ],
    /// A level-1 stream table descriptor (§5.1).
    L1STD [
        /// Level-2 table of 2^(SPAN - 1) STEs.
        SPAN OFFSET(0) NUMBITS(5) [],
        /// Level-2 table address bits 51:6.
        L2PTR OFFSET(6) NUMBITS(46) []
    ]
];

/// A stream that no domain owns: STE.V = 0. The SMMU terminates its
/// transactions with an abort and records C_BAD_STE, so snowvisor sees and
/// reports every attempt.
pub const INVALID: Ste = [0; 8];

/// Stage-2 settings shared by every stream of one domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct S2Config {
    pub vmid: u16,
    /// Physical address of the domain's stage-2 level-1 table (the CPU's VTTBR.BADDR).
    pub root_pa: u64,
    /// The CPU's VTCR: SL0, IRGN0, ORGN0, SH0 and T0SZ are taken from it.
    pub vtcr: Vtcr,
    pub format: S2Format,
    /// STE.S2PS, an IDR5.OAS encoding.
    pub ps: u32,
    /// Table walks snoop the CPU caches (IDR0.COHACC); else they are non-cacheable.
    pub coherent: bool,
}

impl S2Config {
    /// For an SMMU with `f`: output size capped at 40 bits (what LPAE
    /// descriptors can hold, and what the SMMU supports).
    pub fn new(f: &Features, vmid: u16, root_pa: u64, vtcr: Vtcr) -> Self {
        S2Config {
            vmid,
            root_pa,
            vtcr,
            format: f.format,
            ps: f.oas.min(2),
            coherent: f.coherent,
        }
    }

    /// STE.S2T0SZ: the VTCR's T0SZ is a signed 4-bit field (IPA = 32 - T0SZ
    /// bits); AArch64 tables take 64 - IPA bits.
    fn t0sz(&self) -> u64 {
        let t0sz = self.vtcr.t0sz().value();
        match self.format {
            // AArch32 S2T0SZ is VTCR's T0SZ with its sign bit S above it.
            S2Format::Aarch32 => u64::from(t0sz) | u64::from(self.vtcr.s()) << 4,
            S2Format::Aarch64 => {
                let signed = i32::from(t0sz) - if t0sz & 0x8 != 0 { 16 } else { 0 };
                (32 + signed) as u64
            }
        }
    }
}

/// The 64-bit value of `fields`.
fn word<R: tock_registers::RegisterLongName>(fields: FieldValue<u64, R>) -> u64 {
    let mut w = LocalRegisterCopy::<u64, R>::new(0);
    w.write(fields);
    w.get()
}

/// An STE that translates the stream's DMA through the domain's stage-2 tables.
pub fn s2_translate(c: &S2Config) -> Ste {
    let (irgn, orgn, sh) = if c.coherent {
        (c.vtcr.irgn0(), c.vtcr.orgn0(), c.vtcr.sh0())
    } else {
        // Non-cacheable, outer shareable: the SMMU reads memory, and snowvisor
        // cleans the tables to the point of coherency.
        (
            WalkCache::NonCacheable,
            WalkCache::NonCacheable,
            WalkShare::OuterShareable,
        )
    };
    let field = |v: arbitrary_int::u2| u64::from(v.value());
    // S2TG = 0: 4 KiB granule.
    let mut w2 = STE2::S2VMID.val(u64::from(c.vmid))
        + STE2::S2T0SZ.val(c.t0sz())
        + STE2::S2SL0.val(field(c.vtcr.sl0()))
        + STE2::S2IR0.val(field(irgn.raw_value()))
        + STE2::S2OR0.val(field(orgn.raw_value()))
        + STE2::S2SH0.val(field(sh.raw_value()))
        + STE2::S2TG.val(0)
        + STE2::S2R::SET;
    if c.format == S2Format::Aarch64 {
        w2 += STE2::S2PS.val(u64::from(c.ps)) + STE2::S2AA64::SET;
    }
    [
        word(STE0::V::SET + STE0::CONFIG::S2Translate),
        word(STE1::SHCFG::Incoming),
        word(w2),
        word(STE3::S2TTB.val(c.root_pa >> 4)),
        0,
        0,
        0,
        0,
    ]
}

/// Decoded essentials of an STE, for reports and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SteView {
    pub valid: bool,
    pub config: u64,
    pub vmid: u16,
    pub s2ttb: u64,
}

pub fn view(s: &Ste) -> SteView {
    let w0 = LocalRegisterCopy::<u64, STE0::Register>::new(s[0]);
    SteView {
        valid: w0.is_set(STE0::V),
        config: w0.read(STE0::CONFIG),
        vmid: LocalRegisterCopy::<u64, STE2::Register>::new(s[2]).read(STE2::S2VMID) as u16,
        s2ttb: LocalRegisterCopy::<u64, STE3::Register>::new(s[3]).read(STE3::S2TTB) << 4,
    }
}

/// A level-1 stream table descriptor: L2Ptr and Span (2^(span-1) STEs).
pub fn l1_descriptor(l2_pa: u64, split: u32) -> u64 {
    word(L1STD::L2PTR.val(l2_pa >> 6) + L1STD::SPAN.val(u64::from(split) + 1))
}

/// How the stream table is laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// 2^log2size STEs in one table.
    Linear { log2size: u32 },
    /// 2^(log2size - split) level-1 descriptors; level-2 tables of 2^split
    /// STEs exist only for the level-1 indexes listed.
    TwoLevel {
        log2size: u32,
        split: u32,
        l2: Vec<u32>,
    },
}

/// STEs per level-2 table: 256 (16 KiB), one PCI bus.
pub const SPLIT: u32 = 8;
/// Largest linear table snowvisor builds: 4096 STEs, 256 KiB.
pub const LINEAR_MAX_LOG2: u32 = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShapeError {
    /// A stream ID wider than IDR1.SIDSIZE.
    StreamIdTooWide { sid: u32, bits: u32 },
    /// Only a linear table, and it would be too large for the stream IDs in use.
    LinearTooLarge { log2size: u32 },
}

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShapeError::StreamIdTooWide { sid, bits } => {
                write!(f, "stream ID {sid:#x} does not fit the SMMU's {bits} bits")
            }
            ShapeError::LinearTooLarge { log2size } => write!(
                f,
                "a linear stream table for 2^{log2size} streams is too large (no 2-level support)"
            ),
        }
    }
}

/// Bits needed to index stream IDs 0..=max.
fn bits_for(max: u32) -> u32 {
    32 - max.leading_zeros()
}

/// Chooses the table for `streams` (inclusive ranges of stream IDs in use).
/// IDs beyond the table (up to 2^SIDSIZE) are terminated with C_BAD_STREAMID.
pub fn shape(f: &Features, streams: &[(u32, u32)]) -> Result<Shape, ShapeError> {
    let max = streams.iter().map(|r| r.1).max().unwrap_or(0);
    let log2size = bits_for(max).max(1);
    if log2size > f.sid_bits {
        return Err(ShapeError::StreamIdTooWide {
            sid: max,
            bits: f.sid_bits,
        });
    }
    if !f.two_level || log2size <= SPLIT {
        if log2size > LINEAR_MAX_LOG2 {
            return Err(ShapeError::LinearTooLarge { log2size });
        }
        return Ok(Shape::Linear { log2size });
    }
    // Level-1 indexes in use, ascending, each once.
    let mut l2: Vec<u32> = Vec::new();
    for &(first, last) in streams {
        for i in (first >> SPLIT)..=(last >> SPLIT) {
            if let Err(at) = l2.binary_search(&i) {
                l2.insert(at, i);
            }
        }
    }
    Ok(Shape::TwoLevel {
        log2size,
        split: SPLIT,
        l2,
    })
}

impl Shape {
    pub fn log2size(&self) -> u32 {
        match self {
            Shape::Linear { log2size } | Shape::TwoLevel { log2size, .. } => *log2size,
        }
    }

    /// Bytes of the table STRTAB_BASE points at (the linear table or level 1).
    pub fn base_bytes(&self) -> usize {
        match self {
            Shape::Linear { log2size } => STE_BYTES << log2size,
            Shape::TwoLevel {
                log2size, split, ..
            } => 8 << (log2size - split),
        }
    }

    /// Where `sid`'s STE is: (level-2 table number or None for linear, index).
    /// None when the table has no STE for it.
    pub fn locate(&self, sid: u32) -> Option<(Option<usize>, usize)> {
        match self {
            Shape::Linear { log2size } => {
                (bits_for(sid) <= *log2size).then_some((None, sid as usize))
            }
            Shape::TwoLevel { split, l2, .. } => {
                let t = l2.iter().position(|&i| i == sid >> split)?;
                Some((Some(t), (sid & ((1 << split) - 1)) as usize))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qemu() -> Features {
        Features {
            format: S2Format::Aarch64,
            coherent: true,
            two_level: true,
            sid_bits: 16,
            cmdq_max_log2: 19,
            eventq_max_log2: 19,
            oas: 4,
            vmid16: true,
            stage1: false,
        }
    }

    /// stage2.rs's VTCR: T0SZ -8 (40-bit IPA), SL0 1, IRGN0/ORGN0 WBWA, SH0 inner.
    use snowvisor_arm::stage2::VTCR;

    #[test]
    fn stage2_ste_aarch64() {
        let c = S2Config::new(&qemu(), 1, 0x4012_3000, VTCR);
        assert_eq!(c.ps, 2);
        let s = s2_translate(&c);
        assert_eq!(s[0], 0b1101); // V, Config = S2 translate
        assert_eq!(s[1], 1 << 44);
        let w2 = s[2];
        assert_eq!(w2 & 0xffff, 1, "S2VMID");
        assert_eq!((w2 >> 32) & 0x3f, 24, "S2T0SZ: 40-bit IPA");
        assert_eq!((w2 >> 38) & 3, 1, "S2SL0: start at level 1");
        assert_eq!(((w2 >> 40) & 3, (w2 >> 42) & 3, (w2 >> 44) & 3), (1, 1, 3));
        assert_eq!((w2 >> 46) & 3, 0, "S2TG: 4 KiB");
        assert_eq!((w2 >> 48) & 7, 2, "S2PS: 40 bits");
        assert_ne!(w2 & (1 << 51), 0, "S2AA64");
        assert_ne!(w2 & (1 << 58), 0, "S2R");
        assert_eq!(w2 & ((1 << 52) | (1 << 57)), 0, "little-endian, no stall");
        assert_eq!(s[3], 0x4012_3000);
        assert_eq!(
            view(&s),
            SteView {
                valid: true,
                config: 6,
                vmid: 1,
                s2ttb: 0x4012_3000
            }
        );
        assert!(!view(&INVALID).valid);
    }

    #[test]
    fn stage2_ste_aarch32_and_non_coherent() {
        let f = Features {
            format: S2Format::Aarch32,
            coherent: false,
            oas: 0,
            ..qemu()
        };
        let s = s2_translate(&S2Config::new(&f, 7, 0x8000_0000, VTCR));
        let w2 = s[2];
        assert_eq!(w2 & 0xffff, 7);
        assert_eq!((w2 >> 32) & 0x3f, 0x18, "AArch32 T0SZ as in VTCR");
        assert_eq!(w2 & (1 << 51), 0, "S2AA64 clear");
        assert_eq!((w2 >> 48) & 7, 0);
        assert_eq!(((w2 >> 40) & 3, (w2 >> 42) & 3, (w2 >> 44) & 3), (0, 0, 2));
        // A 32-bit IPA VTCR (T0SZ = 0) in AArch64 terms is S2T0SZ = 32.
        let c = S2Config::new(
            &qemu(),
            1,
            0,
            VTCR.with_t0sz(arbitrary_int::u4::new(0)).with_s(false),
        );
        assert_eq!((s2_translate(&c)[2] >> 32) & 0x3f, 32);
    }

    #[test]
    fn l1_descriptors() {
        assert_eq!(l1_descriptor(0x4100_4000, 8), 0x4100_4000 | 9);
    }

    #[test]
    fn shapes() {
        // QEMU virt, buses 0..15: SIDs 0..0xfff, 16 level-2 tables.
        let s = shape(&qemu(), &[(0, 0xfff)]).unwrap();
        let Shape::TwoLevel {
            log2size,
            split,
            ref l2,
        } = s
        else {
            panic!("{s:?}")
        };
        assert_eq!((log2size, split, l2.len()), (12, 8, 16));
        assert_eq!(s.base_bytes(), 16 * 8);
        assert_eq!(s.locate(0x0108), Some((Some(1), 8)));
        assert_eq!(s.locate(0x1000), None);
        // Sparse: bus 0 and bus 0x80 only.
        let s = shape(&qemu(), &[(0x8000, 0x80ff), (0, 0x1f)]).unwrap();
        assert_eq!(s.log2size(), 16);
        assert_eq!(s.locate(0x8001), Some((Some(1), 1)));
        assert_eq!(s.locate(0x100), None);
        // Few streams: linear.
        let s = shape(&qemu(), &[(0, 0x1f)]).unwrap();
        assert_eq!(s, Shape::Linear { log2size: 5 });
        assert_eq!(s.base_bytes(), 32 * 64);
        assert_eq!(s.locate(31), Some((None, 31)));
        assert_eq!(s.locate(32), None);
        // No streams at all: a 2-entry linear table of invalid STEs.
        assert_eq!(shape(&qemu(), &[]).unwrap(), Shape::Linear { log2size: 1 });
    }

    #[test]
    fn shape_refusals() {
        let narrow = Features {
            sid_bits: 8,
            ..qemu()
        };
        assert_eq!(
            shape(&narrow, &[(0, 0x1ff)]),
            Err(ShapeError::StreamIdTooWide {
                sid: 0x1ff,
                bits: 8
            })
        );
        let linear = Features {
            two_level: false,
            ..qemu()
        };
        assert_eq!(
            shape(&linear, &[(0, 0xfff)]).unwrap(),
            Shape::Linear { log2size: 12 }
        );
        assert_eq!(
            shape(&linear, &[(0, 0xffff)]),
            Err(ShapeError::LinearTooLarge { log2size: 16 })
        );
    }
}
