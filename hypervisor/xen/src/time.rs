//! `platform_op`: Dom0 pushes the wall-clock time (`XENPF_settime64`, and the
//! older `settime32`). It is kept (for later domUs) and published in
//! `shared_info.wc_*`; nothing else of `platform_op` exists here.

use super::abi::layout::{XenPlatformOp, XenpfSettime32, XenpfSettime64, PLATFORM_OP_U};
use super::abi::{xenpf, Errno};
use super::guest::read_struct;
use super::{Ctx, HcResult, Outcome, Xen};

impl Xen {
    /// `platform_op(op)`.
    pub(super) fn platform_op(&mut self, cx: &mut Ctx<'_>, arg: u32) -> HcResult {
        let op: XenPlatformOp = read_struct(cx.mem, arg)?;
        if op.interface_version != xenpf::INTERFACE_VERSION {
            return Err(Errno::EACCES);
        }
        // Xen 4.17 (`arch/arm/platform_hypercall.c`): copy, version, then
        // `xsm_platform_op(XSM_PRIV)`: only the control domain.
        if !self.privileged() {
            return Err(Errno::EPERM);
        }
        let u = arg.checked_add(PLATFORM_OP_U as u32).ok_or(Errno::EFAULT)?;
        let t = match op.cmd {
            xenpf::SETTIME64 => {
                let t: XenpfSettime64 = read_struct(cx.mem, u)?;
                if t.mbz != 0 {
                    return Err(Errno::EINVAL);
                }
                t
            }
            xenpf::SETTIME32 => {
                let t: XenpfSettime32 = read_struct(cx.mem, u)?;
                XenpfSettime64 {
                    secs: u64::from(t.secs),
                    nsecs: t.nsecs,
                    mbz: 0,
                    system_time: t.system_time,
                }
            }
            _ => return Err(Errno::ENOSYS),
        };
        self.wallclock = Some(t);
        if let Err(f) = self.shared.write_wallclock(cx.mem, &t) {
            log::warn!("xen: wall clock not published: {f}");
        }
        Ok(Outcome::Return(0))
    }

    /// The last wall-clock time Dom0 set: (seconds, nanoseconds, system time in ns).
    pub fn wallclock(&self) -> Option<(u64, u32, u64)> {
        self.wallclock.map(|t| (t.secs, t.nsecs, t.system_time))
    }
}
