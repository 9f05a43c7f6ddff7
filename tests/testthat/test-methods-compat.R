## Methods lme4 users call (issue 8): refit, refitML, profile, influence diagnostics,
## extractAIC, family, getData, plot, and the shapes of coef/weights/ranef. Numbers
## are compared with lme4 1.1-31 live (skip_if_not_installed), or with identities
## that hold exactly. Tolerances: lme4's optimizer stops at ~1e-6 relative in the
## criterion, so estimates agree to ~1e-4 relative (1e-5 for criteria); identities
## between two exact computations hold to rounding (1e-8).

fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)

## ---- refit / refitML ------------------------------------------------------------

test_that("refit() to a new response agrees with lme4's fit of that response", {
  skip_if_not_installed("lme4")
  set.seed(3)
  y2 <- sleepstudy$Reaction + rnorm(180, 0, 20)
  d2 <- sleepstudy
  d2$Reaction <- y2
  a <- refit(fit, y2)
  ## lme4 1.1-31's own refit(fm, y2) stops at REMLcrit 1814.5 on this response (its
  ## lmer() on the same data reaches 1805.84), so the reference is lmer() itself
  b <- lme4::lmer(Reaction ~ Days + (Days | Subject), d2)
  expect_s3_class(a, "lemma_fit")
  expect_true(isREML(a))
  ## lemma's optimum is at least as good as lme4's stopping point, and close to it
  expect_lte(REMLcrit(a), lme4::REMLcrit(b) + 1e-6)
  expect_equal(REMLcrit(a), lme4::REMLcrit(b), tolerance = 1e-6)
  expect_equal(fixef(a), lme4::fixef(b), tolerance = 1e-4)
  expect_equal(as.data.frame(VarCorr(a))$sdcor, as.data.frame(lme4::VarCorr(b))$sdcor, tolerance = 1e-3)
  expect_equal(a$y, y2)
  ## ML fits stay ML
  am <- refit(update(fit, REML = FALSE), y2)
  expect_false(isREML(am))
  expect_equal(deviance(am), deviance(lme4::lmer(Reaction ~ Days + (Days | Subject), d2, REML = FALSE)),
               tolerance = 1e-6)
})

test_that("refit() swaps only the response: same fit as lmm() on the changed data", {
  ## weights + offset, two crossed terms, and a relationship matrix (C++ path) and a
  ## spectral fit: each refit must equal a fit built from scratch (to rounding)
  rd <- make_relmat_data()
  d <- rd$data
  d$o <- seq(-1, 1, length.out = nrow(d))
  set.seed(9)
  ynew <- d$y + rnorm(nrow(d))
  d2 <- d
  d2$y <- ynew
  cases <- list(
    list(y ~ x + g + offset(o) + (1 | id), list(weights = quote(w))),
    list(y ~ x + (1 | id) + (1 | g), list()),
    list(y ~ x + (1 | id), list(relmat = list(id = rd$K))))
  for (cs in cases) {
    f1 <- do.call(lmm, c(list(cs[[1]], d), cs[[2]]))
    f2 <- do.call(lmm, c(list(cs[[1]], d2), cs[[2]]))
    r <- refit(f1, ynew)
    expect_equal(REMLcrit(r), REMLcrit(f2), tolerance = 1e-8)
    expect_equal(fixef(r), fixef(f2), tolerance = 1e-6)
    expect_equal(unname(fitted(r)), unname(fitted(f2)), tolerance = 1e-6)
    ## the original fit's model is untouched
    expect_equal(REMLcrit(refit(f1)), REMLcrit(f1), tolerance = 1e-8)
  }
  ## spectral path: one observation per level of a relationship matrix
  ds <- data.frame(id = rownames(rd$K), x = rnorm(25))
  ds$y <- ds$x + drop(t(chol(rd$K)) %*% rnorm(25)) + rnorm(25)
  fs <- lmm(y ~ x + (1 | id), ds, relmat = list(id = rd$K))
  expect_false(is.null(fs$spectral))
  ds2 <- ds
  ds2$y <- rev(ds$y)
  expect_equal(REMLcrit(refit(fs, ds2$y)), REMLcrit(lmm(y ~ x + (1 | id), ds2, relmat = list(id = rd$K))),
               tolerance = 1e-8)
})

