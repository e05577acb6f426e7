//! Secondary CPU bring-up the Exynos 5250 way (the Snow DT has no PSCI node and
//! no `samsung,secure-firmware` node): power the core through the PMU, write
//! the entry address to the boot register at the start of SYSRAM, then wake
//! the core, which waits in the iROM, with an SGI. Sources: Linux
//! `mach-exynos/platsmp.c` (`exynos_boot_secondary`: power-up and its
//! status poll, SYSRAM + 0 on the 5250, the wake-up IPI, SGI 0 in Linux 6.x)
//! and Xen `platforms/exynos5.c` (PMU layout ARM_CORE_CONFIG(n) = 0x2000 +
//! 0x80 n, STATUS = CONFIG + 4; S5P_CORE_LOCAL_PWR_EN = 3).
//!
//! The sequence is [`cpu_on_with`] over the [`Hw`] it touches, so that the
//! host tests run it against a register model; on the Snow, [`cpu_on`] runs
//! it on the real PMU, SYSRAM and GIC distributor. The woken core enters
//! snowvisor's secondary entry in whatever mode the iROM leaves it (Secure
//! SVC on the stock firmware, most likely: the entry then repeats the
//! per-CPU Secure-to-HYP switch). Not yet run on the hardware (README.md).

use core::mem::{offset_of, size_of};

use snowvisor::board::CpuOnError;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

/// PMU block (`system-controller@10040000`).
pub const PMU_BASE: usize = 0x1004_0000;
/// `samsung,exynos4210-sysram` (`smp-sram@0` at 0x0202_0000): boot register at +0.
pub const SYSRAM_BOOT_ADDR: usize = 0x0202_0000;
pub const CPUS: u32 = 2;
/// The SGI that wakes a core waiting in the iROM (Linux's IPI_WAKEUP).
pub const WAKEUP_SGI: u32 = 0;
/// Status polls before a core that does not report power-up is given up
/// (Linux waits 10 ms; a poll is a register read plus [`Hw::poll_delay`]).
pub const POWER_UP_POLLS: u32 = 1_000_000;

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

/// What the wake-up touches.
pub trait Hw {
    /// The PMU registers.
    fn pmu(&self) -> &PmuRegs;
    /// Writes SYSRAM's boot register (the address the iROM jumps to).
    fn set_boot_address(&self, entry: u32);
    /// Sends SGI `sgi` to CPU `cpu` (GICD_SGIR, target list).
    fn send_sgi(&self, sgi: u32, cpu: u32);
    /// Between two status polls.
    fn poll_delay(&self) {}
}

pub fn check_cpu(cpu: u32) -> Result<(), CpuOnError> {
    if cpu == 0 || cpu >= CPUS {
        return Err(CpuOnError::NoSuchCpu { cpu });
    }
    Ok(())
}

/// Starts core `cpu` at `entry`: powers it up unless it reports power
/// already, waits for its status to say so (at most [`POWER_UP_POLLS`]),
/// writes the boot register, then sends the wake-up SGI. Nothing is written
/// to the boot register or sent for a core that never powers up.
pub fn cpu_on_with(hw: &impl Hw, cpu: u32, entry: usize) -> Result<(), CpuOnError> {
    check_cpu(cpu)?;
    let core = &hw.pmu().arm_core[cpu as usize];
    let on = |c: &ArmCoreRegs| c.status.matches_all(CORE_POWER::LOCAL_PWR_CFG::On);
    if !on(core) {
        core.config.write(CORE_POWER::LOCAL_PWR_CFG::On);
        let mut polls = 0u32;
        while !on(core) {
            polls += 1;
            if polls > POWER_UP_POLLS {
                return Err(CpuOnError::PowerUpTimeout { cpu });
            }
            hw.poll_delay();
        }
    }
    hw.set_boot_address(entry as u32);
    hw.send_sgi(WAKEUP_SGI, cpu);
    Ok(())
}

/// The Snow's PMU, SYSRAM and GIC distributor, identity mapped by
/// snowvisor's HYP map as device memory.
#[cfg(target_arch = "arm")]
struct Snow;

#[cfg(target_arch = "arm")]
impl Hw for Snow {
    fn pmu(&self) -> &PmuRegs {
        pmu()
    }
    fn set_boot_address(&self, entry: u32) {
        // SAFETY: SYSRAM's boot register, read by the iROM pen of the woken
        // core; identity mapped like the PMU, nothing else writes it.
        unsafe { core::ptr::write_volatile(SYSRAM_BOOT_ADDR as *mut u32, entry) };
        aarch32_cpu::asm::dsb();
    }
    fn send_sgi(&self, sgi: u32, cpu: u32) {
        // GICD_SGIR (GIC architecture 4.3.15): TargetListFilter 0 (the
        // list), CPUTargetList [23:16], SGIINTID [3:0].
        let sgir = (crate::GICD + 0xf00) as *mut u32;
        // SAFETY: the distributor's SGIR, identity mapped device memory;
        // writing it only raises the SGI.
        unsafe { core::ptr::write_volatile(sgir, (1 << (16 + cpu)) | (sgi & 0xf)) };
        aarch32_cpu::asm::sev();
    }
}

