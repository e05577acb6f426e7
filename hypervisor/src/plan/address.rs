//! The address arithmetic of the binding on a [`NodeIndex`]: `reg` decoding
//! with the parent's cell sizes and translation of bus addresses through the
//! parents' `ranges`, both ways.

use alloc::vec::Vec;

use super::index::{be_cells, fold_cells, NodeIndex};
use crate::dt::Region;

impl NodeIndex<'_> {
    /// `reg` entries as (bus address, size) in the parent's address space.
    /// `None` if the property does not decode with the parent's cell sizes;
    /// entries wider than 64 bits (PCI's 3-cell addresses) are left out.
    pub fn reg(&self, i: usize) -> Option<Vec<(u64, u64)>> {
        let Some(v) = self.prop(i, "reg") else {
            return Some(Vec::new());
        };
        let p = self.parent(i)?;
        let (ac, sc) = (self.address_cells(p), self.size_cells(p));
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
    pub fn translate(&self, mut bus: usize, mut addr: u64) -> Option<u64> {
        let mut hops = 0;
        while let Some(pp) = self.parent(bus) {
            hops += 1;
            if hops > 64 {
                return None;
            }
            let ranges = self.prop(bus, "ranges")?;
            if !ranges.is_empty() {
                addr = self
                    .ranges(bus)?
                    .into_iter()
                    .find_map(|(child, parent, size)| {
                        let off = addr.checked_sub(child)?;
                        (off < size).then_some(parent.checked_add(off)?)
                    })?;
            }
            bus = pp;
        }
        Some(addr)
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
