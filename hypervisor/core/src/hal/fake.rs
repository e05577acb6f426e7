//! A host [`Arch`] for tests: a CPU whose registers, GIC interfaces, timers
//! and memory are plain fields. Tests set what a trap would find (syndrome,
//! fault addresses, guest registers, translations) and read back what the
//! core did (list registers, injected exceptions, interrupts enabled).
//! Firmware power calls panic with the function ID (they never return on
//! the target either). Its [`Services`] are its own: exit counters, the
//! console's output and input as byte vectors, and an optional RAM log.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};

use super::{Arch, GuestControl, Services};
use crate::ramlog::Ring;
use crate::stats::Exits;
use snowvisor_arm::at::Translation;
use snowvisor_arm::context::VcpuContext;
use snowvisor_arm::exception::FaultRegs;
use snowvisor_arm::frame::TrapFrame;
use snowvisor_arm::hsr::Hsr;
use snowvisor_arm::regs::Banked;

/// The fake CPU. Public fields are what the hardware holds.
pub struct FakeArch {
    pub hsr: Cell<u32>,
    pub hdfar: Cell<u32>,
    pub hifar: Cell<u32>,
    pub hpfar: Cell<u32>,
    /// The guest's banked registers, by `Banked as usize`.
    pub banked: RefCell<[u32; Banked::COUNT]>,
    /// SPSR of ABT and UND as an injected exception wrote them.
    pub spsr_abt: Cell<u32>,
    pub spsr_und: Cell<u32>,
    pub control: Cell<GuestControl>,
    /// The fault registers last written (DFAR/DFSR or IFAR/IFSR).
    pub fault_regs: Cell<Option<FaultRegs>>,
    pub midr: u32,
    pub actlr: u32,
    pub counter: Cell<u64>,
    pub counter_hz: u32,
    pub vtimer_masked: Cell<bool>,
    pub cntvoff: Cell<u64>,
    pub hyp_timer: Cell<Option<u32>>,
    /// The HYP timer's compare value (`arm_hyp_timer_at`).
    pub hyp_timer_at: Cell<Option<u64>>,
    /// What the CPU holds of the loaded vCPU beyond the modelled registers
    /// above (CP15, timer, VFP, GICH_APR/VMCR, VTTBR, VMPIDR).
    pub loaded: RefCell<VcpuContext>,
    /// `load_vcpu` calls (context switches in).
    pub loads: Cell<u32>,
    pub wfi: Cell<u32>,
    /// Enabled physical interrupts and their priority.
    pub irqs: RefCell<BTreeMap<u32, u8>>,
    pub edge: RefCell<BTreeMap<u32, bool>>,
    /// IAR values written to GICC_EOIR and GICC_DIR.
    pub eoi: RefCell<Vec<u32>>,
    pub dir: RefCell<Vec<u32>>,
    pub sgis: RefCell<Vec<(u32, u8)>>,
    /// SPI targets written (GICD_ITARGETSR), by INTID.
    pub targets: RefCell<BTreeMap<u32, u8>>,
    /// GICH_LRn (empty: no hypervisor interface).
    pub lrs: RefCell<Vec<u32>>,
    pub gich_hcr: Cell<u32>,
    pub stage2: Cell<Option<(u64, u8)>>,
    /// Guest VA page -> PA page for `translate_pl1` (absent: a stage-1 fault).
    pub pages: RefCell<BTreeMap<u32, u64>>,
    /// Physical memory, by byte.
    pub mem: RefCell<BTreeMap<u64, u8>>,
    pub cleaned: RefCell<Vec<(u64, usize)>>,
    /// Device register accesses, in order: (write, PA, size, value); the
    /// registers themselves are bytes of `mem`.
    pub device: RefCell<Vec<(bool, u64, u32, u32)>>,
    /// The exit counters.
    pub exits: Exits,
    /// snowvisor's own console text, as written.
    pub console_out: RefCell<alloc::string::String>,
    /// Guest console output queued for the UART, and whether it was flushed.
    pub guest_out: RefCell<Vec<u8>>,
    pub guest_flushed: Cell<bool>,
    /// The console's room for guest output (the same for every domain; each
    /// byte queued takes one), and every wake-up asked for: (domain, want).
    pub console_room: Cell<usize>,
    pub room_waits: RefCell<Vec<(u16, usize)>>,
    /// Bytes the console UART has received, not yet read.
    pub console_in: RefCell<Vec<u8>>,
    /// The RAM log, if the test attached one.
    pub ram_log: RefCell<Option<Ring<'static>>>,
    /// Why each integrity check was asked for, in order.
    pub integrity_checks: RefCell<Vec<alloc::string::String>>,
}

