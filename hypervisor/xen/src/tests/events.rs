//! 2-level event delivery through the hypercalls (`xen-dom0-abi.md` §4.2).

use super::super::abi::layout::*;
use super::super::abi::{domid, evtchnop, hc, virq, Errno};
use super::super::testing::*;
use super::super::{ChannelState, XenConfig};
use super::*;

fn ev<T: super::super::abi::wire::Wire>(g: &mut Guest, cmd: u32, v: &T) -> (i32, T) {
    op(g, hc::EVENT_CHANNEL_OP, cmd, v)
}

fn send(g: &mut Guest, port: u32) -> i32 {
    ev(g, evtchnop::SEND, &EvtchnPort { port }).0
}

fn unmask(g: &mut Guest, port: u32) -> i32 {
    ev(g, evtchnop::UNMASK, &EvtchnPort { port }).0
}

fn close(g: &mut Guest, port: u32) -> i32 {
    ev(g, evtchnop::CLOSE, &EvtchnPort { port }).0
}

fn loopback(g: &mut Guest) -> (u32, u32) {
    let (r, a) = ev(
        g,
        evtchnop::ALLOC_UNBOUND,
        &EvtchnAllocUnbound {
            dom: domid::SELF,
            remote_dom: 0,
            port: 0,
        },
    );
    assert_eq!(r, 0);
    let b = EvtchnBindInterdomain {
        remote_dom: domid::SELF,
        pad: [0; 2],
        remote_port: a.port,
        local_port: 0,
    };
    let (r, b) = ev(g, evtchnop::BIND_INTERDOMAIN, &b);
    assert_eq!(r, 0);
    (a.port, b.local_port)
}

#[test]
fn raise_sets_bits_and_injects_on_zero_to_one_only() {
    let mut g = Guest::dom0();
    events_ready(&mut g);
    let (a, b) = loopback(&mut g);
    // Binding raises the new local port (Xen: an event may predate the bind).
    assert!(pending(&mut g, b));
    assert_eq!(g.injected(), [0]);
    assert!(upcall(&mut g, 0));
    assert_eq!(pending_sel(&mut g, 0), 1);
    // Another event while the upcall is pending: bits set, no second injection.
    assert_eq!(send(&mut g, b), 0);
    assert!(pending(&mut g, a));
    assert!(g.injected().is_empty());
    // Already pending: nothing at all.
    consume_upcall(&mut g, 0);
    assert_eq!(send(&mut g, b), 0);
    assert!(!upcall(&mut g, 0) && g.injected().is_empty());
}

#[test]
fn masked_port_waits_for_unmask() {
    let mut g = Guest::dom0();
    events_ready(&mut g);
    let (r, ipi) = ev(
        &mut g,
        evtchnop::BIND_IPI,
        &EvtchnBindIpi { vcpu: 0, port: 0 },
    );
    assert_eq!(r, 0);
    set_mask(&mut g, ipi.port, true);
    assert_eq!(send(&mut g, ipi.port), 0);
    assert!(pending(&mut g, ipi.port));
    assert!(!upcall(&mut g, 0) && pending_sel(&mut g, 0) == 0 && g.injected().is_empty());
    assert_eq!(unmask(&mut g, ipi.port), 0);
    assert!(upcall(&mut g, 0));
    assert_eq!(g.injected(), [0]);
    // Unmasking an unmasked port does nothing more.
    consume_upcall(&mut g, 0);
    assert_eq!(unmask(&mut g, ipi.port), 0);
    assert!(g.injected().is_empty());
    assert_eq!(unmask(&mut g, 4095), Errno::EINVAL.ret());
    assert_eq!(unmask(&mut g, u32::MAX), Errno::EINVAL.ret());
}

#[test]
fn port_above_64_uses_its_selector_word() {
    let mut g = Guest::dom0();
    events_ready(&mut g);
    let mut last = 0;
    for _ in 0..70 {
        let (r, x) = ev(
            &mut g,
            evtchnop::BIND_IPI,
            &EvtchnBindIpi { vcpu: 0, port: 0 },
        );
        assert_eq!(r, 0);
        last = x.port;
    }
    assert_eq!(last, 70);
    assert_eq!(send(&mut g, last), 0);
    assert_eq!(pending_sel(&mut g, 0), 1 << 1);
    assert!(pending(&mut g, 70));
}

