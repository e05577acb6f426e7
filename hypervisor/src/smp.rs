//! Secondary CPUs: started at boot into HYP, each with its own context,
//! then running Dom0's vCPU pinned to it.
//!
//! The boot CPU starts every other `cpu` node of the host tree, one at a
//! time: from snowvisor's pen if the firmware started it with the boot CPU
//! and it waits there (QEMU `secure=on` with an ELF), else through the
//! board's own method if it has one (`Board::cpu_on`), else PSCI CPU_ON
//! over the tree's `/psci` conduit (SMC: the firmware's, or QEMU's built-in
//! PSCI). A CPU that arrives in Secure SVC switches itself to HYP. Each CPU
//! arrives at `snowvisor_arch_armv7::smp::secondary_entry` with a HYP stack
//! of its own, turns its HYP MMU on with the boot CPU's tables, and runs
//! [`snowvisor_secondary_main`]: its per-CPU slot (HTPIDR), its GIC CPU and
//! hypervisor interfaces, its HYP timer (checked by a 1 ms one-shot, like
//! the boot CPU's), then it says so and [`idle`]s until Dom0's PSCI CPU_ON
//! makes its vCPU pending. The boot log names every CPU, its MPIDR and how
//! it came up, or why it did not.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

use aarch32_cpu::register::{CntPct, Cntfrq, Mpidr};
use log::{info, warn};
use snowvisor_dt::HostTree;

use crate::board::{Board, CpuOnError};
use crate::cpu::{this_cpu, Armv7, Cpu, MAX_CPUS};
use snowvisor_arch_armv7::cpu;
use snowvisor_arch_armv7::drivers::gicv2::Gic;
use snowvisor_arch_armv7::smp as arch_smp;
use snowvisor_arm::frame::TrapFrame;
use snowvisor_core::sched::{self, RunQueue};
use snowvisor_core::vcpu::{self, CpuInterface, DomainCell, Exit, Loaded, PerCpu, Pick, Timers};
use snowvisor_plan::cpus::{self, Conduit, Method};

/// Each secondary CPU's HYP stack (bytes): the trap and interrupt paths
/// run on it once the CPU hosts a vCPU.
const STACK_SIZE: usize = 32 << 10;

/// How long the boot CPU waits for a started CPU to report (seconds of the
/// counter): generous, multi-threaded TCG on a busy host is slow.
const WAIT_SECS: u64 = 10;

/// What a secondary CPU reports in its word of [`STATE`].
mod state {
    /// Not started, or not arrived yet.
    pub const OFF: u32 = 0;
    /// Up: context attached, GIC interface on, HYP timer interrupt taken.
    pub const UP: u32 = 1;
    /// Up, but its HYP timer interrupt never came.
    pub const NO_TIMER: u32 = 2;
}

/// Per CPU (MPIDR Aff0): its [`state`] word, written by that CPU once its
/// caches are on (coherent with the boot CPU's).
static STATE: [AtomicU32; MAX_CPUS] = [const { AtomicU32::new(state::OFF) }; MAX_CPUS];
/// Per CPU (MPIDR Aff0): its MPIDR as it reads it, stored before its state.
static MPIDR: [AtomicU32; MAX_CPUS] = [const { AtomicU32::new(0) }; MAX_CPUS];
/// Per CPU (MPIDR Aff0): its GIC CPU-interface bit, stored before its state.
static GIC_MASK: [AtomicU32; MAX_CPUS] = [const { AtomicU32::new(0) }; MAX_CPUS];

/// The CPUs up in HYP, the boot CPU first: (MPIDR, GIC CPU-interface bit).
static ONLINE: spin::Mutex<Vec<(u32, u8)>> = spin::Mutex::new(Vec::new());

/// The CPUs up in HYP, the boot CPU first, as (MPIDR, GIC CPU-interface
/// bit): where Dom0's vCPUs run, one each.
pub fn online() -> Vec<(u32, u8)> {
    ONLINE.lock().clone()
}

