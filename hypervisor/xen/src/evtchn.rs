//! Event channels, 2-level ABI: the port table and `event_channel_op`.
//!
//! Ports are handed out lowest-free-first from 1 (port 0 is reserved, as in
//! Xen). Delivery goes through [`SharedPages`] (pending/mask bitmaps in
//! `shared_info`, `evtchn_pending_sel`/`evtchn_upcall_pending` in `vcpu_info`).
//! Unbound and inter-domain ports live in the domain's [`EvtchnLinks`]
//! (lock-free, so that another domain can bind, close and send without this
//! domain's lock); VIRQ and IPI ports only here.

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use super::abi::layout::{
    EvtchnAllocUnbound, EvtchnBindInterdomain, EvtchnBindIpi, EvtchnBindVcpu, EvtchnBindVirq,
    EvtchnPort, EvtchnStatus, XenMemoryDomain,
};
use super::abi::{domid, evtchnop, virq, Errno};
use super::guest::GuestMemory;
use super::guest::{read_struct, write_struct};
use super::links::{EvtchnLinks, Link};
use super::platform::Platform;
use super::{Ctx, HcResult, Outcome, Xen};

/// What a port is bound to (Xen's `ECS_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelState {
    Free,
    /// Port 0: never handed out.
    Reserved,
    /// Waiting for `remote_dom` to bind to it.
    Unbound {
        remote_dom: u16,
    },
    /// Connected to `remote_port` of `remote_dom` (this domain itself for a
    /// loopback channel).
    Interdomain {
        remote_dom: u16,
        remote_port: u32,
    },
    /// Bound to a virtual IRQ.
    Virq(u32),
    /// An IPI channel (sending raises it on its own vCPU).
    Ipi,
}

/// The same text as `{:?}` (`Virq(2)`, `Unbound { remote_dom: 0 }`), for
/// the debug keys, without core's Debug builders in the image.
impl core::fmt::Display for ChannelState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ChannelState::Free => f.write_str("Free"),
            ChannelState::Reserved => f.write_str("Reserved"),
            ChannelState::Unbound { remote_dom } => {
                write!(f, "Unbound {{ remote_dom: {remote_dom} }}")
            }
            ChannelState::Interdomain {
                remote_dom,
                remote_port,
            } => write!(
                f,
                "Interdomain {{ remote_dom: {remote_dom}, remote_port: {remote_port} }}"
            ),
            ChannelState::Virq(v) => write!(f, "Virq({v})"),
            ChannelState::Ipi => f.write_str("Ipi"),
        }
    }
}

/// One port: its state and the vCPU its events are delivered to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Channel {
    pub state: ChannelState,
    pub vcpu: u32,
}

/// What the port table itself records; `Linked` ports read their state
/// from the link word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Free,
    Reserved,
    Linked,
    Virq(u32),
    Ipi,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    kind: Kind,
    vcpu: u32,
}

const FREE: Slot = Slot {
    kind: Kind::Free,
    vcpu: 0,
};

/// Where [`EventChannels::send`] says an event goes.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// Raise this domain's `port` on `vcpu`.
    Local { port: u32, vcpu: u32 },
    /// Post `port` to another domain's inbox, as sent from `from` (the
    /// sender's end as the receiver's link word names it).
    Remote {
        links: Arc<EvtchnLinks>,
        port: u32,
        from: Link,
    },
    /// An unbound port: the event is dropped, as in Xen.
    Dropped,
}

/// Finds another domain's links (`None`: no such domain).
pub type Peers<'a> = &'a mut dyn FnMut(u16) -> Option<Arc<EvtchnLinks>>;

/// The domain's event channels.
#[derive(Debug, Clone)]
pub struct EventChannels {
    domid: u16,
    nr_vcpus: u32,
    max_ports: u32,
    /// Grows as ports are allocated; never shrinks. Ports below its length are
    /// "valid" in Xen's sense (may be unmasked, closed, queried).
    ports: Vec<Slot>,
    /// Per vCPU: the port bound to each VIRQ, 0 if none.
    virq_to_port: Vec<[u32; virq::NR as usize]>,
    links: Arc<EvtchnLinks>,
}

impl EventChannels {
    pub fn new(domid: u16, nr_vcpus: u32, max_ports: u32) -> Self {
        EventChannels {
            domid,
            nr_vcpus,
            max_ports,
            ports: vec![Slot {
                kind: Kind::Reserved,
                vcpu: 0,
            }],
            virq_to_port: vec![[0; virq::NR as usize]; nr_vcpus as usize],
            links: Arc::new(EvtchnLinks::new(domid, max_ports)),
        }
    }

