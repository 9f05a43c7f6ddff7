## vignettes/progressive-disease.Rmd: the time-by-treatment test (Satterthwaite and
## Kenward-Roger) and emmeans' slopes by arm on the lemma fit, against lmerTest,
## pbkrtest and emmeans on the lme4 fit of the same data.

test_that("the progressive-disease vignette's numbers agree with lmerTest/pbkrtest/emmeans", {
  skip_if_not_installed("lme4")
  skip_if_not_installed("lmerTest")
  skip_if_not_installed("pbkrtest")
  v <- run_vignette("progressive-disease.Rmd")
  fvc <- v$fvc
  ref <- lmerTest::lmer(fvc ~ year * arm + (year | id), fvc)
  # REML optima agree to ~1e-6 relative (estimates of order 100-3000 mL)
  expect_equal(fixef(v$fit), lme4::fixef(ref), tolerance = 1e-5)
  # F tests of the terms: lmerTest's numerical derivatives give ~1e-4 relative df
  sa <- anova(v$fit)
  ra <- anova(ref)
  expect_equal(sa[rownames(ra), "F value"], ra$`F value`, tolerance = 1e-4)
  expect_equal(sa[rownames(ra), "DenDF"], ra$DenDF, tolerance = 1e-3)
  ka <- anova(v$fit, ddf = "Kenward-Roger")
  rka <- anova(ref, ddf = "Kenward-Roger")
  expect_equal(ka[rownames(rka), "F value"], rka$`F value`, tolerance = 1e-4)
  expect_equal(ka[rownames(rka), "DenDF"], rka$DenDF, tolerance = 1e-3)
  # the simulated effect (100 mL/year) is recovered within two standard errors
  tab <- fixef_table(v$fit, "Kenward-Roger")
  expect_lt(abs(tab["year:armactive", "Estimate"] - 100), 2 * tab["year:armactive", "Std. Error"])

  skip_if_not_installed("emmeans")
  for (mode in c("satterthwaite", "kenward-roger")) {
    tr <- as.data.frame(emmeans::emtrends(v$fit, ~ arm, var = "year", lmm.df = mode))
    rt <- as.data.frame(emmeans::emtrends(ref, ~ arm, var = "year", lmer.df = mode))
    # emtrends differentiates numerically in both: same step, so ~1e-6 relative
    expect_equal(tr$year.trend, rt$year.trend, tolerance = 1e-5)
    expect_equal(tr$SE, rt$SE, tolerance = 1e-4)
    expect_equal(tr$df, rt$df, tolerance = 1e-3)
    pc <- as.data.frame(pairs(emmeans::emtrends(v$fit, ~ arm, var = "year", lmm.df = mode)))
    rp <- as.data.frame(pairs(emmeans::emtrends(ref, ~ arm, var = "year", lmer.df = mode)))
    expect_equal(pc$estimate, rp$estimate, tolerance = 1e-5)
    expect_equal(pc$df, rp$df, tolerance = 1e-3)
    expect_equal(pc$p.value, rp$p.value, tolerance = 1e-3)
  }
  # the vignette's own emtrends() result: the marginal slope of each arm is a sum
  # of fixed effects (hand formula)
  tr <- as.data.frame(v$tr)
  b <- fixef(v$fit)
  expect_equal(tr$year.trend, c(b[["year"]], b[["year"]] + b[["year:armactive"]]), tolerance = 1e-6)
})
