//! The layouts and encodings of the HYP system registers and maintenance
//! operations that `aarch32-cpu` 0.4 does not provide, in its style: one type
//! per register with named fields (`bitbybit`) and its coprocessor encoding
//! through aarch32-cpu's `SysReg` / `SysReg64` traits. Nothing here reads or
//! writes a register: the accesses (`read_ttbcr`, `read_par`, the writes)
//! are `snowvisor_arch_armv7::sysreg`'s. Everything aarch32-cpu has (HCR, HSR,
//! HSCTLR, HCPTR, HSTR, HDCR, CNTHCTL, CNTVOFF, VPIDR, VMPIDR, SCTLR, VBAR,
//! DFAR/DFSR, IFAR/IFSR, CCSIDR/CSSELR, cache maintenance...) is used from
//! there.
//!
//! Encodings: ARMv7-A ARM (DDI 0406C.d) B4.1 (register descriptions) and
//! B4.2 (TLB maintenance and address translation operations).

use aarch32_cpu::register::{
    SysReg, SysReg64, SysRegRead, SysRegRead64, SysRegWrite, SysRegWrite64,
};
use arbitrary_int::{u2, u20, u28, u3, u4, u40};

/// Cacheability of translation-table walks (IRGN/ORGN fields).
#[bitbybit::bitenum(u2, exhaustive = true)]
#[derive(Debug, PartialEq, Eq)]
pub enum WalkCache {
    NonCacheable = 0b00,
    /// Write-back, write-allocate.
    WriteBackAllocate = 0b01,
    WriteThrough = 0b10,
    /// Write-back, no write-allocate.
    WriteBackNoAllocate = 0b11,
}

/// Shareability of translation-table walks (SH fields).
#[bitbybit::bitenum(u2, exhaustive = true)]
#[derive(Debug, PartialEq, Eq)]
pub enum WalkShare {
    NonShareable = 0b00,
    Reserved = 0b01,
    OuterShareable = 0b10,
    InnerShareable = 0b11,
}

/// HTCR, Hyp Translation Control Register (p15, 4, c2, c0, 2; B4.1.76):
/// HYP's stage-1 walks, always long-descriptor.
#[bitbybit::bitfield(u32, default = 0x8080_0000, debug)]
#[derive(PartialEq, Eq)]
pub struct Htcr {
    /// SH0: shareability of the walks.
    #[bits(12..=13, rw)]
    sh0: WalkShare,
    /// ORGN0: outer cacheability of the walks.
    #[bits(10..=11, rw)]
    orgn0: WalkCache,
    /// IRGN0: inner cacheability of the walks.
    #[bits(8..=9, rw)]
    irgn0: WalkCache,
    /// T0SZ: the input range is 2^(32 - T0SZ) bytes.
    #[bits(0..=2, rw)]
    t0sz: u3,
}

impl SysReg for Htcr {
    const CP: u32 = 15;
    const CRN: u32 = 2;
    const OP1: u32 = 4;
    const CRM: u32 = 0;
    const OP2: u32 = 2;
}
impl SysRegRead for Htcr {}
impl SysRegWrite for Htcr {}

/// VTCR, Virtualization Translation Control Register (p15, 4, c2, c1, 2;
/// B4.1.159): the guests' stage-2 walks.
#[bitbybit::bitfield(u32, default = 0x8000_0000, debug)]
#[derive(PartialEq, Eq)]
pub struct Vtcr {
    /// SH0: shareability of the walks.
    #[bits(12..=13, rw)]
    sh0: WalkShare,
    /// ORGN0: outer cacheability of the walks.
    #[bits(10..=11, rw)]
    orgn0: WalkCache,
    /// IRGN0: inner cacheability of the walks.
    #[bits(8..=9, rw)]
    irgn0: WalkCache,
    /// SL0: starting level of the walk (0: level 2, 1: level 1).
    #[bits(6..=7, rw)]
    sl0: u2,
    /// S: the sign of T0SZ, which must equal T0SZ[3].
    #[bit(4, rw)]
    s: bool,
    /// T0SZ: a signed 4-bit value; the IPA range is 2^(32 - T0SZ) bytes.
    #[bits(0..=3, rw)]
    t0sz: u4,
}

impl SysReg for Vtcr {
    const CP: u32 = 15;
    const CRN: u32 = 2;
    const OP1: u32 = 4;
    const CRM: u32 = 1;
    const OP2: u32 = 2;
}
impl SysRegRead for Vtcr {}
impl SysRegWrite for Vtcr {}

/// TTBCR, the guest's PL1 Translation Table Base Control Register
/// (p15, 0, c2, c0, 2; B4.1.153). Only EAE has one meaning in both formats.
#[bitbybit::bitfield(u32, debug)]
#[derive(PartialEq, Eq)]
pub struct Ttbcr {
    /// EAE: the long-descriptor (LPAE) translation table format.
    #[bit(31, r)]
    eae: bool,
}

impl SysReg for Ttbcr {
    const CP: u32 = 15;
    const CRN: u32 = 2;
    const OP1: u32 = 0;
    const CRM: u32 = 0;
    const OP2: u32 = 2;
}
impl SysRegRead for Ttbcr {}
impl SysRegWrite for Ttbcr {}

/// HTTBR, Hyp Translation Table Base Register (64-bit, p15, 4, c2; B4.1.77).
#[bitbybit::bitfield(u64, default = 0, debug)]
#[derive(PartialEq, Eq)]
pub struct Httbr {
    /// BADDR: physical address of the first-level table (bits 39:0; the low
    /// bits below the table's alignment are zero).
    #[bits(0..=39, rw)]
    baddr: u40,
}

