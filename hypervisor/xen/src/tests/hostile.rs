//! Hostile arguments: bad pointers for every call that takes one, read-only
//! buffers for results, huge counts, and a fuzzer over all calls.

use super::super::abi::layout::*;
use super::super::abi::{
    consoleio, evtchnop, gnttabop, hc, hvmop, schedop, vcpuop, xenmem, xenver, Errno,
};
use super::super::testing::*;
use super::super::{Outcome, XenConfig};
use super::*;

/// (hypercall, first argument, index of the pointer argument, other args).
fn pointer_calls() -> alloc::vec::Vec<(u32, u32, usize, [u32; 5])> {
    let mut v = alloc::vec::Vec::new();
    for cmd in [
        xenver::EXTRAVERSION,
        xenver::COMPILE_INFO,
        xenver::CAPABILITIES,
        xenver::CHANGESET,
        xenver::PLATFORM_PARAMETERS,
        xenver::GET_FEATURES,
        xenver::GUEST_HANDLE,
        xenver::COMMANDLINE,
    ] {
        v.push((hc::XEN_VERSION, cmd, 1, [0; 5]));
    }
    for cmd in [
        xenmem::ADD_TO_PHYSMAP,
        xenmem::DECREASE_RESERVATION,
        xenmem::POPULATE_PHYSMAP,
    ] {
        v.push((hc::MEMORY_OP, cmd, 1, [0; 5]));
    }
    for cmd in [
        vcpuop::REGISTER_VCPU_INFO,
        vcpuop::REGISTER_RUNSTATE_MEMORY_AREA,
    ] {
        v.push((hc::VCPU_OP, cmd, 2, [0; 5]));
    }
    for cmd in [
        evtchnop::BIND_INTERDOMAIN,
        evtchnop::BIND_VIRQ,
        evtchnop::CLOSE,
        evtchnop::SEND,
        evtchnop::STATUS,
        evtchnop::ALLOC_UNBOUND,
        evtchnop::BIND_IPI,
        evtchnop::BIND_VCPU,
        evtchnop::UNMASK,
    ] {
        v.push((hc::EVENT_CHANNEL_OP, cmd, 1, [0; 5]));
    }
    for cmd in [
        gnttabop::QUERY_SIZE,
        gnttabop::SET_VERSION,
        gnttabop::GET_VERSION,
        gnttabop::MAP_GRANT_REF,
        gnttabop::UNMAP_GRANT_REF,
        gnttabop::COPY,
        gnttabop::CACHE_FLUSH,
    ] {
        v.push((hc::GRANT_TABLE_OP, cmd, 1, [0, 0, 1, 0, 0]));
    }
    v.push((hc::HVM_OP, hvmop::GET_PARAM, 1, [0; 5]));
    v.push((hc::CONSOLE_IO, consoleio::WRITE, 2, [0, 16, 0, 0, 0]));
    v.push((hc::SCHED_OP, schedop::SHUTDOWN, 1, [0; 5]));
    v.push((hc::PLATFORM_OP, 0, 0, [0; 5]));
    v.push((hc::SYSCTL, 0, 0, [0; 5]));
    v
}

#[test]
fn bad_pointers_fault_everywhere() {
    let end_of_ram = KVA_BASE + (RAM_PAGES * PAGE) as u32 - 2; // runs off the mapping
    let hole = Guest::kva(0x60, 0);
    for ptr in [
        0,
        0x1000,
        HYP_GVA,
        HYP_GVA + 0xff0,
        0xffff_fff8,
        u32::MAX,
        end_of_ram,
        hole,
        hole - 2,
    ] {
        let mut g = Guest::new(XenConfig::dom0(2, true));
        g.m().s1_holes.insert(hole >> 12);
        for (nr, cmd, at, base) in pointer_calls() {
            let mut args = base;
            if at != 0 {
                args[0] = cmd;
            }
            args[at] = ptr;
            let r = g.call(nr, args);
            assert_eq!(
                r,
                Errno::EFAULT.ret(),
                "hypercall {nr} cmd {cmd} with pointer {ptr:#x}"
            );
        }
        assert!(g.hyp_intact());
        assert!(g.m().console.is_empty());
        assert!(g.m().shutdowns.is_empty());
    }
}

