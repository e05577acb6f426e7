//! An unprivileged domain (a dom0less DomU) next to Dom0: what it may do,
//! the errors Xen 4.17 gives it for the rest, inter-domain and static event
//! channels, and Dom0's list of domains.

use super::super::abi::layout::*;
use super::super::abi::{
    domctl, domid, dominf, evtchnop, gntmap, gntst, gnttabop, hc, hvmop, schedop, sysctl, xenfeat,
    xenmem, xenver, Errno,
};
use super::super::testing::*;
use super::super::{ChannelState, XenConfig};
use super::*;

fn ev<T: super::super::abi::wire::Wire>(g: &mut Guest, cmd: u32, v: &T) -> (i32, T) {
    op(g, hc::EVENT_CHANNEL_OP, cmd, v)
}

fn features(g: &mut Guest) -> u32 {
    let (r, f) = op(
        g,
        hc::XEN_VERSION,
        xenver::GET_FEATURES,
        &XenFeatureInfo::default(),
    );
    assert_eq!(r, 0);
    f.submap
}

fn sysctl_op(cmd: u32) -> XenSysctl {
    XenSysctl {
        cmd,
        interface_version: sysctl::INTERFACE_VERSION,
        u: [0; 16],
    }
}

fn domctl_op(cmd: u32, domain: u16) -> XenDomctl {
    XenDomctl {
        cmd,
        interface_version: domctl::INTERFACE_VERSION,
        domain,
        ..Default::default()
    }
}

fn call1<T: super::super::abi::wire::Wire>(g: &mut Guest, nr: u32, v: &T) -> i32 {
    g.put(ARG, v);
    g.call(nr, [ARG, 0, 0, 0, 0])
}

#[test]
fn a_domu_is_not_dom0() {
    let c = XenConfig::domu(3, 2);
    assert_eq!(
        (c.domid, c.nr_vcpus, c.max_evtchn_ports, c.max_grant_frames),
        (3, 2, 1024, 64)
    );
    assert_eq!((c.event_ppi, c.direct_mapped), (31, false));
    let (mut d0, mut d1) = Guest::pair(1);
    let f0 = features(&mut d0);
    let f1 = features(&mut d1);
    // Xen 4.17's `XENVER_get_features` for an ARM guest (common/kernel.c):
    // the same bits but `dom0`, and `not_direct_mapped` for a DomU.
    let every = 1 << xenfeat::WRITABLE_PAGE_TABLES
        | 1 << xenfeat::AUTO_TRANSLATED_PHYSMAP
        | 1 << xenfeat::MEMORY_OP_VNODE_SUPPORTED
        | 1 << xenfeat::ARM_SMCCC_SUPPORTED;
    assert_eq!(f0, every | 1 << xenfeat::DOM0 | 1 << xenfeat::DIRECT_MAPPED);
    assert_eq!(
        f1,
        every | 1 << xenfeat::NOT_DIRECT_MAPPED,
        "no XENFEAT_dom0"
    );
    assert_eq!(f1, 0x0001_6005);
    let q = GnttabQuerySize {
        dom: domid::SELF,
        ..Default::default()
    };
    let (r, q) = gnttab(&mut d1, gnttabop::QUERY_SIZE, &[q]);
    assert_eq!((r, q[0].status, q[0].max_nr_frames), (0, gntst::OKAY, 64));
    assert_eq!(
        d1.xen.hvm_param(hvmop::PARAM_CALLBACK_IRQ) & 0xff,
        31,
        "GUEST_EVTCHN_PPI"
    );
}

