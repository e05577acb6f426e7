//! The `hypercall` fuzz target: Xen's hypercall dispatcher ([`Xen`]) over
//! snowvisor's real address space ([`Space`]) and stage-2 tables
//! ([`Stage2`]), with a model of physical memory behind them.
//!
//! The input is a short sequence of operations ([`Op`]): raw hypercalls with
//! any registers, and well-formed templates (grant map and unmap of Dom0's
//! own pages, grant entries written into a mapped grant frame, ballooning,
//! cache flushes, `add_to_physmap`, `vcpu_info` registration) whose numbers
//! come from small palettes, so that the deep paths are reached.
//!
//! Oracles (a violation panics):
//! - every byte the hypervisor reads or writes for the guest is Dom0's RAM or
//!   a grant frame snowvisor handed out, never its own memory or a device;
//! - stage 2 maps nothing else as RAM at any IPA an operation named;
//! - the device (MMIO) entries never change;
//! - every continuation of a hypercall changes its registers (progress), so
//!   re-issuing ends; the model re-issues up to [`MAX_CONTINUATIONS`] times.
//!
//! Every input runs twice: as Dom0, and as an unprivileged DomU (domain 1,
//! `XenConfig::domu`) next to a Dom0 it can name and send events to. As the
//! DomU, no `sysctl`, `domctl` or `platform_op` ever succeeds, the wall clock
//! is never set, `XENFEAT_dom0` is never reported, and events only ever go
//! to its own ports or Dom0's inbox.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use arbitrary::{Arbitrary, Unstructured};
use snowvisor_arm::lpae::Table;
use snowvisor_arm::stage2::{S2Entry, S2Mem, Stage2};
use snowvisor_core::domain::xen_space::{Hooks, Space, PAGE};
use snowvisor_dt::Region;
use snowvisor_xen::abi::layout::{
    GnttabCacheFlush, GnttabMapGrantRef, GnttabSetupTable, GnttabUnmapGrantRef, GrantEntryV1,
    VcpuRegisterVcpuInfo, XenAddToPhysmap, XenMemoryReservation,
};
use snowvisor_xen::abi::wire::Wire;
use snowvisor_xen::abi::{domid, gntmap, gnttabop, gtf, hc, vcpuop, xenmem};
use snowvisor_xen::{
    CacheOp, DomainInfo, EvtchnLinks, Fault, GuestMemory, Outcome, Platform, PlatformError,
    ShutdownReason, Xen, XenConfig, XenFrame,
};

/// Dom0's RAM (IPA == PA).
const RAM: Region = Region {
    base: 0x4000_0000,
    size: 0x0400_0000,
};
/// snowvisor's own memory; grant frames come from its top.
const HYP: Region = Region {
    base: 0x3f00_0000,
    size: 0x0100_0000,
};
/// Device pages in Dom0's stage 2: a UART and the GIC CPU interface.
const DEVICES: [u64; 3] = [0x0900_0000, 0x0801_0000, 0x0801_1000];
/// The DT's grant-table window (a hole in stage 2).
const GRANT_WINDOW: u64 = 0xfff0_0000;
/// Linux's lowmem: VA `KVA + off` is IPA `RAM.base + off`.
const KVA: u32 = 0xc000_0000;
/// Scratch page for hypercall arguments (VA), and its IPA.
const ARG_VA: u32 = KVA + 0x10_0000;
const LIST_VA: u32 = KVA + 0x10_1000;
/// Grant references the templates use (few, so that entries and maps meet).
const GREFS: u16 = 8;
/// Re-issues of one continued hypercall the model makes; a guest may stop
/// re-issuing whenever it likes, and a longer call only repeats the same work
/// on further elements (it also keeps the fuzzer fast).
pub const MAX_CONTINUATIONS: u32 = 256;

/// Physical memory: pages materialise on first write; reads of others are 0.
#[derive(Default)]
struct Phys {
    pages: BTreeMap<u64, Box<[u8; PAGE as usize]>>,
    /// Grant frames snowvisor handed out (PA).
    handed_out: BTreeSet<u64>,
    next_frame: u64,
}

