//! A DomU that speaks Xen (`xen,enhanced`, as `scripts/run --domu` writes it)
//! next to Dom0, with a static event channel between them (`--evtchn`, Xen
//! 4.18's `xen,evtchn-v1` nodes): Linux as DomU finds Xen 4.17, sets up its
//! grant table and 2-level event channels and is not Dom0; snowvisor
//! connects the channel before either domain runs; Dom0 lists both domains
//! (`snowctl list`, sysctl getdomaininfolist), sees its end connected to
//! the DomU's and sends on it. Then a channel made at run time across the
//! two domains: the DomU offers a port to Dom0 through Linux's
//! `/dev/xen/evtchn` (`EVTCHNOP_alloc_unbound` for another domain), Dom0
//! binds to it (`EVTCHNOP_bind_interdomain`) and sends, the DomU's driver
//! gets the event (`qemu/dom0-initramfs/tests/evtchn-peer`); its poweroff
//! (`SCHEDOP_shutdown`) then ends it alone, and Dom0 lists it as shut down.

use snowvisor_tests::{Boot, Opts};

/// Dom0's side: the static channel, then (up to 10 minutes) the DomU's
/// offer bound and an event sent, then (up to 15 minutes) until the DomU
/// shut down, the list again.
const DOM0_CMD: &str = "snowctl evtchn-status 10; snowctl list; snowctl evtchn-send 10; \
    snowctl evtchn-connect 1 600; \
    for i in $(seq 900); do snowctl list | grep -q '^domU1 .* ---s-- ' && break; sleep 1; done; \
    snowctl list";

#[test]
fn a_xen_domu_and_a_static_channel_to_dom0() {
    let mut b = Boot::start(&Opts {
        smp: 2,
        dom0_args: "console=hvc0".into(),
        domus: vec!["default".into()],
        domu_args: Some("console=ttyAMA0 snowvisor.test=evtchn-peer".into()),
        evtchns: vec!["10:11".into()],
        dom0_cmd: Some(DOM0_CMD.into()),
        ..Opts::default()
    });
    // Dom0's and the DomU's lines interleave: wait for the end, then look.
    b.expect("snowvisor-dom0: cmd exit 0", 450);
    let all = b.console().replace('\r', "");
    let has = |l: &str| all.lines().any(|x| x == l);
    let starting = |p: &str| -> Vec<&str> { all.lines().filter(|x| x.starts_with(p)).collect() };
    assert!(
        has("snowvisor: evtchn: static channel d0 port 10 (/chosen/evtchn@1) <-> d1 port 11 (/chosen/domU1/evtchn@1)"),
        "{all}"
    );
    assert!(has("evtchn 10: interdomain d1 port 11, vCPU 0"), "{all}");
    assert!(has("evtchn 10: sent"), "{all}");
    // Name, ID, Mem (MiB), VCPUs, State, Time(s): Dom0 kept one CPU, the
    // DomU (256 MiB) took the other; at the end the DomU is shut down.
    let d0 = starting("Domain-0 ");
    let d1 = starting("domU1 ");
    assert_eq!(d1.len(), 2, "{all}");
    let c0: Vec<&str> = d0[0].split_whitespace().collect();
    let (first, last): (Vec<&str>, Vec<&str>) = (
        d1[0].split_whitespace().collect(),
        d1[1].split_whitespace().collect(),
    );
    assert_eq!((c0[1], c0[3], c0[4].len()), ("0", "1", 6), "{all}");
    assert_eq!((first[1], first[2], first[3]), ("1", "256", "1"), "{all}");
    assert_eq!((last[3], last[4]), ("0", "---s--"), "{all}");
    // The run-time channel: the DomU's offer, Dom0's bind and send, the event.
    let offer = starting("(d1) snowvisor-dom0: evtchn-peer evtchn-offer: port ");
    let port = offer
        .first()
        .and_then(|l| l.split(' ').rev().nth(3))
        .unwrap_or_else(|| panic!("{all}"));
    let bound = starting(&format!(
        "evtchn-connect: d1 port {port} bound as local port "
    ));
    let local = bound
        .first()
        .and_then(|l| l.rsplit(' ').next())
        .unwrap_or_else(|| panic!("{all}"));
    assert!(
        has(&format!("evtchn-connect: event sent on local port {local}")),
        "{all}"
    );
    assert!(
        has(&format!(
            "(d1) snowvisor-dom0: evtchn-peer evtchn-offer: event on port {port}"
        )),
        "{all}"
    );
    assert!(has("snowvisor: d1: SCHEDOP_shutdown(PowerOff)"), "{all}");
    let d1_lines: Vec<&str> = all.lines().filter(|l| l.starts_with("(d1) ")).collect();
    for want in [
        "Xen 4.17 support found",
        "xen:grant_table: Grant tables using version 1 layout",
        "Grant table initialized",
        "xen:events: Using 2-level ABI",
        "Xen: initializing cpu0",
        "snowvisor-dom0: hypervisor xen",
    ] {
        assert!(
            d1_lines.iter().any(|l| l.contains(want)),
            "the DomU printed no {want:?}\n{all}"
        );
    }
    // Not Dom0: no swiotlb-xen, and nothing it did faulted at stage 2.
    assert!(
        !d1_lines.iter().any(|l| l.contains("software IO TLB")),
        "{all}"
    );
    assert!(!all.contains("d1: stage-2 fault"), "{all}");
}

