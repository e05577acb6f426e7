//! `hvm_op`: parameters. Dom0 reads `HVM_PARAM_STORE_EVTCHN` (0: xenstored
//! is local) at boot; `HVM_PARAM_CALLBACK_IRQ` names the event PPI as Xen
//! encodes it; every other parameter reads as 0.

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

    /// `hvm_op(op, arg)`: only `HVMOP_get_param`.
    pub(super) fn hvm_op(&mut self, cx: &mut Ctx<'_>, op: u32, arg: u32) -> HcResult {
        match op {
            hvmop::GET_PARAM => {
                let mut p: XenHvmParam = read_struct(cx.mem, arg)?;
                if !self.own_domain(p.domid) {
                    return Err(Errno::ESRCH);
                }
                if p.index >= hvmop::NR_PARAMS {
                    return Err(Errno::EINVAL);
                }
                p.value = self.hvm_param(p.index);
                write_struct(cx.mem, arg, &p)?;
                Ok(Outcome::Return(0))
            }
            _ => Err(Errno::ENOSYS),
        }
    }
}
