//! The guest's GICv2 distributor, emulated for one vCPU.
//!
//! Registers keep the guest's view. For interrupts the guest owns (passed-through
//! SPIs, its virtual timer PPI) enables and trigger configuration are forwarded
//! to the physical distributor through [`PhysGic`]; SGIs and software-pending
//! interrupts are injected through the callback.

use snowvisor_arm::gic::gicd::*;
use snowvisor_arm::gic::{SGIR, SPURIOUS};

/// What the virtual distributor needs from the physical one.
pub trait PhysGic {
    fn set_enabled(&mut self, intid: u32, on: bool);
    fn set_edge_triggered(&mut self, intid: u32, edge: bool);
}

pub const MAX_LINES: u32 = SPURIOUS;
const WORDS: usize = 32;

/// The emulated distributor.
pub struct VDist {
    lines: u32,
    iidr: u32,
    ctlr: u32,
    enable: [u32; WORDS],
    active: [u32; WORDS],
    group: [u32; WORDS],
    owned: [u32; WORDS],
    priority: [u8; MAX_LINES as usize],
    config: [u32; 2 * WORDS],
}

fn bit(intid: u32) -> (usize, u32) {
    ((intid / 32) as usize, 1 << (intid % 32))
}

impl VDist {
    /// `lines` as the physical GICD_TYPER reports, `iidr` the physical GICD_IIDR.
    pub fn new(lines: u32, iidr: u32) -> Self {
        let mut d = VDist {
            lines: lines.clamp(32, MAX_LINES),
            iidr,
            ctlr: 0,
            enable: [0; WORDS],
            active: [0; WORDS],
            group: [0; WORDS],
            owned: [0; WORDS],
            priority: [0; MAX_LINES as usize],
            config: [0; 2 * WORDS],
        };
        // SGIs are always enabled and edge-triggered (ICFGR0 reads 0xaaaaaaaa).
        d.enable[0] = 0xffff;
        d.config[0] = 0xaaaa_aaaa;
        d
    }

    pub fn lines(&self) -> u32 {
        self.lines
    }

    /// Gives the guest a physical interrupt (passthrough or its virtual timer).
    pub fn give(&mut self, intid: u32) {
        if intid < self.lines {
            let (w, b) = bit(intid);
            self.owned[w] |= b;
        }
    }

    pub fn owns(&self, intid: u32) -> bool {
        let (w, b) = bit(intid);
        intid < self.lines && self.owned[w] & b != 0
    }

    pub fn enabled(&self, intid: u32) -> bool {
        let (w, b) = bit(intid);
        self.ctlr & 1 != 0 && intid < self.lines && self.enable[w] & b != 0
    }

    pub fn priority(&self, intid: u32) -> u8 {
        self.priority.get(intid as usize).copied().unwrap_or(0xff)
    }

    /// A 32-bit or 8-bit read at `off`; None for an access the GIC does not allow.
    pub fn read(&self, off: u32, size: u32) -> Option<u32> {
        let words = (self.lines / 32) as usize;
        let word = |a: &[u32], base: u32| {
            a.get(((off - base) / 4) as usize)
                .copied()
                .filter(|_| ((off - base) / 4) < words as u32)
                .or(Some(0))
        };
        match (off, size) {
            (CTLR, 4) => Some(self.ctlr),
            (TYPER, 4) => Some(self.lines / 32 - 1),
            (IIDR, 4) => Some(self.iidr),
            (IGROUPR..=IGROUPR_LAST, 4) => word(&self.group, IGROUPR),
            (ISENABLER..=ISENABLER_LAST, 4) => word(&self.enable, ISENABLER),
            (ICENABLER..=ICENABLER_LAST, 4) => word(&self.enable, ICENABLER),
            // Pending state lives in the list registers; the distributor view reads 0.
            (ISPENDR..=ICPENDR_LAST, 4) => Some(0),
            (ISACTIVER..=ISACTIVER_LAST, 4) => word(&self.active, ISACTIVER),
            (ICACTIVER..=ICACTIVER_LAST, 4) => word(&self.active, ICACTIVER),
            (IPRIORITYR..=IPRIORITYR_LAST_BYTE, 1 | 4) => {
                Some(self.bytes(off - IPRIORITYR, size, |i| self.priority(i) as u32))
            }
            // One CPU: every implemented interrupt targets CPU 0.
            (ITARGETSR..=ITARGETSR_LAST_BYTE, 1 | 4) => {
                Some(self.bytes(off - ITARGETSR, size, |i| (i < self.lines) as u32))
            }
            (ICFGR..=ICFGR_LAST, 4) => self.config.get(((off - ICFGR) / 4) as usize).copied(),
            (PENDSGIR..=PENDSGIR_LAST, 4) => Some(0),
            // Peripheral ID2: ArchRev 2 (GICv2) in bits 7:4, as the
            // specification's example value 0x2b.
            (PIDR2, 4) => Some(0x2b),
            (OTHER..=OTHER_LAST, 4) => Some(0),
            _ => None,
        }
    }

