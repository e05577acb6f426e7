//! Long-descriptor (LPAE) translation tables: descriptor encoding and the layout
//! of snowvisor's own HYP stage-1 map. Pure data; `snowvisor_arch_armv7::mmu`
//! installs it.

use alloc::boxed::Box;
use alloc::vec::Vec;

use arbitrary_int::u3;
use tock_registers::fields::FieldValue;
use tock_registers::{register_bitfields, LocalRegisterCopy};

use crate::sysreg::{Htcr, WalkCache, WalkShare};
use core::ops::Range;

pub const GIB: u64 = 1 << 30;
pub const BLOCK_2M: u64 = 2 << 20;

/// One 4 KiB table of 512 descriptors, aligned as the walker needs.
#[repr(C, align(4096))]
pub struct Table(pub [u64; 512]);

impl Table {
    pub fn new_boxed() -> Box<Table> {
        Box::new(Table([0; 512]))
    }
}

/// Memory types, as indices into HMAIR0 (see [`HMAIR0`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemType {
    /// Normal, inner/outer write-back write-allocate.
    Normal = 0,
    /// Device-nGnRE.
    Device = 1,
}

/// HMAIR0 (B4.1.72): Attr0 = normal memory, inner and outer write-back
/// read/write-allocate (0xff); Attr1 = Device-nGnRE (0x04).
pub const HMAIR0: u32 = u32::from_le_bytes([0xff, 0x04, 0, 0]);
/// HTCR: T0SZ = 0 (4 GiB), walks inner/outer write-back write-allocate,
/// inner shareable.
pub const HTCR: Htcr = Htcr::DEFAULT
    .with_t0sz(u3::new(0))
    .with_irgn0(WalkCache::WriteBackAllocate)
    .with_orgn0(WalkCache::WriteBackAllocate)
    .with_sh0(WalkShare::InnerShareable);

register_bitfields![u64,
    /// A long-descriptor translation table entry (ARM ARM B3.6.1, B3.6.2):
    /// the fields of table, block and page descriptors, stage 1 and stage 2.
    pub DESCRIPTOR [
        VALID OFFSET(0) NUMBITS(1) [],
        /// Levels 1 and 2: a table (1) or a block (0); level 3: a page (1).
        TABLE_OR_PAGE OFFSET(1) NUMBITS(1) [],
        /// Stage 1: AttrIndx, the HMAIR0 attribute (see [`MemType`]).
        ATTR_INDX OFFSET(2) NUMBITS(3) [],
        /// Stage 2: MemAttr.
        MEM_ATTR OFFSET(2) NUMBITS(4) [
            /// Device-nGnRE.
            Device = 0b0001,
            /// Normal, outer and inner write-back.
            NormalWriteBack = 0b1111
        ],
        /// Stage 1 AP[2:1]; 0b01 is read/write at PL2 (AP[1] is
        /// should-be-one for HYP).
        AP OFFSET(6) NUMBITS(2) [
            HypReadWrite = 0b01
        ],
        /// Stage 2 S2AP[0]: reads allowed.
        S2AP_READ OFFSET(6) NUMBITS(1) [],
        /// Stage 2 S2AP[1]: writes allowed.
        S2AP_WRITE OFFSET(7) NUMBITS(1) [],
        SH OFFSET(8) NUMBITS(2) [
            NonShareable = 0b00,
            OuterShareable = 0b10,
            InnerShareable = 0b11
        ],
        /// Access flag.
        AF OFFSET(10) NUMBITS(1) [],
        /// Output address bits 47:12 (bits 47:40 are zero on ARMv7; wider
        /// here so that host tests can use heap pointers as table addresses).
        OUTPUT_ADDR OFFSET(12) NUMBITS(36) [],
        /// Execute-never (stage 1 XN, stage 2 XN).
        XN OFFSET(54) NUMBITS(1) []
    ]
];

/// A descriptor value, field by field.
pub type Descriptor = LocalRegisterCopy<u64, DESCRIPTOR::Register>;

/// `fields` as a descriptor value.
pub fn descriptor(fields: FieldValue<u64, DESCRIPTOR::Register>) -> u64 {
    let mut d = Descriptor::new(0);
    d.write(fields);
    d.get()
}

/// The output address of descriptor `d` (bits 47:12).
pub fn output_address(d: u64) -> u64 {
    d & (DESCRIPTOR::OUTPUT_ADDR.mask << DESCRIPTOR::OUTPUT_ADDR.shift)
}

