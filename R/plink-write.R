# Internal writer for PLINK .bed/.bim/.fam filesets (used by data-raw/ and the
# benchmark to simulate data). Not exported.

#' Write a PLINK fileset (internal)
#'
#' @param prefix path prefix; writes prefix.bed, prefix.bim, prefix.fam.
#' @param G individuals x SNPs matrix of allele-1 dosages (0/1/2/NA).
#' @param bim data frame with chr, snp, cm, pos, allele1, allele0.
#' @param fam data frame with fid, iid, pid, mid, sex, pheno.
#' @keywords internal
#' @noRd
write_plink <- function(prefix, G, bim, fam) {
  n <- nrow(G)
  stopifnot(ncol(G) == nrow(bim), n == nrow(fam))
  nb <- (n + 3L) %/% 4L
  # PLINK 2-bit codes: 0 = two copies of allele 1, 1 = missing, 2 = het,
  # 3 = zero copies of allele 1; first individual in the lowest bits.
  code <- matrix(3L, n, ncol(G))
  code[which(G == 2)] <- 0L
  code[which(G == 1)] <- 2L
  code[is.na(G)] <- 1L
  pad <- nb * 4L - n
  if (pad > 0L) code <- rbind(code, matrix(0L, pad, ncol(G)))
  idx <- seq(1L, nb * 4L, by = 4L)
  bytes <- code[idx, , drop = FALSE] + 4L * code[idx + 1L, , drop = FALSE] +
    16L * code[idx + 2L, , drop = FALSE] + 64L * code[idx + 3L, , drop = FALSE]
  con <- file(paste0(prefix, ".bed"), "wb")
  on.exit(close(con))
  writeBin(as.raw(c(0x6c, 0x1b, 0x01)), con)
  writeBin(as.raw(as.vector(bytes)), con)
  utils::write.table(bim[, c("chr", "snp", "cm", "pos", "allele1", "allele0")],
                     paste0(prefix, ".bim"), quote = FALSE, sep = "\t",
                     row.names = FALSE, col.names = FALSE)
  pheno <- fam$pheno
  pheno <- ifelse(is.na(pheno), "-9", format(pheno, digits = 15, trim = TRUE))
  fam_out <- data.frame(fam$fid, fam$iid, fam$pid, fam$mid, fam$sex, pheno)
  utils::write.table(fam_out, paste0(prefix, ".fam"), quote = FALSE, sep = " ",
                     row.names = FALSE, col.names = FALSE)
  invisible(prefix)
}

#' Simulate genotypes with families and two subpopulations (internal)
#'
#' @return list(G, bim, fam, pop, cov) -- pheno not filled.
#' @keywords internal
#' @noRd
simulate_structured_genotypes <- function(n_fam, fam_size, m, n_chr = 5L,
                                          fst = 0.1, miss_rate = 0.01) {
  kids <- fam_size - 2L
  n <- n_fam * fam_size
  p_anc <- stats::runif(m, 0.05, 0.5)
  a <- p_anc * (1 - fst) / fst
  b <- (1 - p_anc) * (1 - fst) / fst
  p_pop <- rbind(stats::rbeta(m, a, b), stats::rbeta(m, a, b))
  p_pop <- pmin(pmax(p_pop, 0.02), 0.98)
  fam_pop <- rep(1:2, length.out = n_fam)
  G <- matrix(0L, n, m)
  pop <- integer(n)
  fid <- character(n); iid <- character(n); pid <- character(n); mid <- character(n)
  row <- 0L
  for (f in seq_len(n_fam)) {
    pp <- p_pop[fam_pop[f], ]
    # haplotypes of the two parents: 2 x m each
    hp <- matrix(stats::rbinom(2 * m, 1, rep(pp, each = 2)), 2)
    hm <- matrix(stats::rbinom(2 * m, 1, rep(pp, each = 2)), 2)
    G[row + 1L, ] <- colSums(hp); G[row + 2L, ] <- colSums(hm)
    fid[row + 1:2] <- sprintf("F%03d", f)
    iid[row + 1:2] <- sprintf("F%03d_%d", f, 1:2)
    pid[row + 1:2] <- "0"; mid[row + 1:2] <- "0"
    for (k in seq_len(kids)) {
      sel_p <- stats::rbinom(m, 1, 0.5) + 1L
      sel_m <- stats::rbinom(m, 1, 0.5) + 1L
      G[row + 2L + k, ] <- hp[cbind(sel_p, seq_len(m))] + hm[cbind(sel_m, seq_len(m))]
      fid[row + 2L + k] <- sprintf("F%03d", f)
      iid[row + 2L + k] <- sprintf("F%03d_%d", f, 2L + k)
      pid[row + 2L + k] <- iid[row + 1L]; mid[row + 2L + k] <- iid[row + 2L]
    }
    pop[row + seq_len(fam_size)] <- fam_pop[f]
    row <- row + fam_size
  }
  G <- matrix(as.numeric(G), n, m)
  if (miss_rate > 0) G[sample.int(n * m, round(miss_rate * n * m))] <- NA
  chr <- rep(seq_len(n_chr), length.out = m)
  chr <- sort(chr)
  pos <- stats::ave(seq_len(m), chr, FUN = function(i) cumsum(sample(500:5000, length(i), TRUE)))
  alle <- c("A", "C", "G", "T")
  a1 <- sample(alle, m, TRUE)
  a0 <- vapply(a1, function(x) sample(setdiff(alle, x), 1), "")
  bim <- data.frame(chr = chr, snp = sprintf("rs%d", seq_len(m)), cm = 0, pos = pos,
                    allele1 = a1, allele0 = unname(a0), stringsAsFactors = FALSE)
  sex <- stats::rbinom(n, 1, 0.5) + 1L
  fam <- data.frame(fid = fid, iid = iid, pid = pid, mid = mid, sex = sex,
                    pheno = NA_real_, stringsAsFactors = FALSE)
  list(G = G, bim = bim, fam = fam, pop = pop)
}
