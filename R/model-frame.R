# Model frame, response, fixed-effects matrix, weights and offset.

#' Build the model frame and random-effect terms of a mixed model
#'
#' The first step of [lmm()], callable alone (as lme4's `lFormula`): evaluates the
#' formula in the data, drops incomplete rows, and builds the response, the
#' fixed-effects matrix (aliased columns dropped with a message), the prior weights,
#' the offset, and one description per random-effect term.
#'
#' @inheritParams lmm
#' @return A list of class `"lmm_frame"` with `frame` (the model frame of all
#'   variables), `y`, `X`, `weights`, `offset`, `fixed_terms`, `reterms` (see
#'   [lmm_reterms()]), `formula` (the model's formula: `(x || g)` expanded as lme4
#'   stores it, `.` replaced by the columns it stands for, so that `update()` works),
#'   `na.action` and `contrasts`. A formula may also be given as a string.
#' @examples
#' fr <- lmm_frame(Reaction ~ Days + (Days | Subject), sleepstudy)
#' dim(fr$X)
#' @export
lmm_frame <- function(formula, data = NULL, weights, offset, subset, na.action,
                      contrasts = NULL, relmat = NULL) {
  # A string is read as lme4 reads it, with variables looked up from the caller.
  if (is.character(formula) && length(formula) == 1L)
    formula <- tryCatch(stats::as.formula(formula, env = parent.frame()), error = function(e)
      stop(sprintf("'formula' (a string) is not a formula: %s", conditionMessage(e)), call. = FALSE))
  if (!inherits(formula, "formula") || length(formula) != 3L)
    stop("'formula' must be a two-sided formula such as y ~ x + (1 | g)", call. = FALSE)
  # Stored with (x || g) expanded, as lme4 stores it, so that formula(fit) and update() see the pieces.
  formula <- expand_formula(formula)
  bars <- random_terms(formula)
  if (has_covstruct(formula))
    stop("lmm_frame() does not build models with a residual covariance term such as us(visit | id); fit them with lmm()",
         call. = FALSE)
  if (length(bars) == 0L)
    stop("the formula has no random-effect term such as (1 | g); use lm() for a model without one",
         call. = FALSE)
  # A matrix or list is read as the data frame of its columns, as lme4 reads it.
  converted <- !is.null(data) && !is.data.frame(data)
  if (converted) {
    if (!is.matrix(data) && !is.list(data))
      stop(sprintf("'data' must be a data frame (or a matrix or list of columns), not %s", class(data)[1]),
           call. = FALSE)
    if (is.matrix(data) && is.null(colnames(data)))
      stop("'data' is a matrix without column names; the formula's variables must name its columns", call. = FALSE)
    data <- tryCatch(as.data.frame(data, stringsAsFactors = FALSE), error = function(e)
      stop(sprintf("'data' must be a data frame (or a matrix or list of columns): %s", conditionMessage(e)),
           call. = FALSE))
  }
  fixed <- fixed_formula(formula)
  if ("." %in% all.vars(fixed[[3]])) {
    # The model's formula names the columns '.' stands for (lme4 keeps the '.', and
    # then update() fails: '.' in formula and no 'data' argument).
    fixed <- expand_dot(fixed, data)
    rhs <- fixed[[3]]
    for (b in find_bars(formula[[3]])) rhs <- call("+", rhs, call("(", b))
    formula[[3]] <- rhs
  }
  check_variables_present(fixed, bars, data)
  # model.matrix() ignores a contrasts argument that is not a list, with only a warning
  if (!is.null(contrasts) && !is.list(contrasts))
    stop("'contrasts' must be NULL or a named list, e.g. list(f = \"contr.sum\")", call. = FALSE)

  mc <- match.call()
  vformula <- variables_formula(fixed, bars)
  # A data frame holding every variable, complete, and no weights, offset, subset or
  # na.action: the model frame is its columns (model.frame() would return them)
  frame <- if (is.data.frame(data) && !any(c("weights", "offset", "subset", "na.action") %in% names(mc)))
    variables_frame(vformula, data, complete = TRUE)
  if (is.null(frame)) {
    mf <- mc[c(1L, match(c("data", "weights", "offset", "subset", "na.action"), names(mc), 0L))]
    mf[[1L]] <- quote(stats::model.frame)
    mf$formula <- vformula
    if (converted) mf$data <- data
    if (!is.null(mc$subset) && !is.null(data)) check_subset(eval(mc$subset, data, parent.frame()), nrow(data))
    mf$drop.unused.levels <- TRUE
    frame <- eval(mf, parent.frame())
  }
  if (nrow(frame) == 0L)
    stop(sprintf("0 (non-NA) cases: no observations are left after %s", if (is.null(mc$subset))
      "removing rows with missing values" else "applying 'subset' and removing rows with missing values"),
      call. = FALSE)
  vars <- frame
  attr(vars, "terms") <- NULL

  fixed_frame <- variables_frame(fixed, vars)
  if (is.null(fixed_frame))
    fixed_frame <- stats::model.frame(fixed, vars, na.action = stats::na.pass, drop.unused.levels = TRUE)
  fixed_terms <- attr(fixed_frame, "terms")
  # The response column itself: model.response() would first name it by the row
  # names (40,000 strings for 40,000 rows), which as.numeric() below drops again.
  y <- fixed_frame[[attr(fixed_terms, "response")]]
  # (the response's name is deparsed only for a message: as a promise)
  yname <- function() deparse1(formula[[2]])
  if (!is.numeric(y) || is.matrix(y))
    stop(sprintf("the response '%s' must be a numeric vector (it is %s)", yname(), class(y)[1]), call. = FALSE)
  y <- as.numeric(y)
  if (any(!is.finite(y))) stop(sprintf("the response '%s' has non-finite values", yname()), call. = FALSE)
  check_column_range(y, "the response", yname())
  # lme4 fits a constant response to a criterion of -Inf (zero residual variance).
  if (all(y == y[1L]))
    stop(sprintf("the response '%s' is constant (all values %s): there is no variation to model",
                 yname(), format(y[1L])), call. = FALSE)

  X <- stats::model.matrix(fixed_terms, fixed_frame, contrasts.arg = contrasts)
  check_finite_columns(X, "the fixed-effects model matrix")
  check_column_range(X, "the fixed-effects model matrix")
  X <- drop_aliased_columns(X)

  n <- length(y)
  w <- stats::model.weights(frame)
  if (is.null(w)) {
    w <- rep(1, n)
  } else {
    if (!is.numeric(w)) stop(sprintf("'weights' must be numeric (it is %s)", class(w)[1]), call. = FALSE)
    if (length(w) != n)
      stop(sprintf("'weights' must be a numeric vector with one value per observation (%d), not %d",
                   n, length(w)), call. = FALSE)
    if (any(!is.finite(w))) stop("'weights' has non-finite values", call. = FALSE)
    if (any(w < 0)) stop("'weights' has negative values", call. = FALSE)
    if (any(w == 0)) stop("'weights' has zeros; drop those rows (they carry no information)", call. = FALSE)
  }
  off <- rep(0, n)
  for (o in list(stats::model.offset(frame), stats::model.offset(fixed_frame))) {
    if (!is.null(o)) {
      if (length(o) != n) stop(sprintf("the offset must have one value per observation (%d)", n), call. = FALSE)
      if (any(!is.finite(o))) stop("the offset has non-finite values", call. = FALSE)
      off <- off + as.numeric(o)
    }
  }
  reterms <- lmm_reterms(bars, vars, relmat = relmat)
  check_response_within(y, reterms$flist, yname())
  if (reterms$nlev_max >= n && !reterms$any_relmat_at_max)
    stop(sprintf("the grouping factor '%s' has %d levels for %d observations: a random effect per observation is confounded with the residual",
                 reterms$largest, reterms$nlev_max, n), call. = FALSE)
  # As lme4's check.nobs.vs.nRE: as many random effects in a term as observations leave
  # the term's variance and the residual variance unidentifiable.
  for (tm in reterms$terms) {
    nre <- tm$nlev * length(tm$cnms)
    if (nre >= n && is.null(tm$relchol))
      stop(sprintf("the term (%s | %s) has %d random effects, %s the %d observations: its variance and the residual variance are not identifiable",
                   paste(tm$cnms, collapse = " + "), tm$group, nre, if (nre > n) "more than" else "as many as", n),
           call. = FALSE)
  }
  structure(list(frame = frame, y = y, X = X, weights = w, offset = off,
                 fixed_terms = fixed_terms, xlevels = stats::.getXlevels(fixed_terms, fixed_frame),
                 reterms = reterms, formula = formula,
                 na.action = attr(frame, "na.action"), contrasts = contrasts),
            class = "lmm_frame")
}

