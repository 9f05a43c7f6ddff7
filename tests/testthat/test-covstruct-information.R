## The pieces of Fisher scoring for MMRM fits (R/fit-covstruct.R): the expected
## information of the GLS criterion in V's entries (C++ gls_information) against its
## definition, tr(P E_ab P E_cd) - tr(P E_ab) tr(P E_cd) / nmp, computed with dense
## n x n matrices; the Jacobian of the us map against central differences; and the
## optimum Fisher scoring reaches against mmrm's.

fev_small <- function() {
  d <- load_ref("fev_data.rds")
  d <- d[!is.na(d$FEV1) & as.integer(d$USUBJID) <= 40L, ]
  droplevels(d)
}

dense_information <- function(fr, V, reml) {
  ix <- fr$cs_index
  X <- fr$X[fr$ord, , drop = FALSE]
  vis <- ix$visit + 1L
  subj <- rep(seq_len(ix$nsubj), diff(ix$start))
  grp <- ix$pattern_group[ix$pattern[subj] + 1L] + 1L
  n <- nrow(X)
  m <- nrow(V[[1]])
  Sig <- matrix(0, n, n)
  same <- outer(subj, subj, "==")
  Sig[same] <- vapply(which(same), function(q) {
    i <- (q - 1L) %% n + 1L
    j <- (q - 1L) %/% n + 1L
    V[[grp[i]]][vis[i], vis[j]]
  }, numeric(1))
  Si <- solve(Sig)
  P <- if (reml) Si - Si %*% X %*% solve(crossprod(X, Si %*% X), crossprod(X, Si)) else Si
  ng <- length(V)
  E <- function(k) {
    g <- (k - 1L) %/% (m * m) + 1L
    a <- (k - 1L) %% (m * m) %% m + 1L
    b <- (k - 1L) %% (m * m) %/% m + 1L
    (same & outer(vis == a & grp == g, vis == b & grp == g)) * 1
  }
  PE <- lapply(seq_len(ng * m * m), function(k) P %*% E(k))
  tr <- vapply(PE, function(A) sum(diag(A)), numeric(1))
  F <- outer(seq_along(PE), seq_along(PE), Vectorize(function(k, l) sum(PE[[k]] * t(PE[[l]]))))
  F - tcrossprod(tr) / if (reml) n - ncol(X) else n
}

test_that("the expected information in V's entries is tr(P E P E) profiled over sigma^2", {
  ns <- asNamespace("lemma")
  d <- fev_small()
  for (group in c(FALSE, TRUE)) for (reml in c(TRUE, FALSE)) {
    f <- FEV1 ~ ARMCD * AVISIT + us(AVISIT | USUBJID)
    if (group) f <- FEV1 ~ ARMCD * AVISIT + us(AVISIT | ARMCD / USUBJID)
    mc <- call("lmm", formula = f, data = d)
    fr <- ns$covstruct_frame(mc, environment())
    dv <- ns$covstruct_devfun(fr, reml)
    env <- environment(dv)
    set.seed(1)
    par <- rnorm(env$spec$total, sd = 0.3)
    V <- ns$covstruct_Vs(env$spec, par)
    got <- ns$.covstruct_gls_grad(env$ptr, V, env$spec$m, reml, 0, TRUE)$F
    want <- dense_information(fr, V, reml)
    expect_equal(got, want, tolerance = 1e-10, label = sprintf("group %s REML %s", group, reml))
  }
})

test_that("the Jacobian of the us map agrees with central differences", {
  ns <- asNamespace("lemma")
  spec <- ns$covstruct_spec("us", 4L, c("a", "b"))
  set.seed(2)
  par <- rnorm(spec$total, sd = 0.4)
  fd <- vapply(seq_along(par), function(k) {
    e <- replace(numeric(length(par)), k, 1e-6)
    (unlist(ns$covstruct_Vs(spec, par + e)) - unlist(ns$covstruct_Vs(spec, par - e))) / 2e-6
  }, numeric(2 * 16))
  expect_equal(ns$covstruct_jacobian(spec, par), fd, tolerance = 1e-8)
})

test_that("Fisher scoring reaches mmrm's optimum on sparse visits, from its own start", {
  ## 110 subjects, most with one or two of four visits: the expected information is
  ## far from the observed Hessian here, the case that switches to Newton steps.
  skip_if_not_installed("mmrm")
  set.seed(3)
  d <- expand.grid(visit = factor(paste0("V", 1:4)), id = factor(1:120))
  d$arm <- factor(ifelse(as.integer(d$id) %% 2 == 0, "TRT", "PBO"))
  S <- 0.6^abs(outer(1:4, 1:4, "-")) * tcrossprod(seq(1, 1.6, length.out = 4))
  d$y <- as.numeric(t(chol(S)) %*% matrix(rnorm(120 * 4), 4)) + 0.3 * (d$arm == "TRT")
  d <- droplevels(d[-sample(nrow(d), 250), ])
  f <- y ~ arm * visit + us(visit | id)
  fit <- lmm(f, d)
  ref <- mmrm::mmrm(f, d)
  expect_true(fit$optinfo$converged)
  expect_gte(as.numeric(logLik(fit)), as.numeric(logLik(ref)) - 1e-8)
  expect_equal(as.numeric(logLik(fit)), as.numeric(logLik(ref)), tolerance = 1e-6)
  expect_equal(unname(fixef(fit)), unname(coef(ref)), tolerance = 1e-4)
  expect_equal(unname(fit$covstruct$Sigma$all), unname(mmrm::VarCorr(ref)), tolerance = 1e-3)
})
