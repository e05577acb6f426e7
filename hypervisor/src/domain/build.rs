//! Building Dom0 on the target: modules copied into place, its device tree
//! written, stage-2 mapped, interrupts handed over, then entry.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

use log::{info, warn};

use super::iommu;
use snowvisor_arch_armv7::drivers::gicv2::Gic;
use snowvisor_arch_armv7::{cpu, guest};
use snowvisor_arm::frame::TrapFrame;
use snowvisor_arm::lpae::Table;
use snowvisor_arm::stage2::{S2Mem, Stage2};
use snowvisor_core::bootargs::BootArgs;
use snowvisor_core::debugkeys::Console;
use snowvisor_core::domain::layout::{self, Dom0Layout, LayoutError};
use snowvisor_core::domain::xen_glue::XenDom0;
use snowvisor_core::domain::xen_params;
use snowvisor_core::domain::xen_space::Hooks;
use snowvisor_core::domain::zimage::ZImage;
use snowvisor_core::domain::{
    Domain, DomainKind, DomainState, GuestLog, Stage2Root, VcpuState, DOM0_VMID,
};
use snowvisor_core::hal::Arch;
use snowvisor_core::psci::Power;
use snowvisor_core::vgic::VDist;
use snowvisor_dt::{self as dt, HostTree, Region};
use snowvisor_plan::{self as plan, Plan};
use snowvisor_xen::{Xen, XenConfig};

/// Everything that can stop Dom0 from being built.
#[derive(Debug)]
pub enum BuildError {
    Layout(LayoutError),
    Plan(plan::PlanError),
    DeviceTree(String),
    Map(snowvisor_arm::stage2::MapError),
    NoGicv,
    ModuleCopyConflict,
    Xen(snowvisor_xen::ConfigError),
    NoGrantRegion,
    /// `dom0_mem=` leaves Dom0 nothing (the message names value and minimum).
    Dom0Mem(String),
}

impl core::fmt::Display for BuildError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            BuildError::Layout(e) => write!(f, "{e}"),
            BuildError::Plan(e) => write!(f, "{e}"),
            BuildError::DeviceTree(e) => write!(f, "Dom0 device tree: {e}"),
            BuildError::Map(e) => write!(f, "{e}"),
            BuildError::NoGicv => write!(f, "the GIC node has no GICV frame: no virtual CPU interface for Dom0"),
            BuildError::Xen(e) => write!(f, "{e}"),
            BuildError::Dom0Mem(e) => write!(f, "{e}"),
            BuildError::NoGrantRegion => write!(
                f,
                "no free 1 MiB-aligned range below 4 GiB for Dom0's grant-table region"
            ),
            BuildError::ModuleCopyConflict => write!(
                f,
                "Dom0's kernel and initrd would overwrite each other while being moved: load them elsewhere"
            ),
        }
    }
}

fn phys(t: &Table) -> u64 {
    t as *const Table as usize as u64
}

/// Copies `src` to `dst` (memmove) and cleans the destination to the point of
/// coherency, since Dom0 starts with its caches off.
fn place(src: Region, dst: Region) {
    if src == dst {
        // Used in place: the loader left it where Linux can use it, and
        // snowvisor never wrote to it, so there is nothing to move or clean.
        return;
    }
    // SAFETY: both ranges were checked to be inside RAM and outside snowvisor's
    // region (layout::check_modules, layout::place); ptr::copy allows overlap.
    unsafe {
        core::ptr::copy(
            src.base as usize as *const u8,
            dst.base as usize as *mut u8,
            src.size as usize,
        )
    };
    cpu::clean_inval_dcache_range(dst.base as usize, dst.size as usize);
}

/// A module's bytes (validated to lie in RAM, below 4 GiB).
fn module_bytes(r: Region) -> &'static [u8] {
    // SAFETY: check_modules proved the region inside RAM, identity mapped at
    // HYP; nothing writes it before the module is copied.
    unsafe { core::slice::from_raw_parts(r.base as usize as *const u8, r.size as usize) }
}

