//! Grant tables, version 1: the shared frames, the active (pinned) entries and
//! the maptrack handles, plus `grant_table_op`.
//!
//! The shared frames are hypervisor-owned pages that the platform allocates and
//! maps into the guest when it asks (`XENMEM_add_to_physmap`,
//! `XENMAPSPACE_grant_table`); this module only records where frame `n` is
//! mapped and reads/updates entries through that guest frame. An entry in a
//! frame the guest has not mapped reads as zero (not granted). With one
//! domain, every grant is a domain granting to itself (`domid` = own id).

mod ops;

use alloc::vec;
use alloc::vec::Vec;

use super::abi::layout::{
    GnttabCacheFlush, GnttabCopy, GnttabGetVersion, GnttabMapGrantRef, GnttabQuerySize,
};
use super::abi::layout::{GnttabSetVersion, GnttabUnmapGrantRef};
use super::abi::wire::Wire;
use super::abi::{domid, gntst, gnttabop, gtf, Errno, PAGE_SHIFT};
use super::guest::{elem_gva, gfn_ipa, read_ipa_u32, read_struct, write_struct, GuestMemory};
use super::{Ctx, HcResult, Outcome, Xen, BATCH};

/// Size of one v1 entry.
const ENTRY_SIZE: u64 = 8;
/// Attempts to update an entry's flags while the guest keeps changing it.
const STATUS_RETRIES: usize = 4;
/// Active pins per entry, per kind (Xen refuses beyond 0x7f).
const MAX_PINS: u32 = 0x7f;

/// A granted entry in use: the frame it named when first pinned and how often
/// it is pinned for reading (all pins) and writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Active {
    gref: u32,
    frame: u64,
    pins: u32,
    write_pins: u32,
}

/// A grant mapped with `GNTTABOP_map_grant_ref`, found by its handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    pub gref: u32,
    pub host_gfn: u64,
    pub frame: u64,
    pub readonly: bool,
    pub bus_addr: u64,
}

/// The domain's grant table.
#[derive(Debug, Clone)]
pub struct GrantTable {
    domid: u16,
    nr_frames: u32,
    frame_gfn: Vec<Option<u64>>,
    /// Pinned entries; few at a time, so a short list.
    active: Vec<Active>,
    maptrack: Vec<Option<Mapping>>,
    max_maptrack: usize,
}

impl GrantTable {
    pub fn new(domid: u16, max_frames: u32, max_maptrack: usize) -> Self {
        GrantTable {
            domid,
            // Xen's INITIAL_NR_GRANT_FRAMES on ARM.
            nr_frames: 1,
            frame_gfn: vec![None; max_frames as usize],
            active: Vec::new(),
            maptrack: Vec::new(),
            max_maptrack,
        }
    }

    pub fn max_frames(&self) -> u32 {
        self.frame_gfn.len() as u32
    }

    pub fn nr_frames(&self) -> u32 {
        self.nr_frames
    }

    fn nr_entries(&self) -> u32 {
        self.nr_frames * gnttabop::ENTRIES_PER_FRAME
    }

    /// Where frame `idx` is mapped in the guest.
    pub fn frame_gfn(&self, idx: u32) -> Option<u64> {
        self.frame_gfn.get(idx as usize).copied().flatten()
    }

    /// The grant frame mapped at `gfn`, if any.
    pub fn frame_at(&self, gfn: u64) -> Option<u32> {
        self.frame_gfn
            .iter()
            .position(|g| *g == Some(gfn))
            .map(|i| i as u32)
    }

    /// Records that frame `idx` is now mapped at `gfn` (moving it if it was
    /// mapped elsewhere) and grows the table to include it, as Xen does.
    pub fn set_frame_gfn(&mut self, idx: u32, gfn: u64) {
        if let Some(slot) = self.frame_gfn.get_mut(idx as usize) {
            *slot = Some(gfn);
            self.nr_frames = self.nr_frames.max(idx + 1);
        }
    }

    /// Whether a grant is mapped at `gfn`.
    pub fn host_mapped_at(&self, gfn: u64) -> bool {
        self.maptrack.iter().flatten().any(|m| m.host_gfn == gfn)
    }

