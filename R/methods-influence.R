# Influence diagnostics as lme4 1.1-31 defines them: leverages (the diagonal of the
# LMM's hat matrix), Cook's distance and studentized residuals from them, and
# deletion refits (influence()).

#' Leverages, Cook's distances and studentized residuals
#'
#' `hatvalues()` is the diagonal of the hat matrix of the penalized least squares
#' problem, `H = W^(1/2) [Z Lambda, X] M^(-1) [Z Lambda, X]' W^(1/2)` with
#' `M = [Z Lambda, X]' W [Z Lambda, X] + diag(1 (random), 0 (fixed))`, as lme4's
#' method. `cooks.distance()` and `rstudent()` use it with the Pearson residuals,
#' as lme4's methods: `D_i = (r_i / (1 - h_i))^2 h_i / (sigma^2 rank(X))` and
#' `r_i / (sigma sqrt(1 - h_i))`. With `na.exclude`, values are padded with `NA`
#' at the excluded rows.
#'
#' @param model a fitted model from [lmm()], or for `cooks.distance` the result of
#'   [influence()][influence.lemma_fit].
#' @param fullHatMatrix return the whole n x n hat matrix instead of its diagonal.
#' @param ... unused (a warning names them).
#' @return A numeric vector (or matrix, for `fullHatMatrix = TRUE`).
#' @examples
#' fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
#' head(hatvalues(fit))
#' head(cooks.distance(fit))
#' head(rstudent(fit))
#' @name lmm-leverage
NULL

#' @rdname lmm-leverage
#' @importFrom stats hatvalues
#' @export
hatvalues.lemma_fit <- function(model, fullHatMatrix = FALSE, ...) {
  check_dots_unused(list(...), "hatvalues")
  check_flag(fullHatMatrix, "fullHatMatrix", "hatvalues")
  U <- hat_design(model)
  q <- ncol(U) - ncol(model$X)
  M <- Matrix::crossprod(U) + Matrix::Diagonal(ncol(U), c(rep(1, q), rep(0, ncol(model$X))))
  M <- Matrix::forceSymmetric(methods::as(M, "CsparseMatrix"))
  ch <- Matrix::Cholesky(M, perm = TRUE, LDL = FALSE)
  # B = L^-1 P U' (sparse solves: each observation touches few random effects):
  # h = colSums(B^2), in chunks of observations to bound memory
  half <- function(rows) {
    Ut <- Matrix::t(U[rows, , drop = FALSE])
    Matrix::solve(ch, Matrix::solve(ch, Ut, system = "P"), system = "L")
  }
  n <- nrow(U)
  if (fullHatMatrix) {
    B <- half(seq_len(n))
    H <- as.matrix(Matrix::crossprod(B))
    dimnames(H) <- list(rownames(model$frame), rownames(model$frame))
    return(H)
  }
  chunk <- 2000L
  h <- numeric(n)
  for (s in seq(1L, n, by = chunk)) {
    rows <- s:min(n, s + chunk - 1L)
    h[rows] <- Matrix::colSums(half(rows)^2)
  }
  stats::naresid(model$na.action, stats::setNames(h, rownames(model$frame)))
}

# W^(1/2) [Z Lambda, X] as a sparse n x (q + p) matrix: lemma never forms Z for
# fitting, only here. Columns of a term are level-major (level, then coefficient),
# and a relationship factor C enters as Lambda_k = C (x) lambda_k.
hat_design <- function(model) {
  sw <- sqrt(model$weights)
  n <- length(sw)
  blocks <- lapply(model$reterms$terms, function(t) {
    p <- length(t$cnms)
    codes <- as.integer(t$factor)
    Zt <- Matrix::sparseMatrix(i = rep(seq_len(n), p), j = (rep(codes, p) - 1L) * p + rep(seq_len(p), each = n),
                               x = as.numeric(t$X), dims = c(n, t$nlev * p))
    lam <- theta_to_lambda(model$theta[t$theta_index], p)
    Lam <- if (is.null(t$relchol)) Matrix::kronecker(Matrix::Diagonal(t$nlev), lam)
      else Matrix::kronecker(Matrix::Matrix(t$relchol), lam)
    Zt %*% Lam
  })
  U <- do.call(cbind, c(blocks, list(Matrix::Matrix(model$X, sparse = TRUE))))
  Matrix::Diagonal(n, sw) %*% U
}

