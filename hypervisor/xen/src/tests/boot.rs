//! Replays the hypercalls of a Linux 6.1 arm32 dom0 boot, in the order of
//! `xen-dom0-abi.md` §3.1, with the results Linux needs, then console input
//! and poweroff.

use super::super::abi::layout::*;
use super::super::abi::{
    consoleio, domid, evtchnop, gntst, gnttabop, hc, hvmop, vcpuop, virq, vmasst, xenmem, xenpf,
};
use super::super::abi::{schedop, xenver, Errno};
use super::super::testing::*;
use super::super::{ShutdownReason, XenConfig};

const ARG: u32 = KVA_BASE + 0x10 * PAGE as u32; // a scratch struct in kernel memory
const SHARED_INFO_PAGE: usize = 0x20;
const VCPU_INFO_PAGE: usize = 0x21;
const RUNSTATE_PAGE: usize = 0x22;

fn printk(g: &mut Guest, text: &str) {
    let buf = Guest::kva(0x30, 0);
    g.put_bytes(buf, text.as_bytes());
    assert_eq!(
        g.call(
            hc::CONSOLE_IO,
            [consoleio::WRITE, text.len() as u32, buf, 0, 0]
        ),
        0
    );
}

fn query_size(g: &mut Guest) -> GnttabQuerySize {
    g.put(
        ARG,
        &GnttabQuerySize {
            dom: domid::SELF,
            ..Default::default()
        },
    );
    assert_eq!(
        g.call(hc::GRANT_TABLE_OP, [gnttabop::QUERY_SIZE, ARG, 1, 0, 0]),
        0
    );
    g.get(ARG)
}

/// What `evtchn_2l_handle_events` + `ack_dynirq` do for one upcall on cpu 0:
/// returns the ports it would handle.
fn linux_upcall(g: &mut Guest, vcpu_info: u64, shared_info: u64) -> alloc::vec::Vec<u32> {
    let mut m = g.m();
    let mut ports = alloc::vec::Vec::new();
    loop {
        m.poke(vcpu_info, &[0]); // evtchn_upcall_pending = 0
        let sel =
            u64::from(m.peek_u32(vcpu_info + 8)) | u64::from(m.peek_u32(vcpu_info + 12)) << 32;
        m.poke_u32(vcpu_info + 8, 0);
        m.poke_u32(vcpu_info + 12, 0);
        for w in (0..64).filter(|w| sel & (1 << w) != 0) {
            for half in 0..2u64 {
                let at = w * 8 + half * 4;
                let pending = m.peek_u32(shared_info + 48 + at);
                let mask = m.peek_u32(shared_info + 560 + at);
                for b in (0..32).filter(|b| pending & !mask & (1 << b) != 0) {
                    let port = (w * 64 + half * 32 + b) as u32;
                    ports.push(port);
                    // ack_dynirq -> clear_evtchn
                    let p = m.peek_u32(shared_info + 48 + at);
                    m.poke_u32(shared_info + 48 + at, p & !(1 << b));
                }
            }
        }
        let mut up = [0u8];
        m.peek(vcpu_info, &mut up);
        if up[0] == 0 {
            return ports;
        }
    }
}

