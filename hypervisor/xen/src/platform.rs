//! What the Xen layer needs from the rest of the hypervisor: console, stage-2
//! changes, interrupt injection, cache maintenance and shutdown.
//!
//! Implemented on the target by the domain/vCPU code (and by a model in host
//! tests). Every method gets arguments the Xen layer has already range-checked
//! (frame numbers below 2^28, lengths within one page), but the implementation
//! still owns the final word on *what* may be mapped where: anything it refuses
//! comes back as a [`PlatformError`] and becomes the call's documented error.

use alloc::sync::Arc;
use core::fmt;

use super::links::EvtchnLinks;

/// A hypervisor-owned frame that a guest maps with `XENMEM_add_to_physmap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XenFrame {
    /// The domain's `shared_info` page (`XENMAPSPACE_shared_info`, idx 0).
    SharedInfo,
    /// Grant-table frame `n` (`XENMAPSPACE_grant_table`, idx `n`).
    GrantTable(u32),
}

/// Data-cache maintenance requested by `GNTTABOP_cache_flush`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOp {
    Clean,
    Invalidate,
    CleanInvalidate,
}

/// `SCHEDOP_shutdown` reasons (`SHUTDOWN_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShutdownReason {
    PowerOff,
    Reboot,
    Suspend,
    Crash,
    Watchdog,
    SoftReset,
    /// Any other value (Xen truncates the reason to 8 bits).
    Other(u8),
}

impl ShutdownReason {
    /// Decodes `sched_shutdown.reason`. Xen truncates it to 8 bits first
    /// (`domain_shutdown(d, (u8)reason)`), so 0x100 is a poweroff.
    pub fn from_raw(r: u32) -> Self {
        use super::abi::schedop::*;
        match u32::from(r as u8) {
            SHUTDOWN_POWEROFF => ShutdownReason::PowerOff,
            SHUTDOWN_REBOOT => ShutdownReason::Reboot,
            SHUTDOWN_SUSPEND => ShutdownReason::Suspend,
            SHUTDOWN_CRASH => ShutdownReason::Crash,
            SHUTDOWN_WATCHDOG => ShutdownReason::Watchdog,
            SHUTDOWN_SOFT_RESET => ShutdownReason::SoftReset,
            _ => ShutdownReason::Other(r as u8),
        }
    }

    /// Xen's `SHUTDOWN_*` code (`public/sched.h`), as `getdomaininfo`
    /// reports it in `XEN_DOMINF_shutdown`'s bits 23:16.
    pub fn code(self) -> u8 {
        use super::abi::schedop::*;
        match self {
            ShutdownReason::PowerOff => SHUTDOWN_POWEROFF as u8,
            ShutdownReason::Reboot => SHUTDOWN_REBOOT as u8,
            ShutdownReason::Suspend => SHUTDOWN_SUSPEND as u8,
            ShutdownReason::Crash => SHUTDOWN_CRASH as u8,
            ShutdownReason::Watchdog => SHUTDOWN_WATCHDOG as u8,
            ShutdownReason::SoftReset => SHUTDOWN_SOFT_RESET as u8,
            ShutdownReason::Other(c) => c,
        }
    }

    /// What the machine does when the hardware domain shuts down for this
    /// reason, as Xen 4.17's `hwdom_shutdown` (`common/shutdown.c`) decides:
    /// poweroff halts the machine; reboot, watchdog and soft reset (which Xen
    /// does not support for the hardware domain) restart it; crash, suspend
    /// and unknown reasons go to Xen's `maybe_reboot`, which restarts (the
    /// `noreboot` option, which halts instead, does not exist here). The
    /// hardware domain never gets an error back, so Linux never BUGs on one.
    pub fn hardware_domain_action(self) -> MachineAction {
        match self {
            ShutdownReason::PowerOff => MachineAction::Halt,
            _ => MachineAction::Restart,
        }
    }
}

