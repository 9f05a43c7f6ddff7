# Kenward-Roger (1997) as pbkrtest computes it, on pbkrtest's variance-component
# parametrization: one variance (or covariance) per element of each term's
# covariance matrix (column-wise lower triangle) and the residual variance, so
# Sigma = sum_r gamma_r G_r with G_r = Z (I (x) F_r) Z' (F_r = E_ii or E_ij + E_ji)
# and G_e = I. Everything is computed in q x q (Woodbury through the blocked factor:
# Z'Sigma^{-1}Z = (A_ZZ - A_ZZ Lambda M^{-1} Lambda' A_ZZ) / sigma^2, and likewise
# for the Sigma^{-2} and Sigma^{-3} products), never n x n.

#' @importFrom Matrix sparseMatrix
NULL

# Each covariance parameter r of a term acts on Z's columns through
# E_r = I (x) F_r (F_r = E_ii, or E_ij + E_ji); E_r x just copies rows, so it is
# kept as a pair of row indices: (E_r x)[dst] = x[src], other rows 0.
kr_E_maps <- function(fit, offsets) {
  out <- list()
  for (t in seq_along(fit$reterms$terms)) {
    tm <- fit$reterms$terms[[t]]
    p <- length(tm$cnms)
    base <- offsets[t] + (seq_len(tm$nlev) - 1L) * p
    for (j in seq_len(p)) for (i in j:p) {
      ri <- base + i
      rj <- base + j
      out[[length(out) + 1L]] <- if (i == j) list(dst = ri, src = ri) else list(dst = c(ri, rj), src = c(rj, ri))
    }
  }
  out
}

