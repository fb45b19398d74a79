//! Reading and validating a plugin table returned by the entry symbol.
//! Everything is copied out into owned Rust values, so nothing borrowed
//! from the plugin survives past load except its `run` function pointer.

#![allow(unsafe_code)]

use std::path::Path;

use ftpsh_core::{Permission, VerbSpec};
use ftpsh_plugin_api::abi::{
    ABI_VERSION, FtpshBytes, FtpshPlugin, FtpshVerb, MAX_TEXT, MAX_VERBS, RunFn,
};

use crate::LoadError;

/// A validated plugin table.
#[derive(Debug, Clone)]
pub(crate) struct Info {
    pub name: String,
    pub verbs: Vec<VerbSpec>,
    pub run: RunFn,
}

/// Copies and checks `table`.
///
/// # Safety
/// `table` must be null or point to a plugin table whose pointers are valid
/// as the ABI describes (the host cannot check that a pointer is valid; it
/// checks everything else).
pub(crate) unsafe fn read_table(table: *const FtpshPlugin, file: &Path) -> Result<Info, LoadError> {
    let bad = |reason: &str| LoadError::BadTable {
        file: file.to_path_buf(),
        reason: reason.to_owned(),
    };
    // SAFETY: null or valid (caller contract). `abi_version` and
    // `struct_size` sit at the same offsets in every ABI version, so they
    // are read before anything whose layout depends on the version.
    let Some(t) = (unsafe { table.as_ref() }) else {
        return Err(bad(
            "the entry symbol returned null (the plugin failed to initialise)",
        ));
    };
    if t.abi_version != ABI_VERSION {
        return Err(LoadError::AbiMismatch {
            file: file.to_path_buf(),
            found: t.abi_version,
            expected: ABI_VERSION,
        });
    }
    if (t.struct_size as usize) < size_of::<FtpshPlugin>() {
        return Err(LoadError::TooSmall {
            file: file.to_path_buf(),
            what: "plugin table",
            size: t.struct_size as usize,
            min: size_of::<FtpshPlugin>(),
        });
    }
    // SAFETY: the name's pointer is valid per the ABI.
    let name = unsafe { text(&t.name) }
        .map_err(|r| bad(&format!("plugin name: {r}")))?
        .ok_or_else(|| bad("plugin name is null"))?;
    if name.is_empty() {
        return Err(bad("plugin name is empty"));
    }
    let run = t.run.ok_or_else(|| bad("run function is null"))?;
    if t.verb_count == 0 || t.verb_count > MAX_VERBS {
        return Err(bad(&format!(
            "{} verbs declared (1 to {MAX_VERBS} allowed)",
            t.verb_count
        )));
    }
    if t.verb_size < size_of::<FtpshVerb>() {
        return Err(LoadError::TooSmall {
            file: file.to_path_buf(),
            what: "verb record",
            size: t.verb_size,
            min: size_of::<FtpshVerb>(),
        });
    }
    let align = align_of::<FtpshVerb>();
    if t.verbs.is_null()
        || !(t.verbs as usize).is_multiple_of(align)
        || !t.verb_size.is_multiple_of(align)
    {
        return Err(bad("verb array is null or misaligned"));
    }
    let mut verbs: Vec<VerbSpec> = Vec::with_capacity(t.verb_count);
    for i in 0..t.verb_count {
        // SAFETY: the array holds `verb_count` records `verb_size` bytes
        // apart (ABI contract); the stride and alignment were checked, and
        // only the version 1 prefix of each record is read.
        let v = unsafe {
            &*t.verbs
                .cast::<u8>()
                .add(i * t.verb_size)
                .cast::<FtpshVerb>()
        };
        // SAFETY: the record's strings are valid per the ABI.
        let spec = unsafe { read_verb(v) }.map_err(|(verb, reason)| LoadError::BadVerb {
            file: file.to_path_buf(),
            verb,
            reason,
        })?;
        if verbs.iter().any(|s| s.verb == spec.verb) {
            return Err(LoadError::BadVerb {
                file: file.to_path_buf(),
                verb: spec.verb,
                reason: "declared twice".to_owned(),
            });
        }
        verbs.push(spec);
    }
    Ok(Info { name, verbs, run })
}

/// True when `syntax` is `SITE <verb>…` (case-insensitive).
fn is_site_syntax(syntax: Option<&str>, verb: &str) -> bool {
    let Some(syntax) = syntax else {
        return false;
    };
    let mut words = syntax.split_whitespace();
    words.next().is_some_and(|w| w.eq_ignore_ascii_case("SITE"))
        && words.next().is_some_and(|w| w.eq_ignore_ascii_case(verb))
}

