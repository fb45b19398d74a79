//! Helpers for the plugin tests: build the plugin `cdylib`s and put copies
//! in fresh plugin directories.
//!
//! A `cdylib` cannot be a dependency of a test, so the tests build the
//! plugins themselves by running `cargo build` once per test process. The
//! trade-off against a build script: a build script runs while cargo holds
//! the build-directory lock, so a nested `cargo build` there would deadlock
//! or need a second target directory (and a second compile of every
//! dependency); a test runs after cargo released the lock, and can use the
//! very target directory and profile it was itself built in (derived from
//! the test executable's path), so the plugin build is incremental and the
//! host and plugins share one `ftpsh-plugin-api` build.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Every plugin package the tests load.
pub const PLUGINS: [&str; 5] = [
    "ftpsh-plugin-hash",
    "ftpsh-plugin-test-panicky",
    "ftpsh-plugin-test-wrong-abi",
    "ftpsh-plugin-test-collide",
    "ftpsh-plugin-test-fsops",
];

/// The profile directory (`target/debug`) of the running test executable
/// (`target/debug/deps/<test>-<hash>`).
fn profile_dir() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .ok_or_else(|| format!("unexpected test executable path {}", exe.display()))
}

fn build_all() -> Result<PathBuf, String> {
    let profile_dir = profile_dir()?;
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev".to_owned(),
        Some(other) => other.to_owned(),
        None => return Err("no profile directory".to_owned()),
    };
    let target_dir = profile_dir
        .parent()
        .ok_or("no target directory")?
        .to_path_buf();
    // Cargo sets CARGO for the processes it runs; fall back to PATH.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&workspace)
        .arg("build")
        .arg("--quiet")
        .args(["--profile", &profile])
        .arg("--target-dir")
        .arg(&target_dir);
    for p in PLUGINS {
        cmd.args(["-p", p]);
    }
    let status = cmd.status().map_err(|e| format!("running cargo: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build of the plugins failed: {status}"));
    }
    Ok(profile_dir)
}

/// The built shared library of plugin package `package` (e.g.
/// `"ftpsh-plugin-hash"` → `target/debug/libftpsh_plugin_hash.so`),
/// building every plugin on the first call.
///
/// # Panics
/// When the build fails (tests only).
pub fn plugin_path(package: &str) -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = match BUILT.get_or_init(build_all) {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    dir.join(format!("lib{}.so", package.replace('-', "_")))
}

/// A fresh directory holding a copy of each plugin in `packages`, as an
/// operator would drop them in.
///
/// # Panics
/// On I/O errors (tests only).
pub fn plugin_dir(packages: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    for p in packages {
        let src = plugin_path(p);
        let name = src
            .file_name()
            .unwrap_or_else(|| panic!("{}", src.display()));
        std::fs::copy(&src, dir.path().join(name))
            .unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
    }
    dir
}
