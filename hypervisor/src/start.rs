//! The boot flow on the target: from the entry assembly to a running system.
//!
//! start (arch) -> console -> host tree -> HYP MMU -> GIC + timer -> (Dom0).

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use aarch32_cpu::register::{Cntfrq, Hdfar, Hifar, Hpfar, Midr, Mpidr};
use buddy_system_allocator::LockedHeap;
use log::{error, info, warn};
use spin::Once;

use crate::board::Board;
use crate::console::{self, Serial};
use crate::cpu::{this_cpu, Armv7, Cpu};
use crate::domain::build::{build_dom0, Dom0, Host};
use snowvisor_arch_armv7::drivers::gicv2::{Gic, SPURIOUS};
use snowvisor_arch_armv7::drivers::uart::{Uart, UartConfig, UartKind};
use snowvisor_arch_armv7::{cpu, mmu, sysreg};
use snowvisor_arm::context::VcpuContext;
use snowvisor_arm::frame::{mode_name, TrapFrame, Vector, MODE_HYP};
use snowvisor_arm::hsr::Hsr;
use snowvisor_core::bootargs::{BootArgs, LogLevel, Vwfi};
use snowvisor_core::console_uart;
use snowvisor_core::domain::GuestLog;
use snowvisor_core::hal::Arch;
use snowvisor_core::sched::Wait;
use snowvisor_core::summary::{self, CpuFacts};
use snowvisor_core::vcpu::{
    self, CpuInterface, DomainCell, Exit, Loaded, PerCpu, Pick, Timers, Vcpu,
};
use snowvisor_dt::{blob, DtError, HostTree};

#[global_allocator]
static HEAP: LockedHeap<32> = LockedHeap::empty();

extern "C" {
    static __heap_start: u8;
    static __heap_end: u8;
    static __image_start: u8;
    static __snowvisor_end: u8;
}

fn symbol_addr(s: &u8) -> usize {
    s as *const u8 as usize
}

/// The physical range snowvisor occupies (image, stack, heap).
pub fn own_region() -> (usize, usize) {
    // SAFETY: linker symbols; only their addresses are taken.
    unsafe { (symbol_addr(&__image_start), symbol_addr(&__snowvisor_end)) }
}

fn init_heap() {
    // SAFETY: the linker script reserves [__heap_start, __heap_end) for the heap
    // and nothing else uses it; this runs once, before the first allocation.
    unsafe {
        let (start, end) = (symbol_addr(&__heap_start), symbol_addr(&__heap_end));
        HEAP.lock().init(start, end - start);
    }
}

struct UartSerial(Uart);

impl Serial for UartSerial {
    fn put(&mut self, b: u8) -> bool {
        self.0.put(b)
    }
    fn try_put(&mut self, b: u8) -> bool {
        self.0.try_put(b)
    }
    fn get(&mut self) -> Option<u8> {
        self.0.get()
    }
    fn enable_rx_interrupt(&mut self) -> bool {
        self.0.enable_rx_interrupt()
    }
    fn ack_rx_interrupt(&mut self) {
        self.0.ack_rx_interrupt()
    }
}

/// The UART snowvisor writes to (the board default or `/chosen/stdout-path`'s),
/// as a physical base address: snowvisor keeps it from Dom0. None when it
/// writes to the RAM log only.
pub fn console_uart_base() -> Option<usize> {
    console::uart_base()
}

fn attach_uart(cfg: UartConfig, what: &str) {
    // SAFETY: the UART block comes from the board or the host tree, is identity
    // mapped as device memory (or the MMU is off), and only the console drives it.
    let serial = Box::new(UartSerial(unsafe { Uart::open(cfg) }));
    console::attach(console::Port {
        serial,
        base: cfg.base,
        name: alloc::format!("{} {what}", cfg.kind.name()),
    });
}

/// `panic=` seconds (see [`BootArgs::panic_secs`]), set once the arguments are read.
static PANIC_SECS: AtomicI32 = AtomicI32::new(snowvisor_core::bootargs::DEFAULT_PANIC_SECS);
/// The board's reset, set once snowvisor knows it runs in HYP.
static BOARD_RESET: Once<fn()> = Once::new();
static IN_FATAL: AtomicBool = AtomicBool::new(false);
/// Interrupts no one claims at HYP. A guest can cause a stream of them (a
/// level-triggered passed-through SPI that Dom0 routes to a CPU whose vCPU
/// is off), so their line is rate-limited as a guest's messages are.
static UNEXPECTED_IRQ: spin::Mutex<GuestLog> =
    spin::Mutex::new(GuestLog::new("hyp: unexpected interrupts"));

