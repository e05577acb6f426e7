//! Dom0's device tree: the host tree with what the
//! [`Plan`] and [`Dom0Params`] change, every phandle kept.
//!
//! - memory nodes: one node with Dom0's banks (root cell sizes);
//! - `/chosen`: Dom0's `bootargs` and `linux,initrd-start/end`; boot modules and
//!   `xen,*` properties gone; `stdout-path` kept (unless it names a removed node);
//! - PSCI: `method = "hvc"` and the 1.0/0.2 compatibles (created if absent);
//! - `/cpus`: only the `cpu` nodes of the CPUs Dom0's vCPUs run on (their
//!   phandles kept), no `enable-method` (Dom0 starts them through PSCI); with
//!   a CPU left out, `cpu-map` goes (its topology no longer holds) and so do
//!   `cooling-device` entries naming a left-out CPU (a cooling map left with
//!   none goes whole);
//! - the GIC: `reg` = GICD + the GICC Dom0 sees, no maintenance interrupt;
//! - hidden/owned IOMMUs and kept nodes removed; their masters' `iommus`,
//!   `iommu-names`, `iommu-map`, `iommu-map-mask` edited (plan::iommu::master_edits);
//!   aliases naming removed nodes dropped;
//! - `/hypervisor` (Xen's ABI, `../shared/docs/xen-dom0-abi.md` §1.2) when asked;
//! - overlay metadata (`__symbols__`, `__fixups__`, `__local_fixups__`) dropped:
//!   its paths and offsets would be stale after the edits.
//!
//! The blob is written by `snowvisor_dt::writer`, not vm-fdt: vm-fdt refuses names longer than
//! 31 characters or starting with a digit, which Linux's own DTBs use.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

mod encode;
#[cfg(test)]
mod tests;

use encode::{reg_bytes, reservations};
use snowvisor_dt::writer::{FdtWriter, OpenNode, WriteError};
use snowvisor_dt::{HostTree, Region, TreeError};

use crate::devices::is_memory_node;
use crate::iommu::{master_edits, Edit};
use crate::irq::is_gic;
use crate::{IommuAction, NodeIndex, Plan, PlanError};

/// The GIC as Dom0 sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GicView {
    /// Distributor (trapped and emulated).
    pub gicd: Region,
    /// The CPU interface Dom0 uses: the GICV frame mapped at the GICC address.
    pub gicc_as_seen: Region,
}

/// The `/hypervisor` node that makes Linux see Xen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HypervisorNode {
    /// Written as `xen,xen-<major>.<minor>`.
    pub version: (u32, u32),
    /// Region 0 of `reg`: where Dom0 maps grant frames (an IPA hole, not at 0).
    pub grant_table: Region,
    /// Event-channel upcall interrupt, as a PPI INTID (16..=31).
    pub evtchn_intid: u32,
}

/// What Dom0's tree says that the host's does not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dom0Params<'p> {
    /// Dom0's RAM banks (IPA == PA).
    pub memory: Vec<Region>,
    pub bootargs: &'p str,
    pub initrd: Option<Region>,
    /// `None` copies the host's interrupt controller unchanged (host-tool use on
    /// boards without a GICv2).
    pub gic: Option<GicView>,
    pub hypervisor_node: Option<HypervisorNode>,
    /// The host CPUs Dom0's vCPUs run on, vCPU 0 first, as `cpu` node `reg`
    /// values (MPIDR affinity; see [`crate::cpus::dom0_cpus`]). Empty: `/cpus`
    /// as the host has it.
    pub cpus: Vec<u64>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Dom0DtError {
    Plan(PlanError),
    NoMemory,
    /// A GIC is needed (for `what`) but the host tree has no GICv2 node.
    NoGic {
        what: &'static str,
    },
    /// `value` does not fit the `cells` cells the tree gives `what`.
    DoesNotFit {
        what: &'static str,
        value: u64,
        cells: usize,
    },
    /// The GIC frame at `addr` is not visible on the GIC's parent bus.
    GicAddress {
        addr: u64,
    },
    EvtchnNotPpi {
        intid: u32,
    },
    /// The writer refused something at `node`.
    Writer {
        node: String,
        why: WriteError,
    },
}

