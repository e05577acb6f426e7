//! snowctl: snowvisor's Dom0 tool. Talks to the hypervisor through Linux's
//! privcmd driver (`/dev/xen/privcmd`; `insmod xen-privcmd.ko` first).
//!
//!   snowctl info (or version)     xen_version: version, extraversion, changeset,
//!                                 capabilities, feature submap 0 (swiotlb-xen state);
//!                                 memory_op: Dom0's current and maximum reservation
//!   snowctl selftest              grant and event-channel round trips through
//!                                 gntalloc/gntdev/evtchn, hostile hypercalls
//!                                 through privcmd; one PASS/FAIL line per check
//!   snowctl dmesg [--previous]    snowvisor's RAM log of this boot (sysctl
//!                                 XEN_SYSCTL_readconsole) or of the boot before
//!                                 the last warm reboot (snowvisor's sub-op)
//!   snowctl list                  the domains in `xl list`'s columns (sysctl
//!                                 XEN_SYSCTL_getdomaininfolist; names by
//!                                 snowvisor's sysctl 0x534e0003)
//!   snowctl evtchn-status PORT    EVTCHNOP_status of one of this domain's ports
//!   snowctl evtchn-send PORT      EVTCHNOP_send on it (a static channel's other end)
//!   snowctl evtchn-offer DOM SECONDS
//!                                 a port unbound for domain DOM (/dev/xen/evtchn),
//!                                 then waits for an event (exit 1 after SECONDS without)
//!   snowctl evtchn-connect DOM SECONDS
//!                                 binds to the port DOM offered (its ports 1-64
//!                                 tried each second) and sends an event on it
//!   snowctl xenstore-page DOM SECONDS
//!                                 a boot-time DomU's xenstore page and channel:
//!                                 its HVM_PARAM_STORE_*, its grant ref 1 mapped
//!                                 (gntdev), its first word awaited, an answer
//!                                 written, then an event on its channel
//!   snowctl hvm-param DOM NAME    DOM's HVM parameter NAME (store-pfn, store-evtchn,
//!                                 console-pfn, console-evtchn) in decimal
//!   snowctl grant-hold DOM REF SECONDS
//!                                 DOM's grant REF mapped (gntdev) and held
//!                                 SECONDS, then unmapped
//!   snowctl grant-offer DOM SECONDS
//!                                 a page granted to DOM (gntalloc), its ref
//!                                 printed, held SECONDS
//!   snowctl domu-security [SECONDS]
//!                                 in a DomU with xenstore: what it must not
//!                                 do (Dom0's xenstore keys, grants and ports,
//!                                 privileged hypercalls), one PASS/FAIL line
//!                                 per check (security.rs); waits SECONDS
//!                                 (default 300) for Dom0's setup
//!   snowctl stats [--clear]       snowvisor's exit counters by class and key
//!                                 (sysctl 0x534e0002); --clear restarts them
//!   snowctl bench-hypercall [N]   a set of hypercalls, N each, against N unknown
//!                                 privcmd ioctls (no hypercall), and an event-channel
//!                                 round trip (bench.rs)
//!   snowctl bench-timer [N]       N sleeps of 1 ms (no hypervisor needed)
//!   snowctl bench-cpu [N]         N rounds of a fixed integer workload (and the
//!                                 timer interrupts taken meanwhile)
//!   snowctl bench-gicd [N]        N reads of GICD_TYPER through /dev/mem against
//!                                 N RAM reads (a trapped register read under a
//!                                 hypervisor)

mod bench;
mod list;
mod privcmd;
mod security;
mod selftest;
mod stats;
mod xendev;
mod xenstore;

use std::io::{self, Write};
use std::process::ExitCode;

use privcmd::{HcBuf, Privcmd};

