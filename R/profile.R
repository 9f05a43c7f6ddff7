# Profile likelihood of a fit, as lme4's profile(): the signed square root of the
# ML deviance difference (zeta) along each parameter, the others re-optimized. The
# variance parameters are profiled on lme4's sd / correlation / sigma scale with beta
# profiled out; a fixed effect is profiled by moving its column into the offset. This
# is lemma's one profile engine: confint(method = "profile") inverts its result.

#' Profile the likelihood of a linear mixed model
#'
#' For each parameter, steps away from the ML estimate in both directions until
#' `|zeta|` exceeds the cutoff set by `alphamax`, re-optimizing the other
#' parameters at each step, as lme4's `profile()` does: zeta is
#' `sign(value - estimate) * sqrt(deviance - deviance at the ML fit)`. A REML fit is
#' profiled through its ML refit (as in lme4). Variance parameters are standard
#' deviations and correlations (`.sig01`, `.sig02`, ...) and the residual standard
#' deviation (`.sigma`), in lme4's order; fixed effects use their coefficient names.
#'
#' @param fitted a fitted model from [lmm()].
#' @param which parameters to profile: names, indices into
#'   `c(".sig01", ..., ".sigma", names(fixef(fitted)))`, `"theta_"` (all variance
#'   parameters) or `"beta_"` (all fixed effects); default all.
#' @param alphamax the profile extends to `|zeta| = sqrt(qchisq(1 - alphamax, np))`,
#'   `np` the number of parameters (lme4's rule).
#' @param maxpts at most this many points per direction.
#' @param delta target step in zeta; default `delta.cutoff` times the cutoff.
#' @param delta.cutoff see `delta`.
#' @param ... other arguments of lme4's method are not supported (a warning names
#'   them).
#' @return A data frame of class `"lemma_profile"` with columns `.zeta`, one per
#'   parameter (the values at each profile point) and the factor `.par` (the
#'   parameter profiled in that row); attributes `forward` and `backward` hold
#'   interpolating functions (zeta from the value, and the value from zeta) per
#'   parameter, `lower` and `upper` the parameters' bounds. `confint()` and
#'   `plot()` accept it.
#' @examples
#' fit <- lmm(Yield ~ 1 + (1 | Batch), Dyestuff)
#' pr <- profile(fit)
#' head(pr)
#' confint(pr)
#' plot(pr)
#' @importFrom stats profile
#' @export
profile.lemma_fit <- function(fitted, which = NULL, alphamax = 0.01, maxpts = 100, delta = NULL,
                              delta.cutoff = 1 / 8, ...) {
  check_dots_unused(list(...), "profile")
  check_number(alphamax, "alphamax", "profile", lower = 1e-12, upper = 0.5)
  check_number(maxpts, "maxpts", "profile", lower = 3, integer = TRUE)
  check_number(delta.cutoff, "delta.cutoff", "profile", lower = 1e-3, upper = 1)
  vn <- varpar_names(fitted)
  bn <- names(fitted$beta)
  all_names <- c(vn, bn)
  which <- expand_parm(which, vn, bn, "profile", "which")
  cutoff <- sqrt(stats::qchisq(1 - alphamax, length(all_names)))
  if (is.null(delta)) delta <- cutoff * delta.cutoff
  check_number(delta, "delta", "profile", lower = 1e-6)

  ml <- profile_ml(fitted)
  iscor <- is_cor_param(fitted)
  lower <- stats::setNames(c(ifelse(iscor, -1, 0), rep(-Inf, length(bn))), all_names)
  upper <- stats::setNames(c(ifelse(iscor, 1, Inf), rep(Inf, length(bn))), all_names)
  opt_row <- c(.zeta = 0, stats::setNames(c(ml$sdcor, ml$beta), all_names))
  se <- sqrt(diag(unname(vcov_beta(ml))))

  pieces <- lapply(which, function(nm) {
    k <- match(nm, all_names)
    est <- opt_row[[nm]]
    point <- if (k <= length(vn)) varpar_profile_point(fitted, ml, k) else fixef_profile_point(fitted, ml, k - length(vn))
    shift <- if (k > length(vn)) delta * se[k - length(vn)]
      else if (est == 0) 1e-3 * ml$sigma
      else if (iscor[k]) 0.01 * (1 - abs(est)) * if (est < 0) 1 else -1
      else 0.01 * est
    # at the upper bound of a correlation, step into the interior
    if (est + shift > upper[[k]]) shift <- -abs(shift)
    rows <- profile_walk(point, nm, est, opt_row, shift, cutoff, delta, lower[[k]], upper[[k]], maxpts)
    d <- as.data.frame(rows, check.names = FALSE)
    d <- d[order(d[[nm]], d$.zeta), , drop = FALSE]
    d <- d[!duplicated(d[[nm]]), , drop = FALSE]
    d$.par <- nm
    d
  })
  out <- do.call(rbind, pieces)
  rownames(out) <- NULL
  out$.par <- factor(out$.par)  # levels sorted, as lme4
  fwd <- bwd <- stats::setNames(vector("list", length(which)), which)
  for (nm in which) {
    d <- out[out$.par == nm, , drop = FALSE]
    sp <- profile_splines(d[[nm]], d$.zeta)
    fwd[nm] <- list(sp$forward)
    bwd[nm] <- list(sp$backward)
  }
  structure(out, forward = fwd, backward = bwd, lower = lower[which], upper = upper[which],
            class = c("lemma_profile", "data.frame"))
}

