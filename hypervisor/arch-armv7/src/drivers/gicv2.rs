//! GICv2 distributor and CPU interface, as snowvisor uses them at HYP.

use tock_registers::fields::Field;
use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};

pub use snowvisor_arm::gic::{CpuInterfaceRegs, DistributorRegs, HypInterfaceRegs, SPURIOUS};
use snowvisor_arm::gic::{
    BPR, GICC_CTLR, GICD_CTLR, GICH_HCR, IAR, IPRIORITYR, ITARGETSR, PMR, TYPER, VTR,
};

/// The priority snowvisor gives every SPI until a domain claims it: the
/// middle of the range (GIC 3.3: lower values are higher priorities).
const SPI_DEFAULT_PRIORITY: u32 = 0xa0;

/// The IPRIORITYR byte of `intid`.
fn priority_byte(intid: u32) -> Field<u32, IPRIORITYR::Register> {
    [
        IPRIORITYR::PRIORITY0,
        IPRIORITYR::PRIORITY1,
        IPRIORITYR::PRIORITY2,
        IPRIORITYR::PRIORITY3,
    ][(intid % 4) as usize]
}

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

    /// Distributor on with every SPI disabled; this CPU's interface on, all
    /// priorities let through (the boot CPU, once).
    pub fn init(&self) {
        self.gicd.ctlr.write(GICD_CTLR::ENABLE::CLEAR);
        let words = (self.lines() / 32) as usize;
        for i in 0..words.min(32) {
            self.gicd.icenabler[i].set(u32::MAX);
            self.gicd.icpendr[i].set(u32::MAX);
            self.gicd.icactiver[i].set(u32::MAX);
        }
        for i in 8..(self.lines() as usize / 4).min(255) {
            // Every SPI to CPU 0 at the middle priority until a domain claims it.
            self.gicd.itargetsr[i].write(
                ITARGETSR::TARGETS0::Cpu0
                    + ITARGETSR::TARGETS1::Cpu0
                    + ITARGETSR::TARGETS2::Cpu0
                    + ITARGETSR::TARGETS3::Cpu0,
            );
            self.gicd.ipriorityr[i].write(
                IPRIORITYR::PRIORITY0.val(SPI_DEFAULT_PRIORITY)
                    + IPRIORITYR::PRIORITY1.val(SPI_DEFAULT_PRIORITY)
                    + IPRIORITYR::PRIORITY2.val(SPI_DEFAULT_PRIORITY)
                    + IPRIORITYR::PRIORITY3.val(SPI_DEFAULT_PRIORITY),
            );
        }
        self.gicd.ctlr.write(GICD_CTLR::ENABLE::SET);
        self.init_cpu_interface();
    }

    /// This CPU's banked interfaces (GICC, GICH) on, all priorities let
    /// through: what [`Gic::init`] does for the boot CPU, run by each
    /// secondary CPU for itself (the distributor is shared and already on).
    pub fn init_cpu_interface(&self) {
        self.gicc.pmr.write(PMR::PRIORITY::AllowAll);
        self.gicc.bpr.write(BPR::BINARY_POINT.val(0));
        // EOImode: EOIR only drops priority; deactivation is separate (DIR), so
        // an interrupt handed to a guest stays active until the guest's own EOI
        // deactivates it through a hardware list register.
        self.gicc
            .ctlr
            .write(GICC_CTLR::ENABLE::SET + GICC_CTLR::EOI_MODE_NS::SET);
        if let Some(h) = self.gich {
            h.hcr.write(GICH_HCR::EN::CLEAR);
        }
    }

    /// Sends SPI `intid` to the CPU interfaces in `targets` (GICD_ITARGETSR
    /// byte, 4.3.12). SGIs and PPIs are left alone.
    pub fn set_targets(&self, intid: u32, targets: u8) {
        if intid < 32 || intid >= self.lines() {
            return;
        }
        let byte = [
            ITARGETSR::TARGETS0,
            ITARGETSR::TARGETS1,
            ITARGETSR::TARGETS2,
            ITARGETSR::TARGETS3,
        ][(intid % 4) as usize];
        self.gicd.itargetsr[(intid / 4) as usize].modify(byte.val(u32::from(targets)));
    }

    /// This CPU's own CPU-interface bit: what GICD_ITARGETSR0 reads for the
    /// reading CPU (banked, GIC architecture spec 4.3.12), as an SGI target.
    /// A uniprocessor GIC reads its ITARGETSRs as zero (4.3.12): its one
    /// CPU interface is interface 0, bit 0.
    pub fn this_cpu_mask(&self) -> u8 {
        match (self.gicd.itargetsr[0].get() & 0xff) as u8 {
            0 => 1,
            m => m,
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
        // Int_config[1] of the interrupt's 2-bit field (4.3.13): 1 = edge.
        let edge_bit = Field::<u32, ()>::new(1, ((intid % 16) * 2 + 1) as usize);
        self.gicd.icfgr[(intid / 16) as usize].modify(edge_bit.val(u32::from(edge)));
    }

    /// Deactivates an interrupt snowvisor handled itself (after its EOI).
    pub fn deactivate(&self, iar: u32) {
        self.gicc.dir.set(iar);
    }

    pub fn enable(&self, intid: u32, priority: u8) {
        let (w, b) = ((intid / 32) as usize, intid % 32);
        self.gicd.ipriorityr[(intid / 4) as usize]
            .modify(priority_byte(intid).val(u32::from(priority)));
        self.gicd.isenabler[w].set(1 << b);
    }

    /// Acknowledges the highest pending interrupt: (INTID, raw IAR for EOI).
    pub fn acknowledge(&self) -> (u32, u32) {
        let iar = self.gicc.iar.extract();
        (iar.read(IAR::INTERRUPT_ID), iar.get())
    }

    pub fn end_of_interrupt(&self, iar: u32) {
        self.gicc.eoir.set(iar);
    }
}
