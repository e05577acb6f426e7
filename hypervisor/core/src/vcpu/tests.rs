//! The trap dispatcher on the host, through [`FakeArch`]: each trap class,
//! the exceptions it injects (mode, vector, banked registers, fault
//! registers), Xen hypercalls on a real [`XenDom0`], interrupts into list
//! registers, and the error paths (rate-limited logs, unknown immediates,
//! stage-2 faults outside RAM, firmware power calls).

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec;

use super::*;
use crate::debugkeys::{self, Command, VcpuView};
use crate::domain::xen_glue::XenDom0;
use crate::domain::xen_space::Hooks;
use crate::domain::{fault_loop, DomainKind, DomainState, GuestLog, Stage2Root, VcpuState};
use crate::hal::fake::FakeArch;
use crate::hal::GuestControl;
use crate::psci::Power;
use crate::vgic::{ListRegister, LrState, VDist};
use snowvisor_arm::exception::{mode, FaultRegs};
use snowvisor_arm::lpae::Table;
use snowvisor_arm::regs::Banked;
use snowvisor_arm::stage2::{S2Mem, Stage2};
use snowvisor_dt::Region;
use snowvisor_xen::{Xen, XenConfig};

const RAM: Region = Region {
    base: 0x4000_0000,
    size: 0x1000_0000,
};
const GICD: u64 = 0x0800_0000;
const HYP: Region = Region {
    base: 0x7f00_0000,
    size: 0x0100_0000,
};
const UART: Region = Region {
    base: 0x0900_0000,
    size: 0x1000,
};
/// A device's registers in a page shared with an owned IOMMU (rk3288's
/// VOP; its IOMMU at 0xff930300): forwarded, the page not mapped.
const VOP: Region = Region {
    base: 0xff93_0000,
    size: 0x19c,
};
/// The vCPU's CPSR: SVC, A/I/F masked, ARM state.
pub(super) const SVC: u32 = 0x1d3;
pub(super) const PC: u32 = 0xc010_0000;
pub(super) const VBAR: u32 = 0xc000_8000;
const SPI: u32 = 40;
const VTIMER: u32 = 27;

fn addr(t: &Table) -> u64 {
    t as *const Table as u64 & 0xff_ffff_f000
}

fn hooks() -> Hooks {
    Hooks {
        alloc_page: || None,
        stage2_changed: || {},
    }
}

fn domain(xen: bool) -> Domain {
    let mut vdist = VDist::new(64, 0x0200_143b, 2);
    vdist.give(SPI);
    vdist.give(VTIMER);
    let xen = xen.then(|| {
        let mut s2 = Box::new(Stage2::new(addr));
        s2.map(RAM.base, RAM.base, RAM.size, S2Mem::Ram).unwrap();
        let x = Xen::new(XenConfig::dom0(1, true)).unwrap();
        XenDom0::new(x, s2, vec![RAM], HYP, hooks())
    });
    Domain {
        id: 0,
        kind: DomainKind::Dom0,
        name: "dom0",
        memory: vec![RAM],
        stage2: Stage2Root {
            root_pa: 0x1000,
            vmid: 1,
        },
        gicd: Region {
            base: GICD,
            size: 0x1000,
        },
        vdist,
        devices: vec![
            (UART, String::from("/pl011@9000000")),
            (VOP, String::from("/vop@ff930000")),
        ],
        forwarded: vec![VOP],
        stage2_faults: 0,
        xen,
        log: GuestLog::new("dom0"),
        vcpus: vec![
            VcpuState::new(0x8000_0000, 1, Power::On),
            VcpuState::new(0x8000_0001, 2, Power::Off),
        ],
        uart: None,
        uart_ipa: Region { base: 0, size: 0 },
        boot_dtb: None,
        state: DomainState::Running,
        paused: false,
        shutdown_code: 0,
        cntvoff: 0,
        restart: None,
    }
}

fn cpu(xen: bool) -> PerCpu {
    PerCpu {
        gic: CpuInterface {
            list_registers: 4,
            ..CpuInterface::default()
        },
        current: Some(Box::new(Loaded {
            domain: Box::leak(Box::new(spin::Mutex::new(domain(xen)))),
            vcpu: Vcpu::new(
                0,
                VcpuContext::reset(frame(), 1 << 48 | 0x1000, 0x8000_0000, 0),
            ),
        })),
        ..PerCpu::default()
    }
}

pub(super) fn arch() -> FakeArch {
    let a = FakeArch::new(4);
    a.control.set(GuestControl {
        sctlr: 0x00c5_0879,
        vbar: VBAR,
        ttbcr: 0x8000_0000, // EAE: long-descriptor fault status
    });
    a
}

pub(super) fn frame() -> TrapFrame {
    TrapFrame {
        elr: PC,
        spsr: SVC,
        ..TrapFrame::default()
    }
}

/// HSR of a 32-bit instruction with class `ec` and syndrome `iss`.
pub(super) fn hsr(ec: u32, iss: u32) -> u32 {
    (ec << 26) | (1 << 25) | iss
}

pub(super) fn dom(c: &mut PerCpu) -> spin::MutexGuard<'static, Domain> {
    c.current.as_ref().unwrap().domain.lock()
}

fn queue(c: &mut PerCpu) -> &mut PendingQueue {
    &mut c.current.as_mut().unwrap().vcpu.queue
}

/// Runs one trap with syndrome `h`.
pub(super) fn trap_with(a: &FakeArch, c: &mut PerCpu, f: &mut TrapFrame, h: u32) {
    a.hsr.set(h);
    trap(a, c, f);
}

#[test]
fn psci_by_hvc_and_smc() {
    let (a, mut c) = (arch(), cpu(false));
    let mut f = frame();
    f.r[0] = psci::fid::VERSION;
    trap_with(&a, &mut c, &mut f, hsr(ec::HVC, 0));
    assert_eq!(f.r[0], psci::VERSION_1_0);
    assert_eq!(f.elr, PC, "ELR already points past an HVC");
    // A trapped SMC leaves ELR at the SMC: it is skipped.
    f.r[0] = psci::fid::VERSION;
    trap_with(&a, &mut c, &mut f, hsr(ec::SMC, 0));
    assert_eq!((f.r[0], f.elr), (psci::VERSION_1_0, PC + 4));
    // CPU_SUSPEND as standby waits for an interrupt.
    f.r[0] = psci::fid::CPU_SUSPEND;
    a.hsr.set(hsr(ec::HVC, 0));
    assert_eq!(trap(&a, &mut c, &mut f), Exit::Block);
    assert_eq!(f.r[0], psci::SUCCESS as u32);
}

