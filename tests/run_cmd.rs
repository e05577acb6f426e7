//! `scripts/run --dom0-cmd CMD`: Dom0's /init runs CMD after its ready line,
//! reports `snowvisor-dom0: cmd exit N`, powers off, and scripts/run exits
//! with N; it exits non-zero when Dom0 never gets there. Each run keeps its
//! files in one temporary directory and removes it.

use snowvisor_tests::output_text;
use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs scripts/run with `args` and TMPDIR set to a directory of its own,
/// which must be empty again afterwards.
fn run(name: &str, args: &[&str]) -> Output {
    let tmp = snowvisor_tests::root()
        .join("target/boot-tests/run-cmd")
        .join(name);
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let out = Command::new(snowvisor_tests::root().join("scripts/run"))
        .arg("--image")
        .arg(snowvisor_tests::image())
        .args(args)
        .env("TMPDIR", &tmp)
        .output()
        .expect("cannot start scripts/run");
    let left: Vec<PathBuf> = std::fs::read_dir(&tmp)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "scripts/run left {left:?} behind");
    out
}

#[test]
fn dom0_cmd_prints_uname_and_selftest_and_exits_0() {
    let o = run(
        "ok",
        &[
            "--headless",
            "--smp",
            "1",
            "--dom0-cmd",
            "uname -r; echo \"it's \\\"quoted\\\"\"; snowctl selftest",
        ],
    );
    let all = output_text(&o);
    assert_eq!(o.status.code(), Some(0), "{all}");
    let stdout = String::from_utf8_lossy(&o.stdout).replace('\r', "");
    let lines: Vec<&str> = stdout.lines().collect();
    let ready = lines
        .iter()
        .position(|l| *l == "snowvisor-dom0: ready")
        .unwrap_or_else(|| panic!("no ready line\n{all}"));
    let (_, release) = snowvisor_tests::dom0_package();
    assert!(
        lines[ready..].iter().any(|l| *l == release),
        "no `uname -r` line {release:?} after the ready line\n{all}"
    );
    assert!(lines.contains(&"it's \"quoted\""), "{all}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("snowctl selftest: ") && l.ends_with(" passed, 0 failed")),
        "{all}"
    );
    assert!(lines.contains(&"snowvisor-dom0: cmd exit 0"), "{all}");
}

#[test]
fn dom0_cmd_false_exits_1() {
    let o = run("false", &["--dom0-cmd", "false"]);
    let all = output_text(&o);
    assert_eq!(o.status.code(), Some(1), "{all}");
    assert!(all.contains("snowvisor-dom0: cmd exit 1"), "{all}");
}

#[test]
fn dom0_cmd_never_reached_exits_125() {
    let bad = snowvisor_tests::root().join("target/boot-tests/run-cmd-not-a-zimage.bin");
    std::fs::create_dir_all(bad.parent().unwrap()).unwrap();
    std::fs::write(&bad, vec![0u8; 8192]).unwrap();
    let (_, initrd) = snowvisor_tests::dom0();
    let o = run(
        "fatal",
        &[
            "--dom0",
            bad.to_str().unwrap(),
            "--initrd",
            initrd.to_str().unwrap(),
            "--dom0-cmd",
            "true",
        ],
    );
    let all = output_text(&o);
    assert_eq!(o.status.code(), Some(125), "{all}");
    assert!(
        all.contains("snowvisor: fatal: Dom0 kernel is not an ARM zImage"),
        "{all}"
    );
    assert!(
        all.contains("--dom0-cmd: snowvisor stopped (fatal error above)"),
        "{all}"
    );
    // scripts/run stops QEMU through timeout(1): QEMU's "terminating on
    // signal 15 from pid N (timeout)" read as a time-out after the fatal line.
    assert!(!all.contains("terminating on signal"), "{all}");
}

