//! Interrupts: which GIC SPIs a node raises, found by walking the interrupt tree
//! (`interrupt-parent`, `interrupts`, `interrupts-extended`, nexus nodes'
//! `interrupt-map`) the way Linux's `of_irq_parse_raw` does; and the check that
//! the interrupt tree has no cycles.

use alloc::string::String;
use alloc::vec::Vec;

use super::known::Compat;
use super::PlanError;
use snowvisor_dt::index::{bad, NodeIndex};

/// GICv2 compatibles, as `HostTree::gic` matches them, plus older spellings of
/// the same binding (3 cells: type, number, flags).
pub const GIC_COMPATIBLES: &[&str] = &[
    "arm,cortex-a15-gic",
    "arm,gic-400",
    "arm,cortex-a7-gic",
    "arm,cortex-a9-gic",
    "arm,pl390",
    "arm,arm11mp-gic",
    "qcom,msm-qgic2",
    "qcom,msm-8660-qgic",
];

/// Stacked controllers that take GIC-format specifiers and forward them to their
/// parent unchanged (Linux hierarchical irq domains: wake-up and power logic in
/// front of the GIC). Followed through, so their users' SPIs reach Dom0. A list,
/// not a rule: Allwinner's pinctrl also has 3-cell specifiers but is a real
/// cascaded controller.
const STACKED: &[Compat] = &[
    Compat::Exact("fsl,imx6q-gpc"),
    Compat::Exact("fsl,imx7d-gpc"),
    Compat::Exact("nvidia,tegra20-ictlr"),
    Compat::Exact("nvidia,tegra30-ictlr"),
    Compat::Exact("ti,omap4-wugen-mpu"),
    Compat::Pattern {
        prefix: "samsung,exynos",
        suffix: "-pmu",
    },
    Compat::Exact("mediatek,mt6577-sysirq"),
    Compat::Exact("allwinner,sun6i-a31-r-intc"),
];

/// TI's IRQ crossbar: it hands out GIC SPIs from a pool at run time, so Dom0
/// (which programs it) gets the whole pool; see [`crossbar_spis`].
pub const CROSSBAR: &str = "ti,irq-crossbar";

fn is_stacked(x: &NodeIndex<'_>, i: usize) -> bool {
    x.compatibles(i)
        .iter()
        .any(|c| STACKED.iter().any(|k| k.matches(c)))
}

/// Where one interrupt specifier ends up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Irq {
    /// A GIC SPI, as an INTID (32..1020).
    Spi(u32),
    /// A GIC PPI or SGI INTID: banked per CPU, never passed through.
    Private(u32),
    /// Handled by another interrupt controller (a combiner, a GPIO block).
    Foreign,
}

/// Longest interrupt-parent or interrupt-map chain followed.
const MAX_HOPS: usize = 16;

pub fn is_gic(x: &NodeIndex<'_>, i: usize) -> bool {
    x.is_compatible(i, GIC_COMPATIBLES)
}

/// The node's interrupt parent: its own `interrupt-parent` or the nearest ancestor's.
pub fn interrupt_parent(x: &NodeIndex<'_>, i: usize) -> Result<Option<usize>, PlanError> {
    let mut at = Some(i);
    while let Some(n) = at {
        if x.has(n, "interrupt-parent") {
            let ph = x
                .u32_prop(n, "interrupt-parent")
                .ok_or_else(|| bad(x.path(n), "interrupt-parent", "is not one cell"))?;
            return Ok(Some(x.resolve(n, "interrupt-parent", ph)?));
        }
        at = x.parent(n);
    }
    Ok(None)
}

fn interrupt_cells(
    x: &NodeIndex<'_>,
    ctl: usize,
    user: usize,
    prop: &'static str,
) -> Result<usize, PlanError> {
    match x.u32_prop(ctl, "#interrupt-cells") {
        Some(c) if c <= 8 => Ok(c as usize),
        _ => Err(bad(
            x.path(user),
            prop,
            "its interrupt parent has no usable #interrupt-cells",
        )
        .into()),
    }
}

