//! `sysctl`: the hypervisor's log and exit counters for Dom0 (`snowctl dmesg`,
//! `snowctl stats`) and the list of domains (`snowctl list`); the host's
//! CPUs, memory, scheduler, pools and debug keys are `sysctl_host`'s.
//!
//! `XEN_SYSCTL_getdomaininfolist` (6) copies a `xen_domctl_getdomaininfo`
//! for each domain whose id is at least `first_domain`, in id order, at
//! most `max_domains`, to `buffer`; `num_domains` says how many (Xen 4.17's
//! `common/sysctl.c`; a failed copy is `-EFAULT`).
//! `SNOWVISOR_SYSCTL_domain_name` (0x534e0003) gives a domain's name, which
//! Xen keeps in xenstore.
//!
//! `SNOWVISOR_SYSCTL_exit_stats` (0x534e0002) copies the exit counters
//! (`XenSysctlSnowvisorExits`). Two commands share `xen_sysctl_readconsole`:
//! - `XEN_SYSCTL_readconsole` (1) reads this boot's log, as Xen's console
//!   ring (what `xl dmesg` reads). snowvisor's ring is the RAM log
//!   (`ramlog/`): every line snowvisor printed, not Dom0's hvc0 output.
//! - `SNOWVISOR_SYSCTL_readconsole_previous` (0x534e0001) reads the log of the
//!   boot before the last warm reboot, which Xen has no notion of.
//!
//! Semantics (the platform numbers a log's bytes from 0 at its boot and
//! holds `first..end`): the copy starts at `index` if `incremental` is set
//! and `first <= index <= end`, otherwise at `first`; at most `count` bytes
//! (and at most [`READ_BUDGET`] per call) are copied to `buffer`; on return
//! `count` is the number copied and `index` the index after the last byte, so
//! a reader loops with `incremental = 1` until `count` comes back 0.
//! `clear` is refused with `-EOPNOTSUPP`: the RAM log is snowvisor's record of
//! the machine, not Dom0's to erase. Only the control domain (domid 0) may
//! call `sysctl` (`-EPERM`), with Xen 4.17's interface version (`-EACCES`).

use super::abi::layout::{
    XenSysctl, XenSysctlGetdomaininfolist, XenSysctlReadconsole, XenSysctlSnowvisorDomainName,
    XenSysctlSnowvisorExits, EXIT_ENTRY_BYTES, SYSCTL_U,
};
use super::abi::{sysctl, Errno};
use super::guest::{check_span, handle_gva, read_struct, write_struct};
use super::platform::HypervisorLog;
use super::{Ctx, HcResult, Outcome, Xen};

/// Log bytes copied per call at most; the caller asks again for the rest.
pub const READ_BUDGET: u32 = 64 << 10;
/// Bytes per platform read.
const CHUNK: usize = 128;

