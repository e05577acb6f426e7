//! GICv2 list registers and the queue of interrupts waiting for a free one.

use alloc::collections::VecDeque;
use tock_registers::LocalRegisterCopy;

use snowvisor_arm::gic::LR;

/// State field of a list register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LrState {
    Invalid = 0,
    Pending = 1,
    Active = 2,
    PendingActive = 3,
}

/// One list-register value (GICH_LRn, [`LR`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListRegister(pub u32);

impl ListRegister {
    fn fields(self) -> LocalRegisterCopy<u32, LR::Register> {
        LocalRegisterCopy::new(self.0)
    }

    /// A pending interrupt. With `hw`, the guest's deactivation deactivates the
    /// physical interrupt of the same number. Software interrupts ask for a
    /// maintenance interrupt on EOI only when someone needs to know;
    /// snowvisor does not, so no EOI bit.
    pub fn pending(intid: u32, priority: u8, hw: bool) -> Self {
        let mut r = LocalRegisterCopy::<u32, LR::Register>::new(0);
        r.write(
            LR::VIRTUAL_ID.val(intid)
                + LR::PRIORITY.val(u32::from(priority >> 3))
                + LR::STATE::Pending,
        );
        if hw {
            r.modify(LR::HW::SET + LR::PHYSICAL_ID.val(intid));
        }
        ListRegister(r.get())
    }

    /// The same register in state `state`.
    pub fn with_state(self, state: LrState) -> Self {
        let mut r = self.fields();
        r.modify(LR::STATE.val(state as u32));
        ListRegister(r.get())
    }

    /// The same software register asking for an EOI maintenance interrupt.
    pub fn with_eoi_maintenance(self) -> Self {
        let mut r = self.fields();
        r.modify(LR::EOI::SET);
        ListRegister(r.get())
    }

    pub fn intid(self) -> u32 {
        self.fields().read(LR::VIRTUAL_ID)
    }
    pub fn state(self) -> LrState {
        match self.fields().read_as_enum(LR::STATE) {
            Some(LR::STATE::Value::Invalid) => LrState::Invalid,
            Some(LR::STATE::Value::Pending) => LrState::Pending,
            Some(LR::STATE::Value::Active) => LrState::Active,
            _ => LrState::PendingActive,
        }
    }
    pub fn hw(self) -> bool {
        self.fields().is_set(LR::HW)
    }
    /// The EOI bit, which only a software register has (in a hardware one
    /// the same bit belongs to the physical INTID).
    pub fn eoi_maintenance(self) -> bool {
        !self.hw() && self.fields().is_set(LR::EOI)
    }
}

/// One queued interrupt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Queued {
    intid: u32,
    priority: u8,
    /// A hardware interrupt: snowvisor acknowledged and priority-dropped the
    /// physical INTID, which stays active until the guest deactivates it
    /// through a hardware list register.
    hw: bool,
}

/// What [`PendingQueue::fill`] decided: list registers to write, and whether
/// the hypervisor needs an underflow maintenance interrupt (GICH_HCR.UIE)
/// because interrupts wait for a free register.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Fill {
    /// (index, value) pairs to write to GICH_LRn.
    pub writes: alloc::vec::Vec<(usize, ListRegister)>,
    /// Some queued interrupt waits for a free list register.
    pub underflow: bool,
}

/// Interrupts waiting for a list register, oldest first, each INTID at most
/// once. The queue and [`PendingQueue::fill`] keep three invariants (GICv2
/// architecture specification, 5.3.6: two list registers holding the same
/// virtual INTID is UNPREDICTABLE):
///
/// 1. at most one valid list register per INTID;
/// 2. a hardware entry supersedes a software one for the same INTID (queued
///    or pending in a register): the software copy merges into it;
/// 3. every INTID pushed as hardware (its priority dropped at the physical
///    CPU interface) stays queued until it is written to a hardware list
///    register, so the guest's deactivation reaches the physical GIC.
#[derive(Debug, Default)]
pub struct PendingQueue {
    q: VecDeque<Queued>,
}

impl PendingQueue {
    /// Queues `intid` at `priority` (GICD_IPRIORITYR value). A second push of
    /// a queued INTID merges into the first; a hardware push turns a queued
    /// software entry into a hardware one.
    pub fn push(&mut self, intid: u32, priority: u8, hw: bool) {
        match self.q.iter_mut().find(|e| e.intid == intid) {
            Some(e) => e.hw |= hw,
            None => self.q.push_back(Queued {
                intid,
                priority,
                hw,
            }),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }

    pub fn len(&self) -> usize {
        self.q.len()
    }

    /// Empties the queue: (INTID, hardware) of each entry, oldest first.
    pub fn drain(&mut self) -> impl Iterator<Item = (u32, bool)> + '_ {
        self.q.drain(..).map(|e| (e.intid, e.hw))
    }

