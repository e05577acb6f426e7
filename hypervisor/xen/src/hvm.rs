//! `hvm_op`: parameters, as Xen 4.17's `xen/arch/arm/hvm.c` answers them.
//! Dom0 reads `HVM_PARAM_STORE_EVTCHN` (0: xenstored is local) at boot;
//! `HVM_PARAM_CALLBACK_IRQ` names the event PPI as Xen encodes it; a
//! dom0less DomU with xenstore (`xen,enhanced`) reads its xenstore channel
//! and page ([`Xen::set_xenstore`]), and its PV console's
//! ([`Xen::set_console`]); the other guest-readable parameters read as 0.
//! Dom0, the control domain, may read a DomU's xenstore and console
//! parameters and set its `HVM_PARAM_STORE_PFN` (Xen's `xsm_hvm_param`,
//! `XSM_TARGET`), as `init-dom0less` does, and set and read the
//! toolstack's parameters of a domain it created (`xl create`: the
//! callback IRQ, xenstore and console, monitor ring; [`Xen::hvm_op`]);
//! every other domain's parameters are refused.
//!
//! Order of checks (Xen's): copy in (-EFAULT), the domain (-ESRCH), then the
//! index against Xen's per-parameter rules (-EPERM for toolstack-only
//! parameters, -EINVAL for the rest). A domain may set none of its own.

use super::abi::layout::XenHvmParam;
use super::abi::{hvmop, xencons, Errno};
use super::guest::{read_ipa_u32, read_struct, write_struct, GuestMemory};
use super::memory::platform_errno;
use super::platform::PlatformError;
use super::{Ctx, HcResult, Outcome, Xen};

impl Xen {
    /// The value of HVM parameter `index` (< `HVM_NR_PARAMS`).
    pub fn hvm_param(&self, index: u32) -> u64 {
        match index {
            hvmop::PARAM_CALLBACK_IRQ => {
                (hvmop::CALLBACK_TYPE_PPI << hvmop::CALLBACK_TYPE_SHIFT)
                    | (hvmop::CALLBACK_PPI_FLAG_LOW_LEVEL << hvmop::CALLBACK_PPI_FLAG_SHIFT)
                    | u64::from(self.cfg.event_ppi)
            }
            hvmop::PARAM_STORE_EVTCHN => self.xenstore.map_or(0, |(port, _)| u64::from(port)),
            hvmop::PARAM_STORE_PFN => self.xenstore.map_or(0, |(_, pfn)| pfn),
            hvmop::PARAM_CONSOLE_EVTCHN => self.pv_console.map_or(0, |(port, _)| u64::from(port)),
            hvmop::PARAM_CONSOLE_PFN => self.pv_console.map_or(0, |(_, pfn)| pfn),
            _ => 0,
        }
    }

    /// A dom0less DomU's xenstore, as Xen 4.17 sets it up at boot
    /// (`alloc_xenstore_evtchn`, `arch/arm/domain_build.c`): event-channel
    /// `port` of this domain, unbound for Dom0, as `HVM_PARAM_STORE_EVTCHN`;
    /// `pfn` as `HVM_PARAM_STORE_PFN`: Xen's `~0` ("not ready yet"; Linux
    /// then waits for an event on the port, `xenbus_late_init`) or the page.
    pub fn set_xenstore(&mut self, port: u32, pfn: u64) {
        self.xenstore = Some((port, pfn));
    }

    /// A DomU's PV console, as Xen's toolstack sets one up for an ARM
    /// guest (`alloc_magic_pages` in `tools/libs/guest/xg_dom_arm.c`): its
    /// event-channel `port`, unbound for Dom0 (the console backend,
    /// `xenconsoled`), as `HVM_PARAM_CONSOLE_EVTCHN`, and the GFN of its
    /// ring page (`struct xencons_interface`, `public/io/console.h`) as
    /// `HVM_PARAM_CONSOLE_PFN`. Linux's `hvc_xen` reads both
    /// (`xen_hvm_console_init`; 0 means "no console").
    pub fn set_console(&mut self, port: u32, pfn: u64) {
        self.pv_console = Some((port, pfn));
    }

    /// An event on `port` nobody receives (no domain bound its other end):
    /// if `port` is this domain's PV console channel, its backend
    /// (`xenconsoled` in Dom0) is not there yet, and what the domain wrote
    /// to its console ring is dropped (`out_cons` = `out_prod`), so that a
    /// guest that writes its kernel log there (Linux's `hvc_xen` waits,
    /// yielding, until the ring has room) does not stop until Dom0 starts
    /// one. Xen keeps the ring full and the guest waits. Any other port,
    /// or a ring that cannot be read: nothing.
    pub(super) fn pv_console_unread(&mut self, mem: &mut dyn GuestMemory, port: u32) {
        let Some((p, pfn)) = self.pv_console else {
            return;
        };
        if p != port {
            return;
        }
        let Some(page) = pfn.checked_mul(4096) else {
            return;
        };
        let Ok(prod) = read_ipa_u32(mem, page + xencons::OUT_PROD_OFFSET) else {
            return;
        };
        let cons = read_ipa_u32(mem, page + xencons::OUT_CONS_OFFSET).unwrap_or(prod);
        if prod == cons {
            return;
        }
        let dropped = mem
            .write_ipa(page + xencons::OUT_CONS_OFFSET, &prod.to_le_bytes())
            .is_ok();
        if dropped && !self.pv_console_dropped {
            self.pv_console_dropped = true;
            log::info!(
                "{}: xen: PV console: no backend bound port {port} yet: its output is dropped until one does",
                self.cfg.name
            );
        }
    }

