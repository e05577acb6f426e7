//! The lock-free part of a domain's event channels: what other domains
//! read and change without taking its lock.
//!
//! Xen takes both domains' event locks (in domain-id order) to bind or
//! close an inter-domain channel. snowvisor never lets a domain take
//! another domain's lock while it holds its own; instead every domain has
//! an [`EvtchnLinks`]: one atomic word per port saying whether it is
//! unbound or connected and to what, and an inbox bitmap of ports other
//! domains raised. Binding and closing are compare-and-swap on those
//! words; sending sets a bit in the receiver's inbox and kicks the CPUs
//! of its vCPUs; the receiver drains the inbox under its own lock
//! ([`crate::Xen::drain_inbox`]) and delivers each port as a local event.
//!
//! A link word (`u32`): bits 31:30 the kind (0 not linked, 1 unbound,
//! 2 interdomain), bits 26:12 the remote domain id (< `DOMID_FIRST_RESERVED`
//! = 0x7ff0, 15 bits), bits 11:0 the remote port (< 4096, the 2-level ABI's
//! limit). 0 is a port that is not linked (free, VIRQ, IPI): no peer ever
//! compare-and-swaps from 0, so a port a domain is still setting up cannot
//! be taken by another.
//!
//! Rules that keep both ends consistent (each only ever changes a word it
//! has read, with compare-and-swap, or its own words):
//! - bind (domain L, new port l, to R's port r): L writes its word l as
//!   connected to (R, r) first (nobody knows l yet), then swaps R's word r
//!   from "unbound, for L" to "connected to (L, l)"; if that fails, L frees l.
//! - close (L's port l): L swaps its word l to 0 and looks at what it held:
//!   if connected to (R, r), it swaps R's word r from "connected to (L, l)"
//!   to "unbound, for L" (Xen's rule: the other end waits for a new bind).
//!   If R changed it meanwhile (closed it too), the swap fails and nothing
//!   else is needed.
//! - send (R's port r, connected to (L, l)): R posts l to L's inbox
//!   together with who it is, the link word L's port l holds while the
//!   channel lasts (`Interdomain(R, r)`). L's drain delivers l only if its
//!   word l still names R: connected to R, or unbound for R because R
//!   closed its end after sending (in Xen the event is pending in L from
//!   the send on, and R's close does not take it back: a sender that
//!   notifies and exits at once, as `xenstore` clients and snowctl do,
//!   must not lose its event). R read its word r before posting, so L may
//!   have closed l and bound it again to another domain in between; Xen
//!   rules this out by holding both domains' event locks, snowvisor by
//!   this check (without it the late event would be raised on the new,
//!   unrelated channel). L's own close discards what was posted to l, as
//!   Xen's close clears the port's pending bit.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU16, AtomicU32, Ordering};

const KIND_SHIFT: u32 = 30;
const DOM_SHIFT: u32 = 12;
const DOM_MASK: u32 = 0x7fff;
const PORT_MASK: u32 = 0xfff;
const UNBOUND: u32 = 1 << KIND_SHIFT;
const INTERDOMAIN: u32 = 2 << KIND_SHIFT;

/// What a port's link word says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// Not an unbound or inter-domain port.
    None,
    /// Waiting for `remote_dom` to bind to it.
    Unbound { remote_dom: u16 },
    /// Connected to `remote_port` of `remote_dom` (which may be the domain
    /// itself: a loopback channel).
    Interdomain { remote_dom: u16, remote_port: u32 },
}

impl Link {
    fn word(self) -> u32 {
        match self {
            Link::None => 0,
            Link::Unbound { remote_dom } => {
                UNBOUND | (u32::from(remote_dom) & DOM_MASK) << DOM_SHIFT
            }
            Link::Interdomain {
                remote_dom,
                remote_port,
            } => {
                INTERDOMAIN
                    | (u32::from(remote_dom) & DOM_MASK) << DOM_SHIFT
                    | (remote_port & PORT_MASK)
            }
        }
    }

    fn from_word(w: u32) -> Link {
        let remote_dom = ((w >> DOM_SHIFT) & DOM_MASK) as u16;
        match w >> KIND_SHIFT {
            1 => Link::Unbound { remote_dom },
            2 => Link::Interdomain {
                remote_dom,
                remote_port: w & PORT_MASK,
            },
            _ => Link::None,
        }
    }
}

