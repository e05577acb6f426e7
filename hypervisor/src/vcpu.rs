//! The vCPU at run time: trap dispatch for the running guest (HVC, SMC, WFI,
//! data aborts, CP15), physical interrupts routed to it through the vGIC, and
//! list-register refill on the way back.

use alloc::vec::Vec;
use core::arch::asm;
use core::sync::atomic::{AtomicU32, Ordering};

use log::{debug, error, warn};
use spin::Mutex;

use crate::arch::armv7::frame::{mode_name, TrapFrame};
use crate::arch::armv7::guest;
use crate::arch::armv7::hsr::{ec, fault_name, Hsr};
use crate::debugkeys::{self, Command, Input};
use crate::domain::xen_glue::XenDom0;
use crate::drivers::gicv2::{Gic, SPURIOUS};
use crate::dt::Region;
use crate::psci;
use crate::vgic::{ListRegister, LrState, PendingQueue, PhysGic, VDist};

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

pub static VM: Mutex<Option<Vm>> = Mutex::new(None);
/// GICH_VTR's list-register count, read once.
static LIST_REGISTERS: AtomicU32 = AtomicU32::new(0);
/// INTID of the guest's virtual timer PPI.
pub static VTIMER_INTID: AtomicU32 = AtomicU32::new(27);
static GIC: spin::Once<&'static Gic> = spin::Once::new();

/// `xen_version(XENVER_version)`'s answer for the installed guest (0: it has
/// no Xen state), so that the null hypercall needs no lock.
static XEN_VERSION_WORD: AtomicU32 = AtomicU32::new(0);

/// Makes `vm` the running guest.
pub fn install(vm: Vm) {
    let version = vm.xen.as_ref().map_or(0, |x| x.version_word() as u32);
    *VM.lock() = Some(vm);
    XEN_VERSION_WORD.store(version, Ordering::Release);
}

/// Hands the physical GIC to the run-time code.
pub fn set_gic(g: &'static Gic) {
    LIST_REGISTERS.store(g.list_registers().unwrap_or(0), Ordering::Relaxed);
    GIC.call_once(|| g);
}

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

/// `HVC #0xEA1`: Xen's hypercall.
const XEN_HVC: u32 = 0xea1;
/// Last value written to GICH_HCR (0 is the reset value `Gic::init` writes),
/// changed only under the [`VM`] lock.
static GICH_HCR: AtomicU32 = AtomicU32::new(0);

/// A hypervisor trap from the guest (HYP vector 0x14).
#[inline]
pub fn trap(f: &mut TrapFrame) {
    let hsr = Hsr(aarch32_cpu::register::Hsr::read().raw_value());
    // The hot path: Xen hypercalls go straight to their handler, which also
    // refills the list registers under the same lock.
    if hsr.ec() == ec::HVC && hsr.iss() & 0xffff == XEN_HVC {
        // The null hypercall, xen_version(XENVER_version), answers a constant:
        // it changes no state and raises no event, so it takes no lock and
        // flushes nothing. Whatever is queued was already flushed on the way
        // out of the exception that queued it; what could not go into a list
        // register then waits for the underflow maintenance interrupt or for
        // a GICD write enabling it, both of which flush again.
        let version = XEN_VERSION_WORD.load(Ordering::Acquire);
        if f.r[12] == crate::xen::abi::hc::XEN_VERSION
            && f.r[0] == crate::xen::abi::xenver::VERSION
            && version != 0
        {
            f.r[0] = version;
            return;
        }
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
            // A trapped SMC leaves ELR at the SMC itself.
            psci_call(f);
            Next::Skip
        }
        ec::WFI_WFE => {
            if hsr.iss() & 1 == 0 && idle_allowed() {
                crate::arch::armv7::cpu::wait_for_interrupt();
            }
            Next::Skip
        }
        ec::DABT_GUEST => data_abort(f, hsr),
        ec::PABT_GUEST => {
            let ifar = aarch32_cpu::register::Hifar::read().0;
            error!("dom0: instruction fetch fault at VA {ifar:#010x} ({hsr}); injecting an abort");
            guest::inject_data_abort(f, ifar);
            Next::Stay
        }
        ec::CP15_32 => cp15(f, hsr),
        ec::CP15_64 => {
            // CNTP_CVAL (MCRR/MRRC p15, 2, c14): the physical timer is snowvisor's.
            let rt = (hsr.iss() >> 5) & 0xf;
            let rt2 = (hsr.iss() >> 10) & 0xf;
            if hsr.iss() & 1 != 0 {
                set_reg(f, rt, 0);
                set_reg(f, rt2, 0);
            }
            debug!("dom0: 64-bit CP15 access {hsr} emulated as RAZ/WI");
            Next::Skip
        }
        _ => {
            error!("dom0: unhandled trap {hsr} at pc {:#010x} ({} mode); injecting undefined instruction", f.elr, mode_name(f.spsr));
            dump(f);
            guest::inject_undef(f, !hsr.il32() && f.spsr & (1 << 5) != 0);
            Next::Stay
        }
    };
    if let Next::Skip = next {
        skip(f, hsr);
    }
    flush_lrs();
}