    /// `hvm_op(op, arg)`: `HVMOP_get_param` and `HVMOP_set_param`.
    pub(super) fn hvm_op(&mut self, cx: &mut Ctx<'_>, op: u32, arg: u32) -> HcResult {
        if op != hvmop::GET_PARAM && op != hvmop::SET_PARAM {
            return Err(Errno::ENOSYS);
        }
        let mut p: XenHvmParam = read_struct(cx.mem, arg)?;
        if self.privileged() && self.ctl.created(p.domid) && self.lookup(cx, p.domid).is_some() {
            return self.created_param(cx, op, arg, p);
        }
        if op == hvmop::SET_PARAM && self.privileged() && !self.own_domain(p.domid) {
            if self.lookup(cx, p.domid).is_none() {
                return Err(Errno::ESRCH);
            }
            if p.index != hvmop::PARAM_STORE_PFN {
                return Err(Errno::EPERM);
            }
            return match cx.plat.set_foreign_store_pfn(p.domid, p.value) {
                Ok(()) => Ok(Outcome::Return(0)),
                Err(_) => Err(Errno::EPERM),
            };
        }
        if op == hvmop::GET_PARAM && self.privileged() && !self.own_domain(p.domid) {
            if self.lookup(cx, p.domid).is_none() {
                return Err(Errno::ESRCH);
            }
            p.value = match p.index {
                hvmop::PARAM_STORE_PFN
                | hvmop::PARAM_STORE_EVTCHN
                | hvmop::PARAM_CONSOLE_PFN
                | hvmop::PARAM_CONSOLE_EVTCHN => {
                    cx.plat.foreign_hvm_param(p.domid, p.index).unwrap_or(0)
                }
                _ => return Err(Errno::EPERM),
            };
            write_struct(cx.mem, arg, &p)?;
            return Ok(Outcome::Return(0));
        }
        if !self.own_domain(p.domid) {
            // Another domain's parameters (a DomU asking for Dom0's):
            // Xen's `xsm_hvm_param(XSM_TARGET)`, -EPERM; -ESRCH if none.
            return Err(self.foreign(cx, p.domid));
        }
        if op == hvmop::SET_PARAM {
            return Err(set_param_error(p.index));
        }
        match p.index {
            hvmop::PARAM_CALLBACK_IRQ
            | hvmop::PARAM_STORE_PFN
            | hvmop::PARAM_STORE_EVTCHN
            | hvmop::PARAM_CONSOLE_PFN
            | hvmop::PARAM_CONSOLE_EVTCHN => {}
            hvmop::PARAM_MONITOR_RING_PFN => return Err(Errno::EPERM),
            _ => return Err(Errno::EINVAL),
        }
        p.value = match p.index {
            hvmop::PARAM_STORE_PFN if self.xenstore.is_some() => cx
                .plat
                .own_store_pfn()
                .unwrap_or_else(|| self.hvm_param(p.index)),
            i => self.hvm_param(i),
        };
        write_struct(cx.mem, arg, &p)?;
        Ok(Outcome::Return(0))
    }
}

impl Xen {
    /// The control domain's `HVMOP_set_param` / `HVMOP_get_param` of a
    /// domain it created, as Xen's `hvm_allow_set_param` /
    /// `hvm_allow_get_param` allow them to the toolstack: the callback IRQ,
    /// xenstore and console pages and channels and the monitor ring
    /// (`-EINVAL` for any other index), through
    /// [`Platform::set_foreign_hvm_param`](super::Platform::set_foreign_hvm_param)
    /// (a parameter the platform does not keep `-EINVAL`, no such domain
    /// `-ESRCH`) and
    /// [`Platform::foreign_hvm_param`](super::Platform::foreign_hvm_param)
    /// (0 until set, as Xen's zeroed `params`).
    fn created_param(
        &mut self,
        cx: &mut Ctx<'_>,
        op: u32,
        arg: u32,
        mut p: XenHvmParam,
    ) -> HcResult {
        match p.index {
            hvmop::PARAM_CALLBACK_IRQ
            | hvmop::PARAM_STORE_PFN
            | hvmop::PARAM_STORE_EVTCHN
            | hvmop::PARAM_CONSOLE_PFN
            | hvmop::PARAM_CONSOLE_EVTCHN
            | hvmop::PARAM_MONITOR_RING_PFN => {}
            _ => return Err(Errno::EINVAL),
        }
        if op == hvmop::SET_PARAM {
            cx.plat
                .set_foreign_hvm_param(p.domid, p.index, p.value)
                .map_err(|e| match e {
                    PlatformError::NotSupported => Errno::ESRCH,
                    PlatformError::BadAddress | PlatformError::BadFrame => Errno::EINVAL,
                    e => platform_errno(e),
                })?;
            return Ok(Outcome::Return(0));
        }
        p.value = cx.plat.foreign_hvm_param(p.domid, p.index).unwrap_or(0);
        write_struct(cx.mem, arg, &p)?;
        Ok(Outcome::Return(0))
    }
}

/// Why a domain cannot set its own parameter `index` (Xen's
/// `hvm_allow_set_param`): the toolstack's parameters give -EPERM, every
/// other index (Xen-only, hole, deprecated, out of range) -EINVAL.
fn set_param_error(index: u32) -> Errno {
    match index {
        hvmop::PARAM_CALLBACK_IRQ
        | hvmop::PARAM_STORE_PFN
        | hvmop::PARAM_STORE_EVTCHN
        | hvmop::PARAM_CONSOLE_PFN
        | hvmop::PARAM_CONSOLE_EVTCHN
        | hvmop::PARAM_MONITOR_RING_PFN => Errno::EPERM,
        _ => Errno::EINVAL,
    }
}
