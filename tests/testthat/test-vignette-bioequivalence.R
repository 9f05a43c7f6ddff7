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

test_that("bioequivalence vignette: the FDA replicate-design model reproduces the published results", {
  ## FDA model (SAS PROC MIXED: RANDOM trt / TYPE=FA0(2) SUB=subj G; REPEATED /
  ## GRP=trt SUB=subj; DDFM=SATTERTHWAITE). Published values as the replicateBE
  ## package reports them from the sources (help pages TRRT.RTTR, TRR.RTR.RRT):
  ## rds11 (Hauschke, Steinijans & Pigeot 2007, Table 9.6): PE 90.0%, 90% CI
  ## 79.6-101.7%; rds04 (Patterson & Jones 2012, Table II): CVwR 61%, PE 137%,
  ## 90% CI 119-159%.
  f <- log(PK) ~ sequence + period + treatment + (0 + treatment | subject)
  fit11 <- lmm(f, rds11, dispformula = ~ treatment)
  be11 <- gmr(fit11, "treatment")
  expect_equal(round(100 * unlist(be11[c("ratio", "lower", "upper")]), 1),
               c(ratio = 90.0, lower = 79.6, upper = 101.7), tolerance = 0)
  expect_warning(fit04 <- lmm(f, rds04, dispformula = ~ treatment), "not separately identifiable")
  be04 <- gmr(fit04, "treatment")
  expect_equal(round(100 * unlist(be04[c("ratio", "lower", "upper")])),
               c(ratio = 137, lower = 119, upper = 159), tolerance = 0)
  s2w <- diag(VarCorr(fit04)$residual[[1]])
  expect_equal(round(100 * sqrt(exp(s2w[["R"]]) - 1)), 61)
  ## more digits from nlme (the same model; nlme's split of the T variance in the
  ## partial replicate is another point of the flat ridge, so only the sum is compared)
  ctrl <- nlme::lmeControl(msMaxIter = 500, msMaxEval = 5000, tolerance = 1e-10, msTol = 1e-12)
  for (case in list(list(fit = fit11, data = rds11), list(fit = fit04, data = rds04))) {
    d <- case$data
    d$logPK <- log(d$PK)
    m <- nlme::lme(logPK ~ sequence + period + treatment, random = ~ 0 + treatment | subject, data = d,
                   weights = nlme::varIdent(form = ~ 1 | treatment), control = ctrl)
    expect_equal(as.numeric(logLik(case$fit)), as.numeric(logLik(m)), tolerance = 1e-6)
    expect_equal(fixef(case$fit)[["treatmentT"]], nlme::fixef(m)[["treatmentT"]], tolerance = 1e-6)
    expect_equal(sqrt(vcov(case$fit)["treatmentT", "treatmentT"]), sqrt(vcov(m)["treatmentT", "treatmentT"]),
                 tolerance = 1e-5)
    r <- m$sigma^2 * coef(m$modelStruct$varStruct, unconstrained = FALSE, allCoef = TRUE)[c("R", "T")]^2
    G <- as.matrix(nlme::getVarCov(m))
    s2 <- diag(VarCorr(case$fit)$residual[[1]])
    Gl <- VarCorr(case$fit)$random$subject
    expect_equal(s2[["R"]], r[["R"]], tolerance = 1e-4)
    expect_equal(Gl[2, 2] + s2[["T"]], G[2, 2] + r[["T"]], tolerance = 1e-4)
  }
})
