## anova(), summary() and contest() where lme4 / lmerTest / pbkrtest work (issue 8),
## compared with them live.
##
## Tolerances: F tables and df 2e-3 relative, as test-inference-agreement.R
## (lmerTest and pbkrtest differentiate numerically; ~1e-4 is their floor).
## Likelihood-ratio tables and lme4's sums of squares 1e-6 relative: they are
## functions of the criterion and beta, which both optimizers find to ~1e-7.

ss <- sleepstudy
quad <- Reaction ~ Days + I(Days^2) + (Days | Subject)

lmerTest_fit <- function(f, data = ss, REML = TRUE)
  suppressMessages(lmerTest::lmer(f, data, REML = REML))

test_that("type I-III anova with I() terms agrees with lmerTest (Satterthwaite and Kenward-Roger)", {
  skip_if_not_installed("lmerTest")
  skip_if_not_installed("pbkrtest")
  fit <- lmm(quad, ss)
  ref <- lmerTest_fit(quad)
  for (ddf in c("Satterthwaite", "Kenward-Roger")) for (type in c("III", "II", "I")) {
    expect_Ftable(anova(fit, type = type, ddf = ddf), anova(ref, type = type, ddf = ddf),
                  label = paste("anova", type, ddf))
  }
  ## transformed variables and non-treatment contrasts take the same path
  d <- transform(ss, f = factor(Days %% 3))
  g <- Reaction ~ f * Days + log(Days + 1) + (1 | Subject)
  fit2 <- lmm(g, d, contrasts = list(f = "contr.sum"))
  ref2 <- suppressMessages(lmerTest::lmer(g, d, contrasts = list(f = "contr.sum")))
  expect_Ftable(anova(fit2), anova(ref2), label = "anova III, contr.sum and log()")
  expect_Ftable(anova(fit2, ddf = "Kenward-Roger"), anova(ref2, ddf = "Kenward-Roger"),
                label = "anova III KR, contr.sum and log()")
})

test_that("anova() compares a fit with an lm() fit as lme4 does", {
  skip_if_not_installed("lme4")
  fit <- lmm(quad, ss)
  ref <- lme4::lmer(quad, ss)
  l0 <- lm(Reaction ~ Days, ss)
  a <- suppressMessages(anova(fit, l0))
  b <- suppressMessages(anova(ref, l0))
  expect_identical(rownames(a), c("l0", "fit"))
  expect_identical(attr(a, "heading")[1], attr(b, "heading")[1])   # "Data: ss"
  expect_identical(a$npar, b$npar)
  for (col in c("AIC", "BIC", "logLik", "deviance", "Chisq"))
    expect_close(a[[col]], b[[col]], rel = 1e-6, label = col)
  expect_pvalue(a[["Pr(>Chisq)"]], b[["Pr(>Chisq)"]], rel = 1e-4)
  expect_error(anova(fit, lm(Reaction ~ Days, ss[-1, ])), "not all fitted to the same response")
  expect_warning(anova(fit, l0, refit = FALSE), "some models were fitted by REML and some by ML")
})

test_that("ddf = 'lme4' gives lme4's anova and summary tables", {
  skip_if_not_installed("lme4")
  fit <- lmm(quad, ss)
  ref <- lme4::lmer(quad, ss)
  a <- anova(fit, ddf = "lme4")
  b <- anova(ref)
  expect_identical(dimnames(a), dimnames(b))
  expect_close(as.matrix(a), as.matrix(b), rel = 1e-5)
  expect_warning(anova(fit, type = "III", ddf = "lme4"), "'type' is ignored")
  s <- summary(fit, ddf = "lme4")$coefficients
  r <- coef(summary(ref))
  expect_identical(dimnames(s), dimnames(r))
  expect_close(s[, "Estimate"], r[, "Estimate"], abs = 1e-4 * r[, "Std. Error"])
  expect_close(s[, "Std. Error"], r[, "Std. Error"], rel = 1e-4)
  out <- capture.output(print(summary(fit, ddf = "lme4")))
  expect_false(any(grepl("Satterthwaite", out)))
})