    /// Whether `intid` waits as a hardware interrupt.
    pub fn holds_hw(&self, intid: u32) -> bool {
        self.q.iter().any(|e| e.intid == intid && e.hw)
    }

    /// Moves queued interrupts into list registers. `lrs` are the current
    /// values, `free` a bitmap of empty ones (GICH_ELRSR: a register with its
    /// bit set holds nothing, whatever its value). For a queued INTID already
    /// in a live register:
    ///
    /// - software onto a pending (or pending and active) register: merged;
    /// - software onto an active software register: that register becomes
    ///   pending and active;
    /// - software onto an active hardware register: waits (a hardware
    ///   register cannot be pending and active; the physical GIC keeps that
    ///   state), taken at a later exit once the guest deactivated it;
    /// - hardware onto a pending software register: that register is
    ///   rewritten as the hardware entry (the software copy merges in);
    /// - hardware onto an active software register: waits, and that register
    ///   asks for an EOI maintenance interrupt (GICH_LRn.EOI) so the wait ends
    ///   when the guest deactivates it.
    ///
    /// Registers that are free but still carry the EOI request are cleared, so
    /// that GICH_EISR does not keep the maintenance interrupt asserted.
    pub fn fill(&mut self, lrs: &[ListRegister], mut free: u64) -> Fill {
        let is_free = |free: u64, i: usize| i < 64 && free & (1 << i) != 0;
        // The registers as they will be; written back where they differ.
        let mut cur: alloc::vec::Vec<ListRegister> = lrs
            .iter()
            .enumerate()
            .map(|(i, &lr)| {
                if is_free(free, i) && lr.eoi_maintenance() {
                    ListRegister(0)
                } else {
                    lr
                }
            })
            .collect();
        let mut underflow = false;
        let mut waiting = VecDeque::new();
        while let Some(e) = self.q.pop_front() {
            let live = cur
                .iter()
                .enumerate()
                .find(|&(i, lr)| !is_free(free, i) && lr.intid() == LR::VIRTUAL_ID.read(e.intid))
                .map(|(i, lr)| (i, *lr));
            let slot = match live {
                None => (0..cur.len()).find(|&i| is_free(free, i)),
                Some((i, lr)) => match (e.hw, lr.hw(), lr.state()) {
                    (false, _, LrState::Pending | LrState::PendingActive) => continue,
                    (false, false, _) => {
                        cur[i] = lr.with_state(LrState::PendingActive);
                        continue;
                    }
                    (false, true, _) => {
                        waiting.push_back(e);
                        continue;
                    }
                    (true, false, LrState::Pending) => Some(i),
                    (true, false, _) => {
                        cur[i] = lr.with_eoi_maintenance();
                        waiting.push_back(e);
                        continue;
                    }
                    // The physical INTID is active until the guest deactivates
                    // it, so it cannot fire again while a hardware register
                    // holds it; keep the register as it is.
                    (true, true, _) => continue,
                },
            };
            match slot {
                Some(i) => {
                    free &= !(1 << i);
                    cur[i] = ListRegister::pending(e.intid, e.priority, e.hw);
                }
                None => {
                    underflow = true;
                    waiting.push_back(e);
                }
            }
        }
        self.q = waiting;
        let writes = cur
            .into_iter()
            .enumerate()
            .filter(|&(i, lr)| lrs[i] != lr)
            .collect();
        Fill { writes, underflow }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn intids(f: &Fill) -> Vec<(usize, u32)> {
        f.writes.iter().map(|(i, l)| (*i, l.intid())).collect()
    }

    #[test]
    fn encodes_hw_interrupt() {
        let lr = ListRegister::pending(27, 0xa0, true);
        assert_eq!(lr.0, (1 << 31) | (1 << 28) | (0x14 << 23) | (27 << 10) | 27);
        assert_eq!(
            (lr.intid(), lr.state(), lr.hw()),
            (27, LrState::Pending, true)
        );
        assert!(!ListRegister::pending(1, 0, false).hw());
    }

    #[test]
    fn more_pending_than_registers() {
        let mut q = PendingQueue::default();
        for i in 0..6 {
            q.push(32 + i, 0xa0, true);
        }
        q.push(33, 0xa0, true); // duplicate
        assert_eq!(q.len(), 6);
        let lrs = [ListRegister(0); 4];
        let w = q.fill(&lrs, 0b1111);
        assert_eq!(intids(&w), [(0, 32), (1, 33), (2, 34), (3, 35)]);
        assert!(w.underflow);
        assert_eq!(q.len(), 2);
        // Nothing free: nothing written, nothing lost.
        let live: Vec<_> = w.writes.iter().map(|(_, l)| *l).collect();
        let w2 = q.fill(&live, 0);
        assert!(w2.writes.is_empty() && w2.underflow);
        assert_eq!(q.len(), 2);
        // One register frees up.
        let w = q.fill(&live, 0b0100);
        assert_eq!(intids(&w), [(2, 36)]);
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn software_interrupt_active_in_a_register_becomes_pending_active() {
        let mut q = PendingQueue::default();
        q.push(31, 0xa0, false);
        let active = ListRegister::pending(31, 0, false).with_state(LrState::Active);
        let w = q.fill(&[active, ListRegister(0)], 0b10);
        assert_eq!(w.writes.len(), 1);
        let (i, lr) = w.writes[0];
        assert_eq!((i, lr.state(), lr.intid()), (0, LrState::PendingActive, 31));
        assert!(q.is_empty());
        // Already pending and active: nothing to do.
        q.push(31, 0xa0, false);
        assert!(q.fill(&[lr], 0).writes.is_empty());
        assert!(q.is_empty());
    }

    #[test]
    fn pending_in_a_register_is_not_queued_twice() {
        let mut q = PendingQueue::default();
        q.push(40, 0, false);
        let lrs = [ListRegister::pending(40, 0, false), ListRegister(0)];
        assert!(q.fill(&lrs, 0b10).writes.is_empty());
        assert!(q.is_empty());
    }

    /// Linux's `gic_retrigger` pends an edge SPI in software; the physical
    /// SPI then fires. The hardware entry replaces the queued software copy.
    #[test]
    fn hardware_push_supersedes_a_queued_software_copy() {
        let mut q = PendingQueue::default();
        q.push(48, 0xa0, false);
        q.push(48, 0xa0, true);
        assert_eq!(q.len(), 1);
        assert!(q.holds_hw(48));
        let w = q.fill(&[ListRegister(0); 2], 0b11);
        assert_eq!(w.writes, [(0, ListRegister::pending(48, 0xa0, true))]);
        // And a software push onto a queued hardware entry merges into it.
        q.push(49, 0xa0, true);
        q.push(49, 0xa0, false);
        assert!(q.holds_hw(49));
    }

    /// The software copy is already pending in a register when the physical
    /// SPI fires: the register is rewritten as the hardware entry, the
    /// hardware entry is not dropped (the SPI would stay active for ever).
    #[test]
    fn hardware_entry_rewrites_a_pending_software_register() {
        let mut q = PendingQueue::default();
        q.push(48, 0xa0, true);
        let lrs = [ListRegister::pending(48, 0xa0, false), ListRegister(0)];
        let w = q.fill(&lrs, 0b10);
        assert_eq!(w.writes, [(0, ListRegister::pending(48, 0xa0, true))]);
        assert!(q.is_empty() && !w.underflow);
    }

    /// The guest is handling the software copy: the hardware entry waits for
    /// its deactivation (EOI maintenance), never a second register.
    #[test]
    fn hardware_entry_waits_for_an_active_software_copy() {
        let mut q = PendingQueue::default();
        q.push(48, 0xa0, true);
        let active = ListRegister::pending(48, 0, false).with_state(LrState::Active);
        let w = q.fill(&[active, ListRegister(0)], 0b10);
        assert_eq!(w.writes, [(0, active.with_eoi_maintenance())]);
        assert!(!w.underflow && q.holds_hw(48));
        // The guest deactivates it: the register is free but keeps EOI; the
        // hardware entry takes it (and with it the EOI request goes).
        let done = active.with_state(LrState::Invalid).with_eoi_maintenance();
        let w = q.fill(&[done, ListRegister(0)], 0b11);
        assert_eq!(w.writes, [(0, ListRegister::pending(48, 0xa0, true))]);
        assert!(q.is_empty());
    }

    /// A software pend while a hardware register holds the INTID: merged if
    /// pending, waits if active, never a second register.
    #[test]
    fn software_push_never_doubles_a_hardware_register() {
        let mut q = PendingQueue::default();
        q.push(50, 0xa0, false);
        let hw_pending = ListRegister::pending(50, 0xa0, true);
        assert!(q
            .fill(&[hw_pending, ListRegister(0)], 0b10)
            .writes
            .is_empty());
        assert!(q.is_empty());
        q.push(50, 0xa0, false);
        let hw_active = hw_pending.with_state(LrState::Active);
        assert_eq!(hw_active.state(), LrState::Active);
        let w = q.fill(&[hw_active, ListRegister(0)], 0b10);
        assert!(w.writes.is_empty() && !w.underflow && q.len() == 1);
    }

    /// A model of the guest's CPU interface and the physical GIC around the
    /// queue, driven by random pushes, fills, acknowledges and deactivations.
    struct Model {
        lrs: Vec<ListRegister>,
        q: PendingQueue,
        /// INTIDs priority-dropped at the physical CPU interface and not yet
        /// deactivated.
        phys_active: Vec<u32>,
    }

    impl Model {
        fn free(&self) -> u64 {
            let mut f = 0;
            for (i, lr) in self.lrs.iter().enumerate() {
                if lr.state() == LrState::Invalid {
                    f |= 1 << i;
                }
            }
            f
        }

        fn fill(&mut self) -> Fill {
            let f = self.q.fill(&self.lrs, self.free());
            for &(i, lr) in &f.writes {
                self.lrs[i] = lr;
            }
            f
        }

        fn deactivate(&mut self, i: usize) {
            let lr = self.lrs[i];
            let next = match lr.state() {
                LrState::Active => LrState::Invalid,
                LrState::PendingActive => LrState::Pending,
                _ => return,
            };
            self.lrs[i] = lr.with_state(next);
            if lr.hw() && next == LrState::Invalid {
                self.phys_active.retain(|&x| x != lr.intid());
            }
        }

        fn check(&self, f: &Fill) {
            let live: Vec<_> = self
                .lrs
                .iter()
                .filter(|l| l.state() != LrState::Invalid)
                .collect();
            for (n, a) in live.iter().enumerate() {
                assert!(
                    live[n + 1..].iter().all(|b| b.intid() != a.intid()),
                    "two list registers for INTID {}: {:x?}",
                    a.intid(),
                    self.lrs
                );
                assert!(
                    !(a.hw() && a.state() == LrState::PendingActive),
                    "hardware register pending and active: {a:x?}"
                );
                if a.hw() {
                    assert!(self.phys_active.contains(&a.intid()));
                }
            }
            for &x in &self.phys_active {
                assert!(
                    self.q.holds_hw(x) || live.iter().any(|l| l.hw() && l.intid() == x),
                    "INTID {x} priority-dropped, but in no hardware register and not queued"
                );
            }
            if !f.underflow {
                assert!(
                    self.q.is_empty() || self.free() == 0 || live.len() == self.lrs.len() || {
                        // Every waiting entry is blocked by its own INTID.
                        self.q
                            .q
                            .iter()
                            .all(|e| live.iter().any(|l| l.intid() == e.intid))
                    },
                    "entries wait with free registers and no underflow request: {:x?} {:?}",
                    self.lrs,
                    self.q
                );
            }
        }
    }

    #[test]
    fn queue_invariants_hold_for_random_sequences() {
        for seed in 0..2000u64 {
            let mut rng = fastrand::Rng::with_seed(seed);
            let nlr = rng.usize(1..=4);
            let mut m = Model {
                lrs: alloc::vec![ListRegister(0); nlr],
                q: PendingQueue::default(),
                phys_active: Vec::new(),
            };
            for _ in 0..200 {
                let intid = 32 + rng.u32(0..4);
                match rng.u8(0..6) {
                    0 if !m.phys_active.contains(&intid) => {
                        m.phys_active.push(intid);
                        m.q.push(intid, 0xa0, true);
                    }
                    1 => m.q.push(intid, 0xa0, false),
                    2 => {
                        // The guest acknowledges its highest-priority pending
                        // interrupt (here: any pending one).
                        let i = rng.usize(0..nlr);
                        if m.lrs[i].state() == LrState::Pending {
                            m.lrs[i] = m.lrs[i].with_state(LrState::Active);
                        }
                    }
                    3 => m.deactivate(rng.usize(0..nlr)),
                    _ => {
                        let f = m.fill();
                        m.check(&f);
                    }
                }
            }
            // The guest drains everything: the queue and the physical GIC end clean.
            for _ in 0..64 {
                let f = m.fill();
                m.check(&f);
                for i in 0..nlr {
                    if m.lrs[i].state() == LrState::Pending {
                        m.lrs[i] = m.lrs[i].with_state(LrState::Active);
                    }
                    m.deactivate(i);
                    m.deactivate(i);
                }
            }
            assert!(m.q.is_empty(), "seed {seed}: {:?}", m.q);
            assert!(m.phys_active.is_empty(), "seed {seed}: {:?}", m.phys_active);
        }
    }
}
