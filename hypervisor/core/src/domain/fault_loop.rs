//! Crash containment: telling a vCPU that can never make progress again
//! from one that takes many faults. Two rules, applied to every exception
//! snowvisor injects (an Undefined Instruction, a Prefetch or Data Abort):
//!
//! - **The same fault with nothing changed**: the same instruction (PC and
//!   CPSR), the same trap class and fault address, and the same registers
//!   (r0-r12, the mode's SP, LR_usr), [`REPEAT_LIMIT`] times in a row. A
//!   CPU that re-executes an instruction from the same registers does the
//!   same thing again; such a guest only loops through its handler (a
//!   handler that retries, one that faults itself on an overflowed stack).
//!   A guest that takes many faults but gets anywhere (a probe loop, a
//!   counter, another address, another instruction) never matches.
//! - **A prefetch abort on the prefetch-abort vector**: the guest's vector
//!   table is not fetchable at all (an unmapped VBAR), so taking the
//!   exception faults again at the same address; ended at once.
//!
//! Pure: the trap path ([`crate::vcpu`]) builds a [`Fault`] after each
//! injection and acts on the [`Verdict`] (a DomU is ended alone, Dom0 is
//! reported: the hardware domain is the machine).

/// Identical faults in a row that end a domain. High enough that a guest
/// waiting on another vCPU or an interrupt handler to change memory it
/// faults on (its registers stay the same) gets a long time, low enough to
/// end a real loop in a fraction of a second (a fault round trip takes a
/// few microseconds on hardware, tens under QEMU's TCG).
pub const REPEAT_LIMIT: u32 = 256;

/// An injected fault and the guest state it was taken in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    /// HSR.EC of the trap that led to the injection (ARM ARM B3.13.6).
    pub class: u32,
    /// The faulting instruction's address (ELR_hyp at the trap).
    pub pc: u32,
    /// CPSR at the faulting instruction (SPSR_hyp at the trap).
    pub cpsr: u32,
    /// The fault address (HDFAR, HIFAR; 0 for an undefined instruction).
    pub addr: u32,
    /// r0-r12, the mode's SP and LR_usr at the trap.
    pub regs: [u32; 15],
}

/// What a vCPU's injected faults say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing to say.
    Go,
    /// The same fault [`REPEAT_LIMIT`] times in a row, nothing changed.
    Repeated { times: u32 },
    /// A prefetch abort on the address its own vector is at.
    VectorUnfetchable { vector: u32 },
}

/// A vCPU's last injected fault and how many times in a row it came.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FaultLoop {
    last: Option<Fault>,
    repeats: u32,
}

impl FaultLoop {
    pub const fn new() -> Self {
        FaultLoop {
            last: None,
            repeats: 0,
        }
    }

    /// Records injected fault `f`; `vector` is where the injected exception
    /// enters the guest (its new PC), `prefetch` whether it is a Prefetch
    /// Abort. [`Verdict::Repeated`] comes once, at the [`REPEAT_LIMIT`]th.
    pub fn injected(&mut self, f: Fault, vector: u32, prefetch: bool) -> Verdict {
        if prefetch && f.addr == vector {
            return Verdict::VectorUnfetchable { vector };
        }
        if self.last == Some(f) {
            self.repeats = self.repeats.saturating_add(1);
        } else {
            self.last = Some(f);
            self.repeats = 1;
        }
        if self.repeats == REPEAT_LIMIT {
            Verdict::Repeated {
                times: self.repeats,
            }
        } else {
            Verdict::Go
        }
    }

    /// How many times in a row the last fault came.
    pub fn repeats(&self) -> u32 {
        self.repeats
    }

    /// Forgets the last fault (the vCPU starts again).
    pub fn reset(&mut self) {
        *self = FaultLoop::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DABT: u32 = 0x24;
    const PABT: u32 = 0x20;

    fn fault(pc: u32, addr: u32, r0: u32) -> Fault {
        let mut regs = [0; 15];
        regs[0] = r0;
        Fault {
            class: DABT,
            pc,
            cpsr: 0x1d3,
            addr,
            regs,
        }
    }

    #[test]
    fn the_same_fault_with_nothing_changed_is_a_loop() {
        let mut l = FaultLoop::new();
        let f = fault(0x4000_1000, 0x1000_0000, 7);
        for _ in 1..REPEAT_LIMIT {
            assert_eq!(l.injected(f, 0x10, false), Verdict::Go);
        }
        assert_eq!(
            l.injected(f, 0x10, false),
            Verdict::Repeated {
                times: REPEAT_LIMIT
            }
        );
        // Said once, not at every fault after.
        for _ in 0..2 * REPEAT_LIMIT {
            assert_eq!(l.injected(f, 0x10, false), Verdict::Go);
        }
    }

    #[test]
    fn any_change_is_progress() {
        let base = fault(0x4000_1000, 0x1000_0000, 7);
        let changes = [
            fault(0x4000_1004, 0x1000_0000, 7),
            fault(0x4000_1000, 0x1000_0004, 7),
            fault(0x4000_1000, 0x1000_0000, 8),
            Fault {
                cpsr: 0x1d7,
                ..base
            },
            Fault {
                class: PABT,
                ..base
            },
            Fault {
                regs: {
                    let mut r = base.regs;
                    r[13] = 0x4000_0ff0; // the mode's SP
                    r
                },
                ..base
            },
        ];
        for other in changes {
            let mut l = FaultLoop::new();
            for i in 0..4 * REPEAT_LIMIT {
                let f = if i % 2 == 0 { base } else { other };
                assert_eq!(l.injected(f, 0x10, false), Verdict::Go, "{other:?}");
            }
        }
        // A probe loop: the same instruction, a new address each time.
        let mut l = FaultLoop::new();
        for i in 0..4 * REPEAT_LIMIT {
            assert_eq!(
                l.injected(fault(0x4000_1000, i << 12, i), 0x10, false),
                Verdict::Go
            );
        }
    }

    #[test]
    fn a_prefetch_abort_on_its_own_vector_ends_at_once() {
        let mut l = FaultLoop::new();
        let f = Fault {
            class: PABT,
            ..fault(0xc, 0xc, 0)
        };
        assert_eq!(
            l.injected(f, 0xc, true),
            Verdict::VectorUnfetchable { vector: 0xc }
        );
        // Elsewhere (the undefined vector, not fetchable either): the
        // injected prefetch abort goes to its own vector, which decides.
        let g = Fault {
            class: PABT,
            ..fault(0x4, 0x4, 0)
        };
        assert_eq!(l.injected(g, 0xc, true), Verdict::Go);
        // A data abort at the vector's address is an ordinary fault.
        assert_eq!(l.injected(fault(0xc, 0xc, 0), 0xc, false), Verdict::Go);
    }

    #[test]
    fn reset_forgets() {
        let mut l = FaultLoop::new();
        let f = fault(0x4000_1000, 0x1000_0000, 7);
        for _ in 1..REPEAT_LIMIT {
            l.injected(f, 0x10, false);
        }
        l.reset();
        assert_eq!(l.injected(f, 0x10, false), Verdict::Go);
        assert_eq!(l, {
            let mut m = FaultLoop::new();
            m.injected(f, 0x10, false);
            m
        });
    }
}