/// The same text as `{:?}` (`PowerOff`, `Other(7)`), without core's Debug
/// builders in the image.
impl fmt::Display for ShutdownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ShutdownReason::PowerOff => "PowerOff",
            ShutdownReason::Reboot => "Reboot",
            ShutdownReason::Suspend => "Suspend",
            ShutdownReason::Crash => "Crash",
            ShutdownReason::Watchdog => "Watchdog",
            ShutdownReason::SoftReset => "SoftReset",
            ShutdownReason::Other(r) => return write!(f, "Other({r})"),
        })
    }
}

/// What happens to the whole machine when the hardware domain shuts down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MachineAction {
    /// Power off (PSCI `SYSTEM_OFF`; Xen's `machine_halt`).
    Halt,
    /// Reset (PSCI `SYSTEM_RESET`; Xen's `machine_restart`).
    Restart,
}

/// Which of the hypervisor's own logs `sysctl` reads (`snowctl dmesg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HypervisorLog {
    /// This boot's log (`XEN_SYSCTL_readconsole`).
    Current,
    /// The log of the boot before the last warm reboot
    /// (`SNOWVISOR_SYSCTL_readconsole_previous`).
    Previous,
}

/// One domain as the platform's list of domains describes it, for
/// `XEN_SYSCTL_getdomaininfolist` and `XEN_DOMCTL_getdomaininfo` (Xen 4.17's
/// `getdomaininfo`, `common/domctl.c`) and for telling an unknown domain
/// (`-ESRCH`) from another domain's state (`-EPERM`). Read without the
/// domain's lock: a snapshot that may be a moment old.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DomainInfo {
    /// Xen's domain id (0: Dom0).
    pub domid: u16,
    /// Its name: the `xen,domain` node's, `Domain-0` for Dom0.
    pub name: &'static str,
    /// Its RAM now and at most, in 4 KiB pages (`tot_pages`, `max_pages`).
    pub tot_pages: u64,
    pub max_pages: u64,
    /// Its vCPUs (`max_vcpu_id` + 1) and how many are online (not PSCI-off).
    pub nr_vcpus: u32,
    pub nr_online_vcpus: u32,
    /// What its vCPUs do: some runs on a CPU now / every online one is blocked
    /// (WFI) / it is paused.
    pub running: bool,
    pub blocked: bool,
    pub paused: bool,
    /// It shut down (`SCHEDOP_shutdown`, PSCI SYSTEM_OFF/RESET, a crash
    /// snowvisor ended), with Xen's `SHUTDOWN_*` code; its memory is kept
    /// until it is destroyed (`dying`).
    pub shutdown: Option<u8>,
    pub dying: bool,
    /// Nanoseconds its vCPUs ran (sum of their `RUNSTATE_running` time).
    pub cpu_time_ns: u64,
    /// Where its `shared_info` is (GFN), 0 before it placed one.
    pub shared_info_gfn: u64,
    /// SPIs of its distributor (`arch_config.nr_spis`).
    pub nr_spis: u32,
    /// Its `xen_domain_handle_t` (the toolstack's UUID for it;
    /// `XEN_DOMCTL_setdomainhandle`), zeroes until set.
    pub handle: [u8; 16],
    /// The cpupool it is in (`getdomaininfo`'s `cpupool`), 0: Pool-0.
    pub cpupool: u32,
}

impl DomainInfo {
    /// Domain `domid` called `name` with `pages` 4 KiB pages of RAM (now
    /// and at most) and `nr_vcpus` vCPUs, `nr_online_vcpus` of them online:
    /// running if one is online, not blocked, paused, shut down or dying,
    /// no CPU time counted, no `shared_info` placed, no SPIs, a zero
    /// handle, in Pool-0. Callers set
    /// what they know beyond that (`DomainInfo { .., ..DomainInfo::new(..) }`).
    pub fn new(
        domid: u16,
        name: &'static str,
        pages: u64,
        nr_vcpus: u32,
        nr_online_vcpus: u32,
    ) -> Self {
        DomainInfo {
            domid,
            name,
            tot_pages: pages,
            max_pages: pages,
            nr_vcpus,
            nr_online_vcpus,
            running: nr_online_vcpus > 0,
            blocked: false,
            paused: false,
            shutdown: None,
            dying: false,
            cpu_time_ns: 0,
            shared_info_gfn: 0,
            nr_spis: 0,
            handle: [0; 16],
            cpupool: 0,
        }
    }
}

