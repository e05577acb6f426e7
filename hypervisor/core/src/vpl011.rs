//! An emulated UART for a DomU (`vpl011` in the dom0less binding): the
//! register file of an ARM PrimeCell UART (PL011) r1p5 (ARM DDI 0183G), with
//! the behaviour of the generic UART of Arm's Base System Architecture (ARM
//! DEN 0094, appendix B; the SBSA's "SBSA UART"), which is what Xen's vpl011
//! is and what the DomU's tree announces (`arm,sbsa-uart`, see
//! `snowvisor_plan::domu::tree`).
//!
//! Why `arm,sbsa-uart` and not `arm,pl011`: Linux's driver for the SBSA UART
//! (`sbsa_uart_probe` in `drivers/tty/serial/amba-pl011.c`) needs no clocks,
//! never programs a baud rate (it takes `current-speed`), never touches
//! UARTCR or UARTLCR_H and uses 32-bit accesses; it uses DR, FR (TXFF, RXFE,
//! BUSY), IMSC, MIS and ICR, all modelled here. It is also what Xen gives a
//! DomU, so a guest's command line (`console=ttyAMA0`) works under both.
//! An `arm,pl011` guest would need two clock nodes and AMBA probing by the
//! ID registers: those are answered too (PL011 r1p5's PeriphID and
//! PrimeCellID), and IBRD, FBRD, LCR_H, CR, IFLS and DMACR read back what was
//! written, so such a driver also works; but they change nothing: like the
//! generic UART, whose programming model has no UARTCR, UARTLCR_H or baud
//! divisors, this one is always enabled with its 32-byte FIFOs on (a
//! console has no baud rate).
//!
//! Pure: transmitted bytes wait in the TX FIFO until the console takes them
//! ([`Vpl011::drain_tx`]; a full FIFO sets FR.TXFF and the guest waits, so
//! nothing is lost), received bytes are offered with [`Vpl011::push_rx`]
//! (taken only while the RX FIFO has room), and the interrupt line
//! ([`Vpl011::irq_level`], SPI `GUEST_VPL011_SPI`, level-high) is a function
//! of the state, for the vGIC to sample after each access.

use core::fmt;

/// FIFO depth in bytes, each way: PL011 r1p5's, and what Linux assumes for
/// the SBSA UART.
pub const FIFO_DEPTH: usize = 32;

/// Register offsets (DDI 0183G, table 3-1).
pub mod reg {
    /// Data.
    pub const DR: u32 = 0x000;
    /// Receive status / error clear.
    pub const RSR_ECR: u32 = 0x004;
    /// Flags.
    pub const FR: u32 = 0x018;
    /// IrDA low-power counter.
    pub const ILPR: u32 = 0x020;
    /// Integer baud rate divisor.
    pub const IBRD: u32 = 0x024;
    /// Fractional baud rate divisor.
    pub const FBRD: u32 = 0x028;
    /// Line control.
    pub const LCR_H: u32 = 0x02c;
    /// Control.
    pub const CR: u32 = 0x030;
    /// Interrupt FIFO level select.
    pub const IFLS: u32 = 0x034;
    /// Interrupt mask set/clear.
    pub const IMSC: u32 = 0x038;
    /// Raw interrupt status.
    pub const RIS: u32 = 0x03c;
    /// Masked interrupt status.
    pub const MIS: u32 = 0x040;
    /// Interrupt clear (write-only).
    pub const ICR: u32 = 0x044;
    /// DMA control.
    pub const DMACR: u32 = 0x048;
    /// UARTPeriphID0..3 at 0xfe0..0xfec, UARTPCellID0..3 at 0xff0..0xffc.
    pub const PERIPH_ID0: u32 = 0xfe0;
}

/// UARTFR bits (DDI 0183G, 3.3.3).
pub mod fr {
    pub const BUSY: u32 = 1 << 3;
    pub const RXFE: u32 = 1 << 4;
    pub const TXFF: u32 = 1 << 5;
    pub const RXFF: u32 = 1 << 6;
    pub const TXFE: u32 = 1 << 7;
}

/// UARTRIS / UARTIMSC / UARTMIS / UARTICR bits (DDI 0183G, 3.3.12-3.3.15).
pub mod int {
    /// Receive.
    pub const RX: u32 = 1 << 4;
    /// Transmit.
    pub const TX: u32 = 1 << 5;
    /// Receive timeout.
    pub const RT: u32 = 1 << 6;
    /// Every interrupt bit (modem status, RX, TX, RT, framing, parity,
    /// break, overrun).
    pub const ALL: u32 = 0x7ff;
}

/// The ID registers at 0xfe0..0xffc: PL011 r1p5's UARTPeriphID0-3 (part
/// 0x011, designer 0x41 ARM, revision 3) and UARTPCellID0-3 (DDI 0183G,
/// 3.3.17-3.3.24). Linux reads revision 3 as a 32-byte FIFO.
pub const ID: [u8; 8] = [0x11, 0x10, 0x34, 0x00, 0x0d, 0xf0, 0x05, 0xb1];