thread_local! {
    static PHYS: RefCell<Phys> = RefCell::new(Phys::default());
}

fn alloc_page() -> Option<u64> {
    PHYS.with(|p| {
        let mut p = p.borrow_mut();
        if p.next_frame >= 64 {
            return None;
        }
        let pa = HYP.end() - (p.next_frame + 1) * PAGE;
        p.next_frame += 1;
        p.handed_out.insert(pa);
        p.pages.insert(pa, Box::new([0; PAGE as usize]));
        Some(pa)
    })
}

/// The first oracle: `pa..pa+len` is Dom0's RAM or a handed-out frame.
fn allowed(pa: u64, len: usize) {
    let page = pa & !(PAGE - 1);
    assert!(
        (pa & (PAGE - 1)) + len as u64 <= PAGE,
        "access {pa:#x}+{len} crosses a page"
    );
    let ram = RAM.contains(&Region {
        base: pa,
        size: len.max(1) as u64,
    }) && !HYP.overlaps(&Region {
        base: pa,
        size: len.max(1) as u64,
    });
    let frame = PHYS.with(|p| p.borrow().handed_out.contains(&page));
    assert!(ram || frame, "hypervisor touched PA {pa:#x}+{len}");
}

fn phys_read(pa: u64, out: &mut [u8]) {
    allowed(pa, out.len());
    PHYS.with(|p| {
        let p = p.borrow();
        let off = (pa & (PAGE - 1)) as usize;
        match p.pages.get(&(pa & !(PAGE - 1))) {
            Some(pg) => out.copy_from_slice(&pg[off..off + out.len()]),
            None => out.fill(0),
        }
    })
}

fn phys_write(pa: u64, data: &[u8]) {
    allowed(pa, data.len());
    PHYS.with(|p| {
        let mut p = p.borrow_mut();
        let off = (pa & (PAGE - 1)) as usize;
        let pg = p
            .pages
            .entry(pa & !(PAGE - 1))
            .or_insert_with(|| Box::new([0; PAGE as usize]));
        pg[off..off + data.len()].copy_from_slice(data);
    })
}

/// A wire struct with every field 0.
fn zeroed<T: Wire>() -> T {
    T::decode(&[0; 256]).expect("wire structs are under 256 bytes")
}

fn table_addr(t: &Table) -> u64 {
    t as *const Table as u64 & 0xff_ffff_f000
}

/// Dom0 as the hypervisor sees it: the Xen state and the address space.
struct World {
    xen: Xen,
    /// The other domain's event-channel links (Dom0's for a DomU run).
    peer: Arc<EvtchnLinks>,
    kicks: u64,
    space: RefCell<Space>,
    devices: Vec<Option<S2Entry>>,
    /// IPAs the operations named, checked after each call.
    named: BTreeSet<u64>,
    /// (handle, host address) of the grant maps that succeeded.
    mapped: Vec<(u32, u64)>,
    stats: Stats,
}

/// What a run reached: how many hypercalls, and how many of the templated
/// operations succeeded (proof that the templates reach the deep paths).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Hypercalls issued, continuations included.
    pub calls: u64,
    pub grant_maps: u64,
    pub grant_unmaps: u64,
    /// Extents a balloon call moved.
    pub ballooned: u64,
    pub cache_flushes: u64,
    pub physmap_adds: u64,
}

impl std::ops::AddAssign for Stats {
    fn add_assign(&mut self, o: Stats) {
        self.calls += o.calls;
        self.grant_maps += o.grant_maps;
        self.grant_unmaps += o.grant_unmaps;
        self.ballooned += o.ballooned;
        self.cache_flushes += o.cache_flushes;
        self.physmap_adds += o.physmap_adds;
    }
}

struct Mem<'a>(&'a RefCell<Space>);