/// Dom0's side of the shared page: the DomU's xenstore parameters, its
/// grant ref 1 mapped and its word awaited (up to 10 minutes), an answer
/// written, an event on its xenstore channel; then (up to 15 minutes) until
/// the DomU shut down.
const XENSTORE_DOM0_CMD: &str = "snowctl xenstore-page 1 600; \
    for i in $(seq 900); do snowctl list | grep -q '^domU1 .* ---s-- ' && break; sleep 1; done";

/// The page shared through a grant at boot, as Xen 4.17's dom0less
/// `xen,enhanced` and `init-dom0less` set it up: snowvisor puts the DomU's
/// xenstore page at `GUEST_MAGIC_BASE` + 1 page, grants it to Dom0 by
/// grant ref 1 (`GNTTAB_RESERVED_XENSTORE`) and gives the DomU a channel
/// unbound for Dom0 (`HVM_PARAM_STORE_EVTCHN`, `HVM_PARAM_STORE_PFN` ~0).
/// The DomU writes a word into the page (`/dev/mem`), Dom0 maps the grant
/// through `/dev/xen/gntdev` (a grant map of another domain's ref), reads
/// it and writes an answer the DomU then reads, and sends an event on the
/// channel, which the DomU's kernel takes (`qemu/dom0-initramfs/tests/xenstore-page`).
#[test]
fn a_page_shared_through_a_grant_at_boot() {
    let mut b = Boot::start(&Opts {
        smp: 2,
        dom0_args: "console=hvc0".into(),
        domus: vec!["default".into()],
        domu_args: Some("console=ttyAMA0 snowvisor.test=xenstore-page".into()),
        domu_xenstore: true,
        dom0_cmd: Some(XENSTORE_DOM0_CMD.into()),
        ..Opts::default()
    });
    b.expect("snowvisor-dom0: cmd exit 0", 450);
    let all = b.console().replace('\r', "");
    let line = |p: &str| -> String {
        all.lines()
            .find(|x| x.starts_with(p))
            .unwrap_or_else(|| panic!("no line starting {p:?}\n{all}"))
            .to_string()
    };
    let has = |l: &str| all.lines().any(|x| x.eq_ignore_ascii_case(l));
    // snowvisor's set-up: the page, grant ref 1, the port.
    let setup = line("snowvisor: d1: xenstore page at gfn 0x39001 (GUEST_MAGIC_BASE + 1 page), granted to d0 by grant ref 1; event channel port ");
    let port: u32 = setup
        .split("event channel port ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{setup}"));
    // Dom0 reads the DomU's parameters, maps its grant, sees its word.
    assert!(
        has(&format!(
            "xenstore-page: d1 HVM_PARAM_STORE_EVTCHN {port}, HVM_PARAM_STORE_PFN 0xffffffffffffffff"
        )),
        "{all}"
    );
    assert!(
        has("xenstore-page: d1 grant ref 1 mapped, connection 1"),
        "{all}"
    );
    assert!(has("xenstore-page: d1 wrote 0x600dcafe"), "{all}");
    assert!(has("xenstore-page: answered 0xd0d0cafe"), "{all}");
    assert!(has("xenstore-page: unmapped"), "{all}");
    let sent = line(&format!(
        "xenstore-page: event sent on d1 port {port} (local port "
    ));
    // The DomU's side: Xen's "not connected yet", its word, Dom0's answer,
    // and its kernel's xenstore interrupt.
    for want in [
        "(d1) snowvisor-dom0: xenstore-page connection 0x00000001",
        "(d1) snowvisor-dom0: xenstore-page wrote 0x600dcafe",
        "(d1) snowvisor-dom0: xenstore-page answer 0xd0d0cafe",
    ] {
        assert!(has(want), "{want}\n{all}");
    }
    let irqs = line("(d1) snowvisor-dom0: xenstore-page xenstore_late_init interrupts ");
    let n: u32 = irqs
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{irqs}\n{sent}\n{all}"));
    assert!(n >= 1, "{irqs}");
    assert!(!all.contains("stage-2 fault"), "{all}");
    assert!(has("snowvisor: d1: SCHEDOP_shutdown(PowerOff)"), "{all}");
}

