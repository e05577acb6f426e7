//! The register frame the exception vectors push at HYP.

/// Saved on every exception taken to HYP, in this order by `entry.rs`.
/// In HYP mode r14 is the User-mode LR (HYP has no banked LR), so for a
/// trap from a guest `lr` is the guest's LR_usr.
#[repr(C)]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrapFrame {
    pub r: [u32; 13],
    pub lr: u32,
    /// Return address (ELR_hyp).
    pub elr: u32,
    /// Saved status (SPSR_hyp).
    pub spsr: u32,
}

const _: () = assert!(core::mem::size_of::<TrapFrame>() == 64);

impl TrapFrame {
    /// r0-r12 for a register dump, four to a line (`r0 =0x00000000 r1 =...`).
    pub fn register_lines(&self) -> impl Iterator<Item = alloc::string::String> + '_ {
        (0..13).step_by(4).map(move |i| {
            let regs = &self.r[i..(i + 4).min(13)];
            let words: alloc::vec::Vec<_> = regs
                .iter()
                .enumerate()
                .map(|(j, r)| alloc::format!("r{:<2}={r:#010x}", i + j))
                .collect();
            words.join(" ")
        })
    }
}

/// Which vector an exception came through (offset / 4 in the HYP vector table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Vector {
    Reset = 0,
    Undefined = 1,
    HypCall = 2,
    PrefetchAbort = 3,
    DataAbort = 4,
    HypTrap = 5,
    Irq = 6,
    Fiq = 7,
}

impl Vector {
    pub fn from_raw(v: u32) -> Option<Self> {
        use Vector::*;
        [
            Reset,
            Undefined,
            HypCall,
            PrefetchAbort,
            DataAbort,
            HypTrap,
            Irq,
            Fiq,
        ]
        .get(v as usize)
        .copied()
    }

    pub fn name(self) -> &'static str {
        match self {
            Vector::Reset => "reset",
            Vector::Undefined => "undefined instruction at HYP",
            Vector::HypCall => "HVC/SVC at HYP",
            Vector::PrefetchAbort => "prefetch abort at HYP",
            Vector::DataAbort => "data abort at HYP",
            Vector::HypTrap => "hyp trap",
            Vector::Irq => "IRQ",
            Vector::Fiq => "FIQ",
        }
    }
}

/// Names a CPSR mode field.
pub fn mode_name(cpsr: u32) -> &'static str {
    match cpsr & 0x1f {
        0x10 => "USR",
        0x11 => "FIQ",
        0x12 => "IRQ",
        0x13 => "SVC",
        0x16 => "MON",
        0x17 => "ABT",
        0x1a => "HYP",
        0x1b => "UND",
        0x1f => "SYS",
        _ => "invalid",
    }
}

pub const MODE_HYP: u32 = 0x1a;
pub const MODE_SVC: u32 = 0x13;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_lines_four_per_line() {
        let mut f = TrapFrame::default();
        f.r[10] = 0xdead_beef;
        let l: alloc::vec::Vec<_> = f.register_lines().collect();
        assert_eq!(l.len(), 4);
        assert_eq!(
            l[0],
            "r0 =0x00000000 r1 =0x00000000 r2 =0x00000000 r3 =0x00000000"
        );
        assert_eq!(
            l[2],
            "r8 =0x00000000 r9 =0x00000000 r10=0xdeadbeef r11=0x00000000"
        );
        assert_eq!(l[3], "r12=0x00000000");
    }
}