#[test]
fn privileged_hypercalls_are_refused_as_xen_does() {
    let (mut d0, mut d1) = Guest::pair(1);
    // sysctl: copy, version, then -EPERM.
    assert_eq!(
        d1.call(hc::SYSCTL, [0, 0, 0, 0, 0]),
        Errno::EFAULT.ret(),
        "copied first"
    );
    let bad = XenSysctl {
        interface_version: 0x14,
        ..sysctl_op(sysctl::READCONSOLE)
    };
    assert_eq!(call1(&mut d1, hc::SYSCTL, &bad), Errno::EACCES.ret());
    for cmd in [
        sysctl::READCONSOLE,
        sysctl::GETDOMAININFOLIST,
        sysctl::SNOWVISOR_EXIT_STATS,
        sysctl::SNOWVISOR_DOMAIN_NAME,
        99,
    ] {
        assert_eq!(
            call1(&mut d1, hc::SYSCTL, &sysctl_op(cmd)),
            Errno::EPERM.ret(),
            "sysctl {cmd}"
        );
    }
    // platform_op: copy, version, then -EPERM.
    let p = XenPlatformOp {
        cmd: 62,
        interface_version: 0x0300_0001,
        u: [0; 16],
    };
    assert_eq!(call1(&mut d1, hc::PLATFORM_OP, &p), Errno::EPERM.ret());
    let old = XenPlatformOp {
        interface_version: 0x0300_0000,
        ..p
    };
    assert_eq!(call1(&mut d1, hc::PLATFORM_OP, &old), Errno::EACCES.ret());
    assert!(d1.xen.wallclock().is_none(), "nothing was set");
    // domctl: version, the domain, then -EPERM.
    let wrong = XenDomctl {
        interface_version: 0x14,
        ..domctl_op(domctl::GETDOMAININFO, 0)
    };
    assert_eq!(call1(&mut d1, hc::DOMCTL, &wrong), Errno::EACCES.ret());
    for (cmd, dom, e) in [
        (domctl::GETDOMAININFO, 0, Errno::EPERM),
        (domctl::GETDOMAININFO, 1, Errno::EPERM),
        (domctl::GETDOMAININFO, 2, Errno::ESRCH),
        (domctl::GETDOMAININFO, domid::SELF, Errno::EINVAL),
        (domctl::CREATEDOMAIN, 9, Errno::EPERM),
        (domctl::ASSIGN_DEVICE, domid::IO, Errno::EPERM),
        (domctl::ASSIGN_DEVICE, domid::INVALID, Errno::ESRCH),
        (domctl::TEST_ASSIGN_DEVICE, domid::INVALID, Errno::EPERM),
        (2, 0, Errno::EPERM),
        (2, 1, Errno::EPERM),
        (2, 7, Errno::ESRCH),
        (2, domid::SELF, Errno::ESRCH),
    ] {
        assert_eq!(
            call1(&mut d1, hc::DOMCTL, &domctl_op(cmd, dom)),
            e.ret(),
            "domctl {cmd} on d{dom}"
        );
    }
    // Dom0 passes the policy; building domains is not implemented.
    assert_eq!(
        call1(&mut d0, hc::DOMCTL, &domctl_op(2, 1)),
        Errno::ENOSYS.ret()
    );
    // physdev_op: -ENOSYS for every domain on ARM (no PCI in Xen 4.17).
    for g in [&mut d0, &mut d1] {
        assert_eq!(
            g.call(hc::PHYSDEV_OP, [0, ARG, 0, 0, 0]),
            Errno::ENOSYS.ret()
        );
    }
}

