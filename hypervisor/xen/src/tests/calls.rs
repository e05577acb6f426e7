//! Each hypercall with good and bad arguments.

use super::super::abi::layout::*;
use super::super::abi::{
    consoleio, domid, hc, hvmop, schedop, vcpuop, vmasst, xenmem, xenpf, xenver, Errno,
};
use super::super::console::WRITE_BUDGET;
use super::super::testing::*;
use super::super::{Outcome, PlatformError, ShutdownReason, XenConfig, INPUT_RING_SIZE};
use super::*;

#[test]
fn xen_version_build_id_as_xen_without_one() {
    let mut g = Guest::dom0();
    let build_id = |g: &mut Guest, arg| g.call(hc::XEN_VERSION, [xenver::BUILD_ID, arg, 0, 0, 0]);
    // NULL asks for the size: there is none.
    assert_eq!(build_id(&mut g, 0), Errno::ENODATA.ret());
    g.put_bytes(ARG, &64u32.to_le_bytes());
    assert_eq!(build_id(&mut g, ARG), Errno::ENODATA.ret());
    g.put_bytes(ARG, &0u32.to_le_bytes());
    assert_eq!(build_id(&mut g, ARG), Errno::EINVAL.ret(), "len 0");
    assert_eq!(build_id(&mut g, 0x1000), Errno::EFAULT.ret(), "unmapped");
    // A DomU: the dummy XSM policy's XSM_PRIV, before anything is read.
    let mut d = Guest::new(XenConfig::domu(1, 1));
    assert_eq!(build_id(&mut d, 0), Errno::EPERM.ret());
    assert_eq!(build_id(&mut d, 0x1000), Errno::EPERM.ret());
}

#[test]
fn xen_version_sub_ops() {
    let mut g = Guest::dom0();
    assert_eq!(
        g.call(hc::XEN_VERSION, [xenver::VERSION, 0, 0, 0, 0]),
        4 << 16 | 17
    );
    assert_eq!(
        g.call(hc::XEN_VERSION, [xenver::PAGESIZE, 0, 0, 0, 0]),
        4096
    );

    g.put_bytes(ARG, &[0xff; 1100]);
    assert_eq!(
        g.call(hc::XEN_VERSION, [xenver::EXTRAVERSION, ARG, 0, 0, 0]),
        0
    );
    assert_eq!(g.get_bytes(ARG, 17), b"-snowvisor\0\0\0\0\0\0\xff");
    assert_eq!(
        g.call(hc::XEN_VERSION, [xenver::CAPABILITIES, ARG, 0, 0, 0]),
        0
    );
    let caps = g.get_bytes(ARG, 1025);
    assert_eq!(&caps[..16], b"xen-3.0-armv7l \0");
    assert_eq!((caps[1023], caps[1024]), (0, 0xff));
    assert_eq!(
        g.call(hc::XEN_VERSION, [xenver::COMPILE_INFO, ARG, 0, 0, 0]),
        0
    );
    assert_eq!(&g.get_bytes(ARG, 6), b"rustc\0");
    assert_eq!(
        g.call(hc::XEN_VERSION, [xenver::CHANGESET, ARG, 0, 0, 0]),
        0
    );
    assert!(g.get_bytes(ARG, 64).starts_with(b"snowvisor "));
    assert_eq!(
        g.call(hc::XEN_VERSION, [xenver::PLATFORM_PARAMETERS, ARG, 0, 0, 0]),
        0
    );
    assert_eq!(
        g.call(hc::XEN_VERSION, [xenver::GUEST_HANDLE, ARG, 0, 0, 0]),
        0
    );
    g.put_bytes(ARG, &[0xff; 1100]);
    assert_eq!(
        g.call(hc::XEN_VERSION, [xenver::COMMANDLINE, ARG, 0, 0, 0]),
        0
    );
    // No command line: all 1024 bytes NUL, none beyond.
    let line = g.get_bytes(ARG, 1025);
    assert!(line[..1024].iter().all(|&b| b == 0));
    assert_eq!(line[1024], 0xff);
    // XENVER_build_id of an image without one (Xen 4.17's
    // `xen_build_id()`: -ENODATA), after the struct's checks (a 64-byte
    // buffer).
    g.put_bytes(ARG, &64u32.to_le_bytes());
    assert_eq!(
        g.call(hc::XEN_VERSION, [xenver::BUILD_ID, ARG, 0, 0, 0]),
        Errno::ENODATA.ret()
    );
    assert_eq!(
        g.call(hc::XEN_VERSION, [11, ARG, 0, 0, 0]),
        Errno::ENOSYS.ret()
    );

    let (r, f) = op(
        &mut g,
        hc::XEN_VERSION,
        xenver::GET_FEATURES,
        &XenFeatureInfo {
            submap_idx: 1,
            submap: 7,
        },
    );
    assert_eq!(
        (r, f.submap),
        (Errno::EINVAL.ret(), 7),
        "unchanged on error"
    );
    let (r, f) = op(
        &mut g,
        hc::XEN_VERSION,
        xenver::GET_FEATURES,
        &XenFeatureInfo {
            submap_idx: u32::MAX,
            submap: 7,
        },
    );
    assert_eq!((r, f.submap), (Errno::EINVAL.ret(), 7));
}

