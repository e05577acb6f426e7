//! snowvisor-plan: the plan snowvisor would make for a board's DTB, and the Dom0
//! device tree it would boot with. Same code as the hypervisor's boot path.
//!
//!   snowvisor-plan BOARD.dtb [--args "iommu=... swiotlb=..."] [-o dom0.dtb]
//!                  [--json] [--devices] [--give-console] [--no-xen]
//!
//! Options and the DTB come in any order. The boot-time DomUs the tree asks
//! for (dom0less `xen,domain` nodes) follow the plan ([`snowvisor_tools::domus`]).
//! Exit status: 0, 1 when the plan cannot be made, when an argument is an
//! error (a bad `iommu=` or `swiotlb=` value, `own` without a driver: the
//! plan is still printed, as snowvisor would boot) or when a DomU node is
//! one snowvisor's boot stops on, 2 for a bad command line.

#![forbid(unsafe_code)]

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use snowvisor_arch_armv7::drivers::uart::UartKind;
use snowvisor_core::bootargs::{ArgError, BootArgs};
use snowvisor_dt::HostTree;
use snowvisor_plan::{self as plan, dom0, report, Keep, PlanOptions};
use snowvisor_tools::{domus, json, preview_params};

const USAGE: &str = "usage: snowvisor-plan BOARD.dtb [--args \"iommu=... swiotlb=...\"] [-o dom0.dtb] [--json] [--devices] [--give-console] [--no-xen]

  BOARD.dtb        the board's device tree; a name without a '/' that is no file
                   is looked up in $SNOWVISOR_DTBS (scripts/plan: Debian's DTBs,
                   target/dom0/dtbs), with or without .dtb
  --args TEXT      snowvisor's boot arguments (default: the tree's xen,xen-bootargs or bootargs)
  -o FILE          write the Dom0 device tree snowvisor would boot with
  --json           print the plan as JSON instead of the table
  --devices        also list every passthrough device with its MMIO and SPIs
  --give-console   preview Dom0 with the console UART too (snowvisor keeps the
                   /chosen/stdout-path UART it writes to; this shows the plan
                   as if it kept none)
  --no-xen         leave out the /hypervisor node

Options come in any order. Exit status 1 also when an argument is an error
(the plan is still printed: snowvisor boots without what was asked); one
taken but not exactly as Xen does (loglvl=none) is a note, exit status 0.";

struct Cli {
    dtb: String,
    args: Option<String>,
    out: Option<String>,
    json: bool,
    devices: bool,
    give_console: bool,
    xen: bool,
}

fn parse_cli() -> Result<Cli, String> {
    let mut it = std::env::args().skip(1);
    let mut cli = Cli {
        dtb: String::new(),
        args: None,
        out: None,
        json: false,
        devices: false,
        give_console: false,
        xen: true,
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            "--args" => cli.args = Some(value(&mut it, "--args", "a value")?),
            "-o" | "--output" => cli.out = Some(value(&mut it, "-o", "a file name")?),
            "--json" => cli.json = true,
            "--devices" => cli.devices = true,
            // Once needed to keep the console UART; now the default.
            "--keep-console" => cli.give_console = false,
            "--give-console" => cli.give_console = true,
            "--no-xen" => cli.xen = false,
            "-h" | "--help" => return Err(String::new()),
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            s if cli.dtb.is_empty() => cli.dtb = s.to_string(),
            s => return Err(format!("unexpected argument {s}")),
        }
    }
    if cli.dtb.is_empty() {
        return Err(String::from("no DTB given"));
    }
    cli.dtb = board_dtb(&cli.dtb, std::env::var_os("SNOWVISOR_DTBS"));
    Ok(cli)
}

/// The value after option `opt`: refused when missing or when it is the
/// next option (as every script refuses it: README "scripts").
fn value(it: &mut impl Iterator<Item = String>, opt: &str, what: &str) -> Result<String, String> {
    match it.next() {
        Some(v) if !v.starts_with("--") => Ok(v),
        Some(v) => Err(format!("{opt} needs {what}, not the option {v}")),
        None => Err(format!("{opt} needs {what}")),
    }
}

/// The DTB file for `arg`: the file itself, or for a bare name (no `/`) that
/// is no file, `NAME` or `NAME.dtb` in the directory `dtbs` if there is one.
fn board_dtb(arg: &str, dtbs: Option<std::ffi::OsString>) -> String {
    let (Some(dir), false) = (dtbs, arg.contains('/') || Path::new(arg).exists()) else {
        return arg.to_string();
    };
    [arg.to_string(), format!("{arg}.dtb")]
        .iter()
        .map(|n| Path::new(&dir).join(n))
        .find(|p| p.is_file())
        .map_or_else(|| arg.to_string(), |p| p.display().to_string())
}

