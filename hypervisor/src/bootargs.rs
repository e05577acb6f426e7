//! snowvisor's own boot arguments (`/chosen/xen,xen-bootargs` or `/chosen/bootargs`).
//!
//! Unknown words are kept and reported, never fatal: a typo must not stop a boot,
//! but it must be visible.

use alloc::vec::Vec;
use core::fmt;

/// Console log levels, from quietest to loudest (Xen's names are accepted too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "none" | "error" | "err" => LogLevel::Error,
            "warning" | "warn" => LogLevel::Warn,
            "info" => LogLevel::Info,
            "debug" => LogLevel::Debug,
            "trace" | "all" => LogLevel::Trace,
            _ => return None,
        })
    }
}

/// A problem with one word of the arguments; the boot goes on with the default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgError<'a> {
    Unknown(&'a str),
    BadValue {
        key: &'a str,
        value: &'a str,
        expected: &'static str,
    },
}

impl fmt::Display for ArgError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgError::Unknown(w) => write!(f, "unknown boot argument '{w}' ignored"),
            ArgError::BadValue {
                key,
                value,
                expected,
            } => {
                write!(
                    f,
                    "boot argument {key}={value} ignored: expected {expected}"
                )
            }
        }
    }
}

/// Parsed boot arguments. Fields not given keep their defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootArgs<'a> {
    pub loglvl: LogLevel,
    /// `dom0_mem=`: bytes of RAM for Dom0; None means all that is left.
    pub dom0_mem: Option<u64>,
    /// `iommu=` text, parsed by the IOMMU plan.
    pub iommu: Option<&'a str>,
    /// `swiotlb=` text, parsed by the IOMMU plan.
    pub swiotlb: Option<&'a str>,
    /// `snowvisor.selftest=`: a self-test to run at boot (`reboot`: warm reboot
    /// through the RAM log; `undef`: an undefined instruction at HYP, to show
    /// the exception report).
    pub selftest: Option<&'a str>,
    /// Words that could not be used, with why.
    pub errors: Vec<ArgError<'a>>,
}

impl Default for BootArgs<'_> {
    fn default() -> Self {
        BootArgs {
            loglvl: LogLevel::Info,
            dom0_mem: None,
            iommu: None,
            swiotlb: None,
            selftest: None,
            errors: Vec::new(),
        }
    }
}

impl<'a> BootArgs<'a> {
    pub fn parse(line: &'a str) -> Self {
        let mut a = BootArgs::default();
        for word in line.split_ascii_whitespace() {
            let (key, value) = word.split_once('=').unwrap_or((word, ""));
            match key {
                "loglvl" => match LogLevel::parse(value) {
                    Some(l) => a.loglvl = l,
                    None => a.errors.push(ArgError::BadValue {
                        key,
                        value,
                        expected: "error|warning|info|debug|trace",
                    }),
                },
                "dom0_mem" => match parse_size(value) {
                    Some(s) if s > 0 => a.dom0_mem = Some(s),
                    _ => a.errors.push(ArgError::BadValue {
                        key,
                        value,
                        expected: "a size such as 512M or 1G",
                    }),
                },
                "iommu" => a.iommu = Some(value),
                "swiotlb" => a.swiotlb = Some(value),
                // Arguments meant for the firmware or kept for Xen compatibility.
                "console" | "dom0_max_vcpus" | "sync_console" | "guest_loglvl" => {}
                "snowvisor.selftest" => a.selftest = Some(value),
                _ => a.errors.push(ArgError::Unknown(word)),
            }
        }
        a
    }
}

/// Parses `123`, `0x1000`, `512K`, `512M`, `1G` (binary units).
pub fn parse_size(s: &str) -> Option<u64> {
    let (num, shift) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 10),
        b'm' | b'M' => (&s[..s.len() - 1], 20),
        b'g' | b'G' => (&s[..s.len() - 1], 30),
        _ => (s, 0),
    };
    let n = match num.strip_prefix("0x").or_else(|| num.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok()?,
        None => num.parse::<u64>().ok()?,
    };
    n.checked_mul(1u64 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_words() {
        let a = BootArgs::parse("loglvl=debug dom0_mem=512M iommu=hide:arm,smmu-v3 swiotlb=off");
        assert_eq!(a.loglvl, LogLevel::Debug);
        assert_eq!(a.dom0_mem, Some(512 << 20));
        assert_eq!(a.iommu, Some("hide:arm,smmu-v3"));
        assert_eq!(a.swiotlb, Some("off"));
        assert!(a.errors.is_empty());
    }

    #[test]
    fn bad_words_are_reported_not_fatal() {
        let a = BootArgs::parse("loglvl=loud dom0_mem=lots frobnicate");
        assert_eq!(a.loglvl, LogLevel::Info);
        assert_eq!(a.dom0_mem, None);
        assert_eq!(a.errors.len(), 3);
        assert_eq!(
            alloc::format!("{}", a.errors[2]),
            "unknown boot argument 'frobnicate' ignored"
        );
        assert!(alloc::format!("{}", a.errors[0]).contains("loglvl=loud"));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("0x1000"), Some(4096));
        assert_eq!(parse_size("64k"), Some(65536));
        assert_eq!(parse_size(""), None);
        assert_eq!(parse_size("M"), None);
        assert_eq!(parse_size("99999999999999999999G"), None);
        assert_eq!(parse_size("17179869184G"), None);
    }
}