/// Xen's hypercall numbers and sub-ops used here (`xen/include/public/`).
mod xen {
    pub const XEN_VERSION: u32 = 17;
    pub const MEMORY_OP: u32 = 12;
    pub const SYSCTL: u32 = 35;
    pub const CONSOLE_IO: u32 = 18;
    pub const GRANT_TABLE_OP: u32 = 20;
    pub const EVENT_CHANNEL_OP: u32 = 32;
    pub const HVM_OP: u32 = 34;

    pub const GNTTABOP_MAP_GRANT_REF: u64 = 0;
    pub const GNTTABOP_UNMAP_GRANT_REF: u64 = 1;
    pub const GNTTABOP_QUERY_SIZE: u64 = 6;
    pub const EVTCHNOP_CLOSE: u64 = 3;
    pub const EVTCHNOP_SEND: u64 = 4;
    pub const EVTCHNOP_ALLOC_UNBOUND: u64 = 6;
    pub const HVMOP_GET_PARAM: u64 = 1;
    pub const XENMEM_CURRENT_RESERVATION: u64 = 3;
    pub const XENMEM_MAXIMUM_RESERVATION: u64 = 4;
    /// `DOMID_SELF` (`public/xen.h`).
    pub const DOMID_SELF: u16 = 0x7ff0;
    pub const CONSOLEIO_WRITE: u64 = 0;

    pub const XENVER_VERSION: u64 = 0;
    pub const XENVER_EXTRAVERSION: u64 = 1;
    pub const XENVER_CAPABILITIES: u64 = 3;
    pub const XENVER_CHANGESET: u64 = 4;
    pub const XENVER_GET_FEATURES: u64 = 6;
    pub const EXTRAVERSION_LEN: usize = 16;
    pub const CAPABILITIES_LEN: usize = 1024;
    pub const CHANGESET_LEN: usize = 64;

    /// `XEN_SYSCTL_INTERFACE_VERSION` of Xen 4.17.
    pub const SYSCTL_INTERFACE_VERSION: u32 = 0x15;
    pub const SYSCTL_READCONSOLE: u32 = 1;
    /// snowvisor's: readconsole over the previous boot's RAM log.
    pub const SYSCTL_SNOWVISOR_READCONSOLE_PREVIOUS: u32 = 0x534e_0001;
    /// `sizeof(struct xen_sysctl)`: cmd, interface_version, 128-byte union.
    pub const SYSCTL_SIZE: usize = 136;

    /// `XENFEAT_*` bit names of submap 0.
    pub const FEATURES: &[(u32, &str)] = &[
        (0, "writable_page_tables"),
        (1, "writable_descriptor_tables"),
        (2, "auto_translated_physmap"),
        (3, "supervisor_mode_kernel"),
        (4, "pae_pgdir_above_4gb"),
        (5, "mmu_pt_update_preserve_ad"),
        (7, "gnttab_map_avail_bits"),
        (8, "hvm_callback_vector"),
        (9, "hvm_safe_pvclock"),
        (10, "hvm_pirqs"),
        (11, "dom0"),
        (12, "grant_map_identity"),
        (13, "memory_op_vnode_supported"),
        (14, "ARM_SMCCC_supported"),
        (15, "linux_rsdp_unrestricted"),
        (16, "not_direct_mapped"),
        (17, "direct_mapped"),
    ];
}

const USAGE: &str =
    "usage: snowctl info | version | selftest | dmesg [--previous] | list | evtchn-status|evtchn-send PORT | evtchn-offer|evtchn-connect|xenstore-page DOM SECONDS | hvm-param DOM NAME | grant-hold DOM REF SECONDS | grant-offer DOM SECONDS | domu-security [SECONDS] | stats [--clear] | bench-hypercall|bench-timer|bench-cpu|bench-gicd [N]";

