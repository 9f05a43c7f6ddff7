# Kenward-Roger (1997) for fits with a residual covariance structure (MMRM), as
# mmrm's method = "Kenward-Roger" (and "Kenward-Roger-Linear") computes it.
#
# The covariance parameters psi are
#   gamma  the random-effect variance components, sigma^2 (lambda lambda')[i, j] for
#          each term, column-wise lower triangle (pbkrtest's, linear in Sigma);
#   par    the structure's parameters (R/covstruct.R);
#   tau    log sigma,
# so that cov(y) = Sigma = Z G(gamma) Z' + exp(2 tau) blockdiag_s V_s(par). With
# Sigma_i, Sigma_ij its first and second derivatives,
#   P_i  = -X' S^-1 Sigma_i S^-1 X,   Q_ij = X' S^-1 Sigma_i S^-1 Sigma_j S^-1 X,
#   R_ij =  X' S^-1 Sigma_ij S^-1 X,  Phi = (X' S^-1 X)^-1,
#   Phi_A = Phi + 2 Phi { sum_ij W_ij (Q_ij - P_i Phi P_j - R_ij / 4) } Phi,
# W = 2 H^-1 with H the Hessian of the REML deviance in psi (observed information,
# as mmrm; "expected": tr(Pi Sigma_i Pi Sigma_j), as Kenward and Roger and
# pbkrtest). The linear variant drops R. The df are pbkrtest's (kr_adjust()).
#
# Phi_A with R depends on the parametrization (R_ij picks up second derivatives of
# a reparametrization); without R it does not, nor do the df. The structures' maps
# are mmrm's up to affine changes (R/covstruct.R) and tau is mmrm's log standard
# deviation, so the nonlinear variant is mmrm's.
#
# Sigma is block diagonal: by subject without random effects, by the coarsest
# random-effect grouping with them (each term keeps one level within a subject,
# checked at the fit). Without random effects the subjects with the same visits and
# group share S^-1 and its derivatives; for each such pattern the data enter only
# through T = sum_s vec(X_s) vec(X_s)' and the residual sums, so every X_s' M X_s
# over the pattern is one product with T and the cost is linear in subjects. With
# random effects each block is dense and handled alone (exact, up to a size cap).
#
# Derivatives of V in par come from covstruct_Vs() (the one map from parameters to
# V): analytic for us, central differences otherwise. Steps: 1e-5 (first) and 1e-4
# (second) times max(1, |par|), so truncation (h^2 f''' / 6, h^2 f'''' / 12) and
# rounding (eps / h, eps / h^2) errors are about 1e-10 and 1e-8 of V's scale;
# the R_ij they feed is itself an O(1/n) correction to Phi, and the gradient of
# the REML criterion they give is zero at the fit (~1e-8 on fev_data; tested).

# Largest number of doubles a random-effect block's dense work may take
# (its Sigma and first derivatives: rows^2 * (parameters + 3)).
kr_block_cap <- 2.5e7

#' Kenward-Roger pieces of a fit with a residual covariance structure (internal)
#'
#' @param fit a `lemma_covfit` REML fit.
#' @param linear drop the second-derivative term (mmrm's "Kenward-Roger-Linear").
#' @param information `"observed"` (mmrm) or `"expected"` (pbkrtest) information
#'   for W.
#' @param path `"auto"`; `"block"` forces the per-block computation (a check of the
#'   pattern path).
#' @param cap the largest dense work per random-effect block (see kr_block_cap).
#' @return list(Phi, PhiA, P, W, gradient, names): what kr_adjust() takes.
#' @keywords internal
#' @noRd
covstruct_kr_parts <- function(fit, linear = FALSE, information = c("observed", "expected"), path = c("auto", "block"),
                               cap = kr_block_cap) {
  information <- match.arg(information)
  path <- match.arg(path)
  if (!isTRUE(fit$REML))
    stop("Kenward-Roger's method is only available for REML fits; refit with REML = TRUE", call. = FALSE)
  key <- paste("kr", linear, information, path, sep = "_")
  cache <- inference_cache(fit)
  if (!is.null(cache[[key]])) return(cache[[key]])
  env <- fit$model_env$devfun_env
  frame <- env$frame
  spec <- fit$covstruct$spec
  par <- fit$covstruct$par
  rt <- fit$reterms
  ord <- frame$ord
  X <- fit$X[ord, , drop = FALSE]
  resid <- as.numeric((fit$y - fit$offset)[ord] - X %*% fit$beta)
  s2 <- fit$sigma^2
  gam <- kr_gamma(fit)
  ng <- length(gam$value)
  K <- ng + spec$total + 1L
  dV <- covstruct_V_derivs(spec, par)
  acc <- kr_accumulator(ncol(X), K)
  if (is.null(rt) && path == "auto") {
    acc <- kr_patterns(acc, frame$cs_index, X, resid, dV, spec, s2, ng, K)
  } else {
    acc <- kr_blocks(acc, frame, X, resid, dV, spec, s2, gam, K, cap)
  }
  out <- kr_assemble(acc, linear, information)
  nm <- colnames(fit$X)
  dimnames(out$Phi) <- dimnames(out$PhiA) <- list(nm, nm)
  out$names <- c(gam$names, paste0("covpar", seq_len(spec$total)), "log(sigma)")
  cache[[key]] <- out
  out
}