/// The PMU, identity mapped at [`PMU_BASE`].
#[cfg(target_arch = "arm")]
pub fn pmu() -> &'static PmuRegs {
    // SAFETY: the PMU block is identity mapped as device memory by snowvisor's
    // HYP map (or reached with the MMU off); Dom0 does not drive the
    // secondary-CPU or reset registers while snowvisor owns CPU bring-up.
    unsafe { &*(PMU_BASE as *const PmuRegs) }
}

#[cfg(target_arch = "arm")]
pub fn cpu_on(cpu: u32, entry: usize) -> Result<(), CpuOnError> {
    cpu_on_with(&Snow, cpu, entry)
}

#[cfg(not(target_arch = "arm"))]
pub fn cpu_on(cpu: u32, _entry: usize) -> Result<(), CpuOnError> {
    check_cpu(cpu)?;
    Err(CpuOnError::NoBoardMethod)
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use core::cell::{Cell, RefCell};
    use std::vec::Vec;

    /// The PMU as memory, a core that reports power `after` polls of its
    /// status once its config says on (never if None), and a record of the
    /// boot-register writes and SGIs.
    struct Model {
        regs: Vec<Cell<u32>>,
        after: Option<u32>,
        polls: Cell<u32>,
        boot: Cell<Option<u32>>,
        sgis: RefCell<Vec<(u32, u32)>>,
    }

    impl Model {
        fn new(after: Option<u32>) -> Self {
            Model {
                regs: (0..size_of::<PmuRegs>() / 4)
                    .map(|_| Cell::new(0))
                    .collect(),
                after,
                polls: Cell::new(0),
                boot: Cell::new(None),
                sgis: RefCell::new(Vec::new()),
            }
        }
        fn word(&self, offset: usize) -> u32 {
            self.pmu_words()[offset / 4].get()
        }
        fn pmu_words(&self) -> &[Cell<u32>] {
            &self.regs
        }
    }

    impl Hw for Model {
        fn pmu(&self) -> &PmuRegs {
            // SAFETY: the cells (interior mutability, u32 layout) are as
            // large as PmuRegs, 4-byte aligned, and live as long as the
            // model; tock-registers only does volatile 32-bit accesses
            // inside them, on this one thread.
            unsafe { &*self.regs.as_ptr().cast::<PmuRegs>() }
        }
        fn set_boot_address(&self, entry: u32) {
            self.boot.set(Some(entry));
        }
        fn send_sgi(&self, sgi: u32, cpu: u32) {
            self.sgis.borrow_mut().push((sgi, cpu));
        }
        fn poll_delay(&self) {
            let n = self.polls.get() + 1;
            self.polls.set(n);
            let w = self.pmu_words();
            let (config, status) = (core_config(1) / 4, core_config(1) / 4 + 1);
            if self.after.is_some_and(|a| n >= a) {
                w[status].set(w[config].get());
            }
        }
    }

    #[test]
    fn pmu_layout_and_cpu_numbers() {
        assert_eq!(core_config(1), 0x2080);
        assert_eq!(core_config(1) + offset_of!(ArmCoreRegs, status), 0x2084);
        assert_eq!(offset_of!(PmuRegs, swreset), 0x400);
        assert_eq!(check_cpu(1), Ok(()));
        assert_eq!(check_cpu(0), Err(CpuOnError::NoSuchCpu { cpu: 0 }));
        assert_eq!(check_cpu(2), Err(CpuOnError::NoSuchCpu { cpu: 2 }));
    }

    #[test]
    fn powers_up_then_boot_address_then_sgi() {
        let m = Model::new(Some(3));
        assert_eq!(cpu_on_with(&m, 1, 0x4001_2340), Ok(()));
        assert_eq!(m.word(0x2080), 3, "ARM_CORE1_CONFIGURATION = LOCAL_PWR_EN");
        assert_eq!(m.polls.get(), 3);
        assert_eq!(m.boot.get(), Some(0x4001_2340));
        assert_eq!(*m.sgis.borrow(), [(WAKEUP_SGI, 1)]);
        // Core 0's registers untouched.
        assert_eq!(m.word(0x2000), 0);
    }

    #[test]
    fn a_powered_core_is_only_pointed_and_woken() {
        let m = Model::new(None);
        m.pmu_words()[0x2084 / 4].set(3);
        assert_eq!(cpu_on_with(&m, 1, 0x4001_0000), Ok(()));
        assert_eq!(m.word(0x2080), 0, "no power-up write");
        assert_eq!(m.boot.get(), Some(0x4001_0000));
        assert_eq!(m.sgis.borrow().len(), 1);
    }

    #[test]
    fn a_core_that_never_powers_up_is_not_pointed_or_woken() {
        let m = Model::new(None);
        assert_eq!(
            cpu_on_with(&m, 1, 0x4001_0000),
            Err(CpuOnError::PowerUpTimeout { cpu: 1 })
        );
        assert_eq!(m.polls.get(), POWER_UP_POLLS);
        assert_eq!(m.boot.get(), None);
        assert!(m.sgis.borrow().is_empty());
    }

    #[test]
    fn no_such_core() {
        let m = Model::new(Some(1));
        assert_eq!(cpu_on_with(&m, 2, 0), Err(CpuOnError::NoSuchCpu { cpu: 2 }));
        assert!(m.regs.iter().all(|w| w.get() == 0));
    }
}
