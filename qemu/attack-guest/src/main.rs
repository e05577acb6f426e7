//! Isolation attack guest: booted as a DomU next to Dom0 (dom0less,
//! `/chosen/domU1 { compatible = "xen,domain"; ... }`), it attacks
//! everything that is not its own and reports, case by case, whether
//! snowvisor refused:
//!
//! - loads and stores to the host's RAM taken as IPAs (Dom0's, the other
//!   DomUs', snowvisor's image), the GIC's host frames (GICD, GICC, GICH,
//!   GICV, GICv2m), every device of QEMU's `virt` machine and a sweep of
//!   the 40-bit IPA space ([`mem`]); each must end in an injected data
//!   abort with DFAR the faulting VA and DFSR a synchronous external abort
//!   (long-descriptor format: the guest runs its MMU with LPAE, which is
//!   what reaches IPAs above 4 GiB);
//! - PSCI on CPUs it does not have and SMCs to the firmware ([`smc`]);
//! - Xen's privileged hypercalls (domctl, sysctl, platform_op, physdev,
//!   foreign mappings, another domain's memory, parameters and shutdown),
//!   grant operations on refs and handles it does not own, event-channel
//!   operations on ports it does not own ([`xen`]), each refused with
//!   Xen 4.17's documented error for an unprivileged domain;
//! - writes to its own distributor naming interrupts it does not have
//!   ([`gic`]).
//!
//! Then `attack: report: cases N refused R own O breach B wrong W` and
//! PSCI SYSTEM_OFF, which ends this domain only. `attack.mode=crash-*`
//! instead crashes the guest in one of four ways ([`crash`]).
//!
//! Output goes to the UART its device tree names (a DomU's `vpl011`), or
//! through Xen's `console_io` when there is none: booted as Dom0
//! (`scripts/run --kernel attack-guest.bin --no-initrd`), where everything
//! is mapped 1:1, it only checks its vectors and console with loads.

#![no_std]
#![no_main]

mod console;
mod crash;
mod gic;
mod mem;
mod mmu;
mod probe;
mod report;
mod smc;
mod xen;

use core::panic::PanicInfo;

use fdt::Fdt;

core::arch::global_asm!(
    r#"
    .section .text.entry, "ax"
    .arm
    .global _start
_start:
    .rept 8
    mov     r0, r0
    .endr
    b       1f
    .word   0x016f2818              @ zImage magic: snowvisor checks it
    .word   _start
    .word   __image_end
1:  mov     r7, r2                  @ the device tree
    adr     r4, _start              @ where we were loaded
    ldr     r5, =_start             @ where we are linked
    ldr     r6, =__image_end
    cmp     r4, r5
    beq     2f
    mov     r0, r4
    mov     r1, r5
3:  ldr     r3, [r0], #4
    str     r3, [r1], #4
    cmp     r1, r6
    blo     3b
    dsb
    mov     r0, #0
    mcr     p15, 0, r0, c7, c5, 0   @ ICIALLU
    dsb
    isb
    ldr     pc, =2f
2:  cps     #0x17                   @ abort mode: a stack for Rust's sake
    ldr     sp, =__exc_stack_top
    cps     #0x1b
    ldr     sp, =__exc_stack_top
    cps     #0x13
    ldr     sp, =__stack_top
    ldr     r0, =__bss_start
    ldr     r1, =__bss_end
    mov     r3, #0
4:  cmp     r0, r1
    strlo   r3, [r0], #4
    blo     4b
    mov     r0, r7
    bl      guest_main
5:  wfi
    b       5b
    .pool
"#
);

extern "C" {
    static __image_start: u8;
    static __guest_end: u8;
}

fn power_off() -> ! {
    // SAFETY: PSCI SYSTEM_OFF over HVC; does not return when it works.
    unsafe {
        core::arch::asm!(".arch_extension virt", "hvc #0", in("r0") 0x8400_0008u32, options(nostack))
    };
    loop {
        // SAFETY: waiting for nothing.
        unsafe { core::arch::asm!("wfi", options(nostack)) };
    }
}

/// What the device tree says.
struct Board {
    domu: bool,
    ram: (u64, u64),
    gicd: Option<u32>,
    mode: &'static str,
    mpidrs: [u32; 8],
    cpus: usize,
}

fn first_reg(n: fdt::node::FdtNode) -> Option<(u64, u64)> {
    let r = n.reg()?.next()?;
    Some((r.starting_address as u64, r.size.unwrap_or(0) as u64))
}

