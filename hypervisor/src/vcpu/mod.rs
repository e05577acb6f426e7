//! The vCPU at run time: trap dispatch for the running guest (HVC, SMC, WFI,
//! data aborts, CP15), physical interrupts routed to it through the vGIC, and
//! list-register refill on the way back.
//!
//! Layout: this file holds the guest's state, the trap entry with the Xen
//! hypercall path, and HVC/SMC (PSCI) dispatch; `regs` reads and writes
//! the trapped instruction's registers, `mmio` emulates data aborts and the
//! distributor, `cp15` the trapped CP15 and CP14 accesses, and `irq` routes physical
//! interrupts to the guest, refills the list registers and decides on idling.

mod cp15;
mod irq;
mod mmio;
mod regs;

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

use log::{debug, error, warn};
use spin::Mutex;

use crate::arch::armv7::exception::Kind;
use crate::arch::armv7::frame::{mode_name, TrapFrame};
use crate::arch::armv7::guest;
use crate::arch::armv7::hsr::{ec, Hsr};
use crate::domain::xen_glue::XenDom0;
use crate::drivers::gicv2::Gic;
use crate::psci;
use crate::ratelimit::{RateLimit, Verdict};
use crate::stats::{Class, EXITS};
use crate::vgic::{PendingQueue, VDist};
use snowvisor_dt::Region;

use cp15::coproc;
pub use irq::{console_irq, flush_lrs, guest_irq};
use irq::{flush_needed, flush_vm, idle_allowed};
use mmio::data_abort;
use regs::set_reg;

/// A guest's interrupt state and trap-relevant layout.
pub struct Vm {
    pub name: &'static str,
    /// Guest IPA of its (emulated) distributor.
    pub gicd: Region,
    pub vdist: VDist,
    pub queue: PendingQueue,
    /// Host device nodes by MMIO region, to name the owner of a faulting address.
    pub devices: Vec<(Region, alloc::string::String)>,
    pub mpidr: u32,
    pub stage2_faults: u32,
    /// The Xen ABI Dom0 sees (`HVC #0xEA1`), if it runs as Xen's initial domain.
    pub xen: Option<XenDom0>,
    /// The serial console shared with snowvisor (input switch, debug keys).
    pub console: crate::debugkeys::Console,
}

/// Boxed: `None` is then all zero bytes and the static lives in `.bss`
/// (an inline `Option<Vm>` put 3 KiB of initialised data into the image).
pub static VM: Mutex<Option<alloc::boxed::Box<Vm>>> = Mutex::new(None);
/// GICH_VTR's list-register count, read once.
static LIST_REGISTERS: AtomicU32 = AtomicU32::new(0);
/// INTID of the guest's virtual timer PPI.
pub static VTIMER_INTID: AtomicU32 = AtomicU32::new(27);
static GIC: spin::Once<&'static Gic> = spin::Once::new();

/// Makes `vm` the running guest.
pub fn install(vm: Vm) {
    *VM.lock() = Some(alloc::boxed::Box::new(vm));
}

/// Hands the physical GIC to the run-time code.
pub fn set_gic(g: &'static Gic) {
    LIST_REGISTERS.store(g.list_registers().unwrap_or(0), Ordering::Relaxed);
    GIC.call_once(|| g);
}

/// What a trap handler decided about the trapped instruction.
enum Next {
    /// Skip it (it was emulated).
    Skip,
    /// Return to it or to wherever the frame now points.
    Stay,
}

fn skip(f: &mut TrapFrame, hsr: Hsr) {
    f.elr = f.elr.wrapping_add(if hsr.il32() { 4 } else { 2 });
}

/// What a guest can make snowvisor print (its faults, refused traps and
/// calls): 10 lines at once, then one per 500 ms, the same rate as Xen's
/// `printk_ratelimit` (10 per 5 s). Times in milliseconds.
static GUEST_LOG: Mutex<RateLimit> = Mutex::new(RateLimit::new(10, 500));

