## lemma, lme4 and lmerTest together (issue 8).
##
## References are lme4 1.1-31 and lmerTest's own functions on lmer fits of the same
## models, and a hand formula for the relmat covariance. Tolerances:
##   * values that do not depend on the optimum (model matrices, dimensions, names,
##     lower bounds, the objective at a given theta) are compared exactly or to
##     1e-8 relative (floating-point summation order only);
##   * estimates (theta, Lambda, u, b, RX, the REML criterion) are compared with
##     lme4's fit at 1e-4 relative: lemma and lme4 stop at optima that differ by
##     up to ~3e-5 relative in theta on these data (the criterion is flat there);
##   * lmerTest's Satterthwaite F and df: 1e-4 relative (lmerTest differentiates
##     numerically; ANCHORS.md gives ~1e-4 as the realistic floor).

fit_pair <- function(formula, data) {
  list(lemma = lmm(formula, data), lme4 = lme4::lmer(formula, data))
}

test_that("getME() gives lme4's parts under lme4's names", {
  skip_if_not_installed("lme4")
  models <- list(
    list(Reaction ~ Days + (Days | Subject), sleepstudy),
    list(diameter ~ 1 + (1 | plate) + (1 | sample), Penicillin),
    list(strength ~ 1 + (1 | batch/cask), lme4::Pastes)
  )
  for (m in models) {
    fp <- fit_pair(m[[1]], m[[2]])
    fl <- fp$lemma
    fm <- fp$lme4
    lab <- deparse1(m[[1]])
    # structure: exactly lme4's
    for (nm in c("X", "y", "Gp", "n_rtrms", "n_rfacs", "N", "n", "p", "q", "p_i", "l_i",
                 "q_i", "k", "m_i", "m", "cnms", "offset", "lower", "REML", "is_REML", "flist")) {
      expect_equal(getME(fl, nm), lme4::getME(fm, nm), ignore_attr = nm %in% c("X", "y"),
                   label = paste(lab, nm))
    }
    expect_equal(as.matrix(getME(fl, "Z")), as.matrix(lme4::getME(fm, "Z")), label = paste(lab, "Z"))
    expect_equal(as.matrix(getME(fl, "Zt")), as.matrix(lme4::getME(fm, "Zt")), label = paste(lab, "Zt"))
    # the objective at lme4's theta is lme4's criterion: same function, no optimizer involved
    expect_equal(getME(fl, "devfun")(lme4::getME(fm, "theta")), lme4::REMLcrit(fm), tolerance = 1e-8,
                 label = paste(lab, "devfun at lme4's theta"))
    # estimates: lme4's optimum
    for (nm in c("theta", "u", "b", "Lambda", "Lambdat", "RX", "mu", "sigma", "beta")) {
      a <- getME(fl, nm)
      b <- lme4::getME(fm, nm)
      if (inherits(b, "Matrix")) b <- as.matrix(b)
      if (inherits(a, "Matrix")) a <- as.matrix(a)
      expect_equal(a, b, tolerance = 1e-4, ignore_attr = TRUE, label = paste(lab, nm))
    }
    expect_equal(unname(getME(fl, "Tlist")[[1]]), unname(lme4::getME(fm, "Tlist")[[1]]), tolerance = 1e-4)
    # lme4's functions that work through getME reach lemma fits
    expect_identical(lme4::isSingular(fl), lme4::isSingular(fm), label = paste(lab, "lme4::isSingular"))
  }
  expect_true(lme4::isSingular(lmm(Yield ~ 1 + (1 | Batch), Dyestuff2)))
})

test_that("getME() on a relmat fit: Z Lambda Lambda' Z' is theta^2 Z K Z'", {
  set.seed(3)
  A <- matrix(rnorm(36), 6)
  K <- crossprod(A) / 6 + diag(6) * 0.1
  dimnames(K) <- list(levels(Dyestuff$Batch), levels(Dyestuff$Batch))
  fit <- lmm(Yield ~ 1 + (1 | Batch), Dyestuff, relmat = list(Batch = K))
  Z <- as.matrix(getME(fit, "Z"))
  Lam <- as.matrix(getME(fit, "Lambda"))
  Zg <- stats::model.matrix(~ 0 + Batch, Dyestuff)           # hand indicator matrix
  hand <- unname(getME(fit, "theta"))^2 * Zg %*% K %*% t(Zg)
  expect_equal(Z %*% Lam %*% t(Lam) %*% t(Z), hand, tolerance = 1e-10, ignore_attr = TRUE)
})

