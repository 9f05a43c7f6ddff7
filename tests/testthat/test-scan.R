example_bed <- function() system.file("extdata", "example.bed", package = "lemma")
example_cov <- function()
  as.matrix(utils::read.table(system.file("extdata", "example_covariates.txt",
                                          package = "lemma")))
read_assoc <- function(file) utils::read.table(file, header = TRUE,
                                               stringsAsFactors = FALSE)

# agreement with GEMMA, strictly relative (1e-4) for every SNP. lmm_scan's
# default search for lambda repeats GEMMA's (including its stopping rule), so
# beta and p agree also where beta ~ 0 and p ~ 1. The one allowance is for
# GEMMA's output: p is printed to 7 significant digits, so where p ~ 1 the
# printed -log10 p carries an error of up to half a unit in the 7th digit of
# p divided by p log(10), which can exceed 1e-4 of -log10 p itself.
#
# For p_lrt near 1 there is a second limit, in both programs: the statistic
# 2 (logl_H1 - logl_H0) is a difference of two log-likelihoods of size |logl|,
# each a sum carrying a rounding error well below 1e-12 |logl|, and the
# derivative of p in the statistic s, dchisq(s, 1), grows without bound as
# s -> 0 (p -> 1). That propagated error is allowed for too.
print_error_log10p <- function(p) 0.5 * 10^(floor(log10(p)) - 6) / (p * log(10))
lrt_rounding_log10p <- function(p, logl_H0) {
  s <- stats::qchisq(p, 1, lower.tail = FALSE)
  stats::dchisq(s, 1) * 4e-12 * abs(logl_H0) / (p * log(10))
}
expect_gemma_agreement <- function(res, ref, tol = 1e-4) {
  expect_identical(res$snp, ref$rs)
  expect_identical(res$n_miss, as.integer(ref$n_miss))
  expect_lt(max(abs(res$af - ref$af)), 5e-4 + 1e-9)
  rel <- function(a, b) max(abs(a - b) / abs(b))
  expect_lt(rel(res$se, ref$se), tol)
  expect_lt(rel(res$l_remle, ref$l_remle), tol)
  expect_lt(rel(res$l_mle, ref$l_mle), tol)
  expect_lt(rel(res$logl_H1, ref$logl_H1), tol)
  expect_lt(rel(res$beta, ref$beta), tol)
  for (p in c("p_wald", "p_lrt", "p_score")) {
    a <- -log10(res[[p]]); b <- -log10(ref[[p]])
    allow <- tol * abs(b) + print_error_log10p(ref[[p]])
    if (p == "p_lrt") allow <- allow + lrt_rounding_log10p(ref[[p]], attr(res, "logl_H0"))
    excess <- abs(a - b) - allow
    expect_lt(max(excess), 0, label = paste("-log10", p, "beyond 1e-4 relative + print rounding"))
  }
}

# The statistician's criterion (issue 11) for a scan whose genotypes were
# rotated in single precision (precision = "mixed"), against a reference
# (GEMMA's output or the double-precision path): beta within 1e-4 of its
# standard error; se, l_remle and l_mle within 1e-4 relative; -log10 p within
# 1e-4 relative, or within the printed digits of p (7 significant) near p = 1.
expect_scan_criterion <- function(res, ref, tol = 1e-4) {
  expect_lt(max(abs(res$beta - ref$beta) / ref$se), tol)
  rel <- function(a, b) max(abs(a - b) / abs(b))
  expect_lt(rel(res$se, ref$se), tol)
  both <- intersect(names(res), names(ref))
  if ("l_remle" %in% both) expect_lt(rel(res$l_remle, ref$l_remle), tol)
  if ("l_mle" %in% both) expect_lt(rel(res$l_mle, ref$l_mle), tol)
  for (p in intersect(c("p_wald", "p_lrt", "p_score"), both)) {
    a <- -log10(res[[p]]); b <- -log10(ref[[p]])
    expect_lt(max(abs(a - b) - tol * abs(b) - print_error_log10p(ref[[p]])), 0,
              label = paste("-log10", p))
  }
}