/// A DomU that is not started fails the run although Dom0's command exits
/// 0 (123), and each says why in the DomU's own terms: a kernel that is not
/// a zImage names its module; memory that would leave Dom0 unable to boot
/// names the node (the DomU is left out, Dom0 boots).
#[test]
fn dom0_cmd_with_a_domu_not_started_exits_123() {
    let bad = snowvisor_tests::root().join("target/boot-tests/run-cmd-domu-not-a-zimage.bin");
    std::fs::create_dir_all(bad.parent().unwrap()).unwrap();
    std::fs::write(&bad, vec![0u8; 8192]).unwrap();
    let bad_domu = format!("{},none,64", bad.to_str().unwrap());
    let o = run(
        "domu-not-started",
        &[
            "--domu",
            &bad_domu,
            "--domu",
            "default,990",
            "--dom0-cmd",
            "true",
        ],
    );
    let all = output_text(&o);
    assert_eq!(o.status.code(), Some(123), "{all}");
    assert!(all.contains("snowvisor-dom0: cmd exit 0"), "{all}");
    let lines: Vec<&str> = all.lines().collect();
    let d1 = lines
        .iter()
        .find(|l| l.contains("warning: domU1: not started: "))
        .unwrap_or_else(|| panic!("no line for domU1\n{all}"));
    assert!(
        d1.contains("/chosen/domU1/module@")
            && d1.contains(": its kernel is not an ARM zImage (word at 0x24 is 0x00000000"),
        "{d1}"
    );
    assert!(!d1.contains("Dom0"), "{d1}");
    let d2 = lines
        .iter()
        .find(|l| l.contains("warning: domU2: not started: "))
        .unwrap_or_else(|| panic!("no line for domU2\n{all}"));
    assert!(
        d2.contains("its memory would leave Dom0's first bank")
            && d2.ends_with("shrink /chosen/domU2's memory"),
        "{d2}"
    );
    assert!(
        all.contains("--dom0-cmd: the command exited 0, but not every DomU started (domU1, domU2: see the 'not started' lines above)"),
        "{all}"
    );
}

