//! `domctl` and the `xen_domctl_getdomaininfo` that `sysctl`'s
//! `getdomaininfolist` shares with it.
//!
//! Xen 4.17's `do_domctl` (`common/domctl.c`), for the checks a caller meets:
//! the copy (`-EFAULT`), the interface version (`-EACCES`), the domain the
//! command names (`-ESRCH` if there is none, but for `createdomain` and the
//! device commands given `DOMID_INVALID`/`DOMID_IO`; `getdomaininfo` takes
//! the first domain at or above the id, `-EINVAL` for a reserved id), then
//! the XSM dummy policy: `-EPERM` for everyone but the control domain (and
//! for `getdomaininfo` the xenstore domain, which snowvisor does not have).
//! Dom0 gets `XEN_DOMCTL_getdomaininfo`, and `getvcpuinfo` and
//! `getvcpuaffinity` (`domctl_vcpu`), and of a DomU `max_mem` (what
//! `init-dom0less` raises by one page before populating the xenstore
//! page) and `setdomainhandle` (the UUID it gives the DomU); Dom0's own
//! limit and handle are not changed (`-ENOSYS`). The commands that build,
//! start and end a domain (`xl create`, `xl destroy`) are in
//! `domctl_create`; the rest are not implemented (`-ENOSYS`).

use super::abi::layout::{
    XenArchDomainconfig, XenDomctl, XenDomctlGetdomaininfo, XenDomctlMaxMem,
    XenDomctlSetdomainhandle, XenSysctlGetdomaininfolist, DOMCTL_U,
};
use super::abi::wire::Wire;
use super::abi::{domctl, domid, dominf, Errno};
use super::guest::{elem_gva, handle_gva, read_struct, write_struct};
use super::platform::DomainInfo;
use super::{Ctx, HcResult, Outcome, Xen};

/// `gpaddr_bits` of an ARMv7 guest with LPAE stage 2: 40-bit IPAs.
const GPADDR_BITS: u8 = 40;
/// `XEN_DOMCTL_CONFIG_GIC_V2`.
const GIC_V2: u8 = 1;

/// Xen's `getdomaininfo` over what the platform lists.
pub fn getdomaininfo(i: &DomainInfo) -> XenDomctlGetdomaininfo {
    let mut flags = 0;
    if i.nr_online_vcpus > 0 {
        if i.blocked {
            flags |= dominf::BLOCKED;
        }
        if i.running {
            flags |= dominf::RUNNING;
        }
    }
    if i.dying {
        flags |= dominf::DYING;
    }
    if let Some(code) = i.shutdown {
        flags |= dominf::SHUTDOWN | u32::from(code) << dominf::SHUTDOWN_SHIFT;
    }
    if i.paused {
        flags |= dominf::PAUSED;
    }
    // Every ARM domain is an HVM guest with hardware-assisted paging.
    flags |= dominf::HVM_GUEST | dominf::HAP;
    XenDomctlGetdomaininfo {
        domain: i.domid,
        flags,
        tot_pages: i.tot_pages,
        max_pages: i.max_pages,
        shared_info_frame: i.shared_info_gfn,
        cpu_time: i.cpu_time_ns,
        nr_online_vcpus: i.nr_online_vcpus,
        handle: i.handle,
        cpupool: i.cpupool,
        max_vcpu_id: i
            .nr_vcpus
            .checked_sub(1)
            .unwrap_or(dominf::INVALID_MAX_VCPU_ID),
        gpaddr_bits: GPADDR_BITS,
        arch_config: XenArchDomainconfig {
            gic_version: GIC_V2,
            nr_spis: i.nr_spis,
            ..Default::default()
        },
        ..Default::default()
    }
}

