//! Single device-register accesses at physical addresses below 4 GiB, through
//! HYP's identity map (every address that is not RAM is Device-nGnRE there:
//! `lpae::HypMap`), for accesses snowvisor performs on a guest's behalf.

use core::ptr::{read_volatile, write_volatile};

/// Reads `size` (1, 2 or 4) bytes at `pa`, zero-extended; other sizes read 0.
///
/// # Safety
/// `pa` must be a device register that may be read with this size (aligned
/// to it, below 4 GiB, not RAM), and reading it must not break snowvisor.
pub unsafe fn read(pa: usize, size: u32) -> u32 {
    // SAFETY: the caller vouches for the address and the size.
    unsafe {
        match size {
            1 => u32::from(read_volatile(pa as *const u8)),
            2 => u32::from(read_volatile(pa as *const u16)),
            4 => read_volatile(pa as *const u32),
            _ => 0,
        }
    }
}

/// Writes the low `size` (1, 2 or 4) bytes of `value` at `pa`; other sizes
/// write nothing.
///
/// # Safety
/// As for [`read`], for a write.
pub unsafe fn write(pa: usize, size: u32, value: u32) {
    // SAFETY: the caller vouches for the address and the size.
    unsafe {
        match size {
            1 => write_volatile(pa as *mut u8, value as u8),
            2 => write_volatile(pa as *mut u16, value as u16),
            4 => write_volatile(pa as *mut u32, value),
            _ => {}
        }
    }
}
