# Fitting: the profiled objective as a function of theta, its optimization, and the
# fitted-model object. Each step can be called alone (as lme4's mkLmerDevfun,
# optimizeLmer, mkMerMod).

#' Fit a linear mixed-effects model
#'
#' Fits `y ~ fixed + (terms | group)` models, written in lme4's syntax, by
#' penalized least squares with the profiled REML or ML criterion. The cross-product
#' of `[Z X y]` is formed once in blocks (C++), and each evaluation of the criterion
#' updates only a blocked Cholesky factor, so it costs the same for any number of
#' observations. A model whose only random-effect term is `(1 | id)` with a
#' relationship matrix and one observation per level is fitted by the spectral
#' method instead (see [lmm_devfun_spectral()]), with the same criterion.
#'
#' @param formula a two-sided formula with fixed effects and random-effect terms
#'   `(lhs | group)`; `(lhs || group)` for uncorrelated effects, `a/b` for nesting,
#'   `a:b` for an interaction as grouping factor, `offset()` terms. At most one
#'   residual covariance term in the mmrm package's notation: `us(visit | id)`
#'   (unstructured), `toep`, `ar1`, `cs`, `ad` and their heterogeneous forms `toeph`,
#'   `ar1h`, `csh`, `adh`; `us(visit | arm / id)` for one structure per level of
#'   `arm`. `visit` must be a factor; a subject contributes the visits it has. Such a
#'   model gives a fit of class `"lemma_covfit"` (see [covfit-methods]).
#' @param data a data frame (a matrix or list with named columns is read as one, as
#'   lme4 reads it).
#' @param REML `TRUE` (default) for REML, `FALSE` for maximum likelihood.
#' @param weights optional prior weights (positive), a column of `data` or a vector.
#' @param offset optional offset, added to the linear predictor.
#' @param subset optional expression selecting rows of `data`.
#' @param na.action how to handle missing values: `na.omit` (default) drops
#'   incomplete rows; `na.exclude` also pads fitted values and residuals back to the
#'   rows of the data.
#' @param contrasts optional list of contrasts for factors in the fixed part.
#' @param relmat optional named list of known covariance (relationship) matrices
#'   over the levels of grouping factors, e.g. `list(id = K)`; dimnames name levels.
#' @param control a list from [lmm_control()].
#' @param dispformula optional one-sided formula for a residual variance per level
#'   of a factor (glmmTMB's argument; nlme's `weights = varIdent(form = ~ 1 | f)`,
#'   SAS's `REPEATED / GRP = f`): `~ f` gives each level of `f` its own residual
#'   variance, `~ a:b` (or `~ a * b`) one per combination of levels that occurs.
#'   Only factors (or character columns) and their interactions are allowed; an
#'   additive `~ a + b` (glmmTMB's log-linear variance model) is refused. `~ 1`
#'   (or `NULL`, the default) is the usual single residual variance. Combines with
#'   any random-effect terms, e.g. the FDA's replicate-design model
#'   `log(PK) ~ sequence + period + treatment + (0 + treatment | subject)` with
#'   `dispformula = ~ treatment`. Prior `weights` divide each row's variance
#'   (nlme's `varComb(varIdent(), varFixed(~ 1 / w))`); a residual covariance
#'   term, `offset` and `relmat` are errors with it. The fit has class `"lemma_covfit"`
#'   (see [covfit-methods]); `sigma()` is the residual standard deviation of the
#'   first level, `VarCorr()` gives every level's variance.
#' @return An object of class `"lemma_fit"`; see its methods: `summary`, `fixef`,
#'   `ranef`, `VarCorr`, `predict`, `anova`, ... (`"lemma_covfit"` with a residual
#'   covariance term or `dispformula`).
#' @examples
#' fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
#' fit
#' fixef(fit)
#' # a residual variance per formulation in a replicate crossover
#' be <- lmm(log(PK) ~ sequence + period + treatment + (0 + treatment | subject), rds11,
#'           dispformula = ~ treatment)
#' VarCorr(be)
#' @export
lmm <- function(formula, data = NULL, REML = TRUE, weights, offset, subset, na.action,
                contrasts = NULL, relmat = NULL, control = lmm_control(), dispformula = NULL) {
  check_flag(REML, "REML", "lmm")
  check_control(control, "lmm")
  mc <- match.call()
  disp <- dispersion_term(dispformula)
  if (!is.null(disp) || has_covstruct(formula)) return(lmm_covstruct(mc, parent.frame(), REML, control, disp))
  fc <- mc
  fc[[1L]] <- quote(lemma::lmm_frame)
  fc$REML <- NULL
  fc$control <- NULL
  fc$dispformula <- NULL
  frame <- eval(fc, parent.frame())
  devfun <- if (spectral_applies(frame)) lmm_devfun_spectral(frame, REML = REML) else {
    th <- start_theta(frame)
    interior <- attr(th, "interior")
    attr(th, "interior") <- NULL
    frame$reterms$theta <- th
    # Newton steps from this start only (not from a later warm start of the same
    # frame) and only when it is a moment start inside its limits
    if (isTRUE(interior)) frame$reterms$newton_start <- th
    lmm_devfun(frame, REML = REML, threads = control$threads)
  }
  opt <- lmm_optimize(devfun, control)
  # the start's flag is for this optimization only, not for refits of the stored frame
  if (!is.null(environment(devfun)$frame$reterms$newton_start))
    environment(devfun)$frame$reterms$newton_start <- NULL
  lmm_object(devfun, opt, mc)
}

