//! IOMMU nodes: finding them, their masters (`iommus`, `iommu-map`), deciding
//! own / hide / pass for each, and the edits a master's properties need in
//! Dom0's tree so that no phandle dangles.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use super::known::{self, DriverState};
use super::options::{IommuRule, PlanOptions, Selector};
use super::{IommuAction, PlanError, PlanWarning};
use snowvisor_dt::index::{bad, NodeIndex};

/// Why an IOMMU got its action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Default: snowvisor drives it.
    Driven,
    /// Default: in the known table without a snowvisor driver.
    KnownUndriven { note: &'static str },
    /// Default: has `#iommu-cells` but is not in the table (Xen's behaviour).
    Unknown,
    /// Set by an `iommu=` rule (the last that matched).
    Rule { rule: String },
    /// `iommu=own` without a driver: hidden instead.
    OwnWithoutDriver { rule: String },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Driven => write!(f, "snowvisor drives it (default)"),
            Reason::KnownUndriven { .. } => write!(f, "known IOMMU, no snowvisor driver (default)"),
            Reason::Unknown => write!(f, "not a known IOMMU: Dom0 gets it, as Xen does (default)"),
            Reason::Rule { rule } => write!(f, "iommu={rule}"),
            Reason::OwnWithoutDriver { rule } => {
                write!(f, "iommu={rule} asked, but no snowvisor driver: hidden")
            }
        }
    }
}

/// The decision for one IOMMU node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IommuDecision {
    pub path: String,
    /// The compatible that matched the table, else the node's first.
    pub compatible: String,
    pub action: IommuAction,
    pub reason: Reason,
    /// Nodes whose `iommus` or `iommu-map` name this IOMMU, in tree order.
    pub masters: Vec<String>,
    /// `status` is okay (a disabled IOMMU translates nothing; its masters are still edited).
    pub enabled: bool,
    /// The node leaves Dom0's tree (own or hide of an IOMMU that is not part of a
    /// device Dom0 needs). When false and the action is not pass, only the
    /// masters are edited.
    pub removed: bool,
}

/// An IOMMU node found in the tree, by index.
pub struct Found {
    pub node: usize,
    pub decision: IommuDecision,
}

/// Walks a master's `iommus` as (target, whole entry: phandle and specifier) items.
pub(crate) fn iommus_entries(
    x: &NodeIndex<'_>,
    m: usize,
) -> Result<Vec<(usize, Vec<u32>)>, PlanError> {
    let Some(c) = x.cells(m, "iommus")? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(&ph) = c.get(at) {
        let t = x.resolve(m, "iommus", ph)?;
        let n = x
            .cell_count(t, "#iommu-cells")
            .ok_or_else(|| bad(x.path(m), "iommus", "names a node without #iommu-cells"))?;
        let e = c
            .get(at..at + 1 + n)
            .ok_or_else(|| bad(x.path(m), "iommus", "ends inside a specifier"))?;
        out.push((t, e.to_vec()));
        at += 1 + n;
    }
    Ok(out)
}

/// Walks `iommu-map` as (target, whole entry) items: `<rid-base iommu iommu-base... length>`.
pub(crate) fn map_entries(
    x: &NodeIndex<'_>,
    m: usize,
) -> Result<Vec<(usize, Vec<u32>)>, PlanError> {
    let Some(c) = x.cells(m, "iommu-map")? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let mut at = 0;
    while at < c.len() {
        let ph = *c
            .get(at + 1)
            .ok_or_else(|| bad(x.path(m), "iommu-map", "ends inside an entry"))?;
        let t = x.resolve(m, "iommu-map", ph)?;
        let n = x.cell_count(t, "#iommu-cells").unwrap_or(1);
        let e = c
            .get(at..at + 3 + n)
            .ok_or_else(|| bad(x.path(m), "iommu-map", "ends inside an entry"))?;
        out.push((t, e.to_vec()));
        at += 3 + n;
    }
    Ok(out)
}

/// Properties that make a node a provider other nodes reference by phandle
/// (the bindings' `#...-cells` and controller markers), besides translation.
const PROVIDER_MARKERS: &[&str] = &[
    "#clock-cells",
    "#reset-cells",
    "#power-domain-cells",
    "#phy-cells",
    "#dma-cells",
    "#gpio-cells",
    "#pwm-cells",
    "#mbox-cells",
    "#interrupt-cells",
    "#thermal-sensor-cells",
    "#io-channel-cells",
    "#sound-dai-cells",
    "#hwlock-cells",
    "#msi-cells",
    "interrupt-controller",
    "gpio-controller",
    "msi-controller",
];

/// Whether node `i` is also a provider of something other than translation
/// ([`PROVIDER_MARKERS`]): removing it would leave other nodes' phandles
/// dangling.
fn provides_more(x: &NodeIndex<'_>, i: usize) -> bool {
    PROVIDER_MARKERS.iter().any(|p| x.has(i, p))
}

fn selects(x: &NodeIndex<'_>, i: usize, rule: &IommuRule) -> bool {
    match &rule.selector {
        Selector::All => true,
        Selector::Path(p) => x.path(i) == p.trim_end_matches('/'),
        Selector::Compatible(c) => x.compatibles(i).contains(&c.as_str()),
    }
}

