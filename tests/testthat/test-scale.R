# Covariates on extreme scales, and a model whose criterion has two basins.
# References: lme4's criteria, stored by ref/make-ref-scale.R (the scale cases from
# lme4's fit of the well-scaled model, mapped exactly to the scaled one), and live
# where lme4 is installed.
#
# Tolerance 1e-6 on the criterion, as in test-optimum.R: at a common optimum two
# fits agree to ~1e-9 (the criterion is flat to second order), so 1e-6 leaves room
# for rounding but not for stopping short (the gaps seen before were 0.05 to 30).

crit_of <- function(fit) if (isTRUE(fit$REML)) REMLcrit(fit) else deviance(fit)

scaled_sleepstudy <- function(c) {
  d <- sleepstudy
  d$D <- d$Days * c
  d
}

test_that("a random slope on a covariate of scale 1e-6 to 1e9 reaches the well-scaled optimum", {
  ref <- load_ref("scale_refs.rds")$scale
  for (c in c(1e-6, 1e3, 1e6, 1e9)) for (r in ref) {
    fit <- expect_silent(suppressMessages(
      lmm(Reaction ~ D + (D | Subject), scaled_sleepstudy(c), REML = r$REML)))
    # REML: the column of R_X for D is c times that for Days, so the criterion
    # gains 2 log(c); the ML deviance does not depend on the scale of a covariate.
    target <- r$crit + if (r$REML) 2 * log(c) else 0
    expect_lte(crit_of(fit) - target, 1e-6)
    expect_true(all(is.finite(c(fixef(fit), fit$theta, sigma(fit)))))
    # fixed effects: the blocked factorization keeps them to ~1e-13 relative at any
    # of these scales (no predictor-scale warning is needed); 1e-5 allows for the
    # two optimizers' thetas differing by ~1e-5 in a flat valley.
    expect_equal(unname(fixef(fit) * c(1, c)), unname(r$fixef), tolerance = 1e-5)
    # standard deviations: sd(Intercept), sd(D) * c, correlation, residual sd
    sd <- as.data.frame(VarCorr(fit))$sdcor
    expect_equal(sd * c(1, c, 1, 1), r$sd, tolerance = 1e-4)
    # the slope's variance is far from 0 on its own scale
    expect_false(isSingular(fit))
  }
})

test_that("lme4 fitted on the scaled covariate is not better than lemma (live)", {
  skip_if_not_installed("lme4")
  d <- scaled_sleepstudy(1e6)
  fit <- lmm(Reaction ~ D + (D | Subject), d)
  m <- suppressWarnings(suppressMessages(lme4::lmer(Reaction ~ D + (D | Subject), d)))
  expect_lte(REMLcrit(fit) - lme4::REMLcrit(m), 1e-6)
  # lme4 warns about the scale of the predictors (and stops short, 1784.6 against
  # 1771.26): lemma fits such columns on their own scale, so it does not
  expect_gt(lme4::REMLcrit(m) - REMLcrit(fit), 1)
})

test_that("profile intervals on a covariate of scale 1e6 are lme4's well-scaled ones", {
  ref <- load_ref("scale_refs.rds")$scale$REML$confint
  fit <- lmm(Reaction ~ D + (D | Subject), scaled_sleepstudy(1e6))
  ci <- confint(fit, method = "profile")
  # rows .sig01, .sig02, .sig03 (sd of D), .sigma, (Intercept), D; 1e-3 as in
  # test-confint.R (the profiles are splines through points on different grids).
  # Before the nuisance sds were optimized in units of their start, .sig01 and .sig02
  # were off by up to 11% and .sigma was NA.
  expect_equal(unname(ci * c(1, 1, 1e6, 1, 1, 1e6)), unname(ref), tolerance = 1e-3)
})