# Starting values for the scalar terms (one column, no relationship matrix): the
# least-squares residuals are fitted by each term's level means in turn (three
# sweeps, coarsest term first, so that a nested term does not absorb the term it is
# nested in); the spread of a term's fitted means beyond what the residual noise
# gives is its variance. lme4's start, theta = 1, can be far from the optimum
# (InstEval's dept:service term is near 0.09) and BOBYQA then spends most of its
# evaluations getting there. Vector terms start from the spread of per-level
# least-squares coefficients (vector_start()). The restarts and boundary checks of
# lmm_optimize() do not depend on the start. The attribute "interior" is TRUE when
# every term has a moment start strictly inside its limits (no variance estimated at
# or below the lower limit: a model that is not near a singular fit), the case where
# lmm_optimize() starts with Newton steps.
start_theta <- function(frame) {
  theta <- frame$reterms$theta
  scalar <- Filter(function(tm) length(tm$cnms) == 1L && is.null(tm$relchol), frame$reterms$terms)
  vector <- Filter(function(tm) length(tm$cnms) > 1L && is.null(tm$relchol), frame$reterms$terms)
  if (!length(scalar) && !length(vector)) return(theta)
  sw <- sqrt(frame$weights)
  unweighted <- all(sw == 1)  # no copy of X for the common case
  r <- ls_residuals(if (unweighted) frame$X else frame$X * sw, (frame$y - frame$offset) * sw)
  scale <- reterms_theta_scale(frame$reterms)
  interior <- length(scalar) + length(vector) == length(frame$reterms$terms)
  for (tm in vector) {
    th <- vector_start(tm, r, sw, scale[tm$theta_index])
    interior <- interior && isTRUE(attr(th, "interior"))
    if (!is.null(th)) theta[tm$theta_index] <- th
  }
  if (!length(scalar)) return(structure(theta, interior = interior))
  scalar <- scalar[order(vapply(scalar, function(tm) tm$nlev, numeric(1)))]
  x <- lapply(scalar, function(tm) tm$X[, 1L] * sw)
  # sums by level over the integer codes (every level, used or not, has its row)
  codes <- lapply(scalar, function(tm) as.integer(tm$factor))
  idx <- vapply(scalar, function(tm) tm$theta_index, integer(1))
  # Not on the bound 0: BOBYQA's first steps would not leave it in every direction.
  # The limits hold on the optimizer's scale (theta * theta_scale, R/scaling.R).
  sc <- scale[idx]
  # Scalar terms on one grouping factor, as (x || g) gives, start from the diagonal
  # of the covariance of per-level coefficients of their columns together (as the
  # vector term (x | g) does) where it is inside the limits: the back-fitting below
  # splits the levels' variation between them poorly (sleepstudy's slope 0.14
  # against 0.23 at the optimum, six Newton steps instead of three).
  group <- vapply(scalar, function(tm) tm$group, "")
  grouped <- rep(NA_real_, length(scalar))
  for (g in unique(group[duplicated(group)])) {
    k <- which(group == g)
    S <- level_coef_cov(do.call(cbind, x[k]), codes[[k[1]]], scalar[[k[1]]]$nlev, r, sc[k])
    if (!is.null(S) && all(diag(S) > 0.05^2 & diag(S) < 10^2)) grouped[k] <- sqrt(diag(S)) / sc[k]
  }
  covered <- !is.na(grouped)
  theta[idx[covered]] <- grouped[covered]
  if (all(covered)) return(structure(theta, interior = interior))
  # The other scalar terms: level means of the residuals fitted term by term.
  total <- sum(r^2) / length(r)
  level_sums <- function(v, k) .group_sums(codes[[k]], as.matrix(v), scalar[[k]]$nlev)[, 1L]
  sxx <- lapply(seq_along(scalar), function(k) level_sums(x[[k]]^2, k))
  eff <- lapply(sxx, function(s) numeric(length(s)))
  for (sweep in 1:3) for (k in seq_along(scalar)) {
    f <- codes[[k]]
    r <- r + eff[[k]][f] * x[[k]]
    e <- level_sums(x[[k]] * r, k) / sxx[[k]]
    eff[[k]] <- ifelse(sxx[[k]] > 0, e, 0)
    r <- r - eff[[k]][f] * x[[k]]
  }
  df <- length(r) - ncol(frame$X) - sum(vapply(sxx, function(s) sum(s > 0), numeric(1)))
  s2 <- max(sum(r^2) / max(df, 1), 0.05 * total)
  v <- vapply(seq_along(scalar), function(k) {
    ok <- sxx[[k]] > 0
    max(mean(eff[[k]][ok]^2) - s2 * mean(1 / sxx[[k]][ok]), 0)
  }, numeric(1))
  rel <- sqrt(v / s2) * sc
  interior <- interior && all(rel[!covered] > 0.05 & rel[!covered] < 10)
  theta[idx[!covered]] <- pmin(pmax(rel[!covered], 0.05), 10) / sc[!covered]
  structure(theta, interior = interior)
}

# Least-squares residuals for the starting values: by the normal equations (a
# cross-product instead of a QR decomposition: InstEval's 73,421 x 28 design, 45 ->
# 5 ms), by QR when X'X is not clearly positive definite.
ls_residuals <- function(X, y) {
  if (!ncol(X)) return(y)
  R <- tryCatch(chol(crossprod(X)), error = function(e) NULL)
  if (is.null(R) || min(diag(R)) < 1e-6 * max(diag(R))) return(stats::lm.fit(X, y)$residuals)
  drop(y - X %*% backsolve(R, backsolve(R, crossprod(X, y), transpose = TRUE)))
}

# Start of a vector term (p columns, no relationship matrix) from the least-squares
# residuals r: each level with more than p observations and a nonsingular X_l'X_l
# gets its own coefficients b_l = (X_l'X_l)^-1 X_l' r_l; their covariance over levels,
# less the sampling part s2 * mean((X_l'X_l)^-1), estimates the covariance of the
# random effects, and s2 (pooled within-level residual variance) is sigma^2. The
# relative covariance, when its eigenvalues lie within (0.05^2, 10^2) on the
# optimizer's scale (the scalar terms' limits), gives the start through its
# Cholesky factor. lme4's identity start is far from the optimum of a random slope
# on a long time axis (theta near 0.26 for a slope sd a quarter of the residual sd),
# and BOBYQA spent most of its evaluations getting there. NULL (identity start) when
# fewer than 2p + 2 levels are usable or the estimate is outside those limits. All
# sums run over levels at once (.group_sums), the small per-level solves by loops over p.
vector_start <- function(tm, r, sw, scale) {
  p <- length(tm$cnms)
  S <- level_coef_cov(tm$X * sw, as.integer(tm$factor), tm$nlev, r, scale_rows(scale, p))
  if (is.null(S)) return(NULL)
  e <- eigen(S, symmetric = TRUE)
  # A covariance estimated near singular (or huge) keeps the identity start, from
  # which BOBYQA reaches such optima (a start with clamped eigenvalues, near the
  # boundary, ran into maxfun on a flat quadratic-in-x term).
  if (!all(e$values > 0.05^2 & e$values < 10^2)) return(NULL)
  lam <- t(chol(S)) / scale_rows(scale, p)
  structure(lam[lower.tri(lam, diag = TRUE)], interior = TRUE)
}

