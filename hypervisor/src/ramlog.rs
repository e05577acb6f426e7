//! The RAM log: everything snowvisor prints also goes into a ring in RAM at a
//! place the board fixes ([`crate::board::Board::RAM_LOG`]), so a machine
//! without a serial port (the Chromebook Snow) can show the log of the previous
//! boot after a warm reboot, which leaves RAM alone.
//!
//! Layout of the window (all fields little-endian u32):
//!
//! | offset | field |
//! |---|---|
//! | 0x00 | magic `SVLG` (0x474c5653) |
//! | 0x04 | layout version (1) |
//! | 0x08 | window size in bytes |
//! | 0x0c | boot count (1 on the first boot that found no valid header) |
//! | 0x10 | bytes written this boot (ring index = written % capacity) |
//! | 0x14 | bytes kept from the previous boot |
//! | 0x18 | flags of this boot ([`FLAG_SELFTEST_REBOOT`]) |
//! | 0x1c | check: xor of the words at 0x00..0x18 except 0x10, ^ 0x5a5a5a5a |
//! | 0x40 | ring of this boot, `capacity` bytes |
//! | 0x40 + capacity | copy of the previous boot's ring, oldest byte first |
//!
//! with capacity = (size - 0x40) / 2. At attach, a valid header's ring is
//! linearised into the previous-boot area and the ring restarts; an invalid one
//! (cold boot: RAM holds noise) starts from boot 1 with no previous log.

use alloc::string::String;
use core::fmt;

use spin::Mutex;

pub const MAGIC: u32 = 0x474c_5653;
pub const LAYOUT_VERSION: u32 = 1;
pub const HEADER_SIZE: usize = 0x40;
/// The smallest window that leaves room for two useful rings.
pub const MIN_SIZE: usize = HEADER_SIZE + 2 * 256;
/// Set by `snowvisor.selftest=reboot` just before it resets the machine, so the
/// next boot knows the reboot was its own and does not repeat it.
pub const FLAG_SELFTEST_REBOOT: u32 = 1;

const OFF_MAGIC: usize = 0x00;
const OFF_VERSION: usize = 0x04;
const OFF_SIZE: usize = 0x08;
const OFF_BOOT: usize = 0x0c;
const OFF_WRITTEN: usize = 0x10;
const OFF_PREV_LEN: usize = 0x14;
const OFF_FLAGS: usize = 0x18;
const OFF_CHECK: usize = 0x1c;

/// Why a window cannot hold a RAM log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RamLogError {
    TooSmall { size: usize },
    Unaligned { base: usize },
    OutsideRam { base: usize, size: usize },
}

impl fmt::Display for RamLogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RamLogError::TooSmall { size } => {
                write!(
                    f,
                    "RAM log window of {size} bytes is below the minimum {MIN_SIZE}"
                )
            }
            RamLogError::Unaligned { base } => {
                write!(f, "RAM log window at {base:#x} is not 64-byte aligned")
            }
            RamLogError::OutsideRam { base, size } => write!(
                f,
                "RAM log window {base:#x}+{size:#x} is not inside the board's RAM window"
            ),
        }
    }
}

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
    mem: &'a mut [u8],
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
        let mut ring = Ring { mem };
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

/// The last non-empty line of a log, lossily decoded and trimmed.
pub fn last_line(log: &[u8]) -> Option<String> {
    let line = log
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .rfind(|l| !l.iter().all(u8::is_ascii_whitespace))?;
    Some(String::from_utf8_lossy(line).trim().into())
}

/// The log of this machine, once attached.
static RING: Mutex<Option<Ring<'static>>> = Mutex::new(None);
/// Physical window of the attached log, for the Dom0 plan to keep out of Dom0.
static REGION: Mutex<Option<(usize, usize)>> = Mutex::new(None);

/// Installs `ring` as the machine's RAM log; console output goes there from now on.
pub fn install(ring: Ring<'static>, base: usize) {
    let size = ring.mem.len();
    *RING.lock() = Some(ring);
    *REGION.lock() = Some((base, size));
}

/// The RAM log window (physical base, size) if one is attached. The Dom0 memory
/// plan must keep it out of Dom0's RAM, or Dom0 overwrites the log.
pub fn region() -> Option<(usize, usize)> {
    *REGION.lock()
}

/// Runs `f` on the attached ring, if any (and if nobody else holds it).
pub fn with_ring<R>(f: impl FnOnce(&mut Ring<'static>) -> R) -> Option<R> {
    RING.try_lock().and_then(|mut g| g.as_mut().map(f))
}

struct RingWriter<'r, 'a>(&'r mut Ring<'a>);

impl fmt::Write for RingWriter<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.write(s.as_bytes());
        Ok(())
    }
}

