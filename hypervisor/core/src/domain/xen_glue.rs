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
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::fmt;

use log::{error, info};

use super::peer_view::PeerView;
use super::xen_space::{Hooks, Space, PAGE};
use super::{firmware_power, GuestLog};
use crate::hal::Arch;
use crate::psci;
use snowvisor_arm::at::Translation;
use snowvisor_arm::stage2::Stage2;
use snowvisor_dt::Region;
use snowvisor_xen::{
    CacheOp, DomainInfo, EvtchnLinks, Fault, GuestMemory, HostInfo, HypervisorLog, MachineAction,
    Outcome, Platform, PlatformError, ShutdownReason, VcpuInfo, Xen, XenFrame,
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

    // The atomics are real ones (LDREX/STREX through `Arch::update_phys_word`):
    // another vCPU of the domain updates the same words (event-channel
    // bitmaps, grant flags) with exclusives while this one traps.
    fn fetch_or_ipa(&mut self, ipa: u64, bits: u32) -> Result<u32, Fault> {
        self.update_ipa(ipa, &mut |v| Some(v | bits))
    }

    fn fetch_and_ipa(&mut self, ipa: u64, bits: u32) -> Result<u32, Fault> {
        self.update_ipa(ipa, &mut |v| Some(v & bits))
    }

    fn cmpxchg_ipa(&mut self, ipa: u64, current: u32, new: u32) -> Result<u32, Fault> {
        self.update_ipa(ipa, &mut |v| (v == current).then_some(new))
    }
}

impl<A: Arch> Dom0Memory<'_, A> {
    /// One atomic update of the aligned word at `ipa` (stage 2 writable).
    fn update_ipa(&self, ipa: u64, f: &mut dyn FnMut(u32) -> Option<u32>) -> Result<u32, Fault> {
        if !ipa.is_multiple_of(4) {
            return Err(Fault::Misaligned(ipa));
        }
        let pa = self.space.borrow().ipa_pa(ipa, 4, true)?;
        Ok(self.arch.update_phys_word(pa, f))
    }
}

struct Dom0Platform<'a, A> {
    space: &'a RefCell<Space>,
    upcall: &'a mut u32,
    domu: &'a mut Option<DomUSide>,
    vcpu: u32,
    arch: &'a A,
    log: &'a GuestLog,
}

