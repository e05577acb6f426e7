//! Calls aimed at the firmware: PSCI on CPUs that are not the guest's
//! (over SMC and over HVC), SMC64 function IDs from AArch32, and SMCs of
//! every other SMC Calling Convention owner (SiP, OEM, Trusted OS, a
//! yielding call) plus the legacy non-SMCCC IDs a vendor's firmware takes
//! (Exynos's `SMC_CMD_*`). None may reach the firmware: PSCI answers from
//! snowvisor's virtual PSCI (DEN0022D 5.1: INVALID_PARAMETERS for a CPU the
//! caller does not have, NOT_SUPPORTED for SMC64 from AArch32), anything
//! else NOT_SUPPORTED (SMCCC DEN0028 "Unknown Function Identifier", -1) or
//! an undefined instruction, as Xen answers calls it does not know.

use core::fmt::Write;

use crate::console::Line;
use crate::probe;
use crate::report::{self, Report};

const NOT_SUPPORTED: i32 = -1;
const INVALID_PARAMETERS: i32 = -2;
const ALREADY_ON: i32 = -4;

const CPU_ON: u32 = 0x8400_0003;
const AFFINITY_INFO: u32 = 0x8400_0004;
const CPU_ON64: u32 = 0xc400_0003;

/// `mine`: the MPIDRs (affinity fields) of the guest's own vCPUs.
pub fn run(r: &mut Report, mine: &[u32], entry: u32) {
    let mut name = Line::new();
    for target in [
        0x8000_0000u32,
        0x8000_0001,
        0x8000_0002,
        0x8000_0100,
        0x0000_0001,
    ] {
        let aff = target & 0x00ff_ffff;
        let own = mine.contains(&aff);
        // CPU_ON on our own (running) vCPU is ALREADY_ON; on any other CPU
        // INVALID_PARAMETERS: the host's CPUs are not ours to start.
        let want: &[i32] = if own {
            &[ALREADY_ON]
        } else {
            &[INVALID_PARAMETERS]
        };
        for (conduit, smc) in [("smc", true), ("hvc", false)] {
            let args = [CPU_ON, target, entry, 0];
            let o = if smc {
                probe::smc(args)
            } else {
                probe::psci_hvc(args)
            };
            let mut l = Line::new();
            let v = report::call(&o, want, false, &mut l);
            let _ = write!(name, "cpu_on-{target:#x}-{conduit}");
            r.case(
                "psci",
                format_args!("{}", name.as_str()),
                v,
                format_args!("{}", l.as_str()),
            );
            name = Line::new();
        }
        if !own {
            let o = probe::smc([AFFINITY_INFO, target, 0, 0]);
            let mut l = Line::new();
            let v = report::call(&o, &[INVALID_PARAMETERS], false, &mut l);
            let _ = write!(name, "affinity_info-{target:#x}");
            r.case(
                "psci",
                format_args!("{}", name.as_str()),
                v,
                format_args!("{}", l.as_str()),
            );
            name = Line::new();
        }
    }
    let o = probe::smc([CPU_ON64, 0x8000_0001, entry, 0]);
    let mut l = Line::new();
    let v = report::call(&o, &[NOT_SUPPORTED], false, &mut l);
    r.case(
        "psci",
        format_args!("cpu_on64-smc"),
        v,
        format_args!("{}", l.as_str()),
    );
    for (what, fid) in [
        ("sip", 0x8200_0001u32),
        ("oem", 0x8300_0001),
        ("standard-beyond-psci", 0x8400_0020),
        ("trusted-os", 0xb200_0001),
        ("trusted-os-uid", 0xbf00_ff01),
        ("yielding", 0x0200_0000),
        ("exynos-cpu1boot", 0xffff_fffc),
        ("exynos-reg", 0xffff_fff8),
        ("legacy-1", 0x0000_0001),
    ] {
        let o = probe::smc([fid, 0x8000_0001, entry, 0]);
        let mut l = Line::new();
        let v = report::call(&o, &[NOT_SUPPORTED], true, &mut l);
        let _ = write!(name, "{what}-{fid:#010x}");
        r.case(
            "smc",
            format_args!("{}", name.as_str()),
            v,
            format_args!("{}", l.as_str()),
        );
        name = Line::new();
    }
}
