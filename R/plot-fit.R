# The residual plot lme4's plot() draws by default, in base graphics.

#' Residuals against fitted values
#'
#' Draws the Pearson residuals against the fitted values with a reference line at
#' 0, the default plot of lme4's `plot()` for `lmer` fits (drawn with base graphics
#' here). Conditioning formulas (lme4's `form`) are not supported yet.
#'
#' @param x a fitted model from [lmm()].
#' @param id optional number in (0, 1): observations whose absolute standardized
#'   residual (Pearson residual / sigma) exceeds the `1 - id / 2` normal quantile
#'   are labelled with their row names, as lme4's `id`.
#' @param abline height of the horizontal reference line; `NULL` for none.
#' @param form not supported (an error), see Description.
#' @param ... graphical parameters passed to [graphics::plot()].
#' @return Invisibly, a data frame with the plotted `fitted` and `resid` values.
#' @examples
#' fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
#' plot(fit)
#' plot(fit, id = 0.05)
#' @export
plot.lemma_fit <- function(x, id = NULL, abline = 0, form, ...) {
  if (!missing(form))
    stop("plot(): 'form' (lme4's conditioning formula) is not supported by lemma yet; the plot is Pearson residuals against fitted values",
         call. = FALSE)
  if (!is.null(id)) check_number(id, "id", "plot", lower = 1e-12, upper = 1 - 1e-12)
  f <- stats::fitted(x)
  r <- stats::residuals(x, type = "pearson")
  args <- list(...)
  if (is.null(args$xlab)) args$xlab <- "fitted(.)"
  if (is.null(args$ylab)) args$ylab <- "resid(., type = \"pearson\")"
  do.call(graphics::plot, c(list(x = f, y = r), args))
  if (!is.null(abline)) graphics::abline(h = abline, lty = 2, col = "grey50")
  if (!is.null(id)) {
    out <- which(abs(r) / x$sigma > stats::qnorm(1 - id / 2))
    if (length(out)) graphics::text(f[out], r[out], names(r)[out], pos = 4, cex = 0.8)
  }
  invisible(data.frame(fitted = f, resid = r))
}