scan_example <- function(K, covariates = TRUE, ...) {
  g <- read_plink(example_bed())
  X <- if (covariates) example_cov() else matrix(1, g$n, 1)
  null <- list(y = g$fam$pheno, X = X, K = K, ids = g$fam$iid)
  suppressMessages(lmm_scan(null, g, ...))
}

read_gemma_matrix <- function(file) {
  K <- unname(as.matrix(utils::read.table(file)))
  K
}

test_that("lmm_scan agrees with GEMMA -lmm 4 (stored output)", {
  g <- read_plink(example_bed())
  Kg <- read_gemma_matrix(gzfile(test_path("ref", "gemma", "example_gk1.cXX.txt.gz")))
  res <- scan_example(Kg, test = "all")
  expect_s3_class(res, "lemma_scan")
  expect_named(res, c("snp", "chr", "pos", "allele1", "allele0", "n_miss", "af",
                      "beta", "se", "logl_H1", "l_remle", "l_mle", "p_wald",
                      "p_lrt", "p_score"))
  expect_false(anyNA(res))
  ref <- read_assoc(test_path("ref", "gemma", "example_lmm4.assoc.txt"))
  expect_gemma_agreement(res, ref)
  # with lemma's own GRM (equal to GEMMA's to 1e-10) the same holds
  res2 <- scan_example(suppressMessages(grm(g)), test = "all")
  expect_gemma_agreement(res2, ref)
  # intercept only, standardized relatedness
  Kg2 <- read_gemma_matrix(gzfile(test_path("ref", "gemma", "example_gk2.sXX.txt.gz")))
  res3 <- scan_example(Kg2, covariates = FALSE, test = "all")
  expect_gemma_agreement(res3, read_assoc(test_path("ref", "gemma",
                                                    "example_lmm4_gk2.assoc.txt")))
})

test_that("lmm_scan agrees with a live GEMMA run", {
  gemma <- Sys.which("gemma")
  skip_if(gemma == "", "gemma not installed")
  d <- tempfile("gemma-lmm"); dir.create(d)
  pre <- sub("\\.bed$", "", example_bed())
  file.copy(c(paste0(pre, c(".bed", ".bim", ".fam")),
              system.file("extdata", "example_covariates.txt", package = "lemma")), d)
  owd <- setwd(d); on.exit(setwd(owd))
  s1 <- system2(gemma, c("-bfile", "example", "-gk", "1", "-o", "k"),
                stdout = FALSE, stderr = FALSE)
  s2 <- system2(gemma, c("-bfile", "example", "-k", "output/k.cXX.txt", "-c",
                         "example_covariates.txt", "-lmm", "4", "-o", "live"),
                stdout = FALSE, stderr = FALSE)
  skip_if(s1 != 0 || s2 != 0 || !file.exists("output/live.assoc.txt"),
          "gemma failed to run")
  res <- scan_example(read_gemma_matrix("output/k.cXX.txt"), test = "all")
  expect_gemma_agreement(res, read_assoc("output/live.assoc.txt"))
})

test_that("single tests, fixed lambda and their columns", {
  g <- read_plink(example_bed())
  K <- suppressMessages(grm(g))
  all <- scan_example(K, test = "all", snps = 1:300)
  w <- scan_example(K, test = "wald", snps = 1:300)
  l <- scan_example(K, test = "lrt", snps = 1:300)
  s <- scan_example(K, test = "score", snps = 1:300)
  expect_true(all(c("l_remle", "p_wald") %in% names(w)))
  expect_false(any(c("p_lrt", "p_score", "l_mle") %in% names(w)))
  expect_false(any(c("p_wald", "l_remle") %in% names(l)))
  expect_false(any(c("p_wald", "p_lrt", "l_remle", "l_mle") %in% names(s)))
  # each test's search is the same whether run alone or with the others
  expect_equal(w$p_wald, all$p_wald, tolerance = 1e-9)
  expect_equal(w$beta, all$beta, tolerance = 1e-9)
  expect_equal(l$p_lrt, all$p_lrt, tolerance = 1e-9)
  expect_equal(s$p_score, all$p_score, tolerance = 1e-12)
  fx <- scan_example(K, test = "all", method = "fixed", snps = 1:300)
  expect_true(all(fx$l_remle == attr(fx, "lambda_null_reml")))
  expect_true(all(fx$l_mle == attr(fx, "lambda_null_ml")))
  expect_identical(fx$p_score, all$p_score)
  # P3D is an approximation: close to, but not the same as, the exact test
  expect_gt(cor(-log10(fx$p_wald), -log10(all$p_wald)), 0.999)
  expect_gt(max(abs(fx$p_wald - all$p_wald)), 1e-6)
})

