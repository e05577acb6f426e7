//! Dom0's Xen ABI: the [`GuestMemory`] and [`Platform`] that `xen/` works
//! through, over Dom0's stage 2 and the CPU ([`Arch`]: address translation,
//! physical copies, cache maintenance, firmware power calls).
//!
//! - Guest virtual addresses are translated with `ATS12NSOPR`/`ATS12NSOPW`
//!   (the guest's stage 1 and stage 2, as its PL1 would access them), page by
//!   page; the physical page must be Dom0's RAM.
//! - Guest physical addresses go through [`Stage2::entry`]; the page must be
//!   Dom0's RAM or a grant-table frame snowvisor gave it, and writable for a
//!   write.
//! - Never snowvisor's region, never MMIO: such an access is a [`Fault`], and
//!   the hypercall fails with `-EFAULT` (or its documented error).
//!
//! Those rules, and the stage-2 edits behind the platform calls, are
//! [`super::xen_space`]'s (pure, host-tested); this file adds the CPU parts.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;

use log::{error, info};

use super::xen_space::{Hooks, Space, PAGE};
use super::{firmware_power, GuestLog};
use crate::hal::Arch;
use crate::psci;
use snowvisor_arm::at::Translation;
use snowvisor_arm::stage2::Stage2;
use snowvisor_dt::Region;
use snowvisor_xen::{
    CacheOp, Fault, GuestMemory, HypervisorLog, MachineAction, Outcome, Platform, PlatformError,
    ShutdownReason, Xen, XenFrame,
};

/// The guest page's physical address for a VA access, checked to be Dom0 RAM.
fn va_pa(a: &impl Arch, sp: &Space, va: u32, write: bool) -> Result<u64, Fault> {
    match a.translate_pl1(va, write) {
        Translation::Pa(pa) => sp.check_va_pa(va, pa),
        Translation::Stage1Fault | Translation::Stage2Fault => Err(Fault::Unmapped(va.into())),
    }
}

/// Calls `f(va, offset, len)` for each page-contained piece of a buffer.
fn by_page(
    gva: u32,
    len: usize,
    mut f: impl FnMut(u32, usize, usize) -> Result<(), Fault>,
) -> Result<(), Fault> {
    let mut done = 0;
    while done < len {
        let va = u32::try_from(done)
            .ok()
            .and_then(|d| gva.checked_add(d))
            .ok_or(Fault::Unmapped(gva.into()))?;
        let n = (len - done).min((PAGE - u64::from(va & 0xfff)) as usize);
        f(va, done, n)?;
        done += n;
    }
    Ok(())
}

struct Dom0Memory<'a, A> {
    space: &'a RefCell<Space>,
    arch: &'a A,
}

impl<A: Arch> GuestMemory for Dom0Memory<'_, A> {
    fn read(&mut self, gva: u32, buf: &mut [u8]) -> Result<(), Fault> {
        let sp = self.space.borrow();
        by_page(gva, buf.len(), |va, at, n| {
            let pa = va_pa(self.arch, &sp, va, false)?;
            self.arch.read_phys(pa, &mut buf[at..at + n]);
            Ok(())
        })
    }

    fn write(&mut self, gva: u32, data: &[u8]) -> Result<(), Fault> {
        let sp = self.space.borrow();
        by_page(gva, data.len(), |va, at, n| {
            let pa = va_pa(self.arch, &sp, va, true)?;
            self.arch.write_phys(pa, &data[at..at + n]);
            Ok(())
        })
    }

    fn read_ipa(&mut self, ipa: u64, buf: &mut [u8]) -> Result<(), Fault> {
        let pa = self.space.borrow().ipa_pa(ipa, buf.len(), false)?;
        self.arch.read_phys(pa, buf);
        Ok(())
    }

    fn write_ipa(&mut self, ipa: u64, data: &[u8]) -> Result<(), Fault> {
        let pa = self.space.borrow().ipa_pa(ipa, data.len(), true)?;
        self.arch.write_phys(pa, data);
        Ok(())
    }
}

struct Dom0Platform<'a, A> {
    space: &'a RefCell<Space>,
    upcall: &'a mut u32,
    vcpu: u32,
    arch: &'a A,
    log: &'a GuestLog,
}

