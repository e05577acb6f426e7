//! ARM PrimeCell UART (PL011): polled transmit and receive, and the receive
//! interrupt (FIFO level or receive timeout) for console input.
//!
//! Register offsets and bits: ARM PrimeCell UART (PL011) Technical Reference
//! Manual (DDI 0183), section 3.2 (DR 0x000, FR 0x018, IMSC 0x038, ICR 0x044).

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

    /// Waits for room, at most [`super::uart::TX_POLLS`] reads of FR, then writes `b`;
    /// false (nothing written) if the transmit FIFO stayed full: a UART that
    /// is not enabled, not clocked or not there never drains it.
    pub fn put(&mut self, b: u8) -> bool {
        super::uart::put_polled(|| self.try_put(b))
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

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::boxed::Box;
    use core::ptr::{read_volatile, write_volatile};

    /// RAM standing in for the register block: word i is the register at 4*i.
    #[repr(C, align(4))]
    struct Model([u32; 0x48 / 4]);

    const DR_W: usize = 0;
    const FR_W: usize = 0x18 / 4;

    fn rig() -> (*mut Model, Pl011) {
        let model = Box::into_raw(Box::new(Model([0; 0x48 / 4])));
        // SAFETY: the leaked model is as large as the register block, lives
        // for ever and is only touched through this test.
        (model, unsafe { Pl011::new(model as usize) })
    }

    fn set(m: *mut Model, word: usize, v: u32) {
        // SAFETY: `word` indexes the model in every caller; it is never freed.
        unsafe { write_volatile(&mut (*m).0[word], v) }
    }

    fn get(m: *mut Model, word: usize) -> u32 {
        // SAFETY: as in `set`.
        unsafe { read_volatile(&(*m).0[word]) }
    }

    #[test]
    fn offsets_match_the_pl011_layout() {
        let (m, u) = rig();
        assert_eq!(core::mem::size_of::<Pl011Regs>(), 0x48);
        assert_eq!(&u.regs.fr as *const _ as usize - m as usize, 0x18);
        assert_eq!(&u.regs.icr as *const _ as usize - m as usize, 0x44);
    }

    #[test]
    fn put_waits_for_room_then_writes() {
        let (m, mut u) = rig();
        set(m, FR_W, 1 << 5);
        assert!(!u.try_put(b'a'), "TXFF set: no room");
        assert_eq!(get(m, DR_W), 0);
        set(m, FR_W, 0);
        assert!(u.put(b'b'));
        assert_eq!(get(m, DR_W), b'b' as u32);
    }

    #[test]
    fn put_gives_up_on_a_fifo_that_never_drains() {
        let (m, mut u) = rig();
        // An empty bus reads all ones: TXFF for ever.
        set(m, FR_W, u32::MAX);
        assert!(!u.put(b'x'));
        assert_eq!(get(m, DR_W), 0, "nothing written");
    }
}
