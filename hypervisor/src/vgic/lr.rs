//! GICv2 list registers and the queue of interrupts waiting for a free one.

use alloc::collections::VecDeque;

/// State field of a list register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LrState {
    Invalid = 0,
    Pending = 1,
    Active = 2,
    PendingActive = 3,
}

/// One list-register value (GICH_LRn layout).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListRegister(pub u32);

const HW: u32 = 1 << 31;
const EOI_MAINT: u32 = 1 << 19;

impl ListRegister {
    /// A pending interrupt. With `hw`, the guest's deactivation deactivates the
    /// physical interrupt of the same number.
    pub fn pending(intid: u32, priority: u8, hw: bool) -> Self {
        let prio = ((priority >> 3) as u32) << 23;
        let state = (LrState::Pending as u32) << 28;
        let v = intid & 0x3ff;
        if hw {
            ListRegister(HW | state | prio | ((intid & 0x3ff) << 10) | v)
        } else {
            // Software interrupts ask for a maintenance interrupt on EOI only
            // when someone needs to know; snowvisor does not, so no EOI bit.
            ListRegister(state | prio | v)
        }
    }

    pub fn intid(self) -> u32 {
        self.0 & 0x3ff
    }
    pub fn state(self) -> LrState {
        match (self.0 >> 28) & 3 {
            0 => LrState::Invalid,
            1 => LrState::Pending,
            2 => LrState::Active,
            _ => LrState::PendingActive,
        }
    }
    pub fn hw(self) -> bool {
        self.0 & HW != 0
    }
    pub fn eoi_maintenance(self) -> bool {
        self.0 & EOI_MAINT != 0
    }
}

/// Interrupts waiting for a list register, oldest first, each at most once.
#[derive(Debug, Default)]
pub struct PendingQueue {
    q: VecDeque<(u32, u8, bool)>,
}

impl PendingQueue {
    pub fn push(&mut self, intid: u32, priority: u8, hw: bool) {
        if !self.q.iter().any(|&(i, _, _)| i == intid) {
            self.q.push_back((intid, priority, hw));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }

    pub fn len(&self) -> usize {
        self.q.len()
    }

    /// Fills free list registers. `lrs` are the current values, `free` a bitmap
    /// of empty ones (GICH_ELRSR). An interrupt already in a register is not
    /// queued twice. Returns (index, value) pairs to write.
    pub fn fill(
        &mut self,
        lrs: &[ListRegister],
        mut free: u64,
    ) -> alloc::vec::Vec<(usize, ListRegister)> {
        let mut writes = alloc::vec::Vec::new();
        self.q.retain(|&(intid, _, hw)| {
            let live = |i: usize, lr: &ListRegister| free & (1 << i) == 0 && lr.intid() == intid;
            // Already pending in a live register: the new edge merges into it.
            if lrs.iter().enumerate().any(|(i, lr)| {
                live(i, lr) && matches!(lr.state(), LrState::Pending | LrState::PendingActive)
            }) {
                return false;
            }
            // A software interrupt still active (the guest is handling it):
            // make that register pending and active rather than using a
            // second one, which GICv2 does not allow for the same INTID.
            if !hw {
                if let Some((i, lr)) = lrs
                    .iter()
                    .enumerate()
                    .find(|(i, lr)| live(*i, lr) && !lr.hw() && lr.state() == LrState::Active)
                {
                    writes.push((i, ListRegister(lr.0 | ((LrState::Pending as u32) << 28))));
                    return false;
                }
            }
            true
        });
        while let Some(&(intid, prio, hw)) = self.q.front() {
            let Some(slot) = (0..lrs.len()).find(|&i| free & (1 << i) != 0) else {
                break;
            };
            self.q.pop_front();
            free &= !(1 << slot);
            writes.push((slot, ListRegister::pending(intid, prio, hw)));
        }
        writes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(
            w.iter()
                .map(|(i, l)| (*i, l.intid()))
                .collect::<alloc::vec::Vec<_>>(),
            [(0, 32), (1, 33), (2, 34), (3, 35)]
        );
        assert_eq!(q.len(), 2);
        // Nothing free: nothing written, nothing lost.
        let live: alloc::vec::Vec<_> = w.iter().map(|(_, l)| *l).collect();
        assert!(q.fill(&live, 0).is_empty());
        assert_eq!(q.len(), 2);
        // One register frees up.
        let w = q.fill(&live, 0b0100);
        assert_eq!((w[0].0, w[0].1.intid()), (2, 36));
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn software_interrupt_active_in_a_register_becomes_pending_active() {
        let mut q = PendingQueue::default();
        q.push(31, 0xa0, false);
        let active = ListRegister((LrState::Active as u32) << 28 | 31);
        let w = q.fill(&[active, ListRegister(0)], 0b10);
        assert_eq!(w.len(), 1);
        assert_eq!(
            (w[0].0, w[0].1.state(), w[0].1.intid()),
            (0, LrState::PendingActive, 31)
        );
        assert!(q.is_empty());
        // Already pending and active: nothing to do.
        q.push(31, 0xa0, false);
        assert!(q.fill(&[w[0].1], 0).is_empty());
        assert!(q.is_empty());
    }

    #[test]
    fn pending_in_a_register_is_not_queued_twice() {
        let mut q = PendingQueue::default();
        q.push(40, 0, false);
        let lrs = [ListRegister::pending(40, 0, false), ListRegister(0)];
        assert!(q.fill(&lrs, 0b10).is_empty());
        assert!(q.is_empty());
    }
}
