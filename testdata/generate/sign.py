#!/usr/bin/env python3
"""Writes testdata/sign/: a small model directory and OpenSSF model-signing bundles for it made by
the reference implementation (PyPI `model-signing`, with `pyOpenSSL`), so modelgate's verifier is
tested against independent output even where Python is not installed.

Run with the venv that has model-signing:  /work/venv/bin/python testdata/generate/sign.py

The P-256 private key is generated here and thrown away; only its public key is kept. The model
files are inert text and bytes. Nothing here loads a pickle.
"""

import base64
import json
import pathlib
import shutil
import tempfile

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from model_signing import hashing, signing

ROOT = pathlib.Path(__file__).resolve().parents[1] / "sign"


def write_model(model: pathlib.Path) -> None:
    (model / "sub").mkdir(parents=True)
    (model / "a").mkdir()
    (model / "README.md").write_text("# tiny model\n")
    (model / "config.json").write_text('{"hidden_size": 4}\n')
    (model / "sub" / "tokenizer.txt").write_text("a\nb\nc\n")
    # a/b sorts before a-b (component order), which byte order would reverse.
    (model / "a" / "b").write_bytes(b"component order\n")
    (model / "a-b").write_bytes(b"byte order\n")
    (model / "empty").write_bytes(b"")
    # 20 bytes: three shards of 8 bytes with shard_size=8.
    (model / "weights.bin").write_bytes(bytes(range(20)))


def main() -> None:
    if ROOT.exists():
        shutil.rmtree(ROOT)
    model = ROOT / "model"
    write_model(model)
    sigs = ROOT / "signatures"
    sigs.mkdir()

    key = ec.generate_private_key(ec.SECP256R1())
    with tempfile.TemporaryDirectory() as tmp:
        key_path = pathlib.Path(tmp) / "p256.pem"
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        (ROOT / "p256.pub").write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM,
                serialization.PublicFormat.SubjectPublicKeyInfo,
            )
        )
        variants = {
            "files-sha256": lambda h: h.use_file_serialization(),
            "files-blake2b": lambda h: h.use_file_serialization(hashing_algorithm="blake2"),
            "files-blake3": lambda h: h.use_file_serialization(hashing_algorithm="blake3"),
            "shards-sha256": lambda h: h.use_shard_serialization(shard_size=8),
            "shards-blake2b": lambda h: h.use_shard_serialization(
                hashing_algorithm="blake2", shard_size=8
            ),
        }
        for name, configure in variants.items():
            h = hashing.Config()
            configure(h)
            signing.Config().use_elliptic_key_signer(private_key=key_path).set_hashing_config(
                h
            ).sign(model, sigs / f"{name}.sig")

        # The same model signed with a P-384 key (model_signing hashes the PAE with SHA-384).
        key384 = ec.generate_private_key(ec.SECP384R1())
        key384_path = pathlib.Path(tmp) / "p384.pem"
        key384_path.write_bytes(
            key384.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        (ROOT / "p384.pub").write_bytes(
            key384.public_key().public_bytes(
                serialization.Encoding.PEM,
                serialization.PublicFormat.SubjectPublicKeyInfo,
            )
        )
        signing.Config().use_elliptic_key_signer(private_key=key384_path).sign(
            model, sigs / "p384-files-sha256.sig"
        )

    # A decoded copy of one payload, for people reading the fixtures.
    bundle = json.loads((sigs / "files-sha256.sig").read_text())
    payload = base64.b64decode(bundle["dsseEnvelope"]["payload"])
    (ROOT / "files-sha256.statement.json").write_bytes(payload)


if __name__ == "__main__":
    main()
