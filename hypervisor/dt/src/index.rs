//! A flat index of the host tree: every node with its path, parent, children and
//! properties, plus a phandle map, built once (in tree order) from the walk in
//! [`super::blob`] so the boot path, the plan and the Dom0 writer look nodes up by
//! phandle or path without re-walking the blob.
//!
//! Address arithmetic (`reg`, `ranges`) is in [`super::address`].

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use super::blob::RawNode;
pub use super::blob::RawProp as Prop;
use core::fmt;

/// The tree's references are inconsistent; every message names the node and
/// property at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeError {
    /// Two nodes carry the same phandle.
    DuplicatePhandle {
        phandle: u32,
        first: String,
        second: String,
    },
    /// A property that must hold a phandle names one no node has.
    DanglingPhandle {
        node: String,
        prop: &'static str,
        phandle: u32,
    },
    /// A property's length or content does not fit its binding.
    BadProperty {
        node: String,
        prop: &'static str,
        why: &'static str,
    },
}

impl fmt::Display for TreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TreeError::DuplicatePhandle {
                phandle,
                first,
                second,
            } => {
                write!(f, "phandle {phandle:#x} is on both {first} and {second}")
            }
            TreeError::DanglingPhandle {
                node,
                prop,
                phandle,
            } => {
                write!(
                    f,
                    "{node}: {prop} refers to phandle {phandle:#x}, which no node has"
                )
            }
            TreeError::BadProperty { node, prop, why } => write!(f, "{node}: {prop}: {why}"),
        }
    }
}

/// One node; `nodes[0]` of the index is the root.
#[derive(Debug, Clone)]
pub struct Node<'a> {
    /// Name with unit address (`""` for the root).
    pub name: &'a str,
    /// Full path, `/` for the root.
    pub path: String,
    pub parent: Option<usize>,
    pub children: Vec<usize>,
    pub props: Vec<Prop<'a>>,
}

/// The host tree as an index. Node numbers are tree (depth-first) order.
pub struct NodeIndex<'a> {
    pub nodes: Vec<Node<'a>>,
    phandles: BTreeMap<u32, usize>,
    /// The first phandle inconsistency (duplicate, 0 or 0xffffffff, not one
    /// cell); the map then keeps the first node with a given phandle.
    phandle_error: Option<TreeError>,
}

/// Upper bound applied to every `#...-cells` value read from the tree.
pub const MAX_CELLS: usize = 16;

/// Big-endian u32 cells of a byte string (a trailing partial cell is ignored;
/// callers that care check the length first).
pub fn be_cells(v: &[u8]) -> impl Iterator<Item = u32> + '_ {
    v.chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
}

/// Cells folded into a number; `None` past 64 bits.
pub fn fold_cells(c: &[u32]) -> Option<u64> {
    match c {
        [] => Some(0),
        [lo] => Some(u64::from(*lo)),
        [hi, lo] => Some((u64::from(*hi) << 32) | u64::from(*lo)),
        _ => None,
    }
}

