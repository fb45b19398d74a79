//! Test plugin: `PANIC` panics inside `run` (the host must answer `451`
//! and keep the session), `FAIL` returns an error (`451` quoting it).

use ftpsh_plugin_api::{Error, Host, Plugin, Reply, Request, Verb};

/// The plugin.
pub struct Panicky;

impl Plugin for Panicky {
    fn name(&self) -> &str {
        "panicky"
    }

    fn verbs(&self) -> Vec<Verb> {
        vec![
            Verb::new("PANIC", "PANIC", "panics (test plugin)"),
            Verb::new("FAIL", "FAIL", "returns an error (test plugin)"),
        ]
    }

    fn run(&self, req: &Request<'_>, host: &Host<'_>) -> Result<Reply, Error> {
        if req.verb == "FAIL" {
            return Err(Error::new("deliberate failure"));
        }
        // Hold an open handle while panicking: unwinding must close it
        // through the host without aborting.
        let _file = host.open("hello.txt");
        panic!("deliberate panic in a test plugin");
    }
}

ftpsh_plugin_api::export_plugin!(Panicky);
