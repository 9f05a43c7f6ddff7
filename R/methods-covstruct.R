# Methods for fits with a residual covariance structure (class "lemma_covfit",
# which extends "lemma_fit"). The methods below know about the structure; those of
# "lemma_fit" that do not yet are refused with a message naming them, rather than
# giving a number that ignores the structure.

#' Methods for fits with a residual covariance structure
#'
#' A model with a covariance term such as `us(visit | id)` (see [lmm()]) gives an
#' object of class `"lemma_covfit"`, which extends `"lemma_fit"`. These methods
#' work on it:
#' * `fixef`, `vcov`, `sigma`, `logLik`, `AIC`, `BIC`, `deviance`, `nobs`,
#'   `fitted`, `residuals` (response, Pearson or normalized), `weights` (prior
#'   weights), `formula`, `model.matrix`, `model.frame`, `df.residual`, `isREML`,
#'   `update`;
#' * `summary` and [fixef_table()] (Satterthwaite or Kenward-Roger df),
#'   `anova(fit)` (F tests of the terms, type III/II/I), [contest()], emmeans
#'   (Satterthwaite or Kenward-Roger df), `anova(fit1, fit2, ...)`
#'   (likelihood-ratio tests between covfits and with `lmm()` or `lm()` fits; REML
#'   fits are refitted by ML first), [refit_ml()], `extractAIC`;
#' * `VarCorr`: the estimated residual covariance matrix of each group (and the
#'   random-effect variances, if any), printed with the correlations;
#' * `confint` (Wald; see below), `tidy` (fixed effects; variances and covariances
#'   with delta-method standard errors) and `glance`;
#' * `predict`: population means, or predictions conditional on a subject's
#'   observed visits, with standard errors and intervals;
#' * `simulate`: new responses drawn from the fitted model;
#' * `refit` (a new response), `ranef` (the conditional modes of random-effect
#'   terms, with their conditional variances), `coef` (with random-effect terms
#'   as lme4's: fixed plus random effects per level; the fixed effects without
#'   them, as mmrm's), `ngrps` (levels of the grouping factors, then the number of
#'   subjects of the covariance term), `isSingular` (the random-effect
#'   covariances, as for `lmm()` fits; `FALSE` without random-effect terms).
#'
#' Not yet available, each stopping with a message that names it:
#' `profile`, `influence` and its relatives, `plot`, `qqnorm`, `getME`,
#' `predict(conditional = TRUE)` with
#' random-effect terms.
#'
#' `confint()` gives Wald intervals for the fixed effects (t quantiles with
#' Satterthwaite's df, or normal with `ddf = "none"`), and for the variances and
#' covariances (rows named `var(v)`, `cov(v, w)`, and `var(x | g)` for
#' random-effect terms) the intervals SAS PROC MIXED's `CL` option gives: for a
#' variance, Satterthwaite's chi-square interval with 2 z^2 df (z = estimate / SE),
#' for a covariance the Wald interval; the SEs by the delta method from the
#' Hessian of the deviance. These are not profile intervals.
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
#'   standard errors and df as mmrm's `method = "Kenward-Roger"`) or `"none"` (for
#'   `confint` and `tidy`: normal quantiles).
#' @param newdata optional data frame for `predict`.
#' @param re.form for `predict`: `NA` (population predictions), or `NULL` for the
#'   fitted values of a model with random-effect terms including their modes.
#' @param REML for `logLik`: the REML (default for REML fits) or ML log-likelihood.
#' @param type for `residuals`: `"response"` (default; observed minus fitted, the
#'   fitted values including the random effects' modes), `"pearson"` (divided by
#'   their standard deviation under the residual covariance) or `"normalized"`
#'   (each subject's multiplied by the inverse of the lower Cholesky factor of its
#'   residual covariance), as mmrm's and nlme's `residuals()`.
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
#' anova(fit)
#' confint(fit)
#' anova(lmm(y ~ arm * visit + ar1(visit | id), d), fit)
#' # the missing visits of subject 1, from its observed ones
#' nd <- d[d$id == "1", ]
#' nd$y[3] <- NA
#' predict(fit, nd, conditional = TRUE, se.fit = TRUE)
#' head(simulate(fit, 2, seed = 1))
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
residuals.lemma_covfit <- function(object, type = c("response", "pearson", "normalized"), ...) {
  check_dots_unused(list(...), "residuals")
  if (missing(type)) type <- "response"
  type <- check_choice(type, c("response", "pearson", "normalized"), "type", "residuals")
  r <- object$resid
  if (type != "response") r <- covfit_scaled_residuals(object, r, type == "normalized")
  stats::setNames(r, rownames(object$frame))
}

