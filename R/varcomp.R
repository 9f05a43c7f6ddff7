# Variance components, their shares of the total variance, and intraclass
# correlations, with parametric-bootstrap intervals.
#
# A share or an ICC is a ratio of several variance parameters. Its profile would
# need a constrained refit per point of a reparametrized model; the parametric
# bootstrap of confint(method = "boot") gives an interval for any function of the
# parameters from one set of refits, respects the bounds (a variance of 0, a share
# of 0 or 1) and, with percentile limits, does not depend on the scale (sd or
# variance) the interval is computed on.

# The variance-component structure lemma's shares and ICCs are defined for: every
# random term a random intercept `(1 | g)` and unit prior weights. Returns the
# term grouping names.
varcomp_terms <- function(fit, fn) {
  check_fit(fit, fn)
  terms <- fit$reterms$terms
  if (length(terms) == 0L)
    stop(sprintf("%s(): the model has no random effects", fn), call. = FALSE)
  bad <- vapply(terms, function(t) !identical(t$cnms, "(Intercept)"), logical(1))
  if (any(bad))
    stop(sprintf("%s(): shares of the total variance are defined for random intercepts (1 | g) only; the term(s) on %s have %s",
                 fn, paste0("'", vapply(terms[bad], `[[`, "", "group"), "'", collapse = ", "),
                 paste(unique(unlist(lapply(terms[bad], `[[`, "cnms"))), collapse = ", ")), call. = FALSE)
  if (!is.null(fit$weights) && any(fit$weights != 1))
    stop(sprintf("%s(): with prior weights the residual variance differs between observations, so the shares are not defined", fn),
         call. = FALSE)
  if (length(fit$relmat))
    stop(sprintf("%s(): terms with a relationship matrix are not supported (the variance of a level depends on the matrix)", fn),
         call. = FALSE)
  vapply(terms, `[[`, "", "group")
}

# Bootstrap replicates of the sd parameters (.sig01, ..., .sigma): those kept by a
# previous confint(method = "boot") when `boot` is given, else new ones from the
# same engine.
varcomp_replicates <- function(fit, boot, nsim, seed, nsim_given, seed_given, fn) {
  sdnames <- varpar_names(fit)
  if (is.null(boot)) {
    check_number(nsim, "nsim", fn, lower = 1, integer = TRUE)
    M <- boot_replicates(fit, boot_default_stat, nsim, seed)
    return(M[, sdnames, drop = FALSE])
  }
  if (nsim_given || seed_given)
    warning(sprintf("%s(): %s ignored: the replicates come from 'boot'", fn,
                    paste0("'", c(if (nsim_given) "nsim", if (seed_given) "seed"), "'", collapse = ", ")),
            call. = FALSE)
  M <- if (inherits(boot, "lemma_boot_ci")) attr(boot, "boot") else boot
  if (!is.matrix(M) || !all(sdnames %in% colnames(M)))
    stop(sprintf("%s(): 'boot' must be the result of confint(fit, method = \"boot\") with the default FUN (columns %s)",
                 fn, paste(sdnames, collapse = ", ")), call. = FALSE)
  t0 <- attr(M, "t0")
  if (!is.null(t0) && max(abs(t0[sdnames] - theta_to_sdcor(fit, fit$theta, fit$sigma))) >
      1e-6 * max(1, abs(t0[sdnames])))
    stop(sprintf("%s(): 'boot' was computed from another fit (its estimates differ from those of 'fit')", fn),
         call. = FALSE)
  M[stats::complete.cases(M[, sdnames, drop = FALSE]), sdnames, drop = FALSE]
}

# Percentile interval of each column of R (replicates) at `level`.
perc_limits <- function(R, level, fn) {
  a <- (1 - level) / 2
  if ((nrow(R) + 1) * a < 1)
    warning(sprintf("%s(): with %d replicates the interval's ends are the extreme replicates; use nsim >= %d",
                    fn, nrow(R), ceiling(1 / a - 1)), call. = FALSE)
  t(apply(R, 2, function(t) boot_interval(t, NA_real_, level, "perc")))
}

