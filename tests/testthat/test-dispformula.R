## lmm(dispformula = ~ f): a residual variance per level of a factor, against
## nlme's varIdent (gls, lme, with prior weights varComb(varIdent, varFixed);
## stored by ref/make-ref-varident.R and live) and
## glmmTMB's dispformula (live). Tolerances: logLik 1e-6 relative, beta and SEs
## 1e-5, variances 1e-4 (nlme's and lemma's optimizers stop at gradients of
## about 1e-5 in the log variance ratios, which moves the ratios in the 5th digit).

level_var <- function(fit) diag(VarCorr(fit)$residual[[1L]])

fit_ref_case <- function(rec) {
  env <- new.env(parent = globalenv())
  env$.d <- rec$data
  cl <- call("lmm", stats::as.formula(rec$formula), data = quote(.d), REML = rec$REML,
             dispformula = stats::as.formula(rec$dispformula))
  if (!is.null(rec$weights)) cl$weights <- as.name(rec$weights)
  eval(cl, env)
}

expect_agrees <- function(fit, rec, tol_var = 1e-4, tol_se = 1e-5) {
  expect_equal(as.numeric(logLik(fit)), rec$logLik, tolerance = 1e-6)
  expect_equal(fixef(fit), rec$beta[names(fixef(fit))], tolerance = 1e-5)
  expect_equal(sqrt(diag(vcov(fit))), rec$se[names(fixef(fit))], tolerance = tol_se)
  v <- level_var(fit)
  expect_identical(names(v), names(rec$var))
  expect_equal(v / v[1L], rec$var / rec$var[1L], tolerance = tol_var)
  expect_equal(v, rec$var, tolerance = tol_var)
  expect_equal(sigma(fit)^2, unname(rec$var[1L]), tolerance = tol_var)
  if (!is.null(rec$re_var))
    expect_equal(as.numeric(VarCorr(fit)$random[[1L]]), as.numeric(rec$re_var), tolerance = tol_var)
}

test_that("random intercept plus a variance per level agrees with nlme::lme(weights = varIdent()) (REML and ML)", {
  refs <- load_ref("varident_refs.rds")
  for (nm in c("ortho_lme_reml", "ortho_lme_ml")) {
    rec <- refs[[nm]]
    fit <- fit_ref_case(rec)
    expect_s3_class(fit, "lemma_covfit")
    expect_true(fit$optinfo$converged)
    expect_agrees(fit, rec)
  }
})

test_that("prior weights with dispformula agree with nlme's varComb(varIdent(), varFixed(~ 1 / w))", {
  rec <- load_ref("varident_refs.rds")$ortho_lme_weights
  fit <- fit_ref_case(rec)
  expect_equal(fit$devcomp[["logw"]], sum(log(rec$data$w)))
  expect_agrees(fit, rec)
  ## nlme's pearson residuals given the random effects: each divided by its sd,
  ## sigma_level / sqrt(w)
  expect_equal(unname(residuals(fit, type = "pearson")), rec$resid_pearson, tolerance = 1e-5)
  expect_equal(weights(fit), rec$data$w)
})

test_that("a variance per cell of an interaction agrees with nlme::gls(weights = varIdent(~ 1 | a * b))", {
  rec <- load_ref("varident_refs.rds")$ortho_gls_cells
  fit <- fit_ref_case(rec)
  expect_agrees(fit, rec)
  ## ~ a * b is glmmTMB's saturated model: the same as ~ a:b
  fit2 <- lmm(distance ~ age * Sex, rec$data, dispformula = ~ Sex * agef)
  expect_equal(as.numeric(logLik(fit2)), as.numeric(logLik(fit)), tolerance = 1e-10)
})

test_that("the FDA replicate-design model (0 + treatment | subject) agrees with nlme on rds01 (missing periods)", {
  rec <- load_ref("varident_refs.rds")$rds01_fda
  fit <- fit_ref_case(rec)
  ## The subject correlation is at its bound (1) here: lemma's optimum is on the
  ## boundary (theta[3] = 0) with a log-likelihood 2e-5 above nlme's interior
  ## stopping point (correlation 0.99998); along that flat direction the SEs move
  ## in the 5th digit, so they are compared at 1e-4, the G matrix at 1e-3.
  expect_gte(as.numeric(logLik(fit)), rec$logLik - 1e-7)
  expect_agrees(fit, rec, tol_var = 1e-3, tol_se = 1e-4)
})

