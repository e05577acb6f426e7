//! ARM PrimeCell UART (PL011): polled transmit and receive, and the receive
//! interrupt (FIFO level or receive timeout) for console input.

use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

register_bitfields![u32,
    FR [
        RXFE OFFSET(4) NUMBITS(1) [],
        TXFF OFFSET(5) NUMBITS(1) [],
    ],
    /// IMSC (interrupt mask set/clear) and ICR (interrupt clear) share a layout.
    INT [
        RX OFFSET(4) NUMBITS(1) [],
        RT OFFSET(6) NUMBITS(1) [],
    ]
];

register_structs! {
    pub Pl011Regs {
        (0x000 => dr: ReadWrite<u32>),
        (0x004 => _rsr),
        (0x018 => fr: ReadOnly<u32, FR::Register>),
        (0x01c => _reserved),
        (0x038 => imsc: ReadWrite<u32, INT::Register>),
        (0x03c => _ris),
        (0x040 => _mis),
        (0x044 => icr: WriteOnly<u32, INT::Register>),
        (0x048 => @END),
    }
}

pub struct Pl011 {
    regs: &'static Pl011Regs,
}

// SAFETY: the driver owns its register block exclusively (constructor contract),
// so moving it to another CPU is no different from using it on this one.
unsafe impl Send for Pl011 {}

impl Pl011 {
    /// # Safety
    /// `base` must be the address of a PL011 register block, mapped as device
    /// memory for as long as the driver lives, and not driven by anyone else.
    pub unsafe fn new(base: usize) -> Self {
        // SAFETY: the caller guarantees a live, exclusive PL011 block at `base`.
        Pl011 {
            regs: unsafe { &*(base as *const Pl011Regs) },
        }
    }

    pub fn put(&mut self, b: u8) {
        while !self.try_put(b) {
            core::hint::spin_loop();
        }
    }

    /// Writes `b` if the transmit FIFO has room; false (nothing written) if full.
    pub fn try_put(&mut self, b: u8) -> bool {
        if self.regs.fr.is_set(FR::TXFF) {
            return false;
        }
        self.regs.dr.set(b as u32);
        true
    }

    pub fn get(&mut self) -> Option<u8> {
        if self.regs.fr.is_set(FR::RXFE) {
            None
        } else {
            Some(self.regs.dr.get() as u8)
        }
    }

    /// Unmasks the receive and receive-timeout interrupts: the UART's line
    /// is raised while received bytes wait.
    pub fn enable_rx_interrupt(&mut self) {
        self.regs.icr.write(INT::RX::SET + INT::RT::SET);
        self.regs.imsc.modify(INT::RX::SET + INT::RT::SET);
    }

    /// Clears the receive interrupts; drain the FIFO with `get` afterwards,
    /// so that a byte arriving meanwhile raises them again.
    pub fn ack_rx_interrupt(&mut self) {
        self.regs.icr.write(INT::RX::SET + INT::RT::SET);
    }
}
