//! Test plugin: what a plugin built against a future, incompatible ABI
//! version 2 looks like to this host — it exports `ftpsh_plugin_v2` and no
//! `ftpsh_plugin_v1`. The host must refuse it, naming the file and both
//! versions. It never calls the function (the layout behind it is
//! unknown), so the body does not matter.

#![allow(unsafe_code)] // `no_mangle` is the only way to export a C symbol.

/// Entry symbol of ABI version 2.
#[unsafe(no_mangle)]
pub extern "C" fn ftpsh_plugin_v2() -> *const std::ffi::c_void {
    std::ptr::null()
}