test_that("refit() takes simulate() output and data-length responses, and rejects bad ones", {
  s <- simulate(fit, nsim = 2, seed = 4)
  r1 <- refit(fit, s[1])
  expect_equal(r1$y, unname(s[[1]]))
  expect_error(refit(fit, s), "'newresp' is a list or data frame with 2 columns")
  expect_error(refit(fit, 1:10), "'newresp' has 10 values; the fit used 180 observations")
  expect_error(refit(fit, replace(s[[1]], 3, NA)), "'newresp' has missing")
  expect_error(refit(fit, letters[1:180 %% 26 + 1]), "'newresp' must be a numeric vector")
  expect_warning(refit(fit, s[[1]], maxit = 5), "'maxit' is not supported")
  expect_error(refit(fit, s[[1]], control = list(optimizer = "Nelder_Mead")), "'control' must be a list from lmm_control")
  ## with rows dropped for missing values, a response per data row is subset the same way
  d <- sleepstudy
  d$Reaction[c(2, 40)] <- NA
  fna <- lmm(Reaction ~ Days + (Days | Subject), d, na.action = na.exclude)
  ynew <- sleepstudy$Reaction * 1.1
  expect_equal(refit(fna, ynew)$y, ynew[-c(2, 40)])
  expect_equal(REMLcrit(refit(fna, ynew)), REMLcrit(refit(fna, ynew[-c(2, 40)])), tolerance = 1e-12)
  ## rename.response puts the new response's name into the formula
  yy <- s[[1]]
  expect_identical(deparse(formula(refit(fit, yy, rename.response = TRUE))[[2]]), "yy")
})

test_that("refitML() is lme4's ML refit; an ML fit is returned unchanged", {
  skip_if_not_installed("lme4")
  fm <- lme4::lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
  a <- refitML(fit)
  b <- lme4::refitML(fm)
  expect_false(isREML(a))
  expect_equal(as.numeric(logLik(a)), as.numeric(logLik(b)), tolerance = 1e-7)
  expect_equal(fixef(a), lme4::fixef(b), tolerance = 1e-4)
  expect_identical(refitML(a), a)
})

## ---- extractAIC, family, getData -------------------------------------------------

test_that("extractAIC(), family() and getData() agree with lme4", {
  skip_if_not_installed("lme4")
  fm <- lme4::lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
  expect_equal(extractAIC(fit), extractAIC(fm), tolerance = 1e-8)
  expect_equal(extractAIC(fit, k = log(180)), extractAIC(fm, k = log(180)), tolerance = 1e-8)
  expect_warning(extractAIC(fit, scale = 2), "'scale' is not used")
  fa <- family(fit)
  fb <- family(fm)
  expect_identical(fa$family, fb$family)
  expect_identical(fa$link, fb$link)
  expect_equal(fa$linkinv(1:3), fb$linkinv(1:3))
  expect_identical(getData(fit), lme4::getData(fm))
  expect_identical(getData(fit), sleepstudy)
  with_env <- local({ y <- sleepstudy$Reaction; d <- sleepstudy$Days; s <- sleepstudy$Subject
    lmm(y ~ d + (1 | s)) })
  expect_error(getData(with_env), "not fitted with a 'data' argument")
})

## ---- profile ------------------------------------------------------------------------

