//! Entry in Secure SVC: switching to Non-secure HYP, and SMC calls.
//!
//! Firmware that starts the kernel in Secure SVC (most likely the Chromebook
//! Snow's stock U-Boot; QEMU `virt,secure=on` with an ELF image) leaves the CPU
//! in a mode from which snowvisor can still reach HYP: Secure PL1 may enter
//! Monitor mode, set SCR.NS and SCR.HCE, and exception-return to HYP. Before
//! that, the Secure-only state that a non-secure hypervisor cannot set later:
//!
//! 1. every GIC interrupt into group 1 (the Non-secure group), GICD_CTLR off
//!    (the Non-secure side enables group 1 itself), GICC_PMR fully open;
//! 2. CNTFRQ, if the firmware left it 0 (the board's value, e.g. the DT
//!    timer's `clock-frequency`);
//! 3. NSACR: Non-secure access to cp10/cp11 (VFP) and NS_SMP;
//!    ACTLR.SMP (Cortex-A15 coherency, needed before caches are on);
//! 4. MVBAR: a minimal monitor whose SMC handler answers every call with
//!    0xffffffff (PSCI NOT_SUPPORTED), so a later `smc` does not crash;
//! 5. SCR = NS | FW | AW | HCE (0x131): SMC stays enabled (SCD = 0), IRQ, FIQ and
//!    external aborts stay with the Non-secure side;
//! 6. HSCTLR (MMU/caches off, little-endian), HCR = 0, CNTVOFF = 0,
//!    CONTEXTIDR = 0: reset values are UNKNOWN on hardware.
//!
//! Secure and Non-secure SVC look the same in CPSR, and SCR is UNDEFINED from
//! Non-secure PL1, so the security state is probed without any risk of a fault:
//! write all ones to GICD_IGROUPR1 and read it back (restoring it). Secure
//! accesses see the group bits; Non-secure accesses to IGROUPRn are RAZ/WI and
//! read 0. A GIC without the Security Extensions (GICD_TYPER bit 10 clear) cannot
//! answer, and is reported as such. From Non-secure SVC there is no way into HYP
//! without firmware help; snowvisor says so and stops.
//!
//! The routine runs before the stack and BSS exist (entry.rs calls it first
//! thing at `relocated`), takes its fixed addresses from the board's
//! `SNOWVISOR_BOARD_EARLY` words (see [`crate::board::early_words`]) and leaves
//! its verdict in `SNOWVISOR_ENTRY_STATE` (in .data, which the BSS clearing does
//! not touch) for [`report_entry`]. A secondary CPU entering in Secure SVC
//! (`crate::smp`) runs its `_secondary` form: the same per-CPU steps (its
//! banked IGROUPR0 and CPU interface, CNTFRQ, NSACR, ACTLR, MVBAR, SCR, the
//! HYP registers), the shared distributor left as the boot CPU set it, the
//! verdict in `SNOWVISOR_SECONDARY_ENTRY_STATE`.

/// `SNOWVISOR_ENTRY_STATE[0]` values.
pub mod state {
    /// Entered in HYP (or another mode the routine does not handle).
    pub const NOT_SVC: u32 = 0;
    /// Entered in Secure SVC and switched to Non-secure HYP.
    pub const SWITCHED: u32 = 1;
    /// Entered in Non-secure SVC: the GICD_IGROUPR1 probe read back 0.
    pub const NON_SECURE_SVC: u32 = 2;
    /// Entered in SVC on a board without `SECURE_ENTRY`: nothing was probed.
    pub const SVC_NO_BOARD: u32 = 3;
    /// Entered in SVC, but the GIC lacks the Security Extensions: no probe.
    pub const SVC_GIC_NO_SECURITY: u32 = 4;
}

/// What the entry routine found, decoded from its four words
/// [state, CPSR at entry, probe read-back, CNTFRQ written (1) or kept (0)].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryState {
    NotSvc,
    Switched { cpsr: u32, cntfrq_written: bool },
    NonSecureSvc { cpsr: u32 },
    SvcNoBoard { cpsr: u32 },
    SvcGicNoSecurity { cpsr: u32 },
    Unknown { word: u32 },
}

