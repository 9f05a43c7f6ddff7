# Diagnostic plots in base graphics: normal QQ plots of residuals and random effects
# (nlme's qqnorm.lme, lme4's qqmath), and the caterpillar plot of the conditional
# modes with their intervals (lme4's dotplot.ranef.mer).

#' Normal QQ plots of residuals or random effects
#'
#' `which = "residuals"` plots the standardized residuals (Pearson residuals divided
#' by sigma) against normal quantiles, with the line through the quartiles, as
#' nlme's `qqnorm(fit)`. `which = "ranef"` plots the conditional modes of each
#' random effect (one panel per grouping factor and term), as nlme's
#' `qqnorm(fit, ~ ranef(.))`: with few levels these plots say little, and
#' conditional modes are shrunk, so look for outlying levels rather than curvature.
#'
#' @param y a fitted model from [lmm()].
#' @param which `"residuals"` or `"ranef"`.
#' @param id optional number in (0, 1): with `which = "residuals"`, observations
#'   whose absolute standardized residual exceeds the `1 - id / 2` normal quantile
#'   are labelled with their row names.
#' @param ... graphical parameters passed to [graphics::plot()].
#' @return Invisibly, a data frame with the plotted `sample` and `theoretical`
#'   quantiles (and, for random effects, `grpvar`, `term`, `grp`).
#' @examples
#' fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
#' qqnorm(fit)
#' qqnorm(fit, which = "ranef")
#' @export
qqnorm.lemma_fit <- function(y, which = c("residuals", "ranef"), id = NULL, ...) {
  which <- check_choice(which[1], c("residuals", "ranef"), "which", "qqnorm")
  if (!is.null(id)) check_number(id, "id", "qqnorm", lower = 1e-12, upper = 1 - 1e-12)
  args <- list(...)
  if (which == "residuals") {
    r <- stats::residuals(y, type = "pearson") / y$sigma
    q <- stats::qnorm(stats::ppoints(length(r)))[rank(r, ties.method = "first")]
    args$xlab <- args$xlab %||% "Standard normal quantiles"
    args$ylab <- args$ylab %||% "Standardized residuals"
    do.call(graphics::plot, c(list(x = q, y = r), args))
    qq_line(r)
    if (!is.null(id)) {
      out <- which(abs(r) > stats::qnorm(1 - id / 2))
      if (length(out)) graphics::text(q[out], r[out], names(r)[out], pos = 4, cex = 0.8)
    }
    return(invisible(data.frame(sample = r, theoretical = q)))
  }
  if (!is.null(id))
    warning("qqnorm(): 'id' labels residuals only and was ignored for which = \"ranef\"",
            call. = FALSE)
  re <- as.data.frame(ranef(y, condVar = FALSE))
  panels <- split(re, list(re$grpvar, re$term), drop = TRUE, lex.order = TRUE)
  # panels side by side: a QQ plot wants its height
  main <- args$main
  args$main <- NULL
  old <- graphics::par(mfrow = rev(grDevices::n2mfrow(length(panels))),
                       oma = c(0, 0, if (is.null(main)) 0 else 1.5, 0))
  on.exit(graphics::par(old))
  args$xlab <- args$xlab %||% "Standard normal quantiles"
  args$ylab <- args$ylab %||% "Conditional mode"
  out <- lapply(panels, function(d) {
    q <- stats::qnorm(stats::ppoints(nrow(d)))[rank(d$condval, ties.method = "first")]
    do.call(graphics::plot, c(list(x = q, y = d$condval,
                                   main = paste0(d$grpvar[1], ": ", d$term[1])), args))
    qq_line(d$condval)
    data.frame(grpvar = d$grpvar, term = d$term, grp = d$grp, sample = d$condval,
               theoretical = q, stringsAsFactors = FALSE)
  })
  if (!is.null(main)) graphics::mtext(main, outer = TRUE, font = 2)
  out <- do.call(rbind, out)
  rownames(out) <- NULL
  invisible(out)
}

# The line through the first and third quartiles, as stats::qqline().
qq_line <- function(v) {
  qy <- stats::quantile(v, c(0.25, 0.75), names = FALSE, na.rm = TRUE)
  qx <- stats::qnorm(c(0.25, 0.75))
  slope <- diff(qy) / diff(qx)
  graphics::abline(qy[1] - slope * qx[1], slope, col = "grey40", lty = 2)
}