    pub fn mappings(&self) -> impl Iterator<Item = (u32, Mapping)> + '_ {
        self.maptrack
            .iter()
            .enumerate()
            .filter_map(|(h, m)| m.map(|m| (h as u32, m)))
    }

    /// Number of entries pinned by mappings or copies in progress.
    pub fn active_entries(&self) -> usize {
        self.active.len()
    }

    fn own_domain(&self, d: u16) -> bool {
        d == domid::SELF || d == self.domid
    }

    /// The IPA of entry `gref`: `BAD_GNTREF` past the table, `GENERAL_ERROR`
    /// when its frame is not mapped (the entry cannot have been granted).
    fn entry_ipa(&self, gref: u32) -> Result<u64, i16> {
        if gref >= self.nr_entries() {
            return Err(gntst::BAD_GNTREF);
        }
        let frame = gref / gnttabop::ENTRIES_PER_FRAME;
        let slot = u64::from(gref % gnttabop::ENTRIES_PER_FRAME);
        let base = self
            .frame_gfn(frame)
            .and_then(gfn_ipa)
            .ok_or(gntst::GENERAL_ERROR)?;
        Ok(base + slot * ENTRY_SIZE)
    }

    /// Sets `GTF_reading` (and `GTF_writing`) on a v1 entry after checking that
    /// it grants access to this domain, writably if needed; a compare-exchange
    /// on the `flags|domid` word so the guest cannot change it under us.
    fn set_status(&self, mem: &mut dyn GuestMemory, ipa: u64, readonly: bool) -> Result<(), i16> {
        let mask = if readonly {
            gtf::TYPE_MASK
        } else {
            gtf::TYPE_MASK | gtf::READONLY
        };
        let mut cur = read_ipa_u32(mem, ipa).map_err(|_| gntst::GENERAL_ERROR)?;
        for _ in 0..STATUS_RETRIES {
            let (flags, dom) = (cur as u16, (cur >> 16) as u16);
            if flags & mask != gtf::PERMIT_ACCESS || dom != self.domid {
                return Err(gntst::GENERAL_ERROR);
            }
            let set = if readonly {
                gtf::READING
            } else {
                gtf::READING | gtf::WRITING
            };
            let new = cur | u32::from(set);
            let seen = mem
                .cmpxchg_ipa(ipa, cur, new)
                .map_err(|_| gntst::GENERAL_ERROR)?;
            if seen == cur {
                return Ok(());
            }
            cur = seen;
        }
        Err(gntst::GENERAL_ERROR)
    }

    /// Pins entry `gref` for reading or writing; returns the granted frame.
    fn acquire(
        &mut self,
        mem: &mut dyn GuestMemory,
        gref: u32,
        readonly: bool,
    ) -> Result<u64, i16> {
        let ipa = self.entry_ipa(gref)?;
        let act = self.active.iter().find(|a| a.gref == gref).copied();
        if let Some(a) = act {
            if a.pins >= MAX_PINS || a.write_pins >= MAX_PINS {
                return Err(gntst::GENERAL_ERROR);
            }
        }
        let need_status = match act {
            None => true,
            Some(a) => !readonly && a.write_pins == 0,
        };
        if need_status {
            self.set_status(mem, ipa, readonly)?;
        }
        let frame = match act {
            Some(a) => a.frame,
            None => match read_ipa_u32(mem, ipa + 4) {
                Ok(f) => u64::from(f),
                Err(_) => {
                    self.clear_flags(mem, ipa, gtf::READING | gtf::WRITING);
                    return Err(gntst::GENERAL_ERROR);
                }
            },
        };
        let a = match self.active.iter().position(|a| a.gref == gref) {
            Some(i) => &mut self.active[i],
            None => {
                self.active.push(Active {
                    gref,
                    frame,
                    pins: 0,
                    write_pins: 0,
                });
                let last = self.active.len() - 1;
                &mut self.active[last]
            }
        };
        a.pins += 1;
        if !readonly {
            a.write_pins += 1;
        }
        Ok(frame)
    }

    /// Drops one pin taken by [`acquire`](Self::acquire), clearing
    /// `GTF_writing`/`GTF_reading` when the last writer/user goes.
    fn release(&mut self, mem: &mut dyn GuestMemory, gref: u32, readonly: bool) {
        let Some(i) = self.active.iter().position(|a| a.gref == gref) else {
            return;
        };
        let a = &mut self.active[i];
        a.pins = a.pins.saturating_sub(1);
        let mut clear = 0;
        if !readonly {
            a.write_pins = a.write_pins.saturating_sub(1);
            if a.write_pins == 0 {
                clear |= gtf::WRITING;
            }
        }
        if a.pins == 0 {
            clear |= gtf::READING;
            self.active.swap_remove(i);
        }
        if clear != 0 {
            if let Ok(ipa) = self.entry_ipa(gref) {
                self.clear_flags(mem, ipa, clear);
            }
        }
    }

    fn clear_flags(&self, mem: &mut dyn GuestMemory, ipa: u64, flags: u16) {
        if let Err(f) = mem.fetch_and_ipa(ipa, !u32::from(flags)) {
            log::warn!("xen: grant entry status not cleared: {f}");
        }
    }

    fn alloc_handle(&mut self, m: Mapping) -> Option<u32> {
        if let Some(h) = self.maptrack.iter().position(Option::is_none) {
            self.maptrack[h] = Some(m);
            return Some(h as u32);
        }
        if self.maptrack.len() >= self.max_maptrack {
            return None;
        }
        self.maptrack.push(Some(m));
        Some(self.maptrack.len() as u32 - 1)
    }
}

