//! Secondary CPUs at HYP: where a CPU started by PSCI CPU_ON (or a board's
//! own wake-up) enters snowvisor, its HYP stack, and PSCI CPU_ON itself.
//!
//! [`secondary_entry`] is the physical address to start a CPU at (HYP maps
//! itself 1:1). The CPU arrives with its MMU and caches off, in HYP
//! (QEMU's PSCI starts it at the caller's exception level) or in Secure
//! SVC (a board's wake-up, snowvisor's pen on a Secure boot), and:
//!
//! 1. masks interrupts; from Secure SVC, switches to Non-secure HYP with
//!    the per-CPU part of the boot CPU's switch
//!    (`snowvisor_secure_to_hyp_secondary`, [`crate::secure`]); installs the
//!    HYP vectors (HVBAR);
//! 2. takes the stack [`set_stack`] published for its MPIDR affinity level 0
//!    (`SNOWVISOR_SECONDARY_STACKS`, read with the caches off: the boot CPU
//!    cleans the word and the whole stack to memory first);
//! 3. turns its HYP MMU and caches on with the boot CPU's tables
//!    ([`crate::mmu::enable_secondary`]);
//! 4. calls `snowvisor_secondary_main(stack_top)`, which the kernel defines.
//!
//! A CPU that arrives in another mode than HYP, or finds no stack, parks in
//! WFI with interrupts masked: the boot CPU's wait for it times out and says so.
//!
//! **The pen.** Firmware that starts every CPU at the image's entry (QEMU
//! `virt,secure=on` with an ELF: no PSCI then) sends all but the CPU with
//! Aff0 0 from `_start` to `snowvisor_pen`: each says it arrived (its CPSR
//! in `SNOWVISOR_PEN_ARRIVED`, written with its caches off) and waits in WFE
//! until [`release_from_pen`] writes its entry address in
//! `SNOWVISOR_PEN_RELEASE`. Both are in `.data` (the boot CPU's BSS clearing
//! runs after the pen CPUs wrote) and on cache lines of their own: the boot
//! CPU only invalidates the first (never writes it) and only writes and
//! cleans the second.

use core::sync::atomic::{AtomicU32, Ordering};

use aarch32_cpu::register::Mpidr;

use crate::cpu;

/// CPUs a stack can be published for: MPIDR affinity level 0 below this
/// (GICv2 has 8 CPU interfaces).
pub const MAX_CPUS: usize = 8;

/// The HYP stack top of each CPU, indexed by MPIDR Aff0; 0: none (the boot
/// CPU uses the linker's `__stack_top`). Read by the entry assembly with the
/// MMU off, so written only through [`set_stack`], which cleans it to memory.
#[no_mangle]
static SNOWVISOR_SECONDARY_STACKS: [AtomicU32; MAX_CPUS] = [const { AtomicU32::new(0) }; MAX_CPUS];

