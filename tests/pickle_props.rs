//! Property tests: arbitrary and mutated bytes never panic or hang the pickle reader, the walker
//! or the npy header parser.

use modelgate::formats::npy::parse_npy;
use modelgate::pickle::{analyse_stream, Policy, Reader, WalkLimits};
use modelgate::SignatureDb;
use proptest::prelude::*;

fn policy() -> &'static Policy {
    static P: std::sync::OnceLock<Policy> = std::sync::OnceLock::new();
    P.get_or_init(|| Policy::compile(&SignatureDb::embedded().unwrap()).unwrap())
}

/// A few real pickles to mutate.
fn seeds() -> Vec<Vec<u8>> {
    let mut v = vec![
        b"cos\nsystem\n(S'true'\ntR.".to_vec(),
        b"\x80\x04\x95\x1c\x00\x00\x00\x00\x00\x00\x00\x8c\x05posix\x94\x8c\x06system\x94\x93\x94\x8c\x04true\x85R.".to_vec(),
        b"(dp0\nS'a'\np1\nI1\nsS'b'\np2\n(lp3\nF1.5\naL12L\nas.".to_vec(),
    ];
    for f in [
        "benign/sklearn_pipeline.joblib",
        "benign/state_dict_legacy.pt",
        "malicious/joblib_object_nested.joblib",
    ] {
        if let Ok(b) = std::fs::read(format!("testdata/pickle/{f}")) {
            v.push(b);
        }
    }
    v
}

fn small_limits() -> WalkLimits {
    WalkLimits {
        max_ops: 200_000,
        ..WalkLimits::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let mut r = Reader::new(&bytes[..]);
        let mut n = 0;
        while let Ok(Some(_)) = r.next_op() {
            n += 1;
            prop_assert!(n <= bytes.len());
        }
    }

    #[test]
    fn walker_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let p = policy();
        let a = analyse_stream(&bytes[..], p, small_limits());
        prop_assert!(a.bytes <= bytes.len() as u64);
    }

    #[test]
    fn walker_survives_mutations(seed in 0usize..6, edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let seeds = seeds();
        let mut b = seeds[seed % seeds.len()].clone();
        for (at, v) in edits {
            if !b.is_empty() {
                let i = at % b.len();
                b[i] = v;
            }
        }
        let p = policy();
        let _ = analyse_stream(&b[..], p, small_limits());
    }

    #[test]
    fn npy_parser_never_panics(header in "\\PC{0,200}", major in 0u8..5) {
        let mut b = b"\x93NUMPY".to_vec();
        b.push(major);
        b.push(0);
        b.extend((header.len() as u16).to_le_bytes());
        b.extend(header.as_bytes());
        let _ = parse_npy(&b);
    }

    #[test]
    fn npy_parser_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend(bytes);
        let _ = parse_npy(&b);
    }
}

#[test]
fn memo_expansion_is_bounded() {
    // A billion-laughs style stream: a list appended to itself through the memo, many times.
    let mut p = b"\x80\x02]q\x00".to_vec();
    for _ in 0..200_000 {
        p.extend_from_slice(b"h\x00a");
    }
    p.push(b'.');
    let a = analyse_stream(&p[..], policy(), WalkLimits::default());
    assert!(a.complete);
    assert_eq!(a.pickles.len(), 1);
}

#[test]
fn budgets_yield_inconclusive() {
    let mut p = b"\x80\x02".to_vec();
    p.extend(std::iter::repeat_n(b'N', 1000));
    p.push(b'.');
    let limits = WalkLimits {
        max_ops: 100,
        ..WalkLimits::default()
    };
    let a = analyse_stream(&p[..], policy(), limits);
    assert!(!a.complete);
    assert!(a
        .issues
        .iter()
        .any(|i| matches!(i.kind, modelgate::pickle::walk::IssueKind::Budget { .. })));
}

#[test]
fn deep_nesting_does_not_overflow_the_stack() {
    // A million nested 1-tuples, then a self-referential list: dropping either recursively would
    // overflow the stack or leak.
    let mut p = b"\x80\x02N".to_vec();
    p.extend(std::iter::repeat_n(0x85u8, 1_000_000));
    p.extend_from_slice(b"0]q\x00h\x00a.");
    let a = analyse_stream(&p[..], policy(), WalkLimits::default());
    assert!(a.complete, "{:?}", a.issues);
}
