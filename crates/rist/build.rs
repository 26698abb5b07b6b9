//! Links the system librist (Debian: `librist-dev`, which provides `librist.so`).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-link-lib=rist");
}
