//! Grant tables, version 1: the shared frames, the active (pinned) entries and
//! the maptrack handles, plus `grant_table_op`.
//!
//! The shared frames are hypervisor-owned pages that the platform allocates and
//! maps into the guest when it asks (`XENMEM_add_to_physmap`,
//! `XENMAPSPACE_grant_table`); this module only records where frame `n` is
//! mapped and reads/updates entries through that guest frame. An entry in a
//! frame the guest has not mapped reads as zero (not granted).
//!
//! A domain maps grants of its own table (granted to itself) and, if it is
//! Dom0 (the privileged mapper, like Xen's backends and xenstored), grants
//! another domain made to it: that table is reached through the platform
//! ([`Platform::foreign_grant_word`]) without the other domain's lock, and
//! the pins and handles are kept here, in the mapper's table, as Xen keeps
//! its maptrack with the mapping domain.

mod ops;

use alloc::vec;
use alloc::vec::Vec;

use super::abi::layout::{
    GnttabCacheFlush, GnttabCopy, GnttabGetVersion, GnttabMapGrantRef, GnttabQuerySize,
};
use super::abi::layout::{GnttabSetVersion, GnttabSetupTable, GnttabUnmapGrantRef};
use super::abi::wire::Wire;
use super::abi::{domid, gntst, gnttabop, gtf, Errno, PAGE_SHIFT};
use super::guest::{elem_gva, gfn_ipa, read_ipa_u32, read_struct, write_struct, GuestMemory};
use super::platform::{Platform, PlatformError};
use super::{Ctx, HcResult, Outcome, Xen, BATCH};

/// Size of one v1 entry.
const ENTRY_SIZE: u64 = 8;
/// Attempts to update an entry's flags while the guest keeps changing it.
const STATUS_RETRIES: usize = 4;
/// Active pins per entry, per kind (Xen refuses beyond 0x7f).
const MAX_PINS: u32 = 0x7f;

/// A granted entry in use: the domain whose table it is in, the frame it
/// named when first pinned and how often it is pinned for reading (all
/// pins) and writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Active {
    dom: u16,
    gref: u32,
    frame: u64,
    pins: u32,
    write_pins: u32,
}

/// A grant mapped with `GNTTABOP_map_grant_ref`, found by its handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    /// The domain that granted it: this one, or (for Dom0) another.
    pub dom: u16,
    pub gref: u32,
    /// Where the mapper has it (its GFN).
    pub host_gfn: u64,
    /// The granted frame: a GFN of the granting domain.
    pub frame: u64,
    pub readonly: bool,
    /// The physical address behind it (`dev_bus_addr`).
    pub bus_addr: u64,
}

/// How the pin logic reaches the entries of the table a grant is in: the
/// domain's own (through its memory) or another domain's (through the
/// platform, for the privileged mapper). Errors are `GNTST_*` codes.
trait Entries {
    /// Word `word` of entry `gref`: 0 is `flags | domid << 16`, 1 the
    /// frame (`struct grant_entry_v1`).
    fn word(&mut self, gref: u32, word: u32) -> Result<u32, i16>;
    /// If word 0 of entry `gref` is `old`, makes it `new`; returns what
    /// was there.
    fn cmpxchg(&mut self, gref: u32, old: u32, new: u32) -> Result<u32, i16>;
}

/// Clears `flags` in word 0 of entry `gref` (the guest may be changing
/// its other bits meanwhile).
fn clear_flags(ent: &mut dyn Entries, gref: u32, flags: u16) {
    for _ in 0..STATUS_RETRIES {
        let Ok(cur) = ent.word(gref, 0) else { break };
        match ent.cmpxchg(gref, cur, cur & !u32::from(flags)) {
            Ok(seen) if seen == cur => return,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    log::warn!("xen: grant entry {gref} status not cleared");
}

/// The domain's own entries, in the frames it mapped.
struct OwnEntries<'a> {
    frames: &'a [Option<u64>],
    nr_entries: u32,
    mem: &'a mut dyn GuestMemory,
}

impl OwnEntries<'_> {
    /// The IPA of entry `gref`: `BAD_GNTREF` past the table,
    /// `GENERAL_ERROR` when its frame is not mapped (the entry cannot have
    /// been granted).
    fn ipa(&self, gref: u32) -> Result<u64, i16> {
        if gref >= self.nr_entries {
            return Err(gntst::BAD_GNTREF);
        }
        let frame = gref / gnttabop::ENTRIES_PER_FRAME;
        let slot = u64::from(gref % gnttabop::ENTRIES_PER_FRAME);
        let base = self
            .frames
            .get(frame as usize)
            .copied()
            .flatten()
            .and_then(gfn_ipa)
            .ok_or(gntst::GENERAL_ERROR)?;
        Ok(base + slot * ENTRY_SIZE)
    }
}

