//! Stage-2 translation tables for a guest (LPAE, 40-bit IPA space as Xen arm32
//! uses, walks starting at level 1 in two concatenated tables). Pure: builds descriptors in tables allocated from the heap;
//! `guest.rs` points VTTBR at them. Uses 1 GiB, 2 MiB or 4 KiB mappings,
//! whichever the alignment allows; single pages can later be replaced or
//! removed (Xen grant maps, ballooning), splitting the blocks around them.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

use arbitrary_int::{u2, u4};

use super::lpae::{descriptor, Descriptor, Table, DESCRIPTOR};
use super::sysreg::{Vtcr, WalkCache, WalkShare};

/// Bits of IPA a guest has: 40, so RAM anywhere a Cortex-A15 can address
/// (its PA is 40 bits) is mapped 1:1.
pub const IPA_BITS: u32 = 40;

/// VTCR (ARM ARM B4.1.159): T0SZ = -8 (a signed 4-bit field: 0b1000, with the
/// S bit equal to its top bit) for a 40-bit IPA; SL0 = 1 (start at level 1,
/// which then has 1024 entries: two concatenated 4 KiB tables); walks inner/outer
/// write-back write-allocate, inner shareable.
pub const VTCR: Vtcr = Vtcr::DEFAULT
    .with_t0sz(u4::new(0b1000))
    .with_s(true)
    .with_sl0(u2::new(1))
    .with_irgn0(WalkCache::WriteBackAllocate)
    .with_orgn0(WalkCache::WriteBackAllocate)
    .with_sh0(WalkShare::InnerShareable);

/// Descriptor bits (the fields: [`DESCRIPTOR`]).
const VALID: u64 = DESCRIPTOR::VALID::SET.value;
const TABLE_OR_PAGE: u64 = DESCRIPTOR::TABLE_OR_PAGE::SET.value;
/// S2AP[1]: write access (S2AP = 0b01 is read-only).
const S2AP_W: u64 = DESCRIPTOR::S2AP_WRITE::SET.value;
/// Output address bits 39:12: a Cortex-A15's 40-bit physical addresses.
const ADDR_MASK: u64 = 0x0000_00ff_ffff_f000;

/// What a guest mapping is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S2Mem {
    /// Normal memory, write-back cacheable (RAM).
    Ram,
    /// Device-nGnRE, execute-never (MMIO passed through).
    Device,
}

impl S2Mem {
    /// The descriptor's attributes: read/write, access flag set.
    fn attrs(self) -> u64 {
        use DESCRIPTOR::*;
        let rw = S2AP_READ::SET + S2AP_WRITE::SET + AF::SET;
        descriptor(match self {
            S2Mem::Ram => rw + MEM_ATTR::NormalWriteBack + SH::InnerShareable,
            S2Mem::Device => rw + MEM_ATTR::Device + XN::SET,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    Unaligned { ipa: u64, size: u64 },
    OutOfRange { ipa: u64, size: u64 },
    AlreadyMapped { ipa: u64 },
}

impl fmt::Display for MapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MapError::Unaligned { ipa, size } => {
                write!(f, "stage-2 map {ipa:#x}+{size:#x} not page aligned")
            }
            MapError::OutOfRange { ipa, size } => write!(
                f,
                "stage-2 map {ipa:#x}+{size:#x} beyond the {IPA_BITS}-bit IPA space"
            ),
            MapError::AlreadyMapped { ipa } => write!(f, "stage-2 IPA {ipa:#x} is already mapped"),
        }
    }
}

const LEVEL_SHIFT: [u32; 3] = [30, 21, 12];

/// The level-1 table: two concatenated 4 KiB tables, aligned to their size
/// (IPA bit 39 picks the table).
#[repr(C, align(8192))]
struct Root([Table; 2]);

/// Which of the root's two tables translates `ipa`.
fn root_half(ipa: u64) -> usize {
    ((ipa >> 39) & 1) as usize
}

/// A guest's stage-2 tables. Tables are never freed while the guest lives.
pub struct Stage2 {
    root: Box<Root>,
    tables: Vec<Box<Table>>,
    addr_of: fn(&Table) -> u64,
}

