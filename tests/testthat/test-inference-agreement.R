## Agreement of lemma's small-sample inference with lmerTest, pbkrtest, lme4's
## profile intervals and emmeans (issue 3).
##
## References: ref/inference_refs.rds, made by ref/make-ref-inference.R.
## Tolerances (issue 3): 2e-3 relative for Satterthwaite and Kenward-Roger df,
## p-values, SEs and F tables (lmerTest differentiates numerically; ~1e-4 is the
## realistic floor); 1e-3 relative for profile intervals. p-values below 1e-4
## are compared on the log scale (see expect_pvalue in helper-ref.R).
## Assumed lemma API (mirrors lmerTest / pbkrtest):
##   summary(fit, ddf = "Satterthwaite" | "Kenward-Roger" | "none")$coefficients
##   anova(fit, type = "III" | "II" | "I", ddf = ...)   NumDF, DenDF, F value, Pr(>F)
##   contest(fit, L, ddf = ...)                          same F-table columns
##   vcov(fit, adjust = "Kenward-Roger")
##   confint(fit, method = "profile" | "Wald", level = 0.95)  rownames .sig01 ... .sigma, coefficients
##   emmeans::emmeans(fit, ~ f, lmm.df = "satterthwaite" | "kenward-roger")

inf_refs <- readRDS(test_path("ref", "inference_refs.rds"))

fit_lemma_inf <- function(rec) fit_lemma(rec, REML = TRUE)

## KRmodcomp(full, reduced) corresponds to the joint Kenward-Roger F test of the
## restriction L_restr on the full model: contest(full, L_restr, ddf = "Kenward-Roger")
kr_modcomp_as_Ftable <- function(kr) {
  t <- kr$test
  data.frame(NumDF = t["Ftest", "ndf"], DenDF = t["Ftest", "ddf"],
             `F value` = t["Ftest", "stat"], `Pr(>F)` = t["Ftest", "p.value"],
             check.names = FALSE)
}

check_lmerTest_parts <- function(fit, ref, label) {
  expect_coef_table(summary(fit, ddf = "Satterthwaite")$coefficients, ref$coef_satt,
                    label = paste(label, "summary Satterthwaite"))
  expect_coef_table(summary(fit, ddf = "Kenward-Roger")$coefficients, ref$coef_kr,
                    label = paste(label, "summary Kenward-Roger"))
  if (!is.null(ref$coef_none))
    expect_coef_table(summary(fit, ddf = "none")$coefficients, ref$coef_none,
                      label = paste(label, "summary ddf = none"))
  expect_Ftable(anova(fit, type = "III", ddf = "Satterthwaite"), ref$anova_III_satt,
                label = paste(label, "anova III Satterthwaite"))
  expect_Ftable(anova(fit, type = "III", ddf = "Kenward-Roger"), ref$anova_III_kr,
                label = paste(label, "anova III Kenward-Roger"))
  if (!is.null(ref$anova_II_satt))
    expect_Ftable(anova(fit, type = "II", ddf = "Satterthwaite"), ref$anova_II_satt,
                  label = paste(label, "anova II Satterthwaite"))
  if (!is.null(ref$anova_I_satt))
    expect_Ftable(anova(fit, type = "I", ddf = "Satterthwaite"), ref$anova_I_satt,
                  label = paste(label, "anova I Satterthwaite"))
  for (L in c("L1", "LM")) for (dd in c("satt", "kr")) {
    key <- paste0("contest_", L, "_", dd)
    if (is.null(ref[[key]])) next
    ddf <- if (dd == "satt") "Satterthwaite" else "Kenward-Roger"
    expect_Ftable(contest(fit, ref[[L]], ddf = ddf), ref[[key]], by_name = FALSE,
                  label = paste(label, "contest", L, ddf))
  }
}

