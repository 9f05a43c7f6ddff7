## Measured agreement of lemma inference with the stored lmerTest / pbkrtest / lme4 / emmeans
## references (max relative differences per design). Run from the package source:
##   Rscript inst/bench/agreement-inference.R
suppressPackageStartupMessages(library(lemma))
lemma:::register_inference_methods()
r <- readRDS(file.path(Sys.getenv("LEMMA_SRC", "."), "tests/testthat/ref/inference_refs.rds"))$designs
rel <- function(a, b) max(abs(as.numeric(a) / as.numeric(b) - 1), na.rm = TRUE)
out <- list()
for (nm in names(r)) {
  d <- r[[nm]]
  fit <- lmm(as.formula(d$formula), d$data)
  s <- fixef_table(fit, "Satterthwaite"); k <- fixef_table(fit, "Kenward-Roger")
  a3 <- anova_terms(fit, "III"); a3k <- anova_terms(fit, "III", "Kenward-Roger")
  a2 <- anova_terms(fit, "II"); a1 <- anova_terms(fit, "I")
  ref3 <- d$anova_III_satt[rownames(a3), ]; ref3k <- d$anova_III_kr[rownames(a3k), ]
  Va <- vcov_kr(fit)
  cm <- contest(fit, d$LM); cmk <- contest(fit, d$LM, ddf = "Kenward-Roger")
  km <- contest(fit, d$krmodcomp$L_restr, ddf = "Kenward-Roger")
  o <- c(satt_df = rel(s[, "df"], d$coef_satt[, "df"]),
         satt_p = rel(s[, "Pr(>|t|)"][d$coef_satt[, "Pr(>|t|)"] > 1e-4], d$coef_satt[, "Pr(>|t|)"][d$coef_satt[, "Pr(>|t|)"] > 1e-4]),
         kr_df = rel(k[, "df"], d$kr_ddf), kr_se = rel(sqrt(diag(Va)), sqrt(diag(d$vcovAdj))),
         III_DenDF = rel(a3$DenDF, ref3$DenDF), III_F = rel(a3[["F value"]], ref3[["F value"]]),
         III_kr_DenDF = rel(a3k$DenDF, ref3k$DenDF), III_kr_F = rel(a3k[["F value"]], ref3k[["F value"]]),
         II_DenDF = rel(a2$DenDF, d$anova_II_satt[rownames(a2), "DenDF"]),
         I_DenDF = rel(a1$DenDF, d$anova_I_satt[rownames(a1), "DenDF"]),
         contestLM_DenDF = rel(cm$DenDF, d$contest_LM_satt$DenDF), contestLM_kr_DenDF = rel(cmk$DenDF, d$contest_LM_kr$DenDF),
         KRmodcomp_F = rel(km[["F value"]], d$krmodcomp$test["Ftest", "stat"]), KRmodcomp_ddf = rel(km$DenDF, d$krmodcomp$test["Ftest", "ddf"]))
  if (!is.null(d$confint_profile)) {
    ci <- confint(fit); cr <- d$confint_profile
    o["profile_ci"] <- max(abs(ci - cr) / pmax(abs(cr), 0.1))
  }
  if (!is.null(d$emm_satt)) {
    sp <- stats::as.formula(paste("~", d$emm_factor))
    es <- as.data.frame(summary(emmeans::emmeans(fit, sp)))
    ek <- as.data.frame(summary(emmeans::emmeans(fit, sp, lmm.df = "kenward-roger")))
    o["emm_satt_df"] <- rel(es$df, d$emm_satt$df[match(es[[1]], d$emm_satt[[1]])])
    o["emm_kr_SE"] <- rel(ek$SE, d$emm_kr$SE[match(ek[[1]], d$emm_kr[[1]])])
  }
  out[[nm]] <- o
}
allnm <- unique(unlist(lapply(out, names)))
M <- t(sapply(out, function(x) { y <- setNames(rep(NA_real_, length(allnm)), allnm); y[names(x)] <- x; y }))
options(width = 250)
print(signif(M, 2))
print(signif(apply(M, 2, max, na.rm = TRUE), 2))
