//! DMA attack guest for snowvisor's owned SMMUv3 (issue 6, item 5).
//!
//! Booted as Dom0 (`scripts/run --smmu --kernel dma-attack.bin --no-initrd`,
//! with `dom0_mem=256M` so that some RAM belongs to no domain), on QEMU virt
//! with `highmem=off`. It finds the virtio-blk-pci disk on the PCIe host,
//! drives it with one polled virtqueue, and:
//!
//! 1. writes a sector from its own memory and reads it back into its own
//!    memory: DMA inside the domain works;
//! 2. asks the disk to read a sector into snowvisor's image (0x4001_0000);
//! 3. asks the disk to read a sector into RAM no domain owns (just past
//!    Dom0's 256 MiB, 0x50a0_0000).
//!
//! The guest cannot tell whether an attack worked: QEMU's disk completes the
//! request even when every write of it was refused (or it gives up and asks
//! for a reset), and the target pages are not mapped for the guest's CPU.
//! The verdict is snowvisor's: it reports each SMMU fault (stream, address,
//! direction) and the checksums of guard pages at those addresses, taken
//! before Dom0 started and after each fault; the test compares them. Output
//! goes through Xen's `console_io` hypercall, lines prefixed `dma-attack: `.
//! Addresses are QEMU virt's (ECAM at 0x3f00_0000 with `highmem-ecam=off`,
//! 32-bit PCI memory from 0x1000_0000).

#![no_std]
#![no_main]

use core::fmt::Write;
use core::panic::PanicInfo;

mod virtio;

use virtio::{Blk, Outcome};

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
1:  adr     r4, _start              @ where we were loaded
    ldr     r5, =_start             @ where we are linked
    ldr     r6, =__image_end
    cmp     r4, r5
    beq     2f
    @ Copy forward: snowvisor loads kernels above the link address, clear of it.
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
2:  ldr     sp, =__stack_top
    ldr     r0, =__bss_start
    ldr     r1, =__bss_end
    mov     r3, #0
4:  cmp     r0, r1
    strlo   r3, [r0], #4
    blo     4b
    bl      guest_main
5:  wfi
    b       5b
"#
);

/// Xen hypercall `console_io(CONSOLEIO_write, len, buf)`.
fn console_write(s: &[u8]) {
    const CONSOLE_IO: u32 = 18;
    // SAFETY: the hypercall reads `s` from our memory (MMU off: VA = IPA);
    // it clobbers only r0.
    unsafe {
        core::arch::asm!(
            ".arch_extension virt",
            "hvc #0xea1",
            inout("r0") 0u32 => _,
            in("r1") s.len(),
            in("r2") s.as_ptr(),
            in("r12") CONSOLE_IO,
            options(nostack)
        )
    }
}

/// Line-buffered console output with the test prefix.
struct Console {
    buf: [u8; 160],
    len: usize,
}

impl Write for Console {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for &b in s.as_bytes() {
            if self.len < self.buf.len() {
                self.buf[self.len] = b;
                self.len += 1;
            }
        }
        Ok(())
    }
}

macro_rules! say {
    ($($t:tt)*) => {{
        let mut c = Console { buf: [0; 160], len: 0 };
        let _ = write!(c, "dma-attack: ");
        let _ = write!(c, $($t)*);
        let _ = c.write_str("\n");
        console_write(&c.buf[..c.len]);
    }};
}

/// PSCI SYSTEM_OFF through the hypervisor.
fn power_off() -> ! {
    // SAFETY: PSCI call; does not return when it works.
    unsafe {
        core::arch::asm!(".arch_extension virt", "hvc #0", in("r0") 0x8400_0008u32, options(nostack))
    };
    loop {
        // SAFETY: waiting for nothing.
        unsafe { core::arch::asm!("wfi", options(nostack)) };
    }
}

/// The virtual counter, for timeouts.
fn now_ticks() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: CNTVCT is readable at PL1.
    unsafe { core::arch::asm!("isb", "mrrc p15, 1, {}, {}, c14", out(reg) lo, out(reg) hi) };
    (hi as u64) << 32 | lo as u64
}

