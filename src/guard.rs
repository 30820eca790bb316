//! Containment for third-party decoders that can panic on hostile input.
//!
//! The 7z/LZMA and HDF5 readers are well-kept crates, but fuzzing has made them index out of
//! bounds on crafted files. modelgate's rule is that bad input becomes a finding, never a crash,
//! so such calls run inside [`guarded`]: a panic is caught and returned as a message for the
//! caller to report. [`install_quiet_hook`] keeps a caught panic from also printing a backtrace
//! (the binary installs it; library users may too); panics anywhere else still print as before.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};

thread_local! {
    /// How many [`guarded`] calls are active on this thread.
    static GUARDED: Cell<u32> = const { Cell::new(0) };
}

/// Runs `f`, returning the panic message if it panics.
pub fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    GUARDED.with(|g| g.set(g.get().saturating_add(1)));
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(g.get().saturating_sub(1)));
    result.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned())
    })
}

/// Installs a panic hook that stays silent for panics inside [`guarded`] (they are reported as
/// findings) and defers to the previous hook for every other panic.
pub fn install_quiet_hook() {
    let previous = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        if GUARDED.with(Cell::get) == 0 {
            previous(info);
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_become_messages_and_nesting_is_counted() {
        install_quiet_hook();
        let r: Result<(), String> = guarded(|| {
            let v: Vec<u8> = Vec::new();
            let i = v.len();
            let _ = v[i]; // index out of bounds
        });
        assert!(r.unwrap_err().contains("index out of bounds"));
        assert_eq!(guarded(|| guarded(|| 7)), Ok(Ok(7)));
        assert_eq!(GUARDED.with(Cell::get), 0);
    }
}