# Parameter names from names, indices, "theta_" (all variance parameters) or
# "beta_" (all fixed effects), as lme4's; in the order of the fit's parameters.
expand_parm <- function(which, vn, bn, fn, arg) {
  all_names <- c(vn, bn)
  if (is.null(which)) return(all_names)
  if (is.numeric(which)) {
    bad <- which[!(which %in% seq_along(all_names))]
    if (length(bad)) stop(sprintf("%s(): '%s' index %s is not in 1..%d", fn, arg, paste(bad, collapse = ", "),
                                  length(all_names)), call. = FALSE)
    return(all_names[which])
  }
  if (!is.character(which)) stop(sprintf("%s(): '%s' must be parameter names or indices", fn, arg), call. = FALSE)
  which <- unlist(lapply(which, function(w) if (w == "theta_") vn else if (w == "beta_") bn else w))
  bad <- setdiff(which, all_names)
  if (length(bad)) stop(sprintf("%s(): unknown parameter(s) in '%s': %s (the parameters are %s)", fn, arg,
                                paste(bad, collapse = ", "), paste(all_names, collapse = ", ")), call. = FALSE)
  all_names[all_names %in% which]
}

# The ML fit the profile starts from (cached on the fit), with its sd/cor values.
profile_ml <- function(fit) {
  cache <- inference_cache(fit)
  if (is.null(cache$ml)) {
    mf <- refit_ml(fit)
    ptr <- model_ptr(mf)
    sol <- .model_solution(ptr, as.numeric(mf$theta), FALSE)
    n <- length(fit$y)
    sigma <- sqrt(sol$pwrss / n)
    cache$ml <- list(fit = mf, theta = as.numeric(mf$theta), sigma = sigma,
                     sdcor = theta_to_sdcor(fit, mf$theta, sigma),
                     beta = stats::setNames(as.numeric(sol$beta), names(fit$beta)), RX = sol$RX,
                     ptr = ptr, frame = mf$model_env$frame,
                     base = .model_objective(ptr, as.numeric(mf$theta), FALSE))
  }
  cache$ml
}

# zeta from the deviance at a profile point; a deviance below the ML optimum by more
# than rounding means the ML fit was not at its optimum, which the user must know.
profile_zeta <- function(dev, base, w, est, nm) {
  d <- dev - base
  if (d < -1e-4)
    warning(sprintf("profile(): a lower deviance (by %.3g) than the ML fit's was found while profiling %s; the fit may not be at its optimum",
                    -d, nm), call. = FALSE)
  sign(w - est) * sqrt(max(d, 0))
}