/// A port's poster slot after two different senders posted it before a
/// drain: the port is delivered if it is inter-domain at all (one of them
/// is the live channel's sender; losing its event is worse than a
/// spurious one). A link word never has all bits set (kind 3 is unused).
const POSTED_BY_SEVERAL: u32 = u32::MAX;

/// A domain's link words and inbox (see the module documentation). Shared
/// by reference count between the domain's [`crate::Xen`] and whoever
/// finds peers for other domains (the platform's list of domains).
#[derive(Debug)]
pub struct EvtchnLinks {
    /// The domain they belong to (a domain Dom0 creates again in the same
    /// place takes a new ID: [`EvtchnLinks::set_domid`]).
    domid: AtomicU16,
    words: Box<[AtomicU32]>,
    inbox: Box<[AtomicU32]>,
    /// Per port: who posted it since the last drain (the link word the
    /// port must hold for the event to be delivered), 0 if nobody,
    /// [`POSTED_BY_SEVERAL`].
    posters: Box<[AtomicU32]>,
    /// Global VIRQs other domains' changes raised here (bit n: VIRQ n),
    /// e.g. `VIRQ_DOM_EXC` for Dom0 when a DomU ends.
    virqs: AtomicU32,
    /// Some inbox bit may be set: one load for the receiver's fast check.
    posted: AtomicBool,
}

impl EvtchnLinks {
    /// Links for `ports` ports (at most 4096) of domain `domid`.
    pub fn new(domid: u16, ports: u32) -> Self {
        let ports = ports.min(PORT_MASK + 1) as usize;
        EvtchnLinks {
            domid: AtomicU16::new(domid),
            words: (0..ports).map(|_| AtomicU32::new(0)).collect(),
            inbox: (0..ports.div_ceil(32)).map(|_| AtomicU32::new(0)).collect(),
            posters: (0..ports).map(|_| AtomicU32::new(0)).collect(),
            virqs: AtomicU32::new(0),
            posted: AtomicBool::new(false),
        }
    }

    /// The domain these links belong to.
    pub fn domid(&self) -> u16 {
        self.domid.load(Ordering::Acquire)
    }

    /// The links now belong to domain `domid`: for a domain created again
    /// in the same place, once every port of its last life is closed.
    pub fn set_domid(&self, domid: u16) {
        self.domid.store(domid, Ordering::Release);
    }

    /// Number of ports.
    pub fn ports(&self) -> u32 {
        self.words.len() as u32
    }

    /// What port `port` is linked to (`Link::None` past the end).
    pub fn get(&self, port: u32) -> Link {
        self.words
            .get(port as usize)
            .map_or(Link::None, |w| Link::from_word(w.load(Ordering::Acquire)))
    }

    /// Sets the domain's own port `port` (which it holds under its lock).
    pub(crate) fn set(&self, port: u32, l: Link) {
        if let Some(w) = self.words.get(port as usize) {
            w.store(l.word(), Ordering::Release);
        }
    }

    /// Sets the domain's own port to [`Link::None`]; returns what it held.
    pub(crate) fn take(&self, port: u32) -> Link {
        self.words
            .get(port as usize)
            .map_or(Link::None, |w| Link::from_word(w.swap(0, Ordering::AcqRel)))
    }