#[test]
fn close_clears_pending_and_double_close_fails() {
    let mut g = Guest::dom0();
    events_ready(&mut g);
    let (a, b) = loopback(&mut g);
    assert!(pending(&mut g, b));
    assert_eq!(close(&mut g, b), 0);
    assert!(!pending(&mut g, b));
    assert_eq!(close(&mut g, b), Errno::EINVAL.ret());
    let (r, s) = ev(
        &mut g,
        evtchnop::STATUS,
        &EvtchnStatus {
            dom: domid::SELF,
            port: a,
            ..Default::default()
        },
    );
    assert_eq!((r, s.status, s.u[0]), (0, evtchnop::STAT_UNBOUND, 0));
    assert_eq!(g.xen.channel(b).map(|c| c.state), Some(ChannelState::Free));
    assert_eq!(close(&mut g, 0), Errno::EINVAL.ret());
}

#[test]
fn bind_vcpu_moves_delivery() {
    let mut g = Guest::new(XenConfig::dom0(2, true));
    events_ready(&mut g);
    let (a, b) = loopback(&mut g);
    consume_upcall(&mut g, 0);
    g.m().poke_u32(si_ipa() + 48, 0);
    g.injected();
    assert_eq!(
        ev(
            &mut g,
            evtchnop::BIND_VCPU,
            &EvtchnBindVcpu { port: a, vcpu: 1 }
        )
        .0,
        0
    );
    assert_eq!(send(&mut g, b), 0);
    assert_eq!(g.injected(), [1]);
    assert!(upcall(&mut g, 1) && !upcall(&mut g, 0));
    assert_eq!(
        ev(
            &mut g,
            evtchnop::BIND_VCPU,
            &EvtchnBindVcpu { port: a, vcpu: 2 }
        )
        .0,
        Errno::ENOENT.ret()
    );
    assert_eq!(
        ev(
            &mut g,
            evtchnop::BIND_VCPU,
            &EvtchnBindVcpu { port: 999, vcpu: 0 }
        )
        .0,
        Errno::EINVAL.ret()
    );
}

#[test]
fn events_before_shared_info_are_dropped_safely() {
    let mut g = Guest::dom0();
    let (r, ipi) = ev(
        &mut g,
        evtchnop::BIND_IPI,
        &EvtchnBindIpi { vcpu: 0, port: 0 },
    );
    assert_eq!(r, 0);
    assert_eq!(send(&mut g, ipi.port), 0);
    assert_eq!(unmask(&mut g, ipi.port), 0);
    assert!(g.injected().is_empty());
    assert!(!g.xen.upcall_pending(&mut g.mem, 0));
}

#[test]
fn vcpu0_uses_the_legacy_vcpu_info_until_it_registers() {
    let mut g = Guest::dom0();
    assert_eq!(
        add_to_physmap(
            &mut g,
            super::super::abi::xenmem::SPACE_SHARED_INFO,
            0,
            Guest::gfn(SI_PAGE)
        ),
        0
    );
    let (_, ipi) = ev(
        &mut g,
        evtchnop::BIND_IPI,
        &EvtchnBindIpi { vcpu: 0, port: 0 },
    );
    assert_eq!(send(&mut g, ipi.port), 0);
    assert_eq!(g.injected(), [0]);
    let mut b = [0u8];
    g.m().peek(si_ipa(), &mut b);
    assert_eq!(b[0], 1, "shared_info.vcpu_info[0].evtchn_upcall_pending");
    // Registration copies the legacy state and marks everything pending.
    g.m().poke(si_ipa() + 16, &[0xab; 32]); // legacy vcpu_time_info
    g.put(
        ARG,
        &VcpuRegisterVcpuInfo {
            mfn: Guest::gfn(VI_PAGE),
            offset: 0,
            rsvd: 0,
        },
    );
    let reg = super::super::abi::vcpuop::REGISTER_VCPU_INFO;
    assert_eq!(g.call(hc::VCPU_OP, [reg, 0, ARG, 0, 0]), 0);
    assert_eq!(g.injected(), [0]);
    assert!(upcall(&mut g, 0));
    assert_eq!(pending_sel(&mut g, 0), u64::MAX);
    let mut t = [0u8; 32];
    g.m().peek(vi_ipa(0) + 16, &mut t);
    assert_eq!(t, [0xab; 32]);
    // From now on events go to the new area only.
    consume_upcall(&mut g, 0);
    g.m().poke(si_ipa(), &[0]);
    g.m().poke_u32(si_ipa() + 48, 0);
    assert_eq!(send(&mut g, ipi.port), 0);
    assert!(upcall(&mut g, 0));
    let mut b = [0u8];
    g.m().peek(si_ipa(), &mut b);
    assert_eq!(b[0], 0);
    assert_eq!(
        g.call(hc::VCPU_OP, [reg, 0, ARG, 0, 0]),
        Errno::EINVAL.ret()
    );
}

