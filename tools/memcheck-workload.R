# A workload that calls every C++ entry point of lemma at least once, for the
# memory checkers: tools/valgrind.sh and tools/sanitizers.sh run it under
# valgrind and under an AddressSanitizer/UBSan build. It can also be run alone:
#
#   Rscript tools/memcheck-workload.R            # uses the installed lemma
#   R_LIBS=/path/to/lib Rscript tools/memcheck-workload.R
#
# It is kept small (a few minutes under valgrind): each model is fitted on a
# small data set; what matters is that each code path runs, not the numbers.
# It stops with an error if a call that must fail does not, and prints
# "MEMCHECK WORKLOAD DONE" as its last line when every step ran, so the
# wrapper scripts can tell a finished run from an aborted one.

suppressPackageStartupMessages(library(lemma))
options(lemma.threads = 1L, warn = 1)  # one thread: the machine is shared, and
                                       # valgrind serializes threads anyway
if (requireNamespace("future", quietly = TRUE)) future::plan("sequential")

t_start <- proc.time()[["elapsed"]]
step <- function(what) cat(sprintf("[%6.1fs] %s\n", proc.time()[["elapsed"]] - t_start, what))

# A call that must raise an R error (not crash, not succeed) whose message
# matches `pattern`.
must_fail <- function(expr, pattern) {
  msg <- tryCatch({ force(expr); NULL }, error = function(e) conditionMessage(e))
  if (is.null(msg)) stop("expected an error matching '", pattern, "' but the call succeeded")
  if (!grepl(pattern, msg)) stop("expected an error matching '", pattern, "', got: ", msg)
  invisible(msg)
}
quiet <- function(expr) suppressWarnings(suppressMessages(expr))

set.seed(20261202)

# ---- fits of every formula kind -------------------------------------------
step("fits: scalar, vector, ||, crossed, nested")
ss <- sleepstudy[sleepstudy$Subject %in% levels(sleepstudy$Subject)[1:10], ]
ss$Subject <- droplevels(ss$Subject)
f_scalar <- lmm(Reaction ~ Days + (1 | Subject), ss)
f_vector <- lmm(Reaction ~ Days + (Days | Subject), ss)
f_vector_ml <- lmm(Reaction ~ Days + (Days | Subject), ss, REML = FALSE)
f_diag <- lmm(Reaction ~ Days + (Days || Subject), ss)
f_crossed <- lmm(diameter ~ 1 + (1 | plate) + (1 | sample), Penicillin)
f_nested <- lmm(strength ~ 1 + (1 | batch/cask), Pastes)

step("fits: interaction grouping, three terms, weights, offset")
n <- 96
d <- data.frame(g = factor(rep(1:8, each = 12)), h = factor(rep(1:6, 16)),
                k = factor(rep(1:3, 32)), x = rnorm(n), z = rnorm(n),
                w = runif(n) + 0.5, off = rnorm(n, sd = 0.1))
d$y <- 1 + d$x + rnorm(8)[d$g] + rnorm(6, sd = 0.5)[d$h] + rnorm(n)
f_inter <- lmm(y ~ x + (1 | g:k), d)
f_three <- quiet(lmm(y ~ x + (x + z | g) + (x | h) + (1 | k), d))
f_weights <- lmm(y ~ x + (1 | g) + (0 + x | h), d, weights = w)
f_offset <- lmm(y ~ x + offset(off) + (1 | g), d)
f_offset2 <- lmm(y ~ x + (1 | g), d, offset = off, REML = FALSE)

