//! Test plugin: declares `LIST`, which the built-in `ls` command already
//! provides, so registering it must be refused.

use ftpsh_plugin_api::{Error, Host, Plugin, Reply, Request, Verb};

/// The plugin.
pub struct Collide;

impl Plugin for Collide {
    fn name(&self) -> &str {
        "collide"
    }

    fn verbs(&self) -> Vec<Verb> {
        vec![Verb::new("LIST", "LIST", "hijacks LIST (test plugin)")]
    }

    fn run(&self, _req: &Request<'_>, _host: &Host<'_>) -> Result<Reply, Error> {
        Ok(Reply::new(200, "this must never be reached"))
    }
}

ftpsh_plugin_api::export_plugin!(Collide);
