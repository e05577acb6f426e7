//! The SMMUv3 itself: bring-up, stream table entries, the command queue with
//! CMD_SYNC polling, and the event queue and global errors.
//!
//! Bring-up order: stop translation and make the SMMU abort everything
//! (CR0 = 0, GBPA.ABORT), check the ID registers, build the stream table with
//! every assigned stream's STE, start the command queue, invalidate every
//! cached configuration and TLB entry, start the event queue and its
//! interrupts, and only then turn translation on. A failure at any step leaves
//! the SMMU off and aborting: DMA behind it stops instead of bypassing.

use alloc::vec::Vec;
use core::fmt;

use tock_registers::interfaces::{Readable, Writeable};

use super::cmd::{self, Command, Event};
use super::dma::{self, DmaBuf};
use super::ids::{self, Features, Refusal};
use super::queue::{Ring, OVERFLOW};
use super::regs::{write64, SmmuRegs, CMDQ_CONS, CR0, CR1, CR2, GBPA, IRQ_CTRL, STRTAB_BASE_CFG};
use super::ste::{self, S2Config, Shape, ShapeError, Ste, STE_BYTES};
use crate::cpu;

/// Command queue: 256 entries of 16 bytes (4 KiB).
const CMDQ_LOG2: u32 = 8;
/// Event queue: 1024 entries of 32 bytes (32 KiB): a device copying a buffer
/// to a forbidden address faults once per access, in a burst.
const EVENTQ_LOG2: u32 = 10;
/// How long the SMMU may take to acknowledge a register write or a CMD_SYNC.
const TIMEOUT_US: u64 = 100_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmmuError {
    Refused(Refusal),
    Shape(ShapeError),
    NoMemory {
        what: &'static str,
        bytes: usize,
    },
    /// The SMMU did not acknowledge in time.
    Timeout {
        what: &'static str,
    },
    /// A command failed (CMDQ_CONS.ERR).
    Command {
        opcode: u8,
        error: &'static str,
    },
    /// A stream ID outside the stream table.
    NoSuchStream {
        sid: u32,
    },
    Frame(super::FrameError),
}

impl From<super::FrameError> for SmmuError {
    fn from(e: super::FrameError) -> Self {
        SmmuError::Frame(e)
    }
}

impl fmt::Display for SmmuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SmmuError::Refused(r) => write!(f, "refused: {r}"),
            SmmuError::Shape(s) => write!(f, "stream table: {s}"),
            SmmuError::NoMemory { what, bytes } => {
                write!(f, "no memory for the {what} ({bytes} bytes)")
            }
            SmmuError::Timeout { what } => write!(f, "no answer from the SMMU ({what})"),
            SmmuError::Command { opcode, error } => {
                write!(f, "command {opcode:#04x} failed: {error}")
            }
            SmmuError::NoSuchStream { sid } => {
                write!(f, "stream {sid:#x} is outside the stream table")
            }
            SmmuError::Frame(e) => write!(f, "{e}"),
        }
    }
}

/// Streams `first..=last` translated by one domain's stage 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assignment {
    pub first: u32,
    pub last: u32,
    pub vmid: u16,
    /// Stage-2 level-1 table (the domain's VTTBR base) and the CPU's VTCR.
    pub root_pa: u64,
    pub vtcr: snowvisor_arm::sysreg::Vtcr,
}

/// Counters for reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub events: u64,
    pub overflows: u64,
    pub gerrors: u64,
}

/// An owned, running SMMUv3.
pub struct Smmu {
    regs: &'static SmmuRegs,
    pub base: u64,
    pub features: Features,
    shape: Shape,
    strtab: DmaBuf,
    l2: Vec<DmaBuf>,
    cmdq: DmaBuf,
    cmd_ring: Ring,
    cmd_prod: u32,
    evtq: DmaBuf,
    evt_ring: Ring,
    pub stats: Stats,
    /// Streams with a translating STE.
    pub assigned: u32,
}

// SAFETY: the driver owns its register block and memory exclusively
// (constructor contract), so moving it between CPUs changes nothing.
unsafe impl Send for Smmu {}

fn now_us() -> u64 {
    let t = aarch32_cpu::register::CntPct::read().0;
    let f = aarch32_cpu::register::Cntfrq::read().0.max(1) as u64;
    t * 1_000_000 / f
}

/// Polls `done` until it holds or [`TIMEOUT_US`] passes.
fn wait(what: &'static str, mut done: impl FnMut() -> bool) -> Result<(), SmmuError> {
    let start = now_us();
    while !done() {
        if now_us().saturating_sub(start) > TIMEOUT_US {
            return Err(SmmuError::Timeout { what });
        }
    }
    Ok(())
}

