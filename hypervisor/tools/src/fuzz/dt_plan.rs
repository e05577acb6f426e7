//! The `dt_plan` fuzz target: a device tree through everything snowvisor
//! reads it with (the structural check and [`HostTree`], the boot summary,
//! [`plan::make`], the Dom0 tree writer, and a re-read of what it wrote).
//!
//! Inputs are structure-aware: the first byte picks a mode.
//! - Even: the rest is a raw blob (libFuzzer's byte mutations of a DTB).
//! - Odd: two bytes pick a seed tree (Debian's DTBs and QEMU's trees), and
//!   the rest is a list of [`Mutation`]s applied to its parsed form: property
//!   values and lengths, cell counts, phandle references (cycles included),
//!   `interrupt-map` / `iommu-map`, huge `reg`, `/chosen` modules and
//!   bootargs, node delete / duplicate / rename, `FDT_NOP`s, properties after
//!   children, and subtrees from another seed.
//!
//! Oracles (a violation panics): no panic anywhere; nothing snowvisor keeps
//! reaches Dom0 (no passthrough MMIO over the GIC's frames, an owned IOMMU's
//! registers or the kept UART's; no SPI snowvisor keeps); Dom0's tree reads
//! back and plans again; and, when asked (`dtc`), `dtc` finds no warning in
//! Dom0's tree that the input did not have (unless a check's prerequisite
//! failed on the input, which hides that check's warnings there).

use arbitrary::{Arbitrary, Unstructured};
use snowvisor_core::summary::{self, CpuFacts};
use snowvisor_dt::{HostTree, Region};
use snowvisor_plan::{self as plan, dom0, Keep, PlanOptions};
use std::collections::BTreeSet;

use crate::{dtc_warnings, expected_new_warning, preview_params};

const BEGIN_NODE: u32 = 1;
const END_NODE: u32 = 2;
const PROP: u32 = 3;
const NOP: u32 = 4;
const END: u32 = 9;

