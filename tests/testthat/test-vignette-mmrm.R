## vignettes/mmrm.Rmd: its trial is the simulated dropout trial stored under ref/
## (sim-dropout.R, the same generator and seed), so its numbers are checked against
## the mmrm package's fits of that trial (ref/make-ref-mmrm.R -> mmrm_dropout_refs.rds).

test_that("the MMRM vignette's data, structures and primary result agree with mmrm", {
  v <- run_vignette("mmrm.Rmd")
  refs <- load_ref("mmrm_dropout_refs.rds")
  d <- load_ref("dropout_data.rds")
  expect_equal(v$trial, d)
  ## every structure's REML log-likelihood (the AIC table's column)
  for (s in rownames(v$aic)) expect_equal(v$aic[s, "logLik"], refs[[s]]$logLik, tolerance = 1e-5, label = s)
  ## AIC counts the fixed effects and the covariance parameters (and sigma)
  k <- vapply(v$fits, function(f) length(fixef(f)) + length(f$covstruct$par) + 1, numeric(1))
  expect_equal(v$aic$parameters, unname(k[rownames(v$aic)]))
  expect_equal(v$aic$AIC, -2 * v$aic$logLik + 2 * v$aic$parameters)
  ## the primary result: TRT - PBO at V6, against mmrm's emmeans differences on its
  ## Kenward-Roger fit
  r6 <- refs$us_emm_pairs_kr[refs$us_emm_pairs_kr$AVISIT == "V6", ]
  expect_equal(v$primary$Estimate, r6$estimate, tolerance = 1e-5)
  expect_equal(v$primary$`Std. Error`, r6$SE, tolerance = 1e-5)
  expect_equal(v$primary$df, r6$df, tolerance = 1e-3)
  expect_equal(v$primary$lower, r6$estimate - qt(0.975, r6$df) * r6$SE, tolerance = 1e-4)
  if (!is.null(v$diffs)) {
    dd <- as.data.frame(v$diffs)
    expect_equal(dd$estimate, refs$us_emm_pairs_kr$estimate, tolerance = 1e-5)
    expect_equal(dd$SE, refs$us_emm_pairs_kr$SE, tolerance = 1e-5)
    expect_equal(dd$df, refs$us_emm_pairs_kr$df, tolerance = 1e-3)
  }
  ## the interaction test against mmrm's df_md
  a <- v$anova_tab
  expect_equal(a["ARM:AVISIT", "F value"], refs$us_interaction_F_kr$f_stat, tolerance = 1e-5)
  expect_equal(a["ARM:AVISIT", "DenDF"], refs$us_interaction_F_kr$denom_df, tolerance = 1e-3)
  ## the estimated covariance matrix that the correlation plot shows
  expect_equal(unname(v$S), unname(refs$us$Sigma), tolerance = 1e-4)
  ## the interval is Kenward-Roger's
  expect_identical(v$ddf, "Kenward-Roger")
})