/// Finds every IOMMU node and decides its action. Fails only on an owned
/// IOMMU's own properties; a master whose `iommus`/`iommu-map` cannot be read
/// is a warning.
pub fn decide(
    x: &NodeIndex<'_>,
    opts: &PlanOptions,
    warnings: &mut Vec<PlanWarning>,
) -> Result<Vec<Found>, PlanError> {
    let mut found: Vec<Found> = Vec::new();
    for i in 0..x.len() {
        let compats = x.compatibles(i);
        let row = known::lookup(&compats);
        if row.is_none() && !x.has(i, "#iommu-cells") {
            continue;
        }
        let compatible = row
            .map(|r| r.1)
            .or(compats.first().copied())
            .unwrap_or("")
            .to_string();
        let (mut action, mut reason) = match row {
            Some((k, _)) if k.driver == DriverState::Driven => (IommuAction::Own, Reason::Driven),
            Some((k, _)) => (IommuAction::Hide, Reason::KnownUndriven { note: k.note }),
            None => (IommuAction::Pass, Reason::Unknown),
        };
        for rule in opts.iommu.iter().filter(|r| selects(x, i, r)) {
            action = rule.action;
            reason = Reason::Rule {
                rule: rule.to_string(),
            };
        }
        let driven = row.is_some_and(|(k, _)| k.driver == DriverState::Driven);
        if action == IommuAction::Own && !driven {
            let rule = match reason {
                Reason::Rule { rule } => rule,
                _ => String::new(),
            };
            warnings.push(PlanWarning::OwnWithoutDriver {
                node: x.path(i).to_string(),
                rule: rule.clone(),
            });
            action = IommuAction::Hide;
            reason = Reason::OwnWithoutDriver { rule };
        }
        if reason == Reason::Unknown {
            warnings.push(PlanWarning::UnknownIommu {
                node: x.path(i).to_string(),
                compatible: compatible.clone(),
            });
        }
        // A node that also provides something other nodes refer to (clocks,
        // resets, interrupts...) stays in Dom0's tree when hidden; only its
        // masters lose their `iommus`, as for Tegra's memory controller.
        let removable = row.map_or(!provides_more(x, i), |(k, _)| k.removable);
        found.push(Found {
            node: i,
            decision: IommuDecision {
                path: x.path(i).to_string(),
                compatible,
                action,
                reason,
                masters: Vec::new(),
                enabled: x.is_available(i),
                removed: removable && action != IommuAction::Pass,
            },
        });
    }
    for rule in &opts.iommu {
        if !found.iter().any(|f| selects(x, f.node, rule)) {
            warnings.push(PlanWarning::RuleMatchedNothing {
                rule: rule.to_string(),
            });
        }
    }
    for m in 0..x.len() {
        // One odd master never fails the plan: it is named, and Dom0 gets it
        // unchanged (snowvisor attaches none of its streams to an owned IOMMU).
        let entries = iommus_entries(x, m).and_then(|mut v| {
            v.extend(map_entries(x, m)?);
            Ok(v)
        });
        let targets: Vec<usize> = match entries {
            Ok(v) => v.into_iter().map(|e| e.0).collect(),
            Err(e) => {
                warnings.push(PlanWarning::OddIommus { why: e.to_string() });
                continue;
            }
        };
        for t in targets {
            if let Some(f) = found.iter_mut().find(|f| f.node == t) {
                if f.decision.masters.last().map(String::as_str) != Some(x.path(m)) {
                    f.decision.masters.push(x.path(m).to_string());
                }
            }
        }
    }
    Ok(found)
}

/// A property edit on a master: drop it (`None`) or replace its value.
pub type Edit = (&'static str, Option<Vec<u8>>);

fn to_bytes(cells: &[u32]) -> Vec<u8> {
    cells.iter().flat_map(|c| c.to_be_bytes()).collect()
}

/// The edits master `m` needs so that it names only IOMMUs Dom0 still drives:
/// entries for which `stripped(target)` holds go; a property left empty goes
/// entirely (`iommu-map-mask` with `iommu-map`); `iommu-names` follows `iommus`.
pub fn master_edits(
    x: &NodeIndex<'_>,
    m: usize,
    stripped: &dyn Fn(usize) -> bool,
) -> Result<Vec<Edit>, PlanError> {
    let mut edits = Vec::new();
    let entries = iommus_entries(x, m)?;
    if entries.iter().any(|e| stripped(e.0)) {
        let keep: Vec<bool> = entries.iter().map(|e| !stripped(e.0)).collect();
        let cells: Vec<u32> = entries
            .iter()
            .filter(|e| !stripped(e.0))
            .flat_map(|e| e.1.iter().copied())
            .collect();
        let names = x.strings(m, "iommu-names");
        if cells.is_empty() {
            edits.push(("iommus", None));
            if x.has(m, "iommu-names") {
                edits.push(("iommu-names", None));
            }
        } else {
            edits.push(("iommus", Some(to_bytes(&cells))));
            if x.has(m, "iommu-names") {
                // Names in step with entries; a list of another length cannot be
                // kept in step, so it goes.
                let v = (names.len() == keep.len()).then(|| {
                    names
                        .iter()
                        .zip(&keep)
                        .filter(|(_, k)| **k)
                        .flat_map(|(n, _)| n.bytes().chain([0]))
                        .collect()
                });
                edits.push(("iommu-names", v));
            }
        }
    }
    let map = map_entries(x, m)?;
    if map.iter().any(|e| stripped(e.0)) {
        let cells: Vec<u32> = map
            .iter()
            .filter(|e| !stripped(e.0))
            .flat_map(|e| e.1.iter().copied())
            .collect();
        if cells.is_empty() {
            edits.push(("iommu-map", None));
            if x.has(m, "iommu-map-mask") {
                edits.push(("iommu-map-mask", None));
            }
        } else {
            edits.push(("iommu-map", Some(to_bytes(&cells))));
        }
    }
    Ok(edits)
}
