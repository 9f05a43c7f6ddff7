#' lemma: linear mixed-effects models with a blocked C++ core
#'
#' lemma fits models written in lme4's formula syntax, `y ~ x + (x | g)`, by
#' penalized least squares and profiled REML or ML. The cross-product of
#' `[Z X y]` is formed once in blocks and each evaluation of the objective
#' updates only a blocked Cholesky factor, so its cost does not depend on the
#' number of observations. See [lmm()] to fit a model.
#'
#' @section Dense kernels and results across machines:
#' The dense factorizations of crossed models run on kernels compiled for AVX-512
#' (when lemma was built against Eigen 3.4, CRAN's RcppEigen >= 0.3.4) or AVX2 +
#' FMA, chosen when first needed in the session from what the CPU supports, else on
#' Eigen's portable code. The same call gives the same bits on one machine; between
#' an AVX-512 and an AVX2 machine results differ in the last bits. The environment
#' variable `LEMMA_SIMD` caps the choice: `"avx2"` or `"none"` (`"avx512"` or unset:
#' the best available). It is read once per session, so set it before the first
#' fit, e.g. in `.Renviron`.
#'
#' @keywords internal
#' @useDynLib lemma, .registration = TRUE
#' @importFrom Rcpp sourceCpp
#' @importFrom stats model.frame model.matrix model.response model.weights model.offset
#' @importFrom stats getCall sigma nobs df.residual fitted residuals weights formula terms
#' @importFrom stats vcov logLik deviance coef predict simulate na.action anova update
"_PACKAGE"

#' Generics re-exported from nlme
#'
#' `fixef`, `ranef` and `VarCorr` are nlme's generics (lme4 uses the same ones), so
#' lemma's methods are found whichever of lemma, lme4 and nlme is attached.
#'
#' @name reexports
#' @keywords internal
#' @importFrom nlme fixef ranef VarCorr
#' @export fixef ranef VarCorr
#' @aliases fixef ranef VarCorr
#' @usage fixef(object, ...)
#' @usage ranef(object, ...)
#' @usage VarCorr(x, sigma = 1, ...)
#' @param object,x a fitted model.
#' @param sigma used by nlme's methods only.
#' @param ... passed to methods.
#' @return See [fixef.lemma_fit()], [ranef.lemma_fit()], [VarCorr.lemma_fit()].
NULL
