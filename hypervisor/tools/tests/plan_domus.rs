//! `scripts/plan` on trees with boot-time DomUs (dom0less `xen,domain`
//! nodes): what each DomU gets, its static event channels, and the same
//! error the hypervisor stops the boot on (exit 1), read by the same code.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use snowvisor_dt::testing::{c, n, s, synthetic};

fn plan(dtb: &[u8], extra: &[&str]) -> Output {
    let d = std::env::temp_dir().join(format!("snowvisor-plan-domus-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let f: PathBuf = d.join(format!("t{}.dtb", NEXT.fetch_add(1, Ordering::Relaxed)));
    std::fs::write(&f, dtb).unwrap();
    Command::new(env!("CARGO_BIN_EXE_snowvisor-plan"))
        .arg(&f)
        .args(extra)
        .output()
        .expect("run snowvisor-plan")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `/chosen` with Dom0's kernel, `domU1` (`memory` in KiB cells, a kernel
/// with bootargs and a ramdisk, vpl011, no-xenstore, a static channel
/// port 11 to Dom0's port 10) in the synthetic board's RAM.
fn tree(memory: &[u32]) -> Vec<u8> {
    tree_with(memory, 0x4960_0000)
}

/// [`tree`] with the ramdisk at `ramdisk` (host PA).
fn tree_with(memory: &[u32], ramdisk: u32) -> Vec<u8> {
    let module = |name: &'static str, compat: &str, base: u32, size: u32| {
        n(
            name,
            vec![("compatible", s(compat)), ("reg", c(&[base, size]))],
            vec![],
        )
    };
    let ev = |name: &'static str, ph: u32, port: u32, remote: u32| {
        n(
            name,
            vec![
                ("compatible", s("xen,evtchn-v1")),
                ("phandle", c(&[ph])),
                ("xen,evtchn", c(&[port, remote])),
            ],
            vec![],
        )
    };
    let mut kernel = module(
        "module@49000000",
        "multiboot,kernel\0multiboot,module",
        0x4900_0000,
        0x54_6200,
    );
    kernel.props.push(("bootargs", s("console=ttyAMA0")));
    let domu = n(
        "domU1",
        vec![
            ("compatible", s("xen,domain")),
            ("#address-cells", c(&[1])),
            ("#size-cells", c(&[1])),
            ("memory", c(memory)),
            ("cpus", c(&[2])),
            ("vpl011", vec![]),
            ("xen,enhanced", s("no-xenstore")),
        ],
        vec![
            kernel,
            module(
                "module@49600000",
                "multiboot,ramdisk\0multiboot,module",
                ramdisk,
                0x1d_858c,
            ),
            ev("evtchn@1", 11, 11, 10),
        ],
    );
    let chosen = n(
        "chosen",
        vec![("#address-cells", c(&[1])), ("#size-cells", c(&[1]))],
        vec![
            module(
                "module@44000000",
                "multiboot,kernel\0multiboot,module",
                0x4400_0000,
                0x10_0000,
            ),
            ev("evtchn@1", 10, 10, 11),
            domu,
        ],
    );
    synthetic(vec![chosen])
}

#[test]
fn the_plan_shows_each_domu_and_its_channels() {
    let o = plan(&tree(&[0, 262_144]), &[]);
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert!(o.status.success(), "{out}{err}");
    for want in [
        "plan: d1 domU1: 256 MiB (262144 KiB), 2 vCPU(s), vpl011 yes, xen,enhanced no-xenstore, nr_spis the host's",
        "plan: d1 domU1: kernel module@49000000 0x49000000-0x495461ff (5401 KiB), bootargs \"console=ttyAMA0\"",
        "plan: d1 domU1: ramdisk module@49600000 0x49600000-0x497d858b (1890 KiB)",
        "plan: evtchn: static channel d0 port 10 (/chosen/evtchn@1) <-> d1 port 11 (/chosen/domU1/evtchn@1)",
    ] {
        assert!(out.lines().any(|l| l == want), "no {want:?} in\n{out}");
    }
    let o = plan(&tree(&[0, 262_144]), &["--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let d = &v["domus"][0];
    assert_eq!(
        (
            &d["name"],
            &d["memory_kib"],
            &d["vcpus"],
            &d["vpl011"],
            &d["enhanced"]
        ),
        (
            &"domU1".into(),
            &262_144.into(),
            &2.into(),
            &true.into(),
            &"no-xenstore".into()
        ),
        "{v}"
    );
    assert_eq!(d["kernel"]["base"], "0x49000000", "{v}");
    assert_eq!(d["bootargs"], "console=ttyAMA0", "{v}");
    assert_eq!(d["not_started"], serde_json::Value::Null, "{v}");
    assert_eq!(
        v["evtchns"][0]["first"],
        serde_json::json!([0, 10, "/chosen/evtchn@1"]),
        "{v}"
    );
}

#[test]
fn a_domu_node_snowvisor_stops_on_is_an_error() {
    // The hypervisor's own words (`fatal: ...`), then exit 1.
    let o = plan(&tree(&[0, 0]), &[]);
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        out.lines().any(|l| l
            == "plan: fatal: /chosen/domU1: memory: 0 KiB: a domain needs memory (snowvisor stops the boot on this tree)"),
        "{out}"
    );
    assert!(
        err.contains("snowvisor stops the boot on this tree"),
        "{err}"
    );
    let o = plan(&tree(&[0, 0]), &["--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["warnings"].as_array().unwrap().last().unwrap(),
        "fatal: /chosen/domU1: memory: 0 KiB: a domain needs memory",
        "{v}"
    );
}

#[test]
fn a_domu_whose_module_is_not_in_ram_is_named_not_started() {
    // The synthetic board's RAM is 0x40000000-0x4fffffff: a ramdisk in
    // flash is refused as the hypervisor refuses it (the DomU is left out,
    // the boot goes on).
    let o = plan(&tree_with(&[0, 131_072], 0x1000), &[]);
    let out = text(&o.stdout);
    assert!(o.status.success(), "{out}");
    let w = out
        .lines()
        .find(|l| l.starts_with("plan: warning: domU1: not started: "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(w.contains("module@49600000"), "{w}");
}

/// Two CPUs (phandles 20, 21), a `xen,cpupool` node (phandle 30) listing
/// `pool_cpus`, and a DomU in it.
fn pool_tree(pool_cpus: &[u32]) -> Vec<u8> {
    let cpu = |name: &'static str, reg: u32, ph: u32| {
        n(
            name,
            vec![
                ("device_type", s("cpu")),
                ("compatible", s("arm,cortex-a15")),
                ("reg", c(&[reg])),
                ("phandle", c(&[ph])),
            ],
            vec![],
        )
    };
    let cpus = n(
        "cpus",
        vec![("#address-cells", c(&[1])), ("#size-cells", c(&[0]))],
        vec![cpu("cpu@0", 0, 20), cpu("cpu@1", 1, 21)],
    );
    let module = |name: &'static str, compat: &str, base: u32, size: u32| {
        n(
            name,
            vec![("compatible", s(compat)), ("reg", c(&[base, size]))],
            vec![],
        )
    };
    let domu = n(
        "domU1",
        vec![
            ("compatible", s("xen,domain")),
            ("#address-cells", c(&[1])),
            ("#size-cells", c(&[1])),
            ("memory", c(&[0, 131_072])),
            ("cpus", c(&[1])),
            ("domain-cpupool", c(&[30])),
        ],
        vec![module(
            "module@49000000",
            "multiboot,kernel\0multiboot,module",
            0x4900_0000,
            0x54_6200,
        )],
    );
    let pool = n(
        "cpupool",
        vec![
            ("compatible", s("xen,cpupool")),
            ("cpupool-cpus", c(pool_cpus)),
            ("cpupool-sched", s("null")),
            ("phandle", c(&[30])),
        ],
        vec![],
    );
    let chosen = n(
        "chosen",
        vec![("#address-cells", c(&[1])), ("#size-cells", c(&[1]))],
        vec![
            module(
                "module@44000000",
                "multiboot,kernel\0multiboot,module",
                0x4400_0000,
                0x10_0000,
            ),
            pool,
            domu,
        ],
    );
    synthetic(vec![cpus, chosen])
}

#[test]
fn the_plan_shows_the_boot_time_cpupools_and_stops_on_a_bad_one() {
    let o = plan(&pool_tree(&[21]), &[]);
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert!(o.status.success(), "{out}{err}");
    for want in [
        "plan: cpupool: Pool-0 (the CPUs no xen,cpupool node lists): CPU(s) with MPIDR 0x00000000; domains: d0",
        "plan: cpupool: Pool-1 /chosen/cpupool: CPU(s) with MPIDR 0x00000001; domains: d1",
        "plan: warning: cpupool: /chosen/cpupool: cpupool-sched \"null\": snowvisor runs its own scheduler on every CPU (reported as Xen's credit)",
    ] {
        assert!(out.lines().any(|l| l == want), "no {want:?} in\n{out}");
    }
    let o = plan(&pool_tree(&[21]), &["--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["domus"][0]["cpupool"], "cpupool", "{v}");

    // A pool listing a node that is no CPU (the pool itself): the boot's
    // own error, exit 1.
    let o = plan(&pool_tree(&[30]), &[]);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    let f = out
        .lines()
        .find(|l| l.starts_with("plan: fatal: /chosen/cpupool: cpupool-cpus"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        f.ends_with("(snowvisor stops the boot on this tree)"),
        "{f}"
    );
}
