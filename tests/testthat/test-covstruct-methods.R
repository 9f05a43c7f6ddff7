## Methods on fits with a residual covariance structure (class "lemma_covfit"):
## anova (F tests of terms, likelihood-ratio tests), contest, emmeans, confint,
## predict (population and conditional), simulate, ranef, refit, update, tidy.
## References: SAS PROC MIXED output published with the mmrm package
## (ref/make-ref-sas.R -> sas_refs.rds), the mmrm package (ref/make-ref-mmrm.R ->
## mmrm_refs.rds, mmrm_dropout_refs.rds; live when installed) and nlme (live).

fev <- function() load_ref("fev_data.rds")
fev_us <- function(REML = TRUE) lmm(FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID), fev(), REML = REML)

## SAS prints 4 decimals and stops at its own convergence criterion: its -2 log-
## likelihood agrees with lemma's optimum to 1e-8 relative, its estimates lie
## about 1e-3 of a standard error from it (measured: at most 7e-4 SE on the
## covariance parameters, 1.2e-3 SE on their limits). So: fixed effects to 1e-4
## relative or 1e-3 SE, SEs to 5e-4 relative (4 printed decimals), covariance
## parameters and their limits to 2e-3 SE, integer df within 0.6 (computed at
## SAS's own stopping point).
close_to_sas <- function(x, ref, rel, abs = 0, label = "") {
  expect_true(all(abs(x - ref) <= pmax(rel * abs(ref), abs)),
              label = sprintf("%s: max |diff| %.3g", label, max(abs(x - ref))))
}

test_that("the fev_data us model reproduces SAS PROC MIXED (REML): fit, solution, type 3 tests", {
  sas <- load_ref("sas_refs.rds")$us_reml
  fit <- fev_us()
  expect_equal(-2 * as.numeric(logLik(fit)), sas$m2ll, tolerance = 1e-8)
  tab <- summary(fit)$coefficients[sas$fixed$term, ]
  close_to_sas(tab[, "Estimate"], sas$fixed$estimate, 1e-4, 1e-3 * sas$fixed$se, "estimates")
  close_to_sas(tab[, "Std. Error"], sas$fixed$se, 5e-4, label = "SE")
  close_to_sas(tab[, "df"], sas$fixed$df, 0, 0.6, "df")
  a <- anova(fit)[sas$type3$term, ]
  expect_equal(a$NumDF, sas$type3$numdf)
  close_to_sas(a$DenDF, sas$type3$dendf, 0, 0.6, "type 3 DenDF")
  # F is a squared t: twice the estimates' relative error, plus SAS's rounding to 2 decimals
  close_to_sas(a$`F value`, sas$type3$F, 2e-4, 0.006, "type 3 F")
})

test_that("emmeans on a covfit reproduces SAS's LS means and differences", {
  skip_if_not_installed("emmeans")
  sas <- load_ref("sas_refs.rds")$us_reml
  fit <- fev_us()
  em <- emmeans::emmeans(fit, ~ ARMCD | AVISIT)
  e <- as.data.frame(summary(em))
  e <- e[match(paste(sas$lsmeans$AVISIT, sas$lsmeans$ARMCD), paste(e$AVISIT, e$ARMCD)), ]
  close_to_sas(e$emmean, sas$lsmeans$estimate, 1e-4, label = "LS means")
  close_to_sas(e$SE, sas$lsmeans$se, 5e-4, label = "LS means SE")
  close_to_sas(e$df, sas$lsmeans$df, 0, 0.6, "LS means df")
  close_to_sas(e$lower.CL, sas$lsmeans$lower, 1e-4, label = "LS means lower")
  p <- as.data.frame(summary(pairs(em, reverse = TRUE), infer = TRUE))
  p <- p[match(sas$diffs$AVISIT, p$AVISIT), ]
  close_to_sas(p$estimate, sas$diffs$estimate, 1e-4, 1e-3 * sas$diffs$se, "differences")
  close_to_sas(p$SE, sas$diffs$se, 5e-4, label = "differences SE")
  close_to_sas(p$df, sas$diffs$df, 0, 0.6, "differences df")
  close_to_sas(p$upper.CL, sas$diffs$upper, 1e-3, label = "differences upper")
  ## the same differences as contests of the fixed effects
  L <- matrix(0, 4, length(fixef(fit)), dimnames = list(c("VIS1", "VIS2", "VIS3", "VIS4"), names(fixef(fit))))
  L[, "ARMCDTRT"] <- 1
  L[cbind(2:4, match(paste0("ARMCDTRT:AVISITVIS", 2:4), colnames(L)))] <- 1
  ct <- contest(fit, L, joint = FALSE)[sas$diffs$AVISIT, ]
  expect_equal(ct$Estimate, p$estimate, tolerance = 1e-10)
  expect_equal(ct$df, p$df, tolerance = 1e-8)
})

