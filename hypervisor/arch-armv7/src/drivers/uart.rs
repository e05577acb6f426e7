//! The console UART: which driver a DT `compatible` selects.

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::exynos_uart::ExynosUart;
use super::pl011::Pl011;

/// Status reads a polled `put` makes before it gives up on the transmitter.
///
/// A working PL011 or Exynos UART frees a FIFO slot within one character time
/// (87 us at 115200 baud, 1 ms at 9600): a few thousand device reads at most.
/// 2^23 reads (about a second of device reads on a Cortex-A15, several under
/// QEMU's emulation on a busy host) only run out on a transmitter that never
/// drains: not enabled, not clocked, or no UART at the address (QEMU's empty
/// PCIe window reads as all ones, so FR.TXFF is set for ever), or a terminal
/// stalled for that long. A count rather than a time: a host that deschedules
/// QEMU makes its counter jump, never its device reads, so a busy machine
/// cannot make a live UART look dead. Only the first byte of a dead UART
/// costs the wait: the console then gives the UART up.
pub const TX_POLLS: u32 = 1 << 23;

/// Physical base of the UART opened last (the console's), for [`note_abort`].
static OPEN_BASE: AtomicUsize = AtomicUsize::new(usize::MAX);
/// An access to that UART's registers took an external abort.
static ABORTED: AtomicBool = AtomicBool::new(false);

/// Called by the HYP data-abort handler with the faulting address: true if
/// it lies in the 4 KiB page of the UART opened last, whose polled `put`
/// then gives up at once (the handler skips the access). On QEMU an address
/// where no device answers (another board's UART address) aborts this way.
pub fn note_abort(addr: usize) -> bool {
    let base = OPEN_BASE.load(Ordering::Relaxed);
    if base == usize::MAX || addr & !0xfff != base & !0xfff {
        return false;
    }
    ABORTED.store(true, Ordering::Relaxed);
    true
}

/// Calls `try_put` until it succeeds, at most [`TX_POLLS`] times; false if it
/// never did (the byte was not written) or an access aborted ([`note_abort`]).
pub fn put_polled(mut try_put: impl FnMut() -> bool) -> bool {
    for _ in 0..TX_POLLS {
        let ok = try_put();
        if ABORTED.load(Ordering::Relaxed) {
            return false;
        }
        if ok {
            return true;
        }
        core::hint::spin_loop();
    }
    false
}

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
        OPEN_BASE.store(cfg.base, Ordering::Relaxed);
        ABORTED.store(false, Ordering::Relaxed);
        match cfg.kind {
            // SAFETY: forwarded from the caller.
            UartKind::Pl011 => Uart::Pl011(unsafe { Pl011::new(cfg.base) }),
            // SAFETY: forwarded from the caller.
            UartKind::Exynos => Uart::Exynos(unsafe { ExynosUart::new(cfg.base) }),
        }
    }

    /// Writes `b`, waiting a bounded time for room ([`TX_POLLS`]); false if
    /// the transmitter never became ready (nothing written).
    pub fn put(&mut self, b: u8) -> bool {
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
