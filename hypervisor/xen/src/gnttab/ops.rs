//! The per-op grant operations: map, unmap, copy and cache flush.
//!
//! Map/unmap/copy report per-op failures in the op's `status` (`GNTST_*`) and
//! leave the hypercall's return value at 0, as Xen does; only a failure to
//! read or write the op itself ends the call with `-EFAULT`.

use super::super::abi::layout::{
    GnttabCacheFlush, GnttabCopy, GnttabCopyPtr, GnttabMapGrantRef, GnttabUnmapGrantRef,
};
use super::super::abi::{domid, gntmap, gntst, Errno, PAGE_SIZE};
use super::super::guest::{gfn_ipa, in_page, GFN_LIMIT};
use super::super::platform::{CacheOp, PlatformError};
use super::super::{Ctx, Xen};
use super::{gfn_of, Mapping};

/// Bytes moved per step of a grant copy.
const COPY_CHUNK: usize = 256;

/// One side of a grant copy, once resolved.
struct Side {
    frame: u64,
    /// The grant pinned for this side, to release afterwards.
    gref: Option<u32>,
}

impl Xen {
    pub(super) fn map_one(
        &mut self,
        cx: &mut Ctx<'_>,
        op: &mut GnttabMapGrantRef,
    ) -> Result<(), Errno> {
        match self.try_map(cx, op) {
            Ok((handle, bus)) => {
                op.handle = handle;
                op.dev_bus_addr = bus;
                op.status = gntst::OKAY;
            }
            Err(s) => op.status = s,
        }
        Ok(())
    }

    fn try_map(&mut self, cx: &mut Ctx<'_>, op: &GnttabMapGrantRef) -> Result<(u32, u64), i16> {
        if op.flags & (gntmap::DEVICE_MAP | gntmap::HOST_MAP) == 0 {
            return Err(gntst::BAD_GNTREF);
        }
        // Xen on ARM (a translated domain): host mappings only, no PTE updates.
        if op.flags & (gntmap::DEVICE_MAP | gntmap::APPLICATION_MAP | gntmap::CONTAINS_PTE) != 0 {
            return Err(gntst::GENERAL_ERROR);
        }
        let foreign = !self.gnttab.own_domain(op.dom);
        if foreign && !self.privileged() {
            return Err(self.foreign_status(cx, op.dom, gntst::GENERAL_ERROR));
        }
        if foreign && self.lookup(cx, op.dom).is_none() {
            return Err(gntst::BAD_DOMAIN);
        }
        let dom = if foreign { op.dom } else { self.cfg.domid };
        if self.gnttab.maptrack.iter().all(Option::is_some)
            && self.gnttab.maptrack.len() >= self.gnttab.max_maptrack
        {
            return Err(gntst::NO_DEVICE_SPACE);
        }
        let readonly = op.flags & gntmap::READONLY != 0;
        let host_gfn = gfn_of(op.host_addr);
        if host_gfn >= GFN_LIMIT || self.gfn_in_use(host_gfn) {
            return Err(gntst::GENERAL_ERROR);
        }
        let frame = if foreign {
            self.gnttab
                .acquire_foreign(cx.plat, dom, op.gref, readonly)?
        } else {
            self.gnttab.acquire(cx.mem, op.gref, readonly)?
        };
        let mapped = if frame >= GFN_LIMIT {
            Err(PlatformError::BadFrame)
        } else if foreign {
            cx.plat.map_foreign_grant(host_gfn, dom, frame, readonly)
        } else {
            cx.plat.map_grant(host_gfn, frame, readonly)
        };
        let bus = match mapped {
            Ok(b) => b,
            Err(e) => {
                self.release_pin(cx, dom, op.gref, readonly);
                log::debug!(
                    "xen: grant {} of d{dom} not mapped at gfn {host_gfn:#x}: {e}",
                    op.gref
                );
                return Err(if e == PlatformError::BadFrame {
                    gntst::BAD_PAGE
                } else {
                    gntst::GENERAL_ERROR
                });
            }
        };
        let m = Mapping {
            dom,
            gref: op.gref,
            host_gfn,
            frame,
            readonly,
            bus_addr: bus,
        };
        match self.gnttab.alloc_handle(m) {
            Some(h) => Ok((h, bus)),
            None => {
                // Checked above; kept for safety.
                let _ = self.unmap_host(cx, &m);
                self.release_pin(cx, dom, op.gref, readonly);
                Err(gntst::NO_DEVICE_SPACE)
            }
        }
    }

