//! The machine's list of domains as the Xen ABI sees it (`hal::Services`'
//! `domain_info`, `evtchn_peer`, `kick_domain`): published once, before any
//! vCPU runs, then only read.
//!
//! A domain's hypercall runs under its own lock and must never wait for
//! another domain's: what another domain looks like now (vCPUs online,
//! running, shut down) is read with a try-lock that gives up at once, and
//! a domain that is busy is reported as last seen. Event channels reach
//! the other domain only through its lock-free links and a kick.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU16, Ordering};

use snowvisor_core::domain::peer_view::PeerView;
use snowvisor_core::domain::{Domain, DomainState};
use snowvisor_core::vcpu::DomainCell;
use snowvisor_xen::{DomainInfo, EvtchnLinks, HostInfo, VcpuInfo};

/// One domain.
pub struct Entry {
    /// Its domain ID (a place for the domains Dom0 creates takes a new one
    /// each life: [`set_flags`]).
    domid: AtomicU16,
    pub cell: &'static DomainCell,
    /// Its event-channel links (`None`: no Xen ABI).
    pub links: Option<Arc<EvtchnLinks>>,
    /// What Dom0 may reach of it (a DomU with the Xen ABI).
    pub view: Option<Arc<PeerView>>,
    /// GIC CPU-interface bits of the CPUs its vCPUs run on (kicks).
    pub cpus: u8,
    /// Per vCPU: the number of the CPU it is pinned to (its place in
    /// [`crate::smp::online`], the boot CPU 0), as Xen's `v->processor`.
    vcpu_cpus: Vec<u32>,
    /// Its info as last read.
    last: spin::Mutex<DomainInfo>,
    /// Its vCPUs as last read.
    last_vcpus: spin::Mutex<Vec<VcpuInfo>>,
    /// The ID of its cpupool (fixed at boot).
    cpupool: u32,
    /// In the list (a domain built at boot, or one Dom0 created and has
    /// not destroyed yet: [`crate::domain::created`]).
    listed: AtomicBool,
    /// Paused by Dom0 (`XEN_DOMINF_paused`).
    paused: AtomicBool,
    /// Destroyed, its memory not given back yet (`XEN_DOMINF_dying`).
    dying: AtomicBool,
}

/// The machine for `XEN_SYSCTL_physinfo`, set once at boot.
static HOST: spin::Once<HostInfo> = spin::Once::new();

/// Publishes the machine's CPUs and memory (once, once the CPUs are up).
pub fn publish_host(h: HostInfo) {
    HOST.call_once(|| h);
}

/// `Services::host_info`.
pub fn host() -> Option<HostInfo> {
    HOST.get().copied()
}

/// A domain's vCPUs (under its lock), `cpu` left 0.
fn read_vcpus(d: &Domain) -> Vec<VcpuInfo> {
    (0..d.vcpus.len() as u32)
        .map(|v| match d.xen.as_ref() {
            Some(x) => x.vcpu_info(v),
            None => {
                let on = d.vcpus[v as usize].power == snowvisor_core::psci::Power::On;
                VcpuInfo {
                    online: on,
                    running: on,
                    ..VcpuInfo::default()
                }
            }
        })
        .collect()
}

static LIST: spin::Once<Vec<Entry>> = spin::Once::new();

/// A domain's info from its state (under its lock).
fn read(d: &Domain) -> DomainInfo {
    let pages = d.memory.iter().map(|r| r.size >> 12).sum::<u64>();
    let mut i = match d.xen.as_ref() {
        Some(x) => x.info(),
        None => {
            let online = d
                .vcpus
                .iter()
                .filter(|v| v.power == snowvisor_core::psci::Power::On)
                .count() as u32;
            DomainInfo::new(d.id, d.name, pages, d.vcpus.len() as u32, online)
        }
    };
    i.domid = d.id;
    i.tot_pages = pages;
    i.max_pages = pages;
    if d.id == 0 {
        i.name = "Domain-0";
    }
    match d.state {
        DomainState::Running => {}
        // Why it ended (SHUTDOWN_poweroff, _reboot when it cannot
        // restart itself: the toolstack restarts it, ...), SHUTDOWN_reboot
        // while it restarts, SHUTDOWN_crash (public/sched.h).
        DomainState::Off => i.shutdown = Some(d.shutdown_code),
        DomainState::Restarting => i.shutdown = Some(1),
        DomainState::Crashed => i.shutdown = Some(3),
    }
    if i.shutdown.is_some() {
        (i.running, i.blocked, i.nr_online_vcpus) = (false, false, 0);
    }
    i
}

