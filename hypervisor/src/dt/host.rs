//! The host device tree: read once at boot with the `fdt` crate, after
//! [`super::blob::check`] has proven its structure sound.

use alloc::vec::Vec;
use fdt::node::FdtNode;
use fdt::Fdt;

use super::blob::{self, DtError};

/// A physical address range from a `reg` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub base: u64,
    pub size: u64,
}

impl Region {
    pub fn end(&self) -> u64 {
        self.base.saturating_add(self.size)
    }
    pub fn overlaps(&self, other: &Region) -> bool {
        self.base < other.end() && other.base < self.end()
    }
    pub fn contains(&self, other: &Region) -> bool {
        other.base >= self.base && other.end() <= self.end()
    }
}

/// GICv2 register frames, in the order of the binding's `reg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GicInfo {
    pub gicd: Region,
    pub gicc: Region,
    /// Virtual interface control (absent on a GIC without virtualization).
    pub gich: Option<Region>,
    /// Virtual CPU interface.
    pub gicv: Option<Region>,
    /// Maintenance interrupt as an INTID (PPI n is INTID 16 + n).
    pub maintenance_intid: Option<u32>,
}

/// The architected timer node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerInfo {
    /// `clock-frequency`, for firmware that leaves CNTFRQ unprogrammed.
    pub clock_frequency: Option<u32>,
    /// INTIDs: secure phys, non-secure phys, virtual, hyp.
    pub intids: [Option<u32>; 4],
}

/// The console UART named by `/chosen/stdout-path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UartInfo<'a> {
    pub path: &'a str,
    pub compatible: &'a str,
    pub base: u64,
}

/// What a `/chosen/module@...` node carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleKind {
    Kernel,
    Ramdisk,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootModule<'a> {
    pub node: &'a str,
    pub kind: ModuleKind,
    pub region: Region,
    pub bootargs: Option<&'a str>,
}

/// The host tree, checked and ready to be queried.
pub struct HostTree<'a> {
    pub fdt: Fdt<'a>,
    pub blob: &'a [u8],
}

impl<'a> HostTree<'a> {
    /// Checks `blob` and opens it.
    pub fn new(blob: &'a [u8]) -> Result<Self, DtError> {
        let blob = blob::check(blob)?;
        let fdt = Fdt::new(blob).map_err(|_| DtError::Structure {
            offset: 0,
            why: "rejected by the fdt parser",
        })?;
        Ok(HostTree { fdt, blob })
    }

    pub fn root(&self) -> Option<FdtNode<'_, 'a>> {
        self.fdt.find_node("/")
    }

