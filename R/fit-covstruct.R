# Fitting models with a residual covariance structure (MMRM): the frame, the
# criterion over (theta, covariance parameters), its optimization and the fit.
#
# For given covariance parameters each subject's rows of [Z X y] are whitened by the
# Cholesky factor of their V (src/covstruct.cpp); without random-effect terms the
# criterion is that of generalized least squares, with them the blocked engine runs
# on the whitened data, whose cross-products are rebuilt at each evaluation. The
# criterion adds sum_s log|V_s|, the Jacobian of the whitening; sigma^2 is profiled
# out as in lmm() (V has a fixed scale, see R/covstruct.R).
#
# Optimization without random-effect terms is Fisher scoring (fisher_scoring()):
# each evaluation returns the criterion, its exact gradient and its expected
# information in one pass over the data, and a start at the covariance of OLS
# residuals (us) leaves about 5-8 iterations. With random-effect terms, or if
# scoring fails, nlminb and a finite-difference Newton polish.
#
# Cost of one evaluation, n_s subjects, m visits, p fixed effects, k covariance
# parameters, g groups, n_pat visit patterns:
#   criterion and gradient  O(n_s m^2 p + n_s m p^2 + n_pat m^3): whitening per
#                           subject, X'V^-1 X, and per-subject outer products
#                           summed per pattern (two solves per pattern, not per
#                           subject);
#   + information           O(n_s m^2 p^2 / 2) for the p x p blocks
#                           sum_s H_s[a]' H_s[b] (one symmetric rank update),
#                           O(n_pat m^4) for the per-pattern traces and
#                           O((g m^2)^2 p^2) for the REML cross terms, the last two
#                           free of n_s;
#   R side                  O(k g m^2) for V, its Jacobian and J' F J.
# The information dominates for m p large; everything is linear in n_s. Measured
# by inst/bench/bench-mmrm-scaling.R (2 shared cores, medians of 6 x 10 calls; us on
# y ~ base + arm * visit, so p = 2 m + 1 and k = m (m + 1) / 2 - 1; 9.4% of visits
# missing):
#   n_s   m   p   k   crit+grad   +information   whole evaluation   lmm()   iterations
#    500  4   9   9    0.2 ms       0.5 ms          0.8 ms          0.03 s    8
#   2000  4   9   9    1.2 ms       2.4 ms          2.7 ms          0.05 s    5
#    500  8  17  35    1.1 ms       3.8 ms          4.1 ms          0.06 s    8
#   2000  8  17  35    4.7 ms      13.2 ms         14.2 ms          0.21 s    7
# 4x the subjects: 4x (criterion, gradient) and 3.5-4.5x (information); twice the
# visits (p and k grow with m): 4-5x and 5.5-7.5x. Iterations do not grow with n_s
# (the expected information approaches the observed Hessian).

has_covstruct <- function(formula) {
  if (is.character(formula) && length(formula) == 1L)
    formula <- tryCatch(stats::as.formula(formula), error = function(e) NULL)
  inherits(formula, "formula") && length(find_covstructs(formula[[length(formula)]])) > 0L
}

# lmm() with a covariance term or a dispersion formula (`disp`, from
# dispersion_term()): `mc` is lmm()'s call, evaluated in `env`.
lmm_covstruct <- function(mc, env, REML, control, disp = NULL) {
  what <- if (is.null(disp)) "a residual covariance term" else sprintf("'dispformula' (%s)", disp$text)
  # Prior weights scale rows as the dispersion levels do (V_i = ratio / w_i), so
  # they combine with dispformula; within a covariance term they would not.
  for (a in c(if (is.null(disp)) "weights", "offset", "relmat"))
    if (!is.null(mc[[a]]))
      stop(sprintf("lmm(): '%s' is not yet supported with %s", a, what), call. = FALSE)
  fr <- covstruct_frame(mc, env, disp)
  devfun <- covstruct_devfun(fr, REML)
  opt <- covstruct_optimize(devfun)
  covstruct_object(devfun, opt, mc)
}

