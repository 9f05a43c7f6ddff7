# Fitting: the profiled objective as a function of theta, its optimization, and the
# fitted-model object. Each step can be called alone (as lme4's mkLmerDevfun,
# optimizeLmer, mkMerMod).

#' Fit a linear mixed-effects model
#'
#' Fits `y ~ fixed + (terms | group)` models, written in lme4's syntax, by
#' penalized least squares with the profiled REML or ML criterion. The cross-product
#' of `[Z X y]` is formed once in blocks (C++), and each evaluation of the criterion
#' updates only a blocked Cholesky factor, so it costs the same for any number of
#' observations. A model whose only random-effect term is `(1 | id)` with a
#' relationship matrix and one observation per level is fitted by the spectral
#' method instead (see [lmm_devfun_spectral()]), with the same criterion.
#'
#' @param formula a two-sided formula with fixed effects and random-effect terms
#'   `(lhs | group)`; `(lhs || group)` for uncorrelated effects, `a/b` for nesting,
#'   `a:b` for an interaction as grouping factor, `offset()` terms.
#' @param data a data frame.
#' @param REML `TRUE` (default) for REML, `FALSE` for maximum likelihood.
#' @param weights optional prior weights (positive), a column of `data` or a vector.
#' @param offset optional offset, added to the linear predictor.
#' @param subset optional expression selecting rows of `data`.
#' @param na.action how to handle missing values: `na.omit` (default) drops
#'   incomplete rows; `na.exclude` also pads fitted values and residuals back to the
#'   rows of the data.
#' @param contrasts optional list of contrasts for factors in the fixed part.
#' @param relmat optional named list of known covariance (relationship) matrices
#'   over the levels of grouping factors, e.g. `list(id = K)`; dimnames name levels.
#' @param control a list from [lmm_control()].
#' @return An object of class `"lemma_fit"`; see its methods: `summary`, `fixef`,
#'   `ranef`, `VarCorr`, `predict`, `anova`, ...
#' @examples
#' fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
#' fit
#' fixef(fit)
#' @export
lmm <- function(formula, data = NULL, REML = TRUE, weights, offset, subset, na.action,
                contrasts = NULL, relmat = NULL, control = lmm_control()) {
  mc <- match.call()
  fc <- mc
  fc[[1L]] <- quote(lemma::lmm_frame)
  fc$REML <- NULL
  fc$control <- NULL
  frame <- eval(fc, parent.frame())
  devfun <- if (spectral_applies(frame)) lmm_devfun_spectral(frame, REML = REML) else
    lmm_devfun(frame, REML = REML, threads = control$threads)
  opt <- lmm_optimize(devfun, control)
  lmm_object(devfun, opt, mc)
}

#' Control settings for lmm()
#'
#' @param rhoend final trust-region radius of the BOBYQA optimizer (theta scale);
#'   Newton steps (`polish`) take the estimate the rest of the way.
#' @param maxfun maximum number of evaluations of the objective.
#' @param polish at most this many Newton steps (finite-difference gradient and
#'   Hessian) after BOBYQA: derivative-free optimizers crawl on flat objectives
#'   (steep random slopes, several correlated effects); Newton steps converge
#'   quadratically there.
#' @param singular_tol a theta diagonal below this is reported as singular.
#' @param threads threads (OpenMP) for the largest dense factorizations; default
#'   the option `lemma.threads`, else 1. More than one helps only on an otherwise
#'   idle machine: when another process holds a core, every synchronization point
#'   of the factorization can stall for a scheduler time slice.
#' @return A list of settings.
#' @examples
#' lmm_control(maxfun = 5000)
#' @export
lmm_control <- function(rhoend = 1e-3, maxfun = 10000L, polish = 4L, singular_tol = 1e-4,
                        threads = getOption("lemma.threads", 1L)) {
  list(rhoend = rhoend, maxfun = maxfun, polish = polish, singular_tol = singular_tol,
       threads = as.integer(threads))
}

#' The profiled REML/ML criterion of a model as a function of theta
#'
#' Forms the blocked cross-product matrix once (in C++) and returns a function of
#' theta giving the REML criterion or the deviance (-2 log-likelihood), with beta
#' and sigma profiled out, as lme4's `REMLcrit()` / `deviance()` define them.
#'
#' @param frame the result of [lmm_frame()].
#' @param REML logical.
#' @param ptr optional C++ model of the same frame to reuse (its cross-products
#'   do not depend on REML).
#' @param threads threads for the largest dense factorizations.
#' @return A function of theta. Its environment holds `frame`, `REML` and the C++
#'   model (`ptr`).
#' @examples
#' fr <- lmm_frame(Reaction ~ Days + (Days | Subject), sleepstudy)
#' f <- lmm_devfun(fr)
#' f(c(1, 0, 1))
#' @export
lmm_devfun <- function(frame, REML = TRUE, ptr = NULL, threads = 1L) {
  stopifnot(inherits(frame, "lmm_frame"))
  REML <- isTRUE(REML)
  if (is.null(ptr)) ptr <- new_model_ptr(frame, threads)
  logw <- sum(log(frame$weights))
  function(theta) .model_objective(ptr, theta, REML) - logw
}

new_model_ptr <- function(frame, threads = 1L) {
  sw <- sqrt(frame$weights)
  terms <- lapply(frame$reterms$terms, function(t)
    list(codes = as.integer(t$factor), X = t$X * sw, nlev = t$nlev, relchol = t$relchol))
  .model_new(terms, frame$X * sw, (frame$y - frame$offset) * sw, as.integer(threads))
}

