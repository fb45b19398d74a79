//! The batch runner: `ftpsh --batch FILE.yaml` replays a YAML script of
//! shell lines against a server and prints a deterministic transcript,
//! which the snapshot tests compare.
//!
//! # Script format
//!
//! ```yaml
//! description: what the script shows          # optional, printed first
//! server: embedded        # default: in-process ftpshd on 127.0.0.1 over a temp root
//! # server: ftp://alice@127.0.0.1:2121/       # or any FTP server
//! user: alice             # embedded: the account to create; URL: overrides its user
//! password: secret        # embedded: its password (default random); URL: the login password
//! banner: Hello           # embedded only: the 220 greeting
//! tls: true               # embedded only: FTPS required, certificate generated at start
//! remote_files:           # embedded only: files in the server root before the steps
//!   - file: docs/readme.txt
//!     text: "hello\n"
//!   - dir: empty
//! setup:                  # local files, in a fresh work directory the steps run in
//!   - file: big.bin
//!     random: 3145728     # bytes, from a fixed generator: same bytes on every machine
//!     seed: 7             # optional, default 1
//!   - file: notes.txt
//!     text: "line\n"
//! steps:
//!   - connme                                  # a shell line; must succeed
//!   - run: rm nope.txt                        # or a map with options
//!     expect: 550                             # ok | error | a reply code
//!   - run: ls
//!     expect: { contains: notes.txt }         # or status/contains/not_contains/matches
//!   - run: rm maybe.txt
//!     continue_on_error: true                 # a failure is reported, not fatal
//! teardown:                                   # always runs, even after a failure
//!   - byebye
//! ```
//!
//! Unknown keys are rejected with their line and column.
//!
//! # Transcript
//!
//! Each step is echoed as `ftpsh> LINE` followed by its output and any
//! error line; an unexpected result adds a line starting with `!!`. The
//! last line is a summary. Nothing in it depends on the run: no ports,
//! temp paths, dates or timings, and never a progress bar.
//!
//! # Exit codes
//!
//! | code | meaning |
//! |---|---|
//! | 0 | every step went as expected |
//! | 1 | a step did not go as expected |
//! | 2 | the script is invalid (YAML, unknown key, bad value) or its setup could not be created |
//! | 3 | the server could not be reached or the login failed (an unexpected `connme` failure) |

use std::fmt;
use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Component, Path};

use regex::Regex;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use thiserror::Error;

use crate::embedded::{DEFAULT_USER, EmbeddedServer, EmbeddedSpec};
use crate::exit;
use crate::line;
use crate::say;
use crate::shell::{CmdError, Failure, Flow, Options, ServerChoice, Shell};
use crate::url::FtpUrl;

/// A script that cannot run (exit code 2).
#[derive(Debug, Error)]
pub enum ScriptError {
    /// Reading the file failed.
    #[error("{path}: {source}")]
    Read {
        /// The script's path.
        path: String,
        /// The I/O error.
        source: io::Error,
    },
    /// Not valid YAML, an unknown key, a bad value; the message carries
    /// the line and column.
    #[error("{0}")]
    Parse(String),
    /// Valid YAML that makes no sense (e.g. `remote_files` with a URL).
    #[error("{0}")]
    Invalid(String),
    /// Creating the work directory, fixtures or embedded server failed.
    #[error("setup: {0}")]
    Setup(String),
}

/// A parsed script. See the module docs for the format.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    /// Printed as the first transcript line.
    #[serde(default)]
    pub description: Option<String>,
    /// `embedded` or an `ftp://` URL.
    #[serde(default)]
    pub server: ServerSpec,
    /// Account name.
    #[serde(default)]
    pub user: Option<String>,
    /// Account password.
    #[serde(default)]
    pub password: Option<String>,
    /// The embedded server's greeting.
    #[serde(default)]
    pub banner: Option<String>,
    /// The embedded server requires FTPS (RFC 4217).
    #[serde(default)]
    pub tls: bool,
    /// Files in the embedded server's root.
    #[serde(default)]
    pub remote_files: Vec<FileSpec>,
    /// Local files in the work directory.
    #[serde(default)]
    pub setup: Vec<FileSpec>,
    /// The steps.
    pub steps: Vec<Step>,
    /// Steps that always run at the end.
    #[serde(default)]
    pub teardown: Vec<Step>,
}