impl Mem<'_> {
    /// Stage 1 (Linux's linear map) and stage 2, as the CPU's AT would.
    fn va_pa(&self, va: u32, write: bool) -> Result<u64, Fault> {
        let off = va.checked_sub(KVA).ok_or(Fault::Unmapped(va.into()))?;
        if u64::from(off) >= RAM.size {
            return Err(Fault::Unmapped(va.into()));
        }
        let ipa = RAM.base + u64::from(off);
        let sp = self.0.borrow();
        let e = sp.stage2().entry(ipa).ok_or(Fault::Unmapped(va.into()))?;
        if e.mem != S2Mem::Ram || (write && !e.writable) {
            return Err(Fault::Unmapped(va.into()));
        }
        sp.check_va_pa(va, e.pa)
    }

    fn by_page(
        &self,
        gva: u32,
        len: usize,
        write: bool,
        mut f: impl FnMut(u64, usize, usize),
    ) -> Result<(), Fault> {
        let mut done = 0;
        while done < len {
            let va = u32::try_from(done)
                .ok()
                .and_then(|d| gva.checked_add(d))
                .ok_or(Fault::Unmapped(gva.into()))?;
            let n = (len - done).min((PAGE - u64::from(va & 0xfff)) as usize);
            f(self.va_pa(va, write)?, done, n);
            done += n;
        }
        Ok(())
    }
}

impl GuestMemory for Mem<'_> {
    fn read(&mut self, gva: u32, buf: &mut [u8]) -> Result<(), Fault> {
        let len = buf.len();
        self.by_page(gva, len, false, |pa, at, n| {
            phys_read(pa, &mut buf[at..at + n])
        })
    }
    fn write(&mut self, gva: u32, data: &[u8]) -> Result<(), Fault> {
        self.by_page(gva, data.len(), true, |pa, at, n| {
            phys_write(pa, &data[at..at + n])
        })
    }
    fn read_ipa(&mut self, ipa: u64, buf: &mut [u8]) -> Result<(), Fault> {
        let pa = self.0.borrow().ipa_pa(ipa, buf.len(), false)?;
        phys_read(pa, buf);
        Ok(())
    }
    fn write_ipa(&mut self, ipa: u64, data: &[u8]) -> Result<(), Fault> {
        let pa = self.0.borrow().ipa_pa(ipa, data.len(), true)?;
        phys_write(pa, data);
        Ok(())
    }
}

struct Plat<'a> {
    space: &'a RefCell<Space>,
    peer: &'a Arc<EvtchnLinks>,
    kicks: &'a mut u64,
}

/// Domains 0 and 1, as a platform lists them.
fn listed(domid: u16) -> DomainInfo {
    DomainInfo {
        domid,
        name: if domid == 0 { "Domain-0" } else { "domU1" },
        tot_pages: RAM.size >> 12,
        max_pages: RAM.size >> 12,
        nr_vcpus: 1,
        nr_online_vcpus: 1,
        running: true,
        blocked: false,
        paused: false,
        shutdown: None,
        dying: false,
        cpu_time_ns: 0,
        shared_info_gfn: 0,
        nr_spis: 0,
        handle: [0; 16],
    }
}

impl Platform for Plat<'_> {
    fn domain_info(&mut self, first: u16) -> Option<DomainInfo> {
        (first <= 1).then(|| listed(first))
    }
    fn evtchn_peer(&mut self, domid: u16) -> Option<Arc<EvtchnLinks>> {
        (domid == self.peer.domid()).then(|| self.peer.clone())
    }
    fn kick_domain(&mut self, domid: u16) {
        assert_eq!(domid, self.peer.domid(), "kicked a domain it cannot reach");
        *self.kicks += 1;
    }
    fn current_vcpu(&self) -> u32 {
        0
    }
    fn console_write(&mut self, bytes: &[u8]) {
        assert!(bytes.len() <= 128, "console chunk of {} bytes", bytes.len());
    }
    fn shutdown(&mut self, _reason: ShutdownReason) -> Result<(), PlatformError> {
        Ok(())
    }
    fn map_frame(&mut self, frame: XenFrame, gfn: u64) -> Result<(), PlatformError> {
        self.space.borrow_mut().map_frame(frame, gfn)
    }
    fn map_grant(&mut self, host: u64, frame: u64, ro: bool) -> Result<u64, PlatformError> {
        self.space.borrow_mut().map_grant(host, frame, ro)
    }
    fn unmap_grant(&mut self, host: u64, frame: u64) -> Result<(), PlatformError> {
        self.space.borrow_mut().unmap_grant(host, frame)
    }
    fn ram_pages(&self) -> u32 {
        self.space.borrow().ram_pages()
    }
    fn release_frame(&mut self, gfn: u64) -> Result<(), PlatformError> {
        self.space.borrow_mut().release_frame(gfn)
    }
    fn populate_frame(&mut self, gfn: u64) -> Result<(), PlatformError> {
        self.space.borrow_mut().populate_frame(gfn)
    }
    fn inject_upcall(&mut self, _vcpu: u32) {}
    fn cache_flush(&mut self, ipa: u64, len: u32, _op: CacheOp) -> Result<(), PlatformError> {
        let pa = self.space.borrow().cache_flush_pa(ipa, len)?;
        allowed(pa, len as usize);
        Ok(())
    }
}