# Profile point for variance parameter k: the other sd/cor/sigma values minimize the
# ML deviance (beta profiled out). Returns the row and the state the next point
# starts from (the solution, its w and the Hessian there, and the point before).
varpar_profile_point <- function(fit, ml, k) {
  nm <- varpar_names(fit)[k]
  est <- ml$sdcor[k]
  function(w, state) {
    o <- profile_varpar_dev(fit, ml, k, w, state)
    th <- sdcor_to_theta(fit, o$par)
    beta <- .model_solution(ml$ptr, th, FALSE)$beta
    list(row = c(.zeta = profile_zeta(o$value, ml$base, w, est, nm), o$par, beta),
         start = list(par = o$par, w = w, H = o$H, prev = state[c("par", "w")]))
  }
}

# ML deviance (not profiled over sigma) at theta, sigma; weights' constant omitted.
ml_dev <- function(ptr, theta, sigma, n) {
  d <- .model_dev_parts(ptr, theta)
  d[["ldL2"]] + d[["pwrss"]] / sigma^2 + n * log(2 * pi * sigma^2)
}

# Minimum of the ML deviance over the sd/cor/sigma values other than k, with k at w,
# from the state of the previous point (NULL at the estimate): Newton steps from the
# previous solution moved along the secant of the last two, with the previous
# point's Hessian (profile_newton); BOBYQA where those steps cannot finish (a bound
# is near, the Hessian is not positive definite). Returns value, par (all sd/cor/
# sigma values) and the Hessian in the free values' units (NULL after BOBYQA).
profile_varpar_dev <- function(fit, ml, k, w, state) {
  n <- length(fit$y)
  start <- if (is.null(state)) ml$sdcor else state$par
  npar <- length(start)
  is_cor <- is_cor_param(fit)
  free <- setdiff(seq_len(npar), k)
  # Standard deviations are optimized in units of their estimate (a slope on a
  # covariate of scale 1e6 has an sd near 1e-5, far below the optimizers' steps);
  # correlations as they are. The units are the same at every point, so the
  # Hessian carried from point to point stays valid.
  unit <- ifelse(is_cor[free] | ml$sdcor[free] == 0, 1, abs(ml$sdcor[free]))
  lower <- ifelse(is_cor, -1, 0)[free] / unit
  upper <- ifelse(is_cor, 1, Inf)[free] / unit
  f <- function(z) {
    v <- start
    v[free] <- z * unit
    v[k] <- w
    if (v[npar] <= 0) return(1e100)
    ml_dev(ml$ptr, sdcor_to_theta(fit, v), v[npar], n)
  }
  full <- function(z) replace(replace(start, free, z * unit), k, w)
  x_start <- secant_start(start[free], state, w, lower * unit, upper * unit, free)
  nt <- profile_newton(f, x_start / unit, lower, upper, state$H)
  if (!is.null(nt)) return(list(value = nt$value, par = full(nt$par), H = nt$H))
  z0 <- pmin(pmax(start[free] / unit, lower + 1e-6 * (lower > -Inf)), upper - 1e-6 * (upper < Inf))
  if (length(free) == 1L) {
    o <- stats::optim(z0, f, method = "L-BFGS-B", lower = lower, upper = upper,
                      control = list(factr = 1e3, pgtol = 0))
    return(list(value = o$value, par = full(o$par)))
  }
  o <- minqa::bobyqa(z0, f, lower = lower, upper = upper,
                     control = list(rhobeg = max(1e-3, 0.1 * min(abs(z0[z0 != 0]), 1)), rhoend = 1e-10,
                                    maxfun = 20000))
  list(value = o$fval, par = full(o$par))
}

