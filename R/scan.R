#' Genome-wide association scan with a linear mixed model
#'
#' Tests each SNP in `genotypes` for association with the response of a null
#' model with one relationship-matrix term, as GEMMA's `-lmm`: the
#' relationship matrix K of the analysed individuals is double-centred and
#' eigendecomposed once (\eqn{K = U D U'}), the phenotype, covariates and
#' genotypes are rotated by U' (genotypes in blocks of `chunk_size` SNPs, one
#' matrix product per block), and each SNP's variance ratio
#' \eqn{\lambda = \sigma_g^2/\sigma_e^2} is re-estimated with O(n) work per
#' likelihood evaluation.
#'
#' * `test = "wald"` (GEMMA `-lmm 1`): REML \eqn{\lambda} per SNP; beta, se
#'   and p from F(1, n - c - 1).
#' * `test = "lrt"` (`-lmm 2`): ML \eqn{\lambda} per SNP; p from
#'   \eqn{\chi^2_1} on \eqn{2(\ell_1 - \ell_0)}.
#' * `test = "score"` (`-lmm 3`): the null model's ML \eqn{\lambda}; p from
#'   F(1, n - c - 1).
#' * `test = "all"` (`-lmm 4`): all three; `beta` and `se` are the Wald ones.
#'
#' `method = "fixed"` keeps the null model's \eqn{\lambda} for every SNP
#' (EMMAX / P3D): REML \eqn{\lambda} for the Wald test, ML for the LRT.
#'
#' Missing genotypes are replaced by the SNP's mean over the analysed
#' individuals. SNPs are dropped as by GEMMA's default filters (missingness
#' above `miss`, allele-1 frequency below `maf` or above `1 - maf`, fewer than
#' two genotype classes, \eqn{r^2} with the covariates above `r2`), and a
#' message says how many. A SNP whose \eqn{\lambda} search meets non-finite
#' values is kept with `NA` statistics and a warning naming it; no row is
#' silently `NaN`.
#'
#' Chunks of SNPs are independent tasks run by [future.apply::future_lapply()],
#' so [future::plan()] decides where they run (sequentially, on local cores or
#' on a cluster). Within a task, blocks of SNPs are spread over `threads`
#' OpenMP threads (by default the option `lemma.threads` or else the
#' environment variable `OMP_NUM_THREADS` when set; otherwise all available
#' cores under a sequential plan, one per worker under a parallel one). Each
#' SNP is computed with the same operations whatever the plan and the number of
#' threads, so the results do not depend on them (with `precision = "mixed"`, the
#' single-precision product rounds by the block of SNPs, so `chunk_size` changes
#' results, within the agreement criterion).
#'
#' On CPUs with AVX-512 the matrix products and the likelihood sums run in
#' kernels built for it (chosen at run time); the environment variable
#' `LEMMA_SIMD` (`"avx512"`, `"avx2"` or `"none"`, read once per session) caps
#' the instruction set, e.g. to compare paths. The single-precision products
#' of the paths round differently; each meets the criterion (see `precision`).
#'
#' Given an [lmm()] fit on its spectral path, whose relationship matrix has
#' rows that sum to zero (any [grm()] of the analysed individuals), the scan
#' reuses the fit's eigendecomposition; otherwise it decomposes the
#' double-centred K, as GEMMA does.
#'
#' The per-SNP search for \eqn{\lambda} (`lambda_search = "gemma"`, the
#' default) repeats GEMMA 0.98's: in each of `n_region` log-spaced regions of
#' `lambda_range` where the derivative changes sign, a Brent search to a
#' bracket within 10\% of \eqn{\lambda}, then Newton steps until a step is
#' below \eqn{10^{-5}} relative, keeping the iterate before that step. Its
#' \eqn{\lambda} lies within about \eqn{10^{-5}} (relative) of the maximum;
#' beta and the p-values are then GEMMA's to rounding, also where beta is
#' near 0 and p near 1, where they are most sensitive to \eqn{\lambda}.
#' `lambda_search = "exact"` polishes each root to about \eqn{10^{-12}}
#' instead (same grid, Newton steps in \eqn{\log\lambda}).
#'
#' @param null_fit the null model: an `lmm()` fit with exactly one
#'   relationship-matrix term (`relmat = list(id = K)`) and one observation per
#'   level, or a fit from `spectral_fit()`. Internally (and for testing) also a
#'   plain list with `y`, `X` (model matrix with intercept), `K` and `ids`
#'   (individual ids, by default `rownames(K)`); individuals with missing `y`
#'   are dropped with a message.
#' @param genotypes a PLINK fileset from [read_plink()] (individuals matched
#'   by IID) or a numeric individuals x SNPs matrix of allele-1 dosages (rows
#'   matched by rownames, or in the order of the null model when it has none).
#' @param test `"wald"`, `"lrt"`, `"score"` or `"all"`.
#' @param method `"exact"` (per-SNP \eqn{\lambda}) or `"fixed"`.
#' @param chunk_size SNPs per task; `NULL` for 1,000 when the future plan has
#'   several workers and 10,000 otherwise (fewer, larger tasks for the
#'   threads). Memory is O(n x block) per thread plus n/4 bytes per SNP of
#'   the task, whatever its size.
#' @param maf,miss,r2 SNP filters (GEMMA's defaults).
#' @param snps optional subset of SNPs (indices or names).
#' @param lambda_range,n_region search interval for \eqn{\lambda} (two
#'   increasing positive finite numbers) and its number of log-spaced regions
#'   (a whole number >= 1) (GEMMA's defaults).
#' @param lambda_search `"gemma"` (GEMMA's search and stopping rule) or
#'   `"exact"` (roots polished to about 1e-12); see Details.
#' @param threads OpenMP threads per task (a whole number >= 1); `NULL` for
#'   the default described in Details. Results are identical for any number.
#' @param precision `"mixed"` (default): the genotypes are rotated by one
#'   single-precision matrix product per block of SNPs (centred dosages, the
#'   means added back in double), and every SNP whose result the float product
#'   could move is rotated again in double precision. The rotation's error of
#'   each SNP is measured, not assumed: at the null model's two variance
#'   ratios, exactly in \eqn{x'Py} (against double-precision cross-products
#'   \eqn{x'U(h \circ a)}), and bounded in \eqn{x'Px} by a randomized norm
#'   estimate (eight fixed probes, ten times their root mean square). A SNP
#'   is kept from the float pass only if, with ten times its measured error in
#'   \eqn{x'Py} and that bound, its t statistic moves by at most
#'   \eqn{10^{-4} \min(1, |t|/2)}, which keeps beta within 1e-4 of its
#'   standard error and -log10 p within 1e-4 relative (the agreement
#'   criterion with GEMMA). The attribute `"n_double"` counts the SNPs rotated
#'   in double. `"double"`: every SNP rotated in double precision (the
#'   reference path).
#' @return A data frame of class `"lemma_scan"` with one row per tested SNP:
#'   snp, chr, pos, allele1, allele0, n_miss, af (allele-1 frequency), beta,
#'   se, and as the tests require logl_H1 (ML log-likelihood of the model with
#'   the SNP), l_remle, l_mle, p_wald, p_lrt, p_score. Attributes hold the null
#'   model's `lambda_null_reml`, `lambda_null_ml`, `logl_H0`, the number of
#'   individuals `n` and covariates `n_cvt`, and `n_double`, the number of
#'   SNPs rotated in double precision.
#' @seealso [plot.lemma_scan()], [inflation_factor()], [grm()], [read_plink()]
#' @examples
#' g <- read_plink(system.file("extdata", "example.bed", package = "lemma"))
#' K <- grm(g)
#' null <- list(y = g$fam$pheno, X = cbind(1, sex = g$fam$sex), K = K)
#' res <- lmm_scan(null, g, test = "wald", snps = 1:200)
#' head(res)
#' @export
lmm_scan <- function(null_fit, genotypes, test = c("wald", "lrt", "score", "all"),
                     method = c("exact", "fixed"), chunk_size = NULL,
                     maf = 0.01, miss = 0.05, r2 = 0.9999, snps = NULL,
                     lambda_range = c(1e-5, 1e5), n_region = 10L,
                     lambda_search = c("gemma", "exact"), threads = NULL,
                     precision = c("mixed", "double")) {
  fn <- "lmm_scan"
  test <- check_choice(test[1], c("wald", "lrt", "score", "all"), "test", fn)
  method <- check_choice(method[1], c("exact", "fixed"), "method", fn)
  lambda_search <- check_choice(lambda_search[1], c("gemma", "exact"), "lambda_search", fn)
  if (!is.null(chunk_size)) check_number(chunk_size, "chunk_size", fn, lower = 1, integer = TRUE)
  check_number(maf, "maf", fn, lower = 0, upper = 0.5)
  check_number(miss, "miss", fn, lower = 0, upper = 1)
  check_number(r2, "r2", fn, lower = 0)  # above 1: no r2 filter
  # lambda is a variance ratio searched on a log scale: its range is positive and finite
  check_range(lambda_range, "lambda_range", fn, lower = 0)
  check_number(n_region, "n_region", fn, lower = 1, upper = 1e6, integer = TRUE)
  if (!is.null(threads)) check_number(threads, "threads", fn, lower = 1, integer = TRUE)
  gemma_search <- lambda_search == "gemma"
  threads <- scan_threads(threads)
  simd_env_check(fn)
  g <- geno_source(genotypes)
  nd <- scan_null_data(null_fit)
  y <- nd$y; X <- nd$X; ids <- nd$ids
  n <- length(y)
  # individuals of the genotype source, in the order of the null model
  gid <- geno_ids(g)
  if (!is.null(ids) && !is.null(gid)) {
    # match() would silently take the first of two rows with one id
    dup <- intersect(unique(gid[duplicated(gid)]), ids)
    if (length(dup))
      stop(sprintf("lmm_scan(): 'genotypes' has several rows for individual(s) %s",
                   paste(utils::head(dup, 3), collapse = ", ")), call. = FALSE)
    ind <- match(ids, gid)
    if (anyNA(ind))
      stop(sum(is.na(ind)), " individual(s) of the null model are not in the ",
           "genotypes, e.g. ", paste(utils::head(ids[is.na(ind)], 3), collapse = ", "),
           call. = FALSE)
  } else {
    # no ids: the genotype rows are in the order of the null model's data
    # (before individuals with missing phenotypes were dropped)
    rows <- nd$rows %||% seq_len(n)
    n_orig <- nd$n_orig %||% n
    if (geno_n(g) != n_orig)
      stop("the genotypes have ", geno_n(g), " individuals and no ids; the null ",
           "model has ", n_orig, call. = FALSE)
    ind <- rows
  }
  # one eigendecomposition per call (or the one of a spectral null fit)
  eig <- nd$eigen
  if (is.null(eig) || !isTRUE(eig$center)) eig <- spectral_decomp(nd$K, center = TRUE)
  U <- eig$vectors
  d <- eig$values
  UtW <- crossprod(U, X)
  Uty <- drop(crossprod(U, y))
  lr <- as.numeric(lambda_range)
  nr <- as.integer(n_region)
  null_ml <- .spectral_null(d, UtW, Uty, FALSE, lr[1], lr[2], nr, gemma_search)
  null_reml <- .spectral_null(d, UtW, Uty, TRUE, lr[1], lr[2], nr, gemma_search)
  do_wald <- test %in% c("wald", "all")
  do_lrt <- test %in% c("lrt", "all")
  do_score <- test %in% c("score", "all")

  precision <- check_choice(precision[1], c("mixed", "double"), "precision", fn)
  info <- geno_snp_info(g)
  si <- if (is.matrix(g)) plink_index(snps, colnames(g) %||% info$snp, geno_m(g), "SNP")
        else plink_index(snps, info$snp, geno_m(g), "SNP")
  if (is.null(chunk_size))
    chunk_size <- if (future::nbrOfWorkers() > 1) 1000L else 10000L
  chunk_size <- as.integer(min(chunk_size, max(1L, length(si))))
  chunks <- split(si, ceiling(seq_along(si) / chunk_size))
  names(chunks) <- NULL
  ctx <- list(U = U, d = d, W = X, UtW = UtW, Uty = Uty, ind = ind,
              do_wald = do_wald, do_lrt = do_lrt, do_score = do_score,
              exact = method == "exact", lam_ml = null_ml$lambda,
              lam_reml = null_reml$lambda, maf = maf, miss = miss, r2 = r2,
              lmin = lr[1], lmax = lr[2], nregion = nr, use_blas = use_blas(),
              threads = threads, gemma_search = gemma_search,
              mixed = precision == "mixed")
  if (is.matrix(g)) {
    # ship each task only its own columns
    blocks <- lapply(chunks, function(s) g[ind, s, drop = FALSE])
    ctx$ind <- NULL
    out <- future.apply::future_lapply(blocks, scan_task_matrix, ctx = ctx,
                                       future.seed = NULL)
  } else {
    out <- future.apply::future_lapply(chunks, scan_task_plink, ctx = ctx,
                                       src = g, future.seed = NULL)
  }
  res <- do.call(rbind, out)
  scan_assemble(res, info[si, , drop = FALSE], ctx, null_ml, n, ncol(X), test,
                method, null_reml)
}

