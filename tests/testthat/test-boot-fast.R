## The refit loops of the bootstrap (R/boot-refit.R: one private copy of the model
## per loop, only its response cross-products replaced for each replicate) and of
## the profile (R/profile.R: Newton steps carried from point to point).

test_that("the refit loop reaches the optimum of a full lmm() fit of each response", {
  ## 20 responses from two designs (a correlated random slope by REML, a nested
  ## design by ML). The full fit builds its model from the data and starts from
  ## lmm()'s default theta; both end with a Newton decrement below 1e-9, so the
  ## criteria agree to 1e-8 unless one stopped elsewhere. theta is as close as that
  ## stopping rule makes two converged fits: |d theta|_H < sqrt(2e-9) each side,
  ## under 1e-5 on sleepstudy's curvature, up to 2.5e-5 on the flatter ML criterion
  ## of the nested design (whose theta is 2-5), hence 5e-5 there.
  cases <- list(
    list(formula = Reaction ~ Days + (Days | Subject), data = sleepstudy, REML = TRUE, tol = 1e-5),
    list(formula = strength ~ 1 + (1 | batch / cask), data = Pastes, REML = FALSE, tol = 5e-5))
  for (cs in cases) {
    fit <- lmm(cs$formula, cs$data, REML = cs$REML)
    crit <- function(f) if (cs$REML) REMLcrit(f) else deviance(f)
    crit0 <- crit(fit)
    sims <- simulate(fit, nsim = 10, seed = 11)
    rf <- lemma:::response_refitter(fit)
    yname <- all.vars(cs$formula[[2]])
    for (i in seq_along(sims)) {
      o <- rf(sims[[i]])
      d <- cs$data
      d[[yname]] <- sims[[i]]
      full <- lmm(cs$formula, d, REML = cs$REML)
      expect_lt(abs(o$crit - crit(full)), 1e-8)
      expect_lt(max(abs(o$theta - full$theta)), cs$tol)
      expect_equal(o$beta, fixef(full), tolerance = cs$tol)
      expect_equal(o$sigma, sigma(full), tolerance = cs$tol)
      expect_true(o$converged)
    }
    ## the loop's model is a copy: the fit's own model still has the fit's response
    expect_equal(lemma:::.model_objective(lemma:::model_ptr(fit), fit$theta, cs$REML), crit0, tolerance = 1e-12)
  }
})

test_that("bootstrap replicates are lme4's fits of the same simulated responses", {
  skip_if_not_installed("lme4")
  ## confint() refits the responses simulate() draws for the same seed; each
  ## replicate against lmer() on the data with that response (not lme4's refit(),
  ## which in lme4 1.1-31 stops at a higher REML criterion on these responses). The
  ## statistics differ by the optimizers' tolerances: 1e-3 relative, as the bootMer
  ## comparison in test-varcomp.R.
  future::plan(future::sequential)
  fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
  ci <- suppressWarnings(confint(fit, method = "boot", nsim = 20, seed = 7))  # warns: nsim < 39
  M <- attr(ci, "boot")
  expect_identical(colnames(M), c(".sig01", ".sig02", ".sig03", ".sigma", "(Intercept)", "Days"))
  expect_identical(attr(M, "nonconverged"), integer(0))
  sims <- simulate(fit, nsim = 20, seed = 7)
  ref <- t(vapply(sims, function(y) {
    m <- suppressMessages(lme4::lmer(Reaction ~ Days + (Days | Subject), transform(lme4::sleepstudy, Reaction = y)))
    c(as.data.frame(lme4::VarCorr(m), order = "lower.tri")$sdcor, lme4::fixef(m))
  }, numeric(6)))
  for (j in seq_len(ncol(M)))
    expect_equal(unname(M[, j]), unname(ref[, j]), tolerance = 1e-3, label = colnames(M)[j])
})

