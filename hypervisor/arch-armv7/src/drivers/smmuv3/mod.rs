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
pub use device::{block, Assignment, Smmu, SmmuError, Stats};

/// The compatible this driver handles.
pub const COMPATIBLE: &str = "arm,smmu-v3";

/// The register frame at `base` (`size` bytes) of a device-tree node with
/// `compatible`, if it can be an SMMUv3 register block this driver takes:
/// an `arm,smmu-v3` node, page 0 and 1 (128 KiB), 64 KiB aligned, below 4 GiB.
/// Returns the frame's address for [`Smmu::init`] and [`block`].
pub fn checked_frame(compatible: &str, base: u64, size: u64) -> Result<usize, FrameError> {
    if compatible != COMPATIBLE {
        return Err(FrameError::NotSmmuV3);
    }
    if size < regs::MMIO_SIZE
        || !base.is_multiple_of(0x1_0000)
        || base.saturating_add(size) > 1 << 32
    {
        return Err(FrameError::BadFrame { base, size });
    }
    Ok(base as usize)
}

/// Why a frame is not used.
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

    #[test]
    fn frames() {
        assert_eq!(
            checked_frame(COMPATIBLE, 0x905_0000, 0x2_0000),
            Ok(0x905_0000)
        );
        assert_eq!(
            checked_frame("arm,smmu-v2", 0x905_0000, 0x2_0000),
            Err(FrameError::NotSmmuV3)
        );
        for (base, size) in [
            (0x905_0000, 0x1_0000),
            (0x905_8000, 0x2_0000),
            (0xffff_0000, 0x2_0000),
        ] {
            assert_eq!(
                checked_frame(COMPATIBLE, base, size),
                Err(FrameError::BadFrame { base, size })
            );
        }
        assert_eq!(
            alloc::format!("{}", FrameError::NotSmmuV3),
            "not an arm,smmu-v3 node"
        );
    }
}