impl fmt::Display for Dom0DtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dom0DtError::Plan(e) => write!(f, "dom0 device tree: {e}"),
            Dom0DtError::NoMemory => write!(f, "dom0 device tree: no memory banks for Dom0"),
            Dom0DtError::NoGic { what } => write!(
                f,
                "dom0 device tree: {what} needs a GICv2 node, the host tree has none"
            ),
            Dom0DtError::DoesNotFit { what, value, cells } => {
                write!(
                    f,
                    "dom0 device tree: {what} {value:#x} does not fit {cells} cell(s)"
                )
            }
            Dom0DtError::GicAddress { addr } => {
                write!(
                    f,
                    "dom0 device tree: GIC frame {addr:#x} is outside the GIC parent bus's ranges"
                )
            }
            Dom0DtError::EvtchnNotPpi { intid } => {
                write!(
                    f,
                    "dom0 device tree: event-channel interrupt {intid} is not a PPI (16..=31)"
                )
            }
            Dom0DtError::Writer { node, why } => write!(f, "dom0 device tree: at {node}: {why}"),
        }
    }
}

impl From<PlanError> for Dom0DtError {
    fn from(e: PlanError) -> Self {
        Dom0DtError::Plan(e)
    }
}

impl From<TreeError> for Dom0DtError {
    fn from(e: TreeError) -> Self {
        Dom0DtError::Plan(e.into())
    }
}

/// Compatibles of nodes that describe boot modules or a host-side Xen.
const NOT_FOR_DOM0: &[&str] = &[
    "xen,xen",
    // A boot-time DomU's node (its modules are not Dom0's either).
    snowvisor_dt::dom0less::DOMAIN_COMPATIBLE,
    "multiboot,module",
    "multiboot,kernel",
    "multiboot,ramdisk",
    "xen,multiboot-module",
    // A static event channel end (Xen 4.18's dom0less binding): the
    // hypervisor's configuration, which Xen keeps from Dom0 too.
    "xen,evtchn-v1",
    // A boot-time cpupool (Xen 4.17's cpupools.txt): the hypervisor's
    // configuration, whose phandles name host cpu nodes Dom0 may not get
    // (Xen 4.17 passes it on, with those phandles dangling).
    snowvisor_dt::dom0less::CPUPOOL_COMPATIBLE,
];
const OVERLAY_NODES: &[&str] = &["__symbols__", "__fixups__", "__local_fixups__"];
const PSCI: &[&str] = crate::cpus::PSCI_COMPATIBLES;
/// Ways a CPU node can name to start it other than PSCI.
const CPU_START_PROPS: &[&str] = &["enable-method", "cpu-release-addr"];
const PSCI_0_2_CPU_OFF: u32 = 0x8400_0002;
const PSCI_0_2_CPU_ON: u32 = 0x8400_0003;

struct Writer<'x, 'a, 'p> {
    x: &'x NodeIndex<'a>,
    d: &'x Dom0Params<'p>,
    w: FdtWriter,
    /// Subtree roots Dom0 does not get.
    removed: Vec<bool>,
    /// Node or an ancestor removed.
    gone: Vec<bool>,
    edits: BTreeMap<usize, Vec<Edit>>,
    gic: Option<usize>,
    /// The GIC's phandle, and whether it must be added to the GIC node.
    gic_phandle: Option<(u32, bool)>,
    chosen: Option<usize>,
    psci: Option<usize>,
    /// `/cpus` and the `cpu` nodes Dom0 keeps, when [`Dom0Params::cpus`] says which.
    cpu_nodes: Vec<usize>,
    /// vCPUs with no host `cpu` node (more vCPUs than CPUs): `reg` values,
    /// and the host `cpu` node whose properties they copy.
    extra_cpus: Vec<u64>,
    cpu_model: Option<usize>,
    memory_written: bool,
}