# Residuals (conditional on the random effects' modes, if any) scaled by their
# residual covariance, as mmrm's and nlme's residuals(): "pearson" divides each by
# its standard deviation, "normalized" multiplies a subject's by L^-1, L the lower
# Cholesky factor of the subject's covariance (uncorrelated, unit variance under
# the model). One factorization per visit pattern.
covfit_scaled_residuals <- function(object, r, normalized) {
  out <- numeric(length(r))
  for (b in covfit_pattern_blocks(object)) {
    R <- matrix(r[b$rows], nrow(b$Sigma))
    out[b$rows] <- if (normalized) backsolve(chol(b$Sigma), R, transpose = TRUE) else R / sqrt(diag(b$Sigma))
  }
  # prior weights (dispformula only: one row per subject) divide a row's variance
  out * sqrt(object$weights)
}

# The subjects of a covfit by visit pattern: for each pattern the rows of its
# subjects in the fit's data (subject by subject, visits in order) and the fitted
# residual covariance Sigma over its visits.
covfit_pattern_blocks <- function(object) {
  fr <- object$model_env$devfun_env$frame
  ix <- fr$cs_index
  start <- ix$start
  lapply(seq_along(ix$pattern_first), function(pt) {
    subj <- which(ix$pattern == pt - 1L)
    s1 <- ix$pattern_first[pt] + 1L
    v <- ix$visit[(start[s1] + 1L):start[s1 + 1L]] + 1L
    list(rows = fr$ord[unlist(lapply(subj, function(s) (start[s] + 1L):start[s + 1L]))],
         Sigma = object$covstruct$Sigma[[ix$pattern_group[pt] + 1L]][v, v, drop = FALSE])
  })
}

# The methods of "lemma_fit" that do not yet account for a residual structure.
covfit_refuse <- function(what) {
  stop(sprintf("%s is not yet available for fits with a residual covariance term (such as us(visit | id))", what),
       call. = FALSE)
}

#' @export
coef.lemma_covfit <- function(object, ...) {
  # lme4's coef() (fixed plus random effects per level) with random-effect terms;
  # the fixed effects without them, as mmrm's coef()
  if (is.null(object$reterms)) {
    check_dots_unused(list(...), "coef")
    return(fixef(object))
  }
  NextMethod()
}
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
weights.lemma_covfit <- function(object, ...) {
  check_dots_unused(list(...), "weights")
  object$weights
}
#' @export
ngrps.lemma_covfit <- function(object, ...) {
  # the random-effect grouping factors' levels, then the covariance term's subjects
  cs <- object$covstruct
  re <- if (is.null(object$reterms)) integer(0) else NextMethod()
  if (cs$type == "diag") return(re)
  c(re, stats::setNames(as.numeric(cs$nsubj), cs$subject))
}
#' @export
isSingular.lemma_covfit <- function(x, tol = 1e-4) {
  # singular random-effect covariance, as for lmm() fits; a residual covariance
  # is positive definite by its parametrization
  if (is.null(x$reterms)) return(FALSE)
  NextMethod()
}
#' @export
model.frame.lemma_covfit <- function(formula, ...) formula$frame

# ---- refitting -------------------------------------------------------------------