#[test]
fn vcpu_op_rules() {
    let mut g = Guest::new(XenConfig::dom0(2, true));
    let reg = vcpuop::REGISTER_VCPU_INFO;
    let info = |mfn, offset| VcpuRegisterVcpuInfo {
        mfn,
        offset,
        rsvd: 0,
    };
    let call = |g: &mut Guest, vcpu: u32, r: VcpuRegisterVcpuInfo| {
        g.put(ARG, &r);
        g.call(hc::VCPU_OP, [reg, vcpu, ARG, 0, 0])
    };
    let page = Guest::gfn(VI_PAGE);
    assert_eq!(call(&mut g, 2, info(page, 0)), Errno::ENOENT.ret());
    assert_eq!(call(&mut g, u32::MAX, info(page, 0)), Errno::ENOENT.ret());
    assert_eq!(
        call(&mut g, 0, info(page, 4)),
        Errno::ENXIO.ret(),
        "misaligned (Xen's map_vcpu_info: -ENXIO)"
    );
    assert_eq!(
        call(&mut g, 0, info(page, 4056)),
        Errno::ENXIO.ret(),
        "crosses the page"
    );
    assert_eq!(
        call(&mut g, 0, info(page, u32::MAX - 7)),
        Errno::ENXIO.ret()
    );
    assert_eq!(
        call(&mut g, 0, info(HYP_IPA >> 12, 0)),
        Errno::EINVAL.ret(),
        "hypervisor memory"
    );
    assert_eq!(
        call(&mut g, 0, info(0x1234, 0)),
        Errno::EINVAL.ret(),
        "not RAM"
    );
    assert_eq!(call(&mut g, 0, info(u64::MAX, 0)), Errno::EINVAL.ret());
    assert_eq!(
        add_to_physmap(&mut g, xenmem::SPACE_GRANT_TABLE, 0, GNTTAB_GFN),
        0
    );
    assert_eq!(
        call(&mut g, 0, info(GNTTAB_GFN, 0)),
        Errno::EINVAL.ret(),
        "a grant frame"
    );
    assert!(g.injected().is_empty());
    assert_eq!(
        call(&mut g, 0, info(page, 4048)),
        0,
        "last slot of the page"
    );
    assert_eq!(
        call(&mut g, 0, info(page, 0)),
        Errno::EINVAL.ret(),
        "a second registration: Xen 4.17 says -EINVAL"
    );
    assert_eq!(
        call(&mut g, 0, info(page, 4)),
        Errno::ENXIO.ret(),
        "the offset is checked before the registration"
    );
    assert_eq!(call(&mut g, 1, info(page, 0)), 0);
    assert_eq!(g.injected(), [0, 1]);
    g.put(ARG, &info(page, 0));
    assert_eq!(
        g.call(hc::VCPU_OP, [reg, 0, 0x1000, 0, 0]),
        Errno::EFAULT.ret(),
        "unmapped argument"
    );

    let run = vcpuop::REGISTER_RUNSTATE_MEMORY_AREA;
    g.put(ARG, &VcpuRegisterRunstateMemoryArea { addr: 0xdead_beef });
    assert_eq!(
        g.call(hc::VCPU_OP, [run, 1, ARG, 0, 0]),
        0,
        "Xen does not check the address"
    );
    assert_eq!(
        g.call(hc::VCPU_OP, [run, 2, ARG, 0, 0]),
        Errno::ENOENT.ret()
    );
    for other in [0, 1, 2, 4, 11, 12, 13, u32::MAX] {
        assert_eq!(
            g.call(hc::VCPU_OP, [other, 0, ARG, 0, 0]),
            Errno::EINVAL.ret()
        );
        assert_eq!(
            g.call(hc::VCPU_OP, [other, 2, ARG, 0, 0]),
            Errno::ENOENT.ret(),
            "Xen checks the vCPU before the command"
        );
    }
}

