//! The domains the control domain creates at run time (`xl create`): their
//! places, built at boot, and their lives (`XEN_DOMCTL_createdomain` to
//! `XEN_DOMCTL_destroydomain`), their RAM from the free pool
//! ([`FreePool`]: what `dom0_mem=` left of Dom0's share).
//!
//! A place ([`Slot`]) is made at boot like a boot-time DomU with no RAM: its
//! domain ID (after the boot-time DomUs'), its VMID, its domain cell in the
//! machine's list (not listed while free) and the scheduler's, its event
//! links and its view for Dom0, its vCPUs' CPUs (at most one vCPU per CPU
//! of Pool-0 that no DomU has to itself). So nothing the scheduler, the
//! event channels or the grant maps look up ever appears or goes away: a
//! life only fills a place and empties it.
//!
//! Dom0's hypercall reaches a place with Dom0's lock held and takes the
//! place's domain lock, then the place's own state ([`Slot::st`]), then
//! the pool's: the one order in which these are ever held together (a
//! created domain never takes Dom0's lock).
//!
//! Its life: created (paused, no RAM, vCPUs down); Dom0 populates its RAM
//! (2 MiB granules from the pool, scrubbed and cleaned to the point of
//! coherency: the guest starts with its caches off), loads it through its
//! foreign maps, sets its vCPU 0's start and its HVM parameters; unpaused,
//! its vCPUs start on their CPUs. Destroyed: it ends (its CPUs kicked;
//! Xen's `-EAGAIN` until none holds its vCPUs), Dom0 gets `VIRQ_DOM_EXC`,
//! it stays listed as dying while Dom0 still maps one of its pages
//! (xenstored and xenconsoled let go at `@releaseDomain`), then its RAM goes
//! back to the pool and the place is free.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU16, Ordering};

use log::{info, warn};

use snowvisor_arch_armv7::cpu;
use snowvisor_arch_armv7::drivers::gicv2::Gic;
use snowvisor_core::domain::domu_mem::Extent;
use snowvisor_core::domain::layout::GRANULE;
use snowvisor_core::domain::peer_view::PeerView;
use snowvisor_core::domain::pool::FreePool;
use snowvisor_core::domain::xen_glue::XenDom0;
use snowvisor_core::domain::{
    Domain, DomainKind, DomainState, GuestLog, Stage2Root, VcpuState, VmidPool,
};
use snowvisor_core::hal::{Arch, DomainControl};
use snowvisor_core::psci::Power;
use snowvisor_core::vcpu::DomainCell;
use snowvisor_core::vgic::VDist;
use snowvisor_dt::Region;
use snowvisor_plan::domu::layout as gl;
use snowvisor_xen::abi::{domid, runstate};
use snowvisor_xen::{Errno, NewDomain, PlatformError, VcpuStart, Xen, XenConfig};

use super::domu::{self, DomUHost};

/// Places for domains Dom0 creates (domain IDs after the boot-time DomUs').
pub const MAX_CREATED: usize = 4;

const PAGE: u64 = 4096;

/// Where a place is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Life {
    /// No domain.
    #[default]
    Free,
    /// Created, paused, never run: Dom0 populates and loads it.
    Built,
    /// Unpaused once: its vCPUs run (or it shut down).
    Running,
    /// Destroyed; its RAM goes back once Dom0 maps none of its pages.
    Dying,
}

/// A place's life, beside its domain (under the domain's lock).
#[derive(Debug, Default)]
struct SlotState {
    life: Life,
    /// The pool's granules it holds: (guest block IPA, host PA), 2 MiB each,
    /// mapped whole (order 9) or page by page (order 0).
    granules: Vec<(u64, u64)>,
    /// The granule its pages in Xen's magic region come from: (host PA,
    /// pages handed out).
    magic: Option<(u64, u64)>,
    /// How each vCPU starts once unpaused (`XEN_DOMCTL_setvcpucontext`).
    starts: Vec<Option<VcpuStart>>,
    /// Its pages now (RAM and magic pages).
    pages: u64,
}