test_that("matrix genotypes, imputation, missing phenotypes and id matching", {
  g <- read_plink(example_bed())
  K <- suppressMessages(grm(g))
  X <- example_cov()
  null <- list(y = g$fam$pheno, X = X, K = K, ids = g$fam$iid)
  suppressMessages(expect_message(r1 <- lmm_scan(null, g, snps = 1:120),
                                  "8 individual\\(s\\) with missing"))
  G <- as.matrix(g, snps = 1:120)
  r2 <- suppressMessages(lmm_scan(null, G))
  cols <- c("n_miss", "af", "beta", "se", "l_remle", "p_wald")
  expect_equal(r2[cols], r1[cols], tolerance = 1e-12)
  # individuals matched by id: shuffled matrix rows give the same answer
  r3 <- suppressMessages(lmm_scan(null, G[sample(nrow(G)), ]))
  expect_equal(r3$p_wald, r1$p_wald, tolerance = 1e-10)
  # mean imputation over the analysed individuals, as GEMMA
  ok <- !is.na(g$fam$pheno)
  Gi <- G[ok, ]
  Gi <- apply(Gi, 2, function(x) { x[is.na(x)] <- mean(x, na.rm = TRUE); x })
  null_ok <- list(y = g$fam$pheno[ok], X = X[ok, ], K = K[ok, ok])
  r4 <- suppressMessages(lmm_scan(null_ok, Gi))
  # no ids anywhere: rows in the order of the null model's data
  Gn <- unname(G)
  null_noid <- list(y = g$fam$pheno, X = X, K = unname(K))
  r5 <- suppressMessages(lmm_scan(null_noid, Gn))
  expect_equal(r5$p_wald, r1$p_wald, tolerance = 1e-10)
  expect_error(suppressMessages(lmm_scan(null_noid, Gn[-1, ])), "no ids")
  expect_equal(r4$p_wald, r1$p_wald, tolerance = 1e-10)
  expect_identical(r4$n_miss, rep(0L, nrow(r4)))
  expect_error(suppressMessages(
    lmm_scan(list(y = g$fam$pheno, X = X, K = K, ids = paste0("x", 1:400)), g)),
    "not in the genotypes")
})

test_that("an lmm-like null fit is accepted", {
  g <- read_plink(example_bed())
  K <- suppressMessages(grm(g))
  ok <- !is.na(g$fam$pheno)
  fit <- structure(list(y = g$fam$pheno[ok], X = example_cov()[ok, ],
                        flist = list(id = factor(g$fam$iid[ok])),
                        relmat = list(id = K), REML = TRUE), class = "lemma_fit")
  r1 <- suppressMessages(lmm_scan(fit, g, snps = 1:100))
  r2 <- suppressMessages(lmm_scan(list(y = g$fam$pheno, X = example_cov(), K = K),
                                  g, snps = 1:100))
  expect_equal(r1$p_wald, r2$p_wald, tolerance = 1e-12)
  fit2 <- fit; fit2$relmat <- list(id = K, other = K)
  expect_error(lmm_scan(fit2, g), "exactly one relationship-matrix term")
  fit3 <- fit; fit3$flist$batch <- factor(rep(1:2, length.out = sum(ok)))
  expect_error(lmm_scan(fit3, g), "only random-effect term")
  # a spectral null fit (with its decomposition) works too
  sf <- lemma:::spectral_fit(g$fam$pheno[ok], example_cov()[ok, ], K[ok, ok],
                             center = TRUE)
  r3 <- suppressMessages(lmm_scan(sf, g, snps = 1:100))
  expect_equal(r3$p_wald, r2$p_wald, tolerance = 1e-10)
})

