//! snowvisor's console and its `log` backend: the machine's one [`Sink`]
//! and guest-output queue ([`TxRing`], logic in [`snowvisor_core::console`]).
//!
//! Every line goes to the RAM log; it also goes to the console UART while
//! there is one. With no usable UART ([`detach`]), or one given up, snowvisor
//! writes to the RAM log only, says so there, and counts what no UART got
//! ([`unsent`]).

use core::fmt;

use spin::Mutex;

use snowvisor_core::bootargs::LogLevel;
pub use snowvisor_core::console::{level, Port, Sent, Serial, Sink, TxRing, GUEST_TX_SIZE};
use snowvisor_core::console::{level_filter, prefix};

static CONSOLE: Mutex<Sink> = Mutex::new(Sink::new());

/// Attaches the console UART, replacing any earlier one.
pub fn attach(port: Port) {
    CONSOLE.lock().attach(port);
}

/// No usable UART: says `why` (on the UART one last time, and in the RAM
/// log), then writes to the RAM log only.
pub fn detach(why: fmt::Arguments<'_>) {
    log::warn!("console: {why}; snowvisor writes to the RAM log only from here");
    CONSOLE.lock().detach();
}

/// Physical base of the UART snowvisor writes to, if any.
pub fn uart_base() -> Option<usize> {
    CONSOLE.lock().port().map(|p| p.base)
}

/// Bytes no UART got since boot (no usable UART, or one given up).
pub fn unsent() -> u64 {
    CONSOLE.lock().unsent()
}

static GUEST_TX: Mutex<TxRing> = Mutex::new(TxRing::new());

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
    let sent = CONSOLE.lock().write_fmt(args);
    report(sent);
}

/// Says in the RAM log (there is no UART now) that the UART was given up.
fn report(sent: Sent) {
    if let Sent::GaveUp { name, base } = sent {
        log::warn!(
            "console: {name} at {base:#010x} never became ready to transmit: given up; snowvisor writes to the RAM log only from here ({} bytes not sent so far)",
            unsent()
        );
    }
}

/// Reads one byte if one is waiting.
pub fn get() -> Option<u8> {
    CONSOLE.lock().port().and_then(|p| p.serial.get())
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
    let sent = match CONSOLE.try_lock() {
        Some(mut c) => c.send_guest(&mut tx, wait),
        None => return,
    };
    drop(tx);
    report(sent);
}

/// Acknowledges the receive interrupt and drains the receive FIFO into
/// `out` ([`Sink::receive`]); returns the number of bytes read.
pub fn receive(out: &mut [u8]) -> usize {
    CONSOLE.lock().receive(out)
}

/// Turns on the console UART's receive interrupt; false if it has none.
pub fn enable_rx_interrupt() -> bool {
    CONSOLE
        .lock()
        .port()
        .is_some_and(|p| p.serial.enable_rx_interrupt())
}

struct Logger;

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
    log::set_max_level(level_filter(l));
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::boxed::Box;
    use alloc::sync::Arc;
    use alloc::vec::Vec;

    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl Serial for Buf {
        fn put(&mut self, b: u8) -> bool {
            self.0.lock().push(b);
            true
        }
        fn get(&mut self) -> Option<u8> {
            None
        }
    }

    #[test]
    fn levels_filter_and_prefix() {
        let out = Arc::new(Mutex::new(Vec::new()));
        attach(Port {
            serial: Box::new(Buf(out.clone())),
            base: 0x0900_0000,
            name: "test buffer".into(),
        });
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