impl Stage2 {
    /// `addr_of` gives a table's physical address (identity on the target).
    pub fn new(addr_of: fn(&Table) -> u64) -> Self {
        Stage2 {
            root: Box::new(Root([Table([0; 512]), Table([0; 512])])),
            tables: Vec::new(),
            addr_of,
        }
    }

    /// Physical address of the level-1 tables, for VTTBR.
    pub fn root_pa(&self) -> u64 {
        (self.addr_of)(&self.root.0[0])
    }

    /// The level-1 table that translates `ipa`.
    fn l1(&self, ipa: u64) -> &Table {
        &self.root.0[root_half(ipa)]
    }

    fn l1_pa(&self, ipa: u64) -> u64 {
        (self.addr_of)(self.l1(ipa))
    }

    fn table_mut(&mut self, pa: u64) -> Option<&mut Table> {
        let addr_of = self.addr_of;
        if let Some(t) = self.root.0.iter_mut().find(|t| addr_of(t) == pa) {
            return Some(t);
        }
        self.tables
            .iter_mut()
            .find(|t| addr_of(t) == pa)
            .map(|b| &mut **b)
    }

    /// Maps [ipa, ipa+size) to [pa, pa+size).
    pub fn map(&mut self, ipa: u64, pa: u64, size: u64, mem: S2Mem) -> Result<(), MapError> {
        if (ipa | pa | size) & 0xfff != 0 {
            return Err(MapError::Unaligned { ipa, size });
        }
        if ipa.checked_add(size).is_none_or(|e| e > 1 << IPA_BITS) {
            return Err(MapError::OutOfRange { ipa, size });
        }
        let (mut ipa, mut pa, end) = (ipa, pa, ipa + size);
        while ipa < end {
            // The largest block that is aligned and fits.
            let level = (0..3)
                .find(|&l| {
                    let b = 1u64 << LEVEL_SHIFT[l];
                    ipa % b == 0 && pa % b == 0 && end - ipa >= b
                })
                .unwrap_or(2);
            self.set_leaf(ipa, pa, level, mem)?;
            let step = 1u64 << LEVEL_SHIFT[level];
            ipa += step;
            pa += step;
        }
        Ok(())
    }

    fn set_leaf(&mut self, ipa: u64, pa: u64, level: usize, mem: S2Mem) -> Result<(), MapError> {
        let mut table_pa = self.l1_pa(ipa);
        for (l, shift) in LEVEL_SHIFT.iter().enumerate().take(level + 1) {
            let idx = ((ipa >> shift) & 0x1ff) as usize;
            if l == level {
                let t = self.table_mut(table_pa).expect("table of this Stage2");
                if t.0[idx] & VALID != 0 {
                    return Err(MapError::AlreadyMapped { ipa });
                }
                // Level 3 entries are "pages" (bit 1 set); blocks at 1 and 2 have it clear.
                let kind = if level == 2 { TABLE_OR_PAGE } else { 0 };
                t.0[idx] = pa | mem.attrs() | kind | VALID;
                return Ok(());
            }
            let d = self.table_mut(table_pa).expect("table of this Stage2").0[idx];
            table_pa = if d & VALID == 0 {
                let new = Table::new_boxed();
                let new_pa = (self.addr_of)(&new);
                self.tables.push(new);
                self.table_mut(table_pa).expect("table of this Stage2").0[idx] =
                    new_pa | TABLE_OR_PAGE | VALID;
                new_pa
            } else if d & TABLE_OR_PAGE != 0 {
                d & ADDR_MASK
            } else {
                return Err(MapError::AlreadyMapped { ipa });
            };
        }
        unreachable!("loop returns at the leaf level")
    }

