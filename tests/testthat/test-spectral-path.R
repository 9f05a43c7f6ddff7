# The spectral path (one relmat term, one observation per level) against the
# general blocked path on the same frame: same criterion, estimates and BLUPs.

make_grm_data <- function(n = 150, m = 60, seed = 3) {
  set.seed(seed)
  G <- matrix(rbinom(n * m, 2, 0.3), n)
  Z <- scale(G)
  K <- tcrossprod(Z) / m            # rank-deficient beyond m, and singular after centring
  ids <- paste0("id", seq_len(n))
  dimnames(K) <- list(ids, ids)
  d <- data.frame(id = sample(ids), x = rnorm(n), sex = factor(sample(c("f", "m"), n, TRUE)))
  g <- drop(Z %*% rnorm(m, sd = sqrt(0.6 / m)))
  names(g) <- ids
  d$y <- 1 + 0.5 * d$x + g[d$id] + rnorm(n, sd = 0.8)
  list(d = d, K = K)
}

general_fit <- function(formula, data, relmat, REML) {
  fr <- lmm_frame(formula, data, relmat = relmat)
  f <- lmm_devfun(fr, REML = REML)
  lmm_object(f, lmm_optimize(f))
}

test_that("spectral and general paths agree (REML and ML)", {
  s <- make_grm_data()
  for (reml in c(TRUE, FALSE)) {
    sp <- lmm(y ~ x + sex + (1 | id), s$d, REML = reml, relmat = list(id = s$K))
    expect_false(is.null(sp$spectral))
    gen <- general_fit(y ~ x + sex + (1 | id), s$d, list(id = s$K), reml)
    expect_null(gen$spectral)
    expect_equal(deviance(sp, REML = reml), deviance(gen, REML = reml), tolerance = 1e-9)
    expect_equal(sp$theta, gen$theta, tolerance = 1e-5)
    expect_equal(fixef(sp), fixef(gen), tolerance = 1e-6)
    expect_equal(sqrt(diag(vcov(sp))), sqrt(diag(vcov(gen))), tolerance = 1e-6)
    expect_equal(sigma(sp), sigma(gen), tolerance = 1e-6)
    rs <- as.data.frame(ranef(sp, condVar = TRUE))
    rg <- as.data.frame(ranef(gen, condVar = TRUE))
    expect_equal(rs$condval, rg$condval, tolerance = 1e-5)
    expect_equal(rs$condsd, rg$condsd, tolerance = 1e-5)
    expect_equal(unname(fitted(sp)), unname(fitted(gen)), tolerance = 1e-6)
  }
})

test_that("the spectral criterion equals the blocked one at any theta", {
  s <- make_grm_data(seed = 4)
  fr <- lmm_frame(y ~ x + (1 | id), s$d, relmat = list(id = s$K))
  for (reml in c(TRUE, FALSE)) {
    fs <- lmm_devfun_spectral(fr, REML = reml)
    fg <- lmm_devfun(fr, REML = reml)
    for (th in c(0, 0.3, 1, 2.5)) expect_equal(fs(th), fg(th), tolerance = 1e-10)
  }
})

test_that("repeated measures per level, or a second term, take the general path", {
  s <- make_grm_data(n = 40, seed = 5)
  d2 <- rbind(s$d, transform(s$d, y = y + rnorm(nrow(s$d))))
  fit <- lmm(y ~ x + (1 | id), d2, relmat = list(id = s$K))
  expect_null(fit$spectral)
  expect_true(is.finite(REMLcrit(fit)))
})
