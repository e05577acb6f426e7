//! Scheduling on one CPU: after every trap that changes who may run (WFI,
//! WFE, CPU_OFF) and every interrupt taken from a guest, [`schedule`]
//! starts the vCPUs a PSCI CPU_ON placed here, wakes blocked ones, asks the
//! [`RunQueue`](crate::sched::RunQueue) who runs and switches: the
//! outgoing vCPU's registers (trap frame and [`Arch::save_vcpu`]) into its
//! [`Vcpu::context`], the incoming one's into the CPU and the trap frame
//! the vector returns through. Then it arms the HYP timer for the next
//! decision (a slice end, a blocked vCPU's virtual timer).
//!
//! A vCPU that blocks with nothing else to run stays loaded: its virtual
//! timer keeps running in the CPU and its interrupt wakes it, as without a
//! scheduler; nothing is saved or restored until another vCPU needs the CPU.

use alloc::boxed::Box;

use super::irq::{flush_vm, idle_allowed, lr_count, uart_tx_ready};
use super::{set_runstate, DomainCell, Exit, Loaded, PerCpu, Vcpu};
use crate::domain::{Domain, DomainState};
use crate::hal::Arch;
use crate::psci::Power;
use crate::sched::Wait;
use crate::stats::Class;
use crate::vgic::{ListRegister, LrState};
use snowvisor_arm::context::VcpuContext;
use snowvisor_arm::frame::TrapFrame;
use snowvisor_xen::abi::runstate;

/// What the CPU does after [`schedule`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// Enter the loaded vCPU with the trap frame as [`schedule`] left it.
    Run,
    /// Nothing can run: wait for an interrupt (no lock held), then call
    /// [`schedule`] again with [`Exit::Resume`].
    Idle,
}

/// CPSR of a vCPU PSCI CPU_ON starts (DEN0022D 6.4): SVC, A/I/F masked,
/// ARM state (Thumb added for an odd entry address).
const CPU_ON_CPSR: u32 = 0x1d3;

