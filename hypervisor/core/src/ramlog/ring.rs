//! The ring over the RAM log window: attach (keeping the previous boot's log),
//! append, and read back by index.

use super::{
    RamLogError, HEADER_SIZE, LAYOUT_VERSION, MAGIC, MIN_SIZE, OFF_BOOT, OFF_CHECK, OFF_FLAGS,
    OFF_MAGIC, OFF_PREV_LEN, OFF_SIZE, OFF_VERSION, OFF_WRITTEN,
};

/// What attaching found in the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attached {
    /// This boot's number (1 after a cold boot).
    pub boot_count: u32,
    /// Bytes of the previous boot's log that were kept.
    pub previous_len: usize,
    /// Flags the previous boot had set.
    pub previous_flags: u32,
    /// True when a valid header was found (the previous boot's log is real).
    pub warm: bool,
}

/// The ring over a byte window (RAM on the target, a buffer in tests).
pub struct Ring<'a> {
    pub(super) mem: &'a mut [u8],
    /// Ring index where the first guest-triggered message of this boot
    /// starts: later guest-triggered text may not overwrite it.
    guest_pin: Option<u32>,
    /// Guest-triggered bytes left out to keep that first report.
    guest_dropped: u64,
}

fn rd(mem: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([mem[off], mem[off + 1], mem[off + 2], mem[off + 3]])
}

