//! A guest made by Xen 4.17's own `xl create` in Dom0 (`scripts/run
//! --xen-tools --hyp-args "loglvl=info dom0_mem=512M"`: Dom0 gets 512 of
//! QEMU's 1024 MiB, the rest is free for guests). `/etc/xen/guest1.cfg`
//! (`qemu/dom0-initramfs/xl/guest1.cfg`) boots Dom0's own kernel and
//! initramfs, which scripts/run puts in `/var/lib/snowvisor/domu/`, with
//! 128 MiB, one vCPU and its PV console; Dom0's side,
//! `qemu/dom0-initramfs/tests/xlcreate`, creates it paused, unpauses it,
//! reads its console through xenconsoled's log, types a line into its shell,
//! destroys it and waits for its memory to come back.
//!
//! The same script in two more modes: `snowvisor.xlcreate=cycle` (the rest
//! of a guest's life: `xl shutdown`, create again, `xl reboot`, two guests
//! at once, out of memory) and `snowvisor.xlcreate=disk` (a PV disk backed
//! by a loop device in Dom0).

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

/// Every `snowvisor-dom0: xlcreate KEY` line's rest, in order.
fn facts(all: &str, k: &str) -> Vec<String> {
    let p = format!("snowvisor-dom0: xlcreate {k}");
    all.lines()
        .filter_map(|l| l.strip_prefix(p.as_str()))
        .map(|l| l.trim_end().to_string())
        .collect()
}

/// A domain ID from a `TAG created dID` line.
fn domid(all: &str, tag: &str) -> u32 {
    fact(all, &format!("{tag} created d"))
        .parse()
        .unwrap_or_else(|_| panic!("no domain id for {tag}\n{all}"))
}

