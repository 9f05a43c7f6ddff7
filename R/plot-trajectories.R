# Observed trajectories with the population and personal fitted curves, in base
# graphics.

#' Plot individual trajectories with population and personal curves
#'
#' Draws each subject's observations against time with two fitted curves: the
#' population curve (fixed effects only, at the subject's covariates) and the
#' personal curve (fixed plus the subject's random effects). With a few subjects
#' each gets a panel (shared axes); with many they are overlaid in one plot,
#' observations joined per subject in grey, personal curves in colour and the
#' population curve(s) in black (one per pattern of subject-level covariates).
#' With `newdata`, the subjects are new ones and their personal curves are
#' conditioned on their own observations, as in [blup_at()].
#'
#' @inheritParams blup_at
#' @param newdata optional data frame of new subjects' observations (see
#'   [blup_at()]); by default the subjects of the fit.
#' @param subjects the subjects (levels of the grouping factor) to draw; by
#'   default all.
#' @param layout `"auto"` (panels for at most 16 subjects, else overlay),
#'   `"panels"` or `"overlay"`.
#' @param n_grid number of time points at which the curves are evaluated, over
#'   `xlim` if given, else over the range of the observed times.
#' @param ... graphical parameters passed to [graphics::plot()] (`main` becomes
#'   the overall title).
#' @return Invisibly, a data frame of the drawn curves: the subject (a column
#'   named as the grouping factor), `time`, `population` and `personal`.
#' @examples
#' fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
#' plot_trajectories(fit, time = "Days", subjects = c("308", "309", "330", "331"))
#' plot_trajectories(fit, time = "Days", layout = "overlay")
#' # a new subject seen on days 0 to 3, its personal curve up to day 9
#' new <- data.frame(Subject = "new", Days = 0:3, Reaction = c(250, 270, 300, 310))
#' plot_trajectories(fit, time = "Days", newdata = new, xlim = c(0, 9))
#' @export
plot_trajectories <- function(fit, time = "t", newdata = NULL, subjects = NULL, group = NULL,
                              layout = c("auto", "panels", "overlay"), n_grid = 101, ...) {
  fn <- "plot_trajectories"
  check_fit(fit, "plot_trajectories")
  layout <- check_choice(if (missing(layout)) "auto" else layout, c("auto", "panels", "overlay"), "layout", fn)
  check_number(n_grid, "n_grid", fn, lower = 2, integer = TRUE)
  new <- !is.null(newdata)
  if (new && !is.data.frame(newdata))
    stop("plot_trajectories(): 'newdata' must be a data frame of the new subjects' observations", call. = FALSE)
  tr <- trajectory_setup(fit, time, group, fn, newdata)
  src <- if (new) as.data.frame(newdata) else variables_data(fit)
  subj <- subject_templates(fit, tr, src, fn, new = new)
  pick <- seq_along(subj$ids)
  if (!is.null(subjects)) {
    subjects <- as.character(subjects)
    bad <- setdiff(subjects, subj$ids)
    if (length(bad))
      stop(sprintf("plot_trajectories(): 'subjects' has levels not in the %s '%s': %s",
                   if (new) "new data's" else "fit's", tr$group, paste(utils::head(bad, 5), collapse = ", ")),
           call. = FALSE)
    pick <- match(unique(subjects), subj$ids)
  }
  if (layout == "auto") layout <- if (length(pick) <= 16L) "panels" else "overlay"
  tobs <- as.numeric(src[[tr$time]])
  y <- if (new) new_response(fit, src, fn) else fit$y
  args <- list(...)
  xr <- if (!is.null(args$xlim)) args$xlim else range(tobs[is.finite(tobs) & is.finite(y) & subj$code > 0])
  if (!is.numeric(xr) || length(xr) != 2L || any(!is.finite(xr)) || xr[1] >= xr[2])
    stop("plot_trajectories(): 'xlim' must be two increasing finite times (and the subjects need observed times)",
         call. = FALSE)
  grid <- seq(xr[1], xr[2], length.out = n_grid)
  rows <- subj$rows[rep(pick, each = n_grid), , drop = FALSE]
  rows[[tr$time]] <- rep(grid, length(pick))
  curves <- data.frame(subject = subj$ids[rep(pick, each = n_grid)], time = rows[[tr$time]],
                       population = unname(stats::predict(fit, rows, re.form = NA, allow.new.levels = new)),
                       stringsAsFactors = FALSE)
  if (new) {
    # conditioned on each subject's own rows (blup_at() gives one row per subject per time)
    bl <- blup_at(fit, at = grid, time = tr$time, newdata = src[subj$code %in% pick, , drop = FALSE],
                  group = tr$group)
    curves$personal <- bl$value[match(paste(curves$subject, curves$time), paste(bl[[1]], bl$at))]
  } else {
    curves$personal <- unname(stats::predict(fit, rows))
  }
  shown <- subj$code %in% pick & is.finite(y) & is.finite(tobs)
  main <- args$main
  args$main <- NULL
  if (is.null(args$xlab)) args$xlab <- tr$time
  if (is.null(args$ylab)) args$ylab <- deparse1(fit$formula[[2]])
  args$xlim <- xr
  if (is.null(args$ylim)) args$ylim <- range(y[shown], curves$population, curves$personal)
  op <- graphics::par(no.readonly = TRUE)
  on.exit(graphics::par(op))
  col_pop <- "black"
  col_obs <- "grey45"
  if (layout == "panels") {
    nc <- ceiling(sqrt(length(pick)))
    graphics::par(mfrow = c(ceiling(length(pick) / nc), nc), mar = c(2.5, 2.5, 1.5, 0.5),
                  mgp = c(1.5, 0.5, 0), oma = c(0, 0, if (is.null(main)) 2 else 3.5, 0))
    col_pers <- "#1f78b4"
    for (i in pick) {
      cu <- curves[curves$subject == subj$ids[i], ]
      obs <- shown & subj$code == i
      do.call(graphics::plot, c(list(x = tobs[obs], y = y[obs], main = subj$ids[i], col = col_obs,
                                     pch = 19, cex = 0.7, cex.main = 0.9), args))
      graphics::lines(cu$time, cu$population, col = col_pop, lty = 2)
      graphics::lines(cu$time, cu$personal, col = col_pers, lwd = 2)
    }
    lty <- c(NA, 2, 1)
    lwd <- c(NA, 1, 2)
  } else {
    graphics::par(oma = c(0, 0, 2, 0))
    col_pers <- "#1f78b480"   # half transparent
    do.call(graphics::plot, c(list(x = tobs[shown], y = y[shown], type = "n", main = main), args))
    for (i in pick) {
      obs <- which(shown & subj$code == i)
      obs <- obs[order(tobs[obs])]
      graphics::lines(tobs[obs], y[obs], col = "grey80")
      graphics::points(tobs[obs], y[obs], col = col_obs, pch = 19, cex = 0.4)
    }
    for (i in pick) {
      cu <- curves[curves$subject == subj$ids[i], ]
      graphics::lines(cu$time, cu$personal, col = col_pers)
    }
    # one population curve per distinct pattern of subject-level covariates
    pops <- split(curves$population, curves$subject)
    for (pc in unique(unname(lapply(pops, round, 10)))) graphics::lines(grid, pc, col = col_pop, lwd = 3)
    lty <- c(NA, 1, 1)
    lwd <- c(NA, 3, 1)
  }
  # the legend and the overall title in the outer top margin
  graphics::par(fig = c(0, 1, 0, 1), oma = c(0, 0, 0, 0), mar = c(0, 0, 0, 0), new = TRUE)
  graphics::plot.new()
  if (layout == "panels" && !is.null(main)) graphics::title(main = main, line = -1.3)
  graphics::legend("top", legend = c("observed", "population", "personal"), col = c(col_obs, col_pop, col_pers),
                   pch = c(19, NA, NA), lty = lty, lwd = lwd, horiz = TRUE, bty = "n", cex = 0.85,
                   inset = if (layout == "panels" && !is.null(main)) 0.04 else 0)
  names(curves)[1] <- tr$group
  invisible(curves)
}
