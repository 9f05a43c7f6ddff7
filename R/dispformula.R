# A residual variance per level of a factor: lmm(dispformula = ~ f).
#
# The argument takes glmmTMB's name and form (a one-sided formula), the form lme4
# users write; nlme spells the same model weights = varIdent(form = ~ 1 | f), but
# `weights` is lme4's (and lmm()'s) prior-weights argument, and SAS's REPEATED /
# GRP= f is not R syntax. Only a variance per level (or per cell of an interaction)
# is offered: glmmTMB reads ~ a + b as an additive model for log(sigma), which
# is a different model, so it is refused rather than reinterpreted.
# The fit is a residual structure of type "diag" (R/covstruct.R) through the
# covariance-structure engine (R/fit-covstruct.R).

# The parsed dispersion formula: NULL for none (NULL or ~ 1, the homogeneous
# model), else list(vars, label, text).
dispersion_term <- function(dispformula, fn = "lmm") {
  if (is.null(dispformula)) return(NULL)
  if (is.character(dispformula) && length(dispformula) == 1L)
    dispformula <- tryCatch(stats::as.formula(dispformula), error = function(e) NULL)
  if (!inherits(dispformula, "formula") || length(dispformula) != 2L)
    stop(sprintf("%s(): 'dispformula' must be a one-sided formula such as ~ formulation", fn), call. = FALSE)
  text <- deparse1(dispformula)
  tt <- tryCatch(stats::terms(dispformula), error = function(e)
    stop(sprintf("%s(): 'dispformula' (%s) is not a valid formula: %s", fn, text, conditionMessage(e)), call. = FALSE))
  if (!is.null(attr(tt, "offset")))
    stop(sprintf("%s(): 'dispformula' (%s) has an offset: not supported", fn, text), call. = FALSE)
  vars <- as.list(attr(tt, "variables"))[-1L]
  bad <- !vapply(vars, is.name, logical(1))
  if (any(bad))
    stop(sprintf("%s(): '%s' in 'dispformula' (%s) is not a variable: only factors and their interactions (a:b) are supported",
                 fn, deparse1(vars[[which(bad)[1]]]), text), call. = FALSE)
  labels <- attr(tt, "term.labels")
  if (!length(labels)) {
    if (attr(tt, "intercept") == 1L) return(NULL)
    stop(sprintf("%s(): 'dispformula' (%s) has no term: use ~ 1 (one residual variance) or ~ f", fn, text), call. = FALSE)
  }
  vars <- vapply(vars, as.character, "")
  # One variance per cell of the highest-order term: ~ a:b and ~ a * b (all
  # sub-terms present, glmmTMB's saturated model) are the same model.
  fac <- attr(tt, "factors")
  top <- which(colSums(fac > 0) == length(vars))
  if (length(top) != 1L || !(length(labels) %in% c(1L, 2^length(vars) - 1L)))
    stop(sprintf("%s(): 'dispformula' (%s) is additive: only one variance per level of a factor (~ f) or per cell of an interaction (~ a:b) is supported; write ~ %s for one per cell",
                 fn, text, paste(vars, collapse = ":")), call. = FALSE)
  list(vars = vars, label = paste(vars, collapse = ":"), text = text)
}

# The dispersion factor of the model frame `df`: the levels (combinations) that
# occur, in the order of the factors' levels.
dispersion_levels <- function(df, disp) {
  cols <- lapply(disp$vars, function(v) {
    x <- df[[v]]
    if (!is.factor(x) && !is.character(x))
      stop(sprintf("lmm(): '%s' in 'dispformula' (%s) must be a factor (it is %s): only factors and their interactions are supported",
                   v, disp$text, class(x)[1]), call. = FALSE)
    factor(x)
  })
  f <- if (length(cols) == 1L) cols[[1L]] else interaction(cols, sep = ":", lex.order = TRUE, drop = TRUE)
  f <- droplevels(f)
  if (nlevels(f) < 2L)
    stop(sprintf("lmm(): '%s' in 'dispformula' (%s) has one level in the model's rows: nothing to vary; drop 'dispformula'",
                 disp$label, disp$text), call. = FALSE)
  f
}

# A random-effect column that is constant on the rows of one dispersion level and
# 0 elsewhere, with at most one such row per group, adds its variance to that
# level's residual variance and nowhere else: only the sum is identified (the
# test formulation in a partial replicate design, TRR | RTR | RRT, under the
# FDA's model). The likelihood is flat along the split, so say so.
dispersion_confounded <- function(terms, visit, disp) {
  for (tm in terms) for (j in seq_along(tm$cnms)) {
    x <- tm$X[, j]
    on <- x != 0
    if (!any(on)) next
    lev <- unique(visit[on])
    if (length(lev) != 1L || any(visit[!on] == lev) || length(unique(x[on])) != 1L) next
    if (max(tabulate(as.integer(tm$factor)[on], nbins = tm$nlev)) > 1L) next
    warning(sprintf(paste0("lmm(): no level of '%s' has more than one row with %s = %s, so the residual variance of %s ",
                           "('dispformula' %s) and the variance of %s in the term for '%s' are not separately identifiable: ",
                           "only their sum is (as for the test formulation in a partial replicate design). The fixed effects, ",
                           "their standard errors and the other variances are not affected; the split reported is one of many ",
                           "with the same likelihood."),
                    tm$group, disp$label, lev, lev, disp$text, tm$cnms[j], tm$group), call. = FALSE)
  }
}