/// Appends formatted text to the RAM log (a no-op until one is attached). The
/// console calls this for every line; a re-entrant call (a panic while the log
/// is held) is dropped rather than deadlocking.
pub fn write_fmt(args: fmt::Arguments<'_>) {
    with_ring(|r| {
        let before = r.written();
        let mut w = RingWriter(r);
        let _ = fmt::Write::write_fmt(&mut w, args);
        let len = r.written().wrapping_sub(before) as usize;
        #[cfg(target_arch = "arm")]
        for span in r.touched(before, len) {
            if !span.is_empty() {
                let start = r.mem.as_ptr() as usize + span.start;
                // Reach RAM now: a warm reset drops dirty cache lines.
                crate::arch::armv7::cpu::clean_inval_dcache_range(start, span.len());
            }
        }
        #[cfg(not(target_arch = "arm"))]
        let _ = len;
    });
}

/// Checks a board's window before it is touched: aligned, large enough, inside
/// the board's RAM window and clear of snowvisor's own image, stack and heap.
pub fn check_place(
    base: usize,
    size: usize,
    ram: (usize, usize),
    own: (usize, usize),
) -> Result<(), RamLogError> {
    if size < MIN_SIZE {
        return Err(RamLogError::TooSmall { size });
    }
    if !base.is_multiple_of(HEADER_SIZE) {
        return Err(RamLogError::Unaligned { base });
    }
    let end = base
        .checked_add(size)
        .ok_or(RamLogError::OutsideRam { base, size })?;
    if base < ram.0 || end > ram.1 || (base < own.1 && own.0 < end) {
        return Err(RamLogError::OutsideRam { base, size });
    }
    Ok(())
}

/// True when `word` appears in snowvisor's boot arguments.
pub fn has_arg(bootargs: Option<&str>, word: &str) -> bool {
    bootargs.is_some_and(|a| a.split_ascii_whitespace().any(|w| w == word))
}

/// The boot argument that makes snowvisor warm-reboot itself once (QEMU test of
/// the RAM log; harmless elsewhere: without a PSCI node it only warns).
pub const SELFTEST_REBOOT_ARG: &str = "snowvisor.selftest=reboot";

/// True when the tree has a PSCI node (0.2 or later) whose conduit is SMC.
pub fn psci_smc(tree: &crate::dt::HostTree<'_>) -> bool {
    tree.fdt
        .find_compatible(&["arm,psci-1.0", "arm,psci-0.2"])
        .is_some_and(|n| crate::dt::host::prop_str(&n, "method") == Some("smc"))
}

#[cfg(target_arch = "arm")]
mod target {
    use core::sync::atomic::{AtomicU32, Ordering};

    use log::{info, warn};

    use super::*;
    use crate::board::Board;
    use crate::dt::HostTree;

    /// Flags the previous boot left (read at attach).
    static PREVIOUS_FLAGS: AtomicU32 = AtomicU32::new(0);

    const PSCI_SYSTEM_RESET: u32 = 0x8400_0009;

    /// Attaches the board's RAM log and says what the previous boot left.
    pub fn start<B: Board>() {
        let Some(place) = B::RAM_LOG else { return };
        let own = crate::start::own_region();
        if let Err(e) = check_place(place.base, place.size, B::RAM_WINDOW, own) {
            warn!("ramlog: {e}; running without a RAM log");
            return;
        }
        // SAFETY: the window was checked to lie in RAM and outside snowvisor's
        // image, stack and heap; the board reserves it for the log (nothing else
        // in snowvisor touches it) and the Dom0 plan keeps it out of Dom0
        // ([`region`]). With the MMU off it is plain memory; later it is
        // identity-mapped normal memory.
        let mem = unsafe { core::slice::from_raw_parts_mut(place.base as *mut u8, place.size) };
        let (ring, att) = match Ring::attach(mem) {
            Ok(x) => x,
            Err(e) => {
                warn!("ramlog: {e}; running without a RAM log");
                return;
            }
        };
        let cap = ring.capacity();
        let last = last_line(ring.previous());
        install(ring, place.base);
        PREVIOUS_FLAGS.store(att.previous_flags, Ordering::Relaxed);
        info!(
            "ramlog: {} KiB at {:#010x} ({} bytes per boot), boot {}",
            place.size >> 10,
            place.base,
            cap,
            att.boot_count
        );
        if att.warm {
            info!(
                "ramlog: previous boot log: {} bytes, last line: {}",
                att.previous_len,
                last.as_deref().unwrap_or("(none)")
            );
        } else {
            info!("ramlog: no previous boot log (cold boot: no valid header)");
        }
    }

