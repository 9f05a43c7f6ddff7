# Prediction and simulation: lme4's predict.merMod and simulate.merMod semantics
# (re.form, newdata, allow.new.levels, na.action), plus standard errors of the
# predictions (R/prediction-variance.R).

#' Predictions from a mixed-model fit
#'
#' As lme4's `predict.merMod`, with standard errors and intervals.
#'
#' `re.form` chooses the random effects to condition on: `NULL` (all), `NA` or `~0`
#' (none: population-level predictions), or a formula naming some terms, or some
#' columns of a term, e.g. `~ (1 | Subject)` or `~ (0 + Days | Subject)` on a
#' `(Days | Subject)` model. Terms are matched as lme4 matches them: by grouping
#' factor and column names.
#'
#' With `se.fit = TRUE` the standard errors are those of the predictor as an
#' estimate of what it predicts, at the estimated variance parameters: for
#' `re.form = NA`, `sqrt(diag(X V(beta) X'))`; otherwise the prediction-error
#' variance of `x'beta-hat + z'b-hat` as a predictor of `x'beta + z'b` (Henderson's
#' mixed-model equations: sigma^2 times their inverse), which includes the
#' uncertainty of the fixed effects and of the conditional modes and their
#' covariance. A level absent from the fit contributes its prior variance.
#' Intervals use the normal quantile; `"prediction"` adds sigma^2 (a new
#' observation with unit prior weight).
#'
#' @param object a fitted model.
#' @param newdata optional data frame; by default the fitted rows.
#' @param newparams not supported (an error).
#' @param re.form which random effects to include (see Details).
#' @param random.only return only the random-effects part of the prediction.
#' @param terms not supported (an error, as in lme4).
#' @param type `"link"` or `"response"`: the same for a linear mixed model.
#' @param allow.new.levels if `TRUE`, levels of grouping factors absent from the
#'   fit (and missing grouping values) get random effects of zero; if `FALSE` they
#'   are an error.
#' @param na.action how rows of `newdata` with missing values are handled:
#'   [stats::na.pass] (default) gives `NA` for them, [stats::na.omit] drops them,
#'   [stats::na.exclude] drops them and pads the result with `NA`. Without `newdata`
#'   it decides whether rows dropped in the fit are padded.
#' @param se.fit also return standard errors.
#' @param interval `"none"`, `"confidence"` or `"prediction"`.
#' @param level the confidence level of the interval.
#' @param ... unused (a warning names them).
#' @return A named numeric vector; with `interval` a matrix with columns `fit`,
#'   `lwr`, `upr`; with `se.fit = TRUE` a list with `fit` (the vector or matrix) and
#'   `se.fit`.
#' @examples
#' fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
#' nd <- data.frame(Days = 0:2, Subject = c("308", "308", "new"))
#' predict(fit, nd, allow.new.levels = TRUE)
#' predict(fit, nd, re.form = NA, se.fit = TRUE)
#' predict(fit, nd, re.form = ~ (0 + Days | Subject), allow.new.levels = TRUE)
#' predict(fit, nd[1:2, ], interval = "prediction")
#' @export
predict.lemma_fit <- function(object, newdata = NULL, newparams = NULL, re.form = NULL, random.only = FALSE,
                              terms = NULL, type = c("link", "response"), allow.new.levels = FALSE,
                              na.action = stats::na.pass, se.fit = FALSE,
                              interval = c("none", "confidence", "prediction"), level = 0.95, ...) {
  fn <- "predict"
  check_dots_unused(list(...), fn)
  if (!is.null(newparams)) check_dots_unused(list(newparams = newparams), fn, error = TRUE)
  if (!is.null(terms)) check_dots_unused(list(terms = terms), fn, error = TRUE)
  check_choice(if (missing(type)) "link" else type, c("link", "response"), "type", fn)
  interval <- check_choice(if (missing(interval)) "none" else interval,
                           c("none", "confidence", "prediction"), "interval", fn)
  check_flag(random.only, "random.only", fn)
  check_flag(allow.new.levels, "allow.new.levels", fn)
  check_flag(se.fit, "se.fit", fn)
  check_level(level, fn)
  na_fun <- match.fun(na.action)
  sel <- re_form_selection(object, re.form, fn)
  des <- prediction_design(object, newdata, sel, allow.new.levels, na_fun, fixed = !random.only)
  eta <- design_predictor(object, des, random.only)
  want_se <- se.fit || interval != "none"
  se <- if (want_se) prediction_se(object, des, random.only) else NULL
  eta[des$bad] <- NA
  if (want_se) se[des$bad] <- NA
  names(eta) <- des$rownames
  omit <- des$omit
  if (is.null(newdata) && !missing(na.action) && !is.null(omit)) {
    # lme4: the fit's dropped rows are padded or not as na.action says.
    cls <- class(attr(na_fun(NA), "na.action"))
    class(omit) <- if (is.null(cls) || identical(cls, "NULL")) "omit" else cls
  }
  eta <- stats::napredict(omit, eta)
  if (want_se) se <- stats::napredict(omit, stats::setNames(se, des$rownames))
  out <- eta
  if (interval != "none") {
    z <- stats::qnorm((1 + level) / 2)
    half <- z * if (interval == "confidence") se else sqrt(se^2 + object$sigma^2)
    out <- cbind(fit = eta, lwr = eta - half, upr = eta + half)
  }
  if (se.fit) list(fit = out, se.fit = se) else out
}

