//! A vCPU's register state in and out of the CPU (the context switch's
//! CPU half; the layout is `snowvisor_arm::context`): the guest's banked
//! registers and SPSRs, its PL1 CP15 registers, VFP/Advanced SIMD
//! (eagerly: see below), its virtual timer with CNTVOFF, stage 2 (VTTBR)
//! and VMPIDR. The GIC's hypervisor interface is a device: the kernel's
//! `cpu::Armv7` saves it through the GIC driver.
//!
//! VFP is switched eagerly, with the rest: 32 D registers are 4 `vstmia`/
//! `vldmia` instructions and two status registers, against a trap (HCPTR)
//! of several hundred instructions the first time the incoming vCPU
//! touches VFP, which Linux does in every process switch to a task that
//! used it. snowvisor itself never uses VFP (soft-float target), so the
//! guest's registers stay in the CPU while snowvisor runs.

use core::arch::asm;

use aarch32_cpu::register::{
    Adfsr, Aifsr, Amair0, Amair1, CntVoff, Cntkctl, CntvCtl, CntvCval, Contextidr, Cpacr, Csselr,
    Dacr, Dfar, Dfsr, Ifar, Ifsr, Mair0, Mair1, Sctlr, SysReg, SysReg64, SysRegRead, SysRegRead64,
    SysRegWrite, SysRegWrite64, Tpidrprw, Tpidruro, Tpidrurw, Vbar, Vmpidr,
};

use snowvisor_arm::context::{Cp15, Timer, VcpuContext, Vfp};
use snowvisor_arm::regs::Banked;

use crate::{banked, sysreg};

/// TTBR0 as a 64-bit register (MRRC/MCRR p15, 0, c2; B4.1.154): the
/// long-descriptor format's view, which also holds the short one's.
struct Ttbr0;
impl SysReg64 for Ttbr0 {
    const CP: u32 = 15;
    const OP1: u32 = 0;
    const CRM: u32 = 2;
}
impl SysRegRead64 for Ttbr0 {}
impl SysRegWrite64 for Ttbr0 {}

/// TTBR1, 64-bit (MRRC/MCRR p15, 1, c2; B4.1.155).
struct Ttbr1;
impl SysReg64 for Ttbr1 {
    const CP: u32 = 15;
    const OP1: u32 = 1;
    const CRM: u32 = 2;
}
impl SysRegRead64 for Ttbr1 {}
impl SysRegWrite64 for Ttbr1 {}

/// TEECR, ThumbEE Configuration (p14, 6, c0, c0, 0; A2.10.1).
struct Teecr;
impl SysReg for Teecr {
    const CP: u32 = 14;
    const CRN: u32 = 0;
    const OP1: u32 = 6;
    const CRM: u32 = 0;
    const OP2: u32 = 0;
}
impl SysRegRead for Teecr {}
impl SysRegWrite for Teecr {}

/// TEEHBR, ThumbEE Handler Base (p14, 6, c1, c0, 0; A2.10.2).
struct Teehbr;
impl SysReg for Teehbr {
    const CP: u32 = 14;
    const CRN: u32 = 1;
    const OP1: u32 = 6;
    const CRM: u32 = 0;
    const OP2: u32 = 0;
}
impl SysRegRead for Teehbr {}
impl SysRegWrite for Teehbr {}

/// Whether the CPU implements ThumbEE (ID_PFR0.State3, bits 15:12, B4.1.93).
fn has_thumbee() -> bool {
    aarch32_cpu::register::IdPfr0::read().0 & 0xf000 != 0
}

/// Every banked register of the guest's modes, in `Banked` order.
const BANKED: [Banked; Banked::COUNT] = [
    Banked::SpUsr,
    Banked::R8Fiq,
    Banked::R9Fiq,
    Banked::R10Fiq,
    Banked::R11Fiq,
    Banked::R12Fiq,
    Banked::SpFiq,
    Banked::LrFiq,
    Banked::SpIrq,
    Banked::LrIrq,
    Banked::SpSvc,
    Banked::LrSvc,
    Banked::SpAbt,
    Banked::LrAbt,
    Banked::SpUnd,
    Banked::LrUnd,
];

