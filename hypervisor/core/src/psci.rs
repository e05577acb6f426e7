//! PSCI for guests (called with HVC #0, or SMC trapped by HCR.TSC).
//!
//! Pure decode: the trap handler asks what a call means and acts on the answer.
//! One vCPU for now: CPU_ON of any other CPU is refused with the PSCI code.

/// PSCI 1.0.
pub const VERSION_1_0: u32 = 0x0001_0000;

pub mod fid {
    pub const VERSION: u32 = 0x8400_0000;
    pub const CPU_SUSPEND: u32 = 0x8400_0001;
    pub const CPU_OFF: u32 = 0x8400_0002;
    pub const CPU_ON: u32 = 0x8400_0003;
    pub const AFFINITY_INFO: u32 = 0x8400_0004;
    pub const MIGRATE_INFO_TYPE: u32 = 0x8400_0006;
    pub const SYSTEM_OFF: u32 = 0x8400_0008;
    pub const SYSTEM_RESET: u32 = 0x8400_0009;
    pub const FEATURES: u32 = 0x8400_000a;
    pub const SMC64: u32 = 0x4000_0000;
}

pub const SUCCESS: i32 = 0;
pub const NOT_SUPPORTED: i32 = -1;
pub const INVALID_PARAMETERS: i32 = -2;
pub const ALREADY_ON: i32 = -4;

/// What the hypervisor must do for a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Put this value in r0 and return to the guest.
    Return(u32),
    /// Wait for an interrupt, then return SUCCESS (CPU_SUSPEND as standby).
    Idle,
    /// The guest's only CPU turned itself off: the domain is over.
    CpuOff,
    SystemOff,
    SystemReset,
}

fn ret(code: i32) -> Action {
    Action::Return(code as u32)
}

/// Decodes a call. `mpidr0` is the MPIDR the guest's only vCPU reports.
pub fn call(function: u32, a1: u32, mpidr0: u32) -> Action {
    let f = function & !fid::SMC64;
    match f {
        fid::VERSION => Action::Return(VERSION_1_0),
        fid::CPU_SUSPEND => Action::Idle,
        fid::CPU_OFF => Action::CpuOff,
        fid::CPU_ON if a1 & 0x00ff_ffff == mpidr0 & 0x00ff_ffff => ret(ALREADY_ON),
        fid::CPU_ON => ret(INVALID_PARAMETERS),
        fid::AFFINITY_INFO if a1 & 0x00ff_ffff == mpidr0 & 0x00ff_ffff => ret(0),
        fid::AFFINITY_INFO => ret(INVALID_PARAMETERS),
        // 2: no Trusted OS that needs migrating.
        fid::MIGRATE_INFO_TYPE => Action::Return(2),
        fid::SYSTEM_OFF => Action::SystemOff,
        fid::SYSTEM_RESET => Action::SystemReset,
        fid::FEATURES => match a1 & !fid::SMC64 {
            fid::VERSION
            | fid::CPU_SUSPEND
            | fid::CPU_OFF
            | fid::CPU_ON
            | fid::AFFINITY_INFO
            | fid::MIGRATE_INFO_TYPE
            | fid::SYSTEM_OFF
            | fid::SYSTEM_RESET
            | fid::FEATURES => ret(SUCCESS),
            _ => ret(NOT_SUPPORTED),
        },
        _ => ret(NOT_SUPPORTED),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls() {
        assert_eq!(call(fid::VERSION, 0, 0), Action::Return(0x10000));
        assert_eq!(call(fid::SYSTEM_OFF, 0, 0), Action::SystemOff);
        assert_eq!(call(fid::SYSTEM_RESET, 0, 0), Action::SystemReset);
        assert_eq!(
            call(fid::CPU_ON | fid::SMC64, 1, 0x8000_0000),
            Action::Return(-2i32 as u32)
        );
        assert_eq!(
            call(fid::CPU_ON, 0, 0x8000_0000),
            Action::Return(-4i32 as u32)
        );
        assert_eq!(call(fid::FEATURES, fid::SYSTEM_RESET, 0), Action::Return(0));
        assert_eq!(
            call(fid::FEATURES, 0x8000_0000, 0),
            Action::Return(-1i32 as u32)
        );
        assert_eq!(call(0x8400_00ff, 0, 0), Action::Return(-1i32 as u32));
    }
}
