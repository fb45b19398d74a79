//! Test plugin exercising every host file callback: `XSTA path` (stat),
//! `XCPY src dst` (open, read, create, write, commit), `XHALF src dst`
//! (writes, then returns without commit: nothing may appear), `XSNEAK src
//! dst` (a copy declared with permission `r` only: the host's write
//! callback must still refuse users without `w`), `XLST dir` (list, names
//! sorted), and `SITE XECHO text` (a SITE sub-command: echoes the text).

use std::io::{Read, Write};

use ftpsh_plugin_api::{Error, Host, Kind, Plugin, Reply, Request, Verb};

/// The plugin.
pub struct FsOps;

impl Plugin for FsOps {
    fn name(&self) -> &str {
        "fsops"
    }

    fn verbs(&self) -> Vec<Verb> {
        vec![
            Verb::new("XSTA", "XSTA <SP> pathname", "kind and size").permission('l'),
            Verb::new("XCPY", "XCPY <SP> src <SP> dst", "copy a file").permission('w'),
            Verb::new("XHALF", "XHALF <SP> src <SP> dst", "copy, never commit").permission('w'),
            Verb::new("XSNEAK", "XSNEAK <SP> src <SP> dst", "copy, declared 'r'").permission('r'),
            Verb::new("XLST", "XLST <SP> dir", "names in a directory").permission('l'),
            Verb::new(
                "XECHO",
                "SITE XECHO <SP> text",
                "echo, as a SITE sub-command",
            ),
        ]
    }

    fn run(&self, req: &Request<'_>, host: &Host<'_>) -> Result<Reply, Error> {
        let arg = req.arg.unwrap_or(".");
        match req.verb {
            "XECHO" => Ok(Reply::new(200, format!("echo: {arg}"))),
            "XSTA" => Ok(match host.stat(arg) {
                Ok(s) => Reply::new(213, format!("{:?} {}", s.kind, s.size)),
                Err(e) => e.reply(arg),
            }),
            "XCPY" | "XHALF" | "XSNEAK" => {
                let (src, dst) = arg.split_once(' ').ok_or("two paths needed")?;
                let mut from = match host.open(src) {
                    Ok(f) => f,
                    Err(e) => return Ok(e.reply(src)),
                };
                let mut to = match host.create(dst) {
                    Ok(f) => f,
                    Err(e) => return Ok(e.reply(dst)),
                };
                let mut buf = [0u8; 1000];
                loop {
                    let n = from.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    to.write_all(&buf[..n])?;
                }
                if req.verb == "XHALF" {
                    return Ok(Reply::new(250, "written, not committed"));
                }
                to.commit()?;
                Ok(Reply::new(250, format!("copied {src} to {dst}")))
            }
            _ => {
                let listing = match host.list(arg) {
                    Ok(l) => l,
                    Err(e) => return Ok(e.reply(arg)),
                };
                let mut names = Vec::new();
                for entry in listing {
                    let entry = entry?;
                    let slash = if entry.stat.kind == Kind::Dir {
                        "/"
                    } else {
                        ""
                    };
                    names.push(format!("{}{slash}", entry.name));
                }
                names.sort();
                Ok(Reply::new(250, names.join(" ")))
            }
        }
    }
}

ftpsh_plugin_api::export_plugin!(FsOps);
