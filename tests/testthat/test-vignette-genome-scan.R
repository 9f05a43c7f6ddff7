## vignettes/genome-scan.Rmd: the GRM, the naive and PC-adjusted regressions and the
## mixed-model Wald test, against the hand formula for the GRM, lm(), and a direct
## REML fit of each tested SNP's model written from the formula.

# REML Wald test of the last column of X in y = X b + g + e, g ~ N(0, lambda s2 K),
# e ~ N(0, s2 I) (GEMMA's -lmm 1), written from the textbook REML criterion with
# K = U diag(d) U' (R's eigen(), not lemma's), searched over log(lambda) in ten
# regions of [1e-5, 1e5] by optimize().
reml_wald_eigen <- function(y, X, K) {
  n <- length(y); p <- ncol(X)
  e <- eigen(K, symmetric = TRUE)
  yr <- drop(crossprod(e$vectors, y)); Xr <- crossprod(e$vectors, X)
  parts <- function(loglam) {
    w <- 1 / (exp(loglam) * e$values + 1)          # V = U diag(lambda d + 1) U'
    XtX <- crossprod(Xr, w * Xr)
    b <- solve(XtX, crossprod(Xr, w * yr))
    ypy <- sum(w * (yr - Xr %*% b)^2)
    list(crit = -sum(log(w)) + determinant(XtX)$modulus + (n - p) * log(ypy),
         b = b, s2 = ypy / (n - p), XtX = XtX)
  }
  grid <- seq(log(1e-5), log(1e5), length.out = 11)
  best <- NULL
  for (k in 1:10) {
    o <- optimize(function(l) parts(l)$crit, grid[k:(k + 1)], tol = 1e-10)
    if (is.null(best) || o$objective < best$objective) best <- o
  }
  f <- parts(best$minimum)
  se <- sqrt(f$s2 * solve(f$XtX)[p, p])
  c(lambda = exp(best$minimum), beta = f$b[p], se = se,
    p = pf((f$b[p] / se)^2, 1, n - p, lower.tail = FALSE))
}

test_that("the genome-scan vignette's numbers agree with lm(), the GRM formula and a REML fit by formula", {
  v <- run_vignette("genome-scan.Rmd")
  G <- v$G; y <- v$pheno$y; sex <- v$pheno$sex
  expect_identical(dim(G), c(400L, 3000L))

  # GRM by hand: column-centred dosages of the SNPs passing the filters, W W' / m
  af <- colMeans(G) / 2
  keep <- af >= 0.01 & af <= 0.99 & apply(G, 2, function(g) length(unique(g)) > 1)
  W <- scale(G[, keep], scale = FALSE)
  expect_equal(c(v$K), c(tcrossprod(W) / sum(keep)), tolerance = 1e-10)

  # naive and PC-adjusted regressions against lm(), on a sample of SNPs
  snps <- c(v$causal, "rs0001", "rs1234", "rs2999")
  for (s in snps) {
    a <- summary(lm(y ~ sex + G[, s]))$coefficients[3, ]
    b <- summary(lm(y ~ sex + v$pcs + G[, s]))$coefficients[13, ]
    expect_equal(v$naive[s, "beta"], a[["Estimate"]], tolerance = 1e-10)
    expect_equal(v$naive[s, "p"], a[["Pr(>|t|)"]], tolerance = 1e-8)
    expect_equal(v$pc_adj[s, "beta"], b[["Estimate"]], tolerance = 1e-10)
    expect_equal(v$pc_adj[s, "p"], b[["Pr(>|t|)"]], tolerance = 1e-8)
  }
  # the principal components separate the two populations
  expect_gt(abs(cor(v$pcs[, 1], v$pop)), 0.95)

  # the mixed-model Wald test against a REML fit per SNP written from the formula. GEMMA's search stops
  # within ~1e-5 (relative) of the REML lambda; beta, se and p move less than that.
  K <- unname(v$K)
  for (s in snps) {
    ref <- reml_wald_eigen(y, cbind(1, sex, G[, s]), K)
    r <- v$scan[v$scan$snp == s, ]
    expect_equal(r$l_remle, ref[["lambda"]], tolerance = 1e-4)
    expect_equal(r$beta, ref[["beta"]], tolerance = 1e-5)
    expect_equal(r$se, ref[["se"]], tolerance = 1e-5)
    expect_equal(r$p_wald, ref[["p"]], tolerance = 1e-4)
  }

  # the vignette's conclusions, from the checked p-values by the hand formula
  gc <- function(p) median(qchisq(p, 1, lower.tail = FALSE)) / qchisq(0.5, 1)
  expect_gt(gc(v$naive$p), 3)
  expect_gt(gc(v$pc_adj$p), 1.2)
  expect_lt(gc(v$pc_adj$p), gc(v$naive$p))
  expect_lt(abs(gc(v$scan$p_wald) - 1), 0.1)
  # the top SNP is the strongest causal one; the subset keeps the genome-wide lambda_GC
  expect_identical(v$top$snp[1], "rs0300")
  expect_equal(attr(v$top, "lambda_gc")[["wald"]], gc(v$scan$p_wald), tolerance = 1e-12)
})
