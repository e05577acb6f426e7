//! `sched_op`: yield, block and shutdown.

use super::abi::layout::SchedShutdown;
use super::abi::{schedop, Errno};
use super::guest::read_struct;
use super::platform::{PlatformError, ShutdownReason};
use super::{Ctx, HcResult, Outcome, Xen};

impl Xen {
    /// `sched_op(cmd, arg)`.
    pub(super) fn sched_op(&mut self, cx: &mut Ctx<'_>, cmd: u32, arg: u32) -> HcResult {
        match cmd {
            schedop::YIELD => {
                cx.plat.yield_vcpu();
                Ok(Outcome::Return(0))
            }
            schedop::BLOCK => {
                // Xen re-checks for events after blocking to avoid a lost wakeup;
                // here: do not block at all when one is already pending.
                let v = cx.plat.current_vcpu();
                if !self.shared.upcall_pending(cx.mem, v) {
                    cx.plat.block_vcpu();
                }
                Ok(Outcome::Return(0))
            }
            schedop::SHUTDOWN => {
                let s: SchedShutdown = read_struct(cx.mem, arg)?;
                let reason = ShutdownReason::from_raw(s.reason);
                log::info!("xen: Dom0 shutdown, reason {reason}");
                cx.plat.shutdown(reason).map_err(|e| match e {
                    PlatformError::NotSupported => Errno::ENOSYS,
                    _ => Errno::EINVAL,
                })?;
                Ok(Outcome::Return(0))
            }
            _ => Err(Errno::ENOSYS),
        }
    }
}
