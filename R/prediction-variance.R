# Standard errors of predictions: Henderson's prediction-error variance.
#
# In the spherical coordinates u (b = Lambda_b u, Lambda_b = C (x) lambda per term,
# C = I without a relationship matrix) the mixed-model equations have the matrix
#   M = [A B; B' X'WX],  A = Lambda_b'Z'WZ Lambda_b + I = L L',  B = Lambda_b'Z'WX,
# and the errors (u-hat - u, beta-hat - beta) have covariance sigma^2 M^-1. For a
# row with fixed part x and random part z (the kept columns), w = Lambda_b'z and
#   PEV / sigma^2 = w'A^-1 w + (x - G'z)' (R_X R_X')^-1 (x - G'z),
# with G = Lambda_b A^-1 B (q x p) and w'A^-1 w = z'H z, H = Lambda_b A^-1 Lambda_b'
# (the conditional covariance of b given beta, over sigma^2). H's diagonal blocks are
# term_condvar()'s; blocks between two terms (crossed factors, or two terms on one
# factor) come from columns of L^-1 Lambda_b' for the levels the rows use. Nothing
# is n x q: per row the work is a few lookups in level-indexed tables.

# Standard errors of the predictions of a design from prediction_design().
prediction_se <- function(object, des, random.only) {
  terms <- object$reterms$terms
  s2 <- object$sigma^2
  used <- which(lengths(des$sel) > 0L)
  n <- des$n
  D <- if (random.only) matrix(0, n, length(object$beta)) else des$X   # x - G'z, built below
  v <- numeric(n)
  if (length(used)) {
    for (k in used) {
      t <- terms[[k]]
      cd <- des$codes[[k]]
      if (anyNA(cd) && !is.null(t$relchol))
        stop(sprintf("predict(): standard errors at levels absent from the relationship matrix of '%s' are not available",
                     t$group), call. = FALSE)
    }
    parts <- henderson_parts(object, used, cross = length(used) > 1L)
    cv <- term_condvar(object)
    for (k in used) {
      t <- terms[[k]]
      p <- length(t$cnms)
      sl <- des$sel[[k]]
      Z <- des$Z[[k]]
      cd <- des$codes[[k]]
      known <- which(!is.na(cd))
      unseen <- which(is.na(cd))
      H <- cv[[k]][sl, sl, , drop = FALSE] / s2
      # a level the fit has not seen: b-hat = 0, so its error is b, of prior variance
      prior <- tcrossprod(theta_to_lambda(object$theta[t$theta_index], p))[sl, sl, drop = FALSE]
      for (a in seq_along(sl)) for (c in seq_along(sl)) {
        zz <- Z[, a] * Z[, c]
        v[known] <- v[known] + zz[known] * H[a, c, cd[known]]
        v[unseen] <- v[unseen] + zz[unseen] * prior[a, c]
        }
      for (a in seq_along(sl))
        D[known, ] <- D[known, ] - Z[known, a] * parts$G[[k]][(cd[known] - 1L) * p + sl[a], , drop = FALSE]
    }
    if (length(used) > 1L) {
      for (i in seq_along(used)[-length(used)]) for (j in seq(i + 1L, length(used)))
        v <- v + 2 * cross_term(terms, des, parts$Y, used[i], used[j])
    }
  }
  v <- v + colSums(forwardsolve(object$RX, t(D))^2)
  sqrt(s2 * v)
}

# z_k' H[(k, i_k), (j, i_j)] z_j per row, for rows where both levels were seen:
# inner products of columns of Y = L^-1 Lambda_b' taken once per distinct pair of
# levels, in chunks so that memory stays bounded.
cross_term <- function(terms, des, Y, k, j) {
  out <- numeric(des$n)
  ck <- des$codes[[k]]
  cj <- des$codes[[j]]
  rows <- which(!is.na(ck) & !is.na(cj))
  if (!length(rows)) return(out)
  pk <- length(terms[[k]]$cnms)
  pj <- length(terms[[j]]$cnms)
  key <- paste(ck[rows], cj[rows])
  first <- rows[!duplicated(key)]
  pair <- match(key, key[!duplicated(key)])
  for (a in seq_along(des$sel[[k]])) for (c in seq_along(des$sel[[j]])) {
    ia <- (ck[first] - 1L) * pk + des$sel[[k]][a]
    ic <- (cj[first] - 1L) * pj + des$sel[[j]][c]
    ip <- numeric(length(first))
    for (s in split(seq_along(first), ceiling(seq_along(first) / 2000))) {
      ip[s] <- Matrix::colSums(Y[[k]][, ia[s], drop = FALSE] * Y[[j]][, ic[s], drop = FALSE])
    }
    out[rows] <- out[rows] + des$Z[[k]][rows, a] * des$Z[[j]][rows, c] * ip[pair]
  }
  out
}

# G = Lambda_b A^-1 B per term (rows: level-major, as b), and with `cross` the
# columns Y = L^-1 Lambda_b' of the used terms (sparse q x nlev p).
henderson_parts <- function(object, used, cross) {
  terms <- object$reterms$terms
  if (!is.null(object$spectral)) {
    # one term (1 | id), K = U D U': H = U diag(lam d / (1 + lam d)) U' and
    # Z'X is X in level order, whose rotation U'X the fit keeps.
    s <- object$spectral
    lam <- object$theta[[1]]^2
    return(list(G = list(s$U %*% ((lam * s$d / (1 + lam * s$d)) * s$Xr))))
  }
  pfix <- length(object$beta)
  sp <- .model_sparse_parts(model_ptr(object), as.numeric(object$theta))
  L <- methods::as(Matrix::tril(sp$L), "triangularMatrix")
  Lam <- sp$Lambda   # Z here is already multiplied by C (x) I
  B <- as.matrix(Matrix::crossprod(Lam, sp$AZXy[, seq_len(pfix), drop = FALSE]))
  LAiB <- as.matrix(Lam %*% Matrix::solve(Matrix::t(L), Matrix::solve(L, B)))
  idx <- function(k) sp$offsets[k] + seq_len(terms[[k]]$nlev * length(terms[[k]]$cnms))
  G <- lapply(seq_along(terms), function(k) {
    if (k %in% used) apply_relchol(terms[[k]], LAiB[idx(k), , drop = FALSE])
  })
  Y <- NULL
  if (cross) {
    Lt <- Matrix::t(Lam)
    Y <- lapply(seq_along(terms), function(k) {
      if (!(k %in% used)) return(NULL)
      t <- terms[[k]]
      R <- Lt[, idx(k), drop = FALSE]
      if (!is.null(t$relchol)) R <- R %*% kronecker(t(t$relchol), diag(length(t$cnms)))
      Matrix::solve(L, methods::as(R, "CsparseMatrix"))
    })
  }
  list(G = G, Y = Y)
}

# (C (x) I_p) M for a term with a relationship factor C; rows of M level-major.
apply_relchol <- function(t, M) {
  if (is.null(t$relchol)) return(M)
  p <- length(t$cnms)
  for (r in seq_len(p)) {
    rows <- (seq_len(t$nlev) - 1L) * p + r
    M[rows, ] <- t$relchol %*% M[rows, , drop = FALSE]
  }
  M
}
