//! `hvm_op`: parameters, as Xen 4.17's `xen/arch/arm/hvm.c` answers them for
//! a domain asking about itself. Dom0 reads `HVM_PARAM_STORE_EVTCHN` (0:
//! xenstored is local) at boot; `HVM_PARAM_CALLBACK_IRQ` names the event PPI
//! as Xen encodes it; the other guest-readable parameters read as 0.
//!
//! Order of checks (Xen's): copy in (-EFAULT), the domain (-ESRCH), then the
//! index against Xen's per-parameter rules (-EPERM for toolstack-only
//! parameters, -EINVAL for the rest). A domain may set none of its own.

use super::abi::layout::XenHvmParam;
use super::abi::{hvmop, Errno};
use super::guest::{read_struct, write_struct};
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
            _ => 0,
        }
    }

    /// `hvm_op(op, arg)`: `HVMOP_get_param` and `HVMOP_set_param`.
    pub(super) fn hvm_op(&mut self, cx: &mut Ctx<'_>, op: u32, arg: u32) -> HcResult {
        if op != hvmop::GET_PARAM && op != hvmop::SET_PARAM {
            return Err(Errno::ENOSYS);
        }
        let mut p: XenHvmParam = read_struct(cx.mem, arg)?;
        if !self.own_domain(p.domid) {
            return Err(Errno::ESRCH);
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
        p.value = self.hvm_param(p.index);
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
