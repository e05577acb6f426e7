//! Building boot-time DomUs (dom0less `xen,domain` nodes of `/chosen`) on
//! the target: memory taken from what Dom0 would get and scrubbed, their
//! modules copied in, their device tree written, a stage 2 of their own
//! (own VMID: RAM at Xen's guest banks, the GIC's virtual CPU interface at
//! `GUEST_GICC_BASE`, nothing else: the distributor and the UART page trap,
//! every other IPA faults), then vCPU 0 made pending on its CPU.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use log::{info, warn};

use alloc::sync::Arc;
use snowvisor_arch_armv7::cpu;
use snowvisor_arm::lpae::Table;
use snowvisor_arm::stage2::{S2Mem, Stage2};
use snowvisor_core::domain::domu_mem::{self, Extent};
use snowvisor_core::domain::layout::{self, LayoutError};
use snowvisor_core::domain::peer_view::PeerView;
use snowvisor_core::domain::restart::{Rebuild, Restart, RestartGuard};
use snowvisor_core::domain::vuart::DomUart;
use snowvisor_core::domain::xen_glue::XenDom0;
use snowvisor_core::domain::zimage::ZImage;
use snowvisor_core::domain::{
    Domain, DomainKind, DomainState, GuestLog, Stage2Root, VcpuState, VmidPool,
};
use snowvisor_core::psci::Power;
use snowvisor_core::vcpu::DomainCell;
use snowvisor_core::vgic::VDist;
use snowvisor_dt::dom0less::{CpuPool, DomUSpec, Enhanced};
use snowvisor_dt::{HostTree, Region};
use snowvisor_plan::domu::layout as gl;
use snowvisor_plan::domu::{self as pdomu, DomUParams};
use snowvisor_xen::abi::{gnttabop, xs_wire};
use snowvisor_xen::{seed_entry, Xen, XenConfig};

/// What a DomU is built on (beyond the host tree).
pub struct DomUHost {
    /// The GIC's virtual CPU interface (mapped at `GUEST_GICC_BASE`).
    pub gicv: Region,
    /// The physical distributor's lines and GICD_IIDR.
    pub gic_lines: u32,
    pub gic_iidr: u32,
    /// The virtual timer's PPI.
    pub vtimer_intid: u32,
    /// snowvisor's own region (a DomU's hypercalls never reach it).
    pub hyp: Region,
}

/// A DomU, built: its domain and the host memory it took.
pub struct BuiltDomU {
    pub cell: &'static DomainCell,
    /// Host RAM it took (no longer Dom0's): its own, and the copies of its
    /// boot modules kept for its restarts.
    pub host_memory: Vec<Region>,
    /// Of `host_memory`, the bytes of those copies: snowvisor's, in no
    /// guest's stage 2 (`xl info` counts them as the hypervisor's, not free).
    pub kept_bytes: u64,
    /// The CPUs its vCPUs run on, by vCPU ID: (MPIDR, GIC CPU-interface bit).
    pub cpus: Vec<(u32, u8)>,
    /// Its domain ID and node name.
    pub id: u16,
    pub node: &'static str,
    /// Whether it has a console (vpl011) to take input.
    pub console: bool,
    /// Its CPUs are its own (Dom0 gets no vCPU there), not shared.
    pub dedicated: bool,
    /// The ID of the cpupool it runs in (0: Pool-0, Dom0's).
    pub cpupool: u32,
}

fn phys(t: &Table) -> u64 {
    t as *const Table as usize as u64
}

/// A module's bytes (host RAM below 4 GiB, checked by the caller).
fn host_bytes(r: Region) -> &'static [u8] {
    // SAFETY: `r` lies in host RAM below 4 GiB (checked against the tree's
    // memory by the caller), identity mapped at HYP; nothing writes it
    // before the DomUs' modules are copied.
    unsafe { core::slice::from_raw_parts(r.base as usize as *const u8, r.size as usize) }
}

/// Copies `data` to guest address `ipa` through the extents, page by page.
fn copy_in(ext: &[Extent], ipa: u64, data: &[u8]) -> Result<(), String> {
    let mut done = 0usize;
    while done < data.len() {
        let at = ipa + done as u64;
        let chunk = (0x1000 - (at & 0xfff) as usize).min(data.len() - done);
        let pa = domu_mem::host_address(ext, at, chunk as u64)
            .ok_or_else(|| format!("guest address {at:#x} is not in its RAM"))?;
        // SAFETY: `pa` is inside host RAM this DomU took (its extents),
        // below 4 GiB, identity mapped; no guest runs there yet and nothing
        // else holds a reference to it; the source is a module or heap data
        // that does not overlap it (the DomU's memory avoids every module).
        unsafe {
            core::ptr::copy_nonoverlapping(data[done..].as_ptr(), pa as usize as *mut u8, chunk)
        };
        done += chunk;
    }
    Ok(())
}