/// A place for a domain Dom0 creates (see the module documentation).
pub struct Slot {
    /// The ID of its domain (of its last life while free).
    domid: AtomicU16,
    cell: &'static DomainCell,
    /// The CPU of each vCPU it may have: (MPIDR, GIC CPU-interface bit).
    cpus: Vec<(u32, u8)>,
    view: Arc<PeerView>,
    st: spin::Mutex<SlotState>,
    /// Every grant frame its lives allocated (heap pages, by frame number),
    /// handed to each next life, which takes as many as it may have: a life
    /// with fewer frames than the last one leaks none.
    frames: spin::Mutex<Vec<Option<u64>>>,
}

/// What every place is built on (the boot-time DomUs' host facts).
struct Host {
    /// The GIC, for kicks.
    gic: &'static Gic,
    gicv: Region,
    gic_lines: u32,
    gic_iidr: u32,
    vtimer_intid: u32,
    hyp: Region,
}

static SLOTS: spin::Once<Vec<Slot>> = spin::Once::new();
static HOST: spin::Once<Host> = spin::Once::new();
static POOL: spin::Mutex<Option<FreePool>> = spin::Mutex::new(None);
/// The domain ID given last (Xen's `rover`).
static LAST: AtomicU16 = AtomicU16::new(0);
/// Domains' names by ID ([`name_of`]).
static NAMES: spin::Mutex<BTreeMap<u16, &'static str>> = spin::Mutex::new(BTreeMap::new());

/// The kernel's [`DomainControl`].
pub static CONTROL: Control = Control;

/// See [`CONTROL`].
pub struct Control;

/// Makes the free pool: host RAM `ram` less what is `used` (snowvisor,
/// reserved memory, boot modules, every domain's RAM). Once, at boot.
pub fn make_pool(ram: &[Region], used: &[Region]) {
    let p = FreePool::new(ram, used);
    if p.free_granules() == 0 {
        info!(
            "created domains: no free pool: Dom0 and the DomUs hold all RAM (`dom0_mem=` leaves some for `xl create`)"
        );
    } else {
        info!(
            "created domains: free pool {} MiB (RAM no domain holds; `dom0_mem=` sets how much Dom0 leaves), for up to {MAX_CREATED} domains Dom0 creates",
            p.free_pages() >> 8
        );
    }
    *POOL.lock() = Some(p);
}

/// Free memory in the pool, 4 KiB pages (0 before it is made).
pub fn free_pages() -> u64 {
    POOL.lock().as_ref().map_or(0, |p| p.free_pages())
}

/// Builds the places at boot (free, no ID yet: each life gets one from Xen's
/// rover, [`next_domid`], starting after `first_domid`), VMIDs from
/// `vmids`, vCPUs on `cpus` (vCPU n on the n-th, wrapping; at most one
/// vCPU per CPU); `gic` kicks their CPUs. Returns their cells, for the machine's list (not listed)
/// and the scheduler's.
pub fn build_slots(
    first_domid: u16,
    cpus: &[(u32, u8)],
    vmids: &mut VmidPool,
    host: &DomUHost,
    gic: &'static Gic,
) -> Vec<&'static DomainCell> {
    HOST.call_once(|| Host {
        gic,
        gicv: host.gicv,
        gic_lines: host.gic_lines,
        gic_iidr: host.gic_iidr,
        vtimer_intid: host.vtimer_intid,
        hyp: host.hyp,
    });
    let mut slots = Vec::new();
    for k in 0..MAX_CREATED {
        // An ID Xen would give last (a free place is in no list: its ID
        // until its first life names nothing).
        let domid = domid::FIRST_RESERVED - 1 - k as u16;
        let Some(vmid) = vmids.take() else {
            warn!(
                "created domains: no VMID left for a place beyond {}",
                slots.len()
            );
            break;
        };
        match new_slot(domid, cpus, vmid, host) {
            Ok(s) => slots.push(s),
            Err(e) => {
                warn!("created domains: place {k}: {e}");
                break;
            }
        }
    }
    let cells = slots.iter().map(|s| s.cell).collect();
    LAST.store(first_domid.saturating_sub(1), Ordering::Relaxed);
    SLOTS.call_once(|| slots);
    cells
}

