# Prediction and simulation.

#' Predictions from a mixed-model fit
#'
#' @param object a fitted model.
#' @param newdata optional data frame; by default the fitted values.
#' @param re.form which random effects to include: `NULL` (all), `NA` or `~0`
#'   (none: population-level predictions), or a formula naming a subset of the
#'   random-effect terms, e.g. `~ (1 | Subject)`.
#' @param allow.new.levels if `TRUE`, levels of grouping factors absent from the
#'   fit get random effects of zero; if `FALSE` they are an error.
#' @param ... unused.
#' @return A numeric vector of predictions.
#' @examples
#' fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
#' nd <- data.frame(Days = 0:2, Subject = c("308", "308", "new"))
#' predict(fit, nd, allow.new.levels = TRUE)
#' predict(fit, nd, re.form = NA)
#' @export
predict.lemma_fit <- function(object, newdata = NULL, re.form = NULL, allow.new.levels = FALSE, ...) {
  terms <- object$reterms$terms
  use <- terms_in_re_form(object, re.form)
  if (is.null(newdata)) {
    if (all(use)) return(fitted(object))
    eta <- linear_predictor(object, object$X, object$offset,
                            lapply(seq_along(terms), function(k) if (use[k]) terms[[k]]$factor),
                            lapply(terms, function(t) t$X), object$b)
    return(stats::naresid(object$na.action, stats::setNames(eta, rownames(object$frame))))
  }
  newdata <- as.data.frame(newdata)
  tt <- stats::delete.response(object$fixed_terms)
  mf <- stats::model.frame(tt, newdata, na.action = stats::na.pass, xlev = object$xlevels)
  X <- stats::model.matrix(tt, mf, contrasts.arg = attr(object$X, "contrasts"))
  missing_cols <- setdiff(names(object$beta), colnames(X))
  if (length(missing_cols)) stop(sprintf("newdata gives no column(s) %s of the fixed effects",
                                         paste(missing_cols, collapse = ", ")), call. = FALSE)
  X <- X[, names(object$beta), drop = FALSE]
  off <- stats::model.offset(mf)
  if (is.null(off)) off <- rep(0, nrow(X))
  factors <- vector("list", length(terms))
  term_X <- vector("list", length(terms))
  for (k in which(use)) {
    t <- terms[[k]]
    gvars <- all.vars(str2lang(t$group))
    absent <- setdiff(gvars, names(newdata))
    if (length(absent)) stop(sprintf("newdata has no column '%s' for the grouping factor '%s'",
                                     absent[1], t$group), call. = FALSE)
    env <- lapply(newdata[gvars], function(v) factor(v))
    g <- as.character(eval(str2lang(t$group), env, baseenv()))
    codes <- match(g, levels(t$factor))
    new <- is.na(codes)
    if (any(new) && !allow.new.levels)
      stop(sprintf("new levels in newdata for the grouping factor '%s': %s (use allow.new.levels = TRUE)",
                   t$group, paste(utils::head(unique(g[new]), 5), collapse = ", ")), call. = FALSE)
    factors[[k]] <- factor(levels(t$factor)[codes], levels = levels(t$factor))
    lf <- stats::model.frame(t$lhs_terms, newdata, na.action = stats::na.pass)
    term_X[[k]] <- stats::model.matrix(t$lhs_terms, lf)
  }
  eta <- linear_predictor(object, X, off, factors, term_X, object$b)
  stats::setNames(eta, rownames(newdata))
}

# Which random-effect terms a re.form keeps.
terms_in_re_form <- function(object, re.form) {
  terms <- object$reterms$terms
  if (is.null(re.form)) return(rep(TRUE, length(terms)))
  if (identical(re.form, NA) || (inherits(re.form, "formula") && length(random_terms(re.form)) == 0L))
    return(rep(FALSE, length(terms)))
  keep <- random_terms(re.form)
  key <- function(lhs, group) paste(group, paste(colnames(stats::model.matrix(lhs, object$frame)), collapse = "+"))
  wanted <- vapply(keep, function(b) key(b$lhs, b$group), character(1))
  have <- vapply(terms, function(t) paste(t$group, paste(t$cnms, collapse = "+")), character(1))
  unknown <- setdiff(wanted, have)
  if (length(unknown)) stop(sprintf("re.form names term(s) not in the model: %s", paste(unknown, collapse = "; ")),
                            call. = FALSE)
  have %in% wanted
}

#' Simulate responses from a fitted mixed model
#'
#' Draws new random effects and residuals from the fitted model (or, with
#' `use.u = TRUE`, keeps the estimated random effects).
#'
#' @param object a fitted model.
#' @param nsim number of simulated responses.
#' @param seed optional seed, as for [stats::simulate()].
#' @param use.u keep the conditional modes of the random effects instead of drawing new ones.
#' @param ... unused.
#' @return A data frame with `nsim` columns `sim_1`, `sim_2`, ...
#' @examples
#' fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
#' s <- simulate(fit, nsim = 2, seed = 1)
#' head(s)
#' @export
simulate.lemma_fit <- function(object, nsim = 1, seed = NULL, use.u = FALSE, ...) {
  if (!is.null(seed)) set.seed(seed)
  rng_state <- get(".Random.seed", envir = .GlobalEnv)
  n <- nobs(object)
  terms <- object$reterms$terms
  sims <- lapply(seq_len(nsim), function(i) {
    b <- if (use.u) object$b else lapply(terms, function(t) draw_term_effects(object, t))
    eta <- linear_predictor(object, object$X, object$offset, lapply(terms, function(t) t$factor),
                            lapply(terms, function(t) t$X), b)
    eta + object$sigma * stats::rnorm(n) / sqrt(object$weights)
  })
  out <- as.data.frame(sims)
  names(out) <- paste0("sim_", seq_len(nsim))
  rownames(out) <- rownames(object$frame)
  attr(out, "seed") <- rng_state
  out
}

# b ~ N(0, sigma^2 (C (x) lambda)(C (x) lambda)'), as an nlev x p matrix.
draw_term_effects <- function(object, t, theta = object$theta, sigma = object$sigma) {
  p <- length(t$cnms)
  lam <- theta_to_lambda(theta[t$theta_index], p)
  u <- matrix(stats::rnorm(t$nlev * p), t$nlev, p)
  b <- u %*% t(lam)
  if (!is.null(t$relchol)) b <- t$relchol %*% b
  sigma * b
}
