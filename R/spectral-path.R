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
  if (is.null(spectral)) {
    t <- frame$reterms$terms[[1]]
    ord <- order(as.integer(t$factor))     # observations in level order
    e <- .sym_eigen(tcrossprod(t$relchol))  # K over the levels
    U <- e$vectors
    spectral <- list(d = pmax(e$values, 0), U = U, ord = ord,
                     Xr = crossprod(U, frame$X[ord, , drop = FALSE]),
                     yr = drop(crossprod(U, (frame$y - frame$offset)[ord])))
  }
  devfun <- function(theta) spectral_solution(spectral, theta, REML, length(frame$y))$objective
  devfun
}

# Everything lmm_object() takes from the C++ solution, computed in the eigenbasis.
spectral_solution <- function(s, theta, REML, n) {
  lam <- theta[1]^2
  w <- 1 / (1 + lam * s$d)
  XtWX <- crossprod(s$Xr * w, s$Xr)
  R <- chol(XtWX)
  beta <- backsolve(R, forwardsolve(t(R), crossprod(s$Xr, w * s$yr)))
  r <- s$yr - drop(s$Xr %*% beta)
  pwrss <- sum(w * r^2)
  p <- ncol(s$Xr)
  ldL2 <- sum(log1p(lam * s$d))
  ldRX2 <- 2 * sum(log(diag(R)))
  nmp <- if (REML) n - p else n
  obj <- ldL2 + nmp * (1 + log(2 * pi * pwrss / nmp)) + if (REML) ldRX2 else 0
  # u for the factor C = U D^(1/2): u = theta C' H^-1 r; b = theta C u, in level order.
  u <- theta[1] * sqrt(s$d) * w * r
  b <- drop(s$U %*% (theta[1] * sqrt(s$d) * u))
  list(objective = obj, ldL2 = ldL2, ldRX2 = ldRX2, pwrss = pwrss, beta = drop(beta),
       RX = t(R), u = list(u), b = list(b))
}
