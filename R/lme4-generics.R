# Generics lemma shares by name with lme4 and lmerTest.
#
# lme4 and lmerTest define functions with the names of some of lemma's generics.
# Whichever package is attached last masks the others' functions, so both
# directions must work:
# - lme4's (lmerTest's) function reaches a lemma fit: lemma's methods are
#   registered on their S3 generics at load time (R/zzz.R), and where lme4's
#   function is a plain function (isSingular) it calls generics (getME) that have
#   methods for lemma fits here;
# - lemma's generic reaches an lme4 fit: each generic's default method hands the
#   call to the function of the same name in lme4 (lmerTest for contest).

# Hand `generic(object, ...)` to the function of that name in `pkg`. A merMod
# loads the package's namespace if needed; any other object is forwarded only when
# the namespace is already loaded (lme4 has methods for some non-merMod classes,
# e.g. ngrps on a factor), else the error names the generic and the class.
forward_generic <- function(generic, object, ..., pkg = "lme4") {
  if (isNamespaceLoaded(pkg) || (inherits(object, "merMod") && requireNamespace(pkg, quietly = TRUE)))
    return(get(generic, envir = asNamespace(pkg), inherits = FALSE)(object, ...))
  stop(sprintf("%s(): no method for an object of class \"%s\"", generic, class(object)[1L]), call. = FALSE)
}

# A default method for lemma's generic `g` (with the formals of `generic`) that
# hands the call to `pkg`'s function `g`: the first argument positionally, the
# other supplied ones by name; arguments not supplied are not passed, so the
# receiving method's defaults apply.
make_forwarder <- function(g, generic, pkg) {
  nms <- names(formals(generic))
  named <- setdiff(nms[-1L], "...")
  dots <- if ("..." %in% nms) quote(list(...)) else quote(list())
  f <- function() NULL
  formals(f) <- formals(generic)
  body(f) <- bquote({
    env <- environment()
    supplied <- list()
    for (nm in .(named))
      if (!eval(call("missing", as.name(nm)), env)) supplied[nm] <- list(get(nm, envir = env))
    do.call(forward_generic, c(list(.(g), .(as.name(nms[1L]))), supplied, .(dots), list(pkg = .(pkg))))
  })
  environment(f) <- environment(forward_generic)
  f
}

#' Is the fit singular?
#'
#' A fit is singular when a variance is estimated at zero or a correlation at +-1:
#' some diagonal element of theta lies within `tol` of its lower bound 0 (lme4's
#' definition), with theta measured on the optimizer's scale: rows for a
#' random-effect column whose root mean square is outside 0.01 to 100 are multiplied
#' by it (see [lmm_reterms()]), so a slope on a covariate of scale 1e6 is not
#' called singular for its small theta. Works on lme4 fits too: they are handed to
#' lme4's `isSingular()`.
#'
#' @param x a fitted model.
#' @param tol tolerance on theta.
#' @return `TRUE` or `FALSE`.
#' @examples
#' isSingular(lmm(Yield ~ 1 + (1 | Batch), Dyestuff2))
#' @export
isSingular <- function(x, tol = 1e-4) UseMethod("isSingular")

#' @export
isSingular.lemma_fit <- function(x, tol = 1e-4) {
  check_number(tol, "tol", "isSingular", lower = 0)
  # on the scale the optimizer used (R/scaling.R): a slope on a covariate of scale 1e6
  # has theta near 1e-6 without being near zero variance
  theta_singular(x$theta * reterms_theta_scale(x$reterms), x$reterms$lower, tol)
}

# Singular: a diagonal of theta (bound 0) within tol of its bound (lme4's rule).
theta_singular <- function(theta, lower, tol) any(theta[lower == 0] < tol)

#' @export
isSingular.default <- function(x, tol = 1e-4) forward_generic("isSingular", x, tol = tol)

