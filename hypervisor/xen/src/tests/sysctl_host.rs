//! The host-wide sysctls (`physinfo`, `sched_id`, `cputopoinfo`,
//! `numainfo`, `cpupool_op`, `debug_keys`) and the per-vCPU domctls
//! (`getvcpuinfo`, `getvcpuaffinity`) that `xl info`, `xl vcpu-list` and
//! `xl debug-keys` use: values, Xen's copy rules and hostile arguments.

use super::super::abi::layout::{
    XenDomctl, XenDomctlGetvcpuinfo, XenDomctlVcpuaffinity, XenSysctl, XenSysctlCpupoolOp,
    XenSysctlCputopo, XenSysctlCputopoinfo, XenSysctlDebugKeys, XenSysctlMeminfo,
    XenSysctlNumainfo, XenSysctlPhysinfo, XenctlBitmap, DOMCTL_U, SYSCTL_U,
};
use super::super::abi::wire::Wire;
use super::super::abi::{domctl, hc, sysctl, Errno};
use super::super::platform::{HostInfo, VcpuInfo};
use super::super::testing::*;
use super::*;

/// Where bitmaps and arrays go (RAM page 0x30).
const BUF: u32 = KVA_BASE + 0x30 * PAGE as u32;

/// Two CPUs up of four, 62.5 MHz, 1 GiB from 0x40000000 of which
/// snowvisor keeps 2 MiB.
fn host() -> HostInfo {
    HostInfo {
        nr_cpus: 2,
        possible_cpus: 4,
        cpu_khz: 62_500,
        total_pages: 262_144,
        hypervisor_pages: 512,
        mfn_start: 0x40000,
        mfn_end: 0x80000,
        cpupool_cpus: [0b11, 0, 0, 0, 0, 0, 0, 0],
    }
}

/// Dom0 (2 vCPUs, its own RAM: `RAM_PAGES`) and DomU 1 (16384 pages)
/// on the machine of [`host`].
fn dom0() -> (Guest, Guest) {
    let (d0, d1) = Guest::pair(1);
    d0.m().host = Some(host());
    (d0, d1)
}

/// `sysctl(cmd)` with `u` holding `v`; returns r0 and `u` read back.
fn sysctl_call<T: Wire>(g: &mut Guest, cmd: u32, version: u32, v: &T) -> (i32, T) {
    g.put(
        ARG,
        &XenSysctl {
            cmd,
            interface_version: version,
            u: [0; 16],
        },
    );
    g.put(ARG + SYSCTL_U as u32, v);
    let r = g.call(hc::SYSCTL, [ARG, 0, 0, 0, 0]);
    (r, g.get(ARG + SYSCTL_U as u32))
}

fn sysctl<T: Wire>(g: &mut Guest, cmd: u32, v: &T) -> (i32, T) {
    sysctl_call(g, cmd, sysctl::INTERFACE_VERSION, v)
}

/// `domctl(cmd)` on `domain` with `u` holding `v`.
fn domctl<T: Wire>(g: &mut Guest, cmd: u32, domain: u16, v: &T) -> (i32, T) {
    g.put(
        ARG,
        &XenDomctl {
            cmd,
            interface_version: domctl::INTERFACE_VERSION,
            domain,
            ..Default::default()
        },
    );
    g.put(ARG + DOMCTL_U as u32, v);
    let r = g.call(hc::DOMCTL, [ARG, 0, 0, 0, 0]);
    (r, g.get(ARG + DOMCTL_U as u32))
}

fn bitmap(at: u32, nr_bits: u32) -> XenctlBitmap {
    XenctlBitmap {
        bitmap: u64::from(at),
        nr_bits,
        pad: 0,
    }
}

#[test]
fn physinfo_describes_the_machine() {
    let (mut d0, _) = dom0();
    let (r, pi) = sysctl(&mut d0, sysctl::PHYSINFO, &XenSysctlPhysinfo::default());
    assert_eq!(r, 0);
    assert_eq!(
        (
            pi.threads_per_core,
            pi.cores_per_socket,
            pi.nr_cpus,
            pi.max_cpu_id
        ),
        (1, 1, 2, 3)
    );
    assert_eq!((pi.nr_nodes, pi.max_node_id, pi.cpu_khz), (1, 0, 62_500));
    // hvm | hap | gnttab_v1, as Xen 4.17 on ARM without an IOMMU.
    assert_eq!(pi.capabilities, (1 << 0) | (1 << 3) | (1 << 8));
    assert_eq!(pi.total_pages, 262_144);
    // Free: neither Dom0 (its own RAM), DomU 1 nor snowvisor's.
    assert_eq!(pi.free_pages, 262_144 - 512 - RAM_PAGES as u64 - 16384);
    assert_eq!((pi.max_mfn, pi.outstanding_pages), (0x7ffff, 0));
}

