//! A DomU restarting after its PSCI SYSTEM_RESET (or `SCHEDOP_shutdown`
//! with reason reboot): the domain is marked
//! [`DomainState::Restarting`](super::DomainState::Restarting), the CPUs
//! holding its vCPUs are kicked, and once the last of them has let go of
//! its vCPU ([`unloaded`]) the domain is built again on that CPU by the
//! kernel's [`Rebuild`] (RAM scrubbed, modules copied again from snowvisor's
//! pristine copies, a fresh stage 2, distributor, UART and Xen state) and
//! its vCPU 0 starts as at boot. Nothing of its memory is touched while
//! one of its vCPUs may still run.
//!
//! A domain that resets over and over is ended instead ([`RestartGuard`]):
//! [`MAX_RESTARTS`] restarts within [`WINDOW_MS`] is a loop, not a reboot.

use alloc::boxed::Box;
use alloc::string::String;

use super::{Domain, DomainState};

/// Restarts allowed within [`WINDOW_MS`]; the next one ends the domain.
pub const MAX_RESTARTS: usize = 5;
/// The window of [`MAX_RESTARTS`], in milliseconds (a Linux DomU takes
/// seconds to boot, so only a guest that resets at once gets there).
pub const WINDOW_MS: u64 = 10_000;

/// Builds a domain again in place (the kernel's: it owns the memory and
/// the pristine copies of the boot modules). Called with the domain's lock
/// held and none of its vCPUs loaded on any CPU.
pub trait Rebuild: Send {
    /// Scrubs the domain's RAM, copies its kernel, initrd and device tree in
    /// again and resets what it owns (stage 2, distributor, UART, Xen state,
    /// vCPU states with vCPU 0 pending at its entry, `cntvoff` = the
    /// counter now). An error is the line saying why it cannot start again.
    fn rebuild(&mut self, d: &mut Domain) -> Result<(), String>;
}

/// Counts restarts and says when they come too fast.
#[derive(Debug, Clone, Default)]
pub struct RestartGuard {
    /// Times (ms) of the last [`MAX_RESTARTS`] restarts, oldest first.
    recent: [u64; MAX_RESTARTS],
    /// Restarts since boot.
    count: u32,
}

impl RestartGuard {
    /// Whether a restart at `now_ms` may go ahead (then counted), or is
    /// the [`MAX_RESTARTS`]+1-th within [`WINDOW_MS`] (not counted).
    pub fn allow(&mut self, now_ms: u64) -> bool {
        let full = self.count as usize >= MAX_RESTARTS;
        if full && now_ms.saturating_sub(self.recent[0]) < WINDOW_MS {
            return false;
        }
        self.recent.rotate_left(1);
        self.recent[MAX_RESTARTS - 1] = now_ms;
        self.count = self.count.saturating_add(1);
        true
    }

    /// Restarts since boot.
    pub fn count(&self) -> u32 {
        self.count
    }
}

/// What a DomU keeps to restart: its rebuilder and the guard.
pub struct Restart {
    pub rebuild: Box<dyn Rebuild>,
    pub guard: RestartGuard,
}

/// One of domain `d`'s vCPUs is no longer loaded on any CPU (its CPU
/// dropped it): if the domain is restarting and that was the last, it is
/// built again now. Returns the GIC CPU-interface bit of the CPU to kick
/// for its vCPU 0 (`None`: nothing to start). A rebuild that fails ends
/// the domain (crashed), said with the reason.
pub fn unloaded(d: &mut Domain, vcpu: u32) -> Option<u8> {
    if let Some(s) = d.vcpus.get_mut(vcpu as usize) {
        s.loaded = false;
    }
    if d.state != DomainState::Restarting || d.vcpus.iter().any(|s| s.loaded) {
        return None;
    }
    let Some(mut r) = d.restart.take() else {
        d.state = DomainState::Off;
        return None;
    };
    let out = r.rebuild.rebuild(d);
    d.restart = Some(r);
    match out {
        Ok(()) => {
            d.state = DomainState::Running;
            d.vcpus.first().map(|s| s.cpu_mask)
        }
        Err(e) => {
            log::error!(
                "{}: cannot restart: {e}; this domain is off (the others go on)",
                d.name
            );
            d.state = DomainState::Crashed;
            None
        }
    }
}