#[test]
fn results_to_read_only_memory_fault() {
    let mut g = Guest::new(XenConfig::dom0(1, true));
    g.put(ARG, &XenFeatureInfo::default());
    g.m().s1_readonly.insert(ARG >> 12);
    assert_eq!(
        g.call(hc::XEN_VERSION, [xenver::GET_FEATURES, ARG, 0, 0, 0]),
        Errno::EFAULT.ret()
    );
    assert_eq!(
        g.call(hc::XEN_VERSION, [xenver::CAPABILITIES, ARG, 0, 0, 0]),
        Errno::EFAULT.ret()
    );
    g.xen.console_input(&mut g.mem, &mut g.plat, b"x");
    assert_eq!(
        g.call(hc::CONSOLE_IO, [consoleio::READ, 1, ARG, 0, 0]),
        Errno::EFAULT.ret()
    );
    assert_eq!(g.xen.console_input_state().0, 1, "input kept");
    // The op is done, only the reply is lost (as in Xen).
    assert_eq!(
        g.call(hc::EVENT_CHANNEL_OP, [evtchnop::BIND_IPI, ARG, 0, 0, 0]),
        Errno::EFAULT.ret()
    );
    assert!(g
        .xen
        .channel(1)
        .is_some_and(|c| c.state == super::super::ChannelState::Ipi));
    assert_eq!(
        g.call(hc::GRANT_TABLE_OP, [gnttabop::QUERY_SIZE, ARG, 1, 0, 0]),
        Errno::EFAULT.ret()
    );
    assert_eq!(
        g.call(hc::HVM_OP, [hvmop::GET_PARAM, ARG, 0, 0, 0]),
        Errno::EFAULT.ret()
    );
}

#[test]
fn huge_counts_and_wrapping_arrays() {
    let mut g = Guest::dom0();
    for cmd in [
        gnttabop::MAP_GRANT_REF,
        gnttabop::COPY,
        gnttabop::CACHE_FLUSH,
        gnttabop::UNMAP_GRANT_REF,
    ] {
        assert_eq!(
            g.call(hc::GRANT_TABLE_OP, [cmd, ARG, u32::MAX, 0, 0]),
            Errno::EINVAL.ret()
        );
        assert_eq!(
            g.call(hc::GRANT_TABLE_OP, [cmd, 0xffff_ffe0, 2, 0, 0]),
            Errno::EFAULT.ret()
        );
        // i32::MAX ops over zeroed RAM: processed in batches until the array
        // runs off the mapping.
        g.put_bytes(Guest::kva(RAM_PAGES - 2, 0), &[0; 2 * PAGE]);
        let r = g.call(
            hc::GRANT_TABLE_OP,
            [cmd, Guest::kva(RAM_PAGES - 2, 0), i32::MAX as u32, 0, 0],
        );
        assert_eq!(r, Errno::EFAULT.ret(), "cmd {cmd}");
        assert!(g.continuations > 0);
    }
    // No single invocation does more than a batch.
    let o = g.call_once(
        hc::GRANT_TABLE_OP,
        [gnttabop::UNMAP_GRANT_REF, ARG, 1000, 0, 0],
    );
    assert!(matches!(o, Outcome::Continue([_, _, 936, _, _])), "{o:?}");
    assert_eq!(
        g.call(
            hc::GRANT_TABLE_OP,
            [gnttabop::QUERY_SIZE, ARG, u32::MAX, 0, 0]
        ),
        Errno::EINVAL.ret()
    );
    assert!(g.hyp_intact());
}

/// xorshift64*, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[(self.next() % v.len() as u64) as usize]
    }
}

