## Dense n x n reference computations for the inference tests: every quantity is
## recomputed from Z, Lambda and V formed explicitly, independently of the blocked
## C++ code (small data only).

dense_parts <- function(fit) {
  sw <- sqrt(fit$weights)
  terms <- fit$reterms$terms
  n <- length(fit$y)
  Zs <- list(); Ls <- list(); Es <- list()
  for (tm in terms) {
    p <- length(tm$cnms)
    Zk <- matrix(0, n, tm$nlev * p)
    codes <- as.integer(tm$factor)
    for (j in seq_len(p)) Zk[cbind(seq_len(n), (codes - 1L) * p + j)] <- tm$X[, j]
    Zs[[length(Zs) + 1L]] <- Zk
    C <- if (is.null(tm$relchol)) diag(tm$nlev) else tm$relchol
    lam <- matrix(0, p, p)
    lam[lower.tri(lam, diag = TRUE)] <- fit$theta[tm$theta_index]
    Ls[[length(Ls) + 1L]] <- list(C = C, lam = lam, p = p)
  }
  Z <- do.call(cbind, Zs) * sw
  X <- fit$X * sw
  y <- (fit$y - fit$offset) * sw
  list(Z = Z, X = X, y = y, terms = Ls, n = n, p = ncol(X))
}

## Lambda (q x q) for theta, and dLambda/dtheta_i
dense_lambda <- function(dp, theta, which = 0L) {
  blocks <- list()
  k <- 0L
  for (t in dp$terms) {
    p <- t$p
    lam <- matrix(0, p, p)
    idx <- k + seq_len(p * (p + 1) / 2)
    if (which == 0L) lam[lower.tri(lam, diag = TRUE)] <- theta[idx]
    else if (which %in% idx) lam[lower.tri(lam, diag = TRUE)][which - k] <- 1
    k <- k + length(idx)
    blocks[[length(blocks) + 1L]] <- kronecker(t$C, lam)
  }
  as.matrix(Matrix::bdiag(blocks))
}

## non-profiled deviance dev(theta, sigma) (REML or ML), dense
dense_dev <- function(dp, theta, sigma, REML = TRUE) {
  Lam <- dense_lambda(dp, theta)
  V <- diag(dp$n) + dp$Z %*% Lam %*% t(Lam) %*% t(dp$Z)
  Vi <- solve(V)
  P <- t(dp$X) %*% Vi %*% dp$X
  beta <- solve(P, t(dp$X) %*% Vi %*% dp$y)
  r <- dp$y - dp$X %*% beta
  nmp <- dp$n - if (REML) dp$p else 0
  dev <- as.numeric(determinant(V)$modulus) + sum(r * (Vi %*% r)) / sigma^2 + nmp * log(2 * pi * sigma^2)
  if (REML) dev <- dev + as.numeric(determinant(P)$modulus)
  dev
}

## exact Jacobian of cov(beta) in (theta, sigma), dense
dense_jacobian <- function(dp, theta, sigma) {
  Lam <- dense_lambda(dp, theta)
  V <- diag(dp$n) + dp$Z %*% Lam %*% t(Lam) %*% t(dp$Z)
  Vi <- solve(V)
  P <- t(dp$X) %*% Vi %*% dp$X
  Pi <- solve(P)
  out <- lapply(seq_along(theta), function(i) {
    dL <- dense_lambda(dp, theta, i)
    dV <- dp$Z %*% (dL %*% t(Lam) + Lam %*% t(dL)) %*% t(dp$Z)
    dP <- -t(dp$X) %*% Vi %*% dV %*% Vi %*% dp$X
    -sigma^2 * Pi %*% dP %*% Pi
  })
  c(out, list(2 * sigma * Pi))
}

num_grad <- function(f, x, h = 1e-5) {
  vapply(seq_along(x), function(i) {
    hi <- h * max(abs(x[i]), 0.1)
    xp <- x; xp[i] <- xp[i] + hi
    xm <- x; xm[i] <- xm[i] - hi
    (f(xp) - f(xm)) / (2 * hi)
  }, numeric(1))
}

## Kenward-Roger as pbkrtest defines it, with n x n matrices (Sigma = sum gamma_r G_r,
## G_r = Z (K (x) F_r) Z', G_e = W^{-1}; here in the weighted scale, G_e = I).
dense_kr <- function(fit) {
  dp <- dense_parts(fit)
  s2 <- fit$sigma^2
  G <- list(); k <- 0L
  for (t in dp$terms) {
    p <- t$p
    K <- tcrossprod(t$C)
    nb <- nrow(t$C) * p
    zcols <- k + seq_len(nb)
    Zk <- dp$Z[, zcols, drop = FALSE]
    for (j in seq_len(p)) for (i in j:p) {
      F <- matrix(0, p, p); F[i, j] <- 1; F[j, i] <- 1
      G[[length(G) + 1L]] <- Zk %*% kronecker(K, F) %*% t(Zk)
    }
    k <- k + nb
  }
  G[[length(G) + 1L]] <- diag(dp$n)
  Lam <- dense_lambda(dp, fit$theta)
  Sigma <- s2 * (diag(dp$n) + dp$Z %*% Lam %*% t(Lam) %*% t(dp$Z))
  Si <- solve(Sigma)
  X <- dp$X
  Phi <- solve(t(X) %*% Si %*% X)
  m <- length(G)
  P <- lapply(G, function(g) -t(X) %*% Si %*% g %*% Si %*% X)
  Q <- function(r, s) t(X) %*% Si %*% G[[r]] %*% Si %*% G[[s]] %*% Si %*% X
  IE2 <- matrix(0, m, m)
  for (r in 1:m) for (s in 1:m)
    IE2[r, s] <- sum(diag(Si %*% G[[r]] %*% Si %*% G[[s]])) - 2 * sum(diag(Phi %*% Q(r, s))) +
      sum(diag(Phi %*% P[[r]] %*% Phi %*% P[[s]]))
  W <- 2 * solve(IE2)
  U <- matrix(0, ncol(X), ncol(X))
  for (r in 1:m) for (s in 1:m) U <- U + W[r, s] * (Q(r, s) - P[[r]] %*% Phi %*% P[[s]])
  list(Phi = Phi, PhiA = Phi + 2 * Phi %*% U %*% Phi, P = P, W = W)
}

## a small data set with a relationship matrix and prior weights
make_relmat_data <- function(seed = 5) {
  set.seed(seed)
  nid <- 25
  A <- matrix(rnorm(nid * 8), nid) 
  K <- tcrossprod(A) / 8 + diag(0.2, nid)
  ids <- sprintf("i%02d", seq_len(nid))
  dimnames(K) <- list(ids, ids)
  d <- data.frame(id = factor(rep(ids, each = 3)), x = rnorm(3 * nid), g = factor(rep(c("a", "b", "c"), nid)))
  u <- t(chol(K)) %*% rnorm(nid)
  d$y <- 1 + 0.5 * d$x + c(a = 0, b = 0.3, c = -0.2)[as.character(d$g)] + 0.8 * u[as.integer(d$id)] +
    rnorm(nrow(d))
  d$w <- runif(nrow(d), 0.5, 2)
  list(data = d, K = K)
}
