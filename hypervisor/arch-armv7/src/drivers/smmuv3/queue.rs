//! Queue index arithmetic (IHI 0070 §3.5): a PROD or CONS value holds the
//! index in its low `log2` bits and a wrap bit just above; the queue is empty
//! when both are equal and full when only the wrap bits differ. Pure.

/// Bit 31 of EVENTQ_PROD (OVFLG) and EVENTQ_CONS (OVACKFLG).
pub const OVERFLOW: u32 = 1 << 31;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ring {
    pub log2: u32,
}

impl Ring {
    pub const fn new(log2: u32) -> Self {
        Ring { log2 }
    }

    pub fn entries(&self) -> usize {
        1 << self.log2
    }

    /// The index and wrap bits of a register value; other bits dropped.
    pub fn pointer(&self, v: u32) -> u32 {
        v & ((2 << self.log2) - 1)
    }

    /// The slot a pointer names.
    pub fn slot(&self, v: u32) -> usize {
        (v & ((1 << self.log2) - 1)) as usize
    }

    fn wrap(&self, v: u32) -> bool {
        v & (1 << self.log2) != 0
    }

    pub fn is_empty(&self, prod: u32, cons: u32) -> bool {
        self.pointer(prod) == self.pointer(cons)
    }

    pub fn is_full(&self, prod: u32, cons: u32) -> bool {
        self.slot(prod) == self.slot(cons) && self.wrap(prod) != self.wrap(cons)
    }

    /// Entries between `cons` and `prod`.
    pub fn used(&self, prod: u32, cons: u32) -> usize {
        let n = 1u32 << self.log2;
        let p = self.pointer(prod);
        let c = self.pointer(cons);
        (p.wrapping_sub(c) & ((2 * n) - 1)) as usize
    }

    pub fn free(&self, prod: u32, cons: u32) -> usize {
        self.entries() - self.used(prod, cons).min(self.entries())
    }

    /// The pointer after `v`, toggling the wrap bit at the end.
    pub fn next(&self, v: u32) -> u32 {
        self.pointer(self.pointer(v) + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_and_fills() {
        let r = Ring::new(2);
        assert_eq!(r.entries(), 4);
        let mut p = 0;
        for _ in 0..4 {
            p = r.next(p);
        }
        assert_eq!(p, 0b100, "wrap bit set, index 0");
        assert!(r.is_full(p, 0) && !r.is_empty(p, 0));
        assert_eq!((r.used(p, 0), r.free(p, 0)), (4, 0));
        assert_eq!(r.next(0b111), 0, "index 3 with wrap -> index 0 without");
        assert!(r.is_empty(0b101, 0b101));
        assert_eq!(r.used(0b001, 0b110), 3);
        assert_eq!(r.free(0b001, 0b110), 1);
        assert_eq!(r.slot(0b110), 2);
    }

    #[test]
    fn overflow_flag_is_not_part_of_the_pointer() {
        let r = Ring::new(7);
        let prod = OVERFLOW | 5;
        assert_eq!(r.pointer(prod), 5);
        assert!(r.is_empty(prod, 5));
        assert_eq!(r.used(prod, 2), 3);
    }
}