`%||%` <- function(a, b) if (is.null(a)) b else a

scan_task_plink <- function(s, ctx, src) {
  old <- blas_one_thread(ctx)
  on.exit(blas_restore(old))
  .scan_chunk_bed(ctx$U, ctx$d, ctx$W, ctx$UtW, ctx$Uty, src$bed, src$n, src$m,
                  as.integer(s), as.integer(ctx$ind), ctx)
}

scan_task_matrix <- function(G, ctx) scan_run_chunk(G, ctx)

# One BLAS thread while a chunk runs, wherever it runs (restored after): the
# chunk's own threads each call the BLAS on their blocks of SNPs, and
# OpenBLAS's results depend on its number of threads, so this also keeps the
# results identical across future plans.
blas_one_thread <- function(ctx) if (isTRUE(ctx$use_blas)) .blas_threads(1L) else -1L
blas_restore <- function(old) if (old > 1L) invisible(.blas_threads(old))

scan_run_chunk <- function(G, ctx) {
  old <- blas_one_thread(ctx)
  on.exit(blas_restore(old))
  .scan_chunk(ctx$U, ctx$d, ctx$W, ctx$UtW, ctx$Uty, G, ctx)
}

# Threads per task: the user's setting (see default_threads()), else all available
# cores when the tasks run one after another (a sequential future plan), one when
# the plan runs them in parallel workers.
scan_threads <- function(threads) {
  if (!is.null(threads)) return(as.integer(threads))  # checked by lmm_scan()
  default_threads(if (future::nbrOfWorkers() > 1) 1L else max(1L, as.integer(future::availableCores())),
                  "lmm_scan")
}

