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
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
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

/// The domain id snowvisor's own lines are counted under in the console's
/// queue (Xen's `DOMID_XEN`, `public/xen.h`).
pub const DOMID_XEN: u16 = 0x7ff2;

/// Bytes one DomU may have waiting (queued or held) at once: a DomU that
/// writes faster than the UART sends waits (its vpl011's FR.TXFF and
/// BUSY stay set, its `console_io` is continued) instead of taking the
/// room of Dom0 or of another DomU.
pub const DOMU_SHARE: usize = 4 * 1024;

/// Bytes all DomUs together may have waiting: the other half of
/// [`GUEST_TX_SIZE`] stays Dom0's (and snowvisor's held lines').
pub const DOMUS_SHARE: usize = GUEST_TX_SIZE / 2;

/// Guest console output waiting for the UART: a byte FIFO that takes what
/// fits (the caller waits or counts the rest), knowing which domain queued
/// each byte.
pub struct TxRing {
    buf: [u8; GUEST_TX_SIZE],
    head: usize,
    len: usize,
    /// Who queued the bytes, oldest first: (domain id, bytes) runs.
    runs: VecDeque<(u16, usize)>,
}

impl TxRing {
    pub const fn new() -> Self {
        TxRing {
            buf: [0; GUEST_TX_SIZE],
            head: 0,
            len: 0,
            runs: VecDeque::new(),
        }
    }

    /// Appends what fits of `bytes`, queued by domain `domid`; returns how
    /// many bytes were taken.
    pub fn push(&mut self, domid: u16, bytes: &[u8]) -> usize {
        let n = bytes.len().min(GUEST_TX_SIZE - self.len);
        for &b in &bytes[..n] {
            self.buf[(self.head + self.len) % GUEST_TX_SIZE] = b;
            self.len += 1;
        }
        if n > 0 {
            match self.runs.back_mut() {
                Some((d, len)) if *d == domid => *len += n,
                _ => self.runs.push_back((domid, n)),
            }
        }
        n
    }

    /// Hands bytes, oldest first, to `put` until it refuses one (false) or
    /// the ring is empty; returns how many were taken.
    pub fn drain(&mut self, mut put: impl FnMut(u8) -> bool) -> usize {
        let mut n = 0;
        while self.len > 0 && put(self.buf[self.head]) {
            self.head = (self.head + 1) % GUEST_TX_SIZE;
            self.len -= 1;
            n += 1;
            if let Some((_, len)) = self.runs.front_mut() {
                *len -= 1;
                if *len == 0 {
                    self.runs.pop_front();
                }
            }
        }
        n
    }

    /// Bytes waiting.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes waiting that `owner` queued.
    fn queued(&self, owner: impl Fn(u16) -> bool) -> usize {
        self.runs
            .iter()
            .filter(|(d, _)| owner(*d))
            .map(|(_, n)| n)
            .sum()
    }
}

impl Default for TxRing {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether `domid` is a DomU's (not Dom0's, not snowvisor's own).
fn is_domu(domid: u16) -> bool {
    domid != 0 && domid != DOMID_XEN
}

/// How long a line waits for Dom0 to end the line it is writing
/// (milliseconds); then it goes out anyway, on a line of its own.
pub const HOLD_MS: u64 = 100;

/// The guests' console output on its way to the UART, shared by every
/// domain: the queue ([`TxRing`]), each domain's share of it, and lines
/// kept whole. Dom0's output (hvc0), and a DomU's while the console's input
/// is on it, goes out as it comes ([`LineMux::raw`]); a whole line (a
/// DomU's `(d1) ...\r\n`, or snowvisor's own while Dom0 is writing a line)
/// waits while Dom0 is in the middle of one it wrote less than [`HOLD_MS`]
/// ago, until Dom0 ends it or [`HOLD_MS`] passed (a prompt that never ends
/// its line does not hold the others up for longer); a line that has to
/// go out after an unfinished one starts on a line of its own.
///
/// Nothing is dropped on the way: each writer asks for room first
/// ([`LineMux::room`]) and waits while there is none; what still does
/// not fit (a domain that ignored it) is counted per domain
/// ([`LineMux::lost`]).
#[derive(Default)]
pub struct LineMux {
    /// The queue for the UART.
    out: TxRing,
    /// The last raw bytes did not end their line.
    raw_mid_line: bool,
    /// When they came (ms).
    raw_at: u64,
    /// Whole lines waiting for Dom0 to end its line, oldest first.
    held: Vec<u8>,
    /// Who wrote them: (domain id, bytes) runs.
    held_runs: Vec<(u16, usize)>,
    /// When the oldest held line arrived (ms).
    held_since: u64,
    /// Bytes lost per domain (it wrote beyond its room), since boot.
    lost: Vec<(u16, u64)>,
    /// DomUs refused room: told ([`LineMux::take_ready`]) once they have
    /// room again.
    waiting: Vec<u16>,
}

impl LineMux {
    /// An empty queue.
    pub const fn new() -> Self {
        LineMux {
            out: TxRing::new(),
            raw_mid_line: false,
            raw_at: 0,
            held: Vec::new(),
            held_runs: Vec::new(),
            held_since: 0,
            lost: Vec::new(),
            waiting: Vec::new(),
        }
    }