impl<A: Arch> Platform for Dom0Platform<'_, A> {
    fn current_vcpu(&self) -> u32 {
        self.vcpu
    }

    fn console_write(&mut self, bytes: &[u8]) {
        match self.domu.as_mut() {
            Some(d) => d.console(self.arch, bytes),
            None => {
                // console_room said how much fits; if a DomU on another CPU
                // took some of it meanwhile, the queue is sent (waiting for
                // the UART) until the rest fits: nothing of Dom0's is lost.
                let mut rest = bytes;
                while !rest.is_empty() {
                    let n = self.arch.console_write_guest(0, rest);
                    rest = &rest[n..];
                    if n == 0 {
                        self.arch.console_flush_guest();
                    }
                }
            }
        }
    }

    fn console_room(&mut self) -> usize {
        let room = |a: &A| match self.domu.as_ref() {
            Some(d) => d.room(a),
            None => a.console_room(0, 0),
        };
        match room(self.arch) {
            0 => {
                // Send what the UART takes now; the guest issues the rest
                // of its write again (a continuation) until there is room.
                self.arch.console_drain_guest();
                room(self.arch)
            }
            n => n,
        }
    }

    fn shutdown(&mut self, reason: ShutdownReason) -> Result<(), PlatformError> {
        if let Some(d) = self.domu.as_mut() {
            // The domain alone ends: the vCPU code sees it after the call.
            d.shutdown = Some(reason);
            return Ok(());
        }
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

    fn domain_info(&mut self, first: u16) -> Option<DomainInfo> {
        self.arch.domain_info(first)
    }

    fn host_info(&mut self) -> Option<HostInfo> {
        self.arch.host_info()
    }

    fn vcpu_info(&mut self, domid: u16, vcpu: u32) -> Option<VcpuInfo> {
        self.arch.vcpu_info(domid, vcpu)
    }

    fn debug_key(&mut self, key: u8) -> bool {
        crate::debugkeys::run_for_guest(self.arch, key);
        true
    }

    fn evtchn_peer(&mut self, domid: u16) -> Option<Arc<EvtchnLinks>> {
        self.arch.evtchn_peer(domid)
    }

    fn kick_domain(&mut self, domid: u16) {
        self.arch.kick_domain(domid);
    }

    fn foreign_grant_word(&mut self, dom: u16, gref: u32, word: u32) -> Result<u32, PlatformError> {
        match self.foreign_entry(dom, gref, word)? {
            Some(pa) => {
                let mut w = [0u8; 4];
                self.arch.read_phys(pa, &mut w);
                Ok(u32::from_le_bytes(w))
            }
            None => Ok(0),
        }
    }

    fn foreign_grant_cmpxchg(
        &mut self,
        dom: u16,
        gref: u32,
        old: u32,
        new: u32,
    ) -> Result<u32, PlatformError> {
        let Some(pa) = self.foreign_entry(dom, gref, 0)? else {
            return Ok(0);
        };
        // Atomic against the granting guest, which ends foreign access
        // with its own cmpxchg on the same flags word on another CPU.
        Ok(self
            .arch
            .update_phys_word(pa, &mut |v| (v == old).then_some(new)))
    }

    fn map_foreign_grant(
        &mut self,
        host_gfn: u64,
        dom: u16,
        frame_gfn: u64,
        readonly: bool,
    ) -> Result<u64, PlatformError> {
        let view = self.peer(dom)?;
        let pa = view.page_pa(frame_gfn).ok_or(PlatformError::BadFrame)?;
        // Counted before it exists, so that the DomU's restart sees it
        // (`PeerView::close`); refused once the DomU is restarting.
        if !view.begin_map() {
            return Err(PlatformError::BadFrame);
        }
        let mut space = self.space.borrow_mut();
        let r = space
            .map_foreign(host_gfn, pa, readonly, &view)
            .and_then(|b| {
                space.map_bus(pa, readonly).map(|()| b).inspect_err(|_| {
                    let _ = space.unmap_foreign(host_gfn, pa);
                })
            });
        if r.is_err() {
            view.end_map();
        }
        r
    }

    fn unmap_foreign_grant(
        &mut self,
        host_gfn: u64,
        dom: u16,
        bus_addr: u64,
    ) -> Result<(), PlatformError> {
        if self.domu.is_some() {
            return Err(PlatformError::NotSupported);
        }
        let mut space = self.space.borrow_mut();
        let writable = space
            .stage2()
            .entry(host_gfn.saturating_mul(4096))
            .is_some_and(|e| e.writable);
        space.unmap_foreign(host_gfn, bus_addr)?;
        space.unmap_bus(bus_addr, !writable);
        drop(space);
        if let Ok(view) = self.peer(dom) {
            view.end_map();
        }
        Ok(())
    }

    fn foreign_hvm_param(&mut self, dom: u16, index: u32) -> Option<u64> {
        self.peer(dom).ok()?.hvm_param(index)
    }

    fn set_foreign_store_pfn(&mut self, dom: u16, pfn: u64) -> Result<(), PlatformError> {
        if self.peer(dom)?.set_store_pfn(pfn) {
            Ok(())
        } else {
            Err(PlatformError::NotSupported)
        }
    }

    fn populate_foreign_frame(&mut self, dom: u16, gfn: u64) -> Result<(), PlatformError> {
        let view = self.peer(dom)?;
        let pa = view.unconnected_page(gfn).ok_or(PlatformError::NoMemory)?;
        // A populated page reads as zeroes; the DomU does not use it before
        // Dom0 sets its HVM_PARAM_STORE_PFN.
        self.arch.write_phys(pa, &[0u8; 4096]);
        Ok(())
    }

    fn map_foreign_grant_frame(
        &mut self,
        host_gfn: u64,
        dom: u16,
        frame: u32,
    ) -> Result<u64, PlatformError> {
        let view = self.peer(dom)?;
        let pa = view.grant_frame_pa(frame).ok_or(PlatformError::BadFrame)?;
        // Counted as the grant maps are: a restart waits for none.
        if !view.begin_map() {
            return Err(PlatformError::BadFrame);
        }
        let r = self
            .space
            .borrow_mut()
            .map_foreign(host_gfn, pa, false, &view);
        if r.is_err() {
            view.end_map();
        }
        r
    }

    fn foreign_max_grant_frames(&mut self, dom: u16) -> Option<u32> {
        Some(self.peer(dom).ok()?.max_grant_frames())
    }

    fn set_foreign_handle(&mut self, dom: u16, handle: [u8; 16]) -> Result<(), PlatformError> {
        self.peer(dom)?.set_handle(handle);
        Ok(())
    }

    fn create_domain(&mut self, cfg: &snowvisor_xen::NewDomain) -> Result<u16, PlatformError> {
        self.control()?.create(cfg)
    }

    fn destroy_domain(&mut self, dom: u16) -> Result<(), PlatformError> {
        self.control()?.destroy(dom)
    }

    fn pause_domain(&mut self, dom: u16, paused: bool) -> Result<(), PlatformError> {
        self.control()?.pause(dom, paused)
    }

    fn set_vcpu_context(
        &mut self,
        dom: u16,
        vcpu: u32,
        start: &snowvisor_xen::VcpuStart,
    ) -> Result<(), PlatformError> {
        self.control()?.set_vcpu_context(dom, vcpu, start)
    }

    fn populate_foreign(&mut self, dom: u16, gfn: u64, order: u32) -> Result<(), PlatformError> {
        self.control()?.populate(dom, gfn, order)
    }

    fn set_foreign_hvm_param(
        &mut self,
        dom: u16,
        index: u32,
        value: u64,
    ) -> Result<(), PlatformError> {
        self.control()?.set_hvm_param(dom, index, value)
    }

    fn foreign_alloc_unbound(
        &mut self,
        dom: u16,
        remote: u16,
    ) -> Result<u32, snowvisor_xen::Errno> {
        self.control()
            .map_err(|_| snowvisor_xen::Errno::ESRCH)?
            .alloc_unbound(dom, remote)
    }

    fn foreign_cache_flush(&mut self, dom: u16, gfn: u64, nr: u64) -> Result<(), PlatformError> {
        self.control()?.cache_flush(dom, gfn, nr)
    }

    fn set_foreign_max_pages(&mut self, dom: u16, pages: u64) -> Result<(), PlatformError> {
        self.peer(dom)?.set_max_pages(pages);
        Ok(())
    }

    fn own_store_pfn(&mut self) -> Option<u64> {
        let view = self.domu.as_ref()?.view.as_ref()?;
        view.hvm_param(snowvisor_xen::abi::hvmop::PARAM_STORE_PFN)
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

impl<A: Arch> Dom0Platform<'_, A> {
    /// Domain `dom`'s view, for Dom0 only (a DomU reaches no other domain).
    /// The kernel's created domains, for Dom0 only.
    fn control(&self) -> Result<&'static dyn crate::hal::DomainControl, PlatformError> {
        if self.domu.is_some() {
            return Err(PlatformError::NotSupported);
        }
        self.arch
            .domain_control()
            .ok_or(PlatformError::NotSupported)
    }

    fn peer(&self, dom: u16) -> Result<Arc<PeerView>, PlatformError> {
        if self.domu.is_some() {
            return Err(PlatformError::NotSupported);
        }
        self.arch.peer_view(dom).ok_or(PlatformError::NotSupported)
    }

    /// The host address of word `word` of entry `gref` of domain `dom`.
    fn foreign_entry(&self, dom: u16, gref: u32, word: u32) -> Result<Option<u64>, PlatformError> {
        self.peer(dom)?.entry_pa(gref, word)
    }
}

