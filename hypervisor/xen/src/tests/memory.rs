//! memory_op: Xen frames in the physmap, and the balloon calls.

use super::super::abi::layout::*;
use super::super::abi::{domid, hc, xenmem, Errno};
use super::super::testing::*;
use super::*;

#[test]
fn add_to_physmap_rules() {
    let mut g = Guest::dom0();
    let si = Guest::gfn(SI_PAGE);
    let x = |domid, space, idx, gpfn| XenAddToPhysmap {
        domid,
        size: 0,
        space,
        idx,
        gpfn,
    };
    let cases = [
        (x(1, xenmem::SPACE_SHARED_INFO, 0, si), Errno::ESRCH),
        (
            x(domid::XEN, xenmem::SPACE_SHARED_INFO, 0, si),
            Errno::ESRCH,
        ),
        (
            x(domid::SELF, xenmem::SPACE_SHARED_INFO, 1, si),
            Errno::EINVAL,
        ),
        (
            x(domid::SELF, xenmem::SPACE_SHARED_INFO, 0, 1 << 28),
            Errno::EINVAL,
        ),
        (
            x(domid::SELF, xenmem::SPACE_SHARED_INFO, 0, u64::MAX),
            Errno::EINVAL,
        ),
        (
            x(domid::SELF, xenmem::SPACE_SHARED_INFO, 0, HYP_IPA >> 12),
            Errno::EINVAL,
        ),
        (
            x(domid::SELF, xenmem::SPACE_SHARED_INFO, 0, 0x1234),
            Errno::EINVAL,
        ), // not RAM: the platform refuses
        (
            x(domid::SELF, xenmem::SPACE_GRANT_TABLE, 64, GNTTAB_GFN),
            Errno::EINVAL,
        ),
        (
            x(domid::SELF, xenmem::SPACE_GRANT_TABLE, u64::MAX, GNTTAB_GFN),
            Errno::EINVAL,
        ),
        (
            x(domid::SELF, xenmem::SPACE_GRANT_TABLE, 0, HYP_IPA >> 12),
            Errno::EINVAL,
        ),
        (x(domid::SELF, xenmem::SPACE_GMFN, 0, si), Errno::ENOSYS),
        (
            x(domid::SELF, xenmem::SPACE_GMFN_FOREIGN, 0, si),
            Errno::ENOSYS,
        ),
        (x(domid::SELF, xenmem::SPACE_DEV_MMIO, 0, si), Errno::ENOSYS),
        (x(domid::SELF, 77, 0, si), Errno::ENOSYS),
    ];
    for (a, e) in cases {
        assert_eq!(
            op(&mut g, hc::MEMORY_OP, xenmem::ADD_TO_PHYSMAP, &a).0,
            e.ret(),
            "{a:?}"
        );
    }
    assert_eq!(add_to_physmap(&mut g, xenmem::SPACE_SHARED_INFO, 0, si), 0);
    assert_eq!(
        add_to_physmap(&mut g, xenmem::SPACE_SHARED_INFO, 0, si),
        0,
        "again at the same place"
    );
    assert_eq!(
        add_to_physmap(&mut g, xenmem::SPACE_GRANT_TABLE, 0, si),
        Errno::EBUSY.ret(),
        "over shared_info"
    );
    assert_eq!(
        add_to_physmap(&mut g, xenmem::SPACE_GRANT_TABLE, 0, GNTTAB_GFN),
        0
    );
    assert_eq!(
        add_to_physmap(&mut g, xenmem::SPACE_GRANT_TABLE, 1, GNTTAB_GFN),
        Errno::EBUSY.ret()
    );
    assert_eq!(
        add_to_physmap(&mut g, xenmem::SPACE_SHARED_INFO, 0, GNTTAB_GFN),
        Errno::EBUSY.ret()
    );
    // A continuation start on a call that has none.
    let a = x(domid::SELF, xenmem::SPACE_SHARED_INFO, 0, si);
    assert_eq!(
        op(&mut g, hc::MEMORY_OP, xenmem::ADD_TO_PHYSMAP | 1 << 6, &a).0,
        Errno::EINVAL.ret()
    );
    assert_eq!(
        op(&mut g, hc::MEMORY_OP, xenmem::ADD_TO_PHYSMAP_BATCH, &a).0,
        Errno::ENOSYS.ret()
    );
    assert_eq!(
        op(&mut g, hc::MEMORY_OP, xenmem::INCREASE_RESERVATION, &a).0,
        Errno::ENOSYS.ret()
    );
}

