//! The Xen hypercall ABI for Dom0: enough of Xen's guest interface that a stock
//! Linux (Debian 6.1 armmp-lpae) boots as Xen's initial domain, with hvc0,
//! 2-level event channels and v1 grant tables (`xen-dom0-abi.md`).
//!
//! Pure logic, host-tested, no `unsafe`: guest memory is reached only through
//! [`GuestMemory`], and everything that touches hardware or stage 2 goes
//! through [`Platform`]. The trap handler calls [`Xen::hypercall`] for
//! `HVC #0xEA1` with r12 and r0-r4 and applies the [`Outcome`].
//!
//! Guest input is hostile: every pointer is copied through checked helpers,
//! every index and count is range-checked, long calls are continued rather
//! than run unbounded, and a bad call returns a Xen error code.

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod abi;
mod console;
mod domctl;
mod domctl_create;
mod domctl_vcpu;
mod evtchn;
mod gnttab;
pub mod guest;
mod hvm;
mod links;
mod memory;
pub mod platform;
mod sched;
mod shared;
mod sysctl;
mod sysctl_host;
mod time;
mod vcpu;
mod version;

#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

use alloc::sync::Arc;
use core::fmt;

pub use abi::Errno;
pub use console::INPUT_RING_SIZE;
pub use evtchn::{Channel, ChannelState};
pub use gnttab::{seed_entry, Mapping};
pub use guest::{Fault, GuestMemory};
pub use links::{EvtchnLinks, Link};
pub use platform::{
    CacheOp, DomainInfo, ExitCounters, HostInfo, HypervisorLog, MachineAction, NewDomain, Platform,
    PlatformError, ShutdownReason, VcpuInfo, VcpuStart, XenFrame, MAX_CPUPOOLS,
};

use abi::{domid, evtchnop, hc, virq};

/// Ops of a batched call (grant ops, reservation extents) handled before the
/// call is continued, so that interrupts are taken in between.
const BATCH: u32 = 64;

/// How to resume the guest after a hypercall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Set r0 to this value and resume after the `HVC`.
    Return(i32),
    /// The call did part of its work: set r0-r4 to these values, leave r12,
    /// and resume *at* the `HVC` (return address - 4, for ARM and Thumb-2
    /// alike), so that the guest issues the rest. Xen's continuations work the
    /// same way and Linux expects r0-r4 to be clobbered.
    Continue([u32; 5]),
}

type HcResult = Result<Outcome, Errno>;

/// The two capabilities a handler works with.
struct Ctx<'a> {
    mem: &'a mut dyn GuestMemory,
    plat: &'a mut dyn Platform,
}

/// Fixed properties of the domain, given at construction. Domain 0 is the
/// hardware and control domain (Xen's `is_hardware_domain` and
/// `is_control_domain`: `XENFEAT_dom0`, `sysctl`, `domctl`, `platform_op`);
/// every other domain is unprivileged and gets Xen 4.17's answers for an
/// unprivileged caller (mostly `-EPERM`, from the XSM dummy policy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XenConfig {
    /// The domain's id (0 for Dom0).
    pub domid: u16,
    /// Its name as `xl list` shows it (`Domain-0`; a DomU's `xen,domain`
    /// node name, empty until set).
    pub name: &'static str,
    pub nr_vcpus: u32,
    /// Reported by `XENVER_version` and, on the target, in the DT's
    /// `compatible = "xen,xen-<major>.<minor>"`.
    pub version: (u16, u16),
    /// `XENVER_extraversion` (at most 15 bytes are kept).
    pub extraversion: &'static str,
    /// The hypervisor's command line, as `XENVER_commandline` gives it to
    /// Dom0 (`xl info`'s `xen_commandline`): snowvisor's own arguments,
    /// `/chosen/xen,xen-bootargs` or else `bootargs`. At most 1023 bytes are
    /// kept (`xen_commandline_t` is `char[1024]` with its NUL,
    /// `public/version.h`); an unprivileged domain gets `"<denied>"`
    /// instead, as from Xen 4.17's XSM dummy policy (`XSM_PRIV`).
    pub commandline: &'static str,
    /// Dom0 is mapped 1:1 (IPA == PA): report `XENFEAT_direct_mapped`, else
    /// `XENFEAT_not_direct_mapped` (from the IOMMU plan / `swiotlb=`).
    pub direct_mapped: bool,
    /// `max_nr_frames` of `GNTTABOP_query_size`. The DT's grant-table region
    /// must be at least this many 4 KiB pages.
    pub max_grant_frames: u32,
    /// Grant mappings the domain may hold at once.
    pub max_grant_maps: u32,
    /// Event-channel ports (at most 4096 with the 2-level ABI).
    pub max_evtchn_ports: u32,
    /// INTID of the event-channel upcall PPI (16..=31), as in the DT's
    /// `/hypervisor` `interrupts`.
    pub event_ppi: u32,
}