fn new_slot(domid: u16, cpus: &[(u32, u8)], vmid: u8, host: &DomUHost) -> Result<Slot, String> {
    let name = name_of(domid);
    let stage2 = domu::stage2_for(&[], host.gicv)?;
    let root_pa = stage2.root_pa();
    let n = cpus.len().max(1);
    let cfg = XenConfig {
        name,
        ..XenConfig::domu(domid, n as u32)
    };
    let max_frames = cfg.max_grant_frames;
    let x = Xen::new(cfg).map_err(|e| format!("{e}"))?;
    let mut xd = XenDom0::new_domu(x, stage2, Vec::new(), host.hyp, crate::cpu::STAGE2_HOOKS);
    let view = Arc::new(PeerView::new(
        domid,
        max_frames,
        Vec::new(),
        Vec::new(),
        None,
        None,
    ));
    view.renew();
    xd.set_peer_view(view.clone());
    let vcpus = vcpu_states(cpus, n);
    let domain = Domain {
        id: domid,
        kind: DomainKind::DomU,
        name,
        memory: Vec::new(),
        stage2: Stage2Root { root_pa, vmid },
        gicd: Region {
            base: gl::GUEST_GICD_BASE,
            size: gl::GUEST_GICD_SIZE,
        },
        vdist: VDist::new(32, host.gic_iidr, n),
        devices: Vec::new(),
        forwarded: Vec::new(),
        stage2_faults: 0,
        xen: Some(xd),
        log: GuestLog::new(name),
        vcpus,
        uart: None,
        uart_ipa: Region {
            base: gl::GUEST_PL011_BASE,
            size: gl::GUEST_PL011_SIZE,
        },
        boot_dtb: None,
        state: DomainState::Off,
        paused: false,
        shutdown_code: 0,
        cntvoff: domu::counter(),
        restart: None,
    };
    let cell: &'static DomainCell = Box::leak(Box::new(spin::Mutex::new(domain)));
    Ok(Slot {
        domid: AtomicU16::new(domid),
        cell,
        cpus: cpus.iter().copied().take(n).collect(),
        view,
        st: spin::Mutex::new(SlotState::default()),
        frames: spin::Mutex::new(Vec::new()),
    })
}

/// `n` vCPUs, all down, vCPU i on the i-th of `cpus` (wrapping).
fn vcpu_states(cpus: &[(u32, u8)], n: usize) -> Vec<VcpuState> {
    (0..n)
        .map(|i| {
            let mask = cpus.get(i % cpus.len().max(1)).map_or(1, |c| c.1);
            VcpuState::new(0x8000_0000 | i as u32, mask, Power::Off)
        })
        .collect()
}

/// The next domain ID after the last one given (wrapping below
/// `DOMID_FIRST_RESERVED` to 1) that no domain has: Xen's `rover`
/// (`common/domctl.c`); `None` when every ID is taken.
fn next_domid() -> Option<u16> {
    let mut d = LAST.load(Ordering::Relaxed);
    for _ in 0..domid::FIRST_RESERVED {
        d = if d + 1 >= domid::FIRST_RESERVED {
            1
        } else {
            d + 1
        };
        if !crate::domains::in_use(d) {
            return Some(d);
        }
    }
    None
}

/// `"dN"` for domain ID `id`, made once per ID (a place's domain takes a
/// new ID each life; there are fewer than 2^15 IDs).
fn name_of(id: u16) -> &'static str {
    let mut names = NAMES.lock();
    names
        .entry(id)
        .or_insert_with(|| Box::leak(format!("d{id}").into_boxed_str()))
}

