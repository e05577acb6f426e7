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
#[cfg(test)]
mod tests;

use log::{debug, error};

use crate::domain::{firmware_power, Domain};
use crate::hal::Arch;
use crate::psci;
use crate::stats::Class;
use crate::vgic::PendingQueue;
use snowvisor_arm::exception::Kind;
use snowvisor_arm::frame::{mode_name, TrapFrame};
use snowvisor_arm::hsr::{ec, Hsr};
use snowvisor_xen::abi::runstate;

use cp15::coproc;
pub use inject::inject;
pub use irq::{console_irq, deliver, flush_lrs, guest_irq, kick_upcalls, KICK_SGI};
use irq::{flush_needed, flush_vm, idle_allowed, release_interrupts};
use mmio::data_abort;
pub use percpu::{CpuInterface, DomainCell, Loaded, PerCpu, Timers};
use regs::set_reg;

/// A guest's virtual CPU: its identity and the interrupts waiting for it.
pub struct Vcpu {
    /// Its index in the domain (Xen's `vcpu_id`).
    pub id: u32,
    /// The MPIDR it sees (VMPIDR).
    pub mpidr: u32,
    /// Virtual interrupts waiting for a free list register.
    pub queue: PendingQueue,
}

/// What a trap handler decided about the trapped instruction.
enum Next {
    /// Skip it (it was emulated).
    Skip,
    /// Return to it or to wherever the frame now points.
    Stay,
    /// Skip it, then wait for an interrupt (with no lock held) first.
    SkipAndIdle,
    /// Skip it; the vCPU turned itself off (PSCI CPU_OFF).
    Off,
}

/// How a trap ends for the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Back into the guest.
    Resume,
    /// The vCPU is off (PSCI CPU_OFF): the CPU unloads it and idles until
    /// a CPU_ON starts it again.
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
        xen_hypercall(a, cpu, f);
        return Exit::Resume;
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
            if wfi && idle_allowed(a, gic, d, v) {
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
    match next {
        Next::Stay => {}
        Next::Skip => skip(f, hsr),
        Next::SkipAndIdle => {
            skip(f, hsr);
            set_runstate(a, d, v.id, runstate::BLOCKED);
            // No lock across the wait: the other vCPUs go on, and a kick
            // for this one wakes it (a pending interrupt ends WFI).
            drop(guard);
            a.console_drain_guest();
            a.wait_for_interrupt();
            let mut d = cell.lock();
            set_runstate(a, &mut d, v.id, runstate::RUNNING);
            flush_vm(a, gic, &mut d, v);
            return Exit::Resume;
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
/// anything queued meanwhile).
fn xen_hypercall<A: Arch>(a: &A, cpu: &mut PerCpu, f: &mut TrapFrame) {
    let Some((gic, cell, v)) = cpu.parts() else {
        return no_xen("no vCPU loaded", f);
    };
    let mut d = cell.lock();
    xen_call(a, &mut d, v.id, f);
    // An event for a vCPU on another CPU (an idle one waits in WFI) wakes it.
    if d.xen.as_ref().is_some_and(|x| x.upcall_for_others(v.id)) {
        kick_upcalls(a, &mut d, v.id);
    }
    if flush_needed(gic, &d, v) {
        flush_vm(a, gic, &mut d, v);
    }
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
    match psci::call(f.r[0], [f.r[1], f.r[2], f.r[3]], me, &power) {
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
            let s = &mut d.vcpus[vcpu];
            s.power = psci::Power::OnPending { entry, context };
            s.inbox.clear();
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
                s.inbox.clear();
            }
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
