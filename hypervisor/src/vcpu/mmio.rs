//! Stage-2 data aborts: emulation of the guest's distributor (GICD), and a
//! report naming the device node for any other faulting address.

use alloc::vec::Vec;

use super::regs::{reg, set_reg};
use super::{guest_log, inject, Next, Vcpu};
use crate::arch::armv7::exception::Kind;
use crate::arch::armv7::frame::TrapFrame;
use crate::arch::armv7::hsr::{fault_name, Hsr};
use crate::domain::Domain;
use crate::hal::Arch;
use crate::vgic::PhysGic;

/// The physical distributor as the vGIC forwards to it.
struct Phys<'a, A>(&'a A);

impl<A: Arch> PhysGic for Phys<'_, A> {
    fn set_enabled(&mut self, intid: u32, on: bool) {
        if on {
            self.0.irq_enable(intid, 0xa0);
        } else {
            self.0.irq_disable(intid);
        }
    }
    fn set_edge_triggered(&mut self, intid: u32, edge: bool) {
        self.0.irq_set_edge_triggered(intid, edge);
    }
}

/// The faulting IPA: HPFAR's page and HDFAR's offset in it.
fn fault_ipa(a: &impl Arch) -> u64 {
    ((u64::from(a.hpfar()) >> 4) << 12) | (u64::from(a.hdfar()) & 0xfff)
}

pub(super) fn data_abort<A: Arch>(
    a: &A,
    d: &mut Domain,
    v: &mut Vcpu,
    f: &mut TrapFrame,
    hsr: Hsr,
) -> Next {
    let Some(da) = hsr.data_abort() else {
        return Next::Stay;
    };
    let ipa = fault_ipa(a);
    let va = a.hdfar();
    let in_gicd = ipa >= d.gicd.base && ipa < d.gicd.end();
    if in_gicd && da.valid && !da.s1ptw {
        let off = (ipa - d.gicd.base) as u32;
        let size = 1u32 << da.size_log2;
        crate::stats::EXITS.gicd(off, da.write);
        let ok = if da.write {
            let val = reg(a, f, da.reg).unwrap_or(0);
            let val = if size == 4 {
                val
            } else {
                val & ((1 << (8 * size)) - 1)
            };
            let mut sw = Vec::new();
            let ok = d
                .vdist
                .write(off, size, val, &mut Phys(a), &mut |i| sw.push(i));
            for i in sw {
                v.queue.push(i, d.vdist.priority(i), false);
            }
            ok
        } else {
            match d.vdist.read(off, size) {
                Some(mut x) => {
                    if da.sign_extend && size < 4 {
                        let sh = 32 - 8 * size;
                        x = (((x << sh) as i32) >> sh) as u32;
                    }
                    set_reg(a, f, da.reg, x)
                }
                None => false,
            }
        };
        if ok {
            return Next::Skip;
        }
        guest_log!(
            a,
            d,
            warn,
            "{}: GICD access at offset {off:#x} ({} bytes, {}) not allowed; injecting an abort",
            d.name,
            size,
            if da.write { "write" } else { "read" }
        );
    } else {
        crate::stats::EXITS.count(crate::stats::Class::DataAbort);
        d.stage2_faults += 1;
        let owner = d
            .devices
            .iter()
            .find(|(r, _)| ipa >= r.base && ipa < r.end())
            .map_or("no device node", |(_, n)| n.as_str());
        guest_log!(
            a,
            d,
            error,
            "{}: stage-2 fault: {} of IPA {ipa:#x} (VA {va:#010x}) at pc {:#010x}: {} ({owner}); injecting a data abort",
            d.name,
            if da.write { "write" } else { "read" },
            f.elr,
            fault_name(da.fsc)
        );
    }
    inject(
        a,
        f,
        Kind::DataAbort {
            addr: va,
            write: da.write,
        },
    );
    Next::Stay
}