    /// Translates an IPA: (PA, memory type), or None if unmapped.
    pub fn lookup(&self, ipa: u64) -> Option<(u64, S2Mem)> {
        if ipa >> IPA_BITS != 0 {
            return None;
        }
        let addr_of = self.addr_of;
        let mut t: &Table = self.l1(ipa);
        for (l, shift) in LEVEL_SHIFT.iter().enumerate() {
            let d = t.0[((ipa >> shift) & 0x1ff) as usize];
            if d & VALID == 0 {
                return None;
            }
            let is_table = l < 2 && d & TABLE_OR_PAGE != 0;
            if !is_table {
                let mask = (1u64 << shift) - 1;
                let mem = if Descriptor::new(d).matches_all(DESCRIPTOR::MEM_ATTR::NormalWriteBack) {
                    S2Mem::Ram
                } else {
                    S2Mem::Device
                };
                return Some(((d & ADDR_MASK & !mask) | (ipa & mask), mem));
            }
            let pa = d & ADDR_MASK;
            t = self.tables.iter().find(|x| addr_of(x) == pa)?;
        }
        None
    }

    /// Number of tables in use (for the boot report).
    pub fn table_count(&self) -> usize {
        1 + self.tables.len()
    }

    /// The translation of `ipa` with its access rights, or None if unmapped.
    pub fn entry(&self, ipa: u64) -> Option<S2Entry> {
        let (pa, mem) = self.lookup(ipa)?;
        let d = self.leaf_descriptor(ipa)?;
        Some(S2Entry {
            pa,
            mem,
            writable: d & S2AP_W != 0,
        })
    }

    fn leaf_descriptor(&self, ipa: u64) -> Option<u64> {
        let addr_of = self.addr_of;
        let mut t: &Table = self.l1(ipa);
        for (l, shift) in LEVEL_SHIFT.iter().enumerate() {
            let d = t.0[((ipa >> shift) & 0x1ff) as usize];
            if d & VALID == 0 || l == 2 || d & TABLE_OR_PAGE == 0 {
                return (d & VALID != 0).then_some(d);
            }
            t = self.tables.iter().find(|x| addr_of(x) == d & ADDR_MASK)?;
        }
        None
    }

    /// Maps the 4 KiB page at `ipa` to `pa`, replacing whatever was mapped
    /// there (a block around it is split into smaller mappings first, keeping
    /// the rest of the block as it was). Returns the previous translation.
    ///
    /// The caller must invalidate the guest's TLB entries (TLBIALLNSNH)
    /// before the guest, or an address-translation operation, uses stage 2
    /// again: a split replaces a block that may still be cached.
    pub fn map_page(
        &mut self,
        ipa: u64,
        pa: u64,
        mem: S2Mem,
        writable: bool,
    ) -> Result<Option<S2Entry>, MapError> {
        Self::check_page(ipa, pa)?;
        let old = self.entry(ipa);
        let t = self
            .leaf_table(ipa, true)?
            .ok_or(MapError::OutOfRange { ipa, size: 0x1000 })?;
        let mut attrs = mem.attrs();
        if !writable {
            attrs &= !S2AP_W;
        }
        let idx = ((ipa >> 12) & 0x1ff) as usize;
        self.table_mut(t).expect("table of this Stage2").0[idx] =
            pa | attrs | TABLE_OR_PAGE | VALID;
        Ok(old)
    }

    /// Removes the 4 KiB page at `ipa` (splitting a block around it), leaving
    /// a hole. Returns what was mapped. Same TLB rule as [`Self::map_page`].
    pub fn unmap_page(&mut self, ipa: u64) -> Result<Option<S2Entry>, MapError> {
        Self::check_page(ipa, 0)?;
        let Some(old) = self.entry(ipa) else {
            return Ok(None);
        };
        if let Some(t) = self.leaf_table(ipa, false)? {
            let idx = ((ipa >> 12) & 0x1ff) as usize;
            self.table_mut(t).expect("table of this Stage2").0[idx] = 0;
        }
        Ok(Some(old))
    }

    /// How many tables [`Self::map_page`] or [`Self::unmap_page`] at `ipa`
    /// may have to allocate (0 to 2), so that a caller can keep a budget.
    pub fn tables_needed(&self, ipa: u64) -> usize {
        let l1 = self.l1(ipa).0[((ipa >> LEVEL_SHIFT[0]) & 0x1ff) as usize];
        if l1 & VALID == 0 || l1 & TABLE_OR_PAGE == 0 {
            return 2;
        }
        let addr_of = self.addr_of;
        let Some(t) = self.tables.iter().find(|t| addr_of(t) == l1 & ADDR_MASK) else {
            return 2;
        };
        let l2 = t.0[((ipa >> LEVEL_SHIFT[1]) & 0x1ff) as usize];
        usize::from(l2 & VALID == 0 || l2 & TABLE_OR_PAGE == 0)
    }

