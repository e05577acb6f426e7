//! The ARMv7 CPU as the core's [`Arch`] (over `snowvisor_arch_armv7` and the
//! GIC driver) with the machine's [`Services`] (the kernel's console, RAM log
//! and exit counters), and the per-CPU accessor: each physical CPU's context
//! ([`PerCpu`] and the CPU's hardware handles) in one slot, found through
//! HTPIDR, which holds the address of the CPU's slot.

use alloc::boxed::Box;

use aarch32_cpu::register::{
    Actlr, CntPct, CntVoff, Cntfrq, CnthpCtl, CnthpTval, Dfar, Dfsr, Hdfar, Hifar, Hpfar, Htpidr,
    Midr, Vbar,
};
use spin::Mutex;
use tock_registers::interfaces::{Readable, Writeable};

use snowvisor_arch_armv7::at;
use snowvisor_arch_armv7::drivers::gicv2::Gic;
use snowvisor_arch_armv7::{banked, context, cpu, guest, mmu, phys, secure, sysreg};
use snowvisor_arm::at::Translation;
use snowvisor_arm::context::VcpuContext;
use snowvisor_arm::exception::FaultRegs;
use snowvisor_arm::hsr::Hsr;
use snowvisor_arm::lpae::Table;
use snowvisor_arm::regs::Banked;
use snowvisor_arm::stage2::VTCR;
use snowvisor_core::domain::xen_space::Hooks;
use snowvisor_core::hal::{Arch, GuestControl, Services};
use snowvisor_core::ramlog::Ring;
use snowvisor_core::stats::Exits;
use snowvisor_core::vcpu::PerCpu;

/// The CPU snowvisor runs on, with its GIC (distributor shared, CPU and
/// hypervisor interfaces banked per CPU).
pub struct Armv7 {
    gic: &'static Gic,
}

impl Armv7 {
    pub fn new(gic: &'static Gic) -> Self {
        Armv7 { gic }
    }

    /// The GIC driver, for snowvisor's own interrupts.
    pub fn gic(&self) -> &'static Gic {
        self.gic
    }
}

/// The running hypervisor's exit counters (in `.bss`: zero at start).
pub static EXITS: Exits = Exits::new();

impl Services for Armv7 {
    #[inline]
    fn exits(&self) -> &Exits {
        &EXITS
    }
    fn console_write(&self, args: core::fmt::Arguments<'_>) {
        crate::console::write_fmt(args)
    }
    fn console_write_guest(&self, domid: u16, bytes: &[u8]) -> usize {
        crate::console::write_guest(domid, bytes)
    }
    fn console_write_line(&self, domid: u16, line: &[u8]) {
        crate::console::write_line(domid, line)
    }
    fn console_room(&self, domid: u16, want: usize) -> usize {
        crate::console::room(domid, want)
    }
    fn console_lost(&self, domid: u16) -> u64 {
        crate::console::lost(domid)
    }
    fn console_drain_guest(&self) {
        crate::console::drain_guest()
    }
    fn console_flush_guest(&self) {
        crate::console::flush_guest()
    }
    fn console_receive(&self, out: &mut [u8]) -> usize {
        crate::console::receive(out)
    }
    fn with_ram_log<R>(&self, f: impl FnOnce(&mut Ring<'static>) -> R) -> Option<R> {
        crate::ramlog::with_ring(f)
    }
    fn integrity_check(&self, why: &str) {
        crate::integrity::check(why)
    }
    fn domain_info(&self, first: u16) -> Option<snowvisor_xen::DomainInfo> {
        crate::domains::info(first)
    }
    fn evtchn_peer(&self, domid: u16) -> Option<alloc::sync::Arc<snowvisor_xen::EvtchnLinks>> {
        crate::domains::links(domid)
    }
    fn domain_control(&self) -> Option<&'static dyn snowvisor_core::hal::DomainControl> {
        Some(&crate::domain::created::CONTROL)
    }
    fn peer_view(
        &self,
        domid: u16,
    ) -> Option<alloc::sync::Arc<snowvisor_core::domain::peer_view::PeerView>> {
        crate::domains::peer_view(domid)
    }
    fn host_info(&self) -> Option<snowvisor_xen::HostInfo> {
        crate::domains::host()
    }
    fn vcpu_info(&self, domid: u16, vcpu: u32) -> Option<snowvisor_xen::VcpuInfo> {
        crate::domains::vcpu_info(domid, vcpu)
    }
    fn kick_domain(&self, domid: u16) {
        if let Some(mask) = crate::domains::kick_mask(domid) {
            self.send_sgi(snowvisor_core::vcpu::KICK_SGI, mask);
        }
    }
}

