#' Spectral decomposition of a relationship matrix (internal)
#'
#' @param K symmetric relationship matrix.
#' @param center double-centre K first (K - row means - column means + grand
#'   mean), as GEMMA does before its eigendecomposition.
#' @param tol eigenvalues below `tol` are set to zero (GEMMA: 1e-10).
#' @return list(values, vectors, center).
#' @keywords internal
#' @noRd
spectral_decomp <- function(K, center = FALSE, tol = 1e-10) {
  K <- as.matrix(K)
  if (!is.numeric(K) || nrow(K) != ncol(K))
    stop("the relationship matrix must be a square numeric matrix", call. = FALSE)
  if (anyNA(K)) stop("the relationship matrix contains missing values", call. = FALSE)
  if (storage.mode(K) != "double") storage.mode(K) <- "double"
  # symmetry check and double-centring in C++, without n x n temporaries
  e <- tryCatch(.sym_eigen(K, isTRUE(center), 1e-8),
                error = function(err) stop(conditionMessage(err), call. = FALSE))
  spectral_values(e, center, tol)
}

# The eigenvalues as the spectral likelihood takes them (from .sym_eigen(),
# here or where the relationship factor was made): a warning for clearly
# negative ones, and those below `tol` set to zero.
spectral_values <- function(e, center, tol = 1e-10) {
  vals <- e$values
  if (length(vals) && min(vals) < -1e-6 * max(1, max(abs(vals))))
    warning("the relationship matrix has negative eigenvalues (min ",
            signif(min(vals), 3), "); they are set to zero", call. = FALSE)
  vals[vals < tol] <- 0
  list(values = vals, vectors = e$vectors, center = center)
}

#' Fit a one-relationship-matrix mixed model by the spectral method (internal)
#'
#' Fits \eqn{y = X\beta + g + e}, \eqn{g \sim N(0, \sigma_g^2 K)},
#' \eqn{e \sim N(0, \sigma_e^2 I)}, one observation per individual, as GEMMA
#' does: K is eigendecomposed once (\eqn{K = U D U'}), y and X are rotated by
#' U', and \eqn{\lambda = \sigma_g^2/\sigma_e^2} maximizes the profiled REML or
#' ML log-likelihood, each evaluation costing O(n). The search covers
#' `lambda_range` split into `n_region` log-spaced regions; in each region
#' where the derivative changes sign from + to -, the root is found by
#' safeguarded Newton steps, and the best of these and the two ends is kept.
#'
#' This is the engine that `lmm()` uses when the model has exactly one term
#' with a relationship matrix and one observation per level.
#'
#' @param y numeric response (no missing values).
#' @param X fixed-effect model matrix (n x p, full column rank).
#' @param K relationship matrix (n x n), in the order of `y`; or the result of
#'   a previous fit (its `eigen` component is reused).
#' @param REML logical: REML (default) or ML.
#' @param center double-centre K first as GEMMA does. The default `FALSE` fits
#'   the model as written; `TRUE` reproduces GEMMA's null-model numbers. With an
#'   intercept in X the REML fit is the same either way.
#' @param eigen optional precomputed decomposition (list with `values`,
#'   `vectors`), e.g. `fit$eigen` from an earlier call.
#' @param lambda_range,n_region the search interval and its number of regions.
#' @return A list of class `"lemma_spectral"`: `lambda`, `beta`, `se`, `vcov`,
#'   `sigma2_e`, `sigma2_g`, `logLik` (lme4's convention: the REML version
#'   does not include \eqn{\log|X'X|/2}), `logl_gemma` (GEMMA's convention),
#'   `REML`, `n`, `p`, `eigen` (values, vectors, center), `y`, `X`, `ids`.
#' @keywords internal
#' @examples
#' g <- read_plink(system.file("extdata", "example.bed", package = "lemma"))
#' K <- grm(g)
#' ok <- !is.na(g$fam$pheno)
#' fit <- lemma:::spectral_fit(g$fam$pheno[ok], cbind(1, g$fam$sex[ok]),
#'                             K[ok, ok])
#' fit$lambda
spectral_fit <- function(y, X, K, REML = TRUE, center = FALSE, eigen = NULL,
                         lambda_range = c(1e-5, 1e5), n_region = 10L) {
  y <- as.numeric(y)
  X <- as.matrix(X)
  storage.mode(X) <- "double"
  n <- length(y)
  if (nrow(X) != n) stop("nrow(X) must equal length(y)", call. = FALSE)
  if (anyNA(y) || anyNA(X)) stop("y and X must not contain missing values", call. = FALSE)
  ids <- NULL
  if (is.null(eigen)) {
    if (inherits(K, "lemma_spectral")) {
      eigen <- K$eigen
      ids <- K$ids
    } else {
      if (!all(dim(K) == n)) stop("K must be n x n with n = length(y)", call. = FALSE)
      ids <- rownames(K)
      eigen <- spectral_decomp(K, center = center)
    }
  }
  U <- eigen$vectors
  d <- eigen$values
  if (length(d) != n) stop("the decomposition does not match length(y)", call. = FALSE)
  qrX <- qr(X)
  if (qrX$rank < ncol(X)) stop("X is rank deficient", call. = FALSE)
  UtX <- crossprod(U, X)
  Uty <- drop(crossprod(U, y))
  res <- .spectral_null(d, UtX, Uty, REML, lambda_range[1], lambda_range[2],
                        as.integer(n_region))
  p <- ncol(X)
  df <- if (REML) n - p else n
  sigma2_e <- res$Pyy / df
  beta <- drop(res$beta)
  names(beta) <- colnames(X)
  vc <- res$C * sigma2_e
  dimnames(vc) <- list(colnames(X), colnames(X))
  logLik <- if (REML) res$logl - 0.5 * res$logdetXtX else res$logl
  structure(list(lambda = res$lambda, beta = beta, se = sqrt(diag(vc)),
                 vcov = vc, sigma2_e = sigma2_e,
                 sigma2_g = res$lambda * sigma2_e, logLik = logLik,
                 logl_gemma = res$logl, REML = REML, n = n, p = p,
                 eigen = eigen, y = y, X = X, ids = ids),
            class = "lemma_spectral")
}

#' @export
print.lemma_spectral <- function(x, ...) {
  cat("Spectral", if (x$REML) "REML" else "ML", "fit: n =", x$n, "\n")
  cat("  lambda = sigma2_g / sigma2_e =", format(x$lambda, digits = 6), "\n")
  cat("  sigma2_g =", format(x$sigma2_g, digits = 6), " sigma2_e =",
      format(x$sigma2_e, digits = 6), " logLik =", format(x$logLik, digits = 8), "\n")
  print(cbind(Estimate = x$beta, `Std. Error` = x$se))
  invisible(x)
}
