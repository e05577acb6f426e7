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
pub(super) fn lr_count(gic: &CpuInterface) -> usize {
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
        || d.xen
            .as_ref()
            .is_some_and(|x| x.upcall_waiting(v.id) || x.inbox_posted())
        || uart_tx_ready(a, d, v)
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

/// Whether `v` waits for its UART's TX interrupt and the console has room
/// for the bytes waiting in its transmit FIFO now (they move, and the
/// interrupt rises, once the vCPU runs: [`flush_vm`]).
pub(super) fn uart_tx_ready(a: &impl Arch, d: &Domain, v: &Vcpu) -> bool {
    d.vdist.spi_target(VPL011_SPI) == v.id as usize
        && d.uart.as_ref().is_some_and(|u| u.tx_ready(a))
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
        let mut for_domus: Vec<(u16, u8)> = Vec::new();
        let mut keys = Vec::new();
        let mut switched = None;
        for &b in &buf[..n] {
            cpu.console.switch.feed(b, &mut |i| match i {
                Input::Dom0(b) => for_dom0.push(b),
                Input::DomU(id, b) => for_domus.push((id, b)),
                Input::Key(b) => keys.push(Command::from_key(b)),
                Input::Switched(to) => {
                    a.console_write(format_args!(
                        "\nsnowvisor: {}\n",
                        debugkeys::switch_banner(to)
                    ));
                    switched = Some(to);
                }
            });
        }
        if let Some(to) = switched {
            // The DomU with the input shows its output as it comes.
            for u in &cpu.console.domus {
                if let Some(x) = u.cell.lock().uart.as_mut() {
                    x.set_focus(a, to == debugkeys::Focus::DomU(u.id));
                }
            }
        }
        let PerCpu {
            console, current, ..
        } = cpu;
        // Dom0's input goes to Dom0 even when this CPU runs a DomU's vCPU
        // (they share CPUs) or none: its vCPUs are kicked, the loaded one
        // (if it is Dom0's) gets its upcall on the way back.
        let dom0 = console.dom0.or_else(|| current.as_ref().map(|c| c.domain));
        if let (false, Some(cell)) = (for_dom0.is_empty(), dom0) {
            let me = match current.as_ref() {
                Some(c) if core::ptr::eq(c.domain, cell) => c.vcpu.id,
                _ => u32::MAX,
            };
            let mut d = cell.lock();
            let dd = &mut *d;
            if let Some(x) = dd.xen.as_mut() {
                x.console_input(a, &dd.log, &for_dom0);
            }
            kick_upcalls(a, &mut d, me);
        }
        let Some(cur) = current.as_mut() else {
            continue;
        };
        let mut d = cur.domain.lock();
        let view = debugkeys::VcpuView {
            id: cur.vcpu.id,
            queued: cur.vcpu.queue.len(),
        };
        for &c in &keys {
            debugkeys::run(a, c, console, &mut d, view, f);
        }
        drop(d);
        if keys.contains(&Command::Domains) {
            debugkeys::list_domains(a, cur.domain, console);
        }
        for u in &console.domus {
            let bytes: Vec<u8> = for_domus
                .iter()
                .filter(|&&(id, _)| id == u.id)
                .map(|&(_, b)| b)
                .collect();
            if !bytes.is_empty() {
                domu_input(a, &mut u.cell.lock(), &bytes);
            }
        }
    }
    true
}

/// Input typed for a DomU: into its UART's receive FIFO (the rest held),
/// then a kick to the CPU of the vCPU its UART's SPI targets, which samples
/// the line on its way back into the guest.
fn domu_input<A: Arch>(a: &A, d: &mut Domain, bytes: &[u8]) {
    if d.state != crate::domain::DomainState::Running {
        return;
    }
    let Some(u) = d.uart.as_mut() else {
        return;
    };
    let dropped = u.input(bytes);
    if dropped > 0 {
        log::warn!(
            "{}: console input: {dropped} byte(s) dropped (the guest does not read)",
            d.name
        );
    }
    let to = d.vdist.spi_target(VPL011_SPI);
    if let Some(s) = d
        .vcpus
        .get(to)
        .filter(|s| s.power == crate::psci::Power::On)
    {
        a.send_sgi(KICK_SGI, s.cpu_mask);
    }
}

