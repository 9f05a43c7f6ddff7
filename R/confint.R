# Confidence intervals: profile (as lme4's confint(method = "profile")), Wald and
# parametric bootstrap.

# lme4's names and values of the variance parameters on the sd / correlation scale:
# per term the column-wise lower triangle of its covariance (sds on the diagonal,
# correlations off it), then sigma.
varpar_names <- function(fit) {
  k <- 0L
  nm <- character(0)
  for (tm in fit$reterms$terms) {
    p <- length(tm$cnms)
    for (j in seq_len(p)) for (i in j:p) {
      k <- k + 1L
      nm <- c(nm, sprintf(".sig%02d", k))
    }
  }
  c(nm, ".sigma")
}

# theta and sigma -> (sd, cor, ..., sigma)
theta_to_sdcor <- function(fit, theta, sigma) {
  out <- numeric(0)
  for (tm in fit$reterms$terms) {
    p <- length(tm$cnms)
    S <- tcrossprod(theta_to_lambda(theta[tm$theta_index], p))
    sd <- sqrt(diag(S))
    for (j in seq_len(p)) for (i in j:p)
      out <- c(out, if (i == j) sigma * sd[i] else if (sd[i] > 0 && sd[j] > 0) S[i, j] / (sd[i] * sd[j]) else 0)
  }
  c(out, sigma)
}

# (sd, cor, ..., sigma) -> theta
sdcor_to_theta <- function(fit, v) {
  sigma <- v[length(v)]
  theta <- numeric(0)
  k <- 0L
  for (tm in fit$reterms$terms) {
    p <- length(tm$cnms)
    R <- diag(p)
    sds <- numeric(p)
    for (j in seq_len(p)) for (i in j:p) {
      k <- k + 1L
      if (i == j) sds[i] <- v[k] else R[i, j] <- R[j, i] <- v[k]
    }
    S <- R * outer(sds, sds) / sigma^2
    lam <- tryCatch(t(chol(S)), error = function(e) NULL)
    if (is.null(lam)) {
      ev <- eigen(S, symmetric = TRUE)
      lam <- t(chol(ev$vectors %*% diag(pmax(ev$values, 0) + 1e-12 * max(ev$values, 1e-12), p) %*% t(ev$vectors)))
    }
    theta <- c(theta, lam[lower.tri(lam, diag = TRUE)])
  }
  theta
}

# The ML refit used by lme4's profile (profile.merMod profiles the ML deviance).
ml_refit <- function(fit) {
  cache <- inference_cache(fit)
  if (!is.null(cache$ml)) return(cache$ml)
  frame <- fit$model_env$frame
  f <- lmm_devfun(frame, REML = FALSE)
  opt <- lmm_optimize(f)
  ptr <- environment(f)$ptr
  sol <- .model_solution(ptr, opt$par, FALSE)
  n <- length(frame$y)
  sigma <- sqrt(sol$pwrss / n)
  ml <- list(theta = opt$par, sigma = sigma, beta = stats::setNames(as.numeric(sol$beta), colnames(frame$X)),
             dev = opt$fval, ptr = ptr, devfun = f, frame = frame)
  cache$ml <- ml
  ml
}

# ML deviance (not profiled over sigma) at theta, sigma; weights' constant omitted.
ml_dev <- function(ptr, theta, sigma, n) {
  d <- .model_dev_parts(ptr, theta)
  d[["ldL2"]] + d[["pwrss"]] / sigma^2 + n * log(2 * pi * sigma^2)
}

# Profile of the ML deviance for variance parameter k (sd/cor/sigma scale) at value w.
profile_varpar_dev <- function(fit, ml, k, w, start) {
  n <- length(fit$y)
  npar <- length(start)
  names0 <- varpar_names(fit)
  is_cor <- !grepl("^\\.sigma$", names0) & is_cor_param(fit)
  free <- setdiff(seq_len(npar), k)
  lower <- ifelse(is_cor, -1, 0)[free]
  upper <- ifelse(is_cor, 1, Inf)[free]
  f <- function(x) {
    v <- start
    v[free] <- x
    v[k] <- w
    if (v[npar] <= 0) return(1e100)
    th <- sdcor_to_theta(fit, v)
    ml_dev(ml$ptr, th, v[npar], n)
  }
  x0 <- pmin(pmax(start[free], lower + 1e-6 * (lower > -Inf)), upper - 1e-6 * (upper < Inf))
  if (length(free) == 0L) return(list(value = f(numeric(0)), par = start))
  if (length(free) == 1L) {
    o <- stats::optim(x0, f, method = "L-BFGS-B", lower = lower, upper = upper,
                      control = list(factr = 1e3, pgtol = 0))
    return(list(value = o$value, par = replace(replace(start, free, o$par), k, w)))
  }
  o <- minqa::bobyqa(x0, f, lower = lower, upper = upper,
                     control = list(rhobeg = max(1e-3, 0.1 * min(abs(x0[x0 != 0]), 1)), rhoend = 1e-10,
                                    maxfun = 20000))
  list(value = o$fval, par = replace(replace(start, free, o$par), k, w))
}

