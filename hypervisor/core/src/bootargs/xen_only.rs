//! Xen command-line options that Xen users carry over from their Xen/Arm
//! boot configurations (`docs/misc/xen-command-line.pandoc` in Xen 4.17):
//! each is read in every form Xen documents and either honoured or reported
//! by name with what snowvisor does instead, never called unknown.

use super::{parse_bool, ArgError, BootArgs, BOOL_FORMS};

/// How a guest's WFI and WFE run (Xen's `vwfi=`, Arm only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vwfi {
    /// Trapped (the default): WFI blocks the vCPU until its timer or an
    /// interrupt, WFE yields its CPU to another vCPU.
    Trap,
    /// Run in the guest (HCR.TWI and HCR.TWE clear): lower interrupt
    /// latency; a vCPU waiting in WFI keeps its CPU until an interrupt or
    /// the end of its slice.
    Native,
}

/// Xen's scheduler names (`sched=`).
const SCHED_NAMES: [&str; 5] = ["credit", "credit2", "arinc653", "rtds", "null"];

/// Reads `word` (`key=value`) if it is one of these Xen options, updating
/// `a`; false if `key` is none of them.
pub(super) fn parse<'a>(a: &mut BootArgs<'a>, word: &'a str, key: &'a str, value: &'a str) -> bool {
    let bad = |expected| ArgError::BadValue {
        key,
        value,
        expected,
    };
    let not_honoured = |why| ArgError::NotHonoured { word, why };
    let e = match key {
        "vwfi" => match value {
            "trap" => {
                a.vwfi = Vwfi::Trap;
                None
            }
            "native" => {
                a.vwfi = Vwfi::Native;
                None
            }
            _ => Some(bad("trap|native")),
        },
        "sched_ratelimit_us" => match value.parse::<u32>() {
            Ok(us) if us <= 1_000_000 => {
                a.sched_ratelimit_us = us;
                None
            }
            _ => Some(bad("microseconds from 0 to 1000000")),
        },
        // Xen's credit scheduler's time slice: snowvisor's sched_slice_ms.
        "sched_credit_tslice_ms" => match value.parse::<u32>() {
            Ok(n) if crate::sched::SLICE_MS_RANGE.contains(&n) => {
                a.sched_slice_ms = n;
                None
            }
            _ => Some(bad("milliseconds from 1 to 1000")),
        },
        // A vCPU is placed once and never moves: Dom0's are pinned already.
        "dom0_vcpus_pin" | "no-dom0_vcpus_pin" => match parse_bool(word) {
            Some(true) => None,
            Some(false) => Some(not_honoured(
                "vCPUs are placed once at boot and never move (as if pinned)",
            )),
            None => Some(bad(BOOL_FORMS)),
        },
        "sched" if SCHED_NAMES.contains(&value) => Some(not_honoured(
            "snowvisor has one scheduler: round-robin time slices on each CPU (sched_slice_ms=), vCPUs placed once and never moved; a vCPU with a CPU to itself runs as under null",
        )),
        "sched" => Some(bad("credit|credit2|arinc653|rtds|null")),
        "bootscrub" | "no-bootscrub" => match (value, parse_bool(word)) {
            ("idle", _) | (_, Some(true)) => Some(not_honoured(
                "snowvisor has no free memory to scrub: each DomU's memory is scrubbed before it gets it, Dom0's RAM (which holds the boot modules) is not",
            )),
            (_, Some(false)) => Some(not_honoured(
                "each DomU's memory is always scrubbed before the DomU gets it",
            )),
            _ => Some(bad("idle or 1|0, yes|no, true|false, on|off, enable|disable")),
        },
        "timer_slop" => match value.parse::<u32>() {
            Ok(0) => None,
            Ok(_) => Some(not_honoured(
                "snowvisor arms each timer for its exact deadline (no slop)",
            )),
            Err(_) => Some(bad("nanoseconds")),
        },
        "conswitch" => match value {
            "a" => None,
            v if v.len() == 1 || (v.len() == 2 && v.ends_with('x')) => Some(not_honoured(
                "input switches with Ctrl-a three times, and goes to Dom0 at boot",
            )),
            _ => Some(bad("<switch char>[x]")),
        },
        "dtuart" => Some(not_honoured(
            "snowvisor's console is /chosen/stdout-path's UART (or the board's); dtuart= is not read",
        )),
        _ => return false,
    };
    a.errors.extend(e);
    true
}