/// Prints a fatal error, waits `panic=` seconds (default 5, as Xen) and resets
/// the machine through the board (PSCI SYSTEM_RESET by default), so that a
/// machine without anyone watching starts over and QEMU with `-no-reboot`
/// exits at once. `panic=0` halts here for good instead, for a debugger.
pub fn fatal(args: core::fmt::Arguments<'_>) -> ! {
    cpu::disable_irqs();
    console::write_fmt(format_args!("snowvisor: fatal: {args}\n"));
    let secs = PANIC_SECS.load(Ordering::Relaxed);
    // A fatal error while handling one (the reset itself faulting) just halts.
    let reset = match BOARD_RESET.get() {
        Some(r) if !IN_FATAL.swap(true, Ordering::Relaxed) => r,
        // Not in HYP (the board's reset may need it) or a fault while resetting.
        _ => {
            console::write_fmt(format_args!("snowvisor: halted\n"));
            cpu::halt()
        }
    };
    if secs == 0 {
        console::write_fmt(format_args!("snowvisor: halted (panic=0)\n"));
        cpu::halt()
    }
    if secs > 0 {
        console::write_fmt(format_args!(
            "snowvisor: resetting in {secs} s (panic={secs}; panic=0 halts instead)\n"
        ));
        delay_secs(secs as u32);
    }
    console::write_fmt(format_args!("snowvisor: resetting the machine\n"));
    reset();
    console::write_fmt(format_args!(
        "snowvisor: the machine did not reset; halted\n"
    ));
    cpu::halt()
}

/// Busy-waits on the generic counter (CNTPCT, at CNTFRQ Hz).
fn delay_secs(secs: u32) {
    use aarch32_cpu::register::CntPct;
    let freq = u64::from(Cntfrq::read().0);
    if freq == 0 {
        console::write_fmt(format_args!(
            "snowvisor: CNTFRQ is 0: not waiting before the reset\n"
        ));
        return;
    }
    let end = CntPct::read().0.saturating_add(freq * u64::from(secs));
    while CntPct::read().0 < end {
        core::hint::spin_loop();
    }
}

macro_rules! fatal {
    ($($t:tt)*) => { fatal(format_args!($($t)*)) };
}

/// Finds the DTB from the boot register, without reading outside RAM.
fn locate_dtb<B: Board>(r2: u32) -> Result<&'static [u8], DtError> {
    let addr = r2 as usize;
    if addr == 0 {
        return Err(DtError::NoPointer);
    }
    let (lo, hi) = B::RAM_WINDOW;
    if !addr.is_multiple_of(4) || addr < lo || addr.saturating_add(40) > hi {
        return Err(DtError::BadPointer { addr });
    }
    // SAFETY: the 40-byte header lies inside the board's RAM window, which is
    // readable with the MMU off.
    let header = unsafe { core::slice::from_raw_parts(addr as *const u8, 40) };
    let size = blob::header_totalsize(header)?;
    let available = hi - addr;
    // SAFETY: as above; the length is capped by MAX_DTB_SIZE and the window end.
    Ok(unsafe { core::slice::from_raw_parts(addr as *const u8, size.min(available)) })
}