    /// A domain created again in the same place (after [`Self::restart`]
    /// closed every port): its new ID, vCPUs and ports (at most as many as
    /// its links have), on the same links.
    pub fn reconfigure(&mut self, domid: u16, nr_vcpus: u32, max_ports: u32) {
        self.domid = domid;
        self.links.set_domid(domid);
        self.nr_vcpus = nr_vcpus;
        self.max_ports = max_ports.min(self.links.ports());
        self.virq_to_port = vec![[0; virq::NR as usize]; nr_vcpus as usize];
    }

    /// The domain starts again (a DomU's restart): every port is closed
    /// as `EVTCHNOP_close` would (the other domain's end of an interdomain
    /// channel becomes unbound, waiting for this domain), posted events are
    /// dropped, and the channels are as [`EventChannels::new`] made them,
    /// keeping the same links (other domains hold them).
    pub fn restart(&mut self, peers: Peers<'_>) {
        for port in 1..self.ports.len() as u32 {
            // Free and reserved ports refuse: nothing to close.
            let _ = self.close(port, &mut *peers);
        }
        self.links.drain();
        self.links.take_virqs();
        self.ports.truncate(1);
        for v in self.virq_to_port.iter_mut() {
            *v = [0; virq::NR as usize];
        }
    }

    /// The domain's lock-free links, for other domains to find.
    pub fn links(&self) -> &Arc<EvtchnLinks> {
        &self.links
    }

    /// `DOMID_SELF` and the domain's own id name this domain; nothing else exists.
    fn own_domain(&self, d: u16) -> Result<u16, Errno> {
        if d == domid::SELF || d == self.domid {
            Ok(self.domid)
        } else {
            Err(Errno::ESRCH)
        }
    }

    fn check_vcpu(&self, v: u32) -> Result<(), Errno> {
        if v < self.nr_vcpus {
            Ok(())
        } else {
            Err(Errno::ENOENT)
        }
    }

    fn state(&self, port: u32, kind: Kind) -> ChannelState {
        match kind {
            Kind::Free => ChannelState::Free,
            Kind::Reserved => ChannelState::Reserved,
            Kind::Virq(v) => ChannelState::Virq(v),
            Kind::Ipi => ChannelState::Ipi,
            Kind::Linked => match self.links.get(port) {
                Link::Unbound { remote_dom } => ChannelState::Unbound { remote_dom },
                Link::Interdomain {
                    remote_dom,
                    remote_port,
                } => ChannelState::Interdomain {
                    remote_dom,
                    remote_port,
                },
                // Only while the domain itself is changing it.
                Link::None => ChannelState::Free,
            },
        }
    }

    /// The channel at `port`, or `-EINVAL` for a port never allocated.
    pub fn channel(&self, port: u32) -> Result<Channel, Errno> {
        let s = self.ports.get(port as usize).ok_or(Errno::EINVAL)?;
        Ok(Channel {
            state: self.state(port, s.kind),
            vcpu: s.vcpu,
        })
    }