/// Whether a trapped WFI may wait at HYP: only if nothing is pending for the
/// guest, neither queued nor in a list register (the guest idles with IRQs
/// masked, and a virtual interrupt does not wake a WFI at HYP). A physical
/// interrupt wakes the wait and is taken as soon as the guest resumes.
fn idle_allowed() -> bool {
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

fn hvc(f: &mut TrapFrame, hsr: Hsr) -> Next {
    match hsr.iss() & 0xffff {
        0 => psci_call(f),
        XEN_HVC => xen_hypercall(f),
        imm => {
            warn!("dom0: HVC #{imm:#x} is not a known interface; returning -1");
            f.r[0] = u32::MAX;
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
        f.r[0] = crate::xen::Errno::ENOSYS.ret() as u32;
        return;
    };
    match vm.xen.as_mut() {
        None => {
            debug!("dom0: Xen hypercall {} without Xen state", f.r[12]);
            f.r[0] = crate::xen::Errno::ENOSYS.ret() as u32;
        }
        Some(x) => {
            let args = [f.r[0], f.r[1], f.r[2], f.r[3], f.r[4]];
            match x.hypercall(f.r[12], args) {
                crate::xen::Outcome::Return(v) => f.r[0] = v as u32,
                crate::xen::Outcome::Continue(regs) => {
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
    // SAFETY: SYSTEM_OFF/RESET do not return when the firmware implements them.
    unsafe { asm!(".arch_extension sec", "smc #0", inout("r0") function => _, options(nostack)) };
    crate::start::fatal(format_args!("platform PSCI call {function:#x} returned"))
}

fn banked_lr(mode: u32) -> Option<u32> {
    let v: u32;
    // SAFETY: reads a banked register of the guest, which is not running.
    unsafe {
        match mode {
            0x13 => asm!(".arch_extension virt", "mrs {}, lr_svc", out(reg) v),
            0x12 => asm!(".arch_extension virt", "mrs {}, lr_irq", out(reg) v),
            0x17 => asm!(".arch_extension virt", "mrs {}, lr_abt", out(reg) v),
            0x1b => asm!(".arch_extension virt", "mrs {}, lr_und", out(reg) v),
            _ => return None,
        }
    }
    Some(v)
}

fn set_banked_lr(mode: u32, v: u32) -> bool {
    // SAFETY: writes a banked register of the guest, which is not running.
    unsafe {
        match mode {
            0x13 => asm!(".arch_extension virt", "msr lr_svc, {}", in(reg) v),
            0x12 => asm!(".arch_extension virt", "msr lr_irq, {}", in(reg) v),
            0x17 => asm!(".arch_extension virt", "msr lr_abt, {}", in(reg) v),
            0x1b => asm!(".arch_extension virt", "msr lr_und, {}", in(reg) v),
            _ => return false,
        }
    }
    true
}

/// Guest register `n` as the trapped instruction named it.
fn reg(f: &TrapFrame, n: u32) -> Option<u32> {
    let mode = f.spsr & 0x1f;
    match n {
        0..=12 => Some(f.r[n as usize]),
        14 if matches!(mode, 0x10 | 0x1f) => Some(f.lr),
        14 => banked_lr(mode),
        _ => None,
    }
}

fn set_reg(f: &mut TrapFrame, n: u32, v: u32) -> bool {
    let mode = f.spsr & 0x1f;
    match n {
        0..=12 => {
            f.r[n as usize] = v;
            true
        }
        14 if matches!(mode, 0x10 | 0x1f) => {
            f.lr = v;
            true
        }
        14 => set_banked_lr(mode, v),
        _ => false,
    }
}

fn fault_ipa() -> u64 {
    let hpfar = aarch32_cpu::register::Hpfar::read().0 as u64;
    let hdfar = aarch32_cpu::register::Hdfar::read().0 as u64;
    ((hpfar >> 4) << 12) | (hdfar & 0xfff)
}

fn data_abort(f: &mut TrapFrame, hsr: Hsr) -> Next {
    let Some(d) = hsr.data_abort() else {
        return Next::Stay;
    };
    let ipa = fault_ipa();
    let va = aarch32_cpu::register::Hdfar::read().0;
    let mut vm_guard = VM.lock();
    let Some(vm) = vm_guard.as_mut() else {
        return Next::Stay;
    };
    let in_gicd = ipa >= vm.gicd.base && ipa < vm.gicd.end();
    if in_gicd && d.valid && !d.s1ptw {
        let off = (ipa - vm.gicd.base) as u32;
        let size = 1u32 << d.size_log2;
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
        warn!(
            "dom0: GICD access at offset {off:#x} ({} bytes, {}) not allowed; injecting an abort",
            size,
            if d.write { "write" } else { "read" }
        );
    } else {
        vm.stage2_faults += 1;
        let owner = vm
            .devices
            .iter()
            .find(|(r, _)| ipa >= r.base && ipa < r.end())
            .map_or("no device node", |(_, n)| n.as_str());
        error!(
            "dom0: stage-2 fault: {} of IPA {ipa:#x} (VA {va:#010x}) at pc {:#010x}: {} ({owner}); injecting a data abort",
            if d.write { "write" } else { "read" },
            f.elr,
            fault_name(d.fsc)
        );
    }
    drop(vm_guard);
    guest::inject_data_abort(f, va);
    Next::Stay
}

fn cp15(f: &mut TrapFrame, hsr: Hsr) -> Next {
    let iss = hsr.iss();
    let read = iss & 1 != 0;
    let (opc2, opc1, crn, rt, crm) = (
        (iss >> 17) & 7,
        (iss >> 14) & 7,
        (iss >> 10) & 0xf,
        (iss >> 5) & 0xf,
        (iss >> 1) & 0xf,
    );
    match (crn, opc1, crm, opc2) {
        // ACTLR (trapped by HCR.TAC): reads see the real value, writes are ignored.
        (1, 0, 0, 1) => {
            if read {
                let v: u32;
                // SAFETY: reading ACTLR has no side effects.
                unsafe { asm!("mrc p15, 0, {}, c1, c0, 1", out(reg) v, options(nostack)) };
                set_reg(f, rt, v);
            }
            Next::Skip
        }
        // CNTP_CTL / CNTP_TVAL: the physical timer is snowvisor's; RAZ/WI.
        (14, 0, 2, 0 | 1) => {
            if read {
                set_reg(f, rt, 0);
            }
            Next::Skip
        }
        _ => {
            warn!(
                "dom0: CP15 {} c{crn}, {opc1}, c{crm}, {opc2} (r{rt}) at pc {:#010x} not emulated; injecting undefined instruction",
                if read { "read" } else { "write" },
                f.elr
            );
            guest::inject_undef(f, !hsr.il32() && f.spsr & (1 << 5) != 0);
            Next::Stay
        }
    }
}

/// A physical interrupt taken while the guest ran, or while HYP idled for it.
/// Returns false for interrupts that are not the guest's (the caller handles them).
pub fn guest_irq(intid: u32, iar: u32) -> bool {
    let Some(gic) = GIC.get() else { return false };
    let mut g = VM.lock();
    let Some(vm) = g.as_mut() else { return false };
    if intid == 25 {
        // Maintenance: list registers underflowed; refill below.
        gic.end_of_interrupt(iar);
        gic.deactivate(iar);
        return true;
    }
    if !vm.vdist.owns(intid) || intid >= SPURIOUS {
        return false;
    }
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
fn flush_needed(vm: &Vm) -> bool {
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
fn flush_vm(vm: &mut Vm) {
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
    if !vm.queue.is_empty() {
        let n = LIST_REGISTERS.load(Ordering::Relaxed).min(64) as usize;
        let free = h.elrsr[0].get() as u64 | ((h.elrsr[1].get() as u64) << 32);
        let lrs: Vec<ListRegister> = (0..n).map(|i| ListRegister(h.lr[i].get())).collect();
        for (i, lr) in vm.queue.fill(&lrs, free & ((1u64 << n) - 1)) {
            h.lr[i].set(lr.0);
        }
    }
    // En, plus UIE (underflow maintenance) while interrupts still wait.
    let hcr = HCR_EN | if vm.queue.is_empty() { 0 } else { 1 << 1 };
    h.hcr.set(hcr);
    GICH_HCR.store(hcr, Ordering::Relaxed);
}

fn dump(f: &TrapFrame) {
    for i in (0..13).step_by(4) {
        let line: Vec<alloc::string::String> = f.r[i..(i + 4).min(13)]
            .iter()
            .enumerate()
            .map(|(j, r)| alloc::format!("r{:<2}={r:#010x}", i + j))
            .collect();
        error!("  {}", line.join(" "));
    }
    error!(
        "  lr_usr={:#010x} pc={:#010x} cpsr={:#010x}",
        f.lr, f.elr, f.spsr
    );
}
