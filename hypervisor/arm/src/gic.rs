//! GICv2 register maps and fields (ARM IHI 0048B, GIC architecture
//! specification v2: 4.3 distributor, 4.4 CPU interface, 5.3 virtual
//! interface control). Pure definitions, shared by the driver
//! (`drivers::gicv2`), the emulated distributor (`vgic::dist`, which matches
//! guest offsets against [`DistributorRegs`]) and the list-register logic
//! (`vgic::lr`, through [`LR`]).

use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

register_bitfields![u32,
    /// GICD_CTLR (4.3.1), as the Non-secure side sees it.
    pub GICD_CTLR [
        ENABLE OFFSET(0) NUMBITS(1) [],
    ],
    /// GICD_TYPER (4.3.2).
    pub TYPER [
        /// Interrupt lines / 32 - 1.
        IT_LINES OFFSET(0) NUMBITS(5) [],
        CPU_NUMBER OFFSET(5) NUMBITS(3) [],
        SECURITY_EXTN OFFSET(10) NUMBITS(1) [],
    ],
    /// GICD_IPRIORITYRn (4.3.11): one priority byte per interrupt.
    pub IPRIORITYR [
        PRIORITY0 OFFSET(0) NUMBITS(8) [],
        PRIORITY1 OFFSET(8) NUMBITS(8) [],
        PRIORITY2 OFFSET(16) NUMBITS(8) [],
        PRIORITY3 OFFSET(24) NUMBITS(8) []
    ],
    /// GICD_ITARGETSRn (4.3.12): one CPU-targets byte per interrupt.
    pub ITARGETSR [
        TARGETS0 OFFSET(0) NUMBITS(8) [Cpu0 = 1],
        TARGETS1 OFFSET(8) NUMBITS(8) [Cpu0 = 1],
        TARGETS2 OFFSET(16) NUMBITS(8) [Cpu0 = 1],
        TARGETS3 OFFSET(24) NUMBITS(8) [Cpu0 = 1]
    ],
    /// GICD_SGIR (4.3.15).
    pub SGIR [
        SGIINTID OFFSET(0) NUMBITS(4) [],
        CPU_TARGET_LIST OFFSET(16) NUMBITS(8) [],
        TARGET_LIST_FILTER OFFSET(24) NUMBITS(2) [
            List = 0,
            AllButSelf = 1,
            SelfOnly = 2
        ]
    ],
    /// GICC_CTLR (4.4.1), Non-secure copy.
    pub GICC_CTLR [
        ENABLE OFFSET(0) NUMBITS(1) [],
        /// EOImodeNS: EOIR only drops the priority; DIR deactivates.
        EOI_MODE_NS OFFSET(9) NUMBITS(1) [],
    ],
    /// GICC_PMR (4.4.2).
    pub PMR [
        PRIORITY OFFSET(0) NUMBITS(8) [
            /// The lowest priority: every interrupt is signalled.
            AllowAll = 0xff
        ]
    ],
    /// GICC_BPR (4.4.3).
    pub BPR [
        BINARY_POINT OFFSET(0) NUMBITS(3) []
    ],
    /// GICC_IAR (4.4.4), also the value written back to EOIR and DIR.
    pub IAR [
        INTERRUPT_ID OFFSET(0) NUMBITS(10) [],
        CPUID OFFSET(10) NUMBITS(3) []
    ],
    /// GICH_HCR (5.3.1).
    pub GICH_HCR [
        EN OFFSET(0) NUMBITS(1) [],
        /// Underflow interrupt enable: a maintenance interrupt while at most
        /// one list register holds an interrupt.
        UIE OFFSET(1) NUMBITS(1) []
    ],
    /// GICH_VTR (5.3.2).
    pub VTR [
        /// List registers - 1.
        LIST_REGS OFFSET(0) NUMBITS(6) [],
    ],
    /// GICH_LRn (5.3.11).
    pub LR [
        VIRTUAL_ID OFFSET(0) NUMBITS(10) [],
        /// With HW = 1: the physical INTID the guest's deactivation
        /// deactivates.
        PHYSICAL_ID OFFSET(10) NUMBITS(10) [],
        /// With HW = 0 (bit 19 of the same field): ask for a maintenance
        /// interrupt when the guest deactivates the interrupt.
        EOI OFFSET(19) NUMBITS(1) [],
        /// Priority bits 7:3.
        PRIORITY OFFSET(23) NUMBITS(5) [],
        STATE OFFSET(28) NUMBITS(2) [
            Invalid = 0,
            Pending = 1,
            Active = 2,
            PendingActive = 3
        ],
        GRP1 OFFSET(30) NUMBITS(1) [],
        HW OFFSET(31) NUMBITS(1) []
    ]
];

