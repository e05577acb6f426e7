//! The console UART: which driver a DT `compatible` selects.

use super::exynos_uart::ExynosUart;
use super::pl011::Pl011;

/// UART hardware families snowvisor can drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UartKind {
    Pl011,
    /// Samsung Exynos 4210-style UART (Exynos 4/5 SoCs).
    Exynos,
}

impl UartKind {
    /// The driver for a DT `compatible` string, if snowvisor has one.
    pub fn from_compatible(c: &str) -> Option<Self> {
        match c {
            "arm,pl011" => Some(UartKind::Pl011),
            "samsung,exynos4210-uart" => Some(UartKind::Exynos),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            UartKind::Pl011 => "PL011",
            UartKind::Exynos => "Exynos UART",
        }
    }
}

/// Where a console UART is and what drives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UartConfig {
    pub kind: UartKind,
    pub base: usize,
}

/// An open UART.
pub enum Uart {
    Pl011(Pl011),
    Exynos(ExynosUart),
}

impl Uart {
    /// # Safety
    /// `cfg.base` must be a mapped UART register block of `cfg.kind` that nothing
    /// else drives.
    pub unsafe fn open(cfg: UartConfig) -> Self {
        match cfg.kind {
            // SAFETY: forwarded from the caller.
            UartKind::Pl011 => Uart::Pl011(unsafe { Pl011::new(cfg.base) }),
            // SAFETY: forwarded from the caller.
            UartKind::Exynos => Uart::Exynos(unsafe { ExynosUart::new(cfg.base) }),
        }
    }

    pub fn put(&mut self, b: u8) {
        match self {
            Uart::Pl011(u) => u.put(b),
            Uart::Exynos(u) => u.put(b),
        }
    }

    /// Writes `b` if the transmitter has room; false if it would have to wait.
    pub fn try_put(&mut self, b: u8) -> bool {
        match self {
            Uart::Pl011(u) => u.try_put(b),
            Uart::Exynos(u) => u.try_put(b),
        }
    }

    pub fn get(&mut self) -> Option<u8> {
        match self {
            Uart::Pl011(u) => u.get(),
            Uart::Exynos(u) => u.get(),
        }
    }

    /// Turns on the receive interrupt; false if this driver has none yet.
    pub fn enable_rx_interrupt(&mut self) -> bool {
        match self {
            Uart::Pl011(u) => {
                u.enable_rx_interrupt();
                true
            }
            Uart::Exynos(_) => false,
        }
    }

    /// Clears the receive interrupt; drain the FIFO with `get` afterwards.
    pub fn ack_rx_interrupt(&mut self) {
        if let Uart::Pl011(u) = self {
            u.ack_rx_interrupt();
        }
    }
}
