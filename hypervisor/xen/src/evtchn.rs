//! Event channels, 2-level ABI: the port table and `event_channel_op`.
//!
//! Ports are handed out lowest-free-first from 1 (port 0 is reserved, as in
//! Xen). Delivery goes through [`SharedPages`] (pending/mask bitmaps in
//! `shared_info`, `evtchn_pending_sel`/`evtchn_upcall_pending` in `vcpu_info`).
//! With one domain, "interdomain" channels connect two ports of that domain.

use alloc::vec;
use alloc::vec::Vec;

use super::abi::layout::{
    EvtchnAllocUnbound, EvtchnBindInterdomain, EvtchnBindIpi, EvtchnBindVcpu, EvtchnBindVirq,
    EvtchnPort, EvtchnStatus,
};
use super::abi::{domid, evtchnop, virq, Errno};
use super::guest::{read_struct, write_struct};
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
    /// Connected to `remote_port` (of this same domain).
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

const FREE: Channel = Channel {
    state: ChannelState::Free,
    vcpu: 0,
};

/// The domain's event channels.
#[derive(Debug, Clone)]
pub struct EventChannels {
    domid: u16,
    nr_vcpus: u32,
    max_ports: u32,
    /// Grows as ports are allocated; never shrinks. Ports below its length are
    /// "valid" in Xen's sense (may be unmasked, closed, queried).
    ports: Vec<Channel>,
    /// Per vCPU: the port bound to each VIRQ, 0 if none.
    virq_to_port: Vec<[u32; virq::NR as usize]>,
}

impl EventChannels {
    pub fn new(domid: u16, nr_vcpus: u32, max_ports: u32) -> Self {
        EventChannels {
            domid,
            nr_vcpus,
            max_ports,
            ports: vec![Channel {
                state: ChannelState::Reserved,
                vcpu: 0,
            }],
            virq_to_port: vec![[0; virq::NR as usize]; nr_vcpus as usize],
        }
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

    /// The channel at `port`, or `-EINVAL` for a port never allocated.
    pub fn channel(&self, port: u32) -> Result<Channel, Errno> {
        self.ports.get(port as usize).copied().ok_or(Errno::EINVAL)
    }

    /// All ports that are not free, for the debug dump.
    pub fn bound(&self) -> impl Iterator<Item = (u32, Channel)> + '_ {
        self.ports
            .iter()
            .enumerate()
            .filter(|(_, c)| !matches!(c.state, ChannelState::Free | ChannelState::Reserved))
            .map(|(p, c)| (p as u32, *c))
    }

    /// The port bound to `virq` on vCPU `v`, if any.
    pub fn virq_port(&self, v: u32, virq: u32) -> Option<u32> {
        let p = *self.virq_to_port.get(v as usize)?.get(virq as usize)?;
        (p != 0).then_some(p)
    }

    fn alloc(&mut self, state: ChannelState, vcpu: u32) -> Result<u32, Errno> {
        let port = match self
            .ports
            .iter()
            .position(|c| c.state == ChannelState::Free)
        {
            Some(p) => p,
            None if (self.ports.len() as u32) < self.max_ports => {
                self.ports.push(FREE);
                self.ports.len() - 1
            }
            None => return Err(Errno::ENOSPC),
        };
        self.ports[port] = Channel { state, vcpu };
        Ok(port as u32)
    }

    pub fn alloc_unbound(&mut self, dom: u16, remote_dom: u16) -> Result<u32, Errno> {
        self.own_domain(dom)?;
        let remote_dom = if remote_dom == domid::SELF {
            self.domid
        } else {
            remote_dom
        };
        self.alloc(ChannelState::Unbound { remote_dom }, 0)
    }

    /// Binds a new local port to `remote_port`, which must be unbound and
    /// waiting for this domain. The caller raises the new local port (Xen does:
    /// an event may have been sent before the bind).
    pub fn bind_interdomain(&mut self, remote_dom: u16, remote_port: u32) -> Result<u32, Errno> {
        let rdom = self.own_domain(remote_dom)?;
        let r = self.channel(remote_port)?;
        if r.state
            != (ChannelState::Unbound {
                remote_dom: self.domid,
            })
        {
            return Err(Errno::EINVAL);
        }
        let local = self.alloc(
            ChannelState::Interdomain {
                remote_dom: rdom,
                remote_port,
            },
            0,
        )?;
        self.ports[remote_port as usize].state = ChannelState::Interdomain {
            remote_dom: self.domid,
            remote_port: local,
        };
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
        let port = self.alloc(ChannelState::Virq(v), vcpu)?;
        self.virq_to_port[vcpu as usize][v as usize] = port;
        Ok(port)
    }

    pub fn bind_ipi(&mut self, vcpu: u32) -> Result<u32, Errno> {
        self.check_vcpu(vcpu)?;
        self.alloc(ChannelState::Ipi, vcpu)
    }

    /// Moves delivery of `port` to `vcpu`: for unbound and interdomain ports and
    /// global VIRQs; anything else is `-EINVAL` (Linux ignores the error).
    pub fn bind_vcpu(&mut self, port: u32, vcpu: u32) -> Result<(), Errno> {
        self.check_vcpu(vcpu)?;
        let c = self.channel(port)?;
        match c.state {
            ChannelState::Unbound { .. } | ChannelState::Interdomain { .. } => {}
            ChannelState::Virq(v) if virq::is_global(v) => {}
            _ => return Err(Errno::EINVAL),
        }
        self.ports[port as usize].vcpu = vcpu;
        Ok(())
    }

