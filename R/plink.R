#' Read a PLINK binary fileset
#'
#' Opens a PLINK 1 binary fileset (`.bed`, `.bim`, `.fam`, SNP-major) without
#' loading the genotypes: the `.bim` and `.fam` tables are read, the `.bed`
#' file's magic bytes and size are checked against them, and genotypes are
#' read later, in blocks of SNPs, by [grm()], [lmm_scan()] and [as.matrix()].
#'
#' Genotypes are coded as dosages of allele 1 (the fifth `.bim` column, as
#' GEMMA's `af` is the frequency of allele 1): 0, 1, 2, and `NA` when missing.
#' The phenotype is the sixth `.fam` column with `-9` (and `NA`) read as
#' missing.
#'
#' @param prefix path of the fileset without extension (a trailing `.bed`,
#'   `.bim` or `.fam` is removed).
#' @return An object of class `"lemma_plink"`: a list with `bed` (the path of
#'   the `.bed` file), `bim` (data frame: chr, snp, cm, pos, allele1,
#'   allele0), `fam` (data frame: fid, iid, pid, mid, sex, pheno), `n` and `m`
#'   (numbers of individuals and SNPs).
#' @seealso [as.matrix.lemma_plink()], [grm()], [lmm_scan()]
#' @examples
#' g <- read_plink(system.file("extdata", "example.bed", package = "lemma"))
#' g
#' dim(g)
#' as.matrix(g, snps = 1:5)[1:4, ]
#' @export
read_plink <- function(prefix) {
  if (!is.character(prefix) || length(prefix) != 1L || is.na(prefix))
    stop("read_plink(): 'prefix' must be a single file path prefix", call. = FALSE)
  prefix <- sub("\\.(bed|bim|fam)$", "", prefix)
  files <- paste0(prefix, c(".bed", ".bim", ".fam"))
  missing_files <- files[!file.exists(files)]
  if (length(missing_files))
    stop("PLINK file(s) not found: ", paste(missing_files, collapse = ", "),
         call. = FALSE)
  bim <- read_plink_table(files[2], 6L,
                          c("chr", "snp", "cm", "pos", "allele1", "allele0"),
                          c("character", "character", "numeric", "numeric",
                            "character", "character"))
  fam <- read_plink_table(files[3], 6L,
                          c("fid", "iid", "pid", "mid", "sex", "pheno"),
                          c("character", "character", "character", "character",
                            "integer", "character"))
  pheno <- suppressWarnings(as.numeric(fam$pheno))
  # PLINK's missing codes are -9 and "NA"; any other text is an error in the file,
  # not a missing value, so it is named rather than silently dropped.
  bad <- which(is.na(pheno) & !(fam$pheno %in% c("NA", "-9")) | is.nan(pheno) | is.infinite(pheno))
  if (length(bad))
    warning(sprintf("%s: phenotype (column 6) of %d individual(s) is not a number (first: line %d, \"%s\"); read as missing",
                    files[3], length(bad), bad[1], fam$pheno[bad[1]]), call. = FALSE)
  pheno[bad] <- NA
  pheno[!is.na(pheno) & pheno == -9] <- NA
  fam$pheno <- pheno
  if (anyDuplicated(fam$iid))
    warning("duplicated individual ids (IID) in ", files[3], call. = FALSE)
  bed <- normalizePath(files[1], mustWork = TRUE)
  .bed_check(bed, nrow(fam), nrow(bim))
  structure(list(bed = bed, bim = bim, fam = fam, n = nrow(fam), m = nrow(bim)),
            class = "lemma_plink")
}

read_plink_table <- function(file, ncol, names, classes) {
  tab <- tryCatch(
    utils::read.table(file, header = FALSE, colClasses = classes,
                      col.names = names, comment.char = "", quote = "",
                      na.strings = character(), stringsAsFactors = FALSE),
    error = function(e)
      stop("cannot read ", file, " as a PLINK table with ", ncol,
           " columns: ", conditionMessage(e), call. = FALSE))
  if (nrow(tab) == 0L) stop(file, " is empty", call. = FALSE)
  tab
}

#' @export
print.lemma_plink <- function(x, ...) {
  cat("PLINK fileset", sub("\\.bed$", "", x$bed), "\n")
  cat(" ", x$n, "individuals x", x$m, "SNPs on",
      length(unique(x$bim$chr)), "chromosome(s);",
      sum(!is.na(x$fam$pheno)), "non-missing phenotypes\n")
  invisible(x)
}

#' @export
dim.lemma_plink <- function(x) c(x$n, x$m)