# The fit's criterion rebuilt from its frame (REML or ML, optionally a new response
# in the order of the fit's observations) and optimized again.
covfit_refit <- function(object, y = NULL, REML = object$REML) {
  frame <- object$model_env$devfun_env$frame
  if (!is.null(y)) {
    frame$y <- y
    lhs <- frame$formula[[2L]]
    if (is.name(lhs) && as.character(lhs) %in% names(frame$frame)) frame$frame[[as.character(lhs)]] <- y
  }
  devfun <- covstruct_devfun(frame, REML)
  cl <- object$call
  if (!is.null(cl) && !isTRUE(REML == object$REML)) cl$REML <- REML
  covstruct_object(devfun, covstruct_optimize(devfun), cl)
}

#' @rdname covfit-methods
#' @param newresp for `refit`: a new response, one value per observation of the fit
#'   (or per row of the data, when rows were dropped for missing values).
#' @export
refit.lemma_covfit <- function(object, newresp = NULL, ...) {
  check_dots_unused(list(...), "refit")
  if (is.null(newresp)) return(covfit_refit(object))
  covfit_refit(object, as_new_response(object, newresp))
}

# ---- random effects --------------------------------------------------------------

#' @rdname covfit-methods
#' @param condVar for `ranef`: also compute the conditional variances of the random
#'   effects (given the fixed effects, as lme4), which account for the residual
#'   covariance.
#' @export
ranef.lemma_covfit <- function(object, condVar = TRUE, ...) {
  if (!length(object$theta))
    stop("ranef(): the model has no random-effect terms (only a residual covariance term)", call. = FALSE)
  ranef.lemma_fit(object, condVar = condVar, ...)
}

# Conditional covariances of the random effects given the data and beta-hat, per
# term as a p x p x levels array (the layout of term_condvar()):
#   Var(b | y) = sigma^2 Lambda (Lambda' Z' V^-1 Z Lambda + I)^-1 Lambda',
# V the fixed-scale residual covariance (block diagonal by subject); Z' V^-1 Z from
# the subjects' whitened rows. Random-effect terms do not vary within a subject,
# so there are at most as many random effects as subjects.
covfit_condvar <- function(object) {
  terms <- object$reterms$terms
  fr <- object$model_env$devfun_env$frame
  ix <- fr$cs_index
  cs <- object$covstruct
  Vs <- lapply(cs$Sigma, function(S) S / object$sigma^2)
  p <- vapply(terms, function(t) length(t$cnms), integer(1))
  nl <- vapply(terms, function(t) t$nlev, integer(1))
  off <- c(0L, cumsum(p * nl))
  q <- off[length(off)]
  # Each subject's rows touch one level of each term: its block of Z Lambda has
  # sum(p) columns, whitened by the factor of the subject's V.
  lams <- lapply(seq_along(terms), function(k) theta_to_lambda(object$theta[terms[[k]]$theta_index], p[k]))
  XL <- do.call(cbind, Map(function(tm, lam) tm$X %*% lam, terms, lams))[fr$ord, , drop = FALSE]
  codes <- vapply(terms, function(tm) as.integer(tm$factor), integer(length(object$y)))
  codes <- matrix(codes, ncol = length(terms))[fr$ord, , drop = FALSE]
  A <- diag(q)
  for (s in seq_len(ix$nsubj)) {
    rows <- (ix$start[s] + 1L):ix$start[s + 1L]
    v <- ix$visit[rows] + 1L
    g <- ix$pattern_group[ix$pattern[s] + 1L] + 1L
    cols <- unlist(lapply(seq_along(terms), function(k) off[k] + (codes[rows[1], k] - 1L) * p[k] + seq_len(p[k])))
    W <- backsolve(chol(Vs[[g]][v, v, drop = FALSE]), XL[rows, , drop = FALSE], transpose = TRUE)
    A[cols, cols] <- A[cols, cols] + crossprod(W)
  }
  Ainv <- chol2inv(chol(A))
  lapply(seq_along(terms), function(k) {
    arr <- array(0, c(p[k], p[k], nl[k]))
    for (j in seq_len(nl[k])) {
      idx <- off[k] + (j - 1L) * p[k] + seq_len(p[k])
      arr[, , j] <- object$sigma^2 * lams[[k]] %*% Ainv[idx, idx, drop = FALSE] %*% t(lams[[k]])
    }
    arr
  })
}

