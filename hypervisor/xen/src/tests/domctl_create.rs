//! The domctls of `xl create` / `xl unpause` / `xl destroy`: Dom0 builds a
//! domain through the platform; values written back, Xen 4.17's errors,
//! and what an unprivileged or careless caller gets.

use super::super::abi::layout::{
    EvtchnAllocUnbound, EvtchnBindVirq, VcpuGuestContext, XenDomctl, XenDomctlAddressSize,
    XenDomctlCacheflush, XenDomctlCreatedomain, XenDomctlMaxVcpus, XenDomctlPagingMempool,
    XenDomctlSchedulerOp, XenDomctlVcpuaffinity, XenDomctlVcpucontext, XenHvmParam,
    XenMemoryReservation, XenPfn, XenctlBitmap, DOMCTL_U,
};
use super::super::abi::wire::Wire;
use super::super::abi::{domctl, domid, evtchnop, hc, hvmop, virq, xenmem, Errno};
use super::super::guest::GFN_LIMIT;
use super::super::platform::{HostInfo, PlatformError, VcpuStart};
use super::super::testing::*;
use super::*;

/// Where bitmaps and contexts go (RAM page 0x30).
const BUF: u32 = KVA_BASE + 0x30 * PAGE as u32;

/// Two CPUs, one pool.
fn host() -> HostInfo {
    HostInfo {
        nr_cpus: 2,
        possible_cpus: 2,
        cpupool_cpus: [0b11, 0, 0, 0, 0, 0, 0, 0],
        ..HostInfo::default()
    }
}

/// Dom0 (2 vCPUs) next to boot-time DomU 1, on [`host`].
fn dom0() -> (Guest, Guest) {
    let (d0, d1) = Guest::pair(1);
    d0.m().host = Some(host());
    (d0, d1)
}

/// `domctl(cmd)` on `domain` with `u` holding `v`: r0, the header and `u`
/// read back.
fn dctl<T: Wire>(g: &mut Guest, cmd: u32, domain: u16, v: &T) -> (i32, XenDomctl, T) {
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
    (r, g.get(ARG), g.get(ARG + DOMCTL_U as u32))
}

/// What libxl asks for an ARM guest with 2 vCPUs: HVM and HAP, the native
/// GIC, default grant limits, grant v1, 5 SPIs.
fn config() -> XenDomctlCreatedomain {
    let mut c = XenDomctlCreatedomain {
        flags: domctl::CDF_HVM | domctl::CDF_HAP,
        max_vcpus: 2,
        max_evtchn_port: 1023,
        max_grant_frames: -1,
        max_maptrack_frames: -1,
        grant_opts: 1,
        handle: [7; 16],
        ..Default::default()
    };
    c.arch.nr_spis = 5;
    c
}

fn create(g: &mut Guest, dom: u16, c: &XenDomctlCreatedomain) -> (i32, u16) {
    let (r, op, _) = dctl(g, domctl::CREATEDOMAIN, dom, c);
    (r, op.domain)
}

/// Dom0 creates domain 2 (its vCPUs made by `max_vcpus`).
fn with_domain() -> (Guest, Guest) {
    let (mut d0, d1) = dom0();
    assert_eq!(create(&mut d0, 0, &config()), (0, 2));
    let m = XenDomctlMaxVcpus { max: 2 };
    assert_eq!(dctl(&mut d0, domctl::MAX_VCPUS, 2, &m).0, 0);
    (d0, d1)
}

#[test]
fn createdomain_picks_an_id_and_copies_back_the_config() {
    let (mut d0, _d1) = dom0();
    let (r, op, c) = dctl(&mut d0, domctl::CREATEDOMAIN, 0, &config());
    assert_eq!((r, op.domain), (0, 2), "the first free ID after the rover");
    // Xen fills in the native GIC (v2) and the timer's clock-frequency.
    assert_eq!(c.arch.gic_version, domctl::GIC_V2);
    assert_eq!(c.arch.clock_frequency, 0);
    assert_eq!(c.max_vcpus, 2, "the rest comes back as it went");
    let new = d0.m().created[0];
    assert_eq!(new.domid, Some(2), "the platform picked it");
    assert_eq!(new.max_vcpus, 2);
    assert_eq!(new.max_evtchn_port, 1023);
    assert_eq!(new.max_grant_frames, 64, "Xen's default for -1");
    assert_eq!(new.nr_spis, 32, "rounded up to a rank of 32");
    assert_eq!(new.handle, [7; 16]);
    // DOMID_INVALID picks too; a free ID asked for is taken as is and
    // does not move the rover; a taken one is -EEXIST.
    assert_eq!(create(&mut d0, domid::INVALID, &config()), (0, 3));
    assert_eq!(create(&mut d0, 9, &config()), (0, 9));
    assert_eq!(create(&mut d0, 0, &config()), (0, 4));
    assert_eq!(create(&mut d0, 1, &config()).0, Errno::EEXIST.ret());
    assert_eq!(create(&mut d0, 9, &config()).0, Errno::EEXIST.ret());
    assert_eq!(d0.m().created.len(), 4);
    // The rover wraps from the last ID below DOMID_FIRST_RESERVED to 1.
    d0.m().rover = 0x7fee;
    assert_eq!(create(&mut d0, 0x7ff0, &config()), (0, 0x7fef));
    assert_eq!(create(&mut d0, 0xffff, &config()), (0, 5), "1-4 are taken");
}

