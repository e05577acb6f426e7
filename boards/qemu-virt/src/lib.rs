//! QEMU `virt` with `virtualization=on`: the board snowvisor is developed on.
//!
//! Values come from QEMU's generated device tree (hw/arm/virt.c memory map):
//! PL011 at 0x0900_0000, RAM from 0x4000_0000 (up to 255 GiB, but the 32-bit
//! physical window ends at 4 GiB).

#![no_std]

use snowvisor::board::{Board, RamLogPlace, SecureEntry};
use snowvisor_arch_armv7::drivers::uart::{UartConfig, UartKind};

pub struct QemuVirt;

impl Board for QemuVirt {
    const NAME: &'static str = "qemu-virt";
    const DEFAULT_UART: UartConfig = UartConfig {
        kind: UartKind::Pl011,
        base: 0x0900_0000,
    };
    const RAM_WINDOW: (usize, usize) = (0x4000_0000, 0xffff_f000);
    /// An ELF started by QEMU gets r2 = 0: the DTB is at RAM base if it fit
    /// below the image, else a test pokes its address there
    /// (`-device loader,addr=0x40000000,data=<DTB>,data-len=4`).
    const DTB_POINTER_WORD: Option<usize> = Some(0x4000_0000);
    /// The 32 KiB below the image: QEMU's boot stub sits at 0x4000_0000 and a
    /// raw image at 0x4001_0000; reset reloads neither of them over this.
    const RAM_LOG: Option<RamLogPlace> = Some(RamLogPlace {
        base: 0x4000_8000,
        size: 32 << 10,
    });
    /// `secure=on` starts an ELF in Secure SVC. GIC from QEMU's tree; CNTFRQ is
    /// already 62.5 MHz there (QEMU 10), the value is only a fallback.
    const SECURE_ENTRY: Option<SecureEntry> = Some(SecureEntry {
        gicd: 0x0800_0000,
        gicc: 0x0801_0000,
        cntfrq: 62_500_000,
    });
}
