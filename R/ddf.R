# Satterthwaite degrees of freedom and the shared derivative machinery.
#
# lmerTest's definitions, computed exactly: the variance parameters are
# varpar = (theta, sigma); cov(beta-hat) = C(varpar) = sigma^2 (X'V^{-1}X)^{-1}
# with V = I + Z Lambda Lambda' Z' (weighted scale); the asymptotic covariance of
# varpar is A = 2 H^{-1} (Moore-Penrose, eigenvalues below 1e-8 dropped), H the
# Hessian of the deviance that is profiled over beta but not over sigma,
#   dev(theta, sigma) = log|M| + pwrss(theta) / sigma^2 + n log(2 pi sigma^2)
#                       [ + log|R_X|^2 - p log(2 pi sigma^2)  for REML ].
# The derivatives of C in theta are exact: dC/dtheta_i = -sigma^2 P^{-1} dP_i P^{-1}
# with dP_i = -U' D_i U, U = Z'V^{-1}X computed by the C++ core with p + 1 blocked
# solves (src/derivatives.cpp). The gradient of dev is exact (C++: U, dQ and the
# gradient of log|M|); H is the central finite difference of that exact gradient
# in theta (the sigma rows and columns are exact closed forms).

# A mutable per-fit cache (the fit's model_env is an environment).
inference_cache <- function(fit) {
  env <- fit$model_env
  if (is.null(env)) return(new.env(parent = emptyenv()))
  if (is.null(env$inference)) env$inference <- new.env(parent = emptyenv())
  env$inference
}

# Exact gradient of dev(theta, sigma) and the pieces at theta.
# Returns list(grad (theta part, then sigma), dQ, beta, P, pwrss, ...).
varpar_gradient <- function(fit, theta, sigma, ptr = model_ptr(fit)) {
  d <- .model_theta_derivs(ptr, as.numeric(theta), TRUE)
  n <- length(fit$y)
  p <- ncol(fit$X)
  nth <- length(theta)
  P <- tcrossprod(d$RX)
  Pinv <- chol2inv(t(d$RX))
  bb <- c(-d$beta, 1)
  dQ <- d$dQ
  p1 <- p + 1L
  dpw <- numeric(nth)
  dldrx <- numeric(nth)
  for (i in seq_len(nth)) {
    Qi <- dQ[, (i - 1L) * p1 + seq_len(p1), drop = FALSE]
    dpw[i] <- sum(bb * (Qi %*% bb))
    dldrx[i] <- sum(Pinv * Qi[seq_len(p), seq_len(p)])
  }
  nmp <- if (isTRUE(fit$REML)) n - p else n
  g_theta <- d$dldL2 + dpw / sigma^2 + if (isTRUE(fit$REML)) dldrx else 0
  g_sigma <- -2 * d$pwrss / sigma^3 + 2 * nmp / sigma
  list(grad = c(g_theta, g_sigma), dpwrss = dpw, dQ = dQ, P = P, Pinv = Pinv, beta = d$beta,
       pwrss = d$pwrss, nmp = nmp)
}

#' Derivative machinery of a fit (internal)
#'
#' The covariance of the fixed effects, its exact Jacobian with respect to
#' (theta * theta_scale, sigma), and the asymptotic covariance of those from the Hessian
#' of the deviance, as lmerTest defines them. Cached in the fit.
#'
#' @param fit an `lmm` fit.
#' @return A list with `vcov`, `Jac` (list of p x p matrices, one per variance
#'   parameter), `vcov_varpar`, `hessian`.
#' @keywords internal
#' @noRd
satterthwaite_parts <- function(fit) {
  if (inherits(fit, "lemma_covfit")) return(covstruct_satterthwaite_parts(fit))
  cache <- inference_cache(fit)
  if (!is.null(cache$satt)) return(cache$satt)
  ptr <- model_ptr(fit)
  theta <- as.numeric(fit$theta)
  sigma <- fit$sigma
  nth <- length(theta)
  p <- ncol(fit$X)
  g0 <- varpar_gradient(fit, theta, sigma, ptr)
  # Steps, Hessian and Jacobian are taken in the optimizer's parametrization,
  # theta * s (R/scaling.R): a slope on a covariate of scale 1e6 has theta near 1e-6,
  # where a step of 1e-5 and the absolute eigenvalue tolerance below mean nothing.
  # The df 2 (l'Cl)^2 / (g'Ag) does not depend on the parametrization.
  s <- reterms_theta_scale(fit$reterms)
  # Hessian: theta block by central differences of the exact gradient.
  H <- matrix(0, nth + 1L, nth + 1L)
  for (j in seq_len(nth)) {
    h <- 1e-4 * max(abs(theta[j] * s[j]), 0.1) / s[j]
    tp <- theta; tp[j] <- tp[j] + h
    tm <- theta; tm[j] <- tm[j] - h
    gp <- varpar_gradient(fit, tp, sigma, ptr)$grad
    gm <- varpar_gradient(fit, tm, sigma, ptr)$grad
    H[seq_len(nth), j] <- (gp - gm)[seq_len(nth)] / (2 * h)
  }
  # restore the factor at the estimate
  invisible(.model_theta_derivs(ptr, theta, FALSE))
  H[seq_len(nth), seq_len(nth)] <- (H[seq_len(nth), seq_len(nth)] + t(H[seq_len(nth), seq_len(nth)])) / 2
  H[nth + 1L, seq_len(nth)] <- H[seq_len(nth), nth + 1L] <- -2 * g0$dpwrss / sigma^3
  H[nth + 1L, nth + 1L] <- 6 * g0$pwrss / sigma^4 - 2 * g0$nmp / sigma^2
  H <- H / outer(c(s, 1), c(s, 1))
  eh <- eigen(H, symmetric = TRUE)
  tol <- 1e-8
  if (any(eh$values < -tol))
    warning(sprintf("the Hessian of the deviance has %d negative eigenvalue(s): %s", sum(eh$values < -tol),
                    paste(sprintf("%.1e", eh$values[eh$values < -tol]), collapse = " ")), call. = FALSE)
  pos <- eh$values > tol
  Hinv <- eh$vectors[, pos, drop = FALSE] %*% (t(eh$vectors[, pos, drop = FALSE]) / eh$values[pos])
  Pinv <- g0$Pinv
  Jac <- vector("list", nth + 1L)
  for (i in seq_len(nth)) {
    dP <- g0$dQ[seq_len(p), (i - 1L) * (p + 1L) + seq_len(p), drop = FALSE]
    Jac[[i]] <- -sigma^2 * Pinv %*% dP %*% Pinv / s[i]
  }
  Jac[[nth + 1L]] <- 2 * sigma * Pinv
  V <- sigma^2 * Pinv
  dimnames(V) <- list(colnames(fit$X), colnames(fit$X))
  out <- list(vcov = V, Jac = Jac, vcov_varpar = 2 * Hinv, hessian = H)
  cache$satt <- out
  out
}