    /// All ports that are not free, for the debug dump.
    pub fn bound(&self) -> impl Iterator<Item = (u32, Channel)> + '_ {
        (0..self.ports.len() as u32)
            .filter_map(|p| self.channel(p).ok().map(|c| (p, c)))
            .filter(|(_, c)| !matches!(c.state, ChannelState::Free | ChannelState::Reserved))
    }

    /// The port bound to `virq` on vCPU `v`, if any.
    pub fn virq_port(&self, v: u32, virq: u32) -> Option<u32> {
        let p = *self.virq_to_port.get(v as usize)?.get(virq as usize)?;
        (p != 0).then_some(p)
    }

    /// A free port: the lowest, or `want` exactly (static channels, Xen's
    /// `evtchn_alloc_unbound` with a port: `-EINVAL` out of range, `-EEXIST`
    /// in use).
    fn alloc(&mut self, kind: Kind, vcpu: u32, want: Option<u32>) -> Result<u32, Errno> {
        let port = match want {
            Some(p) if p == 0 || p >= self.max_ports => return Err(Errno::EINVAL),
            Some(p) => {
                while self.ports.len() <= p as usize {
                    self.ports.push(FREE);
                }
                if self.ports[p as usize].kind != Kind::Free {
                    return Err(Errno::EEXIST);
                }
                p as usize
            }
            None => match self.ports.iter().position(|c| c.kind == Kind::Free) {
                Some(p) => p,
                None if (self.ports.len() as u32) < self.max_ports => {
                    self.ports.push(FREE);
                    self.ports.len() - 1
                }
                None => return Err(Errno::ENOSPC),
            },
        };
        self.ports[port] = Slot { kind, vcpu };
        Ok(port as u32)
    }

    /// A new unbound port waiting for `remote_dom` (not checked to exist, as
    /// in Xen); at `want` if given.
    pub fn alloc_unbound(
        &mut self,
        dom: u16,
        remote_dom: u16,
        want: Option<u32>,
    ) -> Result<u32, Errno> {
        self.own_domain(dom)?;
        let remote_dom = if remote_dom == domid::SELF {
            self.domid
        } else {
            remote_dom
        };
        if remote_dom >= domid::FIRST_RESERVED {
            // DOMID_IO, DOMID_XEN, ...: nobody could ever bind to it.
            return Err(Errno::EINVAL);
        }
        let port = self.alloc(Kind::Linked, 0, want)?;
        self.links.set(port, Link::Unbound { remote_dom });
        Ok(port)
    }

    /// Binds a new local port (at `want` if given) to `remote_port` of
    /// `remote_dom`, which must be unbound and waiting for this domain
    /// (`-EINVAL` otherwise, `-ESRCH` for a domain `peers` does not know).
    /// The caller raises the new local port (Xen does: an event may have
    /// been sent before the bind).
    pub fn bind_interdomain(
        &mut self,
        remote_dom: u16,
        remote_port: u32,
        want: Option<u32>,
        peers: Peers<'_>,
    ) -> Result<u32, Errno> {
        let rdom = if remote_dom == domid::SELF {
            self.domid
        } else {
            remote_dom
        };
        let peer = if rdom == self.domid {
            self.links.clone()
        } else {
            peers(rdom).ok_or(Errno::ESRCH)?
        };
        let offer = Link::Unbound {
            remote_dom: self.domid,
        };
        if peer.get(remote_port) != offer {
            return Err(Errno::EINVAL);
        }
        let local = self.alloc(Kind::Linked, 0, want)?;
        self.links.set(
            local,
            Link::Interdomain {
                remote_dom: rdom,
                remote_port,
            },
        );
        let taken = Link::Interdomain {
            remote_dom: self.domid,
            remote_port: local,
        };
        if !peer.swap_if(remote_port, offer, taken) {
            self.links.set(local, Link::None);
            self.ports[local as usize] = FREE;
            return Err(Errno::EINVAL);
        }
        Ok(local)
    }

    pub fn bind_virq(&mut self, v: u32, vcpu: u32) -> Result<u32, Errno> {
        if v >= virq::NR || (virq::is_global(v) && vcpu != 0) {
            return Err(Errno::EINVAL);
        }
        self.check_vcpu(vcpu)?;
        if self.virq_port(vcpu, v).is_some() {
            return Err(Errno::EEXIST);
        }
        let port = self.alloc(Kind::Virq(v), vcpu, None)?;
        self.virq_to_port[vcpu as usize][v as usize] = port;
        Ok(port)
    }

    pub fn bind_ipi(&mut self, vcpu: u32) -> Result<u32, Errno> {
        self.check_vcpu(vcpu)?;
        self.alloc(Kind::Ipi, vcpu, None)
    }

    /// Moves delivery of `port` to `vcpu`: for unbound and interdomain ports and
    /// global VIRQs; anything else is `-EINVAL` (Linux ignores the error).
    pub fn bind_vcpu(&mut self, port: u32, vcpu: u32) -> Result<(), Errno> {
        self.check_vcpu(vcpu)?;
        let s = *self.ports.get(port as usize).ok_or(Errno::EINVAL)?;
        match s.kind {
            Kind::Linked => {}
            Kind::Virq(v) if virq::is_global(v) => {}
            _ => return Err(Errno::EINVAL),
        }
        self.ports[port as usize].vcpu = vcpu;
        Ok(())
    }

    /// Frees `port`; the other end of an interdomain channel becomes unbound
    /// again (waiting for this domain). The caller clears the port's pending bit.
    pub fn close(&mut self, port: u32, peers: Peers<'_>) -> Result<(), Errno> {
        let s = *self.ports.get(port as usize).ok_or(Errno::EINVAL)?;
        match s.kind {
            Kind::Free | Kind::Reserved => return Err(Errno::EINVAL),
            Kind::Virq(v) => {
                for ports in self.virq_to_port.iter_mut() {
                    if ports[v as usize] == port {
                        ports[v as usize] = 0;
                    }
                }
            }
            Kind::Linked => {
                if let Link::Interdomain {
                    remote_dom,
                    remote_port,
                } = self.links.take(port)
                {
                    let peer = if remote_dom == self.domid {
                        Some(self.links.clone())
                    } else {
                        peers(remote_dom)
                    };
                    if let Some(peer) = peer {
                        // Fails if the other end was closed meanwhile: fine.
                        peer.swap_if(
                            remote_port,
                            Link::Interdomain {
                                remote_dom: self.domid,
                                remote_port: port,
                            },
                            Link::Unbound {
                                remote_dom: self.domid,
                            },
                        );
                    }
                }
            }
            Kind::Ipi => {}
        }
        // Events other domains posted to it and not drained go with it.
        self.links.discard(port);
        self.ports[port as usize] = FREE;
        Ok(())
    }

    /// `EVTCHNOP_send`: where the event goes. Sending on an unbound port is
    /// silently dropped, as in Xen; a port that is not a channel is -EINVAL.
    pub fn send(&self, port: u32, peers: Peers<'_>) -> Result<Delivery, Errno> {
        let s = *self.ports.get(port as usize).ok_or(Errno::EINVAL)?;
        match s.kind {
            Kind::Ipi => Ok(Delivery::Local { port, vcpu: s.vcpu }),
            Kind::Linked => match self.links.get(port) {
                Link::Interdomain {
                    remote_dom,
                    remote_port,
                } if remote_dom == self.domid => Ok(Delivery::Local {
                    port: remote_port,
                    vcpu: self.channel(remote_port)?.vcpu,
                }),
                Link::Interdomain {
                    remote_dom,
                    remote_port,
                } => Ok(match peers(remote_dom) {
                    Some(links) => Delivery::Remote {
                        links,
                        port: remote_port,
                        from: Link::Interdomain {
                            remote_dom: self.domid,
                            remote_port: port,
                        },
                    },
                    // The other domain is gone: nobody to tell.
                    None => Delivery::Dropped,
                }),
                _ => Ok(Delivery::Dropped),
            },
            _ => Err(Errno::EINVAL),
        }
    }

    /// A port another domain posted: the vCPU to raise it on, if it is
    /// still an inter-domain port (a close may have raced with the send;
    /// then the event is dropped).
    pub fn posted(&self, port: u32) -> Option<u32> {
        let s = self.ports.get(port as usize)?;
        matches!(
            self.links.get(port),
            Link::Interdomain { .. } | Link::Unbound { .. }
        )
        .then_some(s.vcpu)
    }

    pub fn status(&self, dom: u16, port: u32) -> Result<EvtchnStatus, Errno> {
        self.own_domain(dom)?;
        let c = self.channel(port)?;
        let (status, u) = match c.state {
            ChannelState::Free | ChannelState::Reserved => (evtchnop::STAT_CLOSED, [0, 0]),
            ChannelState::Unbound { remote_dom } => {
                (evtchnop::STAT_UNBOUND, [u32::from(remote_dom), 0])
            }
            ChannelState::Interdomain {
                remote_dom,
                remote_port,
            } => (
                evtchnop::STAT_INTERDOMAIN,
                [u32::from(remote_dom), remote_port],
            ),
            ChannelState::Virq(v) => (evtchnop::STAT_VIRQ, [v, 0]),
            ChannelState::Ipi => (evtchnop::STAT_IPI, [0, 0]),
        };
        Ok(EvtchnStatus {
            dom,
            pad: [0; 2],
            port,
            status,
            vcpu: c.vcpu,
            u,
        })
    }
}

