//! One test over the whole built-in command list (ripgrep's FLAGS test):
//! unique verbs, syntax and help on every verb, examples on every command.

use std::collections::HashSet;

#[test]
fn builtin_list_invariants() {
    let commands = ftpsh_daemon::builtin_commands();
    assert!(!commands.is_empty(), "the built-in list is empty");
    let mut registry = ftpsh_core::Registry::new();
    let mut names = HashSet::new();
    for command in &commands {
        assert!(
            names.insert(command.name().to_owned()),
            "two commands named {:?}",
            command.name()
        );
        registry
            .register(command.clone())
            .unwrap_or_else(|e| panic!("registering {}: {e}", command.name()));
        let specs = command.verbs();
        assert!(!specs.is_empty(), "{} declares no verbs", command.name());
        let examples: usize = specs.iter().map(|s| s.examples.len()).sum();
        assert!(examples > 0, "{} documents no examples", command.name());
        for spec in &specs {
            assert!(!spec.syntax.trim().is_empty(), "{}: no syntax", spec.verb);
            assert!(!spec.help.trim().is_empty(), "{}: no help", spec.verb);
        }
    }
    // The seeds' vocabulary (product.md §4) must be dispatched for real.
    for verb in [
        "USER", "PASS", "QUIT", "LIST", "RETR", "STOR", "DELE", "SIZE", "PASV", "EPSV", "ABOR",
        "LS", "RM", "UPLOAD", "DOWNLOAD", "BYEBYE", "CONNME",
    ] {
        assert!(registry.lookup(verb).is_some(), "{verb} is not built in");
    }
    // builtin_registry() must register the same verbs.
    let built = ftpsh_daemon::builtin_registry();
    assert_eq!(built.specs().len(), registry.specs().len());
}