/// Copies `len` bytes from offset `from` of `src` to guest address `to`
/// of `dst` (both host memory this DomU took), page by page.
fn copy_across(src: &[Extent], from: u64, dst: &[Extent], to: u64, len: u64) -> Result<(), String> {
    let mut done = 0u64;
    while done < len {
        let (s, d) = (from + done, to + done);
        let chunk = (0x1000 - (s & 0xfff))
            .min(0x1000 - (d & 0xfff))
            .min(len - done);
        let sp = domu_mem::host_address(src, s, chunk)
            .ok_or_else(|| format!("kept copy offset {s:#x} is not in its memory"))?;
        let dp = domu_mem::host_address(dst, d, chunk)
            .ok_or_else(|| format!("guest address {d:#x} is not in its RAM"))?;
        // SAFETY: both lie in host RAM below 4 GiB this DomU took (its RAM
        // and the kept copies, disjoint), identity mapped; none of its
        // vCPUs is loaded anywhere, so nothing else touches either.
        unsafe {
            core::ptr::copy_nonoverlapping(
                sp as usize as *const u8,
                dp as usize as *mut u8,
                chunk as usize,
            )
        };
        done += chunk;
    }
    Ok(())
}

/// Zeroes host memory `pieces` this DomU took.
pub(crate) fn scrub(pieces: &[Region]) {
    for p in pieces {
        // SAFETY: `p` is host RAM below 4 GiB that this DomU took: not
        // snowvisor's, no module, no reserved memory, not Dom0's; identity
        // mapped at HYP; no vCPU of the domain runs while it is scrubbed.
        unsafe { core::ptr::write_bytes(p.base as usize as *mut u8, 0, p.size as usize) };
    }
}

/// Zeroes the grant frames of a DomU's last life for its next one.
pub(crate) fn zero_frames(pas: &[Option<u64>]) {
    for &pa in pas.iter().flatten() {
        // SAFETY: `pa` is a grant frame snowvisor allocated for this DomU
        // (a page of its heap, PA = VA); the DomU's old stage 2 that mapped
        // it is gone and none of its vCPUs runs; Dom0 reads its entries
        // only through the DomU's view, word by word (it may see zeros).
        unsafe { core::ptr::write_bytes(pa as usize as *mut u8, 0, 4096) };
    }
}

/// Its stage 2: RAM at the guest banks (extents `ext`), the GIC's virtual
/// CPU interface at `GUEST_GICC_BASE`, nothing else.
pub(crate) fn stage2_for(ext: &[Extent], gicv: Region) -> Result<Box<Stage2>, String> {
    let mut stage2 = Box::new(Stage2::new(phys));
    for e in ext {
        stage2
            .map(e.ipa, e.pa, e.size, S2Mem::Ram)
            .map_err(|e| format!("{e}"))?;
    }
    let gicc_size = if gicv.size >= gl::GUEST_GICC_SIZE {
        gl::GUEST_GICC_SIZE
    } else {
        0x1000
    };
    stage2
        .map(gl::GUEST_GICC_BASE, gicv.base, gicc_size, S2Mem::Device)
        .map_err(|e| format!("{e}"))?;
    Ok(stage2)
}

/// The counter now (CNTPCT): a domain's CNTVOFF when it is built.
pub(crate) fn counter() -> u64 {
    aarch32_cpu::register::CntPct::read().0
}

/// A static event channel's end in a DomU, bound again when it restarts:
/// (its domain, its port, the other domain, the other port).
static STATIC_ENDS: spin::Mutex<Vec<(u16, u32, u16, u32)>> = spin::Mutex::new(Vec::new());

/// Notes that DomU `domid`'s port `port` is a static channel to
/// `peer`'s `peer_port` (connected at boot), to connect again on restart.
pub fn note_static_end(domid: u16, port: u32, peer: u16, peer_port: u32) {
    STATIC_ENDS.lock().push((domid, port, peer, peer_port));
}

/// What a DomU is built again from after its reset: where its RAM is,
/// snowvisor's copies of its boot modules (`kept`: offset 0 the zImage,
/// then the initrd), its device tree (heap) and what its distributor and
/// stage 2 are made of.
struct DomURebuild {
    pieces: Vec<Region>,
    ext: Vec<Extent>,
    kept: Vec<Extent>,
    kernel: (u64, u64),
    /// (offset in `kept`, guest address, bytes).
    initrd: Option<(u64, u64, u64)>,
    dtb: Vec<u8>,
    dtb_ipa: u64,
    vdist: (u32, u32, u32),
    vtimer_intid: u32,
    gicv: Region,
    hyp: Region,
    /// Its xenstore page (host address), mapped and seeded again.
    xs_page: Option<u64>,
    /// Its PV console ring (host address), mapped and zeroed again.
    cons_page: Option<u64>,
}