test_that("getME() names what it cannot give", {
  fit <- lmm(Yield ~ 1 + (1 | Batch), Dyestuff)
  expect_error(getME(fit, "L"), "'L' is not available for a lemma fit")
  expect_error(getME(fit), "'name' must be given")
  expect_error(getME(fit, 3), "'name' must be a character vector")
  expect_warning(getME(fit, "theta", foo = 1), "argument 'foo' is not supported")
  all <- getME(fit, "ALL")
  expect_identical(all$n, 30L)
  expect_identical(getME(fit, c("n", "p")), list(n = 30L, p = 1L))
})

## Each load order in a fresh R process. Unqualified calls resolve through the
## search path, as in a user's script: whichever package was attached last masks
## the others' functions of the same name.
run_order <- function(pkgs) {
  callr::r(function(pkgs) {
    startup <- character(0)
    for (p in pkgs) withCallingHandlers(library(p, character.only = TRUE), packageStartupMessage = function(m) {
      startup <<- c(startup, conditionMessage(m))
      invokeRestart("muffleMessage")
    })
    tr <- function(expr) tryCatch(expr, error = function(e) structure(conditionMessage(e), class = "err"))
    calls <- function(f, fs) list(
      isSingular = tr(isSingular(f)), isSingular_sing = tr(isSingular(fs)), REMLcrit = tr(REMLcrit(f)),
      ngrps = tr(ngrps(f)), isREML = tr(isREML(f)), theta = tr(getME(f, "theta")),
      contest = tr(contest(f, c(0, 1))), fixef = tr(fixef(f)),
      VarCorr = tr(as.data.frame(VarCorr(f))$vcov))
    fl <- lemma::lmm(Reaction ~ Days + (Days | Subject), lemma::sleepstudy)
    fls <- lemma::lmm(Yield ~ 1 + (1 | Batch), lemma::Dyestuff2)
    fm <- lme4::lmer(Reaction ~ Days + (Days | Subject), lme4::sleepstudy)
    fms <- lme4::lmer(Yield ~ 1 + (1 | Batch), lme4::Dyestuff2)
    list(startup = startup, REMLcrit_home = environmentName(environment(REMLcrit)), search = grep("^package:(lemma|lme4|lmerTest)$", search(), value = TRUE),
         lemma = calls(fl, fls), lmer = calls(fm, fms),
         own = list(REMLcrit = lemma::REMLcrit(fl), contest = lemma::contest(fl, c(0, 1)),
                    fixef = lemma::fixef(fl), VarCorr = as.data.frame(lemma::VarCorr(fl))$vcov),
         ref = list(isSingular = lme4::isSingular(fm), isSingular_sing = lme4::isSingular(fms),
                    REMLcrit = lme4::REMLcrit(fm), ngrps = lme4::ngrps(fm), isREML = lme4::isREML(fm),
                    theta = lme4::getME(fm, "theta"), contest = lmerTest::contest(fm, c(0, 1)),
                    fixef = lme4::fixef(fm), VarCorr = as.data.frame(lme4::VarCorr(fm))$vcov))
  }, args = list(pkgs = pkgs))
}

