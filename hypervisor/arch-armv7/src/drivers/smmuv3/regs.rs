//! SMMUv3 programming interface (ARM IHI 0070, chapter 6): register page 0 and
//! the event-queue indexes of page 1. 64-bit registers are declared as two
//! 32-bit halves (`_lo` at +0, `_hi` at +4): snowvisor runs on a 32-bit CPU,
//! and the architecture allows 32-bit accesses to them.

use tock_registers::interfaces::Writeable;
use tock_registers::registers::{ReadOnly, ReadWrite};
use tock_registers::{register_bitfields, register_structs};

register_bitfields![u32,
    pub IDR0 [
        S2P OFFSET(0) NUMBITS(1) [],
        S1P OFFSET(1) NUMBITS(1) [],
        /// Translation table formats: 1 AArch32 (LPAE), 2 AArch64, 3 both.
        TTF OFFSET(2) NUMBITS(2) [],
        COHACC OFFSET(4) NUMBITS(1) [],
        MSI OFFSET(13) NUMBITS(1) [],
        VMID16 OFFSET(18) NUMBITS(1) [],
        /// 0 mixed, 2 little-endian only, 3 big-endian only.
        TTENDIAN OFFSET(21) NUMBITS(2) [],
        STALL_MODEL OFFSET(24) NUMBITS(2) [],
        TERM_MODEL OFFSET(26) NUMBITS(1) [],
        /// 0 linear stream table only, 1 two-level supported.
        ST_LEVEL OFFSET(27) NUMBITS(2) [],
    ],
    pub IDR1 [
        SIDSIZE OFFSET(0) NUMBITS(6) [],
        SSIDSIZE OFFSET(6) NUMBITS(5) [],
        PRIQS OFFSET(11) NUMBITS(5) [],
        EVENTQS OFFSET(16) NUMBITS(5) [],
        CMDQS OFFSET(21) NUMBITS(5) [],
        QUEUES_PRESET OFFSET(29) NUMBITS(1) [],
        TABLES_PRESET OFFSET(30) NUMBITS(1) [],
    ],
    pub IDR5 [
        /// Output address size: 0 32, 1 36, 2 40, 3 42, 4 44, 5 48, 6 52 bits.
        OAS OFFSET(0) NUMBITS(3) [],
        GRAN4K OFFSET(4) NUMBITS(1) [],
        GRAN16K OFFSET(5) NUMBITS(1) [],
        GRAN64K OFFSET(6) NUMBITS(1) [],
    ],
    pub CR0 [
        SMMUEN OFFSET(0) NUMBITS(1) [],
        PRIQEN OFFSET(1) NUMBITS(1) [],
        EVENTQEN OFFSET(2) NUMBITS(1) [],
        CMDQEN OFFSET(3) NUMBITS(1) [],
    ],
    pub CR1 [
        QUEUE_IC OFFSET(0) NUMBITS(2) [],
        QUEUE_OC OFFSET(2) NUMBITS(2) [],
        QUEUE_SH OFFSET(4) NUMBITS(2) [],
        TABLE_IC OFFSET(6) NUMBITS(2) [],
        TABLE_OC OFFSET(8) NUMBITS(2) [],
        TABLE_SH OFFSET(10) NUMBITS(2) [],
    ],
    pub CR2 [
        E2H OFFSET(0) NUMBITS(1) [],
        /// Record C_BAD_STREAMID events for stream IDs beyond the table.
        RECINVSID OFFSET(1) NUMBITS(1) [],
        /// Private TLB maintenance: ignore broadcast TLBIs (snowvisor issues
        /// CMD_TLBI_S12_VMALL itself after changing a stage-2 table).
        PTM OFFSET(2) NUMBITS(1) [],
    ],
    pub GBPA [
        SHCFG OFFSET(12) NUMBITS(2) [],
        /// With SMMUEN=0: abort every transaction instead of bypassing.
        ABORT OFFSET(20) NUMBITS(1) [],
        UPDATE OFFSET(31) NUMBITS(1) [],
    ],
    pub IRQ_CTRL [
        GERROR_IRQEN OFFSET(0) NUMBITS(1) [],
        PRIQ_IRQEN OFFSET(1) NUMBITS(1) [],
        EVENTQ_IRQEN OFFSET(2) NUMBITS(1) [],
    ],
    pub STRTAB_BASE_CFG [
        LOG2SIZE OFFSET(0) NUMBITS(6) [],
        SPLIT OFFSET(6) NUMBITS(5) [],
        /// 0 linear, 1 two-level.
        FMT OFFSET(16) NUMBITS(2) [],
    ],
    pub CMDQ_CONS [
        RD OFFSET(0) NUMBITS(20) [],
        /// CERROR_NONE 0, ILL 1, ABT 2, ATC_INV_SYNC 3.
        ERR OFFSET(24) NUMBITS(7) [],
    ],
];