register_structs! {
    /// The distributor (4.1.2, Table 4-1).
    pub DistributorRegs {
        (0x000 => pub ctlr: ReadWrite<u32, GICD_CTLR::Register>),
        (0x004 => pub typer: ReadOnly<u32, TYPER::Register>),
        (0x008 => pub iidr: ReadOnly<u32>),
        (0x00c => _r0),
        (0x080 => pub igroupr: [ReadWrite<u32>; 32]),
        (0x100 => pub isenabler: [ReadWrite<u32>; 32]),
        (0x180 => pub icenabler: [ReadWrite<u32>; 32]),
        (0x200 => pub ispendr: [ReadWrite<u32>; 32]),
        (0x280 => pub icpendr: [ReadWrite<u32>; 32]),
        (0x300 => pub isactiver: [ReadWrite<u32>; 32]),
        (0x380 => pub icactiver: [ReadWrite<u32>; 32]),
        (0x400 => pub ipriorityr: [ReadWrite<u32, IPRIORITYR::Register>; 255]),
        (0x7fc => _r1),
        (0x800 => pub itargetsr: [ReadWrite<u32, ITARGETSR::Register>; 255]),
        (0xbfc => _r2),
        (0xc00 => pub icfgr: [ReadWrite<u32>; 64]),
        (0xd00 => _r3),
        (0xf00 => pub sgir: WriteOnly<u32, SGIR::Register>),
        (0xf04 => _r4),
        (0xf10 => pub cpendsgir: [ReadWrite<u32>; 4]),
        (0xf20 => pub spendsgir: [ReadWrite<u32>; 4]),
        (0xf30 => _r5),
        (0xfd0 => pub pidr4_7: [ReadOnly<u32>; 4]),
        (0xfe0 => pub pidr0_3: [ReadOnly<u32>; 4]),
        (0xff0 => pub cidr: [ReadOnly<u32>; 4]),
        (0x1000 => @END),
    }
}

register_structs! {
    /// The CPU interface (4.1.3, Table 4-2).
    pub CpuInterfaceRegs {
        (0x00 => pub ctlr: ReadWrite<u32, GICC_CTLR::Register>),
        (0x04 => pub pmr: ReadWrite<u32, PMR::Register>),
        (0x08 => pub bpr: ReadWrite<u32, BPR::Register>),
        (0x0c => pub iar: ReadOnly<u32, IAR::Register>),
        (0x10 => pub eoir: WriteOnly<u32, IAR::Register>),
        (0x14 => _r0),
        (0x1000 => pub dir: WriteOnly<u32, IAR::Register>),
        (0x1004 => @END),
    }
}

register_structs! {
    /// The virtual interface control block (5.3, Table 5-1).
    pub HypInterfaceRegs {
        (0x000 => pub hcr: ReadWrite<u32, GICH_HCR::Register>),
        (0x004 => pub vtr: ReadOnly<u32, VTR::Register>),
        (0x008 => pub vmcr: ReadWrite<u32>),
        (0x00c => _r0),
        (0x010 => pub misr: ReadOnly<u32>),
        (0x014 => _r1),
        (0x020 => pub eisr: [ReadOnly<u32>; 2]),
        (0x028 => _r2),
        (0x030 => pub elrsr: [ReadOnly<u32>; 2]),
        (0x038 => _r3),
        (0x0f0 => pub apr: ReadWrite<u32>),
        (0x0f4 => _r4),
        (0x100 => pub lr: [ReadWrite<u32, LR::Register>; 64]),
        (0x200 => @END),
    }
}

