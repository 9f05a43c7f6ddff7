# Times lemma against GEMMA on the same simulated PLINK fileset, in one run:
#   lemma: read_plink() + grm() + eigendecomposition + null model (REML/ML
#          fit) + lmm_scan(test = "all", method = "exact"), sequential future
#          plan with the scan's threads on all cores (threads=N to change)
#   GEMMA: -gk 1 (centered relatedness) + -lmm 4 (Wald, LRT, score)
# and checks that the two agree.
#
# Usage (from anywhere, with lemma installed):
#   Rscript bench-gwas.R            # 1,000 individuals x 25,000 SNPs
#   Rscript bench-gwas.R large      # 5,000 x 50,000 only
#   Rscript bench-gwas.R both
# Options: threads=N (OpenMP threads of the scan; default all cores),
#          keep=DIR (write the simulated filesets to DIR and reuse them),
#          search=gemma|exact (lmm_scan's lambda_search; default gemma, as
#          lmm_scan: the exact optimum's lambda differs from GEMMA's by up to
#          1e-5, which near p = 1 exceeds GEMMA's printed digits of p),
#          precision=mixed|double (lmm_scan's precision; default mixed, as
#          lmm_scan),
#          gemma=no (time lemma only, e.g. while profiling).
# Agreement is judged as a statistician would (issue 11): beta within 1e-4 of
# its standard error; se, l_remle and l_mle within 1e-4 relative; -log10 p
# within 1e-4 relative, or within GEMMA's printed digits of p (7 significant)
# near p = 1 (for p_lrt also the rounding of the two log-likelihoods). The
# worst value of each is printed; the -log10 p lines print the worst excess
# over that allowance (<= 0: within).
suppressPackageStartupMessages({
  library(lemma)
  library(future)
})

args <- commandArgs(trailingOnly = TRUE)
size <- if (length(args) && args[1] %in% c("small", "large", "both")) args[1] else "small"
threads <- NULL
ta <- grep("^threads=", args, value = TRUE)
if (length(ta)) threads <- as.integer(sub("threads=", "", ta))
keep_dir <- NULL
ka <- grep("^keep=", args, value = TRUE)
if (length(ka)) keep_dir <- sub("keep=", "", ka)
opt_arg <- function(name, default) {
  a <- grep(paste0("^", name, "="), args, value = TRUE)
  if (length(a)) sub(paste0(name, "="), "", a[1]) else default
}
search <- opt_arg("search", "gemma")
precision <- opt_arg("precision", "mixed")
run_gemma <- opt_arg("gemma", "yes") != "no"

