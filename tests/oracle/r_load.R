# R loader oracle (tests/loader_oracle.rs). Two modes:
#   Rscript r_load.R write DIR        writes every case of testdata/generate/r_cases.R twice:
#                                     <case> calling system("true") (payload) and <case>.canary
#                                     calling canary_hit("true"); prints the case names.
#   Rscript r_load.R use FILE MARKER  defines canary_hit (which writes MARKER), reads FILE with
#                                     readRDS (or load for .RData) and uses the object the way a
#                                     model's user does; prints "reached" when the canary ran.
args <- commandArgs(trailingOnly = TRUE)
here <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1]))
source(file.path(here, "..", "..", "testdata", "generate", "r_cases.R"))
if (args[1] == "write") {
  build_cases("system", args[2])
  build_cases("canary_hit", args[2], suffix = ".canary")
  cat(sort(list.files(args[2], pattern = "\\.canary$")), sep = "\n")
} else {
  marker <- args[3]
  canary_hit <- function(...) { writeLines("hit", marker); invisible(0) }
  assign("canary_hit", canary_hit, envir = globalenv())
  f <- args[2]
  if (grepl("\\.RData", f)) {
    e <- new.env()
    names <- load(f, envir = e)
    use_object(e)
  } else {
    use_object(readRDS(f))
  }
  if (file.exists(marker)) cat("reached\n") else cat("not reached\n")
}