/// The machine as `XEN_SYSCTL_physinfo` describes it (Xen 4.17's
/// `common/sysctl.c` and ARM's `arch_do_physinfo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HostInfo {
    /// CPUs up (Xen's `num_online_cpus`), numbered 0.. with the boot CPU 0.
    pub nr_cpus: u32,
    /// CPUs the machine has, up or not (Xen's `nr_cpu_ids`: the device
    /// tree's CPU nodes).
    pub possible_cpus: u32,
    /// Xen's `cpu_khz` on ARM: the generic timer's frequency (CNTFRQ), kHz.
    pub cpu_khz: u32,
    /// RAM of the machine, 4 KiB pages (every memory bank).
    pub total_pages: u64,
    /// RAM the hypervisor keeps for itself (image, heap, RAM log, the
    /// copies of DomUs' boot modules kept for their restarts), pages.
    pub hypervisor_pages: u64,
    /// The lowest RAM frame number (Xen's `first_valid_mfn`).
    pub mfn_start: u64,
    /// One past the highest RAM frame number (Xen's `get_upper_mfn_bound`
    /// + 1).
    pub mfn_end: u64,
    /// The boot-time cpupools' CPUs, by pool ID: bit N is CPU N (numbered
    /// as `nr_cpus`); a pool with none does not exist, except Pool-0, which
    /// always does (Xen's `cpupool0`). Without `xen,cpupool` nodes Pool-0
    /// holds every CPU up.
    pub cpupool_cpus: [u64; MAX_CPUPOOLS],
}

/// At most this many cpupools: each holds at least one CPU, and a GICv2
/// machine has at most 8 (GIC architecture v2, 1.4: CPU interfaces).
pub const MAX_CPUPOOLS: usize = 8;

/// One vCPU as `XEN_DOMCTL_getvcpuinfo` describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VcpuInfo {
    /// Not PSCI-off (Xen: no `_VPF_down`).
    pub online: bool,
    /// Blocked in a WFI or `SCHEDOP_block` (Xen: `_VPF_blocked`).
    pub blocked: bool,
    /// On its CPU now.
    pub running: bool,
    /// Nanoseconds it ran (its `RUNSTATE_running` time).
    pub cpu_time_ns: u64,
    /// The CPU it is placed on (snowvisor pins each vCPU to one CPU): Xen's
    /// `v->processor`, the number of [`HostInfo`]'s CPUs.
    pub cpu: u32,
}

/// Why the platform refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlatformError {
    /// The guest frame (where something should be mapped or flushed) is not
    /// acceptable: outside the IPA space, MMIO, hypervisor memory, ...
    BadAddress,
    /// The frame to be mapped (a granted page) is not the domain's RAM.
    BadFrame,
    /// Out of memory for a new frame or stage-2 table.
    NoMemory,
    /// Valid request the platform does not implement (e.g. suspend).
    NotSupported,
    /// The target frame is in use and cannot be replaced.
    Busy,
}

impl fmt::Display for PlatformError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PlatformError::BadAddress => "bad guest address",
            PlatformError::BadFrame => "frame is not the domain's RAM",
            PlatformError::NoMemory => "out of memory",
            PlatformError::NotSupported => "not supported",
            PlatformError::Busy => "frame in use",
        })
    }
}

/// A domain the control domain asks for (`XEN_DOMCTL_createdomain`,
/// `struct xen_domctl_createdomain` of `public/domctl.h`, Xen 4.17), its
/// values checked by the Xen layer as Xen 4.17's `domain_create` and
/// `arch_sanitise_domain_config` check them on ARM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NewDomain {
    /// The domain ID asked for (below `DOMID_FIRST_RESERVED`); `None`: the
    /// platform picks the next free one, as Xen's `domid` rover does.
    pub domid: Option<u16>,
    /// vCPUs (`max_vcpus`, at least 1).
    pub max_vcpus: u32,
    /// Highest event-channel port (`max_evtchn_port`).
    pub max_evtchn_port: u32,
    /// Grant-table frames at most (`max_grant_frames`, 4 KiB each).
    pub max_grant_frames: u32,
    /// SPIs of its virtual distributor (`arch.nr_spis`; INTIDs 32..32+n).
    pub nr_spis: u32,
    /// The toolstack's UUID for it (`handle`).
    pub handle: [u8; 16],
    /// The cpupool it starts in (`cpupool_id`, 0: Pool-0).
    pub cpupool: u32,
}