step("fits: relmat general (vector term, several obs per level) and spectral")
ids <- paste0("i", 1:12)
A <- matrix(rnorm(144), 12)
K12 <- tcrossprod(A) / 12 + diag(12) * 0.1
dimnames(K12) <- list(ids, ids)
dr <- data.frame(id = factor(rep(ids, each = 3)), x = rnorm(36), b = factor(rep(1:4, 9)))
dr$y <- dr$x + rnorm(36)
f_relmat <- quiet(lmm(y ~ x + (x | id) + (1 | b), dr, relmat = list(id = K12)))
Gs <- matrix(rbinom(60 * 30, 2, 0.3), 60)
Zs <- scale(Gs)
Ks <- tcrossprod(Zs) / 30  # singular, as a GRM is
sid <- paste0("s", 1:60)
dimnames(Ks) <- list(sid, sid)
dsp <- data.frame(id = sid, x = rnorm(60))
dsp$y <- 1 + 0.5 * dsp$x + drop(Zs %*% rnorm(30, sd = 0.15)) + rnorm(60)
f_spec <- lmm(y ~ x + (1 | id), dsp, relmat = list(id = Ks))
f_spec_ml <- lmm(y ~ x + (1 | id), dsp, relmat = list(id = Ks), REML = FALSE)
stopifnot(!is.null(f_spec$spectral))

# ---- inference --------------------------------------------------------------
step("summary (Satterthwaite, Kenward-Roger), anova, contest, vcov_kr")
fits <- list(f_scalar, f_vector, f_diag, f_crossed, f_nested, f_three, f_weights,
             f_offset, f_relmat)
for (f in fits) {
  s1 <- summary(f)
  s2 <- quiet(summary(f, ddf = "Kenward-Roger"))
}
invisible(summary(f_spec))
invisible(anova(f_vector))
invisible(anova(f_three, ddf = "Kenward-Roger"))
invisible(quiet(anova(f_scalar, f_vector)))  # refits with ML
invisible(contest(f_vector, rbind(c(0, 1))))
invisible(vcov_kr(f_weights))
invisible(fixef_table(f_relmat))

step("predict (se.fit, new levels), simulate, refit, refitML")
nd <- data.frame(Days = c(0, 5), Subject = c(levels(ss$Subject)[1], "new"))
invisible(predict(f_vector, nd, allow.new.levels = TRUE, se.fit = TRUE))
invisible(predict(f_three, se.fit = TRUE))
invisible(predict(f_relmat, interval = "confidence"))
sims <- simulate(f_vector, nsim = 2, seed = 1)
invisible(refit(f_vector, sims[[1]]))
invisible(refit(f_weights, simulate(f_weights, seed = 2)[[1]]))
invisible(refitML(f_crossed))

step("ranef(condVar), VarCorr, influence measures")
for (f in c(fits, list(f_spec))) invisible(as.data.frame(ranef(f, condVar = TRUE)))
invisible(as.data.frame(VarCorr(f_three)))
invisible(hatvalues(f_scalar))
invisible(cooks.distance(f_scalar))

step("confint: profile, Wald, small parametric bootstrap")
invisible(quiet(confint(f_scalar, method = "profile")))
invisible(quiet(confint(f_vector, method = "Wald")))
invisible(quiet(confint(f_scalar, method = "boot", nsim = 5, seed = 3)))

step("a saved and reloaded fit rebuilds its C++ model")
tmp <- tempfile(fileext = ".rds")
saveRDS(f_three, tmp)
f_back <- readRDS(tmp)
invisible(as.data.frame(ranef(f_back, condVar = TRUE)))
invisible(summary(f_back))

# ---- genetics ----------------------------------------------------------------
step("read_plink, as.matrix, grm (PLINK and matrix, both methods)")
bed <- system.file("extdata", "example.bed", package = "lemma")
g <- read_plink(bed)
G <- as.matrix(g, snps = 1:300, individuals = 1:120)
invisible(as.matrix(g, snps = c("rs10", "rs1"), individuals = c(3, 1, 2)))
snps <- 1:300
K_bed <- quiet(grm(g, snps = snps))
K_std <- quiet(grm(g, method = "standardized", snps = snps, chunk_size = 64L))
K_mat <- quiet(grm(G))
Gd <- G; Gd[!is.na(Gd)] <- Gd[!is.na(Gd)] + runif(sum(!is.na(Gd)), -0.1, 0.1)
K_dose <- quiet(grm(Gd))  # non-integer dosages: the double-precision path

