//! snowvisor-plan as a user runs it: the table, `-o`, `--json`, and clear
//! errors for bad input and bad options.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../dt/src/testdata")
        .join(name)
}

fn plan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_snowvisor-plan"))
        .args(args)
        .output()
        .expect("run snowvisor-plan")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("snowvisor-plan-test-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

#[test]
fn snow_table_and_dom0_tree() {
    let snow = testdata("exynos5250-snow.dtb");
    let out_dtb = tmp("snow-dom0.dtb");
    let o = plan(&[snow.to_str().unwrap(), "-o", out_dtb.to_str().unwrap()]);
    let (stdout, stderr) = (text(&o.stdout), text(&o.stderr));
    assert!(o.status.success(), "{stderr}");
    assert!(stdout.contains("plan: IOMMU"), "{stdout}");
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.contains("samsung,exynos-sysmmu  hide"))
            .count(),
        23,
        "{stdout}"
    );
    assert!(
        stdout.contains("plan: swiotlb-xen on: Dom0 is 1:1"),
        "{stdout}"
    );
    assert!(stderr.contains("wrote"), "{stderr}");
    let dts = Command::new("dtc")
        .args(["-I", "dtb", "-O", "dts"])
        .arg(&out_dtb)
        .output();
    if let Ok(d) = dts {
        let dts = text(&d.stdout);
        assert!(
            dts.contains("hypervisor {") && !dts.contains("sysmmu@"),
            "{dts}"
        );
    }
}

#[test]
fn json_and_options() {
    let snow = testdata("exynos5250-snow.dtb");
    let o = plan(&[
        snow.to_str().unwrap(),
        "--json",
        "--args",
        "iommu=pass:samsung,exynos-sysmmu swiotlb=auto",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let json = text(&o.stdout);
    assert!(
        json.contains("\"action\":\"pass\"") && json.contains("\"swiotlb\":{\"enabled\":false"),
        "{json}"
    );
    // Validate the syntax with Python when the machine has it.
    if let Ok(mut child) = Command::new("python3")
        .args(["-c", "import json,sys; json.load(sys.stdin)"])
        .stdin(Stdio::piped())
        .spawn()
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(json.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "invalid JSON: {json}");
    }
    let o = plan(&[
        snow.to_str().unwrap(),
        "--args",
        "iommu=drop:x,own:arm,smmu-v3 swiotlb=maybe",
    ]);
    let stderr = text(&o.stderr);
    assert!(o.status.success());
    assert!(
        stderr.contains("'drop:x' ignored: unknown action 'drop'"),
        "{stderr}"
    );
    assert!(stderr.contains("swiotlb=maybe ignored"), "{stderr}");
    assert!(text(&o.stdout).contains("warning: iommu=own:arm,smmu-v3 matches no IOMMU node"));
}

#[test]
fn bad_input_is_a_clear_error() {
    let not_dtb = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let o = plan(&[not_dtb.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("bad magic"), "{}", text(&o.stderr));
    let blob = std::fs::read(testdata("qemu-virt.dtb")).unwrap();
    let cut = tmp("truncated.dtb");
    std::fs::write(&cut, &blob[..blob.len() / 2]).unwrap();
    let o = plan(&[cut.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(text(&o.stderr).contains("truncated"), "{}", text(&o.stderr));
    let o = plan(&["/nonexistent.dtb"]);
    assert!(
        text(&o.stderr).contains("cannot read"),
        "{}",
        text(&o.stderr)
    );
    let o = plan(&["--frob"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("unknown option --frob"));
}

/// Ignored boot arguments reach a JSON consumer, not only stderr.
#[test]
fn json_carries_argument_warnings() {
    let snow = testdata("exynos5250-snow.dtb");
    let o = plan(&[
        snow.to_str().unwrap(),
        "--json",
        "--args",
        "iommu=bogus swiotlb=maybe",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let json = text(&o.stdout);
    let warnings = &json[json.find("\"warnings\":[").expect("warnings")..];
    assert!(
        warnings.contains("iommu= entry 'bogus' ignored")
            && warnings.contains("swiotlb=maybe ignored"),
        "{json}"
    );
}
