//! Device drivers snowvisor uses itself. MMIO register blocks are declared with
//! `tock-registers`; each driver is created from a base address by one `unsafe`
//! constructor whose caller vouches that the block is really there.

pub mod exynos_uart;
pub mod gicv2;
pub mod gicv2m;
pub mod pl011;
pub mod smmuv3;
pub mod uart;
