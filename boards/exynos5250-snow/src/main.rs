//! The exynos5250-snow image: the core plus this board.

#![cfg_attr(target_arch = "arm", no_std)]
#![cfg_attr(target_arch = "arm", no_main)]

#[cfg(target_arch = "arm")]
snowvisor::board_entry!(snowvisor_board_exynos5250_snow::Snow);

#[cfg(not(target_arch = "arm"))]
fn main() {
    eprintln!("snowvisor-exynos5250-snow runs on armv7a-none-eabi: use scripts/build --board exynos5250-snow");
    std::process::exit(2);
}