/// Turns translation and the queues off and makes the SMMU abort every
/// transaction (GBPA.ABORT), so nothing bypasses it while it is set up or
/// after a failure.
fn stop(r: &SmmuRegs) -> Result<(), SmmuError> {
    r.cr0.set(0);
    wait("CR0ACK after disabling", || r.cr0ack.get() == 0)?;
    r.gbpa.write(GBPA::ABORT::SET + GBPA::UPDATE::SET);
    wait("GBPA.UPDATE", || !r.gbpa.is_set(GBPA::UPDATE))
}

fn set_cr0(r: &SmmuRegs, v: u32) -> Result<(), SmmuError> {
    r.cr0.set(v);
    wait("CR0ACK", || r.cr0ack.get() == v)
}

impl Smmu {
    /// Takes the SMMU at `base` over and translates `assignments` through
    /// their domains' stage-2 tables; every other stream aborts.
    ///
    /// # Safety
    /// `base` must be an SMMUv3 register block (page 0 and page 1, 128 KiB),
    /// identity mapped as device memory for ever and driven by no one else,
    /// and each assignment's `root_pa` a stage-2 table tree that lives as
    /// long as the SMMU uses it.
    pub unsafe fn init(base: usize, assignments: &[Assignment]) -> Result<Smmu, SmmuError> {
        // SAFETY: forwarded from the caller.
        let regs: &'static SmmuRegs = unsafe { &*(base as *const SmmuRegs) };
        stop(regs)?;
        let features = ids::features(regs.idr0.get(), regs.idr1.get(), regs.idr5.get())
            .map_err(SmmuError::Refused)?;
        let ranges: Vec<(u32, u32)> = assignments.iter().map(|a| (a.first, a.last)).collect();
        let shape = ste::shape(&features, &ranges).map_err(SmmuError::Shape)?;
        let coherent = features.coherent;
        let alloc = |what, bytes: usize| {
            DmaBuf::new(bytes, bytes.next_power_of_two().max(64), coherent)
                .ok_or(SmmuError::NoMemory { what, bytes })
        };
        let strtab = alloc("stream table", shape.base_bytes())?;
        let mut l2 = Vec::new();
        if let Shape::TwoLevel { split, l2: idx, .. } = &shape {
            for &i in idx {
                let t = alloc("level-2 stream table", STE_BYTES << split)?;
                strtab.write(i as usize, ste::l1_descriptor(t.pa(), *split));
                l2.push(t);
            }
            strtab.clean(0, strtab.len());
        }
        let cmd_ring = Ring::new(CMDQ_LOG2.min(features.cmdq_max_log2));
        let evt_ring = Ring::new(EVENTQ_LOG2.min(features.eventq_max_log2));
        let cmdq = alloc("command queue", 16 * cmd_ring.entries())?;
        let evtq = alloc("event queue", 32 * evt_ring.entries())?;
        let mut s = Smmu {
            regs,
            base: base as u64,
            features,
            shape,
            strtab,
            l2,
            cmdq,
            cmd_ring,
            cmd_prod: 0,
            evtq,
            evt_ring,
            stats: Stats::default(),
            assigned: 0,
        };
        for a in assignments {
            let c = S2Config::new(&s.features, a.vmid, a.root_pa, a.vtcr);
            let entry = ste::s2_translate(&c);
            for sid in a.first..=a.last {
                s.write_ste(sid, &entry)?;
                s.assigned += 1;
            }
            if !coherent {
                dma::clean_stage2_tables(a.root_pa);
            }
        }
        if let Err(e) = s.start() {
            if stop(regs).is_err() {
                // It may still read its tables and queues: never free them.
                core::mem::forget(s);
            }
            return Err(e);
        }
        Ok(s)
    }