impl FakeArch {
    /// A Cortex-A15 r4p0 at 62.5 MHz with `lrs` list registers.
    pub fn new(lrs: usize) -> Self {
        FakeArch {
            hsr: Cell::new(0),
            hdfar: Cell::new(0),
            hifar: Cell::new(0),
            hpfar: Cell::new(0),
            banked: RefCell::new([0; Banked::COUNT]),
            spsr_abt: Cell::new(0),
            spsr_und: Cell::new(0),
            control: Cell::new(GuestControl::default()),
            fault_regs: Cell::new(None),
            midr: 0x414f_c0f0,
            actlr: 0x40,
            counter: Cell::new(0),
            counter_hz: 62_500_000,
            vtimer_masked: Cell::new(false),
            cntvoff: Cell::new(0),
            hyp_timer: Cell::new(None),
            hyp_timer_at: Cell::new(None),
            loaded: RefCell::new(VcpuContext::reset(TrapFrame::default(), 0, 0, 0)),
            loads: Cell::new(0),
            wfi: Cell::new(0),
            irqs: RefCell::new(BTreeMap::new()),
            edge: RefCell::new(BTreeMap::new()),
            eoi: RefCell::new(Vec::new()),
            dir: RefCell::new(Vec::new()),
            sgis: RefCell::new(Vec::new()),
            targets: RefCell::new(BTreeMap::new()),
            lrs: RefCell::new(alloc::vec![0; lrs]),
            gich_hcr: Cell::new(0),
            stage2: Cell::new(None),
            pages: RefCell::new(BTreeMap::new()),
            mem: RefCell::new(BTreeMap::new()),
            cleaned: RefCell::new(Vec::new()),
            device: RefCell::new(Vec::new()),
            exits: Exits::new(),
            console_out: RefCell::new(alloc::string::String::new()),
            guest_out: RefCell::new(Vec::new()),
            guest_flushed: Cell::new(false),
            console_room: Cell::new(usize::MAX),
            room_waits: RefCell::new(Vec::new()),
            console_in: RefCell::new(Vec::new()),
            ram_log: RefCell::new(None),
            integrity_checks: RefCell::new(Vec::new()),
        }
    }

    /// Advances the counter by `ms` milliseconds.
    pub fn advance_ms(&self, ms: u64) {
        let per_ms = u64::from(self.counter_hz) / 1000;
        self.counter.set(self.counter.get() + ms * per_ms);
    }

    /// Maps guest VA page `va` to physical page `pa` for AT.
    pub fn map_va(&self, va: u32, pa: u64) {
        self.pages.borrow_mut().insert(va & !0xfff, pa & !0xfff);
    }

    /// Bytes of physical memory (unwritten bytes read as 0).
    pub fn phys(&self, pa: u64, len: usize) -> Vec<u8> {
        let m = self.mem.borrow();
        (0..len as u64)
            .map(|i| m.get(&(pa + i)).copied().unwrap_or(0))
            .collect()
    }
}

