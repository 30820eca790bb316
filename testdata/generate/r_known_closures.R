# Saves, one uncompressed .rds each, the closures R's stats package puts into the models it
# returns (glm families, nls models), with an index.tsv of (file, what it is). The example
# `r_known_closures` reads them with modelgate's own R reader and prints the
# `r-known-closure` entries of signatures/r.toml (the digest of each closure's formals and
# body) for the closures whose code names a function the R policy denies.
# Regenerate for a new R version:
#   Rscript testdata/generate/r_known_closures.R /tmp/rk &&
#   MODELGATE_R_CLOSURES_DIR=/tmp/rk cargo test --test formats r::known_closure_entries -- --ignored --nocapture
# then replace the `r-known-closure` entries of signatures/r.toml with the output.
out <- commandArgs(trailingOnly = TRUE)[1]
dir.create(out, showWarnings = FALSE, recursive = TRUE)
rv <- paste(R.version$major, R.version$minor, sep = ".")
index <- character()
n <- 0L
keep <- function(f, what) {
  n <<- n + 1L
  file <- sprintf("%03d.rds", n)
  saveRDS(f, file.path(out, file), compress = FALSE)
  index <<- c(index, paste(file, "stats", rv, what, sep = "\t"))
}
closures_of <- function(x, what) {
  for (k in names(x)) if (is.function(x[[k]])) keep(x[[k]], sprintf("%s$%s", what, k))
}
# An nls model's closures, and the ones bound in their environment (nlsModel's frame).
nls_closures <- function(fit, what) {
  closures_of(fit$m, paste0(what, "$m"))
  closures_of(as.list(environment(fit$m$predict), all.names = TRUE),
              sprintf("environment(%s$m$predict)", what))
}
links <- list(
  binomial = c("logit", "probit", "cauchit", "log", "cloglog"),
  quasibinomial = c("logit", "probit", "cauchit", "log", "cloglog"),
  poisson = c("log", "identity", "sqrt"), quasipoisson = c("log", "identity", "sqrt"),
  gaussian = c("identity", "log", "inverse"), Gamma = c("inverse", "identity", "log"),
  inverse.gaussian = c("1/mu^2", "inverse", "identity", "log")
)
for (fam in names(links)) for (l in links[[fam]]) {
  closures_of(get(fam, asNamespace("stats"))(link = l), sprintf("%s(link = \"%s\")", fam, l))
}
for (v in c("constant", "mu(1-mu)", "mu", "mu^2", "mu^3")) {
  closures_of(do.call(quasi, list(variance = v)), sprintf("quasi(variance = \"%s\")", v))
}
closures_of(quasi(link = power(1/3)), "quasi(link = power(1/3))")
set.seed(1)
x <- 1:20
y <- 3 * exp(0.1 * x) + rnorm(20, sd = 0.1)
nls_closures(nls(y ~ a * exp(b * x), start = list(a = 1, b = 0.2)), "nls(...)")
nls_closures(nls(y ~ a * exp(b * x), start = list(a = 1, b = 0.2), algorithm = "port"),
             "nls(..., algorithm = \"port\")")
nls_closures(nls(y ~ exp(b * x), start = list(b = 0.2), algorithm = "plinear"),
             "nls(..., algorithm = \"plinear\")")
d <- data.frame(x = x, y = 10 / (1 + exp((10 - x) / 2)) + rnorm(20, sd = 0.05))
nls_closures(nls(y ~ SSlogis(x, Asym, xmid, scal), data = d), "nls(y ~ SSlogis(...))")
writeLines(index, file.path(out, "index.tsv"))