/// Every interrupt of node `i`, resolved as far as the GIC.
pub fn interrupts(x: &NodeIndex<'_>, i: usize) -> Result<Vec<Irq>, PlanError> {
    let mut out = Vec::new();
    if let Some(c) = x.cells(i, "interrupts-extended")? {
        let mut at = 0;
        while let Some(&ph) = c.get(at) {
            // A phandle of 0 is an empty entry, one cell long (Linux's
            // of_parse_phandle_with_args; STM32MP1's EXTI has such holes).
            if ph == 0 {
                at += 1;
                continue;
            }
            let ctl = x.resolve(i, "interrupts-extended", ph)?;
            let n = interrupt_cells(x, ctl, i, "interrupts-extended")?;
            let spec = c
                .get(at + 1..at + 1 + n)
                .ok_or_else(|| bad(x.path(i), "interrupts-extended", "ends inside a specifier"))?;
            out.push(route(x, i, ctl, spec)?);
            at += 1 + n;
        }
    } else if let Some(c) = x.cells(i, "interrupts")? {
        let Some(ctl) = interrupt_parent(x, i)? else {
            return Ok(out);
        };
        let n = interrupt_cells(x, ctl, i, "interrupts")?;
        if n == 0 {
            return Ok(out);
        }
        for spec in c.chunks_exact(n) {
            out.push(route(x, i, ctl, spec)?);
        }
    }
    Ok(out)
}

/// Decodes a 3-cell GIC specifier.
fn gic_irq(spec: &[u32]) -> Option<Irq> {
    match spec {
        [0, n, ..] if *n < 988 => Some(Irq::Spi(32 + n)),
        [1, n, ..] if *n < 16 => Some(Irq::Private(16 + n)),
        _ => None,
    }
}

/// Follows one specifier from `user` through nexus nodes until it reaches an
/// interrupt controller.
fn route(x: &NodeIndex<'_>, user: usize, ctl: usize, spec: &[u32]) -> Result<Irq, PlanError> {
    let mut ctl = ctl;
    let mut spec: Vec<u32> = spec.to_vec();
    let mut addr: Vec<u32> = unit_address(x, user);
    let mut seen: Vec<usize> = Vec::new();
    loop {
        if is_gic(x, ctl) {
            return Ok(gic_irq(&spec).unwrap_or(Irq::Foreign));
        }
        let stacked = is_stacked(x, ctl);
        if !stacked && (x.has(ctl, "interrupt-controller") || !x.has(ctl, "interrupt-map")) {
            return Ok(Irq::Foreign);
        }
        if seen.contains(&ctl) || seen.len() >= MAX_HOPS {
            return Err(PlanError::InterruptCycle {
                node: String::from(x.path(user)),
                via: String::from(x.path(ctl)),
            });
        }
        seen.push(ctl);
        if stacked {
            match interrupt_parent(x, ctl)? {
                Some(p) if p != ctl => ctl = p,
                _ => return Ok(Irq::Foreign),
            }
            continue;
        }
        let Some(e) = map_through(x, ctl, &addr, &spec)? else {
            return Ok(Irq::Foreign);
        };
        (ctl, addr, spec) = (e.parent, e.addr, e.spec);
    }
}

/// The unit address a nexus matches on: the first `reg` entry's address cells.
fn unit_address(x: &NodeIndex<'_>, i: usize) -> Vec<u32> {
    let ac = x.parent(i).map_or(0, |p| x.address_cells(p));
    match x.prop(i, "reg") {
        Some(v) => snowvisor_dt::index::be_cells(v).take(ac).collect(),
        None => Vec::new(),
    }
}

/// `#address-cells` for interrupt-map matching: the nexus's own, else the nearest
/// ancestor's (Linux's "old trick"), else 2.
fn nexus_address_cells(x: &NodeIndex<'_>, nexus: usize) -> usize {
    let mut at = Some(nexus);
    while let Some(n) = at {
        if let Some(c) = x.cell_count(n, "#address-cells") {
            return c;
        }
        at = x.parent(n);
    }
    2
}

/// One `interrupt-map` entry: child key (unit address + specifier), parent,
/// parent unit address, parent specifier.
struct MapEntry {
    key: Vec<u32>,
    parent: usize,
    addr: Vec<u32>,
    spec: Vec<u32>,
}