# ---- covariance parameters: estimates, standard errors, intervals -----------------

# The variances and covariances of the model as a function of
# psi = (theta, covariance parameters, sigma), the parameters of
# covstruct_satterthwaite_parts(): each random-effect term's covariance matrix, then
# each group's residual covariance, lower triangles column by column.
covfit_covpar <- function(fit, psi = c(fit$theta, fit$covstruct$par, fit$sigma)) {
  nth <- length(fit$theta)
  cs <- fit$covstruct
  sigma <- psi[length(psi)]
  out <- numeric(0)
  for (tm in fit$reterms$terms) {
    p <- length(tm$cnms)
    S <- sigma^2 * tcrossprod(theta_to_lambda(psi[tm$theta_index], p))
    lt <- lower.tri(S, diag = TRUE)
    ij <- which(lt, arr.ind = TRUE)
    out <- c(out, stats::setNames(S[lt], ifelse(ij[, 1] == ij[, 2],
                                                sprintf("var(%s | %s)", tm$cnms[ij[, 1]], tm$group),
                                                sprintf("cov(%s, %s | %s)", tm$cnms[ij[, 1]], tm$cnms[ij[, 2]], tm$group))))
  }
  Vs <- covstruct_Vs(cs$spec, psi[nth + seq_len(cs$spec$total)])
  v <- cs$visit_levels
  for (g in seq_along(Vs)) {
    S <- sigma^2 * Vs[[g]]
    lt <- lower.tri(S, diag = TRUE)
    ij <- which(lt, arr.ind = TRUE)
    nm <- ifelse(ij[, 1] == ij[, 2], sprintf("var(%s)", v[ij[, 1]]), sprintf("cov(%s, %s)", v[ij[, 1]], v[ij[, 2]]))
    if (!is.null(cs$group)) nm <- paste0(cs$group, "=", names(cs$Sigma)[g], ": ", nm)
    out <- c(out, stats::setNames(S[lt], nm))
  }
  out
}

# Estimates and delta-method standard errors of covfit_covpar(), from the
# asymptotic covariance of psi (twice the inverse Hessian of the deviance, as for
# Satterthwaite's df); the Jacobian of the data-free map by central differences.
covfit_covpar_table <- function(fit) {
  parts <- covstruct_satterthwaite_parts(fit)
  psi <- c(fit$theta, fit$covstruct$par, fit$sigma)
  est <- covfit_covpar(fit, psi)
  h <- 1e-6 * pmax(abs(psi), 0.1)
  J <- vapply(seq_along(psi), function(k) {
    e <- replace(numeric(length(psi)), k, h[k])
    (covfit_covpar(fit, psi + e) - covfit_covpar(fit, psi - e)) / (2 * h[k])
  }, numeric(length(est)))
  J <- matrix(J, nrow = length(est))
  se <- sqrt(pmax(rowSums((J %*% parts$vcov_varpar) * J), 0))
  data.frame(estimate = est, std.error = se, variance = startsWith(sub("^.*: ", "", names(est)), "var("),
             row.names = names(est))
}