/// What Dom0 is built on: the machine as snowvisor found it.
pub struct Host<'a, A> {
    /// The CPU building it (its stage 2 is installed there).
    pub arch: &'a A,
    /// The physical GIC (SPIs handed over, the console's and SMMUs' interrupts).
    pub gic: &'static Gic,
    /// What Dom0's address space calls on stage-2 changes.
    pub hooks: Hooks,
    /// snowvisor's region (image, heap, RAM log): never Dom0's.
    pub hyp: Region,
    /// Where snowvisor's image starts (a guard page is taken from it).
    pub image_base: u64,
    /// Physical base of the UART snowvisor's console writes to (kept from
    /// Dom0); `None` when it writes to the RAM log only.
    pub console_uart_base: Option<u64>,
    /// The virtual timer's PPI, given to Dom0.
    pub vtimer_intid: u32,
    /// Host RAM the DomUs took: not Dom0's.
    pub domu_memory: Vec<Region>,
    /// The CPUs (MPIDR) running DomU vCPUs: Dom0 gets no vCPU there.
    pub domu_cpus: Vec<u32>,
}

/// Dom0's grant and foreign maps at once: 64 MiB of 4 KiB pages.
const DOM0_MAX_GRANT_MAPS: u32 = 16384;

/// Dom0, built and ready to enter.
pub struct Dom0 {
    pub domain: Box<Domain>,
    /// The MPIDR its vCPU 0 sees.
    pub mpidr: u32,
    /// The console's input state (receive interrupt, plan for the debug keys).
    pub console: Console,
    /// Its registers at entry (kernel entry point, r2 = its device tree).
    pub frame: TrapFrame,
}

/// Builds Dom0 (its stage 2 installed on this CPU), ready to enter.
#[inline(never)]
pub fn build_dom0<A: Arch>(
    tree: &HostTree<'_>,
    args: &BootArgs<'_>,
    host: &Host<'_, A>,
) -> Result<Dom0, BuildError> {
    let t0 = aarch32_cpu::register::CntPct::read().0;
    let dom0 = build(tree, args, host)?;
    cpu::invalidate_icache();
    let ticks = aarch32_cpu::register::CntPct::read().0 - t0;
    let freq = aarch32_cpu::register::Cntfrq::read().0.max(1) as u64;
    info!("dom0: built in {} us", ticks * 1_000_000 / freq);
    info!(
        "dom0: entering kernel at {:#010x} with DTB at {:#010x}",
        dom0.frame.elr, dom0.frame.r[2]
    );
    Ok(dom0)
}

