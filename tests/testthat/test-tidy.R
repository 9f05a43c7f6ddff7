## tidy / glance / augment.

test_that("tidy gives fixed effects, variance components in VarCorr order and BLUPs", {
  skip_if_not_installed("lme4")
  d <- lme4::sleepstudy
  fit <- lmm(Reaction ~ Days + (Days | Subject), d)
  fm <- lme4::lmer(Reaction ~ Days + (Days | Subject), d)
  td <- as.data.frame(tidy.lemma_fit(fit, effects = c("fixed", "ran_pars", "ran_vals"), conf.int = TRUE))
  fe <- td[td$effect == "fixed", ]
  expect_equal(fe$term, c("(Intercept)", "Days"))
  expect_equal(fe$estimate, unname(lme4::fixef(fm)), tolerance = 1e-5)
  expect_true(all(fe$conf.low < fe$estimate & fe$estimate < fe$conf.high))
  expect_true(all(c("df", "p.value") %in% names(fe)))
  rp <- td[td$effect == "ran_pars", ]
  vc <- as.data.frame(lme4::VarCorr(fm))
  expect_equal(rp$estimate, vc$sdcor, tolerance = 1e-4)
  expect_equal(rp$term, c("sd__(Intercept)", "sd__Days", "cor__(Intercept).Days", "sd__Observation"))
  expect_equal(rp$group, c("Subject", "Subject", "Subject", "Residual"))
  rv <- td[td$effect == "ran_vals", ]
  re <- as.data.frame(lme4::ranef(fm, condVar = TRUE))
  key1 <- paste(rv$term, rv$level); key2 <- paste(re$term, re$grp)
  rv <- rv[match(key2, key1), ]
  expect_equal(rv$estimate, re$condval, tolerance = 1e-4)
  expect_equal(rv$std.error, re$condsd, tolerance = 1e-3)
})

test_that("glance and augment", {
  fit <- lmm(Reaction ~ Days + (Days | Subject), lme4::sleepstudy)
  g <- glance.lemma_fit(fit)
  expect_equal(g$nobs, 180)
  expect_equal(g$logLik, -REMLcrit(fit) / 2)
  a <- augment.lemma_fit(fit)
  expect_equal(nrow(a), 180)
  expect_equal(a$.fitted + a$.resid, lme4::sleepstudy$Reaction)
})

test_that("the generics are registered when generics is installed", {
  skip_if_not_installed("generics")
  lemma:::register_inference_methods()
  fit <- lmm(Reaction ~ Days + (Days | Subject), lme4::sleepstudy)
  expect_s3_class(generics::tidy(fit), "data.frame")
  expect_equal(nrow(generics::glance(fit)), 1L)
})
