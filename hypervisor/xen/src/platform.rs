//! What the Xen layer needs from the rest of the hypervisor: console, stage-2
//! changes, interrupt injection, cache maintenance and shutdown.
//!
//! Implemented on the target by the domain/vCPU code (and by a model in host
//! tests). Every method gets arguments the Xen layer has already range-checked
//! (frame numbers below 2^28, lengths within one page), but the implementation
//! still owns the final word on *what* may be mapped where: anything it refuses
//! comes back as a [`PlatformError`] and becomes the call's documented error.

use core::fmt;

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

/// Services of the hypervisor used by the hypercall handlers.
pub trait Platform {
    /// The id of the vCPU that issued the hypercall (0-based, = Linux cpu number).
    fn current_vcpu(&self) -> u32;

    /// Writes Dom0 console output (`CONSOLEIO_write`), raw bytes in chunks of at
    /// most 128. Line-ending conversion and the input-focus switch are the
    /// platform's business.
    fn console_write(&mut self, bytes: &[u8]);

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
    /// (all within one page). The platform checks that the page is the
    /// domain's (`BadAddress` otherwise) and operates on its own mapping of it.
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
