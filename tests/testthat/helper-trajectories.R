## helper-trajectories.R -- independent references for blup_at(): lme4's model at a
## given theta, dense Henderson equations from lme4's getME(), the conditional
## distribution of a new subject's random effects by hand, and the exact derivative
## of a cubic through four points.

## lme4's fit at a given theta: beta, b and sigma are lme4's own solution of the
## penalized least squares problem at that theta (theta in lme4's order). Used to
## compare formulas without the few-1e-6 disagreement of two optimizers.
lme4_at_theta <- function(formula, data, theta, REML = TRUE) {
  lf <- lme4::lFormula(formula, data, REML = REML)
  dd <- do.call(lme4::mkLmerDevfun, lf)
  opt <- list(par = unname(theta), fval = dd(unname(theta)), conv = 0, message = "", feval = 1)
  lme4::mkMerMod(environment(dd), opt, lf$reTrms, fr = lf$fr)
}

## Prediction of x'beta + z'b for subjects in the fit and its error covariance by
## Henderson's equations in dense form: with W = [Z Lambda, X],
## M = W'W + diag(1 (q times), 0 (p times)), the errors of (u, beta) have covariance
## sigma^2 M^-1. `xs`, `zs`: rows (one per contrast) of X and of lme4's Z columns.
henderson_ref <- function(m, xs, zs) {
  X <- lme4::getME(m, "X")
  Z <- as.matrix(lme4::getME(m, "Z"))
  L <- as.matrix(lme4::getME(m, "Lambda"))
  q <- ncol(Z)
  p <- ncol(X)
  W <- cbind(Z %*% L, X)
  Mi <- solve(crossprod(W) + diag(c(rep(1, q), rep(0, p))))
  b <- as.vector(L %*% lme4::getME(m, "u"))
  C <- cbind(zs %*% L, xs)
  list(est = drop(xs %*% lme4::fixef(m) + zs %*% b), V = stats::sigma(m)^2 * C %*% Mi %*% t(C))
}

## A new subject's prediction by hand: b | y_i ~ N(G Z' V^-1 (y - X beta),
## G - G Z' V^-1 Z G), V = Z G Z' + sigma^2 I, with beta-hat (independent of the
## new data) contributing d' cov(beta-hat) d, d = x - X' V^-1 Z G z.
## `xs`, `zs`: contrast rows; Xi, Zi, yi: the subject's observations.
new_subject_ref <- function(m, G, xs, zs, Xi, Zi, yi) {
  beta <- lme4::fixef(m)
  Vb <- as.matrix(stats::vcov(m))
  if (length(yi)) {
    V <- Zi %*% G %*% t(Zi) + stats::sigma(m)^2 * diag(length(yi))
    GZV <- G %*% t(Zi) %*% solve(V)
    bhat <- GZV %*% (yi - Xi %*% beta)
    Cb <- G - GZV %*% Zi %*% G
    D <- xs - zs %*% GZV %*% Xi
  } else {
    bhat <- matrix(0, ncol(G), 1)
    Cb <- G
    D <- xs
  }
  list(est = drop(xs %*% beta + zs %*% bhat), V = D %*% Vb %*% t(D) + zs %*% Cb %*% t(zs))
}

## d/dt at `a` of the cubic through (ts, f(ts)): exact when f is a polynomial of
## degree <= 3 on the span of ts.
cubic_slope <- function(ts, fs, a) {
  u <- ts - a
  solve(cbind(1, u, u^2, u^3), fs)[2]
}