# The model frame: rows with a missing value in any variable dropped (na.action),
# the fixed-effects matrix and random-effect terms as lmm_frame() builds them, and
# the subjects, visits and groups of the covariance term. With a dispersion formula
# every row is a subject of its own and its "visit" is its dispersion level.
covstruct_frame <- function(mc, env, disp = NULL) {
  formula <- eval(mc$formula, env)
  if (is.character(formula) && length(formula) == 1L) formula <- stats::as.formula(formula, env = env)
  if (!inherits(formula, "formula") || length(formula) != 3L)
    stop("'formula' must be a two-sided formula", call. = FALSE)
  cs <- covstruct_term(formula)
  if (!is.null(cs) && !is.null(disp))
    stop(sprintf("lmm(): the covariance term %s and 'dispformula' (%s) cannot be combined; for residual variances that differ by %s within a covariance structure, use its group-specific form %s(%s | %s / %s)",
                 cs$text, disp$text, disp$label, cs$type, cs$visit,
                 if (length(disp$vars) == 1L) disp$vars else "group", cs$subject), call. = FALSE)
  if (!is.null(disp)) cs <- list(type = "diag", visit = disp$label, subject = NULL, group = NULL, text = disp$text)
  f0 <- expand_formula(drop_covstruct(formula))
  if ("." %in% all.vars(f0)) stop(sprintf("'.' in the formula is not yet supported with %s",
                                          if (is.null(disp)) "a residual covariance term" else "'dispformula'"), call. = FALSE)
  bars <- random_terms(f0)
  fixed <- fixed_formula(f0)
  vars <- unique(c(all.vars(f0), if (is.null(disp)) c(cs$visit, cs$subject, cs$group) else disp$vars))
  mf <- mc[c(1L, match(c("data", "subset", "na.action", if (!is.null(disp)) "weights"), names(mc), 0L))]
  mf[[1L]] <- quote(stats::model.frame)
  mf$formula <- stats::as.formula(paste("~", paste(sprintf("`%s`", vars), collapse = " + ")), env = environment(formula))
  mf$drop.unused.levels <- TRUE
  frame <- eval(mf, env)
  if (nrow(frame) == 0L) stop("0 (non-NA) cases: no observations are left", call. = FALSE)
  df <- frame
  attr(df, "terms") <- NULL
  w <- stats::model.weights(frame)
  if (!is.null(w)) {
    if (!is.numeric(w) || any(!is.finite(w)) || any(w <= 0))
      stop("'weights' must be positive finite numbers (prior weights)", call. = FALSE)
    df[["(weights)"]] <- NULL
  }
  if (!is.null(disp)) {
    visit <- dispersion_levels(df, disp)
    subject <- seq_len(nrow(df))
    group <- factor(rep("all", nrow(df)))
  } else {
    visit <- df[[cs$visit]]
    if (!is.factor(visit))
      stop(sprintf("the visit variable '%s' of %s must be a factor (it is %s)", cs$visit, cs$text, class(visit)[1]),
           call. = FALSE)
    # As mmrm: visit levels without an observation are dropped, which changes the
    # distances ar1, toep and ad see, so say so.
    all_levels <- tryCatch(levels(eval(mc$data, env)[[cs$visit]]), error = function(e) NULL)
    gone <- setdiff(all_levels, levels(visit))
    if (length(gone))
      message(sprintf("the visit levels %s have no observation in the model's rows and were dropped from %s",
                      paste(sQuote(gone, FALSE), collapse = ", "), cs$text))
    subject <- factor(df[[cs$subject]])
    group <- if (is.null(cs$group)) factor(rep("all", nrow(df))) else df[[cs$group]]
    if (!is.factor(group) && !is.character(group))
      stop(sprintf("the group variable '%s' of %s must be a factor (it is %s)", cs$group, cs$text, class(group)[1]),
           call. = FALSE)
    group <- factor(group)
    dup <- duplicated(data.frame(subject, visit))
    if (any(dup))
      stop(sprintf("subject '%s' has more than one row for visit '%s' in %s: each subject has at most one row per visit",
                   subject[dup][1], visit[dup][1], cs$text), call. = FALSE)
    ng <- tapply(as.integer(group), subject, function(g) length(unique(g)))
    if (any(ng > 1L))
      stop(sprintf("subject '%s' is in more than one group of '%s' in %s", names(ng)[ng > 1L][1], cs$group, cs$text),
           call. = FALSE)
    if (nlevels(visit) < 2L && cs$type != "us")
      stop(sprintf("the visit variable '%s' of %s has fewer than 2 levels", cs$visit, cs$text), call. = FALSE)
  }

  if (length(bars)) {
    fr <- lmm_frame(f0, data = df, contrasts = mc$contrasts)
    # One row per subject (dispformula): a term cannot change level within one.
    if (is.null(disp)) for (tm in fr$reterms$terms) {
      varies <- tapply(as.integer(tm$factor), subject, function(x) length(unique(x)) > 1L)
      if (any(varies))
        stop(sprintf("the random-effect term (%s | %s) changes level within a subject of %s: not yet supported",
                     paste(tm$cnms, collapse = " + "), tm$group, cs$text), call. = FALSE)
    }
    if (!is.null(disp)) dispersion_confounded(fr$reterms$terms, visit, disp)
  } else {
    fr <- covstruct_fixed_part(fixed, df, eval(mc$contrasts, env))
  }
  if (!is.null(w)) fr$weights <- as.numeric(w)
  ord <- order(as.integer(subject), as.integer(visit))
  sub_sorted <- as.integer(subject)[ord]
  start <- c(0L, which(diff(sub_sorted) != 0L), length(ord))
  first <- start[-length(start)] + 1L
  grp_subj <- as.integer(group)[ord][first]
  vis_sorted <- as.integer(visit)[ord]
  # A pattern per (group, visits) combination; with one row per subject, per visit.
  # The set of visits as a sum of distinct powers of 2 (exact below 2^53).
  key <- if (length(first) == length(ord)) grp_subj * (nlevels(visit) + 1L) + vis_sorted else
    if (nlevels(visit) <= 52L)
      sprintf("%d:%.0f", grp_subj, rowsum(2^(vis_sorted - 1), rep(seq_along(first), diff(start)), reorder = FALSE)[, 1]) else
    vapply(seq_along(first), function(s)
      paste(grp_subj[s], paste(vis_sorted[(start[s] + 1L):start[s + 1L]], collapse = ","), sep = ":"), "")
  pattern <- match(key, unique(key))
  pfirst <- match(seq_len(max(pattern)), pattern)
  fr$frame <- frame
  fr$formula <- formula
  fr$covstruct <- c(cs, list(visit_levels = levels(visit), group_levels = levels(group),
                             subject_levels = if (is.null(disp)) levels(subject)))
  fr$ord <- ord
  fr$cs_index <- list(start = as.integer(start), visit = vis_sorted - 1L, pattern = pattern - 1L,
                      pattern_group = grp_subj[pfirst] - 1L, pattern_first = pfirst - 1L,
                      nsubj = length(first))
  fr
}

