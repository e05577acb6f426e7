//! snowvisor's console and its `log` backend.
//!
//! Every line starts with `snowvisor: ` (plus the level for anything but info),
//! so the boot log is greppable. Until a UART is attached, output is dropped.

use alloc::boxed::Box;
use core::fmt::{self, Write};

use spin::Mutex;

use crate::bootargs::LogLevel;

/// A byte sink and source: a UART, or in tests a buffer.
pub trait Serial: Send {
    fn put(&mut self, b: u8);
    fn get(&mut self) -> Option<u8>;
    /// Turns on the receive interrupt; false if the device cannot.
    fn enable_rx_interrupt(&mut self) -> bool {
        false
    }
    /// Clears the receive interrupt (before draining the FIFO).
    fn ack_rx_interrupt(&mut self) {}
    /// Writes `b` if the transmitter has room without waiting; false if not.
    fn try_put(&mut self, b: u8) -> bool {
        self.put(b);
        true
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

static GUEST_TX: Mutex<TxRing> = Mutex::new(TxRing::new());

static CONSOLE: Mutex<Option<Box<dyn Serial>>> = Mutex::new(None);

/// Attaches the console, replacing any earlier one.
pub fn attach(s: Box<dyn Serial>) {
    *CONSOLE.lock() = Some(s);
}

struct Writer<'a>(&'a mut dyn Serial);

impl Write for Writer<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                self.0.put(b'\r');
            }
            self.0.put(b);
        }
        Ok(())
    }
}

/// Writes formatted text as is, after the guest output still waiting (so
/// the two keep their order).
pub fn write_fmt(args: fmt::Arguments<'_>) {
    crate::ramlog::write_fmt(args); // the RAM log gets every line too
    write_uart(args);
}

/// [`write_fmt`] for text a guest made snowvisor print (log target
/// `guest`): the RAM log keeps the first such report of the boot.
pub fn write_guest_fmt(args: fmt::Arguments<'_>) {
    crate::ramlog::write_guest_fmt(args);
    write_uart(args);
}

fn write_uart(args: fmt::Arguments<'_>) {
    flush_guest();
    let mut c = CONSOLE.lock();
    if let Some(s) = c.as_mut() {
        let _ = Writer(s.as_mut()).write_fmt(args);
    }
}

/// Reads one byte if one is waiting.
pub fn get() -> Option<u8> {
    CONSOLE.lock().as_mut().and_then(|s| s.get())
}

/// Queues a guest's console bytes, unchanged (Dom0's hvc0 already sends
/// "\r\n"), and sends what the UART takes without waiting: a guest's output
/// never holds the CPU for the time a polled UART needs to send it. The rest
/// goes out at later exits and interrupts ([`drain_guest`]). They are not
/// snowvisor's log, so the RAM log does not get them.
pub fn write_guest(bytes: &[u8]) {
    GUEST_TX.lock().push(bytes);
    drain_guest();
}

/// Sends queued guest output while the UART takes it without waiting.
pub fn drain_guest() {
    send_guest(false);
}

/// Sends all queued guest output, waiting for the UART (before snowvisor's
/// own lines, and before the machine stops). At most [`GUEST_TX_SIZE`] bytes.
pub fn flush_guest() {
    send_guest(true);
}

/// Moves queued guest output to the UART: all of it, waiting for the UART,
/// when `wait`; else only what it takes without waiting. Does nothing when
/// the queue or the console is already held (an interrupted print).
fn send_guest(wait: bool) {
    let Some(mut tx) = GUEST_TX.try_lock() else {
        return;
    };
    if tx.is_empty() {
        return;
    }
    if let Some(mut c) = CONSOLE.try_lock() {
        if let Some(s) = c.as_mut() {
            tx.drain(|b| {
                if wait {
                    s.put(b);
                    true
                } else {
                    s.try_put(b)
                }
            });
        }
    }
}

/// Acknowledges the receive interrupt, then drains the receive FIFO into
/// `out` (up to its length); returns the number of bytes read. In that order
/// a byte arriving meanwhile raises the interrupt again instead of waiting
/// unseen for the next one.
pub fn receive(out: &mut [u8]) -> usize {
    let mut c = CONSOLE.lock();
    let Some(s) = c.as_mut() else { return 0 };
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

/// Turns on the console UART's receive interrupt; false if it has none.
pub fn enable_rx_interrupt() -> bool {
    CONSOLE
        .lock()
        .as_mut()
        .is_some_and(|s| s.enable_rx_interrupt())
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

struct Logger;

fn prefix(l: log::Level) -> &'static str {
    match l {
        log::Level::Error => "error: ",
        log::Level::Warn => "warning: ",
        log::Level::Info => "",
        log::Level::Debug => "debug: ",
        log::Level::Trace => "trace: ",
    }
}

impl log::Log for Logger {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::max_level()
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            let line = format_args!("snowvisor: {}{}\n", prefix(r.level()), r.args());
            if r.target() == "guest" {
                write_guest_fmt(line);
            } else {
                write_fmt(line);
            }
        }
    }
    fn flush(&self) {}
}

static LOGGER: Logger = Logger;

/// Installs the logger (once) and sets the level.
pub fn set_level(l: LogLevel) {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(match l {
        LogLevel::Error => log::LevelFilter::Error,
        LogLevel::Warn => log::LevelFilter::Warn,
        LogLevel::Info => log::LevelFilter::Info,
        LogLevel::Debug => log::LevelFilter::Debug,
        LogLevel::Trace => log::LevelFilter::Trace,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::sync::Arc;
    use alloc::vec::Vec;

    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Serial for Buf {
        fn put(&mut self, b: u8) {
            self.0.lock().push(b);
        }
        fn get(&mut self) -> Option<u8> {
            None
        }
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

    #[test]
    fn levels_filter_and_prefix() {
        let out = Arc::new(Mutex::new(Vec::new()));
        attach(Box::new(Buf(out.clone())));
        set_level(LogLevel::Warn);
        log::info!("hidden");
        log::warn!("shown {}", 1);
        set_level(LogLevel::Info);
        log::info!("now shown");
        let text = alloc::string::String::from_utf8(out.lock().clone()).unwrap();
        assert_eq!(
            text,
            "snowvisor: warning: shown 1\r\nsnowvisor: now shown\r\n"
        );
    }
}