impl XenConfig {
    /// A dom0less DomU's defaults, as Xen 4.17's `create_domUs`
    /// (`arch/arm/domain_build.c`) creates one: domain `domid` (1, 2, ...)
    /// with `nr_vcpus` vCPUs, not direct-mapped (`XENFEAT_not_direct_mapped`,
    /// no `XENFEAT_dom0`), `max_evtchn_port` 1023 (1024 ports),
    /// `max_grant_frames` -1 = Xen's `gnttab_max_frames` default of 64, and
    /// the event PPI `GUEST_EVTCHN_PPI` = 31 (`public/arch-arm.h`). The grant
    /// table's frames go at `GUEST_GNTTAB_BASE` (0x38000000, 16 MiB), which
    /// the DomU's device tree names. Grant maps: 1024 at once, as Dom0 (Xen's
    /// maptrack default, 1024 frames, is far larger than a DomU needs).
    pub fn domu(domid: u16, nr_vcpus: u32) -> Self {
        XenConfig {
            domid,
            name: "",
            direct_mapped: false,
            max_evtchn_ports: 1024,
            ..XenConfig::dom0(nr_vcpus, false)
        }
    }

    /// Dom0 defaults: Xen 4.17, Xen's 64 grant frames for dom0, all 4096
    /// ports, PPI 31 (INTID 31, `<1 15 0xf08>`).
    pub fn dom0(nr_vcpus: u32, direct_mapped: bool) -> Self {
        XenConfig {
            domid: 0,
            name: "Domain-0",
            nr_vcpus,
            version: (4, 17),
            extraversion: "-snowvisor",
            commandline: "",
            direct_mapped,
            max_grant_frames: 64,
            max_grant_maps: 1024,
            max_evtchn_ports: evtchnop::NR_CHANNELS_2L,
            event_ppi: 31,
        }
    }
}

/// A configuration value out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
    Domid(u16),
    Vcpus(u32),
    GrantFrames(u32),
    GrantMaps(u32),
    EvtchnPorts(u32),
    EventPpi(u32),
}

/// GICv2 has at most 8 CPU interfaces.
const MAX_VCPUS: u32 = 8;
/// Frames the grant table can grow to (Xen's `max_grant_frames` limit).
const MAX_GRANT_FRAMES: u32 = 1024;

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Domid(d) => write!(f, "xen: domain id {d:#x} is reserved"),
            ConfigError::Vcpus(n) => write!(f, "xen: {n} vCPUs, expected 1..={MAX_VCPUS}"),
            ConfigError::GrantFrames(n) => {
                write!(f, "xen: {n} grant frames, expected 1..={MAX_GRANT_FRAMES}")
            }
            ConfigError::GrantMaps(n) => write!(f, "xen: {n} grant maps, expected 1..=65536"),
            ConfigError::EvtchnPorts(n) => write!(f, "xen: {n} event channels, expected 2..=4096"),
            ConfigError::EventPpi(n) => {
                write!(f, "xen: event interrupt {n} is not a PPI (16..=31)")
            }
        }
    }
}

