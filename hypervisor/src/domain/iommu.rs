//! IOMMUs the plan owns, at boot and afterwards: each one is taken over and
//! its Dom0 streams translated by Dom0's own stage-2 tables (same root, same
//! VMID as the CPU), so device DMA reaches exactly Dom0's memory. Streams of
//! no domain abort. Faults and global errors are reported on the console from
//! the SMMU's interrupts.
//!
//! Guard pages (`dma_guard`): when an SMMU is taken over, snowvisor
//! checksums a page of its own image and a page of RAM no domain owns, and
//! after every reported fault checksums them again, so the console shows
//! that a blocked DMA changed nothing.
//!
//! Failure is closed: an SMMU that cannot be driven is left off with
//! GBPA.ABORT set, so the DMA of the devices behind it stops rather than
//! bypassing translation (boot with `iommu=hide:arm,smmu-v3` to let it bypass).

use alloc::string::String;
use alloc::vec::Vec;

use log::{error, info, warn};
use spin::Mutex;

use snowvisor_arch_armv7::drivers::gicv2::Gic;
use snowvisor_arch_armv7::drivers::smmuv3::cmd::{gerror_names, runs};
use snowvisor_arch_armv7::drivers::smmuv3::{block, checked_frame, Assignment, Smmu, SmmuError};
use snowvisor_arm::stage2::VTCR;
use snowvisor_dt::Region;
use snowvisor_plan::owned::{self, OwnedIommu, StreamRange};
use snowvisor_plan::Plan;

use snowvisor_core::domain::dma_guard::{self, GuardKind};

use crate::integrity::crc32_ram;
use snowvisor_core::domain::Stage2Root;

/// Same priority as snowvisor's HYP timer.
const IRQ_PRIORITY: u8 = 0x80;

struct Running {
    path: String,
    smmu: Smmu,
    streams: Vec<StreamRange>,
    irqs: Vec<u32>,
    /// The domain its streams translate for: VMID and stage-2 root.
    vmid: u16,
    root_pa: u64,
}

static RUNNING: Mutex<Vec<Running>> = Mutex::new(Vec::new());

struct Guard {
    kind: GuardKind,
    page: Region,
    crc: u32,
}

/// The guard pages and the RAM banks they were checked against.
static GUARDS: Mutex<(Vec<Guard>, Vec<Region>)> = Mutex::new((Vec::new(), Vec::new()));

/// Takes over every IOMMU the plan owns and attaches Dom0's streams to its
/// stage 2 `s2` (the tables the CPU uses for Dom0, which are never freed,
/// and their VMID). `ram` is the host's RAM, `hyp` snowvisor's region,
/// `image` the start of its image and `banks` every domain's memory, for the guard
/// pages. Errors are reported on the console; they never stop Dom0 from booting.
pub fn attach_owned(
    plan: &Plan,
    s2: Stage2Root,
    gic: &Gic,
    ram: &[Region],
    hyp: Region,
    image: u64,
    banks: &[Region],
) {
    let (root_pa, vmid) = (s2.root_pa, u16::from(s2.vmid));
    for line in owned::lines(&plan.owned) {
        info!("{line}");
    }
    for o in &plan.owned {
        attach_one(o, root_pa, vmid, gic);
    }
    if RUNNING.lock().is_empty() {
        return;
    }
    let mut g = GUARDS.lock();
    g.1 = ram.to_vec();
    for (kind, page) in dma_guard::pages(ram, hyp, image, banks) {
        if let Some(crc) = crc32_ram(page, ram) {
            info!(
                "smmuv3: guard page {:#010x} ({}): crc32 {crc:#010x}",
                page.base,
                kind.name()
            );
            g.0.push(Guard { kind, page, crc });
        }
    }
}

/// Checksums the guard pages again and says whether they changed.
fn check_guards() {
    let Some(g) = GUARDS.try_lock() else { return };
    for x in &g.0 {
        match crc32_ram(x.page, &g.1) {
            Some(now) if now == x.crc => info!(
                "smmuv3: guard page {:#010x} ({}): crc32 {now:#010x}, unchanged",
                x.page.base,
                x.kind.name()
            ),
            Some(now) => error!(
                "smmuv3: guard page {:#010x} ({}): crc32 {now:#010x}, was {:#010x}: CHANGED",
                x.page.base,
                x.kind.name(),
                x.crc
            ),
            None => {}
        }
    }
}