# A formula naming every variable of the model once, so that one model frame
# (with subset, weights, offset and na.action) decides which rows are used.
variables_formula <- function(fixed, bars) {
  vars <- unique(c(all.vars(fixed), unlist(lapply(bars, function(b) c(all.vars(b$lhs), all.vars(str2lang(b$group)))))))
  rhs <- if (length(vars)) Reduce(function(a, b) call("+", a, b), lapply(vars, as.name)) else 1
  stats::as.formula(call("~", rhs), env = environment(fixed))
}

# The model frame of `formula` over the rows of `vars` (the model frame of all the
# model's variables, NAs already handled) when each variable of the formula is a
# plain name: its columns of `vars`, with the terms model.frame() would attach
# (predvars and dataClasses), without evaluating anything again. NULL when some
# variable is an expression (log(x), poly(x, 2), offset(o)), which needs
# model.frame(). On sleepstudy this halves the time of lmm_frame().
# With complete = TRUE (`vars` the user's data) also NULL when a column has missing
# values or a factor unused levels, which model.frame() drops.
variables_frame <- function(formula, vars, complete = FALSE) {
  tt <- stats::terms(formula)
  v <- as.list(attr(tt, "variables"))[-1L]
  if (!all(vapply(v, is.name, logical(1)))) return(NULL)
  nm <- vapply(v, as.character, "")
  if (!all(nm %in% names(vars))) return(NULL)
  # the columns as `vars[nm]` has them, without `[.data.frame`'s checks
  fr <- .subset(vars, nm)
  if (complete && !all(vapply(fr, function(x) !anyNA(x) && (!is.factor(x) || all(tabulate(x, nlevels(x)) > 0L)), NA)))
    return(NULL)
  attr(fr, "row.names") <- .row_names_info(vars, 0L)
  class(fr) <- "data.frame"
  attr(tt, "predvars") <- attr(tt, "variables")
  attr(tt, "dataClasses") <- vapply(fr, stats::.MFclass, "")
  attr(fr, "terms") <- tt
  fr
}

