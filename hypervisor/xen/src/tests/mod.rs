//! Hypercall-level tests against the guest model in `testing.rs`.

mod boot;
mod calls;
mod dom0less;
mod domctl_create;
mod domu;
mod events;
mod foreign_grants;
mod grant_copy;
mod grants;
mod hostile;
mod memory;
mod sysctl;
mod sysctl_host;

use alloc::vec::Vec;

use super::abi::layout::{VcpuRegisterVcpuInfo, XenAddToPhysmap, XenMemoryReservation, XenPfn};
use super::abi::wire::Wire;
use super::abi::{domid, hc, vcpuop, xenmem};
use super::testing::*;

/// A scratch argument area in kernel memory (RAM page 0x10).
pub const ARG: u32 = KVA_BASE + 0x10 * PAGE as u32;
pub const SI_PAGE: usize = 0x20;
pub const VI_PAGE: usize = 0x21;

pub fn si_ipa() -> u64 {
    Guest::gfn(SI_PAGE) << 12
}

pub fn vi_ipa(vcpu: u32) -> u64 {
    (Guest::gfn(VI_PAGE) << 12) + u64::from(vcpu) * 64
}

/// Puts `v` at `ARG`, issues `nr(cmd, ARG, extra...)`, returns r0 and `ARG` read back.
pub fn op<T: Wire>(g: &mut Guest, nr: u32, cmd: u32, v: &T) -> (i32, T) {
    g.put(ARG, v);
    let r = g.call(nr, [cmd, ARG, 0, 0, 0]);
    (r, g.get(ARG))
}

/// A `xen_memory_reservation` of one extent, the page at `gfn` (its list
/// written to kernel page 0x11): what gntdev balloons out before a grant map.
pub fn one_extent(g: &mut Guest, gfn: u64) -> XenMemoryReservation {
    let list = Guest::kva(0x11, 0);
    g.put(list, &XenPfn { pfn: gfn });
    XenMemoryReservation {
        extent_start: u64::from(list),
        nr_extents: 1,
        domid: domid::SELF,
        ..Default::default()
    }
}

/// `grant_table_op(cmd, ops, n)` on an array at `ARG`.
pub fn gnttab<T: Wire>(g: &mut Guest, cmd: u32, ops: &[T]) -> (i32, Vec<T>) {
    for (i, o) in ops.iter().enumerate() {
        g.put(ARG + (i * T::SIZE) as u32, o);
    }
    let r = g.call(hc::GRANT_TABLE_OP, [cmd, ARG, ops.len() as u32, 0, 0]);
    let out = (0..ops.len())
        .map(|i| g.get(ARG + (i * T::SIZE) as u32))
        .collect();
    (r, out)
}

pub fn add_to_physmap(g: &mut Guest, space: u32, idx: u64, gpfn: u64) -> i32 {
    let x = XenAddToPhysmap {
        domid: domid::SELF,
        size: 0,
        space,
        idx,
        gpfn,
    };
    op(g, hc::MEMORY_OP, xenmem::ADD_TO_PHYSMAP, &x).0
}

/// shared_info at `SI_PAGE`, every vCPU's vcpu_info in `VI_PAGE`, all ports
/// unmasked, the spurious registration event consumed.
pub fn events_ready(g: &mut Guest) {
    assert_eq!(
        add_to_physmap(g, xenmem::SPACE_SHARED_INFO, 0, Guest::gfn(SI_PAGE)),
        0
    );
    for v in 0..g.xen.config().nr_vcpus {
        let r = VcpuRegisterVcpuInfo {
            mfn: Guest::gfn(VI_PAGE),
            offset: v * 64,
            rsvd: 0,
        };
        g.put(ARG, &r);
        assert_eq!(
            g.call(hc::VCPU_OP, [vcpuop::REGISTER_VCPU_INFO, v, ARG, 0, 0]),
            0
        );
        consume_upcall(g, v);
    }
    g.injected();
}

/// Clears vCPU `v`'s `evtchn_upcall_pending` and `evtchn_pending_sel`, as the
/// guest's upcall handler does.
pub fn consume_upcall(g: &mut Guest, v: u32) {
    let vi = vi_ipa(v);
    let mut m = g.m();
    m.poke(vi, &[0]);
    m.poke_u32(vi + 8, 0);
    m.poke_u32(vi + 12, 0);
}

pub fn pending(g: &mut Guest, port: u32) -> bool {
    g.m().peek_u32(si_ipa() + 48 + u64::from(port / 32) * 4) & (1 << (port % 32)) != 0
}

pub fn set_mask(g: &mut Guest, port: u32, masked: bool) {
    let at = si_ipa() + 560 + u64::from(port / 32) * 4;
    let mut m = g.m();
    let w = m.peek_u32(at);
    m.poke_u32(
        at,
        if masked {
            w | 1 << (port % 32)
        } else {
            w & !(1 << (port % 32))
        },
    );
}

pub fn upcall(g: &mut Guest, v: u32) -> bool {
    let mut b = [0u8];
    g.m().peek(vi_ipa(v), &mut b);
    b[0] != 0
}

pub fn pending_sel(g: &mut Guest, v: u32) -> u64 {
    let mut m = g.m();
    u64::from(m.peek_u32(vi_ipa(v) + 8)) | u64::from(m.peek_u32(vi_ipa(v) + 12)) << 32
}
