## Residual covariance structures (MMRM): us/toep/ar1/cs/ad and heterogeneous
## forms, group-specific structures, random effects with a residual structure.
## References: nlme's gls/lme (live; nlme is a dependency) and the mmrm package
## (stored under ref/ by make-ref-mmrm.R; live when mmrm is installed).

fev <- function() load_ref("fev_data.rds")
fev_formula <- function(type, group = FALSE)
  stats::as.formula(sprintf("FEV1 ~ RACE + SEX + ARMCD * AVISIT + %s(AVISIT | %sUSUBJID)", type,
                            if (group) "ARMCD / " else ""))

## The marginal covariance of a subject observed at every visit, from a gls fit.
gls_sigma <- function(g, d) {
  full <- names(which(table(droplevels(d$USUBJID[!is.na(d$FEV1)])) == 4L))[1]
  unclass(nlme::getVarCov(g, individual = full))
}

test_that("us, ar1 and cs agree with nlme::gls (corSymm + varIdent, corAR1, corCompSymm)", {
  d <- fev()
  dd <- d[!is.na(d$FEV1), ]
  f0 <- FEV1 ~ RACE + SEX + ARMCD * AVISIT
  ## gls optimizes to its own tolerance (tightened here); its optimum agrees with
  ## mmrm's to about 1e-6 relative on the criterion scale, so 1e-5 on the
  ## log-likelihood and 1e-4 on estimates (relative, or in units of the SE for
  ## fixed effects near zero) is what gls can certify.
  cases <- list(
    us = list(REML = TRUE, gls = nlme::gls(f0, dd, correlation = nlme::corSymm(form = ~ VISITN | USUBJID),
                                           weights = nlme::varIdent(form = ~ 1 | AVISIT),
                                           control = nlme::glsControl(tolerance = 1e-10, msTol = 1e-10, opt = "optim"))),
    ar1 = list(REML = TRUE, gls = nlme::gls(f0, dd, correlation = nlme::corAR1(form = ~ VISITN | USUBJID))),
    cs = list(REML = FALSE, gls = nlme::gls(f0, dd, correlation = nlme::corCompSymm(form = ~ 1 | USUBJID),
                                            method = "ML")))
  for (type in names(cases)) {
    g <- cases[[type]]$gls
    fit <- lmm(fev_formula(type), d, REML = cases[[type]]$REML)
    expect_s3_class(fit, "lemma_covfit")
    expect_equal(as.numeric(logLik(fit)), as.numeric(logLik(g)), tolerance = 1e-8, label = type)
    se <- sqrt(diag(vcov(fit)))
    expect_lt(max(abs(fixef(fit) - coef(g)) / se), 1e-4)
    ## gls scales cov(beta) of ML fits by N / (N - p); compare the REML fits' SEs.
    if (cases[[type]]$REML) expect_equal(unname(se), unname(sqrt(diag(vcov(g)))), tolerance = 1e-4)
    expect_equal(unname(VarCorr(fit)$residual[[1]]), unname(gls_sigma(g, d)), tolerance = 1e-4)
  }
})

test_that("random effects with a residual AR(1) agree with nlme::lme", {
  ## Subjects nested in sites, a site intercept and AR(1) residuals within subject:
  ## lme's corAR1(form = ~ visit | site/id) is the same model.
  set.seed(3)
  ns <- 24; m <- 5; nsite <- 6
  dd <- expand.grid(visit = factor(paste0("v", 1:m)), id = factor(1:ns))
  dd$site <- factor((as.integer(dd$id) - 1) %% nsite + 1)
  dd$arm <- factor(ifelse(as.integer(dd$id) %% 2 == 0, "b", "a"))
  R <- 0.6^abs(outer(1:m, 1:m, "-"))
  dd$y <- as.numeric(t(chol(R)) %*% matrix(rnorm(ns * m), m)) + rnorm(nsite)[dd$site] +
    0.4 * (dd$arm == "b") + 0.2 * as.integer(dd$visit)
  dd$vn <- as.integer(dd$visit)
  dd <- dd[-c(5, 9, 33, 60, 100), ]
  fit <- lmm(y ~ arm * visit + (1 | site) + ar1(visit | id), dd)
  l <- nlme::lme(y ~ arm * visit, dd, random = ~ 1 | site, correlation = nlme::corAR1(form = ~ vn | site/id),
                 control = nlme::lmeControl(tolerance = 1e-10, msTol = 1e-10, niterEM = 0))
  ## Tight lme tolerances: both reach the optimum to ~1e-8 (measured 1e-9 on beta).
  expect_equal(as.numeric(logLik(fit)), as.numeric(logLik(l)), tolerance = 1e-8)
  expect_equal(unname(fixef(fit)), unname(nlme::fixef(l)), tolerance = 1e-5)
  expect_equal(unname(sqrt(diag(vcov(fit)))), unname(sqrt(diag(vcov(l)))), tolerance = 1e-5)
  vc <- VarCorr(fit)
  expect_equal(vc$random$site[1, 1], as.numeric(nlme::VarCorr(l)[1, 1]), tolerance = 1e-4)
  expect_equal(fit$sigma, l$sigma, tolerance = 1e-4)
  rho <- coef(l$modelStruct$corStruct, unconstrained = FALSE)
  expect_equal(stats::cov2cor(vc$residual[[1]])[1, 2], unname(rho), tolerance = 1e-4)
})

