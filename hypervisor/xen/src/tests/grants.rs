//! Grant tables v1: a domain granting to itself, and every way a grant op can
//! be wrong.

use super::super::abi::layout::*;
use super::super::abi::{domid, gntmap, gntst, gnttabop, gtf, hc, xenmem};
use super::super::testing::*;
use super::super::XenConfig;
use super::*;

pub(super) const TABLE: u64 = GNTTAB_GFN << 12;

pub(super) fn ready(cfg: XenConfig) -> Guest {
    let mut g = Guest::new(cfg);
    assert_eq!(
        add_to_physmap(&mut g, xenmem::SPACE_GRANT_TABLE, 0, GNTTAB_GFN),
        0
    );
    g
}

pub(super) fn grant(g: &mut Guest, gref: u32, flags: u16, dom: u16, frame: u64) {
    let mut m = g.m();
    m.poke_u32(
        TABLE + u64::from(gref) * 8,
        u32::from(flags) | u32::from(dom) << 16,
    );
    m.poke_u32(TABLE + u64::from(gref) * 8 + 4, frame as u32);
}

pub(super) fn flags(g: &mut Guest, gref: u32) -> u16 {
    g.m().peek_u32(TABLE + u64::from(gref) * 8) as u16
}

pub(super) fn map_op(gref: u32, host_gfn: u64, flags: u32) -> GnttabMapGrantRef {
    GnttabMapGrantRef {
        host_addr: host_gfn << 12,
        flags,
        gref,
        dom: domid::SELF,
        ..Default::default()
    }
}

pub(super) fn map(g: &mut Guest, op: GnttabMapGrantRef) -> GnttabMapGrantRef {
    let (r, out) = gnttab(g, gnttabop::MAP_GRANT_REF, &[op]);
    assert_eq!(r, 0);
    out[0]
}

pub(super) fn unmap(g: &mut Guest, handle: u32, host_gfn: u64) -> i16 {
    let op = GnttabUnmapGrantRef {
        host_addr: host_gfn << 12,
        handle,
        ..Default::default()
    };
    let (r, out) = gnttab(g, gnttabop::UNMAP_GRANT_REF, &[op]);
    assert_eq!(r, 0);
    out[0].status
}

pub(super) const HOST: u64 = 0x50000; // an IPA hole for grant mappings

#[test]
fn self_grant_round_trip() {
    let mut g = ready(XenConfig::dom0(1, true));
    let frame = Guest::gfn(0x40);
    g.put_bytes(Guest::kva(0x40, 0), b"granted page");
    grant(&mut g, 8, gtf::PERMIT_ACCESS, 0, frame);

    // Balloon out a page first, as gntdev does, and map the grant there.
    let host = Guest::gfn(0x50);
    let res = one_extent(&mut g, host);
    assert_eq!(
        op(&mut g, hc::MEMORY_OP, xenmem::DECREASE_RESERVATION, &res).0,
        1
    );
    assert_eq!(g.m().released, [host]);

    let m = map(&mut g, map_op(8, host, gntmap::HOST_MAP));
    assert_eq!(
        (m.status, m.handle, m.dev_bus_addr),
        (gntst::OKAY, 0, frame << 12)
    );
    assert_eq!(
        flags(&mut g, 8),
        gtf::PERMIT_ACCESS | gtf::READING | gtf::WRITING
    );
    assert_eq!(g.get_bytes(Guest::kva(0x50, 0), 12), b"granted page");

    assert_eq!(unmap(&mut g, m.handle, host), gntst::OKAY);
    assert_eq!(flags(&mut g, 8), gtf::PERMIT_ACCESS);
    assert!(!g.m().s2.contains_key(&host));
    assert_eq!(
        unmap(&mut g, m.handle, host),
        gntst::BAD_HANDLE,
        "double unmap"
    );

    assert_eq!(
        op(&mut g, hc::MEMORY_OP, xenmem::POPULATE_PHYSMAP, &res).0,
        1
    );
    assert!(g.m().s2.contains_key(&host));
}

