//! What Dom0 reaches of a DomU without taking the DomU's lock (the rule of
//! ARCHITECTURE.md: no two domains' locks at once): where the DomU's grant
//! frames are in host memory, which host page backs each of its guest
//! frames, and the xenstore and PV console parameters snowvisor gave it at
//! boot. Dom0's
//! grant map of a DomU's grant (`GNTTABOP_map_grant_ref`, `dom` = the
//! DomU) reads and marks the entry and maps the page through it.
//!
//! Built with the DomU, published in the machine's list of domains, then
//! only read, except the grant frames' addresses, each set once per life
//! of the DomU (a grant frame is a page of snowvisor's that never moves or
//! goes away; the DomU only moves where it maps it in its own IPA space),
//! and the count of Dom0's mappings of its pages.
//!
//! A DomU's restart ([`PeerView::close`]) refuses new mappings, and goes
//! on only if Dom0 maps none of its pages: its next life reuses the same
//! host RAM, and Dom0 must never see that life's memory through a mapping
//! of the last one's. If Dom0 still maps one, the DomU is not restarted
//! but ends (its memory stays as it was, Dom0 keeps what it maps until it
//! unmaps it, as Xen keeps a dying domain's pages while another domain
//! maps them). Otherwise [`PeerView::reopen`] forgets the last life's
//! grant frames (their entries are never read again: old grants are gone)
//! and the same view serves the next life, so the machine's list of
//! domains keeps one view per DomU.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU16, AtomicU32, AtomicU64, Ordering};

use super::domu_mem::{self, Extent};
use snowvisor_xen::abi::{gnttabop, hvmop};
use snowvisor_xen::PlatformError;

const PAGE: u64 = 4096;
/// Bytes of a v1 grant entry (`struct grant_entry_v1`).
const ENTRY_SIZE: u64 = 8;
/// An HVM parameter that is not set (no xenstore, no PV console).
const NONE: u64 = u64::MAX;

/// A DomU as Dom0 may see it (see the module documentation).
#[derive(Debug)]
pub struct PeerView {
    /// Its domain ID (a domain Dom0 creates again in the same place takes
    /// a new one: [`PeerView::set_domid`]).
    domid: AtomicU16,
    /// Host physical address of grant frame `n`, 0 until allocated.
    grant_frames: Box<[AtomicU64]>,
    /// Its RAM: guest ranges and the host ranges behind them (a domain
    /// Dom0 creates gains them as Dom0 populates it).
    ram: spin::Mutex<Vec<Extent>>,
    /// Pages snowvisor gave it outside its RAM (its console and xenstore
    /// pages in Xen's magic region): (GFN, host physical address).
    pages: spin::Mutex<Vec<(u64, u64)>>,
    /// `HVM_PARAM_STORE_EVTCHN`, if it has a xenstore ([`NONE`] if not).
    store_port: AtomicU64,
    /// `HVM_PARAM_STORE_PFN`: `~0` at boot, then what Dom0 sets.
    store_pfn: AtomicU64,
    /// `store_pfn` at boot, again at each restart.
    boot_store_pfn: u64,
    /// `HVM_PARAM_CONSOLE_EVTCHN` and `HVM_PARAM_CONSOLE_PFN` (its ring
    /// page, one of `pages`), if it has a PV console ([`NONE`] if not);
    /// fixed at build, or set by Dom0 for a domain it creates.
    console_port: AtomicU64,
    console_gfn: AtomicU64,
    /// Dom0's stage-2 mappings of its pages (grant maps), counted from
    /// just before each is made until it is gone.
    maps: AtomicU32,
    /// Restarting: no new mapping.
    closed: AtomicBool,
    /// `max_pages` as Dom0 set it (`XEN_DOMCTL_max_mem`), 0: as built.
    max_pages: AtomicU64,
    /// Its handle as Dom0 set it (`XEN_DOMCTL_setdomainhandle`), as two
    /// little-endian halves; read by `getdomaininfo` as a snapshot.
    handle: [AtomicU64; 2],
}