# Response, fixed-effects matrix and offset of a model without random-effect terms.
covstruct_fixed_part <- function(fixed, df, contrasts) {
  ff <- stats::model.frame(fixed, df, na.action = stats::na.pass, drop.unused.levels = TRUE)
  ft <- attr(ff, "terms")
  y <- stats::model.response(ff)
  yname <- deparse1(fixed[[2]])
  if (!is.numeric(y) || is.matrix(y))
    stop(sprintf("the response '%s' must be a numeric vector (it is %s)", yname, class(y)[1]), call. = FALSE)
  if (any(!is.finite(y))) stop(sprintf("the response '%s' has non-finite values", yname), call. = FALSE)
  X <- stats::model.matrix(ft, ff, contrasts.arg = contrasts)
  check_finite_columns(X, "the fixed-effects model matrix")
  X <- drop_aliased_columns(X)
  off <- stats::model.offset(ff)
  off <- if (is.null(off)) rep(0, length(y)) else as.numeric(off)
  list(y = as.numeric(y), X = X, weights = rep(1, length(y)), offset = off, fixed_terms = ft,
       xlevels = stats::.getXlevels(ft, ff), reterms = NULL, contrasts = contrasts, na.action = NULL)
}

#' @noRd
covstruct_devfun <- function(frame, REML = TRUE) {
  ord <- frame$ord
  ix <- frame$cs_index
  # Prior weights (dispformula only, one row per subject): rows scaled by sqrt(w),
  # and log|W| taken off the criterion, as lmm() does.
  sw <- sqrt(frame$weights)[ord]
  logw <- sum(log(frame$weights))
  terms <- if (is.null(frame$reterms)) list() else lapply(frame$reterms$terms, function(t)
    list(codes = as.integer(t$factor)[ord], X = t$X[ord, , drop = FALSE] * sw, nlev = t$nlev))
  new_ptr <- function() .covstruct_new(terms, frame$X[ord, , drop = FALSE] * sw, (frame$y - frame$offset)[ord] * sw,
                                       ix$start, ix$visit, ix$pattern, ix$pattern_group, ix$pattern_first)
  ptr <- new_ptr()
  # A fit saved and reloaded has lost its C++ data: rebuilt on first use.
  live_ptr <- function() {
    if (identical(ptr, methods::new("externalptr"))) ptr <<- new_ptr()
    ptr
  }
  cs <- frame$covstruct
  spec <- covstruct_spec(cs$type, length(cs$visit_levels), if (is.null(cs$group)) NULL else cs$group_levels)
  ntheta <- if (is.null(frame$reterms)) 0L else length(frame$reterms$theta)
  n <- length(frame$y)
  p <- ncol(frame$X)
  REML <- isTRUE(REML)
  pieces <- function(par, full = FALSE) {
    theta <- par[seq_len(ntheta)]
    s <- .covstruct_eval(live_ptr(), covstruct_Vs(spec, par[ntheta + seq_len(spec$total)]), theta, full)
    s$logdet <- s$logdet - logw
    s
  }
  criterion <- function(s, reml) {
    nmp <- if (reml) n - p else n
    s$ldL2 + (if (reml) s$ldRX2 else 0) + nmp * (1 + log(2 * pi * s$pwrss / nmp)) + s$logdet
  }
  # Without random effects the gradient is exact in V (C++ weights W_g) and the
  # derivatives of V in its parameters, which need no data, are central differences.
  # With sigma2 > 0, the gradient of the deviance at that sigma^2 (not profiled).
  gradient <- if (ntheta == 0L) function(par, sigma2 = 0) {
    s <- .covstruct_gls_grad(live_ptr(), covstruct_Vs(spec, par), spec$m, REML, sigma2)
    covstruct_chain(spec, par, s$W)
  }
  # The criterion, its gradient and its expected information J' F J (C++ F in V's
  # entries, J the Jacobian of the map) in one pass: Fisher scoring's pieces.
  information <- if (ntheta == 0L) function(par) {
    s <- .covstruct_gls_grad(live_ptr(), covstruct_Vs(spec, par), spec$m, REML, 0, TRUE)
    s$logdet <- s$logdet - logw
    J <- covstruct_jacobian(spec, par)
    list(f = criterion(s, REML), g = drop(crossprod(J, unlist(s$W, use.names = FALSE))),
         H = crossprod(J, s$F %*% J))
  }
  function(par) {
    s <- tryCatch(pieces(par), error = function(e) NULL)
    if (is.null(s)) return(Inf)
    criterion(s, REML)
  }
}