test_that("filtered SNPs are reported, never NaN", {
  g <- read_plink(example_bed())
  K <- suppressMessages(grm(g))
  ok <- !is.na(g$fam$pheno)
  X <- example_cov()[ok, ]
  G <- as.matrix(g, snps = 1:50, individuals = which(ok))
  G[, 1] <- X[, 2]            # identical to a covariate (sex): r2 = 1
  G[, 2] <- 1                 # monomorphic
  G[1:30, 3] <- NA            # 7.7% missing
  null <- list(y = g$fam$pheno[ok], X = X, K = K[ok, ok])
  expect_message(res <- lmm_scan(null, G, test = "all"),
                 "3 SNP\\(s\\) not tested.*1 missingness.*1 fewer than two genotype classes.*1 r2")
  expect_equal(nrow(res), 47L)
  expect_false(anyNA(res[c("beta", "se", "p_wald", "p_lrt", "p_score")]))
  # without the r2 filter, the collinear SNP cannot be fitted: it is kept with
  # NA statistics and a warning that names it, never a silent NaN row
  expect_warning(res2 <- suppressMessages(lmm_scan(null, G, test = "all", r2 = 2)),
                 "1 SNP\\(s\\) where the variance-ratio search failed.*rs1")
  expect_equal(nrow(res2), 48L)
  expect_true(all(is.na(res2[res2$snp == "rs1", c("beta", "se", "p_wald", "p_lrt", "p_score")])))
  expect_false(any(is.nan(as.matrix(res2[c("beta", "se", "p_wald", "p_lrt", "p_score")]))))
  expect_false(anyNA(res2[res2$snp != "rs1", c("beta", "se", "p_wald", "p_lrt", "p_score")]))
})

test_that("bad scan arguments get named errors", {
  g <- read_plink(example_bed())
  null <- list(y = g$fam$pheno, X = example_cov(), K = suppressMessages(grm(g)),
               ids = g$fam$iid)
  expect_error(suppressMessages(lmm_scan(null, g, threads = 0)),
               "lmm_scan\\(\\): 'threads' must be a single finite whole number >= 1")
  expect_error(suppressMessages(lmm_scan(null, g, threads = "two")),
               "'threads' must be a single finite whole number")
  expect_error(suppressMessages(lmm_scan(null, g, lambda_search = "brent")),
               "'lambda_search' = \"brent\" is not one of")
})

test_that("results do not depend on the future plan", {
  skip_if_not_installed("future")
  skip_on_cran()
  skip_if(!nzchar(system.file(package = "lemma", lib.loc = .libPaths())),
          "lemma is not installed for the workers")
  g <- read_plink(example_bed())
  K <- suppressMessages(grm(g))
  null <- list(y = g$fam$pheno, X = example_cov(), K = K, ids = g$fam$iid)
  oplan <- future::plan(future::sequential)
  on.exit(future::plan(oplan))
  a <- suppressMessages(lmm_scan(null, g, test = "all", chunk_size = 250,
                                 threads = 1))
  a2 <- suppressMessages(lmm_scan(null, g, test = "all", chunk_size = 250,
                                  threads = 2))
  expect_identical(a, a2)
  future::plan(future::multisession, workers = 2)
  b <- suppressMessages(lmm_scan(null, g, test = "all", chunk_size = 250))
  expect_identical(a, b)
  # and chunking does not change the answer beyond rounding: of doubles in
  # the double-precision path; within the criterion in the mixed one, whose
  # single-precision product rounds by the block a SNP is rotated in
  future::plan(future::sequential)
  d1 <- suppressMessages(lmm_scan(null, g, test = "all", chunk_size = 250,
                                  precision = "double"))
  c1 <- suppressMessages(lmm_scan(null, g, test = "all", chunk_size = 2000,
                                  precision = "double"))
  expect_equal(c1$p_wald, d1$p_wald, tolerance = 1e-10)
  m1 <- suppressMessages(lmm_scan(null, g, test = "all", chunk_size = 250,
                                  precision = "mixed"))
  m2 <- suppressMessages(lmm_scan(null, g, test = "all", chunk_size = 2000,
                                  precision = "mixed"))
  expect_scan_criterion(m2, m1)
})

