//! Guard pages for DMA protection: RAM that no device may write, checksummed
//! by snowvisor when an owned IOMMU starts and again after every fault it
//! reports, so a blocked DMA attack is shown to have changed nothing. The
//! checksums come from snowvisor reading the memory itself: a guest cannot
//! fake them. Pure (the choice of pages and the checksum, [`GUARD_CRC`]); the
//! reads are the kernel's (`domain/iommu.rs`).

use alloc::vec::Vec;

use snowvisor_dt::Region;

pub const PAGE: u64 = 0x1000;

/// The guard pages' checksum: CRC-32/ISO-HDLC (IEEE 802.3, zlib's `crc32`;
/// check value 0xcbf43926), bitwise: `NoTable` puts no lookup table in the
/// image, and a page is summed twice per boot.
pub const GUARD_CRC: crc::Crc<u32, crc::NoTable> =
    crc::Crc::<u32, crc::NoTable>::new(&crc::CRC_32_ISO_HDLC);

/// Why a page is guarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardKind {
    /// The first page of snowvisor's image (its entry code: never written).
    Snowvisor,
    /// RAM that belongs to no domain and not to snowvisor.
    Unowned,
}

impl GuardKind {
    pub fn name(self) -> &'static str {
        match self {
            GuardKind::Snowvisor => "snowvisor's image",
            GuardKind::Unowned => "RAM no domain owns",
        }
    }
}

/// The pages to guard: the first page of snowvisor's image (at `image`), and
/// the first page after Dom0's last bank when it is RAM (`dom0_mem=` leaves
/// some), else the first page of RAM below snowvisor that is neither
/// snowvisor's nor Dom0's. `hyp` is all of snowvisor's region (image, heap,
/// RAM log), `banks` Dom0's memory.
pub fn pages(
    ram: &[Region],
    hyp: Region,
    image: u64,
    banks: &[Region],
) -> Vec<(GuardKind, Region)> {
    let page = |base: u64| Region { base, size: PAGE };
    let mut out = Vec::new();
    if hyp.contains(&page(image)) {
        out.push((GuardKind::Snowvisor, page(image)));
    }
    let free = |r: Region| {
        ram.iter().any(|m| m.contains(&r))
            && !r.overlaps(&hyp)
            && !banks.iter().any(|b| b.overlaps(&r))
    };
    let after_dom0 = banks.iter().map(|b| b.end()).max().map(page);
    let below_hyp = ram
        .iter()
        .map(|m| page(m.base))
        .find(|r| r.end() <= hyp.base);
    if let Some(r) = after_dom0
        .filter(|r| free(*r))
        .or(below_hyp.filter(|r| free(*r)))
    {
        out.push((GuardKind::Unowned, r));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_crc_is_zlibs_crc32_fed_piecewise() {
        assert_eq!(GUARD_CRC.checksum(b"123456789"), 0xcbf4_3926);
        let mut c = GUARD_CRC.digest();
        c.update(b"1234");
        c.update(b"56789");
        assert_eq!(c.finalize(), 0xcbf4_3926);
        assert_eq!(GUARD_CRC.checksum(&[]), 0);
    }

    fn r(base: u64, size: u64) -> Region {
        Region { base, size }
    }

    const RAM: [Region; 1] = [Region {
        base: 0x4000_0000,
        size: 0x4000_0000,
    }];
    const HYP: Region = Region {
        base: 0x4001_0000,
        size: 0x009f_0000,
    };

    #[test]
    fn qemu_virt_with_dom0_mem() {
        // The RAM log below the image belongs to snowvisor but changes: not guarded.
        let hyp = r(0x4000_8000, 0x009f_8000);
        let g = pages(&RAM, hyp, 0x4001_0000, &[r(0x40a0_0000, 0x1000_0000)]);
        assert_eq!(
            g,
            [
                (GuardKind::Snowvisor, r(0x4001_0000, PAGE)),
                (GuardKind::Unowned, r(0x50a0_0000, PAGE))
            ]
        );
    }

    #[test]
    fn qemu_virt_with_all_memory_to_dom0() {
        // Dom0 runs to the end of RAM: the page below snowvisor's image
        // (QEMU's boot stub at the RAM base) is nobody's.
        let g = pages(&RAM, HYP, HYP.base, &[r(0x40a0_0000, 0x3f60_0000)]);
        assert_eq!(g[1], (GuardKind::Unowned, r(0x4000_0000, PAGE)));
        // snowvisor at the RAM base: no unowned page at all.
        let hyp = r(0x4000_0000, 0x00a0_0000);
        assert_eq!(
            pages(&RAM, hyp, hyp.base, &[r(0x40a0_0000, 0x3f60_0000)]),
            [(GuardKind::Snowvisor, r(0x4000_0000, PAGE))]
        );
    }

    #[test]
    fn kind_names() {
        assert_eq!(GuardKind::Unowned.name(), "RAM no domain owns");
    }
}
