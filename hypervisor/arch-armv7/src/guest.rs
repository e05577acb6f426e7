//! Running a guest at PL1: HYP configuration, entry, its virtual timer and
//! SCTLR. (Its banked registers and injected exceptions: `banked`.)

use aarch32_cpu::register::{
    hcr::Bsu, CntVoff, Cnthctl, CntvCtl, Hcptr, Hcr, Hdcr, Hstr, Midr, Mpidr, Sctlr, Vmpidr, Vpidr,
};
use arbitrary_int::u40;
use core::sync::atomic::{AtomicBool, Ordering};

use snowvisor_arm::frame::TrapFrame;

use crate::sysreg::{self, Vtcr, Vttbr};

/// HCR.TSC (bit 19), trap SMC: a field aarch32-cpu's `Hcr` lacks (B4.1.65).
const HCR_TSC: u32 = 1 << 19;

/// HCR for a guest: stage 2 on (VM), set/way invalidation as clean+invalidate
/// (SWIO), physical IRQ/FIQ/async aborts to HYP (IMO/FMO/AMO), broadcast TLB
/// and cache maintenance (FB), barriers inner shareable (BSU), trap WFI
/// (TWI: the vCPU blocks) and WFE (TWE: a spinning vCPU yields its CPU),
/// SMC (TSC, PSCI is emulated), auxiliary control registers (TAC) and the
/// IMPLEMENTATION DEFINED c9-c11 registers (TIDCP). What the guest then sees
/// of each trapped register class: `coproc`.
pub const HCR_GUEST: Hcr = Hcr::new_with_raw_value(HCR_TSC)
    .with_vm(true)
    .with_swio(true)
    .with_fmo(true)
    .with_imo(true)
    .with_amo(true)
    .with_fb(true)
    .with_bsu(Bsu::InnerShareable)
    .with_twi(true)
    .with_twe(true)
    .with_tidcp(true)
    .with_tac(true);
/// Whether [`configure`] sets HCR.TWI and HCR.TWE (see [`set_wfx_trapped`]).
static TRAP_WFX: AtomicBool = AtomicBool::new(true);

/// Whether guests' WFI and WFE trap to HYP from the next [`configure`] on
/// each CPU (true by default; false runs them in the guest, Xen's
/// `vwfi=native`). Called once at boot, before any CPU configures HYP.
pub fn set_wfx_trapped(trapped: bool) {
    TRAP_WFX.store(trapped, Ordering::Relaxed);
}

/// HSTR.T15: trap CP15 c15 (IMPLEMENTATION DEFINED on every ARMv7 core), as Xen.
const HSTR_GUEST: Hstr = Hstr(1 << 15);
/// HDCR trap bits (B4.1.66): debug ROM address registers (TDRA, 11), OS lock
/// and power-down (TDOSA, 10), every other debug register (TDA, 9),
/// Performance Monitors (TPM, 6; TPMCR, 5). Xen sets the same five.
const HDCR_TRAPS: u32 = (1 << 11) | (1 << 10) | (1 << 9) | (1 << 6) | (1 << 5);
/// HDCR.HPMN (bits 4:0) keeps its reset value.
const HDCR_HPMN: u32 = 0x1f;
/// HCPTR: no coprocessor, Advanced SIMD or trace traps; the bits of the
/// coprocessors a Cortex-A15 does not implement (0-9, 12, 13) are RES1.
const HCPTR_GUEST: Hcptr = Hcptr::new_with_raw_value(0x33ff)
    .with_tcp(false)
    .with_tase(false)
    .with_tta(false)
    .with_tcpac(false);
/// CNTHCTL: PL1 may read the physical counter (PL1PCTEN) but not use the
/// physical timer (PL1PCEN = 0): that one is snowvisor's.
const CNTHCTL_GUEST: Cnthctl = Cnthctl::new_with_raw_value(0)
    .with_pl1pcten(true)
    .with_pl1pcen(false);

/// Sets up HYP to run a guest with stage-2 tables at `vttbr_root` and `vmid`.
pub fn configure(vttbr_root: u64, vmid: u8, vtcr: Vtcr) {
    // SAFETY (all writes below): HYP configuration for the guest, written
    // while no guest runs on this CPU; VTTBR points at stage-2 tables that
    // live as long as the guest.
    unsafe {
        sysreg::write_vtcr(vtcr);
        sysreg::write_vttbr(
            Vttbr::DEFAULT
                .with_baddr(u40::new(vttbr_root))
                .with_vmid(vmid),
        );
        Hstr::write(HSTR_GUEST);
        let hdcr = Hdcr::read().0;
        Hdcr::write(Hdcr((hdcr & HDCR_HPMN) | HDCR_TRAPS));
        // The guest sees the real MIDR and MPIDR.
        Vpidr::write(Vpidr(Midr::read().raw_value()));
        Vmpidr::write(Vmpidr(Mpidr::read().0));
    }
    Hcptr::write(HCPTR_GUEST);
    Cnthctl::write(CNTHCTL_GUEST);
    // The guest's virtual counter is the physical one.
    CntVoff::write(CntVoff(0));
    // No stale stage-1 or stage-2 entry before the first guest entry.
    sysreg::tlbi_all_nsnh();
    let trap = TRAP_WFX.load(Ordering::Relaxed);
    Hcr::write(HCR_GUEST.with_twi(trap).with_twe(trap));
    aarch32_cpu::asm::isb();
}

/// The MPIDR the guest sees.
pub fn vmpidr() -> u32 {
    Vmpidr::read().0
}

extern "C" {
    fn snowvisor_enter_guest(frame: *const TrapFrame, stack_top: usize) -> !;
    static __stack_top: u8;
}

core::arch::global_asm!(
    r#"
    .arch_extension virt
    .section .text.snowvisor_enter_guest, "ax"
    .arm
    .global snowvisor_enter_guest
    .type   snowvisor_enter_guest, %function
snowvisor_enter_guest:
    mov     sp, r1
    sub     sp, sp, #64
    mov     r1, sp
    mov     r2, #16
1:  ldr     r3, [r0], #4
    str     r3, [r1], #4
    subs    r2, r2, #1
    bne     1b
    b       exception_return
"#
);

/// Enters the guest with these registers on a fresh HYP stack (this CPU's:
/// the boot CPU's from the linker script, a secondary's from
/// [`crate::smp::set_stack`]). Traps come back through the vector table.
pub fn enter(frame: &TrapFrame) -> ! {
    let top = match crate::smp::this_stack_top() {
        // A linker symbol: only its address is taken.
        0 => (&raw const __stack_top) as usize,
        top => top,
    };
    // SAFETY: the frame is copied onto the top of this CPU's HYP stack
    // before `eret`; HYP has been configured for the guest by `configure`.
    unsafe { snowvisor_enter_guest(frame, top) }
}

/// Sets CNTV_CTL.IMASK: the guest's virtual timer stops asserting its
/// interrupt until the guest writes CNTV_CTL again.
pub fn mask_vtimer() {
    CntvCtl::modify(|c| c.set_imask(true));
}

/// The guest's PL1 system control register (for its vector base and endianness).
pub fn guest_sctlr() -> u32 {
    Sctlr::read().raw_value()
}
