//! The passthrough list: every device node Dom0 gets, with its MMIO (CPU
//! physical, page-aligned) and its GIC SPIs. It drives Dom0's stage-2 map and
//! IRQ routing at boot.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::irq::{self, Irq};
use super::{PlanError, PlanWarning};
use snowvisor_dt::index::NodeIndex;
use snowvisor_dt::Region;

const PAGE: u64 = 0x1000;

/// One device given to Dom0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passthrough {
    pub path: String,
    /// Page-aligned CPU physical ranges to map 1:1 as device memory.
    pub mmio: Vec<Region>,
    /// GIC SPIs (INTIDs) to route to Dom0, sorted.
    pub spis: Vec<u32>,
    /// Byte ranges (CPU physical) of the device's own registers inside a page
    /// that holds an owned IOMMU's registers too: the page is not mapped, and
    /// snowvisor performs Dom0's accesses to these ranges for it
    /// (trap-and-forward). Sorted.
    pub forwarded: Vec<Region>,
}

/// Root-level subtrees that describe no device (or that Dom0 gets rebuilt).
const NOT_DEVICES: &[&str] = &[
    "/cpus",
    "/chosen",
    "/aliases",
    "/reserved-memory",
    "/__symbols__",
    "/__fixups__",
    "/__local_fixups__",
];

/// `reg` of a `device_type = "memory"` node is RAM, not MMIO.
pub fn is_memory_node(x: &NodeIndex<'_>, i: usize) -> bool {
    let name = x.nodes.get(i).map_or("", |n| n.name);
    x.parent(i) == Some(0)
        && (x.str_prop(i, "device_type") == Some("memory")
            || name == "memory"
            || name.starts_with("memory@"))
}

/// Widens a region to whole pages; `None` if it would wrap.
pub fn page_align(r: Region) -> Option<Region> {
    let base = r.base & !(PAGE - 1);
    let end = r.base.checked_add(r.size)?.checked_add(PAGE - 1)? & !(PAGE - 1);
    Some(Region {
        base,
        size: end - base,
    })
}

/// `r` minus `cut`: zero, one or two pieces.
fn subtract(r: Region, cut: &Region) -> Vec<Region> {
    if !r.overlaps(cut) {
        return alloc::vec![r];
    }
    let mut out = Vec::new();
    if r.base < cut.base {
        out.push(Region {
            base: r.base,
            size: cut.base - r.base,
        });
    }
    if cut.end() < r.end() {
        out.push(Region {
            base: cut.end(),
            size: r.end() - cut.end(),
        });
    }
    out
}

/// The SPIs node `i` raises: its own interrupts, a PCI host's `interrupt-map`,
/// a crossbar's pool.
fn spis_of(x: &NodeIndex<'_>, i: usize, pci: bool) -> Result<Vec<u32>, PlanError> {
    let mut spis: Vec<u32> = irq::interrupts(x, i)?
        .into_iter()
        .filter_map(|q| match q {
            Irq::Spi(s) => Some(s),
            _ => None,
        })
        .collect();
    if pci {
        spis.extend(irq::map_spis(x, i)?);
    }
    if x.is_compatible(i, &[irq::CROSSBAR]) {
        spis.extend(irq::crossbar_spis(x, i)?);
    }
    Ok(spis)
}

/// Pages of nodes Dom0 does not get, each with its owner's path.
pub struct Frames<'f> {
    /// No passthrough mapping may cover these (the GIC's, owned IOMMUs', kept
    /// nodes'): a device's page that overlaps one is cut out, with a warning.
    pub protected: &'f [(Region, String)],
    /// Hidden IOMMUs' pages: snowvisor does not protect them, so a device
    /// sharing one gets the page, with a note.
    pub unprotected: &'f [(Region, String)],
    /// Owned IOMMUs' registers, exact (not page-aligned): a device sharing a
    /// page with one has its own registers there forwarded ([`forwardable`]).
    pub owned_regs: &'f [(Region, String)],
}

/// The part of device register block `dev` inside `page` that belongs to no
/// region of `others` (the registers of what shares the page): what
/// snowvisor may forward for the device. Sorted, disjoint byte ranges.
pub fn forwardable(dev: Region, page: &Region, others: &[Region]) -> Vec<Region> {
    let base = dev.base.max(page.base);
    let end = dev.end().min(page.end());
    if end <= base {
        return Vec::new();
    }
    let mut pieces = alloc::vec![Region {
        base,
        size: end - base
    }];
    for o in others {
        pieces = pieces.iter().flat_map(|p| subtract(*p, o)).collect();
    }
    pieces
}