# The moment estimate of the relative covariance of per-level coefficients (see
# vector_start()) of the n x p matrix X (weighted) on the integer level codes f, on
# the optimizer's scale (row_scale: each column's); NULL when fewer than 2p + 2
# levels are usable.
level_coef_cov <- function(X, f, nlev, r, row_scale) {
  p <- ncol(X)
  # the levels present, in the order of their codes
  nl <- tabulate(f, nlev)
  present <- nl > 0
  nl <- nl[present]
  # XtX[[a, b]] and Xtr[[a]]: one vector over levels per entry, from one pass of
  # sums by level over all the products
  pairs <- which(lower.tri(diag(p), diag = TRUE), arr.ind = TRUE)
  prods <- cbind(X[, pairs[, 1L]] * X[, pairs[, 2L]], X * r, r^2)
  sums <- .group_sums(f, prods, nlev)[present, , drop = FALSE]
  XtX <- matrix(list(), p, p)
  for (j in seq_len(nrow(pairs))) XtX[[pairs[j, 1L], pairs[j, 2L]]] <- sums[, j]
  Xtr <- lapply(seq_len(p), function(a) sums[, nrow(pairs) + a])
  rtr <- sums[, nrow(pairs) + p + 1L]
  # per-level Cholesky of X_l'X_l (lower, vectorized over levels)
  ok <- nl > p
  if (sum(ok) < 2L * p + 2L) return(NULL)
  Lc <- matrix(list(), p, p)
  for (j in seq_len(p)) {
    d <- XtX[[j, j]]
    for (k in seq_len(j - 1L)) d <- d - Lc[[j, k]]^2
    ok <- ok & d > 1e-10 * XtX[[j, j]]
    d <- sqrt(pmax(d, 1e-300))
    Lc[[j, j]] <- d
    for (i in seq_len(p - j) + j) {
      v <- XtX[[i, j]]
      for (k in seq_len(j - 1L)) v <- v - Lc[[i, k]] * Lc[[j, k]]
      Lc[[i, j]] <- v / d
    }
  }
  if (sum(ok) < 2L * p + 2L) return(NULL)
  # z = L^-1 X'r; b = L^-T z; rss = r'r - z'z; Li = L^-1 for mean((X'X)^-1) = mean(Li' Li)
  z <- vector("list", p)
  Li <- matrix(list(), p, p)
  for (i in seq_len(p)) {
    v <- Xtr[[i]]
    for (k in seq_len(i - 1L)) v <- v - Lc[[i, k]] * z[[k]]
    z[[i]] <- v / Lc[[i, i]]
    for (j in seq_len(i)) {
      v <- as.numeric(i == j)
      for (k in seq_len(i - 1L)[seq_len(i - 1L) >= j]) v <- v - Lc[[i, k]] * Li[[k, j]]
      Li[[i, j]] <- v / Lc[[i, i]]
    }
  }
  b <- vector("list", p)
  for (i in rev(seq_len(p))) {
    v <- z[[i]]
    for (k in seq_len(p - i) + i) v <- v - Lc[[k, i]] * b[[k]]
    b[[i]] <- v / Lc[[i, i]]
  }
  rss <- rtr - Reduce(`+`, lapply(z, function(v) v^2))
  s2 <- sum(rss[ok]) / sum(nl[ok] - p)
  if (!is.finite(s2) || s2 <= 0) return(NULL)
  B <- do.call(cbind, lapply(b, function(v) v[ok]))
  Vinv <- matrix(0, p, p)
  for (a in seq_len(p)) for (c in seq_len(a)) {
    v <- 0
    for (k in seq_len(p)[seq_len(p) >= a]) v <- v + Li[[k, a]][ok] * Li[[k, c]][ok]
    Vinv[a, c] <- Vinv[c, a] <- mean(v)
  }
  S <- (stats::cov(B) / s2 - Vinv) * tcrossprod(row_scale)
  if (!all(is.finite(S))) return(NULL)
  S
}

# The optimizer's scale of each row of a p x p factor, from the scale of theta's
# elements (column-wise lower triangle; a row's scale is that of its diagonal).
scale_rows <- function(scale, p) {
  lt <- lower.tri(diag(p), diag = TRUE)
  scale[row(diag(p))[lt] == col(diag(p))[lt]]
}