#[test]
fn createdomain_checks_the_config_as_xen() {
    type Edit = fn(&mut XenDomctlCreatedomain);
    let cases: &[(Edit, Errno)] = &[
        (|c| c.flags |= 1 << 8, Errno::EINVAL),
        (|c| c.flags = domctl::CDF_HVM, Errno::EINVAL),
        (|c| c.flags = domctl::CDF_HAP, Errno::EINVAL),
        (|c| c.flags |= domctl::CDF_IOMMU, Errno::EINVAL),
        (|c| c.flags |= domctl::CDF_VPMU, Errno::EINVAL),
        (|c| c.flags |= domctl::CDF_XS_DOMAIN, Errno::EINVAL),
        (|c| c.flags |= domctl::CDF_NESTED_VIRT, Errno::EINVAL),
        (|c| c.iommu_opts = domctl::IOMMU_NO_SHAREPT, Errno::EINVAL),
        (|c| c.max_vcpus = 0, Errno::EINVAL),
        (|c| c.max_vcpus = 9, Errno::EINVAL),
        (|c| c.arch.gic_version = domctl::GIC_V3, Errno::EINVAL),
        (|c| c.arch.gic_version = 7, Errno::EINVAL),
        (|c| c.arch.tee_type = 1, Errno::EINVAL),
        (|c| c.arch.nr_spis = 961, Errno::EINVAL),
        (|c| c.arch.nr_spis = u32::MAX, Errno::EINVAL),
        (|c| c.grant_opts = 0, Errno::EINVAL),
        (|c| c.grant_opts = 2, Errno::EINVAL),
        (|c| c.grant_opts = 0x11, Errno::EINVAL),
        (|c| c.max_grant_frames = 0, Errno::EINVAL),
        (|c| c.max_grant_frames = 65, Errno::EINVAL),
        (|c| c.max_maptrack_frames = 1025, Errno::EINVAL),
        (|c| c.vmtrace_size = 4096, Errno::EINVAL),
        (|c| c.cpupool_id = 1, Errno::ESRCH),
        (|c| c.cpupool_id = u32::MAX, Errno::ESRCH),
    ];
    let (mut d0, _d1) = dom0();
    for (i, (edit, e)) in cases.iter().enumerate() {
        let mut c = config();
        edit(&mut c);
        assert_eq!(create(&mut d0, 0, &c).0, e.ret(), "case {i}");
    }
    assert!(d0.m().created.is_empty());
    // The limits themselves are fine.
    let mut c = config();
    c.max_vcpus = 8;
    c.arch.nr_spis = 960;
    c.arch.gic_version = domctl::GIC_V2;
    c.max_grant_frames = 1;
    c.max_maptrack_frames = 0;
    assert_eq!(create(&mut d0, 0, &c).0, 0);
    assert_eq!(d0.m().created[0].nr_spis, 960);
    assert_eq!(d0.m().created[0].max_grant_frames, 1);
}

#[test]
fn createdomain_reports_the_platforms_refusal() {
    let (mut d0, _d1) = dom0();
    d0.m().create_result = Some(PlatformError::NoMemory);
    assert_eq!(create(&mut d0, 0, &config()).0, Errno::ENOMEM.ret());
    d0.m().create_result = Some(PlatformError::Busy);
    assert_eq!(create(&mut d0, 5, &config()).0, Errno::EEXIST.ret());
    d0.m().create_result = None;
    assert!(d0.m().created.is_empty());
    // A read-only domctl (the last call's, asking for ID 5): the domain is
    // made, as in Xen, but the copy back fails.
    d0.m().s1_readonly.insert(ARG >> 12);
    assert_eq!(d0.call(hc::DOMCTL, [ARG, 0, 0, 0, 0]), Errno::EFAULT.ret());
    assert_eq!(d0.m().created[0].domid, Some(5));
}

