//! Boot-test harness: starts snowvisor in QEMU through `scripts/run --headless`,
//! reads the serial console with timeouts, and on any failed expectation panics
//! with the whole captured console.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn run_script(args: &[&str]) -> String {
    let out = Command::new(root().join("scripts").join(args[0]))
        .args(&args[1..])
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("cannot run scripts/{}: {e}", args[0]));
    assert!(
        out.status.success(),
        "scripts/{} failed: {}",
        args[0],
        out.status
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A finished command's status, stdout and stderr, for assertion messages.
pub fn output_text(o: &std::process::Output) -> String {
    format!(
        "status {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The qemu-virt image, built once per test binary.
pub fn image() -> &'static Path {
    static IMAGE: OnceLock<PathBuf> = OnceLock::new();
    IMAGE.get_or_init(|| {
        if let Ok(p) = std::env::var("SNOWVISOR_IMAGE") {
            return PathBuf::from(p);
        }
        let out = run_script(&["build", "--board", "qemu-virt"]);
        PathBuf::from(
            out.lines()
                .last()
                .expect("scripts/build printed no image path"),
        )
    })
}

/// The default Dom0 (kernel, initrd), fetched once.
pub fn dom0() -> &'static (PathBuf, PathBuf) {
    static DOM0: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    DOM0.get_or_init(|| {
        let out = run_script(&["fetch-dom0"]);
        let mut l = out.lines();
        (
            PathBuf::from(l.next().unwrap()),
            PathBuf::from(l.next().unwrap()),
        )
    })
}

/// The default Dom0 kernel as its fetch recorded it (target/dom0/kernel-version,
/// "<package> <version> <uname -r>"): (package, release).
pub fn dom0_package() -> (String, String) {
    let rec = std::fs::read_to_string(dom0().0.with_file_name("kernel-version"))
        .expect("no kernel-version next to the default Dom0 kernel");
    let w: Vec<&str> = rec.split_whitespace().collect();
    assert_eq!(w.len(), 3, "kernel-version: {rec:?}");
    (w[0].to_string(), w[2].to_string())
}

/// QEMU's own device tree for the default machine, dumped once.
pub fn qemu_dtb() -> PathBuf {
    // Dumped once per test binary, under a name of its own, then renamed into
    // place: tests running in parallel never read a half-written file.
    static DTB: OnceLock<PathBuf> = OnceLock::new();
    DTB.get_or_init(|| {
        let dir = root().join("target").join("boot-tests");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("qemu-virt-dump.dtb");
        let tmp = dir.join(format!("qemu-virt-dump.{}.tmp", std::process::id()));
        let status = Command::new("qemu-system-arm")
            .args([
                "-M",
                &format!(
                    "virt,virtualization=on,highmem-ecam=off,dumpdtb={}",
                    tmp.display()
                ),
            ])
            .args([
                "-cpu",
                "cortex-a15",
                "-m",
                "1024",
                "-nographic",
                "-nic",
                "none",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("qemu-system-arm");
        assert!(status.success(), "dumping QEMU's DTB failed");
        std::fs::rename(&tmp, &path).unwrap();
        path
    })
    .clone()
}

/// QEMU's dumped tree, decompiled, changed by `edit` (dts text) and compiled
/// again into target/boot-tests/`name`.
pub fn qemu_dtb_edited(name: &str, edit: impl FnOnce(String) -> String) -> PathBuf {
    let dtc = |args: &[&str], input: &[u8]| {
        let mut c = Command::new("dtc")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("dtc (apt-get install device-tree-compiler)");
        c.stdin.take().unwrap().write_all(input).unwrap();
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "dtc {args:?} failed");
        out.stdout
    };
    let dts = dtc(
        &["-I", "dtb", "-O", "dts", "-q"],
        &std::fs::read(qemu_dtb()).unwrap(),
    );
    let edited = edit(String::from_utf8(dts).unwrap());
    let path = qemu_dtb().with_file_name(name);
    std::fs::write(
        &path,
        dtc(&["-I", "dts", "-O", "dtb", "-q"], edited.as_bytes()),
    )
    .unwrap();
    path
}

/// What to boot.
#[derive(Clone, Debug)]
pub struct Opts {
    pub args: String,
    pub dom0: bool,
    pub dom0_args: String,
    pub dtb: Option<PathBuf>,
    pub mem_mib: u32,
    /// CPUs QEMU gives the machine (`scripts/run --smp`; default 2, like
    /// the Snow: Dom0 gets a vCPU on each).
    pub smp: u32,
    /// Let a machine reset restart QEMU's machine (`scripts/run --reboot`);
    /// without it QEMU exits on a reset.
    pub reboot: bool,
    /// Boot through U-Boot (`scripts/run --uboot script|fit`).
    pub uboot: Option<&'static str>,
    /// Boot-time DomUs (`scripts/run --domu SPEC` each) and their command
    /// line (`--domu-args`).
    pub domus: Vec<String>,
    pub domu_args: Option<String>,
    /// The DomUs' vCPUs (`--domu-vcpus N`; `None`: scripts/run's default, 1).
    pub domu_vcpus: Option<u32>,
    /// The DomUs' cpupool: its CPUs (`--domu-cpupool CPUS`, e.g. "1").
    pub domu_cpupool: Option<String>,
    /// Static event channels between Dom0 and domU1 (`--evtchn P0:P1` each).
    pub evtchns: Vec<String>,
    /// The DomUs get a xenstore page and channel (`--domu-xenstore`:
    /// `xen,enhanced = "enabled"`).
    pub domu_xenstore: bool,
    /// Dom0 runs this after its ready line, then powers off
    /// (`scripts/run --dom0-cmd`).
    pub dom0_cmd: Option<String>,
    /// Keep the serial input for [`Boot::send`] (`scripts/run --serial-stdin`).
    pub serial_stdin: bool,
    /// Xen's own Dom0 userland in the initramfs (`scripts/run --xen-tools`).
    pub xen_tools: bool,
    /// QEMU's SMMUv3 in front of PCIe with a virtio-blk-pci disk behind it
    /// (`scripts/run --smmu`).
    pub smmu: bool,
    pub qemu_extra: Vec<String>,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            args: "loglvl=info".into(),
            dom0: true,
            dom0_args: "console=ttyAMA0 snowvisor.test=poweroff".into(),
            dtb: None,
            mem_mib: 1024,
            smp: 2,
            reboot: false,
            uboot: None,
            domus: Vec::new(),
            domu_args: None,
            domu_vcpus: None,
            domu_cpupool: None,
            evtchns: Vec::new(),
            domu_xenstore: false,
            dom0_cmd: None,
            serial_stdin: false,
            xen_tools: false,
            smmu: false,
            qemu_extra: Vec::new(),
        }
    }
}

