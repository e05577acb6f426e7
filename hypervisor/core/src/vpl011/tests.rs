use alloc::vec::Vec;

use super::*;

fn rd(u: &mut Vpl011, off: u32) -> u32 {
    u.read(off, 4).unwrap()
}

fn wr(u: &mut Vpl011, off: u32, v: u32) {
    u.write(off, 4, v).unwrap()
}

fn drain(u: &mut Vpl011) -> Vec<u8> {
    let mut out = Vec::new();
    u.drain_tx(|b| {
        out.push(b);
        true
    });
    out
}

#[test]
fn reset_state_and_id_registers() {
    let mut u = Vpl011::new();
    assert_eq!(rd(&mut u, reg::FR), fr::TXFE | fr::RXFE);
    assert_eq!(rd(&mut u, reg::CR), 0x300);
    assert_eq!(rd(&mut u, reg::IFLS), 0x12);
    assert_eq!(rd(&mut u, reg::IMSC), 0);
    assert_eq!(rd(&mut u, reg::RIS), 0);
    assert_eq!(rd(&mut u, reg::MIS), 0);
    assert!(!u.irq_level());
    let ids: Vec<u32> = (0..8).map(|i| rd(&mut u, 0xfe0 + 4 * i)).collect();
    assert_eq!(ids, [0x11, 0x10, 0x34, 0x00, 0x0d, 0xf0, 0x05, 0xb1]);
    // AMBA probing: part number 0x011, designer 0x41 ('A'), revision 3.
    let periph = ids[..4]
        .iter()
        .enumerate()
        .fold(0, |a, (i, b)| a | (b << (8 * i)));
    assert_eq!(
        (periph & 0xfff, (periph >> 12) & 0xff, (periph >> 20) & 0xf),
        (0x011, 0x41, 3)
    );
}

#[test]
fn transmit_in_order_with_backpressure() {
    let mut u = Vpl011::new();
    for b in b"hi\n" {
        wr(&mut u, reg::DR, u32::from(*b));
    }
    assert_eq!(u.tx_pending(), 3);
    assert_eq!(rd(&mut u, reg::FR) & (fr::BUSY | fr::TXFE), fr::BUSY);
    assert_eq!(drain(&mut u), b"hi\n");
    assert_eq!(rd(&mut u, reg::FR), fr::TXFE | fr::RXFE);
    // A full FIFO: TXFF, and a byte written anyway is counted as lost.
    for i in 0..FIFO_DEPTH as u32 {
        u.write(reg::DR, 1, u32::from(b'a') + i % 26).unwrap();
    }
    assert_ne!(rd(&mut u, reg::FR) & fr::TXFF, 0);
    wr(&mut u, reg::DR, u32::from(b'!'));
    assert_eq!((u.tx_pending(), u.tx_dropped()), (FIFO_DEPTH, 1));
    // A console that takes 10 bytes now: the rest wait, in order.
    let mut got = Vec::new();
    assert_eq!(
        u.drain_tx(|b| {
            got.push(b);
            got.len() < 10
        }),
        9
    );
    assert_eq!(got.len(), 10, "the refused byte was offered once");
    assert_eq!(&got[..9], b"abcdefghi");
    assert_eq!(rd(&mut u, reg::FR) & fr::TXFF, 0);
    let rest = drain(&mut u);
    assert_eq!(rest.len(), FIFO_DEPTH - 9);
    assert_eq!(rest[0], b'j');
}

