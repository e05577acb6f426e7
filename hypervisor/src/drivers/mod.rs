//! The drivers (`snowvisor_arch_armv7::drivers`) under the kernel's paths;
//! [`smmuv3`] adds what joins the driver to the plan's owned IOMMUs.

pub use snowvisor_arch_armv7::drivers::{exynos_uart, gicv2, gicv2m, pl011, uart};

pub mod smmuv3;
