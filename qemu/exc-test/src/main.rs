//! Exception test guest: booted as Dom0 (`scripts/run --kernel exc-test.bin
//! --no-initrd`), it provokes each exception snowvisor injects, in ARM and in
//! Thumb state, in both fault-status formats (`TTBCR.EAE` 0 and 1), and
//! checks what its own vector table receives against the ARM Architecture
//! Reference Manual (DDI 0406C.d, B1.8 and B1.9): the vector, the mode, the
//! new CPSR (A/I/F masks, T, E, IT and J), SPSR, the LR offset, and the
//! fault status and address registers.
//!
//! Each injected case has a native twin the CPU (QEMU) takes without the
//! hypervisor (UDF, BKPT, an alignment fault), checked against the same
//! expectations: the twin proves the expectation is the architecture's.
//!
//! - Undefined: an access to a debug register (`DBGBVR2`, trapped by
//!   HDCR.TDA), which snowvisor refuses, and an HVC with an immediate no
//!   interface uses (`#0x1234`; Xen's is `#0xEA1`, PSCI's `#0`), taken at the
//!   HVC itself; native twin `UDF`.
//! - Prefetch Abort: a branch to an IPA no domain maps (snowvisor's image);
//!   native twin `BKPT` (a debug event).
//! - Data Abort: a load and a store to that IPA, also a 32-bit Thumb load and
//!   one inside an IT block; native twin an unaligned load with SCTLR.A set.
//!
//! Output goes through Xen's `console_io` hypercall, lines prefixed
//! `exc-test: `; the last is `exc-test: done: N passed, M failed`.

#![no_std]
#![no_main]

use core::fmt::Write;
use core::panic::PanicInfo;
use core::ptr::{addr_of, read_volatile};

core::arch::global_asm!(
    r#"
    .section .text.entry, "ax"
    .arm
    .global _start
_start:
    .rept 8
    mov     r0, r0
    .endr
    b       1f
    .word   0x016f2818              @ zImage magic: snowvisor checks it
    .word   _start
    .word   __image_end
1:  adr     r4, _start              @ where we were loaded
    ldr     r5, =_start             @ where we are linked
    ldr     r6, =__image_end
    cmp     r4, r5
    beq     2f
    mov     r0, r4
    mov     r1, r5
3:  ldr     r3, [r0], #4
    str     r3, [r1], #4
    cmp     r1, r6
    blo     3b
    dsb
    mov     r0, #0
    mcr     p15, 0, r0, c7, c5, 0   @ ICIALLU
    dsb
    isb
    ldr     pc, =2f
2:  ldr     sp, =__stack_top
    ldr     r0, =__bss_start
    ldr     r1, =__bss_end
    mov     r3, #0
4:  cmp     r0, r1
    strlo   r3, [r0], #4
    blo     4b
    bl      guest_main
5:  wfi
    b       5b
"#
);

