# print and summary, laid out as lme4 (and lmerTest, for the df columns) print them.

#' @export
print.lemma_fit <- function(x, digits = max(3, getOption("digits") - 3), ...) {
  cat(fit_title(x), "\n")
  cat("Formula:", deparse1(x$formula), "\n")
  if (!is.null(x$call$data)) cat("   Data:", deparse1(x$call$data), "\n")
  crit <- if (x$REML) c("REML criterion" = x$devcomp[["REML"]]) else {
    ll <- logLik(x)
    c(AIC = stats::AIC(x), BIC = stats::BIC(x), logLik = as.numeric(ll), deviance = x$devcomp[["dev"]],
      df.resid = stats::df.residual(x))
  }
  print(round(crit, 4), digits = digits + 2)
  cat("Random effects:\n")
  print(VarCorr(x), digits = digits)
  cat(sprintf("Number of obs: %d, groups:  %s\n", nobs(x),
              paste(sprintf("%s, %d", names(ngrps(x)), ngrps(x)), collapse = "; ")))
  cat("Fixed Effects:\n")
  print(format(x$beta, digits = digits), quote = FALSE)
  cat(convergence_lines(x$optinfo, isSingular(x, tol = fit_singular_tol(x))), sep = "")
  invisible(x)
}

# The fit's singular-fit tolerance, lmm_control(singular_tol =) (lme4's 1e-4 for
# objects made before it was recorded).
fit_singular_tol <- function(x) {
  tol <- x$optinfo$singular_tol
  if (is.null(tol)) 1e-4 else tol
}

# Lines for print and summary about a singular and an unconverged fit.
convergence_lines <- function(optinfo, singular) {
  c(if (singular) "optimizer: boundary (singular) fit: see help('isSingular')\n",
    if (length(optinfo$warnings))
      paste0("optimizer: convergence warning: ", optinfo$warnings, "\n"))
}

fit_title <- function(x) {
  paste("Linear mixed model fit by", if (x$REML) "REML" else "maximum likelihood", "['lmm']")
}

#' Summarize a mixed-model fit
#'
#' The fixed-effects table gains degrees of freedom and p-values from
#' Satterthwaite's (default) or Kenward-Roger's approximation, as lmerTest prints it.
#'
#' @param object a fitted model.
#' @param ddf `"Satterthwaite"`, `"Kenward-Roger"`, or `"lme4"` (also `"none"`): t
#'   values only, as lme4 prints them.
#' @param correlation print the correlation of the fixed effects: `NULL` (default)
#'   prints it for at most 12 coefficients and says so otherwise, as lme4; `TRUE`
#'   or `FALSE` always or never (also an argument of `print()` on the summary).
#' @param ... unused (a warning names them).
#' @return An object of class `"summary.lemma_fit"` with `coefficients`, `varcor`,
#'   `residuals` (scaled), `vcov`, `logLik`, ...
#' @examples
#' fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
#' summary(fit)
#' summary(fit, ddf = "Kenward-Roger")$coefficients
#' @export
summary.lemma_fit <- function(object, ddf = c("Satterthwaite", "Kenward-Roger", "lme4", "none"),
                              correlation = NULL, ...) {
  ddf <- match_ddf(ddf, fn = "summary")
  if (!is.null(correlation)) check_flag(correlation, "correlation", "summary")
  check_dots_unused(list(...), "summary")
  coefs <- fixef_table(object, ddf)
  V <- if (length(object$beta)) vcov(object) else matrix(numeric(0), 0L, 0L)
  structure(list(title = fit_title(object), formula = object$formula, call = object$call,
                 REML = object$REML, devcomp = object$devcomp, coefficients = coefs, ddf = ddf,
                 varcor = VarCorr(object), sigma = object$sigma, vcov = V,
                 residuals = residuals(object, type = "pearson", scaled = TRUE),
                 logLik = logLik(object), AIC = stats::AIC(object), BIC = stats::BIC(object),
                 ngrps = ngrps(object), nobs = nobs(object),
                 singular = isSingular(object, tol = fit_singular_tol(object)), optinfo = object$optinfo,
                 df.residual = stats::df.residual(object), correlation = correlation),
            class = "summary.lemma_fit")
}

#' @export
print.summary.lemma_fit <- function(x, digits = max(3, getOption("digits") - 3),
                              signif.stars = getOption("show.signif.stars"), correlation = x$correlation, ...) {
  if (!is.null(correlation)) check_flag(correlation, "correlation", "print")
  check_dots_unused(list(...), "print")
  cat(x$title, "\n")
  if (x$ddf != "none")
    cat(sprintf("%s's method for degrees of freedom ['lmerModLmerTest' style]\n",
                if (x$ddf == "Satterthwaite") "Satterthwaite" else "Kenward-Roger"))
  cat("Formula:", deparse1(x$formula), "\n")
  if (!is.null(x$call$data)) cat("   Data:", deparse1(x$call$data), "\n")
  cat("\n")
  if (x$REML) {
    cat("REML criterion at convergence:", format(round(x$devcomp[["REML"]], 1), nsmall = 1), "\n\n")
  } else {
    print(round(c(AIC = x$AIC, BIC = x$BIC, logLik = as.numeric(x$logLik), deviance = x$devcomp[["dev"]],
                  df.resid = x$df.residual), 1))
    cat("\n")
  }
  cat("Scaled residuals: \n")
  q <- stats::quantile(x$residuals, na.rm = TRUE)
  names(q) <- c("Min", "1Q", "Median", "3Q", "Max")
  print(q, digits = digits)
  cat("\nRandom effects:\n")
  print(x$varcor, digits = digits, comp = c("Variance", "Std.Dev."))
  cat(sprintf("Number of obs: %d, groups:  %s\n", x$nobs,
              paste(sprintf("%s, %d", names(x$ngrps), x$ngrps), collapse = "; ")))
  p <- nrow(x$coefficients)
  # lme4 prints no fixed-effects section for a model without fixed effects.
  if (p > 0) {
    cat("\nFixed effects:\n")
    stats::printCoefmat(x$coefficients, digits = digits, signif.stars = signif.stars,
                        has.Pvalue = "Pr(>|t|)" %in% colnames(x$coefficients))
  }
  show_cor <- if (is.null(correlation)) p <= 12 else correlation
  if (is.null(correlation) && p > 12)
    message(sprintf("\nCorrelation matrix not shown by default, as p = %d > 12.\nUse print(x, correlation = TRUE) or vcov(x) if you need it.", p))
  if (p > 1 && show_cor) {
    cat("\nCorrelation of Fixed Effects:\n")
    cr <- stats::cov2cor(x$vcov)
    out <- format(round(cr, 3), nsmall = 3)
    out[upper.tri(out, diag = TRUE)] <- ""
    rownames(out) <- abbreviate(rownames(cr), 6)
    colnames(out) <- abbreviate(colnames(cr), 6)
    print(out[-1, -p, drop = FALSE], quote = FALSE, right = TRUE)
  }
  cat(convergence_lines(x$optinfo, x$singular), sep = "")
  invisible(x)
}