fn build<A: Arch>(
    tree: &HostTree<'_>,
    args: &BootArgs<'_>,
    host: &Host<'_, A>,
) -> Result<Dom0, BuildError> {
    let (hyp, gic) = (host.hyp, host.gic);
    let (ram, cut) = layout::mappable(
        &tree
            .memory()
            .map_err(|e| BuildError::DeviceTree(alloc::format!("{e}")))?,
    );
    for r in cut {
        warn!(
            "memory {:#x}-{:#x} lies beyond Dom0's {}-bit IPA space: not given to Dom0",
            r.base,
            r.end() - 1,
            snowvisor_arm::stage2::IPA_BITS
        );
    }
    // Xen tells a second generic module's XSM policy by its magic; read only
    // modules that lie in RAM below 4 GiB (HYP's identity map).
    let modules = tree.modules_with(|r| {
        let head = Region {
            base: r.base,
            size: 4,
        };
        r.size >= 4
            && head.end() <= 1 << 32
            && ram.iter().any(|b| b.contains(&head))
            && module_bytes(head) == snowvisor_dt::bootproto::XSM_MAGIC.to_le_bytes()
    });
    let (kernel, initrd) =
        layout::check_modules(&modules, &ram, hyp).map_err(BuildError::Layout)?;
    let zimage = ZImage::parse(module_bytes(kernel.region)).map_err(BuildError::Layout)?;
    let dom0_ram = snowvisor_core::domain::domu_mem::subtract(&ram, &host.domu_memory);
    let limit = match args.dom0_mem {
        Some((m, text)) => {
            let available = layout::dom0_banks(&dom0_ram, hyp, None)
                .iter()
                .map(|b| b.size)
                .sum();
            let (bytes, notes) = m
                .resolve(text, available, layout::GRANULE)
                .map_err(BuildError::Dom0Mem)?;
            notes.iter().for_each(|n| warn!("{n}"));
            Some(bytes)
        }
        None => None,
    };
    let banks = layout::dom0_banks(&dom0_ram, hyp, limit);
    // Nothing of snowvisor's goes into memory firmware reserved (the image,
    // heap and RAM log were checked at boot): Dom0's tree and module copies
    // are placed around it.
    let reserved = tree.reserved();
    let l = layout::place(banks, &kernel, &zimage, initrd.as_ref(), &reserved)
        .map_err(BuildError::Layout)?;
    info!(
        "dom0: zImage {} KiB decompresses to {} KiB at RAM start + {:#x} ({}); zImage at {:#x}, device tree at {:#x}",
        zimage.len >> 10,
        zimage.kernel >> 10,
        zimage.text_offset,
        if zimage.from_table { "its size table" } else { "estimated: no size table" },
        l.kernel.base,
        l.dtb.base
    );
    for b in &l.banks {
        info!(
            "dom0: memory {:#010x}-{:#010x} ({} MiB, 1:1)",
            b.base,
            b.end() - 1,
            b.size >> 20
        );
    }

    let (opts, errs) = plan::PlanOptions::parse(args.iommu, args.swiotlb);
    for e in errs {
        warn!("{e}");
    }
    let ginfo = tree.gic().map_err(|_| BuildError::NoGicv)?;
    // snowvisor keeps the UART it writes to (stdout-path's or the board's
    // default): Dom0 talks through hvc0.
    let keep = match host.console_uart_base {
        Some(b) => plan::Keep::none().uart_at(tree, b),
        None => plan::Keep::none(),
    };
    let plan = plan::make(tree, &opts, &keep).map_err(BuildError::Plan)?;
    let plan_lines = plan::report::lines(&plan);
    for line in &plan_lines {
        info!("{line}");
    }

    let vcpus = dom0_vcpus(args.dom0_max_vcpus, &host.domu_cpus);
    let xcfg = XenConfig {
        // Dom0's `XENVER_commandline` (`xl info`'s xen_commandline): the
        // arguments snowvisor parsed, kept for the domain's life.
        commandline: Box::leak(
            String::from(tree.hypervisor_bootargs().unwrap_or("")).into_boxed_str(),
        ),
        // Foreign maps at once: `xl create` keeps a guest's zImage and
        // initrd mapped while libxc loads them (tens of MiB), beyond the
        // 1024 a boot-time DomU's backends need.
        max_grant_maps: DOM0_MAX_GRANT_MAPS,
        ..XenConfig::dom0(vcpus.len() as u32, plan.swiotlb.enabled)
    };
    let grant_table = xen_params::grant_table_region(
        &xen_params::taken_regions(tree, &plan, &ram),
        u64::from(xcfg.max_grant_frames) << 12,
    )
    .ok_or(BuildError::NoGrantRegion)?;
    let hypervisor_node = plan::dom0::HypervisorNode {
        version: (xcfg.version.0.into(), xcfg.version.1.into()),
        grant_table,
        evtchn_intid: xcfg.event_ppi,
    };
    let uart = host
        .console_uart_base
        .and_then(|b| xen_params::console_uart(tree, b));
    let (cmdline, source) = snowvisor_dt::bootproto::dom0_cmdline(
        kernel.bootargs,
        tree.chosen_str("xen,dom0-bootargs"),
        tree.chosen_str("xen,xen-bootargs"),
        tree.chosen_str("bootargs"),
    );
    info!("dom0: {}: \"{cmdline}\"", source.describe());
    let console = xen_params::dom0_console_args(
        cmdline,
        uart.as_ref()
            .and_then(|u| xen_params::tty_prefix(&u.compatible)),
    );
    if let Some(note) = &console.note {
        info!("dom0: {note}");
    }
    info!(
        "xen: Dom0 sees Xen {}.{}: grant table at {:#x}-{:#x}, event channels on PPI {}, {}",
        xcfg.version.0,
        xcfg.version.1,
        grant_table.base,
        grant_table.end() - 1,
        xcfg.event_ppi,
        if xcfg.direct_mapped {
            "direct mapped (swiotlb-xen on)"
        } else {
            "not direct mapped (swiotlb-xen off)"
        }
    );
    let xen = Xen::new(xcfg).map_err(BuildError::Xen)?;

    let cpus: Vec<u64> = vcpus
        .iter()
        .map(|&(m, _)| u64::from(m) & plan::cpus::AFFINITY_MASK)
        .collect();
    let dtb = dom0_tree(
        tree,
        &plan,
        &l,
        &ginfo,
        &console.bootargs,
        hypervisor_node,
        cpus,
    )?;
    copy_modules(&l)?;
    // SAFETY: l.dtb is inside Dom0's first bank (layout::place) and DTB_MAX long.
    unsafe {
        core::ptr::copy_nonoverlapping(dtb.as_ptr(), l.dtb.base as usize as *mut u8, dtb.len())
    };
    cpu::clean_inval_dcache_range(l.dtb.base as usize, dtb.len());

    let mut stage2 = Box::new(Stage2::new(phys));
    for b in &l.banks {
        stage2
            .map(b.base, b.base, b.size, S2Mem::Ram)
            .map_err(BuildError::Map)?;
    }
    for r in layout::reserved_outside(&ram, &l.banks, hyp, &reserved) {
        info!(
            "dom0: reserved memory {:#010x}-{:#010x} mapped 1:1 outside Dom0's RAM",
            r.base,
            r.end() - 1
        );
        stage2
            .map(r.base, r.base, r.size, S2Mem::Ram)
            .map_err(BuildError::Map)?;
    }
    let gicv = ginfo.gicv.ok_or(BuildError::NoGicv)?;
    let gic_cpu_size = ginfo.gicc.size.clamp(0x1000, 0x2000);
    stage2
        .map(ginfo.gicc.base, gicv.base, gic_cpu_size, S2Mem::Device)
        .map_err(BuildError::Map)?;
    let gic_frames = [Some(ginfo.gicd), Some(ginfo.gicc), ginfo.gich, Some(gicv)];
    let is_gic = |r: &Region| gic_frames.iter().flatten().any(|g| r.overlaps(g));
    let mut mapped = 0;
    for r in plan.mmio_regions().iter().filter(|r| !is_gic(r)) {
        if r.end() > 1 << snowvisor_arm::stage2::IPA_BITS {
            warn!(
                "dom0: MMIO {:#x}-{:#x} lies beyond Dom0's {}-bit IPA space: not mapped",
                r.base,
                r.end() - 1,
                snowvisor_arm::stage2::IPA_BITS
            );
            continue;
        }
        stage2
            .map(r.base, r.base, r.size, S2Mem::Device)
            .map_err(BuildError::Map)?;
        mapped += 1;
    }
    let devices: Vec<(Region, String)> = plan
        .passthrough
        .iter()
        .flat_map(|p| p.mmio.iter().map(|r| (*r, p.path.clone())))
        .chain(plan.forwarded())
        .collect();
    info!(
        "dom0: stage 2 has {} table(s); {mapped} MMIO range(s) passed through",
        stage2.table_count()
    );

    let mut vdist = VDist::new(
        gic.lines(),
        {
            use tock_registers::interfaces::Readable;
            gic.gicd.iidr.get()
        },
        vcpus.len(),
    );
    let mut spis = plan.spis();
    spis.extend(msi_spis(tree, &plan));
    for &i in &spis {
        vdist.give(i);
        gic.disable(i);
    }
    // The guest's virtual timer PPI (delivered as a software interrupt: vcpu/irq.rs).
    let vtimer = host.vtimer_intid;
    vdist.give(vtimer);
    info!(
        "dom0: {} SPI(s) routed, virtual timer INTID {vtimer}",
        spis.len()
    );
    let root = stage2.root_pa();
    let mut xen = XenDom0::new(xen, stage2, l.banks.clone(), hyp, host.hooks);
    // swiotlb-xen gives a device a DomU page's bus address (its physical
    // address); behind an owned IOMMU that address is looked up in Dom0's
    // stage 2, so each grant-mapped page is mapped there at it too.
    if !plan.owned.is_empty() {
        // Every page that is not Dom0's own: the boot-time DomUs', the free
        // pool the domains Dom0 creates take theirs from, snowvisor's.
        let mut grantable = snowvisor_core::domain::domu_mem::subtract(&ram, &l.banks);
        grantable.push(hyp);
        xen.set_bus_maps(&grantable);
    }
    let console_intid = uart.as_ref().and_then(|u| u.intid);
    match console_intid {
        Some(i) if crate::console::enable_rx_interrupt() => {
            gic.enable(i, 0xa0);
            info!(
                "console: {} input on INTID {i}; Ctrl-a three times switches between Dom0 and snowvisor",
                uart.as_ref().map_or("UART", |u| u.path.as_str())
            );
        }
        _ => warn!("console: no UART receive interrupt; Dom0's hvc0 gets no input"),
    }
    let stage2 = Stage2Root {
        root_pa: root,
        vmid: DOM0_VMID,
    };
    let domain = Box::new(Domain {
        id: 0,
        kind: DomainKind::Dom0,
        name: "dom0",
        memory: l.banks.clone(),
        stage2,
        gicd: Region {
            base: ginfo.gicd.base,
            size: 0x1000,
        },
        vdist,
        devices,
        forwarded: plan.forwarded().into_iter().map(|(r, _)| r).collect(),
        stage2_faults: 0,
        xen: Some(xen),
        log: GuestLog::new("dom0"),
        vcpus: vcpus
            .iter()
            .enumerate()
            .map(|(i, &(mpidr, mask))| {
                let power = if i == 0 { Power::On } else { Power::Off };
                VcpuState::new(mpidr, mask, power)
            })
            .collect(),
        uart: None,
        uart_ipa: Region { base: 0, size: 0 },
        boot_dtb: None,
        state: DomainState::Running,
        paused: false,
        shutdown_code: 0,
        cntvoff: 0,
        restart: None,
    });
    // Maintenance interrupt: list-register underflow while interrupts still wait.
    if let Some(m) = ginfo.maintenance_intid {
        gic.enable(m, 0x80);
    }
    // Every domain's memory: the guard pages are RAM none of them owns.
    let owned: Vec<Region> = l.banks.iter().chain(&host.domu_memory).copied().collect();
    iommu::attach_owned(&plan, stage2, gic, &ram, hyp, host.image_base, &owned);
    crate::integrity::take(&ram, hyp, host.image_base, &owned);
    host.arch.install_stage2(root, DOM0_VMID);

    let mut f = TrapFrame::default();
    f.r[0] = 0;
    f.r[1] = u32::MAX;
    f.r[2] = l.dtb.base as u32;
    f.elr = l.kernel.base as u32;
    f.spsr = 0x1d3; // SVC, A/I/F masked, ARM state
    Ok(Dom0 {
        domain,
        mpidr: guest::vmpidr(),
        console: Console {
            intid: console_intid,
            plan_lines,
            ..Default::default()
        },
        frame: f,
    })
}

