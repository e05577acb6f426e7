//! A DomU's traps on the host, through [`FakeArch`]: its emulated UART
//! (console lines prefixed, the interrupt line sampled into the vGIC as a
//! level), a stage-2 fault outside its RAM, and PSCI SYSTEM_OFF/RESET
//! ending that domain only.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

use super::tests::{arch, dabt, dom, fault_at, frame, hsr, trap_with, PC, VBAR};
use super::*;
use crate::domain::vuart::DomUart;
use crate::domain::{DomainKind, DomainState, GuestLog, Stage2Root, VcpuState};
use crate::hal::fake::FakeArch;
use crate::psci::Power;
use crate::vgic::{ListRegister, LrState, VDist};
use crate::vpl011::{int, reg};
use snowvisor_arm::exception::mode;
use snowvisor_dt::Region;

const GICD: u64 = 0x0300_1000;
const PL011: u64 = 0x2200_0000;

fn domu() -> Domain {
    let mut vdist = VDist::new(64, 0x0200_143b, 2);
    vdist.give(27);
    Domain {
        id: 1,
        kind: DomainKind::DomU,
        name: "d1",
        memory: vec![Region {
            base: 0x4000_0000,
            size: 0x1000_0000,
        }],
        stage2: Stage2Root {
            root_pa: 0x2000,
            vmid: 2,
        },
        gicd: Region {
            base: GICD,
            size: 0x1000,
        },
        vdist,
        devices: Vec::new(),
        forwarded: Vec::new(),
        stage2_faults: 0,
        xen: None,
        log: GuestLog::new("d1"),
        vcpus: vec![
            VcpuState::new(0x8000_0000, 2, Power::On),
            VcpuState::new(0x8000_0001, 4, Power::On),
        ],
        uart: Some(Box::new(DomUart::new(1))),
        uart_ipa: Region {
            base: PL011,
            size: 0x1000,
        },
        boot_dtb: None,
        state: DomainState::Running,
        paused: false,
        shutdown_code: 0,
        cntvoff: 0,
        restart: None,
    }
}

fn cpu() -> PerCpu {
    PerCpu {
        gic: CpuInterface {
            list_registers: 4,
            ..CpuInterface::default()
        },
        current: Some(Box::new(Loaded {
            domain: Box::leak(Box::new(spin::Mutex::new(domu()))),
            vcpu: Vcpu::new(0, VcpuContext::reset(frame(), 0, 0x8000_0000, 0)),
        })),
        ..PerCpu::default()
    }
}

/// A 32-bit store of `v` (from r4) at `ipa`.
fn store(a: &FakeArch, c: &mut PerCpu, ipa: u64, v: u32) {
    let mut f = frame();
    f.r[4] = v;
    fault_at(a, ipa, 0xf000_0000);
    trap_with(a, c, &mut f, dabt(true, 2, 4));
    assert_eq!(f.elr, PC + 4, "store at {ipa:#x} emulated");
}

/// A 32-bit load (into r3) from `ipa`.
fn load(a: &FakeArch, c: &mut PerCpu, ipa: u64) -> u32 {
    let mut f = frame();
    fault_at(a, ipa, 0xf000_0000);
    trap_with(a, c, &mut f, dabt(false, 2, 3));
    assert_eq!(f.elr, PC + 4, "load at {ipa:#x} emulated");
    f.r[3]
}

/// The list register holding `intid`, if any.
fn lr_of(a: &FakeArch, intid: u32) -> Option<(usize, ListRegister)> {
    (0..4)
        .map(|i| (i, ListRegister(a.list_register(i))))
        .find(|(_, l)| l.state() != LrState::Invalid && l.intid() == intid)
}

#[test]
fn uart_output_goes_out_in_prefixed_lines() {
    let (a, mut c) = (arch(), cpu());
    for &b in b"hello\r" {
        store(&a, &mut c, PL011 + u64::from(reg::DR), u32::from(b));
    }
    assert!(a.guest_out.borrow().is_empty(), "no whole line yet");
    store(&a, &mut c, PL011 + u64::from(reg::DR), u32::from(b'\n'));
    assert_eq!(&a.guest_out.borrow()[..], b"(d1) hello\r\n");
    // The transmitter is never full for long: FR.TXFE once it is taken.
    assert_ne!(load(&a, &mut c, PL011 + u64::from(reg::FR)) & (1 << 7), 0);
    // With the console's input on it, a prompt shows before its line ends,
    // and the line goes on without a second prefix.
    a.guest_out.borrow_mut().clear();
    for &b in b"/ # " {
        store(&a, &mut c, PL011 + u64::from(reg::DR), u32::from(b));
    }
    assert!(a.guest_out.borrow().is_empty());
    dom(&mut c).uart.as_mut().unwrap().set_focus(&a, true);
    assert_eq!(&a.guest_out.borrow()[..], b"(d1) / # ");
    for &b in b"ls\r\n" {
        store(&a, &mut c, PL011 + u64::from(reg::DR), u32::from(b));
    }
    assert_eq!(&a.guest_out.borrow()[..], b"(d1) / # ls\r\n");
}