impl Writer<'_, '_, '_> {
    fn err(&self, i: usize) -> impl Fn(WriteError) -> Dom0DtError + '_ {
        move |why| Dom0DtError::Writer {
            node: self.x.path(i).to_string(),
            why,
        }
    }

    /// `true` if a path-valued property (an alias, `stdout-path`) names a removed node.
    fn names_removed(&self, value: &[u8]) -> bool {
        let s = core::str::from_utf8(value)
            .unwrap_or("")
            .trim_end_matches('\0');
        let path = s.split(':').next().unwrap_or("");
        let path = match (path.starts_with('/'), self.x.by_path("/aliases")) {
            (true, _) => path,
            (false, Some(a)) => self.x.str_prop(a, path).unwrap_or(""),
            (false, None) => "",
        };
        self.x
            .by_path(path)
            .is_some_and(|i| self.gone.get(i) == Some(&true))
    }

    fn prop(&mut self, i: usize, name: &str, v: &[u8]) -> Result<(), Dom0DtError> {
        let e = self.w.property(name, v);
        e.map_err(|why| Dom0DtError::Writer {
            node: self.x.path(i).to_string(),
            why,
        })
    }

    fn props(&mut self, i: usize) -> Result<(), Dom0DtError> {
        let x = self.x;
        let is_gic = Some(i) == self.gic && self.d.gic.is_some();
        let edits = self.edits.remove(&i).unwrap_or_default();
        let props = x.nodes.get(i).map(|n| n.props.clone()).unwrap_or_default();
        for p in props {
            let n = p.name;
            let skip = match () {
                _ if Some(i) == self.chosen => {
                    matches!(n, "bootargs" | "linux,initrd-start" | "linux,initrd-end")
                        || n.starts_with("xen,")
                        || n.starts_with("linux,uefi-")
                        || (matches!(n, "stdout-path" | "linux,stdout-path")
                            && self.names_removed(p.value))
                }
                _ if Some(i) == self.psci => {
                    matches!(n, "compatible" | "method" | "cpu_on" | "cpu_off")
                }
                _ if is_gic => matches!(n, "reg" | "interrupts" | "interrupts-extended"),
                _ if self.cpu_nodes.contains(&i) => CPU_START_PROPS.contains(&n),
                _ if x.path(i) == "/aliases" => self.names_removed(p.value),
                _ => false,
            };
            if skip {
                continue;
            }
            match edits.iter().find(|e| e.0 == n) {
                Some((_, None)) => {}
                Some((_, Some(v))) => self.prop(i, n, v)?,
                None => self.prop(i, n, p.value)?,
            }
        }
        if Some(i) == self.chosen {
            self.chosen_props(i)?;
        }
        if Some(i) == self.psci {
            self.psci_props(i)?;
        }
        if is_gic {
            self.gic_props(i)?;
        }
        Ok(())
    }

    fn chosen_props(&mut self, i: usize) -> Result<(), Dom0DtError> {
        let mut args = self.d.bootargs.as_bytes().to_vec();
        args.push(0);
        self.prop(i, "bootargs", &args)?;
        if let Some(r) = self.d.initrd {
            self.prop(i, "linux,initrd-start", &r.base.to_be_bytes())?;
            self.prop(i, "linux,initrd-end", &r.end().to_be_bytes())?;
        }
        Ok(())
    }

    fn psci_props(&mut self, i: usize) -> Result<(), Dom0DtError> {
        self.prop(i, "compatible", b"arm,psci-1.0\0arm,psci-0.2\0arm,psci\0")?;
        self.prop(i, "method", b"hvc\0")?;
        self.prop(i, "cpu_off", &PSCI_0_2_CPU_OFF.to_be_bytes())?;
        self.prop(i, "cpu_on", &PSCI_0_2_CPU_ON.to_be_bytes())
    }

    fn gic_props(&mut self, i: usize) -> Result<(), Dom0DtError> {
        let (Some(g), Some(p)) = (self.d.gic, self.x.parent(i)) else {
            return Ok(());
        };
        let (ac, sc) = (self.x.address_cells(p), self.x.size_cells(p));
        let mut frames = Vec::new();
        for r in [g.gicd, g.gicc_as_seen] {
            let base = self
                .x
                .untranslate(p, r.base)
                .ok_or(Dom0DtError::GicAddress { addr: r.base })?;
            frames.push(Region { base, size: r.size });
        }
        let reg = reg_bytes("GIC frame", &frames, ac, sc)?;
        self.prop(i, "reg", &reg)?;
        if let Some((ph, true)) = self.gic_phandle {
            self.prop(i, "phandle", &ph.to_be_bytes())?;
        }
        Ok(())
    }

    fn root_cells(&self) -> (usize, usize) {
        (self.x.address_cells(0), self.x.size_cells(0))
    }

    fn memory_node(&mut self) -> Result<(), Dom0DtError> {
        if self.memory_written {
            return Ok(());
        }
        self.memory_written = true;
        let (ac, sc) = self.root_cells();
        let base = self.d.memory.first().ok_or(Dom0DtError::NoMemory)?.base;
        let reg = reg_bytes("memory bank", &self.d.memory, ac, sc)?;
        let h = self
            .w
            .begin_node(&format!("memory@{base:x}"))
            .map_err(self.err(0))?;
        self.prop(0, "device_type", b"memory\0")?;
        self.prop(0, "reg", &reg)?;
        self.w.end_node(h).map_err(self.err(0))
    }

    /// A `cpu` node for each vCPU no host CPU node stands for, after the
    /// kept ones: the first host CPU's `compatible`, `device_type` and the
    /// vCPU's MPIDR affinity as `reg` in `/cpus`' address cells.
    fn extra_cpu_nodes(&mut self, cpus: usize) -> Result<(), Dom0DtError> {
        let Some(model) = self.cpu_model else {
            return Ok(());
        };
        let compat = self.x.prop(model, "compatible").map(<[u8]>::to_vec);
        let ac = self.x.address_cells(cpus);
        for aff in core::mem::take(&mut self.extra_cpus) {
            let h = self
                .w
                .begin_node(&format!("cpu@{aff:x}"))
                .map_err(self.err(cpus))?;
            self.prop(cpus, "device_type", b"cpu\0")?;
            if let Some(c) = &compat {
                self.prop(cpus, "compatible", c)?;
            }
            let reg: Vec<u8> = match ac {
                2 => aff.to_be_bytes().to_vec(),
                _ => (aff as u32).to_be_bytes().to_vec(),
            };
            self.prop(cpus, "reg", &reg)?;
            self.w.end_node(h).map_err(self.err(cpus))?;
        }
        Ok(())
    }

    /// Nodes added at the end of the root: whatever the host lacked, and `/hypervisor`.
    fn root_extras(&mut self) -> Result<(), Dom0DtError> {
        self.memory_node()?;
        if self.chosen.is_none() {
            let h = self.w.begin_node("chosen").map_err(self.err(0))?;
            self.chosen_props(0)?;
            self.w.end_node(h).map_err(self.err(0))?;
        }
        if self.psci.is_none() {
            let h = self.w.begin_node("psci").map_err(self.err(0))?;
            self.psci_props(0)?;
            self.w.end_node(h).map_err(self.err(0))?;
        }
        let Some(hv) = self.d.hypervisor_node else {
            return Ok(());
        };
        let (ph, _) = self.gic_phandle.ok_or(Dom0DtError::NoGic {
            what: "the /hypervisor node",
        })?;
        if !(16..=31).contains(&hv.evtchn_intid) {
            return Err(Dom0DtError::EvtchnNotPpi {
                intid: hv.evtchn_intid,
            });
        }
        let (ac, sc) = self.root_cells();
        let reg = reg_bytes("grant-table region", &[hv.grant_table], ac, sc)?;
        let compat = format!("xen,xen-{}.{}\0xen,xen\0", hv.version.0, hv.version.1);
        let irq: Vec<u8> = [1, hv.evtchn_intid - 16, 0xf08]
            .iter()
            .flat_map(|c: &u32| c.to_be_bytes())
            .collect();
        let h = self.w.begin_node("hypervisor").map_err(self.err(0))?;
        self.prop(0, "compatible", compat.as_bytes())?;
        self.prop(0, "reg", &reg)?;
        self.prop(0, "interrupts", &irq)?;
        self.prop(0, "interrupt-parent", &ph.to_be_bytes())?;
        self.w.end_node(h).map_err(self.err(0))
    }
}