#[test]
fn only_the_control_domain_builds_domains() {
    let (mut d0, mut d1) = with_domain();
    let cmds = [
        domctl::CREATEDOMAIN,
        domctl::DESTROYDOMAIN,
        domctl::PAUSEDOMAIN,
        domctl::UNPAUSEDOMAIN,
        domctl::SETVCPUAFFINITY,
        domctl::SETVCPUCONTEXT,
        domctl::MAX_VCPUS,
        domctl::SCHEDULER_OP,
        domctl::SET_ADDRESS_SIZE,
        domctl::SETNODEAFFINITY,
        domctl::CACHEFLUSH,
        domctl::GET_PAGING_MEMPOOL_SIZE,
        domctl::SET_PAGING_MEMPOOL_SIZE,
    ];
    d1.m().domains = d0.m().domains.clone();
    for cmd in cmds {
        let dom = if cmd == domctl::CREATEDOMAIN { 0 } else { 2 };
        let (r, _, _) = dctl(&mut d1, cmd, dom, &config());
        assert_eq!(r, Errno::EPERM.ret(), "cmd {cmd}");
        if cmd != domctl::CREATEDOMAIN {
            let (r, _, _) = dctl(&mut d1, cmd, 77, &config());
            assert_eq!(r, Errno::ESRCH.ret(), "cmd {cmd} on no domain");
            let (r, _, _) = dctl(&mut d0, cmd, 77, &config());
            assert_eq!(r, Errno::ESRCH.ret(), "cmd {cmd} on no domain");
        }
    }
    // Version and copy come first.
    d0.put(
        ARG,
        &XenDomctl {
            cmd: domctl::CREATEDOMAIN,
            interface_version: domctl::INTERFACE_VERSION - 1,
            ..Default::default()
        },
    );
    assert_eq!(d0.call(hc::DOMCTL, [ARG, 0, 0, 0, 0]), Errno::EACCES.ret());
    assert_eq!(
        d0.call(hc::DOMCTL, [HYP_GVA, 0, 0, 0, 0]),
        Errno::EFAULT.ret()
    );
    let m = d0.m();
    assert_eq!(m.created.len(), 1);
    assert!(m.pauses.is_empty() && m.destroyed.is_empty() && m.vcpu_starts.is_empty());
}

#[test]
fn pause_counts_as_xen_does() {
    let (mut d0, _d1) = with_domain();
    let p = |g: &mut Guest, cmd, d| dctl(g, cmd, d, &XenDomctlAddressSize::default()).0;
    // Created paused (count 1): the first unpause starts it.
    assert_eq!(p(&mut d0, domctl::UNPAUSEDOMAIN, 2), 0);
    assert_eq!(p(&mut d0, domctl::UNPAUSEDOMAIN, 2), Errno::EINVAL.ret());
    assert_eq!(p(&mut d0, domctl::PAUSEDOMAIN, 2), 0);
    assert_eq!(p(&mut d0, domctl::PAUSEDOMAIN, 2), 0);
    assert_eq!(p(&mut d0, domctl::UNPAUSEDOMAIN, 2), 0);
    assert_eq!(d0.m().pauses, [(2, false), (2, true)], "0<->1 only");
    assert_eq!(p(&mut d0, domctl::UNPAUSEDOMAIN, 2), 0);
    assert_eq!(d0.m().pauses.last(), Some(&(2, false)));
    for _ in 0..255 {
        assert_eq!(p(&mut d0, domctl::PAUSEDOMAIN, 2), 0);
    }
    assert_eq!(p(&mut d0, domctl::PAUSEDOMAIN, 2), Errno::EOVERFLOW.ret());
    // Itself: pausing -EINVAL, unpausing at count 0 -EINVAL.
    assert_eq!(p(&mut d0, domctl::PAUSEDOMAIN, 0), Errno::EINVAL.ret());
    assert_eq!(p(&mut d0, domctl::UNPAUSEDOMAIN, 0), Errno::EINVAL.ret());
    // A boot-time domain the platform does not pause: count unchanged.
    assert_eq!(p(&mut d0, domctl::PAUSEDOMAIN, 1), Errno::ENOSYS.ret());
    assert_eq!(p(&mut d0, domctl::UNPAUSEDOMAIN, 1), Errno::EINVAL.ret());
}