impl Rebuild for DomURebuild {
    fn rebuild(&mut self, d: &mut Domain) -> Result<(), String> {
        // Its next life reuses this RAM: Dom0 must map none of it (a
        // mapping of the last life's page would show it the next one's).
        // No new mapping from here on; if Dom0 still maps a page, the
        // domain ends as it is (Dom0 keeps what it maps until it unmaps
        // it, as under Xen with a dying domain) and its RAM is not reused.
        let view = d.xen.as_ref().and_then(|x| x.peer_view());
        if let Some(n) = view.as_ref().map(|v| v.close()).filter(|&n| n > 0) {
            return Err(format!(
                "Dom0 still maps {n} of its page(s) through its grants (gntdev): its next life would reuse them, so it is not restarted and keeps its memory as it is until the end"
            ));
        }
        scrub(&self.pieces);
        let (kernel_ipa, kernel_len) = self.kernel;
        copy_across(&self.kept, 0, &self.ext, kernel_ipa, kernel_len)?;
        if let Some((off, ipa, len)) = self.initrd {
            copy_across(&self.kept, off, &self.ext, ipa, len)?;
        }
        copy_in(&self.ext, self.dtb_ipa, &self.dtb)?;
        for p in &self.pieces {
            cpu::clean_inval_dcache_range(p.base as usize, p.size as usize);
        }
        // With the Xen ABI its stage 2 may have changed (shared_info, grant
        // frames): a fresh one, and its Xen state as new but for the event
        // links other domains hold (their ends of its channels unbound,
        // its static ends bound again). Without, nothing changed it.
        if let Some(mut old) = d.xen.take() {
            let frames = old.grant_frame_pas();
            let mut x = old.xen_mut().clone();
            drop(old);
            zero_frames(&frames);
            x.restart(&mut crate::domains::links);
            for &(_, port, peer, peer_port) in STATIC_ENDS.lock().iter().filter(|e| e.0 == d.id) {
                let r = crate::domains::links(peer)
                    .ok_or(snowvisor_xen::Errno::ESRCH)
                    .and_then(|l| x.static_bind(port, &l, peer_port));
                if let Err(e) = r {
                    warn!("{}: static channel port {port} to d{peer} port {peer_port} not bound again: {e}", d.name);
                }
            }
            let mut stage2 = stage2_for(&self.ext, self.gicv)?;
            if let Some(pa) = self.xs_page {
                xenstore_page(&mut stage2, pa)?;
            }
            if let Some(pa) = self.cons_page {
                console_page(&mut stage2, pa)?;
            }
            d.stage2.root_pa = stage2.root_pa();
            let mut xd = XenDom0::new_domu(
                x,
                stage2,
                self.pieces.clone(),
                self.hyp,
                crate::cpu::STAGE2_HOOKS,
            );
            xd.reuse_grant_frames(&frames);
            let pages = (self.xs_page, self.cons_page);
            pv_channel(d.name, d.id, &mut xd, &self.ext, pages, view)?;
            d.xen = Some(xd);
        }
        (crate::cpu::STAGE2_HOOKS.stage2_changed)();
        let (lines, iidr, vcpus) = self.vdist;
        d.vdist = VDist::new(lines, iidr, vcpus as usize);
        d.vdist.give(self.vtimer_intid);
        if let Some(u) = d.uart.as_mut() {
            u.reset();
        }
        for (i, s) in d.vcpus.iter_mut().enumerate() {
            s.power = if i == 0 {
                Power::OnPending {
                    entry: kernel_ipa as u32,
                    context: 0,
                }
            } else {
                Power::Off
            };
            s.inbox.clear();
            s.faults.reset();
        }
        d.boot_dtb = Some(self.dtb_ipa as u32);
        d.cntvoff = counter();
        info!(
            "{}: restart: its RAM scrubbed, zImage, initrd and device tree copied in again; virtual counter from 0",
            d.name
        );
        Ok(())
    }
}