register_structs! {
    pub SmmuRegs {
        (0x0000 => pub idr0: ReadOnly<u32, IDR0::Register>),
        (0x0004 => pub idr1: ReadOnly<u32, IDR1::Register>),
        (0x0008 => pub idr2: ReadOnly<u32>),
        (0x000c => pub idr3: ReadOnly<u32>),
        (0x0010 => pub idr4: ReadOnly<u32>),
        (0x0014 => pub idr5: ReadOnly<u32, IDR5::Register>),
        (0x0018 => pub iidr: ReadOnly<u32>),
        (0x001c => pub aidr: ReadOnly<u32>),
        (0x0020 => pub cr0: ReadWrite<u32, CR0::Register>),
        (0x0024 => pub cr0ack: ReadOnly<u32, CR0::Register>),
        (0x0028 => pub cr1: ReadWrite<u32, CR1::Register>),
        (0x002c => pub cr2: ReadWrite<u32, CR2::Register>),
        (0x0030 => _r0),
        (0x0040 => pub statusr: ReadOnly<u32>),
        (0x0044 => pub gbpa: ReadWrite<u32, GBPA::Register>),
        (0x0048 => pub agbpa: ReadWrite<u32>),
        (0x004c => _r1),
        (0x0050 => pub irq_ctrl: ReadWrite<u32, IRQ_CTRL::Register>),
        (0x0054 => pub irq_ctrl_ack: ReadOnly<u32, IRQ_CTRL::Register>),
        (0x0058 => _r2),
        (0x0060 => pub gerror: ReadOnly<u32>),
        (0x0064 => pub gerrorn: ReadWrite<u32>),
        (0x0068 => pub gerror_irq_cfg0_lo: ReadWrite<u32>),
        (0x006c => pub gerror_irq_cfg0_hi: ReadWrite<u32>),
        (0x0070 => pub gerror_irq_cfg1: ReadWrite<u32>),
        (0x0074 => pub gerror_irq_cfg2: ReadWrite<u32>),
        (0x0078 => _r3),
        (0x0080 => pub strtab_base_lo: ReadWrite<u32>),
        (0x0084 => pub strtab_base_hi: ReadWrite<u32>),
        (0x0088 => pub strtab_base_cfg: ReadWrite<u32, STRTAB_BASE_CFG::Register>),
        (0x008c => _r4),
        (0x0090 => pub cmdq_base_lo: ReadWrite<u32>),
        (0x0094 => pub cmdq_base_hi: ReadWrite<u32>),
        (0x0098 => pub cmdq_prod: ReadWrite<u32>),
        (0x009c => pub cmdq_cons: ReadWrite<u32, CMDQ_CONS::Register>),
        (0x00a0 => pub eventq_base_lo: ReadWrite<u32>),
        (0x00a4 => pub eventq_base_hi: ReadWrite<u32>),
        (0x00a8 => _r5),
        (0x00b0 => pub eventq_irq_cfg0_lo: ReadWrite<u32>),
        (0x00b4 => pub eventq_irq_cfg0_hi: ReadWrite<u32>),
        (0x00b8 => pub eventq_irq_cfg1: ReadWrite<u32>),
        (0x00bc => pub eventq_irq_cfg2: ReadWrite<u32>),
        (0x00c0 => _r6),
        // Page 1: the event queue's indexes (bit 31 of each is the overflow flag).
        (0x100a8 => pub eventq_prod: ReadWrite<u32>),
        (0x100ac => pub eventq_cons: ReadWrite<u32>),
        (0x100b0 => @END),
    }
}

/// Writes a 64-bit register as its two 32-bit halves, low first.
pub fn write64(lo: &ReadWrite<u32>, hi: &ReadWrite<u32>, v: u64) {
    lo.set(v as u32);
    hi.set((v >> 32) as u32);
}

/// The register block's size: page 0 and page 1.
pub const MMIO_SIZE: u64 = 0x2_0000;
