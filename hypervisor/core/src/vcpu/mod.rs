//! The vCPU at run time: trap dispatch for the running guest (HVC, SMC, WFI,
//! data aborts, CP15), physical interrupts routed to it through the vGIC, and
//! list-register refill on the way back.
//!
//! Arch-independent: everything reaches the CPU through [`Arch`] (the kernel's
//! ARMv7 adapter on the target, `crate::hal::fake::FakeArch` in the host
//! tests of `tests.rs`) and the state through the CPU's [`PerCpu`].
//!
//! Layout: this file holds the [`Vcpu`], the trap entry with the Xen hypercall
//! path, and HVC/SMC (PSCI) dispatch; `regs` reads and writes the trapped
//! instruction's registers, `inject` enters guest exceptions, `mmio`
//! emulates data aborts and the distributor, `cp15` the trapped CP15 and
//! CP14 accesses, `irq` routes physical interrupts to the guest, refills the
//! list registers and decides on idling, and `percpu` holds the CPU's context.

mod cp15;
mod inject;
mod irq;
mod mmio;
mod percpu;
mod regs;
mod switch;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_domu;

use log::{debug, error};

use alloc::string::String;

use crate::domain::fault_loop::{self, Fault};
use crate::domain::{firmware_power, Domain, DomainKind, DomainState};
use crate::hal::Arch;
use crate::psci;
use crate::stats::Class;
use crate::vgic::PendingQueue;
use snowvisor_arm::context::VcpuContext;
use snowvisor_arm::exception::Kind;
use snowvisor_arm::frame::{mode_name, TrapFrame};
use snowvisor_arm::hsr::{ec, Hsr};
use snowvisor_arm::regs::{locate, Location};
use snowvisor_xen::abi::runstate;
use snowvisor_xen::ShutdownReason;

use cp15::coproc;
pub use inject::inject;
pub use irq::{console_irq, deliver, flush_lrs, guest_irq, kick_upcalls, KICK_SGI};
use irq::{flush_needed, flush_vm, idle_allowed, release_interrupts};
use mmio::data_abort;
pub use percpu::{CpuInterface, DomainCell, Loaded, PerCpu, Timers};
use regs::set_reg;
pub use switch::{schedule, Pick};

/// A guest's virtual CPU: its identity, the interrupts waiting for it and
/// its register state while another vCPU has its CPU.
pub struct Vcpu {
    /// Its index in the domain (Xen's `vcpu_id`).
    pub id: u32,
    /// The MPIDR it sees (VMPIDR).
    pub mpidr: u32,
    /// Virtual interrupts waiting for a free list register.
    pub queue: PendingQueue,
    /// Its registers: current while it is not loaded on its CPU (the CPU
    /// holds them while it is).
    pub context: VcpuContext,
    /// Held back because its domain was paused: it waits, whatever is
    /// pending, and goes on when the domain is unpaused.
    pub parked: bool,
}

impl Vcpu {
    /// vCPU `id` of a domain, to be started with `context` (its entry frame
    /// and reset state, [`VcpuContext::reset`]).
    pub fn new(id: u32, context: VcpuContext) -> Self {
        Vcpu {
            id,
            mpidr: context.hyp.vmpidr,
            queue: PendingQueue::default(),
            context,
            parked: false,
        }
    }
}

/// What a trap handler decided about the trapped instruction.
enum Next {
    /// Skip it (it was emulated).
    Skip,
    /// Return to it or to wherever the frame now points.
    Stay,
    /// Skip it; the vCPU waits for an interrupt (WFI, PSCI CPU_SUSPEND).
    SkipAndIdle,
    /// Skip it; the vCPU lets another one run (WFE).
    SkipAndYield,
    /// Skip it; the vCPU turned itself off (PSCI CPU_OFF).
    Off,
}

/// How a trap ends for the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Back into the guest.
    Resume,
    /// The vCPU waits in WFI with nothing pending: [`schedule`] runs
    /// another, or idles the CPU, until its timer or an interrupt wakes it.
    Block,
    /// The vCPU waits for an event (WFE: a spinlock's wait): another
    /// runnable vCPU of the CPU gets it first.
    Yield,
    /// The vCPU is off (PSCI CPU_OFF): [`schedule`] drops it; a CPU_ON
    /// starts it anew.
    VcpuOff,
}