# y, X, K, ids (and possibly a decomposition) from the accepted null models
scan_null_data <- function(null_fit) {
  if (inherits(null_fit, "lemma_fit")) {
    terms <- names(null_fit$relmat)
    if (length(terms) != 1L)
      stop("lmm_scan() needs a null model with exactly one relationship-matrix ",
           "term; this one has ", length(terms), call. = FALSE)
    if (length(null_fit$flist) != 1L)
      stop("lmm_scan() needs a null model whose only random-effect term is the ",
           "relationship-matrix term; this one has ", length(null_fit$flist),
           " grouping factors", call. = FALSE)
    f <- null_fit$flist[[terms]]
    if (is.null(f))
      stop("grouping factor '", terms, "' of the relationship matrix not found ",
           "in the fit", call. = FALSE)
    ids <- as.character(f)
    if (anyDuplicated(ids))
      stop("lmm_scan() needs one observation per level of '", terms, "'",
           call. = FALSE)
    K <- as.matrix(null_fit$relmat[[terms]])
    miss_ids <- setdiff(ids, rownames(K))
    if (length(miss_ids))
      stop("levels of '", terms, "' missing from the relationship matrix: ",
           paste(utils::head(miss_ids, 3), collapse = ", "), call. = FALSE)
    X <- as.matrix(null_fit$X)
    storage.mode(X) <- "double"
    reuse <- scan_reuse_spectral(null_fit, ids, X)
    if (!is.null(reuse)) return(reuse)
    return(list(y = as.numeric(null_fit$y), X = X,
                K = K[ids, ids, drop = FALSE], ids = ids, eigen = NULL))
  }
  if (inherits(null_fit, "lemma_spectral")) {
    return(list(y = null_fit$y, X = null_fit$X, K = NULL, ids = null_fit$ids,
                eigen = if (isTRUE(null_fit$eigen$center)) null_fit$eigen else
                  stop("the spectral fit was made with center = FALSE; refit ",
                       "with center = TRUE or pass list(y, X, K)", call. = FALSE)))
  }
  if (is.list(null_fit) && all(c("y", "X", "K") %in% names(null_fit))) {
    if (!is.numeric(null_fit$y) && !all(is.na(null_fit$y)))
      stop(sprintf("lmm_scan(): the phenotype null_fit$y must be numeric (it is %s)", class(null_fit$y)[1]),
           call. = FALSE)
    y <- as.numeric(null_fit$y)
    if (any(is.infinite(y)))
      stop("lmm_scan(): the phenotype null_fit$y has infinite values", call. = FALSE)
    X <- as.matrix(null_fit$X)
    if (!is.numeric(X))
      stop("lmm_scan(): the covariates null_fit$X must be a numeric matrix", call. = FALSE)
    storage.mode(X) <- "double"
    K <- check_matrix(null_fit$K, "null_fit$K", "lmm_scan", square = TRUE)
    ids <- null_fit$ids %||% rownames(K)
    n <- length(y)
    if (nrow(X) != n || nrow(K) != n || ncol(K) != n)
      stop("y, X and K must have matching dimensions", call. = FALSE)
    if (!is.null(ids) && length(ids) != n)
      stop("'ids' must have length(y) elements", call. = FALSE)
    drop <- is.na(y) | rowSums(is.na(X)) > 0
    rows <- which(!drop)
    if (any(drop)) {
      message("lmm_scan(): ", sum(drop), " individual(s) with missing phenotype ",
              "or covariates dropped")
      y <- y[!drop]
      X <- X[!drop, , drop = FALSE]
      K <- K[!drop, !drop, drop = FALSE]
      if (!is.null(ids)) ids <- ids[!drop]
    }
    if (length(y) && all(y == y[1L]))
      stop(sprintf("lmm_scan(): the phenotype null_fit$y is constant (all %s): there is nothing to test",
                   format(y[1L])), call. = FALSE)
    if (qr(X)$rank < ncol(X))
      stop("lmm_scan(): the covariates null_fit$X are linearly dependent (rank deficient)", call. = FALSE)
    return(list(y = y, X = X, K = K, ids = ids, eigen = NULL, rows = rows,
                n_orig = n))
  }
  stop("'null_fit' must be an lmm() fit with one relationship matrix, a ",
       "spectral_fit() result, or a list with y, X, K", call. = FALSE)
}

