# Extra starts for models whose criterion has separate basins far from the boundary.
#
# When a direction of the data that a random-effect term can fit (its model-matrix
# columns) lies outside the span of the fixed effects, that term must carry the
# direction's mean through a large variance (a model without a fixed intercept puts
# the mean of y into a random intercept). When two or more terms can carry it, each
# choice is a basin of its own, separated by a ridge where neither term is large;
# the boundary probes of lmm_optimize() are local and do not cross it. This is the
# fuzzer's `y ~ x:a + (x | b) + (b || h/g) - 1`: from the usual start the optimizer
# puts the mean into the intercept of h (REML criterion 287.44), while the intercept
# of b reaches 275.07. So, only for such models, after the usual fit each other
# candidate term is started as the carrier (its diagonal at the largest diagonal of
# the first solution, the other terms at the identity), and the lowest fit is kept.
# Models whose fixed effects span every random-effect column (the common case: an
# intercept and the slopes' covariates among the fixed effects) get no extra start.

# The terms (indices) with a model-matrix column outside the span of the fixed
# effects, relative residual above 1e-6.
mean_carrier_terms <- function(frame) {
  X <- frame$X
  # An intercept column is in the span when the fixed effects have one: so
  # intercept-only terms (the large crossed models) need no QR of X.
  x_int <- "(Intercept)" %in% colnames(X)
  qx <- NULL
  out <- integer(0)
  for (k in seq_along(frame$reterms$terms)) {
    Zk <- frame$reterms$terms[[k]]$X
    cn <- frame$reterms$terms[[k]]$cnms
    if (x_int) {
      Zk <- Zk[, cn != "(Intercept)", drop = FALSE]
      cn <- cn[cn != "(Intercept)"]
    }
    # a column that is a column of X (`(x | g)` with x among the fixed effects) is
    # in the span without a QR
    same <- vapply(seq_along(cn), function(j) cn[j] %in% colnames(X) && identical(Zk[, j], unname(X[, cn[j]])),
                   logical(1))
    Zk <- Zk[, !same, drop = FALSE]
    if (!ncol(Zk)) next
    if (is.null(qx) && ncol(X)) qx <- qr(X)
    R <- if (is.null(qx)) Zk else qr.resid(qx, Zk)
    if (any(sqrt(colSums(R^2)) > 1e-6 * pmax(sqrt(colSums(Zk^2)), 1e-300))) out <- c(out, k)
  }
  out
}

# lmm_optimize() with the extra starts when two or more terms can carry a mean, else
# NULL. The convergence warnings of the fit kept are given, the others dropped.
optimize_multistart <- function(devfun, control) {
  if (isTRUE(attr(devfun, "lemma_inner"))) return(NULL)
  frame <- environment(devfun)$frame
  terms <- frame$reterms$terms
  if (length(terms) < 2L || length(frame$reterms$theta) < 2L) return(NULL)
  cand <- mean_carrier_terms(frame)
  if (length(cand) < 2L) return(NULL)
  lower <- frame$reterms$lower
  inner <- function(start) {
    fr <- frame
    fr$reterms$theta <- start
    f <- local(function(theta) devfun(theta), list2env(list(devfun = devfun, frame = fr), parent = baseenv()))
    attr(f, "lemma_inner") <- TRUE
    warned <- character(0)
    res <- withCallingHandlers(lmm_optimize(f, control), warning = function(w) {
      warned <<- c(warned, conditionMessage(w))
      invokeRestart("muffleWarning")
    })
    res$all_warnings <- warned
    res
  }
  theta0 <- frame$reterms$theta
  best <- first <- inner(theta0)
  # the largest diagonal of each term (lower bound 0 marks the diagonals)
  dg <- vapply(terms, function(tm) max(first$par[tm$theta_index][lower[tm$theta_index] == 0]), numeric(1))
  # A carrier has a large variance; when no diagonal exceeds 3 (a random-effect sd of
  # 3 residual sds) none does, and no basin is chosen by a mean.
  big <- max(dg)
  feval <- first$feval
  # Each other candidate starts as the carrier: its factor big * I, the other terms at
  # the identity (on the optimizer's scale). A start that fails is passed over: the
  # first fit stands.
  if (big > 3) for (k in setdiff(cand, which.max(dg))) {
    idx <- terms[[k]]$theta_index
    start <- stats::setNames(as.numeric(lower == 0), names(theta0))
    start[idx] <- start[idx] * big
    alt <- tryCatch(inner(start), error = function(e) NULL)
    if (is.null(alt)) next
    feval <- feval + alt$feval
    if (alt$fval < best$fval - 1e-9) best <- alt
  }
  best$feval <- feval
  for (w in best$all_warnings) warning(w, call. = FALSE)
  best$all_warnings <- NULL
  best
}
