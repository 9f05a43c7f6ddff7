example_bed <- function() system.file("extdata", "example.bed", package = "lemma")

example_null <- function() {
  g <- read_plink(example_bed())
  K <- suppressMessages(grm(g))
  cv <- as.matrix(utils::read.table(system.file("extdata", "example_covariates.txt",
                                                package = "lemma")))
  ok <- !is.na(g$fam$pheno)
  list(y = g$fam$pheno[ok], X = cv[ok, ], K = K[ok, ok])
}

# dense (RE)ML log-likelihood, lme4 convention, for checking
dense_loglik <- function(lambda, y, X, K, REML) {
  n <- length(y); p <- ncol(X)
  H <- lambda * K + diag(n)
  R <- chol(H)
  Xs <- backsolve(R, X, transpose = TRUE); ys <- backsolve(R, y, transpose = TRUE)
  XtX <- crossprod(Xs)
  b <- solve(XtX, crossprod(Xs, ys))
  r2 <- sum((ys - Xs %*% b)^2)
  ldH <- 2 * sum(log(diag(R)))
  if (REML) {
    df <- n - p
    -0.5 * (ldH + as.numeric(determinant(XtX)$modulus) + df * (1 + log(2 * pi * r2 / df)))
  } else {
    -0.5 * (ldH + n * (1 + log(2 * pi * r2 / n)))
  }
}

test_that("spectral_fit reproduces GEMMA's null model (centred K)", {
  d <- example_null()
  reml <- lemma:::spectral_fit(d$y, d$X, d$K, REML = TRUE, center = TRUE)
  ml <- lemma:::spectral_fit(d$y, d$X, d$K, REML = FALSE, center = TRUE)
  # values printed in tests/testthat/ref/gemma/example_lmm4.log.txt (6 digits)
  expect_equal(reml$logl_gemma, -676.376, tolerance = 1e-6)
  expect_equal(ml$logl_gemma, -679.564, tolerance = 1e-6)
  expect_equal(reml$sigma2_g, 3.87931, tolerance = 1e-5)
  expect_equal(reml$sigma2_e, 0.912133, tolerance = 1e-5)
  expect_equal(unname(reml$beta), c(0.473926, 0.464966, 0.0203104), tolerance = 1e-5)
  expect_equal(unname(reml$se), c(0.227126, 0.129782, 0.00453476), tolerance = 1e-5)
})

test_that("spectral_fit maximizes the dense likelihood", {
  d <- example_null()
  for (REML in c(TRUE, FALSE)) {
    fit <- lemma:::spectral_fit(d$y, d$X, d$K, REML = REML)
    expect_equal(fit$logLik, dense_loglik(fit$lambda, d$y, d$X, d$K, REML),
                 tolerance = 1e-9)
    opt <- optimize(function(t) dense_loglik(exp(t), d$y, d$X, d$K, REML),
                    c(-5, 5), maximum = TRUE, tol = 1e-10)
    expect_equal(log(fit$lambda), opt$maximum, tolerance = 1e-5)
    expect_gte(fit$logLik, opt$objective - 1e-9)
    # GLS estimates at the optimum
    H <- fit$lambda * d$K + diag(length(d$y))
    Hi <- solve(H)
    V <- solve(t(d$X) %*% Hi %*% d$X)
    b <- V %*% t(d$X) %*% Hi %*% d$y
    expect_equal(unname(fit$beta), unname(drop(b)), tolerance = 1e-8)
    expect_equal(unname(fit$se), unname(sqrt(diag(V) * fit$sigma2_e)), tolerance = 1e-8)
  }
})

test_that("with an intercept, centring K does not change the REML fit", {
  d <- example_null()
  a <- lemma:::spectral_fit(d$y, d$X, d$K, center = FALSE)
  b <- lemma:::spectral_fit(d$y, d$X, d$K, center = TRUE)
  expect_equal(a$lambda, b$lambda, tolerance = 1e-7)
  expect_equal(a$logLik, b$logLik, tolerance = 1e-9)
  # the decomposition is reusable
  c2 <- lemma:::spectral_fit(d$y, d$X, eigen = b$eigen)
  expect_identical(c2$lambda, b$lambda)
})

test_that("boundary solutions are returned, not NaN", {
  set.seed(3)
  n <- 60
  K <- tcrossprod(matrix(rnorm(n * 5), n)) / 5
  y <- rnorm(n)   # no genetic signal: lambda at or near the lower bound
  fit <- lemma:::spectral_fit(y, matrix(1, n), K, REML = FALSE)
  expect_true(is.finite(fit$lambda) && is.finite(fit$logLik))
  expect_gte(fit$lambda, 1e-5)
  expect_gte(fit$logLik, dense_loglik(1e-5, y, matrix(1, n), K, FALSE) - 1e-9)
  expect_error(lemma:::spectral_fit(y, cbind(1, 1:n, 2 * (1:n)), K), "rank deficient")
})