    /// Frees `port`; the other end of an interdomain channel becomes unbound
    /// again. The caller clears the port's pending bit.
    pub fn close(&mut self, port: u32) -> Result<(), Errno> {
        let c = self.channel(port)?;
        match c.state {
            ChannelState::Free | ChannelState::Reserved => return Err(Errno::EINVAL),
            ChannelState::Virq(v) => {
                for ports in self.virq_to_port.iter_mut() {
                    if ports[v as usize] == port {
                        ports[v as usize] = 0;
                    }
                }
            }
            ChannelState::Interdomain { remote_port, .. } => {
                if let Some(r) = self.ports.get_mut(remote_port as usize) {
                    r.state = ChannelState::Unbound {
                        remote_dom: self.domid,
                    };
                }
            }
            ChannelState::Unbound { .. } | ChannelState::Ipi => {}
        }
        self.ports[port as usize] = FREE;
        Ok(())
    }

    /// `EVTCHNOP_send`: which (port, vCPU) to raise, if any. Sending on an
    /// unbound port is silently dropped, as in Xen.
    pub fn send(&self, port: u32) -> Result<Option<(u32, u32)>, Errno> {
        let c = self.channel(port)?;
        match c.state {
            ChannelState::Interdomain { remote_port, .. } => {
                Ok(Some((remote_port, self.channel(remote_port)?.vcpu)))
            }
            ChannelState::Ipi => Ok(Some((port, c.vcpu))),
            ChannelState::Unbound { .. } => Ok(None),
            _ => Err(Errno::EINVAL),
        }
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

    /// `event_channel_op(cmd, arg)`.
    pub(super) fn event_channel_op(&mut self, cx: &mut Ctx<'_>, cmd: u32, arg: u32) -> HcResult {
        match cmd {
            evtchnop::ALLOC_UNBOUND => {
                let mut a: EvtchnAllocUnbound = read_struct(cx.mem, arg)?;
                a.port = self.evtchn.alloc_unbound(a.dom, a.remote_dom)?;
                reply(cx, arg, &a)
            }
            evtchnop::BIND_INTERDOMAIN => {
                let mut a: EvtchnBindInterdomain = read_struct(cx.mem, arg)?;
                a.local_port = self.evtchn.bind_interdomain(a.remote_dom, a.remote_port)?;
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
                self.evtchn.close(a.port)?;
                if let Err(f) = self.shared.clear_pending(cx.mem, a.port) {
                    log::warn!("xen: closing port {}: {f}", a.port);
                }
                Ok(Outcome::Return(0))
            }
            evtchnop::SEND => {
                let a: EvtchnPort = read_struct(cx.mem, arg)?;
                if let Some((port, vcpu)) = self.evtchn.send(a.port)? {
                    self.raise(cx, port, vcpu);
                }
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
                let s = self.evtchn.status(a.dom, a.port)?;
                write_struct(cx.mem, arg, &s)?;
                Ok(Outcome::Return(0))
            }
            // The FIFO ABI is not offered: Linux falls back to 2-level.
            evtchnop::INIT_CONTROL | evtchnop::EXPAND_ARRAY | evtchnop::SET_PRIORITY => {
                Err(Errno::ENOSYS)
            }
            // No physical IRQs are routed through event channels on ARM.
            evtchnop::BIND_PIRQ | evtchnop::RESET => Err(Errno::ENOSYS),
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
        assert_eq!(t.alloc_unbound(domid::SELF, domid::SELF), Ok(1));
        assert_eq!(t.bind_virq(virq::CONSOLE, 0), Ok(2));
        assert_eq!(t.bind_ipi(1), Ok(3));
        t.close(1).unwrap();
        assert_eq!(t.alloc_unbound(0, 5), Ok(1));
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
        t.close(p).unwrap();
        assert_eq!(t.virq_port(0, virq::CONSOLE), None);
        assert_eq!(t.bind_virq(virq::CONSOLE, 0), Ok(p));
    }

    #[test]
    fn interdomain_loopback_and_close() {
        let mut t = table();
        let a = t.alloc_unbound(domid::SELF, domid::SELF).unwrap();
        let foreign = t.alloc_unbound(domid::SELF, 7).unwrap();
        assert_eq!(
            t.bind_interdomain(domid::SELF, foreign),
            Err(Errno::EINVAL),
            "waits for another domain"
        );
        assert_eq!(t.bind_interdomain(3, a), Err(Errno::ESRCH));
        assert_eq!(t.bind_interdomain(domid::SELF, 99), Err(Errno::EINVAL));
        let b = t.bind_interdomain(0, a).unwrap();
        assert_eq!(t.send(b), Ok(Some((a, 0))));
        assert_eq!(t.send(a), Ok(Some((b, 0))));
        assert_eq!(
            t.bind_interdomain(domid::SELF, a),
            Err(Errno::EINVAL),
            "already bound"
        );
        t.close(b).unwrap();
        assert_eq!(
            t.channel(a).unwrap().state,
            ChannelState::Unbound { remote_dom: 0 }
        );
        assert_eq!(t.send(a), Ok(None));
        assert_eq!(t.close(b), Err(Errno::EINVAL), "double close");
        assert_eq!(t.close(0), Err(Errno::EINVAL), "reserved port");
        assert_eq!(t.close(1000), Err(Errno::EINVAL));
    }

    #[test]
    fn status_reports_each_state() {
        let mut t = table();
        let u = t.alloc_unbound(domid::SELF, 4).unwrap();
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
        assert_eq!(t.alloc_unbound(domid::XEN, 0), Err(Errno::ESRCH));
    }
}