impl Entries for OwnEntries<'_> {
    fn word(&mut self, gref: u32, word: u32) -> Result<u32, i16> {
        let ipa = self.ipa(gref)? + u64::from(word) * 4;
        read_ipa_u32(self.mem, ipa).map_err(|_| gntst::GENERAL_ERROR)
    }

    fn cmpxchg(&mut self, gref: u32, old: u32, new: u32) -> Result<u32, i16> {
        let ipa = self.ipa(gref)?;
        self.mem
            .cmpxchg_ipa(ipa, old, new)
            .map_err(|_| gntst::GENERAL_ERROR)
    }
}

/// Another domain's entries, through the platform (Dom0 only).
struct ForeignEntries<'a> {
    plat: &'a mut dyn Platform,
    dom: u16,
}

/// A platform refusal of another domain's entry as a `GNTST_*` code.
fn foreign_entry_status(e: PlatformError) -> i16 {
    match e {
        PlatformError::BadAddress => gntst::BAD_GNTREF,
        PlatformError::NotSupported => gntst::BAD_DOMAIN,
        _ => gntst::GENERAL_ERROR,
    }
}

impl Entries for ForeignEntries<'_> {
    fn word(&mut self, gref: u32, word: u32) -> Result<u32, i16> {
        self.plat
            .foreign_grant_word(self.dom, gref, word)
            .map_err(foreign_entry_status)
    }

    fn cmpxchg(&mut self, gref: u32, old: u32, new: u32) -> Result<u32, i16> {
        self.plat
            .foreign_grant_cmpxchg(self.dom, gref, old, new)
            .map_err(foreign_entry_status)
    }
}

/// The entries pinned by mappings or copies in progress; few at a time,
/// so a short list.
#[derive(Debug, Clone, Default)]
struct Pins(Vec<Active>);

impl Pins {
    fn find(&self, dom: u16, gref: u32) -> Option<usize> {
        self.0.iter().position(|a| a.dom == dom && a.gref == gref)
    }

    /// Pins entry `gref` of domain `dom`'s table (reached through `ent`)
    /// for reading or writing by domain `mapper`; returns the granted
    /// frame. The first pin (and the first writable one) checks the entry
    /// and sets `GTF_reading` (`GTF_writing`), as Xen's `_set_status_v1`.
    fn acquire(
        &mut self,
        ent: &mut dyn Entries,
        dom: u16,
        mapper: u16,
        gref: u32,
        readonly: bool,
    ) -> Result<u64, i16> {
        let at = self.find(dom, gref);
        let act = at.map(|i| self.0[i]);
        if let Some(a) = act {
            if a.pins >= MAX_PINS || a.write_pins >= MAX_PINS {
                return Err(gntst::GENERAL_ERROR);
            }
        } else {
            // Bounds first: a ref past the table is BAD_GNTREF.
            ent.word(gref, 0)?;
        }
        let need_status = match act {
            None => true,
            Some(a) => !readonly && a.write_pins == 0,
        };
        if need_status {
            set_status(ent, gref, mapper, readonly)?;
        }
        let frame = match act {
            Some(a) => a.frame,
            None => match ent.word(gref, 1) {
                Ok(f) => u64::from(f),
                Err(_) => {
                    clear_flags(ent, gref, gtf::READING | gtf::WRITING);
                    return Err(gntst::GENERAL_ERROR);
                }
            },
        };
        let i = at.unwrap_or_else(|| {
            self.0.push(Active {
                dom,
                gref,
                frame,
                pins: 0,
                write_pins: 0,
            });
            self.0.len() - 1
        });
        let a = &mut self.0[i];
        a.pins += 1;
        if !readonly {
            a.write_pins += 1;
        }
        Ok(frame)
    }

    /// Drops one pin taken by [`Pins::acquire`], clearing
    /// `GTF_writing`/`GTF_reading` when the last writer/user goes.
    fn release(&mut self, ent: &mut dyn Entries, dom: u16, gref: u32, readonly: bool) {
        let Some(i) = self.find(dom, gref) else {
            return;
        };
        let a = &mut self.0[i];
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
            self.0.swap_remove(i);
        }
        if clear != 0 {
            clear_flags(ent, gref, clear);
        }
    }
}

/// Sets `GTF_reading` (and `GTF_writing`) on a v1 entry after checking
/// that it grants access to domain `mapper`, writably if needed; a
/// compare-exchange on the `flags|domid` word so the granting guest cannot
/// change it under us.
fn set_status(ent: &mut dyn Entries, gref: u32, mapper: u16, readonly: bool) -> Result<(), i16> {
    let mask = if readonly {
        gtf::TYPE_MASK
    } else {
        gtf::TYPE_MASK | gtf::READONLY
    };
    let set = if readonly {
        gtf::READING
    } else {
        gtf::READING | gtf::WRITING
    };
    let mut cur = ent.word(gref, 0)?;
    for _ in 0..STATUS_RETRIES {
        let (flags, dom) = (cur as u16, (cur >> 16) as u16);
        if flags & mask != gtf::PERMIT_ACCESS || dom != mapper {
            return Err(gntst::GENERAL_ERROR);
        }
        let seen = ent.cmpxchg(gref, cur, cur | u32::from(set))?;
        if seen == cur {
            return Ok(());
        }
        cur = seen;
    }
    Err(gntst::GENERAL_ERROR)
}