impl Xen {
    /// `sysctl(op)`.
    pub(super) fn sysctl(&mut self, cx: &mut Ctx<'_>, arg: u32) -> HcResult {
        // Xen 4.17's order (`common/sysctl.c`): copy, version, then
        // `xsm_sysctl(XSM_PRIV)`: only the control domain.
        let op: XenSysctl = read_struct(cx.mem, arg)?;
        if op.interface_version != sysctl::INTERFACE_VERSION {
            return Err(Errno::EACCES);
        }
        if !self.privileged() {
            return Err(Errno::EPERM);
        }
        let u = arg.checked_add(SYSCTL_U as u32).ok_or(Errno::EFAULT)?;
        let which = match op.cmd {
            sysctl::READCONSOLE => HypervisorLog::Current,
            sysctl::SNOWVISOR_READCONSOLE_PREVIOUS => HypervisorLog::Previous,
            sysctl::GETDOMAININFOLIST => {
                let mut l: XenSysctlGetdomaininfolist = read_struct(cx.mem, u)?;
                l.num_domains = self.domain_info_list(cx, &l)?;
                write_struct(cx.mem, u, &l)?;
                return Ok(Outcome::Return(0));
            }
            sysctl::SNOWVISOR_DOMAIN_NAME => {
                let mut n: XenSysctlSnowvisorDomainName = read_struct(cx.mem, u)?;
                let info = self.lookup(cx, n.domain).ok_or(Errno::ESRCH)?;
                n.name = [0; 64];
                let b = info.name.as_bytes();
                let k = b.len().min(n.name.len() - 1);
                n.name[..k].copy_from_slice(&b[..k]);
                write_struct(cx.mem, u, &n)?;
                return Ok(Outcome::Return(0));
            }
            sysctl::SNOWVISOR_EXIT_STATS => {
                let mut x: XenSysctlSnowvisorExits = read_struct(cx.mem, u)?;
                exit_stats(cx, &mut x)?;
                write_struct(cx.mem, u, &x)?;
                return Ok(Outcome::Return(0));
            }
            sysctl::PHYSINFO
            | sysctl::SCHED_ID
            | sysctl::DEBUG_KEYS
            | sysctl::CPUTOPOINFO
            | sysctl::NUMAINFO
            | sysctl::CPUPOOL_OP => return self.sysctl_host(cx, op.cmd, u),
            _ => return Err(Errno::ENOSYS),
        };
        let mut rc: XenSysctlReadconsole = read_struct(cx.mem, u)?;
        read_log(cx, which, &mut rc)?;
        write_struct(cx.mem, u, &rc)?;
        Ok(Outcome::Return(0))
    }
}

/// Copies the non-zero exit counters to `x.buffer` (as many as `x.count`
/// entries hold) and sets `x.count` to how many there are.
fn exit_stats(cx: &mut Ctx<'_>, x: &mut XenSysctlSnowvisorExits) -> Result<(), Errno> {
    let exits = cx.plat.exit_stats().ok_or(Errno::ENOSYS)?;
    let buf = handle_gva(x.buffer)?;
    let room = x.count as usize;
    if room > 0 {
        check_span(
            buf,
            room.checked_mul(EXIT_ENTRY_BYTES).ok_or(Errno::EFAULT)?,
        )?;
    }
    let entries = exits.read(x.clear != 0);
    for (i, e) in entries.iter().take(room).enumerate() {
        let mut b = [0u8; EXIT_ENTRY_BYTES];
        for (w, v) in b.chunks_exact_mut(4).zip(e) {
            w.copy_from_slice(&v.to_le_bytes());
        }
        let at = buf + (i * EXIT_ENTRY_BYTES) as u32;
        cx.mem.write(at, &b).map_err(|_| Errno::EFAULT)?;
    }
    x.count = entries.len() as u32;
    Ok(())
}

/// Copies log bytes to `rc.buffer` and updates `rc.count` and `rc.index`.
fn read_log(
    cx: &mut Ctx<'_>,
    which: HypervisorLog,
    rc: &mut XenSysctlReadconsole,
) -> Result<(), Errno> {
    if rc.clear != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let buf = handle_gva(rc.buffer)?;
    let (first, end) = cx.plat.log_span(which).ok_or(Errno::ENODATA)?;
    // A platform that reports a backwards span holds nothing.
    let end = end.max(first);
    let mut at = if rc.incremental != 0 && (first..=end).contains(&rc.index) {
        rc.index
    } else {
        first
    };
    let want = (end - at).min(rc.count).min(READ_BUDGET);
    if want > 0 {
        check_span(buf, want as usize)?;
    }
    let mut chunk = [0u8; CHUNK];
    let mut done = 0u32;
    while done < want {
        let k = ((want - done) as usize).min(CHUNK);
        let n = cx.plat.log_read(which, at, &mut chunk[..k]).min(k);
        if n == 0 {
            break;
        }
        cx.mem
            .write(buf + done, &chunk[..n])
            .map_err(|_| Errno::EFAULT)?;
        done += n as u32;
        at += n as u32;
    }
    rc.count = done;
    rc.index = at;
    Ok(())
}