#' @rdname lmm-leverage
#' @importFrom stats cooks.distance
#' @export
cooks.distance.lemma_fit <- function(model, ...) {
  check_dots_unused(list(...), "cooks.distance")
  h <- hatvalues(model)
  r <- stats::residuals(model, type = "pearson")
  p <- qr(model$X)$rank
  d <- (r / (1 - h))^2 * h / (model$sigma^2 * p)
  d[is.infinite(d)] <- NaN
  d
}

#' @rdname lmm-leverage
#' @importFrom stats rstudent
#' @export
rstudent.lemma_fit <- function(model, ...) {
  check_dots_unused(list(...), "rstudent")
  h <- hatvalues(model)
  r <- stats::residuals(model, type = "pearson") / (model$sigma * sqrt(1 - h))
  r[is.infinite(r)] <- NaN
  r
}

#' Deletion diagnostics: refits without each group or observation
#'
#' Refits the model once without each level of `groups` (or each observation), as
#' lme4 1.1-31's `influence()` for `lmer` fits, and collects the fixed effects, the
#' variance-covariance components (`sigma^2`, then the column-wise lower triangle of
#' each term's covariance) and the covariance of the fixed effects of every refit.
#' `cooks.distance()`, `dfbeta()` and `dfbetas()` accept the result.
#'
#' @param model a fitted model from [lmm()] (fitted with a `data` argument).
#' @param groups names of columns of `data` whose (combined) levels are deleted in
#'   turn; default each observation (row of `data`).
#' @param data the data frame; default [getData()] of the model.
#' @param maxfun maximum number of criterion evaluations per refit.
#' @param do.coef `FALSE` returns only the leverages (`list(hat = )`).
#' @param ncores,start lme4's arguments: only `ncores = 1` and `start = NULL` (the
#'   refits always start from lemma's default); other values give a warning.
#' @param ... unused (a warning names them).
#' @return A list of class `"lemma_influence"` with elements `fixed.effects`,
#'   `fixed.effects[-g]`, `var.cov.comps`, `var.cov.comps[-g]`, `vcov`,
#'   `vcov[-g]` (g the groups' name, or `case`), `groups`, `deleted`, `converged`
#'   and `function.evals`, as lme4.
#' @examples
#' fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
#' inf <- influence(fit, groups = "Subject")
#' head(inf[["fixed.effects[-Subject]"]])
#' head(cooks.distance(inf))
#' @importFrom stats influence
#' @export
influence.lemma_fit <- function(model, groups, data, maxfun = 1000, do.coef = TRUE, ncores = 1,
                                start = NULL, ...) {
  check_dots_unused(list(...), "influence")
  check_flag(do.coef, "do.coef", "influence")
  check_number(maxfun, "maxfun", "influence", lower = 1, integer = TRUE)
  if (!identical(as.numeric(ncores), 1))
    warning("influence(): 'ncores' is not used; lemma refits one after the other", call. = FALSE)
  if (!is.null(start)) warning("influence(): 'start' is not supported by lemma and was ignored", call. = FALSE)
  if (!do.coef) return(structure(list(hat = hatvalues(model)), class = "lemma_influence"))
  if (missing(data)) data <- getData(model)
  data <- as.data.frame(data)
  if (missing(groups)) {
    gname <- "case"
    key <- rownames(data)
  } else {
    if (!is.character(groups) || !length(groups))
      stop("influence(): 'groups' must name columns of the data", call. = FALSE)
    bad <- setdiff(groups, names(data))
    if (length(bad)) stop(sprintf("influence(): 'groups' column(s) %s are not in the data",
                                  paste0("'", bad, "'", collapse = ", ")), call. = FALSE)
    gname <- paste(groups, collapse = ".")
    key <- if (length(groups) == 1L) data[[groups]] else do.call(paste, c(unname(as.list(data[groups])), sep = "."))
  }
  deleted <- unique(key)
  lab <- as.character(deleted)
  ctrl <- lmm_control(maxfun = maxfun)
  one <- function(del) {
    data_del <- data[as.character(key) != as.character(del), , drop = FALSE]
    warned <- FALSE
    # the fit's call with the reduced data, evaluated where its formula was made
    cl <- getCall(model)
    cl$formula <- model$formula
    cl$data <- data_del
    cl$control <- ctrl
    f <- withCallingHandlers(
      eval(cl, environment(model$formula)),
      warning = function(w) { warned <<- TRUE; invokeRestart("muffleWarning") })
    list(fixed = f$beta, vc = varcov_comps(f), vcov = as.matrix(stats::vcov(f)),
         converged = !warned, feval = f$optinfo$feval)
  }
  res <- lapply(deleted, one)
  fixed1 <- do.call(rbind, lapply(res, `[[`, "fixed"))
  vc1 <- do.call(rbind, lapply(res, `[[`, "vc"))
  dimnames(fixed1) <- list(lab, names(model$beta))
  vc0 <- varcov_comps(model)
  dimnames(vc1) <- list(lab, names(vc0))
  vcov1 <- stats::setNames(lapply(res, `[[`, "vcov"), lab)
  out <- list(model$beta, fixed1, vc0, vc1, as.matrix(stats::vcov(model)), vcov1, gname, deleted,
              stats::setNames(vapply(res, `[[`, logical(1), "converged"), lab),
              stats::setNames(vapply(res, function(r) as.numeric(r$feval), numeric(1)), lab))
  names(out) <- c("fixed.effects", sprintf("fixed.effects[-%s]", gname), "var.cov.comps",
                  sprintf("var.cov.comps[-%s]", gname), "vcov", sprintf("vcov[-%s]", gname),
                  "groups", "deleted", "converged", "function.evals")
  structure(out, class = "lemma_influence")
}

