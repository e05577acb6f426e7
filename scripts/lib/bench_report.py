#!/usr/bin/env python3
"""scripts/bench's report: samples in, table and JSON out; README table from the JSON.

  bench_report.py report SAMPLES JSON META...   table on stdout, JSON written
  bench_report.py readme JSON README            README's table between the markers

SAMPLES is a tab-separated file the bench appends to while it runs, one sample
a line: figure key, system (native, xen, snowvisor), value. The figure keys,
their units, targets and descriptions are in FIGURES below. META is
key=value pairs (date, qemu, host_cpu, ...) copied into the JSON.
Python's json and statistics modules do the work (no parser of our own).
"""

import json
import statistics
import sys

SYSTEMS = ("native", "xen", "snowvisor")

HC = "snowctl bench-hypercall, -icount shift=0, instructions over the privcmd ioctl baseline"

# key: (what, unit, target for snowvisor (text), how measured)
FIGURES = {
    "image_bytes": ("raw image", "bytes", "<= 163840", "file size"),
    "image_bytes_snow": ("raw image, exynos5250-snow", "bytes", "<= 163840", "file size"),
    "boot_to_init_s": ("Debian kernel to /init", "s", "<= 1.05x native",
                       "wall clock from QEMU start to /init's first line"),
    "kernel_to_init_ms": ("Linux's boot to /init by its own clock (-icount shift=0)", "ms",
                          "<= 1.05x native",
                          "printk time of 'Run /init', -icount shift=0 (1 ns per instruction)"),
    "domu_boot_to_init_s": ("Linux DomU (256 MiB, 1 vCPU) beside Dom0 to /init, -smp 2 "
                            "(native: the kernel alone, mem=256M, 1 CPU)", "s",
                            "<= 1.05x native",
                            "wall clock from QEMU start to the DomU's /init first line"),
    "domu_kernel_to_init_ms": ("Linux DomU beside Dom0: its boot to /init by its own clock "
                               "(native: the kernel alone)", "ms", "<= 1.05x native",
                               "printk time of the DomU's 'Run /init' (wall clock)"),
    "dom0_build_us": ("Dom0 built (-icount shift=0)", "us", "< 100000",
                      "hypervisor's own clock, -icount shift=0 (1 ns per instruction)"),
    "hypercall_xen_version": ("hypercall xen_version(XENVER_version)", "instructions", "<= 100", HC),
    "hypercall_invalid_op": ("hypercall: unknown number (-ENOSYS)", "instructions", "<= 100", HC),
    "hypercall_evtchn_send": ("hypercall EVTCHNOP_send, bound port", "instructions", "<= 100", HC),
    "hypercall_gnttab_query_size": ("hypercall GNTTABOP_query_size", "instructions", "<= 100", HC),
    "hypercall_current_reservation": ("hypercall XENMEM_current_reservation", "instructions",
                                      "<= 100", HC),
    "hypercall_sched_yield": ("hypercall SCHEDOP_yield", "instructions", "<= 100", HC),
    "evtchn_round_trip": ("event-channel round trip, Dom0 to itself (/dev/xen/evtchn)",
                          "instructions", "", "snowctl bench-hypercall, -icount shift=0"),
    "timer_loop_ms": ("timer-bound loop: 2000 x sleep 1 ms (-icount shift=0)", "ms",
                      "<= 1.02x native", "snowctl bench-timer, guest clock"),
    "cpu_loop_ms": ("CPU-bound workload (-icount shift=0)", "ms", "<= 1.005x native",
                    "snowctl bench-cpu, guest clock"),
    "ioctl_baseline": ("privcmd ioctl baseline (-ENOTTY, no hypercall)", "instructions",
                       "", "snowctl bench-hypercall, -icount shift=0"),
    "cpu_loop_ticks": ("timer interrupts during the CPU-bound workload", "interrupts", "",
                       "snowctl bench-cpu, /proc/interrupts arch_timer"),
    "gicd_read": ("GICD register read from Dom0 (GICD_TYPER, /dev/mem; trapped under a "
                  "hypervisor)", "instructions", "",
                  "snowctl bench-gicd, -icount shift=0, over a RAM read"),
    "disk_read_mib_s": ("disk read, virtio-blk-pci, no SMMU (wall clock)", "MiB/s", "",
                        "busybox dd of the whole 128 MiB disk after a page-cache drop"),
    "disk_read_smmu_mib_s": ("disk read, the same disk behind the SMMUv3 snowvisor owns "
                             "(wall clock)", "MiB/s", "",
                             "busybox dd of the whole 128 MiB disk after a page-cache drop"),
    "smp_md5sum_ms": ("parallel workload, -smp 2: a busybox md5sum loop per CPU (vCPU) over "
                      "16 MiB in RAM, 3 times each (wall clock)", "ms", "<= 1.05x native",
                      "bench-smp, Linux's /proc/uptime in the guest"),
    "sched_alone_ms": ("2 vCPUs on 1 CPU: CPU-bound workload on vCPU 0, vCPU 1 idle "
                       "(-icount shift=0)", "ms", "", "bench-sched: snowctl bench-cpu, guest clock"),
    "sched_shared_ms": ("2 vCPUs on 1 CPU: the same workload while vCPU 1 spins "
                        "(-icount shift=0)", "ms", "",
                        "bench-sched: snowctl bench-cpu, guest clock"),
    "sched_switches": ("2 vCPUs on 1 CPU: vCPU switches during the shared run", "switches",
                       "", "bench-sched: snowctl stats, class vcpu-switch"),
    "sched_shared_1ms_ms": ("2 vCPUs on 1 CPU: the shared run with sched_slice_ms=1 "
                            "(-icount shift=0)", "ms", "",
                            "bench-sched: snowctl bench-cpu, guest clock"),
    "sched_switches_1ms": ("2 vCPUs on 1 CPU: vCPU switches during the shared run with "
                           "sched_slice_ms=1", "switches", "",
                           "bench-sched: snowctl stats, class vcpu-switch"),
}