    /// Drops a pin on entry `gref` of domain `dom` (this one or another).
    fn release_pin(&mut self, cx: &mut Ctx<'_>, dom: u16, gref: u32, readonly: bool) {
        if dom == self.cfg.domid {
            self.gnttab.release(cx.mem, gref, readonly);
        } else {
            self.gnttab.release_foreign(cx.plat, dom, gref, readonly);
        }
    }

    /// Removes mapping `m` from the domain's stage 2 (a hole is left).
    fn unmap_host(&mut self, cx: &mut Ctx<'_>, m: &Mapping) -> Result<(), PlatformError> {
        if m.dom == self.cfg.domid {
            cx.plat.unmap_grant(m.host_gfn, m.frame)
        } else {
            cx.plat.unmap_foreign_grant(m.host_gfn, m.dom, m.bus_addr)
        }
    }

    pub(super) fn unmap_one(
        &mut self,
        cx: &mut Ctx<'_>,
        op: &mut GnttabUnmapGrantRef,
    ) -> Result<(), Errno> {
        op.status = match self.try_unmap(cx, op) {
            Ok(()) => gntst::OKAY,
            Err(s) => s,
        };
        Ok(())
    }

    fn try_unmap(&mut self, cx: &mut Ctx<'_>, op: &GnttabUnmapGrantRef) -> Result<(), i16> {
        let slot = self
            .gnttab
            .maptrack
            .get(op.handle as usize)
            .copied()
            .flatten();
        let m = slot.ok_or(gntst::BAD_HANDLE)?;
        if op.dev_bus_addr != 0 && op.dev_bus_addr != m.bus_addr {
            return Err(gntst::GENERAL_ERROR);
        }
        // Xen removes a host mapping only when told where it is.
        if op.host_addr == 0 {
            return Ok(());
        }
        if gfn_of(op.host_addr) != m.host_gfn {
            return Err(gntst::GENERAL_ERROR);
        }
        self.unmap_host(cx, &m).map_err(|_| gntst::GENERAL_ERROR)?;
        self.gnttab.maptrack[op.handle as usize] = None;
        self.release_pin(cx, m.dom, m.gref, m.readonly);
        Ok(())
    }

    pub(super) fn copy_one(&mut self, cx: &mut Ctx<'_>, op: &mut GnttabCopy) -> Result<(), Errno> {
        op.status = match self.try_copy(cx, op) {
            Ok(()) => gntst::OKAY,
            Err(s) => s,
        };
        Ok(())
    }

    fn try_copy(&mut self, cx: &mut Ctx<'_>, op: &GnttabCopy) -> Result<(), i16> {
        let len = u64::from(op.len);
        if !in_page(u64::from(op.source.offset), len) || !in_page(u64::from(op.dest.offset), len) {
            return Err(gntst::BAD_COPY_ARG);
        }
        let src = self.copy_side(
            cx,
            &op.source,
            op.flags & gntmap::COPY_SOURCE_GREF != 0,
            true,
        )?;
        let dst = match self.copy_side(cx, &op.dest, op.flags & gntmap::COPY_DEST_GREF != 0, false)
        {
            Ok(d) => d,
            Err(s) => {
                self.release_side(cx, &src, true);
                return Err(s);
            }
        };
        let r = copy_frames(
            cx,
            &src,
            u64::from(op.source.offset),
            &dst,
            u64::from(op.dest.offset),
            op.len,
        );
        self.release_side(cx, &dst, false);
        self.release_side(cx, &src, true);
        r
    }

    /// Resolves one side of a copy: a grant of this domain (pinned) or one of
    /// its own frames.
    fn copy_side(
        &mut self,
        cx: &mut Ctx<'_>,
        p: &GnttabCopyPtr,
        is_gref: bool,
        readonly: bool,
    ) -> Result<Side, i16> {
        // Xen's `gnttab_copy_lock_domain`: only DOMID_SELF may name a frame.
        if !is_gref && p.domid != domid::SELF {
            return Err(gntst::PERMISSION_DENIED);
        }
        if !self.gnttab.own_domain(p.domid) {
            return Err(self.foreign_status(cx, p.domid, gntst::GENERAL_ERROR));
        }
        if is_gref {
            // The union's `ref` is its low 32 bits.
            let gref = p.u as u32;
            let frame = self.gnttab.acquire(cx.mem, gref, readonly)?;
            Ok(Side {
                frame,
                gref: Some(gref),
            })
        } else {
            Ok(Side {
                frame: p.u,
                gref: None,
            })
        }
    }