/// A guest frame number from a palette that reaches every kind of IPA.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Gfn {
    Ram(u16),
    Device(u8),
    Hyp(u16),
    GrantWindow(u8),
    High(u8),
    Any(u64),
}

impl Gfn {
    fn get(self) -> u64 {
        match self {
            Gfn::Ram(i) => (RAM.base >> 12) + u64::from(i) % (RAM.size >> 12),
            Gfn::Device(i) => DEVICES[usize::from(i) % DEVICES.len()] >> 12,
            Gfn::Hyp(i) => (HYP.base >> 12) + u64::from(i) % (HYP.size >> 12),
            Gfn::GrantWindow(i) => (GRANT_WINDOW >> 12) + u64::from(i % 64),
            Gfn::High(i) => (1 << 20) - 1 - u64::from(i),
            Gfn::Any(g) => g,
        }
    }
}

/// One step of a fuzz input.
#[derive(Debug, Arbitrary)]
pub enum Op {
    /// Any hypercall number and registers (pointers mostly wild).
    Raw {
        nr: u8,
        args: [u32; 5],
    },
    /// A raw call whose second argument points at `body` in guest memory.
    WithArg {
        nr: u8,
        cmd: u8,
        body: Vec<u8>,
    },
    AddToPhysmap {
        space: u8,
        idx: u16,
        gfn: Gfn,
    },
    SetupTable {
        frames: u8,
    },
    /// Writes a grant entry into grant frame `frame` through its IPA mapping.
    GrantEntry {
        frame: u8,
        gref: u16,
        flags: u8,
        target: Gfn,
    },
    MapGrant {
        gref: u16,
        host: Gfn,
        flags: u8,
        self_dom: bool,
    },
    /// Unmaps `handle` at `host`; `None`: a mapping this run made.
    UnmapGrant {
        handle: u8,
        host: Option<Gfn>,
        bus: Option<Gfn>,
    },
    Balloon {
        cmd: u8,
        gfns: Vec<Gfn>,
        order: u8,
    },
    CacheFlush {
        gref_or_bus: Gfn,
        by_ref: bool,
        offset: u16,
        len: u16,
        op: u8,
    },
    VcpuInfo {
        gfn: Gfn,
        offset: u16,
    },
}

const NRS: [u32; 12] = [
    hc::MEMORY_OP,
    hc::GRANT_TABLE_OP,
    hc::EVENT_CHANNEL_OP,
    hc::VCPU_OP,
    hc::HVM_OP,
    hc::CONSOLE_IO,
    hc::SCHED_OP,
    hc::XEN_VERSION,
    hc::PLATFORM_OP,
    hc::SYSCTL,
    hc::VM_ASSIST,
    hc::MULTICALL,
];