impl SysReg64 for Httbr {
    const CP: u32 = 15;
    const OP1: u32 = 4;
    const CRM: u32 = 2;
}
impl SysRegRead64 for Httbr {}
impl SysRegWrite64 for Httbr {}

/// VTTBR, Virtualization Translation Table Base Register (64-bit,
/// p15, 6, c2; B4.1.160).
#[bitbybit::bitfield(u64, default = 0, debug)]
#[derive(PartialEq, Eq)]
pub struct Vttbr {
    /// VMID: tags the guest's TLB entries.
    #[bits(48..=55, rw)]
    vmid: u8,
    /// BADDR: physical address of the first-level stage-2 table.
    #[bits(0..=39, rw)]
    baddr: u40,
}

impl SysReg64 for Vttbr {
    const CP: u32 = 15;
    const OP1: u32 = 6;
    const CRM: u32 = 2;
}
impl SysRegRead64 for Vttbr {}
impl SysRegWrite64 for Vttbr {}

/// PAR, Physical Address Register, 64-bit view (p15, 0, c7; B4.1.113): the
/// result of an address-translation operation. The 32-bit view is
/// aarch32-cpu's `Par`; after `ATS12NSO*` with stage 2 on, the result is in
/// the long-descriptor format, which needs all 64 bits. Fields of both
/// formats overlap; `lpae` tells which applies. Decoded by `at::decode_par`.
#[bitbybit::bitfield(u64, default = 0, debug)]
#[derive(PartialEq, Eq)]
pub struct Par64 {
    /// Long-descriptor format: PA bits 39:12 of a successful translation.
    #[bits(12..=39, r)]
    pa_long: u28,
    /// Short-descriptor format: PA bits 31:12.
    #[bits(12..=31, r)]
    pa_short: u20,
    /// LPAE: the result is in the long-descriptor format.
    #[bit(11, r)]
    lpae: bool,
    /// Long-descriptor format, F = 1: FSTAGE, the fault was at stage 2.
    #[bit(8, r)]
    fstage: bool,
    /// Short-descriptor format, F = 0: SS, a supersection (PA[39:32] not held).
    #[bit(1, r)]
    ss: bool,
    /// F: the translation faulted.
    #[bit(0, r)]
    f: bool,
}

impl SysReg64 for Par64 {
    const CP: u32 = 15;
    const OP1: u32 = 0;
    const CRM: u32 = 7;
}
impl SysRegRead64 for Par64 {}
impl SysRegWrite64 for Par64 {}

/// Declares a write-only maintenance operation (its written value is an
/// argument, not state).
macro_rules! operation {
    ($(#[$doc:meta])* $name:ident, $op1:literal, $crn:literal, $crm:literal, $op2:literal) => {
        $(#[$doc])*
        pub struct $name;

        impl SysReg for $name {
            const CP: u32 = 15;
            const CRN: u32 = $crn;
            const OP1: u32 = $op1;
            const CRM: u32 = $crm;
            const OP2: u32 = $op2;
        }
        impl SysRegWrite for $name {}
    };
}

operation!(
    /// TLBIALLH: invalidate all HYP TLB entries (B4.2.3).
    TlbiAllH, 4, 8, 7, 0
);
operation!(
    /// TLBIMVAH: invalidate HYP TLB entries for one VA (B4.2.3).
    TlbiMvaH, 4, 8, 7, 1
);
operation!(
    /// TLBIALLNSNH: invalidate all Non-secure non-HYP TLB entries, stage 1
    /// and stage 2, every VMID (B4.2.3).
    TlbiAllNsNh, 4, 8, 7, 4
);
operation!(
    /// TLBIMVAHIS: [`TlbiMvaH`] on every CPU of the Inner Shareable domain
    /// (B4.2.3).
    TlbiMvaHIs, 4, 8, 3, 1
);
operation!(
    /// TLBIALLNSNHIS: [`TlbiAllNsNh`] on every CPU of the Inner Shareable
    /// domain (B4.2.3).
    TlbiAllNsNhIs, 4, 8, 3, 4
);
operation!(
    /// ATS12NSOPR: stage 1 and 2 translation as a Non-secure PL1 read
    /// (HYP only, B4.2.4).
    Ats12NsoPr, 0, 7, 8, 4
);
operation!(
    /// ATS12NSOPW: as [`Ats12NsoPr`] for a PL1 write.
    Ats12NsoPw, 0, 7, 8, 5
);

/// CNTHP_CVAL, the HYP timer's compare value (64-bit, `MCRR p15, 6, <Rt>,
/// <Rt2>, c14`; B4.1.27). aarch32-cpu 0.4's `CnthpCval` encodes opc1 2,
/// which is CNTP_CVAL's (the PL1 physical timer), hence this one.
pub struct CnthpCval;

impl SysReg64 for CnthpCval {
    const CP: u32 = 15;
    const OP1: u32 = 6;
    const CRM: u32 = 14;
}
impl SysRegRead64 for CnthpCval {}
impl SysRegWrite64 for CnthpCval {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_layouts() {
        let v = Vtcr::DEFAULT
            .with_t0sz(u4::new(0b1000))
            .with_s(true)
            .with_sl0(u2::new(1));
        assert_eq!(v.raw_value(), 0x8000_0000 | 0b1_1000 | (1 << 6));
        let t = Vttbr::DEFAULT
            .with_baddr(u40::new(0x12_3456_7000))
            .with_vmid(1);
        assert_eq!(t.raw_value(), (1 << 48) | 0x12_3456_7000);
        assert!(Ttbcr::new_with_raw_value(1 << 31).eae());
        let h = Htcr::DEFAULT.with_sh0(WalkShare::InnerShareable);
        assert_eq!(h.raw_value(), 0x8080_0000 | (3 << 12));
    }
}
