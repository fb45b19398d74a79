//! One insta snapshot per `scripts/*.yaml`: each script runs against the
//! embedded ftpshd and its transcript must match the committed snapshot
//! (CI runs with `CI=true`, so a mismatch fails instead of being written).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers, not only #[test] fns

use ftpsh_shell::batch;

#[test]
fn script_transcripts() {
    insta::glob!("../../scripts", "*.yaml", |path| {
        let mut out = Vec::new();
        let code =
            batch::run_file(path, &mut out).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let transcript = String::from_utf8(out).expect("transcript is UTF-8");
        insta::assert_snapshot!(format!("exit code: {code}\n{transcript}"));
    });
}