/// Builds DomU `spec` in host memory `pieces` (from [`domu_mem::take`]),
/// its vCPUs on the CPUs `cpus` ((MPIDR, GIC CPU-interface bit), one each),
/// its stage 2 tagged `vmid`. `kept`: host memory (from Dom0's share) for
/// snowvisor's copies of its boot modules, which its restarts start from
/// (`None`: its SYSTEM_RESET ends it).
pub fn build(
    tree: &HostTree<'_>,
    spec: &DomUSpec<'_>,
    pieces: Vec<Region>,
    kept: Option<Vec<Region>>,
    cpus: &[(u32, u8)],
    vmid: u8,
    host: &DomUHost,
) -> Result<BuiltDomU, String> {
    let name: &'static str = Box::leak(format!("d{}", spec.domid).into_boxed_str());
    let bytes = spec.memory_bytes();
    let banks = gl::ram_banks(bytes).map_err(|e| format!("{e}"))?;
    let ext = domu_mem::extents(&banks, &pieces);
    scrub(&pieces);
    let kernel = host_bytes(spec.kernel.region);
    let node = format!("/chosen/{}", spec.name);
    let worded = |e| domu_mem::domu_error(&e, &node, spec.kernel.node);
    let z = ZImage::parse(kernel).map_err(worded)?;
    let l = domu_mem::place(
        banks[0],
        &z,
        spec.kernel.region.size,
        spec.ramdisk.map(|r| r.region.size),
    )
    .map_err(worded)?;
    let cpu_compatible = snowvisor_plan::cpus::host_cpus(tree.index())
        .first()
        .and_then(|c| tree.index().compatibles(c.node).first().copied())
        .unwrap_or("arm,cortex-a15");
    let dtb = pdomu::build(&DomUParams {
        xen_version: (4, 17),
        memory: banks.clone(),
        vcpus: spec.vcpus,
        cpu_compatible,
        timer_clock_frequency: tree.timer().and_then(|t| t.clock_frequency),
        vpl011: spec.vpl011,
        xen_pv: spec.enhanced != Enhanced::Disabled,
        bootargs: spec.bootargs,
        initrd: l.initrd,
    })
    .map_err(|e| format!("device tree: {e}"))?;
    copy_in(&ext, l.kernel.base, kernel)?;
    if let (Some(r), Some(dst)) = (spec.ramdisk, l.initrd) {
        copy_in(&ext, dst.base, host_bytes(r.region))?;
    }
    copy_in(&ext, l.dtb.base, &dtb)?;
    // It starts with its MMU and caches off: everything to the point of coherency.
    for p in &pieces {
        cpu::clean_inval_dcache_range(p.base as usize, p.size as usize);
    }
    // snowvisor's copies of its modules for its restarts (the originals'
    // memory becomes Dom0's): the zImage at 0, the initrd page aligned after.
    let initrd_off = spec.kernel.region.size.next_multiple_of(0x1000);
    let kept = kept.map(|k| {
        let ext = domu_mem::extents(
            &[Region {
                base: 0,
                size: k.iter().map(|r| r.size).sum(),
            }],
            &k,
        );
        (k, ext)
    });
    if let Some((_, kext)) = &kept {
        copy_in(kext, 0, kernel)?;
        if let Some(r) = spec.ramdisk {
            copy_in(kext, initrd_off, host_bytes(r.region))?;
        }
    }

    let mut stage2 = stage2_for(&ext, host.gicv)?;
    // With xenstore (`xen,enhanced` without "no-xenstore"): its xenstore
    // page in Xen's magic region, as `init-dom0less` places it, and its
    // PV console's ring before it, where Xen's toolstack puts an ARM
    // guest's (xenconsoled, its backend, needs xenstore).
    let (xs_page, cons_page) = if spec.enhanced == Enhanced::Enabled {
        let pa = (crate::cpu::STAGE2_HOOKS.alloc_page)()
            .ok_or_else(|| String::from("no memory for its xenstore page"))?;
        xenstore_page(&mut stage2, pa)?;
        let cpa = (crate::cpu::STAGE2_HOOKS.alloc_page)()
            .ok_or_else(|| String::from("no memory for its console ring"))?;
        console_page(&mut stage2, cpa)?;
        (Some(pa), Some(cpa))
    } else {
        (None, None)
    };
    let root_pa = stage2.root_pa();
    // With `xen,enhanced`: the Xen ABI of an unprivileged domain, over its
    // stage 2 (which it then owns) and the host memory it has.
    let mut xen = if spec.enhanced != Enhanced::Disabled {
        let cfg = XenConfig {
            name: Box::leak(String::from(spec.name).into_boxed_str()),
            ..XenConfig::domu(spec.domid, spec.vcpus)
        };
        let x = Xen::new(cfg).map_err(|e| format!("{e}"))?;
        Some(XenDom0::new_domu(
            x,
            stage2,
            pieces.clone(),
            host.hyp,
            crate::cpu::STAGE2_HOOKS,
        ))
    } else {
        // The tables live as long as the domain (for ever).
        Box::leak(stage2);
        None
    };
    if let Some(x) = xen.as_mut() {
        pv_channel(name, spec.domid, x, &ext, (xs_page, cons_page), None)?;
    }

    // Virtual interrupts only: SGIs, its virtual timer, the event PPI, the
    // UART's SPI and `nr_spis` SPIs (none of the host's).
    let nr_spis = spec
        .nr_spis
        .unwrap_or(host.gic_lines.saturating_sub(32))
        .max(u32::from(spec.vpl011));
    let lines = 32 + nr_spis.div_ceil(32) * 32;
    let mut vdist = VDist::new(lines, host.gic_iidr, spec.vcpus as usize);
    let vdist_params = (lines, host.gic_iidr, spec.vcpus);
    vdist.give(host.vtimer_intid);

    let vcpus: Vec<VcpuState> = cpus
        .iter()
        .enumerate()
        .map(|(i, &(_, mask))| {
            let power = if i == 0 {
                Power::OnPending {
                    entry: l.kernel.base as u32,
                    context: 0,
                }
            } else {
                Power::Off
            };
            // Its own MPIDR: affinity level 0 = vCPU ID (the cpu nodes' reg).
            VcpuState::new(0x8000_0000 | i as u32, mask, power)
        })
        .collect();
    let mut domain = Domain {
        id: spec.domid,
        kind: DomainKind::DomU,
        name,
        memory: banks.clone(),
        stage2: Stage2Root { root_pa, vmid },
        gicd: Region {
            base: gl::GUEST_GICD_BASE,
            size: gl::GUEST_GICD_SIZE,
        },
        vdist,
        devices: Vec::new(),
        forwarded: Vec::new(),
        stage2_faults: 0,
        xen,
        log: GuestLog::new(name),
        vcpus,
        uart: spec.vpl011.then(|| Box::new(DomUart::new(spec.domid))),
        uart_ipa: Region {
            base: gl::GUEST_PL011_BASE,
            size: gl::GUEST_PL011_SIZE,
        },
        boot_dtb: Some(l.dtb.base as u32),
        state: DomainState::Running,
        paused: false,
        shutdown_code: 0,
        cntvoff: counter(),
        restart: None,
    };
    for (i, p) in pieces.iter().enumerate() {
        info!(
            "{name}: memory {:#010x}-{:#010x} ({} MiB) of the host, scrubbed{}",
            p.base,
            p.end() - 1,
            p.size >> 20,
            if i == 0 { "" } else { " (continued)" }
        );
    }
    for b in &banks {
        info!(
            "{name}: guest RAM {:#x}-{:#x} (GUEST_RAM{}), VMID {}",
            b.base,
            b.end() - 1,
            if b.base == gl::GUEST_RAM0_BASE { 0 } else { 1 },
            vmid
        );
    }
    info!(
        "{name}: zImage {} KiB at {:#010x}, device tree {} bytes at {:#010x}{}",
        z.len >> 10,
        l.kernel.base,
        dtb.len(),
        l.dtb.base,
        match l.initrd {
            Some(r) => format!(", initrd {} KiB at {:#010x}", r.size >> 10, r.base),
            None => String::new(),
        }
    );
    let mut host_memory = pieces.clone();
    let mut kept_bytes = 0;
    if let Some((k, kext)) = kept {
        let kb: u64 = k.iter().map(|r| r.size).sum();
        kept_bytes = kb;
        info!(
            "{name}: {} MiB of the host ({}) keep copies of its boot modules for its restarts (in no guest's stage 2; domu_restart=0 gives them to Dom0)",
            kb >> 20,
            k.iter()
                .map(|r| format!("{:#010x}-{:#010x}", r.base, r.end() - 1))
                .collect::<Vec<_>>()
                .join(", ")
        );
        host_memory.extend(k);
        domain.restart = Some(Restart {
            rebuild: Box::new(DomURebuild {
                pieces,
                ext,
                kept: kext,
                kernel: (l.kernel.base, spec.kernel.region.size),
                initrd: spec
                    .ramdisk
                    .zip(l.initrd)
                    .map(|(r, dst)| (initrd_off, dst.base, r.region.size)),
                dtb,
                dtb_ipa: l.dtb.base,
                vdist: vdist_params,
                vtimer_intid: host.vtimer_intid,
                gicv: host.gicv,
                hyp: host.hyp,
                xs_page,
                cons_page,
            }),
            guard: RestartGuard::default(),
        });
    }
    let cell: &'static DomainCell = Box::leak(Box::new(spin::Mutex::new(domain)));
    Ok(BuiltDomU {
        cell,
        host_memory,
        kept_bytes,
        cpus: cpus.to_vec(),
        id: spec.domid,
        node: Box::leak(String::from(spec.name).into_boxed_str()),
        console: spec.vpl011,
        dedicated: false,
        cpupool: 0,
    })
}

