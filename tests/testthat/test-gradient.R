# The exact gradient of the profiled criterion (every model without a relationship
# matrix), which drives lmm_optimize()'s Newton steps, against finite differences
# of lme4's own profiled criterion (lmer(devFunOnly = TRUE)) at points away from
# the optimum.

# Five-point central difference: truncation error O(h^4) and rounding about
# 1e-16 * |f| / h, i.e. below 1e-8 here for criteria of order 1e3.
fd_gradient <- function(f, x, h = 1e-4) {
  vapply(seq_along(x), function(i) {
    e <- replace(numeric(length(x)), i, h)
    (-f(x + 2 * e) + 8 * f(x + e) - 8 * f(x - e) + f(x - 2 * e)) / (12 * h)
  }, numeric(1))
}

test_that("the exact gradient matches finite differences of lme4's criterion", {
  skip_if_not_installed("lme4")
  ss <- lme4::sleepstudy
  ss$w <- rep(c(0.5, 1, 2), length.out = nrow(ss))
  cases <- list(
    list(f = Reaction ~ Days + (Days | Subject), d = ss, w = NULL, REML = TRUE),
    list(f = Reaction ~ Days + (Days | Subject), d = ss, w = NULL, REML = FALSE),
    list(f = Reaction ~ Days + (Days | Subject), d = ss, w = ss$w, REML = TRUE),
    list(f = Reaction ~ Days + (1 | Subject), d = ss, w = NULL, REML = TRUE)
  )
  for (cs in cases) {
    fr <- if (is.null(cs$w)) lmm_frame(cs$f, cs$d) else lmm_frame(cs$f, cs$d, weights = cs$w)
    g <- environment(lmm_devfun(fr, REML = cs$REML))$gradient
    expect_true(is.function(g))
    dev4 <- if (is.null(cs$w)) lme4::lmer(cs$f, cs$d, REML = cs$REML, devFunOnly = TRUE) else
      lme4::lmer(cs$f, cs$d, REML = cs$REML, weights = cs$w, devFunOnly = TRUE)
    # one term: lme4's theta has lemma's layout
    for (th in list(fr$reterms$theta, fr$reterms$theta * 0.5 + 0.05 * seq_along(fr$reterms$theta))) {
      ref <- fd_gradient(dev4, th)
      # relative 1e-6: far above the finite-difference error (< 1e-8), far below
      # any error in a derivative term (the gradients here are of order 1 to 100)
      expect_equal(g(th), ref, tolerance = 1e-6)
    }
  }
})

test_that("models with several terms have the exact gradient for the Newton start, and match lme4's criterion", {
  skip_if_not_installed("lme4")
  ss <- lme4::sleepstudy
  ss$grp <- factor(rep(1:4, 45))
  cases <- list(
    list(f = diameter ~ 1 + (1 | plate) + (1 | sample), d = lme4::Penicillin, REML = TRUE),
    list(f = diameter ~ 1 + (1 | plate) + (1 | sample), d = lme4::Penicillin, REML = FALSE),
    list(f = strength ~ 1 + (1 | batch/cask), d = lme4::Pastes, REML = TRUE),
    # a vector term first, a scalar term after it
    list(f = Reaction ~ Days + (Days | Subject) + (1 | grp), d = ss, REML = TRUE),
    # a scalar term first, a vector term after it
    list(f = Reaction ~ Days + (1 | Subject) + (Days | grp), d = ss, REML = FALSE)
  )
  for (cs in cases) {
    fr <- lmm_frame(cs$f, cs$d)
    env <- environment(lmm_devfun(fr, REML = cs$REML))
    # several terms: no gradient for the polish after BOBYQA, one for the start
    expect_null(env$gradient)
    g <- env$start_gradient
    expect_true(is.function(g))
    dev4 <- lme4::lmer(cs$f, cs$d, REML = cs$REML, devFunOnly = TRUE)
    # terms in decreasing number of levels in both packages, so the same theta layout
    expect_identical(length(environment(dev4)$pp$theta), length(fr$reterms$theta))
    for (th in list(fr$reterms$theta + 0.3, fr$reterms$theta * 0.5 + 0.05 * seq_along(fr$reterms$theta))) {
      ref <- fd_gradient(dev4, th)
      # the same allowance as for one term (finite-difference error < 1e-8)
      expect_equal(g(th), ref, tolerance = 1e-6)
    }
  }
})

test_that("a model with a relationship matrix has no exact gradient", {
  K <- diag(18) * 0.5 + 0.5
  dimnames(K) <- list(levels(sleepstudy$Subject), levels(sleepstudy$Subject))
  fr <- lmm_frame(Reaction ~ Days + (1 | Subject), sleepstudy, relmat = list(Subject = K))
  env <- environment(lmm_devfun(fr))
  expect_null(env$gradient)
  expect_null(env$start_gradient)
})
