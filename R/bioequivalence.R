# Average bioequivalence: the geometric mean ratio of test to reference from a
# model of log-scale responses, its t interval and the decision.

#' Geometric mean ratio and average bioequivalence
#'
#' For a model of a log-transformed response (for example
#' `lmm(log(PK) ~ sequence + period + treatment + (1 | subject), data)`, the EMA's
#' "Method B" for replicate designs), the geometric mean ratio of test to reference,
#' `exp(l' beta)`, with its `level` confidence interval from a t distribution with
#' Satterthwaite's or Kenward-Roger's df (the same contrast, standard error and df
#' as [contest()]), and the average-bioequivalence decision: bioequivalent when the
#' whole interval lies within `limits` (the two one-sided tests at
#' `(1 - level) / 2` each). The response must be on the natural-log scale; `gmr()`
#' cannot check that when the log was taken before the fit.
#'
#' @param fit a model from [lmm()] of a natural-log response.
#' @param term the contrast of test against reference: the name of a coefficient
#'   (such as `"treatmentT"`), the name of a two-level factor of the fixed part (its
#'   one coefficient), or a numeric vector of `length(fixef(fit))` contrast weights.
#' @param level confidence level (0.90 for the conventional 90\% interval).
#' @param limits the acceptance range for the ratio (lower, upper).
#' @param ddf `"Satterthwaite"` or `"Kenward-Roger"`.
#' @return A data frame (class `"lemma_gmr"`) with one row: `term`, `estimate` (log scale),
#'   `std.error`, `df`, `ratio` (the geometric mean ratio), `lower`, `upper` (its
#'   interval, as ratios; multiply by 100 for percent), `limit.lower`,
#'   `limit.upper`, and `bioequivalent` (`TRUE` when `limit.lower <= lower` and
#'   `upper <= limit.upper`). Results of several studies can be combined with
#'   [rbind()] (row names label them) and drawn by [plot()].
#' @examples
#' fit <- lmm(log(PK) ~ sequence + period + treatment + (1 | subject), rds02)
#' be <- gmr(fit, "treatment")
#' be
#' round(100 * be[c("ratio", "lower", "upper")], 2)   # published: 102.26, 97.32-107.46
#' plot(be)
#' @export
gmr <- function(fit, term, level = 0.90, limits = c(0.80, 1.25), ddf = c("Satterthwaite", "Kenward-Roger")) {
  check_fit(fit, "gmr")
  check_level(level, "gmr")
  check_range(limits, "limits", "gmr", lower = 0, contains = 1)
  ddf <- match_ddf(ddf, none = FALSE, fn = "gmr")
  check_ddf_fit(fit, ddf)
  l <- gmr_contrast(fit, term)
  ct <- contest_1d(fit, l, ddf, 0, confint = TRUE, level = level)
  out <- data.frame(term = attr(l, "label"), estimate = ct$Estimate, std.error = ct$`Std. Error`, df = ct$df,
                    ratio = exp(ct$Estimate), lower = exp(ct$lower), upper = exp(ct$upper),
                    limit.lower = limits[1], limit.upper = limits[2],
                    bioequivalent = limits[1] <= exp(ct$lower) && exp(ct$upper) <= limits[2],
                    stringsAsFactors = FALSE)
  attr(out, "level") <- level
  class(out) <- c("lemma_gmr", "data.frame")
  out
}

# A coefficient of a two-level factor is the log ratio only under 0/1 (treatment)
# coding; under sum or Helmert coding it is a half-difference, a plausible wrong
# ratio, so other codings are an error.
check_dummy_coding <- function(fit, label, j) {
  f <- fit$frame[[label]]
  if (!is.factor(f) && !is.character(f)) return(invisible())
  f <- factor(f)
  if (nlevels(f) != 2L) return(invisible())
  v <- tapply(fit$X[, j], f, function(x) x[1])
  if (!all(sort(unname(v)) == c(0, 1)))
    stop(sprintf("gmr(): coefficient '%s' of factor '%s' is coded %s, not 0/1 (treatment contrasts), so it is not the log ratio; refit with treatment contrasts or give a numeric contrast",
                 colnames(fit$X)[j], label, paste(format(v, trim = TRUE), collapse = "/")), call. = FALSE)
  invisible()
}