#[test]
fn dom0_lists_domains() {
    let (mut d0, mut d1) = Guest::pair(2);
    {
        let mut m = d0.m();
        m.domains[1].running = false;
        m.domains[1].blocked = true;
        m.domains[1].cpu_time_ns = 5_000_000;
        m.domains[1].nr_spis = 1;
        m.domains[1].tot_pages = 32768;
    }
    let buf = Guest::kva(0x30, 0);
    let list = |first, max| XenSysctlGetdomaininfolist {
        first_domain: first,
        max_domains: max,
        buffer: u64::from(buf),
        ..Default::default()
    };
    let put = |g: &mut Guest, l: XenSysctlGetdomaininfolist| {
        let mut s = sysctl_op(sysctl::GETDOMAININFOLIST);
        let mut b = [0u8; 128];
        super::super::abi::wire::Wire::encode(&l, &mut b).unwrap();
        for (i, w) in s.u.iter_mut().enumerate() {
            *w = u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap());
        }
        let r = call1(g, hc::SYSCTL, &s);
        let out: XenSysctlGetdomaininfolist = g.get(ARG + 8);
        (r, out.num_domains)
    };
    assert_eq!(put(&mut d0, list(0, 10)), (0, 2));
    let e0: XenDomctlGetdomaininfo = d0.get(buf);
    let e1: XenDomctlGetdomaininfo = d0.get(buf + 120);
    assert_eq!((e0.domain, e0.max_vcpu_id, e0.nr_online_vcpus), (0, 1, 2));
    assert_eq!(e0.flags, dominf::RUNNING | dominf::HVM_GUEST | dominf::HAP);
    assert_eq!(
        (e1.domain, e1.tot_pages, e1.cpu_time),
        (1, 32768, 5_000_000)
    );
    assert_eq!(e1.flags, dominf::BLOCKED | dominf::HVM_GUEST | dominf::HAP);
    assert_eq!((e1.arch_config.gic_version, e1.arch_config.nr_spis), (1, 1));
    assert_eq!(put(&mut d0, list(1, 10)), (0, 1));
    assert_eq!(d0.get::<XenDomctlGetdomaininfo>(buf).domain, 1);
    assert_eq!(put(&mut d0, list(0, 1)), (0, 1));
    assert_eq!(put(&mut d0, list(2, 10)), (0, 0));
    // A shut-down domain carries its reason.
    d0.m().domains[1].shutdown = Some(0);
    put(&mut d0, list(1, 1));
    let e1: XenDomctlGetdomaininfo = d0.get(buf);
    assert_ne!(e1.flags & dominf::SHUTDOWN, 0);
    // An unwritable buffer.
    d0.m().s1_holes.insert(buf >> 12);
    assert_eq!(put(&mut d0, list(0, 10)).0, Errno::EFAULT.ret());
    assert_eq!(put(&mut d1, list(0, 10)).0, Errno::EPERM.ret());

    // Names, snowvisor's own sysctl.
    let mut s = sysctl_op(sysctl::SNOWVISOR_DOMAIN_NAME);
    s.u[0] = 1;
    assert_eq!(call1(&mut d0, hc::SYSCTL, &s), 0);
    let n: XenSysctlSnowvisorDomainName = d0.get(ARG + 8);
    assert_eq!(&n.name[..6], b"domU1\0");
    s.u[0] = 5;
    assert_eq!(call1(&mut d0, hc::SYSCTL, &s), Errno::ESRCH.ret());

    // domctl getdomaininfo: the first domain at or above the id.
    assert_eq!(
        call1(&mut d0, hc::DOMCTL, &domctl_op(domctl::GETDOMAININFO, 1)),
        0
    );
    let echoed: XenDomctl = d0.get(ARG);
    let info: XenDomctlGetdomaininfo = d0.get(ARG + 16);
    assert_eq!(
        (echoed.domain, info.domain, info.nr_online_vcpus),
        (1, 1, 2)
    );
    assert_eq!(
        call1(&mut d0, hc::DOMCTL, &domctl_op(domctl::GETDOMAININFO, 2)),
        Errno::ESRCH.ret()
    );
}

#[test]
fn memory_of_other_domains() {
    let (mut d0, mut d1) = Guest::pair(1);
    let res =
        |g: &mut Guest, cmd, dom| op(g, hc::MEMORY_OP, cmd, &XenMemoryDomain { domid: dom }).0;
    assert_eq!(res(&mut d1, xenmem::CURRENT_RESERVATION, domid::SELF), 256);
    assert_eq!(
        res(&mut d1, xenmem::CURRENT_RESERVATION, 0),
        Errno::EPERM.ret()
    );
    assert_eq!(
        res(&mut d1, xenmem::MAXIMUM_RESERVATION, 7),
        Errno::ESRCH.ret()
    );
    assert_eq!(
        res(&mut d0, xenmem::CURRENT_RESERVATION, 1),
        16384,
        "Dom0 may read"
    );
    d0.m().domains[1].max_pages = 20000;
    assert_eq!(res(&mut d0, xenmem::MAXIMUM_RESERVATION, 1), 20000);

    let mut r = one_extent(&mut d1, Guest::gfn(5));
    r.domid = 0;
    assert_eq!(
        op(&mut d1, hc::MEMORY_OP, xenmem::DECREASE_RESERVATION, &r).0,
        Errno::EPERM.ret()
    );
    r.domid = 9;
    assert_eq!(
        op(&mut d1, hc::MEMORY_OP, xenmem::POPULATE_PHYSMAP, &r).0,
        Errno::ESRCH.ret()
    );
    assert!(d1.m().released.is_empty());

    let x = XenAddToPhysmap {
        domid: 0,
        size: 0,
        space: xenmem::SPACE_SHARED_INFO,
        idx: 0,
        gpfn: Guest::gfn(3),
    };
    assert_eq!(
        op(&mut d1, hc::MEMORY_OP, xenmem::ADD_TO_PHYSMAP, &x).0,
        Errno::EPERM.ret()
    );
    let foreign = XenAddToPhysmap {
        domid: domid::SELF,
        space: xenmem::SPACE_GMFN_FOREIGN,
        ..x
    };
    assert_eq!(
        op(&mut d1, hc::MEMORY_OP, xenmem::ADD_TO_PHYSMAP, &foreign).0,
        Errno::ENOSYS.ret(),
        "foreign maps only through the batch"
    );
    let mmio = XenAddToPhysmap {
        domid: domid::SELF,
        space: xenmem::SPACE_DEV_MMIO,
        ..x
    };
    assert_eq!(
        op(&mut d1, hc::MEMORY_OP, xenmem::ADD_TO_PHYSMAP, &mmio).0,
        Errno::EACCES.ret()
    );

    // The batch: one error per page.
    let errs = Guest::kva(0x12, 0);
    let batch = |foreign_domid, space| XenAddToPhysmapBatch {
        domid: domid::SELF,
        space,
        size: 3,
        foreign_domid,
        idxs: u64::from(Guest::kva(0x13, 0)),
        gpfns: u64::from(Guest::kva(0x14, 0)),
        errs: u64::from(errs),
    };
    let sp = xenmem::SPACE_GMFN_FOREIGN as u16;
    for (dom0, od, e) in [
        (false, 0, Errno::EPERM),
        (false, 1, Errno::ESRCH),
        (false, 8, Errno::ESRCH),
        // Dom0 may map the DomU's pages, but frame 0 is none of them.
        (true, 1, Errno::EINVAL),
    ] {
        let g = if dom0 { &mut d0 } else { &mut d1 };
        g.put_bytes(errs, &[0; 12]);
        assert_eq!(
            op(
                g,
                hc::MEMORY_OP,
                xenmem::ADD_TO_PHYSMAP_BATCH,
                &batch(od, sp)
            )
            .0,
            0
        );
        for i in 0..3 {
            assert_eq!(g.get::<XenErr>(errs + 4 * i).err, e.ret(), "d{od} page {i}");
        }
    }
    assert_eq!(
        op(
            &mut d1,
            hc::MEMORY_OP,
            xenmem::ADD_TO_PHYSMAP_BATCH,
            &batch(0, 3)
        )
        .0,
        Errno::EOPNOTSUPP.ret(),
        "gmfn_range"
    );
    let other = XenAddToPhysmapBatch {
        domid: 0,
        ..batch(0, sp)
    };
    assert_eq!(
        op(&mut d1, hc::MEMORY_OP, xenmem::ADD_TO_PHYSMAP_BATCH, &other).0,
        Errno::EPERM.ret()
    );
}

