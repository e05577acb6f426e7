//! Crashes, one per boot (`attack.mode=` on the guest's command line):
//! guests that can never make progress again, which snowvisor must end
//! alone. Each runs with the MMU off.
//!
//! - `crash-undef`: an undefined-instruction loop. The instruction is one
//!   snowvisor refuses (a debug register, `DBGBVR2`, trapped by HDCR.TDA)
//!   and the guest's handler returns to it, as a handler that "fixes up"
//!   an instruction it does not understand would.
//! - `crash-novector`: an undefined instruction with the vector table at
//!   an IPA that is not the guest's (VBAR 0): the prefetch abort on the
//!   vector is taken on its own vector, for ever.
//! - `crash-stack`: a stack overflow. Endless recursion runs the stack off
//!   the bottom of the guest's RAM; the data-abort handler saves the
//!   registers on the same stack (as Linux's `__dabt_svc` does) and aborts
//!   again at once.
//! - `crash-storm`: a data-abort storm: a load from an IPA that is not the
//!   guest's, retried by its handler.

core::arch::global_asm!(
    r#"
    .section .text.crash, "ax"
    .arm
    .balign 32
crash_retry_vectors:
    b       .
    subs    pc, lr, #4              @ undefined: retry the instruction
    b       .
    subs    pc, lr, #4              @ prefetch abort: retry
    subs    pc, lr, #8              @ data abort: retry the access
    b       .
    b       .
    b       .

    .balign 32
crash_stack_vectors:
    b       .
    b       .
    b       .
    b       .
    b       crash_stack_dabt
    b       .
    b       .
    b       .
crash_stack_dabt:
    cps     #0x13                   @ to SVC, as an OS saving the aborted context
    push    {{r0-r12, lr}}          @ on the overflowed stack: aborts again
    b       .

    .global crash_undef, crash_novector, crash_stack, crash_storm
crash_undef:
    ldr     r0, =crash_retry_vectors
    mcr     p15, 0, r0, c12, c0, 0
    isb
1:  mrc     p14, 0, r2, c0, c2, 4   @ DBGBVR2
    b       1b

crash_novector:
    mov     r0, #0
    mcr     p15, 0, r0, c12, c0, 0
    isb
    udf     #0
    b       .

    @ r0: the bottom of the guest's RAM
crash_stack:
    ldr     r1, =crash_stack_vectors
    mcr     p15, 0, r1, c12, c0, 0
    isb
    add     sp, r0, #0x2000
    mov     r4, #0
crash_recurse:
    push    {{r4-r11, lr}}
    sub     sp, sp, #256
    add     r4, r4, #1
    bl      crash_recurse
    b       .

    @ r0: an IPA that is not the guest's
crash_storm:
    ldr     r1, =crash_retry_vectors
    mcr     p15, 0, r1, c12, c0, 0
    isb
    mov     r1, r0
2:  ldr     r2, [r1]
    b       2b
    .pool
"#
);

extern "C" {
    fn crash_undef() -> !;
    fn crash_novector() -> !;
    fn crash_stack(ram: u32) -> !;
    fn crash_storm(ipa: u32) -> !;
}

/// Runs crash `mode`; `None` for a mode that is not a crash. `ram` is the
/// bottom of the guest's RAM, `elsewhere` an IPA that is not its own.
pub fn run(mode: &str, ram: u32, elsewhere: u32) -> Option<core::convert::Infallible> {
    crate::say!("crash: {mode}");
    // SAFETY (all): these never return; snowvisor ends the domain.
    unsafe {
        match mode {
            "crash-undef" => crash_undef(),
            "crash-novector" => crash_novector(),
            "crash-stack" => crash_stack(ram),
            "crash-storm" => crash_storm(elsewhere),
            _ => None,
        }
    }
}
