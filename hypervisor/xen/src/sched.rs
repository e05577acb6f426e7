//! `sched_op`: yield, block and shutdown.

use super::abi::layout::{SchedRemoteShutdown, SchedShutdown};
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
                log::info!("d{}: xen: shutdown, reason {reason}", self.config().domid);
                cx.plat.shutdown(reason).map_err(|e| match e {
                    PlatformError::NotSupported => Errno::ENOSYS,
                    _ => Errno::EINVAL,
                })?;
                Ok(Outcome::Return(0))
            }
            // Xen 4.17: -EPERM unless the hardware domain (then a vCPU's
            // temporary affinity, which pinned vCPUs do not need here).
            schedop::PIN_OVERRIDE if !self.privileged() => Err(Errno::EPERM),
            schedop::REMOTE_SHUTDOWN => {
                // Xen 4.17 (`common/sched/core.c`): copy, the domain by id
                // (`DOMID_SELF` is none), then `xsm_schedop_shutdown`
                // (`XSM_DM_PRIV`): only the control domain, even on itself.
                let s: SchedRemoteShutdown = read_struct(cx.mem, arg)?;
                if self.lookup(cx, s.domain_id).is_none() {
                    return Err(Errno::ESRCH);
                }
                if !self.privileged() {
                    return Err(Errno::EPERM);
                }
                if s.domain_id != self.cfg.domid {
                    // Ending another domain from Dom0: not yet.
                    return Err(Errno::EOPNOTSUPP);
                }
                let reason = ShutdownReason::from_raw(s.reason);
                log::info!(
                    "d{}: xen: remote shutdown of itself, reason {reason}",
                    s.domain_id
                );
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
