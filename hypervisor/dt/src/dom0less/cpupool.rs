//! Boot-time cpupools: Xen 4.17's `xen,cpupool` nodes
//! (`docs/misc/arm/device-tree/cpupools.txt`; `btcpupools_dtb_parse` and
//! `btcpupools_allocate_pools` in `xen/common/sched/boot-cpupool.c`) and a
//! DomU's `domain-cpupool` (booting.txt).
//!
//! Each `/chosen` child with compatible `"xen,cpupool"` is a pool whose
//! `cpupool-cpus` lists phandles of `/cpus` nodes (`device_type = "cpu"`),
//! never empty, no CPU in two pools; `cpupool-sched` optionally names a Xen
//! scheduler. Pools are numbered in tree order from 0; the CPUs up that no
//! pool lists form one more pool (the next number); then the pool holding
//! the boot CPU trades numbers with pool 0, so the boot CPU is always in
//! Pool-0, which holds Dom0 and every DomU without `domain-cpupool`. A
//! listed CPU that is not up stops the boot, as under Xen.

use alloc::string::String;
use alloc::vec::Vec;

use super::{err, kids, DomUError, Why};
use crate::index::{be_cells, fold_cells, NodeIndex};
use crate::HostTree;

/// The compatible of a cpupool node.
pub const COMPATIBLE: &str = "xen,cpupool";

/// The schedulers Xen 4.17's `sched=` accepts
/// (`docs/misc/xen-command-line.pandoc`): a `cpupool-sched` naming another
/// stops Xen's boot ("Scheduler %s does not exists!"), and snowvisor's.
pub const XEN_SCHEDULERS: [&str; 5] = ["credit", "credit2", "rtds", "arinc653", "null"];

/// The MPIDR bits a `cpu` node's `reg` holds (Aff2..Aff0, ARMv7 B4.1.106).
pub const AFFINITY_MASK: u64 = 0x00ff_ffff;

/// One cpupool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuPool<'a> {
    /// Pool ID (Xen's `Pool-N`): 0 holds the boot CPU.
    pub id: u32,
    /// The `xen,cpupool` node's name under `/chosen`; `None` for the pool
    /// of the CPUs no node lists.
    pub node: Option<&'a str>,
    /// Its CPUs' MPIDR affinity (their nodes' `reg`), in the order listed.
    pub cpus: Vec<u64>,
    /// `cpupool-sched`, if given (one of [`XEN_SCHEDULERS`]).
    pub sched: Option<&'a str>,
}

impl CpuPool<'_> {
    /// Whether the CPU with MPIDR `mpidr` is in this pool.
    pub fn holds(&self, mpidr: u64) -> bool {
        self.cpus.contains(&(mpidr & AFFINITY_MASK))
    }

    /// The pool's path for messages: `/chosen/<node>`, or a description of
    /// the implicit pool.
    pub fn path(&self) -> String {
        match self.node {
            Some(n) => alloc::format!("/chosen/{n}"),
            None => String::from("(the CPUs no xen,cpupool node lists)"),
        }
    }
}

/// The `xen,cpupool` node `ph` names, for a DomU's `domain-cpupool`
/// (domain node `dom`): its name under `/chosen`.
pub(super) fn domain_pool<'a>(x: &NodeIndex<'a>, dom: usize) -> Result<Option<&'a str>, DomUError> {
    const P: &str = "domain-cpupool";
    let Some(v) = x.prop(dom, P) else {
        return Ok(None);
    };
    let ph = match be_cells(v).collect::<Vec<_>>()[..] {
        [ph] if v.len() == 4 => ph,
        _ => {
            return Err(err(
                x,
                dom,
                P,
                Why::Length {
                    len: v.len(),
                    cells: "1 cell (a phandle)",
                },
            ))
        }
    };
    let n = x
        .by_phandle(ph)
        .ok_or_else(|| err(x, dom, P, Why::Phandle(ph)))?;
    let chosen = x.by_path("/chosen");
    if x.parent(n) != chosen || !x.compatibles(n).contains(&COMPATIBLE) {
        return Err(err(x, dom, P, Why::NotCpupool(String::from(x.path(n)))));
    }
    Ok(x.nodes.get(n).map(|d| d.name))
}