# `y ~ . - g` -> `y ~ x + z` for the fixed part: `.` is every column of `data` not
# otherwise in the fixed part, as in lm().
expand_dot <- function(fixed, data) {
  if (is.null(data)) stop("'.' in the formula needs the 'data' argument", call. = FALSE)
  tt <- stats::terms(fixed, data = data)
  rhs <- c(if (attr(tt, "intercept") == 0L) "0", attr(tt, "term.labels"),
           vapply(as.list(attr(tt, "variables"))[-1L][attr(tt, "offset")], deparse1, character(1)))
  if (length(rhs) == 0L) rhs <- "1"
  stats::reformulate(rhs, response = fixed[[2]], env = environment(fixed))
}

check_variables_present <- function(formula, bars, data) {
  if (is.null(data)) return(invisible())
  env <- environment(formula)
  missing_var <- function(v) !(v %in% names(data)) && !exists(v, envir = env)
  for (b in bars) {
    for (v in all.vars(str2lang(b$group))) {
      if (missing_var(v))
        stop(sprintf("the grouping variable '%s' of (%s | %s) is not in the data",
                     v, deparse1(b$lhs[[2]]), b$group), call. = FALSE)
    }
  }
  for (v in unique(c(all.vars(formula), unlist(lapply(bars, function(b) all.vars(b$lhs)))))) {
    if (missing_var(v)) stop(sprintf("the variable '%s' is not in the data", v), call. = FALSE)
  }
  invisible()
}

