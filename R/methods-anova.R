# Likelihood-ratio tests between nested fits, and refitting.

#' Compare nested mixed models, or test the terms of one
#'
#' With several fits: likelihood-ratio tests, laid out as lme4's `anova()`; REML
#' fits are refitted by ML first (with a message), as lme4 does. With one fit: F tests
#' of its fixed-effect terms (type III by default, Satterthwaite's df by default) as
#' lmerTest's `anova()`.
#'
#' @param object a fitted model.
#' @param ... further fitted models (for likelihood-ratio tests), or arguments
#'   `type` and `ddf` for the F tests of one model.
#' @param refit refit REML fits by ML before comparing them.
#' @param model.names optional names for the models.
#' @return A data frame of class `"anova"`.
#' @examples
#' m1 <- lmm(Reaction ~ Days + (1 | Subject), sleepstudy)
#' m2 <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
#' anova(m1, m2)
#' @export
anova.lemma_fit <- function(object, ..., refit = TRUE, model.names = NULL) {
  dots <- list(...)
  is_fit <- vapply(dots, function(d) inherits(d, "lemma_fit"), logical(1))
  if (!any(is_fit)) return(anova_terms(object, ...))
  fits <- c(list(object), dots[is_fit])
  if (is.null(model.names)) {
    cl <- match.call(expand.dots = FALSE)
    model.names <- c(deparse1(cl$object), vapply(cl$...[is_fit], deparse1, character(1)))
  }
  ys <- lapply(fits, function(f) f$y)
  if (any(vapply(ys[-1], function(y) length(y) != length(ys[[1]]) || any(y != ys[[1]]), logical(1))))
    stop("the models were not all fitted to the same response and observations", call. = FALSE)
  if (refit && any(vapply(fits, isREML, logical(1)))) {
    message("refitting model(s) with ML (instead of REML)")
    fits <- lapply(fits, function(f) if (isREML(f)) refit_ml(f) else f)
  }
  npar <- vapply(fits, function(f) attr(logLik(f), "df"), numeric(1))
  ord <- order(npar)
  fits <- fits[ord]
  npar <- npar[ord]
  ll <- vapply(fits, function(f) as.numeric(logLik(f)), numeric(1))
  dev <- -2 * ll
  chisq <- c(NA, pmax(0, -diff(dev)))
  dfs <- c(NA, diff(npar))
  tab <- data.frame(npar = npar, AIC = vapply(fits, stats::AIC, numeric(1)),
                    BIC = vapply(fits, stats::BIC, numeric(1)), logLik = ll, deviance = dev,
                    Chisq = chisq, Df = dfs,
                    `Pr(>Chisq)` = ifelse(dfs > 0, stats::pchisq(chisq, dfs, lower.tail = FALSE), NA),
                    check.names = FALSE, row.names = model.names[ord])
  structure(tab, heading = c("Data: models compared on the same observations", "Models:",
                             paste0(model.names[ord], ": ", vapply(fits, function(f) deparse1(f$formula), character(1)),
                                    collapse = "\n")),
            class = c("anova", "data.frame"))
}

#' Refit a model by maximum likelihood
#'
#' Reuses the model's blocked cross-products; only the optimization is redone.
#'
#' @param object a fitted model.
#' @param control a list from [lmm_control()].
#' @return The ML fit (unchanged if `object` already is one).
#' @examples
#' fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
#' logLik(refit_ml(fit))
#' @export
refit_ml <- function(object, control = lmm_control()) {
  if (!isREML(object)) return(object)
  refit_with(object, REML = FALSE, control = control)
}

refit_with <- function(object, REML, control = lmm_control()) {
  frame <- object$model_env$frame
  devfun <- if (!is.null(object$spectral)) lmm_devfun_spectral(frame, REML = REML, spectral = object$spectral) else
    lmm_devfun(frame, REML = REML, ptr = model_ptr(object))
  opt <- lmm_optimize(devfun, control)
  cl <- object$call
  if (!is.null(cl)) cl$REML <- REML
  lmm_object(devfun, opt, cl)
}
