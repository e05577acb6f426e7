//! Access to the calling domain's memory: the only way `xen/` touches it.
//!
//! Two address spaces:
//! - guest **virtual** addresses (hypercall pointer arguments and guest handles),
//!   translated through the calling vCPU's stage 1 and the domain's stage 2;
//! - guest **physical** addresses (IPAs) of frames the guest named by number:
//!   `shared_info`, registered `vcpu_info` areas, grant-table frames, granted
//!   pages and grant-copy frames.
//!
//! Every failure is a [`Fault`]; the hypercall layer turns it into `-EFAULT`
//! (virtual addresses) or the call's documented error for guest frames. The
//! helpers below check lengths and address arithmetic before calling the trait,
//! so an implementation never sees a wrapped address.

use core::fmt;

use super::abi::wire::Wire;
use super::abi::{Errno, PAGE_SHIFT, PAGE_SIZE};

/// Guest physical addresses are at most 40 bits (LPAE stage 2).
pub const IPA_BITS: u32 = 40;
/// One past the highest guest frame number.
pub const GFN_LIMIT: u64 = 1 << (IPA_BITS - PAGE_SHIFT);

/// Why a guest memory access failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// No stage-1 or stage-2 translation, or not normal memory (MMIO).
    Unmapped(u64),
    /// Translated, but not for this access: a read-only page written, or memory
    /// the domain does not own (hypervisor memory).
    Denied(u64),
    /// An atomic access that is not 4-byte aligned.
    Misaligned(u64),
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Unmapped(a) => write!(f, "guest address {a:#x} is not mapped"),
            Fault::Denied(a) => write!(f, "guest address {a:#x} may not be accessed so"),
            Fault::Misaligned(a) => write!(f, "guest address {a:#x} is misaligned"),
        }
    }
}

/// The calling domain's memory, implemented by the hypervisor for the vCPU that
/// trapped (and by a model in host tests).
///
/// Contract for implementations:
/// - `read`/`write` translate `gva` page by page with the calling vCPU's current
///   stage 1 (`ATS12NSOPR` for reads, `ATS12NSOPW` for writes, so read-only pages
///   fault on write) and stage 2. Buffers may cross pages; each page is checked.
///   The resulting physical address must be memory the domain owns (its RAM or a
///   frame the hypervisor mapped for it): never hypervisor memory, never MMIO.
///   On a fault part of a write may have happened; that is allowed (Xen too).
/// - `read_ipa`/`write_ipa` take a guest physical address and go through the
///   domain's stage 2 only, with the same ownership rule. `xen/` never passes a
///   range that crosses a 4 KiB page.
/// - The atomic operations act on one naturally aligned 32-bit word at an IPA
///   and return its previous value. The defaults are plain read-modify-write,
///   correct while no other vCPU of the domain runs (one vCPU, or all others
///   stopped in the hypervisor); with SMP guests the target must override them
///   with `LDREX`/`STREX` loops, because Linux updates the same words with
///   exclusives at the same time.
pub trait GuestMemory {
    fn read(&mut self, gva: u32, buf: &mut [u8]) -> Result<(), Fault>;
    fn write(&mut self, gva: u32, data: &[u8]) -> Result<(), Fault>;
    fn read_ipa(&mut self, ipa: u64, buf: &mut [u8]) -> Result<(), Fault>;
    fn write_ipa(&mut self, ipa: u64, data: &[u8]) -> Result<(), Fault>;

    /// `*ipa |= bits`, returning the old value.
    fn fetch_or_ipa(&mut self, ipa: u64, bits: u32) -> Result<u32, Fault> {
        let old = read_word(self, ipa)?;
        self.write_ipa(ipa, &(old | bits).to_le_bytes())?;
        Ok(old)
    }

    /// `*ipa &= bits`, returning the old value.
    fn fetch_and_ipa(&mut self, ipa: u64, bits: u32) -> Result<u32, Fault> {
        let old = read_word(self, ipa)?;
        self.write_ipa(ipa, &(old & bits).to_le_bytes())?;
        Ok(old)
    }

    /// If `*ipa == current` then `*ipa = new`; returns the value found.
    fn cmpxchg_ipa(&mut self, ipa: u64, current: u32, new: u32) -> Result<u32, Fault> {
        let old = read_word(self, ipa)?;
        if old == current {
            self.write_ipa(ipa, &new.to_le_bytes())?;
        }
        Ok(old)
    }
}

fn read_word<M: GuestMemory + ?Sized>(m: &mut M, ipa: u64) -> Result<u32, Fault> {
    if !ipa.is_multiple_of(4) {
        return Err(Fault::Misaligned(ipa));
    }
    let mut w = [0u8; 4];
    m.read_ipa(ipa, &mut w)?;
    Ok(u32::from_le_bytes(w))
}

/// Reads one aligned 32-bit word at an IPA.
pub fn read_ipa_u32(mem: &mut dyn GuestMemory, ipa: u64) -> Result<u32, Fault> {
    read_word(mem, ipa)
}