/// Entered from `_start` (via the board's `snowvisor_board_entry`).
pub fn boot<B: Board>(_r0: u32, _r1: u32, r2: u32, cpsr: u32) -> ! {
    init_heap();
    attach_uart(B::DEFAULT_UART, "(board default)");
    console::set_level(LogLevel::Info);
    crate::ramlog::start::<B>(own_region());
    snowvisor_arch_armv7::secure::report_entry();
    if cpsr & 0x1f != MODE_HYP {
        fatal!(
            "entered in {} mode (CPSR {cpsr:#010x}), not HYP: the firmware must start snowvisor in HYP mode (on QEMU: -M virt,virtualization=on)",
            mode_name(cpsr)
        );
    }
    BOARD_RESET.call_once(|| B::reset);
    let dtb = locate_dtb::<B>(crate::board::dtb_address::<B>(r2)).unwrap_or_else(|e| fatal!("{e}"));
    let tree = HostTree::new(dtb).unwrap_or_else(|e| fatal!("{e}"));
    // The firmware's copy lies in what becomes Dom0's RAM (Dom0's own tree is
    // written over it): keep snowvisor's own copy on the heap.
    let dtb: &'static [u8] = Box::leak(tree.blob.to_vec().into_boxed_slice());
    let tree = HostTree::new(dtb).unwrap_or_else(|e| fatal!("{e}"));
    let args = BootArgs::parse(tree.hypervisor_bootargs().unwrap_or(""));
    console::set_level(args.loglvl);
    crate::ramlog::report();
    PANIC_SECS.store(args.panic_secs, Ordering::Relaxed);
    crate::smp::set_slice_ms(args.sched_slice_ms);
    crate::smp::set_ratelimit_us(args.sched_ratelimit_us);
    snowvisor_arch_armv7::guest::set_wfx_trapped(args.vwfi == Vwfi::Trap);
    let memory = tree.memory().unwrap_or_else(|e| fatal!("{e}"));
    let banks: Vec<_> = memory.iter().map(|r| r.base..r.end()).collect();
    mmu::enable(&banks);

    let default = B::DEFAULT_UART;
    match console_uart::choose(
        &tree,
        (default.kind, default.base as u64),
        UartKind::from_compatible,
        default.kind.name(),
    ) {
        console_uart::Choice::BoardDefault { note } => {
            if let Some(n) = note {
                warn!("console: {n}");
            }
        }
        console_uart::Choice::StdoutPath { kind, base, path } => attach_uart(
            UartConfig {
                kind,
                base: base as usize,
            },
            path,
        ),
        console_uart::Choice::NoUart { why } => console::detach(format_args!("{why}")),
    }
    for e in &args.errors {
        warn!("{e}");
    }

    let ginfo = tree.gic().unwrap_or_else(|e| fatal!("{e}"));
    // SAFETY: addresses from the host tree's GIC node, identity mapped as device memory.
    let gic: &'static Gic = Box::leak(Box::new(unsafe {
        Gic::new(
            ginfo.gicd.base as usize,
            ginfo.gicc.base as usize,
            ginfo.gich.map(|r| r.base as usize),
        )
    }));
    attach_boot_cpu(&tree, &ginfo, gic);
    let cpu_facts = CpuFacts {
        midr: Midr::read().raw_value(),
        mode: mode_name(sysreg::read_cpsr()),
        cntfrq: Cntfrq::read().0,
        list_registers: gic.list_registers(),
    };
    match summary::lines(&tree, &cpu_facts) {
        Ok(lines) => lines
            .iter()
            .for_each(|l| match l.strip_prefix("warning: ") {
                Some(w) => warn!("{w}"),
                None => info!("{l}"),
            }),
        Err(e) => fatal!("{e}"),
    }
    info!(
        "hyp: MMU and caches on ({})",
        if mmu::enabled() {
            "HSCTLR.M=1"
        } else {
            "HSCTLR.M=0?"
        }
    );

    B::early_init(&tree);
    gic.init();
    timer_selftest(&tree);
    let (interface, timers) = with_cpu(|c| (c.state.gic, c.state.timers));
    crate::smp::start_secondaries::<B>(&tree, gic, interface, timers);
    crate::ramlog::selftest(&tree, &args);
    if args.selftest == Some("undef") {
        info!("selftest: executing an undefined instruction at HYP");
        cpu::undefined_instruction();
    }

    // Dom0 never gets snowvisor's memory nor the RAM log window next to it.
    let (mut start, mut end) = own_region();
    if let Some((base, size)) = crate::ramlog::region() {
        start = start.min(base);
        end = end.max(base + size);
    }
    let hyp = snowvisor_dt::Region {
        base: start as u64,
        size: (end - start) as u64,
    };
    // snowvisor cannot move its image, heap or RAM log out of firmware's way.
    if let Some(r) = tree
        .reserved()
        .into_iter()
        .find(|r| r.region.overlaps(&hyp))
    {
        fatal!(
            "snowvisor's memory {:#010x}-{:#010x} (image, heap, RAM log) overlaps reserved memory {} at {:#010x}-{:#010x}: load snowvisor elsewhere",
            hyp.base,
            hyp.end() - 1,
            r.what,
            r.region.base,
            r.region.end() - 1
        );
    }
    let pools = cpupools(&tree);
    let mut vmids = snowvisor_core::domain::VmidPool::default();
    let domus = start_domus(
        &tree,
        hyp,
        &ginfo,
        gic,
        args.domu_restart,
        &pools,
        &mut vmids,
    );
    let arch = Armv7::new(gic);
    let kept: u64 = domus.iter().map(|d| d.kept_bytes).sum();
    publish_host(&tree, &memory, hyp, kept, &pools, arch.counter_hz());
    let host = Host {
        arch: &arch,
        gic,
        hooks: crate::cpu::STAGE2_HOOKS,
        hyp,
        image_base: own_region().0 as u64,
        console_uart_base: console_uart_base().map(|b| b as u64),
        vtimer_intid: with_cpu(|c| c.state.timers.vtimer_intid),
        domu_memory: domus.iter().flat_map(|d| d.host_memory.clone()).collect(),
        // Dom0 is in Pool-0: no vCPU of it on another pool's CPUs, nor
        // on those a DomU has to itself.
        domu_cpus: domus
            .iter()
            .filter(|d| d.dedicated)
            .flat_map(|d| d.cpus.iter().map(|&(m, _)| m))
            .chain(
                crate::smp::online()
                    .iter()
                    .map(|&(m, _)| m)
                    .filter(|&m| pools.iter().any(|p| p.id != 0 && p.holds(u64::from(m)))),
            )
            .collect(),
    };
    match build_dom0(&tree, &args, &host) {
        Ok(mut dom0) => {
            static_evtchns(&tree, &mut dom0.domain, &domus);
            let created = created_domains(
                &tree,
                &ginfo,
                gic,
                hyp,
                &dom0,
                &domus,
                &host.domu_cpus,
                &mut vmids,
            );
            run(dom0, &domus, &created)
        }
        Err(e) => fatal!("{e}"),
    }
}

