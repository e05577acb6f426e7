//! Attaching the board's window at boot, and the warm-reboot selftest.

use core::sync::atomic::{AtomicU32, Ordering};

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use log::{info, warn, Level};

use super::*;
use crate::board::Board;
use snowvisor_dt::HostTree;

/// Flags the previous boot left (read at attach).
static PREVIOUS_FLAGS: AtomicU32 = AtomicU32::new(0);

const PSCI_SYSTEM_RESET: u32 = 0x8400_0009;

/// What [`start`] has to say, held until the boot arguments set the log
/// level ([`report`]): `loglvl=none` prints no info line, these included.
static PENDING: spin::Mutex<Vec<(Level, String)>> = spin::Mutex::new(Vec::new());

fn pending(level: Level, line: String) {
    PENDING.lock().push((level, line));
}

/// Prints what [`start`] found, at the log level the boot arguments set
/// (call once, after `console::set_level`).
pub fn report() {
    let lines = core::mem::take(&mut *PENDING.lock());
    for (level, line) in lines {
        log::log!(level, "{line}");
    }
}

/// Attaches the board's RAM log and notes what the previous boot left, for
/// [`report`] to print once the log level is known; `own` is snowvisor's image, stack and heap (start, end), which it must
/// not overlap.
pub fn start<B: Board>(own: (usize, usize)) {
    let Some(place) = B::RAM_LOG else { return };
    if let Err(e) = check_place(place.base, place.size, B::RAM_WINDOW, own) {
        pending(
            Level::Warn,
            format!("ramlog: {e}; running without a RAM log"),
        );
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
            pending(
                Level::Warn,
                format!("ramlog: {e}; running without a RAM log"),
            );
            return;
        }
    };
    let cap = ring.capacity();
    let last = last_line(ring.previous());
    install(ring, place.base);
    PREVIOUS_FLAGS.store(att.previous_flags, Ordering::Relaxed);
    pending(
        Level::Info,
        format!(
            "ramlog: {} KiB at {:#010x} ({} bytes per boot), boot {}",
            place.size >> 10,
            place.base,
            cap,
            att.boot_count
        ),
    );
    if att.warm {
        pending(
            Level::Info,
            format!(
                "ramlog: previous boot log: {} bytes, last line: {}",
                att.previous_len,
                last.as_deref().unwrap_or("(none)")
            ),
        );
    } else {
        pending(
            Level::Info,
            "ramlog: no previous boot log (cold boot: no valid header)".into(),
        );
    }
}

/// `snowvisor.selftest=reboot`: warm-reboots once through PSCI SYSTEM_RESET.
pub fn selftest(tree: &HostTree<'_>, args: &snowvisor_core::bootargs::BootArgs<'_>) {
    if args.selftest != Some(SELFTEST_REBOOT) {
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
        warn!("selftest: no PSCI node with method \"smc\" in the device tree; cannot warm-reboot");
        return;
    }
    info!("selftest: warm reboot through PSCI SYSTEM_RESET");
    with_ring(|r| {
        r.set_flags(r.flags() | FLAG_SELFTEST_REBOOT);
        let start = r.window().start;
        snowvisor_arch_armv7::cpu::clean_inval_dcache_range(start, HEADER_SIZE);
    });
    let ret = snowvisor_arch_armv7::secure::smc_call(PSCI_SYSTEM_RESET, 0, 0, 0);
    warn!("selftest: PSCI SYSTEM_RESET returned {ret:#x}; still running");
}