/// Commands and what each takes after it (for the usage error).
const COMMANDS: [(&str, &str); 19] = [
    ("info", "nothing"),
    ("version", "nothing"),
    ("selftest", "nothing"),
    ("dmesg", "nothing or --previous"),
    ("list", "nothing"),
    ("evtchn-status", "a port number"),
    ("evtchn-send", "a port number"),
    ("evtchn-offer", "a domain and a number of seconds"),
    ("evtchn-connect", "a domain and a number of seconds"),
    ("xenstore-page", "a domain and a number of seconds"),
    ("hvm-param", "a domain and a parameter's name"),
    (
        "grant-hold",
        "a domain, a grant ref and a number of seconds",
    ),
    ("grant-offer", "a domain and a number of seconds"),
    ("domu-security", "nothing or a number of seconds"),
    ("stats", "nothing or --clear"),
    ("bench-hypercall", "nothing or a count N"),
    ("bench-timer", "nothing or a count N"),
    ("bench-cpu", "nothing or a count N"),
    ("bench-gicd", "nothing or a count N"),
];

/// What is wrong with a command line `main` did not accept, naming the word.
fn usage_error(args: &[&str]) -> String {
    match args {
        [] => String::from("no command given"),
        [cmd, rest @ ..] => match COMMANDS.iter().find(|(c, _)| c == cmd) {
            None => format!("unknown command '{cmd}'"),
            Some((_, takes)) => format!(
                "{cmd}: unexpected argument(s) '{}' ({cmd} takes {takes})",
                rest.join(" ")
            ),
        },
    }
}

/// A failure, printed as `snowctl: <message>`.
struct Fail(String);

impl Fail {
    fn io(what: &str, e: io::Error) -> Fail {
        Fail(format!("{what}: {}", errno_text(&e)))
    }
}

