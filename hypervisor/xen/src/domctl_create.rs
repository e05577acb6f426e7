//! The `domctl` commands with which the control domain builds, starts and
//! ends a domain (`xl create`, `xl unpause`, `xl destroy`), as Xen 4.17
//! answers them on a 32-bit ARM host (`common/domctl.c`, `common/domain.c`,
//! `arch/arm/domain.c`, `arch/arm/domctl.c`, `arch/arm/arm32/domctl.c`,
//! `arch/arm/p2m.c`, `common/sched/core.c`, `common/sched/credit.c`),
//! after [`Xen::domctl`]'s checks (copy `-EFAULT`, version `-EACCES`, the
//! domain `-ESRCH`, control domain only `-EPERM`):
//!
//! - `createdomain` (1): the ID (`op.domain` between 1 and
//!   `DOMID_FIRST_RESERVED` must be free, `-EEXIST`; otherwise the platform
//!   picks the next free one after the last picked, as Xen's `rover`;
//!   `-ENOMEM` when none is),
//!   then the configuration checked as `sanitise_domain_config`,
//!   `arch_sanitise_domain_config` and `domain_create` check it (see
//!   [`sanitise`]), then [`Platform::create_domain`](crate::Platform::create_domain); the whole `xen_domctl`
//!   is copied back with the ID, `arch.gic_version` (native: GICv2) and
//!   `arch.clock_frequency` (0: the host device tree's timer has no
//!   `clock-frequency` snowvisor passes on).
//! - `destroydomain` (2): not the caller itself (`-EINVAL`), then
//!   [`Platform::destroy_domain`](crate::Platform::destroy_domain); the caller's `VIRQ_DOM_EXC` is raised,
//!   as `domain_kill` raises it when the domain is dead.
//! - `pausedomain` (3) / `unpausedomain` (4): Xen's controller pause count
//!   (a created domain starts at 1; pausing the caller itself `-EINVAL`,
//!   above 255 `-EOVERFLOW`, unpausing at 0 `-EINVAL`); the platform is
//!   asked on the transitions between 0 and 1 only.
//! - `setvcpuaffinity` (9): see [`Xen::set_vcpu_affinity`].
//! - `setvcpucontext` (12): not the caller itself, a vCPU below the count
//!   and made by `max_vcpus` (`-EINVAL`); a NULL context resets the vCPU
//!   (down); else the 32-bit ARM `vcpu_guest_context` is read through its
//!   handle (`-EFAULT`), its CPSR and non-zero SPSRs must be 32-bit guest
//!   modes, not monitor or hyp (`is_guest_pv32_psr`, `-EINVAL`), and
//!   [`Platform::set_vcpu_context`](crate::Platform::set_vcpu_context) gets it.
//! - `max_vcpus` (15): still in 4.17, it must repeat `createdomain`'s count
//!   (`-EINVAL`; also for the caller itself); it makes the vCPUs.
//! - `scheduler_op` (16): credit only (`sched_id` 5, `-EINVAL` otherwise);
//!   `getinfo` reads weight (256 at first) and cap (0), `putinfo` sets a
//!   non-zero weight and a cap other than `0xffff`; per-vCPU commands and
//!   others `-EINVAL`. The values are kept here, in the control domain's
//!   Xen state, by domain ID (snowvisor pins vCPUs and does not weigh
//!   them); the `xen_domctl` is copied back, even on error, as Xen does.
//! - `set_address_size` (35): 32 is accepted, anything else `-EINVAL`;
//!   `get_address_size` (36) is `-ENOSYS` on arm32.
//! - `setnodeaffinity` (68) / `getnodeaffinity` (69): one NUMA node (ARM
//!   4.17 has `MAX_NUMNODES` 1): a map without node 0 is `-EINVAL`; the
//!   affinity read back is node 0.
//! - `cacheflush` (71): more than 2^18 pages (`1 << MAX_ORDER`) or a range
//!   that wraps `-EINVAL` (frame numbers are 32-bit `unsigned long` in
//!   arm32 Xen: `start_pfn` is truncated as there), then
//!   [`Platform::foreign_cache_flush`](crate::Platform::foreign_cache_flush) for what lies in the IPA space.
//! - `get_paging_mempool_size` (85) / `set_` (86): bytes, a multiple of
//!   4 KiB whose page count fits 32 bits (`-EINVAL`), kept here by domain
//!   ID; until set, a created domain (and Dom0) has Xen's 16 pages, a
//!   boot-time DomU what Xen's `domain_p2m_pages` gives it.

