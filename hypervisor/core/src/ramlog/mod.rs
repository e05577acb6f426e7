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

mod ring;
#[cfg(target_arch = "arm")]
mod target;
#[cfg(test)]
mod tests;

pub use ring::{Attached, Ring};

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

/// Appends guest-triggered text ([`Ring::write_guest`]): the first fault
/// report of the boot stays in the RAM log whatever the guest does next.
pub fn write_guest_fmt(args: fmt::Arguments<'_>) {
    let text = alloc::format!("{args}");
    with_ring(|r| {
        let before = r.written();
        if !r.write_guest(text.as_bytes()) {
            return;
        }
        #[cfg(target_arch = "arm")]
        for span in r.touched(before, text.len()) {
            if !span.is_empty() {
                let start = r.mem.as_ptr() as usize + span.start;
                crate::arch::armv7::cpu::clean_inval_dcache_range(start, span.len());
            }
        }
        #[cfg(not(target_arch = "arm"))]
        let _ = before;
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
/// `snowvisor.selftest=reboot` makes snowvisor warm-reboot itself once (QEMU
/// test of the RAM log; harmless elsewhere: without a PSCI node it only warns).
pub const SELFTEST_REBOOT: &str = "reboot";

/// True when the tree has a PSCI node (0.2 or later) whose conduit is SMC.
pub fn psci_smc(tree: &snowvisor_dt::HostTree<'_>) -> bool {
    tree.find_compatible(&["arm,psci-1.0", "arm,psci-0.2"])
        .is_some_and(|n| tree.index().str_prop(n, "method") == Some("smc"))
}

#[cfg(target_arch = "arm")]
pub use target::{selftest, start};
