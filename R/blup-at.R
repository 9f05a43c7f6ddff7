# A subject's current value and rate of change at a time point: BLUPs of the
# subject-specific curve and of its time derivative, for subjects in the fit
# (Henderson, through R/prediction-variance.R) and for new subjects conditioned on
# their own observations (the same quantities with the fit's parameters held fixed).

#' Personal value and slope at a time point
#'
#' For each subject (level of the grouping factor), the best linear unbiased
#' predictor of the subject-specific curve at time `at` (its current value) and of
#' its first derivative in `time` (its current slope), with their standard errors,
#' their covariance and normal intervals. The curve is the model's linear
#' predictor, `x(t)'beta + z(t)'b`, so the slope includes the fixed and random
#' terms in `time` however they are written: `t`, `I(t^2)`, `poly(t, k)`,
#' `splines::ns(t, df)`, interactions with covariates.
#'
#' **Subjects in the fit** (`newdata = NULL`): the BLUPs use the fitted conditional
#' modes. **New subjects** (`newdata` given): every subject in `newdata` is
#' treated as new, whatever its label, and conditioned on its own rows of
#' `newdata` only, with beta, theta and sigma held at the fitted values: the
#' random effects are the mean of `b | y_i`,
#' `G Z_i' V_i^-1 (y_i - X_i beta)` with `V_i = Z_i G Z_i' + sigma^2 I`. Rows with
#' a missing response or covariate do not count as observations (missed visits);
#' a subject with none gets the population curve and the prior variance. New
#' observations have unit prior weight. In both cases every observation is used,
#' including those after `at` (smoothing, not prediction): for a landmark
#' analysis, fit the model to the histories up to the landmark and give new
#' subjects' histories up to the landmark only.
#'
#' **Standard errors** are prediction-error standard deviations of the estimated
#' value (and slope) as predictors of the subject's true value (slope), at the
#' estimated variance parameters, *including* the uncertainty of the fixed
#' effects: for subjects in the fit, sigma^2 times the inverse of Henderson's
#' mixed-model equations (as `predict(se.fit = TRUE)`); for new subjects,
#' `d' V(beta-hat) d + z' (G - G Z_i' V_i^-1 Z_i G) z` with
#' `d = x - X_i' V_i^-1 Z_i G z` (the new subject's data are independent of
#' beta-hat). A subject's true value is population curve plus its own deviation,
#' and both are estimated, so both uncertainties belong in the error. `cov` is
#' the covariance of the two prediction errors. Intervals use the normal quantile.
#'
#' **The slope** is obtained by differentiating the model matrices built from the
#' model's own terms (with their stored `poly()` coefficients and spline knots):
#' the five-point central difference with step `h = 1e-4` times the spread of
#' the times, which is exact up to rounding for every piece that is a polynomial
#' of degree at most 4 in time (`t`, `I(t^2)`, `poly()`, the cubic pieces of
#' `ns()` and `bs()`; a knot within `2h` of `at` adds an error of order `h^3`).
#'
#' Covariates other than `time` are taken from the subject's rows and must be
#' constant within a subject (an error names the column otherwise).
#'
#' @param fit a fit from [lmm()].
#' @param at the time point(s): a numeric vector; the result has a row per
#'   subject per time point.
#' @param time name of the numeric time variable of the model (a column of the
#'   data).
#' @param newdata optional data frame of new subjects' observations (response,
#'   time, covariates and grouping factor), see Details.
#' @param level confidence level of the intervals.
#' @param group the grouping factor whose levels are the subjects; by default the
#'   one of the random-effect terms in `time` (or the only one).
#' @return A data frame with a column named as the grouping factor (the subject,
#'   character), `at`, `value`, `value_se`, `slope`, `slope_se`, `cov`,
#'   `value_lwr`, `value_upr`, `slope_lwr`, `slope_upr` and `n_obs` (the
#'   subject's observations used); attributes `time`, `group`, `level`.
#' @examples
#' fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
#' head(blup_at(fit, at = 9, time = "Days"))
#' # a new subject, from its first four days only
#' new <- data.frame(Subject = "new", Days = 0:3, Reaction = c(250, 270, 300, 310))
#' blup_at(fit, at = 3, time = "Days", newdata = new)
#' # a quadratic population curve: the slope differentiates it
#' fit2 <- lmm(Reaction ~ poly(Days, 2) + (Days | Subject), sleepstudy)
#' head(blup_at(fit2, at = c(0, 9), time = "Days"))
#' @export
blup_at <- function(fit, at, time = "t", newdata = NULL, level = 0.95, group = NULL) {
  fn <- "blup_at"
  check_fit(fit, fn)
  if (!is.numeric(at) || !length(at) || any(!is.finite(at)))
    stop("blup_at(): 'at' must be one or more finite numbers (time points)", call. = FALSE)
  check_level(level, fn)
  if (!is.null(newdata) && !is.data.frame(newdata))
    stop("blup_at(): 'newdata' must be a data frame of the new subjects' observations", call. = FALSE)
  tr <- trajectory_setup(fit, time, group, fn, newdata)
  src <- if (is.null(newdata)) variables_data(fit) else as.data.frame(newdata)
  subj <- subject_templates(fit, tr, src, fn, new = !is.null(newdata))
  ns <- nrow(subj$rows)
  rows <- subj$rows[rep(seq_len(ns), length(at)), , drop = FALSE]
  tt <- rep(as.numeric(at), each = ns)
  des <- trajectory_designs(fit, rows, tr$time, tt, tr$h)
  est <- if (is.null(newdata)) blup_at_fitted(fit, des) else blup_at_new(fit, des, tr, src, subj)
  n_obs <- if (is.null(newdata)) tabulate(subj$code, ns) else est$n_obs
  z <- stats::qnorm((1 + level) / 2)
  out <- data.frame(subj$ids[rep(seq_len(ns), length(at))], at = tt,
                    value = est$value, value_se = sqrt(est$vv), slope = est$slope, slope_se = sqrt(est$vs),
                    cov = est$cvs, stringsAsFactors = FALSE)
  names(out)[1] <- tr$group
  out$value_lwr <- out$value - z * out$value_se
  out$value_upr <- out$value + z * out$value_se
  out$slope_lwr <- out$slope - z * out$slope_se
  out$slope_upr <- out$slope + z * out$slope_se
  out$n_obs <- rep(n_obs, length(at))
  rownames(out) <- NULL
  structure(out, time = tr$time, group = tr$group, level = level)
}

