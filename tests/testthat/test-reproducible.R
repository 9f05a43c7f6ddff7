# Same call, same bits: a fit, grm() and lmm_scan() give identical() results when
# called again in the same session (after other fits have changed the allocation
# pattern), in a fresh R session, and for any number of threads. These assertions
# are exact by design: any difference, even in the last bit, is the bug.

example_bed <- function() system.file("extdata", "example.bed", package = "lemma")

# Everything a report takes from a fit.
fit_key <- function(f) {
  list(fixef = fixef(f), theta = f$theta, ranef = ranef(f), logLik = logLik(f),
       vcov = vcov(f), coef = coef(summary(f)))
}

# A crossed random-slope model whose second term gives a dense 300 x 300 block, so
# the SIMD blocked Cholesky (and its threaded path) is used at every evaluation.
slope_data <- function() {
  set.seed(2)
  n <- 4000
  d <- data.frame(g = factor(sample(400, n, TRUE)), h = factor(sample(300, n, TRUE)),
                  x1 = rnorm(n), x2 = rnorm(n), x3 = rnorm(n))
  d$y <- rnorm(n) + 0.5 * rnorm(400)[d$g] + d$x1 * rnorm(400)[d$g] + rnorm(300)[d$h]
  d
}
slope_fit <- function(d, threads) {
  lmm(y ~ x1 + x2 + x3 + (x1 | g) + (1 | h), d, control = lmm_control(threads = threads))
}

# A relationship matrix over 260 levels with 5 records per level: the blocked path
# with a dense 260 x 260 relmat block.
relmat_data <- function() {
  set.seed(3)
  m <- 260
  W <- matrix(rbinom(m * 400, 2, 0.3), m)
  K <- tcrossprod(scale(W, scale = FALSE)) / 400 + diag(0.05, m)
  ids <- sprintf("i%03d", seq_len(m))
  dimnames(K) <- list(ids, ids)
  d <- data.frame(id = factor(rep(ids, each = 5), levels = ids), x = rnorm(5 * m))
  d$y <- 1 + 0.3 * d$x + drop(t(chol(K)) %*% rnorm(m))[d$id] + rnorm(5 * m)
  list(d = d, K = K)
}
relmat_fit <- function(r, threads) {
  lmm(y ~ x + (1 | id), r$d, relmat = list(id = r$K), control = lmm_control(threads = threads))
}

test_that("the SIMD Cholesky (AVX-512 or AVX2) gives the same bits wherever the matrix sits in memory, for 1, 2 and 3 threads", {
  set.seed(1)
  for (n in c(40, 300)) {
    M <- crossprod(matrix(rnorm(n * (n + 5)), n + 5)) / n + diag(n)
    ref <- lemma:::.simd_offset_probe("cholesky", M, matrix(0, 1, 1), 0L, 1L)
    skip_if(is.null(ref), "no SIMD kernel set on this CPU")
    # Against R's LAPACK Cholesky: a well-conditioned matrix (condition ~ 10), so the
    # factors agree to a few hundred ulps.
    expect_equal(ref[lower.tri(ref, diag = TRUE)], t(chol(M))[lower.tri(M, diag = TRUE)],
                 tolerance = 1e-12)
    # One thread factors whole panels; several threads share a fixed partition, so
    # 2 and 3 threads give the same bits.
    ref2 <- lemma:::.simd_offset_probe("cholesky", M, matrix(0, 1, 1), 0L, 2L)
    for (threads in 1:3) for (off in 0:7) {
      expect_identical(lemma:::.simd_offset_probe("cholesky", M, matrix(0, 1, 1), off, threads),
                       if (threads == 1L) ref else ref2,
                       label = sprintf("n = %d, %d thread(s), offset %d doubles", n, threads, off))
    }
  }
})