/// A HYP stage-1 block descriptor for `pa`.
pub fn hyp_block(pa: u64, t: MemType) -> u64 {
    use DESCRIPTOR::*;
    let attrs = AF::SET + AP::HypReadWrite + ATTR_INDX.val(t as u64) + VALID::SET;
    pa | descriptor(match t {
        MemType::Normal => attrs + SH::InnerShareable,
        MemType::Device => attrs + XN::SET,
    })
}

pub fn table_desc(pa: u64) -> u64 {
    pa | descriptor(DESCRIPTOR::TABLE_OR_PAGE::SET + DESCRIPTOR::VALID::SET)
}

/// A HYP stage-1 level-3 page descriptor for RAM at `pa` (the pages of the
/// 2 MiB block that holds the window, where snowvisor's code may run).
pub fn hyp_page(pa: u64) -> u64 {
    hyp_block(pa, MemType::Normal) | descriptor(DESCRIPTOR::TABLE_OR_PAGE::SET)
}

/// The window's descriptor when it shows Dom0's page at `pa`: never executed.
pub fn hyp_window_page(pa: u64) -> u64 {
    hyp_page(pa) | descriptor(DESCRIPTOR::XN::SET)
}

/// Memory type for the block at `base`: normal if it touches RAM. Banks are
/// 2 MiB aligned in practice; a bank edge inside a block still maps it normal,
/// since RAM is what the hypervisor touches there.
fn block_type(base: u64, size: u64, ram: &[Range<u64>]) -> Option<MemType> {
    ram.iter()
        .any(|r| r.start < base + size && base < r.end)
        .then_some(MemType::Normal)
}

/// snowvisor's identity map of the 32-bit physical space: RAM as normal memory in
/// 2 MiB blocks, everything else as device memory (XN) in 1 GiB blocks. HYP's
/// virtual addresses are 32 bits: RAM above 4 GiB is reached through the
/// window, one page of snowvisor's own memory whose mapping is pointed at the
/// page wanted (its 2 MiB block is mapped in 4 KiB pages for that).
pub struct HypMap {
    /// First level: 4 entries used (T0SZ = 0).
    pub l1: Box<Table>,
    pub l2: Vec<Box<Table>>,
    /// The level-3 table holding the window's entry, and the entry's index.
    pub window: Option<(Box<Table>, usize)>,
}

impl HypMap {
    /// `ram` are the host's RAM banks (physical address ranges);
    /// `window` is the page-aligned address of the window page (inside RAM
    /// below 4 GiB); `addr_of` gives the physical address of a table
    /// (identity on the target).
    pub fn build(
        ram: &[Range<u64>],
        window: Option<u64>,
        addr_of: impl Fn(&Table) -> u64,
    ) -> HypMap {
        let mut l1 = Table::new_boxed();
        let mut l2 = Vec::new();
        for gib in 0..4u64 {
            let base = gib * GIB;
            if block_type(base, GIB, ram).is_none() {
                l1.0[gib as usize] = hyp_block(base, MemType::Device);
                continue;
            }
            let mut t = Table::new_boxed();
            for (i, d) in t.0.iter_mut().enumerate() {
                let pa = base + i as u64 * BLOCK_2M;
                *d = hyp_block(pa, block_type(pa, BLOCK_2M, ram).unwrap_or(MemType::Device));
            }
            l1.0[gib as usize] = table_desc(addr_of(&t));
            l2.push(t);
        }
        let window = window.and_then(|va| {
            let t = l2
                .iter_mut()
                .find(|t| addr_of(t) == output_address(l1.0[(va / GIB) as usize]))?;
            let block = va & !(BLOCK_2M - 1);
            let mut l3 = Table::new_boxed();
            for (i, d) in l3.0.iter_mut().enumerate() {
                *d = hyp_page(block + i as u64 * 4096);
            }
            t.0[((va % GIB) / BLOCK_2M) as usize] = table_desc(addr_of(&l3));
            Some((l3, ((va % BLOCK_2M) / 4096) as usize))
        });
        HypMap { l1, l2, window }
    }