    fn bytes(&self, first: u32, size: u32, f: impl Fn(u32) -> u32) -> u32 {
        (0..size).fold(0, |acc, i| acc | (f(first + i) & 0xff) << (8 * i))
    }

    /// A write; returns false for an access the GIC does not allow. `inject`
    /// receives interrupts that become pending by software (SGIs, ISPENDR).
    pub fn write(
        &mut self,
        off: u32,
        size: u32,
        val: u32,
        phys: &mut dyn PhysGic,
        inject: &mut dyn FnMut(u32),
    ) -> bool {
        let idx = |base: u32| ((off - base) / 4) as usize;
        match (off, size) {
            (CTLR, 4) => self.ctlr = val & 1,
            (TYPER..=IIDR, 4) => {}
            (IGROUPR..=IGROUPR_LAST, 4) => {
                if let Some(g) = self.group.get_mut(idx(IGROUPR)) {
                    *g = val;
                }
            }
            (ISENABLER..=ISENABLER_LAST, 4) => self.set_enables(idx(ISENABLER), val, true, phys),
            (ICENABLER..=ICENABLER_LAST, 4) => self.set_enables(idx(ICENABLER), val, false, phys),
            (ISPENDR..=ISPENDR_LAST, 4) => {
                for i in bits(val) {
                    let intid = idx(ISPENDR) as u32 * 32 + i;
                    if intid < self.lines {
                        inject(intid);
                    }
                }
            }
            (ICPENDR..=ICPENDR_LAST, 4) => {}
            (ISACTIVER..=ISACTIVER_LAST, 4) => {
                if let Some(a) = self.active.get_mut(idx(ISACTIVER)) {
                    *a |= val;
                }
            }
            (ICACTIVER..=ICACTIVER_LAST, 4) => {
                if let Some(a) = self.active.get_mut(idx(ICACTIVER)) {
                    *a &= !val;
                }
            }
            (IPRIORITYR..=IPRIORITYR_LAST_BYTE, 1 | 4) => {
                for i in 0..size {
                    if let Some(p) = self.priority.get_mut((off - IPRIORITYR + i) as usize) {
                        *p = (val >> (8 * i)) as u8;
                    }
                }
            }
            (ITARGETSR..=ITARGETSR_LAST_BYTE, 1 | 4) => {}
            (ICFGR..=ICFGR_LAST, 4) => self.set_config(idx(ICFGR), val, phys),
            (SGIR, 4) => self.sgir(val, inject),
            (PENDSGIR..=PENDSGIR_LAST, 4) => {}
            (OTHER..=OTHER_LAST, 4) => {}
            _ => return false,
        }
        true
    }

    fn set_enables(&mut self, w: usize, val: u32, on: bool, phys: &mut dyn PhysGic) {
        if w >= (self.lines / 32) as usize {
            return;
        }
        // SGIs stay enabled.
        let val = if w == 0 { val & !0xffff } else { val };
        for i in bits(val) {
            let intid = w as u32 * 32 + i;
            if self.owns(intid) {
                phys.set_enabled(intid, on);
            }
        }
        if on {
            self.enable[w] |= val;
        } else {
            self.enable[w] &= !val;
        }
    }

    fn set_config(&mut self, w: usize, val: u32, phys: &mut dyn PhysGic) {
        // ICFGR0 (SGIs) is read-only; ICFGR1 (PPIs) is implementation defined: keep it.
        if w < 2 || w >= (self.lines / 16) as usize {
            return;
        }
        // Only the edge bit (odd bits) is writable.
        let val = val & 0xaaaa_aaaa;
        for f in 0..16 {
            let intid = w as u32 * 16 + f;
            let edge = val & (2 << (2 * f)) != 0;
            if self.owns(intid) && (self.config[w] & (2 << (2 * f)) != 0) != edge {
                phys.set_edge_triggered(intid, edge);
            }
        }
        self.config[w] = val;
    }

