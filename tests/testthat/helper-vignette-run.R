## Run a vignette's R code (extracted with knitr::purl) in a fresh environment and
## return that environment, so that a test can check the vignette's own objects
## against an independent tool. The .Rmd is looked up in the source tree
## (vignettes/) and then in the installed package (doc/); the test is skipped when
## neither is there (e.g. R CMD check of an installed package without vignettes).
run_vignette <- function(name) {
  testthat::skip_if_not_installed("knitr")
  cand <- c(testthat::test_path("..", "..", "vignettes", name),
            system.file("doc", name, package = "lemma"))
  rmd <- cand[nzchar(cand) & file.exists(cand)][1]
  if (is.na(rmd)) testthat::skip(paste("vignette source not found:", name))
  code <- tempfile(fileext = ".R")
  on.exit(unlink(code))
  knitr::purl(rmd, output = code, quiet = TRUE, documentation = 0)
  env <- new.env(parent = globalenv())
  grDevices::pdf(NULL)
  dev <- grDevices::dev.cur()
  on.exit(grDevices::dev.off(dev), add = TRUE)
  utils::capture.output(suppressMessages(sys.source(code, envir = env)))
  env
}