#[test]
fn host_sysctls_follow_xens_checks() {
    let (mut d0, mut d1) = dom0();
    let none = XenSysctlPhysinfo::default();
    // Interface version first, then the control domain only.
    assert_eq!(
        sysctl_call(&mut d0, sysctl::PHYSINFO, 0x14, &none).0,
        Errno::EACCES.ret()
    );
    d1.m().host = Some(host());
    assert_eq!(
        sysctl(&mut d1, sysctl::PHYSINFO, &none).0,
        Errno::EPERM.ret()
    );
    // A platform that knows nothing of the machine.
    let mut bare = Guest::dom0();
    assert_eq!(
        sysctl(&mut bare, sysctl::PHYSINFO, &none).0,
        Errno::ENOSYS.ret()
    );
    let (r, id) = sysctl(&mut d0, sysctl::SCHED_ID, &XenSysctlMeminfo::default());
    assert_eq!((r, id.memsize as u32), (0, domctl::SCHEDULER_CREDIT));
}

#[test]
fn cputopoinfo_counts_and_copies_at_most_the_callers_entries() {
    let (mut d0, _) = dom0();
    let ask = |n, h: u32| XenSysctlCputopoinfo {
        num_cpus: n,
        pad: 0,
        cputopo: u64::from(h),
    };
    // A NULL handle asks for the count: the possible CPUs.
    let (r, t) = sysctl(&mut d0, sysctl::CPUTOPOINFO, &ask(0, 0));
    assert_eq!((r, t.num_cpus), (0, 4));
    d0.put_bytes(BUF, &[0xff; 48]);
    let (r, t) = sysctl(&mut d0, sysctl::CPUTOPOINFO, &ask(2, BUF));
    assert_eq!((r, t.num_cpus), (0, 2));
    let c: XenSysctlCputopo = d0.get(BUF + 12);
    assert_eq!((c.core, c.socket, c.node), (0, 0, 0));
    // The third entry was not the caller's to write.
    assert_eq!(d0.get_bytes(BUF + 24, 4), [0xff; 4]);
    let (r, t) = sysctl(&mut d0, sysctl::CPUTOPOINFO, &ask(8, BUF));
    assert_eq!((r, t.num_cpus), (0, 4));
    assert_eq!(
        sysctl(&mut d0, sysctl::CPUTOPOINFO, &ask(8, 0x1000)).0,
        Errno::EFAULT.ret()
    );
}

#[test]
fn numainfo_is_one_node() {
    let (mut d0, _) = dom0();
    let (r, n) = sysctl(&mut d0, sysctl::NUMAINFO, &XenSysctlNumainfo::default());
    assert_eq!((r, n.num_nodes), (0, 1));
    let ask = XenSysctlNumainfo {
        num_nodes: 4,
        pad: 0,
        meminfo: u64::from(BUF),
        distance: u64::from(BUF + 64),
    };
    let (r, n) = sysctl(&mut d0, sysctl::NUMAINFO, &ask);
    assert_eq!((r, n.num_nodes), (0, 1));
    let m: XenSysctlMeminfo = d0.get(BUF);
    assert_eq!(m.memsize, 1 << 30);
    assert_eq!(m.memfree >> 12, 262_144 - 512 - RAM_PAGES as u64 - 16384);
    assert_eq!(d0.get_bytes(BUF + 64, 4), 20u32.to_le_bytes());
}