#[test]
fn readonly_grants_and_pin_counting() {
    let mut g = ready(XenConfig::dom0(1, true));
    let frame = Guest::gfn(0x40);
    grant(&mut g, 9, gtf::PERMIT_ACCESS | gtf::READONLY, 0, frame);
    assert_eq!(
        map(&mut g, map_op(9, HOST, gntmap::HOST_MAP)).status,
        gntst::GENERAL_ERROR
    );
    assert_eq!(
        flags(&mut g, 9),
        gtf::PERMIT_ACCESS | gtf::READONLY,
        "no status left behind"
    );
    let ro = map(&mut g, map_op(9, HOST, gntmap::HOST_MAP | gntmap::READONLY));
    assert_eq!(ro.status, gntst::OKAY);
    assert_eq!(
        flags(&mut g, 9),
        gtf::PERMIT_ACCESS | gtf::READONLY | gtf::READING
    );
    assert!(!g.m().s2[&HOST].writable);

    grant(&mut g, 10, gtf::PERMIT_ACCESS, 0, frame);
    let r1 = map(
        &mut g,
        map_op(10, HOST + 1, gntmap::HOST_MAP | gntmap::READONLY),
    );
    let w = map(&mut g, map_op(10, HOST + 2, gntmap::HOST_MAP));
    let r2 = map(
        &mut g,
        map_op(10, HOST + 3, gntmap::HOST_MAP | gntmap::READONLY),
    );
    assert_eq!((r1.status, w.status, r2.status), (0, 0, 0));
    assert_eq!(
        flags(&mut g, 10),
        gtf::PERMIT_ACCESS | gtf::READING | gtf::WRITING
    );
    assert_eq!(unmap(&mut g, w.handle, HOST + 2), gntst::OKAY);
    assert_eq!(flags(&mut g, 10), gtf::PERMIT_ACCESS | gtf::READING);
    assert_eq!(unmap(&mut g, r1.handle, HOST + 1), gntst::OKAY);
    assert_eq!(flags(&mut g, 10), gtf::PERMIT_ACCESS | gtf::READING);
    assert_eq!(unmap(&mut g, r2.handle, HOST + 3), gntst::OKAY);
    assert_eq!(flags(&mut g, 10), gtf::PERMIT_ACCESS);
}

#[test]
fn map_rejects_bad_refs_flags_domains_and_frames() {
    let mut g = ready(XenConfig::dom0(1, true));
    let frame = Guest::gfn(0x40);
    grant(&mut g, 8, gtf::PERMIT_ACCESS, 0, frame);
    grant(&mut g, 11, gtf::PERMIT_ACCESS, 5, frame); // granted to domain 5
    grant(&mut g, 12, gtf::ACCEPT_TRANSFER, 0, frame);
    grant(&mut g, 13, gtf::PERMIT_ACCESS, 0, HYP_IPA >> 12);
    grant(&mut g, 14, gtf::PERMIT_ACCESS, 0, 0x9999_9999);
    grant(&mut g, 15, gtf::INVALID, 0, frame);
    let cases = [
        (map_op(512, HOST, gntmap::HOST_MAP), gntst::BAD_GNTREF),
        (map_op(u32::MAX, HOST, gntmap::HOST_MAP), gntst::BAD_GNTREF),
        (map_op(8, HOST, 0), gntst::BAD_GNTREF),
        (map_op(8, HOST, gntmap::READONLY), gntst::BAD_GNTREF),
        (
            map_op(8, HOST, gntmap::HOST_MAP | gntmap::DEVICE_MAP),
            gntst::GENERAL_ERROR,
        ),
        (
            map_op(8, HOST, gntmap::HOST_MAP | gntmap::CONTAINS_PTE),
            gntst::GENERAL_ERROR,
        ),
        (
            map_op(8, HOST, gntmap::HOST_MAP | gntmap::APPLICATION_MAP),
            gntst::GENERAL_ERROR,
        ),
        (
            GnttabMapGrantRef {
                dom: 7,
                ..map_op(8, HOST, gntmap::HOST_MAP)
            },
            gntst::BAD_DOMAIN,
        ),
        (
            GnttabMapGrantRef {
                dom: domid::XEN,
                ..map_op(8, HOST, gntmap::HOST_MAP)
            },
            gntst::BAD_DOMAIN,
        ),
        (map_op(11, HOST, gntmap::HOST_MAP), gntst::GENERAL_ERROR),
        (map_op(12, HOST, gntmap::HOST_MAP), gntst::GENERAL_ERROR),
        (map_op(15, HOST, gntmap::HOST_MAP), gntst::GENERAL_ERROR),
        (map_op(13, HOST, gntmap::HOST_MAP), gntst::BAD_PAGE),
        (map_op(14, HOST, gntmap::HOST_MAP), gntst::BAD_PAGE),
        // Over shared pages the hypervisor uses, over hypervisor memory, past 40 bits.
        (
            map_op(8, GNTTAB_GFN, gntmap::HOST_MAP),
            gntst::GENERAL_ERROR,
        ),
        (
            map_op(8, HYP_IPA >> 12, gntmap::HOST_MAP),
            gntst::GENERAL_ERROR,
        ),
        (map_op(8, 1 << 28, gntmap::HOST_MAP), gntst::GENERAL_ERROR),
        (
            GnttabMapGrantRef {
                host_addr: u64::MAX,
                ..map_op(8, 0, gntmap::HOST_MAP)
            },
            gntst::GENERAL_ERROR,
        ),
    ];
    for (i, (op, want)) in cases.iter().enumerate() {
        let m = map(&mut g, *op);
        assert_eq!(m.status, *want, "case {i}: {op:?}");
    }
    for gref in [8, 11, 12, 13, 14, 15] {
        let f = flags(&mut g, gref);
        assert_eq!(
            f & (gtf::READING | gtf::WRITING),
            0,
            "ref {gref} left pinned"
        );
    }
    // Refs in a frame the guest never mapped are not granted.
    assert_eq!(
        add_to_physmap(&mut g, xenmem::SPACE_GRANT_TABLE, 3, GNTTAB_GFN + 3),
        0
    );
    assert_eq!(
        map(&mut g, map_op(512, HOST, gntmap::HOST_MAP)).status,
        gntst::GENERAL_ERROR
    );
    assert_eq!(
        map(&mut g, map_op(4 * 512, HOST, gntmap::HOST_MAP)).status,
        gntst::BAD_GNTREF
    );
    assert_eq!(
        g.xen.dump(&mut g.mem, &mut alloc::string::String::new()),
        Ok(())
    );
}