    fn check_page(ipa: u64, pa: u64) -> Result<(), MapError> {
        if (ipa | pa) & 0xfff != 0 {
            return Err(MapError::Unaligned { ipa, size: 0x1000 });
        }
        if ipa >> IPA_BITS != 0 || pa > ADDR_MASK {
            return Err(MapError::OutOfRange { ipa, size: 0x1000 });
        }
        Ok(())
    }

    /// The level-3 table covering `ipa`: walks down, creating missing tables
    /// if `create` (else `None` at the first hole) and splitting blocks.
    fn leaf_table(&mut self, ipa: u64, create: bool) -> Result<Option<u64>, MapError> {
        let mut table_pa = self.l1_pa(ipa);
        for l in 0..2 {
            let idx = ((ipa >> LEVEL_SHIFT[l]) & 0x1ff) as usize;
            let d = self.table_mut(table_pa).expect("table of this Stage2").0[idx];
            let next = if d & VALID == 0 {
                if !create {
                    return Ok(None);
                }
                self.new_table(|_| 0)
            } else if d & TABLE_OR_PAGE != 0 {
                table_pa = d & ADDR_MASK;
                continue;
            } else {
                // A block: the same mappings one level down.
                let shift = LEVEL_SHIFT[l + 1];
                let base = d & ADDR_MASK & !((1u64 << LEVEL_SHIFT[l]) - 1);
                let attrs = d & !ADDR_MASK & !TABLE_OR_PAGE;
                let kind = if l + 1 == 2 { TABLE_OR_PAGE } else { 0 };
                self.new_table(|i| (base + ((i as u64) << shift)) | attrs | kind)
            };
            self.table_mut(table_pa).expect("table of this Stage2").0[idx] =
                next | TABLE_OR_PAGE | VALID;
            table_pa = next;
        }
        Ok(Some(table_pa))
    }

    fn new_table(&mut self, fill: impl Fn(usize) -> u64) -> u64 {
        let mut t = Table::new_boxed();
        for (i, e) in t.0.iter_mut().enumerate() {
            *e = fill(i);
        }
        let pa = (self.addr_of)(&t);
        self.tables.push(t);
        pa
    }
}

