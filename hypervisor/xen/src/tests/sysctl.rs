//! `sysctl` readconsole over the hypervisor's logs: good reads (whole,
//! incremental, wrapped ring, previous boot) and hostile arguments.

use alloc::vec::Vec;

use super::super::abi::layout::{XenSysctl, XenSysctlReadconsole, SYSCTL_U};
use super::super::abi::{hc, sysctl, Errno};
use super::super::sysctl::READ_BUDGET;
use super::super::testing::*;
use super::super::XenConfig;
use super::*;

/// Where the test puts the log bytes (RAM pages 0x30.., several pages).
const BUF: u32 = KVA_BASE + 0x30 * PAGE as u32;
const LOG: &[u8] = b"snowvisor: snowvisor 0.1.0 (linux,dummy-virt)\nsnowvisor: cpu: MIDR\n";

fn op(cmd: u32, rc: XenSysctlReadconsole) -> (XenSysctl, XenSysctlReadconsole) {
    let hdr = XenSysctl {
        cmd,
        interface_version: sysctl::INTERFACE_VERSION,
        u: [0; 16],
    };
    (hdr, rc)
}

fn rc(incremental: bool, index: u32, buffer: u32, count: u32) -> XenSysctlReadconsole {
    XenSysctlReadconsole {
        incremental: incremental as u8,
        index,
        buffer: u64::from(buffer),
        count,
        ..Default::default()
    }
}

/// Issues `sysctl` with the op at `ARG`; returns r0 and the op as written back.
fn call(g: &mut Guest, o: (XenSysctl, XenSysctlReadconsole)) -> (i32, XenSysctlReadconsole) {
    g.put(ARG, &o.0);
    g.put(ARG + SYSCTL_U as u32, &o.1);
    let r = g.call(hc::SYSCTL, [ARG, 0, 0, 0, 0]);
    (r, g.get(ARG + SYSCTL_U as u32))
}

fn with_logs() -> Guest {
    let g = Guest::dom0();
    g.m().log_current = Some((0, LOG.to_vec()));
    g.m().log_previous = Some((0, b"previous boot\n".to_vec()));
    g
}

#[test]
fn readconsole_copies_the_whole_log() {
    let mut g = with_logs();
    let (r, out) = call(&mut g, op(sysctl::READCONSOLE, rc(false, 0, BUF, 4096)));
    assert_eq!(r, 0);
    assert_eq!(out.count as usize, LOG.len());
    assert_eq!(out.index as usize, LOG.len());
    assert_eq!(g.get_bytes(BUF, LOG.len()), LOG);
    // Not incremental: starts at the oldest byte whatever `index` says.
    let (r, out) = call(&mut g, op(sysctl::READCONSOLE, rc(false, 9, BUF, 4096)));
    assert_eq!((r, out.count as usize), (0, LOG.len()));
}

#[test]
fn incremental_reads_continue_and_end_with_zero() {
    let mut g = with_logs();
    let mut got = Vec::new();
    let mut index = 0;
    loop {
        let (r, out) = call(&mut g, op(sysctl::READCONSOLE, rc(true, index, BUF, 7)));
        assert_eq!(r, 0);
        assert!(out.count <= 7);
        got.extend(g.get_bytes(BUF, out.count as usize));
        assert_eq!(out.index, index + out.count);
        index = out.index;
        if out.count == 0 {
            break;
        }
    }
    assert_eq!(got, LOG);
    // count 0: nothing copied, index where the read would start.
    let (r, out) = call(&mut g, op(sysctl::READCONSOLE, rc(true, 5, BUF, 0)));
    assert_eq!((r, out.count, out.index), (0, 0, 5));
}

#[test]
fn wrapped_ring_starts_at_the_oldest_byte_held() {
    let mut g = Guest::dom0();
    let bytes: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    g.m().log_current = Some((100_000, bytes.clone()));
    // An index the ring no longer holds: from the oldest byte.
    let (r, out) = call(&mut g, op(sysctl::READCONSOLE, rc(true, 5, BUF, 8192)));
    assert_eq!((r, out.count, out.index), (0, 3000, 103_000));
    assert_eq!(g.get_bytes(BUF, 3000), bytes);
    // An index inside: from there; past the end: from the oldest again.
    let (_, out) = call(
        &mut g,
        op(sysctl::READCONSOLE, rc(true, 102_000, BUF, 8192)),
    );
    assert_eq!((out.count, out.index), (1000, 103_000));
    assert_eq!(g.get_bytes(BUF, 1000), &bytes[2000..]);
    let (_, out) = call(&mut g, op(sysctl::READCONSOLE, rc(true, 103_001, BUF, 10)));
    assert_eq!((out.count, out.index), (10, 100_010));
    // The copy crossed pages in chunks no larger than a page.
    assert!(g.m().log_read_max <= 128);
}