impl Services for FakeArch {
    fn exits(&self) -> &Exits {
        &self.exits
    }
    fn console_write(&self, args: core::fmt::Arguments<'_>) {
        core::fmt::Write::write_fmt(&mut *self.console_out.borrow_mut(), args).unwrap();
    }
    fn console_write_guest(&self, _domid: u16, bytes: &[u8]) -> usize {
        let n = bytes.len().min(self.console_room.get());
        self.console_room.set(self.console_room.get() - n);
        self.guest_out.borrow_mut().extend_from_slice(&bytes[..n]);
        n
    }
    fn console_write_line(&self, _domid: u16, line: &[u8]) {
        assert!(
            line.len() <= self.console_room.get(),
            "a line beyond the room"
        );
        self.console_room.set(self.console_room.get() - line.len());
        self.guest_out.borrow_mut().extend_from_slice(line);
    }
    fn console_room(&self, domid: u16, want: usize) -> usize {
        let room = self.console_room.get();
        if room < want {
            self.room_waits.borrow_mut().push((domid, want));
        }
        room
    }
    fn console_lost(&self, _domid: u16) -> u64 {
        0
    }
    fn console_drain_guest(&self) {}
    fn console_flush_guest(&self) {
        // Everything queued went to the UART: the queue has room again.
        self.guest_flushed.set(true);
        self.console_room.set(usize::MAX);
    }
    fn console_receive(&self, out: &mut [u8]) -> usize {
        let mut input = self.console_in.borrow_mut();
        let n = out.len().min(input.len());
        out[..n].copy_from_slice(&input[..n]);
        input.drain(..n);
        n
    }
    fn with_ram_log<R>(&self, f: impl FnOnce(&mut Ring<'static>) -> R) -> Option<R> {
        self.ram_log.borrow_mut().as_mut().map(f)
    }
    fn integrity_check(&self, why: &str) {
        self.integrity_checks.borrow_mut().push(why.into());
    }
}

impl Arch for FakeArch {
    fn hsr(&self) -> Hsr {
        Hsr(self.hsr.get())
    }
    fn hdfar(&self) -> u32 {
        self.hdfar.get()
    }
    fn hifar(&self) -> u32 {
        self.hifar.get()
    }
    fn hpfar(&self) -> u32 {
        self.hpfar.get()
    }

    fn banked(&self, r: Banked) -> u32 {
        self.banked.borrow()[r as usize]
    }
    fn set_banked(&self, r: Banked, v: u32) {
        self.banked.borrow_mut()[r as usize] = v;
    }
    fn set_banked_spsr_lr(&self, mode: u32, spsr: u32, lr: u32) {
        let abt = mode == snowvisor_arm::exception::mode::ABT;
        if abt { &self.spsr_abt } else { &self.spsr_und }.set(spsr);
        self.set_banked(if abt { Banked::LrAbt } else { Banked::LrUnd }, lr);
    }
    fn guest_control(&self) -> GuestControl {
        self.control.get()
    }
    fn set_fault_regs(&self, regs: FaultRegs) {
        self.fault_regs.set(Some(regs));
    }
    fn guest_data_fault(&self) -> (u32, u32) {
        match self.fault_regs.get() {
            Some(FaultRegs::Data { dfsr, dfar }) => (dfar, dfsr),
            _ => (0, 0),
        }
    }
    fn midr(&self) -> u32 {
        self.midr
    }
    fn actlr(&self) -> u32 {
        self.actlr
    }

    fn counter(&self) -> u64 {
        self.counter.get()
    }
    fn counter_hz(&self) -> u32 {
        self.counter_hz
    }
    fn mask_vtimer(&self) {
        self.vtimer_masked.set(true);
    }
    fn set_virtual_offset(&self, ticks: u64) {
        self.cntvoff.set(ticks);
    }
    fn arm_hyp_timer(&self, ticks: u32) {
        self.hyp_timer.set(Some(ticks));
    }
    fn stop_hyp_timer(&self) {
        self.hyp_timer.set(None);
        self.hyp_timer_at.set(None);
    }
    fn arm_hyp_timer_at(&self, at: u64) {
        self.hyp_timer_at.set(Some(at));
    }
    fn save_vcpu(&self, ctx: &mut VcpuContext, lrs: usize) {
        let frame = core::mem::take(&mut ctx.frame);
        *ctx = self.loaded.borrow().clone();
        ctx.frame = frame;
        ctx.banked = *self.banked.borrow();
        ctx.gic.hcr = self.gich_hcr.get();
        ctx.gic.lr[..lrs].copy_from_slice(&self.lrs.borrow()[..lrs]);
        self.loaded.borrow_mut().timer.cntv_ctl = 0;
    }
    fn load_vcpu(&self, ctx: &VcpuContext, lrs: usize) {
        *self.loaded.borrow_mut() = ctx.clone();
        *self.banked.borrow_mut() = ctx.banked;
        self.gich_hcr.set(ctx.gic.hcr);
        self.lrs.borrow_mut()[..lrs].copy_from_slice(&ctx.gic.lr[..lrs]);
        self.stage2.set(Some((
            ctx.hyp.vttbr & 0xff_ffff_ffff,
            (ctx.hyp.vttbr >> 48) as u8,
        )));
        self.loads.set(self.loads.get() + 1);
    }