/// Whether a guest-triggered message may be printed now; the first one let
/// through after a flood first says how many were dropped.
pub(crate) fn guest_log_allowed() -> bool {
    let t = aarch32_cpu::register::CntPct::read().0;
    let f = u64::from(aarch32_cpu::register::Cntfrq::read().0.max(1));
    let now_ms = t / f.div_ceil(1000);
    let Some(mut l) = GUEST_LOG.try_lock() else {
        return false;
    };
    match l.check(now_ms) {
        Verdict::Suppress => false,
        Verdict::Print { suppressed } => {
            drop(l);
            if suppressed > 0 {
                warn!(target: "guest", "dom0: {suppressed} messages suppressed");
            }
            true
        }
    }
}

/// Says how many guest-triggered messages were dropped and not yet counted
/// in a log line (before the machine stops).
fn report_suppressed() {
    let n = GUEST_LOG.try_lock().map_or(0, |l| l.suppressed());
    if n > 0 {
        warn!(target: "guest", "dom0: {n} messages suppressed");
    }
}

/// `log::$level!` for messages a guest can trigger, through [`GUEST_LOG`].
/// Their target is `guest`: the RAM log keeps the first one's report.
macro_rules! guest_log {
    ($level:ident, $($t:tt)*) => {
        if $crate::vcpu::guest_log_allowed() {
            log::$level!(target: "guest", $($t)*);
        }
    };
}
pub(crate) use guest_log;

/// `HVC #0xEA1`: Xen's hypercall.
const XEN_HVC: u32 = 0xea1;

/// A hypervisor trap from the guest (HYP vector 0x14).
#[inline]
pub fn trap(f: &mut TrapFrame) {
    let hsr = Hsr(aarch32_cpu::register::Hsr::read().raw_value());
    // The hot path: Xen hypercalls go straight to their handler, which also
    // refills the list registers under the same lock. Every hypercall takes
    // it; none has a shortcut of its own.
    if hsr.ec() == ec::HVC && hsr.iss() & 0xffff == XEN_HVC {
        EXITS.hypercall(f.r[12]);
        xen_hypercall(f);
        return;
    }
    trap_other(f, hsr);
}

#[inline(never)]
fn trap_other(f: &mut TrapFrame, hsr: Hsr) {
    let next = match hsr.ec() {
        ec::HVC => hvc(f, hsr),
        ec::SMC => {
            EXITS.count(Class::Smc);
            // A trapped SMC leaves ELR at the SMC itself.
            psci_call(f);
            Next::Skip
        }
        ec::WFI_WFE => {
            let wfi = hsr.iss() & 1 == 0;
            EXITS.count(if wfi { Class::Wfi } else { Class::Wfe });
            if wfi && idle_allowed() {
                crate::console::drain_guest();
                crate::arch::armv7::cpu::wait_for_interrupt();
            }
            Next::Skip
        }
        ec::DABT_GUEST => data_abort(f, hsr),
        ec::PABT_GUEST => {
            EXITS.count(Class::PrefetchAbort);
            let ifar = aarch32_cpu::register::Hifar::read().0;
            guest_log!(error, "dom0: instruction fetch fault at VA {ifar:#010x} ({hsr}); injecting a prefetch abort");
            guest::inject(f, Kind::PrefetchAbort { addr: ifar });
            Next::Stay
        }
        ec::CP15_32 => coproc(f, hsr, 15),
        ec::CP14_32 => coproc(f, hsr, 14),
        ec::CP14_64 | ec::CP14_LDC => {
            // Debug registers by MRRC/LDC/STC (HDCR.TDA, TDRA): none allowed.
            EXITS.other(hsr.ec());
            guest_log!(
                warn,
                "dom0: {hsr} at pc {:#010x} not allowed; injecting undefined instruction",
                f.elr
            );
            guest::inject(f, Kind::Undefined);
            Next::Stay
        }
        ec::CP15_64 => {
            // CNTP_CVAL (MCRR/MRRC p15, 2, c14): the physical timer is snowvisor's.
            let rt = (hsr.iss() >> 5) & 0xf;
            let rt2 = (hsr.iss() >> 10) & 0xf;
            EXITS.cp15x64((hsr.iss() >> 16) & 0xf, (hsr.iss() >> 1) & 0xf);
            if hsr.iss() & 1 != 0 {
                set_reg(f, rt, 0);
                set_reg(f, rt2, 0);
            }
            debug!("dom0: 64-bit CP15 access {hsr} emulated as RAZ/WI");
            Next::Skip
        }
        _ => {
            EXITS.other(hsr.ec());
            if guest_log_allowed() {
                error!(target: "guest", "dom0: unhandled trap {hsr} at pc {:#010x} ({} mode); injecting undefined instruction", f.elr, mode_name(f.spsr));
                dump(f);
            }
            guest::inject(f, Kind::Undefined);
            Next::Stay
        }
    };
    if let Next::Skip = next {
        skip(f, hsr);
    }
    flush_lrs();
}