/// A tree in a form mutations can edit.
#[derive(Debug, Clone, Default)]
struct Node {
    name: Vec<u8>,
    props: Vec<(Vec<u8>, Vec<u8>)>,
    kids: Vec<Node>,
    /// Written after the children (as some fix-up code leaves them).
    props_last: bool,
    /// `FDT_NOP`s written before this node's first property.
    nops: u8,
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// Parses a well-formed blob (the seeds); `None` for anything else.
fn parse(blob: &[u8]) -> Option<Node> {
    let off_struct = be32(blob, 8)? as usize;
    let off_strings = be32(blob, 12)? as usize;
    let strings = blob.get(off_strings..)?;
    let mut at = off_struct;
    let mut stack: Vec<Node> = Vec::new();
    loop {
        let tok = be32(blob, at)?;
        at += 4;
        match tok {
            BEGIN_NODE => {
                let rest = blob.get(at..)?;
                let nul = rest.iter().position(|&b| b == 0)?;
                stack.push(Node {
                    name: rest[..nul].to_vec(),
                    ..Node::default()
                });
                at = (at + nul + 1 + 3) & !3;
            }
            PROP => {
                let len = be32(blob, at)? as usize;
                let nameoff = be32(blob, at + 4)? as usize;
                let value = blob.get(at + 8..at + 8 + len)?.to_vec();
                let sname = strings.get(nameoff..)?;
                let name = sname[..sname.iter().position(|&b| b == 0)?].to_vec();
                stack.last_mut()?.props.push((name, value));
                at = (at + 8 + len + 3) & !3;
            }
            END_NODE => {
                let n = stack.pop()?;
                match stack.last_mut() {
                    Some(p) => p.kids.push(n),
                    None => return Some(n),
                }
            }
            NOP => {}
            _ => return None,
        }
        if at > blob.len() || stack.is_empty() && tok != BEGIN_NODE {
            return None;
        }
    }
}

/// Writes a blob (version 17, no memory reservations).
fn write(root: &Node) -> Vec<u8> {
    fn put(n: &Node, s: &mut Vec<u8>, strings: &mut Vec<u8>) {
        s.extend(BEGIN_NODE.to_be_bytes());
        s.extend(&n.name);
        s.push(0);
        while !s.len().is_multiple_of(4) {
            s.push(0);
        }
        for _ in 0..n.nops {
            s.extend(NOP.to_be_bytes());
        }
        let props = |s: &mut Vec<u8>, strings: &mut Vec<u8>| {
            for (name, v) in &n.props {
                let off = find_or_add(strings, name);
                s.extend(PROP.to_be_bytes());
                s.extend((v.len() as u32).to_be_bytes());
                s.extend((off as u32).to_be_bytes());
                s.extend(v);
                while !s.len().is_multiple_of(4) {
                    s.push(0);
                }
            }
        };
        if !n.props_last {
            props(s, strings);
        }
        for k in &n.kids {
            put(k, s, strings);
        }
        if n.props_last {
            props(s, strings);
        }
        s.extend(END_NODE.to_be_bytes());
    }
    fn find_or_add(strings: &mut Vec<u8>, name: &[u8]) -> usize {
        let mut z = name.to_vec();
        z.push(0);
        if let Some(p) = strings.windows(z.len()).position(|w| w == z.as_slice()) {
            return p;
        }
        strings.extend(&z);
        strings.len() - z.len()
    }
    let mut s = Vec::new();
    let mut strings = Vec::new();
    put(root, &mut s, &mut strings);
    s.extend(END.to_be_bytes());
    let off_rsv = 40usize;
    let off_struct = off_rsv + 16;
    let off_strings = off_struct + s.len();
    let total = off_strings + strings.len();
    let mut b = Vec::with_capacity(total);
    for v in [
        0xd00d_feed_u32,
        total as u32,
        off_struct as u32,
        off_strings as u32,
        off_rsv as u32,
        17,
        16,
        0,
        strings.len() as u32,
        s.len() as u32,
    ] {
        b.extend(v.to_be_bytes());
    }
    b.extend([0u8; 16]);
    b.extend(s);
    b.extend(strings);
    b
}

/// Nodes in pre-order, as index paths from the root.
fn paths(n: &Node, at: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
    out.push(at.clone());
    for (i, k) in n.kids.iter().enumerate() {
        at.push(i);
        paths(k, at, out);
        at.pop();
    }
}

fn node_mut<'a>(root: &'a mut Node, path: &[usize]) -> &'a mut Node {
    path.iter().fold(root, |n, &i| &mut n.kids[i])
}

/// Property names the mutations favour: the ones snowvisor reads.
const NAMES: &[&str] = &[
    "reg",
    "ranges",
    "interrupts",
    "interrupts-extended",
    "interrupt-parent",
    "interrupt-map",
    "interrupt-map-mask",
    "#address-cells",
    "#size-cells",
    "#interrupt-cells",
    "#iommu-cells",
    "iommus",
    "iommu-map",
    "iommu-map-mask",
    "msi-parent",
    "phandle",
    "compatible",
    "status",
    "device_type",
    "interrupt-names",
    "bus-range",
    "arm,msi-base-spi",
    "arm,msi-num-spis",
    "stdout-path",
    "bootargs",
    "xen,xen-bootargs",
    "dma-ranges",
];

const CELLS: &[u32] = &[0, 1, 2, 3, 4, 5, 0x20, 0xffff_ffff, 0x8000_0000];

#[derive(Debug, Arbitrary)]
enum Mutation {
    /// Sets (or adds) property `name` of node `node` to `value`.
    SetProp {
        node: u16,
        name: u8,
        value: Vec<u8>,
    },
    /// Sets a property to cells from a palette of edge values.
    Cells {
        node: u16,
        name: u8,
        cells: Vec<u8>,
    },
    /// Truncates or extends a property by a few bytes.
    Resize {
        node: u16,
        prop: u8,
        len: u8,
    },
    /// Points a reference property at another node's phandle (adding one).
    Reference {
        node: u16,
        name: u8,
        target: u16,
        extra: Vec<u8>,
    },
    /// A huge or odd `reg`.
    HugeReg {
        node: u16,
        cells: Vec<u32>,
    },
    /// A `/chosen` module with `compatible` from a palette and `reg`.
    Module {
        kind: u8,
        base: u32,
        size: u32,
        bootargs: Option<Vec<u8>>,
    },
    /// `/chosen` bootargs.
    Bootargs {
        text: Vec<u8>,
    },
    Delete {
        node: u16,
    },
    Duplicate {
        node: u16,
    },
    /// Renames a node (possibly to a sibling's name).
    Rename {
        node: u16,
        like: u16,
        suffix: u8,
    },
    Nops {
        node: u16,
        count: u8,
    },
    PropsLast {
        node: u16,
    },
    /// A subtree of another seed grafted under `node`.
    Graft {
        node: u16,
        seed: u16,
        from: u16,
    },
}