test_that("ignoring relatedness inflates the statistics; the LMM does not", {
  g <- read_plink(example_bed())
  ok <- !is.na(g$fam$pheno)
  X <- example_cov()[ok, ]
  y <- g$fam$pheno[ok]
  G <- as.matrix(g, individuals = which(ok))
  G <- G[, colMeans(is.na(G)) <= 0.05 & colMeans(G, na.rm = TRUE) / 2 >= 0.01 &
           colMeans(G, na.rm = TRUE) / 2 <= 0.99]
  p_lm <- apply(G, 2, function(x) {
    x[is.na(x)] <- mean(x, na.rm = TRUE)
    fit <- lm.fit(cbind(X, x), y)
    rss1 <- sum(fit$residuals^2)
    rss0 <- sum(lm.fit(X, y)$residuals^2)
    df <- length(y) - ncol(X) - 1
    pf((rss0 - rss1) / (rss1 / df), 1, df, lower.tail = FALSE)
  })
  K <- suppressMessages(grm(g))
  res <- scan_example(K, test = "wald")
  lam_lm <- inflation_factor(p_lm)
  lam_lmm <- inflation_factor(res$p_wald)
  expect_gt(lam_lm, 1.5)
  expect_lt(abs(lam_lmm - 1), 0.1)
})

test_that("inflation_factor and plots", {
  set.seed(11)
  expect_equal(inflation_factor(runif(2e4)), 1, tolerance = 0.03)
  p <- pchisq(1.5 * rchisq(2e4, 1), 1, lower.tail = FALSE)
  expect_equal(inflation_factor(p), 1.5, tolerance = 0.03)
  expect_equal(inflation_factor(c(0.5, NA)), qchisq(0.5, 1, lower.tail = FALSE) /
                 qchisq(0.5, 1))
  expect_error(inflation_factor(2), "\\[0, 1\\]")
  g <- read_plink(example_bed())
  res <- scan_example(suppressMessages(grm(g)), snps = 1:200)
  pdf(NULL)
  on.exit(dev.off())
  expect_invisible(plot(res))
  expect_identical(plot(res, type = "qq", test = "wald"), res)
  expect_error(plot(res, test = "lrt"), "no p-value column")
})

test_that("lambda_search = 'exact' finds a better optimum than GEMMA's search", {
  g <- read_plink(example_bed())
  Kg <- read_gemma_matrix(gzfile(test_path("ref", "gemma", "example_gk1.cXX.txt.gz")))
  res <- scan_example(Kg, test = "wald", lambda_search = "exact")
  res_g <- scan_example(Kg, test = "wald")
  # GEMMA's rule keeps the Newton iterate before a step below 1e-5 (relative);
  # with quadratic convergence its error is that step's size
  expect_lt(max(abs(res_g$l_remle - res$l_remle) / res$l_remle), 1.1e-5)
  expect_gt(max(abs(res_g$l_remle - res$l_remle) / res$l_remle), 1e-7)
  ref <- read_assoc(test_path("ref", "gemma", "example_lmm4.assoc.txt"))
  ok <- !is.na(g$fam$pheno)
  y <- g$fam$pheno[ok]
  K <- Kg[ok, ok]
  rm <- rowMeans(K)
  Kc <- K - outer(rm, rm, "+") + mean(K)     # GEMMA double-centres K
  e <- eigen(Kc, symmetric = TRUE)
  reml <- function(lam, Z) {                  # dense-free but independent: REML
    h <- 1 / (1 + lam * pmax(e$values, 0))    # in the eigenbasis, plain R
    Zs <- crossprod(e$vectors, Z); ys <- drop(crossprod(e$vectors, y))
    A <- crossprod(Zs, h * Zs); b <- solve(A, crossprod(Zs, h * ys))
    r <- ys - Zs %*% b
    df <- length(y) - ncol(Z)
    -0.5 * (sum(log(1 + lam * pmax(e$values, 0))) +
              as.numeric(determinant(A)$modulus) + df * log(sum(h * r^2)))
  }
  worst <- order(-abs(res$l_remle - ref$l_remle) / ref$l_remle)[1:3]
  for (j in worst) {
    x <- as.matrix(g, snps = ref$rs[j])[ok, 1]
    x[is.na(x)] <- mean(x, na.rm = TRUE)
    Z <- cbind(example_cov()[ok, ], x)
    d1 <- function(lam, h = 1e-4) (reml(lam * exp(h), Z) - reml(lam * exp(-h), Z)) / (2 * h)
    expect_lt(abs(d1(res$l_remle[j])), abs(d1(ref$l_remle[j])) / 10)
  }
})

