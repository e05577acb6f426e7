//! Dom0 mapping a DomU's grants (the privileged mapper, as Xen's backends
//! and xenstored do): the DomU's entry checked and marked through the
//! platform, the page mapped at Dom0's host address and unmapped again,
//! every bad ref, handle, frame and address refused with the entry left as
//! it was; the xenstore parameters Dom0 may read of a DomU.

use super::super::abi::layout::*;
use super::super::abi::{gntmap, gntst, gnttabop, gtf, hvmop, xenmem, Errno};
use super::super::testing::*;
use super::super::{seed_entry, CacheOp};
use super::grants::{self, flags, grant, map, unmap, TABLE};
use super::*;

/// A hole in Dom0's IPA space (gntdev's ballooned-out page).
const HOST: u64 = 0x50000;

/// Dom0 and DomU 1, the DomU's grant frame 0 mapped where its Linux maps it.
fn pair() -> (Guest, Guest) {
    let (d0, mut d1) = Guest::pair(1);
    assert_eq!(
        add_to_physmap(&mut d1, xenmem::SPACE_GRANT_TABLE, 0, GNTTAB_GFN),
        0
    );
    (d0, d1)
}

/// A map of domain `dom`'s ref `gref` at Dom0's `host_gfn`.
fn map_op(dom: u16, gref: u32, host_gfn: u64, flags: u32) -> GnttabMapGrantRef {
    GnttabMapGrantRef {
        dom,
        ..grants::map_op(gref, host_gfn, flags)
    }
}

#[test]
fn dom0_maps_a_domus_grant_and_unmaps_it() {
    let (mut d0, mut d1) = pair();
    // The DomU grants its page 0x40 to Dom0 in the xenstore entry.
    let [w0, w1] = seed_entry(0, Guest::gfn(0x40) as u32);
    d1.m().poke_u32(TABLE + 8, w0);
    d1.m().poke_u32(TABLE + 12, w1);
    assert_eq!(
        flags(&mut d1, gnttabop::RESERVED_XENSTORE),
        gtf::PERMIT_ACCESS
    );

    let m = map(&mut d0, map_op(1, 1, HOST, gntmap::HOST_MAP));
    assert_eq!(m.status, gntst::OKAY);
    assert_eq!(m.dev_bus_addr, foreign_bus(1, 0x40));
    assert_eq!(
        d0.m().s2.get(&HOST).copied(),
        Some(S2 {
            backing: Backing::Foreign(1, 0x40),
            writable: true
        })
    );
    assert_eq!(
        flags(&mut d1, 1),
        gtf::PERMIT_ACCESS | gtf::READING | gtf::WRITING
    );
    // A second, read-only mapping of the same ref elsewhere.
    let ro = map(
        &mut d0,
        map_op(1, 1, HOST + 1, gntmap::HOST_MAP | gntmap::READONLY),
    );
    assert_eq!(ro.status, gntst::OKAY);
    assert_ne!(ro.handle, m.handle);
    assert!(!d0.m().s2[&(HOST + 1)].writable);
    // The writer goes: GTF_writing is cleared, GTF_reading stays.
    assert_eq!(unmap(&mut d0, m.handle, HOST), gntst::OKAY);
    assert!(!d0.m().s2.contains_key(&HOST), "a hole is left");
    assert_eq!(flags(&mut d1, 1), gtf::PERMIT_ACCESS | gtf::READING);
    assert_eq!(unmap(&mut d0, m.handle, HOST), gntst::BAD_HANDLE, "twice");
    assert_eq!(unmap(&mut d0, ro.handle, HOST + 1), gntst::OKAY);
    assert_eq!(flags(&mut d1, 1), gtf::PERMIT_ACCESS, "the DomU may revoke");
    assert_eq!(d0.xen.gnttab.active_entries(), 0);
    // The DomU's own view of its table is untouched by Dom0's pins.
    assert_eq!(d1.xen.gnttab.active_entries(), 0);
}