#[test]
fn dom0s_parameters_grants_and_ports_are_refused() {
    let (_d0, mut d1) = Guest::pair(1);
    let p = |dom| XenHvmParam {
        domid: dom,
        index: hvmop::PARAM_STORE_EVTCHN,
        ..Default::default()
    };
    assert_eq!(
        op(&mut d1, hc::HVM_OP, hvmop::GET_PARAM, &p(0)).0,
        Errno::EPERM.ret()
    );
    assert_eq!(
        op(&mut d1, hc::HVM_OP, hvmop::GET_PARAM, &p(4)).0,
        Errno::ESRCH.ret()
    );
    assert_eq!(
        op(&mut d1, hc::HVM_OP, hvmop::GET_PARAM, &p(domid::SELF)).0,
        0
    );

    let q = |dom| GnttabQuerySize {
        dom,
        ..Default::default()
    };
    let (_, out) = gnttab(&mut d1, gnttabop::QUERY_SIZE, &[q(0)]);
    assert_eq!(out[0].status, gntst::PERMISSION_DENIED);
    let (_, out) = gnttab(&mut d1, gnttabop::QUERY_SIZE, &[q(6)]);
    assert_eq!(out[0].status, gntst::BAD_DOMAIN);
    let v = GnttabGetVersion {
        dom: 0,
        ..Default::default()
    };
    assert_eq!(
        gnttab(&mut d1, gnttabop::GET_VERSION, &[v]).0,
        Errno::EPERM.ret()
    );
    let map = |dom| GnttabMapGrantRef {
        host_addr: Guest::gfn(0x40) << 12,
        flags: gntmap::HOST_MAP,
        gref: 1,
        dom,
        ..Default::default()
    };
    let (r, out) = gnttab(&mut d1, gnttabop::MAP_GRANT_REF, &[map(0), map(6)]);
    assert_eq!(r, 0);
    assert_eq!(
        out[0].status,
        gntst::GENERAL_ERROR,
        "Dom0's ref is not granted to d1"
    );
    assert_eq!(out[1].status, gntst::BAD_DOMAIN);
    let copy = GnttabCopy {
        source: GnttabCopyPtr {
            u: 1,
            domid: 0,
            offset: 0,
            pad: [0; 4],
        },
        dest: GnttabCopyPtr {
            u: Guest::gfn(3),
            domid: domid::SELF,
            offset: 0,
            pad: [0; 4],
        },
        len: 8,
        flags: gntmap::COPY_SOURCE_GREF,
        ..Default::default()
    };
    let (_, out) = gnttab(&mut d1, gnttabop::COPY, &[copy]);
    assert_eq!(out[0].status, gntst::GENERAL_ERROR);
    let by_frame = GnttabCopy { flags: 0, ..copy };
    let (_, out) = gnttab(&mut d1, gnttabop::COPY, &[by_frame]);
    assert_eq!(
        out[0].status,
        gntst::PERMISSION_DENIED,
        "a frame only of DOMID_SELF"
    );
    let setup = |dom| GnttabSetupTable {
        dom,
        nr_frames: 1,
        ..Default::default()
    };
    let (r, out) = gnttab(&mut d1, gnttabop::SETUP_TABLE, &[setup(0)]);
    assert_eq!((r, out[0].status), (0, gntst::PERMISSION_DENIED));
    let (_, out) = gnttab(&mut d1, gnttabop::SETUP_TABLE, &[setup(5)]);
    assert_eq!(out[0].status, gntst::BAD_DOMAIN);

    // Another domain's resources and its shutdown.
    let res = |dom| XenMemAcquireResource {
        domid: dom,
        nr_frames: 1,
        ..Default::default()
    };
    for (dom, e) in [
        (0, Errno::EPERM),
        (1, Errno::EPERM),
        (domid::SELF, Errno::ESRCH),
        (7, Errno::ESRCH),
    ] {
        assert_eq!(
            op(&mut d1, hc::MEMORY_OP, xenmem::ACQUIRE_RESOURCE, &res(dom)).0,
            e.ret(),
            "acquire_resource d{dom}"
        );
    }
    let bad = XenMemAcquireResource { pad: 1, ..res(0) };
    assert_eq!(
        op(&mut d1, hc::MEMORY_OP, xenmem::ACQUIRE_RESOURCE, &bad).0,
        Errno::EINVAL.ret()
    );
    for (dom, e) in [
        (0, Errno::EPERM),
        (1, Errno::EPERM),
        (domid::SELF, Errno::ESRCH),
    ] {
        let s = SchedRemoteShutdown {
            domain_id: dom,
            reason: 0,
            ..Default::default()
        };
        assert_eq!(
            op(&mut d1, hc::SCHED_OP, schedop::REMOTE_SHUTDOWN, &s).0,
            e.ret(),
            "d{dom}"
        );
    }
    assert!(d1.m().shutdowns.is_empty());
    assert_eq!(
        d1.call(hc::SCHED_OP, [schedop::PIN_OVERRIDE, ARG, 0, 0, 0]),
        Errno::EPERM.ret()
    );
    for (nr, cmd) in [
        (hc::MEMORY_OP, xenmem::REMOVE_FROM_PHYSMAP),
        (hc::EVENT_CHANNEL_OP, evtchnop::RESET),
    ] {
        let of = |g: &mut Guest, dom| op(g, nr, cmd, &XenMemoryDomain { domid: dom }).0;
        assert_eq!(of(&mut d1, 0), Errno::EPERM.ret(), "{nr}/{cmd} of Dom0");
        assert_eq!(of(&mut d1, 9), Errno::ESRCH.ret());
        assert_eq!(
            of(&mut d1, domid::SELF),
            Errno::ENOSYS.ret(),
            "its own: not offered"
        );
    }

    let a = EvtchnAllocUnbound {
        dom: 0,
        remote_dom: 1,
        port: 0,
    };
    assert_eq!(
        ev(&mut d1, evtchnop::ALLOC_UNBOUND, &a).0,
        Errno::EPERM.ret()
    );
    let a = EvtchnAllocUnbound { dom: 3, ..a };
    assert_eq!(
        ev(&mut d1, evtchnop::ALLOC_UNBOUND, &a).0,
        Errno::ESRCH.ret()
    );
    let s = EvtchnStatus {
        dom: 0,
        port: 1,
        ..Default::default()
    };
    assert_eq!(ev(&mut d1, evtchnop::STATUS, &s).0, Errno::EPERM.ret());
    // Ports it does not have (Dom0's numbers mean nothing in its table).
    for cmd in [evtchnop::SEND, evtchnop::CLOSE, evtchnop::UNMASK] {
        assert_eq!(
            ev(&mut d1, cmd, &EvtchnPort { port: 5 }).0,
            Errno::EINVAL.ret(),
            "cmd {cmd}"
        );
    }
    let b = EvtchnBindInterdomain {
        remote_dom: 0,
        pad: [0; 2],
        remote_port: 1,
        local_port: 0,
    };
    assert_eq!(
        ev(&mut d1, evtchnop::BIND_INTERDOMAIN, &b).0,
        Errno::EINVAL.ret(),
        "Dom0's port 1 is not offered to it"
    );
}

