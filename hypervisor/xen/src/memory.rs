//! `memory_op`: placing Xen frames in the guest's physical map, the balloon
//! calls (`decrease_reservation` / `populate_physmap`) that gntdev needs, and
//! the domain's page counts (`current_reservation` / `maximum_reservation`).
//!
//! A domain changes only its own memory. Naming another domain is `-ESRCH`
//! if there is none, else `-EPERM` (Xen's `XSM_TARGET` checks for an
//! unprivileged caller), but Dom0, the control domain, may read another
//! domain's page counts, and does what Xen's `init-dom0less` asks for a
//! boot-time DomU:
//! - `populate_physmap` of the DomU's xenstore page (snowvisor gave it at
//!   boot: the call succeeds and zeroes it, see
//!   [`Platform::populate_foreign_frame`]); any other page is not populated
//!   (0 extents done: snowvisor does not grow a DomU);
//! - `populate_physmap` of a domain it created (`xl create`), in 4 KiB and
//!   2 MiB extents ([`Xen::populate_created`]);
//! - foreign mappings through `privcmd`: `add_to_physmap_batch` with
//!   `XENMAPSPACE_gmfn_foreign` (the DomU's RAM or xenstore page) and
//!   `acquire_resource` of its grant table, each page mapped at the GFN Dom0
//!   names, until Dom0's `remove_from_physmap` of that GFN.
//!
//! Mapping another domain's page through `add_to_physmap` is `-ENOSYS`
//! (Xen: batch only); through `add_to_physmap_batch` it is a per-page
//! `-EPERM` for a DomU (`xsm_map_gmfn_foreign`) and `-ESRCH` for an unknown
//! domain or the caller itself (`get_pg_owner`).

use super::abi::layout::{
    XenAddToPhysmap, XenAddToPhysmapBatch, XenErr, XenMemAcquireResource, XenMemoryDomain,
    XenMemoryReservation, XenPfn, XenRemoveFromPhysmap,
};
use super::abi::{xenmem, Errno};
use super::guest::{elem_gva, gfn_ipa, handle_gva, read_struct, write_struct, GFN_LIMIT};
use super::platform::{PlatformError, XenFrame};
use super::{Ctx, HcResult, Outcome, Xen, BATCH};

/// How a platform refusal reads to the guest for memory calls.
pub(super) fn platform_errno(e: PlatformError) -> Errno {
    match e {
        PlatformError::BadAddress | PlatformError::BadFrame => Errno::EINVAL,
        PlatformError::NoMemory => Errno::ENOMEM,
        PlatformError::NotSupported => Errno::ENOSYS,
        PlatformError::Busy => Errno::EBUSY,
    }
}

impl Xen {
    /// `memory_op(cmd, arg)`; the bits of `cmd` above the command are the
    /// start extent of a continued reservation call.
    pub(super) fn memory_op(&mut self, cx: &mut Ctx<'_>, args: [u32; 5]) -> HcResult {
        let [cmd, arg, ..] = args;
        let op = cmd & xenmem::CMD_MASK;
        let start = cmd >> xenmem::EXTENT_SHIFT;
        match op {
            xenmem::ADD_TO_PHYSMAP if start == 0 => self.add_to_physmap(cx, arg),
            xenmem::ADD_TO_PHYSMAP => Err(Errno::EINVAL),
            xenmem::ADD_TO_PHYSMAP_BATCH => self.add_to_physmap_batch(cx, start, arg),
            xenmem::ACQUIRE_RESOURCE => self.acquire_resource(cx, start, arg),
            xenmem::REMOVE_FROM_PHYSMAP if start != 0 => Err(Errno::EINVAL),
            xenmem::REMOVE_FROM_PHYSMAP => self.remove_from_physmap(cx, arg),
            xenmem::DECREASE_RESERVATION | xenmem::POPULATE_PHYSMAP => {
                self.reservation(cx, op, start, args)
            }
            xenmem::CURRENT_RESERVATION | xenmem::MAXIMUM_RESERVATION => {
                self.pages(cx, op, start, arg)
            }
            // Xen 4.17 on ARM has no memory sharing: `arch_memory_op`
            // answers both counts with 0, for any domain.
            xenmem::GET_SHARING_FREED_PAGES | xenmem::GET_SHARING_SHARED_PAGES => {
                Ok(Outcome::Return(0))
            }
            _ => Err(Errno::ENOSYS),
        }
    }

