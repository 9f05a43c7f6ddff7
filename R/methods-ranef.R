# Random effects (conditional modes) and variance components.

#' Conditional modes of the random effects
#'
#' One data frame per grouping factor (terms on the same factor are joined, as in
#' lme4), rows named by level. With `condVar = TRUE` (the default, as lme4) each
#' carries the conditional variances as attribute `"postVar"`: a p x p x levels
#' array, or a list of them (one per term) when several terms share the factor.
#'
#' @param object a fitted model.
#' @param condVar also compute conditional variances (given the fixed effects).
#' @param drop return a named vector instead of a one-column data frame.
#' @param whichel names of the grouping factors to return; default all.
#' @param postVar deprecated name of `condVar` (as in lme4).
#' @param ... unused (a warning names them).
#' @return An object of class `"lemma_ranef"`; `as.data.frame()` gives columns grpvar,
#'   term, grp, condval (and condsd) as lme4's method: grpvar is character, grp a
#'   factor whose levels are ordered, within each grouping factor, by the first
#'   column's conditional modes.
#' @examples
#' fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
#' head(as.data.frame(ranef(fit)))
#' ranef(lmm(Reaction ~ Days + (1 | Subject), sleepstudy), drop = TRUE)
#' @export
ranef.lemma_fit <- function(object, condVar = TRUE, drop = FALSE, whichel = NULL, postVar = FALSE, ...) {
  check_dots_unused(list(...), "ranef")
  if (!missing(postVar) && missing(condVar)) {
    warning("ranef(): 'postVar' is deprecated; use 'condVar'", call. = FALSE)
    condVar <- postVar
  }
  check_flag(condVar, "condVar", "ranef")
  check_flag(drop, "drop", "ranef")
  terms <- object$reterms$terms
  groups <- vapply(terms, function(t) t$group, character(1))
  ug <- unique(groups)
  if (!is.null(whichel)) {
    bad <- setdiff(whichel, ug)
    if (length(bad)) stop(sprintf("ranef(): 'whichel' names %s, not a grouping factor of the model (%s)",
                                  paste0("'", bad, "'", collapse = ", "), paste(ug, collapse = ", ")), call. = FALSE)
    ug <- ug[ug %in% whichel]
  }
  cv <- if (condVar) term_condvar(object) else NULL
  out <- lapply(ug, function(g) {
    idx <- which(groups == g)
    df <- as.data.frame(do.call(cbind, object$b[idx]), check.names = FALSE)
    if (condVar) {
      pv <- lapply(idx, function(k) cv[[k]])
      names(pv) <- vapply(idx, function(k) paste(terms[[k]]$cnms, collapse = ":"), character(1))
      attr(df, "postVar") <- if (length(pv) == 1L) pv[[1]] else pv
    }
    if (drop && ncol(df) == 1L) {
      pv <- attr(df, "postVar")
      df <- stats::setNames(df[[1]], rownames(df))
      if (!is.null(pv)) attr(df, "postVar") <- drop(pv)
    }
    df
  })
  names(out) <- ug
  structure(out, class = "lemma_ranef")
}

# Conditional covariance arrays (p x p x levels) of b for each term, sigma^2 included.
term_condvar <- function(object) {
  if (inherits(object, "lemma_covfit")) return(covfit_condvar(object))
  if (!is.null(object$spectral)) {
    # Var(b | y) / sigma^2 = U diag(lambda d / (1 + lambda d)) U'; its diagonal.
    s <- object$spectral
    lam <- object$theta[[1]]^2
    v <- drop((s$U^2) %*% (lam * s$d / (1 + lam * s$d)))
    return(list(array(object$sigma^2 * v, c(1, 1, length(v)))))
  }
  blocks <- .model_condvar(model_ptr(object), object$theta)
  Map(function(t, blk) {
    p <- length(t$cnms)
    arr <- array(object$sigma^2 * blk, c(p, p, t$nlev))
    arr
  }, object$reterms$terms, blocks)
}

#' @export
print.lemma_ranef <- function(x, ...) {
  has_pv <- vapply(x, function(d) !is.null(attr(d, "postVar")), logical(1))
  print(lapply(unclass(x), function(d) { attr(d, "postVar") <- NULL; d }), ...)
  if (any(has_pv)) cat("with conditional variances for", paste0("\"", names(x)[has_pv], "\"", collapse = ", "), "\n")
  invisible(x)
}

# lme4's layout: per grouping factor, the columns stacked; grp's levels ordered by
# the first column's values (ties by level name), the factors' level sets joined in
# order; grpvar character.
#' @export
as.data.frame.lemma_ranef <- function(x, row.names = NULL, optional = FALSE, ...) {
  check_dots_unused(list(...), "as.data.frame")
  grp_levels <- character(0)
  out <- lapply(names(x), function(g) {
    d <- x[[g]]
    if (is.null(dim(d))) {
      pv <- attr(d, "postVar")
      d <- stats::setNames(data.frame(d, row.names = names(d)), "(Intercept)")
      if (!is.null(pv)) attr(d, "postVar") <- array(pv, c(1, 1, length(pv)))
    }
    pv <- attr(d, "postVar")
    if (!is.null(pv) && !is.list(pv)) pv <- list(pv)
    sds <- if (!is.null(pv)) unlist(lapply(pv, function(a) {
      p <- dim(a)[1]
      lapply(seq_len(p), function(j) sqrt(a[j, j, ]))
    }), recursive = FALSE) else NULL
    lev <- sort(unique(rownames(d)))
    lev <- lev[order(d[[1]][match(lev, rownames(d))])]
    grp_levels <<- c(grp_levels, setdiff(lev, grp_levels))
    rows <- lapply(seq_along(d), function(j) {
      r <- data.frame(grpvar = g, term = names(d)[j], grp = rownames(d), condval = d[[j]],
                      stringsAsFactors = FALSE)
      if (!is.null(sds)) r$condsd <- sds[[j]]
      r
    })
    do.call(rbind, rows)
  })
  out <- do.call(rbind, out)
  out$term <- factor(out$term, levels = unique(out$term))
  out$grp <- factor(out$grp, levels = grp_levels)
  rownames(out) <- NULL
  out
}

