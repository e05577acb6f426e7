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
//! HYP maps all RAM 1:1 as normal write-back memory, like Dom0's stage 2, so
//! the copies below see what Dom0 sees without cache maintenance.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;

use log::{error, info};

use crate::arch::armv7::at::{self, Translation};
use crate::arch::armv7::cpu;
use crate::arch::armv7::lpae::Table;
use crate::arch::armv7::stage2::{S2Entry, S2Mem, Stage2};
use crate::dt::Region;
use crate::psci;
use crate::xen::{
    CacheOp, Fault, GuestMemory, Outcome, Platform, PlatformError, ShutdownReason, Xen, XenFrame,
};

const PAGE: u64 = 4096;
/// Dom0's IPA space is 32 bits (VTCR.T0SZ = 0).
const IPA_LIMIT: u64 = 1 << 32;
/// Stage-2 tables Dom0's hypercalls may make snowvisor allocate in all (2 MiB
/// of the heap): block splits for grant maps and ballooned pages.
const MAX_STAGE2_TABLES: usize = 512;

/// A grant-table frame: a zeroed page of snowvisor's heap given to Dom0.
#[derive(Debug, Clone, Copy)]
struct GrantFrame {
    pa: u64,
    /// Where Dom0 mapped it (`XENMAPSPACE_grant_table`).
    gfn: Option<u64>,
}

/// Dom0's physical address space as snowvisor manages it.
struct Space {
    stage2: &'static mut Stage2,
    /// Dom0's RAM banks (IPA == PA).
    ram: Vec<Region>,
    /// snowvisor's image, stack and heap.
    hyp: Region,
    grant_frames: Vec<Option<GrantFrame>>,
}

impl Space {
    /// Whether `pa` is Dom0's RAM (never snowvisor's).
    fn is_ram_pa(&self, pa: u64) -> bool {
        let at = Region { base: pa, size: 1 };
        pa < IPA_LIMIT && !self.hyp.overlaps(&at) && self.ram.iter().any(|r| r.overlaps(&at))
    }

    fn is_grant_frame_pa(&self, pa: u64) -> bool {
        let page = pa & !(PAGE - 1);
        self.grant_frames.iter().flatten().any(|f| f.pa == page)
    }

    /// The stage-2 entry at `ipa` if it is one of Dom0's own RAM pages.
    fn ram_page_at(&self, ipa: u64) -> Option<S2Entry> {
        self.stage2
            .entry(ipa)
            .filter(|e| e.mem == S2Mem::Ram && self.is_ram_pa(e.pa))
    }

    /// Whether `ipa` may take a new mapping: a hole or a RAM page, not MMIO
    /// (devices, the GIC's CPU interface), inside the IPA space.
    fn replaceable(&self, ipa: u64) -> bool {
        ipa < IPA_LIMIT && self.stage2.entry(ipa).is_none_or(|e| e.mem == S2Mem::Ram)
    }

    fn budget(&self, ipa: u64) -> Result<(), PlatformError> {
        if self.stage2.table_count() + self.stage2.tables_needed(ipa) > MAX_STAGE2_TABLES {
            return Err(PlatformError::NoMemory);
        }
        Ok(())
    }

    fn map(&mut self, ipa: u64, pa: u64, writable: bool) -> Result<(), PlatformError> {
        self.budget(ipa)?;
        let r = self.stage2.map_page(ipa, pa, S2Mem::Ram, writable);
        at::flush_guest_tlb();
        r.map(|_| ()).map_err(|_| PlatformError::BadAddress)
    }

    fn unmap(&mut self, ipa: u64) -> Result<(), PlatformError> {
        self.budget(ipa)?;
        let r = self.stage2.unmap_page(ipa);
        at::flush_guest_tlb();
        r.map(|_| ()).map_err(|_| PlatformError::BadAddress)
    }

    /// The physical address of a page-contained IPA access.
    fn ipa_pa(&self, ipa: u64, len: usize, write: bool) -> Result<u64, Fault> {
        if (ipa & (PAGE - 1)) + len as u64 > PAGE {
            return Err(Fault::Denied(ipa));
        }
        let e = self.stage2.entry(ipa).ok_or(Fault::Unmapped(ipa))?;
        if e.mem != S2Mem::Ram {
            return Err(Fault::Unmapped(ipa));
        }
        if (write && !e.writable) || !(self.is_ram_pa(e.pa) || self.is_grant_frame_pa(e.pa)) {
            return Err(Fault::Denied(ipa));
        }
        Ok(e.pa)
    }
}