impl PeerView {
    /// Domain `domid` with up to `max_grant_frames` grant frames, RAM
    /// `ram`, extra `pages` ((GFN, PA)), its `xenstore` parameters
    /// ((port, pfn)) and its PV `console`'s ((port, GFN of its ring page,
    /// which `pages` holds)).
    pub fn new(
        domid: u16,
        max_grant_frames: u32,
        ram: Vec<Extent>,
        pages: Vec<(u64, u64)>,
        xenstore: Option<(u32, u64)>,
        console: Option<(u32, u64)>,
    ) -> Self {
        PeerView {
            domid: AtomicU16::new(domid),
            grant_frames: (0..max_grant_frames).map(|_| AtomicU64::new(0)).collect(),
            ram: spin::Mutex::new(ram),
            pages: spin::Mutex::new(pages),
            store_port: AtomicU64::new(xenstore.map_or(NONE, |(port, _)| u64::from(port))),
            store_pfn: AtomicU64::new(xenstore.map_or(0, |(_, pfn)| pfn)),
            boot_store_pfn: xenstore.map_or(0, |(_, pfn)| pfn),
            console_port: AtomicU64::new(console.map_or(NONE, |(p, _)| u64::from(p))),
            console_gfn: AtomicU64::new(console.map_or(NONE, |(_, g)| g)),
            maps: AtomicU32::new(0),
            closed: AtomicBool::new(false),
            max_pages: AtomicU64::new(0),
            handle: [AtomicU64::new(0), AtomicU64::new(0)],
        }
    }

    /// Dom0 is about to map one of its pages: counted, unless it is
    /// restarting (false: do not map). Undo with [`PeerView::end_map`] when
    /// the mapping fails or goes.
    pub fn begin_map(&self) -> bool {
        // SeqCst on both sides: either `close` sees this count, or this
        // sees `closed`.
        self.maps.fetch_add(1, Ordering::SeqCst);
        if self.closed.load(Ordering::SeqCst) {
            self.end_map();
            return false;
        }
        true
    }

    /// One of Dom0's mappings of its pages failed or went away.
    pub fn end_map(&self) {
        let _ = self
            .maps
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    }

    /// Dom0's mappings of its pages now.
    pub fn maps(&self) -> u32 {
        self.maps.load(Ordering::SeqCst)
    }

    /// Its restart begins: no new mapping from now on. Returns how many of
    /// its pages Dom0 still maps (0: it may restart, then
    /// [`PeerView::reopen`]; more: it must not, and stays closed).
    pub fn close(&self) -> u32 {
        self.closed.store(true, Ordering::SeqCst);
        self.maps.load(Ordering::SeqCst)
    }

    /// Its next life, once [`PeerView::close`] returned 0: the last life's
    /// grant frames forgotten (the new ones are recorded as it allocates
    /// them), `HVM_PARAM_STORE_PFN` as at boot, mappings allowed again.
    /// `store_port`, `console_port`: the next life's xenstore and console
    /// ports, which must be the boot's (false, and nothing changes, if
    /// not: Dom0's tools know the DomU by them).
    pub fn reopen(&self, store_port: Option<u32>, console_port: Option<u32>) -> bool {
        if store_port != self.store_port() || console_port != self.console().map(|(p, _)| p) {
            return false;
        }
        for f in self.grant_frames.iter() {
            f.store(0, Ordering::Release);
        }
        self.store_pfn.store(self.boot_store_pfn, Ordering::Release);
        self.closed.store(false, Ordering::SeqCst);
        true
    }

    /// `HVM_PARAM_STORE_EVTCHN`, if it has a xenstore.
    fn store_port(&self) -> Option<u32> {
        let p = self.store_port.load(Ordering::Acquire);
        (p != NONE).then_some(p as u32)
    }

    /// (`HVM_PARAM_CONSOLE_EVTCHN`, `HVM_PARAM_CONSOLE_PFN`), if it has a
    /// PV console.
    fn console(&self) -> Option<(u32, u64)> {
        let p = self.console_port.load(Ordering::Acquire);
        let g = self.console_gfn.load(Ordering::Acquire);
        (p != NONE && g != NONE).then_some((p as u32, g))
    }

    /// A domain Dom0 creates gains RAM: guest range `e.ipa..` backed by
    /// host `e.pa..` (Dom0 populated it).
    pub fn add_ram(&self, e: Extent) {
        self.ram.lock().push(e);
    }

