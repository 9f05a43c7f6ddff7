# Refitting a fit to a new response or by ML, and small accessors lme4 users call
# (getData, family, extractAIC). All refits go through refit_with() (R/methods-anova.R);
# a new response only swaps the response part of the C++ model (with_response()).

#' Refit a model to a new response
#'
#' Refits the model with the same design (fixed effects, random effects, prior
#' weights, offset) to a new response, as lme4's `refit()`. The C++ model is copied
#' with only its response cross-products (Z'y, X'y, y'y) replaced, so a refit costs
#' one optimization and no rebuild of the design; the REML or ML criterion of the
#' original fit is kept.
#'
#' @param object a fitted model.
#' @param newresp the new response: a numeric vector with one value per observation
#'   used in the fit, or per row of the data when the fit dropped incomplete rows
#'   (those rows are dropped again), or a one-column data frame such as a column of
#'   [simulate()]'s result. `NULL` refits to the original response.
#' @param rename.response if `TRUE`, the response in the formula and the call is
#'   renamed to the expression passed as `newresp`.
#' @param control a list from [lmm_control()]; default the settings of [lmm()].
#' @param ... other arguments of lme4's methods are not supported (a warning names
#'   them).
#' @return A fit of the same class.
#' @examples
#' fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
#' y2 <- simulate(fit, seed = 1)
#' fixef(refit(fit, y2))
#' fixef(refitML(fit))
#' @export
refit <- function(object, newresp, ...) UseMethod("refit")

#' @rdname refit
#' @export
refitML <- function(x, ...) UseMethod("refitML")

#' @rdname refit
#' @export
refit.lemma_fit <- function(object, newresp = NULL, rename.response = FALSE, control = lmm_control(), ...) {
  check_dots_unused(list(...), "refit")
  check_flag(rename.response, "rename.response", "refit")
  if (!is.list(control) || !all(c("rhoend", "maxfun", "polish") %in% names(control)))
    stop("refit(): 'control' must be a list from lmm_control() (lme4's lmerControl() is not used by lemma)",
         call. = FALSE)
  newresp_expr <- substitute(newresp)
  if (is.null(newresp)) return(refit_with(object, REML = isREML(object), control = control))
  y <- as_new_response(object, newresp)
  out <- refit_with(with_response(object, y), REML = isREML(object), control = control)
  out$call <- object$call
  if (rename.response) {
    lhs <- if (is.name(newresp_expr) || is.call(newresp_expr)) newresp_expr else as.name(deparse1(newresp_expr))
    out$formula[[2L]] <- lhs
    out$model_env$frame$formula[[2L]] <- lhs
    if (!is.null(out$call)) out$call$formula[[2L]] <- lhs
  }
  out
}

#' @rdname refit
#' @param x a fitted model.
#' @export
refitML.lemma_fit <- function(x, ...) {
  check_dots_unused(list(...), "refitML")
  refit_ml(x)
}

# The new response as a numeric vector over the fit's observations.
as_new_response <- function(object, newresp) {
  if (is.list(newresp)) {
    if (length(newresp) != 1L)
      stop(sprintf("refit(): 'newresp' is a list or data frame with %d columns; refit one at a time, e.g. lapply(sims, refit, object = fit)",
                   length(newresp)), call. = FALSE)
    newresp <- newresp[[1L]]
  }
  if (!is.numeric(newresp) || !is.null(dim(newresp)) && length(dim(newresp)) > 1L && ncol(newresp) != 1L)
    stop("refit(): 'newresp' must be a numeric vector", call. = FALSE)
  y <- as.numeric(newresp)
  n <- length(object$y)
  omitted <- object$na.action
  if (length(y) != n && length(omitted) && length(y) == n + length(omitted)) y <- y[-omitted]
  if (length(y) != n)
    stop(sprintf("refit(): 'newresp' has %d values; the fit used %d observations%s", length(newresp), n,
                 if (length(omitted)) sprintf(" (%d rows of the data)", n + length(omitted)) else ""),
         call. = FALSE)
  if (any(!is.finite(y))) stop("refit(): 'newresp' has missing or non-finite values", call. = FALSE)
  y
}

