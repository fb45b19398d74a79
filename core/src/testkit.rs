//! Test helpers for command crates (feature `testkit`): a logged-in
//! [`Session`] over a real temp-dir jail with a standard fixture, and
//! [`check_examples`], which runs every documented [`Example`] of a command
//! so help text cannot drift from behaviour.
//!
//! The fixture (root of the jail):
//!
//! | path | content |
//! |---|---|
//! | `hello.txt` | `hello, world\n` (13 bytes) |
//! | `data.bin` | 3000 bytes, `i % 251` |
//! | `docs/` | directory |
//! | `docs/readme.md` | `# docs\n` |
//! | `empty/` | empty directory |
//!
//! Users: `alice`/`secret` with all permissions (logged in), `reader`/`pw`
//! with `elr`, and anonymous.
//!
//! [`Example`]: crate::Example

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::auth::{User, Users};
use crate::command::{Command, Outcome};
use crate::registry::Registry;
use crate::request::Request;
use crate::session::{Login, ServerConfig, Session};
use crate::storage::local::LocalStorage;

/// A session over a fresh fixture directory.
pub struct TestSession {
    /// The jail root; removed on drop.
    pub dir: tempfile::TempDir,
    /// The session, logged in as `alice` unless [`TestSession::logged_out`].
    pub session: Session,
}

/// Writes the standard fixture into `root`.
///
/// # Panics
/// If the files cannot be written (tests only).
pub fn write_fixture(root: &Path) {
    std::fs::write(root.join("hello.txt"), b"hello, world\n").expect("fixture");
    let data: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(root.join("data.bin"), data).expect("fixture");
    std::fs::create_dir(root.join("docs")).expect("fixture");
    std::fs::write(root.join("docs/readme.md"), b"# docs\n").expect("fixture");
    std::fs::create_dir(root.join("empty")).expect("fixture");
}

impl TestSession {
    /// A logged-out session with `registry` over a new fixture.
    ///
    /// # Panics
    /// If the temp dir cannot be created (tests only).
    pub fn logged_out(registry: Registry) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        write_fixture(dir.path());
        let root: PathBuf = dir.path().to_path_buf();
        let mut users = Users::new();
        users.add(User::from_spec("alice:secret", root.clone()).expect("spec"));
        users.add(User::from_spec("reader:pw:elr", root.clone()).expect("spec"));
        users.add_anonymous(root);
        let config = ServerConfig {
            users,
            login_failure_delay: Duration::from_millis(10),
            ..ServerConfig::default()
        };
        let addr: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        let session = Session::new(Arc::new(config), Arc::new(registry), addr, addr);
        Self { dir, session }
    }

    /// A session logged in as `alice` (all permissions).
    pub fn new(registry: Registry) -> Self {
        let mut t = Self::logged_out(registry);
        t.login_as("alice", "secret");
        t
    }

    /// Logs in directly, bypassing USER/PASS commands.
    ///
    /// # Panics
    /// On a wrong password (tests only).
    pub fn login_as(&mut self, name: &str, password: &str) {
        let user = self
            .session
            .config
            .users
            .authenticate(name, password)
            .expect("test user");
        let storage = std::sync::Arc::new(LocalStorage::open(&user.root).expect("root"));
        self.session.reset_login();
        self.session.login = Login::LoggedIn { user, storage };
    }

    /// A registry holding just `command`.
    ///
    /// # Panics
    /// If its verbs are invalid.
    pub fn registry_with(command: Arc<dyn Command>) -> Registry {
        let mut r = Registry::new();
        r.register(command).expect("register");
        r
    }

    /// Parses and runs one request line the way the daemon would (lookup,
    /// login and permission checks, then [`Command::run`]).
    pub fn run(&mut self, line: &str) -> Outcome {
        let request = match Request::parse(line.as_bytes()) {
            Ok(r) => r,
            Err(e) => {
                return Outcome::Reply(crate::reply::Reply::new(
                    crate::reply::ReplyCode::SYNTAX_ERROR,
                    e.to_string(),
                ));
            }
        };
        let registry = self.session.registry.clone();
        match registry.authorize(&request, &self.session) {
            Ok((entry, request)) => entry.command.run(&request, &mut self.session),
            Err(reply) => Outcome::Reply(reply),
        }
    }

    /// Creates a FIFO named `name` in the jail root (with mkfifo(1), so the
    /// crate needs no libc binding): the special file that would block a
    /// worker if a command opened it.
    ///
    /// # Panics
    /// If mkfifo cannot be run or fails (tests only).
    pub fn mkfifo(&self, name: &str) -> PathBuf {
        let path = self.path(name);
        let status = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .expect("run mkfifo");
        assert!(status.success(), "mkfifo {}: {status}", path.display());
        path
    }

    /// A host path inside the jail root.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
}

