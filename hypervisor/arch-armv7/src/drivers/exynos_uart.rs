//! Samsung Exynos UART ("samsung,exynos4210-uart"): polled transmit and receive.
//!
//! The line settings and the baud divisor (ULCON, UBRDIV, UFRACVAL) are left as
//! the firmware programmed them: the divisor depends on SCLK_UART, which
//! snowvisor does not compute. Register layout and the S5PV210-style FIFO status
//! bits (TX full = UFSTAT bit 24, TX count bits 23:16) are the Exynos ones.
//!
//! Transmit waits differently with and without the FIFO (UFCON bit 0):
//! - FIFO on: wait while UFSTAT.TX_FULL is set, then write UTXH;
//! - FIFO off: wait for UTRSTAT.TX_BUF_EMPTY, then write UTXH.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

register_bitfields![u32,
    pub UFCON [
        FIFO_ENABLE OFFSET(0) NUMBITS(1) [],
    ],
    pub UTRSTAT [
        RX_READY OFFSET(0) NUMBITS(1) [],
        TX_BUF_EMPTY OFFSET(1) NUMBITS(1) [],
        TX_EMPTY OFFSET(2) NUMBITS(1) [],
    ],
    pub UFSTAT [
        RX_COUNT OFFSET(0) NUMBITS(8) [],
        RX_FULL OFFSET(8) NUMBITS(1) [],
        TX_COUNT OFFSET(16) NUMBITS(8) [],
        TX_FULL OFFSET(24) NUMBITS(1) [],
    ]
];

register_structs! {
    pub ExynosUartRegs {
        (0x00 => pub ulcon: ReadWrite<u32>),
        (0x04 => pub ucon: ReadWrite<u32>),
        (0x08 => pub ufcon: ReadWrite<u32, UFCON::Register>),
        (0x0c => pub umcon: ReadWrite<u32>),
        (0x10 => pub utrstat: ReadOnly<u32, UTRSTAT::Register>),
        (0x14 => pub uerstat: ReadOnly<u32>),
        (0x18 => pub ufstat: ReadOnly<u32, UFSTAT::Register>),
        (0x1c => pub umstat: ReadOnly<u32>),
        (0x20 => pub utxh: WriteOnly<u32>),
        (0x24 => pub urxh: ReadOnly<u32>),
        (0x28 => pub ubrdiv: ReadWrite<u32>),
        (0x2c => pub ufracval: ReadWrite<u32>),
        (0x30 => @END),
    }
}

pub struct ExynosUart {
    regs: &'static ExynosUartRegs,
}

// SAFETY: the driver owns its register block exclusively (constructor contract),
// so moving it to another CPU is no different from using it on this one.
unsafe impl Send for ExynosUart {}

impl ExynosUart {
    /// # Safety
    /// `base` must be the address of an Exynos UART register block, mapped as
    /// device memory for as long as the driver lives, and not driven by anyone else.
    pub unsafe fn new(base: usize) -> Self {
        // SAFETY: the caller guarantees a live, exclusive register block at `base`.
        ExynosUart {
            regs: unsafe { &*(base as *const ExynosUartRegs) },
        }
    }

    fn fifo_enabled(&self) -> bool {
        self.regs.ufcon.is_set(UFCON::FIFO_ENABLE)
    }

    /// True when one more byte can be written to UTXH without overrunning.
    pub fn tx_ready(&self) -> bool {
        if self.fifo_enabled() {
            !self.regs.ufstat.is_set(UFSTAT::TX_FULL)
        } else {
            self.regs.utrstat.is_set(UTRSTAT::TX_BUF_EMPTY)
        }
    }

    /// Writes `b` if there is room; false (nothing written) otherwise.
    pub fn try_put(&mut self, b: u8) -> bool {
        if !self.tx_ready() {
            return false;
        }
        self.regs.utxh.set(b as u32);
        true
    }

    /// Waits for room, at most [`super::uart::TX_POLLS`] status reads, then
    /// writes `b`; false (nothing written) if the transmitter never became
    /// ready (a UART with its transmitter off, unclocked, or not there).
    pub fn put(&mut self, b: u8) -> bool {
        super::uart::put_polled(|| self.try_put(b))
    }

    /// True when a received byte is waiting.
    pub fn rx_ready(&self) -> bool {
        if self.fifo_enabled() {
            let s = self.regs.ufstat.extract();
            s.read(UFSTAT::RX_COUNT) != 0 || s.is_set(UFSTAT::RX_FULL)
        } else {
            self.regs.utrstat.is_set(UTRSTAT::RX_READY)
        }
    }

