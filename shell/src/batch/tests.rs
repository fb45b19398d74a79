//! Tests of the batch runner's pure parts.

use super::*;

#[test]
fn parses_both_step_forms() {
    let s = parse(
        "steps:\n  - ls\n  - run: rm x\n    expect: 550\n  - run: size a\n    expect: error\n    continue_on_error: true\n  - run: ls\n    expect:\n      contains: [a, b]\n      matches: '^d'\n",
    )
    .unwrap();
    assert_eq!(s.steps.len(), 4);
    assert_eq!(s.steps[0].run, "ls");
    assert_eq!(s.steps[1].expect.status, Status::Code(550));
    assert_eq!(s.steps[2].expect.status, Status::Error);
    assert!(s.steps[2].continue_on_error);
    assert_eq!(s.steps[3].expect.contains, ["a", "b"]);
    assert!(matches!(s.server, ServerSpec::Embedded));
}

#[test]
fn unknown_keys_are_rejected_with_a_location() {
    let err = parse("steps:\n  - run: ls\n    expct: ok\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("expct"), "{err}");
    assert!(err.contains('3'), "line number missing: {err}");
    let err = parse("stepz: []\n").unwrap_err().to_string();
    assert!(err.contains("stepz"), "{err}");
}

#[test]
fn bad_values() {
    assert!(parse("steps: [ls]\nserver: gopher://x\n").is_err());
    assert!(parse("steps: [{run: ls, expect: 226}]\n").is_err());
    assert!(parse("steps: [{run: ls, expect: maybe}]\n").is_err());
    assert!(parse("steps: [ls]\nsetup: [{file: ../x}]\n").is_err());
    assert!(parse("steps: [ls]\nsetup: [{file: a, dir: b}]\n").is_err());
    assert!(parse("steps: [ls]\nsetup: [{file: a, text: x, random: 3}]\n").is_err());
    assert!(parse("steps: [ls]\nserver: ftp://h/\nremote_files: [{dir: a}]\n").is_err());
    assert!(parse("steps: []\n").is_err());
    assert!(parse("steps: [{run: ls, expect: {matches: '('}}]\n").is_err());
}

#[test]
fn random_fixtures_are_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let f = FileSpec::Random {
        path: "r.bin".into(),
        len: 13,
        seed: 7,
    };
    f.create(dir.path()).unwrap();
    let a = fs::read(dir.path().join("r.bin")).unwrap();
    f.create(dir.path()).unwrap();
    assert_eq!(a, fs::read(dir.path().join("r.bin")).unwrap());
    assert_eq!(a.len(), 13);
    // Fixed forever: SplitMix64(7)'s first output, little-endian.
    let mut rng = SplitMix64(7);
    assert_eq!(&a[..8], &rng.next().to_le_bytes());
}

#[test]
fn expectations() {
    let ok: Result<(), CmdError> = Ok(());
    let e550 = Err(CmdError {
        message: "rm: x: 550 no".into(),
        code: Some(550),
        failure: Failure::Remote,
    });
    let e = |status| Expect {
        status,
        ..Expect::default()
    };
    assert!(e(Status::Ok).check(&ok, "").is_ok());
    assert!(e(Status::Ok).check(&e550, "").is_err());
    assert!(e(Status::Code(550)).check(&e550, "").is_ok());
    assert!(e(Status::Code(530)).check(&e550, "").is_err());
    assert!(e(Status::Error).check(&e550, "").is_ok());
    assert!(e(Status::Error).check(&ok, "").is_err());
    let c = Expect {
        contains: vec!["big.bin".into()],
        matches: Some(Regex::new(r"^- +\d+").unwrap()),
        ..Expect::default()
    };
    assert!(c.check(&ok, "- 12  big.bin").is_ok());
    assert!(c.check(&ok, "- 12  small.bin").is_err());
}