/// A running QEMU and its console.
pub struct Boot {
    child: Child,
    lines: Receiver<String>,
    console: Arc<Mutex<String>>,
    /// The serial input, for boots started with [`Boot::spawn_interactive`].
    stdin: Option<ChildStdin>,
}

impl Boot {
    pub fn start(o: &Opts) -> Boot {
        let mut cmd = Command::new(root().join("scripts/run"));
        cmd.args(["--headless", "--image"]).arg(image());
        cmd.args(["--args", &o.args, "--mem", &o.mem_mib.to_string()]);
        cmd.args(["--smp", &o.smp.to_string()]);
        if o.dom0 {
            let (k, i) = dom0();
            cmd.arg("--kernel").arg(k).arg("--initrd").arg(i);
            cmd.args(["--dom0-args", &o.dom0_args]);
        } else {
            cmd.arg("--no-dom0");
        }
        if let Some(d) = &o.dtb {
            cmd.arg("--dtb").arg(d);
        }
        if o.reboot {
            cmd.arg("--reboot");
        }
        if let Some(mode) = o.uboot {
            cmd.args(["--uboot", mode]);
        }
        for d in &o.domus {
            cmd.args(["--domu", d]);
        }
        if let Some(a) = &o.domu_args {
            cmd.args(["--domu-args", a]);
        }
        if let Some(n) = o.domu_vcpus {
            cmd.args(["--domu-vcpus", &n.to_string()]);
        }
        if let Some(c) = &o.domu_cpupool {
            cmd.args(["--domu-cpupool", c]);
        }
        for e in &o.evtchns {
            cmd.args(["--evtchn", e]);
        }
        if o.domu_xenstore {
            cmd.arg("--domu-xenstore");
        }
        if let Some(c) = &o.dom0_cmd {
            cmd.args(["--timeout", "900", "--dom0-cmd", c]);
        }
        if o.serial_stdin {
            cmd.arg("--serial-stdin");
        }
        if o.xen_tools {
            cmd.arg("--xen-tools");
        }
        if o.smmu {
            cmd.arg("--smmu");
        }
        if !o.qemu_extra.is_empty() {
            cmd.arg("--").args(&o.qemu_extra);
        }
        if o.serial_stdin {
            Self::spawn_interactive(cmd)
        } else {
            Self::spawn(cmd)
        }
    }

    /// Starts any command whose stdout is a serial console.
    pub fn spawn(cmd: Command) -> Boot {
        Self::spawn_io(cmd, false)
    }

    /// Like [`Boot::spawn`], with the command's stdin kept for [`Boot::send`]
    /// (a QEMU started with `-serial stdio` reads its serial input there).
    pub fn spawn_interactive(cmd: Command) -> Boot {
        Self::spawn_io(cmd, true)
    }

    /// Types `bytes` on the serial console.
    pub fn send(&mut self, bytes: &[u8]) {
        let ok = self
            .stdin
            .as_mut()
            .is_some_and(|s| s.write_all(bytes).and_then(|_| s.flush()).is_ok());
        if !ok {
            self.fail(&format!("cannot send {bytes:?}: no serial input"));
        }
    }