impl Xen {
    /// Raises `port` towards `vcpu` and injects the upcall if it became pending.
    /// A guest page that cannot be reached loses the event (logged), never more.
    pub(super) fn raise(&mut self, cx: &mut Ctx<'_>, port: u32, vcpu: u32) {
        match self.shared.set_pending(cx.mem, port, vcpu) {
            Ok(true) => cx.plat.inject_upcall(vcpu),
            Ok(false) => {}
            Err(f) => log::warn!("xen: event on port {port} lost: {f}"),
        }
    }

    /// Raises whatever `port` is bound to, on the vCPU it is bound to.
    pub(super) fn raise_port(&mut self, cx: &mut Ctx<'_>, port: u32) {
        if let Ok(c) = self.evtchn.channel(port) {
            self.raise(cx, port, c.vcpu);
        }
    }

    /// Delivers what [`EventChannels::send`] decided: a local event, or a
    /// post to the other domain's inbox and a kick of its CPUs.
    pub(super) fn deliver(&mut self, cx: &mut Ctx<'_>, d: Delivery) {
        match d {
            Delivery::Local { port, vcpu } => self.raise(cx, port, vcpu),
            Delivery::Remote { links, port, from } => {
                if links.post(port, from) {
                    cx.plat.kick_domain(links.domid());
                }
            }
            Delivery::Dropped => {}
        }
    }