# The decomposition of an lmm() fit on the spectral path, for the scan: K's
# eigenvectors over the levels, with y (less any offset) and X in level
# order. GEMMA double-centres K; that is a no-op (and the fit's decomposition
# is the scan's) when K's rows sum to zero, as for any grm() result. Else NULL,
# and the scan decomposes the centred K itself.
scan_reuse_spectral <- function(fit, ids, X) {
  s <- fit$spectral
  if (is.null(s) || is.null(s$U)) return(NULL)
  # K 1 = U D U'1, without forming K
  rs <- drop(s$U %*% (s$d * drop(crossprod(s$U, rep(1, length(s$d))))))
  if (max(abs(rs)) > 1e-12 * length(s$d) * max(s$d, 1e-300)) return(NULL)
  ord <- s$ord
  y <- as.numeric(fit$y - (fit$offset %||% 0))
  list(y = y[ord], X = X[ord, , drop = FALSE], K = NULL, ids = ids[ord],
       eigen = list(values = s$d, vectors = s$U, center = TRUE))
}

scan_assemble <- function(res, info, ctx, null_ml, n, n_cvt, test, method,
                          null_reml) {
  status <- res[, 1]
  df <- n - n_cvt - 1
  reasons <- c("missingness > miss", "allele frequency < maf or > 1 - maf",
               "fewer than two genotype classes", "r2 with covariates > r2")
  dropped <- status %in% 1:4
  if (any(dropped)) {
    tab <- table(factor(status[dropped], levels = 1:4, labels = reasons))
    tab <- tab[tab > 0]
    message("lmm_scan(): ", sum(dropped), " SNP(s) not tested: ",
            paste(sprintf("%d %s", tab, names(tab)), collapse = "; "))
  }
  failed <- status == 5
  if (any(failed))
    warning(sum(failed), " SNP(s) where the variance-ratio search failed have ",
            "NA statistics: ", paste(utils::head(info$snp[failed], 10), collapse = ", "),
            call. = FALSE)
  keep <- !dropped
  r <- res[keep, , drop = FALSE]
  out <- data.frame(snp = info$snp[keep], chr = info$chr[keep],
                    pos = info$pos[keep], allele1 = info$allele1[keep],
                    allele0 = info$allele0[keep], n_miss = as.integer(r[, 2]),
                    af = r[, 3], beta = r[, 4], se = r[, 5],
                    stringsAsFactors = FALSE)
  if (ctx$do_lrt) out$logl_H1 <- r[, 6]
  if (ctx$do_wald) out$l_remle <- r[, 7]
  if (ctx$do_lrt) out$l_mle <- r[, 8]
  if (ctx$do_wald) out$p_wald <- stats::pf(r[, 9], 1, df, lower.tail = FALSE)
  if (ctx$do_lrt)
    out$p_lrt <- stats::pchisq(pmax(2 * (r[, 6] - null_ml$logl), 0), 1,
                               lower.tail = FALSE)
  if (ctx$do_score) out$p_score <- stats::pf(r[, 10], 1, df, lower.tail = FALSE)
  rownames(out) <- NULL
  attr(out, "lambda_null_reml") <- null_reml$lambda
  attr(out, "lambda_null_ml") <- null_ml$lambda
  attr(out, "logl_H0") <- null_ml$logl
  attr(out, "n") <- n
  attr(out, "n_cvt") <- n_cvt
  # SNPs rotated again in double precision after the single-precision pass
  attr(out, "n_double") <- if (isTRUE(ctx$mixed)) sum(r[, 12] == 1, na.rm = TRUE) else nrow(out)
  attr(out, "test") <- test
  attr(out, "method") <- method
  class(out) <- c("lemma_scan", "data.frame")
  out
}