    /// A domain Dom0 creates gains a page outside its RAM (Xen's magic
    /// region): its frame `gfn` is host page `pa`.
    pub fn add_page(&self, gfn: u64, pa: u64) {
        self.pages.lock().push((gfn, pa));
    }

    /// A destroyed domain's RAM and pages, forgotten (returned for the
    /// kernel to give back): the view then names no page of it.
    pub fn clear_memory(&self) -> (Vec<Extent>, Vec<(u64, u64)>) {
        (
            core::mem::take(&mut *self.ram.lock()),
            core::mem::take(&mut *self.pages.lock()),
        )
    }

    /// Dom0 sets a created domain's xenstore or PV console parameter
    /// (`HVM_PARAM_STORE_EVTCHN`, `HVM_PARAM_STORE_PFN`,
    /// `HVM_PARAM_CONSOLE_EVTCHN`, `HVM_PARAM_CONSOLE_PFN`; others are not
    /// kept here): what [`PeerView::hvm_param`] answers from then on.
    pub fn set_param(&self, index: u32, value: u64) {
        match index {
            hvmop::PARAM_STORE_EVTCHN => self.store_port.store(value, Ordering::Release),
            hvmop::PARAM_STORE_PFN => self.store_pfn.store(value, Ordering::Release),
            hvmop::PARAM_CONSOLE_EVTCHN => self.console_port.store(value, Ordering::Release),
            hvmop::PARAM_CONSOLE_PFN => self.console_gfn.store(value, Ordering::Release),
            _ => {}
        }
    }

    /// A created domain's next life (after its destroy, [`PeerView::close`]
    /// gave 0 and its memory was [`PeerView::clear_memory`]ed): no grant
    /// frame, no parameter, `max_pages` and handle unset, mappings allowed.
    pub fn renew(&self) {
        for f in self.grant_frames.iter() {
            f.store(0, Ordering::Release);
        }
        for p in [
            &self.store_port,
            &self.store_pfn,
            &self.console_port,
            &self.console_gfn,
        ] {
            p.store(NONE, Ordering::Release);
        }
        self.max_pages.store(0, Ordering::Release);
        self.set_handle([0; 16]);
        self.closed.store(false, Ordering::SeqCst);
    }

    pub fn domid(&self) -> u16 {
        self.domid.load(Ordering::Acquire)
    }

    /// The domain in this place is now `domid` (a new life, before any
    /// mapping is allowed: [`PeerView::renew`]).
    pub fn set_domid(&self, domid: u16) {
        self.domid.store(domid, Ordering::Release);
    }

    /// Records that grant frame `n` is the page at host address `pa`
    /// (by the DomU's own address space, when it allocates the frame).
    pub fn set_grant_frame(&self, n: u32, pa: u64) {
        if let Some(f) = self.grant_frames.get(n as usize) {
            f.store(pa, Ordering::Release);
        }
    }

    /// The host physical address of word `word` (0 or 1) of grant entry
    /// `gref`: `BadAddress` past the frames the table can have, `None` if
    /// that frame was never allocated (nothing in it can be granted).
    pub fn entry_pa(&self, gref: u32, word: u32) -> Result<Option<u64>, PlatformError> {
        if word > 1 {
            return Err(PlatformError::BadAddress);
        }
        let f = self
            .grant_frames
            .get((gref / gnttabop::ENTRIES_PER_FRAME) as usize)
            .ok_or(PlatformError::BadAddress)?
            .load(Ordering::Acquire);
        let at = u64::from(gref % gnttabop::ENTRIES_PER_FRAME) * ENTRY_SIZE + u64::from(word) * 4;
        Ok((f != 0).then_some(f + at))
    }

    /// The host page behind the DomU's frame `gfn`: its RAM or a page
    /// snowvisor gave it; `None` for anything else (MMIO, holes, its grant
    /// frames, which are snowvisor's).
    pub fn page_pa(&self, gfn: u64) -> Option<u64> {
        let ipa = gfn.checked_mul(PAGE)?;
        domu_mem::host_address(&self.ram.lock(), ipa, PAGE).or_else(|| {
            self.pages
                .lock()
                .iter()
                .find(|(g, _)| *g == gfn)
                .map(|(_, pa)| *pa)
        })
    }

