//! Physical interrupts routed to the guest, the console UART's input, the
//! list-register refill on the way back, and whether a trapped WFI may idle.

use alloc::vec::Vec;

use super::{CpuInterface, PerCpu, Vcpu};
use crate::debugkeys::{self, Command, Input};
use crate::domain::Domain;
use crate::hal::Arch;
use crate::stats::Class;
use crate::vgic::{ListRegister, LrState};
use snowvisor_arm::frame::TrapFrame;

/// INTIDs at or above this are special (1020-1023) or spurious (1023), GIC
/// architecture spec 3.2.5.
const SPECIAL: u32 = 1020;

/// The list registers snowvisor uses: all the CPU has, at most 64 (GICH_LR0-63).
fn lr_count(gic: &CpuInterface) -> usize {
    gic.list_registers.min(64) as usize
}

/// Whether a trapped WFI may wait at HYP: only if nothing is pending for the
/// guest, neither queued nor in a list register (the guest idles with IRQs
/// masked, and a virtual interrupt does not wake a WFI at HYP). A physical
/// interrupt wakes the wait and is taken as soon as the guest resumes.
pub(super) fn idle_allowed(a: &impl Arch, gic: &CpuInterface, d: &Domain, v: &Vcpu) -> bool {
    let id = v.id as usize;
    if !v.queue.is_empty()
        || d.vcpus.get(id).is_some_and(|s| !s.inbox.is_empty())
        || d.xen.as_ref().is_some_and(|x| x.upcall_waiting(v.id))
    {
        return false;
    }
    if !a.has_list_registers() {
        return true;
    }
    !(0..lr_count(gic)).any(|i| {
        matches!(
            ListRegister(a.list_register(i)).state(),
            LrState::Pending | LrState::PendingActive
        )
    })
}

/// The console UART's receive interrupt: bytes go to Dom0's hvc0 or to the
/// debug keys, whichever has the input. False if `intid` is not the UART's.
pub fn console_irq<A: Arch>(a: &A, cpu: &mut PerCpu, intid: u32, f: &TrapFrame) -> bool {
    if cpu.console.intid != Some(intid) {
        return false;
    }
    let mut buf = [0u8; 32];
    loop {
        let n = a.console_receive(&mut buf);
        if n == 0 {
            break;
        }
        let mut for_dom0 = Vec::new();
        let mut keys = Vec::new();
        for &b in &buf[..n] {
            cpu.console.switch.feed(b, &mut |i| match i {
                Input::Dom0(b) => for_dom0.push(b),
                Input::Key(b) => keys.push(Command::from_key(b)),
                Input::Switched(to) => {
                    a.console_write(format_args!(
                        "\nsnowvisor: {}\n",
                        debugkeys::switch_banner(to)
                    ));
                }
            });
        }
        let PerCpu {
            console, current, ..
        } = cpu;
        let Some(cur) = current.as_mut() else {
            continue;
        };
        let mut d = cur.domain.lock();
        let view = debugkeys::VcpuView {
            id: cur.vcpu.id,
            queued: cur.vcpu.queue.len(),
        };
        if !for_dom0.is_empty() {
            let dd = &mut *d;
            if let Some(x) = dd.xen.as_mut() {
                x.console_input(a, &dd.log, &for_dom0);
            }
            kick_upcalls(a, &mut d, cur.vcpu.id);
        }
        for c in keys {
            debugkeys::run(a, c, console, &mut d, view, f);
        }
    }
    true
}

/// A physical interrupt taken while the guest ran, or while HYP idled for it.
/// Returns false for interrupts that are not the guest's (the caller handles them).
pub fn guest_irq<A: Arch>(a: &A, cpu: &mut PerCpu, intid: u32, iar: u32) -> bool {
    let vtimer = cpu.timers.vtimer_intid;
    let Some((gic, cell, v)) = cpu.parts() else {
        return false;
    };
    let d = cell.lock();
    let me = v.id as usize;
    if intid == gic.maintenance_intid {
        // Maintenance: list registers underflowed; refill below.
        a.exits().count(Class::Maintenance);
        a.irq_end(iar);
        a.irq_deactivate(iar);
        return true;
    }
    if !d.vdist.owns(intid) || intid >= SPECIAL {
        return false;
    }
    a.exits().irq(intid);
    let prio = d.vdist.priority(me, intid);
    if intid == vtimer {
        // The virtual timer is delivered as a software interrupt: mask it at
        // the timer (the guest's handler reprograms and unmasks it) and finish
        // the physical interrupt here, so its active state never waits on the guest.
        a.mask_vtimer();
        a.irq_end(iar);
        a.irq_deactivate(iar);
        v.queue.push(intid, prio, false);
        return true;
    }
    // Drop priority now; the guest's EOI deactivates through the HW list register.
    a.irq_end(iar);
    v.queue.push(intid, prio, true);
    true
}

/// Whether [`flush_vm`] has anything to do: an upcall waits, something is
/// queued, or GICH_HCR still asks for underflow maintenance.
#[inline]
pub(super) fn flush_needed(gic: &CpuInterface, d: &Domain, v: &Vcpu) -> bool {
    d.xen.as_ref().is_some_and(|x| x.upcall_waiting(v.id))
        || !v.queue.is_empty()
        || gic.hcr != HCR_EN
        || d.vcpus
            .get(v.id as usize)
            .is_some_and(|s| !s.inbox.is_empty())
}

/// The SGI that tells another CPU something waits for its vCPU (a virtual
/// interrupt in its inbox, an upcall, a PSCI CPU_ON). Physical SGIs are
/// snowvisor's own: the guests' are emulated (GICD_SGIR).
pub const KICK_SGI: u32 = 0;