#[test]
fn transmit_interrupt_follows_the_fifo_level() {
    let mut u = Vpl011::new();
    wr(&mut u, reg::IMSC, int::TX);
    // Half-full trigger (16 bytes): at or below it the interrupt is raised.
    for _ in 0..16 {
        wr(&mut u, reg::DR, u32::from(b'x'));
    }
    assert_eq!(rd(&mut u, reg::RIS) & int::TX, int::TX);
    assert!(u.irq_level());
    wr(&mut u, reg::DR, u32::from(b'x'));
    assert_eq!(rd(&mut u, reg::RIS) & int::TX, 0, "17 bytes: above");
    assert!(!u.irq_level());
    let mut n = 0;
    u.drain_tx(|_| {
        n += 1;
        n <= 1
    });
    assert_eq!(u.tx_pending(), 16);
    assert_eq!(rd(&mut u, reg::MIS), int::TX);
    // Cleared by ICR until the FIFO changes again.
    wr(&mut u, reg::ICR, int::TX);
    assert!(!u.irq_level());
    drain(&mut u);
    assert!(u.irq_level());
    // Masked: raw status only.
    wr(&mut u, reg::IMSC, 0);
    assert_eq!(
        (rd(&mut u, reg::RIS) & int::TX, rd(&mut u, reg::MIS)),
        (int::TX, 0)
    );
    assert!(!u.irq_level());
    // An eighth (4 bytes) as the TX trigger level.
    wr(&mut u, reg::IFLS, 0x10);
    for _ in 0..5 {
        wr(&mut u, reg::DR, 0);
    }
    assert_eq!(rd(&mut u, reg::RIS) & int::TX, 0);
}

#[test]
fn receive_fifo_and_interrupts() {
    let mut u = Vpl011::new();
    wr(&mut u, reg::IMSC, int::RX | int::RT);
    assert_eq!(u.push_rx(b"abc"), 3);
    assert_eq!(rd(&mut u, reg::FR) & fr::RXFE, 0);
    // Below the RX trigger: only the timeout interrupt.
    assert_eq!(rd(&mut u, reg::MIS), int::RT);
    assert!(u.irq_level());
    let got: Vec<u32> = (0..3).map(|_| rd(&mut u, reg::DR)).collect();
    assert_eq!(got, [u32::from(b'a'), u32::from(b'b'), u32::from(b'c')]);
    assert_ne!(rd(&mut u, reg::FR) & fr::RXFE, 0);
    assert!(!u.irq_level());
    assert_eq!(rd(&mut u, reg::DR), 0, "an empty FIFO reads 0");
    // More than fits: the rest stays with the caller.
    let many = [b'z'; 40];
    assert_eq!(u.push_rx(&many), FIFO_DEPTH);
    assert_eq!(u.push_rx(b"more"), 0);
    assert_ne!(rd(&mut u, reg::FR) & fr::RXFF, 0);
    assert_eq!(rd(&mut u, reg::MIS), int::RX | int::RT);
    for _ in 0..FIFO_DEPTH - 15 {
        rd(&mut u, reg::DR);
    }
    assert_eq!(
        rd(&mut u, reg::RIS) & (int::RX | int::RT),
        int::RT,
        "15 left: below half"
    );
    // RSR/ECR: no errors to report; writes clear nothing that is there.
    assert_eq!(rd(&mut u, reg::RSR_ECR), 0);
    wr(&mut u, reg::RSR_ECR, 0xff);
}

#[test]
fn configuration_reads_back_and_changes_nothing() {
    let mut u = Vpl011::new();
    for (r, v, back) in [
        (reg::IBRD, 0x1_0027, 0x0027),
        (reg::FBRD, 0xff, 0x3f),
        (reg::LCR_H, 0x170, 0x70),
        (reg::CR, 0xffff_ffff, 0xff87),
        (reg::ILPR, 0x1ff, 0xff),
        (reg::DMACR, 0xf, 7),
        (reg::IMSC, 0xffff, 0x7ff),
    ] {
        wr(&mut u, r, v);
        assert_eq!(rd(&mut u, r), back, "{r:#x}");
    }
    // Disabled by CR and FIFOs off by LCR_H: still transmits (SBSA UART).
    wr(&mut u, reg::CR, 0);
    wr(&mut u, reg::LCR_H, 0);
    wr(&mut u, reg::DR, u32::from(b'k'));
    wr(&mut u, reg::DR, u32::from(b'!'));
    assert_eq!(drain(&mut u), b"k!");
    // Read-only registers ignore writes; ICR reads 0.
    wr(&mut u, reg::FR, 0);
    wr(&mut u, 0xfe0, 0);
    assert_eq!(rd(&mut u, reg::FR), fr::TXFE | fr::RXFE);
    assert_eq!(rd(&mut u, 0xfe0), 0x11);
    assert_eq!(rd(&mut u, reg::ICR), 0);
}