/// What a DomU's Xen state has beyond Dom0's: its `console_io` line (Xen
/// prints a DomU's output line by line with a `(dN) ` prefix) and a
/// `SCHEDOP_shutdown` that ends the domain, not the machine.
#[derive(Debug)]
struct DomUSide {
    domid: u16,
    prefix: alloc::string::String,
    line: Vec<u8>,
    shutdown: Option<ShutdownReason>,
    /// What Dom0 may reach of it.
    view: Option<Arc<PeerView>>,
}

/// Longest console line kept before it is sent anyway.
const LINE_MAX: usize = 256;

impl DomUSide {
    /// Bytes its `console_io` may take now: its share of the console's
    /// queue less the line it is writing (and a prefix), so that every line
    /// it completes fits.
    fn room(&self, a: &impl Arch) -> usize {
        a.console_room(self.domid, 0)
            .saturating_sub(self.line.len() + self.prefix.len())
    }

    fn console(&mut self, a: &impl Arch, bytes: &[u8]) {
        for &b in bytes {
            if self.line.is_empty() {
                self.line.extend_from_slice(self.prefix.as_bytes());
            }
            self.line.push(b);
            if b == b'\n' || self.line.len() >= LINE_MAX {
                a.console_write_line(self.domid, &self.line);
                self.line.clear();
            }
        }
    }
}