#[test]
fn uart_output_without_focus_keeps_printable_characters_only() {
    let (a, mut c) = (arch(), cpu());
    for &b in b"\x1b[2Jok\r\x07\tz\n" {
        store(&a, &mut c, PL011 + u64::from(reg::DR), u32::from(b));
    }
    assert_eq!(&a.guest_out.borrow()[..], b"(d1) [2Jok\tz\r\n");
}

#[test]
fn uart_waits_for_console_room_and_loses_nothing() {
    let (a, mut c) = (arch(), cpu());
    store(&a, &mut c, GICD, 1);
    store(&a, &mut c, GICD + 0x104, 1);
    store(&a, &mut c, PL011 + u64::from(reg::IMSC), int::TX);
    let fr = |a: &FakeArch, c: &mut PerCpu| load(a, c, PL011 + u64::from(reg::FR));
    // The console has room for the prefix and 3 bytes of this domain.
    a.console_room.set(8);
    let text: Vec<u8> = (0..60u8).map(|i| b'a' + i % 26).chain(*b"\r\n").collect();
    let mut sent = 0;
    // As Linux's driver writes: while FR.TXFF is clear.
    while sent < text.len() && fr(&a, &mut c) & (1 << 5) == 0 {
        store(
            &a,
            &mut c,
            PL011 + u64::from(reg::DR),
            u32::from(text[sent]),
        );
        sent += 1;
    }
    assert_eq!(
        sent,
        3 + 32,
        "3 bytes taken, then the FIFO fills and stays full"
    );
    assert_ne!(fr(&a, &mut c) & (1 << 3), 0, "BUSY");
    assert!(a.guest_out.borrow().is_empty(), "no whole line yet");
    assert!(
        a.room_waits.borrow().contains(&(1, 9)),
        "woken once the console has room for the next byte: {:?}",
        a.room_waits.borrow()
    );
    // The FIFO above its trigger level: the TX interrupt stays low, so
    // the guest waits for it.
    a.set_list_register(0, 0);
    assert!(lr_of(&a, 32).is_none());
    let v = Vcpu::new(0, VcpuContext::reset(frame(), 0, 0x8000_0000, 0));
    assert!(
        !irq::uart_tx_ready(&a, &dom(&mut c), &v),
        "no room: nothing to wake for"
    );
    // Room again: the vCPU has something to wake for, and on its way
    // back in the bytes move and the TX interrupt rises.
    a.console_room.set(4096);
    assert!(irq::uart_tx_ready(&a, &dom(&mut c), &v));
    flush_lrs(&a, &mut c);
    assert!(lr_of(&a, 32).is_some(), "TX interrupt pending");
    assert_eq!(fr(&a, &mut c) & (1 << 5 | 1 << 7), 1 << 7, "TXFE, not TXFF");
    while sent < text.len() {
        store(
            &a,
            &mut c,
            PL011 + u64::from(reg::DR),
            u32::from(text[sent]),
        );
        sent += 1;
    }
    let mut want = b"(d1) ".to_vec();
    want.extend_from_slice(&text);
    assert_eq!(
        a.guest_out.borrow()[..],
        want[..],
        "every byte, in one line"
    );
    assert_eq!(dom(&mut c).uart.as_ref().unwrap().lost(), 0);
    // A guest that ignores TXFF loses bytes, counted and listed.
    a.console_room.set(0);
    for _ in 0..40 {
        store(&a, &mut c, PL011 + u64::from(reg::DR), u32::from(b'z'));
    }
    let d = dom(&mut c);
    assert_eq!(d.uart.as_ref().unwrap().lost(), 8);
    assert!(crate::debugkeys::domain_line(&d, "domU1", 8)
        .ends_with(", console: 8 byte(s) of output lost"));
}

