//! Dom0's Xen ABI on the target: the [`GuestMemory`] and [`Platform`] that
//! `xen/` works through, over Dom0's stage 2 and snowvisor's 1:1 view of RAM.
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
//!
//! HYP maps all RAM below 4 GiB 1:1 as normal write-back memory, like Dom0's
//! stage 2, and RAM above through its window page, so the copies below see
//! what Dom0 sees without cache maintenance.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;

use log::{error, info};

use super::xen_space::{Hooks, Space, PAGE};
use crate::arch::armv7::at::{self, Translation};
use crate::arch::armv7::lpae::Table;
use crate::arch::armv7::stage2::Stage2;
use crate::arch::armv7::{cpu, mmu};
use crate::psci;
use snowvisor_dt::Region;
use snowvisor_xen::{
    CacheOp, Fault, GuestMemory, HypervisorLog, MachineAction, Outcome, Platform, PlatformError,
    ShutdownReason, Xen, XenFrame,
};

/// A zeroed page of snowvisor's heap for a grant frame; it lives as long as
/// the domain (grant frames are at most `max_grant_frames`, 64, pages).
fn alloc_page() -> Option<u64> {
    Some(Box::leak(Table::new_boxed()) as *const Table as usize as u64)
}

const HOOKS: Hooks = Hooks {
    alloc_page,
    stage2_changed,
};

/// After a change to Dom0's stage 2: the CPU's TLB entries and those of the
/// owned SMMUs, which walk the same tables.
fn stage2_changed() {
    at::flush_guest_tlb();
    super::iommu::stage2_changed();
}

/// The guest page's physical address for a VA access, checked to be Dom0 RAM.
fn va_pa(sp: &Space, va: u32, write: bool) -> Result<u64, Fault> {
    match at::translate_pl1(va, write) {
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

/// Copies out of physical memory (RAM above 4 GiB through HYP's window).
fn copy_from_pa(pa: u64, out: &mut [u8]) {
    // SAFETY: callers pass a range inside one page that `Space` approved (Dom0
    // RAM or a grant frame): normal memory that `with_phys` maps, to which
    // snowvisor holds no Rust reference. Dom0 does not run meanwhile.
    mmu::with_phys(pa, |p| unsafe {
        core::ptr::copy_nonoverlapping(p.cast_const(), out.as_mut_ptr(), out.len())
    })
}

/// Copies into physical memory.
fn copy_to_pa(pa: u64, data: &[u8]) {
    // SAFETY: as for `copy_from_pa`; the page was also checked to be writable.
    mmu::with_phys(pa, |p| unsafe {
        core::ptr::copy_nonoverlapping(data.as_ptr(), p, data.len())
    })
}

struct Dom0Memory<'a>(&'a RefCell<Space>);

impl GuestMemory for Dom0Memory<'_> {
    fn read(&mut self, gva: u32, buf: &mut [u8]) -> Result<(), Fault> {
        let sp = self.0.borrow();
        by_page(gva, buf.len(), |va, at, n| {
            copy_from_pa(va_pa(&sp, va, false)?, &mut buf[at..at + n]);
            Ok(())
        })
    }

    fn write(&mut self, gva: u32, data: &[u8]) -> Result<(), Fault> {
        let sp = self.0.borrow();
        by_page(gva, data.len(), |va, at, n| {
            copy_to_pa(va_pa(&sp, va, true)?, &data[at..at + n]);
            Ok(())
        })
    }

    fn read_ipa(&mut self, ipa: u64, buf: &mut [u8]) -> Result<(), Fault> {
        let pa = self.0.borrow().ipa_pa(ipa, buf.len(), false)?;
        copy_from_pa(pa, buf);
        Ok(())
    }

    fn write_ipa(&mut self, ipa: u64, data: &[u8]) -> Result<(), Fault> {
        let pa = self.0.borrow().ipa_pa(ipa, data.len(), true)?;
        copy_to_pa(pa, data);
        Ok(())
    }
}

struct Dom0Platform<'a> {
    space: &'a RefCell<Space>,
    upcall: &'a mut bool,
}

