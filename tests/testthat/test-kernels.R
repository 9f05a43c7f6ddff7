# Each block kernel, for each storage kind it supports, against the same quantity
# computed densely in R. Tolerances: these are a few floating-point operations on
# well-conditioned matrices, so 1e-12 relative is ample.

kernel <- function(op, blocks, args = list()) lemma:::.kernel_test(op, blocks, args)
blk <- function(M, kind, p = 1L, pc = 1L) list(M = M, kind = kind, p = as.integer(p), pc = as.integer(pc))

# A block-diagonal matrix with nlev p x p SPD blocks.
rand_blockdiag <- function(nlev, p) {
  M <- matrix(0, nlev * p, nlev * p)
  for (k in seq_len(nlev)) {
    A <- matrix(rnorm(p * p), p)
    idx <- (k - 1) * p + seq_len(p)
    M[idx, idx] <- crossprod(A) + diag(p)
  }
  M
}
# A sparse matrix made of whole p x pc blocks, about half of them present.
rand_blocksparse <- function(nr, nc, p, pc) {
  M <- matrix(0, nr * p, nc * pc)
  for (i in seq_len(nr)) for (j in seq_len(nc)) if (runif(1) < 0.5)
    M[(i - 1) * p + seq_len(p), (j - 1) * pc + seq_len(pc)] <- rnorm(p * pc)
  M
}
kron_lambda <- function(nlev, lam) kronecker(diag(nlev), lam)
rand_lower <- function(p) { l <- matrix(rnorm(p * p), p); l[upper.tri(l)] <- 0; diag(l) <- abs(diag(l)) + 0.5; l }

test_that("scale_inflate: Lambda' A Lambda + I for diagonal, block-diagonal and dense A", {
  set.seed(1)
  lam1 <- matrix(0.7)
  D <- diag(runif(6) + 1)
  expect_equal(kernel("scale_inflate", list(blk(D, "diagonal"), blk(D, "diagonal")),
                      list(lr = lam1, lc = lam1, inflate = TRUE)),
               0.49 * D + diag(6), tolerance = 1e-12)
  # diagonal A into a dense L (fill-in)
  expect_equal(kernel("scale_inflate", list(blk(matrix(0, 6, 6), "dense"), blk(D, "diagonal")),
                      list(lr = lam1, lc = lam1, inflate = TRUE)),
               0.49 * D + diag(6), tolerance = 1e-12)
  for (p in 2:3) {
    lam <- rand_lower(p)
    A <- rand_blockdiag(4, p)
    Lam <- kron_lambda(4, lam)
    want <- t(Lam) %*% A %*% Lam + diag(4 * p)
    expect_equal(kernel("scale_inflate", list(blk(A, "blockdiag", p), blk(A, "blockdiag", p)),
                        list(lr = lam, lc = lam, inflate = TRUE)), want, tolerance = 1e-12)
    expect_equal(kernel("scale_inflate", list(blk(A * 0, "dense"), blk(A, "blockdiag", p)),
                        list(lr = lam, lc = lam, inflate = TRUE)), want, tolerance = 1e-12)
    Ad <- crossprod(matrix(rnorm(16 * p * p), 4 * p))
    expect_equal(kernel("scale_inflate", list(blk(Ad, "dense"), blk(Ad, "dense")),
                        list(lr = lam, lc = lam, inflate = TRUE)),
                 t(Lam) %*% Ad %*% Lam + diag(4 * p), tolerance = 1e-12)
  }
})

test_that("scale_inflate: off-diagonal Lambda_r' A Lambda_c for sparse and dense blocks", {
  set.seed(2)
  for (pp in list(c(1, 1), c(2, 1), c(1, 3), c(2, 2))) {
    p <- pp[1]; pc <- pp[2]
    lr <- rand_lower(p); lc <- rand_lower(pc)
    A <- rand_blocksparse(5, 7, p, pc)
    want <- t(kron_lambda(5, lr)) %*% A %*% kron_lambda(7, lc)
    expect_equal(kernel("scale_inflate", list(blk(A, "sparse", p, pc), blk(A, "sparse", p, pc)),
                        list(lr = lr, lc = lc, inflate = FALSE)), want, tolerance = 1e-12)
    expect_equal(kernel("scale_inflate", list(blk(A, "dense"), blk(A, "dense")),
                        list(lr = lr, lc = lc, inflate = FALSE)), want, tolerance = 1e-12)
    # the [X y] row: no Lambda on the left
    Xr <- matrix(rnorm(3 * 7 * pc), 3)
    expect_equal(kernel("scale_inflate", list(blk(Xr, "dense"), blk(Xr, "dense")),
                        list(lr = NULL, lc = lc, inflate = FALSE)), Xr %*% kron_lambda(7, lc),
                 tolerance = 1e-12)
  }
})

