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
    # scalar and 2 x 2 terms in closed form (the profile calls this at each evaluation)
    if (p == 1L) {
      k <- k + 1L
      theta <- c(theta, v[k] / sigma)
      next
    }
    if (p == 2L) {
      s2 <- v[k + 3L] / sigma
      r <- v[k + 2L]
      theta <- c(theta, v[k + 1L] / sigma, r * s2, s2 * sqrt(max(0, 1 - r^2)))
      k <- k + 3L
      next
    }
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

# Which of the sd/cor/sigma parameters are correlations.
is_cor_param <- function(fit) {
  out <- logical(0)
  for (tm in fit$reterms$terms) {
    p <- length(tm$cnms)
    for (j in seq_len(p)) for (i in j:p) out <- c(out, i != j)
  }
  c(out, FALSE)
}

# The statistics lme4's confint(method = "boot") bootstraps by default: sd/cor of
# each term and sigma (named as the profile's rows), then the fixed effects.
boot_default_stat <- function(fit) {
  stats::setNames(c(theta_to_sdcor(fit, fit$theta, fit$sigma), fit$beta),
                  c(varpar_names(fit), names(fit$beta)))
}

# Parametric bootstrap as lme4's bootMer(): all responses are simulated first from
# the fit (so set.seed() or `seed` alone decides them, whatever future::plan() is),
# then refitted by the refit loop of R/boot-refit.R (one model per chunk, only the
# response swapped) and summarized by FUN. The chunks, one per future worker, run
# through future.apply; a failed refit gives NA statistics and is counted in a
# warning, as are refits whose convergence checks failed (their statistics are
# kept, as refit() keeps a fit that warns).
# Returns the nsim x length(t0) matrix of replicates with attributes t0 and
# nonconverged (the indices of the replicates that did not converge).
boot_replicates <- function(fit, FUN, nsim, seed) {
  if (!is.null(seed)) set.seed(seed)
  else if (!exists(".Random.seed", envir = globalenv())) stats::runif(1)  # a fresh session has no RNG state yet
  t0 <- FUN(fit)
  if (!is.numeric(t0) || !is.null(dim(t0)))
    stop("confint(): 'FUN' must return a numeric vector (it returned a ", class(t0)[1], ")", call. = FALSE)
  # over the fit's observations (simulate() pads rows na.exclude dropped)
  sims <- lapply(simulate(fit, nsim = nsim), as_new_response, object = fit)
  default <- identical(FUN, boot_default_stat)
  width <- length(t0)
  nchunk <- min(nsim, max(1L, as.integer(future::nbrOfWorkers())))
  chunks <- split(seq_len(nsim), rep_len(seq_len(nchunk), nsim))
  run <- function(tick) {
    f <- function(idx) boot_chunk(fit, FUN, default, idx, sims, width, tick)
    future.apply::future_lapply(chunks, f, future.seed = FALSE, future.packages = "lemma")
  }
  # progress only where it is shown: each signal costs about as much as a refit
  res <- if (interactive() && requireNamespace("progressr", quietly = TRUE)) {
    progressr::with_progress({
      pr <- progressr::progressor(steps = nsim)
      run(function(n) pr(amount = n))
    })
  } else run(function(n) NULL)
  M <- matrix(NA_real_, nsim, width, dimnames = list(NULL, names(t0)))
  conv <- logical(nsim)
  for (k in seq_along(chunks)) {
    M[chunks[[k]], ] <- matrix(unlist(res[[k]]), ncol = width, byrow = TRUE)
    conv[chunks[[k]]] <- attr(res[[k]], "converged")
  }
  ok <- stats::complete.cases(M)
  failed <- sum(!ok)
  if (failed == nsim) stop("confint(): all ", nsim, " bootstrap refits failed", call. = FALSE)
  if (failed > 0)
    warning(sprintf("confint(): %d of %d bootstrap refits failed; the intervals use the other %d",
                    failed, nsim, nsim - failed), call. = FALSE)
  nonconv <- which(ok & !conv)
  if (length(nonconv))
    warning(sprintf("confint(): %d of %d bootstrap refits did not pass the convergence checks (their estimates are kept; indices in attr(, \"nonconverged\") of the replicates)",
                    length(nonconv), nsim), call. = FALSE)
  attr(M, "t0") <- t0
  attr(M, "nonconverged") <- nonconv
  M
}

