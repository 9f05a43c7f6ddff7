# The dense kernel sets (src/dense_simd*.cpp: AVX-512, AVX2 + FMA, or Eigen's
# portable code and LAPACK) agree with each other and with lme4. The set is chosen
# once per session, capped by the environment variable LEMMA_SIMD, so each set runs
# in a child R session. References: ref/simd_refs.rds (ref/make-ref-simd.R), live
# where lme4 is installed.

simd_levels <- c("avx512", "avx2", "none")

# A well-conditioned SPD matrix (condition ~ 10) and its lower Cholesky factor with
# the upper triangle zeroed (the input of the inverse kernel).
spd_test_matrix <- function(n) {
  set.seed(1)
  M <- crossprod(matrix(rnorm(n * (n + 5)), n + 5)) / n + diag(n)
  L <- t(chol(M))
  list(M = M, L = L)
}

# Everything the comparison needs from one session: its kernel set, the criterion
# and the exact gradient at lme4's fixed theta (threads 2: the threaded Cholesky
# and inverse), the fit with 1 and with 2 threads, and the raw kernels.
simd_child_run <- function(ref_path) {
  ref <- readRDS(ref_path)
  out <- list(level = lemma:::.simd_level())
  fr <- lmm_frame(ref$formula, ref$data)
  ptr <- lemma:::new_model_ptr(fr, 2L)
  g <- lemma:::.model_objective_gradient(ptr, ref$theta_fixed, TRUE)
  out$crit_fixed <- as.numeric(g)
  out$grad_fixed <- attr(g, "gradient")
  out$fits <- lapply(1:2, function(th) {
    f <- lmm(ref$formula, ref$data, control = lmm_control(threads = th))
    list(crit = REMLcrit(f), theta = unname(f$theta), fixef = fixef(f))
  })
  if (out$level != "none") {
    s <- spd_test_matrix(600)
    z <- matrix(0, 1, 1)
    out$chol <- lapply(1:2, function(th) lemma:::.simd_offset_probe("cholesky", s$M, z, 0L, th))
    out$inverse <- lapply(1:2, function(th) lemma:::.simd_offset_probe("inverse", s$L, z, 0L, th))
  }
  out
}

# Runs simd_child_run() in a fresh R session with LEMMA_SIMD = level.
run_simd_child <- function(level) {
  script <- tempfile(fileext = ".R")
  out <- tempfile(fileext = ".rds")
  defs <- vapply(c("spd_test_matrix", "simd_child_run"),
                 function(nm) paste(nm, "<-", paste(deparse(get(nm)), collapse = "\n")), "")
  writeLines(c("suppressPackageStartupMessages(library(lemma))", defs,
               "a <- commandArgs(TRUE)",
               "saveRDS(simd_child_run(a[1]), a[2])"), script)
  lib <- paste(.libPaths(), collapse = .Platform$path.sep)
  status <- system2(file.path(R.home("bin"), "Rscript"),
                    c("--vanilla", shQuote(script), shQuote(testthat::test_path("ref", "simd_refs.rds")), shQuote(out)),
                    env = c(paste0("R_LIBS=", lib), paste0("LEMMA_SIMD=", level), "OMP_NUM_THREADS=1"),
                    stdout = FALSE, stderr = FALSE)
  expect_identical(status, 0L, label = paste("child session with LEMMA_SIMD =", level))
  readRDS(out)
}

lower_of <- function(A) A[lower.tri(A, diag = TRUE)]

test_that("the selected-inverse kernel agrees with chol2inv() and gives the same bits wherever the matrix sits and for any number of threads", {
  s <- spd_test_matrix(600)
  z <- matrix(0, 1, 1)
  ref1 <- lemma:::.simd_offset_probe("inverse", s$L, z, 0L, 1L)
  skip_if(is.null(ref1), "no SIMD kernel set on this CPU")
  ref2 <- lemma:::.simd_offset_probe("inverse", s$L, z, 0L, 2L)
  # Condition ~ 10: the inverse is accurate to a few hundred ulps of its largest
  # entry, whatever the order of the sums.
  ref <- chol2inv(t(s$L))
  for (r in list(ref1, ref2))
    expect_lt(max(abs(lower_of(r) - lower_of(ref))) / max(abs(ref)), 1e-13)
  # A fixed partition of each panel whatever the number of threads: the same bits
  # for any thread count.
  for (threads in 1:3) for (off in c(0L, 3L, 7L)) {
    got <- lemma:::.simd_offset_probe("inverse", s$L, z, off, threads)
    expect_identical(lower_of(got), lower_of(ref1),
                     label = sprintf("%d thread(s), offset %d doubles", threads, off))
  }
})