#' Control settings for lmm()
#'
#' @param rhoend final trust-region radius of the BOBYQA optimizer (theta scale);
#'   Newton steps (`polish`) take the estimate the rest of the way. A number in
#'   (0, 0.1].
#' @param maxfun maximum number of evaluations of the objective in each BOBYQA run
#'   (a whole number, at least 10; at least `2 * length(theta) + 2` for the model at
#'   hand). Reaching it gives a warning.
#' @param polish at most this many Newton steps (finite-difference gradient and
#'   Hessian) after BOBYQA: derivative-free optimizers crawl on flat objectives
#'   (steep random slopes, several correlated effects); Newton steps converge
#'   quadratically there. `0` skips them (the gradient at the solution is still
#'   measured for the convergence check) and the Newton steps from the start
#'   (at most `3 * polish`, see [lmm_optimize()]).
#' @param singular_tol a fit is reported as singular (boundary) by `print()` and
#'   `summary()` when a diagonal element of theta is below this; the convergence
#'   check on the Hessian is skipped for such fits, as lme4 skips it.
#' @param threads OpenMP threads for the largest dense factorizations (a whole
#'   number >= 1). The default is the option `lemma.threads` when set, else the
#'   environment variable `OMP_NUM_THREADS` when set, else 1. The same call
#'   gives identical results every time. With several threads the work is split
#'   into the same pieces whatever their number, so any `threads` >= 2 gives the
#'   same bits; one thread (faster alone) can differ from them in the last
#'   digits for models with a dense block of 256 or more random effects. More
#'   than one thread helps only on an otherwise idle
#'   machine: when another process holds a core, every synchronization point of
#'   the factorization can stall for a scheduler time slice.
#' @return A list of settings, of class `"lemma_control"`.
#' @examples
#' lmm_control(maxfun = 5000)
#' @export
lmm_control <- function(rhoend = 1e-3, maxfun = 10000L, polish = 4L, singular_tol = 1e-4,
                        threads = NULL) {
  fn <- "lmm_control"
  if (is.null(threads)) threads <- default_threads(1L, fn)
  check_number(rhoend, "rhoend", fn, lower = .Machine$double.eps, upper = 0.1)
  check_number(maxfun, "maxfun", fn, lower = 10, integer = TRUE)
  check_number(polish, "polish", fn, lower = 0, integer = TRUE)
  check_number(singular_tol, "singular_tol", fn, lower = 0, upper = 1)
  check_number(threads, "threads", fn, lower = 1, integer = TRUE)
  structure(list(rhoend = rhoend, maxfun = as.integer(maxfun), polish = as.integer(polish),
                 singular_tol = singular_tol, threads = as.integer(threads)),
            class = "lemma_control")
}

#' @export
print.lemma_control <- function(x, ...) {
  cat("lmm_control():\n")
  utils::str(unclass(x), no.list = TRUE, give.head = TRUE)
  invisible(x)
}

# `control` must come from lmm_control(): a hand-made list could lack settings or
# hold unchecked values.
check_control <- function(control, fn) {
  if (!inherits(control, "lemma_control"))
    stop(sprintf("%s(): 'control' must be the result of lmm_control(), e.g. control = lmm_control(maxfun = 5000)", fn),
         call. = FALSE)
  invisible(control)
}

#' The profiled REML/ML criterion of a model as a function of theta
#'
#' Forms the blocked cross-product matrix once (in C++) and returns a function of
#' theta giving the REML criterion or the deviance (-2 log-likelihood), with beta
#' and sigma profiled out, as lme4's `REMLcrit()` / `deviance()` define them.
#'
#' @param frame the result of [lmm_frame()].
#' @param REML logical.
#' @param ptr optional C++ model of the same frame to reuse (its cross-products
#'   do not depend on REML).
#' @param threads threads for the largest dense factorizations.
#' @return A function of theta. Its environment holds `frame`, `REML`, the C++
#'   model (`ptr`), `gradient`: the exact gradient as a function of theta for a
#'   model with a single random-effect term and no relationship matrix, else `NULL`,
#'   and `start_gradient`: the exact gradient for every model without a
#'   relationship matrix (several terms: two to four evaluations' cost), else `NULL`;
#'   `start_gradient(theta, hessian = TRUE)` also gives, as its attribute
#'   `"hessian"`, the average-information approximation of the Hessian.
#' @examples
#' fr <- lmm_frame(Reaction ~ Days + (Days | Subject), sleepstudy)
#' f <- lmm_devfun(fr)
#' f(c(1, 0, 1))
#' @export
lmm_devfun <- function(frame, REML = TRUE, ptr = NULL, threads = 1L) {
  if (!inherits(frame, "lmm_frame")) stop("lmm_devfun(): 'frame' must be the result of lmm_frame()", call. = FALSE)
  check_flag(REML, "REML", "lmm_devfun")
  check_number(threads, "threads", "lmm_devfun", lower = 1, integer = TRUE)
  if (is.null(ptr)) ptr <- new_model_ptr(frame, threads)
  logw <- sum(log(frame$weights))
  # The exact gradient (src/derivatives.cpp) where it costs about one evaluation: a
  # single term without a relationship matrix, whose M is block diagonal by level.
  # lmm_optimize() then takes its Newton steps from it instead of finite differences.
  no_relmat <- all(vapply(frame$reterms$terms, function(tm) is.null(tm$relchol), logical(1)))
  # With hessian = TRUE the gradient carries the average-information approximation
  # of the Hessian (attribute "hessian"), a small fraction of the gradient's cost.
  start_gradient <- if (no_relmat) function(theta, hessian = FALSE) {
    v <- .model_objective_gradient(ptr, theta, REML, hessian)
    g <- attr(v, "gradient")
    if (hessian) attr(g, "hessian") <- attr(v, "hessian")
    g
  }
  # With several terms the gradient costs two to four evaluations (the selected
  # inverse of the dense trailing block, src/derivatives.cpp): worth it for the
  # Newton steps from the start (start_gradient), where it replaces BOBYQA, not in
  # the polish after BOBYQA, where finite differences of the criterion are cheaper.
  gradient <- if (length(frame$reterms$terms) == 1L) start_gradient
  function(theta) .model_objective(ptr, theta, REML) - logw
}

new_model_ptr <- function(frame, threads = 1L) {
  sw <- sqrt(frame$weights)
  terms <- lapply(frame$reterms$terms, function(t)
    list(codes = as.integer(t$factor), X = t$X * sw, nlev = t$nlev, relchol = t$relchol))
  .model_new(terms, frame$X * sw, (frame$y - frame$offset) * sw, as.integer(threads))
}


