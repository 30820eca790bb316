#!/usr/bin/env python3
"""Writes the R serialized-object fixtures under testdata/r/.

* benign/: written by R itself (Debian's r-base-core 4.2.2, `Rscript`): an lm model (saveRDS's
  default gzip), a binomial glm (xz; its family holds closures calling `.Call`), a data frame in
  text encoding, a list compressed with bzip2, and a `save` workspace (gzip).
* malicious/: written by R from testdata/generate/r_cases.R with `system("true")` as the code
  (an unevaluated promise in an environment, an active binding, a closure kept as a model's
  function, `do.call("system", ...)`, byte code from compiler::cmpfun, an lm whose `call` runs a
  command when update() evaluates it, a workspace holding a promise), plus two streams built by
  hand from serialize.c's layout because R's API does not write them: a top-level promise (what
  CVE-2024-27322 used: readRDS returned it and it ran on first use, before R 4.4) and a promise
  inside a list.
* native/: closures calling compiled code whose routine is not provably a registered routine
  of R's own packages (R itself writes them): a routine named by string, one stats does not
  register, one bound by the file's own environments (hashed and not), one found through the
  global environment, one passed as an argument, one assigned locally, and byte code of
  another shape. Each stays `r/dangerous-call` low; the glm's `.Call(C_logit_link, mu)` is info.
* malformed/: hand-built streams R refuses: cut off mid-vector, an unknown item type,
  serialization version 4, a version-1 workspace, a persistent reference.

Every payload is inert (`system("true")`). Usage: python -P testdata/generate/r.py (from the
repository root). Needs: Rscript (apt-get install --no-install-recommends r-base-core).
"""

import struct
import subprocess
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "r"
CASES = Path(__file__).resolve().parent / "r_cases.R"

BENIGN_R = r"""
out <- commandArgs(trailingOnly = TRUE)[1]
saveRDS(lm(mpg ~ wt + hp, data = mtcars), file.path(out, "lm.rds"))
saveRDS(glm(am ~ wt, data = mtcars, family = binomial), file.path(out, "glm-binomial.rds"),
        compress = "xz")
saveRDS(head(iris, 10), file.path(out, "data-frame-ascii.rds"), ascii = TRUE, compress = FALSE)
saveRDS(list(weights = matrix(seq(0, 1, length.out = 12), 3), labels = letters[1:3],
             scale = 2.5, fitted = TRUE), file.path(out, "list-bzip2.rds"), compress = "bzip2")
coefficients <- c(intercept = 1.5, slope = -0.25)
levels <- factor(c("a", "b", "a"))
save(coefficients, levels, file = file.path(out, "workspace.RData"))
"""

NATIVE_R = r"""
out <- commandArgs(trailingOnly = TRUE)[1]
stats <- asNamespace("stats")
keep <- function(f, env, name) {
  environment(f) <- env
  saveRDS(list(coefficients = c(a = 1), linkfun = f), file.path(out, name), compress = FALSE)
}
keep(function(mu) .Call("C_logit_link", mu), stats, "string-routine.rds")
keep(function(mu) .Call(C_no_such_routine, mu), stats, "unregistered-routine.rds")
e <- new.env(hash = TRUE, parent = stats)
assign("C_logit_link", "C_logit_link", envir = e)
keep(function(mu) .Call(C_logit_link, mu), e, "routine-bound-in-hashed-environment.rds")
e <- new.env(hash = FALSE, parent = stats)
assign("C_logit_link", "C_logit_link", envir = e)
keep(function(mu) .Call(C_logit_link, mu), e, "routine-bound-in-frame.rds")
keep(function(mu) .Call(C_logit_link, mu), globalenv(), "global-environment.rds")
keep(function(mu, C_logit_link) .Call(C_logit_link, mu), stats, "routine-is-argument.rds")
keep(function(mu) { C_logit_link <- mu; .Call(C_logit_link, mu) }, stats, "local-assignment.rds")
# `environment<-` drops byte code, so this one is compiled in place: `.External` compiles to a
# CALLBUILTIN, not the DOTCALL shape.
f <- function(mu) .External(C_logit_link, mu, 1)
environment(f) <- stats
saveRDS(list(coefficients = c(a = 1), linkfun = compiler::cmpfun(f)),
        file.path(out, "byte-code-other-shape.rds"), compress = FALSE)
"""


def rscript(*args):
    subprocess.run(["Rscript", *args], check=True)


class Xdr:
    """serialize.c's XDR layout, for the streams R's API does not write."""

    def __init__(self, version=3):
        self.b = bytearray(b"X\n")
        self.int(version).int(0x40202).int(0x30500)
        if version == 3:
            self.int(5)
            self.b += b"UTF-8"

    def int(self, v):
        self.b += struct.pack(">i", v)
        return self

    def chars(self, s):
        self.int(9 | (64 << 12)).int(len(s))
        self.b += s.encode()
        return self

    def sym(self, name):
        return self.int(1).chars(name)

    def call(self, fn, arg):
        # LANGSXP (fn) -> LISTSXP ("arg") -> NULL
        self.int(6).sym(fn)
        self.int(2).int(16).int(1).chars(arg)
        return self.int(254)

    def promise(self, fn, arg):
        # PROMSXP with an environment tag (the global env) and an unbound value: not forced.
        self.int(5 | (1 << 10)).int(253).int(252)
        return self.call(fn, arg)


def run_r(script, kind):
    """Runs an R script with the fixture directory `kind` as its argument."""
    d = OUT / kind
    d.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".R") as f:
        f.write(script)
        f.flush()
        rscript(f.name, str(d))


def benign():
    run_r(BENIGN_R, "benign")


def malicious():
    d = OUT / "malicious"
    d.mkdir(parents=True, exist_ok=True)
    rscript("-e", f'source("{CASES}"); build_cases("system", "{d}")')
    (d / "toplevel-promise.rds").write_bytes(bytes(Xdr().promise("system", "true").b))
    # list(model = <promise>): a VECSXP of length 1 whose element is the promise.
    x = Xdr().int(19).int(1)
    (d / "promise-in-list.rds").write_bytes(bytes(x.promise("system", "true").b))


def native():
    run_r(NATIVE_R, "native")


def malformed():
    d = OUT / "malformed"
    d.mkdir(parents=True, exist_ok=True)
    x = Xdr().int(14).int(1000)
    x.b += b"\0" * 80
    (d / "truncated-vector.rds").write_bytes(bytes(x.b))
    (d / "unknown-type.rds").write_bytes(bytes(Xdr().int(30).b))
    (d / "version-4.rds").write_bytes(bytes(Xdr(version=2).b).replace(b"\0\0\0\x02", b"\0\0\0\x04", 1))
    (d / "old-workspace.RData").write_bytes(b"RDX1\n" + bytes(Xdr().int(254).b))
    x = Xdr().int(247).int(0).int(1).chars("persistent-name")
    (d / "persistent-reference.rds").write_bytes(bytes(x.b))


if __name__ == "__main__":
    benign()
    malicious()
    native()
    malformed()