/// Per-domain Xen state.
#[derive(Debug, Clone)]
pub struct Xen {
    cfg: XenConfig,
    shared: shared::SharedPages,
    evtchn: evtchn::EventChannels,
    gnttab: gnttab::GrantTable,
    console: console::InputRing,
    vm_assist: u32,
    wallclock: Option<abi::layout::XenpfSettime64>,
    /// A DomU's xenstore event channel and page (`HVM_PARAM_STORE_*`).
    xenstore: Option<(u32, u64)>,
    /// A DomU's PV console event channel and ring page
    /// (`HVM_PARAM_CONSOLE_*`).
    pv_console: Option<(u32, u64)>,
    /// Whether PV console output was dropped (and said so) while no
    /// backend was bound.
    pv_console_dropped: bool,
    /// Dom0's mappings of other domains' pages through `memory_op`
    /// (`XENMAPSPACE_gmfn_foreign`, `XENMEM_acquire_resource`): its GFN,
    /// the other domain and the page's physical address, until
    /// `XENMEM_remove_from_physmap`.
    foreign_maps: alloc::collections::BTreeMap<u64, (u16, u64)>,
    /// The control domain's record of the domains it manages (pause
    /// counts, scheduler and P2M pool settings, which it created).
    ctl: domctl_create::Control,
}

impl Xen {
    pub fn new(cfg: XenConfig) -> Result<Self, ConfigError> {
        if cfg.domid >= domid::FIRST_RESERVED {
            return Err(ConfigError::Domid(cfg.domid));
        }
        if !(1..=MAX_VCPUS).contains(&cfg.nr_vcpus) {
            return Err(ConfigError::Vcpus(cfg.nr_vcpus));
        }
        if !(1..=MAX_GRANT_FRAMES).contains(&cfg.max_grant_frames) {
            return Err(ConfigError::GrantFrames(cfg.max_grant_frames));
        }
        if !(1..=65536).contains(&cfg.max_grant_maps) {
            return Err(ConfigError::GrantMaps(cfg.max_grant_maps));
        }
        if !(2..=evtchnop::NR_CHANNELS_2L).contains(&cfg.max_evtchn_ports) {
            return Err(ConfigError::EvtchnPorts(cfg.max_evtchn_ports));
        }
        if !(16..=31).contains(&cfg.event_ppi) {
            return Err(ConfigError::EventPpi(cfg.event_ppi));
        }
        Ok(Xen {
            shared: shared::SharedPages::new(cfg.nr_vcpus),
            evtchn: evtchn::EventChannels::new(cfg.domid, cfg.nr_vcpus, cfg.max_evtchn_ports),
            gnttab: gnttab::GrantTable::new(
                cfg.domid,
                cfg.max_grant_frames,
                cfg.max_grant_maps as usize,
            ),
            console: console::InputRing::default(),
            vm_assist: 0,
            wallclock: None,
            xenstore: None,
            pv_console: None,
            pv_console_dropped: false,
            foreign_maps: alloc::collections::BTreeMap::new(),
            ctl: domctl_create::Control::default(),
            cfg,
        })
    }

    /// The domain starts again (a DomU's restart after its reset): as
    /// [`Xen::new`] made it (no shared_info, grant table or console state,
    /// no VM assists), its event channels closed as `EVTCHNOP_close` closes
    /// them (another domain's end becomes unbound, waiting for it) and its
    /// event-channel links kept (other domains hold them). Static channels
    /// are bound again by the caller ([`Xen::static_bind`]).
    pub fn restart(&mut self, peers: &mut dyn FnMut(u16) -> Option<Arc<EvtchnLinks>>) {
        let mut ev = core::mem::replace(
            &mut self.evtchn,
            evtchn::EventChannels::new(self.cfg.domid, 1, 2),
        );
        ev.restart(peers);
        let cfg = self.cfg.clone();
        // The configuration was accepted by `Xen::new` already.
        if let Ok(x) = Xen::new(cfg) {
            *self = x;
        }
        self.evtchn = ev;
    }

    /// A domain's new life under configuration `cfg` (`Err`, and nothing
    /// changes, if [`Xen::new`] refuses it): as [`Xen::restart`] (its event
    /// channels closed, other domains' ends unbound, its links kept), then
    /// made as [`Xen::new`] makes a domain with `cfg`, its links now of
    /// `cfg.domid`, its ports at most as many as they have: for a domain the
    /// control domain creates again in the same place.
    pub fn renew(
        &mut self,
        cfg: XenConfig,
        peers: &mut dyn FnMut(u16) -> Option<Arc<EvtchnLinks>>,
    ) -> Result<(), ConfigError> {
        let fresh = Xen::new(cfg)?;
        self.restart(peers);
        let mut ev = core::mem::replace(&mut self.evtchn, evtchn::EventChannels::new(0, 1, 2));
        *self = fresh;
        ev.reconfigure(self.cfg.domid, self.cfg.nr_vcpus, self.cfg.max_evtchn_ports);
        self.evtchn = ev;
        Ok(())
    }