    /// `snowvisor.selftest=reboot`: warm-reboots once through PSCI SYSTEM_RESET.
    pub fn selftest(tree: &HostTree<'_>) {
        if !has_arg(tree.hypervisor_bootargs(), SELFTEST_REBOOT_ARG) {
            return;
        }
        if PREVIOUS_FLAGS.load(Ordering::Relaxed) & FLAG_SELFTEST_REBOOT != 0 {
            info!("selftest: this boot follows the selftest's warm reboot; not rebooting again");
            return;
        }
        if region().is_none() {
            warn!("selftest: no RAM log on this board; not rebooting");
            return;
        }
        if !psci_smc(tree) {
            warn!(
                "selftest: no PSCI node with method \"smc\" in the device tree; cannot warm-reboot"
            );
            return;
        }
        info!("selftest: warm reboot through PSCI SYSTEM_RESET");
        with_ring(|r| {
            r.set_flags(r.flags() | FLAG_SELFTEST_REBOOT);
            let start = r.mem.as_ptr() as usize;
            crate::arch::armv7::cpu::clean_inval_dcache_range(start, HEADER_SIZE);
        });
        let ret = crate::arch::armv7::secure::smc_call(PSCI_SYSTEM_RESET, 0, 0, 0);
        warn!("selftest: PSCI SYSTEM_RESET returned {ret:#x}; still running");
    }
}

