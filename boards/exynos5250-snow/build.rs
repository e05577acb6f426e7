fn main() {
    // Only the target build links with snowvisor's linker script.
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("arm") {
        let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
        println!("cargo:rustc-link-arg=-L{dir}");
        println!("cargo:rustc-link-arg=-T{dir}/../../linker/snowvisor.ld");
        println!("cargo:rerun-if-changed={dir}/board.ld");
        println!("cargo:rerun-if-changed={dir}/../../linker/snowvisor.ld");
    }
}
