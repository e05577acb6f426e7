//! Stage-2 data aborts: emulation of the guest's distributor (GICD), device
//! registers forwarded for the guest (a page shared with an owned IOMMU:
//! [`crate::domain::forward`]), and a report naming the device node for any
//! other faulting address.

use alloc::vec::Vec;

use super::regs::{reg, set_reg};
use super::{guest_log, inject, Next, Vcpu};
use crate::domain::{forward, Domain};
use crate::hal::Arch;
use crate::psci::Power;
use crate::vgic::PhysGic;
use snowvisor_arm::exception::Kind;
use snowvisor_arm::frame::TrapFrame;
use snowvisor_arm::hsr::{fault_name, DataAbort, Hsr};

/// The physical distributor as the vGIC forwards to it, with the GIC CPU
/// interface of each vCPU's physical CPU (by vCPU ID).
struct Phys<'a, A> {
    arch: &'a A,
    /// CPU interface bits by vCPU ID, 0 for a vCPU that is not running.
    cpu_masks: Vec<u8>,
    /// The writer's CPU interface: where an SPI goes when the guest names
    /// only vCPUs that are not running.
    fallback: u8,
}

impl<A: Arch> PhysGic for Phys<'_, A> {
    fn set_enabled(&mut self, intid: u32, on: bool) {
        if on {
            self.arch.irq_enable(intid, 0xa0);
        } else {
            self.arch.irq_disable(intid);
        }
    }
    fn set_edge_triggered(&mut self, intid: u32, edge: bool) {
        self.arch.irq_set_edge_triggered(intid, edge);
    }
    /// A passed-through SPI follows the guest's choice to the physical
    /// CPUs of the vCPUs it names.
    fn set_targets(&mut self, intid: u32, vcpus: u8) {
        let cpus = (0..8)
            .filter(|i| vcpus & (1 << i) != 0)
            .filter_map(|i| self.cpu_masks.get(i).copied())
            .fold(0, |m, c| m | c);
        let cpus = if cpus != 0 { cpus } else { self.fallback };
        if cpus != 0 {
            self.arch.irq_set_targets(intid, cpus);
        }
    }
}

/// Performs an access to a device's registers in a page shared with an owned
/// IOMMU: `None` if `ipa` is in no forwarded range, else whether it was
/// performed (false: refused, said rate-limited, and the caller injects).
fn forward_access<A: Arch>(
    a: &A,
    d: &mut Domain,
    f: &mut TrapFrame,
    da: &DataAbort,
    ipa: u64,
) -> Option<bool> {
    let access = forward::Access {
        ipa,
        size: 1 << da.size_log2,
        write: da.write,
        valid: da.valid && !da.s1ptw,
    };
    match forward::check(&d.forwarded, access)? {
        Ok(pa) => {
            let value = if access.write {
                reg(a, f, da.reg).unwrap_or(0)
            } else {
                0
            };
            let v = forward::perform(a, pa, access, value, da.sign_extend);
            Some(access.write || set_reg(a, f, da.reg, v))
        }
        Err(why) => {
            guest_log!(
                a,
                d,
                warn,
                "{}: access to forwarded device registers at IPA {ipa:#x} refused: {why}; injecting a data abort",
                d.name
            );
            Some(false)
        }
    }
}

/// A DomU's access to its emulated UART at byte `off` of its page. False (said,
/// rate-limited) for an access the UART does not take: the caller injects.
fn uart_access<A: Arch>(
    a: &A,
    d: &mut Domain,
    f: &mut TrapFrame,
    da: &DataAbort,
    off: u32,
) -> bool {
    let Some(u) = d.uart.as_mut() else {
        return false;
    };
    let size = 1u32 << da.size_log2;
    let write = da.write.then(|| reg(a, f, da.reg).unwrap_or(0));
    // The line is sampled into the vGIC on the way back (flush_vm).
    match u.access(a, off, size, write) {
        Ok(x) if !da.write => {
            let x = if da.sign_extend && size < 4 {
                let sh = 32 - 8 * size;
                (((x << sh) as i32) >> sh) as u32
            } else {
                x
            };
            set_reg(a, f, da.reg, x)
        }
        Ok(_) => true,
        Err(e) => {
            guest_log!(a, d, warn, "{}: {e}; injecting a data abort", d.name);
            false
        }
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
    let forwarded = forward_access(a, d, f, &da, ipa);
    if forwarded == Some(true) {
        a.exits().count(crate::stats::Class::DataAbort);
        return Next::Skip;
    }
    let in_gicd = ipa >= d.gicd.base && ipa < d.gicd.end();
    let in_uart = d.uart.is_some() && ipa >= d.uart_ipa.base && ipa < d.uart_ipa.end();
    if in_uart && da.valid && !da.s1ptw {
        a.exits().count(crate::stats::Class::DataAbort);
        if uart_access(a, d, f, &da, (ipa - d.uart_ipa.base) as u32) {
            return Next::Skip;
        }
    } else if forwarded.is_some() {
        // Refused, and said why above: a stage-2 fault like any other.
        a.exits().count(crate::stats::Class::DataAbort);
        d.stage2_faults += 1;
    } else if in_gicd && da.valid && !da.s1ptw {
        let off = (ipa - d.gicd.base) as u32;
        let size = 1u32 << da.size_log2;
        a.exits().gicd(off, da.write);
        let ok = if da.write {
            let val = reg(a, f, da.reg).unwrap_or(0);
            let val = if size == 4 {
                val
            } else {
                val & ((1 << (8 * size)) - 1)
            };
            let mut sw = Vec::new();
            let me = v.id as usize;
            // Only CPUs running one of the domain's vCPUs take its SPIs: at a
            // CPU whose vCPU is off no one would take them (a level SPI would
            // fire there for ever). The guest's view keeps what it wrote.
            let mut phys = Phys {
                arch: a,
                cpu_masks: d
                    .vcpus
                    .iter()
                    .map(|s| if s.power == Power::On { s.cpu_mask } else { 0 })
                    .collect(),
                fallback: d.vcpus.get(me).map_or(0, |s| s.cpu_mask),
            };
            let ok = d
                .vdist
                .write(me, off, size, val, &mut phys, &mut |t, i| sw.push((t, i)));
            for (t, i) in sw {
                super::deliver(a, d, v, t, i);
            }
            ok
        } else {
            match d.vdist.read(v.id as usize, off, size) {
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
        a.exits().count(crate::stats::Class::DataAbort);
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
