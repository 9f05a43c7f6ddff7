# The whole blocked factor and the objective against a dense computation: Z formed
# explicitly in R, the augmented matrix [Z Lambda, X, y]'[Z Lambda, X, y] + diag(I, 0)
# factored by chol(), and the profiled criteria from their textbook formulas.

dense_reference <- function(fit_frame, theta) {
  rt <- fit_frame$reterms
  Zl <- do.call(cbind, lapply(rt$terms, function(t) {
    p <- length(t$cnms)
    Z <- matrix(0, length(t$factor), t$nlev * p)
    codes <- as.integer(t$factor)
    for (a in seq_len(p)) Z[cbind(seq_along(codes), (codes - 1) * p + a)] <- t$X[, a]
    lam <- lemma:::theta_to_lambda(theta[t$theta_index], p)
    C <- if (is.null(t$relchol)) diag(t$nlev) else t$relchol
    Z %*% kronecker(C, lam)
  }))
  sw <- sqrt(fit_frame$weights)
  M <- cbind(Zl, fit_frame$X, fit_frame$y - fit_frame$offset) * sw
  Om <- crossprod(M)
  q <- ncol(Zl)
  diag(Om)[seq_len(q)] <- diag(Om)[seq_len(q)] + 1
  L <- unname(t(chol(Om)))
  n <- length(fit_frame$y)
  p <- ncol(fit_frame$X)
  r2 <- L[nrow(L), nrow(L)]^2
  ldL2 <- 2 * sum(log(diag(L)[seq_len(q)]))
  ldRX2 <- 2 * sum(log(diag(L)[q + seq_len(p)]))
  logw <- sum(log(fit_frame$weights))
  list(L = L, reml = ldL2 + ldRX2 + (n - p) * (1 + log(2 * pi * r2 / (n - p))) - logw,
       ml = ldL2 + n * (1 + log(2 * pi * r2 / n)) - logw)
}

check_model <- function(formula, data, theta = NULL, relmat = NULL, weights = NULL) {
  fr <- if (is.null(weights)) lmm_frame(formula, data, relmat = relmat) else {
    data$.w <- weights
    lmm_frame(formula, data, weights = .w, relmat = relmat)
  }
  if (is.null(theta)) theta <- fr$reterms$theta + seq_along(fr$reterms$theta) / 10
  ref <- dense_reference(fr, theta)
  ptr <- lemma:::new_model_ptr(fr)
  got <- lemma:::.model_dense_factor(ptr, theta)
  expect_equal(got, ref$L, tolerance = 1e-10, label = paste("blocked factor of", deparse1(formula)))
  expect_equal(lmm_devfun(fr, REML = TRUE)(theta), ref$reml, tolerance = 1e-12)
  expect_equal(lmm_devfun(fr, REML = FALSE)(theta), ref$ml, tolerance = 1e-12)
  invisible(lemma:::.model_block_kinds(ptr))
}

test_that("blocked factor equals the dense Cholesky factor across block layouts", {
  # kinds: 0 Diagonal, 1 BlockDiagonal, 2 Sparse, 3 Dense
  expect_equal(check_model(Reaction ~ Days + (1 | Subject), sleepstudy)[1], 0L)
  expect_equal(check_model(Reaction ~ Days + (Days | Subject), sleepstudy)[1], 1L)
  check_model(Reaction ~ Days + (Days || Subject), sleepstudy)
  kinds <- check_model(diameter ~ 1 + (1 | plate) + (1 | sample), Penicillin)
  expect_equal(kinds, c(0L, 2L, 3L, 3L, 3L, 3L))          # crossed: second block fills in
  kinds <- check_model(strength ~ 1 + (1 | batch/cask), Pastes)
  expect_equal(kinds[1:3], c(0L, 2L, 0L))                 # nested: stays diagonal
  set.seed(7)
  d <- data.frame(g = factor(sample(1:8, 120, TRUE)), h = factor(sample(1:5, 120, TRUE)),
                  k = factor(sample(1:3, 120, TRUE)), x = rnorm(120), z = rnorm(120))
  d$y <- d$x + rnorm(8)[d$g] + rnorm(120)
  check_model(y ~ x + (x + z | g) + (x | h) + (1 | k), d)
  check_model(y ~ x + (1 | g) + (0 + x | h), d, weights = runif(120) + 0.5)
})

test_that("a relationship matrix enters as Lambda = C (x) lambda", {
  set.seed(8)
  ids <- paste0("i", 1:12)
  A <- matrix(rnorm(144), 12)
  K <- tcrossprod(A) / 12 + diag(12) * 0.1
  dimnames(K) <- list(ids, ids)
  d <- data.frame(id = factor(rep(ids, each = 3)), x = rnorm(36), b = factor(rep(1:4, 9)))
  d$y <- d$x + rnorm(36)
  check_model(y ~ x + (1 | id), d, relmat = list(id = K))
  check_model(y ~ x + (x | id) + (1 | b), d, relmat = list(id = K))
  # singular K (a zero eigenvalue, as a GRM has) is accepted
  Ks <- K - min(eigen(K)$values) * diag(12)
  check_model(y ~ x + (1 | id), d, relmat = list(id = Ks))
})