#[test]
fn narrow_accesses_and_refusals() {
    let mut u = Vpl011::new();
    u.write(reg::DR, 1, u32::from(b'q')).unwrap();
    u.write(reg::DR, 2, 0x1234).unwrap();
    assert_eq!(drain(&mut u), [b'q', 0x34]);
    assert_eq!(u.read(reg::FR, 2).unwrap(), fr::TXFE | fr::RXFE);
    assert_eq!(u.read(reg::FR, 1).unwrap(), fr::TXFE | fr::RXFE);
    for off in [0x008, 0x01c, 0x04c, 0x080, 0xfd0, 0x1000, !3] {
        let e = Vpl011Error::NoRegister { offset: off };
        assert_eq!(u.read(off, 4), Err(e), "{off:#x}");
        assert_eq!(u.write(off, 4, 0), Err(e), "{off:#x}");
    }
    for (off, size) in [(0x019, 1), (0x002, 2), (0x000, 8), (0x000, 3), (0x000, 0)] {
        let e = Vpl011Error::BadAccess { offset: off, size };
        assert_eq!(u.read(off, size), Err(e));
        assert_eq!(u.write(off, size, 0), Err(e));
    }
    assert_eq!(
        alloc::format!("{}", Vpl011Error::NoRegister { offset: 0x4c }),
        "vpl011: no register at offset 0x4c"
    );
    assert_eq!(
        alloc::format!(
            "{}",
            Vpl011Error::BadAccess {
                offset: 0x19,
                size: 1
            }
        ),
        "vpl011: 1-byte access at offset 0x19 (registers take aligned 1, 2 or 4-byte accesses)"
    );
}

/// Linux's SBSA UART driver, step by step (amba-pl011.c: `pl011_hwinit`,
/// `pl011_enable_interrupts`, the console's putchar and its wait for
/// !BUSY, `pl011_int` reading until RXFE): the console output arrives and
/// an input byte raises the line and is read.
#[test]
fn linux_sbsa_driver_sequence() {
    let mut u = Vpl011::new();
    // hwinit: clear error and receive interrupts, save IMSC, mask RX/RT in.
    wr(&mut u, reg::ICR, 0x7c0 | int::RT | int::RX);
    let saved = rd(&mut u, reg::IMSC);
    assert_eq!(saved, 0);
    // enable_interrupts: clear, drain the RX FIFO, unmask RX and RT.
    wr(&mut u, reg::ICR, int::RX | int::RT);
    let mut spins = 0;
    while rd(&mut u, reg::FR) & fr::RXFE == 0 && spins < 2 * FIFO_DEPTH {
        rd(&mut u, reg::DR);
        spins += 1;
    }
    wr(&mut u, reg::IMSC, int::RX | int::RT);
    assert!(!u.irq_level());
    // Console write of a line longer than the FIFO, the console taking
    // bytes whenever the guest waits.
    let line = b"Booting Linux on physical CPU 0x0 (an emulated SBSA UART)\n";
    let mut out = Vec::new();
    for &b in line {
        while rd(&mut u, reg::FR) & fr::TXFF != 0 {
            out.extend(drain(&mut u));
        }
        wr(&mut u, reg::DR, u32::from(b));
    }
    while rd(&mut u, reg::FR) & fr::BUSY != 0 {
        out.extend(drain(&mut u));
    }
    assert_eq!(out, line);
    assert_eq!(u.tx_dropped(), 0);
    // Input: the line goes high; the handler reads until RXFE.
    assert_eq!(u.push_rx(b"ls\r"), 3);
    assert!(u.irq_level());
    let status = rd(&mut u, reg::MIS);
    wr(&mut u, reg::ICR, status & !(int::TX | int::RT | int::RX));
    let mut got = Vec::new();
    while rd(&mut u, reg::FR) & fr::RXFE == 0 {
        got.push(rd(&mut u, reg::DR) as u8);
    }
    assert_eq!(got, b"ls\r");
    assert!(!u.irq_level());
}