/// A guest `xl create`d by the cycle: it exists with its own ID, is up on
/// its PV console, and its shell answered; `xl list` shows it with the
/// configuration's 128 MiB and `vcpus` vCPUs, running or blocked.
fn up(all: &str, tag: &str, name: &str, row_key: &str, vcpus: &str) -> u32 {
    assert_eq!(fact(all, &format!("{tag} create exit ")), "0", "{all}");
    let id = domid(all, tag);
    assert!(id >= 1, "{all}");
    assert_eq!(
        fact(all, &format!("{tag} shell answer ")),
        format!("{tag}-42"),
        "{all}"
    );
    let r: Vec<String> = facts(all, row_key)
        .into_iter()
        .find(|r| r.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {row_key}{name} row\n{all}"))
        .split_whitespace()
        .map(String::from)
        .collect();
    assert_eq!(r.len(), 6, "{r:?}\n{all}");
    assert_eq!(r[..4], [name, &id.to_string(), "128", vcpus], "{all}");
    assert!(!r[4].contains('p') && !r[4].contains('s'), "{tag}: {r:?}");
    id
}

/// After a step: none of its guests in `xl list` and the free memory back
/// where it was before the first `xl create`.
fn back(all: &str, tag: &str, before: u64) {
    assert_eq!(fact(all, &format!("{tag} left ")), "none", "{all}");
    assert_eq!(
        fact(all, &format!("{tag} free_memory after ")),
        before.to_string(),
        "{tag}: free memory not back\n{all}"
    );
}

/// The rest of a guest's life, as Xen 4.17's `xl` drives it (Dom0's
/// `xlcreate` with `snowvisor.xlcreate=cycle`, guest1.cfg: 128 MiB, one
/// vCPU, on_poweroff = "destroy"):
/// 1. `xl shutdown -w`: the guest's Linux reads control/shutdown =
///    poweroff from xenstore and powers off (SCHEDOP_shutdown); xl returns
///    once the domain is shut down, the monitor process `xl create` left
///    destroys it, and its memory comes back.
/// 2. The same configuration again: a new domain ID (Xen's rover does not
///    hand out the one just freed), up again, `xl destroy`.
/// 3. Two vCPUs and on_reboot = "restart" on xl's command line; `xl reboot
///    -w`: the guest's Linux restarts, the monitor builds it again under a
///    new ID, it boots to its shell, `xl destroy`.
/// 4. guest1 and guest2 (`'name="guest2"'` on xl's command line) at once,
///    both answering on their consoles, both destroyed.
/// 5. `xl create -p` and `xl destroy` of a domain that never ran.
/// 6. `xl create` with more memory than the machine, then than the free
///    pool: libxl's out-of-memory error, no domain left, no page lost.
///
/// The checks that depend on what snowvisor lacks so far come last: the
/// reboot's restart, and one domain per `xl create`.
#[test]
fn xl_shutdown_create_again_two_guests_and_out_of_memory() {
    let mut b = Boot::start(&Opts {
        args: "loglvl=info dom0_mem=512M".into(),
        dom0_args: "snowvisor.test=xlcreate snowvisor.xlcreate=cycle".into(),
        xen_tools: true,
        ..Opts::default()
    });
    b.expect("snowvisor-dom0: xen-tools: xenconsoled up (pid ", 300);
    b.expect("snowvisor-dom0: test xlcreate start", 60);
    b.expect("snowvisor-dom0: xlcreate free_memory before ", 120);
    b.expect("snowvisor-dom0: xlcreate life1 create exit ", 600);
    b.expect("snowvisor-dom0: xlcreate cycle ", 1500);
    b.expect("snowvisor-dom0: test xlcreate exit ", 120);
    b.expect("dom0: SCHEDOP_shutdown(poweroff): powering off", 120);
    assert!(b.expect_exit(60).success());
    let all = b.console().replace('\r', "");
    assert_eq!(fact(&all, "mode "), "cycle config /etc/xen/guest1.cfg");
    let before = mib(&fact(&all, "free_memory before "), "free before", &all);
    assert!(
        (256 + 16..512).contains(&before),
        "free_memory {before} MiB with dom0_mem=512M of 1024: two guests of 128 must fit\n{all}"
    );

    // 1. Up, then `xl shutdown -w`.
    let id1 = up(&all, "life1", "guest1", "life1 row ", "1");
    let created = mib(
        &fact(&all, "life1 free_memory created "),
        "free created",
        &all,
    );
    assert!(
        before >= created + 128 && before <= created + 136,
        "free_memory {before} before, {created} with the guest's 128 MiB\n{all}"
    );
    assert_eq!(fact(&all, "life1 shutdown exit "), "0", "{all}");
    let said = facts(&all, "life1 shutdown: ");
    for want in [
        format!("Shutting down domain {id1}"),
        format!("Domain {id1} has been shut down, reason code 0"),
    ] {
        assert!(said.contains(&want), "xl shutdown -w said {said:#?}");
    }
    let took = mib(
        fact(&all, "life1 shutdown took ").trim_end_matches(" s"),
        "shutdown took",
        &all,
    );
    assert!(took <= 30, "xl shutdown -w took {took} s\n{all}");
    // The guest's kernel powered itself off, through snowvisor.
    assert!(
        fact(&all, "life1 poweroff ").ends_with("reboot: Power down"),
        "{all}"
    );
    assert!(
        all.contains(&format!("snowvisor: d{id1}: SCHEDOP_shutdown(PowerOff)")),
        "{all}"
    );
    // xl create's monitor (its log, /var/log/xen/xl-guest1.log) acted on
    // on_poweroff = "destroy".
    let monitor = facts(&all, "life1 xl log: ");
    for want in [
        format!("Domain {id1} has shut down, reason code 0 0x0"),
        "Action for shutdown reason code 0 is destroy".to_string(),
        format!("Domain {id1} needs to be cleaned up: destroying the domain"),
        "Done. Exiting now".to_string(),
    ] {
        assert!(
            monitor.contains(&want),
            "no {want:?} from xl's monitor: {monitor:#?}"
        );
    }
    back(&all, "life1", before);

    // 2. Again from the same configuration: a new ID.
    let id2 = up(&all, "life2", "guest1", "life2 row ", "1");
    assert_ne!(id2, id1, "the ID just freed was handed out again\n{all}");
    assert_eq!(fact(&all, "life2 ids "), format!("d{id1} then d{id2}"));
    assert_eq!(fact(&all, "life2 destroy exit "), "0", "{all}");
    back(&all, "life2", before);

    // 3. Two vCPUs (the guest counts them) and on_reboot = "restart", both
    // on xl's command line; `xl reboot -w`: the guest's Linux restarts
    // (SCHEDOP_shutdown(reboot)). What the monitor does then is checked at
    // the end.
    let id3 = up(&all, "life3", "guest1", "life3 row ", "2");
    assert!(![id1, id2].contains(&id3), "{all}");
    assert_eq!(fact(&all, "life3 answer "), "cpus=2=life3", "{all}");
    let vcpus: Vec<Vec<String>> = facts(&all, "life3 vcpu-list: guest1 ")
        .iter()
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect();
    assert_eq!(vcpus.len(), 2, "{all}");
    for (v, r) in vcpus.iter().enumerate() {
        assert_eq!(r[..2], [id3.to_string(), v.to_string()], "{vcpus:?}");
    }
    assert_ne!(vcpus[0][2], vcpus[1][2], "both vCPUs on one CPU: {vcpus:?}");
    assert_eq!(fact(&all, "life3 reboot exit "), "0", "{all}");
    assert!(
        facts(&all, "life3 reboot: ").contains(&format!("Rebooting domain {id3}")),
        "{all}"
    );
    assert!(
        fact(&all, "life3 restart ").ends_with("reboot: Restarting system"),
        "{all}"
    );
    assert!(
        all.contains(&format!("snowvisor: d{id3}: SCHEDOP_shutdown(Reboot)")),
        "{all}"
    );
    back(&all, "life3", before);

    // 4. Two at once.
    let p1 = up(&all, "pair1", "guest1", "pair row ", "1");
    let p2 = up(&all, "pair2", "guest2", "pair row ", "1");
    assert_ne!(p1, p2, "{all}");
    let list = facts(&all, "pair list: ");
    for name in ["Domain-0 ", "guest1 ", "guest2 "] {
        assert!(list.iter().any(|l| l.starts_with(name)), "{list:#?}");
    }
    let running = mib(
        &fact(&all, "pair free_memory running "),
        "free running",
        &all,
    );
    assert!(
        before >= running + 256 && before <= running + 272,
        "free_memory {before} before, {running} with two guests of 128 MiB\n{all}"
    );
    assert_eq!(fact(&all, "pair destroy1 exit "), "0", "{all}");
    assert_eq!(fact(&all, "pair destroy2 exit "), "0", "{all}");
    back(&all, "pair", before);

    // 5. Created paused, destroyed without ever running.
    assert_eq!(fact(&all, "idle create exit "), "0", "{all}");
    let idle = row(&all, "idle row ");
    assert_eq!(
        idle[..5],
        [
            "guest3",
            &domid(&all, "idle").to_string(),
            "128",
            "1",
            "--p---"
        ],
        "{all}"
    );
    let held = mib(&fact(&all, "idle free_memory created "), "free idle", &all);
    assert!(
        before >= held + 128 && before <= held + 136,
        "free_memory {before} before, {held} with a paused guest of 128 MiB\n{all}"
    );
    assert_eq!(fact(&all, "idle destroy exit "), "0", "{all}");
    back(&all, "idle", before);

    // 6. Out of memory: libxl's error, as Xen 4.17's tools print it (the
    // domain builder cannot populate the guest's RAM; libxl destroys the
    // half-built domain, then xl destroys it again, which finds it gone:
    // xl_vmcontrol.c create_domain's error_out), and nothing left behind.
    for m in [2048, before + 64] {
        let tag = format!("oom{m}");
        assert_eq!(fact(&all, &format!("{tag} create exit ")), "3", "{all}");
        let out = facts(&all, &format!("{tag} create: "));
        let n = out
            .iter()
            .find_map(|l| {
                l.strip_prefix("libxl: error: libxl_create.c:1640:domcreate_rebuild_done: Domain ")
                    .and_then(|r| r.strip_suffix(":cannot (re-)build domain: -3"))
            })
            .unwrap_or_else(|| panic!("{tag}: no domcreate_rebuild_done error: {out:#?}"));
        let want = [
            "Parsing config from /etc/xen/guest1.cfg".to_string(),
            "xc: error: panic: xg_dom_boot.c:119: xc_dom_boot_mem_init: can't allocate low memory for domain: Out of memory".to_string(),
            "libxl: error: libxl_dom.c:586:libxl__build_dom: xc_dom_boot_mem_init failed: Cannot allocate memory".to_string(),
            format!("libxl: error: libxl_create.c:1640:domcreate_rebuild_done: Domain {n}:cannot (re-)build domain: -3"),
            format!("libxl: error: libxl_domain.c:1183:libxl__destroy_domid: Domain {n}:Non-existant domain"),
            format!("libxl: error: libxl_domain.c:1137:domain_destroy_callback: Domain {n}:Unable to destroy guest"),
            format!("libxl: error: libxl_domain.c:1064:domain_destroy_cb: Domain {n}:Destruction of domain failed"),
        ];
        assert_eq!(out, want, "{tag}: xl create's output\n{all}");
        assert_eq!(fact(&all, &format!("{tag} row")), "", "{all}");
        assert_eq!(
            fact(&all, &format!("{tag} free_memory ")),
            before.to_string(),
            "{all}"
        );
    }
    assert_eq!(
        fact(&all, "oom list after "),
        fact(&all, "oom list before "),
        "{all}"
    );
    assert_eq!(fact(&all, "oom list before "), "Domain-0 0;");
    back(&all, "oom", before);
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

    // CPU time (`xl list`'s Time(s): getdomaininfo's cpu_time, the sum of
    // its vCPUs' running time) cannot exceed the domain's age times its
    // vCPUs.
    for (tag, vcpus) in [("life1", 1.0), ("life3", 2.0)] {
        let r = row(&all, &format!("{tag} row "));
        let t: f64 = r[5].parse().unwrap_or_else(|_| panic!("{r:?}"));
        let age = fact(&all, &format!("{tag} age "));
        let age: f64 = age
            .trim_end_matches(" s")
            .parse()
            .unwrap_or_else(|_| panic!("{tag} age {age:?}"));
        assert!(
            t <= (age + 1.0) * vcpus,
            "{tag}: {t} s of CPU time in {age} s with {vcpus} vCPU(s): {r:?}"
        );
    }

    // After `xl reboot`: Xen reports the domain shut down for reboot
    // (SHUTDOWN_reboot, 1, in getdomaininfo's flags), so xl's monitor
    // restarts it (on_reboot = "restart"): destroys it and builds it again
    // under a new ID, which boots to its shell; then `xl destroy`.
    let said = facts(&all, "life3 reboot: ");
    let monitor = facts(&all, "life3 xl log: ");
    assert!(
        said.contains(&format!("Domain {id3} has been shut down, reason code 1")),
        "xl reboot -w: {said:#?}\nxl's monitor: {monitor:#?}"
    );
    for want in [
        format!("Domain {id3} has shut down, reason code 1 0x1"),
        "Action for shutdown reason code 1 is restart".to_string(),
        format!("Domain {id3} needs to be cleaned up: destroying the domain"),
        "Done. Rebooting now".to_string(),
    ] {
        assert!(
            monitor.contains(&want),
            "no {want:?} from xl's monitor: {monitor:#?}"
        );
    }
    let ids = fact(&all, "life3 ids ");
    let id4: u32 = ids
        .strip_prefix(&format!("d{id3} then d"))
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no new domain after the reboot: {ids:?}\n{all}"));
    assert_ne!(id4, id3, "{all}");
    assert_eq!(
        fact(&all, "life3again shell answer "),
        "life3again-42",
        "{all}"
    );
    assert_eq!(fact(&all, "life3 destroy exit "), "0", "{all}");

    // One domain per `xl create` or restart: 6 guests, the restarted one
    // and 2 that ran out of memory.
    // libxl (4.17, libxl__domain_make) destroys a new domain whose ID was
    // used in the last 60 s (LIBXL_DOMID_REUSE_TIMEOUT, libxl_internal.h)
    // and asks again; Xen's rover over 32 thousand IDs never comes back to
    // a recent one, so this happens once at most.
    let made = all
        .lines()
        .filter(|l| l.starts_with("snowvisor: d") && l.contains(": created by Dom0, paused"))
        .count();
    let took: Vec<String> = all
        .lines()
        .filter(|l| l.contains("create took "))
        .map(String::from)
        .collect();
    assert_eq!(
        made, 9,
        "domains created for 8 `xl create`s and a restart: {made} (xl took: {took:#?})"
    );
    // And the script's own verdict (every step's checks in Dom0).
    assert_eq!(fact(&all, "cycle "), "ok", "{all}");
    assert!(
        all.contains("snowvisor-dom0: test xlcreate exit 0"),
        "{all}"
    );
}

/// A created guest with a PV disk (Dom0's `xlcreate` with
/// `snowvisor.xlcreate=disk`, `/etc/xen/guest1-disk.cfg`): Dom0 backs
/// /dev/loop0 with a 16 MiB file, `xl create` gives it to the guest as xvda
/// through xen-blkback (the vbd's hotplug script /tests/pvblk-hotplug), the
/// guest (/tests/pvblk-domu) makes an ext2 file system on it and writes a
/// file of random bytes, and puts the file's md5 in its xenstore node
/// data/pvblk-md5; after `xl destroy` Dom0 mounts the image and finds the
/// same file.
#[test]
fn xl_create_with_a_pv_disk_and_the_guests_file_is_in_dom0s_image() {
    let mut b = Boot::start(&Opts {
        args: "loglvl=info dom0_mem=512M".into(),
        dom0_args: "snowvisor.test=xlcreate snowvisor.xlcreate=disk".into(),
        xen_tools: true,
        ..Opts::default()
    });
    b.expect("snowvisor-dom0: xen-tools: xenconsoled up (pid ", 300);
    b.expect("snowvisor-dom0: test xlcreate start", 60);
    b.expect("snowvisor-dom0: xlcreate free_memory before ", 120);
    b.expect("snowvisor-dom0: xlcreate create exit ", 600);
    b.expect("snowvisor-dom0: test xlcreate exit ", 1200);
    b.expect("dom0: SCHEDOP_shutdown(poweroff): powering off", 120);
    assert!(b.expect_exit(60).success());
    let all = b.console().replace('\r', "");
    assert_eq!(
        fact(&all, "mode "),
        "disk config /etc/xen/guest1-disk.cfg",
        "{all}"
    );
    let before = mib(&fact(&all, "free_memory before "), "free before", &all);
    assert_eq!(
        fact(&all, "image "),
        "/tmp/xlcreate.img on /dev/loop0 (16777216 bytes)",
        "{all}"
    );
    assert_eq!(fact(&all, "create exit "), "0", "{all}");
    let id: u32 = fact(&all, "created d")
        .parse()
        .unwrap_or_else(|_| panic!("no domain id\n{all}"));
    let paused = row(&all, "row paused ");
    assert_eq!(
        paused[..5],
        ["guest1", &id.to_string(), "128", "1", "--p---"],
        "{all}"
    );
    assert_eq!(fact(&all, "unpause exit "), "0", "{all}");

    // The vbd: the hotplug script gave blkback loop0 (major 7, minor 0)
    // and the backend connected (XenbusStateConnected, 4).
    assert_eq!(fact(&all, "backend state "), "4", "{all}");
    assert_eq!(fact(&all, "backend physical-device "), "7:0", "{all}");
    assert_eq!(fact(&all, "backend hotplug-status "), "connected", "{all}");

    // The guest's side, on its console: a 16 MiB xvda, its file's md5,
    // written to xenstore.
    let console: Vec<&str> = all
        .lines()
        .filter_map(|l| l.strip_prefix("snowvisor-dom0: xlcreate console: "))
        .collect();
    let guest = |k: &str| -> String {
        console
            .iter()
            .find_map(|l| l.strip_prefix(&format!("snowvisor-dom0: pvblk-domu {k}")))
            .unwrap_or_else(|| panic!("no pvblk-domu {k:?} on the guest's console: {console:#?}"))
            .to_string()
    };
    assert_eq!(guest("xvda "), "32768 sectors");
    let md5 = guest("md5 ");
    assert!(
        md5.len() == 32 && md5.bytes().all(|c| c.is_ascii_hexdigit()),
        "md5 {md5:?}"
    );
    assert_eq!(guest("xenstore write "), "OK");
    assert_eq!(fact(&all, "guest md5 "), md5, "{all}");

    // Destroyed: gone, memory back, and the file in Dom0's image.
    assert_eq!(fact(&all, "destroy exit "), "0", "{all}");
    assert_eq!(fact(&all, "row after destroy "), "none", "{all}");
    assert_eq!(
        fact(&all, "free_memory before="),
        format!(
            "{before} created={} after={before}",
            fact(&all, "free_memory created ")
        ),
        "{all}"
    );
    assert_eq!(fact(&all, "dom0 md5 "), md5, "{all}");
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
