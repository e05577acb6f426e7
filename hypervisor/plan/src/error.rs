//! What can go wrong while planning: fatal [`PlanError`]s (the input tree is
//! inconsistent) and [`PlanWarning`]s (the plan is made, but the user should
//! know). Every message names the node, property or option at fault.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use snowvisor_dt::{Region, TreeError};

/// The host tree cannot be planned: its references are inconsistent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    /// Phandles or a property's cells are inconsistent (the index's check).
    Tree(TreeError),
    /// Following interrupt parents (or an interrupt map) from `node` came back to `via`.
    InterruptCycle { node: String, via: String },
    /// Two sibling nodes with the same name: paths, which the plan and
    /// Dom0's tree go by, would be ambiguous (dtc refuses such a tree too).
    DuplicateNode { path: String },
}

impl From<TreeError> for PlanError {
    fn from(e: TreeError) -> Self {
        PlanError::Tree(e)
    }
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanError::Tree(e) => e.fmt(f),
            PlanError::InterruptCycle { node, via } => {
                write!(f, "{node}: interrupt parents form a cycle (through {via})")
            }
            PlanError::DuplicateNode { path } => {
                write!(f, "{path}: two sibling nodes have this name")
            }
        }
    }
}

/// Something the plan worked around; printed with the plan, never fatal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanWarning {
    /// A node with `#iommu-cells` whose compatible is not in the known table.
    UnknownIommu { node: String, compatible: String },
    /// `iommu=own:...` for an IOMMU snowvisor has no driver for (reported as an error).
    OwnWithoutDriver { node: String, rule: String },
    /// An `iommu=` rule that matched no IOMMU node.
    RuleMatchedNothing { rule: String },
    /// A node path in [`super::Keep`] that the tree does not have.
    KeepNotFound { node: String },
    /// `reg` does not decode with the parent's cell sizes; the node gets no MMIO.
    BadReg { node: String },
    /// Part of a device's MMIO overlaps a frame snowvisor keeps; that part is not mapped.
    MmioCarved {
        node: String,
        base: u64,
        size: u64,
        kept: String,
    },
    /// A device's interrupts include INTIDs snowvisor keeps (`owner`'s): they
    /// are not routed to Dom0.
    IrqKept {
        node: String,
        intids: Vec<u32>,
        owner: String,
    },
    /// A device's page holds registers of an IOMMU snowvisor owns: the page is
    /// not mapped; Dom0's accesses to the device's own `ranges` in it are
    /// performed by snowvisor (trap-and-forward).
    Forwarded {
        node: String,
        page: Region,
        ranges: Vec<Region>,
        iommu: String,
    },
    /// A device's page holds registers of an IOMMU that is hidden (neither
    /// used nor protected by snowvisor): the page is mapped for the device.
    SharedWithHiddenIommu {
        node: String,
        base: u64,
        size: u64,
        iommu: String,
    },
    /// A master's `iommus`/`iommu-map` cannot be read (dangling phandle, bad
    /// length): it is no IOMMU's master and goes to Dom0 unchanged.
    OddIommus { why: String },
    /// A node's interrupts cannot be followed to the GIC (dangling or malformed
    /// `interrupt-parent`/`interrupts`/`interrupt-map`, a cycle): the node is
    /// passed to Dom0 unchanged, without SPIs. `why` names the node.
    OddInterrupts { why: String },
    /// swiotlb was forced against what the IOMMU decisions call for.
    SwiotlbForced {
        value: &'static str,
        why: &'static str,
    },
}

impl PlanWarning {
    /// Adds `w` to `to` unless the same warning is already there.
    pub fn add_once(to: &mut Vec<PlanWarning>, w: PlanWarning) {
        if !to.contains(&w) {
            to.push(w);
        }
    }

    /// True for the ones the issue calls errors (the boot goes on regardless).
    pub fn is_error(&self) -> bool {
        matches!(
            self,
            PlanWarning::OwnWithoutDriver { .. } | PlanWarning::RuleMatchedNothing { .. }
        )
    }
}

impl fmt::Display for PlanWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanWarning::UnknownIommu { node, compatible } => write!(
                f,
                "warning: {node} ({compatible}) has #iommu-cells but is not a known IOMMU: passed to Dom0 with its masters"
            ),
            PlanWarning::OwnWithoutDriver { node, rule } => write!(
                f,
                "error: iommu={rule}: snowvisor has no driver for {node}; hidden instead"
            ),
            PlanWarning::RuleMatchedNothing { rule } => {
                write!(f, "error: iommu={rule} matches no IOMMU node; rule ignored")
            }
            PlanWarning::KeepNotFound { node } => {
                write!(f, "warning: node {node} to keep for snowvisor is not in the tree")
            }
            PlanWarning::BadReg { node } => write!(
                f,
                "warning: {node}: reg does not match its parent's #address-cells/#size-cells; no MMIO mapped"
            ),
            PlanWarning::MmioCarved { node, base, size, kept } => write!(
                f,
                "warning: {node}: {base:#x}+{size:#x} overlaps {kept}, which snowvisor keeps: not mapped"
            ),
            PlanWarning::IrqKept { node, intids, owner } => {
                write!(f, "warning: {node}: INTID")?;
                if intids.len() > 1 {
                    f.write_str("s")?;
                }
                for (k, i) in intids.iter().enumerate() {
                    write!(f, "{}{i}", if k == 0 { " " } else { "," })?;
                }
                write!(f, " belong to {owner}, which snowvisor keeps: not routed to Dom0")
            }
            PlanWarning::Forwarded {
                node,
                page,
                ranges,
                iommu,
            } => {
                write!(
                    f,
                    "note: {node}: {:#x}+{:#x} is shared with {iommu}, which snowvisor owns: not mapped; snowvisor forwards Dom0's accesses to {node}'s registers",
                    page.base, page.size
                )?;
                for (k, r) in ranges.iter().enumerate() {
                    write!(
                        f,
                        "{}{:#x}-{:#x}",
                        if k == 0 { " " } else { ", " },
                        r.base,
                        r.end() - 1
                    )?;
                }
                Ok(())
            }
            PlanWarning::SharedWithHiddenIommu { node, base, size, iommu } => write!(
                f,
                "note: {node}: {base:#x}+{size:#x} is shared with {iommu}, which is hidden (not protected by snowvisor): mapped for {node}"
            ),
            PlanWarning::OddIommus { why } => write!(
                f,
                "warning: {why}: it is left unchanged in Dom0's tree and is no IOMMU's master"
            ),
            PlanWarning::OddInterrupts { why } => write!(
                f,
                "warning: {why}: its interrupts are not routed to Dom0 (node passed unchanged)"
            ),
            PlanWarning::SwiotlbForced { value, why } => write!(f, "warning: swiotlb={value}: {why}"),
        }
    }
}