/// One verb record as a [`VerbSpec`], or `(verb, reason)`.
unsafe fn read_verb(v: &FtpshVerb) -> Result<VerbSpec, (String, String)> {
    // SAFETY (all `text` calls): the pointers are valid per the ABI.
    let verb = unsafe { text(&v.verb) }
        .map_err(|r| ("?".to_owned(), format!("verb name: {r}")))?
        .unwrap_or_default();
    let fail = |reason: String| (verb.clone(), reason);
    if verb.is_empty()
        || verb.len() > ftpsh_core::request::MAX_VERB
        || !verb.bytes().all(|b| b.is_ascii_alphabetic())
    {
        return Err(fail("a verb is 1 to 16 ASCII letters".to_owned()));
    }
    let upper = verb.to_ascii_uppercase();
    let field = |b: &FtpshBytes, what: &str| {
        // SAFETY: see above.
        unsafe { text(b) }.map_err(|r| fail(format!("{what}: {r}")))
    };
    let syntax = field(&v.syntax, "syntax")?.filter(|s| !s.is_empty());
    let help = field(&v.help, "help")?.filter(|s| !s.is_empty());
    let feat = field(&v.feat, "FEAT line")?.filter(|s| !s.is_empty());
    let mut spec = VerbSpec::new(
        &upper,
        syntax.as_deref().unwrap_or(&upper),
        help.as_deref().unwrap_or("plugin command"),
    );
    match v.login {
        0 => spec = spec.no_login(),
        1 => {}
        n => return Err(fail(format!("login flag is {n} (0 or 1 expected)"))),
    }
    if v.permission != 0 {
        let letter = char::from(v.permission);
        let p = Permission::ALL
            .into_iter()
            .find(|p| p.letter() == letter)
            .ok_or_else(|| {
                fail(format!(
                    "unknown permission letter {letter:?} (expected one of \"elradfmwMT\")"
                ))
            })?;
        spec = spec.permission(p);
    }
    if let Some(f) = feat {
        spec = spec.feat(&f);
    }
    // A syntax that starts with `SITE <verb>` declares a SITE sub-command
    // (see `ftpsh_plugin_api::abi::FtpshVerb::syntax`).
    if is_site_syntax(syntax.as_deref(), &upper) {
        spec = spec.site();
    }
    Ok(spec)
}

