//! Stage-2 data aborts: emulation of the guest's distributor (GICD), and a
//! report naming the device node for any other faulting address.

use alloc::vec::Vec;

use super::regs::{reg, set_reg};
use super::{Next, Vm, GIC, VM};
use crate::arch::armv7::exception::Kind;
use crate::arch::armv7::frame::TrapFrame;
use crate::arch::armv7::guest;
use crate::arch::armv7::hsr::{fault_name, Hsr};
use crate::drivers::gicv2::Gic;
use crate::vgic::PhysGic;

struct Phys<'a>(&'a Gic);

impl PhysGic for Phys<'_> {
    fn set_enabled(&mut self, intid: u32, on: bool) {
        if on {
            self.0.enable(intid, 0xa0);
        } else {
            self.0.disable(intid);
        }
    }
    fn set_edge_triggered(&mut self, intid: u32, edge: bool) {
        self.0.set_edge_triggered(intid, edge);
    }
}

fn fault_ipa() -> u64 {
    let hpfar = aarch32_cpu::register::Hpfar::read().0 as u64;
    let hdfar = aarch32_cpu::register::Hdfar::read().0 as u64;
    ((hpfar >> 4) << 12) | (hdfar & 0xfff)
}

pub(super) fn data_abort(f: &mut TrapFrame, hsr: Hsr) -> Next {
    let Some(d) = hsr.data_abort() else {
        return Next::Stay;
    };
    let ipa = fault_ipa();
    let va = aarch32_cpu::register::Hdfar::read().0;
    let mut vm_guard = VM.lock();
    let Some(vm) = vm_guard.as_deref_mut() else {
        return Next::Stay;
    };
    let in_gicd = ipa >= vm.gicd.base && ipa < vm.gicd.end();
    if in_gicd && d.valid && !d.s1ptw {
        let off = (ipa - vm.gicd.base) as u32;
        let size = 1u32 << d.size_log2;
        crate::stats::EXITS.gicd(off, d.write);
        let ok = if d.write {
            let val = reg(f, d.reg).unwrap_or(0);
            let val = if size == 4 {
                val
            } else {
                val & ((1 << (8 * size)) - 1)
            };
            let gic = GIC.get().copied();
            let Vm { vdist, queue, .. } = vm;
            let mut sw = Vec::new();
            let ok = match gic {
                Some(g) => vdist.write(off, size, val, &mut Phys(g), &mut |i| sw.push(i)),
                None => false,
            };
            for i in sw {
                queue.push(i, vdist.priority(i), false);
            }
            ok
        } else {
            match vm.vdist.read(off, size) {
                Some(mut v) => {
                    if d.sign_extend && size < 4 {
                        let sh = 32 - 8 * size;
                        v = (((v << sh) as i32) >> sh) as u32;
                    }
                    set_reg(f, d.reg, v)
                }
                None => false,
            }
        };
        if ok {
            return Next::Skip;
        }
        super::guest_log!(
            warn,
            "dom0: GICD access at offset {off:#x} ({} bytes, {}) not allowed; injecting an abort",
            size,
            if d.write { "write" } else { "read" }
        );
    } else {
        crate::stats::EXITS.count(crate::stats::Class::DataAbort);
        vm.stage2_faults += 1;
        let owner = vm
            .devices
            .iter()
            .find(|(r, _)| ipa >= r.base && ipa < r.end())
            .map_or("no device node", |(_, n)| n.as_str());
        super::guest_log!(
            error,
            "dom0: stage-2 fault: {} of IPA {ipa:#x} (VA {va:#010x}) at pc {:#010x}: {} ({owner}); injecting a data abort",
            if d.write { "write" } else { "read" },
            f.elr,
            fault_name(d.fsc)
        );
    }
    drop(vm_guard);
    guest::inject(
        f,
        Kind::DataAbort {
            addr: va,
            write: d.write,
        },
    );
    Next::Stay
}