fn ticks_per_ms() -> u64 {
    let f: u32;
    // SAFETY: CNTFRQ is readable at PL1.
    unsafe { core::arch::asm!("mrc p15, 0, {}, c14, c0, 0", out(reg) f) };
    (f as u64 / 1000).max(1)
}

/// Own memory for the queue, the request and the buffers (1:1 Dom0 RAM).
const DMA_AREA: usize = 0x4120_0000;
const OWN_WRITE: usize = DMA_AREA + 0x4000;
const OWN_READ: usize = DMA_AREA + 0x5000;
const SECTOR: u64 = 8;
/// snowvisor's image start on QEMU virt (its LOAD_ADDRESS).
const SNOWVISOR_IMAGE: usize = 0x4001_0000;
/// First byte past Dom0's 256 MiB (`dom0_mem=256M`, bank 0x40a0_0000).
const UNOWNED_RAM: usize = 0x50a0_0000;

fn fill_pattern(at: usize) {
    for i in 0..512 / 4 {
        let v = 0x5eed_0000u32 ^ (i as u32).wrapping_mul(0x9e37_79b9);
        // SAFETY: our own buffer in our RAM.
        unsafe { ((at + 4 * i) as *mut u32).write_volatile(v) };
    }
}

fn same(a: usize, b: usize) -> bool {
    (0..512 / 4).all(|i| {
        // SAFETY: our own buffers.
        unsafe {
            ((a + 4 * i) as *const u32).read_volatile()
                == ((b + 4 * i) as *const u32).read_volatile()
        }
    })
}

fn attack(name: &str, target: usize) {
    let Some(mut blk) = Blk::open(DMA_AREA) else {
        say!("FAIL: the disk did not come back after a reset");
        return;
    };
    say!("asking the disk to DMA sector {SECTOR} into {name} at {target:#010x}");
    let how = match blk.read(SECTOR, target, 500 * ticks_per_ms()) {
        Outcome::Done(s) => ("completed", s),
        Outcome::Broken(s) => ("not completed, device needs reset", s),
        Outcome::Timeout(s) => ("not completed", s),
    };
    say!(
        "DMA into {name} at {target:#010x}: request {} (status {:#04x}); snowvisor's guard page tells",
        how.0,
        how.1
    );
}

#[no_mangle]
extern "C" fn guest_main() -> ! {
    say!("start");
    let Some(mut blk) = Blk::open(DMA_AREA) else {
        say!("FAIL: no virtio-blk-pci disk on bus 0 (run with scripts/run --smmu)");
        power_off()
    };
    say!("virtio-blk at {}, BAR4 {:#010x}", blk.bdf(), blk.bar());
    fill_pattern(OWN_WRITE);
    let ms = ticks_per_ms();
    let wrote = blk.write(SECTOR, OWN_WRITE, 2000 * ms);
    let read = blk.read(SECTOR, OWN_READ, 2000 * ms);
    let own_ok = matches!(wrote, Outcome::Done(0))
        && matches!(read, Outcome::Done(0))
        && same(OWN_WRITE, OWN_READ);
    if own_ok {
        say!("own memory: sector {SECTOR} written from {OWN_WRITE:#010x} and read back into {OWN_READ:#010x}: PASS");
    } else {
        say!("own memory: FAIL (write {wrote:?}, read {read:?})");
    }
    attack("snowvisor's image", SNOWVISOR_IMAGE);
    attack("RAM no domain owns", UNOWNED_RAM);
    // Give snowvisor's SMMU interrupt time to report before powering off.
    let until = now_ticks() + 300 * ms;
    while now_ticks() < until {}
    say!("done (own memory {})", if own_ok { "PASS" } else { "FAIL" });
    power_off()
}

#[panic_handler]
fn panic(_: &PanicInfo<'_>) -> ! {
    say!("FAIL: panic");
    power_off()
}
