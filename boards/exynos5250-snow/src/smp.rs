//! Secondary CPU bring-up the Exynos 5250 way (the Snow DT has no PSCI node and
//! no `samsung,secure-firmware` node): power the core through the PMU, write
//! the entry address to the boot register at the start of SYSRAM, then the
//! caller wakes the core with an SGI. Sources: Linux `mach-exynos/platsmp.c`
//! (power-up, SYSRAM + 0 on the 5250) and Xen `platforms/exynos5.c` (PMU layout
//! ARM_CORE_CONFIG(n) = 0x2000 + 0x80 n, STATUS = CONFIG + 4).
//!
//! Not exercised yet: snowvisor boots one CPU. Whether the woken core starts in
//! Secure SVC (then it must repeat the Secure-to-HYP switch) is an open
//! hardware question (README.md).

use core::mem::{offset_of, size_of};

use snowvisor::board::CpuOnError;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

/// PMU block (`system-controller@10040000`).
pub const PMU_BASE: usize = 0x1004_0000;
/// `samsung,exynos4210-sysram` (`smp-sram@0` at 0x0202_0000): boot register at +0.
pub const SYSRAM_BOOT_ADDR: usize = 0x0202_0000;
pub const CPUS: u32 = 2;

register_bitfields![u32,
    /// ARM_CORE_CONFIG(n) and ARM_CORE_STATUS(n): the core's power state.
    pub CORE_POWER [
        LOCAL_PWR_CFG OFFSET(0) NUMBITS(2) [
            Off = 0,
            On = 3
        ]
    ],
    /// SWRESET: writing SWRESET resets the SoC.
    pub SWRESET [
        SWRESET OFFSET(0) NUMBITS(1) []
    ]
];

register_structs! {
    /// One core's power registers (0x80 bytes apart).
    pub ArmCoreRegs {
        (0x00 => pub config: ReadWrite<u32, CORE_POWER::Register>),
        (0x04 => pub status: ReadOnly<u32, CORE_POWER::Register>),
        (0x08 => _r0),
        (0x80 => @END),
    }
}

register_structs! {
    /// The part of the PMU snowvisor drives.
    pub PmuRegs {
        (0x0000 => _r0),
        (0x0400 => pub swreset: WriteOnly<u32, SWRESET::Register>),
        (0x0404 => _r1),
        (0x2000 => pub arm_core: [ArmCoreRegs; CPUS as usize]),
        (0x2100 => @END),
    }
}

/// PMU ARM_CORE_CONFIG(cpu) offset.
pub const fn core_config(cpu: u32) -> usize {
    offset_of!(PmuRegs, arm_core) + cpu as usize * size_of::<ArmCoreRegs>()
}

/// The PMU, identity mapped at [`PMU_BASE`].
#[cfg(target_arch = "arm")]
pub fn pmu() -> &'static PmuRegs {
    // SAFETY: the PMU block is identity mapped as device memory by snowvisor's
    // HYP map (or reached with the MMU off); Dom0 does not drive the
    // secondary-CPU or reset registers while snowvisor owns CPU bring-up.
    unsafe { &*(PMU_BASE as *const PmuRegs) }
}

pub fn check_cpu(cpu: u32) -> Result<(), CpuOnError> {
    if cpu == 0 || cpu >= CPUS {
        return Err(CpuOnError::NoSuchCpu { cpu });
    }
    Ok(())
}

#[cfg(target_arch = "arm")]
pub fn cpu_on(cpu: u32, entry: usize) -> Result<(), CpuOnError> {
    use tock_registers::interfaces::{Readable, Writeable};
    check_cpu(cpu)?;
    let core = &pmu().arm_core[cpu as usize];
    let on = |c: &ArmCoreRegs| c.status.matches_all(CORE_POWER::LOCAL_PWR_CFG::On);
    if !on(core) {
        core.config.write(CORE_POWER::LOCAL_PWR_CFG::On);
        let mut polls = 0u32;
        while !on(core) {
            polls += 1;
            if polls > 1_000_000 {
                return Err(CpuOnError::PowerUpTimeout { cpu });
            }
        }
    }
    // SAFETY: SYSRAM's boot register, read by the iROM pen of the woken core;
    // identity mapped like the PMU.
    unsafe { core::ptr::write_volatile(SYSRAM_BOOT_ADDR as *mut u32, entry as u32) };
    aarch32_cpu::asm::dsb();
    aarch32_cpu::asm::sev();
    Ok(())
}

#[cfg(not(target_arch = "arm"))]
pub fn cpu_on(cpu: u32, _entry: usize) -> Result<(), CpuOnError> {
    check_cpu(cpu)?;
    Err(CpuOnError::NoBoardMethod)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pmu_layout_and_cpu_numbers() {
        assert_eq!(core_config(1), 0x2080);
        assert_eq!(core_config(1) + offset_of!(ArmCoreRegs, status), 0x2084);
        assert_eq!(offset_of!(PmuRegs, swreset), 0x400);
        assert_eq!(check_cpu(1), Ok(()));
        assert_eq!(check_cpu(0), Err(CpuOnError::NoSuchCpu { cpu: 0 }));
        assert_eq!(check_cpu(2), Err(CpuOnError::NoSuchCpu { cpu: 2 }));
    }
}