fn main() -> ExitCode {
    let cli = match parse_cli() {
        Ok(c) => c,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("snowvisor-plan: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(if e.is_empty() { 0 } else { 2 });
        }
    };
    match run(&cli) {
        Ok(Outcome { arg_errors, stop }) => {
            if arg_errors {
                eprintln!(
                    "snowvisor-plan: the arguments have errors (above): snowvisor would boot as shown, without what was asked"
                );
            }
            if arg_errors || stop {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("snowvisor-plan: {}: {e}", cli.dtb);
            ExitCode::FAILURE
        }
    }
}

/// What [`run`] found besides the plan.
struct Outcome {
    /// The arguments had errors (printed with the plan).
    arg_errors: bool,
    /// A DomU node snowvisor's boot stops on (printed with the plan).
    stop: bool,
}

/// Prints the plan (and writes `-o`).
fn run(cli: &Cli) -> Result<Outcome, String> {
    let blob = std::fs::read(&cli.dtb).map_err(|e| {
        let hint = if cli.dtb.contains('/') {
            ""
        } else {
            " (a board name is looked up among Debian's DTBs: scripts/plan NAME after scripts/fetch-dom0)"
        };
        format!("cannot read: {e}{hint}")
    })?;
    let tree = HostTree::new(&blob).map_err(|e| e.to_string())?;
    let given = cli.args.is_some();
    let line = cli
        .args
        .clone()
        .or_else(|| tree.hypervisor_bootargs().map(str::to_string))
        .unwrap_or_default();
    let args = BootArgs::parse(&line);
    // Ignored arguments: on stderr, and in the JSON's "warnings".
    let mut arg_warnings: Vec<String> = Vec::new();
    // An argument snowvisor takes but not exactly as Xen does (`loglvl=none`
    // still prints errors, `sched=null`) is a note, not an error.
    let mut arg_notes = 0;
    if given {
        arg_warnings.extend(args.errors.iter().map(|e| e.to_string()));
        arg_notes = args
            .errors
            .iter()
            .filter(|e| matches!(e, ArgError::NotHonoured { .. }))
            .count();
    }
    let (opts, errors) = PlanOptions::parse(args.iommu, args.swiotlb);
    arg_warnings.extend(errors.iter().map(|e| e.to_string()));
    for w in &arg_warnings {
        eprintln!("snowvisor-plan: {w}");
    }
    let keep = if cli.give_console {
        Keep::none()
    } else {
        let (keep, note) = console_keep(&tree);
        if let Some(n) = note {
            eprintln!("snowvisor-plan: note: {n}");
        }
        keep
    };
    let plan = plan::make(&tree, &opts, &keep).map_err(|e| e.to_string())?;
    let domus = domus::read(&tree);
    if let Some(f) = &domus.fatal {
        eprintln!("snowvisor-plan: {f}: snowvisor stops the boot on this tree");
    }
    let errors = arg_warnings.len() > arg_notes || plan.warnings.iter().any(|w| w.is_error());
    let text = if cli.json {
        json::to_json(&plan, &domus, &arg_warnings) + "\n"
    } else {
        let mut lines = report::lines(&plan);
        if cli.devices {
            lines.extend(report::device_lines(&plan));
        }
        lines.extend(domus::lines(&domus));
        lines.iter().map(|l| format!("{l}\n")).collect()
    };
    // A reader that stops early (`| head`) is no error; println! would panic.
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            return Err(format!("cannot write the plan: {e}"))
        }
        _ => {}
    }
    if let Some(out) = &cli.out {
        let mut preview = preview_params(&tree, &plan, cli.xen);
        if let Some(n) = args.dom0_max_vcpus {
            preview.params.cpus.truncate(n as usize);
        }
        for n in &preview.notes {
            eprintln!("snowvisor-plan: note: {n}");
        }
        let dtb = dom0::build(&tree, &plan, &preview.params).map_err(|e| e.to_string())?;
        std::fs::write(out, &dtb).map_err(|e| format!("cannot write {out}: {e}"))?;
        eprintln!("snowvisor-plan: wrote {out} ({} bytes)", dtb.len());
    }
    Ok(Outcome {
        arg_errors: errors,
        stop: domus.fatal.is_some(),
    })
}

/// What snowvisor keeps from Dom0 for its console, as it decides at boot
/// (`snowvisor_core::console_uart`): `/chosen/stdout-path`'s UART when snowvisor
/// has a driver for it. Without one, snowvisor stays on its board's default
/// UART if the tree describes it, which depends on the image, not the tree:
/// the preview then keeps none and says so.
fn console_keep(tree: &HostTree<'_>) -> (Keep, Option<String>) {
    let x = tree.index();
    let driven = |path: &str| {
        x.by_path(path).is_some_and(|n| {
            x.compatibles(n)
                .into_iter()
                .any(|c| UartKind::from_compatible(c).is_some())
        })
    };
    let why = match tree.stdout() {
        Some(u) if driven(u.path) => return (Keep::none().uart_at(tree, u.base), None),
        Some(u) => format!(
            "/chosen/stdout-path's {} ({}) has no driver in snowvisor",
            u.path, u.compatible
        ),
        None => match tree.stdout_path() {
            Some(p) => format!("/chosen/stdout-path \"{p}\" names no usable UART node"),
            None => String::from("no /chosen/stdout-path"),
        },
    };
    let note = format!(
        "{why}: snowvisor keeps its board's default UART if this tree describes it (else it writes to its RAM log only); this preview keeps no UART from Dom0"
    );
    (Keep::none(), Some(note))
}