# Which columns of which terms a re.form keeps: a list with one integer vector of
# column indices per model term (empty: the term is not used). lme4 matches the
# re.form's terms to the model's by grouping factor and column names, so a subset
# of a term's columns, or columns of two terms on one factor, can be chosen.
re_form_selection <- function(object, re.form, fn) {
  terms <- object$reterms$terms
  none <- rep(list(integer(0)), length(terms))
  if (is.null(re.form)) return(lapply(terms, function(t) seq_along(t$cnms)))
  bad <- function(why) stop(sprintf("%s(): 're.form' %s; use NULL (all random effects), NA or ~0 (none), or a formula such as ~ (1 | g)",
                                    fn, why), call. = FALSE)
  if (!inherits(re.form, "formula")) {
    if (length(re.form) == 1L && is.atomic(re.form) && is.na(re.form)) return(none)
    bad(sprintf("must be NULL, NA or a one-sided formula, not %s", deparse1(re.form, nlines = 1L)))
  }
  if (length(re.form) != 2L) bad("must be a one-sided formula")
  rhs <- drop_inner_tilde(re.form[[2]])
  if (identical(rhs, 0) || identical(rhs, 0L)) return(none)
  bars <- random_terms(stats::as.formula(call("~", rhs), env = environment(re.form)))
  if (length(bars) == 0L) bad(sprintf("%s names no random-effect term", deparse1(re.form)))
  groups <- vapply(terms, function(t) t$group, character(1))
  out <- none
  for (b in bars) {
    label <- sprintf("(%s | %s)", deparse1(b$lhs[[2]]), b$group)
    on_g <- which(groups == b$group)
    cols <- if (length(on_g)) tryCatch(colnames(stats::model.matrix(b$lhs, object$frame)), error = function(e) NULL)
    hit <- lapply(cols, function(cn) {
      k <- on_g[vapply(on_g, function(k) cn %in% terms[[k]]$cnms, logical(1))]
      if (length(k)) c(k[1], match(cn, terms[[k[1]]]$cnms)) else NULL
    })
    if (!length(on_g) || is.null(cols) || any(vapply(hit, is.null, logical(1))))
      stop(sprintf("%s(): 're.form' names term(s) not in the model: %s", fn, label), call. = FALSE)
    for (h in hit) out[[h[1]]] <- sort(unique(c(out[[h[1]]], h[2])))
  }
  out
}

# lme4 reads `(~1 | g)` (parsed as `(~(1 | g))`) as `(1 | g)`: drop one-sided `~`
# inside a re.form.
drop_inner_tilde <- function(e) {
  if (!is.call(e)) return(e)
  if (identical(e[[1]], as.name("~")) && length(e) == 2L) return(drop_inner_tilde(e[[2]]))
  for (i in seq_along(e)[-1]) e[[i]] <- drop_inner_tilde(e[[i]])
  e
}

