# Accessors with lme4's names and return shapes.

#' Methods for fitted "lemma_fit" models
#'
#' Accessors that behave as lme4's methods for `lmer` fits.
#'
#' @param object,x,formula a fitted model from [lmm()].
#' @param REML for `deviance`: `NULL` gives the criterion the model was fitted
#'   with (the REML criterion for a REML fit, as lme4), `FALSE` the deviance
#'   (-2 log-likelihood) at the estimates.
#' @param type for `residuals`: `"response"` or `"working"` (y minus fitted), or
#'   `"pearson"` or `"deviance"` (times the square root of the prior weights), as
#'   lme4 for a linear mixed model.
#' @param scaled for `residuals`: divide by sigma.
#' @param adjust for `vcov`: `"none"` or `"Kenward-Roger"` (the adjusted covariance).
#' @param fixed.only for `model.matrix`: only the fixed-effects matrix is returned;
#'   for `model.frame`: the response and the evaluated fixed-effect terms, as lme4.
#' @param ... unused.
#' @name lmm-methods
#' @return As the corresponding lme4 methods.
#' @examples
#' fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
#' fixef(fit)
#' vcov(fit)
#' logLik(fit)
#' AIC(fit); BIC(fit)
#' head(fitted(fit)); head(residuals(fit))
#' nobs(fit); ngrps(fit); sigma(fit)
NULL

#' @rdname lmm-methods
#' @export
fixef.lemma_fit <- function(object, ...) object$beta

#' @rdname lmm-methods
#' @export
vcov.lemma_fit <- function(object, adjust = c("none", "Kenward-Roger"), ...) {
  adjust <- check_choice(adjust[1L], c("none", "Kenward-Roger"), "adjust", "vcov")
  check_dots_unused(list(...), "vcov")
  if (adjust == "Kenward-Roger") return(vcov_kr(object))
  vcov_beta(object)
}

# sigma^2 (R_X' R_X)^{-1}: the covariance of beta-hat given theta (p x p, possibly 0 x 0).
vcov_beta <- function(fit) {
  p <- length(fit$beta)
  V <- if (p == 0L) matrix(0, 0L, 0L) else fit$sigma^2 * chol2inv(t(fit$RX))
  dimnames(V) <- list(names(fit$beta), names(fit$beta))
  V
}

#' @rdname lmm-methods
#' @export
sigma.lemma_fit <- function(object, ...) object$sigma

#' @rdname lmm-methods
#' @export
logLik.lemma_fit <- function(object, REML = NULL, ...) {
  if (!is.null(REML)) check_flag(REML, "REML", "logLik")
  check_dots_unused(list(...), "logLik")
  reml <- if (is.null(REML)) object$REML else REML
  if (reml && !object$REML) stop("an ML fit has no REML log-likelihood here; refit with REML = TRUE", call. = FALSE)
  crit <- if (reml) object$devcomp[["REML"]] else object$devcomp[["dev"]]
  structure(-crit / 2, nobs = nobs(object), nall = nobs(object),
            df = length(object$beta) + length(object$theta) + 1L, REML = reml, class = "logLik")
}

#' @rdname lmm-methods
#' @export
deviance.lemma_fit <- function(object, REML = NULL, ...) {
  if (!is.null(REML)) check_flag(REML, "REML", "deviance")
  check_dots_unused(list(...), "deviance")
  if (is.null(REML)) REML <- object$REML
  if (isTRUE(REML)) {
    if (!object$REML) stop("an ML fit has no REML criterion here; refit with REML = TRUE", call. = FALSE)
    return(object$devcomp[["REML"]])
  }
  object$devcomp[["dev"]]
}

#' @rdname lmm-methods
#' @export
nobs.lemma_fit <- function(object, ...) length(object$y)

#' @rdname lmm-methods
#' @export
df.residual.lemma_fit <- function(object, ...) nobs(object) - (length(object$beta) + length(object$theta) + 1L)