/// "-ENOSYS (Function not implemented)" style text for a hypercall error.
fn errno_text(e: &io::Error) -> String {
    let name = match e.raw_os_error() {
        Some(1) => "-EPERM",
        Some(2) => "-ENOENT",
        Some(3) => "-ESRCH",
        Some(13) => "-EACCES",
        Some(14) => "-EFAULT",
        Some(22) => "-EINVAL",
        Some(25) => "-ENOTTY",
        Some(38) => "-ENOSYS",
        Some(61) => "-ENODATA",
        Some(95) => "-EOPNOTSUPP",
        _ => "",
    };
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    if name.is_empty() {
        text.to_string()
    } else {
        format!("{name} ({text})")
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let r = match args.as_slice() {
        ["version"] | ["info"] => open().and_then(|p| version(&p)),
        ["selftest"] => open().and_then(|p| {
            selftest::run(&p).map_err(|(_, failed)| Fail(format!("selftest: {failed} failed")))
        }),
        ["dmesg"] => open().and_then(|p| dmesg(&p, false)),
        ["dmesg", "--previous"] => open().and_then(|p| dmesg(&p, true)),
        ["list"] => open().and_then(|p| list::run(&p)),
        [which @ ("evtchn-status" | "evtchn-send"), port] => match port.parse::<u32>() {
            Ok(n) => open().and_then(|p| {
                if *which == "evtchn-send" {
                    list::evtchn_send(&p, n)
                } else {
                    list::evtchn_status(&p, n)
                }
            }),
            Err(_) => Err(Fail(format!(
                "{which}: PORT must be a number, not {port:?}"
            ))),
        },
        ["stats"] => open().and_then(|p| stats::run(&p, false)),
        ["stats", "--clear"] => open().and_then(|p| stats::run(&p, true)),
        ["bench-hypercall"] => open().and_then(|p| bench::hypercalls(&p, 100_000)),
        ["bench-timer"] => bench::timer(2000),
        ["bench-cpu"] => bench::cpu(20_000),
        ["bench-gicd"] => bench::gicd(100_000),
        [which @ ("bench-hypercall" | "bench-timer" | "bench-cpu" | "bench-gicd"), n] => {
            match n.parse::<u32>() {
                Ok(n) if n > 0 => match *which {
                    "bench-hypercall" => open().and_then(|p| bench::hypercalls(&p, n)),
                    "bench-timer" => bench::timer(n),
                    "bench-gicd" => bench::gicd(n),
                    _ => bench::cpu(n),
                },
                _ => Err(Fail(format!(
                    "{which}: N must be a positive number, not {n:?}"
                ))),
            }
        }
        [which @ ("evtchn-offer" | "evtchn-connect"), dom, secs] => {
            match (dom.parse::<u32>(), secs.parse::<u32>()) {
                (Ok(d), Ok(s)) if *which == "evtchn-offer" => list::evtchn_offer(d, s),
                (Ok(d), Ok(s)) => list::evtchn_connect(d, s),
                _ => Err(Fail(format!(
                    "{which}: DOM SECONDS are numbers, not {dom:?} {secs:?}"
                ))),
            }
        }
        ["xenstore-page", dom, secs] => match (dom.parse::<u16>(), secs.parse::<u32>()) {
            (Ok(d), Ok(s)) => open().and_then(|p| xenstore::page(&p, d, s)),
            _ => Err(Fail(format!(
                "xenstore-page: DOM SECONDS are numbers, not {dom:?} {secs:?}"
            ))),
        },
        ["hvm-param", dom, name] => match dom.parse::<u16>() {
            Ok(d) => open().and_then(|p| xenstore::param(&p, d, name)),
            _ => Err(Fail(format!("hvm-param: DOM is a number, not {dom:?}"))),
        },
        ["grant-hold", dom, gref, secs] => {
            match (dom.parse::<u16>(), gref.parse::<u32>(), secs.parse::<u32>()) {
                (Ok(d), Ok(g), Ok(s)) => xenstore::hold(d, g, s),
                _ => Err(Fail(format!(
                    "grant-hold: DOM REF SECONDS are numbers, not {dom:?} {gref:?} {secs:?}"
                ))),
            }
        }
        ["grant-offer", dom, secs] => match (dom.parse::<u16>(), secs.parse::<u32>()) {
            (Ok(d), Ok(s)) => security::grant_offer(d, s).map_err(Fail),
            _ => Err(Fail(format!(
                "grant-offer: DOM SECONDS are numbers, not {dom:?} {secs:?}"
            ))),
        },
        ["domu-security"] => open().and_then(|p| security::run(&p, 300).map_err(Fail)),
        ["domu-security", secs] => match secs.parse::<u32>() {
            Ok(s) => open().and_then(|p| security::run(&p, s).map_err(Fail)),
            Err(_) => Err(Fail(format!(
                "domu-security: SECONDS must be a number, not {secs:?}"
            ))),
        },
        ["-h" | "--help" | "help"] => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("snowctl: {}\n{USAGE}", usage_error(&args));
            return ExitCode::from(2);
        }
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail(m)) => {
            let _ = io::stdout().flush();
            eprintln!("snowctl: {m}");
            ExitCode::FAILURE
        }
    }
}

fn open() -> Result<Privcmd, Fail> {
    Privcmd::open().map_err(|e| {
        Fail(format!(
            "cannot open {} ({e}); is xen-privcmd loaded (insmod /lib/modules/xen-privcmd.ko)?",
            privcmd::PATHS.join(" or ")
        ))
    })
}