# The rows to predict for: fixed-effects matrix and offset, and for each term kept
# by `sel` the level codes (NA for a level the fit has not seen) and the kept
# columns of the term's model matrix. `bad` marks rows with missing values (their
# predictions are NA); `omit` is the na.action record of rows dropped.
prediction_design <- function(object, newdata, sel, allow.new.levels, na_fun, fixed = TRUE) {
  terms <- object$reterms$terms
  used <- which(lengths(sel) > 0L)
  if (is.null(newdata)) {
    n <- nobs(object)
    return(list(n = n, X = object$X, offset = object$offset, rownames = rownames(object$frame),
                codes = lapply(seq_along(terms), function(k) if (k %in% used) as.integer(terms[[k]]$factor)),
                Z = lapply(seq_along(terms), function(k) if (k %in% used) terms[[k]]$X[, sel[[k]], drop = FALSE]),
                sel = sel, bad = rep(FALSE, n), omit = object$na.action))
  }
  if (!is.data.frame(newdata) && !is.list(newdata))
    stop(sprintf("'newdata' must be a data frame, not %s", class(newdata)[1]), call. = FALSE)
  newdata <- as.data.frame(newdata)
  n <- nrow(newdata)
  rn <- rownames(newdata)
  X <- NULL
  off <- rep(0, n)
  if (fixed) {
    tt <- stats::delete.response(object$fixed_terms)
    env <- environment(object$formula) %||% globalenv()
    absent <- Filter(function(v) !(v %in% names(newdata)) && !exists(v, envir = env), all.vars(tt))
    if (length(absent))
      stop(sprintf("newdata has no column(s) %s for the fixed effects", paste0("'", absent, "'", collapse = ", ")),
           call. = FALSE)
    # a column of another type than in the fit (text for a number) is named
    mf <- tryCatch({
      mf <- stats::model.frame(tt, newdata, na.action = stats::na.pass, xlev = object$xlevels)
      if (!is.null(attr(tt, "dataClasses"))) stats::.checkMFClasses(attr(tt, "dataClasses"), mf)
      mf
    }, error = function(e) stop(sprintf("'newdata' does not fit the model's fixed effects: %s", conditionMessage(e)),
                                call. = FALSE))
    X <- stats::model.matrix(tt, mf, contrasts.arg = attr(object$X, "contrasts"))
    missing_cols <- setdiff(names(object$beta), colnames(X))
    if (length(missing_cols)) stop(sprintf("newdata gives no column(s) %s of the fixed effects",
                                           paste(missing_cols, collapse = ", ")), call. = FALSE)
    X <- X[, names(object$beta), drop = FALSE]
    o <- stats::model.offset(mf)
    if (!is.null(o)) off <- as.numeric(o)
  }
  codes <- vector("list", length(terms))
  groups <- vector("list", length(terms))
  Z <- vector("list", length(terms))
  bad <- if (fixed) rowSums(is.na(X)) > 0 | is.na(off) else rep(FALSE, n)
  for (k in used) {
    t <- terms[[k]]
    g <- groups[[k]] <- new_group_values(t, newdata)
    codes[[k]] <- match(g, levels(t$factor))
    unseen <- is.na(codes[[k]])
    if (any(unseen) && !allow.new.levels) {
      if (anyNA(g))
        stop(sprintf("newdata has missing values of the grouping factor '%s' (use allow.new.levels = TRUE for population-level predictions there)",
                     t$group), call. = FALSE)
      stop(sprintf("new levels in newdata for the grouping factor '%s': %s (use allow.new.levels = TRUE)",
                   t$group, paste(utils::head(unique(g[unseen]), 5), collapse = ", ")), call. = FALSE)
    }
    Z[[k]] <- term_matrix(object, t, newdata)[, sel[[k]], drop = FALSE]
    bad <- bad | rowSums(is.na(Z[[k]])) > 0
  }
  omit <- NULL
  if (any(bad)) {
    flag <- numeric(n)
    flag[bad] <- NA
    omit <- tryCatch(attr(na_fun(data.frame(.missing = flag, row.names = rn)), "na.action"),
                     error = function(e) stop(sprintf("newdata has missing values in row(s) %s, which 'na.action' refuses: %s",
                                                      paste(utils::head(rn[bad], 5), collapse = ", "), conditionMessage(e)),
                                              call. = FALSE))
  }
  if (length(omit)) {
    keep <- -as.integer(omit)
    if (fixed) X <- X[keep, , drop = FALSE]
    off <- off[keep]
    codes <- lapply(codes, function(cd) cd[keep])
    groups <- lapply(groups, function(g) g[keep])
    Z <- lapply(Z, function(z) if (!is.null(z)) z[keep, , drop = FALSE])
    rn <- rn[keep]
    bad <- bad[keep]
    n <- length(rn)
  }
  list(n = n, X = X, offset = off, rownames = rn, codes = codes, groups = groups, Z = Z, sel = sel, bad = bad,
       omit = omit)
}