impl Xen {
    /// `domctl(op)`.
    pub(super) fn domctl(&mut self, cx: &mut Ctx<'_>, arg: u32) -> HcResult {
        let mut op: XenDomctl = read_struct(cx.mem, arg)?;
        if op.interface_version != domctl::INTERFACE_VERSION {
            return Err(Errno::EACCES);
        }
        let d = op.domain;
        match op.cmd {
            domctl::CREATEDOMAIN => {}
            domctl::ASSIGN_DEVICE | domctl::DEASSIGN_DEVICE if d == domid::IO => {}
            domctl::ASSIGN_DEVICE | domctl::DEASSIGN_DEVICE if d == domid::INVALID => {
                return Err(Errno::ESRCH)
            }
            domctl::ASSIGN_DEVICE
            | domctl::DEASSIGN_DEVICE
            | domctl::TEST_ASSIGN_DEVICE
            | domctl::VM_EVENT_OP
                if d == domid::INVALID => {}
            domctl::GETDOMAININFO => {
                if d >= domid::FIRST_RESERVED {
                    return Err(Errno::EINVAL);
                }
                let info = self.domain_at(cx, d).ok_or(Errno::ESRCH)?;
                if !self.privileged() {
                    return Err(Errno::EPERM);
                }
                op.domain = info.domid;
                let at = arg.checked_add(DOMCTL_U as u32).ok_or(Errno::EFAULT)?;
                write_struct(cx.mem, arg, &op)?;
                write_struct(cx.mem, at, &getdomaininfo(&info))?;
                return Ok(Outcome::Return(0));
            }
            domctl::GETVCPUINFO | domctl::GETVCPUAFFINITY => {
                let info = self.lookup(cx, d).ok_or(Errno::ESRCH)?;
                if !self.privileged() {
                    return Err(Errno::EPERM);
                }
                let at = arg.checked_add(DOMCTL_U as u32).ok_or(Errno::EFAULT)?;
                self.domctl_vcpu(cx, op.cmd, &info, at)?;
                return Ok(Outcome::Return(0));
            }
            domctl::SETDOMAINHANDLE => {
                self.lookup(cx, d).ok_or(Errno::ESRCH)?;
                if !self.privileged() {
                    return Err(Errno::EPERM);
                }
                let at = arg.checked_add(DOMCTL_U as u32).ok_or(Errno::EFAULT)?;
                let h: XenDomctlSetdomainhandle = read_struct(cx.mem, at)?;
                return match cx.plat.set_foreign_handle(d, h.handle) {
                    Ok(()) => Ok(Outcome::Return(0)),
                    Err(_) => Err(Errno::ENOSYS),
                };
            }
            domctl::MAX_MEM => {
                self.lookup(cx, d).ok_or(Errno::ESRCH)?;
                if !self.privileged() {
                    return Err(Errno::EPERM);
                }
                let at = arg.checked_add(DOMCTL_U as u32).ok_or(Errno::EFAULT)?;
                let m: XenDomctlMaxMem = read_struct(cx.mem, at)?;
                // Xen 4.17: `max_pages = min(max_memkb >> 2, U32_MAX)`,
                // below `tot_pages` too (the domain may not grow then).
                let pages = (m.max_memkb >> 2).min(u64::from(u32::MAX));
                return match cx.plat.set_foreign_max_pages(d, pages) {
                    Ok(()) => Ok(Outcome::Return(0)),
                    Err(_) => Err(Errno::ENOSYS),
                };
            }
            _ if self.lookup(cx, d).is_none() => return Err(Errno::ESRCH),
            _ => {}
        }
        if !self.privileged() {
            return Err(Errno::EPERM);
        }
        let info = match op.cmd {
            domctl::CREATEDOMAIN => None,
            _ => self.lookup(cx, d),
        };
        self.domctl_manage(cx, arg, op, info)
    }

    /// The `getdomaininfolist` walk: copies the entries, returns how many.
    pub(super) fn domain_info_list(
        &mut self,
        cx: &mut Ctx<'_>,
        l: &XenSysctlGetdomaininfolist,
    ) -> Result<u32, Errno> {
        let buf = handle_gva(l.buffer)?;
        let mut n = 0u32;
        let mut next = Some(l.first_domain);
        while let Some(first) = next {
            if n == l.max_domains {
                break;
            }
            let Some(info) = self.domain_at(cx, first) else {
                break;
            };
            // A platform must hand out ids in order; stop rather than loop.
            if info.domid < first {
                break;
            }
            let at = elem_gva(buf, n, XenDomctlGetdomaininfo::SIZE)?;
            write_struct(cx.mem, at, &getdomaininfo(&info))?;
            n += 1;
            next = info.domid.checked_add(1);
        }
        Ok(n)
    }
}
