# The average-information (AI-REML) approximation of the profiled criterion's
# Hessian, which drives lmm_optimize()'s Newton steps from the moment start, against
# its definition computed densely: for the non-profiled parameters (theta, sigma^2)
# with V = sigma^2 (I + Z Lambda Lambda' Z'), AI_ab = 1/2 y' P dV_a P dV_b P y (P the
# REML projection; V^{-1} for ML, whose beta is not integrated out), profiled over
# sigma^2 by the Schur complement and doubled (deviance scale), at sigma^2's optimum.

dense_ai_profiled <- function(dp, theta, REML) {
  Lam <- dense_lambda(dp, theta)
  W <- diag(dp$n) + dp$Z %*% Lam %*% t(Lam) %*% t(dp$Z)
  Wi <- solve(W)
  XtWi <- t(dp$X) %*% Wi
  PW <- Wi - t(XtWi) %*% solve(XtWi %*% dp$X, XtWi)
  pwrss <- sum(dp$y * (PW %*% dp$y))
  nmp <- dp$n - if (REML) dp$p else 0
  s2 <- pwrss / nmp
  V <- s2 * W
  P <- PW / s2
  Pw <- if (REML) P else Wi / s2
  dV <- c(lapply(seq_along(theta), function(i) {
    dL <- dense_lambda(dp, theta, i)
    s2 * dp$Z %*% (dL %*% t(Lam) + Lam %*% t(dL)) %*% t(dp$Z)
  }), list(W))  # d/dsigma^2
  Py <- P %*% dp$y
  k1 <- length(dV)
  AI <- matrix(0, k1, k1)
  for (a in seq_len(k1)) for (b in seq_len(k1))
    AI[a, b] <- 0.5 * sum((dV[[a]] %*% Py) * (Pw %*% (dV[[b]] %*% Py)))
  k <- k1 - 1L
  2 * (AI[1:k, 1:k, drop = FALSE] - AI[1:k, k1, drop = FALSE] %*% AI[k1, 1:k, drop = FALSE] / AI[k1, k1])
}

test_that("the average-information Hessian matches its dense definition", {
  skip_if_not_installed("lme4")
  skip_if_not_installed("Matrix")
  ss <- lme4::sleepstudy
  ss$grp <- factor(rep(1:4, 45))
  ss$w <- rep(c(0.5, 1, 2), length.out = nrow(ss))
  cases <- list(
    list(f = Reaction ~ Days + (Days | Subject), d = ss, REML = TRUE),
    list(f = Reaction ~ Days + (Days | Subject), d = ss, REML = FALSE),
    list(f = Reaction ~ Days + (Days | Subject), d = ss, REML = TRUE, w = TRUE),
    list(f = diameter ~ 1 + (1 | plate) + (1 | sample), d = lme4::Penicillin, REML = TRUE),
    list(f = Reaction ~ Days + (Days | Subject) + (1 | grp), d = ss, REML = FALSE),
    list(f = Reaction ~ Days + (1 | Subject) + (Days | grp), d = ss, REML = TRUE)
  )
  for (cs in cases) {
    fit <- if (isTRUE(cs$w)) lmm(cs$f, cs$d, REML = cs$REML, weights = w) else lmm(cs$f, cs$d, REML = cs$REML)
    g <- environment(lmm_devfun(fit$model_env$frame, REML = cs$REML))$start_gradient
    dp <- dense_parts(fit)
    th_opt <- unname(fit$theta)
    for (th in list(th_opt, th_opt * 0.7 + 0.05)) {
      H <- attr(g(th, hessian = TRUE), "hessian")
      ref <- dense_ai_profiled(dp, th, cs$REML)
      # 1e-8 relative: both are exact formulas in double precision (the dense one
      # inverts matrices with condition numbers up to about 1e4)
      expect_equal(H, ref, tolerance = 1e-8, info = paste(deparse(cs$f), cs$REML))
      expect_true(isSymmetric(H))
      # positive semidefinite at any theta (a Gram matrix minus the sigma part)
      expect_gte(min(eigen(H, symmetric = TRUE, only.values = TRUE)$values), -1e-8 * max(abs(H)))
    }
  }
})

test_that("Newton steps converge from a start where the criterion's Hessian is indefinite", {
  skip_if_not_installed("lme4")
  fr <- lmm_frame(Reaction ~ Days + (Days | Subject), lme4::sleepstudy)
  f <- lmm_devfun(fr)
  g <- environment(f)$start_gradient
  # the criterion's Hessian has a negative eigenvalue at theta = (1, 0, 0.5) (central
  # differences of the exact gradient), the AI Hessian does not: Newton with the
  # former stops (its Cholesky fails), with the latter it converges
  th <- c(1, 0, 0.5)
  h <- 1e-5
  Hfd <- sapply(1:3, function(i) (g(replace(th, i, th[i] + h)) - g(replace(th, i, th[i] - h))) / (2 * h))
  expect_lt(min(eigen((Hfd + t(Hfd)) / 2, symmetric = TRUE, only.values = TRUE)$values), 0)
  expect_gt(min(eigen(attr(g(th, hessian = TRUE), "hessian"), symmetric = TRUE, only.values = TRUE)$values), 0)
  fr$reterms$theta <- fr$reterms$newton_start <- th
  opt <- lmm_optimize(lmm_devfun(fr))
  expect_identical(opt$message, "Newton steps from the start")
  expect_true(opt$converged)
  ref <- lme4::lmer(Reaction ~ Days + (Days | Subject), lme4::sleepstudy)
  # lme4's optimum (bobyqa, its default tolerances) is within 1e-6 of the criterion
  expect_lt(opt$fval, lme4::REMLcrit(ref) + 1e-6)
  expect_equal(unname(opt$par), unname(lme4::getME(ref, "theta")), tolerance = 1e-4)
})