test_that("confint on a covfit: Wald for beta, SAS's CL limits for the covariance parameters", {
  sas <- load_ref("sas_refs.rds")
  for (reml in c(TRUE, FALSE)) {
    s <- if (reml) sas$us_reml else sas$us_ml
    fit <- fev_us(REML = reml)
    ci <- confint(fit)
    rows <- ifelse(s$cov$row == s$cov$col, sprintf("var(%s)", s$cov$row),
                   sprintf("cov(%s, %s)", pmax(s$cov$row, s$cov$col), pmin(s$cov$row, s$cov$col)))
    est <- VarCorr(fit)$residual[[1]][cbind(s$cov$row, s$cov$col)]
    se <- tidy.lemma_covfit(fit, effects = "ran_pars")
    se <- se$std.error[match(rows, se$term)]
    close_to_sas(est, s$cov$estimate, 0, 2e-3 * se, paste("covariance estimates, REML", reml))
    close_to_sas(ci[rows, 1], s$cov$lower, 0, 2e-3 * se, paste("lower limits, REML", reml))
    close_to_sas(ci[rows, 2], s$cov$upper, 0, 2e-3 * se, paste("upper limits, REML", reml))
  }
  ## fixed effects: estimate -/+ t(Satterthwaite df) SE
  tab <- summary(fit)$coefficients
  expect_equal(unname(ci[rownames(tab), 2]), unname(tab[, 1] + qt(0.975, tab[, "df"]) * tab[, 2]), tolerance = 1e-12)
  expect_equal(unname(confint(fit, "ARMCDTRT", level = 0.9, ddf = "none")[1, ]),
               unname(tab["ARMCDTRT", 1] + c(-1, 1) * qnorm(0.95) * tab["ARMCDTRT", 2]), tolerance = 1e-12)
  expect_error(confint(fit, method = "profile"), "method = \"profile\" is not yet available")
  expect_error(confint(fit, "nope"), "'parm' names rows not in the table: nope")
})

test_that("intercept-only models with every structure reproduce SAS PROC MIXED", {
  s <- load_ref("sas_refs.rds")$simple
  d <- fev()
  for (i in seq_len(nrow(s))) {
    fit <- lmm(stats::as.formula(s$formula[i]), d, REML = s$reml[i])
    lab <- paste(s$formula[i], if (s$reml[i]) "REML" else "ML")
    expect_equal(-2 * as.numeric(logLik(fit)), s$m2ll[i], tolerance = 1e-8, label = lab)
    close_to_sas(unname(fixef(fit)), s$estimate[i], 1e-4, label = lab)
    close_to_sas(sqrt(vcov(fit)[1, 1]), s$se[i], 5e-4, label = lab)
  }
})

test_that("anova() and contest() agree with mmrm's df_md (stored)", {
  refs <- load_ref("mmrm_refs.rds")
  fit <- fev_us()
  b <- names(fixef(fit))
  L <- rbind(as.numeric(b == "RACEBlack or African American"), as.numeric(b == "RACEWhite"))
  ct <- contest(fit, L)
  expect_equal(ct$`F value`, refs$us_race_F$f_stat, tolerance = 1e-5)
  expect_equal(ct$DenDF, refs$us_race_F$denom_df, tolerance = 1e-3)
  expect_equal(anova(fit)["RACE", "DenDF"], refs$us_race_F$denom_df, tolerance = 1e-3)
  expect_equal(anova(fit)["RACE", "F value"], refs$us_race_F$f_stat, tolerance = 1e-5)
})