# The random-effect variance components (sigma^2 lambda lambda', column-wise lower
# triangle per term) and, per component, its term and element.
kr_gamma <- function(fit) {
  rt <- fit$reterms
  if (is.null(rt)) return(list(value = numeric(0), names = character(0), term = integer(0), i = integer(0), j = integer(0)))
  val <- numeric(0); term <- integer(0); ii <- integer(0); jj <- integer(0)
  for (t in seq_along(rt$terms)) {
    tm <- rt$terms[[t]]
    p <- length(tm$cnms)
    lt <- lower.tri(diag(p), diag = TRUE)
    lam <- matrix(0, p, p)
    lam[lt] <- fit$theta[tm$theta_index]
    G <- fit$sigma^2 * tcrossprod(lam)
    val <- c(val, G[lt])
    term <- c(term, rep(t, sum(lt)))
    ii <- c(ii, row(lam)[lt])
    jj <- c(jj, col(lam)[lt])
  }
  list(value = val, names = paste0("gamma.", rt$theta_names), term = term, i = ii, j = jj)
}

# First and second derivatives of each group's V in that group's parameters
# (global indices spec$index[[g]]): list per group of V (m x m), d1 (m x m x k),
# d2 (m x m x k x k; NULL with second = FALSE, as the fit's gradient needs only d1:
# covstruct_jacobian()).
covstruct_V_derivs <- function(spec, par, second = TRUE) {
  if (spec$type == "us") us_V_derivs(spec, par, second) else covstruct_V_derivs_numeric(spec, par, second)
}

covstruct_V_derivs_numeric <- function(spec, par, second = TRUE) {
  lapply(seq_len(spec$ngroups), function(g) {
    idx <- spec$index[[g]]
    k <- length(idx)
    m <- spec$m
    Vg <- function(x) covstruct_Vs(spec, replace(par, idx, x))[[g]]
    x0 <- par[idx]
    V0 <- Vg(x0)
    h1 <- 1e-5 * pmax(1, abs(x0))
    h2 <- 1e-4 * pmax(1, abs(x0))
    e <- function(i, h) replace(numeric(k), i, h[i])
    d1 <- array(0, c(m, m, k))
    d2 <- if (second) array(0, c(m, m, k, k))
    for (i in seq_len(k)) {
      d1[, , i] <- (Vg(x0 + e(i, h1)) - Vg(x0 - e(i, h1))) / (2 * h1[i])
      if (!second) next
      d2[, , i, i] <- (Vg(x0 + e(i, h2)) - 2 * V0 + Vg(x0 - e(i, h2))) / h2[i]^2
      for (j in seq_len(i - 1L)) {
        ei <- e(i, h2); ej <- e(j, h2)
        d2[, , i, j] <- d2[, , j, i] <-
          (Vg(x0 + ei + ej) - Vg(x0 + ei - ej) - Vg(x0 - ei + ej) + Vg(x0 - ei - ej)) / (4 * h2[i] * h2[j])
      }
    }
    list(V = V0, d1 = d1, d2 = d2, index = idx)
  })
}