/// Maps its xenstore page (host `pa`, snowvisor's) at `GUEST_XENSTORE_BASE`
/// in `stage2`, zeroed but for the connection word (`RECONNECT`), as
/// `init-dom0less` leaves it; at build and again at each restart.
fn xenstore_page(stage2: &mut Stage2, pa: u64) -> Result<(), String> {
    stage2
        .map(gl::GUEST_XENSTORE_BASE, pa, 0x1000, S2Mem::Ram)
        .map_err(|e| format!("{e}"))?;
    // SAFETY: `pa` is a page snowvisor allocated for this DomU, identity
    // mapped at HYP, below 4 GiB; none of the domain's vCPUs runs.
    unsafe {
        core::ptr::write_bytes(pa as usize as *mut u8, 0, 0x1000);
        core::ptr::write_volatile(
            (pa + xs_wire::CONNECTION_OFFSET) as usize as *mut u32,
            xs_wire::RECONNECT,
        )
    };
    Ok(())
}

/// Maps its PV console ring (host `pa`, snowvisor's) at
/// `GUEST_CONSOLE_BASE` in `stage2`, zeroed (an empty `struct
/// xencons_interface`, `public/io/console.h`: both rings empty, every
/// index 0, as `xc_clear_domain_page` leaves it); at build and again at
/// each restart.
fn console_page(stage2: &mut Stage2, pa: u64) -> Result<(), String> {
    stage2
        .map(gl::GUEST_CONSOLE_BASE, pa, 0x1000, S2Mem::Ram)
        .map_err(|e| format!("{e}"))?;
    // SAFETY: `pa` is a page snowvisor allocated for this DomU, identity
    // mapped at HYP, below 4 GiB; none of the domain's vCPUs runs, and
    // Dom0 maps none of its pages (a restart waits for that).
    unsafe { core::ptr::write_bytes(pa as usize as *mut u8, 0, 0x1000) };
    Ok(())
}