# A shallow copy of the fit whose model has response y: the design's cross-products
# are shared (copied in C++), only the response part is recomputed.
with_response <- function(object, y) {
  frame <- object$model_env$frame
  frame$y <- y
  # start the optimizer at the fit's theta, as lme4's refit (diagonals kept off their
  # bound of 0 so that a singular fit does not pin the start there)
  lower <- frame$reterms$lower
  frame$reterms$theta[] <- ifelse(lower == 0, pmax(object$theta, 0.05 / reterms_theta_scale(frame$reterms)),
                                  object$theta)
  lhs <- frame$formula[[2L]]
  if (is.name(lhs) && as.character(lhs) %in% names(frame$frame)) frame$frame[[as.character(lhs)]] <- y
  env <- new.env(parent = emptyenv())
  env$frame <- frame
  if (!is.null(object$spectral)) {
    s <- object$spectral
    s$yr <- drop(crossprod(s$U, (y - frame$offset)[s$ord]))
    object$spectral <- s
  } else {
    sw <- sqrt(frame$weights)
    env$ptr <- .model_with_response(model_ptr(object), frame$X * sw, (y - frame$offset) * sw)
  }
  object$model_env <- env
  object$y <- y
  object$frame <- frame$frame
  object
}

#' Data, family and AIC of a fit
#'
#' `getData()` (nlme's generic) returns the data frame the model was fitted to,
#' evaluated again from the call, as lme4's method does. `family()` is the Gaussian
#' family with identity link. `extractAIC()` gives the equivalent degrees of
#' freedom and the AIC of the ML fit (a REML fit is refitted by ML), as lme4's
#' method (used by [stats::step()]-like code).
#'
#' @param object,fit a fitted model.
#' @param scale unused; must be 0 (as in [stats::extractAIC()] for models with an
#'   estimated scale).
#' @param k penalty per degree of freedom.
#' @param ... unused (a warning names them).
#' @return `getData`: a data frame. `family`: a `"family"` object.
#'   `extractAIC`: a numeric vector of length 2 (edf, AIC).
#' @examples
#' fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
#' head(getData(fit))
#' family(fit)
#' extractAIC(fit)
#' @name lmm-data
#' @aliases getData
NULL

#' @rdname lmm-data
#' @importFrom nlme getData
#' @export getData
#' @export
getData.lemma_fit <- function(object) {
  cl <- object$call
  if (is.null(cl) || is.null(cl$data))
    stop("getData(): the model was not fitted with a 'data' argument", call. = FALSE)
  data <- eval(cl$data, environment(object$formula))
  if (!is.data.frame(data) && !is.matrix(data))
    stop(sprintf("getData(): 'data' (%s) evaluates to a %s, not a data frame", deparse1(cl$data), class(data)[1]),
         call. = FALSE)
  data
}

#' @rdname lmm-data
#' @importFrom stats family extractAIC
#' @export
family.lemma_fit <- function(object, ...) {
  check_dots_unused(list(...), "family")
  stats::gaussian()
}

#' @rdname lmm-data
#' @export
extractAIC.lemma_fit <- function(fit, scale = 0, k = 2, ...) {
  check_dots_unused(list(...), "extractAIC")
  check_number(k, "k", "extractAIC", lower = 0)
  if (!identical(scale, 0) && !identical(scale, 0L))
    warning("extractAIC(): 'scale' is not used for a mixed model (sigma is estimated) and was ignored",
            call. = FALSE)
  ll <- logLik(refit_ml(fit))
  edf <- attr(ll, "df")
  c(edf, -2 * as.numeric(ll) + k * edf)
}
