//! Dom0's physical address space as the Xen ABI changes it: which pages a
//! hypercall may reach, and the stage-2 edits behind `add_to_physmap`, grant
//! maps and ballooning. Pure (host-tested); `xen_glue` adds the CPU parts
//! (address translation, copies, TLB and cache maintenance).
//!
//! The rules:
//! - a hypercall reaches Dom0's RAM (never snowvisor's region, never MMIO) and,
//!   by IPA only, the grant-table frames snowvisor gave it;
//! - new mappings go into holes or over RAM pages, never over MMIO (devices,
//!   the GIC's CPU interface);
//! - stage-2 tables made by hypercalls are budgeted, so a guest cannot use up
//!   snowvisor's heap.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::Cell;

use super::peer_view::PeerView;
use snowvisor_arm::stage2::{S2Entry, S2Mem, Stage2, IPA_BITS};
use snowvisor_dt::Region;
use snowvisor_xen::{Fault, PlatformError, XenFrame};

pub const PAGE: u64 = 4096;
/// Dom0's IPA space: 40 bits (stage2.rs's VTCR), as its RAM's PA space.
pub const IPA_LIMIT: u64 = 1 << IPA_BITS;
/// Stage-2 tables the domain may have in all (2 MiB of heap): the boot
/// mappings plus block splits for grant maps and ballooned pages.
pub const MAX_STAGE2_TABLES: usize = 512;

/// The stage-2 tables that mapping every page of `regions` (host memory)
/// at its own address can need: one last-level table per 2 MiB block and
/// one second-level table per 1 GiB block each region touches (LPAE, ARM
/// ARM B3.6). The bus maps' allowance ([`Space::set_bus_maps`]).
pub fn bus_tables_for(regions: &[Region]) -> usize {
    let blocks = |r: &Region, shift: u32| -> usize {
        if r.size == 0 {
            return 0;
        }
        ((r.end() - 1) >> shift).saturating_sub(r.base >> shift) as usize + 1
    };
    regions.iter().map(|r| blocks(r, 21) + blocks(r, 30)).sum()
}

/// What the space needs from the machine.
#[derive(Debug, Clone, Copy)]
pub struct Hooks {
    /// A zeroed, page-aligned 4 KiB page of snowvisor's memory, by physical
    /// address (None when out of memory).
    pub alloc_page: fn() -> Option<u64>,
    /// Called after every stage-2 change (TLB invalidation on the target).
    pub stage2_changed: fn(),
}

/// A grant-table frame: a page of snowvisor's given to the domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct GrantFrame {
    pa: u64,
    /// Where the domain mapped it.
    gfn: Option<u64>,
}

/// Dom0's stage 2, its RAM and the frames snowvisor lends it.
pub struct Space {
    stage2: Box<Stage2>,
    /// Dom0's RAM banks (IPA == PA).
    ram: Vec<Region>,
    /// `ram` in 4 KiB pages (`XENMEM_current_reservation` asks on every call).
    ram_pages: u32,
    /// snowvisor's image, stack and heap.
    hyp: Region,
    grant_frames: Vec<Option<GrantFrame>>,
    hooks: Hooks,
    /// The last page [`Space::ipa_pa`] approved: (IPA page, PA page,
    /// writable). Event delivery reads and writes the same shared_info words
    /// on every call; the stage-2 walk behind them cost about 150
    /// instructions each time. Forgotten on every stage-2 change.
    last: Cell<Option<(u64, u64, bool)>>,
    /// A DomU's view for Dom0, told where each grant frame is allocated.
    view: Option<Arc<PeerView>>,
    /// RAM is mapped at its own address (IPA == PA: Dom0). False for a
    /// DomU, whose IPAs are Xen's guest banks: no page of its RAM can be
    /// given back or taken again at an IPA equal to a host address.
    direct: bool,
    /// Other domains' pages Dom0 maps by grant that are also mapped at their
    /// own address (IPA == PA, the map's `dev_bus_addr`), when a device may
    /// reach Dom0's memory through an IOMMU that translates with this stage
    /// 2 ([`Space::set_bus_maps`]); `None` otherwise.
    bus_maps: Option<Vec<BusMap>>,
    /// Stage-2 tables the bus maps made, and how many they may make: their
    /// own allowance, sized to the memory they can name
    /// ([`bus_tables_for`]), outside [`MAX_STAGE2_TABLES`], so a DomU that
    /// grants pages in many 2 MiB blocks cannot use up Dom0's tables.
    bus_tables: usize,
    max_bus_tables: usize,
}

/// Another domain's page mapped at its own address in Dom0's stage 2, for
/// as long as Dom0 maps it by grant: how many maps, how many writable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BusMap {
    pa: u64,
    maps: u32,
    writers: u32,
}

fn gfn_ipa(gfn: u64) -> Result<u64, PlatformError> {
    gfn.checked_mul(PAGE)
        .filter(|&i| i < IPA_LIMIT)
        .ok_or(PlatformError::BadAddress)
}

impl Space {
    /// `stage2` is the domain's (it lives as long as the domain: its root is
    /// in VTTBR and in the SMMU's stream table entries).
    pub fn new(
        stage2: Box<Stage2>,
        ram: Vec<Region>,
        hyp: Region,
        max_grant_frames: u32,
        hooks: Hooks,
    ) -> Self {
        let bytes: u64 = ram.iter().map(|r| r.size).sum();
        Space {
            stage2,
            ram_pages: u32::try_from(bytes / PAGE).unwrap_or(u32::MAX),
            ram,
            hyp,
            grant_frames: alloc::vec![None; max_grant_frames as usize],
            hooks,
            last: Cell::new(None),
            view: None,
            direct: true,
            bus_maps: None,
            bus_tables: 0,
            max_bus_tables: 0,
        }
    }

