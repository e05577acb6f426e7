//! The result of a guest address translation from HYP: the
//! `ATS12NSOPR`/`ATS12NSOPW` operations (`snowvisor_arch_armv7::at`) walk the
//! guest's current stage 1 and its stage 2, as the guest at PL1 would read or
//! write, and leave the result in PAR, decoded here.

use crate::sysreg::Par64;

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
    let p = Par64::new_with_raw_value(par);
    let off = u64::from(va & 0xfff);
    match (p.f(), p.lpae()) {
        (true, true) if p.fstage() => Translation::Stage2Fault,
        (true, _) => Translation::Stage1Fault,
        (false, true) => Translation::Pa((u64::from(p.pa_long().value()) << 12) | off),
        // A supersection, whose PA[39:32] PAR does not hold.
        (false, false) if p.ss() => Translation::Stage1Fault,
        (false, false) => Translation::Pa((u64::from(p.pa_short().value()) << 12) | off),
    }
}

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