    /// `XENMEM_current_reservation` / `XENMEM_maximum_reservation`: the
    /// domain's pages, as Xen 4.17's `do_memory_op` (`common/memory.c`)
    /// answers them: a start extent is `-EINVAL`, an unreadable
    /// `xen_memory_domain` `-EFAULT`, another domain `-ESRCH`; then
    /// `domain_tot_pages` / `max_pages`. For a direct-mapped domain (Xen's
    /// Dom0 on ARM, and snowvisor's) both are the RAM it was built with:
    /// `decrease_reservation` keeps a direct-mapped domain's page allocated
    /// so that `populate_physmap` gives the same page back, so ballooning
    /// changes neither.
    fn pages(&mut self, cx: &mut Ctx<'_>, op: u32, start: u32, arg: u32) -> HcResult {
        if start != 0 {
            return Err(Errno::EINVAL);
        }
        let d: XenMemoryDomain = read_struct(cx.mem, arg)?;
        if !self.own_domain(d.domid) {
            let info = self.lookup(cx, d.domid).ok_or(Errno::ESRCH)?;
            if !self.privileged() {
                return Err(Errno::EPERM);
            }
            let pages = if op == xenmem::MAXIMUM_RESERVATION {
                info.max_pages
            } else {
                info.tot_pages
            };
            return Ok(Outcome::Return(i32::try_from(pages).unwrap_or(i32::MAX)));
        }
        let pages = cx.plat.ram_pages();
        Ok(Outcome::Return(i32::try_from(pages).unwrap_or(i32::MAX)))
    }

    fn add_to_physmap(&mut self, cx: &mut Ctx<'_>, arg: u32) -> HcResult {
        let x: XenAddToPhysmap = read_struct(cx.mem, arg)?;
        // Xen: "Foreign mapping is only possible via add_to_physmap_batch".
        if x.space == xenmem::SPACE_GMFN_FOREIGN {
            return Err(Errno::ENOSYS);
        }
        if !self.own_domain(x.domid) {
            return Err(self.foreign(cx, x.domid));
        }
        // `xatp_permission_check`: device MMIO only for the hardware domain.
        if x.space == xenmem::SPACE_DEV_MMIO && !self.privileged() {
            return Err(Errno::EACCES);
        }
        let frame = match x.space {
            xenmem::SPACE_SHARED_INFO if x.idx == 0 => XenFrame::SharedInfo,
            xenmem::SPACE_SHARED_INFO => return Err(Errno::EINVAL),
            xenmem::SPACE_GRANT_TABLE => {
                // v1 has no status frames; the index must be below the maximum.
                match u32::try_from(x.idx) {
                    Ok(i)
                        if x.idx & xenmem::IDX_GRANT_TABLE_STATUS == 0
                            && i < self.gnttab.max_frames() =>
                    {
                        XenFrame::GrantTable(i)
                    }
                    _ => return Err(Errno::EINVAL),
                }
            }
            _ => return Err(Errno::ENOSYS),
        };
        let gfn = x.gpfn;
        if gfn_ipa(gfn).is_none() {
            return Err(Errno::EINVAL);
        }
        // Mapping a frame again where it already is, is fine; over anything
        // else the hypervisor relies on (another Xen frame, a registered
        // vcpu_info, a mapped grant) is not.
        if self.frame_at(gfn) != Some(frame) && self.gfn_in_use(gfn) {
            return Err(Errno::EBUSY);
        }
        cx.plat.map_frame(frame, gfn).map_err(platform_errno)?;
        match frame {
            XenFrame::SharedInfo => {
                self.shared.set_shared_info(Some(gfn));
                log::info!("d{}: xen: shared_info at gfn {gfn:#x}", self.cfg.domid);
            }
            XenFrame::GrantTable(i) => {
                self.gnttab.set_frame_gfn(i, gfn);
                log::info!("d{}: xen: grant frame {i} at gfn {gfn:#x}", self.cfg.domid);
            }
        }
        Ok(Outcome::Return(0))
    }