# us exactly: V = c L L' with L = D T (R/covstruct.R); a parameter below the
# diagonal moves L[i, j] by D[i, i]; a log D[i, i] multiplies row i of L; the
# group's log ratio multiplies V. dV = c (dL L' + L dL'),
# d2V = c (d2L L' + dLa dLb' + dLb dLa' + L d2L').
us_V_derivs <- function(spec, par, second = TRUE) {
  m <- spec$m
  lt <- which(lower.tri(diag(m), diag = TRUE))[-1L]
  rr <- row(diag(m))[lt]
  cc <- col(diag(m))[lt]
  lapply(seq_len(spec$ngroups), function(g) {
    idx <- spec$index[[g]]
    pg <- par[idx]
    k0 <- spec$npar
    L <- us_factor(pg[seq_len(k0)], m)
    d <- diag(L)
    sc <- if (g > 1L) exp(pg[k0 + 1L]) else 1
    # dL for each parameter, and d2L for the pairs where it is not zero
    dL <- lapply(seq_len(k0), function(a) {
      M <- matrix(0, m, m)
      if (rr[a] == cc[a]) M[rr[a], ] <- L[rr[a], ] else M[rr[a], cc[a]] <- d[rr[a]]
      M
    })
    d2L <- function(a, b) {
      M <- matrix(0, m, m)
      if (rr[a] != rr[b]) return(M)
      if (rr[a] == cc[a] && rr[b] == cc[b]) M[rr[a], ] <- L[rr[a], ]
      else if (rr[a] == cc[a]) M[rr[b], cc[b]] <- d[rr[b]]
      else if (rr[b] == cc[b]) M[rr[a], cc[a]] <- d[rr[a]]
      M
    }
    k <- length(idx)
    V0 <- tcrossprod(L)
    d1 <- array(0, c(m, m, k))
    d2 <- if (second) array(0, c(m, m, k, k))
    for (a in seq_len(k0)) {
      A <- dL[[a]] %*% t(L)
      d1[, , a] <- sc * (A + t(A))
      if (second) for (b in seq_len(a)) {
        B <- d2L(a, b) %*% t(L) + dL[[a]] %*% t(dL[[b]])
        d2[, , a, b] <- d2[, , b, a] <- sc * (B + t(B))
      }
    }
    if (g > 1L) {
      d1[, , k] <- sc * V0
      if (second) {
        d2[, , k, k] <- sc * V0
        for (a in seq_len(k0)) d2[, , a, k] <- d2[, , k, a] <- d1[, , a]
      }
    }
    list(V = sc * V0, d1 = d1, d2 = d2, index = idx)
  })
}

kr_accumulator <- function(p, K) {
  list(XX = matrix(0, p, p), P = array(0, c(p, p, K)), Q = array(0, c(p, p, K, K)), R = array(0, c(p, p, K, K)),
       trSD = numeric(K), eDe = numeric(K), G = matrix(0, p, K), trNN = matrix(0, K, K),
       trSD2 = matrix(0, K, K), eDSDe = matrix(0, K, K), eD2e = matrix(0, K, K))
}

# Sigma of a pattern (visits v of group g) and its derivatives in the group's par,
# then tau.
kr_pattern_sigma <- function(dVg, v, s2) {
  kg <- length(dVg$index)
  m <- length(v)
  S <- s2 * dVg$V[v, v, drop = FALSE]
  D <- array(0, c(m, m, kg + 1L))
  D[, , seq_len(kg)] <- s2 * dVg$d1[v, v, , drop = FALSE]
  D[, , kg + 1L] <- 2 * S
  D2 <- array(0, c(m, m, kg + 1L, kg + 1L))
  D2[, , seq_len(kg), seq_len(kg)] <- s2 * dVg$d2[v, v, , , drop = FALSE]
  for (i in seq_len(kg)) D2[, , i, kg + 1L] <- D2[, , kg + 1L, i] <- 2 * D[, , i]
  D2[, , kg + 1L, kg + 1L] <- 4 * S
  list(S = S, D = D, D2 = D2)
}