use alloc::collections::BTreeMap;

use super::abi::layout::{
    VcpuGuestContext, XenDomctl, XenDomctlAddressSize, XenDomctlCacheflush, XenDomctlCreatedomain,
    XenDomctlMaxVcpus, XenDomctlPagingMempool, XenDomctlSchedulerOp, XenDomctlVcpuaffinity,
    XenDomctlVcpucontext, XenctlBitmap,
};
use super::abi::wire::Wire;
use super::abi::{domctl, domid, virq, Errno, PAGE_SHIFT};
use super::guest::{check_span, handle_gva, read_struct, write_struct, GFN_LIMIT};
use super::memory::platform_errno;
use super::platform::{DomainInfo, HostInfo, NewDomain, PlatformError, VcpuStart, MAX_CPUPOOLS};
use super::sysctl_host::{cpu_bits, write_bitmap};
use super::{Ctx, HcResult, Outcome, Xen};

/// `csched_dom`'s weight of a new domain (`CSCHED_DEFAULT_WEIGHT`).
const DEFAULT_WEIGHT: u16 = 256;
/// The pages Xen 4.17 puts in a new domain's P2M pool (`p2m_init`).
const DEFAULT_P2M_PAGES: u64 = 16;
/// Xen 4.17's limits of a domain's grant table (`opt_max_grant_frames`,
/// `opt_max_maptrack_frames`, `INITIAL_NR_GRANT_FRAMES` and ARM's
/// `GNTTAB_MAX_VERSION`).
const MAX_GRANT_FRAMES: u32 = 64;
const MAX_MAPTRACK_FRAMES: u32 = 1024;
const MAX_GRANT_VERSION: u32 = 1;
/// vCPUs of a GICv2 domain (`vgic_max_vcpus`).
const GICV2_MAX_VCPUS: u32 = 8;
/// SPIs a virtual distributor may have (1020 - 32, `domain_vgic_init`).
const MAX_SPIS: u32 = 988;
/// `MAX_ORDER` of ARM (`CONFIG_PAGEALLOC_MAX_ORDER`, 18): the largest
/// `cacheflush` is `1 << MAX_ORDER` pages.
pub(super) const MAX_ORDER: u32 = 18;

/// What the control domain's `domctl`s set on one domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DomCtl {
    /// Created by `createdomain` (not built at boot).
    created: bool,
    /// Its vCPUs were made (`max_vcpus`; boot-time domains have them).
    vcpus_made: bool,
    /// Xen's `controller_pause_count`, which stops at 255
    /// (`_domain_pause_by_systemcontroller`): a `u8`.
    pause_count: u8,
    /// Credit's `weight` and `cap` (percent of a CPU, 0: none).
    weight: u16,
    cap: u16,
    /// The P2M pool as `set_paging_mempool_size` set it, bytes.
    paging_pool: Option<u64>,
}

impl DomCtl {
    /// A domain built at boot: running, its vCPUs made.
    const BOOT: DomCtl = DomCtl {
        created: false,
        vcpus_made: true,
        pause_count: 0,
        weight: DEFAULT_WEIGHT,
        cap: 0,
        paging_pool: None,
    };
}

/// The control domain's view of the domains it manages.
#[derive(Debug, Clone, Default)]
pub(super) struct Control {
    doms: BTreeMap<u16, DomCtl>,
}

impl Control {
    fn get(&self, d: u16) -> DomCtl {
        self.doms.get(&d).copied().unwrap_or(DomCtl::BOOT)
    }

    fn set(&mut self, d: u16, c: DomCtl) {
        self.doms.insert(d, c);
    }

    /// Whether domain `d` is one the control domain created.
    pub(super) fn created(&self, d: u16) -> bool {
        self.doms.get(&d).is_some_and(|c| c.created)
    }
}