    /// Raises every port other domains posted to this one since the last
    /// drain, each on the vCPU it is bound to. Called by the platform under
    /// this domain's own lock (after a kick, and before a vCPU of the domain
    /// goes back to the guest or idles); the senders never take that lock.
    pub fn drain_inbox(&mut self, mem: &mut dyn GuestMemory, plat: &mut dyn Platform) {
        let cx = &mut Ctx { mem, plat };
        for port in self.evtchn.links().drain() {
            if let Some(vcpu) = self.evtchn.posted(port) {
                self.raise(cx, port, vcpu);
            }
        }
        let mut virqs = self.evtchn.links().take_virqs();
        while virqs != 0 {
            let v = virqs.trailing_zeros();
            virqs &= virqs - 1;
            if let Some(port) = self.evtchn.virq_port(0, v) {
                self.raise_port(cx, port);
            }
        }
    }

    /// A static event channel's first end (Xen 4.18's `xen,evtchn` binding,
    /// `alloc_domain_evtchn`): port `port` of this domain, unbound and
    /// waiting for `remote_dom`. `-EINVAL` for port 0 or past the domain's
    /// ports, `-EEXIST` if the port is taken.
    pub fn static_unbound(&mut self, port: u32, remote_dom: u16) -> Result<(), Errno> {
        self.evtchn
            .alloc_unbound(domid::SELF, remote_dom, Some(port))
            .map(|_| ())
    }

    /// A new unbound port (the lowest free) waiting for `remote_dom`, as
    /// Xen allocates a dom0less DomU's xenstore channel at construction
    /// (`alloc_xenstore_evtchn`, `arch/arm/domain_build.c`).
    pub fn alloc_unbound_for(&mut self, remote_dom: u16) -> Result<u32, Errno> {
        self.evtchn.alloc_unbound(domid::SELF, remote_dom, None)
    }

    /// A static event channel's second end: binds this domain's port `port`
    /// to `remote_port` of the domain `peer` belongs to, which
    /// [`Xen::static_unbound`] set up for this domain (`-EINVAL` otherwise).
    pub fn static_bind(
        &mut self,
        port: u32,
        peer: &Arc<EvtchnLinks>,
        remote_port: u32,
    ) -> Result<(), Errno> {
        let rdom = peer.domid();
        self.evtchn
            .bind_interdomain(rdom, remote_port, Some(port), &mut |d| {
                (d == rdom).then(|| peer.clone())
            })
            .map(|_| ())
    }