    fn sgir(&mut self, val: u32, inject: &mut dyn FnMut(u32)) {
        let r = tock_registers::LocalRegisterCopy::<u32, SGIR::Register>::new(val);
        let to_self = match r.read_as_enum(SGIR::TARGET_LIST_FILTER) {
            // Target list: CPU 0 is the only CPU.
            Some(SGIR::TARGET_LIST_FILTER::Value::List) => r.read(SGIR::CPU_TARGET_LIST) & 1 != 0,
            Some(SGIR::TARGET_LIST_FILTER::Value::SelfOnly) => true,
            // "All but self" reaches no one; 0b11 is reserved.
            _ => false,
        };
        if to_self {
            inject(r.read(SGIR::SGIINTID));
        }
    }
}

fn bits(v: u32) -> impl Iterator<Item = u32> {
    (0..32).filter(move |i| v & (1 << i) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[derive(Default)]
    struct Rec(Vec<(u32, bool)>, Vec<(u32, bool)>);
    impl PhysGic for Rec {
        fn set_enabled(&mut self, i: u32, on: bool) {
            self.0.push((i, on));
        }
        fn set_edge_triggered(&mut self, i: u32, e: bool) {
            self.1.push((i, e));
        }
    }

    #[test]
    fn enables_forward_only_owned_interrupts() {
        let mut d = VDist::new(288, 0x0200_043b);
        d.give(33);
        d.give(27);
        let (mut p, mut inj) = (Rec::default(), Vec::new());
        assert!(d.write(0x000, 4, 1, &mut p, &mut |i| inj.push(i)));
        assert!(d.write(0x104, 4, 0b11, &mut p, &mut |i| inj.push(i))); // SPI 32, 33
        assert!(d.write(0x100, 4, 1 << 27, &mut p, &mut |i| inj.push(i)));
        assert_eq!(p.0, [(33, true), (27, true)]);
        assert!(d.enabled(32) && d.enabled(33) && d.enabled(27));
        assert_eq!(d.read(0x104, 4), Some(0b11));
        assert!(d.write(0x184, 4, 0b10, &mut p, &mut |i| inj.push(i)));
        assert_eq!(p.0.last(), Some(&(33, false)));
        assert!(!d.enabled(33));
        assert_eq!(d.read(0x004, 4), Some(8));
        assert_eq!(d.read(0x008, 4), Some(0x0200_043b));
    }

    #[test]
    fn priorities_targets_bytes() {
        let mut d = VDist::new(64, 0);
        let mut p = Rec::default();
        assert!(d.write(0x420, 4, 0xa0b0c0d0, &mut p, &mut |_| {}));
        assert!(d.write(0x421, 1, 0x11, &mut p, &mut |_| {}));
        assert_eq!(d.read(0x420, 4), Some(0xa0b0_11d0));
        assert_eq!(d.priority(33), 0x11);
        assert_eq!(d.read(0x820, 4), Some(0x0101_0101));
        assert_eq!(d.read(0x850, 4), Some(0)); // beyond the 64 lines
                                               // Half-word access is not allowed.
        assert_eq!(d.read(0x420, 2), None);
        assert!(!d.write(0x420, 2, 0, &mut p, &mut |_| {}));
        // Unaligned/unknown offsets outside the map.
        assert_eq!(d.read(0x1000, 4), None);
    }

    #[test]
    fn sgis_and_software_pending_inject() {
        let mut d = VDist::new(64, 0);
        let (mut p, mut inj) = (Rec::default(), Vec::new());
        d.write(0xf00, 4, (1 << 16) | 3, &mut p, &mut |i| inj.push(i));
        d.write(0xf00, 4, (2 << 24) | 5, &mut p, &mut |i| inj.push(i));
        d.write(0xf00, 4, (1 << 24) | 6, &mut p, &mut |i| inj.push(i));
        d.write(0x204, 4, 1 << 2, &mut p, &mut |i| inj.push(i));
        assert_eq!(inj, [3, 5, 34]);
        // SGI enables cannot be cleared.
        d.write(0x180, 4, 0xffff_ffff, &mut p, &mut |_| {});
        assert_eq!(d.read(0x100, 4), Some(0xffff));
    }

    #[test]
    fn config_forwarded_for_owned_spis() {
        let mut d = VDist::new(64, 0);
        d.give(33);
        let mut p = Rec::default();
        d.write(0xc08, 4, 0b1100, &mut p, &mut |_| {}); // SPI 33 edge
        assert_eq!(p.1, [(33, true)]);
        assert_eq!(d.read(0xc08, 4), Some(0b1000));
        assert_eq!(d.read(0xc00, 4), Some(0xaaaa_aaaa));
    }
}