#[cfg(test)]
mod tests {
    use super::super::BootArgs;
    use super::Vwfi;
    use alloc::format;
    use alloc::vec::Vec;

    #[test]
    fn a_typical_xen_arm_command_line_is_read_not_called_unknown() {
        let a = BootArgs::parse(
            "console=dtuart dom0_mem=512M dom0_max_vcpus=1 dom0_vcpus_pin vwfi=native sched_ratelimit_us=500 sched_credit_tslice_ms=5 timer_slop=0 conswitch=a",
        );
        assert!(a.errors.is_empty(), "{:?}", a.errors);
        assert_eq!(a.vwfi, Vwfi::Native);
        assert_eq!(a.sched_ratelimit_us, 500);
        assert_eq!(a.sched_slice_ms, 5);
    }

    #[test]
    fn what_snowvisor_does_differently_is_named() {
        let a = BootArgs::parse(
            "sched=null bootscrub=0 bootscrub=idle no-dom0_vcpus_pin timer_slop=50000 conswitch=bx dtuart=serial0",
        );
        let msgs: Vec<_> = a.errors.iter().map(|e| format!("{e}")).collect();
        assert_eq!(msgs.len(), 7, "{msgs:?}");
        assert!(
            msgs[0].starts_with(
                "boot argument 'sched=null' not honoured exactly: snowvisor has one scheduler"
            ),
            "{msgs:?}"
        );
        assert!(
            msgs[1].contains(
                "'bootscrub=0' not honoured exactly: each DomU's memory is always scrubbed"
            ),
            "{msgs:?}"
        );
        assert!(
            msgs[2].contains("'bootscrub=idle' not honoured exactly: snowvisor has no free memory"),
            "{msgs:?}"
        );
        assert!(msgs[3].contains("'no-dom0_vcpus_pin'"), "{msgs:?}");
        assert!(msgs[4].contains("'timer_slop=50000'"), "{msgs:?}");
        assert!(msgs[5].contains("'conswitch=bx'"), "{msgs:?}");
        assert!(msgs[6].contains("'dtuart=serial0'"), "{msgs:?}");
        assert!(msgs.iter().all(|m| !m.contains("unknown")), "{msgs:?}");
    }

    #[test]
    fn bad_values_name_the_forms() {
        let a = BootArgs::parse(
            "vwfi=sometimes sched=fifo sched_ratelimit_us=-1 sched_credit_tslice_ms=0 bootscrub=maybe timer_slop=x conswitch=abc",
        );
        let msgs: Vec<_> = a.errors.iter().map(|e| format!("{e}")).collect();
        assert_eq!(msgs.len(), 7, "{msgs:?}");
        assert!(
            msgs[0].contains("vwfi=sometimes ignored: expected trap|native"),
            "{msgs:?}"
        );
        assert!(
            msgs[1].contains("sched=fifo ignored: expected credit|credit2|arinc653|rtds|null"),
            "{msgs:?}"
        );
        assert!(
            msgs[2].contains("sched_ratelimit_us=-1 ignored"),
            "{msgs:?}"
        );
        assert!(
            msgs[3].contains("sched_credit_tslice_ms=0 ignored"),
            "{msgs:?}"
        );
        assert!(
            msgs[4].contains("bootscrub=maybe ignored: expected idle or"),
            "{msgs:?}"
        );
        assert!(msgs[5].contains("timer_slop=x ignored"), "{msgs:?}");
        assert!(msgs[6].contains("conswitch=abc ignored"), "{msgs:?}");
        assert_eq!(a.vwfi, Vwfi::Trap);
    }
}
