//! Grant copy, cache flush, table size/version, and batching.

use super::super::abi::layout::*;
use super::super::abi::{domid, gntmap, gntst, gnttabop, gtf, hc, xenmem, Errno};
use super::super::testing::*;
use super::super::{CacheOp, XenConfig};
use super::grants::{flags, grant, map_op, ready, HOST, TABLE};
use super::*;

fn copy_op(src: (u64, u16), dst: (u64, u16), len: u16, flags: u16) -> GnttabCopy {
    let ptr = |(u, offset): (u64, u16)| GnttabCopyPtr {
        u,
        domid: domid::SELF,
        offset,
        pad: [0; 4],
    };
    GnttabCopy {
        source: ptr(src),
        dest: ptr(dst),
        len,
        flags,
        status: 99,
        pad: [0; 2],
    }
}

#[test]
fn grant_copy() {
    let mut g = ready(XenConfig::dom0(1, true));
    g.put_bytes(Guest::kva(0x40, 100), b"0123456789");
    grant(
        &mut g,
        8,
        gtf::PERMIT_ACCESS | gtf::READONLY,
        0,
        Guest::gfn(0x40),
    );
    grant(&mut g, 9, gtf::PERMIT_ACCESS, 0, Guest::gfn(0x41));
    let src_gref = gntmap::COPY_SOURCE_GREF;
    let dst_gref = gntmap::COPY_DEST_GREF;
    let ops = [
        copy_op((8, 100), (Guest::gfn(0x42), 0), 10, src_gref),
        copy_op((Guest::gfn(0x40), 102), (9, 4090), 6, dst_gref),
        copy_op((8, 0), (8, 0), 1, src_gref | dst_gref), // read-only as destination
        copy_op((8, 4095), (Guest::gfn(0x42), 0), 2, src_gref),
        copy_op((Guest::gfn(0x40), 0), (Guest::gfn(0x42), 4000), 97, 0),
        copy_op((HYP_IPA >> 12, 0), (Guest::gfn(0x42), 0), 4, 0),
        copy_op((Guest::gfn(0x40), 0), (0x1234_5678, 0), 4, 0),
        copy_op((u64::MAX, 0), (Guest::gfn(0x42), 0), 4, 0),
        copy_op((600, 0), (Guest::gfn(0x42), 0), 4, src_gref),
        copy_op((Guest::gfn(0x40), 0), (Guest::gfn(0x42), 0), 0, 0),
    ];
    let (r, out) = gnttab(&mut g, gnttabop::COPY, &ops);
    assert_eq!(r, 0);
    let st: alloc::vec::Vec<i16> = out.iter().map(|o| o.status).collect();
    use gntst::*;
    assert_eq!(
        st,
        [
            OKAY,
            OKAY,
            GENERAL_ERROR,
            BAD_COPY_ARG,
            BAD_COPY_ARG,
            BAD_PAGE,
            BAD_PAGE,
            BAD_PAGE,
            BAD_GNTREF,
            OKAY
        ]
    );
    assert_eq!(g.get_bytes(Guest::kva(0x42, 0), 10), b"0123456789");
    assert_eq!(g.get_bytes(Guest::kva(0x41, 4090), 6), b"234567");
    assert_eq!(
        flags(&mut g, 8),
        gtf::PERMIT_ACCESS | gtf::READONLY,
        "copy pins released"
    );
    assert_eq!(flags(&mut g, 9), gtf::PERMIT_ACCESS);
    // Foreign domains on either side: a frame only of DOMID_SELF (Xen's
    // `gnttab_copy_lock_domain`), a ref of a domain that does not exist.
    let mut foreign = copy_op((8, 0), (Guest::gfn(0x42), 0), 1, src_gref);
    foreign.dest.domid = 3;
    assert_eq!(
        gnttab(&mut g, gnttabop::COPY, &[foreign]).1[0].status,
        PERMISSION_DENIED
    );
    let mut foreign = copy_op((8, 0), (9, 0), 1, src_gref | dst_gref);
    foreign.dest.domid = 3;
    assert_eq!(
        gnttab(&mut g, gnttabop::COPY, &[foreign]).1[0].status,
        BAD_DOMAIN
    );
    assert_eq!(
        flags(&mut g, 8),
        gtf::PERMIT_ACCESS | gtf::READONLY,
        "source released on dest error"
    );
}