impl EntryState {
    pub fn decode(w: [u32; 4]) -> Self {
        let cpsr = w[1];
        match w[0] {
            state::NOT_SVC => EntryState::NotSvc,
            state::SWITCHED => EntryState::Switched {
                cpsr,
                cntfrq_written: w[3] == 1,
            },
            state::NON_SECURE_SVC => EntryState::NonSecureSvc { cpsr },
            state::SVC_NO_BOARD => EntryState::SvcNoBoard { cpsr },
            state::SVC_GIC_NO_SECURITY => EntryState::SvcGicNoSecurity { cpsr },
            word => EntryState::Unknown { word },
        }
    }

    /// The console line for this state; None when there is nothing to say
    /// (entered in HYP). `Err` lines precede a fatal stop.
    pub fn message(
        &self,
        cntfrq: u32,
    ) -> Option<Result<alloc::string::String, alloc::string::String>> {
        use alloc::format;
        Some(match *self {
            EntryState::NotSvc => return None,
            EntryState::Switched { cpsr, cntfrq_written } => Ok(format!(
                "entered in Secure SVC, switched to HYP (CPSR was {cpsr:#010x}; all interrupts in GIC group 1; CNTFRQ {} {cntfrq} Hz)",
                if cntfrq_written { "was 0, set to the board's" } else { "kept at the firmware's" }
            )),
            EntryState::NonSecureSvc { cpsr } => Err(format!(
                "entered in Non-secure SVC (CPSR {cpsr:#010x}; GICD_IGROUPR1 reads as zero): only secure firmware can enter HYP; start snowvisor in HYP (e.g. from a mainline U-Boot with CONFIG_ARMV7_VIRT) or in Secure SVC"
            )),
            EntryState::SvcNoBoard { cpsr } => Err(format!(
                "entered in SVC (CPSR {cpsr:#010x}) on a board without Secure-entry support (Board::SECURE_ENTRY): no switch to HYP attempted"
            )),
            EntryState::SvcGicNoSecurity { cpsr } => Err(format!(
                "entered in SVC (CPSR {cpsr:#010x}) and the GIC has no Security Extensions: cannot tell Secure from Non-secure, no switch attempted"
            )),
            EntryState::Unknown { word } => Err(format!("entry state word {word:#x} is corrupt")),
        })
    }
}