#' Caterpillar plot of the random effects
#'
#' One panel per grouping factor and term: the conditional mode of each level
#' with its prediction interval, conditional mode \eqn{\pm} z times the conditional
#' standard deviation (z the `1 - (1 - level) / 2` normal quantile), levels sorted
#' by the first term's conditional modes, as lme4's `dotplot(ranef(fit,
#' condVar = TRUE))`. Level names are written on the axis when there are at most
#' 60 levels.
#'
#' @param x random effects from [ranef()]; intervals need `condVar = TRUE`
#'   (lme4's default too).
#' @param level confidence level of the intervals.
#' @param which names of the grouping factors to draw; default all.
#' @param ... graphical parameters passed to [graphics::plot()] (`col`, `pch`,
#'   `xlim`, ...); `main` is an overall title above the panels.
#' @return Invisibly, the data frame of [as.data.frame.lemma_ranef()] that was
#'   drawn, with columns `lower` and `upper`.
#' @examples
#' fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
#' plot(ranef(fit, condVar = TRUE))
#' @export
plot.lemma_ranef <- function(x, level = 0.95, which = names(x), ...) {
  check_number(level, "level", "plot", lower = 1e-12, upper = 1 - 1e-12)
  bad <- setdiff(which, names(x))
  if (!is.character(which) || length(bad))
    stop(sprintf("plot(): 'which' must name grouping factors among %s",
                 paste(names(x), collapse = ", ")), call. = FALSE)
  re <- as.data.frame(structure(unclass(x)[which], class = "lemma_ranef"))
  if (is.null(re$condsd)) {
    message("plot(): no conditional variances (ranef(condVar = FALSE)); intervals not drawn")
    re$condsd <- NA_real_
  }
  z <- stats::qnorm(1 - (1 - level) / 2)
  re$lower <- re$condval - z * re$condsd
  re$upper <- re$condval + z * re$condsd
  args <- list(...)
  pch <- args$pch %||% 20
  col <- args$col %||% "black"
  args$pch <- NULL
  args$col <- NULL
  main <- args$main
  args$main <- NULL
  panels <- split(re, list(re$grpvar, re$term), drop = TRUE, lex.order = TRUE)
  old <- graphics::par(mfrow = rev(grDevices::n2mfrow(length(panels))), mar = c(3, 5, 2, 0.5),
                       mgp = c(1.8, 0.6, 0), oma = c(0, 0, if (is.null(main)) 0 else 1.5, 0))
  on.exit(graphics::par(old))
  for (d in panels) {
    # order shared by all terms of a grouping factor: the first term's modes
    gv <- re$grpvar == d$grpvar[1]
    first <- re[gv & re$term == re$term[gv][1], ]
    lev <- as.character(first$grp[order(first$condval)])
    d <- d[match(lev, as.character(d$grp)), ]
    k <- nrow(d)
    xl <- args$xlim %||% range(c(d$lower, d$upper, d$condval), na.rm = TRUE)
    pargs <- args
    pargs$xlim <- NULL
    do.call(graphics::plot, c(list(x = d$condval, y = seq_len(k), xlim = xl, yaxt = "n",
                                   xlab = pargs$xlab %||% "Conditional mode", ylab = "",
                                   type = "n", main = paste0(d$grpvar[1], ": ", d$term[1])),
                              pargs[setdiff(names(pargs), "xlab")]))
    graphics::abline(v = 0, col = "grey60", lty = 2)
    if (any(!is.na(d$condsd)))
      graphics::segments(d$lower, seq_len(k), d$upper, seq_len(k), col = "grey40")
    graphics::points(d$condval, seq_len(k), pch = pch, col = col,
                     cex = if (k > 60L) 0.6 else 1)  # smaller dots for many levels
    if (k <= 60L)
      graphics::axis(2, at = seq_len(k), labels = d$grp, las = 1,
                     cex.axis = if (k > 25L) 0.55 else 0.8)
  }
  if (!is.null(main)) graphics::mtext(main, outer = TRUE, font = 2)
  rownames(re) <- NULL
  invisible(re)
}
