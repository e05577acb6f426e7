//! `dom0_mem=`, in every form Xen documents (`docs/misc/xen-command-line.pandoc`):
//! Arm's `<size>` and x86's `List of ( min:<sz> | max:<sz> | <sz> )`, where
//! `<sz>` is `<size>`, `<frac>%` or `<size>+<frac>%` of the host's memory,
//! optionally preceded by `-` ("all but"). A `<size>` is Xen's
//! `parse_size_and_unit`: a decimal or `0x` number with an optional unit
//! `B`, `K`, `M`, `G` or `T` (either case); without a unit, KiB, as in Xen.
//!
//! Resolution follows Xen's `dom0_compute_nr_pages`: the amount (all the RAM
//! left when not given), capped by `max:`, raised to `min:`, capped by what
//! there is. snowvisor then rounds down to its 2 MiB granule. Every step that
//! gives Dom0 something other than the amount asked for is reported.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

const MIB: u64 = 1 << 20;

/// One `<sz>`: `bytes + percent% of the host's memory`, or all but that.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amount {
    /// `-<sz>`: the host's memory minus the rest.
    pub all_but: bool,
    /// Bytes.
    pub bytes: u64,
    /// Percent of the host's memory (Xen: below 100).
    pub percent: u8,
    /// The size had no unit and was read as KiB (Xen's default).
    pub unitless: bool,
}

impl Amount {
    /// Bytes out of `host` bytes.
    pub fn of(&self, host: u64) -> u64 {
        let v = self
            .bytes
            .saturating_add(host / 100 * u64::from(self.percent));
        if self.all_but {
            host.saturating_sub(v)
        } else {
            v
        }
    }
}

/// A parsed `dom0_mem=` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dom0Mem {
    pub amount: Option<Amount>,
    pub min: Option<Amount>,
    pub max: Option<Amount>,
}

/// What `dom0_mem=` accepts, for error messages.
pub const FORMS: &str = "<size>[,min:<size>][,max:<size>] with <size> like 512M, 1G, 524288K, 536870912B, 25%, 1G+25% or -256M (all but)";

/// Parses Xen's `<size>`: number and unit; the bytes and whether a unit was given.
pub fn parse_size(s: &str) -> Option<(u64, bool)> {
    // As C's strtoull with base 0 reads it: a 0x number takes every hex digit
    // (so "0x10B" is 0x10b KiB, as in Xen), a decimal one every digit.
    let (digits, radix) = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => (h, 16),
        None => (s, 10),
    };
    let end = digits
        .find(|c: char| !c.is_digit(radix))
        .unwrap_or(digits.len());
    // `end` is a char boundary (find's): the checked split only spares the
    // image core's str-slicing panic and its Unicode tables (4.5 KiB).
    let (num, unit) = digits.split_at_checked(end)?;
    let n = u64::from_str_radix(num, radix).ok()?;
    let shift = match unit {
        "" => 10,
        "b" | "B" => 0,
        "k" | "K" => 10,
        "m" | "M" => 20,
        "g" | "G" => 30,
        "t" | "T" => 40,
        _ => return None,
    };
    Some((n.checked_mul(1u64 << shift)?, !unit.is_empty()))
}

fn parse_amount(s: &str) -> Option<Amount> {
    let (all_but, s) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (size, frac) = match s.strip_suffix('%') {
        Some(r) => match r.rsplit_once('+') {
            Some((size, frac)) => (Some(size), Some(frac)),
            None => (None, Some(r)),
        },
        None => (Some(s), None),
    };
    let (bytes, unit) = match size {
        Some(z) => parse_size(z)?,
        None => (0, true),
    };
    let percent = match frac {
        Some(f) => f.parse::<u8>().ok().filter(|p| *p < 100)?,
        None => 0,
    };
    Some(Amount {
        all_but,
        bytes,
        percent,
        unitless: !unit,
    })
}