test_that("the same lmm() call gives identical fits in one session, after other fits, with 1 and with 2 threads", {
  d <- slope_data()
  first <- fit_key(slope_fit(d, 1L))
  # Fits of other sizes in between move later allocations to other addresses.
  junk <- list(lmm(Reaction ~ Days + (Days | Subject), sleepstudy),
               lmm(y ~ x1 + (1 | g) + (1 | h), d[1:1500, ]))
  expect_identical(fit_key(slope_fit(d, 1L)), first)
  first2 <- fit_key(slope_fit(d, 2L))
  junk <- lmm(y ~ x1 + (1 | g), d[1:2500, ])
  expect_identical(fit_key(slope_fit(d, 2L)), first2)
  # The relmat fit is cheap: repeat it between fits of several sizes (with the old
  # address-dependent kernel about one call in three differed).
  r <- relmat_data()
  rel1 <- fit_key(relmat_fit(r, 1L))
  rel2 <- fit_key(relmat_fit(r, 2L))
  for (m in c(1200, 2000, 2800)) {
    junk <- lmm(y ~ x2 + (1 | g), d[seq_len(m), ])
    expect_identical(fit_key(relmat_fit(r, 1L)), rel1)
    expect_identical(fit_key(relmat_fit(r, 2L)), rel2)
  }
})

test_that("lmm(), a relmat fit, grm() and lmm_scan() give identical results in two fresh R sessions", {
  skip_on_cran()
  script <- tempfile(fileext = ".R")
  out <- c(tempfile(fileext = ".rds"), tempfile(fileext = ".rds"))
  # The child sessions run the functions defined in this file on the same data.
  defs <- vapply(c("fit_key", "slope_data", "slope_fit", "relmat_data", "relmat_fit", "example_bed"),
                 function(nm) paste(nm, "<-", paste(deparse(get(nm)), collapse = "\n")), "")
  writeLines(c("suppressPackageStartupMessages(library(lemma))", defs,
               "out <- commandArgs(TRUE)[1]",
               "g <- read_plink(example_bed())",
               "K <- suppressMessages(grm(g))",
               "ok <- !is.na(g$fam$pheno)",
               "cv <- as.matrix(utils::read.table(system.file('extdata', 'example_covariates.txt', package = 'lemma')))",
               "null <- list(y = g$fam$pheno[ok], X = cv[ok, ], K = K[ok, ok], ids = g$fam$iid[ok])",
               "sc <- suppressMessages(lmm_scan(null, g, test = 'all'))",
               "saveRDS(list(slope = fit_key(slope_fit(slope_data(), 1L)),",
               "             relmat = fit_key(relmat_fit(relmat_data(), 1L)),",
               "             grm = K, scan = sc), out)"), script)
  # The children inherit this session's environment: OMP_NUM_THREADS also sets the
  # threads of an OpenBLAS, whose results (R's eigen(), crossprod() in the
  # Satterthwaite df) differ in the last bits between its thread counts.
  lib <- paste(.libPaths(), collapse = .Platform$path.sep)
  for (o in out) {
    status <- system2(file.path(R.home("bin"), "Rscript"), c("--vanilla", shQuote(script), shQuote(o)),
                      env = paste0("R_LIBS=", lib), stdout = FALSE, stderr = FALSE)
    expect_identical(status, 0L)
  }
  a <- readRDS(out[1])
  b <- readRDS(out[2])
  for (nm in names(a)) expect_identical(b[[nm]], a[[nm]], label = paste("second session:", nm))
  # ... and this session's fit equals theirs.
  expect_identical(fit_key(slope_fit(slope_data(), 1L)), a$slope)
})

test_that("OMP_NUM_THREADS sets the default thread count and is validated", {
  old <- Sys.getenv("OMP_NUM_THREADS", unset = NA)
  oldopt <- options(lemma.threads = NULL)
  on.exit({
    if (is.na(old)) Sys.unsetenv("OMP_NUM_THREADS") else Sys.setenv(OMP_NUM_THREADS = old)
    options(oldopt)
  })
  Sys.unsetenv("OMP_NUM_THREADS")
  expect_identical(lmm_control()$threads, 1L)
  Sys.setenv(OMP_NUM_THREADS = "3")
  expect_identical(lmm_control()$threads, 3L)
  Sys.setenv(OMP_NUM_THREADS = "2,1")
  expect_identical(lmm_control()$threads, 2L)
  expect_identical(lmm_control(threads = 1)$threads, 1L)
  options(lemma.threads = 4L)
  expect_identical(lmm_control()$threads, 4L)
  options(lemma.threads = NULL)
  for (bad in c("0", "two", "1.5", "-1")) {
    Sys.setenv(OMP_NUM_THREADS = bad)
    expect_error(lmm_control(), "lmm_control\\(\\): 'OMP_NUM_THREADS", label = bad)
  }
  options(lemma.threads = 0)
  expect_error(lmm_control(), "'options\\(lemma.threads\\)'")
})