#[test]
fn console_input_raises_virq_console() {
    let mut g = Guest::dom0();
    events_ready(&mut g);
    let (mem, plat) = (&mut g.mem, &mut g.plat);
    // Not bound yet: buffered, no event.
    assert_eq!(g.xen.console_input(mem, plat, b"a"), 1);
    assert!(g.injected().is_empty());
    let (r, b) = ev(
        &mut g,
        evtchnop::BIND_VIRQ,
        &EvtchnBindVirq {
            virq: virq::CONSOLE,
            vcpu: 0,
            port: 0,
        },
    );
    assert_eq!(r, 0);
    let (mem, plat) = (&mut g.mem, &mut g.plat);
    assert_eq!(g.xen.console_input(mem, plat, b"b"), 1);
    assert!(pending(&mut g, b.port));
    assert_eq!(g.injected(), [0]);
    let (r, _) = ev(
        &mut g,
        evtchnop::BIND_VIRQ,
        &EvtchnBindVirq {
            virq: virq::CONSOLE,
            vcpu: 0,
            port: 0,
        },
    );
    assert_eq!(r, Errno::EEXIST.ret());
    let buf = Guest::kva(0x30, 0);
    assert_eq!(
        g.call(
            hc::CONSOLE_IO,
            [super::super::abi::consoleio::READ, 10, buf, 0, 0]
        ),
        2
    );
    assert_eq!(g.get_bytes(buf, 2), b"ab");
}

#[test]
fn dump_lists_ports() {
    let mut g = Guest::dom0();
    events_ready(&mut g);
    loopback(&mut g);
    let mut s = alloc::string::String::new();
    g.xen.dump(&mut g.mem, &mut s).unwrap();
    assert!(s.contains("xen: port 1 Interdomain"), "{s}");
    assert!(
        s.contains("xen: port 2 Interdomain { remote_dom: 0, remote_port: 1 } vCPU 0 P-"),
        "{s}"
    );
    assert!(s.contains("xen: grant table 1/64 frames"), "{s}");
}

#[test]
fn a_domain_change_raises_virq_dom_exc_where_dom0_bound_it() {
    let mut g = Guest::dom0();
    events_ready(&mut g);
    let links = g.xen.evtchn_links();
    // Not bound: the VIRQ is taken and dropped, nothing raised.
    assert!(links.post_virq(virq::DOM_EXC));
    let (mem, plat) = (&mut g.mem, &mut g.plat);
    g.xen.drain_inbox(mem, plat);
    assert!(g.injected().is_empty());
    let (r, b) = ev(
        &mut g,
        evtchnop::BIND_VIRQ,
        &EvtchnBindVirq {
            virq: virq::DOM_EXC,
            vcpu: 0,
            port: 0,
        },
    );
    assert_eq!(r, 0);
    // Two changes before Dom0 drains: one kick asked for, one event.
    assert!(links.post_virq(virq::DOM_EXC));
    assert!(!links.post_virq(virq::DOM_EXC));
    assert!(g.xen.inbox_posted());
    let (mem, plat) = (&mut g.mem, &mut g.plat);
    g.xen.drain_inbox(mem, plat);
    assert!(pending(&mut g, b.port));
    assert_eq!(g.injected(), [0]);
    assert!(!links.post_virq(32), "only VIRQs below 32");
}