/// What Dom0 may reach of a DomU with the Xen ABI (its grants, through
/// [`PeerView`]) and, with a xenstore page (`xs_page`, host address), the
/// channel later PV work starts from, as Xen 4.17 and its `init-dom0less`
/// set it up: an event channel of the DomU unbound for Dom0
/// (`HVM_PARAM_STORE_EVTCHN`), `HVM_PARAM_STORE_PFN` at `~0` ("not yet":
/// Linux waits for an event on that port, `xenbus_late_init`), and grant
/// entry 1 (`GNTTAB_RESERVED_XENSTORE`) granting the page to Dom0
/// (`xc_dom_gnttab_seed`). With a console ring (`pages.1`), its PV
/// console as Xen's toolstack gives an ARM guest one (Xen 4.17's
/// `init-dom0less` gives none): a second port unbound for Dom0
/// (`HVM_PARAM_CONSOLE_EVTCHN`), the ring's GFN as
/// `HVM_PARAM_CONSOLE_PFN`, and grant entry 0 (`GNTTAB_RESERVED_CONSOLE`)
/// granting the ring to Dom0, which `xenconsoled` maps.
///
/// `last`: at a restart, the view Dom0 had of its last life (closed, no
/// mapping left: [`PeerView::close`]), reopened for this one
/// ([`PeerView::reopen`]), so that the machine's list of domains keeps
/// one view per DomU.
fn pv_channel(
    name: &str,
    domid: u16,
    x: &mut XenDom0,
    ext: &[Extent],
    (xs_page, cons_page): (Option<u64>, Option<u64>),
    last: Option<Arc<PeerView>>,
) -> Result<(), String> {
    let max_frames = x.xen_mut().config().max_grant_frames;
    let gfn = gl::GUEST_XENSTORE_BASE >> 12;
    let cons_gfn = gl::GUEST_CONSOLE_BASE >> 12;
    // The xenstore port first, then the console's, as libxl allocates them.
    let mut unbound = |page: Option<u64>, what: &str| match page {
        Some(_) => x
            .alloc_unbound(0)
            .map(Some)
            .map_err(|e| format!("its {what} event channel: {e}")),
        None => Ok(None),
    };
    let port = unbound(xs_page, "xenstore")?;
    let cons_port = unbound(cons_page, "console")?;
    let view = match last {
        Some(v) if v.reopen(port, cons_port) => v,
        Some(_) => {
            return Err(format!(
                "its xenstore and console event channels are ports {port:?} and {cons_port:?}, not its first life's"
            ))
        }
        None => Arc::new(PeerView::new(
            domid,
            max_frames,
            ext.to_vec(),
            [(gfn, xs_page), (cons_gfn, cons_page)]
                .into_iter()
                .filter_map(|(g, pa)| Some((g, pa?)))
                .collect(),
            port.map(|p| (p, u64::MAX)),
            cons_port.map(|p| (p, cons_gfn)),
        )),
    };
    x.set_peer_view(view);
    if let (Some(cons_port), Some(_)) = (cons_port, cons_page) {
        seed_grant(x, gnttabop::RESERVED_CONSOLE, cons_gfn)?;
        info!(
            "{name}: console ring at gfn {cons_gfn:#x} (GUEST_MAGIC_BASE), granted to d0 by grant ref {}; event channel port {cons_port} unbound for d0 (HVM_PARAM_CONSOLE_EVTCHN, HVM_PARAM_CONSOLE_PFN)",
            gnttabop::RESERVED_CONSOLE
        );
    }
    let (Some(port), Some(_)) = (port, xs_page) else {
        return Ok(());
    };
    seed_grant(x, gnttabop::RESERVED_XENSTORE, gfn)?;
    info!(
        "{name}: xenstore page at gfn {gfn:#x} (GUEST_MAGIC_BASE + 1 page), granted to d0 by grant ref {}; event channel port {port} unbound for d0 (HVM_PARAM_STORE_EVTCHN), HVM_PARAM_STORE_PFN ~0 until Dom0 connects it",
        gnttabop::RESERVED_XENSTORE
    );
    Ok(())
}