    /// Whether `pa` is a page Dom0 may have mapped from this DomU: its
    /// RAM, a page snowvisor gave it, one of its grant frames.
    pub fn owns_pa(&self, pa: u64) -> bool {
        let page = pa & !(PAGE - 1);
        self.ram
            .lock()
            .iter()
            .any(|e| page >= e.pa && page < e.pa + e.size)
            || self.is_given_page(page)
            || self
                .grant_frames
                .iter()
                .any(|f| page != 0 && f.load(Ordering::Acquire) == page)
    }

    /// Whether `pa` is in a page snowvisor gave it outside its RAM.
    pub fn is_given_page(&self, pa: u64) -> bool {
        let page = pa & !(PAGE - 1);
        self.pages.lock().iter().any(|(_, p)| *p == page)
    }

    /// The host address of grant frame `n`, once the DomU allocated it.
    pub fn grant_frame_pa(&self, n: u32) -> Option<u64> {
        let f = self.grant_frames.get(n as usize)?.load(Ordering::Acquire);
        (f != 0).then_some(f)
    }

    /// How many grant frames it may have (`max_grant_frames`).
    pub fn max_grant_frames(&self) -> u32 {
        self.grant_frames.len() as u32
    }

    /// The page snowvisor gave it at `gfn` (outside its RAM), if any, while
    /// it is not connected to xenstore through it: Dom0 may populate it
    /// (`init-dom0less`, [`snowvisor_xen::Platform::populate_foreign_frame`]).
    /// Never its console ring, which its kernel uses from boot.
    pub fn unconnected_page(&self, gfn: u64) -> Option<u64> {
        if self.store_pfn.load(Ordering::Acquire) != u64::MAX
            || self.console().is_some_and(|(_, g)| g == gfn)
        {
            return None;
        }
        self.pages
            .lock()
            .iter()
            .find(|(g, _)| *g == gfn)
            .map(|(_, pa)| *pa)
    }

    /// Its handle (UUID), zeroes until Dom0 sets it.
    pub fn handle(&self) -> [u8; 16] {
        let mut h = [0u8; 16];
        for (i, half) in self.handle.iter().enumerate() {
            h[i * 8..i * 8 + 8].copy_from_slice(&half.load(Ordering::Acquire).to_le_bytes());
        }
        h
    }

    /// Dom0's `XEN_DOMCTL_setdomainhandle`.
    pub fn set_handle(&self, h: [u8; 16]) {
        for (i, half) in self.handle.iter().enumerate() {
            let mut b = [0u8; 8];
            b.copy_from_slice(&h[i * 8..i * 8 + 8]);
            half.store(u64::from_le_bytes(b), Ordering::Release);
        }
    }

    /// `max_pages` as Dom0 set it, `None` until it does.
    pub fn max_pages(&self) -> Option<u64> {
        let p = self.max_pages.load(Ordering::Acquire);
        (p != 0).then_some(p)
    }

    /// Dom0's `XEN_DOMCTL_max_mem` (`pages` of 4 KiB; 0 is kept as 1 so
    /// that it never reads as "as built").
    pub fn set_max_pages(&self, pages: u64) {
        self.max_pages.store(pages.max(1), Ordering::Release);
    }

    /// The xenstore parameter `index` (`HVM_PARAM_STORE_EVTCHN`,
    /// `HVM_PARAM_STORE_PFN`), if it has a xenstore, or the PV console's
    /// (`HVM_PARAM_CONSOLE_EVTCHN`, `HVM_PARAM_CONSOLE_PFN`), if it has
    /// one.
    pub fn hvm_param(&self, index: u32) -> Option<u64> {
        match index {
            hvmop::PARAM_STORE_EVTCHN => self.store_port().map(u64::from),
            hvmop::PARAM_STORE_PFN => self
                .store_port()
                .map(|_| self.store_pfn.load(Ordering::Acquire)),
            hvmop::PARAM_CONSOLE_EVTCHN => self.console().map(|(port, _)| u64::from(port)),
            hvmop::PARAM_CONSOLE_PFN => self.console().map(|(_, gfn)| gfn),
            _ => None,
        }
    }