    /// Changes `port` from `old` to `new` if it still holds `old`.
    pub(crate) fn swap_if(&self, port: u32, old: Link, new: Link) -> bool {
        self.words.get(port as usize).is_some_and(|w| {
            w.compare_exchange(old.word(), new.word(), Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        })
    }

    /// Another domain raises `port`: `from` is that domain's end as this
    /// port's link word names it (`Link::Interdomain { remote_dom: sender,
    /// remote_port: sender's port }`). Records the sender, then sets the
    /// inbox bit. True if the bit was clear (the receiver's CPUs need a
    /// kick).
    pub fn post(&self, port: u32, from: Link) -> bool {
        let (Some(slot), Some(w)) = (
            self.posters.get(port as usize),
            self.inbox.get(port as usize / 32),
        ) else {
            return false;
        };
        let me = from.word();
        let mut cur = slot.load(Ordering::Acquire);
        while cur != me && cur != POSTED_BY_SEVERAL {
            let new = if cur == 0 { me } else { POSTED_BY_SEVERAL };
            match slot.compare_exchange(cur, new, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break,
                Err(seen) => cur = seen,
            }
        }
        let m = 1 << (port % 32);
        let fresh = w.fetch_or(m, Ordering::AcqRel) & m == 0;
        self.posted.store(true, Ordering::Release);
        fresh
    }

    /// Raises global VIRQ `v` (below 32, `abi::virq`) in this domain from
    /// another CPU or domain, as Xen's `send_global_virq` does (the port the
    /// domain bound it to is looked up when it drains). True if it was not
    /// raised already (the receiver's CPUs need a kick).
    pub fn post_virq(&self, v: u32) -> bool {
        if v >= 32 {
            return false;
        }
        let m = 1 << v;
        let fresh = self.virqs.fetch_or(m, Ordering::AcqRel) & m == 0;
        self.posted.store(true, Ordering::Release);
        fresh
    }

    /// Takes the global VIRQs raised by [`EvtchnLinks::post_virq`].
    pub(crate) fn take_virqs(&self) -> u32 {
        self.virqs.swap(0, Ordering::AcqRel)
    }

    /// Forgets what was posted to `port` (the domain closes it, under its
    /// lock): a post racing this is dropped too (its poster slot is gone
    /// when the drain sees the bit).
    pub(crate) fn discard(&self, port: u32) {
        if let (Some(slot), Some(w)) = (
            self.posters.get(port as usize),
            self.inbox.get(port as usize / 32),
        ) {
            w.fetch_and(!(1 << (port % 32)), Ordering::AcqRel);
            slot.store(0, Ordering::Release);
        }
    }

    /// Whether another domain raised a port not yet drained.
    #[inline]
    pub fn has_posted(&self) -> bool {
        self.posted.load(Ordering::Acquire)
    }

    /// Takes every posted port, lowest first, and keeps those whose link
    /// word still names the domain that posted them (see the module
    /// documentation); the others were closed, and maybe bound again,
    /// after the sender read its end.
    pub(crate) fn drain(&self) -> Vec<u32> {
        let mut out = Vec::new();
        if !self.posted.swap(false, Ordering::AcqRel) {
            return out;
        }
        for (i, w) in self.inbox.iter().enumerate() {
            let mut bits = w.swap(0, Ordering::AcqRel);
            while bits != 0 {
                let port = i as u32 * 32 + bits.trailing_zeros();
                bits &= bits - 1;
                let by = self.posters[port as usize].swap(0, Ordering::AcqRel);
                let now = self.get(port);
                let still = match by {
                    // Taken by an earlier drain that raced with the post.
                    0 => false,
                    POSTED_BY_SEVERAL => {
                        matches!(now, Link::Interdomain { .. } | Link::Unbound { .. })
                    }
                    w => names_same_domain(Link::from_word(w), now),
                };
                if still {
                    out.push(port);
                }
            }
        }
        out
    }
}

/// Whether the port's link word `now` still names the domain of `poster`
/// (an inter-domain link word): connected to it (the same or a later
/// channel), or waiting for it again after it closed its end.
fn names_same_domain(poster: Link, now: Link) -> bool {
    let Link::Interdomain { remote_dom: by, .. } = poster else {
        return false;
    };
    match now {
        Link::Interdomain { remote_dom, .. } | Link::Unbound { remote_dom } => remote_dom == by,
        Link::None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip() {
        for l in [
            Link::None,
            Link::Unbound { remote_dom: 0 },
            Link::Unbound { remote_dom: 0x7fef },
            Link::Interdomain {
                remote_dom: 3,
                remote_port: 4095,
            },
            Link::Interdomain {
                remote_dom: 0,
                remote_port: 1,
            },
        ] {
            assert_eq!(Link::from_word(l.word()), l);
        }
        assert_ne!(
            Link::Unbound { remote_dom: 0 }.word(),
            0,
            "unbound for Dom0 is not 0"
        );
    }

    #[test]
    fn swap_only_from_what_was_read() {
        let l = EvtchnLinks::new(1, 8);
        let u = Link::Unbound { remote_dom: 0 };
        assert!(!l.swap_if(2, u, Link::None), "a free port is never taken");
        l.set(2, u);
        let b = Link::Interdomain {
            remote_dom: 0,
            remote_port: 5,
        };
        assert!(l.swap_if(2, u, b));
        assert!(!l.swap_if(2, u, b), "bound once");
        assert_eq!(l.take(2), b);
        assert_eq!(l.get(2), Link::None);
        assert!(!l.swap_if(99, Link::None, b));
        assert_eq!(l.get(99), Link::None);
    }

    fn from(dom: u16, port: u32) -> Link {
        Link::Interdomain {
            remote_dom: dom,
            remote_port: port,
        }
    }

    #[test]
    fn inbox_posts_and_drains_in_port_order() {
        let l = EvtchnLinks::new(0, 100);
        l.set(70, from(1, 9));
        l.set(3, from(2, 4));
        assert!(!l.has_posted());
        assert!(l.post(70, from(1, 9)));
        assert!(l.post(3, from(2, 4)));
        assert!(!l.post(3, from(2, 4)), "already waiting: no second kick");
        assert!(!l.post(100, from(1, 9)), "past the end");
        assert!(l.has_posted());
        assert_eq!(l.drain(), [3, 70]);
        assert!(!l.has_posted());
        assert!(l.drain().is_empty());
    }

    /// Review m2: the sender read its end, the receiver closed its port and
    /// bound it again to another domain, then the post arrives. The new
    /// channel gets no event from the old one; its own sender's still go
    /// through, also when both posted before the drain.
    #[test]
    fn a_post_for_a_closed_and_rebound_port_is_dropped() {
        let l = EvtchnLinks::new(0, 16);
        // Port 5 was connected to d1 port 7; now it is d2 port 3's.
        l.set(5, from(2, 3));
        assert!(l.post(5, from(1, 7)), "the late post still kicks");
        assert!(l.drain().is_empty(), "not raised on d2's channel");
        assert!(l.post(5, from(2, 3)));
        assert_eq!(l.drain(), [5], "d2's own event");
        // The stale and the live post before one drain: delivered once.
        assert!(l.post(5, from(1, 7)));
        assert!(!l.post(5, from(2, 3)));
        assert_eq!(l.drain(), [5]);
        // Closed for good: nothing is raised, whoever posted.
        l.take(5);
        l.post(5, from(2, 3));
        l.post(5, from(1, 7));
        assert!(l.drain().is_empty());
        // Waiting for d1 again: d2's late post is not d1's.
        l.set(5, Link::Unbound { remote_dom: 1 });
        l.post(5, from(2, 3));
        assert!(l.drain().is_empty());
    }

    /// The sender notifies and closes its end at once (snowctl, xenstore
    /// clients exit right after): the receiver, draining later, sees its
    /// port unbound for the sender and still gets the event, as in Xen.
    #[test]
    fn an_event_survives_the_senders_close() {
        let l = EvtchnLinks::new(1, 16);
        l.set(1, from(0, 3));
        assert!(l.post(1, from(0, 3)));
        // Dom0 closes port 3: d1's port 1 waits for Dom0 again.
        assert!(l.swap_if(1, from(0, 3), Link::Unbound { remote_dom: 0 }));
        assert_eq!(l.drain(), [1]);
        // Dom0 bound a new port to it before the drain: delivered too.
        assert!(l.post(1, from(0, 3)));
        l.set(1, from(0, 4));
        assert_eq!(l.drain(), [1]);
    }

    /// The receiver's own close takes back what was posted, as Xen's close
    /// clears the pending bit: a new channel on the port gets nothing old.
    #[test]
    fn the_receivers_close_discards_its_posts() {
        let l = EvtchnLinks::new(1, 16);
        l.set(1, from(0, 3));
        assert!(l.post(1, from(0, 3)));
        l.take(1);
        l.discard(1);
        l.set(1, Link::Unbound { remote_dom: 0 });
        assert!(l.drain().is_empty());
        assert!(l.post(1, from(0, 3)), "the bit was cleared");
    }
}