    fn wait_for_interrupt(&self) {
        self.wfi.set(self.wfi.get() + 1);
    }
    fn firmware_psci(&self, function: u32) -> ! {
        panic!("firmware PSCI {function:#x}")
    }

    fn irq_enable(&self, intid: u32, priority: u8) {
        self.irqs.borrow_mut().insert(intid, priority);
    }
    fn irq_disable(&self, intid: u32) {
        self.irqs.borrow_mut().remove(&intid);
    }
    fn irq_set_edge_triggered(&self, intid: u32, edge: bool) {
        self.edge.borrow_mut().insert(intid, edge);
    }
    fn irq_end(&self, iar: u32) {
        self.eoi.borrow_mut().push(iar);
    }
    fn irq_deactivate(&self, iar: u32) {
        self.dir.borrow_mut().push(iar);
    }
    fn send_sgi(&self, intid: u32, targets: u8) {
        self.sgis.borrow_mut().push((intid, targets));
    }
    fn irq_set_targets(&self, intid: u32, targets: u8) {
        self.targets.borrow_mut().insert(intid, targets);
    }
    fn has_list_registers(&self) -> bool {
        !self.lrs.borrow().is_empty()
    }
    fn list_register(&self, n: usize) -> u32 {
        self.lrs.borrow()[n]
    }
    fn set_list_register(&self, n: usize, v: u32) {
        self.lrs.borrow_mut()[n] = v;
    }
    fn empty_list_registers(&self) -> u64 {
        // ELRSR: an LR is empty when its state is invalid and it holds no
        // EOI maintenance request (GIC architecture spec 5.3.9).
        self.lrs
            .borrow()
            .iter()
            .enumerate()
            .filter(|(_, &v)| v & (3 << 28) == 0 && v & (1 << 19) == 0)
            .fold(0, |m, (i, _)| m | (1 << i))
    }
    fn set_gich_hcr(&self, v: u32) {
        self.gich_hcr.set(v);
    }

    fn install_stage2(&self, root_pa: u64, vmid: u8) {
        self.stage2.set(Some((root_pa, vmid)));
    }
    fn translate_pl1(&self, va: u32, _write: bool) -> Translation {
        match self.pages.borrow().get(&(va & !0xfff)) {
            Some(&pa) => Translation::Pa(pa | u64::from(va & 0xfff)),
            None => Translation::Stage1Fault,
        }
    }
    fn read_phys(&self, pa: u64, out: &mut [u8]) {
        let m = self.mem.borrow();
        for (i, b) in out.iter_mut().enumerate() {
            *b = m.get(&(pa + i as u64)).copied().unwrap_or(0);
        }
    }
    fn write_phys(&self, pa: u64, data: &[u8]) {
        let mut m = self.mem.borrow_mut();
        for (i, &b) in data.iter().enumerate() {
            m.insert(pa + i as u64, b);
        }
    }
    fn update_phys_word(&self, pa: u64, f: &mut dyn FnMut(u32) -> Option<u32>) -> u32 {
        let mut w = [0u8; 4];
        self.read_phys(pa, &mut w);
        let old = u32::from_le_bytes(w);
        if let Some(new) = f(old) {
            self.write_phys(pa, &new.to_le_bytes());
        }
        old
    }
    fn clean_dcache_phys(&self, pa: u64, len: usize) {
        self.cleaned.borrow_mut().push((pa, len));
    }
    fn read_device(&self, pa: u64, size: u32) -> u32 {
        let mut b = [0; 4];
        self.read_phys(pa, &mut b[..size as usize]);
        let v = u32::from_le_bytes(b);
        self.device.borrow_mut().push((false, pa, size, v));
        v
    }
    fn write_device(&self, pa: u64, size: u32, value: u32) {
        self.write_phys(pa, &value.to_le_bytes()[..size as usize]);
        self.device.borrow_mut().push((true, pa, size, value));
    }
}
