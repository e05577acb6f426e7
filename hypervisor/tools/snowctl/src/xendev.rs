//! Linux's Xen user-space devices other than privcmd: `/dev/xen/gntalloc`
//! (grant a page of ours), `/dev/xen/gntdev` (map a grant) and
//! `/dev/xen/evtchn` (event channels), with the ioctl numbers and argument
//! layouts of Linux's `include/uapi/xen/{gntalloc,gntdev,evtchn}.h`. Every
//! ioctl is `_IOC(_IOC_NONE, type, nr, sizeof(struct))`.

use std::ffi::{c_int, c_long, c_ulong, c_void};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;

use crate::privcmd::ioc_none;

pub const PAGE: usize = 4096;

/// `struct ioctl_gntalloc_alloc_gref` for one page: domid, flags, count,
/// then (out) the mmap index and the grant reference; 24 bytes with the tail
/// padding the `__u64` brings.
#[repr(C)]
#[derive(Debug, Default)]
struct GntallocAllocGref {
    domid: u16,
    flags: u16,
    count: u32,
    index: u64,
    gref_ids: [u32; 1],
}

/// `struct ioctl_gntalloc_dealloc_gref`: index, count (16 bytes).
#[repr(C)]
#[derive(Debug, Default)]
struct GntallocDeallocGref {
    index: u64,
    count: u32,
}

/// `struct ioctl_gntdev_grant_ref`.
#[repr(C)]
#[derive(Debug, Default)]
struct GntdevGrantRef {
    domid: u32,
    gref: u32,
}

/// `struct ioctl_gntdev_map_grant_ref` for one grant: count, pad, (out) the
/// mmap index, the refs (24 bytes).
#[repr(C)]
#[derive(Debug, Default)]
struct GntdevMapGrantRef {
    count: u32,
    pad: u32,
    index: u64,
    refs: [GntdevGrantRef; 1],
}

/// `struct ioctl_gntdev_unmap_grant_ref`: index, count, pad (16 bytes).
#[repr(C)]
#[derive(Debug, Default)]
struct GntdevUnmapGrantRef {
    index: u64,
    count: u32,
    pad: u32,
}

const _: () = {
    assert!(std::mem::size_of::<GntallocAllocGref>() == 24);
    assert!(std::mem::size_of::<GntallocDeallocGref>() == 16);
    assert!(std::mem::size_of::<GntdevMapGrantRef>() == 24);
    assert!(std::mem::size_of::<GntdevUnmapGrantRef>() == 16);
};

pub const IOCTL_GNTALLOC_ALLOC_GREF: u32 =
    ioc_none(b'G', 5, std::mem::size_of::<GntallocAllocGref>());
pub const IOCTL_GNTALLOC_DEALLOC_GREF: u32 =
    ioc_none(b'G', 6, std::mem::size_of::<GntallocDeallocGref>());
pub const GNTALLOC_FLAG_WRITABLE: u16 = 1;
pub const IOCTL_GNTDEV_MAP_GRANT_REF: u32 =
    ioc_none(b'G', 0, std::mem::size_of::<GntdevMapGrantRef>());
pub const IOCTL_GNTDEV_UNMAP_GRANT_REF: u32 =
    ioc_none(b'G', 1, std::mem::size_of::<GntdevUnmapGrantRef>());
/// `struct ioctl_evtchn_bind_interdomain { unsigned int remote_domain, remote_port; }`.
pub const IOCTL_EVTCHN_BIND_INTERDOMAIN: u32 = ioc_none(b'E', 1, 8);
/// `struct ioctl_evtchn_bind_unbound_port { unsigned int remote_domain; }`.
pub const IOCTL_EVTCHN_BIND_UNBOUND_PORT: u32 = ioc_none(b'E', 2, 4);
/// `struct ioctl_evtchn_unbind { unsigned int port; }`.
pub const IOCTL_EVTCHN_UNBIND: u32 = ioc_none(b'E', 3, 4);
/// `struct ioctl_evtchn_notify { unsigned int port; }`.
pub const IOCTL_EVTCHN_NOTIFY: u32 = ioc_none(b'E', 4, 4);

const PROT_READ: c_int = 1;
const PROT_WRITE: c_int = 2;
const MAP_SHARED: c_int = 1;
const MAP_PRIVATE: c_int = 2;
const MAP_ANONYMOUS: c_int = 0x20;
/// `O_SYNC` of Linux's ARM `fcntl.h`.
const O_SYNC: c_int = 0o4010000;
const POLLIN: i16 = 1;

#[repr(C)]
struct PollFd {
    fd: c_int,
    events: i16,
    revents: i16,
}

extern "C" {
    fn ioctl(fd: c_int, request: c_ulong, ...) -> c_int;
    fn mmap64(
        addr: *mut c_void,
        len: usize,
        prot: c_int,
        flags: c_int,
        fd: c_int,
        off: i64,
    ) -> *mut c_void;
    fn munmap(addr: *mut c_void, len: usize) -> c_int;
    fn poll(fds: *mut PollFd, n: c_ulong, timeout_ms: c_int) -> c_int;
    fn read(fd: c_int, buf: *mut c_void, n: usize) -> isize;
    fn write(fd: c_int, buf: *const c_void, n: usize) -> isize;
}