test_that("profile() has lme4's shape and confint(profile(fit)) is confint(fit)", {
  skip_if_not_installed("lme4")
  fm <- lme4::lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
  pb <- suppressWarnings(profile(fm))
  pa <- profile(fit)
  expect_s3_class(pa, "data.frame")
  expect_identical(names(pa), names(pb))
  expect_identical(levels(pa$.par), levels(pb$.par))
  expect_identical(names(attr(pa, "backward")), names(attr(pb, "backward")))
  expect_equal(unname(attr(pa, "lower")[1:4]), attr(pb, "lower"))
  expect_equal(unname(attr(pa, "upper")[1:4]), attr(pb, "upper"))
  ## every profile point lies on lme4's profile: zeta at lemma's parameter values
  ## from lme4's interpolating spline, where that is accurate (~1e-3 in zeta for
  ## |zeta| < 3.5, beyond any usual confidence level; its knots are ~0.5 apart and
  ## the correlation's profile bends sharply further out)
  for (nm in levels(pa$.par)) {
    pts <- pa[pa$.par == nm, ]
    rng <- range(pb[pb$.par == nm, nm])
    pts <- pts[pts[[nm]] > rng[1] & pts[[nm]] < rng[2] & abs(pts$.zeta) < 3.5, ]
    zb <- predict(attr(pb, "forward")[[nm]], pts[[nm]])$y
    expect_lt(max(abs(pts$.zeta - zb)), 2e-3, label = paste("zeta difference of", nm))
  }
  ci <- confint(pa)
  expect_equal(ci, suppressWarnings(confint(pb)), tolerance = 1e-3)
  expect_identical(confint(fit), ci)
  expect_identical(confint(fit, parm = c(".sigma", "Days"), level = 0.9),
                   confint(profile(fit, which = c(".sigma", "Days")), level = 0.9))
  expect_identical(levels(profile(fit, which = "theta_")$.par), c(".sig01", ".sig02", ".sig03", ".sigma"))
  expect_identical(levels(profile(fit, which = 5:6)$.par), c("(Intercept)", "Days"))
  expect_error(profile(fit, which = "Dayz"), "unknown parameter\\(s\\) in 'which': Dayz")
  expect_warning(profile(fit, which = ".sigma", signames = FALSE), "'signames' is not supported")
  expect_error(confint(pa, parm = "x"), "were not profiled")
  grDevices::pdf(NULL)
  on.exit(grDevices::dev.off())
  expect_identical(plot(pa), pa)
})

test_that("a profile that reaches a bound gives the bound (singular fit), as lme4", {
  skip_if_not_installed("lme4")
  f2 <- lmm(Yield ~ 1 + (1 | Batch), Dyestuff2)
  b2 <- suppressWarnings(suppressMessages(confint(lme4::lmer(Yield ~ 1 + (1 | Batch), Dyestuff2))))
  ci <- confint(profile(f2))
  expect_identical(ci[".sig01", 1], 0)
  expect_equal(ci, b2, tolerance = 1e-3)
})

test_that("profile intervals of a weighted model with an offset: the deviance at each bound", {
  skip_if_not_installed("lme4")
  set.seed(11)
  d <- data.frame(g = factor(rep(1:12, each = 6)), x = rnorm(72), w = runif(72) + 0.5, o = rnorm(72))
  d$y <- 1 + d$x + d$o + rnorm(12)[d$g] + rnorm(72) / sqrt(d$w)
  a <- lmm(y ~ x + offset(o) + (1 | g), d, weights = w)
  ci <- confint(a)
  b <- lme4::lmer(y ~ x + offset(o) + (1 | g), d, weights = w)
  cb <- suppressMessages(confint(b))
  ## variance rows: lme4's profile
  expect_equal(ci[1:2, ], cb[1:2, ], tolerance = 1e-4)
  ## fixed-effect rows: at each bound, lme4's ML fit with that coefficient held fixed
  ## (moved into the offset) is qchisq(0.95, 1) above the ML fit. (lme4 1.1-31's own
  ## profile of the fixed effects is off for weighted models: its bounds give 3.60.)
  m0 <- lme4::lmer(y ~ x + offset(o) + (1 | g), d, weights = w, REML = FALSE)
  for (bd in ci["(Intercept)", ]) {
    d$o2 <- d$o + bd
    m1 <- lme4::lmer(y ~ 0 + x + offset(o2) + (1 | g), d, weights = w, REML = FALSE)
    expect_equal(deviance(m1) - deviance(m0), qchisq(0.95, 1), tolerance = 1e-4)
  }
  for (bd in ci["x", ]) {
    d$o2 <- d$o + bd * d$x
    m1 <- lme4::lmer(y ~ 1 + offset(o2) + (1 | g), d, weights = w, REML = FALSE)
    expect_equal(deviance(m1) - deviance(m0), qchisq(0.95, 1), tolerance = 1e-4)
  }
})