    /// The control domain sets HVM parameter `index` of this domain (one it
    /// created; `HVMOP_set_param`, `public/hvm/params.h`): its xenstore's
    /// and PV console's page and port, which the domain reads with
    /// `HVMOP_get_param`. `HVM_PARAM_CALLBACK_IRQ` is accepted when it names
    /// this domain's event PPI (the only upcall on ARM). Returns false for
    /// any other parameter or value (nothing changes).
    pub fn set_hvm_param(&mut self, index: u32, value: u64) -> bool {
        use abi::hvmop;
        let port = u32::try_from(value).ok();
        match index {
            hvmop::PARAM_STORE_EVTCHN => match port {
                Some(p) => {
                    self.xenstore = Some((p, self.xenstore.map_or(0, |(_, pfn)| pfn)));
                    true
                }
                None => false,
            },
            hvmop::PARAM_STORE_PFN => {
                self.xenstore = Some((self.xenstore.map_or(0, |(p, _)| p), value));
                true
            }
            hvmop::PARAM_CONSOLE_EVTCHN => match port {
                Some(p) => {
                    self.pv_console = Some((p, self.pv_console.map_or(0, |(_, pfn)| pfn)));
                    true
                }
                None => false,
            },
            hvmop::PARAM_CONSOLE_PFN => {
                self.pv_console = Some((self.pv_console.map_or(0, |(p, _)| p), value));
                true
            }
            hvmop::PARAM_CALLBACK_IRQ => value & 0xff == u64::from(self.cfg.event_ppi),
            _ => false,
        }
    }

    pub fn config(&self) -> &XenConfig {
        &self.cfg
    }

    /// Handles hypercall `nr` (r12) with arguments r0-r4 for the vCPU that
    /// trapped (`plat.current_vcpu()`), whose stage 1 `mem` translates with.
    pub fn hypercall(
        &mut self,
        mem: &mut dyn GuestMemory,
        plat: &mut dyn Platform,
        nr: u32,
        args: [u32; 5],
    ) -> Outcome {
        let mut cx = Ctx { mem, plat };
        let cx = &mut cx;
        let r = match nr {
            hc::XEN_VERSION => self.xen_version(cx, args[0], args[1]),
            hc::MEMORY_OP => self.memory_op(cx, args),
            hc::VCPU_OP => self.vcpu_op(cx, args[0], args[1], args[2]),
            hc::EVENT_CHANNEL_OP => self.event_channel_op(cx, args[0], args[1]),
            hc::GRANT_TABLE_OP => self.grant_table_op(cx, args),
            hc::HVM_OP => self.hvm_op(cx, args[0], args[1]),
            hc::CONSOLE_IO => self.console_io(cx, args),
            hc::SCHED_OP => self.sched_op(cx, args[0], args[1]),
            hc::PLATFORM_OP => self.platform_op(cx, args[0]),
            hc::VM_ASSIST => self.vm_assist(args[0], args[1]),
            hc::SYSCTL => self.sysctl(cx, args[0]),
            hc::DOMCTL => self.domctl(cx, args[0]),
            // xsm_op: Xen 4.17 without FLASK (the dummy and SILO policies,
            // Debian's default) answers -ENOSYS (`xsm/dummy.h`:
            // `xsm_do_xsm_op`); libxl takes that as "no FLASK".
            hc::XSM_OP => Err(Errno::ENOSYS),
            // physdev_op: Xen 4.17 on ARM has no PCI (`HAS_PCI` is not
            // selected), so `do_arm_physdev_op` is -ENOSYS for every domain
            // and every device, owned or not.
            // multicall, dm_op, the old compat calls and everything x86:
            // not implemented.
            _ => Err(Errno::ENOSYS),
        };
        match r {
            Ok(o) => o,
            Err(e) => {
                // The arguments as `{args:x?}` prints them, without pulling
                // core's Debug list builder into the image.
                let [a0, a1, a2, a3, a4] = args;
                log::trace!("xen: hypercall {nr} [{a0:x}, {a1:x}, {a2:x}, {a3:x}, {a4:x}]: {e}");
                Outcome::Return(e.ret())
            }
        }
    }