    /// `event_channel_op(cmd, arg)`.
    pub(super) fn event_channel_op(&mut self, cx: &mut Ctx<'_>, cmd: u32, arg: u32) -> HcResult {
        match cmd {
            evtchnop::ALLOC_UNBOUND => {
                let mut a: EvtchnAllocUnbound = read_struct(cx.mem, arg)?;
                // The control domain's port of a domain it created
                // (`xl create`'s xenstore and console channels; Xen's
                // `XSM_TARGET`): the platform allocates it in that
                // domain, for `remote_dom` (`DOMID_SELF`: the caller).
                if self.privileged()
                    && !self.own_domain(a.dom)
                    && self.ctl.created(a.dom)
                    && self.lookup(cx, a.dom).is_some()
                {
                    let remote = match a.remote_dom {
                        domid::SELF => self.cfg.domid,
                        r if r >= domid::FIRST_RESERVED => return Err(Errno::EINVAL),
                        r => r,
                    };
                    a.port = cx.plat.foreign_alloc_unbound(a.dom, remote)?;
                    return reply(cx, arg, &a);
                }
                if !self.own_domain(a.dom) {
                    return Err(self.foreign(cx, a.dom));
                }
                a.port = self.evtchn.alloc_unbound(a.dom, a.remote_dom, None)?;
                reply(cx, arg, &a)
            }
            evtchnop::BIND_INTERDOMAIN => {
                let mut a: EvtchnBindInterdomain = read_struct(cx.mem, arg)?;
                let plat = &mut *cx.plat;
                a.local_port =
                    self.evtchn
                        .bind_interdomain(a.remote_dom, a.remote_port, None, &mut |d| {
                            plat.evtchn_peer(d)
                        })?;
                self.raise_port(cx, a.local_port);
                reply(cx, arg, &a)
            }
            evtchnop::BIND_VIRQ => {
                let mut a: EvtchnBindVirq = read_struct(cx.mem, arg)?;
                a.port = self.evtchn.bind_virq(a.virq, a.vcpu)?;
                reply(cx, arg, &a)
            }
            evtchnop::BIND_IPI => {
                let mut a: EvtchnBindIpi = read_struct(cx.mem, arg)?;
                a.port = self.evtchn.bind_ipi(a.vcpu)?;
                reply(cx, arg, &a)
            }
            evtchnop::BIND_VCPU => {
                let a: EvtchnBindVcpu = read_struct(cx.mem, arg)?;
                self.evtchn.bind_vcpu(a.port, a.vcpu)?;
                Ok(Outcome::Return(0))
            }
            evtchnop::CLOSE => {
                let a: EvtchnPort = read_struct(cx.mem, arg)?;
                let plat = &mut *cx.plat;
                self.evtchn.close(a.port, &mut |d| plat.evtchn_peer(d))?;
                if let Err(f) = self.shared.clear_pending(cx.mem, a.port) {
                    log::warn!("xen: closing port {}: {f}", a.port);
                }
                Ok(Outcome::Return(0))
            }
            evtchnop::SEND => {
                let a: EvtchnPort = read_struct(cx.mem, arg)?;
                let plat = &mut *cx.plat;
                let d = self.evtchn.send(a.port, &mut |d| plat.evtchn_peer(d))?;
                if matches!(d, Delivery::Dropped) {
                    self.pv_console_unread(cx.mem, a.port);
                }
                self.deliver(cx, d);
                Ok(Outcome::Return(0))
            }
            evtchnop::UNMASK => {
                let a: EvtchnPort = read_struct(cx.mem, arg)?;
                let c = self.evtchn.channel(a.port)?;
                match self.shared.unmask(cx.mem, a.port, c.vcpu) {
                    Ok(true) => cx.plat.inject_upcall(c.vcpu),
                    Ok(false) => {}
                    Err(f) => log::warn!("xen: unmask of port {}: {f}", a.port),
                }
                Ok(Outcome::Return(0))
            }
            evtchnop::STATUS => {
                let a: EvtchnStatus = read_struct(cx.mem, arg)?;
                if !self.own_domain(a.dom) {
                    return Err(self.foreign(cx, a.dom));
                }
                let s = self.evtchn.status(a.dom, a.port)?;
                write_struct(cx.mem, arg, &s)?;
                Ok(Outcome::Return(0))
            }
            // The FIFO ABI is not offered: Linux falls back to 2-level.
            evtchnop::INIT_CONTROL | evtchnop::EXPAND_ARRAY | evtchnop::SET_PRIORITY => {
                Err(Errno::ENOSYS)
            }
            // `evtchn_reset` of another domain: -ESRCH/-EPERM
            // (`xsm_evtchn_reset`); of its own: not offered.
            evtchnop::RESET => {
                let a: XenMemoryDomain = read_struct(cx.mem, arg)?;
                let dom = a.domid;
                if self.own_domain(dom) {
                    return Err(Errno::ENOSYS);
                }
                Err(self.foreign(cx, dom))
            }
            // No physical IRQs are routed through event channels on ARM.
            evtchnop::BIND_PIRQ => Err(Errno::ENOSYS),
            _ => Err(Errno::ENOSYS),
        }
    }
}