#[test]
fn cpupool_0_holds_every_cpu_and_domain_without_boot_time_pools() {
    let (mut d0, _) = dom0();
    let info = |id, map| XenSysctlCpupoolOp {
        op: sysctl::CPUPOOL_OP_INFO,
        cpupool_id: id,
        cpumap: map,
        ..Default::default()
    };
    d0.put_bytes(BUF, &[0xff; 8]);
    let (r, p) = sysctl(&mut d0, sysctl::CPUPOOL_OP, &info(0, bitmap(BUF, 64)));
    assert_eq!(r, 0);
    assert_eq!((p.cpupool_id, p.sched_id, p.n_dom), (0, 5, 2));
    // CPUs 0 and 1 up; the caller's other bytes zeroed.
    assert_eq!(d0.get_bytes(BUF, 8), [0b11, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        sysctl(&mut d0, sysctl::CPUPOOL_OP, &info(1, bitmap(BUF, 64))).0,
        Errno::ENOENT.ret()
    );
    // No CPU is outside a pool.
    d0.put_bytes(BUF, &[0xff; 2]);
    let free = XenSysctlCpupoolOp {
        op: sysctl::CPUPOOL_OP_FREEINFO,
        cpumap: bitmap(BUF, 16),
        ..Default::default()
    };
    assert_eq!(sysctl(&mut d0, sysctl::CPUPOOL_OP, &free).0, 0);
    assert_eq!(d0.get_bytes(BUF, 2), [0, 0]);
    // Changing pools: not offered; unknown ops as Xen.
    for (op, e) in [
        (sysctl::CPUPOOL_OP_CREATE, Errno::EOPNOTSUPP),
        (sysctl::CPUPOOL_OP_RMCPU, Errno::EOPNOTSUPP),
        (sysctl::CPUPOOL_OP_MOVEDOMAIN, Errno::EOPNOTSUPP),
        (99, Errno::ENOSYS),
    ] {
        let o = XenSysctlCpupoolOp {
            op,
            ..Default::default()
        };
        assert_eq!(
            sysctl(&mut d0, sysctl::CPUPOOL_OP, &o).0,
            e.ret(),
            "op {op}"
        );
    }
    // A bitmap far larger than any CPU count, or unmapped.
    let huge = info(0, bitmap(BUF, u32::MAX));
    assert_eq!(
        sysctl(&mut d0, sysctl::CPUPOOL_OP, &huge).0,
        Errno::EINVAL.ret()
    );
    let unmapped = info(0, bitmap(0x1000, 8));
    assert_eq!(
        sysctl(&mut d0, sysctl::CPUPOOL_OP, &unmapped).0,
        Errno::EFAULT.ret()
    );
}

#[test]
fn debug_keys_reach_the_platform() {
    let (mut d0, _) = dom0();
    d0.put_bytes(BUF, b"hs");
    let keys = |n, at: u32| XenSysctlDebugKeys {
        keys: u64::from(at),
        nr_keys: n,
        pad: 0,
    };
    // No debug keys on this platform.
    assert_eq!(
        sysctl(&mut d0, sysctl::DEBUG_KEYS, &keys(2, BUF)).0,
        Errno::ENOSYS.ret()
    );
    d0.m().debug_keys = Some(Vec::new());
    assert_eq!(sysctl(&mut d0, sysctl::DEBUG_KEYS, &keys(2, BUF)).0, 0);
    assert_eq!(d0.m().debug_keys.as_deref(), Some(&b"hs"[..]));
    assert_eq!(sysctl(&mut d0, sysctl::DEBUG_KEYS, &keys(0, 0)).0, 0);
    assert_eq!(
        sysctl(&mut d0, sysctl::DEBUG_KEYS, &keys(257, BUF)).0,
        Errno::E2BIG.ret()
    );
    assert_eq!(
        sysctl(&mut d0, sysctl::DEBUG_KEYS, &keys(2, 0x1000)).0,
        Errno::EFAULT.ret()
    );
    assert_eq!(d0.m().debug_keys.as_deref(), Some(&b"hs"[..]));
}

#[test]
fn getvcpuinfo_reports_own_and_other_vcpus() {
    let (mut d0, mut d1) = dom0();
    d0.m().vcpus.insert(
        (0, 1),
        VcpuInfo {
            cpu: 1,
            ..Default::default()
        },
    );
    d0.m().vcpus.insert(
        (1, 0),
        VcpuInfo {
            online: true,
            blocked: true,
            running: false,
            cpu_time_ns: 7_000,
            cpu: 1,
        },
    );
    let ask = |v| XenDomctlGetvcpuinfo {
        vcpu: v,
        ..Default::default()
    };
    // Dom0's own vCPU 1: its runstate (not started: offline), placed on CPU 1.
    let (r, g) = domctl(&mut d0, domctl::GETVCPUINFO, 0, &ask(1));
    assert_eq!(r, 0);
    let own = d0.xen.vcpu_info(1);
    assert_eq!(
        (g.online != 0, g.running != 0, g.cpu_time, g.cpu),
        (own.online, own.running, own.cpu_time_ns, 1)
    );
    let (r, g) = domctl(&mut d0, domctl::GETVCPUINFO, 1, &ask(0));
    assert_eq!(r, 0);
    assert_eq!(
        (g.online, g.blocked, g.running, g.cpu_time, g.cpu),
        (1, 1, 0, 7_000, 1)
    );
    // Out of range, no such domain, not the control domain.
    assert_eq!(
        domctl(&mut d0, domctl::GETVCPUINFO, 1, &ask(1)).0,
        Errno::EINVAL.ret()
    );
    assert_eq!(
        domctl(&mut d0, domctl::GETVCPUINFO, 5, &ask(0)).0,
        Errno::ESRCH.ret()
    );
    assert_eq!(
        domctl(&mut d1, domctl::GETVCPUINFO, 0, &ask(0)).0,
        Errno::EPERM.ret()
    );
}

#[test]
fn getvcpuaffinity_is_the_pinned_cpu_hard_and_every_cpu_soft() {
    let (mut d0, _) = dom0();
    d0.m().vcpus.insert(
        (1, 0),
        VcpuInfo {
            online: true,
            cpu: 1,
            ..Default::default()
        },
    );
    d0.put_bytes(BUF, &[0xff; 4]);
    d0.put_bytes(BUF + 16, &[0xff; 4]);
    let ask = |flags, hard: u32, soft: u32| XenDomctlVcpuaffinity {
        vcpu: 0,
        flags,
        cpumap_hard: bitmap(hard, 32),
        cpumap_soft: bitmap(soft, 32),
    };
    let both = domctl::VCPUAFFINITY_HARD | domctl::VCPUAFFINITY_SOFT;
    assert_eq!(
        domctl(
            &mut d0,
            domctl::GETVCPUAFFINITY,
            1,
            &ask(both, BUF, BUF + 16)
        )
        .0,
        0
    );
    assert_eq!(d0.get_bytes(BUF, 4), [0b10, 0, 0, 0]);
    assert_eq!(d0.get_bytes(BUF + 16, 4), [0b1111, 0, 0, 0]);
    for bad in [
        ask(0, BUF, BUF),
        ask(domctl::VCPUAFFINITY_HARD, 0, BUF),
        ask(domctl::VCPUAFFINITY_SOFT, BUF, 0),
    ] {
        assert_eq!(
            domctl(&mut d0, domctl::GETVCPUAFFINITY, 1, &bad).0,
            Errno::EINVAL.ret()
        );
    }
    let mut out_of_range = ask(both, BUF, BUF);
    out_of_range.vcpu = 1;
    assert_eq!(
        domctl(&mut d0, domctl::GETVCPUAFFINITY, 1, &out_of_range).0,
        Errno::EINVAL.ret()
    );
}

#[test]
fn memory_sharing_counts_are_zero() {
    let (mut d0, mut d1) = dom0();
    for cmd in [18, 19] {
        assert_eq!(d0.call(hc::MEMORY_OP, [cmd, 0, 0, 0, 0]), 0);
        assert_eq!(d1.call(hc::MEMORY_OP, [cmd, 0, 0, 0, 0]), 0);
    }
}

/// Boot-time cpupools: Pool-0 with CPU 0 and Dom0, Pool-2 with CPU 1 and
/// DomU 1 (Pool-1 has no CPU: no such pool). `INFO` finds the next pool
/// at or above the id, as Xen's `cpupool_get_next_by_id`, and
/// `getdomaininfo` names each domain's pool.
#[test]
fn boot_time_cpupools_are_listed_with_their_cpus_and_domains() {
    let h = HostInfo {
        cpupool_cpus: [0b01, 0, 0b10, 0, 0, 0, 0, 0],
        ..host()
    };
    let (mut d0, _d1) = dom0();
    d0.m().host = Some(h);
    for d in d0.m().domains.iter_mut().filter(|d| d.domid == 1) {
        d.cpupool = 2;
    }
    let info = |id| XenSysctlCpupoolOp {
        op: sysctl::CPUPOOL_OP_INFO,
        cpupool_id: id,
        cpumap: bitmap(BUF, 8),
        ..Default::default()
    };
    let (r, p) = sysctl(&mut d0, sysctl::CPUPOOL_OP, &info(0));
    assert_eq!((r, p.cpupool_id, p.n_dom), (0, 0, 1));
    assert_eq!(d0.get_bytes(BUF, 1), [0b01]);
    let (r, p) = sysctl(&mut d0, sysctl::CPUPOOL_OP, &info(1));
    assert_eq!((r, p.cpupool_id, p.n_dom), (0, 2, 1));
    assert_eq!(d0.get_bytes(BUF, 1), [0b10]);
    assert_eq!(
        sysctl(&mut d0, sysctl::CPUPOOL_OP, &info(3)).0,
        Errno::ENOENT.ret()
    );
}