/// Connects the static event channels of the tree (Xen 4.18's
/// `xen,evtchn-v1` nodes) before any domain runs, as Xen's
/// `alloc_static_evtchn`: the first end unbound for the second's domain,
/// the second bound to it. A channel the tree gets wrong is fatal (as under
/// Xen); one whose DomU was not started is named and left out.
fn static_evtchns(
    tree: &HostTree<'_>,
    dom0: &mut snowvisor_core::domain::Domain,
    domus: &[crate::domain::domu::BuiltDomU],
) {
    let specs = snowvisor_dt::dom0less::domus(tree).unwrap_or_else(|e| fatal!("{e}"));
    let channels =
        snowvisor_dt::dom0less::static_evtchns(tree, &specs).unwrap_or_else(|e| fatal!("{e}"));
    for c in channels {
        let (a, b) = (&c.first, &c.second);
        let cell = |id: u16| domus.iter().map(|d| d.cell).find(|c| c.lock().id == id);
        let (ca, cb) = (cell(a.domid), cell(b.domid));
        if (a.domid != 0 && ca.is_none()) || (b.domid != 0 && cb.is_none()) {
            warn!(
                "evtchn: {} <-> {}: a domain of this static channel was not started: left out",
                a.node, b.node
            );
            continue;
        }
        // Nothing runs yet: each lock is taken alone, one after the other.
        let mut with_xen =
            |cell: Option<&'static DomainCell>,
             f: &mut dyn FnMut(&mut snowvisor_core::domain::xen_glue::XenDom0)| {
                match cell {
                    Some(c) => c.lock().xen.as_mut().map(f),
                    None => dom0.xen.as_mut().map(f),
                }
            };
        let mut links = None;
        let mut r = Ok(());
        with_xen(ca, &mut |x| {
            r = x.xen_mut().static_unbound(a.port, b.domid);
            links = Some(x.evtchn_links());
        });
        let Some(links) = links else {
            fatal!("evtchn: {}: domain {} has no Xen ABI", a.node, a.domid)
        };
        if r.is_ok() {
            with_xen(cb, &mut |x| {
                r = x.xen_mut().static_bind(b.port, &links, a.port)
            })
            .unwrap_or_else(|| fatal!("evtchn: {}: domain {} has no Xen ABI", b.node, b.domid));
        }
        if let Err(e) = r {
            fatal!("evtchn: {} <-> {}: {e}", a.node, b.node);
        }
        for (x, y) in [(a, b), (b, a)] {
            if x.domid != 0 {
                crate::domain::domu::note_static_end(x.domid, x.port, y.domid, y.port);
            }
        }
        info!(
            "evtchn: static channel d{} port {} ({}) <-> d{} port {} ({})",
            a.domid, a.port, a.node, b.domid, b.port, b.node
        );
    }
}

/// The boot-time cpupools (Xen 4.17's `xen,cpupool` nodes) over the CPUs
/// up in HYP, each named with its CPUs when the tree has any; a pool node
/// that breaks the binding is fatal (as under Xen). snowvisor runs one
/// scheduler on every CPU (its own, which it reports as Xen's credit): a
/// `cpupool-sched` naming another is a warning, not a refusal, because
/// what the pool decides about isolation (which CPUs its domains run on)
/// is kept, and the same tree should boot under Xen and snowvisor.
fn cpupools<'a>(tree: &HostTree<'a>) -> Vec<snowvisor_dt::dom0less::CpuPool<'a>> {
    let online: Vec<u64> = crate::smp::online()
        .iter()
        .map(|&(m, _)| u64::from(m))
        .collect();
    let pools = snowvisor_dt::dom0less::cpupools(tree, &online).unwrap_or_else(|e| fatal!("{e}"));
    if pools.iter().all(|p| p.node.is_none()) {
        return pools;
    }
    for p in &pools {
        let cpus: Vec<_> = online
            .iter()
            .filter(|&&m| p.holds(m))
            .map(|m| alloc::format!("{m:#010x}"))
            .collect();
        info!(
            "cpupool: Pool-{} {}: CPU(s) with MPIDR {}{}",
            p.id,
            p.path(),
            cpus.join(", "),
            if p.id == 0 {
                " (the boot CPU's: Dom0's)"
            } else {
                ""
            }
        );
        if let Some(s) = p.sched.filter(|&s| s != "credit") {
            warn!(
                "cpupool: {}: cpupool-sched \"{s}\": snowvisor runs its own scheduler on every CPU (round robin with time slices, reported as Xen's credit); this pool's CPUs run it",
                p.path()
            );
        }
    }
    pools
}