/// Xen system time now: the counter in nanoseconds.
fn now_ns() -> u64 {
    let hz = u128::from(aarch32_cpu::register::Cntfrq::read().0.max(1));
    (u128::from(domu::counter()) * 1_000_000_000 / hz) as u64
}

/// Sends the kick SGI to the CPUs `mask` (GIC CPU-interface bits).
fn kick(mask: u8) {
    if let (Some(h), true) = (HOST.get(), mask != 0) {
        crate::cpu::Armv7::new(h.gic).send_sgi(snowvisor_core::vcpu::KICK_SGI, mask);
    }
}

fn slots() -> &'static [Slot] {
    SLOTS.get().map_or(&[], |s| &s[..])
}

fn slot(dom: u16) -> Result<&'static Slot, PlatformError> {
    slots()
        .iter()
        .find(|s| s.domid.load(Ordering::Acquire) == dom && s.st.lock().life != Life::Free)
        .ok_or(PlatformError::NotSupported)
}

/// A granule from the pool, zeroed and cleaned to the point of coherency.
fn take_granule() -> Result<u64, PlatformError> {
    let pa = POOL
        .lock()
        .as_mut()
        .and_then(|p| p.take())
        .ok_or(PlatformError::NoMemory)?;
    let r = Region {
        base: pa,
        size: GRANULE,
    };
    domu::scrub(&[r]);
    cpu::clean_inval_dcache_range(pa as usize, GRANULE as usize);
    Ok(pa)
}

fn give_granule(pa: u64) {
    if let Some(p) = POOL.lock().as_mut() {
        if !p.give(pa) {
            warn!("created domains: granule {pa:#010x} given back twice: kept out of the pool");
        }
    }
}

/// Whether guest range `ipa..ipa + size` lies in Xen's first guest RAM bank
/// (`GUEST_RAM0`, `public/arch-arm.h`; the only one snowvisor populates).
fn in_ram0(ipa: u64, size: u64) -> bool {
    ipa >= gl::GUEST_RAM0_BASE
        && ipa
            .checked_add(size)
            .is_some_and(|e| e <= gl::GUEST_RAM0_BASE + gl::GUEST_RAM0_SIZE)
}

fn in_magic(ipa: u64) -> bool {
    (gl::GUEST_MAGIC_BASE..gl::GUEST_MAGIC_BASE + gl::GUEST_MAGIC_SIZE).contains(&ipa)
}

/// Gives a dying place's memory back if Dom0 maps none of its pages, and
/// frees the place. `wait`: take its lock (Dom0's hypercalls); else only
/// try it (any domain's lookups).
fn reclaim(s: &Slot, wait: bool) {
    let mut d = match wait {
        true => s.cell.lock(),
        false => match s.cell.try_lock() {
            Some(d) => d,
            None => return,
        },
    };
    let mut st = s.st.lock();
    if st.life != Life::Dying || s.view.close() > 0 {
        return;
    }
    let _ = s.view.clear_memory();
    // No TLB keeps a translation to memory that goes back to the pool (its
    // stage 2 is replaced at its next creation; none of its vCPUs runs).
    (crate::cpu::STAGE2_HOOKS.stage2_changed)();
    let mut bytes = 0;
    for (_, pa) in st.granules.drain(..) {
        give_granule(pa);
        bytes += GRANULE;
    }
    if let Some((pa, _)) = st.magic.take() {
        give_granule(pa);
        bytes += GRANULE;
    }
    d.memory.clear();
    *st = SlotState::default();
    crate::domains::set_flags(s.cell, &d, false, false, false);
    info!(
        "{}: destroyed: its {} MiB went back to the free pool ({} MiB free)",
        d.name,
        bytes >> 20,
        free_pages() >> 8
    );
}

