//! The one graph check the gradient-boosting readers share: whether the child links of a
//! decision tree, as a native predictor follows them from the root, come back to a node they
//! already passed through. XGBoost, LightGBM and friends trust the stored child indices at
//! prediction time; a cycle makes every prediction loop forever (a model that hangs the serving
//! process), so a reader reports it rather than assuming the file was written by the library.

/// The first node found on a cycle when following `children` from `root` over `n` nodes, or
/// `None` when the links form a tree (or a DAG: shared subtrees end, so they are harmless).
/// `children(i)` returns the in-range children of node `i` (out-of-range links are the caller's
/// finding). Iterative, so a deep hostile tree cannot overflow the stack; O(n) time and memory.
pub fn find_cycle(
    n: usize,
    root: usize,
    children: impl Fn(usize) -> [Option<usize>; 2],
) -> Option<usize> {
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    if root >= n {
        return None;
    }
    let mut mark = vec![Mark::New; n];
    // (node, next child slot to visit)
    let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
    if let Some(m) = mark.get_mut(root) {
        *m = Mark::Open;
    }
    while let Some(top) = stack.last_mut() {
        let (node, slot) = *top;
        if slot >= 2 {
            if let Some(m) = mark.get_mut(node) {
                *m = Mark::Done;
            }
            stack.pop();
            continue;
        }
        top.1 = slot.saturating_add(1);
        let Some(child) = children(node).get(slot).copied().flatten() else {
            continue;
        };
        match mark.get(child).copied() {
            Some(Mark::Open) => return Some(child),
            Some(Mark::New) => {
                if let Some(m) = mark.get_mut(child) {
                    *m = Mark::Open;
                }
                stack.push((child, 0));
            }
            Some(Mark::Done) | None => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::find_cycle;

    #[test]
    fn trees_and_cycles() {
        // 0 -> (1, 2), leaves 1 and 2.
        let tree = |i: usize| match i {
            0 => [Some(1), Some(2)],
            _ => [None, None],
        };
        assert_eq!(find_cycle(3, 0, tree), None);
        // 0 -> (1, 2), 2 -> (0, 1): back to the root.
        let cyc = |i: usize| match i {
            0 => [Some(1), Some(2)],
            2 => [Some(0), Some(1)],
            _ => [None, None],
        };
        assert_eq!(find_cycle(3, 0, cyc), Some(0));
        // A shared leaf is not a cycle.
        let dag = |i: usize| match i {
            0 => [Some(1), Some(1)],
            _ => [None, None],
        };
        assert_eq!(find_cycle(2, 0, dag), None);
        // A self loop.
        assert_eq!(find_cycle(1, 0, |_| [Some(0), None]), Some(0));
    }

    #[test]
    fn a_long_chain_does_not_overflow_the_stack() {
        let n = 1_000_000;
        let chain = |i: usize| [if i + 1 < n { Some(i + 1) } else { None }, None];
        assert_eq!(find_cycle(n, 0, chain), None);
    }
}