#[test]
fn previous_boot_log_has_its_own_command() {
    let mut g = with_logs();
    let cmd = sysctl::SNOWVISOR_READCONSOLE_PREVIOUS;
    let (r, out) = call(&mut g, op(cmd, rc(false, 0, BUF, 4096)));
    assert_eq!((r, out.count), (0, 14));
    assert_eq!(g.get_bytes(BUF, 14), b"previous boot\n");
    // A cold boot: an empty previous log reads as 0 bytes.
    g.m().log_previous = Some((0, Vec::new()));
    let (r, out) = call(&mut g, op(cmd, rc(false, 0, BUF, 4096)));
    assert_eq!((r, out.count, out.index), (0, 0, 0));
    // No RAM log at all: -ENODATA, nothing written back.
    g.m().log_previous = None;
    g.m().log_current = None;
    for cmd in [cmd, sysctl::READCONSOLE] {
        let (r, out) = call(&mut g, op(cmd, rc(false, 0, BUF, 4096)));
        assert_eq!(r, Errno::ENODATA.ret());
        assert_eq!(out.count, 4096);
    }
}

#[test]
fn large_logs_are_read_in_budgets() {
    let mut g = Guest::dom0();
    let n = READ_BUDGET as usize + 5000;
    g.m().log_current = Some((0, alloc::vec![b'y'; n]));
    let (r, out) = call(&mut g, op(sysctl::READCONSOLE, rc(false, 0, BUF, u32::MAX)));
    assert_eq!((r, out.count), (0, READ_BUDGET));
    let (r, out) = call(
        &mut g,
        op(sysctl::READCONSOLE, rc(true, out.index, BUF, u32::MAX)),
    );
    assert_eq!((r, out.count as usize), (0, 5000));
}

#[test]
fn hostile_sysctl_arguments_fail_cleanly() {
    let mut g = with_logs();
    let good = rc(false, 0, BUF, 4096);
    // Wrong interface version, unknown command, clear, non-dom0.
    let (mut h, _) = op(sysctl::READCONSOLE, good);
    h.interface_version = 0x14;
    assert_eq!(call(&mut g, (h, good)).0, Errno::EACCES.ret());
    for cmd in [0, 2, 0x534e_0000, 0x534e_0002, u32::MAX] {
        assert_eq!(
            call(&mut g, op(cmd, good)).0,
            Errno::ENOSYS.ret(),
            "{cmd:#x}"
        );
    }
    let clear = XenSysctlReadconsole { clear: 1, ..good };
    assert_eq!(
        call(&mut g, op(sysctl::READCONSOLE, clear)).0,
        Errno::EOPNOTSUPP.ret()
    );
    let mut domu = Guest::new(XenConfig {
        domid: 1,
        ..XenConfig::dom0(1, true)
    });
    domu.m().log_current = Some((0, LOG.to_vec()));
    assert_eq!(
        call(&mut domu, op(sysctl::READCONSOLE, good)).0,
        Errno::EPERM.ret()
    );
    // Bad buffers: NULL, hypervisor memory, a handle with its upper half set,
    // a hole, the top of the address space, a read-only page.
    let hole = Guest::kva(0x60, 0);
    g.m().s1_holes.insert(hole >> 12);
    let ro = Guest::kva(0x61, 0);
    g.m().s1_readonly.insert(ro >> 12);
    for buf in [
        0u64,
        u64::from(HYP_GVA),
        0x1_0000_0000 | u64::from(BUF),
        u64::from(hole),
    ]
    .into_iter()
    .chain([u64::from(hole - 16), 0xffff_fff0, u64::from(ro)])
    {
        let bad = XenSysctlReadconsole {
            buffer: buf,
            ..good
        };
        let (r, out) = call(&mut g, op(sysctl::READCONSOLE, bad));
        assert_eq!(r, Errno::EFAULT.ret(), "buffer {buf:#x}");
        assert_eq!(out.count, 4096, "nothing written back");
    }
    // A huge count with a short log near the top of memory checks only what
    // is copied: the read succeeds.
    let tail = Guest::kva(RAM_PAGES - 1, (PAGE - LOG.len()) as u32);
    let (r, out) = call(
        &mut g,
        op(sysctl::READCONSOLE, rc(false, 0, tail, u32::MAX)),
    );
    assert_eq!((r, out.count as usize), (0, LOG.len()));
    // The op itself unreadable or its reply unwritable.
    for p in [0, 0x1000, HYP_GVA, u32::MAX - 8, hole] {
        assert_eq!(g.call(hc::SYSCTL, [p, 0, 0, 0, 0]), Errno::EFAULT.ret());
    }
    g.put(ro, &op(sysctl::READCONSOLE, good).0);
    assert_eq!(g.call(hc::SYSCTL, [ro, 0, 0, 0, 0]), Errno::EFAULT.ret());
    assert!(g.hyp_intact());
}