# The grouping factor of term t evaluated in newdata, as character (NA stays NA).
new_group_values <- function(t, newdata) {
  gvars <- all.vars(str2lang(t$group))
  absent <- setdiff(gvars, names(newdata))
  if (length(absent)) stop(sprintf("newdata has no column '%s' for the grouping factor '%s'",
                                   absent[1], t$group), call. = FALSE)
  env <- lapply(newdata[gvars], factor)
  as.character(eval(str2lang(t$group), env, baseenv()))
}

# Term t's model matrix in newdata, with the fit's factor levels.
term_matrix <- function(object, t, newdata) {
  vars <- all.vars(t$lhs_terms)
  absent <- setdiff(vars, names(newdata))
  if (length(absent)) stop(sprintf("newdata has no column '%s' for the random-effect term (%s | %s)",
                                   absent[1], paste(t$cnms, collapse = " + "), t$group), call. = FALSE)
  xlev <- Filter(Negate(is.null), lapply(object$frame[intersect(vars, names(object$frame))],
                                         function(v) if (is.factor(v)) levels(v)))
  lf <- stats::model.frame(t$lhs_terms, newdata, na.action = stats::na.pass, xlev = if (length(xlev)) xlev)
  Z <- stats::model.matrix(t$lhs_terms, lf)
  if (!identical(colnames(Z), t$cnms))
    stop(sprintf("newdata gives columns %s for the random-effect term (%s | %s) where the fit has %s",
                 paste(colnames(Z), collapse = ", "), paste(t$cnms, collapse = " + "), t$group,
                 paste(t$cnms, collapse = ", ")), call. = FALSE)
  Z
}

# X beta + offset + the kept random effects (0 at levels the fit has not seen).
design_predictor <- function(object, des, random.only) {
  eta <- if (random.only) rep(0, des$n) else as.numeric(des$X %*% object$beta) + des$offset
  for (k in which(lengths(des$sel) > 0L)) {
    bk <- object$b[[k]][, des$sel[[k]], drop = FALSE]
    cd <- des$codes[[k]]
    known <- !is.na(cd)
    eta[known] <- eta[known] + rowSums(des$Z[[k]][known, , drop = FALSE] * bk[cd[known], , drop = FALSE])
  }
  eta
}