    fn release_side(&mut self, cx: &mut Ctx<'_>, s: &Side, readonly: bool) {
        if let Some(g) = s.gref {
            self.gnttab.release(cx.mem, g, readonly);
        }
    }

    pub(super) fn cache_flush_one(
        &mut self,
        cx: &mut Ctx<'_>,
        op: &mut GnttabCacheFlush,
    ) -> Result<(), Errno> {
        let (offset, length) = (u64::from(op.offset), u64::from(op.length));
        if !in_page(offset, length) || op.op & !(gntmap::CACHE_CLEAN | gntmap::CACHE_INVAL) != 0 {
            return Err(Errno::EINVAL);
        }
        // Linux probes with an all-zero op; op 0 or length 0 is a no-op.
        if length == 0 || op.op == 0 {
            return Ok(());
        }
        let base = self.cache_flush_base(op.a)?;
        let what = match (
            op.op & gntmap::CACHE_CLEAN != 0,
            op.op & gntmap::CACHE_INVAL != 0,
        ) {
            (true, true) => CacheOp::CleanInvalidate,
            (true, false) => CacheOp::Clean,
            _ => CacheOp::Invalidate,
        };
        cx.plat
            .cache_flush(base + offset, u32::from(op.length), what)
            .map_err(|e| match e {
                PlatformError::BadAddress => Errno::EINVAL,
                PlatformError::NotSupported => Errno::EOPNOTSUPP,
                _ => Errno::EPERM,
            })
    }

    /// Where `GNTTABOP_cache_flush` of address `a` operates, as an IPA of
    /// this domain. The address is a bus (machine) address, as in Xen 4.17's
    /// `cache_flush` (`common/grant_table.c`): one of the domain's own pages
    /// (Dom0 is direct mapped: its IPA), or the `dev_bus_addr` of another
    /// domain's page it maps with `GNTTABOP_map_grant_ref` (Xen:
    /// `grant_map_exists`), which swiotlb-xen hands over for a foreign page
    /// it cleans for a non-coherent device: then the page's own mapping in
    /// this domain. A frame of the domain that holds such a foreign map is
    /// no page of its own (Xen: a ballooned-out page, no owner): `-EPERM`.
    /// An address outside the IPA space is `-EINVAL`.
    fn cache_flush_base(&self, a: u64) -> Result<u64, Errno> {
        let gfn = gfn_of(a);
        let me = self.cfg.domid;
        let foreign = || {
            self.gnttab
                .mappings()
                .map(|(_, m)| m)
                .filter(move |m| m.dom != me)
        };
        if let Some(m) = foreign().find(|m| gfn_of(m.bus_addr) == gfn) {
            return gfn_ipa(m.host_gfn).ok_or(Errno::EINVAL);
        }
        if foreign().any(|m| m.host_gfn == gfn) {
            return Err(Errno::EPERM);
        }
        gfn_ipa(gfn).ok_or(Errno::EINVAL)
    }
}

/// Copies `len` bytes between two frames of the domain, in chunks, backwards
/// when the ranges overlap in a way a forward copy would corrupt.
fn copy_frames(
    cx: &mut Ctx<'_>,
    src: &Side,
    soff: u64,
    dst: &Side,
    doff: u64,
    len: u16,
) -> Result<(), i16> {
    let s = gfn_ipa(src.frame).ok_or(gntst::BAD_PAGE)? + soff;
    let d = gfn_ipa(dst.frame).ok_or(gntst::BAD_PAGE)? + doff;
    let len = usize::from(len);
    debug_assert!(len <= PAGE_SIZE);
    let backwards = d > s && d < s + len as u64;
    let mut buf = [0u8; COPY_CHUNK];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(COPY_CHUNK);
        let at = if backwards { len - done - n } else { done } as u64;
        cx.mem
            .read_ipa(s + at, &mut buf[..n])
            .map_err(|_| gntst::BAD_PAGE)?;
        cx.mem
            .write_ipa(d + at, &buf[..n])
            .map_err(|_| gntst::BAD_PAGE)?;
        done += n;
    }
    Ok(())
}
