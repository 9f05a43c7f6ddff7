# The fitted-model object of class "lemma_fit".

#' Assemble a fitted "lemma_fit" object
#'
#' The last step of [lmm()], callable alone (as lme4's `mkMerMod`): solves the
#' penalized least squares problem at the optimal theta and collects everything the
#' methods need.
#'
#' @param devfun a function from [lmm_devfun()].
#' @param opt the result of [lmm_optimize()] (a list with `par`, `fval`, ...); its
#'   convergence report is kept in the fit's `optinfo`.
#' @param call the call to record.
#' @return An object of class `"lemma_fit"`. Its `optinfo` holds `feval`, `ngrad`, `fval`,
#'   `message`, `converged`, `gradient` (at the optimum, projected for parameters on
#'   their bound), `hessian_min_eigen` (smallest eigenvalue of the finite-difference
#'   Hessian on the free parameters), `maxfun_reached`, `warnings` and
#'   `singular_tol`.
#' @examples
#' fr <- lmm_frame(Yield ~ 1 + (1 | Batch), Dyestuff)
#' f <- lmm_devfun(fr)
#' fit <- lmm_object(f, lmm_optimize(f))
#' fit
#' @export
lmm_object <- function(devfun, opt, call = NULL) {
  if (!is.function(devfun) || !inherits(environment(devfun)$frame, "lmm_frame"))
    stop("lmm_object(): 'devfun' must be a function from lmm_devfun() or lmm_devfun_spectral()", call. = FALSE)
  if (!is.list(opt) || !is.numeric(opt$par) || length(opt$par) != length(environment(devfun)$frame$reterms$theta))
    stop("lmm_object(): 'opt' must be the result of lmm_optimize() for this 'devfun' (a list with 'par', one value per theta)",
         call. = FALSE)
  env <- environment(devfun)
  frame <- env$frame
  REML <- env$REML
  theta <- opt$par
  n <- length(frame$y)
  sol <- if (is.null(env$spectral)) .model_solution(env$ptr, theta, REML) else
    spectral_solution(env$spectral, theta, REML, n)
  p <- ncol(frame$X)
  rt <- frame$reterms
  sigma <- sqrt(sol$pwrss / (n - if (REML) p else 0))
  beta <- stats::setNames(as.numeric(sol$beta), colnames(frame$X))
  b <- Map(function(t, bt) {
    matrix(bt, nrow = t$nlev, byrow = TRUE, dimnames = list(levels(t$factor), t$cnms))
  }, rt$terms, sol$b)
  logw <- sum(log(frame$weights))
  two_pi <- 2 * pi
  dev_ml <- sol$ldL2 + n * (1 + log(two_pi * sol$pwrss / n)) - logw
  crit_reml <- sol$ldL2 + sol$ldRX2 + (n - p) * (1 + log(two_pi * sol$pwrss / (n - p))) - logw
  fit <- list(
    call = call, formula = frame$formula, REML = REML, frame = frame$frame,
    fixed_terms = frame$fixed_terms, xlevels = frame$xlevels, X = frame$X, y = frame$y, weights = frame$weights,
    offset = frame$offset, reterms = rt, flist = rt$flist, relmat = rt$relmat,
    contrasts = frame$contrasts, na.action = frame$na.action,
    theta = theta, beta = beta, sigma = sigma, b = b, u = sol$u, RX = sol$RX,
    devcomp = c(ldL2 = sol$ldL2, ldRX2 = sol$ldRX2, pwrss = sol$pwrss, dev = dev_ml, REML = crit_reml,
                n = n, p = p, logw = logw),
    optinfo = list(feval = opt$feval, ngrad = if (is.null(opt$ngrad)) 0L else opt$ngrad,
                   fval = opt$fval, message = opt$message,
                   converged = if (is.null(opt$converged)) NA else opt$converged,
                   gradient = opt$gradient, hessian_min_eigen = opt$hessian_min_eigen,
                   maxfun_reached = isTRUE(opt$maxfun_reached), warnings = opt$warnings,
                   singular_tol = if (is.null(opt$singular_tol)) 1e-4 else opt$singular_tol),
    model_env = new.env(parent = emptyenv())
  )
  fit$model_env$ptr <- env$ptr
  fit$model_env$frame <- frame
  fit$spectral <- env$spectral
  class(fit) <- "lemma_fit"
  eta <- linear_predictor(fit, fit$X, fit$offset, lapply(rt$terms, function(t) t$factor),
                          lapply(rt$terms, function(t) t$X), b)
  fit$fitted <- as.numeric(eta)
  fit$resid <- fit$y - fit$fitted
  fit
}

# The C++ model behind a fit, rebuilt if the object was saved and reloaded.
model_ptr <- function(fit) {
  # The blocked model of the unwhitened data would ignore a residual structure.
  if (inherits(fit, "lemma_covfit")) covfit_refuse("this method")
  ptr <- fit$model_env$ptr
  if (is.null(ptr) || ptr_is_null(ptr)) {
    ptr <- new_model_ptr(fit$model_env$frame)
    fit$model_env$ptr <- ptr
  }
  ptr
}

ptr_is_null <- function(ptr) tryCatch({ .model_block_kinds(ptr); FALSE }, error = function(e) TRUE)

# X beta + offset + sum_k rowSums(Z_k-columns * b_k[level, ]); NA levels add 0.
linear_predictor <- function(fit, X, offset, factors, term_X, b) {
  eta <- as.numeric(X %*% fit$beta) + offset
  for (k in seq_along(factors)) {
    if (is.null(factors[[k]])) next
    codes <- as.integer(factors[[k]])
    contrib <- rowSums(term_X[[k]] * b[[k]][codes, , drop = FALSE])
    contrib[is.na(contrib)] <- 0
    eta <- eta + contrib
  }
  eta
}