/// The frame number in a grant-copy pointer or cache-flush address.
fn gfn_of(addr: u64) -> u64 {
    addr >> PAGE_SHIFT
}

impl Xen {
    /// `grant_table_op(cmd, uop, count)`.
    pub(super) fn grant_table_op(&mut self, cx: &mut Ctx<'_>, args: [u32; 5]) -> HcResult {
        let [cmd, uop, count, ..] = args;
        if count > i32::MAX as u32 {
            return Err(Errno::EINVAL);
        }
        match cmd {
            gnttabop::QUERY_SIZE => {
                single(count)?;
                let mut q: GnttabQuerySize = read_struct(cx.mem, uop)?;
                if self.gnttab.own_domain(q.dom) {
                    q.nr_frames = self.gnttab.nr_frames();
                    q.max_nr_frames = self.gnttab.max_frames();
                    q.status = gntst::OKAY;
                } else {
                    q.status = gntst::BAD_DOMAIN;
                }
                write_struct(cx.mem, uop, &q)?;
                Ok(Outcome::Return(0))
            }
            gnttabop::SET_VERSION => {
                single(count)?;
                let mut v: GnttabSetVersion = read_struct(cx.mem, uop)?;
                // Like Xen with v2 disabled: 2 is "not implemented", Linux keeps v1.
                let r = match v.version {
                    1 => Ok(Outcome::Return(0)),
                    2 => Err(Errno::ENOSYS),
                    _ => Err(Errno::EINVAL),
                };
                v.version = 1;
                write_struct(cx.mem, uop, &v)?;
                r
            }
            gnttabop::GET_VERSION => {
                single(count)?;
                let mut v: GnttabGetVersion = read_struct(cx.mem, uop)?;
                if !self.gnttab.own_domain(v.dom) {
                    return Err(Errno::ESRCH);
                }
                v.version = 1;
                write_struct(cx.mem, uop, &v)?;
                Ok(Outcome::Return(0))
            }
            gnttabop::MAP_GRANT_REF => {
                self.batch::<GnttabMapGrantRef>(cx, args, true, Self::map_one)
            }
            gnttabop::UNMAP_GRANT_REF => {
                self.batch::<GnttabUnmapGrantRef>(cx, args, true, Self::unmap_one)
            }
            gnttabop::COPY => self.batch::<GnttabCopy>(cx, args, true, Self::copy_one),
            gnttabop::CACHE_FLUSH => {
                self.batch::<GnttabCacheFlush>(cx, args, false, Self::cache_flush_one)
            }
            // SETUP_TABLE is only for guests without auto-translation; the rest
            // (transfer, dump, status frames, swap, unmap_and_replace) are unused.
            _ => Err(Errno::ENOSYS),
        }
    }

    /// Runs `f` on each of `count` ops at `uop`, copying each in and (if
    /// `write_back`) out again. After [`BATCH`] ops the call is continued:
    /// the guest re-issues it for the rest.
    fn batch<T: Wire>(
        &mut self,
        cx: &mut Ctx<'_>,
        args: [u32; 5],
        write_back: bool,
        mut f: impl FnMut(&mut Self, &mut Ctx<'_>, &mut T) -> Result<(), Errno>,
    ) -> HcResult {
        let [cmd, uop, count, a3, a4] = args;
        for i in 0..count {
            if i == BATCH {
                let next = elem_gva(uop, i, T::SIZE)?;
                return Ok(Outcome::Continue([cmd, next, count - i, a3, a4]));
            }
            let at = elem_gva(uop, i, T::SIZE)?;
            let mut op: T = read_struct(cx.mem, at)?;
            f(self, cx, &mut op)?;
            if write_back {
                write_struct(cx.mem, at, &op)?;
            }
        }
        Ok(Outcome::Return(0))
    }
}

/// query_size, set_version and get_version take exactly one op.
fn single(count: u32) -> Result<(), Errno> {
    if count == 1 {
        Ok(())
    } else {
        Err(Errno::EINVAL)
    }
}