mod exit_stats {
    use super::*;
    use crate::abi::layout::XenSysctlSnowvisorExits;
    use crate::testing::Counters;

    fn call_exits(g: &mut Guest, buffer: u32, count: u32, clear: bool) -> (i32, u32) {
        let hdr = XenSysctl {
            cmd: sysctl::SNOWVISOR_EXIT_STATS,
            interface_version: sysctl::INTERFACE_VERSION,
            u: [0; 16],
        };
        g.put(ARG, &hdr);
        let x = XenSysctlSnowvisorExits {
            buffer: u64::from(buffer),
            count,
            clear: clear as u32,
        };
        g.put(ARG + SYSCTL_U as u32, &x);
        let r = g.call(hc::SYSCTL, [ARG, 0, 0, 0, 0]);
        let out: XenSysctlSnowvisorExits = g.get(ARG + SYSCTL_U as u32);
        (r, out.count)
    }

    fn words(g: &mut Guest, n: usize) -> Vec<u32> {
        g.get_bytes(BUF, 4 * n)
            .chunks_exact(4)
            .map(|w| u32::from_le_bytes(w.try_into().unwrap()))
            .collect()
    }

    #[test]
    fn copies_counters_as_triples_and_clears() {
        let mut g = Guest::dom0();
        // (class, key, count), as snowvisor's stats::Class numbers them; a
        // zero counter is not handed out.
        const HYPERCALL: u32 = 1;
        const IRQ: u32 = 12;
        let exits: &'static Counters = alloc::boxed::Box::leak(alloc::boxed::Box::new(Counters(
            vec![[HYPERCALL, 17, 1], [HYPERCALL, 18, 0], [IRQ, 27, 2]].into(),
        )));
        g.m().exits = Some(exits);
        // How many there are, nothing copied (no buffer needed).
        assert_eq!(call_exits(&mut g, 0, 0, false), (0, 2));
        assert_eq!(call_exits(&mut g, BUF, 8, false), (0, 2));
        let w = words(&mut g, 6);
        assert_eq!(w[..3], [HYPERCALL, 17, 1]);
        assert_eq!(w[3..], [IRQ, 27, 2]);
        // Room for one: the first copied, the total reported.
        g.put_bytes(BUF, &[0xee; 24]);
        assert_eq!(call_exits(&mut g, BUF, 1, true), (0, 2));
        assert_eq!(words(&mut g, 3), [HYPERCALL, 17, 1]);
        assert_eq!(
            g.get_bytes(BUF + 12, 12),
            [0xee; 12],
            "nothing past the room"
        );
        // Cleared after the copy.
        assert_eq!(call_exits(&mut g, BUF, 8, false), (0, 0));
    }

    #[test]
    fn bad_buffers_and_no_counters() {
        let mut g = Guest::dom0();
        assert_eq!(call_exits(&mut g, BUF, 8, false).0, Errno::ENOSYS.ret());
        g.m().exits = Some(alloc::boxed::Box::leak(alloc::boxed::Box::new(Counters(
            vec![[1, 0, 1]].into(),
        ))));
        assert_eq!(call_exits(&mut g, 0, 1, false).0, Errno::EFAULT.ret());
        assert_eq!(
            call_exits(&mut g, u32::MAX - 8, 1, false).0,
            Errno::EFAULT.ret()
        );
        assert_eq!(call_exits(&mut g, 0x1000, 1, false).0, Errno::EFAULT.ret());
        // A domain other than Dom0 may not ask.
        let mut u = Guest::new(XenConfig {
            domid: 1,
            ..XenConfig::dom0(1, true)
        });
        assert_eq!(call_exits(&mut u, BUF, 8, false).0, Errno::EPERM.ret());
    }
}