/// Publishes the domains (Dom0 first, then the DomUs in id order), each
/// with its cpupool's ID and whether it is listed now (the places of the
/// domains Dom0 creates are not, until it does); once, before any of
/// their vCPUs runs. `online` is `smp::online()`: the CPUs up, numbered by
/// their place in it.
pub fn publish(cells: &[(&'static DomainCell, u32, bool)], online: &[(u32, u8)]) {
    LIST.call_once(|| {
        cells
            .iter()
            .map(|&(cell, cpupool, listed)| {
                let d = cell.lock();
                let vcpu_cpus = d
                    .vcpus
                    .iter()
                    .map(|v| {
                        online
                            .iter()
                            .position(|&(_, m)| m == v.cpu_mask)
                            .unwrap_or(0) as u32
                    })
                    .collect();
                Entry {
                    domid: AtomicU16::new(d.id),
                    cell,
                    links: d.xen.as_ref().map(|x| x.evtchn_links()),
                    view: d.xen.as_ref().and_then(|x| x.peer_view()),
                    cpus: d.vcpus.iter().fold(0, |m, v| m | v.cpu_mask),
                    vcpu_cpus,
                    last: spin::Mutex::new(read(&d)),
                    last_vcpus: spin::Mutex::new(read_vcpus(&d)),
                    cpupool,
                    listed: AtomicBool::new(listed),
                    paused: AtomicBool::new(false),
                    dying: AtomicBool::new(false),
                }
            })
            .collect()
    });
}

impl Entry {
    fn domid(&self) -> u16 {
        self.domid.load(Ordering::Acquire)
    }
}

/// Whether domain ID `domid` is taken: a domain listed under it.
pub fn in_use(domid: u16) -> bool {
    by_id(domid).is_some()
}

fn entries() -> &'static [Entry] {
    LIST.get().map_or(&[], |l| &l[..])
}

fn by_id(domid: u16) -> Option<&'static Entry> {
    entries()
        .iter()
        .find(|e| e.domid() == domid && e.listed.load(Ordering::Acquire))
}

/// Marks the domain of `cell` (a place for the domains Dom0 creates) as
/// listed or not, paused or not, dying or not, under its ID now, and reads
/// its info again (`d`: the domain, under its lock, which the caller
/// holds); false if there is no such place.
pub fn set_flags(cell: &DomainCell, d: &Domain, listed: bool, paused: bool, dying: bool) -> bool {
    let Some(e) = entries().iter().find(|e| core::ptr::eq(e.cell, cell)) else {
        return false;
    };
    e.domid.store(d.id, Ordering::Release);
    *e.last.lock() = read(d);
    *e.last_vcpus.lock() = read_vcpus(d);
    e.paused.store(paused, Ordering::Release);
    e.dying.store(dying, Ordering::Release);
    e.listed.store(listed, Ordering::Release);
    true
}

/// `Services::domain_info`: the domain with the lowest id at least `first`.
pub fn info(first: u16) -> Option<DomainInfo> {
    // A destroyed domain's memory goes back once Dom0 let go of its pages;
    // Dom0's tools read the list after that.
    #[cfg(target_arch = "arm")]
    crate::domain::created::reclaim_dying();
    let e = entries()
        .iter()
        .filter(|e| e.domid() >= first && e.listed.load(Ordering::Acquire))
        .min_by_key(|e| e.domid())?;
    if let Some(d) = e.cell.try_lock() {
        *e.last.lock() = read(&d);
    }
    let mut i = *e.last.lock();
    i.cpupool = e.cpupool;
    if e.paused.load(Ordering::Acquire) {
        // A paused domain's vCPUs neither run nor block (Xen's
        // getdomaininfo: `--p---` in `xl list`).
        (i.paused, i.running, i.blocked) = (true, false, false);
    }
    i.dying |= e.dying.load(Ordering::Acquire);
    // What Dom0 set (`XEN_DOMCTL_max_mem`, `setdomainhandle`, as
    // `init-dom0less` does), current even when the domain is busy.
    if let Some(v) = &e.view {
        i.max_pages = v.max_pages().unwrap_or(i.max_pages);
        i.handle = v.handle();
    }
    Some(i)
}

/// `Services::vcpu_info`: a vCPU as last seen (the domain's lock is only
/// tried), on the CPU it is pinned to.
pub fn vcpu_info(domid: u16, vcpu: u32) -> Option<VcpuInfo> {
    let e = by_id(domid)?;
    let cpu = *e.vcpu_cpus.get(vcpu as usize)?;
    if let Some(d) = e.cell.try_lock() {
        *e.last_vcpus.lock() = read_vcpus(&d);
    }
    let v = *e.last_vcpus.lock().get(vcpu as usize)?;
    Some(VcpuInfo { cpu, ..v })
}

/// `Services::evtchn_peer`.
pub fn links(domid: u16) -> Option<Arc<EvtchnLinks>> {
    by_id(domid)?.links.clone()
}

/// `Services::peer_view`.
pub fn peer_view(domid: u16) -> Option<Arc<PeerView>> {
    by_id(domid)?.view.clone()
}

/// `Services::kick_domain`: the CPUs of its vCPUs.
pub fn kick_mask(domid: u16) -> Option<u8> {
    by_id(domid).map(|e| e.cpus)
}