    /// `XENMEM_decrease_reservation` / `XENMEM_populate_physmap` for order-0
    /// extents, returning the number of extents done (Linux expects all).
    fn reservation(&mut self, cx: &mut Ctx<'_>, op: u32, start: u32, args: [u32; 5]) -> HcResult {
        let [_, arg, a2, a3, a4] = args;
        let r: XenMemoryReservation = read_struct(cx.mem, arg)?;
        if op == xenmem::POPULATE_PHYSMAP
            && self.privileged()
            && !self.own_domain(r.domid)
            && self.ctl.created(r.domid)
            && self.lookup(cx, r.domid).is_some()
        {
            return Ok(self.populate_created(cx, start, args, &r));
        }
        // Dom0 populates a DomU's page (`init-dom0less`'s xenstore page);
        // everything else on another domain is refused.
        let foreign = !self.own_domain(r.domid);
        if foreign
            && !(op == xenmem::POPULATE_PHYSMAP
                && self.privileged()
                && self.lookup(cx, r.domid).is_some())
        {
            return Err(self.foreign(cx, r.domid));
        }
        if r.extent_order != 0 {
            return Err(Errno::EINVAL);
        }
        // As in Xen: a count that cannot be continued, or a start past the
        // end, does nothing more.
        if r.nr_extents > u64::from(u32::MAX >> xenmem::EXTENT_SHIFT)
            || u64::from(start) >= r.nr_extents
        {
            return Ok(Outcome::Return(start as i32));
        }
        let list = handle_gva(r.extent_start)?;
        let nr = r.nr_extents as u32;
        let mut i = start;
        while i < nr {
            if i - start == BATCH {
                return Ok(Outcome::Continue([
                    op | (i << xenmem::EXTENT_SHIFT),
                    arg,
                    a2,
                    a3,
                    a4,
                ]));
            }
            let Ok(at) = elem_gva(list, i, 8) else { break };
            let Ok(XenPfn { pfn: gfn }) = read_struct(cx.mem, at) else {
                break;
            };
            if gfn >= GFN_LIMIT {
                break;
            }
            let done = if foreign {
                cx.plat.populate_foreign_frame(r.domid, gfn)
            } else if op == xenmem::DECREASE_RESERVATION {
                if self.gfn_in_use(gfn) {
                    break;
                }
                cx.plat.release_frame(gfn)
            } else {
                cx.plat.populate_frame(gfn)
            };
            if let Err(e) = done {
                log::debug!("xen: reservation op {op} stopped at gfn {gfn:#x}: {e}");
                break;
            }
            i += 1;
        }
        Ok(Outcome::Return(i as i32))
    }
}