/// Collects the passthrough devices. `removed` are subtree roots Dom0 does not
/// get (hidden IOMMUs, nodes snowvisor keeps).
pub fn collect(
    x: &NodeIndex<'_>,
    removed: &[usize],
    frames: &Frames<'_>,
    warnings: &mut Vec<PlanWarning>,
) -> Result<Vec<Passthrough>, PlanError> {
    let mut out = Vec::new();
    let skip_roots: Vec<usize> = NOT_DEVICES.iter().filter_map(|p| x.by_path(p)).collect();
    for i in 1..x.len() {
        let under = |roots: &[usize]| roots.iter().any(|&r| x.is_within(i, r));
        if under(removed) || under(&skip_roots) || !x.is_available(i) {
            continue;
        }
        if is_memory_node(x, i)
            || irq::is_gic(x, i)
            || x.is_compatible(i, &["xen,xen", "multiboot,module", "xen,multiboot-module"])
        {
            continue;
        }
        let mut mmio = match x.mmio(i) {
            Some(m) => m,
            None => {
                warnings.push(PlanWarning::BadReg {
                    node: x.path(i).to_string(),
                });
                Vec::new()
            }
        };
        let pci = matches!(x.str_prop(i, "device_type"), Some("pci") | Some("pciex"));
        if pci {
            mmio.extend(x.range_windows(i));
        }
        let mut spis = match spis_of(x, i, pci) {
            Ok(s) => s,
            Err(e) => {
                PlanWarning::add_once(warnings, PlanWarning::OddInterrupts { why: e.to_string() });
                Vec::new()
            }
        };
        if let (Some(base), Some(n)) = (
            x.u32_prop(i, "arm,msi-base-spi"),
            x.u32_prop(i, "arm,msi-num-spis"),
        ) {
            spis.extend(base.max(32)..base.saturating_add(n).min(1020));
        }
        let mut pages: Vec<Region> = Vec::new();
        let mut forwarded: Vec<Region> = Vec::new();
        let owned: Vec<Region> = frames.owned_regs.iter().map(|(r, _)| *r).collect();
        for exact in mmio {
            let Some(r) = page_align(exact) else { continue };
            for (page, owner) in frames.unprotected.iter().filter(|(p, _)| p.overlaps(&r)) {
                PlanWarning::add_once(
                    warnings,
                    PlanWarning::SharedWithHiddenIommu {
                        node: x.path(i).to_string(),
                        base: page.base.max(r.base),
                        size: page.end().min(r.end()) - page.base.max(r.base),
                        iommu: owner.clone(),
                    },
                );
            }
            let mut pieces = alloc::vec![r];
            for (cut, owner) in frames.protected {
                let hit = pieces.iter().any(|p| p.overlaps(cut));
                pieces = pieces.iter().flat_map(|p| subtract(*p, cut)).collect();
                if !hit {
                    continue;
                }
                let (base, size) = (
                    cut.base.max(r.base),
                    cut.end().min(r.end()) - cut.base.max(r.base),
                );
                let shared = Region { base, size };
                let fwd = if frames.owned_regs.iter().any(|(_, o)| o == owner) {
                    forwardable(exact, &shared, &owned)
                } else {
                    Vec::new()
                };
                warnings.push(if fwd.is_empty() {
                    PlanWarning::MmioCarved {
                        node: x.path(i).to_string(),
                        base,
                        size,
                        kept: owner.clone(),
                    }
                } else {
                    PlanWarning::Forwarded {
                        node: x.path(i).to_string(),
                        page: shared,
                        ranges: fwd.clone(),
                        iommu: owner.clone(),
                    }
                });
                forwarded.extend(fwd);
            }
            pages.extend(pieces);
        }
        snowvisor_dt::sort::by_key(&mut pages, |r| (r.base, r.size));
        pages.dedup();
        snowvisor_dt::sort::ascending(&mut spis);
        spis.dedup();
        snowvisor_dt::sort::by_key(&mut forwarded, |r| r.base);
        forwarded.dedup();
        if pages.is_empty() && spis.is_empty() && forwarded.is_empty() {
            continue;
        }
        out.push(Passthrough {
            path: x.path(i).to_string(),
            mmio: pages,
            spis,
            forwarded,
        });
    }
    Ok(out)
}

/// Sorted regions with overlapping or touching ones merged.
pub fn merge(mut v: Vec<Region>) -> Vec<Region> {
    snowvisor_dt::sort::by_key(&mut v, |r| r.base);
    let mut out: Vec<Region> = Vec::with_capacity(v.len());
    for r in v {
        match out.last_mut() {
            Some(l) if r.base <= l.end() => l.size = l.size.max(r.end() - l.base),
            _ => out.push(r),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment_and_subtraction() {
        let r = page_align(Region {
            base: 0x1001,
            size: 0x10,
        })
        .unwrap();
        assert_eq!(
            r,
            Region {
                base: 0x1000,
                size: 0x1000
            }
        );
        assert_eq!(
            page_align(Region {
                base: u64::MAX - 2,
                size: 2
            }),
            None
        );
        let big = Region {
            base: 0x0,
            size: 0x10000,
        };
        let cut = Region {
            base: 0x4000,
            size: 0x1000,
        };
        assert_eq!(
            subtract(big, &cut),
            [
                Region {
                    base: 0,
                    size: 0x4000
                },
                Region {
                    base: 0x5000,
                    size: 0xb000
                }
            ]
        );
        assert_eq!(subtract(cut, &big), []);
        let m = merge(alloc::vec![
            Region {
                base: 0x2000,
                size: 0x1000
            },
            Region {
                base: 0x1000,
                size: 0x1000
            },
            Region {
                base: 0x8000,
                size: 1
            }
        ]);
        assert_eq!(
            m,
            [
                Region {
                    base: 0x1000,
                    size: 0x2000
                },
                Region {
                    base: 0x8000,
                    size: 1
                }
            ]
        );
    }
}
