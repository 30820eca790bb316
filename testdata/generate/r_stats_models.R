# Writes testdata/r/stats/: benign models and results of R's stats package, saved by R itself
# (Debian r-base-core 4.2.2). Their closures are the ones signatures/r.toml lists as
# `r-known-closure` (regenerate the list with the ignored test `r::known_closure_entries` in tests/formats/r.rs).
# Usage: Rscript testdata/generate/r_stats_models.R testdata/r/stats
out <- commandArgs(trailingOnly = TRUE)[1]
set.seed(1)
put <- function(x, name) saveRDS(x, file.path(out, paste0(name, ".rds")))
x <- 1:20
y <- 3 * exp(0.1 * x) + rnorm(20, sd = 0.1)
put(nls(y ~ a * exp(b * x), start = list(a = 1, b = 0.2)), "nls")
put(nls(y ~ SSlogis(x, Asym, xmid, scal), data = data.frame(x = x, y = 10 / (1 + exp((10 - x) / 2)) + rnorm(20, sd = 0.05))), "nls-selfstart")
d <- data.frame(x = x, n = rpois(20, 5) + 1, yp = rpois(20, 3), yg = rgamma(20, 2) + 0.1)
d$yb <- rbinom(20, d$n, 0.4)
families <- list(
  binomial = binomial(), binomial_probit = binomial("probit"), binomial_cloglog = binomial("cloglog"),
  binomial_cauchit = binomial("cauchit"), binomial_log = binomial("log"),
  quasibinomial = quasibinomial(), poisson = poisson(), poisson_sqrt = poisson("sqrt"),
  poisson_identity = poisson("identity"), quasipoisson = quasipoisson(),
  gaussian = gaussian(), gaussian_log = gaussian("log"), gaussian_inverse = gaussian("inverse"),
  Gamma = Gamma(), Gamma_log = Gamma("log"), Gamma_identity = Gamma("identity"),
  inverse.gaussian = inverse.gaussian(), inverse.gaussian_log = inverse.gaussian("log"),
  quasi = quasi(), quasi_power = quasi(link = power(1/3), variance = "mu^2"),
  quasi_mu = quasi(variance = "mu")
)
for (f in names(families)) {
  fam <- families[[f]]
  resp <- switch(fam$family, binomial = , quasibinomial = "cbind(yb, n - yb)",
                 poisson = , quasipoisson = "yp", "yg")
  start <- if (fam$link %in% c("identity", "sqrt", "inverse", "log", "1/mu^2", "mu^0.3333333")) NULL
  fit <- tryCatch(glm(as.formula(paste(resp, "~ x")), data = d, family = fam),
                  error = function(e) glm(as.formula(paste(resp, "~ 1")), data = d, family = fam))
  put(fit, paste0("glm-", f))
}
# Text encoding: integers and doubles are words there.
saveRDS(nls(y ~ a * exp(b * x), start = list(a = 1, b = 0.2)), file.path(out, "nls-ascii.rds"),
        ascii = TRUE)
saveRDS(glm(yg ~ x, data = d, family = inverse.gaussian), file.path(out, "glm-inverse.gaussian-ascii.rds"),
        ascii = TRUE)
put(step(glm(yp ~ x + n, data = d, family = poisson), trace = 0), "glm-step")
put(lm(mpg ~ poly(wt, 2) + hp, data = mtcars), "lm-poly")
put(loess(mpg ~ wt, data = mtcars), "loess")
put(smooth.spline(mtcars$wt, mtcars$mpg), "smooth-spline")
put(ppr(mpg ~ wt + hp, data = mtcars, nterms = 2), "ppr")
put(arima(lh, order = c(1, 0, 0)), "arima")
put(StructTS(log10(UKgas), type = "BSM"), "structts")
put(prcomp(USArrests, scale. = TRUE), "prcomp")
put(princomp(USArrests, cor = TRUE), "princomp")
put(kmeans(scale(USArrests), 3), "kmeans")
put(hclust(dist(USArrests)), "hclust")
put(ecdf(rnorm(30)), "ecdf")
put(splinefun(1:10, sin(1:10)), "splinefun")
put(splinefun(1:10, sin(1:10), method = "natural"), "splinefun-natural")
put(approxfun(1:10, cos(1:10)), "approxfun")
put(stepfun(1:3, c(0, 1, 2, 3)), "stepfun")
put(density(faithful$eruptions), "density")
put(nlm(function(p) sum((p - 1:2)^2), c(0, 0)), "nlm")
put(optim(c(1, 1), function(p) sum((p - 3)^2)), "optim")
put(ksmooth(cars$speed, cars$dist, "normal", bandwidth = 2), "ksmooth")

# Variants (testdata/r/stats/variants/): the same objects with one thing changed. Each must
# be flagged as if the closure were unknown, or for what its environment now holds.
v <- file.path(out, "variants")
dir.create(v, showWarnings = FALSE)
vput <- function(x, name) saveRDS(x, file.path(v, paste0(name, ".rds")))
ig <- glm(yg ~ x, data = d, family = inverse.gaussian)
edit <- function(f, g) compiler::cmpfun(g(f))
sim <- ig$family$simulate
fit <- ig
fit$family$simulate <- edit(sim, function(f) { body(f) <- call("{", quote(system("true")), body(f)); f })
vput(fit, "simulate-calls-system")
fit <- ig
fit$family$simulate <- edit(sim, function(f) {
  body(f) <- do.call(substitute, list(body(f), list(nsim = quote(n))))
  f
})
vput(fit, "simulate-symbol-changed")
fit <- ig
fit$family$simulate <- edit(sim, function(f) { formals(f)$extra <- 1; f })
vput(fit, "simulate-formals-changed")
fit <- ig
e <- new.env(parent = environment(sim))
assign("requireNamespace", function(...) TRUE, envir = e)
environment(fit$family$simulate) <- e
vput(fit, "simulate-environment-binds-requireNamespace")
m <- nls(y ~ a * exp(b * x), start = list(a = 1, b = 0.2))
assign("form", y ~ a * exp(b * x) + system("true"), envir = environment(m$m$predict))
vput(m, "nls-form-calls-system")
m <- nls(y ~ a * exp(b * x), start = list(a = 1, b = 0.2))
assign("eval", function(...) 0, envir = environment(m$m$predict))
vput(m, "nls-environment-binds-eval")