    /// Bytes `owner` has waiting, queued or held.
    fn committed(&self, owner: impl Fn(u16) -> bool + Copy) -> usize {
        self.out.queued(owner)
            + self
                .held_runs
                .iter()
                .filter(|(d, _)| owner(*d))
                .map(|(_, n)| n)
                .sum::<usize>()
    }

    /// Bytes domain `domid` may write now: the free room of the queue
    /// (held lines count as queued), and for a DomU no more than its
    /// [`DOMU_SHARE`] and what is left of [`DOMUS_SHARE`].
    pub fn room(&self, domid: u16) -> usize {
        let free = self.free();
        if !is_domu(domid) {
            return free;
        }
        let mine = self.committed(|d| d == domid);
        let domus = self.committed(is_domu);
        free.min(DOMU_SHARE.saturating_sub(mine))
            .min(DOMUS_SHARE.saturating_sub(domus))
    }

    /// Bytes the queue has room for, held lines counted as queued.
    fn free(&self) -> usize {
        GUEST_TX_SIZE - self.out.len() - self.held.len()
    }

    /// Says that DomU `domid` found too little room ([`LineMux::room`])
    /// for what it has to write: [`LineMux::take_ready`] names it once it
    /// has room again.
    pub fn wait(&mut self, domid: u16) {
        if is_domu(domid) && !self.waiting.contains(&domid) {
            self.waiting.push(domid);
        }
    }

    /// The DomUs that waited for room and have at least `min` bytes of it
    /// now (forgotten once returned), for the caller to wake.
    pub fn take_ready(&mut self, min: usize) -> Vec<u16> {
        let mut ready = Vec::new();
        let mut i = 0;
        while i < self.waiting.len() {
            let d = self.waiting[i];
            if self.room(d) >= min {
                ready.push(d);
                self.waiting.swap_remove(i);
            } else {
                i += 1;
            }
        }
        ready
    }

    fn count_lost(&mut self, domid: u16, n: usize) {
        if n == 0 {
            return;
        }
        match self.lost.iter_mut().find(|(d, _)| *d == domid) {
            Some((_, l)) => *l += n as u64,
            None => self.lost.push((domid, n as u64)),
        }
    }

    /// Raw console bytes of domain `domid` at `now_ms` (Dom0's hvc0, or a
    /// DomU's while the input is on it): as many as the queue takes, in
    /// order; returns how many. Lines held for Dom0 follow once it ended
    /// its line. A DomU asks [`LineMux::room`] first (its share); the queue
    /// only refuses what does not fit at all (another CPU's DomU took the
    /// room meanwhile), and remembers the DomU ([`LineMux::take_ready`]).
    pub fn raw(&mut self, domid: u16, bytes: &[u8], now_ms: u64) -> usize {
        let take = bytes.len().min(self.free());
        if take < bytes.len() {
            self.wait(domid);
        }
        let bytes = &bytes[..take];
        let n = self.out.push(domid, bytes);
        if let Some(&last) = bytes.last() {
            self.raw_mid_line = last != b'\n';
            self.raw_at = now_ms;
        }
        if !self.raw_mid_line {
            self.release();
        }
        n
    }

