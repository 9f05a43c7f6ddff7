# Kenward-Roger (1997) as pbkrtest computes it, on pbkrtest's variance-component
# parametrization: one variance (or covariance) per element of each term's
# covariance matrix (column-wise lower triangle) and the residual variance, so
# Sigma = sum_r gamma_r G_r with G_r = Z (I (x) F_r) Z' (F_r = E_ii or E_ij + E_ji)
# and G_e = I. Everything is computed in q x q (Woodbury through the blocked factor:
# Z'Sigma^{-1}Z = (A_ZZ - A_ZZ Lambda M^{-1} Lambda' A_ZZ) / sigma^2, and likewise
# for the Sigma^{-2} and Sigma^{-3} products), never n x n.

# The sparse q x q matrices E_r (one per covariance parameter of the terms).
#' @importFrom Matrix sparseMatrix
NULL

kr_E_matrices <- function(fit, offsets) {
  q <- offsets[length(offsets)]
  out <- list()
  for (t in seq_along(fit$reterms$terms)) {
    tm <- fit$reterms$terms[[t]]
    p <- length(tm$cnms)
    nlev <- tm$nlev
    base <- offsets[t] + (seq_len(nlev) - 1L) * p
    for (j in seq_len(p)) for (i in j:p) {
      if (i == j) {
        out[[length(out) + 1L]] <- Matrix::sparseMatrix(base + i, base + i, x = 1, dims = c(q, q))
      } else {
        out[[length(out) + 1L]] <- Matrix::sparseMatrix(c(base + i, base + j), c(base + j, base + i),
                                                        x = 1, dims = c(q, q))
      }
    }
  }
  out
}

#' Kenward-Roger pieces of a fit (internal)
#'
#' Phi (the unadjusted covariance of beta-hat), the adjusted covariance Phi_A, the
#' matrices P_r and the asymptotic covariance W of the variance components, as
#' pbkrtest's vcovAdj. Cached in the fit.
#' @param fit an `lmm` REML fit.
#' @return list(Phi, PhiA, P, W).
#' @keywords internal
#' @noRd
kenward_roger_parts <- function(fit) {
  cache <- inference_cache(fit)
  if (!is.null(cache$kr)) return(cache$kr)
  if (!isTRUE(fit$REML)) stop("Kenward-Roger's method is only available for REML fits", call. = FALSE)
  ptr <- model_ptr(fit)
  sp <- .model_sparse_parts(ptr, as.numeric(fit$theta))
  n <- length(fit$y)
  p <- ncol(fit$X)
  s2 <- fit$sigma^2
  q <- nrow(sp$AZZ)
  AZZ <- methods::as(sp$AZZ, "generalMatrix")
  Lt <- Matrix::tril(sp$L)
  Lt <- methods::as(Lt, "triangularMatrix")
  Lam <- sp$Lambda
  AZX <- sp$AZXy[, seq_len(p), drop = FALSE]
  Pm <- tcrossprod(sp$RX)                      # X'V^{-1}X
  Linv <- Matrix::solve(Lt)                    # L^{-1}
  B <- Linv %*% Matrix::crossprod(Lam, AZZ)    # L^{-1} Lambda' A_ZZ
  BX <- as.matrix(Linv %*% Matrix::crossprod(Lam, AZX))
  C2 <- Matrix::crossprod(Linv, B)             # M^{-1} Lambda' A_ZZ
  C2X <- as.matrix(Matrix::crossprod(Linv, BX))
  S <- AZZ - Matrix::crossprod(B)              # Z'V^{-1}Z
  U <- AZX - as.matrix(Matrix::crossprod(B, BX))   # Z'V^{-1}X
  S2 <- S - Matrix::crossprod(C2)              # Z'V^{-2}Z
  ZV2X <- U - as.matrix(Matrix::crossprod(C2, C2X))
  XV2X <- Pm - crossprod(C2X)
  XV3X <- XV2X - crossprod(as.matrix(Linv %*% C2X))
  Minv <- Matrix::crossprod(Linv)
  trV2 <- n - q + sum(Minv^2)
  E <- kr_E_matrices(fit, sp$offsets)
  m <- length(E) + 1L
  Phi <- s2 * chol2inv(t(sp$RX))
  # P_r, Q_rs, trace terms (Sigma = sigma^2 V)
  EU <- lapply(E, function(e) as.matrix(e %*% U))
  SEU <- lapply(EU, function(x) as.matrix(S %*% x))
  ES <- lapply(E, function(e) e %*% S)
  PP <- vector("list", m)
  for (r in seq_along(E)) PP[[r]] <- -crossprod(U, EU[[r]]) / s2^2
  PP[[m]] <- -XV2X / s2^2
  Q <- function(r, s) {
    if (r < m && s < m) return(crossprod(EU[[r]], SEU[[s]]) / s2^3)
    if (r < m && s == m) return(crossprod(EU[[r]], ZV2X) / s2^3)
    if (r == m && s < m) return(crossprod(ZV2X, EU[[s]]) / s2^3)
    XV3X / s2^3
  }
  Kt <- function(r, s) {
    if (r < m && s < m) return(sum(ES[[r]] * Matrix::t(ES[[s]])) / s2^2)
    if (r < m) return(sum(E[[r]] * S2) / s2^2)
    if (s < m) return(sum(E[[s]] * S2) / s2^2)
    trV2 / s2^2
  }
  QQ <- list()
  IE2 <- matrix(0, m, m)
  for (r in seq_len(m)) for (s in r:m) {
    Qrs <- Q(r, s)
    QQ[[paste(r, s)]] <- Qrs
    IE2[r, s] <- IE2[s, r] <- Kt(r, s) - 2 * sum(Phi * Qrs) + sum((Phi %*% PP[[r]]) * (PP[[s]] %*% Phi))
  }
  ev <- eigen(IE2, symmetric = TRUE, only.values = TRUE)$values
  W <- if (min(abs(ev)) > 1e-10) 2 * solve(IE2) else 2 * pseudo_inverse(IE2)
  UU <- matrix(0, p, p)
  for (r in seq_len(m)) for (s in r:m) {
    term <- W[r, s] * (QQ[[paste(r, s)]] - PP[[r]] %*% Phi %*% PP[[s]])
    UU <- UU + if (r == s) term else term + t(term)
  }
  PhiA <- Phi + 2 * Phi %*% UU %*% Phi
  nm <- colnames(fit$X)
  dimnames(Phi) <- dimnames(PhiA) <- list(nm, nm)
  out <- list(Phi = Phi, PhiA = PhiA, P = PP, W = W)
  cache$kr <- out
  out
}