def load(path):
    samples = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 3:
                sys.exit(f"bench_report: {path}:{n}: expected KEY<TAB>SYSTEM<TAB>VALUE, got {line!r}")
            key, system, value = parts
            if system not in SYSTEMS:
                sys.exit(f"bench_report: {path}:{n}: unknown system {system!r}")
            samples.setdefault(key, {}).setdefault(system, []).append(float(value))
    return samples


def summary(values):
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "runs": len(values),
        "samples": values,
    }


def fmt(v, unit):
    if unit == "s":
        return f"{v:.2f} s"
    if unit == "ms":
        return f"{v:,.1f} ms"
    if unit == "bytes":
        return f"{v:,.0f} B"
    if unit == "MiB/s":
        return f"{v:,.1f} MiB/s"
    if unit == "x":
        return f"{v:.3f}x"
    if unit == "%":
        return f"{v:.1f} %"
    return f"{v:,.0f}"


def cell(entry, unit, native=None):
    if entry is None:
        return "-"
    text = fmt(entry["median"], unit)
    if entry["runs"] > 1:
        text += f" [{fmt(entry['min'], unit)}-{fmt(entry['max'], unit)}]".replace(" s-", "-")
    if native and native["median"] > 0 and unit in ("s", "ms", "MiB/s"):
        text += f" ({entry['median'] / native['median']:.3f}x)"
    return text