# sum_g < W_g, dV_g / dpar_k > for every parameter k: the gradient in the
# parameters from the weights W_g of the gradient in V's entries.
covstruct_chain <- function(spec, par, W) {
  drop(crossprod(covstruct_jacobian(spec, par), unlist(W, use.names = FALSE)))
}

# d vec(V_g) / d par, the V_g stacked (rows g m^2 + a + b m, as vec order), from
# the first derivatives Kenward-Roger uses (covstruct_V_derivs(): exact for us,
# central differences of the data-free map otherwise).
covstruct_jacobian <- function(spec, par) {
  m2 <- spec$m^2
  J <- matrix(0, spec$ngroups * m2, spec$total)
  dV <- covstruct_V_derivs(spec, par, second = FALSE)
  for (g in seq_along(dV)) J[(g - 1L) * m2 + seq_len(m2), dV[[g]]$index] <- dV[[g]]$d1
  J
}

# A start for us without random-effect terms: the covariance of the OLS residuals
# by pairs of visits (pairwise complete, eigenvalues floored to keep it positive
# definite) mapped to the parameters; zeros (V = I) for the other structures or
# when the data leave a visit without two observations.
covstruct_start <- function(frame, spec) {
  zero <- numeric(spec$total)
  if (spec$type != "us" || !is.null(frame$reterms)) return(zero)
  ix <- frame$cs_index
  ord <- frame$ord
  X <- frame$X[ord, , drop = FALSE]
  y <- (frame$y - frame$offset)[ord]
  r <- ls_residuals(X, y)
  subj <- rep(seq_len(ix$nsubj), diff(ix$start))
  grp <- ix$pattern_group[ix$pattern[subj] + 1L] + 1L
  m <- spec$m
  S <- lapply(seq_len(spec$ngroups), function(g) {
    at <- cbind(subj, ix$visit + 1L)[grp == g, , drop = FALSE]
    R <- N <- matrix(0, ix$nsubj, m)
    R[at] <- r[grp == g]
    N[at] <- 1
    cnt <- crossprod(N)
    if (any(diag(cnt) < 2)) return(NULL)
    S <- crossprod(R) / pmax(cnt, 1)
    S[cnt == 0] <- 0
    e <- eigen(S, symmetric = TRUE)
    S <- e$vectors %*% (pmax(e$values, 1e-3 * e$values[1L]) * t(e$vectors))
    (S + t(S)) / 2
  })
  if (any(vapply(S, is.null, logical(1)))) return(zero)
  unlist(lapply(seq_along(S), function(g) {
    L <- t(chol(S[[g]] / S[[g]][1L, 1L]))
    M <- L / diag(L)
    diag(M) <- log(diag(L))
    c(M[lower.tri(M, diag = TRUE)][-1L], if (g > 1L) log(S[[g]][1L, 1L] / S[[1L]][1L, 1L]))
  }))
}