#' @rdname covfit-methods
#' @param parm for `confint`: names or indices of the rows wanted (default all:
#'   the fixed effects, then the variances and covariances).
#' @param level confidence level.
#' @param method for `confint`: `"Wald"` (the only method so far).
#' @export
confint.lemma_covfit <- function(object, parm, level = 0.95, method = "Wald", ddf = c("Satterthwaite", "none"), ...) {
  fn <- "confint"
  check_dots_unused(list(...), fn)
  check_level(level, fn)
  if (!identical(method, "Wald"))
    stop(sprintf("confint(): method = \"%s\" is not yet available for fits with a residual covariance term; use method = \"Wald\"",
                 method[1]), call. = FALSE)
  ddf <- match_ddf(ddf, fn = fn)
  if (ddf == "Kenward-Roger") check_ddf_fit(object, ddf)
  a <- (1 - level) / 2
  tab <- fixef_table(object, ddf)
  q <- if (ddf == "none") stats::qnorm(1 - a) else stats::qt(1 - a, tab[, "df"])
  beta <- cbind(tab[, "Estimate"] - q * tab[, "Std. Error"], tab[, "Estimate"] + q * tab[, "Std. Error"])
  cp <- covfit_covpar_table(object)
  # SAS PROC MIXED's intervals (its CL option): a variance's from the chi-square
  # with 2 z^2 df (Satterthwaite's approximation, z = estimate / SE), a
  # covariance's Wald, so a variance interval stays positive.
  z <- stats::qnorm(1 - a)
  nu <- 2 * (cp$estimate / cp$std.error)^2
  # a variance at its bound 0 (or with no usable SE) has no such interval: its
  # limits are 0 and NA, with a warning
  bad <- cp$variance & !(is.finite(nu) & nu > 0)
  if (any(bad))
    warning(sprintf("confint(): %s is at its bound 0 or has no standard error: limits 0 and NA",
                    paste(rownames(cp)[bad], collapse = ", ")), call. = FALSE)
  chi <- cp$variance & !bad
  cov_ci <- cbind(ifelse(chi, nu * cp$estimate / stats::qchisq(1 - a, nu), cp$estimate - z * cp$std.error),
                  ifelse(chi, nu * cp$estimate / stats::qchisq(a, nu), cp$estimate + z * cp$std.error))
  cov_ci[bad, ] <- rep(c(0, NA), each = sum(bad))
  out <- rbind(beta, cov_ci)
  rownames(out) <- c(rownames(tab), rownames(cp))
  colnames(out) <- sprintf("%s %%", format(100 * c(a, 1 - a), trim = TRUE, scientific = FALSE, digits = 3))
  if (!missing(parm)) {
    idx <- if (is.character(parm)) match(parm, rownames(out)) else parm
    if (anyNA(idx) || !is.numeric(idx) || any(idx < 1 | idx > nrow(out)))
      stop(sprintf("confint(): 'parm' names rows not in the table: %s (rows: %s)",
                   paste(parm[is.na(idx) | !(idx %in% seq_len(nrow(out)))], collapse = ", "),
                   paste(rownames(out), collapse = ", ")), call. = FALSE)
    out <- out[idx, , drop = FALSE]
  }
  out
}

# ---- predictions -----------------------------------------------------------------

# Rows of newdata: the fixed-effects matrix, and the subject, visit and group of
# each row (the group and visit as indices into the fit's levels; NA if absent).
covfit_newdata <- function(object, newdata, need_visits) {
  cs <- object$covstruct
  out <- list()
  if (need_visits) {
    for (v in c(cs$visit, cs$subject, cs$group))
      if (!(v %in% names(newdata)))
        stop(sprintf("predict(): 'newdata' has no column '%s', which this prediction needs (%s)", v, cs$text),
             call. = FALSE)
    visit <- match(as.character(newdata[[cs$visit]]), cs$visit_levels)
    if (anyNA(visit))
      stop(sprintf("predict(): 'newdata' has values of '%s' that are not visits of the fit: %s", cs$visit,
                   paste(unique(as.character(newdata[[cs$visit]])[is.na(visit)]), collapse = ", ")), call. = FALSE)
    group <- if (is.null(cs$group)) rep(1L, nrow(newdata)) else match(as.character(newdata[[cs$group]]), cs$group_levels)
    if (anyNA(group))
      stop(sprintf("predict(): 'newdata' has values of '%s' that are not groups of the fit", cs$group), call. = FALSE)
    subject <- as.character(newdata[[cs$subject]])
    if (anyNA(subject)) stop(sprintf("predict(): 'newdata' has missing values of '%s'", cs$subject), call. = FALSE)
    key <- paste(subject, visit, sep = "\r")
    if (anyDuplicated(key))
      stop(sprintf("predict(): 'newdata' has more than one row for a visit of one subject ('%s')",
                   subject[duplicated(key)][1]), call. = FALSE)
    out <- list(visit = visit, group = group, subject = subject)
  }
  tt <- stats::delete.response(object$fixed_terms)
  mf <- stats::model.frame(tt, newdata, na.action = stats::na.pass, xlev = object$xlevels)
  X <- stats::model.matrix(tt, mf, contrasts.arg = object$contrasts)
  if (nrow(X) != nrow(newdata) || anyNA(X))
    stop("predict(): 'newdata' has missing values in the fixed-effect variables", call. = FALSE)
  off <- stats::model.offset(mf)
  c(out, list(X = X[, names(object$beta), drop = FALSE], offset = if (is.null(off)) rep(0, nrow(X)) else as.numeric(off)))
}

