## varcomp() and icc(): variance components, shares and intraclass correlations
## with parametric-bootstrap intervals.

test_that("varcomp() and icc() estimates are lme4's variance components and the ANOVA ICC", {
  skip_if_not_installed("lme4")
  fit <- lmm(strength ~ 1 + (1 | batch / cask), Pastes)
  fm <- lme4::lmer(strength ~ 1 + (1 | batch / cask), lme4::Pastes)
  v <- as.data.frame(lme4::VarCorr(fm))$vcov          # cask:batch, batch, residual
  vc <- varcomp(fit, nsim = 40, seed = 1)
  expect_identical(vc$grp, c("cask:batch", "batch", "Residual"))
  ## 1e-4: the two optima agree to ~1e-6 in theta
  expect_equal(vc$variance, v, tolerance = 1e-4)
  expect_equal(vc$sd, sqrt(v), tolerance = 1e-4)
  expect_equal(vc$share, v / sum(v), tolerance = 1e-4)
  ## two samples of the same cask share cask and batch; two casks of a batch only the batch
  ic <- icc(fit, nsim = 40, seed = 1)
  expect_equal(ic$icc, c(sum(v[1:2]), v[2]) / sum(v), tolerance = 1e-4)
  ## one-way balanced layout: the REML ICC is the ANOVA estimator
  ## (MSB - MSW) / (MSB + (k - 1) MSW) when that is positive (k = 5 per batch)
  fit1 <- lmm(Yield ~ 1 + (1 | Batch), Dyestuff)
  a <- stats::anova(stats::lm(Yield ~ Batch, Dyestuff))
  msb <- a[1, "Mean Sq"]; msw <- a[2, "Mean Sq"]
  expect_equal(icc(fit1, nsim = 40, seed = 1)$icc, (msb - msw) / (msb + 4 * msw), tolerance = 1e-5)
})

test_that("icc() of crossed factors counts only the factor's own variance", {
  skip_if_not_installed("lme4")
  fit <- lmm(diameter ~ 1 + (1 | plate) + (1 | sample), Penicillin)
  fm <- lme4::lmer(diameter ~ 1 + (1 | plate) + (1 | sample), lme4::Penicillin)
  v <- as.data.frame(lme4::VarCorr(fm))$vcov          # plate, sample, residual
  ic <- icc(fit, nsim = 40, seed = 1)
  expect_identical(ic$grp, c("plate", "sample"))
  expect_equal(ic$icc, v[1:2] / sum(v), tolerance = 1e-4)
})

test_that("the bootstrap intervals are lme4's bootMer() percentile intervals for the same draws", {
  skip_if_not_installed("lme4")
  skip_if_not_installed("boot")
  ## lemma's simulate() draws in lme4's order, so with the same seed the two
  ## bootstraps refit the same responses; the replicates then differ only by the
  ## two optimizers' tolerance, and the percentile limits by as little (1e-3).
  ## Crossed factors here; the nested Pastes design in test-vignette-nested-replicates.R.
  future::plan(future::sequential)
  fit <- lmm(diameter ~ 1 + (1 | plate) + (1 | sample), Penicillin)
  fm <- lme4::lmer(diameter ~ 1 + (1 | plate) + (1 | sample), lme4::Penicillin)
  stat <- function(m) {
    v <- as.data.frame(lme4::VarCorr(m))$vcov
    c(v, v / sum(v))
  }
  bm <- lme4::bootMer(fm, stat, nsim = 100, seed = 7)
  ref <- t(vapply(seq_along(bm$t0), function(j) boot::boot.ci(bm, index = j, type = "perc")$percent[4:5],
                  numeric(2)))
  vc <- varcomp(fit, nsim = 100, seed = 7)
  ic <- icc(fit, nsim = 100, seed = 7)
  expect_equal(max(abs(attr(vc, "boot") - bm$t[, 1:3]) / bm$t[, 1:3]), 0, tolerance = 1e-3)
  expect_equal(cbind(vc$variance.lower, vc$variance.upper), ref[1:3, ], tolerance = 1e-3)
  expect_equal(cbind(vc$sd.lower, vc$sd.upper), sqrt(ref[1:3, ]), tolerance = 1e-3)
  expect_equal(cbind(vc$share.lower, vc$share.upper), ref[4:6, ], tolerance = 1e-3)
  ## crossed: the ICC of a factor is its share
  expect_equal(cbind(ic$lower, ic$upper), ref[4:5, ], tolerance = 1e-3)
  ## the replicates of confint(method = "boot") serve for the same intervals
  ci <- confint(fit, method = "boot", nsim = 100, seed = 7)
  expect_identical(varcomp(fit, boot = ci), vc)
  expect_identical(icc(fit, boot = ci), ic)
})

test_that("varcomp() and icc() reject models and arguments they do not support, by name", {
  fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
  expect_error(varcomp(fit), "random intercepts \\(1 \\| g\\) only; the term\\(s\\) on 'Subject' have \\(Intercept\\), Days")
  expect_error(icc(fit), "icc\\(\\): shares of the total variance")
  fit1 <- lmm(Yield ~ 1 + (1 | Batch), Dyestuff)
  expect_error(varcomp(fit1, level = 95), "'level' must be")
  expect_error(icc(fit1, nsim = 0), "'nsim' must be")
  expect_warning(varcomp(fit1, nsim = 40, seed = 1, type = "perc"), "'type' is not supported")
  ci <- suppressWarnings(confint(fit1, method = "boot", nsim = 40, seed = 1))
  expect_warning(icc(fit1, boot = ci, nsim = 100), "'nsim' ignored: the replicates come from 'boot'")
  fit2 <- lmm(Yield ~ 1 + (1 | Batch), transform(Dyestuff, Yield = Yield + seq_along(Yield)))
  expect_error(varcomp(fit2, boot = ci), "'boot' was computed from another fit")
  ci_fun <- confint(fit1, method = "boot", nsim = 20, seed = 1, FUN = function(m) c(s = sigma(m)), boot.type = "norm")
  expect_error(icc(fit1, boot = ci_fun), "'boot' must be the result of confint")
  w <- Dyestuff; w$w <- rep(1:2, 15)
  expect_error(icc(lmm(Yield ~ 1 + (1 | Batch), w, weights = w)), "prior weights")
  expect_error(varcomp(lm(Yield ~ 1, Dyestuff)), "'fit' must be a model fitted by lmm")
  expect_warning(icc(fit1, nsim = 10, seed = 1), "with 10 replicates the interval's ends are the extreme replicates")
})