test_that("likelihood-ratio tests between covfits and with lmm fits refit by ML (mmrm, nlme)", {
  refs <- load_ref("mmrm_refs.rds")
  d <- fev()
  us <- fev_us()
  ar1 <- lmm(FEV1 ~ RACE + SEX + ARMCD * AVISIT + ar1(AVISIT | USUBJID), d)
  expect_message(a <- anova(ar1, us), "refitting model\\(s\\) with ML")
  expect_equal(a$Chisq[2], 2 * (refs$us_ml$logLik - refs$ar1_ml$logLik), tolerance = 1e-5)
  expect_equal(a$Df[2], 20 - 12)
  expect_equal(a$logLik, c(refs$ar1_ml$logLik, refs$us_ml$logLik), tolerance = 1e-6)
  ## a random intercept (lmm) against us: nlme's ML fits of the same two models
  ri <- lmm(FEV1 ~ RACE + SEX + ARMCD * AVISIT + (1 | USUBJID), d)
  a2 <- suppressMessages(anova(ri, us))
  dd <- d[!is.na(d$FEV1), ]
  g_us <- nlme::gls(FEV1 ~ RACE + SEX + ARMCD * AVISIT, dd, method = "ML",
                    correlation = nlme::corSymm(form = ~ VISITN | USUBJID), weights = nlme::varIdent(form = ~ 1 | AVISIT),
                    control = nlme::glsControl(tolerance = 1e-10, msTol = 1e-10, opt = "optim"))
  l_ri <- nlme::lme(FEV1 ~ RACE + SEX + ARMCD * AVISIT, dd, random = ~ 1 | USUBJID, method = "ML")
  expect_equal(a2$Chisq[2], 2 * as.numeric(logLik(g_us) - logLik(l_ri)), tolerance = 1e-5)
  expect_equal(a2$npar, c(attr(logLik(l_ri), "df"), attr(logLik(g_us), "df")))
  ## refit_ml and REML = FALSE give the same fit
  expect_equal(as.numeric(logLik(refit_ml(us))), refs$us_ml$logLik, tolerance = 1e-6)
})

test_that("simulate() draws from the fitted model: means and covariances over many draws", {
  fit <- fev_us()
  nsim <- 3000
  sims <- as.matrix(simulate(fit, nsim, seed = 11))
  expect_identical(dim(sims), c(length(fit$y), as.integer(nsim)))
  mu <- as.numeric(model.matrix(fit) %*% fixef(fit))
  S <- VarCorr(fit)$residual[[1]]
  dev <- sims - mu
  ## row means: each within 4.5 standard errors of X beta (537 rows: a false alarm
  ## has probability about 4e-3)
  z <- (rowMeans(sims) - mu) / sqrt(S[cbind(fit$frame$AVISIT, fit$frame$AVISIT)] / nsim)
  expect_lt(max(abs(z)), 4.5)
  ## pooled covariance of each pair of visits within subjects, against Sigma, in
  ## units of its sampling SE (sqrt((S_ii S_jj + S_ij^2) / N))
  subj <- fit$frame$USUBJID
  vis <- as.character(fit$frame$AVISIT)
  for (i in rownames(S)) for (j in rownames(S)) {
    a <- match(paste(levels(subj), i), paste(subj, vis))
    b <- match(paste(levels(subj), j), paste(subj, vis))
    ok <- !is.na(a) & !is.na(b)
    est <- mean(dev[a[ok], ] * dev[b[ok], ])
    se <- sqrt((S[i, i] * S[j, j] + S[i, j]^2) / (sum(ok) * nsim))
    expect_lt(abs(est - S[i, j]) / se, 4.5, label = paste(i, j))
  }
  ## different subjects are independent
  other <- match(paste(levels(subj)[c(2:nlevels(subj), 1)], "VIS1"), paste(subj, vis))
  first <- match(paste(levels(subj), "VIS1"), paste(subj, vis))
  ok <- !is.na(other) & !is.na(first)
  expect_lt(abs(mean(dev[first[ok], ] * dev[other[ok], ])) / (S["VIS1", "VIS1"] / sqrt(sum(ok) * nsim)), 4.5)
  ## reproducible from the seed
  expect_identical(simulate(fit, 2, seed = 5), simulate(fit, 2, seed = 5))
})