/// `xen_domctl.u` as bytes.
fn u_bytes(op: &XenDomctl) -> [u8; 128] {
    let mut b = [0u8; 128];
    for (c, w) in b.chunks_exact_mut(8).zip(op.u.iter()) {
        c.copy_from_slice(&w.to_le_bytes());
    }
    b
}

/// The command's struct from `xen_domctl.u` (read with the header).
fn get_u<T: Wire>(op: &XenDomctl) -> Result<T, Errno> {
    T::decode(&u_bytes(op)).ok_or(Errno::EFAULT)
}

/// Stores the command's struct in `xen_domctl.u` (the rest of the union
/// kept).
fn put_u<T: Wire>(op: &mut XenDomctl, v: &T) -> Result<(), Errno> {
    let mut b = u_bytes(op);
    v.encode(&mut b).ok_or(Errno::EFAULT)?;
    for (w, c) in op.u.iter_mut().zip(b.chunks_exact(8)) {
        let mut a = [0u8; 8];
        a.copy_from_slice(c);
        *w = u64::from_le_bytes(a);
    }
    Ok(())
}

/// `is_guest_pv32_psr` (`arch/arm/domain.c`): a 32-bit guest mode, not
/// monitor or hyp.
fn is_guest32_psr(psr: u32) -> bool {
    matches!(
        psr & domctl::PSR_MODE_MASK,
        domctl::PSR_MODE_USR
            | domctl::PSR_MODE_FIQ
            | domctl::PSR_MODE_IRQ
            | domctl::PSR_MODE_SVC
            | domctl::PSR_MODE_ABT
            | domctl::PSR_MODE_UND
            | domctl::PSR_MODE_SYS
    )
}

/// Checks a `createdomain` configuration in Xen 4.17's order, filling in
/// what Xen fills in (`arch.gic_version` native: GICv2, the host's), and
/// returns the domain to ask the platform for. Every refusal is `-EINVAL`
/// but an unknown cpupool (`-ESRCH`, `cpupool_add_domain`):
/// - `sanitise_domain_config`: unknown `flags` or `grant_opts` bits, no
///   vCPUs, HAP without HVM, an IOMMU (snowvisor gives a created domain
///   none: Xen's "IOMMU requested but not available") or IOMMU options
///   without one, a vmtrace buffer (none on ARM), a vPMU (not enabled);
/// - `arch_sanitise_domain_config`: `flags` must be HVM and HAP exactly,
///   a GIC version with no vGIC in arm32 Xen (only GICv2: `CONFIG_GICV3`
///   is arm64-only), more than 8 vCPUs, a TEE (no mediator);
/// - `domain_create`: more than 988 SPIs once rounded up to 32
///   (`domain_vgic_init`; a count so large that Xen's rounding wraps is
///   refused too), grant version 0 or above 1, grant frames outside 1..=64
///   or maptrack frames above 1024 (negative: Xen's defaults, 64 and
///   1024), then the cpupool.
pub(super) fn sanitise(
    c: &mut XenDomctlCreatedomain,
    host: Option<&HostInfo>,
) -> Result<NewDomain, Errno> {
    use domctl::*;
    let known = CDF_HVM
        | CDF_HAP
        | CDF_S3_INTEGRITY
        | CDF_OOS_OFF
        | CDF_XS_DOMAIN
        | CDF_IOMMU
        | CDF_NESTED_VIRT
        | CDF_VPMU;
    let f = c.flags;
    let einval = Err(Errno::EINVAL);
    if f & !known != 0 || c.grant_opts & !GRANT_VERSION_MASK != 0 || c.max_vcpus < 1 {
        return einval;
    }
    if f & CDF_HAP != 0 && f & CDF_HVM == 0 {
        return einval;
    }
    // No IOMMU for a created domain; IOMMU options without one.
    if f & CDF_IOMMU != 0 || c.iommu_opts != 0 {
        return einval;
    }
    if c.vmtrace_size != 0 || f & CDF_VPMU != 0 {
        return einval;
    }
    if f & !(CDF_IOMMU | CDF_VPMU) != CDF_HVM | CDF_HAP {
        return einval;
    }
    if c.arch.gic_version == GIC_NATIVE {
        c.arch.gic_version = GIC_V2;
    }
    if c.arch.gic_version != GIC_V2 || c.max_vcpus > GICV2_MAX_VCPUS {
        return einval;
    }
    if c.arch.tee_type != TEE_NONE {
        return einval;
    }
    let nr_spis = match c.arch.nr_spis.checked_next_multiple_of(32) {
        Some(n) if n <= MAX_SPIS => n,
        _ => return einval,
    };
    let version = c.grant_opts & GRANT_VERSION_MASK;
    if version == 0 || version > MAX_GRANT_VERSION {
        return einval;
    }
    let grant_frames = u32::try_from(c.max_grant_frames).unwrap_or(MAX_GRANT_FRAMES);
    let maptrack = u32::try_from(c.max_maptrack_frames).unwrap_or(MAX_MAPTRACK_FRAMES);
    if !(1..=MAX_GRANT_FRAMES).contains(&grant_frames) || maptrack > MAX_MAPTRACK_FRAMES {
        return einval;
    }
    // Pool-0 always exists (Xen's `cpupool0`); another only with CPUs.
    let pool_exists = match (c.cpupool_id, host) {
        (0, _) => true,
        (id, Some(h)) => (id as usize) < MAX_CPUPOOLS && h.cpupool_cpus[id as usize] != 0,
        (_, None) => false,
    };
    if !pool_exists {
        return Err(Errno::ESRCH);
    }
    Ok(NewDomain {
        domid: None,
        max_vcpus: c.max_vcpus,
        max_evtchn_port: c.max_evtchn_port.min(i32::MAX as u32),
        max_grant_frames: grant_frames,
        nr_spis,
        handle: c.handle,
        cpupool: c.cpupool_id,
    })
}