# Simulated fileset written block by block (memory O(n x block)): two
# subpopulations (Fst 0.05), 0.5% missing genotypes, 500 causal SNPs
# (h2 about 0.5), a subpopulation mean shift and a sex covariate.
simulate_fileset <- function(dir, n, m, block = 2000L, seed = 1L) {
  set.seed(seed)
  prefix <- file.path(dir, sprintf("sim_%d_%d", n, m))
  pop <- rep(1:2, length.out = n)
  sex <- stats::rbinom(n, 1, 0.5)
  causal <- sort(sample.int(m, 500))
  g_val <- numeric(n)
  con <- file(paste0(prefix, ".bed"), "wb")
  writeBin(as.raw(c(0x6c, 0x1b, 0x01)), con)
  fst <- 0.05
  for (b0 in seq(1L, m, by = block)) {
    idx <- b0:min(m, b0 + block - 1L)
    k <- length(idx)
    p_anc <- stats::runif(k, 0.05, 0.5)
    p1 <- stats::rbeta(k, p_anc * (1 - fst) / fst, (1 - p_anc) * (1 - fst) / fst)
    p2 <- stats::rbeta(k, p_anc * (1 - fst) / fst, (1 - p_anc) * (1 - fst) / fst)
    P <- rbind(p1, p2)[pop, , drop = FALSE]
    G <- matrix(stats::rbinom(n * k, 2, pmin(pmax(P, 0.01), 0.99)), n, k)
    cz <- which(idx %in% causal)
    if (length(cz)) {
      Z <- scale(G[, cz, drop = FALSE])
      Z[is.na(Z)] <- 0
      g_val <- g_val + drop(Z %*% stats::rnorm(length(cz)))
    }
    G[sample.int(n * k, round(0.005 * n * k))] <- NA
    writeBin(lemma:::plink_encode(G), con)
  }
  close(con)
  y <- 0.5 * sex + 0.5 * (pop == 2) + g_val / sqrt(500) + stats::rnorm(n)
  bim <- data.frame(chr = rep(1:10, each = ceiling(m / 10))[seq_len(m)],
                    snp = sprintf("rs%d", seq_len(m)), cm = 0, pos = seq_len(m) * 1000,
                    a1 = "A", a0 = "G")
  utils::write.table(bim, paste0(prefix, ".bim"), quote = FALSE, sep = "\t",
                     row.names = FALSE, col.names = FALSE)
  fam <- data.frame(sprintf("F%d", seq_len(n)), sprintf("I%d", seq_len(n)), 0, 0,
                    sex + 1L, format(round(y, 6), trim = TRUE))
  utils::write.table(fam, paste0(prefix, ".fam"), quote = FALSE, sep = " ",
                     row.names = FALSE, col.names = FALSE)
  utils::write.table(cbind(1, sex), paste0(prefix, "_cov.txt"), quote = FALSE,
                     row.names = FALSE, col.names = FALSE)
  prefix
}

elapsed <- function(expr) {
  t <- system.time(expr)
  unname(t["elapsed"])
}