/// Saves the loaded vCPU's registers but the trap frame and the GIC's
/// into `c`, then disables its virtual timer (CNTV_CTL = 0) so that it
/// cannot assert for the next vCPU.
pub fn save(c: &mut VcpuContext) {
    for (slot, &r) in c.banked.iter_mut().zip(BANKED.iter()) {
        *slot = banked::read(r);
    }
    c.spsr = read_spsrs();
    c.cp15 = save_cp15();
    c.timer = Timer {
        cntv_ctl: CntvCtl::read_raw(),
        cntv_cval: CntvCval::read_raw(),
        cntkctl: Cntkctl::read_raw(),
        cntvoff: CntVoff::read_raw(),
    };
    // SAFETY: the guest's virtual timer, which no longer runs here.
    unsafe { CntvCtl::write_raw(0) };
    save_vfp(&mut c.vfp);
    c.hyp.vttbr = sysreg::Vttbr::read_raw();
    c.hyp.vmpidr = Vmpidr::read_raw();
}

/// Loads `c` (but the trap frame and the GIC's registers) into the CPU,
/// clears the local exclusive monitor and invalidates the guest
/// translations cached for the previous vCPU.
pub fn load(c: &VcpuContext) {
    for (&v, &r) in c.banked.iter().zip(BANKED.iter()) {
        banked::write(r, v);
    }
    write_spsrs(&c.spsr);
    load_cp15(&c.cp15);
    let t = &c.timer;
    // SAFETY (this block): the incoming guest's own registers, written
    // while it does not run; VTTBR names its stage-2 tables, which live as
    // long as its domain.
    unsafe {
        CntVoff::write_raw(t.cntvoff);
        Cntkctl::write_raw(t.cntkctl);
        CntvCval::write_raw(t.cntv_cval);
        CntvCtl::write_raw(t.cntv_ctl);
        sysreg::Vttbr::write_raw(c.hyp.vttbr);
        Vmpidr::write_raw(c.hyp.vmpidr);
    }
    load_vfp(&c.vfp);
    // The previous vCPU may have left an LDREX open (A3.4.5).
    crate::cpu::clear_exclusive();
    // Two vCPUs of a domain share a VMID: the previous one's stage-1
    // entries must not serve the next (a guest may flush one CPU's TLB
    // only).
    sysreg::tlbi_all_nsnh();
}

fn save_cp15() -> Cp15 {
    let thumbee = has_thumbee();
    Cp15 {
        sctlr: Sctlr::read_raw(),
        cpacr: Cpacr::read_raw(),
        ttbr0: Ttbr0::read_raw(),
        ttbr1: Ttbr1::read_raw(),
        ttbcr: sysreg::read_ttbcr().raw_value(),
        dacr: Dacr::read_raw(),
        dfsr: Dfsr::read_raw(),
        ifsr: Ifsr::read_raw(),
        adfsr: Adfsr::read_raw(),
        aifsr: Aifsr::read_raw(),
        dfar: Dfar::read_raw(),
        ifar: Ifar::read_raw(),
        par: sysreg::read_par().raw_value(),
        prrr: Mair0::read_raw(),
        nmrr: Mair1::read_raw(),
        amair0: Amair0::read_raw(),
        amair1: Amair1::read_raw(),
        vbar: Vbar::read_raw(),
        contextidr: Contextidr::read_raw(),
        tpidrurw: Tpidrurw::read_raw(),
        tpidruro: Tpidruro::read_raw(),
        tpidrprw: Tpidrprw::read_raw(),
        csselr: Csselr::read_raw(),
        teecr: if thumbee { Teecr::read_raw() } else { 0 },
        teehbr: if thumbee { Teehbr::read_raw() } else { 0 },
    }
}