/// The guest page's physical address for a VA access, checked to be Dom0 RAM.
fn va_pa(sp: &Space, va: u32, write: bool) -> Result<u64, Fault> {
    match at::translate_pl1(va, write) {
        Translation::Pa(pa) if sp.is_ram_pa(pa) => Ok(pa),
        Translation::Pa(_) => Err(Fault::Denied(va.into())),
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

/// Copies out of physical memory.
fn copy_from_pa(pa: u64, out: &mut [u8]) {
    // SAFETY: callers pass a range inside one page that `Space` approved (Dom0
    // RAM or a grant frame): normal memory in HYP's identity map, to which
    // snowvisor holds no Rust reference. Dom0 does not run meanwhile.
    unsafe { core::ptr::copy_nonoverlapping(pa as usize as *const u8, out.as_mut_ptr(), out.len()) }
}

/// Copies into physical memory.
fn copy_to_pa(pa: u64, data: &[u8]) {
    // SAFETY: as for `copy_from_pa`; the page was also checked to be writable.
    unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), pa as usize as *mut u8, data.len()) }
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

fn gfn_ipa(gfn: u64) -> Result<u64, PlatformError> {
    gfn.checked_mul(PAGE)
        .filter(|&i| i < IPA_LIMIT)
        .ok_or(PlatformError::BadAddress)
}

