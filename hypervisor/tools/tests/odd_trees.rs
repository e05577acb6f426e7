//! Trees that are valid (or that Linux reads) but unusual, from the inputs that
//! made the earlier `fdt`-crate reader stop early or panic: FDT_NOP tokens
//! between properties of `/memory`, between nodes and at the start of the
//! structure block; properties after child nodes; a `/chosen/stdout-path`
//! target whose `compatible` is empty or not UTF-8. Each reads like the plain
//! tree, through the boot summary, the plan, Dom0's tree and `snowvisor-plan`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use snowvisor_core::summary::{self, CpuFacts};
use snowvisor_dt::{HostTree, Region};
use snowvisor_plan::{self as plan, dom0, Keep, PlanOptions};
use snowvisor_tools::fdt_edit::{rewrite, Rewrite};
use snowvisor_tools::preview_params;

fn qemu_virt() -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dt/src/testdata/qemu-virt.dtb");
    std::fs::read(p).unwrap()
}

fn dtc(args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut c = Command::new("dtc")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("dtc is needed: apt-get install device-tree-compiler");
    c.stdin.take().unwrap().write_all(input).unwrap();
    let out = c.wait_with_output().unwrap();
    assert!(out.status.success(), "dtc {args:?} failed");
    out.stdout
}

/// QEMU's tree with the console UART's `compatible` replaced by `value` (dts syntax).
fn uart_compatible(value: &str) -> Vec<u8> {
    let dts = String::from_utf8(dtc(&["-I", "dtb", "-O", "dts"], &qemu_virt())).unwrap();
    let at = dts.find("pl011@9000000 {").expect("UART node");
    let c = at + dts[at..].find("compatible = ").unwrap();
    let end = c + dts[c..].find(";\n").unwrap();
    let edited = format!("{}{value}{}", &dts[..c], &dts[end..]);
    dtc(&["-I", "dts", "-O", "dtb", "-q"], edited.as_bytes())
}

/// Everything snowvisor reads from a tree; panics only if snowvisor does.
fn read_all(blob: &[u8]) -> (Vec<String>, plan::Plan, Vec<u8>) {
    let t = HostTree::new(blob).expect("tree accepted");
    let cpu = CpuFacts {
        midr: 0x412f_c0f1,
        mode: "HYP",
        cntfrq: 62_500_000,
        list_registers: Some(4),
    };
    let lines = summary::lines(&t, &cpu).expect("summary");
    let p = plan::make(&t, &PlanOptions::default(), &Keep::none().console(&t)).expect("plan");
    let pv = preview_params(&t, &p, true);
    let out = dom0::build(&t, &p, &pv.params).expect("dom0 tree");
    HostTree::new(&out).expect("dom0 tree reads back");
    (lines, p, out)
}

fn plan_cli(blob: &[u8], name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("snowvisor-odd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f: PathBuf = dir.join(name);
    std::fs::write(&f, blob).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_snowvisor-plan"))
        .arg(&f)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "snowvisor-plan {name}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn nops_and_late_properties_read_as_the_plain_tree() {
    let plain = qemu_virt();
    let want = read_all(&plain);
    for how in Rewrite::forms() {
        let how = &how[..];
        let blob = rewrite(&plain, how).unwrap();
        assert_ne!(blob, plain, "{how:?} changed nothing");
        let t = HostTree::new(&blob).unwrap();
        assert_eq!(
            t.memory().unwrap(),
            [Region {
                base: 0x4000_0000,
                size: 0x4000_0000
            }],
            "{how:?}"
        );
        assert_eq!(t.cpu_count(), 1, "{how:?}");
        assert_eq!(t.stdout().unwrap().path, "/pl011@9000000", "{how:?}");
        assert_eq!(t.gic().unwrap().gicd.base, 0x0800_0000, "{how:?}");
        assert_eq!(read_all(&blob), want, "{how:?}");
        assert_eq!(
            plan_cli(&blob, "nops.dtb"),
            plan_cli(&plain, "plain.dtb"),
            "{how:?}"
        );
    }
}

#[test]
fn console_with_empty_or_non_utf8_compatible() {
    for (value, name) in [
        ("compatible", "empty"),
        ("compatible = [ff fe 00]", "non-utf8"),
    ] {
        let blob = uart_compatible(value);
        let t = HostTree::new(&blob).unwrap();
        let u = t.stdout().expect("stdout-path still resolves");
        assert_eq!(
            (u.path, u.compatible, u.base),
            ("/pl011@9000000", "", 0x0900_0000),
            "{name}"
        );
        let (lines, _, _) = read_all(&blob);
        assert!(
            lines
                .iter()
                .any(|l| l == "uart: /pl011@9000000 () at 0x09000000"),
            "{name}: {lines:#?}"
        );
        plan_cli(&blob, &format!("{name}.dtb"));
    }
}
