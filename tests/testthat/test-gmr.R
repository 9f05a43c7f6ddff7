## gmr(): geometric mean ratio and average bioequivalence; t-based Wald intervals
## of confint() and tidy().

# The EMA's Method B model: log response, fixed sequence, period and treatment,
# random subject.
be_fit <- function(d) lmm(log(PK) ~ sequence + period + treatment + (1 | subject), d)

# A 2x2x2 crossover from the first two periods of rds01 (TRTR -> TR, RTRT -> RT),
# subjects with both periods: 76 subjects, complete and balanced.
be_2x2 <- function() {
  d <- rds01[rds01$period %in% c("1", "2"), ]
  d <- droplevels(d[d$subject %in% names(which(table(droplevels(d$subject)) == 2)), ])
  d$sequence <- factor(substr(as.character(d$sequence), 1, 2), levels = c("TR", "RT"))
  d
}

test_that("gmr() reproduces the EMA's published Method B results for rds01 and rds02", {
  ## published (EMA Annex II and III, SAS; in replicateBE's documentation): PE and
  ## 90% CI of T/R in percent, 2 decimals. Exact agreement after rounding.
  pub <- list(rds01 = c(115.73, 107.17, 124.97), rds02 = c(102.26, 97.32, 107.46))
  for (nm in names(pub)) {
    be <- gmr(be_fit(get(nm)), "treatment")
    expect_identical(be$term, "treatmentT")
    expect_equal(round(100 * c(be$ratio, be$lower, be$upper), 2), pub[[nm]], tolerance = 0, label = nm)
    expect_true(be$bioequivalent)
  }
})

test_that("gmr() agrees with lmerTest's Satterthwaite and pbkrtest's Kenward-Roger t intervals", {
  skip_if_not_installed("lmerTest")
  d <- rds01
  fit <- be_fit(d)
  fm <- lmerTest::lmer(log(PK) ~ sequence + period + treatment + (1 | subject), d)
  for (ddf in c("Satterthwaite", "Kenward-Roger")) {
    if (ddf == "Kenward-Roger") skip_if_not_installed("pbkrtest")
    ref <- summary(fm, ddf = ddf)$coefficients["treatmentT", ]
    lim <- exp(ref[["Estimate"]] + c(-1, 1) * stats::qt(0.95, ref[["df"]]) * ref[["Std. Error"]])
    be <- gmr(fit, "treatmentT", ddf = ddf)
    ## lmerTest's df come from numerical derivatives (~1e-4 relative, ANCHORS.md)
    expect_equal(be$df, ref[["df"]], tolerance = 1e-3, label = paste(ddf, "df"))
    ## the limits move by ~1e-7 for a 1e-4 change in df of ~217; 1e-6 bounds the
    ## difference in the optimum between lme4 and lemma
    expect_equal(c(be$lower, be$upper), lim, tolerance = 1e-6, label = paste(ddf, "limits"))
  }
})

test_that("on a complete 2x2x2 crossover gmr() equals the fixed-subject ANOVA interval", {
  ## with every subject in both periods the random-subject model's contrast is the
  ## within-subject one: estimate, SE and df (n - 2) of lm() with fixed subjects
  d <- be_2x2()
  expect_equal(nlevels(d$subject), 76L)
  m <- stats::lm(log(PK) ~ sequence + subject + period + treatment, d)
  ref <- summary(m)$coefficients["treatmentT", ]
  lim <- exp(ref[["Estimate"]] + c(-1, 1) * stats::qt(0.95, stats::df.residual(m)) * ref[["Std. Error"]])
  fit <- be_fit(d)
  be <- gmr(fit, "treatment")
  expect_equal(be$df, stats::df.residual(m), tolerance = 1e-6)
  expect_equal(c(be$ratio, be$lower, be$upper), c(exp(ref[["Estimate"]]), lim), tolerance = 1e-6)
  ## the upper limit (138.03%) is beyond 125%: not bioequivalent
  expect_false(be$bioequivalent)
  expect_true(gmr(fit, "treatment", limits = c(0.70, 1.43))$bioequivalent)
  ## confint(method = "Wald") keeps lme4's z interval by default, and gives the t
  ## interval (the same as gmr's) with ddf; the z interval is narrower
  w_t <- confint(fit, "treatmentT", level = 0.90, method = "Wald", ddf = "Satterthwaite")
  expect_equal(unname(exp(w_t[1, ])), lim, tolerance = 1e-6)
  w_z <- confint(fit, "treatmentT", level = 0.90, method = "Wald")
  expect_equal(unname(w_z[1, ]), ref[["Estimate"]] + c(-1, 1) * stats::qnorm(0.95) * ref[["Std. Error"]],
               tolerance = 1e-6)
  expect_true(w_z[1, 1] > w_t[1, 1] && w_z[1, 2] < w_t[1, 2])
})

