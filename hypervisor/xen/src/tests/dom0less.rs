//! What Xen 4.17's `init-dom0less` asks of the hypervisor in Dom0 for a
//! boot-time DomU with xenstore (`tools/helpers/init-dom0less.c`, through
//! libxc and libxenforeignmemory): `XEN_DOMCTL_max_mem`, a
//! `XENMEM_populate_physmap` of the xenstore page, foreign maps of it
//! (`XENMEM_add_to_physmap_batch`, `XENMAPSPACE_gmfn_foreign`) and of the
//! DomU's grant table (`XENMEM_acquire_resource`, `xc_dom_gnttab_seed`),
//! each undone by Dom0's `XENMEM_remove_from_physmap`; a DomU gets none of
//! it.

use super::super::abi::layout::*;
use super::super::abi::{domctl, domid, hc, xenmem, Errno};
use super::super::guest::GFN_LIMIT;
use super::super::testing::*;
use super::*;

/// The DomU's xenstore page: GUEST_MAGIC_BASE + 1 page, backed (in the
/// model) by its RAM page 0xf0.
const STORE_GFN: u64 = 0x39001;
const STORE_PAGE: usize = 0xf0;
/// Holes in Dom0's IPA space (privcmd's pages).
const HOST: u64 = 0x50000;

/// Dom0 and DomU 1 with its xenstore page (not connected yet) and its grant
/// frame 0.
fn pair() -> (Guest, Guest) {
    let (d0, mut d1) = Guest::pair(1);
    assert_eq!(
        add_to_physmap(&mut d1, xenmem::SPACE_GRANT_TABLE, 0, GNTTAB_GFN),
        0
    );
    {
        let mut m = d1.m();
        m.xenstore_page = Some((STORE_GFN, STORE_PAGE));
        m.s2.insert(
            STORE_GFN,
            S2 {
                backing: Backing::Ram(STORE_PAGE),
                writable: true,
            },
        );
    }
    (d0, d1)
}

fn populate(g: &mut Guest, dom: u16, gfn: u64) -> i32 {
    let r = XenMemoryReservation {
        domid: dom,
        ..one_extent(g, gfn)
    };
    op(g, hc::MEMORY_OP, xenmem::POPULATE_PHYSMAP, &r).0
}

/// `add_to_physmap_batch` of `od`'s `idxs` at Dom0's `gpfns`; r0 and the
/// per-page errors.
fn map_batch(g: &mut Guest, od: u16, pages: &[(u64, u64)]) -> (i32, Vec<i32>) {
    let (idxs, gpfns, errs) = (
        Guest::kva(0x13, 0),
        Guest::kva(0x14, 0),
        Guest::kva(0x15, 0),
    );
    for (i, &(idx, gpfn)) in pages.iter().enumerate() {
        g.put(idxs + 8 * i as u32, &XenPfn { pfn: idx });
        g.put(gpfns + 8 * i as u32, &XenPfn { pfn: gpfn });
        g.put(errs + 4 * i as u32, &XenErr { err: 1 });
    }
    let b = XenAddToPhysmapBatch {
        domid: domid::SELF,
        space: xenmem::SPACE_GMFN_FOREIGN as u16,
        size: pages.len() as u16,
        foreign_domid: od,
        idxs: u64::from(idxs),
        gpfns: u64::from(gpfns),
        errs: u64::from(errs),
    };
    let r = op(g, hc::MEMORY_OP, xenmem::ADD_TO_PHYSMAP_BATCH, &b).0;
    let e = (0..pages.len())
        .map(|i| g.get::<XenErr>(errs + 4 * i as u32).err)
        .collect();
    (r, e)
}

fn remove(g: &mut Guest, dom: u16, gpfn: u64) -> i32 {
    let x = XenRemoveFromPhysmap { domid: dom, gpfn };
    op(g, hc::MEMORY_OP, xenmem::REMOVE_FROM_PHYSMAP, &x).0
}

fn max_mem(g: &mut Guest, dom: u16, kb: u64) -> i32 {
    let mut d = XenDomctl {
        cmd: domctl::MAX_MEM,
        interface_version: domctl::INTERFACE_VERSION,
        domain: dom,
        ..Default::default()
    };
    d.u[0] = kb;
    g.put(ARG, &d);
    g.call(hc::DOMCTL, [ARG, 0, 0, 0, 0])
}