#' Simulate responses from a fitted mixed model
#'
#' As lme4's `simulate.merMod` for a linear mixed model: random effects not kept by
#' `re.form` are drawn from their fitted distribution (levels absent from the fit,
#' with `allow.new.levels = TRUE`, included), then residuals. The draws are taken in
#' lme4's order, so with the same seed and the same estimates the result is lme4's.
#'
#' @param object a fitted model.
#' @param nsim number of simulated responses.
#' @param seed optional seed, as for [stats::simulate()]; the state of the random
#'   number generator used is returned in attribute `"seed"`.
#' @param use.u `TRUE` keeps the conditional modes of all random effects (as
#'   `re.form = NULL`); `FALSE` draws them all (as `re.form = NA`). Give `use.u` or
#'   `re.form`, not both.
#' @param re.form the random-effect terms to keep at their conditional modes
#'   (whole terms; default `NA`: none).
#' @param newdata optional data frame to simulate for, instead of the fitted rows;
#'   rows with missing values are dropped (padded with `NA` under
#'   `na.action = na.exclude`).
#' @param newparams not supported (an error).
#' @param weights prior weights of the simulated observations (the residual
#'   variance is sigma^2 / weights); by default the fit's, or 1 with `newdata`.
#' @param allow.new.levels allow levels of grouping factors absent from the fit.
#' @param na.action see `newdata`; without `newdata`, [stats::na.exclude] pads the
#'   rows dropped in the fit.
#' @param cond.sim `FALSE` omits the residuals (simulates the conditional means).
#' @param ... unused (a warning names them).
#' @return A data frame with `nsim` columns `sim_1`, `sim_2`, ... and attribute
#'   `"seed"`.
#' @examples
#' fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
#' s <- simulate(fit, nsim = 2, seed = 1)
#' head(s)
#' nd <- data.frame(Days = 0:9, Subject = "new")
#' simulate(fit, seed = 1, newdata = nd, allow.new.levels = TRUE)
#' @export
simulate.lemma_fit <- function(object, nsim = 1, seed = NULL, use.u = FALSE, re.form = NA, newdata = NULL,
                               newparams = NULL, weights = NULL, allow.new.levels = FALSE,
                               na.action = stats::na.pass, cond.sim = TRUE, ...) {
  fn <- "simulate"
  check_dots_unused(list(...), fn)
  if (!is.null(newparams)) check_dots_unused(list(newparams = newparams), fn, error = TRUE)
  check_number(nsim, "nsim", fn, lower = 1, integer = TRUE)
  if (!is.null(seed)) check_number(seed, "seed", fn, integer = TRUE)
  check_flag(use.u, "use.u", fn)
  check_flag(allow.new.levels, "allow.new.levels", fn)
  check_flag(cond.sim, "cond.sim", fn)
  if (!missing(use.u)) {
    if (!missing(re.form)) stop("simulate(): give only one of 'use.u' and 're.form'", call. = FALSE)
    re.form <- if (use.u) NULL else NA
  }
  terms <- object$reterms$terms
  sel <- re_form_selection(object, re.form, fn)
  partial <- which(lengths(sel) > 0L & lengths(sel) < vapply(terms, function(t) length(t$cnms), 1L))
  if (length(partial))
    stop(sprintf("simulate(): 're.form' must keep whole random-effect terms; it keeps only some columns of (%s | %s)",
                 paste(terms[[partial[1]]]$cnms, collapse = " + "), terms[[partial[1]]]$group), call. = FALSE)
  drawn <- which(lengths(sel) == 0L)
  # Rows with missing values are dropped, as lme4 does (its predictions use na.omit).
  des <- prediction_design(object, newdata, lapply(terms, function(t) seq_along(t$cnms)),
                           allow.new.levels, stats::na.omit)
  n <- des$n
  if (is.null(weights)) {
    w <- if (is.null(newdata)) object$weights else rep(1, n)
  } else {
    if (!is.numeric(weights) || length(weights) != n || any(!is.finite(weights)) || any(weights <= 0))
      stop(sprintf("simulate(): 'weights' must be %d positive finite numbers (one per simulated row)", n),
           call. = FALSE)
    w <- as.numeric(weights)
  }
  if (!is.null(seed)) set.seed(seed)
  # A fresh session has no .Random.seed until the generator is first used.
  if (!exists(".Random.seed", envir = .GlobalEnv, inherits = FALSE)) stats::runif(1)
  rng_state <- get(".Random.seed", envir = .GlobalEnv, inherits = FALSE)
  keep_des <- des
  keep_des$sel <- sel
  eta <- design_predictor(object, keep_des, random.only = FALSE)
  # the random effects are drawn first (all simulations), then the residuals, as
  # lme4 draws them; the n x nsim values are formed in one pass in C++ (the
  # bootstrap simulates 1,000 responses at once), as columns of the data frame
  pieces <- if (length(drawn)) simulated_effects(object, des, drawn, nsim) else list()
  scale <- if (all(w == 1)) rep(object$sigma, n) else object$sigma / sqrt(w)
  out <- .simulate_columns(as.numeric(eta), pieces, as.integer(nsim), scale, cond.sim)
  names(out) <- paste0("sim_", seq_len(nsim))
  out <- structure(out, row.names = if (is.null(des$rownames)) .set_row_names(n) else des$rownames,
                   class = "data.frame")
  omit <- if (is.null(newdata)) object$na.action else des$omit
  if (!is.null(omit)) {
    if (!missing(na.action)) {
      cls <- class(attr(match.fun(na.action)(NA), "na.action"))
      class(omit) <- if (is.null(cls) || identical(cls, "NULL")) "omit" else cls
    }
    if (inherits(omit, "exclude")) {
      full <- stats::napredict(omit, stats::setNames(seq_len(n), des$rownames))
      out <- out[full, , drop = FALSE]
      rownames(out) <- names(full)
    }
  }
  structure(out, na.action = omit, seed = rng_state)
}

