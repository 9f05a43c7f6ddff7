# F tests per model term (lmerTest's anova for a single model): the contrast
# matrices of type I, II and III hypotheses, then joint F tests through contest_md().

# The model's variables as a plain data frame: without the model frame's "terms",
# model.matrix() evaluates the terms (I(x^2), log(x)) from the variables instead of
# looking for columns named after them.
variables_data <- function(fit) {
  fr <- fit$frame
  attr(fr, "terms") <- NULL
  fr
}

term_labels <- function(fit) attr(fit$fixed_terms, "term.labels")

# columns of X per term (from the "assign" attribute)
term_columns <- function(fit, X = fit$X) {
  asgn <- attr(X, "assign")
  labs <- term_labels(fit)
  has_int <- attr(fit$fixed_terms, "intercept") > 0
  col_terms <- if (has_int) c("(Intercept)", labs)[asgn + 1L] else labs[asgn[asgn > 0]]
  nm <- union(unique(col_terms), labs)
  res <- stats::setNames(lapply(nm, function(x) integer(0)), nm)
  map <- split(seq_along(col_terms), col_terms)
  res[names(map)] <- map
  res[nm]
}

var_classes <- function(fit) {
  vars <- rownames(attr(fit$fixed_terms, "factors"))
  env <- environment(fit$formula)
  if (is.null(env)) env <- parent.frame()
  stats::setNames(vapply(vars, function(v) {
    x <- tryCatch(eval(str2lang(v), fit$frame, env), error = function(e) NULL)
    if (is.null(x)) "other" else stats::.MFclass(x)
  }, character(1)), vars)
}

# For each term, the terms that contain it (lmerTest's containment rule: all its
# variables and more, with the same numeric variables).
term_containment <- function(fit) {
  fac <- attr(fit$fixed_terms, "factors")
  labs <- term_labels(fit)
  cls <- var_classes(fit)
  vars <- lapply(stats::setNames(labs, labs), function(t) rownames(fac)[fac[, t] != 0])
  nums <- lapply(vars, function(v) v[cls[v] == "numeric"])
  lapply(stats::setNames(labs, labs), function(t) {
    labs[vapply(labs, function(o) all(vars[[t]] %in% vars[[o]]) && length(setdiff(vars[[o]], vars[[t]])) > 0 &&
                  setequal(nums[[t]], nums[[o]]), logical(1))]
  })
}

# t(L) of the unit-lower-triangular (Doolittle) factor of X'X: row i is the type I
# contrast of column i adjusted for the columns before it.
doolittle_t <- function(XtX) {
  R <- chol(XtX)
  Lt <- R / diag(R)
  Lt[abs(Lt) < 1e-6] <- 0
  Lt
}

contrasts_type1 <- function(fit) {
  X <- fit$X
  p <- ncol(X)
  labs <- term_labels(fit)
  if (p == 0L || length(labs) == 0L) return(list())
  L <- if (p == 1L) matrix(1) else doolittle_t(crossprod(X))
  dimnames(L) <- list(colnames(X), colnames(X))
  map <- term_columns(fit)[labs]
  lapply(map, function(rows) L[rows, , drop = FALSE])
}

contrasts_marginal <- function(fit, which) {
  X <- fit$X
  L <- diag(ncol(X))
  dimnames(L) <- list(colnames(X), colnames(X))
  map <- term_columns(fit)
  lapply(stats::setNames(which, which), function(t) L[map[[t]], , drop = FALSE])
}

contrasts_type2 <- function(fit) {
  X <- fit$X
  labs <- term_labels(fit)
  if (ncol(X) <= 1L || length(labs) <= 1L) return(contrasts_type1(fit))
  cont <- term_containment(fit)
  marg <- names(cont)[lengths(cont) == 0L]
  out <- if (length(marg)) contrasts_marginal(fit, marg) else list()
  asgn <- attr(X, "assign")
  has_int <- attr(fit$fixed_terms, "intercept") > 0
  col_terms <- if (has_int) c("(Intercept)", labs)[asgn + 1L] else labs[asgn[asgn > 0]]
  map <- split(seq_along(col_terms), col_terms)
  for (t in setdiff(labs, marg)) {
    cols <- unlist(map[c(t, cont[[t]])])
    Xn <- cbind(X[, -cols, drop = FALSE], X[, cols, drop = FALSE])
    nct <- c(col_terms[-cols], col_terms[cols])
    Lc <- doolittle_t(crossprod(Xn))
    dimnames(Lc) <- list(colnames(Xn), colnames(Xn))
    out[[t]] <- Lc[nct == t, colnames(X), drop = FALSE]
  }
  out[labs]
}