#[cfg(target_arch = "arm")]
pub use target::{selftest, start};

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    fn joined(r: &Ring<'_>) -> Vec<u8> {
        let (a, b) = r.current();
        [a, b].concat()
    }

    #[test]
    fn cold_boot_starts_at_one_with_nothing_kept() {
        let mut mem = vec![0xa5u8; 1024];
        let (r, att) = Ring::attach(&mut mem).unwrap();
        assert_eq!(
            att,
            Attached {
                boot_count: 1,
                previous_len: 0,
                previous_flags: 0,
                warm: false
            }
        );
        assert_eq!(r.capacity(), (1024 - 64) / 2);
        assert!(r.previous().is_empty());
        assert_eq!(r.current(), (&[][..], &[][..]));
    }

    #[test]
    fn warm_reboot_keeps_the_previous_log() {
        let mut mem = vec![0u8; 1024];
        {
            let (mut r, _) = Ring::attach(&mut mem).unwrap();
            r.write(b"snowvisor: one\nsnowvisor: two\n");
            r.set_flags(FLAG_SELFTEST_REBOOT);
        }
        {
            let (mut r, att) = Ring::attach(&mut mem).unwrap();
            assert_eq!(att.boot_count, 2);
            assert!(att.warm);
            assert_eq!(att.previous_flags, FLAG_SELFTEST_REBOOT);
            assert_eq!(r.flags(), 0);
            assert_eq!(r.previous(), b"snowvisor: one\nsnowvisor: two\n");
            assert_eq!(last_line(r.previous()).as_deref(), Some("snowvisor: two"));
            r.write(b"third boot soon\n");
        }
        let (r, att) = Ring::attach(&mut mem).unwrap();
        assert_eq!(att.boot_count, 3);
        assert_eq!(r.previous(), b"third boot soon\n");
    }

    #[test]
    fn wrapped_ring_is_kept_oldest_first() {
        let mut mem = vec![0u8; MIN_SIZE];
        let cap;
        {
            let (mut r, _) = Ring::attach(&mut mem).unwrap();
            cap = r.capacity();
            let text: Vec<u8> = (0..cap + 100).map(|i| b'a' + (i % 26) as u8).collect();
            r.write(&text[..50]);
            r.write(&text[50..]);
            assert_eq!(r.written() as usize, cap + 100);
            assert_eq!(joined(&r), &text[100..]);
        }
        let (r, att) = Ring::attach(&mut mem).unwrap();
        assert_eq!(att.previous_len, cap);
        let expect: Vec<u8> = (100..cap + 100).map(|i| b'a' + (i % 26) as u8).collect();
        assert_eq!(r.previous(), &expect[..]);
    }

    #[test]
    fn corrupt_header_is_a_cold_boot() {
        let mut mem = vec![0u8; 1024];
        {
            let (mut r, _) = Ring::attach(&mut mem).unwrap();
            r.write(b"x\n");
        }
        mem[OFF_BOOT] ^= 0x40; // a flipped bit in the boot count
        let (_, att) = Ring::attach(&mut mem).unwrap();
        assert!(!att.warm);
        assert_eq!(att.boot_count, 1);
        // A window of another size is not this layout either.
        let mut other = mem[..1000].to_vec();
        let (_, att) = Ring::attach(&mut other).unwrap();
        assert!(!att.warm);
    }

    #[test]
    fn too_small_is_an_error() {
        let mut mem = vec![0u8; MIN_SIZE - 1];
        assert_eq!(
            Ring::attach(&mut mem).err(),
            Some(RamLogError::TooSmall { size: MIN_SIZE - 1 })
        );
    }

    #[test]
    fn touched_spans_cover_the_wrap() {
        let mut mem = vec![0u8; MIN_SIZE];
        let (mut r, _) = Ring::attach(&mut mem).unwrap();
        let cap = r.capacity();
        r.write(&vec![b'.'; cap - 3]);
        let before = r.written();
        r.write(b"abcdef");
        let t = r.touched(before, 6);
        assert_eq!(t[0], 0..HEADER_SIZE);
        assert_eq!(t[1], HEADER_SIZE + cap - 3..HEADER_SIZE + cap);
        assert_eq!(t[2], HEADER_SIZE..HEADER_SIZE + 3);
        assert_eq!(r.touched(0, cap + 5)[1], HEADER_SIZE..HEADER_SIZE + cap);
    }

    #[test]
    fn place_checks() {
        let ram = (0x4000_0000, 0xc000_0000);
        let own = (0x43e0_0000, 0x4440_0000);
        assert_eq!(check_place(0x43df_0000, 0x1_0000, ram, own), Ok(()));
        assert_eq!(
            check_place(0x43df_0000, 0x2_0000, ram, own),
            Err(RamLogError::OutsideRam {
                base: 0x43df_0000,
                size: 0x2_0000
            })
        );
        assert!(check_place(0x3fff_0000, 0x1_0000, ram, own).is_err());
        assert_eq!(
            check_place(0x4000_0004, 0x1_0000, ram, own),
            Err(RamLogError::Unaligned { base: 0x4000_0004 })
        );
        assert!(check_place(0x4000_0000, 16, ram, own).is_err());
        assert!(check_place(usize::MAX - 63, 0x1_0000, ram, own).is_err());
    }

    #[test]
    fn selftest_argument_and_psci_detection() {
        use crate::dt::testdata::QEMU_VIRT_DTB;
        assert!(has_arg(
            Some("loglvl=info snowvisor.selftest=reboot"),
            SELFTEST_REBOOT_ARG
        ));
        assert!(!has_arg(
            Some("snowvisor.selftest=rebootx"),
            SELFTEST_REBOOT_ARG
        ));
        assert!(!has_arg(None, SELFTEST_REBOOT_ARG));
        let t = crate::dt::HostTree::new(QEMU_VIRT_DTB).unwrap();
        assert!(psci_smc(&t));
    }

    #[test]
    fn logs_read_by_index_for_sysctl() {
        let mut mem = vec![0u8; MIN_SIZE];
        let cap;
        {
            let (mut r, _) = Ring::attach(&mut mem).unwrap();
            cap = r.capacity();
            assert_eq!(r.current_span(), (0, 0));
            r.write(b"hello\n");
            assert_eq!(r.current_span(), (0, 6));
            let mut out = [0u8; 4];
            assert_eq!(r.read_current(2, &mut out), 4);
            assert_eq!(&out, b"llo\n");
            assert_eq!(r.read_current(6, &mut out), 0);
            assert_eq!(r.read_current(7, &mut out), 0);
            // Wrap: the span moves, reads cross the ring's end.
            let text: Vec<u8> = (0..cap + 10).map(|i| b'a' + (i % 26) as u8).collect();
            r.write(&text);
            let (first, end) = r.current_span();
            assert_eq!((end - first) as usize, cap);
            assert_eq!(end as usize, cap + 16);
            let mut all = vec![0u8; cap + 5];
            assert_eq!(r.read_current(first, &mut all), cap);
            assert_eq!(&all[..cap], &text[10..]);
            assert_eq!(r.read_current(first - 1, &mut all), 0);
            let mut tail = [0u8; 3];
            assert_eq!(r.read_current(end - 3, &mut tail), 3);
            assert_eq!(&tail, &text[cap + 7..]);
        }
        let (r, _) = Ring::attach(&mut mem).unwrap();
        let mut out = vec![0u8; cap];
        assert_eq!(r.read_previous(0, &mut out), cap);
        assert_eq!(r.read_previous(cap as u32 - 2, &mut out), 2);
        assert_eq!(r.read_previous(u32::MAX, &mut out), 0);
    }

    #[test]
    fn last_line_skips_blank_and_crlf() {
        assert_eq!(last_line(b"a\r\nb c\r\n\r\n  \n").as_deref(), Some("b c"));
        assert_eq!(last_line(b"\n\n"), None);
        assert_eq!(last_line(b"no newline").as_deref(), Some("no newline"));
    }
}