#' Optimize the profiled criterion over theta
#'
#' BOBYQA (package minqa) within the bounds of theta, then Newton steps from
#' finite differences; a single parameter is optimized by Brent's method on a
#' bounded transform, with the boundary value checked explicitly.
#'
#' A model without a relationship matrix whose moment start (set by [lmm()]) has
#' every variance inside its limits, i.e. is not near a singular fit, first takes
#' Newton steps from that start with the exact gradient of the criterion (see [lmm_devfun()];
#' the Hessian replaced by its average-information approximation at each step, as
#' in AI-REML; at most `3 * polish` steps). When they converge, BOBYQA is not run;
#' otherwise BOBYQA starts from the point they reached. The boundary checks below
#' apply to either result.
#'
#' A solution with a diagonal element of theta at its bound 0 is checked before it
#' is accepted, because a derivative-free optimizer can stop on the boundary at a
#' point that is not a minimum. With that diagonal at 0, the sign of the column of
#' the relative covariance factor below it no longer matters, and the derivative
#' into the interior has opposite signs for the two: BOBYQA, holding the sign it
#' came with, sees the criterion rise into the interior (a correlation of -1 where
#' the optimum has +1, or a variance of 0 where it is large). With a zero column
#' the criterion is even in that diagonal and falls, if at all, to second order,
#' which an optimizer stopped at a radius of 1e-3 does not resolve. The criterion
#' is therefore probed at steps of 1e-4, 1e-3 and 1e-2 inside the bound, with the
#' column as found and flipped; when a probe is lower, the step is doubled while the
#' criterion keeps falling and BOBYQA restarts from there (at most four restarts,
#' the lowest point seen is kept).
#'
#' At the solution the gradient (central differences on the free parameters; the
#' one-sided derivative into the feasible region, projected, for parameters on
#' their bound) and the smallest eigenvalue of the finite-difference Hessian on the
#' free parameters are recorded, and a warning is given, in the manner of lme4's
#' convergence checks, when the scaled gradient exceeds 0.002, when the Hessian has
#' a negative eigenvalue (non-singular fits) or when `maxfun` was reached.
#'
#' Two cases are optimized differently. A random-effect column whose root mean
#' square is below 0.01 or above 100 (see [lmm_reterms()]) is optimized on its own
#' scale: theta's rows for it are multiplied by that scale, which leaves the factor
#' lower triangular and maps the optimum exactly; the result is reported in the
#' original parametrization. And when two or more terms have columns outside the
#' span of the fixed effects (a model without a fixed intercept, a slope on a
#' covariate that is not a fixed effect), each of them can carry that column's mean
#' through a large variance, and each choice is a separate basin: the optimizer is
#' then started again with each other term as the carrier, and the lowest fit kept.
#'
#' @param devfun a function from [lmm_devfun()].
#' @param control a list from [lmm_control()].
#' @return A list with `par` (theta), `fval`, `feval` (number of evaluations of the
#'   criterion), `ngrad` (evaluations of its exact gradient, each also a
#'   factorization; 0 when the model has none, see [lmm_devfun()]),
#'   `message`, `converged` (`TRUE` when the last Newton step found nothing left to
#'   gain and no check failed), `gradient`, `hessian_min_eigen`, `maxfun_reached`
#'   and `warnings` (the convergence warnings given, if any).
#' @examples
#' fr <- lmm_frame(Yield ~ 1 + (1 | Batch), Dyestuff)
#' lmm_optimize(lmm_devfun(fr))$par
#' @export
lmm_optimize <- function(devfun, control = lmm_control()) {
  check_control(control, "lmm_optimize")
  # Columns on extreme scales (R/scaling.R) and models with several basins
  # (R/multistart.R) are handled by wrappers that call this function again.
  wrapped <- optimize_scaled(devfun, control)
  if (is.null(wrapped)) wrapped <- optimize_multistart(devfun, control)
  if (!is.null(wrapped)) return(wrapped)
  frame <- environment(devfun)$frame
  theta0 <- frame$reterms$theta
  lower <- frame$reterms$lower
  k <- length(theta0)
  nfe <- ngr <- 0L
  f <- function(th) {
    nfe <<- nfe + 1L
    v <- devfun(th)
    if (!is.finite(v)) stop("the objective is not finite at theta = ", paste(signif(th, 4), collapse = ", "))
    v
  }
  counted <- function(dev_gradient) if (is.function(dev_gradient)) function(th, ...) {
    ngr <<- ngr + 1L
    g <- dev_gradient(th, ...)
    if (!all(is.finite(g))) stop("the gradient is not finite at theta = ", paste(signif(th, 4), collapse = ", "))
    g
  }
  gr <- counted(environment(devfun)$gradient)
  gr_start <- counted(environment(devfun)$start_gradient)
  # Finite differences of an expensive gradient: forward (k calls) instead of central.
  if (is.null(gr) && !is.null(gr_start)) attr(gr_start, "forward") <- TRUE
  if (k == 1L) {
    res <- optimize_one(f)
    maxfun_reached <- FALSE
  } else {
    if (control$maxfun < 2 * k + 2)
      stop(sprintf("lmm_control(): 'maxfun' = %d is too small for %d parameters (BOBYQA needs at least %d)",
                   as.integer(control$maxfun), k, 2L * k + 2L), call. = FALSE)
    layout <- theta_layout(frame$reterms)
    run <- function(start, rhobeg, rhoend, newton_first = FALSE) {
      if (newton_first) {
        # With the exact gradient, Newton steps from the (moment) start (at most
        # three times `polish`, the average-information Hessian): when they converge
        # BOBYQA is not needed; otherwise it starts from the point reached.
        f0 <- f(start)  # before the gradient at start, which then reuses its factor
        pol <- polish_at_bounds(f, start, f0, lower, layout, 3L * control$polish, gr_start, ai = TRUE)
        if (pol$converged) {
          pol$message <- "Newton steps from the start"
          return(pol)
        }
        start <- pol$par
      }
      # minqa's advice on a small maxfun is muffled: reaching maxfun is reported below.
      o <- withCallingHandlers(
        minqa::bobyqa(start, f, lower = lower,
                      control = list(rhobeg = rhobeg, rhoend = rhoend, maxfun = control$maxfun, iprint = 0)),
        warning = function(w) if (grepl("maxfun < 10", conditionMessage(w), fixed = TRUE))
          invokeRestart("muffleWarning"))
      # minqa's ierr 1: the evaluation limit was reached.
      maxfun_reached <<- maxfun_reached || identical(as.integer(o$ierr), 1L)
      pol <- polish_at_bounds(f, o$par, o$fval, lower, layout, control$polish, gr)
      pol$message <- o$msg
      pol
    }
    maxfun_reached <- FALSE
    res <- cur <- run(theta0, 0.2, control$rhoend,
                      newton_first = identical(frame$reterms$newton_start, theta0) && !is.null(gr_start) &&
                        control$polish > 0L)
    # At most four restarts: from inside the bound where a probe found the criterion
    # falling (the point found is then known not to be a minimum, so the restart
    # continues even if it ends higher), or, where Newton could not finish, from the
    # point reached; both with a fine final radius. The lowest point seen is kept.
    for (restart in 1:4) {
      if (!is.null(cur$restart_from)) {
        h <- cur$restart_step
        cur <- run(cur$restart_from, max(min(0.05, h), 1e-5), min(control$rhoend, 1e-6))
      } else if (!cur$converged) {
        cur <- run(cur$par, 0.05, min(control$rhoend, 1e-6))
      } else break
      if (cur$fval < res$fval) res <- cur
    }
  }
  if (!is.null(res$restart_from)) {
    # The restarts ran out with a probe still lower: keep that point, unconverged.
    res$par <- res$restart_from
    res$fval <- res$restart_fval
    res$converged <- FALSE
    res$unresolved_boundary <- TRUE
  }
  names(res$gradient) <- names(theta0)
  res$par <- stats::setNames(pmax(res$par, lower), names(theta0))
  res$feval <- nfe
  res$ngrad <- ngr
  res$maxfun_reached <- maxfun_reached
  conv <- convergence_warnings(res, lower, control)
  res$converged <- res$converged && length(conv) == 0L
  res$warnings <- conv
  res$singular_tol <- control$singular_tol
  res$restart_from <- res$restart_fval <- res$restart_step <- res$H <- res$unresolved_boundary <- NULL
  for (w in conv) warning(w, call. = FALSE)
  res
}

