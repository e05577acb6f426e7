//! The host device tree: read once at boot by [`super::blob::parse`] (the
//! structural check and the reader are one walk) and indexed by [`NodeIndex`].

use alloc::vec::Vec;

use super::blob::{self, DtError};
use super::index::NodeIndex;
use crate::bootproto::ModuleRole;

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

/// Memory firmware reserved: a `/reserved-memory` child with `reg`, or a
/// `/memreserve/` entry. snowvisor places nothing of its own there and Dom0
/// sees it reserved too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reserved {
    /// The node's path, or `/memreserve/`.
    pub what: alloc::string::String,
    pub region: Region,
    /// `no-map`: not even mapped by the OS (Devicetree Specification v0.4, 3.5.2).
    pub no_map: bool,
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

/// The host tree, checked, indexed and ready to be queried. Every address it
/// returns is a CPU physical address: `reg` is translated through every
/// parent's `ranges` ([`NodeIndex::mmio`]), as the plan does.
pub struct HostTree<'a> {
    /// The blob, trimmed to its `totalsize`.
    pub blob: &'a [u8],
    index: NodeIndex<'a>,
}

/// GICv2 compatibles the boot path drives.
pub const GIC_COMPATIBLES: &[&str] = &[
    "arm,cortex-a15-gic",
    "arm,gic-400",
    "arm,cortex-a7-gic",
    "arm,cortex-a9-gic",
];

impl<'a> HostTree<'a> {
    /// Checks `blob` ([`blob::parse`]) and indexes it.
    pub fn new(blob: &'a [u8]) -> Result<Self, DtError> {
        let (blob, raw) = blob::parse(blob)?;
        Ok(HostTree {
            blob,
            index: NodeIndex::from_raw(raw),
        })
    }

