//! The per-vCPU `domctl` commands `xl vcpu-list` uses, as Xen 4.17's
//! `common/domctl.c` and `vcpu_affinity_domctl` (`common/sched/core.c`)
//! answer them, after [`Xen::domctl`]'s checks (version, domain, control
//! domain only):
//!
//! - `XEN_DOMCTL_getvcpuinfo` (14): `-EINVAL` for a vCPU id at or above the
//!   domain's count; online, blocked, running, CPU time and the CPU it is on.
//!   The calling domain's own vCPUs come from its own runstates (fresh);
//!   another domain's as the platform last saw them.
//! - `XEN_DOMCTL_getvcpuaffinity` (25): `-EINVAL` for a vCPU id out of
//!   range, no `XEN_VCPUAFFINITY_HARD`/`_SOFT` flag, or a NULL bitmap for a
//!   flag given. Hard affinity is the one CPU snowvisor pinned the vCPU to;
//!   soft affinity is every CPU (Xen's default, which nothing here changes).

use super::abi::layout::{XenDomctlGetvcpuinfo, XenDomctlVcpuaffinity};
use super::abi::{domctl, Errno};
use super::guest::{read_struct, write_struct};
use super::platform::{DomainInfo, VcpuInfo};
use super::sysctl_host::{cpu_bits, write_bitmap};
use super::{Ctx, Xen};

impl Xen {
    /// vCPU `vcpu` of domain `info` (whose vCPU count is checked).
    fn vcpu_of(&self, cx: &mut Ctx<'_>, info: &DomainInfo, vcpu: u32) -> Result<VcpuInfo, Errno> {
        if vcpu >= info.nr_vcpus {
            return Err(Errno::EINVAL);
        }
        let seen = cx.plat.vcpu_info(info.domid, vcpu).ok_or(Errno::ESRCH)?;
        if info.domid != self.cfg.domid {
            return Ok(seen);
        }
        Ok(VcpuInfo {
            cpu: seen.cpu,
            ..self.vcpu_info(vcpu)
        })
    }

    /// `getvcpuinfo` / `getvcpuaffinity` on domain `info`; `u` is the guest
    /// address of `xen_domctl.u`.
    pub(super) fn domctl_vcpu(
        &mut self,
        cx: &mut Ctx<'_>,
        cmd: u32,
        info: &DomainInfo,
        u: u32,
    ) -> Result<(), Errno> {
        match cmd {
            domctl::GETVCPUINFO => {
                let mut g: XenDomctlGetvcpuinfo = read_struct(cx.mem, u)?;
                let v = self.vcpu_of(cx, info, g.vcpu)?;
                g.online = v.online.into();
                g.blocked = v.blocked.into();
                g.running = v.running.into();
                g.cpu_time = v.cpu_time_ns;
                g.cpu = v.cpu;
                write_struct(cx.mem, u, &g)
            }
            domctl::GETVCPUAFFINITY => {
                let a: XenDomctlVcpuaffinity = read_struct(cx.mem, u)?;
                let v = self.vcpu_of(cx, info, a.vcpu)?;
                let hard = a.flags & domctl::VCPUAFFINITY_HARD != 0;
                let soft = a.flags & domctl::VCPUAFFINITY_SOFT != 0;
                if a.flags == 0
                    || (hard && a.cpumap_hard.bitmap == 0)
                    || (soft && a.cpumap_soft.bitmap == 0)
                {
                    return Err(Errno::EINVAL);
                }
                let host = cx.plat.host_info().ok_or(Errno::ENOSYS)?;
                let n = host.possible_cpus;
                if hard {
                    let pinned = if v.cpu < 64 { 1u64 << v.cpu } else { 0 };
                    write_bitmap(cx, &a.cpumap_hard, pinned, n)?;
                }
                if soft {
                    write_bitmap(cx, &a.cpumap_soft, cpu_bits(n), n)?;
                }
                Ok(())
            }
            _ => Err(Errno::ENOSYS),
        }
    }

    /// This domain's vCPU `vcpu` from its runstate area (`cpu` 0: the
    /// platform knows where it is placed).
    pub fn vcpu_info(&self, vcpu: u32) -> VcpuInfo {
        let run = self.shared.vcpu(vcpu).map(|a| a.run).unwrap_or_default();
        let state = run.state;
        VcpuInfo {
            online: state != super::abi::runstate::OFFLINE,
            blocked: state == super::abi::runstate::BLOCKED,
            running: state == super::abi::runstate::RUNNING,
            cpu_time_ns: run.time[super::abi::runstate::RUNNING as usize],
            cpu: 0,
        }
    }
}