impl Platform for Dom0Platform<'_> {
    fn current_vcpu(&self) -> u32 {
        0
    }

    fn console_write(&mut self, bytes: &[u8]) {
        crate::console::write_raw(bytes);
    }

    fn shutdown(&mut self, reason: ShutdownReason) -> Result<(), PlatformError> {
        match reason {
            ShutdownReason::PowerOff => {
                info!("dom0: SCHEDOP_shutdown(poweroff): powering off");
                crate::vcpu::platform_psci(psci::fid::SYSTEM_OFF)
            }
            ShutdownReason::Reboot => {
                info!("dom0: SCHEDOP_shutdown(reboot): resetting");
                crate::vcpu::platform_psci(psci::fid::SYSTEM_RESET)
            }
            ShutdownReason::Crash | ShutdownReason::Watchdog => {
                error!("dom0: SCHEDOP_shutdown({reason:?}): Dom0 crashed; resetting the machine");
                crate::vcpu::platform_psci(psci::fid::SYSTEM_RESET)
            }
            _ => Err(PlatformError::NotSupported),
        }
    }

    fn map_frame(&mut self, frame: XenFrame, gfn: u64) -> Result<(), PlatformError> {
        let ipa = gfn_ipa(gfn)?;
        let mut sp = self.space.borrow_mut();
        let n = match frame {
            // shared_info stays in the page Dom0 gave for it.
            XenFrame::SharedInfo => {
                return match sp.ram_page_at(ipa) {
                    Some(e) if e.writable => Ok(()),
                    _ => Err(PlatformError::BadAddress),
                };
            }
            XenFrame::GrantTable(n) => n as usize,
        };
        if n >= sp.grant_frames.len() || !sp.replaceable(ipa) {
            return Err(PlatformError::BadAddress);
        }
        let f = match sp.grant_frames[n] {
            Some(f) => f,
            None => GrantFrame {
                pa: Box::leak(Table::new_boxed()) as *const Table as usize as u64,
                gfn: None,
            },
        };
        if let Some(old) = f.gfn.filter(|&g| g != gfn) {
            sp.unmap(old * PAGE)?;
        }
        sp.map(ipa, f.pa, true)?;
        for other in sp.grant_frames.iter_mut().flatten() {
            if other.gfn == Some(gfn) {
                other.gfn = None;
            }
        }
        sp.grant_frames[n] = Some(GrantFrame {
            pa: f.pa,
            gfn: Some(gfn),
        });
        Ok(())
    }

    fn map_grant(
        &mut self,
        host_gfn: u64,
        frame_gfn: u64,
        readonly: bool,
    ) -> Result<u64, PlatformError> {
        let (host, frame) = (gfn_ipa(host_gfn)?, gfn_ipa(frame_gfn)?);
        let mut sp = self.space.borrow_mut();
        let pa = sp.ram_page_at(frame).ok_or(PlatformError::BadFrame)?.pa;
        if !sp.replaceable(host) {
            return Err(PlatformError::BadAddress);
        }
        sp.map(host, pa, !readonly)?;
        // Dom0 is 1:1: the bus address of its page is its physical address.
        Ok(pa)
    }

    fn unmap_grant(&mut self, host_gfn: u64, frame_gfn: u64) -> Result<(), PlatformError> {
        let (host, frame) = (gfn_ipa(host_gfn)?, gfn_ipa(frame_gfn)?);
        let mut sp = self.space.borrow_mut();
        let expected = sp.stage2.entry(frame).map_or(frame, |e| e.pa);
        match sp.ram_page_at(host) {
            Some(e) if e.pa == expected => sp.unmap(host),
            _ => Err(PlatformError::BadAddress),
        }
    }

    fn release_frame(&mut self, gfn: u64) -> Result<(), PlatformError> {
        let ipa = gfn_ipa(gfn)?;
        let mut sp = self.space.borrow_mut();
        match sp.ram_page_at(ipa) {
            Some(e) if e.pa == ipa => sp.unmap(ipa),
            _ => Err(PlatformError::BadAddress),
        }
    }

    fn populate_frame(&mut self, gfn: u64) -> Result<(), PlatformError> {
        let ipa = gfn_ipa(gfn)?;
        let mut sp = self.space.borrow_mut();
        if !sp.is_ram_pa(ipa) {
            return Err(PlatformError::BadAddress);
        }
        match sp.stage2.entry(ipa) {
            None => sp.map(ipa, ipa, true),
            Some(e) if e.pa == ipa && e.writable => Ok(()),
            Some(_) => Err(PlatformError::Busy),
        }
    }

    fn inject_upcall(&mut self, _vcpu: u32) {
        *self.upcall = true;
    }

    fn cache_flush(&mut self, ipa: u64, len: u32, op: CacheOp) -> Result<(), PlatformError> {
        let sp = self.space.borrow();
        let e = sp.ram_page_at(ipa).ok_or(PlatformError::BadAddress)?;
        if (ipa & (PAGE - 1)) + u64::from(len) > PAGE {
            return Err(PlatformError::BadAddress);
        }
        // Clean and invalidate serves all three: a clean line is dropped by
        // the invalidate; a dirty one written back before a device's data
        // arrives (what a bare invalidate would also risk losing) is what
        // Linux's streaming DMA rules already exclude.
        let _ = op;
        cpu::clean_inval_dcache_range(e.pa as usize, len as usize);
        Ok(())
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
    pub fn new(xen: Xen, stage2: &'static mut Stage2, ram: Vec<Region>, hyp: Region) -> Self {
        let frames = xen.config().max_grant_frames as usize;
        XenDom0 {
            xen,
            space: RefCell::new(Space {
                stage2,
                ram,
                hyp,
                grant_frames: alloc::vec![None; frames],
            }),
            upcall: false,
        }
    }

    /// The event-channel upcall PPI (INTID).
    pub fn event_ppi(&self) -> u32 {
        self.xen.config().event_ppi
    }

    /// `HVC #0xEA1`: hypercall `nr` (r12) with r0-r4.
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

    pub fn upcall_waiting(&self) -> bool {
        self.upcall
    }

    /// Event channels, grant table and console state, for the debug keys.
    pub fn dump(&mut self, out: &mut dyn fmt::Write) -> fmt::Result {
        let mut mem = Dom0Memory(&self.space);
        self.xen.dump(&mut mem, out)?;
        let sp = self.space.borrow();
        let mapped = sp
            .grant_frames
            .iter()
            .flatten()
            .filter(|f| f.gfn.is_some())
            .count();
        writeln!(
            out,
            "stage 2: {} table(s); {mapped} grant frame(s) mapped",
            sp.stage2.table_count()
        )
    }
}
