# emmeans support: recover_data and emm_basis methods for "lemma_fit" fits, registered
# by register_inference_methods() when emmeans is installed. Degrees of freedom
# come from lemma's own Satterthwaite (default) or Kenward-Roger computations
# (argument lmm.df), with no cap on the number of observations.

#' emmeans support for lmm fits
#'
#' `emmeans(fit, ~ arm | visit, lmm.df = "satterthwaite")` works on `lmm` fits:
#' estimates and standard errors as for lme4 fits, degrees of freedom from
#' Satterthwaite's method (default; unadjusted covariance, as emmeans on lmerTest
#' fits) or Kenward-Roger's (`lmm.df = "kenward-roger"`; adjusted covariance and
#' pbkrtest's df), or `"asymptotic"` (infinite df).
#'
#' @param object an `lmm` fit.
#' @param trms,xlev,grid supplied by emmeans.
#' @param lmm.df `"satterthwaite"`, `"kenward-roger"` or `"asymptotic"`; the
#'   default is `getOption("lemma.lmm.df", "satterthwaite")`.
#' @param ... passed on by emmeans.
#' @return What emmeans expects of these methods.
#' @name emmeans-lmm
#' @keywords internal
NULL

#' @rdname emmeans-lmm
recover_data.lemma_fit <- function(object, ...) {
  emmeans::recover_data(object$call, stats::delete.response(object$fixed_terms), object$na.action,
                        frame = object$frame, ...)
}

#' @rdname emmeans-lmm
emm_basis.lemma_fit <- function(object, trms, xlev, grid, lmm.df = getOption("lemma.lmm.df", "satterthwaite"), ...) {
  mode <- match.arg(tolower(lmm.df), c("satterthwaite", "kenward-roger", "asymptotic"))
  contr <- attr(object$X, "contrasts")
  m <- stats::model.frame(trms, grid, na.action = stats::na.pass, xlev = xlev)
  X <- stats::model.matrix(trms, m, contrasts.arg = contr)
  dropped <- attr(object$X, "col.dropped")
  bhat <- stats::setNames(rep(NA_real_, ncol(X)), colnames(X))
  bhat[names(object$beta)] <- object$beta
  if (length(dropped) == 0L && all(!is.na(bhat))) {
    nbasis <- estimability::all.estble
  } else {
    Xfull <- stats::model.matrix(object$fixed_terms, object$frame, contrasts.arg = contr)
    nbasis <- estimability::nonest.basis(Xfull)
  }
  keep <- !is.na(bhat)
  if (mode == "kenward-roger") {
    kr <- kenward_roger_parts(object)
    V <- kr$PhiA
    # emmeans may re-create dffun elsewhere: everything it needs travels in dfargs
    dfargs <- list(kr = kr, keep = keep, fun = function(kr, k) kr_adjust(kr, matrix(k, nrow = 1L))$ddf)
    dffun <- function(k, dfargs) dfargs$fun(dfargs$kr, k[dfargs$keep])
  } else if (mode == "satterthwaite") {
    parts <- satterthwaite_parts(object)
    V <- parts$vcov
    dfargs <- list(parts = parts, keep = keep, fun = satterthwaite_df1)
    dffun <- function(k, dfargs) dfargs$fun(dfargs$parts, k[dfargs$keep])
  } else {
    V <- unname(vcov_beta(object))
    dfargs <- list()
    dffun <- function(k, dfargs) Inf
  }
  attr(dffun, "mesg") <- mode
  V <- unname(as.matrix(V))
  list(X = X, bhat = bhat, nbasis = nbasis, V = V, dffun = dffun, dfargs = dfargs, misc = list())
}
