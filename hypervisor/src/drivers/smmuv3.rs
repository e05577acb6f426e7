//! The SMMUv3 driver (`snowvisor_arch_armv7::drivers::smmuv3`) applied to
//! the IOMMUs the plan owns, and the raw RAM read of the DMA guard pages.

pub use snowvisor_arch_armv7::drivers::smmuv3::*;

use snowvisor_plan::owned::OwnedIommu;

/// The frame of an owned node, if it can be an SMMUv3 register block.
pub fn checked_frame(o: &OwnedIommu) -> Result<usize, FrameError> {
    snowvisor_arch_armv7::drivers::smmuv3::checked_frame(&o.compatible, o.regs.base, o.regs.size)
}

/// Takes over the SMMU of an owned IOMMU node and translates `assignments`
/// through their domains' stage 2; every other stream aborts.
///
/// The frame comes from [`snowvisor_plan::owned::owned`]: the `reg` of an
/// `arm,smmu-v3` node in the host device tree that the plan owns. The plan
/// keeps that frame out of every guest's stage 2, snowvisor's HYP map covers
/// the 32-bit physical space outside RAM as device memory, and nothing else in
/// snowvisor touches it; that is what makes the register accesses sound.
/// Each assignment's `root_pa` must name stage-2 tables that are never freed.
#[cfg(target_arch = "arm")]
pub fn take_owned(o: &OwnedIommu, assignments: &[Assignment]) -> Result<Smmu, SmmuError> {
    let base = checked_frame(o)?;
    // SAFETY: an owned arm,smmu-v3 frame from the host tree, checked to be a
    // whole (page 0 and 1), 64 KiB-aligned register block below 4 GiB (see the contract above).
    unsafe { Smmu::init(base, assignments) }
}

/// Makes the SMMU of an owned node abort all DMA (translation off,
/// GBPA.ABORT), e.g. after [`take_owned`] failed half-way.
#[cfg(target_arch = "arm")]
pub fn block_owned(o: &OwnedIommu) -> Result<(), SmmuError> {
    let base = checked_frame(o)?;
    // SAFETY: as in take_owned.
    unsafe { block(base) }
}

/// CRC-32 of a RAM region as snowvisor reads it now, for the DMA guard pages
/// (`domain::dma_guard`). None unless `r` lies inside one of `ram` (the host's
/// memory banks) below 4 GiB.
#[cfg(target_arch = "arm")]
pub fn crc32_ram(r: snowvisor_dt::Region, ram: &[snowvisor_dt::Region]) -> Option<u32> {
    if !ram.iter().any(|m| m.contains(&r)) || r.end() > 1 << 32 || !r.size.is_multiple_of(4) {
        return None;
    }
    let mut c = GUARD_CRC.digest();
    for i in 0..(r.size / 4) as usize {
        // SAFETY: inside RAM (checked), which snowvisor's HYP map covers as
        // normal memory; a volatile word read has no side effect, whoever
        // else may be writing there.
        let w = unsafe { ((r.base as usize + 4 * i) as *const u32).read_volatile() };
        c.update(&w.to_le_bytes());
    }
    Some(c.finalize())
}

/// The guard pages' checksum: CRC-32/ISO-HDLC (IEEE 802.3, zlib's `crc32`;
/// check value 0xcbf43926), bitwise: `NoTable` puts no lookup table in the
/// image, and a page is summed twice per boot.
pub const GUARD_CRC: crc::Crc<u32, crc::NoTable> =
    crc::Crc::<u32, crc::NoTable>::new(&crc::CRC_32_ISO_HDLC);

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
    use snowvisor_dt::Region;

    #[test]
    fn owned_node_frames() {
        let node = |compatible: &str, base, size| OwnedIommu {
            path: "/smmuv3@9050000".into(),
            compatible: compatible.into(),
            regs: Region { base, size },
            irqs: alloc::vec![],
            streams: alloc::vec![],
        };
        assert_eq!(
            checked_frame(&node(COMPATIBLE, 0x905_0000, 0x2_0000)),
            Ok(0x905_0000)
        );
        assert_eq!(
            checked_frame(&node("arm,smmu-v2", 0x905_0000, 0x2_0000)),
            Err(FrameError::NotSmmuV3)
        );
    }
}