    /// `model` of the root node, if any.
    pub fn model(&self) -> Option<&'a str> {
        self.root()?.property("model")?.as_str()
    }

    /// RAM banks from the memory nodes (device_type = "memory"), sorted by base.
    pub fn memory(&self) -> Result<Vec<Region>, DtError> {
        let mut banks = Vec::new();
        if let Some(root) = self.root() {
            for n in root.children() {
                let is_mem = prop_str(&n, "device_type") == Some("memory")
                    || n.name == "memory"
                    || n.name.starts_with("memory@");
                if is_mem && is_enabled(&n) {
                    banks.extend(reg(&n).into_iter().filter(|r| r.size > 0));
                }
            }
        }
        if banks.is_empty() {
            return Err(DtError::NoMemory);
        }
        banks.sort_by_key(|r| r.base);
        Ok(banks)
    }

    /// The GICv2 node.
    pub fn gic(&self) -> Option<GicInfo> {
        let n = self.fdt.all_nodes().find(|n| {
            n.compatible().is_some_and(|c| {
                c.all().any(|s| {
                    matches!(
                        s,
                        "arm,cortex-a15-gic"
                            | "arm,gic-400"
                            | "arm,cortex-a7-gic"
                            | "arm,cortex-a9-gic"
                    )
                })
            })
        })?;
        let regs = reg(&n);
        let maintenance_intid = cells(&n, "interrupts").and_then(|c| intid(&c, 0));
        Some(GicInfo {
            gicd: *regs.first()?,
            gicc: *regs.get(1)?,
            gich: regs.get(2).copied(),
            gicv: regs.get(3).copied(),
            maintenance_intid,
        })
    }

    /// The architected timer node (`arm,armv7-timer`).
    pub fn timer(&self) -> Option<TimerInfo> {
        let n = self
            .fdt
            .find_compatible(&["arm,armv7-timer", "arm,armv8-timer"])?;
        let clock_frequency = cells(&n, "clock-frequency").and_then(|c| c.first().copied());
        let irq = cells(&n, "interrupts").unwrap_or_default();
        Some(TimerInfo {
            clock_frequency,
            intids: [0, 1, 2, 3].map(|i| intid(&irq, i)),
        })
    }

    /// Resolves `/chosen/stdout-path` (alias or path, options after ':' dropped).
    pub fn stdout(&self) -> Option<UartInfo<'a>> {
        let chosen = self.fdt.find_node("/chosen")?;
        let spec =
            prop_str(&chosen, "stdout-path").or_else(|| prop_str(&chosen, "linux,stdout-path"))?;
        let name = spec.split(':').next()?;
        let path = if name.starts_with('/') {
            name
        } else {
            self.fdt
                .find_node("/aliases")
                .and_then(|a| prop_str(&a, name))?
        };
        let node = self.fdt.find_node(path)?;
        let compatible = node.compatible().map(|c| c.first()).unwrap_or("");
        let base = reg(&node).first()?.base;
        Some(UartInfo {
            path,
            compatible,
            base,
        })
    }

    /// snowvisor's own arguments: `xen,xen-bootargs` if present, else `bootargs`.
    pub fn hypervisor_bootargs(&self) -> Option<&'a str> {
        let chosen = self.fdt.find_node("/chosen")?;
        prop_str(&chosen, "xen,xen-bootargs").or_else(|| prop_str(&chosen, "bootargs"))
    }

    /// The Xen-style boot modules under /chosen, in tree order.
    pub fn modules(&self) -> Vec<BootModule<'a>> {
        let Some(chosen) = self.fdt.find_node("/chosen") else {
            return Vec::new();
        };
        // QEMU's guest-loader writes module reg with the root's cell sizes and no
        // #address-cells in /chosen, so fall back to the root's, not the spec default.
        let root = self.root().map(|r| r.cell_sizes());
        let own = |p: &str| cells(&chosen, p).and_then(|c| c.first().copied());
        let ac = own("#address-cells").map_or(root.map_or(2, |r| r.address_cells), |c| c as usize);
        let sc = own("#size-cells").map_or(root.map_or(1, |r| r.size_cells), |c| c as usize);
        chosen
            .children()
            .filter_map(|n| {
                let compat = n.compatible()?;
                let mut kind = None;
                for c in compat.all() {
                    match c {
                        "multiboot,kernel" => kind = Some(ModuleKind::Kernel),
                        "multiboot,ramdisk" => kind = Some(ModuleKind::Ramdisk),
                        "multiboot,module" if kind.is_none() => kind = Some(ModuleKind::Other),
                        _ => {}
                    }
                }
                Some(BootModule {
                    node: n.name,
                    kind: kind?,
                    region: *reg_with(&n, ac, sc).first()?,
                    bootargs: prop_str(&n, "bootargs"),
                })
            })
            .collect()
    }

    /// Number of CPU nodes under /cpus.
    pub fn cpu_count(&self) -> usize {
        self.fdt
            .find_node("/cpus")
            .map(|c| {
                c.children()
                    .filter(|n| prop_str(n, "device_type") == Some("cpu"))
                    .count()
            })
            .unwrap_or(0)
    }

    /// Enabled nodes with a `compatible`, i.e. devices a driver could bind to.
    pub fn device_count(&self) -> usize {
        self.fdt
            .all_nodes()
            .filter(|n| n.compatible().is_some() && is_enabled(n))
            .count()
    }
}

/// A property as a string (first string of a list).
pub fn prop_str<'a>(n: &FdtNode<'_, 'a>, name: &str) -> Option<&'a str> {
    let v = n.property(name)?.value;
    let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
    core::str::from_utf8(&v[..end]).ok()
}