#' The REML criterion of a fit
#'
#' For an ML fit, the REML criterion at the ML estimates (as lme4's `REMLcrit()`).
#' Works on lme4 fits too: they are handed to lme4's `REMLcrit()`.
#'
#' lme4's own `REMLcrit()` reads a slot of lme4's fit objects and cannot read lemma
#' fits, so while lemma is attached, `library(lme4)` does not attach it (through
#' R's [conflictRules()]; detaching lemma restores any rule you had): `REMLcrit()`
#' stays lemma's and serves both kinds of fit. `lme4::REMLcrit()` is unchanged.
#'
#' @param object a fitted model.
#' @param ... unused.
#' @return The REML criterion (-2 REML log-likelihood) at the estimates.
#' @examples
#' REMLcrit(lmm(Yield ~ 1 + (1 | Batch), Dyestuff))
#' @export
REMLcrit <- function(object, ...) UseMethod("REMLcrit")

#' @export
REMLcrit.lemma_fit <- function(object, ...) {
  check_dots_unused(list(...), "REMLcrit")
  unname(object$devcomp["REML"])
}

#' @export
REMLcrit.default <- function(object, ...) forward_generic("REMLcrit", object, ...)

#' Number of levels of each grouping factor
#'
#' Works on lme4 fits too: they are handed to lme4's `ngrps()`.
#'
#' @param object a fitted model.
#' @param ... unused.
#' @return A named numeric vector (numeric, as lme4's).
#' @examples
#' ngrps(lmm(diameter ~ 1 + (1 | plate) + (1 | sample), Penicillin))
#' @export
ngrps <- function(object, ...) UseMethod("ngrps")

#' @export
ngrps.lemma_fit <- function(object, ...) {
  check_dots_unused(list(...), "ngrps")
  vapply(object$flist, nlevels, numeric(1))
}

#' @export
ngrps.default <- function(object, ...) forward_generic("ngrps", object, ...)

#' Is the fit REML?
#'
#' Works on lme4 fits too: they are handed to lme4's `isREML()`.
#'
#' @param x a fitted model.
#' @param ... unused.
#' @return `TRUE` for a REML fit.
#' @examples
#' isREML(lmm(Yield ~ 1 + (1 | Batch), Dyestuff))
#' @export
isREML <- function(x, ...) UseMethod("isREML")

#' @export
isREML.lemma_fit <- function(x, ...) {
  check_dots_unused(list(...), "isREML")
  isTRUE(x$REML)
}

#' @export
isREML.default <- function(x, ...) forward_generic("isREML", x, ...)

# lme4's isLMM/isGLMM/isNLMM: called by lme4's and lmerTest's functions; registered
# on lme4's generics only (R/zzz.R), lemma does not export generics of these names.
isLMM.lemma_fit <- function(x, ...) TRUE
isGLMM.lemma_fit <- function(x, ...) FALSE
isNLMM.lemma_fit <- function(x, ...) FALSE

# lmerTest's contest() generic reaches lemma fits through contest.lemma_fit
# (registered in R/zzz.R); lemma's contest() hands lme4 fits to lmerTest.
#' @export
contest.default <- function(fit, L, ...) forward_generic("contest", fit, L, ..., pkg = "lmerTest")

# lmerTest's contest1D() and contestMD() for lemma fits, registered on lmerTest's
# generics (R/zzz.R): the t test of one contrast and the joint F test, through
# contest(). lmerTest's `eps` (its step for numerical derivatives) has no use here:
# lemma's derivatives are exact.
contest1D.lemma_fit <- function(model, L, rhs = 0, ddf = c("Satterthwaite", "Kenward-Roger"),
                                confint = FALSE, level = 0.95, ...) {
  check_dots_unused(list(...), "contest1D")
  if (is.matrix(L) && nrow(L) != 1L)
    stop("contest1D(): 'L' must be a single contrast (a vector); use contestMD() for several", call. = FALSE)
  contest(model, L, ddf = ddf, joint = FALSE, confint = confint, level = level, rhs = rhs)
}