test_that("a spectral fit profiles, and has the leverages, of the same model fitted by the general path", {
  set.seed(1)
  ids <- paste0("i", 1:50)
  A <- matrix(rnorm(50 * 20), 50)
  K <- tcrossprod(A) / 20
  dimnames(K) <- list(ids, ids)
  ds <- data.frame(id = ids, x = rnorm(50))
  ds$y <- ds$x + drop(t(chol(K + diag(1e-8, 50))) %*% rnorm(50)) + rnorm(50)
  fs <- lmm(y ~ x + (1 | id), ds, relmat = list(id = K))
  expect_false(is.null(fs$spectral))
  fr <- lmm_frame(y ~ x + (1 | id), ds, relmat = list(id = K))
  f0 <- lmm_devfun(fr)
  fg <- lmm_object(f0, lmm_optimize(f0))
  expect_null(fg$spectral)
  expect_equal(confint(fs), confint(fg), tolerance = 1e-6)
  expect_equal(hatvalues(fs), hatvalues(fg), tolerance = 1e-7)
})

## ---- bootstrap ----------------------------------------------------------------------

test_that("confint(method = 'boot') honours FUN, seed and boot.type, and keeps the replicates", {
  skip_if_not_installed("lme4")
  f1 <- lmm(Yield ~ 1 + (1 | Batch), Dyestuff)
  fm <- lme4::lmer(Yield ~ 1 + (1 | Batch), Dyestuff)
  future::plan(future::sequential)
  b1 <- confint(f1, method = "boot", nsim = 40, seed = 7, level = 0.9)
  set.seed(7)
  b2 <- confint(f1, method = "boot", nsim = 40, level = 0.9)
  expect_identical(b1, b2)
  expect_false(identical(b1, confint(f1, method = "boot", nsim = 40, seed = 8, level = 0.9)))
  ## default statistics: lme4's bootFun (sd, sigma, beta) at the fit
  M <- attr(b1, "boot")
  expect_identical(dim(M), c(40L, 3L))
  expect_identical(colnames(M), rownames(suppressWarnings(confint(fm, method = "Wald"))))
  expect_equal(unname(attr(M, "t0")), c(as.data.frame(lme4::VarCorr(fm))$sdcor, lme4::fixef(fm)[[1]]),
               tolerance = 1e-5)
  ## each replicate is a refit of a simulated response: replicate 1 by hand (the
  ## bootstrap's quasi-Newton refit and refit()'s Brent search stop within 1e-6 of
  ## theta of each other)
  set.seed(7)
  s <- simulate(f1, nsim = 40)
  r1 <- refit(f1, s[[1]])
  expect_equal(unname(M[1, ]), c(sqrt(VarCorr(r1)$Batch[1]), sigma(r1), fixef(r1)[[1]]), tolerance = 1e-6)
  ## FUN: any statistic of the refit
  bf <- confint(f1, method = "boot", nsim = 40, seed = 7, level = 0.9, FUN = function(f) c(ratio = sigma(f) / fixef(f)[[1]]))
  expect_identical(rownames(bf), "ratio")
  expect_equal(attr(bf, "boot")[, 1], M[, ".sigma"] / M[, "(Intercept)"], tolerance = 1e-10)
  ## interval types against package boot's definitions on the same replicates
  skip_if_not_installed("boot")
  bo <- structure(list(t0 = attr(M, "t0"), t = unclass(M)[, ], R = 40, sim = "parametric", call = quote(boot()),
                       stype = "i", strata = rep(1, 30), weights = rep(1 / 30, 30)), class = "boot")
  attr(bo$t, "t0") <- NULL
  bp <- confint(f1, method = "boot", nsim = 40, seed = 7, level = 0.9)
  ## at level 0.95 with nsim = 20, 21 * 0.025 < 1: the ends are the extreme replicates
  expect_warning(confint(f1, method = "boot", nsim = 20, seed = 7), "extreme replicates")
  for (i in 1:3) {
    expect_equal(unname(bp[i, ]), boot::boot.ci(bo, conf = 0.9, type = "perc", index = i)$percent[4:5],
                 tolerance = 1e-12)
    bb <- confint(f1, method = "boot", nsim = 40, seed = 7, level = 0.8, boot.type = "basic")
    expect_equal(unname(bb[i, ]), boot::boot.ci(bo, conf = 0.8, type = "basic", index = i)$basic[4:5], tolerance = 1e-12)
    bn <- confint(f1, method = "boot", nsim = 40, seed = 7, boot.type = "norm")  # no order statistics
    expect_equal(unname(bn[i, ]), boot::boot.ci(bo, type = "norm", index = i)$normal[2:3], tolerance = 1e-12)
  }
  expect_warning(confint(f1, method = "Wald", FUN = sigma), "'FUN' not used by method = \"Wald\"")
  expect_warning(confint(f1, method = "Wald", nsim = 10, seed = 1), "'seed', 'nsim' not used")
  expect_error(confint(f1, method = "boot", nsim = 5, FUN = function(f) "a"), "'FUN' must return a numeric vector")
})