# model.frame() recycles a logical subset of the wrong length and turns indices
# beyond the data into rows of NAs: both would fit other rows than meant.
check_subset <- function(subset, n) {
  if (is.logical(subset) && length(subset) != n)
    stop(sprintf("'subset' is a logical vector of length %d; the data have %d rows", length(subset), n),
         call. = FALSE)
  if (is.numeric(subset) && any(abs(subset[!is.na(subset)]) > n))
    stop(sprintf("'subset' has row numbers beyond the %d rows of the data", n), call. = FALSE)
  if (!is.logical(subset) && !is.numeric(subset))
    stop(sprintf("'subset' must be a logical or numeric vector, not %s", class(subset)[1]), call. = FALSE)
  invisible()
}

# A response constant within every level of a grouping factor leaves no residual
# variation: the residual variance is 0 and the criterion unbounded (lme4 stops
# with convergence warnings). One pass over y per factor.
check_response_within <- function(y, flist, yname) {
  for (g in names(flist)) {
    codes <- as.integer(flist[[g]])
    # cheap screen: y varies within the level of the first row (the usual case)
    first <- y[codes == codes[1L]]
    if (max(first) - min(first) > 1e-12 * max(abs(first))) next
    tol <- 1e-12 * max(abs(y))
    counts <- tabulate(codes, nlevels(flist[[g]]))
    # levels seen once say nothing about within-level variation
    if (any(counts < 2L)) next
    means <- rowsum(y, codes)[, 1] / counts
    if (max(abs(y - means[codes])) <= tol)
      stop(sprintf("the response '%s' is constant within each level of '%s': the residual variance is 0, so the model cannot be fitted",
                   yname, g), call. = FALSE)
  }
  invisible()
}

check_finite_columns <- function(M, what) {
  if (is.double(M) && .value_summary(M)[1L] == 0) return(invisible())
  bad <- colSums(!is.finite(M)) > 0
  # NaN comes from a function outside its domain (log of x <= 0); lme4 drops those
  # rows silently, lemma names them
  if (any(bad))
    stop(sprintf("%s has non-finite values in column(s) %s%s", what,
                 paste(sprintf("'%s'", colnames(M)[bad]), collapse = ", "),
                 if (any(is.nan(M))) sprintf(" (NaN in %d row(s): a function of a variable outside its domain, such as log() of values <= 0; drop those rows with 'subset')",
                                        sum(rowSums(is.nan(M)) > 0)) else ""), call. = FALSE)
}

# A screen before the QR, which costs 40 ms on InstEval's 73,421 x 28 design: the
# Cholesky factor of X'X scaled to unit diagonal has, in column j, the norm of
# column j's residual on columns 1..j-1 relative to its own norm: the quantity
# whose fall below 1e-7 makes the QR below drop a column. Rounding in the squared
# norms is about 1e-16, so factors whose diagonal stays above 1e-5 decide "no
# aliased column" exactly as the QR would; anything else goes to the QR.
full_column_rank <- function(X) {
  C <- crossprod(X)
  d <- sqrt(diag(C))
  if (!all(is.finite(d)) || any(d == 0)) return(FALSE)
  R <- tryCatch(chol(C / tcrossprod(d)), error = function(e) NULL)
  !is.null(R) && min(diag(R)) > 1e-5
}

# Aliased columns are dropped by a pivoted QR, as lme4 does, and named in a message.
drop_aliased_columns <- function(X) {
  if (ncol(X) == 0L || full_column_rank(X)) return(X)
  qx <- qr(X, tol = 1e-7, LAPACK = FALSE)
  if (qx$rank < ncol(X)) {
    drop <- sort(qx$pivot[(qx$rank + 1L):ncol(X)])
    message(sprintf("fixed-effect model matrix is rank deficient so dropping %d column%s / coefficient%s: %s",
                    length(drop), if (length(drop) > 1) "s" else "", if (length(drop) > 1) "s" else "",
                    paste(colnames(X)[drop], collapse = ", ")))
    keep <- setdiff(seq_len(ncol(X)), drop)
    assign <- attr(X, "assign")
    contr <- attr(X, "contrasts")
    X <- X[, keep, drop = FALSE]
    attr(X, "assign") <- assign[keep]
    attr(X, "contrasts") <- contr
    attr(X, "col.dropped") <- stats::setNames(drop, colnames(qx$qr)[drop])
  }
  X
}
