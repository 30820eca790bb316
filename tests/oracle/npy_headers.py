"""Loader-differential cases for .npy headers (issue 10, principle 3).

Each case is a header dict text (as `ast.literal_eval` reads it) spelling an object dtype some
way, followed by a pickle. Writes NAME.twin.npy (canary callable), NAME.payload.npy
(posix.system, never loaded here) and prints {"name", "reached"} per case, where reached means
`np.load(allow_pickle=True)` on the twin ran the canary. Control cases spell plain dtypes with
exactly the data they declare and print "control": true; they must scan clean.
"""

import json
import os
import struct
import sys
import types

import numpy as np

reached = []
canary = types.ModuleType("mg_canary")
canary.reached = lambda *a: reached.append(a)
sys.modules["mg_canary"] = canary


def pickle_call(mod, name):
    return b"\x80\x02c" + mod + b"\n" + name + b"\n(X\x04\x00\x00\x00truetR."


def npy(header, version=1):
    h = header.encode("latin-1" if version < 3 else "utf-8")
    if version == 1:
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack("<I", len(h)) + h


def hdr(descr, shape="(2,)", fortran="False", extra=""):
    return "{'descr': %s, 'fortran_order': %s, 'shape': %s%s}\n" % (descr, fortran, shape, extra)


OBJECT = [
    ("plain", hdr("'|O'")),
    ("bare_O", hdr("'O'")),
    ("name", hdr("'object'")),
    ("name_", hdr("'object_'")),
    ("lt", hdr("'<O'")),
    ("o8", hdr("'O8'")),
    ("hex_escape", hdr("'\\x7cO'")),
    ("octal_escape", hdr("'\\174O'")),
    ("u_escape", hdr("'\\u007cO'")),
    ("named_escape", hdr("'\\N{VERTICAL LINE}O'")),
    ("concat", hdr("'|' 'O'")),
    ("concat_mixed_quotes", hdr("'|' \"O\"")),
    ("u_prefix", hdr("u'|O'")),
    ("triple", hdr("'''|O'''")),
    ("continuation", hdr("'|\\\nO'")),
    ("comment", "{'descr': '|O', # note\n 'fortran_order': False, 'shape': (2,)}\n"),
    ("paren", hdr("('|O')")),
    ("subarray", hdr("('|O', (2,))")),
    ("subarray_int", hdr("('|O', 2)")),
    ("struct", hdr("[('a', '<f8'), ('b', '|O')]")),
    ("struct_nested", hdr("[('a', '<f8'), ('b', [('c', '|O')])]")),
    ("struct_title", hdr("[(('t', 'a'), '|O')]")),
    ("struct_sub", hdr("[('a', '|O', (2,))]")),
    ("struct_str_field", hdr("['aO']")),
    ("struct_dict_keys", hdr("{'aO': 0}")),
    ("struct_tuple_in_list", hdr("[['a', 'O']]")),
    ("comma_string", hdr("'f8,O'")),
    ("subarray_string", hdr("'(2,)O'")),
    ("duplicate_descr", "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), 'descr': '|O'}\n"),
    ("duplicate_shape", "{'descr': '|O', 'fortran_order': False, 'shape': 'x', 'shape': (2,)}\n"),
    ("bool_shape", hdr("'|O'", shape="(True,)")),
    ("negative_shape", hdr("'|O'", shape="(-1,)")),
    ("empty_shape", hdr("'|O'", shape="()")),
    ("long_shape", hdr("'|O'", shape="(2L,)")),
    ("hex_shape", hdr("'|O'", shape="(0x2,)")),
    ("trailing_commas", "{'descr': '|O', 'fortran_order': False, 'shape': (2,),}\n"),
    ("no_spaces", "{'descr':'|O','fortran_order':False,'shape':(2,)}"),
    ("double_quoted_keys", '{"descr": "|O", "fortran_order": False, "shape": (2,)}\n'),
    ("escaped_key", "{'d\\x65scr': '|O', 'fortran_order': False, 'shape': (2,)}\n"),
    ("tabs_newlines", "{\t'descr'\n:\t'|O' ,\n'fortran_order' : False ,\r\n'shape' : ( 2 , ) }\n"),
    ("big_header", hdr("'|O'") + " " * (1024 * 1024 + 100) + "\n"),
]

CONTROL = [
    ("c_plain", hdr("'<f8'"), 16),
    ("c_escape", hdr("'\\x3cf8'"), 16),
    ("c_concat", hdr("'<' 'f8'"), 16),
    ("c_struct", hdr("[('a', '<f8'), ('b', '<i4', (2,))]"), 32),
    ("c_unicode", hdr("'<U3'"), 24),
    ("c_duplicate", "{'descr': '|O', 'fortran_order': False, 'shape': (2,), 'descr': '<i2'}\n", 4),
]


def main(out):
    os.makedirs(out, exist_ok=True)
    for version in (1, 3):
        for name, header in OBJECT:
            if version == 1 and len(header) > 65535:
                continue
            name = f"v{version}_{name}"
            with open(os.path.join(out, name + ".twin.npy"), "wb") as f:
                f.write(npy(header, version) + pickle_call(b"mg_canary", b"reached"))
            with open(os.path.join(out, name + ".payload.npy"), "wb") as f:
                f.write(npy(header, version) + pickle_call(b"posix", b"system"))
            reached.clear()
            try:
                np.load(os.path.join(out, name + ".twin.npy"), allow_pickle=True)
            except Exception:
                pass
            print(json.dumps({"name": name, "reached": bool(reached), "control": False}))
        for name, header, nbytes in CONTROL:
            name = f"v{version}_{name}"
            path = os.path.join(out, name + ".control.npy")
            with open(path, "wb") as f:
                f.write(npy(header, version) + b"\x01" * nbytes)
            ok = True
            try:
                np.load(path, allow_pickle=False)
            except Exception:
                ok = False
            print(json.dumps({"name": name, "reached": False, "control": ok}))


if __name__ == "__main__":
    main(sys.argv[1])