## ---- leverages and deletion diagnostics ----------------------------------------------

test_that("hatvalues, cooks.distance and rstudent agree with lme4", {
  skip_if_not_installed("lme4")
  fm <- lme4::lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
  ## the fits' theta differ at ~1e-6 relative, so do the leverages
  expect_equal(hatvalues(fit), hatvalues(fm), tolerance = 1e-5)
  expect_equal(cooks.distance(fit), cooks.distance(fm), tolerance = 1e-5)
  expect_equal(rstudent(fit), rstudent(fm), tolerance = 1e-5)
  p1 <- lmm(diameter ~ 1 + (1 | plate) + (1 | sample), Penicillin)
  p2 <- lme4::lmer(diameter ~ 1 + (1 | plate) + (1 | sample), Penicillin)
  expect_equal(hatvalues(p1), hatvalues(p2), tolerance = 1e-5)
  ## prior weights and na.exclude padding
  set.seed(11)
  d <- data.frame(g = factor(rep(1:12, each = 6)), x = rnorm(72), w = runif(72) + 0.5)
  d$y <- 1 + d$x + rnorm(12)[d$g] + rnorm(72) / sqrt(d$w)
  d$y[5] <- NA
  a <- lmm(y ~ x + (1 | g), d, weights = w, na.action = na.exclude)
  b <- lme4::lmer(y ~ x + (1 | g), d, weights = w, na.action = na.exclude)
  expect_equal(hatvalues(a), hatvalues(b), tolerance = 1e-5)
  expect_true(is.na(hatvalues(a)[5]))
  expect_equal(cooks.distance(a), cooks.distance(b), tolerance = 1e-5)
})

test_that("the hat matrix maps the response to the fitted values (relationship matrix too)", {
  ## W^1/2 (fitted - offset) = H W^1/2 (y - offset): the fitted values come from the
  ## C++ solution, H from the sparse design built in R
  rd <- make_relmat_data()
  d <- rd$data
  d$o <- seq(-1, 1, length.out = nrow(d))
  f <- lmm(y ~ x + g + offset(o) + (1 | id), d, weights = w, relmat = list(id = rd$K))
  H <- hatvalues(f, fullHatMatrix = TRUE)
  sw <- sqrt(d$w)
  expect_equal(unname(drop(H %*% (sw * (d$y - d$o)))), sw * (unname(fitted(f)) - d$o), tolerance = 1e-8)
  expect_equal(unname(hatvalues(f)), unname(diag(H)), tolerance = 1e-10)
})

