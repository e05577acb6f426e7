//! The fuzz targets (`snowvisor_tools::fuzz`) in their bounded mode: every
//! kept regression input, then a fixed number of inputs from a fixed seed.
//! Coverage-guided runs are `scripts/fuzz TARGET [SECONDS]`.

use std::path::Path;
use std::time::Instant;

/// Runs `target` over the regression inputs of `name` and `iterations`
/// random inputs (length 0..`max_len`) from `seed` (`FUZZ_ITERATIONS`
/// overrides the count, `FUZZ_SEED` the seed: long runs split across
/// cores); returns the inputs run. A failing input is left in
/// `target/fuzz/failed-NAME-SEED`.
fn bounded(
    name: &str,
    iterations: u32,
    max_len: usize,
    seed: u64,
    mut target: impl FnMut(&[u8]),
) -> u32 {
    let start = Instant::now();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-regressions")
        .join(name);
    let mut runs = 0;
    let mut kept: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    kept.sort();
    for p in &kept {
        let data = std::fs::read(p).unwrap();
        target(&data);
        runs += 1;
    }
    let seed = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(seed);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut buf = Vec::with_capacity(max_len);
    let iterations = std::env::var("FUZZ_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(iterations);
    for _ in 0..iterations {
        buf.clear();
        let n = rng.usize(0..max_len);
        buf.extend((0..n).map(|_| rng.u8(..)));
        // A failing input is kept for scripts/fuzz's tmin and for a look.
        let keep = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../target/fuzz")
            .join(format!("failed-{name}-{seed:x}"));
        let _ = std::fs::create_dir_all(keep.parent().unwrap());
        let _ = std::fs::write(&keep, &buf);
        target(&buf);
        let _ = std::fs::remove_file(&keep);
        runs += 1;
    }
    println!(
        "fuzz {name}: {runs} inputs ({} kept regressions, seed {seed:#x}) in {:.1} s",
        kept.len(),
        start.elapsed().as_secs_f64()
    );
    runs
}

#[test]
fn hypercall_bounded() {
    use snowvisor_tools::fuzz::hypercall::{run, Stats};
    let mut total = Stats::default();
    bounded("hypercall", 20_000, 1024, 0x5eed_0001, |d| {
        let s = run(d);
        TOTAL.with(|t| *t.borrow_mut() += s);
    });
    TOTAL.with(|t| total = *t.borrow());
    println!("fuzz hypercall: {total:?}");
    // Random inputs reach the deep paths, not only the argument checks.
    assert!(total.grant_maps > 0 && total.grant_unmaps > 0, "{total:?}");
    assert!(total.ballooned > 0 && total.cache_flushes > 0, "{total:?}");
}

/// The seed trees: Debian's DTBs (fetched by scripts/test) and QEMU's.
fn seeds() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for dir in ["../target/dom0/dtbs", "dt/src/testdata"] {
        let dir = root.join(dir);
        let rd = std::fs::read_dir(&dir).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (scripts/fetch-dom0 fetches the DTBs)",
                dir.display()
            )
        });
        files.extend(
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "dtb")),
        );
    }
    files.sort();
    assert!(files.len() > 800, "only {} seed DTBs", files.len());
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

#[test]
fn dt_plan_bounded() {
    use snowvisor_tools::fuzz::dt_plan::run;
    let seeds = seeds();
    let mut n = 0u32;
    let mut planned = 0u32;
    bounded("dt_plan", 1_000, 256, 0x5eed_0002, |d| {
        // dtc (a process per tree) on every 50th input.
        n += 1;
        planned += u32::from(run(d, &seeds, n.is_multiple_of(50)));
    });
    println!("fuzz dt_plan: {planned} inputs reached Dom0's tree");
    // Most mutated trees still plan: the mutations are not just noise.
    assert!(planned > 100, "{planned}");
}

thread_local! {
    static TOTAL: std::cell::RefCell<snowvisor_tools::fuzz::hypercall::Stats> =
        Default::default();
}

/// The templates are well formed: a Linux-like sequence succeeds at each step.
#[test]
fn hypercall_templates_reach_grant_balloon_and_flush() {
    use snowvisor_tools::fuzz::hypercall::{run_ops, Gfn, Op};
    let s = run_ops(&[
        Op::GrantEntry {
            frame: 0,
            gref: 8,
            flags: 0,
            target: Gfn::Ram(0x200),
        },
        Op::Balloon {
            cmd: 0,
            gfns: vec![Gfn::Ram(0x300)],
            order: 0,
        },
        Op::MapGrant {
            gref: 8,
            host: Gfn::Ram(0x300),
            flags: 0,
            self_dom: true,
        },
        Op::CacheFlush {
            gref_or_bus: Gfn::Ram(0x200),
            by_ref: false,
            offset: 0,
            len: 64,
            op: 1,
        },
        Op::UnmapGrant {
            handle: 0,
            host: None,
            bus: None,
        },
        Op::Balloon {
            cmd: 1,
            gfns: vec![Gfn::Ram(0x300)],
            order: 0,
        },
    ]);
    assert_eq!(
        (s.grant_maps, s.grant_unmaps, s.ballooned, s.cache_flushes),
        (1, 1, 2, 1),
        "{s:?}"
    );
}

/// Shows what the input in file `$FUZZ_INPUT` (a libFuzzer artifact) does:
/// `FUZZ_INPUT=path cargo test -p snowvisor-tools --test fuzz show -- --ignored --nocapture`.
#[test]
#[ignore]
fn show() {
    let data = std::fs::read(std::env::var("FUZZ_INPUT").unwrap()).unwrap();
    for op in snowvisor_tools::fuzz::hypercall::ops(&data) {
        println!("{op:?}");
    }
    let t = Instant::now();
    let s = snowvisor_tools::fuzz::hypercall::run(&data);
    println!("{s:?} in {:?}", t.elapsed());
}

/// Writes the tree the dt_plan input in `$FUZZ_INPUT` stands for to
/// `$FUZZ_INPUT.dtb`, and runs it.
#[test]
#[ignore]
fn show_dt() {
    let path = std::env::var("FUZZ_INPUT").unwrap();
    let data = std::fs::read(&path).unwrap();
    let seeds = seeds();
    std::fs::write(
        format!("{path}.dtb"),
        snowvisor_tools::fuzz::dt_plan::blob(&data, &seeds),
    )
    .unwrap();
    snowvisor_tools::fuzz::dt_plan::run(&data, &seeds, true);
}