impl Xen {
    /// The control domain's `XENMEM_populate_physmap` of a domain it
    /// created (libxc's `populate_guest_memory`, which tries 1 GiB, then
    /// 2 MiB, then 4 KiB extents), as Xen 4.17's `do_memory_op` and
    /// `populate_physmap` answer it: always the count of extents done, from
    /// `start` (a count that cannot be continued, a start past the end, an
    /// order above the control domain's `MAX_ORDER` (18), populate on
    /// demand (not on ARM) or an unreadable list do nothing more); each
    /// extent, 4 KiB (order 0) or 2 MiB (order 9) at a GFN aligned to it,
    /// comes from [`Platform::populate_foreign`](super::Platform::populate_foreign);
    /// any other order, a GFN past the IPA space or misaligned (Xen would
    /// split it), or a refusal stops the call there. Continued every
    /// [`BATCH`] 4 KiB extents or every 4 of 2 MiB (each is zeroed).
    fn populate_created(
        &mut self,
        cx: &mut Ctx<'_>,
        start: u32,
        args: [u32; 5],
        r: &XenMemoryReservation,
    ) -> Outcome {
        let [_, arg, a2, a3, a4] = args;
        let done = Outcome::Return(start as i32);
        if r.nr_extents > u64::from(u32::MAX >> xenmem::EXTENT_SHIFT)
            || u64::from(start) >= r.nr_extents
            || r.extent_order > super::domctl_create::MAX_ORDER
            || r.mem_flags & xenmem::MEMF_POPULATE_ON_DEMAND != 0
        {
            return done;
        }
        let Ok(list) = handle_gva(r.extent_start) else {
            return done;
        };
        let order = r.extent_order;
        let per_call = if order == 0 { BATCH } else { 4 };
        let nr = r.nr_extents as u32;
        let mut i = start;
        while i < nr {
            if i - start == per_call {
                let cmd = xenmem::POPULATE_PHYSMAP | (i << xenmem::EXTENT_SHIFT);
                return Outcome::Continue([cmd, arg, a2, a3, a4]);
            }
            let Ok(at) = elem_gva(list, i, 8) else { break };
            let Ok(XenPfn { pfn: gfn }) = read_struct(cx.mem, at) else {
                break;
            };
            if gfn >= GFN_LIMIT || gfn & ((1 << order) - 1) != 0 {
                break;
            }
            if let Err(e) = cx.plat.populate_foreign(r.domid, gfn, order) {
                log::debug!(
                    "xen: d{} populate of order {order} stopped at gfn {gfn:#x}: {e}",
                    r.domid
                );
                break;
            }
            i += 1;
        }
        Outcome::Return(i as i32)
    }

    /// `XENMEM_add_to_physmap_batch` for `XENMAPSPACE_gmfn_foreign`, in
    /// Xen 4.17's order: a start extent that does not fit 16 bits
    /// `-EDOM`, copy `-EFAULT`, `gmfn_range` `-EOPNOTSUPP`, the target
    /// domain (`-ESRCH`/`-EPERM`), then one error per page in `errs` (see
    /// the module documentation) and 0; continued every [`BATCH`] pages.
    /// Other spaces are not implemented (`-ENOSYS`).
    fn add_to_physmap_batch(&mut self, cx: &mut Ctx<'_>, start: u32, arg: u32) -> HcResult {
        if start > u32::from(u16::MAX) {
            return Err(Errno::EDOM);
        }
        let b: XenAddToPhysmapBatch = read_struct(cx.mem, arg)?;
        if u32::from(b.space) == xenmem::SPACE_GMFN_RANGE {
            return Err(Errno::EOPNOTSUPP);
        }
        if !self.own_domain(b.domid) {
            return Err(self.foreign(cx, b.domid));
        }
        if u32::from(b.space) != xenmem::SPACE_GMFN_FOREIGN {
            return Err(Errno::ENOSYS);
        }
        let od = b.foreign_domid;
        let refused = if od == self.cfg.domid || self.lookup(cx, od).is_none() {
            Some(Errno::ESRCH)
        } else if !self.privileged() {
            Some(Errno::EPERM)
        } else {
            None
        };
        let (idxs, gpfns, errs) = (
            handle_gva(b.idxs)?,
            handle_gva(b.gpfns)?,
            handle_gva(b.errs)?,
        );
        for i in start..u32::from(b.size) {
            if i - start == BATCH {
                let cmd = xenmem::ADD_TO_PHYSMAP_BATCH | (i << xenmem::EXTENT_SHIFT);
                return Ok(Outcome::Continue([cmd, arg, 0, 0, 0]));
            }
            let err = match refused {
                Some(e) => e.ret(),
                None => {
                    let XenPfn { pfn: idx } = read_struct(cx.mem, elem_gva(idxs, i, 8)?)?;
                    let XenPfn { pfn: gpfn } = read_struct(cx.mem, elem_gva(gpfns, i, 8)?)?;
                    match self.map_foreign_page(cx, od, idx, gpfn) {
                        Ok(()) => 0,
                        Err(e) => e.ret(),
                    }
                }
            };
            write_struct(cx.mem, elem_gva(errs, i, 4)?, &XenErr { err })?;
        }
        Ok(Outcome::Return(0))
    }