test_that("influence() deletes each group (or case) and matches lme4's result", {
  skip_if_not_installed("lme4")
  fm <- lme4::lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
  ia <- influence(fit, groups = "Subject")
  ib <- lme4:::influence.merMod(fm, groups = "Subject")
  expect_s3_class(ia, "lemma_influence")
  expect_identical(names(ia), names(ib))
  expect_identical(ia$deleted, ib$deleted)
  expect_identical(dimnames(ia[["fixed.effects[-Subject]"]]), dimnames(ib[["fixed.effects[-Subject]"]]))
  expect_identical(names(ia$var.cov.comps), names(ib$var.cov.comps))
  expect_equal(ia[["fixed.effects[-Subject]"]], ib[["fixed.effects[-Subject]"]], tolerance = 1e-4)
  ## lme4's optimizer stops ~1e-4 short on some deletions; variance components to 1e-3
  expect_equal(ia[["var.cov.comps[-Subject]"]], ib[["var.cov.comps[-Subject]"]], tolerance = 1e-3)
  expect_equal(ia[["vcov[-Subject]"]], lapply(ib[["vcov[-Subject]"]], as.matrix), tolerance = 1e-3)
  expect_equal(unname(cooks.distance(ia)), unname(cooks.distance(ib)), tolerance = 1e-3)
  expect_equal(dfbetas(ia), dfbetas(ib), tolerance = 1e-3)
  expect_equal(dfbeta(ia, "var.cov"), dfbeta(ib, "var.cov"), tolerance = 1e-3)
  ## case deletion, two terms
  d1 <- lmm(diameter ~ 1 + (1 | plate) + (1 | sample), Penicillin[1:48, ])
  ic <- influence(d1)
  d2 <- lme4::lmer(diameter ~ 1 + (1 | plate) + (1 | sample), Penicillin[1:48, ])
  id2 <- lme4:::influence.merMod(d2, data = Penicillin[1:48, ])
  expect_identical(names(ic), names(id2))
  expect_identical(names(ic$var.cov.comps), names(id2$var.cov.comps))
  expect_equal(ic[["fixed.effects[-case]"]], id2[["fixed.effects[-case]"]], tolerance = 1e-4)
  expect_identical(influence(fit, do.coef = FALSE)$hat, hatvalues(fit))
  expect_error(influence(fit, groups = "Subj"), "'Subj' are not in the data")
  expect_warning(influence(d1, ncores = 2, groups = "sample"), "'ncores' is not used")
})

## ---- shapes of coef, weights, ranef ---------------------------------------------------

test_that("coef(), weights() and as.data.frame(ranef()) have lme4's shapes", {
  skip_if_not_installed("lme4")
  cases <- list(
    list(Reaction ~ Days + (Days | Subject), sleepstudy),
    list(Reaction ~ 1 + (0 + Days | Subject), sleepstudy),
    list(Reaction ~ Days + (1 | Subject) + (0 + Days | Subject), sleepstudy),
    list(strength ~ 1 + (1 | batch / cask), Pastes))
  for (cs in cases) {
    a <- lmm(cs[[1]], cs[[2]])
    b <- lme4::lmer(cs[[1]], cs[[2]])
    ca <- unclass(coef(a))
    cb <- unclass(coef(b))
    expect_identical(lapply(ca, names), lapply(cb, names))
    expect_identical(lapply(ca, rownames), lapply(cb, rownames))
    expect_equal(ca, cb, tolerance = 1e-4)
    expect_identical(weights(a), weights(b))
    ra <- as.data.frame(ranef(a))
    rb <- as.data.frame(lme4::ranef(b))
    expect_identical(names(ra), names(rb))
    expect_identical(ra$grpvar, rb$grpvar)
    expect_identical(levels(ra$term), levels(rb$term))
    expect_identical(levels(ra$grp), levels(rb$grp))
    expect_identical(as.character(ra$grp), as.character(rb$grp))
    expect_equal(ra$condval, rb$condval, tolerance = 1e-4)
    expect_equal(ra$condsd, rb$condsd, tolerance = 1e-4)
  }
  f1 <- lmm(Reaction ~ Days + (1 | Subject), sleepstudy)
  b1 <- lme4::lmer(Reaction ~ Days + (1 | Subject), sleepstudy)
  expect_equal(unclass(ranef(f1, drop = TRUE)), unclass(lme4::ranef(b1, drop = TRUE)), tolerance = 1e-4)
  expect_identical(names(ranef(fit, whichel = "Subject")), "Subject")
  expect_error(ranef(fit, whichel = "Subj"), "'whichel' names 'Subj'")
  expect_null(attr(ranef(fit, condVar = FALSE)$Subject, "postVar"))
  expect_warning(coef(fit, foo = 1), "'foo' is not supported")
  expect_error(weights(fit, type = "working"), "working weights")
})

## ---- plot -----------------------------------------------------------------------------

test_that("plot(fit) draws Pearson residuals against fitted values", {
  grDevices::pdf(NULL)
  on.exit(grDevices::dev.off())
  out <- plot(fit)
  expect_identical(out$fitted, unname(fitted(fit)))
  expect_identical(out$resid, unname(residuals(fit, type = "pearson")))
  expect_silent(plot(fit, id = 0.05, main = "x"))
  expect_error(plot(fit, form = resid(.) ~ Days), "'form'")
})