check_order <- function(pkgs, expect_search) {
  r <- run_order(pkgs)
  lab <- paste(pkgs, collapse = " then ")
  expect_identical(r$search, expect_search, label = paste(lab, ": search path"))
  # an lmer fit: every shared name gives lme4's (lmerTest's) own answer
  for (nm in names(r$lmer)) expect_equal(r$lmer[[nm]], r$ref[[nm]], label = paste(lab, ": lmer fit,", nm))
  # a lemma fit: lme4's answers on the same model
  L <- r$lemma
  expect_identical(L$isSingular, r$ref$isSingular, label = paste(lab, ": lemma fit, isSingular"))
  expect_identical(L$isSingular_sing, r$ref$isSingular_sing, label = paste(lab, ": lemma fit, singular"))
  expect_identical(L$ngrps, r$ref$ngrps, label = paste(lab, ": lemma fit, ngrps"))
  expect_identical(L$isREML, r$ref$isREML, label = paste(lab, ": lemma fit, isREML"))
  expect_equal(L$theta, r$ref$theta, tolerance = 1e-4, label = paste(lab, ": lemma fit, getME theta"))
  expect_identical(L$contest, r$own$contest, label = paste(lab, ": lemma fit, contest is lemma's"))
  # nlme's generics, shared by all three packages
  expect_identical(L$fixef, r$own$fixef, label = paste(lab, ": lemma fit, fixef is lemma's"))
  expect_identical(L$VarCorr, r$own$VarCorr, label = paste(lab, ": lemma fit, VarCorr is lemma's"))
  expect_equal(L$fixef, r$ref$fixef, tolerance = 1e-4, label = paste(lab, ": lemma fit, fixef vs lme4"))
  expect_equal(L$VarCorr, r$ref$VarCorr, tolerance = 1e-4, label = paste(lab, ": lemma fit, VarCorr vs lme4"))
  expect_equal(L$contest[c("NumDF", "DenDF", "F value")], r$ref$contest[c("NumDF", "DenDF", "F value")],
               tolerance = 1e-4, ignore_attr = TRUE, label = paste(lab, ": lemma fit, contest vs lmerTest"))
  # REMLcrit: lme4 1.1-31's is a plain function reading object@devcomp (an S4 slot);
  # while lemma is attached, library(lme4) leaves it unattached (R/zzz.R), so
  # REMLcrit() is lemma's in every order and no notice is needed
  expect_false(any(grepl("cannot read lemma fits", r$startup, fixed = TRUE)), label = paste(lab, ": notice"))
  expect_identical(r$REMLcrit_home, "lemma", label = paste(lab, ": REMLcrit on the search path"))
  expect_equal(L$REMLcrit, r$own$REMLcrit, label = paste(lab, ": lemma fit, REMLcrit is lemma's"))
  expect_equal(L$REMLcrit, r$ref$REMLcrit, tolerance = 1e-7, label = paste(lab, ": lemma fit, REMLcrit vs lme4"))
}

test_that("lemma then lme4, lme4 then lemma", {
  skip_on_cran()
  skip_if_not_installed("lme4")
  skip_if_not_installed("lmerTest")
  skip_if_not_installed("callr")
  check_order(c("lemma", "lme4"), c("package:lme4", "package:lemma"))
  check_order(c("lme4", "lemma"), c("package:lemma", "package:lme4"))
})

test_that("lemma then lmerTest, lmerTest then lemma", {
  skip_on_cran()
  skip_if_not_installed("lme4")
  skip_if_not_installed("lmerTest")
  skip_if_not_installed("callr")
  check_order(c("lemma", "lmerTest"), c("package:lmerTest", "package:lme4", "package:lemma"))
  check_order(c("lmerTest", "lemma"), c("package:lemma", "package:lmerTest", "package:lme4"))
  check_order(c("lme4", "lemma", "lmerTest"), c("package:lmerTest", "package:lemma", "package:lme4"))
})