#[test]
fn uart_interrupt_is_a_level_on_spi_32() {
    let (a, mut c) = (arch(), cpu());
    // Distributor on, SPI 32 enabled (ISENABLER1 bit 0), TX interrupt unmasked.
    store(&a, &mut c, GICD, 1);
    store(&a, &mut c, GICD + 0x104, 1);
    // A byte sent (and taken by the console: the TX FIFO below its
    // trigger level raises TXRIS), its interrupt still masked: line low.
    store(&a, &mut c, PL011 + u64::from(reg::DR), u32::from(b'a'));
    assert!(lr_of(&a, 32).is_none(), "line low: TX interrupt masked");
    store(&a, &mut c, PL011 + u64::from(reg::IMSC), int::TX);
    let (i, lr) = lr_of(&a, 32).expect("SPI 32 pending");
    assert_eq!(lr.state(), LrState::Pending);
    // Pending: sampling again adds nothing.
    load(&a, &mut c, PL011 + u64::from(reg::FR));
    assert_eq!(ListRegister(a.list_register(i)), lr);
    // The guest takes it (active) and the line stays high: pending and
    // active, taken again after its deactivation.
    a.set_list_register(i, lr.with_state(LrState::Active).0);
    load(&a, &mut c, PL011 + u64::from(reg::MIS));
    let lr = ListRegister(a.list_register(i));
    assert_eq!(lr.state(), LrState::PendingActive);
    // A stale EOI request in an invalid register is cleared; the line still
    // high, the SPI is pending again.
    a.set_list_register(i, lr.with_eoi_maintenance().with_state(LrState::Invalid).0);
    load(&a, &mut c, PL011 + u64::from(reg::FR));
    let (_, lr) = lr_of(&a, 32).expect("pending again");
    assert_eq!(lr.state(), LrState::Pending);
    assert!(
        (0..4).all(|n| {
            let l = ListRegister(a.list_register(n));
            l.state() != LrState::Invalid || !l.eoi_maintenance()
        }),
        "no register left asserting GICH_EISR"
    );
    // Masked again: the line drops, nothing new.
    a.set_list_register(lr_of(&a, 32).unwrap().0, 0);
    store(&a, &mut c, PL011 + u64::from(reg::IMSC), 0);
    assert!(lr_of(&a, 32).is_none());
}

#[test]
fn fault_outside_its_devices_is_an_abort_counted_for_it() {
    let (a, mut c) = (arch(), cpu());
    let mut f = frame();
    // The host's UART address means nothing in a DomU's map.
    fault_at(&a, 0x0900_0000, 0xf000_0000);
    trap_with(&a, &mut c, &mut f, dabt(false, 2, 3));
    assert_eq!((f.spsr & 0x1f, f.elr), (mode::ABT, VBAR + 0x10));
    assert_eq!(dom(&mut c).stage2_faults, 1);
    // A UART register that does not exist is refused the same way.
    let mut f = frame();
    fault_at(&a, PL011 + 0x800, 0xf000_0000);
    trap_with(&a, &mut c, &mut f, dabt(false, 2, 3));
    assert_eq!((f.spsr & 0x1f, f.elr), (mode::ABT, VBAR + 0x10));
}

#[test]
fn system_off_and_reset_end_only_the_domain() {
    for (fid, state) in [
        (psci::fid::SYSTEM_OFF, DomainState::Off),
        // Without a way to restart (`Domain::restart` None), a reset ends it.
        (psci::fid::SYSTEM_RESET, DomainState::Off),
    ] {
        let (a, mut c) = (arch(), cpu());
        // A partial line is sent before the domain ends.
        store(&a, &mut c, PL011 + u64::from(reg::DR), u32::from(b'x'));
        let mut f = frame();
        f.r[0] = fid;
        a.hsr.set(hsr(ec::HVC, 0));
        // No firmware call (FakeArch panics on one): the vCPU goes off.
        assert_eq!(trap(&a, &mut c, &mut f), Exit::VcpuOff);
        let d = dom(&mut c);
        assert_eq!(d.state, state);
        assert!(d.vcpus.iter().all(|s| s.power == Power::Off));
        assert_eq!(&a.guest_out.borrow()[..], b"(d1) x\r\n");
        // The other vCPU's CPU (GIC interface bit 4) is kicked to unload it.
        assert!(a.sgis.borrow().contains(&(KICK_SGI, 4)));
    }
}

/// A rebuild that counts its calls and makes the domain as new.
struct FakeRebuild(alloc::sync::Arc<core::sync::atomic::AtomicU32>);

