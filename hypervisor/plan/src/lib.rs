//! The Plan: what Dom0 gets, computed once by a pure function from the host tree
//! and the boot options, before any hardware is touched (design.md, "the one idea
//! to protect"). The hypervisor executes it at boot; `scripts/plan` prints the
//! same Plan on a laptop.
//!
//! For every IOMMU node (a compatible in [`known::KNOWN`] or a node with
//! `#iommu-cells`) the plan decides:
//! - **own**: snowvisor drives it; the node leaves Dom0's tree and its masters
//!   lose their IOMMU references;
//! - **hide**: no snowvisor driver; the node leaves Dom0's tree, its MMIO and
//!   IRQs are not given to Dom0, its masters lose their references;
//! - **pass**: Dom0 gets it like any device, masters untouched.
//!
//! Then the swiotlb-xen decision, and the passthrough list (MMIO + SPIs per device).
//! [`dom0`] writes Dom0's device tree from the host's and the plan; [`domu`]
//! lays out a DomU's guest memory as Xen does and writes its device tree.
//!
//! Pure, host-tested, no `unsafe`; depends only on `snowvisor-dt`.

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod cpus;
pub mod devices;
pub mod dom0;
pub mod domu;
pub mod error;
pub mod intids;
pub mod iommu;
pub mod irq;
pub mod known;
pub mod options;
pub mod owned;
pub mod report;

#[cfg(test)]
pub(crate) mod tests;

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

pub use devices::Passthrough;
pub use error::{PlanError, PlanWarning};
pub use intids::KeptIrq;
pub use iommu::{IommuDecision, Reason};
pub use options::{IommuRule, OptionError, PlanOptions, Selector, SwiotlbMode};
pub use snowvisor_dt::index::NodeIndex;

use snowvisor_dt::{HostTree, Region};

/// What happens to one IOMMU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IommuAction {
    Own,
    Hide,
    Pass,
}

impl fmt::Display for IommuAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IommuAction::Own => "own",
            IommuAction::Hide => "hide",
            IommuAction::Pass => "pass",
        })
    }
}

/// Nodes snowvisor keeps for itself besides the GIC (always kept) and owned
/// IOMMUs (decided by the plan): not given to Dom0, removed from its tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keep {
    pub nodes: Vec<String>,
}

impl Keep {
    pub fn none() -> Self {
        Keep::default()
    }

    pub fn node(mut self, path: &str) -> Self {
        self.nodes.push(path.to_string());
        self
    }

    /// Keeps the UART `/chosen/stdout-path` names, for snowvisor's own console.
    pub fn console(self, tree: &HostTree<'_>) -> Self {
        match tree.stdout() {
            Some(u) => self.node(u.path),
            None => self,
        }
    }

    /// Keeps the device whose registers hold `base` (the UART snowvisor writes
    /// to, found by address whether or not `/chosen/stdout-path` names it).
    pub fn uart_at(self, tree: &HostTree<'_>, base: u64) -> Self {
        match tree.device_at(base) {
            Some(i) => {
                let path = tree.index().path(i).to_string();
                self.node(&path)
            }
            None => self,
        }
    }
}

/// Why a node is not in Dom0's tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HiddenWhy {
    Iommu(IommuAction),
    Kept,
}

/// A subtree Dom0 does not get: its MMIO is not mapped, its SPIs not routed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hidden {
    pub path: String,
    pub why: HiddenWhy,
}

/// Why swiotlb-xen is on or off (XENFEAT_direct_mapped / not_direct_mapped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwiotlbWhy {
    Forced,
    /// Dom0 drives an IOMMU with masters: its IOMMU DMA ops must win.
    IommuPassed {
        node: String,
        others: usize,
    },
    /// Every device Dom0 gets is a master of an owned IOMMU.
    AllBehindOwned {
        devices: usize,
    },
    /// Dom0 is 1:1 and some devices are behind no owned IOMMU.
    Uncovered {
        devices: usize,
        example: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwiotlbDecision {
    pub enabled: bool,
    pub why: SwiotlbWhy,
}

impl fmt::Display for SwiotlbWhy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SwiotlbWhy::Forced => write!(f, "set by the swiotlb= option"),
            SwiotlbWhy::IommuPassed { node, others } => {
                write!(f, "Dom0 drives IOMMU {node}")?;
                if *others > 0 {
                    write!(f, " and {others} more")?;
                }
                write!(
                    f,
                    ", so its IOMMU DMA ops must not be replaced by swiotlb-xen"
                )
            }
            SwiotlbWhy::AllBehindOwned { devices } => {
                write!(
                    f,
                    "all {devices} devices Dom0 gets sit behind IOMMUs snowvisor owns"
                )
            }
            SwiotlbWhy::Uncovered { devices, example } => {
                write!(
                    f,
                    "Dom0 is 1:1 and {devices} of its devices sit behind no owned IOMMU"
                )?;
                if !example.is_empty() {
                    write!(f, " (e.g. {example})")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for SwiotlbDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "swiotlb-xen {}: {}",
            if self.enabled { "on" } else { "off" },
            self.why
        )
    }
}

