//! Architecture code, from two crates: `snowvisor_arm` (the ARM-defined
//! formats, pure) and `snowvisor_arch_armv7` (hardware access at HYP). Here
//! under the paths the kernel has always used, plus the one adapter from the
//! kernel's device-tree types to the arch crate's plain values.

pub mod armv7 {
    pub use snowvisor_arch_armv7::{at, secure, sysreg};
    pub use snowvisor_arm::{coproc, exception, frame, gic, hsr, lpae, stage2};

    #[cfg(target_arch = "arm")]
    pub use snowvisor_arch_armv7::{banked, cpu, entry, guest, phys};

    /// snowvisor's HYP MMU (`snowvisor_arch_armv7::mmu`).
    #[cfg(target_arch = "arm")]
    pub mod mmu {
        use alloc::vec::Vec;

        pub use snowvisor_arch_armv7::mmu::{enabled, with_phys};

        /// Builds the HYP map for the host's RAM banks `ram` and turns the MMU
        /// and caches on (see `snowvisor_arch_armv7::mmu::enable`).
        pub fn enable(ram: &[snowvisor_dt::Region]) {
            let banks: Vec<_> = ram.iter().map(|r| r.base..r.end()).collect();
            snowvisor_arch_armv7::mmu::enable(&banks);
        }
    }
}
