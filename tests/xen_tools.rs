//! Xen's own Dom0 userland, unchanged from Debian's armhf packages
//! (`scripts/run --xen-tools`): /init mounts xenfs and starts the C
//! xenstored, which takes over the xenstore ring page and event channel Dom0's
//! kernel set up, and xen-init-dom0 names Dom0; then the xenstore tools work
//! through xenstored's socket and through the kernel's /dev/xen/xenbus. The
//! Dom0 side is `qemu/dom0-initramfs/tests/xen-tools`.

use snowvisor_tests::{Boot, Opts};

/// The output lines of `xen-tools NAME` in Dom0 (without the prefix) up to
/// its exit line; asserts the exit status.
fn command(b: &mut Boot, name: &str, status: i32) -> Vec<String> {
    let prefix = format!("snowvisor-dom0: xen-tools {name}");
    let mut out = Vec::new();
    loop {
        let l = b.expect(&prefix, 120);
        let rest = &l[l.find(&prefix).unwrap() + prefix.len()..];
        if let Some(rc) = rest.strip_prefix(" exit ") {
            assert_eq!(rc, status.to_string(), "{name}: exit {rc}; output {out:#?}");
            return out;
        }
        out.push(rest.strip_prefix(": ").unwrap_or(rest).to_string());
    }
}

/// Lines snowvisor must never print while Xen's tools run.
fn assert_clean(b: &Boot) {
    let c = b.console();
    for bad in [
        "fatal",
        "unhandled",
        "unexpected exception",
        "kernel BUG",
        "Oops",
    ] {
        assert!(!c.contains(bad), "{bad:?} on the console:\n{c}");
    }
}

#[test]
fn xenstored_runs_in_dom0_and_the_xenstore_tools_work() {
    let mut b = Boot::start(&Opts {
        dom0_args: "snowvisor.test=xen-tools".into(),
        xen_tools: true,
        ..Opts::default()
    });
    let up = b.expect("snowvisor-dom0: xen-tools: xenstored up (pid ", 240);
    assert!(
        up.trim_end_matches(')')
            .rsplit(' ')
            .next()
            .unwrap()
            .parse::<u32>()
            .is_ok(),
        "{up}"
    );
    b.expect(
        "snowvisor-dom0: xen-tools: Dom0 is Domain-0 in xenstore",
        60,
    );
    b.expect("snowvisor-dom0: test xen-tools start", 60);
    let ls = command(&mut b, "ls", 0);
    for want in [
        "/local/domain/0/name = \"Domain-0\"",
        "/local/domain/0/domid = \"0\"",
        // Written by Dom0's kernel through its own xenbus ring, which
        // xenstored serves: ring page and event channel both work.
        "/local/domain/0/control/feature-poweroff = \"1\"",
        "/tool/xenstored = \"\"",
    ] {
        assert!(ls.iter().any(|l| l == want), "no {want:?} in {ls:#?}");
    }
    command(&mut b, "write", 0);
    assert_eq!(
        command(&mut b, "read", 0),
        ["written in Dom0", "17"],
        "xenstore-read"
    );
    assert_eq!(command(&mut b, "list", 0), ["0"], "xenstore-list");
    command(&mut b, "rm", 0);
    command(&mut b, "exists-after-rm", 1);
    assert_eq!(
        command(&mut b, "kernel-read", 0),
        ["written in Dom0"],
        "xenstore-read through /dev/xen/xenbus"
    );
    b.expect("snowvisor-dom0: test xen-tools exit 0", 60);
    b.expect("dom0: SCHEDOP_shutdown(poweroff): powering off", 60);
    assert!(b.expect_exit(30).success());
    assert_clean(&b);
}

/// The keys `xl info` of Xen 4.17 prints, in its order (`tools/xl/xl_info.c`:
/// `output_nodeinfo`, `output_physinfo`, `output_xeninfo`); a hypercall
/// that fails drops its lines.
const XL_INFO_KEYS: &[&str] = &[
    "host",
    "release",
    "version",
    "machine",
    "nr_cpus",
    "max_cpu_id",
    "nr_nodes",
    "cores_per_socket",
    "threads_per_core",
    "cpu_mhz",
    "hw_caps",
    "virt_caps",
    "total_memory",
    "free_memory",
    "sharing_freed_memory",
    "sharing_used_memory",
    "outstanding_claims",
    "free_cpus",
    "xen_major",
    "xen_minor",
    "xen_extra",
    "xen_version",
    "xen_caps",
    "xen_scheduler",
    "xen_pagesize",
    "platform_params",
    "xen_changeset",
    "xen_commandline",
    "cc_compiler",
    "cc_compile_by",
    "cc_compile_domain",
    "cc_compile_date",
    "build_id",
    "xend_config_format",
];