fn pick(paths: &[Vec<usize>], i: u16) -> Vec<usize> {
    paths[usize::from(i) % paths.len()].clone()
}

fn name_of(i: u8) -> Vec<u8> {
    NAMES[usize::from(i) % NAMES.len()].as_bytes().to_vec()
}

fn set(n: &mut Node, name: Vec<u8>, value: Vec<u8>) {
    match n.props.iter_mut().find(|p| p.0 == name) {
        Some(p) => p.1 = value,
        None => n.props.push((name, value)),
    }
}

fn phandle_of(n: &mut Node, fresh: u32) -> u32 {
    if let Some((_, v)) = n.props.iter().find(|p| p.0 == b"phandle") {
        if let Some(p) = be32(v, 0) {
            return p;
        }
    }
    set(n, b"phandle".to_vec(), fresh.to_be_bytes().to_vec());
    fresh
}

fn apply(root: &mut Node, m: &Mutation, seeds: &[Vec<u8>]) {
    let mut all = Vec::new();
    paths(root, &mut Vec::new(), &mut all);
    match m {
        Mutation::SetProp { node, name, value } => {
            let n = node_mut(root, &pick(&all, *node));
            set(n, name_of(*name), value.iter().copied().take(256).collect());
        }
        Mutation::Cells { node, name, cells } => {
            let v = cells
                .iter()
                .take(16)
                .flat_map(|&c| CELLS[usize::from(c) % CELLS.len()].to_be_bytes())
                .collect();
            set(node_mut(root, &pick(&all, *node)), name_of(*name), v);
        }
        Mutation::Resize { node, prop, len } => {
            let n = node_mut(root, &pick(&all, *node));
            if !n.props.is_empty() {
                let i = usize::from(*prop) % n.props.len();
                n.props[i].1.resize(usize::from(*len), 0xff);
            }
        }
        Mutation::Reference {
            node,
            name,
            target,
            extra,
        } => {
            let fresh = 0x7000 + all.len() as u32;
            let ph = phandle_of(node_mut(root, &pick(&all, *target)), fresh);
            let mut v = ph.to_be_bytes().to_vec();
            v.extend(
                extra
                    .iter()
                    .take(16)
                    .flat_map(|&c| CELLS[usize::from(c) % CELLS.len()].to_be_bytes()),
            );
            set(node_mut(root, &pick(&all, *node)), name_of(*name), v);
        }
        Mutation::HugeReg { node, cells } => {
            let v = cells
                .iter()
                .take(12)
                .flat_map(|c| c.to_be_bytes())
                .collect();
            set(node_mut(root, &pick(&all, *node)), b"reg".to_vec(), v);
        }
        Mutation::Module {
            kind,
            base,
            size,
            bootargs,
        } => {
            let compat: &[u8] = match kind % 4 {
                0 => b"multiboot,kernel\0multiboot,module\0",
                1 => b"multiboot,ramdisk\0multiboot,module\0",
                2 => b"xen,linux-zimage\0xen,multiboot-module\0",
                _ => b"multiboot,module\0",
            };
            let mut props = vec![
                (b"compatible".to_vec(), compat.to_vec()),
                (
                    b"reg".to_vec(),
                    [0, *base, 0, *size]
                        .iter()
                        .flat_map(|c| c.to_be_bytes())
                        .collect(),
                ),
            ];
            if let Some(b) = bootargs {
                let mut b: Vec<u8> = b.iter().copied().take(128).collect();
                b.push(0);
                props.push((b"bootargs".to_vec(), b));
            }
            let module = Node {
                name: format!("module@{base:x}").into_bytes(),
                props,
                ..Node::default()
            };
            match root.kids.iter_mut().find(|k| k.name == b"chosen") {
                Some(c) => c.kids.push(module),
                None => root.kids.push(Node {
                    name: b"chosen".to_vec(),
                    kids: vec![module],
                    ..Node::default()
                }),
            }
        }
        Mutation::Bootargs { text } => {
            let mut t: Vec<u8> = text.iter().copied().take(256).collect();
            t.push(0);
            if let Some(c) = root.kids.iter_mut().find(|k| k.name == b"chosen") {
                set(c, b"bootargs".to_vec(), t);
            }
        }
        Mutation::Delete { node } => {
            let p = pick(&all, *node);
            if let Some((&last, parent)) = p.split_last() {
                node_mut(root, parent).kids.remove(last);
            }
        }
        Mutation::Duplicate { node } => {
            // The copy gets a name of its own (a same-named sibling is what
            // Rename makes, and the plan refuses it).
            let p = pick(&all, *node);
            if let Some((_, parent)) = p.split_last() {
                let mut copy = node_mut(root, &p).clone();
                copy.name.extend(format!("-copy{}", all.len()).bytes());
                node_mut(root, parent).kids.push(copy);
            }
        }
        Mutation::Rename { node, like, suffix } => {
            let mut name = node_mut(root, &pick(&all, *like)).name.clone();
            if *suffix & 1 != 0 {
                name.extend(format!("@{suffix:x}").bytes());
            }
            node_mut(root, &pick(&all, *node)).name = name;
        }
        Mutation::Nops { node, count } => {
            node_mut(root, &pick(&all, *node)).nops = count % 4;
        }
        Mutation::PropsLast { node } => {
            node_mut(root, &pick(&all, *node)).props_last = true;
        }
        Mutation::Graft { node, seed, from } => {
            let Some(other) = seeds
                .get(usize::from(*seed) % seeds.len().max(1))
                .and_then(|b| parse(b))
            else {
                return;
            };
            let mut theirs = Vec::new();
            paths(&other, &mut Vec::new(), &mut theirs);
            let mut other = other;
            let sub = node_mut(&mut other, &pick(&theirs, *from)).clone();
            node_mut(root, &pick(&all, *node)).kids.push(sub);
        }
    }
}