/// Marks the `cpu` nodes of CPUs not in `keep` (MPIDR affinities) removed;
/// with any removed, also `/cpus/cpu-map` and the cooling maps whose every
/// `cooling-device` entry names a removed CPU. Returns the edits of the
/// other `cooling-device` lists (their removed-CPU entries dropped). An
/// empty `keep` changes nothing.
fn leave_out_cpus(x: &NodeIndex<'_>, keep: &[u64], removed: &mut [bool]) -> Vec<(usize, Edit)> {
    if keep.is_empty() {
        return Vec::new();
    }
    let out: Vec<usize> = crate::cpus::host_cpus(x)
        .into_iter()
        .filter(|c| !keep.contains(&c.mpidr))
        .map(|c| c.node)
        .collect();
    if out.is_empty() {
        return Vec::new();
    }
    let mut edits = Vec::new();
    for &i in &out {
        removed[i] = true;
    }
    if let Some(m) = x.by_path("/cpus/cpu-map") {
        removed[m] = true;
    }
    for (i, gone) in removed.iter_mut().enumerate() {
        let Some(v) = x.prop(i, "cooling-device") else {
            continue;
        };
        let cells: Vec<u32> = snowvisor_dt::index::be_cells(v).collect();
        // phandle + #cooling-cells of the device it names; unreadable: left alone.
        let mut kept = Vec::new();
        let mut at = 0;
        let mut readable = true;
        while at < cells.len() {
            let dev = x.by_phandle(cells[at]);
            let Some(argc) = dev.and_then(|d| x.u32_prop(d, "#cooling-cells")) else {
                readable = false;
                break;
            };
            let end = at + 1 + argc as usize;
            if end > cells.len() {
                readable = false;
                break;
            }
            if !dev.is_some_and(|d| out.contains(&d)) {
                kept.extend_from_slice(&cells[at..end]);
            }
            at = end;
        }
        if !readable || kept.len() == cells.len() {
            continue;
        }
        if kept.is_empty() {
            *gone = true;
        } else {
            let bytes = kept.iter().flat_map(|c| c.to_be_bytes()).collect();
            edits.push((i, ("cooling-device", Some(bytes))));
        }
    }
    edits
}