/// Copies an event-channel op back with its OUT field filled in. If the copy
/// fails the port stays allocated (as in Xen) and the guest sees -EFAULT.
fn reply<T: super::abi::wire::Wire>(cx: &mut Ctx<'_>, arg: u32, v: &T) -> HcResult {
    write_struct(cx.mem, arg, v)?;
    Ok(Outcome::Return(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: u16) -> Option<Arc<EvtchnLinks>> {
        None
    }

    fn table() -> EventChannels {
        EventChannels::new(0, 2, 8)
    }

    #[test]
    fn state_display_is_its_debug() {
        for c in [
            ChannelState::Free,
            ChannelState::Reserved,
            ChannelState::Unbound { remote_dom: 0 },
            ChannelState::Interdomain {
                remote_dom: 0x7ff0,
                remote_port: 4095,
            },
            ChannelState::Virq(2),
            ChannelState::Ipi,
        ] {
            assert_eq!(alloc::format!("{c}"), alloc::format!("{c:?}"));
        }
    }

    #[test]
    fn ports_start_at_one_and_reuse_the_lowest() {
        let mut t = table();
        assert_eq!(t.alloc_unbound(domid::SELF, domid::SELF, None), Ok(1));
        assert_eq!(t.bind_virq(virq::CONSOLE, 0), Ok(2));
        assert_eq!(t.bind_ipi(1), Ok(3));
        t.close(1, &mut none).unwrap();
        assert_eq!(t.alloc_unbound(0, 5, None), Ok(1));
        assert_eq!(
            t.channel(1).unwrap().state,
            ChannelState::Unbound { remote_dom: 5 }
        );
        for p in 4..8 {
            assert_eq!(t.bind_ipi(0), Ok(p));
        }
        assert_eq!(t.bind_ipi(0), Err(Errno::ENOSPC));
    }

    #[test]
    fn virq_rules() {
        let mut t = table();
        assert_eq!(
            t.bind_virq(virq::CONSOLE, 1),
            Err(Errno::EINVAL),
            "global VIRQ only on vCPU 0"
        );
        assert_eq!(t.bind_virq(virq::TIMER, 2), Err(Errno::ENOENT));
        assert_eq!(t.bind_virq(virq::NR, 0), Err(Errno::EINVAL));
        assert_eq!(t.bind_virq(u32::MAX, 0), Err(Errno::EINVAL));
        let p = t.bind_virq(virq::CONSOLE, 0).unwrap();
        assert_eq!(t.bind_virq(virq::CONSOLE, 0), Err(Errno::EEXIST));
        let timer1 = t.bind_virq(virq::TIMER, 1).unwrap();
        assert_eq!(
            t.bind_vcpu(timer1, 0),
            Err(Errno::EINVAL),
            "per-vCPU VIRQ cannot move"
        );
        assert_eq!(t.bind_vcpu(p, 1), Ok(()), "global VIRQ can move");
        assert_eq!(t.channel(p).unwrap().vcpu, 1);
        assert_eq!(t.virq_port(0, virq::CONSOLE), Some(p));
        t.close(p, &mut none).unwrap();
        assert_eq!(t.virq_port(0, virq::CONSOLE), None);
        assert_eq!(t.bind_virq(virq::CONSOLE, 0), Ok(p));
    }

    #[test]
    fn interdomain_loopback_and_close() {
        let mut t = table();
        let a = t.alloc_unbound(domid::SELF, domid::SELF, None).unwrap();
        let foreign = t.alloc_unbound(domid::SELF, 7, None).unwrap();
        assert_eq!(
            t.bind_interdomain(domid::SELF, foreign, None, &mut none),
            Err(Errno::EINVAL),
            "waits for another domain"
        );
        assert_eq!(t.bind_interdomain(3, a, None, &mut none), Err(Errno::ESRCH));
        assert_eq!(
            t.bind_interdomain(domid::SELF, 99, None, &mut none),
            Err(Errno::EINVAL)
        );
        let b = t.bind_interdomain(0, a, None, &mut none).unwrap();
        assert!(matches!(t.send(b, &mut none), Ok(Delivery::Local { port, vcpu: 0 }) if port == a));
        assert!(matches!(t.send(a, &mut none), Ok(Delivery::Local { port, vcpu: 0 }) if port == b));
        assert_eq!(
            t.bind_interdomain(domid::SELF, a, None, &mut none),
            Err(Errno::EINVAL),
            "already bound"
        );
        t.close(b, &mut none).unwrap();
        assert_eq!(
            t.channel(a).unwrap().state,
            ChannelState::Unbound { remote_dom: 0 }
        );
        assert!(matches!(t.send(a, &mut none), Ok(Delivery::Dropped)));
        assert_eq!(t.close(b, &mut none), Err(Errno::EINVAL), "double close");
        assert_eq!(t.close(0, &mut none), Err(Errno::EINVAL), "reserved port");
        assert_eq!(t.close(1000, &mut none), Err(Errno::EINVAL));
    }

    #[test]
    fn status_reports_each_state() {
        let mut t = table();
        let u = t.alloc_unbound(domid::SELF, 4, None).unwrap();
        let v = t.bind_virq(virq::CONSOLE, 0).unwrap();
        let s = t.status(domid::SELF, u).unwrap();
        assert_eq!((s.status, s.u[0]), (evtchnop::STAT_UNBOUND, 4));
        let s = t.status(0, v).unwrap();
        assert_eq!(
            (s.status, s.u[0], s.vcpu),
            (evtchnop::STAT_VIRQ, virq::CONSOLE, 0)
        );
        assert_eq!(t.status(0, 0).unwrap().status, evtchnop::STAT_CLOSED);
        assert_eq!(t.status(1, 0), Err(Errno::ESRCH));
        assert_eq!(t.status(0, 4096), Err(Errno::EINVAL));
        assert_eq!(t.alloc_unbound(domid::XEN, 0, None), Err(Errno::ESRCH));
    }

    #[test]
    fn static_ports_and_foreign_domains() {
        let mut t = table();
        assert_eq!(t.alloc_unbound(0, 1, Some(5)), Ok(5));
        assert_eq!(t.alloc_unbound(0, 1, Some(5)), Err(Errno::EEXIST));
        assert_eq!(
            t.alloc_unbound(0, 1, Some(8)),
            Err(Errno::EINVAL),
            "past max"
        );
        assert_eq!(
            t.alloc_unbound(0, 1, Some(0)),
            Err(Errno::EINVAL),
            "reserved"
        );
        assert_eq!(t.alloc_unbound(0, domid::IO, None), Err(Errno::EINVAL));
        assert_eq!(t.bind_ipi(0), Ok(1), "lowest free below the static one");
        assert_eq!(
            t.bind_interdomain(9, 1, None, &mut none),
            Err(Errno::ESRCH),
            "unknown domain"
        );
    }

    /// Two domains' tables bound, sent on and closed through their links,
    /// each touching only its own table plus the other's link words.
    #[test]
    fn interdomain_between_two_tables() {
        let mut d0 = EventChannels::new(0, 1, 16);
        let mut d1 = EventChannels::new(1, 2, 16);
        let (l0, l1) = (d0.links().clone(), d1.links().clone());
        let mut peers_of_1 = |d: u16| (d == 0).then(|| l0.clone());
        let mut peers_of_0 = |d: u16| (d == 1).then(|| l1.clone());
        let offer = d0.alloc_unbound(domid::SELF, 1, None).unwrap();
        assert_eq!(
            d1.bind_interdomain(0, offer + 1, None, &mut peers_of_1),
            Err(Errno::EINVAL),
            "not an offer"
        );
        let other = d0.alloc_unbound(0, 2, None).unwrap();
        assert_eq!(
            d1.bind_interdomain(0, other, None, &mut peers_of_1),
            Err(Errno::EINVAL),
            "an offer to domain 2, not 1"
        );
        let p1 = d1
            .bind_interdomain(0, offer, None, &mut peers_of_1)
            .unwrap();
        assert_eq!(
            d0.channel(offer).unwrap().state,
            ChannelState::Interdomain {
                remote_dom: 1,
                remote_port: p1
            }
        );
        assert_eq!(
            d1.bind_interdomain(0, offer, None, &mut peers_of_1),
            Err(Errno::EINVAL),
            "bound once"
        );
        d1.bind_vcpu(p1, 1).unwrap();
        match d0.send(offer, &mut peers_of_0).unwrap() {
            Delivery::Remote { links, port, from } => {
                assert_eq!((links.domid(), port), (1, p1));
                assert_eq!(
                    from,
                    Link::Interdomain {
                        remote_dom: 0,
                        remote_port: offer
                    }
                );
                assert!(links.post(port, from));
            }
            d => panic!("{d:?}"),
        }
        assert_eq!(l1.drain(), [p1]);
        assert_eq!(d1.posted(p1), Some(1), "on the vCPU it is bound to");
        assert!(matches!(
            d1.send(p1, &mut peers_of_1),
            Ok(Delivery::Remote { port, .. }) if port == offer
        ));
        d1.close(p1, &mut peers_of_1).unwrap();
        assert_eq!(
            d0.channel(offer).unwrap().state,
            ChannelState::Unbound { remote_dom: 1 },
            "the other end waits again"
        );
        assert_eq!(d1.posted(p1), None, "a late post is dropped");
        assert!(matches!(
            d0.send(offer, &mut peers_of_0),
            Ok(Delivery::Dropped)
        ));
        let again = d1
            .bind_interdomain(0, offer, None, &mut peers_of_1)
            .unwrap();
        d0.close(offer, &mut peers_of_0).unwrap();
        assert_eq!(
            d1.channel(again).unwrap().state,
            ChannelState::Unbound { remote_dom: 0 }
        );
        assert_eq!(d0.channel(offer).unwrap().state, ChannelState::Free);
    }
}