#[test]
fn vm_assist_and_hvm_params() {
    let mut g = Guest::dom0();
    assert_eq!(
        g.call(
            hc::VM_ASSIST,
            [
                vmasst::CMD_ENABLE,
                vmasst::TYPE_RUNSTATE_UPDATE_FLAG,
                0,
                0,
                0
            ]
        ),
        0
    );
    assert_eq!(g.xen.vm_assist_bits(), 1 << 5);
    assert_eq!(
        g.call(
            hc::VM_ASSIST,
            [
                vmasst::CMD_DISABLE,
                vmasst::TYPE_RUNSTATE_UPDATE_FLAG,
                0,
                0,
                0
            ]
        ),
        0
    );
    assert_eq!(g.xen.vm_assist_bits(), 0);
    assert_eq!(
        g.call(hc::VM_ASSIST, [vmasst::CMD_ENABLE, 0, 0, 0, 0]),
        Errno::EINVAL.ret()
    );
    assert_eq!(
        g.call(hc::VM_ASSIST, [vmasst::CMD_ENABLE, 64, 0, 0, 0]),
        Errno::EINVAL.ret()
    );
    assert_eq!(
        g.call(
            hc::VM_ASSIST,
            [7, vmasst::TYPE_RUNSTATE_UPDATE_FLAG, 0, 0, 0]
        ),
        Errno::ENOSYS.ret()
    );

    let p = |domid, index| XenHvmParam {
        domid,
        pad: 0,
        index,
        value: 0x55,
    };
    let (r, v) = op(
        &mut g,
        hc::HVM_OP,
        hvmop::GET_PARAM,
        &p(domid::SELF, hvmop::PARAM_CALLBACK_IRQ),
    );
    assert_eq!((r, v.value), (0, 2 << 56 | 2 << 8 | 31));
    for i in [
        hvmop::PARAM_STORE_EVTCHN,
        hvmop::PARAM_STORE_PFN,
        hvmop::PARAM_CONSOLE_PFN,
        hvmop::PARAM_CONSOLE_EVTCHN,
    ] {
        assert_eq!(
            op(&mut g, hc::HVM_OP, hvmop::GET_PARAM, &p(0, i)),
            (
                0,
                XenHvmParam {
                    value: 0,
                    ..p(0, i)
                }
            )
        );
    }
    // Xen 4.17's hvm_allow_get_param: the monitor ring is the toolstack's,
    // every other index (Xen-only, holes, out of range) is refused.
    let get = |g: &mut Guest, d, i| op(g, hc::HVM_OP, hvmop::GET_PARAM, &p(d, i));
    assert_eq!(
        get(&mut g, 0, hvmop::PARAM_MONITOR_RING_PFN).0,
        Errno::EPERM.ret()
    );
    for i in [3, 16, 38, 39, u32::MAX] {
        assert_eq!(get(&mut g, 0, i), (Errno::EINVAL.ret(), p(0, i)), "{i}");
    }
    // The domain before the index (rcu_lock_domain_by_any_id first).
    assert_eq!(get(&mut g, 9, 2).0, Errno::ESRCH.ret());
    assert_eq!(get(&mut g, 9, u32::MAX).0, Errno::ESRCH.ret());
    // A domain sets none of its own parameters (hvm_allow_set_param).
    let set = |g: &mut Guest, d, i| op(g, hc::HVM_OP, hvmop::SET_PARAM, &p(d, i)).0;
    assert_eq!(
        set(&mut g, 0, hvmop::PARAM_STORE_EVTCHN),
        Errno::EPERM.ret()
    );
    assert_eq!(
        set(&mut g, 0, hvmop::PARAM_CALLBACK_IRQ),
        Errno::EPERM.ret()
    );
    assert_eq!(set(&mut g, 0, 7), Errno::EINVAL.ret());
    assert_eq!(set(&mut g, 0, u32::MAX), Errno::EINVAL.ret());
    assert_eq!(set(&mut g, 9, 2), Errno::ESRCH.ret());
    assert_eq!(
        get(&mut g, domid::SELF, hvmop::PARAM_CALLBACK_IRQ).1.value,
        2 << 56 | 2 << 8 | 31,
        "unchanged"
    );
    assert_eq!(
        g.call(hc::HVM_OP, [hvmop::GET_PARAM, 0x1000, 0, 0, 0]),
        Errno::EFAULT.ret()
    );
    assert_eq!(g.call(hc::HVM_OP, [2, ARG, 0, 0, 0]), Errno::ENOSYS.ret());
}