#[test]
#[should_panic(expected = "firmware PSCI 0x84000008")]
fn system_off_goes_to_firmware() {
    let (a, mut c) = (arch(), cpu(false));
    let mut f = frame();
    f.r[0] = psci::fid::SYSTEM_OFF;
    trap_with(&a, &mut c, &mut f, hsr(ec::HVC, 0));
}

#[test]
fn unknown_hvc_immediate_is_undefined_rate_limited() {
    let (a, mut c) = (arch(), cpu(false));
    for _ in 0..15 {
        let mut f = frame();
        trap_with(&a, &mut c, &mut f, hsr(ec::HVC, 0x1234));
        // Taken at the HVC (ELR pointed past it): LR_und = HVC + 4.
        assert_eq!((f.spsr & 0x1f, f.elr), (mode::UND, VBAR + 0x04));
        assert_eq!(a.banked(Banked::LrUnd), PC);
    }
    // 10 at once, then one per 500 ms: 5 dropped within the same instant.
    assert_eq!(dom(&mut c).log.suppressed(), 5);
    a.advance_ms(500);
    trap_with(&a, &mut c, &mut frame(), hsr(ec::HVC, 0x1234));
    assert_eq!(dom(&mut c).log.suppressed(), 0, "counted in a printed line");
}

#[test]
fn wfi_blocks_only_with_nothing_pending_and_wfe_yields() {
    let (a, mut c) = (arch(), cpu(false));
    let mut f = frame();
    let t = |f: &mut TrapFrame, c: &mut PerCpu, h| {
        a.hsr.set(h);
        trap(&a, c, f)
    };
    assert_eq!(t(&mut f, &mut c, hsr(ec::WFI_WFE, 0)), Exit::Block);
    assert_eq!(f.elr, PC + 4);
    // WFE lets another vCPU of the CPU run first.
    assert_eq!(t(&mut f, &mut c, hsr(ec::WFI_WFE, 1)), Exit::Yield);
    assert_eq!(f.elr, PC + 8);
    // A pending list register keeps the guest running.
    a.set_list_register(2, ListRegister::pending(SPI, 0xa0, false).0);
    assert_eq!(t(&mut f, &mut c, hsr(ec::WFI_WFE, 0)), Exit::Resume);
    // So does an interrupt still queued (the trap then moves it to a list register).
    a.set_list_register(2, 0);
    queue(&mut c).push(SPI, 0xa0, false);
    assert_eq!(t(&mut f, &mut c, hsr(ec::WFI_WFE, 0)), Exit::Resume);
    assert!(queue(&mut c).is_empty());
    assert_eq!(ListRegister(a.list_register(0)).intid(), SPI);
}

/// A CPU running vCPU 0 of [`domain`] with vCPU 1 placed on it too (both
/// vCPUs' `cpu_mask` is the CPU's), 1 count per microsecond: a 10 ms slice.
fn shared_cpu() -> (FakeArch, PerCpu, &'static DomainCell) {
    let a = arch();
    let mut c = cpu(false);
    c.mask = 1;
    c.runq = crate::sched::RunQueue::new(10_000, 1_000);
    let cell = c.current.as_ref().unwrap().domain;
    cell.lock().vcpus[1].cpu_mask = 1;
    (a, c, cell)
}

