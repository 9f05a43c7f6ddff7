# Times lemma against GEMMA on the same simulated PLINK fileset, in one run:
#   lemma: read_plink() + grm() + null model (eigendecomposition and REML/ML
#          fit) + lmm_scan(test = "all", method = "exact") on 2 local workers
#   GEMMA: -gk 1 (centered relatedness) + -lmm 4 (Wald, LRT, score)
# and checks that the two agree.
#
# Usage (from anywhere, with lemma installed):
#   Rscript bench-gwas.R            # 1,000 individuals x 25,000 SNPs
#   Rscript bench-gwas.R large      # 5,000 x 50,000 only
#   Rscript bench-gwas.R both
# Options: workers=2 (future multisession workers for the scan).
suppressPackageStartupMessages({
  library(lemma)
  library(future)
})

args <- commandArgs(trailingOnly = TRUE)
size <- if (length(args) && args[1] %in% c("small", "large", "both")) args[1] else "small"
workers <- 2L
wa <- grep("^workers=", args, value = TRUE)
if (length(wa)) workers <- as.integer(sub("workers=", "", wa))

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
  dir <- tempfile("bench-gwas-")
  dir.create(dir)
  on.exit(unlink(dir, recursive = TRUE))
  cat(sprintf("\n== %d individuals x %d SNPs ==\n", n, m))
  t_sim <- elapsed(prefix <- simulate_fileset(dir, n, m))
  cat(sprintf("simulated in %.1f s (%s)\n", t_sim, dir))

  # ---- lemma ----
  plan(multisession, workers = workers)
  on.exit(plan(sequential), add = TRUE)
  # start the workers and load lemma there before timing (a one-off cost of
  # the session's plan, about 1 s, not of the analysis)
  invisible(future.apply::future_lapply(seq_len(workers), function(i)
    requireNamespace("lemma", quietly = TRUE)))
  t_read <- elapsed(g <- read_plink(prefix))
  t_grm <- elapsed(K <- suppressMessages(grm(g)))
  X <- as.matrix(utils::read.table(paste0(prefix, "_cov.txt")))
  ok <- !is.na(g$fam$pheno)
  t_null <- elapsed(null <- lemma:::spectral_fit(g$fam$pheno[ok], X[ok, ],
                                                 K[ok, ok], center = TRUE))
  t_scan <- elapsed(res <- suppressMessages(
    lmm_scan(null, g, test = "all", method = "exact")))
  t_lemma <- t_read + t_grm + t_null + t_scan
  cat(sprintf("lemma: read %.2f s, grm %.2f s, null fit %.2f s, scan %.2f s (%d workers); total %.2f s\n",
              t_read, t_grm, t_null, t_scan, workers, t_lemma))

  # ---- GEMMA ----
  gemma <- Sys.which("gemma")
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
  rel <- function(a, b, s = abs(b)) max(abs(a - b) / s)
  lp <- function(p) -log10(p)
  cat(sprintf("agreement (max relative difference): GRM abs %.1e; l_remle %.1e; l_mle %.1e; se %.1e; beta/max(|beta|,se) %.1e;\n  -log10 p_wald %.1e, p_lrt %.1e, p_score %.1e (relative to max(-log10 p, 1))\n",
              max(abs(unname(K) - unname(Kg))), rel(res$l_remle, ref$l_remle),
              rel(res$l_mle, ref$l_mle), rel(res$se, ref$se),
              rel(res$beta, ref$beta, pmax(abs(ref$beta), ref$se)),
              rel(lp(res$p_wald), lp(ref$p_wald), pmax(lp(ref$p_wald), 1)),
              rel(lp(res$p_lrt), lp(ref$p_lrt), pmax(lp(ref$p_lrt), 1)),
              rel(lp(res$p_score), lp(ref$p_score), pmax(lp(ref$p_score), 1))))
  invisible(c(lemma = t_lemma, gemma = t_gemma))
}

if (size %in% c("small", "both")) run_case(1000L, 25000L)
if (size %in% c("large", "both")) run_case(5000L, 50000L)