    /// Makes every grant map of another domain's page also map the page at
    /// its own address ([`Space::map_bus`]): for Dom0 when snowvisor owns an
    /// IOMMU whose streams translate through Dom0's stage 2. swiotlb-xen
    /// gives a device a foreign page's `dev_bus_addr` (its host physical
    /// address); the IOMMU looks that address up here. Xen 4.17 does the
    /// same for a direct-mapped domain with an IOMMU sharing its P2M
    /// (`gnttab_need_iommu_mapping`, `arm_iommu_map_page`: a 1:1 entry).
    ///
    /// `max_tables`: the stage-2 tables they may make in all
    /// ([`bus_tables_for`] the memory whose pages can be granted to Dom0).
    pub fn set_bus_maps(&mut self, max_tables: usize) {
        self.bus_maps.get_or_insert_with(Vec::new);
        self.max_bus_tables = max_tables;
    }

    /// After a grant map of another domain's page `pa` (see
    /// [`Space::set_bus_maps`]; nothing without it): maps `pa` at IPA `pa`,
    /// writable while one of its grant maps is. `Busy` when that IPA holds
    /// anything else (Dom0's RAM, MMIO, another map): Xen fails such a grant
    /// map too. `NoMemory` when the page needs a table beyond the bus maps'
    /// allowance ([`Space::set_bus_maps`]).
    pub fn map_bus(&mut self, pa: u64, readonly: bool) -> Result<(), PlatformError> {
        let Some(list) = &self.bus_maps else {
            return Ok(());
        };
        let at = list.iter().position(|b| b.pa == pa);
        let old = at.map(|i| list[i]);
        if old.is_none() && (pa >= IPA_LIMIT || self.stage2.entry(pa).is_some()) {
            return Err(PlatformError::Busy);
        }
        let writers = old.map_or(0, |b| b.writers) + u32::from(!readonly);
        if old.is_none() || (old.is_some_and(|b| b.writers == 0) && writers > 0) {
            let before = self.stage2.table_count();
            if self.bus_tables + self.stage2.tables_needed(pa) > self.max_bus_tables {
                return Err(PlatformError::NoMemory);
            }
            let r = self.edit(pa, Some((pa, writers > 0)));
            self.bus_tables += self.stage2.table_count().saturating_sub(before);
            r?;
        }
        let b = BusMap {
            pa,
            maps: old.map_or(0, |b| b.maps) + 1,
            writers,
        };
        if let Some(list) = &mut self.bus_maps {
            match at {
                Some(i) => list[i] = b,
                None => list.push(b),
            }
        }
        Ok(())
    }

    /// After the grant unmap of a page [`Space::map_bus`] mapped (`readonly`
    /// as that map was): the last map leaves a hole at IPA `pa`, the last
    /// writable one leaves it read-only. It cannot fail: the page's own
    /// stage-2 entry is rewritten in its table (no table is made), so a
    /// grant unmap never stays half done.
    pub fn unmap_bus(&mut self, pa: u64, readonly: bool) {
        let Some(list) = &mut self.bus_maps else {
            return;
        };
        let Some(i) = list.iter().position(|b| b.pa == pa) else {
            return;
        };
        let b = &mut list[i];
        b.maps = b.maps.saturating_sub(1);
        if !readonly {
            b.writers = b.writers.saturating_sub(1);
        }
        let b = *b;
        if b.maps == 0 {
            list.swap_remove(i);
            let _ = self.edit(pa, None);
        } else if b.writers == 0 && !readonly {
            let _ = self.edit(pa, Some((pa, false)));
        }
    }

    /// Maps (`Some((pa, writable))`) or unmaps (`None`) the page at `ipa`,
    /// with no budget check: [`Space::map`] and [`Space::unmap`] check
    /// Dom0's, the bus maps their own.
    fn edit(&mut self, ipa: u64, to: Option<(u64, bool)>) -> Result<(), PlatformError> {
        self.last.set(None);
        let r = match to {
            Some((pa, writable)) => self
                .stage2
                .map_page(ipa, pa, S2Mem::Ram, writable)
                .map(|_| ()),
            None => self.stage2.unmap_page(ipa).map(|_| ()),
        };
        (self.hooks.stage2_changed)();
        r.map_err(|_| PlatformError::BadAddress)
    }

    /// Whether `ipa` holds a page [`Space::map_bus`] mapped.
    fn bus_mapped(&self, ipa: u64) -> bool {
        self.bus_maps
            .as_ref()
            .is_some_and(|l| l.iter().any(|b| b.pa == ipa & !(PAGE - 1)))
    }

    /// Marks the space as a DomU's: its RAM is not at its own address, so
    /// [`Space::release_frame`] and [`Space::populate_frame`] refuse.
    pub fn set_translated(&mut self) {
        self.direct = false;
    }