#' Kenward-Roger pieces of a fit (internal)
#'
#' Phi (the unadjusted covariance of beta-hat), the adjusted covariance Phi_A, the
#' matrices P_r and the asymptotic covariance W of the variance components, as
#' pbkrtest's vcovAdj. Cached in the fit. One-term models without a relationship
#' matrix stay sparse (block diagonal); otherwise the q x q work is dense BLAS.
#' @param fit an `lmm` REML fit.
#' @return list(Phi, PhiA, P, W).
#' @keywords internal
#' @noRd
kenward_roger_parts <- function(fit) {
  if (inherits(fit, "lemma_covfit")) return(covstruct_kr_parts(fit))
  cache <- inference_cache(fit)
  if (!is.null(cache$kr)) return(cache$kr)
  if (!isTRUE(fit$REML)) stop("Kenward-Roger's method is only available for REML fits", call. = FALSE)
  ptr <- model_ptr(fit)
  sp <- .model_sparse_parts(ptr, as.numeric(fit$theta))
  n <- length(fit$y)
  p <- ncol(fit$X)
  s2 <- fit$sigma^2
  q <- nrow(sp$AZZ)
  AZX <- sp$AZXy[, seq_len(p), drop = FALSE]
  Pm <- tcrossprod(sp$RX)                      # X'V^{-1}X
  sparse <- length(fit$reterms$terms) == 1L && Matrix::nnzero(sp$L) < 0.05 * q^2
  if (sparse) {
    AZZ <- methods::as(sp$AZZ, "generalMatrix")
    Lt <- methods::as(Matrix::tril(sp$L), "triangularMatrix")
    Linv <- Matrix::solve(Lt)                  # L^{-1}
    LamA <- Matrix::crossprod(sp$Lambda, AZZ)
  } else {
    AZZ <- as.matrix(sp$AZZ)
    Ld <- as.matrix(sp$L)
    Ld[upper.tri(Ld)] <- 0
    Linv <- forwardsolve(Ld, diag(q))
    LamA <- as.matrix(Matrix::crossprod(sp$Lambda, AZZ))
  }
  B <- Linv %*% LamA                           # L^{-1} Lambda' A_ZZ
  BX <- as.matrix(Linv %*% (as.matrix(Matrix::crossprod(sp$Lambda, AZX))))
  C2 <- Matrix::crossprod(Linv, B)             # M^{-1} Lambda' A_ZZ
  C2X <- as.matrix(Matrix::crossprod(Linv, BX))
  S <- AZZ - Matrix::crossprod(B)              # Z'V^{-1}Z
  U <- AZX - as.matrix(Matrix::crossprod(B, BX))   # Z'V^{-1}X
  ZV2X <- U - as.matrix(Matrix::crossprod(C2, C2X))
  XV2X <- Pm - crossprod(C2X)
  XV3X <- XV2X - crossprod(as.matrix(Linv %*% C2X))
  trV2 <- n - q + sum(Matrix::crossprod(Linv)^2)   # tr(V^{-2}) = n - q + ||M^{-1}||_F^2
  E <- kr_E_maps(fit, sp$offsets)
  m <- length(E) + 1L
  Phi <- s2 * chol2inv(t(sp$RX))
  # Sigma = sigma^2 V: P_r, Q_rs and the traces in the 1/sigma^2 powers they carry
  Us <- lapply(E, function(e) U[e$src, , drop = FALSE])   # rows dst of E_r U
  PP <- vector("list", m)
  for (r in seq_along(E)) PP[[r]] <- -crossprod(U[E[[r]]$dst, , drop = FALSE], Us[[r]]) / s2^2
  PP[[m]] <- -XV2X / s2^2
  Q <- function(r, s) {
    if (r < m && s < m)
      return(crossprod(Us[[r]], as.matrix(S[E[[r]]$dst, E[[s]]$dst, drop = FALSE] %*% Us[[s]])) / s2^3)
    if (r < m && s == m) return(crossprod(Us[[r]], ZV2X[E[[r]]$dst, , drop = FALSE]) / s2^3)
    if (r == m && s < m) return(crossprod(ZV2X[E[[s]]$dst, , drop = FALSE], Us[[s]]) / s2^3)
    XV3X / s2^3
  }
  trES2 <- function(e)   # tr(E_r Z'V^{-2}Z) = tr(E_r (S - C2'C2))
    sum(S[cbind(e$dst, e$src)]) - sum(C2[, e$dst, drop = FALSE] * C2[, e$src, drop = FALSE])
  Kt <- function(r, s) {
    if (r < m && s < m) {
      er <- E[[r]]; es <- E[[s]]
      return(sum(S[er$src, es$dst, drop = FALSE] * Matrix::t(S[es$src, er$dst, drop = FALSE])) / s2^2)
    }
    if (r < m) return(trES2(E[[r]]) / s2^2)
    if (s < m) return(trES2(E[[s]]) / s2^2)
    trV2 / s2^2
  }
  QQ <- list()
  IE2 <- matrix(0, m, m)
  for (r in seq_len(m)) for (s in r:m) {
    Qrs <- Q(r, s)
    QQ[[paste(r, s)]] <- Qrs
    IE2[r, s] <- IE2[s, r] <- Kt(r, s) - 2 * sum(Phi * Qrs) + sum((Phi %*% PP[[r]]) * (PP[[s]] %*% Phi))
  }
  # Inverted equilibrated, W = 2 D (D IE2 D)^-1 D with D = diag(IE2)^-1/2: the
  # variance of a slope on a covariate of scale 1e6 puts 1e24 between the diagonal
  # entries, and solve() then sees a singular matrix.
  dg <- diag(IE2)
  D <- outer(dg, dg, function(a, b) ifelse(a > 0 & b > 0, 1 / sqrt(a * b), 1))
  IE2 <- IE2 * D
  ev <- eigen(IE2, symmetric = TRUE, only.values = TRUE)$values
  W <- 2 * D * (if (min(abs(ev)) > 1e-10) solve(IE2) else pseudo_inverse(IE2))
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
#' as pbkrtest's `vcovAdj()`, computed with q x q (not n x n) matrices. For a fit
#' with a residual covariance term such as `us(visit | id)`, the adjusted covariance
#' of mmrm's `method = "Kenward-Roger"` (with second derivatives of the residual
#' covariance in mmrm's parameters, and observed information).
#'
#' @param fit an `lmm` fit by REML.
#' @return A p x p matrix named by the coefficients.
#' @examples
#' fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
#' vcov_kr(fit)
#' @export
vcov_kr <- function(fit) {
  check_fit(fit, "vcov_kr")
  kenward_roger_parts(fit)$PhiA
}