impl Arch for Armv7 {
    #[inline]
    fn hsr(&self) -> Hsr {
        Hsr(aarch32_cpu::register::Hsr::read().raw_value())
    }
    fn hdfar(&self) -> u32 {
        Hdfar::read().0
    }
    fn hifar(&self) -> u32 {
        Hifar::read().0
    }
    fn hpfar(&self) -> u32 {
        Hpfar::read().0
    }

    fn banked(&self, r: Banked) -> u32 {
        banked::read(r)
    }
    fn set_banked(&self, r: Banked, v: u32) {
        banked::write(r, v)
    }
    fn set_banked_spsr_lr(&self, mode: u32, spsr: u32, lr: u32) {
        banked::set_spsr_lr(mode, spsr, lr)
    }
    fn guest_control(&self) -> GuestControl {
        GuestControl {
            sctlr: guest::guest_sctlr(),
            vbar: Vbar::read().0,
            ttbcr: sysreg::read_ttbcr().raw_value(),
        }
    }
    fn set_fault_regs(&self, regs: FaultRegs) {
        banked::set_fault_regs(regs)
    }
    fn guest_data_fault(&self) -> (u32, u32) {
        (Dfar::read().0, Dfsr::read().raw_value())
    }
    fn midr(&self) -> u32 {
        Midr::read().raw_value()
    }
    fn actlr(&self) -> u32 {
        Actlr::read().0
    }

    fn counter(&self) -> u64 {
        CntPct::read().0
    }
    fn counter_hz(&self) -> u32 {
        Cntfrq::read().0
    }
    fn mask_vtimer(&self) {
        guest::mask_vtimer()
    }
    fn set_virtual_offset(&self, ticks: u64) {
        CntVoff::write(CntVoff(ticks))
    }
    fn arm_hyp_timer(&self, ticks: u32) {
        CnthpTval::write(CnthpTval(ticks));
        CnthpCtl::write(CnthpCtl::new_with_raw_value(1)); // enabled, unmasked
    }
    fn stop_hyp_timer(&self) {
        CnthpCtl::write(CnthpCtl::new_with_raw_value(2)); // masked, disabled
    }
    fn arm_hyp_timer_at(&self, at: u64) {
        // SAFETY: the HYP timer is snowvisor's own.
        unsafe { <sysreg::CnthpCval as aarch32_cpu::register::SysRegWrite64>::write_raw(at) };
        CnthpCtl::write(CnthpCtl::new_with_raw_value(1)); // enabled, unmasked
    }

    fn save_vcpu(&self, ctx: &mut VcpuContext, lrs: usize) {
        context::save(ctx);
        if let Some(h) = self.gic.gich {
            let g = &mut ctx.gic;
            g.hcr = h.hcr.get();
            g.vmcr = h.vmcr.get();
            g.apr = h.apr.get();
            for (i, lr) in g.lr.iter_mut().enumerate().take(lrs) {
                *lr = h.lr[i].get();
            }
        }
    }
    fn load_vcpu(&self, ctx: &VcpuContext, lrs: usize) {
        if let Some(h) = self.gic.gich {
            let g = &ctx.gic;
            h.hcr.set(0);
            for (i, &lr) in g.lr.iter().enumerate().take(lrs) {
                h.lr[i].set(lr);
            }
            h.apr.set(g.apr);
            h.vmcr.set(g.vmcr);
            h.hcr.set(g.hcr);
        }
        context::load(ctx);
    }