test_that("Eigen and BLAS products give the same scan and GRM", {
  g <- read_plink(example_bed())
  old <- options(lemma.use_blas = FALSE)
  on.exit(options(old))
  K_e <- suppressMessages(grm(g))
  r_e <- scan_example(K_e, test = "all", snps = 1:300, precision = "double")
  m_e <- scan_example(K_e, test = "all", snps = 1:300, precision = "mixed")
  options(lemma.use_blas = TRUE)
  K_b <- suppressMessages(grm(g))
  r_b <- scan_example(K_b, test = "all", snps = 1:300, precision = "double")
  m_b <- scan_example(K_b, test = "all", snps = 1:300, precision = "mixed")
  expect_equal(K_e, K_b, tolerance = 1e-12)
  for (v in c("beta", "se", "l_remle", "l_mle", "p_wald", "p_lrt", "p_score"))
    expect_equal(r_e[[v]], r_b[[v]], tolerance = 1e-9)
  # the single-precision products of Eigen and the BLAS round differently
  expect_scan_criterion(m_e, r_e)
  expect_scan_criterion(m_b, r_b)
})

test_that("a scan on an lmm() null fit reuses the fit's eigendecomposition", {
  g <- read_plink(example_bed())
  cv <- example_cov()
  ok <- !is.na(g$fam$pheno)
  # the GRM of the analysed individuals: its rows sum to zero, so GEMMA's
  # double-centring changes nothing and the fit's decomposition is the scan's
  K <- suppressMessages(grm(as.matrix(g, individuals = which(ok))))
  d <- data.frame(id = g$fam$iid, y = g$fam$pheno, x1 = cv[, 2], x2 = cv[, 3])[ok, ]
  d <- d[c(seq(2, nrow(d), 2), seq(1, nrow(d), 2)), ]  # levels not in file order
  calls <- new.env()
  calls$n <- 0
  n_eig <- function() calls$n
  suppressMessages(trace(".sym_eigen", function() calls$n <- calls$n + 1, print = FALSE,
                         where = asNamespace("lemma")))
  on.exit(suppressMessages(untrace(".sym_eigen", where = asNamespace("lemma"))))
  fit <- lmm(y ~ x1 + x2 + (1 | id), d, relmat = list(id = K))
  expect_false(is.null(fit$spectral))
  expect_identical(n_eig(), 1)   # the relationship factor's decomposition, reused
  r_fit <- suppressMessages(lmm_scan(fit, g, test = "all", snps = 1:300,
                                     precision = "double"))
  expect_identical(n_eig(), 1)   # no second decomposition
  r_K <- suppressMessages(lmm_scan(list(y = g$fam$pheno[ok], X = cv[ok, ], K = K,
                                        ids = g$fam$iid[ok]), g, test = "all",
                                   snps = 1:300, precision = "double"))
  expect_identical(n_eig(), 2)
  # same model, individuals in another order: equal to rounding (the GEMMA
  # search's stopping rule is discrete, hence 1e-8 rather than 1e-12)
  for (v in c("beta", "se", "l_remle", "l_mle", "p_wald", "p_lrt", "p_score"))
    expect_equal(r_fit[[v]], r_K[[v]], tolerance = 1e-8, label = v)
  expect_equal(attr(r_fit, "lambda_null_reml"), fit$theta[[1]]^2, tolerance = 1e-4)
  # a K whose rows do not sum to zero is centred and decomposed again, as GEMMA
  Kr <- K + 0.1
  fit2 <- lmm(y ~ x1 + x2 + (1 | id), d, relmat = list(id = Kr))
  n0 <- n_eig()
  r2 <- suppressMessages(lmm_scan(fit2, g, test = "wald", snps = 1:50,
                                  precision = "double"))
  expect_identical(n_eig(), n0 + 1)
  # another decomposition of the same centred K: equal to rounding
  expect_equal(r2$p_wald, r_K$p_wald[1:50], tolerance = 1e-8)
})

