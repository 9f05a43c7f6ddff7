# Methods for fits with a residual covariance structure (class "lemma_covfit",
# which extends "lemma_fit"). The methods below know about the structure; those of
# "lemma_fit" that do not yet are refused with a message naming them, rather than
# giving a number that ignores the structure.

#' Methods for fits with a residual covariance structure
#'
#' A model with a covariance term such as `us(visit | id)` (see [lmm()]) gives an
#' object of class `"lemma_covfit"`, which extends `"lemma_fit"`. `fixef`, `vcov`,
#' `sigma`, `logLik`, `AIC`, `BIC`, `deviance`, `nobs`, `fitted`, `residuals`
#' (response scale), `formula`, `model.matrix`, `summary` (Satterthwaite or
#' Kenward-Roger df) and
#' `predict` (population level: the fixed effects) work on it; `VarCorr` gives the
#' estimated residual covariance matrix of each group (and the random-effect
#' variances, if any), printed with the correlations. Methods not yet available for
#' these fits (ranef, anova, confint, simulate, ...) stop with a
#' message naming them.
#'
#' `sigma()` is the square root of the scale that the criterion profiles out: the
#' residual variance of the first visit for `us` and the heterogeneous structures,
#' the common residual variance for the homogeneous ones, the residual variance of
#' the first level with `lmm(dispformula = ~ f)`. For those fits `VarCorr()` gives
#' the variance of every level (`diag(VarCorr(fit)$residual[[1]])`) and prints
#' them with their ratios to the first.
#'
#' @param object,x a fit with a residual covariance term.
#' @param ddf `"Satterthwaite"` (default), `"Kenward-Roger"` (REML fits: adjusted
#'   standard errors and df as mmrm's `method = "Kenward-Roger"`) or `"none"`.
#' @param newdata optional data frame for `predict`.
#' @param re.form for `predict`: `NA` (population predictions; the only form so far).
#' @param REML for `logLik`: the REML (default for REML fits) or ML log-likelihood.
#' @param type for `residuals`: `"response"` only.
#' @param digits number of significant digits to print.
#' @param ... further arguments are refused with a warning naming them.
#' @name covfit-methods
#' @examples
#' d <- data.frame(id = factor(rep(1:30, each = 3)), visit = factor(rep(c("v1", "v2", "v3"), 30)),
#'                 arm = factor(rep(c("a", "b"), each = 45)))
#' set.seed(1)
#' e <- t(chol(matrix(c(1, .6, .4, .6, 1, .6, .4, .6, 1.5), 3))) %*% matrix(rnorm(90), 3)
#' d$y <- as.numeric(e) + (d$arm == "b") * 0.5
#' fit <- lmm(y ~ arm * visit + us(visit | id), d)
#' fit
#' VarCorr(fit)
#' summary(fit)$coefficients
#' summary(fit, ddf = "Kenward-Roger")$coefficients
NULL

#' @rdname covfit-methods
#' @export
print.lemma_covfit <- function(x, digits = max(3, getOption("digits") - 3), ...) {
  check_dots_unused(list(...), "print")
  cs <- x$covstruct
  cat(sprintf("%s fit by %s ['lemma_covfit']\n", covfit_title(x), if (x$REML) "REML" else "maximum likelihood"))
  cat("Formula:", deparse1(x$formula), "\n")
  if (!is.null(x$call$data)) cat("   Data:", deparse1(x$call$data), "\n")
  crit <- if (x$REML) x$devcomp[["REML"]] else x$devcomp[["dev"]]
  cat(sprintf("%s: %s\n", if (x$REML) "REML criterion at convergence" else "-2 log-likelihood",
              format(round(crit, 4), nsmall = 4)))
  print(VarCorr(x), digits = digits)
  cat(covfit_nobs_line(x), "\n", sep = "")
  cat("Fixed Effects:\n")
  print(x$beta, digits = digits)
  if (!isTRUE(x$optinfo$converged)) cat(x$optinfo$warnings, "\n")
  invisible(x)
}

#' @rdname covfit-methods
#' @export
summary.lemma_covfit <- function(object, ddf = c("Satterthwaite", "Kenward-Roger", "none"), ...) {
  check_dots_unused(list(...), "summary")
  ddf <- match_ddf(ddf)
  structure(list(fit = object, coefficients = fixef_table(object, ddf), ddf = ddf, logLik = logLik(object),
                 AIC = stats::AIC(object), BIC = stats::BIC(object), varcor = VarCorr(object)),
            class = "summary.lemma_covfit")
}

