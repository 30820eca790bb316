//! HDF5: external storage, external links and virtual datasets that make h5py read other files
//! (testdata/hdf5, written by testdata/generate/keras_hdf5_tf_torchscript.py). Keras 2 models stored in HDF5 are
//! in the keras module.

use proptest::prelude::*;

use super::{check_area, default_bound, scan_quickly, testdata};

#[test]
fn fixtures() {
    check_area("hdf5", default_bound);
}

fn seed() -> Vec<u8> {
    std::fs::read(testdata().join("keras/benign/keras2_model.h5")).expect("fixture")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, .. ProptestConfig::default() })]

    #[test]
    fn never_panics(pos in 0usize..4096, vals in proptest::collection::vec(any::<u8>(), 1..16), cut in 64usize..20000) {
        let mut b = seed();
        for (i, v) in vals.iter().enumerate() {
            if let Some(x) = b.get_mut(pos.saturating_add(i * 97)) { *x = *v; }
        }
        b.truncate(cut);
        scan_quickly("model.h5", b);
    }

    #[test]
    fn random_body_never_panics(body in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let mut b = b"\x89HDF\r\n\x1a\n".to_vec();
        b.extend(body);
        scan_quickly("x.h5", b);
    }
}