/// A platform refusal of a domain-building call: as for memory calls
/// (`BadAddress` `-EINVAL`, `NoMemory` `-ENOMEM`, `NotSupported` — a
/// domain built at boot — `-ENOSYS`, `Busy` `-EBUSY`).
fn build_errno(e: PlatformError) -> Errno {
    platform_errno(e)
}

/// Xen's `domain_p2m_pages` (`arch/arm/domain_build.c`): a boot-time
/// DomU's P2M pool, pages: 256 per vCPU, 1 per MiB of RAM and 128, in KiB
/// rounded up to whole MiB.
fn boot_p2m_pages(max_pages: u64, vcpus: u32) -> u64 {
    let maxmem_kb = max_pages.saturating_mul(4);
    let memkb = 4 * (256 * u64::from(vcpus) + maxmem_kb / 1024 + 128);
    memkb.div_ceil(1024) << (20 - PAGE_SHIFT)
}

impl Xen {
    /// The commands of the module documentation; `arg` is the guest address
    /// of `op`, whose domain [`Xen::domctl`] found (`info`; `None` for
    /// `createdomain`). `-ENOSYS` for any other command.
    pub(super) fn domctl_manage(
        &mut self,
        cx: &mut Ctx<'_>,
        arg: u32,
        mut op: XenDomctl,
        info: Option<DomainInfo>,
    ) -> HcResult {
        let Some(info) = info else {
            return match op.cmd {
                domctl::CREATEDOMAIN => self.createdomain(cx, arg, op),
                _ => Err(Errno::ENOSYS),
            };
        };
        let d = info.domid;
        let me = d == self.cfg.domid;
        let ok = Ok(Outcome::Return(0));
        match op.cmd {
            domctl::DESTROYDOMAIN => {
                if me {
                    return Err(Errno::EINVAL);
                }
                match cx.plat.destroy_domain(d) {
                    Ok(()) => {}
                    // Its vCPUs are still let go of on their CPUs: Xen's
                    // `-ERESTART`, a continuation (the call is issued again).
                    Err(PlatformError::Busy) => return Ok(Outcome::Continue([arg, 0, 0, 0, 0])),
                    Err(e) => return Err(build_errno(e)),
                }
                self.ctl.doms.remove(&d);
                log::info!("xen: d{d} destroyed");
                // `domain_kill`'s `send_global_virq(VIRQ_DOM_EXC)`: the
                // control domain (xenstored) learns the domain is dead.
                if let Some(port) = self.evtchn.virq_port(0, virq::DOM_EXC) {
                    self.raise_port(cx, port);
                }
                ok
            }
            domctl::PAUSEDOMAIN | domctl::UNPAUSEDOMAIN => {
                let pause = op.cmd == domctl::PAUSEDOMAIN;
                if pause && me {
                    return Err(Errno::EINVAL);
                }
                let mut c = self.ctl.get(d);
                let n = if pause {
                    c.pause_count.checked_add(1).ok_or(Errno::EOVERFLOW)?
                } else {
                    c.pause_count.checked_sub(1).ok_or(Errno::EINVAL)?
                };
                if (pause && n == 1) || (!pause && n == 0) {
                    match cx.plat.pause_domain(d, pause) {
                        Ok(()) => {}
                        // Its vCPUs are still being held back on their
                        // CPUs: `domain_pause` waits for them (a
                        // continuation: the call is issued again).
                        Err(PlatformError::Busy) => {
                            return Ok(Outcome::Continue([arg, 0, 0, 0, 0]))
                        }
                        Err(e) => return Err(build_errno(e)),
                    }
                }
                c.pause_count = n;
                self.ctl.set(d, c);
                ok
            }
            domctl::SETVCPUCONTEXT => {
                let v: XenDomctlVcpucontext = get_u(&op)?;
                if me || v.vcpu >= info.nr_vcpus || !self.ctl.get(d).vcpus_made {
                    return Err(Errno::EINVAL);
                }
                let start = if v.ctxt == 0 {
                    // `vcpu_reset`: down, as before any context.
                    VcpuStart::default()
                } else {
                    let gva = handle_gva(v.ctxt)?;
                    vcpu_start(&read_struct::<VcpuGuestContext>(cx.mem, gva)?)?
                };
                cx.plat
                    .set_vcpu_context(d, v.vcpu, &start)
                    .map_err(build_errno)?;
                ok
            }
            domctl::MAX_VCPUS => {
                let m: XenDomctlMaxVcpus = get_u(&op)?;
                if me || m.max != info.nr_vcpus {
                    return Err(Errno::EINVAL);
                }
                let mut c = self.ctl.get(d);
                c.vcpus_made = true;
                self.ctl.set(d, c);
                ok
            }
            domctl::SCHEDULER_OP => {
                let mut s: XenDomctlSchedulerOp = get_u(&op)?;
                let r = self.sched_adjust(d, &mut s);
                put_u(&mut op, &s)?;
                write_struct(cx.mem, arg, &op)?;
                r.map(|()| Outcome::Return(0))
            }
            domctl::SET_ADDRESS_SIZE => {
                let a: XenDomctlAddressSize = get_u(&op)?;
                if a.size != 32 {
                    return Err(Errno::EINVAL);
                }
                ok
            }
            domctl::SETNODEAFFINITY => {
                let map: XenctlBitmap = get_u(&op)?;
                // Node 0 is the only node; bits past `nr_bits` do not count.
                if read_bitmap(cx, &map, 1)? & 1 == 0 {
                    return Err(Errno::EINVAL);
                }
                ok
            }
            domctl::GETNODEAFFINITY => {
                let map: XenctlBitmap = get_u(&op)?;
                write_bitmap(cx, &map, 1, 1)?;
                ok
            }
            domctl::SETVCPUAFFINITY => {
                let a: XenDomctlVcpuaffinity = get_u(&op)?;
                self.set_vcpu_affinity(cx, &info, &a)?;
                ok
            }
            domctl::CACHEFLUSH => {
                let f: XenDomctlCacheflush = get_u(&op)?;
                if f.nr_pfns > 1 << MAX_ORDER {
                    return Err(Errno::EINVAL);
                }
                // `gfn_t` is a 32-bit `unsigned long` in arm32 Xen.
                let start = f.start_pfn as u32;
                let nr = f.nr_pfns as u32;
                start.checked_add(nr).ok_or(Errno::EINVAL)?;
                let start = u64::from(start);
                // What lies outside the IPA space is a hole (skipped).
                let nr = u64::from(nr).min(GFN_LIMIT.saturating_sub(start));
                if nr > 0 {
                    cx.plat
                        .foreign_cache_flush(d, start, nr)
                        .map_err(build_errno)?;
                }
                ok
            }
            domctl::GET_PAGING_MEMPOOL_SIZE => {
                let c = self.ctl.get(d);
                let size = c.paging_pool.unwrap_or_else(|| {
                    let pages = if c.created || d == 0 {
                        DEFAULT_P2M_PAGES
                    } else {
                        boot_p2m_pages(info.max_pages, info.nr_vcpus)
                    };
                    pages << PAGE_SHIFT
                });
                put_u(&mut op, &XenDomctlPagingMempool { size })?;
                write_struct(cx.mem, arg, &op)?;
                ok
            }
            domctl::SET_PAGING_MEMPOOL_SIZE => {
                let p: XenDomctlPagingMempool = get_u(&op)?;
                if p.size & ((1 << PAGE_SHIFT) - 1) != 0
                    || p.size >> PAGE_SHIFT > u64::from(u32::MAX)
                {
                    return Err(Errno::EINVAL);
                }
                let mut c = self.ctl.get(d);
                c.paging_pool = Some(p.size);
                self.ctl.set(d, c);
                ok
            }
            // `get_address_size` on arm32, and everything else.
            _ => Err(Errno::ENOSYS),
        }
    }

