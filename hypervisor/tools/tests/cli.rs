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
    assert_eq!(
        o.status.code(),
        Some(1),
        "bad arguments are errors: {stderr}"
    );
    assert!(
        stderr.contains("'drop:x' ignored: unknown action 'drop'"),
        "{stderr}"
    );
    assert!(stderr.contains("swiotlb=maybe ignored"), "{stderr}");
    assert!(text(&o.stdout)
        .contains("error: iommu=own:arm,smmu-v3 matches no IOMMU node; rule ignored"));
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
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    let json = text(&o.stdout);
    let warnings = &json[json.find("\"warnings\":[").expect("warnings")..];
    assert!(
        warnings.contains("iommu= entry 'bogus' ignored")
            && warnings.contains("swiotlb=maybe ignored"),
        "{json}"
    );
}

/// Options and the board come in any order; a bare board name is looked up
/// in $SNOWVISOR_DTBS (scripts/plan points it at Debian's DTBs), with or
/// without `.dtb`.
#[test]
fn options_in_any_order_and_board_names() {
    let dir = testdata("");
    let by_name = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_snowvisor-plan"))
            .args(args)
            .env("SNOWVISOR_DTBS", &dir)
            .output()
            .unwrap()
    };
    let first = by_name(&["exynos5250-snow", "--json"]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    for args in [
        &["--json", "exynos5250-snow"][..],
        &["--json", "exynos5250-snow.dtb"][..],
        &["--args", "swiotlb=auto", "--json", "exynos5250-snow"][..],
    ] {
        let o = by_name(args);
        assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
        assert_eq!(text(&o.stdout), text(&first.stdout), "{args:?}");
    }
    let o = by_name(&["--json", "no-such-board"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).contains("no-such-board: cannot read")
            && text(&o.stderr).contains("looked up among Debian's DTBs"),
        "{}",
        text(&o.stderr)
    );
}

/// `iommu=own` on IOMMUs without a driver: one error line for the rule (not
/// one per IOMMU; the table names each), and exit status 1 with the plan
/// still printed.
#[test]
fn own_without_a_driver_is_one_line_and_exit_status_1() {
    let snow = testdata("exynos5250-snow.dtb");
    let o = plan(&["--args", "iommu=own:all", snow.to_str().unwrap()]);
    let (stdout, stderr) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    let errors: Vec<&str> = stdout.lines().filter(|l| l.contains("error:")).collect();
    assert_eq!(
        errors,
        ["plan: error: iommu=own:all: snowvisor has no driver for 23 IOMMUs (samsung,exynos-sysmmu: /soc/sysmmu@10a60000 and 22 more, each in the table above); hidden instead"],
        "{stdout}"
    );
    assert_eq!(
        stdout
            .lines()
            .filter(|l| l.contains("iommu=own:all asked, but no snowvisor driver: hidden"))
            .count(),
        23,
        "{stdout}"
    );
    assert!(stderr.contains("the arguments have errors"), "{stderr}");
    // One IOMMU named by path: the line names it.
    let o = plan(&[
        snow.to_str().unwrap(),
        "--args",
        "iommu=own:/soc/sysmmu@14650000",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stdout).contains("plan: error: iommu=own:/soc/sysmmu@14650000: snowvisor has no driver for /soc/sysmmu@14650000; hidden instead"));
    // Good arguments: status 0.
    let o = plan(&[snow.to_str().unwrap(), "--args", "iommu=hide:all"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
}

/// By default the preview keeps the console UART from Dom0, as snowvisor
/// does (stdout-path's, when snowvisor drives it); --give-console shows the
/// plan as if it kept none.
#[test]
fn the_console_uart_is_kept_by_default() {
    let virt = testdata("qemu-virt.dtb");
    let kept = "plan: kept for snowvisor, not in Dom0's tree: /pl011@9000000";
    let o = plan(&[virt.to_str().unwrap()]);
    assert!(o.status.success());
    assert!(text(&o.stdout).contains(kept), "{}", text(&o.stdout));
    let o = plan(&[virt.to_str().unwrap(), "--give-console"]);
    assert!(o.status.success());
    assert!(!text(&o.stdout).contains(kept), "{}", text(&o.stdout));
    let snow = testdata("exynos5250-snow.dtb");
    let o = plan(&[snow.to_str().unwrap()]);
    assert!(
        text(&o.stdout)
            .contains("plan: kept for snowvisor, not in Dom0's tree: /soc/serial@12c30000"),
        "{}",
        text(&o.stdout)
    );
    // Without stdout-path, what snowvisor keeps depends on the board's image:
    // the preview keeps nothing and says so.
    let bare = tmp("no-stdout-path.dtb");
    std::fs::write(&bare, snowvisor_dt::testing::synthetic(vec![])).unwrap();
    let o = plan(&[bare.to_str().unwrap()]);
    assert!(o.status.success());
    assert!(
        text(&o.stderr).contains("snowvisor-plan: note: no /chosen/stdout-path: snowvisor keeps its board's default UART if this tree describes it (else it writes to its RAM log only); this preview keeps no UART from Dom0"),
        "{}",
        text(&o.stderr)
    );
}

/// A reader that stops early (`scripts/plan ... | head -1`) ends the tool
/// quietly, not with a panic.
#[test]
fn a_closed_pipe_is_no_panic() {
    let snow = testdata("exynos5250-snow.dtb");
    let mut child = Command::new(env!("CARGO_BIN_EXE_snowvisor-plan"))
        .args([snow.to_str().unwrap(), "--devices"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(!text(&o.stderr).contains("panicked"), "{}", text(&o.stderr));
}

#[test]
fn an_option_is_no_value_and_a_note_is_no_error() {
    let snow = testdata("exynos5250-snow.dtb");
    let snow = snow.to_str().unwrap();
    for (opt, what) in [("--args", "a value"), ("-o", "a file name")] {
        let o = plan(&[snow, opt, "--json"]);
        assert_eq!(o.status.code(), Some(2), "{opt} --json");
        let stderr = text(&o.stderr);
        assert!(
            stderr.contains(&format!("{opt} needs {what}, not the option --json")),
            "{stderr}"
        );
    }
    assert!(!Path::new("--json").exists(), "no file named --json");
    // loglvl=none is taken (errors still print): a note, exit 0.
    let o = plan(&[snow, "--args", "loglvl=none"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("'loglvl=none' not honoured exactly"));
    // An unknown argument is still an error.
    let o = plan(&[snow, "--args", "loglvl=none bogus=1"]);
    assert_eq!(o.status.code(), Some(1));
}
