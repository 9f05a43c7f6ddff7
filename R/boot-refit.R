# The refit loop of the parametric bootstrap: many refits of one design to new
# responses. Everything that does not depend on y is set up once per loop (one
# private copy of the C++ model, the weighted X, the theta layout, the warm start,
# the Hessian at the fit's estimate); a replicate replaces the response
# cross-products (X'y, Z'y, y'y) in place, runs the optimizer and reads theta, beta
# and sigma, with no fit object unless the statistic needs one.

# A function of a response y (over the fit's observations) that refits the model's
# criterion (REML or ML, as the fit) to y. It returns the list theta, beta, sigma,
# crit (the criterion reached), feval and ngrad (its evaluations, and those of its
# exact gradient), converged (FALSE when the optimizer's convergence checks warned:
# the estimates are kept, as a refit() that warns), and with `object = TRUE` also
# the refitted "lemma_fit" for a user's statistic. The refitter owns its model, so
# it must be used in one process (each future worker makes its own).
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
  newton <- NULL
  if (is.null(spectral)) {
    sw <- sqrt(frame$weights)
    Xw <- frame$X * sw
    ptr <- .model_with_response(model_ptr(fit), Xw, (fit$y - frame$offset) * sw)
    devfun <- lmm_devfun(frame, REML = REML, ptr = ptr)
    newton <- refit_newton_setup(fit, ptr, REML, lower)
  }
  denom <- n - if (REML) p else 0
  xnames <- colnames(frame$X)
  function(y, object = FALSE) {
    opt <- NULL
    if (is.null(spectral)) {
      .model_set_response(ptr, Xw, (y - frame$offset) * sw)
      if (!is.null(newton)) opt <- refit_newton(newton, control$maxfun)
    } else {
      spectral$yr <- drop(crossprod(spectral$U, (y - frame$offset)[spectral$ord]))
      devfun <- lmm_devfun_spectral(frame, REML = REML, spectral = spectral)
    }
    if (is.null(opt) || !opt$converged) {
      # convergence warnings are counted by the caller from `converged`, not repeated
      full <- suppressWarnings(lmm_optimize(devfun, control))
      if (!is.null(opt)) {
        full$feval <- full$feval + opt$feval
        full$ngrad <- full$ngrad + opt$ngrad
      }
      opt <- full
      # converged as the user of refit() would see it: no convergence warning (the
      # optimizer's own flag also turns FALSE when a last Newton step is lost in the
      # rounding of a large criterion, with the estimate at the optimum)
      opt$converged <- length(opt$warnings) == 0L
    }
    theta <- opt$par
    sol <- if (is.null(spectral)) .model_beta_pwrss(ptr, theta, update = !isTRUE(opt$at_par))
           else spectral_solution(spectral, theta, REML, n)
    out <- list(theta = theta, beta = stats::setNames(as.numeric(sol$beta), xnames),
                sigma = sqrt(sol$pwrss / denom), crit = opt$fval, feval = opt$feval, ngrad = opt$ngrad,
                converged = opt$converged)
    if (object) {
      # the fit a statistic sees: the response replaced as refit() does
      fr <- frame
      fr$y <- y
      if (!is.null(lhs_col)) fr$frame[[lhs_col]] <- y
      env <- environment(devfun)
      env$frame <- fr
      if (is.null(opt$warnings)) opt <- newton_as_optimum(opt, control)
      out$fit <- lmm_object(devfun, opt, fit$call)
      env$frame <- frame
    }
    out
  }
}

# The quasi-Newton refit's setup: where the model has an exact gradient (a single
# random-effect term without a relationship matrix, see lmm_devfun()) and the fit's
# estimate lies inside the bounds, the Hessian there (central differences of the
# exact gradient, 2k calls once per loop). A replicate's optimum lies within a few
# standard errors of the fit's, where this Hessian is close to its own, so Newton
# steps from the fit's estimate reach it in a few gradient evaluations. NULL where
# the replicates take the full optimizer.
refit_newton_setup <- function(fit, ptr, REML, lower) {
  frame <- fit$model_env$frame
  if (length(frame$reterms$terms) != 1L || !is.null(frame$reterms$terms[[1L]]$relchol)) return(NULL)
  theta <- unname(fit$theta)
  scale <- reterms_theta_scale(frame$reterms)
  diag <- which(lower == 0)
  # a singular fit: replicates near the boundary need the optimizer's boundary checks
  if (any(theta[diag] * scale[diag] < 1e-3)) return(NULL)
  logw <- sum(log(frame$weights))
  fg <- function(th) {
    v <- .model_objective_gradient(ptr, th, REML)
    list(f = v[1L] - logw, g = attr(v, "gradient"))
  }
  k <- length(theta)
  h <- 1e-4 * pmax(abs(theta), 0.1 / scale)
  H <- matrix(0, k, k)
  for (i in seq_len(k)) {
    th <- theta
    th[i] <- theta[i] + h[i]
    gp <- fg(th)$g
    th[i] <- theta[i] - h[i]
    H[, i] <- (gp - fg(th)$g) / (2 * h[i])
  }
  H <- (H + t(H)) / 2
  ch <- tryCatch(chol(H), error = function(e) NULL)
  if (is.null(ch) || !all(is.finite(ch))) return(NULL)
  list(fg = fg, theta = theta, Hinv = chol2inv(ch), diag = diag, names = names(fit$theta))
}