fn open(path: &str) -> io::Result<File> {
    OpenOptions::new().read(true).write(true).open(path)
}

/// `ioctl(fd, request, arg)`; `Ok` is the ioctl's non-negative result.
fn ioctl_on<T>(f: &File, request: u32, arg: &mut T) -> io::Result<c_long> {
    // SAFETY: `arg` is a live, exclusively borrowed struct of the size the
    // request number encodes (checked above) for the duration of the call.
    let r = unsafe { ioctl(f.as_raw_fd(), request as c_ulong, arg as *mut T) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(c_long::from(r))
    }
}

/// A page-sized memory mapping, unmapped on drop.
pub struct Mapping {
    ptr: *mut u8,
}

impl Mapping {
    fn new(fd: Option<&File>, prot: c_int, off: u64) -> io::Result<Mapping> {
        let off = i64::try_from(off).map_err(|_| io::Error::from_raw_os_error(22))?;
        let (flags, fd) = match fd {
            Some(f) => (MAP_SHARED, f.as_raw_fd()),
            None => (MAP_PRIVATE | MAP_ANONYMOUS, -1),
        };
        // SAFETY: a fresh mapping chosen by the kernel; nothing else refers to it.
        let p = unsafe { mmap64(std::ptr::null_mut(), PAGE, prot, flags, fd, off) };
        if p as isize == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(Mapping { ptr: p.cast() })
        }
    }

    /// An anonymous read-only page, present (read once) but never writable.
    pub fn read_only() -> io::Result<Mapping> {
        let m = Mapping::new(None, PROT_READ, 0)?;
        m.read(0);
        Ok(m)
    }

    /// The page at physical address `pa` (page-aligned), read-only, through
    /// `/dev/mem` (Linux maps a non-RAM page there as device memory).
    pub fn phys(pa: u64) -> io::Result<Mapping> {
        let mem = OpenOptions::new()
            .read(true)
            .custom_flags(O_SYNC)
            .open("/dev/mem")?;
        Mapping::new(Some(&mem), PROT_READ, pa)
    }

    pub fn addr(&self) -> u64 {
        self.ptr as usize as u64
    }

    /// Volatile: the other side of a grant may change the page at any time.
    pub fn read(&self, i: usize) -> u8 {
        assert!(i < PAGE);
        // SAFETY: inside the mapped page.
        unsafe { std::ptr::read_volatile(self.ptr.add(i)) }
    }

    /// A 32-bit volatile read at byte offset `i` (4-byte aligned).
    pub fn read_u32(&self, i: usize) -> u32 {
        assert!(i.is_multiple_of(4) && i + 4 <= PAGE);
        // SAFETY: inside the mapped page, aligned.
        unsafe { std::ptr::read_volatile(self.ptr.add(i).cast::<u32>()) }
    }

    /// A 32-bit volatile write at byte offset `i` (4-byte aligned).
    pub fn write_u32(&self, i: usize, v: u32) {
        assert!(i.is_multiple_of(4) && i + 4 <= PAGE);
        // SAFETY: inside the mapped page, aligned, mapped writable by the
        // callers that write (the grant mappings).
        unsafe { std::ptr::write_volatile(self.ptr.add(i).cast::<u32>(), v) }
    }

    pub fn write(&self, i: usize, v: u8) {
        assert!(i < PAGE);
        // SAFETY: inside the mapped page, mapped writable by the callers
        // that write (the grant mappings).
        unsafe { std::ptr::write_volatile(self.ptr.add(i), v) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once.
        unsafe { munmap(self.ptr.cast(), PAGE) };
    }
}

/// One page of ours, granted with gntalloc.
pub struct Granted {
    dev: File,
    pub gref: u32,
    index: u64,
    pub map: Option<Mapping>,
}

impl Granted {
    /// Grants a fresh page to `domid`, writable, and maps it here.
    pub fn alloc(domid: u16) -> io::Result<Granted> {
        let dev = open("/dev/xen/gntalloc")?;
        let mut a = GntallocAllocGref {
            domid,
            flags: GNTALLOC_FLAG_WRITABLE,
            count: 1,
            ..Default::default()
        };
        ioctl_on(&dev, IOCTL_GNTALLOC_ALLOC_GREF, &mut a)?;
        let map = Mapping::new(Some(&dev), PROT_READ | PROT_WRITE, a.index)?;
        Ok(Granted {
            dev,
            gref: a.gref_ids[0],
            index: a.index,
            map: Some(map),
        })
    }

    /// Unmaps and ends the grant (the page is freed once nobody maps it).
    pub fn dealloc(mut self) -> io::Result<()> {
        self.map = None;
        let mut d = GntallocDeallocGref {
            index: self.index,
            count: 1,
        };
        ioctl_on(&self.dev, IOCTL_GNTALLOC_DEALLOC_GREF, &mut d).map(drop)
    }
}