#[test]
fn linux_dom0_boot_sequence() {
    let mut g = Guest::new(XenConfig::dom0(1, true));

    // #0 earlycon=xenboot, before Xen is even detected.
    printk(&mut g, "Booting Linux on physical CPU 0x0\n");

    // #1 xen_setup_features: XENVER_get_features, submap 0.
    g.put(
        ARG,
        &XenFeatureInfo {
            submap_idx: 0,
            submap: 0xdead,
        },
    );
    assert_eq!(
        g.call(hc::XEN_VERSION, [xenver::GET_FEATURES, ARG, 0, 0, 0]),
        0
    );
    let f: XenFeatureInfo = g.get(ARG);
    assert_eq!(
        f.submap, 0x0002_6805,
        "Xen 4.17's for an ARM hardware domain mapped 1:1: writable_page_tables, \
         auto_translated_physmap, dom0, memory_op_vnode_supported, ARM_SMCCC_supported, \
         direct_mapped"
    );

    // #3 the console replays the log.
    printk(&mut g, "Xen 4.17 support found\n");
    printk(&mut g, "printk: console [hvc0] enabled\n");

    // #4 xen_guest_init: shared_info into a zeroed kernel page.
    let si_gfn = Guest::gfn(SHARED_INFO_PAGE);
    g.put(
        ARG,
        &XenAddToPhysmap {
            domid: domid::SELF,
            size: 0,
            space: xenmem::SPACE_SHARED_INFO,
            idx: 0,
            gpfn: si_gfn,
        },
    );
    assert_eq!(
        g.call(hc::MEMORY_OP, [xenmem::ADD_TO_PHYSMAP, ARG, 0, 0, 0]),
        0
    );

    // #5-#7 grant table: query_size, set_version(1), query_size again.
    let q = query_size(&mut g);
    assert_eq!(
        (q.status, q.nr_frames, q.max_nr_frames),
        (gntst::OKAY, 1, 64)
    );
    g.put(ARG, &GnttabSetVersion { version: 1 });
    assert_eq!(
        g.call(hc::GRANT_TABLE_OP, [gnttabop::SET_VERSION, ARG, 1, 0, 0]),
        0
    );
    assert_eq!(g.get::<GnttabSetVersion>(ARG).version, 1);
    for _ in 0..3 {
        assert_eq!(query_size(&mut g).max_nr_frames, 64);
    }

    // #8 gnttab_map(0, 0): grant frame 0 at the DT region.
    g.put(
        ARG,
        &XenAddToPhysmap {
            domid: domid::SELF,
            size: 0,
            space: xenmem::SPACE_GRANT_TABLE,
            idx: 0,
            gpfn: GNTTAB_GFN,
        },
    );
    assert_eq!(
        g.call(hc::MEMORY_OP, [xenmem::ADD_TO_PHYSMAP, ARG, 0, 0, 0]),
        0
    );
    assert_eq!(
        g.m().peek_u32(GNTTAB_GFN << 12),
        0,
        "a zeroed, readable frame"
    );
    g.m().poke_u32((GNTTAB_GFN << 12) + 8 * 8, 0x1234); // Linux may write entries now

    // #9 the FIFO probe must fail so that Linux uses 2-level.
    g.put(
        ARG,
        &EvtchnInitControl {
            control_gfn: Guest::gfn(0x40),
            ..Default::default()
        },
    );
    assert_eq!(
        g.call(hc::EVENT_CHANNEL_OP, [evtchnop::INIT_CONTROL, ARG, 0, 0, 0]),
        Errno::ENOSYS.ret()
    );

    // #10 pvclock_gtod notifier: settime64 (result ignored, but 0 here).
    let mut op = XenPlatformOp {
        cmd: xenpf::SETTIME64,
        interface_version: xenpf::INTERFACE_VERSION,
        u: [0; 16],
    };
    op.u[0] = 1_764_000_000; // secs
    op.u[1] = 500; // nsecs, mbz
    op.u[2] = 2_000_000_000; // system_time: 2 s after boot
    g.put(ARG, &op);
    assert_eq!(g.call(hc::PLATFORM_OP, [ARG, 0, 0, 0, 0]), 0);
    assert_eq!(
        g.m().peek_u32((si_gfn << 12) + 1076),
        1_763_999_998,
        "wc_sec at system time 0"
    );
    assert_eq!(
        g.m().peek_u32((si_gfn << 12) + 1072) % 2,
        0,
        "wc_version even after update"
    );

    // #11 xen_starting_cpu(0): register_vcpu_info; a spurious upcall follows.
    let vi = (Guest::gfn(VCPU_INFO_PAGE) << 12) + 64;
    g.put(
        ARG,
        &VcpuRegisterVcpuInfo {
            mfn: Guest::gfn(VCPU_INFO_PAGE),
            offset: 64,
            rsvd: 0,
        },
    );
    assert_eq!(
        g.call(hc::VCPU_OP, [vcpuop::REGISTER_VCPU_INFO, 0, ARG, 0, 0]),
        0
    );
    assert_eq!(g.injected(), [0]);
    assert_eq!(
        linux_upcall(&mut g, vi, si_gfn << 12),
        [] as [u32; 0],
        "spurious: nothing pending"
    );

    // xen_init_IRQ masks every port itself.
    for w in 0..128 {
        g.m().poke_u32((si_gfn << 12) + 560 + w * 4, u32::MAX);
    }

    // #13 xenbus_init: STORE_EVTCHN is 0 (local xenstore).
    g.put(
        ARG,
        &XenHvmParam {
            domid: domid::SELF,
            pad: 0,
            index: hvmop::PARAM_STORE_EVTCHN,
            value: 99,
        },
    );
    assert_eq!(g.call(hc::HVM_OP, [hvmop::GET_PARAM, ARG, 0, 0, 0]), 0);
    assert_eq!(g.get::<XenHvmParam>(ARG).value, 0);

    // #14 xenstored_local_init: a port for xenstore.
    g.put(
        ARG,
        &EvtchnAllocUnbound {
            dom: domid::SELF,
            remote_dom: domid::SELF,
            port: 0,
        },
    );
    assert_eq!(
        g.call(
            hc::EVENT_CHANNEL_OP,
            [evtchnop::ALLOC_UNBOUND, ARG, 0, 0, 0]
        ),
        0
    );
    let xs_port = g.get::<EvtchnAllocUnbound>(ARG).port;
    assert_eq!(xs_port, 1);

    // #15 bind_evtchn_to_irqhandler: bind_vcpu, then unmask by hand.
    g.put(
        ARG,
        &EvtchnBindVcpu {
            port: xs_port,
            vcpu: 0,
        },
    );
    assert_eq!(
        g.call(hc::EVENT_CHANNEL_OP, [evtchnop::BIND_VCPU, ARG, 0, 0, 0]),
        0
    );
    let mask0 = g.m().peek_u32((si_gfn << 12) + 560);
    g.m()
        .poke_u32((si_gfn << 12) + 560, mask0 & !(1 << xs_port));

    // #16 xen_mm_init probes cache_flush with an all-zero op.
    g.put(ARG, &GnttabCacheFlush::default());
    assert_eq!(
        g.call(hc::GRANT_TABLE_OP, [gnttabop::CACHE_FLUSH, ARG, 1, 0, 0]),
        0
    );
    assert!(g.m().flushes.is_empty());

    // #19 xen_hvc_init: VIRQ_CONSOLE on vCPU 0, a fresh port.
    g.put(
        ARG,
        &EvtchnBindVirq {
            virq: virq::CONSOLE,
            vcpu: 0,
            port: 0,
        },
    );
    assert_eq!(
        g.call(hc::EVENT_CHANNEL_OP, [evtchnop::BIND_VIRQ, ARG, 0, 0, 0]),
        0
    );
    let con_port = g.get::<EvtchnBindVirq>(ARG).port;
    assert_eq!(con_port, 2);

    // #21 xen_time_setup_guest.
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

    // #22 runstate area by virtual address.
    g.put(
        ARG,
        &VcpuRegisterRunstateMemoryArea {
            addr: u64::from(Guest::kva(RUNSTATE_PAGE, 0)),
        },
    );
    assert_eq!(
        g.call(
            hc::VCPU_OP,
            [vcpuop::REGISTER_RUNSTATE_MEMORY_AREA, 0, ARG, 0, 0]
        ),
        0
    );

    // #23 /init opens hvc0: request_irq -> bind_vcpu (error ignored), unmask.
    g.put(
        ARG,
        &EvtchnBindVcpu {
            port: con_port,
            vcpu: 0,
        },
    );
    assert_eq!(
        g.call(hc::EVENT_CHANNEL_OP, [evtchnop::BIND_VCPU, ARG, 0, 0, 0]),
        0
    );
    let mask0 = g.m().peek_u32((si_gfn << 12) + 560);
    g.m()
        .poke_u32((si_gfn << 12) + 560, mask0 & !(1 << con_port));
    printk(&mut g, "Run /init as init process\nINIT: up\n");

    // #24 typing: the UART gives bytes, VIRQ_CONSOLE fires, hvc reads them.
    let (mem, plat) = (&mut g.mem, &mut g.plat);
    assert_eq!(g.xen.console_input(mem, plat, b"ls\r"), 3);
    assert_eq!(g.injected(), [0]);
    assert_eq!(linux_upcall(&mut g, vi, si_gfn << 12), [con_port]);
    let buf = Guest::kva(0x31, 0);
    assert_eq!(g.call(hc::CONSOLE_IO, [consoleio::READ, 16, buf, 0, 0]), 3);
    assert_eq!(g.get_bytes(buf, 3), b"ls\r");
    assert_eq!(g.call(hc::CONSOLE_IO, [consoleio::READ, 16, buf, 0, 0]), 0);

    // The xenstore port must never have fired.
    assert_eq!(g.m().peek_u32((si_gfn << 12) + 48) & (1 << xs_port), 0);

    // Grant frame 0 still holds what Linux wrote.
    assert_eq!(g.m().peek_u32((GNTTAB_GFN << 12) + 64), 0x1234);

    let out = alloc::string::String::from_utf8(g.m().console.clone()).unwrap();
    assert!(out.starts_with("Booting Linux"));
    assert!(out.contains("INIT: up\n"));

    // #25 poweroff.
    g.put(
        ARG,
        &SchedShutdown {
            reason: schedop::SHUTDOWN_POWEROFF,
        },
    );
    assert_eq!(g.call(hc::SCHED_OP, [schedop::SHUTDOWN, ARG, 0, 0, 0]), 0);
    assert_eq!(g.m().shutdowns, [ShutdownReason::PowerOff]);
}

