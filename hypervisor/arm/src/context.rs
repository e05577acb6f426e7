//! A guest vCPU's register state while it does not run: everything of it
//! that lives in the CPU when it does (ARM DDI 0406C.d), saved and restored
//! by a context switch. The layout is plain data; the accesses are
//! `snowvisor_arch_armv7::context`'s.
//!
//! Not here, and why: ACTLR/ACTLR2 (HCR.TAC traps the guest's accesses:
//! it cannot change them), the Performance Monitors and debug registers
//! (HDCR traps them all), the physical timer (snowvisor's: CNTHCTL.PL1PCEN
//! is 0), VPIDR (the CPU's MIDR for every guest), VTCR (one stage-2 format
//! for all guests).

use crate::frame::TrapFrame;
use crate::regs::Banked;

/// SCTLR's reset value on a Cortex-A15 (TRM 4.3.27): MMU, caches and
/// alignment checks off, exception vectors low; what a CPU coming out of
/// PSCI CPU_ON has.
pub const SCTLR_RESET: u32 = 0x00c5_0078;

/// One vCPU's whole register state, with the trap frame the vectors save
/// (r0-r12, LR_usr, ELR_hyp, SPSR_hyp).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VcpuContext {
    /// r0-r12, LR_usr, the return address and CPSR of the guest.
    pub frame: TrapFrame,
    /// SP_usr, r8-r12_fiq and the SP and LR of FIQ, IRQ, SVC, Abort and
    /// Undefined modes, indexed by `Banked as usize`.
    pub banked: [u32; Banked::COUNT],
    /// SPSR of FIQ, IRQ, SVC, Abort and Undefined modes, in that order.
    pub spsr: [u32; 5],
    /// PL1 system control (CP15).
    pub cp15: Cp15,
    /// The virtual timer and PL1's timer controls.
    pub timer: Timer,
    /// VFPv4 / Advanced SIMD registers.
    pub vfp: Vfp,
    /// The GIC virtual CPU interface (GICH).
    pub gic: VgicState,
    /// Stage 2 and what HYP shows the guest of itself.
    pub hyp: HypState,
}

/// The guest's PL1 CP15 registers (Non-secure banked copies, read and
/// written at HYP; ARM ARM B4.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cp15 {
    pub sctlr: u32,
    pub cpacr: u32,
    /// TTBR0 and TTBR1, 64-bit (MRRC/MCRR) for the long-descriptor format.
    pub ttbr0: u64,
    pub ttbr1: u64,
    pub ttbcr: u32,
    pub dacr: u32,
    pub dfsr: u32,
    pub ifsr: u32,
    pub adfsr: u32,
    pub aifsr: u32,
    pub dfar: u32,
    pub ifar: u32,
    /// PAR, 64-bit.
    pub par: u64,
    /// PRRR / MAIR0.
    pub prrr: u32,
    /// NMRR / MAIR1.
    pub nmrr: u32,
    pub amair0: u32,
    pub amair1: u32,
    pub vbar: u32,
    pub contextidr: u32,
    pub tpidrurw: u32,
    pub tpidruro: u32,
    pub tpidrprw: u32,
    pub csselr: u32,
    /// ThumbEE TEECR and TEEHBR (CP14; ID_PFR0.State3 says the CPU has them).
    pub teecr: u32,
    pub teehbr: u32,
}

/// The guest's view of the generic timer (ARM ARM B8).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timer {
    /// CNTV_CTL: ENABLE (bit 0), IMASK (1), ISTATUS (2, read-only).
    pub cntv_ctl: u32,
    /// CNTV_CVAL: compare value in virtual counts.
    pub cntv_cval: u64,
    /// CNTKCTL: PL0's access to the counters and timers, event stream.
    pub cntkctl: u32,
    /// CNTVOFF: virtual count = physical count - this (per domain).
    pub cntvoff: u64,
}

/// CNTV_CTL.ENABLE.
pub const CNTV_ENABLE: u32 = 1;
/// CNTV_CTL.IMASK.
pub const CNTV_IMASK: u32 = 1 << 1;

impl Timer {
    /// When the virtual timer asserts its interrupt, in physical counts
    /// (CNTV_CVAL + CNTVOFF), or `None` while it is disabled or masked:
    /// what wakes a vCPU that waits in WFI with this timer saved.
    pub fn fires_at(&self) -> Option<u64> {
        (self.cntv_ctl & (CNTV_ENABLE | CNTV_IMASK) == CNTV_ENABLE)
            .then(|| self.cntv_cval.saturating_add(self.cntvoff))
    }
}

/// VFPv4-D32 and Advanced SIMD state (ARM ARM B1.11.3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Vfp {
    pub fpexc: u32,
    pub fpscr: u32,
    /// D0-D31.
    pub d: [u64; 32],
}

/// GICv2 virtual CPU interface control (GIC architecture spec 5.3): what
/// the hypervisor interface holds for the vCPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VgicState {
    /// GICH_HCR.
    pub hcr: u32,
    /// GICH_VMCR: the guest's GICV_CTLR, priority mask and binary points.
    pub vmcr: u32,
    /// GICH_APR: active priorities.
    pub apr: u32,
    /// GICH_LR0-63 (only the CPU's count is used).
    pub lr: [u32; 64],
}

impl Default for VgicState {
    fn default() -> Self {
        VgicState {
            hcr: 0,
            vmcr: 0,
            apr: 0,
            lr: [0; 64],
        }
    }
}

/// Per-vCPU HYP settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HypState {
    /// VTTBR: stage-2 root and VMID.
    pub vttbr: u64,
    /// VMPIDR: the MPIDR the vCPU reads.
    pub vmpidr: u32,
}

impl VcpuContext {
    /// A vCPU as PSCI CPU_ON (DEN0022D 6.4) or a kernel's boot protocol
    /// starts it: `frame` (entry, CPSR, argument registers) and everything
    /// else at its reset value (MMU, caches and VFP off, timer disabled,
    /// virtual CPU interface disabled).
    pub fn reset(frame: TrapFrame, vttbr: u64, vmpidr: u32, cntvoff: u64) -> Self {
        VcpuContext {
            frame,
            banked: [0; Banked::COUNT],
            spsr: [0; 5],
            cp15: Cp15 {
                sctlr: SCTLR_RESET,
                ..Cp15::default()
            },
            timer: Timer {
                cntvoff,
                ..Timer::default()
            },
            vfp: Vfp::default(),
            gic: VgicState::default(),
            hyp: HypState { vttbr, vmpidr },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_virtual_timer_wakes_only_when_enabled_and_unmasked() {
        let mut t = Timer {
            cntv_ctl: 0,
            cntv_cval: 1000,
            cntkctl: 0,
            cntvoff: 50,
        };
        assert_eq!(t.fires_at(), None);
        t.cntv_ctl = CNTV_ENABLE;
        assert_eq!(t.fires_at(), Some(1050));
        t.cntv_ctl = CNTV_ENABLE | CNTV_IMASK | 4;
        assert_eq!(t.fires_at(), None);
    }

    #[test]
    fn a_reset_vcpu_has_its_mmu_off_and_its_entry() {
        let f = TrapFrame {
            elr: 0x4000_0000,
            spsr: 0x1d3,
            ..TrapFrame::default()
        };
        let c = VcpuContext::reset(f, 1 << 48 | 0x1000, 0x8000_0001, 0);
        assert_eq!(c.cp15.sctlr, SCTLR_RESET);
        assert_eq!(c.frame.elr, 0x4000_0000);
        assert_eq!(c.hyp.vmpidr, 0x8000_0001);
        assert_eq!(c.vfp.fpexc, 0);
    }
}