    /// A domain the control domain creates gains RAM (`XENMEM_populate_physmap`
    /// from Dom0): host `pa..pa + size` at guest `ipa..` (bytes: a 2 MiB
    /// block or a 4 KiB page, both aligned), writable, its own from now on.
    /// `Busy` if anything is mapped there, `BadAddress` for Dom0's space or a
    /// range the stage 2 cannot take, `NoMemory` when out of stage-2 tables.
    pub fn add_ram(&mut self, ipa: u64, pa: u64, size: u64) -> Result<(), PlatformError> {
        if self.direct
            || size == 0
            || !size.is_multiple_of(PAGE)
            || ipa.checked_add(size).is_none_or(|e| e > IPA_LIMIT)
        {
            return Err(PlatformError::BadAddress);
        }
        if (0..size / PAGE).any(|i| self.stage2.entry(ipa + i * PAGE).is_some()) {
            return Err(PlatformError::Busy);
        }
        self.budget(ipa)?;
        self.last.set(None);
        let r = self.stage2.map(ipa, pa, size, S2Mem::Ram);
        (self.hooks.stage2_changed)();
        r.map_err(|_| PlatformError::NoMemory)?;
        self.ram.push(Region { base: pa, size });
        self.ram_pages = self
            .ram_pages
            .saturating_add(u32::try_from(size / PAGE).unwrap_or(u32::MAX));
        Ok(())
    }

    /// A domain the control domain creates gains a page outside its RAM
    /// (Xen's magic region: its console ring, its xenstore page): host page
    /// `pa`, which its view already names ([`PeerView::add_page`]), at
    /// guest `ipa`. Errors as [`Space::add_ram`].
    pub fn add_given(&mut self, ipa: u64, pa: u64) -> Result<(), PlatformError> {
        if self.direct || !ipa.is_multiple_of(PAGE) || ipa >= IPA_LIMIT {
            return Err(PlatformError::BadAddress);
        }
        if self.stage2.entry(ipa).is_some() {
            return Err(PlatformError::Busy);
        }
        self.map(ipa, pa, true)
    }

    /// Tells `view` (the domain's, for Dom0) where each grant frame is,
    /// from now on.
    pub fn set_view(&mut self, view: Arc<PeerView>) {
        for (n, f) in self.grant_frames.iter().enumerate() {
            if let Some(f) = f {
                view.set_grant_frame(n as u32, f.pa);
            }
        }
        self.view = Some(view);
    }

    /// Grant frame `n`'s physical address, allocating it (zeroed) if the
    /// domain has not mapped it yet; for seeding entries at boot.
    pub fn grant_frame_pa(&mut self, n: u32) -> Result<u64, PlatformError> {
        let slot = self
            .grant_frames
            .get_mut(n as usize)
            .ok_or(PlatformError::BadAddress)?;
        if let Some(f) = slot {
            return Ok(f.pa);
        }
        let pa = (self.hooks.alloc_page)().ok_or(PlatformError::NoMemory)?;
        *slot = Some(GrantFrame { pa, gfn: None });
        if let Some(v) = &self.view {
            v.set_grant_frame(n, pa);
        }
        Ok(pa)
    }

    /// The grant frames' physical addresses by frame number (`None`: never
    /// allocated), to hand to the domain's next life ([`Space::reuse_grant_frames`]).
    pub fn grant_frame_pas(&self) -> Vec<Option<u64>> {
        self.grant_frames
            .iter()
            .map(|f| f.as_ref().map(|f| f.pa))
            .collect()
    }

    /// Takes the grant frames `pas` of the domain's previous life (by frame
    /// number, as [`Space::grant_frame_pas`] gave them; zeroed by the
    /// caller, mapped by no one) instead of allocating new pages: a restart
    /// allocates no grant frame again (a reset loop would use up the heap).
    /// Call before [`Space::set_view`].
    pub fn reuse_grant_frames(&mut self, pas: &[Option<u64>]) {
        for (slot, pa) in self.grant_frames.iter_mut().zip(pas) {
            if let (None, Some(pa)) = (&slot, *pa) {
                *slot = Some(GrantFrame { pa, gfn: None });
            }
        }
    }

    /// The stage-2 tables, for lookups.
    pub fn stage2(&self) -> &Stage2 {
        &self.stage2
    }

    /// Whether `pa` is Dom0's RAM (never snowvisor's).
    pub fn is_ram_pa(&self, pa: u64) -> bool {
        let at = Region { base: pa, size: 1 };
        pa < IPA_LIMIT && !self.hyp.overlaps(&at) && self.ram.iter().any(|r| r.overlaps(&at))
    }