test_that("simulate() with a random effect adds its variance", {
  set.seed(3)
  ns <- 40; m <- 4; nsite <- 8
  dd <- expand.grid(visit = factor(paste0("v", 1:m)), id = factor(1:ns))
  dd$site <- factor((as.integer(dd$id) - 1) %% nsite + 1)
  R <- 0.5^abs(outer(1:m, 1:m, "-"))
  dd$y <- as.numeric(t(chol(R)) %*% matrix(rnorm(ns * m), m)) + rnorm(nsite)[dd$site]
  fit <- lmm(y ~ visit + (1 | site) + ar1(visit | id), dd)
  nsim <- 4000
  sims <- as.matrix(simulate(fit, nsim, seed = 2))
  dev <- sims - as.numeric(model.matrix(fit) %*% fixef(fit))
  g <- VarCorr(fit)$random$site[1, 1]
  S <- VarCorr(fit)$residual[[1]]
  v <- mean(dev^2)
  ## the total variance of one row (rows of one site share their draws: the SE
  ## counts one draw of the site effect per site and simulation)
  expect_lt(abs(v - (g + S[1, 1])) / ((g + S[1, 1]) * sqrt(2 / (nsite * nsim))), 4.5)
  ## two subjects of the same site covary by the site variance
  a <- which(dd$id == 1 & dd$visit == "v1")
  b <- which(dd$id == 1 + nsite & dd$visit == "v1")
  expect_lt(abs(mean(dev[a, ] * dev[b, ]) - g) / ((g + S[1, 1]) / sqrt(nsim)), 4.5)
})

test_that("confint() of a random-effect variance at 0 says so", {
  set.seed(4)
  dd <- expand.grid(visit = factor(paste0("v", 1:4)), id = factor(1:40))
  dd$site <- factor((as.integer(dd$id) - 1) %% 8 + 1)
  dd$y <- rnorm(nrow(dd))
  fit <- lmm(y ~ visit + (1 | site) + ar1(visit | id), dd)
  expect_equal(unname(fit$theta), 0)
  expect_warning(ci <- confint(fit), "var\\(\\(Intercept\\) \\| site\\) is at its bound 0")
  expect_equal(unname(ci["var((Intercept) | site)", ]), c(0, NA))
  expect_false(anyNA(ci[-5, ]))
})

test_that("ranef() of a covfit with random effects agrees with nlme::lme", {
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
  re <- ranef(fit)
  expect_equal(re$site[, 1], nlme::ranef(l)[, 1], tolerance = 1e-4)
  ## conditional variances, against the marginal form G - G Z' Omega^-1 Z G with
  ## Omega = Z G Z' + R (R block diagonal by subject) at lemma's estimates
  Z <- model.matrix(~ 0 + site, dd)
  g <- VarCorr(fit)$random$site[1, 1]
  S <- VarCorr(fit)$residual[[1]]
  R <- matrix(0, nrow(dd), nrow(dd))
  for (i in split(seq_len(nrow(dd)), dd$id)) R[i, i] <- S[as.character(dd$visit[i]), as.character(dd$visit[i])]
  Om <- g * tcrossprod(Z) + R
  cv <- g - g^2 * diag(crossprod(Z, solve(Om, Z)))
  expect_equal(as.numeric(attr(re$site, "postVar")), unname(cv), tolerance = 1e-8)
  ## the modes in the same form: G Z' Omega^-1 (y - X beta)
  X <- model.matrix(fit)
  expect_equal(re$site[, 1], as.numeric(g * crossprod(Z, solve(Om, dd$y - X %*% fixef(fit)))), tolerance = 1e-6)
  tv <- tidy.lemma_covfit(fit, effects = "ran_vals")
  expect_equal(tv$std.error, sqrt(unname(cv)), tolerance = 1e-8)
  expect_error(ranef(fev_us()), "no random-effect terms")
  ## fitted values with the random effects, and population predictions
  expect_equal(unname(predict(fit, re.form = NULL)), as.numeric(fitted(l)), tolerance = 1e-5)
  expect_equal(unname(predict(fit)), as.numeric(fitted(l, level = 0)), tolerance = 1e-5)
  expect_error(predict(fit, dd, re.form = NULL), "gives only the fitted values")
  expect_error(predict(fit, dd, conditional = TRUE), "conditional = TRUE is not yet available for models with random-effect terms")
})