test_that("a numeric contrast gives the same interval as the coefficient name", {
  fit <- be_fit(rds02)
  l <- as.numeric(names(fixef(fit)) == "treatmentT")
  expect_equal(gmr(fit, l)[, c("ratio", "lower", "upper")], gmr(fit, "treatmentT")[, c("ratio", "lower", "upper")])
  ## reversing the contrast inverts the ratio and its interval
  r <- gmr(fit, -l)
  expect_equal(c(r$ratio, r$lower, r$upper), 1 / c(gmr(fit, l)$ratio, gmr(fit, l)$upper, gmr(fit, l)$lower),
               tolerance = 1e-12)
})

test_that("confint(method = 'Wald', ddf = 'Kenward-Roger') and tidy() use the t quantile of their df", {
  skip_if_not_installed("lmerTest")
  skip_if_not_installed("pbkrtest")
  d <- lme4::sleepstudy
  fit <- lmm(Reaction ~ Days + (Days | Subject), d)
  fm <- lmerTest::lmer(Reaction ~ Days + (Days | Subject), d)
  for (ddf in c("Satterthwaite", "Kenward-Roger")) {
    ref <- summary(fm, ddf = ddf)$coefficients
    lim <- ref[, "Estimate"] + outer(stats::qt(0.975, ref[, "df"]) * ref[, "Std. Error"], c(-1, 1))
    ci <- confint(fit, method = "Wald", ddf = ddf)[c("(Intercept)", "Days"), ]
    ## 1e-5: lmerTest's numerical df (~1e-4 relative) change qt(0.975, 17) by ~1e-6
    expect_equal(unname(ci), unname(lim), tolerance = 1e-5, label = paste("confint", ddf))
    td <- as.data.frame(tidy.lemma_fit(fit, effects = "fixed", conf.int = TRUE, ddf = ddf))
    expect_equal(cbind(td$conf.low, td$conf.high), unname(lim), tolerance = 1e-5, label = paste("tidy", ddf))
    ## the interval excludes 0 exactly when p < 0.05: consistent with the df column
    expect_identical(td$conf.low > 0 | td$conf.high < 0, td$p.value < 0.05)
  }
  ## without df, tidy gives the normal interval, as lme4's confint(method = "Wald")
  td <- as.data.frame(tidy.lemma_fit(fit, effects = "fixed", conf.int = TRUE, ddf = "none"))
  ref <- confint(fm, method = "Wald")[c("(Intercept)", "Days"), ]
  expect_equal(cbind(td$conf.low, td$conf.high), unname(ref), tolerance = 1e-5)
})

test_that("gmr(), confint() and tidy() reject bad arguments by name", {
  fit <- be_fit(rds02)
  expect_error(gmr(fit, "period"), "'period' has 2 coefficients")
  expect_error(gmr(fit, "dose"), "'term' = \"dose\" is neither")
  expect_error(gmr(fit, c(1, 0)), "must be 6 finite contrast weights")
  expect_error(gmr(fit, "treatment", limits = c(1.25, 0.8)), "gmr\\(\\): 'limits' must be two finite increasing numbers, above 0, the first below 1")
  expect_error(gmr(fit, "treatment", level = 90), "'level' must be")
  expect_error(gmr(fit, "treatment", ddf = "z"), "gmr\\(\\): 'ddf' = \"z\" is not one of")
  expect_error(gmr(lm(log(PK) ~ treatment, rds02), "treatment"), "'fit' must be a model fitted by lmm")
  fit_ml <- lmm(log(PK) ~ sequence + period + treatment + (1 | subject), rds02, REML = FALSE)
  expect_error(gmr(fit_ml, "treatment", ddf = "Kenward-Roger"), "only available for REML")
  expect_error(confint(fit, method = "Wald", ddf = "t"), "'ddf' = \"t\" is not one of")
  ## sum coding: the coefficient is half the log ratio, which gmr() must not report
  fit_sum <- lmm(log(PK) ~ sequence + period + treatment + (1 | subject), rds02,
                 contrasts = list(treatment = "contr.sum"))
  expect_error(gmr(fit_sum, "treatment"), "coded 1/-1, not 0/1")
  expect_error(gmr(fit_sum, "treatment1"), "coded 1/-1, not 0/1")
  ## its numeric contrast -2 x treatment1 is T - R: the same ratio as treatment coding
  l <- -2 * (names(fixef(fit_sum)) == "treatment1")
  expect_equal(gmr(fit_sum, l)$ratio, gmr(fit, "treatment")$ratio, tolerance = 1e-6)
  expect_warning(confint(fit, parm = "(Intercept)", method = "boot", nsim = 2, seed = 1, boot.type = "norm",
                         ddf = "Satterthwaite"),
                 "'ddf' not used by method = \"boot\"")
  expect_error(tidy.lemma_fit(fit, conf.int = "yes"), "'conf.int' must be TRUE or FALSE")
  expect_warning(tidy.lemma_fit(fit, effects = "fixed", conf.int = TRUE, nsim = 10), "'nsim' is not supported")
})
