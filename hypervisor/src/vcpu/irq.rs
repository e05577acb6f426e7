//! Physical interrupts routed to the guest, the console UART's input, the
//! list-register refill on the way back, and whether a trapped WFI may idle.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

use super::{Vm, GIC, LIST_REGISTERS, VM, VTIMER_INTID};
use crate::arch::armv7::frame::TrapFrame;
use crate::arch::armv7::guest;
use crate::debugkeys::{self, Command, Input};
use crate::domain::xen_glue::XenDom0;
use crate::drivers::gicv2::SPURIOUS;
use crate::stats::{Class, EXITS};
use crate::vgic::{ListRegister, LrState};

/// Last value written to GICH_HCR (0 is the reset value `Gic::init` writes),
/// changed only under the [`VM`] lock.
static GICH_HCR: AtomicU32 = AtomicU32::new(0);

/// Whether a trapped WFI may wait at HYP: only if nothing is pending for the
/// guest, neither queued nor in a list register (the guest idles with IRQs
/// masked, and a virtual interrupt does not wake a WFI at HYP). A physical
/// interrupt wakes the wait and is taken as soon as the guest resumes.
pub(super) fn idle_allowed() -> bool {
    if VM.lock().as_ref().is_some_and(|vm| !vm.queue.is_empty()) {
        return false;
    }
    let Some(h) = GIC.get().and_then(|g| g.gich) else {
        return true;
    };
    use tock_registers::interfaces::Readable;
    let n = LIST_REGISTERS.load(Ordering::Relaxed).min(64) as usize;
    !(0..n).any(|i| {
        matches!(
            ListRegister(h.lr[i].get()).state(),
            LrState::Pending | LrState::PendingActive
        )
    })
}

/// The console UART's receive interrupt: bytes go to Dom0's hvc0 or to the
/// debug keys, whichever has the input. False if `intid` is not the UART's.
pub fn console_irq(intid: u32, f: &TrapFrame) -> bool {
    let mut g = VM.lock();
    let Some(vm) = g.as_mut() else { return false };
    if vm.console.intid != Some(intid) {
        return false;
    }
    let mut buf = [0u8; 32];
    loop {
        let n = crate::console::receive(&mut buf);
        if n == 0 {
            break;
        }
        let mut for_dom0 = Vec::new();
        let mut keys = Vec::new();
        for &b in &buf[..n] {
            vm.console.switch.feed(b, &mut |i| match i {
                Input::Dom0(b) => for_dom0.push(b),
                Input::Key(b) => keys.push(Command::from_key(b)),
                Input::Switched(to) => {
                    crate::console::write_fmt(format_args!(
                        "\nsnowvisor: {}\n",
                        debugkeys::switch_banner(to)
                    ));
                }
            });
        }
        if !for_dom0.is_empty() {
            if let Some(x) = vm.xen.as_mut() {
                x.console_input(&for_dom0);
            }
        }
        for c in keys {
            debugkeys::run(c, vm, f);
        }
    }
    true
}

/// A physical interrupt taken while the guest ran, or while HYP idled for it.
/// Returns false for interrupts that are not the guest's (the caller handles them).
pub fn guest_irq(intid: u32, iar: u32) -> bool {
    let Some(gic) = GIC.get() else { return false };
    let mut g = VM.lock();
    let Some(vm) = g.as_mut() else { return false };
    if intid == 25 {
        // Maintenance: list registers underflowed; refill below.
        EXITS.count(Class::Maintenance);
        gic.end_of_interrupt(iar);
        gic.deactivate(iar);
        return true;
    }
    if !vm.vdist.owns(intid) || intid >= SPURIOUS {
        return false;
    }
    EXITS.irq(intid);
    let prio = vm.vdist.priority(intid);
    if intid == VTIMER_INTID.load(Ordering::Relaxed) {
        // The virtual timer is delivered as a software interrupt: mask it at
        // the timer (the guest's handler reprograms and unmasks it) and finish
        // the physical interrupt here, so its active state never waits on the guest.
        guest::mask_vtimer();
        gic.end_of_interrupt(iar);
        gic.deactivate(iar);
        vm.queue.push(intid, prio, false);
        return true;
    }
    // Drop priority now; the guest's EOI deactivates through the HW list register.
    gic.end_of_interrupt(iar);
    vm.queue.push(intid, prio, true);
    true
}

/// Whether [`flush_vm`] has anything to do: an upcall waits, something is
/// queued, or GICH_HCR still asks for underflow maintenance.
#[inline]
pub(super) fn flush_needed(vm: &Vm) -> bool {
    vm.xen.as_ref().is_some_and(XenDom0::upcall_waiting)
        || !vm.queue.is_empty()
        || GICH_HCR.load(Ordering::Relaxed) != HCR_EN
}

/// GICH_HCR.En.
const HCR_EN: u32 = 1;

/// Moves queued interrupts into free list registers; asks for a maintenance
/// interrupt while some still wait.
pub fn flush_lrs() {
    let Some(mut g) = VM.try_lock() else {
        return;
    };
    if let Some(vm) = g.as_mut() {
        flush_vm(vm);
    }
}

/// [`flush_lrs`] with the lock held. Does nothing when no upcall waits,
/// nothing is queued and GICH_HCR already says so.
#[inline(never)]
pub(super) fn flush_vm(vm: &mut Vm) {
    let Some(h) = GIC.get().and_then(|g| g.gich) else {
        return;
    };
    use tock_registers::interfaces::{Readable, Writeable};
    if let Some(x) = vm.xen.as_mut().filter(|x| x.upcall_waiting()) {
        // The event upcall is a virtual PPI: it waits while the guest has it disabled.
        let ppi = x.event_ppi();
        if x.take_upcall(vm.vdist.enabled(ppi)) {
            vm.queue.push(ppi, vm.vdist.priority(ppi), false);
        }
    }
    if vm.queue.is_empty() && GICH_HCR.load(Ordering::Relaxed) == HCR_EN {
        return;
    }
    let mut underflow = false;
    if !vm.queue.is_empty() {
        let n = LIST_REGISTERS.load(Ordering::Relaxed).min(64) as usize;
        let free = h.elrsr[0].get() as u64 | ((h.elrsr[1].get() as u64) << 32);
        let lrs: Vec<ListRegister> = (0..n).map(|i| ListRegister(h.lr[i].get())).collect();
        let mut written = 0;
        let fill = vm.queue.fill(&lrs, free & ((1u64 << n) - 1));
        for (i, lr) in fill.writes {
            h.lr[i].set(lr.0);
            written += 1;
        }
        if written > 0 {
            EXITS.refill(written);
        }
        underflow = fill.underflow;
    }
    // En, plus UIE (underflow maintenance) while interrupts wait for a free
    // list register. Those waiting for the guest to deactivate the same INTID
    // are taken at the EOI maintenance interrupt or the next exit.
    let hcr = HCR_EN | if underflow { 1 << 1 } else { 0 };
    h.hcr.set(hcr);
    GICH_HCR.store(hcr, Ordering::Relaxed);
}