# Quasi-Newton from the fit's estimate on a replicate's response: Newton steps with
# the fit's Hessian, refreshed by BFGS updates from the gradients met (exact; the
# inverse is updated, so a step is a product, not a solve), each step backtracked
# until the criterion falls (Armijo). It stops, converged, when the Newton decrement
# is below 1e-10 (criterion units, plus 1e-13 of the criterion for its rounding;
# lmm_optimize()'s polish stops at ten times that: the gradient is exact, so the
# last steps are cheap and the estimate is at least as good as a full fit's). It
# gives up (converged FALSE; the caller then runs lmm_optimize()) when a step would
# leave the bounds (the replicate's optimum may be on them, where the optimizer's
# boundary checks are needed), when the line search fails short of
# lmm_optimize()'s own stopping rule, or after `maxfun` gradient evaluations.
refit_newton <- function(st, maxfun) {
  theta <- st$theta
  B <- st$Hinv
  cur <- st$fg(theta)
  ngrad <- 1L
  # at_par: the model's factor is at par (its last evaluation was there)
  out <- function(converged, at_par = TRUE)
    list(par = stats::setNames(theta, st$names), fval = cur$f, converged = converged, feval = 0L,
         ngrad = ngrad, gradient = stats::setNames(cur$g, st$names), Hinv = B, at_par = at_par)
  while (ngrad < maxfun) {
    step <- -drop(B %*% cur$g)
    slope <- sum(cur$g * step)
    if (!(slope < 0)) return(out(FALSE))
    if (-slope / 2 < 1e-10 + 1e-13 * abs(cur$f)) return(out(TRUE))
    # lmm_optimize()'s own stopping rule: a step that does not lower the criterion
    # is then lost in its rounding, and nothing is left to gain
    small <- -slope / 2 < 1e-9 + 1e-12 * abs(cur$f)
    t <- 1
    repeat {
      th <- theta + t * step
      if (any(th[st$diag] <= 0)) return(out(FALSE))
      nxt <- st$fg(th)
      ngrad <- ngrad + 1L
      if (all(is.finite(c(nxt$f, nxt$g))) && nxt$f <= cur$f + 1e-4 * t * slope) break
      t <- t / 4
      if (small || t < 1e-3 || ngrad >= maxfun) return(out(small, FALSE))
    }
    s <- th - theta
    yv <- nxt$g - cur$g
    sy <- sum(s * yv)
    if (sy > 1e-12 * sqrt(sum(s^2) * sum(yv^2))) {
      By <- drop(B %*% yv)
      B <- B - (tcrossprod(s, By) + tcrossprod(By, s)) / sy + (1 + sum(yv * By) / sy) / sy * tcrossprod(s)
    }
    theta <- th
    cur <- nxt
  }
  out(FALSE)
}

# The optimizer record lmm_object() expects, for a replicate the quasi-Newton refit
# converged: its gradient, the smallest eigenvalue of its Hessian, no warnings.
newton_as_optimum <- function(opt, control) {
  opt$message <- "quasi-Newton from the fit's estimate"
  opt$hessian_min_eigen <- 1 / max(eigen(opt$Hinv, symmetric = TRUE, only.values = TRUE)$values)
  opt$maxfun_reached <- FALSE
  opt$warnings <- character(0)
  opt$singular_tol <- control$singular_tol
  opt$Hinv <- opt$at_par <- NULL
  opt
}

# Statistics of replicates `idx` of the responses `sims` (a list of vectors): the
# default statistics straight from the refit (the sd/cor of each term, sigma, beta),
# else FUN of the refitted object. A failed refit gives NA statistics. Returns a
# list of the statistic vectors, with attribute "converged". tick(n) reports n more
# replicates done, in about 100 steps per chunk.
boot_chunk <- function(fit, FUN, default, idx, sims, width, tick = function(n) NULL) {
  rf <- response_refitter(fit)
  conv <- logical(length(idx))
  res <- vector("list", length(idx))
  every <- max(1L, length(idx) %/% 100L)
  for (k in seq_along(idx)) {
    r <- tryCatch({
      o <- rf(sims[[idx[k]]], object = !default)
      conv[k] <- o$converged
      if (default) c(theta_to_sdcor(fit, o$theta, o$sigma), o$beta) else FUN(o$fit)
    }, error = function(e) NULL)
    res[[k]] <- if (is.numeric(r) && length(r) == width) unname(r) else rep(NA_real_, width)
    if (k %% every == 0L || k == length(idx)) tick(if (k %% every == 0L) every else k %% every)
  }
  attr(res, "converged") <- conv
  res
}
