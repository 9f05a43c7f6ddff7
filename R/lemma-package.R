#' lemma: linear mixed-effects models with a blocked C++ core
#'
#' lemma fits models written in lme4's formula syntax, `y ~ x + (x | g)`, by
#' penalized least squares and profiled REML or ML. The cross-product of
#' `[Z X y]` is formed once in blocks and each evaluation of the objective
#' updates only a blocked Cholesky factor, so its cost does not depend on the
#' number of observations. See [lmm()] to fit a model.
#'
#' @keywords internal
#' @useDynLib lemma, .registration = TRUE
#' @importFrom Rcpp sourceCpp
#' @importFrom stats model.frame model.matrix model.response model.weights model.offset
#' @importFrom nlme fixef ranef VarCorr
#' @export fixef ranef VarCorr
"_PACKAGE"