/// Runs every example of `command` on its own fresh, logged-in fixture and
/// checks the first reply code. An example's request may hold several lines
/// separated by `\n`; the code applies to the last one.
///
/// # Panics
/// When an example yields another code, naming the example.
pub fn check_examples(command: Arc<dyn Command>) {
    let specs = command.verbs();
    let mut count = 0;
    for spec in &specs {
        for ex in &spec.examples {
            let mut t = TestSession::new(TestSession::registry_with(command.clone()));
            let mut last = None;
            for line in ex.request.split('\n') {
                last = t.run(line).code();
            }
            assert_eq!(
                last,
                Some(ex.code),
                "example {:?} of {} ({}) gave another reply code",
                ex.request,
                spec.verb,
                ex.about
            );
            count += 1;
        }
    }
    assert!(
        count > 0 || specs.is_empty(),
        "{} documents no examples",
        command.name()
    );
}

/// Runs `template` with each hostile path in place of `{}` and checks that
/// the command refuses it without touching anything outside the root.
///
/// Each case gets a fresh fixture plus `escape`, a symlink to a directory
/// outside the root that holds `secret`. The paths are `../../etc/passwd`
/// and `../../../../../../etc/shadow` (lexically clamped to the root, where
/// they do not exist), `escape/secret` and `/escape/../escape/secret`
/// (through the symlink), and `a\0b` (a NUL byte). `template` may hold
/// several lines separated by `\n` (e.g. `"RNFR hello.txt\nRNTO {}"`); the
/// check applies to the last, which is run without the line parser so the
/// NUL byte reaches the command.
///
/// Checked: the last reply code is 4xx or 5xx (`501` for the NUL byte), and
/// the outside directory still holds exactly `secret` with its content.
///
/// # Panics
/// When a case is accepted or the outside directory changed.
pub fn check_hostile_paths(command: Arc<dyn Command>, template: &str) {
    let hostile = [
        "../../etc/passwd",
        "../../../../../../etc/shadow",
        "escape/secret",
        "/escape/../escape/secret",
        "a\0b",
    ];
    for path in hostile {
        let mut t = TestSession::new(TestSession::registry_with(command.clone()));
        let outside = tempfile::tempdir().expect("tempdir");
        std::fs::write(outside.path().join("secret"), b"outside").expect("fixture");
        std::os::unix::fs::symlink(outside.path(), t.path("escape")).expect("symlink");
        let text = template.replace("{}", path);
        let mut lines: Vec<&str> = text.split('\n').collect();
        let last = lines.pop().unwrap_or_default();
        for line in lines {
            t.run(line);
        }
        let (verb, arg) = last.split_once(' ').unwrap_or((last, ""));
        let request = Request::new(verb, Some(arg));
        let registry = t.session.registry.clone();
        let outcome = match registry.authorize(&request, &t.session) {
            Ok((entry, request)) => entry.command.run(&request, &mut t.session),
            Err(reply) => Outcome::Reply(reply),
        };
        let code = outcome.code().unwrap_or(0);
        assert!(
            code >= 400,
            "{last:?} was accepted ({outcome:?}) for hostile path {path:?}"
        );
        if path.contains('\0') {
            assert_eq!(code, 501, "{last:?} with a NUL byte: {outcome:?}");
        }
        let names: Vec<_> = std::fs::read_dir(outside.path())
            .expect("read outside")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["secret"], "{last:?} changed the outside directory");
        assert_eq!(
            std::fs::read(outside.path().join("secret")).expect("read secret"),
            b"outside",
            "{last:?} changed a file outside the root"
        );
    }
}