# lmerTest's type III contrasts: defined on treatment coding with the complete
# (rank-deficient) design, terms orthogonalized against the terms containing them,
# then mapped to the coding actually used.
contrasts_type3 <- function(fit) {
  X <- fit$X
  labs <- term_labels(fit)
  if (ncol(X) <= 1L || length(labs) <= 1L) return(contrasts_type1(fit))
  codings <- unlist(attr(X, "contrasts"))
  if (length(codings) == 0L || (is.character(codings) && all(codings == "contr.treatment")))
    return(type3_treatment(fit, X))
  ctr <- lapply(attr(X, "contrasts"), function(x) "contr.treatment")
  Xt <- stats::model.matrix(fit$fixed_terms, variables_data(fit), contrasts.arg = ctr)
  Xt <- drop_dependent(Xt)
  L3 <- type3_treatment(fit, Xt)
  map <- zapsmall(pseudo_inverse(Xt) %*% X)
  rownames(map) <- colnames(Xt)
  lapply(L3, function(L) {
    out <- L %*% map
    colnames(out) <- colnames(X)
    out
  })
}

drop_dependent <- function(X) {
  qx <- qr(X)
  if (qx$rank == ncol(X)) return(X)
  keep <- sort(qx$pivot[seq_len(qx$rank)])
  asgn <- attr(X, "assign")
  ctr <- attr(X, "contrasts")
  X <- X[, keep, drop = FALSE]
  attr(X, "assign") <- asgn[keep]
  attr(X, "contrasts") <- ctr
  X
}

type3_treatment <- function(fit, X) {
  labs <- term_labels(fit)
  fr <- variables_data(fit)
  pieces <- lapply(labs, function(t) stats::model.matrix(stats::as.formula(paste("~ 0 +", t)), data = fr))
  rdX <- do.call(cbind, pieces)
  nms <- unlist(lapply(pieces, colnames))
  if (attr(fit$fixed_terms, "intercept") > 0) {
    rdX <- cbind(1, rdX)
    nms <- c("(Intercept)", nms)
  }
  colnames(rdX) <- nms
  L <- zapsmall(t(pseudo_inverse(X) %*% rdX))
  dimnames(L) <- list(nms, colnames(X))
  map <- term_columns(fit, X)
  cont <- term_containment(fit)
  ord <- attr(fit$fixed_terms, "order")
  for (t in labs[order(ord, decreasing = TRUE)]) {
    if (length(cont[[t]]) > 0L) {
      xc <- L[, unlist(map[cont[[t]]]), drop = FALSE]
      y <- L[, map[[t]], drop = FALSE]
      L[, map[[t]]] <- zapsmall(stats::resid(stats::lm.fit(x = xc, y = y)))
    }
  }
  L <- L[colnames(X), , drop = FALSE]
  out <- lapply(map[labs], function(cols) t(L[, cols, drop = FALSE]))
  lapply(out, function(l) l[rowSums(abs(l)) > 1e-8, , drop = FALSE])
}

#' F tests of the model terms
#'
#' Type III (default), II or I F tests of each fixed-effects term with
#' Satterthwaite's or Kenward-Roger's denominator degrees of freedom, as
#' lmerTest's `anova()` of one model. Kenward-Roger tests use the adjusted
#' covariance and pbkrtest's F scaling.
#'
#' @param fit an `lmm` fit.
#' @param type `"III"`, `"II"` or `"I"` (also 3, 2, 1).
#' @param ddf `"Satterthwaite"` or `"Kenward-Roger"`.
#' @return A data frame of class `anova` with columns Sum Sq, Mean Sq, NumDF,
#'   DenDF, F value, Pr(>F), one row per term.
#' @examples
#' fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
#' anova_terms(fit)
#' @export
anova_terms <- function(fit, type = c("III", "II", "I"), ddf = c("Satterthwaite", "Kenward-Roger")) {
  check_fit(fit, "anova_terms")
  # lmerTest also takes 3, 2, 1
  if (is.numeric(type) && length(type) >= 1L) type <- c("I", "II", "III")[match(type[1L], 1:3)]
  type <- check_choice(as.character(type)[1L], c("III", "II", "I"), "type", "anova")
  ddf <- match_ddf(ddf, none = FALSE, fn = "anova_terms")
  check_ddf_fit(fit, ddf)
  Ls <- switch(type, III = contrasts_type3(fit), II = contrasts_type2(fit), I = contrasts_type1(fit))
  Ls <- Ls[vapply(Ls, nrow, integer(1)) > 0L]
  rows <- lapply(Ls, function(L) contest_md(fit, L, ddf))
  tab <- do.call(rbind, rows)
  if (is.null(tab)) tab <- f_table(numeric(0), numeric(0), numeric(0), numeric(0))
  rownames(tab) <- names(Ls)
  method <- if (ddf == "Satterthwaite") "Satterthwaite's" else "Kenward-Roger's"
  th <- c(III = "Type III", II = "Type II", I = "Type I")[[type]]
  attr(tab, "heading") <- paste(th, "Analysis of Variance Table with", method, "method")
  class(tab) <- c("anova", "data.frame")
  tab
}