def report(samples_path, json_path, meta):
    samples = load(samples_path)
    figures = {}
    for key, by_system in samples.items():
        if key.startswith("exits_"):
            default = (f"exits to /init: {key[6:]}", "exits", "",
                       "snowctl stats at /init, -icount shift=0")
        else:
            default = (key, "", "", "")
        what, unit, target, how = FIGURES.get(key, default)
        figures[key] = {
            "what": what, "unit": unit, "target": target, "how": how,
            **{s: summary(v) for s, v in by_system.items()},
        }
    # Derived: what a virtual-timer interrupt costs, from the timer loop
    # (its sleeps each end in one timer interrupt) against native.
    loop = figures.get("timer_loop_ms", {})
    if "native" in loop:
        sleeps = int(meta.get("timer_sleeps", "2000"))
        tick = {"what": "timer interrupt: instructions per 1 ms sleep over native",
                "unit": "instructions", "target": "",
                "how": "(timer loop - native timer loop) / sleeps, -icount shift=0"}
        for s in ("xen", "snowvisor"):
            if s in loop:
                v = (loop[s]["median"] - loop["native"]["median"]) * 1e6 / sleeps
                tick[s] = summary([v])
        figures["timer_tick_overhead"] = tick
    # Derived: what one virtual-timer interrupt costs a CPU-bound loop
    # (instructions it loses per tick taken, over native).
    cpu, ticks = figures.get("cpu_loop_ms", {}), figures.get("cpu_loop_ticks", {})
    if "native" in cpu:
        loss = {"what": "virtual-timer interrupt delivered: instructions the CPU-bound "
                        "workload loses per tick over native",
                "unit": "instructions", "target": "",
                "how": "(CPU-bound workload - native's) / timer interrupts taken, "
                       "-icount shift=0"}
        for s in ("xen", "snowvisor"):
            if s in cpu and ticks.get(s, {}).get("median", 0) > 0:
                v = (cpu[s]["median"] - cpu["native"]["median"]) * 1e6 / ticks[s]["median"]
                loss[s] = summary([v])
        figures["vtimer_tick_loss"] = loss
    # Derived: the owned SMMU's share of disk throughput (snowvisor only).
    smmu, plain = figures.get("disk_read_smmu_mib_s", {}), figures.get("disk_read_mib_s", {})
    if "snowvisor" in smmu and plain.get("snowvisor", {}).get("median", 0) > 0:
        figures["disk_smmu_ratio"] = {
            "what": "disk read through the owned SMMU / without it (snowvisor)",
            "unit": "x", "target": "", "how": "medians of the two disk figures",
            "snowvisor": summary([smmu["snowvisor"]["median"] / plain["snowvisor"]["median"]])}
    # Derived: the parallel workload against native, per system.
    smp = figures.get("smp_md5sum_ms", {})
    if smp.get("native", {}).get("median", 0) > 0:
        ratio = {"what": "parallel workload, -smp 2: wall time / native's", "unit": "x",
                 "target": "<= 1.05x", "how": "medians of the parallel-workload figure"}
        for s in ("xen", "snowvisor"):
            if s in smp:
                ratio[s] = summary([smp[s]["median"] / smp["native"]["median"]])
        figures["smp_md5sum_ratio"] = ratio
    # Derived: the scheduler's fairness, from the workload alone and beside
    # a spinning vCPU on the same CPU; what a vCPU switch costs, from the
    # shared run with a 1 ms slice against the default one (the same work,
    # more switches).
    alone, shared = figures.get("sched_alone_ms", {}), figures.get("sched_shared_ms", {})
    share = {"what": "2 vCPUs on 1 CPU: the workload's share of the CPU while the other "
                     "vCPU spins", "unit": "%", "target": "50 % +- 5",
             "how": "workload alone / beside the spinning vCPU, -icount shift=0"}
    for s in ("xen", "snowvisor"):
        if s in alone and shared.get(s, {}).get("median", 0) > 0:
            share[s] = summary([100 * alone[s]["median"] / shared[s]["median"]])
    if any(s in share for s in SYSTEMS):
        figures["sched_share"] = share
    fast = figures.get("sched_shared_1ms_ms", {}).get("snowvisor")
    n_fast = figures.get("sched_switches_1ms", {}).get("snowvisor")
    base = shared.get("snowvisor")
    n_base = figures.get("sched_switches", {}).get("snowvisor")
    if fast and n_fast and base and n_base and n_fast["median"] > n_base["median"]:
        extra = (fast["median"] - base["median"]) * 1e6
        figures["sched_switch_cost"] = {
            "what": "vCPU switch between two busy vCPUs on 1 CPU, all in", "unit": "instructions",
            "target": "",
            "how": "(shared run at 1 ms slices - at the default) / (their switch counts' "
                   "difference), -icount shift=0",
            "snowvisor": summary([extra / (n_fast["median"] - n_base["median"])])}
    doc = {"meta": meta, "figures": figures}
    with open(json_path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(table(doc, markdown=False))


def rows(doc):
    for key, fig in doc["figures"].items():
        native = fig.get("native")
        yield (fig["what"], fig["unit"],
               cell(native, fig["unit"]),
               cell(fig.get("xen"), fig["unit"], native),
               cell(fig.get("snowvisor"), fig["unit"], native),
               fig["target"])


def table(doc, markdown):
    head = ("figure", "unit", "native", "Xen 4.17", "snowvisor", "target (snowvisor)")
    body = list(rows(doc))
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(r) + " |" for r in body]
        return "\n".join(out)
    widths = [max(len(r[i]) for r in [head] + body) for i in range(len(head))]
    out = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [head] + body]
    return "\n".join(out)


BEGIN = "<!-- scripts/bench --readme: begin -->"
END = "<!-- scripts/bench --readme: end -->"


def readme(json_path, readme_path):
    with open(json_path, encoding="utf-8") as f:
        doc = json.load(f)
    m = doc["meta"]
    text = (f"`scripts/bench` on {m.get('date', '?')}: {m.get('qemu', '?')}, host CPU "
            f"{m.get('host_cpu', '?')} ({m.get('host_cores', '?')} cores, load average "
            f"{m.get('load', '?')} at the start), {m.get('rounds', '?')} interleaved rounds "
            f"(medians, [min-max]); instruction counts under `-icount shift=0` are the same "
            f"on every host.\n\n" + table(doc, markdown=True) + "\n")
    with open(readme_path, encoding="utf-8") as f:
        old = f.read()
    if BEGIN not in old or END not in old:
        sys.exit(f"bench_report: {readme_path} has no {BEGIN} ... {END} section")
    head, rest = old.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(readme_path, "w", encoding="utf-8") as f:
        f.write(head + BEGIN + "\n" + text + END + tail)


def main(argv):
    if len(argv) >= 3 and argv[0] == "report":
        meta = dict(a.split("=", 1) for a in argv[3:])
        report(argv[1], argv[2], meta)
    elif len(argv) == 3 and argv[0] == "readme":
        readme(argv[1], argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
