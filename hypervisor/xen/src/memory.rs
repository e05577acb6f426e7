//! `memory_op`: placing Xen frames in the guest's physical map, the balloon
//! calls (`decrease_reservation` / `populate_physmap`) that gntdev needs, and
//! the domain's page counts (`current_reservation` / `maximum_reservation`).
//!
//! A domain changes only its own memory. Naming another domain is `-ESRCH`
//! if there is none, else `-EPERM` (Xen's `XSM_TARGET` checks for an
//! unprivileged caller; snowvisor refuses Dom0 too, see [`Xen::foreign`]),
//! but Dom0 may read another domain's page counts, as in Xen. Mapping
//! another domain's page (`XENMAPSPACE_gmfn_foreign`) is `-ENOSYS` through
//! `add_to_physmap` (Xen: batch only) and, through `add_to_physmap_batch`,
//! a per-page `-EPERM` for a DomU (`xsm_map_gmfn_foreign`), `-ESRCH` for an
//! unknown domain or the caller itself (`get_pg_owner`), and
//! `-EOPNOTSUPP` for Dom0, which snowvisor gives no foreign mappings yet.

use super::abi::layout::{
    XenAddToPhysmap, XenAddToPhysmapBatch, XenErr, XenMemAcquireResource, XenMemoryDomain,
    XenMemoryReservation, XenPfn,
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
            xenmem::ACQUIRE_RESOURCE => self.acquire_resource(cx, arg),
            // `xen_remove_from_physmap` starts with its domid: another
            // domain's map is -ESRCH/-EPERM (`xsm_remove_from_physmap`); a
            // domain's own is not offered.
            xenmem::REMOVE_FROM_PHYSMAP if start != 0 => Err(Errno::EINVAL),
            xenmem::REMOVE_FROM_PHYSMAP => {
                let d: XenMemoryDomain = read_struct(cx.mem, arg)?;
                if self.own_domain(d.domid) {
                    return Err(Errno::ENOSYS);
                }
                Err(self.foreign(cx, d.domid))
            }
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
        if !self.own_domain(r.domid) {
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
            let done = if op == xenmem::DECREASE_RESERVATION {
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
    /// `XENMEM_add_to_physmap_batch` for `XENMAPSPACE_gmfn_foreign`, in
    /// Xen 4.17's order: a start extent that does not fit 16 bits
    /// `-EDOM`, copy `-EFAULT`, `gmfn_range` `-EOPNOTSUPP`, the target
    /// domain (`-ESRCH`/`-EPERM`), then one error per page in `errs`
    /// (see the module documentation) and 0. Other spaces are not
    /// implemented (`-ENOSYS`).
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
        let err = if od == self.cfg.domid || self.lookup(cx, od).is_none() {
            Errno::ESRCH
        } else if self.privileged() {
            Errno::EOPNOTSUPP
        } else {
            Errno::EPERM
        };
        let errs = handle_gva(b.errs)?;
        for i in start..u32::from(b.size) {
            let at = elem_gva(errs, i, 4)?;
            write_struct(cx.mem, at, &XenErr { err: err.ret() })?;
        }
        Ok(Outcome::Return(0))
    }

    /// `XENMEM_acquire_resource`, in Xen 4.17's order: copy `-EFAULT`,
    /// `pad` or a frame range past 32 bits `-EINVAL`, then the domain
    /// (`rcu_lock_remote_domain_by_id`: none `-ESRCH`, itself `-EPERM`),
    /// then `xsm_domain_resource_map`: `-EPERM` for an unprivileged caller.
    /// Dom0 gets `-EOPNOTSUPP`: snowvisor maps no other domain's frames
    /// into it yet.
    fn acquire_resource(&mut self, cx: &mut Ctx<'_>, arg: u32) -> HcResult {
        let r: XenMemAcquireResource = read_struct(cx.mem, arg)?;
        if r.pad != 0 || r.frame >> 32 != 0 || (r.frame + u64::from(r.nr_frames)) >> 32 != 0 {
            return Err(Errno::EINVAL);
        }
        if self.lookup(cx, r.domid).is_none() {
            return Err(Errno::ESRCH);
        }
        if r.domid == self.cfg.domid || !self.privileged() {
            return Err(Errno::EPERM);
        }
        Err(Errno::EOPNOTSUPP)
    }
}
