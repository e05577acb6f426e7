//! The host-wide `sysctl` commands `xl info`, `xl vcpu-list`,
//! `xl debug-keys` and `xen-init-dom0` use, answered as Xen 4.17 on ARM
//! answers them (`common/sysctl.c`, `common/sched/cpupool.c`,
//! `arch/arm/sysctl.c`; ARM without NUMA: one node, `cpu_to_core` and
//! `cpu_to_socket` 0, node distance 20):
//!
//! - `XEN_SYSCTL_physinfo` (3): one thread per core and one core per socket
//!   (ARM's sibling and core masks hold the CPU alone), the CPUs up and
//!   possible, the timer frequency as `cpu_khz`, capabilities `hvm`, `hap`
//!   and `gnttab-v1`, the machine's RAM, and as free what neither a domain
//!   nor snowvisor holds.
//! - `XEN_SYSCTL_sched_id` (4): `XEN_SCHEDULER_credit`. snowvisor pins each
//!   vCPU to a CPU and shares a CPU round-robin with a time slice
//!   (`sched_slice_ms`) and a 1 ms rate limit, the two knobs of Xen's credit
//!   scheduler (`sched_credit_tslice_ms`, `sched_ratelimit_us`); none of
//!   Xen's ids is an exact match, credit is the nearest.
//! - `XEN_SYSCTL_cputopoinfo` (16), `XEN_SYSCTL_numainfo` (17): Xen's
//!   copy rules (a NULL handle asks for the count; at most the caller's
//!   count is written; the count is written back when it differs).
//! - `XEN_SYSCTL_cpupool_op` (18): the boot-time cpupools
//!   ([`HostInfo::cpupool_cpus`]; without `xen,cpupool` nodes only Pool-0,
//!   every CPU up): `INFO` (the first pool at or above the id, its CPUs and
//!   how many domains it holds, `-ENOENT` past the last) and `FREEINFO` (no
//!   CPU is outside a pool); changing pools is `-EOPNOTSUPP`: snowvisor's
//!   pools are fixed at boot.
//! - `XEN_SYSCTL_debug_keys` (7): each key as if typed on snowvisor's
//!   console; at most [`MAX_DEBUG_KEYS`] per call (`-E2BIG`: Xen has no
//!   limit, but a hypercall must not run unbounded).
//!
//! A CPU bitmap (`xenctl_bitmap`) is written as Xen's
//! `bitmap_to_xenctl_bitmap` does: the bits Xen has (`nr_cpu_ids`), the
//! rest of the caller's `nr_bits` zeroed; more than [`MAX_BITMAP_BITS`] is
//! `-EINVAL` (Xen would zero any size).

use super::abi::layout::{
    XenSysctlCpupoolOp, XenSysctlCputopo, XenSysctlCputopoinfo, XenSysctlDebugKeys,
    XenSysctlMeminfo, XenSysctlNumainfo, XenSysctlPhysinfo, XenctlBitmap,
};
use super::abi::wire::Wire;
use super::abi::{domctl, sysctl, Errno, PAGE_SHIFT};
use super::guest::{check_span, elem_gva, handle_gva, read_struct, write_padded, write_struct};
use super::platform::HostInfo;
use super::{Ctx, HcResult, Outcome, Xen};

/// Keys one `XEN_SYSCTL_debug_keys` runs at most.
pub const MAX_DEBUG_KEYS: u32 = 256;
/// The largest `xenctl_bitmap` written (4 KiB of bits; libxl asks for the
/// CPU count rounded up to a byte).
pub const MAX_BITMAP_BITS: u32 = 4096 * 8;
/// `__node_distance` of Xen 4.17 on ARM (no NUMA): 20 for every pair.
const NODE_DISTANCE: u32 = 20;

/// Writes `bits` (bit n: CPU n; `nbits` of them exist) to the guest's
/// bitmap as Xen's `bitmap_to_xenctl_bitmap` does.
pub(super) fn write_bitmap(
    cx: &mut Ctx<'_>,
    map: &XenctlBitmap,
    bits: u64,
    nbits: u32,
) -> Result<(), Errno> {
    if map.nr_bits > MAX_BITMAP_BITS {
        return Err(Errno::EINVAL);
    }
    let guest_bytes = map.nr_bits.div_ceil(8) as usize;
    if guest_bytes == 0 {
        return Ok(());
    }
    let buf = handle_gva(map.bitmap)?;
    let xen_bytes = nbits.min(64).div_ceil(8) as usize;
    let ours = bits.to_le_bytes();
    let n = guest_bytes.min(xen_bytes);
    write_padded(cx.mem, buf, &ours[..n], guest_bytes)
}