test_that("a spectral fit (relationship matrix) goes through the same loop", {
  ## the refit of each response against lmm() on the data with that response
  set.seed(3)
  n <- 60
  G <- matrix(rbinom(n * 30, 2, 0.3), n)
  K <- tcrossprod(scale(G)) / 30 + diag(1e-3, n)
  ids <- paste0("id", seq_len(n))
  dimnames(K) <- list(ids, ids)
  d <- data.frame(id = ids, x = rnorm(n))
  d$y <- 1 + 0.5 * d$x + drop(t(chol(K)) %*% rnorm(n, sd = 0.8)) + rnorm(n)
  fit <- lmm(y ~ x + (1 | id), d, relmat = list(id = K))
  expect_false(is.null(fit$spectral))
  sims <- simulate(fit, nsim = 4, seed = 2)
  rf <- lemma:::response_refitter(fit)
  for (i in seq_along(sims)) {
    o <- rf(sims[[i]])
    d2 <- transform(d, y = sims[[i]])
    full <- lmm(y ~ x + (1 | id), d2, relmat = list(id = K))
    expect_lt(abs(o$crit - REMLcrit(full)), 1e-8)
    expect_lt(abs(o$theta - full$theta), 1e-5)
    expect_equal(o$beta, fixef(full), tolerance = 1e-6)
  }
})

test_that("profile points are minima of lme4's ML deviance with the parameter held", {
  skip_if_not_installed("lme4")
  ## lme4's deviance on the sd/cor/sigma scale (its profile's devfun2) at lemma's
  ## points: it equals zeta^2 above lme4's ML deviance, and BOBYQA on the other
  ## parameters from there finds nothing lower. A fixed-effect point against lmer()
  ## with that effect in the offset. lme4's ML optimum is good to about 1e-6 here,
  ## so the deviances agree to 1e-4 (zeta to about 1e-4 / (2 |zeta|)).
  fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
  fm <- lme4::lmer(Reaction ~ Days + (Days | Subject), lme4::sleepstudy, REML = FALSE)
  base <- deviance(fm)
  dd <- lme4:::devfun2(fm, useSc = TRUE)
  pr <- profile(fit, which = c(".sig01", ".sig02", ".sigma", "Days"))
  vn <- c(".sig01", ".sig02", ".sig03", ".sigma")
  for (nm in c(".sig01", ".sig02", ".sigma")) {
    rows <- pr[pr$.par == nm & abs(pr$.zeta) > 0.5 & abs(pr$.zeta) < 2.6, , drop = FALSE]
    expect_gte(nrow(rows), 4L)
    for (r in seq_len(nrow(rows))) {
      v <- unlist(rows[r, vn])
      expect_lt(abs(dd(v) - base - rows$.zeta[r]^2), 1e-4)
      k <- match(nm, vn)
      lo <- c(0, -1, 0, 0)[-k]
      up <- c(Inf, 1, Inf, Inf)[-k]
      g <- function(x) dd(replace(v, -k, x))
      o <- minqa::bobyqa(pmin(pmax(v[-k], lo + 1e-4), up - 1e-4), g, lower = lo, upper = up,
                         control = list(rhobeg = 1e-2, rhoend = 1e-8))
      expect_gt(o$fval, dd(v) - 1e-4)
    }
  }
  rows <- pr[pr$.par == "Days" & abs(pr$.zeta) > 0.5, , drop = FALSE][c(1, 3), ]
  for (r in seq_len(nrow(rows))) {
    b <- rows$Days[r]
    d <- transform(lme4::sleepstudy, off = Days * b)
    m <- lme4::lmer(Reaction ~ 1 + (Days | Subject), d, REML = FALSE, offset = off)
    expect_lt(abs(deviance(m) - base - rows$.zeta[r]^2), 1e-4)
  }
})

test_that("a refit whose convergence checks warn is flagged, its estimates kept", {
  ## an evaluation limit far below what BOBYQA needs: lmm_optimize() warns that
  ## maxfun was reached, which the loop records instead of repeating the warning
  fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
  rf <- lemma:::response_refitter(fit, lmm_control(maxfun = 10))
  o <- expect_silent(rf(simulate(fit, nsim = 1, seed = 3)[[1]]))
  expect_false(o$converged)
  expect_true(all(is.finite(c(o$theta, o$beta, o$sigma))))
})

test_that("the bootstrap of a fit with na.exclude refits the complete rows", {
  ## simulate() pads the dropped rows with NA; the refits use the other rows, as
  ## refit() does: the default statistics equal those of refit() on each response
  d <- sleepstudy
  d$Reaction[c(3, 50, 101)] <- NA
  fit <- lmm(Reaction ~ Days + (Days | Subject), d, na.action = na.exclude)
  ci <- confint(fit, method = "boot", nsim = 3, seed = 5, boot.type = "norm")
  sims <- simulate(fit, nsim = 3, seed = 5)
  ref <- t(vapply(sims, function(y) lemma:::boot_default_stat(refit(fit, y)), numeric(6)))
  expect_equal(unname(attr(ci, "boot")[1:3, ]), unname(ref), tolerance = 1e-6)
})
