//! The known-IOMMU table: data, one row per compatible (or compatible pattern),
//! with whether snowvisor drives it. Sources: ../shared/docs/iommu-facts.md §1.6,
//! §2.1 (Linux bindings under Documentation/devicetree/bindings/iommu/).

/// Whether snowvisor has a driver for an IOMMU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriverState {
    /// snowvisor drives it: the default action is own.
    Driven,
    /// Known IOMMU without a snowvisor driver: the default action is hide.
    Undriven,
}

/// The SMMUv3 driver (`drivers::smmuv3`): stage-2 translation through Dom0's
/// own stage-2 tables, so the default action is own.
pub const SMMU_V3: DriverState = DriverState::Driven;

/// How a row matches a `compatible` string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compat {
    Exact(&'static str),
    /// `prefix*suffix`, the `*` standing for a non-empty run without a comma.
    Pattern {
        prefix: &'static str,
        suffix: &'static str,
    },
}

impl Compat {
    pub fn matches(&self, c: &str) -> bool {
        match *self {
            Compat::Exact(e) => c == e,
            Compat::Pattern { prefix, suffix } => c
                .strip_prefix(prefix)
                .and_then(|r| r.strip_suffix(suffix))
                .is_some_and(|mid| !mid.is_empty() && !mid.contains(',')),
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownIommu {
    pub compatible: Compat,
    pub driver: DriverState,
    /// `false` when the IOMMU is part of a device Dom0 still needs (Tegra's memory
    /// controller): hiding it then keeps the node and strips only the masters.
    pub removable: bool,
    pub note: &'static str,
}

const fn row(c: &'static str, note: &'static str) -> KnownIommu {
    KnownIommu {
        compatible: Compat::Exact(c),
        driver: DriverState::Undriven,
        removable: true,
        note,
    }
}

const fn pattern(
    prefix: &'static str,
    suffix: &'static str,
    removable: bool,
    note: &'static str,
) -> KnownIommu {
    KnownIommu {
        compatible: Compat::Pattern { prefix, suffix },
        driver: DriverState::Undriven,
        removable,
        note,
    }
}

const ARM_SMMU: &str = "ARM SMMU v1/v2 (Xen drives it; snowvisor does not yet)";
const OMAP: &str = "TI OMAP IOMMU (remoteproc, ISP)";
const IPMMU: &str = "Renesas IPMMU-VMSA";
const M4U: &str = "MediaTek M4U";
const TEGRA_MC: &str =
    "Tegra memory controller with a built-in SMMU: node kept for Dom0, masters stripped";

/// The table. Order matters only for readability: a node's first compatible that
/// matches any row decides.
pub static KNOWN: &[KnownIommu] = &[
    row(
        "samsung,exynos-sysmmu",
        "Exynos System MMU, one per master bus (short-descriptor tables)",
    ),
    row("arm,smmu-v1", ARM_SMMU),
    row("arm,smmu-v2", ARM_SMMU),
    row("arm,mmu-400", ARM_SMMU),
    row("arm,mmu-401", ARM_SMMU),
    row("arm,mmu-500", ARM_SMMU),
    KnownIommu {
        compatible: Compat::Exact("arm,smmu-v3"),
        driver: SMMU_V3,
        removable: true,
        note: "ARM SMMUv3 (QEMU virt iommu=smmuv3): PCI masters through iommu-map; snowvisor drives it (stage 2)",
    },
    row("rockchip,iommu", "Rockchip IOMMU (RK3288, RK322x)"),
    row("ti,omap2-iommu", OMAP),
    row("ti,omap4-iommu", OMAP),
    row("ti,dra7-iommu", OMAP),
    row("ti,dra7-dsp-iommu", OMAP),
    row("renesas,ipmmu-vmsa", IPMMU),
    pattern("renesas,ipmmu-r8a", "", true, IPMMU),
    pattern("mediatek,mt", "-m4u", true, M4U),
    row(
        "qcom,apq8064-iommu",
        "Qualcomm MSM IOMMU (APQ8064, MSM8960)",
    ),
    row(
        "qcom,msm-iommu-v1",
        "Qualcomm IOMMU with context-bank children",
    ),
    row(
        "qcom,msm-iommu-v2",
        "Qualcomm IOMMU with context-bank children",
    ),
    row("allwinner,sun8i-h3-iommu", "Allwinner IOMMU"),
    row("allwinner,sun50i-h6-iommu", "Allwinner IOMMU"),
    row(
        "nvidia,tegra30-smmu",
        "Tegra30 SMMU (legacy standalone node)",
    ),
    pattern("nvidia,tegra", "-mc", false, TEGRA_MC),
    KnownIommu {
        compatible: Compat::Exact("nvidia,tegra20-mc-gart"),
        driver: DriverState::Undriven,
        removable: false,
        note: "Tegra20 memory controller with its GART: node kept for Dom0, masters stripped",
    },
];

/// The row for a node, from its compatible list, with the string that matched.
pub fn lookup<'c>(compatibles: &[&'c str]) -> Option<(&'static KnownIommu, &'c str)> {
    compatibles.iter().find_map(|c| {
        KNOWN
            .iter()
            .find(|k| k.compatible.matches(c))
            .map(|k| (k, *c))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching() {
        assert_eq!(
            lookup(&["samsung,exynos-sysmmu"]).unwrap().0.note,
            KNOWN[0].note
        );
        let (k, c) = lookup(&["nvidia,tegra124-mc"]).unwrap();
        assert!(!k.removable);
        assert_eq!(c, "nvidia,tegra124-mc");
        assert!(lookup(&["nvidia,tegra124-emc"]).is_none());
        assert!(lookup(&["nvidia,tegra-mc"]).is_none());
        assert!(lookup(&["mediatek,mt7623-m4u", "mediatek,mt2701-m4u"]).is_some());
        assert!(lookup(&["renesas,ipmmu-r8a7791", "renesas,ipmmu-vmsa"]).is_some());
        assert_eq!(lookup(&["arm,smmu-v3"]).unwrap().0.driver, SMMU_V3);
        assert!(lookup(&["arm,pl011"]).is_none());
    }
}