#[test]
fn a_domus_console_is_printable_text() {
    let (_d0, mut d1) = Guest::pair(1);
    let text = b"hi\x1b[31m\tthere\x07\n";
    d1.put_bytes(ARG, text);
    assert_eq!(
        d1.call(hc::CONSOLE_IO, [0, text.len() as u32, ARG, 0, 0]),
        0
    );
    assert_eq!(d1.m().console, b"hi[31m\tthere\n");
    assert_eq!(
        d1.call(hc::CONSOLE_IO, [1, 16, ARG, 0, 0]),
        Errno::EPERM.ret(),
        "the console's input is Dom0's"
    );
}

/// Dom0 and a DomU with 2 vCPUs, events ready, and a channel between
/// them: the DomU offers port `p1`, Dom0 binds it as its port `p0`.
/// Returns (Dom0, DomU, p0, p1).
fn connected_pair() -> (Guest, Guest, u32, u32) {
    let (mut d0, mut d1) = Guest::pair(2);
    events_ready(&mut d0);
    events_ready(&mut d1);
    let (r, a) = ev(
        &mut d1,
        evtchnop::ALLOC_UNBOUND,
        &EvtchnAllocUnbound {
            dom: domid::SELF,
            remote_dom: 0,
            port: 0,
        },
    );
    assert_eq!(r, 0);
    let p1 = a.port;
    let b = EvtchnBindInterdomain {
        remote_dom: 1,
        pad: [0; 2],
        remote_port: p1,
        local_port: 0,
    };
    let (r, b) = ev(&mut d0, evtchnop::BIND_INTERDOMAIN, &b);
    assert_eq!(r, 0);
    let p0 = b.local_port;
    (d0, d1, p0, p1)
}

