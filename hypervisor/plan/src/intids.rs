//! Who owns each INTID: the one place that decides which interrupts snowvisor
//! keeps, and that takes them out of everything Dom0 is given.
//!
//! snowvisor keeps (GICv2 INTIDs): the GIC's maintenance interrupt (its node's
//! `interrupts`, a PPI), the HYP timer (the 4th `interrupts` entry of the
//! `arm,armv7-timer` node, a PPI), every interrupt of an IOMMU it owns, and
//! every interrupt of a node it keeps (its UART). Dom0 gets SPIs from device
//! `interrupts` / `interrupts-extended`, PCI hosts' `interrupt-map`, GICv2m
//! MSI frames and TI crossbar pools; a line two nodes share counts for both.
//! Any of them snowvisor keeps is removed from the device's list with a
//! [`PlanWarning::IrqKept`] naming both nodes.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::irq::{self, Irq};
use super::owned::OwnedIommu;
use super::NodeIndex;
use super::{Passthrough, PlanWarning};

/// An INTID snowvisor keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptIrq {
    /// GIC INTID (16..32 for a PPI, 32..1020 for an SPI).
    pub intid: u32,
    /// The node it comes from (the GIC, the timer, an owned IOMMU, the UART).
    pub owner: String,
    /// What snowvisor uses it for: `maintenance`, `hyp-timer`, an IOMMU's
    /// `interrupt-names` entry, or `console`.
    pub role: String,
}

/// The architected timer's compatibles; its 4th interrupt is the HYP timer.
const TIMER_COMPATIBLES: &[&str] = &["arm,armv7-timer", "arm,armv8-timer"];

/// Every INTID snowvisor keeps, in the order: GIC maintenance, HYP timer,
/// owned IOMMUs, kept subtrees (`kept` are their root nodes).
pub fn kept(x: &NodeIndex<'_>, owned: &[OwnedIommu], kept: &[usize]) -> Vec<KeptIrq> {
    let mut out = Vec::new();
    let mut add = |intid: u32, owner: &str, role: &str| {
        if !out.iter().any(|k: &KeptIrq| k.intid == intid) {
            out.push(KeptIrq {
                intid,
                owner: owner.to_string(),
                role: role.to_string(),
            });
        }
    };
    let intid = |q: &Irq| match *q {
        Irq::Spi(i) | Irq::Private(i) => Some(i),
        Irq::Foreign => None,
    };
    for i in 0..x.len() {
        if irq::is_gic(x, i) && x.is_available(i) {
            if let Some(m) = irq::interrupts(x, i)
                .ok()
                .and_then(|v| v.first().and_then(intid))
            {
                add(m, x.path(i), "maintenance");
            }
        }
        if x.is_compatible(i, TIMER_COMPATIBLES) && x.is_available(i) {
            if let Some(h) = irq::interrupts(x, i)
                .ok()
                .and_then(|v| v.get(3).and_then(intid))
            {
                add(h, x.path(i), "hyp-timer");
            }
        }
    }
    for o in owned {
        for (name, i) in &o.irqs {
            add(*i, &o.path, name);
        }
    }
    for &root in kept {
        for i in (0..x.len()).filter(|&i| x.is_within(i, root)) {
            for q in irq::interrupts(x, i).unwrap_or_default() {
                if let Some(n) = intid(&q) {
                    add(n, x.path(i), "console");
                }
            }
        }
    }
    out
}

/// The kept INTID `intid`, if snowvisor keeps it.
pub fn owner(kept: &[KeptIrq], intid: u32) -> Option<&KeptIrq> {
    kept.iter().find(|k| k.intid == intid)
}

/// Removes every kept INTID from the devices' SPI lists, one warning per
/// (device, owner) pair.
pub fn filter(devs: &mut [Passthrough], kept: &[KeptIrq], warnings: &mut Vec<PlanWarning>) {
    for d in devs.iter_mut() {
        let mut taken: Vec<(String, Vec<u32>)> = Vec::new();
        d.spis.retain(|&s| match owner(kept, s) {
            None => true,
            Some(k) => {
                match taken.iter_mut().find(|t| t.0 == k.owner) {
                    Some(t) => t.1.push(s),
                    None => taken.push((k.owner.clone(), alloc::vec![s])),
                }
                false
            }
        });
        for (owner, intids) in taken {
            warnings.push(PlanWarning::IrqKept {
                node: d.path.clone(),
                intids,
                owner,
            });
        }
    }
}
