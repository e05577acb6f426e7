//! The machine's RAM log: the ring ([`snowvisor_core::ramlog`], its layout
//! and logic) attached to the board's window ([`crate::board::Board::RAM_LOG`])
//! at boot, held here for the console and the hypercalls that read it.

use core::fmt;

use spin::Mutex;

pub use snowvisor_core::ramlog::*;

#[cfg(target_arch = "arm")]
mod target;

#[cfg(target_arch = "arm")]
pub use target::{report, selftest, start};

/// The log of this machine, once attached.
static RING: Mutex<Option<Ring<'static>>> = Mutex::new(None);
/// Physical window of the attached log, for the Dom0 plan to keep out of Dom0.
static REGION: Mutex<Option<(usize, usize)>> = Mutex::new(None);

/// Installs `ring` as the machine's RAM log; console output goes there from now on.
pub fn install(ring: Ring<'static>, base: usize) {
    let size = ring.window().len();
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
                let start = r.window().start + span.start;
                // Reach RAM now: a warm reset drops dirty cache lines.
                snowvisor_arch_armv7::cpu::clean_inval_dcache_range(start, span.len());
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
                let start = r.window().start + span.start;
                snowvisor_arch_armv7::cpu::clean_inval_dcache_range(start, span.len());
            }
        }
        #[cfg(not(target_arch = "arm"))]
        let _ = before;
    });
}
