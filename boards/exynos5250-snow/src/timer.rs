//! Which frequency the architected timer runs at, and where that number came
//! from: Snow's firmware is believed to leave CNTFRQ at 0 (unverified), and
//! from Non-secure HYP CNTFRQ can no longer be written.

use core::fmt;

use snowvisor_dt::HostTree;

/// The source of the timer frequency snowvisor (and Dom0) use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerSource {
    /// CNTFRQ as the firmware programmed it.
    Firmware(u32),
    /// CNTFRQ was 0; the Secure-to-HYP switch wrote the board's value.
    SecureSwitch(u32),
    /// CNTFRQ reads 0 and cannot be written now: the DT `clock-frequency`.
    DtClockFrequency(u32),
    /// Neither: the timer frequency is unknown.
    Unknown,
}

impl TimerSource {
    pub fn pick(cntfrq: u32, dt_hz: Option<u32>, written_by_switch: bool) -> Self {
        match (cntfrq, dt_hz) {
            (0, Some(hz)) if hz != 0 => TimerSource::DtClockFrequency(hz),
            (0, _) => TimerSource::Unknown,
            (f, _) if written_by_switch => TimerSource::SecureSwitch(f),
            (f, _) => TimerSource::Firmware(f),
        }
    }

    pub fn hz(self) -> Option<u32> {
        match self {
            TimerSource::Firmware(f)
            | TimerSource::SecureSwitch(f)
            | TimerSource::DtClockFrequency(f) => Some(f),
            TimerSource::Unknown => None,
        }
    }
}

impl fmt::Display for TimerSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimerSource::Firmware(hz) => write!(f, "timer: {hz} Hz from CNTFRQ, as the firmware set it"),
            TimerSource::SecureSwitch(hz) => write!(
                f,
                "timer: CNTFRQ was 0; the Secure-to-HYP switch set it to {hz} Hz (the DT timer's clock-frequency)"
            ),
            TimerSource::DtClockFrequency(hz) => write!(
                f,
                "timer: CNTFRQ reads 0 and is not writable from HYP; using the DT timer's clock-frequency {hz} Hz"
            ),
            TimerSource::Unknown => {
                write!(f, "timer: CNTFRQ reads 0 and the DT timer has no clock-frequency: frequency unknown")
            }
        }
    }
}

/// Says on the console which frequency source is in use.
#[cfg(target_arch = "arm")]
pub fn report(tree: &HostTree<'_>) {
    use snowvisor_arch_armv7::secure::{entry_state, EntryState};
    let cntfrq = aarch32_cpu::register::Cntfrq::read().0;
    let dt = tree.timer().and_then(|t| t.clock_frequency);
    let written = matches!(
        entry_state(),
        EntryState::Switched {
            cntfrq_written: true,
            ..
        }
    );
    let src = TimerSource::pick(cntfrq, dt, written);
    match src {
        TimerSource::Unknown => log::warn!("{src}"),
        _ => log::info!("{src}"),
    }
    if let (Some(hz), Some(dt)) = (src.hz(), dt) {
        if hz != dt {
            log::warn!("timer: CNTFRQ {hz} Hz differs from the DT clock-frequency {dt} Hz; Dom0 will use the DT value");
        }
    }
}

#[cfg(not(target_arch = "arm"))]
pub fn report(_tree: &HostTree<'_>) {}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    #[test]
    fn sources() {
        assert_eq!(
            TimerSource::pick(0, Some(24_000_000), false),
            TimerSource::DtClockFrequency(24_000_000)
        );
        assert_eq!(
            TimerSource::pick(24_000_000, Some(24_000_000), true),
            TimerSource::SecureSwitch(24_000_000)
        );
        assert_eq!(
            TimerSource::pick(24_000_000, None, false),
            TimerSource::Firmware(24_000_000)
        );
        assert_eq!(TimerSource::pick(0, None, false), TimerSource::Unknown);
        assert_eq!(TimerSource::pick(0, Some(0), false), TimerSource::Unknown);
        assert!(TimerSource::pick(0, Some(24_000_000), false)
            .to_string()
            .contains("using the DT timer's clock-frequency 24000000 Hz"));
    }
}