test_that("refit(), refit_ml() and update() give the fits lmm() gives", {
  d <- fev()
  fit <- lmm(FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID), d)
  keep <- !is.na(d$FEV1)
  y2 <- d$FEV1[keep] + 0.3 * as.integer(d$AVISIT[keep])^2
  d2 <- d
  d2$FEV1[keep] <- y2
  r <- refit(fit, y2)
  direct <- lmm(FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID), d2)
  expect_equal(as.numeric(logLik(r)), as.numeric(logLik(direct)), tolerance = 1e-9)
  expect_equal(fixef(r), fixef(direct), tolerance = 1e-6)
  ## the response for every row of the data (rows with NA dropped)
  expect_equal(as.numeric(logLik(refit(fit, d2$FEV1))), as.numeric(logLik(direct)), tolerance = 1e-9)
  expect_error(refit(fit, 1:3), "'newresp' has 3 values")
  u <- update(fit, . ~ . - SEX)
  expect_s3_class(u, "lemma_covfit")
  expect_equal(as.numeric(logLik(u)),
               as.numeric(logLik(lmm(FEV1 ~ RACE + ARMCD * AVISIT + us(AVISIT | USUBJID), d))), tolerance = 1e-9)
  ml <- update(fit, REML = FALSE)
  expect_false(isREML(ml))
  expect_equal(as.numeric(logLik(ml)), as.numeric(logLik(refit_ml(fit))), tolerance = 1e-8)
})

test_that("conditional predictions are the BLUP of the missing visits given the observed ones", {
  d <- fev()
  fit <- fev_us()
  nd <- d[d$USUBJID %in% levels(d$USUBJID)[1:12], ]
  p <- predict(fit, nd, conditional = TRUE, se.fit = TRUE)
  ## by hand, for one subject with two missing visits
  S <- VarCorr(fit)$residual[[1]]
  X <- model.matrix(~ RACE + SEX + ARMCD * AVISIT, nd)
  b <- fixef(fit)
  s1 <- which(nd$USUBJID == "PT1")
  o <- s1[!is.na(nd$FEV1[s1])]
  mi <- s1[is.na(nd$FEV1[s1])]
  vo <- as.character(nd$AVISIT[o]); vm <- as.character(nd$AVISIT[mi])
  A <- S[vm, vo, drop = FALSE] %*% solve(S[vo, vo])
  expect_equal(unname(p$fit[mi]), as.numeric(X[mi, ] %*% b + A %*% (nd$FEV1[o] - X[o, ] %*% b)), tolerance = 1e-10)
  Z <- X[mi, , drop = FALSE] - A %*% X[o, , drop = FALSE]
  expect_equal(unname(p$se.fit[mi]), unname(sqrt(diag(Z %*% vcov(fit) %*% t(Z)))), tolerance = 1e-10)
  ## observed rows are returned as observed, with SE 0
  obs <- !is.na(nd$FEV1)
  expect_equal(unname(p$fit[obs]), nd$FEV1[obs])
  expect_true(all(p$se.fit[obs] == 0))
  ## without any observed response: the population prediction
  nd0 <- nd; nd0$FEV1 <- NA
  expect_equal(predict(fit, nd0, conditional = TRUE), predict(fit, nd0), tolerance = 1e-12)
  ## prediction intervals add the (conditional) residual variance
  pi <- predict(fit, nd, interval = "prediction")
  ci <- predict(fit, nd, interval = "confidence", se.fit = TRUE)
  half <- (pi[, "upr"] - pi[, "lwr"]) / 2 / qnorm(0.975)
  expect_equal(unname(half^2), unname(ci$se.fit^2 + S[cbind(as.character(nd$AVISIT), as.character(nd$AVISIT))]),
               tolerance = 1e-10)
  expect_error(predict(fit, nd[, setdiff(names(nd), "USUBJID")], conditional = TRUE), "no column 'USUBJID'")
  nd2 <- nd; nd2$AVISIT <- as.character(nd2$AVISIT); nd2$AVISIT[1] <- "VIS9"
  expect_error(predict(fit, nd2, conditional = TRUE), "not visits of the fit: VIS9")
  expect_error(predict(fit, rbind(nd, nd[1, ]), conditional = TRUE), "more than one row for a visit")
})