/// Builds the boot-time DomUs of `/chosen` (dom0less `xen,domain` nodes)
/// before Dom0, whose modules may be moved over theirs: their memory comes
/// out of Dom0's, clear of snowvisor (`hyp`), reserved memory and every
/// boot module. A node that breaks the binding is fatal (as under Xen); a
/// DomU that cannot get its CPUs or memory is named and left out.
fn start_domus(
    tree: &HostTree<'_>,
    hyp: snowvisor_dt::Region,
    ginfo: &snowvisor_dt::GicInfo,
    gic: &'static Gic,
    restart: bool,
    pools: &[snowvisor_dt::dom0less::CpuPool<'_>],
    vmids: &mut snowvisor_core::domain::VmidPool,
) -> Vec<crate::domain::domu::BuiltDomU> {
    let specs = snowvisor_dt::dom0less::domus(tree).unwrap_or_else(|e| fatal!("{e}"));
    if specs.is_empty() {
        return Vec::new();
    }
    let Some(host) = domu_host(ginfo, gic, hyp) else {
        warn!("the GIC node has no GICV frame: no DomU is started");
        return Vec::new();
    };
    let memory = tree.memory().unwrap_or_else(|e| fatal!("{e}"));
    // Snowvisor reads a DomU's modules to copy them: each must be RAM below
    // 4 GiB and not snowvisor's own, as Dom0's (named when not).
    let specs: Vec<_> = specs
        .into_iter()
        .filter(|s| {
            let mods = core::iter::once(&s.kernel).chain(s.ramdisk.as_ref());
            for m in mods {
                if let Err(e) =
                    snowvisor_core::domain::layout::check_module(m.node, m.region, &memory, hyp)
                {
                    warn!("{}: not started: {e}", s.name);
                    return false;
                }
            }
            true
        })
        .collect();
    let mut avoid = alloc::vec![hyp];
    avoid.extend(tree.reserved().iter().map(|r| r.region));
    avoid.extend(tree.modules().iter().map(|m| m.region));
    for s in &specs {
        avoid.push(s.kernel.region);
        avoid.extend(s.ramdisk.map(|r| r.region));
    }
    let dom0_fits = crate::domain::domu::dom0_fits(tree, &memory, hyp);
    crate::domain::domu::build_all(
        tree,
        &specs,
        &memory,
        &avoid,
        &crate::smp::online(),
        pools,
        &host,
        restart,
        &dom0_fits,
        vmids,
    )
}

/// What a DomU is built on (`None` without the GIC's virtual CPU interface).
fn domu_host(
    ginfo: &snowvisor_dt::GicInfo,
    gic: &'static Gic,
    hyp: snowvisor_dt::Region,
) -> Option<crate::domain::domu::DomUHost> {
    Some(crate::domain::domu::DomUHost {
        gicv: ginfo.gicv?,
        gic_lines: gic.lines(),
        gic_iidr: {
            use tock_registers::interfaces::Readable;
            gic.gicd.iidr.get()
        },
        vtimer_intid: with_cpu(|c| c.state.timers.vtimer_intid),
        hyp,
    })
}

/// Gives the boot CPU its context: its GIC interfaces and the timer
/// interrupts from the host tree (26 and 27 when the tree does not say).
#[inline(never)]
fn attach_boot_cpu(tree: &HostTree<'_>, ginfo: &snowvisor_dt::GicInfo, gic: &'static Gic) {
    console::set_gic(gic);
    let mpidr = Mpidr::read().0;
    let Some(index) = crate::cpu::index_of(mpidr) else {
        fatal!(
            "boot CPU MPIDR {mpidr:#010x}: affinity level 0 beyond the {} CPUs snowvisor keeps",
            crate::cpu::MAX_CPUS
        )
    };
    let intids = tree.timer().map(|t| t.intids).unwrap_or_default();
    let state = PerCpu {
        gic: CpuInterface {
            list_registers: gic.list_registers().unwrap_or(0),
            maintenance_intid: ginfo.maintenance_intid.unwrap_or(25),
            ..CpuInterface::default()
        },
        timers: Timers {
            hyp_intid: intids[3].unwrap_or(26),
            vtimer_intid: intids[2].unwrap_or(27),
            hyp_ticks: 0,
        },
        mask: gic.this_cpu_mask(),
        runq: crate::smp::run_queue(),
        ..PerCpu::default()
    };
    crate::cpu::attach(
        index,
        Cpu {
            arch: Armv7::new(gic),
            state,
        },
    );
}

/// Runs `f` on this CPU's context (attached at boot).
fn with_cpu<R>(f: impl FnOnce(&mut Cpu) -> R) -> R {
    match this_cpu().lock().as_deref_mut() {
        Some(c) => f(c),
        None => fatal!("this CPU has no context"),
    }
}

/// The machine as Xen's `XEN_SYSCTL_physinfo` tells Dom0 (`xl info`): the
/// CPUs up and in the tree, the timer's rate (Xen's `cpu_khz` on ARM), the
/// RAM banks and what snowvisor keeps of them (`hyp`, and `kept` bytes of
/// the DomUs' boot modules kept for their restarts), the cpupools' CPUs.
fn publish_host(
    tree: &HostTree<'_>,
    memory: &[snowvisor_dt::Region],
    hyp: snowvisor_dt::Region,
    kept: u64,
    pools: &[snowvisor_dt::dom0less::CpuPool<'_>],
    hz: u32,
) {
    let online = crate::smp::online();
    let nr_cpus = online.len() as u32;
    // Bit N: the CPU at place N of `online` (Xen's CPU number).
    let mut cpupool_cpus = [0u64; snowvisor_xen::MAX_CPUPOOLS];
    for p in pools {
        if let Some(bits) = cpupool_cpus.get_mut(p.id as usize) {
            for (n, &(m, _)) in online.iter().enumerate() {
                if p.holds(u64::from(m)) {
                    *bits |= 1 << n;
                }
            }
        }
    }
    let pages = |bytes: u64| bytes >> 12;
    crate::domains::publish_host(snowvisor_xen::HostInfo {
        nr_cpus,
        possible_cpus: (snowvisor_plan::cpus::host_cpus(tree.index()).len() as u32).max(nr_cpus),
        cpu_khz: hz / 1000,
        total_pages: memory.iter().map(|r| pages(r.size)).sum(),
        hypervisor_pages: pages(hyp.size) + pages(kept),
        mfn_start: memory.iter().map(|r| pages(r.base)).min().unwrap_or(0),
        mfn_end: memory.iter().map(|r| pages(r.end())).max().unwrap_or(0),
        cpupool_cpus,
    });
}

/// The free pool (host RAM no domain holds: what `dom0_mem=` left) and the
/// places for the domains Dom0 creates ([`crate::domain::created`]): domain
/// IDs after the boot-time DomUs', vCPUs on the CPUs of Pool-0 that no
/// DomU has to itself (`not_dom0`: those Dom0 does not run on), the boot
/// CPU last. Their cells, for the lists.
#[allow(clippy::too_many_arguments)]
fn created_domains(
    tree: &HostTree<'_>,
    ginfo: &snowvisor_dt::GicInfo,
    gic: &'static Gic,
    hyp: snowvisor_dt::Region,
    dom0: &Dom0,
    domus: &[crate::domain::domu::BuiltDomU],
    not_dom0: &[u32],
    vmids: &mut snowvisor_core::domain::VmidPool,
) -> Vec<&'static DomainCell> {
    let Some(host) = domu_host(ginfo, gic, hyp) else {
        return Vec::new();
    };
    let memory = tree.memory().unwrap_or_else(|e| fatal!("{e}"));
    let mut used = alloc::vec![hyp];
    used.extend(tree.reserved().iter().map(|r| r.region));
    used.extend(tree.modules().iter().map(|m| m.region));
    used.extend(domus.iter().flat_map(|d| d.host_memory.iter().copied()));
    used.extend(dom0.domain.memory.iter().copied());
    crate::domain::created::make_pool(&memory, &used);
    let online = crate::smp::online();
    let mut cpus: Vec<(u32, u8)> = online
        .iter()
        .skip(1)
        .chain(online.first())
        .copied()
        .filter(|(m, _)| !not_dom0.contains(m))
        .collect();
    if cpus.is_empty() {
        cpus.extend(online.first().copied());
    }
    let first = domus.iter().map(|d| d.id).max().unwrap_or(0) + 1;
    crate::domain::created::build_slots(first, &cpus, vmids, &host, gic)
}

/// Puts Dom0's vCPU 0 on this CPU's run queue, makes the DomUs' first
/// vCPUs start on their CPUs (a kick: the scheduler there takes them) and
/// enters Dom0 through the scheduler (which loads its reset state).
fn run(dom0: Dom0, domus: &[crate::domain::domu::BuiltDomU], created: &[&'static DomainCell]) -> ! {
    let Dom0 {
        domain,
        mpidr,
        console,
        frame,
    } = dom0;
    let s = domain.stage2;
    let vttbr = (u64::from(s.vmid) << 48) | s.root_pa;
    let vcpu = Vcpu::new(0, VcpuContext::reset(frame, vttbr, mpidr, 0));
    // Shared by the CPUs its vCPUs run on; lives for ever.
    let cell: &'static DomainCell = Box::leak(Box::new(spin::Mutex::new(*domain)));
    let mut cells = alloc::vec![(cell, 0, true)];
    cells.extend(domus.iter().map(|d| (d.cell, d.cpupool, true)));
    cells.extend(created.iter().map(|&c| (c, 0, false)));
    crate::domains::publish(&cells, &crate::smp::online());
    crate::smp::publish_domains(cells.iter().map(|&(c, _, _)| c).collect());
    let mut console = console;
    console.dom0 = Some(cell);
    console.domus = domus
        .iter()
        .map(|d| snowvisor_core::debugkeys::ConsoleDomU {
            id: d.id,
            node: d.node,
            cell: d.cell,
        })
        .collect();
    console.switch = snowvisor_core::debugkeys::ConsoleSwitch::with_domus(
        domus.iter().filter(|d| d.console).map(|d| d.id).collect(),
    );
    with_cpu(|c| {
        c.state.console = console;
        c.state
            .runq
            .push(Box::new(Loaded { domain: cell, vcpu }), Wait::Woken);
        for d in domus {
            if let Some(&(_, mask)) = d.cpus.first() {
                c.arch.send_sgi(vcpu::KICK_SGI, mask);
            }
        }
    });
    crate::smp::enter_scheduled()
}

/// Proves interrupts reach HYP: arms the HYP timer for 1 ms and waits for its IRQ.
fn timer_selftest(tree: &HostTree<'_>) {
    let intid = with_cpu(|c| c.state.timers.hyp_intid);
    let freq = tree
        .timer()
        .and_then(|t| t.clock_frequency)
        .unwrap_or(Cntfrq::read().0);
    with_cpu(|c| {
        c.arch.irq_enable(intid, 0x80);
        c.arch.arm_hyp_timer((freq / 1000).max(1));
    });
    // Spin, not WFI: a WFI whose interrupt never comes never returns, and
    // this check must end (with the fatal line below) whatever the timer does.
    // A second of the counter (CNTPCT, at CNTFRQ), or 2^24 spins if CNTFRQ is 0.
    use aarch32_cpu::register::CntPct;
    let deadline = match Cntfrq::read().0 {
        0 => u64::MAX,
        f => CntPct::read().0.saturating_add(u64::from(f)),
    };
    let mut spins = 0u32;
    // The context is read with interrupts masked (the handler takes it too);
    // they are unmasked between reads, where a pending interrupt is taken.
    let ticks = loop {
        let ticks = with_cpu(|c| c.state.timers.hyp_ticks);
        if ticks > 0 || CntPct::read().0 >= deadline || spins >= 1 << 24 {
            break ticks;
        }
        cpu::enable_irqs();
        core::hint::spin_loop();
        cpu::isb();
        cpu::disable_irqs();
        spins += 1;
    };
    if ticks == 0 {
        fatal!("HYP timer interrupt (INTID {intid}) never arrived: interrupts do not reach HYP");
    }
    info!("timer: HYP timer interrupt INTID {intid} handled (1 ms one-shot)");
}

fn handle_irq(frame: &mut TrapFrame) {
    let mut slot = this_cpu().lock();
    let Some(Cpu { arch, state }) = slot.as_deref_mut() else {
        return;
    };
    let gic = arch.gic();
    loop {
        let (intid, iar) = gic.acknowledge();
        if intid >= SPURIOUS {
            break;
        }
        if vcpu::guest_irq(arch, state, intid, iar) {
            continue;
        }
        if vcpu::console_irq(arch, state, intid, frame) {
            // Handled below like any interrupt of snowvisor's.
        } else if intid == vcpu::KICK_SGI {
            // Another CPU left work for this one: its vCPU's inbox is
            // flushed below, the scheduler wakes or starts vCPUs and
            // unloads those of a domain that ended.
            state.kicked = true;
        } else if intid == state.timers.hyp_intid {
            // A time slice ended or a blocked vCPU's timer is due: the
            // scheduler below (or the idle loop) decides.
            arch.stop_hyp_timer();
            state.timer_at = None;
            state.timers.hyp_ticks += 1;
        } else if crate::domain::iommu::handle_irq(intid) {
            // An owned SMMU's event queue or global error: reported.
        } else if UNEXPECTED_IRQ
            .lock()
            .allowed(snowvisor_core::hal::now_ms(arch))
        {
            warn!("unexpected interrupt INTID {intid} at HYP");
        }
        gic.end_of_interrupt(iar);
        gic.deactivate(iar);
    }
    // Every interrupt (the guest's timer ticks among them) sends some of the
    // guest's queued console output, without waiting for the UART.
    console::drain_guest();
    // Taken from a guest: its turn may be over. (Taken at HYP, in the
    // scheduler's idle wait: that loop decides once this returns.)
    if frame.spsr & 0x1f != MODE_HYP {
        let domains = crate::smp::domains();
        let pick = vcpu::schedule(arch, state, frame, Exit::Resume, domains);
        if pick == Pick::Idle {
            drop(slot);
            crate::smp::schedule(frame, Exit::Resume);
            return;
        }
    }
    vcpu::flush_lrs(arch, state);
}

/// Called by every HYP vector with the saved registers.
#[no_mangle]
extern "C" fn snowvisor_exception(vector: u32, frame: &mut TrapFrame) {
    match Vector::from_raw(vector) {
        Some(Vector::Irq) => handle_irq(frame),
        Some(Vector::DataAbort) if skip_uart_abort(frame) => {}
        Some(Vector::HypTrap) => snowvisor_trap(frame),
        v => dump_and_halt(v, frame),
    }
}

/// A data abort at HYP on the console UART's registers (nothing answers at
/// its address): the access is skipped and the UART's `put` gives up, so the
/// console goes to the RAM log only instead of faulting for ever.
fn skip_uart_abort(frame: &mut TrapFrame) -> bool {
    let hsr = Hsr(aarch32_cpu::register::Hsr::read().raw_value());
    if hsr.ec() != snowvisor_arm::hsr::ec::DABT_HYP
        || !snowvisor_arch_armv7::drivers::uart::note_abort(Hdfar::read().0 as usize)
    {
        return false;
    }
    frame.elr += if hsr.il32() { 4 } else { 2 };
    true
}

/// The hyp trap vector's handler (`entry.rs` calls it directly).
#[no_mangle]
#[inline(never)]
extern "C" fn snowvisor_trap(frame: &mut TrapFrame) {
    let exit = match this_cpu().lock().as_deref_mut() {
        Some(Cpu { arch, state }) => vcpu::trap(arch, state, frame),
        None => fatal!("trap from a guest on a CPU without context"),
    };
    if exit != Exit::Resume {
        crate::smp::schedule(frame, exit)
    }
}

#[cold]
#[inline(never)]
fn dump_and_halt(v: Option<Vector>, f: &TrapFrame) -> ! {
    let hsr = Hsr(aarch32_cpu::register::Hsr::read().raw_value());
    error!(
        "unexpected exception: {}",
        v.map_or("unknown vector", Vector::name)
    );
    error!("{hsr}");
    error!(
        "HDFAR={:#010x} HIFAR={:#010x} HPFAR={:#010x} (IPA {:#x})",
        Hdfar::read().0,
        Hifar::read().0,
        Hpfar::read().0,
        ((Hpfar::read().0 as u64) >> 4) << 12
    );
    error!(
        "ELR_hyp={:#010x} SPSR={:#010x} ({} mode)",
        f.elr,
        f.spsr,
        mode_name(f.spsr)
    );
    for line in f.register_lines() {
        error!("{line}");
    }
    error!("lr={:#010x}", f.lr);
    fatal!("halting on unexpected exception")
}

#[panic_handler]
fn panic(p: &core::panic::PanicInfo<'_>) -> ! {
    fatal!("internal error (panic): {p}")
}

/// Defines the symbol the entry assembly jumps to, for board type `$board`.
#[macro_export]
macro_rules! board_entry {
    ($board:ty) => {
        /// Board constants the entry assembly reads (see `board::early_words`).
        #[no_mangle]
        static SNOWVISOR_BOARD_EARLY: [u32; 4] = $crate::board::early_words::<$board>();
        #[no_mangle]
        extern "C" fn snowvisor_board_entry(r0: u32, r1: u32, r2: u32, cpsr: u32) -> ! {
            $crate::start::boot::<$board>(r0, r1, r2, cpsr)
        }
    };
}