#[test]
fn bad_foreign_refs_frames_and_addresses_are_refused_and_leave_the_entry() {
    let (mut d0, mut d1) = pair();
    let page = Guest::gfn(0x40);
    grant(&mut d1, 2, gtf::PERMIT_ACCESS, 2, page); // to domain 2
    grant(&mut d1, 3, gtf::PERMIT_ACCESS | gtf::READONLY, 0, page);
    grant(&mut d1, 4, gtf::PERMIT_ACCESS, 0, 0x1); // not its RAM
    grant(&mut d1, 5, gtf::PERMIT_ACCESS, 0, page);
    grant(&mut d1, 6, gtf::ACCEPT_TRANSFER, 0, page);
    let rw = gntmap::HOST_MAP;
    let max_ref = d1.xen.config().max_grant_frames * gnttabop::ENTRIES_PER_FRAME;
    for (dom, gref, host, fl, want) in [
        (1, 0, HOST, rw, gntst::GENERAL_ERROR),   // never granted
        (1, 2, HOST, rw, gntst::GENERAL_ERROR),   // granted to another
        (1, 3, HOST, rw, gntst::GENERAL_ERROR),   // read-only entry
        (1, 6, HOST, rw, gntst::GENERAL_ERROR),   // not a permit
        (1, 4, HOST, rw, gntst::BAD_PAGE),        // not the DomU's page
        (1, 600, HOST, rw, gntst::GENERAL_ERROR), // a frame it never set up
        (1, max_ref, HOST, rw, gntst::BAD_GNTREF),
        (1, u32::MAX, HOST, rw, gntst::BAD_GNTREF),
        (7, 5, HOST, rw, gntst::BAD_DOMAIN),
        (domid_invalid(), 5, HOST, rw, gntst::BAD_DOMAIN),
        (1, 5, HYP_IPA >> 12, rw, gntst::GENERAL_ERROR), // over hypervisor memory
        (1, 5, 1 << 28, rw, gntst::GENERAL_ERROR),       // past the IPA space
        (1, 5, HOST, 0, gntst::BAD_GNTREF),              // neither host nor device map
        (1, 5, HOST, rw | gntmap::DEVICE_MAP, gntst::GENERAL_ERROR),
    ] {
        let out = map(&mut d0, map_op(dom, gref, host, fl));
        assert_eq!(out.status, want, "d{dom} ref {gref} at {host:#x}");
    }
    for gref in [2, 3, 4, 5, 6] {
        let f = flags(&mut d1, gref);
        assert_eq!(
            f & (gtf::READING | gtf::WRITING),
            0,
            "ref {gref} left marked"
        );
    }
    assert!(!d0.m().s2.contains_key(&HOST));
    assert_eq!(d0.xen.gnttab.active_entries(), 0);
    // A read-only entry maps read-only.
    let m = map(&mut d0, map_op(1, 3, HOST, rw | gntmap::READONLY));
    assert_eq!(m.status, gntst::OKAY);
    assert_eq!(
        flags(&mut d1, 3),
        gtf::PERMIT_ACCESS | gtf::READONLY | gtf::READING
    );
    // Not at an address already holding a grant.
    let again = map(&mut d0, map_op(1, 5, HOST, rw));
    assert_eq!(again.status, gntst::GENERAL_ERROR);
    assert_eq!(flags(&mut d1, 5), gtf::PERMIT_ACCESS);
    // Unmap: a wrong host address or bus address keeps the mapping.
    assert_eq!(unmap(&mut d0, m.handle, HOST + 3), gntst::GENERAL_ERROR);
    let bad_bus = GnttabUnmapGrantRef {
        host_addr: HOST << 12,
        dev_bus_addr: 0x1000,
        handle: m.handle,
        ..Default::default()
    };
    assert_eq!(
        gnttab(&mut d0, gnttabop::UNMAP_GRANT_REF, &[bad_bus]).1[0].status,
        gntst::GENERAL_ERROR
    );
    assert!(d0.m().s2.contains_key(&HOST));
    assert_eq!(unmap(&mut d0, u32::MAX, HOST), gntst::BAD_HANDLE);
    assert_eq!(unmap(&mut d0, m.handle, HOST), gntst::OKAY);
    assert_eq!(flags(&mut d1, 3), gtf::PERMIT_ACCESS | gtf::READONLY);
}

fn domid_invalid() -> u16 {
    0x7ff4
}

#[test]
fn a_domu_still_maps_nothing_of_another_domain() {
    let (mut d0, mut d1) = pair();
    // Dom0 grants its page to the DomU: the DomU still cannot map it
    // (snowvisor lets only Dom0 map another domain's grants).
    assert_eq!(
        add_to_physmap(&mut d0, xenmem::SPACE_GRANT_TABLE, 0, GNTTAB_GFN),
        0
    );
    grant(&mut d0, 8, gtf::PERMIT_ACCESS, 1, Guest::gfn(0x40));
    let out = map(&mut d1, map_op(0, 8, HOST, gntmap::HOST_MAP));
    assert_eq!(out.status, gntst::GENERAL_ERROR);
    assert_eq!(flags(&mut d0, 8), gtf::PERMIT_ACCESS);
    assert!(!d1.m().s2.contains_key(&HOST));
}

