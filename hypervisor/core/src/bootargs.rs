//! snowvisor's own boot arguments (`/chosen/xen,xen-bootargs` or `/chosen/bootargs`).
//!
//! Unknown words are kept and reported, never fatal: a typo must not stop a boot,
//! but it must be visible. Arguments Xen also has take every form Xen's
//! `docs/misc/xen-command-line.pandoc` documents; what snowvisor cannot honour
//! exactly is reported by name.

use alloc::vec::Vec;
use core::fmt;

pub mod dom0_mem;
pub mod xen_only;

pub use dom0_mem::Dom0Mem;
pub use xen_only::Vwfi;

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
    /// One of Xen's level names (`none`, `error`, `warning`, `info`, `debug`,
    /// `all`) or snowvisor's (`err`, `warn`, `trace`).
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
    /// Parsed, but snowvisor does something other than asked; says what.
    NotHonoured {
        word: &'a str,
        why: &'static str,
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
            ArgError::NotHonoured { word, why } => {
                write!(f, "boot argument '{word}' not honoured exactly: {why}")
            }
        }
    }
}

/// Parsed boot arguments. Fields not given keep their defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootArgs<'a> {
    pub loglvl: LogLevel,
    /// `dom0_mem=`: RAM for Dom0 and its text; None means all that is left.
    pub dom0_mem: Option<(Dom0Mem, &'a str)>,
    /// `panic=N`: seconds to wait after a fatal error before resetting the
    /// machine; 0 halts for good (for a debugger), negative resets at once.
    /// Xen's `noreboot` is `panic=0`. Default [`DEFAULT_PANIC_SECS`].
    pub panic_secs: i32,
    /// `dom0_max_vcpus=N` (Xen's): at most N vCPUs for Dom0; None: one per
    /// CPU that came up.
    pub dom0_max_vcpus: Option<u32>,
    /// `sched_slice_ms=N`: the scheduler's time slice in milliseconds
    /// (1-1000; default [`crate::sched::DEFAULT_SLICE_MS`]): how long a
    /// vCPU runs before another runnable vCPU of its CPU gets the CPU.
    pub sched_slice_ms: u32,
    /// `domu_restart=<bool>` (default on): a DomU's PSCI SYSTEM_RESET
    /// restarts it, from copies of its boot modules snowvisor keeps (their
    /// size in RAM taken from Dom0's share); off: the reset ends it and no
    /// copies are kept.
    pub domu_restart: bool,
    /// `sched_ratelimit_us=N` (Xen's): how long the running vCPU keeps its
    /// CPU before a woken vCPU takes it (microseconds, 0-1000000; default
    /// [`crate::sched::MIN_RUN_US`]).
    pub sched_ratelimit_us: u32,
    /// `vwfi=` (Xen's, Arm): whether a guest's WFI/WFE trap (default).
    pub vwfi: Vwfi,
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
            panic_secs: DEFAULT_PANIC_SECS,
            dom0_max_vcpus: None,
            sched_slice_ms: crate::sched::DEFAULT_SLICE_MS,
            domu_restart: true,
            sched_ratelimit_us: crate::sched::MIN_RUN_US as u32,
            vwfi: Vwfi::Trap,
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
                "loglvl" | "guest_loglvl" => match parse_loglvl(value) {
                    Some(l) if key == "loglvl" => {
                        a.loglvl = l;
                        if value.starts_with("none") {
                            a.errors.push(ArgError::NotHonoured {
                                word,
                                why: "snowvisor still prints errors",
                            });
                        }
                    }
                    // Dom0's console output is printed as Dom0 writes it.
                    Some(_) => {}
                    None => a.errors.push(ArgError::BadValue {
                        key,
                        value,
                        expected: LOGLVL_FORMS,
                    }),
                },
                "dom0_mem" => match Dom0Mem::parse(value) {
                    Some(m) => a.dom0_mem = Some((m, value)),
                    None => a.errors.push(ArgError::BadValue {
                        key,
                        value,
                        expected: dom0_mem::FORMS,
                    }),
                },
                "panic" => match value.parse::<i32>() {
                    Ok(n) => a.panic_secs = n,
                    Err(_) => a.errors.push(ArgError::BadValue {
                        key,
                        value,
                        expected: "seconds (0: halt, negative: reset at once)",
                    }),
                },
                "noreboot" => match parse_bool(word) {
                    Some(true) => a.panic_secs = 0,
                    Some(false) => a.panic_secs = DEFAULT_PANIC_SECS,
                    None => a.errors.push(ArgError::BadValue {
                        key,
                        value,
                        expected: BOOL_FORMS,
                    }),
                },
                "dom0_max_vcpus" => match value.parse::<u32>() {
                    Ok(n) if n >= 1 => a.dom0_max_vcpus = Some(n),
                    _ => a.errors.push(ArgError::BadValue {
                        key,
                        value,
                        expected: "a number of vCPUs of 1 or more",
                    }),
                },
                "sched_slice_ms" => match value.parse::<u32>() {
                    Ok(n) if crate::sched::SLICE_MS_RANGE.contains(&n) => a.sched_slice_ms = n,
                    _ => a.errors.push(ArgError::BadValue {
                        key,
                        value,
                        expected: "milliseconds from 1 to 1000",
                    }),
                },
                "domu_restart" | "no-domu_restart" => match parse_bool(word) {
                    Some(b) => a.domu_restart = b,
                    None => a.errors.push(ArgError::BadValue {
                        key,
                        value,
                        expected: BOOL_FORMS,
                    }),
                },
                "sync_console" | "no-sync_console" => match parse_bool(word) {
                    // snowvisor's console output is synchronous already.
                    Some(_) => {}
                    None => a.errors.push(ArgError::BadValue {
                        key,
                        value,
                        expected: BOOL_FORMS,
                    }),
                },
                "iommu" => a.iommu = Some(value),
                "swiotlb" => a.swiotlb = Some(value),
                // Xen's console selection (dtuart, com1, ...): snowvisor's
                // console is /chosen/stdout-path's UART or the board's.
                "console" => {}
                "snowvisor.selftest" => a.selftest = Some(value),
                _ if xen_only::parse(&mut a, word, key, value) => {}
                _ => a.errors.push(ArgError::Unknown(word)),
            }
        }
        a
    }
}

