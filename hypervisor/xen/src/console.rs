//! hvc0 for Dom0: `console_io` and the input ring filled from the UART.
//!
//! Output goes to the platform as fast as it has room for it
//! ([`Platform::console_room`]); the rest of a write is continued, so the
//! guest waits instead of losing output (Xen 4.17 writes the hardware
//! domain's output into its serial transmit buffer and drops what does not
//! fit unless `sync_console`). Input bytes wait in a fixed ring
//! until Dom0 reads them with `CONSOLEIO_read`; each arrival raises the port
//! bound to `VIRQ_CONSOLE`. When the ring is full new bytes are dropped (as
//! Xen's serial ring does) and counted.

use super::abi::{consoleio, virq, Errno};
use super::guest::{check_span, GuestMemory};
use super::platform::Platform;
use super::{Ctx, HcResult, Outcome, Xen};

/// Input bytes kept for Dom0.
pub const INPUT_RING_SIZE: usize = 1024;
/// Output bytes copied per hypercall before it is continued.
pub const WRITE_BUDGET: u32 = 2048;
/// Bytes per platform write.
const CHUNK: usize = 128;

/// Fixed-capacity byte FIFO.
#[derive(Debug, Clone)]
pub struct InputRing {
    buf: [u8; INPUT_RING_SIZE],
    head: usize,
    len: usize,
    dropped: u64,
}

impl Default for InputRing {
    fn default() -> Self {
        InputRing {
            buf: [0; INPUT_RING_SIZE],
            head: 0,
            len: 0,
            dropped: 0,
        }
    }
}

impl InputRing {
    /// Appends what fits; returns how many bytes were taken.
    pub fn push(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(INPUT_RING_SIZE - self.len);
        for &b in &bytes[..n] {
            self.buf[(self.head + self.len) % INPUT_RING_SIZE] = b;
            self.len += 1;
        }
        self.dropped += (bytes.len() - n) as u64;
        n
    }

    /// Copies up to `out.len()` of the oldest bytes without removing them.
    pub fn peek(&self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.len);
        for (i, o) in out[..n].iter_mut().enumerate() {
            *o = self.buf[(self.head + i) % INPUT_RING_SIZE];
        }
        n
    }

    /// Removes the `n` oldest bytes.
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        self.head = (self.head + n) % INPUT_RING_SIZE;
        self.len -= n;
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

/// Keeps the bytes of `b` that are printable ASCII, `\t` or `\n`, moved to
/// its front; returns how many.
fn printable(b: &mut [u8]) -> usize {
    let mut n = 0;
    for i in 0..b.len() {
        let c = b[i];
        if c == b'\n' || c == b'\t' || (0x20..0x7f).contains(&c) {
            b[n] = c;
            n += 1;
        }
    }
    n
}

impl Xen {
    /// `console_io(cmd, count, buf)`. Every domain may write, as Xen 4.17
    /// lets Dom0 and every dom0less DomU (`d->is_console`; the platform
    /// prefixes a DomU's lines); only Dom0 reads.
    pub(super) fn console_io(&mut self, cx: &mut Ctx<'_>, args: [u32; 5]) -> HcResult {
        let [cmd, count, buf, a3, a4] = args;
        match cmd {
            consoleio::WRITE => {
                if count == 0 {
                    return Ok(Outcome::Return(0));
                }
                check_span(buf, count as usize)?;
                let n = count.min(WRITE_BUDGET);
                let mut chunk = [0u8; CHUNK];
                let mut done = 0;
                let raw = self.privileged();
                while done < n {
                    let room = cx.plat.console_room();
                    if room == 0 {
                        break;
                    }
                    let k = ((n - done) as usize).min(CHUNK).min(room);
                    cx.mem
                        .read(buf + done, &mut chunk[..k])
                        .map_err(|_| Errno::EFAULT)?;
                    // Xen's `guest_console_write` passes the hardware
                    // domain's bytes as they are and keeps only printable
                    // characters, tabs and newlines of any other domain's.
                    let keep = if raw { k } else { printable(&mut chunk[..k]) };
                    if keep > 0 {
                        cx.plat.console_write(&chunk[..keep]);
                    }
                    done += k as u32;
                }
                if done < count {
                    return Ok(Outcome::Continue([cmd, count - done, buf + done, a3, a4]));
                }
                Ok(Outcome::Return(0))
            }
            // Reading is refused to a DomU: the hypervisor console's input
            // is Dom0's (a DomU's goes to its vpl011). Xen 4.17 lets a
            // dom0less DomU read Xen's serial ring (`is_console`), which
            // hands it Dom0's input; snowvisor does not.
            consoleio::READ if !self.privileged() => Err(Errno::EPERM),
            consoleio::READ => {
                let want = (count as usize).min(self.console.len());
                if want == 0 {
                    return Ok(Outcome::Return(0));
                }
                check_span(buf, want)?;
                let mut chunk = [0u8; CHUNK];
                let mut done = 0;
                while done < want {
                    let k = self.console.peek(&mut chunk[..(want - done).min(CHUNK)]);
                    cx.mem
                        .write(buf + done as u32, &chunk[..k])
                        .map_err(|_| Errno::EFAULT)?;
                    self.console.consume(k);
                    done += k;
                }
                Ok(Outcome::Return(done as i32))
            }
            _ => Err(Errno::ENOSYS),
        }
    }

    /// Console input for Dom0 (UART receive while Dom0 has the input focus).
    /// Buffers what fits and raises `VIRQ_CONSOLE` if Dom0 bound it; returns
    /// the number of bytes taken. Without a binding Dom0 still polls.
    pub fn console_input(
        &mut self,
        mem: &mut dyn GuestMemory,
        plat: &mut dyn Platform,
        bytes: &[u8],
    ) -> usize {
        let n = self.console.push(bytes);
        if !self.console.is_empty() {
            self.send_virq(mem, plat, virq::CONSOLE);
        }
        n
    }

    /// Bytes waiting for Dom0 and bytes dropped so far.
    pub fn console_input_state(&self) -> (usize, u64) {
        (self.console.len(), self.console.dropped())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_wraps_and_drops_when_full() {
        let mut r = InputRing::default();
        assert_eq!(r.push(&[1, 2, 3]), 3);
        let mut out = [0u8; 2];
        assert_eq!(r.peek(&mut out), 2);
        assert_eq!(out, [1, 2]);
        r.consume(2);
        assert_eq!(r.len(), 1);
        let big = [7u8; INPUT_RING_SIZE];
        assert_eq!(r.push(&big), INPUT_RING_SIZE - 1);
        assert_eq!(r.dropped(), 1);
        let mut all = [0u8; INPUT_RING_SIZE + 5];
        assert_eq!(r.peek(&mut all), INPUT_RING_SIZE);
        assert_eq!(all[0], 3);
        assert_eq!(all[INPUT_RING_SIZE - 1], 7);
        r.consume(usize::MAX);
        assert!(r.is_empty());
    }
}
