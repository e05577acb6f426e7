//! Domains: the [`Domain`] object (what a guest owns: its memory, stage 2,
//! Xen state, emulated distributor, its vCPUs' shared state) and the pure
//! logic that builds one. Dom0 is built from the host tree and the Plan by
//! the kernel (`snowvisor::domain::build`, on the target); boot-time DomUs
//! (the dom0less `xen,domain` nodes) from their nodes
//! (`snowvisor::domain::domu`, memory chosen by [`domu_mem`]).

pub mod dma_guard;
pub mod domu_mem;
pub mod fault_loop;
pub mod forward;
pub mod layout;
pub mod peer_view;
pub mod pool;
pub mod restart;
pub mod vuart;
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
    /// Xen's domain ID (`domid_t`): 0 for Dom0, 1, 2, ... for the DomUs in
    /// `/chosen` order.
    pub id: u16,
    /// Dom0, or a DomU.
    pub kind: DomainKind,
    /// The name its log lines start with (`dom0`; a DomU's node name, `domU1`).
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
    /// A DomU's emulated UART (`vpl011`), at [`Domain::uart_ipa`].
    pub uart: Option<alloc::boxed::Box<vuart::DomUart>>,
    /// Guest IPA of the page [`Domain::uart`] answers in.
    pub uart_ipa: Region,
    /// IPA of its device tree, given in r2 (Linux's boot protocol: r0 = 0,
    /// r1 = ~0) when its vCPU 0 first starts; taken then. `None` for Dom0,
    /// whose vCPU 0 the boot CPU enters directly.
    pub boot_dtb: Option<u32>,
    /// Whether it runs, or how it ended.
    pub state: DomainState,
    /// Paused by the control domain (`XEN_DOMCTL_pausedomain`): none of
    /// its vCPUs runs, each keeps its registers, until unpaused.
    pub paused: bool,
    /// Why it last ended (`DomainState::Off`): Xen's `SHUTDOWN_*` code
    /// (`public/sched.h`: 0 poweroff, 1 reboot, 3 crash, ...), which the
    /// toolstack reads to act on it (xl's `on_poweroff`, `on_reboot`).
    pub shutdown_code: u8,
    /// CNTVOFF of its vCPUs (counter ticks): the physical count when it
    /// was built (or restarted), so its virtual count starts near 0, as
    /// Xen 4.17's `vcpu_vtimer_init` (`arch/arm/vtimer.c`:
    /// `virt_timer_base.offset = get_cycles()` at domain creation). 0 for
    /// Dom0, which sees the machine's count (its log's times are the
    /// machine's uptime).
    pub cntvoff: u64,
    /// A DomU's way to start again after its SYSTEM_RESET (`None`: it
    /// ends instead).
    pub restart: Option<restart::Restart>,
}

/// Which kind of domain (Xen's hardware domain, or an unprivileged guest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DomainKind {
    /// The hardware domain: 1:1 memory, the host's devices, Xen's privileged ABI.
    Dom0,
    /// A boot-time guest (dom0less): its own memory map, emulated devices only.
    DomU,
}

/// A domain's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DomainState {
    /// Its vCPUs run (or wait for a CPU).
    Running,
    /// Ended by its own PSCI SYSTEM_OFF (or its last vCPU's CPU_OFF), or
    /// a SYSTEM_RESET when it cannot restart ([`Domain::restart`] `None`).
    Off,
    /// Its SYSTEM_RESET: built again once none of its vCPUs is loaded
    /// ([`restart::unloaded`]), then `Running`.
    Restarting,
    /// Ended by snowvisor (its faults, a reset loop, a failed restart).
    Crashed,
}

impl DomainState {
    /// As the domain list prints it.
    pub fn name(self) -> &'static str {
        match self {
            DomainState::Running => "running",
            DomainState::Off => "off",
            DomainState::Restarting => "restarting",
            DomainState::Crashed => "crashed",
        }
    }
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
    /// The faults snowvisor injected into it, for crash containment.
    pub faults: fault_loop::FaultLoop,
    /// Held by a CPU (loaded or in its run queue): its memory may still be
    /// in use, so a restart waits until no vCPU is ([`restart::unloaded`]).
    pub loaded: bool,
    /// Its CPU has held it back since its domain was paused (parked, see
    /// `vcpu::switch`): a pause is complete once every loaded vCPU is held.
    pub held: bool,
}

impl VcpuState {
    pub fn new(mpidr: u32, cpu_mask: u8, power: crate::psci::Power) -> Self {
        VcpuState {
            mpidr,
            cpu_mask,
            power,
            inbox: Vec::new(),
            faults: fault_loop::FaultLoop::new(),
            loaded: false,
            held: false,
        }
    }
}

/// A stage-2 translation regime: the tables' root (PA) and its VMID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stage2Root {
    pub root_pa: u64,
    pub vmid: u8,
}

/// VMIDs (VTTBR.VMID, 8 bits: ARM ARM B4.1.159): 0 unused, [`DOM0_VMID`]
/// Dom0's (its SMMU stream table entries carry it too), the rest for DomUs,
/// handed out in order as they are built, never wrapped into Dom0's.
#[derive(Debug, Clone)]
pub struct VmidPool {
    next: u16,
}

/// Dom0's VMID.
pub const DOM0_VMID: u8 = 1;

impl Default for VmidPool {
    fn default() -> Self {
        VmidPool {
            next: u16::from(DOM0_VMID) + 1,
        }
    }
}

impl VmidPool {
    /// VMIDs a DomU may get: 254.
    pub const DOMU_VMIDS: u16 = 255 - DOM0_VMID as u16;

    /// The next DomU's VMID, or `None` when all [`Self::DOMU_VMIDS`] are taken.
    pub fn take(&mut self) -> Option<u8> {
        let v = u8::try_from(self.next).ok()?;
        self.next += 1;
        Some(v)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domu_vmids_never_reach_dom0s_or_wrap() {
        let mut p = VmidPool::default();
        let got: Vec<u8> = core::iter::from_fn(|| p.take()).collect();
        assert_eq!(got.len(), usize::from(VmidPool::DOMU_VMIDS));
        assert_eq!((got[0], got[got.len() - 1]), (2, 255));
        assert!(!got.contains(&DOM0_VMID) && !got.contains(&0));
        assert_eq!(p.take(), None, "stays exhausted");
    }

    #[test]
    fn restarts_that_come_too_fast_are_a_loop() {
        use restart::{RestartGuard, MAX_RESTARTS, WINDOW_MS};
        let mut g = RestartGuard::default();
        for i in 0..MAX_RESTARTS as u64 {
            assert!(g.allow(1_000 + i * 100), "restart {i}");
        }
        assert!(
            !g.allow(1_000 + WINDOW_MS - 1),
            "one more within the window"
        );
        assert_eq!(g.count(), MAX_RESTARTS as u32);
        // Spread out, restarts go on for ever.
        let mut g = RestartGuard::default();
        for i in 0..50u64 {
            assert!(g.allow(i * (WINDOW_MS / MAX_RESTARTS as u64 + 1)), "{i}");
        }
        assert_eq!(g.count(), 50);
    }
}
