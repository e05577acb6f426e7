//! Probes: one instruction that may take an exception, run so that the
//! guest survives it. [`run`] enters a probe with r0-r5 (and r6, the Xen
//! hypercall number) from its arguments; the probe returns normally (r0-r3
//! come back) or takes an exception, whose handler records what the
//! exception left (vector, LR, SPSR, the fault status and address
//! registers) and resumes after the probe in SVC mode with the stack as it
//! was. The handlers use no stack, so nothing the probe did to memory
//! matters.

use core::ptr::{addr_of, read_volatile};

core::arch::global_asm!(
    r#"
    .section .text.vectors, "ax"
    .arm
    .arch_extension virt
    .arch_extension sec
    .balign 32
    .global probe_vectors
probe_vectors:
    b       .
    b       und_entry
    b       svc_entry
    b       pabt_entry
    b       dabt_entry
    b       .
    b       irq_entry
    b       fiq_entry

und_entry:
    mov     r0, #1
    b       record
svc_entry:
    mov     r0, #2
    b       record
pabt_entry:
    mov     r0, #3
    b       record
dabt_entry:
    mov     r0, #4
    b       record
irq_entry:
    mov     r0, #6
    b       record
fiq_entry:
    mov     r0, #7
record:
    ldr     r1, =probe_record
    str     r0, [r1, #0]
    str     lr, [r1, #4]
    mrs     r2, spsr
    str     r2, [r1, #8]
    mrc     p15, 0, r2, c5, c0, 0   @ DFSR
    str     r2, [r1, #12]
    mrc     p15, 0, r2, c6, c0, 0   @ DFAR
    str     r2, [r1, #16]
    mrc     p15, 0, r2, c5, c0, 1   @ IFSR
    str     r2, [r1, #20]
    mrc     p15, 0, r2, c6, c0, 2   @ IFAR
    str     r2, [r1, #24]
    ldr     r2, =probe_cpsr
    ldr     r2, [r2]
    msr     spsr_cxsf, r2
    ldr     lr, =probe_resume
    movs    pc, lr

    @ probe_run(probe: r0, args: r1 -> [u32; 8]): r0-r5 and r6 from args[0..7],
    @ r0-r3 back into args[0..4] when the probe returns.
    .global probe_run
probe_run:
    push    {{r4-r11, lr}}
    ldr     r3, =probe_sp
    str     sp, [r3]
    mrs     r3, cpsr
    ldr     r4, =probe_cpsr
    str     r3, [r4]
    ldr     r4, =probe_args
    str     r1, [r4]
    mov     r3, #0
    ldr     r4, =probe_record
    str     r3, [r4]
    mcr     p15, 0, r3, c5, c0, 0
    mcr     p15, 0, r3, c6, c0, 0
    mcr     p15, 0, r3, c5, c0, 1
    mcr     p15, 0, r3, c6, c0, 2
    isb
    mov     r8, r0
    ldr     r6, [r1, #24]
    ldm     r1, {{r0-r5}}
    blx     r8
    ldr     r4, =probe_args
    ldr     r4, [r4]
    stm     r4, {{r0-r3}}
probe_resume:
    ldr     r3, =probe_sp
    ldr     sp, [r3]
    pop     {{r4-r11, pc}}

    .global probe_ldr, probe_str, probe_xen, probe_psci_hvc, probe_smc
probe_ldr:
    ldr     r0, [r1]
    bx      lr
probe_str:
    str     r2, [r1]
    bx      lr
probe_xen:
    mov     r12, r6
    hvc     #0xea1
    bx      lr
probe_psci_hvc:
    hvc     #0
    bx      lr
probe_smc:
    smc     #0
    bx      lr
    .pool
"#
);

extern "C" {
    static probe_vectors: u8;
    fn probe_run(probe: u32, args: *mut [u32; 8]);
    static probe_ldr: u8;
    static probe_str: u8;
    static probe_xen: u8;
    static probe_psci_hvc: u8;
    static probe_smc: u8;
}

/// What a handler recorded: [vector (0: none), LR, SPSR, DFSR, DFAR, IFSR, IFAR].
#[no_mangle]
static mut probe_record: [u32; 7] = [0; 7];
#[no_mangle]
static mut probe_sp: u32 = 0;
#[no_mangle]
static mut probe_cpsr: u32 = 0;
#[no_mangle]
static mut probe_args: u32 = 0;

/// The exception a probe took (ARM ARM B1.8.1: the vector offsets / 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vector {
    Undefined,
    Svc,
    PrefetchAbort,
    DataAbort,
    Irq,
    Fiq,
}

impl Vector {
    pub fn name(self) -> &'static str {
        match self {
            Vector::Undefined => "undefined",
            Vector::Svc => "svc",
            Vector::PrefetchAbort => "prefetch-abort",
            Vector::DataAbort => "data-abort",
            Vector::Irq => "irq",
            Vector::Fiq => "fiq",
        }
    }
}

/// The exception a probe took and the registers it left.
#[derive(Debug, Clone, Copy)]
pub struct Exception {
    pub vector: Vector,
    pub lr: u32,
    pub dfsr: u32,
    pub dfar: u32,
}

/// How a probe ended.
pub enum Outcome {
    /// It returned: r0-r3.
    Returned([u32; 4]),
    Took(Exception),
}

fn addr(s: &u8) -> u32 {
    s as *const u8 as u32
}

/// Installs the probes' vector table (VBAR; SCTLR.V is 0 at reset).
pub fn install_vectors() {
    // SAFETY: our own 32-byte aligned vector table; handlers use no stack.
    unsafe {
        core::arch::asm!(
            "mcr p15, 0, {}, c12, c0, 0",
            "isb",
            in(reg) addr(&*addr_of!(probe_vectors)),
            options(nostack)
        )
    };
}

fn run(probe: u32, regs: [u32; 7]) -> Outcome {
    let mut args = [0u32; 8];
    args[..7].copy_from_slice(&regs);
    // SAFETY: `probe` is one of the probe labels above; probe_run saves and
    // restores every callee-saved register and the stack pointer, and
    // comes back here whether or not the probe takes an exception.
    unsafe { probe_run(probe, &mut args) };
    // SAFETY: written by probe_run or a handler, read after it returned.
    let r = unsafe { read_volatile(addr_of!(probe_record)) };
    let vector = match r[0] {
        0 => return Outcome::Returned([args[0], args[1], args[2], args[3]]),
        1 => Vector::Undefined,
        2 => Vector::Svc,
        3 => Vector::PrefetchAbort,
        4 => Vector::DataAbort,
        6 => Vector::Irq,
        _ => Vector::Fiq,
    };
    Outcome::Took(Exception {
        vector,
        lr: r[1],
        dfsr: r[3],
        dfar: r[4],
    })
}

/// A word load from VA `va`.
pub fn load(va: u32) -> Outcome {
    // SAFETY: the address of a probe label.
    run(
        unsafe { addr(&*addr_of!(probe_ldr)) },
        [0, va, 0, 0, 0, 0, 0],
    )
}

/// A word store of `value` to VA `va`.
pub fn store(va: u32, value: u32) -> Outcome {
    // SAFETY: the address of a probe label.
    run(
        unsafe { addr(&*addr_of!(probe_str)) },
        [0, va, value, 0, 0, 0, 0],
    )
}

/// Xen hypercall `op` with arguments r0-r4 (`HVC #0xEA1`, number in r12).
pub fn xen(op: u32, a: [u32; 5]) -> Outcome {
    // SAFETY: the address of a probe label.
    run(
        unsafe { addr(&*addr_of!(probe_xen)) },
        [a[0], a[1], a[2], a[3], a[4], 0, op],
    )
}

/// An SMC Calling Convention call over SMC (`SMC #0`, r0-r3).
pub fn smc(a: [u32; 4]) -> Outcome {
    // SAFETY: the address of a probe label.
    run(
        unsafe { addr(&*addr_of!(probe_smc)) },
        [a[0], a[1], a[2], a[3], 0, 0, 0],
    )
}

/// A PSCI call over HVC (`HVC #0`, r0-r3).
pub fn psci_hvc(a: [u32; 4]) -> Outcome {
    // SAFETY: the address of a probe label.
    run(
        unsafe { addr(&*addr_of!(probe_psci_hvc)) },
        [a[0], a[1], a[2], a[3], 0, 0, 0],
    )
}
