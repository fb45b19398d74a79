//! The glue behind [`export_plugin!`](crate::export_plugin): builds the
//! static plugin table once and turns each C call into a safe
//! [`Plugin::run`] call, catching every panic at the boundary (an unwinding
//! panic through `extern "C"` aborts the whole daemon).

#![allow(unsafe_code)]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::OnceLock;

use crate::abi::{
    ABI_VERSION, FTPSH_ERR_FAILED, FTPSH_ERR_INVALID, FTPSH_ERR_PANIC, FTPSH_OK, FtpshBytes,
    FtpshHost, FtpshPlugin, FtpshRequest, FtpshVerb, RunFn,
};
use crate::plugin::{Host, Plugin, Request};

/// The per-library state behind the entry symbol: the plugin instance and
/// the C table describing it, built on the first call.
pub struct Export(OnceLock<Option<Table>>);

impl Export {
    /// Empty; filled by [`entry`].
    pub const fn new() -> Self {
        Self(OnceLock::new())
    }
}

impl Default for Export {
    fn default() -> Self {
        Self::new()
    }
}

/// The C table plus everything its pointers point into.
pub struct Table {
    raw: FtpshPlugin,
    // Owners of the memory `raw` points to. Their heap buffers never move:
    // nothing is pushed after the pointers are taken.
    _verbs: Vec<FtpshVerb>,
    _strings: Vec<Box<[u8]>>,
    plugin: Box<dyn Plugin>,
}

// SAFETY: the raw pointers in `raw` and `_verbs` point into `_verbs` and
// `_strings`, which are never mutated after construction, so sharing them
// between threads is sharing immutable data; `plugin` is `Send + Sync`.
unsafe impl Send for Table {}
// SAFETY: as above.
unsafe impl Sync for Table {}

impl Table {
    fn build(make: fn() -> Box<dyn Plugin>, run: RunFn) -> Self {
        let plugin = make();
        let mut strings: Vec<Box<[u8]>> = Vec::new();
        let mut keep = |s: &str| {
            let owned: Box<[u8]> = s.as_bytes().into();
            let b = FtpshBytes::new(&owned);
            strings.push(owned);
            b
        };
        let name = keep(plugin.name());
        let verbs: Vec<FtpshVerb> = plugin
            .verbs()
            .iter()
            .map(|v| FtpshVerb {
                verb: keep(&v.verb),
                syntax: keep(&v.syntax),
                help: keep(&v.help),
                feat: v.feat.as_deref().map_or(FtpshBytes::NULL, &mut keep),
                // A non-ASCII letter becomes '?', which the host refuses by
                // name instead of silently truncating it.
                permission: v
                    .permission
                    .map_or(0, |c| if c.is_ascii() { c as u8 } else { b'?' }),
                login: u8::from(v.login),
            })
            .collect();
        let raw = FtpshPlugin {
            abi_version: ABI_VERSION,
            struct_size: size_of::<FtpshPlugin>() as u32,
            name,
            verbs: verbs.as_ptr(),
            verb_count: verbs.len(),
            verb_size: size_of::<FtpshVerb>(),
            run: Some(run),
        };
        Self {
            raw,
            _verbs: verbs,
            _strings: strings,
            plugin,
        }
    }
}

/// Body of the generated entry symbol: the table, built once, or null when
/// building it panicked.
pub fn entry(
    export: &'static Export,
    make: fn() -> Box<dyn Plugin>,
    run: RunFn,
) -> *const FtpshPlugin {
    let table = export.0.get_or_init(|| {
        catch_unwind(|| Table::build(make, run))
            .map_err(std::mem::forget)
            .ok()
    });
    match table {
        Some(t) => &t.raw,
        None => std::ptr::null(),
    }
}

/// Body of the generated `run` function.
///
/// # Safety
/// `host` and `request` must be null or point to valid tables for the
/// duration of the call, as the ABI promises.
pub unsafe fn run(
    export: &'static Export,
    host: *const FtpshHost,
    request: *const FtpshRequest,
) -> i32 {
    // SAFETY: forwarded contract.
    let result = catch_unwind(AssertUnwindSafe(|| unsafe {
        run_inner(export, host, request)
    }));
    // The payload is forgotten rather than dropped: a payload whose drop
    // panics would unwind out of this `extern "C"` call and abort.
    result.unwrap_or_else(|payload| {
        std::mem::forget(payload);
        FTPSH_ERR_PANIC
    })
}

unsafe fn run_inner(
    export: &'static Export,
    host: *const FtpshHost,
    request: *const FtpshRequest,
) -> i32 {
    let Some(Some(table)) = export.0.get() else {
        return FTPSH_ERR_INVALID;
    };
    // SAFETY: null or valid for this call (caller contract).
    let Some(raw) = (unsafe { host.as_ref() }) else {
        return FTPSH_ERR_INVALID;
    };
    if raw.abi_version != ABI_VERSION || (raw.struct_size as usize) < size_of::<FtpshHost>() {
        return FTPSH_ERR_INVALID;
    }
    // SAFETY: as for `host`.
    let Some(req) = (unsafe { request.as_ref() }) else {
        return FTPSH_ERR_INVALID;
    };
    if (req.struct_size as usize) < size_of::<FtpshRequest>() {
        return FTPSH_ERR_INVALID;
    }
    // SAFETY: the request's strings are valid for this call.
    let text = |b: &FtpshBytes| unsafe { b.as_bytes() }.map(std::str::from_utf8);
    let (Some(Ok(verb)), Some(Ok(cwd))) = (text(&req.verb), text(&req.cwd)) else {
        return FTPSH_ERR_INVALID;
    };
    let (Ok(arg), Ok(user)) = (text(&req.arg).transpose(), text(&req.user).transpose()) else {
        return FTPSH_ERR_INVALID;
    };
    let request = Request {
        verb,
        arg,
        cwd,
        user,
    };
    // SAFETY: `raw` was checked above and is valid for this call.
    let host = unsafe { Host::new(raw) };
    match table.plugin.run(&request, &host) {
        Ok(reply) => match host.reply(reply.code, &reply.text) {
            Ok(()) => FTPSH_OK,
            Err(e) => e.code(),
        },
        Err(e) => {
            // The host quotes this text in its 451 reply.
            let _ = host.reply(451, &e.to_string());
            FTPSH_ERR_FAILED
        }
    }
}