    fn spawn_io(mut cmd: Command, interactive: bool) -> Boot {
        cmd.stdin(if interactive {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("cannot start QEMU");
        let stdin = child.stdin.take();
        let console = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = channel();
        let stdout = child.stdout.take().unwrap();
        let c = console.clone();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut buf = Vec::new();
            while r
                .read_until(b'\n', &mut buf)
                .map(|n| n > 0)
                .unwrap_or(false)
            {
                let line = String::from_utf8_lossy(&buf).replace('\r', "");
                c.lock().unwrap().push_str(&line);
                if tx.send(line.trim_end().to_string()).is_err() {
                    break;
                }
                buf.clear();
            }
        });
        let mut stderr = child.stderr.take().unwrap();
        let c = console.clone();
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            if !s.is_empty() {
                c.lock()
                    .unwrap()
                    .push_str(&format!("\n--- stderr ---\n{s}"));
            }
        });
        Boot {
            child,
            lines: rx,
            console,
            stdin,
        }
    }

    /// Everything the console has printed so far.
    pub fn console(&self) -> String {
        self.console.lock().unwrap().clone()
    }

    fn fail(&mut self, what: &str) -> ! {
        let _ = self.child.kill();
        std::thread::sleep(Duration::from_millis(200));
        panic!(
            "{what}\n===== console =====\n{}\n===================",
            self.console()
        );
    }

    /// Waits until a line containing `needle` appears; returns that line.
    pub fn expect(&mut self, needle: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.contains(needle) => return l,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => {
                    self.fail(&format!("timed out after {secs}s waiting for {needle:?}"))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.fail(&format!("console closed while waiting for {needle:?}"))
                }
            }
        }
    }

    /// Waits until each of `needles` has appeared in a line of its own, in
    /// any order (lines of different domains interleave as they run); returns
    /// the lines in the order of `needles`. A needle matches a line that
    /// contains it and comes from the same domain (the line's `(dN) ` prefix,
    /// or none, is the needle's), so `"snowvisor-dom0: x"` (Dom0's line) is
    /// not matched by `"(d1) snowvisor-dom0: x"` (the DomU's).
    pub fn expect_all(&mut self, needles: &[&str], secs: u64) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut found: Vec<Option<String>> = vec![None; needles.len()];
        while found.iter().any(Option::is_none) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    let hit = needles.iter().zip(found.iter()).position(|(n, f)| {
                        f.is_none() && domain_tag(&l) == domain_tag(n) && l.contains(n)
                    });
                    if let Some(i) = hit {
                        found[i] = Some(l);
                    }
                }
                Err(_) => {
                    let missing: Vec<&&str> = needles
                        .iter()
                        .zip(found.iter())
                        .filter(|(_, f)| f.is_none())
                        .map(|(n, _)| n)
                        .collect();
                    self.fail(&format!("no line starting {missing:?} within {secs}s"))
                }
            }
        }
        found.into_iter().map(Option::unwrap).collect()
    }

    /// Asserts that `needle` does not appear before `until` does.
    pub fn expect_not_before(&mut self, needle: &str, until: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) if l.contains(needle) => {
                    self.fail(&format!("unexpected {needle:?} before {until:?}"))
                }
                Ok(l) if l.contains(until) => return l,
                Ok(_) => {}
                Err(_) => self.fail(&format!("no {until:?} within {secs}s")),
            }
        }
    }

    /// True while QEMU has not exited.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits for QEMU to exit by itself.
    pub fn expect_exit(&mut self, secs: u64) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.fail(&format!("QEMU did not exit within {secs}s"))
    }
}

/// The `(dN) ` prefix snowvisor puts on a DomU's console line, or "" for
/// Dom0's and snowvisor's own lines.
fn domain_tag(line: &str) -> &str {
    match line.find(") ") {
        Some(i) if line.starts_with("(d") && line[2..i].bytes().all(|b| b.is_ascii_digit()) => {
            &line[..i + 2]
        }
        _ => "",
    }
}

impl Drop for Boot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `scripts/run --smp N --hyp-args ARGS --dom0-cmd CMD` on the image: asserts
/// its status 0 and that Dom0 booted; returns its stdout (no `\r`).
pub fn dom0_cmd(smp: u32, hyp_args: &str, cmd: &str) -> String {
    let o = Command::new(root().join("scripts/run"))
        .arg("--image")
        .arg(image())
        .args(["--smp", &smp.to_string(), "--hyp-args", hyp_args])
        .args(["--timeout", "900", "--dom0-cmd", cmd])
        .output()
        .expect("cannot start scripts/run");
    let all = output_text(&o);
    assert_eq!(o.status.code(), Some(0), "{all}");
    let out = String::from_utf8_lossy(&o.stdout).replace('\r', "");
    assert!(!out.contains("failed to boot"), "{all}");
    out
}

/// Whether `out` has `line` as a whole line.
pub fn has_line(out: &str, line: &str) -> bool {
    out.lines().any(|l| l == line)
}
