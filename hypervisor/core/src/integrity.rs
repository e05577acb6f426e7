//! Integrity checks: CRC-32s of memory no guest may change, taken once the
//! domains are built and compared again on demand (the `c` debug key) and
//! whenever a domain ends, so that an attack's effect (or its absence) is
//! on the console: snowvisor's own text and read-only data, and the guard
//! pages of [`crate::domain::dma_guard`] (RAM no domain owns). The
//! checksums are snowvisor's reads of the memory: a guest cannot fake them.
//!
//! Pure: the kernel reads the memory (`crc` below is its reader) and keeps
//! the [`Baseline`]; this decides the regions' names, compares and words
//! the lines.

use alloc::string::String;
use alloc::vec::Vec;

use snowvisor_dt::Region;

/// A watched region: what it is, where (PA, bytes), its CRC-32 at the start
/// ([`crate::domain::dma_guard::GUARD_CRC`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched {
    pub what: String,
    pub region: Region,
    pub crc: u32,
}

/// The checksums taken at the start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Baseline {
    pub watched: Vec<Watched>,
}

impl Baseline {
    /// Checksums each of `regions` with `crc` (`None`: it cannot be read,
    /// left out).
    pub fn take(
        regions: impl IntoIterator<Item = (String, Region)>,
        mut crc: impl FnMut(Region) -> Option<u32>,
    ) -> Self {
        Baseline {
            watched: regions
                .into_iter()
                .filter_map(|(what, region)| {
                    Some(Watched {
                        crc: crc(region)?,
                        what,
                        region,
                    })
                })
                .collect(),
        }
    }

    /// The lines that say what was taken (`integrity: ...`).
    pub fn lines(&self) -> Vec<String> {
        self.watched
            .iter()
            .map(|w| {
                alloc::format!(
                    "integrity: {} {:#010x}-{:#010x}: crc32 {:#010x}",
                    w.what,
                    w.region.base,
                    w.region.end() - 1,
                    w.crc
                )
            })
            .collect()
    }

    /// Checksums every region again with `crc` and says, a line each, whether
    /// it changed, then a summary line (`integrity: N region(s) unchanged`,
    /// or how many CHANGED). `why` says what prompted the check.
    pub fn check(&self, why: &str, mut crc: impl FnMut(Region) -> Option<u32>) -> Vec<String> {
        let mut out = Vec::new();
        let mut changed = 0;
        for w in &self.watched {
            let now = crc(w.region);
            let verdict = match now {
                Some(c) if c == w.crc => String::from("unchanged"),
                Some(_) => {
                    changed += 1;
                    alloc::format!("was {:#010x}: CHANGED", w.crc)
                }
                None => {
                    changed += 1;
                    String::from("cannot be read: CHANGED")
                }
            };
            out.push(alloc::format!(
                "integrity: {} {:#010x}-{:#010x}: crc32 {:#010x}, {verdict}",
                w.what,
                w.region.base,
                w.region.end() - 1,
                now.unwrap_or(0)
            ));
        }
        let n = self.watched.len();
        out.push(if changed == 0 {
            alloc::format!("integrity: {n} region(s) unchanged ({why})")
        } else {
            alloc::format!("integrity: {changed} of {n} region(s) CHANGED ({why})")
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::dma_guard::GUARD_CRC;

    fn r(base: u64, size: u64) -> Region {
        Region { base, size }
    }

    #[test]
    fn taken_then_checked() {
        let mut mem = alloc::vec![0u8; 0x3000];
        let read = |mem: &[u8], x: Region| -> Option<u32> {
            let s = mem.get(x.base as usize..x.end() as usize)?;
            Some(GUARD_CRC.checksum(s))
        };
        let regions = [
            (String::from("snowvisor's text+rodata"), r(0, 0x2000)),
            (
                String::from("guard page (RAM no domain owns)"),
                r(0x2000, 0x1000),
            ),
            (String::from("nothing there"), r(0x8000, 0x1000)),
        ];
        let b = Baseline::take(regions, |x| read(&mem, x));
        assert_eq!(b.watched.len(), 2, "an unreadable region is left out");
        assert_eq!(
            b.lines()[0],
            "integrity: snowvisor's text+rodata 0x00000000-0x00001fff: crc32 0xd8f49994" // zlib.crc32(bytes(0x2000))
        );
        let ok = b.check("key c", |x| read(&mem, x));
        assert_eq!(ok.len(), 3);
        assert!(ok[1].ends_with(", unchanged"), "{}", ok[1]);
        assert_eq!(ok[2], "integrity: 2 region(s) unchanged (key c)");
        mem[0x2abc] = 1;
        let bad = b.check("domU1 ended", |x| read(&mem, x));
        assert!(bad[0].ends_with(", unchanged"));
        assert!(bad[1].contains("was 0x"), "{}", bad[1]);
        assert!(bad[1].ends_with(": CHANGED"), "{}", bad[1]);
        assert_eq!(bad[2], "integrity: 1 of 2 region(s) CHANGED (domU1 ended)");
        assert!(b.check("x", |_| None)[2].starts_with("integrity: 2 of 2"));
    }
}
