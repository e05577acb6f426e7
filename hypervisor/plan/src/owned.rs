//! What snowvisor needs to drive each IOMMU the plan owns: its register
//! frame, its interrupts by name, and the stream IDs of the masters Dom0
//! gets behind it. Pure: read from the host tree while the plan is made (part
//! of [`super::Plan`]), host-tested, printed at boot when the drivers start.
//!
//! Stream IDs come from the masters' `iommus` specifiers (first cell) and
//! `iommu-map` entries (`<rid-base &iommu sid-base length>`). A PCI host's
//! `bus-range` narrows a map to the requester IDs its buses can produce
//! (QEMU virt maps all 0x10000 RIDs but has buses 0..0xf: 4096 streams),
//! unless an `iommu-map-mask` makes RIDs alias.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::iommu::{iommus_entries, map_entries};
use super::irq::{self, Irq};
use super::report::PREFIX;
use super::{IommuAction, IommuDecision, PlanError};
use snowvisor_dt::index::NodeIndex;
use snowvisor_dt::Region;

/// Stream IDs `first..=last` of one master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamRange {
    pub master: String,
    pub first: u32,
    pub last: u32,
}

/// An owned IOMMU, ready for its driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedIommu {
    pub path: String,
    pub compatible: String,
    /// The first `reg` entry, as a CPU physical address.
    pub regs: Region,
    /// (interrupt-names entry, or `irqN` without names; SPI INTID).
    pub irqs: Vec<(String, u32)>,
    pub streams: Vec<StreamRange>,
}

impl OwnedIommu {
    /// The INTID of the interrupt named `name`.
    pub fn irq(&self, name: &str) -> Option<u32> {
        self.irqs.iter().find(|i| i.0 == name).map(|i| i.1)
    }

    /// All stream ranges, sorted and merged.
    pub fn merged_streams(&self) -> Vec<(u32, u32)> {
        let mut v: Vec<(u32, u32)> = self.streams.iter().map(|s| (s.first, s.last)).collect();
        snowvisor_dt::sort::ascending(&mut v);
        let mut out: Vec<(u32, u32)> = Vec::new();
        for (a, b) in v {
            match out.last_mut() {
                Some(l) if a <= l.1.saturating_add(1) => l.1 = l.1.max(b),
                _ => out.push((a, b)),
            }
        }
        out
    }
}

/// The intersection of `[a0, a1]` and `[b0, b1]`.
fn clip(a: (u32, u32), b: (u32, u32)) -> Option<(u32, u32)> {
    let lo = a.0.max(b.0);
    let hi = a.1.min(b.1);
    (lo <= hi).then_some((lo, hi))
}

/// Stream ranges of master `m` on IOMMU node `t`.
fn streams_of(x: &NodeIndex<'_>, m: usize, t: usize) -> Result<Vec<StreamRange>, PlanError> {
    let master = x.path(m).to_string();
    let mut out = Vec::new();
    for (_, e) in iommus_entries(x, m)?.into_iter().filter(|e| e.0 == t) {
        if let Some(&sid) = e.get(1) {
            out.push(StreamRange {
                master: master.clone(),
                first: sid,
                last: sid,
            });
        }
    }
    let buses = match (x.cells(m, "bus-range")?, x.has(m, "iommu-map-mask")) {
        (Some(b), false) if b.len() == 2 && b[0] <= b[1] && b[1] <= 0xff => {
            Some((b[0] << 8, (b[1] << 8) | 0xff))
        }
        _ => None,
    };
    for (_, e) in map_entries(x, m)?.into_iter().filter(|e| e.0 == t) {
        // <rid-base phandle sid-base... length>: the specifier is one cell for SMMUs.
        let (Some(&rid), Some(&sid), Some(&len)) = (e.first(), e.get(2), e.last()) else {
            continue;
        };
        // A specifier of more cells is not a stream ID: not an SMMU's map.
        if e.len() != 4 || len == 0 {
            continue;
        }
        let rids = (rid, rid.saturating_add(len - 1));
        let Some(r) = buses.map_or(Some(rids), |b| clip(rids, b)) else {
            continue;
        };
        out.push(StreamRange {
            master: master.clone(),
            first: sid.saturating_add(r.0 - rid),
            last: sid.saturating_add(r.1 - rid),
        });
    }
    Ok(out)
}

/// Every enabled IOMMU in `iommus` whose action is own, in tree order.
/// Fails only where the plan's own walk of the same properties would.
pub fn describe(x: &NodeIndex<'_>, iommus: &[IommuDecision]) -> Result<Vec<OwnedIommu>, PlanError> {
    let mut out = Vec::new();
    for d in iommus
        .iter()
        .filter(|d| d.action == IommuAction::Own && d.enabled)
    {
        let Some(i) = x.by_path(&d.path) else {
            continue;
        };
        // No frame reads as an empty one; the driver refuses it by name.
        let regs = x
            .mmio(i)
            .and_then(|r| r.first().copied())
            .unwrap_or(Region { base: 0, size: 0 });
        let names = x.strings(i, "interrupt-names");
        let irqs = irq::interrupts(x, i)
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .filter_map(|(k, q)| match q {
                Irq::Spi(intid) => Some((
                    names
                        .get(k)
                        .map_or_else(|| format!("irq{k}"), |n| n.to_string()),
                    intid,
                )),
                _ => None,
            })
            .collect();
        let mut streams = Vec::new();
        for m in &d.masters {
            if let Some(mi) = x.by_path(m) {
                streams.extend(streams_of(x, mi, i)?);
            }
        }
        out.push(OwnedIommu {
            path: d.path.clone(),
            compatible: d.compatible.clone(),
            regs,
            irqs,
            streams,
        });
    }
    Ok(out)
}

