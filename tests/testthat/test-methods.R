# Methods that the lme4 agreement tests do not reach. Numbers are checked against
# lme4 where it is installed, otherwise against identities that must hold exactly.

fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)

test_that("na.exclude pads fitted values and residuals back to the data's rows", {
  d <- sleepstudy
  d$Reaction[c(3, 50)] <- NA
  fo <- lmm(Reaction ~ Days + (Days | Subject), d)
  fe <- lmm(Reaction ~ Days + (Days | Subject), d, na.action = na.exclude)
  expect_length(fitted(fo), 178)
  expect_length(fitted(fe), 180)
  expect_true(all(is.na(residuals(fe)[c(3, 50)])))
  expect_equal(unname(fitted(fe)[-c(3, 50)]), unname(fitted(fo)), tolerance = 1e-12)
})

test_that("re.form chooses the random-effect terms of a prediction", {
  f2 <- lmm(Reaction ~ Days + (1 | Subject) + (0 + Days | Subject), sleepstudy)
  b <- ranef(f2)$Subject
  codes <- as.integer(sleepstudy$Subject)
  p_int <- predict(f2, re.form = ~ (1 | Subject))
  expect_equal(unname(p_int), unname(fixef(f2)[1] + fixef(f2)[2] * sleepstudy$Days + b[codes, "(Intercept)"]),
               tolerance = 1e-12)
  expect_equal(unname(predict(f2, re.form = NA)), unname(drop(model.matrix(f2) %*% fixef(f2))), tolerance = 1e-12)
  expect_equal(predict(f2, re.form = ~0), predict(f2, re.form = NA))
  expect_equal(unname(predict(f2, newdata = sleepstudy)), unname(fitted(f2)), tolerance = 1e-12)
  expect_error(predict(f2, re.form = ~ (1 | Days)), "not in the model")
})

test_that("coef() adds the random effects to the fixed effects", {
  cf <- coef(fit)$Subject
  expect_equal(cf[["Days"]], unname(fixef(fit)["Days"] + ranef(fit)$Subject$Days), tolerance = 1e-12)
})

test_that("simulate() is reproducible and has the fitted moments", {
  s1 <- simulate(fit, nsim = 2, seed = 42)
  s2 <- simulate(fit, nsim = 2, seed = 42)
  expect_identical(s1, s2)
  expect_equal(dim(s1), c(180L, 2L))
  big <- simulate(fit, nsim = 400, seed = 1)
  # mean of the simulated responses: X beta, to within 4 standard errors of a mean of
  # 400 draws of sd sqrt(Var(b0 + b1 Days) + sigma^2) <= 60
  expect_lt(max(abs(rowMeans(big) - drop(model.matrix(fit) %*% fixef(fit)))), 4 * 60 / sqrt(400) * 1.5)
  res <- unlist(big - drop(model.matrix(fit) %*% fixef(fit)))
  # marginal variance at Days = 0: sd0^2 + sigma^2
  vc <- as.data.frame(VarCorr(fit))
  day0 <- rep(sleepstudy$Days == 0, 400)
  expect_equal(var(res[day0]), vc$vcov[1] + vc$vcov[4], tolerance = 0.15)
})

test_that("update() and refit_ml() refit; anova() runs a likelihood-ratio test", {
  ml <- update(fit, REML = FALSE)
  expect_false(isREML(ml))
  expect_equal(logLik(ml), logLik(refit_ml(fit)), tolerance = 1e-7)
  m0 <- lmm(Reaction ~ Days + (1 | Subject), sleepstudy)
  a <- suppressMessages(anova(m0, fit))
  expect_equal(a$Df[2], 2)
  expect_equal(a$Chisq[2], 2 * (as.numeric(logLik(refit_ml(fit))) - as.numeric(logLik(refit_ml(m0)))),
               tolerance = 1e-10)
})

test_that("print and summary show the model as lme4 does", {
  out <- capture.output(print(summary(fit, ddf = "none")))
  expect_true(any(grepl("REML criterion at convergence: 1743.6", out, fixed = TRUE)))
  expect_true(any(grepl("Number of obs: 180, groups:  Subject, 18", out, fixed = TRUE)))
  out2 <- capture.output(print(lmm(Yield ~ 1 + (1 | Batch), Dyestuff2)))
  expect_true(any(grepl("singular", out2)))
  expect_true(isSingular(lmm(Yield ~ 1 + (1 | Batch), Dyestuff2)))
  expect_false(isSingular(fit))
})

test_that("nlme's generics dispatch with nlme and lme4 attached", {
  skip_if_not_installed("lme4")
  suppressPackageStartupMessages({ library(nlme); library(lme4) })
  expect_equal(nlme::fixef(fit), fit$beta)
  expect_s3_class(nlme::ranef(fit), "lemma_ranef")
  expect_equal(fixef(fit), fit$beta)
  detach("package:lme4"); detach("package:nlme")
})

test_that("methods agree with lme4 live on a weighted, offset, NA-padded model", {
  skip_if_not_installed("lme4")
  set.seed(11)
  d <- data.frame(g = factor(rep(1:12, each = 6)), x = rnorm(72), w = runif(72) + 0.5, o = rnorm(72))
  d$y <- 1 + d$x + d$o + rnorm(12)[d$g] + rnorm(72) / sqrt(d$w)
  d$y[5] <- NA
  a <- lmm(y ~ x + offset(o) + (1 | g), d, weights = w, na.action = na.exclude)
  b <- lme4::lmer(y ~ x + offset(o) + (1 | g), d, weights = w, na.action = na.exclude)
  expect_equal(lme4::REMLcrit(b), REMLcrit(a), tolerance = 1e-8)
  expect_equal(unname(fitted(a)), unname(fitted(b)), tolerance = 1e-5)
  expect_equal(unname(residuals(a, type = "pearson")), unname(residuals(b, type = "pearson")), tolerance = 1e-5)
  nd <- data.frame(x = c(0, 1), o = c(0, 1), g = c("1", "new"))
  expect_equal(unname(predict(a, nd, allow.new.levels = TRUE)), unname(predict(b, nd, allow.new.levels = TRUE)),
               tolerance = 1e-5)
  expect_equal(AIC(a), AIC(b), tolerance = 1e-8)
})

test_that("lme4's isREML and ngrps generics dispatch to lemma's methods", {
  skip_if_not_installed("lme4")
  expect_true(lme4::isREML(fit))
  expect_equal(lme4::ngrps(fit), c(Subject = 18L))
})