/// The largest struct copied through the stack helpers below (ARM's
/// `vcpu_guest_context`, 352 bytes, is the largest).
const MAX_WIRE: usize = 352;

/// Copies a struct in from a guest virtual address.
pub fn read_struct<T: Wire>(mem: &mut dyn GuestMemory, gva: u32) -> Result<T, Errno> {
    const { assert!(T::SIZE <= MAX_WIRE) };
    check_span(gva, T::SIZE)?;
    let mut buf = T::zeroed();
    let b = buf.as_mut();
    mem.read(gva, b).map_err(|_| Errno::EFAULT)?;
    T::decode(b).ok_or(Errno::EFAULT)
}

/// Copies a struct out to a guest virtual address.
pub fn write_struct<T: Wire>(mem: &mut dyn GuestMemory, gva: u32, v: &T) -> Result<(), Errno> {
    const { assert!(T::SIZE <= MAX_WIRE) };
    check_span(gva, T::SIZE)?;
    let mut buf = T::zeroed();
    let b = buf.as_mut();
    v.encode(b).ok_or(Errno::EFAULT)?;
    mem.write(gva, b).map_err(|_| Errno::EFAULT)
}

/// Writes bytes to a guest virtual address, padded with zeros to `len` (for
/// fixed-size `char[N]` results such as `XENVER_capabilities`).
pub fn write_padded(
    mem: &mut dyn GuestMemory,
    gva: u32,
    text: &[u8],
    len: usize,
) -> Result<(), Errno> {
    check_span(gva, len)?;
    let mut chunk = [0u8; 128];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(chunk.len());
        for (i, c) in chunk[..n].iter_mut().enumerate() {
            *c = text.get(done + i).copied().unwrap_or(0);
        }
        mem.write(gva + done as u32, &chunk[..n])
            .map_err(|_| Errno::EFAULT)?;
        done += n;
    }
    Ok(())
}

/// `gva .. gva + len` must stay below 4 GiB (so that `gva + len` and every
/// address computed from it fit in a `u32`; the top byte is thus unusable,
/// which costs nothing: it is Linux's vector page), and a NULL pointer is
/// refused outright (page 0 is never a valid buffer).
pub fn check_span(gva: u32, len: usize) -> Result<(), Errno> {
    let len = u32::try_from(len).map_err(|_| Errno::EFAULT)?;
    if gva == 0 || gva.checked_add(len).is_none() {
        return Err(Errno::EFAULT);
    }
    Ok(())
}

/// The address of element `index` of an array of `size`-byte elements.
pub fn elem_gva(base: u32, index: u32, size: usize) -> Result<u32, Errno> {
    let size = u32::try_from(size).map_err(|_| Errno::EFAULT)?;
    let off = index.checked_mul(size).ok_or(Errno::EFAULT)?;
    let at = base.checked_add(off).ok_or(Errno::EFAULT)?;
    check_span(at, size as usize)?;
    Ok(at)
}

/// A guest handle inside a struct: a 64-bit slot whose upper half must be 0 on arm32.
pub fn handle_gva(h: u64) -> Result<u32, Errno> {
    u32::try_from(h).map_err(|_| Errno::EFAULT)
}

/// The IPA of a guest frame number, if it is inside the 40-bit IPA space.
pub fn gfn_ipa(gfn: u64) -> Option<u64> {
    (gfn < GFN_LIMIT).then_some(gfn << PAGE_SHIFT)
}

/// Whether `off .. off + len` stays inside one page.
pub fn in_page(off: u64, len: u64) -> bool {
    off < PAGE_SIZE as u64 && len <= PAGE_SIZE as u64 - off
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_arithmetic_is_checked() {
        assert_eq!(check_span(0, 4), Err(Errno::EFAULT));
        assert_eq!(check_span(0xffff_fffb, 4), Ok(()));
        assert_eq!(check_span(0xffff_fffc, 4), Err(Errno::EFAULT));
        assert_eq!(check_span(1, usize::MAX), Err(Errno::EFAULT));
        assert_eq!(elem_gva(0x1000, 3, 16), Ok(0x1030));
        assert_eq!(elem_gva(0x1000, u32::MAX, 16), Err(Errno::EFAULT));
        assert_eq!(elem_gva(0xffff_f000, 0x100, 16), Err(Errno::EFAULT));
        assert_eq!(handle_gva(0x1_0000_1000), Err(Errno::EFAULT));
        assert_eq!(handle_gva(0xc000_1000), Ok(0xc000_1000));
        assert_eq!(gfn_ipa(0x40000), Some(0x4000_0000));
        assert_eq!(gfn_ipa(GFN_LIMIT), None);
        assert_eq!(gfn_ipa(u64::MAX), None);
        assert!(in_page(4048, 48));
        assert!(!in_page(4049, 48));
        assert!(!in_page(4096, 0));
    }
}