/// Reset values (DDI 0183G, table 3-1): UARTCR with TXE and RXE set,
/// UARTIFLS at half-full both ways.
const CR_RESET: u32 = 0x0300;
const IFLS_RESET: u32 = 0x12;

/// An access the UART does not take; the caller injects a data abort, as
/// for an address with no device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vpl011Error {
    /// No register at this offset (a reserved or test register, or past
    /// the ID registers).
    NoRegister { offset: u32 },
    /// Not 1, 2 or 4 bytes, or not at the start of a register.
    BadAccess { offset: u32, size: u32 },
}

impl fmt::Display for Vpl011Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Vpl011Error::NoRegister { offset } => {
                write!(f, "vpl011: no register at offset {offset:#x}")
            }
            Vpl011Error::BadAccess { offset, size } => {
                write!(f, "vpl011: {size}-byte access at offset {offset:#x} (registers take aligned 1, 2 or 4-byte accesses)")
            }
        }
    }
}

/// A fixed-size byte FIFO.
#[derive(Debug, Clone)]
struct Fifo {
    buf: [u8; FIFO_DEPTH],
    head: usize,
    len: usize,
}

impl Fifo {
    const fn new() -> Self {
        Fifo {
            buf: [0; FIFO_DEPTH],
            head: 0,
            len: 0,
        }
    }

    fn push(&mut self, b: u8) -> bool {
        if self.len == FIFO_DEPTH {
            return false;
        }
        self.buf[(self.head + self.len) % FIFO_DEPTH] = b;
        self.len += 1;
        true
    }

    fn front(&self) -> Option<u8> {
        (self.len > 0).then(|| self.buf[self.head])
    }

    fn pop(&mut self) -> Option<u8> {
        let b = self.front()?;
        self.head = (self.head + 1) % FIFO_DEPTH;
        self.len -= 1;
        Some(b)
    }
}

/// One DomU's UART.
#[derive(Debug, Clone)]
pub struct Vpl011 {
    tx: Fifo,
    rx: Fifo,
    /// UARTRIS: raw interrupt status.
    ris: u32,
    imsc: u32,
    ilpr: u32,
    ibrd: u32,
    fbrd: u32,
    lcr_h: u32,
    cr: u32,
    ifls: u32,
    dmacr: u32,
    /// Bytes written to DR while the TX FIFO was full (lost, as on the
    /// hardware), for the domain's report.
    tx_dropped: u64,
}

impl Default for Vpl011 {
    fn default() -> Self {
        Self::new()
    }
}

/// A FIFO trigger level in bytes from a 3-bit UARTIFLS field: 1/8, 1/4,
/// 1/2, 3/4, 7/8 of the depth (DDI 0183G, 3.3.11); reserved values read as
/// 1/2.
fn trigger(sel: u32) -> usize {
    let eighths = match sel & 7 {
        0 => 1,
        1 => 2,
        3 => 6,
        4 => 7,
        _ => 4,
    };
    FIFO_DEPTH * eighths / 8
}

impl Vpl011 {
    /// A UART as after reset: FIFOs empty, every interrupt masked.
    pub const fn new() -> Self {
        Vpl011 {
            tx: Fifo::new(),
            rx: Fifo::new(),
            ris: 0,
            imsc: 0,
            ilpr: 0,
            ibrd: 0,
            fbrd: 0,
            lcr_h: 0,
            cr: CR_RESET,
            ifls: IFLS_RESET,
            dmacr: 0,
            tx_dropped: 0,
        }
    }

    /// UARTFR: TXFE/TXFF/BUSY from the TX FIFO, RXFE/RXFF from the RX FIFO;
    /// the modem inputs (CTS, DSR, DCD, RI) read 0.
    pub fn flags(&self) -> u32 {
        let mut f = 0;
        if self.tx.len == 0 {
            f |= fr::TXFE;
        } else {
            f |= fr::BUSY;
        }
        if self.tx.len == FIFO_DEPTH {
            f |= fr::TXFF;
        }
        if self.rx.len == 0 {
            f |= fr::RXFE;
        }
        if self.rx.len == FIFO_DEPTH {
            f |= fr::RXFF;
        }
        f
    }

    /// UARTMIS: the raw status the mask lets through.
    pub fn masked_status(&self) -> u32 {
        self.ris & self.imsc
    }

    /// The interrupt line (UARTINTR, level-high): any unmasked interrupt.
    pub fn irq_level(&self) -> bool {
        self.masked_status() != 0
    }

    /// Sets the TX interrupt when the TX FIFO is at or below its trigger
    /// level and clears it above (re-evaluated on every change of the FIFO,
    /// as Xen's vpl011 does, so a driver that fills the FIFO to exactly the
    /// trigger level still gets its interrupt); the same for RX (at or above
    /// its level) and the receive timeout (any byte waiting: no bit-time
    /// passes for an emulated line).
    fn update_tx(&mut self) {
        if self.tx.len <= trigger(self.ifls) {
            self.ris |= int::TX;
        } else {
            self.ris &= !int::TX;
        }
    }