/// Makes `intid` pending for vCPU `to` of `d`, raised by `me` (the vCPU
/// on this CPU): into `me`'s queue, or into `to`'s inbox and a kick to its
/// CPU. An interrupt for a vCPU that is off is dropped, as the GIC drops
/// an SGI for a CPU interface that is off.
pub fn deliver<A: Arch>(a: &A, d: &mut Domain, me: &mut Vcpu, to: usize, intid: u32) {
    if to == me.id as usize {
        me.queue.push(intid, d.vdist.priority(to, intid), false);
        return;
    }
    let Some(t) = d.vcpus.get_mut(to) else {
        return;
    };
    if t.power != crate::psci::Power::On {
        return;
    }
    if !t.inbox.contains(&intid) {
        t.inbox.push(intid);
    }
    a.send_sgi(KICK_SGI, t.cpu_mask);
}

/// Kicks the CPU of every vCPU but `me` with an event upcall waiting.
pub fn kick_upcalls<A: Arch>(a: &A, d: &mut Domain, me: u32) {
    let Some(x) = d.xen.as_ref() else {
        return;
    };
    for (i, s) in d.vcpus.iter().enumerate() {
        if i as u32 != me && x.upcall_waiting(i as u32) && s.power == crate::psci::Power::On {
            a.send_sgi(KICK_SGI, s.cpu_mask);
        }
    }
}

/// A vCPU that turned itself off (PSCI CPU_OFF) gives back the interrupts
/// it holds, in its list registers or queued: a hardware one (a
/// passed-through SPI snowvisor acknowledged on this CPU) is deactivated at
/// the physical GIC, or it would stay active and never fire again; a
/// pending SPI goes to the vCPU its GICD_ITARGETSR names now (Linux moves
/// a CPU's interrupts away before CPU_OFF), as the distributor re-targets
/// a pending SPI. SGIs and PPIs, banked for the vCPU that is off, are
/// dropped with its list registers and queue.
pub(super) fn release_interrupts<A: Arch>(a: &A, gic: &CpuInterface, d: &mut Domain, v: &mut Vcpu) {
    // (INTID, hardware, pending)
    let mut held: Vec<(u32, bool, bool)> = Vec::new();
    if a.has_list_registers() {
        for i in 0..lr_count(gic) {
            let lr = ListRegister(a.list_register(i));
            let pending = match lr.state() {
                LrState::Invalid => continue,
                LrState::Active => false,
                LrState::Pending | LrState::PendingActive => true,
            };
            held.push((lr.intid(), lr.hw(), pending));
            a.set_list_register(i, 0);
        }
    }
    held.extend(v.queue.drain().map(|(intid, hw)| (intid, hw, true)));
    let me = v.id as usize;
    for (intid, hw, pending) in held {
        if hw {
            a.irq_deactivate(intid);
        }
        if pending && intid >= 32 {
            let to = d.vdist.spi_target(intid);
            if to != me {
                deliver(a, d, v, to, intid);
            }
        }
    }
}

/// GICH_HCR.En.
const HCR_EN: u32 = 1;

/// Moves queued interrupts into free list registers; asks for a maintenance
/// interrupt while some still wait. Does nothing without a loaded vCPU.
pub fn flush_lrs<A: Arch>(a: &A, cpu: &mut PerCpu) {
    if let Some((gic, cell, v)) = cpu.parts() {
        flush_vm(a, gic, &mut cell.lock(), v);
    }
}

/// [`flush_lrs`] for the loaded vCPU. Does nothing when no upcall waits,
/// nothing is queued and GICH_HCR already says so.
#[inline(never)]
pub(super) fn flush_vm<A: Arch>(a: &A, gic: &mut CpuInterface, d: &mut Domain, v: &mut Vcpu) {
    if !a.has_list_registers() {
        return;
    }
    let me = v.id as usize;
    let Domain {
        vcpus, vdist, xen, ..
    } = d;
    if let Some(s) = vcpus.get_mut(me).filter(|s| !s.inbox.is_empty()) {
        for i in s.inbox.drain(..) {
            v.queue.push(i, vdist.priority(me, i), false);
        }
    }
    if let Some(x) = xen.as_mut().filter(|x| x.upcall_waiting(v.id)) {
        // The event upcall is a virtual PPI: it waits while the guest has it disabled.
        let ppi = x.event_ppi();
        if x.take_upcall(v.id, vdist.enabled(me, ppi)) {
            v.queue.push(ppi, vdist.priority(me, ppi), false);
        }
    }
    if v.queue.is_empty() && gic.hcr == HCR_EN {
        return;
    }
    let mut underflow = false;
    if !v.queue.is_empty() {
        let n = lr_count(gic);
        let free = a.empty_list_registers();
        let lrs: Vec<ListRegister> = (0..n).map(|i| ListRegister(a.list_register(i))).collect();
        let mut written = 0;
        let fill = v.queue.fill(&lrs, free & ((1u64 << n) - 1));
        for (i, lr) in fill.writes {
            a.set_list_register(i, lr.0);
            written += 1;
        }
        if written > 0 {
            a.exits().refill(written);
        }
        underflow = fill.underflow;
    }
    // En, plus UIE (underflow maintenance) while interrupts wait for a free
    // list register. Those waiting for the guest to deactivate the same INTID
    // are taken at the EOI maintenance interrupt or the next exit.
    let hcr = HCR_EN | if underflow { 1 << 1 } else { 0 };
    a.set_gich_hcr(hcr);
    gic.hcr = hcr;
}