    /// The memory type a HYP access to `pa` gets (for tests and reports).
    pub fn lookup(&self, pa: u64, addr_of: impl Fn(&Table) -> u64) -> Option<MemType> {
        let d = self.l1.0.get((pa / GIB) as usize)?;
        let table = |d: u64| Descriptor::new(d).is_set(DESCRIPTOR::TABLE_OR_PAGE);
        let leaf = if !table(*d) {
            *d
        } else {
            let t = self.l2.iter().find(|t| addr_of(t) == output_address(*d))?;
            let d2 = t.0[((pa % GIB) / BLOCK_2M) as usize];
            match &self.window {
                Some((l3, _)) if table(d2) && addr_of(l3) == output_address(d2) => {
                    l3.0[((pa % BLOCK_2M) / 4096) as usize]
                }
                _ => d2,
            }
        };
        match Descriptor::new(leaf).read(DESCRIPTOR::ATTR_INDX) {
            0 => Some(MemType::Normal),
            1 => Some(MemType::Device),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(t: &Table) -> u64 {
        t as *const Table as u64
    }

    fn bank(base: u64, size: u64) -> Range<u64> {
        base..base + size
    }

    #[test]
    fn qemu_virt_map() {
        let ram = [bank(0x4000_0000, 0x4000_0000)];
        let m = HypMap::build(&ram, None, addr);
        assert_eq!(m.l2.len(), 1);
        assert_eq!(m.lookup(0x0900_0000, addr), Some(MemType::Device));
        assert_eq!(m.lookup(0x4000_0000, addr), Some(MemType::Normal));
        assert_eq!(m.lookup(0x7fff_ffff, addr), Some(MemType::Normal));
        assert_eq!(m.lookup(0x8000_0000, addr), Some(MemType::Device));
        // Device blocks are execute-never, RAM is not.
        let xn = |d: u64| Descriptor::new(d).is_set(DESCRIPTOR::XN);
        assert!(xn(m.l1.0[0]));
        assert!(!xn(m.l2[0].0[0]));
    }

    #[test]
    fn snow_map_splits_partial_gib() {
        // 2 GiB from 0x4000_0000: GiB 1 and 2 are RAM, GiB 3 is half device? no: ends at 0xc000_0000.
        let ram = [bank(0x4000_0000, 0x8000_0000)];
        let m = HypMap::build(&ram, None, addr);
        assert_eq!(m.l2.len(), 2);
        assert_eq!(m.lookup(0xbfe0_0000, addr), Some(MemType::Normal));
        assert_eq!(m.lookup(0xc000_0000, addr), Some(MemType::Device));
        assert_eq!(m.lookup(0x12c3_0000, addr), Some(MemType::Device));
    }

    #[test]
    fn bank_inside_a_gib() {
        let ram = [bank(0x4800_0000, 0x0100_0000)];
        let m = HypMap::build(&ram, None, addr);
        assert_eq!(m.lookup(0x4700_0000, addr), Some(MemType::Device));
        assert_eq!(m.lookup(0x4800_0000, addr), Some(MemType::Normal));
        assert_eq!(m.lookup(0x4900_0000, addr), Some(MemType::Device));
    }

    #[test]
    fn window_page_splits_its_block_and_ram_above_4_gib_is_not_mapped() {
        // QEMU virt with -m 4096: RAM to 0x1_4000_0000.
        let ram = [bank(0x4000_0000, 0x1_0000_0000)];
        let window = 0x4012_3000;
        let m = HypMap::build(&ram, Some(window), addr);
        assert_eq!(m.l2.len(), 3, "GiB 1, 2 and 3; nothing above 4 GiB");
        let (l3, i) = m.window.as_ref().unwrap();
        assert_eq!(*i, 0x123);
        // The block around the window is still the same memory, page by page.
        let xn = |d: u64| Descriptor::new(d).is_set(DESCRIPTOR::XN);
        assert_eq!(output_address(l3.0[0]), 0x4000_0000);
        assert_eq!(output_address(l3.0[0x123]), window);
        assert!(!xn(l3.0[0x122]), "snowvisor's code may be in the block");
        assert!(xn(hyp_window_page(0x1_2345_6000)));
        assert_eq!(
            output_address(hyp_window_page(0x1_2345_6000)),
            0x1_2345_6000
        );
        // The encodings, bit by bit (B3.6.2): AF, AP[2:1] = 01, AttrIndx, SH, XN.
        assert_eq!(
            hyp_block(0x4000_0000, MemType::Normal),
            0x4000_0000 | (1 << 10) | (1 << 6) | (3 << 8) | 1
        );
        assert_eq!(
            hyp_block(0x0900_0000, MemType::Device),
            0x0900_0000 | (1 << 10) | (1 << 6) | (1 << 2) | (1 << 54) | 1
        );
        assert_eq!(table_desc(0x4000_1000), 0x4000_1003);
        assert_eq!(m.lookup(window, addr), Some(MemType::Normal));
        assert_eq!(m.lookup(0x4020_0000, addr), Some(MemType::Normal));
        assert_eq!(m.lookup(0xffe0_0000, addr), Some(MemType::Normal));
    }
}