test_that("LEMMA_SIMD caps the kernel set; a bad value is an error naming it", {
  skip_on_cran()
  here <- lemma:::.simd_level()
  expect_true(here %in% simd_levels)
  script <- tempfile(fileext = ".R")
  writeLines(c("suppressPackageStartupMessages(library(lemma))",
               "cat(tryCatch(lemma:::.simd_level(), error = function(e) conditionMessage(e)))"), script)
  level_in_child <- function(value) {
    lib <- paste(.libPaths(), collapse = .Platform$path.sep)
    system2(file.path(R.home("bin"), "Rscript"), c("--vanilla", shQuote(script)),
            env = c(paste0("R_LIBS=", lib), paste0("LEMMA_SIMD=", value)), stdout = TRUE)
  }
  # Unset or "avx512": the best set the CPU and the build allow (this session's).
  expect_identical(level_in_child("avx512"), here)
  expect_identical(level_in_child(""), here)
  expect_identical(level_in_child("avx2"), if (here == "none") "none" else "avx2")
  expect_identical(level_in_child("none"), "none")
  expect_match(level_in_child("avx3"), "LEMMA_SIMD is 'avx3'; use \"avx512\", \"avx2\" or \"none\"", fixed = TRUE)
})

test_that("the AVX-512, AVX2 and portable kernel sets agree with each other and with lme4 on a crossed fit", {
  skip_on_cran()
  ref <- load_ref("simd_refs.rds")
  runs <- lapply(simd_levels, run_simd_child)
  names(runs) <- simd_levels
  used <- vapply(runs, function(r) r$level, "")
  expect_identical(used[["none"]], "none")
  base <- runs[["none"]]
  for (lv in unique(used)) {
    r <- runs[[match(lv, used)]]
    what <- paste("kernel set", lv)
    # The REML criterion at a fixed theta against lme4's (CHOLMOD's sparse
    # factor): two factorizations of the same matrix in double precision, whose
    # log-determinants agree to ~1e-15 relative (measured); 1e-10 of a criterion
    # of 26,000 leaves room for other compilers, not for a wrong factor.
    expect_equal(r$crit_fixed, ref$crit_fixed, tolerance = 1e-10, label = paste(what, "criterion at theta"))
    # Between kernel sets: the same formulas, sums in another order. Measured:
    # criterion 1e-16, gradient (through the selected inverse of the 540 x 540
    # trailing block, condition ~ 1e2) 4e-15 relative; 1e-12 and 1e-10 allowed.
    expect_equal(r$crit_fixed, base$crit_fixed, tolerance = 1e-12, label = paste(what, "criterion vs portable"))
    expect_equal(r$grad_fixed, base$grad_fixed, tolerance = 1e-10, label = paste(what, "gradient vs portable"))
    for (th in 1:2) {
      f <- r$fits[[th]]
      label <- sprintf("%s, %d thread(s)", what, th)
      # The optimum: at least as low as lme4's best (1e-6 criterion units, as in
      # test-optimum.R), and the same optimum for every set and thread count.
      # Measured between sets: criterion 3e-11 units, theta and fixef 1e-13
      # relative (the same Newton path up to rounding). Allowed: 1e-8 units, and
      # 1e-6 relative for theta and fixef, which a path that branched differently
      # would still meet (Newton converges to ~1e-8 in theta) and a wrong kernel
      # would not. lme4's own optimizers stop 1e-6 apart (ref$lme4_fits): 1e-5.
      expect_lte(f$crit, ref$lme4_best + 1e-6, label = paste(label, "criterion"))
      expect_lt(abs(f$crit - base$fits[[1]]$crit), 1e-8, label = paste(label, "criterion - portable"))
      expect_equal(f$theta, base$fits[[1]]$theta, tolerance = 1e-6, label = paste(label, "theta vs portable"))
      expect_equal(f$theta, ref$lme4_best_theta, tolerance = 1e-5, label = paste(label, "theta vs lme4"))
      expect_equal(f$fixef, base$fits[[1]]$fixef, tolerance = 1e-6, label = paste(label, "fixef vs portable"))
    }
    if (lv != "none") {
      s <- spd_test_matrix(600)
      for (th in 1:2) {
        expect_equal(lower_of(r$chol[[th]]), lower_of(s$L), tolerance = 1e-13,
                     label = sprintf("%s Cholesky, %d thread(s)", what, th))
        expect_equal(lower_of(r$inverse[[th]]), lower_of(chol2inv(t(s$L))), tolerance = 1e-13,
                     label = sprintf("%s inverse, %d thread(s)", what, th))
      }
    }
  }
})

test_that("the crossed fit agrees with lme4 live", {
  skip_on_cran()
  skip_if_not_installed("lme4")
  ref <- load_ref("simd_refs.rds")
  lf <- lme4::lFormula(ref$formula, ref$data, REML = TRUE)
  devfun <- do.call(lme4::mkLmerDevfun, lf)
  fit <- lmm(ref$formula, ref$data, control = lmm_control(threads = 2L))
  # lme4's criterion at lemma's optimum equals lemma's (the same function), and
  # no lme4 optimizer finds a lower one.
  expect_equal(devfun(fit$theta), REMLcrit(fit), tolerance = 1e-10)
  expect_equal(devfun(ref$theta_fixed), ref$crit_fixed, tolerance = 1e-10)
  expect_lte(REMLcrit(fit), ref$lme4_best + 1e-6)
})
