## sim-dropout.R -- a simulated two-arm trial with monotone dropout, missing at
## random: 300 subjects, 6 visits, an unstructured residual covariance with
## variances growing over the visits, and a subject who drops out after visit j
## with a probability that rises as the visit-j value falls (so dropout depends
## on the last observed value only). Sourced by make-ref-mmrm.R, which stores the
## data as dropout_data.rds.
simulate_dropout_trial <- function(seed = 20261202, nsub = 300, nvis = 6) {
  set.seed(seed)
  visits <- paste0("V", seq_len(nvis))
  arm <- factor(rep(c("PBO", "TRT"), length.out = nsub), levels = c("PBO", "TRT"))
  base <- round(rnorm(nsub, 50, 8), 1)
  sds <- seq(6, 9, length.out = nvis)
  R <- 0.35 + 0.6 * 0.75^abs(outer(seq_len(nvis), seq_len(nvis), "-"))
  diag(R) <- 1
  Sigma <- R * tcrossprod(sds)
  mu_pbo <- -1.0 * seq_len(nvis)
  effect <- 0.8 * seq_len(nvis)
  e <- matrix(rnorm(nsub * nvis), nsub) %*% chol(Sigma)
  y <- outer(rep(1, nsub), mu_pbo) + outer(arm == "TRT", effect) + 0.5 * (base - 50) + e
  # dropout after visit j (j = 1 .. nvis - 1): logit P = -3 - 0.12 (y_j - mean of y_j)
  last <- rep(nvis, nsub)
  for (j in seq_len(nvis - 1L)) {
    at_risk <- last == nvis
    p <- stats::plogis(-3 - 0.12 * (y[, j] - mean(y[, j])))
    drop <- at_risk & stats::runif(nsub) < p
    last[drop] <- j
  }
  d <- data.frame(USUBJID = factor(rep(sprintf("S%03d", seq_len(nsub)), each = nvis)),
                  AVISIT = factor(rep(visits, nsub), levels = visits),
                  ARM = rep(arm, each = nvis), BASE = rep(base, each = nvis),
                  CHG = round(as.numeric(t(y)), 3))
  d$CHG[rep(seq_len(nvis), nsub) > rep(last, each = nvis)] <- NA
  d
}