#' Genotype dosages as a matrix
#'
#' Reads the genotypes of (a subset of) SNPs and individuals from a PLINK
#' fileset into an individuals x SNPs matrix of allele-1 dosages (0/1/2, `NA`
#' missing). Only the requested SNPs are read.
#'
#' @param x a `"lemma_plink"` object from [read_plink()].
#' @param snps SNP indices (integer) or names (`.bim` column 2); all by default.
#' @param individuals individual indices or IIDs; all by default.
#' @param ... unused.
#' @return A numeric matrix with dimnames (IID, SNP name).
#' @examples
#' g <- read_plink(system.file("extdata", "example.bed", package = "lemma"))
#' G <- as.matrix(g, snps = c("rs1", "rs2"), individuals = 1:10)
#' G
#' @export
as.matrix.lemma_plink <- function(x, snps = NULL, individuals = NULL, ...) {
  si <- plink_index(snps, x$bim$snp, x$m, "SNP")
  ii <- plink_index(individuals, x$fam$iid, x$n, "individual")
  G <- .bed_read(x$bed, x$n, x$m, si, ii)
  dimnames(G) <- list(x$fam$iid[ii], x$bim$snp[si])
  G
}

# Indices of the SNPs or individuals selected by `sel` (names, indices or a
# logical vector over all), named in errors as the argument `arg`.
plink_index <- function(sel, names, max, what, arg = if (what == "SNP") "snps" else "individuals") {
  if (is.null(sel)) return(seq_len(max))
  if (is.character(sel)) {
    i <- match(sel, names)
    if (anyNA(i))
      stop(sprintf("'%s': %s(s) not found: %s", arg, what,
                   paste(utils::head(sel[is.na(i)], 5), collapse = ", ")), call. = FALSE)
    return(i)
  }
  if (is.logical(sel)) {
    if (length(sel) != max)
      stop(sprintf("'%s' is a logical vector of length %d; there are %d %ss", arg, length(sel), max, what),
           call. = FALSE)
    sel <- which(sel)
  }
  if (!is.numeric(sel) || anyNA(sel) || any(sel < 1 | sel > max | sel != round(sel)))
    stop(sprintf("'%s': %s indices must be whole numbers in 1..%d", arg, what, max), call. = FALSE)
  as.integer(sel)
}

# ---- genotype sources: a PLINK object or an individuals x SNPs matrix ----

geno_source <- function(genotypes) {
  if (inherits(genotypes, "lemma_plink")) return(genotypes)
  if (is.data.frame(genotypes)) genotypes <- as.matrix(genotypes)
  if (!is.matrix(genotypes) || !is.numeric(genotypes))
    stop("'genotypes' must be a PLINK fileset from read_plink() or a numeric ",
         "individuals x SNPs matrix of allele-1 dosages", call. = FALSE)
  storage.mode(genotypes) <- "double"
  genotypes
}

geno_n <- function(g) if (is.matrix(g)) nrow(g) else g$n
geno_m <- function(g) if (is.matrix(g)) ncol(g) else g$m
geno_ids <- function(g) if (is.matrix(g)) rownames(g) else g$fam$iid

geno_snp_info <- function(g) {
  if (!is.matrix(g)) return(g$bim)
  m <- ncol(g)
  nm <- colnames(g)
  if (is.null(nm)) nm <- sprintf("snp%d", seq_len(m))
  data.frame(chr = rep(NA_character_, m), snp = nm, cm = NA_real_,
             pos = rep(NA_real_, m), allele1 = NA_character_,
             allele0 = NA_character_, stringsAsFactors = FALSE)
}

# dosages of SNPs `snps` for individuals `inds` (1-based indices)
geno_block <- function(g, snps, inds) {
  if (is.matrix(g)) return(g[inds, snps, drop = FALSE])
  .bed_read(g$bed, g$n, g$m, as.integer(snps), as.integer(inds))
}

#' Write a PLINK fileset (internal)
#'
#' @param prefix path prefix; writes prefix.bed, prefix.bim, prefix.fam.
#' @param G individuals x SNPs matrix of allele-1 dosages (0/1/2/NA).
#' @param bim data frame with chr, snp, cm, pos, allele1, allele0.
#' @param fam data frame with fid, iid, pid, mid, sex, pheno.
#' @keywords internal
#' @noRd
write_plink <- function(prefix, G, bim, fam) {
  stopifnot(ncol(G) == nrow(bim), nrow(G) == nrow(fam))
  con <- file(paste0(prefix, ".bed"), "wb")
  on.exit(close(con))
  writeBin(as.raw(c(0x6c, 0x1b, 0x01)), con)
  writeBin(plink_encode(G), con)
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

# SNP-major .bed bytes (without the magic bytes) of a dosage matrix.
# PLINK 2-bit codes: 0 = two copies of allele 1, 1 = missing, 2 = het,
# 3 = zero copies of allele 1; first individual in the lowest bits.
plink_encode <- function(G) {
  n <- nrow(G)
  nb <- (n + 3L) %/% 4L
  code <- matrix(3L, n, ncol(G))
  code[which(G == 2)] <- 0L
  code[which(G == 1)] <- 2L
  code[is.na(G)] <- 1L
  pad <- nb * 4L - n
  if (pad > 0L) code <- rbind(code, matrix(0L, pad, ncol(G)))
  idx <- seq(1L, nb * 4L, by = 4L)
  bytes <- code[idx, , drop = FALSE] + 4L * code[idx + 1L, , drop = FALSE] +
    16L * code[idx + 2L, , drop = FALSE] + 64L * code[idx + 3L, , drop = FALSE]
  as.raw(as.vector(bytes))
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