    /// `XEN_DOMCTL_createdomain` (module documentation).
    fn createdomain(&mut self, cx: &mut Ctx<'_>, arg: u32, mut op: XenDomctl) -> HcResult {
        let first = domid::FIRST_RESERVED;
        // An ID asked for is taken as is (`-EEXIST` if in use); otherwise
        // the platform picks one, as Xen's rover does (the platform knows
        // which IDs it can give: snowvisor's places for created domains).
        let dom = (op.domain > 0 && op.domain < first).then_some(op.domain);
        if let Some(d) = dom {
            if self.lookup(cx, d).is_some() {
                return Err(Errno::EEXIST);
            }
        }
        let mut c: XenDomctlCreatedomain = get_u(&op)?;
        let host = cx.plat.host_info();
        let new = NewDomain {
            domid: dom,
            ..sanitise(&mut c, host.as_ref())?
        };
        let id = cx.plat.create_domain(&new).map_err(|e| match e {
            PlatformError::Busy => Errno::EEXIST,
            e => build_errno(e),
        })?;
        self.ctl.set(
            id,
            DomCtl {
                created: true,
                vcpus_made: false,
                pause_count: 1,
                paging_pool: Some(DEFAULT_P2M_PAGES << PAGE_SHIFT),
                ..DomCtl::BOOT
            },
        );
        log::info!(
            "xen: d{id} created: {} vCPUs, {} SPIs",
            new.max_vcpus,
            new.nr_spis
        );
        // `arch.clock_frequency`: the host DT timer's `clock-frequency`;
        // none is passed on.
        c.arch.clock_frequency = 0;
        op.domain = id;
        put_u(&mut op, &c)?;
        write_struct(cx.mem, arg, &op)?;
        Ok(Outcome::Return(0))
    }

