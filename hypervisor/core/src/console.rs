//! The console's logic: where its output goes ([`Sink`]: a UART or none, and
//! what no UART got), the queue of guest output ([`TxRing`]), and the line
//! format of its `log` backend. The kernel holds the machine's one console
//! (`snowvisor::console`) and writes every line to the RAM log too.
//!
//! Every line starts with `snowvisor: ` (plus the level for anything but info,
//! [`prefix`]), so the boot log is greppable. A UART whose transmitter never
//! becomes ready (its `put` gives up) is dropped for good: from then on, as
//! with no usable UART at all, snowvisor writes to the RAM log only, says so
//! there, and counts what no UART got ([`Sink::unsent`]).

use alloc::boxed::Box;
use alloc::string::String;
use core::fmt::{self, Write};

use crate::bootargs::LogLevel;

/// A byte sink and source: a UART, or in tests a buffer.
pub trait Serial: Send {
    /// Writes `b`, waiting a bounded time for the transmitter; false if it
    /// never became ready (`b` is lost, and the console gives the UART up).
    fn put(&mut self, b: u8) -> bool;
    fn get(&mut self) -> Option<u8>;
    /// Turns on the receive interrupt; false if the device cannot.
    fn enable_rx_interrupt(&mut self) -> bool {
        false
    }
    /// Clears the receive interrupt (before draining the FIFO).
    fn ack_rx_interrupt(&mut self) {}
    /// Writes `b` if the transmitter has room without waiting; false if not.
    fn try_put(&mut self, b: u8) -> bool {
        self.put(b)
    }
}

/// The UART the console writes to.
pub struct Port {
    pub serial: Box<dyn Serial>,
    /// Physical base of its registers (snowvisor keeps it from Dom0).
    pub base: usize,
    /// How the log names it, e.g. `PL011 at 0x09000000`.
    pub name: String,
}

/// Where console output goes: a UART or none, and what no UART got.
#[derive(Default)]
pub struct Sink {
    port: Option<Port>,
    /// Bytes (snowvisor's and guests') no UART got, since boot.
    unsent: u64,
}

/// What [`Sink::write`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// Every byte went to the UART (or there was none to try).
    Done,
    /// The UART named here never became ready: it is given up.
    GaveUp { name: String, base: usize },
}

impl Sink {
    pub const fn new() -> Self {
        Sink {
            port: None,
            unsent: 0,
        }
    }

    /// Writes `bytes` with `\n` sent as `\r\n` when `crlf`. On the first
    /// byte the UART does not take, the UART is given up; that byte and the
    /// rest are counted in [`Sink::unsent`].
    pub fn write(&mut self, bytes: &[u8], crlf: bool) -> Sent {
        let Some(p) = self.port.as_mut() else {
            self.unsent += bytes.len() as u64;
            return Sent::Done;
        };
        for (i, &b) in bytes.iter().enumerate() {
            if (crlf && b == b'\n' && !p.serial.put(b'\r')) || !p.serial.put(b) {
                self.unsent += (bytes.len() - i) as u64;
                let p = self.port.take().expect("port present");
                return Sent::GaveUp {
                    name: p.name,
                    base: p.base,
                };
            }
        }
        Sent::Done
    }

    /// Moves queued guest output to the UART: all of it when `wait` (each
    /// byte waiting a bounded time), else what the UART takes without
    /// waiting. With no UART, or once it is given up, the queue is emptied
    /// into [`Sink::unsent`].
    pub fn send_guest(&mut self, tx: &mut TxRing, wait: bool) -> Sent {
        let mut gave_up = Sent::Done;
        if let Some(p) = self.port.as_mut() {
            let mut dead = false;
            tx.drain(|b| {
                if wait {
                    dead = !p.serial.put(b);
                    !dead
                } else {
                    p.serial.try_put(b)
                }
            });
            if !dead {
                return Sent::Done;
            }
            let p = self.port.take().expect("port present");
            gave_up = Sent::GaveUp {
                name: p.name,
                base: p.base,
            };
        }
        self.unsent += tx.drain(|_| true) as u64;
        gave_up
    }

    /// Writes formatted text as [`Sink::write`] does, with `\n` as `\r\n`;
    /// a UART given up on the way is reported once, in the result.
    pub fn write_fmt(&mut self, args: fmt::Arguments<'_>) -> Sent {
        let mut w = SinkWriter {
            sink: self,
            sent: Sent::Done,
        };
        let _ = w.write_fmt(args);
        w.sent
    }