impl<'a> NodeIndex<'a> {
    /// Indexes the nodes of [`super::blob::parse`]. Never fails: a phandle
    /// inconsistency is kept for [`Self::check_phandles`].
    pub fn from_raw(raw: Vec<RawNode<'a>>) -> Self {
        let mut nodes: Vec<Node<'a>> = Vec::with_capacity(raw.len());
        let mut phandles = BTreeMap::new();
        let mut phandle_error = None;
        for (
            i,
            RawNode {
                parent,
                name,
                props,
            },
        ) in raw.into_iter().enumerate()
        {
            let path = match parent.and_then(|p| nodes.get(p)) {
                None => String::from("/"),
                Some(p) => {
                    let mut s = String::from(if p.path == "/" { "" } else { p.path.as_str() });
                    s.push('/');
                    s.push_str(name);
                    s
                }
            };
            for p in props
                .iter()
                .filter(|p| p.name == "phandle" || p.name == "linux,phandle")
            {
                let problem = match p.value {
                    [a, b, c, d] => match u32::from_be_bytes([*a, *b, *c, *d]) {
                        0 | u32::MAX => Some(bad(&path, "phandle", "is 0 or 0xffffffff")),
                        ph => match phandles.get(&ph) {
                            Some(&j) if j == i => None,
                            Some(&j) => Some(TreeError::DuplicatePhandle {
                                phandle: ph,
                                first: nodes
                                    .get(j)
                                    .map_or_else(String::new, |n: &Node<'_>| n.path.clone()),
                                second: path.clone(),
                            }),
                            None => {
                                phandles.insert(ph, i);
                                None
                            }
                        },
                    },
                    _ => Some(bad(&path, "phandle", "is not one cell")),
                };
                if phandle_error.is_none() {
                    phandle_error = problem;
                }
            }
            if let Some(p) = parent.and_then(|p| nodes.get_mut(p)) {
                p.children.push(i);
            }
            nodes.push(Node {
                name,
                path,
                parent,
                children: Vec::new(),
                props,
            });
        }
        NodeIndex {
            nodes,
            phandles,
            phandle_error,
        }
    }

    /// The index, or the first phandle inconsistency (two nodes with one
    /// phandle, a phandle of 0 or 0xffffffff, or one that is not one cell).
    pub fn check_phandles(&self) -> Result<&Self, TreeError> {
        match &self.phandle_error {
            Some(e) => Err(e.clone()),
            None => Ok(self),
        }
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn path(&self, i: usize) -> &str {
        self.nodes.get(i).map_or("?", |n| n.path.as_str())
    }

    pub fn parent(&self, i: usize) -> Option<usize> {
        self.nodes.get(i)?.parent
    }

    pub fn prop(&self, i: usize, name: &str) -> Option<&'a [u8]> {
        self.nodes
            .get(i)?
            .props
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.value)
    }

    pub fn has(&self, i: usize, name: &str) -> bool {
        self.prop(i, name).is_some()
    }

    /// A property as cells; an error if its length is not a multiple of 4.
    pub fn cells(&self, i: usize, name: &'static str) -> Result<Option<Vec<u32>>, TreeError> {
        match self.prop(i, name) {
            None => Ok(None),
            Some(v) if !v.len().is_multiple_of(4) => {
                Err(bad(self.path(i), name, "length is not a multiple of 4"))
            }
            Some(v) => Ok(Some(be_cells(v).collect())),
        }
    }

    /// A one-cell property (`None` if absent or not exactly one cell).
    pub fn u32_prop(&self, i: usize, name: &str) -> Option<u32> {
        match self.prop(i, name)? {
            [a, b, c, d] => Some(u32::from_be_bytes([*a, *b, *c, *d])),
            _ => None,
        }
    }