    /// Dom0 sets `HVM_PARAM_STORE_PFN` (once xenstored knows the domain,
    /// as `init-dom0less` does); false if it has no xenstore.
    pub fn set_store_pfn(&self, pfn: u64) -> bool {
        if self.store_port().is_none() {
            return false;
        }
        self.store_pfn.store(pfn, Ordering::Release);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> PeerView {
        PeerView::new(
            1,
            4,
            alloc::vec![Extent {
                ipa: 0x4000_0000,
                pa: 0x7e00_0000,
                size: 0x20_0000,
            }],
            alloc::vec![(0x39001, 0x4321_0000), (0x39000, 0x4322_0000)],
            Some((1, u64::MAX)),
            Some((2, 0x39000)),
        )
    }

    #[test]
    fn entries_are_found_in_frames_set_once_allocated() {
        let v = view();
        assert_eq!(v.entry_pa(1, 0), Ok(None), "frame 0 not allocated yet");
        v.set_grant_frame(0, 0x4400_0000);
        assert_eq!(v.entry_pa(1, 0), Ok(Some(0x4400_0008)));
        assert_eq!(v.entry_pa(1, 1), Ok(Some(0x4400_000c)));
        assert_eq!(v.entry_pa(511, 1), Ok(Some(0x4400_0ffc)));
        assert_eq!(v.entry_pa(512, 0), Ok(None), "frame 1");
        assert_eq!(v.entry_pa(4 * 512, 0), Err(PlatformError::BadAddress));
        assert_eq!(v.entry_pa(u32::MAX, 0), Err(PlatformError::BadAddress));
        assert_eq!(v.entry_pa(1, 2), Err(PlatformError::BadAddress));
        v.set_grant_frame(4, 0x1000);
        assert_eq!(v.entry_pa(4 * 512, 0), Err(PlatformError::BadAddress));
    }

    #[test]
    fn pages_are_its_ram_and_the_pages_it_was_given() {
        let v = view();
        assert_eq!(v.page_pa(0x40000), Some(0x7e00_0000));
        assert_eq!(v.page_pa(0x401ff), Some(0x7e1f_f000));
        assert_eq!(v.page_pa(0x40200), None, "past its RAM");
        assert_eq!(v.page_pa(0x39001), Some(0x4321_0000));
        assert_eq!(v.page_pa(0x38000), None, "its grant table region");
        assert_eq!(v.page_pa(0x8000), None, "the GIC");
        assert_eq!(v.page_pa(u64::MAX), None);
        assert!(v.owns_pa(0x7e1f_f123) && v.owns_pa(0x4321_0000));
        assert!(!v.owns_pa(0x7e20_0000) && !v.owns_pa(0x4321_1000));
        assert_eq!(v.hvm_param(hvmop::PARAM_STORE_EVTCHN), Some(1));
        assert_eq!(v.hvm_param(hvmop::PARAM_STORE_PFN), Some(u64::MAX));
        assert_eq!(v.hvm_param(hvmop::PARAM_CALLBACK_IRQ), None);
        assert!(v.set_store_pfn(0x39001));
        assert_eq!(v.hvm_param(hvmop::PARAM_STORE_PFN), Some(0x39001));
        assert_eq!(v.unconnected_page(0x39001), None, "connected now");
        let none = PeerView::new(2, 1, Vec::new(), Vec::new(), None, None);
        assert!(!none.set_store_pfn(1));
        assert_eq!(none.hvm_param(hvmop::PARAM_STORE_PFN), None);
    }

    #[test]
    fn a_restart_waits_for_no_mapping_and_forgets_the_last_life() {
        let v = view();
        v.set_grant_frame(0, 0x4400_0000);
        assert!(v.set_store_pfn(0x39001));
        assert!(v.begin_map() && v.begin_map());
        v.end_map();
        assert_eq!(v.maps(), 1);
        // Dom0 still maps a page: no restart, and no new mapping.
        assert_eq!(v.close(), 1);
        assert!(!v.begin_map());
        assert_eq!(v.maps(), 1, "a refused mapping is not counted");
        v.end_map();
        v.end_map();
        assert_eq!(v.maps(), 0, "never below 0");
        // None left: the next life starts with no grant frame and
        // HVM_PARAM_STORE_PFN as at boot.
        assert_eq!(v.close(), 0);
        assert!(!v.reopen(Some(2), Some(2)), "another xenstore port");
        assert!(!v.reopen(Some(1), None), "no console port");
        assert!(!v.reopen(Some(1), Some(3)), "another console port");
        assert!(!v.begin_map(), "still closed");
        assert!(v.reopen(Some(1), Some(2)));
        assert_eq!(v.entry_pa(1, 0), Ok(None));
        assert_eq!(v.hvm_param(hvmop::PARAM_STORE_PFN), Some(u64::MAX));
        assert!(v.begin_map());
        assert_eq!(v.maps(), 1);
    }

    #[test]
    fn dom0_may_populate_the_xenstore_page_until_it_is_connected() {
        let v = view();
        assert_eq!(v.unconnected_page(0x39001), Some(0x4321_0000));
        assert_eq!(v.unconnected_page(0x40000), None, "RAM is not populated");
        assert_eq!(v.unconnected_page(0x39000), None, "its console ring");
        assert_eq!(v.unconnected_page(0x39002), None);
        assert!(v.set_store_pfn(0x39001));
        assert_eq!(v.unconnected_page(0x39001), None);
    }

    #[test]
    fn grant_frames_are_its_pages_once_allocated() {
        let v = view();
        assert_eq!(v.max_grant_frames(), 4);
        assert_eq!(v.grant_frame_pa(0), None);
        assert!(!v.owns_pa(0x4400_0000));
        assert!(!v.owns_pa(0), "unallocated frames own nothing");
        v.set_grant_frame(0, 0x4400_0000);
        assert_eq!(v.grant_frame_pa(0), Some(0x4400_0000));
        assert_eq!(v.grant_frame_pa(4), None);
        assert!(v.owns_pa(0x4400_0abc));
        assert!(!v.owns_pa(0x4400_1000));
    }

    #[test]
    fn max_pages_is_as_built_until_dom0_sets_it() {
        let v = view();
        assert_eq!(v.max_pages(), None);
        v.set_max_pages(0x10001);
        assert_eq!(v.max_pages(), Some(0x10001));
        v.set_max_pages(0);
        assert_eq!(v.max_pages(), Some(1));
    }

    #[test]
    fn the_handle_is_what_dom0_set() {
        let v = view();
        assert_eq!(v.handle(), [0; 16]);
        let h: [u8; 16] = core::array::from_fn(|i| i as u8 + 1);
        v.set_handle(h);
        assert_eq!(v.handle(), h);
    }

    #[test]
    fn its_console_ring_is_its_page_and_its_parameters_are_fixed() {
        let v = view();
        assert_eq!(v.page_pa(0x39000), Some(0x4322_0000));
        assert!(v.owns_pa(0x4322_0fff) && !v.owns_pa(0x4322_1000));
        assert!(v.is_given_page(0x4322_0fff) && v.is_given_page(0x4321_0000));
        assert!(!v.is_given_page(0x4322_1000) && !v.is_given_page(0x7e00_0000));
        assert_eq!(v.hvm_param(hvmop::PARAM_CONSOLE_EVTCHN), Some(2));
        assert_eq!(v.hvm_param(hvmop::PARAM_CONSOLE_PFN), Some(0x39000));
        assert!(v.set_store_pfn(0x39001));
        assert_eq!(v.hvm_param(hvmop::PARAM_CONSOLE_PFN), Some(0x39000));
        // A console without xenstore, and neither.
        let c = PeerView::new(
            3,
            1,
            Vec::new(),
            alloc::vec![(0x39000, 0x4322_0000)],
            None,
            Some((1, 0x39000)),
        );
        assert_eq!(c.hvm_param(hvmop::PARAM_CONSOLE_EVTCHN), Some(1));
        assert_eq!(c.hvm_param(hvmop::PARAM_STORE_EVTCHN), None);
        assert!(!c.set_store_pfn(0x39001));
        let none = PeerView::new(4, 1, Vec::new(), Vec::new(), None, None);
        assert_eq!(none.hvm_param(hvmop::PARAM_CONSOLE_EVTCHN), None);
        assert_eq!(none.hvm_param(hvmop::PARAM_CONSOLE_PFN), None);
    }
}