core::arch::global_asm!(
    r#"
    .arch_extension virt
    .section .text.secondary, "ax"
    .arm
    .global snowvisor_secondary_entry
    .type   snowvisor_secondary_entry, %function
snowvisor_secondary_entry:
    cpsid   aif
    mrs     r11, cpsr
    bl      snowvisor_secure_to_hyp_secondary @ Secure SVC -> HYP; else no-op
    and     r0, r11, #0x1f
    cmp     r0, #0x1a               @ HYP?
    bne     9f
    ldr     r0, =snowvisor_vectors
    mcr     p15, 4, r0, c12, c0, 0  @ HVBAR
    mrc     p15, 0, r0, c0, c0, 5   @ MPIDR
    and     r0, r0, #0xff           @ Aff0
    cmp     r0, #{max_cpus}
    bhs     9f
    ldr     r1, =SNOWVISOR_SECONDARY_STACKS
    ldr     r0, [r1, r0, lsl #2]
    cmp     r0, #0
    beq     9f
    mov     sp, r0
    push    {{r0, r1}}              @ keep the stack top (8-byte aligned)
    bl      snowvisor_secondary_mmu
    pop     {{r0, r1}}
    bl      snowvisor_secondary_main
9:  wfi
    b       9b

    @ From _start (entry.rs): r0 = Aff0 (not 0), r11 = CPSR at entry.
    .global snowvisor_pen
snowvisor_pen:
    cmp     r0, #{max_cpus}
    bhs     9b
    ldr     r1, =SNOWVISOR_PEN_ARRIVED
    str     r11, [r1, r0, lsl #2]   @ caches off: straight to memory
    dsb
    ldr     r1, =SNOWVISOR_PEN_RELEASE
1:  wfe
    ldr     r2, [r1, r0, lsl #2]
    cmp     r2, #0
    beq     1b
    bx      r2
"#,
    max_cpus = const MAX_CPUS,
);

extern "C" {
    fn snowvisor_secondary_entry();
}

/// One cache line (64 bytes: the Cortex-A15's; a larger line would only
/// share it with the other pen words) of per-CPU words, indexed by Aff0.
#[repr(C, align(64))]
struct PenLine([AtomicU32; 16]);

/// What each CPU that entered the pen found in CPSR (nonzero: the mode bits).
#[no_mangle]
#[link_section = ".data.snowvisor_pen"]
static SNOWVISOR_PEN_ARRIVED: PenLine = PenLine([const { AtomicU32::new(0) }; 16]);
/// Where each CPU in the pen goes when released.
#[no_mangle]
#[link_section = ".data.snowvisor_pen"]
static SNOWVISOR_PEN_RELEASE: PenLine = PenLine([const { AtomicU32::new(0) }; 16]);

/// The CPSR with which the CPU with Aff0 `aff0` entered snowvisor's pen, if
/// it is waiting there (the firmware started it with the boot CPU).
pub fn parked_in_pen(aff0: u32) -> Option<u32> {
    let word = SNOWVISOR_PEN_ARRIVED.0.get(aff0 as usize)?;
    cpu::invalidate_dcache_line(word as *const AtomicU32 as usize);
    Some(word.load(Ordering::Acquire)).filter(|&cpsr| cpsr != 0)
}

/// Sends the CPU with Aff0 `aff0` from the pen to [`secondary_entry`].
pub fn release_from_pen(aff0: u32) {
    let Some(word) = SNOWVISOR_PEN_RELEASE.0.get(aff0 as usize) else {
        return;
    };
    word.store(secondary_entry() as u32, Ordering::Release);
    cpu::clean_inval_dcache_range(word as *const AtomicU32 as usize, 4);
    aarch32_cpu::asm::sev();
}

/// Turns the MMU on, from the entry assembly (a Rust function so that the
/// HYP map code has one copy).
#[no_mangle]
extern "C" fn snowvisor_secondary_mmu() {
    crate::mmu::enable_secondary();
}

/// The physical address a secondary CPU is started at.
pub fn secondary_entry() -> usize {
    snowvisor_secondary_entry as *const () as usize
}

/// Publishes `top` as the HYP stack of the CPU with MPIDR Aff0 `aff0` and
/// cleans what that CPU reads with its caches off to memory: the word
/// itself and the whole stack `[top - size, top)` (so that no dirty line of
/// this CPU's cache is later written over what the new CPU put there).
/// Returns false when `aff0` is not below [`MAX_CPUS`].
pub fn set_stack(aff0: u32, top: usize, size: usize) -> bool {
    let Some(word) = SNOWVISOR_SECONDARY_STACKS.get(aff0 as usize) else {
        return false;
    };
    cpu::clean_inval_dcache_range(top - size, size);
    word.store(top as u32, Ordering::Release);
    cpu::clean_inval_dcache_range(word as *const AtomicU32 as usize, 4);
    true
}

/// The HYP stack top of the CPU running this (0 for the boot CPU, which
/// has the linker's).
pub fn this_stack_top() -> usize {
    let aff0 = (Mpidr::read().0 & 0xff) as usize;
    SNOWVISOR_SECONDARY_STACKS
        .get(aff0)
        .map_or(0, |w| w.load(Ordering::Acquire) as usize)
}

/// PSCI CPU_ON over SMC (PSCI DEN0022 5.1.4: function ID `function`, the
/// target's MPIDR affinity fields, its entry point, a context ID for r0).
/// Returns the PSCI status (0 SUCCESS; negative: an error code).
pub fn psci_cpu_on(function: u32, mpidr: u32, entry: usize, context: u32) -> i32 {
    crate::secure::smc_call(function, mpidr, entry as u32, context) as i32
}
