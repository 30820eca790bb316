//! The one argument-aware exception of the pickle policy: `builtins.eval('data', {'data': x})`.
//!
//! `paddle.save` in static-graph mode pickles each `LoDTensor` as `eval('data', {'data':
//! ndarray})` (python/paddle/framework/io.py, `reduce_LoDTensor` in `_pickle_save`): eval
//! compiles the expression `data`, a single name, and looks it up in the dict the pickle built
//! itself, so it returns the array and runs no code of its own (the array's construction is
//! judged like any other call). Every other use of `builtins.eval` stays what the signature
//! database says (critical): a different expression, globals that are not a literal dict
//! holding exactly `data`, a third argument, a call by any opcode but REDUCE, or the callable
//! used in any other way (see [`crate::pickle::walk::GlobalUse::only_name_lookups`]).
#![warn(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

use super::value::{Arena, V};

/// The callable the exception is about, as `find_class` resolves it.
pub const MODULE: &str = "builtins";
pub const NAME: &str = "eval";
/// The only expression allowed: one identifier, looked up in the globals dict.
const EXPRESSION: &str = "data";

/// Whether REDUCE's argument tuple `args` is exactly `('data', {'data': <anything>})`: the
/// expression a complete `str` equal to `data`, the globals a dict built by the pickle (not a
/// call result or a subclass) whose only kept item has the key `data` and that dropped none.
pub fn is_name_lookup(arena: &Arena, args: &V) -> bool {
    let Some([expr, globals]) = arena.as_tuple(args) else {
        return false;
    };
    if !matches!(expr, V::Str(_)) || arena.as_str(expr) != Some(EXPRESSION) {
        return false;
    }
    let V::Dict(d) = globals else {
        return false;
    };
    if arena.is_lossy(*d) {
        return false;
    }
    let mut pairs = arena.pairs(*d);
    let first = pairs.next();
    pairs.next().is_none()
        && first.is_some_and(|(k, _)| matches!(k, V::Str(_)) && arena.as_str(k) == Some(EXPRESSION))
}
