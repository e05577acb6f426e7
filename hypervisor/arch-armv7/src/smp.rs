//! Secondary CPUs at HYP: where a CPU started by PSCI CPU_ON (or a board's
//! own wake-up) enters snowvisor, its HYP stack, and PSCI CPU_ON itself.
//!
//! [`secondary_entry`] is the physical address to start a CPU at (HYP maps
//! itself 1:1). The CPU arrives with its MMU and caches off, in HYP
//! (QEMU's PSCI starts it at the caller's exception level), and:
//!
//! 1. masks interrupts, installs the HYP vectors (HVBAR);
//! 2. takes the stack [`set_stack`] published for its MPIDR affinity level 0
//!    (`SNOWVISOR_SECONDARY_STACKS`, read with the caches off: the boot CPU
//!    cleans the word and the whole stack to memory first);
//! 3. turns its HYP MMU and caches on with the boot CPU's tables
//!    ([`crate::mmu::enable_secondary`]);
//! 4. calls `snowvisor_secondary_main(stack_top)`, which the kernel defines.
//!
//! A CPU that arrives in another mode than HYP, or finds no stack, parks in
//! WFI with interrupts masked: the boot CPU's wait for it times out and says so.

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
    mrs     r0, cpsr
    and     r0, r0, #0x1f
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
"#,
    max_cpus = const MAX_CPUS,
);

extern "C" {
    fn snowvisor_secondary_entry();
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