    /// Acknowledges the UART's receive interrupt, then drains its receive
    /// FIFO into `out` (up to its length); returns the number of bytes read
    /// (0 without a UART). In that order a byte arriving meanwhile raises the
    /// interrupt again instead of waiting unseen for the next one.
    pub fn receive(&mut self, out: &mut [u8]) -> usize {
        let Some(s) = self.port().map(|p| p.serial.as_mut()) else {
            return 0;
        };
        s.ack_rx_interrupt();
        let mut n = 0;
        while n < out.len() {
            match s.get() {
                Some(b) => {
                    out[n] = b;
                    n += 1;
                }
                None => break,
            }
        }
        n
    }

    /// Attaches `port`, replacing any earlier UART.
    pub fn attach(&mut self, port: Port) {
        self.port = Some(port);
    }

    /// Drops the UART: from now on everything is counted in [`Sink::unsent`].
    pub fn detach(&mut self) {
        self.port = None;
    }

    /// The UART, if there is one.
    pub fn port(&mut self) -> Option<&mut Port> {
        self.port.as_mut()
    }

    /// Bytes no UART got since boot.
    pub fn unsent(&self) -> u64 {
        self.unsent
    }
}

/// Bytes of guest console output held for the UART.
pub const GUEST_TX_SIZE: usize = 16 * 1024;

/// Guest console output waiting for the UART: a byte FIFO that drops what
/// does not fit (and counts it), as Xen's serial transmit buffer does.
pub struct TxRing {
    buf: [u8; GUEST_TX_SIZE],
    head: usize,
    len: usize,
    dropped: u64,
}

impl TxRing {
    pub const fn new() -> Self {
        TxRing {
            buf: [0; GUEST_TX_SIZE],
            head: 0,
            len: 0,
            dropped: 0,
        }
    }

    /// Appends what fits; the rest is dropped and counted.
    pub fn push(&mut self, bytes: &[u8]) {
        let n = bytes.len().min(GUEST_TX_SIZE - self.len);
        for &b in &bytes[..n] {
            self.buf[(self.head + self.len) % GUEST_TX_SIZE] = b;
            self.len += 1;
        }
        self.dropped += (bytes.len() - n) as u64;
    }

    /// Hands bytes, oldest first, to `put` until it refuses one (false) or
    /// the ring is empty; returns how many were taken.
    pub fn drain(&mut self, mut put: impl FnMut(u8) -> bool) -> usize {
        let mut n = 0;
        while self.len > 0 && put(self.buf[self.head]) {
            self.head = (self.head + 1) % GUEST_TX_SIZE;
            self.len -= 1;
            n += 1;
        }
        n
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes lost because the ring was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

impl Default for TxRing {
    fn default() -> Self {
        Self::new()
    }
}

/// `fmt::Write` over a [`Sink`], remembering a UART given up.
struct SinkWriter<'a> {
    sink: &'a mut Sink,
    sent: Sent,
}

impl Write for SinkWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if let r @ Sent::GaveUp { .. } = self.sink.write(s.as_bytes(), true) {
            self.sent = r;
        }
        Ok(())
    }
}

/// What a log line at level `l` starts with after `snowvisor: `.
pub fn prefix(l: log::Level) -> &'static str {
    match l {
        log::Level::Error => "error: ",
        log::Level::Warn => "warning: ",
        log::Level::Info => "",
        log::Level::Debug => "debug: ",
        log::Level::Trace => "trace: ",
    }
}

/// The `log` filter of level `l`.
pub fn level_filter(l: LogLevel) -> log::LevelFilter {
    match l {
        LogLevel::Error => log::LevelFilter::Error,
        LogLevel::Warn => log::LevelFilter::Warn,
        LogLevel::Info => log::LevelFilter::Info,
        LogLevel::Debug => log::LevelFilter::Debug,
        LogLevel::Trace => log::LevelFilter::Trace,
    }
}