#[test]
fn maptrack_is_bounded() {
    let mut g = ready(XenConfig {
        max_grant_maps: 4,
        ..XenConfig::dom0(1, true)
    });
    grant(&mut g, 8, gtf::PERMIT_ACCESS, 0, Guest::gfn(0x40));
    for i in 0..4 {
        let m = map(
            &mut g,
            map_op(8, HOST + i, gntmap::HOST_MAP | gntmap::READONLY),
        );
        assert_eq!((m.status, m.handle), (gntst::OKAY, i as u32));
        if i == 0 {
            let again = map(&mut g, map_op(8, HOST, gntmap::HOST_MAP));
            assert_eq!(again.status, gntst::GENERAL_ERROR, "gfn already mapped");
        }
    }
    assert_eq!(
        map(&mut g, map_op(8, HOST + 9, gntmap::HOST_MAP)).status,
        gntst::NO_DEVICE_SPACE
    );
    assert_eq!(unmap(&mut g, 2, HOST + 2), gntst::OKAY);
    assert_eq!(
        map(&mut g, map_op(8, HOST + 9, gntmap::HOST_MAP)).handle,
        2,
        "handle reused"
    );
}

#[test]
fn pins_per_entry_are_bounded() {
    let mut g = ready(XenConfig::dom0(1, true));
    grant(&mut g, 8, gtf::PERMIT_ACCESS, 0, Guest::gfn(0x40));
    for i in 0..0x7f {
        assert_eq!(
            map(
                &mut g,
                map_op(8, HOST + i, gntmap::HOST_MAP | gntmap::READONLY)
            )
            .status,
            gntst::OKAY
        );
    }
    assert_eq!(
        map(&mut g, map_op(8, HOST + 0x80, gntmap::HOST_MAP)).status,
        gntst::GENERAL_ERROR
    );
}

#[test]
fn unmap_checks_handle_address_and_bus_address() {
    let mut g = ready(XenConfig::dom0(1, true));
    grant(&mut g, 8, gtf::PERMIT_ACCESS, 0, Guest::gfn(0x40));
    let m = map(&mut g, map_op(8, HOST, gntmap::HOST_MAP));
    assert_eq!(unmap(&mut g, m.handle, HOST + 1), gntst::GENERAL_ERROR);
    assert_eq!(unmap(&mut g, u32::MAX, HOST), gntst::BAD_HANDLE);
    assert_eq!(unmap(&mut g, 1, HOST), gntst::BAD_HANDLE);
    let bad_bus = GnttabUnmapGrantRef {
        host_addr: HOST << 12,
        dev_bus_addr: 0x1000,
        handle: m.handle,
        ..Default::default()
    };
    assert_eq!(
        gnttab(&mut g, gnttabop::UNMAP_GRANT_REF, &[bad_bus]).1[0].status,
        gntst::GENERAL_ERROR
    );
    // host_addr 0 leaves the host mapping alone, as in Xen.
    assert_eq!(unmap(&mut g, m.handle, 0), gntst::OKAY);
    assert!(g.m().s2.contains_key(&HOST));
    let ok = GnttabUnmapGrantRef {
        dev_bus_addr: m.dev_bus_addr,
        ..bad_bus
    };
    assert_eq!(
        gnttab(&mut g, gnttabop::UNMAP_GRANT_REF, &[ok]).1[0].status,
        gntst::OKAY
    );
    assert_eq!(flags(&mut g, 8), gtf::PERMIT_ACCESS);
}