/// `xl info`'s lines as (key, value), the key padded to 23 columns then
/// ": " as xl prints it (the console drops an empty value's space).
fn xl_info(lines: &[String]) -> Vec<(String, String)> {
    lines
        .iter()
        .map(|l| {
            assert_eq!(l.find(':'), Some(23), "xl info line {l:?}");
            (l[..23].trim_end().to_string(), l[24..].trim().to_string())
        })
        .collect()
}

/// The whitespace-separated columns of a table's rows (header first).
fn columns(lines: &[String]) -> Vec<Vec<&str>> {
    lines
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect()
}

#[test]
fn xl_reads_the_machine_the_domains_and_the_log() {
    let mut b = Boot::start(&Opts {
        dom0_args: "snowvisor.test=xen-tools".into(),
        xen_tools: true,
        domus: vec!["default".into()],
        ..Opts::default()
    });
    let dom0_mem = b.expect("snowvisor: dom0: memory ", 120);
    // "... (N MiB, 1:1)": what Dom0 was built with.
    let dom0_mib: u64 = dom0_mem
        .rsplit('(')
        .next()
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{dom0_mem}"));
    b.expect("snowvisor-dom0: xen-tools: d1 is domU1 in xenstore", 240);
    b.expect("snowvisor-dom0: test xen-tools start", 60);
    for c in ["ls", "write", "read", "list", "rm"] {
        command(&mut b, c, 0);
    }
    command(&mut b, "exists-after-rm", 1);
    command(&mut b, "kernel-read", 0);

    let info = xl_info(&command(&mut b, "info", 0));
    let keys: Vec<&str> = info.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, XL_INFO_KEYS, "xl info: {info:#?}");
    let val = |k: &str| info.iter().find(|(key, _)| key == k).unwrap().1.as_str();
    // QEMU's machine: 2 CPUs, 1024 MiB, the 62.5 MHz generic timer.
    assert_eq!(val("nr_cpus"), "2");
    assert_eq!(val("max_cpu_id"), "1");
    assert_eq!((val("nr_nodes"), val("cores_per_socket")), ("1", "1"));
    assert_eq!(val("cpu_mhz"), "62.500");
    assert_eq!(val("virt_caps"), "hvm hap gnttab-v1");
    assert_eq!(val("total_memory"), "1024");
    // What snowvisor holds for the DomU's restarts ("d1: N MiB of the
    // host (...) keep copies of its boot modules") is not free either.
    let console = b.console();
    let kept_mib: u64 = console
        .lines()
        .filter(|l| l.contains("keep copies of its boot modules"))
        .find_map(|l| {
            l.split("snowvisor: d1: ")
                .nth(1)?
                .split(" MiB of the host")
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no kept copies line for d1"));
    assert!(kept_mib >= 4, "kept {kept_mib} MiB");
    let free: u64 = val("free_memory").parse().unwrap();
    assert!(
        free + dom0_mib + 256 + kept_mib <= 1024,
        "free_memory {free} with Dom0 {dom0_mib} MiB, domU1 256 MiB, {kept_mib} MiB kept"
    );
    assert_eq!(val("free_cpus"), "0");
    assert_eq!((val("xen_major"), val("xen_minor")), ("4", "17"));
    assert_eq!(val("xen_version"), "4.17-snowvisor");
    assert_eq!(val("xen_caps"), "xen-3.0-armv7l");
    assert_eq!(val("xen_scheduler"), "credit");
    assert_eq!(val("xen_pagesize"), "4096");
    // XENVER_commandline: snowvisor's own arguments (Opts' --hyp-args).
    assert_eq!(val("xen_commandline"), "loglvl=info");

    // Two CPUs: the DomU takes one for itself, Dom0 the other.
    let list = command(&mut b, "list", 0);
    let rows = columns(&list);
    assert_eq!(
        rows[0],
        ["Name", "ID", "Mem", "VCPUs", "State", "Time(s)"],
        "{list:#?}"
    );
    assert_eq!(rows.len(), 3, "{list:#?}");
    assert_eq!(rows[1][..4], ["Domain-0", "0", &dom0_mib.to_string(), "1"]);
    assert_eq!(rows[1][4], "r-----", "{list:#?}");
    assert_eq!(rows[2][..4], ["domU1", "1", "256", "1"]);

    let vcpus = command(&mut b, "vcpu-list", 0);
    let rows = columns(&vcpus);
    assert_eq!(
        rows[0],
        ["Name", "ID", "VCPU", "CPU", "State", "Time(s)", "Affinity", "(Hard", "/", "Soft)"],
        "{vcpus:#?}"
    );
    assert_eq!(rows.len(), 3, "{vcpus:#?}");
    // Dom0's vCPU on CPU 0 (running: it asks), the DomU's on CPU 1; each
    // pinned to its CPU, soft affinity every CPU.
    assert_eq!(
        rows[1][..5],
        ["Domain-0", "0", "0", "0", "r--"],
        "{vcpus:#?}"
    );
    assert_eq!(rows[1][6..], ["0", "/", "all"], "{vcpus:#?}");
    assert_eq!(rows[2][..4], ["domU1", "1", "0", "1"], "{vcpus:#?}");
    assert_eq!(rows[2][6..], ["1", "/", "all"], "{vcpus:#?}");

    let up = command(&mut b, "uptime", 0);
    let rows = columns(&up);
    assert_eq!(rows[0], ["Name", "ID", "Uptime"], "{up:#?}");
    assert_eq!(rows[1][..2], ["Domain-0", "0"], "{up:#?}");
    assert_eq!(rows[2][..2], ["domU1", "1"], "{up:#?}");

    command(&mut b, "debug-keys", 0);
    let dmesg = command(&mut b, "dmesg", 0);
    for want in [
        "snowvisor: snowvisor 0.1.0 (linux,dummy-virt)",
        "snowvisor: 'h': this help",
    ] {
        assert!(
            dmesg.iter().any(|l| l.contains(want)),
            "no {want:?} in xl dmesg: {dmesg:#?}"
        );
    }
    b.expect("snowvisor-dom0: test xen-tools exit 0", 60);
    assert_clean(&b);
}

/// A boot-time DomU with xenstore (`--domu-xenstore`: `xen,enhanced =
/// "enabled"`) introduced to xenstored by Xen 4.17's own `init-dom0less`,
/// which Dom0's /init runs (`qemu/dom0-initramfs/init`): it succeeds
/// (max_mem, the xenstore page populated and mapped, the grant table
/// seeded through acquire_resource, the handle, HVM_PARAM_STORE_PFN,
/// XS_INTRODUCE), /init renames the domain to its `xen,domain` node's name,
/// xl and xenstore show it with its memory and vCPUs, and the DomU's
/// kernel connects to xenstore (its `xenbus` interrupt) and reads its own
/// name through its `/dev/xen/xenbus` (`tests/dom0less`,
/// `tests/xenbus-name`).
#[test]
fn init_dom0less_introduces_a_boot_time_domu() {
    let mut b = Boot::start(&Opts {
        dom0_args: "snowvisor.test=dom0less".into(),
        xen_tools: true,
        domus: vec!["default".into()],
        domu_xenstore: true,
        domu_args: Some("console=ttyAMA0 snowvisor.test=xenbus-name".into()),
        ..Opts::default()
    });
    b.expect(
        "snowvisor-dom0: xen-tools: init-dom0less: Init dom0less domain: 1",
        300,
    );
    b.expect("snowvisor-dom0: xen-tools: init-dom0less exit 0", 60);
    b.expect(
        "snowvisor-dom0: xen-tools: d1 is domU1 in xenstore (introduced by init-dom0less)",
        60,
    );
    b.expect("snowvisor-dom0: test dom0less start", 60);
    let list = command(&mut b, "list", 0);
    let rows = columns(&list);
    assert_eq!(rows.len(), 3, "{list:#?}");
    assert_eq!(rows[2][..4], ["domU1", "1", "256", "1"], "{list:#?}");
    assert_eq!(command(&mut b, "name", 0), ["domU1"]);
    let ls = command(&mut b, "ls", 0);
    let node = |k: &str| -> String {
        ls.iter()
            .find_map(|l| l.trim_start().strip_prefix(&format!("{k} = ")))
            .unwrap_or_else(|| panic!("no {k} in {ls:#?}"))
            .trim_matches('"')
            .to_string()
    };
    assert_eq!(node("domid"), "1");
    // 256 MiB in KiB; the channel snowvisor gave it; its page
    // (GUEST_MAGIC_BASE + 1 page = GFN 0x39001).
    assert_eq!(node("static-max"), "262144");
    assert_eq!(node("target"), "262144");
    assert_eq!(node("ring-ref"), "233473");
    let port: u32 = node("port").parse().unwrap();
    assert!(port > 0, "{ls:#?}");
    assert!(node("vm").starts_with("vm/"), "{ls:#?}");
    let again = command(&mut b, "again", 0);
    assert!(
        again
            .iter()
            .any(|l| l == "Domain 1 has already been initialized"),
        "{again:#?}"
    );
    b.expect("snowvisor-dom0: test dom0less exit 0", 900);
    // The DomU's side: xenbus connected, its name read through it.
    let all = b.console().replace('\r', "");
    let domu = |p: &str| -> String {
        all.lines()
            .find_map(|l| l.strip_prefix(p))
            .unwrap_or_else(|| panic!("no line starting {p:?}\n{all}"))
            .to_string()
    };
    // Its kernel bound the xenstore channel as its "xenbus" interrupt
    // (xb_init_comms, after the late init) and reads through it.
    let irq = domu("(d1) snowvisor-dom0: xenbus-name connected: ");
    assert!(irq.ends_with(" xenbus"), "{irq}");
    assert_eq!(domu("(d1) snowvisor-dom0: xenbus-name name "), "domU1");
    assert!(!all.contains("stage-2 fault"), "{all}");
    assert_clean(&b);
}