#[test]
fn non_direct_mapped_dom0_reports_bit_16() {
    let mut g = Guest::new(XenConfig::dom0(2, false));
    g.put(ARG, &XenFeatureInfo::default());
    assert_eq!(
        g.call(hc::XEN_VERSION, [xenver::GET_FEATURES, ARG, 0, 0, 0]),
        0
    );
    assert_eq!(
        g.get::<XenFeatureInfo>(ARG).submap,
        (1 << 0) | (1 << 2) | (1 << 11) | (1 << 13) | (1 << 14) | (1 << 16)
    );
}

#[test]
fn secondary_cpu_registers_and_gets_its_events() {
    let mut g = Guest::new(XenConfig::dom0(2, true));
    let si = Guest::gfn(SHARED_INFO_PAGE);
    g.put(
        ARG,
        &XenAddToPhysmap {
            domid: domid::SELF,
            size: 0,
            space: xenmem::SPACE_SHARED_INFO,
            idx: 0,
            gpfn: si,
        },
    );
    assert_eq!(
        g.call(hc::MEMORY_OP, [xenmem::ADD_TO_PHYSMAP, ARG, 0, 0, 0]),
        0
    );
    for cpu in 0..2u32 {
        g.m().vcpu = cpu;
        g.put(
            ARG,
            &VcpuRegisterVcpuInfo {
                mfn: Guest::gfn(VCPU_INFO_PAGE),
                offset: cpu * 64,
                rsvd: 0,
            },
        );
        assert_eq!(
            g.call(hc::VCPU_OP, [vcpuop::REGISTER_VCPU_INFO, cpu, ARG, 0, 0]),
            0
        );
    }
    assert_eq!(g.injected(), [0, 1]);
    // Clear the spurious state Linux would consume.
    for cpu in 0..2u64 {
        let vi = (Guest::gfn(VCPU_INFO_PAGE) << 12) + cpu * 64;
        linux_upcall(&mut g, vi, si << 12);
    }
    // An IPI channel on vCPU 1 is delivered to vCPU 1's area.
    g.put(ARG, &EvtchnBindIpi { vcpu: 1, port: 0 });
    assert_eq!(
        g.call(hc::EVENT_CHANNEL_OP, [evtchnop::BIND_IPI, ARG, 0, 0, 0]),
        0
    );
    let port = g.get::<EvtchnBindIpi>(ARG).port;
    g.put(ARG, &EvtchnPort { port });
    assert_eq!(
        g.call(hc::EVENT_CHANNEL_OP, [evtchnop::SEND, ARG, 0, 0, 0]),
        0
    );
    assert_eq!(g.injected(), [1]);
    let vi1 = (Guest::gfn(VCPU_INFO_PAGE) << 12) + 64;
    assert_eq!(linux_upcall(&mut g, vi1, si << 12), [port]);
}
