#!/usr/bin/env python3
"""Writes the Lua Torch7 (`torch.save`) fixtures under testdata/torch7/.

Torch7 is not installable any more, so the files are written from File.lua's layout
(torch/torch7: `writeObject`/`readObject`, and the tensor and storage `write` methods of
generic/Tensor.c and generic/Storage.c): a type tag (nil 0, number 1, string 2, table 3, torch
object 4, boolean 5, function 6, recursive function 8), an index for tables, torch objects and
recursive functions, a `V 1` version string and the class name for torch objects; a tensor
writes nDimension, sizes, strides and the 1-based storage offset as longs, then its storage; a
storage its element count (a long) and the elements. Binary mode is little-endian with 8-byte
longs (4-byte ones with `longSize(4)`); ascii mode writes numbers as text and each element is
followed by a newline. The Lua functions are real `string.dump` byte code from Lua 5.1
(`lua5.1`, Debian's lua5.1 5.1.5), and call `os.execute("true")` (inert).

* benign/: an nn.Linear (binary), an nn.Sequential of Linear and ReLU (ascii), a table of a
  DoubleTensor (4-byte longs).
* malicious/: an nn.Linear whose `updateOutput` is a dumped function, a bare function (type 6),
  and a class outside the nn families.
* malformed/: a storage cut short, an unknown type tag, a negative string length, a tensor with
  70 dimensions.

Usage: python -P testdata/generate/torch7.py (from the repository root). Needs lua5.1.
"""

import struct
import subprocess
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "torch7"


def lua_dump(body):
    return subprocess.run(["lua5.1", "-e", f"io.write(string.dump(function(self, input) {body} end))"],
                          check=True, capture_output=True).stdout


class W:
    def __init__(self, ascii=False, long_size=8):
        self.b = bytearray()
        self.ascii, self.long_size, self.index = ascii, long_size, 0

    def int(self, v):
        if self.ascii:
            self.b += f"{v}\n".encode()
        else:
            self.b += struct.pack("<i", v)

    def long(self, v):
        if self.ascii:
            self.b += f"{v}\n".encode()
        else:
            self.b += struct.pack("<q" if self.long_size == 8 else "<i", v)

    def double(self, v):
        if self.ascii:
            self.b += f"{v!r}\n".encode()
        else:
            self.b += struct.pack("<d", v)

    def chars(self, data):
        self.b += data
        if self.ascii:
            self.b += b"\n"

    def next_index(self):
        self.index += 1
        return self.index

    def string(self, s):
        data = s.encode() if isinstance(s, str) else s
        self.int(2)
        self.int(len(data))
        self.chars(data)

    def number(self, v):
        self.int(1)
        self.double(v)

    def boolean(self, v):
        self.int(5)
        self.int(1 if v else 0)

    def torch_header(self, cls):
        self.int(4)
        self.int(self.next_index())
        self.int(3)
        self.chars(b"V 1")
        self.int(len(cls))
        self.chars(cls.encode())

    def storage(self, cls, values, fmt):
        self.torch_header(cls)
        self.long(len(values))
        if self.ascii:
            for v in values:
                self.b += f"{v}\n".encode()
        else:
            self.b += b"".join(struct.pack(fmt, v) for v in values)

    def tensor(self, kind, shape, fmt):
        self.torch_header(f"torch.{kind}Tensor")
        self.int(len(shape))
        strides, acc = [], 1
        for d in reversed(shape):
            strides.insert(0, acc)
            acc *= d
        for d in shape:
            self.long(d)
        for s in strides:
            self.long(s)
        self.long(1)
        n = 1
        for d in shape:
            n *= d
        self.storage(f"torch.{kind}Storage", [0.5 * i for i in range(n)] if fmt in "fd" else list(range(n)), "<" + fmt)

    def table(self, items):
        self.int(3)
        self.int(self.next_index())
        self.int(len(items))
        for k, write_value in items:
            if isinstance(k, str):
                self.string(k)
            else:
                self.number(k)
            write_value(self)

    def function(self, code, tag=8):
        self.int(tag)
        if tag != 6:
            self.int(self.next_index())
        self.int(len(code))
        self.chars(code)
        self.table([])  # upvalues


def linear(w, extra=()):
    w.torch_header("nn.Linear")
    w.table([
        ("weight", lambda w: w.tensor("Float", [2, 3], "f")),
        ("bias", lambda w: w.tensor("Float", [2], "f")),
        ("train", lambda w: w.boolean(True)),
        *extra,
    ])


def write(kind, name, data):
    d = OUT / kind
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(bytes(data))


def main():
    w = W()
    linear(w)
    write("benign", "linear.t7", w.b)
    w = W(ascii=True)
    w.torch_header("nn.Sequential")
    w.table([("modules", lambda w: w.table([(1, linear), (2, lambda w: (w.torch_header("nn.ReLU"), w.table([("inplace", lambda w: w.boolean(False))])))])),
             ("train", lambda w: w.boolean(True))])
    write("benign", "sequential-ascii.t7", w.b)
    w = W(long_size=4)
    w.table([("w", lambda w: w.tensor("Double", [2, 2], "d")), ("name", lambda w: w.string("layer1"))])
    write("benign", "table-longsize4.t7", w.b)

    code = lua_dump('os.execute("true") return input')
    w = W()
    linear(w, [("updateOutput", lambda w: w.function(code))])
    write("malicious", "function-in-module.t7", w.b)
    w = W()
    w.function(code, tag=6)
    write("malicious", "bare-function.t7", w.b)
    w = W()
    w.torch_header("evil.Loader")
    w.table([("path", lambda w: w.string("/tmp/x"))])
    write("malicious", "unknown-class.t7", w.b)

    w = W()
    linear(w)
    write("malformed", "truncated-storage.t7", w.b[:-6])
    w = W()
    w.table([("x", lambda w: w.int(9))])
    write("malformed", "unknown-tag.t7", w.b)
    w = W()
    w.table([("x", lambda w: (w.int(2), w.int(-5)))])
    write("malformed", "negative-length.t7", w.b)
    w = W()
    w.torch_header("torch.FloatTensor")
    w.int(70)
    write("malformed", "seventy-dimensions.t7", w.b)


if __name__ == "__main__":
    main()