#' Optimize the profiled criterion over theta
#'
#' BOBYQA (package minqa) within the bounds of theta, restarted once from its
#' solution; a single parameter is optimized by Brent's method on a bounded
#' transform, with the boundary value checked explicitly.
#'
#' @param devfun a function from [lmm_devfun()].
#' @param control a list from [lmm_control()].
#' @return A list with `par` (theta), `fval`, `feval` (number of evaluations) and
#'   `message`.
#' @examples
#' fr <- lmm_frame(Yield ~ 1 + (1 | Batch), Dyestuff)
#' lmm_optimize(lmm_devfun(fr))$par
#' @export
lmm_optimize <- function(devfun, control = lmm_control()) {
  frame <- environment(devfun)$frame
  theta0 <- frame$reterms$theta
  lower <- frame$reterms$lower
  nfe <- 0L
  f <- function(th) {
    nfe <<- nfe + 1L
    v <- devfun(th)
    if (!is.finite(v)) stop("the objective is not finite at theta = ", paste(signif(th, 4), collapse = ", "))
    v
  }
  if (length(theta0) == 1L) {
    # theta = s / (1 - s) maps [0, 1) onto [0, Inf); Brent needs a bounded interval.
    g <- function(s) f(s / (1 - s))
    o <- stats::optimize(g, c(0, 1 - 1e-9), tol = 1e-12)
    par <- o$minimum / (1 - o$minimum)
    fval <- o$objective
    f0 <- f(0)
    if (f0 <= fval) {
      par <- 0
      fval <- f0
    }
    res <- list(par = par, fval = fval, message = "Brent")
  } else {
    ctrl <- list(rhobeg = 0.2, rhoend = control$rhoend, maxfun = control$maxfun, iprint = 0)
    o <- minqa::bobyqa(theta0, f, lower = lower, control = ctrl)
    pol <- polish_at_bounds(f, o$par, o$fval, lower, control$polish)
    if (!pol$converged) {
      # Newton could not finish from there: let BOBYQA go further, then polish again.
      ctrl$rhobeg <- 0.05
      ctrl$rhoend <- min(control$rhoend, 1e-6)
      o2 <- minqa::bobyqa(pmax(pol$par, lower), f, lower = lower, control = ctrl)
      pol2 <- polish_at_bounds(f, o2$par, o2$fval, lower, control$polish)
      if (pol2$fval <= pol$fval) pol <- pol2
    }
    par <- pol$par
    fval <- pol$fval
    res <- list(par = par, fval = fval, message = o$msg, converged = pol$converged)
  }
  res$par <- stats::setNames(pmax(res$par, lower), names(theta0))
  res$feval <- nfe
  res
}

# Diagonal elements of theta near 0 are tried at 0 (a singular fit), then Newton.
polish_at_bounds <- function(f, par, fval, lower, maxit) {
  for (i in which(lower == 0 & par < 1e-3 & par > 0)) {
    th <- par
    th[i] <- 0
    v <- f(th)
    if (v <= fval) {
      par <- th
      fval <- v
    }
  }
  newton_polish(f, par, fval, lower, maxit)
}

# Newton steps on the free parameters (those not at their bound of 0) with central
# finite differences; a step is kept only when it lowers the criterion. The Hessian
# is formed once (2k^2 evaluations); later steps refresh only the gradient (2k).
newton_polish <- function(f, par, fval, lower, maxit = 4L) {
  free <- which(!(lower == 0 & par < 1e-3))
  k <- length(free)
  if (k == 0L || maxit < 1L) return(list(par = par, fval = fval, converged = TRUE))
  ch <- NULL
  converged <- FALSE
  for (it in seq_len(maxit)) {
    h <- 1e-3 * pmax(abs(par[free]), 0.1)
    at <- function(d) { th <- par; th[free] <- th[free] + d; f(th) }
    fp <- fm <- numeric(k)
    for (i in seq_len(k)) {
      e <- numeric(k); e[i] <- h[i]
      fp[i] <- at(e); fm[i] <- at(-e)
    }
    g <- (fp - fm) / (2 * h)
    if (is.null(ch)) {
      H <- diag((fp - 2 * fval + fm) / h^2, k)
      if (k > 1L) for (i in 1:(k - 1L)) for (j in (i + 1L):k) {
        ei <- numeric(k); ei[i] <- h[i]
        ej <- numeric(k); ej[j] <- h[j]
        H[i, j] <- H[j, i] <- (at(ei + ej) - at(ei - ej) - at(-ei + ej) + at(-ei - ej)) / (4 * h[i] * h[j])
      }
      ch <- tryCatch(chol(H), error = function(e) NULL)
      if (is.null(ch)) break
    }
    step <- -backsolve(ch, forwardsolve(t(ch), g))
    # Newton decrement: the decrease a full step predicts. Below 1e-9 (criterion
    # units) there is nothing left to gain.
    decrement <- -sum(g * step) / 2
    if (decrement < 1e-9) {
      converged <- TRUE
      break
    }
    th <- par
    th[free] <- pmax(par[free] + step, lower[free])
    v <- f(th)
    if (!(v < fval)) break
    gain <- fval - v
    par <- th
    fval <- v
    # Quadratic convergence: after a step that was predicted to gain this little,
    # the next would gain far less than 1e-9.
    if (decrement < 1e-6 && gain > 0.5 * decrement) {
      converged <- TRUE
      break
    }
  }
  list(par = par, fval = fval, converged = converged)
}