    /// Credit's `csched_dom_cntl` on domain `d`'s kept weight and cap.
    fn sched_adjust(&mut self, d: u16, s: &mut XenDomctlSchedulerOp) -> Result<(), Errno> {
        if s.sched_id != domctl::SCHEDULER_CREDIT {
            return Err(Errno::EINVAL);
        }
        let mut c = self.ctl.get(d);
        match s.cmd {
            domctl::SCHEDOP_GETINFO => {
                s.weight = c.weight;
                s.cap = c.cap;
            }
            domctl::SCHEDOP_PUTINFO => {
                if s.weight != 0 {
                    c.weight = s.weight;
                }
                if s.cap != u16::MAX {
                    c.cap = s.cap;
                }
                self.ctl.set(d, c);
            }
            _ => return Err(Errno::EINVAL),
        }
        Ok(())
    }

    /// `XEN_DOMCTL_setvcpuaffinity`, as `vcpu_affinity_domctl` checks it
    /// (vCPU id `-EINVAL`, a vCPU not made `-ESRCH`, no flag or a NULL map
    /// for a flag given `-EINVAL`, the maps read `-EFAULT`): snowvisor
    /// pins each vCPU to one CPU, so a hard affinity must include it
    /// (`-EINVAL` otherwise; Xen's own rule is "some CPU of the pool") and
    /// the effective one written back is that CPU alone; a soft affinity is
    /// taken as Xen takes it, its effective part (the soft map within the
    /// hard one) written back, empty if it misses the CPU.
    /// `XEN_VCPUAFFINITY_FORCE` has nothing to undo.
    fn set_vcpu_affinity(
        &mut self,
        cx: &mut Ctx<'_>,
        info: &DomainInfo,
        a: &XenDomctlVcpuaffinity,
    ) -> Result<(), Errno> {
        if a.vcpu >= info.nr_vcpus {
            return Err(Errno::EINVAL);
        }
        if !self.ctl.get(info.domid).vcpus_made {
            return Err(Errno::ESRCH);
        }
        let v = cx.plat.vcpu_info(info.domid, a.vcpu).ok_or(Errno::ESRCH)?;
        let hard = a.flags & domctl::VCPUAFFINITY_HARD != 0;
        let soft = a.flags & domctl::VCPUAFFINITY_SOFT != 0;
        if a.flags == 0
            || (hard && a.cpumap_hard.bitmap == 0)
            || (soft && a.cpumap_soft.bitmap == 0)
        {
            return Err(Errno::EINVAL);
        }
        let host = cx.plat.host_info().ok_or(Errno::ENOSYS)?;
        let n = host.possible_cpus;
        let pinned = if v.cpu < 64 { 1u64 << v.cpu } else { 0 };
        if hard {
            if read_bitmap(cx, &a.cpumap_hard, n)? & pinned == 0 {
                return Err(Errno::EINVAL);
            }
            write_bitmap(cx, &a.cpumap_hard, pinned, n)?;
        }
        if soft {
            let bits = read_bitmap(cx, &a.cpumap_soft, n)?;
            write_bitmap(cx, &a.cpumap_soft, bits & pinned, n)?;
        }
        Ok(())
    }
}