    /// Raises global VIRQ `virq` (e.g. `VIRQ_CONSOLE`) if Dom0 bound it.
    pub fn send_virq(&mut self, mem: &mut dyn GuestMemory, plat: &mut dyn Platform, v: u32) {
        if let Some(port) = self.evtchn.virq_port(0, v) {
            self.raise_port(&mut Ctx { mem, plat }, port);
        }
    }

    /// Raises per-vCPU VIRQ `virq` (e.g. `VIRQ_TIMER`) on `vcpu` if bound.
    pub fn send_vcpu_virq(
        &mut self,
        mem: &mut dyn GuestMemory,
        plat: &mut dyn Platform,
        vcpu: u32,
        v: u32,
    ) {
        if virq::is_global(v) {
            return self.send_virq(mem, plat, v);
        }
        if let Some(port) = self.evtchn.virq_port(vcpu, v) {
            self.raise_port(&mut Ctx { mem, plat }, port);
        }
    }

    /// `evtchn_upcall_pending` of `vcpu`: the level its upcall PPI should
    /// have. Optional for the target (injection on 0 -> 1 already happens).
    pub fn upcall_pending(&self, mem: &mut dyn GuestMemory, vcpu: u32) -> bool {
        self.shared.upcall_pending(mem, vcpu)
    }

    /// Feature bits enabled with `vm_assist`.
    pub fn vm_assist_bits(&self) -> u32 {
        self.vm_assist
    }

    /// The channel at `port`, for the target's debug keys.
    pub fn channel(&self, port: u32) -> Option<Channel> {
        self.evtchn.channel(port).ok()
    }

    /// Writes the event-channel and grant-table state, one line per item
    /// (for the debug console).
    pub fn dump(&self, mem: &mut dyn GuestMemory, out: &mut dyn fmt::Write) -> fmt::Result {
        let gfn = |g: Option<u64>| {
            g.map_or_else(
                || alloc::string::String::from("-"),
                |g| alloc::format!("{g:#x}"),
            )
        };
        writeln!(
            out,
            "xen: shared_info gfn {}",
            gfn(self.shared.shared_info_gfn())
        )?;
        for v in 0..self.cfg.nr_vcpus {
            let ipa = self.shared.vcpu_info_ipa(v);
            let up = self.shared.upcall_pending(mem, v);
            writeln!(
                out,
                "xen: vCPU {v} vcpu_info {} upcall_pending {}",
                gfn(ipa),
                up as u8
            )?;
        }
        for (p, c) in self.evtchn.bound() {
            let pend = self
                .shared
                .is_pending(mem, p)
                .map_or('?', |b| if b { 'P' } else { '-' });
            let mask = self
                .shared
                .is_masked(mem, p)
                .map_or('?', |b| if b { 'M' } else { '-' });
            writeln!(
                out,
                "xen: port {p} {} vCPU {} {pend}{mask}",
                c.state, c.vcpu
            )?;
        }
        writeln!(
            out,
            "xen: grant table {}/{} frames, {} active entries",
            self.gnttab.nr_frames(),
            self.gnttab.max_frames(),
            self.gnttab.active_entries()
        )?;
        for (h, m) in self.gnttab.mappings() {
            writeln!(
                out,
                "xen: grant handle {h}: d{} ref {} frame {:#x} at gfn {:#x}",
                m.dom, m.gref, m.frame, m.host_gfn
            )?;
        }
        let (waiting, dropped) = self.console_input_state();
        writeln!(
            out,
            "xen: console input {waiting} waiting, {dropped} dropped"
        )
    }

    fn own_domain(&self, d: u16) -> bool {
        d == domid::SELF || d == self.cfg.domid
    }

    /// Domain 0: the hardware and control domain.
    fn privileged(&self) -> bool {
        self.cfg.domid == 0
    }