/// A UTF-8 string without control characters, at most [`MAX_TEXT`] bytes;
/// `None` when null.
unsafe fn text(b: &FtpshBytes) -> Result<Option<String>, String> {
    if b.is_null() {
        return Ok(None);
    }
    if b.len > MAX_TEXT {
        return Err(format!("{} bytes long (at most {MAX_TEXT})", b.len));
    }
    // SAFETY: non-null and short; validity is the caller's contract.
    let bytes = unsafe { b.as_bytes() }.unwrap_or_default();
    let s = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_owned())?;
    if s.chars().any(char::is_control) {
        return Err("contains control characters".to_owned());
    }
    Ok(Some(s.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ftpsh_plugin_api::abi::{FtpshHost, FtpshRequest};

    unsafe extern "C" fn run(_: *const FtpshHost, _: *const FtpshRequest) -> i32 {
        0
    }

    fn verb(name: &'static [u8], permission: u8) -> FtpshVerb {
        FtpshVerb {
            verb: FtpshBytes::new(name),
            syntax: FtpshBytes::new(b"X <SP> pathname"),
            help: FtpshBytes::new(b"does x"),
            feat: FtpshBytes::NULL,
            permission,
            login: 1,
        }
    }

    fn table(verbs: &[FtpshVerb]) -> FtpshPlugin {
        FtpshPlugin {
            abi_version: ABI_VERSION,
            struct_size: size_of::<FtpshPlugin>() as u32,
            name: FtpshBytes::new(b"t"),
            verbs: verbs.as_ptr(),
            verb_count: verbs.len(),
            verb_size: size_of::<FtpshVerb>(),
            run: Some(run),
        }
    }

    fn read(t: &FtpshPlugin) -> Result<Info, LoadError> {
        // SAFETY: every table here points into live test data.
        unsafe { read_table(t, Path::new("/p/libt.so")) }
    }

    #[test]
    fn good_table_becomes_verbspecs() {
        let verbs = [verb(b"hash", b'r'), verb(b"XCRC", 0)];
        let info = read(&table(&verbs)).unwrap();
        assert_eq!(info.name, "t");
        assert_eq!(info.verbs[0].verb, "HASH");
        assert_eq!(info.verbs[0].permission, Some(Permission::Retrieve));
        assert!(info.verbs[0].login);
        assert_eq!(info.verbs[1].permission, None);
    }

    #[test]
    fn wrong_abi_version_names_both_versions() {
        let verbs = [verb(b"HASH", 0)];
        let mut t = table(&verbs);
        t.abi_version = 7;
        let msg = read(&t).unwrap_err().to_string();
        assert!(msg.contains("/p/libt.so"), "{msg}");
        assert!(msg.contains("ABI version 7"), "{msg}");
        assert!(msg.contains("ABI version 1"), "{msg}");
    }

    #[test]
    fn short_tables_are_refused() {
        let verbs = [verb(b"HASH", 0)];
        let mut t = table(&verbs);
        t.struct_size = 8;
        assert!(matches!(
            read(&t),
            Err(LoadError::TooSmall {
                what: "plugin table",
                ..
            })
        ));
        let mut t = table(&verbs);
        t.verb_size = 16;
        assert!(matches!(
            read(&t),
            Err(LoadError::TooSmall {
                what: "verb record",
                ..
            })
        ));
    }

    #[test]
    fn longer_verb_records_are_read_by_stride() {
        /// A record from a hypothetical later minor version: one appended
        /// field.
        #[repr(C)]
        struct Longer {
            v1: FtpshVerb,
            extra: u64,
        }
        let verbs = [
            Longer {
                v1: verb(b"AAAA", 0),
                extra: u64::MAX,
            },
            Longer {
                v1: verb(b"BBBB", b'l'),
                extra: u64::MAX,
            },
        ];
        let t = FtpshPlugin {
            verbs: verbs.as_ptr().cast(),
            verb_size: size_of::<Longer>(),
            ..table(&[verb(b"X", 0)])
        };
        let t = FtpshPlugin { verb_count: 2, ..t };
        let info = read(&t).unwrap();
        let names: Vec<&str> = info.verbs.iter().map(|v| v.verb.as_str()).collect();
        assert_eq!(names, ["AAAA", "BBBB"]);
        assert_eq!(info.verbs[1].permission, Some(Permission::List));
        assert_eq!(verbs[0].extra, u64::MAX);
    }

    #[test]
    fn bad_verbs_are_refused_by_name() {
        for (name, perm, want) in [
            (&b"HA SH"[..], 0, "ASCII letters"),
            (b"", 0, "ASCII letters"),
            (b"ABCDEFGHIJKLMNOPQ", 0, "ASCII letters"),
            (b"HASH", b'x', "permission letter"),
            (b"\xff", 0, "not UTF-8"),
        ] {
            let verbs = [verb(name, perm)];
            let err = read(&table(&verbs)).unwrap_err();
            assert!(matches!(err, LoadError::BadVerb { .. }), "{err}");
            assert!(err.to_string().contains(want), "{err}");
            assert!(err.to_string().contains("/p/libt.so"), "{err}");
        }
        let verbs = [verb(b"HASH", 0), verb(b"hash", 0)];
        assert!(
            read(&table(&verbs))
                .unwrap_err()
                .to_string()
                .contains("declared twice")
        );
        let mut v = verb(b"HASH", 0);
        v.help = FtpshBytes::new(b"two\r\nlines");
        assert!(
            read(&table(&[v]))
                .unwrap_err()
                .to_string()
                .contains("control")
        );
    }

    #[test]
    fn null_and_empty_parts_are_refused() {
        // SAFETY: null is allowed by the contract.
        let err = unsafe { read_table(std::ptr::null(), Path::new("x.so")) }.unwrap_err();
        assert!(err.to_string().contains("failed to initialise"), "{err}");
        let verbs = [verb(b"HASH", 0)];
        let t = FtpshPlugin {
            run: None,
            ..table(&verbs)
        };
        assert!(read(&t).unwrap_err().to_string().contains("run"));
        let t = FtpshPlugin {
            verb_count: 0,
            ..table(&verbs)
        };
        assert!(read(&t).unwrap_err().to_string().contains("0 verbs"));
        let t = FtpshPlugin {
            name: FtpshBytes::NULL,
            ..table(&verbs)
        };
        assert!(read(&t).unwrap_err().to_string().contains("name"));
    }
}