/// Writes one `uint32_t` to a guest virtual address.
fn write_u32(cx: &mut Ctx<'_>, gva: u32, v: u32) -> Result<(), Errno> {
    check_span(gva, 4)?;
    cx.mem
        .write(gva, &v.to_le_bytes())
        .map_err(|_| Errno::EFAULT)
}

/// The CPUs in bitmap form: bit n for CPU n < `nr` (at most 64).
pub(super) fn cpu_bits(nr: u32) -> u64 {
    match nr {
        0 => 0,
        64.. => u64::MAX,
        n => (1u64 << n) - 1,
    }
}

impl Xen {
    /// The host-wide commands above; `u` is the guest address of
    /// `xen_sysctl.u`. The caller has checked the version and privilege.
    pub(super) fn sysctl_host(&mut self, cx: &mut Ctx<'_>, cmd: u32, u: u32) -> HcResult {
        match cmd {
            sysctl::PHYSINFO => {
                let host = cx.plat.host_info().ok_or(Errno::ENOSYS)?;
                let pi = self.physinfo(cx, &host);
                write_struct(cx.mem, u, &pi)?;
            }
            sysctl::SCHED_ID => {
                write_u32(cx, u, domctl::SCHEDULER_CREDIT)?;
            }
            sysctl::CPUTOPOINFO => {
                let host = cx.plat.host_info().ok_or(Errno::ENOSYS)?;
                let mut ti: XenSysctlCputopoinfo = read_struct(cx.mem, u)?;
                let n = cputopoinfo(cx, &ti, host.possible_cpus)?;
                if n != ti.num_cpus {
                    ti.num_cpus = n;
                    write_struct(cx.mem, u, &ti)?;
                }
            }
            sysctl::NUMAINFO => {
                let host = cx.plat.host_info().ok_or(Errno::ENOSYS)?;
                let mut ni: XenSysctlNumainfo = read_struct(cx.mem, u)?;
                let free = self.free_pages(cx, &host);
                let n = numainfo(cx, &ni, &host, free)?;
                if n != ni.num_nodes {
                    ni.num_nodes = n;
                    write_struct(cx.mem, u, &ni)?;
                }
            }
            sysctl::CPUPOOL_OP => {
                let host = cx.plat.host_info().ok_or(Errno::ENOSYS)?;
                let mut op: XenSysctlCpupoolOp = read_struct(cx.mem, u)?;
                self.cpupool_op(cx, &mut op, &host)?;
                write_struct(cx.mem, u, &op)?;
            }
            sysctl::DEBUG_KEYS => {
                let k: XenSysctlDebugKeys = read_struct(cx.mem, u)?;
                debug_keys(cx, &k)?;
            }
            _ => return Err(Errno::ENOSYS),
        }
        Ok(Outcome::Return(0))
    }

    /// `xen_sysctl_physinfo` for `host`.
    fn physinfo(&mut self, cx: &mut Ctx<'_>, host: &HostInfo) -> XenSysctlPhysinfo {
        XenSysctlPhysinfo {
            threads_per_core: 1,
            cores_per_socket: 1,
            nr_cpus: host.nr_cpus,
            max_cpu_id: host.possible_cpus.saturating_sub(1),
            nr_nodes: 1,
            max_node_id: 0,
            cpu_khz: host.cpu_khz,
            capabilities: sysctl::PHYSCAP_HVM | sysctl::PHYSCAP_HAP | sysctl::PHYSCAP_GNTTAB_V1,
            total_pages: host.total_pages,
            free_pages: self.free_pages(cx, host),
            max_mfn: host.mfn_end.saturating_sub(1),
            ..Default::default()
        }
    }

    /// Calls `f` for each domain, in id order (Xen's `for_each_domain`).
    fn each_domain(&self, cx: &mut Ctx<'_>, mut f: impl FnMut(&super::DomainInfo)) {
        let mut next = Some(0u16);
        while let Some(first) = next {
            match self.domain_at(cx, first) {
                Some(i) if i.domid >= first => {
                    f(&i);
                    next = i.domid.checked_add(1);
                }
                _ => break,
            }
        }
    }