/// Reads the tree: console, own space, mode. `None` when `dtb` is not one.
fn read_tree(dtb: u32, space: &mut mem::Space) -> Option<Board> {
    // SAFETY: r2 at entry: the device tree snowvisor wrote into our RAM.
    let fdt = unsafe { Fdt::from_ptr(dtb as *const u8) }.ok()?;
    let domu = fdt
        .root()
        .compatible()
        .all()
        .any(|c| c.starts_with("xen,xenvm"));
    let uart = fdt
        .find_compatible(&["arm,sbsa-uart", "arm,pl011"])
        .and_then(first_reg);
    if let Some((base, size)) = uart.filter(|_| domu) {
        console::use_uart(base as u32);
        space.add(base, size.max(0x1000));
    }
    let mut ram = (0, 0);
    for r in fdt.memory().regions() {
        let (b, s) = (r.starting_address as u64, r.size.unwrap_or(0) as u64);
        if ram.1 == 0 {
            ram = (b, s);
        }
        space.add(b, s);
    }
    let mut gicd = None;
    if let Some(gic) = fdt.find_compatible(&["arm,gic-400", "arm,cortex-a15-gic"]) {
        for (i, r) in gic.reg().into_iter().flatten().enumerate() {
            let (b, s) = (r.starting_address as u64, r.size.unwrap_or(0) as u64);
            if i == 0 {
                gicd = Some(b as u32);
            }
            space.add(b, s);
        }
    }
    if !domu {
        // Dom0 has its devices: all of them are its own.
        for n in fdt.all_nodes() {
            if let Some((b, s)) = first_reg(n) {
                space.add(b, s.max(1));
            }
        }
    }
    let mut mode = "attack";
    if let Some(args) = fdt.chosen().bootargs() {
        for w in args.split_ascii_whitespace() {
            if let Some(m) = w.strip_prefix("attack.mode=") {
                mode = match m {
                    "crash-undef" => "crash-undef",
                    "crash-novector" => "crash-novector",
                    "crash-stack" => "crash-stack",
                    "crash-storm" => "crash-storm",
                    _ => "unknown",
                };
            }
        }
    }
    let mut mpidrs = [0; 8];
    let mut cpus = 0;
    for c in fdt.cpus() {
        if cpus < mpidrs.len() {
            mpidrs[cpus] = c.ids().first() as u32;
            cpus += 1;
        }
    }
    Some(Board {
        domu,
        ram,
        gicd,
        mode,
        mpidrs,
        cpus,
    })
}

#[no_mangle]
extern "C" fn guest_main(dtb: u32) -> ! {
    probe::install_vectors();
    let mut space = mem::Space {
        own: [(0, 0); 64],
        n: 0,
    };
    let Some(b) = read_tree(dtb, &mut space) else {
        say!("no device tree at {dtb:#010x}: stopping");
        power_off()
    };
    // SAFETY: linker symbols: our image, bss and stacks.
    let (start, end) = unsafe {
        (
            &__image_start as *const u8 as u32,
            &__guest_end as *const u8 as u32,
        )
    };
    say!(
        "start: {} mode {}, RAM {:#x}+{:#x}, image {start:#010x}-{end:#010x}, console {}",
        if b.domu { "DomU" } else { "Dom0" },
        b.mode,
        b.ram.0,
        b.ram.1,
        if console::uses_uart() {
            "uart"
        } else {
            "console_io"
        }
    );
    if b.mode != "attack" {
        // PCIe's memory window, a device of Dom0's but nothing of a DomU's;
        // snowvisor's image for Dom0, which has the rest.
        let elsewhere = if b.domu { 0x1000_0000 } else { 0x4001_0000 };
        crash::run(b.mode, b.ram.0 as u32, elsewhere);
        say!("unknown attack.mode: stopping");
        power_off()
    }
    mmu::enable(b.ram.0);
    let mut r = report::Report::default();
    mem::run(&mut r, &space, b.domu);
    if b.domu {
        smc::run(&mut r, &b.mpidrs[..b.cpus], start);
        xen::run(&mut r);
        if let Some(gicd) = b.gicd {
            gic::run(&mut r, gicd);
        }
    }
    r.totals();
    say!("done");
    power_off()
}

#[panic_handler]
fn panic(p: &PanicInfo) -> ! {
    say!("panic: {p}");
    power_off()
}
