//! Running a guest at PL1: HYP configuration, entry, the guest's banked
//! registers, and exceptions injected into it.

use core::arch::asm;

use super::exception::{self, FaultRegs, Kind};
use super::frame::TrapFrame;

/// HCR for a guest: stage 2 on (VM), set/way invalidation as clean+invalidate
/// (SWIO), physical IRQ/FIQ/async aborts to HYP (IMO/FMO/AMO), broadcast TLB
/// and cache maintenance (FB), barriers inner shareable (BSU), trap WFI (TWI),
/// SMC (TSC, PSCI is emulated), auxiliary control registers (TAC) and the
/// IMPLEMENTATION DEFINED c9-c11 registers (TIDCP). What the guest then sees
/// of each trapped register class: `coproc`.
pub const HCR_GUEST: u32 = 1
    | (1 << 1)
    | (1 << 3)
    | (1 << 4)
    | (1 << 5)
    | (1 << 9)
    | (1 << 10)
    | (1 << 13)
    | (1 << 19)
    | (1 << 20)
    | (1 << 21);
/// HSTR: trap CP15 c15 (IMPLEMENTATION DEFINED on every ARMv7 core), as Xen.
const HSTR_GUEST: u32 = 1 << 15;
/// HDCR trap bits: debug ROM address registers (TDRA), OS lock and power-down
/// (TDOSA), every other debug register (TDA), Performance Monitors (TPM,
/// TPMCR). HPMN (bits 4:0) keeps its reset value. Xen sets the same five.
const HDCR_TRAPS: u32 = (1 << 11) | (1 << 10) | (1 << 9) | (1 << 6) | (1 << 5);
/// HCPTR: no coprocessor traps (bits of unimplemented coprocessors RES1).
const HCPTR_GUEST: u32 = 0x33ff;
/// CNTHCTL: PL1 may read the physical counter (PL1PCTEN) but not use the
/// physical timer (PL1PCEN = 0): that one is snowvisor's.
const CNTHCTL_GUEST: u32 = 1;

macro_rules! mcr {
    ($op1:literal, $crn:literal, $crm:literal, $op2:literal, $v:expr) => {
        // SAFETY: writes one HYP configuration register named at the call site;
        // callers use it only while no guest runs on this CPU.
        unsafe {
            asm!(".arch_extension virt",
                 concat!("mcr p15, ", $op1, ", {}, ", $crn, ", ", $crm, ", ", $op2),
                 in(reg) $v, options(nostack))
        }
    };
}

macro_rules! mrc {
    ($op1:literal, $crn:literal, $crm:literal, $op2:literal) => {{
        let v: u32;
        // SAFETY: reads one system register; no side effects.
        unsafe {
            asm!(".arch_extension virt",
                 concat!("mrc p15, ", $op1, ", {}, ", $crn, ", ", $crm, ", ", $op2),
                 out(reg) v, options(nostack))
        };
        v
    }};
}

/// Sets up HYP to run a guest with stage-2 tables at `vttbr_root` and `vmid`.
pub fn configure(vttbr_root: u64, vmid: u8, vtcr: u32) {
    mcr!(4, "c2", "c1", 2, vtcr); // VTCR
    let vttbr = vttbr_root | ((vmid as u64) << 48);
    // SAFETY: VTTBR points at stage-2 tables that live as long as the guest.
    unsafe {
        asm!(".arch_extension virt", "mcrr p15, 6, {}, {}, c2",
             in(reg) vttbr as u32, in(reg) (vttbr >> 32) as u32, options(nostack))
    };
    mcr!(4, "c1", "c1", 2, HCPTR_GUEST); // HCPTR
    mcr!(4, "c1", "c1", 3, HSTR_GUEST); // HSTR
    let hdcr = mrc!(4, "c1", "c1", 1);
    mcr!(4, "c1", "c1", 1, (hdcr & 0x1f) | HDCR_TRAPS); // HDCR
    mcr!(4, "c14", "c1", 0, CNTHCTL_GUEST); // CNTHCTL
                                            // CNTVOFF = 0: the guest's virtual counter is the physical one.
                                            // SAFETY: only affects the guest's view of the counter.
    unsafe {
        asm!(".arch_extension virt", "mcrr p15, 4, {0}, {0}, c14", in(reg) 0u32, options(nostack))
    };
    let midr = mrc!(0, "c0", "c0", 0);
    let mpidr = mrc!(0, "c0", "c0", 5);
    mcr!(4, "c0", "c0", 0, midr); // VPIDR
    mcr!(4, "c0", "c0", 5, mpidr); // VMPIDR
                                   // SAFETY: invalidate all stage-1 and stage-2 TLB entries (TLBIALLNSNH)
                                   // before the first guest entry.
    unsafe {
        asm!(".arch_extension virt", "mcr p15, 4, {}, c8, c7, 4", "dsb", "isb", in(reg) 0, options(nostack))
    };
    mcr!(4, "c1", "c1", 0, HCR_GUEST); // HCR
    super::cpu::isb();
}