/// Dom0's vCPUs, each as (MPIDR it sees, GIC CPU-interface bit of the
/// CPU it is placed on): one per CPU that came up in HYP and runs no DomU
/// (`domu_cpus`), or `dom0_max_vcpus` (at most 8, GICv2's CPU interfaces),
/// placed by the scheduler's rule (`sched::place_all`: spread over the
/// CPUs, then shared). vCPU N on CPU N sees that CPU's MPIDR (vCPU 0: the
/// boot CPU's); a vCPU beyond the CPUs sees the boot CPU's cluster with
/// the next Aff0 no CPU has.
fn dom0_vcpus(max: Option<u32>, domu_cpus: &[u32]) -> Vec<(u32, u8)> {
    let mut online = crate::smp::online();
    online.retain(|(m, _)| !domu_cpus.contains(m));
    let n = max.map_or(online.len(), |m| m as usize).clamp(1, 8);
    let mut load = alloc::vec![0u32; online.len()];
    let all = (1u32 << online.len()) - 1;
    let Some(cpus) = snowvisor_core::sched::place_all(n, all, &mut load) else {
        return online.into_iter().take(1).collect();
    };
    let cluster = online[0].0 & !0xff;
    let mut spare = (0u32..256).filter(|a| !online.iter().any(|&(m, _)| m & 0xff == *a));
    let vcpus: Vec<(u32, u8)> = cpus
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let mpidr = match online.get(i) {
                Some(&(m, _)) => m,
                None => cluster | spare.next().unwrap_or(0),
            };
            (mpidr, online[c].1)
        })
        .collect();
    let list: Vec<_> = vcpus
        .iter()
        .zip(&cpus)
        .map(|((m, _), c)| alloc::format!("{m:#010x} on CPU {:#010x}", online[*c].0))
        .collect();
    info!(
        "dom0: {n} vCPU(s) on {} CPU(s): MPIDR {}",
        online.len(),
        list.join(", ")
    );
    vcpus
}