    /// A whole line (prefix and line end included) of domain `domid` (a
    /// DomU, or [`DOMID_XEN`] for snowvisor's own) at `now_ms`: queued, or
    /// held while Dom0 is in the middle of a line it wrote less than
    /// [`HOLD_MS`] ago. Writers ask [`LineMux::room`] first (a DomU's
    /// share); a line the queue has no room for at all is lost and counted
    /// ([`LineMux::lost`]).
    pub fn line(&mut self, domid: u16, line: &[u8], now_ms: u64) {
        if line.len() > self.free() {
            self.count_lost(domid, line.len());
            self.wait(domid);
            return;
        }
        self.tick(now_ms);
        if self.raw_mid_line && now_ms.saturating_sub(self.raw_at) >= HOLD_MS {
            // A prompt, or a line given up on: the next line starts anew.
            self.end_raw_line();
        }
        if !self.raw_mid_line && self.held.is_empty() {
            self.out.push(domid, line);
            return;
        }
        if self.held.is_empty() {
            self.held_since = now_ms;
        }
        self.held.extend_from_slice(line);
        match self.held_runs.last_mut() {
            Some((d, n)) if *d == domid => *n += line.len(),
            _ => self.held_runs.push((domid, line.len())),
        }
    }

    /// Whether a line written now goes out at once ([`LineMux::line`]
    /// would not hold it): Dom0 is between lines, or has not written for
    /// [`HOLD_MS`], and nothing is held. Then the unfinished line (if any)
    /// is ended, so that what follows starts on a line of its own.
    pub fn line_goes_now(&mut self, now_ms: u64) -> bool {
        self.tick(now_ms);
        if self.raw_mid_line && now_ms.saturating_sub(self.raw_at) >= HOLD_MS {
            self.end_raw_line();
        }
        !self.raw_mid_line && self.held.is_empty()
    }

    /// Lets held lines out once Dom0 is between lines or they waited
    /// [`HOLD_MS`] (they then start on a line of their own).
    pub fn tick(&mut self, now_ms: u64) {
        if self.held.is_empty() {
            return;
        }
        if self.raw_mid_line && now_ms.saturating_sub(self.held_since) >= HOLD_MS {
            self.end_raw_line();
        }
        if !self.raw_mid_line {
            self.release();
        }
    }

    /// Lets every held line out now, ending Dom0's line first if it is in
    /// the middle of one: snowvisor's own line is about to cut it anyway,
    /// and a held line must come before anything snowvisor says after it
    /// (a domain's last words before the report that it is off).
    pub fn release_all(&mut self) {
        if self.held.is_empty() {
            return;
        }
        self.end_raw_line();
        self.release();
    }

    /// Ends the unfinished raw line (`\r\n`, counted as snowvisor's), so
    /// that what follows starts on a line of its own.
    pub fn end_raw_line(&mut self) {
        if self.raw_mid_line {
            self.out.push(DOMID_XEN, b"\r\n");
            self.raw_mid_line = false;
        }
    }

    fn release(&mut self) {
        let mut at = 0;
        for &(d, n) in &self.held_runs {
            self.out.push(d, &self.held[at..at + n]);
            at += n;
        }
        self.held.clear();
        self.held_runs.clear();
    }

    /// The queue, for the UART to take bytes from.
    pub fn queue(&mut self) -> &mut TxRing {
        &mut self.out
    }

    /// Bytes of domain `domid`'s output lost since boot (beyond its room).
    pub fn lost(&self, domid: u16) -> u64 {
        self.lost
            .iter()
            .find(|(d, _)| *d == domid)
            .map_or(0, |(_, n)| *n)
    }