#' @rdname covfit-methods
#' @param conditional for `predict`: `FALSE` (default) gives the population mean
#'   X beta; `TRUE` predicts the rows of `newdata` whose response is missing from
#'   the same subject's observed rows (the best linear unbiased predictor
#'   E(y_missing | y_observed), as mmrm's `predict(conditional = TRUE)`), and
#'   returns the observed responses unchanged (standard error 0).
#' @param se.fit for `predict`: also return standard errors, as `list(fit, se.fit)`.
#' @param interval for `predict`: `"none"`, `"confidence"` (for the mean, from
#'   cov(beta-hat)) or `"prediction"` (adds the residual variance of the row's visit,
#'   given the subject's observed visits when `conditional = TRUE`); normal quantiles,
#'   the covariance parameters taken as known.
#' @export
predict.lemma_covfit <- function(object, newdata = NULL, re.form = NA, conditional = FALSE, se.fit = FALSE,
                                 interval = c("none", "confidence", "prediction"), level = 0.95, ...) {
  fn <- "predict"
  check_dots_unused(list(...), fn)
  check_flag(conditional, "conditional", fn)
  check_flag(se.fit, "se.fit", fn)
  check_level(level, fn)
  interval <- check_choice(if (missing(interval)) "none" else interval, c("none", "confidence", "prediction"),
                           "interval", fn)
  has_re <- length(object$theta) > 0L
  population <- length(re.form) == 1L && !inherits(re.form, "formula") && is.na(re.form)
  if (!population) {
    if (!is.null(re.form) || !has_re)
      stop("predict(): 're.form' must be NA (population) or, for a model with random effects, NULL", call. = FALSE)
    if (!is.null(newdata) || se.fit || interval != "none" || conditional)
      stop("predict(): re.form = NULL (with the random effects' modes) gives only the fitted values of the fit's data; newdata, se.fit, interval and conditional are not yet available with it",
           call. = FALSE)
    return(stats::setNames(object$fitted, rownames(object$frame)))
  }
  if (conditional && has_re)
    stop("predict(): conditional = TRUE is not yet available for models with random-effect terms", call. = FALSE)
  data <- if (is.null(newdata)) object$frame else newdata
  if (!is.data.frame(data)) stop("predict(): 'newdata' must be a data frame", call. = FALSE)
  need_se <- se.fit || interval != "none"
  nd <- covfit_newdata(object, data, need_visits = conditional || interval == "prediction")
  X <- nd$X
  fit <- as.numeric(X %*% object$beta) + nd$offset
  Vb <- vcov_beta(object)
  cs <- object$covstruct
  if (!conditional) {
    se <- if (need_se) sqrt(rowSums((X %*% Vb) * X)) else NULL
    if (interval == "prediction") {
      Sig <- vapply(seq_along(fit), function(i) cs$Sigma[[nd$group[i]]][nd$visit[i], nd$visit[i]], numeric(1))
      # random-effect variances at the row (no newdata level matters: they are drawn anew)
      re_var <- if (has_re) covfit_re_variance(object, data) else 0
      pse <- sqrt(se^2 + Sig + re_var)
    }
  } else {
    yname <- deparse1(object$formula[[2L]])
    y <- if (yname %in% names(data)) as.numeric(data[[yname]]) else rep(NA_real_, nrow(data))
    se <- numeric(length(fit))
    pse <- numeric(length(fit))
    for (rows in split(seq_along(fit), nd$subject)) {
      S <- cs$Sigma[[nd$group[rows[1]]]]
      obs <- rows[!is.na(y[rows])]
      mis <- rows[is.na(y[rows])]
      if (!length(mis)) next
      Smm <- S[nd$visit[mis], nd$visit[mis], drop = FALSE]
      if (length(obs)) {
        A <- S[nd$visit[mis], nd$visit[obs], drop = FALSE] %*% solve(S[nd$visit[obs], nd$visit[obs], drop = FALSE])
        Z <- X[mis, , drop = FALSE] - A %*% X[obs, , drop = FALSE]
        fit[mis] <- as.numeric(Z %*% object$beta) + nd$offset[mis] + as.numeric(A %*% (y[obs] - nd$offset[obs]))
        Smm <- Smm - A %*% S[nd$visit[obs], nd$visit[mis], drop = FALSE]
      } else {
        Z <- X[mis, , drop = FALSE]
      }
      se[mis] <- sqrt(rowSums((Z %*% Vb) * Z))
      pse[mis] <- sqrt(se[mis]^2 + diag(Smm))
    }
    fit[!is.na(y)] <- y[!is.na(y)]
  }
  names(fit) <- rownames(data)
  out <- fit
  if (interval != "none") {
    half <- stats::qnorm((1 + level) / 2) * if (interval == "confidence") se else pse
    out <- cbind(fit = fit, lwr = fit - half, upr = fit + half)
  }
  if (se.fit) list(fit = out, se.fit = stats::setNames(se, rownames(data))) else out
}

