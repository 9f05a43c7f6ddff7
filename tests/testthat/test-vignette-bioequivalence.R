## Key numbers of vignettes/bioequivalence.Rmd against independent references.
## (The published Method B intervals of rds01 and rds02 are tested in test-gmr.R.)

test_that("bioequivalence vignette: z and t intervals quoted in the text", {
  skip_if_not_installed("lmerTest")
  ## rds02, 45 df: the text quotes z 97.41-107.36% and t 97.32-107.46%. z as
  ## lme4's confint(method = "Wald"), t from lmerTest's Satterthwaite df and SE.
  fit <- lmm(log(PK) ~ sequence + period + treatment + (1 | subject), rds02)
  fm <- lmerTest::lmer(log(PK) ~ sequence + period + treatment + (1 | subject), rds02)
  z <- confint(fit, "treatmentT", level = 0.90, method = "Wald")
  z_ref <- confint(fm, "treatmentT", level = 0.90, method = "Wald")
  expect_equal(unname(z), unname(z_ref), tolerance = 1e-6)
  expect_equal(round(100 * exp(unname(z[1, ])), 2), c(97.41, 107.36), tolerance = 0)
  ref <- summary(fm)$coefficients["treatmentT", ]
  t_ref <- ref[["Estimate"]] + c(-1, 1) * stats::qt(0.95, ref[["df"]]) * ref[["Std. Error"]]
  t_ci <- confint(fit, "treatmentT", level = 0.90, method = "Wald", ddf = "Satterthwaite")
  expect_equal(unname(t_ci[1, ]), t_ref, tolerance = 1e-6)
  expect_equal(round(100 * exp(t_ref), 2), c(97.32, 107.46), tolerance = 0)
})

test_that("bioequivalence vignette: CVwR and the widened limits of rds01", {
  ## the EMA reports CVwR = 47.0% for its Annex II data set; the widened limits
  ## are exp(+-0.760 s_wR) (EMA guideline), computed here from lm() alone
  m_R <- stats::lm(log(PK) ~ sequence + subject + period, data = rds01[rds01$treatment == "R", ])
  swR <- stats::sigma(m_R)
  expect_equal(round(100 * sqrt(exp(swR^2) - 1), 1), 47.0, tolerance = 0)
  fit <- lmm(log(PK) ~ sequence + period + treatment + (1 | subject), rds01)
  be <- gmr(fit, "treatment", limits = exp(c(-1, 1) * 0.760 * swR))
  expect_equal(c(be$limit.lower, be$limit.upper), exp(c(-1, 1) * 0.760 * swR))
  expect_true(be$bioequivalent)
})

test_that("bioequivalence vignette: the plot of several studies is drawn", {
  be <- rbind(`rds01 TRTR|RTRT` = gmr(lmm(log(PK) ~ sequence + period + treatment + (1 | subject), rds01), "treatment"),
              `rds02 TRR|RTR|RRT` = gmr(lmm(log(PK) ~ sequence + period + treatment + (1 | subject), rds02), "treatment"))
  expect_s3_class(be, "lemma_gmr")
  f <- file.path(tempdir(), "vignette-bioequivalence-gmr.png")
  grDevices::png(f, width = 700, height = 400)
  expect_identical(plot(be), be)
  grDevices::dev.off()
  expect_true(file.exists(f) && file.size(f) > 0)
})