    /// Dom0's foreign map of page `idx` of domain `od` at its own `gpfn`:
    /// `-EINVAL` for a frame past the IPA space or not the domain's page,
    /// `-EBUSY` over a frame the hypervisor uses (a Xen frame, a grant or
    /// foreign map: Linux maps over pages it gave up), `-ENOMEM` past
    /// `max_grant_maps` foreign maps.
    fn map_foreign_page(
        &mut self,
        cx: &mut Ctx<'_>,
        od: u16,
        idx: u64,
        gpfn: u64,
    ) -> Result<(), Errno> {
        if idx >= GFN_LIMIT || gpfn >= GFN_LIMIT {
            return Err(Errno::EINVAL);
        }
        self.check_foreign_slot(gpfn)?;
        let pa = cx
            .plat
            .map_foreign_grant(gpfn, od, idx, false)
            .map_err(foreign_errno)?;
        self.foreign_maps.insert(gpfn, (od, pa));
        Ok(())
    }

    /// Whether Dom0 may place one more foreign map at `gpfn`.
    fn check_foreign_slot(&self, gpfn: u64) -> Result<(), Errno> {
        if self.gfn_in_use(gpfn) {
            return Err(Errno::EBUSY);
        }
        if self.foreign_maps.len() >= self.cfg.max_grant_maps as usize {
            return Err(Errno::ENOMEM);
        }
        Ok(())
    }

    /// `XENMEM_remove_from_physmap`: copy `-EFAULT`; another domain's map
    /// `-ESRCH`/`-EPERM` (`xsm_remove_from_physmap`; snowvisor does not
    /// change a DomU's map for Dom0 either); in the caller's own map, a
    /// foreign page it mapped (`privcmd` unmapping) is removed, leaving a
    /// hole, as Xen does; other frames are not offered (`-ENOSYS`).
    fn remove_from_physmap(&mut self, cx: &mut Ctx<'_>, arg: u32) -> HcResult {
        let x: XenRemoveFromPhysmap = read_struct(cx.mem, arg)?;
        if !self.own_domain(x.domid) {
            return Err(self.foreign(cx, x.domid));
        }
        let Some(&(dom, pa)) = self.foreign_maps.get(&x.gpfn) else {
            return Err(Errno::ENOSYS);
        };
        cx.plat
            .unmap_foreign_grant(x.gpfn, dom, pa)
            .map_err(platform_errno)?;
        self.foreign_maps.remove(&x.gpfn);
        Ok(Outcome::Return(0))
    }