/// The GIC the plan found: virtualised by snowvisor, never passed through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GicNode {
    pub path: String,
    /// `reg` translated to CPU physical addresses: GICD, GICC, then GICH and
    /// GICV when the GIC has the virtualization extensions.
    pub frames: Vec<Region>,
}

/// The whole plan. Pure data: paths and physical addresses, no borrows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// One row per IOMMU node, in tree order.
    pub iommus: Vec<IommuDecision>,
    pub swiotlb: SwiotlbDecision,
    /// Devices Dom0 gets, in tree order.
    pub passthrough: Vec<Passthrough>,
    /// Subtrees removed from Dom0's tree.
    pub hidden: Vec<Hidden>,
    pub gic: Option<GicNode>,
    /// What the drivers of owned IOMMUs need (registers, interrupts, Dom0's
    /// stream IDs), read now: the host tree may be gone when they start.
    pub owned: Vec<owned::OwnedIommu>,
    /// INTIDs snowvisor keeps ([`intids`]): never in a passthrough's `spis`.
    pub kept_irqs: Vec<KeptIrq>,
    pub warnings: Vec<PlanWarning>,
}

impl Plan {
    /// All passthrough MMIO, sorted and merged: what stage 2 maps as device memory.
    pub fn mmio_regions(&self) -> Vec<Region> {
        devices::merge(
            self.passthrough
                .iter()
                .flat_map(|p| p.mmio.iter().copied())
                .collect(),
        )
    }

    /// Every device's forwarded register ranges with the device's path:
    /// what the data-abort handler performs for Dom0 ([`Passthrough::forwarded`]).
    pub fn forwarded(&self) -> Vec<(Region, String)> {
        self.passthrough
            .iter()
            .flat_map(|p| p.forwarded.iter().map(|r| (*r, p.path.clone())))
            .collect()
    }

    /// All SPIs routed to Dom0, sorted, each once.
    pub fn spis(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self
            .passthrough
            .iter()
            .flat_map(|p| p.spis.iter().copied())
            .collect();
        snowvisor_dt::sort::ascending(&mut v);
        v.dedup();
        v
    }

    pub fn is_hidden(&self, path: &str) -> bool {
        self.hidden.iter().any(|h| h.path == path)
    }

    /// The INTID `intid` if snowvisor keeps it, with its owner: what decides
    /// whether an interrupt may be routed to Dom0 (the plan's SPIs and, at
    /// boot, MSI frames whose range only the hardware knows).
    pub fn kept_irq(&self, intid: u32) -> Option<&KeptIrq> {
        intids::owner(&self.kept_irqs, intid)
    }

    /// The decision for the IOMMU at `path`.
    pub fn iommu(&self, path: &str) -> Option<&IommuDecision> {
        self.iommus.iter().find(|d| d.path == path)
    }
}

