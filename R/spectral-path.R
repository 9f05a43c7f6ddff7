# The spectral path: a model whose only random-effect term is `(1 | id)` with a
# known relationship matrix K and one observation per level (the genome-wide
# association model). With K = U D U', rotating y and X by U' makes the marginal
# covariance diagonal, sigma^2 (I + theta^2 D), so each evaluation of the profiled
# criterion costs O(n p^2) after one eigendecomposition, instead of a dense n x n
# Cholesky factorization. The criterion is the general path's, term by term:
#   log|L|^2 = sum log(1 + theta^2 d),  R_X R_X' = X~' W X~,  pwrss = r~' W r~,
# with W = diag(1 / (1 + theta^2 d)).

# Does the frame qualify for the spectral path?
spectral_applies <- function(frame) {
  terms <- frame$reterms$terms
  if (length(terms) != 1L) return(FALSE)
  t <- terms[[1]]
  !is.null(t$relchol) && identical(t$cnms, "(Intercept)") && t$nlev == length(frame$y) &&
    all(frame$weights == 1) && !anyDuplicated(as.integer(t$factor))
}

#' The profiled criterion of a one-relationship-matrix model by the spectral method
#'
#' Used by [lmm()] when the model's only random-effect term is `(1 | id)` with a
#' relationship matrix and one observation per level: `K` is eigendecomposed once
#' and each evaluation costs O(n p^2). The result is a drop-in replacement for
#' [lmm_devfun()]: [lmm_optimize()] and [lmm_object()] accept it.
#'
#' @param frame the result of [lmm_frame()] for such a model.
#' @param REML logical.
#' @param spectral optional rotated data of the same frame from an earlier fit
#'   (`fit$spectral`), so that K is not decomposed again.
#' @return A function of theta (= sigma_g / sigma_e).
#' @examples
#' set.seed(1)
#' ids <- paste0("i", 1:50)
#' A <- matrix(rnorm(50 * 20), 50)
#' K <- tcrossprod(A) / 20
#' dimnames(K) <- list(ids, ids)
#' d <- data.frame(id = ids, x = rnorm(50))
#' d$y <- d$x + drop(t(chol(K + diag(1e-8, 50))) %*% rnorm(50)) + rnorm(50)
#' fr <- lmm_frame(y ~ x + (1 | id), d, relmat = list(id = K))
#' f <- lmm_devfun_spectral(fr)
#' lmm_optimize(f)$par
#' @export
lmm_devfun_spectral <- function(frame, REML = TRUE, spectral = NULL) {
  stopifnot(inherits(frame, "lmm_frame"), spectral_applies(frame))
  REML <- isTRUE(REML)
  if (is.null(spectral)) spectral <- spectral_rotate(frame)
  devfun <- function(theta) .spectral_at(spectral$d, spectral$Xr, spectral$yr, theta[1]^2,
                                         REML, FALSE)$crit
  devfun
}

# The eigendecomposition of K over the levels (reused from the relationship
# factor when that was made from it: one decomposition per fit) and the data
# rotated into its basis, observations in level order.
spectral_rotate <- function(frame) {
  t <- frame$reterms$terms[[1]]
  ord <- order(as.integer(t$factor))
  e <- attr(t$relchol, "eigen")
  if (is.null(e)) {
    K <- frame$reterms$relmat[[t$group]]
    lv <- levels(t$factor)
    # (K's symmetry was checked where its factor was made; dsyevd reads the
    # lower triangle)
    e <- spectral_decomp(if (is.null(K)) tcrossprod(t$relchol) else
      as.matrix(K)[lv, lv, drop = FALSE])
  } else {
    e <- spectral_values(e, FALSE)
  }
  U <- e$vectors
  list(d = e$values, U = U, ord = ord,
       Xr = crossprod(U, frame$X[ord, , drop = FALSE]),
       yr = drop(crossprod(U, (frame$y - frame$offset)[ord])))
}

# Everything lmm_object() takes from the C++ solution, from the spectral
# likelihood shared with lmm_scan() (src/scan.cpp).
spectral_solution <- function(s, theta, REML, n) {
  sol <- .spectral_at(s$d, s$Xr, s$yr, theta[1]^2, REML, TRUE)
  r <- s$yr - drop(s$Xr %*% sol$beta)
  # u for the factor C = U D^(1/2): u = theta C' H^-1 r; b = theta C u, in level order.
  u <- theta[1] * sqrt(s$d) * r / (1 + theta[1]^2 * s$d)
  b <- drop(s$U %*% (theta[1] * sqrt(s$d) * u))
  list(objective = sol$crit, ldL2 = sol$ldL2, ldRX2 = sol$ldRX2, pwrss = sol$pwrss,
       beta = drop(sol$beta), RX = sol$RX, u = list(u), b = list(b))
}
