## make-ref-varident.R -- reference values for lmm(dispformula = ~ f), a residual
## variance per level of a factor, from nlme's varIdent (gls() and lme()).
## Run from tests/testthat/ref/ with nlme and lemma installed (lemma only for its
## bundled rds01 data):  Rscript make-ref-varident.R   -> varident_refs.rds
## Stored per case: the data, the formulas (and the prior-weights column), logLik, beta and SEs, the residual
## variance of every level (sigma^2 times the squared varIdent ratio) and the
## random-effect covariance matrix (lme).
suppressPackageStartupMessages(library(nlme))
ctrl <- lmeControl(maxIter = 500, msMaxIter = 500, msMaxEval = 5000, tolerance = 1e-10, msTol = 1e-12, niterEM = 100)
gctrl <- glsControl(maxIter = 500, msMaxIter = 500, tolerance = 1e-10, msTol = 1e-12)

level_variances <- function(m, f) {
  r <- coef(m$modelStruct$varStruct, unconstrained = FALSE, allCoef = TRUE)
  v <- m$sigma^2 * r^2
  v[levels(f)]
}
record <- function(m, data, f, ...) {
  list(data = data, logLik = as.numeric(logLik(m)), beta = if (inherits(m, "lme")) fixef(m) else coef(m),
       se = sqrt(diag(vcov(m))), var = level_variances(m, f), ..., nlme = as.character(packageVersion("nlme")))
}

ortho <- as.data.frame(Orthodont)
ortho$Subject <- factor(as.character(ortho$Subject))
ortho$agef <- factor(ortho$age)
refs <- list()

## 1. random intercept + a variance per Sex (Pinheiro & Bates, section 5.2)
for (reml in c(TRUE, FALSE)) {
  m <- lme(distance ~ age * Sex, random = ~ 1 | Subject, data = ortho, weights = varIdent(form = ~ 1 | Sex),
           method = if (reml) "REML" else "ML", control = ctrl)
  refs[[paste0("ortho_lme_", if (reml) "reml" else "ml")]] <- record(
    m, ortho, ortho$Sex, formula = "distance ~ age * Sex + (1 | Subject)", dispformula = "~ Sex", REML = reml,
    re_var = as.matrix(getVarCov(m)))
}

## 2. no random effects, a variance per cell of Sex x age (gls)
m <- gls(distance ~ age * Sex, data = ortho, weights = varIdent(form = ~ 1 | Sex * agef), control = gctrl)
cells <- interaction(ortho$Sex, ortho$agef, sep = ":", lex.order = TRUE)
lv <- coef(m$modelStruct$varStruct, unconstrained = FALSE, allCoef = TRUE)
names(lv) <- sub("\\*", ":", names(lv))
refs$ortho_gls_cells <- list(data = ortho, formula = "distance ~ age * Sex", dispformula = "~ Sex:agef", REML = TRUE,
                             logLik = as.numeric(logLik(m)), beta = coef(m), se = sqrt(diag(vcov(m))),
                             var = (m$sigma^2 * lv^2)[levels(cells)], nlme = as.character(packageVersion("nlme")))

## 3. the FDA's replicate-design model on the EMA's rds01 (10 missing periods):
## a 2 x 2 unstructured subject covariance over formulations and a residual
## variance per formulation (SAS: RANDOM trt / TYPE=FA0(2) SUB=subj G;
## REPEATED / GRP=trt SUB=subj)
rds01 <- lemma::rds01
rds01$logPK <- log(rds01$PK)
m <- lme(logPK ~ sequence + period + treatment, random = ~ 0 + treatment | subject, data = rds01,
         weights = varIdent(form = ~ 1 | treatment), control = ctrl)
refs$rds01_fda <- record(m, rds01, rds01$treatment, formula = "logPK ~ sequence + period + treatment + (0 + treatment | subject)",
                         dispformula = "~ treatment", REML = TRUE, re_var = as.matrix(getVarCov(m)))

## 4. prior weights with it: var(e_i) = sigma^2 ratio(Sex_i) / w_i, nlme's
## varComb(varIdent(~ 1 | Sex), varFixed(~ 1 / w))
set.seed(5)
ortho_w <- ortho
ortho_w$w <- round(runif(nrow(ortho_w), 0.5, 2), 3)
ortho_w$invw <- 1 / ortho_w$w
m <- lme(distance ~ age * Sex, random = ~ 1 | Subject, data = ortho_w, control = ctrl,
         weights = varComb(varIdent(form = ~ 1 | Sex), varFixed(~ invw)))
r <- coef(m$modelStruct$varStruct[[1]], unconstrained = FALSE, allCoef = TRUE)
refs$ortho_lme_weights <- list(data = ortho_w, formula = "distance ~ age * Sex + (1 | Subject)", dispformula = "~ Sex",
                               weights = "w", REML = TRUE, logLik = as.numeric(logLik(m)), beta = fixef(m),
                               se = sqrt(diag(vcov(m))), var = (m$sigma^2 * r^2)[levels(ortho$Sex)],
                               re_var = as.matrix(getVarCov(m)), nlme = as.character(packageVersion("nlme")),
                               ## residuals given the random effects, scaled by their sd
                               resid_pearson = as.numeric(residuals(m, type = "pearson")))

saveRDS(refs, "varident_refs.rds", version = 2)
str(lapply(refs, `[[`, "logLik"))