#[test]
fn destroydomain_ends_a_created_domain() {
    let (mut d0, _d1) = with_domain();
    let z = XenDomctlAddressSize::default();
    assert_eq!(
        dctl(&mut d0, domctl::DESTROYDOMAIN, 0, &z).0,
        Errno::EINVAL.ret()
    );
    assert_eq!(
        dctl(&mut d0, domctl::DESTROYDOMAIN, 1, &z).0,
        Errno::ENOSYS.ret()
    );
    events_ready(&mut d0);
    let b = EvtchnBindVirq {
        virq: virq::DOM_EXC,
        vcpu: 0,
        port: 0,
    };
    let (r, b) = op(&mut d0, hc::EVENT_CHANNEL_OP, evtchnop::BIND_VIRQ, &b);
    assert_eq!(r, 0);
    assert!(!pending(&mut d0, b.port));
    assert_eq!(dctl(&mut d0, domctl::DESTROYDOMAIN, 2, &z).0, 0);
    assert_eq!(d0.m().destroyed, [2]);
    assert!(pending(&mut d0, b.port), "VIRQ_DOM_EXC for xenstored");
    assert_eq!(
        dctl(&mut d0, domctl::DESTROYDOMAIN, 2, &z).0,
        Errno::ESRCH.ret()
    );
    // Its ID is free again, but the rover has moved on.
    assert_eq!(create(&mut d0, 0, &config()), (0, 3));
    assert_eq!(create(&mut d0, 2, &config()), (0, 2));
}

/// A context as libxc's `vcpu_arm32` makes it: r1 = ~0, r2 = the DTB,
/// `PSR_GUEST32_INIT`, `SCTLR_GUEST_INIT`, online.
fn context() -> VcpuGuestContext {
    let mut g = VcpuGuestContext {
        flags: domctl::VGCF_ONLINE,
        sctlr: 0x00c5_0078,
        ..Default::default()
    };
    g.user_regs.x[1] = 0xffff_ffff;
    g.user_regs.x[2] = 0x4800_0000;
    g.user_regs.pc = 0x4000_8000;
    g.user_regs.cpsr = 0x4000_01d3;
    g
}

fn set_context(g: &mut Guest, dom: u16, vcpu: u32, ctxt: u64) -> i32 {
    let v = XenDomctlVcpucontext { vcpu, pad: 0, ctxt };
    dctl(g, domctl::SETVCPUCONTEXT, dom, &v).0
}

