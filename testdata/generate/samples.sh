#!/usr/bin/env bash
# Builds testdata/samples/, the small set the README's first command scans: one sample of each
# main attack class next to benign files, copied from the fixtures the other generators write.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf samples
mkdir -p samples/benign samples/malicious
cp pickle/benign/sklearn_pipeline.joblib samples/benign/
cp safetensors/benign/numpy-mixed-dtypes.safetensors samples/benign/
cp archives/benign/model.tar.gz samples/benign/
printf "cos\nsystem\n(S'true'\ntR." > samples/malicious/evil.pkl
cp archives/malicious/nested.zip samples/malicious/nested-torch.zip
cp archives/malicious/local-name-mismatch.pt samples/malicious/
cp pickle/malicious/joblib_tail_aligned.joblib samples/malicious/
cp pickle/malicious/object_payload.npy samples/malicious/
cp keras/malicious/keras_v3_module_injection.keras samples/malicious/
cp gguf/malicious/ssti-02-llama-drama.gguf samples/malicious/
cp onnx/malicious/external-traversal.onnx samples/malicious/
echo "samples: $(find samples -type f | wc -l) files"
