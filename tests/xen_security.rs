//! What a DomU cannot do: a boot-time DomU connected to xenstore
//! (`--xen-tools --domu default --domu-xenstore`, introduced by Xen 4.17's
//! own `init-dom0less`) tries Dom0's xenstore keys, grants and event
//! channels, another domain's, and the privileged hypercalls, and every
//! attempt must fail with the error Xen 4.17 and its C xenstored give
//! (`hypervisor/tools/snowctl/src/security.rs` lists them with their
//! sources). Dom0's side (`qemu/dom0-initramfs/tests/xen-security`) makes
//! the targets, then checks its keys are as it left them; the DomU's side is
//! `qemu/dom0-initramfs/tests/domu-security`.

use snowvisor_tests::{Boot, Opts};

/// The number after `key ` in a line of words.
fn word_after(line: &str, key: &str) -> u32 {
    let mut w = line.split_whitespace();
    w.find(|&x| x == key)
        .and_then(|_| w.next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no number after {key:?} in {line:?}"))
}

/// Every check the DomU runs, in its order, with the expected answer
/// (the numbers Dom0 handed it filled in).
fn expected(gref: u32, port_d2: u32, port_self: u32, xsd: u32) -> Vec<(String, String)> {
    let secret = "/local/domain/0/snowvisor-secret";
    let mut v: Vec<(String, &str)> =
        vec![
        ("xenstore read domid (relative path)".into(), "1"),
        ("xenstore get_domain_path of its id".into(), "/local/domain/1"),
        (
            "xenstore write data/snowvisor-domu, read back as /local/domain/1/data/snowvisor-domu"
                .into(),
            "written by the DomU",
        ),
        ("xenstore owner of the node it created".into(), "d1"),
    ];
    for n in [
        "read /local/domain/0/name".to_string(),
        format!("read {secret} (Dom0's, n0)"),
        "directory /local/domain/0".into(),
        "get_perms /local/domain/0/name".into(),
        "write /local/domain/0/name".into(),
        format!("write {secret}"),
        "write /local/domain/2/name (another domain's area)".into(),
        "mkdir /local/domain/0/evil".into(),
        "rm /local/domain/0/name".into(),
        "set_perms /local/domain/0/name b1".into(),
        "XS_INTRODUCE d1 (privileged)".into(),
        "XS_RELEASE d0 (privileged)".into(),
        "XS_SET_TARGET d1 d0 (privileged)".into(),
        "XS_IS_DOMAIN_INTRODUCED d0 (privileged)".into(),
        "XS_CONTROL (privileged)".into(),
    ] {
        v.push((format!("xenstore {n}"), "EACCES"));
    }
    let general = "GNTST_general_error";
    v.extend([
        (
            format!("map_grant_ref d0 ref {gref} (granted to d2)"),
            general,
        ),
        ("map_grant_ref d0 ref 2 (granted to nobody)".into(), general),
        (
            "map_grant_ref d1 ref 100 (its own, granted to nobody)".into(),
            general,
        ),
        (
            "map_grant_ref d7 ref 2 (no such domain)".into(),
            "GNTST_bad_domain",
        ),
        (format!("copy from d0 ref {gref} (granted to d2)"), general),
        (
            "copy from d7 ref 2 (no such domain)".into(),
            "GNTST_bad_domain",
        ),
        (
            "copy from d0 frame 0x40000 (a frame, not a ref)".into(),
            "GNTST_permission_denied",
        ),
        ("copy destination untouched".into(), ""),
        (
            format!("bind_interdomain d0 port {port_d2} (unbound for d2)"),
            "-EINVAL",
        ),
        (
            format!("bind_interdomain d0 port {xsd} (xenstored's, bound)"),
            "-EINVAL",
        ),
        (
            "bind_interdomain d0 port 0x7fffffff (none)".into(),
            "-EINVAL",
        ),
        (
            "bind_interdomain d7 port 1 (no such domain)".into(),
            "-ESRCH",
        ),
    ]);
    let positive =
        format!("bind_interdomain d0 port {port_self} (offered to it), send on local port ");
    v.extend([
        (positive, "0"),
        ("send on port 1000 (not its own)".into(), "-EINVAL"),
        ("close port 1000 (not its own)".into(), "-EINVAL"),
        ("status d0 port 1".into(), "-EPERM"),
        ("status d7 port 1 (no such domain)".into(), "-ESRCH"),
        ("alloc_unbound in d0 for d1".into(), "-EPERM"),
        ("alloc_unbound in d7 (no such domain)".into(), "-ESRCH"),
        (
            "alloc_unbound in itself for d0 (allowed), then close".into(),
            "0 0",
        ),
        (
            "alloc_unbound in itself for d7 (allowed), then close".into(),
            "0 0",
        ),
        ("reset d0".into(), "-EPERM"),
        (
            "bind_virq VIRQ_DOM_EXC (global) on vCPU 1".into(),
            "-EINVAL",
        ),
        ("sysctl getdomaininfolist".into(), "-EPERM"),
        ("domctl getdomaininfo d0".into(), "-EPERM"),
        (
            "hvm_op get_param d0 HVM_PARAM_STORE_EVTCHN".into(),
            "-EPERM",
        ),
        ("memory_op current_reservation d0".into(), "-EPERM"),
        ("sched_op remote_shutdown d0".into(), "-EPERM"),
        ("xen_version build_id".into(), "-EPERM"),
        ("xen_version commandline".into(), "0 <denied>"),
        (
            "memory_op add_to_physmap_batch gmfn_foreign d0".into(),
            "0, errs[0] -EPERM",
        ),
    ]);
    v.into_iter().map(|(n, w)| (n, w.to_string())).collect()
}

#[test]
fn a_domu_cannot_reach_dom0s_xenstore_grants_ports_or_privileged_calls() {
    let mut b = Boot::start(&Opts {
        dom0_args: "snowvisor.test=xen-security".into(),
        xen_tools: true,
        domus: vec!["default".into()],
        domu_xenstore: true,
        domu_args: Some("console=ttyAMA0 snowvisor.test=domu-security".into()),
        ..Opts::default()
    });
    b.expect("snowvisor-dom0: xen-tools: init-dom0less exit 0", 300);
    b.expect(
        "snowvisor-dom0: xen-tools: d1 is domU1 in xenstore (introduced by init-dom0less)",
        60,
    );
    let setup = b.expect("snowvisor-dom0: xen-security setup ", 120);
    let (gref, port_d2, port_self, xsd) = (
        word_after(&setup, "gref-d2"),
        word_after(&setup, "port-d2"),
        word_after(&setup, "port-self"),
        word_after(&setup, "xsd-port"),
    );
    let want = expected(gref, port_d2, port_self, xsd);
    let done = b.expect("snowvisor-dom0: xen-security domu done ", 900);
    b.expect("snowvisor-dom0: xen-security end", 400);
    let all = b.console().replace('\r', "");
    let prefix = "(d1) snowctl domu-security: ";
    let lines: Vec<&str> = all.lines().filter_map(|l| l.strip_prefix(prefix)).collect();
    let (last, checks) = lines.split_last().unwrap_or_else(|| panic!("{all}"));
    assert_eq!(
        *last,
        format!("{} passed, 0 failed", want.len()),
        "{lines:#?}"
    );
    assert!(done.ends_with(&format!(" done {} 0", want.len())), "{done}");
    assert_eq!(checks.len(), want.len(), "{lines:#?}");
    for (line, (name, answer)) in checks.iter().zip(&want) {
        let rest = line
            .strip_prefix(name.as_str())
            .unwrap_or_else(|| panic!("expected check {name:?}, got {line:?}"));
        // The positive control names the local port it got.
        let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
        if answer.is_empty() {
            assert!(rest.starts_with(": PASS ("), "{line}");
        } else {
            assert_eq!(
                rest,
                format!(": PASS (expected {answer}, got {answer})"),
                "{line}"
            );
        }
    }
    let dom0 = |p: &str| -> String {
        let p = format!("snowvisor-dom0: xen-security {p}");
        all.lines()
            .find_map(|l| l.strip_prefix(p.as_str()))
            .unwrap_or_else(|| panic!("no line starting {p:?}\n{all}"))
            .to_string()
    };
    // Dom0's keys are as Dom0 left them; the DomU's own node is where its
    // relative path put it; the port offered to it got its event.
    assert_eq!(dom0("dom0 name "), "Domain-0");
    assert_eq!(dom0("secret "), "Dom0's only perms n0");
    assert_eq!(dom0("/local/domain/0/evil "), "absent");
    assert_eq!(dom0("/local/domain/2 "), "absent");
    assert_eq!(dom0("domu node "), "written by the DomU");
    assert_eq!(
        dom0("port-self exit "),
        format!("0 evtchn-offer: event on port {port_self}")
    );
    // Linux's own restriction of a DomU's privcmd is lifted (the module
    // reloaded with unrestricted=1), so the hypervisor is what answers.
    assert!(
        all.contains("(d1) snowvisor-dom0: domu-security privcmd unrestricted"),
        "{all}"
    );
    assert!(
        all.contains("(d1) snowvisor-dom0: domu-security exit 0"),
        "{all}"
    );
    assert!(!all.contains("stage-2 fault"), "{all}");
    for bad in [
        "fatal",
        "unhandled",
        "unexpected exception",
        "kernel BUG",
        "Oops",
    ] {
        assert!(!all.contains(bad), "{bad:?} on the console:\n{all}");
    }
}
