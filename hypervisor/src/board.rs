//! What a board tells the core. Each board lives in `boards/<name>/` and
//! implements this trait; nothing board-specific lives in the core.

use snowvisor_arch_armv7::drivers::uart::UartConfig;
use snowvisor_dt::HostTree;

/// Where a board keeps snowvisor's RAM log ring ([`crate::ramlog`]): a physical
/// window that nothing else writes, that a warm reboot leaves alone, and that the
/// Dom0 memory plan must keep out of Dom0 (see [`crate::ramlog::region`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RamLogPlace {
    pub base: usize,
    pub size: usize,
}

/// What the Secure-SVC-to-HYP switch at entry needs before the device tree is
/// read (see `hypervisor/arch-armv7/src/secure.rs`): the GIC frames it puts into group 1 and the
/// counter frequency it programs if the firmware left CNTFRQ at 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecureEntry {
    pub gicd: usize,
    pub gicc: usize,
    /// Written to CNTFRQ (only writable in the Secure world) when it reads 0.
    pub cntfrq: u32,
}

/// The words the entry assembly reads (symbol `SNOWVISOR_BOARD_EARLY`):
/// [GICD, GICC, CNTFRQ default, 0]; all zero when the board has no Secure entry.
pub const fn early_words<B: Board>() -> [u32; 4] {
    match B::SECURE_ENTRY {
        Some(s) => [s.gicd as u32, s.gicc as u32, s.cntfrq, 0],
        None => [0; 4],
    }
}

/// FDT header magic as a little-endian CPU reads the big-endian word.
const FDT_MAGIC_AS_READ: u32 = 0xedfe_0dd0;

/// The DTB address to use: `r2` if the firmware set it; otherwise, if the board
/// names a fallback word, the word's own address when an FDT starts there, or
/// the address stored in it (QEMU: `-device loader,addr=WORD,data=DTB,data-len=4`).
/// 0 means none; `read` reads a 32-bit word of physical memory.
pub fn resolve_dtb_pointer(r2: u32, word: Option<usize>, read: impl Fn(usize) -> u32) -> u32 {
    match (r2, word) {
        (0, Some(at)) => match read(at) {
            FDT_MAGIC_AS_READ => at as u32,
            v => v,
        },
        (r2, _) => r2,
    }
}

/// [`resolve_dtb_pointer`] for board `B`, reading physical memory.
#[cfg(target_arch = "arm")]
pub fn dtb_address<B: Board>(r2: u32) -> u32 {
    resolve_dtb_pointer(r2, B::DTB_POINTER_WORD, |at| {
        let (lo, hi) = B::RAM_WINDOW;
        if at % 4 != 0 || at < lo || at >= hi {
            return 0;
        }
        // SAFETY: an aligned word inside the board's RAM window, readable with
        // the MMU off (this runs before the HYP MMU is enabled).
        unsafe { core::ptr::read_volatile(at as *const u32) }
    })
}

/// Why a secondary CPU could not be started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuOnError {
    /// The board has no method of its own: use the device tree's (PSCI).
    NoBoardMethod,
    /// The CPU did not report power-up in time.
    PowerUpTimeout { cpu: u32 },
    /// There is no such CPU on this board.
    NoSuchCpu { cpu: u32 },
}

impl core::fmt::Display for CpuOnError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CpuOnError::NoBoardMethod => {
                write!(f, "the board has no CPU bring-up method of its own")
            }
            CpuOnError::PowerUpTimeout { cpu } => write!(f, "CPU {cpu} did not power up"),
            CpuOnError::NoSuchCpu { cpu } => write!(f, "no CPU {cpu} on this board"),
        }
    }
}

pub trait Board: 'static {
    /// Short name, as in `scripts/build --board NAME`.
    const NAME: &'static str;
    /// The UART used before the device tree is read, and when the tree names
    /// one snowvisor cannot drive.
    const DEFAULT_UART: UartConfig;
    /// Where RAM can be: a DTB pointer outside this window is rejected before
    /// it is read.
    const RAM_WINDOW: (usize, usize);
    /// Where to look for the DTB when the firmware passed r2 = 0 (QEMU starts an
    /// ELF image with r0-r2 = 0): the DTB itself if an FDT header is there,
    /// else the 32-bit address stored there (see [`resolve_dtb_pointer`]).
    const DTB_POINTER_WORD: Option<usize> = None;
    /// Where the RAM log ring lives; None: no RAM log.
    const RAM_LOG: Option<RamLogPlace> = None;
    /// Fixed GIC addresses and CNTFRQ for entry in Secure SVC; None: the board
    /// is only ever entered in HYP, and Secure SVC entry is reported as fatal.
    const SECURE_ENTRY: Option<SecureEntry> = None;
    /// `compatible`s of host devices Dom0 must not see (board quirks; the Dom0
    /// device-tree plan removes or disables their nodes).
    const DOM0_HIDDEN_COMPATIBLES: &'static [&'static str] = &[];
    /// MMIO pages Dom0 needs that its device tree does not describe:
    /// (physical base, size), mapped 1:1 into Dom0 by the Dom0 plan.
    const DOM0_EXTRA_MMIO: &'static [(u64, u64)] = &[];

    /// Board quirks, run once on the boot CPU after the host tree is read and the
    /// HYP MMU is on (devices are identity mapped), before the GIC and timer are
    /// set up. Default: nothing.
    fn early_init(_tree: &HostTree<'_>) {}

    /// Starts secondary CPU `cpu` (MPIDR affinity 0) at physical address `entry`,
    /// in whatever mode the board's wake-up path enters it (snowvisor's secondary
    /// entry runs the Secure-to-HYP switch again if needed). The default says the
    /// board has no method of its own, so the caller uses the tree's PSCI node.
    fn cpu_on(_cpu: u32, _entry: usize) -> Result<(), CpuOnError> {
        Err(CpuOnError::NoBoardMethod)
    }

    /// Resets the whole machine after a fatal error (`panic=`); returns only
    /// if the reset did not happen. Default: PSCI SYSTEM_RESET over SMC (the
    /// conduit QEMU's `virt` offers HYP software, and what firmware with a
    /// PSCI node implements).
    #[cfg(target_arch = "arm")]
    fn reset() {
        snowvisor_arch_armv7::secure::smc_call(snowvisor_core::psci::fid::SYSTEM_RESET, 0, 0, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtb_pointer_fallback() {
        let mem = |at: usize| match at {
            0x4000_0000 => 0x4800_0000,
            0x4100_0000 => FDT_MAGIC_AS_READ,
            _ => 0,
        };
        assert_eq!(
            resolve_dtb_pointer(0x4400_0000, Some(0x4000_0000), mem),
            0x4400_0000
        );
        assert_eq!(resolve_dtb_pointer(0, Some(0x4000_0000), mem), 0x4800_0000);
        assert_eq!(resolve_dtb_pointer(0, Some(0x4100_0000), mem), 0x4100_0000);
        assert_eq!(resolve_dtb_pointer(0, None, mem), 0);
        assert_eq!(resolve_dtb_pointer(0, Some(0x4200_0000), mem), 0);
    }
}
