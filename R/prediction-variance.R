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
# factor) come from cross_variance(). Nothing is n x q: per row the work is a few
# lookups in level-indexed tables.

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
    parts <- henderson_parts(object, used)
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
    if (length(used) > 1L) v <- v + cross_variance(object, des, used, parts$sp)
  }
  v <- v + colSums(forwardsolve(object$RX, t(D))^2)
  sqrt(s2 * v)
}

# G = Lambda_b A^-1 B per used term (rows level-major, as b), and the sparse parts
# of the fit for cross_variance().
henderson_parts <- function(object, used) {
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
  sp$L <- methods::as(Matrix::tril(sp$L), "triangularMatrix")
  Lam <- sp$Lambda   # Z here is already multiplied by C (x) I
  B <- as.matrix(Matrix::crossprod(Lam, sp$AZXy[, seq_len(pfix), drop = FALSE]))
  LAiB <- as.matrix(Lam %*% Matrix::solve(Matrix::t(sp$L), Matrix::solve(sp$L, B)))
  G <- lapply(seq_along(terms), function(k) {
    if (k %in% used) apply_relchol(terms[[k]], LAiB[term_index(sp, terms, k), , drop = FALSE])
  })
  list(G = G, sp = sp)
}

term_index <- function(sp, terms, k) sp$offsets[k] + seq_len(terms[[k]]$nlev * length(terms[[k]]$cnms))

# 2 z_k' H_kj z_j summed over pairs of used terms k < j, per row (rows where both
# levels were seen; an unseen level's error is independent of the rest).
# With L = [L11 0; LT1 LTT] split after the first term (the largest, whose
# diagonal block is (block) diagonal), A^-1 has trailing block
# Z_TT = (LTT LTT')^-1, dense but only as large as the later terms, and
# A^-1_T1 = -Z_TT LT1 L11^-1, formed for a chunk of the first term's levels at a time.
cross_variance <- function(object, des, used, sp) {
  terms <- object$reterms$terms
  out <- numeric(des$n)
  L <- sp$L
  q <- nrow(L)
  q1 <- sp$offsets[2]
  nT <- q - q1
  if (nT > 8000L)
    stop(sprintf("predict(): standard errors combining crossed random-effect terms need a dense %d x %d block; not available at this size",
                 nT, nT), call. = FALSE)
  trail <- seq.int(q1 + 1L, q)
  ZTT <- chol2inv(t(as.matrix(L[trail, trail])))
  lam_rows <- function(k, M) {
    ik <- term_index(sp, terms, k)
    apply_relchol(terms[[k]], as.matrix(sp$Lambda[ik, ik] %*% M))
  }
  later <- used[used > 1L]
  for (a in seq_along(later)) for (b in seq_along(later)) {
    if (b <= a) next
    k <- later[a]
    j <- later[b]
    M <- ZTT[term_index(sp, terms, k) - q1, term_index(sp, terms, j) - q1, drop = FALSE]
    H <- t(lam_rows(j, t(lam_rows(k, M))))
    out <- out + 2 * pair_values(des, terms, k, j, H, seq_len(ncol(H)))
  }
  if (!(1L %in% used) || !length(later)) return(out)
  t1 <- terms[[1]]
  p1 <- length(t1$cnms)
  cd1 <- des$codes[[1]]
  lv <- sort(unique(cd1[!is.na(cd1)]))
  per <- max(1L, floor(1e7 / (nT * p1)))
  chunks <- if (!is.null(t1$relchol)) list(seq_len(t1$nlev)) else split(lv, ceiling(seq_along(lv) / per))
  for (levs in chunks) {
    cols <- as.vector(outer(seq_len(p1), (levs - 1L) * p1, "+"))
    W <- as.matrix(L[trail, cols, drop = FALSE] %*% Matrix::solve(L[cols, cols, drop = FALSE]))
    AT1 <- -ZTT %*% W
    for (j in later) {
      H <- as.matrix(AT1[term_index(sp, terms, j) - q1, , drop = FALSE] %*% Matrix::t(sp$Lambda[cols, cols, drop = FALSE]))
      H <- t(apply_relchol(t1, t(lam_rows(j, H))))   # rows: term j, columns: term 1 at `levs`
      out <- out + 2 * pair_values(des, terms, j, 1L, H, cols, restrict = levs)
    }
  }
  out
}

# Per row: z_k' H[(i_k, kept cols), (i_j, kept cols)] z_j, where H's rows index term k
# (all levels) and its columns are term j's positions `cols`; rows whose term-j
# level is not in `restrict` (or either level unseen) get 0.
pair_values <- function(des, terms, k, j, H, cols, restrict = NULL) {
  out <- numeric(des$n)
  ck <- des$codes[[k]]
  cj <- des$codes[[j]]
  ok <- !is.na(ck) & !is.na(cj)
  if (!is.null(restrict)) ok <- ok & cj %in% restrict
  r <- which(ok)
  if (!length(r)) return(out)
  pk <- length(terms[[k]]$cnms)
  pj <- length(terms[[j]]$cnms)
  for (a in seq_along(des$sel[[k]])) for (c in seq_along(des$sel[[j]])) {
    hi <- (ck[r] - 1L) * pk + des$sel[[k]][a]
    hj <- match((cj[r] - 1L) * pj + des$sel[[j]][c], cols)
    out[r] <- out[r] + des$Z[[k]][r, a] * des$Z[[j]][r, c] * H[cbind(hi, hj)]
  }
  out
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