    /// Domain `d` (`None`: no such domain), see [`Xen::domain_at`].
    fn lookup(&self, cx: &mut Ctx<'_>, d: u16) -> Option<DomainInfo> {
        if d >= domid::FIRST_RESERVED {
            return None;
        }
        self.domain_at(cx, d).filter(|i| i.domid == d)
    }

    /// The domain with the lowest id at least `first`: another domain from
    /// the platform's list, or this one from its own Xen state
    /// ([`Xen::own_info`], fresher than any list: the caller holds it).
    fn domain_at(&self, cx: &mut Ctx<'_>, first: u16) -> Option<DomainInfo> {
        let me = self.cfg.domid;
        let listed = match cx.plat.domain_info(first) {
            Some(i) if i.domid == me => cx.plat.domain_info(me + 1),
            other => other,
        };
        match listed {
            Some(i) if i.domid < me || me < first => Some(i),
            _ if me < first => None,
            _ => Some(self.own_info(cx)),
        }
    }

    fn own_info(&self, cx: &mut Ctx<'_>) -> DomainInfo {
        self.domain_info(cx.plat.ram_pages())
    }

    /// This domain as Xen's `getdomaininfo` sees it, with `ram_pages` of
    /// RAM, from its vCPUs' runstates: online unless `RUNSTATE_offline`,
    /// running if one runs, blocked if every online one is; CPU time is
    /// what their runstates counted as running up to their last change.
    pub fn domain_info(&self, ram_pages: u32) -> DomainInfo {
        let mut online = 0;
        let mut running = false;
        let mut blocked = true;
        let mut cpu_time_ns = 0u64;
        for v in 0..self.cfg.nr_vcpus {
            let run = self.shared.vcpu(v).map(|a| a.run).unwrap_or_default();
            cpu_time_ns = cpu_time_ns.saturating_add(run.time[abi::runstate::RUNNING as usize]);
            if run.state != abi::runstate::OFFLINE {
                online += 1;
                running |= run.state == abi::runstate::RUNNING;
                blocked &= run.state == abi::runstate::BLOCKED;
            }
        }
        DomainInfo {
            running,
            blocked: blocked && online > 0,
            cpu_time_ns,
            shared_info_gfn: self.shared.shared_info_gfn().unwrap_or(0),
            ..DomainInfo::new(
                self.cfg.domid,
                self.cfg.name,
                u64::from(ram_pages),
                self.cfg.nr_vcpus,
                online,
            )
        }
    }

    /// The error for reaching into another domain `d`: `-ESRCH` if there is
    /// no such domain, else `-EPERM` (Xen's dummy XSM policy, `XSM_TARGET`,
    /// for a caller that is not the control domain). snowvisor refuses the
    /// control domain too where the answer is the other domain's private
    /// state (its ports, parameters, reservation changes), which it never
    /// reaches from another domain's hypercall.
    fn foreign(&self, cx: &mut Ctx<'_>, d: u16) -> Errno {
        match self.lookup(cx, d) {
            Some(_) => Errno::EPERM,
            None => Errno::ESRCH,
        }
    }

    /// The domain's event-channel links, for the platform's list of domains
    /// (other domains find it there to bind, close and send).
    pub fn evtchn_links(&self) -> Arc<EvtchnLinks> {
        self.evtchn.links().clone()
    }

    /// Whether other domains posted events not yet drained
    /// ([`Xen::drain_inbox`]).
    #[inline]
    pub fn inbox_posted(&self) -> bool {
        self.evtchn.links().has_posted()
    }

    /// The Xen frame mapped at `gfn`, if any.
    fn frame_at(&self, gfn: u64) -> Option<XenFrame> {
        if self.shared.shared_info_gfn() == Some(gfn) {
            return Some(XenFrame::SharedInfo);
        }
        self.gnttab.frame_at(gfn).map(XenFrame::GrantTable)
    }

    /// Whether `gfn` holds something the hypervisor reaches by guest frame
    /// (shared_info, a vcpu_info, a grant frame) or a mapped grant: such a
    /// frame must not be replaced or given away.
    fn gfn_in_use(&self, gfn: u64) -> bool {
        self.foreign_maps.contains_key(&gfn)
            || self.shared.uses_gfn(gfn)
            || self.gnttab.frame_at(gfn).is_some()
            || self.gnttab.host_mapped_at(gfn)
    }
}
