# Internal rescaling of theta for random-effect columns on extreme scales.
#
# If the columns of a term's model matrix are Z_k = Z~_k S with S = diag(s), s > 0
# (Z~_k on unit scale), then Z_k Lambda_k = Z~_k Lambda~_k with Lambda~_k = S Lambda_k:
# row i of the lower-triangular factor is multiplied by s_i, which keeps it lower
# triangular with the same signs on the diagonal (the same holds for a relmat term,
# lambda_k (x) C, since S acts on lambda_k alone). The criterion is therefore the same
# function of theta~ = s_row * theta, with the same bounds, and its minimum maps
# exactly. A slope on a covariate of scale 1e6 has its optimum near theta = 1e-6,
# where BOBYQA's radii (0.2 down to 1e-3) and the Newton and boundary steps (1e-4 to
# 1e-2) are meaningless; in theta~ the optimum is of order 1 again. Only columns whose
# root mean square lies outside theta_scale_range are rescaled, so that models on
# ordinary scales are optimized exactly as before.

theta_scale_range <- c(1e-2, 1e2)

# Columns whose largest |value| lies outside [1e-150, 1e150] are refused: their
# squares, summed over the rows, leave the range of doubles (about 1e-308 to 1e308),
# so the cross-products would overflow or vanish. Within it, fits agree with the
# well-scaled model to ~1e-13 (tests/testthat/test-scale.R).
check_column_range <- function(M, what, names = colnames(M)) {
  if (!length(M)) return(invisible())
  if (is.double(M)) {
    v <- .value_summary(M)  # one pass: non-finite count, largest and smallest nonzero |x|
    if (v[2L] <= 1e150 && v[3L] >= 1e-150) return(invisible())
  }
  A <- abs(as.matrix(M))
  # per-column maxima only when a value is out of range (this runs on every fit)
  if (!any(A > 1e150 | (A > 0 & A < 1e-150), na.rm = TRUE)) return(invisible())
  big <- apply(A, 2L, max)
  bad <- big > 1e150 | (big > 0 & big < 1e-150)
  if (any(bad)) {
    nm <- if (is.null(names)) paste0("column ", which(bad)) else sprintf("'%s'", names[bad])
    stop(sprintf("%s: %s on a scale (largest |value| %s) outside what double-precision cross-products hold (1e-150 to 1e150); rescale it",
                 what, paste(nm, collapse = ", "), paste(format(big[bad], digits = 3), collapse = ", ")),
         call. = FALSE)
  }
  invisible()
}

# For each element of theta, the scale of the row of its term's factor: the root mean
# square of that model-matrix column when it lies outside theta_scale_range, else 1.
theta_scale <- function(terms, ntheta) {
  s <- rep(1, ntheta)
  for (tm in terms) {
    p <- length(tm$cnms)
    rms <- sqrt(colMeans(tm$X^2))
    sc <- ifelse(is.finite(rms) & rms > 0 & (rms < theta_scale_range[1] | rms > theta_scale_range[2]), rms, 1)
    s[tm$theta_index] <- sc[row(diag(p))[lower.tri(diag(p), diag = TRUE)]]
  }
  s
}

# The scale of a fit or frame's reterms (1 for objects made before it was recorded).
reterms_theta_scale <- function(reterms) {
  s <- reterms$theta_scale
  if (is.null(s)) rep(1, length(reterms$theta)) else s
}

# lmm_optimize() on theta~ when some scale differs from 1: the criterion is evaluated
# at theta~ / s, the start is the frame's theta mapped to theta~, and the result
# (par and gradient) is mapped back, so every caller sees the original
# parametrization. The convergence checks are those of the scaled problem (lme4
# checks its own parametrization likewise). Returns NULL when nothing is rescaled.
optimize_scaled <- function(devfun, control) {
  env <- environment(devfun)
  frame <- env$frame
  s <- frame$reterms$theta_scale
  if (is.null(s) || all(s == 1)) return(NULL)
  inner <- frame
  inner$reterms$theta <- frame$reterms$theta * s
  inner$reterms$theta_scale <- NULL  # the inner call optimizes theta~ as it is
  # lmm_optimize() reads the frame (start, bounds, layout) from the function's environment.
  scaled <- local(function(theta) devfun(theta / s),
                  list2env(list(devfun = devfun, s = s, frame = inner), parent = baseenv()))
  res <- lmm_optimize(scaled, control)
  res$par <- stats::setNames(res$par / s, names(res$par))
  res$gradient <- res$gradient * s
  res
}