#[test]
fn interdomain_events_go_through_the_inbox() {
    let (mut d0, mut d1, p0, p1) = connected_pair();
    assert_eq!(
        d1.xen.channel(p1).map(|c| c.state),
        Some(ChannelState::Interdomain {
            remote_dom: 0,
            remote_port: p0
        })
    );
    // Bound to DomU's vCPU 1: Dom0 posts, kicks, DomU drains.
    let bv = EvtchnBindVcpu { port: p1, vcpu: 1 };
    assert_eq!(ev(&mut d1, evtchnop::BIND_VCPU, &bv).0, 0);
    d0.injected();
    assert_eq!(ev(&mut d0, evtchnop::SEND, &EvtchnPort { port: p0 }).0, 0);
    assert_eq!(d0.m().kicks, [1]);
    assert!(d0.injected().is_empty(), "nothing raised in Dom0");
    assert!(!pending(&mut d1, p1), "not before DomU drains");
    assert!(d1.xen.inbox_posted());
    let (mut mem, mut plat) = (TestMem(d1.model.clone()), TestPlat(d1.model.clone()));
    d1.xen.drain_inbox(&mut mem, &mut plat);
    assert!(pending(&mut d1, p1));
    assert_eq!(d1.injected(), [1]);
    assert!(!d1.xen.inbox_posted());
    // A second send before the drain: one kick, one event.
    assert_eq!(ev(&mut d0, evtchnop::SEND, &EvtchnPort { port: p0 }).0, 0);
    assert_eq!(ev(&mut d0, evtchnop::SEND, &EvtchnPort { port: p0 }).0, 0);
    assert_eq!(d0.m().kicks, [1, 1]);
    // And back.
    assert_eq!(ev(&mut d1, evtchnop::SEND, &EvtchnPort { port: p1 }).0, 0);
    assert_eq!(d1.m().kicks, [0]);
    let (mut mem, mut plat) = (TestMem(d0.model.clone()), TestPlat(d0.model.clone()));
    d0.xen.drain_inbox(&mut mem, &mut plat);
    assert!(pending(&mut d0, p0));
    // DomU closes: Dom0's end waits for it again.
    assert_eq!(ev(&mut d1, evtchnop::CLOSE, &EvtchnPort { port: p1 }).0, 0);
    let s = EvtchnStatus {
        dom: domid::SELF,
        port: p0,
        ..Default::default()
    };
    let (r, s) = ev(&mut d0, evtchnop::STATUS, &s);
    assert_eq!((r, s.status, s.u[0]), (0, evtchnop::STAT_UNBOUND, 1));
    assert_eq!(ev(&mut d0, evtchnop::SEND, &EvtchnPort { port: p0 }).0, 0);
    assert_eq!(d0.m().kicks, [1, 1], "dropped: unbound");
}

