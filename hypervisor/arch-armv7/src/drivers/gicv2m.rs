//! GICv2m MSI frames: which SPIs a frame turns MSI writes into.
//!
//! The binding lets a device tree leave the range out (QEMU's does), in which
//! case it is read from the frame's MSI_TYPER register.

use tock_registers::interfaces::Readable;
use tock_registers::registers::ReadOnly;
use tock_registers::{register_bitfields, register_structs};

register_bitfields![u32,
    MSI_TYPER [
        NUMBER OFFSET(0) NUMBITS(10) [],
        BASE OFFSET(16) NUMBITS(10) [],
    ]
];

register_structs! {
    pub V2mRegs {
        (0x000 => _r0),
        (0x008 => msi_typer: ReadOnly<u32, MSI_TYPER::Register>),
        (0x00c => @END),
    }
}

/// First INTID and count of the SPIs behind the frame at `base`.
///
/// # Safety
/// `base` must be a GICv2m frame, mapped as device memory.
pub unsafe fn spi_range(base: usize) -> (u32, u32) {
    // SAFETY: the caller guarantees a live v2m frame at `base`; MSI_TYPER is read-only.
    let regs = unsafe { &*(base as *const V2mRegs) };
    (
        regs.msi_typer.read(MSI_TYPER::BASE),
        regs.msi_typer.read(MSI_TYPER::NUMBER),
    )
}