impl Dom0Mem {
    /// Parses the comma-separated list; None if any element is malformed.
    pub fn parse(s: &str) -> Option<Dom0Mem> {
        let mut m = Dom0Mem::default();
        for part in s.split(',') {
            let (slot, v) = if let Some(v) = part.strip_prefix("min:") {
                (&mut m.min, v)
            } else if let Some(v) = part.strip_prefix("max:") {
                (&mut m.max, v)
            } else {
                (&mut m.amount, part)
            };
            *slot = Some(parse_amount(v)?);
        }
        let zero = |a: Option<Amount>| a.is_some_and(|a| !a.all_but && a.of(1 << 40) == 0);
        if zero(m.amount) {
            return None;
        }
        Some(m)
    }

    /// Bytes for Dom0 out of `available` (RAM left after snowvisor), rounded
    /// down to `granule`, and a line for each way it differs from the request.
    /// An error (the fatal line) when that rounds down to nothing: less than
    /// one `granule` asked for, or all but more than there is.
    pub fn resolve(
        &self,
        text: &str,
        available: u64,
        granule: u64,
    ) -> Result<(u64, Vec<String>), String> {
        let mut notes = Vec::new();
        for a in [self.amount, self.min, self.max].into_iter().flatten() {
            if a.unitless {
                notes.push(format!(
                    "dom0_mem={text}: a size without a unit is read as KiB, as Xen does (write B for bytes)"
                ));
                break;
            }
        }
        let mut want = self.amount.map_or(available, |a| a.of(available));
        if let Some(max) = self.max.map(|a| a.of(available)) {
            if max < want {
                notes.push(format!("dom0_mem={text}: capped to max {} MiB", max / MIB));
                want = max;
            } else if self.amount.is_some() && max > want {
                notes.push(format!(
                    "dom0_mem={text}: max {} MiB is not honoured: Dom0 cannot grow past its initial {} MiB under snowvisor",
                    max / MIB,
                    want / MIB
                ));
            }
        }
        if let Some(min) = self.min.map(|a| a.of(available)) {
            if min > want {
                want = min;
            }
        }
        if want > available {
            notes.push(format!(
                "dom0_mem={text}: {} MiB asked for, only {} MiB available: Dom0 gets {} MiB",
                want / MIB,
                available / MIB,
                available / MIB
            ));
            want = available;
        }
        let rounded = want / granule * granule;
        if rounded == 0 && available >= granule {
            return Err(format!(
                "dom0_mem={text}: {} is below the minimum of {} MiB and rounds down to 0 (Dom0's RAM is mapped in {} MiB granules): give dom0_mem={}M or more (booting Linux needs far more, some 32 MiB)",
                describe_bytes(want),
                granule / MIB,
                granule / MIB,
                granule / MIB
            ));
        }
        if rounded != want {
            notes.push(format!(
                "dom0_mem={text}: {want} bytes rounded down to {} MiB (Dom0's RAM is mapped in {} MiB granules)",
                rounded / MIB,
                granule / MIB
            ));
        }
        Ok((rounded, notes))
    }
}