impl crate::domain::restart::Rebuild for FakeRebuild {
    fn rebuild(&mut self, d: &mut Domain) -> Result<(), alloc::string::String> {
        self.0.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        d.vcpus[0].power = Power::OnPending {
            entry: 0x4800_0000,
            context: 0,
        };
        d.cntvoff = 1234;
        Ok(())
    }
}

#[test]
fn a_reset_domu_is_rebuilt_once_its_last_vcpu_is_unloaded() {
    use crate::domain::restart::{unloaded, Restart, RestartGuard, MAX_RESTARTS};
    let (a, mut c) = (arch(), cpu());
    let calls = alloc::sync::Arc::new(core::sync::atomic::AtomicU32::new(0));
    {
        let mut d = dom(&mut c);
        d.restart = Some(Restart {
            rebuild: Box::new(FakeRebuild(calls.clone())),
            guard: RestartGuard::default(),
        });
        for s in d.vcpus.iter_mut() {
            s.loaded = true;
        }
    }
    let mut f = frame();
    f.r[0] = psci::fid::SYSTEM_RESET;
    a.hsr.set(hsr(ec::HVC, 0));
    assert_eq!(trap(&a, &mut c, &mut f), Exit::VcpuOff);
    let mut d = dom(&mut c);
    assert_eq!(d.state, DomainState::Restarting);
    assert!(
        a.sgis.borrow().contains(&(KICK_SGI, 4)),
        "vCPU 1's CPU kicked"
    );
    // Its own CPU lets go of vCPU 0: vCPU 1 may still run elsewhere.
    assert_eq!(unloaded(&mut d, 0), None);
    assert_eq!(calls.load(core::sync::atomic::Ordering::Relaxed), 0);
    // vCPU 1's CPU lets go: built again, vCPU 0's CPU (bit 2) to kick.
    assert_eq!(unloaded(&mut d, 1), Some(2));
    assert_eq!(calls.load(core::sync::atomic::Ordering::Relaxed), 1);
    assert_eq!(d.state, DomainState::Running);
    assert_eq!(d.cntvoff, 1234);
    assert!(matches!(d.vcpus[0].power, Power::OnPending { .. }));
    assert_eq!(d.restart.as_ref().map(|r| r.guard.count()), Some(1));
    // A guest that resets at once, again and again, is ended.
    for _ in 1..MAX_RESTARTS {
        d.state = DomainState::Running;
        super::end_domu(&a, &mut d, super::End::Reset);
        assert_eq!(d.state, DomainState::Restarting);
        assert_eq!(unloaded(&mut d, 0), Some(2));
    }
    super::end_domu(&a, &mut d, super::End::Reset);
    assert_eq!(d.state, DomainState::Crashed, "a reset loop");
    assert_eq!(unloaded(&mut d, 0), None);
}

#[test]
fn cpu_on_after_the_domain_ended_starts_nothing() {
    // vCPU 0 still runs on its CPU after its domain was ended from another
    // CPU (crash containment, SYSTEM_OFF by vCPU 1), before the kick lands.
    let (a, mut c) = (arch(), cpu());
    {
        let mut d = dom(&mut c);
        d.state = DomainState::Crashed;
        d.vcpus[1].power = Power::Off;
    }
    let mut f = frame();
    f.r[0] = psci::fid::CPU_ON;
    f.r[1] = 0x8000_0001;
    f.r[2] = 0x4800_0000;
    a.hsr.set(hsr(ec::HVC, 0));
    trap(&a, &mut c, &mut f);
    assert_eq!(f.r[0], psci::DENIED as u32);
    assert_eq!(dom(&mut c).vcpus[1].power, Power::Off, "not made pending");
    assert!(!a.sgis.borrow().contains(&(KICK_SGI, 4)), "no CPU kicked");
}

#[test]
fn a_domu_that_cannot_restart_itself_tells_the_toolstack_why_it_ended() {
    // A domain Dom0 created keeps no copy to restart from: its reset ends
    // it with Xen's SHUTDOWN_reboot, which xl's on_reboot acts on.
    let (a, mut c) = (arch(), cpu());
    let mut d = dom(&mut c);
    assert!(d.restart.is_none());
    super::end_domu(&a, &mut d, super::End::Reset);
    assert_eq!((d.state, d.shutdown_code), (DomainState::Off, 1));
    d.state = DomainState::Running;
    super::end_domu(&a, &mut d, super::End::Off);
    assert_eq!((d.state, d.shutdown_code), (DomainState::Off, 0));
    d.state = DomainState::Running;
    super::end_domu(&a, &mut d, super::End::Crashed("test"));
    assert_eq!((d.state, d.shutdown_code), (DomainState::Crashed, 3));
}