# Newton steps on a smooth criterion f from x with central-difference gradients and
# the Hessian H (finite differences when NULL or when a step fails), updated by BFGS
# between steps: along a profile the Hessian changes little from point to point, so
# a point costs a few gradients instead of a new Hessian. Stops when the Newton
# decrement is below 1e-10 (criterion units) plus 1e-13 of the criterion. NULL when
# it cannot finish inside the bounds (every difference stencil stays strictly
# inside) within maxit steps.
profile_newton <- function(f, x, lower, upper, H = NULL, maxit = 10L) {
  m <- length(x)
  h <- 1e-4 * pmax(abs(x), 0.1)
  # the criterion is known to about 1e-13 of its size: a large one stops earlier
  tol <- function(fx) 1e-10 + 1e-13 * abs(fx)
  inside <- function(x) all(x - h > lower & x + h < upper)
  if (!inside(x)) return(NULL)
  grad <- function(x, fx) {
    fp <- fm <- numeric(m)
    for (i in seq_len(m)) {
      e <- replace(numeric(m), i, h[i])
      fp[i] <- f(x + e)
      fm[i] <- f(x - e)
    }
    list(g = (fp - fm) / (2 * h), d2 = (fp - 2 * fx + fm) / h^2)
  }
  hessian <- function(x, d2) {
    H <- diag(d2, m)
    if (m > 1L) for (i in 1:(m - 1L)) for (j in (i + 1L):m) {
      ei <- replace(numeric(m), i, h[i])
      ej <- replace(numeric(m), j, h[j])
      H[i, j] <- H[j, i] <- (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (4 * h[i] * h[j])
    }
    H
  }
  fx <- f(x)
  gr <- grad(x, fx)
  fresh <- is.null(H) || !identical(dim(H), c(m, m))
  if (fresh) H <- hessian(x, gr$d2)
  for (it in seq_len(maxit)) {
    ch <- tryCatch(chol(H), error = function(e) NULL)
    step <- if (!is.null(ch)) -backsolve(ch, forwardsolve(t(ch), gr$g))
    dec <- if (!is.null(step)) -sum(gr$g * step) / 2 else Inf
    if (dec < tol(fx)) return(list(par = x, value = fx, H = H))
    xn <- NULL
    if (!is.null(step)) for (half in 0:4) {
      xt <- x + step / 2^half
      if (!inside(xt)) next
      ft <- f(xt)
      if (ft < fx) {
        xn <- xt
        break
      }
    }
    if (is.null(xn)) {
      # no step lowers f: at the optimum if the decrease predicted is within the
      # rounding of f; else a stale Hessian gets one fresh replacement
      if (dec < 1e-11 * abs(fx)) return(list(par = x, value = fx, H = H))
      if (fresh) return(NULL)
      H <- hessian(x, gr$d2)
      fresh <- TRUE
      next
    }
    gn <- grad(xn, ft)
    s <- xn - x
    y <- gn$g - gr$g
    if (sum(s * y) > 0) {
      Hs <- drop(H %*% s)
      H <- H - tcrossprod(Hs) / sum(s * Hs) + tcrossprod(y) / sum(s * y)
    }
    x <- xn
    fx <- ft
    gr <- gn
    fresh <- FALSE
  }
  NULL
}

# Profile point for fixed effect j: beta_j = b moves X_j b into the offset; the model
# without column j is built once and each point only replaces its response
# cross-products in place (the model is private to this profile). theta minimizes
# the ML deviance by Newton steps as for the variance parameters (profile_newton),
# by lmm_optimize() where they cannot finish (theta near its bound).
fixef_profile_point <- function(fit, ml, j) {
  frame <- ml$frame
  nm <- names(fit$beta)[j]
  est <- ml$beta[[j]]
  red <- frame
  red$X <- frame$X[, -j, drop = FALSE]
  attr(red$X, "assign") <- attr(frame$X, "assign")[-j]
  ptr <- new_model_ptr(red)
  sw <- sqrt(frame$weights)
  Xw <- red$X * sw
  n <- length(frame$y)
  lower <- red$reterms$lower
  f <- function(th) .model_objective(ptr, th, FALSE)
  function(b, state) {
    fr <- red
    fr$offset <- frame$offset + frame$X[, j] * b
    .model_set_response(ptr, Xw, (frame$y - fr$offset) * sw)
    th0 <- if (is.null(state)) ml$theta else state$par
    nt <- profile_newton(f, secant_start(th0, state, b, lower, Inf), lower, Inf, state$H)
    if (is.null(nt)) {
      fr$reterms$theta <- pmax(th0, lower)
      th <- as.numeric(suppressWarnings(lmm_optimize(lmm_devfun(fr, REML = FALSE, ptr = ptr)))$par)
    } else {
      th <- nt$par
    }
    sol <- .model_solution(ptr, th, FALSE)
    beta <- numeric(length(fit$beta))
    beta[j] <- b
    beta[-j] <- sol$beta
    sigma <- sqrt(sol$pwrss / n)
    list(row = c(.zeta = profile_zeta(sol$objective, ml$base, b, est, nm), theta_to_sdcor(fit, th, sigma), beta),
         start = list(par = th, w = b, H = nt$H, prev = state[c("par", "w")]))
  }
}

# The start of the next profile point at w: the last solution x moved along the
# secant through the two before (state holds the last point's w and the point
# before it), when that stays inside the bounds.
secant_start <- function(x, state, w, lower, upper, idx = seq_along(x)) {
  prev <- state$prev
  if (is.null(prev$par) || prev$w == state$w) return(x)
  xe <- x + (x - prev$par[idx]) * (w - state$w) / (state$w - prev$w)
  if (all(xe > lower & xe < upper)) xe else x
}

# Steps away from the estimate on both sides: each step aims at a change of `delta`
# in zeta along the secant of the last two points (at most 10 times the last step),
# until |zeta| > cutoff, a bound is reached, or maxpts points are taken.
profile_walk <- function(point, pname, est, opt_row, shift, cutoff, delta, lower, upper, maxpts) {
  p0 <- list(w = est, row = opt_row, start = NULL)
  first <- point(est + shift, NULL)
  p1 <- list(w = est + shift, row = first$row, start = first$start)
  side <- function(a, b, dir) {
    rows <- list()
    for (i in seq_len(maxpts)) {
      zb <- b$row[[".zeta"]]
      if (abs(zb) > cutoff || b$w <= lower || b$w >= upper) break
      dw <- b$w - a$w
      dz <- zb - a$row[[".zeta"]]
      step <- if (is.finite(dz) && dz != 0 && dw / dz > 0) delta * dw / dz else 1e-6
      step <- min(abs(step), 10 * abs(dw))
      w <- min(upper, max(lower, b$w + dir * step))
      nxt <- tryCatch(point(w, b$start), error = function(e) e)
      if (inherits(nxt, "error")) {
        warning(sprintf("profile(): the fit failed at %s = %.6g (%s); that side of the profile stops there",
                        pname, w, conditionMessage(nxt)), call. = FALSE)
        break
      }
      a <- b
      b <- list(w = w, row = nxt$row, start = nxt$start)
      rows[[i]] <- nxt$row
    }
    rows
  }
  up <- if (shift > 0) side(p0, p1, 1) else side(p1, p0, 1)
  down <- if (shift > 0) { if (est > lower) side(p1, p0, -1) else list() } else side(p0, p1, -1)
  do.call(rbind, c(list(opt_row, first$row), up, down))
}

# An interpolating cubic spline of zeta on the value through the profile points
# (forward), and its inverse (backward, by root finding between the neighbouring
# points, as lme4 inverts its spline): zeta is smooth in the value even where the
# value is steep in zeta (a standard deviation near 0). Backward is NULL where zeta
# is not increasing.
profile_splines <- function(v, z) {
  ok <- is.finite(v) & is.finite(z)
  v <- v[ok]
  z <- z[ok]
  if (length(v) < 2L) return(list(forward = NULL, backward = NULL))
  fwd <- stats::splinefun(v, z, method = "fmm")
  bwd <- if (all(diff(z) > 0)) function(zeta) {
    vapply(zeta, function(zz) {
      if (!is.finite(zz) || zz < z[1] || zz > z[length(z)]) return(NA_real_)
      i <- max(1L, min(findInterval(zz, z), length(z) - 1L))
      if (zz == z[i]) return(v[i])
      if (zz == z[i + 1L]) return(v[i + 1L])
      stats::uniroot(function(x) fwd(x) - zz, v[c(i, i + 1L)], tol = 1e-12 * max(1, abs(v[i])))$root
    }, numeric(1))
  } else NULL
  list(forward = fwd, backward = bwd)
}

#' @describeIn profile.lemma_fit Confidence intervals from a profile: the parameter
#'   values where the interpolated zeta crosses the normal quantiles of `level`
#'   (or the given `zeta`); a profile that stops at a bound (a standard deviation
#'   at 0, a correlation at +-1) gives that bound.
#' @param object a `"lemma_profile"` object.
#' @param parm parameters (names or indices); default all profiled.
#' @param level confidence level.
#' @param zeta optional zeta values to invert instead of `level`'s quantiles.
#' @param non.mono.tol a decrease of zeta larger than this between neighbouring
#'   points makes the profile non-monotone (a warning; the interval is then NA).
#' @export
confint.lemma_profile <- function(object, parm, level = 0.95, zeta, non.mono.tol = 1e-2, ...) {
  check_dots_unused(list(...), "confint")
  check_number(level, "level", "confint", lower = 1e-8, upper = 1 - 1e-8)
  bak <- attr(object, "backward")
  pn <- names(bak)
  if (missing(parm)) parm <- pn
  else if (is.numeric(parm)) parm <- pn[parm]
  bad <- setdiff(parm, pn)
  if (length(bad)) stop(sprintf("confint(): parameter(s) %s were not profiled (the profile has %s)",
                                paste(bad, collapse = ", "), paste(pn, collapse = ", ")), call. = FALSE)
  a <- (1 - level) / 2
  if (missing(zeta)) {
    zeta <- stats::qnorm(c(a, 1 - a))
    cn <- paste(format(100 * c(a, 1 - a), trim = TRUE, scientific = FALSE, digits = 3), "%")
  } else {
    cn <- NULL
  }
  lower <- attr(object, "lower")
  upper <- attr(object, "upper")
  out <- matrix(NA_real_, length(parm), length(zeta), dimnames = list(parm, cn))
  for (nm in parm) {
    d <- object[object$.par == nm, , drop = FALSE]
    v <- d[[nm]]
    z <- d$.zeta
    if (any(diff(z) < -non.mono.tol)) {
      warning(sprintf("confint(): the profile of %s is not monotone; its interval is NA", nm), call. = FALSE)
      next
    }
    f <- bak[[nm]]
    if (is.null(f)) f <- stats::approxfun(z, v, ties = "ordered")
    for (i in seq_along(zeta)) {
      zi <- zeta[i]
      if (zi >= min(z) && zi <= max(z)) {
        out[nm, i] <- f(zi)
      } else if (zi < min(z) && isTRUE(min(v) <= lower[[nm]])) {
        out[nm, i] <- lower[[nm]]
      } else if (zi > max(z) && isTRUE(max(v) >= upper[[nm]])) {
        out[nm, i] <- upper[[nm]]
      } else {
        warning(sprintf("confint(): the profile of %s does not reach zeta = %.3g; profile with a smaller 'alphamax'",
                        nm, zi), call. = FALSE)
      }
    }
  }
  out
}

#' @describeIn profile.lemma_fit Plot of the profiles (base graphics): zeta against
#'   each parameter, with the confidence limits at `levels` marked.
#' @param x a `"lemma_profile"` object.
#' @param levels confidence levels whose limits are drawn.
#' @param absVal plot `|zeta|` instead of zeta.
#' @export
plot.lemma_profile <- function(x, levels = c(0.5, 0.8, 0.9, 0.95, 0.99), absVal = FALSE, ...) {
  pn <- names(attr(x, "forward"))
  nc <- ceiling(sqrt(length(pn)))
  op <- graphics::par(mfrow = c(ceiling(length(pn) / nc), nc), mar = c(4, 4, 1, 1))
  on.exit(graphics::par(op))
  zq <- stats::qnorm((1 + levels) / 2)
  for (nm in pn) {
    d <- x[x$.par == nm, , drop = FALSE]
    z <- if (absVal) abs(d$.zeta) else d$.zeta
    graphics::plot(d[[nm]], z, xlab = nm, ylab = if (absVal) "|zeta|" else "zeta", ...)
    fwd <- attr(x, "forward")[[nm]]
    if (!is.null(fwd)) {
      g <- seq(min(d[[nm]]), max(d[[nm]]), length.out = 201)
      zz <- fwd(g)
      graphics::lines(g, if (absVal) abs(zz) else zz)
    }
    graphics::abline(h = if (absVal) zq else c(-zq, zq), lty = 3, col = "grey50")
    ci <- suppressWarnings(confint(x, parm = nm, zeta = c(-rev(zq), zq)))
    graphics::abline(v = ci[is.finite(ci)], lty = 3, col = "grey70")
  }
  invisible(x)
}