test_that("lemma alone neither loads lme4 nor accepts objects it has no method for", {
  skip_on_cran()
  skip_if_not_installed("callr")
  skip_if_not_installed("lme4")
  r <- callr::r(function() {
    suppressPackageStartupMessages(library(lemma))
    fit <- lm(dist ~ speed, cars)
    msg <- function(expr) tryCatch({ expr; "no error" }, error = conditionMessage)
    out <- list(loaded = c(lme4 = isNamespaceLoaded("lme4"), lmerTest = isNamespaceLoaded("lmerTest")),
         isSingular = msg(isSingular(fit)), REMLcrit = msg(REMLcrit(fit)), ngrps = msg(ngrps(fit)),
         isREML = msg(isREML(fit)), getME = msg(getME(fit, "theta")), contest = msg(contest(fit, 1)))
    # an explicit exclude overrides lemma's conflict rule: lme4's REMLcrit() is
    # attached above lemma's, and a notice says so
    startup <- character(0)
    withCallingHandlers(library(lme4, exclude = "nobars"), packageStartupMessage = function(m) {
      startup <<- c(startup, conditionMessage(m))
      invokeRestart("muffleMessage")
    })
    out$startup <- startup
    out$REMLcrit_lme4 <- msg(REMLcrit(lemma::lmm(Yield ~ 1 + (1 | Batch), lemma::Dyestuff)))
    # detaching lemma puts the user's (empty) rule back
    detach("package:lemma")
    out$rule_after_detach <- conflictRules("lme4")
    out
  })
  expect_identical(r$loaded, c(lme4 = FALSE, lmerTest = FALSE))
  for (g in c("isSingular", "REMLcrit", "ngrps", "isREML", "getME", "contest"))
    expect_identical(r[[g]], sprintf("%s(): no method for an object of class \"lm\"", g))
  expect_true(any(grepl("lme4's REMLcrit() masks lemma's and cannot read lemma fits", r$startup, fixed = TRUE)))
  expect_match(r$REMLcrit_lme4, "devcomp")
  expect_identical(r$rule_after_detach, list(mask.ok = NULL, exclude = NULL))
})

test_that("a generated default method hands lme4 fits to lme4, missing arguments kept missing", {
  # lemma's refit()/refitML() generics get such a default at load time when they
  # have none (R/zzz.R); here the forwarder is built for stand-in generics.
  skip_if_not_installed("lme4")
  fm <- lme4::lmer(Reaction ~ Days + (Days | Subject), lme4::sleepstudy)
  y <- lme4::sleepstudy$Reaction + 10
  refit_fwd <- lemma:::make_forwarder("refit", function(object, newresp, ...) UseMethod("refit"), "lme4")
  expect_equal(lme4::fixef(refit_fwd(fm, newresp = y)), lme4::fixef(lme4::refit(fm, y)))
  expect_equal(lme4::fixef(refit_fwd(fm)), lme4::fixef(lme4::refit(fm)))
  refitml_fwd <- lemma:::make_forwarder("refitML", function(x, ...) UseMethod("refitML"), "lme4")
  expect_equal(deviance(refitml_fwd(fm)), deviance(lme4::refitML(fm)))
  expect_false(lme4::isREML(refitml_fwd(fm)))
})

test_that("lmerTest's contest1D() and contestMD() on a lemma fit agree with lmerTest on lmer", {
  skip_if_not_installed("lmerTest")
  loadNamespace("lmerTest")   # registers lemma's methods on lmerTest's generics
  fl <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
  fm <- lmerTest::lmer(Reaction ~ Days + (Days | Subject), lme4::sleepstudy)
  # Satterthwaite: lmerTest differentiates numerically, 1e-4 relative (ANCHORS.md)
  expect_equal(lmerTest::contest1D(fl, c(0, 1)), lmerTest::contest1D(fm, c(0, 1)), tolerance = 1e-4)
  expect_equal(lmerTest::contest1D(fl, c(1, 5), confint = TRUE, rhs = 250),
               lmerTest::contest1D(fm, c(1, 5), confint = TRUE, rhs = 250), tolerance = 1e-4)
  expect_equal(lmerTest::contestMD(fl, diag(2)), lmerTest::contestMD(fm, diag(2)), tolerance = 1e-4)
  expect_equal(lmerTest::contestMD(fl, diag(2), ddf = "Kenward-Roger"),
               lmerTest::contestMD(fm, diag(2), ddf = "Kenward-Roger"), tolerance = 1e-4)
  expect_error(lmerTest::contest1D(fl, diag(2)), "'L' must be a single contrast")
  expect_warning(lmerTest::contestMD(fl, diag(2), eps = 1e-4), "argument 'eps' is not supported")
})