fn acquire(g: &mut Guest, r: XenMemAcquireResource) -> (i32, XenMemAcquireResource) {
    op(g, hc::MEMORY_OP, xenmem::ACQUIRE_RESOURCE, &r)
}

fn grant_table(dom: u16, frame: u64, nr_frames: u32, list: u32) -> XenMemAcquireResource {
    XenMemAcquireResource {
        domid: dom,
        ty: xenmem::RESOURCE_GRANT_TABLE,
        id: xenmem::RESOURCE_GRANT_TABLE_ID_SHARED,
        nr_frames,
        frame,
        frame_list: u64::from(list),
        ..Default::default()
    }
}

#[test]
fn dom0_raises_a_domus_max_mem() {
    let (mut d0, mut d1) = pair();
    assert_eq!(max_mem(&mut d0, 1, 256 * 1024 + 4), 0);
    assert_eq!(d1.m().max_pages, Some(0x10001));
    assert_eq!(max_mem(&mut d0, 1, u64::MAX), 0);
    assert_eq!(d1.m().max_pages, Some(u64::from(u32::MAX)), "Xen's cap");
    assert_eq!(max_mem(&mut d0, 9, 4), Errno::ESRCH.ret());
    assert_eq!(max_mem(&mut d0, 0, 4), Errno::ENOSYS.ret(), "its own");
    assert_eq!(max_mem(&mut d1, 0, 4), Errno::EPERM.ret());
    assert_eq!(max_mem(&mut d1, 1, 4), Errno::EPERM.ret());
    assert_eq!(d1.m().max_pages, Some(u64::from(u32::MAX)));
}

fn set_handle(g: &mut Guest, dom: u16, h: [u8; 16]) -> i32 {
    let mut d = XenDomctl {
        cmd: domctl::SETDOMAINHANDLE,
        interface_version: domctl::INTERFACE_VERSION,
        domain: dom,
        ..Default::default()
    };
    for (i, w) in d.u[..2].iter_mut().enumerate() {
        *w = u64::from_le_bytes(h[i * 8..i * 8 + 8].try_into().unwrap());
    }
    g.put(ARG, &d);
    g.call(hc::DOMCTL, [ARG, 0, 0, 0, 0])
}

/// `XEN_DOMCTL_getdomaininfo` of `dom`'s handle.
fn handle_of(g: &mut Guest, dom: u16) -> [u8; 16] {
    let d = XenDomctl {
        cmd: domctl::GETDOMAININFO,
        interface_version: domctl::INTERFACE_VERSION,
        domain: dom,
        ..Default::default()
    };
    g.put(ARG, &d);
    assert_eq!(g.call(hc::DOMCTL, [ARG, 0, 0, 0, 0]), 0);
    g.get::<XenDomctlGetdomaininfo>(ARG + DOMCTL_U as u32)
        .handle
}

#[test]
fn dom0_sets_a_domus_handle() {
    let (mut d0, mut d1) = pair();
    let uuid: [u8; 16] = core::array::from_fn(|i| 0xa0 + i as u8);
    assert_eq!(handle_of(&mut d0, 1), [0; 16]);
    assert_eq!(set_handle(&mut d0, 1, uuid), 0);
    assert_eq!(handle_of(&mut d0, 1), uuid);
    assert_eq!(set_handle(&mut d0, 0, uuid), Errno::ENOSYS.ret(), "its own");
    assert_eq!(handle_of(&mut d0, 0), [0; 16]);
    assert_eq!(set_handle(&mut d0, 6, uuid), Errno::ESRCH.ret());
    assert_eq!(set_handle(&mut d1, 1, [1; 16]), Errno::EPERM.ret());
    assert_eq!(set_handle(&mut d1, 0, [1; 16]), Errno::EPERM.ret());
    assert_eq!(handle_of(&mut d0, 1), uuid);
}

