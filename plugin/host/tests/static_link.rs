//! A plugin linked into the program (`register_static`) instead of loaded
//! from a file: the same table validation and callbacks, no `.so` on disk.
//! A test binary of its own, so the linked-in `ftpsh_plugin_v1` symbol
//! cannot be confused with the ones the other tests load.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use ftpsh_core::testkit::TestSession;
use ftpsh_core::{Outcome, Registry};
use ftpsh_plugin_host::{LoadError, load_static, register_static};

#[test]
fn the_hash_plugin_works_linked_in() {
    let mut registry = Registry::new();
    let log = register_static(&mut registry, &[&ftpsh_plugin_hash::FTPSH_PLUGIN]).unwrap();
    assert_eq!(
        log,
        ["plugin hash from <linked-in ftpsh-plugin-hash>: HASH"]
    );
    let mut t = TestSession::new(registry);
    let Outcome::Reply(r) = t.run("HASH hello.txt") else {
        panic!("not a reply")
    };
    assert_eq!(
        r.text(),
        "SHA-256 0-13 853ff93762a06ddbf722c4ebe9ddd66d8f63ddaea97f521c3ecc20da7c976020 hello.txt"
    );
    // Registering it twice collides, naming it.
    let err = register_static(
        &mut t.session.registry.as_ref().clone(),
        &[&ftpsh_plugin_hash::FTPSH_PLUGIN],
    )
    .unwrap_err();
    assert!(matches!(err, LoadError::Collision { .. }), "{err:?}");
    assert!(
        err.to_string().contains("<linked-in ftpsh-plugin-hash>"),
        "{err}"
    );
    assert_eq!(
        load_static(&ftpsh_plugin_hash::FTPSH_PLUGIN)
            .unwrap()
            .file()
            .to_str(),
        Some("<linked-in ftpsh-plugin-hash>")
    );
}