    /// A page snowvisor gave the DomU outside its RAM (its xenstore page,
    /// its console ring: [`PeerView`]), which it reads and writes as its
    /// own.
    fn is_given_pa(&self, pa: u64) -> bool {
        self.view.as_ref().is_some_and(|v| v.is_given_page(pa))
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

    /// Whether `ipa` may take a new mapping: a hole or a RAM page.
    fn replaceable(&self, ipa: u64) -> bool {
        ipa < IPA_LIMIT
            && self.stage2.entry(ipa).is_none_or(|e| e.mem == S2Mem::Ram)
            && !self.bus_mapped(ipa)
    }

    fn budget(&self, ipa: u64) -> Result<(), PlatformError> {
        let own = self.stage2.table_count().saturating_sub(self.bus_tables);
        if own + self.stage2.tables_needed(ipa) > MAX_STAGE2_TABLES {
            return Err(PlatformError::NoMemory);
        }
        Ok(())
    }

    fn map(&mut self, ipa: u64, pa: u64, writable: bool) -> Result<(), PlatformError> {
        self.budget(ipa)?;
        self.edit(ipa, Some((pa, writable)))
    }

    fn unmap(&mut self, ipa: u64) -> Result<(), PlatformError> {
        self.budget(ipa)?;
        self.edit(ipa, None)
    }

    /// The physical address behind a guest-VA access whose translation
    /// (stage 1 and 2) gave `pa`: only Dom0's RAM.
    pub fn check_va_pa(&self, va: u32, pa: u64) -> Result<u64, Fault> {
        if self.is_ram_pa(pa) {
            Ok(pa)
        } else {
            Err(Fault::Denied(va.into()))
        }
    }

    /// The physical address of a page-contained access by IPA.
    pub fn ipa_pa(&self, ipa: u64, len: usize, write: bool) -> Result<u64, Fault> {
        let offset = ipa & (PAGE - 1);
        if offset + len as u64 > PAGE {
            return Err(Fault::Denied(ipa));
        }
        if let Some((page, pa, writable)) = self.last.get() {
            if page == ipa - offset && (writable || !write) {
                return Ok(pa + offset);
            }
        }
        let e = self.stage2.entry(ipa).ok_or(Fault::Unmapped(ipa))?;
        if e.mem != S2Mem::Ram {
            return Err(Fault::Unmapped(ipa));
        }
        if (write && !e.writable)
            || !(self.is_ram_pa(e.pa) || self.is_grant_frame_pa(e.pa) || self.is_given_pa(e.pa))
        {
            return Err(Fault::Denied(ipa));
        }
        self.last
            .set(Some((ipa - offset, e.pa - offset, e.writable)));
        Ok(e.pa)
    }

    /// `Platform::map_frame`. shared_info stays in the RAM page Dom0 gave for
    /// it; a grant frame is allocated on first use and moves if mapped again
    /// elsewhere.
    pub fn map_frame(&mut self, frame: XenFrame, gfn: u64) -> Result<(), PlatformError> {
        let ipa = gfn_ipa(gfn)?;
        let n = match frame {
            XenFrame::SharedInfo => {
                return match self.ram_page_at(ipa) {
                    Some(e) if e.writable => Ok(()),
                    _ => Err(PlatformError::BadAddress),
                };
            }
            XenFrame::GrantTable(n) => n as usize,
        };
        if n >= self.grant_frames.len() || !self.replaceable(ipa) {
            return Err(PlatformError::BadAddress);
        }
        let f = match self.grant_frames[n] {
            Some(f) => f,
            None => {
                let pa = self.grant_frame_pa(n as u32)?;
                GrantFrame { pa, gfn: None }
            }
        };
        let pa = f.pa;
        self.grant_frames[n] = Some(f);
        if let Some(old) = f.gfn.filter(|&g| g != gfn) {
            self.unmap(old * PAGE)?;
            self.grant_frames[n] = Some(GrantFrame { pa, gfn: None });
        }
        self.map(ipa, pa, true)?;
        for other in self.grant_frames.iter_mut().flatten() {
            if other.gfn == Some(gfn) {
                other.gfn = None;
            }
        }
        self.grant_frames[n] = Some(GrantFrame { pa, gfn: Some(gfn) });
        Ok(())
    }

    /// `Platform::map_grant`: Dom0's page at `frame_gfn` also at `host_gfn`;
    /// returns its bus address (Dom0 is 1:1: the physical address).
    pub fn map_grant(
        &mut self,
        host_gfn: u64,
        frame_gfn: u64,
        readonly: bool,
    ) -> Result<u64, PlatformError> {
        let (host, frame) = (gfn_ipa(host_gfn)?, gfn_ipa(frame_gfn)?);
        let pa = self.ram_page_at(frame).ok_or(PlatformError::BadFrame)?.pa;
        if !self.replaceable(host) {
            return Err(PlatformError::BadAddress);
        }
        self.map(host, pa, !readonly)?;
        Ok(pa)
    }

    /// `Platform::unmap_grant`: leaves a hole at `host_gfn`.
    pub fn unmap_grant(&mut self, host_gfn: u64, frame_gfn: u64) -> Result<(), PlatformError> {
        let (host, frame) = (gfn_ipa(host_gfn)?, gfn_ipa(frame_gfn)?);
        let expected = self.stage2.entry(frame).map_or(frame, |e| e.pa);
        match self.ram_page_at(host) {
            Some(e) if e.pa == expected => self.unmap(host),
            _ => Err(PlatformError::BadAddress),
        }
    }

    /// `Platform::map_foreign_grant`: another domain's page at host
    /// address `pa` at `host_gfn`, over a hole or a RAM page Dom0 gave up,
    /// never over MMIO or anything snowvisor lent Dom0; returns `pa` (the
    /// bus address). `pa` must be a page `owner` has (its RAM, or a page
    /// snowvisor gave it, such as its xenstore page) and never Dom0's own
    /// RAM or grant frames.
    pub fn map_foreign(
        &mut self,
        host_gfn: u64,
        pa: u64,
        readonly: bool,
        owner: &PeerView,
    ) -> Result<u64, PlatformError> {
        let host = gfn_ipa(host_gfn)?;
        if !owner.owns_pa(pa) || self.is_ram_pa(pa) || self.is_grant_frame_pa(pa) {
            return Err(PlatformError::BadFrame);
        }
        if !self.replaceable(host)
            || self
                .stage2
                .entry(host)
                .is_some_and(|e| !self.is_ram_pa(e.pa))
        {
            return Err(PlatformError::BadAddress);
        }
        self.map(host, pa, !readonly)?;
        Ok(pa)
    }

    /// `Platform::unmap_foreign_grant`: removes the other domain's page
    /// `pa` from `host_gfn`, leaving a hole.
    pub fn unmap_foreign(&mut self, host_gfn: u64, pa: u64) -> Result<(), PlatformError> {
        let host = gfn_ipa(host_gfn)?;
        match self.stage2.entry(host) {
            Some(e) if e.mem == S2Mem::Ram && e.pa == pa && !self.is_ram_pa(pa) => self.unmap(host),
            _ => Err(PlatformError::BadAddress),
        }
    }

    /// `Platform::ram_pages`: Dom0's RAM banks in 4 KiB pages, ballooned-out
    /// pages included (they stay Dom0's, at their own address).
    pub fn ram_pages(&self) -> u32 {
        self.ram_pages
    }

    /// `Platform::release_frame`: a RAM page of Dom0's own, at its own
    /// address (`BadAddress` for a DomU, [`Space::set_translated`]).
    pub fn release_frame(&mut self, gfn: u64) -> Result<(), PlatformError> {
        let ipa = gfn_ipa(gfn)?;
        if !self.direct {
            return Err(PlatformError::BadAddress);
        }
        match self.ram_page_at(ipa) {
            Some(e) if e.pa == ipa => self.unmap(ipa),
            _ => Err(PlatformError::BadAddress),
        }
    }

    /// `Platform::populate_frame`: the RAM page back at its own address
    /// (`BadAddress` for a DomU).
    pub fn populate_frame(&mut self, gfn: u64) -> Result<(), PlatformError> {
        let ipa = gfn_ipa(gfn)?;
        if !self.direct || !self.is_ram_pa(ipa) {
            return Err(PlatformError::BadAddress);
        }
        match self.stage2.entry(ipa) {
            None => self.map(ipa, ipa, true),
            Some(e) if e.pa == ipa && e.writable => Ok(()),
            Some(_) => Err(PlatformError::Busy),
        }
    }

    /// The physical address to clean for `GNTTABOP_cache_flush` of `len`
    /// bytes at `ipa`: a page mapped there as memory (Dom0's RAM, or a
    /// DomU's page Dom0 maps: snowvisor-xen resolves a foreign page's bus
    /// address to that IPA), within one page.
    pub fn cache_flush_pa(&self, ipa: u64, len: u32) -> Result<u64, PlatformError> {
        let e = self
            .stage2
            .entry(ipa)
            .filter(|e| e.mem == S2Mem::Ram)
            .ok_or(PlatformError::BadAddress)?;
        if (ipa & (PAGE - 1)) + u64::from(len) > PAGE {
            return Err(PlatformError::BadAddress);
        }
        Ok(e.pa)
    }

    /// Stage-2 tables and mapped grant frames, for the debug keys.
    pub fn usage(&self) -> (usize, usize) {
        let mapped = self
            .grant_frames
            .iter()
            .flatten()
            .filter(|f| f.gfn.is_some())
            .count();
        (self.stage2.table_count(), mapped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::boxed::Box;
    use core::sync::atomic::{AtomicU64, Ordering};
    use snowvisor_arm::lpae::Table;

    const RAM: Region = Region {
        base: 0x4000_0000,
        size: 0x1000_0000,
    };
    const HYP: Region = Region {
        base: 0x3f00_0000,
        size: 0x100_0000,
    };
    const HOLE: u64 = 0xfff0_0000;
    const UART: u64 = 0x0900_0000;

    fn addr(t: &Table) -> u64 {
        t as *const Table as u64 & 0xff_ffff_f000
    }

    static NEXT: AtomicU64 = AtomicU64::new(0x3f10_0000);

    fn alloc_page() -> Option<u64> {
        Some(NEXT.fetch_add(PAGE, Ordering::Relaxed))
    }

    fn space(frames: u32) -> Space {
        let mut s2 = Box::new(Stage2::new(addr));
        s2.map(RAM.base, RAM.base, RAM.size, S2Mem::Ram).unwrap();
        s2.map(UART, UART, PAGE, S2Mem::Device).unwrap();
        Space::new(
            s2,
            alloc::vec![RAM],
            HYP,
            frames,
            Hooks {
                alloc_page,
                stage2_changed: || {},
            },
        )
    }

    #[test]
    fn a_restarted_domain_reuses_its_grant_frames() {
        let mut first = space(4);
        let a = first.grant_frame_pa(0).unwrap();
        first
            .map_frame(XenFrame::GrantTable(2), HOLE >> 12)
            .unwrap();
        let pas = first.grant_frame_pas();
        assert_eq!(pas[0], Some(a));
        assert!(pas[2].is_some() && pas[1].is_none() && pas[3].is_none());
        let mut next = space(4);
        next.reuse_grant_frames(&pas);
        let before = NEXT.load(Ordering::Relaxed);
        assert_eq!(next.grant_frame_pa(0), Ok(a), "no new page");
        next.map_frame(XenFrame::GrantTable(2), HOLE >> 12).unwrap();
        assert_eq!(
            next.stage2.lookup(HOLE).map(|(pa, _)| Some(pa)),
            Some(pas[2])
        );
        assert_eq!(NEXT.load(Ordering::Relaxed), before, "nothing allocated");
        assert_eq!(next.grant_frame_pas(), pas);
    }

    #[test]
    fn a_domu_space_neither_releases_nor_populates_at_host_addresses() {
        // The DomU's RAM is the host range RAM, at other IPAs (Xen's guest
        // banks); a gfn that is one of its host pages is no page of its.
        let mut s = space(4);
        let gfn = (RAM.base + 0x10_0000) >> 12;
        s.stage2.unmap_page(gfn << 12).unwrap();
        s.set_translated();
        assert_eq!(s.populate_frame(gfn), Err(PlatformError::BadAddress));
        assert_eq!(s.stage2.lookup(gfn << 12), None, "no alias made");
        assert_eq!(s.release_frame(gfn + 1), Err(PlatformError::BadAddress));
        assert!(s.stage2.lookup((gfn + 1) << 12).is_some(), "kept");
    }

    #[test]
    fn shared_info_stays_in_dom0_ram() {
        let mut s = space(4);
        assert_eq!(s.map_frame(XenFrame::SharedInfo, 0x4_2933), Ok(()));
        assert_eq!(
            s.stage2.lookup(0x4293_3000),
            Some((0x4293_3000, S2Mem::Ram))
        );
        for gfn in [HOLE >> 12, UART >> 12, HYP.base >> 12, 1 << 28] {
            assert_eq!(
                s.map_frame(XenFrame::SharedInfo, gfn),
                Err(PlatformError::BadAddress),
                "{gfn:#x}"
            );
        }
    }

    #[test]
    fn grant_frames_map_move_and_are_reachable_by_ipa_only() {
        let mut s = space(4);
        s.map_frame(XenFrame::GrantTable(0), HOLE >> 12).unwrap();
        let (pa, _) = s.stage2.lookup(HOLE).unwrap();
        assert!(HYP.contains(&Region {
            base: pa,
            size: PAGE
        }));
        assert_eq!(s.ipa_pa(HOLE + 8, 8, true), Ok(pa + 8));
        // By VA the same page is refused: it is snowvisor's memory.
        assert_eq!(
            s.check_va_pa(0xc000_0000, pa),
            Err(Fault::Denied(0xc000_0000))
        );
        // Mapping it again elsewhere (over a RAM page) moves it.
        s.map_frame(XenFrame::GrantTable(0), 0x4_1000).unwrap();
        assert_eq!(s.stage2.lookup(HOLE), None);
        assert_eq!(s.stage2.lookup(0x4100_0000), Some((pa, S2Mem::Ram)));
        assert_eq!(s.usage().1, 1);
        // Not over MMIO, not past the configured frames.
        assert_eq!(
            s.map_frame(XenFrame::GrantTable(1), UART >> 12),
            Err(PlatformError::BadAddress)
        );
        assert_eq!(
            s.map_frame(XenFrame::GrantTable(4), HOLE >> 12),
            Err(PlatformError::BadAddress)
        );
    }

    #[test]
    fn ipa_access_rules() {
        let mut s = space(1);
        assert_eq!(s.ipa_pa(0x4000_0ff8, 8, true), Ok(0x4000_0ff8));
        assert_eq!(
            s.ipa_pa(0x4000_0ffc, 8, false),
            Err(Fault::Denied(0x4000_0ffc))
        );
        assert_eq!(s.ipa_pa(UART, 4, false), Err(Fault::Unmapped(UART)));
        assert_eq!(s.ipa_pa(HOLE, 4, false), Err(Fault::Unmapped(HOLE)));
        // A read-only grant map can be read, not written.
        s.map_grant(HOLE >> 12, 0x4_0005, true).unwrap();
        assert_eq!(s.ipa_pa(HOLE, 4, false), Ok(0x4000_5000));
        assert_eq!(s.ipa_pa(HOLE, 4, true), Err(Fault::Denied(HOLE)));
        assert_eq!(s.check_va_pa(1, 0x4000_5000), Ok(0x4000_5000));
        assert_eq!(s.check_va_pa(1, HYP.base), Err(Fault::Denied(1)));
    }

    #[test]
    fn remembered_page_is_forgotten_on_every_stage2_change() {
        let mut s = space(1);
        let host = 0x4_8001;
        let ipa = host << 12;
        // Approved once, then answered from the remembered page.
        assert_eq!(s.ipa_pa(ipa + 4, 4, true), Ok(ipa + 4));
        assert_eq!(s.ipa_pa(ipa + 8, 4, true), Ok(ipa + 8));
        // Ballooned out: unmapped at once, not served from memory.
        s.release_frame(host).unwrap();
        assert_eq!(s.ipa_pa(ipa + 8, 4, false), Err(Fault::Unmapped(ipa + 8)));
        // A read-only grant there: read yes, write no, even after a read.
        s.map_grant(host, 0x4_0010, true).unwrap();
        assert_eq!(s.ipa_pa(ipa, 4, false), Ok(0x4001_0000));
        assert_eq!(s.ipa_pa(ipa, 4, true), Err(Fault::Denied(ipa)));
        s.unmap_grant(host, 0x4_0010).unwrap();
        assert_eq!(s.ipa_pa(ipa, 4, false), Err(Fault::Unmapped(ipa)));
    }

    #[test]
    fn grant_map_unmap_and_balloon() {
        let mut s = space(1);
        // Balloon out a page, map a granted page there, unmap it, populate.
        let host = 0x4_8001;
        s.release_frame(host).unwrap();
        assert_eq!(s.stage2.lookup(host << 12), None);
        assert_eq!(s.release_frame(host), Err(PlatformError::BadAddress));
        assert_eq!(s.map_grant(host, 0x4_0010, false), Ok(0x4001_0000));
        assert_eq!(
            s.stage2.entry(host << 12).map(|e| (e.pa, e.writable)),
            Some((0x4001_0000, true))
        );
        assert_eq!(s.populate_frame(host), Err(PlatformError::Busy));
        assert_eq!(
            s.unmap_grant(host, 0x4_0011),
            Err(PlatformError::BadAddress)
        );
        assert_eq!(s.unmap_grant(host, 0x4_0010), Ok(()));
        assert_eq!(s.populate_frame(host), Ok(()));
        assert_eq!(s.populate_frame(host), Ok(()), "already there");
        assert_eq!(s.ram_pages(), 0x1_0000, "256 MiB, ballooning or not");
        assert_eq!(s.stage2.lookup(host << 12), Some((host << 12, S2Mem::Ram)));
        // Frames that are not Dom0's RAM cannot be granted; MMIO cannot be replaced.
        assert_eq!(
            s.map_grant(HOLE >> 12, UART >> 12, false),
            Err(PlatformError::BadFrame)
        );
        assert_eq!(
            s.map_grant(HOLE >> 12, HYP.base >> 12, false),
            Err(PlatformError::BadFrame)
        );
        assert_eq!(
            s.map_grant(UART >> 12, 0x4_0010, false),
            Err(PlatformError::BadAddress)
        );
        assert_eq!(s.populate_frame(HOLE >> 12), Err(PlatformError::BadAddress));
    }

    #[test]
    fn another_domains_page_maps_over_a_hole_and_leaves_one() {
        let mut s = space(1);
        let domu_page = 0x7e00_0000; // not Dom0's RAM: a DomU's
        let lent = HYP.base + 0x8000; // a page of snowvisor's given to the DomU
        let domu = PeerView::new(
            1,
            1,
            alloc::vec![super::super::domu_mem::Extent {
                ipa: 0x4000_0000,
                pa: domu_page,
                size: 0x20_0000,
            }],
            alloc::vec![(0x39001, lent)],
            None,
            None,
        );
        let host = 0x4_8001;
        s.release_frame(host).unwrap();
        assert_eq!(s.map_foreign(host, domu_page, false, &domu), Ok(domu_page));
        assert_eq!(
            s.stage2.entry(host << 12).map(|e| (e.pa, e.writable)),
            Some((domu_page, true))
        );
        // Hypercalls do not reach it, and nothing else replaces it.
        assert_eq!(
            s.ipa_pa(host << 12, 4, false),
            Err(Fault::Denied(host << 12))
        );
        assert_eq!(
            s.map_foreign(host, domu_page + PAGE, true, &domu),
            Err(PlatformError::BadAddress)
        );
        assert_eq!(s.release_frame(host), Err(PlatformError::BadAddress));
        assert_eq!(s.populate_frame(host), Err(PlatformError::Busy));
        assert_eq!(
            s.unmap_foreign(host, domu_page + PAGE),
            Err(PlatformError::BadAddress)
        );
        assert_eq!(s.unmap_foreign(host, domu_page), Ok(()));
        assert_eq!(s.stage2.entry(host << 12), None, "a hole");
        assert_eq!(
            s.unmap_foreign(host, domu_page),
            Err(PlatformError::BadAddress)
        );
        // The page snowvisor lent the DomU maps; the rest of snowvisor's
        // memory, Dom0's own RAM and grant frames and anything the DomU
        // does not have do not; MMIO is never replaced; a Dom0 RAM page is
        // not unmapped as if it were foreign.
        assert_eq!(s.map_foreign(host, lent, false, &domu), Ok(lent));
        assert_eq!(s.unmap_foreign(host, lent), Ok(()));
        let frame = s.grant_frame_pa(0).unwrap();
        for pa in [
            0x4000_5000,
            HYP.base,
            lent + PAGE,
            domu_page + 0x20_0000,
            frame,
        ] {
            assert_eq!(
                s.map_foreign(HOLE >> 12, pa, true, &domu),
                Err(PlatformError::BadFrame),
                "{pa:#x}"
            );
        }
        assert_eq!(
            s.map_foreign(UART >> 12, domu_page, true, &domu),
            Err(PlatformError::BadAddress)
        );
        assert_eq!(
            s.unmap_foreign(0x4_0005, 0x4000_5000),
            Err(PlatformError::BadAddress)
        );
        // Read-only when asked.
        assert_eq!(
            s.map_foreign(HOLE >> 12, domu_page, true, &domu),
            Ok(domu_page)
        );
        assert_eq!(s.stage2.entry(HOLE).map(|e| e.writable), Some(false));
    }

    #[test]
    fn the_pages_a_domu_was_given_are_its_own_memory() {
        let mut s = space(1);
        let given = HYP.base + 0x8000; // a page of snowvisor's
        s.stage2.map(HOLE, given, PAGE, S2Mem::Ram).expect("mapped");
        assert_eq!(
            s.ipa_pa(HOLE + 0xc08, 4, false),
            Err(Fault::Denied(HOLE + 0xc08))
        );
        let view = Arc::new(PeerView::new(
            1,
            1,
            Vec::new(),
            alloc::vec![(HOLE >> 12, given)],
            None,
            Some((2, HOLE >> 12)),
        ));
        s.set_view(view);
        assert_eq!(s.ipa_pa(HOLE + 0xc08, 4, true), Ok(given + 0xc08));
        assert_eq!(
            s.ipa_pa(HOLE + 0xffe, 4, false),
            Err(Fault::Denied(HOLE + 0xffe))
        );
    }

    #[test]
    fn with_an_owned_iommu_a_grant_mapped_page_is_also_at_its_bus_address() {
        let mut s = space(1);
        let domu_page = 0x7e00_0000;
        // Without an owned IOMMU nothing is mapped at the bus address.
        assert_eq!(s.map_bus(domu_page, false), Ok(()));
        assert_eq!(s.stage2.entry(domu_page), None);
        s.unmap_bus(domu_page, false);
        s.set_bus_maps(bus_tables_for(&[Region {
            base: domu_page,
            size: PAGE,
        }]));
        // A read-only map, then a writable one, of the same page.
        assert_eq!(s.map_bus(domu_page, true), Ok(()));
        let at = |s: &Space| s.stage2.entry(domu_page).map(|e| (e.pa, e.writable));
        assert_eq!(at(&s), Some((domu_page, false)));
        assert_eq!(s.map_bus(domu_page, false), Ok(()));
        assert_eq!(at(&s), Some((domu_page, true)));
        // Nothing else goes over it while it is there.
        assert_eq!(
            s.map_grant(domu_page >> 12, 0x4_0010, false),
            Err(PlatformError::BadAddress)
        );
        assert_eq!(
            s.map_frame(XenFrame::GrantTable(0), domu_page >> 12),
            Err(PlatformError::BadAddress)
        );
        // The writer goes: read-only; the last map goes: a hole.
        s.unmap_bus(domu_page, false);
        assert_eq!(at(&s), Some((domu_page, false)));
        s.unmap_bus(domu_page, true);
        assert_eq!(at(&s), None);
        s.unmap_bus(domu_page, true);
        // Never over Dom0's RAM, MMIO, or an IPA beyond its space.
        for pa in [0x4000_5000, UART, IPA_LIMIT] {
            assert_eq!(s.map_bus(pa, true), Err(PlatformError::Busy), "{pa:#x}");
        }
        assert_eq!(s.stage2.entry(0x4000_5000).map(|e| e.pa), Some(0x4000_5000));
    }

    /// A DomU that grants one page in each of many 2 MiB blocks makes the
    /// bus maps build a table per block: they come out of the bus maps'
    /// own allowance, never Dom0's, and Dom0's own edits still go through.
    #[test]
    fn bus_maps_in_many_blocks_use_their_own_allowance_not_dom0s_tables() {
        let mut s = space(1);
        let domu = Region {
            base: 0x8000_0000,
            size: 0x4000_0000 + 0x2000_0000,
        };
        let allowance = bus_tables_for(&[domu]);
        assert_eq!(allowance, 768 + 2);
        s.set_bus_maps(allowance);
        let blocks = domu.size >> 21;
        for b in 0..blocks {
            let pa = domu.base + (b << 21) + 0x3000;
            assert_eq!(s.map_bus(pa, false), Ok(()), "block {b}");
            s.unmap_bus(pa, false);
        }
        assert!(
            s.stage2.table_count() > MAX_STAGE2_TABLES,
            "more than Dom0's budget made"
        );
        // Dom0's own edits still find tables to make.
        assert_eq!(s.unmap(0x4020_0000), Ok(()));
        // Beyond the memory the allowance was sized for: refused.
        assert_eq!(
            s.map_bus(0x1_0000_3000, false),
            Err(PlatformError::NoMemory)
        );
    }

    #[test]
    fn a_grant_frame_allocated_for_seeding_is_the_one_the_guest_maps() {
        let mut s = space(2);
        let view = Arc::new(PeerView::new(1, 2, Vec::new(), Vec::new(), None, None));
        s.set_view(view.clone());
        let pa = s.grant_frame_pa(1).unwrap();
        assert_eq!(s.grant_frame_pa(1), Ok(pa), "allocated once");
        assert_eq!(view.entry_pa(512, 0), Ok(Some(pa)));
        assert_eq!(view.entry_pa(0, 0), Ok(None));
        s.map_frame(XenFrame::GrantTable(1), HOLE >> 12).unwrap();
        assert_eq!(s.stage2.lookup(HOLE), Some((pa, S2Mem::Ram)));
        s.map_frame(XenFrame::GrantTable(0), 0x4_1000).unwrap();
        assert!(view.entry_pa(0, 0).unwrap().is_some(), "told on first map");
        assert_eq!(s.grant_frame_pa(2), Err(PlatformError::BadAddress));
    }

    #[test]
    fn stage2_tables_are_budgeted() {
        let mut s = space(1);
        let mut refused = None;
        // Each 2 MiB region of the 4 GiB space needs its own level-3 table.
        for i in 0..2048u64 {
            let gfn = (i << 21) >> 12;
            if let Err(e) = s.map_grant(gfn, 0x4_0000, true) {
                if e == PlatformError::NoMemory {
                    refused = Some(i);
                    break;
                }
            }
        }
        assert!(refused.is_some(), "the budget never ran out");
        assert!(s.usage().0 <= MAX_STAGE2_TABLES);
    }

    #[test]
    fn cache_flush_only_in_dom0_ram_and_one_page() {
        let s = space(1);
        assert_eq!(s.cache_flush_pa(0x4000_1000, 4096), Ok(0x4000_1000));
        assert_eq!(
            s.cache_flush_pa(0x4000_1800, 4096),
            Err(PlatformError::BadAddress)
        );
        assert_eq!(s.cache_flush_pa(UART, 4), Err(PlatformError::BadAddress));
        assert_eq!(s.cache_flush_pa(HOLE, 4), Err(PlatformError::BadAddress));
    }
}