#' Variance components and their shares of the total variance
#'
#' One row per variance component of a random-intercept model (each `(1 | g)`
#' term, then the residual): its variance, standard deviation and share of the
#' total variance (the sum of all components, the variance of one observation
#' about its fixed-effect mean), with percentile intervals from a parametric
#' bootstrap, as lme4's `bootMer()`: `nsim` responses simulated from the fit and
#' refitted (through [confint.lemma_fit()]'s engine, so `future::plan()` decides
#' where the refits run). A share is a ratio of several parameters, which the
#' bootstrap handles without a profile of its own and within its bounds 0 and 1.
#' The replicates of an earlier `confint(fit, method = "boot")` can be reused
#' through `boot`, so that one set of refits serves `confint()`, `varcomp()` and
#' [icc()].
#'
#' @param fit a model from [lmm()] whose random terms are all random intercepts.
#' @param level confidence level of the intervals.
#' @param nsim number of bootstrap replicates (ignored with `boot`).
#' @param seed optional seed for [set.seed()] before simulating.
#' @param boot optional result of `confint(fit, method = "boot")` (default `FUN`)
#'   whose replicates are used instead of new ones.
#' @param ... unused.
#' @return A data frame (class `"lemma_varcomp"`) with columns `grp`,
#'   `variance`, `sd`, `share` and the interval limits `variance.lower`,
#'   `variance.upper`, `sd.lower`, `sd.upper`, `share.lower`, `share.upper`;
#'   attribute `"boot"` holds the replicates of the variances (`nsim` x
#'   components). [plot()] draws the shares with their intervals.
#' @seealso [icc()] for intraclass correlations.
#' @examples
#' fit <- lmm(strength ~ 1 + (1 | batch / cask), Pastes)
#' vc <- varcomp(fit, nsim = 100, seed = 1)
#' vc
#' plot(vc)
#' @export
varcomp <- function(fit, level = 0.95, nsim = 1000, seed = NULL, boot = NULL, ...) {
  grp <- varcomp_terms(fit, "varcomp")
  check_level(level, "varcomp")
  check_dots_unused(list(...), "varcomp")
  R <- varcomp_replicates(fit, boot, nsim, seed, !missing(nsim), !missing(seed), "varcomp")^2
  grp <- c(grp, "Residual")
  colnames(R) <- grp
  est <- theta_to_sdcor(fit, fit$theta, fit$sigma)^2
  share_R <- R / rowSums(R)
  ci_v <- perc_limits(R, level, "varcomp")
  ci_s <- suppressWarnings(perc_limits(share_R, level, "varcomp"))
  out <- data.frame(grp = grp, variance = est, sd = sqrt(est), share = est / sum(est),
                    variance.lower = ci_v[, 1], variance.upper = ci_v[, 2],
                    sd.lower = sqrt(ci_v[, 1]), sd.upper = sqrt(ci_v[, 2]),
                    share.lower = ci_s[, 1], share.upper = ci_s[, 2], stringsAsFactors = FALSE)
  rownames(out) <- NULL
  attr(out, "boot") <- R
  attr(out, "level") <- level
  class(out) <- c("lemma_varcomp", "data.frame")
  out
}

