// Records the commit skiff was built from, for `skiff --version` (podman reads it), and
// relinks when the code layout's inputs change.
fn main() {
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=SKIFF_COMMIT={commit}");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    // The linker (.cargo/config.toml) lays the binary out from these two files: a change
    // to either must relink skiff even when no Rust source changed.
    println!("cargo:rerun-if-changed=bench/layout/hot-functions.txt");
    println!("cargo:rerun-if-changed=bench/layout/cc-hot-first");
    // The binary starts at src/sys/early_exe.rs, which moves `create`, `run` and `exec`
    // onto a read-only mount of the binary (remapped, or re-executed) before the C
    // library starts.
    println!("cargo:rustc-link-arg-bin=skiff=-Wl,--entry=skiff_entry");
}