test_that("every structure agrees with the mmrm package on fev_data (stored references)", {
  refs <- load_ref("mmrm_refs.rds")
  d <- fev()
  for (nm in names(refs)[vapply(refs, function(r) !is.null(r$formula), logical(1))]) {
    r <- refs[[nm]]
    fit <- lmm(stats::as.formula(r$formula), d, REML = r$reml)
    ## mmrm optimizes with exact gradients; the issue's tolerances: 1e-5 relative on
    ## the log-likelihood, fixed effects and SEs, 1e-4 on the covariance parameters
    ## (compared as the estimated covariance matrices, which do not depend on the
    ## parametrization), 1e-3 on Satterthwaite df.
    expect_equal(as.numeric(logLik(fit)), r$logLik, tolerance = 1e-5, label = nm)
    expect_equal(unname(fixef(fit)), unname(r$beta), tolerance = 1e-5, label = nm)
    expect_equal(unname(sqrt(diag(vcov(fit)))), unname(r$se), tolerance = 1e-5, label = nm)
    S <- if (is.list(r$Sigma)) r$Sigma else list(r$Sigma)
    expect_equal(lapply(unname(VarCorr(fit)$residual), unname), lapply(unname(S), unname), tolerance = 1e-4,
                 label = nm)
    expect_equal(unname(summary(fit)$coefficients[, "df"]), unname(r$df), tolerance = 1e-3, label = nm)
  }
})

test_that("live comparison with mmrm when it is installed", {
  ## mmrm warns on load when its TMB build is older than the installed TMB.
  suppressWarnings(skip_if_not_installed("mmrm"))
  d <- fev()
  for (type in c("us", "ar1h")) {
    ## mmrm's default L-BFGS-B stops ~3e-6 short on the log-likelihood; tightened
    ## as in make-ref-mmrm.R.
    m <- mmrm::mmrm(fev_formula(type), data = d, optimizer = "nlminb", optimizer_control = list(rel.tol = 1e-12))
    fit <- lmm(fev_formula(type), d)
    expect_equal(as.numeric(logLik(fit)), as.numeric(logLik(m)), tolerance = 1e-5)
    expect_equal(unname(fixef(fit)), unname(coef(m)), tolerance = 1e-5)
    expect_equal(unname(summary(fit)$coefficients[, "df"]), unname(coef(summary(m))[, "df"]), tolerance = 1e-3)
  }
})

test_that("population predictions are X beta, for the data and for new data", {
  d <- fev()
  fit <- lmm(fev_formula("cs"), d)
  X <- model.matrix(~ RACE + SEX + ARMCD * AVISIT, d)
  expect_equal(unname(predict(fit, newdata = d)), as.numeric(X %*% fixef(fit)), tolerance = 1e-12)
  expect_equal(unname(fitted(fit)), unname(predict(fit)))
  expect_equal(unname(residuals(fit)), fit$y - unname(fitted(fit)))
})

test_that("malformed covariance terms and data are errors naming the problem", {
  d <- fev()
  d$vnum <- as.numeric(d$AVISIT)
  expect_error(lmm(FEV1 ~ ARMCD + us(vnum | USUBJID), d), "visit variable 'vnum'.*must be a factor")
  expect_error(lmm(FEV1 ~ ARMCD + us(AVISIT | USUBJID) + ar1(AVISIT | USUBJID), d), "2 residual covariance terms")
  r <- d[!is.na(d$FEV1), ][1, ]
  expect_error(lmm(FEV1 ~ ARMCD + us(AVISIT | USUBJID), rbind(d, r)),
               sprintf("subject '%s' has more than one row for visit '%s'", r$USUBJID, r$AVISIT))
  expect_error(lmm(FEV1 ~ ARMCD * us(AVISIT | USUBJID), d), "operand of")
  expect_error(lmm(FEV1 ~ ARMCD + us(AVISIT | USUBJID), d, weights = WEIGHT), "'weights' is not yet supported")
  expect_error(lmm(FEV1 ~ ARMCD + us(AVISIT + 1 | USUBJID), d), "must be a variable name")
})

