## make-ref-mmrm.R -- reference values for residual covariance structures (MMRM)
## from the mmrm package (CRAN; Apache-2.0), and a copy of its fev_data so the
## tests run without mmrm. Run from tests/testthat/ref/:
##   R_LIBS=<library with lemma's Suggests>:<library with mmrm> Rscript make-ref-mmrm.R
## fev_data: (c) the mmrm authors (openpharma), Apache License 2.0; a simulated
## FEV1 trial, 200 subjects x 4 visits, stored unchanged.
library(mmrm)
stopifnot(packageVersion("mmrm") >= "0.3")
saveRDS(mmrm::fev_data, "fev_data.rds", compress = "xz")

structures <- c("us", "toep", "toeph", "ar1", "ar1h", "cs", "csh", "ad", "adh")
## mmrm's default optimizer (L-BFGS-B) stops about 3e-6 short of the optimum on the
## log-likelihood (4e-3 of an SE on some fixed effects); nlminb with mmrm's exact
## gradient and Hessian and a tight tolerance reaches it (BFGS if nlminb reports a
## convergence problem).
tight_mmrm <- function(...) {
  tryCatch(mmrm(..., optimizer = "nlminb", optimizer_control = list(rel.tol = 1e-12)),
           error = function(e) mmrm(..., optimizer = "BFGS", optimizer_control = list(reltol = 1e-14, maxit = 5000)))
}
one <- function(formula, reml) {
  fit <- tight_mmrm(formula, data = fev_data, reml = reml, method = "Satterthwaite")
  co <- coef(summary(fit))
  out <- list(formula = deparse1(formula), reml = reml, logLik = as.numeric(logLik(fit)),
              beta = coef(fit), se = co[, "Std. Error"], df = co[, "df"],
              Sigma = VarCorr(fit), optimizer = component(fit, "optimizer"), converged = component(fit, "convergence") == 0)
  if (reml) {
    kr <- tight_mmrm(formula, data = fev_data, reml = TRUE, method = "Kenward-Roger", vcov = "Kenward-Roger")
    kco <- coef(summary(kr))
    out$kr_se <- kco[, "Std. Error"]
    out$kr_df <- kco[, "df"]
    ## the linear variant (no second derivatives of the covariance; SAS's for us)
    kl <- tight_mmrm(formula, data = fev_data, reml = TRUE, method = "Kenward-Roger",
                     vcov = "Kenward-Roger-Linear")
    lco <- coef(summary(kl))
    out$kr_lin_se <- lco[, "Std. Error"]
    out$kr_lin_df <- lco[, "df"]
  }
  out
}
refs <- list()
for (s in structures) {
  f <- as.formula(sprintf("FEV1 ~ RACE + SEX + ARMCD * AVISIT + %s(AVISIT | USUBJID)", s))
  refs[[s]] <- one(f, TRUE)
}
refs$us_ml <- one(FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID), FALSE)
refs$us_group <- one(FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | ARMCD / USUBJID), TRUE)
## emmeans treatment differences by visit, and the Satterthwaite F test of RACE
## (mmrm's df_md), for us.
us <- tight_mmrm(FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID), data = fev_data)
refs$us_emm_pairs <- as.data.frame(pairs(emmeans::emmeans(us, ~ ARMCD | AVISIT)))
cn <- colnames(component(us, "x_matrix"))
L <- rbind(as.numeric(cn == "RACEBlack or African American"), as.numeric(cn == "RACEWhite"))
refs$us_race_F <- df_md(us, L)
## scaled residuals of the us fit (and its group-specific form)
refs$us_resid <- list(pearson = unname(residuals(us, type = "pearson")),
                      normalized = unname(residuals(us, type = "normalized")))
us_grp <- tight_mmrm(FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | ARMCD / USUBJID), data = fev_data)
refs$us_group_resid <- list(pearson = unname(residuals(us_grp, type = "pearson")),
                            normalized = unname(residuals(us_grp, type = "normalized")))
## the same with Kenward-Roger (adjusted covariance, KR df and F scaling)
us_kr <- tight_mmrm(FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID), data = fev_data,
                    method = "Kenward-Roger", vcov = "Kenward-Roger")
