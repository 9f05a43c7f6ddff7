## How the cost of one MMRM evaluation grows with subjects n_s and visits m (the
## table in the header of R/fit-covstruct.R): us on y ~ base + arm * visit (p =
## 2 m + 1 fixed effects, k = m (m + 1) / 2 - 1 covariance parameters), 9.4% of
## visits missing at random. Per setting: the C++ criterion and gradient, the same
## with the expected information, one whole evaluation as the optimizer sees it
## (R side included), medians of `reps` batches of 10 calls; then lmm() (median of 3) and its
## iterations. Run from the package source:
##   R_LIBS=<lib with lemma> Rscript inst/bench/bench-mmrm-scaling.R [reps]
suppressPackageStartupMessages(library(lemma))
reps <- as.integer(commandArgs(TRUE)[1]); if (is.na(reps)) reps <- 6L
ns <- asNamespace("lemma")
sim <- function(nsub, m, seed = 42) {
  set.seed(seed)
  d <- expand.grid(visit = factor(paste0("V", 1:m)), id = factor(1:nsub))
  d$arm <- factor(ifelse(as.integer(d$id) %% 2 == 0, "TRT", "PBO"))
  d$base <- rnorm(nsub)[d$id]
  S <- 0.7^abs(outer(1:m, 1:m, "-")) * tcrossprod(seq(1, 2, length.out = m))
  d$y <- as.numeric(t(chol(S)) %*% matrix(rnorm(nsub * m), m)) + 0.3 * d$base +
    0.2 * (d$arm == "TRT") * as.integer(d$visit)
  d[-sample(nrow(d), round(0.094 * nrow(d))), ]
}
el <- function(expr) { t0 <- proc.time()[["elapsed"]]; force(expr); proc.time()[["elapsed"]] - t0 }
one <- function(nsub, m) {
  d <- sim(nsub, m)
  mc <- quote(lmm(formula = y ~ base + arm * visit + us(visit | id), data = d))
  fr <- ns$covstruct_frame(mc, environment())
  env <- environment(ns$covstruct_devfun(fr, TRUE))
  x0 <- ns$covstruct_start(fr, env$spec)
  V <- ns$covstruct_Vs(env$spec, x0)
  # a call takes about a millisecond, the clock's resolution: batches of 10 calls
  med <- function(f) 100 * stats::median(vapply(seq_len(reps), function(r) el(for (i in 1:10) f()), numeric(1)))
  tg <- med(function() ns$.covstruct_gls_grad(env$ptr, V, m, TRUE, 0, FALSE))
  tc <- med(function() ns$.covstruct_gls_grad(env$ptr, V, m, TRUE, 0, TRUE))
  ti <- med(function() env$information(x0))
  fit <- NULL
  tf <- stats::median(vapply(1:3, function(r) el(fit <<- lmm(y ~ base + arm * visit + us(visit | id), d)), numeric(1)))
  cat(sprintf("%5d %2d %3d %3d %7d   %6.2f ms   %6.2f ms   %6.2f ms   %6.3f s   %s\n", nsub, m, ncol(fr$X),
              env$spec$total, nrow(fr$X), tg, tc, ti, tf, fit$optinfo$message))
}
cat("  n_s  m   p   k    rows   crit+grad   +information   evaluation   lmm()   optimizer\n")
for (m in c(4L, 8L)) for (nsub in c(500L, 2000L)) one(nsub, m)
