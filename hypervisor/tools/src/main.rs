//! snowvisor-plan: the plan snowvisor would make for a board's DTB, and the Dom0
//! device tree it would boot with. Same code as the hypervisor's boot path.
//!
//!   snowvisor-plan BOARD.dtb [--args "iommu=... swiotlb=..."] [-o dom0.dtb]
//!                  [--json] [--devices] [--keep-console] [--no-xen]

#![forbid(unsafe_code)]

use std::process::ExitCode;

use snowvisor_core::bootargs::BootArgs;
use snowvisor_dt::HostTree;
use snowvisor_plan::{self as plan, dom0, report, Keep, PlanOptions};
use snowvisor_tools::{json, preview_params};

const USAGE: &str = "usage: snowvisor-plan BOARD.dtb [--args \"iommu=... swiotlb=...\"] [-o dom0.dtb] [--json] [--devices] [--keep-console] [--no-xen]

  --args TEXT      snowvisor's boot arguments (default: the tree's xen,xen-bootargs or bootargs)
  -o FILE          write the Dom0 device tree snowvisor would boot with
  --json           print the plan as JSON instead of the table
  --devices        also list every passthrough device with its MMIO and SPIs
  --keep-console   snowvisor keeps the /chosen/stdout-path UART (not given to Dom0)
  --no-xen         leave out the /hypervisor node";

struct Cli {
    dtb: String,
    args: Option<String>,
    out: Option<String>,
    json: bool,
    devices: bool,
    keep_console: bool,
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
        keep_console: false,
        xen: true,
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            "--args" => cli.args = Some(it.next().ok_or("--args needs a value")?),
            "-o" | "--output" => cli.out = Some(it.next().ok_or("-o needs a file name")?),
            "--json" => cli.json = true,
            "--devices" => cli.devices = true,
            "--keep-console" => cli.keep_console = true,
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
    Ok(cli)
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
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("snowvisor-plan: {}: {e}", cli.dtb);
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<(), String> {
    let blob = std::fs::read(&cli.dtb).map_err(|e| format!("cannot read: {e}"))?;
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
    if given {
        arg_warnings.extend(args.errors.iter().map(|e| e.to_string()));
    }
    let (opts, errors) = PlanOptions::parse(args.iommu, args.swiotlb);
    arg_warnings.extend(errors.iter().map(|e| e.to_string()));
    for w in &arg_warnings {
        eprintln!("snowvisor-plan: {w}");
    }
    let keep = if cli.keep_console {
        Keep::none().console(&tree)
    } else {
        Keep::none()
    };
    let plan = plan::make(&tree, &opts, &keep).map_err(|e| e.to_string())?;
    if cli.json {
        println!("{}", json::to_json(&plan, &arg_warnings));
    } else {
        for l in report::lines(&plan) {
            println!("{l}");
        }
        if cli.devices {
            for l in report::device_lines(&plan) {
                println!("{l}");
            }
        }
    }
    if let Some(out) = &cli.out {
        let preview = preview_params(&tree, &plan, cli.xen);
        for n in &preview.notes {
            eprintln!("snowvisor-plan: note: {n}");
        }
        let dtb = dom0::build(&tree, &plan, &preview.params).map_err(|e| e.to_string())?;
        std::fs::write(out, &dtb).map_err(|e| format!("cannot write {out}: {e}"))?;
        eprintln!("snowvisor-plan: wrote {out} ({} bytes)", dtb.len());
    }
    Ok(())
}