    /// The strings of a string-list property.
    pub fn strings(&self, i: usize, name: &str) -> Vec<&'a str> {
        let Some(v) = self.prop(i, name) else {
            return Vec::new();
        };
        let v = v.strip_suffix(&[0]).unwrap_or(v);
        if v.is_empty() {
            return Vec::new();
        }
        v.split(|&b| b == 0)
            .filter_map(|s| core::str::from_utf8(s).ok())
            .collect()
    }

    pub fn str_prop(&self, i: usize, name: &str) -> Option<&'a str> {
        self.strings(i, name).into_iter().next()
    }

    pub fn compatibles(&self, i: usize) -> Vec<&'a str> {
        self.strings(i, "compatible")
    }

    pub fn is_compatible(&self, i: usize, any: &[&str]) -> bool {
        self.compatibles(i).iter().any(|c| any.contains(c))
    }

    pub fn by_phandle(&self, ph: u32) -> Option<usize> {
        self.phandles.get(&ph).copied()
    }

    /// The node's own phandle.
    pub fn phandle_of(&self, i: usize) -> Option<u32> {
        self.u32_prop(i, "phandle")
            .or_else(|| self.u32_prop(i, "linux,phandle"))
    }

    pub fn max_phandle(&self) -> u32 {
        self.phandles.keys().next_back().copied().unwrap_or(0)
    }

    pub fn by_path(&self, path: &str) -> Option<usize> {
        let path = if path.len() > 1 {
            path.trim_end_matches('/')
        } else {
            path
        };
        self.nodes.iter().position(|n| n.path == path)
    }

    /// Resolves a phandle held by `prop` of node `i`, or says it dangles.
    pub fn resolve(&self, i: usize, prop: &'static str, ph: u32) -> Result<usize, TreeError> {
        self.by_phandle(ph)
            .ok_or_else(|| TreeError::DanglingPhandle {
                node: String::from(self.path(i)),
                prop,
                phandle: ph,
            })
    }

    /// `true` if `i` is `a` or lies below it.
    pub fn is_within(&self, mut i: usize, a: usize) -> bool {
        loop {
            if i == a {
                return true;
            }
            match self.parent(i) {
                Some(p) => i = p,
                None => return false,
            }
        }
    }

    /// `#address-cells` a node gives its children (default 2). Cell counts are
    /// capped at [`MAX_CELLS`] so arithmetic on them cannot overflow; a tree
    /// with more simply fails to decode.
    pub fn address_cells(&self, i: usize) -> usize {
        self.cell_count(i, "#address-cells").unwrap_or(2)
    }

    /// `#size-cells` a node gives its children (default 1).
    pub fn size_cells(&self, i: usize) -> usize {
        self.cell_count(i, "#size-cells").unwrap_or(1)
    }

    /// A `#...-cells` property, capped at [`MAX_CELLS`].
    pub fn cell_count(&self, i: usize, name: &str) -> Option<usize> {
        self.u32_prop(i, name).map(|c| (c as usize).min(MAX_CELLS))
    }

    /// `status` of this node and all its ancestors is absent or "okay".
    pub fn is_available(&self, i: usize) -> bool {
        let mut at = Some(i);
        while let Some(n) = at {
            if !matches!(self.str_prop(n, "status"), None | Some("okay") | Some("ok")) {
                return false;
            }
            at = self.parent(n);
        }
        true
    }
}

pub fn bad(node: &str, prop: &'static str, why: &'static str) -> TreeError {
    TreeError::BadProperty {
        node: String::from(node),
        prop,
        why,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{EXYNOS5250_SNOW_DTB, QEMU_VIRT_SMMUV3_DTB};
    use crate::{HostTree, Region};

    #[test]
    fn paths_phandles_and_translation() {
        let t = HostTree::new(EXYNOS5250_SNOW_DTB).unwrap();
        let x = t.index();
        assert_eq!(x.path(0), "/");
        let mixer = x.by_path("/soc/mixer@14450000").unwrap();
        assert_eq!(
            x.mmio(mixer).unwrap()[0],
            Region {
                base: 0x1445_0000,
                size: 0x10000
            }
        );
        let ph = x.u32_prop(mixer, "iommus").unwrap();
        assert!(x
            .path(x.by_phandle(ph).unwrap())
            .starts_with("/soc/sysmmu@"));
        // i2c children are not memory-mapped.
        let i2c_child = x
            .nodes
            .iter()
            .position(|n| n.path.starts_with("/soc/i2c@12c60000/"))
            .unwrap();
        assert_eq!(x.mmio(i2c_child), Some(Vec::new()));
    }

    #[test]
    fn pci_windows() {
        let t = HostTree::new(QEMU_VIRT_SMMUV3_DTB).unwrap();
        let x = t.index();
        let pcie = x.by_path("/pcie@10000000").unwrap();
        let w = x.range_windows(pcie);
        assert_eq!(
            w[0],
            Region {
                base: 0x3eff_0000,
                size: 0x10000
            }
        );
        assert_eq!(
            w[1],
            Region {
                base: 0x1000_0000,
                size: 0x2eff_0000
            }
        );
        assert_eq!(x.untranslate(0, 0x0800_0000), Some(0x0800_0000));
    }
}