/// How the control domain starts a created domain's vCPU
/// (`XEN_DOMCTL_setvcpucontext` with a 32-bit ARM `vcpu_guest_context`,
/// `public/arch-arm.h`): the registers a guest kernel is entered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VcpuStart {
    /// `r0`-`r12` of `user_regs` (a zImage takes r1 = machine type, r2 =
    /// its device tree's IPA).
    pub r: [u32; 13],
    /// Where it starts (`user_regs.pc32`), an IPA with the MMU off.
    pub pc: u32,
    /// `user_regs.cpsr` (mode, masks; Xen's `PSR_GUEST32_INIT` is SVC with
    /// A, I and F masked).
    pub cpsr: u32,
    /// `sctlr` (Xen's `SCTLR_GUEST_INIT`: MMU and caches off).
    pub sctlr: u32,
    /// `ttbcr`, `ttbr0`, `ttbr1`.
    pub ttbcr: u32,
    pub ttbr0: u64,
    pub ttbr1: u64,
    /// `VGCF_online`: the vCPU is up once the domain is unpaused (else it
    /// stays down until the guest's PSCI `CPU_ON`).
    pub online: bool,
}

/// Services of the hypervisor used by the hypercall handlers.
pub trait Platform {
    /// The id of the vCPU that issued the hypercall (0-based, = Linux cpu number).
    fn current_vcpu(&self) -> u32;

    /// Writes Dom0 console output (`CONSOLEIO_write`), raw bytes in chunks of at
    /// most 128. Line-ending conversion and the input-focus switch are the
    /// platform's business.
    fn console_write(&mut self, bytes: &[u8]);

    /// Bytes of console output [`Platform::console_write`] takes now; 0
    /// while the console has no room for the domain (then the write is
    /// continued and issued again, as Xen continues a preempted one: the
    /// guest waits, nothing is lost). Unbounded by default.
    fn console_room(&mut self) -> usize {
        usize::MAX
    }

    /// `SCHEDOP_shutdown`. For the hardware domain the machine stops as
    /// [`ShutdownReason::hardware_domain_action`] says and this does not
    /// return (under QEMU: QEMU exits). If it returns `Ok`, the platform has
    /// made sure this vCPU never runs again, and the guest sees 0. `Err` is
    /// returned to the guest as `-EINVAL`/`-ENOSYS`; Linux then BUGs.
    fn shutdown(&mut self, reason: ShutdownReason) -> Result<(), PlatformError>;

    /// Maps a hypervisor-owned frame into the domain's stage 2 at `gfn`
    /// (read-write, normal write-back memory), replacing whatever was mapped
    /// there. A frame is mapped at one place at most: if it was mapped at
    /// another gfn, that mapping is removed. `GrantTable(n)` frames are
    /// allocated zeroed on first use (`n` < the configured maximum).
    /// For `SharedInfo` the platform may instead keep the guest's own RAM page
    /// at `gfn` and just check that `gfn` is RAM (the notes allow both).
    /// Afterwards `GuestMemory::read_ipa`/`write_ipa` must reach the frame at
    /// `gfn << 12`.
    fn map_frame(&mut self, frame: XenFrame, gfn: u64) -> Result<(), PlatformError>;

    /// A grant map of the domain's own page: maps the RAM page at `frame_gfn`
    /// also at `host_gfn` (read-only if `readonly`), and returns its bus address
    /// (what a device would use for DMA; on a 1:1 domain the physical address
    /// `frame_gfn << 12`). `BadFrame` if `frame_gfn` is not the domain's RAM,
    /// `BadAddress` if `host_gfn` cannot take a mapping.
    fn map_grant(
        &mut self,
        host_gfn: u64,
        frame_gfn: u64,
        readonly: bool,
    ) -> Result<u64, PlatformError>;