/// A physical interrupt taken while the guest ran, or while HYP idled for it.
/// Returns false for interrupts that are not the guest's (the caller handles them).
pub fn guest_irq<A: Arch>(a: &A, cpu: &mut PerCpu, intid: u32, iar: u32) -> bool {
    let vtimer = cpu.timers.vtimer_intid;
    if intid == cpu.gic.maintenance_intid {
        // Maintenance: list registers underflowed; refill on the way back.
        a.exits().count(Class::Maintenance);
        a.irq_end(iar);
        a.irq_deactivate(iar);
        return true;
    }
    if (32..SPECIAL).contains(&intid) && spi_for_waiting_vcpu(a, cpu, intid, iar) {
        return true;
    }
    let Some((_, cell, v)) = cpu.parts() else {
        return false;
    };
    let d = cell.lock();
    let me = v.id as usize;
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

/// A passed-through SPI whose target (GICD_ITARGETSR's lowest vCPU) is a
/// vCPU placed on this CPU but not loaded (vCPUs share the CPU, or none
/// is loaded): queued for that vCPU, which the scheduler then wakes; its
/// deactivation waits for that vCPU's EOI through a hardware list
/// register, on this CPU. False if no waiting vCPU of this CPU owns it.
fn spi_for_waiting_vcpu<A: Arch>(a: &A, cpu: &mut PerCpu, intid: u32, iar: u32) -> bool {
    if cpu.runq.is_empty() {
        return false;
    }
    for l in cpu.runq.iter_mut() {
        let d = l.domain.lock();
        let to = d.vdist.spi_target(intid);
        if !d.vdist.owns(intid) || to != l.vcpu.id as usize {
            continue;
        }
        a.exits().irq(intid);
        a.irq_end(iar);
        l.vcpu.queue.push(intid, d.vdist.priority(to, intid), true);
        return true;
    }
    false
}

/// Whether [`flush_vm`] has anything to do: an upcall waits, another
/// domain posted an event, something is queued, or GICH_HCR still asks for
/// underflow maintenance.
#[inline]
pub(super) fn flush_needed(gic: &CpuInterface, d: &Domain, v: &Vcpu) -> bool {
    d.xen
        .as_ref()
        .is_some_and(|x| x.upcall_waiting(v.id) || x.inbox_posted())
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
/// CPU. For a vCPU that is off, an SGI or PPI is dropped, as the GIC drops
/// one for a CPU interface that is off; an SPI stays pending in its inbox
/// (no kick) until it is started again, as it would in the distributor.
pub fn deliver<A: Arch>(a: &A, d: &mut Domain, me: &mut Vcpu, to: usize, intid: u32) {
    if to == me.id as usize {
        me.queue.push(intid, d.vdist.priority(to, intid), false);
        return;
    }
    let Some(t) = d.vcpus.get_mut(to) else {
        return;
    };
    let on = t.power == crate::psci::Power::On;
    if !on && intid < 32 {
        return;
    }
    if !t.inbox.contains(&intid) {
        t.inbox.push(intid);
    }
    if on {
        a.send_sgi(KICK_SGI, t.cpu_mask);
    }
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

/// The SPI of a DomU's emulated UART (Xen's `GUEST_VPL011_SPI`, `arch-arm.h`).
pub const VPL011_SPI: u32 = 32;

/// Samples a DomU's UART interrupt line (level-high) for `v`, the vCPU its
/// SPI targets, at every exit and after every access to the UART: while the
/// line is high and the SPI enabled, it is made pending unless a list
/// register already holds it pending (an active one becomes pending and
/// active). Invalid software registers still asking for an EOI
/// maintenance interrupt are cleared (they are not empty, GICH_ELRSR, and
/// GICH_EISR would keep the maintenance interrupt asserted).
fn sample_uart<A: Arch>(a: &A, gic: &CpuInterface, d: &Domain, v: &mut Vcpu) {
    let me = v.id as usize;
    let level = d.uart.as_ref().is_some_and(|u| u.irq_level())
        && d.vdist.enabled(me, VPL011_SPI)
        && d.vdist.spi_target(VPL011_SPI) == me;
    if !a.has_list_registers() {
        return;
    }
    let free = a.empty_list_registers();
    let mut held = false;
    for i in 0..lr_count(gic) {
        let lr = ListRegister(a.list_register(i));
        // An invalid software register with its EOI bit set is not empty
        // (GICH_ELRSR), and keeps GICH_EISR and the maintenance interrupt
        // asserted until it is cleared.
        if lr.state() == LrState::Invalid {
            if lr.eoi_maintenance() {
                a.set_list_register(i, 0);
            }
            continue;
        }
        if free & (1 << i) != 0 || lr.intid() != VPL011_SPI {
            continue;
        }
        // Pending (or pending and active): nothing to add. Active: the
        // line is high again (or still) while the guest handles it, so it
        // becomes pending and active, and is taken again after the guest's
        // deactivation, as a level-sensitive interrupt is.
        held |= lr.state() != LrState::Active;
    }
    if level && !held {
        v.queue
            .push(VPL011_SPI, d.vdist.priority(me, VPL011_SPI), false);
    }
}

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
    if let Some(u) = d.uart.as_mut() {
        // Bytes the console had no room for move now if it has.
        u.pump(a);
        sample_uart(a, gic, d, v);
    }
    let me = v.id as usize;
    // Events other domains posted (they only kick this CPU, never take
    // this domain's lock): raised here, under it; an upcall for another of
    // its vCPUs kicks that vCPU's CPU.
    if d.xen.as_ref().is_some_and(|x| x.inbox_posted()) {
        let Domain { xen, log, .. } = &mut *d;
        if let Some(x) = xen.as_mut() {
            x.drain_inbox(a, log);
        }
        kick_upcalls(a, d, v.id);
    }
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
