# Random-effect terms: grouping factors, term model matrices, theta layout.

#' Describe the random-effect terms of a model
#'
#' For each `(lhs | group)` term: the grouping factor (unused levels dropped), the
#' term's model matrix, and where its parameters sit in theta. Terms are sorted by
#' decreasing number of levels, as lme4 sorts them; theta holds each term's relative
#' Cholesky factor column by column (lower triangle), diagonals bounded below by 0.
#'
#' @param bars the terms from [random_terms()].
#' @param data a data frame holding every variable the terms use.
#' @param relmat `NULL` or a named list of known covariance matrices over the levels
#'   of grouping factors (names as the grouping expressions, e.g. `list(id = K)`).
#' @return A list with `terms` (one list per term: `group`, `lhs`, `cnms`, `factor`,
#'   `X`, `nlev`, `relchol`, `theta_index`), `theta` (start), `lower`, `theta_names`,
#'   `theta_scale` and `flist` (the distinct grouping factors, named). A column
#'   whose root mean square is below 0.01 or above 100 is optimized on its own
#'   scale: [lmm_optimize()] works with `theta * theta_scale` (1 for other
#'   columns), and `theta` starts at `1 / theta_scale` on the diagonal.
#' @examples
#' rt <- lmm_reterms(random_terms(~ (Days | Subject)), sleepstudy)
#' rt$theta
#' @export
lmm_reterms <- function(bars, data, relmat = NULL) {
  if (!is.null(relmat) && (!is.list(relmat) || is.null(names(relmat)) || any(names(relmat) == "")))
    stop("'relmat' must be a named list of matrices, e.g. relmat = list(id = K)", call. = FALSE)
  terms <- lapply(bars, function(b) {
    f <- grouping_factor(b, data)
    # na.pass: a row where a term's expression is NaN (log of a negative x) is named
    # below rather than dropped from this matrix only.
    lhs_frame <- variables_frame(b$lhs, data)
    if (is.null(lhs_frame)) lhs_frame <- stats::model.frame(b$lhs, data, na.action = stats::na.pass)
    mm <- numeric_model_matrix(attr(lhs_frame, "terms"), lhs_frame)
    if (is.null(mm)) mm <- stats::model.matrix(attr(lhs_frame, "terms"), lhs_frame)
    # (a function: the term is deparsed only for a message)
    what <- function() sprintf("the model matrix of (%s | %s)", deparse1(b$lhs[[2]]), b$group)
    check_finite_columns(mm, what())
    check_column_range(mm, what())
    if (ncol(mm) == 0L) stop(sprintf("the term (%s | %s) has no columns", deparse1(b$lhs[[2]]), b$group), call. = FALSE)
    # the same terms (with predvars for poly()/ns()) as a frame without na.pass
    lhs_terms <- stats::delete.response(stats::terms(lhs_frame))
    list(group = b$group, lhs = b$lhs, lhs_terms = lhs_terms, cnms = colnames(mm), factor = f,
         X = unname(mm), nlev = nlevels(f), relchol = NULL)
  })
  for (g in names(relmat)) {
    hit <- which(vapply(terms, function(t) t$group == g, logical(1)))
    if (length(hit) == 0L)
      stop(sprintf("relmat names '%s', which is not a grouping factor of the formula", g), call. = FALSE)
    C <- relationship_factor(relmat[[g]], levels(terms[[hit[1]]]$factor), g)
    for (h in hit) terms[[h]]$relchol <- C
  }
  nlev <- vapply(terms, function(t) t$nlev, numeric(1))
  terms <- terms[order(-nlev)]
  theta <- numeric(0)
  lower <- numeric(0)
  tnames <- character(0)
  for (k in seq_along(terms)) {
    p <- length(terms[[k]]$cnms)
    lt <- lower.tri(diag(p), diag = TRUE)
    d <- diag(p)[lt]
    idx <- length(theta) + seq_len(sum(lt))
    terms[[k]]$theta_index <- idx
    theta <- c(theta, d)
    lower <- c(lower, ifelse(d == 1, 0, -Inf))
    cn <- terms[[k]]$cnms
    rows <- row(diag(p))[lt]
    cols <- col(diag(p))[lt]
    tnames <- c(tnames, ifelse(rows == cols, paste(terms[[k]]$group, cn[rows], sep = "."),
                               paste(terms[[k]]$group, cn[rows], cn[cols], sep = ".")))
  }
  names(theta) <- tnames
  # Columns on extreme scales start at theta~ = 1 (R/scaling.R), i.e. theta = 1 / s.
  tscale <- theta_scale(terms, length(theta))
  theta <- theta / tscale
  groups <- vapply(terms, function(t) t$group, character(1))
  flist <- lapply(terms[!duplicated(groups)], function(t) t$factor)
  names(flist) <- unique(groups)
  nl <- vapply(terms, function(t) t$nlev, numeric(1))
  list(terms = terms, theta = theta, lower = lower, theta_names = tnames, flist = flist,
       theta_scale = tscale,
       nlev_max = max(nl), largest = terms[[1]]$group,
       any_relmat_at_max = any(vapply(terms, function(t) t$nlev == max(nl) && !is.null(t$relchol), logical(1))),
       relmat = relmat)
}

