# R objects that carry code, built for a function name `fn` called with "true": the malicious R
# fixtures (fn = "system", via testdata/generate/r.py) and the loader oracle's payload/canary
# twins (tests/oracle/r_load.R: fn = "system" and fn = "canary_hit"). Written with saveRDS/save
# of the running R, uncompressed (the engine's gzip/xz path is exercised by the benign fixtures).
#
# Each case is a way an object read with readRDS/load runs code when used: an unevaluated
# promise in an environment (delayedAssign), an active binding, a closure a model keeps as a
# function, a closure naming the function by string (do.call), byte code (compiler::cmpfun), the
# `call` of an lm object (evaluated by update()), and a workspace holding such an environment.

build_cases <- function(fn, dir, suffix = "") {
  the_call <- call(fn, "true")
  out <- function(name) file.path(dir, paste0(name, suffix))
  e <- new.env(parent = emptyenv())
  eval(bquote(delayedAssign("x", .(the_call), assign.env = e)))
  saveRDS(e, out("promise-in-environment.rds"), compress = FALSE)

  e <- new.env(parent = emptyenv())
  makeActiveBinding("x", eval(bquote(function() .(the_call)), globalenv()), e)
  saveRDS(e, out("active-binding.rds"), compress = FALSE)

  f <- eval(bquote(function(newdata) .(the_call)), globalenv())
  saveRDS(list(coefficients = c(a = 1, b = 2), predict = f), out("closure-in-model.rds"),
          compress = FALSE)

  g <- eval(bquote(function(newdata) do.call(.(fn), list("true"))), globalenv())
  saveRDS(list(coefficients = c(a = 1), predict = g), out("do-call-by-name.rds"), compress = FALSE)

  saveRDS(list(predict = compiler::cmpfun(f)), out("byte-code-closure.rds"), compress = FALSE)

  m <- lm(mpg ~ wt, data = mtcars)
  m$call <- the_call
  saveRDS(m, out("lm-call-replaced.rds"), compress = FALSE)

  model_env <- new.env(parent = emptyenv())
  eval(bquote(delayedAssign("weights", .(the_call), assign.env = model_env)))
  save(model_env, file = out("workspace-promise.RData"), compress = FALSE)
}

# Touches an object the way a user of a model does: reads every variable of an environment
# (forcing promises, calling active bindings), calls functions, evaluates calls (as update()
# does), and walks lists.
use_object <- function(x, depth = 0) {
  if (depth > 6) return(invisible())
  if (is.environment(x)) {
    for (n in ls(x, all.names = TRUE)) try(use_object(get(n, envir = x), depth + 1), silent = TRUE)
  } else if (is.function(x)) {
    try(x(), silent = TRUE)
  } else if (is.call(x)) {
    try(eval(x, globalenv()), silent = TRUE)
  } else if (is.list(x)) {
    for (el in x) try(use_object(el, depth + 1), silent = TRUE)
  }
  invisible()
}