/// Seconds between a fatal error and the reset, unless `panic=` says otherwise
/// (Xen waits 5 s before rebooting after a panic).
pub const DEFAULT_PANIC_SECS: i32 = 5;

const LOGLVL_FORMS: &str =
    "<level>[/<rate-limited level>] with levels none|error|warning|info|debug|all";
const BOOL_FORMS: &str = "1|0, yes|no, true|false, on|off, enable|disable";

/// Xen's `<level>[/<rate-limited level>]`; the rate-limited level is checked
/// and otherwise unused (snowvisor does not rate-limit its console).
fn parse_loglvl(v: &str) -> Option<LogLevel> {
    let (level, limited) = v.split_once('/').unwrap_or((v, "none"));
    LogLevel::parse(limited)?;
    LogLevel::parse(level)
}

/// A Xen boolean option: `name`, `no-name`, or `name=` one of [`BOOL_FORMS`].
fn parse_bool(word: &str) -> Option<bool> {
    let (key, value) = match word.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (word, None),
    };
    let negated = key.starts_with("no-");
    let v = match value {
        None => true,
        Some("1" | "yes" | "true" | "on" | "enable") => true,
        Some("0" | "no" | "false" | "off" | "disable") => false,
        Some(_) => return None,
    };
    Some(v != negated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_words() {
        let a = BootArgs::parse("loglvl=debug dom0_mem=512M iommu=hide:arm,smmu-v3 swiotlb=off");
        assert_eq!(a.loglvl, LogLevel::Debug);
        assert_eq!(
            a.dom0_mem
                .map(|(m, t)| (m.resolve(t, 1 << 30, 2 << 20).unwrap().0, t)),
            Some((512 << 20, "512M"))
        );
        assert_eq!(a.iommu, Some("hide:arm,smmu-v3"));
        assert_eq!(a.swiotlb, Some("off"));
        assert!(a.errors.is_empty());
    }

    #[test]
    fn bad_words_are_reported_not_fatal() {
        let a = BootArgs::parse("loglvl=loud dom0_mem=lots frobnicate");
        assert_eq!(a.loglvl, LogLevel::Info);
        assert!(a.dom0_mem.is_none());
        assert_eq!(a.errors.len(), 3);
        assert_eq!(
            alloc::format!("{}", a.errors[2]),
            "unknown boot argument 'frobnicate' ignored"
        );
        assert!(alloc::format!("{}", a.errors[0]).contains("loglvl=loud"));
    }

    #[test]
    fn xen_forms_of_shared_arguments() {
        let a = BootArgs::parse(
            "loglvl=all/warning guest_loglvl=info/none sync_console noreboot dom0_max_vcpus=1 console=dtuart",
        );
        assert_eq!(a.loglvl, LogLevel::Trace);
        assert_eq!(a.panic_secs, 0);
        assert!(a.errors.is_empty(), "{:?}", a.errors);
        let a = BootArgs::parse("sync_console=off no-sync_console noreboot=false panic=30");
        assert!(a.errors.is_empty(), "{:?}", a.errors);
        assert_eq!(a.panic_secs, 30);
        assert_eq!(BootArgs::parse("").panic_secs, DEFAULT_PANIC_SECS);
        assert_eq!(BootArgs::parse("panic=-1").panic_secs, -1);
        let a = BootArgs::parse(
            "dom0_max_vcpus=4 loglvl=none sync_console=maybe panic=soon loglvl=info/loud dom0_max_vcpus=0",
        );
        assert_eq!(a.dom0_max_vcpus, Some(4));
        assert_eq!(a.sched_slice_ms, crate::sched::DEFAULT_SLICE_MS);
        let msgs: Vec<_> = a.errors.iter().map(|e| alloc::format!("{e}")).collect();
        assert!(
            msgs[0].contains("'loglvl=none' not honoured exactly"),
            "{msgs:?}"
        );
        assert!(
            msgs[1].contains("sync_console=maybe ignored: expected 1|0"),
            "{msgs:?}"
        );
        assert!(msgs[2].contains("panic=soon ignored"), "{msgs:?}");
        assert!(msgs[3].contains("loglvl=info/loud ignored"), "{msgs:?}");
        assert!(msgs[4].contains("dom0_max_vcpus=0 ignored"), "{msgs:?}");
    }

    #[test]
    fn domu_restart_is_on_unless_turned_off() {
        assert!(BootArgs::default().domu_restart);
        assert!(!BootArgs::parse("domu_restart=0").domu_restart);
        assert!(!BootArgs::parse("no-domu_restart").domu_restart);
        assert!(BootArgs::parse("domu_restart=on").domu_restart);
        let a = BootArgs::parse("domu_restart=maybe");
        assert!(a.domu_restart);
        assert_eq!(a.errors.len(), 1);
    }

    #[test]
    fn the_time_slice_is_bounded() {
        assert_eq!(BootArgs::parse("sched_slice_ms=30").sched_slice_ms, 30);
        for bad in [
            "sched_slice_ms=0",
            "sched_slice_ms=1001",
            "sched_slice_ms=fast",
        ] {
            let a = BootArgs::parse(bad);
            assert_eq!(a.sched_slice_ms, crate::sched::DEFAULT_SLICE_MS);
            let m = alloc::format!("{}", a.errors[0]);
            assert!(
                m.ends_with("ignored: expected milliseconds from 1 to 1000"),
                "{m}"
            );
        }
    }

    #[test]
    fn dom0_mem_error_names_the_forms() {
        let a = BootArgs::parse("dom0_mem=512M,max:lots");
        assert!(a.dom0_mem.is_none());
        let m = alloc::format!("{}", a.errors[0]);
        assert!(
            m.starts_with("boot argument dom0_mem=512M,max:lots ignored: expected <size>"),
            "{m}"
        );
        let a = BootArgs::parse("dom0_mem=512M,max:512M");
        assert!(a.errors.is_empty());
    }
}
