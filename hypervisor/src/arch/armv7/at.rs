//! Guest address translation from HYP: the `ATS12NSOPR`/`ATS12NSOPW`
//! operations walk the guest's current stage 1 and its stage 2, as the guest
//! at PL1 would read or write, and leave the result in PAR. Also the TLB
//! invalidation a stage-2 change needs.
//!
//! The PAR decoding is pure (host-tested); the operations are target only.

/// What one address-translation operation found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Translation {
    /// The physical address (after stage 2) of the byte translated.
    Pa(u64),
    /// A stage-1 fault (no mapping, or no permission for this access).
    Stage1Fault,
    /// A stage-2 fault, including one on a stage-1 table walk.
    Stage2Fault,
}

/// Decodes a 64-bit PAR read after an `ATS12NSO*` operation for `va`.
///
/// With stage 2 enabled the result is in the long-descriptor format
/// (PAR.LPAE = 1): F in bit 0, FSTAGE in bit 8, PA[39:12] in bits 39:12. A
/// short-descriptor result (LPAE = 0) can only come from a guest with stage 2
/// off; it is decoded too (PA[31:12], supersections refused).
pub fn decode_par(par: u64, va: u32) -> Translation {
    let fault = par & 1 != 0;
    let lpae = par & (1 << 11) != 0;
    let off = u64::from(va & 0xfff);
    match (fault, lpae) {
        (true, true) if par & (1 << 8) != 0 => Translation::Stage2Fault,
        (true, _) => Translation::Stage1Fault,
        (false, true) => Translation::Pa((par & 0x00ff_ffff_f000) | off),
        // SS (bit 1): a supersection whose PA[39:32] PAR does not hold.
        (false, false) if par & (1 << 1) != 0 => Translation::Stage1Fault,
        (false, false) => Translation::Pa((par & 0xffff_f000) | off),
    }
}

#[cfg(target_arch = "arm")]
mod ops {
    use core::arch::asm;

    use super::{decode_par, Translation};

    fn read_par() -> u64 {
        let (lo, hi): (u32, u32);
        // SAFETY: reading the 64-bit PAR has no side effects.
        unsafe { asm!("mrrc p15, 0, {}, {}, c7", out(reg) lo, out(reg) hi, options(nostack)) };
        u64::from(lo) | (u64::from(hi) << 32)
    }

    fn write_par(v: u64) {
        // SAFETY: PAR only holds the result of the last translation; this puts
        // back the guest's value.
        unsafe {
            asm!("mcrr p15, 0, {}, {}, c7", in(reg) v as u32, in(reg) (v >> 32) as u32, options(nostack))
        };
    }

    /// Translates guest VA `va` as a PL1 read (or write) of the guest would,
    /// through its current stage 1 and stage 2. The guest's PAR is kept.
    pub fn translate_pl1(va: u32, write: bool) -> Translation {
        let saved = read_par();
        // SAFETY: ATS12NSOPR/ATS12NSOPW (p15, 0, c7, c8, 4/5; HYP only) only write
        // PAR; the guest's translation registers are live at HYP.
        unsafe {
            if write {
                asm!(".arch_extension virt", "mcr p15, 0, {}, c7, c8, 5", "isb", in(reg) va, options(nostack));
            } else {
                asm!(".arch_extension virt", "mcr p15, 0, {}, c7, c8, 4", "isb", in(reg) va, options(nostack));
            }
        }
        let par = read_par();
        write_par(saved);
        decode_par(par, va)
    }

    /// Invalidates all non-secure PL0/PL1 TLB entries (TLBIALLNSNH), after a
    /// stage-2 descriptor changed.
    pub fn flush_guest_tlb() {
        // SAFETY: TLB maintenance only; the barriers make the new tables visible
        // to the walker before the next guest access or AT operation.
        unsafe {
            asm!(".arch_extension virt", "dsb ishst", "mcr p15, 4, {}, c8, c7, 4", "dsb ish", "isb",
                 in(reg) 0u32, options(nostack))
        };
    }
}

#[cfg(target_arch = "arm")]
pub use ops::{flush_guest_tlb, translate_pl1};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_descriptor_results() {
        // PA 0x45678000, attributes in the top byte, NS, LPAE.
        let par = (0xffu64 << 56) | 0x4567_8000 | (1 << 11) | (1 << 9);
        assert_eq!(decode_par(par, 0xc123_4abc), Translation::Pa(0x4567_8abc));
        // A PA above 4 GiB survives.
        assert_eq!(
            decode_par(0x12_3456_7000 | (1 << 11), 0x10),
            Translation::Pa(0x12_3456_7010)
        );
        // Fault, stage 1 (FSTAGE = 0) and stage 2 (FSTAGE = 1).
        assert_eq!(
            decode_par((1 << 11) | (0x07 << 1) | 1, 0),
            Translation::Stage1Fault
        );
        assert_eq!(
            decode_par((1 << 11) | (1 << 8) | (0x07 << 1) | 1, 0),
            Translation::Stage2Fault
        );
    }

    #[test]
    fn short_descriptor_results() {
        assert_eq!(
            decode_par(0x4000_0000 | (1 << 9), 0x123),
            Translation::Pa(0x4000_0123)
        );
        assert_eq!(decode_par(0x4000_0000 | 2, 0), Translation::Stage1Fault);
        assert_eq!(decode_par(0x0000_000b, 0), Translation::Stage1Fault);
    }
}