/// A stage-2 translation and its rights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct S2Entry {
    pub pa: u64,
    pub mem: S2Mem,
    pub writable: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Host pointers are 47-bit; descriptors hold 40. Heap tables are close
    /// together, so the low 40 bits still tell them apart.
    fn addr(t: &Table) -> u64 {
        t as *const Table as u64 & ADDR_MASK
    }

    #[test]
    fn ram_uses_large_blocks_devices_pages() {
        let mut s = Stage2::new(addr);
        s.map(0x40a0_0000, 0x40a0_0000, 0x3f60_0000, S2Mem::Ram)
            .unwrap();
        s.map(0x0900_0000, 0x0900_0000, 0x1000, S2Mem::Device)
            .unwrap();
        assert_eq!(s.lookup(0x40a0_0123), Some((0x40a0_0123, S2Mem::Ram)));
        assert_eq!(s.lookup(0x7fff_fffc), Some((0x7fff_fffc, S2Mem::Ram)));
        assert_eq!(s.lookup(0x4090_0000), None);
        assert_eq!(s.lookup(0x0900_0ffc), Some((0x0900_0ffc, S2Mem::Device)));
        assert_eq!(s.lookup(0x0900_1000), None);
        // 0x40a0_0000..0x8000_0000: one L2 table of 2 MiB blocks; the device: L2 + L3.
        assert_eq!(s.table_count(), 1 + 1 + 2);
    }

    #[test]
    fn ram_above_4_gib_and_the_second_root_table() {
        let mut s = Stage2::new(addr);
        // QEMU virt with -m 4096: one bank across the 4 GiB line.
        s.map(
            0x40a0_0000,
            0x40a0_0000,
            0x1_4000_0000 - 0x40a0_0000,
            S2Mem::Ram,
        )
        .unwrap();
        assert_eq!(s.lookup(0x1_3fff_fff0), Some((0x1_3fff_fff0, S2Mem::Ram)));
        assert_eq!(s.lookup(0xffff_f000), Some((0xffff_f000, S2Mem::Ram)));
        assert_eq!(s.lookup(0x1_4000_0000), None);
        // QEMU's high PCIe window, 0x80_0000_0000-0xff_ffff_ffff: IPA bit 39,
        // the second concatenated root table.
        s.map(
            0x80_0000_0000,
            0x80_0000_0000,
            0x80_0000_0000,
            S2Mem::Device,
        )
        .unwrap();
        assert_eq!(
            s.lookup(0xff_ffff_fffc),
            Some((0xff_ffff_fffc, S2Mem::Device))
        );
        assert_eq!(s.lookup(0x7f_ffff_f000), None);
        assert_eq!(s.lookup(1 << 40), None);
        s.unmap_page(0x90_0000_0000).unwrap();
        assert_eq!(s.lookup(0x90_0000_0000), None);
        assert_eq!(
            s.lookup(0x90_0000_1000),
            Some((0x90_0000_1000, S2Mem::Device))
        );
        assert_eq!(
            s.root_pa() % 8192,
            0,
            "concatenated root aligned to its size"
        );
        // VTCR: T0SZ -8 with S set (40-bit), SL0 = 1.
        assert_eq!(VTCR.raw_value() & 0x1f, 0b1_1000);
        assert_eq!((VTCR.raw_value() >> 6) & 3, 1);
        assert_eq!(
            VTCR.raw_value(),
            (1 << 31) | (3 << 12) | (1 << 10) | (1 << 8) | (1 << 6) | 0b1_1000
        );
    }

    #[test]
    fn descriptor_encodings() {
        // B3.6.2 stage-2 attributes: MemAttr [5:2], S2AP [7:6], SH [9:8],
        // AF [10], XN [54].
        assert_eq!(
            S2Mem::Ram.attrs(),
            (0xf << 2) | (3 << 6) | (3 << 8) | (1 << 10)
        );
        assert_eq!(
            S2Mem::Device.attrs(),
            (1 << 2) | (3 << 6) | (1 << 10) | (1 << 54)
        );
        assert_eq!((VALID, TABLE_OR_PAGE, S2AP_W), (1, 2, 1 << 7));
    }

    #[test]
    fn gib_block_and_non_identity() {
        let mut s = Stage2::new(addr);
        s.map(0x8000_0000, 0x4000_0000, 1 << 30, S2Mem::Ram)
            .unwrap();
        assert_eq!(s.table_count(), 1);
        assert_eq!(s.lookup(0x8000_1234), Some((0x4000_1234, S2Mem::Ram)));
    }

    #[test]
    fn map_page_splits_a_2m_block() {
        let mut s = Stage2::new(addr);
        s.map(0x4000_0000, 0x4000_0000, 0x40_0000, S2Mem::Ram)
            .unwrap();
        let before = s.table_count();
        let old = s
            .map_page(0x4020_3000, 0x9000_0000, S2Mem::Ram, false)
            .unwrap();
        assert_eq!(
            old,
            Some(S2Entry {
                pa: 0x4020_3000,
                mem: S2Mem::Ram,
                writable: true
            })
        );
        assert_eq!(
            s.table_count(),
            before + 1,
            "one L3 table for the split block"
        );
        assert_eq!(
            s.entry(0x4020_3abc),
            Some(S2Entry {
                pa: 0x9000_0abc,
                mem: S2Mem::Ram,
                writable: false
            })
        );
        // The rest of the split block and the other block are unchanged.
        for ipa in [
            0x4020_0000,
            0x4020_2ffc,
            0x4020_4000,
            0x403f_f000,
            0x4000_0000,
        ] {
            assert_eq!(s.lookup(ipa), Some((ipa, S2Mem::Ram)), "{ipa:#x}");
            assert!(s.entry(ipa).unwrap().writable);
        }
        // Splitting again in the same block reuses the table.
        s.unmap_page(0x4020_5000).unwrap();
        assert_eq!(s.table_count(), before + 1);
        assert_eq!(s.lookup(0x4020_5000), None);
        assert_eq!(s.lookup(0x4020_6000), Some((0x4020_6000, S2Mem::Ram)));
    }

    #[test]
    fn map_page_splits_a_1g_block_twice() {
        let mut s = Stage2::new(addr);
        s.map(0x4000_0000, 0x4000_0000, 1 << 30, S2Mem::Ram)
            .unwrap();
        assert_eq!(s.table_count(), 1);
        assert_eq!(s.tables_needed(0x5555_5000), 2);
        assert_eq!(
            s.unmap_page(0x5555_5000).unwrap().map(|e| e.pa),
            Some(0x5555_5000)
        );
        assert_eq!(
            s.table_count(),
            3,
            "L2 from the 1 GiB block, L3 from a 2 MiB one"
        );
        assert_eq!(s.tables_needed(0x5555_6000), 0);
        assert_eq!(s.tables_needed(0x5565_6000), 1);
        assert_eq!(s.lookup(0x5555_5000), None);
        assert_eq!(s.lookup(0x5555_4fff), Some((0x5555_4fff, S2Mem::Ram)));
        assert_eq!(s.lookup(0x7fff_f000), Some((0x7fff_f000, S2Mem::Ram)));
        assert_eq!(s.lookup(0x4000_0000), Some((0x4000_0000, S2Mem::Ram)));
        // Put the page back: the hole is gone.
        assert_eq!(
            s.map_page(0x5555_5000, 0x5555_5000, S2Mem::Ram, true)
                .unwrap(),
            None
        );
        assert_eq!(s.lookup(0x5555_5010), Some((0x5555_5010, S2Mem::Ram)));
    }

    #[test]
    fn map_page_in_a_hole_and_errors() {
        let mut s = Stage2::new(addr);
        assert_eq!(s.unmap_page(0xfff0_0000), Ok(None));
        assert_eq!(s.table_count(), 1, "unmapping a hole allocates nothing");
        s.map_page(0xfff0_0000, 0x4123_4000, S2Mem::Ram, true)
            .unwrap();
        assert_eq!(s.lookup(0xfff0_0008), Some((0x4123_4008, S2Mem::Ram)));
        assert_eq!(s.lookup(0xfff0_1000), None);
        assert!(matches!(
            s.map_page(1 << 40, 0, S2Mem::Ram, true),
            Err(MapError::OutOfRange { .. })
        ));
        assert!(matches!(
            s.map_page(0x1000, 0x123, S2Mem::Ram, true),
            Err(MapError::Unaligned { .. })
        ));
        assert!(matches!(
            s.unmap_page(1 << 40),
            Err(MapError::OutOfRange { .. })
        ));
        // Device pages keep their type when a neighbour is replaced.
        s.map(0x0900_0000, 0x0900_0000, 0x20_0000, S2Mem::Device)
            .unwrap();
        s.unmap_page(0x0900_1000).unwrap();
        assert_eq!(s.lookup(0x0900_2000), Some((0x0900_2000, S2Mem::Device)));
    }

    #[test]
    fn errors() {
        let mut s = Stage2::new(addr);
        assert_eq!(
            s.map(0x1001, 0x1001, 0x1000, S2Mem::Device),
            Err(MapError::Unaligned {
                ipa: 0x1001,
                size: 0x1000
            })
        );
        assert!(matches!(
            s.map(0xff_ffff_f000, 0, 0x2000, S2Mem::Device),
            Err(MapError::OutOfRange { .. })
        ));
        s.map(0x4000_0000, 0x4000_0000, 0x20_0000, S2Mem::Ram)
            .unwrap();
        assert_eq!(
            s.map(0x4000_0000, 0x4000_0000, 0x1000, S2Mem::Device),
            Err(MapError::AlreadyMapped { ipa: 0x4000_0000 })
        );
    }
}
