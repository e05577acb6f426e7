//! ARM SMMUv3 (IHI 0070), driven by snowvisor so that DMA of the devices
//! behind it goes through a domain's own stage-2 tables: the very tables the
//! CPU walks (same root, same VMID), as Xen does with its SMMU drivers.
//!
//! Written for a 32-bit hypervisor: 64-bit registers are written as two
//! 32-bit halves, tables and queues come from snowvisor's heap (physical
//! address = virtual address), and caches are cleaned for an SMMU that does
//! not snoop them (IDR0.COHACC = 0).
//!
//! - [`regs`]: the register block (tock-registers);
//! - [`ids`]: ID register checks and the clear refusals;
//! - [`ste`]: stream table entries and the linear / 2-level table shape;
//! - [`cmd`]: commands, events and global-error names;
//! - [`queue`]: queue index arithmetic;
//! - `device` (target only): bring-up, STE updates, CMD_SYNC, events.
//!
//! The pure parts are host-tested here; the QEMU boot test `tests/smmu.rs`
//! runs the whole driver against QEMU's `arm-smmuv3` (nested, and stage 1
//! only, which is refused).

pub mod cmd;
pub mod ids;
pub mod queue;
pub mod regs;
pub mod ste;

#[cfg(target_arch = "arm")]
mod device;
#[cfg(target_arch = "arm")]
mod dma;

#[cfg(target_arch = "arm")]
pub use device::{Assignment, Smmu, SmmuError, Stats};

/// The compatible this driver handles.
pub const COMPATIBLE: &str = "arm,smmu-v3";

/// Takes over the SMMU of an owned IOMMU node and translates `assignments`
/// through their domains' stage 2; every other stream aborts.
///
/// The frame must come from [`crate::plan::owned::owned`]: the `reg` of an
/// `arm,smmu-v3` node in the host device tree that the plan owns. The plan
/// keeps that frame out of every guest's stage 2, snowvisor's HYP map covers
/// the 32-bit physical space outside RAM as device memory, and nothing else in
/// snowvisor touches it; that is what makes the register accesses sound.
/// Each assignment's `root_pa` must name stage-2 tables that are never freed.
#[cfg(target_arch = "arm")]
pub fn take_owned(
    o: &crate::plan::owned::OwnedIommu,
    assignments: &[Assignment],
) -> Result<Smmu, SmmuError> {
    let base = checked_frame(o)?;
    // SAFETY: an owned arm,smmu-v3 frame from the host tree, checked to be a
    // whole (page 0 and 1), 64 KiB-aligned register block below 4 GiB (see the contract above).
    unsafe { Smmu::init(base, assignments) }
}

/// Makes the SMMU of an owned node abort all DMA (translation off,
/// GBPA.ABORT), e.g. after [`take_owned`] failed half-way.
#[cfg(target_arch = "arm")]
pub fn block_owned(o: &crate::plan::owned::OwnedIommu) -> Result<(), SmmuError> {
    let base = checked_frame(o)?;
    // SAFETY: as in take_owned.
    unsafe { device::block(base) }
}

/// CRC-32 of a RAM region as snowvisor reads it now, for the DMA guard pages
/// (`domain::dma_guard`). None unless `r` lies inside one of `ram` (the host's
/// memory banks) below 4 GiB.
#[cfg(target_arch = "arm")]
pub fn crc32_ram(r: crate::dt::Region, ram: &[crate::dt::Region]) -> Option<u32> {
    if !ram.iter().any(|m| m.contains(&r)) || r.end() > 1 << 32 || !r.size.is_multiple_of(4) {
        return None;
    }
    let mut c = crate::domain::dma_guard::Crc32::default();
    for i in 0..(r.size / 4) as usize {
        // SAFETY: inside RAM (checked), which snowvisor's HYP map covers as
        // normal memory; a volatile word read has no side effect, whoever
        // else may be writing there.
        let w = unsafe { ((r.base as usize + 4 * i) as *const u32).read_volatile() };
        c.update(&w.to_le_bytes());
    }
    Some(c.finish())
}

/// The frame of an owned node, if it can be an SMMUv3 register block.
pub fn checked_frame(o: &crate::plan::owned::OwnedIommu) -> Result<usize, FrameError> {
    let r = o.regs;
    if o.compatible != COMPATIBLE {
        return Err(FrameError::NotSmmuV3);
    }
    if r.size < regs::MMIO_SIZE || !r.base.is_multiple_of(0x1_0000) || r.end() > 1 << 32 {
        return Err(FrameError::BadFrame {
            base: r.base,
            size: r.size,
        });
    }
    Ok(r.base as usize)
}

/// Why an owned node's frame is not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    NotSmmuV3,
    BadFrame { base: u64, size: u64 },
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FrameError::NotSmmuV3 => write!(f, "not an {COMPATIBLE} node"),
            FrameError::BadFrame { base, size } => write!(
                f,
                "reg {base:#x}+{size:#x} is not a 64 KiB-aligned, 128 KiB SMMUv3 register block below 4 GiB"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dt::Region;
    use crate::plan::owned::OwnedIommu;

    fn node(compatible: &str, base: u64, size: u64) -> OwnedIommu {
        OwnedIommu {
            path: "/smmuv3@9050000".into(),
            compatible: compatible.into(),
            regs: Region { base, size },
            irqs: alloc::vec![],
            streams: alloc::vec![],
        }
    }

    #[test]
    fn frames() {
        assert_eq!(
            checked_frame(&node(COMPATIBLE, 0x905_0000, 0x2_0000)),
            Ok(0x905_0000)
        );
        assert_eq!(
            checked_frame(&node("arm,smmu-v2", 0x905_0000, 0x2_0000)),
            Err(FrameError::NotSmmuV3)
        );
        for (base, size) in [
            (0x905_0000, 0x1_0000),
            (0x905_8000, 0x2_0000),
            (0xffff_0000, 0x2_0000),
        ] {
            assert_eq!(
                checked_frame(&node(COMPATIBLE, base, size)),
                Err(FrameError::BadFrame { base, size })
            );
        }
        assert_eq!(
            alloc::format!("{}", FrameError::NotSmmuV3),
            "not an arm,smmu-v3 node"
        );
    }
}
