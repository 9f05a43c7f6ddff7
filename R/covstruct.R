# Residual covariance structures (MMRM): their parametrization.
#
# The covariance of a subject's residuals over the visits is sigma^2 V, with sigma^2
# profiled out of the criterion as for independent residuals, so V has a fixed
# scale: a correlation matrix for the homogeneous structures (ar1, cs, toep, ad),
# and for the heterogeneous ones and us a matrix whose first diagonal element is 1
# (sigma^2 is the variance at the first visit). Each structure maps unconstrained
# parameters to a positive definite V:
#   us    V = L L', L = D T: D diagonal with log entries, D[1, 1] = 1, T unit lower
#         triangular with free entries below the diagonal
#   sds   visit 1 has 1, the others exp(par) (the h forms)
#   ar1   rho^|i - j|, rho = par / sqrt(1 + par^2)
#   cs    rho off the diagonal, rho in (-1 / (m - 1), 1) by a logistic map
#   ad    corr(i, j) = prod of the adjacent correlations rho_i .. rho_(j-1)
#   toep  the correlation at each lag k in (-1, 1) (a parameter vector whose
#         Toeplitz matrix is not positive definite has an infinite criterion)
# Group-specific structures (`us(visit | arm / id)`) have one V per group; groups
# after the first also carry a log variance ratio to the first.
# These are mmrm's maps, up to an affine change of parameters (mmrm's log standard
# deviations are lemma's log sigma plus these log scales): Kenward-Roger's adjusted
# covariance uses second derivatives of the covariance in its parameters, which
# change under a non-affine reparametrization, so sharing the maps makes lemma's
# Kenward-Roger the one mmrm (and its SAS validation) computes.
# lmm(dispformula = ~ f) is the structure "diag": each row is its own subject whose
# one visit is its level of f, V = diag(1, exp(par)) over the levels (log variance
# ratios to the first level). It only scales rows, so any random-effect terms stay
# as they are (see R/dispformula.R).

covstruct_types <- c("us", "toep", "toeph", "ar1", "ar1h", "cs", "csh", "ad", "adh")

covstruct_labels <- c(us = "unstructured", toep = "Toeplitz", toeph = "heterogeneous Toeplitz",
                      ar1 = "AR(1)", ar1h = "heterogeneous AR(1)", cs = "compound symmetry",
                      csh = "heterogeneous compound symmetry", ad = "ante-dependence",
                      adh = "heterogeneous ante-dependence", diag = "variance per level")

# Number of parameters of one group's V over m visits.
covstruct_npar <- function(type, m) {
  het <- if (type %in% c("toeph", "ar1h", "csh", "adh")) m - 1L else 0L
  switch(type,
         diag = m - 1L,
         us = m * (m + 1L) / 2L - 1L,
         toep = , toeph = m - 1L + het,
         ar1 = , ar1h = 1L + het,
         cs = , csh = 1L + het,
         ad = , adh = m - 1L + het)
}

corr_map <- function(x) x / sqrt(1 + x^2)

# The correlation matrix of one structure (homogeneous part).
covstruct_corr <- function(type, par, m) {
  d <- abs(outer(seq_len(m), seq_len(m), "-"))
  switch(type,
         ar1 = , ar1h = corr_map(par[1L])^d,
         cs = , csh = {
           rho <- -1 / (m - 1) + m / (m - 1) * stats::plogis(par[1L])
           R <- matrix(rho, m, m)
           diag(R) <- 1
           R
         },
         ad = , adh = {
           r <- corr_map(par)
           R <- diag(m)
           for (i in seq_len(m - 1L)) for (j in (i + 1L):m) R[i, j] <- R[j, i] <- prod(r[i:(j - 1L)])
           R
         },
         toep = , toeph = matrix(c(1, corr_map(par))[d + 1L], m, m))
}

# The factor L = D T of us (see above): par fills the lower triangle column by
# column after D[1, 1], diagonal entries as log D.
us_factor <- function(par, m) {
  L <- matrix(0, m, m)
  L[lower.tri(L, diag = TRUE)] <- c(0, par)
  d <- exp(diag(L))
  diag(L) <- 1
  d * L
}

# V (fixed scale) of one group from its parameters.
covstruct_V1 <- function(type, par, m) {
  if (type == "us") return(tcrossprod(us_factor(par, m)))
  if (m == 1L) return(matrix(1, 1L, 1L))
  if (type == "diag") return(diag(c(1, exp(par)), m))
  het <- type %in% c("toeph", "ar1h", "csh", "adh")
  nh <- if (het) m - 1L else 0L
  R <- covstruct_corr(type, par[seq_len(length(par) - nh)], m)
  if (!het) return(R)
  s <- c(1, exp(par[length(par) - nh + seq_len(nh)]))
  R * tcrossprod(s)
}

# The V of every group from the structure's whole parameter vector.
covstruct_Vs <- function(spec, par) {
  lapply(seq_len(spec$ngroups), function(g) {
    pg <- par[spec$index[[g]]]
    k <- spec$npar
    V <- covstruct_V1(spec$type, pg[seq_len(k)], spec$m)
    if (g > 1L) V <- exp(pg[k + 1L]) * V
    V
  })
}

# The layout of a structure's parameters over its groups.
covstruct_spec <- function(type, m, groups) {
  k <- covstruct_npar(type, m)
  ng <- max(1L, length(groups))
  index <- list()
  at <- 0L
  for (g in seq_len(ng)) {
    len <- k + (g > 1L)
    index[[g]] <- at + seq_len(len)
    at <- at + len
  }
  list(type = type, m = m, npar = k, ngroups = ng, groups = groups, index = index, total = at)
}