# Without random effects: one pass per pattern of (group, visits). For the n_k
# subjects of a pattern with m visits, Xm (n_k x m p) holds vec(X_s) by row and
# sum_s X_s' M X_s = matrix(crossprod(Tm, vec(M)), p) with Tm the m^2 x p^2
# rearrangement of crossprod(Xm).
kr_patterns <- function(acc, ix, X, resid, dV, spec, s2, ng, K) {
  p <- ncol(X)
  start <- ix$start
  for (k in seq_along(ix$pattern_first)) {
    subj <- which(ix$pattern == k - 1L)
    s0 <- ix$pattern_first[k] + 1L
    m <- start[s0 + 1L] - start[s0]
    rows <- outer(start[subj], seq_len(m), "+")          # n_k x m
    v <- ix$visit[start[s0] + seq_len(m)] + 1L
    sg <- kr_pattern_sigma(dV[[ix$pattern_group[k] + 1L]], v, s2)
    a <- c(ng + dV[[ix$pattern_group[k] + 1L]]$index, K)
    nk <- length(subj)
    Xm <- matrix(X[as.vector(rows), , drop = FALSE], nk, m * p)
    Tm <- matrix(aperm(array(crossprod(Xm), c(m, p, m, p)), c(1L, 3L, 2L, 4L)), m * m, p * p)
    Rm <- matrix(resid[as.vector(rows)], nk, m)
    Sinv <- chol2inv(chol(sg$S))
    Em <- Rm %*% Sinv                                     # e_s = S^-1 r_s by row
    E <- crossprod(Em)
    U <- crossprod(Em, Xm)                               # [b, (a, c)] = sum_s e_sb X_s[a, c]
    U <- matrix(aperm(array(U, c(m, m, p)), c(2L, 1L, 3L)), m * m, p)
    ka <- length(a)
    Dm <- matrix(sg$D, m, m * ka)
    Ncat <- Sinv %*% Dm                                   # [N_1 ... N_ka], N_i = S^-1 D_i
    Acat <- Ncat %*% kronecker(diag(ka), Sinv)            # A_i = N_i S^-1
    Nrow <- matrix(aperm(array(Ncat, c(m, m, ka)), c(1L, 3L, 2L)), m * ka, m)   # rbind(N_i)
    Drow <- matrix(aperm(array(Dm, c(m, m, ka)), c(1L, 3L, 2L)), m * ka, m)     # rbind(D_i)
    pairs <- function(B) matrix(aperm(array(B, c(m, ka, m, ka)), c(1L, 3L, 2L, 4L)), m * m, ka * ka)
    Mq <- pairs(Nrow %*% Acat)                            # vec(N_i A_j) = vec(S^-1 D_i S^-1 D_j S^-1)
    D2m <- matrix(sg$D2, m * m, ka * ka)
    Mr <- kronecker(Sinv, Sinv) %*% D2m                   # vec(S^-1 D_ij S^-1)
    XXk <- matrix(crossprod(Tm, as.vector(Sinv)), p, p)
    acc$XX <- acc$XX + XXk
    acc$P[, , a] <- acc$P[, , a, drop = FALSE] - array(crossprod(Tm, matrix(Acat, m * m, ka)), c(p, p, ka))
    acc$Q[, , a, a] <- acc$Q[, , a, a, drop = FALSE] + array(crossprod(Tm, Mq), c(p, p, ka, ka))
    acc$R[, , a, a] <- acc$R[, , a, a, drop = FALSE] + array(crossprod(Tm, Mr), c(p, p, ka, ka))
    NN <- pairs(Nrow %*% Ncat)                            # vec(N_i N_j)
    acc$trNN[a, a] <- acc$trNN[a, a] + nk * matrix(colSums(NN[diag(m) == 1, , drop = FALSE]), ka, ka)
    acc$trSD[a] <- acc$trSD[a] + nk * colSums(matrix(Ncat, m * m, ka)[diag(m) == 1, , drop = FALSE])
    acc$trSD2[a, a] <- acc$trSD2[a, a] + nk * matrix(crossprod(D2m, as.vector(Sinv)), ka, ka)
    acc$eDe[a] <- acc$eDe[a] + as.vector(crossprod(matrix(Dm, m * m, ka), as.vector(E)))
    acc$eD2e[a, a] <- acc$eD2e[a, a] + matrix(crossprod(D2m, as.vector(E)), ka, ka)
    acc$eDSDe[a, a] <- acc$eDSDe[a, a] + matrix(crossprod(pairs(Drow %*% Ncat), as.vector(E)), ka, ka)
    acc$G[, a] <- acc$G[, a] + crossprod(U, matrix(Ncat, m * m, ka))
  }
  acc
}

# Blocks of subjects linked by a random-effect level: labels by propagation of the
# smallest subject index over shared levels.
kr_block_labels <- function(frame) {
  ix <- frame$cs_index
  ord <- frame$ord
  subj <- rep(seq_len(ix$nsubj), diff(ix$start))
  lab <- seq_len(ix$nsubj)
  codes <- lapply(frame$reterms$terms, function(t) as.integer(t$factor)[ord])
  repeat {
    old <- lab
    for (cd in codes) {
      lv <- tapply(lab[subj], cd, min)
      lab <- pmin(lab, tapply(lv[as.character(cd)], subj, min)[as.character(seq_len(ix$nsubj))])
    }
    if (identical(lab, old)) break
  }
  match(lab, unique(lab))
}