#' Variance components of a fit
#'
#' The covariance matrix of each random-effect term (sigma^2 lambda lambda'),
#' with standard deviations and correlations, and the residual standard deviation,
#' as lme4's `VarCorr`. Terms sharing a grouping factor are listed separately
#' (named `g`, `g.1`, ...).
#'
#' @param x a fitted model.
#' @param sigma the residual standard deviation that scales the covariances (by
#'   default the fit's), as lme4's.
#' @param ... unused.
#' @return An object of class `"lemma_VarCorr"`; `as.data.frame()` gives columns
#'   grp, var1, var2, vcov, sdcor.
#' @examples
#' fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
#' VarCorr(fit)
#' as.data.frame(VarCorr(fit))
#' @export
VarCorr.lemma_fit <- function(x, sigma = 1, ...) {
  check_dots_unused(list(...), "VarCorr")
  terms <- x$reterms$terms
  # as lme4: a given 'sigma' replaces the residual SD that scales the covariances
  s <- if (missing(sigma)) x$sigma else check_number(sigma, "sigma", "VarCorr", lower = 0)
  out <- lapply(terms, function(t) {
    lam <- theta_to_lambda(x$theta[t$theta_index], length(t$cnms))
    V <- s^2 * tcrossprod(lam)
    dimnames(V) <- list(t$cnms, t$cnms)
    sd <- sqrt(diag(V))
    cor <- V / outer(sd, sd)
    cor[!is.finite(cor)] <- 0
    diag(cor) <- 1
    attr(V, "stddev") <- sd
    attr(V, "correlation") <- cor
    V
  })
  names(out) <- make.unique(vapply(terms, function(t) t$group, character(1)))
  structure(out, sc = s, useSc = TRUE, class = "lemma_VarCorr")
}

theta_to_lambda <- function(theta, p) {
  lam <- matrix(0, p, p)
  lam[lower.tri(lam, diag = TRUE)] <- theta
  lam
}

#' @export
as.data.frame.lemma_VarCorr <- function(x, row.names = NULL, optional = FALSE, ...) {
  rows <- lapply(names(x), function(g) {
    V <- x[[g]]
    nm <- rownames(V)
    sd <- attr(V, "stddev")
    cor <- attr(V, "correlation")
    d <- data.frame(grp = g, var1 = nm, var2 = NA_character_, vcov = diag(V), sdcor = sd,
                    stringsAsFactors = FALSE)
    if (length(nm) > 1L) {
      lt <- which(lower.tri(V), arr.ind = TRUE)
      lt <- lt[order(lt[, 2], lt[, 1]), , drop = FALSE]
      d <- rbind(d, data.frame(grp = g, var1 = nm[lt[, 2]], var2 = nm[lt[, 1]], vcov = V[lt],
                               sdcor = cor[lt], stringsAsFactors = FALSE))
    }
    d
  })
  s <- attr(x, "sc")
  rows[[length(rows) + 1L]] <- data.frame(grp = "Residual", var1 = NA_character_, var2 = NA_character_,
                                          vcov = s^2, sdcor = s, stringsAsFactors = FALSE)
  out <- do.call(rbind, rows)
  rownames(out) <- NULL
  out
}

#' @export
print.lemma_VarCorr <- function(x, digits = max(3, getOption("digits") - 2), comp = c("Std.Dev.", "Variance"), ...) {
  tab <- format_varcorr(x, digits, comp = match.arg(comp, several.ok = TRUE))
  print(tab, quote = FALSE, right = FALSE)
  invisible(x)
}

format_varcorr <- function(x, digits, comp = "Std.Dev.") {
  rows <- list()
  for (g in names(x)) {
    V <- x[[g]]
    nm <- rownames(V)
    cor <- attr(V, "correlation")
    for (i in seq_along(nm)) {
      r <- c(Groups = if (i == 1) g else "", Name = nm[i])
      if ("Variance" %in% comp) r <- c(r, Variance = format(V[i, i], digits = digits))
      if ("Std.Dev." %in% comp) r <- c(r, Std.Dev. = format(sqrt(V[i, i]), digits = digits))
      cr <- if (i > 1) paste(formatC(cor[i, seq_len(i - 1)], digits = 2, format = "f"), collapse = " ") else ""
      rows[[length(rows) + 1L]] <- c(r, Corr = cr)
    }
  }
  s <- attr(x, "sc")
  r <- c(Groups = "Residual", Name = "")
  if ("Variance" %in% comp) r <- c(r, Variance = format(s^2, digits = digits))
  if ("Std.Dev." %in% comp) r <- c(r, Std.Dev. = format(s, digits = digits))
  rows[[length(rows) + 1L]] <- c(r, Corr = "")
  tab <- do.call(rbind, rows)
  if (all(tab[, "Corr"] == "")) tab <- tab[, colnames(tab) != "Corr", drop = FALSE]
  rownames(tab) <- rep("", nrow(tab))
  tab
}