    fn wait_for_interrupt(&self) {
        cpu::wait_for_interrupt()
    }
    fn firmware_psci(&self, function: u32) -> ! {
        secure::smc_call(function, 0, 0, 0);
        crate::start::fatal(format_args!("platform PSCI call {function:#x} returned"))
    }

    fn irq_enable(&self, intid: u32, priority: u8) {
        self.gic.enable(intid, priority)
    }
    fn irq_disable(&self, intid: u32) {
        self.gic.disable(intid)
    }
    fn irq_set_edge_triggered(&self, intid: u32, edge: bool) {
        self.gic.set_edge_triggered(intid, edge)
    }
    fn irq_end(&self, iar: u32) {
        self.gic.end_of_interrupt(iar)
    }
    fn irq_deactivate(&self, iar: u32) {
        self.gic.deactivate(iar)
    }
    fn send_sgi(&self, intid: u32, targets: u8) {
        // What the kick announces (an inbox bit, a pending vCPU) must be
        // visible to the target CPU before the SGI reaches it: a DSB
        // orders the normal-memory stores before the Device write to
        // GICD_SGIR (ARM ARM A3.8.3; the GIC spec leaves it to software).
        cpu::dsb();
        // GICD_SGIR: TargetListFilter 0 (the list), CPUTargetList [23:16], SGIINTID [3:0].
        self.gic
            .gicd
            .sgir
            .set((u32::from(targets) << 16) | (intid & 0xf));
    }
    fn irq_set_targets(&self, intid: u32, targets: u8) {
        self.gic.set_targets(intid, targets)
    }
    #[inline]
    fn has_list_registers(&self) -> bool {
        self.gic.gich.is_some()
    }
    fn list_register(&self, n: usize) -> u32 {
        self.gic.gich.map_or(0, |h| h.lr[n].get())
    }
    fn set_list_register(&self, n: usize, v: u32) {
        if let Some(h) = self.gic.gich {
            h.lr[n].set(v)
        }
    }
    fn empty_list_registers(&self) -> u64 {
        self.gic.gich.map_or(0, |h| {
            u64::from(h.elrsr[0].get()) | (u64::from(h.elrsr[1].get()) << 32)
        })
    }
    fn set_gich_hcr(&self, v: u32) {
        if let Some(h) = self.gic.gich {
            h.hcr.set(v)
        }
    }

    fn install_stage2(&self, root_pa: u64, vmid: u8) {
        guest::configure(root_pa, vmid, VTCR)
    }
    fn translate_pl1(&self, va: u32, write: bool) -> Translation {
        at::translate_pl1(va, write)
    }
    // HYP maps all RAM below 4 GiB 1:1 as normal write-back memory, like a
    // guest's stage 2, and RAM above through its window page, so these copies
    // see what the guest sees without cache maintenance.
    fn read_phys(&self, pa: u64, out: &mut [u8]) {
        // SAFETY: the caller passes a range inside one page that it checked to
        // be the guest's RAM or a frame snowvisor gave it: normal memory that
        // `with_phys` maps, to which snowvisor holds no Rust reference. The
        // guest does not run meanwhile.
        mmu::with_phys(pa, |p| unsafe {
            core::ptr::copy_nonoverlapping(p.cast_const(), out.as_mut_ptr(), out.len())
        })
    }
    fn write_phys(&self, pa: u64, data: &[u8]) {
        // SAFETY: as for `read_phys`; the page was also checked to be writable.
        mmu::with_phys(pa, |p| unsafe {
            core::ptr::copy_nonoverlapping(data.as_ptr(), p, data.len())
        })
    }
    fn update_phys_word(&self, pa: u64, f: &mut dyn FnMut(u32) -> Option<u32>) -> u32 {
        // SAFETY: as for `read_phys`, and the caller checked the word to be
        // aligned and writable (`Arch::update_phys_word`).
        unsafe { mmu::update_word(pa, f) }
    }
    fn clean_dcache_phys(&self, pa: u64, len: usize) {
        mmu::with_phys(pa, |p| cpu::clean_inval_dcache_range(p as usize, len))
    }
    fn read_device(&self, pa: u64, size: u32) -> u32 {
        // SAFETY: the caller (forward::check) let through only an aligned
        // 1-, 2- or 4-byte access below 4 GiB inside a device's own registers
        // (from the plan): Device memory in HYP's identity map, not RAM and
        // nothing snowvisor drives.
        unsafe { phys::read(pa as usize, size) }
    }
    fn write_device(&self, pa: u64, size: u32, value: u32) {
        // SAFETY: as for `read_device`.
        unsafe { phys::write(pa as usize, size, value) }
    }
}