#[test]
fn overlapping_copy_is_a_memmove() {
    let mut g = ready(XenConfig::dom0(1, true));
    let data: alloc::vec::Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    g.put_bytes(Guest::kva(0x40, 0), &data);
    let f = Guest::gfn(0x40);
    let (r, out) = gnttab(&mut g, gnttabop::COPY, &[copy_op((f, 0), (f, 300), 700, 0)]);
    assert_eq!((r, out[0].status), (0, gntst::OKAY));
    assert_eq!(g.get_bytes(Guest::kva(0x40, 300), 700), data[..700]);
    let (_, out) = gnttab(
        &mut g,
        gnttabop::COPY,
        &[copy_op((f, 300), (f, 10), 700, 0)],
    );
    assert_eq!(out[0].status, gntst::OKAY);
    assert_eq!(g.get_bytes(Guest::kva(0x40, 10), 700), data[..700]);
}

#[test]
fn cache_flush() {
    let mut g = ready(XenConfig::dom0(1, true));
    let page = Guest::gfn(0x40) << 12;
    let fl = |a: u64, offset: u16, length: u16, op: u32| GnttabCacheFlush {
        a,
        offset,
        length,
        op,
    };
    let c = gnttabop::CACHE_FLUSH;
    assert_eq!(
        gnttab(
            &mut g,
            c,
            &[fl(
                page + 5,
                16,
                64,
                gntmap::CACHE_CLEAN | gntmap::CACHE_INVAL
            )]
        )
        .0,
        0
    );
    assert_eq!(
        gnttab(&mut g, c, &[fl(page, 0, 4096, gntmap::CACHE_INVAL)]).0,
        0
    );
    assert_eq!(
        gnttab(&mut g, c, &[fl(page, 4095, 1, gntmap::CACHE_CLEAN)]).0,
        0
    );
    assert_eq!(
        g.m().flushes,
        [
            (page + 16, 64, CacheOp::CleanInvalidate),
            (page, 4096, CacheOp::Invalidate),
            (page + 4095, 1, CacheOp::Clean)
        ]
    );
    let inval = Errno::EINVAL.ret();
    for bad in [
        fl(page, 4096, 0, 1),
        fl(page, 0, 4097, 1),
        fl(page, 4000, 97, 1),
        fl(page, 0, 1, 4),
        fl(page, 0, 1, gntmap::CACHE_SOURCE_GREF | 1),
        fl(HYP_IPA, 0, 1, 1),
        fl(0x50_0000_0000, 0, 1, 1),
        fl(u64::MAX, 0, 1, 1),
    ] {
        assert_eq!(gnttab(&mut g, c, &[bad]).0, inval, "{bad:?}");
    }
    // A no-op still validates nothing further and returns 0 (Linux's probe).
    assert_eq!(gnttab(&mut g, c, &[fl(u64::MAX, 0, 0, 1)]).0, 0);
    assert_eq!(g.m().flushes.len(), 3);
}