# Satterthwaite df of the 1-d contrast l: 2 (l'Cl)^2 / (g'Ag).
satterthwaite_df1 <- function(parts, l) {
  l <- as.numeric(l)
  v <- sum(l * (parts$vcov %*% l))
  g <- vapply(parts$Jac, function(J) sum(l * (J %*% l)), numeric(1))
  den <- sum(g * (parts$vcov_varpar %*% g))
  2 * v^2 / den
}

# lmerTest's combination of the q 1-d df into the F denominator df.
fstat_ddf <- function(nu, tol = 1e-8) {
  if (length(nu) == 1L) return(nu)
  if (all(abs(diff(nu)) < tol)) return(mean(nu))
  if (any(nu <= 2)) return(2)
  E <- sum(nu / (nu - 2))
  2 * E / (E - length(nu))
}

check_ddf_fit <- function(fit, ddf) {
  if (ddf == "Kenward-Roger" && !isTRUE(fit$REML))
    stop("Kenward-Roger's method is only available for REML fits", call. = FALSE)
  invisible()
}

# check_choice() for 'ddf', case-insensitive and with lmerTest's short names.
match_ddf <- function(ddf, none = TRUE, fn = "anova") {
  choices <- c("Satterthwaite", "Kenward-Roger", if (none) c("none", "lme4"))
  if (is.character(ddf) && length(ddf) > 1L) ddf <- ddf[1L]
  if (is.character(ddf) && length(ddf) == 1L && !is.na(ddf) &&
      tolower(ddf) %in% c("kr", "kenward", "kenwardroger")) return("Kenward-Roger")
  i <- if (is.character(ddf) && length(ddf) == 1L && !is.na(ddf)) pmatch(tolower(ddf), tolower(choices)) else NA
  if (is.na(i)) check_choice(ddf, choices, "ddf", fn)
  out <- choices[i]
  if (out == "lme4") out <- "none"
  out
}

#' Coefficient table with small-sample degrees of freedom
#'
#' The table `summary(fit, ddf = )` shows: estimates, standard errors, degrees of
#' freedom, t values and p-values, as lmerTest's `summary()`. Satterthwaite's df use
#' exact derivatives of cov(beta-hat) from the C++ core; Kenward-Roger's use the
#' adjusted covariance (SEs from it) and pbkrtest's df.
#'
#' @param fit an `lmm` fit.
#' @param ddf `"Satterthwaite"` (default), `"Kenward-Roger"`, or `"lme4"` (also
#'   `"none"`; no df: Estimate, Std. Error, t value).
#' @return A matrix with columns Estimate, Std. Error, df, t value, Pr(>|t|).
#' @examples
#' fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
#' fixef_table(fit)
#' fixef_table(fit, "Kenward-Roger")
#' @export
fixef_table <- function(fit, ddf = c("Satterthwaite", "Kenward-Roger", "lme4", "none")) {
  check_fit(fit, "fixef_table")
  ddf <- match_ddf(ddf, fn = "fixef_table")
  check_ddf_fit(fit, ddf)
  beta <- fit$beta
  p <- length(beta)
  nm <- names(beta)
  if (p == 0L) {
    cols <- c("Estimate", "Std. Error", if (ddf != "none") "df", "t value", if (ddf != "none") "Pr(>|t|)")
    return(matrix(numeric(0), 0L, length(cols), dimnames = list(NULL, cols)))
  }
  if (ddf == "none") {
    se <- sqrt(diag(vcov_beta(fit)))
    out <- cbind(Estimate = unname(beta), `Std. Error` = se, `t value` = unname(beta) / se)
    rownames(out) <- nm
    return(out)
  }
  if (ddf == "Satterthwaite") {
    parts <- satterthwaite_parts(fit)
    se <- sqrt(diag(parts$vcov))
    df <- vapply(seq_len(p), function(i) satterthwaite_df1(parts, diag(p)[i, ]), numeric(1))
  } else {
    kr <- kenward_roger_parts(fit)
    se <- sqrt(diag(kr$PhiA))
    df <- vapply(seq_len(p), function(i) kr_adjust(kr, diag(p)[i, , drop = FALSE])$ddf, numeric(1))
  }
  tval <- unname(beta) / se
  out <- cbind(Estimate = unname(beta), `Std. Error` = unname(se), df = df, `t value` = tval,
               `Pr(>|t|)` = 2 * stats::pt(abs(tval), df, lower.tail = FALSE))
  rownames(out) <- nm
  out
}