#[test]
fn setvcpucontext_starts_a_vcpu() {
    let (mut d0, _d1) = dom0();
    assert_eq!(create(&mut d0, 0, &config()), (0, 2));
    d0.put(BUF, &context());
    let at = u64::from(BUF);
    // Before max_vcpus there is no vCPU; max_vcpus must repeat the count.
    assert_eq!(set_context(&mut d0, 2, 0, at), Errno::EINVAL.ret());
    for bad in [1, 3] {
        let m = XenDomctlMaxVcpus { max: bad };
        assert_eq!(
            dctl(&mut d0, domctl::MAX_VCPUS, 2, &m).0,
            Errno::EINVAL.ret()
        );
    }
    let m = XenDomctlMaxVcpus { max: 2 };
    assert_eq!(
        dctl(&mut d0, domctl::MAX_VCPUS, 0, &m).0,
        Errno::EINVAL.ret()
    );
    assert_eq!(dctl(&mut d0, domctl::MAX_VCPUS, 2, &m).0, 0);
    assert_eq!(set_context(&mut d0, 2, 1, at), 0);
    let (dom, vcpu, s) = d0.m().vcpu_starts[0];
    assert_eq!((dom, vcpu), (2, 1));
    assert_eq!(
        s,
        VcpuStart {
            r: [0, 0xffff_ffff, 0x4800_0000, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            pc: 0x4000_8000,
            cpsr: 0x4000_01d3,
            sctlr: 0x00c5_0078,
            online: true,
            ..VcpuStart::default()
        }
    );
    // NULL: the vCPU is reset (down).
    assert_eq!(set_context(&mut d0, 2, 0, 0), 0);
    assert_eq!(d0.m().vcpu_starts[1], (2, 0, VcpuStart::default()));
    // vCPU out of range, itself, bad handles.
    assert_eq!(set_context(&mut d0, 2, 2, at), Errno::EINVAL.ret());
    assert_eq!(set_context(&mut d0, 0, 0, at), Errno::EINVAL.ret());
    assert_eq!(
        set_context(&mut d0, 2, 0, 1 << 32 | at),
        Errno::EFAULT.ret()
    );
    assert_eq!(
        set_context(&mut d0, 2, 0, u64::from(HYP_GVA)),
        Errno::EFAULT.ret()
    );
    assert_eq!(set_context(&mut d0, 2, 0, 0xffff_ff00), Errno::EFAULT.ret());
    // Modes: hyp and monitor are not a guest's; a zero SPSR is fine.
    for (cpsr, spsr_fiq, want) in [
        (0x1a, 0, Errno::EINVAL.ret()),
        (0x16, 0, Errno::EINVAL.ret()),
        (0x13, 0x1a, Errno::EINVAL.ret()),
        (0x1f, 0x11, 0),
        (0x10, 0, 0),
    ] {
        let mut g = context();
        g.user_regs.cpsr = cpsr;
        g.user_regs.spsr_fiq = spsr_fiq;
        d0.put(BUF, &g);
        assert_eq!(set_context(&mut d0, 2, 0, at), want, "cpsr {cpsr:#x}");
    }
    assert_eq!(d0.m().vcpu_starts.len(), 4);
}

fn sched(
    g: &mut Guest,
    dom: u16,
    sched_id: u32,
    cmd: u32,
    weight: u16,
    cap: u16,
) -> (i32, XenDomctlSchedulerOp) {
    let s = XenDomctlSchedulerOp {
        sched_id,
        cmd,
        weight,
        cap,
        ..Default::default()
    };
    let (r, _, s) = dctl(g, domctl::SCHEDULER_OP, dom, &s);
    (r, s)
}

#[test]
fn credit_weight_and_cap_are_kept() {
    let (mut d0, _d1) = with_domain();
    let credit = domctl::SCHEDULER_CREDIT;
    let (r, s) = sched(&mut d0, 2, credit, domctl::SCHEDOP_GETINFO, 0, 0);
    assert_eq!((r, s.weight, s.cap), (0, 256, 0));
    assert_eq!(
        sched(&mut d0, 2, credit, domctl::SCHEDOP_PUTINFO, 512, 0xffff).0,
        0
    );
    let (_, s) = sched(&mut d0, 2, credit, domctl::SCHEDOP_GETINFO, 0, 0);
    assert_eq!((s.weight, s.cap), (512, 0), "cap ~0: unchanged");
    assert_eq!(
        sched(&mut d0, 2, credit, domctl::SCHEDOP_PUTINFO, 0, 50).0,
        0
    );
    let (_, s) = sched(&mut d0, 2, credit, domctl::SCHEDOP_GETINFO, 0, 0);
    assert_eq!((s.weight, s.cap), (512, 50), "weight 0: unchanged");
    // Another domain's are its own.
    let (_, s) = sched(&mut d0, 1, credit, domctl::SCHEDOP_GETINFO, 0, 0);
    assert_eq!((s.weight, s.cap), (256, 0));
    for (id, cmd) in [
        (6, domctl::SCHEDOP_GETINFO),
        (credit, domctl::SCHEDOP_GETVCPUINFO),
        (credit, domctl::SCHEDOP_PUTVCPUINFO),
        (credit, 4),
    ] {
        assert_eq!(sched(&mut d0, 2, id, cmd, 1, 1).0, Errno::EINVAL.ret());
    }
    let (_, s) = sched(&mut d0, 2, credit, domctl::SCHEDOP_GETINFO, 0, 0);
    assert_eq!((s.weight, s.cap), (512, 50));
}

#[test]
fn address_size_is_32_bits() {
    let (mut d0, _d1) = with_domain();
    let a = |size| XenDomctlAddressSize { size };
    assert_eq!(dctl(&mut d0, domctl::SET_ADDRESS_SIZE, 2, &a(32)).0, 0);
    assert_eq!(
        dctl(&mut d0, domctl::SET_ADDRESS_SIZE, 2, &a(64)).0,
        Errno::EINVAL.ret()
    );
    assert_eq!(
        dctl(&mut d0, domctl::GET_ADDRESS_SIZE, 2, &a(0)).0,
        Errno::ENOSYS.ret()
    );
}

fn bitmap(nr_bits: u32) -> XenctlBitmap {
    XenctlBitmap {
        bitmap: u64::from(BUF),
        nr_bits,
        pad: 0,
    }
}

#[test]
fn node_affinity_is_node_0() {
    let (mut d0, _d1) = with_domain();
    let set = |g: &mut Guest, byte: u8, map: XenctlBitmap| {
        g.put_bytes(BUF, &[byte, 0xff]);
        dctl(g, domctl::SETNODEAFFINITY, 2, &map).0
    };
    assert_eq!(set(&mut d0, 0x01, bitmap(8)), 0);
    assert_eq!(set(&mut d0, 0xff, bitmap(1)), 0);
    assert_eq!(set(&mut d0, 0x01, bitmap(64)), 0);
    assert_eq!(set(&mut d0, 0x02, bitmap(8)), Errno::EINVAL.ret());
    assert_eq!(set(&mut d0, 0x01, bitmap(0)), Errno::EINVAL.ret());
    let null = XenctlBitmap {
        bitmap: 0,
        ..bitmap(8)
    };
    assert_eq!(set(&mut d0, 0x01, null), Errno::EFAULT.ret());
    d0.put_bytes(BUF, &[0xaa; 4]);
    assert_eq!(dctl(&mut d0, domctl::GETNODEAFFINITY, 2, &bitmap(24)).0, 0);
    assert_eq!(d0.get_bytes(BUF, 4), [1, 0, 0, 0xaa]);
}

#[test]
fn vcpu_affinity_must_hold_the_pinned_cpu() {
    let (mut d0, _d1) = dom0();
    assert_eq!(create(&mut d0, 0, &config()), (0, 2));
    let hard = BUF;
    let soft = BUF + 8;
    let aff = |vcpu, flags| XenDomctlVcpuaffinity {
        vcpu,
        flags,
        cpumap_hard: XenctlBitmap {
            bitmap: u64::from(hard),
            nr_bits: 8,
            pad: 0,
        },
        cpumap_soft: XenctlBitmap {
            bitmap: u64::from(soft),
            nr_bits: 8,
            pad: 0,
        },
    };
    let set = |g: &mut Guest, a: XenDomctlVcpuaffinity, h: u8, s: u8| {
        g.put_bytes(hard, &[h]);
        g.put_bytes(soft, &[s]);
        let r = dctl(g, domctl::SETVCPUAFFINITY, 2, &a).0;
        (r, g.get_bytes(hard, 1)[0], g.get_bytes(soft, 1)[0])
    };
    let both = domctl::VCPUAFFINITY_HARD | domctl::VCPUAFFINITY_SOFT;
    // No vCPUs before max_vcpus.
    assert_eq!(set(&mut d0, aff(1, both), 3, 3).0, Errno::ESRCH.ret());
    let m = XenDomctlMaxVcpus { max: 2 };
    assert_eq!(dctl(&mut d0, domctl::MAX_VCPUS, 2, &m).0, 0);
    // vCPU 1 is on CPU 1 (the model's placement).
    assert_eq!(set(&mut d0, aff(1, both), 0xff, 0xff), (0, 0b10, 0b10));
    assert_eq!(
        set(&mut d0, aff(1, domctl::VCPUAFFINITY_SOFT), 0xee, 0b01),
        (0, 0xee, 0),
        "a soft affinity off the CPU is taken, none of it effective"
    );
    assert_eq!(
        set(&mut d0, aff(1, domctl::VCPUAFFINITY_HARD), 0b01, 0xee).0,
        Errno::EINVAL.ret()
    );
    assert_eq!(
        set(&mut d0, aff(0, domctl::VCPUAFFINITY_HARD), 0b01, 0).0,
        0
    );
    assert_eq!(set(&mut d0, aff(2, both), 3, 3).0, Errno::EINVAL.ret());
    assert_eq!(set(&mut d0, aff(0, 0), 3, 3).0, Errno::EINVAL.ret());
    let mut a = aff(0, both);
    a.cpumap_soft.bitmap = 0;
    assert_eq!(set(&mut d0, a, 3, 3).0, Errno::EINVAL.ret());
    a = aff(0, domctl::VCPUAFFINITY_HARD);
    a.cpumap_hard.bitmap = u64::from(HYP_GVA);
    assert_eq!(set(&mut d0, a, 3, 3).0, Errno::EFAULT.ret());
}

#[test]
fn cacheflush_checks_xens_limits() {
    let (mut d0, _d1) = with_domain();
    let f = |g: &mut Guest, start_pfn, nr_pfns| {
        let c = XenDomctlCacheflush { start_pfn, nr_pfns };
        dctl(g, domctl::CACHEFLUSH, 2, &c).0
    };
    assert_eq!(f(&mut d0, 0x40000, (1 << 18) + 1), Errno::EINVAL.ret());
    assert_eq!(f(&mut d0, 0xffff_fff0, 0x20), Errno::EINVAL.ret());
    assert_eq!(f(&mut d0, 0x40000, 1 << 18), 0);
    assert_eq!(f(&mut d0, 0x1_0004_0000, 16), 0, "a 32-bit gfn_t");
    assert_eq!(f(&mut d0, 0x40000, 0), 0);
    assert_eq!(f(&mut d0, 0x0fff_fff0, 0x100), 0);
    assert_eq!(f(&mut d0, 0x1000_0000, 0x100), 0);
    assert_eq!(
        d0.m().cache_flushes,
        [
            (2, 0x40000, 1 << 18),
            (2, 0x40000, 16),
            (2, 0x0fff_fff0, 0x10)
        ]
    );
}

#[test]
fn paging_mempool_is_kept() {
    let (mut d0, _d1) = with_domain();
    let size = |size| XenDomctlPagingMempool { size };
    let get = |g: &mut Guest, d| {
        let (r, _, p) = dctl(g, domctl::GET_PAGING_MEMPOOL_SIZE, d, &size(0));
        (r, p.size)
    };
    assert_eq!(get(&mut d0, 2), (0, 16 * 4096));
    assert_eq!(get(&mut d0, 0), (0, 16 * 4096));
    // Boot-time DomU 1: 64 MiB and 1 vCPU, Xen's domain_p2m_pages: 2 MiB.
    assert_eq!(get(&mut d0, 1), (0, 2 << 20));
    let set = |g: &mut Guest, d, s| dctl(g, domctl::SET_PAGING_MEMPOOL_SIZE, d, &size(s)).0;
    assert_eq!(set(&mut d0, 2, (1 << 20) + 1), Errno::EINVAL.ret());
    assert_eq!(set(&mut d0, 2, 1 << 50), Errno::EINVAL.ret());
    assert_eq!(set(&mut d0, 2, 5 << 20), 0);
    assert_eq!(get(&mut d0, 2), (0, 5 << 20));
}

/// `populate_physmap` of `gfns` (at `BUF`) in domain `dom`, extents of
/// `order`.
fn populate(g: &mut Guest, dom: u16, order: u32, gfns: &[u64]) -> i32 {
    for (i, &pfn) in gfns.iter().enumerate() {
        g.put(BUF + 8 * i as u32, &XenPfn { pfn });
    }
    let r = XenMemoryReservation {
        extent_start: u64::from(BUF),
        nr_extents: gfns.len() as u64,
        extent_order: order,
        domid: dom,
        ..Default::default()
    };
    op(g, hc::MEMORY_OP, xenmem::POPULATE_PHYSMAP, &r).0
}

#[test]
fn populate_physmap_fills_a_created_domain() {
    let (mut d0, mut d1) = with_domain();
    // libxc's 1 GiB try: nothing done, the platform asked and refusing.
    assert_eq!(populate(&mut d0, 2, 18, &[0x40000]), 0);
    assert_eq!(populate(&mut d0, 2, 19, &[0x40000]), 0);
    assert!(d0.m().populated.is_empty());
    let big: alloc::vec::Vec<u64> = (0..10).map(|i| 0x40000 + i * 512).collect();
    assert_eq!(populate(&mut d0, 2, 9, &big), 10);
    assert_eq!(d0.continuations, 2, "4 zeroed 2 MiB extents per call");
    assert_eq!(d0.m().populated.len(), 10);
    assert_eq!(d0.m().populated[9], (2, 0x41200, 9));
    // Misaligned, past the IPA space: stop there.
    assert_eq!(populate(&mut d0, 2, 9, &[0x50000, 0x50001, 0x50400]), 1);
    assert_eq!(populate(&mut d0, 2, 0, &[0x60000, GFN_LIMIT]), 1);
    // Out of memory part way: the count done.
    d0.m().populate_room = Some(2);
    assert_eq!(populate(&mut d0, 2, 0, &[0x70000, 0x70001, 0x70002]), 2);
    let n = d0.m().populated.len();
    assert_eq!(n, 10 + 1 + 1 + 2);
    // An unreadable list, populate on demand: nothing.
    d0.m().populate_room = None;
    let r = XenMemoryReservation {
        extent_start: u64::from(HYP_GVA),
        nr_extents: 1,
        domid: 2,
        ..Default::default()
    };
    assert_eq!(
        op(&mut d0, hc::MEMORY_OP, xenmem::POPULATE_PHYSMAP, &r).0,
        0
    );
    let r = XenMemoryReservation {
        extent_start: u64::from(BUF),
        mem_flags: xenmem::MEMF_POPULATE_ON_DEMAND,
        ..r
    };
    assert_eq!(
        op(&mut d0, hc::MEMORY_OP, xenmem::POPULATE_PHYSMAP, &r).0,
        0
    );
    assert_eq!(d0.m().populated.len(), n);
    // A DomU may not populate another domain.
    d1.m().domains = d0.m().domains.clone();
    assert_eq!(populate(&mut d1, 2, 0, &[0x40000]), Errno::EPERM.ret());
    assert_eq!(d0.m().populated.len(), n);
}

fn param(g: &mut Guest, cmd: u32, domid: u16, index: u32, value: u64) -> (i32, u64) {
    let p = XenHvmParam {
        domid,
        pad: 0,
        index,
        value,
    };
    let (r, p) = op(g, hc::HVM_OP, cmd, &p);
    (r, p.value)
}

#[test]
fn hvm_params_of_a_created_domain() {
    let (mut d0, mut d1) = with_domain();
    let cb = 2 << 56 | 31;
    for (index, value) in [
        (hvmop::PARAM_CALLBACK_IRQ, cb),
        (hvmop::PARAM_STORE_PFN, 0x39001),
        (hvmop::PARAM_STORE_EVTCHN, 1),
        (hvmop::PARAM_CONSOLE_PFN, 0x39000),
        (hvmop::PARAM_CONSOLE_EVTCHN, 2),
        (hvmop::PARAM_MONITOR_RING_PFN, 0x39002),
    ] {
        assert_eq!(param(&mut d0, hvmop::SET_PARAM, 2, index, value).0, 0);
        assert_eq!(param(&mut d0, hvmop::GET_PARAM, 2, index, 0), (0, value));
    }
    assert_eq!(d0.m().hvm_sets.len(), 6);
    assert_eq!(d0.m().hvm_sets[0], (2, hvmop::PARAM_CALLBACK_IRQ, cb));
    for index in [3, 16, hvmop::NR_PARAMS, u32::MAX] {
        assert_eq!(
            param(&mut d0, hvmop::SET_PARAM, 2, index, 1).0,
            Errno::EINVAL.ret()
        );
        assert_eq!(
            param(&mut d0, hvmop::GET_PARAM, 2, index, 1).0,
            Errno::EINVAL.ret()
        );
    }
    // Not for a DomU; not for a domain that is gone.
    d1.m().domains = d0.m().domains.clone();
    let (r, _) = param(&mut d1, hvmop::SET_PARAM, 2, hvmop::PARAM_STORE_PFN, 5);
    assert_eq!(r, Errno::EPERM.ret());
    let z = XenDomctlAddressSize::default();
    assert_eq!(dctl(&mut d0, domctl::DESTROYDOMAIN, 2, &z).0, 0);
    let (r, _) = param(&mut d0, hvmop::SET_PARAM, 2, hvmop::PARAM_STORE_PFN, 5);
    assert_eq!(r, Errno::ESRCH.ret());
    assert_eq!(d0.m().hvm_sets.len(), 6);
}

#[test]
fn unbound_ports_of_a_created_domain() {
    let (mut d0, mut d1) = with_domain();
    let alloc = |g: &mut Guest, dom, remote_dom| {
        let a = EvtchnAllocUnbound {
            dom,
            remote_dom,
            port: 0,
        };
        let (r, a) = op(g, hc::EVENT_CHANNEL_OP, evtchnop::ALLOC_UNBOUND, &a);
        (r, a.port)
    };
    assert_eq!(alloc(&mut d0, 2, 0), (0, 1));
    assert_eq!(alloc(&mut d0, 2, domid::SELF), (0, 2));
    assert_eq!(alloc(&mut d0, 2, 1), (0, 3));
    assert_eq!(alloc(&mut d0, 2, domid::IO).0, Errno::EINVAL.ret());
    assert_eq!(d0.m().unbound, [(2, 0), (2, 0), (2, 1)]);
    // A boot-time DomU's ports stay its own; a DomU names no other domain.
    assert_eq!(alloc(&mut d0, 1, 0).0, Errno::EPERM.ret());
    d1.m().domains = d0.m().domains.clone();
    assert_eq!(alloc(&mut d1, 2, 1).0, Errno::EPERM.ret());
    assert_eq!(alloc(&mut d1, 0, 1).0, Errno::EPERM.ret());
    assert_eq!(d0.m().unbound.len(), 3);
}

#[test]
fn a_renewed_domain_takes_its_new_id_on_the_same_links() {
    let mut x = crate::Xen::new(crate::XenConfig::domu(5, 4)).unwrap();
    let links = x.evtchn_links();
    let port = x.alloc_unbound_for(0).unwrap();
    assert!(port > 0);
    let cfg = crate::XenConfig::domu(9, 1);
    x.renew(cfg, &mut |_| None).unwrap();
    assert_eq!(x.config().domid, 9);
    assert_eq!(
        links.domid(),
        9,
        "the links other domains hold name the new ID"
    );
    assert!(alloc::sync::Arc::ptr_eq(&links, &x.evtchn_links()));
    // Its last life's port is closed: the first free port is handed out again.
    assert_eq!(x.alloc_unbound_for(0).unwrap(), port);
    // A configuration Xen::new refuses changes nothing.
    let bad = crate::XenConfig::domu(10, 0);
    assert!(x.renew(bad, &mut |_| None).is_err());
    assert_eq!(x.config().domid, 9);
}

#[test]
fn a_created_domains_cpu_time_counts_from_its_creation() {
    use super::super::abi::runstate;
    let mut x = crate::Xen::new(crate::XenConfig::domu(3, 2)).unwrap();
    // Created 10 s after boot: nothing before that is its time.
    x.start_runstates(10_000_000_000);
    assert_eq!(x.vcpu_info(0).cpu_time_ns, 0);
    x.note_runstate(0, runstate::RUNNING, 10_500_000_000);
    x.note_runstate(0, runstate::BLOCKED, 10_800_000_000);
    assert_eq!(x.vcpu_info(0).cpu_time_ns, 300_000_000);
    assert_eq!(x.vcpu_info(1).cpu_time_ns, 0, "vCPU 1 never ran");
}