#' @export
print.summary.lemma_covfit <- function(x, digits = max(3, getOption("digits") - 3), ...) {
  check_dots_unused(list(...), "print")
  fit <- x$fit
  cat(sprintf("%s fit by %s\n", covfit_title(fit), if (fit$REML) "REML" else "maximum likelihood"))
  if (x$ddf != "none") cat(if (x$ddf == "Kenward-Roger") "Kenward-Roger's method for standard errors and degrees of freedom\n" else
    "Satterthwaite's method for degrees of freedom\n")
  cat("Formula:", deparse1(fit$formula), "\n\n")
  print(round(c(AIC = x$AIC, BIC = x$BIC, logLik = as.numeric(x$logLik),
                deviance = if (fit$REML) fit$devcomp[["REML"]] else fit$devcomp[["dev"]]), 4))
  cat("\n")
  print(x$varcor, digits = digits)
  cat(covfit_nobs_line(fit), "\n\nFixed effects:\n", sep = "")
  stats::printCoefmat(x$coefficients, digits = digits, has.Pvalue = "Pr(>|t|)" %in% colnames(x$coefficients))
  invisible(x)
}

#' @rdname covfit-methods
#' @export
VarCorr.lemma_covfit <- function(x, ...) {
  check_dots_unused(list(...), "VarCorr")
  cs <- x$covstruct
  structure(list(residual = cs$Sigma, random = if (length(x$theta)) VarCorr.lemma_fit(x) else NULL,
                 type = cs$type, visit = cs$visit, subject = cs$subject, group = cs$group),
            class = "lemma_VarCorr_covstruct")
}

#' @export
print.lemma_VarCorr_covstruct <- function(x, digits = max(3, getOption("digits") - 3), ...) {
  if (!is.null(x$random)) {
    cat("Random effects:\n")
    print(x$random, digits = digits, comp = c("Variance", "Std.Dev."))
  }
  if (identical(x$type, "diag")) {
    v <- diag(x$residual[[1L]])
    cat(sprintf("Residual variance per level of %s:\n", x$visit))
    print(data.frame(Variance = signif(v, digits), Std.Dev. = signif(sqrt(v), digits),
                     Ratio = signif(v / v[1L], digits), row.names = names(v), check.names = FALSE))
    return(invisible(x))
  }
  for (g in names(x$residual)) {
    S <- x$residual[[g]]
    cat(sprintf("Residual covariance (%s over %s, subjects %s%s):\n", covstruct_labels[[x$type]], x$visit,
                x$subject, if (is.null(x$group)) "" else sprintf(", %s = %s", x$group, g)))
    print(signif(S, digits))
    cat("Correlation:\n")
    print(round(stats::cov2cor(S), 3))
  }
  invisible(x)
}

#' @rdname covfit-methods
#' @export
vcov.lemma_covfit <- function(object, ...) {
  check_dots_unused(list(...), "vcov")
  vcov_beta(object)
}

# The first line of print() and summary(), and the observation counts.
covfit_title <- function(fit) {
  cs <- fit$covstruct
  if (identical(cs$type, "diag"))
    return(sprintf("Linear %smodel with a residual variance per level of %s",
                   if (length(fit$theta)) "mixed " else "", cs$visit))
  sprintf("Linear model with %s residual covariance", covstruct_labels[[cs$type]])
}

covfit_nobs_line <- function(fit) {
  if (!identical(fit$covstruct$type, "diag"))
    return(sprintf("Number of obs: %d, subjects: %d", length(fit$y), fit$covstruct$nsubj))
  ng <- if (length(fit$theta)) vapply(fit$reterms$terms, function(t) t$nlev, numeric(1)) else numeric(0)
  names(ng) <- vapply(fit$reterms$terms, function(t) t$group, "")
  ng <- ng[!duplicated(names(ng))]
  paste0(sprintf("Number of obs: %d", length(fit$y)),
         if (length(ng)) paste0(", groups:  ", paste(sprintf("%s, %d", names(ng), ng), collapse = "; ")))
}

# Parameters of the covariance model: theta, the structure's, sigma.
covfit_ncov <- function(object) length(object$theta) + object$covstruct$spec$total + 1L