    /// Every domain with bytes lost: (domain id, bytes) since boot.
    pub fn lost_all(&self) -> &[(u16, u64)] {
        &self.lost
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

    fn text(m: &mut LineMux) -> alloc::string::String {
        let mut v = Vec::new();
        m.queue().drain(|b| {
            v.push(b);
            true
        });
        alloc::string::String::from_utf8(v).unwrap()
    }

    #[test]
    fn domu_lines_stay_whole_next_to_dom0() {
        let mut m = LineMux::new();
        m.line(1, b"(d1) a\r\n", 0);
        m.raw(0, b"snowvisor-dom0: in", 1);
        m.line(1, b"(d1) b\r\n", 1);
        m.line(2, b"(d2) c\r\n", 2);
        m.raw(0, b"it reached\r\n", 3);
        assert_eq!(
            text(&mut m),
            "(d1) a\r\nsnowvisor-dom0: init reached\r\n(d1) b\r\n(d2) c\r\n"
        );
        // A prompt that never ends its line holds them HOLD_MS at most.
        m.raw(0, b"/ # ", 10);
        m.line(1, b"(d1) d\r\n", 11);
        m.tick(11 + HOLD_MS - 1);
        assert_eq!(text(&mut m), "/ # ");
        m.tick(11 + HOLD_MS);
        assert_eq!(text(&mut m), "\r\n(d1) d\r\n");
        m.line(1, b"(d1) e\r\n", 200);
        assert_eq!(text(&mut m), "(d1) e\r\n");
        // A line Dom0 left unfinished HOLD_MS ago holds nothing: the next
        // line goes out at once, on a line of its own.
        m.raw(0, b"/ # ", 300);
        m.line(1, b"(d1) f\r\n", 300 + HOLD_MS);
        assert_eq!(text(&mut m), "/ # \r\n(d1) f\r\n");
    }

    #[test]
    fn held_lines_go_before_snowvisors_own_line() {
        let mut m = LineMux::new();
        m.release_all();
        assert_eq!(text(&mut m), "");
        m.raw(0, b"[    3.4] booting", 5);
        m.line(1, b"(d1) attack: done\r\n", 5);
        assert_eq!(text(&mut m), "[    3.4] booting");
        // snowvisor is about to say d1 is off: d1's last line comes first,
        // on a line of its own.
        m.release_all();
        assert_eq!(text(&mut m), "\r\n(d1) attack: done\r\n");
        m.line(1, b"(d1) next\r\n", 6);
        assert_eq!(text(&mut m), "(d1) next\r\n");
    }

    #[test]
    fn snowvisors_own_line_waits_for_dom0s_line_or_starts_its_own() {
        let mut m = LineMux::new();
        assert!(m.line_goes_now(0), "nothing written yet");
        // Dom0's hvc0 writes a printk line in pieces: snowvisor's line
        // written between two pieces waits for the line's end.
        m.raw(0, b"[    0.000000] Linux version 6.1 (GNU Binutil", 10);
        assert!(!m.line_goes_now(11));
        m.line(
            DOMID_XEN,
            b"snowvisor: warning: d1: 19 messages suppressed\r\n",
            11,
        );
        m.raw(0, b"s for Debian) 2.40)\r\n", 12);
        assert_eq!(
            text(&mut m),
            "[    0.000000] Linux version 6.1 (GNU Binutils for Debian) 2.40)\r\n\
             snowvisor: warning: d1: 19 messages suppressed\r\n"
        );
        // A prompt left HOLD_MS ago: snowvisor's line goes now, and the
        // prompt is ended first so the line is not glued to it.
        m.raw(0, b"/ # ", 20);
        assert!(!m.line_goes_now(20 + HOLD_MS - 1));
        assert!(m.line_goes_now(20 + HOLD_MS));
        assert_eq!(text(&mut m), "/ # \r\n");
        assert!(m.line_goes_now(20 + HOLD_MS), "ended once");
        assert_eq!(text(&mut m), "");
    }

    #[test]
    fn a_domu_gets_its_share_and_dom0_keeps_its_room() {
        let mut m = LineMux::new();
        let line = [b'y'; 64];
        // d1 floods: it fits DOMU_SHARE, then has no room.
        let mut queued = 0;
        while m.room(1) >= line.len() {
            m.line(1, &line, 0);
            queued += line.len();
        }
        assert_eq!(queued, DOMU_SHARE);
        assert_eq!(m.room(1), 0);
        m.wait(1);
        // d2 has its own share; Dom0 all the rest of the ring.
        assert_eq!(m.room(2), DOMU_SHARE);
        assert_eq!(m.room(0), GUEST_TX_SIZE - DOMU_SHARE);
        // Two DomUs together never take more than DOMUS_SHARE.
        m.line(2, &[b'z'; DOMU_SHARE], 0);
        assert_eq!(m.room(3), DOMUS_SHARE - 2 * DOMU_SHARE);
        assert_eq!(m.take_ready(1), [], "d1 still has no room");
        // Dom0 writes without losing a byte: what does not fit is left for
        // the caller to write again.
        let big = alloc::vec![b'x'; GUEST_TX_SIZE];
        let n = m.raw(0, &big, 1);
        assert_eq!(n, GUEST_TX_SIZE - 2 * DOMU_SHARE);
        assert_eq!(m.room(0), 0);
        assert_eq!(m.lost_all(), []);
        // A line with no room at all (a writer that did not ask) is counted.
        m.line(2, b"(d2) more\r\n", 2);
        assert_eq!(m.lost(2), 11);
        assert_eq!(m.lost_all(), [(2, 11)]);
        assert_eq!(m.lost(1), 0);
        // The UART takes d1's 4 KiB (the oldest): d1 has room again, and
        // is named once.
        let mut took = 0;
        m.queue().drain(|_| {
            took += 1;
            took <= DOMU_SHARE
        });
        assert_eq!(m.room(1), DOMU_SHARE.min(DOMUS_SHARE - DOMU_SHARE));
        assert_eq!(m.take_ready(64), [1]);
        assert_eq!(m.take_ready(64), []);
    }

    #[test]
    fn held_lines_count_against_the_domus_share() {
        let mut m = LineMux::new();
        m.raw(0, b"/ # ", 0);
        m.line(1, &[b'a'; 1000], 1);
        assert_eq!(m.queue().len(), 4, "held, not queued");
        assert_eq!(m.room(1), DOMU_SHARE - 1000);
        assert_eq!(m.room(0), GUEST_TX_SIZE - 1004);
        // A DomU's raw bytes (the input is on it) end the line too.
        assert_eq!(m.raw(1, b"\n", 2), 1);
        assert_eq!(m.queue().len(), 1005);
        assert_eq!(m.room(1), DOMU_SHARE - 1001);
    }

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
        ring.push(0, b"hello");
        assert_eq!(sink.send_guest(&mut ring, true), Sent::Done);
        assert!(ring.is_empty());
        assert_eq!(sink.unsent(), 5);
        // A UART that takes 3 bytes while waiting, then never again.
        let (mut sink, took) = stuck_sink(3);
        ring.push(0, b"abcdef");
        assert!(matches!(
            sink.send_guest(&mut ring, true),
            Sent::GaveUp { .. }
        ));
        assert_eq!(&took.lock()[..], b"abc");
        assert!(ring.is_empty(), "the rest is dropped, not kept");
        assert_eq!(sink.unsent(), 3);
        // Not waiting, a full UART keeps the queue for later and is kept.
        let (mut sink, _) = stuck_sink(0);
        ring.push(0, b"zz");
        assert_eq!(sink.send_guest(&mut ring, false), Sent::Done);
        assert_eq!(ring.len(), 2);
        assert!(sink.port().is_some());
    }

    #[test]
    fn guest_output_queue_takes_what_fits_and_drains_in_order() {
        let mut r = TxRing::new();
        assert_eq!(r.push(0, &[1; GUEST_TX_SIZE - 2]), GUEST_TX_SIZE - 2);
        assert_eq!(r.push(1, b"abcd"), 2);
        assert_eq!(r.len(), GUEST_TX_SIZE);
        assert_eq!(
            (r.queued(|d| d == 0), r.queued(|d| d == 1)),
            (GUEST_TX_SIZE - 2, 2)
        );
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
        assert_eq!(r.queued(|d| d == 0), GUEST_TX_SIZE - 5);
        let mut rest = Vec::new();
        r.drain(|b| {
            rest.push(b);
            true
        });
        assert_eq!(rest.len(), GUEST_TX_SIZE - 3);
        assert_eq!(&rest[rest.len() - 2..], b"ab");
        assert!(r.is_empty());
        assert_eq!(r.queued(|_| true), 0);
    }
}