/// Frees the dying places Dom0 no longer maps (tried, never waited for):
/// from the machine's list of domains, which Dom0's tools read after a
/// destroy.
pub fn reclaim_dying() {
    for s in slots() {
        reclaim(s, false);
    }
}

impl DomainControl for Control {
    fn create(&self, cfg: &NewDomain) -> Result<u16, PlatformError> {
        for s in slots() {
            reclaim(s, true);
        }
        let host = HOST.get().ok_or(PlatformError::NoMemory)?;
        // The ID asked for if it is free (`Busy`: taken), else the next
        // free one after the last given, as Xen's rover: an ID just given
        // up is not reused soon (libxl refuses one used in the last 60 s).
        let id = match cfg.domid {
            Some(id) if crate::domains::in_use(id) => return Err(PlatformError::Busy),
            Some(id) if id == 0 || id >= domid::FIRST_RESERVED => {
                return Err(PlatformError::BadAddress)
            }
            Some(id) => id,
            None => next_domid().ok_or(PlatformError::NoMemory)?,
        };
        let Some(s) = slots().iter().find(|s| s.st.lock().life == Life::Free) else {
            warn!(
                "created domains: not created: all {} places are taken (destroy one first)",
                slots().len()
            );
            return Err(PlatformError::NoMemory);
        };
        let n = cfg.max_vcpus as usize;
        let nr_spis = cfg.nr_spis;
        let lines = 32 + nr_spis.div_ceil(32) * 32;
        if n == 0 || n > s.cpus.len() {
            warn!(
                "created domains: not created: {n} vCPU(s); a created domain has 1 to {} (one per CPU of Pool-0 that no DomU has to itself)",
                s.cpus.len()
            );
            return Err(PlatformError::BadAddress);
        }
        if cfg.max_grant_frames > s.view.max_grant_frames() || lines > host.gic_lines.max(32) {
            warn!(
                "created domains: not created: {} grant frame(s) (at most {}), {nr_spis} SPI(s) (at most {})",
                cfg.max_grant_frames,
                s.view.max_grant_frames(),
                host.gic_lines.max(32) - 32
            );
            return Err(PlatformError::BadAddress);
        }
        let mut d = s.cell.lock();
        let mut st = s.st.lock();
        if st.life != Life::Free {
            return Err(PlatformError::Busy);
        }
        let stage2 = domu::stage2_for(&[], host.gicv).map_err(|_| PlatformError::NoMemory)?;
        let Some(old) = d.xen.take() else {
            return Err(PlatformError::NotSupported);
        };
        let mut frames = s.frames.lock();
        for (n, pa) in old.grant_frame_pas().into_iter().enumerate() {
            if frames.len() <= n {
                frames.resize(n + 1, None);
            }
            if pa.is_some() {
                frames[n] = pa;
            }
        }
        let mut old = old;
        let mut x = old.xen_mut().clone();
        drop(old);
        domu::zero_frames(&frames);
        let name = name_of(id);
        let xcfg = XenConfig {
            name,
            max_grant_frames: cfg.max_grant_frames.max(1),
            ..XenConfig::domu(id, n as u32)
        };
        // The configuration was checked above; a refusal keeps its last
        // life's state (the place stays free).
        let renewed = x.renew(xcfg, &mut crate::domains::links);
        // Its vCPUs' time counts from now (`xl list`'s Time(s)).
        x.start_runstates(now_ns());
        d.stage2.root_pa = stage2.root_pa();
        let mut xd = XenDom0::new_domu(x, stage2, Vec::new(), host.hyp, crate::cpu::STAGE2_HOOKS);
        xd.reuse_grant_frames(&frames);
        s.view.renew();
        s.view.set_handle(cfg.handle);
        xd.set_peer_view(s.view.clone());
        // Its grant table's first frame exists from the start: the
        // toolstack seeds its reserved entries through it
        // (`XENMEM_acquire_resource`, `xc_dom_gnttab_seed`).
        let frame0 = xd.grant_entry_pa(0);
        d.xen = Some(xd);
        if let Err(e) = renewed {
            warn!("{}: not created: {e}", d.name);
            return Err(PlatformError::BadAddress);
        }
        frame0?;
        d.id = id;
        d.name = name;
        d.log = GuestLog::new(name);
        s.view.set_domid(id);
        s.domid.store(id, Ordering::Release);
        (crate::cpu::STAGE2_HOOKS.stage2_changed)();
        d.vdist = VDist::new(lines, host.gic_iidr, n);
        d.vdist.give(host.vtimer_intid);
        d.vcpus = vcpu_states(&s.cpus, n);
        d.memory.clear();
        d.boot_dtb = None;
        d.stage2_faults = 0;
        d.cntvoff = domu::counter();
        d.state = DomainState::Running;
        d.paused = false;
        d.shutdown_code = 0;
        *st = SlotState {
            life: Life::Built,
            starts: alloc::vec![None; n],
            ..SlotState::default()
        };
        crate::domains::set_flags(s.cell, &d, true, true, false);
        if cfg.domid.is_none() {
            LAST.store(id, Ordering::Relaxed);
        }
        let list: Vec<_> = s.cpus[..n]
            .iter()
            .map(|(m, _)| format!("{m:#010x}"))
            .collect();
        info!(
            "{}: created by Dom0, paused: {n} vCPU(s) on the CPU(s) with MPIDR {}, VMID {}, {} SPI(s), up to {} grant frame(s); no RAM yet ({} MiB free in the pool)",
            d.name,
            list.join(", "),
            d.stage2.vmid,
            nr_spis,
            cfg.max_grant_frames,
            free_pages() >> 8
        );
        Ok(id)
    }

