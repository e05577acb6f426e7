//! What the arch-independent core (the trap dispatcher, the domain's Xen
//! state, the debug keys) needs from the CPU, as one trait: the trapped
//! guest's register file beyond the [`TrapFrame`] (banked registers, PL1
//! system registers, the syndrome and fault addresses), the GIC's CPU and
//! hypervisor interfaces (list registers), timers, stage-2 installation and
//! invalidation, guest memory through address translation (AT), cache
//! maintenance, device registers a guest's access is forwarded to, idling
//! and power.
//!
//! Beyond the CPU, the core needs the machine's console, RAM log and exit
//! counters, which the kernel holds: [`Services`], a supertrait of [`Arch`],
//! so that one `&impl Arch` carries both and the core never calls back up.
//!
//! The kernel implements both over `snowvisor_arch_armv7`, its drivers and its
//! globals (`snowvisor::cpu::Armv7`); `fake::FakeArch` (host tests) implements them on
//! the host for tests. Callers are
//! generic over it (`&impl Arch`), so the target build has one monomorphic
//! instance and no dynamic dispatch on the trap path.
//!
//! Methods take `&self`: they act on the hardware of the CPU running the
//! caller, which holds its per-CPU context ([`crate::vcpu::PerCpu`]); the fake keeps
//! its state in cells.
//!
//! [`TrapFrame`]: snowvisor_arm::frame::TrapFrame

#[cfg(test)]
pub mod fake;

use core::fmt;

use snowvisor_arm::at::Translation;
use snowvisor_arm::context::VcpuContext;
use snowvisor_arm::exception::FaultRegs;
use snowvisor_arm::hsr::Hsr;
use snowvisor_arm::regs::Banked;

use crate::ramlog::Ring;
use crate::stats::Exits;

/// The guest's PL1 system registers that exception entry depends on
/// (ARM ARM B1.8: the vector base and the fault status format).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GuestControl {
    /// SCTLR (V, TE, EE bits matter for exception entry).
    pub sctlr: u32,
    /// VBAR: the guest's vector base when SCTLR.V = 0.
    pub vbar: u32,
    /// TTBCR (EAE selects the long-descriptor fault status format).
    pub ttbcr: u32,
}

/// The kernel's domains the control domain creates at run time: the
/// [`snowvisor_xen::Platform`] methods of the same names, for Dom0's
/// hypercalls (the Xen layer has checked the caller is the control domain
/// and decoded the arguments). Each takes the named domain's lock while the
/// caller holds Dom0's: Dom0 before a created domain is the one order in
/// which two domains' locks are ever held (a created domain never takes
/// Dom0's). Errors as the Platform methods document.
pub trait DomainControl: Sync {
    /// [`snowvisor_xen::Platform::create_domain`].
    fn create(&self, cfg: &snowvisor_xen::NewDomain) -> Result<u16, snowvisor_xen::PlatformError>;
    /// [`snowvisor_xen::Platform::destroy_domain`]; `Busy` while one of its
    /// vCPUs is still loaded on a CPU (the CPUs were kicked: ask again).
    fn destroy(&self, dom: u16) -> Result<(), snowvisor_xen::PlatformError>;
    /// [`snowvisor_xen::Platform::pause_domain`].
    fn pause(&self, dom: u16, paused: bool) -> Result<(), snowvisor_xen::PlatformError>;
    /// [`snowvisor_xen::Platform::set_vcpu_context`].
    fn set_vcpu_context(
        &self,
        dom: u16,
        vcpu: u32,
        start: &snowvisor_xen::VcpuStart,
    ) -> Result<(), snowvisor_xen::PlatformError>;
    /// [`snowvisor_xen::Platform::populate_foreign`].
    fn populate(&self, dom: u16, gfn: u64, order: u32) -> Result<(), snowvisor_xen::PlatformError>;
    /// [`snowvisor_xen::Platform::set_foreign_hvm_param`].
    fn set_hvm_param(
        &self,
        dom: u16,
        index: u32,
        value: u64,
    ) -> Result<(), snowvisor_xen::PlatformError>;
    /// [`snowvisor_xen::Platform::foreign_alloc_unbound`].
    fn alloc_unbound(&self, dom: u16, remote: u16) -> Result<u32, snowvisor_xen::Errno>;
    /// [`snowvisor_xen::Platform::foreign_cache_flush`].
    fn cache_flush(&self, dom: u16, gfn: u64, nr: u64) -> Result<(), snowvisor_xen::PlatformError>;
}