fn skip(f: &mut TrapFrame, hsr: Hsr) {
    f.elr = f.elr.wrapping_add(if hsr.il32() { 4 } else { 2 });
}

/// `log::$level!` for messages a guest can trigger, through the domain's
/// [`crate::domain::GuestLog`]: `guest_log!(arch, domain, level, ...)`.
/// Their target is `guest`: the RAM log keeps the first one's report.
macro_rules! guest_log {
    ($a:expr, $d:expr, $level:ident, $($t:tt)*) => {
        if $d.log.allowed($crate::hal::now_ms($a)) {
            log::$level!(target: "guest", $($t)*);
        }
    };
}
pub(crate) use guest_log;

/// `HVC #0xEA1`: Xen's hypercall.
const XEN_HVC: u32 = 0xea1;

/// A hypervisor trap from the guest loaded on this CPU (HYP vector 0x14).
#[inline]
pub fn trap<A: Arch>(a: &A, cpu: &mut PerCpu, f: &mut TrapFrame) -> Exit {
    let hsr = a.hsr();
    // The hot path: Xen hypercalls go straight to their handler, which also
    // refills the list registers. Every hypercall takes it; none has a
    // shortcut of its own.
    if hsr.ec() == ec::HVC && hsr.iss() & 0xffff == XEN_HVC {
        a.exits().hypercall(f.r[12]);
        return xen_hypercall(a, cpu, f);
    }
    trap_other(a, cpu, f, hsr)
}

#[inline(never)]
fn trap_other<A: Arch>(a: &A, cpu: &mut PerCpu, f: &mut TrapFrame, hsr: Hsr) -> Exit {
    let Some((gic, cell, v)) = cpu.parts() else {
        error!("trap {hsr} at pc {:#010x} with no vCPU loaded", f.elr);
        return Exit::Resume;
    };
    let mut guard = cell.lock();
    let d = &mut *guard;
    let (pc, cpsr) = (f.elr, f.spsr);
    let next = match hsr.ec() {
        ec::HVC => hvc(a, d, v, f, hsr),
        ec::SMC => {
            a.exits().count(Class::Smc);
            // A trapped SMC leaves ELR at the SMC itself.
            match psci_call(a, d, v, f) {
                Next::Stay => Next::Skip,
                n => n,
            }
        }
        ec::WFI_WFE => {
            let wfi = hsr.iss() & 1 == 0;
            a.exits().count(if wfi { Class::Wfi } else { Class::Wfe });
            if !wfi {
                Next::SkipAndYield
            } else if idle_allowed(a, gic, d, v) {
                Next::SkipAndIdle
            } else {
                Next::Skip
            }
        }
        ec::DABT_GUEST => data_abort(a, d, v, f, hsr),
        ec::PABT_GUEST => {
            a.exits().count(Class::PrefetchAbort);
            let ifar = a.hifar();
            guest_log!(a, d, error, "{}: instruction fetch fault at VA {ifar:#010x} ({hsr}); injecting a prefetch abort", d.name);
            inject(a, f, Kind::PrefetchAbort { addr: ifar });
            Next::Stay
        }
        ec::CP15_32 => coproc(a, d, f, hsr, 15),
        ec::CP14_32 => coproc(a, d, f, hsr, 14),
        ec::CP14_64 | ec::CP14_LDC => {
            // Debug registers by MRRC/LDC/STC (HDCR.TDA, TDRA): none allowed.
            a.exits().other(hsr.ec());
            guest_log!(
                a,
                d,
                warn,
                "{}: {hsr} at pc {:#010x} not allowed; injecting undefined instruction",
                d.name,
                f.elr
            );
            inject(a, f, Kind::Undefined);
            Next::Stay
        }
        ec::CP15_64 => {
            // CNTP_CVAL (MCRR/MRRC p15, 2, c14): the physical timer is snowvisor's.
            let rt = (hsr.iss() >> 5) & 0xf;
            let rt2 = (hsr.iss() >> 10) & 0xf;
            a.exits()
                .cp15x64((hsr.iss() >> 16) & 0xf, (hsr.iss() >> 1) & 0xf);
            if hsr.iss() & 1 != 0 {
                set_reg(a, f, rt, 0);
                set_reg(a, f, rt2, 0);
            }
            debug!("{}: 64-bit CP15 access {hsr} emulated as RAZ/WI", d.name);
            Next::Skip
        }
        _ => {
            a.exits().other(hsr.ec());
            if d.log.allowed(crate::hal::now_ms(a)) {
                error!(target: "guest", "{}: unhandled trap {hsr} at pc {:#010x} ({} mode); injecting undefined instruction", d.name, f.elr, mode_name(f.spsr));
                dump(f);
            }
            inject(a, f, Kind::Undefined);
            Next::Stay
        }
    };
    // An exception injected: every abort that stays (the frame at its
    // vector, which is where it was for a fault on that vector itself), or
    // a frame moved to a vector.
    let injected =
        matches!(hsr.ec(), ec::PABT_GUEST | ec::DABT_GUEST) || (f.elr, f.spsr) != (pc, cpsr);
    let next = match next {
        Next::Stay if injected => contain(a, d, v, f, hsr, pc, cpsr),
        n => n,
    };
    match next {
        Next::Stay => {}
        Next::Skip => skip(f, hsr),
        Next::SkipAndIdle => {
            skip(f, hsr);
            set_runstate(a, d, v.id, runstate::BLOCKED);
            drop(guard);
            a.console_drain_guest();
            return Exit::Block;
        }
        Next::SkipAndYield => {
            skip(f, hsr);
            return Exit::Yield;
        }
        Next::Off => {
            skip(f, hsr);
            release_interrupts(a, gic, d, v);
            return Exit::VcpuOff;
        }
    }
    flush_vm(a, gic, d, v);
    Exit::Resume
}