#' @rdname covfit-methods
#' @export
logLik.lemma_covfit <- function(object, REML = NULL, ...) {
  check_dots_unused(list(...), "logLik")
  reml <- if (is.null(REML)) object$REML else isTRUE(REML)
  if (reml && !object$REML) stop("an ML fit has no REML log-likelihood here; refit with REML = TRUE", call. = FALSE)
  crit <- if (reml) object$devcomp[["REML"]] else object$devcomp[["dev"]]
  structure(-crit / 2, nobs = nobs(object), nall = nobs(object), df = length(object$beta) + covfit_ncov(object),
            REML = reml, class = "logLik")
}

#' @rdname covfit-methods
#' @export
df.residual.lemma_covfit <- function(object, ...) nobs(object) - length(object$beta) - covfit_ncov(object)

#' @rdname covfit-methods
#' @export
residuals.lemma_covfit <- function(object, type = "response", ...) {
  check_dots_unused(list(...), "residuals")
  if (!identical(type, "response"))
    stop(sprintf("residuals(): type = \"%s\" is not yet available for fits with a residual covariance term; use type = \"response\"",
                 type[1]), call. = FALSE)
  stats::setNames(object$resid, rownames(object$frame))
}

#' @rdname covfit-methods
#' @export
predict.lemma_covfit <- function(object, newdata = NULL, re.form = NA, ...) {
  check_dots_unused(list(...), "predict")
  if (!(length(re.form) == 1L && is.na(re.form)) && (length(object$theta) || !is.null(re.form)))
    stop("predict(): only population predictions (re.form = NA) are available so far for fits with a residual covariance term",
         call. = FALSE)
  if (is.null(newdata)) {
    eta <- as.numeric(object$X %*% object$beta) + object$offset
    return(stats::setNames(eta, rownames(object$frame)))
  }
  tt <- stats::delete.response(object$fixed_terms)
  mf <- stats::model.frame(tt, newdata, na.action = stats::na.pass, xlev = object$xlevels)
  X <- stats::model.matrix(tt, mf, contrasts.arg = object$contrasts)
  off <- stats::model.offset(mf)
  eta <- as.numeric(X[, names(object$beta), drop = FALSE] %*% object$beta) + if (is.null(off)) 0 else off
  stats::setNames(eta, rownames(newdata))
}

# The methods of "lemma_fit" that do not yet account for a residual structure.
covfit_refuse <- function(what) {
  stop(sprintf("%s is not yet available for fits with a residual covariance term (such as us(visit | id))", what),
       call. = FALSE)
}

#' @export
ranef.lemma_covfit <- function(object, ...) covfit_refuse("ranef()")
#' @export
coef.lemma_covfit <- function(object, ...) covfit_refuse("coef()")
#' @export
anova.lemma_covfit <- function(object, ...) covfit_refuse("anova()")
#' @export
confint.lemma_covfit <- function(object, parm, level = 0.95, ...) covfit_refuse("confint()")
#' @export
contest.lemma_covfit <- function(fit, L, ...) covfit_refuse("contest()")
#' @export
simulate.lemma_covfit <- function(object, nsim = 1, seed = NULL, ...) covfit_refuse("simulate()")
#' @export
refit.lemma_covfit <- function(object, newresp, ...) covfit_refuse("refit()")
#' @export
refitML.lemma_covfit <- function(x, ...) covfit_refuse("refitML()")
#' @export
profile.lemma_covfit <- function(fitted, ...) covfit_refuse("profile()")
#' @export
influence.lemma_covfit <- function(model, ...) covfit_refuse("influence()")
#' @export
hatvalues.lemma_covfit <- function(model, ...) covfit_refuse("hatvalues()")
#' @export
cooks.distance.lemma_covfit <- function(model, ...) covfit_refuse("cooks.distance()")
#' @export
rstudent.lemma_covfit <- function(model, ...) covfit_refuse("rstudent()")
#' @export
plot.lemma_covfit <- function(x, ...) covfit_refuse("plot()")
#' @export
qqnorm.lemma_covfit <- function(y, ...) covfit_refuse("qqnorm()")
#' @export
getME.lemma_covfit <- function(object, name, ...) covfit_refuse("getME()")
#' @export
weights.lemma_covfit <- function(object, ...) covfit_refuse("weights()")
#' @export
ngrps.lemma_covfit <- function(object, ...) covfit_refuse("ngrps()")
#' @export
isSingular.lemma_covfit <- function(x, tol = 1e-4, ...) covfit_refuse("isSingular()")
#' @export
model.frame.lemma_covfit <- function(formula, ...) formula$frame
