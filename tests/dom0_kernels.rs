//! Two Debian armhf kernels as Dom0, each with an initramfs holding its own
//! modules (`scripts/run --dom0 ...`): the default (bookworm's 6.1) and the
//! armmp-lpae kernel of this release's backports suite, fetched by package
//! name. Each loads its Xen modules and passes `snowctl selftest`.

use snowvisor_tests::output_text;
use std::path::PathBuf;
use std::process::{Command, Output};

/// The kernel `--dom0 linux-image-armmp-lpae/<codename>-backports` names.
fn backports_spec() -> String {
    let os = std::fs::read_to_string("/etc/os-release").unwrap();
    let codename = os
        .lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .expect("no VERSION_CODENAME in /etc/os-release")
        .trim_matches('"');
    format!("linux-image-armmp-lpae/{codename}-backports")
}

/// scripts/fetch-dom0 --dom0 SPEC [args]: (zImage, initrd, release).
fn fetch(spec: &str, args: &[&str]) -> (PathBuf, PathBuf, String) {
    let out = Command::new(snowvisor_tests::root().join("scripts/fetch-dom0"))
        .args(["--dom0", spec])
        .args(args)
        .output()
        .expect("cannot run scripts/fetch-dom0");
    assert!(out.status.success(), "{}", output_text(&out));
    let s = String::from_utf8(out.stdout).unwrap();
    let l: Vec<&str> = s.lines().collect();
    assert_eq!(l.len(), 3, "{s}");
    (l[0].into(), l[1].into(), l[2].to_string())
}

fn run(args: &[&str]) -> Output {
    Command::new(snowvisor_tests::root().join("scripts/run"))
        .arg("--image")
        .arg(snowvisor_tests::image())
        .args(args)
        .output()
        .expect("cannot start scripts/run")
}

const CMD: &str = "uname -r; cat /proc/modules; snowctl selftest";

/// Dom0 ran `release`, loaded its own Xen modules and passed the selftest.
fn assert_dom0(o: &Output, release: &str) {
    let all = output_text(o);
    assert_eq!(o.status.code(), Some(0), "{all}");
    let stdout = String::from_utf8_lossy(&o.stdout).replace('\r', "");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines.contains(&format!("snowvisor-dom0: uname {release}").as_str()),
        "Dom0 is not {release}\n{all}"
    );
    assert!(
        lines.contains(
            &"snowvisor-dom0: xen modules xen-privcmd xen-evtchn xen-gntdev xen-gntalloc"
        ),
        "{all}"
    );
    for m in ["xen_privcmd", "xen_evtchn", "xen_gntdev", "xen_gntalloc"] {
        assert!(
            lines.iter().any(|l| l.starts_with(&format!("{m} "))),
            "{m} not in /proc/modules\n{all}"
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("snowctl selftest: ") && l.ends_with(" passed, 0 failed")),
        "{all}"
    );
    assert!(!all.contains(": FAIL"), "{all}");
}

#[test]
fn default_kernel_by_package_name_with_its_modules() {
    let (pkg, _) = snowvisor_tests::dom0_package();
    let (_, initrd, release) = fetch(&pkg, &[]);
    assert!(
        initrd.ends_with(format!("kernels/{release}/initrd.cpio.gz")),
        "{initrd:?}"
    );
    let o = run(&["--dom0", &pkg, "--dom0-cmd", CMD]);
    assert_dom0(&o, &release);
}

#[test]
fn backports_kernel_with_its_modules() {
    let spec = backports_spec();
    let (_, _, release) = fetch(&spec, &[]);
    let (_, default) = snowvisor_tests::dom0_package();
    assert_ne!(
        default, release,
        "{spec} is the default kernel: the test needs two versions"
    );
    let o = run(&["--dom0", &spec, "--dom0-cmd", CMD]);
    assert_dom0(&o, &release);
}

/// The modules tree of a kernel unpacked from its package (boot/vmlinuz-R
/// and lib/modules/R side by side).
fn modules_of(kernel: &std::path::Path, release: &str) -> PathBuf {
    let m = kernel
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("lib/modules")
        .join(release);
    assert!(m.is_dir(), "{m:?}");
    m
}

/// A bare zImage with its modules given by --modules; without them, or with
/// another kernel's, a clear error.
#[test]
fn zimage_with_modules_dir() {
    let spec = backports_spec();
    let (kernel, _, release) = fetch(&spec, &[]);
    let modules = modules_of(&kernel, &release);
    let dir = snowvisor_tests::root().join("target/boot-tests/zimage-modules");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let zimage = dir.join("zImage");
    std::fs::copy(&kernel, &zimage).unwrap();
    let z = zimage.to_str().unwrap();

    let o = run(&["--dom0", z, "--dom0-cmd", "true"]);
    let all = output_text(&o);
    assert_eq!(o.status.code(), Some(1), "{all}");
    assert!(all.contains("no modules found next to"), "{all}");
    assert!(all.contains("give --modules DIR"), "{all}");

    let (pkg, _) = snowvisor_tests::dom0_package();
    let (other_kernel, _, other) = fetch(&pkg, &[]);
    let wrong = modules_of(&other_kernel, &other);
    let o = run(&[
        "--dom0",
        z,
        "--modules",
        wrong.to_str().unwrap(),
        "--dom0-cmd",
        "true",
    ]);
    let all = output_text(&o);
    assert_eq!(o.status.code(), Some(1), "{all}");
    assert!(
        all.contains(&format!("{z} is Linux {release} but the modules in")),
        "{all}"
    );

    let o = run(&[
        "--dom0",
        z,
        "--modules",
        modules.to_str().unwrap(),
        "--dom0-cmd",
        CMD,
    ]);
    assert_dom0(&o, &release);
}