    fn destroy(&self, dom: u16) -> Result<(), PlatformError> {
        let s = slot(dom)?;
        {
            let mut d = s.cell.lock();
            let mut st = s.st.lock();
            match st.life {
                Life::Free => return Err(PlatformError::NotSupported),
                Life::Dying => return Ok(()),
                Life::Built | Life::Running => {}
            }
            if d.state == DomainState::Running {
                d.state = DomainState::Off;
            }
            d.paused = false;
            let mut cpus = 0u8;
            for v in d.vcpus.iter_mut() {
                if v.power != Power::Off || v.loaded {
                    cpus |= v.cpu_mask;
                }
                v.power = Power::Off;
                v.inbox.clear();
            }
            if d.vcpus.iter().any(|v| v.loaded) {
                // Their CPUs let go at the kick; Xen's `-EAGAIN`: again.
                kick(cpus);
                return Err(PlatformError::Busy);
            }
            // Its event channels close; other domains' ends are unbound.
            if let Some(x) = d.xen.as_mut() {
                x.xen_mut().restart(&mut crate::domains::links);
            }
            st.life = Life::Dying;
            s.view.close();
            crate::domains::set_flags(s.cell, &d, true, false, true);
            info!(
                "{}: destroyed by Dom0: its vCPUs are gone; its RAM goes back to the pool once Dom0 maps none of its pages",
                d.name
            );
        }
        // Xen's `domain_kill` tells the control domain (xenstored's
        // `@releaseDomain`): the Xen layer raises Dom0's VIRQ_DOM_EXC.
        reclaim(s, true);
        Ok(())
    }

