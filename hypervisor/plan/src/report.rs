//! The plan as text: the IOMMU table, the swiotlb decision, a summary of what
//! Dom0 gets, and the warnings. Printed at boot and by `scripts/plan`, one
//! greppable line each, all prefixed `plan: `.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::{IommuAction, Plan, PlanWarning};

pub const PREFIX: &str = "plan: ";

/// The reason column: the decision's reason, plus what hiding an embedded IOMMU means.
pub fn reason_text(d: &super::IommuDecision) -> String {
    let mut r = format!("{}", d.reason);
    if d.action != IommuAction::Pass && !d.removed {
        r.push_str("; node kept, masters stripped");
    }
    r
}

fn table(rows: &[[String; 5]]) -> Vec<String> {
    let mut width = [0usize; 4];
    for r in rows {
        for (w, c) in width.iter_mut().zip(r.iter()) {
            *w = (*w).max(c.chars().count());
        }
    }
    rows.iter()
        .map(|r| {
            let mut line = String::from(PREFIX);
            for (c, w) in r.iter().zip(width) {
                line.push_str(c);
                line.extend(core::iter::repeat_n(
                    ' ',
                    w.saturating_sub(c.chars().count()) + 2,
                ));
            }
            if let Some(last) = r.last() {
                line.push_str(last);
            }
            String::from(line.trim_end())
        })
        .collect()
}

/// The report, in print order.
pub fn lines(plan: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    if plan.iommus.is_empty() {
        out.push(format!("{PREFIX}no IOMMU nodes"));
    } else {
        let mut rows = alloc::vec![[
            String::from("IOMMU"),
            String::from("COMPATIBLE"),
            String::from("ACTION"),
            String::from("REASON"),
            String::from("MASTERS"),
        ]];
        for d in &plan.iommus {
            let mut path = d.path.clone();
            if !d.enabled {
                path.push_str(" (disabled)");
            }
            let masters = if d.masters.is_empty() {
                String::from("-")
            } else {
                d.masters.join(",")
            };
            rows.push([
                path,
                d.compatible.clone(),
                format!("{}", d.action),
                reason_text(d),
                masters,
            ]);
        }
        out.extend(table(&rows));
        // The table's note for each compatible that took its default, once.
        let mut noted: Vec<&str> = Vec::new();
        for d in &plan.iommus {
            if let super::Reason::KnownUndriven { note } = d.reason {
                if !noted.contains(&d.compatible.as_str()) {
                    noted.push(&d.compatible);
                    out.push(format!("{PREFIX}note: {}: {note}", d.compatible));
                }
            }
        }
    }
    out.push(format!("{PREFIX}{}", plan.swiotlb));
    let (own, hide, pass) = plan
        .iommus
        .iter()
        .fold((0, 0, 0), |(o, h, p), d| match d.action {
            IommuAction::Own => (o + 1, h, p),
            IommuAction::Hide => (o, h + 1, p),
            IommuAction::Pass => (o, h, p + 1),
        });
    out.push(format!(
        "{PREFIX}iommus: {own} own, {hide} hide, {pass} pass; dom0 gets {} devices ({} MMIO ranges, {} SPIs); {} subtrees hidden",
        plan.passthrough.len(),
        plan.mmio_regions().len(),
        plan.spis().len(),
        plan.hidden.len()
    ));
    for h in plan
        .hidden
        .iter()
        .filter(|h| h.why == super::HiddenWhy::Kept)
    {
        out.push(format!(
            "{PREFIX}kept for snowvisor, not in Dom0's tree: {}",
            h.path
        ));
    }
    out.extend(warning_lines(plan));
    out
}

/// The warnings, one line each, except that the same `iommu=own` rule
/// failing on several IOMMUs (`own:all` on a board of sysmmus) is one line
/// naming their compatibles and count: the table above names each IOMMU.
fn warning_lines(plan: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    for (k, w) in plan.warnings.iter().enumerate() {
        let PlanWarning::OwnWithoutDriver { rule, .. } = w else {
            out.push(format!("{PREFIX}{w}"));
            continue;
        };
        let same: Vec<&str> = plan
            .warnings
            .iter()
            .filter_map(|v| match v {
                PlanWarning::OwnWithoutDriver { node, rule: r } if r == rule => Some(node.as_str()),
                _ => None,
            })
            .collect();
        let first = plan.warnings[..k]
            .iter()
            .all(|v| !matches!(v, PlanWarning::OwnWithoutDriver { rule: r, .. } if r == rule));
        if same.len() == 1 {
            out.push(format!("{PREFIX}{w}"));
        } else if first {
            let mut compatibles: Vec<&str> = Vec::new();
            for d in plan
                .iommus
                .iter()
                .filter(|d| same.contains(&d.path.as_str()))
            {
                if !compatibles.contains(&d.compatible.as_str()) {
                    compatibles.push(&d.compatible);
                }
            }
            out.push(format!(
                "{PREFIX}error: iommu={rule}: snowvisor has no driver for {} IOMMUs ({}: {} and {} more, each in the table above); hidden instead",
                same.len(),
                compatibles.join(", "),
                same[0],
                same.len() - 1
            ));
        }
    }
    out
}

/// One line per passthrough device (for `scripts/plan --devices` and debug logs).
pub fn device_lines(plan: &Plan) -> Vec<String> {
    plan.passthrough
        .iter()
        .map(|p| {
            let mmio: Vec<String> = p
                .mmio
                .iter()
                .map(|r| format!("{:#x}-{:#x}", r.base, r.end().saturating_sub(1)))
                .collect();
            let spis: Vec<String> = p.spis.iter().map(|s| format!("{s}")).collect();
            format!(
                "{PREFIX}device {} mmio [{}] spi [{}]",
                p.path,
                mmio.join(" "),
                spis.join(" ")
            )
        })
        .collect()
}