/// The domains whose vCPUs the CPUs run (Dom0 and the DomUs), all built
/// before the first vCPU runs.
static DOMAINS: spin::Once<&'static [&'static DomainCell]> = spin::Once::new();

/// Makes `cells` the domains the CPUs start vCPUs of (PSCI CPU_ON, a
/// DomU's first vCPU); once, at boot.
pub fn publish_domains(cells: Vec<&'static DomainCell>) {
    DOMAINS.call_once(|| cells.leak());
}

/// The domains whose vCPUs the scheduler may find placed on a CPU.
pub fn domains() -> &'static [&'static DomainCell] {
    DOMAINS.get().copied().unwrap_or(&[])
}

/// What a secondary CPU copies from the boot CPU: the GIC driver and the
/// boot CPU's per-CPU settings (INTIDs, list registers), set before the
/// first CPU is started.
static TEMPLATE: spin::Once<(&'static Gic, CpuInterface, Timers)> = spin::Once::new();

/// Starts every CPU of the host tree but the boot CPU and waits for each.
/// `interface` and `timers` are the boot CPU's (its INTIDs and list
/// registers): each CPU gets a copy.
pub fn start_secondaries<B: Board>(
    tree: &HostTree<'_>,
    gic: &'static Gic,
    interface: CpuInterface,
    timers: Timers,
) {
    let host = cpus::host_cpus(tree.index());
    let boot_mpidr = Mpidr::read().0;
    let boot = u64::from(boot_mpidr) & cpus::AFFINITY_MASK;
    ONLINE.lock().push((boot_mpidr, gic.this_cpu_mask()));
    let mut up: Vec<(u32, Method)> = Vec::from([(boot_mpidr, Method::Boot)]);
    let others: Vec<_> = host.iter().filter(|c| c.mpidr != boot).collect();
    if others.is_empty() {
        info!("smp: 1 CPU (MPIDR {boot_mpidr:#010x}, the boot CPU)");
        return;
    }
    TEMPLATE.call_once(|| (gic, interface, timers));
    let psci = cpus::psci(tree.index());
    for c in others {
        let path = tree.index().path(c.node);
        let aff0 = c.aff0();
        if c.mpidr & !0xff != boot & !0xff || aff0 as usize >= MAX_CPUS {
            warn!(
                "smp: {path} (MPIDR {:#x}) not started: snowvisor keeps CPUs of its own cluster with Aff0 below {MAX_CPUS}",
                c.mpidr
            );
            continue;
        }
        match start_one::<B>(c.mpidr, aff0, psci.as_ref()) {
            Ok(how) => match wait_for(aff0) {
                state::UP => {
                    let m = MPIDR[aff0 as usize].load(Ordering::Acquire);
                    let mask = GIC_MASK[aff0 as usize].load(Ordering::Acquire) as u8;
                    ONLINE.lock().push((m, mask));
                    info!(
                        "smp: {path}: CPU with MPIDR {m:#010x} up in HYP ({how}): own stack, HYP MMU, GIC CPU interface, HYP timer INTID {} handled",
                        timers.hyp_intid
                    );
                    up.push((m, how));
                }
                state::NO_TIMER => {
                    warn!("smp: {path} (MPIDR {:#x}) came up, but its HYP timer interrupt never arrived: left idle", c.mpidr);
                }
                _ => warn!(
                    "smp: {path} (MPIDR {:#x}) started with {how} but did not arrive in HYP within {WAIT_SECS} s",
                    c.mpidr
                ),
            },
            Err(why) => warn!("smp: {path} (MPIDR {:#x}) not started: {why}", c.mpidr),
        }
    }
    let list: Vec<_> = up
        .iter()
        .map(|(m, how)| alloc::format!("{m:#010x} ({how})"))
        .collect();
    info!(
        "smp: {} of {} CPUs up in HYP: MPIDR {}",
        up.len(),
        host.len().max(1),
        list.join(", ")
    );
}

/// Starts the CPU with MPIDR affinity `mpidr`; says how, or why not.
fn start_one<B: Board>(
    mpidr: u64,
    aff0: u32,
    psci: Option<&cpus::Psci>,
) -> Result<Method, alloc::string::String> {
    use alloc::format;
    let stack = alloc::vec![0u8; STACK_SIZE].leak();
    let top = stack.as_ptr() as usize + STACK_SIZE;
    if !arch_smp::set_stack(aff0, top, STACK_SIZE) {
        return Err(format!("Aff0 {aff0} has no stack slot"));
    }
    let entry = arch_smp::secondary_entry();
    if let Some(cpsr) = arch_smp::parked_in_pen(aff0) {
        arch_smp::release_from_pen(aff0);
        return Ok(Method::Pen { cpsr });
    }
    match B::cpu_on(aff0, entry) {
        Ok(()) => return Ok(Method::Board),
        Err(CpuOnError::NoBoardMethod) => {}
        Err(e) => return Err(format!("the board's wake-up failed: {e}")),
    }
    let Some(p) = psci else {
        return Err(alloc::string::String::from(
            "no PSCI node and no board method (the tree names no way to start it)",
        ));
    };
    let (Some(conduit), Some(fid)) = (p.conduit, p.cpu_on) else {
        return Err(format!(
            "{}: no usable method or CPU_ON function ID",
            p.path
        ));
    };
    if conduit != Conduit::Smc {
        return Err(format!(
            "{}: method \"hvc\" would call snowvisor itself (HYP firmware needs \"smc\")",
            p.path
        ));
    }
    match arch_smp::psci_cpu_on(fid, mpidr as u32, entry, 0) {
        0 => Ok(Method::Psci(conduit)),
        e => Err(format!(
            "PSCI CPU_ON ({fid:#x}) returned {e} ({})",
            cpus::psci_error(e)
        )),
    }
}

/// Waits up to [`WAIT_SECS`] for CPU `aff0` to leave [`state::OFF`].
fn wait_for(aff0: u32) -> u32 {
    let word = &STATE[aff0 as usize];
    let deadline = match Cntfrq::read().0 {
        0 => u64::MAX,
        f => CntPct::read().0.saturating_add(u64::from(f) * WAIT_SECS),
    };
    let mut spins = 0u64;
    loop {
        let s = word.load(Ordering::Acquire);
        if s != state::OFF || CntPct::read().0 >= deadline || spins >= 1 << 32 {
            return s;
        }
        spins += 1;
        core::hint::spin_loop();
    }
}

/// A secondary CPU's life at HYP, from the entry assembly (MMU and caches
/// on, on its own stack). Does not return.
#[no_mangle]
extern "C" fn snowvisor_secondary_main(_stack_top: usize) -> ! {
    let mpidr = Mpidr::read().0;
    let aff0 = mpidr & 0xff;
    let Some(&(gic, interface, timers)) = TEMPLATE.get() else {
        cpu::halt()
    };
    let state = PerCpu {
        gic: interface,
        timers: Timers {
            hyp_ticks: 0,
            ..timers
        },
        mask: gic.this_cpu_mask(),
        runq: run_queue(),
        ..PerCpu::default()
    };
    crate::cpu::attach(
        aff0 as usize,
        Cpu {
            arch: Armv7::new(gic),
            state,
        },
    );
    gic.init_cpu_interface();
    // HYP's guest traps and controls (each vCPU brings its VTTBR), and the
    // maintenance interrupt (list-register underflow), banked per CPU.
    snowvisor_arch_armv7::guest::configure(0, 0, snowvisor_arm::stage2::VTCR);
    gic.enable(interface.maintenance_intid, 0x80);
    let ok = hyp_timer_fires(gic);
    MPIDR[aff0 as usize].store(mpidr, Ordering::Relaxed);
    GIC_MASK[aff0 as usize].store(u32::from(gic.this_cpu_mask()), Ordering::Relaxed);
    STATE[aff0 as usize].store(
        if ok { state::UP } else { state::NO_TIMER },
        Ordering::Release,
    );
    if !ok {
        cpu::halt()
    }
    idle()
}

/// A CPU with no vCPU yet: runs the scheduler's idle wait until a vCPU
/// is placed on it (Dom0's PSCI CPU_ON), then enters it. Does not return.
pub fn idle() -> ! {
    cpu::disable_irqs();
    enter_scheduled()
}

/// Enters the vCPU the scheduler picks on this CPU (waiting for one if
/// none can run), on a fresh HYP stack. Does not return.
pub fn enter_scheduled() -> ! {
    let mut f = TrapFrame::default();
    schedule(&mut f, Exit::Resume);
    snowvisor_arch_armv7::guest::enter(&f)
}

/// Runs the scheduler on this CPU after `exit` until a vCPU can run; `f`
/// (the trap frame the vectors return through) then holds that vCPU's
/// registers. Interrupts are masked on entry and stay masked but around
/// the idle WFI's end: the scheduler's check runs with them masked, so a
/// kick sent after it is still pending and ends the WFI (no wake-up is
/// lost); the interrupt handler runs then, with this CPU's context
/// unlocked (no lock is held across the WFI).
pub fn schedule(f: &mut TrapFrame, exit: Exit) {
    let mut exit = exit;
    loop {
        {
            let mut slot = this_cpu().lock();
            let Some(Cpu { arch, state }) = slot.as_deref_mut() else {
                cpu::halt()
            };
            if vcpu::schedule(arch, state, f, exit, domains()) == Pick::Run {
                return;
            }
        }
        exit = Exit::Resume;
        crate::console::drain_guest();
        cpu::wait_for_interrupt();
        cpu::enable_irqs();
        cpu::isb();
        cpu::disable_irqs();
    }
}

/// The scheduler's time slice in counter ticks (`sched_slice_ms=`), set
/// at boot before any CPU builds its run queue.
static SLICE_MS: AtomicU32 = AtomicU32::new(snowvisor_core::sched::DEFAULT_SLICE_MS);

/// Sets the time slice (`sched_slice_ms=`, milliseconds) of the run queues
/// made from now on.
pub fn set_slice_ms(ms: u32) {
    SLICE_MS.store(ms, Ordering::Relaxed);
}

/// The running vCPU's time before a woken one preempts it
/// (`sched_ratelimit_us=`, microseconds), set at boot like [`SLICE_MS`].
static RATELIMIT_US: AtomicU32 = AtomicU32::new(sched::MIN_RUN_US as u32);

/// Sets the minimum run before a woken vCPU preempts (`sched_ratelimit_us=`,
/// microseconds) of the run queues made from now on.
pub fn set_ratelimit_us(us: u32) {
    RATELIMIT_US.store(us, Ordering::Relaxed);
}

/// An empty run queue for this CPU with the boot's time slice.
pub fn run_queue() -> RunQueue<alloc::boxed::Box<Loaded>> {
    let hz = Cntfrq::read().0;
    let ms = u64::from(SLICE_MS.load(Ordering::Relaxed));
    RunQueue::new(
        sched::ticks(ms * 1000, hz),
        sched::ticks(u64::from(RATELIMIT_US.load(Ordering::Relaxed)), hz),
    )
}

/// Arms this CPU's HYP timer for 1 ms and waits (up to a second of the
/// counter) for its interrupt to be taken by the HYP vector.
fn hyp_timer_fires(gic: &Gic) -> bool {
    let Some(intid) = this_cpu().lock().as_ref().map(|c| c.state.timers.hyp_intid) else {
        return false;
    };
    let freq = Cntfrq::read().0;
    gic.enable(intid, 0x80);
    if let Some(c) = this_cpu().lock().as_deref() {
        use snowvisor_core::hal::Arch;
        c.arch.arm_hyp_timer((freq / 1000).max(1));
    }
    let deadline = CntPct::read().0.saturating_add(u64::from(freq.max(1)));
    loop {
        let ticks = this_cpu()
            .lock()
            .as_ref()
            .map_or(0, |c| c.state.timers.hyp_ticks);
        if ticks > 0 {
            return true;
        }
        if CntPct::read().0 >= deadline {
            return false;
        }
        cpu::enable_irqs();
        core::hint::spin_loop();
        cpu::isb();
        cpu::disable_irqs();
    }
}
