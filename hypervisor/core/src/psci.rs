//! PSCI for guests (called with HVC #0, or SMC trapped by HCR.TSC), PSCI
//! 1.0 (DEN0022D): function IDs 5.1, return codes 5.2.2.
//!
//! Pure decode: the trap handler asks what a call means, given the power
//! state of the domain's vCPUs, and acts on the answer. A domain's vCPUs are
//! found by the MPIDR each sees (its physical CPU's: vCPUs are pinned 1:1).

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
/// DENIED (DEN0022D 5.2.2): the call is refused in the caller's state.
pub const DENIED: i32 = -3;
pub const ALREADY_ON: i32 = -4;
pub const ON_PENDING: i32 = -5;

/// AFFINITY_INFO's answers (5.1.5).
pub mod affinity {
    pub const ON: u32 = 0;
    pub const OFF: u32 = 1;
    pub const ON_PENDING: u32 = 2;
}

/// MPIDR affinity fields (Aff2..Aff0) a CPU_ON target is compared on.
const AFFINITY: u32 = 0x00ff_ffff;

/// A vCPU's power state as PSCI sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Power {
    Off,
    /// CPU_ON accepted: it starts at `entry` with `context` in r0 once its
    /// CPU takes the kick.
    OnPending {
        entry: u32,
        context: u32,
    },
    On,
}

/// What the hypervisor must do for a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Put this value in r0 and return to the guest.
    Return(u32),
    /// Wait for an interrupt, then return SUCCESS (CPU_SUSPEND as standby).
    Idle,
    /// The caller turns itself off: its CPU stops running it.
    CpuOff,
    /// The domain's last running vCPU turned itself off: the domain is over.
    LastCpuOff,
    /// Start vCPU `vcpu` at `entry` with `context` in r0; SUCCESS to the caller.
    CpuOn {
        vcpu: usize,
        entry: u32,
        context: u32,
    },
    SystemOff,
    SystemReset,
}

fn ret(code: i32) -> Action {
    Action::Return(code as u32)
}

