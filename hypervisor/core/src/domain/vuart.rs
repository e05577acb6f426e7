//! A DomU's console: its emulated UART ([`Vpl011`], at `GUEST_PL011_BASE`)
//! wired to snowvisor's console. What the guest transmits goes out line by
//! line, each line prefixed with the domain (`(d1) `, as Xen prints a
//! guest's console); what the console's user types for the domain (the
//! Ctrl-a switch) is offered to its receive FIFO.
//!
//! Back-pressure: a byte leaves the transmit FIFO only when the console has
//! room for the line it belongs to (the domain's share of the console's
//! queue, [`crate::console::LineMux::room`]); until then FR.TXFF and BUSY
//! stay set and the TX interrupt low, so Linux's driver waits (polling FR,
//! or for the TX interrupt, which rises once the console took the bytes)
//! instead of losing output. What a guest writes to a full FIFO anyway is
//! lost, as on the hardware, and reported.

use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use crate::hal::{now_ms, Arch, Services};
use crate::vpl011::{Vpl011, Vpl011Error};

/// A partial line is sent once it reaches this many bytes (a guest that
/// never ends its line still gets its output shown).
pub const LINE_MAX: usize = 256;

/// Received bytes held for the guest while its receive FIFO is full.
pub const RX_HELD_MAX: usize = 4096;

/// Milliseconds between two reports of output lost to a full FIFO.
pub const LOST_REPORT_MS: u64 = 1000;

/// Sends `bytes` of domain `domid` and empties it: a whole line kept whole
/// next to Dom0's output, or (`raw`) bytes as they come (a partial line, or
/// the rest of one). The caller made sure of the room.
fn send(s: &impl Services, domid: u16, bytes: &mut Vec<u8>, raw: bool) {
    if raw {
        s.console_write_guest(domid, bytes);
    } else {
        s.console_write_line(domid, bytes);
    }
    bytes.clear();
}

/// The emulated UART and the line it is writing.
pub struct DomUart {
    /// The register model.
    pub dev: Vpl011,
    /// The domain's id.
    domid: u16,
    /// `(dN) `.
    prefix: String,
    /// The line being written (prefix included), not yet sent.
    line: Vec<u8>,
    /// Input the receive FIFO had no room for yet, oldest first.
    rx_held: VecDeque<u8>,
    /// The console's input goes to this domain: its output is sent as it
    /// comes (the user sees the prompt and the echo), not line by line.
    focus: bool,
    /// The last bytes sent did not end a line: the next ones continue it
    /// (no prefix).
    mid_line: bool,
    /// Of [`Vpl011::tx_dropped`], the bytes already reported, and when (ms).
    lost_reported: u64,
    lost_report_at: Option<u64>,
}

impl DomUart {
    /// The UART of domain `domid`.
    pub fn new(domid: u16) -> Self {
        DomUart {
            dev: Vpl011::new(),
            domid,
            prefix: format!("(d{domid}) "),
            line: Vec::new(),
            rx_held: VecDeque::new(),
            focus: false,
            mid_line: false,
            lost_reported: 0,
            lost_report_at: None,
        }
    }

    /// A guest access at byte `offset` of the UART's page: a read's value,
    /// or 0 after a write. Transmitted bytes go to the console at once.
    /// Errors: an access the UART does not take (the caller injects a data
    /// abort).
    pub fn access(
        &mut self,
        s: &impl Arch,
        offset: u32,
        size: u32,
        write: Option<u32>,
    ) -> Result<u32, Vpl011Error> {
        let r = match write {
            Some(v) => self.dev.write(offset, size, v).map(|()| 0),
            None => self.dev.read(offset, size),
        };
        self.pump(s);
        r
    }

    /// Bytes of console room the next transmitted byte needs: the line so
    /// far, the byte, and the prefix if it starts a line.
    fn need(&self) -> usize {
        let start = self.line.is_empty() && !self.mid_line;
        // The byte, and a CR should it be a newline (`pump_tx`).
        self.line.len() + 2 + if start { self.prefix.len() } else { 0 }
    }

    /// Whether transmitted bytes wait that the console has room for now
    /// (the vCPU waiting for its TX interrupt has something to wake for).
    pub fn tx_ready(&self, s: &impl Services) -> bool {
        self.dev.tx_pending() > 0 && s.console_room(self.domid, 0) >= self.need()
    }

    /// Moves transmitted bytes to the console (whole lines, with the
    /// prefix) while it has room for them (else they wait in the FIFO and
    /// the console wakes the domain once it has room), reports output lost
    /// to a full FIFO, and moves held input into the receive FIFO.
    pub fn pump(&mut self, s: &impl Arch) {
        if self.dev.tx_pending() > 0 {
            self.pump_tx(s);
        }
        if self.focus && !self.line.is_empty() {
            // The line so far had its room counted when its bytes came.
            send(s, self.domid, &mut self.line, true);
            self.mid_line = true;
        }
        if self.dev.tx_dropped() > self.lost_reported {
            self.report_lost(s, false);
        }
        self.feed_held();
    }

