# Installs lemma from this checkout into a temporary library, runs the testthat
# suite, and ends with the line "N passed, N failed" (", N skipped") that CI reads.
# Usage, from the package root: Rscript .ci/run-tests.R
lib <- file.path(tempdir(), "lemma-lib")
dir.create(lib, showWarnings = FALSE)
## the compiler's output goes to a log, shown (its tail) only if the install fails
log <- file.path(tempdir(), "lemma-install.log")
status <- system2(file.path(R.home("bin"), "R"),
                  c("CMD", "INSTALL", "--preclean", "--no-test-load", paste0("--library=", shQuote(lib)), "."),
                  stdout = log, stderr = log)
if (status != 0) {
  writeLines(utils::tail(readLines(log), 40))
  cat("0 passed, 1 failed\n")
  quit(status = 1)
}
cat("lemma installed from this checkout\n")
.libPaths(c(lib, .libPaths()))
Sys.setenv(NOT_CRAN = "true")
library(testthat)
library(lemma)
res <- as.data.frame(testthat::test_dir("tests/testthat", reporter = "summary",
                                        stop_on_failure = FALSE, load_package = "none"))
failed <- sum(res$failed) + sum(res$error)
passed <- sum(res$passed)
skipped <- sum(res$skipped)
cat(sprintf("%d passed, %d failed, %d skipped\n", passed, failed, skipped))
quit(status = if (failed > 0) 1 else 0)
