//! The one address translator (Devicetree Specification v0.4, 2.3.6 `reg`,
//! 2.3.8 `ranges`) on a [`NodeIndex`]: `reg` decoding with the parent's cell
//! sizes and translation of bus addresses through every parent's `ranges`, both
//! ways. The boot path ([`super::HostTree`]), the plan and the Dom0 writer all
//! read addresses through it, so they agree on every tree.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::index::{be_cells, fold_cells, NodeIndex};
use crate::Region;

/// Why a node's `reg` has no CPU physical address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TranslateError {
    /// `reg` does not decode with the parent's `#address-cells`/`#size-cells`
    /// (or an entry is wider than 64 bits).
    BadReg { node: String },
    /// `bus` (an ancestor) has no `ranges`: its children's addresses are not
    /// memory-mapped (i2c, spi, ...).
    NotMemoryMapped { node: String, bus: String },
    /// No entry of `bus`'s `ranges` covers `addr` (or `ranges` does not decode).
    OutsideRanges {
        node: String,
        bus: String,
        addr: u64,
    },
}

impl fmt::Display for TranslateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TranslateError::BadReg { node } => write!(
                f,
                "{node}: reg does not match its parent's #address-cells/#size-cells"
            ),
            TranslateError::NotMemoryMapped { node, bus } => write!(
                f,
                "{node}: reg cannot be translated: {bus} has no ranges (not memory-mapped)"
            ),
            TranslateError::OutsideRanges { node, bus, addr } => write!(
                f,
                "{node}: reg cannot be translated: address {addr:#x} lies in no entry of {bus}'s ranges"
            ),
        }
    }
}