is_cor_param <- function(fit) {
  out <- logical(0)
  for (tm in fit$reterms$terms) {
    p <- length(tm$cnms)
    for (j in seq_len(p)) for (i in j:p) out <- c(out, i != j)
  }
  c(out, FALSE)
}

# ML deviance with beta_j fixed at b (offset method), minimized over theta.
profile_fixef_dev <- function(fit, ml, j, b) {
  frame <- ml$frame
  fr <- frame
  fr$offset <- frame$offset + frame$X[, j] * b
  X <- frame$X[, -j, drop = FALSE]
  attr(X, "assign") <- attr(frame$X, "assign")[-j]
  fr$X <- X
  f <- lmm_devfun(fr, REML = FALSE)
  opt <- suppressWarnings(lmm_optimize(f))
  opt$fval
}

# Root of the signed square-root profile at +-cutoff on one side.
profile_side <- function(fdev, est, base, cutoff, dir, scale, lower = -Inf, upper = Inf) {
  g <- function(w) fdev(w) - base - cutoff^2
  step <- scale
  prev <- est
  for (i in seq_len(60)) {
    w <- est + dir * step
    if (w <= lower) {
      w <- lower
      if (g(w) < 0) return(lower)
      break
    }
    if (w >= upper) {
      w <- upper
      if (g(w) < 0) return(upper)
      break
    }
    if (g(w) > 0) break
    prev <- w
    step <- step * 1.6
  }
  r <- stats::uniroot(g, sort(c(prev, w)), tol = 1e-10 * max(abs(est), scale, 1e-8))
  r$root
}

profile_intervals <- function(fit, parm, level) {
  ml <- ml_refit(fit)
  n <- length(fit$y)
  cutoff <- sqrt(stats::qchisq(level, 1))
  vnames <- varpar_names(fit)
  start <- theta_to_sdcor(fit, ml$theta, ml$sigma)
  names(start) <- vnames
  base <- ml_dev(ml$ptr, ml$theta, ml$sigma, n)
  iscor <- is_cor_param(fit)
  out <- matrix(NA_real_, 0, 2)
  rn <- character(0)
  for (k in seq_along(vnames)) {
    if (!(vnames[k] %in% parm)) next
    est <- start[[k]]
    fdev <- function(w) profile_varpar_dev(fit, ml, k, w, start)$value
    if (iscor[k]) {
      lo <- profile_side(fdev, est, base, cutoff, -1, 0.05, -1, 1)
      hi <- profile_side(fdev, est, base, cutoff, 1, 0.05, -1, 1)
    } else {
      sc <- max(abs(est) * 0.1, 1e-3 * ml$sigma)
      lo <- profile_side(fdev, est, base, cutoff, -1, sc, 0, Inf)
      hi <- profile_side(fdev, est, base, cutoff, 1, sc, 0, Inf)
    }
    out <- rbind(out, c(lo, hi))
    rn <- c(rn, vnames[k])
  }
  if (any(names(fit$beta) %in% parm)) {
    ptr <- model_ptr(fit)
    sol <- .model_solution(ml$ptr, ml$theta, FALSE)
    se_ml <- ml$sigma * sqrt(diag(chol2inv(t(sol$RX))))
    invisible(.model_solution(ptr, as.numeric(fit$theta), isTRUE(fit$REML)))
    for (j in seq_along(fit$beta)) {
      if (!(names(fit$beta)[j] %in% parm)) next
      est <- ml$beta[[j]]
      fdev_b <- function(b) profile_fixef_dev(fit, ml, j, b)
      lo <- profile_side(fdev_b, est, ml$dev, cutoff, -1, se_ml[j])
      hi <- profile_side(fdev_b, est, ml$dev, cutoff, 1, se_ml[j])
      out <- rbind(out, c(lo, hi))
      rn <- c(rn, names(fit$beta)[j])
    }
  }
  rownames(out) <- rn
  out
}

