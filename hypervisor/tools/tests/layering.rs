//! The layering ARCHITECTURE.md describes, checked from `cargo metadata`:
//! each layered crate depends (normal, build and dev dependencies alike) on
//! no snowvisor crate beyond the ones it may import, the pure crates use no
//! hardware-access crate, and the crates that must forbid `unsafe` say so in
//! their crate root. A crate of the table that the workspace does not have
//! (yet) is reported and skipped; the ones that exist today must be there.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// A layered crate: the snowvisor crates it may depend on, whether its root
/// must say `#![forbid(unsafe_code)]`, and which hardware-access crates
/// ([`HARDWARE`]) it may use.
struct Rule {
    name: &'static str,
    may_use: &'static [&'static str],
    forbid_unsafe: bool,
    hardware: &'static [&'static str],
    /// Required: the crate exists on this tree; a rename must update the table.
    required: bool,
}

const RULES: &[Rule] = &[
    Rule {
        name: "snowvisor-xen",
        may_use: &[],
        forbid_unsafe: true,
        hardware: &[],
        required: true,
    },
    Rule {
        name: "snowvisor-dt",
        may_use: &[],
        forbid_unsafe: true,
        hardware: &[],
        required: true,
    },
    Rule {
        name: "snowvisor-plan",
        may_use: &["snowvisor-dt"],
        forbid_unsafe: true,
        hardware: &[],
        required: true,
    },
    Rule {
        name: "snowvisor-arm",
        may_use: &[],
        forbid_unsafe: true,
        hardware: HARDWARE,
        required: true,
    },
    Rule {
        name: "snowvisor-core",
        may_use: &[
            "snowvisor-xen",
            "snowvisor-dt",
            "snowvisor-plan",
            "snowvisor-arm",
        ],
        forbid_unsafe: true,
        hardware: &["tock-registers"],
        required: true,
    },
    Rule {
        name: "snowvisor-arch-armv7",
        may_use: &["snowvisor-arm"],
        forbid_unsafe: false,
        hardware: HARDWARE,
        required: true,
    },
    Rule {
        name: "snowvisor",
        may_use: &[
            "snowvisor-xen",
            "snowvisor-dt",
            "snowvisor-plan",
            "snowvisor-arm",
            "snowvisor-core",
            "snowvisor-arch-armv7",
        ],
        forbid_unsafe: false,
        hardware: HARDWARE,
        required: true,
    },
];

/// Every board crate (`snowvisor-board-*`): the kernel, the arch crate and
/// the device-tree reader (the `Board` trait hands boards the host tree);
/// never another board, the core or the pure crates beneath it.
const BOARD_PREFIX: &str = "snowvisor-board-";
const BOARD_MAY_USE: &[&str] = &["snowvisor", "snowvisor-arch-armv7", "snowvisor-dt"];

/// Crates that reach the CPU or MMIO registers: xen, dt and plan never use
/// them, the core only tock-registers' `LocalRegisterCopy` (register fields
/// as plain values).
const HARDWARE: &[&str] = &["aarch32-cpu", "aarch32-rt", "tock-registers"];

fn metadata() -> Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(&root)
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata prints JSON")
}

/// Whether the crate root has `#![forbid(unsafe_code)]` as an inner attribute
/// (a line of its own, not in a comment).
fn forbids_unsafe(root: &Path) -> bool {
    let text = std::fs::read_to_string(root).unwrap_or_else(|e| panic!("{}: {e}", root.display()));
    text.lines()
        .any(|l| l.trim().replace(' ', "") == "#![forbid(unsafe_code)]")
}

#[test]
fn crates_import_only_their_layers() {
    let meta = metadata();
    let packages: BTreeMap<&str, &Value> = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| (p["name"].as_str().expect("name"), p))
        .collect();
    let mut failures = Vec::new();
    let mut checked = Vec::new();
    for rule in RULES {
        let Some(p) = packages.get(rule.name) else {
            assert!(
                !rule.required,
                "{} is not in the workspace: update this table and ARCHITECTURE.md",
                rule.name
            );
            println!("{}: not in the workspace yet, not checked", rule.name);
            continue;
        };
        checked.push(rule.name);
        for d in p["dependencies"].as_array().expect("dependencies") {
            let dep = d["name"].as_str().expect("dependency name");
            let kind = d["kind"].as_str().unwrap_or("normal");
            if dep.starts_with("snowvisor") && !rule.may_use.contains(&dep) {
                failures.push(format!(
                    "{} depends on {dep} ({kind}); it may use only {:?}",
                    rule.name, rule.may_use
                ));
            }
            if HARDWARE.contains(&dep) && !rule.hardware.contains(&dep) {
                failures.push(format!(
                    "{} depends on {dep} ({kind}), a hardware-access crate",
                    rule.name
                ));
            }
        }
        if rule.forbid_unsafe {
            let lib = p["targets"]
                .as_array()
                .expect("targets")
                .iter()
                .find(|t| {
                    t["kind"]
                        .as_array()
                        .is_some_and(|k| k.iter().any(|k| k == "lib"))
                })
                .unwrap_or_else(|| panic!("{} has no lib target", rule.name));
            let root = Path::new(lib["src_path"].as_str().expect("src_path"));
            if !forbids_unsafe(root) {
                failures.push(format!(
                    "{}: {} lacks #![forbid(unsafe_code)]",
                    rule.name,
                    root.display()
                ));
            }
        }
    }
    let boards: Vec<&str> = packages
        .keys()
        .copied()
        .filter(|n| n.starts_with(BOARD_PREFIX))
        .collect();
    assert!(
        !boards.is_empty(),
        "no {BOARD_PREFIX}* crate in the workspace"
    );
    for board in &boards {
        for d in packages[board]["dependencies"]
            .as_array()
            .expect("dependencies")
        {
            let dep = d["name"].as_str().expect("dependency name");
            if dep.starts_with("snowvisor") && !BOARD_MAY_USE.contains(&dep) {
                failures.push(format!(
                    "{board} depends on {dep}; a board may use only {BOARD_MAY_USE:?}"
                ));
            }
        }
        checked.push(board);
    }
    println!("layering checked for {checked:?}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The attribute is found in code, not in a comment.
#[test]
fn forbid_is_read_from_code_not_comments() {
    let dir = std::env::temp_dir().join(format!("snowvisor-layering-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let root = dir.join("lib.rs");
    std::fs::write(
        &root,
        "//! #![forbid(unsafe_code)] in a comment\n#![no_std]\n",
    )
    .unwrap();
    assert!(!forbids_unsafe(&root));
    std::fs::write(
        &root,
        "#![cfg_attr(not(test), no_std)]\n#![forbid(unsafe_code)]\n",
    )
    .unwrap();
    assert!(forbids_unsafe(&root));
    std::fs::remove_dir_all(&dir).unwrap();
}
