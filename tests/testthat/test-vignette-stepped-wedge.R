## vignettes/stepped-wedge.Rmd: the intervention effect, its Satterthwaite and
## Kenward-Roger df, the likelihood-ratio test and the closed-form standard error,
## against lmerTest, pbkrtest, lme4 and Hussey & Hughes' formula.

test_that("the stepped-wedge vignette's numbers agree with lmerTest/pbkrtest/lme4", {
  skip_if_not_installed("lme4")
  skip_if_not_installed("lmerTest")
  skip_if_not_installed("pbkrtest")
  v <- run_vignette("stepped-wedge.Rmd")
  sw <- v$sw
  expect_identical(nrow(sw), 1200L)
  # each practice crosses over once and stays treated; all start in control
  expect_true(all(apply(v$design, 1, function(r) all(diff(r) >= 0))))
  expect_true(all(v$design[, 1] == 0) && all(v$design[, 5] == 1))

  ref <- lmerTest::lmer(y ~ period + treat + (1 | practice) + (1 | practice:period), sw)
  rs <- summary(ref)$coefficients["treat", ]
  rk <- summary(ref, ddf = "Kenward-Roger")$coefficients["treat", ]
  s <- v$tab["Satterthwaite", ]
  k <- v$tab["Kenward-Roger", ]
  # REML optima agree to ~1e-6 relative; lmerTest's numerical df to ~1e-4
  expect_equal(s[["Estimate"]], rs[["Estimate"]], tolerance = 1e-5)
  expect_equal(s[["Std. Error"]], rs[["Std. Error"]], tolerance = 1e-4)
  expect_equal(s[["df"]], rs[["df"]], tolerance = 1e-3)
  expect_equal(k[["Std. Error"]], rk[["Std. Error"]], tolerance = 1e-4)
  expect_equal(k[["df"]], rk[["df"]], tolerance = 1e-3)
  ct <- contest(v$fit, v$L, joint = FALSE, ddf = "Kenward-Roger")
  expect_equal(ct$lower, rk[["Estimate"]] - qt(0.975, rk[["df"]]) * rk[["Std. Error"]],
               tolerance = 1e-4)

  # the likelihood-ratio test, against lme4's anova (both refit by ML)
  ref_hh <- lme4::lmer(y ~ period + treat + (1 | practice), sw)
  ra <- suppressMessages(anova(ref_hh, ref))
  la <- suppressMessages(anova(v$fit_hh, v$fit))
  expect_equal(la$Chisq[2], ra$Chisq[2], tolerance = 1e-4)
  # the cluster-only model's standard error is smaller (the vignette's point)
  expect_lt(summary(ref_hh)$coefficients["treat", "Std. Error"], rs[["Std. Error"]])

  # Hussey & Hughes' closed form at lme4's variance estimates gives lmerTest's SE:
  # an independent formula and independent variance estimates
  vc <- as.data.frame(lme4::VarCorr(ref))
  w <- setNames(vc$vcov, vc$grp)
  se_hh <- v$hh_se(v$design, w[["practice:period"]] + w[["Residual"]] / v$m, w[["practice"]])
  expect_equal(se_hh, rs[["Std. Error"]], tolerance = 1e-5)
  expect_equal(se_hh, s[["Std. Error"]], tolerance = 1e-4)
})
