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
use snowvisor_core::console::DOMID_XEN;
pub use snowvisor_core::console::{level, LineMux, Port, Sent, Serial, Sink, GUEST_TX_SIZE};
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

/// The guests' console output on its way to the UART, and the lines kept
/// whole next to Dom0's ([`LineMux`]). Lock order: the domain, then this,
/// then [`CONSOLE`].
static GUEST: Mutex<LineMux> = Mutex::new(LineMux::new());

/// The GIC, to wake the DomUs that waited for room in [`GUEST`].
#[cfg(target_arch = "arm")]
static GIC: spin::Once<&'static snowvisor_arch_armv7::drivers::gicv2::Gic> = spin::Once::new();

/// Lets the console wake the DomUs that wait for its room (a kick, as
/// [`Services::kick_domain`](snowvisor_core::hal::Services::kick_domain)).
#[cfg(target_arch = "arm")]
pub fn set_gic(gic: &'static snowvisor_arch_armv7::drivers::gicv2::Gic) {
    GIC.call_once(|| gic);
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

/// snowvisor's own text on the UART. While Dom0 is writing a line (it
/// wrote part of one less than `HOLD_MS` ago), the text waits with the
/// DomUs' lines for Dom0 to end it, so that neither cuts the other;
/// otherwise the lines held before it go first, and an unfinished line
/// (a prompt) is ended, so that the text starts on a line of its own.
fn write_uart(args: fmt::Arguments<'_>) {
    // try_lock: a print from inside the console code must not wait for
    // itself (it then goes out at once, as it always could).
    if let Some(mut g) = GUEST.try_lock() {
        if !g.line_goes_now(now_ms()) {
            let text = alloc::format!("{args}").replace('\n', "\r\n");
            if text.len() <= g.room(DOMID_XEN) {
                g.line(DOMID_XEN, text.as_bytes(), now_ms());
                drop(g);
                drain_guest();
                return;
            }
        }
        g.release_all();
    }
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

/// Queues console bytes of domain `domid` as they come, unchanged (Dom0's
/// hvc0 already sends "\r\n"), as many as its room takes ([`room`]), and
/// sends what the UART takes without waiting: a guest's output never holds
/// the CPU for the time a polled UART needs to send it. The rest of the
/// queue goes out at later exits and interrupts ([`drain_guest`]). They are
/// not snowvisor's log, so the RAM log does not get them. Returns the bytes
/// taken.
pub fn write_guest(domid: u16, bytes: &[u8]) -> usize {
    let n = GUEST.lock().raw(domid, bytes, now_ms());
    drain_guest();
    n
}

/// Milliseconds of the generic counter, for [`LineMux`]'s hold.
#[cfg(target_arch = "arm")]
fn now_ms() -> u64 {
    use aarch32_cpu::register::{CntPct, Cntfrq};
    CntPct::read().0 / u64::from(Cntfrq::read().0 / 1000).max(1)
}

/// The host build (the kernel's unit tests) has no generic counter.
#[cfg(not(target_arch = "arm"))]
fn now_ms() -> u64 {
    0
}

/// Queues DomU `domid`'s whole console line ([`LineMux::line`]) and sends
/// what the UART takes without waiting.
pub fn write_line(domid: u16, line: &[u8]) {
    GUEST.lock().line(domid, line, now_ms());
    drain_guest();
}

/// Bytes domain `domid` may queue now ([`LineMux::room`]); if fewer than
/// `want`, the domain is kicked once it has room again.
pub fn room(domid: u16, want: usize) -> usize {
    let mut g = GUEST.lock();
    let room = g.room(domid);
    if room < want {
        g.wait(domid);
    }
    room
}

/// Bytes of domain `domid`'s output the queue lost (beyond its room).
pub fn lost(domid: u16) -> u64 {
    GUEST.lock().lost(domid)
}

/// Sends queued guest output while the UART takes it without waiting
/// (lines held past their time first join the queue), then wakes the
/// DomUs that waited for room and have some, and reports output lost.
pub fn drain_guest() {
    if let Some(mut g) = GUEST.try_lock() {
        g.tick(now_ms());
    }
    send_guest(false);
    wake_and_report();
}

/// Sends all queued guest output, held lines included, waiting for the
/// UART (before snowvisor's own lines, and before the machine or a domain
/// stops). At most [`GUEST_TX_SIZE`] bytes.
pub fn flush_guest() {
    if let Some(mut g) = GUEST.try_lock() {
        g.release_all();
    }
    send_guest(true);
    wake_and_report();
}

/// Moves queued guest output to the UART: all of it, waiting for the UART,
/// when `wait`; else only what it takes without waiting. Does nothing when
/// the queue or the console is already held (an interrupted print).
fn send_guest(wait: bool) {
    let Some(mut g) = GUEST.try_lock() else {
        return;
    };
    if g.queue().is_empty() {
        return;
    }
    let sent = match CONSOLE.try_lock() {
        Some(mut c) => c.send_guest(g.queue(), wait),
        None => return,
    };
    drop(g);
    report(sent);
}

/// Room a waiting DomU needs before it is woken: a line of its UART.
const WAKE_ROOM: usize = snowvisor_core::domain::vuart::LINE_MAX + 16;

/// Minimum milliseconds between two reports of output the queue lost.
const LOST_REPORT_MS: u64 = 1000;

/// What the queue had lost when it was last reported, and when (ms).
static LOST_REPORTED: Mutex<(u64, Option<u64>)> = Mutex::new((0, None));

/// Kicks the DomUs that waited for room and have it now; says (at most
/// once a second) which domains lost output since the last report.
fn wake_and_report() {
    let Some(mut g) = GUEST.try_lock() else {
        return;
    };
    let ready = g.take_ready(WAKE_ROOM);
    let total: u64 = g.lost_all().iter().map(|(_, n)| n).sum();
    let lost: alloc::vec::Vec<(u16, u64)> = g.lost_all().to_vec();
    drop(g);
    #[cfg(target_arch = "arm")]
    if let Some(&gic) = GIC.get() {
        for d in ready {
            snowvisor_core::hal::Services::kick_domain(&crate::cpu::Armv7::new(gic), d);
        }
    }
    #[cfg(not(target_arch = "arm"))]
    let _ = ready;
    let now = now_ms();
    let Some(mut r) = LOST_REPORTED.try_lock() else {
        return;
    };
    if total == r.0 || r.1.is_some_and(|t| now.saturating_sub(t) < LOST_REPORT_MS) {
        return;
    }
    *r = (total, Some(now));
    drop(r);
    for (d, n) in lost {
        log::warn!("d{d}: console: {n} byte(s) of output lost since it started (written beyond its share of the console queue)");
    }
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