#[cfg(target_arch = "arm")]
core::arch::global_asm!(
    r#"
    .arch_extension virt
    .arch_extension sec

    .section .data.snowvisor_entry_state, "aw"
    .balign 4
    .global SNOWVISOR_ENTRY_STATE
SNOWVISOR_ENTRY_STATE:
    .word   0, 0, 0, 0

    .section .data.snowvisor_secondary_entry_state, "aw"
    .balign 4
    .global SNOWVISOR_SECONDARY_ENTRY_STATE
SNOWVISOR_SECONDARY_ENTRY_STATE:
    .word   0, 0, 0, 0

    .section .text.secure, "ax"
    .arm
    .global snowvisor_secure_to_hyp
    .global snowvisor_secure_to_hyp_secondary
    @ In: r11 = CPSR at entry, lr = return address. Out: the same mode, or
    @ Non-secure HYP with r11's mode field set to HYP. Clobbers r0-r7 and r12;
    @ keeps r8-r10 and sp untouched (no stack is used). The _secondary entry
    @ (r3 = 1) is for a CPU started after the boot CPU: it leaves the shared
    @ distributor alone (GICD_CTLR, the SPIs' IGROUPRn), probes and sets
    @ only its banked GICD_IGROUPR0, and records its verdict apart.
snowvisor_secure_to_hyp_secondary:
    mov     r3, #1
    ldr     r7, =SNOWVISOR_SECONDARY_ENTRY_STATE
    b       0f
snowvisor_secure_to_hyp:
    mov     r3, #0
    ldr     r7, =SNOWVISOR_ENTRY_STATE
0:  and     r0, r11, #0x1f
    cmp     r0, #0x13               @ SVC?
    bxne    lr
    str     r11, [r7, #4]
    ldr     r4, =SNOWVISOR_BOARD_EARLY
    ldr     r5, [r4]                @ GICD, 0 without SECURE_ENTRY
    cmp     r5, #0
    moveq   r0, #3                  @ state::SVC_NO_BOARD
    streq   r0, [r7]
    bxeq    lr
    ldr     r0, [r5, #0x004]        @ GICD_TYPER
    tst     r0, #(1 << 10)          @ SecurityExtn
    moveq   r0, #4                  @ state::SVC_GIC_NO_SECURITY
    streq   r0, [r7]
    bxeq    lr
    @ Probe: Secure reads back the group bits, Non-secure reads 0 (RAZ/WI).
    @ GICD_IGROUPR1 on the boot CPU, the banked IGROUPR0 on a secondary.
    add     r2, r5, #0x084
    sub     r2, r2, r3, lsl #2
    ldr     r6, [r2]                @ kept
    mvn     r0, #0
    str     r0, [r2]
    ldr     r1, [r2]
    str     r6, [r2]
    str     r1, [r7, #8]
    cmp     r1, #0
    moveq   r0, #2                  @ state::NON_SECURE_SVC
    streq   r0, [r7]
    bxeq    lr

    @ Secure SVC. GIC: distributor off, all interrupts Non-secure, mask open
    @ (a secondary: its SGIs and PPIs only, the distributor is in use).
    mov     r0, #0
    cmp     r3, #0
    streq   r0, [r5, #0x000]        @ GICD_CTLR
    ldr     r1, [r5, #0x004]
    and     r1, r1, #0x1f           @ ITLinesNumber = IGROUPR words - 1
    movne   r1, #0                  @ a secondary: IGROUPR0 only
    add     r2, r5, #0x080
    mvn     r0, #0
1:  str     r0, [r2], #4
    subs    r1, r1, #1
    bpl     1b
    ldr     r6, [r4, #4]            @ GICC
    mov     r0, #0xff
    str     r0, [r6, #0x004]        @ GICC_PMR
    @ CNTFRQ is writable only here: set the board's value if the firmware did not.
    mov     r1, #0
    mrc     p15, 0, r0, c14, c0, 0
    cmp     r0, #0
    ldreq   r0, [r4, #8]
    mcreq   p15, 0, r0, c14, c0, 0
    moveq   r1, #1
    str     r1, [r7, #12]
    ldr     r0, =0x00040c00         @ NSACR: NS_SMP, cp11, cp10
    mcr     p15, 0, r0, c1, c1, 2
    mrc     p15, 0, r0, c1, c0, 1   @ ACTLR.SMP (Cortex-A15: before caches)
    orr     r0, r0, #(1 << 6)
    mcr     p15, 0, r0, c1, c0, 1
    ldr     r0, =snowvisor_monitor_vectors
    mcr     p15, 0, r0, c12, c0, 1  @ MVBAR
    isb
    mov     r12, lr                 @ lr is banked: keep the return address
    cps     #0x16                   @ Monitor mode (Secure PL1 may)
    isb
    ldr     r0, =0x131              @ SCR: NS | FW | AW | HCE
    mcr     p15, 0, r0, c1, c1, 0
    isb
    @ Hyp registers, reachable from Monitor mode now that SCR.NS = 1.
    ldr     r0, =0x30c50818         @ HSCTLR: RES1 bits only (MMU, caches off, LE)
    mcr     p15, 4, r0, c1, c0, 0
    mov     r0, #0
    mcr     p15, 4, r0, c1, c1, 0   @ HCR
    mcrr    p15, 4, r0, r0, c14     @ CNTVOFF
    mcr     p15, 0, r0, c13, c0, 1  @ CONTEXTIDR (Non-secure copy)
    isb
    mov     r0, #1                  @ state::SWITCHED
    str     r0, [r7]
    bic     r11, r11, #0x1f
    orr     r11, r11, #0x1a         @ report HYP to the rest of the entry
    ldr     r0, =0x1da              @ HYP, A/I/F masked, ARM, little-endian
    msr     spsr_cxsf, r0
    mov     lr, r12
    eret                            @ = subs pc, lr, #0 outside HYP

    @ Monitor vectors: only SMC is expected (SCR routes IRQ/FIQ/aborts to the
    @ Non-secure side). Every SMC returns 0xffffffff (PSCI NOT_SUPPORTED).
    .section .text.monitor, "ax"
    .balign 32
    .global snowvisor_monitor_vectors
snowvisor_monitor_vectors:
    b       .                       @ reset
    b       .                       @ undefined instruction
    b       monitor_smc
    b       .                       @ prefetch abort
    b       .                       @ data abort
    b       .
    b       .                       @ IRQ
    b       .                       @ FIQ
monitor_smc:
    mvn     r0, #0
    movs    pc, lr
"#
);

/// The entry routine's verdict.
#[cfg(target_arch = "arm")]
pub fn entry_state() -> EntryState {
    extern "C" {
        static SNOWVISOR_ENTRY_STATE: [u32; 4];
    }
    // SAFETY: four words in .data written only by the entry routine, before any
    // Rust code ran; read-only from here on.
    let words = unsafe { core::ptr::read_volatile(&raw const SNOWVISOR_ENTRY_STATE) };
    EntryState::decode(words)
}

/// Prints how snowvisor was entered, if not plainly in HYP. The caller's mode
/// check stops the boot when the CPU is still not in HYP.
#[cfg(target_arch = "arm")]
pub fn report_entry() {
    let cntfrq = aarch32_cpu::register::Cntfrq::read().0;
    match entry_state().message(cntfrq) {
        Some(Ok(line)) => log::info!("{line}"),
        Some(Err(line)) => log::error!("{line}"),
        None => {}
    }
}

/// Makes an SMC (SMC Calling Convention, 32-bit): function id and three
/// arguments in r0-r3, result in r0.
#[cfg(target_arch = "arm")]
pub fn smc_call(function: u32, a1: u32, a2: u32, a3: u32) -> u32 {
    let mut r0 = function;
    // SAFETY: an SMC goes to the Secure monitor (QEMU's PSCI, the firmware's, or
    // snowvisor's own from the Secure switch), which preserves r4-r14 under the
    // SMC Calling Convention; r0-r3 are declared clobbered.
    unsafe {
        core::arch::asm!(
            ".arch_extension sec",
            "smc #0",
            inout("r0") r0,
            inout("r1") a1 => _,
            inout("r2") a2 => _,
            inout("r3") a3 => _,
            options(nostack),
        );
    }
    r0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_words_every_state() {
        assert_eq!(EntryState::decode([0, 0, 0, 0]), EntryState::NotSvc);
        assert_eq!(EntryState::decode([0; 4]).message(1), None);
        let s = EntryState::decode([1, 0x4000_01d3, !0, 0]);
        assert_eq!(
            s,
            EntryState::Switched {
                cpsr: 0x4000_01d3,
                cntfrq_written: false
            }
        );
        let line = s.message(62_500_000).unwrap().unwrap();
        assert!(
            line.starts_with("entered in Secure SVC, switched to HYP"),
            "{line}"
        );
        assert!(
            line.contains("kept at the firmware's 62500000 Hz"),
            "{line}"
        );
        let line = EntryState::decode([1, 0x1d3, !0, 1])
            .message(24_000_000)
            .unwrap()
            .unwrap();
        assert!(
            line.contains("was 0, set to the board's 24000000 Hz"),
            "{line}"
        );
        let e = EntryState::decode([2, 0x1d3, 0, 0])
            .message(0)
            .unwrap()
            .unwrap_err();
        assert!(e.starts_with("entered in Non-secure SVC"), "{e}");
        assert!(EntryState::decode([3, 0x1d3, 0, 0])
            .message(0)
            .unwrap()
            .is_err());
        assert!(EntryState::decode([4, 0x1d3, 0, 0])
            .message(0)
            .unwrap()
            .is_err());
        assert_eq!(
            EntryState::decode([9, 0, 0, 0]),
            EntryState::Unknown { word: 9 }
        );
    }
}