#' Intraclass correlations
#'
#' For each grouping factor `g` of a random-intercept model, the intraclass
#' correlation: the correlation of two observations that share the level of `g`
#' (and so the level of every factor that `g` is nested in) and no other level.
#' It is the sum of the variances of `g` and of the factors containing it, divided
#' by the total variance: in `(1 | batch / cask)` the ICC of `cask:batch` is
#' (batch + cask) / total, that of `batch` is batch / total. Nesting is read from
#' the data (each level of `g` occurs within one level of the other factor).
#' Intervals are bootstrap percentiles as in [varcomp()].
#'
#' @inheritParams varcomp
#' @return A data frame (class `"lemma_icc"`) with columns `grp`, `icc`,
#'   `lower`, `upper`; attribute `"boot"` holds the replicates (`nsim` x factors).
#'   [plot()] draws the ICCs with their intervals.
#' @examples
#' fit <- lmm(strength ~ 1 + (1 | batch / cask), Pastes)
#' ic <- icc(fit, nsim = 100, seed = 1)
#' ic
#' plot(ic)
#' @export
icc <- function(fit, level = 0.95, nsim = 1000, seed = NULL, boot = NULL, ...) {
  grp <- varcomp_terms(fit, "icc")
  check_level(level, "icc")
  check_dots_unused(list(...), "icc")
  R <- varcomp_replicates(fit, boot, nsim, seed, !missing(nsim), !missing(seed), "icc")^2
  est <- theta_to_sdcor(fit, fit$theta, fit$sigma)^2
  # A[g, f] = 1 when factor f is g itself or contains g (g nested in f)
  f <- lapply(fit$reterms$terms, `[[`, "factor")
  A <- outer(seq_along(f), seq_along(f), Vectorize(function(i, j) i == j || is_nested_in(f[[i]], f[[j]])))
  k <- length(grp)
  num <- function(v) drop(A %*% v[seq_len(k)])
  R_icc <- t(apply(R, 1, function(v) num(v) / sum(v)))
  if (k == 1L) R_icc <- t(R_icc)
  ci <- perc_limits(R_icc, level, "icc")
  out <- data.frame(grp = grp, icc = num(est) / sum(est), lower = ci[, 1], upper = ci[, 2],
                    stringsAsFactors = FALSE)
  rownames(out) <- NULL
  colnames(R_icc) <- grp
  attr(out, "boot") <- R_icc
  attr(out, "level") <- level
  class(out) <- c("lemma_icc", "data.frame")
  out
}

# TRUE when every level of factor a occurs with a single level of factor b.
is_nested_in <- function(a, b) {
  ok <- !is.na(a) & !is.na(b)
  all(tapply(as.integer(b[ok]), droplevels(a[ok]), function(x) length(unique(x)) == 1L))
}

#' Plot variance shares or intraclass correlations with their intervals
#'
#' One horizontal line per component (or grouping factor): the bootstrap interval,
#' with a point at the estimate, on the scale 0 to 1.
#'
#' @param x the result of [varcomp()] or [icc()].
#' @param main,xlab title and axis label.
#' @param ... further graphical parameters passed to [graphics::plot()].
#' @return `x`, invisibly.
#' @examples
#' fit <- lmm(strength ~ 1 + (1 | batch / cask), Pastes)
#' plot(varcomp(fit, nsim = 100, seed = 1))
#' plot(icc(fit, nsim = 100, seed = 1))
#' @export
plot.lemma_varcomp <- function(x, main = "Shares of the total variance", xlab = "share", ...) {
  interval_chart(x$share, x$share.lower, x$share.upper, x$grp, attr(x, "level"), main, xlab, ...)
  invisible(x)
}

#' @rdname plot.lemma_varcomp
#' @export
plot.lemma_icc <- function(x, main = "Intraclass correlations", xlab = "ICC", ...) {
  interval_chart(x$icc, x$lower, x$upper, x$grp, attr(x, "level"), main, xlab, ...)
  invisible(x)
}

# Estimates with intervals on [0, 1], one row each, first row at the top.
interval_chart <- function(est, lower, upper, labels, level, main, xlab, ...) {
  n <- length(est)
  y <- rev(seq_len(n))
  op <- graphics::par(mar = c(4.5, max(4, 0.6 * max(nchar(labels))) + 1, 3, 1))
  on.exit(graphics::par(op))
  graphics::plot(est, y, xlim = c(0, 1), ylim = c(0.5, n + 0.5), yaxt = "n", pch = 19, ylab = "",
                 xlab = sprintf("%s (%g%% bootstrap interval)", xlab, 100 * level), main = main, ...)
  graphics::segments(lower, y, upper, y, lwd = 2)
  graphics::axis(2, at = y, labels = labels, las = 1)
  graphics::abline(v = c(0, 1), col = "grey70", lty = 3)
}