    fn update_rx(&mut self) {
        if self.rx.len >= trigger(self.ifls >> 3) {
            self.ris |= int::RX;
        } else {
            self.ris &= !int::RX;
        }
        if self.rx.len > 0 {
            self.ris |= int::RT;
        } else {
            self.ris &= !int::RT;
        }
    }

    /// The register word at a word-aligned `offset`, for reads; `None` for
    /// no register. Reading DR takes a byte from the RX FIFO.
    fn read_word(&mut self, offset: u32) -> Option<u32> {
        Some(match offset {
            reg::DR => {
                let b = self.rx.pop().map_or(0, u32::from);
                self.update_rx();
                b
            }
            // No framing, parity, break or overrun error can happen.
            reg::RSR_ECR => 0,
            reg::FR => self.flags(),
            reg::ILPR => self.ilpr,
            reg::IBRD => self.ibrd,
            reg::FBRD => self.fbrd,
            reg::LCR_H => self.lcr_h,
            reg::CR => self.cr,
            reg::IFLS => self.ifls,
            reg::IMSC => self.imsc,
            reg::RIS => self.ris,
            reg::MIS => self.masked_status(),
            // Write-only (DDI 0183G, table 3-1): reads as 0.
            reg::ICR => 0,
            reg::DMACR => self.dmacr,
            0xfe0..=0xffc => u32::from(ID[((offset - reg::PERIPH_ID0) / 4) as usize]),
            _ => return None,
        })
    }

    fn write_word(&mut self, offset: u32, v: u32) -> bool {
        match offset {
            reg::DR => {
                // A full FIFO drops the byte, as the hardware does (a
                // driver checks FR.TXFF first); it is counted.
                if !self.tx.push(v as u8) {
                    self.tx_dropped += 1;
                }
                self.update_tx();
            }
            reg::RSR_ECR => {}
            reg::ILPR => self.ilpr = v & 0xff,
            reg::IBRD => self.ibrd = v & 0xffff,
            reg::FBRD => self.fbrd = v & 0x3f,
            reg::LCR_H => self.lcr_h = v & 0xff,
            reg::CR => self.cr = v & 0xff87,
            reg::IFLS => {
                self.ifls = v & 0x3f;
                self.update_tx();
                self.update_rx();
            }
            reg::IMSC => self.imsc = v & int::ALL,
            reg::ICR => self.ris &= !(v & int::ALL),
            reg::DMACR => self.dmacr = v & 7,
            // FR, RIS, MIS and the ID registers are read-only: writes are
            // ignored (DDI 0183G, table 3-1).
            reg::FR | reg::RIS | reg::MIS | 0xfe0..=0xffc => {}
            _ => return false,
        }
        true
    }

    fn check(offset: u32, size: u32) -> Result<(), Vpl011Error> {
        match size {
            1 | 2 | 4 if offset.is_multiple_of(4) => Ok(()),
            _ => Err(Vpl011Error::BadAccess { offset, size }),
        }
    }

    /// A guest read of `size` bytes (1, 2 or 4) at `offset` into the
    /// UART's 4 KiB page; the value zero-extended. Errors: no register
    /// there, or an access not at a register's start.
    pub fn read(&mut self, offset: u32, size: u32) -> Result<u32, Vpl011Error> {
        Self::check(offset, size)?;
        let v = self
            .read_word(offset)
            .ok_or(Vpl011Error::NoRegister { offset })?;
        Ok(match size {
            1 => v & 0xff,
            2 => v & 0xffff,
            _ => v,
        })
    }

    /// A guest write of `size` bytes (1, 2 or 4) at `offset`; errors as
    /// [`Self::read`].
    pub fn write(&mut self, offset: u32, size: u32, value: u32) -> Result<(), Vpl011Error> {
        Self::check(offset, size)?;
        let v = match size {
            1 => value & 0xff,
            2 => value & 0xffff,
            _ => value,
        };
        if self.write_word(offset, v) {
            Ok(())
        } else {
            Err(Vpl011Error::NoRegister { offset })
        }
    }

    /// Hands transmitted bytes to `put` in order while it accepts them
    /// (returns true); a byte `put` refuses stays for the next call.
    /// Returns how many were taken.
    pub fn drain_tx(&mut self, mut put: impl FnMut(u8) -> bool) -> usize {
        let mut n = 0;
        while let Some(b) = self.tx.front() {
            if !put(b) {
                break;
            }
            self.tx.pop();
            n += 1;
        }
        if n > 0 {
            self.update_tx();
        }
        n
    }

    /// Offers received bytes; takes as many as the RX FIFO has room for
    /// (the rest stay with the caller, so none is lost) and returns that
    /// count.
    pub fn push_rx(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.iter().take_while(|&&b| self.rx.push(b)).count();
        if n > 0 {
            self.update_rx();
        }
        n
    }

    /// Bytes waiting in the TX FIFO.
    pub fn tx_pending(&self) -> usize {
        self.tx.len
    }

    /// Bytes the guest wrote while the TX FIFO was full, since reset.
    pub fn tx_dropped(&self) -> u64 {
        self.tx_dropped
    }
}

#[cfg(test)]
mod tests;
