//! Static event channels: Xen 4.18's `xen,evtchn-v1` nodes (booting.txt,
//! "Static Event Channel"; `alloc_static_evtchn` in `arch/arm/domain_build.c`).
//!
//! A node directly under `/chosen` is one of Dom0's ends; under a
//! `xen,domain` node, one of that DomU's. Its `xen,evtchn = <port &remote>`
//! gives the local port and the phandle of the other end's node, whose own
//! `xen,evtchn` must name this node back. Each pair is one channel, read
//! once, in tree order of the end met first.

use alloc::string::String;
use alloc::vec::Vec;

use super::{err, kids, DomUError, DomUSpec, Enhanced, Why, DOMAIN_COMPATIBLE};
use crate::index::{be_cells, NodeIndex};
use crate::HostTree;

/// The compatible of a static event channel node.
pub const COMPATIBLE: &str = "xen,evtchn-v1";
/// Ports of a DomU (Xen's dom0less `max_evtchn_port` = 1023) and of Dom0
/// (the 2-level ABI's 4096).
const DOMU_MAX_PORT: u32 = 1023;
const DOM0_MAX_PORT: u32 = 4095;

/// One end of a static channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvtchnEnd {
    /// The `xen,evtchn-v1` node's path.
    pub node: String,
    /// The domain it belongs to (0: Dom0).
    pub domid: u16,
    /// Its local port.
    pub port: u32,
}

/// A static event channel: `first` is created unbound for `second`'s domain
/// and `second` binds to it (Xen's order), before either domain runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticEvtchn {
    pub first: EvtchnEnd,
    pub second: EvtchnEnd,
}

/// The domain a channel node belongs to: Dom0 under `/chosen`, else the
/// DomU of its parent `xen,domain` node (with that node's spec).
fn owner<'s, 'a>(
    x: &NodeIndex<'_>,
    chosen: usize,
    domus: &'s [DomUSpec<'a>],
    node: usize,
) -> Option<(u16, Option<&'s DomUSpec<'a>>)> {
    let p = x.parent(node)?;
    if p == chosen {
        return Some((0, None));
    }
    if x.parent(p) != Some(chosen) || !x.compatibles(p).contains(&DOMAIN_COMPATIBLE) {
        return None;
    }
    let name = x.nodes.get(p)?.name;
    let spec = domus.iter().find(|d| d.name == name)?;
    Some((spec.domid, Some(spec)))
}

/// `xen,evtchn` of `n`: (local port, remote phandle).
fn property(x: &NodeIndex<'_>, n: usize) -> Result<(u32, u32), DomUError> {
    let v = x
        .prop(n, "xen,evtchn")
        .ok_or_else(|| err(x, n, "xen,evtchn", Why::Missing))?;
    match be_cells(v).collect::<Vec<_>>()[..] {
        [port, ph] if v.len() == 8 => Ok((port, ph)),
        _ => Err(err(
            x,
            n,
            "xen,evtchn",
            Why::Length {
                len: v.len(),
                cells: "2 cells (local port, remote phandle)",
            },
        )),
    }
}

/// Every static event channel of the tree, checked against the domains
/// [`super::domus`] read from it.
///
/// Errors name the node and `xen,evtchn` (or `compatible`): a missing or
/// malformed property, a port outside the domain's (0 or above 1023 for a
/// DomU, 4095 for Dom0), a phandle that names no node or not a channel node,
/// ends that do not name each other, a remote end outside any domain, two
/// ends of one domain on one port, a DomU without `xen,enhanced`.
pub fn static_evtchns(
    tree: &HostTree<'_>,
    domus: &[DomUSpec<'_>],
) -> Result<Vec<StaticEvtchn>, DomUError> {
    let x = tree.index();
    let Some(chosen) = x.by_path("/chosen") else {
        return Ok(Vec::new());
    };
    let mut nodes = Vec::new();
    for &c in kids(x, chosen) {
        if x.compatibles(c).contains(&COMPATIBLE) {
            nodes.push(c);
        }
        if x.compatibles(c).contains(&DOMAIN_COMPATIBLE) {
            nodes.extend(
                kids(x, c)
                    .iter()
                    .copied()
                    .filter(|&k| x.compatibles(k).contains(&COMPATIBLE)),
            );
        }
    }
    let mut ends: Vec<(usize, EvtchnEnd)> = Vec::new();
    let mut out = Vec::new();
    for &n in &nodes {
        if ends.iter().any(|(i, _)| *i == n) {
            continue;
        }
        let local = end(x, chosen, domus, n, &ends)?;
        let (_, ph) = property(x, n)?;
        let r = x
            .by_phandle(ph)
            .ok_or_else(|| err(x, n, "xen,evtchn", Why::EvtchnPhandle(ph)))?;
        let rpath = || String::from(x.path(r));
        if !x.compatibles(r).contains(&COMPATIBLE) {
            return Err(err(x, n, "xen,evtchn", Why::EvtchnNotChannel(rpath())));
        }
        let (_, back) = property(x, r)?;
        if x.phandle_of(n) != Some(back) || x.by_phandle(back) != Some(n) {
            return Err(err(x, n, "xen,evtchn", Why::EvtchnNotMutual(rpath())));
        }
        if owner(x, chosen, domus, r).is_none() {
            return Err(err(x, n, "xen,evtchn", Why::EvtchnNoDomain(rpath())));
        }
        ends.push((n, local.clone()));
        // A node naming itself finds its own port taken.
        let remote = end(x, chosen, domus, r, &ends)?;
        ends.push((r, remote.clone()));
        out.push(StaticEvtchn {
            first: local,
            second: remote,
        });
    }
    Ok(out)
}

/// Reads channel node `n` as an end: its domain and local port, checked
/// against the ends already taken.
fn end(
    x: &NodeIndex<'_>,
    chosen: usize,
    domus: &[DomUSpec<'_>],
    n: usize,
    taken: &[(usize, EvtchnEnd)],
) -> Result<EvtchnEnd, DomUError> {
    let (domid, spec) = owner(x, chosen, domus, n).ok_or_else(|| {
        err(
            x,
            n,
            "compatible",
            Why::EvtchnNoDomain(String::from(x.path(n))),
        )
    })?;
    if spec.is_some_and(|s| s.enhanced == Enhanced::Disabled) {
        return Err(err(x, n, "compatible", Why::EvtchnNotEnhanced));
    }
    let (port, _) = property(x, n)?;
    let max = if domid == 0 {
        DOM0_MAX_PORT
    } else {
        DOMU_MAX_PORT
    };
    if port == 0 || port > max {
        return Err(err(x, n, "xen,evtchn", Why::EvtchnPort { port, max }));
    }
    if let Some((_, e)) = taken
        .iter()
        .find(|(_, e)| e.domid == domid && e.port == port)
    {
        return Err(err(
            x,
            n,
            "xen,evtchn",
            Why::EvtchnPortTaken(e.node.clone()),
        ));
    }
    Ok(EvtchnEnd {
        node: String::from(x.path(n)),
        domid,
        port,
    })
}