    /// Every node, by path and phandle.
    pub fn index(&self) -> &NodeIndex<'a> {
        &self.index
    }

    /// The first node (tree order) compatible with any of `any`.
    pub fn find_compatible(&self, any: &[&str]) -> Option<usize> {
        (0..self.index.len()).find(|&i| self.index.is_compatible(i, any))
    }

    /// The first node (tree order) with a `compatible` whose registers hold
    /// the CPU physical address `addr`.
    pub fn device_at(&self, addr: u64) -> Option<usize> {
        let x = &self.index;
        (1..x.len()).find(|&i| {
            x.has(i, "compatible")
                && x.cpu_regs(i)
                    .is_ok_and(|r| r.iter().any(|r| r.base <= addr && addr < r.end()))
        })
    }

    /// `model` of the root node, if any.
    pub fn model(&self) -> Option<&'a str> {
        self.index.str_prop(0, "model")
    }

    /// RAM banks from the memory nodes (device_type = "memory"), sorted by base.
    pub fn memory(&self) -> Result<Vec<Region>, DtError> {
        let x = &self.index;
        let mut banks = Vec::new();
        for &n in x.nodes.first().map_or(&[][..], |r| &r.children[..]) {
            let name = x.nodes.get(n).map_or("", |n| n.name);
            let is_mem = x.str_prop(n, "device_type") == Some("memory")
                || name == "memory"
                || name.starts_with("memory@");
            if is_mem && is_enabled(x, n) {
                banks.extend(x.mmio(n).unwrap_or_default());
            }
        }
        if banks.is_empty() {
            return Err(DtError::NoMemory);
        }
        crate::sort::by_key(&mut banks, |r| r.base);
        Ok(banks)
    }

    /// Reserved memory: enabled `/reserved-memory` children with a `reg`
    /// (translated; dynamic ones, with only `size`, are Linux's to place), then
    /// the `/memreserve/` entries. Zero-sized entries are left out.
    pub fn reserved(&self) -> Vec<Reserved> {
        let x = &self.index;
        let mut out = Vec::new();
        if let Some(rm) = x.by_path("/reserved-memory") {
            for &n in x.nodes.get(rm).map_or(&[][..], |r| &r.children[..]) {
                if !is_enabled(x, n) {
                    continue;
                }
                for region in x.cpu_regs(n).unwrap_or_default() {
                    if region.size > 0 {
                        out.push(Reserved {
                            what: x.path(n).into(),
                            region,
                            no_map: x.has(n, "no-map"),
                        });
                    }
                }
            }
        }
        for (base, size) in blob::memreserve(self.blob) {
            if size > 0 {
                out.push(Reserved {
                    what: "/memreserve/".into(),
                    region: Region { base, size },
                    no_map: false,
                });
            }
        }
        out
    }

    /// The GICv2 node, its frames as CPU physical addresses.
    pub fn gic(&self) -> Result<GicInfo, DtError> {
        let x = &self.index;
        let n = self
            .find_compatible(GIC_COMPATIBLES)
            .ok_or(DtError::NoGic)?;
        let regs = x.cpu_regs(n).map_err(DtError::Translate)?;
        let frames = || DtError::GicFrames {
            node: x.path(n).into(),
        };
        let maintenance_intid = x
            .cells(n, "interrupts")
            .ok()
            .flatten()
            .and_then(|c| intid(&c, 0));
        Ok(GicInfo {
            gicd: *regs.first().ok_or_else(frames)?,
            gicc: *regs.get(1).ok_or_else(frames)?,
            gich: regs.get(2).copied(),
            gicv: regs.get(3).copied(),
            maintenance_intid,
        })
    }

    /// The architected timer node (`arm,armv7-timer`).
    pub fn timer(&self) -> Option<TimerInfo> {
        let x = &self.index;
        let n = self.find_compatible(&["arm,armv7-timer", "arm,armv8-timer"])?;
        let irq = x.cells(n, "interrupts").ok().flatten().unwrap_or_default();
        Some(TimerInfo {
            clock_frequency: x.u32_prop(n, "clock-frequency"),
            intids: [0, 1, 2, 3].map(|i| intid(&irq, i)),
        })
    }

    /// Resolves `/chosen/stdout-path` (alias or path, options after ':' dropped).
    pub fn stdout(&self) -> Option<UartInfo<'a>> {
        let x = &self.index;
        let spec = self.stdout_path()?;
        let name = spec.split(':').next()?;
        let path = if name.starts_with('/') {
            name
        } else {
            x.str_prop(x.by_path("/aliases")?, name)?
        };
        let node = x.by_path(path)?;
        let compatible = x.str_prop(node, "compatible").unwrap_or("");
        let base = x.cpu_regs(node).ok()?.first()?.base;
        Some(UartInfo {
            path,
            compatible,
            base,
        })
    }

    /// `/chosen/stdout-path` (or the older `linux,stdout-path`) as written:
    /// a path or alias, optionally followed by `:` and options.
    pub fn stdout_path(&self) -> Option<&'a str> {
        let x = &self.index;
        let chosen = x.by_path("/chosen")?;
        x.str_prop(chosen, "stdout-path")
            .or_else(|| x.str_prop(chosen, "linux,stdout-path"))
    }

    /// snowvisor's own arguments: `xen,xen-bootargs` if present, else `bootargs`.
    pub fn hypervisor_bootargs(&self) -> Option<&'a str> {
        let x = &self.index;
        let chosen = x.by_path("/chosen")?;
        x.str_prop(chosen, "xen,xen-bootargs")
            .or_else(|| x.str_prop(chosen, "bootargs"))
    }

    /// The Xen-style boot modules under /chosen, in tree order: every
    /// compatible form of Xen's booting.txt, any node name, roles given as
    /// [`crate::bootproto::classify`] does (the XSM magic is not looked at
    /// here: see [`Self::modules_with`]).
    pub fn modules(&self) -> Vec<BootModule<'a>> {
        self.modules_with(|_| false)
    }

    /// [`Self::modules`], with `xsm_magic(region)` saying whether a generic
    /// module's contents start with Xen's XSM policy magic.
    pub fn modules_with(&self, xsm_magic: impl Fn(Region) -> bool) -> Vec<BootModule<'a>> {
        let x = &self.index;
        let Some(chosen) = x.by_path("/chosen") else {
            return Vec::new();
        };
        // QEMU's guest-loader writes module reg with the root's cell sizes and no
        // #address-cells in /chosen, so fall back to the root's, not the spec default.
        let ac = x
            .cell_count(chosen, "#address-cells")
            .unwrap_or_else(|| x.address_cells(0));
        let sc = x
            .cell_count(chosen, "#size-cells")
            .unwrap_or_else(|| x.size_cells(0));
        let kids = x.nodes.get(chosen).map_or(&[][..], |c| &c.children[..]);
        let compats: Vec<Vec<&str>> = kids.iter().map(|&n| x.compatibles(n)).collect();
        let regions: Vec<Option<Region>> = kids
            .iter()
            .map(|&n| {
                x.reg_with(n, ac, sc)?
                    .first()
                    .map(|&(base, size)| Region { base, size })
            })
            .collect();
        let refs: Vec<&[&str]> = compats.iter().map(|c| &c[..]).collect();
        let roles = crate::bootproto::classify(&refs, |i| regions[i].is_some_and(&xsm_magic));
        kids.iter()
            .zip(roles)
            .zip(regions)
            .filter_map(|((&n, role), region)| {
                let kind = match role? {
                    ModuleRole::Kernel => ModuleKind::Kernel,
                    ModuleRole::Ramdisk => ModuleKind::Ramdisk,
                    _ => ModuleKind::Other,
                };
                Some(BootModule {
                    node: x.nodes.get(n)?.name,
                    kind,
                    region: region?,
                    bootargs: x.str_prop(n, "bootargs"),
                })
            })
            .collect()
    }

    /// A string property of /chosen (`xen,dom0-bootargs`, `bootargs`, ...).
    pub fn chosen_str(&self, name: &str) -> Option<&'a str> {
        let x = &self.index;
        x.str_prop(x.by_path("/chosen")?, name)
    }

    /// Number of CPU nodes under /cpus.
    pub fn cpu_count(&self) -> usize {
        let x = &self.index;
        x.by_path("/cpus")
            .and_then(|c| x.nodes.get(c))
            .map_or(0, |c| {
                c.children
                    .iter()
                    .filter(|&&n| x.str_prop(n, "device_type") == Some("cpu"))
                    .count()
            })
    }

    /// Enabled nodes with a `compatible`, i.e. devices a driver could bind to.
    pub fn device_count(&self) -> usize {
        let x = &self.index;
        (0..x.len())
            .filter(|&n| x.has(n, "compatible") && is_enabled(x, n))
            .count()
    }
}