# With random effects: Sigma of each block dense, its pieces directly.
kr_blocks <- function(acc, frame, X, resid, dV, spec, s2, gam, K, cap) {
  ix <- frame$cs_index
  ord <- frame$ord
  p <- ncol(X)
  ng <- length(gam$value)
  nsubj_rows <- diff(ix$start)
  blk <- if (is.null(frame$reterms)) seq_len(ix$nsubj) else kr_block_labels(frame)
  size <- tapply(nsubj_rows, blk, sum)
  if (max(size)^2 * (K + 3) > cap)
    stop(sprintf(paste("Kenward-Roger's method needs the dense covariance of each block of subjects linked by the",
                       "random effects; the largest block has %d rows, and %d rows x %d covariance parameters is",
                       "above the limit of %.3g numbers (rows^2 x (parameters + 3))"),
                 max(size), max(size), K, cap), call. = FALSE)
  terms <- frame$reterms$terms
  tcodes <- lapply(terms, function(t) as.integer(t$factor)[ord])
  tX <- lapply(terms, function(t) t$X[ord, , drop = FALSE])
  tau <- K
  for (b in unique(blk)) {
    subj <- which(blk == b)
    rows <- unlist(lapply(subj, function(s) (ix$start[s] + 1L):ix$start[s + 1L]))
    m <- length(rows)
    D <- array(0, c(m, m, K))
    S <- matrix(0, m, m)
    # residual part: each subject's V and its derivatives at its rows
    at <- 0L
    sub_pos <- list()
    for (s in subj) {
      ms <- nsubj_rows[s]
      pos <- at + seq_len(ms)
      at <- at + ms
      v <- ix$visit[ix$start[s] + seq_len(ms)] + 1L
      g <- ix$pattern_group[ix$pattern[s] + 1L] + 1L
      S[pos, pos] <- s2 * dV[[g]]$V[v, v]
      D[pos, pos, ng + dV[[g]]$index] <- s2 * dV[[g]]$d1[v, v, , drop = FALSE]
      sub_pos[[length(sub_pos) + 1L]] <- list(pos = pos, v = v, g = g)
    }
    D[, , tau] <- 2 * S
    Sres <- S
    # random-effect part: linear in gamma
    for (r in seq_len(ng)) {
      t <- gam$term[r]
      cd <- tcodes[[t]][rows]
      same <- outer(cd, cd, "==")
      xi <- tX[[t]][rows, gam$i[r]]
      xj <- tX[[t]][rows, gam$j[r]]
      Gr <- same * (if (gam$i[r] == gam$j[r]) tcrossprod(xi) else tcrossprod(xi, xj) + tcrossprod(xj, xi))
      D[, , r] <- Gr
      S <- S + gam$value[r] * Gr
    }
    Sinv <- chol2inv(chol(S))
    Xb <- X[rows, , drop = FALSE]
    SX <- Sinv %*% Xb
    e <- as.vector(Sinv %*% resid[rows])
    acc$XX <- acc$XX + crossprod(Xb, SX)
    Dm <- matrix(D, m, m * K)
    Kc <- matrix(aperm(array(crossprod(SX, Dm), c(p, m, K)), c(2L, 1L, 3L)), m, p * K)   # [D_i S^-1 X]
    De <- matrix(crossprod(e, Dm), m, K)                                                  # [D_i e]
    N <- Sinv %*% Dm                                                                      # [S^-1 D_i]
    Nmat <- matrix(N, m * m, K)
    acc$trSD <- acc$trSD + colSums(Nmat[diag(m) == 1, , drop = FALSE])
    acc$trNN <- acc$trNN + crossprod(Nmat, matrix(aperm(array(N, c(m, m, K)), c(2L, 1L, 3L)), m * m, K))
    acc$P <- acc$P - array(crossprod(SX, Kc), c(p, p, K))
    acc$Q <- acc$Q + aperm(array(crossprod(Kc, Sinv %*% Kc), c(p, K, p, K)), c(1L, 3L, 2L, 4L))
    acc$eDe <- acc$eDe + colSums(De * e)
    acc$eDSDe <- acc$eDSDe + crossprod(De, Sinv %*% De)
    acc$G <- acc$G + crossprod(SX, De)
    # Second derivatives: gamma enters linearly; (par, par) pairs of one group are
    # block diagonal by subject, so each subject adds (SX_s (x) SX_s)' vec(d2V_s);
    # (par, tau) is 2 D_par and (tau, tau) 4 times the residual part.
    for (sp in sub_pos) {
      gi <- ng + dV[[sp$g]]$index
      kg <- length(gi)
      d2 <- matrix(s2 * dV[[sp$g]]$d2[sp$v, sp$v, , , drop = FALSE], length(sp$v)^2, kg * kg)
      SXs <- SX[sp$pos, , drop = FALSE]
      es <- e[sp$pos]
      acc$R[, , gi, gi] <- acc$R[, , gi, gi, drop = FALSE] + array(crossprod(kronecker(SXs, SXs), d2), c(p, p, kg, kg))
      acc$trSD2[gi, gi] <- acc$trSD2[gi, gi] + matrix(crossprod(d2, as.vector(Sinv[sp$pos, sp$pos])), kg, kg)
      acc$eD2e[gi, gi] <- acc$eD2e[gi, gi] + matrix(crossprod(d2, as.vector(tcrossprod(es))), kg, kg)
    }
    for (i in setdiff(seq_len(K), seq_len(ng))) {
      Ri <- if (i == tau) 4 * crossprod(SX, Sres %*% SX) else 2 * crossprod(SX, Kc[, (i - 1L) * p + seq_len(p)])
      ti <- if (i == tau) 4 * sum(Sinv * Sres) else 2 * sum(diag(matrix(N[, (i - 1L) * m + seq_len(m)], m)))
      ei <- if (i == tau) 4 * sum(e * (Sres %*% e)) else 2 * sum(De[, i] * e)
      acc$R[, , i, tau] <- acc$R[, , i, tau] + Ri
      acc$trSD2[i, tau] <- acc$trSD2[i, tau] + ti
      acc$eD2e[i, tau] <- acc$eD2e[i, tau] + ei
      if (i != tau) {
        acc$R[, , tau, i] <- acc$R[, , tau, i] + Ri
        acc$trSD2[tau, i] <- acc$trSD2[tau, i] + ti
        acc$eD2e[tau, i] <- acc$eD2e[tau, i] + ei
      }
    }
  }
  acc
}