step("lmm_scan: wald, lrt, score, all; exact and fixed; PLINK and matrix")
# 120 of the 400 individuals (matched by IID through the dimnames of K): the
# eigendecomposition of K dominates the time under valgrind
ok <- which(!is.na(g$fam$pheno))[1:120]
Ksub <- K_bed[ok, ok]
cov <- as.matrix(utils::read.table(system.file("extdata", "example_covariates.txt",
                                               package = "lemma")))[ok, ]
null <- list(y = g$fam$pheno[ok], X = cbind(1, sex = g$fam$sex[ok]), K = Ksub)
scan_snps <- 1:60
for (tst in c("wald", "lrt", "score", "all"))
  invisible(quiet(lmm_scan(null, g, test = tst, snps = scan_snps, threads = 1L)))
invisible(quiet(lmm_scan(null, g, test = "all", method = "fixed", snps = scan_snps,
                         threads = 1L, lambda_search = "exact", chunk_size = 25L)))
Gscan <- as.matrix(g, snps = scan_snps, individuals = ok)
invisible(quiet(lmm_scan(null, Gscan, test = "all", threads = 1L)))
nullcov <- list(y = g$fam$pheno[ok], X = cov, K = Ksub)
invisible(quiet(lmm_scan(nullcov, g, test = "wald", snps = scan_snps, threads = 1L)))
# a null fit from lmm() on the spectral path, and a spectral_fit() object
dg <- data.frame(id = g$fam$iid[ok], y = g$fam$pheno[ok], sex = g$fam$sex[ok])
f_gen <- lmm(y ~ sex + (1 | id), dg, relmat = list(id = Ksub))
stopifnot(!is.null(f_gen$spectral))
invisible(quiet(lmm_scan(f_gen, g, test = "all", snps = scan_snps, threads = 1L)))
sf <- lemma:::spectral_fit(null$y, null$X, Ksub, center = TRUE)
invisible(quiet(lmm_scan(sf, g, test = "score", snps = scan_snps, threads = 1L)))

step("internal entry points: dense factor, block kinds, kernels")
for (f in list(f_vector, f_crossed, f_nested, f_three, f_relmat)) {
  p <- lemma:::model_ptr(f)
  invisible(lemma:::.model_block_kinds(p))
  invisible(lemma:::.model_dense_factor(p, f$theta))
}
blk <- function(M, kind, p = 1L, pc = 1L) list(M = M, kind = kind, p = as.integer(p), pc = as.integer(pc))
kern <- function(op, blocks, args = list()) invisible(lemma:::.kernel_test(op, blocks, args))
D <- diag(runif(6) + 1)
B <- kronecker(diag(3), crossprod(matrix(rnorm(4), 2)) + diag(2))
S <- matrix(0, 6, 4); S[cbind(1:4, 1:4)] <- rnorm(4)
M <- crossprod(matrix(rnorm(36), 6)) + diag(6)
L <- t(chol(M))
kern("scale_inflate", list(blk(D, "diagonal"), blk(D, "diagonal")),
     list(lr = matrix(0.7), lc = matrix(0.7), inflate = TRUE))
kern("scale_inflate", list(blk(B * 0, "dense"), blk(B, "blockdiag", 2)),
     list(lr = diag(2), lc = diag(2), inflate = TRUE))
kern("scale_inflate", list(blk(S, "sparse"), blk(S, "sparse")),
     list(lr = matrix(0.5), lc = matrix(0.5), inflate = FALSE))
kern("rank_update", list(blk(M, "dense"), blk(S, "sparse"), blk(S, "sparse")), list(diagonal = FALSE))
kern("cholesky", list(blk(B, "blockdiag", 2)))
kern("cholesky", list(blk(M, "dense")))
kern("rdiv_lower_t", list(blk(S, "sparse"), blk(D, "diagonal")))
kern("rdiv_lower_t", list(blk(M, "dense"), blk(L, "dense")))
kern("solve_lower", list(blk(L, "dense")), list(x = matrix(rnorm(12), 6), transpose = TRUE))
kern("mult_sub", list(blk(S, "sparse")), list(x = matrix(rnorm(8), 4), y = matrix(rnorm(12), 6),
                                             transpose = FALSE))