fn hvc<A: Arch>(a: &A, d: &mut Domain, v: &mut Vcpu, f: &mut TrapFrame, hsr: Hsr) -> Next {
    match hsr.iss() & 0xffff {
        0 => {
            a.exits().count(Class::Psci);
            // ELR already points past an HVC: back by 4, the caller skips it.
            f.elr = f.elr.wrapping_sub(4);
            match psci_call(a, d, v, f) {
                Next::Stay => Next::Skip,
                n => n,
            }
        }
        // HVC #0xEA1 never gets here: `trap` takes Xen hypercalls first.
        imm => {
            // As Xen 4.17 (arch/arm/traps.c, do_trap_hypercall): an unknown
            // immediate is an undefined instruction. HVC is 4 bytes in ARM
            // and Thumb; ELR points past it, the exception is taken at it.
            a.exits().other(hsr.ec());
            guest_log!(
                a,
                d,
                warn,
                "{}: HVC #{imm:#x} is not a known interface; injecting undefined instruction",
                d.name
            );
            f.elr = f.elr.wrapping_sub(4);
            inject(a, f, Kind::Undefined);
            Next::Stay
        }
    }
}

/// A Xen hypercall, then the list-register refill (an upcall it raised, or
/// anything queued meanwhile). A DomU's `SCHEDOP_shutdown` ends that domain
/// alone, as its PSCI SYSTEM_OFF/RESET does.
fn xen_hypercall<A: Arch>(a: &A, cpu: &mut PerCpu, f: &mut TrapFrame) -> Exit {
    let Some((gic, cell, v)) = cpu.parts() else {
        no_xen("no vCPU loaded", f);
        return Exit::Resume;
    };
    let mut d = cell.lock();
    xen_call(a, &mut d, v.id, f);
    if let Some(reason) = d.xen.as_mut().and_then(|x| x.take_shutdown()) {
        log::info!("{}: SCHEDOP_shutdown({reason})", d.name);
        let crashed = alloc::format!("{}: SCHEDOP_shutdown(crash)", d.name);
        let how = match reason {
            ShutdownReason::Reboot => End::Reset,
            ShutdownReason::Crash => End::Crashed(&crashed),
            _ => End::Off,
        };
        end_domu(a, &mut d, how);
        d.shutdown_code = reason.code();
        release_interrupts(a, gic, &mut d, v);
        return Exit::VcpuOff;
    }
    // An event for a vCPU on another CPU (an idle one waits in WFI) wakes it.
    if d.xen.as_ref().is_some_and(|x| x.upcall_for_others(v.id)) {
        kick_upcalls(a, &mut d, v.id);
    }
    if flush_needed(gic, &d, v) {
        flush_vm(a, gic, &mut d, v);
    }
    Exit::Resume
}

