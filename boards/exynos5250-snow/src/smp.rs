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

use snowvisor::board::CpuOnError;

/// PMU block (`system-controller@10040000`).
pub const PMU_BASE: usize = 0x1004_0000;
/// `samsung,exynos4210-sysram` (`smp-sram@0` at 0x0202_0000): boot register at +0.
pub const SYSRAM_BOOT_ADDR: usize = 0x0202_0000;
pub const CPUS: u32 = 2;
/// ARM_CORE_CONFIG.LOCAL_PWR_EN and ARM_CORE_STATUS power bits.
pub const LOCAL_PWR_EN: u32 = 0x3;

/// PMU ARM_CORE_CONFIG(cpu) offset.
pub const fn core_config(cpu: u32) -> usize {
    0x2000 + 0x80 * cpu as usize
}

/// PMU ARM_CORE_STATUS(cpu) offset.
pub const fn core_status(cpu: u32) -> usize {
    core_config(cpu) + 4
}

pub fn check_cpu(cpu: u32) -> Result<(), CpuOnError> {
    if cpu == 0 || cpu >= CPUS {
        return Err(CpuOnError::NoSuchCpu { cpu });
    }
    Ok(())
}

#[cfg(target_arch = "arm")]
pub fn cpu_on(cpu: u32, entry: usize) -> Result<(), CpuOnError> {
    use core::ptr::{read_volatile, write_volatile};
    check_cpu(cpu)?;
    let config = (PMU_BASE + core_config(cpu)) as *mut u32;
    let status = (PMU_BASE + core_status(cpu)) as *const u32;
    // SAFETY: PMU core configuration/status words of a CPU that exists; the PMU
    // is identity mapped as device memory and Dom0 does not drive these
    // secondary-CPU registers while snowvisor owns CPU bring-up.
    unsafe {
        if read_volatile(status) & LOCAL_PWR_EN != LOCAL_PWR_EN {
            write_volatile(config, LOCAL_PWR_EN);
            let mut polls = 0u32;
            while read_volatile(status) & LOCAL_PWR_EN != LOCAL_PWR_EN {
                polls += 1;
                if polls > 1_000_000 {
                    return Err(CpuOnError::PowerUpTimeout { cpu });
                }
            }
        }
        // SAFETY (same block): SYSRAM's boot register is read by the iROM pen.
        write_volatile(SYSRAM_BOOT_ADDR as *mut u32, entry as u32);
        core::arch::asm!("dsb", "sev", options(nostack));
    }
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
        assert_eq!(core_status(1), 0x2084);
        assert_eq!(check_cpu(1), Ok(()));
        assert_eq!(check_cpu(0), Err(CpuOnError::NoSuchCpu { cpu: 0 }));
        assert_eq!(check_cpu(2), Err(CpuOnError::NoSuchCpu { cpu: 2 }));
    }
}