test_that("the single-precision rotation meets the statistician's criterion", {
  g <- read_plink(example_bed())
  K <- suppressMessages(grm(g))
  mixed <- scan_example(K, test = "all")  # the default
  dbl <- scan_example(K, test = "all", precision = "double")
  # against the double-precision path and against GEMMA
  expect_scan_criterion(mixed, dbl)
  expect_scan_criterion(mixed, read_assoc(test_path("ref", "gemma", "example_lmm4.assoc.txt")))
  # the float product is in use: results differ from the double path's beyond
  # double rounding (a relative 1e-12), by about 1e-7 of the standard error
  dt <- abs(mixed$beta - dbl$beta) / dbl$se
  expect_gt(max(dt), 1e-12)
  expect_lt(max(dt), 1e-5)
  # a SNP is kept from the float pass only when its measured error moves t by
  # at most 1e-4 min(1, |t| / 2) / kFloatSafety at the null lambdas, so also
  # the SNPs with p near 1 (t near 0) agree with the double path's well inside
  # the criterion: -log10 p within 1e-5 relative
  for (p in c("p_wald", "p_lrt", "p_score")) {
    a <- -log10(mixed[[p]]); b <- -log10(dbl[[p]])
    expect_lt(max(abs(a - b) / b), 1e-5, label = p)
  }
  expect_error(scan_example(K, precision = "single"), "'precision'")
})

test_that("the single-precision pass redoes in double the SNPs it cannot trust", {
  # a relationship matrix with a large eigenvalue spread and a phenotype
  # without covariates: null lambda at the upper end, where the weights
  # 1 / (1 + lambda d) amplify the rotation's rounding in x'Py
  set.seed(11)
  n <- 300; m <- 400
  G <- matrix(rbinom(n * m, 2, 0.3), n, m)
  rownames(G) <- paste0("i", seq_len(n))
  K <- suppressMessages(grm(G))
  y <- rnorm(n)
  null <- list(y = y, X = matrix(1, n, 1), K = K)
  mixed <- suppressMessages(lmm_scan(null, G, test = "all"))
  dbl <- suppressMessages(lmm_scan(null, G, test = "all", precision = "double"))
  expect_gt(attr(mixed, "n_double"), 0)
  expect_lt(attr(mixed, "n_double"), nrow(mixed) / 4)
  expect_identical(attr(dbl, "n_double"), nrow(dbl))
  expect_scan_criterion(mixed, dbl, tol = 1e-5)
  # the SNPs redone in double have the double path's numbers
  redone <- which(abs(mixed$beta - dbl$beta) <= 1e-12 * dbl$se)
  expect_gte(length(redone), attr(mixed, "n_double"))
})