/// Hypercall `r12` with r0-r4 on the domain's Xen state (inlined into
/// the trap entry: the hot path has no call of its own before `Xen::hypercall`).
#[inline(always)]
fn xen_call<A: Arch>(a: &A, d: &mut Domain, vcpu: u32, f: &mut TrapFrame) {
    let Domain { xen, log, .. } = d;
    match xen.as_mut() {
        None => no_xen(d.name, f),
        Some(x) => {
            let args = [f.r[0], f.r[1], f.r[2], f.r[3], f.r[4]];
            match x.hypercall(a, log, vcpu, f.r[12], args) {
                snowvisor_xen::Outcome::Return(v) => f.r[0] = v as u32,
                snowvisor_xen::Outcome::Continue(regs) => {
                    // Issue the HVC again (ARM and Thumb-2 encodings are both 4 bytes).
                    f.r[..5].copy_from_slice(&regs);
                    f.elr = f.elr.wrapping_sub(4);
                }
            }
        }
    }
}

/// A Xen hypercall `who` cannot take (a domain without Xen state): -ENOSYS.
#[cold]
#[inline(never)]
fn no_xen(who: &str, f: &mut TrapFrame) {
    debug!("{who}: Xen hypercall {} without Xen state", f.r[12]);
    f.r[0] = snowvisor_xen::Errno::ENOSYS.ret() as u32;
}

/// A PSCI call from vCPU `v`, the frame at the calling instruction:
/// `Next::Stay` to skip it and return the result in r0,
/// `Next::SkipAndIdle` for a standby (the caller waits with no lock
/// held), `Next::Off` when the vCPU turned itself off.
fn psci_call<A: Arch>(a: &A, d: &mut Domain, v: &mut Vcpu, f: &mut TrapFrame) -> Next {
    let me = v.id as usize;
    let power: alloc::vec::Vec<(u32, psci::Power)> =
        d.vcpus.iter().map(|s| (s.mpidr, s.power)).collect();
    let action = psci::call(f.r[0], [f.r[1], f.r[2], f.r[3]], me, &power);
    match action {
        psci::Action::Return(r) => f.r[0] = r,
        psci::Action::Idle => {
            f.r[0] = psci::SUCCESS as u32;
            return Next::SkipAndIdle;
        }
        psci::Action::CpuOn {
            vcpu,
            entry,
            context,
        } => {
            if d.state != crate::domain::DomainState::Running {
                // Its domain ended while this vCPU still ran (its CPU has
                // not taken the kick yet): nothing starts any more.
                f.r[0] = psci::DENIED as u32;
                return Next::Stay;
            }
            let s = &mut d.vcpus[vcpu];
            s.power = psci::Power::OnPending { entry, context };
            // SGIs and PPIs of its previous life go; SPIs still pending
            // for it wait in its inbox (`deliver`).
            s.inbox.retain(|&i| i >= 32);
            log::info!(
                "{}: vCPU {me} starts vCPU {vcpu} (MPIDR {:#010x}) at {entry:#010x}",
                d.name,
                s.mpidr
            );
            a.send_sgi(KICK_SGI, s.cpu_mask);
            f.r[0] = psci::SUCCESS as u32;
        }
        psci::Action::CpuOff => {
            log::info!("{}: vCPU {me} turned itself off (PSCI CPU_OFF)", d.name);
            set_runstate(a, d, v.id, runstate::OFFLINE);
            if let Some(s) = d.vcpus.get_mut(me) {
                s.power = psci::Power::Off;
                s.inbox.retain(|&i| i >= 32);
            }
            return Next::Off;
        }
        psci::Action::SystemOff | psci::Action::LastCpuOff | psci::Action::SystemReset
            if d.kind == DomainKind::DomU =>
        {
            let how = if matches!(action, psci::Action::SystemReset) {
                End::Reset
            } else {
                End::Off
            };
            end_domu(a, d, how);
            return Next::Off;
        }
        psci::Action::SystemOff => {
            log::info!("{}: PSCI SYSTEM_OFF: powering off", d.name);
            firmware_power(a, &d.log, psci::fid::SYSTEM_OFF);
        }
        psci::Action::SystemReset => {
            log::info!("{}: PSCI SYSTEM_RESET: resetting", d.name);
            firmware_power(a, &d.log, psci::fid::SYSTEM_RESET);
        }
        psci::Action::LastCpuOff => {
            log::info!("{}: its last vCPU turned itself off: powering off", d.name);
            firmware_power(a, &d.log, psci::fid::SYSTEM_OFF);
        }
    }
    Next::Stay
}