run_case <- function(n, m) {
  if (is.null(keep_dir)) {
    dir <- tempfile("bench-gwas-")
    dir.create(dir)
    on.exit(unlink(dir, recursive = TRUE))
  } else {
    dir <- file.path(keep_dir, sprintf("sim_%d_%d", n, m))
    dir.create(dir, recursive = TRUE, showWarnings = FALSE)
  }
  cat(sprintf("\n== %d individuals x %d SNPs ==\n", n, m))
  prefix <- file.path(dir, sprintf("sim_%d_%d", n, m))
  if (!file.exists(paste0(prefix, ".bed"))) {
    t_sim <- elapsed(prefix <- simulate_fileset(dir, n, m))
    cat(sprintf("simulated in %.1f s (%s)\n", t_sim, dir))
  }

  # ---- lemma ----
  plan(sequential)
  t_read <- elapsed(g <- read_plink(prefix))
  t_grm <- elapsed(K <- suppressMessages(grm(g)))
  X <- as.matrix(utils::read.table(paste0(prefix, "_cov.txt")))
  ok <- !is.na(g$fam$pheno)
  t_eig <- elapsed(eig <- lemma:::spectral_decomp(K[ok, ok], center = TRUE))
  t_null <- elapsed(null <- lemma:::spectral_fit(g$fam$pheno[ok], X[ok, ],
                                                 K[ok, ok], eigen = eig))
  null$ids <- g$fam$iid[ok]
  nth <- lemma:::scan_threads(threads)
  t_scan <- elapsed(res <- suppressMessages(
    lmm_scan(null, g, test = "all", method = "exact", threads = nth,
             lambda_search = search, precision = precision)))
  t_lemma <- t_read + t_grm + t_eig + t_null + t_scan
  cat(sprintf("lemma: read %.2f s, grm %.2f s, eigen %.2f s, null fit %.2f s, scan %.2f s (%d threads, lambda_search = %s, precision = %s, %d of %d SNPs rotated in double); total %.2f s\n",
              t_read, t_grm, t_eig, t_null, t_scan, nth, search, precision,
              attr(res, "n_double"), nrow(res), t_lemma))

  # ---- GEMMA ----
  gemma <- if (run_gemma) Sys.which("gemma") else ""
  if (gemma == "") {
    cat("gemma not found: no comparison\n")
    return(invisible(c(lemma = t_lemma)))
  }
  owd <- setwd(dir)
  on.exit(setwd(owd), add = TRUE)
  base <- basename(prefix)
  t_gk <- elapsed(s1 <- system2(gemma, c("-bfile", base, "-gk", "1", "-o", "gk"),
                                stdout = FALSE, stderr = FALSE))
  t_lmm <- elapsed(s2 <- system2(gemma, c("-bfile", base, "-k", "output/gk.cXX.txt",
                                          "-c", paste0(base, "_cov.txt"), "-lmm", "4",
                                          "-o", "lmm"),
                                 stdout = FALSE, stderr = FALSE))
  if (s1 != 0 || s2 != 0) stop("gemma failed")
  t_gemma <- t_gk + t_lmm
  cat(sprintf("GEMMA: -gk 1 %.2f s, -lmm 4 %.2f s; total %.2f s\n", t_gk, t_lmm, t_gemma))
  cat(sprintf("ratio GEMMA / lemma = %.1f\n", t_gemma / t_lemma))

  # ---- agreement ----
  ref <- utils::read.table("output/lmm.assoc.txt", header = TRUE)
  Kg <- as.matrix(utils::read.table("output/gk.cXX.txt"))
  stopifnot(identical(ref$rs, res$snp))
  rel <- function(a, b) max(abs(a - b) / abs(b))
  print_err <- function(p) 0.5 * 10^(floor(log10(p)) - 6) / (p * log(10))
  # for p_lrt also the rounding of the two log-likelihoods (< 1e-12 |logl|
  # each), which dominates as the statistic s -> 0 (dchisq(s, 1) -> Inf)
  lrt_err <- function(p) {
    s <- stats::qchisq(p, 1, lower.tail = FALSE)
    stats::dchisq(s, 1) * 4e-12 * abs(attr(res, "logl_H0")) / (p * log(10))
  }
  worst_log10p <- function(p) {
    a <- -log10(res[[p]]); b <- -log10(ref[[p]])
    allow <- print_err(ref[[p]])
    if (p == "p_lrt") allow <- allow + lrt_err(ref[[p]])
    c(rel = max(abs(a - b) / pmax(abs(b), 1e-300)), excess = max(abs(a - b) - 1e-4 * abs(b) - allow))
  }
  w <- sapply(c("p_wald", "p_lrt", "p_score"), worst_log10p)
  agree <- c(beta_in_se = max(abs(res$beta - ref$beta) / ref$se), se = rel(res$se, ref$se),
             l_remle = rel(res$l_remle, ref$l_remle), l_mle = rel(res$l_mle, ref$l_mle))
  ok_all <- all(agree < 1e-4) && all(w["excess", ] <= 0)
  cat(sprintf("agreement, worst over %d SNPs: GRM abs %.1e; |beta diff|/se %.1e; se %.1e; l_remle %.1e; l_mle %.1e (relative); logl_H1 %.1e\n",
              nrow(res), max(abs(unname(K) - unname(Kg))), agree[1], agree[2], agree[3],
              agree[4], rel(res$logl_H1, ref$logl_H1)))
  cat(sprintf("  -log10 p, worst relative difference: wald %.1e, lrt %.1e, score %.1e\n",
              w["rel", 1], w["rel", 2], w["rel", 3]))
  cat(sprintf("  -log10 p, worst excess over 1e-4 relative + printed digits (<= 0: within): wald %.1e, lrt %.1e, score %.1e\n",
              w["excess", 1], w["excess", 2], w["excess", 3]))
  cat(sprintf("  criterion met: %s\n", if (ok_all) "yes" else "NO"))
  invisible(c(lemma = t_lemma, gemma = t_gemma))
}

if (size %in% c("small", "both")) run_case(1000L, 25000L)
if (size %in% c("large", "both")) run_case(5000L, 50000L)