check_pbkrtest_parts <- function(fit, ref, label) {
  Va <- as.matrix(vcov(fit, adjust = "Kenward-Roger"))
  se <- sqrt(diag(ref$vcovAdj))
  expect_identical(dimnames(Va), dimnames(ref$vcovAdj))
  expect_close(sqrt(diag(Va)), se, rel = 2e-3, label = paste(label, "KR adjusted SE"))
  expect_close(Va, ref$vcovAdj, rel = 2e-3, floor = outer(se, se), label = paste(label, "vcovAdj"))
  ## the adjustment itself (Phi_A - Phi), relative to its own size: catches an
  ## implementation that returns the unadjusted vcov when the adjustment is small
  adj_ref <- ref$vcovAdj - ref$vcov
  if (max(abs(adj_ref)) > 1e-3 * max(abs(ref$vcov)))
    expect_close(Va - as.matrix(vcov(fit)), adj_ref, rel = 2e-2, floor = max(abs(adj_ref)),
                 label = paste(label, "KR adjustment Phi_A - Phi"))
  kr_df <- summary(fit, ddf = "Kenward-Roger")$coefficients[, "df"]
  expect_close(kr_df, ref$kr_ddf, rel = 2e-3, label = paste(label, "KR df per coefficient"))
  expect_Ftable(contest(fit, ref$krmodcomp$L_restr, ddf = "Kenward-Roger"),
                kr_modcomp_as_Ftable(ref$krmodcomp), by_name = FALSE,
                label = paste(label, "KRmodcomp full vs reduced"))
}

## which rows of confint() are correlations (from the stored .sigNN map)
cor_parms <- function(map) map$parm[!is.na(map$var2)]

for (nm in names(inf_refs$designs)) {
  ref <- inf_refs$designs[[nm]]
  test_that(sprintf("inference agreement, %s: %s (lmerTest tables)", nm, ref$formula), {
    fit <- fit_lemma_inf(ref)
    expect_close(fixef(fit), ref$fixef, rel = 1e-4, floor = ref$coef_satt[, "Std. Error"], label = "fixef")
    expect_identical(isSingular(fit), ref$singular)
    check_lmerTest_parts(fit, ref, nm)
  })

  test_that(sprintf("inference agreement, %s: %s (pbkrtest Kenward-Roger)", nm, ref$formula), {
    fit <- fit_lemma_inf(ref)
    check_pbkrtest_parts(fit, ref, nm)
  })

  if (!is.null(ref$confint_profile)) {
    test_that(sprintf("inference agreement, %s: %s (profile and Wald intervals)", nm, ref$formula), {
      fit <- fit_lemma_inf(ref)
      ci <- as.matrix(confint(fit, method = "profile", level = 0.95))
      cr <- ref$confint_profile
      expect_identical(rownames(ci), rownames(cr))
      expect_identical(ncol(ci), 2L)
      if (identical(rownames(ci), rownames(cr)) && ncol(ci) == 2L) {
        ## floors: a coefficient's bounds on the scale of its SE (a bound near 0
        ## is not held to 1e-3 of itself); correlations live on [-1, 1], floor 0.1;
        ## standard deviations purely relative
        fl <- setNames(rep(0, nrow(cr)), rownames(cr))
        fe <- intersect(rownames(cr), rownames(ref$coef_satt))
        fl[fe] <- ref$coef_satt[fe, "Std. Error"]
        fl[rownames(cr) %in% cor_parms(ref$confint_map)] <- 0.1
        for (j in 1:2)
          expect_close(ci[, j], cr[, j], rel = 1e-3, floor = fl,
                       label = paste("profile interval", colnames(cr)[j]))
      }
      cw <- as.matrix(confint(fit, method = "Wald", level = 0.95))
      wr <- ref$confint_Wald
      expect_identical(rownames(cw), rownames(wr))
      if (identical(rownames(cw), rownames(wr))) {
        fe <- !is.na(wr[, 1])
        expect_close(cw[fe, ], wr[fe, ], rel = 1e-3,
                     floor = ref$coef_satt[rownames(wr)[fe], "Std. Error"], label = "Wald interval")
      }
    })
  }

  if (!is.null(ref$emm_satt)) {
    test_that(sprintf("inference agreement, %s: %s (emmeans ~ %s)", nm, ref$formula, ref$emm_factor), {
      skip_if_not_installed("emmeans")
      fit <- fit_lemma_inf(ref)
      spec <- stats::as.formula(paste("~", ref$emm_factor))
      for (dd in c("satterthwaite", "kenward-roger")) {
        key <- if (dd == "satterthwaite") "satt" else "kr"
        em <- emmeans::emmeans(fit, spec, lmm.df = dd)
        es <- as.data.frame(summary(em))
        er <- ref[[paste0("emm_", key)]]
        lv <- as.character(es[[ref$emm_factor]])
        expect_setequal(lv, er[[ref$emm_factor]])
        es <- es[match(er[[ref$emm_factor]], lv), ]
        expect_close(es$emmean, er$emmean, rel = 1e-4, floor = er$SE, label = paste("emmean", dd))
        expect_close(es$SE, er$SE, rel = 2e-3, label = paste("emmeans SE", dd))
        expect_close(es$df, er$df, rel = 2e-3, label = paste("emmeans df", dd))
        ps <- as.data.frame(summary(pairs(em)))
        pr <- ref[[paste0("pairs_", key)]]
        expect_setequal(as.character(ps$contrast), pr$contrast)
        ps <- ps[match(pr$contrast, as.character(ps$contrast)), ]
        expect_close(ps$estimate, pr$estimate, rel = 1e-4, floor = pr$SE, label = paste("pairs estimate", dd))
        expect_close(ps$SE, pr$SE, rel = 2e-3, label = paste("pairs SE", dd))
        expect_close(ps$df, pr$df, rel = 2e-3, label = paste("pairs df", dd))
        expect_pvalue(ps$p.value, pr$p.value, rel = 2e-3, label = paste("pairs p-value", dd))
      }
    })
  }
}

