## vignettes/multilevel-centering.Rmd: its centering, fixed effects, Satterthwaite and
## Kenward-Roger tests and the contextual-effect contrast, checked against ave(),
## lme4, lmerTest and pbkrtest on the same data.

test_that("the multilevel-centering vignette's numbers agree with lme4/lmerTest/pbkrtest", {
  skip_if_not_installed("lme4")
  skip_if_not_installed("lmerTest")
  skip_if_not_installed("pbkrtest")
  v <- run_vignette("multilevel-centering.Rmd")
  hsb <- v$hsb
  expect_identical(nrow(hsb), 7185L)
  expect_identical(nlevels(hsb$school), 160L)
  # centering by hand (no missing values in SES)
  expect_equal(hsb$ses_w, hsb$ses - ave(hsb$ses, hsb$school), tolerance = 1e-14)
  expect_equal(hsb$ses_b, ave(hsb$ses, hsb$school), tolerance = 1e-14)

  ref <- lmerTest::lmer(math ~ (ses_b + sector) * ses_w + (ses_w | school), hsb)
  cf <- summary(v$fit)$coefficients
  rc <- summary(ref)$coefficients
  # both optimizers stop within ~1e-6 relative of the REML optimum
  expect_equal(cf[, "Estimate"], rc[, "Estimate"], tolerance = 1e-5)
  expect_equal(cf[, "Std. Error"], rc[, "Std. Error"], tolerance = 1e-4)
  # lmerTest differentiates numerically. Measured: 3e-6 relative for the intercept
  # terms, 8.5e-4 for the three terms with ses_w (small slope variance, sd 0.32), also
  # with lme4's optimizer at xtol/ftol 1e-12; Kenward-Roger below agrees to 1e-5
  expect_equal(cf[, "df"], rc[, "df"], tolerance = 1e-3)
  # the vignette's claims
  expect_lt(cf["sectorCatholic:ses_w", "Estimate"], -1.4)
  expect_lt(cf["sectorCatholic:ses_w", "Pr(>|t|)"], 1e-6)
  # raw SES is a blend of the within (2.19) and between (5.87) slopes
  expect_equal(unname(lme4::fixef(lme4::lmer(math ~ ses + (1 | school), hsb))),
               unname(fixef(v$fit_raw)), tolerance = 1e-5)
  b <- fixef(v$fit_wb)
  expect_true(fixef(v$fit_raw)[["ses"]] > b[["ses_w"]] && fixef(v$fit_raw)[["ses"]] < b[["ses_b"]])

  # Kenward-Roger F tests: pbkrtest's df are on the variance-component scale, as lemma's
  kr <- anova(v$fit, ddf = "Kenward-Roger")
  rk <- anova(ref, ddf = "Kenward-Roger")
  expect_equal(kr[rownames(rk), "DenDF"], rk$DenDF, tolerance = 1e-3)
  expect_equal(kr[rownames(rk), "F value"], rk$`F value`, tolerance = 1e-4)

  # the contextual effect, against lmerTest::contest on the lme4 fit
  ref_ctx <- lmerTest::lmer(math ~ ses_w + ses_b + sector + (ses_w | school), hsb)
  ct <- contest(v$fit_ctx, v$L, joint = FALSE)
  rt <- lmerTest::contest(ref_ctx, v$L, joint = FALSE)
  expect_equal(ct$Estimate, rt$Estimate, tolerance = 1e-5)
  expect_equal(ct$`Std. Error`, rt$`Std. Error`, tolerance = 1e-4)
  expect_equal(ct$df, rt$df, tolerance = 1e-3)
})