/// The current log level.
pub fn level() -> LogLevel {
    match log::max_level() {
        log::LevelFilter::Off | log::LevelFilter::Error => LogLevel::Error,
        log::LevelFilter::Warn => LogLevel::Warn,
        log::LevelFilter::Info => LogLevel::Info,
        log::LevelFilter::Debug => LogLevel::Debug,
        log::LevelFilter::Trace => LogLevel::Trace,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::sync::Arc;
    use alloc::vec::Vec;
    use spin::Mutex;

    /// A UART whose transmitter takes `room` bytes, then never again (a
    /// FIFO that never drains: what a UART that is not enabled does).
    struct Stuck {
        took: Arc<Mutex<Vec<u8>>>,
        room: usize,
    }
    impl Serial for Stuck {
        fn put(&mut self, b: u8) -> bool {
            let mut t = self.took.lock();
            if t.len() == self.room {
                return false;
            }
            t.push(b);
            true
        }
        fn get(&mut self) -> Option<u8> {
            None
        }
    }

    fn stuck_sink(room: usize) -> (Sink, Arc<Mutex<Vec<u8>>>) {
        let took = Arc::new(Mutex::new(Vec::new()));
        let mut sink = Sink::new();
        sink.port = Some(Port {
            serial: Box::new(Stuck {
                took: took.clone(),
                room,
            }),
            base: 0x1000_0000,
            name: "PL011 /pl011@10000000".into(),
        });
        (sink, took)
    }

    #[test]
    fn a_uart_that_stops_taking_bytes_is_given_up_and_counted() {
        let (mut sink, took) = stuck_sink(5);
        assert_eq!(sink.write(b"ab\n", true), Sent::Done);
        assert_eq!(&took.lock()[..], b"ab\r\n");
        // Room for one more byte: 'c' goes, 'd' does not; 'd' and 'e' are lost.
        assert_eq!(
            sink.write(b"cde", true),
            Sent::GaveUp {
                name: "PL011 /pl011@10000000".into(),
                base: 0x1000_0000
            }
        );
        assert_eq!(&took.lock()[..], b"ab\r\nc");
        assert_eq!(sink.unsent(), 2);
        assert!(sink.port().is_none(), "given up for good");
        // From now on nothing is tried, everything counted.
        assert_eq!(sink.write(b"fghi\n", true), Sent::Done);
        assert_eq!(sink.unsent(), 7);
        assert_eq!(took.lock().len(), 5);
    }

    #[test]
    fn a_stuck_carriage_return_gives_the_uart_up_too() {
        let (mut sink, took) = stuck_sink(1);
        assert!(matches!(sink.write(b"x\ny", true), Sent::GaveUp { .. }));
        assert_eq!(&took.lock()[..], b"x");
        assert_eq!(sink.unsent(), 2, "the newline and y");
    }

    #[test]
    fn guest_output_without_a_uart_is_counted_not_kept() {
        let mut ring = TxRing::new();
        let mut sink = Sink::new();
        ring.push(b"hello");
        assert_eq!(sink.send_guest(&mut ring, true), Sent::Done);
        assert!(ring.is_empty());
        assert_eq!(sink.unsent(), 5);
        // A UART that takes 3 bytes while waiting, then never again.
        let (mut sink, took) = stuck_sink(3);
        ring.push(b"abcdef");
        assert!(matches!(
            sink.send_guest(&mut ring, true),
            Sent::GaveUp { .. }
        ));
        assert_eq!(&took.lock()[..], b"abc");
        assert!(ring.is_empty(), "the rest is dropped, not kept");
        assert_eq!(sink.unsent(), 3);
        // Not waiting, a full UART keeps the queue for later and is kept.
        let (mut sink, _) = stuck_sink(0);
        ring.push(b"zz");
        assert_eq!(sink.send_guest(&mut ring, false), Sent::Done);
        assert_eq!(ring.len(), 2);
        assert!(sink.port().is_some());
    }

    #[test]
    fn guest_output_queue_drops_and_drains_in_order() {
        let mut r = TxRing::new();
        r.push(&[1; GUEST_TX_SIZE - 2]);
        r.push(b"abcd");
        assert_eq!((r.len(), r.dropped()), (GUEST_TX_SIZE, 2));
        // The UART takes 3 bytes, then is full.
        let mut took = Vec::new();
        assert_eq!(
            r.drain(|b| {
                took.push(b);
                took.len() <= 3
            }),
            3
        );
        assert_eq!(took.len(), 4, "the refused byte stays queued");
        let mut rest = Vec::new();
        r.drain(|b| {
            rest.push(b);
            true
        });
        assert_eq!(rest.len(), GUEST_TX_SIZE - 3);
        assert_eq!(&rest[rest.len() - 2..], b"ab");
        assert!(r.is_empty());
    }
}