contestMD.lemma_fit <- function(model, L, rhs = 0, ddf = c("Satterthwaite", "Kenward-Roger"),
                                eps = sqrt(.Machine$double.eps), ...) {
  dots <- list(...)
  if (!missing(eps)) dots <- c(list(eps = eps), dots)
  check_dots_unused(dots, "contestMD")
  contest(model, L, ddf = ddf, joint = TRUE, rhs = rhs)
}

#' Extract parts of a fitted model, by lme4's names
#'
#' lme4's `getME()` for lemma fits: the parts of the model that lemma holds, under
#' the names lme4 uses, so that code written for lme4 (and lme4's own functions
#' such as `isSingular()`) works on lemma fits. lme4 fits are handed to lme4's
#' `getME()`.
#'
#' Available: `"X"`, `"Z"`, `"Zt"` (sparse, unweighted, columns grouped by level
#' within each term as in lme4), `"y"`, `"mu"` (fitted values), `"u"` (spherical
#' random effects), `"b"` (random effects, `Lambda u`, a one-column matrix), `"Gp"`, `"Lambda"`,
#' `"Lambdat"` (relative covariance factor), `"RX"` (upper triangular, `RX'RX = X'V^-1X`
#' on the scale of the residual variance), `"sigma"`, `"flist"`, `"fixef"`, `"beta"`,
#' `"theta"`, `"lower"`, `"Tlist"`, `"REML"` (`p` for a REML fit, 0 otherwise, as
#' lme4), `"is_REML"`, `"n_rtrms"`, `"n_rfacs"`, `"N"`, `"n"`, `"p"`, `"q"`,
#' `"p_i"`, `"l_i"`, `"q_i"`, `"k"`, `"m_i"`, `"m"`, `"cnms"`, `"offset"`,
#' `"devfun"` (the objective as a function of theta, from [lmm_devfun()]). `"ALL"`
#' gives all of them. lme4's slot-level parts of its sparse Cholesky (`"L"`, `"A"`,
#' `"Lind"`, `"RZX"`, `"ST"`, `"devcomp"`, ...) have no counterpart and are an error.
#'
#' @param object a fitted model.
#' @param name one or more of the names above.
#' @param ... unused.
#' @return The part; for several names a named list.
#' @examples
#' fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
#' getME(fit, "theta")
#' getME(fit, c("n", "p", "q"))
#' dim(getME(fit, "Z"))
#' @export
getME <- function(object, name, ...) UseMethod("getME")

#' @export
getME.default <- function(object, name, ...) forward_generic("getME", object, name, ...)

getme_names <- c("X", "Z", "Zt", "y", "mu", "u", "b", "Gp", "Lambda", "Lambdat", "RX",
                 "sigma", "flist", "fixef", "beta", "theta", "lower", "Tlist", "REML",
                 "is_REML", "n_rtrms", "n_rfacs", "N", "n", "p", "q", "p_i", "l_i", "q_i",
                 "k", "m_i", "m", "cnms", "offset", "devfun")