    pub fn get(&mut self) -> Option<u8> {
        self.rx_ready().then(|| self.regs.urxh.get() as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::boxed::Box;
    use core::ptr::{read_volatile, write_volatile};

    /// RAM standing in for the register block: word i is the register at 4*i.
    #[repr(C, align(4))]
    struct Model([u32; 12]);

    const UFCON_W: usize = 0x08 / 4;
    const UTRSTAT_W: usize = 0x10 / 4;
    const UFSTAT_W: usize = 0x18 / 4;
    const UTXH_W: usize = 0x20 / 4;
    const URXH_W: usize = 0x24 / 4;
    const UBRDIV_W: usize = 0x28 / 4;

    struct Rig {
        model: *mut Model,
        uart: ExynosUart,
    }

    impl Rig {
        fn new() -> Rig {
            let model = Box::into_raw(Box::new(Model([0; 12])));
            // SAFETY: the leaked model is 0x30 bytes, as large as the register
            // block, lives for ever and is only touched through this rig.
            let uart = unsafe { ExynosUart::new(model as usize) };
            Rig { model, uart }
        }
        fn set(&self, word: usize, v: u32) {
            // SAFETY: `word` < 12 in every caller; the model outlives the rig.
            unsafe { write_volatile(&mut (*self.model).0[word], v) }
        }
        fn get(&self, word: usize) -> u32 {
            // SAFETY: as in `set`.
            unsafe { read_volatile(&(*self.model).0[word]) }
        }
    }

    #[test]
    fn offsets_match_the_exynos_layout() {
        assert_eq!(core::mem::size_of::<ExynosUartRegs>(), 0x30);
        let r = Rig::new();
        let base = r.model as usize;
        let regs = r.uart.regs;
        assert_eq!(&regs.ufstat as *const _ as usize - base, 0x18);
        assert_eq!(&regs.utxh as *const _ as usize - base, 0x20);
        assert_eq!(&regs.ubrdiv as *const _ as usize - base, 0x28);
    }

    #[test]
    fn fifo_mode_waits_on_ufstat_tx_full() {
        let mut r = Rig::new();
        r.set(UFCON_W, 1);
        // TX full (bit 24): nothing may be written, whatever UTRSTAT says.
        r.set(UFSTAT_W, 1 << 24 | 16 << 16);
        r.set(UTRSTAT_W, 0b110);
        assert!(!r.uart.tx_ready());
        assert!(!r.uart.try_put(b'x'));
        assert_eq!(r.get(UTXH_W), 0);
        // A non-full FIFO takes a byte even though UTRSTAT says "not empty".
        r.set(UFSTAT_W, 15 << 16);
        r.set(UTRSTAT_W, 0);
        assert!(r.uart.try_put(b'A'));
        assert_eq!(r.get(UTXH_W), b'A' as u32);
        assert!(r.uart.put(b'B'));
        assert_eq!(r.get(UTXH_W), b'B' as u32);
    }

    #[test]
    fn put_gives_up_on_a_transmitter_that_never_becomes_ready() {
        let mut r = Rig::new();
        // What an empty bus reads: all ones, so UFSTAT.TX_FULL never clears.
        for w in [UFCON_W, UTRSTAT_W, UFSTAT_W] {
            r.set(w, u32::MAX);
        }
        assert!(!r.uart.put(b'x'));
        assert_eq!(r.get(UTXH_W), 0, "nothing written");
        // FIFO off and the holding register never empty: the same.
        r.set(UFCON_W, 0);
        r.set(UTRSTAT_W, 0);
        assert!(!r.uart.put(b'y'));
        assert_eq!(r.get(UTXH_W), 0);
    }

    #[test]
    fn fifo_off_waits_on_utrstat_tx_buffer_empty() {
        let mut r = Rig::new();
        r.set(UFCON_W, 0);
        // Holding register busy: bit 1 clear; a stale UFSTAT must not matter.
        r.set(UTRSTAT_W, 0);
        r.set(UFSTAT_W, 0);
        assert!(!r.uart.try_put(b'x'));
        assert_eq!(r.get(UTXH_W), 0);
        r.set(UFSTAT_W, 1 << 24);
        r.set(UTRSTAT_W, 1 << 1);
        assert!(r.uart.try_put(b'C'));
        assert_eq!(r.get(UTXH_W), b'C' as u32);
    }

    #[test]
    fn receive_uses_the_status_of_the_active_mode() {
        let mut r = Rig::new();
        r.set(URXH_W, b'r' as u32);
        // FIFO on: count or full flag.
        r.set(UFCON_W, 1);
        r.set(UTRSTAT_W, 1);
        assert_eq!(r.uart.get(), None);
        r.set(UFSTAT_W, 3);
        assert_eq!(r.uart.get(), Some(b'r'));
        r.set(UFSTAT_W, 1 << 8);
        assert_eq!(r.uart.get(), Some(b'r'));
        // FIFO off: UTRSTAT bit 0.
        r.set(UFCON_W, 0);
        r.set(UFSTAT_W, 3);
        r.set(UTRSTAT_W, 0);
        assert_eq!(r.uart.get(), None);
        r.set(UTRSTAT_W, 1);
        assert_eq!(r.uart.get(), Some(b'r'));
    }

    #[test]
    fn selected_by_the_exynos_compatible() {
        use crate::drivers::uart::UartKind;
        assert_eq!(
            UartKind::from_compatible("samsung,exynos4210-uart"),
            Some(UartKind::Exynos)
        );
        assert_eq!(UartKind::Exynos.name(), "Exynos UART");
    }

    #[test]
    fn baud_registers_are_left_alone() {
        let mut r = Rig::new();
        r.set(UBRDIV_W, 0x23);
        r.set(UFCON_W, 1);
        assert!(r.uart.put(b'z'));
        let _ = r.uart.get();
        assert_eq!(r.get(UBRDIV_W), 0x23);
        assert_eq!(r.get(UFCON_W), 1);
    }
}