# Subjects in the fit: the estimates from the conditional modes, the variances from
# Henderson's equations; cov(value, slope) from the variance of their sum.
blup_at_fitted <- function(fit, des) {
  value <- design_predictor(fit, des$value, FALSE)
  slope <- design_predictor(fit, des$slope, FALSE)
  sum_des <- des$value
  sum_des$X <- des$value$X + des$slope$X
  sum_des$Z <- Map(function(a, b) if (!is.null(a)) a + b, des$value$Z, des$slope$Z)
  v <- prediction_se(fit, stack_designs(list(des$value, des$slope, sum_des)), FALSE)^2
  n <- des$value$n
  vv <- v[seq_len(n)]
  vs <- v[n + seq_len(n)]
  list(value = value, slope = slope, vv = vv, vs = vs, cvs = (v[2 * n + seq_len(n)] - vv - vs) / 2)
}

# New subjects: per subject, b | y_i in the spherical coordinates u (b = Lambda u),
# where A = W'W + I with W = Z_i Lambda is well conditioned even when Lambda is
# singular: E(b | y_i) = Lambda A^-1 W' r, Var(b | y_i) = sigma^2 Lambda A^-1 Lambda',
# d b-hat / d beta = -Lambda A^-1 W' X_i.
blup_at_new <- function(fit, des, tr, src, subj) {
  if (any(fit$weights != 1))
    warning("blup_at(): the fit has prior weights; the new subjects' observations are given weight 1", call. = FALSE)
  terms <- fit$reterms$terms
  ks <- tr$terms
  lam <- as.matrix(Matrix::bdiag(lapply(ks, function(k)
    theta_to_lambda(fit$theta[terms[[k]]$theta_index], length(terms[[k]]$cnms)))))
  s2 <- fit$sigma^2
  Vb <- vcov_beta(fit)
  beta <- fit$beta
  y <- new_response(fit, src, "blup_at")
  sel <- lapply(seq_along(terms), function(k) if (k %in% ks) seq_along(terms[[k]]$cnms) else integer(0))
  od <- prediction_design(fit, src, sel, TRUE, stats::na.pass)
  Zo <- do.call(cbind, od$Z[ks])
  ok <- is.finite(y) & !od$bad & rowSums(!is.finite(Zo)) == 0 & subj$code > 0
  Zv <- do.call(cbind, des$value$Z[ks])
  Zs <- do.call(cbind, des$slope$Z[ks])
  ns <- length(subj$ids)
  ne <- des$value$n
  out <- list(value = numeric(ne), slope = numeric(ne), vv = numeric(ne), vs = numeric(ne), cvs = numeric(ne))
  out$n_obs <- integer(ns)
  obs <- split(which(ok), factor(subj$code[ok], levels = seq_len(ns)))
  for (i in seq_len(ns)) {
    r <- obs[[i]]
    out$n_obs[i] <- length(r)
    e <- seq(i, ne, by = ns)    # this subject's evaluation rows (one per time point)
    W <- Zo[r, , drop = FALSE] %*% lam
    A <- crossprod(W) + diag(ncol(W))
    Ai <- chol2inv(chol(A))
    res <- y[r] - drop(od$X[r, , drop = FALSE] %*% beta) - od$offset[r]
    bhat <- lam %*% (Ai %*% crossprod(W, res))
    Cb <- s2 * lam %*% Ai %*% t(lam)
    K <- -lam %*% Ai %*% crossprod(W, od$X[r, , drop = FALSE])
    for (j in e) {
      zc <- rbind(Zv[j, ], Zs[j, ])
      D <- rbind(des$value$X[j, ], des$slope$X[j, ]) + zc %*% K
      V <- D %*% Vb %*% t(D) + zc %*% Cb %*% t(zc)
      est <- drop(rbind(des$value$X[j, ], des$slope$X[j, ]) %*% beta + zc %*% bhat) +
        c(des$value$offset[j], des$slope$offset[j])
      out$value[j] <- est[1]
      out$slope[j] <- est[2]
      out$vv[j] <- V[1, 1]
      out$vs[j] <- V[2, 2]
      out$cvs[j] <- V[1, 2]
    }
  }
  out
}

