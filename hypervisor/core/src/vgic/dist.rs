//! The guest's GICv2 distributor, emulated for a domain's vCPUs.
//!
//! Registers keep the guest's view. The SGI and PPI part (INTIDs 0-31) is
//! banked per vCPU, as the GIC banks it per CPU interface (GIC architecture
//! spec 4.3: ISENABLER0, ICENABLER0, ISACTIVER0, IGROUPR0, IPRIORITYR0-7;
//! ITARGETSR0-7 read as the accessing CPU's own bit); the rest is shared.
//! For interrupts the guest owns (passed-through SPIs, its virtual timer
//! PPI) enables, trigger configuration and SPI targets are forwarded to the
//! physical distributor through [`PhysGic`]; SGIs and software-pending
//! interrupts go to the callback with the vCPU they are for.

use alloc::vec::Vec;

use snowvisor_arm::gic::gicd::*;
use snowvisor_arm::gic::{SGIR, SPURIOUS};

/// What the virtual distributor needs from the physical one.
pub trait PhysGic {
    fn set_enabled(&mut self, intid: u32, on: bool);
    fn set_edge_triggered(&mut self, intid: u32, edge: bool);
    /// SPI `intid` now targets the vCPUs in `vcpus` (bit n: vCPU n).
    fn set_targets(&mut self, _intid: u32, _vcpus: u8) {}
}

pub const MAX_LINES: u32 = SPURIOUS;
const WORDS: usize = 32;
/// vCPUs a distributor serves: GICv2 has 8 CPU interfaces.
pub const MAX_VCPUS: usize = 8;

/// One vCPU's banked SGI/PPI state.
#[derive(Clone)]
struct Banked {
    enable: u32,
    active: u32,
    group: u32,
    priority: [u8; 32],
}

impl Default for Banked {
    fn default() -> Self {
        // SGIs are always enabled.
        Banked {
            enable: 0xffff,
            active: 0,
            group: 0,
            priority: [0; 32],
        }
    }
}

/// The emulated distributor.
pub struct VDist {
    lines: u32,
    iidr: u32,
    ctlr: u32,
    /// Words 1.. (SPIs); word 0 is banked.
    enable: [u32; WORDS],
    active: [u32; WORDS],
    group: [u32; WORDS],
    owned: [u32; WORDS],
    /// Bytes 32.. (SPIs); 0-31 are banked.
    priority: [u8; MAX_LINES as usize],
    /// Each SPI's target vCPUs (bit n: vCPU n).
    targets: [u8; MAX_LINES as usize],
    config: [u32; 2 * WORDS],
    banked: Vec<Banked>,
}

fn bit(intid: u32) -> (usize, u32) {
    ((intid / 32) as usize, 1 << (intid % 32))
}

impl VDist {
    /// `lines` as the physical GICD_TYPER reports, `iidr` the physical
    /// GICD_IIDR, for `vcpus` vCPUs (1 to [`MAX_VCPUS`]).
    pub fn new(lines: u32, iidr: u32, vcpus: usize) -> Self {
        let mut d = VDist {
            lines: lines.clamp(32, MAX_LINES),
            iidr,
            ctlr: 0,
            enable: [0; WORDS],
            active: [0; WORDS],
            group: [0; WORDS],
            owned: [0; WORDS],
            priority: [0; MAX_LINES as usize],
            targets: [1; MAX_LINES as usize],
            config: [0; 2 * WORDS],
            banked: alloc::vec![Banked::default(); vcpus.clamp(1, MAX_VCPUS)],
        };
        // SGIs are edge-triggered (ICFGR0 reads 0xaaaaaaaa).
        d.config[0] = 0xaaaa_aaaa;
        d
    }

    pub fn lines(&self) -> u32 {
        self.lines
    }

    /// How many vCPUs it serves.
    pub fn vcpus(&self) -> usize {
        self.banked.len()
    }

    fn bank(&self, vcpu: usize) -> &Banked {
        &self.banked[vcpu.min(self.banked.len() - 1)]
    }

    fn bank_mut(&mut self, vcpu: usize) -> &mut Banked {
        let last = self.banked.len() - 1;
        &mut self.banked[vcpu.min(last)]
    }