    fn pause(&self, dom: u16, paused: bool) -> Result<(), PlatformError> {
        let s = slot(dom)?;
        let mut d = s.cell.lock();
        let mut st = s.st.lock();
        match (st.life, paused) {
            (Life::Free, _) => Err(PlatformError::NotSupported),
            (Life::Built, true) | (Life::Dying, _) => Ok(()),
            // Its vCPUs are held back (parked) on their CPUs, registers
            // kept, or let go on: the CPUs' schedulers see it at the kick.
            (Life::Running, _) => {
                let cpus = d.vcpus.iter().fold(0u8, |m, v| m | v.cpu_mask);
                if d.paused != paused {
                    d.paused = paused;
                    for v in d.vcpus.iter_mut() {
                        v.held = false;
                    }
                    crate::domains::set_flags(s.cell, &d, true, paused, false);
                    info!(
                        "{}: {} by Dom0",
                        d.name,
                        if paused { "paused" } else { "unpaused" }
                    );
                    kick(cpus);
                }
                // As Xen's `domain_pause` (`vcpu_sleep_sync`), the pause is
                // done once no vCPU of it can run: each loaded one held back
                // by its CPU (the kick); until then `Busy`, asked again.
                if paused && d.vcpus.iter().any(|v| v.loaded && !v.held) {
                    return Err(PlatformError::Busy);
                }
                Ok(())
            }
            (Life::Built, false) => {
                let mut cpus = 0u8;
                let mut started = 0;
                for (i, start) in st.starts.iter().enumerate() {
                    let Some(v) = start.filter(|v| v.online) else {
                        continue;
                    };
                    if let Some(vs) = d.vcpus.get_mut(i) {
                        vs.power = Power::OnPending {
                            entry: v.pc,
                            context: v.r[0],
                        };
                        cpus |= vs.cpu_mask;
                        started += 1;
                    }
                    if i == 0 {
                        d.boot_dtb = Some(v.r[2]);
                    }
                }
                // What Dom0 wrote through its cached maps reaches memory:
                // the guest starts with its MMU and caches off.
                for &(_, pa) in &st.granules {
                    cpu::clean_inval_dcache_range(pa as usize, GRANULE as usize);
                }
                if let Some((pa, _)) = st.magic {
                    cpu::clean_inval_dcache_range(pa as usize, GRANULE as usize);
                }
                // No CPU fetches a previous occupant's code from its caches.
                cpu::invalidate_icache_all_cpus();
                d.cntvoff = domu::counter();
                st.life = Life::Running;
                crate::domains::set_flags(s.cell, &d, true, false, false);
                info!(
                    "{}: unpaused by Dom0: {started} vCPU(s) start, {} MiB of RAM",
                    d.name,
                    st.pages >> 8
                );
                kick(cpus);
                Ok(())
            }
        }
    }

    fn set_vcpu_context(
        &self,
        dom: u16,
        vcpu: u32,
        start: &VcpuStart,
    ) -> Result<(), PlatformError> {
        let s = slot(dom)?;
        let mut d = s.cell.lock();
        let mut st = s.st.lock();
        match st.life {
            Life::Free | Life::Dying => return Err(PlatformError::NotSupported),
            Life::Running => return Err(PlatformError::Busy),
            Life::Built => {}
        }
        let slot = st
            .starts
            .get_mut(vcpu as usize)
            .ok_or(PlatformError::BadAddress)?;
        *slot = Some(*start);
        // Up (Xen: no `_VPF_down`), waiting for the unpause: counted online
        // (`xl list`'s VCPUs), not running.
        let state = if start.online {
            runstate::RUNNABLE
        } else {
            runstate::OFFLINE
        };
        if let Some(x) = d.xen.as_mut() {
            x.xen_mut().note_runstate(vcpu, state, now_ns());
        }
        Ok(())
    }

