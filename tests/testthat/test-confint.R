## Profile, Wald and bootstrap intervals.

test_that("profile intervals agree with lme4's confint(method = 'profile')", {
  skip_if_not_installed("lme4")
  d <- lme4::sleepstudy
  fit <- lmm(Reaction ~ Days + (Days | Subject), d)
  fm <- lme4::lmer(Reaction ~ Days + (Days | Subject), d)
  ref <- suppressWarnings(suppressMessages(confint(fm, method = "profile", oldNames = TRUE)))
  ci <- confint(fit)
  expect_identical(rownames(ci), rownames(ref))
  expect_identical(colnames(ci), colnames(ref))
  expect_equal(unname(ci), unname(ref), tolerance = 1e-3)
  ## a subset by name and the Wald rows
  expect_equal(unname(confint(fit, parm = ".sigma")), unname(ref[".sigma", , drop = FALSE]), tolerance = 1e-3)
  w <- confint(fit, method = "Wald")
  wr <- confint(fm, method = "Wald", oldNames = TRUE)
  expect_identical(rownames(w), rownames(wr))
  expect_equal(unname(w[3:6, ]), unname(wr[3:6, ]), tolerance = 1e-4)
  expect_true(all(is.na(w[1:4, ])))
})

test_that("parametric bootstrap intervals are reproducible and sensible", {
  skip_if_not_installed("future.apply")
  fit <- lmm(Yield ~ 1 + (1 | Batch), lme4::Dyestuff)
  future::plan(future::sequential)
  set.seed(1)
  b1 <- confint(fit, method = "boot", nsim = 40)
  set.seed(1)
  b2 <- confint(fit, method = "boot", nsim = 40)
  expect_identical(b1, b2)
  expect_identical(rownames(b1), c(".sig01", ".sigma", "(Intercept)"))
  expect_true(all(b1[, 1] < b1[, 2]))
  expect_true(b1["(Intercept)", 1] < fit$beta[[1]] && fit$beta[[1]] < b1["(Intercept)", 2])
})