# The new subjects' observations: the model's left-hand side evaluated in newdata.
new_response <- function(fit, src, fn) {
  lhs <- deparse1(fit$formula[[2]])
  y <- tryCatch(eval(fit$formula[[2]], src, environment(fit$formula)), error = function(e)
    stop(sprintf("%s(): 'newdata' must give the response %s of the new subjects' observations (%s)",
                 fn, lhs, conditionMessage(e)), call. = FALSE))
  if (!is.numeric(y) || length(y) != nrow(src))
    stop(sprintf("%s(): the response %s in 'newdata' must be numeric, one value per row", fn, lhs), call. = FALSE)
  as.numeric(y)
}

# Checks the time variable and the grouping factor; returns the time name, the
# group, the indices of the terms on it, the variables that must be constant
# within a subject, and the differentiation step.
trajectory_setup <- function(fit, time, group, fn, newdata = NULL) {
  if (!is.character(time) || length(time) != 1L || is.na(time))
    stop(sprintf("%s(): 'time' must be the name of the time variable (a string)", fn), call. = FALSE)
  if (!is.null(fit$spectral) || any(vapply(fit$reterms$terms, function(t) !is.null(t$relchol), logical(1))))
    stop(sprintf("%s(): fits with a relationship matrix (relmat) are not supported", fn), call. = FALSE)
  fr <- variables_data(fit)
  terms <- fit$reterms$terms
  lhs_vars <- unique(unlist(lapply(terms, function(t) all.vars(t$lhs_terms))))
  fixed_vars <- all.vars(stats::delete.response(fit$fixed_terms))
  model_vars <- unique(c(fixed_vars, lhs_vars))
  if (!time %in% model_vars) {
    num <- model_vars[vapply(model_vars, function(v) v %in% names(fr) && is.numeric(fr[[v]]), logical(1))]
    stop(sprintf("%s(): 'time' = \"%s\" is not a variable of the model's fixed or random terms%s", fn, time,
                 if (length(num)) sprintf(" (numeric variables: %s)", paste(num, collapse = ", ")) else ""),
         call. = FALSE)
  }
  if (!is.numeric(fr[[time]]))
    stop(sprintf("%s(): the time variable '%s' must be numeric (it is %s)", fn, time, class(fr[[time]])[1]),
         call. = FALSE)
  groups <- vapply(terms, function(t) t$group, character(1))
  if (is.null(group)) {
    in_time <- unique(groups[vapply(terms, function(t) time %in% all.vars(t$lhs_terms), logical(1))])
    cand <- if (length(in_time)) in_time else unique(groups)
    if (length(cand) != 1L)
      stop(sprintf("%s(): give 'group', the grouping factor of the subjects: one of %s", fn,
                   paste0("\"", unique(groups), "\"", collapse = ", ")), call. = FALSE)
    group <- cand
  } else if (!is.character(group) || length(group) != 1L || !group %in% groups) {
    stop(sprintf("%s(): 'group' must be one of the model's grouping factors: %s", fn,
                 paste0("\"", unique(groups), "\"", collapse = ", ")), call. = FALSE)
  }
  ks <- which(groups == group)
  gvars <- all.vars(str2lang(group))
  if (time %in% gvars) stop(sprintf("%s(): the time variable '%s' is part of the grouping factor '%s'", fn, time, group),
                            call. = FALSE)
  others <- which(groups != group)
  if (!is.null(newdata) && length(others))
    stop(sprintf("%s(): new subjects ('newdata') are supported when every random-effect term is on '%s'; the model also has (%s | %s)",
                 fn, group, paste(terms[[others[1]]]$cnms, collapse = " + "), groups[others[1]]), call. = FALSE)
  other_g <- unique(unlist(lapply(others, function(k) all.vars(str2lang(groups[k])))))
  constant <- setdiff(unique(c(model_vars, other_g)), c(time, gvars))
  spread <- max(diff(range(fr[[time]])), abs(fr[[time]]))
  list(time = time, group = group, terms = ks, gvars = gvars, constant = constant,
       h = 1e-4 * if (spread > 0) spread else 1)
}

