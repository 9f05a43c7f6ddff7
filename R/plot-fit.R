# The residual plot lme4's plot() draws by default, in base graphics, optionally
# one panel per level of a grouping factor (lme4's `resid(.) ~ fitted(.) | g`).

#' Residuals against fitted values
#'
#' Draws the Pearson residuals against the fitted values with a reference line at
#' 0, the default plot of lme4's `plot()` for `lmer` fits (drawn with base graphics
#' here). With `group`, one panel per level of a grouping factor, on common axes,
#' as lme4's `plot(fit, resid(.) ~ fitted(.) | g)`. Conditioning formulas (lme4's
#' `form`) are not supported: use `group`.
#'
#' @param x a fitted model from [lmm()].
#' @param id optional number in (0, 1): observations whose absolute standardized
#'   residual (Pearson residual / sigma) exceeds the `1 - id / 2` normal quantile
#'   are labelled with their row names, as lme4's `id`.
#' @param abline height of the horizontal reference line; `NULL` for none.
#' @param form not supported (an error), see Description.
#' @param group optional grouping: the name of a grouping factor of the model or of
#'   a variable of the model frame, or a vector with one value per observation
#'   used in the fit. At most 48 levels (one panel each).
#' @param ... graphical parameters passed to [graphics::plot()].
#' @return Invisibly, a data frame with the plotted `fitted` and `resid` values
#'   (and `group` when given).
#' @examples
#' fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
#' plot(fit)
#' plot(fit, id = 0.05)
#' plot(fit, group = "Subject")
#' @export
plot.lemma_fit <- function(x, id = NULL, abline = 0, form, group = NULL, ...) {
  if (!missing(form))
    stop("plot(): 'form' (lme4's conditioning formula) is not supported by lemma; the plot is Pearson residuals against fitted values, by a grouping factor with 'group'",
         call. = FALSE)
  if (!is.null(id)) check_number(id, "id", "plot", lower = 1e-12, upper = 1 - 1e-12)
  f <- stats::fitted(x)
  r <- stats::residuals(x, type = "pearson")
  args <- list(...)
  if (is.null(args$xlab)) args$xlab <- "fitted(.)"
  if (is.null(args$ylab)) args$ylab <- "resid(., type = \"pearson\")"
  out <- data.frame(fitted = f, resid = r)
  flag <- if (is.null(id)) rep(FALSE, length(r)) else abs(r) / x$sigma > stats::qnorm(1 - id / 2)
  panel <- function(i, pargs) {
    do.call(graphics::plot, c(list(x = f[i], y = r[i]), pargs))
    if (!is.null(abline)) graphics::abline(h = abline, lty = 2, col = "grey50")
    lab <- i[flag[i]]
    if (length(lab)) graphics::text(f[lab], r[lab], names(r)[lab], pos = 4, cex = 0.8)
  }
  if (is.null(group)) {
    panel(seq_along(r), args)
    return(invisible(out))
  }
  g <- plot_group(x, group, length(r))
  lev <- levels(g)
  if (length(lev) > 48L)
    stop(sprintf("plot(): 'group' has %d levels; at most 48 panels are drawn", length(lev)),
         call. = FALSE)
  args$xlim <- args$xlim %||% range(f, na.rm = TRUE)
  args$ylim <- args$ylim %||% range(r, na.rm = TRUE)
  # axis titles once, in the outer margins; panel titles are the levels
  old <- graphics::par(mfrow = grDevices::n2mfrow(length(lev)), mar = c(2, 2, 1.6, 0.5),
                       mgp = c(1.8, 0.6, 0), oma = c(2.5, 2.5, if (is.null(args$main)) 0 else 1.5, 0))
  on.exit(graphics::par(old))
  main <- args$main
  labs <- c(args$xlab, args$ylab)
  args$main <- NULL
  args$xlab <- ""
  args$ylab <- ""
  for (l in lev) panel(which(g == l), c(args, list(main = l, cex.main = 0.9)))
  graphics::mtext(labs[1], side = 1, outer = TRUE, line = 1)
  graphics::mtext(labs[2], side = 2, outer = TRUE, line = 1)
  if (!is.null(main)) graphics::mtext(main, outer = TRUE, font = 2)
  out$group <- g
  invisible(out)
}

# The grouping of the observations of a fit for a panel plot: a grouping factor's
# name, a model-frame variable's name, or one value per observation.
plot_group <- function(fit, group, n) {
  if (is.character(group) && length(group) == 1L && n != 1L) {
    g <- fit$flist[[group]]
    if (is.null(g)) {
      mf <- stats::model.frame(fit)
      g <- mf[[group]]
    }
    if (is.null(g))
      stop(sprintf("plot(): 'group' = \"%s\" is neither a grouping factor (%s) nor a variable of the model frame",
                   group, paste(names(fit$flist), collapse = ", ")), call. = FALSE)
  } else {
    g <- group
  }
  if (!is.atomic(g) || length(g) != n)
    stop(sprintf("plot(): 'group' must name a grouping factor or variable, or have one value per observation (%d)", n),
         call. = FALSE)
  if (anyNA(g))
    stop("plot(): 'group' has missing values", call. = FALSE)
  droplevels(as.factor(g))
}
