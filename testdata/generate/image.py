#!/usr/bin/env python3
"""Writes the image fixtures under testdata/image/{benign,malicious,malformed}/ as small OCI
image layouts. Only writes bytes (tarfile, gzip, json, hashlib); never loads a pickle. The pickle
payload is inert (`os.system('true')`). Deterministic: mtime 0, sorted members.

Usage: python3 testdata/generate/image.py [testdata/image]
"""
import base64, gzip, hashlib, io, json, os, shutil, sys, tarfile

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "image")
PICKLE = b"cos\nsystem\n(S'true'\ntR."


def tar_of(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        for name, data in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = 0
            if isinstance(data, tuple) and data[0] == "symlink":
                ti.type = tarfile.SYMTYPE
                ti.linkname = data[1]
                t.addfile(ti)
            else:
                ti.size = len(data)
                ti.mode = 0o644
                t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def blob(out, data):
    h = hashlib.sha256(data).hexdigest()
    os.makedirs(os.path.join(out, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(out, "blobs", "sha256", h), "wb") as f:
        f.write(data)
    return "sha256:" + h


def layout(out, layers, tamper=None):
    """layers: list of entry lists. tamper(out, layer_digests) may edit blobs afterwards."""
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    descs, diff_ids, digests = [], [], []
    for entries in layers:
        raw = tar_of(entries)
        diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
        gz = gzip.compress(raw, mtime=0)
        d = blob(out, gz)
        digests.append(d)
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": len(gz)})
    cfg = json.dumps({"architecture": "amd64", "os": "linux",
                      "rootfs": {"type": "layers", "diff_ids": diff_ids}}, sort_keys=True).encode()
    cd = blob(out, cfg)
    man = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                      "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": len(cfg)},
                      "layers": descs}, sort_keys=True).encode()
    md = blob(out, man)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                   "digest": md, "size": len(man),
                   "annotations": {"org.opencontainers.image.ref.name": "v1"}}]}, f, sort_keys=True)
    if tamper:
        tamper(out, digests, md)


def b64(data):
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def dist(prefix, name, version, code):
    info = f"{prefix}/{name}-{version}.dist-info"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n".encode()
    record = (f"{name}/__init__.py,sha256={b64(code)},{len(code)}\n"
              f"{name}-{version}.dist-info/METADATA,sha256={b64(meta)},{len(meta)}\n"
              f"{name}-{version}.dist-info/RECORD,,\n").encode()
    return [(f"{prefix}/{name}/__init__.py", code), (f"{info}/METADATA", meta), (f"{info}/RECORD", record)]


def main():
    sp = "usr/lib/python3.11/site-packages"
    # benign: a small filesystem with a symlink, a safetensors-like file and a pinned, hashed requirement
    layout(os.path.join(ROOT, "benign", "clean-layout"), [
        [("etc/os-release", b"ID=fixture\n"), ("bin", ("symlink", "usr/bin")), ("usr/bin/tool", b"#!/bin/sh\n")],
        [("app/README.md", b"hello\n")] + dist(sp, "tinylib", "1.0", b"VALUE = 1\n"),
    ])
    # malicious: a pickle in a lower layer, whited out by the upper layer (it still ships)
    layout(os.path.join(ROOT, "malicious", "whiteout-pickle"), [
        [("opt/model/evil.pkl", PICKLE), ("opt/model/config.json", b"{}\n")],
        [("opt/model/.wh.evil.pkl", b"")],
    ])
    # malicious: an installed file modified by a later layer (differs from its own RECORD)
    layout(os.path.join(ROOT, "malicious", "record-mismatch"), [
        dist(sp, "tinylib", "1.0", b"VALUE = 1\n"),
        [(f"{sp}/tinylib/__init__.py", b"import os\nos.system('true')\n")],
    ])

    # malformed: a layer blob edited after the manifest was written
    def edit_layer(out, digests, _md):
        p = os.path.join(out, "blobs", "sha256", digests[0].split(":")[1])
        data = bytearray(open(p, "rb").read())
        data[-5] ^= 0xFF
        open(p, "wb").write(bytes(data))
    layout(os.path.join(ROOT, "malformed", "digest-mismatch"), [[("a.txt", b"a\n")]], edit_layer)

    # malformed: a layer whose blob is missing from the layout
    def drop_layer(out, digests, _md):
        os.remove(os.path.join(out, "blobs", "sha256", digests[0].split(":")[1]))
    layout(os.path.join(ROOT, "malformed", "missing-blob"), [[("a.txt", b"a\n")]], drop_layer)

    # malformed: index.json points at a manifest that is not valid JSON (its digest is correct)
    def bad_manifest(out, _digests, md):
        os.remove(os.path.join(out, "blobs", "sha256", md.split(":")[1]))
        junk = b'{"schemaVersion": 2, "layers": 5'
        d = blob(out, junk)
        with open(os.path.join(out, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": d, "size": len(junk)}]}, f, sort_keys=True)
    layout(os.path.join(ROOT, "malformed", "bad-manifest"), [[("a.txt", b"a\n")]], bad_manifest)


if __name__ == "__main__":
    main()
