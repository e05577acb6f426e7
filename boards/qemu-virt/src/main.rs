//! The qemu-virt image: the core plus this board.

#![cfg_attr(target_arch = "arm", no_std)]
#![cfg_attr(target_arch = "arm", no_main)]

#[cfg(target_arch = "arm")]
snowvisor::board_entry!(snowvisor_board_qemu_virt::QemuVirt);

#[cfg(not(target_arch = "arm"))]
fn main() {
    eprintln!("snowvisor-qemu-virt runs on armv7a-none-eabi: use scripts/build");
    std::process::exit(2);
}