/// A `cpu` node's `reg` (its MPIDR affinity), or `None` if `n` is not a
/// `device_type = "cpu"` child of `/cpus` with a readable `reg`.
fn cpu_reg(x: &NodeIndex<'_>, n: usize) -> Option<u64> {
    let cpus = x.by_path("/cpus")?;
    if x.parent(n) != Some(cpus) || x.str_prop(n, "device_type") != Some("cpu") {
        return None;
    }
    let ac = x.address_cells(cpus);
    let cells: Vec<u32> = be_cells(x.prop(n, "reg")?).collect();
    fold_cells(cells.get(..ac)?).map(|r| r & AFFINITY_MASK)
}

/// The cpupools of the tree, by ID (0 first), given the CPUs up
/// (`online`: MPIDRs, the boot CPU first). Without any `xen,cpupool`
/// node: one pool 0 of every CPU up, as Xen's implicit Pool-0.
///
/// Errors name the pool node and `cpupool-cpus` (or `cpupool-sched`):
/// absent or empty, not whole phandles, a phandle that names no node or
/// no `cpu` node under `/cpus`, a CPU another pool lists, a CPU that is
/// not up; a scheduler name Xen does not know.
pub fn cpupools<'a>(tree: &HostTree<'a>, online: &[u64]) -> Result<Vec<CpuPool<'a>>, DomUError> {
    const C: &str = "cpupool-cpus";
    let x = tree.index();
    let online: Vec<u64> = online.iter().map(|m| m & AFFINITY_MASK).collect();
    let mut pools: Vec<CpuPool<'a>> = Vec::new();
    // (CPU affinity, its node's path, the pool node listing it)
    let mut listed: Vec<(u64, String, String)> = Vec::new();
    let nodes = x.by_path("/chosen").map_or(&[][..], |c| kids(x, c));
    for &n in nodes {
        if !x.compatibles(n).contains(&COMPATIBLE) {
            continue;
        }
        let sched = match x.prop(n, "cpupool-sched") {
            None => None,
            Some(_) => match x.str_prop(n, "cpupool-sched") {
                Some(s) if XEN_SCHEDULERS.contains(&s) => Some(s),
                other => {
                    let v = String::from(other.unwrap_or("(not a string)"));
                    return Err(err(x, n, "cpupool-sched", Why::UnknownScheduler(v)));
                }
            },
        };
        let v = x
            .prop(n, C)
            .ok_or_else(|| err(x, n, C, Why::EmptyCpupool))?;
        if v.is_empty() {
            return Err(err(x, n, C, Why::EmptyCpupool));
        }
        if v.len() % 4 != 0 {
            return Err(err(
                x,
                n,
                C,
                Why::Length {
                    len: v.len(),
                    cells: "whole cells (phandles of cpu nodes)",
                },
            ));
        }
        let mut cpus = Vec::new();
        for ph in be_cells(v) {
            let c = x
                .by_phandle(ph)
                .ok_or_else(|| err(x, n, C, Why::Phandle(ph)))?;
            let cpu_path = String::from(x.path(c));
            let reg = cpu_reg(x, c).ok_or_else(|| err(x, n, C, Why::NotCpu(cpu_path.clone())))?;
            if let Some((_, _, other)) = listed.iter().find(|(r, _, _)| *r == reg) {
                return Err(err(
                    x,
                    n,
                    C,
                    Why::CpuInTwoPools {
                        cpu: cpu_path,
                        other: other.clone(),
                    },
                ));
            }
            if !online.contains(&reg) {
                return Err(err(x, n, C, Why::CpuNotUp(cpu_path)));
            }
            listed.push((reg, cpu_path, String::from(x.path(n))));
            cpus.push(reg);
        }
        pools.push(CpuPool {
            id: pools.len() as u32,
            node: x.nodes.get(n).map(|d| d.name),
            cpus,
            sched,
        });
    }
    let rest: Vec<u64> = online
        .iter()
        .copied()
        .filter(|m| !listed.iter().any(|(r, _, _)| r == m))
        .collect();
    if !rest.is_empty() {
        pools.push(CpuPool {
            id: pools.len() as u32,
            node: None,
            cpus: rest,
            sched: None,
        });
    }
    // The boot CPU's pool becomes Pool-0 (Xen swaps the two IDs).
    if let Some(&boot) = online.first() {
        if let Some(b) = pools.iter().position(|p| p.cpus.contains(&boot)) {
            pools.swap(0, b);
            pools[0].id = 0;
            if b != 0 {
                pools[b].id = b as u32;
            }
        }
    }
    Ok(pools)
}