    /// Undoes `map_grant`: removes the mapping at `host_gfn` (Xen leaves a hole;
    /// the page was ballooned out before the map). `frame_gfn` is what was
    /// mapped, for checking.
    fn unmap_grant(&mut self, host_gfn: u64, frame_gfn: u64) -> Result<(), PlatformError>;

    /// Word `word` (0: `flags | domid << 16`, 1: the frame; Xen's
    /// `struct grant_entry_v1`, `public/grant_table.h`) of entry `gref` of
    /// domain `dom`'s grant table, for Dom0, the privileged mapper (the Xen
    /// layer asks only for Dom0). Read without that domain's lock: its
    /// grant frames never move in host memory. `BadAddress` for a `gref`
    /// past the frames the table can have; an entry in a frame the domain
    /// never set up reads as 0 (not granted); `NotSupported` when there is
    /// no such domain or it has no grant table.
    fn foreign_grant_word(
        &mut self,
        _dom: u16,
        _gref: u32,
        _word: u32,
    ) -> Result<u32, PlatformError> {
        Err(PlatformError::NotSupported)
    }

    /// If word 0 of entry `gref` of domain `dom`'s grant table is `old`,
    /// makes it `new`; returns the value found. Errors as
    /// [`Platform::foreign_grant_word`].
    fn foreign_grant_cmpxchg(
        &mut self,
        _dom: u16,
        _gref: u32,
        _old: u32,
        _new: u32,
    ) -> Result<u32, PlatformError> {
        Err(PlatformError::NotSupported)
    }

    /// A grant map of another domain's page (Dom0 only): maps page
    /// `frame_gfn` of domain `dom` (its RAM, or a page snowvisor gave it,
    /// such as its xenstore page) at the caller's `host_gfn` (read-only if
    /// `readonly`), replacing a hole or a RAM page the caller gave up;
    /// returns its physical address (`dev_bus_addr`). `BadFrame` if
    /// `frame_gfn` is no page of `dom`'s, `BadAddress` if `host_gfn`
    /// cannot take a mapping.
    fn map_foreign_grant(
        &mut self,
        _host_gfn: u64,
        _dom: u16,
        _frame_gfn: u64,
        _readonly: bool,
    ) -> Result<u64, PlatformError> {
        Err(PlatformError::NotSupported)
    }

    /// Undoes [`Platform::map_foreign_grant`]: removes the mapping at
    /// `host_gfn`, which must be of domain `dom`'s page at physical address
    /// `bus_addr`, leaving a hole (as Xen on ARM does).
    fn unmap_foreign_grant(
        &mut self,
        _host_gfn: u64,
        _dom: u16,
        _bus_addr: u64,
    ) -> Result<(), PlatformError> {
        Err(PlatformError::NotSupported)
    }

    /// HVM parameter `index` of domain `dom` as snowvisor set it up at
    /// boot (`HVM_PARAM_STORE_PFN`, `HVM_PARAM_STORE_EVTCHN`), for the
    /// control domain's `HVMOP_get_param` (the way Xen's `init-dom0less`
    /// finds a boot-time DomU's xenstore channel). `None`: no such domain
    /// or no such parameter kept.
    fn foreign_hvm_param(&mut self, _dom: u16, _index: u32) -> Option<u64> {
        None
    }

    /// The control domain's `HVMOP_set_param` of domain `dom`'s
    /// `HVM_PARAM_STORE_PFN` (what `init-dom0less` sets once xenstored
    /// knows the domain): `NotSupported` when there is no such domain or
    /// it has no xenstore.
    fn set_foreign_store_pfn(&mut self, _dom: u16, _pfn: u64) -> Result<(), PlatformError> {
        Err(PlatformError::NotSupported)
    }

