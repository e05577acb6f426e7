//! A device tree through snowvisor's readers, the plan and the Dom0 tree
//! writer (`snowvisor_tools::fuzz::dt_plan`, where the mutations and oracles
//! are), seeded with Debian's DTBs and QEMU's trees. `dtc` is left to the
//! bounded run (a process per input is too slow here).
#![no_main]

use std::sync::OnceLock;

fn seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut files = Vec::new();
        for dir in ["target/dom0/dtbs", "hypervisor/dt/src/testdata"] {
            if let Ok(rd) = std::fs::read_dir(root.join(dir)) {
                files.extend(rd.filter_map(|e| e.ok().map(|e| e.path())));
            }
        }
        files.retain(|p| p.extension().is_some_and(|x| x == "dtb"));
        files.sort();
        assert!(!files.is_empty(), "no seed DTBs (scripts/fetch-dom0)");
        files.iter().filter_map(|f| std::fs::read(f).ok()).collect()
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    snowvisor_tools::fuzz::dt_plan::run(data, seeds(), false);
});
