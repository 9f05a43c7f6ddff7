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
  b1 <- confint(fit, method = "boot", nsim = 30)
  set.seed(1)
  b2 <- confint(fit, method = "boot", nsim = 30)
  expect_identical(b1, b2)
  expect_identical(rownames(b1), c(".sig01", ".sigma", "(Intercept)"))
  expect_true(all(b1[, 1] < b1[, 2]))
  expect_true(b1["(Intercept)", 1] < fit$beta[[1]] && fit$beta[[1]] < b1["(Intercept)", 2])
})

test_that("the internal simulator reproduces the fitted covariance", {
  fit <- lmm(Yield ~ 1 + (1 | Batch), lme4::Dyestuff)
  set.seed(2)
  ys <- replicate(400, lemma:::simulate_response(fit))
  v <- var(ys[1, ])      # Var(y_1) = sigma_b^2 + sigma^2
  s2 <- fit$sigma^2 * (1 + fit$theta[[1]]^2)
  expect_lt(abs(v / s2 - 1), 0.2)
})