fn attach_one(o: &OwnedIommu, root_pa: u64, vmid: u16, gic: &Gic) {
    let assignments: Vec<Assignment> = o
        .merged_streams()
        .into_iter()
        .map(|(first, last)| Assignment {
            first,
            last,
            vmid,
            root_pa,
            vtcr: VTCR,
        })
        .collect();
    let smmu = match take_owned(o, &assignments) {
        Ok(s) => s,
        Err(e) => {
            let blocked = match block_owned(o) {
                Ok(()) => "its DMA is blocked (GBPA.ABORT)",
                Err(_) => "it does not answer: its DMA may bypass translation",
            };
            error!("smmuv3 {}: {e}; {blocked}", o.path);
            return;
        }
    };
    let (l2, bytes) = smmu.table_summary();
    info!("smmuv3 {}: {}", o.path, smmu.features);
    info!(
        "smmuv3 {}: own: {} stream(s) attached to dom0 stage 2 (VMID {vmid}, root {root_pa:#x}), every other stream aborts; stream table {} KiB ({l2} level-2 table(s)); translation {}",
        o.path,
        smmu.assigned,
        bytes.div_ceil(1024),
        if smmu.enabled() { "on" } else { "OFF" }
    );
    let mut irqs = Vec::new();
    for name in ["eventq", "gerror"] {
        match o.irq(name) {
            Some(intid) => {
                // SMMUv3 wired interrupts are pulses.
                gic.set_edge_triggered(intid, true);
                gic.enable(intid, IRQ_PRIORITY);
                irqs.push(intid);
            }
            None => warn!(
                "smmuv3 {}: no '{name}' interrupt: its reports are read only when another one fires",
                o.path
            ),
        }
    }
    RUNNING.lock().push(Running {
        path: o.path.clone(),
        smmu,
        streams: o.streams.clone(),
        irqs,
        vmid,
        root_pa,
    });
}

/// The master a stream belongs to, for reports.
fn master_of(streams: &[StreamRange], sid: u32) -> &str {
    streams
        .iter()
        .find(|s| (s.first..=s.last).contains(&sid))
        .map_or("no domain", |s| s.master.as_str())
}

/// Reports what the SMMU queued; true if there was a fault or an error.
fn report(r: &mut Running) -> bool {
    let Running {
        path,
        smmu,
        streams,
        ..
    } = r;
    let mut events = Vec::new();
    let mut overflowed = false;
    let n = smmu.drain_events(|e| match e {
        Some(e) => events.push(e),
        None => overflowed = true,
    });
    for r in runs(events) {
        warn!(
            "smmuv3 {path}: fault: {r} [{}]",
            master_of(streams, r.event.sid)
        );
    }
    if overflowed {
        warn!("smmuv3 {path}: event queue overflowed: events were lost");
    }
    let g = smmu.take_gerrors();
    for name in gerror_names(g) {
        error!("smmuv3 {path}: global error {name}");
    }
    n > 0 || g != 0
}

/// Handles an interrupt of an owned SMMU; false when `intid` is not one.
pub fn handle_irq(intid: u32) -> bool {
    let Some(mut running) = RUNNING.try_lock() else {
        return false;
    };
    let mut mine = false;
    let mut faults = false;
    for r in running.iter_mut().filter(|r| r.irqs.contains(&intid)) {
        mine = true;
        faults |= report(r);
    }
    drop(running);
    if faults {
        check_guards();
    }
    mine
}

/// Reads and reports whatever the owned SMMUs have queued (also called
/// without an interrupt, e.g. before a test checks the console).
pub fn poll() {
    let mut faults = false;
    for r in RUNNING.lock().iter_mut() {
        faults |= report(r);
    }
    if faults {
        check_guards();
    }
}

/// Must follow every change that removes or alters a mapping in the stage 2
/// of a domain whose streams an owned SMMU translates (a page released, a
/// grant unmapped, a block split): the SMMU uses private TLB maintenance
/// (CR2.PTM), so the CPU's TLB invalidations do not reach it, and a
/// non-coherent SMMU needs the tables cleaned. Until then a device could
/// still reach a page the domain gave up.
pub fn stage2_changed() {
    for r in RUNNING.lock().iter_mut() {
        if let Err(e) = r.smmu.stage2_changed(r.vmid, r.root_pa) {
            error!(
                "smmuv3 {}: TLB invalidation for VMID {}: {e}",
                r.path, r.vmid
            );
        }
    }
}

/// Takes over the SMMU of an owned IOMMU node and translates `assignments`
/// through their domains' stage 2; every other stream aborts.
///
/// The frame comes from [`owned::owned`]: the `reg` of an `arm,smmu-v3` node
/// in the host device tree that the plan owns. The plan keeps that frame out
/// of every guest's stage 2, snowvisor's HYP map covers the 32-bit physical
/// space outside RAM as device memory, and nothing else in snowvisor touches
/// it; that is what makes the register accesses sound. Each assignment's
/// `root_pa` must name stage-2 tables that are never freed.
fn take_owned(o: &OwnedIommu, assignments: &[Assignment]) -> Result<Smmu, SmmuError> {
    let base = checked_frame(&o.compatible, o.regs.base, o.regs.size)?;
    // SAFETY: an owned arm,smmu-v3 frame from the host tree, checked to be a
    // whole (page 0 and 1), 64 KiB-aligned register block below 4 GiB (see the contract above).
    unsafe { Smmu::init(base, assignments) }
}

/// Makes the SMMU of an owned node abort all DMA (translation off,
/// GBPA.ABORT), e.g. after [`take_owned`] failed half-way.
fn block_owned(o: &OwnedIommu) -> Result<(), SmmuError> {
    let base = checked_frame(&o.compatible, o.regs.base, o.regs.size)?;
    // SAFETY: as in take_owned.
    unsafe { block(base) }
}