    fn pump_tx(&mut self, s: &impl Arch) {
        let need = self.need();
        let mut room = s.console_room(self.domid, 0);
        if room < need {
            // Send what the UART takes now, then ask again (and be woken
            // once there is room).
            s.console_drain_guest();
            room = s.console_room(self.domid, need);
        }
        let DomUart {
            dev,
            domid,
            prefix,
            line,
            focus,
            mid_line,
            ..
        } = self;
        let mut starved = false;
        dev.drain_tx(|b| {
            // Without the input focus its output shares the administrator's
            // console: only printable characters, tabs and newlines, as for
            // a DomU's console_io (no escape sequences, no lone carriage
            // return to write over a line with another domain's prefix;
            // each newline goes out as CR LF). With the focus it is the
            // administrator's terminal session and goes as it is.
            let raw = *focus;
            let printable = b == b'\n' || b == b'\t' || (0x20..0x7f).contains(&b);
            if !(raw || printable) {
                return true;
            }
            let cr = !raw && b == b'\n';
            let start = line.is_empty() && !*mid_line;
            let need = line.len() + 1 + usize::from(cr) + if start { prefix.len() } else { 0 };
            if need > room {
                starved = true;
                return false;
            }
            if start {
                line.extend_from_slice(prefix.as_bytes());
            }
            if cr {
                line.push(b'\r');
            }
            line.push(b);
            if b == b'\n' {
                room -= line.len();
                send(s, *domid, line, *focus || *mid_line);
                *mid_line = false;
            } else if line.len() >= LINE_MAX + prefix.len() {
                room -= line.len();
                send(s, *domid, line, true);
                *mid_line = true;
            }
            true
        });
        if starved {
            // Be woken when the console has room for the next byte.
            s.console_room(self.domid, self.need());
        }
    }

    /// Says how many bytes the guest wrote to a full FIFO (lost): at once
    /// the first time, then at most every [`LOST_REPORT_MS`], and at the
    /// domain's end (`last`).
    fn report_lost(&mut self, a: &impl Arch, last: bool) {
        let now = now_ms(a);
        let due = self
            .lost_report_at
            .is_none_or(|t| now.saturating_sub(t) >= LOST_REPORT_MS);
        if !(due || last) {
            return;
        }
        let total = self.dev.tx_dropped();
        log::warn!(
            "d{}: console: {} byte(s) of output lost ({total} since it started): written to its UART while the transmit FIFO was full (FR.TXFF set)",
            self.domid,
            total - self.lost_reported
        );
        self.lost_reported = total;
        self.lost_report_at = Some(now);
    }

    /// Whether the console's input goes to this domain (Ctrl-a): then its
    /// output goes out as it comes, partial lines included.
    pub fn set_focus(&mut self, s: &impl Arch, focus: bool) {
        self.focus = focus;
        self.pump(s);
    }

    /// The domain restarts: the UART as at reset (registers, FIFOs, input
    /// held for it, its count of output lost; its last partial line was
    /// sent by [`DomUart::flush`] when it ended), and the console's input
    /// stays where it was.
    pub fn reset(&mut self) {
        self.dev = Vpl011::new();
        self.line.clear();
        self.rx_held.clear();
        self.mid_line = false;
        self.lost_reported = 0;
        self.lost_report_at = None;
    }

    /// Sends what the FIFO holds and the partial line, and reports output
    /// lost (before the domain stops: the console's queue is sent first,
    /// waiting for the UART, if the domain had no room left).
    pub fn flush(&mut self, s: &impl Arch) {
        self.pump(s);
        if self.dev.tx_pending() > 0 {
            s.console_flush_guest();
            self.pump(s);
        }
        if !self.line.is_empty() || self.mid_line {
            self.line.extend_from_slice(b"\r\n");
            send(s, self.domid, &mut self.line, self.mid_line);
            self.mid_line = false;
        }
        if self.dev.tx_dropped() > self.lost_reported {
            self.report_lost(s, true);
        }
    }

    /// Bytes of output lost to a full FIFO since the domain started.
    pub fn lost(&self) -> u64 {
        self.dev.tx_dropped()
    }

    /// Input typed for the domain: as much as the receive FIFO takes, the
    /// rest held (up to [`RX_HELD_MAX`] bytes; beyond that dropped) until
    /// the guest reads. Returns the bytes dropped.
    pub fn input(&mut self, bytes: &[u8]) -> usize {
        let room = RX_HELD_MAX - self.rx_held.len();
        let take = bytes.len().min(room);
        self.rx_held.extend(&bytes[..take]);
        self.feed_held();
        bytes.len() - take
    }

    fn feed_held(&mut self) {
        while !self.rx_held.is_empty() {
            let (a, _) = self.rx_held.as_slices();
            let n = self.dev.push_rx(a);
            if n == 0 {
                break;
            }
            self.rx_held.drain(..n);
        }
    }

    /// The interrupt line (SPI `GUEST_VPL011_SPI`, level-high).
    pub fn irq_level(&self) -> bool {
        self.dev.irq_level()
    }
}
