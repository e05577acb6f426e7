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
}

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

/// Writes formatted text as is.
pub fn write_fmt(args: fmt::Arguments<'_>) {
    crate::ramlog::write_fmt(args); // the RAM log gets every line too
    let mut c = CONSOLE.lock();
    if let Some(s) = c.as_mut() {
        let _ = Writer(s.as_mut()).write_fmt(args);
    }
}

/// Reads one byte if one is waiting.
pub fn get() -> Option<u8> {
    CONSOLE.lock().as_mut().and_then(|s| s.get())
}

/// Writes a guest's console bytes unchanged (Dom0's hvc0 already sends
/// "\r\n"); they are not snowvisor's log, so the RAM log does not get them.
pub fn write_raw(bytes: &[u8]) {
    if let Some(s) = CONSOLE.lock().as_mut() {
        bytes.iter().for_each(|&b| s.put(b));
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
            write_fmt(format_args!(
                "snowvisor: {}{}\n",
                prefix(r.level()),
                r.args()
            ));
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