# One parameter: Brent on theta = s / (1 - s), which maps [0, 1) onto [0, Inf),
# and the boundary value 0 checked explicitly; derivatives by finite differences.
optimize_one <- function(f) {
  g <- function(s) f(s / (1 - s))
  o <- stats::optimize(g, c(0, 1 - 1e-9), tol = 1e-12)
  par <- o$minimum / (1 - o$minimum)
  fval <- o$objective
  f0 <- f(0)
  if (f0 <= fval) {
    par <- 0
    fval <- f0
  }
  h <- 1e-4 * max(par, 0.1)
  fp <- f(par + h)
  if (par > 0) {
    fm <- f(par - h)
    grad <- (fp - fm) / (2 * h)
    hess <- (fp - 2 * fval + fm) / h^2
  } else {
    # On the bound only the derivative into the feasible region matters.
    grad <- min(0, (fp - fval) / h)
    hess <- NA_real_
  }
  list(par = par, fval = fval, message = "Brent", converged = TRUE, gradient = grad,
       hessian_min_eigen = hess)
}

# The theta layout the boundary checks need: for each element of theta the indices
# (in theta) of the entries below it in the same column of its term's relative
# covariance factor (empty for off-diagonals), and each vector term's theta indices.
theta_layout <- function(reterms) {
  below <- vector("list", length(reterms$theta))
  terms <- list()
  for (tm in reterms$terms) {
    p <- length(tm$cnms)
    pos <- which(lower.tri(diag(p), diag = TRUE), arr.ind = TRUE)
    for (r in seq_len(nrow(pos))) {
      i <- tm$theta_index[r]
      below[[i]] <- if (pos[r, 1] == pos[r, 2]) tm$theta_index[pos[, 2] == pos[r, 2] & pos[, 1] > pos[r, 1]] else integer(0)
    }
    if (p > 1L) terms[[length(terms) + 1L]] <- list(index = tm$theta_index, p = p,
                                                     diag = tm$theta_index[pos[, 1] == pos[, 2]])
  }
  list(below = below, terms = terms)
}

# Diagonal elements of theta near 0 are tried at 0 (a singular fit), then Newton,
# then any diagonal on its bound is checked for a descent direction into the interior.
polish_at_bounds <- function(f, par, fval, lower, layout, maxit, gr = NULL, ai = FALSE) {
  for (i in which(lower == 0 & par < 1e-3 & par > 0)) {
    th <- par
    th[i] <- 0
    v <- f(th)
    if (v <= fval) {
      par <- th
      fval <- v
    }
  }
  pol <- newton_polish(f, par, fval, lower, maxit, gr, ai)
  chk <- check_bounds(f, pol$par, pol$fval, lower, layout)
  pol$gradient[chk$at] <- pmin(chk$deriv, 0)
  pol$restart_from <- chk$restart_from
  pol$restart_fval <- chk$restart_fval
  pol$restart_step <- chk$restart_step
  pol
}

# Probes each diagonal element on its bound 0 at steps h inside, with the column
# below it as it is and with its sign flipped (the two give the same criterion on
# the bound). With a nonzero column the derivative into the interior is nonzero for
# one of the two signs unless the boundary is optimal; with a zero column the
# criterion is even in that element, so a second-order decrease is what the probes
# find. A probe lower than the solution shows that it is not a minimum: the step is
# then doubled while the criterion keeps falling, and that point is returned as
# `restart_from` (with `restart_step`, the step reached). `deriv` is the one-sided
# derivative into the interior (the smaller over the two signs).
check_bounds <- function(f, par, fval, lower, layout) {
  below <- layout$below
  at <- which(lower == 0 & par <= 0)
  deriv <- numeric(length(at))
  restart_from <- NULL
  restart_fval <- restart_step <- NA_real_
  # Rounding in the criterion is ~1e-12 relative; a smaller fall is not evidence.
  best <- fval - (1e-11 * abs(fval) + 1e-9)
  for (a in seq_along(at)) {
    i <- at[a]
    col <- below[[i]]
    signs <- if (length(col) && any(par[col] != 0)) c(1, -1) else 1
    d <- Inf
    for (s in signs) for (h in c(1e-4, 1e-3, 1e-2)) {
      th <- par
      th[col] <- s * th[col]
      th[i] <- h
      v <- f(th)
      if (h == 1e-4) d <- min(d, (v - fval) / h)
      if (v < best) {
        best <- v
        restart_from <- th
        restart_step <- h
      }
    }
    deriv[a] <- d
  }
  if (!is.null(restart_from)) {
    i <- at[which(restart_from[at] > 0)[1]]
    for (k in 1:10) {
      th <- restart_from
      th[i] <- 2 * th[i]
      v <- f(th)
      if (!(v < best)) break
      best <- v
      restart_from <- th
    }
    restart_fval <- best
    restart_step <- restart_from[i]
  } else {
    for (tm in layout$terms) {
      # A triangular factor's rank is at least its number of nonzero diagonals, so
      # a null space of two dimensions needs two (near-)zero diagonals.
      if (sum(par[tm$diag] < 1e-2) < 2L) next
      ns <- check_null_space(f, par, fval, best, tm)
      if (!is.null(ns)) {
        restart_from <- ns$par
        restart_fval <- best <- ns$fval
        restart_step <- ns$step
      }
    }
  }
  list(at = at, deriv = deriv, restart_from = restart_from, restart_fval = restart_fval,
       restart_step = restart_step)
}