# Z b for freshly drawn b of the terms `drawn`, as pieces for .simulate_columns():
# per term column r, its values z and the effects B (levels x simulations) with the
# row of B for each observation (map; a row of zeros for a missing level). The
# standard normals are drawn as lme4 draws them: one vector for all terms and
# simulations, terms in lme4's order (formula order, sorted by decreasing number of
# levels present), each term's levels in order (the fit's levels, then new ones as
# they first appear), the term's columns within a level.
simulated_effects <- function(object, des, drawn, nsim) {
  terms <- object$reterms$terms
  # Terms are matched on their written form: the model frame holds the variables,
  # not evaluated columns such as poly(x, 2), so a term's matrix cannot be rebuilt
  # from it.
  formula_order <- vapply(random_terms(object$formula), function(b) {
    lhs <- deparse1(b$lhs[[2]])
    which(vapply(terms, function(t) identical(t$group, b$group) && identical(deparse1(t$lhs[[2]]), lhs),
                 logical(1)))[1]
  }, integer(1))
  # repeated or unmatched terms: draw in the fit's order (no lme4 order to follow)
  if (anyNA(formula_order) || anyDuplicated(formula_order) || length(formula_order) != length(terms))
    formula_order <- seq_along(terms)
  ks <- formula_order[formula_order %in% drawn]
  lev <- lapply(ks, function(k) {
    t <- terms[[k]]
    cd <- des$codes[[k]]
    if (anyNA(cd) && !is.null(t$relchol))
      stop(sprintf("simulate(): the term on '%s' has a relationship matrix; levels absent from it cannot be drawn",
                   t$group), call. = FALSE)
    if (!is.null(t$relchol)) return(list(ids = seq_len(t$nlev), map = cd))
    # new levels get negative ids in order of first appearance, after the fit's
    # levels; a missing grouping value gets no effect (map NA)
    grp <- des$groups[[k]]
    newv <- unique(grp[is.na(cd) & !is.na(grp)])
    g <- ifelse(is.na(cd), -match(grp, newv), cd)
    ids <- c(sort(unique(g[!is.na(g) & g > 0])), -seq_along(newv))
    list(ids = ids, map = match(g, ids))
  })
  nl <- vapply(lev, function(l) length(l$ids), integer(1))
  ord <- if (any(diff(nl) > 0)) rev(order(nl)) else seq_along(nl)
  ps <- vapply(ks, function(k) length(terms[[k]]$cnms), integer(1))
  sizes <- nl[ord] * ps[ord]
  U <- matrix(stats::rnorm(sum(sizes) * nsim), ncol = nsim)
  start <- c(0L, cumsum(sizes))
  out <- list()
  for (j in seq_along(ord)) {
    i <- ord[j]
    t <- terms[[ks[i]]]
    p <- ps[i]
    Z <- des$Z[[ks[i]]]
    map <- lev[[i]]$map
    lam <- object$sigma * theta_to_lambda(object$theta[t$theta_index], p)
    # all simulations at once, column by column of the term: row c of the draws
    # (levels x simulations) is column c of u, so b's column r is sum_c lam[r, c] u_c
    rows <- start[j] + seq_len(sizes[j])
    u <- lapply(seq_len(p), function(c) U[rows[seq.int(c, by = p, length.out = nl[i])], , drop = FALSE])
    # a row without a level (a missing grouping value) gets no effect
    none <- is.na(map)
    if (any(none)) u <- lapply(u, function(x) rbind(x, 0))
    map[none] <- nl[i] + 1L
    for (r in seq_len(p)) {
      b <- Reduce(`+`, lapply(seq_len(r), function(c) lam[r, c] * u[[c]]))
      if (!is.null(t$relchol)) b <- t$relchol %*% b
      z <- as.numeric(Z[, r])
      z[none] <- 0
      out[[length(out) + 1L]] <- list(z = z, B = b, map = as.integer(map))
    }
  }
  out
}

