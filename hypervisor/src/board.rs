//! What a board tells the core. Each board lives in `boards/<name>/` and
//! implements this trait; nothing board-specific lives in the core.

use crate::drivers::uart::UartConfig;

pub trait Board: 'static {
    /// Short name, as in `scripts/build --board NAME`.
    const NAME: &'static str;
    /// The UART used before the device tree is read, and when the tree names
    /// one snowvisor cannot drive.
    const DEFAULT_UART: UartConfig;
    /// Where RAM can be: a DTB pointer outside this window is rejected before
    /// it is read.
    const RAM_WINDOW: (usize, usize);
}