#[test]
fn dom0_populates_the_unconnected_xenstore_page_only() {
    let (mut d0, mut d1) = pair();
    let at = (Guest::gfn(STORE_PAGE)) << 12;
    d1.m().poke(at + 8, b"stale");
    assert_eq!(populate(&mut d0, 1, STORE_GFN), 1);
    let mut b = [0xffu8; 16];
    d1.m().peek(at, &mut b);
    assert_eq!(b, [0; 16], "a populated page reads as zeroes");
    // Not another page: 0 extents (snowvisor does not grow a DomU).
    assert_eq!(populate(&mut d0, 1, STORE_GFN + 1), 0);
    assert_eq!(populate(&mut d0, 1, Guest::gfn(3)), 0, "its RAM");
    assert_eq!(populate(&mut d0, 1, GFN_LIMIT), 0);
    assert_eq!(populate(&mut d0, 5, STORE_GFN), Errno::ESRCH.ret());
    // Once connected the page is live: not replaced.
    d1.m().store_pfn = Some(STORE_GFN);
    d1.m().poke(at, b"live");
    assert_eq!(populate(&mut d0, 1, STORE_GFN), 0);
    d1.m().peek(at, &mut b[..4]);
    assert_eq!(&b[..4], b"live");
    // A DomU populates no other domain; Dom0's decrease of a DomU neither.
    assert_eq!(populate(&mut d1, 0, Guest::gfn(3)), Errno::EPERM.ret());
    let r = XenMemoryReservation {
        domid: 1,
        ..one_extent(&mut d0, Guest::gfn(3))
    };
    assert_eq!(
        op(&mut d0, hc::MEMORY_OP, xenmem::DECREASE_RESERVATION, &r).0,
        Errno::EPERM.ret()
    );
}

#[test]
fn dom0_maps_a_domus_pages_and_removes_them() {
    let (mut d0, mut d1) = pair();
    let (r, e) = map_batch(
        &mut d0,
        1,
        &[
            (STORE_GFN, HOST),
            (Guest::gfn(2), HOST + 1),
            (GNTTAB_GFN, HOST + 2),
            (0x8000, HOST + 3),
            (GFN_LIMIT, HOST + 4),
            (Guest::gfn(2), GFN_LIMIT),
            (Guest::gfn(2), HOST),
        ],
    );
    assert_eq!(r, 0);
    assert_eq!(
        e,
        [
            0,
            0,
            Errno::EINVAL.ret(), // its grant frame is no page of its
            Errno::EINVAL.ret(), // MMIO / a hole
            Errno::EINVAL.ret(),
            Errno::EINVAL.ret(),
            Errno::EBUSY.ret(), // over a foreign map
        ]
    );
    assert_eq!(
        d0.m().s2[&HOST],
        S2 {
            backing: Backing::Foreign(1, STORE_PAGE),
            writable: true
        }
    );
    assert_eq!(d0.m().s2[&(HOST + 1)].backing, Backing::Foreign(1, 2));
    // Not over what the hypervisor uses (Dom0's shared_info).
    events_ready(&mut d0);
    let (_, e) = map_batch(&mut d0, 1, &[(Guest::gfn(4), Guest::gfn(SI_PAGE))]);
    assert_eq!(e, [Errno::EBUSY.ret()]);
    // Unmapped by Dom0's remove_from_physmap: a hole, once.
    assert_eq!(remove(&mut d0, domid::SELF, HOST), 0);
    assert!(!d0.m().s2.contains_key(&HOST));
    assert_eq!(remove(&mut d0, 0, HOST), Errno::ENOSYS.ret(), "once");
    assert_eq!(
        remove(&mut d0, domid::SELF, Guest::gfn(5)),
        Errno::ENOSYS.ret(),
        "its own RAM stays"
    );
    assert!(d0.m().s2.contains_key(&Guest::gfn(5)));
    assert_eq!(remove(&mut d0, 1, Guest::gfn(2)), Errno::EPERM.ret());
    assert_eq!(remove(&mut d0, 0, HOST + 1), 0);
    // The slot may be used again.
    assert_eq!(map_batch(&mut d0, 1, &[(STORE_GFN, HOST)]).1, [0]);
    // The DomU maps nothing of Dom0's, and unmaps nothing of its own RAM.
    assert_eq!(
        map_batch(&mut d1, 0, &[(Guest::gfn(2), HOST)]).1,
        [Errno::EPERM.ret()]
    );
    assert!(!d1.m().s2.contains_key(&HOST));
    assert_eq!(
        remove(&mut d1, domid::SELF, Guest::gfn(2)),
        Errno::ENOSYS.ret()
    );
}