fn hvc(f: &mut TrapFrame, hsr: Hsr) -> Next {
    match hsr.iss() & 0xffff {
        0 => {
            EXITS.count(Class::Psci);
            psci_call(f)
        }
        XEN_HVC => xen_hypercall(f),
        imm => {
            // As Xen 4.17 (arch/arm/traps.c, do_trap_hypercall): an unknown
            // immediate is an undefined instruction. HVC is 4 bytes in ARM
            // and Thumb; ELR points past it, the exception is taken at it.
            EXITS.other(hsr.ec());
            guest_log!(
                warn,
                "dom0: HVC #{imm:#x} is not a known interface; injecting undefined instruction"
            );
            f.elr = f.elr.wrapping_sub(4);
            guest::inject(f, Kind::Undefined);
        }
    }
    // ELR already points past an HVC.
    Next::Stay
}

/// A Xen hypercall, then the list-register refill (an upcall it raised, or
/// anything queued meanwhile), all under one hold of the [`VM`] lock.
fn xen_hypercall(f: &mut TrapFrame) {
    let mut g = VM.lock();
    let Some(vm) = g.as_mut() else {
        debug!("dom0: Xen hypercall {} without a VM", f.r[12]);
        f.r[0] = snowvisor_xen::Errno::ENOSYS.ret() as u32;
        return;
    };
    match vm.xen.as_mut() {
        None => {
            debug!("dom0: Xen hypercall {} without Xen state", f.r[12]);
            f.r[0] = snowvisor_xen::Errno::ENOSYS.ret() as u32;
        }
        Some(x) => {
            let args = [f.r[0], f.r[1], f.r[2], f.r[3], f.r[4]];
            match x.hypercall(f.r[12], args) {
                snowvisor_xen::Outcome::Return(v) => f.r[0] = v as u32,
                snowvisor_xen::Outcome::Continue(regs) => {
                    // Issue the HVC again (ARM and Thumb-2 encodings are both 4 bytes).
                    f.r[..5].copy_from_slice(&regs);
                    f.elr = f.elr.wrapping_sub(4);
                }
            }
        }
    }
    if flush_needed(vm) {
        flush_vm(vm);
    }
}

fn psci_call(f: &mut TrapFrame) {
    let mpidr = VM.lock().as_ref().map_or(0, |vm| vm.mpidr);
    match psci::call(f.r[0], f.r[1], mpidr) {
        psci::Action::Return(v) => f.r[0] = v,
        psci::Action::Idle => {
            crate::arch::armv7::cpu::wait_for_interrupt();
            f.r[0] = psci::SUCCESS as u32;
        }
        psci::Action::SystemOff => {
            log::info!("dom0: PSCI SYSTEM_OFF: powering off");
            platform_psci(psci::fid::SYSTEM_OFF);
        }
        psci::Action::SystemReset => {
            log::info!("dom0: PSCI SYSTEM_RESET: resetting");
            platform_psci(psci::fid::SYSTEM_RESET);
        }
        psci::Action::CpuOff => {
            log::info!("dom0: its only vCPU turned itself off: powering off");
            platform_psci(psci::fid::SYSTEM_OFF);
        }
    }
}

/// Forwards a system PSCI call to the platform firmware (QEMU implements PSCI
/// for HYP software over SMC).
pub(crate) fn platform_psci(function: u32) -> ! {
    report_suppressed();
    crate::console::flush_guest();
    crate::arch::armv7::secure::smc_call(function, 0, 0, 0);
    crate::start::fatal(format_args!("platform PSCI call {function:#x} returned"))
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