test_that("Satterthwaite and Kenward-Roger df on a covariate of scale 1e6 are lmerTest's well-scaled ones", {
  skip_if_not_installed("lmerTest")
  skip_if_not_installed("pbkrtest")
  m <- suppressMessages(lmerTest::lmer(Reaction ~ Days + (Days | Subject), sleepstudy))
  fit <- lmm(Reaction ~ D + (D | Subject), scaled_sleepstudy(1e6))
  # Before the derivatives were taken on the optimizer's scale the Satterthwaite df
  # were 6.8e19 and 0.0068, and Kenward-Roger stopped in solve(). The df depend on
  # theta to first order, and the two fits' thetas agree to ~1e-5: tolerance 1e-4.
  for (ddf in c("Satterthwaite", "Kenward-Roger")) {
    ref <- summary(m, ddf = ddf)$coefficients
    ours <- coef(summary(fit, ddf = ddf))
    expect_equal(unname(ours[, "df"]), unname(ref[, "df"]), tolerance = 1e-4)
    expect_equal(unname(ours[, "Pr(>|t|)"]), unname(ref[, "Pr(>|t|)"]), tolerance = 1e-4)
  }
})

test_that("refit and the bootstrap keep the optimizer's scale", {
  d <- scaled_sleepstudy(1e6)
  fit <- lmm(Reaction ~ D + (D | Subject), d)
  # refitting the fit's own response must return the same optimum
  fit2 <- refit(fit, d$Reaction)
  expect_equal(REMLcrit(fit2), REMLcrit(fit), tolerance = 1e-9)
  ref <- load_ref("scale_refs.rds")$scale$ML
  expect_lte(deviance(refit_ml(fit)) - ref$crit, 1e-6)
})

test_that("models where two terms can carry the mean reach the better basin", {
  refs <- load_ref("scale_refs.rds")
  d <- refs$fuzz_data
  for (b in refs$basins) {
    fit <- suppressMessages(lmm(stats::as.formula(b$formula), d, REML = b$REML))
    expect_lte(crit_of(fit) - b$lme4_best, 1e-6)
    expect_true(all(is.finite(c(fixef(fit), fit$theta, sigma(fit)))))
  }
  # refit() (the bootstrap's path) starts from the fit's theta and keeps the basin
  fit <- suppressMessages(lmm(stats::as.formula(refs$basins[[1]]$formula), d))
  expect_lte(REMLcrit(suppressMessages(refit(fit, d$y))) - refs$basins[[1]]$lme4_best, 1e-6)
})

test_that("the basin case against lme4 (live)", {
  skip_if_not_installed("lme4")
  d <- load_ref("scale_refs.rds")$fuzz_data
  f <- y ~ x:a + (x | b) + (b || h/g) - 1
  fit <- suppressMessages(lmm(f, d))
  m <- suppressWarnings(suppressMessages(lme4::lmer(f, d)))
  expect_lte(REMLcrit(fit) - lme4::REMLcrit(m), 1e-6)
  # lme4's own criterion at lemma's theta gives lemma's value: the basin is real.
  # (Terms with as many levels are ordered differently; the names are lme4's.)
  dev <- lme4::lmer(f, d, devFunOnly = TRUE)
  th <- fit$theta[names(lme4::getME(m, "theta"))]
  expect_equal(dev(unname(th)), REMLcrit(fit), tolerance = 1e-8)
})

test_that("a 12 x 12 unstructured term (78 parameters) reaches lme4's best", {
  u <- load_ref("scale_refs.rds")$unstructured
  fit <- suppressWarnings(suppressMessages(lmm(stats::as.formula(u$formula), u$data, REML = u$REML)))
  expect_lte(REMLcrit(fit) - u$lme4_best, 1e-6)
  expect_true(all(is.finite(c(fixef(fit), fit$theta, sigma(fit)))))
  skip_if_not_installed("lme4")
  # lme4's criterion at lemma's theta (one term: the same order) is lemma's value
  dev <- lme4::lmer(stats::as.formula(u$formula), u$data, devFunOnly = TRUE)
  expect_equal(dev(unname(fit$theta)), REMLcrit(fit), tolerance = 1e-8)
})