test_that("tidy() and glance() of a covfit", {
  skip_if_not_installed("generics")
  fit <- fev_us()
  t1 <- generics::tidy(fit, conf.int = TRUE)
  fx <- t1[t1$effect == "fixed", ]
  expect_equal(fx$estimate, unname(fixef(fit)))
  expect_equal(fx$df, unname(summary(fit)$coefficients[, "df"]))
  expect_equal(fx$conf.low, unname(confint(fit)[names(fixef(fit)), 1]))
  rp <- t1[t1$effect == "ran_pars", ]
  S <- VarCorr(fit)$residual[[1]]
  expect_equal(rp$estimate, S[lower.tri(S, diag = TRUE)])
  expect_true(all(rp$std.error > 0))
  g <- generics::glance(fit)
  expect_equal(g$logLik, as.numeric(logLik(fit)))
  expect_equal(g$AIC, AIC(fit))
  expect_error(generics::tidy(fit, effects = "ran_vals"), "ran_vals.*no random-effect terms")
})

test_that("pearson and normalized residuals agree with mmrm's (stored), also group-specific", {
  ## make-ref-mmrm.R: residuals(type = "pearson" / "normalized") of mmrm's fits;
  ## they depend on the fit only through beta and Sigma, which agree to ~1e-6
  refs <- load_ref("mmrm_refs.rds")
  d <- fev()
  fits <- list(us_resid = fev_us(),
               us_group_resid = lmm(FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | ARMCD / USUBJID), d))
  for (nm in names(fits)) {
    fit <- fits[[nm]]
    for (type in c("pearson", "normalized"))
      expect_equal(unname(residuals(fit, type = type)), refs[[nm]][[type]], tolerance = 1e-5,
                   label = paste(nm, type))
    expect_equal(residuals(fit), stats::setNames(fit$y - fitted(fit), rownames(fit$frame)))
  }
  ## normalized residuals are the whitened ones: sum of squares = pwrss * n / (n - p) scale
  fit <- fits$us_resid
  expect_equal(sum(residuals(fit, type = "normalized")^2) * fit$sigma^2, fit$devcomp[["pwrss"]], tolerance = 1e-8)
})

test_that("coef, ngrps and isSingular on covfits", {
  d <- fev()
  fit <- fev_us()
  expect_identical(coef(fit), fixef(fit))  # mmrm's coef(): the fixed effects
  expect_identical(ngrps(fit), c(USUBJID = 197))  # subjects with an observed FEV1 (mmrm: 197)
  expect_false(isSingular(fit))
  fr <- lmm(FEV1 ~ ARMCD * AVISIT + (1 | RACE) + cs(AVISIT | USUBJID), d)
  cf <- coef(fr)$RACE
  re <- ranef(fr)$RACE
  ## lme4's coef(): the fixed effects plus each level's random effects
  expect_equal(cf[, "(Intercept)"], unname(fixef(fr)[["(Intercept)"]] + re[, "(Intercept)"]))
  expect_equal(cf[, "ARMCDTRT"], rep(unname(fixef(fr)[["ARMCDTRT"]]), 3))
  expect_identical(ngrps(fr), c(RACE = 3, USUBJID = 197))
  ## pure noise: the RACE variance goes to its bound, as lme4 finds for the
  ## equivalent (1 | RACE) + (1 | USUBJID) model
  set.seed(3)
  d$ynull <- stats::rnorm(nrow(d))
  f0 <- lmm(ynull ~ 1 + (1 | RACE) + cs(AVISIT | USUBJID), d)
  expect_true(isSingular(f0))
  expect_identical(ngrps(f0), c(RACE = 3, USUBJID = 200))
  skip_if_not_installed("lme4")
  expect_true(lme4::isSingular(lme4::lmer(ynull ~ 1 + (1 | RACE) + (1 | USUBJID), d)))
})

test_that("methods that are not yet available on covfits say so", {
  fit <- fev_us()
  expect_error(profile(fit), "profile\\(\\) is not yet available")
  expect_error(influence(fit), "influence\\(\\) is not yet available")
  expect_error(predict(fit, re.form = ~ (1 | USUBJID)), "'re.form' must be NA")
})

