//! Architecture code. Pure parts (syndrome decode, table layouts) build everywhere;
//! the parts that touch the CPU only for `target_arch = "arm"`.

pub mod armv7;
