//! Hypercalls from user space through Linux's privcmd driver
//! (`/dev/xen/privcmd`, module `xen-privcmd`).
//!
//! The only ioctl used is `IOCTL_PRIVCMD_HYPERCALL`: the kernel issues the
//! hypercall with the five arguments as they are, so pointer arguments are
//! this process's virtual addresses, which the hypervisor translates with
//! the guest's stage 1. The pages behind them must therefore be present and
//! writable when the call is made: [`HcBuf`] touches and locks its pages.

use std::ffi::{c_int, c_ulong, c_void};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;

/// Where the device may be: devtmpfs, or xenfs mounted on /proc/xen.
pub const PATHS: [&str; 2] = ["/dev/xen/privcmd", "/proc/xen/privcmd"];

/// `struct privcmd_hypercall` of `include/uapi/xen/privcmd.h`: `__u64 op`
/// then `__u64 arg[5]`, 48 bytes on every architecture.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Hypercall {
    pub op: u64,
    pub arg: [u64; 5],
}

const _: () = assert!(std::mem::size_of::<Hypercall>() == 48);

/// Linux's `_IOC(_IOC_NONE, ty, nr, size)` on ARM (and the generic layout):
/// direction (0 for none) in bits 30-31, size in 16-29, type in 8-15, number
/// in 0-7.
pub const fn ioc_none(ty: u8, nr: u8, size: usize) -> u32 {
    ((size as u32) << 16) | ((ty as u32) << 8) | nr as u32
}

/// `IOCTL_PRIVCMD_HYPERCALL`: `_IOC(_IOC_NONE, 'P', 0, sizeof(struct privcmd_hypercall))`.
pub const IOCTL_HYPERCALL: u32 = ioc_none(b'P', 0, std::mem::size_of::<Hypercall>());

/// An ioctl number privcmd does not implement (`'P'`, number 0xff): the
/// driver returns `-ENOTTY` at once, without a hypercall. The benchmark's
/// baseline: the same system call, file and driver entry, no hypervisor.
pub const IOCTL_UNKNOWN: u32 = ioc_none(b'P', 0xff, 0);

extern "C" {
    fn ioctl(fd: c_int, request: c_ulong, ...) -> c_int;
    fn mlock(addr: *const c_void, len: usize) -> c_int;
}

/// An open privcmd device.
pub struct Privcmd {
    file: File,
    pub path: &'static str,
}

impl Privcmd {
    /// Opens the first of [`PATHS`] that exists.
    pub fn open() -> io::Result<Privcmd> {
        let mut last = io::Error::from(io::ErrorKind::NotFound);
        for path in PATHS {
            match OpenOptions::new().read(true).write(true).open(path) {
                Ok(file) => return Ok(Privcmd { file, path }),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Issues hypercall `op`; `Ok` is the hypervisor's non-negative result,
    /// `Err` its error code (Xen's errno values are Linux's).
    pub fn hypercall(&self, op: u32, args: [u64; 5]) -> io::Result<i32> {
        let mut h = Hypercall {
            op: op.into(),
            arg: args,
        };
        self.raw(IOCTL_HYPERCALL, &mut h)
    }

    /// One ioctl on the device with `h` as its argument.
    pub fn raw(&self, request: u32, h: &mut Hypercall) -> io::Result<i32> {
        // SAFETY: `h` is a live, exclusively borrowed privcmd_hypercall for
        // the duration of the call; the driver reads (never keeps) it. Any
        // pointers inside it are the caller's business: they name HcBufs,
        // which outlive the call.
        let r = unsafe {
            ioctl(
                self.file.as_raw_fd(),
                request as c_ulong,
                h as *mut Hypercall,
            )
        };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r)
        }
    }
}

/// A buffer the hypervisor reads or writes by virtual address: page-aligned,
/// every page written once (so it is present and private, not the shared
/// zero page) and locked in memory.
pub struct HcBuf {
    mem: Vec<u8>,
    off: usize,
    len: usize,
}

const PAGE: usize = 4096;

impl HcBuf {
    pub fn new(len: usize) -> HcBuf {
        let mut mem = vec![0u8; len + PAGE];
        let off = mem.as_ptr().align_offset(PAGE).min(PAGE);
        let p = mem.as_mut_ptr();
        for i in (off..off + len.max(1)).step_by(PAGE) {
            // SAFETY: `i < mem.len()`; a volatile write so the page fault
            // that makes the page present and writable really happens.
            unsafe { std::ptr::write_volatile(p.add(i), 0) };
        }
        // SAFETY: the range lies inside `mem`. Failure (no CAP_IPC_LOCK, a
        // limit) is harmless: Dom0 has no swap, the touch above is what
        // matters.
        let _ = unsafe { mlock(p.add(off) as *const c_void, len.max(1)) };
        HcBuf { mem, off, len }
    }

    /// The address to pass to the hypervisor.
    pub fn addr(&self) -> u64 {
        self.mem[self.off..].as_ptr() as usize as u64
    }

    pub fn bytes(&self) -> &[u8] {
        &self.mem[self.off..self.off + self.len]
    }

    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.mem[self.off..self.off + self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_numbers_match_linux() {
        // _IOC(_IOC_NONE, 'P', 0, 48) as in include/uapi/xen/privcmd.h.
        assert_eq!(IOCTL_HYPERCALL, 0x0030_5000);
        assert_eq!(IOCTL_UNKNOWN, 0x0000_50ff);
    }

    #[test]
    fn buffers_are_page_aligned() {
        let mut b = HcBuf::new(100);
        assert_eq!(b.addr() % PAGE as u64, 0);
        assert_eq!(b.bytes().len(), 100);
        b.bytes_mut()[99] = 1;
        assert_eq!(b.bytes()[99], 1);
    }
}
