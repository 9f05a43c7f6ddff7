# Likelihood-ratio tests between nested fits, and refitting.

#' Compare nested mixed models, or test the terms of one
#'
#' With several fits: likelihood-ratio tests, laid out as lme4's `anova()`; REML
#' fits are refitted by ML first (with a message), as lme4 does. Fits by [stats::lm()]
#' can be among them (their log-likelihood is the ML one), as lme4 allows. With one
#' fit: F tests of its fixed-effect terms (type III by default, Satterthwaite's df by
#' default) as lmerTest's `anova()`; `ddf = "lme4"` gives lme4's table instead
#' (sequential sums of squares and F values, no degrees of freedom).
#'
#' @param object a fitted model.
#' @param ... further fitted models (`lemma_fit` or `lm`), for likelihood-ratio tests.
#' @param type for one model: `"III"`, `"II"` or `"I"` (also 3, 2, 1).
#' @param ddf for one model: `"Satterthwaite"`, `"Kenward-Roger"` or `"lme4"`.
#' @param refit refit REML fits by ML before comparing them.
#' @param model.names optional names for the models.
#' @return A data frame of class `"anova"`.
#' @examples
#' m1 <- lmm(Reaction ~ Days + (1 | Subject), sleepstudy)
#' m2 <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
#' anova(m1, m2)
#' anova(m2, lm(Reaction ~ Days, sleepstudy))
#' anova(m2, type = "II", ddf = "Kenward-Roger")
#' anova(m2, ddf = "lme4")
#' @export
anova.lemma_fit <- function(object, ..., type = c("III", "II", "I"),
                            ddf = c("Satterthwaite", "Kenward-Roger", "lme4"),
                            refit = TRUE, model.names = NULL) {
  dots <- list(...)
  is_fit <- vapply(dots, function(d) inherits(d, c("lemma_fit", "lm")), logical(1))
  # An unnamed extra argument can only be meant as a model to compare.
  nm <- names(dots) %||% rep("", length(dots))
  odd <- which(!is_fit & nm == "")
  if (length(odd))
    stop(sprintf("anova(): argument %d after the model (%s, of class %s) is not a model fitted by lmm() or lm()",
                 odd[1], deparse1(match.call(expand.dots = FALSE)$...[[odd[1]]], nlines = 1L),
                 class(dots[[odd[1]]])[1]), call. = FALSE)
  if (any(!is_fit)) check_dots_unused(dots[!is_fit], "anova")
  if (!any(is_fit)) {
    ddf <- match_ddf(ddf, fn = "anova")
    if (ddf != "none") return(anova_terms(object, type = type, ddf = ddf))
    if (!missing(type) && !(as.character(type)[1L] %in% c("I", "1")))
      warning("anova(): 'type' is ignored with ddf = \"lme4\", whose table is sequential (type I)", call. = FALSE)
    return(anova_lme4(object))
  }
  check_flag(refit, "refit", "anova")
  fits <- c(list(object), dots[is_fit])
  if (is.null(model.names)) {
    cl <- match.call(expand.dots = FALSE)
    model.names <- c(deparse1(cl$object), vapply(cl$...[is_fit], deparse1, character(1)))
  }
  if (length(model.names) != length(fits))
    stop(sprintf("anova(): 'model.names' has %d names for %d models", length(model.names), length(fits)),
         call. = FALSE)
  for (f in fits[-1L]) {
    if (inherits(f, "glm") && !identical(stats::family(f)$family, "gaussian"))
      stop("anova(): a glm fit with a non-gaussian family has a log-likelihood on another scale", call. = FALSE)
  }
  ys <- lapply(fits, response_of)
  if (any(vapply(ys[-1], function(y) length(y) != length(ys[[1]]) || any(y != ys[[1]]), logical(1))))
    stop("the models were not all fitted to the same response and observations", call. = FALSE)
  is_reml <- vapply(fits, function(f) inherits(f, "lemma_fit") && isREML(f), logical(1))
  if (refit && any(is_reml)) {
    message("refitting model(s) with ML (instead of REML)")
    fits[is_reml] <- lapply(fits[is_reml], refit_ml)
  } else if (!refit && any(is_reml) && !all(is_reml)) {
    warning("anova(): some models were fitted by REML and some by ML; their log-likelihoods are not comparable",
            call. = FALSE)
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
  data_arg <- lapply(fits, function(f) stats::getCall(f)$data)
  header <- if (!is.null(data_arg[[1L]]) && all(vapply(data_arg, identical, logical(1), data_arg[[1L]])))
    paste("Data:", deparse1(data_arg[[1L]])) else "Data: models compared on the same observations"
  structure(tab, heading = c(header, "Models:",
                             paste0(model.names[ord], ": ",
                                    vapply(fits, function(f) deparse1(stats::formula(f)), character(1)),
                                    collapse = "\n")),
            class = c("anova", "data.frame"))
}

response_of <- function(f) {
  if (inherits(f, "lemma_fit")) return(f$y)
  as.numeric(stats::model.response(stats::model.frame(f)))
}

# lme4's anova() of one model: sequential sums of squares (R_X beta)^2 summed per
# term, F = mean square / sigma^2, without degrees of freedom.
anova_lme4 <- function(fit) {
  X <- fit$X
  asgn <- attr(X, "assign")
  ss <- as.vector(crossprod(fit$RX, fit$beta))^2
  labs <- c("(Intercept)", term_labels(fit))[unique(asgn) + 1L]
  ss <- vapply(split(ss, factor(asgn, levels = unique(asgn))), sum, numeric(1))
  npar <- as.vector(table(factor(asgn, levels = unique(asgn))))
  ms <- ss / npar
  tab <- data.frame(npar = npar, `Sum Sq` = ss, `Mean Sq` = ms, `F value` = ms / fit$sigma^2,
                    check.names = FALSE, row.names = labs)
  tab <- tab[labs != "(Intercept)", , drop = FALSE]
  structure(tab, heading = "Analysis of Variance Table", class = c("anova", "data.frame"))
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
  if (inherits(object, "lemma_covfit")) return(covfit_refit(object, REML = REML))
  frame <- object$model_env$frame
  devfun <- if (!is.null(object$spectral)) lmm_devfun_spectral(frame, REML = REML, spectral = object$spectral) else
    lmm_devfun(frame, REML = REML, ptr = model_ptr(object))
  opt <- lmm_optimize(devfun, control)
  cl <- object$call
  if (!is.null(cl)) cl$REML <- REML
  lmm_object(devfun, opt, cl)
}