impl NodeIndex<'_> {
    /// `reg` entries as (bus address, size) in the parent's address space.
    /// `None` if the property does not decode with the parent's cell sizes;
    /// entries wider than 64 bits (PCI's 3-cell addresses) are left out.
    pub fn reg(&self, i: usize) -> Option<Vec<(u64, u64)>> {
        let p = self.parent(i)?;
        self.reg_with(i, self.address_cells(p), self.size_cells(p))
    }

    /// `reg` decoded with explicit cell sizes (`/chosen` modules written with
    /// the root's): `None` if it does not decode, entries wider than 64 bits
    /// left out.
    pub fn reg_with(&self, i: usize, ac: usize, sc: usize) -> Option<Vec<(u64, u64)>> {
        let Some(v) = self.prop(i, "reg") else {
            return Some(Vec::new());
        };
        let entry = (ac + sc) * 4;
        if entry == 0 || !v.len().is_multiple_of(entry) {
            return None;
        }
        let cells: Vec<u32> = be_cells(v).collect();
        Some(
            cells
                .chunks_exact(ac + sc)
                .filter_map(|e| Some((fold_cells(e.get(..ac)?)?, fold_cells(e.get(ac..)?)?)))
                .collect(),
        )
    }

    /// Translates `addr` from the address space `bus` gives its children up to
    /// the CPU's. `None` if a bus on the way has no `ranges` (not memory-mapped,
    /// as i2c or spi) or no range covers the address.
    pub fn translate(&self, bus: usize, addr: u64) -> Option<u64> {
        self.translate_or_why(bus, addr).ok()
    }

    /// [`Self::translate`], or the bus at fault and whether it lacks `ranges`
    /// (`true`) or no entry covers the address (`false`).
    fn translate_or_why(&self, mut bus: usize, mut addr: u64) -> Result<u64, (usize, bool)> {
        let mut hops = 0;
        while let Some(pp) = self.parent(bus) {
            hops += 1;
            if hops > 64 {
                return Err((bus, false));
            }
            let ranges = self.prop(bus, "ranges").ok_or((bus, true))?;
            if !ranges.is_empty() {
                addr = self
                    .ranges(bus)
                    .and_then(|r| {
                        r.into_iter().find_map(|(child, parent, size)| {
                            let off = addr.checked_sub(child)?;
                            (off < size).then_some(parent.checked_add(off)?)
                        })
                    })
                    .ok_or((bus, false))?;
            }
            bus = pp;
        }
        Ok(addr)
    }

    /// Every `reg` entry of node `i` as a CPU physical region, in order (zero
    /// sizes kept), or what stops one of them from being translated. This is
    /// what the boot path uses for the devices it drives.
    pub fn cpu_regs(&self, i: usize) -> Result<Vec<Region>, TranslateError> {
        let node = || String::from(self.path(i));
        let bad = || TranslateError::BadReg { node: node() };
        let p = self.parent(i).ok_or_else(bad)?;
        let reg = self.reg(i).ok_or_else(bad)?;
        let cells = self.address_cells(p) + self.size_cells(p);
        if reg.len() * cells * 4 != self.prop(i, "reg").map_or(0, <[u8]>::len) {
            return Err(bad());
        }
        reg.into_iter()
            .map(|(addr, size)| {
                let base = self.translate_or_why(p, addr).map_err(|(b, no_ranges)| {
                    let bus = String::from(self.path(b));
                    if no_ranges {
                        TranslateError::NotMemoryMapped { node: node(), bus }
                    } else {
                        TranslateError::OutsideRanges {
                            node: node(),
                            bus,
                            addr,
                        }
                    }
                })?;
                Ok(Region { base, size })
            })
            .collect()
    }

    /// The inverse of [`Self::translate`]: a CPU address as seen on `bus`.
    pub fn untranslate(&self, bus: usize, addr: u64) -> Option<u64> {
        let mut chain = Vec::new();
        let mut at = bus;
        while let Some(p) = self.parent(at) {
            chain.push(at);
            at = p;
            if chain.len() > 64 {
                return None;
            }
        }
        let mut addr = addr;
        for &b in chain.iter().rev() {
            let ranges = self.prop(b, "ranges")?;
            if !ranges.is_empty() {
                addr = self
                    .ranges(b)?
                    .into_iter()
                    .find_map(|(child, parent, size)| {
                        let off = addr.checked_sub(parent)?;
                        (off < size).then_some(child.checked_add(off)?)
                    })?;
            }
        }
        Some(addr)
    }

    /// `ranges` of `bus` as (child, parent, size); child sides wider than 64 bits
    /// are cut to their low 64 (PCI: the space code in the top cell is dropped).
    fn ranges(&self, bus: usize) -> Option<Vec<(u64, u64, u64)>> {
        let v = self.prop(bus, "ranges")?;
        let pp = self.parent(bus)?;
        let (cac, pac, sc) = (
            self.address_cells(bus),
            self.address_cells(pp),
            self.size_cells(bus),
        );
        let entry = cac + pac + sc;
        if entry == 0 || !v.len().is_multiple_of(entry * 4) {
            return None;
        }
        let cells: Vec<u32> = be_cells(v).collect();
        Some(
            cells
                .chunks_exact(entry)
                .filter_map(|e| {
                    let child = e.get(cac.saturating_sub(2)..cac)?;
                    let parent = fold_cells(e.get(cac..cac + pac)?)?;
                    Some((fold_cells(child)?, parent, fold_cells(e.get(cac + pac..)?)?))
                })
                .collect(),
        )
    }

    /// The CPU-side windows of a bus's `ranges` (a PCI host's MMIO and I/O space).
    pub fn range_windows(&self, bus: usize) -> Vec<Region> {
        let Some(pp) = self.parent(bus) else {
            return Vec::new();
        };
        self.ranges(bus)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(_, parent, size)| {
                Some(Region {
                    base: self.translate(pp, parent)?,
                    size,
                })
            })
            .collect()
    }

    /// `reg` translated to CPU physical addresses: `None` when `reg` does not
    /// decode, an empty list when the node is not memory-mapped.
    pub fn mmio(&self, i: usize) -> Option<Vec<Region>> {
        let p = self.parent(i)?;
        Some(
            self.reg(i)?
                .into_iter()
                .filter(|&(_, size)| size > 0)
                .filter_map(|(addr, size)| {
                    Some(Region {
                        base: self.translate(p, addr)?,
                        size,
                    })
                })
                .collect(),
        )
    }
}