/// Dom0 notifies and closes its end at once (a tool that exits right
/// after, as snowctl and xenstore clients do): the DomU, draining later,
/// still gets the event, as Xen's send marks it pending at once.
#[test]
fn an_event_sent_then_closed_before_the_drain_is_delivered() {
    let (mut d0, mut d1, p0, p1) = connected_pair();
    assert_eq!(ev(&mut d0, evtchnop::SEND, &EvtchnPort { port: p0 }).0, 0);
    assert_eq!(ev(&mut d0, evtchnop::CLOSE, &EvtchnPort { port: p0 }).0, 0);
    assert!(d1.xen.inbox_posted());
    let (mut mem, mut plat) = (TestMem(d1.model.clone()), TestPlat(d1.model.clone()));
    d1.xen.drain_inbox(&mut mem, &mut plat);
    assert!(pending(&mut d1, p1), "delivered after the sender's close");
    assert_eq!(d1.injected(), [0]);
}

#[test]
fn static_channels_connect_at_boot() {
    let (mut d0, mut d1) = Guest::pair(1);
    d0.xen.static_unbound(10, 1).unwrap();
    assert_eq!(d0.xen.static_unbound(10, 1), Err(Errno::EEXIST));
    assert_eq!(d0.xen.static_unbound(4096, 1), Err(Errno::EINVAL));
    let l0 = d0.xen.evtchn_links();
    assert_eq!(
        d1.xen.static_bind(11, &l0, 9),
        Err(Errno::EINVAL),
        "no offer"
    );
    d1.xen.static_bind(11, &l0, 10).unwrap();
    assert_eq!(d1.xen.static_bind(12, &l0, 10), Err(Errno::EINVAL), "taken");
    assert_eq!(
        d0.xen.channel(10).map(|c| c.state),
        Some(ChannelState::Interdomain {
            remote_dom: 1,
            remote_port: 11
        })
    );
    // The guests use them without any setup call.
    events_ready(&mut d0);
    events_ready(&mut d1);
    assert_eq!(ev(&mut d1, evtchnop::SEND, &EvtchnPort { port: 11 }).0, 0);
    assert_eq!(d1.m().kicks, [0]);
    let (mut mem, mut plat) = (TestMem(d0.model.clone()), TestPlat(d0.model.clone()));
    d0.xen.drain_inbox(&mut mem, &mut plat);
    assert!(pending(&mut d0, 10));
}

#[test]
fn a_restarted_domain_closes_its_ports_and_binds_its_static_ends_again() {
    let (mut d0, mut d1) = Guest::pair(1);
    d0.xen.static_unbound(10, 1).unwrap();
    let l0 = d0.xen.evtchn_links();
    let l1 = d1.xen.evtchn_links();
    d1.xen.static_bind(11, &l0, 10).unwrap();
    events_ready(&mut d1);
    // An event from Dom0 not yet drained.
    assert!(l1.post(
        11,
        super::super::Link::Interdomain {
            remote_dom: 0,
            remote_port: 10
        }
    ));
    let mut peers = |d: u16| (d == 0).then(|| l0.clone());
    d1.xen.restart(&mut peers);
    // Dom0's end waits for the domain again; the DomU has no port, no event.
    assert_eq!(
        d0.xen.channel(10).map(|c| c.state),
        Some(ChannelState::Unbound { remote_dom: 1 })
    );
    assert_eq!(d1.xen.channel(11), None);
    assert!(!d1.xen.inbox_posted());
    assert!(
        alloc::sync::Arc::ptr_eq(&d1.xen.evtchn_links(), &l1),
        "the links others hold"
    );
    // Its static end binds again, as at boot.
    d1.xen.static_bind(11, &l0, 10).unwrap();
    assert_eq!(
        d0.xen.channel(10).map(|c| c.state),
        Some(ChannelState::Interdomain {
            remote_dom: 1,
            remote_port: 11
        })
    );
}