/// `n` bytes as the largest exact unit of KiB and MiB, else in bytes.
fn describe_bytes(n: u64) -> String {
    if n != 0 && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else if n != 0 && n.is_multiple_of(1024) {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    fn bytes(s: &str, host: u64) -> u64 {
        Dom0Mem::parse(s)
            .unwrap_or_else(|| panic!("{s}"))
            .resolve(s, host, 2 * MIB)
            .unwrap()
            .0
    }

    #[test]
    fn sizes_as_xen_reads_them() {
        assert_eq!(parse_size("512M"), Some((512 * MIB, true)));
        assert_eq!(parse_size("1G"), Some((GIB, true)));
        assert_eq!(parse_size("1g"), Some((GIB, true)));
        assert_eq!(parse_size("1T"), Some((1 << 40, true)));
        assert_eq!(parse_size("524288K"), Some((512 * MIB, true)));
        assert_eq!(parse_size("536870912B"), Some((512 * MIB, true)));
        assert_eq!(parse_size("524288"), Some((512 * MIB, false)));
        assert_eq!(
            parse_size("0x20000000B"),
            Some((0x2_0000_000b << 10, false))
        );
        assert_eq!(parse_size("0x200M"), Some((512 * MIB, true)));
        assert_eq!(parse_size("0x1b"), Some((27 << 10, false)));
        assert_eq!(parse_size("512Q"), None);
        assert_eq!(parse_size("M"), None);
        assert_eq!(parse_size(""), None);
        assert_eq!(parse_size("99999999999999999999G"), None);
        assert_eq!(parse_size("17179869184G"), None);
    }

    #[test]
    fn every_form() {
        let host = 1014 * MIB;
        for s in [
            "512M",
            "524288K",
            "536870912B",
            "524288",
            "0x200M",
            "0x80000",
        ] {
            assert_eq!(bytes(s, host), 512 * MIB, "{s}");
        }
        assert_eq!(bytes("1G", 4 * GIB), GIB);
        assert_eq!(bytes("512M,max:512M", host), 512 * MIB);
        assert_eq!(bytes("max:512M,512M", host), 512 * MIB);
        assert_eq!(bytes("512M,max:256M", host), 256 * MIB);
        assert_eq!(bytes("max:256M", host), 256 * MIB);
        assert_eq!(bytes("min:256M", host), host);
        assert_eq!(bytes("128M,min:256M", host), 256 * MIB);
        assert_eq!(bytes("-14M", host), 1000 * MIB);
        assert_eq!(bytes("50%", 1000 * MIB), 500 * MIB);
        assert_eq!(bytes("100M+10%", 1000 * MIB), 200 * MIB);
        assert_eq!(bytes("-10%", 1000 * MIB), 900 * MIB);
        for bad in [
            "",
            "0",
            "lots",
            "512M,",
            "min:",
            "100%",
            "512M,max:x",
            "1G+x%",
        ] {
            assert_eq!(Dom0Mem::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn never_more_than_asked_and_every_difference_reported() {
        let host = 1014 * MIB;
        let m = Dom0Mem::parse("4G").unwrap();
        let (b, notes) = m.resolve("4G", host, 2 * MIB).unwrap();
        assert_eq!(b, host);
        assert!(notes[0].contains("4096 MiB asked for, only 1014 MiB available"));
        let (b, notes) = Dom0Mem::parse("65537K")
            .unwrap()
            .resolve("65537K", host, 2 * MIB)
            .unwrap();
        assert_eq!(b, 64 * MIB);
        assert!(notes[0].contains("rounded down to 64 MiB"), "{notes:?}");
        let (_, notes) = Dom0Mem::parse("524288")
            .unwrap()
            .resolve("524288", host, 2 * MIB)
            .unwrap();
        assert!(notes[0].contains("read as KiB"), "{notes:?}");
        let (b, notes) = Dom0Mem::parse("256M,max:512M")
            .unwrap()
            .resolve("256M,max:512M", host, 2 * MIB)
            .unwrap();
        assert_eq!(b, 256 * MIB);
        assert!(notes[0].contains("not honoured"), "{notes:?}");
        let (_, notes) = Dom0Mem::parse("512M,max:512M")
            .unwrap()
            .resolve("x", host, 2 * MIB)
            .unwrap();
        assert!(notes.is_empty(), "{notes:?}");
    }

    /// Less than a granule is an error that names the option, the value
    /// and the minimum, not a Dom0 with no RAM.
    #[test]
    fn below_one_granule_is_refused_naming_the_minimum() {
        let host = 1014 * MIB;
        for (text, what) in [
            ("1M", "1 MiB"),
            ("1023K", "1023 KiB"),
            ("1000B", "1000 bytes"),
            ("-2000M", "0 bytes"),
        ] {
            let e = Dom0Mem::parse(text)
                .unwrap()
                .resolve(text, host, 2 * MIB)
                .unwrap_err();
            assert_eq!(
                e,
                format!("dom0_mem={text}: {what} is below the minimum of 2 MiB and rounds down to 0 (Dom0's RAM is mapped in 2 MiB granules): give dom0_mem=2M or more (booting Linux needs far more, some 32 MiB)")
            );
        }
        assert_eq!(
            Dom0Mem::parse("2M")
                .unwrap()
                .resolve("2M", host, 2 * MIB)
                .unwrap()
                .0,
            2 * MIB
        );
    }
}