# One template row per subject (its first row with all covariates present) and the
# subject index of every row of `src` (0: no subject). Covariates must not vary
# within a subject: the value "at time t" would not be defined.
subject_templates <- function(fit, tr, src, fn, new) {
  t1 <- fit$reterms$terms[[tr$terms[1]]]
  need <- c(tr$constant, tr$time, tr$gvars)
  absent <- setdiff(need, names(src))
  if (length(absent))
    stop(sprintf("%s(): 'newdata' has no column %s", fn, paste0("'", absent, "'", collapse = ", ")), call. = FALSE)
  g <- new_group_values(t1, src)
  ids <- if (new) unique(g[!is.na(g)]) else levels(t1$factor)
  if (!length(ids)) stop(sprintf("%s(): 'newdata' has no subject (all values of '%s' are missing)", fn, tr$group),
                         call. = FALSE)
  code <- match(g, ids, nomatch = 0L)
  if (new && anyNA(g))
    warning(sprintf("%s(): %d row(s) of 'newdata' with a missing '%s' belong to no subject and were not used",
                    fn, sum(is.na(g)), tr$group), call. = FALSE)
  for (v in tr$constant) {
    x <- src[[v]]
    keep <- code > 0 & !is.na(x)
    nu <- tapply(as.character(x[keep]), code[keep], function(a) length(unique(a)))
    if (any(nu > 1))
      stop(sprintf("%s(): the column '%s' varies within subject '%s' of '%s'; covariates other than '%s' must be constant within a subject",
                   fn, v, ids[as.integer(names(nu)[which(nu > 1)[1]])], tr$group, tr$time), call. = FALSE)
  }
  complete <- stats::complete.cases(src[tr$constant])
  first <- match(seq_along(ids), ifelse(complete, code, 0L))
  if (anyNA(first)) {
    i <- which(is.na(first))[1]
    miss <- tr$constant[vapply(tr$constant, function(v) all(is.na(src[[v]][code == i])), logical(1))]
    stop(sprintf("%s(): subject '%s' has no row with all of its covariates (%s)", fn, ids[i],
                 paste(if (length(miss)) miss else tr$constant, collapse = ", ")), call. = FALSE)
  }
  rows <- src[first, , drop = FALSE]
  rows[[tr$time]] <- as.numeric(rows[[tr$time]])
  list(ids = ids, rows = rows, code = code)
}

# The designs (prediction_design()) of the value and of its time derivative at the
# times `tt`, one per row of `rows`: the derivative's model matrices and offset by
# the five-point central difference of those built at tt +- h, tt +- 2h (warnings
# from spline bases evaluated just outside their boundary knots are not the user's
# concern there).
trajectory_designs <- function(fit, rows, time, tt, h) {
  sel <- lapply(fit$reterms$terms, function(t) seq_along(t$cnms))
  at_time <- function(x) {
    r <- rows
    r[[time]] <- x
    prediction_design(fit, r, sel, TRUE, stats::na.pass)
  }
  value <- at_time(tt)
  w <- c(1, -8, 8, -1) / (12 * h)
  pts <- lapply(c(-2, -1, 1, 2), function(s) suppressWarnings(at_time(tt + s * h)))
  comb <- function(get) Reduce(`+`, Map(function(d, wi) wi * get(d), pts, w))
  slope <- value
  slope$X <- comb(function(d) d$X)
  slope$offset <- comb(function(d) d$offset)
  slope$Z <- lapply(seq_along(sel), function(k) comb(function(d) d$Z[[k]]))
  list(value = value, slope = slope)
}

# Designs with the same terms stacked by rows.
stack_designs <- function(ds) {
  out <- ds[[1]]
  out$n <- sum(vapply(ds, function(d) d$n, numeric(1)))
  out$X <- do.call(rbind, lapply(ds, function(d) d$X))
  out$offset <- unlist(lapply(ds, function(d) d$offset))
  out$bad <- unlist(lapply(ds, function(d) d$bad))
  out$rownames <- seq_len(out$n)
  out$codes <- lapply(seq_along(out$codes), function(k) unlist(lapply(ds, function(d) d$codes[[k]])))
  out$Z <- lapply(seq_along(out$Z), function(k) do.call(rbind, lapply(ds, function(d) d$Z[[k]])))
  out
}