// The vector table and the probes. Every handler records what the exception
// left (which vector, LR, SPSR, CPSR, DFSR, DFAR, IFSR, IFAR) in
// `exc_record`, then returns to `run_probe`'s caller in SVC mode.
core::arch::global_asm!(
    r#"
    .section .text.vectors, "ax"
    .arm
    .balign 32
    .global exc_vectors
exc_vectors:
    b       .
    b       und_entry
    b       .
    b       pabt_entry
    b       dabt_entry
    b       .
    b       .
    b       .

und_entry:
    mov     r0, #1
    b       record
pabt_entry:
    mov     r0, #2
    b       record
dabt_entry:
    mov     r0, #3
record:
    ldr     r1, =exc_record
    str     r0, [r1, #0]
    str     lr, [r1, #4]
    mrs     r2, spsr
    str     r2, [r1, #8]
    mrs     r2, cpsr
    str     r2, [r1, #12]
    mrc     p15, 0, r2, c5, c0, 0   @ DFSR
    str     r2, [r1, #16]
    mrc     p15, 0, r2, c6, c0, 0   @ DFAR
    str     r2, [r1, #20]
    mrc     p15, 0, r2, c5, c0, 1   @ IFSR
    str     r2, [r1, #24]
    mrc     p15, 0, r2, c6, c0, 2   @ IFAR
    str     r2, [r1, #28]
    ldr     r2, =exc_resume_cpsr
    ldr     r2, [r2]
    msr     spsr_cxsf, r2
    ldr     lr, =probe_resume
    movs    pc, lr

    @ run_probe(probe: r0 (bit 0: Thumb), addr: r1, align_check: r2)
    .global run_probe
run_probe:
    push    {{r4-r11, lr}}
    ldr     r3, =exc_resume_sp
    str     sp, [r3]
    mrs     r3, cpsr
    ldr     r4, =exc_resume_cpsr
    str     r3, [r4]
    mov     r3, #0
    mcr     p15, 0, r3, c5, c0, 0
    mcr     p15, 0, r3, c6, c0, 0
    mcr     p15, 0, r3, c5, c0, 1
    mcr     p15, 0, r3, c6, c0, 2
    ldr     r4, =exc_record
    str     r3, [r4, #0]
    cmp     r2, #0
    beq     1f
    mrc     p15, 0, r3, c1, c0, 0
    orr     r3, r3, #2              @ SCTLR.A: alignment checks
    mcr     p15, 0, r3, c1, c0, 0
    isb
1:  cmp     r0, r0                  @ Z and C set: the IT probe's condition holds
    mrs     r3, cpsr
    ldr     r4, =exc_probe_cpsr
    str     r3, [r4]
    mov     r2, #0x55
    bx      r0
probe_nofault:
    ldr     r4, =exc_record
    mov     r3, #0
    str     r3, [r4, #0]
probe_resume:
    mrc     p15, 0, r3, c1, c0, 0
    bic     r3, r3, #2
    mcr     p15, 0, r3, c1, c0, 0
    isb
    ldr     r3, =exc_resume_sp
    ldr     sp, [r3]
    pop     {{r4-r11, pc}}

    .arm
    .global probe_a_udf, probe_a_und, probe_a_bkpt, probe_a_pabt
    .global probe_a_ldr, probe_a_str, probe_a_align, probe_a_c15, probe_a_l2ctlr, probe_a_hvc
probe_a_udf:
    udf     #0
    b       probe_nofault
probe_a_und:
    mrc     p14, 0, r2, c0, c2, 4   @ DBGBVR2
    b       probe_nofault
probe_a_bkpt:
    bkpt    #0
    b       probe_nofault
probe_a_hvc:
    .arch_extension virt
    hvc     #0x1234
    b       probe_nofault
probe_a_c15:
    mrc     p15, 4, r2, c15, c0, 0  @ CBAR (IMPLEMENTATION DEFINED, HSTR.T15)
    b       probe_nofault
probe_a_l2ctlr:
    mrc     p15, 1, r2, c9, c0, 2   @ L2CTLR (IMPLEMENTATION DEFINED, HCR.TIDCP)
    b       probe_nofault
probe_a_pabt:
    bx      r1
probe_a_ldr:
    ldr     r2, [r1]
    b       probe_nofault
probe_a_str:
    str     r2, [r1]
    b       probe_nofault
probe_a_align:
    ldr     r2, [r1]
    b       probe_nofault

    .thumb
    .global probe_t_udf, probe_t_udfw, probe_t_und, probe_t_bkpt, probe_t_pabt
    .global probe_t_ldr, probe_t_str, probe_t_ldrw, probe_t_it, probe_t_it_insn
    .global probe_t_align, probe_t_align_it, probe_t_align_it_insn, probe_t_hvc
    .balign 4
probe_t_udf:
    udf     #0
    b.w     thumb_nofault
    .balign 4
probe_t_udfw:
    udf.w   #0
    b.w     thumb_nofault
    .balign 4
probe_t_und:
    mrc     p14, 0, r2, c0, c2, 4   @ DBGBVR2
    b.w     thumb_nofault
    .balign 4
probe_t_bkpt:
    bkpt    #0
    b.w     thumb_nofault
    .balign 4
probe_t_hvc:
    hvc     #0x1234
    b.w     thumb_nofault
    .balign 4
probe_t_pabt:
    bx      r1
    .balign 4
probe_t_ldr:
    ldr     r2, [r1]
    b.w     thumb_nofault
    .balign 4
probe_t_str:
    str     r2, [r1]
    b.w     thumb_nofault
    .balign 4
probe_t_ldrw:
    ldr.w   r2, [r1]
    b.w     thumb_nofault
    .balign 4
probe_t_it:
    it      eq
probe_t_it_insn:
    ldreq   r2, [r1]
    b.w     thumb_nofault
    .balign 4
probe_t_align:
    ldr     r2, [r1]
    b.w     thumb_nofault
    .balign 4
probe_t_align_it:
    it      eq
probe_t_align_it_insn:
    ldreq   r2, [r1]
    b.w     thumb_nofault
thumb_nofault:
    ldr     r3, =probe_nofault
    bx      r3
    .pool
    .arm
"#
);

extern "C" {
    static exc_vectors: u8;
    fn run_probe(probe: u32, addr: u32, align: u32);
    static probe_a_udf: u8;
    static probe_a_und: u8;
    static probe_a_bkpt: u8;
    static probe_a_pabt: u8;
    static probe_a_ldr: u8;
    static probe_a_str: u8;
    static probe_a_align: u8;
    static probe_a_c15: u8;
    static probe_a_l2ctlr: u8;
    static probe_a_hvc: u8;
    static probe_t_hvc: u8;
    static probe_t_udf: u8;
    static probe_t_udfw: u8;
    static probe_t_und: u8;
    static probe_t_bkpt: u8;
    static probe_t_pabt: u8;
    static probe_t_ldr: u8;
    static probe_t_str: u8;
    static probe_t_ldrw: u8;
    static probe_t_it: u8;
    static probe_t_it_insn: u8;
    static probe_t_align: u8;
    static probe_t_align_it: u8;
    static probe_t_align_it_insn: u8;
}

/// What a handler recorded: [vector (1 und, 2 pabt, 3 dabt; 0 none), LR,
/// SPSR, CPSR, DFSR, DFAR, IFSR, IFAR].
#[no_mangle]
static mut exc_record: [u32; 8] = [0; 8];
#[no_mangle]
static mut exc_resume_sp: u32 = 0;
#[no_mangle]
static mut exc_resume_cpsr: u32 = 0;
/// CPSR (flags, mode, masks) just before the probe runs.
#[no_mangle]
static mut exc_probe_cpsr: u32 = 0;

/// An IPA no domain maps: snowvisor's own image.
const UNMAPPED: u32 = 0x4001_0000;

fn console_write(s: &[u8]) {
    const CONSOLE_IO: u32 = 18;
    // SAFETY: the hypercall reads `s` from our memory (MMU off: VA = IPA);
    // it clobbers only r0.
    unsafe {
        core::arch::asm!(
            ".arch_extension virt",
            "hvc #0xea1",
            inout("r0") 0u32 => _,
            in("r1") s.len(),
            in("r2") s.as_ptr(),
            in("r12") CONSOLE_IO,
            options(nostack)
        )
    }
}

struct Line {
    buf: [u8; 240],
    len: usize,
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for &b in s.as_bytes() {
            if self.len < self.buf.len() {
                self.buf[self.len] = b;
                self.len += 1;
            }
        }
        Ok(())
    }
}

macro_rules! say {
    ($($t:tt)*) => {{
        let mut c = Line { buf: [0; 240], len: 0 };
        let _ = write!(c, "exc-test: ");
        let _ = write!(c, $($t)*);
        let _ = c.write_str("\n");
        console_write(&c.buf[..c.len]);
    }};
}

fn power_off() -> ! {
    // SAFETY: PSCI SYSTEM_OFF; does not return when it works.
    unsafe {
        core::arch::asm!(".arch_extension virt", "hvc #0", in("r0") 0x8400_0008u32, options(nostack))
    };
    loop {
        // SAFETY: waiting for nothing.
        unsafe { core::arch::asm!("wfi", options(nostack)) };
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Vector {
    Undefined = 1,
    PrefetchAbort = 2,
    DataAbort = 3,
}

/// One probe and what the architecture says it must produce.
struct Case {
    name: &'static str,
    /// Probe entry (Thumb probes are entered with bit 0 set).
    probe: u32,
    thumb: bool,
    /// Address of the instruction that takes the exception.
    insn: u32,
    /// r1 for the probe: the address it aborts on.
    addr: u32,
    align: bool,
    vector: Vector,
    /// SPSR.IT expected (an instruction inside an IT block).
    it: u32,
    /// Expected fault status (DFSR or IFSR) for short and long descriptors.
    fsr: (u32, u32),
    /// Expected fault address (DFAR or IFAR); [`ANY`]: UNKNOWN (a debug event).
    far: u32,
}

/// A fault address the architecture leaves UNKNOWN.
const ANY: u32 = u32::MAX;

const CPSR_T: u32 = 1 << 5;
const CPSR_I: u32 = 1 << 7;
const CPSR_A: u32 = 1 << 8;
const CPSR_IT: u32 = (0x3f << 10) | (3 << 25);
const CPSR_J: u32 = 1 << 24;

fn check(c: &Case, lpae: bool) -> Result<(), Line> {
    // SAFETY: probe entry points; the handlers bring control back here.
    unsafe { run_probe(c.probe, c.addr, c.align as u32) };
    // SAFETY: written by the handler, read once it has returned.
    let r = unsafe { read_volatile(addr_of!(exc_record)) };
    let before = unsafe { read_volatile(addr_of!(exc_probe_cpsr)) };
    let mut err = Line {
        buf: [0; 240],
        len: 0,
    };
    let want_vector = c.vector as u32;
    if r[0] != want_vector {
        let _ = write!(err, "vector {} (want {want_vector})", r[0]);
        return Err(err);
    }
    let (mode, lr_off, masks) = match c.vector {
        Vector::Undefined => (0x1b, if c.thumb { 2 } else { 4 }, CPSR_I),
        Vector::PrefetchAbort => (0x17, 4, CPSR_I | CPSR_A),
        Vector::DataAbort => (0x17, 8, CPSR_I | CPSR_A),
    };
    let spsr = before | if c.thumb { CPSR_T } else { 0 } | c.it;
    // SCTLR.TE = 0 and EE = 0: ARM state, little-endian handlers.
    let cpsr = (before & !(0x1f | CPSR_T | CPSR_IT | CPSR_J | (1 << 9))) | mode | masks;
    let (fsr, far) = match c.vector {
        Vector::Undefined => (0, 0),
        Vector::PrefetchAbort => (r[6], r[7]),
        Vector::DataAbort => (r[4], r[5]),
    };
    let want_fsr = if lpae { c.fsr.1 } else { c.fsr.0 };
    let mut bad = false;
    let mut note = |name: &str, got: u32, want: u32| {
        if got != want {
            let _ = write!(err, "{name} {got:#x} (want {want:#x}) ");
            bad = true;
        }
    };
    note("LR", r[1], c.insn.wrapping_add(lr_off));
    note("SPSR", r[2], spsr);
    note("CPSR", r[3], cpsr);
    if c.vector != Vector::Undefined {
        note("FSR", fsr, want_fsr);
        if c.far != ANY {
            note("FAR", far, c.far);
        }
    }
    if bad {
        Err(err)
    } else {
        Ok(())
    }
}

fn addr(s: &u8) -> u32 {
    s as *const u8 as u32
}

fn set_ttbcr(v: u32) {
    // SAFETY: TTBCR selects the fault-status format; the MMU is off.
    unsafe { core::arch::asm!("mcr p15, 0, {}, c2, c0, 2", "isb", in(reg) v, options(nostack)) };
}

#[no_mangle]
extern "C" fn guest_main() -> ! {
    say!("start");
    // SAFETY: our own vector table (32-byte aligned), A unmasked so that
    // "A unchanged" and "A set" can be told apart; I and F stay masked.
    unsafe {
        core::arch::asm!(
            "mcr p15, 0, {}, c12, c0, 0",
            "isb",
            "cpsie a",
            in(reg) addr(&exc_vectors),
            options(nostack)
        )
    };
    let sync_ext = (0x008, 0x210);
    let wnr = 1 << 11;
    let align = (0x001, 0x221);
    let debug = (0x002, 0x222);
    let unaligned = UNALIGNED.as_ptr() as u32 + 1;
    // SAFETY (all): addresses of the probe labels above.
    let a = |s: &u8| addr(s);
    let cases: [Case; 22] = unsafe {
        let arm = |name, p: &u8, addr, align, vector, fsr, far| Case {
            name,
            probe: a(p),
            thumb: false,
            insn: a(p),
            addr,
            align,
            vector,
            it: 0,
            fsr,
            far,
        };
        let thumb = |name, p: &u8, insn: &u8, addr, align, vector, it, fsr, far| Case {
            name,
            probe: a(p) | 1,
            thumb: true,
            insn: a(insn),
            addr,
            align,
            vector,
            it,
            fsr,
            far,
        };
        let pabt_arm = Case {
            insn: UNMAPPED,
            ..arm("arm prefetch abort (injected)", &probe_a_pabt, UNMAPPED, false, Vector::PrefetchAbort, sync_ext, UNMAPPED)
        };
        let pabt_thumb = Case {
            insn: UNMAPPED,
            ..thumb("thumb prefetch abort (injected)", &probe_t_pabt, &probe_t_pabt, UNMAPPED | 1, false, Vector::PrefetchAbort, 0, sync_ext, UNMAPPED)
        };
        let it = 0x800; // IT EQ, one instruction: ITSTATE 0b00001000
        [
            arm("arm udf (native)", &probe_a_udf, 0, false, Vector::Undefined, (0, 0), 0),
            arm("arm undefined (injected)", &probe_a_und, 0, false, Vector::Undefined, (0, 0), 0),
            arm("arm CP15 c15 access (injected undefined)", &probe_a_c15, 0, false, Vector::Undefined, (0, 0), 0),
            arm("arm CP15 c9 IMPLEMENTATION DEFINED access (injected undefined)", &probe_a_l2ctlr, 0, false, Vector::Undefined, (0, 0), 0),
            arm("arm hvc #0x1234 (injected undefined)", &probe_a_hvc, 0, false, Vector::Undefined, (0, 0), 0),
            arm("arm bkpt (native)", &probe_a_bkpt, 0, false, Vector::PrefetchAbort, debug, ANY),
            pabt_arm,
            arm("arm ldr data abort (injected)", &probe_a_ldr, UNMAPPED, false, Vector::DataAbort, sync_ext, UNMAPPED),
            arm("arm str data abort (injected)", &probe_a_str, UNMAPPED + 8, false, Vector::DataAbort, (sync_ext.0 | wnr, sync_ext.1 | wnr), UNMAPPED + 8),
            arm("arm alignment fault (native)", &probe_a_align, unaligned, true, Vector::DataAbort, align, unaligned),
            thumb("thumb udf (native)", &probe_t_udf, &probe_t_udf, 0, false, Vector::Undefined, 0, (0, 0), 0),
            thumb("thumb udf.w (native)", &probe_t_udfw, &probe_t_udfw, 0, false, Vector::Undefined, 0, (0, 0), 0),
            thumb("thumb undefined (injected)", &probe_t_und, &probe_t_und, 0, false, Vector::Undefined, 0, (0, 0), 0),
            thumb("thumb hvc #0x1234 (injected undefined)", &probe_t_hvc, &probe_t_hvc, 0, false, Vector::Undefined, 0, (0, 0), 0),
            thumb("thumb bkpt (native)", &probe_t_bkpt, &probe_t_bkpt, 0, false, Vector::PrefetchAbort, 0, debug, ANY),
            pabt_thumb,
            thumb("thumb ldr data abort (injected)", &probe_t_ldr, &probe_t_ldr, UNMAPPED, false, Vector::DataAbort, 0, sync_ext, UNMAPPED),
            thumb("thumb str data abort (injected)", &probe_t_str, &probe_t_str, UNMAPPED + 4, false, Vector::DataAbort, 0, (sync_ext.0 | wnr, sync_ext.1 | wnr), UNMAPPED + 4),
            thumb("thumb ldr.w data abort (injected)", &probe_t_ldrw, &probe_t_ldrw, UNMAPPED, false, Vector::DataAbort, 0, sync_ext, UNMAPPED),
            thumb("thumb data abort in an IT block (injected)", &probe_t_it, &probe_t_it_insn, UNMAPPED, false, Vector::DataAbort, it, sync_ext, UNMAPPED),
            thumb("thumb alignment fault (native)", &probe_t_align, &probe_t_align, unaligned, true, Vector::DataAbort, 0, align, unaligned),
            thumb("thumb alignment fault in an IT block (native)", &probe_t_align_it, &probe_t_align_it_insn, unaligned, true, Vector::DataAbort, it, align, unaligned),
        ]
    };
    let (mut passed, mut failed) = (0, 0);
    for (lpae, format) in [(false, "short-descriptor"), (true, "LPAE")] {
        set_ttbcr(if lpae { 1 << 31 } else { 0 });
        for c in &cases {
            match check(c, lpae) {
                Ok(()) => {
                    passed += 1;
                    say!("{} ({format}): PASS", c.name);
                }
                Err(e) => {
                    failed += 1;
                    let why = core::str::from_utf8(&e.buf[..e.len]).unwrap_or("?");
                    say!("{} ({format}): FAIL: {why}", c.name);
                }
            }
        }
    }
    // Registers Dom0 may read, as snowvisor emulates them: no PMU (PMCR
    // reads 0, where a Cortex-A15 reports its counters) and the debug ID
    // register's fixed value (2 breakpoints, 1 watchpoint, v7.1, r4p0).
    let (pmcr, dbgdidr): (u32, u32);
    // SAFETY: reads of trapped registers; snowvisor answers them.
    unsafe {
        core::arch::asm!(
            "mrc p15, 0, {}, c9, c12, 0",
            "mrc p14, 0, {}, c0, c0, 0",
            out(reg) pmcr,
            out(reg) dbgdidr,
            options(nostack)
        )
    };
    for (name, got, want) in [("PMCR", pmcr, 0), ("DBGDIDR", dbgdidr, 0x0105_0040)] {
        if got == want {
            passed += 1;
            say!("{name} reads {got:#x}: PASS");
        } else {
            failed += 1;
            say!("{name} reads {got:#x} (want {want:#x}): FAIL");
        }
    }
    // A flood: faults snowvisor reports (rate-limited) and console output
    // (queued, drained without holding the CPU).
    for _ in 0..2000 {
        // SAFETY: the probe returns through the handlers.
        unsafe { run_probe(addr(&probe_a_ldr), UNMAPPED, 0) };
    }
    let line = [b'x'; 127];
    for _ in 0..256 {
        console_write(&line);
        console_write(b"\n");
    }
    say!("flood: 2000 faults, 32 KiB of console output");
    say!("done: {passed} passed, {failed} failed");
    power_off()
}

/// Eight readable bytes for the alignment probes (one past the start is
/// unaligned for a word load).
static UNALIGNED: [u8; 8] = [0; 8];

#[panic_handler]
fn panic(_: &PanicInfo) -> ! {
    say!("panic");
    power_off()
}