impl<A: Arch> Platform for Dom0Platform<'_, A> {
    fn current_vcpu(&self) -> u32 {
        self.vcpu
    }

    fn console_write(&mut self, bytes: &[u8]) {
        self.arch.console_write_guest(bytes);
    }

    fn shutdown(&mut self, reason: ShutdownReason) -> Result<(), PlatformError> {
        match reason.hardware_domain_action() {
            MachineAction::Halt => {
                info!("dom0: SCHEDOP_shutdown(poweroff): powering off");
                firmware_power(self.arch, self.log, psci::fid::SYSTEM_OFF)
            }
            MachineAction::Restart if matches!(reason, ShutdownReason::Reboot) => {
                info!("dom0: SCHEDOP_shutdown(reboot): resetting");
                firmware_power(self.arch, self.log, psci::fid::SYSTEM_RESET)
            }
            MachineAction::Restart => {
                error!("dom0: SCHEDOP_shutdown({reason}): Dom0 stopped; resetting the machine");
                firmware_power(self.arch, self.log, psci::fid::SYSTEM_RESET)
            }
        }
    }

    fn map_frame(&mut self, frame: XenFrame, gfn: u64) -> Result<(), PlatformError> {
        self.space.borrow_mut().map_frame(frame, gfn)
    }

    fn map_grant(
        &mut self,
        host_gfn: u64,
        frame_gfn: u64,
        readonly: bool,
    ) -> Result<u64, PlatformError> {
        self.space
            .borrow_mut()
            .map_grant(host_gfn, frame_gfn, readonly)
    }

    fn unmap_grant(&mut self, host_gfn: u64, frame_gfn: u64) -> Result<(), PlatformError> {
        self.space.borrow_mut().unmap_grant(host_gfn, frame_gfn)
    }

    fn ram_pages(&self) -> u32 {
        self.space.borrow().ram_pages()
    }

    fn release_frame(&mut self, gfn: u64) -> Result<(), PlatformError> {
        self.space.borrow_mut().release_frame(gfn)
    }

    fn populate_frame(&mut self, gfn: u64) -> Result<(), PlatformError> {
        self.space.borrow_mut().populate_frame(gfn)
    }

    fn inject_upcall(&mut self, vcpu: u32) {
        *self.upcall |= 1u32.checked_shl(vcpu).unwrap_or(0);
    }

    fn cache_flush(&mut self, ipa: u64, len: u32, op: CacheOp) -> Result<(), PlatformError> {
        let pa = self.space.borrow().cache_flush_pa(ipa, len)?;
        // Clean and invalidate serves all three: a clean line is dropped by
        // the invalidate, and a dirty line under a device's write (which a
        // bare invalidate would lose too) is excluded by Linux's streaming
        // DMA rules.
        let _ = op;
        self.arch.clean_dcache_phys(pa, len as usize);
        Ok(())
    }

    /// The RAM log ([`crate::ramlog`]) for `sysctl` readconsole: this boot's ring
    /// or the previous boot's copy. Nothing is logged while the ring is held.
    fn log_span(&mut self, which: HypervisorLog) -> Option<(u32, u32)> {
        self.arch.with_ram_log(|r| match which {
            HypervisorLog::Current => r.current_span(),
            HypervisorLog::Previous => (0, r.previous().len() as u32),
        })
    }

    fn exit_stats(&mut self) -> Option<&dyn snowvisor_xen::ExitCounters> {
        Some(self.arch.exits())
    }

    fn log_read(&mut self, which: HypervisorLog, at: u32, out: &mut [u8]) -> usize {
        self.arch
            .with_ram_log(|r| match which {
                HypervisorLog::Current => r.read_current(at, out),
                HypervisorLog::Previous => r.read_previous(at, out),
            })
            .unwrap_or(0)
    }
}

/// Dom0's Xen state and the address space it works on.
pub struct XenDom0 {
    xen: Xen,
    space: RefCell<Space>,
    /// Per vCPU (bit n: vCPU n): the upcall PPI should be made pending once
    /// that vCPU has it enabled.
    upcall: u32,
}