/// A domain's Xen state and the address space it works on: Dom0's
/// ([`XenDom0::new`]) or a DomU's ([`XenDom0::new_domu`]).
pub struct XenDom0 {
    xen: Xen,
    space: RefCell<Space>,
    /// Per vCPU (bit n: vCPU n): the upcall PPI should be made pending once
    /// that vCPU has it enabled.
    upcall: u32,
    /// `Some` for a DomU.
    domu: Option<DomUSide>,
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
            domu: None,
        }
    }

    /// A DomU's: `stage2` its tables, `ram` the host memory it has (physical
    /// ranges: its IPAs are Xen's guest banks, not 1:1, so ballooning gives
    /// back no page and populates none, stopping at the first), `hyp`
    /// snowvisor's region. Its `console_io` output goes out line by line
    /// with its `(dN) ` prefix; its `SCHEDOP_shutdown` ends the domain
    /// ([`XenDom0::take_shutdown`]).
    pub fn new_domu(
        xen: Xen,
        stage2: Box<Stage2>,
        ram: Vec<Region>,
        hyp: Region,
        hooks: Hooks,
    ) -> Self {
        let domid = xen.config().domid;
        let mut x = XenDom0 {
            domu: Some(DomUSide {
                domid,
                prefix: alloc::format!("(d{domid}) "),
                line: Vec::new(),
                shutdown: None,
                view: None,
            }),
            ..XenDom0::new(xen, stage2, ram, hyp, hooks)
        };
        x.space.get_mut().set_translated();
        x
    }

    /// A created domain gains RAM: see [`Space::add_ram`].
    pub fn add_ram(&mut self, ipa: u64, pa: u64, size: u64) -> Result<(), PlatformError> {
        self.space.get_mut().add_ram(ipa, pa, size)
    }

    /// A created domain gains a page outside its RAM: see [`Space::add_given`].
    pub fn add_given(&mut self, ipa: u64, pa: u64) -> Result<(), PlatformError> {
        self.space.get_mut().add_given(ipa, pa)
    }

    /// Its grant frames' physical addresses by frame number, for its next
    /// life ([`XenDom0::reuse_grant_frames`]).
    pub fn grant_frame_pas(&self) -> Vec<Option<u64>> {
        self.space.borrow().grant_frame_pas()
    }

    /// A restarted DomU takes its previous life's grant frames (zeroed):
    /// see [`Space::reuse_grant_frames`].
    pub fn reuse_grant_frames(&mut self, pas: &[Option<u64>]) {
        self.space.get_mut().reuse_grant_frames(pas);
    }

    /// Dom0's grant maps of other domains' pages also map each page at its
    /// own address, for devices behind an IOMMU snowvisor owns (their streams
    /// translate through Dom0's stage 2): see [`Space::set_bus_maps`].
    /// `grantable`: the host memory whose pages can be granted to Dom0 (the
    /// DomUs' RAM, snowvisor's region with the pages it gives them), which
    /// sizes the stage-2 tables those maps may make.
    pub fn set_bus_maps(&mut self, grantable: &[Region]) {
        self.space
            .get_mut()
            .set_bus_maps(super::xen_space::bus_tables_for(grantable));
    }

    /// Gives a DomU its view for Dom0 ([`PeerView`]): its grant frames are
    /// recorded there from now on, and its xenstore and PV console
    /// parameters (if the view has them) become its `HVM_PARAM_STORE_*`
    /// and `HVM_PARAM_CONSOLE_*`.
    pub fn set_peer_view(&mut self, view: Arc<PeerView>) {
        use snowvisor_xen::abi::hvmop;
        if let (Some(port), Some(pfn)) = (
            view.hvm_param(hvmop::PARAM_STORE_EVTCHN),
            view.hvm_param(hvmop::PARAM_STORE_PFN),
        ) {
            self.xen.set_xenstore(port as u32, pfn);
        }
        if let (Some(port), Some(pfn)) = (
            view.hvm_param(hvmop::PARAM_CONSOLE_EVTCHN),
            view.hvm_param(hvmop::PARAM_CONSOLE_PFN),
        ) {
            self.xen.set_console(port as u32, pfn);
        }
        self.space.borrow_mut().set_view(view.clone());
        if let Some(d) = self.domu.as_mut() {
            d.view = Some(view);
        }
    }

    /// A DomU's view for Dom0, for the machine's list of domains.
    pub fn peer_view(&self) -> Option<Arc<PeerView>> {
        self.domu.as_ref().and_then(|d| d.view.clone())
    }

    /// The host physical address of grant entry `gref` (8 bytes), its
    /// frame allocated if the domain has not mapped it yet: for seeding
    /// entries before the domain runs, as Xen's toolstack seeds the
    /// reserved entries (`xc_dom_gnttab_seed`).
    pub fn grant_entry_pa(&mut self, gref: u32) -> Result<u64, PlatformError> {
        use snowvisor_xen::abi::gnttabop::ENTRIES_PER_FRAME;
        let pa = self
            .space
            .borrow_mut()
            .grant_frame_pa(gref / ENTRIES_PER_FRAME)?;
        Ok(pa + u64::from(gref % ENTRIES_PER_FRAME) * 8)
    }

    /// An unbound port of this domain for domain `remote` (the lowest
    /// free), as Xen's `evtchn_alloc_unbound` at domain construction.
    pub fn alloc_unbound(&mut self, remote: u16) -> Result<u32, snowvisor_xen::Errno> {
        self.xen.alloc_unbound_for(remote)
    }

    /// The domain as `getdomaininfo` sees it (its Xen state and RAM).
    pub fn info(&self) -> DomainInfo {
        self.xen.domain_info(self.space.borrow().ram_pages())
    }

    /// vCPU `vcpu` as `getvcpuinfo` sees it (its runstate; `cpu` 0).
    pub fn vcpu_info(&self, vcpu: u32) -> VcpuInfo {
        self.xen.vcpu_info(vcpu)
    }

    /// A DomU's `SCHEDOP_shutdown` reason, once: the caller ends the domain.
    pub fn take_shutdown(&mut self) -> Option<ShutdownReason> {
        self.domu.as_mut().and_then(|d| d.shutdown.take())
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
        self.with_xen(arch, log, vcpu, |xen, mem, plat| {
            xen.hypercall(mem, plat, nr, args)
        })
    }

    /// Runs `f` on the domain's Xen state with its guest memory and its
    /// platform (vCPU `vcpu` on the CPU `arch`; `log` the domain's): the
    /// one place that splits the domain into what a [`Xen`] entry point
    /// takes.
    #[inline]
    fn with_xen<A: Arch, R>(
        &mut self,
        arch: &A,
        log: &GuestLog,
        vcpu: u32,
        f: impl FnOnce(&mut Xen, &mut dyn GuestMemory, &mut dyn Platform) -> R,
    ) -> R {
        let XenDom0 {
            xen,
            space,
            upcall,
            domu,
        } = self;
        let mut mem = Dom0Memory { space, arch };
        let mut plat = Dom0Platform {
            space,
            upcall,
            domu,
            vcpu,
            arch,
            log,
        };
        f(xen, &mut mem, &mut plat)
    }

    /// Console input for Dom0 (raises VIRQ_CONSOLE); returns bytes taken.
    pub fn console_input<A: Arch>(&mut self, arch: &A, log: &GuestLog, bytes: &[u8]) -> usize {
        self.with_xen(arch, log, 0, |xen, mem, plat| {
            xen.console_input(mem, plat, bytes)
        })
    }

    /// The domain's event-channel links, for the machine's list of domains
    /// (other domains bind to and send on its ports through them).
    pub fn evtchn_links(&self) -> Arc<EvtchnLinks> {
        self.xen.evtchn_links()
    }

    /// Whether other domains posted events it has not drained yet.
    #[inline]
    pub fn inbox_posted(&self) -> bool {
        self.xen.inbox_posted()
    }

    /// Raises the ports other domains posted (under this domain's lock, on
    /// a CPU of one of its vCPUs; `log` is the domain's).
    pub fn drain_inbox<A: Arch>(&mut self, arch: &A, log: &GuestLog) {
        self.with_xen(arch, log, 0, |xen, mem, plat| xen.drain_inbox(mem, plat));
    }

    /// The Xen state, for setting up static event channels at boot
    /// ([`Xen::static_unbound`], [`Xen::static_bind`]).
    pub fn xen_mut(&mut self) -> &mut Xen {
        &mut self.xen
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