/// Decides who runs on this CPU after `exit` of the loaded vCPU (or an
/// interrupt: [`Exit::Resume`]), with `f` the trap frame the vectors
/// return through, and switches if another vCPU's turn came. `domains`:
/// the domains whose vCPUs may be placed on this CPU (for PSCI CPU_ON).
/// Takes the domains' locks one at a time, under this CPU's context.
pub fn schedule<A: Arch>(
    a: &A,
    cpu: &mut PerCpu,
    f: &mut TrapFrame,
    exit: Exit,
    domains: &[&'static DomainCell],
) -> Pick {
    // The common case, a vCPU alone on its CPU: nothing to decide.
    if exit == Exit::Resume
        && !cpu.kicked
        && !cpu.blocked
        && cpu.current.is_some()
        && cpu.runq.is_empty()
        && cpu.timer_at.is_none()
    {
        return Pick::Run;
    }
    let now = a.counter();
    match exit {
        Exit::Resume | Exit::Yield => {}
        Exit::Block => cpu.blocked = true,
        Exit::VcpuOff => {
            if let Some(l) = cpu.current.take() {
                release(a, &l);
            }
            cpu.blocked = false;
            quiet(a, cpu);
        }
    }
    if core::mem::take(&mut cpu.kicked) || cpu.current.is_none() {
        drop_ended(a, cpu);
        adopt(a, cpu, domains);
        park_paused(cpu, now);
    }
    if !cpu.runq.is_empty() {
        cpu.runq.wake(now, |l| {
            let d = l.domain.lock();
            !d.paused && (l.vcpu.parked || wants_cpu(a, &d, &l.vcpu))
        });
    }
    if cpu.blocked {
        if let Some(cur) = cpu.current.as_deref_mut() {
            let d = cur.domain.lock();
            if cur.vcpu.parked && !d.paused {
                cur.vcpu.parked = false;
                drop(d);
                cpu.blocked = false;
            }
        }
    }
    if cpu.blocked {
        if let Some((gic, cell, v)) = cpu.parts() {
            let mut d = cell.lock();
            if !d.paused && !idle_allowed(a, gic, &d, v) {
                set_runstate(a, &mut d, v.id, runstate::RUNNING);
                cpu.blocked = false;
            }
        }
    }
    let running = cpu.current.is_some() && !cpu.blocked;
    let switch = if running {
        (exit == Exit::Yield && cpu.runq.has_runnable()) || cpu.runq.must_yield(now)
    } else {
        cpu.runq.has_runnable()
    };
    if switch {
        if let Some(next) = cpu.runq.take_next() {
            switch_to(a, cpu, f, next, now);
        }
    }
    let running = cpu.current.is_some() && !cpu.blocked;
    let at = cpu.runq.deadline(running);
    if at != cpu.timer_at {
        match at {
            Some(t) => a.arm_hyp_timer_at(t),
            None => a.stop_hyp_timer(),
        }
        cpu.timer_at = at;
    }
    if running {
        Pick::Run
    } else {
        Pick::Idle
    }
}

/// The CPU holds no vCPU any more (CPU_OFF): nothing of the one that left
/// may fire or be seen by the next (its list registers, its virtual timer).
fn quiet<A: Arch>(a: &A, cpu: &mut PerCpu) {
    for i in 0..lr_count(&cpu.gic) {
        a.set_list_register(i, 0);
    }
    a.set_gich_hcr(0);
    cpu.gic.hcr = 0;
    a.mask_vtimer();
}

/// Unloads and forgets this CPU's vCPUs of domains that ended (a DomU's
/// SYSTEM_OFF or SYSTEM_RESET on another vCPU kicks the CPUs of the others).
fn drop_ended<A: Arch>(a: &A, cpu: &mut PerCpu) {
    let ended = |l: &Loaded| l.domain.lock().state != DomainState::Running;
    if cpu.current.as_deref().is_some_and(ended) {
        if let Some(l) = cpu.current.take() {
            release(a, &l);
        }
        cpu.blocked = false;
        quiet(a, cpu);
    }
    while let Some(l) = cpu.runq.remove(|l| ended(l)) {
        release(a, &l);
    }
}

/// Holds back this CPU's vCPUs of paused domains (a pause kicks their
/// CPUs): the loaded one blocks (it stays loaded while nothing else runs,
/// as a vCPU in WFI), those in the run queue (runnable, or blocked with a
/// timer) block with no timer to wake them; each is marked parked, so that
/// the unpause lets it go on whatever it was doing (a vCPU that was in WFI
/// sees a spurious wake-up, which the architecture allows).
fn park_paused(cpu: &mut PerCpu, now: u64) {
    let hold = |l: &mut Loaded| {
        let mut d = l.domain.lock();
        if !d.paused {
            return false;
        }
        if let Some(s) = d.vcpus.get_mut(l.vcpu.id as usize) {
            s.held = true;
        }
        l.vcpu.parked = true;
        true
    };
    if let Some(cur) = cpu.current.as_deref_mut() {
        if hold(cur) {
            cpu.blocked = true;
        }
    }
    // Every vCPU of a paused domain, woken or not: one woken by an unpause
    // that came just before this pause is parked again.
    let paused = |l: &Loaded| l.domain.lock().paused;
    let mut held = alloc::vec::Vec::new();
    while let Some(mut l) = cpu.runq.remove(|l| paused(l)) {
        hold(&mut l);
        held.push(l);
    }
    for l in held {
        cpu.runq.block(l, None, now);
    }
}

/// This CPU lets go of vCPU `l` for good: a restarting domain whose last
/// vCPU that was is built again now, and its vCPU 0's CPU kicked.
fn release<A: Arch>(a: &A, l: &Loaded) {
    let kick = crate::domain::restart::unloaded(&mut l.domain.lock(), l.vcpu.id);
    if let Some(mask) = kick {
        a.send_sgi(super::KICK_SGI, mask);
    }
}

/// Takes the vCPUs PSCI CPU_ON made pending on this CPU (placed here:
/// their `cpu_mask` is this CPU's) into the run queue, woken.
fn adopt<A: Arch>(a: &A, cpu: &mut PerCpu, domains: &[&'static DomainCell]) {
    for &cell in domains {
        let mut d = cell.lock();
        let d = &mut *d;
        let vttbr = (u64::from(d.stage2.vmid) << 48) | (d.stage2.root_pa & 0xff_ffff_ffff);
        for (id, s) in d.vcpus.iter_mut().enumerate() {
            let Power::OnPending { entry, context } = s.power else {
                continue;
            };
            if s.cpu_mask != cpu.mask {
                continue;
            }
            // A CPU_ON that raced the domain's end (another of its vCPUs
            // still ran until its CPU took the kick) starts nothing.
            if d.state != DomainState::Running {
                s.power = Power::Off;
                continue;
            }
            s.power = Power::On;
            s.loaded = true;
            // Its CPU interface comes out of reset: nothing of a previous
            // life (active PPIs, priorities) survives.
            d.vdist.reset_bank(id);
            let mut f = TrapFrame::default();
            f.r[0] = context;
            f.elr = entry & !1;
            f.spsr = CPU_ON_CPSR | ((entry & 1) << 5);
            // A DomU's first start, Linux's boot protocol: r0 = 0, r1 = ~0
            // (no machine type), r2 = its device tree.
            if let Some(dtb) = (id == 0).then(|| d.boot_dtb.take()).flatten() {
                f.r[1] = u32::MAX;
                f.r[2] = dtb;
            }
            let ctx = VcpuContext::reset(f, vttbr, s.mpidr, d.cntvoff);
            log::info!(
                "{}: vCPU {id} (MPIDR {:#010x}) starts at {entry:#010x} on the CPU with GIC interface bit {:#04x}",
                d.name,
                s.mpidr,
                cpu.mask
            );
            cpu.runq.push(
                Box::new(Loaded {
                    domain: cell,
                    vcpu: Vcpu::new(id as u32, ctx),
                }),
                Wait::Woken,
            );
            if let Some(x) = d.xen.as_mut() {
                // Counted, not written: its MMU is off until the guest turns it on.
                x.set_runstate(a, id as u32, runstate::RUNNABLE, false);
            }
        }
    }
}

/// Whether a vCPU that is not loaded has something pending: queued or in
/// its saved list registers, in its inbox, an event upcall, events
/// another domain posted (any vCPU of the domain drains them), or UART
/// output the console has room for again.
fn wants_cpu(a: &impl Arch, d: &Domain, v: &Vcpu) -> bool {
    let id = v.id as usize;
    uart_tx_ready(a, d, v)
        || !v.queue.is_empty()
        || d.vcpus.get(id).is_some_and(|s| !s.inbox.is_empty())
        || d.xen
            .as_ref()
            .is_some_and(|x| x.upcall_waiting(v.id) || x.inbox_posted())
        || v.context.gic.lr.iter().any(|&lr| {
            matches!(
                ListRegister(lr).state(),
                LrState::Pending | LrState::PendingActive
            )
        })
}

/// Saves the loaded vCPU (if any) into its context and back into the run
/// queue, and loads `next` into the CPU and `f`.
fn switch_to<A: Arch>(a: &A, cpu: &mut PerCpu, f: &mut TrapFrame, next: Box<Loaded>, now: u64) {
    let lrs = lr_count(&cpu.gic);
    if let Some(mut cur) = cpu.current.take() {
        if !cpu.blocked {
            // Written while its stage 1 is still the CPU's.
            set_runstate(a, &mut cur.domain.lock(), cur.vcpu.id, runstate::RUNNABLE);
        }
        let ctx = &mut cur.vcpu.context;
        ctx.frame = f.clone();
        a.save_vcpu(ctx, lrs);
        if cpu.blocked {
            // A parked vCPU waits for the unpause, not for its timer.
            let until = ctx.timer.fires_at().filter(|_| !cur.vcpu.parked);
            cpu.runq.block(cur, until, now);
        } else {
            cpu.runq.push(cur, Wait::Runnable);
        }
    }
    a.exits().count(Class::VcpuSwitch);
    let mut next = next;
    next.vcpu.parked = false;
    a.load_vcpu(&next.vcpu.context, lrs);
    *f = next.vcpu.context.frame.clone();
    cpu.gic.hcr = next.vcpu.context.gic.hcr;
    cpu.blocked = false;
    cpu.runq.started(now);
    {
        let Loaded { domain, vcpu } = &mut *next;
        let mut d = domain.lock();
        let id = vcpu.id as usize;
        // The physical PPIs the domain owns (its virtual timer) are
        // enabled as this vCPU's banked distributor says.
        for intid in (16..32).filter(|&i| d.vdist.owns(i)) {
            if d.vdist.enabled(id, intid) {
                a.irq_enable(intid, 0xa0);
            } else {
                a.irq_disable(intid);
            }
        }
        if let Some(x) = d.xen.as_mut() {
            let mmu_on = a.guest_control().sctlr & 1 != 0;
            x.set_runstate(a, vcpu.id, runstate::RUNNING, mmu_on);
        }
        flush_vm(a, &mut cpu.gic, &mut d, vcpu);
    }
    cpu.current = Some(next);
}