# A vector term whose covariance Sigma = lambda lambda' has a null space of two or
# more dimensions (several effects at zero variance or perfectly correlated): the
# probes along single diagonals test only the coordinate directions, while the
# criterion may fall along a combination. Adding h^2 v v' with v in the null space N
# changes the criterion by about h^2 v'Gv (G its gradient in Sigma), so N'GN is
# estimated from m(m+1)/2 probes; if it has a negative eigenvalue, the criterion is
# probed along that eigenvector, the step doubled while it keeps falling. Returns
# NULL or the lower point (`par`, `fval`, `step`).
check_null_space <- function(f, par, fval, best, tm) {
  lam <- theta_to_lambda(par[tm$index], tm$p)
  e <- eigen(tcrossprod(lam), symmetric = TRUE)
  # Directions with a variance below 1e-6 (an sd 1e-3 of the residual sd) count as null.
  N <- e$vectors[, e$values < 1e-6, drop = FALSE]
  m <- ncol(N)
  if (m < 2L) return(NULL)
  h <- 1e-2
  at <- function(v, h) {
    th <- par
    th[tm$index] <- lambda_add_rank_one(lam, h * v)[lower.tri(lam, diag = TRUE)]
    th
  }
  d <- function(u) (f(at(drop(N %*% u), h)) - fval) / h^2
  Q <- diag(vapply(seq_len(m), function(a) d(replace(numeric(m), a, 1)), numeric(1)), m)
  for (a in 1:(m - 1L)) for (b in (a + 1L):m) {
    u <- numeric(m); u[c(a, b)] <- 1 / sqrt(2)
    Q[a, b] <- Q[b, a] <- d(u) - (Q[a, a] + Q[b, b]) / 2
  }
  eq <- eigen(Q, symmetric = TRUE)
  if (eq$values[m] >= 0) return(NULL)
  v <- drop(N %*% eq$vectors[, m])
  out <- NULL
  for (k in 0:10) {
    th <- at(v, h * 2^k)
    val <- f(th)
    if (!(val < best)) break
    best <- val
    out <- list(par = th, fval = val, step = h * 2^k)
  }
  out
}

# The lower-triangular factor, with a nonnegative diagonal, of lambda lambda' + v v'
# (Givens rotations of [lambda v] into [lambda' 0]; lambda may be singular).
lambda_add_rank_one <- function(lam, v) {
  p <- nrow(lam)
  for (k in seq_len(p)) {
    r <- sqrt(lam[k, k]^2 + v[k]^2)
    if (r == 0) next
    c <- lam[k, k] / r
    s <- v[k] / r
    col <- lam[, k]
    lam[, k] <- c * col + s * v
    v <- -s * col + c * v
  }
  lam[upper.tri(lam)] <- 0
  lam
}

