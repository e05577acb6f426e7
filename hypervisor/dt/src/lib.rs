//! Device trees: reading the host's (one total walk, one index, one address
//! translator), writing Dom0's.

pub mod address;
pub mod blob;
pub mod dom0;
pub mod host;
pub mod index;

pub use blob::DtError;
pub use host::{BootModule, GicInfo, HostTree, ModuleKind, Region, Reserved, TimerInfo, UartInfo};

#[cfg(test)]
pub(crate) mod testdata {
    pub const QEMU_VIRT_DTB: &[u8] = include_bytes!("testdata/qemu-virt.dtb");
    pub const QEMU_VIRT_MODULES_DTB: &[u8] = include_bytes!("testdata/qemu-virt-modules.dtb");
    pub const QEMU_VIRT_SMMUV3_DTB: &[u8] = include_bytes!("testdata/qemu-virt-smmuv3.dtb");
    pub const EXYNOS5250_SNOW_DTB: &[u8] = include_bytes!("testdata/exynos5250-snow.dtb");
}