    /// The control domain's `XENMEM_populate_physmap` of page `gfn` of
    /// domain `dom` (`init-dom0less` "allocating" a boot-time DomU's
    /// xenstore page). snowvisor gave the DomU its page at boot, so this
    /// succeeds only for that page, while the DomU is not connected to it
    /// yet (`HVM_PARAM_STORE_PFN` still `~0`), and gives it back zeroed, as
    /// a freshly populated page; `NoMemory` for any other frame (snowvisor
    /// does not grow a DomU), `NotSupported` when there is no such domain.
    fn populate_foreign_frame(&mut self, _dom: u16, _gfn: u64) -> Result<(), PlatformError> {
        Err(PlatformError::NotSupported)
    }

    /// The control domain maps grant-table frame `frame` of domain `dom`
    /// at its own `host_gfn` (`XENMEM_acquire_resource` of
    /// `XENMEM_resource_grant_table`, as `xc_dom_gnttab_seed` does), with
    /// the rules of [`Platform::map_foreign_grant`]; returns the frame's
    /// physical address, which [`Platform::unmap_foreign_grant`] takes.
    /// `BadFrame` if the DomU has not allocated that frame.
    fn map_foreign_grant_frame(
        &mut self,
        _host_gfn: u64,
        _dom: u16,
        _frame: u32,
    ) -> Result<u64, PlatformError> {
        Err(PlatformError::NotSupported)
    }

    /// How many grant-table frames domain `dom` may have (its
    /// `max_grant_frames`); `None` when there is no such domain.
    fn foreign_max_grant_frames(&mut self, _dom: u16) -> Option<u32> {
        None
    }

    /// The control domain's `XEN_DOMCTL_max_mem` of domain `dom`: its
    /// `max_pages` (4 KiB pages) as `getdomaininfo` reports it from now on.
    /// `NotSupported` when there is no such DomU.
    fn set_foreign_max_pages(&mut self, _dom: u16, _pages: u64) -> Result<(), PlatformError> {
        Err(PlatformError::NotSupported)
    }

    /// The control domain's `XEN_DOMCTL_setdomainhandle` of domain `dom`
    /// (`init-dom0less` gives each DomU a UUID): `getdomaininfo` reports
    /// it from now on. `NotSupported` when there is no such DomU.
    fn set_foreign_handle(&mut self, _dom: u16, _handle: [u8; 16]) -> Result<(), PlatformError> {
        Err(PlatformError::NotSupported)
    }

    /// This domain's `HVM_PARAM_STORE_PFN` as the control domain last set
    /// it ([`Platform::set_foreign_store_pfn`]); `None`: what it was given
    /// at boot stands.
    fn own_store_pfn(&mut self) -> Option<u64> {
        None
    }

    /// The domain's RAM in 4 KiB pages as it was built (IPA == PA, every
    /// bank): Xen's `tot_pages` and `max_pages` of a direct-mapped domain
    /// (`XENMEM_current_reservation`, `XENMEM_maximum_reservation`). Pages
    /// released by [`Platform::release_frame`] still count: they stay the
    /// domain's, for [`Platform::populate_frame`] to give back.
    fn ram_pages(&self) -> u32;

    /// `XENMEM_decrease_reservation`: the guest gives up the RAM page at `gfn`;
    /// remove it from stage 2 (a 1:1 domain gets the same page back from
    /// `populate_frame`).
    fn release_frame(&mut self, gfn: u64) -> Result<(), PlatformError>;

    /// `XENMEM_populate_physmap`: put RAM back at `gfn`.
    fn populate_frame(&mut self, gfn: u64) -> Result<(), PlatformError>;

    /// Makes the event-channel upcall PPI pending on `vcpu` (through the vGIC:
    /// a list register, or queued while the PPI is disabled or active).
    /// May be called for a vCPU other than the current one.
    fn inject_upcall(&mut self, vcpu: u32);

    /// Data-cache maintenance on `len` bytes at guest physical address `ipa`
    /// (all within one page). The platform checks that a page is mapped there
    /// as memory (the domain's RAM, or another domain's page it maps: a grant
    /// map; `BadAddress` otherwise) and operates on its own mapping of the
    /// page behind it.
    fn cache_flush(&mut self, ipa: u64, len: u32, op: CacheOp) -> Result<(), PlatformError>;