/// What the core uses of the machine beyond the CPU: the console, the RAM
/// log and the exit counters, one each per machine (the kernel's; the fake
/// keeps its own).
pub trait Services {
    /// The exit counters (`snowctl stats`, the `s` debug key).
    fn exits(&self) -> &Exits;
    /// Writes snowvisor's own text (a debug key's lines, the input-switch
    /// banner) as is to the console UART and the RAM log.
    fn console_write(&self, args: fmt::Arguments<'_>);
    /// Queues console output of domain `domid` for the UART, unchanged, as
    /// it comes (Dom0's hvc0; a DomU's while the console's input is on it),
    /// as much as its room takes ([`Services::console_room`]), and sends what
    /// the UART takes without waiting (it never holds the CPU for a polled
    /// UART); returns the bytes taken. The RAM log does not get them.
    fn console_write_guest(&self, domid: u16, bytes: &[u8]) -> usize;
    /// Queues one whole line of DomU `domid`'s console (its `(dN) ` prefix
    /// and line end included), kept whole next to Dom0's output
    /// ([`crate::console::LineMux`]); the caller made sure of the room
    /// (a line beyond it is lost and counted).
    fn console_write_line(&self, domid: u16, line: &[u8]);
    /// Bytes of console output domain `domid` may queue now (its share of
    /// the queue: [`crate::console::LineMux::room`]). If fewer than `want`,
    /// the domain is woken ([`Services::kick_domain`]) once it has room.
    fn console_room(&self, domid: u16, want: usize) -> usize;
    /// Bytes of domain `domid`'s console output the queue lost since boot
    /// (it wrote beyond its room).
    fn console_lost(&self, domid: u16) -> u64;
    /// Sends queued guest output while the UART takes it without waiting.
    fn console_drain_guest(&self);
    /// Sends all queued guest output, held lines included, waiting for the
    /// UART (before the machine or a domain stops).
    fn console_flush_guest(&self);
    /// Acknowledges the console UART's receive interrupt and drains its FIFO
    /// into `out` (up to its length); returns the bytes read (0: none, or no UART).
    fn console_receive(&self, out: &mut [u8]) -> usize;
    /// Runs `f` on the RAM log's ring, if one is attached and nobody else
    /// holds it (the sysctl that reads it); `None` otherwise.
    fn with_ram_log<R>(&self, f: impl FnOnce(&mut Ring<'static>) -> R) -> Option<R>;
    /// The machine's domains, for Xen's domain list
    /// (`XEN_SYSCTL_getdomaininfolist`, `snowctl list`): the one with the
    /// lowest id at least `first`, read without any domain's lock (a
    /// snapshot). `None` by default: a domain then lists only itself.
    fn domain_info(&self, _first: u16) -> Option<snowvisor_xen::DomainInfo> {
        None
    }
    /// The machine's CPUs and memory for `XEN_SYSCTL_physinfo` (`xl info`);
    /// `None` by default (the sysctl is then `-ENOSYS`).
    fn host_info(&self) -> Option<snowvisor_xen::HostInfo> {
        None
    }
    /// Domain `domid`'s vCPU `vcpu` as last seen, read without its lock
    /// (`XEN_DOMCTL_getvcpuinfo`: `xl vcpu-list`); `None` by default.
    fn vcpu_info(&self, _domid: u16, _vcpu: u32) -> Option<snowvisor_xen::VcpuInfo> {
        None
    }
    /// Domain `domid`'s event-channel links (`Xen::evtchn_links`), for
    /// inter-domain channels; `None`: no such domain or no Xen ABI.
    fn evtchn_peer(&self, _domid: u16) -> Option<alloc::sync::Arc<snowvisor_xen::EvtchnLinks>> {
        None
    }
    /// What Dom0 may reach of domain `domid` for grant maps of its grants
    /// and its xenstore parameters ([`crate::domain::peer_view`]), read
    /// without its lock; `None`: no such domain or no Xen ABI.
    fn peer_view(
        &self,
        _domid: u16,
    ) -> Option<alloc::sync::Arc<crate::domain::peer_view::PeerView>> {
        None
    }
    /// The domains the control domain creates at run time (`xl create`),
    /// which the kernel keeps ([`DomainControl`]); `None`: it creates none.
    fn domain_control(&self) -> Option<&'static dyn DomainControl> {
        None
    }
    /// Events were posted to domain `domid`'s inbox: kick the CPUs its
    /// vCPUs run on (a physical SGI), which drain it under that domain's
    /// lock on their way back into the guest. Never takes that lock.
    fn kick_domain(&self, _domid: u16) {}
    /// Checksums the memory no guest may change again against the baseline
    /// taken at boot ([`crate::integrity`]) and prints the result; `why`
    /// says what prompted it (a debug key, a domain that ended).
    fn integrity_check(&self, why: &str);
}

/// The CPU as the core sees it. Every method acts on the CPU running the
/// caller and on the guest vCPU loaded on it (the one that trapped).
pub trait Arch: Services {
    // --- The trap: syndrome and fault addresses (ARM ARM B3.13.6, B4.1.61).

    /// HSR of the trap being handled.
    fn hsr(&self) -> Hsr;
    /// HDFAR: the faulting guest VA of a data abort.
    fn hdfar(&self) -> u32;
    /// HIFAR: the faulting guest VA of a prefetch abort.
    fn hifar(&self) -> u32;
    /// HPFAR: IPA\[39:12\] of a stage-2 fault in bits \[31:4\].
    fn hpfar(&self) -> u32;

    // --- The guest's register file beyond the trap frame.

    /// The guest's banked register `r`: the SP and LR of its modes, FIQ
    /// mode's r8-r12 (which one an instruction names: `snowvisor_arm::regs::locate`).
    fn banked(&self, r: Banked) -> u32;
    /// Writes the guest's banked register `r`.
    fn set_banked(&self, r: Banked, v: u32);
    /// Writes SPSR and LR of guest mode `mode` (ABT or UND: the modes an
    /// injected exception enters).
    fn set_banked_spsr_lr(&self, mode: u32, spsr: u32, lr: u32);
    /// The guest's SCTLR, VBAR and TTBCR.
    fn guest_control(&self) -> GuestControl;
    /// Writes the guest's DFAR/DFSR or IFAR/IFSR for an injected abort.
    fn set_fault_regs(&self, regs: FaultRegs);
    /// The guest's DFAR and DFSR (for reports).
    fn guest_data_fault(&self) -> (u32, u32);
    /// MIDR of this CPU (what the guest's VPIDR shows).
    fn midr(&self) -> u32;
    /// ACTLR of this CPU (read-only to the guest).
    fn actlr(&self) -> u32;

    // --- Time: the generic timer (ARM ARM B8).

    /// CNTPCT: the physical count.
    fn counter(&self) -> u64;
    /// CNTFRQ: counter ticks per second (0 if firmware did not set it).
    fn counter_hz(&self) -> u32;
    /// Sets CNTV_CTL.IMASK: the guest's virtual timer stops asserting its
    /// interrupt until the guest writes CNTV_CTL again.
    fn mask_vtimer(&self);
    /// CNTVOFF: the guest's virtual count is the physical count minus this.
    fn set_virtual_offset(&self, ticks: u64);
    /// Arms the HYP (CNTHP) timer to fire in `ticks`.
    fn arm_hyp_timer(&self, ticks: u32);
    /// Disables and masks the HYP timer (after its interrupt).
    fn stop_hyp_timer(&self);
    /// Arms the HYP timer to fire when the physical count reaches `at`
    /// (CNTHP_CVAL): the scheduler's next decision.
    fn arm_hyp_timer_at(&self, at: u64);

    // --- Context switch.

    /// Saves the state of the vCPU loaded on this CPU, all but its trap
    /// frame (the caller copies that), into `ctx`: banked registers, CP15,
    /// VFP/Advanced SIMD, virtual timer (then disabled, so it cannot fire
    /// for the next vCPU), the first `lrs` list registers, GICH_APR/VMCR/HCR.
    fn save_vcpu(&self, ctx: &mut VcpuContext, lrs: usize);
    /// Loads `ctx` (all but the trap frame) into this CPU, the inverse of
    /// [`Arch::save_vcpu`], with its stage 2 (VTTBR) and VMPIDR, and
    /// invalidates the guest TLB entries the previous vCPU left.
    fn load_vcpu(&self, ctx: &VcpuContext, lrs: usize);

    // --- Idle and power.

    /// Waits for an interrupt (WFI at HYP, interrupts masked: the
    /// interrupt wakes the wait and is taken when the guest runs again).
    fn wait_for_interrupt(&self);
    /// A system PSCI function (SYSTEM_OFF, SYSTEM_RESET) passed to the
    /// firmware. Never returns: if the firmware does, the machine's fatal
    /// path reports it.
    fn firmware_psci(&self, function: u32) -> !;

    // --- The physical GIC: distributor, CPU interface, hypervisor interface.

    /// Enables physical interrupt `intid` at `priority`, targeting this CPU.
    fn irq_enable(&self, intid: u32, priority: u8);
    /// Disables physical interrupt `intid`.
    fn irq_disable(&self, intid: u32);
    /// Configures an SPI as edge-triggered (true) or level-sensitive.
    fn irq_set_edge_triggered(&self, intid: u32, edge: bool);
    /// GICC_EOIR: priority drop of the acknowledged interrupt `iar`.
    fn irq_end(&self, iar: u32);
    /// GICC_DIR: deactivation of `iar`.
    fn irq_deactivate(&self, iar: u32);
    /// GICD_SGIR: software-generated interrupt `intid` (0-15) to the CPUs
    /// in `targets` (a bit per CPU interface).
    fn send_sgi(&self, intid: u32, targets: u8);
    /// GICD_ITARGETSR: SPI `intid` goes to the CPUs in `targets` (a bit per
    /// CPU interface).
    fn irq_set_targets(&self, intid: u32, targets: u8);
    /// Whether the GIC has a hypervisor interface (GICH); without one no
    /// list register exists and the methods below do nothing.
    fn has_list_registers(&self) -> bool;
    /// GICH_LRn.
    fn list_register(&self, n: usize) -> u32;
    /// Writes GICH_LRn.
    fn set_list_register(&self, n: usize, v: u32);
    /// GICH_ELRSR1:ELRSR0: a set bit per empty list register.
    fn empty_list_registers(&self) -> u64;
    /// Writes GICH_HCR.
    fn set_gich_hcr(&self, v: u32);

    // --- Stage 2 and guest memory.

    /// Configures HYP to run a guest on the stage-2 tables rooted at
    /// `root_pa` under `vmid` (VTCR, VTTBR, traps), invalidating the TLB.
    fn install_stage2(&self, root_pa: u64, vmid: u8);
    /// Translates guest VA `va` as a PL1 read (or write) of the guest would
    /// (ATS12NSOPR/W: its stage 1, then stage 2).
    fn translate_pl1(&self, va: u32, write: bool) -> Translation;
    /// Copies from physical memory; the range lies within one page that the
    /// caller checked to be the guest's RAM or a frame snowvisor gave it.
    fn read_phys(&self, pa: u64, out: &mut [u8]);
    /// Copies into physical memory, under the same rule as [`Arch::read_phys`].
    fn write_phys(&self, pa: u64, data: &[u8]);
    /// Replaces the 4-byte aligned word at `pa` (same rule as
    /// [`Arch::read_phys`], writable) by `f(old)` atomically with respect to
    /// a guest using exclusives on another CPU, or leaves it when `f`
    /// returns `None`; returns the old value. `f` may run more than once.
    fn update_phys_word(&self, pa: u64, f: &mut dyn FnMut(u32) -> Option<u32>) -> u32;
    /// Cleans and invalidates `len` bytes at `pa` to the point of coherency.
    fn clean_dcache_phys(&self, pa: u64, len: usize);

    // --- Device registers a guest's access is forwarded to.

    /// Reads `size` (1, 2 or 4) bytes of a device register at `pa`,
    /// zero-extended, as one access of that size. The caller checked that
    /// `pa` is aligned to `size`, below 4 GiB and inside a device's registers
    /// (`crate::domain::forward::check`).
    fn read_device(&self, pa: u64, size: u32) -> u32;
    /// Writes the low `size` (1, 2 or 4) bytes of `value` to a device
    /// register at `pa`, as one access, under the rule of [`Arch::read_device`].
    fn write_device(&self, pa: u64, size: u32, value: u32);
}

/// Milliseconds on the generic counter (for rate limits).
pub fn now_ms(a: &impl Arch) -> u64 {
    a.counter() / u64::from(a.counter_hz().max(1)).div_ceil(1000)
}