# sigma^2, then each term's covariance (column-wise lower triangle), named as lme4:
# v[name] for variances, C[name1,name2] for covariances, prefixed by the group when
# the model has several terms.
varcov_comps <- function(fit) {
  vc <- VarCorr(fit)
  prefix <- if (length(vc) > 1L) paste0(names(vc), ":") else rep("", length(vc))
  out <- c(`sigma^2` = fit$sigma^2)
  for (i in seq_along(vc)) {
    V <- unclass(vc[[i]])
    cn <- colnames(V)
    en <- outer(cn, cn, function(a, b) paste0("C[", a, ",", b, "]"))
    diag(en) <- paste0("v[", cn, "]")
    lt <- lower.tri(V, diag = TRUE)
    out <- c(out, stats::setNames(V[lt], paste0(prefix[i], en[lt])))
  }
  out
}

#' @rdname influence.lemma_fit
#' @importFrom stats dfbeta dfbetas
#' @param which `"fixed"` (fixed effects) or `"var.cov"` (variance components).
#' @export
dfbeta.lemma_influence <- function(model, which = c("fixed", "var.cov"), ...) {
  check_dots_unused(list(...), "dfbeta")
  which <- check_choice(which[1], c("fixed", "var.cov"), "which", "dfbeta")
  if (is.null(model$groups)) stop("dfbeta(): the influence object was computed with do.coef = FALSE", call. = FALSE)
  pos <- if (which == "fixed") 1L else 3L
  b <- model[[pos + 1L]]
  b - matrix(model[[pos]], nrow(b), ncol(b), byrow = TRUE)
}

#' @rdname influence.lemma_fit
#' @export
dfbetas.lemma_influence <- function(model, ...) {
  check_dots_unused(list(...), "dfbetas")
  se <- t(vapply(model[[6L]], function(v) sqrt(diag(v)), numeric(length(model[[1L]]))))
  if (length(model[[1L]]) == 1L) se <- t(se)
  dfbeta(model) / se
}

#' @rdname influence.lemma_fit
#' @export
cooks.distance.lemma_influence <- function(model, ...) {
  check_dots_unused(list(...), "cooks.distance")
  if (is.null(model$groups)) stop("cooks.distance(): the influence object was computed with do.coef = FALSE", call. = FALSE)
  db <- dfbeta(model)
  n <- nrow(db)
  p <- ncol(db)
  # lme4 1.1-31's scaling of the full-data vcov
  Vinv <- (n - p) / (n * p) * solve(model$vcov)
  stats::setNames(rowSums((db %*% Vinv) * db), rownames(db))
}
