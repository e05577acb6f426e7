//! The context of one physical CPU: the vCPU loaded on it (with its
//! domain), the state snowvisor keeps of its GIC CPU and hypervisor
//! interfaces, its timers and the console input it takes.
//!
//! The kernel keeps one per CPU and reaches it through a single per-CPU
//! accessor (`snowvisor::cpu::this_cpu`); the code here gets it as `&mut PerCpu`.

use alloc::boxed::Box;

use super::Vcpu;
use crate::debugkeys::Console;
use crate::domain::Domain;
use crate::sched::RunQueue;

/// One physical CPU's context.
#[derive(Default)]
pub struct PerCpu {
    /// This CPU's GIC CPU/hypervisor interface as snowvisor drives it.
    pub gic: CpuInterface,
    /// This CPU's timers.
    pub timers: Timers,
    /// The vCPU loaded on this CPU (its registers are in the CPU) and its
    /// domain: the one running, or the last one if it waits in WFI and
    /// nothing else ran since (`None` before the first and after CPU_OFF).
    /// One box: the trap path reaches both with one load.
    pub current: Option<Box<Loaded>>,
    /// This CPU's GIC CPU-interface bit (GICD_ITARGETSR, GICD_SGIR): the
    /// vCPUs placed here have it as their `cpu_mask`.
    pub mask: u8,
    /// The loaded vCPU waits in WFI (PSCI CPU_SUSPEND) for an interrupt.
    pub blocked: bool,
    /// The other vCPUs placed on this CPU (runnable or waiting).
    pub runq: RunQueue<Box<Loaded>>,
    /// A kick arrived: another CPU (or this one) left work for a vCPU of
    /// this CPU (an interrupt, an upcall, a PSCI CPU_ON).
    pub kicked: bool,
    /// When the HYP timer is armed to fire for the scheduler (counts).
    pub timer_at: Option<u64>,
    /// The serial console's input (switch, receive interrupt, debug keys),
    /// handled on the CPU its interrupt targets.
    pub console: Console,
}

/// A domain shared by the CPUs its vCPUs run on. Lock order: a CPU's own
/// slot (`this_cpu`), then its domain, then the global console and RAM
/// log; never another CPU's slot (other CPUs are reached by a kick SGI),
/// and no lock across a guest entry or a WFI.
pub type DomainCell = spin::Mutex<Domain>;

/// A vCPU loaded on a CPU, with its domain.
pub struct Loaded {
    pub domain: &'static DomainCell,
    pub vcpu: Vcpu,
}

/// What snowvisor keeps of a CPU's GIC interfaces (GICv2 with the
/// virtualization extensions, GIC architecture spec 5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuInterface {
    /// GICH_VTR.ListRegs + 1: the list registers of this CPU (0 without GICH).
    pub list_registers: u32,
    /// Last value written to GICH_HCR (0, its reset value, until the first refill).
    pub hcr: u32,
    /// INTID of the maintenance interrupt (the host tree's, PPI 9 = INTID 25
    /// by default, GIC architecture spec 5.3.1).
    pub maintenance_intid: u32,
}

impl Default for CpuInterface {
    fn default() -> Self {
        CpuInterface {
            list_registers: 0,
            hcr: 0,
            maintenance_intid: 25,
        }
    }
}

/// A CPU's generic-timer interrupts (INTIDs from the host tree's
/// `arm,armv7-timer` node: its third interrupt is the virtual timer, the
/// fourth the HYP timer) and what snowvisor counts of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// The HYP timer's PPI (INTID 26 by default).
    pub hyp_intid: u32,
    /// The virtual timer's PPI (INTID 27 by default), delivered to the guest.
    pub vtimer_intid: u32,
    /// HYP timer interrupts taken.
    pub hyp_ticks: u32,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            hyp_intid: 26,
            vtimer_intid: 27,
            hyp_ticks: 0,
        }
    }
}

impl PerCpu {
    /// The loaded vCPU, its domain (to lock) and the CPU interface,
    /// borrowed apart.
    pub fn parts(&mut self) -> Option<(&mut CpuInterface, &'static DomainCell, &mut Vcpu)> {
        let Loaded { domain, vcpu } = &mut **self.current.as_mut()?;
        let cell: &'static DomainCell = domain;
        Some((&mut self.gic, cell, vcpu))
    }
}