/// A grant mapped with gntdev.
pub struct Mapped {
    dev: File,
    index: u64,
    pub map: Option<Mapping>,
}

impl Mapped {
    pub fn map(domid: u32, gref: u32) -> io::Result<Mapped> {
        let dev = open("/dev/xen/gntdev")?;
        let mut m = GntdevMapGrantRef {
            count: 1,
            refs: [GntdevGrantRef { domid, gref }],
            ..Default::default()
        };
        ioctl_on(&dev, IOCTL_GNTDEV_MAP_GRANT_REF, &mut m)?;
        // The grant is mapped (map_grant_ref) here, by the mmap.
        let map = Mapping::new(Some(&dev), PROT_READ | PROT_WRITE, m.index)?;
        Ok(Mapped {
            dev,
            index: m.index,
            map: Some(map),
        })
    }

    /// munmap (unmap_grant_ref), then removes the grant from gntdev's table.
    pub fn unmap(mut self) -> io::Result<()> {
        self.map = None;
        let mut u = GntdevUnmapGrantRef {
            index: self.index,
            count: 1,
            pad: 0,
        };
        ioctl_on(&self.dev, IOCTL_GNTDEV_UNMAP_GRANT_REF, &mut u).map(drop)
    }
}

/// An open `/dev/xen/evtchn`; its ports are unbound when it is closed.
pub struct Evtchn {
    dev: File,
}

impl Evtchn {
    pub fn open() -> io::Result<Evtchn> {
        Ok(Evtchn {
            dev: open("/dev/xen/evtchn")?,
        })
    }

    /// A new port waiting for `remote_domain` to bind to it.
    pub fn bind_unbound(&self, remote_domain: u32) -> io::Result<u32> {
        let mut a = [remote_domain];
        ioctl_on(&self.dev, IOCTL_EVTCHN_BIND_UNBOUND_PORT, &mut a).map(|p| p as u32)
    }

    /// A new local port connected to `remote_port` of `remote_domain`.
    pub fn bind_interdomain(&self, remote_domain: u32, remote_port: u32) -> io::Result<u32> {
        let mut a = [remote_domain, remote_port];
        ioctl_on(&self.dev, IOCTL_EVTCHN_BIND_INTERDOMAIN, &mut a).map(|p| p as u32)
    }

    pub fn notify(&self, port: u32) -> io::Result<()> {
        let mut a = [port];
        ioctl_on(&self.dev, IOCTL_EVTCHN_NOTIFY, &mut a).map(drop)
    }

    pub fn unbind(&self, port: u32) -> io::Result<()> {
        let mut a = [port];
        ioctl_on(&self.dev, IOCTL_EVTCHN_UNBIND, &mut a).map(drop)
    }

    /// The next pending port, or `None` after `timeout_ms` without one. The
    /// driver masks a port it reports; it is unmasked again here.
    pub fn wait(&self, timeout_ms: i32) -> io::Result<Option<u32>> {
        let fd = self.dev.as_raw_fd();
        let mut p = PollFd {
            fd,
            events: POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { poll(&mut p, 1, timeout_ms) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n == 0 {
            return Ok(None);
        }
        let mut port = 0u32;
        // SAFETY: reads at most 4 bytes into `port`.
        let r = unsafe { read(fd, (&mut port as *mut u32).cast(), 4) };
        if r != 4 {
            return Err(if r < 0 {
                io::Error::last_os_error()
            } else {
                io::Error::new(io::ErrorKind::UnexpectedEof, format!("read {r} bytes"))
            });
        }
        // SAFETY: writes the 4 bytes of `port` (unmask).
        unsafe { write(fd, (&port as *const u32).cast(), 4) };
        Ok(Some(port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_numbers_match_linux() {
        // _IOC(_IOC_NONE, 'G', 5, 24) and friends, as in include/uapi/xen/.
        assert_eq!(IOCTL_GNTALLOC_ALLOC_GREF, 0x0018_4705);
        assert_eq!(IOCTL_GNTALLOC_DEALLOC_GREF, 0x0010_4706);
        assert_eq!(IOCTL_GNTDEV_MAP_GRANT_REF, 0x0018_4700);
        assert_eq!(IOCTL_GNTDEV_UNMAP_GRANT_REF, 0x0010_4701);
        assert_eq!(IOCTL_EVTCHN_BIND_INTERDOMAIN, 0x0008_4501);
        assert_eq!(IOCTL_EVTCHN_BIND_UNBOUND_PORT, 0x0004_4502);
        assert_eq!(IOCTL_EVTCHN_UNBIND, 0x0004_4503);
        assert_eq!(IOCTL_EVTCHN_NOTIFY, 0x0004_4504);
    }

    #[test]
    fn read_only_page() {
        let m = Mapping::read_only().unwrap();
        assert_eq!(m.addr() % PAGE as u64, 0);
        assert_eq!(m.read(PAGE - 1), 0);
    }
}