#[test]
fn dom0_alone_lists_itself_from_its_own_state() {
    let mut g = Guest::new(XenConfig::dom0(2, true));
    g.xen
        .note_runstate(0, super::super::abi::runstate::RUNNING, 1_000);
    g.xen
        .note_runstate(0, super::super::abi::runstate::BLOCKED, 4_000);
    g.xen
        .note_runstate(1, super::super::abi::runstate::OFFLINE, 0);
    let buf = Guest::kva(0x30, 0);
    let mut s = sysctl_op(sysctl::GETDOMAININFOLIST);
    s.u[0] = 8 << 32; // first_domain 0, max_domains 8
    s.u[1] = u64::from(buf);
    assert_eq!(call1(&mut g, hc::SYSCTL, &s), 0);
    let out: XenSysctlGetdomaininfolist = g.get(ARG + 8);
    assert_eq!(out.num_domains, 1);
    let e: XenDomctlGetdomaininfo = g.get(buf);
    assert_eq!(
        (e.domain, e.tot_pages, e.cpu_time),
        (0, 256, 4_000),
        "running from 0 to 4 us"
    );
    assert_eq!((e.nr_online_vcpus, e.max_vcpu_id), (1, 1));
    assert_eq!(e.flags, dominf::BLOCKED | dominf::HVM_GUEST | dominf::HAP);
    let mut s = sysctl_op(sysctl::SNOWVISOR_DOMAIN_NAME);
    s.u[0] = 0;
    assert_eq!(call1(&mut g, hc::SYSCTL, &s), 0);
    let n: XenSysctlSnowvisorDomainName = g.get(ARG + 8);
    assert_eq!(&n.name[..9], b"Domain-0\0");
}

/// A DomU's PV console ring while no backend bound its port: what it
/// wrote is dropped at each event (its `hvc_xen` would otherwise wait for
/// room for ever); once Dom0 binds the port, the ring is the backend's.
#[test]
fn pv_console_output_is_dropped_until_a_backend_binds_its_port() {
    use super::super::abi::xencons::{OUT_CONS_OFFSET, OUT_PROD_OFFSET};
    let (mut d0, mut d1) = Guest::pair(1);
    events_ready(&mut d0);
    events_ready(&mut d1);
    let (r, a) = ev(
        &mut d1,
        evtchnop::ALLOC_UNBOUND,
        &EvtchnAllocUnbound {
            dom: domid::SELF,
            remote_dom: 0,
            port: 0,
        },
    );
    assert_eq!(r, 0);
    let page = RAM_BASE + 0x3000;
    d1.xen.set_console(a.port, page >> 12);
    let ring = |g: &mut Guest| {
        let cons = g.m().peek_u32(page + OUT_CONS_OFFSET);
        let prod = g.m().peek_u32(page + OUT_PROD_OFFSET);
        (cons, prod)
    };
    let send = |g: &mut Guest, port| ev(g, evtchnop::SEND, &EvtchnPort { port }).0;
    // 2048 bytes written (a full ring), indexes wrapping: all dropped.
    d1.m().poke_u32(page + OUT_CONS_OFFSET, u32::MAX - 100);
    d1.m().poke_u32(page + OUT_PROD_OFFSET, 1947);
    assert_eq!(send(&mut d1, a.port), 0);
    assert_eq!(ring(&mut d1), (1947, 1947));
    // Another unbound port of its own: not the console, left alone.
    let (_, other) = ev(
        &mut d1,
        evtchnop::ALLOC_UNBOUND,
        &EvtchnAllocUnbound {
            dom: domid::SELF,
            remote_dom: 0,
            port: 0,
        },
    );
    d1.xen.set_console(a.port, page >> 12);
    d1.m().poke_u32(page + OUT_PROD_OFFSET, 2000);
    assert_eq!(send(&mut d1, other.port), 0);
    assert_eq!(ring(&mut d1), (1947, 2000));
    // Dom0 (xenconsoled) binds the port: the event goes to it, the ring
    // stays as written.
    let b = EvtchnBindInterdomain {
        remote_dom: 1,
        pad: [0; 2],
        remote_port: a.port,
        local_port: 0,
    };
    assert_eq!(ev(&mut d0, evtchnop::BIND_INTERDOMAIN, &b).0, 0);
    assert_eq!(send(&mut d1, a.port), 0);
    assert_eq!(ring(&mut d1), (1947, 2000));
    // A console page outside its memory: the event is sent, nothing read.
    let (mut _d0, mut d2) = Guest::pair(1);
    events_ready(&mut d2);
    let (_, c) = ev(
        &mut d2,
        evtchnop::ALLOC_UNBOUND,
        &EvtchnAllocUnbound {
            dom: domid::SELF,
            remote_dom: 0,
            port: 0,
        },
    );
    d2.xen.set_console(c.port, 0x39000);
    assert_eq!(send(&mut d2, c.port), 0);
    d2.xen.set_console(c.port, u64::MAX);
    assert_eq!(send(&mut d2, c.port), 0);
}
