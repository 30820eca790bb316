#!/usr/bin/env python3
"""Generates the benchmark corpus for benches/compare_peers.sh (benign data only; it writes bytes
and dumps plain data with `pickle.dumps`, never loads anything).

  dense.pkl          4.0 MB protocol-4 pickle, 1.6 M opcodes (160k small dicts)
  small/             2,000 small mixed files (pickles, npy, torch-style zips, joblib-style zlib)
  ckpt_2mb.pt        torch-style zip: one data.pkl + 2 MB of storages
  ckpt_2gb.pt        the same data.pkl + 2 GB of storages (written sparsely where possible)

Usage: generate_bench_data.py OUTDIR [--no-large]
"""
import io
import os
import pickle
import struct
import sys
import zipfile
import zlib


def torch_state_dict_pickle(n_tensors, numel):
    """Hand-written protocol-2 pickle of an OrderedDict of FloatStorage tensors, like torch.save."""
    out = io.BytesIO()
    w = out.write
    w(b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01(")
    for i in range(n_tensors):
        key = f"layer{i}.weight".encode()
        w(b"X" + struct.pack("<I", len(key)) + key)
        w(b"ctorch._utils\n_rebuild_tensor_v2\n(")
        w(b"(X\x07\x00\x00\x00storagectorch\nFloatStorage\n")
        sk = str(i).encode()
        w(b"X" + struct.pack("<I", len(sk)) + sk + b"X\x03\x00\x00\x00cpu" + b"J" + struct.pack("<i", numel) + b"tQ")
        w(b"K\x00J" + struct.pack("<i", numel) + b"\x85J\x01\x00\x00\x00\x85\x89ccollections\nOrderedDict\n)RtR")
    w(b"u.")
    return out.getvalue()


def torch_zip(path, n_tensors, numel):
    pkl = torch_state_dict_pickle(n_tensors, numel)
    chunk = bytes(numel * 4)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pkl)
        for i in range(n_tensors):
            z.writestr(f"archive/data/{i}", chunk)
        z.writestr("archive/version", b"3\n")


def npy(arr_bytes, descr, shape):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + " " * pad + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + arr_bytes


def main():
    out = sys.argv[1]
    large = "--no-large" not in sys.argv
    os.makedirs(out, exist_ok=True)
    data = [{"a": i, "b": 1.5, "c": "x"} for i in range(160_000)]
    with open(os.path.join(out, "dense.pkl"), "wb") as f:
        f.write(pickle.dumps(data, protocol=4))
    small = os.path.join(out, "small")
    os.makedirs(small, exist_ok=True)
    for i in range(2000):
        kind = i % 4
        if kind == 0:
            obj = {"id": i, "weights": [float(j) for j in range(50)], "name": f"m{i}"}
            with open(os.path.join(small, f"m{i}.pkl"), "wb") as f:
                f.write(pickle.dumps(obj, protocol=(i // 4) % 5 + 1))
        elif kind == 1:
            with open(os.path.join(small, f"a{i}.npy"), "wb") as f:
                f.write(npy(bytes(400), "<f4", "(100,)"))
        elif kind == 2:
            torch_zip(os.path.join(small, f"t{i}.pt"), 3, 64)
        else:
            with open(os.path.join(small, f"j{i}.joblib"), "wb") as f:
                f.write(zlib.compress(pickle.dumps({"k": list(range(100))}, protocol=4)))
    torch_zip(os.path.join(out, "ckpt_2mb.pt"), 8, 65_536)  # 8 x 256 KiB = 2 MiB
    if large:
        torch_zip(os.path.join(out, "ckpt_2gb.pt"), 8, 67_108_864)  # 8 x 256 MiB = 2 GiB


if __name__ == "__main__":
    main()