# model.matrix() of a one-sided formula whose terms are numeric variables, each
# once (`~ x`, `~ 1 + x + z`, `~ 0 + x`): an intercept column and the variables,
# with model.matrix()'s column names and "assign", without its general machinery
# (a random-effect term's matrix is built at every fit). NULL for anything else.
numeric_model_matrix <- function(tt, fr) {
  labels <- attr(tt, "term.labels")
  if (attr(tt, "response") != 0L || length(attr(tt, "offset")) || !identical(labels, names(fr)) ||
      !all(attr(tt, "dataClasses") == "numeric"))
    return(NULL)
  icpt <- attr(tt, "intercept") == 1L
  n <- .row_names_info(fr, 2L)
  mm <- matrix(as.numeric(c(if (icpt) rep(1, n), unlist(fr, use.names = FALSE))), n, length(labels) + icpt,
               dimnames = list(NULL, c(if (icpt) "(Intercept)", labels)))
  attr(mm, "assign") <- c(if (icpt) 0L, seq_along(labels))
  mm
}

grouping_factor <- function(bar, data) {
  expr <- str2lang(bar$group)
  vars <- all.vars(expr)
  env <- lapply(data[vars], function(v) if (is.factor(v)) v else factor(v))
  f <- tryCatch(eval(expr, env, baseenv()), error = function(e)
    stop(sprintf("cannot evaluate the grouping factor '%s': %s", bar$group, conditionMessage(e)), call. = FALSE))
  # factor() drops unused levels; skipped (it costs a unique() and a match() of all
  # rows) for a factor that uses all of its levels.
  if (!is.factor(f) || any(tabulate(f, nlevels(f)) == 0L)) f <- factor(f)
  if (anyNA(f))
    stop(sprintf("the grouping factor '%s' has missing values; remove those rows or use na.action = na.omit", bar$group),
         call. = FALSE)
  if (nlevels(f) < 2L)
    stop(sprintf("the grouping factor '%s' has a single level; a random effect needs at least two", bar$group),
         call. = FALSE)
  f
}

# A factor C with C C' = K over `levels` (rows and columns of K matched by name).
relationship_factor <- function(K, levels, group) {
  K <- check_matrix(K, sprintf("relmat$%s", group), "lmm", square = TRUE)
  rn <- rownames(K)
  cn <- colnames(K)
  if (is.null(rn) && is.null(cn))
    stop(sprintf("relmat$%s needs dimnames naming the levels of '%s'", group, group), call. = FALSE)
  # Names on one side only name both (a symmetric matrix).
  if (is.null(rn)) rn <- cn
  if (is.null(cn)) cn <- rn
  if (!identical(rn, cn)) stop(sprintf("relmat$%s has different row and column names", group), call. = FALSE)
  dup <- unique(rn[duplicated(rn)])
  if (length(dup))
    stop(sprintf("relmat$%s has duplicated dimnames: %s", group, paste(utils::head(dup, 5), collapse = ", ")),
         call. = FALSE)
  dimnames(K) <- list(rn, rn)
  miss <- setdiff(levels, rn)
  if (length(miss))
    stop(sprintf("relmat$%s has no rows for %d level(s) of '%s': %s", group, length(miss), group,
                 paste(utils::head(miss, 5), collapse = ", ")), call. = FALSE)
  scale <- max(abs(diag(K)), 1e-300)
  if (max(abs(K - t(K))) > 1e-8 * scale) stop(sprintf("relmat$%s is not symmetric", group), call. = FALSE)
  K <- K[levels, levels, drop = FALSE]
  K <- (K + t(K)) / 2
  # A zero matrix gives the term no variance at all: theta would be unidentifiable.
  if (all(K == 0)) stop(sprintf("relmat$%s is all zero over the levels of '%s'", group, group), call. = FALSE)
  C <- tryCatch(t(chol(K)), error = function(e) NULL)
  if (is.null(C)) {
    ev <- .sym_eigen(K)
    if (min(ev$values) < -1e-8 * max(abs(ev$values)))
      stop(sprintf("relmat$%s is not positive semi-definite (smallest eigenvalue %.3g)", group, min(ev$values)),
           call. = FALSE)
    C <- ev$vectors %*% diag(sqrt(pmax(ev$values, 0)), nrow(K))
    C <- unname(C)
    # kept for the spectral path (one decomposition of K per fit)
    attr(C, "eigen") <- ev
    return(C)
  }
  unname(C)
}
