# Tests of linear contrasts of the fixed effects (lmerTest's contest).

#' Test linear contrasts of the fixed effects
#'
#' For a contrast matrix `L` (one row per contrast, one column per coefficient):
#' the joint F test of `L beta = rhs` (`joint = TRUE`), or one t test per row with
#' estimate, standard error, df, t value, confidence interval and p-value, with
#' Satterthwaite's or Kenward-Roger's degrees of freedom, as lmerTest's `contest()`.
#'
#' @param fit an `lmm` fit.
#' @param L a contrast vector or matrix with `length(fixef(fit))` columns.
#' @param ddf `"Satterthwaite"` or `"Kenward-Roger"`.
#' @param joint `TRUE` for the joint F test, `FALSE` for one t test per row.
#' @param confint include confidence intervals in the t tests.
#' @param level their confidence level.
#' @param rhs the right-hand side of the hypothesis (default 0).
#' @param ... unused.
#' @return A data frame: for `joint = TRUE` with columns Sum Sq, Mean Sq, NumDF,
#'   DenDF, F value, Pr(>F); else Estimate, Std. Error, df, t value, lower, upper,
#'   Pr(>|t|).
#' @examples
#' fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
#' contest(fit, c(0, 1))
#' contest(fit, diag(2), ddf = "Kenward-Roger")
#' contest(fit, rbind(c(1, 0), c(1, 5)), joint = FALSE)
#' @export
contest <- function(fit, L, ...) UseMethod("contest")

#' @rdname contest
#' @export
contest.lemma_fit <- function(fit, L, ddf = c("Satterthwaite", "Kenward-Roger"), joint = TRUE,
                        confint = TRUE, level = 0.95, rhs = 0, ...) {
  ddf <- match_ddf(ddf, none = FALSE, fn = "contest")
  check_ddf_fit(fit, ddf)
  fn <- "contest"
  L <- check_matrix(L, "L", fn, ncol = length(fit$beta), vector_ok = TRUE)
  check_flag(joint, "joint", fn)
  check_flag(confint, "confint", fn)
  check_level(level, fn)
  zero <- rowSums(L != 0) == 0
  if (nrow(L) == 0L || all(zero))
    stop("contest(): 'L' is all zero, so it defines no contrast to test", call. = FALSE)
  if (!joint && any(zero))
    stop(sprintf("contest(): row(s) %s of 'L' are all zero, so they define no contrast to test",
                 paste(which(zero), collapse = ", ")), call. = FALSE)
  if (!is.numeric(rhs) || !(length(rhs) %in% c(1L, nrow(L))) || any(!is.finite(rhs)))
    stop(sprintf("contest(): 'rhs' must be a finite number or one per row of 'L' (%d)", nrow(L)), call. = FALSE)
  check_dots_unused(list(...), "contest")
  if (length(rhs) == 1L) rhs <- rep(rhs, nrow(L))
  if (joint && any(rhs != 0)) {
    # With dependent rows of L, rhs must satisfy the same dependencies.
    fitted_rhs <- drop(L %*% (pseudo_inverse(L) %*% rhs))
    if (max(abs(fitted_rhs - rhs)) > 1e-8 * max(1, abs(rhs)))
      stop("contest(): the rows of 'L' are linearly dependent and 'rhs' does not follow the same dependence, so L beta = rhs has no solution",
           call. = FALSE)
  }
  if (joint) return(contest_md(fit, L, ddf, rhs))
  rows <- lapply(seq_len(nrow(L)), function(i) contest_1d(fit, L[i, ], ddf, rhs[i], confint, level))
  out <- do.call(rbind, rows)
  rownames(out) <- if (!is.null(rownames(L))) rownames(L) else NULL
  out
}