refs$us_emm_pairs_kr <- as.data.frame(pairs(emmeans::emmeans(us_kr, ~ ARMCD | AVISIT)))
refs$us_race_F_kr <- df_md(us_kr, L)
## Methods on the us fit: the likelihood-ratio statistic of us against ar1 (ML
## fits), and conditional predictions of the missing visits of some subjects.
refs$ar1_ml <- one(FEV1 ~ RACE + SEX + ARMCD * AVISIT + ar1(AVISIT | USUBJID), FALSE)
refs$info <- list(mmrm = as.character(packageVersion("mmrm")), R = R.version.string, date = Sys.Date())
saveRDS(refs, "mmrm_refs.rds")

## A simulated trial with monotone dropout, missing at random (sim-dropout.R):
## every structure lemma shares with mmrm, by REML (and us, ar1 by ML), and the
## methods: joint F test of the interaction (df_md), emmeans treatment differences
## by visit, conditional predictions of the unobserved visits with their SEs.
source("sim-dropout.R")
dropout <- simulate_dropout_trial()
saveRDS(dropout, "dropout_data.rds", compress = "xz")
one_d <- function(formula, reml) {
  fit <- tight_mmrm(formula, data = dropout, reml = reml, method = "Satterthwaite")
  co <- coef(summary(fit))
  out <- list(formula = deparse1(formula), reml = reml, logLik = as.numeric(logLik(fit)), beta = coef(fit),
              se = co[, "Std. Error"], df = co[, "df"], Sigma = VarCorr(fit),
              converged = component(fit, "convergence") == 0)
  if (reml) {
    kco <- coef(summary(tight_mmrm(formula, data = dropout, reml = TRUE, method = "Kenward-Roger",
                                   vcov = "Kenward-Roger")))
    out$kr_se <- kco[, "Std. Error"]
    out$kr_df <- kco[, "df"]
  }
  out
}
drefs <- list()
for (s in structures) {
  f <- as.formula(sprintf("CHG ~ BASE + ARM * AVISIT + %s(AVISIT | USUBJID)", s))
  drefs[[s]] <- one_d(f, TRUE)
}
drefs$us_ml <- one_d(CHG ~ BASE + ARM * AVISIT + us(AVISIT | USUBJID), FALSE)
drefs$ar1_ml <- one_d(CHG ~ BASE + ARM * AVISIT + ar1(AVISIT | USUBJID), FALSE)
drefs$us_group <- one_d(CHG ~ BASE + ARM * AVISIT + us(AVISIT | ARM / USUBJID), TRUE)
us_d <- tight_mmrm(CHG ~ BASE + ARM * AVISIT + us(AVISIT | USUBJID), data = dropout)
cn <- colnames(component(us_d, "x_matrix"))
L <- t(vapply(grep("^ARMTRT:AVISIT", cn, value = TRUE), function(nm) as.numeric(cn == nm), numeric(length(cn))))
drefs$us_interaction_L <- L
drefs$us_interaction_F <- df_md(us_d, L)
drefs$us_emm_pairs <- as.data.frame(pairs(emmeans::emmeans(us_d, ~ ARM | AVISIT), reverse = TRUE))
## the same with Kenward-Roger (the MMRM vignette's primary analysis)
us_d_kr <- tight_mmrm(CHG ~ BASE + ARM * AVISIT + us(AVISIT | USUBJID), data = dropout,
                      method = "Kenward-Roger", vcov = "Kenward-Roger")
drefs$us_interaction_F_kr <- df_md(us_d_kr, L)
drefs$us_emm_pairs_kr <- as.data.frame(pairs(emmeans::emmeans(us_d_kr, ~ ARM | AVISIT), reverse = TRUE))
## the first 20 subjects who dropped out, all 6 visits each (response NA after dropout)
gone <- head(names(which(tapply(is.na(dropout$CHG), dropout$USUBJID, any))), 20)
nd <- dropout[dropout$USUBJID %in% gone, ]
drefs$pred_rows <- rownames(nd)
drefs$pred <- predict(us_d, newdata = nd, conditional = TRUE, interval = "confidence", se.fit = TRUE)
drefs$pred_uncond <- predict(us_d, newdata = nd, conditional = FALSE, interval = "confidence", se.fit = TRUE)
drefs$info <- refs$info
saveRDS(drefs, "mmrm_dropout_refs.rds")