    /// The byte indexes `first..end` of log `which` that are still held. A
    /// log's bytes are numbered from 0 at the start of its boot; a ring that
    /// wrapped keeps the newest (`first > 0`). `None`: there is no such log
    /// (no RAM log on this board).
    fn log_span(&mut self, _which: HypervisorLog) -> Option<(u32, u32)> {
        None
    }

    /// Copies bytes of log `which` starting at index `at` into `out`; returns
    /// how many (0 when `at` is outside the span; never past its end, which
    /// may have moved since [`Platform::log_span`]).
    fn log_read(&mut self, _which: HypervisorLog, _at: u32, _out: &mut [u8]) -> usize {
        0
    }

    /// The exit counters `SNOWVISOR_SYSCTL_exit_stats` reads (None: not kept).
    fn exit_stats(&mut self) -> Option<&dyn ExitCounters> {
        None
    }

    /// The domain with the lowest id that is at least `first`, if any:
    /// Xen's `for_each_domain` walk, one domain at a time (no allocation).
    /// The calling domain must be among them. `None` by default (no list of
    /// domains: the caller then knows only itself).
    fn domain_info(&mut self, _first: u16) -> Option<DomainInfo> {
        None
    }

    /// The machine's CPUs and memory (`XEN_SYSCTL_physinfo`); `None`: not
    /// known (the call is then `-ENOSYS`).
    fn host_info(&mut self) -> Option<HostInfo> {
        None
    }

    /// vCPU `vcpu` of domain `domid` as last seen (read without that
    /// domain's lock; for the calling domain only `cpu` is current, the Xen
    /// layer has the rest); `None`: no such domain or vCPU.
    fn vcpu_info(&mut self, _domid: u16, _vcpu: u32) -> Option<VcpuInfo> {
        None
    }

    /// `XEN_SYSCTL_debug_keys`: carries out debug key `key` as if typed on
    /// snowvisor's console (its output goes to the console and the RAM log,
    /// where `xl dmesg` reads it). Returns false if the platform has no
    /// debug keys.
    fn debug_key(&mut self, _key: u8) -> bool {
        false
    }

    /// Another domain's event-channel links (lock-free), for inter-domain
    /// channels: `None` if there is no such domain or it has no Xen ABI.
    fn evtchn_peer(&mut self, _domid: u16) -> Option<Arc<EvtchnLinks>> {
        None
    }

    /// Ports were posted to domain `domid`'s inbox: make the CPUs its vCPUs
    /// run on drain it ([`crate::Xen::drain_inbox`] under its lock), e.g. with
    /// a physical SGI. Never takes that domain's lock itself.
    fn kick_domain(&mut self, _domid: u16) {}

    /// `XEN_DOMCTL_createdomain`: a new domain, paused, with no RAM (the
    /// control domain populates it), its vCPUs down, its Xen state new (no
    /// event channel bound, an empty grant table); returns its ID.
    /// `Busy`: the ID asked for is taken (Xen: `-EEXIST`); `NoMemory`: no
    /// room for another domain (Xen: `-ENOMEM`); `BadAddress`: more vCPUs
    /// or SPIs than the platform gives a domain (Xen: `-EINVAL`).
    fn create_domain(&mut self, _cfg: &NewDomain) -> Result<u16, PlatformError> {
        Err(PlatformError::NotSupported)
    }

    /// `XEN_DOMCTL_destroydomain`: domain `dom` (one the control domain
    /// created) stops for good and leaves the list of domains; its RAM goes
    /// back to the free pool once no other domain maps any of its pages.
    /// `Busy`: one of its vCPUs is still being let go of on a CPU (asked
    /// again: a continuation, as Xen's `-ERESTART`). `NotSupported`: no
    /// such domain, or one built at boot.
    fn destroy_domain(&mut self, _dom: u16) -> Result<(), PlatformError> {
        Err(PlatformError::NotSupported)
    }

    /// `XEN_DOMCTL_pausedomain` (`paused`) / `XEN_DOMCTL_unpausedomain` of
    /// a created domain `dom`: its vCPUs stop being scheduled / run again
    /// (an online vCPU that never ran starts as [`VcpuStart`] said).
    /// `Busy`: paused, but a vCPU may still run until its CPU holds it
    /// back (asked again: a continuation, as Xen's `vcpu_sleep_sync`
    /// waits). `NotSupported`: no such domain, or one built at boot.
    fn pause_domain(&mut self, _dom: u16, _paused: bool) -> Result<(), PlatformError> {
        Err(PlatformError::NotSupported)
    }