/// Decodes a call with arguments `a` (r1-r3) from vCPU `me`, the domain's
/// vCPUs given as (MPIDR, power state).
///
/// SMC64 function IDs (bit 30) are NOT_SUPPORTED: an AArch32 guest has only
/// the SMC32 calling convention (DEN0022D 5.2.1 and 5.1.1; PSCI_FEATURES
/// answers the same for them).
pub fn call(function: u32, a: [u32; 3], me: usize, vcpus: &[(u32, Power)]) -> Action {
    if function & fid::SMC64 != 0 {
        return ret(NOT_SUPPORTED);
    }
    let f = function;
    let target = |mpidr: u32| {
        vcpus
            .iter()
            .position(|&(m, _)| m & AFFINITY == mpidr & AFFINITY)
    };
    match f {
        fid::VERSION => Action::Return(VERSION_1_0),
        fid::CPU_SUSPEND => Action::Idle,
        fid::CPU_OFF => {
            let others_on = vcpus
                .iter()
                .enumerate()
                .any(|(i, &(_, p))| i != me && p != Power::Off);
            if others_on {
                Action::CpuOff
            } else {
                Action::LastCpuOff
            }
        }
        fid::CPU_ON => match target(a[0]).map(|i| (i, vcpus[i].1)) {
            None => ret(INVALID_PARAMETERS),
            Some((_, Power::On)) => ret(ALREADY_ON),
            Some((_, Power::OnPending { .. })) => ret(ON_PENDING),
            Some((vcpu, Power::Off)) => Action::CpuOn {
                vcpu,
                entry: a[1],
                context: a[2],
            },
        },
        // Only affinity level 0 (a single vCPU) is answered.
        fid::AFFINITY_INFO if a[1] != 0 => ret(INVALID_PARAMETERS),
        fid::AFFINITY_INFO => match target(a[0]).map(|i| vcpus[i].1) {
            None => ret(INVALID_PARAMETERS),
            Some(Power::On) => Action::Return(affinity::ON),
            Some(Power::Off) => Action::Return(affinity::OFF),
            Some(Power::OnPending { .. }) => Action::Return(affinity::ON_PENDING),
        },
        // 2: no Trusted OS that needs migrating.
        fid::MIGRATE_INFO_TYPE => Action::Return(2),
        fid::SYSTEM_OFF => Action::SystemOff,
        fid::SYSTEM_RESET => Action::SystemReset,
        fid::FEATURES => match a[0] {
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

    const ONE: &[(u32, Power)] = &[(0x8000_0000, Power::On)];

    #[test]
    fn calls() {
        assert_eq!(call(fid::VERSION, [0; 3], 0, ONE), Action::Return(0x10000));
        assert_eq!(call(fid::SYSTEM_OFF, [0; 3], 0, ONE), Action::SystemOff);
        assert_eq!(call(fid::SYSTEM_RESET, [0; 3], 0, ONE), Action::SystemReset);
        // SMC64 IDs from an AArch32 guest, even for a function it may call.
        assert_eq!(
            call(fid::CPU_ON | fid::SMC64, [0x8000_0000, 0, 0], 0, ONE),
            Action::Return(-1i32 as u32)
        );
        assert_eq!(
            call(fid::FEATURES, [fid::CPU_ON | fid::SMC64, 0, 0], 0, ONE),
            Action::Return(-1i32 as u32)
        );
        assert_eq!(
            call(fid::CPU_ON, [1, 0, 0], 0, ONE),
            Action::Return(-2i32 as u32)
        );
        assert_eq!(
            call(fid::CPU_ON, [0, 0, 0], 0, ONE),
            Action::Return(-4i32 as u32)
        );
        assert_eq!(
            call(fid::FEATURES, [fid::SYSTEM_RESET, 0, 0], 0, ONE),
            Action::Return(0)
        );
        assert_eq!(
            call(fid::FEATURES, [0x8000_0000, 0, 0], 0, ONE),
            Action::Return(-1i32 as u32)
        );
        assert_eq!(
            call(0x8400_00ff, [0; 3], 0, ONE),
            Action::Return(-1i32 as u32)
        );
        assert_eq!(call(fid::CPU_OFF, [0; 3], 0, ONE), Action::LastCpuOff);
        assert_eq!(
            call(fid::MIGRATE_INFO_TYPE, [0; 3], 0, ONE),
            Action::Return(2)
        );
    }

    #[test]
    fn cpu_on_off_and_affinity_info_across_vcpus() {
        let mut v = [(0x8000_0000, Power::On), (0x8000_0001, Power::Off)];
        assert_eq!(
            call(fid::AFFINITY_INFO, [1, 0, 0], 0, &v),
            Action::Return(affinity::OFF)
        );
        assert_eq!(
            call(fid::CPU_ON, [1, 0x4000_8000, 7], 0, &v),
            Action::CpuOn {
                vcpu: 1,
                entry: 0x4000_8000,
                context: 7
            }
        );
        v[1].1 = Power::OnPending {
            entry: 0x4000_8000,
            context: 7,
        };
        assert_eq!(
            call(fid::CPU_ON, [1, 0, 0], 0, &v),
            Action::Return(ON_PENDING as u32)
        );
        assert_eq!(
            call(fid::AFFINITY_INFO, [0x8000_0001, 0, 0], 0, &v),
            Action::Return(affinity::ON_PENDING)
        );
        v[1].1 = Power::On;
        assert_eq!(call(fid::CPU_OFF, [0; 3], 1, &v), Action::CpuOff);
        assert_eq!(
            call(fid::AFFINITY_INFO, [1, 1, 0], 0, &v),
            Action::Return(INVALID_PARAMETERS as u32)
        );
        assert_eq!(
            call(fid::CPU_ON, [2, 0, 0], 0, &v),
            Action::Return(INVALID_PARAMETERS as u32)
        );
    }
}