# y* = X beta + Z b* + e*, b* from the fitted covariance, e* ~ N(0, sigma^2 / w).
simulate_response <- function(fit, theta = fit$theta, sigma = fit$sigma, beta = fit$beta) {
  terms <- fit$reterms$terms
  b <- lapply(terms, function(t) draw_term_effects(fit, t, theta, sigma))
  fit$beta <- beta
  eta <- linear_predictor(fit, fit$X, fit$offset, lapply(terms, function(t) t$factor),
                          lapply(terms, function(t) t$X), b)
  eta + stats::rnorm(length(fit$y), 0, sigma) / sqrt(fit$weights)
}

# Parameters of a refit to response y: (sd/cor..., sigma, beta).
refit_params <- function(fit, y) {
  fr <- fit$model_env$frame
  fr$y <- y
  f <- lmm_devfun(fr, REML = isTRUE(fit$REML))
  opt <- suppressWarnings(lmm_optimize(f))
  sol <- .model_solution(environment(f)$ptr, opt$par, isTRUE(fit$REML))
  n <- length(y)
  p <- ncol(fr$X)
  sigma <- sqrt(sol$pwrss / (n - if (isTRUE(fit$REML)) p else 0))
  c(theta_to_sdcor(fit, opt$par, sigma), as.numeric(sol$beta))
}

boot_intervals <- function(fit, parm, level, nsim) {
  nms <- c(varpar_names(fit), names(fit$beta))
  one <- function(i) {
    y <- simulate_response(fit)
    tryCatch(refit_params(fit, y), error = function(e) rep(NA_real_, length(nms)))
  }
  idx <- seq_len(nsim)
  has_future <- requireNamespace("future.apply", quietly = TRUE)
  has_prog <- requireNamespace("progressr", quietly = TRUE)
  if (has_prog) {
    res <- progressr::with_progress({
      pr <- progressr::progressor(steps = nsim)
      run <- function(i) { r <- one(i); pr(); r }
      if (has_future) future.apply::future_lapply(idx, run, future.seed = TRUE,
                                                  future.packages = "lemma")
      else lapply(idx, run)
    }, enable = interactive())
  } else if (has_future) {
    res <- future.apply::future_lapply(idx, one, future.seed = TRUE, future.packages = "lemma")
  } else {
    res <- lapply(idx, one)
  }
  M <- do.call(rbind, res)
  colnames(M) <- nms
  a <- (1 - level) / 2
  out <- t(apply(M[, parm, drop = FALSE], 2, stats::quantile, probs = c(a, 1 - a), na.rm = TRUE, names = FALSE))
  attr(out, "boot") <- M
  out
}

#' Confidence intervals for a linear mixed model
#'
#' Profile intervals (default) for the variance components, as standard
#' deviations and correlations (rows `.sig01`, `.sig02`, ..., `.sigma` in lme4's
#' order), and for the fixed effects, by profiling the ML deviance as lme4's
#' `confint(method = "profile")` does; Wald intervals for the fixed effects (the
#' variance rows are NA); or parametric bootstrap percentile intervals from
#' `nsim` simulated responses refitted by the model's criterion. Bootstrap
#' replicates run through `future.apply`, so `future::plan()` decides where they
#' run, and are reproducible under `set.seed()`; progress is reported through
#' `progressr` when it is installed.
#'
#' @param object an `lmm` fit.
#' @param parm parameters (names or indices into the rows); default all.
#' @param level confidence level.
#' @param method `"profile"`, `"Wald"` or `"boot"`.
#' @param nsim number of bootstrap replicates.
#' @param ... unused.
#' @return A matrix with two columns named by the percentages.
#' @examples
#' fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
#' confint(fit, method = "Wald")
#' \donttest{confint(fit)}
#' @export
confint.lemma_fit <- function(object, parm, level = 0.95, method = c("profile", "Wald", "boot"), nsim = 500, ...) {
  method <- match.arg(method)
  all_names <- c(varpar_names(object), names(object$beta))
  if (missing(parm)) parm <- all_names
  else if (is.numeric(parm)) parm <- all_names[parm]
  bad <- setdiff(parm, all_names)
  if (length(bad)) stop("unknown parameter(s): ", paste(bad, collapse = ", "), call. = FALSE)
  a <- (1 - level) / 2
  pct <- paste(format(100 * c(a, 1 - a), trim = TRUE, scientific = FALSE, digits = 3), "%")
  out <- switch(method,
    profile = profile_intervals(object, parm, level),
    Wald = {
      se <- object$sigma * sqrt(diag(chol2inv(t(object$RX))))
      z <- stats::qnorm(1 - a)
      m <- matrix(NA_real_, length(all_names), 2, dimnames = list(all_names, NULL))
      b <- object$beta
      m[names(b), ] <- cbind(b - z * se, b + z * se)
      m
    },
    boot = boot_intervals(object, parm, level, nsim))
  out <- out[parm, , drop = FALSE]
  colnames(out) <- pct
  out
}
