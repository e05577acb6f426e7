//! The guest's console: the SBSA generic UART (PL011 subset) its device tree
//! names, polled (a DomU's `vpl011`, whose lines snowvisor prints with the
//! domain's prefix), or Xen's `console_io` hypercall when it has no UART
//! (booted as Dom0, whose UART snowvisor keeps).

use core::fmt::{self, Write};
use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::{AtomicU32, Ordering};

/// The UART's base (a VA, identity mapped), 0 for the hypercall.
static UART: AtomicU32 = AtomicU32::new(0);

/// UARTDR and UARTFR (PL011 TRM r1p5 3.3; SBSA generic UART).
const DR: u32 = 0x00;
const FR: u32 = 0x18;
/// FR.TXFF: the transmit FIFO is full.
const FR_TXFF: u32 = 1 << 5;

pub fn use_uart(base: u32) {
    UART.store(base, Ordering::Relaxed);
}

pub fn uses_uart() -> bool {
    UART.load(Ordering::Relaxed) != 0
}

fn write_bytes(s: &[u8]) {
    let base = UART.load(Ordering::Relaxed);
    if base == 0 {
        const CONSOLE_IO: u32 = 18;
        const CONSOLEIO_WRITE: u32 = 0;
        // SAFETY: Xen's console_io reads `s` from our memory (VA = IPA);
        // it clobbers r0 only.
        unsafe {
            core::arch::asm!(
                ".arch_extension virt",
                "hvc #0xea1",
                inout("r0") CONSOLEIO_WRITE => _,
                in("r1") s.len(),
                in("r2") s.as_ptr(),
                in("r12") CONSOLE_IO,
                options(nostack)
            )
        };
        return;
    }
    for &b in s {
        // SAFETY: the UART's registers, mapped as device memory.
        unsafe {
            while read_volatile((base + FR) as *const u32) & FR_TXFF != 0 {}
            write_volatile((base + DR) as *mut u32, u32::from(b));
        }
    }
}

/// One console line, built then written in one go.
pub struct Line {
    buf: [u8; 256],
    len: usize,
}

impl Line {
    pub const fn new() -> Self {
        Line {
            buf: [0; 256],
            len: 0,
        }
    }

    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("?")
    }

    pub fn send(&mut self) {
        let _ = self.write_str("\n");
        write_bytes(&self.buf[..self.len]);
        self.len = 0;
    }
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len < self.buf.len() {
                self.buf[self.len] = b;
                self.len += 1;
            }
        }
        Ok(())
    }
}

/// Prints one line `attack: ...`.
#[macro_export]
macro_rules! say {
    ($($t:tt)*) => {{
        use core::fmt::Write as _;
        let mut l = $crate::console::Line::new();
        let _ = write!(l, "attack: ");
        let _ = write!(l, $($t)*);
        l.send();
    }};
}