/// Crash containment after snowvisor injected an exception for the
/// instruction at `pc` (CPSR `cpsr`): the vCPU's [`fault_loop`] record says
/// whether it can still make progress. A DomU that cannot is ended alone
/// ([`Next::Off`]); Dom0, the hardware domain, is reported and goes on (the
/// machine would have to stop with it).
fn contain<A: Arch>(
    a: &A,
    d: &mut Domain,
    v: &mut Vcpu,
    f: &TrapFrame,
    hsr: Hsr,
    pc: u32,
    cpsr: u32,
) -> Next {
    let (class, addr) = match hsr.ec() {
        ec::DABT_GUEST => ("data abort", Some(a.hdfar())),
        ec::PABT_GUEST => ("prefetch abort", Some(a.hifar())),
        _ => ("undefined instruction", None),
    };
    let mut regs = [0; 15];
    regs[..13].copy_from_slice(&f.r);
    if let Some(Location::Banked(sp)) = locate(cpsr, 13) {
        regs[13] = a.banked(sp);
    }
    regs[14] = f.lr;
    let fault = Fault {
        class: hsr.ec(),
        pc,
        cpsr,
        addr: addr.unwrap_or(0),
        regs,
    };
    let prefetch = hsr.ec() == ec::PABT_GUEST;
    let Some(s) = d.vcpus.get_mut(v.id as usize) else {
        return Next::Stay;
    };
    let why = match s.faults.injected(fault, f.elr, prefetch) {
        fault_loop::Verdict::Go => return Next::Stay,
        fault_loop::Verdict::Repeated { times } => alloc::format!(
            "the same {class} at pc {pc:#010x}{} {times} times in a row with nothing changed",
            addr.map_or(String::new(), |x| alloc::format!(" (address {x:#010x})"))
        ),
        fault_loop::Verdict::VectorUnfetchable { vector } => alloc::format!(
            "a prefetch abort on its own prefetch-abort vector {vector:#010x} (after a fault at pc {pc:#010x})"
        ),
    };
    // The name and the ID (a DomU's name is its ID already: `d1`).
    let id = alloc::format!("d{}", d.id);
    let who = if d.name == id {
        id
    } else {
        alloc::format!("{} ({id})", d.name)
    };
    let why = alloc::format!("{who}: vCPU {} cannot make progress: {why}", v.id);
    if d.kind == DomainKind::Dom0 {
        error!("{why}; Dom0 is the hardware domain: not ended");
        return Next::Stay;
    }
    end_domu(a, d, End::Crashed(&why));
    Next::Off
}

/// How a DomU ends.
enum End<'a> {
    /// Its PSCI SYSTEM_OFF, or its last vCPU's CPU_OFF.
    Off,
    /// Its PSCI SYSTEM_RESET.
    Reset,
    /// snowvisor ends it: the line that says why.
    Crashed(&'a str),
}

