//! A guest made by Xen 4.17's own `xl create` in Dom0 (`scripts/run
//! --xen-tools --hyp-args "loglvl=info dom0_mem=512M"`: Dom0 gets 512 of
//! QEMU's 1024 MiB, the rest is free for guests). `/etc/xen/guest1.cfg`
//! (`qemu/dom0-initramfs/xl/guest1.cfg`) boots Dom0's own kernel and
//! initramfs, which scripts/run puts in `/var/lib/snowvisor/domu/`, with
//! 128 MiB, one vCPU and its PV console; Dom0's side,
//! `qemu/dom0-initramfs/tests/xlcreate`, creates it paused, unpauses it,
//! reads its console through xenconsoled's log, types a line into its shell,
//! destroys it and waits for its memory to come back.

use snowvisor_tests::{Boot, Opts};

/// The rest of the first console line starting with `prefix`.
fn line(all: &str, prefix: &str) -> String {
    all.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no line starting {prefix:?}\n{all}"))
        .trim_end()
        .to_string()
}

/// The rest of Dom0's `snowvisor-dom0: xlcreate KEY` line.
fn fact(all: &str, k: &str) -> String {
    line(all, &format!("snowvisor-dom0: xlcreate {k}"))
}

/// A number from `xl info` or the console, or a panic naming it.
fn mib(v: &str, what: &str, all: &str) -> u64 {
    v.parse()
        .unwrap_or_else(|_| panic!("{what}: {v:?} is not a number\n{all}"))
}

/// `xl list`'s row of guest1 as its columns: name, id, MiB, vCPUs, state,
/// time.
fn row(all: &str, k: &str) -> Vec<String> {
    let r: Vec<String> = fact(all, k).split_whitespace().map(String::from).collect();
    assert_eq!(r.len(), 6, "xl list row {k}{r:?}\n{all}");
    r
}

#[test]
fn xl_create_boots_a_guest_and_xl_destroy_gives_its_memory_back() {
    let mut b = Boot::start(&Opts {
        args: "loglvl=info dom0_mem=512M".into(),
        dom0_args: "snowvisor.test=xlcreate".into(),
        xen_tools: true,
        ..Opts::default()
    });
    b.expect("snowvisor-dom0: xen-tools: xenconsoled up (pid ", 300);
    b.expect("snowvisor-dom0: test xlcreate start", 60);
    b.expect("snowvisor-dom0: xlcreate free_memory before ", 120);
    let created = b.expect("snowvisor-dom0: xlcreate create exit ", 600);
    if !created.ends_with("create exit 0") {
        // The script then prints xl's log and snowvisor's (xl dmesg).
        b.expect("snowvisor-dom0: test xlcreate exit ", 120);
        let c = b.console().replace('\r', "");
        let lines: Vec<&str> = c
            .lines()
            .filter(|l| l.starts_with("snowvisor-dom0: xlcreate "))
            .collect();
        panic!("xl create failed:\n{}", lines.join("\n"));
    }
    b.expect("snowvisor-dom0: test xlcreate exit ", 1200);
    b.expect("dom0: SCHEDOP_shutdown(poweroff): powering off", 120);
    assert!(b.expect_exit(60).success());
    let all = b.console().replace('\r', "");

    // The files scripts/run put in Dom0.
    assert!(
        fact(&all, "file /var/lib/snowvisor/domu/zImage ").ends_with(" bytes"),
        "{all}"
    );
    // 1024 MiB, of which Dom0 has 512: more than the guest's 128 are free.
    assert_eq!(fact(&all, "total_memory "), "1024");
    let before = mib(&fact(&all, "free_memory before "), "free before", &all);
    assert!(
        (128..512).contains(&before),
        "free_memory {before} MiB with dom0_mem=512M of 1024\n{all}"
    );

    // Created paused: its id, 128 MiB and one vCPU, `p` in its state.
    let id: u32 = fact(&all, "created d")
        .parse()
        .unwrap_or_else(|_| panic!("no domain id\n{all}"));
    assert!(id >= 1, "{all}");
    let paused = row(&all, "row paused ");
    assert_eq!(
        paused[..4],
        ["guest1", &id.to_string(), "128", "1"],
        "{all}"
    );
    assert_eq!(paused[4], "--p---", "{all}");
    let created = mib(&fact(&all, "free_memory created "), "free created", &all);
    assert!(
        before >= created + 128 && before <= created + 136,
        "free_memory {before} before, {created} with the guest's 128 MiB\n{all}"
    );
    assert_eq!(fact(&all, "xenstore name "), "guest1");
    assert_eq!(fact(&all, "xenstore domid "), id.to_string());
    assert_eq!(fact(&all, "xenstore memory/static-max "), "131072");
    assert!(
        fact(&all, "xenstore console/tty ").starts_with("/dev/pts/"),
        "{all}"
    );
    assert_eq!(fact(&all, "unpause exit "), "0");

    // Its kernel and /init on its PV console (xenconsoled's log), and its
    // shell answering a line typed into the console's pty.
    assert_eq!(fact(&all, "guest booted"), "");
    let console: Vec<&str> = all
        .lines()
        .filter_map(|l| l.strip_prefix("snowvisor-dom0: xlcreate console: "))
        .collect();
    for want in [
        "Linux version 6.1",
        "snowvisor-dom0: init reached",
        "snowvisor-dom0: hypervisor xen",
        "snowvisor-dom0: ready",
        "snowvisor-dom0: starting shell",
    ] {
        assert!(
            console.iter().any(|l| l.contains(want)),
            "no {want:?} on guest1's console: {console:#?}"
        );
    }
    assert!(
        console.iter().any(|l| l.contains("console [hvc0] enabled")),
        "{console:#?}"
    );
    assert_eq!(fact(&all, "shell answer "), "xlcreate-42");
    let running = row(&all, "row running ");
    assert_eq!(running[..4], paused[..4], "{all}");
    assert!(!running[4].contains('p'), "still paused: {running:?}");

    // Destroyed: gone from xl list, every page back.
    assert_eq!(fact(&all, "destroy exit "), "0");
    assert_eq!(fact(&all, "row after destroy "), "none");
    assert_eq!(
        fact(&all, "free_memory before="),
        format!("{before} created={created} after={before}")
    );
    assert_eq!(fact(&all, "list-after exit "), "0");
    assert!(
        !all.lines()
            .any(|l| l.starts_with("snowvisor-dom0: xlcreate list-after: guest1 ")),
        "{all}"
    );
    assert!(
        all.contains("snowvisor-dom0: test xlcreate exit 0"),
        "{all}"
    );
    for bad in [
        "fatal",
        "unhandled",
        "unexpected exception",
        "kernel BUG",
        "Oops",
        "stage-2 fault",
    ] {
        assert!(!all.contains(bad), "{bad:?} on the console:\n{all}");
    }
}