    /// Puts `vcpu`'s banked SGI/PPI state (enables, active, group,
    /// priorities) back to its reset values, as its CPU interface has them
    /// coming out of power-down (PSCI CPU_ON): SGIs enabled, the rest 0.
    pub fn reset_bank(&mut self, vcpu: usize) {
        *self.bank_mut(vcpu) = Banked::default();
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

    /// Whether `intid` is enabled for `vcpu` (distributor on, the
    /// interrupt's enable bit: `vcpu`'s own for an SGI or PPI).
    pub fn enabled(&self, vcpu: usize, intid: u32) -> bool {
        let (w, b) = bit(intid);
        let word = if w == 0 {
            self.bank(vcpu).enable
        } else {
            self.enable[w]
        };
        self.ctlr & 1 != 0 && intid < self.lines && word & b != 0
    }

    /// The priority of `intid` (`vcpu`'s own for an SGI or PPI).
    pub fn priority(&self, vcpu: usize, intid: u32) -> u8 {
        match intid {
            0..32 => self.bank(vcpu).priority[intid as usize],
            _ => self.priority.get(intid as usize).copied().unwrap_or(0xff),
        }
    }

    /// The vCPU an SPI goes to: the lowest in its targets (vCPU 0 if none
    /// is a vCPU of the domain).
    pub fn spi_target(&self, intid: u32) -> usize {
        let t = self.targets.get(intid as usize).copied().unwrap_or(1) & self.vcpu_mask();
        if t == 0 {
            0
        } else {
            t.trailing_zeros() as usize
        }
    }

    fn vcpu_mask(&self) -> u8 {
        (((1u16 << self.banked.len()) - 1) & 0xff) as u8
    }

    /// A 32-bit or 8-bit read at `off` by `vcpu`; None for an access the
    /// GIC does not allow.
    pub fn read(&self, vcpu: usize, off: u32, size: u32) -> Option<u32> {
        let words = (self.lines / 32) as usize;
        let b = self.bank(vcpu);
        let word = |a: &[u32], banked: u32, base: u32| {
            let i = ((off - base) / 4) as usize;
            match i {
                0 => Some(banked),
                i if i < words => a.get(i).copied().or(Some(0)),
                _ => Some(0),
            }
        };
        match (off, size) {
            (CTLR, 4) => Some(self.ctlr),
            // ITLinesNumber and CPUNumber (bits 7:5: vCPUs - 1).
            (TYPER, 4) => Some((self.lines / 32 - 1) | ((self.banked.len() as u32 - 1) << 5)),
            (IIDR, 4) => Some(self.iidr),
            (IGROUPR..=IGROUPR_LAST, 4) => word(&self.group, b.group, IGROUPR),
            (ISENABLER..=ISENABLER_LAST, 4) => word(&self.enable, b.enable, ISENABLER),
            (ICENABLER..=ICENABLER_LAST, 4) => word(&self.enable, b.enable, ICENABLER),
            // Pending state lives in the list registers; the distributor view reads 0.
            (ISPENDR..=ICPENDR_LAST, 4) => Some(0),
            (ISACTIVER..=ISACTIVER_LAST, 4) => word(&self.active, b.active, ISACTIVER),
            (ICACTIVER..=ICACTIVER_LAST, 4) => word(&self.active, b.active, ICACTIVER),
            (IPRIORITYR..=IPRIORITYR_LAST_BYTE, 1 | 4) => {
                // Unimplemented interrupts' bytes are RAZ/WI (4.3.11).
                Some(self.bytes(off - IPRIORITYR, size, |i| {
                    if i < self.lines {
                        u32::from(self.priority(vcpu, i))
                    } else {
                        0
                    }
                }))
            }
            // SGIs and PPIs: the reading vCPU's own bit (4.3.12); SPIs: their targets.
            (ITARGETSR..=ITARGETSR_LAST_BYTE, 1 | 4) => {
                Some(self.bytes(off - ITARGETSR, size, |i| match i {
                    0..32 => 1 << vcpu.min(7),
                    i if i < self.lines => u32::from(self.targets[i as usize]),
                    _ => 0,
                }))
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

    /// A write by `vcpu`; returns false for an access the GIC does not
    /// allow. `inject(vcpu, intid)` receives interrupts that become pending
    /// by software (SGIs, ISPENDR) and the vCPU each is for.
    pub fn write(
        &mut self,
        vcpu: usize,
        off: u32,
        size: u32,
        val: u32,
        phys: &mut dyn PhysGic,
        inject: &mut dyn FnMut(usize, u32),
    ) -> bool {
        let idx = |base: u32| ((off - base) / 4) as usize;
        match (off, size) {
            (CTLR, 4) => self.ctlr = val & 1,
            (TYPER..=IIDR, 4) => {}
            (IGROUPR..=IGROUPR_LAST, 4) => match idx(IGROUPR) {
                0 => self.bank_mut(vcpu).group = val,
                i => {
                    if let Some(g) = self.group.get_mut(i) {
                        *g = val;
                    }
                }
            },
            (ISENABLER..=ISENABLER_LAST, 4) => {
                self.set_enables(vcpu, idx(ISENABLER), val, true, phys)
            }
            (ICENABLER..=ICENABLER_LAST, 4) => {
                self.set_enables(vcpu, idx(ICENABLER), val, false, phys)
            }
            (ISPENDR..=ISPENDR_LAST, 4) => {
                for i in bits(val) {
                    let intid = idx(ISPENDR) as u32 * 32 + i;
                    // SGIs' bits are read-only in GICv2 (IHI 0048B 4.3.7:
                    // GICD_SPENDSGIRn sets SGIs pending, not this register).
                    if intid < 16 {
                        continue;
                    } else if intid < 32 {
                        inject(vcpu, intid);
                    } else if intid < self.lines {
                        inject(self.spi_target(intid), intid);
                    }
                }
            }
            (ICPENDR..=ICPENDR_LAST, 4) => {}
            (ISACTIVER..=ISACTIVER_LAST, 4) => match idx(ISACTIVER) {
                0 => self.bank_mut(vcpu).active |= val,
                i => {
                    if let Some(a) = self.active.get_mut(i) {
                        *a |= val;
                    }
                }
            },
            (ICACTIVER..=ICACTIVER_LAST, 4) => match idx(ICACTIVER) {
                0 => self.bank_mut(vcpu).active &= !val,
                i => {
                    if let Some(a) = self.active.get_mut(i) {
                        *a &= !val;
                    }
                }
            },
            (IPRIORITYR..=IPRIORITYR_LAST_BYTE, 1 | 4) => {
                for i in 0..size {
                    let intid = (off - IPRIORITYR + i) as usize;
                    let p = (val >> (8 * i)) as u8;
                    if intid < 32 {
                        self.bank_mut(vcpu).priority[intid] = p;
                    } else if intid >= self.lines as usize {
                        // Unimplemented: RAZ/WI (4.3.11).
                    } else if let Some(slot) = self.priority.get_mut(intid) {
                        *slot = p;
                    }
                }
            }
            (ITARGETSR..=ITARGETSR_LAST_BYTE, 1 | 4) => {
                let mask = self.vcpu_mask();
                for i in 0..size {
                    let intid = off - ITARGETSR + i;
                    if intid < 32 || intid >= self.lines {
                        continue;
                    }
                    let t = (val >> (8 * i)) as u8 & mask;
                    if self.targets[intid as usize] != t {
                        self.targets[intid as usize] = t;
                        if self.owns(intid) && t != 0 {
                            phys.set_targets(intid, t);
                        }
                    }
                }
            }
            (ICFGR..=ICFGR_LAST, 4) => self.set_config(idx(ICFGR), val, phys),
            (SGIR, 4) => self.sgir(vcpu, val, inject),
            (PENDSGIR..=PENDSGIR_LAST, 4) => {}
            (OTHER..=OTHER_LAST, 4) => {}
            _ => return false,
        }
        true
    }

    fn set_enables(&mut self, vcpu: usize, w: usize, val: u32, on: bool, phys: &mut dyn PhysGic) {
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
        let word = if w == 0 {
            &mut self.bank_mut(vcpu).enable
        } else {
            &mut self.enable[w]
        };
        if on {
            *word |= val;
        } else {
            *word &= !val;
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

    /// GICD_SGIR (4.3.15): the SGI goes to the target list's vCPUs, to all
    /// but the writer, or to the writer only; 0b11 is reserved (nothing).
    fn sgir(&mut self, vcpu: usize, val: u32, inject: &mut dyn FnMut(usize, u32)) {
        let r = tock_registers::LocalRegisterCopy::<u32, SGIR::Register>::new(val);
        let me = 1u8 << vcpu.min(7);
        let targets = match r.read_as_enum(SGIR::TARGET_LIST_FILTER) {
            Some(SGIR::TARGET_LIST_FILTER::Value::List) => r.read(SGIR::CPU_TARGET_LIST) as u8,
            Some(SGIR::TARGET_LIST_FILTER::Value::SelfOnly) => me,
            Some(SGIR::TARGET_LIST_FILTER::Value::AllButSelf) => !me,
            _ => 0,
        } & self.vcpu_mask();
        let sgi = r.read(SGIR::SGIINTID);
        for t in 0..self.banked.len() {
            if targets & (1 << t) != 0 {
                inject(t, sgi);
            }
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
    struct Rec(Vec<(u32, bool)>, Vec<(u32, bool)>, Vec<(u32, u8)>);
    impl PhysGic for Rec {
        fn set_enabled(&mut self, i: u32, on: bool) {
            self.0.push((i, on));
        }
        fn set_edge_triggered(&mut self, i: u32, e: bool) {
            self.1.push((i, e));
        }
        fn set_targets(&mut self, i: u32, v: u8) {
            self.2.push((i, v));
        }
    }

    #[test]
    fn enables_forward_only_owned_interrupts() {
        let mut d = VDist::new(288, 0x0200_043b, 1);
        d.give(33);
        d.give(27);
        let (mut p, mut inj) = (Rec::default(), Vec::new());
        assert!(d.write(0, 0x000, 4, 1, &mut p, &mut |_, i| inj.push(i)));
        assert!(d.write(0, 0x104, 4, 0b11, &mut p, &mut |_, i| inj.push(i))); // SPI 32, 33
        assert!(d.write(0, 0x100, 4, 1 << 27, &mut p, &mut |_, i| inj.push(i)));
        assert_eq!(p.0, [(33, true), (27, true)]);
        assert!(d.enabled(0, 32) && d.enabled(0, 33) && d.enabled(0, 27));
        assert_eq!(d.read(0, 0x104, 4), Some(0b11));
        assert!(d.write(0, 0x184, 4, 0b10, &mut p, &mut |_, i| inj.push(i)));
        assert_eq!(p.0.last(), Some(&(33, false)));
        assert!(!d.enabled(0, 33));
        assert_eq!(d.read(0, 0x004, 4), Some(8));
        assert_eq!(d.read(0, 0x008, 4), Some(0x0200_043b));
    }

    #[test]
    fn priorities_targets_bytes() {
        let mut d = VDist::new(64, 0, 1);
        let mut p = Rec::default();
        assert!(d.write(0, 0x420, 4, 0xa0b0c0d0, &mut p, &mut |_, _| {}));
        assert!(d.write(0, 0x421, 1, 0x11, &mut p, &mut |_, _| {}));
        assert_eq!(d.read(0, 0x420, 4), Some(0xa0b0_11d0));
        assert_eq!(d.priority(0, 33), 0x11);
        assert_eq!(d.read(0, 0x820, 4), Some(0x0101_0101));
        assert_eq!(d.read(0, 0x850, 4), Some(0)); // beyond the 64 lines
        assert!(d.write(0, 0x4f8, 4, 0xa0a0_a0a0, &mut p, &mut |_, _| {}));
        assert_eq!(
            d.read(0, 0x4f8, 4),
            Some(0),
            "unimplemented priorities are RAZ/WI"
        );
        // Half-word access is not allowed.
        assert_eq!(d.read(0, 0x420, 2), None);
        assert!(!d.write(0, 0x420, 2, 0, &mut p, &mut |_, _| {}));
        // Unaligned/unknown offsets outside the map.
        assert_eq!(d.read(0, 0x1000, 4), None);
    }

    #[test]
    fn sgis_and_software_pending_inject() {
        let mut d = VDist::new(64, 0, 1);
        let (mut p, mut inj) = (Rec::default(), Vec::new());
        d.write(0, 0xf00, 4, (1 << 16) | 3, &mut p, &mut |_, i| inj.push(i));
        d.write(0, 0xf00, 4, (2 << 24) | 5, &mut p, &mut |_, i| inj.push(i));
        d.write(0, 0xf00, 4, (1 << 24) | 6, &mut p, &mut |_, i| inj.push(i));
        d.write(0, 0x204, 4, 1 << 2, &mut p, &mut |_, i| inj.push(i));
        assert_eq!(inj, [3, 5, 34]);
        // SGI enables cannot be cleared.
        d.write(0, 0x180, 4, 0xffff_ffff, &mut p, &mut |_, _| {});
        assert_eq!(d.read(0, 0x100, 4), Some(0xffff));
    }

    #[test]
    fn config_forwarded_for_owned_spis() {
        let mut d = VDist::new(64, 0, 1);
        d.give(33);
        let mut p = Rec::default();
        d.write(0, 0xc08, 4, 0b1100, &mut p, &mut |_, _| {}); // SPI 33 edge
        assert_eq!(p.1, [(33, true)]);
        assert_eq!(d.read(0, 0xc08, 4), Some(0b1000));
        assert_eq!(d.read(0, 0xc00, 4), Some(0xaaaa_aaaa));
    }

    #[test]
    fn sgis_and_ppis_are_banked_per_vcpu_spis_shared_and_routed() {
        let mut d = VDist::new(64, 0, 2);
        d.give(27);
        d.give(33);
        let mut p = Rec::default();
        let mut t = Vec::new();
        d.write(0, 0x000, 4, 1, &mut p, &mut |_, _| {});
        // vCPU 1 enables PPI 27 and sets its priority; vCPU 0 sees neither.
        d.write(1, 0x100, 4, 1 << 27, &mut p, &mut |_, _| {});
        d.write(1, 0x41b, 1, 0x40, &mut p, &mut |_, _| {});
        assert!(d.enabled(1, 27) && !d.enabled(0, 27));
        assert_eq!((d.priority(1, 27), d.priority(0, 27)), (0x40, 0));
        assert_eq!(d.read(0, 0x100, 4), Some(0xffff));
        assert_eq!(d.read(1, 0x100, 4), Some(0xffff | 1 << 27));
        // ITARGETSR0-7: the reader's own bit; TYPER.CPUNumber = 1.
        assert_eq!(d.read(1, 0x800, 4), Some(0x0202_0202));
        assert_eq!(d.read(0, 0x004, 4), Some(1 | 1 << 5));
        // An owned SPI's targets go to the physical GIC; a vCPU that does
        // not exist is dropped from them.
        d.write(0, 0x820, 4, 0x0000_0601, &mut p, &mut |_, _| {});
        assert_eq!(d.read(0, 0x820, 4), Some(0x0000_0201));
        assert_eq!(p.2, [(33, 2)]);
        assert_eq!(d.spi_target(33), 1);
        // SGIR: all but self from vCPU 1 reaches vCPU 0 only.
        d.write(1, 0xf00, 4, (1 << 24) | 7, &mut p, &mut |v, i| {
            t.push((v, i))
        });
        assert_eq!(t, [(0, 7)]);
        // ISPENDR of SPI 33 goes to its target.
        d.write(0, 0x204, 4, 1 << 1, &mut p, &mut |v, i| t.push((v, i)));
        assert_eq!(t[1], (1, 33));
        // ISPENDR0's SGI bits are read-only: only the PPI is set pending.
        d.write(1, 0x200, 4, (1 << 3) | (1 << 27), &mut p, &mut |v, i| {
            t.push((v, i))
        });
        assert_eq!(t[2..], [(1, 27)]);
    }
}
