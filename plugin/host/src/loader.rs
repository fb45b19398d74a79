//! Finding and opening plugin libraries.

#![allow(unsafe_code)]

use std::ffi::c_void;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use ftpsh_core::Command;
use ftpsh_plugin_api::StaticPlugin;
use ftpsh_plugin_api::abi::{ABI_VERSION, ENTRY_SYMBOL, EntryFn, entry_symbol};
use libloading::Library;

use crate::table::read_table;
use crate::{LoadError, PluginCommand, as_command};

/// Other ABI major versions probed when the entry symbol is missing, only
/// to tell "built for another version" from "not a plugin".
const PROBED_VERSIONS: std::ops::RangeInclusive<u32> = 0..=16;

/// Loads every shared library (`*.so`, symlinks followed) directly in
/// `dir`, in file-name order, and wraps each as a [`Command`]. Other files
/// and subdirectories are ignored; an empty directory gives an empty list.
/// Libraries are never unloaded.
///
/// # Errors
/// The first [`LoadError`]: the directory cannot be read or is writable by
/// other users, or a library is refused (see [`load_file`]).
pub fn load_dir(dir: &Path) -> Result<Vec<Arc<dyn Command>>, LoadError> {
    Ok(load_plugins(dir)?.into_iter().map(as_command).collect())
}

pub(crate) fn load_plugins(dir: &Path) -> Result<Vec<PluginCommand>, LoadError> {
    let read_err = |source| LoadError::ReadDir {
        dir: dir.to_path_buf(),
        source,
    };
    check_not_world_writable(
        dir,
        std::fs::metadata(dir)
            .map_err(read_err)?
            .permissions()
            .mode(),
    )?;
    let mut files: Vec<PathBuf> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_err)? {
        let path = entry.map_err(read_err)?.path();
        if path.extension().is_some_and(|e| e == "so") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    files.iter().map(|f| load_file(f)).collect()
}

fn check_not_world_writable(path: &Path, mode: u32) -> Result<(), LoadError> {
    if mode & 0o002 != 0 {
        return Err(LoadError::WorldWritable {
            path: path.to_path_buf(),
            mode: mode & 0o7777,
        });
    }
    Ok(())
}

/// Loads one plugin library and validates its table.
///
/// # Errors
/// [`LoadError::WorldWritable`], [`LoadError::Open`] (not a loadable
/// library), [`LoadError::MissingSymbol`], [`LoadError::AbiMismatch`] (the
/// library exports another version's entry symbol, or its table declares
/// another version), [`LoadError::TooSmall`], [`LoadError::BadTable`],
/// [`LoadError::BadVerb`].
pub fn load_file(file: &Path) -> Result<PluginCommand, LoadError> {
    let meta = std::fs::metadata(file).map_err(|e| LoadError::Open {
        file: file.to_path_buf(),
        message: e.to_string(),
    })?;
    check_not_world_writable(file, meta.permissions().mode())?;
    // SAFETY: loading a library runs its initialisers, which is arbitrary
    // code: the operator vouches for the plugin directory (see the crate
    // docs). libloading opens with RTLD_LOCAL, so plugins' symbols (all
    // named ftpsh_plugin_v1) do not clash.
    let lib = unsafe { Library::new(file) }.map_err(|e| LoadError::Open {
        file: file.to_path_buf(),
        message: e.to_string(),
    })?;
    // Never unloaded, refused or not: function pointers into it outlive
    // this call, and code that may have started threads cannot be unmapped
    // safely.
    let lib: &'static Library = Box::leak(Box::new(lib));
    // SAFETY: the symbol's type is fixed by the ABI; a library exporting
    // the name with another type breaks the ABI contract.
    let entry: EntryFn = match unsafe { lib.get::<EntryFn>(ENTRY_SYMBOL) } {
        Ok(sym) => *sym,
        Err(_) => {
            let other = PROBED_VERSIONS.filter(|v| *v != ABI_VERSION).find(|v| {
                // SAFETY: only the symbol's presence is checked; the
                // pointer is never used.
                unsafe { lib.get::<*const c_void>(entry_symbol(*v)) }.is_ok()
            });
            return Err(match other {
                Some(found) => LoadError::AbiMismatch {
                    file: file.to_path_buf(),
                    found,
                    expected: ABI_VERSION,
                },
                None => LoadError::MissingSymbol {
                    file: file.to_path_buf(),
                    symbol: ENTRY_SYMBOL,
                },
            });
        }
    };
    // SAFETY: the entry symbol has the ABI's type and never unwinds (the
    // export glue catches panics); the table it returns is validated
    // before use and lives as long as the (leaked) library.
    let info = unsafe { read_table(entry(), file) }?;
    Ok(PluginCommand {
        file: file.to_path_buf(),
        name: info.name,
        verbs: info.verbs,
        run: info.run,
    })
}

/// Wraps a plugin linked into this program (see [`StaticPlugin`]), with
/// the same validation as [`load_file`]; messages name it as
/// `<linked-in PACKAGE>`.
///
/// # Errors
/// [`LoadError::AbiMismatch`], [`LoadError::TooSmall`],
/// [`LoadError::BadTable`], [`LoadError::BadVerb`].
pub fn load_static(plugin: &StaticPlugin) -> Result<PluginCommand, LoadError> {
    let origin = PathBuf::from(format!("<linked-in {}>", plugin.package()));
    // SAFETY: a `StaticPlugin` can only be made through its unsafe
    // constructor, whose contract is the entry symbol's; the table is
    // validated before use and static.
    let info = unsafe { read_table((plugin.entry())(), &origin) }?;
    Ok(PluginCommand {
        file: origin,
        name: info.name,
        verbs: info.verbs,
        run: info.run,
    })
}