#' @export
print.lemma_scan <- function(x, n = 6L, ...) {
  cat("lemma scan:", nrow(x), "SNPs,", attr(x, "n"), "individuals,",
      attr(x, "n_cvt"), "covariates; test =", attr(x, "test"), ", method =",
      attr(x, "method"), "\n")
  has_p <- any(c("p_wald", "p_lrt", "p_score") %in% names(x))
  cat("null lambda (REML) =", format(attr(x, "lambda_null_reml"), digits = 6))
  gc <- scan_lambda_gc(x)
  if (has_p && nrow(x) > 0 && !is.na(gc))
    cat("; lambda_GC =", format(gc, digits = 4),
        if (!is.null(attr(x, "lambda_gc"))) "(genome-wide, from the full scan)")
  cat("\n")
  print(utils::head(as.data.frame(x), n), ...)
  invisible(x)
}

scan_attrs <- c("lambda_null_reml", "lambda_null_ml", "logl_H0", "n", "n_cvt",
                "test", "method")

# A subset of a scan keeps the genome-wide inflation factors of the full scan
# (attribute "lambda_gc", one per p-value column): lambda_GC of a subset of SNPs,
# e.g. the top hits, is not the inflation of the scan.
#' @export
`[.lemma_scan` <- function(x, ...) {
  gc <- attr(x, "lambda_gc") %||% scan_gc_all(x)
  out <- NextMethod()
  if (!is.data.frame(out)) return(out)
  for (a in scan_attrs) attr(out, a) <- attr(x, a)
  attr(out, "lambda_gc") <- gc
  if (!inherits(out, "lemma_scan")) class(out) <- c("lemma_scan", class(out))
  out
}