#[test]
fn dom0_reads_a_domus_xenstore_parameters_only() {
    let (mut d0, mut d1) = pair();
    d1.xen.set_xenstore(3, u64::MAX);
    d0.m()
        .foreign_params
        .insert((1, hvmop::PARAM_STORE_EVTCHN), 3);
    d0.m()
        .foreign_params
        .insert((1, hvmop::PARAM_STORE_PFN), u64::MAX);
    let p = |domid, index| XenHvmParam {
        domid,
        index,
        ..Default::default()
    };
    let get = |g: &mut Guest, d, i| op(g, hc::HVM_OP, hvmop::GET_PARAM, &p(d, i));
    assert_eq!(
        get(&mut d0, 1, hvmop::PARAM_STORE_EVTCHN),
        (
            0,
            XenHvmParam {
                value: 3,
                ..p(1, 2)
            }
        )
    );
    assert_eq!(get(&mut d0, 1, hvmop::PARAM_STORE_PFN).1.value, u64::MAX);
    assert_eq!(
        get(&mut d0, 1, hvmop::PARAM_CALLBACK_IRQ).0,
        Errno::EPERM.ret()
    );
    assert_eq!(
        get(&mut d0, 5, hvmop::PARAM_STORE_EVTCHN).0,
        Errno::ESRCH.ret()
    );
    // Dom0 sets the DomU's STORE_PFN once xenstored knows it (as
    // init-dom0less does); nothing else of it.
    let set = |g: &mut Guest, d, i, value| {
        op(
            g,
            hc::HVM_OP,
            hvmop::SET_PARAM,
            &XenHvmParam { value, ..p(d, i) },
        )
        .0
    };
    assert_eq!(
        set(&mut d0, 1, hvmop::PARAM_CALLBACK_IRQ, 5),
        Errno::EPERM.ret()
    );
    assert_eq!(
        set(&mut d0, 1, hvmop::PARAM_STORE_EVTCHN, 5),
        Errno::EPERM.ret()
    );
    assert_eq!(
        set(&mut d0, 6, hvmop::PARAM_STORE_PFN, 5),
        Errno::ESRCH.ret()
    );
    assert_eq!(
        get(&mut d1, domid::SELF, hvmop::PARAM_STORE_PFN).1.value,
        u64::MAX
    );
    assert_eq!(set(&mut d0, 1, hvmop::PARAM_STORE_PFN, 0x39001), 0);
    assert_eq!(get(&mut d0, 1, hvmop::PARAM_STORE_PFN).1.value, 0x39001);
    // The DomU reads its own, as Linux's xenbus_init and xenbus_late_init do.
    assert_eq!(
        get(&mut d1, domid::SELF, hvmop::PARAM_STORE_EVTCHN).1.value,
        3
    );
    assert_eq!(
        get(&mut d1, domid::SELF, hvmop::PARAM_STORE_PFN).1.value,
        0x39001
    );
    // It sets none of its own.
    assert_eq!(
        set(&mut d1, domid::SELF, hvmop::PARAM_STORE_PFN, 1),
        Errno::EPERM.ret()
    );
    assert_eq!(
        set(&mut d1, 0, hvmop::PARAM_STORE_PFN, 1),
        Errno::EPERM.ret()
    );
    assert_eq!(
        get(&mut d1, 0, hvmop::PARAM_STORE_EVTCHN).0,
        Errno::EPERM.ret()
    );
}