/// The domain's grant table.
#[derive(Debug, Clone)]
pub struct GrantTable {
    domid: u16,
    nr_frames: u32,
    frame_gfn: Vec<Option<u64>>,
    pins: Pins,
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
            pins: Pins::default(),
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
        self.pins.0.len()
    }

    fn own_domain(&self, d: u16) -> bool {
        d == domid::SELF || d == self.domid
    }

    /// The domain's own entries (through `mem`), its pins and its id.
    fn own<'a>(&'a mut self, mem: &'a mut dyn GuestMemory) -> (OwnEntries<'a>, &'a mut Pins, u16) {
        let ent = OwnEntries {
            frames: &self.frame_gfn,
            nr_entries: self.nr_frames * gnttabop::ENTRIES_PER_FRAME,
            mem,
        };
        (ent, &mut self.pins, self.domid)
    }

    /// Pins the domain's own entry `gref` (granted to itself).
    fn acquire(
        &mut self,
        mem: &mut dyn GuestMemory,
        gref: u32,
        readonly: bool,
    ) -> Result<u64, i16> {
        let (mut ent, pins, me) = self.own(mem);
        pins.acquire(&mut ent, me, me, gref, readonly)
    }

    /// Drops a pin taken by [`GrantTable::acquire`].
    fn release(&mut self, mem: &mut dyn GuestMemory, gref: u32, readonly: bool) {
        let (mut ent, pins, me) = self.own(mem);
        pins.release(&mut ent, me, gref, readonly);
    }

    /// Pins entry `gref` of domain `dom`'s table, granted to this domain.
    fn acquire_foreign(
        &mut self,
        plat: &mut dyn Platform,
        dom: u16,
        gref: u32,
        readonly: bool,
    ) -> Result<u64, i16> {
        let mut ent = ForeignEntries { plat, dom };
        self.pins.acquire(&mut ent, dom, self.domid, gref, readonly)
    }

    /// Drops a pin taken by [`GrantTable::acquire_foreign`].
    fn release_foreign(&mut self, plat: &mut dyn Platform, dom: u16, gref: u32, readonly: bool) {
        let mut ent = ForeignEntries { plat, dom };
        self.pins.release(&mut ent, dom, gref, readonly);
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

/// The two words of a v1 grant entry (`struct grant_entry_v1`,
/// `public/grant_table.h`) granting frame `gfn` of the granting domain to
/// domain `to`, writable: `GTF_permit_access` and `domid` in the first,
/// the frame in the second. What Xen's toolstack writes into a new guest's
/// reserved entries before it runs (`xc_dom_gnttab_seed`,
/// `tools/libs/guest/xg_dom_boot.c`; the entry numbers are
/// [`gnttabop::RESERVED_CONSOLE`] and [`gnttabop::RESERVED_XENSTORE`]).
pub fn seed_entry(to: u16, gfn: u32) -> [u32; 2] {
    [u32::from(gtf::PERMIT_ACCESS) | u32::from(to) << 16, gfn]
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
                    q.status = self.foreign_status(cx, q.dom, gntst::PERMISSION_DENIED);
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
                    return Err(self.foreign(cx, v.dom));
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
            gnttabop::SETUP_TABLE => {
                // Xen's checks for another domain's table (bad domain,
                // then `xsm_grant_setup`); for its own, a translated guest
                // maps its frames with add_to_physmap instead: not offered.
                single(count)?;
                let mut t: GnttabSetupTable = read_struct(cx.mem, uop)?;
                if self.gnttab.own_domain(t.dom) {
                    return Err(Errno::ENOSYS);
                }
                t.status = self.foreign_status(cx, t.dom, gntst::PERMISSION_DENIED);
                write_struct(cx.mem, uop, &t)?;
                Ok(Outcome::Return(0))
            }
            // The rest (transfer, dump, status frames, swap,
            // unmap_and_replace) are unused.
            _ => Err(Errno::ENOSYS),
        }
    }

    /// The status of a grant op naming another domain's grant table:
    /// `GNTST_bad_domain` if there is no such domain, else `existing`.
    /// snowvisor maps and copies no other domain's grants yet, so every
    /// reference of an existing domain reads as not granted to the caller:
    /// `GNTST_general_error`, Xen's answer for an entry whose flags or
    /// domain do not match (`_set_status_v1`).
    pub(super) fn foreign_status(&self, cx: &mut Ctx<'_>, dom: u16, existing: i16) -> i16 {
        match self.lookup(cx, dom) {
            Some(_) => existing,
            None => gntst::BAD_DOMAIN,
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