    /// RAM no domain and not the hypervisor holds, in pages.
    fn free_pages(&mut self, cx: &mut Ctx<'_>, host: &HostInfo) -> u64 {
        let mut used = host.hypervisor_pages;
        self.each_domain(cx, |i| used = used.saturating_add(i.tot_pages));
        host.total_pages.saturating_sub(used)
    }

    /// Domains in cpupool `pool`.
    fn nr_domains(&mut self, cx: &mut Ctx<'_>, pool: u32) -> u32 {
        let mut n = 0;
        self.each_domain(cx, |i| n += u32::from(i.cpupool == pool));
        n
    }

    fn cpupool_op(
        &mut self,
        cx: &mut Ctx<'_>,
        op: &mut XenSysctlCpupoolOp,
        host: &HostInfo,
    ) -> Result<(), Errno> {
        match op.op {
            sysctl::CPUPOOL_OP_INFO => {
                // `cpupool_get_next_by_id`: the first pool at or above the id.
                let (id, cpus) = host
                    .cpupool_cpus
                    .iter()
                    .enumerate()
                    .skip(op.cpupool_id as usize)
                    .find(|&(id, &cpus)| id == 0 || cpus != 0)
                    .ok_or(Errno::ENOENT)?;
                op.cpupool_id = id as u32;
                op.sched_id = domctl::SCHEDULER_CREDIT;
                op.n_dom = self.nr_domains(cx, op.cpupool_id);
                write_bitmap(cx, &op.cpumap, *cpus, host.possible_cpus)
            }
            sysctl::CPUPOOL_OP_FREEINFO => write_bitmap(cx, &op.cpumap, 0, host.possible_cpus),
            sysctl::CPUPOOL_OP_CREATE
            | sysctl::CPUPOOL_OP_DESTROY
            | sysctl::CPUPOOL_OP_ADDCPU
            | sysctl::CPUPOOL_OP_RMCPU
            | sysctl::CPUPOOL_OP_MOVEDOMAIN => Err(Errno::EOPNOTSUPP),
            _ => Err(Errno::ENOSYS),
        }
    }
}

/// Writes the CPUs' topology; returns the count Xen reports.
fn cputopoinfo(cx: &mut Ctx<'_>, ti: &XenSysctlCputopoinfo, possible: u32) -> Result<u32, Errno> {
    if ti.cputopo == 0 {
        return Ok(possible);
    }
    let buf = handle_gva(ti.cputopo)?;
    let n = possible.min(ti.num_cpus);
    for i in 0..n {
        // Every possible CPU is present; ARM 4.17: core 0, socket 0, node 0.
        let at = elem_gva(buf, i, XenSysctlCputopo::SIZE)?;
        write_struct(cx.mem, at, &XenSysctlCputopo::default())?;
    }
    Ok(n)
}

/// Writes node 0's memory and its distance to itself; returns the count.
fn numainfo(
    cx: &mut Ctx<'_>,
    ni: &XenSysctlNumainfo,
    host: &HostInfo,
    free: u64,
) -> Result<u32, Errno> {
    if ni.meminfo == 0 && ni.distance == 0 {
        return Ok(1);
    }
    if ni.num_nodes == 0 {
        return Ok(0);
    }
    if ni.meminfo != 0 {
        let m = XenSysctlMeminfo {
            // `node_spanned_pages`: the first RAM frame to the last.
            memsize: host.mfn_end.saturating_sub(host.mfn_start) << PAGE_SHIFT,
            memfree: free << PAGE_SHIFT,
        };
        write_struct(cx.mem, handle_gva(ni.meminfo)?, &m)?;
    }
    if ni.distance != 0 {
        write_u32(cx, handle_gva(ni.distance)?, NODE_DISTANCE)?;
    }
    Ok(1)
}

/// Runs each key of `k` as a debug key.
fn debug_keys(cx: &mut Ctx<'_>, k: &XenSysctlDebugKeys) -> Result<(), Errno> {
    if k.nr_keys > MAX_DEBUG_KEYS {
        return Err(Errno::E2BIG);
    }
    if k.nr_keys == 0 {
        return Ok(());
    }
    let buf = handle_gva(k.keys)?;
    check_span(buf, k.nr_keys as usize)?;
    let mut keys = [0u8; MAX_DEBUG_KEYS as usize];
    let keys = &mut keys[..k.nr_keys as usize];
    cx.mem.read(buf, keys).map_err(|_| Errno::EFAULT)?;
    for &key in keys.iter() {
        if !cx.plat.debug_key(key) {
            return Err(Errno::ENOSYS);
        }
    }
    Ok(())
}