impl Platform for Dom0Platform<'_> {
    fn current_vcpu(&self) -> u32 {
        0
    }

    fn console_write(&mut self, bytes: &[u8]) {
        crate::console::write_guest(bytes);
    }

    fn shutdown(&mut self, reason: ShutdownReason) -> Result<(), PlatformError> {
        match reason.hardware_domain_action() {
            MachineAction::Halt => {
                info!("dom0: SCHEDOP_shutdown(poweroff): powering off");
                crate::vcpu::platform_psci(psci::fid::SYSTEM_OFF)
            }
            MachineAction::Restart if matches!(reason, ShutdownReason::Reboot) => {
                info!("dom0: SCHEDOP_shutdown(reboot): resetting");
                crate::vcpu::platform_psci(psci::fid::SYSTEM_RESET)
            }
            MachineAction::Restart => {
                error!("dom0: SCHEDOP_shutdown({reason}): Dom0 stopped; resetting the machine");
                crate::vcpu::platform_psci(psci::fid::SYSTEM_RESET)
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

    fn inject_upcall(&mut self, _vcpu: u32) {
        *self.upcall = true;
    }

    fn cache_flush(&mut self, ipa: u64, len: u32, op: CacheOp) -> Result<(), PlatformError> {
        let pa = self.space.borrow().cache_flush_pa(ipa, len)?;
        // Clean and invalidate serves all three: a clean line is dropped by
        // the invalidate, and a dirty line under a device's write (which a
        // bare invalidate would lose too) is excluded by Linux's streaming
        // DMA rules.
        let _ = op;
        mmu::with_phys(pa, |p| {
            cpu::clean_inval_dcache_range(p as usize, len as usize)
        });
        Ok(())
    }

    /// The RAM log (`ramlog/`) for `sysctl` readconsole: this boot's ring
    /// or the previous boot's copy. Nothing is logged while the ring is held.
    fn log_span(&mut self, which: HypervisorLog) -> Option<(u32, u32)> {
        crate::ramlog::with_ring(|r| match which {
            HypervisorLog::Current => r.current_span(),
            HypervisorLog::Previous => (0, r.previous().len() as u32),
        })
    }

    fn exit_stats(&mut self) -> Option<&dyn snowvisor_xen::ExitCounters> {
        Some(&crate::stats::EXITS)
    }

    fn log_read(&mut self, which: HypervisorLog, at: u32, out: &mut [u8]) -> usize {
        crate::ramlog::with_ring(|r| match which {
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
    /// The upcall PPI should be made pending once the guest has it enabled.
    upcall: bool,
}

impl XenDom0 {
    /// `stage2` is Dom0's (already loaded in VTTBR), `ram` its banks.
    pub fn new(xen: Xen, stage2: Box<Stage2>, ram: Vec<Region>, hyp: Region) -> Self {
        let frames = xen.config().max_grant_frames;
        XenDom0 {
            xen,
            space: RefCell::new(Space::new(stage2, ram, hyp, frames, HOOKS)),
            upcall: false,
        }
    }

    /// The event-channel upcall PPI (INTID).
    pub fn event_ppi(&self) -> u32 {
        self.xen.config().event_ppi
    }

    /// `HVC #0xEA1`: hypercall `nr` (r12) with r0-r4.
    #[inline]
    pub fn hypercall(&mut self, nr: u32, args: [u32; 5]) -> Outcome {
        let XenDom0 { xen, space, upcall } = self;
        let mut mem = Dom0Memory(space);
        let mut plat = Dom0Platform { space, upcall };
        xen.hypercall(&mut mem, &mut plat, nr, args)
    }

    /// Console input for Dom0 (raises VIRQ_CONSOLE); returns bytes taken.
    pub fn console_input(&mut self, bytes: &[u8]) -> usize {
        let XenDom0 { xen, space, upcall } = self;
        let mut mem = Dom0Memory(space);
        let mut plat = Dom0Platform { space, upcall };
        xen.console_input(&mut mem, &mut plat, bytes)
    }

    /// Takes the upcall request if the guest has the PPI enabled now.
    pub fn take_upcall(&mut self, ppi_enabled: bool) -> bool {
        let take = self.upcall && ppi_enabled;
        if take {
            self.upcall = false;
        }
        take
    }

    #[inline]
    pub fn upcall_waiting(&self) -> bool {
        self.upcall
    }

    /// Event channels, grant table and console state, for the debug keys.
    pub fn dump(&mut self, out: &mut dyn fmt::Write) -> fmt::Result {
        let mut mem = Dom0Memory(&self.space);
        self.xen.dump(&mut mem, out)?;
        let (tables, mapped) = self.space.borrow().usage();
        writeln!(
            out,
            "stage 2: {tables} table(s); {mapped} grant frame(s) mapped"
        )
    }
}