#' @rdname getME
#' @export
getME.lemma_fit <- function(object, name, ...) {
  check_dots_unused(list(...), "getME")
  if (missing(name)) stop("getME(): 'name' must be given", call. = FALSE)
  if (!is.character(name) || length(name) == 0L || anyNA(name))
    stop("getME(): 'name' must be a character vector of part names", call. = FALSE)
  if (identical(name, "ALL")) name <- getme_names
  if (length(name) > 1L)
    return(stats::setNames(lapply(name, function(nm) getME.lemma_fit(object, nm)), name))
  if (!name %in% getme_names)
    stop(sprintf("getME(): '%s' is not available for a lemma fit; available: %s", name,
                 paste0("\"", getme_names, "\"", collapse = ", ")), call. = FALSE)
  terms <- object$reterms$terms
  p_i <- vapply(terms, function(t) length(t$cnms), integer(1))
  nlev <- vapply(terms, function(t) t$nlev, integer(1))
  names(p_i) <- vapply(terms, function(t) paste(deparse1(t$lhs[[2]]), "|", t$group), character(1))
  groups <- vapply(terms, function(t) t$group, character(1))
  switch(name,
    X = object$X,
    Z = Matrix::t(lemma_zt(object)),
    Zt = lemma_zt(object),
    y = object$y,
    mu = object$fitted,
    u = unlist(object$u, use.names = FALSE),
    b = matrix(unlist(lapply(object$b, function(b) as.numeric(t(b))), use.names = FALSE), ncol = 1L),
    Gp = c(0L, unname(cumsum(p_i * nlev))),
    Lambda = lemma_lambda(object),
    Lambdat = Matrix::t(lemma_lambda(object)),
    RX = structure(t(object$RX), dimnames = list(colnames(object$X), colnames(object$X))),
    sigma = object$sigma,
    flist = structure(object$flist, assign = match(groups, names(object$flist))),
    fixef = , beta = object$beta,
    theta = object$theta,
    lower = stats::setNames(object$reterms$lower, names(object$theta)),
    Tlist = stats::setNames(lapply(terms, function(t) theta_to_lambda(object$theta[t$theta_index],
                                                                       length(t$cnms))), groups),
    REML = if (isTRUE(object$REML)) ncol(object$X) else 0L,
    is_REML = isTRUE(object$REML),
    n_rtrms = , k = length(terms),
    n_rfacs = length(object$flist),
    N = , n = length(object$y),
    p = ncol(object$X),
    q = sum(p_i * nlev),
    p_i = p_i,
    l_i = vapply(object$flist, nlevels, integer(1)),
    q_i = stats::setNames(p_i * nlev, names(p_i)),
    m_i = stats::setNames(vapply(terms, function(t) length(t$theta_index), integer(1)), names(p_i)),
    m = length(object$theta),
    cnms = stats::setNames(lapply(terms, function(t) t$cnms), groups),
    offset = object$offset,
    devfun = lmm_devfun(object$model_env$frame, REML = object$REML, ptr = model_ptr(object))
  )
}

# Z' (q x n, unweighted), rows of each term grouped by level: for level j of a
# term with p columns, rows offset + (j - 1) p + 1:p, as lme4's Zt. Rows of an
# observation whose grouping level is NA stay empty. The C++ model folds a relmat
# term's factor C (K = C C') into the term's columns (Z (C x I)), so its rows here
# are (C' x I) Z'_k: then Z Lambda Lambda' Z' is the covariance over sigma^2, as in
# lme4-based relmat code that premultiplies Zt by C'.
lemma_zt <- function(object) {
  n <- length(object$y)
  blocks <- lapply(object$reterms$terms, function(t) {
    p <- length(t$cnms)
    codes <- as.integer(t$factor)
    ok <- which(!is.na(codes))
    zt <- Matrix::sparseMatrix(i = as.vector(outer(seq_len(p), (codes[ok] - 1L) * p, "+")),
                               j = rep(ok, each = p), x = as.vector(t(t$X[ok, , drop = FALSE])),
                               dims = c(p * t$nlev, n))
    if (!is.null(t$relchol)) zt <- Matrix::kronecker(Matrix::t(t$relchol), Matrix::Diagonal(p)) %*% zt
    rownames(zt) <- rep(levels(t$factor), each = p)
    zt
  })
  zt <- do.call(rbind, blocks)
  colnames(zt) <- rownames(object$frame)
  methods::as(zt, "CsparseMatrix")
}

# Lambda at the fit's theta, from the C++ model (it knows the relmat factors).
lemma_lambda <- function(object) {
  .model_sparse_parts(model_ptr(object), as.numeric(object$theta))$Lambda
}