/// `status` of the node itself absent, "okay" or "ok".
fn is_enabled(x: &NodeIndex<'_>, n: usize) -> bool {
    matches!(x.str_prop(n, "status"), None | Some("okay") | Some("ok"))
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
    use crate::testing::{QEMU_VIRT_DTB, QEMU_VIRT_MODULES_DTB};

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

    /// `/chosen` cell counts of 0xffffffff (whose entry size overflows 32
    /// bits) give no module instead of a wrapped or panicking computation.
    #[test]
    fn chosen_cell_counts_out_of_range() {
        for (ac, sc) in [
            (u32::MAX, 1),
            (1, u32::MAX),
            (0x4000_0000, 0x4000_0000),
            (3, 1),
        ] {
            let mut w = crate::writer::FdtWriter::new(&[]);
            let root = w.begin_node("").unwrap();
            w.property("#address-cells", &2u32.to_be_bytes()).unwrap();
            w.property("#size-cells", &1u32.to_be_bytes()).unwrap();
            let chosen = w.begin_node("chosen").unwrap();
            w.property("#address-cells", &ac.to_be_bytes()).unwrap();
            w.property("#size-cells", &sc.to_be_bytes()).unwrap();
            let m = w.begin_node("module@42000000").unwrap();
            w.property("compatible", b"multiboot,kernel\0multiboot,module\0")
                .unwrap();
            let reg: Vec<u8> = [0u32, 0x4200_0000, 0x1000, 0, 0]
                .iter()
                .flat_map(|c| c.to_be_bytes())
                .collect();
            w.property("reg", &reg).unwrap();
            w.end_node(m).unwrap();
            w.end_node(chosen).unwrap();
            w.end_node(root).unwrap();
            let blob = w.finish().unwrap();
            let t = HostTree::new(&blob).unwrap();
            assert!(t.modules().is_empty(), "{ac:#x}/{sc:#x}");
        }
    }

    #[test]
    fn gic_behind_non_identity_ranges_is_translated() {
        use crate::testing::{c, gic_on_bus};
        let dtb = gic_on_bus(vec![("ranges", c(&[0, 0x0800_0000, 0x0100_0000]))]);
        let t = HostTree::new(&dtb).unwrap();
        let g = t.gic().unwrap();
        let at = |base| Region {
            base,
            size: 0x10000,
        };
        assert_eq!(
            (g.gicd, g.gicc, g.gich, g.gicv),
            (
                at(0x0800_0000),
                at(0x0801_0000),
                Some(at(0x0803_0000)),
                Some(at(0x0804_0000))
            )
        );
    }

    #[test]
    fn untranslatable_gic_is_a_clear_error() {
        use crate::testing::{c, gic_on_bus};
        let e = HostTree::new(&gic_on_bus(vec![]))
            .unwrap()
            .gic()
            .unwrap_err();
        assert_eq!(
            alloc::format!("{e}"),
            "/soc@8000000/interrupt-controller@0: reg cannot be translated: /soc@8000000 has no ranges (not memory-mapped)"
        );
        let dtb = gic_on_bus(vec![("ranges", c(&[0x10_0000, 0x0800_0000, 0x1000]))]);
        let e = HostTree::new(&dtb).unwrap().gic().unwrap_err();
        assert_eq!(
            alloc::format!("{e}"),
            "/soc@8000000/interrupt-controller@0: reg cannot be translated: address 0x0 lies in no entry of /soc@8000000's ranges"
        );
    }

    /// A root with 2 address and 2 size cells (as QEMU's)
    /// with /chosen holding `chosen_props` and `modules` (name, compatible
    /// list, bootargs), each 0x1000 bytes at 0x4200_0000 + 0x10_0000 * i.
    fn tree_with(
        chosen_props: Vec<(&'static str, Vec<u8>)>,
        modules: &[(&'static str, &str, Option<&str>)],
    ) -> Vec<u8> {
        use crate::testing::{blob, c, n, s};
        let kids = modules
            .iter()
            .enumerate()
            .map(|(i, (name, compat, args))| {
                let mut p = vec![
                    ("compatible", s(compat)),
                    (
                        "reg",
                        c(&[0, 0x4200_0000 + 0x10_0000 * i as u32, 0, 0x1000]),
                    ),
                ];
                if let Some(a) = args {
                    p.push(("bootargs", s(a)));
                }
                n(name, p, vec![])
            })
            .collect();
        blob(&n(
            "",
            vec![("#address-cells", c(&[2])), ("#size-cells", c(&[2]))],
            vec![n("chosen", chosen_props, kids)],
        ))
    }

    /// "node:Kind@base" for each module, space-separated.
    fn kinds(dtb: &[u8]) -> alloc::string::String {
        let t = HostTree::new(dtb).unwrap();
        let m: Vec<_> = t
            .modules()
            .iter()
            .map(|m| alloc::format!("{}:{:?}@{:x}", m.node, m.kind, m.region.base))
            .collect();
        m.join(" ")
    }

    #[test]
    fn every_module_form_of_booting_txt() {
        use ModuleKind::{Kernel, Other};
        // New names, any order, any node name (ImageBuilder's).
        let d = tree_with(
            vec![],
            &[
                ("dom0-ramdisk", "multiboot,ramdisk\0multiboot,module", None),
                (
                    "dom0",
                    "multiboot,kernel\0multiboot,module",
                    Some("console=hvc0"),
                ),
            ],
        );
        assert_eq!(
            kinds(&d),
            "dom0-ramdisk:Ramdisk@42000000 dom0:Kernel@42100000"
        );
        // A bare multiboot,module: the first is the kernel, the second the ramdisk.
        let d = tree_with(
            vec![],
            &[
                ("module@42000000", "multiboot,module", None),
                ("module@42100000", "multiboot,module", None),
            ],
        );
        assert_eq!(
            kinds(&d),
            "module@42000000:Kernel@42000000 module@42100000:Ramdisk@42100000"
        );
        // The old names (the issue's /chosen/dom0), in either order.
        let d = tree_with(
            vec![],
            &[
                ("initrd", "xen,linux-initrd\0xen,multiboot-module", None),
                ("dom0", "xen,linux-zimage\0xen,multiboot-module", None),
            ],
        );
        assert_eq!(kinds(&d), "initrd:Ramdisk@42000000 dom0:Kernel@42100000");
        let d = tree_with(
            vec![],
            &[
                ("k", "xen,multiboot-module", None),
                ("r", "xen,multiboot-module", None),
            ],
        );
        assert_eq!(kinds(&d), "k:Kernel@42000000 r:Ramdisk@42100000");
        // An XSM policy and a dom0less device tree are modules snowvisor leaves alone.
        let d = tree_with(
            vec![],
            &[
                ("xsm", "xen,xsm-policy\0multiboot,module", None),
                ("dom0", "multiboot,kernel\0multiboot,module", None),
                ("dt", "multiboot,device-tree\0multiboot,module", None),
            ],
        );
        assert_eq!(
            kinds(&d),
            "xsm:Other@42000000 dom0:Kernel@42100000 dt:Other@42200000"
        );
        // With the XSM magic, a second generic module is the policy.
        let d = tree_with(
            vec![],
            &[
                ("a", "multiboot,module", None),
                ("b", "multiboot,module", None),
            ],
        );
        let t = HostTree::new(&d).unwrap();
        let m = t.modules_with(|r| r.base == 0x4210_0000);
        assert_eq!((m[0].kind, m[1].kind), (Kernel, Other));
    }

    #[test]
    fn chosen_strings_for_dom0s_command_line() {
        use crate::testing::s;
        let d = tree_with(
            vec![
                ("xen,xen-bootargs", s("loglvl=info")),
                ("xen,dom0-bootargs", s("console=hvc0 quiet")),
            ],
            &[("dom0", "xen,linux-zimage\0xen,multiboot-module", None)],
        );
        let t = HostTree::new(&d).unwrap();
        let k = &t.modules()[0];
        assert_eq!(k.bootargs, None);
        let (line, src) = crate::bootproto::dom0_cmdline(
            k.bootargs,
            t.chosen_str("xen,dom0-bootargs"),
            t.chosen_str("xen,xen-bootargs"),
            t.chosen_str("bootargs"),
        );
        assert_eq!(
            (line, src),
            (
                "console=hvc0 quiet",
                crate::bootproto::CmdlineSource::Dom0Bootargs
            )
        );
        assert_eq!(t.hypervisor_bootargs(), Some("loglvl=info"));
    }
}