# The contrast vector of `term` over the fixed effects, labelled.
gmr_contrast <- function(fit, term) {
  nm <- names(fit$beta)
  p <- length(nm)
  if (is.numeric(term)) {
    if (length(term) != p || anyNA(term) || any(!is.finite(term)) || all(term == 0))
      stop(sprintf("gmr(): a numeric 'term' must be %d finite contrast weights, not all 0 (one per coefficient: %s)",
                   p, paste(nm, collapse = ", ")), call. = FALSE)
    return(structure(as.numeric(term), label = "contrast"))
  }
  if (!is.character(term) || length(term) != 1L || is.na(term))
    stop("gmr(): 'term' must be a coefficient name, a factor name or a numeric contrast", call. = FALSE)
  assign <- attr(fit$X, "assign")
  labels <- attr(fit$fixed_terms, "term.labels")
  if (term %in% nm) {
    j <- match(term, nm)
    if (!is.null(assign) && assign[j] > 0L) check_dummy_coding(fit, labels[assign[j]], j)
    return(structure(as.numeric(nm == term), label = term))
  }
  k <- match(term, labels)
  if (!is.na(k) && !is.null(assign)) {
    cols <- which(assign == k)
    if (length(cols) == 1L) {
      check_dummy_coding(fit, term, cols)
      return(structure(as.numeric(seq_len(p) == cols), label = nm[cols]))
    }
    stop(sprintf("gmr(): '%s' has %d coefficients (%s); name the one of test against reference",
                 term, length(cols), paste(nm[cols], collapse = ", ")), call. = FALSE)
  }
  stop(sprintf("gmr(): 'term' = \"%s\" is neither a coefficient (%s) nor a term of the fixed part",
               term, paste(nm, collapse = ", ")), call. = FALSE)
}

#' Plot geometric mean ratios against the acceptance range
#'
#' One horizontal line per row of [gmr()] results (a study or a model): the
#' confidence interval of the ratio with a point at the estimate, on a log axis
#' labelled in percent, with the acceptance limits of the first row (dashed,
#' labelled above the plot) and
#' 100\% (dotted). Rows are labelled by their row names, or by `term`.
#'
#' @param x the result of [gmr()], or several combined with [rbind()].
#' @param main title.
#' @param ... further graphical parameters passed to [graphics::plot()].
#' @return `x`, invisibly.
#' @examples
#' f <- log(PK) ~ sequence + period + treatment + (1 | subject)
#' be <- rbind(`rds01 (TRTR|RTRT)` = gmr(lmm(f, rds01), "treatment"),
#'             `rds02 (TRR|RTR|RRT)` = gmr(lmm(f, rds02), "treatment"))
#' plot(be)
#' @export
plot.lemma_gmr <- function(x, main = "Ratio test / reference", ...) {
  n <- nrow(x)
  labels <- if (is.null(rownames(x)) || identical(rownames(x), as.character(seq_len(n)))) x$term else rownames(x)
  lim <- c(x$limit.lower[1], x$limit.upper[1])
  y <- rev(seq_len(n))
  rng <- range(c(x$lower, x$upper, lim))
  xl <- exp(log(rng) + c(-0.05, 0.05) * diff(log(rng)))
  op <- graphics::par(mar = c(4.5, max(4, 0.55 * max(nchar(labels))) + 1, 3.5, 1))
  on.exit(graphics::par(op))
  level <- attr(x, "level")
  graphics::plot(x$ratio, y, log = "x", xlim = xl, ylim = c(0.5, n + 0.5), yaxt = "n", xaxt = "n", ylab = "",
                 pch = ifelse(x$bioequivalent, 19, 1),
                 xlab = sprintf("ratio (%%) with %s confidence interval",
                                if (is.null(level)) "its" else paste0(100 * level, "%")),
                 main = main, ...)
  at <- pretty(xl)
  at <- at[at >= xl[1] & at <= xl[2]]
  graphics::axis(1, at = at, labels = format(100 * at))
  # the acceptance limits are labelled above the plot, where no tick crowds them
  graphics::mtext(format(100 * lim), side = 3, at = lim, line = 0.1, cex = 0.8, col = "firebrick")
  graphics::axis(2, at = y, labels = labels, las = 1)
  graphics::segments(x$lower, y, x$upper, y, lwd = 2)
  graphics::abline(v = lim, lty = 2, col = "firebrick")
  graphics::abline(v = 1, lty = 3, col = "grey50")
  invisible(x)
}
