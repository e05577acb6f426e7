//! Where a trapped guest's general-purpose registers are while HYP handles
//! the trap (ARM DDI 0406C.d B1.3.2, Figure B1-2 "ARM core registers"; B9.2.1
//! for Hyp mode's own banked registers).
//!
//! Hyp mode banks only SP_hyp, SPSR_hyp and ELR_hyp: r0-r12 and LR at HYP
//! are the User-mode registers, which the exception vectors save in the
//! [`TrapFrame`](crate::frame::TrapFrame). What the guest's current mode
//! banks instead (its SP and LR; FIQ mode's r8-r12 too) HYP reaches with the
//! banked-register transfers MRS/MSR (Banked register), B9.3.9 and B9.3.12:
//! the registers of [`Banked`].

/// A guest register HYP reaches only by banked-register transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Banked {
    /// SP_usr: User and System mode's stack pointer.
    SpUsr,
    R8Fiq,
    R9Fiq,
    R10Fiq,
    R11Fiq,
    R12Fiq,
    SpFiq,
    LrFiq,
    SpIrq,
    LrIrq,
    SpSvc,
    LrSvc,
    SpAbt,
    LrAbt,
    SpUnd,
    LrUnd,
}

impl Banked {
    /// How many there are (for tables indexed by `Banked as usize`).
    pub const COUNT: usize = 16;

    /// The assembler's name (`sp_usr`, `r8_fiq`, ...), for reports.
    pub fn name(self) -> &'static str {
        use Banked::*;
        match self {
            SpUsr => "sp_usr",
            R8Fiq => "r8_fiq",
            R9Fiq => "r9_fiq",
            R10Fiq => "r10_fiq",
            R11Fiq => "r11_fiq",
            R12Fiq => "r12_fiq",
            SpFiq => "sp_fiq",
            LrFiq => "lr_fiq",
            SpIrq => "sp_irq",
            LrIrq => "lr_irq",
            SpSvc => "sp_svc",
            LrSvc => "lr_svc",
            SpAbt => "sp_abt",
            LrAbt => "lr_abt",
            SpUnd => "sp_und",
            LrUnd => "lr_und",
        }
    }
}

/// Where register `n` of the guest mode a trap came from is at HYP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// `TrapFrame::r[n]` (r0-r12 of every mode but FIQ's r8-r12).
    Frame(usize),
    /// `TrapFrame::lr`: LR_usr (User and System mode's LR).
    LrUsr,
    /// A register of the guest's mode HYP does not share.
    Banked(Banked),
}

/// Where register `n` (0-14) of guest mode `mode` (CPSR.M, the low 5 bits
/// of SPSR_hyp at the trap) is: the register a transfer to or from `n` in
/// that mode means (B1.3.2). `None` for the PC (15), for any `n` above, and
/// for the modes no Non-secure PL1 guest runs in (Monitor, Hyp) or that do
/// not exist.
pub fn locate(mode: u32, n: u32) -> Option<Location> {
    use Banked::*;
    const USR: u32 = 0x10;
    const FIQ: u32 = 0x11;
    const IRQ: u32 = 0x12;
    const SVC: u32 = 0x13;
    const ABT: u32 = 0x17;
    const UND: u32 = 0x1b;
    const SYS: u32 = 0x1f;
    let (sp, lr) = match mode & 0x1f {
        USR | SYS => (SpUsr, None),
        FIQ => (SpFiq, Some(LrFiq)),
        IRQ => (SpIrq, Some(LrIrq)),
        SVC => (SpSvc, Some(LrSvc)),
        ABT => (SpAbt, Some(LrAbt)),
        UND => (SpUnd, Some(LrUnd)),
        _ => return None,
    };
    let fiq = mode & 0x1f == FIQ;
    Some(match n {
        8..=12 if fiq => Location::Banked([R8Fiq, R9Fiq, R10Fiq, R11Fiq, R12Fiq][n as usize - 8]),
        0..=12 => Location::Frame(n as usize),
        13 => Location::Banked(sp),
        14 => lr.map_or(Location::LrUsr, Location::Banked),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_mode_banks_its_sp_and_lr() {
        for (mode, sp, lr) in [
            (0x13, Banked::SpSvc, Banked::LrSvc),
            (0x12, Banked::SpIrq, Banked::LrIrq),
            (0x17, Banked::SpAbt, Banked::LrAbt),
            (0x1b, Banked::SpUnd, Banked::LrUnd),
            (0x11, Banked::SpFiq, Banked::LrFiq),
        ] {
            assert_eq!(locate(mode, 13), Some(Location::Banked(sp)));
            assert_eq!(locate(mode, 14), Some(Location::Banked(lr)));
            assert_eq!(
                locate(mode | 0x1e0, 0),
                Some(Location::Frame(0)),
                "only M[4:0] counts"
            );
        }
        for mode in [0x10, 0x1f] {
            assert_eq!(locate(mode, 13), Some(Location::Banked(Banked::SpUsr)));
            assert_eq!(locate(mode, 14), Some(Location::LrUsr));
            assert_eq!(locate(mode, 12), Some(Location::Frame(12)));
        }
    }

    #[test]
    fn fiq_banks_r8_to_r12_and_nothing_reaches_pc_or_hyp() {
        assert_eq!(locate(0x11, 7), Some(Location::Frame(7)));
        assert_eq!(locate(0x11, 8), Some(Location::Banked(Banked::R8Fiq)));
        assert_eq!(locate(0x11, 12), Some(Location::Banked(Banked::R12Fiq)));
        assert_eq!(locate(0x13, 8), Some(Location::Frame(8)));
        assert_eq!(locate(0x13, 15), None);
        assert_eq!(locate(0x13, 16), None);
        for mode in [0x16, 0x1a, 0x00, 0x15] {
            assert_eq!(locate(mode, 0), None, "mode {mode:#x}");
        }
        assert_eq!(Banked::LrUnd as usize, Banked::COUNT - 1);
        assert_eq!(Banked::R10Fiq.name(), "r10_fiq");
    }
}