#[test]
fn console_write_waits_for_room_and_loses_nothing() {
    let (mut d0, mut d1) = Guest::pair(1);
    let text: alloc::vec::Vec<u8> = (0..300u32).map(|i| b'a' + (i % 26) as u8).collect();
    let buf = Guest::kva(0x30, 0);
    for g in [&mut d0, &mut d1] {
        g.put_bytes(buf, &text);
        g.m().console_room = Some(100);
        let w = |n: u32, at: u32| [consoleio::WRITE, n, at, 0, 0];
        // What fits goes out; the rest is continued, not dropped.
        assert_eq!(
            g.call_once(hc::CONSOLE_IO, w(300, buf)),
            Outcome::Continue(w(200, buf + 100))
        );
        // No room: issued again as it was (the guest waits).
        assert_eq!(
            g.call_once(hc::CONSOLE_IO, w(200, buf + 100)),
            Outcome::Continue(w(200, buf + 100))
        );
        g.m().console_room = Some(1000);
        assert_eq!(
            g.call_once(hc::CONSOLE_IO, w(200, buf + 100)),
            Outcome::Return(0)
        );
        assert_eq!(g.m().console, text);
    }
}

#[test]
fn console_write_and_read() {
    let mut g = Guest::dom0();
    // A write across pages and longer than one hypercall's budget.
    let text: alloc::vec::Vec<u8> = (0..5000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let buf = Guest::kva(0x30, 4000);
    g.put_bytes(buf, &text);
    assert_eq!(
        g.call(hc::CONSOLE_IO, [consoleio::WRITE, 5000, buf, 0, 0]),
        0
    );
    assert_eq!(g.continuations, 5000 / WRITE_BUDGET);
    assert_eq!(g.m().console, text);
    assert_eq!(g.call(hc::CONSOLE_IO, [consoleio::WRITE, 0, 0, 0, 0]), 0);
    assert_eq!(
        g.call(hc::CONSOLE_IO, [consoleio::WRITE, 10, 0, 0, 0]),
        Errno::EFAULT.ret()
    );
    assert_eq!(
        g.call(hc::CONSOLE_IO, [consoleio::WRITE, 2, 0xffff_ffff, 0, 0]),
        Errno::EFAULT.ret()
    );
    assert_eq!(
        g.call(hc::CONSOLE_IO, [consoleio::WRITE, u32::MAX, buf, 0, 0]),
        Errno::EFAULT.ret()
    );
    assert_eq!(
        g.call(hc::CONSOLE_IO, [2, 1, buf, 0, 0]),
        Errno::ENOSYS.ret()
    );

    // Reads: nothing waiting, then partial reads, then a faulting buffer
    // that must not lose the bytes.
    assert_eq!(g.call(hc::CONSOLE_IO, [consoleio::READ, 100, buf, 0, 0]), 0);
    let input: alloc::vec::Vec<u8> = (0..INPUT_RING_SIZE + 10).map(|i| i as u8).collect();
    assert_eq!(
        g.xen.console_input(&mut g.mem, &mut g.plat, &input),
        INPUT_RING_SIZE
    );
    assert_eq!(g.xen.console_input_state(), (INPUT_RING_SIZE, 10));
    assert_eq!(
        g.call(hc::CONSOLE_IO, [consoleio::READ, 4, 0x1000, 0, 0]),
        Errno::EFAULT.ret()
    );
    assert_eq!(g.call(hc::CONSOLE_IO, [consoleio::READ, 4, buf, 0, 0]), 4);
    assert_eq!(g.get_bytes(buf, 4), [0, 1, 2, 3]);
    assert_eq!(
        g.call(hc::CONSOLE_IO, [consoleio::READ, u32::MAX, buf, 0, 0]),
        INPUT_RING_SIZE as i32 - 4
    );
    assert_eq!(g.get_bytes(buf, 2), [4, 5]);
    assert_eq!(g.call(hc::CONSOLE_IO, [consoleio::READ, 1, buf, 0, 0]), 0);
}

#[test]
fn shutdown_reason_display_is_its_debug() {
    for r in (0..8).chain([0x100, 0xff]) {
        let r = ShutdownReason::from_raw(r);
        assert_eq!(alloc::format!("{r}"), alloc::format!("{r:?}"));
    }
}

#[test]
fn sched_ops() {
    let mut g = Guest::dom0();
    assert_eq!(g.call(hc::SCHED_OP, [schedop::YIELD, 0, 0, 0, 0]), 0);
    assert_eq!(g.call(hc::SCHED_OP, [schedop::BLOCK, 0, 0, 0, 0]), 0);
    let yields = g.m().yields;
    let blocks = g.m().blocks;
    assert_eq!((yields, blocks), (1, 1));
    // With an upcall pending, block returns at once.
    events_ready(&mut g);
    g.m().poke(vi_ipa(0), &[1]);
    assert_eq!(g.call(hc::SCHED_OP, [schedop::BLOCK, 0, 0, 0, 0]), 0);
    assert_eq!(g.m().blocks, 1);

    for (reason, want) in [
        (schedop::SHUTDOWN_REBOOT, ShutdownReason::Reboot),
        (schedop::SHUTDOWN_CRASH, ShutdownReason::Crash),
        (schedop::SHUTDOWN_WATCHDOG, ShutdownReason::Watchdog),
        (schedop::SHUTDOWN_SOFT_RESET, ShutdownReason::SoftReset),
        (0x1ff, ShutdownReason::Other(0xff)),
        (0x100, ShutdownReason::PowerOff),
        (0x102, ShutdownReason::Suspend),
    ] {
        assert_eq!(
            op(
                &mut g,
                hc::SCHED_OP,
                schedop::SHUTDOWN,
                &SchedShutdown { reason }
            )
            .0,
            0
        );
        assert_eq!(g.m().shutdowns.pop(), Some(want));
    }
    g.m().shutdown_result = Some(PlatformError::NotSupported);
    let suspend = SchedShutdown {
        reason: schedop::SHUTDOWN_SUSPEND,
    };
    assert_eq!(
        op(&mut g, hc::SCHED_OP, schedop::SHUTDOWN, &suspend).0,
        Errno::ENOSYS.ret()
    );
    g.m().shutdown_result = Some(PlatformError::BadAddress);
    assert_eq!(
        op(&mut g, hc::SCHED_OP, schedop::SHUTDOWN, &suspend).0,
        Errno::EINVAL.ret()
    );
    assert_eq!(
        g.call(hc::SCHED_OP, [schedop::SHUTDOWN, 0x1000, 0, 0, 0]),
        Errno::EFAULT.ret()
    );
    assert_eq!(g.m().shutdowns.len(), 2);
    assert_eq!(g.call(hc::SCHED_OP, [3, 0, 0, 0, 0]), Errno::ENOSYS.ret());
}

/// Xen 4.17's `hwdom_shutdown`: only poweroff halts; every other reason,
/// suspend and unknown ones included, restarts the machine.
#[test]
fn hardware_domain_shutdown_follows_xen() {
    use crate::MachineAction::{Halt, Restart};
    for (raw, want) in [
        (schedop::SHUTDOWN_POWEROFF, Halt),
        (schedop::SHUTDOWN_REBOOT, Restart),
        (schedop::SHUTDOWN_SUSPEND, Restart),
        (schedop::SHUTDOWN_CRASH, Restart),
        (schedop::SHUTDOWN_WATCHDOG, Restart),
        (schedop::SHUTDOWN_SOFT_RESET, Restart),
        (6, Restart),
        (0xff, Restart),
        (0x100, Halt),
    ] {
        assert_eq!(
            ShutdownReason::from_raw(raw).hardware_domain_action(),
            want,
            "reason {raw:#x}"
        );
    }
}

#[test]
fn platform_op_settime() {
    let mut g = Guest::dom0();
    let mut p = XenPlatformOp {
        cmd: xenpf::SETTIME64,
        interface_version: xenpf::INTERFACE_VERSION,
        u: [0; 16],
    };
    p.u[0] = 1000;
    p.u[1] = 7;
    p.u[2] = 3_000_000_000;
    g.put(ARG, &p);
    assert_eq!(g.call(hc::PLATFORM_OP, [ARG, 0, 0, 0, 0]), 0);
    assert_eq!(g.xen.wallclock(), Some((1000, 7, 3_000_000_000)));
    // Before shared_info exists nothing is published; afterwards it is.
    assert_eq!(
        add_to_physmap(&mut g, xenmem::SPACE_SHARED_INFO, 0, Guest::gfn(SI_PAGE)),
        0
    );
    p.u[2] = 0;
    g.put(ARG, &p);
    assert_eq!(g.call(hc::PLATFORM_OP, [ARG, 0, 0, 0, 0]), 0);
    assert_eq!(g.m().peek_u32(si_ipa() + 1076), 1000);
    assert_eq!(g.m().peek_u32(si_ipa() + 1080), 7);
    assert_eq!(g.m().peek_u32(si_ipa() + 1072), 2);

    let mut t32 = XenPlatformOp {
        cmd: xenpf::SETTIME32,
        ..p
    };
    t32.u = [0; 16];
    t32.u[0] = 5 | 9 << 32;
    g.put(ARG, &t32);
    assert_eq!(g.call(hc::PLATFORM_OP, [ARG, 0, 0, 0, 0]), 0);
    assert_eq!(g.xen.wallclock(), Some((5, 9, 0)));

    p.u[1] = 7 | 1 << 32; // mbz
    g.put(ARG, &p);
    assert_eq!(
        g.call(hc::PLATFORM_OP, [ARG, 0, 0, 0, 0]),
        Errno::EINVAL.ret()
    );
    g.put(
        ARG,
        &XenPlatformOp {
            interface_version: 0x0300_0000,
            ..p
        },
    );
    assert_eq!(
        g.call(hc::PLATFORM_OP, [ARG, 0, 0, 0, 0]),
        Errno::EACCES.ret()
    );
    g.put(ARG, &XenPlatformOp { cmd: 50, ..p });
    assert_eq!(
        g.call(hc::PLATFORM_OP, [ARG, 0, 0, 0, 0]),
        Errno::ENOSYS.ret()
    );
    assert_eq!(
        g.call(hc::PLATFORM_OP, [0, 0, 0, 0, 0]),
        Errno::EFAULT.ret()
    );
}

#[test]
fn unknown_hypercalls_are_enosys() {
    let mut g = Guest::dom0();
    for nr in [0, 1, 6, 13, 16, 19, 33, 41, 42, 64, u32::MAX] {
        assert_eq!(
            g.call_once(nr, [ARG; 5]),
            Outcome::Return(Errno::ENOSYS.ret()),
            "hypercall {nr}"
        );
    }
}

#[test]
fn config_is_checked() {
    let ok = XenConfig::dom0(1, true);
    assert!(super::super::Xen::new(ok.clone()).is_ok());
    for bad in [
        XenConfig {
            nr_vcpus: 0,
            ..ok.clone()
        },
        XenConfig {
            nr_vcpus: 9,
            ..ok.clone()
        },
        XenConfig {
            domid: domid::SELF,
            ..ok.clone()
        },
        XenConfig {
            max_grant_frames: 0,
            ..ok.clone()
        },
        XenConfig {
            max_grant_frames: 1025,
            ..ok.clone()
        },
        XenConfig {
            max_grant_maps: 0,
            ..ok.clone()
        },
        XenConfig {
            max_evtchn_ports: 4097,
            ..ok.clone()
        },
        XenConfig {
            max_evtchn_ports: 1,
            ..ok.clone()
        },
        XenConfig {
            event_ppi: 15,
            ..ok.clone()
        },
        XenConfig {
            event_ppi: 32,
            ..ok.clone()
        },
    ] {
        let e = super::super::Xen::new(bad).unwrap_err();
        assert!(alloc::format!("{e}").starts_with("xen: "));
    }
}

/// The runstate area follows each vCPU's changes: time goes to the state
/// left, `state_entry_time` is the change's, and with the update flag on the
/// area ends without XEN_RUNSTATE_UPDATE.
#[test]
fn runstate_area_is_updated_per_vcpu() {
    use super::super::abi::runstate;
    let mut g = Guest::new(XenConfig::dom0(2, true));
    let area = Guest::kva(0x30, 0x40);
    g.put(ARG, &VcpuRegisterRunstateMemoryArea { addr: area.into() });
    assert_eq!(
        g.call(
            hc::VCPU_OP,
            [vcpuop::REGISTER_RUNSTATE_MEMORY_AREA, 1, ARG, 0, 0]
        ),
        0
    );
    g.call(
        hc::VM_ASSIST,
        [
            vmasst::CMD_ENABLE,
            vmasst::TYPE_RUNSTATE_UPDATE_FLAG,
            0,
            0,
            0,
        ],
    );
    g.xen.set_runstate(&mut g.mem, 1, runstate::BLOCKED, 100);
    g.xen.set_runstate(&mut g.mem, 1, runstate::RUNNING, 350);
    g.xen.set_runstate(&mut g.mem, 1, runstate::OFFLINE, 1000);
    let r: VcpuRunstateInfo = g.get(area);
    assert_eq!(r.state, runstate::OFFLINE as i32);
    assert_eq!(r.state_entry_time, 1000, "no XEN_RUNSTATE_UPDATE left");
    assert_eq!(r.time, [100 + 650, 0, 250, 0]);
    // vCPU 0 has no area: its changes are counted, nothing is written.
    g.xen.set_runstate(&mut g.mem, 0, runstate::BLOCKED, 10);
    let r: VcpuRunstateInfo = g.get(area);
    assert_eq!(r.state_entry_time, 1000);
}

/// `XENVER_commandline`: Dom0 reads the hypervisor's command line in
/// `xen_commandline_t` (`char[1024]`, NUL-padded, cut to 1023 bytes and a
/// NUL); a DomU reads `"<denied>"` and nothing more is written.
#[test]
fn xen_version_commandline() {
    let mut g = Guest::new(XenConfig {
        commandline: "loglvl=info dom0_mem=512M",
        ..XenConfig::dom0(1, true)
    });
    g.put_bytes(ARG, &[0xff; 1100]);
    assert_eq!(
        g.call(hc::XEN_VERSION, [xenver::COMMANDLINE, ARG, 0, 0, 0]),
        0
    );
    let line = g.get_bytes(ARG, 1025);
    assert_eq!(&line[..26], b"loglvl=info dom0_mem=512M\0");
    assert!(line[26..1024].iter().all(|&b| b == 0));
    assert_eq!(line[1024], 0xff);

    // A line longer than the buffer: 1023 bytes and the NUL.
    let long: &'static str = Box::leak("x".repeat(2000).into_boxed_str());
    let mut g = Guest::new(XenConfig {
        commandline: long,
        ..XenConfig::dom0(1, true)
    });
    g.put_bytes(ARG, &[0xff; 1100]);
    assert_eq!(
        g.call(hc::XEN_VERSION, [xenver::COMMANDLINE, ARG, 0, 0, 0]),
        0
    );
    let line = g.get_bytes(ARG, 1025);
    assert!(line[..1023].iter().all(|&b| b == b'x'));
    assert_eq!((line[1023], line[1024]), (0, 0xff));

    // A DomU: denied, as under Xen's dummy XSM policy.
    let (_, mut u) = Guest::pair(1);
    u.put_bytes(ARG, &[0xff; 16]);
    assert_eq!(
        u.call(hc::XEN_VERSION, [xenver::COMMANDLINE, ARG, 0, 0, 0]),
        0
    );
    assert_eq!(u.get_bytes(ARG, 10), b"<denied>\0\xff");
}