test_that("live: nlme::lme agrees on a simulated design with three levels", {
  set.seed(12)
  d <- data.frame(id = factor(rep(1:30, each = 6)), g = factor(rep(c("a", "b", "c"), 60)), x = rnorm(180))
  d$y <- 1 + 0.5 * d$x + rnorm(30)[d$id] + rnorm(180, sd = c(a = 1, b = 2, c = 0.5)[d$g])
  m <- nlme::lme(y ~ x + g, random = ~ 1 | id, data = d, weights = nlme::varIdent(form = ~ 1 | g),
                 control = nlme::lmeControl(tolerance = 1e-10, msTol = 1e-12, msMaxIter = 500))
  fit <- lmm(y ~ x + g + (1 | id), d, dispformula = ~ g)
  r <- coef(m$modelStruct$varStruct, unconstrained = FALSE, allCoef = TRUE)[levels(d$g)]
  rec <- list(logLik = as.numeric(logLik(m)), beta = nlme::fixef(m), se = sqrt(diag(vcov(m))),
              var = m$sigma^2 * r^2, re_var = as.matrix(nlme::getVarCov(m)))
  expect_agrees(fit, rec)
})

test_that("live: glmmTMB(dispformula = ~ f) agrees (ML)", {
  skip_if_not_installed("glmmTMB")
  o <- as.data.frame(nlme::Orthodont)
  m <- suppressWarnings(glmmTMB::glmmTMB(distance ~ age * Sex + (1 | Subject), data = o, dispformula = ~ Sex))
  skip_if(!identical(m$fit$convergence, 0L), "glmmTMB did not converge")
  fit <- lmm(distance ~ age * Sex + (1 | Subject), o, dispformula = ~ Sex, REML = FALSE)
  ## glmmTMB's optimizer (nlminb, relative tolerance 1e-10 on the objective)
  expect_equal(as.numeric(logLik(fit)), as.numeric(logLik(m)), tolerance = 1e-7)
  expect_equal(fixef(fit), glmmTMB::fixef(m)$cond, tolerance = 1e-4)
  ## glmmTMB's dispersion model is log(sigma^2) = intercept + effects: exp of its
  ## linear predictor at each level is that level's residual variance
  disp <- glmmTMB::fixef(m)$disp
  tmb_var <- exp(c(disp[[1]], disp[[1]] + disp[[2]]))
  ## (glmmTMB's dispersion coefficients are log(sigma^2) for a gaussian family)
  expect_equal(unname(level_var(fit)), tmb_var, tolerance = 1e-4)
})

test_that("dispformula: unsupported forms and combinations are errors naming them", {
  o <- as.data.frame(nlme::Orthodont)
  o$agef <- factor(o$age)
  f <- distance ~ age + (1 | Subject)
  expect_error(lmm(f, o, dispformula = ~ Sex + agef), "additive.*Sex:agef")
  expect_error(lmm(f, o, dispformula = ~ age), "'age' in 'dispformula'.*must be a factor.*numeric")
  expect_error(lmm(f, o, dispformula = ~ log(age)), "'log\\(age\\)'.*not a variable")
  expect_error(lmm(f, o, dispformula = distance ~ Sex), "one-sided formula")
  expect_error(lmm(f, o, dispformula = ~ 0), "no term")
  expect_error(lmm(f, o, dispformula = ~ Sex + offset(age)), "offset")
  expect_error(lmm(f, o, dispformula = ~ Sex, weights = -age), "'weights' must be positive")
  expect_error(lmm(distance ~ age + us(agef | Subject), o, weights = age), "'weights' is not yet supported")
  expect_error(lmm(distance ~ age + us(agef | Subject), o, dispformula = ~ Sex),
               "us\\(agef \\| Subject\\).*'dispformula'.*cannot be combined")
  expect_error(lmm(f, o[o$Sex == "Male", ], dispformula = ~ Sex), "'Sex'.*one level")
  ## ~ 1 is the homogeneous model: an ordinary fit
  fit1 <- lmm(f, o, dispformula = ~ 1)
  expect_s3_class(fit1, "lemma_fit")
  expect_false(inherits(fit1, "lemma_covfit"))
  expect_equal(as.numeric(logLik(fit1)), as.numeric(logLik(lmm(f, o))))
})

test_that("dispformula: print, summary and VarCorr show the variance of every level", {
  fit <- lmm(distance ~ age * Sex + (1 | Subject), as.data.frame(nlme::Orthodont), dispformula = ~ Sex)
  out <- paste(capture.output(print(fit)), collapse = "\n")
  expect_match(out, "residual variance per level of Sex")
  expect_match(out, "Male")
  expect_match(out, "Female")
  s <- paste(capture.output(print(summary(fit))), collapse = "\n")
  expect_match(s, "Residual variance per level of Sex")
  expect_match(s, "Satterthwaite")
  v <- level_var(fit)
  expect_equal(v[["Male"]], sigma(fit)^2)
})