test_that("the AVX-512 and the BLAS float rotations both meet the criterion", {
  # LEMMA_SIMD=avx2 (read once per session, hence a fresh R process) turns the
  # AVX-512 kernels off: the float rotation and the double cross-products then
  # go through R's BLAS (or Eigen's baseline product), the likelihood sums
  # through the AVX2 build. Each float path measures its own rounding error
  # per SNP, so both must meet the criterion against the double path, and so
  # agree with each other.
  skip_on_cran()
  skip_if_not_installed("callr")
  skip_if_not(isTRUE(lemma:::.simd_info()$avx512_gemm),
              "this CPU or build has no AVX-512 float product")
  scan_in <- function(simd) {
    callr::r(function(bed, cov) {
      suppressPackageStartupMessages(library(lemma))
      g <- read_plink(bed)
      K <- suppressMessages(grm(g))
      X <- as.matrix(utils::read.table(cov))
      null <- list(y = g$fam$pheno, X = X, K = K, ids = g$fam$iid)
      list(info = lemma:::.simd_info(),
           res = suppressMessages(lmm_scan(null, g, test = "all")))
    }, args = list(example_bed(), system.file("extdata", "example_covariates.txt",
                                              package = "lemma")),
    env = c(callr::rcmd_safe_env(), LEMMA_SIMD = simd))
  }
  wide <- scan_in("avx512")
  narrow <- scan_in("avx2")
  expect_true(wide$info$avx512_gemm)
  expect_false(narrow$info$avx512_gemm)
  expect_identical(narrow$info$env, "avx2")
  expect_identical(narrow$info$level, "avx2")
  expect_identical(wide$info$level, "avx512")
  K <- suppressMessages(grm(read_plink(example_bed())))
  dbl <- scan_example(K, test = "all", precision = "double")
  expect_scan_criterion(wide$res, dbl)
  expect_scan_criterion(narrow$res, dbl)
  expect_scan_criterion(wide$res, narrow$res)
  # two different float products: beyond double rounding apart, by about
  # 1e-7 of the standard error
  dt <- abs(wide$res$beta - narrow$res$beta) / dbl$se
  expect_gt(max(dt), 1e-12)
  expect_lt(max(dt), 1e-5)
})

test_that("an unknown LEMMA_SIMD is an error naming it", {
  skip_on_cran()
  skip_if_not_installed("callr")
  e <- callr::r(function(bed) {
    suppressPackageStartupMessages(library(lemma))
    g <- read_plink(bed)
    tryCatch({
      null <- list(y = g$fam$pheno, X = matrix(1, g$n, 1), K = suppressMessages(grm(g)),
                   ids = g$fam$iid)
      suppressMessages(lmm_scan(null, g, snps = 1:20))
      "no error"
    }, error = conditionMessage)
  }, args = list(example_bed()), env = c(callr::rcmd_safe_env(), LEMMA_SIMD = "sse9"))
  expect_match(e, "LEMMA_SIMD is ['\"]sse9['\"]")
})

test_that("the series for the SNP-free sums reproduce the direct sums", {
  # the per-SNP searches take the sums of the pairs without the SNP from
  # Chebyshev series in log(lambda) (FixedSums in src/scan.cpp);
  # LEMMA_FIXED_SUMS=0 makes them sum over the individuals instead
  g <- read_plink(example_bed())
  K <- suppressMessages(grm(g))
  series <- scan_example(K, test = "all", precision = "double")
  old <- Sys.getenv("LEMMA_FIXED_SUMS", unset = NA)
  Sys.setenv(LEMMA_FIXED_SUMS = "0")
  on.exit(if (is.na(old)) Sys.unsetenv("LEMMA_FIXED_SUMS") else Sys.setenv(LEMMA_FIXED_SUMS = old))
  direct <- scan_example(K, test = "all", precision = "double")
  # equal to the rounding of sums over n ~ 400 terms (the GEMMA search's
  # discrete stopping rule can amplify it near p = 1, hence 1e-8 for p)
  for (v in c("beta", "se", "l_remle", "l_mle"))
    expect_equal(series[[v]], direct[[v]], tolerance = 1e-9, label = v)
  for (v in c("p_wald", "p_lrt", "p_score"))
    expect_equal(series[[v]], direct[[v]], tolerance = 1e-8, label = v)
  expect_false(identical(series$l_remle, direct$l_remle))
})
