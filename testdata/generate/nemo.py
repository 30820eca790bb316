#!/usr/bin/env python3
"""Writes the NVIDIA NeMo archive (.nemo) fixtures under testdata/nemo/.

NeMo itself (with torch, Lightning, Hydra, ...) is too large for the test venv, so the archives are
built from the layout NeMo's SaveRestoreConnector writes and reads
(nemo/core/connectors/save_restore_connector.py): an uncompressed tar (`tarfile.open(path, "w:")`,
`arcname="."`, so members are `./model_config.yaml`, `./model_weights.ckpt`, artifacts named
`<uuid hex>_<name>`), or a gzip-compressed tar for archives from NeMo < 1.7. The config follows
NeMo's ASR model configs (`target` class, Hydra `_target_` sub-modules). The weights are
testdata/benign/torch/state_dict.pt (a real `torch.save` file). Nothing here runs a model, and
every payload is inert (`os.system('true')`). Deterministic: fixed mtimes, owners and gzip
timestamps.

Usage: python -P testdata/generate/nemo.py   (from the repository root; standard library only)
"""

import gzip
import io
import shutil
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "nemo"
WEIGHTS = (ROOT / "benign" / "torch" / "state_dict.pt").read_bytes()
# A protocol-0 pickle that would run `os.system('true')` when unpickled (inert payload).
PICKLE = b"cos\nsystem\n(S'true'\ntR."
TOKENIZER = "0123456789abcdef0123456789abcdef_tokenizer.model"

CONFIG = """\
sample_rate: 16000
target: nemo.collections.asr.models.ctc_bpe_models.EncDecCTCModelBPE
nemo_version: 1.23.0
tokenizer:
  dir: null
  type: bpe
  model_path: nemo:{tok}
preprocessor:
  _target_: nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor
  sample_rate: ${{sample_rate}}
  features: 80
encoder:
  _target_: nemo.collections.asr.modules.ConformerEncoder
  feat_in: 80
  n_layers: 2
  d_model: 64
decoder:
  _target_: nemo.collections.asr.modules.ConvASRDecoder
  feat_in: 64
  num_classes: 128
optim:
  name: adamw
  lr: 0.001
  sched:
    name: CosineAnnealing
""".format(tok=TOKENIZER)


def tar_bytes(members, gz=False):
    """members: list of (name, bytes); written the way NeMo writes them (`./` prefix)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        d = tarfile.TarInfo(".")
        d.type, d.mode, d.mtime = tarfile.DIRTYPE, 0o755, 1767225600
        t.addfile(d)
        for name, data in members:
            info = tarfile.TarInfo(name if name.startswith(("/", "..")) else "./" + name)
            info.size, info.mode, info.mtime = len(data), 0o644, 1767225600
            t.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    if gz:
        return gzip.compress(raw, mtime=0)
    return raw


def archive(config, weights=WEIGHTS, extra=()):
    members = [("model_config.yaml", config.encode()), ("model_weights.ckpt", weights), (TOKENIZER, b"\x0a\x02ab")]
    return members + list(extra)


def main():
    for kind in ("benign", "malicious", "malformed"):
        d = OUT / kind
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
    w = lambda kind, name, data: (OUT / kind / name).write_bytes(data)  # noqa: E731

    w("benign", "asr-ctc-bpe.nemo", tar_bytes(archive(CONFIG)))
    w("benign", "legacy-gzip.nemo", tar_bytes(archive(CONFIG), gz=True))
    # A config with the `model:` wrapper (training configs saved as-is).
    wrapped = "model:\n" + "".join("  " + line + "\n" for line in CONFIG.splitlines())
    w("benign", "model-wrapper.nemo", tar_bytes(archive(wrapped)))

    w("malicious", "model-target-os-system.nemo", tar_bytes(archive(CONFIG.replace(
        "target: nemo.collections.asr.models.ctc_bpe_models.EncDecCTCModelBPE", "target: os.system"))))
    w("malicious", "submodule-target-exec.nemo", tar_bytes(archive(CONFIG.replace(
        "_target_: nemo.collections.asr.modules.ConvASRDecoder", "_target_: builtins.exec"))))
    w("malicious", "hydra0-cls-params.nemo", tar_bytes(archive(CONFIG.replace(
        "decoder:\n  _target_: nemo.collections.asr.modules.ConvASRDecoder\n",
        "decoder:\n  cls: subprocess.check_output\n  params:\n    args: [\"true\"]\n"))))
    w("malicious", "interpolated-target.nemo", tar_bytes(archive(CONFIG.replace(
        "_target_: nemo.collections.asr.modules.ConformerEncoder", "_target_: ${oc.env:ENCODER}"))))
    w("malicious", "pickle-weights.nemo", tar_bytes(archive(CONFIG, weights=PICKLE)))
    w("malicious", "gzip-pickle-weights.nemo", tar_bytes(archive(CONFIG, weights=PICKLE), gz=True))
    # NeMo extracts with `tar.extractall` (no filter in the versions before the fix).
    w("malicious", "path-traversal.nemo", tar_bytes(archive(CONFIG, extra=[("../../.bashrc", b"true\n")])))

    w("malformed", "bad-yaml.nemo", tar_bytes(archive("target: nemo.collections.asr.models.X\nencoder: {_target_: os.system\n")))
    w("malformed", "config-not-a-mapping.nemo", tar_bytes(archive("- 1\n- 2\n")))
    w("malformed", "empty-config.nemo", tar_bytes(archive("")))


if __name__ == "__main__":
    main()
