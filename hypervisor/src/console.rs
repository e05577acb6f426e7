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
    let mut c = CONSOLE.lock();
    if let Some(s) = c.as_mut() {
        let _ = Writer(s.as_mut()).write_fmt(args);
    }
}

/// Reads one byte if one is waiting.
pub fn get() -> Option<u8> {
    CONSOLE.lock().as_mut().and_then(|s| s.get())
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