fn copy_modules(l: &Dom0Layout) -> Result<(), BuildError> {
    let k = (l.kernel_src, l.kernel);
    let Some(i) = l.initrd_src.zip(l.initrd) else {
        place(k.0, k.1);
        return Ok(());
    };
    // Move first the one whose destination does not clobber the other's source.
    if !k.1.overlaps(&i.0) {
        place(k.0, k.1);
        place(i.0, i.1);
    } else if !i.1.overlaps(&k.0) {
        place(i.0, i.1);
        place(k.0, k.1);
    } else {
        return Err(BuildError::ModuleCopyConflict);
    }
    Ok(())
}

fn dom0_tree(
    tree: &HostTree<'_>,
    plan: &Plan,
    l: &Dom0Layout,
    g: &dt::GicInfo,
    bootargs: &str,
    hypervisor_node: plan::dom0::HypervisorNode,
    cpus: Vec<u64>,
) -> Result<Vec<u8>, BuildError> {
    let params = plan::dom0::Dom0Params {
        memory: l.banks.clone(),
        bootargs,
        initrd: l.initrd,
        gic: Some(plan::dom0::GicView {
            gicd: g.gicd,
            gicc_as_seen: g.gicc,
        }),
        hypervisor_node: Some(hypervisor_node),
        cpus,
    };
    let blob = plan::dom0::build(tree, plan, &params)
        .map_err(|e| BuildError::DeviceTree(alloc::format!("{e}")))?;
    if blob.len() as u64 > layout::DTB_MAX {
        return Err(BuildError::DeviceTree(alloc::format!(
            "{} bytes, more than the {} reserved",
            blob.len(),
            layout::DTB_MAX
        )));
    }
    info!(
        "dom0: device tree {} bytes at {:#010x}",
        blob.len(),
        l.dtb.base
    );
    Ok(blob)
}