/// Makes the plan. Fails only on an inconsistent tree (duplicate phandles or
/// node paths, malformed IOMMU properties, an owned IOMMU whose interrupts cannot be
/// read); a node whose interrupts cannot be followed is a warning.
pub fn make(tree: &HostTree<'_>, opts: &PlanOptions, keep: &Keep) -> Result<Plan, PlanError> {
    let x = tree.index().check_phandles()?;
    check_unique_paths(x)?;
    let mut warnings = Vec::new();
    // One odd node never fails the plan: its interrupts are left out, with a
    // warning naming it (devices::collect does the same per node).
    if let Err(e) = irq::check_cycles(x) {
        warnings.push(PlanWarning::OddInterrupts { why: e.to_string() });
    }
    let found = iommu::decide(x, opts, &mut warnings)?;
    let mut hidden = Vec::new();
    let mut removed = Vec::new();
    let mut kept_roots = Vec::new();
    for f in found.iter().filter(|f| f.decision.removed) {
        hidden.push(Hidden {
            path: f.decision.path.clone(),
            why: HiddenWhy::Iommu(f.decision.action),
        });
        removed.push(f.node);
    }
    for k in &keep.nodes {
        match x.by_path(k) {
            Some(i) => {
                hidden.push(Hidden {
                    path: x.path(i).to_string(),
                    why: HiddenWhy::Kept,
                });
                removed.push(i);
                kept_roots.push(i);
            }
            None => warnings.push(PlanWarning::KeepNotFound { node: k.clone() }),
        }
    }
    // Frames no passthrough mapping may cover: the GIC's and the removed
    // subtrees', except hidden IOMMUs': snowvisor neither uses nor protects
    // those, so a device sharing their page gets it (rk3288's VOP and its IOMMU).
    // What snowvisor itself uses (the GIC, kept nodes) stays protected even
    // when a tree also gives it `#iommu-cells` and the IOMMU is hidden.
    let hidden_iommus: Vec<usize> = found
        .iter()
        .filter(|f| f.decision.removed && f.decision.action == IommuAction::Hide)
        .map(|f| f.node)
        .collect();
    let mut protected = Vec::new();
    let mut unprotected = Vec::new();
    for i in
        (0..x.len()).filter(|&i| irq::is_gic(x, i) || removed.iter().any(|&r| x.is_within(i, r)))
    {
        let ours = irq::is_gic(x, i) || kept_roots.iter().any(|&k| x.is_within(i, k));
        let to = if !ours && hidden_iommus.iter().any(|&h| x.is_within(i, h)) {
            &mut unprotected
        } else {
            &mut protected
        };
        for r in x
            .mmio(i)
            .unwrap_or_default()
            .into_iter()
            .filter_map(devices::page_align)
        {
            to.push((r, x.path(i).to_string()));
        }
    }
    let owned_iommus: Vec<usize> = found
        .iter()
        .filter(|f| f.decision.removed && f.decision.action == IommuAction::Own)
        .map(|f| f.node)
        .collect();
    let owned_regs: Vec<(Region, String)> = (0..x.len())
        .filter(|&i| owned_iommus.iter().any(|&o| x.is_within(i, o)))
        .flat_map(|i| {
            let path = x.path(i).to_string();
            x.mmio(i)
                .unwrap_or_default()
                .into_iter()
                .map(move |r| (r, path.clone()))
        })
        .collect();
    let frames = devices::Frames {
        protected: &protected,
        unprotected: &unprotected,
        owned_regs: &owned_regs,
    };
    let mut passthrough = devices::collect(x, &removed, &frames, &mut warnings)?;
    let iommus: Vec<IommuDecision> = found.into_iter().map(|f| f.decision).collect();
    let owned = owned::describe(x, &iommus)?;
    let kept_irqs = intids::kept(x, &owned, &kept_roots);
    intids::filter(&mut passthrough, &kept_irqs, &mut warnings);
    passthrough.retain(|p| !p.mmio.is_empty() || !p.spis.is_empty() || !p.forwarded.is_empty());
    let swiotlb = swiotlb(opts.swiotlb, &iommus, &passthrough, &mut warnings);
    let gic = (0..x.len()).find(|&i| irq::is_gic(x, i)).map(|i| GicNode {
        path: x.path(i).to_string(),
        frames: x.mmio(i).unwrap_or_default(),
    });
    Ok(Plan {
        iommus,
        swiotlb,
        passthrough,
        hidden,
        gic,
        owned,
        kept_irqs,
        warnings,
    })
}

/// Fails on two nodes with one path (siblings of the same name).
fn check_unique_paths(x: &NodeIndex<'_>) -> Result<(), PlanError> {
    let mut seen = alloc::collections::BTreeSet::new();
    for i in 0..x.len() {
        if !seen.insert(x.path(i)) {
            return Err(PlanError::DuplicateNode {
                path: x.path(i).to_string(),
            });
        }
    }
    Ok(())
}

fn swiotlb(
    mode: SwiotlbMode,
    iommus: &[IommuDecision],
    devs: &[Passthrough],
    w: &mut Vec<PlanWarning>,
) -> SwiotlbDecision {
    let passed: Vec<&IommuDecision> = iommus
        .iter()
        .filter(|d| d.action == IommuAction::Pass && d.enabled && !d.masters.is_empty())
        .collect();
    let owned_masters: Vec<&str> = iommus
        .iter()
        .filter(|d| d.action == IommuAction::Own)
        .flat_map(|d| d.masters.iter().map(String::as_str))
        .collect();
    let uncovered: Vec<&Passthrough> = devs
        .iter()
        .filter(|p| !owned_masters.contains(&p.path.as_str()))
        .collect();
    let auto = if let Some(first) = passed.first() {
        SwiotlbDecision {
            enabled: false,
            why: SwiotlbWhy::IommuPassed {
                node: first.path.clone(),
                others: passed.len() - 1,
            },
        }
    } else if uncovered.is_empty() && !owned_masters.is_empty() {
        SwiotlbDecision {
            enabled: false,
            why: SwiotlbWhy::AllBehindOwned {
                devices: devs.len(),
            },
        }
    } else {
        SwiotlbDecision {
            enabled: true,
            why: SwiotlbWhy::Uncovered {
                devices: uncovered.len(),
                example: uncovered
                    .first()
                    .map(|p| p.path.clone())
                    .unwrap_or_default(),
            },
        }
    };
    match mode {
        SwiotlbMode::Auto => auto,
        SwiotlbMode::On => {
            if !passed.is_empty() {
                w.push(PlanWarning::SwiotlbForced {
                    value: "on",
                    why: "Dom0 drives an IOMMU; swiotlb-xen replaces its DMA ops (Exynos DRM: 'lacks support for IOMMU')",
                });
            }
            SwiotlbDecision {
                enabled: true,
                why: SwiotlbWhy::Forced,
            }
        }
        SwiotlbMode::Off => {
            if auto.enabled {
                w.push(PlanWarning::SwiotlbForced {
                    value: "off",
                    why: "devices behind no IOMMU will DMA to grant-mapped pages without bouncing",
                });
            }
            SwiotlbDecision {
                enabled: false,
                why: SwiotlbWhy::Forced,
            }
        }
    }
}