contest_1d <- function(fit, l, ddf, rhs = 0, confint = TRUE, level = 0.95) {
  l <- as.numeric(l)
  est <- sum(l * fit$beta)
  if (ddf == "Satterthwaite") {
    parts <- satterthwaite_parts(fit)
    se <- sqrt(sum(l * (parts$vcov %*% l)))
    df <- satterthwaite_df1(parts, l)
  } else {
    kr <- kenward_roger_parts(fit)
    se <- sqrt(sum(l * (kr$PhiA %*% l)))
    df <- kr_adjust(kr, matrix(l, nrow = 1L))$ddf
  }
  tval <- (est - rhs) / se
  pval <- 2 * stats::pt(abs(tval), df, lower.tail = FALSE)
  out <- data.frame(Estimate = est, `Std. Error` = se, df = df, `t value` = tval, check.names = FALSE)
  if (confint) {
    a <- (1 - level) / 2
    qt <- stats::qt(1 - a, df)
    out$lower <- est - qt * se
    out$upper <- est + qt * se
  }
  out$`Pr(>|t|)` <- pval
  out
}

f_table <- function(Fvalue, ndf, ddf, sigma, Fscale = 1) {
  MS <- Fvalue * sigma^2
  Fv <- Fvalue * Fscale
  data.frame(`Sum Sq` = MS * ndf, `Mean Sq` = MS, NumDF = ndf, DenDF = ddf, `F value` = Fv,
             `Pr(>F)` = stats::pf(Fv, ndf, ddf, lower.tail = FALSE), check.names = FALSE)
}

# Joint F test as lmerTest's contestMD (Satterthwaite) or pbkrtest's KRmodcomp.
contest_md <- function(fit, L, ddf, rhs = rep(0, nrow(L)), eps = sqrt(.Machine$double.eps)) {
  beta <- fit$beta
  if (nrow(L) == 0L) { x <- numeric(0); return(f_table(x, x, x, x)) }
  if (any(rhs != 0)) beta <- beta - drop(pseudo_inverse(L) %*% rhs)
  if (ddf == "Kenward-Roger") {
    kr <- kenward_roger_parts(fit)
    # As pbkrtest: a rank-deficient L is replaced by an orthonormal basis of its row
    # space; the test does not depend on which basis.
    Lr <- row_space_basis(L)
    adj <- kr_adjust(kr, Lr)
    Lb <- Lr %*% beta
    Wald <- as.numeric(t(Lb) %*% solve(Lr %*% kr$PhiA %*% t(Lr), Lb))
    return(f_table(Wald / adj$q, adj$q, adj$ddf, fit$sigma, adj$F.scaling))
  }
  parts <- satterthwaite_parts(fit)
  VL <- L %*% parts$vcov %*% t(L)
  e <- eigen(VL, symmetric = TRUE)
  d <- e$values
  tol <- max(eps * d[1L], 0)
  q <- sum(d > tol)
  if (q <= 0) { x <- numeric(0); return(f_table(x, x, x, x)) }
  PtL <- crossprod(e$vectors, L)[seq_len(q), , drop = FALSE]
  if (q == 1L) {
    r <- contest_1d(fit, PtL[1L, ], "Satterthwaite", 0, FALSE)
    tv <- sum(PtL[1L, ] * beta) / r$`Std. Error`
    return(f_table(tv^2, 1L, r$df, fit$sigma))
  }
  t2 <- drop(PtL %*% beta)^2 / d[seq_len(q)]
  nu <- vapply(seq_len(q), function(m) {
    g <- vapply(parts$Jac, function(J) sum(PtL[m, ] * (J %*% PtL[m, ])), numeric(1))
    2 * d[m]^2 / sum(g * (parts$vcov_varpar %*% g))
  }, numeric(1))
  f_table(sum(t2) / q, q, fstat_ddf(nu), fit$sigma)
}

# Rows spanning the row space of L (L itself when its rows are independent).
row_space_basis <- function(L) {
  qx <- qr(t(L))
  if (qx$rank == nrow(L)) return(L)
  t(qr.Q(qx)[, seq_len(qx$rank), drop = FALSE])
}
