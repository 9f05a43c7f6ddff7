#' Genomic relationship matrix
#'
#' Computes GEMMA's relatedness matrices from genotypes, blockwise (only
#' `chunk_size` SNPs are held in memory at a time):
#' * `"centered"` (GEMMA `-gk 1`): \eqn{K = W W' / m}, where column j of W is
#'   the allele-1 dosage of SNP j with missing values replaced by the SNP mean,
#'   minus that mean;
#' * `"standardized"` (GEMMA `-gk 2`): each column is further divided by its
#'   standard deviation (population variance, missing values counted at the
#'   mean).
#'
#' SNPs are filtered as GEMMA does by default, computed over the individuals
#' used: missingness above `miss` (5%), allele-1 frequency below `maf` or
#' above `1 - maf` (1%), or fewer than two genotype classes observed. The
#' number of SNPs used is stored in the attribute `"n_snps"` and the dropped
#' SNPs are reported in a message.
#'
#' The centred GRM of 0/1/2 genotypes (PLINK input, or a matrix of whole
#' dosages) is computed exactly in integers: the cross-products of the
#' genotypes are counted with bit operations (two bit planes per SNP, four
#' population counts per pair of individuals and 64 SNPs; AVX-512 where the
#' CPU has it) and the centring and mean imputation applied afterwards in
#' double precision, so the result equals the double-precision formula to
#' rounding, without a floating-point product. The work runs on
#' all available cores unless the option `lemma.threads` or else the
#' environment variable `OMP_NUM_THREADS` sets a number; the result is the same
#' for any number of threads.
#'
#' @param genotypes a PLINK fileset from [read_plink()] or a numeric
#'   individuals x SNPs matrix of allele-1 dosages (`NA` for missing).
#' @param method `"centered"` or `"standardized"`.
#' @param maf,miss SNP filters (see Details).
#' @param snps optional subset of SNPs (indices or names).
#' @param chunk_size number of SNPs per block of the rank-k update (a whole
#'   number >= 1; a value above the number of SNPs means one block).
#' @return A symmetric n x n matrix with dimnames the individual ids (IID),
#'   attributes `"n_snps"` (SNPs used) and `"method"`.
#' @examples
#' g <- read_plink(system.file("extdata", "example.bed", package = "lemma"))
#' K <- grm(g)
#' dim(K)
#' K[1:5, 1:5]
#' @export
grm <- function(genotypes, method = c("centered", "standardized"),
                maf = 0.01, miss = 0.05, snps = NULL, chunk_size = 512L) {
  fn <- "grm"
  method <- check_choice(method[1], c("centered", "standardized"), "method", fn)
  check_number(maf, "maf", fn, lower = 0, upper = 0.5)
  check_number(miss, "miss", fn, lower = 0, upper = 1)
  check_number(chunk_size, "chunk_size", fn, lower = 1, integer = TRUE)
  g <- geno_source(genotypes)
  std <- method == "standardized"
  # a block never needs more columns than there are SNPs (and a huge one would be allocated)
  chunk_size <- as.integer(min(chunk_size, max(1, geno_m(g))))
  blas <- use_blas()
  threads <- grm_threads()
  if (is.matrix(g)) {
    if (!is.null(snps)) g <- g[, plink_index(snps, colnames(g), ncol(g), "SNP"), drop = FALSE]
    res <- .grm_matrix(g, std, maf, miss, chunk_size, blas, threads)
    ids <- rownames(g)
    snp_names <- colnames(g)
  } else {
    si <- plink_index(snps, g$bim$snp, g$m, "SNP")
    res <- .grm_bed(g$bed, g$n, g$m, si, seq_len(g$n), std, maf, miss,
                    chunk_size, blas, threads)
    ids <- g$fam$iid
    snp_names <- g$bim$snp[si]
  }
  K <- res$K
  used <- res$used
  res <- NULL  # K is then referenced once: the attributes below do not copy it
  n_used <- sum(used)
  if (n_used == 0L) stop("no SNP passed the filters", call. = FALSE)
  if (n_used < length(used))
    message("grm(): ", length(used) - n_used, " of ", length(used),
            " SNPs dropped by the filters (maf < ", maf, ", missingness > ",
            miss, ", or monomorphic)")
  if (!is.null(ids)) dimnames(K) <- list(ids, ids)
  attr(K, "n_snps") <- n_used
  attr(K, "method") <- method
  K
}

# Use the BLAS R is linked to for the large matrix products (GRM, rotation of
# the genotypes) when it is an optimized one; Eigen's own products otherwise
# (they beat the reference BLAS). options(lemma.use_blas = TRUE/FALSE) forces
# the choice.
use_blas <- function() {
  opt <- getOption("lemma.use_blas")
  if (!is.null(opt)) return(isTRUE(opt))
  blas <- tryCatch(extSoftVersion()[["BLAS"]], error = function(e) "")
  isTRUE(grepl("openblas|mkl|blis|atlas|accelerate|veclib", blas,
               ignore.case = TRUE))
}

# OpenMP threads of grm() (per-SNP work and the integer product): the user's
# setting (see default_threads()), else the available cores (the double product
# of the standardized GRM runs in the BLAS, with its own threads).
grm_threads <- function() {
  default_threads(max(1L, as.integer(future::availableCores())), "grm")
}