/// Writes grant entry `gref` of `x` (a DomU not running yet) granting its
/// frame `gfn` to Dom0, read-write, as `xc_dom_gnttab_seed` fills the
/// reserved entries.
fn seed_grant(x: &mut XenDom0, gref: u32, gfn: u64) -> Result<(), String> {
    let at = x
        .grant_entry_pa(gref)
        .map_err(|e| format!("its grant table: {e}"))?;
    let [w0, w1] = seed_entry(0, gfn as u32);
    // SAFETY: `at` is an 8-byte entry in a grant frame snowvisor allocated
    // for this DomU (just now, or at its first boot and zeroed for this
    // restart: page-aligned heap memory below 4 GiB, identity mapped at
    // HYP); no vCPU of it runs yet. The frame word goes
    // before the flags, as a toolstack fills an entry.
    unsafe {
        core::ptr::write_volatile((at + 4) as usize as *mut u32, w1);
        core::ptr::write_volatile(at as usize as *mut u32, w0);
    }
    Ok(())
}

/// Dom0's own placement (its kernel, device tree and initrd in its first
/// bank, as `domain::build` will place them) with the host memory DomUs
/// took (`taken`) gone: `Err` when Dom0 would not boot. Always `Ok` when
/// Dom0's modules are wrong anyway (its build reports that).
pub fn dom0_fits<'t>(
    tree: &'t HostTree<'_>,
    ram: &'t [Region],
    hyp: Region,
) -> impl Fn(&[Region]) -> Result<(), LayoutError> + 't {
    let modules = tree.modules();
    let dom0 = layout::check_modules(&modules, ram, hyp)
        .ok()
        .and_then(|(k, i)| Some((ZImage::parse(host_bytes(k.region)).ok()?, k, i)));
    let reserved = tree.reserved();
    move |taken: &[Region]| {
        let Some((z, k, i)) = &dom0 else {
            return Ok(());
        };
        let banks = layout::dom0_banks(&domu_mem::subtract(ram, taken), hyp, None);
        layout::place(banks, k, z, i.as_ref(), &reserved).map(|_| ())
    }
}