fn load_cp15(c: &Cp15) {
    // SAFETY: the Non-secure PL1 registers of the incoming guest, written
    // at HYP while it does not run; HYP translates through its own HTTBR
    // and HSCTLR, which none of these affect.
    unsafe {
        Sctlr::write_raw(c.sctlr);
        Cpacr::write_raw(c.cpacr);
        Ttbr0::write_raw(c.ttbr0);
        Ttbr1::write_raw(c.ttbr1);
        <sysreg::Ttbcr as SysRegWrite>::write_raw(c.ttbcr);
        Dacr::write_raw(c.dacr);
        Dfsr::write_raw(c.dfsr);
        Ifsr::write_raw(c.ifsr);
        Adfsr::write_raw(c.adfsr);
        Aifsr::write_raw(c.aifsr);
        Dfar::write_raw(c.dfar);
        Ifar::write_raw(c.ifar);
        Mair0::write_raw(c.prrr);
        Mair1::write_raw(c.nmrr);
        Amair0::write_raw(c.amair0);
        Amair1::write_raw(c.amair1);
        Vbar::write_raw(c.vbar);
        Contextidr::write_raw(c.contextidr);
        Tpidrurw::write_raw(c.tpidrurw);
        Tpidruro::write_raw(c.tpidruro);
        Tpidrprw::write_raw(c.tpidrprw);
        Csselr::write_raw(c.csselr);
        if has_thumbee() {
            Teecr::write_raw(c.teecr);
            Teehbr::write_raw(c.teehbr);
        }
    }
    sysreg::write_par(sysreg::Par64::new_with_raw_value(c.par));
    aarch32_cpu::asm::isb();
}

/// SPSR of FIQ, IRQ, SVC, Abort and Undefined modes (MRS banked, B9.3.9).
fn read_spsrs() -> [u32; 5] {
    let (a, b, c, d, e): (u32, u32, u32, u32, u32);
    // SAFETY: reads the guest's banked SPSRs, which HYP may access.
    unsafe {
        asm!(
            ".arch_extension virt",
            "mrs {a}, spsr_fiq",
            "mrs {b}, spsr_irq",
            "mrs {c}, spsr_svc",
            "mrs {d}, spsr_abt",
            "mrs {e}, spsr_und",
            a = out(reg) a, b = out(reg) b, c = out(reg) c, d = out(reg) d, e = out(reg) e,
            options(nomem, nostack, preserves_flags)
        );
    }
    [a, b, c, d, e]
}

fn write_spsrs(s: &[u32; 5]) {
    // SAFETY: writes the guest's banked SPSRs while it does not run;
    // HYP's own SPSR_hyp is not among them.
    unsafe {
        asm!(
            ".arch_extension virt",
            "msr spsr_fiq, {a}",
            "msr spsr_irq, {b}",
            "msr spsr_svc, {c}",
            "msr spsr_abt, {d}",
            "msr spsr_und, {e}",
            a = in(reg) s[0], b = in(reg) s[1], c = in(reg) s[2], d = in(reg) s[3], e = in(reg) s[4],
            options(nomem, nostack, preserves_flags)
        );
    }
}

/// FPEXC.EN: VFP and Advanced SIMD enabled (B6.1.40); without it even HYP
/// cannot read D0-D31.
const FPEXC_EN: u32 = 1 << 30;

fn save_vfp(v: &mut Vfp) {
    let (fpexc, fpscr): (u32, u32);
    // SAFETY: enables VFP for the copy (FPEXC is put back at load time,
    // before the guest runs), stores the 32 D registers into `v.d`
    // (256 bytes), and touches nothing else.
    unsafe {
        asm!(
            ".fpu neon-vfpv4",
            "vmrs {x}, fpexc",
            "orr {t}, {x}, #0x40000000",
            "vmsr fpexc, {t}",
            "vmrs {s}, fpscr",
            "vstmia {p}!, {{d0-d15}}",
            "vstmia {p}!, {{d16-d31}}",
            x = out(reg) fpexc,
            t = out(reg) _,
            s = out(reg) fpscr,
            p = inout(reg) v.d.as_mut_ptr() => _,
            options(nostack, preserves_flags)
        );
    }
    v.fpexc = fpexc;
    v.fpscr = fpscr;
}

fn load_vfp(v: &Vfp) {
    // SAFETY: enables VFP, loads the 32 D registers from `v.d` (256 bytes)
    // and FPSCR, then puts the guest's FPEXC back.
    unsafe {
        asm!(
            ".fpu neon-vfpv4",
            "vmsr fpexc, {en}",
            "vldmia {p}!, {{d0-d15}}",
            "vldmia {p}!, {{d16-d31}}",
            "vmsr fpscr, {s}",
            "vmsr fpexc, {x}",
            en = in(reg) v.fpexc | FPEXC_EN,
            p = inout(reg) v.d.as_ptr() => _,
            s = in(reg) v.fpscr,
            x = in(reg) v.fpexc,
            options(nostack, preserves_flags, readonly)
        );
    }
}