test_that("columns whose squares leave the range of doubles are refused by name", {
  d <- sleepstudy
  d$D <- d$Days * 1e200
  d$E <- d$Days * 1e-200
  d$R <- d$Reaction * 1e200
  # Without the check these gave "the objective is not finite at theta = 1, 0, 1"
  # and "the fixed-effects cross-product ... is not positive definite".
  expect_error(lmm(Reaction ~ D + (1 | Subject), d), "fixed-effects model matrix: 'D' on a scale")
  expect_error(lmm(Reaction ~ Days + (E | Subject), d), "\\(E \\| Subject\\): 'E' on a scale")
  expect_error(lmm(R ~ Days + (1 | Subject), d), "response: 'R' on a scale")
  # 1e-100 and 1e100 are inside the range and reach the well-scaled ML optimum
  ref <- load_ref("scale_refs.rds")$scale$ML
  for (c in c(1e-100, 1e100)) {
    d$D <- d$Days * c
    expect_lte(deviance(lmm(Reaction ~ D + (D | Subject), d, REML = FALSE)) - ref$crit, 1e-6)
  }
})

test_that("a relmat term with a slope on a scale of 1e6 reaches the optimum of a dense hand-coded deviance", {
  set.seed(3)
  ids <- sprintf("i%02d", 1:40)
  A <- matrix(rnorm(40 * 15), 40)
  K <- tcrossprod(A) / 15 + diag(0.05, 40)
  dimnames(K) <- list(ids, ids)
  d <- data.frame(id = factor(rep(ids, each = 4)), x = rnorm(160))
  C <- t(chol(K))
  bu <- drop(C %*% rnorm(40))
  bs <- drop(C %*% rnorm(40))
  d$y <- 2 + d$x + 0.8 * bu[d$id] + 0.5 * bs[d$id] * d$x + rnorm(160)
  # ML deviance from the marginal model, written out densely: with relative factor
  # lambda (2 x 2) of the term (1 + x | id) and Z0 the id indicators,
  # V = I + sum_jl (lambda lambda')_jl D_j Z0 K Z0' D_l, D_1 = I, D_2 = diag(x);
  # beta by GLS and sigma^2 = r'V^-1 r / n profiled out.
  Z0 <- stats::model.matrix(~ 0 + id, d)
  ZKZ <- Z0 %*% K[levels(d$id), levels(d$id)] %*% t(Z0)
  X <- cbind(1, d$x)
  n <- nrow(d)
  hand_dev <- function(th) {
    S <- tcrossprod(matrix(c(th[1], th[2], 0, th[3]), 2))
    V <- diag(n) + S[1, 1] * ZKZ + S[1, 2] * (ZKZ * outer(rep(1, n), d$x) + ZKZ * outer(d$x, rep(1, n))) +
      S[2, 2] * (ZKZ * outer(d$x, d$x))
    R <- chol(V)
    Xt <- backsolve(R, X, transpose = TRUE)
    yt <- backsolve(R, d$y, transpose = TRUE)
    r <- yt - Xt %*% qr.coef(qr(Xt), yt)
    n * log(2 * pi * sum(r^2) / n) + 2 * sum(log(diag(R))) + n
  }
  best <- stats::optim(c(1, 0, 1), hand_dev, method = "L-BFGS-B", lower = c(0, -Inf, 0),
                       control = list(factr = 1e2))$value
  d$xs <- d$x * 1e6
  fit <- lmm(y ~ xs + (1 + xs | id), d, REML = FALSE, relmat = list(id = K))
  # the deviance does not depend on the scale of x; the hand optimum is reached to
  # rounding (optim's own tolerance factr = 1e2 is ~1e-12 relative)
  expect_lte(deviance(fit) - best, 1e-6)
  expect_equal(hand_dev(fit$theta * c(1, 1e6, 1e6)), deviance(fit), tolerance = 1e-9)
})