# Variance that the random-effect terms add to one observation of each row of data.
covfit_re_variance <- function(object, data) {
  out <- numeric(nrow(data))
  for (tm in object$reterms$terms) {
    p <- length(tm$cnms)
    G <- object$sigma^2 * tcrossprod(theta_to_lambda(object$theta[tm$theta_index], p))
    Zk <- stats::model.matrix(tm$lhs, data)
    out <- out + rowSums((Zk %*% G) * Zk)
  }
  out
}

# ---- simulation ------------------------------------------------------------------

#' @rdname covfit-methods
#' @param nsim,seed for `simulate`: number of responses to draw, and an optional
#'   seed. Each draw is X beta + Z b + e with b and e drawn from their fitted
#'   distributions (the subject's residuals jointly, from the covariance of its
#'   group over its visits), for the rows of the fit.
#' @export
simulate.lemma_covfit <- function(object, nsim = 1, seed = NULL, ...) {
  fn <- "simulate"
  check_dots_unused(list(...), fn)
  check_number(nsim, "nsim", fn, lower = 1, integer = TRUE)
  if (!is.null(seed)) {
    check_number(seed, "seed", fn, integer = TRUE)
    set.seed(seed)
  }
  if (!exists(".Random.seed", envir = .GlobalEnv, inherits = FALSE)) stats::runif(1)
  rng_state <- get(".Random.seed", envir = .GlobalEnv, inherits = FALSE)
  n <- length(object$y)
  sims <- matrix(as.numeric(object$X %*% object$beta) + object$offset, n, nsim)
  for (tm in object$reterms$terms) {
    p <- length(tm$cnms)
    lam <- object$sigma * theta_to_lambda(object$theta[tm$theta_index], p)
    codes <- as.integer(tm$factor)
    for (s in seq_len(nsim)) {
      b <- matrix(stats::rnorm(tm$nlev * p), tm$nlev, p) %*% t(lam)
      sims[, s] <- sims[, s] + rowSums(tm$X * b[codes, , drop = FALSE])
    }
  }
  for (b in covfit_pattern_blocks(object)) {
    # one draw of nrow(Sigma) correlated residuals per subject and simulation
    e <- crossprod(chol(b$Sigma), matrix(stats::rnorm(length(b$rows) * nsim), nrow(b$Sigma)))
    sims[b$rows, ] <- sims[b$rows, ] + matrix(e, ncol = nsim)
  }
  out <- as.data.frame(sims)
  names(out) <- paste0("sim_", seq_len(nsim))
  rownames(out) <- rownames(object$frame)
  structure(out, seed = rng_state)
}