fn wr(mem: &mut [u8], off: usize, v: u32) {
    mem[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

fn check_of(mem: &[u8]) -> u32 {
    [
        OFF_MAGIC,
        OFF_VERSION,
        OFF_SIZE,
        OFF_BOOT,
        OFF_PREV_LEN,
        OFF_FLAGS,
    ]
    .iter()
    .fold(0x5a5a_5a5a, |c, &o| c ^ rd(mem, o))
}

impl<'a> Ring<'a> {
    /// Where the window lies in snowvisor's address space (byte addresses),
    /// for the cache maintenance that makes writes reach RAM.
    pub fn window(&self) -> core::ops::Range<usize> {
        let start = self.mem.as_ptr() as usize;
        start..start + self.mem.len()
    }

    /// Takes over `mem`: keeps the previous boot's log if the header is valid.
    pub fn attach(mem: &'a mut [u8]) -> Result<(Ring<'a>, Attached), RamLogError> {
        if mem.len() < MIN_SIZE {
            return Err(RamLogError::TooSmall { size: mem.len() });
        }
        let size = mem.len();
        let cap = (size - HEADER_SIZE) / 2;
        let valid = rd(mem, OFF_MAGIC) == MAGIC
            && rd(mem, OFF_VERSION) == LAYOUT_VERSION
            && rd(mem, OFF_SIZE) as usize == size
            && rd(mem, OFF_CHECK) == check_of(mem);
        let mut ring = Ring {
            mem,
            guest_pin: None,
            guest_dropped: 0,
        };
        let att = if valid {
            let written = rd(ring.mem, OFF_WRITTEN) as usize;
            let prev_flags = rd(ring.mem, OFF_FLAGS);
            let boot = rd(ring.mem, OFF_BOOT).wrapping_add(1);
            let kept = ring.linearise_into_previous(written, cap);
            Attached {
                boot_count: boot,
                previous_len: kept,
                previous_flags: prev_flags,
                warm: true,
            }
        } else {
            Attached {
                boot_count: 1,
                previous_len: 0,
                previous_flags: 0,
                warm: false,
            }
        };
        let m = &mut *ring.mem;
        wr(m, OFF_MAGIC, MAGIC);
        wr(m, OFF_VERSION, LAYOUT_VERSION);
        wr(m, OFF_SIZE, size as u32);
        wr(m, OFF_BOOT, att.boot_count);
        wr(m, OFF_WRITTEN, 0);
        wr(m, OFF_PREV_LEN, att.previous_len as u32);
        wr(m, OFF_FLAGS, 0);
        let c = check_of(m);
        wr(m, OFF_CHECK, c);
        Ok((ring, att))
    }

    /// Copies the last `min(written, cap)` ring bytes, oldest first, to the
    /// previous-boot area; returns how many.
    fn linearise_into_previous(&mut self, written: usize, cap: usize) -> usize {
        let cur = HEADER_SIZE;
        let prev = HEADER_SIZE + cap;
        if written <= cap {
            self.mem.copy_within(cur..cur + written, prev);
            written
        } else {
            let head = written % cap; // oldest byte
            let tail_len = cap - head;
            self.mem.copy_within(cur + head..cur + cap, prev);
            self.mem.copy_within(cur..cur + head, prev + tail_len);
            cap
        }
    }

    pub fn capacity(&self) -> usize {
        (self.mem.len() - HEADER_SIZE) / 2
    }

    pub fn boot_count(&self) -> u32 {
        rd(self.mem, OFF_BOOT)
    }

    /// Bytes written this boot (may exceed the capacity: the ring wrapped).
    pub fn written(&self) -> u32 {
        rd(self.mem, OFF_WRITTEN)
    }

    pub fn flags(&self) -> u32 {
        rd(self.mem, OFF_FLAGS)
    }

    pub fn set_flags(&mut self, flags: u32) {
        wr(self.mem, OFF_FLAGS, flags);
        let c = check_of(self.mem);
        wr(self.mem, OFF_CHECK, c);
    }

    /// Appends bytes; the oldest are overwritten once the ring is full.
    pub fn write(&mut self, bytes: &[u8]) {
        let cap = self.capacity();
        let mut w = self.written();
        for &b in bytes {
            self.mem[HEADER_SIZE + w as usize % cap] = b;
            // Wrap at a multiple of the capacity, so the index stays continuous.
            w = w
                .checked_add(1)
                .unwrap_or(cap as u32 + (w % cap as u32) + 1);
        }
        wr(self.mem, OFF_WRITTEN, w);
    }

    /// Byte ranges of the window that a write of `len` bytes starting at
    /// written-count `before` changed (the header and up to two ring spans), for
    /// cache maintenance.
    /// Appends text a guest made snowvisor print (a fault report, a refused
    /// trap). The first such text of the boot is kept: later guest-triggered
    /// text that would overwrite it is left out of the RAM log (counted in
    /// [`Ring::guest_dropped`]), so a guest flooding faults cannot flush the
    /// report of the first. snowvisor's own lines are written as always.
    /// Returns whether the text was written.
    pub fn write_guest(&mut self, bytes: &[u8]) -> bool {
        let written = self.written();
        let pin = *self.guest_pin.get_or_insert(written);
        let end = u64::from(written) + bytes.len() as u64;
        if end > u64::from(pin) + self.capacity() as u64 {
            self.guest_dropped += bytes.len() as u64;
            return false;
        }
        self.write(bytes);
        true
    }

    /// Guest-triggered bytes [`Ring::write_guest`] left out.
    pub fn guest_dropped(&self) -> u64 {
        self.guest_dropped
    }

    pub fn touched(&self, before: u32, len: usize) -> [core::ops::Range<usize>; 3] {
        let cap = self.capacity();
        let header = 0..HEADER_SIZE;
        if len >= cap {
            return [header, HEADER_SIZE..HEADER_SIZE + cap, 0..0];
        }
        let start = before as usize % cap;
        let end = start + len;
        if end <= cap {
            [header, HEADER_SIZE + start..HEADER_SIZE + end, 0..0]
        } else {
            [
                header,
                HEADER_SIZE + start..HEADER_SIZE + cap,
                HEADER_SIZE..HEADER_SIZE + end - cap,
            ]
        }
    }

    /// The previous boot's log, oldest byte first.
    pub fn previous(&self) -> &[u8] {
        let cap = self.capacity();
        let len = (rd(self.mem, OFF_PREV_LEN) as usize).min(cap);
        &self.mem[HEADER_SIZE + cap..HEADER_SIZE + cap + len]
    }

    /// This boot's log so far, oldest byte first, as (older part, newer part).
    pub fn current(&self) -> (&[u8], &[u8]) {
        let cap = self.capacity();
        let w = self.written() as usize;
        let ring = &self.mem[HEADER_SIZE..HEADER_SIZE + cap];
        if w <= cap {
            (&ring[..w], &[])
        } else {
            let head = w % cap;
            (&ring[head..], &ring[..head])
        }
    }

    /// This boot's log as byte indexes `first..end`, counted from the start of
    /// the boot (`end` = bytes written; `first` > 0 once the ring wrapped).
    pub fn current_span(&self) -> (u32, u32) {
        let (a, b) = self.current();
        let end = self.written();
        (end.saturating_sub((a.len() + b.len()) as u32), end)
    }

    /// Copies this boot's bytes from index `at` (inside [`Ring::current_span`])
    /// into `out`; returns how many (0 outside the span).
    pub fn read_current(&self, at: u32, out: &mut [u8]) -> usize {
        let (first, end) = self.current_span();
        if at < first || at > end {
            return 0;
        }
        let (a, b) = self.current();
        let off = (at - first) as usize;
        let src_a = a.get(off..).unwrap_or(&[]);
        let src_b = b.get(off.saturating_sub(a.len())..).unwrap_or(&[]);
        let n = src_a.len().min(out.len());
        out[..n].copy_from_slice(&src_a[..n]);
        let m = src_b.len().min(out.len() - n);
        out[n..n + m].copy_from_slice(&src_b[..m]);
        n + m
    }

    /// Copies the previous boot's bytes from index `at` into `out`.
    pub fn read_previous(&self, at: u32, out: &mut [u8]) -> usize {
        let src = self.previous().get(at as usize..).unwrap_or(&[]);
        let n = src.len().min(out.len());
        out[..n].copy_from_slice(&src[..n]);
        n
    }
}