    /// `XENMEM_acquire_resource`, in Xen 4.17's order: copy `-EFAULT`,
    /// `pad` or a frame range past 32 bits `-EINVAL`, then the domain
    /// (`rcu_lock_remote_domain_by_id`: none `-ESRCH`, itself `-EPERM`),
    /// then `xsm_domain_resource_map`: `-EPERM` for an unprivileged caller.
    /// For Dom0: the shared grant table of a DomU (what
    /// `xc_dom_gnttab_seed` maps); its size for a NULL `frame_list`, else
    /// each frame mapped at the GFN `frame_list` names (`-EINVAL` past the
    /// table or for a frame the DomU never set up: snowvisor does not grow
    /// another domain's table; `-EIO` for a failure after the first
    /// frame, as Xen), continued every [`BATCH`] frames. Other resources
    /// (ioreq servers, vmtrace buffers, status frames) are `-EOPNOTSUPP`
    /// / `-EINVAL` as on a Xen without them.
    fn acquire_resource(&mut self, cx: &mut Ctx<'_>, start: u32, arg: u32) -> HcResult {
        let mut r: XenMemAcquireResource = read_struct(cx.mem, arg)?;
        if r.pad != 0 || r.frame >> 32 != 0 || (r.frame + u64::from(r.nr_frames)) >> 32 != 0 {
            return Err(Errno::EINVAL);
        }
        if self.lookup(cx, r.domid).is_none() {
            return Err(Errno::ESRCH);
        }
        if r.domid == self.cfg.domid || !self.privileged() {
            return Err(Errno::EPERM);
        }
        if r.ty != xenmem::RESOURCE_GRANT_TABLE {
            return Err(Errno::EOPNOTSUPP);
        }
        let max = if r.id == xenmem::RESOURCE_GRANT_TABLE_ID_SHARED {
            cx.plat.foreign_max_grant_frames(r.domid).unwrap_or(0)
        } else {
            0
        };
        if max == 0 {
            return Err(Errno::EINVAL);
        }
        if r.frame_list == 0 {
            if r.nr_frames != 0 || start != 0 {
                return Err(Errno::EINVAL);
            }
            r.nr_frames = max;
            write_struct(cx.mem, arg, &r)?;
            return Ok(Outcome::Return(0));
        }
        if start >= r.nr_frames || r.nr_frames > u32::MAX >> xenmem::EXTENT_SHIFT {
            return Err(Errno::EINVAL);
        }
        let list = handle_gva(r.frame_list)?;
        for i in start..r.nr_frames {
            if i - start == BATCH {
                let cmd = xenmem::ACQUIRE_RESOURCE | (i << xenmem::EXTENT_SHIFT);
                return Ok(Outcome::Continue([cmd, arg, 0, 0, 0]));
            }
            // `frame` + `nr_frames` fits 32 bits (checked above).
            let frame = (r.frame + u64::from(i)) as u32;
            let done = if frame >= max {
                Err(Errno::EINVAL)
            } else {
                self.map_grant_frame_of(cx, r.domid, frame, list, i)
            };
            if let Err(e) = done {
                return Err(if i == 0 { e } else { Errno::EIO });
            }
        }
        Ok(Outcome::Return(0))
    }

    /// Frame `frame` of domain `dom`'s grant table at the GFN in element
    /// `i` of Dom0's `frame_list`.
    fn map_grant_frame_of(
        &mut self,
        cx: &mut Ctx<'_>,
        dom: u16,
        frame: u32,
        list: u32,
        i: u32,
    ) -> Result<(), Errno> {
        let XenPfn { pfn: gfn } = read_struct(cx.mem, elem_gva(list, i, 8)?)?;
        if gfn >= GFN_LIMIT {
            return Err(Errno::EINVAL);
        }
        self.check_foreign_slot(gfn)?;
        let pa = cx
            .plat
            .map_foreign_grant_frame(gfn, dom, frame)
            .map_err(foreign_errno)?;
        self.foreign_maps.insert(gfn, (dom, pa));
        Ok(())
    }
}

/// A refused foreign map: not the domain's page or no place for it is
/// `-EINVAL` (Xen's `xenmem_add_to_physmap_one` / `set_foreign_p2m_entry`),
/// the rest as for the domain's own memory.
fn foreign_errno(e: PlatformError) -> Errno {
    match e {
        PlatformError::BadAddress | PlatformError::BadFrame => Errno::EINVAL,
        PlatformError::NotSupported => Errno::EOPNOTSUPP,
        e => platform_errno(e),
    }
}