# Phi, the information, W and Phi_A from the sums.
kr_assemble <- function(acc, linear, information) {
  K <- length(acc$trSD)
  Phi <- chol2inv(chol(acc$XX))
  P <- lapply(seq_len(K), function(i) acc$P[, , i])
  PhiP <- lapply(P, function(Pi) Phi %*% Pi)
  H <- matrix(0, K, K)
  for (i in seq_len(K)) for (j in seq_len(i)) {
    Qij <- acc$Q[, , i, j]
    tPP <- sum(PhiP[[i]] * t(PhiP[[j]]))
    H[i, j] <- H[j, i] <- if (information == "expected") {
      acc$trNN[i, j] - 2 * sum(Phi * t(Qij)) + tPP
    } else {
      XXij <- Qij + t(Qij) - acc$R[, , i, j]
      acc$trSD2[i, j] - acc$trNN[i, j] + sum(Phi * XXij) - tPP +
        2 * (acc$eDSDe[i, j] - sum(acc$G[, i] * (Phi %*% acc$G[, j]))) - acc$eD2e[i, j]
    }
  }
  grad <- acc$trSD + vapply(PhiP, function(A) sum(diag(A)), numeric(1)) - acc$eDe
  ev <- eigen(H, symmetric = TRUE, only.values = TRUE)$values
  if (min(ev) <= 1e-10 * max(abs(ev)))
    stop(sprintf(paste("Kenward-Roger's method: the %s information of the covariance parameters is singular or not",
                       "positive definite (smallest eigenvalue %.3g); a variance at its boundary or an",
                       "over-parametrized structure"), information, min(ev)), call. = FALSE)
  W <- 2 * solve(H)
  U <- matrix(0, nrow(Phi), ncol(Phi))
  for (i in seq_len(K)) for (j in seq_len(K)) {
    if (W[i, j] == 0) next
    term <- acc$Q[, , i, j] - P[[i]] %*% PhiP[[j]]
    if (!linear) term <- term - acc$R[, , i, j] / 4
    U <- U + W[i, j] * term
  }
  PhiA <- Phi + 2 * Phi %*% U %*% Phi
  PhiA <- (PhiA + t(PhiA)) / 2
  list(Phi = Phi, PhiA = PhiA, P = P, W = W, gradient = grad, information = H)
}