pseudo_inverse <- function(A, tol = sqrt(.Machine$double.eps)) {
  s <- svd(A)
  pos <- s$d > max(tol * s$d[1L], 0)
  s$v[, pos, drop = FALSE] %*% (t(s$u[, pos, drop = FALSE]) / s$d[pos])
}

# pbkrtest's df and F scaling for the restriction L beta = 0 (q = rank L).
kr_adjust <- function(kr, L) {
  L <- as.matrix(L)
  Phi <- kr$Phi
  Theta <- t(L) %*% solve(L %*% Phi %*% t(L), L)
  TP <- Theta %*% Phi
  m <- length(kr$P)
  u <- lapply(kr$P, function(P) TP %*% P %*% Phi)
  tr_u <- vapply(u, function(x) sum(diag(x)), numeric(1))
  A1 <- A2 <- 0
  for (i in seq_len(m)) for (j in i:m) {
    e <- if (i == j) 1 else 2
    A1 <- A1 + e * kr$W[i, j] * tr_u[i] * tr_u[j]
    A2 <- A2 + e * kr$W[i, j] * sum(u[[i]] * t(u[[j]]))
  }
  q <- qr(L)$rank
  B <- (A1 + 6 * A2) / (2 * q)
  g <- ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
  c1 <- g / (3 * q + 2 * (1 - g))
  c2 <- (q - g) / (3 * q + 2 * (1 - g))
  c3 <- (q + 2 - g) / (3 * q + 2 * (1 - g))
  V0 <- 1 + c1 * B
  V1 <- 1 - c2 * B
  V2 <- 1 - c3 * B
  if (abs(V0) < 1e-10) V0 <- 0
  ratio <- if (abs(1 - A2 / q) < 1e-14 && abs(V1) < 1e-14) 1 else (1 - A2 / q) / V1
  rho <- ratio^2 * V0 / (V2 * q)
  df2 <- 4 + (q + 2) / (q * rho - 1)
  Fscale <- if (abs(df2 - 2) < 1e-2) 1 else df2 * (1 - A2 / q) / (df2 - 2)
  list(q = q, ddf = df2, F.scaling = Fscale)
}

#' Kenward-Roger adjusted covariance of the fixed effects
#'
#' Kenward and Roger's (1997) small-sample adjusted covariance Phi_A of beta-hat,
#' as pbkrtest's `vcovAdj()`, computed with q x q (not n x n) matrices.
#'
#' @param fit an `lmm` fit by REML.
#' @return A p x p matrix named by the coefficients.
#' @examples
#' fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
#' vcov_kr(fit)
#' @export
vcov_kr <- function(fit) kenward_roger_parts(fit)$PhiA