test_that("every structure agrees with mmrm on a simulated trial with MAR dropout (stored)", {
  refs <- load_ref("mmrm_dropout_refs.rds")
  d <- load_ref("dropout_data.rds")
  fits <- names(refs)[vapply(refs, function(r) is.list(r) && !is.null(r$formula), logical(1))]
  expect_true(all(c("us", "toep", "toeph", "ar1", "ar1h", "cs", "csh", "ad", "adh", "us_ml", "us_group") %in% fits))
  for (nm in fits) {
    r <- refs[[nm]]
    fit <- lmm(stats::as.formula(r$formula), d, REML = r$reml)
    ## the issue's tolerances: 1e-5 relative on the log-likelihood, fixed effects and
    ## SEs, 1e-4 on the covariance matrices, 1e-3 on Satterthwaite df
    expect_equal(as.numeric(logLik(fit)), r$logLik, tolerance = 1e-5, label = nm)
    expect_equal(unname(fixef(fit)), unname(r$beta), tolerance = 1e-5, label = nm)
    expect_equal(unname(sqrt(diag(vcov(fit)))), unname(r$se), tolerance = 1e-5, label = nm)
    S <- if (is.list(r$Sigma)) r$Sigma else list(r$Sigma)
    expect_equal(lapply(unname(VarCorr(fit)$residual), unname), lapply(unname(S), unname), tolerance = 1e-4,
                 label = nm)
    expect_equal(unname(summary(fit)$coefficients[, "df"]), unname(r$df), tolerance = 1e-3, label = nm)
  }
})

test_that("on the dropout trial: F test, emmeans, LR test and conditional predictions agree with mmrm", {
  refs <- load_ref("mmrm_dropout_refs.rds")
  d <- load_ref("dropout_data.rds")
  fit <- lmm(CHG ~ BASE + ARM * AVISIT + us(AVISIT | USUBJID), d)
  ct <- contest(fit, refs$us_interaction_L)
  expect_equal(ct$`F value`, refs$us_interaction_F$f_stat, tolerance = 1e-5)
  expect_equal(ct$DenDF, refs$us_interaction_F$denom_df, tolerance = 1e-3)
  expect_equal(anova(fit)["ARM:AVISIT", "F value"], refs$us_interaction_F$f_stat, tolerance = 1e-5)
  if (requireNamespace("emmeans", quietly = TRUE)) {
    p <- as.data.frame(pairs(emmeans::emmeans(fit, ~ ARM | AVISIT), reverse = TRUE))
    expect_equal(p$estimate, refs$us_emm_pairs$estimate, tolerance = 1e-5)
    expect_equal(p$SE, refs$us_emm_pairs$SE, tolerance = 1e-5)
    expect_equal(p$df, refs$us_emm_pairs$df, tolerance = 1e-3)
  }
  ar1 <- lmm(CHG ~ BASE + ARM * AVISIT + ar1(AVISIT | USUBJID), d)
  a <- suppressMessages(anova(ar1, fit))
  expect_equal(a$Chisq[2], 2 * (refs$us_ml$logLik - refs$ar1_ml$logLik), tolerance = 1e-5)
  ## conditional predictions of the 20 first dropouts' missing visits: the BLUP and
  ## its SE (plug-in covariance) as mmrm computes them
  nd <- d[refs$pred_rows, ]
  pr <- predict(fit, nd, conditional = TRUE, se.fit = TRUE, interval = "confidence")
  expect_equal(unname(pr$fit[, "fit"]), unname(refs$pred[, "fit"]), tolerance = 1e-5)
  expect_equal(unname(pr$se.fit), unname(refs$pred[, "se"]), tolerance = 1e-4)
  expect_equal(unname(pr$fit[, "lwr"]), unname(refs$pred[, "lwr"]), tolerance = 1e-5)
  ## unconditional: X beta
  expect_equal(unname(predict(fit, nd)), unname(refs$pred_uncond[, "fit"]), tolerance = 1e-5)
})

test_that("live: conditional predictions agree with mmrm's predict() when it is installed", {
  suppressWarnings(skip_if_not_installed("mmrm"))
  d <- fev()
  m <- mmrm::mmrm(FEV1 ~ RACE + SEX + ARMCD * AVISIT + ar1h(AVISIT | USUBJID), data = d, optimizer = "nlminb",
                  optimizer_control = list(rel.tol = 1e-12))
  fit <- lmm(FEV1 ~ RACE + SEX + ARMCD * AVISIT + ar1h(AVISIT | USUBJID), d)
  nd <- d[d$USUBJID %in% levels(d$USUBJID)[1:30], ]
  rp <- predict(m, nd, conditional = TRUE, se.fit = TRUE, interval = "confidence")
  lp <- predict(fit, nd, conditional = TRUE, se.fit = TRUE, interval = "confidence")
  expect_equal(unname(lp$fit[, "fit"]), unname(rp[, "fit"]), tolerance = 1e-5)
  expect_equal(unname(lp$se.fit), unname(rp[, "se"]), tolerance = 1e-4)
})