## ---------------------------------------------------------------------------
## Live comparison with the installed lmerTest / pbkrtest (skipped otherwise):
## the same checks against freshly computed tables.
for (nm in names(inf_refs$designs)) {
  ref <- inf_refs$designs[[nm]]
  test_that(sprintf("live lmerTest agreement, %s: %s", nm, ref$formula), {
    skip_if_not_installed("lmerTest")
    skip_if_not_installed("pbkrtest")
    lt <- suppressMessages(suppressWarnings(
      fit_model(quote(lmerTest::lmer), list(formula = ref$formula, data = ref$data, weights = NULL),
                REML = TRUE)))
    live <- list(
      coef_satt = summary(lt, ddf = "Satterthwaite")$coefficients,
      coef_kr = suppressWarnings(summary(lt, ddf = "Kenward-Roger")$coefficients),
      anova_III_satt = as.data.frame(anova(lt, type = "III", ddf = "Satterthwaite")),
      anova_III_kr = as.data.frame(suppressWarnings(anova(lt, type = "III", ddf = "Kenward-Roger"))),
      anova_I_satt = as.data.frame(anova(lt, type = "I", ddf = "Satterthwaite")),
      L1 = ref$L1, LM = ref$LM,
      contest_LM_satt = as.data.frame(lmerTest::contest(lt, ref$LM, ddf = "Satterthwaite")),
      contest_LM_kr = as.data.frame(suppressWarnings(lmerTest::contest(lt, ref$LM, ddf = "Kenward-Roger"))))
    fit <- fit_lemma_inf(ref)
    check_lmerTest_parts(fit, live, paste(nm, "(live)"))
    fm <- as(lt, "lmerMod")
    Va <- as.matrix(suppressWarnings(pbkrtest::vcovAdj(fm)))
    se <- sqrt(diag(Va))
    expect_close(unname(as.matrix(vcov(fit, adjust = "Kenward-Roger"))), unname(Va), rel = 2e-3,
                 floor = outer(se, se), label = "vcovAdj vs live pbkrtest")
  })
}