/// A DomU ends (`how`): that domain alone, the machine and the other
/// domains go on. Its console's last partial line is sent, every vCPU is
/// marked off and the CPUs running its other vCPUs are kicked (they unload
/// them at that interrupt, `DomainState` no longer running), Dom0 gets
/// `VIRQ_DOM_EXC` (Xen's `public/xen.h`: "a domain has changed state"), and
/// the integrity checksums are compared with the boot's. A reset restarts it
/// ([`restart`](crate::domain::restart)) unless it cannot
/// ([`Domain::restart`] `None`: off) or resets in a loop (crashed).
fn end_domu<A: Arch>(a: &A, d: &mut Domain, how: End) {
    if let Some(u) = d.uart.as_mut() {
        u.flush(a);
    }
    d.log.report_suppressed();
    // Xen's SHUTDOWN_poweroff, SHUTDOWN_reboot, SHUTDOWN_crash.
    d.shutdown_code = match how {
        End::Off => 0,
        End::Reset => 1,
        End::Crashed(_) => 3,
    };
    d.state = match how {
        End::Off => {
            log::info!(
                "{}: PSCI SYSTEM_OFF: this domain is off (the others go on)",
                d.name
            );
            DomainState::Off
        }
        End::Reset => reset_domu(a, d),
        End::Crashed(why) => {
            error!("{why}; ending this domain (the others go on)");
            DomainState::Crashed
        }
    };
    for s in d.vcpus.iter_mut() {
        if s.power == psci::Power::On {
            a.send_sgi(KICK_SGI, s.cpu_mask);
        }
        s.power = psci::Power::Off;
        s.inbox.clear();
        s.faults.reset();
    }
    // Xen's `domain_shutdown` tells the control domain: VIRQ_DOM_EXC, on
    // which xenstored fires `@releaseDomain` and backends let go.
    if let Some(dom0) = a.evtchn_peer(0) {
        if dom0.post_virq(snowvisor_xen::abi::virq::DOM_EXC) {
            a.kick_domain(0);
        }
    }
    a.integrity_check(&alloc::format!("{} {}", d.name, d.state.name()));
}

/// A DomU's SYSTEM_RESET: the state it goes to, said on the console.
fn reset_domu<A: Arch>(a: &A, d: &mut Domain) -> DomainState {
    let hz = u64::from(a.counter_hz()).max(1);
    let now_ms = a.counter().saturating_mul(1000) / hz;
    let Some(r) = d.restart.as_mut() else {
        log::info!(
            "{}: PSCI SYSTEM_RESET: this domain is off with SHUTDOWN_reboot (the others go on; snowvisor keeps no copy of its boot modules to restart it: its toolstack may build it again)",
            d.name
        );
        return DomainState::Off;
    };
    if !r.guard.allow(now_ms) {
        error!(
            "{}: PSCI SYSTEM_RESET: {} restarts within {} s: a reset loop; ending this domain (the others go on)",
            d.name,
            crate::domain::restart::MAX_RESTARTS + 1,
            crate::domain::restart::WINDOW_MS / 1000
        );
        return DomainState::Crashed;
    }
    log::info!(
        "{}: PSCI SYSTEM_RESET: restarting this domain (the others go on), restart {}",
        d.name,
        r.guard.count()
    );
    DomainState::Restarting
}

/// vCPU `vcpu` (this CPU's) enters Xen runstate `state`, if the domain
/// speaks Xen.
fn set_runstate<A: Arch>(a: &A, d: &mut Domain, vcpu: u32, state: u32) {
    if let Some(x) = d.xen.as_mut() {
        x.set_runstate(a, vcpu, state, true);
    }
}

fn dump(f: &TrapFrame) {
    for line in f.register_lines() {
        error!(target: "guest", "  {line}");
    }
    error!(
        target: "guest",
        "  lr_usr={:#010x} pc={:#010x} cpsr={:#010x}",
        f.lr, f.elr, f.spsr
    );
}
