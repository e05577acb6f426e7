//! The Exynos multi-core timer (MCT): its global free-running counter feeds the
//! architected counter on the 5250, so CNTPCT stands still until the global
//! timer is started (G_TCON.START, bit 8). Firmware should do that; Xen's
//! exynos5 platform code does it itself, and so does snowvisor.
//!
//! Offsets: G_CNT_L 0x100, G_CNT_U 0x104, G_CNT_WSTAT 0x110, G_TCON 0x240,
//! G_WSTAT 0x24C (bit 16: a G_TCON write has reached the timer; write 1 to
//! clear), from Xen's `exynos5.h` and Linux's `exynos_mct.c`.

use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite};
use tock_registers::{register_bitfields, register_structs};

use snowvisor_dt::HostTree;

/// `timer@101c0000` in the Snow DT, used if the node is missing.
pub const MCT_BASE: usize = 0x101C_0000;
pub const MCT_COMPATIBLE: &str = "samsung,exynos4210-mct";

register_bitfields![u32,
    pub G_TCON [
        START OFFSET(8) NUMBITS(1) [],
    ],
    pub G_WSTAT [
        TCON OFFSET(16) NUMBITS(1) [],
    ]
];

register_structs! {
    pub MctGlobalRegs {
        (0x000 => _r0),
        (0x100 => pub g_cnt_l: ReadOnly<u32>),
        (0x104 => pub g_cnt_u: ReadOnly<u32>),
        (0x108 => _r1),
        (0x110 => pub g_cnt_wstat: ReadWrite<u32>),
        (0x114 => _r2),
        (0x240 => pub g_tcon: ReadWrite<u32, G_TCON::Register>),
        (0x244 => pub g_int_cstat: ReadWrite<u32>),
        (0x248 => pub g_int_enb: ReadWrite<u32>),
        (0x24c => pub g_wstat: ReadWrite<u32, G_WSTAT::Register>),
        (0x250 => @END),
    }
}

/// What starting the global timer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartOutcome {
    AlreadyRunning,
    Started { acknowledged: bool },
}

/// The MCT's global timer block.
pub struct MctGlobal {
    regs: &'static MctGlobalRegs,
}

impl MctGlobal {
    /// # Safety
    /// `base` must be the MCT register block, mapped as device memory, and no
    /// one else may write its global-timer registers.
    pub unsafe fn new(base: usize) -> Self {
        // SAFETY: forwarded from the caller.
        MctGlobal {
            regs: unsafe { &*(base as *const MctGlobalRegs) },
        }
    }

    /// Sets G_TCON.START unless it is set, then waits (bounded) for the write
    /// acknowledgement in G_WSTAT and clears it.
    pub fn start(&self, max_polls: u32) -> StartOutcome {
        if self.regs.g_tcon.is_set(G_TCON::START) {
            return StartOutcome::AlreadyRunning;
        }
        self.regs.g_tcon.modify(G_TCON::START::SET);
        let mut acknowledged = false;
        for _ in 0..max_polls {
            if self.regs.g_wstat.is_set(G_WSTAT::TCON) {
                self.regs.g_wstat.write(G_WSTAT::TCON::SET);
                acknowledged = true;
                break;
            }
        }
        StartOutcome::Started { acknowledged }
    }

    /// The 64-bit global count (upper word read twice to catch a carry).
    pub fn count(&self) -> u64 {
        loop {
            let hi = self.regs.g_cnt_u.get();
            let lo = self.regs.g_cnt_l.get();
            if self.regs.g_cnt_u.get() == hi {
                return (hi as u64) << 32 | lo as u64;
            }
        }
    }
}

/// The MCT base: the DT node's first `reg`, or the documented constant.
pub fn base(tree: &HostTree<'_>) -> (usize, &'static str) {
    tree.find_compatible(&[MCT_COMPATIBLE])
        .and_then(|n| {
            tree.index()
                .cpu_regs(n)
                .ok()?
                .first()
                .map(|r| r.base as usize)
        })
        .map_or((MCT_BASE, "board constant"), |b| (b, "device tree"))
}

#[cfg(target_arch = "arm")]
fn counter_advances() -> bool {
    let a = aarch32_cpu::register::CntPct::read().0;
    for _ in 0..10_000 {
        core::hint::spin_loop();
    }
    aarch32_cpu::register::CntPct::read().0 != a
}

/// Starts the MCT global timer and says whether CNTPCT moves before and after
/// (an on-hardware probe for whether the firmware had already started it).
#[cfg(target_arch = "arm")]
pub fn start(tree: &HostTree<'_>) {
    let (base, from) = base(tree);
    let before = counter_advances();
    // SAFETY: the MCT block from the DT (or the Snow constant), identity mapped
    // as device memory by the HYP map; snowvisor hides the MCT from Dom0, so it
    // is the block's only user.
    let mct = unsafe { MctGlobal::new(base) };
    let outcome = mct.start(100_000);
    let after = counter_advances();
    let yn = |b: bool| if b { "advancing" } else { "stopped" };
    match outcome {
        StartOutcome::AlreadyRunning => log::info!(
            "timer: MCT global timer at {base:#010x} ({from}) was already running; CNTPCT {}",
            yn(after)
        ),
        StartOutcome::Started { acknowledged } => log::info!(
            "timer: MCT global timer at {base:#010x} ({from}) started (G_TCON.START{}); CNTPCT {} before, {} after",
            if acknowledged { ", acknowledged" } else { ", no G_WSTAT acknowledgement" },
            yn(before),
            yn(after)
        ),
    }
    if !after {
        log::warn!("timer: CNTPCT does not advance: timer interrupts will not come");
    }
}

#[cfg(not(target_arch = "arm"))]
pub fn start(_tree: &HostTree<'_>) {}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::boxed::Box;

    #[repr(C, align(4))]
    struct Model([u32; 0x250 / 4]);

    #[test]
    fn layout_and_start() {
        assert_eq!(core::mem::size_of::<MctGlobalRegs>(), 0x250);
        let model = Box::into_raw(Box::new(Model([0; 0x250 / 4])));
        // SAFETY: a leaked block as large as the register block, used only here.
        let mct = unsafe { MctGlobal::new(model as usize) };
        // No acknowledgement in a plain memory model: started, not acknowledged.
        assert_eq!(
            mct.start(3),
            StartOutcome::Started {
                acknowledged: false
            }
        );
        // SAFETY: reading the leaked model.
        let tcon = unsafe { core::ptr::read_volatile(&(*model).0[0x240 / 4]) };
        assert_eq!(tcon, 1 << 8);
        assert_eq!(mct.start(3), StartOutcome::AlreadyRunning);
        // SAFETY: writing the leaked model's G_CNT_U/L words.
        unsafe {
            core::ptr::write_volatile(&mut (*model).0[0x100 / 4], 5);
            core::ptr::write_volatile(&mut (*model).0[0x104 / 4], 1);
        }
        assert_eq!(mct.count(), (1 << 32) | 5);
    }

    #[test]
    fn base_from_the_snow_tree() {
        let t = HostTree::new(crate::tests::SNOW_DTB).unwrap();
        assert_eq!(base(&t), (MCT_BASE, "device tree"));
    }
}