# Newton steps on the free parameters (those above their bound) with central finite
# differences; a step (halved up to ten times: near a bound the criterion can be far
# from quadratic) is kept only when it lowers the criterion, and is cut back to the
# bounds. The Hessian is formed once (k^2 + k
# evaluations) and again only when a parameter reaches its bound; each step
# refreshes the gradient (2k). The loop ends with the gradient at the final point.
# With `gr`, the exact gradient, each gradient is one call and the Hessian is the
# central difference of the gradient (2k calls), or its forward difference (k calls)
# when `gr` has the attribute `forward` (an expensive gradient: several terms).
# With `ai` (the Newton run from the moment start), `gr(theta, hessian = TRUE)`
# also gives the average-information approximation of the Hessian, which is used
# at every step instead (Fisher scoring): no gradient calls for a Hessian, and
# positive definite also where the criterion's Hessian is not (sleepstudy at
# theta = (1, 0, 0.5)). Near the optimum it is close to the Hessian, so the steps
# converge fast: InstEval `s + d + dept:service` takes 6 gradient calls where a
# finite-difference Hessian updated by BFGS took 10, and bench-optimum.R's battery
# stays at 0 fits above lme4 with 8% fewer evaluations.
newton_polish <- function(f, par, fval, lower, maxit = 4L, gr = NULL, ai = FALSE) {
  n <- length(par)
  grad <- numeric(n)
  hmin <- NA_real_
  converged <- FALSE
  ch <- NULL
  free_H <- par_H <- NULL
  for (it in seq_len(maxit + 1L)) {
    free <- which(par > lower)
    k <- length(free)
    grad[] <- 0
    if (k == 0L) {
      converged <- TRUE
      break
    }
    # Steps may cross a bound: the criterion is smooth in theta on both sides of it.
    h <- 1e-3 * pmax(abs(par[free]), 0.1)
    at <- function(d) { th <- par; th[free] <- th[free] + d; f(th) }
    formed <- !identical(free, free_H)  # a Hessian is formed at this point
    if (ai) {
      g_ai <- gr(par, hessian = TRUE)
      g <- as.numeric(g_ai)[free]
      grad[free] <- g
      H <- attr(g_ai, "hessian")[free, free, drop = FALSE]
      formed <- TRUE
    } else if (!is.null(gr)) {
      g <- gr(par)[free]
      grad[free] <- g
      # with the exact gradient a Hessian costs k or 2k calls: formed again where the
      # steps went far (0.1% relative) from where it was formed (BOBYQA can stop 1e-2
      # from the optimum), so that the steps converge fast and the Hessian reported
      # (its smallest eigenvalue) is the optimum's.
      if (!is.null(par_H) && max(abs(par - par_H) / pmax(abs(par), 0.1)) > 1e-3) formed <- TRUE
      if (formed) {
        par_H <- par
        H <- matrix(0, k, k)
        forward <- isTRUE(attr(gr, "forward"))
        for (i in seq_len(k)) {
          th <- par; th[free[i]] <- par[free[i]] + h[i]
          gp <- gr(th)[free]
          if (forward) {
            H[, i] <- (gp - g) / h[i]
          } else {
            th[free[i]] <- par[free[i]] - h[i]
            H[, i] <- (gp - gr(th)[free]) / (2 * h[i])
          }
        }
        H <- (H + t(H)) / 2
      }
    } else {
      fp <- fm <- numeric(k)
      for (i in seq_len(k)) {
        e <- numeric(k); e[i] <- h[i]
        fp[i] <- at(e); fm[i] <- at(-e)
      }
      g <- (fp - fm) / (2 * h)
      grad[free] <- g
      if (formed) {
        H <- diag((fp - 2 * fval + fm) / h^2, k)
        if (k > 1L) for (i in 1:(k - 1L)) for (j in (i + 1L):k) {
          ei <- numeric(k); ei[i] <- h[i]
          ej <- numeric(k); ej[j] <- h[j]
          # Two evaluations per pair: with the axis points already at hand,
          # (f(+i+j) - f(+i) - f(+j) + 2 f - f(-i) - f(-j) + f(-i-j)) / (2 h_i h_j) is
          # second-order accurate, as the four-point formula.
          H[i, j] <- H[j, i] <- (at(ei + ej) - fp[i] - fp[j] + 2 * fval - fm[i] - fm[j] + at(-ei - ej)) /
            (2 * h[i] * h[j])
        }
      }
    }
    if (formed) {
      free_H <- free
      hmin <- min(eigen(H, symmetric = TRUE, only.values = TRUE)$values)
      ch <- tryCatch(chol(H), error = function(e) NULL)
    }
    if (is.null(ch)) break
    step <- -backsolve(ch, forwardsolve(t(ch), g))
    # Newton decrement: the decrease a full step predicts. Below 1e-9 (criterion
    # units), or the criterion's rounding (~1e-12 relative: InstEval's criterion is
    # 2.4e5), there is nothing left to gain; steps below that only chase rounding.
    # With the average information the decrement is only an estimate, and theta's
    # distance from the optimum, |H^-1 g|, is what the fit reports: such a point must
    # pass a 100 times smaller decrement, or show that no step lowers the criterion
    # any more.
    decrement <- -sum(g * step) / 2
    dec_tol <- 1e-9 + 1e-12 * abs(fval)
    if (decrement < if (ai) 0.01 * dec_tol else dec_tol) {
      converged <- TRUE
      break
    }
    if (it > maxit) break
    accepted <- FALSE
    near <- decrement < dec_tol  # the full step alone: halving it is below rounding
    for (half in if (near) 0 else 0:10) {
      th <- par
      th[free] <- pmax(par[free] + step / 2^half, lower[free])
      v <- f(th)
      if (v < fval) {
        accepted <- TRUE
        break
      }
    }
    if (!accepted) {
      converged <- near
      break
    }
    par <- th
    fval <- v
  }
  list(par = par, fval = fval, converged = converged, gradient = grad, hessian_min_eigen = hmin,
       H = if (!is.null(free_H)) list(free = free_H, chol = ch))
}

# The BFGS update of a Hessian approximation H from a step s and the change y of
# the gradient along it; NULL when the curvature s'y is not clearly positive
# (relative tolerance tol), where the update would lose positive definiteness.
bfgs_update <- function(H, s, y, tol) {
  sy <- sum(s * y)
  if (sy <= tol * sqrt(sum(s^2) * sum(y^2))) return(NULL)
  Hs <- drop(H %*% s)
  H - tcrossprod(Hs) / sum(s * Hs) + tcrossprod(y) / sy
}

# lme4-style convergence messages: the scaled gradient (the smaller of |gradient|
# and |R^-1 gradient| with R'R the Hessian, as lme4's checkConv) above 0.002, a
# Hessian with a negative eigenvalue when no parameter is on its bound, and the
# evaluation limit.
convergence_warnings <- function(res, lower, control) {
  msg <- character(0)
  if (isTRUE(res$maxfun_reached))
    msg <- c(msg, sprintf("the optimizer reached maxfun = %d evaluations; the fit may not have converged (raise lmm_control(maxfun =))",
                          as.integer(control$maxfun)))
  if (isTRUE(res$unresolved_boundary))
    msg <- c(msg, "model failed to converge: the optimizer ended near a boundary point that is not a minimum (the criterion falls into the interior)")
  g <- res$gradient
  sc <- abs(g)
  if (!is.null(res$H$chol)) {
    fr <- res$H$free
    s <- backsolve(res$H$chol, g[fr])
    sc[fr] <- pmin(abs(s), abs(g[fr]))
  }
  if (length(sc) && max(sc) > 2e-3) {
    w <- which.max(sc)
    msg <- c(msg, sprintf("model failed to converge with max|grad| = %.3g (tol = 0.002, component %d: %s)",
                          max(sc), w, names(g)[w]))
  }
  singular <- theta_singular(res$par, lower, control$singular_tol)
  if (!singular && is.finite(res$hessian_min_eigen) && res$hessian_min_eigen < -1e-6)
    msg <- c(msg, sprintf("model failed to converge: the Hessian of the criterion has a negative eigenvalue (%.3g)",
                          res$hessian_min_eigen))
  msg
}
