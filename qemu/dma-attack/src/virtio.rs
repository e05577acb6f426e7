//! Just enough PCI and virtio 1.x (modern, split virtqueue, polled) to send
//! block requests whose data buffer sits at any address the caller names.

use core::fmt;

/// QEMU virt's ECAM with `highmem-ecam=off`, and where BAR4 goes (the 32-bit
/// PCI memory window starts at 0x1000_0000, identity mapped to the CPU).
const ECAM: usize = 0x3f00_0000;
const BAR4_ADDR: u32 = 0x1000_0000;

const VIRTIO_VENDOR: u32 = 0x1af4;
/// Modern-only virtio-blk (`disable-legacy=on`).
const VIRTIO_BLK_MODERN: u32 = 0x1042;

// Common configuration structure offsets (virtio 1.x §4.1.4.3).
const DEVICE_FEATURE_SELECT: usize = 0x00;
const DEVICE_FEATURE: usize = 0x04;
const DRIVER_FEATURE_SELECT: usize = 0x08;
const DRIVER_FEATURE: usize = 0x0c;
const DEVICE_STATUS: usize = 0x14;
const QUEUE_SELECT: usize = 0x16;
const QUEUE_SIZE: usize = 0x18;
const QUEUE_ENABLE: usize = 0x1c;
const QUEUE_NOTIFY_OFF: usize = 0x1e;
const QUEUE_DESC: usize = 0x20;
const QUEUE_DRIVER: usize = 0x28;
const QUEUE_DEVICE: usize = 0x30;

const ACKNOWLEDGE: u8 = 1;
const DRIVER: u8 = 2;
const DRIVER_OK: u8 = 4;
const FEATURES_OK: u8 = 8;
const NEEDS_RESET: u8 = 0x40;

/// Feature bits 32 and 33 (word 1): VIRTIO_F_VERSION_1, VIRTIO_F_ACCESS_PLATFORM.
const F_VERSION_1: u32 = 1 << 0;
const F_ACCESS_PLATFORM: u32 = 1 << 1;

const QSIZE: u16 = 8;
const DESC_NEXT: u16 = 1;
const DESC_WRITE: u16 = 2;

fn rd32(a: usize) -> u32 {
    // SAFETY: device registers or our own memory, 4-byte aligned.
    unsafe { (a as *const u32).read_volatile() }
}
fn wr32(a: usize, v: u32) {
    // SAFETY: as above.
    unsafe { (a as *mut u32).write_volatile(v) }
}
fn rd16(a: usize) -> u16 {
    // SAFETY: as above, 2-byte aligned.
    unsafe { (a as *const u16).read_volatile() }
}
fn wr16(a: usize, v: u16) {
    // SAFETY: as above.
    unsafe { (a as *mut u16).write_volatile(v) }
}
fn rd8(a: usize) -> u8 {
    // SAFETY: as above.
    unsafe { (a as *const u8).read_volatile() }
}
fn wr8(a: usize, v: u8) {
    // SAFETY: as above.
    unsafe { (a as *mut u8).write_volatile(v) }
}
fn wr64(a: usize, v: u64) {
    wr32(a, v as u32);
    wr32(a + 4, (v >> 32) as u32);
}
fn barrier() {
    // SAFETY: barrier only.
    unsafe { core::arch::asm!("dsb", options(nostack)) }
}

fn cfg(devfn: usize, reg: usize) -> usize {
    ECAM + (devfn << 12) + reg
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Completed; virtio-blk status byte (0 = OK).
    Done(u8),
    /// No completion; the device says it needs a reset (it hit a DMA error).
    Broken(u8),
    /// No completion within the time allowed; device status.
    Timeout(u8),
}

/// A virtio-blk-pci disk with queue 0 set up in `area` (24 KiB of our RAM).
pub struct Blk {
    devfn: usize,
    common: usize,
    notify: usize,
    area: usize,
    next_avail: u16,
    last_used: u16,
}

pub struct Bdf(usize);

impl fmt::Display for Bdf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "00:{:02x}.{}", self.0 >> 3, self.0 & 7)
    }
}

impl Blk {
    /// Finds the disk on bus 0, assigns its BAR4, resets and initialises it.
    pub fn open(area: usize) -> Option<Blk> {
        let devfn =
            (0..256).find(|&d| rd32(cfg(d, 0)) == VIRTIO_BLK_MODERN << 16 | VIRTIO_VENDOR)?;
        wr32(cfg(devfn, 0x20), BAR4_ADDR);
        wr32(cfg(devfn, 0x24), 0);
        // Memory space and bus master on.
        let cmd = rd32(cfg(devfn, 0x04)) & 0xffff;
        wr32(cfg(devfn, 0x04), cmd | 0x6);
        let (mut common, mut notify, mut mult) = (None, None, 0);
        let mut cap = (rd32(cfg(devfn, 0x34)) & 0xfc) as usize;
        let mut hops = 0;
        while cap != 0 && hops < 32 {
            let head = rd32(cfg(devfn, cap));
            if head & 0xff == 0x09 {
                let kind = (head >> 24) & 0xff;
                let bar = rd32(cfg(devfn, cap + 4)) & 0xff;
                let off = rd32(cfg(devfn, cap + 8)) as usize;
                if bar == 4 {
                    match kind {
                        1 => common = Some(BAR4_ADDR as usize + off),
                        2 => {
                            notify = Some(BAR4_ADDR as usize + off);
                            mult = rd32(cfg(devfn, cap + 16)) as usize;
                        }
                        _ => {}
                    }
                }
            }
            cap = ((head >> 8) & 0xfc) as usize;
            hops += 1;
        }
        let common = common?;
        let notify = notify?;
        let mut b = Blk {
            devfn,
            common,
            notify,
            area,
            next_avail: 0,
            last_used: 0,
        };
        b.init(mult).then_some(b)
    }

