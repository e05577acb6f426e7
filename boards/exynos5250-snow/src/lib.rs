//! Samsung Chromebook XE303C12 "Snow": Exynos 5250, 2x Cortex-A15, GIC-400.
//!
//! Every value here comes from the Snow device tree (`exynos5250-snow.dtb`, the
//! Debian kernel package's and mainline's) or from the Exynos drivers of Linux
//! and Xen; `README.md` next to this file lists each with its source and says
//! what only the hardware can confirm.

#![no_std]

pub mod mct;
pub mod smp;
pub mod timer;

use snowvisor::board::{Board, CpuOnError, RamLogPlace, SecureEntry};
use snowvisor_arch_armv7::drivers::uart::{UartConfig, UartKind};
use snowvisor_dt::HostTree;

/// UART3, the Servo debug header's serial port (`serial3` in the DT).
pub const UART3: usize = 0x12C3_0000;
/// GIC-400 distributor and CPU interface (DT `interrupt-controller@10481000`).
pub const GICD: usize = 0x1048_1000;
pub const GICC: usize = 0x1048_2000;
/// The DT timer node's `clock-frequency`: 24 MHz (XXTI).
pub const TIMER_HZ: u32 = 24_000_000;
/// snowvisor's load address (board.ld: LOAD_ADDRESS).
pub const LOAD_ADDRESS: usize = 0x43E0_0000;
/// The RAM log: the 64 KiB directly below the image.
pub const RAM_LOG_SIZE: usize = 64 << 10;

pub struct Snow;

impl Board for Snow {
    const NAME: &'static str = "exynos5250-snow";
    const DEFAULT_UART: UartConfig = UartConfig {
        kind: UartKind::Exynos,
        base: UART3,
    };
    /// DRAM: `memory@40000000`, 2 GiB.
    const RAM_WINDOW: (usize, usize) = (0x4000_0000, 0xC000_0000);
    const RAM_LOG: Option<RamLogPlace> = Some(RamLogPlace {
        base: LOAD_ADDRESS - RAM_LOG_SIZE,
        size: RAM_LOG_SIZE,
    });
    const SECURE_ENTRY: Option<SecureEntry> = Some(SecureEntry {
        gicd: GICD,
        gicc: GICC,
        cntfrq: TIMER_HZ,
    });
    /// Xen's exynos5 platform hides these from Dom0: the MCT routes an
    /// interrupt to CPU 1, which Dom0 does not own; the secure-firmware node
    /// would make Dom0 boot secondaries by SMC.
    const DOM0_HIDDEN_COMPATIBLES: &'static [&'static str] =
        &["samsung,exynos4210-mct", "samsung,secure-firmware"];
    /// Chip ID (1 page) and the PWM timer (2 pages): Dom0's kernel reads them,
    /// the DT does not describe them (Xen's `exynos5250_specific_mapping`).
    const DOM0_EXTRA_MMIO: &'static [(u64, u64)] = &[(0x1000_0000, 0x1000), (0x12DD_0000, 0x2000)];

    fn early_init(tree: &HostTree<'_>) {
        timer::report(tree);
        mct::start(tree);
    }

    fn cpu_on(cpu: u32, entry: usize) -> Result<(), CpuOnError> {
        smp::cpu_on(cpu, entry)
    }

    /// The PMU's SWRESET register (the DT's `syscon-reboot` under
    /// `system-controller@10040000`: offset 0x400, mask 1): the stock firmware
    /// is not known to implement PSCI.
    #[cfg(target_arch = "arm")]
    fn reset() {
        use tock_registers::interfaces::Writeable;
        smp::pmu().swreset.write(smp::SWRESET::SWRESET::SET);
    }
}

/// PMU SWRESET (`system-controller@10040000` + the `syscon-reboot` offset).
pub const PMU_SWRESET: usize = smp::PMU_BASE + core::mem::offset_of!(smp::PmuRegs, swreset);

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The Debian kernel package's Snow DTB (kept in the core's test data).
    pub const SNOW_DTB: &[u8] =
        include_bytes!("../../../hypervisor/dt/src/testdata/exynos5250-snow.dtb");

    /// The board constants agree with the Snow device tree.
    #[test]
    fn constants_match_the_snow_tree() {
        let t = HostTree::new(SNOW_DTB).unwrap();
        assert_eq!(t.model(), Some("Google Snow"));
        let gic = t.gic().unwrap();
        assert_eq!(
            (gic.gicd.base as usize, gic.gicc.base as usize),
            (GICD, GICC)
        );
        assert_eq!(t.timer().unwrap().clock_frequency, Some(TIMER_HZ));
        let uart = t.stdout().unwrap();
        assert_eq!(uart.base as usize, UART3);
        assert_eq!(
            UartKind::from_compatible(uart.compatible),
            Some(UartKind::Exynos)
        );
        let mem = t.memory().unwrap();
        assert_eq!(mem.len(), 1);
        assert_eq!(
            (mem[0].base as usize, mem[0].end() as usize),
            <Snow as Board>::RAM_WINDOW
        );
        // The RAM log sits in RAM, right below the image.
        let log = <Snow as Board>::RAM_LOG.unwrap();
        assert_eq!(log.base + log.size, LOAD_ADDRESS);
        assert!(snowvisor::ramlog::check_place(
            log.base,
            log.size,
            <Snow as Board>::RAM_WINDOW,
            (LOAD_ADDRESS, LOAD_ADDRESS + (6 << 20))
        )
        .is_ok());
        // The hidden compatibles are really in the tree (or are the
        // secure-firmware node Snow is known not to have).
        assert!(t.find_compatible(&["samsung,exynos4210-mct"]).is_some());
        assert!(t.find_compatible(&["samsung,secure-firmware"]).is_none());
        assert_eq!(
            snowvisor::board::early_words::<Snow>(),
            [GICD as u32, GICC as u32, TIMER_HZ, 0]
        );
        // The reset register is the tree's syscon-reboot: PMU base + offset.
        let pmu = t.find_compatible(&["samsung,exynos5250-pmu"]).unwrap();
        let reboot = t.find_compatible(&["syscon-reboot"]).unwrap();
        let offset = t.index().u32_prop(reboot, "offset").unwrap();
        let base = t.index().cpu_regs(pmu).unwrap()[0].base as usize;
        assert_eq!(base + offset as usize, PMU_SWRESET);
    }

    #[test]
    fn load_address_matches_board_ld() {
        assert_eq!(LOAD_ADDRESS, 0x43E0_0000);
        assert!(include_str!("../board.ld").contains("LOAD_ADDRESS = 0x43E00000;"));
    }
}