#' @rdname lmm-methods
#' @export
fitted.lemma_fit <- function(object, ...) {
  f <- stats::setNames(object$fitted, rownames(object$frame))
  stats::naresid(object$na.action, f)
}

#' @rdname lmm-methods
#' @export
residuals.lemma_fit <- function(object, type = c("response", "working", "pearson", "deviance"), scaled = FALSE, ...) {
  check_dots_unused(list(...), "residuals")
  # lme4, for a linear mixed model: working = response = y - fitted;
  # pearson = deviance = sqrt(prior weight) * (y - fitted).
  type <- check_choice(if (missing(type)) "response" else type,
                       c("response", "working", "pearson", "deviance"), "type", "residuals")
  check_flag(scaled, "scaled", "residuals")
  r <- object$resid
  if (type %in% c("pearson", "deviance")) r <- r * sqrt(object$weights)
  if (scaled) r <- r / object$sigma
  r <- stats::setNames(r, rownames(object$frame))
  stats::naresid(object$na.action, r)
}

#' Prior weights of a fit
#'
#' The prior weights of the observations used in the fit (1 when the model has
#' none), unnamed, as lme4's method.
#'
#' @param object a fitted model.
#' @param type `"prior"`; `"working"` weights exist only for generalized models (an
#'   error, as in lme4).
#' @param ... unused (a warning names them).
#' @return A numeric vector.
#' @examples
#' fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
#' head(weights(fit))
#' @export
weights.lemma_fit <- function(object, type = c("prior", "working"), ...) {
  check_dots_unused(list(...), "weights")
  type <- check_choice(type[1], c("prior", "working"), "type", "weights")
  if (type == "working") stop("weights(): working weights exist only for generalized models; use type = \"prior\"", call. = FALSE)
  # unnamed, over the observations used, as lme4
  object$weights
}

#' @rdname lmm-methods
#' @export
formula.lemma_fit <- function(x, ...) x$formula

#' @rdname lmm-methods
#' @export
terms.lemma_fit <- function(x, ...) x$fixed_terms

#' @rdname lmm-methods
#' @export
model.frame.lemma_fit <- function(formula, fixed.only = FALSE, ...) {
  check_flag(fixed.only, "fixed.only", "model.frame")
  check_dots_unused(list(...), "model.frame")
  if (!fixed.only) return(formula$frame)
  # lme4's fixed-only frame: the response and the fixed-effect terms, evaluated.
  tt <- formula$fixed_terms
  stats::model.frame(tt, formula$frame, na.action = stats::na.pass)
}

#' @rdname lmm-methods
#' @export
model.matrix.lemma_fit <- function(object, fixed.only = TRUE, ...) {
  if (!fixed.only) stop("only the fixed-effects model matrix is available; lemma never forms Z", call. = FALSE)
  object$X
}

#' @rdname lmm-methods
#' @export
na.action.lemma_fit <- function(object, ...) object$na.action

#' @rdname lmm-methods
#' @export
getCall.lemma_fit <- function(x, ...) x$call

#' @rdname lmm-methods
#' @export
coef.lemma_fit <- function(object, ...) {
  check_dots_unused(list(...), "coef")
  re <- ranef(object, condVar = FALSE)
  beta <- object$beta
  # as lme4: random-effect columns without a fixed effect come first (fixed part 0)
  extra <- setdiff(unique(unlist(lapply(re, names))), names(beta))
  fixed <- c(stats::setNames(numeric(length(extra)), extra), beta)
  out <- lapply(re, function(r) {
    cf <- as.data.frame(matrix(fixed, nrow(r), length(fixed), byrow = TRUE,
                               dimnames = list(rownames(r), names(fixed))), check.names = FALSE)
    for (nm in colnames(r)) cf[[nm]] <- cf[[nm]] + r[[nm]]
    cf
  })
  structure(out, class = "lemma_coef")
}

#' @export
print.lemma_coef <- function(x, ...) {
  print(unclass(x), ...)
  invisible(x)
}
