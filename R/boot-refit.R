# The refit loop of the parametric bootstrap: many refits of one design to new
# responses. Everything that does not depend on y is set up once per loop (one
# private copy of the C++ model, the weighted X, the theta layout, the warm start);
# a replicate replaces the response cross-products (X'y, Z'y, y'y) in place, runs
# the optimizer and reads theta, beta and sigma, with no fit object unless the
# statistic needs one.

# A function of a response y (over the fit's observations) that refits the model's
# criterion (REML or ML, as the fit) to y. It returns the list theta, beta, sigma,
# crit (the criterion reached), feval (its evaluations), converged (FALSE when the
# optimizer's convergence checks warned: the estimates are kept, as a refit() that
# warns), and with `object = TRUE` also the refitted "lemma_fit" for a user's
# statistic. The refitter owns its model, so it must be used in one process (each
# future worker makes its own).
response_refitter <- function(fit, control = lmm_control()) {
  frame <- fit$model_env$frame
  REML <- isREML(fit)
  n <- length(fit$y)
  p <- ncol(frame$X)
  # start each replicate at the fit's theta, as refit() (diagonals kept off their
  # bound 0 so that a singular fit does not pin the start there)
  lower <- frame$reterms$lower
  frame$reterms$theta[] <- ifelse(lower == 0, pmax(fit$theta, 0.05), fit$theta)
  lhs <- frame$formula[[2L]]
  lhs_col <- if (is.name(lhs) && as.character(lhs) %in% names(frame$frame)) as.character(lhs)
  spectral <- fit$spectral
  if (is.null(spectral)) {
    sw <- sqrt(frame$weights)
    Xw <- frame$X * sw
    ptr <- .model_with_response(model_ptr(fit), Xw, (fit$y - frame$offset) * sw)
    devfun <- lmm_devfun(frame, REML = REML, ptr = ptr)
  }
  denom <- n - if (REML) p else 0
  xnames <- colnames(frame$X)
  function(y, object = FALSE) {
    if (is.null(spectral)) {
      .model_set_response(ptr, Xw, (y - frame$offset) * sw)
    } else {
      spectral$yr <- drop(crossprod(spectral$U, (y - frame$offset)[spectral$ord]))
      devfun <- lmm_devfun_spectral(frame, REML = REML, spectral = spectral)
    }
    # convergence warnings are counted by the caller from `converged`, not repeated
    opt <- suppressWarnings(lmm_optimize(devfun, control))
    theta <- opt$par
    sol <- if (is.null(spectral)) .model_beta_pwrss(ptr, theta) else spectral_solution(spectral, theta, REML, n)
    # converged as the user of refit() would see it: no convergence warning (the
    # optimizer's own flag also turns FALSE when a last Newton step is lost in the
    # rounding of a large criterion, with the estimate at the optimum)
    out <- list(theta = theta, beta = stats::setNames(as.numeric(sol$beta), xnames),
                sigma = sqrt(sol$pwrss / denom), crit = opt$fval, feval = opt$feval,
                converged = length(opt$warnings) == 0L)
    if (object) {
      # the fit a statistic sees: the response replaced as refit() does
      fr <- frame
      fr$y <- y
      if (!is.null(lhs_col)) fr$frame[[lhs_col]] <- y
      env <- environment(devfun)
      env$frame <- fr
      out$fit <- lmm_object(devfun, opt, fit$call)
      env$frame <- frame
    }
    out
  }
}

# Statistics of replicates `idx` of the responses `sims` (a list of vectors): the
# default statistics straight from the refit (the sd/cor of each term, sigma, beta),
# else FUN of the refitted object. A failed refit gives NA statistics. Returns a
# list of the statistic vectors, with attribute "converged".
boot_chunk <- function(fit, FUN, default, idx, sims, width, tick = function() NULL) {
  rf <- response_refitter(fit)
  conv <- logical(length(idx))
  res <- vector("list", length(idx))
  for (k in seq_along(idx)) {
    r <- tryCatch({
      o <- rf(sims[[idx[k]]], object = !default)
      conv[k] <- o$converged
      if (default) c(theta_to_sdcor(fit, o$theta, o$sigma), o$beta) else FUN(o$fit)
    }, error = function(e) NULL)
    res[[k]] <- if (is.numeric(r) && length(r) == width) unname(r) else rep(NA_real_, width)
    tick()
  }
  attr(res, "converged") <- conv
  res
}
