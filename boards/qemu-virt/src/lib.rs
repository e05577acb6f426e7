//! QEMU `virt` with `virtualization=on`: the board snowvisor is developed on.
//!
//! Values come from QEMU's generated device tree (hw/arm/virt.c memory map):
//! PL011 at 0x0900_0000, RAM from 0x4000_0000 (up to 255 GiB, but the 32-bit
//! physical window ends at 4 GiB).

#![no_std]

use snowvisor::board::Board;
use snowvisor::drivers::uart::{UartConfig, UartKind};

pub struct QemuVirt;

impl Board for QemuVirt {
    const NAME: &'static str = "qemu-virt";
    const DEFAULT_UART: UartConfig = UartConfig {
        kind: UartKind::Pl011,
        base: 0x0900_0000,
    };
    const RAM_WINDOW: (usize, usize) = (0x4000_0000, 0xffff_f000);
}