/// Reads a guest `xenctl_bitmap` of which `nbits` (at most 64) count, as
/// Xen's `xenctl_bitmap_to_bitmap`: bytes up to the smaller of the two
/// sizes (`-EFAULT`), bits past `nr_bits` ignored.
fn read_bitmap(cx: &mut Ctx<'_>, map: &XenctlBitmap, nbits: u32) -> Result<u64, Errno> {
    let nbits = nbits.min(64);
    let guest_bytes = map.nr_bits.div_ceil(8) as usize;
    let n = guest_bytes.min(nbits.div_ceil(8) as usize);
    if n == 0 {
        return Ok(0);
    }
    let gva = handle_gva(map.bitmap)?;
    check_span(gva, n)?;
    let mut b = [0u8; 8];
    cx.mem.read(gva, &mut b[..n]).map_err(|_| Errno::EFAULT)?;
    let mut bits = u64::from_le_bytes(b);
    if u64::from(map.nr_bits) < 64 {
        bits &= (1u64 << map.nr_bits) - 1;
    }
    Ok(bits & cpu_bits(nbits))
}

/// The start of a vCPU from an ARM `vcpu_guest_context`, checked as
/// `arch_set_info_guest` checks a 32-bit domain's (`-EINVAL`). The banked
/// registers, SPSRs and AArch64 fields are checked but not carried (the
/// toolstack's `vcpu_arm32` leaves them 0).
fn vcpu_start(g: &VcpuGuestContext) -> Result<VcpuStart, Errno> {
    let r = &g.user_regs;
    let spsrs = [
        r.spsr_svc as u32,
        r.spsr_abt,
        r.spsr_und,
        r.spsr_irq,
        r.spsr_fiq,
    ];
    if !is_guest32_psr(r.cpsr as u32) || spsrs.iter().any(|&p| p != 0 && !is_guest32_psr(p)) {
        return Err(Errno::EINVAL);
    }
    let mut regs = [0u32; 13];
    for (o, x) in regs.iter_mut().zip(r.x.iter()) {
        *o = *x as u32;
    }
    Ok(VcpuStart {
        r: regs,
        pc: r.pc as u32,
        cpsr: r.cpsr as u32,
        sctlr: g.sctlr as u32,
        ttbcr: g.ttbcr as u32,
        ttbr0: g.ttbr0,
        ttbr1: g.ttbr1,
        online: g.flags & domctl::VGCF_ONLINE != 0,
    })
}