    /// Programs the tables and queues and turns everything on.
    fn start(&mut self) -> Result<(), SmmuError> {
        let r = self.regs;
        let (cache, sh) = if self.features.coherent {
            (1, 3) // write-back, inner shareable
        } else {
            (0, 2) // non-cacheable, outer shareable
        };
        r.cr1.write(
            CR1::QUEUE_IC.val(cache)
                + CR1::QUEUE_OC.val(cache)
                + CR1::QUEUE_SH.val(sh)
                + CR1::TABLE_IC.val(cache)
                + CR1::TABLE_OC.val(cache)
                + CR1::TABLE_SH.val(sh),
        );
        r.cr2.write(CR2::RECINVSID::SET + CR2::PTM::SET);
        write64(&r.strtab_base_lo, &r.strtab_base_hi, self.strtab.pa());
        let (fmt, split) = match &self.shape {
            Shape::Linear { .. } => (0, 0),
            Shape::TwoLevel { split, .. } => (1, *split),
        };
        r.strtab_base_cfg.write(
            STRTAB_BASE_CFG::FMT.val(fmt)
                + STRTAB_BASE_CFG::SPLIT.val(split)
                + STRTAB_BASE_CFG::LOG2SIZE.val(self.shape.log2size()),
        );
        write64(
            &r.cmdq_base_lo,
            &r.cmdq_base_hi,
            self.cmdq.pa() | self.cmd_ring.log2 as u64,
        );
        r.cmdq_prod.set(0);
        r.cmdq_cons.set(0);
        write64(
            &r.eventq_base_lo,
            &r.eventq_base_hi,
            self.evtq.pa() | self.evt_ring.log2 as u64,
        );
        r.eventq_prod.set(0);
        r.eventq_cons.set(0);
        // Wired interrupts: an MSI address of 0 disables the MSIs.
        write64(&r.gerror_irq_cfg0_lo, &r.gerror_irq_cfg0_hi, 0);
        write64(&r.eventq_irq_cfg0_lo, &r.eventq_irq_cfg0_hi, 0);
        cpu::dsb();

        let cmdqen = CR0::CMDQEN::SET.value;
        set_cr0(r, cmdqen)?;
        self.submit(&[Command::CfgiAll, Command::TlbiNsnhAll])?;
        let evtqen = cmdqen | CR0::EVENTQEN::SET.value;
        set_cr0(r, evtqen)?;
        r.irq_ctrl
            .write(IRQ_CTRL::GERROR_IRQEN::SET + IRQ_CTRL::EVENTQ_IRQEN::SET);
        let want = r.irq_ctrl.get();
        wait("IRQ_CTRL_ACK", || r.irq_ctrl_ack.get() == want)?;
        set_cr0(r, evtqen | CR0::SMMUEN::SET.value)
    }

    fn write_ste(&mut self, sid: u32, e: &Ste) -> Result<(), SmmuError> {
        let (table, idx) = self
            .shape
            .locate(sid)
            .ok_or(SmmuError::NoSuchStream { sid })?;
        let buf = match table {
            None => &self.strtab,
            Some(t) => self.l2.get(t).ok_or(SmmuError::NoSuchStream { sid })?,
        };
        // Word 0 (with V) last, so the SMMU never sees half an entry.
        for w in (0..8).rev() {
            buf.write(idx * 8 + w, e[w]);
            if w == 1 {
                cpu::dsb();
            }
        }
        buf.clean(idx * STE_BYTES, STE_BYTES);
        Ok(())
    }

    /// Points stream `sid` at a domain's stage 2 (or makes it abort, with
    /// None) while the SMMU runs, and waits until the SMMU uses the new STE.
    pub fn set_stream(&mut self, sid: u32, to: Option<&Assignment>) -> Result<(), SmmuError> {
        let entry = match to {
            Some(a) => ste::s2_translate(&S2Config::new(&self.features, a.vmid, a.root_pa, a.vtcr)),
            None => ste::INVALID,
        };
        // Invalidate first, so no walk mixes old and new words.
        self.write_ste(sid, &ste::INVALID)?;
        self.submit(&[Command::CfgiSte { sid }])?;
        if to.is_some() {
            self.write_ste(sid, &entry)?;
            self.submit(&[Command::CfgiSte { sid }])?;
        }
        Ok(())
    }

    /// After a domain's stage 2 (rooted at `root_pa`) changed: cleans its
    /// tables for a non-coherent SMMU and drops the SMMU's TLB entries for it.
    pub fn stage2_changed(&mut self, vmid: u16, root_pa: u64) -> Result<(), SmmuError> {
        if !self.features.coherent {
            dma::clean_stage2_tables(root_pa);
        }
        self.submit(&[Command::TlbiS12Vmall { vmid }])
    }