/// A property as big-endian u32 cells (None if absent or not a multiple of 4).
pub fn cells(n: &FdtNode<'_, '_>, name: &str) -> Option<Vec<u32>> {
    let v = n.property(name)?.value;
    if v.len() % 4 != 0 {
        return None;
    }
    Some(
        v.chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

/// `status` absent, "okay" or "ok".
pub fn is_enabled(n: &FdtNode<'_, '_>) -> bool {
    matches!(prop_str(n, "status"), None | Some("okay") | Some("ok"))
}

fn be_cells(bytes: &[u8]) -> Option<u64> {
    match bytes.len() {
        0 => Some(0),
        4 => Some(u32::from_be_bytes(bytes.try_into().ok()?) as u64),
        8 => Some(u64::from_be_bytes(bytes.try_into().ok()?)),
        _ => None,
    }
}

/// `reg` decoded with the parent's cell sizes; entries that do not fit 64 bits
/// (PCI's 3-cell addresses) are left out.
pub fn reg(n: &FdtNode<'_, '_>) -> Vec<Region> {
    let Some(raw) = n.raw_reg() else {
        return Vec::new();
    };
    raw.filter_map(|r| {
        Some(Region {
            base: be_cells(r.address)?,
            size: be_cells(r.size)?,
        })
    })
    .collect()
}

/// `reg` decoded with explicit cell sizes.
pub fn reg_with(n: &FdtNode<'_, '_>, address_cells: usize, size_cells: usize) -> Vec<Region> {
    let Some(v) = n.property("reg").map(|p| p.value) else {
        return Vec::new();
    };
    let entry = (address_cells + size_cells) * 4;
    if entry == 0 || address_cells > 2 || size_cells > 2 {
        return Vec::new();
    }
    v.chunks_exact(entry)
        .filter_map(|e| {
            let (a, s) = e.split_at(address_cells * 4);
            Some(Region {
                base: be_cells(a)?,
                size: be_cells(s)?,
            })
        })
        .collect()
}

/// INTID of the `i`-th GIC 3-cell interrupt specifier (SPI n = 32 + n, PPI n = 16 + n).
fn intid(cells: &[u32], i: usize) -> Option<u32> {
    let spec = cells.get(i * 3..i * 3 + 3)?;
    match spec[0] {
        0 => spec[1].checked_add(32),
        1 => spec[1].checked_add(16),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dt::testdata::{QEMU_VIRT_DTB, QEMU_VIRT_MODULES_DTB};

    #[test]
    fn qemu_virt_summary() {
        let t = HostTree::new(QEMU_VIRT_DTB).unwrap();
        assert_eq!(
            t.memory().unwrap(),
            [Region {
                base: 0x4000_0000,
                size: 0x4000_0000
            }]
        );
        let gic = t.gic().unwrap();
        assert_eq!(gic.gicd.base, 0x0800_0000);
        assert_eq!(gic.gicc.base, 0x0801_0000);
        assert_eq!(gic.gich.unwrap().base, 0x0803_0000);
        assert_eq!(gic.gicv.unwrap().base, 0x0804_0000);
        assert_eq!(gic.maintenance_intid, Some(25));
        let timer = t.timer().unwrap();
        assert_eq!(timer.intids, [Some(29), Some(30), Some(27), Some(26)]);
        assert_eq!(timer.clock_frequency, None);
        let uart = t.stdout().unwrap();
        assert_eq!(
            (uart.path, uart.compatible, uart.base),
            ("/pl011@9000000", "arm,pl011", 0x0900_0000)
        );
        assert_eq!(t.cpu_count(), 1);
        assert!(t.device_count() > 30, "{}", t.device_count());
        assert!(t.modules().is_empty());
    }

    #[test]
    fn guest_loader_modules() {
        let t = HostTree::new(QEMU_VIRT_MODULES_DTB).unwrap();
        let m = t.modules();
        assert_eq!(m.len(), 2);
        let k = m.iter().find(|m| m.kind == ModuleKind::Kernel).unwrap();
        assert_eq!(
            k.region,
            Region {
                base: 0x4200_0000,
                size: 0x1000
            }
        );
        assert_eq!(k.bootargs, Some("console=hvc0 earlycon"));
        let r = m.iter().find(|m| m.kind == ModuleKind::Ramdisk).unwrap();
        assert_eq!(
            r.region,
            Region {
                base: 0x4400_0000,
                size: 0x2000
            }
        );
        assert_eq!(t.hypervisor_bootargs(), Some("loglvl=debug dom0_mem=512M"));
    }
}