impl World {
    fn new(domu: bool) -> Self {
        PHYS.with(|p| *p.borrow_mut() = Phys::default());
        let mut s2 = Box::new(Stage2::new(table_addr));
        s2.map(RAM.base, RAM.base, RAM.size, S2Mem::Ram).unwrap();
        for d in DEVICES {
            s2.map(d, d, PAGE, S2Mem::Device).unwrap();
        }
        let devices = DEVICES.iter().map(|&d| s2.entry(d)).collect();
        let space = Space::new(
            s2,
            vec![RAM],
            HYP,
            64,
            Hooks {
                alloc_page,
                stage2_changed: || {},
            },
        );
        let (cfg, peer) = if domu {
            (XenConfig::domu(1, 1), 0)
        } else {
            (XenConfig::dom0(1, true), 1)
        };
        World {
            xen: Xen::new(cfg).unwrap(),
            peer: Arc::new(EvtchnLinks::new(peer, 1024)),
            kicks: 0,
            space: RefCell::new(space),
            devices,
            named: BTreeSet::new(),
            mapped: Vec::new(),
            stats: Stats::default(),
        }
    }

    /// Reads a struct back (zeroed if the guest made the page unreachable,
    /// e.g. ballooned it out).
    fn get<T: Wire>(&mut self, va: u32) -> T {
        let mut b = vec![0u8; T::SIZE];
        let _ = Mem(&self.space).read(va, &mut b);
        T::decode(&b).unwrap()
    }

    /// Writes a struct as the guest would; a page the guest gave away or
    /// replaced stays as it is, and the call then sees whatever is there.
    fn put<T: Wire>(&mut self, va: u32, v: &T) {
        let mut b = vec![0u8; T::SIZE];
        v.encode(&mut b).unwrap();
        let _ = Mem(&self.space).write(va, &b);
    }

    /// Issues a hypercall and its continuations. The continuation oracle:
    /// each one changes the registers (it made progress), so a guest that
    /// keeps re-issuing reaches the end.
    fn call(&mut self, nr: u32, mut args: [u32; 5]) -> i32 {
        for _ in 0..MAX_CONTINUATIONS {
            self.stats.calls += 1;
            let mut plat = Plat {
                space: &self.space,
                peer: &self.peer,
                kicks: &mut self.kicks,
            };
            let o = self
                .xen
                .hypercall(&mut Mem(&self.space), &mut plat, nr, args);
            match o {
                Outcome::Return(r) => {
                    if self.xen.config().domid != 0
                        && [hc::SYSCTL, hc::DOMCTL, hc::PLATFORM_OP].contains(&nr)
                    {
                        assert!(r < 0, "privileged hypercall {nr} returned {r} to a DomU");
                    }
                    return r;
                }
                Outcome::Continue(regs) => {
                    assert_ne!(
                        regs, args,
                        "hypercall {nr}: a continuation made no progress"
                    );
                    args = regs;
                }
            }
        }
        0
    }

    fn name(&mut self, g: Gfn) -> u64 {
        let gfn = g.get();
        if gfn < 1 << 20 {
            self.named.insert(gfn << 12);
        }
        gfn
    }