/// Which server a script uses.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(try_from = "String")]
pub enum ServerSpec {
    /// The in-process ftpshd.
    #[default]
    Embedded,
    /// Another server.
    Url(FtpUrl),
}

impl TryFrom<String> for ServerSpec {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        if s == "embedded" {
            return Ok(Self::Embedded);
        }
        FtpUrl::parse(&s)
            .map(Self::Url)
            .map_err(|e| format!("server: expected `embedded` or an ftp:// URL: {e}"))
    }
}

/// A fixture: a file (empty, text, or seeded random bytes) or a directory.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawFileSpec")]
pub enum FileSpec {
    /// A directory (parents created).
    Dir(String),
    /// A file with text content.
    Text {
        /// Relative path.
        path: String,
        /// Content.
        text: String,
    },
    /// A file of `len` pseudo-random bytes from `seed`.
    Random {
        /// Relative path.
        path: String,
        /// Length in bytes.
        len: u64,
        /// Generator seed.
        seed: u64,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFileSpec {
    #[serde(default)]
    file: Option<String>,
    #[serde(default)]
    dir: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    random: Option<u64>,
    #[serde(default)]
    seed: Option<u64>,
}

fn check_relative(path: &str) -> Result<String, String> {
    let p = Path::new(path);
    let ok = !path.is_empty()
        && p.components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if ok {
        Ok(path.to_owned())
    } else {
        Err(format!(
            "{path:?}: fixture paths must be relative and stay inside the directory"
        ))
    }
}

impl TryFrom<RawFileSpec> for FileSpec {
    type Error = String;

    fn try_from(r: RawFileSpec) -> Result<Self, String> {
        match (r.file, r.dir) {
            (Some(_), Some(_)) => Err("give either `file` or `dir`, not both".to_owned()),
            (None, None) => Err("a fixture needs `file: PATH` or `dir: PATH`".to_owned()),
            (None, Some(dir)) => {
                if r.text.is_some() || r.random.is_some() || r.seed.is_some() {
                    return Err(format!("dir {dir:?}: text/random/seed are for files"));
                }
                Ok(Self::Dir(check_relative(&dir)?))
            }
            (Some(path), None) => {
                let path = check_relative(&path)?;
                match (r.text, r.random) {
                    (Some(_), Some(_)) => {
                        Err(format!("file {path:?}: give either `text` or `random`"))
                    }
                    (Some(text), None) if r.seed.is_none() => Ok(Self::Text { path, text }),
                    (Some(_), None) => Err(format!("file {path:?}: `seed` needs `random`")),
                    (None, Some(len)) => Ok(Self::Random {
                        path,
                        len,
                        seed: r.seed.unwrap_or(1),
                    }),
                    (None, None) if r.seed.is_some() => {
                        Err(format!("file {path:?}: `seed` needs `random`"))
                    }
                    (None, None) => Ok(Self::Text {
                        path,
                        text: String::new(),
                    }),
                }
            }
        }
    }
}

/// SplitMix64: a tiny generator whose output is fixed forever, so
/// `random:` fixtures (and digests of them in transcripts) are the same on
/// every machine and every version of every dependency.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl FileSpec {
    /// Creates the fixture under `base`, streaming random content in
    /// chunks.
    ///
    /// # Errors
    /// The I/O error.
    pub fn create(&self, base: &Path) -> io::Result<()> {
        match self {
            Self::Dir(d) => fs::create_dir_all(base.join(d)),
            Self::Text { path, text } => {
                let p = base.join(path);
                if let Some(parent) = p.parent() {
                    fs::create_dir_all(parent)?;
                }
                fs::write(p, text)
            }
            Self::Random { path, len, seed } => {
                let p = base.join(path);
                if let Some(parent) = p.parent() {
                    fs::create_dir_all(parent)?;
                }
                let mut w = BufWriter::new(fs::File::create(p)?);
                let mut rng = SplitMix64(*seed);
                let mut left = *len;
                while left > 0 {
                    let bytes = rng.next().to_le_bytes();
                    let n = left.min(8) as usize;
                    w.write_all(&bytes[..n])?;
                    left -= n as u64;
                }
                w.flush()
            }
        }
    }
}

/// One step: a shell line and what is expected of it.
#[derive(Debug, Clone)]
pub struct Step {
    /// The shell line (may hold `;`-separated commands).
    pub run: String,
    /// What must happen.
    pub expect: Expect,
    /// Report a failure but carry on, without failing the script.
    pub continue_on_error: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepMap {
    run: String,
    #[serde(default)]
    expect: Expect,
    #[serde(default)]
    continue_on_error: bool,
}

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct StepVisitor;
        impl<'de> Visitor<'de> for StepVisitor {
            type Value = Step;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a shell line, or a map with `run` and optionally `expect`, `continue_on_error`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Step, E> {
                Ok(Step {
                    run: v.to_owned(),
                    expect: Expect::default(),
                    continue_on_error: false,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Step, A::Error> {
                let m = StepMap::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Step {
                    run: m.run,
                    expect: m.expect,
                    continue_on_error: m.continue_on_error,
                })
            }
        }
        d.deserialize_any(StepVisitor)
    }
}

/// The outcome a step must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Status {
    /// Success.
    #[default]
    Ok,
    /// Any failure.
    Error,
    /// A failure with this server reply code.
    Code(u16),
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ok => f.write_str("ok"),
            Self::Error => f.write_str("an error"),
            Self::Code(c) => write!(f, "reply {c}"),
        }
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Status;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`ok`, `error` or a reply code from 400 to 599")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Status, E> {
                match u16::try_from(v) {
                    Ok(c) if (400..600).contains(&c) => Ok(Status::Code(c)),
                    _ => Err(E::custom(format!(
                        "{v}: expected a reply code from 400 to 599 (steps that succeed expect `ok`)"
                    ))),
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Status, E> {
                self.visit_u64(u64::try_from(v).map_err(|_| E::custom("negative reply code"))?)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Status, E> {
                match v {
                    "ok" => Ok(Status::Ok),
                    "error" => Ok(Status::Error),
                    other => match other.parse::<u64>() {
                        Ok(n) => self.visit_u64(n),
                        Err(_) => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                    },
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// `expect:` — a status, plus optional checks on the step's output
/// (including its error line).
#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// Required outcome.
    pub status: Status,
    /// Substrings that must appear.
    pub contains: Vec<String>,
    /// Substrings that must not appear.
    pub not_contains: Vec<String>,
    /// A regular expression that must match somewhere.
    pub matches: Option<Regex>,
}

#[derive(Debug, Default)]
struct OneOrMany(Vec<String>);

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OneOrMany;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![v.to_owned()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
                let mut v = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    v.push(s);
                }
                Ok(OneOrMany(v))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectMap {
    #[serde(default)]
    status: Status,
    #[serde(default)]
    contains: OneOrMany,
    #[serde(default)]
    not_contains: OneOrMany,
    #[serde(default)]
    matches: Option<String>,
}

impl<'de> Deserialize<'de> for Expect {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Expect;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "`ok`, `error`, a reply code, or a map of status/contains/not_contains/matches",
                )
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Expect, E> {
                let status = Status::deserialize(de::value::U64Deserializer::<E>::new(v))?;
                Ok(Expect {
                    status,
                    ..Expect::default()
                })
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Expect, E> {
                let status = Status::deserialize(de::value::I64Deserializer::<E>::new(v))?;
                Ok(Expect {
                    status,
                    ..Expect::default()
                })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Expect, E> {
                let status = Status::deserialize(de::value::StrDeserializer::<E>::new(v))?;
                Ok(Expect {
                    status,
                    ..Expect::default()
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Expect, A::Error> {
                let m = ExpectMap::deserialize(de::value::MapAccessDeserializer::new(map))?;
                let matches = match m.matches {
                    None => None,
                    Some(re) => Some(Regex::new(&re).map_err(|e| {
                        de::Error::custom(format!("matches: bad regular expression: {e}"))
                    })?),
                };
                Ok(Expect {
                    status: m.status,
                    contains: m.contains.0,
                    not_contains: m.not_contains.0,
                    matches,
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl Expect {
    /// Checks a step's result and output; `Err` says what differed.
    ///
    /// # Errors
    /// A one-line description of the mismatch.
    pub fn check(&self, result: &Result<(), CmdError>, output: &str) -> Result<(), String> {
        match (self.status, result) {
            (Status::Ok, Ok(())) | (Status::Error, Err(_)) => {}
            (Status::Code(c), Err(e)) if e.code == Some(c) => {}
            (want, Ok(())) => return Err(format!("expected {want}, but the step succeeded")),
            (want, Err(e)) => {
                let got = match e.code {
                    Some(c) => format!("reply {c}"),
                    None => "a failure without a reply code".to_owned(),
                };
                return Err(format!("expected {want}, got {got}"));
            }
        }
        for s in &self.contains {
            if !output.contains(s.as_str()) {
                return Err(format!("expected the output to contain {s:?}"));
            }
        }
        for s in &self.not_contains {
            if output.contains(s.as_str()) {
                return Err(format!("expected the output not to contain {s:?}"));
            }
        }
        if let Some(re) = &self.matches
            && !re.is_match(output)
        {
            return Err(format!("expected the output to match /{}/", re.as_str()));
        }
        Ok(())
    }
}

/// Parses a script.
///
/// # Errors
/// [`ScriptError::Parse`] with line and column, [`ScriptError::Invalid`].
pub fn parse(text: &str) -> Result<Script, ScriptError> {
    let script: Script =
        serde_saphyr::from_str(text).map_err(|e| ScriptError::Parse(e.to_string()))?;
    if matches!(script.server, ServerSpec::Url(_)) {
        if !script.remote_files.is_empty() {
            return Err(ScriptError::Invalid(
                "remote_files needs `server: embedded` (the runner cannot seed another server)"
                    .to_owned(),
            ));
        }
        if script.banner.is_some() {
            return Err(ScriptError::Invalid(
                "banner needs `server: embedded`".to_owned(),
            ));
        }
        if script.tls {
            return Err(ScriptError::Invalid(
                "tls needs `server: embedded` (a URL says ftpes:// or ftps://)".to_owned(),
            ));
        }
    }
    if script.steps.is_empty() {
        return Err(ScriptError::Invalid(
            "steps: at least one step is needed".to_owned(),
        ));
    }
    Ok(script)
}

/// Reads, parses and runs the script at `path`, writing the transcript to
/// `out`. Returns the exit code (see the module docs).
///
/// # Errors
/// [`ScriptError`] when the script cannot run at all (exit code 2).
pub fn run_file(path: &Path, out: &mut dyn Write) -> Result<u8, ScriptError> {
    let text = fs::read_to_string(path).map_err(|source| ScriptError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let script = parse(&text).map_err(|e| match e {
        ScriptError::Parse(m) | ScriptError::Invalid(m) => {
            ScriptError::Parse(format!("{}: {m}", path.display()))
        }
        other => other,
    })?;
    run(&script, out)
}

/// Runs one step line: each `;`-separated command in turn, stopping at the
/// first failure. Output and the error line go to `out`.
fn run_step(shell: &mut Shell, text: &str, out: &mut Vec<u8>) -> (Result<(), CmdError>, Flow) {
    for command in line::split_commands(text) {
        match shell.execute(command, out) {
            Ok(Flow::Continue) => {}
            Ok(Flow::Exit) => return (Ok(()), Flow::Exit),
            Err(e) => {
                say!(out, "{e}");
                return (Err(e), Flow::Continue);
            }
        }
    }
    (Ok(()), Flow::Continue)
}

/// Runs a parsed script, writing the transcript to `out`. Returns the exit
/// code.
///
/// # Errors
/// [`ScriptError::Setup`] when the work directory, the fixtures or the
/// embedded server cannot be created.
pub fn run(script: &Script, out: &mut dyn Write) -> Result<u8, ScriptError> {
    let work = tempfile::Builder::new()
        .prefix("ftpsh-batch-")
        .tempdir()
        .map_err(|e| ScriptError::Setup(format!("work directory: {e}")))?;
    let work_dir = work
        .path()
        .canonicalize()
        .map_err(|e| ScriptError::Setup(format!("work directory: {e}")))?;
    // A SIGTERM mid-script removes it too (see `signals`).
    crate::signals::remove_on_exit(work.path());
    for f in &script.setup {
        f.create(&work_dir)
            .map_err(|e| ScriptError::Setup(format!("{f:?}: {e}")))?;
    }
    let mut shell = Shell::new(
        Options {
            deterministic: true,
            ..Options::default()
        },
        work_dir.clone(),
    );
    match &script.server {
        ServerSpec::Embedded => {
            let spec = EmbeddedSpec {
                user: script
                    .user
                    .clone()
                    .unwrap_or_else(|| DEFAULT_USER.to_owned()),
                password: script.password.clone(),
                banner: script.banner.clone(),
                tls: script.tls,
            };
            let server = EmbeddedServer::start(&spec)
                .map_err(|e| ScriptError::Setup(format!("embedded server: {e}")))?;
            for f in &script.remote_files {
                f.create(server.root())
                    .map_err(|e| ScriptError::Setup(format!("remote {f:?}: {e}")))?;
            }
            shell.attach_embedded(server);
        }
        ServerSpec::Url(url) => {
            let mut url = url.clone();
            if let Some(u) = &script.user {
                url.user = Some(u.clone());
            }
            if let Some(p) = &script.password {
                url.password = Some(p.clone());
            }
            shell.set_server(ServerChoice::Url(url));
        }
    }

    if let Some(d) = &script.description {
        for l in d.lines() {
            say!(out, "# {l}");
        }
    }
    let mut failure: Option<(usize, String, Failure)> = None;
    let mut ran = 0usize;
    let mut stopped = false;
    let total = script.steps.len();
    for (i, step) in script.steps.iter().enumerate() {
        let (flow, bad) = run_one(&mut shell, step, out);
        ran += 1;
        if let Some((why, kind)) = bad
            && !step.continue_on_error
        {
            failure = Some((i + 1, why, kind));
            stopped = true;
            break;
        }
        if flow == Flow::Exit {
            break;
        }
    }
    for step in &script.teardown {
        let (_, bad) = run_one(&mut shell, step, out);
        if let Some((why, kind)) = bad
            && !step.continue_on_error
            && failure.is_none()
        {
            failure = Some((0, why, kind));
        }
    }
    shell.disconnect_quietly();
    shell.stop_embedded();
    let code = match failure {
        None => {
            say!(out, "# ok: {total} steps as expected");
            exit::OK
        }
        Some((n, why, kind)) => {
            let which = if n == 0 {
                "a teardown step".to_owned()
            } else {
                format!("step {n}")
            };
            let skipped = total - ran;
            let note = if stopped && skipped > 0 {
                format!("; {skipped} later steps not run")
            } else {
                String::new()
            };
            say!(out, "# FAILED: {which}: {why}{note}");
            if kind == Failure::Connect {
                exit::CANNOT_CONNECT
            } else {
                exit::STEP_FAILED
            }
        }
    };
    let _ = out.flush();
    crate::signals::forget(work.path());
    drop(work);
    Ok(code)
}

/// Echoes and runs one step; returns the flow and, when the result was
/// not as expected, why.
fn run_one(
    shell: &mut Shell,
    step: &Step,
    out: &mut dyn Write,
) -> (Flow, Option<(String, Failure)>) {
    say!(out, "ftpsh> {}", step.run);
    let mut buf = Vec::new();
    let (result, flow) = run_step(shell, &step.run, &mut buf);
    let _ = out.write_all(&buf);
    let text = String::from_utf8_lossy(&buf);
    match step.expect.check(&result, &text) {
        Ok(()) => (flow, None),
        Err(why) => {
            let cont = if step.continue_on_error {
                " (continuing)"
            } else {
                ""
            };
            say!(out, "!! {why}{cont}");
            let kind = match &result {
                Err(e) => e.failure,
                Ok(()) => Failure::Usage,
            };
            (flow, Some((why, kind)))
        }
    }
}

#[cfg(test)]
mod tests;