/// SPIs of GICv2m MSI frames passed to Dom0: Dom0 programs its devices' MSIs
/// to land on them. From `arm,msi-base-spi`/`arm,msi-num-spis`, or else from
/// the frame's MSI_TYPER.
fn msi_spis(tree: &HostTree<'_>, plan: &Plan) -> Vec<u32> {
    let mut out = Vec::new();
    let x = tree.index();
    for n in 0..x.len() {
        let is_v2m = x.is_compatible(n, &["arm,gic-v2m-frame"]);
        let Some(frame) = x.mmio(n).and_then(|r| r.first().copied()) else {
            continue;
        };
        // Only frames Dom0 can reach (mapped by the plan) are worth routing.
        if !is_v2m || !plan.mmio_regions().iter().any(|r| r.contains(&frame)) {
            continue;
        }
        let prop = |p: &str| x.u32_prop(n, p);
        let (base, count) = match (prop("arm,msi-base-spi"), prop("arm,msi-num-spis")) {
            (Some(b), Some(c)) => (b, c),
            // SAFETY: the frame is a v2m node's reg, identity mapped as device
            // memory by snowvisor's HYP map.
            _ => unsafe { snowvisor_arch_armv7::drivers::gicv2m::spi_range(frame.base as usize) },
        };
        let range = base..base
            .saturating_add(count)
            .min(snowvisor_core::vgic::dist::MAX_LINES);
        info!(
            "dom0: MSI frame {:#x}: SPIs (INTID) {}-{}",
            frame.base,
            range.start,
            range.end.saturating_sub(1)
        );
        // The plan decides which INTIDs snowvisor keeps, also inside a range
        // only the hardware reports (QEMU virt's v2m SPIs cover the SMMU's).
        let mut clash: Vec<(u32, &str)> = Vec::new();
        for i in range.clone() {
            if let Some(k) = plan.kept_irq(i) {
                clash.push((i, k.owner.as_str()));
            }
        }
        if !clash.is_empty() {
            warn!(
                "dom0: MSI frame {:#x}: INTIDs {:?} belong to {}, which snowvisor keeps; not given to Dom0",
                frame.base,
                clash.iter().map(|c| c.0).collect::<Vec<_>>(),
                clash[0].1
            );
        }
        out.extend(range.filter(|&i| i >= 32 && plan.kept_irq(i).is_none()));
    }
    out
}