# Inflation factors of every p-value column of a full scan.
scan_gc_all <- function(x) {
  cols <- intersect(c("p_wald", "p_lrt", "p_score"), names(x))
  stats::setNames(vapply(cols, function(cl) inflation_factor(x[[cl]]), numeric(1)),
                  sub("^p_", "", cols))
}

# The genome-wide inflation factor of one test: stored by `[` for a subset,
# computed for a full scan.
scan_lambda_gc <- function(x, test = NULL) {
  gc <- attr(x, "lambda_gc")
  if (is.null(gc)) return(inflation_factor(scan_pvalues(x, test)))
  cols <- intersect(c("p_wald", "p_lrt", "p_score"), names(x))
  if (!is.null(test)) cols <- intersect(paste0("p_", test), cols)
  if (!length(cols)) stop("no p-value column in the scan", call. = FALSE)
  unname(gc[sub("^p_", "", cols[1])])
}

#' @export
as.data.frame.lemma_scan <- function(x, ...) {
  class(x) <- "data.frame"
  x
}

#' Genomic inflation factor
#'
#' \eqn{\lambda_{GC}}: the median of the 1-df chi-square statistics that
#' correspond to the p-values, divided by the median of the chi-square(1)
#' distribution (0.4549).
#'
#' @param p numeric vector of p-values (`NA` removed).
#' @return A number; near 1 when the test statistics are well calibrated.
#' @examples
#' inflation_factor(runif(1e4))
#' inflation_factor(pchisq(1.5 * rchisq(1e4, 1), 1, lower.tail = FALSE))
#' @export
inflation_factor <- function(p) {
  if (!is.numeric(p)) stop("inflation_factor(): 'p' must be a numeric vector of p-values", call. = FALSE)
  p <- p[!is.na(p)]
  if (!length(p)) return(NA_real_)
  if (any(p < 0 | p > 1)) stop("inflation_factor(): 'p' has values outside [0, 1]; it must hold p-values", call. = FALSE)
  stats::median(stats::qchisq(p, 1, lower.tail = FALSE)) / stats::qchisq(0.5, 1)
}

scan_pvalues <- function(x, which = NULL) {
  cols <- intersect(c("p_wald", "p_lrt", "p_score"), names(x))
  if (!is.null(which)) cols <- intersect(paste0("p_", which), cols)
  if (!length(cols)) stop("no p-value column in the scan", call. = FALSE)
  x[[cols[1]]]
}
