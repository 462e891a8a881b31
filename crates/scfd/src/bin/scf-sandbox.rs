//! The sandbox launcher binary (the code, and all of scfd's `unsafe`, is in crate scf-sandbox).

fn main() {
    std::process::exit(scf_sandbox::run())
}