/// The blob an input stands for.
pub fn blob(data: &[u8], seeds: &[Vec<u8>]) -> Vec<u8> {
    let Some((&mode, rest)) = data.split_first() else {
        return Vec::new();
    };
    if mode & 1 == 0 || seeds.is_empty() {
        return rest.to_vec();
    }
    let mut u = Unstructured::new(rest);
    let i = u.arbitrary::<u16>().unwrap_or(0);
    let Some(mut root) = parse(&seeds[usize::from(i) % seeds.len()]) else {
        return rest.to_vec();
    };
    for _ in 0..16 {
        let Ok(m) = Mutation::arbitrary(&mut u) else {
            break;
        };
        apply(&mut root, &m, seeds);
        if u.is_empty() {
            break;
        }
    }
    write(&root)
}

/// Runs one input against `seeds` (well-formed DTBs). Panics when an oracle
/// fails; returns whether the tree got as far as Dom0's tree.
pub fn run(data: &[u8], seeds: &[Vec<u8>], dtc: bool) -> bool {
    let blob = blob(data, seeds);
    let Ok(tree) = HostTree::new(&blob) else {
        return false;
    };
    let cpu = CpuFacts {
        midr: 0x412f_c0f1,
        mode: "HYP",
        cntfrq: 0,
        list_registers: None,
    };
    let _ = summary::lines(&tree, &cpu);
    let _ = tree.memory();
    let _ = tree.modules();
    let _ = tree.hypervisor_bootargs();
    let _ = tree.stdout();
    let _ = tree.timer();
    let gic = tree.gic();
    let args = data.get(1).map_or(0, |b| b % 3);
    let (opts, _) = PlanOptions::parse(
        [None, Some("own:all"), Some("pass:all")][usize::from(args)],
        None,
    );
    let Ok(p) = plan::make(&tree, &opts, &Keep::none().console(&tree)) else {
        return false;
    };
    // Nothing snowvisor keeps reaches Dom0.
    let mmio = p.mmio_regions();
    let mut kept: Vec<(Region, String)> = Vec::new();
    if let Some(g) = &p.gic {
        kept.extend(g.frames.iter().map(|f| (*f, g.path.clone())));
    }
    if let Ok(g) = &gic {
        kept.extend(
            [g.gicd, g.gicc]
                .into_iter()
                .map(|f| (f, String::from("GIC"))),
        );
    }
    for o in &p.owned {
        kept.push((o.regs, o.path.clone()));
    }
    if let Some(u) = tree.stdout() {
        kept.push((
            Region {
                base: u.base,
                size: 1,
            },
            String::from(u.path),
        ));
    }
    for (k, owner) in kept.iter().filter(|(k, _)| k.size > 0) {
        if let Some(m) = mmio.iter().find(|m| m.overlaps(k)) {
            panic!(
                "Dom0 gets MMIO {:#x}+{:#x} over {owner}'s {:#x}+{:#x}",
                m.base, m.size, k.base, k.size
            );
        }
    }
    let spis = p.spis();
    for k in &p.kept_irqs {
        assert!(
            !spis.contains(&k.intid),
            "INTID {} of {} routed to Dom0",
            k.intid,
            k.owner
        );
    }
    let preview = preview_params(&tree, &p, true);
    let Ok(out) = dom0::build(&tree, &p, &preview.params) else {
        return false;
    };
    let t2 = HostTree::new(&out).unwrap_or_else(|e| panic!("Dom0's tree does not read back: {e}"));
    if let Err(e) = plan::make(&t2, &PlanOptions::default(), &Keep::none()) {
        panic!("Dom0's tree does not plan: {e}");
    }
    if dtc {
        // A check whose prerequisite failed on the input is skipped there,
        // so its warnings are not comparable: compare only when none failed.
        let before = dtc_warnings(&blob)
            .ok()
            .filter(|w| !w.iter().any(|l| l.contains("Failed prerequisite")));
        if let (Some(before), Ok(after)) = (before, dtc_warnings(&out)) {
            // A mutated input can hold a broken property; the same check on
            // the same node in Dom0's tree is that fault again (its message
            // changes when the node it names is one Dom0 does not get), not
            // a new one. A valid input has no warning to match, so every
            // dangling reference the writer leaves is still caught.
            let faulty: BTreeSet<&str> = before.iter().map(|w| warning_node(w)).collect();
            let new: Vec<&String> = after
                .difference(&before)
                .filter(|w| !expected_new_warning(w) && !faulty.contains(warning_node(w)))
                .collect();
            assert!(new.is_empty(), "new dtc warnings in Dom0's tree: {new:#?}");
        }
    }
    true
}

/// A dtc warning's check and node (`Warning (check): /path`), without the
/// property and message: node names cannot hold a ':' (DT spec 2.2.1).
fn warning_node(w: &str) -> &str {
    let Some(path) = w.find("): /") else {
        return w;
    };
    let start = path + 3;
    w[start..].find(':').map_or(w, |end| &w[..start + end])
}

#[cfg(test)]
mod tests {
    use super::warning_node;

    #[test]
    fn a_warning_is_keyed_by_its_check_and_node() {
        let before = "Warning (iommus_property): /soc/pinctrl/sai2grp: Missing property '#iommu-cells' in node /soc/serial@2020000 or bad phandle (referred from iommus[0])";
        let after = "Warning (iommus_property): /soc/pinctrl/sai2grp:iommus: Could not get phandle node for (cell 0)";
        assert_eq!(warning_node(before), warning_node(after));
        assert_eq!(
            warning_node(after),
            "Warning (iommus_property): /soc/pinctrl/sai2grp"
        );
        assert_ne!(
            warning_node("Warning (clocks_property): /soc/pinctrl/sai2grp:clocks: x"),
            warning_node(after)
        );
        assert_eq!(warning_node("Warning: odd"), "Warning: odd");
    }
}