/// A NUL-terminated string from a fixed-size result buffer.
fn c_str(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// Names of the bits set in a feature submap.
fn feature_names(map: u32) -> String {
    (0..32)
        .filter(|b| map & (1 << b) != 0)
        .map(|b| {
            xen::FEATURES
                .iter()
                .find(|f| f.0 == b)
                .map_or_else(|| format!("bit{b}"), |f| f.1.to_string())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `xen_version(cmd, buf)` into a fresh buffer of `len` bytes.
fn version_string(p: &Privcmd, cmd: u64, len: usize, what: &str) -> Result<String, Fail> {
    let b = HcBuf::new(len);
    p.hypercall(xen::XEN_VERSION, [cmd, b.addr(), 0, 0, 0])
        .map_err(|e| Fail::io(&format!("xen_version({what})"), e))?;
    Ok(c_str(b.bytes()))
}

fn version(p: &Privcmd) -> Result<(), Fail> {
    let v = p
        .hypercall(xen::XEN_VERSION, [xen::XENVER_VERSION, 0, 0, 0, 0])
        .map_err(|e| Fail::io("xen_version(XENVER_version)", e))?;
    let extra = version_string(
        p,
        xen::XENVER_EXTRAVERSION,
        xen::EXTRAVERSION_LEN,
        "extraversion",
    )?;
    let changeset = version_string(p, xen::XENVER_CHANGESET, xen::CHANGESET_LEN, "changeset")?;
    let caps = version_string(
        p,
        xen::XENVER_CAPABILITIES,
        xen::CAPABILITIES_LEN,
        "capabilities",
    )?;
    let mut fi = HcBuf::new(8);
    fi.bytes_mut().fill(0); // submap_idx 0
    p.hypercall(
        xen::XEN_VERSION,
        [xen::XENVER_GET_FEATURES, fi.addr(), 0, 0, 0],
    )
    .map_err(|e| Fail::io("xen_version(XENVER_get_features)", e))?;
    let map = u32::from_le_bytes(fi.bytes()[4..8].try_into().unwrap_or_default());
    println!("version: Xen {}.{}{extra}", v >> 16, v & 0xffff);
    println!("changeset: {changeset}");
    println!("capabilities: {}", caps.trim());
    println!("features[0]: {map:#010x} {}", feature_names(map));
    let swiotlb = if map & (1 << 17) != 0 {
        "on (XENFEAT_direct_mapped)"
    } else if map & (1 << 16) != 0 {
        "off (XENFEAT_not_direct_mapped)"
    } else {
        "unknown (neither direct_mapped nor not_direct_mapped)"
    };
    println!("swiotlb-xen: {swiotlb}");
    let pages = |cmd| reservation(p, cmd).map_err(|e| errno_text(&e));
    match (
        pages(xen::XENMEM_CURRENT_RESERVATION),
        pages(xen::XENMEM_MAXIMUM_RESERVATION),
    ) {
        (Ok(cur), Ok(max)) => println!(
            "memory: current_reservation {cur} pages ({} KiB), maximum_reservation {max} pages",
            u64::from(cur.unsigned_abs()) * 4
        ),
        (cur, max) => println!("memory: current_reservation {cur:?}, maximum_reservation {max:?}"),
    }
    Ok(())
}

/// `memory_op(cmd, &xen_memory_domain { DOMID_SELF })`: Dom0's current or
/// maximum reservation in 4 KiB pages (`public/memory.h`).
fn reservation(p: &Privcmd, cmd: u64) -> io::Result<i32> {
    let mut d = HcBuf::new(2);
    d.bytes_mut()
        .copy_from_slice(&xen::DOMID_SELF.to_le_bytes());
    p.hypercall(xen::MEMORY_OP, [cmd, d.addr(), 0, 0, 0])
}

/// The `xen_sysctl` of a readconsole call (struct layout: cmd at 0,
/// interface_version at 4, then `xen_sysctl_readconsole` at 8: clear 8,
/// incremental 9, index 12, buffer handle 16, count 24).
fn readconsole_op(cmd: u32, incremental: bool, index: u32, buf: u64, count: u32) -> [u8; 136] {
    let mut b = [0u8; xen::SYSCTL_SIZE];
    b[0..4].copy_from_slice(&cmd.to_le_bytes());
    b[4..8].copy_from_slice(&xen::SYSCTL_INTERFACE_VERSION.to_le_bytes());
    b[9] = incremental as u8;
    b[12..16].copy_from_slice(&index.to_le_bytes());
    b[16..24].copy_from_slice(&buf.to_le_bytes());
    b[24..28].copy_from_slice(&count.to_le_bytes());
    b
}

/// (count, index) the hypervisor wrote back.
fn readconsole_result(b: &[u8]) -> (u32, u32) {
    let word = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
    (word(24), word(12))
}

fn dmesg(p: &Privcmd, previous: bool) -> Result<(), Fail> {
    let cmd = if previous {
        xen::SYSCTL_SNOWVISOR_READCONSOLE_PREVIOUS
    } else {
        xen::SYSCTL_READCONSOLE
    };
    let mut op = HcBuf::new(xen::SYSCTL_SIZE);
    let data = HcBuf::new(4096);
    let mut out = io::stdout().lock();
    let (mut index, mut first, mut total) = (0u32, true, 0usize);
    // A log never grows faster than it is read here, but a bound keeps a
    // misbehaving hypervisor from making this loop for ever.
    while total < 64 << 20 {
        let o = readconsole_op(cmd, !first, index, data.addr(), data.bytes().len() as u32);
        op.bytes_mut().copy_from_slice(&o);
        p.hypercall(xen::SYSCTL, [op.addr(), 0, 0, 0, 0])
            .map_err(|e| {
                let hint = match e.raw_os_error() {
                    Some(61) => ": this board keeps no RAM log",
                    Some(38) => ": the hypervisor has no readconsole",
                    _ => "",
                };
                Fail(format!("sysctl readconsole: {}{hint}", errno_text(&e)))
            })?;
        let (count, next) = readconsole_result(op.bytes());
        let count = (count as usize).min(data.bytes().len());
        if count == 0 {
            if first && previous {
                // Say so rather than print nothing: a cold boot has no
                // earlier log, nor has a board whose RAM a reset clears.
                // On stderr: stdout stays the log itself, empty.
                eprintln!("snowctl: no previous boot's log (a cold boot, or the RAM log did not survive the reset)");
            }
            break;
        }
        out.write_all(&data.bytes()[..count])
            .map_err(|e| Fail(format!("stdout: {e}")))?;
        total += count;
        index = next;
        first = false;
    }
    out.flush().map_err(|e| Fail(format!("stdout: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readconsole_op_layout() {
        let b = readconsole_op(1, true, 0x1234, 0xbeef_0000, 4096);
        assert_eq!(&b[0..8], &[1, 0, 0, 0, 0x15, 0, 0, 0]);
        assert_eq!((b[8], b[9]), (0, 1));
        assert_eq!(&b[16..20], &0xbeef_0000u32.to_le_bytes());
        assert_eq!(readconsole_result(&b), (4096, 0x1234));
    }

    #[test]
    fn usage_errors_name_the_word() {
        assert_eq!(usage_error(&["bogus"]), "unknown command 'bogus'");
        assert_eq!(usage_error(&[]), "no command given");
        assert_eq!(
            usage_error(&["dmesg", "--prev"]),
            "dmesg: unexpected argument(s) '--prev' (dmesg takes nothing or --previous)"
        );
        assert_eq!(
            usage_error(&["info", "a", "b"]),
            "info: unexpected argument(s) 'a b' (info takes nothing)"
        );
        assert_eq!(
            usage_error(&["bench-cpu", "1", "2"]),
            "bench-cpu: unexpected argument(s) '1 2' (bench-cpu takes nothing or a count N)"
        );
    }

    #[test]
    fn names() {
        assert_eq!(
            feature_names(0x0002_0804),
            "auto_translated_physmap dom0 direct_mapped"
        );
        assert_eq!(feature_names(1 << 31), "bit31");
        assert_eq!(c_str(b"-snowvisor\0\0\0"), "-snowvisor");
        assert_eq!(c_str(b"abc"), "abc");
        let e = io::Error::from_raw_os_error(38);
        assert!(
            errno_text(&e).starts_with("-ENOSYS ("),
            "{}",
            errno_text(&e)
        );
    }
}
