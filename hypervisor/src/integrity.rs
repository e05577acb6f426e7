//! The machine's integrity baseline (`snowvisor_core::integrity`): CRC-32s
//! of snowvisor's text and read-only data and of the guard pages
//! (`dma_guard::pages`: RAM no domain owns), taken once every domain is
//! built, then checked on the `c` debug key and whenever a domain ends.
//! The reads are this module's: RAM through snowvisor's HYP mapping.

use alloc::string::String;
use alloc::vec::Vec;

use log::info;

use snowvisor_core::domain::dma_guard::{self, GuardKind, GUARD_CRC};
use snowvisor_core::integrity::Baseline;
use snowvisor_dt::Region;

extern "C" {
    static __image_start: u8;
    static __readonly_end: u8;
}

/// The baseline and the host's RAM banks it reads in.
static BASELINE: spin::Once<(Baseline, Vec<Region>)> = spin::Once::new();

/// snowvisor's code and read-only data (PA = VA): written by no one once
/// its entry code has relocated it.
fn text_rodata() -> Region {
    // SAFETY: linker symbols; only their addresses are taken.
    let (start, end) = unsafe {
        (
            &__image_start as *const u8 as u64,
            &__readonly_end as *const u8 as u64,
        )
    };
    Region {
        base: start,
        size: end - start,
    }
}

/// Takes the baseline and prints it: `ram` is the host's RAM, `hyp`
/// snowvisor's region, `image` its image's start, `owned` every domain's
/// memory (PA ranges).
pub fn take(ram: &[Region], hyp: Region, image: u64, owned: &[Region]) {
    let mut regions = alloc::vec![(String::from("snowvisor's text+rodata"), text_rodata())];
    for (kind, page) in dma_guard::pages(ram, hyp, image, owned) {
        if kind == GuardKind::Unowned {
            regions.push((alloc::format!("guard page ({})", kind.name()), page));
        }
    }
    let b = Baseline::take(regions, |r| crc32_ram(r, ram));
    for l in b.lines() {
        info!("{l}");
    }
    BASELINE.call_once(|| (b, ram.to_vec()));
}

/// Checks the baseline again (`why`: what prompted it) and prints the result.
pub fn check(why: &str) {
    if let Some((b, ram)) = BASELINE.get() {
        for l in b.check(why, |r| crc32_ram(r, ram)) {
            info!("{l}");
        }
    }
}

/// CRC-32 of a RAM region as snowvisor reads it now ([`GUARD_CRC`]). None
/// unless `r` lies inside one of `ram` (the host's memory banks) below 4 GiB.
pub fn crc32_ram(r: Region, ram: &[Region]) -> Option<u32> {
    if !ram.iter().any(|m| m.contains(&r)) || r.end() > 1 << 32 || !r.size.is_multiple_of(4) {
        return None;
    }
    let mut c = GUARD_CRC.digest();
    for i in 0..(r.size / 4) as usize {
        // SAFETY: inside RAM (checked), which snowvisor's HYP map covers as
        // normal memory; a volatile word read has no side effect, whoever
        // else may be writing there.
        let w = unsafe { ((r.base as usize + 4 * i) as *const u32).read_volatile() };
        c.update(&w.to_le_bytes());
    }
    Some(c.finalize())
}