impl XenDom0 {
    /// `stage2` is Dom0's (already loaded in VTTBR), `ram` its banks, `hyp`
    /// snowvisor's own region; `hooks` allocate grant frames and follow
    /// stage-2 changes (TLB and SMMU invalidation).
    pub fn new(xen: Xen, stage2: Box<Stage2>, ram: Vec<Region>, hyp: Region, hooks: Hooks) -> Self {
        let frames = xen.config().max_grant_frames;
        XenDom0 {
            xen,
            space: RefCell::new(Space::new(stage2, ram, hyp, frames, hooks)),
            upcall: 0,
        }
    }

    /// The event-channel upcall PPI (INTID).
    pub fn event_ppi(&self) -> u32 {
        self.xen.config().event_ppi
    }

    /// `HVC #0xEA1` from vCPU `vcpu`: hypercall `nr` (r12) with r0-r4, on
    /// the CPU `arch`; `log` is the domain's (reported before a shutdown
    /// stops the machine).
    #[inline]
    pub fn hypercall<A: Arch>(
        &mut self,
        arch: &A,
        log: &GuestLog,
        vcpu: u32,
        nr: u32,
        args: [u32; 5],
    ) -> Outcome {
        let XenDom0 { xen, space, upcall } = self;
        let mut mem = Dom0Memory { space, arch };
        let mut plat = Dom0Platform {
            space,
            upcall,
            vcpu,
            arch,
            log,
        };
        xen.hypercall(&mut mem, &mut plat, nr, args)
    }

    /// Console input for Dom0 (raises VIRQ_CONSOLE); returns bytes taken.
    pub fn console_input<A: Arch>(&mut self, arch: &A, log: &GuestLog, bytes: &[u8]) -> usize {
        let XenDom0 { xen, space, upcall } = self;
        let mut mem = Dom0Memory { space, arch };
        let mut plat = Dom0Platform {
            space,
            upcall,
            vcpu: 0,
            arch,
            log,
        };
        xen.console_input(&mut mem, &mut plat, bytes)
    }

    /// Takes `vcpu`'s upcall request if it has the PPI enabled now.
    pub fn take_upcall(&mut self, vcpu: u32, ppi_enabled: bool) -> bool {
        let take = self.upcall_waiting(vcpu) && ppi_enabled;
        if take {
            self.upcall &= !(1 << vcpu);
        }
        take
    }

    /// vCPU `vcpu`, the one on this CPU (its stage 1 translates the area's
    /// address), enters runstate `state` (`snowvisor_xen::abi::runstate`)
    /// now; `write: false` only counts it (a vCPU starting with its MMU off).
    pub fn set_runstate<A: Arch>(&mut self, arch: &A, vcpu: u32, state: u32, write: bool) {
        let hz = u64::from(arch.counter_hz().max(1));
        let now_ns = (u128::from(arch.counter()) * 1_000_000_000 / u128::from(hz)) as u64;
        if write {
            let XenDom0 { xen, space, .. } = self;
            let mut mem = Dom0Memory { space, arch };
            xen.set_runstate(&mut mem, vcpu, state, now_ns);
        } else {
            self.xen.note_runstate(vcpu, state, now_ns);
        }
    }

    /// Whether an upcall waits for a vCPU other than `vcpu`.
    #[inline]
    pub fn upcall_for_others(&self, vcpu: u32) -> bool {
        self.upcall & !1u32.checked_shl(vcpu).unwrap_or(0) != 0
    }

    /// Whether an upcall waits for `vcpu`.
    #[inline]
    pub fn upcall_waiting(&self, vcpu: u32) -> bool {
        self.upcall & 1u32.checked_shl(vcpu).unwrap_or(0) != 0
    }

    /// Event channels, grant table and console state, for the debug keys.
    pub fn dump<A: Arch>(&mut self, arch: &A, out: &mut dyn fmt::Write) -> fmt::Result {
        let mut mem = Dom0Memory {
            space: &self.space,
            arch,
        };
        self.xen.dump(&mut mem, out)?;
        let (tables, mapped) = self.space.borrow().usage();
        writeln!(
            out,
            "stage 2: {tables} table(s); {mapped} grant frame(s) mapped"
        )
    }
}