    pub fn bdf(&self) -> Bdf {
        Bdf(self.devfn)
    }

    pub fn bar(&self) -> u32 {
        BAR4_ADDR
    }

    fn status(&self) -> u8 {
        rd8(self.common + DEVICE_STATUS)
    }

    fn init(&mut self, mult: usize) -> bool {
        let c = self.common;
        wr8(c + DEVICE_STATUS, 0);
        let mut spins = 0;
        while self.status() != 0 && spins < 1_000_000 {
            spins += 1;
        }
        wr8(c + DEVICE_STATUS, ACKNOWLEDGE | DRIVER);
        wr32(c + DEVICE_FEATURE_SELECT, 1);
        let offered = rd32(c + DEVICE_FEATURE);
        wr32(c + DRIVER_FEATURE_SELECT, 0);
        wr32(c + DRIVER_FEATURE, 0);
        wr32(c + DRIVER_FEATURE_SELECT, 1);
        wr32(
            c + DRIVER_FEATURE,
            offered & (F_VERSION_1 | F_ACCESS_PLATFORM),
        );
        wr8(c + DEVICE_STATUS, ACKNOWLEDGE | DRIVER | FEATURES_OK);
        if self.status() & FEATURES_OK == 0 {
            return false;
        }
        // The rings, zeroed: descriptors at +0, avail at +0x1000, used at +0x2000.
        for i in 0..0x3000 / 4 {
            wr32(self.area + 4 * i, 0);
        }
        wr16(c + QUEUE_SELECT, 0);
        if rd16(c + QUEUE_SIZE) < QSIZE {
            return false;
        }
        wr16(c + QUEUE_SIZE, QSIZE);
        wr64(c + QUEUE_DESC, self.area as u64);
        wr64(c + QUEUE_DRIVER, (self.area + 0x1000) as u64);
        wr64(c + QUEUE_DEVICE, (self.area + 0x2000) as u64);
        self.notify += rd16(c + QUEUE_NOTIFY_OFF) as usize * mult;
        wr16(c + QUEUE_ENABLE, 1);
        wr8(
            c + DEVICE_STATUS,
            ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK,
        );
        self.next_avail = 0;
        self.last_used = 0;
        true
    }

    fn desc(&self, i: usize, addr: usize, len: u32, flags: u16, next: u16) {
        let d = self.area + 16 * i;
        wr64(d, addr as u64);
        wr32(d + 8, len);
        wr16(d + 12, flags);
        wr16(d + 14, next);
    }

    /// One request: header (type, sector), 512 data bytes at `data`, status.
    fn request(&mut self, kind: u32, sector: u64, data: usize, timeout: u64) -> Outcome {
        let hdr = self.area + 0x3000;
        let status = self.area + 0x3100;
        wr32(hdr, kind);
        wr32(hdr + 4, 0);
        wr64(hdr + 8, sector);
        wr8(status, 0xff);
        let data_flags = if kind == 0 { DESC_WRITE } else { 0 };
        self.desc(0, hdr, 16, DESC_NEXT, 1);
        self.desc(1, data, 512, data_flags | DESC_NEXT, 2);
        self.desc(2, status, 1, DESC_WRITE, 0);
        let avail = self.area + 0x1000;
        wr16(avail + 4 + 2 * (self.next_avail % QSIZE) as usize, 0);
        barrier();
        self.next_avail = self.next_avail.wrapping_add(1);
        wr16(avail + 2, self.next_avail);
        barrier();
        wr16(self.notify, 0);
        let used_idx = self.area + 0x2000 + 2;
        let until = super::now_ticks() + timeout;
        loop {
            if rd16(used_idx) != self.last_used {
                self.last_used = self.last_used.wrapping_add(1);
                return Outcome::Done(rd8(status));
            }
            let s = self.status();
            if s & NEEDS_RESET != 0 {
                return Outcome::Broken(s);
            }
            if super::now_ticks() > until {
                return Outcome::Timeout(s);
            }
        }
    }

    /// Device reads sector into memory at `data` (a DMA write).
    pub fn read(&mut self, sector: u64, data: usize, timeout: u64) -> Outcome {
        self.request(0, sector, data, timeout)
    }

    /// Device writes sector from memory at `data` (a DMA read).
    pub fn write(&mut self, sector: u64, data: usize, timeout: u64) -> Outcome {
        self.request(1, sector, data, timeout)
    }
}