/// PSCI CPU_ON made vCPU 1 pending on the shared CPU; the kick at count
/// 5000 loads it there.
fn start_vcpu1(a: &FakeArch, c: &mut PerCpu, f: &mut TrapFrame, domains: &[&'static DomainCell]) {
    c.current.as_ref().unwrap().domain.lock().vcpus[1].power = Power::OnPending {
        entry: 0x4000_8000,
        context: 0,
    };
    c.kicked = true;
    a.counter.set(5_000);
    schedule(a, c, f, Exit::Resume, domains);
    assert_eq!(current_id(c), Some(1));
}

fn current_id(c: &PerCpu) -> Option<u32> {
    c.current.as_ref().map(|l| l.vcpu.id)
}

#[test]
fn cpu_on_starts_a_vcpu_on_the_same_cpu_with_a_context_switch() {
    let (a, mut c, cell) = shared_cpu();
    let mut f = frame();
    f.r[5] = 0x5555;
    a.set_banked(Banked::SpSvc, 0xc0de_0000);
    a.hsr.set(hsr(ec::HVC, 0));
    f.r[0] = psci::fid::CPU_ON;
    f.r[1] = 0x8000_0001;
    f.r[2] = 0x4000_8001; // Thumb entry
    f.r[3] = 0x77;
    assert_eq!(trap(&a, &mut c, &mut f), Exit::Resume);
    assert_eq!(a.sgis.borrow().last(), Some(&(KICK_SGI, 1)));
    // The kick arrives 2 ms later: vCPU 1 starts (woken, vCPU 0 ran its minimum).
    c.kicked = true;
    a.counter.set(2_000);
    let domains = [cell];
    assert_eq!(
        schedule(&a, &mut c, &mut f, Exit::Resume, &domains),
        Pick::Run
    );
    assert_eq!(current_id(&c), Some(1));
    assert_eq!((f.elr, f.spsr, f.r[0]), (0x4000_8000, 0x1f3, 0x77));
    assert_eq!(
        a.loaded.borrow().cp15.sctlr,
        snowvisor_arm::context::SCTLR_RESET
    );
    assert_eq!(a.banked(Banked::SpSvc), 0, "vCPU 1's registers are its own");
    assert_eq!(cell.lock().vcpus[1].power, Power::On);
    // vCPU 0 runs again when vCPU 1's slice ends, with its registers.
    assert_eq!(a.hyp_timer_at.get(), Some(12_000));
    a.counter.set(12_000);
    assert_eq!(
        schedule(&a, &mut c, &mut f, Exit::Resume, &domains),
        Pick::Run
    );
    assert_eq!(current_id(&c), Some(0));
    assert_eq!((f.r[5], f.elr), (0x5555, PC));
    assert_eq!(a.banked(Banked::SpSvc), 0xc0de_0000);
}

#[test]
fn a_blocked_vcpu_gives_the_cpu_up_and_its_timer_wakes_it() {
    let (a, mut c, cell) = shared_cpu();
    let domains = [cell];
    let mut f = frame();
    start_vcpu1(&a, &mut c, &mut f, &domains);
    // vCPU 1 arms its virtual timer for count 9000 and waits in WFI.
    a.loaded.borrow_mut().timer.cntv_cval = 9_000;
    a.loaded.borrow_mut().timer.cntv_ctl = 1;
    a.hsr.set(hsr(ec::WFI_WFE, 0));
    a.counter.set(6_000);
    assert_eq!(trap(&a, &mut c, &mut f), Exit::Block);
    assert_eq!(
        schedule(&a, &mut c, &mut f, Exit::Block, &domains),
        Pick::Run
    );
    assert_eq!(current_id(&c), Some(0));
    assert_eq!(
        a.loaded.borrow().timer.cntv_ctl,
        0,
        "vCPU 0's timer, not vCPU 1's"
    );
    assert_eq!(a.hyp_timer_at.get(), Some(9_000));
    // Its timer is due: woken, it takes the CPU (vCPU 0 ran its minimum).
    a.counter.set(9_000);
    schedule(&a, &mut c, &mut f, Exit::Resume, &domains);
    assert_eq!(current_id(&c), Some(1));
    assert_eq!(a.loaded.borrow().timer.cntv_cval, 9_000);
    // Both waiting in WFI with nothing due: the CPU idles, vCPU 0 loaded.
    a.loaded.borrow_mut().timer.cntv_ctl = 0;
    assert_eq!(
        schedule(&a, &mut c, &mut f, Exit::Block, &domains),
        Pick::Run
    );
    assert_eq!(current_id(&c), Some(0));
    assert_eq!(
        schedule(&a, &mut c, &mut f, Exit::Block, &domains),
        Pick::Idle
    );
    assert_eq!(current_id(&c), Some(0));
    // An interrupt for vCPU 1 (its inbox) wakes it.
    cell.lock().vcpus[1].inbox.push(SPI);
    assert_eq!(
        schedule(&a, &mut c, &mut f, Exit::Resume, &domains),
        Pick::Run
    );
    assert_eq!(current_id(&c), Some(1));
    assert_eq!(ListRegister(a.list_register(0)).intid(), SPI);
}

#[test]
fn a_vcpu_alone_on_its_cpu_never_switches_nor_arms_the_timer() {
    let (a, mut c) = (arch(), cpu(false));
    let mut f = frame();
    let domains: [&'static DomainCell; 0] = [];
    a.counter.set(1 << 40);
    assert_eq!(
        schedule(&a, &mut c, &mut f, Exit::Yield, &domains),
        Pick::Run
    );
    assert_eq!(
        schedule(&a, &mut c, &mut f, Exit::Resume, &domains),
        Pick::Run
    );
    assert_eq!((a.loads.get(), a.hyp_timer_at.get()), (0, None));
    assert_eq!(
        schedule(&a, &mut c, &mut f, Exit::Block, &domains),
        Pick::Idle
    );
    // Its interrupt arrives while the CPU idles: it runs on, never unloaded.
    queue(&mut c).push(VTIMER, 0xa0, false);
    assert_eq!(
        schedule(&a, &mut c, &mut f, Exit::Resume, &domains),
        Pick::Run
    );
    assert_eq!(a.loads.get(), 0);
    assert_eq!(f.elr, PC);
}

/// A data abort with a valid syndrome: `size_log2`, register `rt`.
pub(super) fn dabt(write: bool, size_log2: u32, rt: u32) -> u32 {
    hsr(
        ec::DABT_GUEST,
        (1 << 24) | (size_log2 << 22) | (rt << 16) | (u32::from(write) << 6) | 0x07,
    )
}

pub(super) fn fault_at(a: &FakeArch, ipa: u64, va: u32) {
    a.hpfar.set(((ipa >> 12) << 4) as u32);
    a.hdfar.set(va | (ipa as u32 & 0xfff));
}

#[test]
fn stage2_fault_outside_ram_injects_a_data_abort() {
    let (a, mut c) = (arch(), cpu(false));
    let mut f = frame();
    fault_at(&a, 0x0a00_0000, 0xf000_0000);
    trap_with(&a, &mut c, &mut f, dabt(true, 2, 3));
    assert_eq!(dom(&mut c).stage2_faults, 1);
    // ARM ARM B1.9.8: Abort mode at VBAR + 0x10, LR = faulting PC + 8,
    // SPSR_abt the old CPSR, IRQs and asynchronous aborts masked.
    assert_eq!(f.spsr & 0x1f, mode::ABT);
    assert_eq!(f.elr, VBAR + 0x10);
    assert_eq!(a.spsr_abt.get(), SVC);
    assert_eq!(a.banked(Banked::LrAbt), PC + 8);
    match a.fault_regs.get() {
        Some(FaultRegs::Data { dfar, dfsr }) => {
            assert_eq!(dfar, 0xf000_0000);
            assert_eq!(dfsr & (1 << 11), 1 << 11, "WnR: a write");
            assert_eq!(
                dfsr & (1 << 9),
                1 << 9,
                "long-descriptor format (TTBCR.EAE)"
            );
        }
        r => panic!("fault registers {r:?}"),
    }
}

#[test]
fn gicd_reads_and_writes_are_emulated() {
    let (a, mut c) = (arch(), cpu(false));
    let mut f = frame();
    // Read GICD_TYPER (offset 4) into r3: 64 lines = ITLinesNumber 1.
    fault_at(&a, GICD + 4, 0xf800_0000);
    trap_with(&a, &mut c, &mut f, dabt(false, 2, 3));
    assert_eq!(f.r[3] & 0x1f, 1);
    assert_eq!(f.elr, PC + 4);
    // Enable the owned SPI (ISENABLER1 bit 8): forwarded to the physical GIC.
    f.r[5] = 1 << (SPI - 32);
    fault_at(&a, GICD + 0x104, 0xf800_0000);
    trap_with(&a, &mut c, &mut f, dabt(true, 2, 5));
    assert_eq!(a.irqs.borrow().get(&SPI), Some(&0xa0));
    assert!(
        !dom(&mut c).vdist.enabled(0, SPI),
        "GICD_CTLR.EnableGrp0 still 0"
    );
    // From the banked LR of SVC mode (register 14).
    a.set_banked(Banked::LrSvc, 1 << (SPI - 32));
    fault_at(&a, GICD + 0x184, 0xf800_0000);
    trap_with(&a, &mut c, &mut f, dabt(true, 2, 14));
    assert!(
        a.irqs.borrow().get(&SPI).is_none(),
        "disabled through ICENABLER"
    );
    assert_eq!(f.elr, PC + 12);
}

/// A store from SP and a load into SP use the SP of the guest's mode (ARM
/// ARM B1.3.2): SVC's in SVC mode, User's in System mode; FIQ mode banks
/// r8-r12 too. Neither reads nor writes the frame's (User's) registers.
#[test]
fn sp_and_fiq_registers_are_the_guest_modes_own() {
    let (a, mut c) = (arch(), cpu(false));
    let mut f = frame();
    // STR sp, [GICD_ISENABLER1] in SVC mode: SP_svc holds the SPI's bit.
    a.set_banked(Banked::SpSvc, 1 << (SPI - 32));
    fault_at(&a, GICD + 0x104, 0xf800_0000);
    trap_with(&a, &mut c, &mut f, dabt(true, 2, 13));
    assert_eq!(a.irqs.borrow().get(&SPI), Some(&0xa0));
    // LDR sp, [GICD_TYPER] in System mode: into SP_usr; SP_svc is kept.
    f.spsr = 0x1df;
    fault_at(&a, GICD + 4, 0xf800_0000);
    trap_with(&a, &mut c, &mut f, dabt(false, 2, 13));
    assert_eq!(
        a.banked(Banked::SpUsr) & 0x1f,
        1,
        "64 lines: ITLinesNumber 1"
    );
    assert_eq!(a.banked(Banked::SpSvc), 1 << (SPI - 32));
    // LDR r8, [GICD_TYPER] in FIQ mode: into r8_fiq, not User's r8.
    f.spsr = 0x1d1;
    f.r[8] = 0xdead;
    fault_at(&a, GICD + 4, 0xf800_0000);
    trap_with(&a, &mut c, &mut f, dabt(false, 2, 8));
    assert_eq!(a.banked(Banked::R8Fiq) & 0x1f, 1);
    assert_eq!(f.r[8], 0xdead);
    assert_eq!(f.elr, PC + 12, "all three emulated and skipped");
}

#[test]
fn gicd_access_it_refuses_injects_an_abort() {
    let (a, mut c) = (arch(), cpu(false));
    let mut f = frame();
    // A halfword write to GICD_ISENABLER0: word access only (GIC spec 4.1.4).
    fault_at(&a, GICD + 0x100, 0xf800_0000);
    trap_with(&a, &mut c, &mut f, dabt(true, 1, 0));
    assert_eq!(f.spsr & 0x1f, mode::ABT);
    assert_eq!(dom(&mut c).stage2_faults, 0, "not a stage-2 fault");
}

/// A data abort with a valid syndrome and ISS.SSE (a signed load).
fn dabt_signed(size_log2: u32, rt: u32) -> u32 {
    dabt(false, size_log2, rt) | (1 << 21)
}

#[test]
fn forwarded_device_registers_are_performed_for_the_guest() {
    let (a, mut c) = (arch(), cpu(false));
    let mut f = frame();
    // STR r4 to the VOP's SYS_CTRL (0x8): the same word at the same PA.
    f.r[4] = 0x8000_00f1;
    fault_at(&a, VOP.base + 8, 0xf090_0000);
    trap_with(&a, &mut c, &mut f, dabt(true, 2, 4));
    assert_eq!(f.elr, PC + 4, "performed and skipped");
    // LDR r2 reads it back; LDRSB r3 of its top byte is sign-extended;
    // LDRH r5 of its low half reads 2 bytes only.
    fault_at(&a, VOP.base + 8, 0xf090_0000);
    trap_with(&a, &mut c, &mut f, dabt(false, 2, 2));
    fault_at(&a, VOP.base + 0xb, 0xf090_0000);
    trap_with(&a, &mut c, &mut f, dabt_signed(0, 3));
    fault_at(&a, VOP.base + 8, 0xf090_0000);
    trap_with(&a, &mut c, &mut f, dabt(false, 1, 5));
    assert_eq!((f.r[2], f.r[3], f.r[5]), (0x8000_00f1, 0xffff_ff80, 0xf1));
    assert_eq!(f.elr, PC + 16);
    assert_eq!(
        *a.device.borrow(),
        [
            (true, VOP.base + 8, 4, 0x8000_00f1),
            (false, VOP.base + 8, 4, 0x8000_00f1),
            (false, VOP.base + 0xb, 1, 0x80),
            (false, VOP.base + 8, 2, 0xf1),
        ]
    );
    assert_eq!(dom(&mut c).stage2_faults, 0);
    assert!(a.fault_regs.get().is_none(), "nothing injected");
}

#[test]
fn the_owned_iommus_registers_and_odd_forwarded_accesses_are_aborts() {
    let (a, mut c) = (arch(), cpu(false));
    // The IOMMU's DTE_ADDR in the same page, an unaligned word of the VOP's,
    // and an LDRD (no syndrome): no device access, a data abort each.
    let no_syndrome = hsr(ec::DABT_GUEST, 0x07);
    for (ipa, h) in [
        (0xff93_0300, dabt(true, 2, 4)),
        (VOP.base + 2, dabt(false, 2, 4)),
        (VOP.base, no_syndrome),
    ] {
        let mut f = frame();
        fault_at(&a, ipa, 0xf090_0000);
        trap_with(&a, &mut c, &mut f, h);
        assert_eq!((f.spsr & 0x1f, f.elr), (mode::ABT, VBAR + 0x10), "{ipa:#x}");
        assert!(matches!(
            a.fault_regs.get(),
            Some(FaultRegs::Data { dfar, .. }) if dfar == 0xf090_0000 | (ipa as u32 & 0xfff)
        ));
    }
    assert!(a.device.borrow().is_empty());
    assert_eq!(dom(&mut c).stage2_faults, 3);
}

#[test]
fn prefetch_abort_is_injected_with_ifar() {
    let (a, mut c) = (arch(), cpu(false));
    let mut f = frame();
    a.hifar.set(0xdead_0000);
    trap_with(&a, &mut c, &mut f, hsr(ec::PABT_GUEST, 0x07));
    assert_eq!((f.spsr & 0x1f, f.elr), (mode::ABT, VBAR + 0x0c));
    assert_eq!(a.banked(Banked::LrAbt), PC + 4);
    assert!(matches!(
        a.fault_regs.get(),
        Some(FaultRegs::Instruction {
            ifar: 0xdead_0000,
            ..
        })
    ));
}

#[test]
fn a_retried_fault_is_counted_and_dom0_goes_on() {
    let (a, mut c) = (arch(), cpu(false));
    fault_at(&a, 0x0a00_0000, 0xf000_0000);
    // The guest's handler returns to the faulting load, registers unchanged.
    for _ in 0..fault_loop::REPEAT_LIMIT + 10 {
        let mut f = frame();
        trap_with(&a, &mut c, &mut f, dabt(false, 2, 3));
        assert_eq!(
            f.elr,
            VBAR + 0x10,
            "Dom0 is never ended: the abort is injected"
        );
    }
    assert_eq!(
        dom(&mut c).vcpus[0].faults.repeats(),
        fault_loop::REPEAT_LIMIT + 10
    );
    // Another register value is progress.
    let mut f = frame();
    f.r[5] = 1;
    trap_with(&a, &mut c, &mut f, dabt(false, 2, 3));
    assert_eq!(dom(&mut c).vcpus[0].faults.repeats(), 1);
    // Emulated accesses and calls are not injected faults.
    let mut f = frame();
    f.r[0] = psci::fid::VERSION;
    trap_with(&a, &mut c, &mut f, hsr(ec::HVC, 0));
    assert_eq!(dom(&mut c).vcpus[0].faults.repeats(), 1);
}

/// Makes the test domain a DomU, `d1`.
fn make_domu(c: &mut PerCpu) {
    let mut d = dom(c);
    d.kind = DomainKind::DomU;
    d.id = 1;
    d.name = "d1";
}

#[test]
fn a_domu_that_cannot_make_progress_is_ended_alone() {
    let (a, mut c) = (arch(), cpu(false));
    make_domu(&mut c);
    fault_at(&a, 0x0a00_0000, 0xf000_0000);
    for i in 1..=fault_loop::REPEAT_LIMIT {
        let mut f = frame();
        a.hsr.set(dabt(false, 2, 3));
        let exit = trap(&a, &mut c, &mut f);
        let want = if i < fault_loop::REPEAT_LIMIT {
            Exit::Resume
        } else {
            Exit::VcpuOff
        };
        assert_eq!(exit, want, "fault {i}");
    }
    let d = dom(&mut c);
    assert_eq!(d.state, DomainState::Crashed);
    assert!(d.vcpus.iter().all(|s| s.power == Power::Off));
    assert_eq!(*a.integrity_checks.borrow(), ["d1 crashed"]);
}

#[test]
fn a_prefetch_abort_on_its_own_vector_ends_a_domu_at_once() {
    for domu in [false, true] {
        let (a, mut c) = (arch(), cpu(false));
        if domu {
            make_domu(&mut c);
        }
        // The prefetch-abort vector itself faults: taking the abort
        // fetches it again, from Abort mode.
        a.hifar.set(VBAR + 0x0c);
        let mut f = TrapFrame {
            elr: VBAR + 0x0c,
            spsr: 0x1d7,
            ..TrapFrame::default()
        };
        a.hsr.set(hsr(ec::PABT_GUEST, 0x07));
        let exit = trap(&a, &mut c, &mut f);
        if domu {
            assert_eq!(exit, Exit::VcpuOff);
            assert_eq!(dom(&mut c).state, DomainState::Crashed);
        } else {
            // Dom0 is reported, not ended: the abort goes in again.
            assert_eq!((exit, f.elr), (Exit::Resume, VBAR + 0x0c));
            assert_eq!(dom(&mut c).state, DomainState::Running);
        }
    }
}

/// An MRC (read) or MCR of CP15 `crn, opc1, crm, opc2` with register `rt`, always passing.
fn mrc(read: bool, crn: u32, opc1: u32, crm: u32, opc2: u32, rt: u32) -> u32 {
    hsr(
        ec::CP15_32,
        (1 << 24)
            | (0xe << 20)
            | (opc2 << 17)
            | (opc1 << 14)
            | (crn << 10)
            | (rt << 5)
            | (crm << 1)
            | u32::from(read),
    )
}

#[test]
fn cp15_accesses() {
    let (a, mut c) = (arch(), cpu(false));
    let mut f = frame();
    // ACTLR reads the CPU's.
    trap_with(&a, &mut c, &mut f, mrc(true, 1, 0, 0, 1, 4));
    assert_eq!((f.r[4], f.elr), (a.actlr, PC + 4));
    // CNTP_CTL (c14, 0, c2, 1): RAZ/WI.
    f.r[2] = 7;
    trap_with(&a, &mut c, &mut f, mrc(true, 14, 0, 2, 1, 2));
    assert_eq!((f.r[2], f.elr), (0, PC + 8));
    // An IMPLEMENTATION DEFINED c15 register: undefined instruction.
    trap_with(&a, &mut c, &mut f, mrc(true, 15, 0, 0, 0, 1));
    assert_eq!(f.spsr & 0x1f, mode::UND);
    assert_eq!(f.elr, VBAR + 0x04);
    assert_eq!(a.banked(Banked::LrUnd), PC + 8 + 4);
    assert_eq!(a.spsr_und.get(), SVC);
}

#[test]
fn failed_condition_skips_the_access() {
    let (a, mut c) = (arch(), cpu(false));
    let mut f = frame();
    // CV set, COND = EQ (0) with Z clear: as if not executed.
    let h = mrc(true, 15, 0, 0, 0, 1) & !(0xf << 20);
    trap_with(&a, &mut c, &mut f, h);
    assert_eq!((f.elr, f.spsr), (PC + 4, SVC));
}

#[test]
fn cp15_64_bit_reads_as_zero_and_unknown_traps_are_undefined() {
    let (a, mut c) = (arch(), cpu(false));
    let mut f = frame();
    f.r[0] = 1;
    f.r[1] = 2;
    // MRRC p15, 2, r0, r1, c14 (CNTP_CVAL): Rt2 [13:10], Rt [8:5], CRm [4:1], read.
    trap_with(
        &a,
        &mut c,
        &mut f,
        hsr(ec::CP15_64, (2 << 16) | (1 << 10) | (14 << 1) | 1),
    );
    assert_eq!((f.r[0], f.r[1], f.elr), (0, 0, PC + 4));
    // An exception class snowvisor does not handle (BXJ).
    trap_with(&a, &mut c, &mut f, hsr(ec::BXJ, 0));
    assert_eq!((f.spsr & 0x1f, f.elr), (mode::UND, VBAR + 0x04));
}

#[test]
fn xen_hypercalls() {
    let (a, mut c) = (arch(), cpu(true));
    let mut f = frame();
    // xen_version(XENVER_version): 4.17.
    f.r[12] = 17;
    f.r[0] = 0;
    trap_with(&a, &mut c, &mut f, hsr(ec::HVC, 0xea1));
    assert_eq!(f.r[0], (4 << 16) | 17);
    // xen_version(XENVER_extraversion) writes through the guest's VA, translated by AT.
    a.map_va(0xc080_0000, 0x4080_0000);
    f.r[12] = 17;
    f.r[0] = 1;
    f.r[1] = 0xc080_0010;
    trap_with(&a, &mut c, &mut f, hsr(ec::HVC, 0xea1));
    assert_eq!(f.r[0], 0);
    assert_eq!(&a.phys(0x4080_0010, 11), b"-snowvisor\0");
    // An unmapped buffer: -EFAULT, nothing written.
    f.r[12] = 17;
    f.r[0] = 1;
    f.r[1] = 0xd000_0000;
    trap_with(&a, &mut c, &mut f, hsr(ec::HVC, 0xea1));
    assert_eq!(f.r[0] as i32, -14);
    assert_eq!(f.elr, PC);
}

#[test]
fn xen_hypercall_without_xen_state_is_enosys() {
    let (a, mut c) = (arch(), cpu(false));
    let mut f = frame();
    f.r[12] = 17;
    trap_with(&a, &mut c, &mut f, hsr(ec::HVC, 0xea1));
    assert_eq!(f.r[0] as i32, -38);
    // And with no vCPU loaded at all.
    let mut idle = PerCpu::default();
    f.r[0] = 0;
    trap_with(&a, &mut idle, &mut f, hsr(ec::HVC, 0xea1));
    assert_eq!(f.r[0] as i32, -38);
}

#[test]
fn interrupts_reach_list_registers() {
    let (a, mut c) = (arch(), cpu(false));
    c.timers.vtimer_intid = VTIMER;
    // The virtual timer: masked at the timer, finished here, queued as software.
    assert!(guest_irq(&a, &mut c, VTIMER, VTIMER));
    assert!(a.vtimer_masked.get());
    assert_eq!((a.eoi.borrow().len(), a.dir.borrow().len()), (1, 1));
    // A passed-through SPI: priority dropped only; the guest deactivates it.
    assert!(guest_irq(&a, &mut c, SPI, SPI));
    assert_eq!((a.eoi.borrow().len(), a.dir.borrow().len()), (2, 1));
    // Not the guest's: left to the caller.
    assert!(!guest_irq(&a, &mut c, SPI + 1, SPI + 1));
    // Maintenance: finished here.
    assert!(guest_irq(&a, &mut c, 25, 25));
    assert_eq!(a.dir.borrow().len(), 2);
    flush_lrs(&a, &mut c);
    let lrs: alloc::vec::Vec<ListRegister> =
        (0..4).map(|i| ListRegister(a.list_register(i))).collect();
    assert!(lrs.iter().any(|l| l.intid() == VTIMER && !l.hw()));
    assert!(lrs.iter().any(|l| l.intid() == SPI && l.hw()));
    assert!(lrs
        .iter()
        .all(|l| l.state() == LrState::Invalid || l.state() == LrState::Pending));
    assert_eq!(a.gich_hcr.get(), 1, "En, no underflow interrupt needed");
    assert_eq!(c.gic.hcr, 1);
}

#[test]
fn more_interrupts_than_list_registers_ask_for_underflow() {
    let (a, mut c) = (FakeArch::new(2), cpu(false));
    c.gic.list_registers = 2;
    for i in 0..3 {
        queue(&mut c).push(SPI + 8 + i, 0xa0, false);
    }
    flush_lrs(&a, &mut c);
    assert_eq!(a.gich_hcr.get(), 0b11, "En and UIE");
    assert_eq!(queue(&mut c).len(), 1);
}

#[test]
fn debug_keys_print_the_vcpu() {
    let (a, mut c) = (arch(), cpu(true));
    let mut f = frame();
    f.r[4] = 0x1234;
    let console = core::mem::take(&mut c.console);
    let mut out = String::new();
    let mut g = dom(&mut c);
    let d = &mut *g;
    let v = VcpuView { id: 0, queued: 0 };
    debugkeys::write_key(&mut out, &a, Command::Registers, &console, d, v, &f).unwrap();
    assert!(
        out.contains("snowvisor: dom0 vCPU 0: r4 =0x00001234"),
        "{out}"
    );
    assert!(
        out.contains("pc=0xc0100000 cpsr=0x000001d3 (SVC mode)"),
        "{out}"
    );
    out.clear();
    debugkeys::write_key(&mut out, &a, Command::Events, &console, d, v, &f).unwrap();
    assert!(out.contains("event PPI 31 disabled"), "{out}");
    // The integrity check is the machine's (the kernel holds the baseline).
    debugkeys::write_key(&mut out, &a, Command::Integrity, &console, d, v, &f).unwrap();
    assert_eq!(*a.integrity_checks.borrow(), ["debug key 'c'"]);
}

#[test]
fn psci_starts_stops_and_reports_other_vcpus() {
    let (a, mut c) = (arch(), cpu(false));
    let mut f = frame();
    // AFFINITY_INFO of vCPU 1 (MPIDR 0x80000001): off.
    f.r[0] = psci::fid::AFFINITY_INFO;
    (f.r[1], f.r[2]) = (0x8000_0001, 0);
    trap_with(&a, &mut c, &mut f, hsr(ec::HVC, 0));
    assert_eq!(f.r[0], psci::affinity::OFF);
    // CPU_ON: pending, and its CPU (GIC interface bit 1) is kicked.
    f.r[0] = psci::fid::CPU_ON;
    (f.r[1], f.r[2], f.r[3]) = (1, 0x4000_8001, 0x55);
    trap_with(&a, &mut c, &mut f, hsr(ec::HVC, 0));
    assert_eq!(f.r[0], psci::SUCCESS as u32);
    assert_eq!(
        dom(&mut c).vcpus[1].power,
        Power::OnPending {
            entry: 0x4000_8001,
            context: 0x55
        }
    );
    assert_eq!(*a.sgis.borrow(), [(KICK_SGI, 2)]);
    assert_eq!(f.elr, PC, "ELR already points past an HVC");
    f.r[0] = psci::fid::CPU_ON;
    f.r[1] = 1;
    trap_with(&a, &mut c, &mut f, hsr(ec::HVC, 0));
    assert_eq!(f.r[0], psci::ON_PENDING as u32);
    // With vCPU 1 on, vCPU 0's CPU_OFF unloads it rather than powering off.
    dom(&mut c).vcpus[1].power = Power::On;
    f.r[0] = psci::fid::CPU_OFF;
    a.hsr.set(hsr(ec::HVC, 0));
    assert_eq!(trap(&a, &mut c, &mut f), Exit::VcpuOff);
    assert_eq!(dom(&mut c).vcpus[0].power, Power::Off);
}

#[test]
fn sgis_reach_other_vcpus_through_their_inbox_and_a_kick() {
    let (a, mut c) = (arch(), cpu(false));
    let mut f = frame();
    dom(&mut c).vcpus[1].power = Power::On;
    // GICD_CTLR on, then SGI 3 to the target list {vCPU 0, vCPU 1}.
    f.r[5] = 1;
    fault_at(&a, GICD, 0xf800_0000);
    trap_with(&a, &mut c, &mut f, dabt(true, 2, 5));
    f.r[5] = (0b11 << 16) | 3;
    fault_at(&a, GICD + 0xf00, 0xf800_0000);
    trap_with(&a, &mut c, &mut f, dabt(true, 2, 5));
    assert_eq!(dom(&mut c).vcpus[1].inbox, [3]);
    assert_eq!(*a.sgis.borrow(), [(KICK_SGI, 2)]);
    // vCPU 0's own copy went to its list registers.
    assert!((0..4).any(|i| ListRegister(a.list_register(i)).intid() == 3));
    // "All but self" from vCPU 0: vCPU 1 only (already in its inbox once).
    f.r[5] = (1 << 24) | 3;
    trap_with(&a, &mut c, &mut f, dabt(true, 2, 5));
    assert_eq!(dom(&mut c).vcpus[1].inbox, [3]);
    // GICD_ITARGETSR0 reads the reader's own CPU interface bit.
    fault_at(&a, GICD + 0x800, 0xf800_0000);
    trap_with(&a, &mut c, &mut f, dabt(false, 2, 6));
    assert_eq!(f.r[6], 0x0101_0101);
}

#[test]
fn cpu_off_gives_back_the_interrupts_it_holds() {
    let (a, mut c) = (arch(), cpu(false));
    let mut f = frame();
    dom(&mut c).vcpus[1].power = Power::On;
    // SPI 40 was taken on this CPU: a pending hardware list register.
    assert!(guest_irq(&a, &mut c, SPI, SPI));
    flush_lrs(&a, &mut c);
    assert!((0..4).any(|i| {
        let l = ListRegister(a.list_register(i));
        l.intid() == SPI && l.hw()
    }));
    // SPI 41 too, still queued.
    queue(&mut c).push(SPI + 1, 0xa0, true);
    // Dom0 moves SPI 40 to vCPU 1 (a GICD_ITARGETSR byte), as Linux does
    // before a CPU goes off.
    f.r[5] = 2;
    fault_at(&a, GICD + 0x800 + u64::from(SPI), 0xf800_0000);
    trap_with(&a, &mut c, &mut f, dabt(true, 0, 5));
    assert_eq!(dom(&mut c).vdist.spi_target(SPI), 1);
    a.sgis.borrow_mut().clear();
    f.r[0] = psci::fid::CPU_OFF;
    a.hsr.set(hsr(ec::HVC, 0));
    assert_eq!(trap(&a, &mut c, &mut f), Exit::VcpuOff);
    // Both physical SPIs deactivated (else they never fire again), nothing
    // left in the list registers or the queue.
    assert_eq!(*a.dir.borrow(), [SPI, SPI + 1]);
    assert!((0..4).all(|i| a.list_register(i) == 0));
    assert!(queue(&mut c).is_empty());
    // The pending SPI 40 follows its target to vCPU 1; SPI 41 still
    // targets the vCPU that is off and is dropped.
    assert_eq!(dom(&mut c).vcpus[1].inbox, [SPI]);
    assert_eq!(*a.sgis.borrow(), [(KICK_SGI, 2)]);
}

#[test]
fn an_spi_routed_to_a_vcpu_that_is_off_stays_on_a_running_cpu() {
    let (a, mut c) = (arch(), cpu(false));
    let mut f = frame();
    let masks: Vec<u8> = dom(&mut c).vcpus.iter().map(|v| v.cpu_mask).collect();
    assert_ne!(masks[0], masks[1]);
    // vCPU 1 is off: Dom0 names it alone for SPI 40 (a GICD_ITARGETSR byte).
    assert_ne!(dom(&mut c).vcpus[1].power, Power::On);
    f.r[5] = 2;
    fault_at(&a, GICD + 0x800 + u64::from(SPI), 0xf800_0000);
    trap_with(&a, &mut c, &mut f, dabt(true, 0, 5));
    // The guest reads back what it wrote; the physical SPI stays with the
    // writer's CPU.
    assert_eq!(dom(&mut c).vdist.spi_target(SPI), 1);
    assert_eq!(a.targets.borrow().get(&SPI).copied(), Some(masks[0]));
    // Once vCPU 1 runs, the same write moves the physical SPI to its CPU.
    dom(&mut c).vcpus[1].power = Power::On;
    f.r[5] = 1;
    trap_with(&a, &mut c, &mut f, dabt(true, 0, 5));
    f.r[5] = 2;
    trap_with(&a, &mut c, &mut f, dabt(true, 0, 5));
    assert_eq!(a.targets.borrow().get(&SPI).copied(), Some(masks[1]));
}

#[test]
fn events_other_domains_post_are_drained_on_the_way_back_in() {
    let (a, mut c) = (arch(), cpu(true));
    let links = {
        let mut d = dom(&mut c);
        let x = d.xen.as_mut().unwrap();
        x.xen_mut().static_unbound(5, 1).unwrap();
        x.evtchn_links()
    };
    // Another domain's hypercall posts port 5 and kicks this CPU; it never
    // takes this domain's lock.
    assert!(links.post(
        5,
        snowvisor_xen::Link::Interdomain {
            remote_dom: 1,
            remote_port: 11
        }
    ));
    assert!(dom(&mut c).xen.as_ref().unwrap().inbox_posted());
    flush_lrs(&a, &mut c);
    assert!(!dom(&mut c).xen.as_ref().unwrap().inbox_posted());
}

#[test]
fn an_spi_for_a_vcpu_waiting_on_the_same_cpu_goes_to_it_and_wakes_it() {
    let (a, mut c, cell) = shared_cpu();
    let domains = [cell];
    let mut f = frame();
    start_vcpu1(&a, &mut c, &mut f, &domains);
    // vCPU 1 waits in WFI; vCPU 0 runs.
    a.hsr.set(hsr(ec::WFI_WFE, 0));
    assert_eq!(trap(&a, &mut c, &mut f), Exit::Block);
    schedule(&a, &mut c, &mut f, Exit::Block, &domains);
    assert_eq!(current_id(&c), Some(0));
    // Dom0 targets SPI 40 at vCPU 1 (a GICD_ITARGETSR byte).
    f.r[5] = 2;
    fault_at(&a, GICD + 0x800 + u64::from(SPI), 0xf800_0000);
    trap_with(&a, &mut c, &mut f, dabt(true, 0, 5));
    // It arrives while vCPU 0 runs: queued for vCPU 1 (priority dropped,
    // deactivated by vCPU 1's EOI), not given to vCPU 0.
    assert!(guest_irq(&a, &mut c, SPI, SPI));
    assert_eq!(*a.eoi.borrow(), [SPI]);
    assert!(queue(&mut c).is_empty());
    a.counter.set(7_000);
    schedule(&a, &mut c, &mut f, Exit::Resume, &domains);
    assert_eq!(current_id(&c), Some(1), "woken, after vCPU 0's minimum run");
    let lr = ListRegister(a.list_register(0));
    assert_eq!((lr.intid(), lr.hw()), (SPI, true));
}

#[test]
fn an_spi_for_a_vcpu_that_is_off_waits_for_it_and_its_banked_state_resets() {
    let (a, mut c, cell) = shared_cpu();
    let domains = [cell];
    let mut f = frame();
    {
        let mut d = cell.lock();
        // Dom0 targets SPI 40 at vCPU 1, still off, and sets it pending
        // (GICD_ISPENDR); vCPU 1's last life left PPI 27 active.
        let mut inject = |to: usize, intid: u32| {
            let mut me = Vcpu::new(0, VcpuContext::reset(frame(), 0, 0, 0));
            deliver(&a, &mut d, &mut me, to, intid);
        };
        inject(1, SPI);
        inject(1, 5);
        assert_eq!(d.vcpus[1].inbox, [SPI], "the SPI waits, the SGI is dropped");
        d.vdist
            .write(1, 0x300, 4, 1 << VTIMER, &mut NoPhys, &mut |_, _| {});
        assert_eq!(d.vdist.read(1, 0x300, 4), Some(1 << VTIMER));
    }
    assert!(a.sgis.borrow().is_empty(), "no kick for a vCPU that is off");
    start_vcpu1(&a, &mut c, &mut f, &domains);
    assert_eq!(ListRegister(a.list_register(0)).intid(), SPI);
    assert_eq!(
        cell.lock().vdist.read(1, 0x300, 4),
        Some(0),
        "ISACTIVER0 reset"
    );
}

/// A physical distributor that is never touched.
struct NoPhys;
impl crate::vgic::PhysGic for NoPhys {
    fn set_enabled(&mut self, _: u32, _: bool) {}
    fn set_edge_triggered(&mut self, _: u32, _: bool) {}
}

#[test]
fn a_paused_domain_keeps_its_vcpus_off_the_cpu_until_unpaused() {
    let (a, mut c, cell) = shared_cpu();
    let domains = [cell];
    let mut f = frame();
    start_vcpu1(&a, &mut c, &mut f, &domains);
    let pc1 = f.elr;
    // Dom0 pauses the domain and kicks its CPU: neither vCPU runs, the
    // loaded one stays loaded (blocked), nothing arms a timer for them.
    cell.lock().paused = true;
    c.kicked = true;
    a.counter.set(6_000);
    assert_eq!(
        schedule(&a, &mut c, &mut f, Exit::Resume, &domains),
        Pick::Idle
    );
    assert_eq!(current_id(&c), Some(1));
    let held: alloc::vec::Vec<bool> = cell.lock().vcpus.iter().map(|v| v.held).collect();
    assert_eq!(held, [true, true], "both held back: the pause is complete");
    // An interrupt for vCPU 0 does not wake it while paused.
    cell.lock().vcpus[0].inbox.push(SPI);
    a.counter.set(20_000);
    assert_eq!(
        schedule(&a, &mut c, &mut f, Exit::Resume, &domains),
        Pick::Idle
    );
    // Unpaused: both get the CPU in turn, each where it was.
    cell.lock().paused = false;
    c.kicked = true;
    let mut seen = alloc::vec::Vec::new();
    for now in [30_000, 50_000, 70_000] {
        a.counter.set(now);
        assert_eq!(
            schedule(&a, &mut c, &mut f, Exit::Resume, &domains),
            Pick::Run
        );
        let id = current_id(&c).unwrap();
        assert_eq!(
            f.elr,
            if id == 1 { pc1 } else { PC },
            "vCPU {id}'s registers"
        );
        seen.push(id);
    }
    assert!(seen.contains(&0) && seen.contains(&1), "{seen:?}");
    // Unpaused and paused again before the woken one got the CPU: neither
    // runs.
    cell.lock().paused = true;
    c.kicked = true;
    a.counter.set(80_000);
    assert_eq!(
        schedule(&a, &mut c, &mut f, Exit::Resume, &domains),
        Pick::Idle
    );
    cell.lock().paused = false;
    c.kicked = true;
    a.counter.set(80_100);
    assert_eq!(
        schedule(&a, &mut c, &mut f, Exit::Resume, &domains),
        Pick::Run
    );
    cell.lock().paused = true;
    c.kicked = true;
    a.counter.set(80_200);
    assert_eq!(
        schedule(&a, &mut c, &mut f, Exit::Resume, &domains),
        Pick::Idle,
        "a vCPU woken by the unpause is parked again"
    );
}