#[test]
fn fuzz_every_call() {
    let mut g = Guest::new(XenConfig {
        max_evtchn_ports: 64,
        max_grant_maps: 32,
        ..XenConfig::dom0(2, true)
    });
    events_ready(&mut g);
    g.m().log_current = Some((100, alloc::vec![b'x'; 5000]));
    g.m().log_previous = Some((0, alloc::vec![b'p'; 300]));
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let nrs = [
        hc::XEN_VERSION,
        hc::MEMORY_OP,
        hc::VCPU_OP,
        hc::EVENT_CHANNEL_OP,
        hc::GRANT_TABLE_OP,
        hc::HVM_OP,
        hc::CONSOLE_IO,
        hc::SCHED_OP,
        hc::PLATFORM_OP,
        hc::VM_ASSIST,
        hc::SYSCTL,
        hc::PHYSDEV_OP,
        hc::MULTICALL,
    ];
    let small = |r: &mut Rng| (r.next() % 16) as u32;
    for _ in 0..10_000 {
        // Random argument bytes, biased towards small numbers and real frames.
        let mut bytes = [0u8; 256];
        for chunk in bytes.chunks_mut(8) {
            let v = match rng.next() % 6 {
                0 => rng.next(),
                1 => rng.next() % 8,
                2 => RAM_GFN + rng.next() % RAM_PAGES as u64,
                3 => u64::from(KVA_BASE) + rng.next() % (RAM_PAGES * PAGE) as u64,
                4 => GNTTAB_GFN + rng.next() % 4,
                _ => 0,
            };
            chunk.copy_from_slice(&v.to_le_bytes());
        }
        g.try_put_bytes(ARG, &bytes);
        let ptrs = [
            ARG,
            ARG + 4064,
            HYP_GVA,
            0x1000,
            0,
            u32::MAX,
            KVA_BASE + (rng.next() % 0x10_0000) as u32,
        ];
        let nr = rng.pick(&nrs);
        let cmd = if rng.next().is_multiple_of(8) {
            rng.next() as u32
        } else {
            small(&mut rng)
        };
        let mut args = [cmd, rng.pick(&ptrs), rng.pick(&ptrs), 0, 0];
        if rng.next().is_multiple_of(2) {
            args[2] = small(&mut rng);
        }
        if nr == hc::VCPU_OP {
            args[1] = small(&mut rng) % 3;
        }
        if nr == hc::PLATFORM_OP {
            args[0] = rng.pick(&ptrs);
            bytes[0..4].copy_from_slice(&rng.pick(&[17u32, 62, 50]).to_le_bytes());
            bytes[4..8].copy_from_slice(&super::super::abi::xenpf::INTERFACE_VERSION.to_le_bytes());
            g.try_put_bytes(ARG, &bytes[..8]);
        }
        if nr == hc::SYSCTL {
            use super::super::abi::sysctl;
            args[0] = rng.pick(&ptrs);
            let cmd = rng.pick(&[
                sysctl::READCONSOLE,
                sysctl::SNOWVISOR_READCONSOLE_PREVIOUS,
                2,
            ]);
            bytes[0..4].copy_from_slice(&cmd.to_le_bytes());
            bytes[4..8].copy_from_slice(&sysctl::INTERFACE_VERSION.to_le_bytes());
            g.try_put_bytes(ARG, &bytes[..8]);
        }
        g.m().vcpu = (rng.next() % 2) as u32;
        g.call(nr, args);
        if rng.next().is_multiple_of(16) {
            let n = (rng.next() % 8) as usize;
            g.xen.console_input(&mut g.mem, &mut g.plat, &bytes[..n]);
        }
        assert!(g.hyp_intact());
        assert!(g
            .m()
            .s2
            .get(&(HYP_IPA >> 12))
            .is_some_and(|e| e.backing == Backing::Hyp));
    }
    let mut s = alloc::string::String::new();
    g.xen.dump(&mut g.mem, &mut s).unwrap();
    assert!(s.contains("xen: grant table"));
}
