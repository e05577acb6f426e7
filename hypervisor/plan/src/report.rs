//! The plan as text: the IOMMU table, the swiotlb decision, a summary of what
//! Dom0 gets, and the warnings. Printed at boot and by `scripts/plan`, one
//! greppable line each, all prefixed `plan: `.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::{IommuAction, Plan};

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
    for w in &plan.warnings {
        out.push(format!("{PREFIX}{w}"));
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