/// A zeroed page of snowvisor's heap for a grant frame (PA = VA: HYP maps
/// its heap 1:1); it lives as long as the domain (grant frames are at most
/// `max_grant_frames`, 64, pages).
fn alloc_page() -> Option<u64> {
    Some(Box::leak(Table::new_boxed()) as *const Table as usize as u64)
}

/// After a change to a domain's stage 2: the CPU's TLB entries and those of
/// the owned SMMUs, which walk the same tables.
fn stage2_changed() {
    at::flush_guest_tlb();
    crate::domain::iommu::stage2_changed();
}

/// What a domain's address space calls on the target.
pub const STAGE2_HOOKS: Hooks = Hooks {
    alloc_page,
    stage2_changed,
};

/// A physical CPU: its hardware and its context (`repr(C)`: the hardware
/// handle first, at the box's address, which the trap path loads anyway).
#[repr(C)]
pub struct Cpu {
    pub arch: Armv7,
    pub state: PerCpu,
}

/// CPUs snowvisor can hold a context for: GICv2 has 8 CPU interfaces.
pub const MAX_CPUS: usize = 8;

/// One slot per CPU, found through HTPIDR (the slot's address: one `mrc` on
/// the trap path). Boxed: `None` is all zero bytes and the array lives in `.bss`.
type Slot = Mutex<Option<Box<Cpu>>>;
#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Slot = Mutex::new(None);
static CPUS: [Slot; MAX_CPUS] = [EMPTY; MAX_CPUS];

/// Gives the CPU running this its slot `index` (its MPIDR affinity level 0,
/// below [`MAX_CPUS`]) and puts `cpu` in it. Must run on each CPU before
/// anything takes an exception that uses [`this_cpu`].
pub fn attach(index: usize, cpu: Cpu) {
    let slot = &CPUS[index % MAX_CPUS];
    *slot.lock() = Some(Box::new(cpu));
    // SAFETY: HTPIDR is snowvisor's own (HYP software thread ID); only
    // `this_cpu` reads it, and from now on it holds this CPU's slot.
    unsafe { Htpidr::write(Htpidr(slot as *const Slot as u32)) };
}

/// The slot index of the CPU with MPIDR `mpidr` (Aff0), if snowvisor can hold it.
pub fn index_of(mpidr: u32) -> Option<usize> {
    Some((mpidr & 0xff) as usize).filter(|&i| i < MAX_CPUS)
}

/// This CPU's context: the one per-CPU accessor. Locked by the trap and
/// interrupt handlers for their whole run (no lock is held across a guest
/// entry). Only valid once [`attach`] ran on this CPU.
#[inline]
pub fn this_cpu() -> &'static Slot {
    let p = Htpidr::read().0 as *const Slot;
    // SAFETY: `attach` put the address of this CPU's element of `CPUS` (a
    // static) in HTPIDR before anything could call this: the callers are the
    // trap and interrupt handlers (a guest runs and interrupts are unmasked
    // only after the boot CPU attached) and the boot path after `attach`.
    unsafe { &*p }
}