/// Dom0's side of the restart test: grant ref 1 of d1's first life mapped
/// and unmapped; once d1 restarted, the same ref of its second life mapped
/// and held (in the background) until snowvisor says d1 was not restarted
/// again; then the holder ends (its mapping goes) and a new map of the
/// ended d1 is tried.
const HOLD_DOM0_CMD: &str = "[ -e /dev/xen/privcmd ] || insmod /lib/modules/xen-privcmd.ko 2>/dev/null; \
    snowctl grant-hold 1 1 2; \
    for i in $(seq 900); do snowctl dmesg 2>/dev/null | grep -q 'd1: restart: its RAM scrubbed' && break; sleep 1; done; \
    snowctl grant-hold 1 1 1200 & h=$!; \
    for i in $(seq 900); do snowctl dmesg 2>/dev/null | grep -q 'd1: cannot restart' && break; sleep 1; done; \
    kill $h; wait $h; \
    echo \"dom0 runs after d1's end: $(snowctl dmesg | grep -c 'd1: cannot restart')\"; \
    snowctl grant-hold 1 1 1 || echo 'dom0: no new map of the ended d1'";

/// A DomU's restart never lets Dom0 see its next life's memory through a
/// mapping of the last one's: while Dom0 maps none of its pages it
/// restarts, and its next life's grants map through the same view (grant
/// ref 1 again); while Dom0 holds a mapping (gntdev) its reboot ends it
/// instead (its RAM is not reused), Dom0 runs on, and no new mapping of
/// the ended domain is made.
#[test]
fn a_domu_restarts_only_when_dom0_maps_none_of_its_pages() {
    let mut b = Boot::start(&Opts {
        smp: 2,
        dom0_args: "console=hvc0".into(),
        domus: vec!["default".into()],
        domu_args: Some("console=ttyAMA0 snowvisor.test=reboot".into()),
        domu_xenstore: true,
        dom0_cmd: Some(HOLD_DOM0_CMD.into()),
        ..Opts::default()
    });
    b.expect("grant-hold: d1 grant ref 1 unmapped", 900);
    b.expect(
        "snowvisor: d1: restart: its RAM scrubbed, zImage, initrd and device tree copied in again",
        900,
    );
    b.expect("grant-hold: d1 grant ref 1 mapped, word 0 ", 300);
    b.expect("d1: cannot restart: Dom0 still maps 1 of its page(s) through its grants (gntdev): its next life would reuse them, so it is not restarted and keeps its memory as it is until the end; this domain is off (the others go on)", 900);
    b.expect("dom0 runs after d1's end: 1", 300);
    b.expect("snowvisor-dom0: cmd exit 0", 120);
    let all = b.console().replace('\r', "");
    let maps = all
        .lines()
        .filter(|l| l.starts_with("grant-hold: d1 grant ref 1 mapped"))
        .count();
    assert_eq!(maps, 2, "one map per life\n{all}");
    assert!(all.contains("dom0: no new map of the ended d1"), "{all}");
    assert!(
        all.lines()
            .filter(|l| l.starts_with("snowvisor: d1: restart: its RAM scrubbed"))
            .count()
            == 1,
        "{all}"
    );
    assert!(!all.contains("stage-2 fault"), "{all}");
}
