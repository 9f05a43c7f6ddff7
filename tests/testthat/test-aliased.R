## Aliased fixed-effect columns: lmm_frame() screens X'X (scaled to unit diagonal)
## before the pivoted QR and runs the QR whenever a column's relative residual on
## the columns before it is below 1e-5; the QR drops columns whose relative residual
## falls below 1e-7, as lme4 does. The cases straddle both thresholds.

test_that("columns near the aliasing threshold are kept or dropped as lme4 decides", {
  set.seed(21)
  n <- 400
  d <- data.frame(g = factor(rep(1:40, each = 10)), x1 = rnorm(n), z = rnorm(n))
  d$y <- d$x1 + rnorm(40)[d$g] + rnorm(n)
  for (eps in c(1e-3, 1e-6, 1e-9)) {
    d$x2 <- d$x1 + eps * d$z  # relative residual of x2 on x1 about eps
    ## (x1 and x2 this close make the REML criterion's log|R_X| term noisy, and the
    ## finite-difference convergence check may warn: not what is tested here)
    fit <- suppressWarnings(suppressMessages(lmm(y ~ x1 + x2 + (1 | g), d)))
    keep_lemma <- names(fixef(fit))
    ref <- suppressMessages(suppressWarnings(lme4::lmer(y ~ x1 + x2 + (1 | g), d)))
    expect_identical(keep_lemma, names(lme4::fixef(ref)), label = sprintf("kept columns, eps = %g", eps))
    expect_identical("x2" %in% keep_lemma, eps > 1e-7)
  }
  ## an exact copy is dropped with a message naming it
  d$x3 <- 2 * d$x1
  expect_message(fit <- lmm(y ~ x1 + x3 + (1 | g), d), "dropping 1 column / coefficient: x3")
  expect_identical(names(fixef(fit)), c("(Intercept)", "x1"))
  ## the screen itself: full rank, and not
  X <- cbind(1, d$x1, d$z)
  expect_true(lemma:::full_column_rank(X))
  expect_false(lemma:::full_column_rank(cbind(X, d$x1 + 1e-6 * d$z)))
  expect_false(lemma:::full_column_rank(cbind(X, 0)))
})

test_that("the one-pass value summary counts non-finite values and finds the extreme magnitudes", {
  x <- c(0, -3, 2e-200, NA, Inf, 5, -1e160, NaN)
  v <- lemma:::.value_summary(x)
  expect_identical(v, c(3, 1e160, 2e-200))
  expect_identical(lemma:::.value_summary(c(0, 0)), c(0, 0, Inf))
  d <- data.frame(y = rnorm(20), g = factor(rep(1:5, 4)), x = 1e-200 * rnorm(20))
  expect_error(lmm(y ~ x + (1 | g), d), "outside what double-precision")
  d$x <- c(1e-200, rnorm(19))  # one tiny value in a column on a usual scale is fine
  expect_s3_class(lmm(y ~ x + (1 | g), d), "lemma_fit")
  d$x[3] <- Inf
  expect_error(lmm(y ~ x + (1 | g), d), "non-finite values in column\\(s\\) 'x'")
})
