//! GICv2 distributor and CPU interface, as snowvisor uses them at HYP.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};
use tock_registers::{register_bitfields, register_structs};

register_bitfields![u32,
    pub TYPER [
        IT_LINES OFFSET(0) NUMBITS(5) [],
        CPU_NUMBER OFFSET(5) NUMBITS(3) [],
        SECURITY_EXTN OFFSET(10) NUMBITS(1) [],
    ],
    pub VTR [
        LIST_REGS OFFSET(0) NUMBITS(6) [],
    ]
];

register_structs! {
    pub DistributorRegs {
        (0x000 => pub ctlr: ReadWrite<u32>),
        (0x004 => pub typer: ReadOnly<u32, TYPER::Register>),
        (0x008 => pub iidr: ReadOnly<u32>),
        (0x00c => _r0),
        (0x080 => pub igroupr: [ReadWrite<u32>; 32]),
        (0x100 => pub isenabler: [ReadWrite<u32>; 32]),
        (0x180 => pub icenabler: [ReadWrite<u32>; 32]),
        (0x200 => pub ispendr: [ReadWrite<u32>; 32]),
        (0x280 => pub icpendr: [ReadWrite<u32>; 32]),
        (0x300 => pub isactiver: [ReadWrite<u32>; 32]),
        (0x380 => pub icactiver: [ReadWrite<u32>; 32]),
        (0x400 => pub ipriorityr: [ReadWrite<u32>; 255]),
        (0x7fc => _r1),
        (0x800 => pub itargetsr: [ReadWrite<u32>; 255]),
        (0xbfc => _r2),
        (0xc00 => pub icfgr: [ReadWrite<u32>; 64]),
        (0xd00 => _r3),
        (0xf00 => pub sgir: WriteOnly<u32>),
        (0xf04 => @END),
    }
}

register_structs! {
    pub CpuInterfaceRegs {
        (0x00 => pub ctlr: ReadWrite<u32>),
        (0x04 => pub pmr: ReadWrite<u32>),
        (0x08 => pub bpr: ReadWrite<u32>),
        (0x0c => pub iar: ReadOnly<u32>),
        (0x10 => pub eoir: WriteOnly<u32>),
        (0x14 => _r0),
        (0x1000 => pub dir: WriteOnly<u32>),
        (0x1004 => @END),
    }
}

register_structs! {
    pub HypInterfaceRegs {
        (0x000 => pub hcr: ReadWrite<u32>),
        (0x004 => pub vtr: ReadOnly<u32, VTR::Register>),
        (0x008 => pub vmcr: ReadWrite<u32>),
        (0x00c => _r0),
        (0x010 => pub misr: ReadOnly<u32>),
        (0x014 => _r1),
        (0x020 => pub eisr: [ReadOnly<u32>; 2]),
        (0x028 => _r2),
        (0x030 => pub elrsr: [ReadOnly<u32>; 2]),
        (0x038 => _r3),
        (0x0f0 => pub apr: ReadWrite<u32>),
        (0x0f4 => _r4),
        (0x100 => pub lr: [ReadWrite<u32>; 64]),
        (0x200 => @END),
    }
}

const CTLR_EOIMODE: u32 = 1 << 9;

/// INTIDs at or above this are spurious.
pub const SPURIOUS: u32 = 1020;

pub struct Gic {
    pub gicd: &'static DistributorRegs,
    pub gicc: &'static CpuInterfaceRegs,
    pub gich: Option<&'static HypInterfaceRegs>,
}

// SAFETY: the GIC is built for concurrent use: the CPU interface is banked per
// CPU and the distributor's enable/pending registers are write-1-to-set/clear,
// so shared references from several CPUs cannot tear state.
unsafe impl Sync for Gic {}
// SAFETY: as above; the references are to fixed MMIO blocks.
unsafe impl Send for Gic {}

impl Gic {
    /// # Safety
    /// The addresses must be the GIC's distributor, CPU interface and (if given)
    /// virtual interface control blocks, mapped as device memory for ever.
    pub unsafe fn new(gicd: usize, gicc: usize, gich: Option<usize>) -> Self {
        // SAFETY: forwarded from the caller.
        unsafe {
            Gic {
                gicd: &*(gicd as *const DistributorRegs),
                gicc: &*(gicc as *const CpuInterfaceRegs),
                gich: gich.map(|a| &*(a as *const HypInterfaceRegs)),
            }
        }
    }

    /// Number of interrupt lines the distributor implements.
    pub fn lines(&self) -> u32 {
        32 * (self.gicd.typer.read(TYPER::IT_LINES) + 1)
    }

    /// Number of list registers of the virtual interface, if there is one.
    pub fn list_registers(&self) -> Option<u32> {
        self.gich.map(|h| h.vtr.read(VTR::LIST_REGS) + 1)
    }

    /// Distributor on with every SPI disabled; this CPU's interface on, all priorities let through.
    pub fn init(&self) {
        self.gicd.ctlr.set(0);
        let words = (self.lines() / 32) as usize;
        for i in 0..words.min(32) {
            self.gicd.icenabler[i].set(u32::MAX);
            self.gicd.icpendr[i].set(u32::MAX);
            self.gicd.icactiver[i].set(u32::MAX);
        }
        for i in 8..(self.lines() as usize / 4).min(255) {
            // Every SPI to CPU 0 at the middle priority until a domain claims it.
            self.gicd.itargetsr[i].set(0x0101_0101);
            self.gicd.ipriorityr[i].set(0xa0a0_a0a0);
        }
        self.gicd.ctlr.set(1);
        self.gicc.pmr.set(0xff);
        self.gicc.bpr.set(0);
        // EOImode: EOIR only drops priority; deactivation is separate (DIR), so
        // an interrupt handed to a guest stays active until the guest's own EOI
        // deactivates it through a hardware list register.
        self.gicc.ctlr.set(1 | CTLR_EOIMODE);
        if let Some(h) = self.gich {
            h.hcr.set(0);
        }
    }

    pub fn disable(&self, intid: u32) {
        let (w, b) = ((intid / 32) as usize, intid % 32);
        self.gicd.icenabler[w].set(1 << b);
    }

    /// Sets an SPI's trigger (ICFGR edge bit). SGIs and PPIs are left alone.
    pub fn set_edge_triggered(&self, intid: u32, edge: bool) {
        if intid < 32 || intid >= self.lines() {
            return;
        }
        let (w, sh) = ((intid / 16) as usize, (intid % 16) * 2 + 1);
        let v = self.gicd.icfgr[w].get();
        self.gicd.icfgr[w].set(if edge { v | (1 << sh) } else { v & !(1 << sh) });
    }

    /// Deactivates an interrupt snowvisor handled itself (after its EOI).
    pub fn deactivate(&self, iar: u32) {
        self.gicc.dir.set(iar);
    }

    pub fn enable(&self, intid: u32, priority: u8) {
        let (w, b) = ((intid / 32) as usize, intid % 32);
        let (pw, pb) = ((intid / 4) as usize, (intid % 4) * 8);
        let p = self.gicd.ipriorityr[pw].get() & !(0xff << pb);
        self.gicd.ipriorityr[pw].set(p | ((priority as u32) << pb));
        self.gicd.isenabler[w].set(1 << b);
    }

    /// Acknowledges the highest pending interrupt: (INTID, raw IAR for EOI).
    pub fn acknowledge(&self) -> (u32, u32) {
        let iar = self.gicc.iar.get();
        (iar & 0x3ff, iar)
    }

    pub fn end_of_interrupt(&self, iar: u32) {
        self.gicc.eoir.set(iar);
    }
}