test_that("Kenward-Roger contest() with a rank-deficient L agrees with lmerTest / pbkrtest", {
  skip_if_not_installed("lmerTest")
  skip_if_not_installed("pbkrtest")
  fit <- lmm(quad, ss)
  ref <- lmerTest_fit(quad)
  L <- rbind(c(0, 1, 0), c(0, 2, 0), c(0, 0, 1))     # rank 2
  for (ddf in c("Kenward-Roger", "Satterthwaite")) {
    expect_Ftable(contest(fit, L, ddf = ddf), lmerTest::contest(ref, L, ddf = ddf), by_name = FALSE,
                  label = paste("rank-deficient L", ddf))
    expect_Ftable(contest(fit, L[1:2, ], ddf = ddf), lmerTest::contest(ref, L[1:2, ], ddf = ddf),
                  by_name = FALSE, label = paste("rank-1 L of 2 rows", ddf))
  }
  ## the test depends on the row space of L only
  kr_full <- contest(fit, L, ddf = "Kenward-Roger")
  kr_basis <- contest(fit, L[c(1, 3), ], ddf = "Kenward-Roger")
  expect_equal(kr_full, kr_basis, tolerance = 1e-8)
  ## a consistent rhs is accepted, an inconsistent one is an error naming rhs
  expect_equal(contest(fit, L, ddf = "Kenward-Roger", rhs = c(1, 2, 0))[["NumDF"]], 2)
  expect_error(contest(fit, L, rhs = c(1, 1, 0)), "'rhs' does not follow the same dependence")
})

test_that("contest() refuses an all-zero L naming it (lmerTest returns NaN)", {
  skip_if_not_installed("lmerTest")
  fit <- lmm(quad, ss)
  ref <- lmerTest_fit(quad)
  expect_true(is.nan(lmerTest::contest(ref, matrix(0, 1, 3))[["F value"]]))
  for (ddf in c("Satterthwaite", "Kenward-Roger")) {
    expect_error(contest(fit, matrix(0, 1, 3), ddf = ddf), "'L' is all zero")
    expect_error(contest(fit, matrix(0, 2, 3), ddf = ddf, joint = FALSE), "'L' is all zero")
  }
  expect_error(contest(fit, rbind(c(0, 1, 0), 0), joint = FALSE), "row\\(s\\) 2 of 'L' are all zero")
  expect_error(contest(fit, c(0, NA, 1)), "contest\\(\\): 'L' has missing or infinite values")
  expect_warning(contest(fit, c(0, 1, 0), foo = 1), "'foo' is not supported")
})

test_that("summary prints the fixed-effect correlations as lme4: by default up to p = 12, else a message", {
  set.seed(3)
  d <- data.frame(g = gl(10, 10), matrix(rnorm(100 * 13), 100, 13))
  d$y <- rnorm(100) + rnorm(10)[d$g]
  big <- lmm(stats::reformulate(c(paste0("X", 1:13), "(1 | g)"), "y"), d)
  s <- summary(big)
  expect_message(out <- capture.output(print(s)), "Correlation matrix not shown by default, as p = 14 > 12")
  expect_false(any(grepl("Correlation of Fixed Effects", out)))
  expect_identical(out, capture.output(print(s, correlation = FALSE)))
  withT <- capture.output(print(s, correlation = TRUE))
  expect_true(any(grepl("Correlation of Fixed Effects", withT)))
  expect_identical(withT, capture.output(print(summary(big, correlation = TRUE))))
  small <- capture.output(print(summary(lmm(Reaction ~ Days + (Days | Subject), sleepstudy))))
  expect_true(any(grepl("Correlation of Fixed Effects", small)))
  expect_error(summary(big, correlation = NA), "'correlation' must be TRUE or FALSE")
})
