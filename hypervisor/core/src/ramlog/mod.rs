//! The RAM log: everything snowvisor prints also goes into a ring in RAM at a
//! place the board fixes (the kernel's `Board::RAM_LOG`), so a machine
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

mod ring;
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
