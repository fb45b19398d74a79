//! ftpsh command crate `size` (being written).

use std::sync::Arc;

use ftpsh_core::Command;

/// The commands of this crate, for the built-in list.
pub fn commands() -> Vec<Arc<dyn Command>> {
    Vec::new()
}