/// One line per owned IOMMU, with the `plan: ` prefix.
pub fn lines(owned: &[OwnedIommu]) -> Vec<String> {
    owned
        .iter()
        .map(|o| {
            let irqs: Vec<String> = o.irqs.iter().map(|(n, i)| format!("{n}={i}")).collect();
            let streams: Vec<String> = o
                .streams
                .iter()
                .map(|s| format!("{:#x}-{:#x} ({})", s.first, s.last, s.master))
                .collect();
            format!(
                "{PREFIX}own {}: regs {:#x}+{:#x}, irqs [{}], dom0 streams [{}]",
                o.path,
                o.regs.base,
                o.regs.size,
                irqs.join(" "),
                streams.join(", ")
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{c, n, s, synthetic};
    use crate::{make, Keep, PlanOptions};
    use alloc::vec;
    use snowvisor_dt::testing::{EXYNOS5250_SNOW_DTB, QEMU_VIRT_SMMUV3_DTB};
    use snowvisor_dt::HostTree;

    fn owned_of(dtb: &[u8], iommu: Option<&str>) -> Vec<OwnedIommu> {
        let t = HostTree::new(dtb).unwrap();
        make(&t, &PlanOptions::parse(iommu, None).0, &Keep::none())
            .unwrap()
            .owned
    }

    #[test]
    fn qemu_virt_smmuv3() {
        let o = owned_of(QEMU_VIRT_SMMUV3_DTB, None);
        assert_eq!(o.len(), 1);
        let s = &o[0];
        assert_eq!(s.path, "/smmuv3@9050000");
        assert_eq!(
            s.regs,
            Region {
                base: 0x905_0000,
                size: 0x2_0000
            }
        );
        assert_eq!(s.irq("eventq"), Some(106));
        assert_eq!(s.irq("gerror"), Some(109));
        // iommu-map <0 &smmu 0 0x10000>, narrowed to bus-range <0 0xf>.
        assert_eq!(
            s.streams,
            [StreamRange {
                master: "/pcie@10000000".into(),
                first: 0,
                last: 0xfff
            }]
        );
        assert_eq!(
            lines(&o),
            ["plan: own /smmuv3@9050000: regs 0x9050000+0x20000, irqs [eventq=106 priq=107 cmdq-sync=108 gerror=109], dom0 streams [0x0-0xfff (/pcie@10000000)]"]
        );
    }

    #[test]
    fn nothing_owned_when_hidden_passed_or_absent() {
        assert!(owned_of(QEMU_VIRT_SMMUV3_DTB, Some("hide:arm,smmu-v3")).is_empty());
        assert!(owned_of(QEMU_VIRT_SMMUV3_DTB, Some("pass:all")).is_empty());
        assert!(owned_of(EXYNOS5250_SNOW_DTB, None).is_empty());
    }

    #[test]
    fn iommus_specifiers_and_shifted_maps() {
        let smmu = n(
            "iommu@1000",
            vec![
                ("compatible", s("arm,smmu-v3")),
                ("reg", c(&[0x1000, 0x2_0000])),
                ("#iommu-cells", c(&[1])),
                ("phandle", c(&[7])),
            ],
            vec![],
        );
        let dma = n(
            "dma@2000",
            vec![
                ("reg", c(&[0x2000, 0x100])),
                ("iommus", c(&[7, 0x31, 7, 0x33])),
            ],
            vec![],
        );
        // RIDs 0x100.. map to SIDs 0x4100..; buses 1..2 only; a zero-length entry ignored.
        let pci = n(
            "pcie@3000",
            vec![
                ("reg", c(&[0x3000, 0x1000])),
                ("bus-range", c(&[1, 2])),
                ("iommu-map", c(&[0x100, 7, 0x4100, 0x1000, 0, 7, 0, 0])),
            ],
            vec![],
        );
        let dtb = synthetic(vec![smmu, dma, pci]);
        let o = owned_of(&dtb, None);
        let got: Vec<(u32, u32)> = o[0].streams.iter().map(|s| (s.first, s.last)).collect();
        assert_eq!(got, [(0x31, 0x31), (0x33, 0x33), (0x4100, 0x42ff)]);
        assert_eq!(
            o[0].merged_streams(),
            [(0x31, 0x31), (0x33, 0x33), (0x4100, 0x42ff)]
        );
        assert!(o[0].irqs.is_empty());
    }

    #[test]
    fn merging() {
        let o = OwnedIommu {
            path: "/i".into(),
            compatible: "arm,smmu-v3".into(),
            regs: Region { base: 0, size: 0 },
            irqs: vec![],
            streams: [(5, 9), (0, 3), (4, 4), (20, 20), (8, 12)]
                .iter()
                .map(|&(first, last)| StreamRange {
                    master: "/m".into(),
                    first,
                    last,
                })
                .collect(),
        };
        assert_eq!(o.merged_streams(), [(0, 12), (20, 20)]);
    }
}