enum Step {
    Enter(usize),
    Exit(usize, OpenNode),
}

/// Writes Dom0's device tree.
pub fn build(tree: &HostTree<'_>, plan: &Plan, d: &Dom0Params<'_>) -> Result<Vec<u8>, Dom0DtError> {
    if d.memory.is_empty() {
        return Err(Dom0DtError::NoMemory);
    }
    let x = tree.index().check_phandles()?;
    let n = x.len();
    let chosen = x.by_path("/chosen");
    // Without a PSCI node, Dom0 gets snowvisor's `/psci`; a root node of that
    // name that is something else would make two `/psci` (found by fuzzing).
    let has_psci = (0..n).any(|i| x.is_compatible(i, PSCI));
    let removed: Vec<bool> = (0..n)
        .map(|i| {
            let name = x.nodes.get(i).map_or("", |n| n.name);
            let at_root = x.parent(i) == Some(0);
            i > 0
                && (plan.is_hidden(x.path(i))
                    || is_memory_node(x, i)
                    || x.is_compatible(i, NOT_FOR_DOM0)
                    || (at_root && (OVERLAY_NODES.contains(&name) || name == "hypervisor"))
                    || (at_root && !has_psci && name == "psci")
                    || (x.parent(i).is_some()
                        && x.parent(i) == chosen
                        && name.starts_with("module@")))
        })
        .collect();
    let mut removed = removed;
    let cooling_edits = leave_out_cpus(x, &d.cpus, &mut removed);
    let mut gone: Vec<bool> = Vec::with_capacity(n);
    for (i, &r) in removed.iter().enumerate() {
        let g = r || x.parent(i).is_some_and(|p| gone.get(p) == Some(&true));
        gone.push(g);
    }
    // IOMMUs whose masters lose their references: own and hide, kept node or not.
    let stripped: Vec<usize> = plan
        .iommus
        .iter()
        .filter(|dcs| dcs.action != IommuAction::Pass)
        .filter_map(|dcs| x.by_path(&dcs.path))
        .collect();
    let mut edits: BTreeMap<usize, Vec<Edit>> = BTreeMap::new();
    for (i, e) in cooling_edits {
        edits.entry(i).or_default().push(e);
    }
    if !stripped.is_empty() {
        for i in (0..n).filter(|&i| !gone[i]) {
            // A master whose references cannot be read stays as it is (the
            // plan named it: PlanWarning::OddIommus).
            match master_edits(x, i, &|t| stripped.contains(&t)) {
                Ok(e) if !e.is_empty() => {
                    edits.entry(i).or_default().extend(e);
                }
                _ => {}
            }
        }
    }
    let gic = (0..n).find(|&i| is_gic(x, i) && !gone[i]);
    if d.gic.is_some() && gic.is_none() {
        return Err(Dom0DtError::NoGic {
            what: "the GIC view",
        });
    }
    let gic_phandle = gic.map(|g| match x.phandle_of(g) {
        Some(ph) => (ph, false),
        None => (x.max_phandle().saturating_add(1), true),
    });
    let psci = (0..n).find(|&i| !gone[i] && x.is_compatible(i, PSCI));
    let cpu_nodes = match d.cpus.is_empty() {
        true => Vec::new(),
        false => x
            .by_path("/cpus")
            .into_iter()
            .chain(
                crate::cpus::host_cpus(x)
                    .into_iter()
                    .filter(|c| d.cpus.contains(&c.mpidr))
                    .map(|c| c.node),
            )
            .collect(),
    };
    let host_cpus = crate::cpus::host_cpus(x);
    let extra_cpus: Vec<u64> = d
        .cpus
        .iter()
        .copied()
        .filter(|a| !host_cpus.iter().any(|c| c.mpidr == *a))
        .collect();
    let cpu_model = host_cpus.first().map(|c| c.node);
    let rsv = reservations(tree.blob, &d.memory);
    let mut w = FdtWriter::new(&rsv);
    w.set_boot_cpuid_phys(crate::cpus::boot_cpuid_phys(tree.blob));
    let mut wr = Writer {
        x,
        d,
        w,
        removed,
        gone,
        edits,
        gic,
        gic_phandle,
        chosen,
        psci,
        cpu_nodes,
        extra_cpus,
        cpu_model,
        memory_written: false,
    };
    let mut stack = alloc::vec![Step::Enter(0)];
    while let Some(step) = stack.pop() {
        match step {
            Step::Enter(i) => {
                if wr.removed.get(i) == Some(&true) {
                    if is_memory_node(x, i) {
                        wr.memory_node()?;
                    }
                    continue;
                }
                let name = if i == 0 {
                    ""
                } else {
                    x.nodes.get(i).map_or("", |n| n.name)
                };
                let h = wr.w.begin_node(name).map_err(wr.err(i))?;
                wr.props(i)?;
                stack.push(Step::Exit(i, h));
                let kids = x
                    .nodes
                    .get(i)
                    .map(|n| n.children.clone())
                    .unwrap_or_default();
                stack.extend(kids.into_iter().rev().map(Step::Enter));
            }
            Step::Exit(i, h) => {
                if i == 0 {
                    wr.root_extras()?;
                }
                if x.path(i) == "/cpus" {
                    wr.extra_cpu_nodes(i)?;
                }
                wr.w.end_node(h).map_err(wr.err(i))?;
            }
        }
    }
    wr.w.finish().map_err(|why| Dom0DtError::Writer {
        node: "/".into(),
        why,
    })
}
