//! Domains: the [`Domain`] object (what a guest owns: its memory, stage 2,
//! Xen state, emulated distributor, its vCPUs' shared state) and the pure
//! logic that builds one. For now there is one domain, Dom0, built from the
//! host tree and the Plan by the kernel (`snowvisor::domain::build`, on the
//! target), with a vCPU on each CPU.

pub mod dma_guard;
pub mod forward;
pub mod layout;
pub mod xen_glue;
pub mod xen_params;
pub mod xen_space;
pub mod zimage;

use alloc::string::String;
use alloc::vec::Vec;

use log::warn;

use crate::hal::Arch;
use crate::ratelimit::{RateLimit, Verdict};
use crate::vgic::VDist;
use snowvisor_dt::Region;
use xen_glue::XenDom0;

/// A guest: its identity, memory, stage 2, Xen state and interrupt
/// controller. Its vCPUs ([`crate::vcpu::Vcpu`]) run on physical CPUs and
/// reach it through their CPU's context ([`crate::vcpu::PerCpu`]).
pub struct Domain {
    /// Xen's domain ID (`domid_t`): 0 for Dom0.
    pub id: u16,
    /// The name its log lines start with (`dom0`).
    pub name: &'static str,
    /// Its RAM banks (IPA ranges; Dom0's are 1:1 with PA).
    pub memory: Vec<Region>,
    /// Its stage-2 tables: root PA and VMID, loaded in VTTBR while it runs
    /// (the tables themselves belong to the address space in [`Self::xen`],
    /// whose hypercalls edit them).
    pub stage2: Stage2Root,
    /// Guest IPA of its (emulated) distributor.
    pub gicd: Region,
    /// Its emulated GICv2 distributor.
    pub vdist: VDist,
    /// Host device nodes by MMIO region, to name the owner of a faulting address.
    pub devices: Vec<(Region, String)>,
    /// Device registers (PA = IPA, byte ranges) in pages it does not have
    /// because they hold an owned IOMMU's registers too: snowvisor performs
    /// its accesses to them ([`forward`]).
    pub forwarded: Vec<Region>,
    /// Stage-2 faults it took (reported, then injected as aborts).
    pub stage2_faults: u32,
    /// The Xen ABI it sees (`HVC #0xEA1`): event channels, grant table,
    /// console, its address space; `None` for a guest without Xen.
    pub xen: Option<XenDom0>,
    /// What it can make snowvisor print, rate-limited.
    pub log: GuestLog,
    /// Its vCPUs as the others see them, by vCPU ID (Xen's `vcpu_id`, the
    /// vGIC's CPU interface number).
    pub vcpus: Vec<VcpuState>,
}

/// What a domain keeps of each vCPU for the other vCPUs (under the
/// domain's lock): its identity, power state and the virtual interrupts
/// raised for it elsewhere. The running part is the CPU's
/// [`crate::vcpu::Vcpu`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VcpuState {
    /// The MPIDR it sees (its physical CPU's: vCPUs are pinned 1:1).
    pub mpidr: u32,
    /// Its physical CPU's GIC CPU interface (GICD_SGIR target-list bit),
    /// for kicks.
    pub cpu_mask: u8,
    pub power: crate::psci::Power,
    /// INTIDs other vCPUs made pending for it (SGIs, software-pending),
    /// moved into its queue on its own CPU.
    pub inbox: Vec<u32>,
}

impl VcpuState {
    pub fn new(mpidr: u32, cpu_mask: u8, power: crate::psci::Power) -> Self {
        VcpuState {
            mpidr,
            cpu_mask,
            power,
            inbox: Vec::new(),
        }
    }
}

/// A stage-2 translation regime: the tables' root (PA) and its VMID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stage2Root {
    pub root_pa: u64,
    pub vmid: u8,
}

/// Rate limit for what a guest can make snowvisor print (its faults, refused
/// traps and calls): 10 lines at once, then one per 500 ms, the rate of Xen's
/// `printk_ratelimit` (10 per 5 s). Times in milliseconds.
#[derive(Debug, Clone)]
pub struct GuestLog {
    name: &'static str,
    limit: RateLimit,
}

impl GuestLog {
    /// The limit for domain `name` (the prefix of its "suppressed" line).
    pub const fn new(name: &'static str) -> Self {
        GuestLog {
            name,
            limit: RateLimit::new(10, 500),
        }
    }

    /// Whether a guest-triggered message may be printed at `now_ms`; the first
    /// one let through after a flood first says how many were dropped.
    pub fn allowed(&mut self, now_ms: u64) -> bool {
        match self.limit.check(now_ms) {
            Verdict::Suppress => false,
            Verdict::Print { suppressed } => {
                if suppressed > 0 {
                    warn!(target: "guest", "{}: {suppressed} messages suppressed", self.name);
                }
                true
            }
        }
    }

    /// Says how many messages were dropped and not yet counted in a log
    /// line (before the machine stops).
    pub fn report_suppressed(&self) {
        let n = self.limit.suppressed();
        if n > 0 {
            warn!(target: "guest", "{}: {n} messages suppressed", self.name);
        }
    }
}

/// A system PSCI call on a guest's behalf (SYSTEM_OFF, SYSTEM_RESET): the
/// guest's last words (suppressed-message count, queued console output)
/// first, then the firmware. Never returns.
pub fn firmware_power(a: &impl Arch, log: &GuestLog, function: u32) -> ! {
    log.report_suppressed();
    a.console_flush_guest();
    a.firmware_psci(function)
}

#[cfg(test)]
impl GuestLog {
    /// Messages dropped since the last one printed.
    pub fn suppressed(&self) -> u64 {
        self.limit.suppressed()
    }
}
