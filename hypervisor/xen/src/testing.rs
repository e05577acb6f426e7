//! A host model of a guest for the Xen tests: RAM with holes, read-only
//! pages, a page of "hypervisor memory" reachable from a guest address,
//! hypervisor frames the platform maps in, and a platform that records what it
//! was asked to do.
//!
//! Layout: guest RAM is IPA `RAM_BASE..+RAM_PAGES*4K`, linearly mapped at
//! `KVA_BASE` (like Linux's lowmem). `HYP_GVA` translates (stage 1) to
//! `HYP_IPA`, whose stage-2 entry is hypervisor-owned: any access must fail.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::rc::Rc;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::{RefCell, RefMut};

use super::abi::wire::Wire;
use super::guest::{Fault, GuestMemory, GFN_LIMIT};
use super::links::EvtchnLinks;
use super::platform::{
    CacheOp, DomainInfo, ExitCounters, HostInfo, HypervisorLog, NewDomain, Platform, PlatformError,
    ShutdownReason, VcpuInfo, VcpuStart, XenFrame,
};
use super::{Outcome, Xen, XenConfig};

pub const PAGE: usize = 4096;
pub const RAM_BASE: u64 = 0x4000_0000;
pub const RAM_GFN: u64 = RAM_BASE >> 12;
pub const RAM_PAGES: usize = 256;
pub const KVA_BASE: u32 = 0xC000_0000;
pub const HYP_GVA: u32 = 0xF000_0000;
pub const HYP_IPA: u64 = 0x7000_0000;
/// The DT grant-table region (an IPA hole).
pub const GNTTAB_GFN: u64 = 0x38000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backing {
    /// Guest RAM page `n`.
    Ram(usize),
    /// Hypervisor frame `n` given to the guest.
    Frame(usize),
    /// Hypervisor memory: never accessible.
    Hyp,
    /// RAM page `n` of another domain (`foreign`), mapped by a grant.
    Foreign(u16, usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct S2 {
    pub backing: Backing,
    pub writable: bool,
}

#[derive(Debug, Default)]
pub struct Model {
    pub ram: Vec<u8>,
    pub frames: Vec<Box<[u8; PAGE]>>,
    pub hyp: Vec<u8>,
    pub s2: BTreeMap<u64, S2>,
    /// Guest virtual pages with no stage-1 mapping.
    pub s1_holes: BTreeSet<u32>,
    /// Guest virtual pages mapped read-only.
    pub s1_readonly: BTreeSet<u32>,
    pub grant_frames: BTreeMap<u32, (usize, Option<u64>)>,
    // What the platform was asked.
    pub vcpu: u32,
    pub console: Vec<u8>,
    /// The console's room for output (`console_room`; each byte written
    /// takes one), unbounded when `None`.
    pub console_room: Option<usize>,
    pub shutdowns: Vec<ShutdownReason>,
    pub shutdown_result: Option<PlatformError>,
    pub injected: Vec<u32>,
    pub flushes: Vec<(u64, u32, CacheOp)>,
    pub released: Vec<u64>,
    pub yields: u32,
    pub blocks: u32,
    pub ipa_accesses: u64,
    /// The hypervisor's logs for `sysctl`: (index of the first byte held,
    /// the bytes), this boot's and the previous boot's.
    pub log_current: Option<(u32, Vec<u8>)>,
    pub log_previous: Option<(u32, Vec<u8>)>,
    /// Largest `out` a `log_read` was given.
    pub log_read_max: usize,
    /// The exit counters `exit_stats` hands out (leaked per test).
    pub exits: Option<&'static Counters>,
    /// The platform's list of domains, in id order.
    pub domains: Vec<DomainInfo>,
    /// Other domains' event-channel links, by id.
    pub peers: BTreeMap<u16, Arc<EvtchnLinks>>,
    /// Domains kicked after a post to their inbox.
    pub kicks: Vec<u16>,
    /// Other domains' models, whose grant tables and RAM this (Dom0's)
    /// platform reaches for foreign grant maps, by id.
    pub foreign: BTreeMap<u16, Rc<RefCell<Model>>>,
    /// Other domains' HVM parameters as the platform keeps them.
    pub foreign_params: BTreeMap<(u16, u32), u64>,
    /// Frames a grant table can have (the domain's `max_grant_frames`).
    pub max_grant_frames: u32,
    /// `HVM_PARAM_STORE_PFN` as Dom0 set it for this domain.
    pub store_pfn: Option<u64>,
    /// The xenstore page the platform gave this DomU: (GFN, RAM page).
    pub xenstore_page: Option<(u64, usize)>,
    /// `max_pages` as Dom0 set it (`XEN_DOMCTL_max_mem`).
    pub max_pages: Option<u64>,
    /// The machine `host_info` describes (`None`: unknown).
    pub host: Option<HostInfo>,
    /// Each domain's vCPUs as `vcpu_info` reports them, by (domid, vcpu).
    pub vcpus: BTreeMap<(u16, u32), VcpuInfo>,
    /// Debug keys run through `debug_key`; `None`: the platform has none.
    pub debug_keys: Option<Vec<u8>>,
    /// The domains `create_domain` made (what it was asked), in order.
    pub created: Vec<NewDomain>,
    /// `create_domain`'s refusal, if set.
    pub create_result: Option<PlatformError>,
    /// The last ID `create_domain` picked (as Xen's `rover`, 0 at first).
    pub rover: u16,
    /// Domains destroyed, pauses and unpauses (`true`: pause), vCPU
    /// starts, populated extents (domain, GFN, order), HVM parameters set,
    /// unbound ports allocated (domain, remote), cache flushes (domain,
    /// GFN, pages), in order.
    pub destroyed: Vec<u16>,
    pub pauses: Vec<(u16, bool)>,
    pub vcpu_starts: Vec<(u16, u32, VcpuStart)>,
    pub populated: Vec<(u16, u64, u32)>,
    pub hvm_sets: Vec<(u16, u32, u64)>,
    pub unbound: Vec<(u16, u16)>,
    pub cache_flushes: Vec<(u16, u64, u64)>,
    /// Extents `populate_foreign` gives before `NoMemory`.
    pub populate_room: Option<usize>,
}

impl Model {
    fn new() -> Self {
        let mut m = Model {
            ram: vec![0; RAM_PAGES * PAGE],
            hyp: vec![0x5a; PAGE],
            ..Default::default()
        };
        for i in 0..RAM_PAGES {
            m.s2.insert(
                RAM_GFN + i as u64,
                S2 {
                    backing: Backing::Ram(i),
                    writable: true,
                },
            );
        }
        m.s2.insert(
            HYP_IPA >> 12,
            S2 {
                backing: Backing::Hyp,
                writable: true,
            },
        );
        m
    }

    fn s1(&self, gva: u32, write: bool) -> Result<u64, Fault> {
        let page = gva >> 12;
        if self.s1_holes.contains(&page) {
            return Err(Fault::Unmapped(gva.into()));
        }
        if write && self.s1_readonly.contains(&page) {
            return Err(Fault::Denied(gva.into()));
        }
        if page == HYP_GVA >> 12 {
            return Ok(HYP_IPA + u64::from(gva & 0xfff));
        }
        let off = gva
            .checked_sub(KVA_BASE)
            .ok_or(Fault::Unmapped(gva.into()))?;
        if off as usize >= RAM_PAGES * PAGE {
            return Err(Fault::Unmapped(gva.into()));
        }
        Ok(RAM_BASE + u64::from(off))
    }

    /// One page-contained access by IPA, as the guest would do it (`check`
    /// false) or as the hypervisor (`check` true: ownership and write rules).
    fn bytes(
        &mut self,
        ipa: u64,
        len: usize,
        write: bool,
        check: bool,
    ) -> Result<&mut [u8], Fault> {
        let off = (ipa & 0xfff) as usize;
        assert!(
            off + len <= PAGE,
            "IPA access {ipa:#x}+{len} crosses a page"
        );
        let e = *self.s2.get(&(ipa >> 12)).ok_or(Fault::Unmapped(ipa))?;
        if check && write && !e.writable {
            return Err(Fault::Denied(ipa));
        }
        Ok(match e.backing {
            Backing::Ram(n) => &mut self.ram[n * PAGE + off..n * PAGE + off + len],
            Backing::Frame(n) => &mut self.frames[n][off..off + len],
            Backing::Hyp if check => return Err(Fault::Denied(ipa)),
            Backing::Hyp => &mut self.hyp[off..off + len],
            // The hypervisor reaches only the domain's own pages.
            Backing::Foreign(..) => return Err(Fault::Denied(ipa)),
        })
    }

    /// Reads as the guest (no hypervisor checks).
    pub fn peek(&mut self, ipa: u64, out: &mut [u8]) {
        let b = self
            .bytes(ipa, out.len(), false, false)
            .expect("guest read of unmapped IPA");
        out.copy_from_slice(b);
    }

    /// Writes as the guest.
    pub fn poke(&mut self, ipa: u64, data: &[u8]) {
        let b = self
            .bytes(ipa, data.len(), true, false)
            .expect("guest write of unmapped IPA");
        b.copy_from_slice(data);
    }

    pub fn peek_u32(&mut self, ipa: u64) -> u32 {
        let mut w = [0u8; 4];
        self.peek(ipa, &mut w);
        u32::from_le_bytes(w)
    }

    pub fn poke_u32(&mut self, ipa: u64, v: u32) {
        self.poke(ipa, &v.to_le_bytes());
    }

    fn virt(
        &mut self,
        gva: u32,
        len: usize,
        write: bool,
        mut f: impl FnMut(&mut [u8], usize),
    ) -> Result<(), Fault> {
        let mut done = 0;
        while done < len {
            let at = gva
                .checked_add(done as u32)
                .ok_or(Fault::Unmapped(gva.into()))?;
            let n = (len - done).min(PAGE - (at as usize & 0xfff));
            let ipa = self.s1(at, write)?;
            f(self.bytes(ipa, n, write, true)?, done);
            done += n;
        }
        Ok(())
    }
}

/// The shared model, seen as guest memory.
pub struct TestMem(pub Rc<RefCell<Model>>);
/// The shared model, seen as the platform.
pub struct TestPlat(pub Rc<RefCell<Model>>);

impl GuestMemory for TestMem {
    fn read(&mut self, gva: u32, buf: &mut [u8]) -> Result<(), Fault> {
        let len = buf.len();
        self.0.borrow_mut().virt(gva, len, false, |src, at| {
            buf[at..at + src.len()].copy_from_slice(src)
        })
    }
    fn write(&mut self, gva: u32, data: &[u8]) -> Result<(), Fault> {
        self.0.borrow_mut().virt(gva, data.len(), true, |dst, at| {
            dst.copy_from_slice(&data[at..at + dst.len()])
        })
    }
    fn read_ipa(&mut self, ipa: u64, buf: &mut [u8]) -> Result<(), Fault> {
        let mut m = self.0.borrow_mut();
        m.ipa_accesses += 1;
        buf.copy_from_slice(m.bytes(ipa, buf.len(), false, true)?);
        Ok(())
    }
    fn write_ipa(&mut self, ipa: u64, data: &[u8]) -> Result<(), Fault> {
        let mut m = self.0.borrow_mut();
        m.ipa_accesses += 1;
        m.bytes(ipa, data.len(), true, true)?.copy_from_slice(data);
        Ok(())
    }
}

/// In [`Backing::Foreign`], page numbers from here on are grant frames
/// (`n - FOREIGN_GRANT_FRAME`) of the other domain, not its RAM.
pub const FOREIGN_GRANT_FRAME: usize = 1 << 20;

/// The model's "physical address" of RAM page `page` of domain `dom`.
pub fn foreign_bus(dom: u16, page: usize) -> u64 {
    (u64::from(dom) << 32) | (RAM_BASE + (page * PAGE) as u64)
}

fn ram_page(m: &Model, gfn: u64) -> Option<usize> {
    match m.s2.get(&gfn)?.backing {
        Backing::Ram(n) => Some(n),
        _ => None,
    }
}

impl Model {
    /// Word `word` of entry `gref` in this domain's grant frames, as the
    /// platform finds it for another domain.
    fn entry_word_at(&self, gref: u32, word: u32) -> Result<Option<(usize, usize)>, PlatformError> {
        let idx = gref / 512;
        if idx >= self.max_grant_frames {
            return Err(PlatformError::BadAddress);
        }
        let off = (gref % 512) as usize * 8 + word as usize * 4;
        Ok(self.grant_frames.get(&idx).map(|&(n, _)| (n, off)))
    }
}

impl TestPlat {
    fn other(&self, dom: u16) -> Result<Rc<RefCell<Model>>, PlatformError> {
        self.0
            .borrow()
            .foreign
            .get(&dom)
            .cloned()
            .ok_or(PlatformError::NotSupported)
    }
}

impl Platform for TestPlat {
    fn foreign_grant_word(&mut self, dom: u16, gref: u32, word: u32) -> Result<u32, PlatformError> {
        let other = self.other(dom)?;
        let o = other.borrow();
        Ok(match o.entry_word_at(gref, word)? {
            Some((n, off)) => u32::from_le_bytes(o.frames[n][off..off + 4].try_into().unwrap()),
            None => 0,
        })
    }
    fn foreign_grant_cmpxchg(
        &mut self,
        dom: u16,
        gref: u32,
        old: u32,
        new: u32,
    ) -> Result<u32, PlatformError> {
        let other = self.other(dom)?;
        let mut o = other.borrow_mut();
        let Some((n, off)) = o.entry_word_at(gref, 0)? else {
            return Ok(0);
        };
        let w = &mut o.frames[n][off..off + 4];
        let cur = u32::from_le_bytes(w.try_into().unwrap());
        if cur == old {
            w.copy_from_slice(&new.to_le_bytes());
        }
        Ok(cur)
    }
    fn map_foreign_grant(
        &mut self,
        host_gfn: u64,
        dom: u16,
        frame_gfn: u64,
        readonly: bool,
    ) -> Result<u64, PlatformError> {
        assert!(host_gfn < GFN_LIMIT && frame_gfn < GFN_LIMIT);
        let other = self.other(dom)?;
        let page = ram_page(&other.borrow(), frame_gfn).ok_or(PlatformError::BadFrame)?;
        let mut m = self.0.borrow_mut();
        if m.s2
            .get(&host_gfn)
            .is_some_and(|e| !matches!(e.backing, Backing::Ram(_)))
        {
            return Err(PlatformError::BadAddress);
        }
        m.s2.insert(
            host_gfn,
            S2 {
                backing: Backing::Foreign(dom, page),
                writable: !readonly,
            },
        );
        Ok(foreign_bus(dom, page))
    }
    fn unmap_foreign_grant(
        &mut self,
        host_gfn: u64,
        dom: u16,
        bus_addr: u64,
    ) -> Result<(), PlatformError> {
        let mut m = self.0.borrow_mut();
        match m.s2.get(&host_gfn).map(|e| e.backing) {
            Some(Backing::Foreign(d, p)) if d == dom && foreign_bus(d, p) == bus_addr => {
                m.s2.remove(&host_gfn);
                Ok(())
            }
            _ => Err(PlatformError::BadAddress),
        }
    }
    fn populate_foreign_frame(&mut self, dom: u16, gfn: u64) -> Result<(), PlatformError> {
        let other = self.other(dom)?;
        let mut o = other.borrow_mut();
        match o.xenstore_page {
            Some((g, page)) if g == gfn && o.store_pfn.is_none() => {
                o.ram[page * PAGE..(page + 1) * PAGE].fill(0);
                Ok(())
            }
            _ => Err(PlatformError::NoMemory),
        }
    }
    fn map_foreign_grant_frame(
        &mut self,
        host_gfn: u64,
        dom: u16,
        frame: u32,
    ) -> Result<u64, PlatformError> {
        assert!(host_gfn < GFN_LIMIT);
        let other = self.other(dom)?;
        if !other.borrow().grant_frames.contains_key(&frame) {
            return Err(PlatformError::BadFrame);
        }
        let page = FOREIGN_GRANT_FRAME + frame as usize;
        let mut m = self.0.borrow_mut();
        if m.s2
            .get(&host_gfn)
            .is_some_and(|e| !matches!(e.backing, Backing::Ram(_)))
        {
            return Err(PlatformError::BadAddress);
        }
        m.s2.insert(
            host_gfn,
            S2 {
                backing: Backing::Foreign(dom, page),
                writable: true,
            },
        );
        Ok(foreign_bus(dom, page))
    }
    fn foreign_max_grant_frames(&mut self, dom: u16) -> Option<u32> {
        Some(self.other(dom).ok()?.borrow().max_grant_frames)
    }
    fn set_foreign_handle(&mut self, dom: u16, handle: [u8; 16]) -> Result<(), PlatformError> {
        self.other(dom)?;
        let mut m = self.0.borrow_mut();
        let d = m.domains.iter_mut().find(|d| d.domid == dom);
        d.ok_or(PlatformError::NotSupported)?.handle = handle;
        Ok(())
    }
    fn set_foreign_max_pages(&mut self, dom: u16, pages: u64) -> Result<(), PlatformError> {
        self.other(dom)?.borrow_mut().max_pages = Some(pages);
        Ok(())
    }
    fn foreign_hvm_param(&mut self, dom: u16, index: u32) -> Option<u64> {
        self.0.borrow().foreign_params.get(&(dom, index)).copied()
    }
    fn set_foreign_store_pfn(&mut self, dom: u16, pfn: u64) -> Result<(), PlatformError> {
        let other = self.other(dom)?;
        let mut m = self.0.borrow_mut();
        let key = (dom, super::abi::hvmop::PARAM_STORE_PFN);
        if !m.foreign_params.contains_key(&key) {
            return Err(PlatformError::NotSupported);
        }
        m.foreign_params.insert(key, pfn);
        other.borrow_mut().store_pfn = Some(pfn);
        Ok(())
    }
    fn own_store_pfn(&mut self) -> Option<u64> {
        self.0.borrow().store_pfn
    }
    fn create_domain(&mut self, cfg: &NewDomain) -> Result<u16, PlatformError> {
        let mut m = self.0.borrow_mut();
        if let Some(e) = m.create_result {
            return Err(e);
        }
        // Xen's rover walk: the next free ID after the last picked,
        // wrapping to 1 below DOMID_FIRST_RESERVED.
        let id = match cfg.domid {
            Some(id) => id,
            None => {
                let first = crate::abi::domid::FIRST_RESERVED;
                let taken = |d: u16| m.domains.iter().any(|i| i.domid == d);
                let mut d = m.rover;
                let mut steps = 0;
                loop {
                    d = if d + 1 >= first { 1 } else { d + 1 };
                    steps += 1;
                    if !taken(d) {
                        break;
                    }
                    if steps >= first {
                        return Err(PlatformError::NoMemory);
                    }
                }
                m.rover = d;
                d
            }
        };
        if m.domains.iter().any(|d| d.domid == id) {
            return Err(PlatformError::Busy);
        }
        // Recorded with the ID it got.
        m.created.push(NewDomain {
            domid: Some(id),
            ..*cfg
        });
        let info = DomainInfo {
            paused: true,
            running: false,
            nr_spis: cfg.nr_spis,
            handle: cfg.handle,
            ..DomainInfo::new(id, "", 0, cfg.max_vcpus, 0)
        };
        let at = m.domains.iter().position(|d| d.domid > id);
        let at = at.unwrap_or(m.domains.len());
        m.domains.insert(at, info);
        for v in 0..cfg.max_vcpus {
            let cpu = v % 2;
            m.vcpus.insert(
                (id, v),
                VcpuInfo {
                    cpu,
                    ..VcpuInfo::default()
                },
            );
        }
        Ok(id)
    }
    fn destroy_domain(&mut self, dom: u16) -> Result<(), PlatformError> {
        let mut m = self.0.borrow_mut();
        if !m.created.iter().any(|c| c.domid == Some(dom)) || m.destroyed.contains(&dom) {
            return Err(PlatformError::NotSupported);
        }
        m.domains.retain(|d| d.domid != dom);
        m.destroyed.push(dom);
        Ok(())
    }
    fn pause_domain(&mut self, dom: u16, paused: bool) -> Result<(), PlatformError> {
        let mut m = self.0.borrow_mut();
        if !m.created.iter().any(|c| c.domid == Some(dom)) {
            return Err(PlatformError::NotSupported);
        }
        m.pauses.push((dom, paused));
        Ok(())
    }
    fn set_vcpu_context(
        &mut self,
        dom: u16,
        vcpu: u32,
        start: &VcpuStart,
    ) -> Result<(), PlatformError> {
        let mut m = self.0.borrow_mut();
        if !m.created.iter().any(|c| c.domid == Some(dom)) {
            return Err(PlatformError::NotSupported);
        }
        m.vcpu_starts.push((dom, vcpu, *start));
        Ok(())
    }
    fn populate_foreign(&mut self, dom: u16, gfn: u64, order: u32) -> Result<(), PlatformError> {
        assert!(
            gfn < GFN_LIMIT && gfn.is_multiple_of(1 << order),
            "unchecked extent"
        );
        let mut m = self.0.borrow_mut();
        if !m.created.iter().any(|c| c.domid == Some(dom)) || !matches!(order, 0 | 9) {
            return Err(PlatformError::NotSupported);
        }
        if let Some(room) = m.populate_room.as_mut() {
            *room = room.checked_sub(1).ok_or(PlatformError::NoMemory)?;
        }
        m.populated.push((dom, gfn, order));
        Ok(())
    }
    fn set_foreign_hvm_param(
        &mut self,
        dom: u16,
        index: u32,
        value: u64,
    ) -> Result<(), PlatformError> {
        let mut m = self.0.borrow_mut();
        if !m.created.iter().any(|c| c.domid == Some(dom)) {
            return Err(PlatformError::NotSupported);
        }
        m.hvm_sets.push((dom, index, value));
        m.foreign_params.insert((dom, index), value);
        Ok(())
    }
    fn foreign_alloc_unbound(&mut self, dom: u16, remote: u16) -> Result<u32, super::Errno> {
        let mut m = self.0.borrow_mut();
        if !m.created.iter().any(|c| c.domid == Some(dom)) {
            return Err(super::Errno::ESRCH);
        }
        m.unbound.push((dom, remote));
        Ok(m.unbound.len() as u32)
    }
    fn foreign_cache_flush(&mut self, dom: u16, gfn: u64, nr: u64) -> Result<(), PlatformError> {
        assert!(gfn + nr <= GFN_LIMIT, "unchecked range");
        let mut m = self.0.borrow_mut();
        if !m.domains.iter().any(|d| d.domid == dom) {
            return Err(PlatformError::NotSupported);
        }
        m.cache_flushes.push((dom, gfn, nr));
        Ok(())
    }

    fn current_vcpu(&self) -> u32 {
        self.0.borrow().vcpu
    }
    fn console_write(&mut self, bytes: &[u8]) {
        assert!(bytes.len() <= 128);
        let mut m = self.0.borrow_mut();
        if let Some(room) = m.console_room.as_mut() {
            *room = room
                .checked_sub(bytes.len())
                .expect("a write beyond the room");
        }
        m.console.extend_from_slice(bytes);
    }
    fn console_room(&mut self) -> usize {
        self.0.borrow().console_room.unwrap_or(usize::MAX)
    }
    fn shutdown(&mut self, reason: ShutdownReason) -> Result<(), PlatformError> {
        let mut m = self.0.borrow_mut();
        m.shutdowns.push(reason);
        m.shutdown_result.map_or(Ok(()), Err)
    }
    fn map_frame(&mut self, frame: XenFrame, gfn: u64) -> Result<(), PlatformError> {
        let mut m = self.0.borrow_mut();
        assert!(gfn < GFN_LIMIT);
        if m.s2.get(&gfn).is_some_and(|e| e.backing == Backing::Hyp) {
            return Err(PlatformError::BadAddress);
        }
        match frame {
            // Keep the guest's own page as shared_info.
            XenFrame::SharedInfo => ram_page(&m, gfn)
                .map(|_| ())
                .ok_or(PlatformError::BadAddress),
            XenFrame::GrantTable(i) => {
                let (n, old) = match m.grant_frames.get(&i) {
                    Some(&(n, old)) => (n, old),
                    None => {
                        m.frames.push(Box::new([0; PAGE]));
                        (m.frames.len() - 1, None)
                    }
                };
                if let Some(old) = old {
                    m.s2.remove(&old);
                }
                m.s2.insert(
                    gfn,
                    S2 {
                        backing: Backing::Frame(n),
                        writable: true,
                    },
                );
                m.grant_frames.insert(i, (n, Some(gfn)));
                Ok(())
            }
        }
    }
    fn map_grant(
        &mut self,
        host_gfn: u64,
        frame_gfn: u64,
        readonly: bool,
    ) -> Result<u64, PlatformError> {
        assert!(
            host_gfn < GFN_LIMIT && frame_gfn < GFN_LIMIT,
            "unchecked frame numbers"
        );
        let mut m = self.0.borrow_mut();
        let page = ram_page(&m, frame_gfn).ok_or(PlatformError::BadFrame)?;
        if m.s2
            .get(&host_gfn)
            .is_some_and(|e| e.backing == Backing::Hyp)
        {
            return Err(PlatformError::BadAddress);
        }
        m.s2.insert(
            host_gfn,
            S2 {
                backing: Backing::Ram(page),
                writable: !readonly,
            },
        );
        Ok(frame_gfn << 12)
    }
    fn unmap_grant(&mut self, host_gfn: u64, frame_gfn: u64) -> Result<(), PlatformError> {
        let mut m = self.0.borrow_mut();
        let frame = ram_page(&m, frame_gfn);
        if m.s2.get(&host_gfn).map(|e| e.backing) != frame.map(Backing::Ram) {
            return Err(PlatformError::BadAddress);
        }
        m.s2.remove(&host_gfn);
        Ok(())
    }
    fn ram_pages(&self) -> u32 {
        RAM_PAGES as u32
    }
    fn release_frame(&mut self, gfn: u64) -> Result<(), PlatformError> {
        assert!(gfn < GFN_LIMIT);
        let mut m = self.0.borrow_mut();
        ram_page(&m, gfn).ok_or(PlatformError::BadAddress)?;
        m.s2.remove(&gfn);
        m.released.push(gfn);
        Ok(())
    }
    fn populate_frame(&mut self, gfn: u64) -> Result<(), PlatformError> {
        assert!(gfn < GFN_LIMIT);
        let mut m = self.0.borrow_mut();
        let n = gfn
            .checked_sub(RAM_GFN)
            .filter(|n| *n < RAM_PAGES as u64)
            .ok_or(PlatformError::NoMemory)?;
        if m.s2.contains_key(&gfn) {
            return Err(PlatformError::Busy);
        }
        m.s2.insert(
            gfn,
            S2 {
                backing: Backing::Ram(n as usize),
                writable: true,
            },
        );
        Ok(())
    }
    fn inject_upcall(&mut self, vcpu: u32) {
        self.0.borrow_mut().injected.push(vcpu);
    }
    fn cache_flush(&mut self, ipa: u64, len: u32, op: CacheOp) -> Result<(), PlatformError> {
        let mut m = self.0.borrow_mut();
        assert!((ipa & 0xfff) + u64::from(len) <= PAGE as u64 && ipa >> 12 < GFN_LIMIT);
        match m.s2.get(&(ipa >> 12)).map(|e| e.backing) {
            Some(Backing::Ram(_) | Backing::Foreign(..)) => {}
            _ => return Err(PlatformError::BadAddress),
        }
        m.flushes.push((ipa, len, op));
        Ok(())
    }
    fn yield_vcpu(&mut self) {
        self.0.borrow_mut().yields += 1;
    }
    fn block_vcpu(&mut self) {
        self.0.borrow_mut().blocks += 1;
    }
    fn exit_stats(&mut self) -> Option<&dyn ExitCounters> {
        self.0.borrow().exits.map(|c| c as &dyn ExitCounters)
    }
    fn domain_info(&mut self, first: u16) -> Option<DomainInfo> {
        self.0
            .borrow()
            .domains
            .iter()
            .find(|d| d.domid >= first)
            .copied()
    }
    fn evtchn_peer(&mut self, domid: u16) -> Option<Arc<EvtchnLinks>> {
        self.0.borrow().peers.get(&domid).cloned()
    }
    fn kick_domain(&mut self, domid: u16) {
        self.0.borrow_mut().kicks.push(domid);
    }
    fn host_info(&mut self) -> Option<HostInfo> {
        self.0.borrow().host
    }
    fn vcpu_info(&mut self, domid: u16, vcpu: u32) -> Option<VcpuInfo> {
        self.0.borrow().vcpus.get(&(domid, vcpu)).copied()
    }
    fn debug_key(&mut self, key: u8) -> bool {
        match self.0.borrow_mut().debug_keys.as_mut() {
            Some(k) => {
                k.push(key);
                true
            }
            None => false,
        }
    }
    fn log_span(&mut self, which: HypervisorLog) -> Option<(u32, u32)> {
        let m = self.0.borrow();
        let (first, bytes) = m.log(which)?;
        Some((*first, first + bytes.len() as u32))
    }
    fn log_read(&mut self, which: HypervisorLog, at: u32, out: &mut [u8]) -> usize {
        let mut m = self.0.borrow_mut();
        m.log_read_max = m.log_read_max.max(out.len());
        let Some((first, bytes)) = m.log(which) else {
            return 0;
        };
        let Some(from) = at.checked_sub(*first).map(|o| o as usize) else {
            return 0;
        };
        let src = bytes.get(from..).unwrap_or(&[]);
        let n = src.len().min(out.len());
        out[..n].copy_from_slice(&src[..n]);
        n
    }
}

impl Model {
    fn log(&self, which: HypervisorLog) -> Option<&(u32, Vec<u8>)> {
        match which {
            HypervisorLog::Current => self.log_current.as_ref(),
            HypervisorLog::Previous => self.log_previous.as_ref(),
        }
    }
}

/// A guest with its Xen state: the tests' stand-in for Linux.
pub struct Guest {
    pub xen: Xen,
    pub mem: TestMem,
    pub plat: TestPlat,
    pub model: Rc<RefCell<Model>>,
    /// Continuations seen by the last [`call`](Guest::call).
    pub continuations: u32,
}

impl Guest {
    pub fn new(cfg: XenConfig) -> Self {
        let model = Rc::new(RefCell::new(Model::new()));
        model.borrow_mut().max_grant_frames = cfg.max_grant_frames;
        Guest {
            xen: Xen::new(cfg).unwrap(),
            mem: TestMem(model.clone()),
            plat: TestPlat(model.clone()),
            model,
            continuations: 0,
        }
    }

    /// One vCPU, 1:1.
    pub fn dom0() -> Self {
        Guest::new(XenConfig::dom0(1, true))
    }

    /// Dom0 (2 vCPUs) and DomU 1 (`domu_vcpus`), each knowing the other
    /// through its platform's list of domains and peer links.
    pub fn pair(domu_vcpus: u32) -> (Guest, Guest) {
        let d0 = Guest::new(XenConfig::dom0(2, true));
        let d1 = Guest::new(XenConfig::domu(1, domu_vcpus));
        let list = vec![info(0, "Domain-0", 2), info(1, "domU1", domu_vcpus)];
        for (g, other) in [(&d0, &d1), (&d1, &d0)] {
            let mut m = g.m();
            m.domains = list.clone();
            m.peers
                .insert(other.xen.config().domid, other.xen.evtchn_links());
        }
        d0.m().foreign.insert(1, d1.model.clone());
        (d0, d1)
    }

    pub fn m(&self) -> RefMut<'_, Model> {
        self.model.borrow_mut()
    }

    pub fn call_once(&mut self, nr: u32, args: [u32; 5]) -> Outcome {
        self.xen.hypercall(&mut self.mem, &mut self.plat, nr, args)
    }

    /// Issues a hypercall like the guest does, re-issuing continuations.
    pub fn call(&mut self, nr: u32, args: [u32; 5]) -> i32 {
        let mut args = args;
        self.continuations = 0;
        loop {
            match self.call_once(nr, args) {
                Outcome::Return(r) => return r,
                Outcome::Continue(a) => {
                    self.continuations += 1;
                    assert!(self.continuations < 100_000, "endless continuation");
                    args = a;
                }
            }
        }
    }

    /// The kernel virtual address of RAM page `n` (byte `off` in it).
    pub fn kva(n: usize, off: u32) -> u32 {
        KVA_BASE + (n * PAGE) as u32 + off
    }

    pub fn gfn(n: usize) -> u64 {
        RAM_GFN + n as u64
    }

    /// Stores a struct at a guest virtual address, as the guest.
    pub fn put<T: Wire>(&mut self, gva: u32, v: &T) {
        let mut b = vec![0u8; T::SIZE];
        v.encode(&mut b).unwrap();
        self.put_bytes(gva, &b);
    }

    pub fn get<T: Wire>(&mut self, gva: u32) -> T {
        T::decode(&self.get_bytes(gva, T::SIZE)).unwrap()
    }

    pub fn put_bytes(&mut self, gva: u32, data: &[u8]) {
        let mut m = self.m();
        for (i, b) in data.iter().enumerate() {
            let ipa = m.s1(gva + i as u32, false).unwrap();
            m.poke(ipa, &[*b]);
        }
    }

    /// Like `put_bytes`, skipping bytes whose page is not mapped (for fuzzing,
    /// where the hypervisor may have been told to remap anything).
    pub fn try_put_bytes(&mut self, gva: u32, data: &[u8]) {
        let mut m = self.m();
        for (i, b) in data.iter().enumerate() {
            if let Ok(ipa) = m.s1(gva.wrapping_add(i as u32), false) {
                if m.bytes(ipa, 1, true, false).is_ok() {
                    m.poke(ipa, &[*b]);
                }
            }
        }
    }

    /// The "hypervisor memory" page is untouched.
    pub fn hyp_intact(&self) -> bool {
        self.model.borrow().hyp.iter().all(|b| *b == 0x5a)
    }

    pub fn get_bytes(&mut self, gva: u32, len: usize) -> Vec<u8> {
        let mut m = self.m();
        (0..len)
            .map(|i| {
                let ipa = m.s1(gva + i as u32, false).unwrap();
                let mut b = [0u8];
                m.peek(ipa, &mut b);
                b[0]
            })
            .collect()
    }

    pub fn injected(&mut self) -> Vec<u32> {
        core::mem::take(&mut self.m().injected)
    }
}

/// Exit counters as `(class, key, count)` triples, in the order given.
#[derive(Debug, Default)]
pub struct Counters(pub core::cell::RefCell<Vec<[u32; 3]>>);

impl ExitCounters for Counters {
    fn read(&self, clear: bool) -> Vec<[u32; 3]> {
        let mut c = self.0.borrow_mut();
        let out = c.iter().copied().filter(|c| c[2] > 0).collect();
        if clear {
            c.iter_mut().for_each(|c| c[2] = 0);
        }
        out
    }
}

/// A running domain with `vcpus` vCPUs and 64 MiB of RAM.
pub fn info(domid: u16, name: &'static str, vcpus: u32) -> DomainInfo {
    DomainInfo::new(domid, name, 16384, vcpus, vcpus)
}