    fn step(&mut self, op: &Op) {
        let arg = ARG_VA;
        match op {
            Op::Raw { nr, args } => {
                self.call(NRS[usize::from(*nr) % NRS.len()], *args);
            }
            Op::WithArg { nr, cmd, body } => {
                let n = body.len().min(PAGE as usize);
                let _ = Mem(&self.space).write(arg, &body[..n]);
                let nr = NRS[usize::from(*nr) % NRS.len()];
                self.call(nr, [u32::from(*cmd) % 32, arg, 1, 0, 0]);
            }
            Op::AddToPhysmap { space, idx, gfn } => {
                let gpfn = self.name(*gfn);
                self.put(
                    arg,
                    &XenAddToPhysmap {
                        domid: domid::SELF,
                        size: 0,
                        space: u32::from(*space % 6),
                        idx: u64::from(*idx % 80),
                        gpfn,
                    },
                );
                if self.call(hc::MEMORY_OP, [xenmem::ADD_TO_PHYSMAP, arg, 0, 0, 0]) == 0 {
                    self.stats.physmap_adds += 1;
                }
            }
            Op::SetupTable { frames } => {
                self.put(
                    arg,
                    &GnttabSetupTable {
                        dom: domid::SELF,
                        nr_frames: u32::from(*frames % 70),
                        frame_list: u64::from(LIST_VA),
                        ..zeroed()
                    },
                );
                self.call(hc::GRANT_TABLE_OP, [gnttabop::SETUP_TABLE, arg, 1, 0, 0]);
            }
            Op::GrantEntry {
                frame,
                gref,
                flags,
                target,
            } => {
                let frame_gfn = (GRANT_WINDOW >> 12) + u64::from(*frame % 2);
                let e = GrantEntryV1 {
                    flags: gtf::PERMIT_ACCESS | (u16::from(*flags) & !gtf::TYPE_MASK) & 0x1c,
                    domid: 0,
                    frame: self.name(*target) as u32,
                };
                let mut b = [0u8; 8];
                e.encode(&mut b).unwrap();
                let ipa = (frame_gfn << 12) + u64::from(*gref % GREFS) * 8;
                let _ = Mem(&self.space).write_ipa(ipa, &b);
            }
            Op::MapGrant {
                gref,
                host,
                flags,
                self_dom,
            } => {
                let host_addr = self.name(*host) << 12;
                self.put(
                    arg,
                    &GnttabMapGrantRef {
                        host_addr,
                        // Mostly what Linux asks (a host map, maybe read-only);
                        // with bit 7 set, any of the five flags.
                        flags: if flags & 0x80 != 0 {
                            u32::from(*flags & 0x1f)
                        } else {
                            gntmap::HOST_MAP | (u32::from(*flags & 1) * gntmap::READONLY)
                        },
                        gref: u32::from(*gref % GREFS),
                        dom: if *self_dom { domid::SELF } else { 0 },
                        ..zeroed()
                    },
                );
                self.call(hc::GRANT_TABLE_OP, [gnttabop::MAP_GRANT_REF, arg, 1, 0, 0]);
                let done = self.get::<GnttabMapGrantRef>(arg);
                if done.status == 0 {
                    self.stats.grant_maps += 1;
                    self.mapped.push((done.handle, host_addr));
                }
            }
            Op::UnmapGrant { handle, host, bus } => {
                let recorded = self
                    .mapped
                    .get(usize::from(*handle) % self.mapped.len().max(1));
                let (handle, host_addr) = match (host, recorded) {
                    (None, Some(&m)) => m,
                    (None, None) => (u32::from(*handle % 16), RAM.base),
                    (Some(h), _) => (u32::from(*handle % 16), self.name(*h) << 12),
                };
                let dev_bus_addr = bus.map_or(0, |b| self.name(b) << 12);
                self.put(
                    arg,
                    &GnttabUnmapGrantRef {
                        host_addr,
                        dev_bus_addr,
                        handle,
                        ..zeroed()
                    },
                );
                self.call(
                    hc::GRANT_TABLE_OP,
                    [gnttabop::UNMAP_GRANT_REF, arg, 1, 0, 0],
                );
                if self.get::<GnttabUnmapGrantRef>(arg).status == 0 {
                    self.stats.grant_unmaps += 1;
                }
            }
            Op::Balloon { cmd, gfns, order } => {
                let gfns: Vec<u64> = gfns.iter().take(64).map(|g| self.name(*g)).collect();
                let list: Vec<u8> = gfns.iter().flat_map(|g| g.to_le_bytes()).collect();
                let _ = Mem(&self.space).write(LIST_VA, &list);
                let cmd = [
                    xenmem::DECREASE_RESERVATION,
                    xenmem::POPULATE_PHYSMAP,
                    xenmem::INCREASE_RESERVATION,
                ][usize::from(*cmd) % 3];
                self.put(
                    arg,
                    &XenMemoryReservation {
                        extent_start: u64::from(LIST_VA),
                        nr_extents: gfns.len() as u64,
                        extent_order: u32::from(*order % 4),
                        domid: domid::SELF,
                        ..zeroed()
                    },
                );
                let r = self.call(hc::MEMORY_OP, [cmd, arg, 0, 0, 0]);
                self.stats.ballooned += u64::try_from(r).unwrap_or(0);
            }
            Op::CacheFlush {
                gref_or_bus,
                by_ref,
                offset,
                len,
                op,
            } => {
                let g = self.name(*gref_or_bus);
                self.put(
                    arg,
                    &GnttabCacheFlush {
                        a: if *by_ref {
                            g % u64::from(GREFS)
                        } else {
                            g << 12
                        },
                        offset: *offset % 4200,
                        length: *len % 4200,
                        op: u32::from(*op % 4)
                            | if *by_ref {
                                gntmap::CACHE_SOURCE_GREF
                            } else {
                                0
                            },
                    },
                );
                if self.call(hc::GRANT_TABLE_OP, [gnttabop::CACHE_FLUSH, arg, 1, 0, 0]) == 0 {
                    self.stats.cache_flushes += 1;
                }
            }
            Op::VcpuInfo { gfn, offset } => {
                let mfn = self.name(*gfn);
                self.put(
                    arg,
                    &VcpuRegisterVcpuInfo {
                        mfn,
                        offset: u32::from(*offset % 4200),
                        rsvd: 0,
                    },
                );
                self.call(hc::VCPU_OP, [vcpuop::REGISTER_VCPU_INFO, 0, arg, 0, 0]);
            }
        }
        self.check();
    }

