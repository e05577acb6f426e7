//! The plan as JSON, for machines (`scripts/plan --json`): one object built
//! from the plan's public data and written by `serde_json`. Keys keep this
//! order: `iommus`, `swiotlb`, `passthrough`, `hidden`, `gic` (absent without
//! a GIC), `domus` and `evtchns` (the dom0less DomUs and static event
//! channels, [`crate::domus`]; absent without any), `warnings` (a DomU node
//! snowvisor's boot stops on among them, as `fatal: ...`). Addresses are hex strings, since JSON numbers lose
//! precision past 2^53.

use serde::Serialize;
use snowvisor_dt::Region;
use snowvisor_plan::{report, HiddenWhy, Plan, Reason};

#[derive(Serialize)]
struct Document<'p> {
    iommus: Vec<Iommu<'p>>,
    swiotlb: Swiotlb,
    passthrough: Vec<Device<'p>>,
    hidden: Vec<Hidden<'p>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gic: Option<Gic<'p>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    domus: Vec<crate::domus::Json<'p>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    evtchns: Vec<crate::domus::JsonEvtchn<'p>>,
    warnings: Vec<String>,
}

#[derive(Serialize)]
struct Iommu<'p> {
    path: &'p str,
    compatible: &'p str,
    /// `own`, `hide` or `pass`.
    action: String,
    enabled: bool,
    removed: bool,
    reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<&'static str>,
    masters: &'p [String],
}

#[derive(Serialize)]
struct Swiotlb {
    enabled: bool,
    reason: String,
}

#[derive(Serialize)]
struct Device<'p> {
    path: &'p str,
    mmio: Vec<Hex>,
    /// INTIDs.
    spis: &'p [u32],
    /// The device's registers in a page shared with an owned IOMMU, whose
    /// accesses snowvisor performs (absent when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    forwarded: Vec<Hex>,
}

#[derive(Serialize)]
struct Hidden<'p> {
    path: &'p str,
    why: String,
}

#[derive(Serialize)]
struct Gic<'p> {
    path: &'p str,
    frames: Vec<Hex>,
}

/// A region as `{"base": "0x...", "size": "0x..."}` (bytes, physical).
#[derive(Serialize)]
struct Hex {
    base: String,
    size: String,
}

fn hex(regions: &[Region]) -> Vec<Hex> {
    regions
        .iter()
        .map(|r| Hex {
            base: format!("{:#x}", r.base),
            size: format!("{:#x}", r.size),
        })
        .collect()
}

/// The plan as one JSON object. `arg_warnings` (boot arguments that were
/// ignored, as the caller printed them) come first in "warnings", then the plan's.
pub fn to_json<'p>(
    plan: &'p Plan,
    domus: &'p crate::domus::DomUs<'p>,
    arg_warnings: &[String],
) -> String {
    let (domu_list, evtchns) = crate::domus::json(domus);
    let doc = Document {
        iommus: plan
            .iommus
            .iter()
            .map(|d| Iommu {
                path: &d.path,
                compatible: &d.compatible,
                action: d.action.to_string(),
                enabled: d.enabled,
                removed: d.removed,
                reason: report::reason_text(d),
                note: match d.reason {
                    Reason::KnownUndriven { note } => Some(note),
                    _ => None,
                },
                masters: &d.masters,
            })
            .collect(),
        swiotlb: Swiotlb {
            enabled: plan.swiotlb.enabled,
            reason: plan.swiotlb.why.to_string(),
        },
        passthrough: plan
            .passthrough
            .iter()
            .map(|p| Device {
                path: &p.path,
                mmio: hex(&p.mmio),
                spis: &p.spis,
                forwarded: hex(&p.forwarded),
            })
            .collect(),
        hidden: plan
            .hidden
            .iter()
            .map(|h| Hidden {
                path: &h.path,
                why: match h.why {
                    HiddenWhy::Iommu(a) => format!("iommu {a}"),
                    HiddenWhy::Kept => "kept by snowvisor".into(),
                },
            })
            .collect(),
        gic: plan.gic.as_ref().map(|g| Gic {
            path: &g.path,
            frames: hex(&g.frames),
        }),
        domus: domu_list,
        evtchns,
        warnings: arg_warnings
            .iter()
            .cloned()
            .chain(plan.warnings.iter().map(ToString::to_string))
            .chain(
                domus
                    .not_started
                    .iter()
                    .map(|(_, w)| format!("warning: {w}")),
            )
            .chain(domus.fatal.iter().map(|f| format!("fatal: {f}")))
            .collect(),
    };
    serde_json::to_string(&doc).expect("the plan serializes: strings, numbers and booleans only")
}

#[cfg(test)]
mod tests {
    use super::*;
    use snowvisor_dt::testing::{vop_sharing_a_page_with_an_iommu, QEMU_VIRT_SMMUV3_DTB};
    use snowvisor_dt::HostTree;
    use snowvisor_plan::{make, Keep, PlanOptions};

    #[test]
    fn qemu_smmuv3_plan_as_json() {
        let t = HostTree::new(QEMU_VIRT_SMMUV3_DTB).unwrap();
        let p = make(&t, &PlanOptions::default(), &Keep::none()).unwrap();
        let j = to_json(&p, &crate::domus::read(&t), &["args: warned".into()]);
        assert!(j.starts_with("{\"iommus\":[{\"path\":\"/smmuv3@9050000\",\"compatible\":\"arm,smmu-v3\",\"action\":\"own\""), "{j}");
        assert!(j.contains("\"spis\":[35,36,37,38]"), "{j}");
        assert!(!j.contains("forwarded"), "no device shares a page: {j}");
        assert!(j.contains("\"gic\":{\"path\":\"/intc@8000000\",\"frames\":[{\"base\":\"0x8000000\",\"size\":\"0x10000\"}"), "{j}");
        assert!(j.ends_with("\"warnings\":[\"args: warned\"]}"), "{j}");
        let v: serde_json::Value = serde_json::from_str(&j).unwrap();
        assert_eq!(v["swiotlb"]["enabled"], true, "{j}");
        assert_eq!(v["hidden"][0]["why"], "iommu own", "{j}");
    }

    #[test]
    fn forwarded_registers_are_listed() {
        let dtb = vop_sharing_a_page_with_an_iommu(true);
        let t = HostTree::new(&dtb).unwrap();
        let p = make(&t, &PlanOptions::default(), &Keep::none()).unwrap();
        let d = crate::domus::read(&t);
        let v: serde_json::Value = serde_json::from_str(&to_json(&p, &d, &[])).unwrap();
        let vop = &v["passthrough"][0];
        assert_eq!(vop["path"], "/vop@ff930000", "{v}");
        assert_eq!(vop["mmio"][0]["base"], "0xff931000", "{v}");
        assert_eq!(vop["forwarded"][0]["base"], "0xff930000", "{v}");
        assert_eq!(vop["forwarded"][0]["size"], "0x19c", "{v}");
        assert_eq!(vop.as_object().unwrap().len(), 4, "{v}");
    }

    #[test]
    fn strings_are_escaped() {
        let w = ["a\"b\\c\n\u{1}".to_string()];
        let t = HostTree::new(QEMU_VIRT_SMMUV3_DTB).unwrap();
        let p = make(&t, &PlanOptions::default(), &Keep::none()).unwrap();
        let j = to_json(&p, &crate::domus::read(&t), &w);
        assert!(j.contains("\"warnings\":[\"a\\\"b\\\\c\\n\\u0001\""), "{j}");
    }
}