    fn populate(&self, dom: u16, gfn: u64, order: u32) -> Result<(), PlatformError> {
        let s = slot(dom)?;
        let pages = match order {
            0 => 1u64,
            9 => 512,
            _ => return Err(PlatformError::NotSupported),
        };
        let size = pages * PAGE;
        let ipa = gfn.checked_mul(PAGE).ok_or(PlatformError::BadAddress)?;
        if !ipa.is_multiple_of(size) {
            return Err(PlatformError::BadAddress);
        }
        let mut d = s.cell.lock();
        let mut st = s.st.lock();
        if !matches!(st.life, Life::Built | Life::Running) {
            return Err(PlatformError::NotSupported);
        }
        if let Some(max) = s.view.max_pages() {
            if st.pages + pages > max {
                return Err(PlatformError::NoMemory);
            }
        }
        if in_ram0(ipa, size) {
            let block = ipa & !(GRANULE - 1);
            let (pa_block, new) = match st.granules.iter().find(|g| g.0 == block) {
                Some(&(_, pa)) => (pa, false),
                None => (take_granule()?, true),
            };
            let pa = pa_block + (ipa - block);
            let r = match d.xen.as_mut() {
                Some(x) => x.add_ram(ipa, pa, size),
                None => Err(PlatformError::NotSupported),
            };
            if let Err(e) = r {
                if new {
                    give_granule(pa_block);
                }
                return Err(e);
            }
            if new {
                st.granules.push((block, pa_block));
            }
            s.view.add_ram(Extent { ipa, pa, size });
        } else if order == 0 && in_magic(ipa) {
            let (mpa, used) = match st.magic {
                Some(m) => m,
                None => (take_granule()?, 0),
            };
            st.magic = Some((mpa, used));
            if used >= GRANULE / PAGE {
                return Err(PlatformError::NoMemory);
            }
            let pa = mpa + used * PAGE;
            match d.xen.as_mut() {
                Some(x) => x.add_given(ipa, pa)?,
                None => return Err(PlatformError::NotSupported),
            }
            s.view.add_page(gfn, pa);
            st.magic = Some((mpa, used + 1));
        } else {
            return Err(PlatformError::BadAddress);
        }
        d.memory.push(Region { base: ipa, size });
        st.pages += pages;
        Ok(())
    }

    fn set_hvm_param(&self, dom: u16, index: u32, value: u64) -> Result<(), PlatformError> {
        let s = slot(dom)?;
        let mut d = s.cell.lock();
        let st = s.st.lock();
        if !matches!(st.life, Life::Built | Life::Running) {
            return Err(PlatformError::NotSupported);
        }
        let x = d.xen.as_mut().ok_or(PlatformError::NotSupported)?;
        if !x.xen_mut().set_hvm_param(index, value) {
            return Err(PlatformError::BadAddress);
        }
        s.view.set_param(index, value);
        Ok(())
    }

    fn alloc_unbound(&self, dom: u16, remote: u16) -> Result<u32, Errno> {
        let s = slot(dom).map_err(|_| Errno::ESRCH)?;
        let mut d = s.cell.lock();
        let st = s.st.lock();
        if !matches!(st.life, Life::Built | Life::Running) {
            return Err(Errno::ESRCH);
        }
        d.xen.as_mut().ok_or(Errno::ESRCH)?.alloc_unbound(remote)
    }

    fn cache_flush(&self, dom: u16, gfn: u64, nr: u64) -> Result<(), PlatformError> {
        let s = slot(dom)?;
        let _d = s.cell.lock();
        let st = s.st.lock();
        if st.life == Life::Free {
            return Err(PlatformError::NotSupported);
        }
        let start = gfn.checked_mul(PAGE).ok_or(PlatformError::BadAddress)?;
        let end = gfn
            .checked_add(nr)
            .and_then(|e| e.checked_mul(PAGE))
            .ok_or(PlatformError::BadAddress)?;
        for &(block, pa) in &st.granules {
            let (lo, hi) = (start.max(block), end.min(block + GRANULE));
            if lo < hi {
                cpu::clean_inval_dcache_range((pa + (lo - block)) as usize, (hi - lo) as usize);
            }
        }
        if let Some((pa, used)) = st.magic {
            cpu::clean_inval_dcache_range(pa as usize, (used * PAGE) as usize);
        }
        cpu::invalidate_icache_all_cpus();
        Ok(())
    }
}