# Davison & Hinkley's order-statistic quantile with interpolation on the normal
# scale (boot's convention for percentile and basic intervals).
boot_order_quantile <- function(t, alpha) {
  t <- sort(t)
  R <- length(t)
  vapply(alpha, function(a) {
    rk <- (R + 1) * a
    k <- floor(rk)
    if (k == rk && k >= 1 && k <= R) return(t[k])
    if (k < 1 || k >= R) return(if (k < 1) t[1] else t[R])
    zk <- stats::qnorm(c(k, k + 1) / (R + 1))
    t[k] + (stats::qnorm(a) - zk[1]) / (zk[2] - zk[1]) * (t[k + 1] - t[k])
  }, numeric(1))
}

# Bootstrap intervals of one statistic: percentile, basic or normal.
boot_interval <- function(t, t0, level, type) {
  t <- t[is.finite(t)]
  a <- (1 - level) / 2
  switch(type,
    perc = boot_order_quantile(t, c(a, 1 - a)),
    basic = 2 * t0 - rev(boot_order_quantile(t, c(a, 1 - a))),
    norm = (2 * t0 - mean(t)) + c(-1, 1) * stats::qnorm(1 - a) * stats::sd(t))
}

#' Confidence intervals for a linear mixed model
#'
#' Profile intervals (default) for the variance components, as standard
#' deviations and correlations (rows `.sig01`, `.sig02`, ..., `.sigma` in lme4's
#' order), and for the fixed effects, from [profile()] of the ML deviance as lme4's
#' `confint(method = "profile")`: the same as `confint(profile(fit))`. Wald
#' intervals for the fixed effects (the variance rows are NA), with normal quantiles
#' as lme4 by default or t quantiles with small-sample df (`ddf`). Parametric bootstrap
#' intervals as lme4's `bootMer()`: `nsim` responses simulated from the fit, each
#' refitted as [refit()] does (one copy of the model serves all refits; only its
#' response changes) and summarized by `FUN` (the default statistics are read from
#' the refit without building a fitted-model object); the refits run in chunks, one
#' per worker, through `future.apply`, so `future::plan()` decides where they run,
#' and the result is the same under any plan for the same `seed` (or `set.seed()`
#' before the call); progress is reported through `progressr` when it is installed.
#' Refits whose convergence checks fail keep their estimates; one warning counts them.
#'
#' @param object a fitted model from [lmm()].
#' @param parm parameters (names or indices into the rows, or `"theta_"` for all
#'   variance parameters, `"beta_"` for all fixed effects); default all.
#' @param level confidence level.
#' @param method `"profile"`, `"Wald"` or `"boot"`.
#' @param zeta for `"profile"`: optional zeta values to invert instead of `level`'s
#'   normal quantiles.
#' @param nsim number of bootstrap replicates.
#' @param boot.type bootstrap interval: `"perc"` (percentile), `"basic"` or
#'   `"norm"` (normal with bootstrap bias and standard error), with the quantile
#'   convention of package boot, as lme4.
#' @param FUN for `"boot"`: a function of a fit returning a numeric vector, the
#'   statistics to bootstrap; default the sd/cor parameters, sigma and the fixed
#'   effects (the rows of the profile intervals).
#' @param seed for `"boot"`: optional seed, passed to [set.seed()] before simulating.
#' @param quiet unused (lemma prints no progress message; for lme4's signature).
#' @param oldNames only `TRUE` (lme4's `.sig01` names) is supported.
#' @param ddf for `"Wald"`: `"lme4"` (default: normal quantiles, the numbers of
#'   lme4's `confint(method = "Wald")`), `"Satterthwaite"` or `"Kenward-Roger"`
#'   (t quantiles with the df and standard errors of [fixef_table()] for the same
#'   `ddf`, so the interval excludes 0 exactly when the t test's p-value is below
#'   `1 - level`). With few subjects the z interval is too narrow. The default
#'   stays lme4's so that code moved from `lmer` gives lme4's numbers.
#' @param ... for `"profile"`: `alphamax`, `maxpts`, `delta`, `delta.cutoff` of
#'   [profile.lemma_fit()]; otherwise unused.
#' @return A matrix with two columns named by the percentages. A bootstrap result
#'   (class `"lemma_boot_ci"`, a matrix that prints without its replicates) carries
#'   the replicates (an `nsim` x statistics matrix, with attributes `t0`, the
#'   statistics of the fit, and `nonconverged`, the indices of the replicates whose
#'   refit failed the convergence checks) as attribute `"boot"`.
#' @examples
#' fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
#' confint(fit, method = "Wald")
#' confint(fit, method = "Wald", ddf = "Satterthwaite")
#' \donttest{confint(fit)
#' ci <- confint(fit, method = "boot", nsim = 40, seed = 1)
#' dim(attr(ci, "boot"))}
#' @importFrom stats confint
#' @export
confint.lemma_fit <- function(object, parm, level = 0.95, method = c("profile", "Wald", "boot"), zeta,
                              nsim = 500, boot.type = c("perc", "basic", "norm"), FUN = NULL, seed = NULL,
                              quiet = FALSE, oldNames = TRUE, ddf = c("lme4", "Satterthwaite", "Kenward-Roger"), ...) {
  method <- check_choice(method[1], c("profile", "Wald", "boot"), "method", "confint")
  # arguments of another method than the one chosen would be ignored: name them
  unused <- c(if (method != "boot") c(if (!is.null(FUN)) "FUN", if (!is.null(seed)) "seed",
                                      if (!missing(nsim)) "nsim", if (!missing(boot.type)) "boot.type"),
              if (method != "profile" && !missing(zeta)) "zeta",
              if (method != "Wald" && !missing(ddf)) "ddf")
  if (length(unused))
    warning(sprintf("confint(): %s not used by method = \"%s\" and ignored",
                    paste0("'", unused, "'", collapse = ", "), method), call. = FALSE)
  boot.type <- check_choice(boot.type[1], c("perc", "basic", "norm"), "boot.type", "confint")
  ddf <- check_choice(ddf[1], c("lme4", "Satterthwaite", "Kenward-Roger"), "ddf", "confint")
  check_level(level, "confint")
  if (!isTRUE(oldNames))
    stop("confint(): 'oldNames = FALSE' is not supported by lemma; rows are named .sig01, ..., .sigma", call. = FALSE)
  dots <- list(...)
  if (method != "profile") check_dots_unused(dots, "confint")
  if (method == "boot" && !is.null(FUN)) {
    FUN <- match.fun(FUN)
  } else {
    FUN <- boot_default_stat
  }
  unnamed <- FALSE
  all_names <- if (method == "boot") {
    t0 <- FUN(object)
    unnamed <- is.null(names(t0))
    if (unnamed) as.character(seq_along(t0)) else names(t0)
  } else c(varpar_names(object), names(object$beta))
  if (missing(parm)) parm <- all_names
  else if (method == "boot") {
    if (is.numeric(parm)) parm <- all_names[parm]
    bad <- setdiff(parm, all_names)
    if (length(bad) || anyNA(parm))
      stop("confint(): unknown parameter(s) in 'parm': ", paste(bad, collapse = ", "), call. = FALSE)
  } else {
    parm <- expand_parm(parm, varpar_names(object), names(object$beta), "confint", "parm")
  }
  a <- (1 - level) / 2
  pct <- paste(format(100 * c(a, 1 - a), trim = TRUE, scientific = FALSE, digits = 3), "%")
  switch(method,
    profile = {
      # the profile must reach the quantiles of `level`; lme4's default alphamax
      # (0.01) does up to level 0.96 with its df
      args <- c(list(object, which = parm), dots)
      if (is.null(args$alphamax)) args$alphamax <- min(0.01, (1 - level) / 4)
      pr <- do.call(profile.lemma_fit, args)
      if (missing(zeta)) confint(pr, parm = parm, level = level) else confint(pr, parm = parm, zeta = zeta)
    },
    Wald = {
      tab <- fixef_table(object, if (ddf == "lme4") "none" else ddf)
      se <- tab[, "Std. Error"]
      q <- if (ddf == "lme4") stats::qnorm(1 - a) else stats::qt(1 - a, tab[, "df"])
      m <- matrix(NA_real_, length(all_names), 2, dimnames = list(all_names, pct))
      b <- object$beta
      m[names(b), ] <- cbind(b - q * se, b + q * se)
      m[parm, , drop = FALSE]
    },
    boot = {
      check_number(nsim, "nsim", "confint", lower = 1, integer = TRUE)
      M <- boot_replicates(object, FUN, nsim, seed)
      t0 <- attr(M, "t0")
      if (boot.type != "norm" && (nsim + 1) * a < 1)
        warning(sprintf("confint(): with nsim = %d the %s interval's ends are the extreme replicates; use nsim >= %d",
                        nsim, boot.type, ceiling(1 / a - 1)), call. = FALSE)
      idx <- match(parm, all_names)
      out <- t(vapply(idx, function(k) boot_interval(M[, k], t0[[k]], level, boot.type), numeric(2)))
      dimnames(out) <- list(if (unnamed) NULL else parm, pct)
      attr(out, "boot") <- M
      class(out) <- c("lemma_boot_ci", "matrix", "array")
      out
    })
}

# A bootstrap interval matrix prints as a matrix, without its replicates.
#' @export
print.lemma_boot_ci <- function(x, ...) {
  m <- unclass(x)
  attr(m, "boot") <- NULL
  print(m, ...)
  cat(sprintf("(%d bootstrap replicates in attr(, \"boot\"))\n", nrow(attr(x, "boot"))))
  invisible(x)
}