#[test]
fn a_long_foreign_batch_is_continued() {
    let (mut d0, _d1) = pair();
    let pages: Vec<(u64, u64)> = (0..100).map(|i| (Guest::gfn(i), HOST + i as u64)).collect();
    let (r, e) = map_batch(&mut d0, 1, &pages);
    assert_eq!(r, 0);
    assert!(e.iter().all(|&x| x == 0), "{e:?}");
    assert_eq!(d0.continuations, 1);
    assert_eq!(d0.m().s2[&(HOST + 99)].backing, Backing::Foreign(1, 99));
}

#[test]
fn dom0_acquires_a_domus_grant_table() {
    let (mut d0, mut d1) = pair();
    let list = Guest::kva(0x16, 0);
    // The size: a NULL frame_list.
    let (r, out) = acquire(&mut d0, grant_table(1, 0, 0, 0));
    assert_eq!((r, out.nr_frames), (0, 64));
    assert_eq!(
        acquire(&mut d0, grant_table(1, 0, 1, 0)).0,
        Errno::EINVAL.ret()
    );
    // Frame 0 at Dom0's HOST: the DomU's table, writable.
    d0.put(list, &XenPfn { pfn: HOST });
    assert_eq!(acquire(&mut d0, grant_table(1, 0, 1, list)).0, 0);
    assert_eq!(
        d0.m().s2[&HOST],
        S2 {
            backing: Backing::Foreign(1, FOREIGN_GRANT_FRAME),
            writable: true
        }
    );
    // Frame 1 was never set up; frame 64 is past the table.
    d0.put(list, &XenPfn { pfn: HOST + 1 });
    for f in [1, 64] {
        assert_eq!(
            acquire(&mut d0, grant_table(1, f, 1, list)).0,
            Errno::EINVAL.ret(),
            "frame {f}"
        );
    }
    // A failure after the first frame is -EIO.
    d0.put(list + 8, &XenPfn { pfn: HOST + 2 });
    assert_eq!(
        acquire(&mut d0, grant_table(1, 0, 2, list)).0,
        Errno::EIO.ret()
    );
    assert!(!d0.m().s2.contains_key(&(HOST + 2)));
    // Not over a mapped frame; removed like the other foreign maps.
    d0.put(list, &XenPfn { pfn: HOST });
    assert_eq!(
        acquire(&mut d0, grant_table(1, 0, 1, list)).0,
        Errno::EBUSY.ret()
    );
    assert_eq!(remove(&mut d0, domid::SELF, HOST), 0);
    assert!(!d0.m().s2.contains_key(&HOST));
    // Other resources and ids; bad arguments in Xen's order.
    let status = XenMemAcquireResource {
        id: 1,
        ..grant_table(1, 0, 1, list)
    };
    assert_eq!(acquire(&mut d0, status).0, Errno::EINVAL.ret());
    let ioreq = XenMemAcquireResource {
        ty: 0,
        ..grant_table(1, 0, 1, list)
    };
    assert_eq!(acquire(&mut d0, ioreq).0, Errno::EOPNOTSUPP.ret());
    for (r, e) in [
        (grant_table(1, 1 << 32, 1, list), Errno::EINVAL),
        (grant_table(1, u64::from(u32::MAX), 1, list), Errno::EINVAL),
        (grant_table(0, 0, 1, list), Errno::EPERM),
        (grant_table(domid::SELF, 0, 1, list), Errno::ESRCH),
        (grant_table(8, 0, 1, list), Errno::ESRCH),
    ] {
        assert_eq!(acquire(&mut d0, r).0, e.ret(), "{r:?}");
    }
    // A DomU acquires nothing.
    assert_eq!(
        acquire(&mut d1, grant_table(0, 0, 1, list)).0,
        Errno::EPERM.ret()
    );
}