# Central-difference gradient: the criterion is cheap, and nlminb's own forward
# differences stop too early for the agreement mmrm's exact gradients reach.
num_grad <- function(f, x, h = 1e-6) {
  vapply(seq_along(x), function(i) {
    hi <- h * max(1, abs(x[i]))
    e <- replace(numeric(length(x)), i, hi)
    (f(x + e) - f(x - e)) / (2 * hi)
  }, numeric(1))
}

# Central second differences of f at x (steps h).
num_hessian <- function(f, x, h) {
  m <- length(x)
  H <- matrix(0, m, m)
  for (i in seq_len(m)) for (j in seq_len(i)) {
    ei <- replace(numeric(m), i, h[i])
    ej <- replace(numeric(m), j, h[j])
    H[i, j] <- H[j, i] <- (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (4 * h[i] * h[j])
  }
  H
}

# Fisher scoring (without random-effect terms): Newton steps with the expected
# information, halved until the criterion does not increase, from the start of
# covstruct_start(); each iteration is one pass over the data. The information
# equals the observed Hessian up to terms of mean zero, so with many subjects per
# parameter the steps converge linearly at a fast rate. With few, or sparse visits,
# the rate can be slow (or the iteration unstable near the optimum): when the
# Newton decrement g' H^-1 g falls by less than a factor 100 (the gradient by less
# than 10) or a step needs halving, the Hessian becomes central differences of the
# exact gradient (2 k gradients), updated by BFGS along the steps and recomputed
# when it is not positive definite or the decrement again falls slowly. The gradient is exact, so
# iterations go on past what the criterion's rounding resolves (a step is taken
# unless the criterion rises beyond it) until the step is below 1e-9.
# NULL when the Hessian is not positive definite or a step fails.
fisher_scoring <- function(info, grad, start, maxit = 100L) {
  ev <- function(x) tryCatch({
    r <- info(x)
    if (is.finite(r$f) && all(is.finite(r$g)) && all(is.finite(r$H))) r
  }, error = function(e) NULL)
  observed <- function(x) {
    h <- 1e-5 * pmax(abs(x), 0.1)
    Hg <- vapply(seq_along(x), function(j) {
      e <- replace(numeric(length(x)), j, h[j])
      (grad(x + e) - grad(x - e)) / (2 * h[j])
    }, numeric(length(x)))
    (Hg + t(Hg)) / 2
  }
  x <- start
  cur <- ev(x)
  nev <- 1L
  ngrad <- 0L
  if (is.null(cur)) return(NULL)
  newton <- FALSE
  Ho <- NULL
  dec0 <- Inf
  for (it in seq_len(maxit)) {
    if (newton && is.null(Ho)) {
      Ho <- tryCatch(observed(x), error = function(e) NULL)
      ngrad <- ngrad + 2L * length(x)
      if (!is.null(Ho) && !all(is.finite(Ho))) Ho <- NULL
    }
    ch <- if (!is.null(Ho)) tryCatch(chol(Ho), error = function(e) NULL)
    if (is.null(ch)) {
      Ho <- NULL
      ch <- tryCatch(chol(cur$H), error = function(e) NULL)
    }
    if (is.null(ch)) return(NULL)
    step <- -backsolve(ch, forwardsolve(t(ch), cur$g))
    if (max(abs(step)) < 1e-9) break
    dec <- -sum(step * cur$g)
    if (it > 1L && dec > dec0 / 100) {
      if (newton) Ho <- NULL
      newton <- TRUE
    }
    dec0 <- dec
    took <- FALSE
    for (k in 0:10) {
      nxt <- ev(x + step / 2^k)
      nev <- nev + 1L
      if (!is.null(nxt) && nxt$f <= cur$f + 1e-14 * abs(cur$f)) {
        took <- TRUE
        break
      }
      newton <- TRUE
    }
    if (!took) break
    # BFGS keeps the finite-difference Hessian current along the steps (exact
    # gradients, so the secant pairs are clean), for superlinear convergence.
    if (!is.null(Ho)) {
      Hn <- bfgs_update(Ho, step / 2^k, nxt$g - cur$g, 1e-12)
      if (!is.null(Hn)) Ho <- Hn
    }
    x <- x + step / 2^k
    cur <- nxt
  }
  ch <- tryCatch(chol(cur$H), error = function(e) NULL)
  if (is.null(ch)) return(NULL)
  list(par = x, objective = cur$f, gradient = cur$g, chol = ch, evaluations = nev, gradients = ngrad,
       iterations = it, message = sprintf("Fisher scoring%s: %d iterations, %d evaluations%s", if (newton) " then Newton" else "",
                                          it, nev, if (ngrad) sprintf(" and %d gradients", ngrad) else ""))
}

# Without random-effect terms Fisher scoring; with them, or when it fails, nlminb
# (bounded for the diagonal of theta), then Newton steps on the free parameters from
# finite differences: nlminb's stopping rules leave gradients of order 1e-4, short of
# the 1e-5 agreement with mmrm's exact-gradient optimum.
#' @noRd
covstruct_optimize <- function(devfun, polish = 4L) {
  env <- environment(devfun)
  rt <- env$frame$reterms
  lower <- c(if (is.null(rt)) numeric(0) else rt$lower, rep(-Inf, env$spec$total))
  start <- c(if (is.null(rt)) numeric(0) else rt$theta, covstruct_start(env$frame, env$spec))
  gr <- if (is.null(env$gradient)) function(x) num_grad(devfun, pmax(x, lower)) else env$gradient
  fs <- if (!is.null(env$information)) fisher_scoring(env$information, env$gradient, start)
  if (!is.null(fs)) {
    sc <- pmin(abs(fs$gradient), abs(backsolve(fs$chol, fs$gradient)))
    if (max(sc, 0) < 1e-6)
      return(list(par = fs$par, fval = fs$objective, feval = fs$evaluations, message = fs$message,
                  converged = TRUE, gradient = fs$gradient, warnings = character(0)))
    start <- fs$par
  }
  res <- stats::nlminb(start, devfun, gradient = gr, lower = lower,
                       control = list(eval.max = 5000L, iter.max = 2000L))
  x <- res$par
  fx <- res$objective
  # One finite-difference Hessian (2 k^2 evaluations) serves every step: near the
  # optimum it changes little, and steps with it converge linearly at a fast rate.
  free <- x > lower
  ch <- NULL
  # nlminb stops at gradients of order 1e-4 even with the exact gradient (at
  # "relative convergence"); a converged start needs no polish.
  if (!is.null(env$gradient) && max(abs(gr(x)[free]), 0) < 1e-8) polish <- 0L
  if (polish > 0L && any(free)) {
    H <- if (is.null(env$gradient)) {
      num_hessian(function(z) { y <- x; y[free] <- z; devfun(y) }, x[free], 1e-4 * pmax(abs(x[free]), 0.1))
    } else {
      h <- 1e-5 * pmax(abs(x), 0.1)
      Hg <- vapply(seq_along(x), function(j) {
        e <- replace(numeric(length(x)), j, h[j])
        (gr(x + e) - gr(x - e)) / (2 * h[j])
      }, numeric(length(x)))
      (Hg + t(Hg)) / 2
    }
    ch <- tryCatch(chol(H), error = function(e) NULL)
  }
  for (it in seq_len(if (is.null(ch)) 0L else polish)) {
    g <- gr(x)[free]
    step <- -backsolve(ch, forwardsolve(t(ch), g))
    took <- FALSE
    for (k in 0:5) {
      y <- x
      y[free] <- pmax(x[free] + step / 2^k, lower[free])
      fy <- devfun(y)
      if (is.finite(fy) && fy <= fx) { x <- y; fx <- fy; took <- TRUE; break }
    }
    if (!took || max(abs(step)) < 1e-8) break
  }
  g <- gr(x)
  # As lme4's check (and lmm()'s): the smaller of |gradient| and |R^-1 gradient|
  # (R'R the Hessian). With many rows the criterion is large and finite-difference
  # gradients carry noise of order 1e-3 while the step R^-1 g is far below it.
  sc <- abs(g)
  if (!is.null(ch)) sc[free] <- pmin(sc[free], abs(backsolve(ch, g[free])))
  conv <- max(sc[x > lower], 0) < 1e-3
  warns <- character(0)
  if (!conv) {
    warns <- sprintf("the optimizer did not converge: largest scaled gradient %.2g (nlminb: %s)", max(sc[x > lower]), res$message)
    warning(warns, call. = FALSE)
  }
  list(par = x, fval = fx, feval = res$evaluations[["function"]], message = res$message,
       converged = conv, gradient = g, warnings = warns)
}

# The fitted object: class c("lemma_covfit", "lemma_fit"); the methods that do not
# yet know about the residual structure refuse it (R/methods-covstruct.R).
covstruct_object <- function(devfun, opt, call) {
  env <- environment(devfun)
  frame <- env$frame
  spec <- env$spec
  REML <- env$REML
  n <- env$n
  p <- env$p
  ntheta <- env$ntheta
  par <- opt$par
  s <- env$pieces(par, full = TRUE)
  sigma <- sqrt(s$pwrss / (n - if (REML) p else 0))
  beta <- stats::setNames(as.numeric(s$beta), colnames(frame$X))
  cs <- frame$covstruct
  covpar <- par[ntheta + seq_len(spec$total)]
  Sigma <- lapply(covstruct_Vs(spec, covpar), function(V) {
    V <- sigma^2 * V
    dimnames(V) <- list(cs$visit_levels, cs$visit_levels)
    V
  })
  names(Sigma) <- if (is.null(cs$group)) "all" else cs$group_levels
  rt <- frame$reterms
  theta <- stats::setNames(par[seq_len(ntheta)], if (is.null(rt)) NULL else rt$theta_names)
  b <- if (is.null(rt)) list() else Map(function(t, bt) {
    matrix(bt, nrow = t$nlev, byrow = TRUE, dimnames = list(levels(t$factor), t$cnms))
  }, rt$terms, s$b)
  fit <- list(
    call = call, formula = frame$formula, REML = REML, frame = frame$frame,
    fixed_terms = frame$fixed_terms, xlevels = frame$xlevels, X = frame$X, y = frame$y,
    weights = frame$weights, offset = frame$offset, reterms = rt, flist = rt$flist,
    contrasts = frame$contrasts, na.action = attr(frame$frame, "na.action"),
    theta = theta, beta = beta, sigma = sigma, b = b, RX = s$RX,
    covstruct = c(cs, list(spec = spec, par = covpar, Sigma = Sigma, nsubj = frame$cs_index$nsubj)),
    devcomp = c(ldL2 = s$ldL2, ldRX2 = s$ldRX2, pwrss = s$pwrss, logdet = s$logdet,
                dev = env$criterion(s, FALSE), REML = env$criterion(s, TRUE), n = n, p = p, logw = env$logw),
    optinfo = list(feval = opt$feval, fval = opt$fval, message = opt$message, converged = opt$converged,
                   gradient = opt$gradient, warnings = opt$warnings, singular_tol = 1e-4),
    model_env = new.env(parent = emptyenv())
  )
  fit$model_env$devfun_env <- env
  class(fit) <- c("lemma_covfit", "lemma_fit")
  fit$fitted <- if (is.null(rt)) as.numeric(frame$X %*% beta) + frame$offset else
    linear_predictor(fit, frame$X, frame$offset, lapply(rt$terms, function(t) t$factor),
                     lapply(rt$terms, function(t) t$X), b)
  fit$resid <- fit$y - fit$fitted
  fit
}

# Satterthwaite's pieces for a fit with a residual structure, in the form
# satterthwaite_df1() takes: the variance parameters are (theta, covariance
# parameters, sigma); the Hessian of the deviance (profiled over beta only) and the
# Jacobian of cov(beta-hat) are central finite differences (the df are invariant to
# the parametrization at the optimum).
covstruct_satterthwaite_parts <- function(fit) {
  cache <- inference_cache(fit)
  if (!is.null(cache$satt)) return(cache$satt)
  env <- fit$model_env$devfun_env
  REML <- fit$REML
  nmp <- if (REML) env$n - env$p else env$n
  x0 <- c(fit$theta, fit$covstruct$par)
  k <- length(x0)
  dev <- function(x) {
    s <- env$pieces(x[seq_len(k)])
    sig2 <- x[k + 1L]^2
    s$ldL2 + (if (REML) s$ldRX2 else 0) + s$logdet + nmp * log(2 * pi * sig2) + s$pwrss / sig2
  }
  C <- function(x) x[k + 1L]^2 * chol2inv(t(env$pieces(x[seq_len(k)], full = TRUE)$RX))
  psi <- c(x0, fit$sigma)
  m <- length(psi)
  h <- 1e-4 * pmax(abs(psi), 0.1)
  H <- if (is.null(env$gradient)) num_hessian(dev, psi, h) else {
    # central differences of the exact gradient (2 m evaluations instead of 2 m^2)
    grad <- function(x) {
      s <- env$pieces(x[seq_len(k)])
      c(env$gradient(x[seq_len(k)], x[k + 1L]^2), 2 * nmp / x[k + 1L] - 2 * s$pwrss / x[k + 1L]^3)
    }
    Hg <- vapply(seq_len(m), function(j) {
      e <- replace(numeric(m), j, h[j])
      (grad(psi + e) - grad(psi - e)) / (2 * h[j])
    }, numeric(m))
    (Hg + t(Hg)) / 2
  }
  eh <- eigen(H, symmetric = TRUE)
  pos <- eh$values > 1e-8
  Hinv <- eh$vectors[, pos, drop = FALSE] %*% (t(eh$vectors[, pos, drop = FALSE]) / eh$values[pos])
  Jac <- lapply(seq_len(m), function(i) {
    ei <- replace(numeric(m), i, h[i])
    (C(psi + ei) - C(psi - ei)) / (2 * h[i])
  })
  V <- vcov_beta(fit)
  out <- list(vcov = V, Jac = Jac, vcov_varpar = 2 * Hinv, hessian = H)
  cache$satt <- out
  out
}