kern("logdet2", list(blk(L, "dense")))

# ---- C++ error paths: bad inputs must give R errors -------------------------
step("C++ error paths")
fr <- lmm_frame(Reaction ~ Days + (Days | Subject), ss)
ptr <- lemma:::new_model_ptr(fr)
must_fail(lemma:::.model_objective(ptr, c(1, 0), TRUE), "theta has the wrong length")
must_fail(lemma:::.model_solution(ptr, numeric(0), TRUE), "theta has the wrong length")
must_fail(lemma:::.model_with_response(ptr, fr$X[-1, ], fr$y[-1]), "does not match")
bad_terms <- list(list(codes = c(1L, 2L, 99L), X = matrix(1, 3, 1), nlev = 2L, relchol = NULL))
must_fail(lemma:::.model_new(bad_terms, matrix(1, 3, 1), rnorm(3)), "grouping code")
bad_terms[[1]]$codes <- c(1L, 2L, 1L)
must_fail(lemma:::.model_new(bad_terms, matrix(1, 4, 1), rnorm(4)), "number of rows")
bad_terms[[1]]$relchol <- diag(3)
must_fail(lemma:::.model_new(bad_terms, matrix(1, 3, 1), rnorm(3)), "relationship factor")
must_fail(lemma:::.model_objective(NULL, 1, TRUE), "external pointer")
must_fail(lemma:::.kernel_test("cholesky", list(list(M = -diag(3), kind = "dense", p = 1L, pc = 1L)),
                               list()), "not positive definite")
must_fail(lemma:::.kernel_test("nope", list(), list()), "unknown kernel")
must_fail(lemma:::.sym_eigen(matrix(1, 2, 3)), "not square")
must_fail(lemma:::.sym_eigen(matrix(c(1, 2, 0, 1), 2), FALSE, 1e-8), "not symmetric")
must_fail(lemma:::.bed_read(g$bed, g$n, g$m, 0L, 1L), "out of range")
must_fail(lemma:::.bed_read(g$bed, g$n, g$m, 1L, g$n + 1L), "out of range")
must_fail(lemma:::.bed_read(g$bed, g$n + 1L, g$m, 1L, 1L), "bytes; expected")
must_fail(lemma:::.bed_check(tempfile(), 1L, 1L), "cannot open")
must_fail(lemma:::.grm_bed(g$bed, g$n, g$m, g$m + 1L, 1L, FALSE, 0.01, 0.05, 8L, FALSE), "out of range")
must_fail(lemma:::.spectral_null(c(1, 1, 1), matrix(0, 3, 1), c(1, 2, 3), TRUE, 1e-5, 1e5, 10L),
          "singular")
must_fail(lemma:::.spectral_null(c(1, 1, 1), matrix(1, 2, 1), c(1, 2, 3), TRUE, 1e-5, 1e5, 10L),
          "dimensions")
must_fail(quiet(lmm_scan(list(y = null$y, X = cbind(1, matrix(rnorm(120 * 38), 120)), K = Ksub),
                         g, snps = 1:5, threads = 1L)), "too many covariates")
# user-level bad inputs that reach C++ or guard it
must_fail(lmm(Reaction ~ Days + (Days | Subject), ss[1:6, ]), "single level")
Kneg <- -diag(8); dimnames(Kneg) <- list(levels(d$g), levels(d$g))
must_fail(lmm(y ~ x + (1 | g), d, relmat = list(g = Kneg)), "positive semi-definite")
must_fail(read_plink(tempfile()), "not found")
must_fail(grm(matrix("a", 2, 2)), "genotypes")
must_fail(quiet(lmm_scan(null, Gscan[-1, ])), "not in the genotypes")

step("done")
cat(sprintf("memcheck workload: %.1f s\n", proc.time()[["elapsed"]] - t_start))
cat("MEMCHECK WORKLOAD DONE\n")