test_that("rank_update: C -= A B' for every source/target kind", {
  set.seed(3)
  S1 <- rand_blocksparse(6, 9, 1, 1)
  S2 <- rand_blocksparse(4, 9, 2, 1)
  D1 <- matrix(rnorm(6 * 9), 6)
  D2 <- matrix(rnorm(8 * 9), 8)
  C0 <- matrix(rnorm(6 * 8), 6)
  for (src in list(list(S1, "sparse", 1), list(D1, "dense", 1))) {
    for (src2 in list(list(S2, "sparse", 2), list(D2, "dense", 1))) {
      got <- kernel("rank_update", list(blk(C0, "dense"), blk(src[[1]], src[[2]], src[[3]], 1),
                                        blk(src2[[1]], src2[[2]], src2[[3]], 1)), list(diagonal = FALSE))
      expect_equal(got, C0 - src[[1]] %*% t(src2[[1]]), tolerance = 1e-12,
                   label = paste("C -= A B'", src[[2]], src2[[2]]))
    }
  }
  # diagonal target: only the lower triangle is kept exact
  Cd <- crossprod(matrix(rnorm(36), 6)) + 10 * diag(6)
  for (src in list(list(S1, "sparse"), list(D1, "dense"))) {
    got <- kernel("rank_update", list(blk(Cd, "dense"), blk(src[[1]], src[[2]])), list(diagonal = TRUE))
    want <- Cd - tcrossprod(src[[1]])
    expect_equal(got[lower.tri(got, diag = TRUE)], want[lower.tri(want, diag = TRUE)], tolerance = 1e-12)
  }
  # a (block) diagonal target stays so when each column of the source touches one level
  Snest <- matrix(0, 4, 10)
  Snest[cbind(rep(1:4, length.out = 10), 1:10)] <- rnorm(10)
  Dg <- diag(runif(4) + 5)
  expect_equal(kernel("rank_update", list(blk(Dg, "diagonal"), blk(Snest, "sparse")), list(diagonal = TRUE)),
               Dg - tcrossprod(Snest), tolerance = 1e-12)
  Snest2 <- matrix(0, 6, 10)
  for (j in 1:10) { lev <- (j %% 3); Snest2[lev * 2 + 1:2, j] <- rnorm(2) }
  Bd <- rand_blockdiag(3, 2) + 5 * diag(6)
  expect_equal(kernel("rank_update", list(blk(Bd, "blockdiag", 2), blk(Snest2, "sparse", 2)), list(diagonal = TRUE)),
               Bd - tcrossprod(Snest2), tolerance = 1e-12)
})

test_that("cholesky: diagonal, block-diagonal and dense (both code paths)", {
  set.seed(4)
  D <- diag(runif(5) + 1)
  expect_equal(kernel("cholesky", list(blk(D, "diagonal"))), sqrt(D), tolerance = 1e-12)
  B <- rand_blockdiag(5, 3)
  expect_equal(kernel("cholesky", list(blk(B, "blockdiag", 3))), t(chol(B)), tolerance = 1e-12)
  for (n in c(7, 150, 700)) {  # below and above the sizes where the AVX2 and threaded paths start
    M <- crossprod(matrix(rnorm(n * n), n)) + diag(n)
    expect_equal(kernel("cholesky", list(blk(M, "dense"))), t(chol(M)), tolerance = 1e-10)
    expect_equal(kernel("cholesky", list(blk(M, "dense")), list(threads = 2L)), t(chol(M)), tolerance = 1e-10)
  }
  expect_error(kernel("cholesky", list(blk(diag(c(1, -1)), "dense"))), "not positive definite")
})

test_that("rdiv_lower_t: B L^{-T} for diagonal, block-diagonal and dense L", {
  set.seed(5)
  Ld <- diag(runif(6) + 1)
  S <- rand_blocksparse(4, 6, 1, 1)
  expect_equal(kernel("rdiv_lower_t", list(blk(S, "sparse"), blk(Ld, "diagonal"))), S %*% solve(t(Ld)),
               tolerance = 1e-12)
  Lb <- t(chol(rand_blockdiag(3, 2)))
  S2 <- rand_blocksparse(4, 3, 1, 2)
  expect_equal(kernel("rdiv_lower_t", list(blk(S2, "sparse", 1, 2), blk(Lb, "blockdiag", 2))),
               S2 %*% solve(t(Lb)), tolerance = 1e-12)
  Dn <- matrix(rnorm(4 * 6), 4)
  expect_equal(kernel("rdiv_lower_t", list(blk(Dn, "dense"), blk(Lb, "blockdiag", 2))), Dn %*% solve(t(Lb)),
               tolerance = 1e-12)
  for (n in c(6, 100)) {
    L <- t(chol(crossprod(matrix(rnorm(n * n), n)) + diag(n)))
    B <- matrix(rnorm(5 * n), 5)
    expect_equal(kernel("rdiv_lower_t", list(blk(B, "dense"), blk(L, "dense"))), B %*% solve(t(L)),
                 tolerance = 1e-10)
  }
})

test_that("solve_lower and mult_sub against dense solves and products", {
  set.seed(6)
  x <- matrix(rnorm(12), 6)
  for (L in list(list(diag(runif(6) + 1), "diagonal", 1), list(t(chol(rand_blockdiag(3, 2))), "blockdiag", 2),
                 list(t(chol(crossprod(matrix(rnorm(36), 6)) + diag(6))), "dense", 1))) {
    expect_equal(kernel("solve_lower", list(blk(L[[1]], L[[2]], L[[3]])), list(x = x, transpose = FALSE)),
                 solve(L[[1]], x), tolerance = 1e-12)
    expect_equal(kernel("solve_lower", list(blk(L[[1]], L[[2]], L[[3]])), list(x = x, transpose = TRUE)),
                 solve(t(L[[1]]), x), tolerance = 1e-12)
    expect_equal(kernel("logdet2", list(blk(L[[1]], L[[2]], L[[3]])))[1, 1],
                 2 * sum(log(diag(L[[1]]))), tolerance = 1e-12)
  }
  S <- rand_blocksparse(4, 6, 1, 1)
  y <- matrix(rnorm(8), 4)
  expect_equal(kernel("mult_sub", list(blk(S, "sparse")), list(x = x, y = y, transpose = FALSE)), y - S %*% x,
               tolerance = 1e-12)
  expect_equal(kernel("mult_sub", list(blk(S, "sparse")), list(x = y, y = x, transpose = TRUE)), x - t(S) %*% y,
               tolerance = 1e-12)
  expect_equal(kernel("mult_sub", list(blk(S, "dense")), list(x = x, y = y, transpose = FALSE)), y - S %*% x,
               tolerance = 1e-12)
})