fn map_entries(x: &NodeIndex<'_>, nexus: usize) -> Result<Vec<MapEntry>, PlanError> {
    let map = x.cells(nexus, "interrupt-map")?.unwrap_or_default();
    let ac = nexus_address_cells(x, nexus);
    let ic = interrupt_cells(x, nexus, nexus, "interrupt-map")?;
    let short = || bad(x.path(nexus), "interrupt-map", "ends inside an entry");
    let mut out = Vec::new();
    let mut at = 0;
    while at < map.len() {
        let key = map.get(at..at + ac + ic).ok_or_else(short)?;
        let ph = *map.get(at + ac + ic).ok_or_else(short)?;
        let parent = x.resolve(nexus, "interrupt-map", ph)?;
        let pac = x.cell_count(parent, "#address-cells").unwrap_or(0);
        let pic = interrupt_cells(x, parent, nexus, "interrupt-map")?;
        let base = at + ac + ic + 1;
        let addr = map.get(base..base + pac).ok_or_else(short)?;
        let spec = map.get(base + pac..base + pac + pic).ok_or_else(short)?;
        out.push(MapEntry {
            key: key.to_vec(),
            parent,
            addr: addr.to_vec(),
            spec: spec.to_vec(),
        });
        at = base + pac + pic;
    }
    Ok(out)
}

/// One step through a nexus's `interrupt-map`: the matching entry (`None`: no
/// entry matches, so the interrupt goes nowhere).
fn map_through(
    x: &NodeIndex<'_>,
    nexus: usize,
    addr: &[u32],
    spec: &[u32],
) -> Result<Option<MapEntry>, PlanError> {
    let ac = nexus_address_cells(x, nexus);
    let ic = interrupt_cells(x, nexus, nexus, "interrupt-map")?;
    let mask = x.cells(nexus, "interrupt-map-mask")?.unwrap_or_default();
    let key: Vec<u32> = (0..ac + ic)
        .map(|k| {
            let v = if k < ac {
                addr.get(k)
            } else {
                spec.get(k - ac)
            };
            v.copied().unwrap_or(0) & mask.get(k).copied().unwrap_or(u32::MAX)
        })
        .collect();
    Ok(map_entries(x, nexus)?.into_iter().find(|e| e.key == key))
}

/// Every GIC SPI a nexus's `interrupt-map` can deliver (a PCI host's INTx lines).
pub fn map_spis(x: &NodeIndex<'_>, nexus: usize) -> Result<Vec<u32>, PlanError> {
    if !x.has(nexus, "interrupt-map") {
        return Ok(Vec::new());
    }
    Ok(map_entries(x, nexus)?
        .into_iter()
        .filter(|e| is_gic(x, e.parent))
        .filter_map(|e| match gic_irq(&e.spec) {
            Some(Irq::Spi(s)) => Some(s),
            _ => None,
        })
        .collect())
}

/// The GIC SPIs (INTIDs) a TI crossbar can hand out: `0..ti,max-irqs` minus
/// `ti,irqs-reserved` and `ti,irqs-skip`.
pub fn crossbar_spis(x: &NodeIndex<'_>, i: usize) -> Result<Vec<u32>, PlanError> {
    let max = x.u32_prop(i, "ti,max-irqs").unwrap_or(0).min(988);
    let mut taken = x.cells(i, "ti,irqs-reserved")?.unwrap_or_default();
    taken.extend(x.cells(i, "ti,irqs-skip")?.unwrap_or_default());
    Ok((0..max)
        .filter(|n| !taken.contains(n))
        .map(|n| n + 32)
        .collect())
}

/// Fails if following interrupt parents from any interrupt source loops. A
/// node that is its own interrupt parent (a root GIC) ends a chain.
pub fn check_cycles(x: &NodeIndex<'_>) -> Result<(), PlanError> {
    // Each node's own parent link, only for nodes that raise interrupts.
    let mut next: Vec<Option<usize>> = Vec::with_capacity(x.len());
    for i in 0..x.len() {
        let raises = x.has(i, "interrupts");
        next.push(if raises {
            interrupt_parent(x, i)?.filter(|&p| p != i)
        } else {
            None
        });
    }
    // 0 = unvisited, 1 = on the current chain, 2 = known to end.
    let mut state = alloc::vec![0u8; x.len()];
    for start in 0..x.len() {
        let mut chain = Vec::new();
        let mut at = Some(start);
        while let Some(n) = at {
            match state.get(n).copied() {
                Some(2) | None => break,
                Some(1) => {
                    return Err(PlanError::InterruptCycle {
                        node: String::from(x.path(start)),
                        via: String::from(x.path(n)),
                    })
                }
                _ => {}
            }
            if let Some(s) = state.get_mut(n) {
                *s = 1;
            }
            chain.push(n);
            at = next.get(n).copied().flatten();
        }
        for n in chain {
            if let Some(s) = state.get_mut(n) {
                *s = 2;
            }
        }
    }
    Ok(())
}