/// INTIDs at or above this are special (1020-1023; 1023: spurious).
pub const SPURIOUS: u32 = 1020;

/// Byte offsets of distributor registers in [`DistributorRegs`], for code
/// that decodes guest accesses (`vgic::dist`). For a register array `X`, `X`
/// is its first register and `X_LAST` its last one; `X_LAST_BYTE` for the
/// byte-accessible arrays.
pub mod gicd {
    use super::DistributorRegs;
    use core::mem::{offset_of, size_of};

    macro_rules! off {
        ($field:ident) => {
            offset_of!(DistributorRegs, $field) as u32
        };
    }

    pub const CTLR: u32 = off!(ctlr);
    pub const TYPER: u32 = off!(typer);
    pub const IIDR: u32 = off!(iidr);
    pub const IGROUPR: u32 = off!(igroupr);
    pub const IGROUPR_LAST: u32 = off!(isenabler) - 4;
    pub const ISENABLER: u32 = off!(isenabler);
    pub const ISENABLER_LAST: u32 = off!(icenabler) - 4;
    pub const ICENABLER: u32 = off!(icenabler);
    pub const ICENABLER_LAST: u32 = off!(ispendr) - 4;
    pub const ISPENDR: u32 = off!(ispendr);
    pub const ISPENDR_LAST: u32 = off!(icpendr) - 4;
    pub const ICPENDR: u32 = off!(icpendr);
    pub const ICPENDR_LAST: u32 = off!(isactiver) - 4;
    pub const ISACTIVER: u32 = off!(isactiver);
    pub const ISACTIVER_LAST: u32 = off!(icactiver) - 4;
    pub const ICACTIVER: u32 = off!(icactiver);
    pub const ICACTIVER_LAST: u32 = off!(ipriorityr) - 4;
    pub const IPRIORITYR: u32 = off!(ipriorityr);
    pub const IPRIORITYR_LAST_BYTE: u32 = off!(_r1) - 1;
    pub const ITARGETSR: u32 = off!(itargetsr);
    pub const ITARGETSR_LAST_BYTE: u32 = off!(_r2) - 1;
    pub const ICFGR: u32 = off!(icfgr);
    pub const ICFGR_LAST: u32 = off!(_r3) - 4;
    pub const SGIR: u32 = off!(sgir);
    /// GICD_CPENDSGIRn, then GICD_SPENDSGIRn.
    pub const PENDSGIR: u32 = off!(cpendsgir);
    pub const PENDSGIR_LAST: u32 = off!(_r5) - 4;
    /// Peripheral ID2 (ArchRev in bits 7:4).
    pub const PIDR2: u32 = off!(pidr0_3) + 8;
    /// From the end of ICFGR to the end of the 4 KiB frame: reserved,
    /// IMPLEMENTATION DEFINED and identification registers.
    pub const OTHER: u32 = off!(_r3);
    pub const OTHER_LAST: u32 = size_of::<DistributorRegs>() as u32 - 4;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_follow_the_specification() {
        use gicd::*;
        assert_eq!((IGROUPR, IGROUPR_LAST), (0x080, 0x0fc));
        assert_eq!((ISENABLER, ISENABLER_LAST), (0x100, 0x17c));
        assert_eq!((ICPENDR, ICPENDR_LAST), (0x280, 0x2fc));
        assert_eq!((ICACTIVER, ICACTIVER_LAST), (0x380, 0x3fc));
        assert_eq!((IPRIORITYR, IPRIORITYR_LAST_BYTE), (0x400, 0x7fb));
        assert_eq!((ITARGETSR, ITARGETSR_LAST_BYTE), (0x800, 0xbfb));
        assert_eq!((ICFGR, ICFGR_LAST), (0xc00, 0xcfc));
        assert_eq!(SGIR, 0xf00);
        assert_eq!((PENDSGIR, PENDSGIR_LAST), (0xf10, 0xf2c));
        assert_eq!(PIDR2, 0xfe8);
        assert_eq!((OTHER, OTHER_LAST), (0xd00, 0xffc));
    }
}