# ---- broom-style summaries ---------------------------------------------------------

#' @rdname covfit-methods
#' @param effects for `tidy`: any of `"fixed"`, `"ran_pars"` (the random-effect
#'   and residual variances and covariances, with delta-method standard errors) and
#'   `"ran_vals"` (the random effects' conditional modes and standard deviations).
#' @param conf.int,conf.level for `tidy`: add Wald limits (as `confint`).
#' @export
tidy.lemma_covfit <- function(x, effects = c("ran_pars", "fixed"), conf.int = FALSE, conf.level = 0.95,
                              ddf = c("Satterthwaite", "none"), ...) {
  check_dots_unused(list(...), "tidy")
  kinds <- c("fixed", "ran_pars", "ran_vals")
  if (!is.character(effects) || !length(effects) || anyNA(match(effects, kinds)))
    stop("tidy(): 'effects' must be one or more of \"fixed\", \"ran_pars\", \"ran_vals\"", call. = FALSE)
  if ("ran_vals" %in% effects && !length(x$theta))
    stop("tidy(): effects = \"ran_vals\": the model has no random-effect terms", call. = FALSE)
  check_flag(conf.int, "conf.int", "tidy")
  ddf <- match_ddf(ddf, fn = "tidy")
  ci <- if (conf.int) confint.lemma_covfit(x, level = conf.level, ddf = ddf) else NULL
  out <- list()
  if ("fixed" %in% effects) {
    fe <- tidy.lemma_fit(x, effects = "fixed", ddf = ddf)
    fe <- as.data.frame(fe)
    if (conf.int) {
      fe$conf.low <- ci[fe$term, 1]
      fe$conf.high <- ci[fe$term, 2]
    }
    out$fixed <- fe
  }
  if ("ran_pars" %in% effects) {
    cp <- covfit_covpar_table(x)
    nm <- rownames(cp)
    re <- grepl(" | ", nm, fixed = TRUE)
    rp <- data.frame(effect = "ran_pars", group = ifelse(re, sub("^.* \\| (.*)\\)$", "\\1", nm), "Residual"),
                     term = nm, estimate = cp$estimate, std.error = cp$std.error, stringsAsFactors = FALSE)
    if (conf.int) {
      rp$conf.low <- ci[nm, 1]
      rp$conf.high <- ci[nm, 2]
    }
    out$ran_pars <- rp
  }
  if ("ran_vals" %in% effects) {
    rv <- as.data.frame(ranef.lemma_covfit(x, condVar = TRUE))
    out$ran_vals <- data.frame(effect = "ran_vals", group = rv$grpvar, level = as.character(rv$grp),
                               term = as.character(rv$term), estimate = rv$condval, std.error = rv$condsd,
                               stringsAsFactors = FALSE)
  }
  res <- Reduce(function(a, b) {
    for (n in setdiff(names(b), names(a))) a[[n]] <- if (nrow(a)) NA else logical(0)
    for (n in setdiff(names(a), names(b))) b[[n]] <- if (nrow(b)) NA else logical(0)
    rbind(a, b[names(a)])
  }, out[intersect(kinds, names(out))])
  rownames(res) <- NULL
  if (requireNamespace("tibble", quietly = TRUE)) res <- tibble::as_tibble(res)
  res
}