/// The DomUs of the host tree, built; their memory is no longer Dom0's.
/// `online` are the CPUs up in HYP (the boot CPU first). A DomU runs only
/// on the CPUs of its cpupool (`pools`, [`snowvisor_dt::dom0less::cpupools`]:
/// its `domain-cpupool`, else Pool-0, Dom0's). A DomU whose vCPUs all find
/// a CPU of its pool no other domain uses (from the end of that list; Dom0
/// keeps the boot CPU) gets those to itself, and Dom0 no vCPU there;
/// otherwise its vCPUs share its pool's CPUs with the other domains there
/// (the scheduler's time slices), placed round-robin from the pool's last
/// CPU down.
/// `avoid`: host memory no DomU may take (snowvisor's, reserved memory,
/// every boot module). `restart` (`domu_restart=`): keep copies of each
/// DomU's modules so that its SYSTEM_RESET restarts it. `dom0_fits`
/// ([`dom0_fits`]): a DomU whose memory would leave Dom0 unable to boot is
/// not started (and copies that would are not kept). `vmids`: where their
/// VMIDs come from (the domains Dom0 creates take the next ones).
#[allow(clippy::too_many_arguments)]
pub fn build_all(
    tree: &HostTree<'_>,
    specs: &[DomUSpec<'_>],
    ram: &[Region],
    avoid: &[Region],
    online: &[(u32, u8)],
    pools: &[CpuPool<'_>],
    host: &DomUHost,
    restart: bool,
    dom0_fits: &dyn Fn(&[Region]) -> Result<(), LayoutError>,
    vmids: &mut VmidPool,
) -> Vec<BuiltDomU> {
    let mut out = Vec::new();
    let mut avoid = avoid.to_vec();
    let mut free_cpus: Vec<(u32, u8)> = online.iter().skip(1).copied().collect();
    // Per pool ID: where its next shared vCPU goes.
    let mut shared_next = alloc::vec![0usize; pools.len()];
    let named_pools = pools.iter().any(|p| p.node.is_some());
    for s in specs {
        let n = s.vcpus as usize;
        let pool = match s.cpupool {
            Some(name) => pools.iter().find(|p| p.node == Some(name)),
            None => pools.iter().find(|p| p.id == 0),
        };
        // Its pool's CPUs up, in `online`'s order (all of them when the
        // pools were not read: no CPU is up).
        let allowed: Vec<(u32, u8)> = online
            .iter()
            .copied()
            .filter(|&(m, _)| pool.is_some_and(|p| p.holds(u64::from(m))))
            .collect();
        if allowed.is_empty() {
            warn!("{}: not started: no CPU of its cpupool is up", s.name);
            continue;
        }
        let Some(pieces) = domu_mem::take(ram, &avoid, s.memory_bytes()) else {
            warn!(
                "{}: not started: no {} MiB of RAM below 4 GiB left clear of snowvisor, reserved memory and the boot modules",
                s.name,
                s.memory_bytes() >> 20
            );
            continue;
        };
        // Dom0 must still boot: the DomU is the one left out.
        let mut taken: Vec<Region> = out
            .iter()
            .flat_map(|b: &BuiltDomU| b.host_memory.iter().copied())
            .chain(pieces.iter().copied())
            .collect();
        if let Err(e) = dom0_fits(&taken) {
            let node = format!("/chosen/{}", s.name);
            warn!(
                "{}: not started: {}",
                s.name,
                domu_mem::dom0_left_error(&e, &node)
            );
            continue;
        }
        // Copies of its modules for its restarts, clear of its own RAM.
        let kept = if restart {
            let bytes = s.kernel.region.size.next_multiple_of(0x1000)
                + s.ramdisk.map_or(0, |r| r.region.size);
            let mut clear = avoid.clone();
            clear.extend(pieces.iter().copied());
            let k = domu_mem::take(ram, &clear, bytes).filter(|k| {
                taken.extend(k.iter().copied());
                dom0_fits(&taken).is_ok()
            });
            if k.is_none() {
                warn!(
                    "{}: no {} MiB of RAM left (beside Dom0's needs) for copies of its boot modules: its SYSTEM_RESET will end it, not restart it",
                    s.name,
                    bytes.div_ceil(1 << 20)
                );
            }
            k
        } else {
            None
        };
        let Some(vmid) = vmids.take() else {
            warn!(
                "{}: not started: no VMID left (DomUs get {}: 0 is unused, 1 is Dom0's)",
                s.name,
                VmidPool::DOMU_VMIDS
            );
            continue;
        };
        let pool_id = pool.map_or(0, |p| p.id as usize);
        let mine: Vec<(u32, u8)> = free_cpus
            .iter()
            .copied()
            .filter(|c| allowed.contains(c))
            .collect();
        let dedicated = n <= mine.len();
        let next = shared_next.get(pool_id).copied().unwrap_or(0);
        let cpus: Vec<(u32, u8)> = if dedicated {
            let taken = mine[mine.len() - n..].to_vec();
            free_cpus.retain(|c| !taken.contains(c));
            taken
        } else {
            (0..n)
                .map(|i| allowed[allowed.len() - 1 - (next + i) % allowed.len()])
                .collect()
        };
        match build(tree, s, pieces.clone(), kept, &cpus, vmid, host) {
            Ok(mut b) => {
                b.dedicated = dedicated;
                b.cpupool = pool_id as u32;
                if !dedicated {
                    if let Some(c) = shared_next.get_mut(pool_id) {
                        *c += n;
                    }
                }
                let list: Vec<_> = cpus.iter().map(|(m, _)| format!("{m:#010x}")).collect();
                let in_pool = match pool {
                    Some(p) if named_pools => format!("; cpupool Pool-{} {}", p.id, p.path()),
                    _ => String::new(),
                };
                info!(
                    "d{} ({}): {} vCPU(s) on the CPU(s) with MPIDR {} ({}{}), {} MiB, {}",
                    s.domid,
                    s.name,
                    n,
                    list.join(", "),
                    match (dedicated, pool_id) {
                        (true, _) => "its own",
                        // Only its pool's domains run there, never Dom0.
                        (false, 1..) => "its cpupool's",
                        (false, 0) => "shared",
                    },
                    in_pool,
                    s.memory_bytes() >> 20,
                    if s.vpl011 {
                        "console on its vpl011 (lines prefixed)"
                    } else {
                        "no console (no vpl011)"
                    }
                );
                avoid.extend(b.host_memory.iter().copied());
                out.push(b);
            }
            Err(e) => {
                warn!("{}: not started: {e}", s.name);
                if dedicated {
                    free_cpus.extend(cpus);
                }
            }
        }
    }
    out
}