#[test]
fn a_domu_and_dom0_read_its_pv_console_parameters() {
    let (mut d0, mut d1) = pair();
    let p = |domid, index| XenHvmParam {
        domid,
        index,
        ..Default::default()
    };
    let get = |g: &mut Guest, d, i| op(g, hc::HVM_OP, hvmop::GET_PARAM, &p(d, i));
    // No console given: both read 0, which hvc_xen takes as "none".
    for i in [hvmop::PARAM_CONSOLE_EVTCHN, hvmop::PARAM_CONSOLE_PFN] {
        assert_eq!(get(&mut d1, domid::SELF, i), (0, p(domid::SELF, i)));
        assert_eq!(get(&mut d0, 1, i), (0, p(1, i)), "nothing kept for d1");
    }
    // Its console: port 2 unbound for Dom0, the ring at GUEST_MAGIC_BASE.
    d1.xen.set_console(2, 0x39000);
    d0.m()
        .foreign_params
        .insert((1, hvmop::PARAM_CONSOLE_EVTCHN), 2);
    d0.m()
        .foreign_params
        .insert((1, hvmop::PARAM_CONSOLE_PFN), 0x39000);
    assert_eq!(
        get(&mut d1, domid::SELF, hvmop::PARAM_CONSOLE_EVTCHN)
            .1
            .value,
        2
    );
    assert_eq!(
        get(&mut d1, domid::SELF, hvmop::PARAM_CONSOLE_PFN).1.value,
        0x39000
    );
    assert_eq!(get(&mut d1, domid::SELF, hvmop::PARAM_STORE_PFN).1.value, 0);
    assert_eq!(get(&mut d0, 1, hvmop::PARAM_CONSOLE_EVTCHN).1.value, 2);
    assert_eq!(get(&mut d0, 1, hvmop::PARAM_CONSOLE_PFN).1.value, 0x39000);
    assert_eq!(
        get(&mut d0, 4, hvmop::PARAM_CONSOLE_PFN).0,
        Errno::ESRCH.ret()
    );
    // Neither side changes them; the DomU reads none of Dom0's.
    let set = |g: &mut Guest, d, i| {
        op(
            g,
            hc::HVM_OP,
            hvmop::SET_PARAM,
            &XenHvmParam {
                value: 7,
                ..p(d, i)
            },
        )
        .0
    };
    for i in [hvmop::PARAM_CONSOLE_EVTCHN, hvmop::PARAM_CONSOLE_PFN] {
        assert_eq!(set(&mut d0, 1, i), Errno::EPERM.ret());
        assert_eq!(set(&mut d1, domid::SELF, i), Errno::EPERM.ret());
        assert_eq!(get(&mut d1, 0, i).0, Errno::EPERM.ret());
    }
    assert_eq!(
        get(&mut d1, domid::SELF, hvmop::PARAM_CONSOLE_PFN).1.value,
        0x39000
    );
    // Dom0's own: none.
    assert_eq!(
        get(&mut d0, domid::SELF, hvmop::PARAM_CONSOLE_EVTCHN)
            .1
            .value,
        0
    );
}

/// swiotlb-xen cleans a DomU's page Dom0 maps (xen-blkback's I/O pages,
/// handed to a non-coherent device) with `GNTTABOP_cache_flush` naming the
/// map's `dev_bus_addr`, as Xen 4.17's `cache_flush` takes a machine
/// address (`grant_map_exists`); the page is reached through Dom0's map.
/// Dom0's own frame under the map is no page of its own (`-EPERM`), and
/// once unmapped the bus address names nothing (`-EINVAL`).
#[test]
fn dom0_cleans_a_mapped_domu_page_by_its_bus_address() {
    let (mut d0, mut d1) = pair();
    let [w0, w1] = seed_entry(0, Guest::gfn(0x40) as u32);
    d1.m().poke_u32(TABLE + 8, w0);
    d1.m().poke_u32(TABLE + 12, w1);
    let m = map(&mut d0, map_op(1, 1, HOST, gntmap::HOST_MAP));
    assert_eq!(m.status, gntst::OKAY);
    let bus = m.dev_bus_addr;
    assert_eq!(bus, foreign_bus(1, 0x40));
    let fl = |a: u64, op: u32| GnttabCacheFlush {
        a,
        offset: 16,
        length: 64,
        op,
    };
    let c = gnttabop::CACHE_FLUSH;
    assert_eq!(gnttab(&mut d0, c, &[fl(bus, gntmap::CACHE_CLEAN)]).0, 0);
    assert_eq!(
        gnttab(&mut d0, c, &[fl(bus + 0x10, gntmap::CACHE_INVAL)]).0,
        0,
        "any address in the page"
    );
    assert_eq!(
        d0.m().flushes,
        [
            ((HOST << 12) + 16, 64, CacheOp::Clean),
            ((HOST << 12) + 16, 64, CacheOp::Invalidate)
        ]
    );
    assert_eq!(
        gnttab(&mut d0, c, &[fl(HOST << 12, gntmap::CACHE_CLEAN)]).0,
        Errno::EPERM.ret()
    );
    // A DomU cannot name Dom0's map.
    assert_eq!(
        gnttab(&mut d1, c, &[fl(bus, gntmap::CACHE_CLEAN)]).0,
        Errno::EINVAL.ret()
    );
    assert_eq!(unmap(&mut d0, m.handle, HOST), gntst::OKAY);
    assert_eq!(
        gnttab(&mut d0, c, &[fl(bus, gntmap::CACHE_CLEAN)]).0,
        Errno::EINVAL.ret()
    );
    assert_eq!(d0.m().flushes.len(), 2);
}