test_that("methods not yet available on these fits refuse, naming themselves", {
  d <- fev()
  fit <- lmm(fev_formula("ar1"), d)
  expect_error(plot(fit), "plot\\(\\) is not yet available")
  expect_error(profile(fit), "profile\\(\\) is not yet available")
  expect_error(hatvalues(fit), "hatvalues\\(\\) is not yet available")
  expect_error(residuals(fit, type = "deviance"), "'type' = \"deviance\" is not one of")
  expect_output(print(fit), "AR\\(1\\) residual covariance")
  expect_output(print(summary(fit)), "Satterthwaite")
})

test_that("emmeans contrasts and the Satterthwaite F test agree with mmrm (stored references)", {
  skip_if_not_installed("emmeans")
  refs <- load_ref("mmrm_refs.rds")
  fit <- lmm(fev_formula("us"), fev())
  pr <- as.data.frame(pairs(emmeans::emmeans(fit, ~ ARMCD | AVISIT)))
  ref <- refs$us_emm_pairs
  expect_equal(pr$estimate, ref$estimate, tolerance = 1e-5)
  expect_equal(pr$SE, ref$SE, tolerance = 1e-5)
  ## df from finite-difference derivatives: within the issue's 1e-3.
  expect_equal(pr$df, ref$df, tolerance = 1e-3)
  a <- anova_terms(fit)
  expect_equal(a["RACE", "DenDF"], refs$us_race_F$denom_df, tolerance = 1e-3)
  expect_equal(a["RACE", "F value"], refs$us_race_F$f_stat, tolerance = 1e-5)
})

test_that("subjects in two groups and random-effect terms that vary within a subject are refused", {
  d <- fev()
  d$G <- factor(ifelse(d$AVISIT == "VIS1", "a", "b"))
  expect_error(lmm(FEV1 ~ ARMCD + us(AVISIT | G / USUBJID), d), "is in more than one group of 'G'")
  expect_error(lmm(FEV1 ~ ARMCD + (1 | G) + ar1(AVISIT | USUBJID), d),
               "changes level within a subject of ar1\\(AVISIT \\| USUBJID\\): not yet supported")
})

test_that("models without a covariance term are fitted as before (no covstruct class)", {
  fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
  expect_false(inherits(fit, "lemma_covfit"))
  expect_null(fit$covstruct)
})

test_that("cs residuals with a site intercept are lmer's (1 | site) + (1 | id), with lmerTest's df", {
  skip_if_not_installed("lme4")
  skip_if_not_installed("lmerTest")
  ## Compound symmetry with a positive correlation is a subject intercept: the same
  ## model in another parametrization, so the optimum, cov(beta) and the
  ## Satterthwaite df (invariant to the parametrization) must agree.
  set.seed(3)
  ns <- 24; m <- 5; nsite <- 6
  dd <- expand.grid(visit = factor(paste0("v", 1:m)), id = factor(1:ns))
  dd$site <- factor((as.integer(dd$id) - 1) %% nsite + 1)
  dd$arm <- factor(ifelse(as.integer(dd$id) %% 2 == 0, "b", "a"))
  dd$y <- rnorm(nsite)[dd$site] + rnorm(ns, sd = 0.8)[dd$id] + rnorm(ns * m) + 0.4 * (dd$arm == "b")
  dd <- dd[-c(4, 17, 50, 51, 88), ]
  fit <- lmm(y ~ arm * visit + (1 | site) + cs(visit | id), dd)
  lt <- lmerTest::lmer(y ~ arm * visit + (1 | site) + (1 | id), dd)
  expect_equal(as.numeric(logLik(fit)), as.numeric(logLik(lt)), tolerance = 1e-7)
  expect_equal(unname(fixef(fit)), unname(lme4::fixef(lt)), tolerance = 1e-6)
  expect_equal(unname(sqrt(diag(vcov(fit)))), unname(sqrt(diag(as.matrix(vcov(lt))))), tolerance = 1e-5)
  expect_equal(unname(summary(fit)$coefficients[, "df"]), unname(summary(lt)$coefficients[, "df"]), tolerance = 1e-3)
})

test_that("a fit saved and reloaded rebuilds its C++ data for summary()", {
  fit <- lmm(fev_formula("ar1"), fev())
  f2 <- unserialize(serialize(fit, NULL))
  ## same data, same parameters: the same numbers up to rounding
  expect_equal(fixef_table(f2), fixef_table(fit), tolerance = 1e-10)
})

test_that("visit levels without observations are dropped with a message naming them", {
  d <- fev()
  d <- d[d$AVISIT != "VIS3", ]
  expect_message(fit <- lmm(fev_formula("ar1"), d), "'VIS3' have no observation")
  expect_equal(dim(VarCorr(fit)$residual[[1]]), c(3L, 3L))
})