#[test]
fn table_size_and_version_ops() {
    let mut g = ready(XenConfig {
        max_grant_frames: 8,
        ..XenConfig::dom0(1, true)
    });
    let q = GnttabQuerySize {
        dom: domid::SELF,
        ..Default::default()
    };
    let (r, out) = gnttab(&mut g, gnttabop::QUERY_SIZE, &[q]);
    assert_eq!(
        (r, out[0].status, out[0].nr_frames, out[0].max_nr_frames),
        (0, 0, 1, 8)
    );
    assert_eq!(
        gnttab(&mut g, gnttabop::QUERY_SIZE, &[q, q]).0,
        Errno::EINVAL.ret()
    );
    assert_eq!(
        gnttab::<GnttabQuerySize>(&mut g, gnttabop::QUERY_SIZE, &[]).0,
        Errno::EINVAL.ret()
    );
    let (r, out) = gnttab(
        &mut g,
        gnttabop::QUERY_SIZE,
        &[GnttabQuerySize { dom: 4, ..q }],
    );
    assert_eq!((r, out[0].status), (0, gntst::BAD_DOMAIN));

    // Growing: frame 5 makes the table 6 frames long.
    assert_eq!(
        add_to_physmap(&mut g, xenmem::SPACE_GRANT_TABLE, 5, GNTTAB_GFN + 5),
        0
    );
    assert_eq!(gnttab(&mut g, gnttabop::QUERY_SIZE, &[q]).1[0].nr_frames, 6);
    assert_eq!(
        add_to_physmap(&mut g, xenmem::SPACE_GRANT_TABLE, 8, GNTTAB_GFN + 8),
        Errno::EINVAL.ret()
    );
    let status_frame = xenmem::IDX_GRANT_TABLE_STATUS;
    assert_eq!(
        add_to_physmap(
            &mut g,
            xenmem::SPACE_GRANT_TABLE,
            status_frame,
            GNTTAB_GFN + 9
        ),
        Errno::EINVAL.ret()
    );

    // Moving a frame keeps its contents.
    g.m().poke_u32(TABLE + 16, 0xabcd);
    assert_eq!(
        add_to_physmap(&mut g, xenmem::SPACE_GRANT_TABLE, 0, GNTTAB_GFN + 20),
        0
    );
    assert_eq!(g.m().peek_u32(((GNTTAB_GFN + 20) << 12) + 16), 0xabcd);
    assert!(!g.m().s2.contains_key(&GNTTAB_GFN));

    for (v, want) in [
        (1, 0),
        (2, Errno::ENOSYS.ret()),
        (0, Errno::EINVAL.ret()),
        (u32::MAX, Errno::EINVAL.ret()),
    ] {
        let (r, out) = gnttab(
            &mut g,
            gnttabop::SET_VERSION,
            &[GnttabSetVersion { version: v }],
        );
        assert_eq!((r, out[0].version), (want, 1), "set_version({v})");
    }
    let (r, out) = gnttab(
        &mut g,
        gnttabop::GET_VERSION,
        &[GnttabGetVersion {
            dom: domid::SELF,
            ..Default::default()
        }],
    );
    assert_eq!((r, out[0].version), (0, 1));
    let (r, _) = gnttab(
        &mut g,
        gnttabop::GET_VERSION,
        &[GnttabGetVersion {
            dom: 1,
            ..Default::default()
        }],
    );
    assert_eq!(r, Errno::ESRCH.ret());
    assert_eq!(
        gnttab(
            &mut g,
            gnttabop::SETUP_TABLE,
            &[GnttabSetupTable::default()]
        )
        .0,
        Errno::ENOSYS.ret()
    );
    assert_eq!(
        gnttab(&mut g, 99, &[GnttabSetVersion::default()]).0,
        Errno::ENOSYS.ret()
    );
}

#[test]
fn large_batches_are_continued() {
    let mut g = ready(XenConfig::dom0(1, true));
    for i in 0..200 {
        grant(&mut g, 8 + i, gtf::PERMIT_ACCESS, 0, Guest::gfn(0x40));
    }
    let ops: alloc::vec::Vec<_> = (0..200)
        .map(|i| map_op(8 + i, HOST + u64::from(i), gntmap::HOST_MAP))
        .collect();
    let (r, out) = gnttab(&mut g, gnttabop::MAP_GRANT_REF, &ops);
    assert_eq!(r, 0);
    assert_eq!(g.continuations, 3);
    assert!(out
        .iter()
        .enumerate()
        .all(|(i, m)| m.status == 0 && m.handle == i as u32));
    let un: alloc::vec::Vec<_> = out
        .iter()
        .map(|m| GnttabUnmapGrantRef {
            host_addr: m.host_addr,
            handle: m.handle,
            ..Default::default()
        })
        .collect();
    let (r, out) = gnttab(&mut g, gnttabop::UNMAP_GRANT_REF, &un);
    assert_eq!(r, 0);
    assert!(out.iter().all(|u| u.status == 0));
    assert!((8..208).all(|r| flags(&mut g, r) == gtf::PERMIT_ACCESS));
    // The first continuation carries the advanced pointer and the rest of the count.
    g.put(ARG, &ops[0]);
    let o = g.call_once(hc::GRANT_TABLE_OP, [gnttabop::COPY, ARG, 65, 7, 9]);
    assert_eq!(
        o,
        super::super::Outcome::Continue([gnttabop::COPY, ARG + 64 * 40, 1, 7, 9])
    );
}