/// The MPIDR the guest sees.
pub fn vmpidr() -> u32 {
    mrc!(4, "c0", "c0", 5)
}

extern "C" {
    fn snowvisor_enter_guest(frame: *const TrapFrame) -> !;
}

core::arch::global_asm!(
    r#"
    .arch_extension virt
    .section .text.snowvisor_enter_guest, "ax"
    .arm
    .global snowvisor_enter_guest
    .type   snowvisor_enter_guest, %function
snowvisor_enter_guest:
    ldr     sp, =__stack_top
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

/// Enters the guest with these registers on a fresh HYP stack. Traps come back
/// through the vector table.
pub fn enter(frame: &TrapFrame) -> ! {
    // SAFETY: the frame is copied onto the top of the HYP stack before `eret`;
    // HYP has been configured for the guest by `configure`.
    unsafe { snowvisor_enter_guest(frame) }
}

/// Sets CNTV_CTL.IMASK: the guest's virtual timer stops asserting its
/// interrupt until the guest writes CNTV_CTL again.
pub fn mask_vtimer() {
    let ctl = mrc!(0, "c14", "c3", 1);
    mcr!(0, "c14", "c3", 1, ctl | 2);
}

/// The guest's PL1 system control register (for its vector base and endianness).
pub fn guest_sctlr() -> u32 {
    mrc!(0, "c1", "c0", 0)
}

/// Injects exception `kind` into the guest for the instruction at `f.elr`:
/// [`exception::entry`] decides every register; this writes them (the banked
/// SPSR and LR of the target mode, the fault registers, CPSR and PC through
/// the frame).
pub fn inject(f: &mut TrapFrame, kind: Kind) {
    let e = exception::entry(
        kind,
        &exception::Guest {
            cpsr: f.spsr,
            pc: f.elr,
            sctlr: guest_sctlr(),
            vbar: mrc!(0, "c12", "c0", 0),
            ttbcr: mrc!(0, "c2", "c0", 2),
        },
    );
    if e.mode == exception::mode::ABT {
        // SAFETY: banked guest registers; the guest is not running.
        unsafe {
            asm!(".arch_extension virt", "msr spsr_abt, {}", "msr lr_abt, {}", in(reg) e.spsr, in(reg) e.lr, options(nostack))
        }
    } else {
        // SAFETY: as above.
        unsafe {
            asm!(".arch_extension virt", "msr spsr_und, {}", "msr lr_und, {}", in(reg) e.spsr, in(reg) e.lr, options(nostack))
        }
    }
    match e.fault {
        Some(FaultRegs::Data { dfsr, dfar }) => {
            mcr!(0, "c6", "c0", 0, dfar); // DFAR
            mcr!(0, "c5", "c0", 0, dfsr); // DFSR
        }
        Some(FaultRegs::Instruction { ifsr, ifar }) => {
            mcr!(0, "c6", "c0", 2, ifar); // IFAR
            mcr!(0, "c5", "c0", 1, ifsr); // IFSR
        }
        None => {}
    }
    f.spsr = e.cpsr;
    f.elr = e.pc;
}
