//! The free pool: host RAM that no domain holds after boot (what
//! `dom0_mem=` left of Dom0's share), from which the control domain
//! populates the domains it creates (`XENMEM_populate_physmap`), in whole
//! 2 MiB granules (stage-2 blocks), and to which a destroyed domain's RAM
//! goes back.
//!
//! Pure bookkeeping: which granules are free. The kernel scrubs a granule
//! before it maps it into a guest.

use alloc::vec::Vec;

use super::layout::GRANULE;
use snowvisor_dt::Region;

/// Host RAM the pool may hand out: below 4 GiB (HYP's identity map, where
/// snowvisor scrubs it).
const HYP_REACH: u64 = 1 << 32;

/// Free 2 MiB granules of host RAM (see the module documentation).
#[derive(Debug, Default)]
pub struct FreePool {
    /// Base addresses (bytes, 2 MiB aligned) of the free granules, lowest
    /// last: [`FreePool::take`] hands out the lowest.
    free: Vec<u64>,
    /// Granules the pool was given at boot (free or out).
    total: usize,
}

impl FreePool {
    /// The whole 2 MiB granules of `ram` below 4 GiB that overlap nothing in
    /// `used` (snowvisor, reserved memory, every domain's RAM, boot modules).
    pub fn new(ram: &[Region], used: &[Region]) -> Self {
        let mut free = Vec::new();
        for r in ram {
            let mut at = r.base.div_ceil(GRANULE) * GRANULE;
            let end = r.end().min(HYP_REACH);
            while at + GRANULE <= end {
                let g = Region {
                    base: at,
                    size: GRANULE,
                };
                if !used.iter().any(|u| u.overlaps(&g)) {
                    free.push(at);
                }
                at += GRANULE;
            }
        }
        free.sort_unstable_by(|a, b| b.cmp(a));
        free.dedup();
        let total = free.len();
        FreePool { free, total }
    }

    /// A free granule's base (host physical address, bytes), now taken;
    /// `None` when the pool is empty.
    pub fn take(&mut self) -> Option<u64> {
        self.free.pop()
    }

    /// Gives back granule `base` (one [`FreePool::take`] handed out).
    /// Returns false, and keeps nothing, for an address that is not a
    /// granule boundary or is already free.
    pub fn give(&mut self, base: u64) -> bool {
        if !base.is_multiple_of(GRANULE) || self.free.contains(&base) {
            return false;
        }
        let at = self.free.partition_point(|&f| f > base);
        self.free.insert(at, base);
        true
    }

    /// Free granules now.
    pub fn free_granules(&self) -> usize {
        self.free.len()
    }

    /// Free memory now, in 4 KiB pages.
    pub fn free_pages(&self) -> u64 {
        self.free.len() as u64 * (GRANULE >> 12)
    }

    /// Granules the pool was made with.
    pub fn total_granules(&self) -> usize {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: u64 = 1 << 20;

    fn r(base: u64, size: u64) -> Region {
        Region { base, size }
    }

    #[test]
    fn granules_clear_of_what_is_used_and_below_4_gib() {
        let ram = [r(0x4000_0000, 64 * M), r(0xfff0_0000, 64 * M)];
        // 1 MiB into the first granule, and the third granule.
        let used = [r(0x4000_0000, M), r(0x4040_0000 + 4096, 4096)];
        let mut p = FreePool::new(&ram, &used);
        // 64 MiB = 32 granules, 2 used; the second bank crosses 4 GiB: the
        // granule at 0xfff0_0000 is unaligned, nothing below 4 GiB is whole.
        assert_eq!(p.free_granules(), 30);
        assert_eq!(p.total_granules(), 30);
        assert_eq!(p.free_pages(), 30 * 512);
        assert_eq!(p.take(), Some(0x4020_0000), "the lowest free first");
        assert_eq!(p.take(), Some(0x4060_0000), "0x4040_0000 is used");
        assert_eq!(p.free_granules(), 28);
    }

    #[test]
    fn given_back_granules_are_taken_again_and_bad_ones_refused() {
        let mut p = FreePool::new(&[r(0x8000_0000, 8 * M)], &[]);
        let a = p.take().unwrap();
        let b = p.take().unwrap();
        assert_eq!((a, b), (0x8000_0000, 0x8020_0000));
        assert!(!p.give(a + 4096), "not a granule boundary");
        assert!(!p.give(0x8040_0000), "already free");
        assert!(p.give(b));
        assert!(p.give(a));
        assert_eq!(p.free_granules(), 4);
        assert_eq!(p.take(), Some(a));
        let mut all = alloc::vec![a];
        while let Some(g) = p.take() {
            all.push(g);
        }
        assert_eq!(all.len(), 4);
        assert_eq!(p.take(), None);
    }
}