/// Bad option values are refused at once (before any build, download or
/// QEMU), naming the option: values, files that are not there, a U-Boot mode
/// that does not exist (it used to die inside a command substitution, and
/// QEMU ran anyway) and arguments a U-Boot script cannot carry.
#[test]
fn bad_options_are_refused_naming_the_option() {
    for (args, msg) in [
        (
            &["--uboot", "nope"][..],
            "--uboot nope: script, script-old or fit expected",
        ),
        (
            &["--uboot", "script", "--dom0-args", "a\"b"][..],
            "--dom0-args a\"b: with --uboot it goes into a U-Boot script string",
        ),
        (
            &["--image", "/nonexistent"][..],
            "--image /nonexistent: no such file",
        ),
        (
            &["--dtb", "/nonexistent.dtb"][..],
            "--dtb /nonexistent.dtb: no such file",
        ),
        (
            &["--initrd", "/nonexistent"][..],
            "--initrd /nonexistent: no such file",
        ),
        (
            &["--dom0", "/nonexistent"][..],
            "--dom0 /nonexistent: no such file or directory",
        ),
        (
            &["--modules", "/nonexistent"][..],
            "--modules /nonexistent: not a directory",
        ),
        (
            &["--timeout", "abc"][..],
            "--timeout abc: a number of seconds",
        ),
        (
            &["--smmu", "--smmu-stage", "3"][..],
            "--smmu-stage 3: 1 or 2 expected",
        ),
        (&["--smmu-stage", "2"][..], "--smmu-stage 2 needs --smmu"),
        (&["--mem"][..], "--mem needs MiB"),
        // An option whose value is missing does not take the next option.
        (
            &["--domu", "--xen-tools"][..],
            "--domu needs KERNEL[,INITRD][,MEM], not the option --xen-tools",
        ),
        (&["--initrd", ""][..], "--initrd needs a file"),
        (
            &["--board", "exynos5250-snow"][..],
            "--board exynos5250-snow: scripts/run boots QEMU's virt machine only",
        ),
        // Options that exclude each other: the last no longer wins silently.
        (
            &["--domu-xenstore", "--domu-plain"][..],
            "--domu-xenstore and --domu-plain exclude each other",
        ),
        (
            &["--no-initrd", "--initrd", "/nonexistent"][..],
            "--no-initrd and --initrd exclude each other",
        ),
        (
            &["--kernel", "/nonexistent", "--no-dom0"][..],
            "--dom0 and --no-dom0 exclude each other",
        ),
        (
            &["--no-dom0", "--dom0-args", "quiet"][..],
            "--no-dom0 and --dom0-args exclude each other",
        ),
        // A DomU option needs a DomU; a CPU is in one pool, once.
        (
            &["--domu-vcpus", "2"][..],
            "--domu-vcpus is a DomU option: give --domu too",
        ),
        (
            &["--domu-xenstore"][..],
            "--domu-xenstore is a DomU option: give --domu too",
        ),
        (
            &["--domu", "default", "--domu-cpupool", "1,1"][..],
            "--domu-cpupool 1,1: CPU 1 is named twice",
        ),
    ] {
        let o = run("bad-option", args);
        let all = output_text(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {all}");
        assert!(
            all.contains(&format!("[snowvisor] error: {msg}")),
            "{args:?}: {all}"
        );
        assert!(!all.contains("building"), "{args:?} built first: {all}");
        assert!(!all.contains("qemu-system-arm"), "{args:?} ran QEMU: {all}");
    }
}

/// The other scripts parse their options the same way (lib/common.sh's
/// need and one_of): a missing value is not taken from the next option, and
/// options that exclude each other are refused, naming both, before any
/// build or download.
#[test]
fn other_scripts_refuse_an_option_as_a_value_and_exclusive_options() {
    for (script, args, msg) in [
        (
            "build",
            &["--board", "--debug"][..],
            "--board needs a name, not the option --debug",
        ),
        (
            "fetch-dom0",
            &["--dom0", "--modules", "/tmp"][..],
            "--dom0 needs a kernel, not the option --modules",
        ),
        ("snow-image", &["--kernel"][..], "--kernel needs a file"),
        (
            "snow-image",
            &["--check", "--check-only"][..],
            "--check and --check-only exclude each other",
        ),
        (
            "bench",
            &["--smp-only", "--domu-only"][..],
            "--smp-only and --domu-only exclude each other",
        ),
        // Counts are positive whole numbers, checked before anything runs.
        (
            "bench",
            &["--rounds", "0"][..],
            "--rounds 0: a count (a whole number, 1 or more) expected",
        ),
        (
            "bench",
            &["--calls", "1e5"][..],
            "--calls 1e5: a count (a whole number, 1 or more) expected",
        ),
        (
            "bench",
            &["--runs", "-3"][..],
            "--runs -3: a count (a whole number, 1 or more) expected",
        ),
        (
            "bench",
            &["--calls", "007"][..],
            "--calls 007: a count (a whole number, 1 or more) expected",
        ),
        ("bench", &["--rounds"][..], "--rounds needs a count"),
    ] {
        let o = Command::new(snowvisor_tests::root().join("scripts").join(script))
            .args(args)
            .output()
            .expect("cannot start the script");
        let all = output_text(&o);
        assert_eq!(o.status.code(), Some(1), "{script} {args:?}: {all}");
        assert!(
            all.contains(&format!("[snowvisor] error: {msg}")),
            "{script} {args:?}: {all}"
        );
        assert!(!all.contains("building"), "{script} {args:?} built: {all}");
    }
}

/// Every option scripts/run's parser takes (its `--name)` case labels) is
/// in `scripts/run --help` and in README's synopsis of scripts/run, and
/// --help prints the whole header (it used to stop short of its end).
#[test]
fn help_and_readme_name_every_option() {
    let root = snowvisor_tests::root();
    let script = std::fs::read_to_string(root.join("scripts/run")).unwrap();
    let options: Vec<&str> = script
        .lines()
        .map(str::trim_start)
        .filter_map(|l| l.split_once(')').map(|(label, _)| label))
        .filter(|label| {
            label.starts_with("--")
                && label.split('|').all(|o| {
                    o.len() > 2 && o.chars().all(|c| c == '-' || c.is_ascii_alphanumeric())
                })
        })
        .flat_map(|label| label.split('|'))
        .collect();
    assert!(options.len() >= 25, "{options:?}");
    let help = Command::new(root.join("scripts/run"))
        .arg("--help")
        .output()
        .expect("cannot start scripts/run");
    assert_eq!(help.status.code(), Some(0));
    let help = String::from_utf8_lossy(&help.stdout);
    let header: Vec<&str> = script
        .lines()
        .skip(1)
        .take_while(|l| l.starts_with('#'))
        .collect();
    assert_eq!(help.lines().collect::<Vec<_>>(), header);
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let start = readme
        .find("    scripts/run [")
        .expect("README: no scripts/run synopsis");
    let end = start + readme[start..].find("\n\n").unwrap();
    let synopsis = &readme[start..end];
    for o in options {
        if o == "--help" {
            continue;
        }
        // As a word: "--domu" is not found in "--domu-args".
        let word = |text: &str| {
            text.match_indices(o).any(|(i, _)| {
                !text[i + o.len()..].starts_with(|c: char| c == '-' || c.is_ascii_alphanumeric())
            })
        };
        assert!(word(&help), "scripts/run --help does not name {o}");
        assert!(
            word(synopsis),
            "README's scripts/run synopsis does not name {o}:\n{synopsis}"
        );
    }
}