/// `XENMEM_current_reservation` / `XENMEM_maximum_reservation`, with Xen
/// 4.17's checks in its order (start extent, copy, domain) and a
/// direct-mapped domain's counts: the RAM it was built with, before and
/// after ballooning.
#[test]
fn reservation_counts() {
    let mut g = Guest::dom0();
    let d = |domid| XenMemoryDomain { domid };
    let pages = RAM_PAGES as i32;
    for cmd in [xenmem::CURRENT_RESERVATION, xenmem::MAXIMUM_RESERVATION] {
        assert_eq!(op(&mut g, hc::MEMORY_OP, cmd, &d(domid::SELF)).0, pages);
        assert_eq!(op(&mut g, hc::MEMORY_OP, cmd, &d(0)).0, pages, "own id");
        for other in [1, domid::XEN, domid::IO, 0x7fff] {
            let r = op(&mut g, hc::MEMORY_OP, cmd, &d(other)).0;
            assert_eq!(r, Errno::ESRCH.ret(), "domid {other:#x}");
        }
        // A continued command is refused before the argument is read.
        g.put(ARG, &d(domid::SELF));
        let continued = cmd | (1 << xenmem::EXTENT_SHIFT);
        assert_eq!(
            g.call(hc::MEMORY_OP, [continued, ARG, 0, 0, 0]),
            Errno::EINVAL.ret()
        );
        assert_eq!(
            g.call(hc::MEMORY_OP, [cmd, 0x1000, 0, 0, 0]),
            Errno::EFAULT.ret()
        );
        assert_eq!(
            g.call(hc::MEMORY_OP, [cmd, HYP_GVA, 0, 0, 0]),
            Errno::EFAULT.ret()
        );
    }
    // Ballooning a page out changes neither count.
    let res = one_extent(&mut g, Guest::gfn(0x80));
    assert_eq!(
        op(&mut g, hc::MEMORY_OP, xenmem::DECREASE_RESERVATION, &res).0,
        1
    );
    for cmd in [xenmem::CURRENT_RESERVATION, xenmem::MAXIMUM_RESERVATION] {
        assert_eq!(op(&mut g, hc::MEMORY_OP, cmd, &d(domid::SELF)).0, pages);
    }
}

#[test]
fn reservation_calls() {
    let mut g = Guest::dom0();
    let list = Guest::kva(0x11, 0);
    let res = |n: u64| XenMemoryReservation {
        extent_start: u64::from(list),
        nr_extents: n,
        domid: domid::SELF,
        ..Default::default()
    };
    // 100 pages out (one continuation), then back.
    for i in 0..100u32 {
        g.put(
            list + i * 8,
            &XenPfn {
                pfn: Guest::gfn(0x80 + i as usize),
            },
        );
    }
    assert_eq!(
        op(
            &mut g,
            hc::MEMORY_OP,
            xenmem::DECREASE_RESERVATION,
            &res(100)
        )
        .0,
        100
    );
    assert_eq!(g.continuations, 1);
    assert_eq!(g.m().released.len(), 100);
    assert_eq!(
        op(&mut g, hc::MEMORY_OP, xenmem::DECREASE_RESERVATION, &res(1)).0,
        0,
        "already gone"
    );
    assert_eq!(
        op(&mut g, hc::MEMORY_OP, xenmem::POPULATE_PHYSMAP, &res(100)).0,
        100
    );
    assert_eq!(
        op(&mut g, hc::MEMORY_OP, xenmem::POPULATE_PHYSMAP, &res(1)).0,
        0,
        "already there"
    );
    // Stops at the first bad extent and says how many were done.
    g.put(list + 8, &XenPfn { pfn: HYP_IPA >> 12 });
    assert_eq!(
        op(&mut g, hc::MEMORY_OP, xenmem::DECREASE_RESERVATION, &res(3)).0,
        1
    );
    g.put(list + 8, &XenPfn { pfn: u64::MAX });
    assert_eq!(
        op(&mut g, hc::MEMORY_OP, xenmem::POPULATE_PHYSMAP, &res(3)).0,
        1
    );
    // shared_info and grant frames cannot be given away.
    assert_eq!(
        add_to_physmap(&mut g, xenmem::SPACE_SHARED_INFO, 0, Guest::gfn(SI_PAGE)),
        0
    );
    g.put(
        list,
        &XenPfn {
            pfn: Guest::gfn(SI_PAGE),
        },
    );
    assert_eq!(
        op(&mut g, hc::MEMORY_OP, xenmem::DECREASE_RESERVATION, &res(1)).0,
        0
    );
    // Bad arguments.
    let r = res(1);
    assert_eq!(
        op(
            &mut g,
            hc::MEMORY_OP,
            xenmem::DECREASE_RESERVATION,
            &XenMemoryReservation { domid: 3, ..r }
        )
        .0,
        Errno::ESRCH.ret()
    );
    let big = XenMemoryReservation {
        extent_order: 9,
        ..r
    };
    assert_eq!(
        op(&mut g, hc::MEMORY_OP, xenmem::DECREASE_RESERVATION, &big).0,
        Errno::EINVAL.ret()
    );
    let huge = XenMemoryReservation {
        nr_extents: u64::MAX,
        ..r
    };
    assert_eq!(
        op(&mut g, hc::MEMORY_OP, xenmem::DECREASE_RESERVATION, &huge).0,
        0
    );
    let bad_handle = XenMemoryReservation {
        extent_start: 1 << 32 | u64::from(list),
        ..r
    };
    assert_eq!(
        op(
            &mut g,
            hc::MEMORY_OP,
            xenmem::DECREASE_RESERVATION,
            &bad_handle
        )
        .0,
        Errno::EFAULT.ret()
    );
    let unmapped_list = XenMemoryReservation {
        extent_start: 0x1000,
        ..r
    };
    assert_eq!(
        op(
            &mut g,
            hc::MEMORY_OP,
            xenmem::DECREASE_RESERVATION,
            &unmapped_list
        )
        .0,
        0
    );
    // A continuation start past the end returns it unchanged.
    assert_eq!(
        op(
            &mut g,
            hc::MEMORY_OP,
            xenmem::DECREASE_RESERVATION | 5 << 6,
            &r
        )
        .0,
        5
    );
}