    /// Queues `cmds` and a CMD_SYNC, then polls until the SMMU has consumed
    /// the sync, which means every command before it has completed.
    pub fn submit(&mut self, cmds: &[Command]) -> Result<(), SmmuError> {
        let r = self.regs;
        let ring = self.cmd_ring;
        for c in cmds.iter().chain(core::iter::once(&Command::Sync)) {
            let prod = self.cmd_prod;
            wait("command queue space", || {
                !ring.is_full(prod, r.cmdq_cons.get())
            })?;
            let w = c.encode();
            let slot = ring.slot(prod);
            self.cmdq.write(slot * 2, w[0]);
            self.cmdq.write(slot * 2 + 1, w[1]);
            self.cmdq.clean(slot * 16, 16);
            self.cmd_prod = ring.next(prod);
        }
        cpu::dsb();
        r.cmdq_prod.set(self.cmd_prod);
        let target = self.cmd_prod;
        let mut failed = None;
        wait("CMD_SYNC", || {
            let cons = r.cmdq_cons.get();
            if (r.gerror.get() ^ r.gerrorn.get()) & cmd::GERROR_CMDQ_ERR != 0 {
                failed = Some(cons);
                return true;
            }
            ring.is_empty(target, cons)
        })?;
        match failed {
            None => Ok(()),
            Some(cons) => Err(self.recover_command_error(cons)),
        }
    }

    /// After GERROR.CMDQ_ERR: names the failed command, replaces it with a
    /// CMD_SYNC so the queue can go on, and acknowledges the error.
    fn recover_command_error(&mut self, cons: u32) -> SmmuError {
        let r = self.regs;
        let slot = self.cmd_ring.slot(cons);
        let bad = [self.cmdq.read(slot * 2), self.cmdq.read(slot * 2 + 1)];
        let err = CMDQ_CONS::ERR.read(cons);
        let sync = Command::Sync.encode();
        self.cmdq.write(slot * 2, sync[0]);
        self.cmdq.write(slot * 2 + 1, sync[1]);
        self.cmdq.clean(slot * 16, 16);
        cpu::dsb();
        self.stats.gerrors += 1;
        r.gerrorn.set(r.gerrorn.get() ^ cmd::GERROR_CMDQ_ERR);
        SmmuError::Command {
            opcode: cmd::opcode(bad),
            error: cmd::cmd_error_name(err),
        }
    }

    /// Reads every pending event and hands it to `report`; then reports an
    /// event-queue overflow, if one happened, as `None`.
    pub fn drain_events(&mut self, mut report: impl FnMut(Option<Event>)) -> usize {
        let r = self.regs;
        let ring = self.evt_ring;
        let prod = r.eventq_prod.get();
        let mut cons = r.eventq_cons.get();
        let mut n = 0;
        while !ring.is_empty(prod, cons) && n < ring.entries() {
            let slot = ring.slot(cons);
            self.evtq.invalidate(slot * 32, 32);
            let w = [0, 1, 2, 3].map(|i| self.evtq.read(slot * 4 + i));
            report(Some(Event::decode(w)));
            cons = (cons & OVERFLOW) | ring.next(cons);
            n += 1;
        }
        if (prod ^ cons) & OVERFLOW != 0 {
            // Acknowledge by copying OVFLG into OVACKFLG.
            cons ^= OVERFLOW;
            self.stats.overflows += 1;
            report(None);
        }
        r.eventq_cons.set(cons);
        self.stats.events += n as u64;
        n
    }

    /// Active global errors (GERROR ^ GERRORN), acknowledged; 0 when none.
    /// A command-queue error is recovered as in [`Smmu::submit`].
    pub fn take_gerrors(&mut self) -> u32 {
        let r = self.regs;
        let active = r.gerror.get() ^ r.gerrorn.get();
        if active == 0 {
            return 0;
        }
        if active & cmd::GERROR_CMDQ_ERR != 0 {
            let _ = self.recover_command_error(r.cmdq_cons.get());
        }
        r.gerrorn.set(r.gerror.get());
        self.stats.gerrors += 1;
        active
    }

    /// Whether translation is on (CR0ACK.SMMUEN).
    pub fn enabled(&self) -> bool {
        self.regs.cr0ack.is_set(CR0::SMMUEN)
    }

    /// The number of level-2 tables and the stream table's bytes, for the boot log.
    pub fn table_summary(&self) -> (usize, usize) {
        let l2 = self.l2.iter().map(DmaBuf::len).sum::<usize>();
        (self.l2.len(), self.strtab.len() + l2)
    }
}

/// Makes an SMMU snowvisor will not drive abort all DMA (translation off,
/// GBPA.ABORT), e.g. after its probe was refused.
///
/// # Safety
/// As for [`Smmu::init`]: `base` is an SMMUv3 register block nobody else drives.
pub unsafe fn block(base: usize) -> Result<(), SmmuError> {
    // SAFETY: forwarded from the caller.
    stop(unsafe { &*(base as *const SmmuRegs) })
}