    /// `XEN_DOMCTL_setvcpucontext` of vCPU `vcpu` of created domain `dom`
    /// (paused, the vCPU never run): how it starts. `BadAddress`: no such
    /// vCPU; `Busy`: the domain is not paused or the vCPU already ran;
    /// `NotSupported`: no such domain, or one built at boot.
    fn set_vcpu_context(
        &mut self,
        _dom: u16,
        _vcpu: u32,
        _start: &VcpuStart,
    ) -> Result<(), PlatformError> {
        Err(PlatformError::NotSupported)
    }

    /// The control domain's `XENMEM_populate_physmap` of `1 << order` pages
    /// at `gfn` (aligned to them) of created domain `dom`: RAM from the free
    /// pool, zeroed, mapped there. `NoMemory`: the pool has no such piece
    /// or the domain would pass its `max_pages`; `Busy`: a page is already
    /// there; `BadAddress`: not in the guest RAM banks of `public/arch-arm.h`
    /// (or the magic region for order 0); `NotSupported`: an order other
    /// than 0 or 9, no such domain, or one built at boot (for which
    /// [`Platform::populate_foreign_frame`] stands).
    fn populate_foreign(&mut self, _dom: u16, _gfn: u64, _order: u32) -> Result<(), PlatformError> {
        Err(PlatformError::NotSupported)
    }

    /// The control domain's `HVMOP_set_param` of parameter `index`
    /// (`HVM_PARAM_*`, `public/hvm/params.h`) of created domain `dom`, which
    /// [`Platform::foreign_hvm_param`] and the domain's own `HVMOP_get_param`
    /// read from then on. `BadAddress`: a parameter snowvisor does not keep
    /// (Xen: `-EINVAL`); `NotSupported`: no such domain.
    fn set_foreign_hvm_param(
        &mut self,
        _dom: u16,
        _index: u32,
        _value: u64,
    ) -> Result<(), PlatformError> {
        Err(PlatformError::NotSupported)
    }

    /// The control domain's `EVTCHNOP_alloc_unbound` with `dom` = created
    /// domain `dom`: a port of `dom`'s, unbound for `remote`; returns it.
    /// `Err`: the errno Xen's `evtchn_alloc_unbound` gives (`-ESRCH` for no
    /// such domain, `-ENOSPC` when its ports are used up).
    fn foreign_alloc_unbound(&mut self, _dom: u16, _remote: u16) -> Result<u32, crate::Errno> {
        Err(crate::Errno::ESRCH)
    }

    /// `XEN_DOMCTL_cacheflush` of `nr` pages from `gfn` of domain `dom`:
    /// cleans and invalidates its RAM there to the point of coherency (the
    /// guest starts with its caches off). Holes are skipped.
    /// `NotSupported`: no such domain.
    fn foreign_cache_flush(&mut self, _dom: u16, _gfn: u64, _nr: u64) -> Result<(), PlatformError> {
        Err(PlatformError::NotSupported)
    }

    /// `SCHEDOP_yield`: a hint; returning at once is correct.
    fn yield_vcpu(&mut self) {}

    /// `SCHEDOP_block`, called only when no event is pending for the current
    /// vCPU: do not resume it until an interrupt is pending for it. Returning
    /// at once is also correct (the guest re-checks and blocks again).
    fn block_vcpu(&mut self) {}
}

/// Trap counters the platform keeps, as `SNOWVISOR_SYSCTL_exit_stats` hands
/// them to Dom0: `[class, key, count]` triples whose class numbers and keys
/// the platform defines (snowvisor's `stats::Class`; `snowctl stats` names them).
pub trait ExitCounters {
    /// Every non-zero counter, in the platform's order; then, if `clear`,
    /// every counter zeroed.
    fn read(&self, clear: bool) -> alloc::vec::Vec<[u32; 3]>;
}