    /// The stage-2 oracles, after every operation.
    fn check(&self) {
        let sp = self.space.borrow();
        let s2 = sp.stage2();
        for (d, before) in DEVICES.iter().zip(&self.devices) {
            assert_eq!(&s2.entry(*d), before, "device entry at {d:#x} changed");
        }
        for &ipa in &self.named {
            if let Some(e) = s2.entry(ipa) {
                if e.mem == S2Mem::Ram {
                    allowed(e.pa, PAGE as usize);
                }
            }
        }
    }
}

/// Runs one input, as Dom0 and as a DomU. Panics when an oracle fails.
pub fn run(data: &[u8]) -> Stats {
    let ops = ops(data);
    let mut s = run_ops(&ops);
    s += run_as(&ops, true);
    s
}

/// The operations an input stands for (at most 32).
pub fn ops(data: &[u8]) -> Vec<Op> {
    let mut u = Unstructured::new(data);
    let mut ops = Vec::new();
    while ops.len() < 32 {
        let Ok(op) = Op::arbitrary(&mut u) else { break };
        ops.push(op);
        if u.is_empty() {
            break;
        }
    }
    ops
}

/// Runs a sequence of operations on a freshly booted Dom0.
pub fn run_ops(ops: &[Op]) -> Stats {
    run_as(ops, false)
}

/// Runs a sequence of operations on a freshly booted Dom0 or DomU.
pub fn run_as(ops: &[Op], domu: bool) -> Stats {
    let mut w = World::new(domu);
    // Boot-time setup as Linux does it, so that grant ops find a table.
    w.put(
        ARG_VA,
        &XenAddToPhysmap {
            domid: domid::SELF,
            size: 0,
            space: xenmem::SPACE_GRANT_TABLE,
            idx: 0,
            gpfn: GRANT_WINDOW >> 12,
        },
    );
    w.call(hc::MEMORY_OP, [xenmem::ADD_TO_PHYSMAP, ARG_VA, 0, 0, 0]);
    for (i, op) in ops.iter().enumerate() {
        w.step(op);
        if domu {
            // Dom0 sends on some port; the DomU drains its inbox.
            w.xen.evtchn_links().post(
                i as u32 * 37 % 1024,
                snowvisor_xen::Link::Interdomain {
                    remote_dom: 0,
                    remote_port: i as u32 % 4096,
                },
            );
            let mut plat = Plat {
                space: &w.space,
                peer: &w.peer,
                kicks: &mut w.kicks,
            };
            w.xen.drain_inbox(&mut Mem(&w.space), &mut plat);
            assert!(w.xen.wallclock().is_none(), "a DomU set the wall clock");
            assert_eq!(
                w.xen.features() & 1 << snowvisor_xen::abi::xenfeat::DOM0,
                0,
                "a DomU is told it is Dom0"
            );
        }
    }
    w.stats
}
