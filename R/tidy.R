# broom.mixed-style tidy(), glance() and augment() methods on the generics
# package's generics (registered by register_inference_methods()).

# Random-effect sds and correlations from theta and sigma, in the row order of
# lme4's as.data.frame(VarCorr()): per term its sds, then its correlations; then
# the residual.
ranpar_table <- function(fit) {
  rows <- list()
  for (tm in fit$reterms$terms) {
    p <- length(tm$cnms)
    S <- fit$sigma^2 * tcrossprod(theta_to_lambda(fit$theta[tm$theta_index], p))
    sd <- sqrt(diag(S))
    for (i in seq_len(p))
      rows[[length(rows) + 1L]] <- data.frame(group = tm$group, term = paste0("sd__", tm$cnms[i]),
                                              estimate = sd[i], stringsAsFactors = FALSE)
    if (p > 1L) for (j in seq_len(p - 1L)) for (i in (j + 1L):p) {
      r <- if (sd[i] > 0 && sd[j] > 0) S[i, j] / (sd[i] * sd[j]) else NaN
      rows[[length(rows) + 1L]] <- data.frame(group = tm$group,
                                              term = paste0("cor__", tm$cnms[j], ".", tm$cnms[i]),
                                              estimate = r, stringsAsFactors = FALSE)
    }
  }
  rows[[length(rows) + 1L]] <- data.frame(group = "Residual", term = "sd__Observation", estimate = fit$sigma,
                                          stringsAsFactors = FALSE)
  do.call(rbind, rows)
}

#' Tidy, glance and augment an lmm fit
#'
#' broom.mixed-style summaries. `tidy()` returns one row per fixed effect
#' (estimate, std.error, statistic, df, p.value with Satterthwaite's or
#' Kenward-Roger's df, and confidence limits when `conf.int = TRUE`), per
#' random-effect standard deviation and correlation (`ran_pars`, in the order of
#' lme4's `as.data.frame(VarCorr())`), and per conditional mode (`ran_vals`, with
#' conditional standard deviations). `glance()` gives one row of fit statistics;
#' `augment()` adds fitted values and residuals to the data.
#'
#' @param x an `lmm` fit.
#' @param effects any of `"fixed"`, `"ran_pars"`, `"ran_vals"`.
#' @param conf.int add conf.low and conf.high (fixed effects).
#' @param conf.level their level.
#' @param conf.method `"Wald"` (t quantiles with the `df` column, so the interval
#'   agrees with `p.value`; normal quantiles when `ddf = "none"`), `"profile"` or
#'   `"boot"` (through [confint.lemma_fit()]).
#' @param ddf degrees-of-freedom method for the fixed effects.
#' @param data for `augment()`: the data to augment (default the model frame).
#' @param ... passed to `confint()` for profile or bootstrap limits.
#' @return A data frame.
#' @examples
#' fit <- lmm(Reaction ~ Days + (Days | Subject), sleepstudy)
#' tidy.lemma_fit(fit, effects = c("fixed", "ran_pars"))
#' glance.lemma_fit(fit)
#' @name tidy.lemma_fit
NULL

#' @rdname tidy.lemma_fit
#' @export
tidy.lemma_fit <- function(x, effects = c("ran_pars", "fixed"), conf.int = FALSE, conf.level = 0.95,
                     conf.method = c("Wald", "profile", "boot"), ddf = c("Satterthwaite", "Kenward-Roger", "none"),
                     ...) {
  kinds <- c("fixed", "ran_pars", "ran_vals")
  if (!is.character(effects) || !length(effects) || anyNA(match(effects, kinds)))
    stop(sprintf("tidy(): 'effects' must be one or more of %s", paste0("\"", kinds, "\"", collapse = ", ")),
         call. = FALSE)
  conf.method <- check_choice(conf.method[1], c("Wald", "profile", "boot"), "conf.method", "tidy")
  ddf <- match_ddf(ddf, fn = "tidy")
  check_flag(conf.int, "conf.int", "tidy")
  check_number(conf.level, "conf.level", "tidy", lower = 1e-8, upper = 1 - 1e-8)
  # `...` reaches confint() only for profile or bootstrap limits
  if (!conf.int || conf.method == "Wald") check_dots_unused(list(...), "tidy")
  out <- list()
  if ("fixed" %in% effects) {
    tab <- fixef_table(x, ddf)
    fe <- data.frame(effect = "fixed", group = NA_character_, term = rownames(tab),
                     estimate = tab[, "Estimate"], std.error = tab[, "Std. Error"],
                     statistic = tab[, "t value"], stringsAsFactors = FALSE)
    if (ddf != "none") {
      fe$df <- tab[, "df"]
      fe$p.value <- tab[, "Pr(>|t|)"]
    }
    if (conf.int) {
      ci <- if (conf.method == "Wald") {
        # the quantile of the df the table reports (normal only without df)
        a <- 1 - (1 - conf.level) / 2
        q <- if (ddf == "none") stats::qnorm(a) else stats::qt(a, fe$df)
        cbind(fe$estimate - q * fe$std.error, fe$estimate + q * fe$std.error)
      } else {
        stats::confint(x, parm = fe$term, level = conf.level, method = conf.method, ...)
      }
      fe$conf.low <- ci[, 1]
      fe$conf.high <- ci[, 2]
    }
    out$fixed <- fe
  }
  if ("ran_pars" %in% effects) {
    rp <- ranpar_table(x)
    out$ran_pars <- data.frame(effect = "ran_pars", rp, stringsAsFactors = FALSE)
  }
  if ("ran_vals" %in% effects) {
    cv <- .model_condvar(model_ptr(x), as.numeric(x$theta))
    rv <- list()
    for (k in seq_along(x$reterms$terms)) {
      tm <- x$reterms$terms[[k]]
      p <- length(tm$cnms)
      bk <- x$b[[k]]
      sdk <- matrix(x$sigma * sqrt(pmax(cv[[k]][cbind(rep(seq_len(p), tm$nlev), seq_len(p * tm$nlev))], 0)),
                    nrow = tm$nlev, byrow = TRUE)
      for (i in seq_len(p))
        rv[[length(rv) + 1L]] <- data.frame(effect = "ran_vals", group = tm$group, level = rownames(bk),
                                            term = tm$cnms[i], estimate = bk[, i], std.error = sdk[, i],
                                            stringsAsFactors = FALSE)
    }
    out$ran_vals <- do.call(rbind, rv)
  }
  res <- Reduce(function(a, b) {
    for (nm in setdiff(names(b), names(a))) a[[nm]] <- if (nrow(a)) NA else logical(0)
    for (nm in setdiff(names(a), names(b))) b[[nm]] <- if (nrow(b)) NA else logical(0)
    rbind(a, b[names(a)])
  }, out[intersect(c("fixed", "ran_pars", "ran_vals"), names(out))])
  rownames(res) <- NULL
  if (requireNamespace("tibble", quietly = TRUE)) res <- tibble::as_tibble(res)
  res
}

#' @rdname tidy.lemma_fit
#' @export
glance.lemma_fit <- function(x, ...) {
  n <- length(x$y)
  df <- attr(stats::logLik(x), "df")
  crit <- if (isTRUE(x$REML)) x$devcomp[["REML"]] else x$devcomp[["dev"]]
  ll <- -crit / 2
  res <- data.frame(nobs = n, sigma = x$sigma, logLik = ll, AIC = -2 * ll + 2 * df,
                    BIC = -2 * ll + log(n) * df, deviance = crit, df.residual = n - df,
                    REML = isTRUE(x$REML))
  if (requireNamespace("tibble", quietly = TRUE)) res <- tibble::as_tibble(res)
  res
}

#' @rdname tidy.lemma_fit
#' @export
augment.lemma_fit <- function(x, data = x$frame, ...) {
  fixed <- as.numeric(x$X %*% x$beta) + x$offset
  res <- as.data.frame(data)
  if (nrow(res) != length(x$fitted)) stop("'data' must have one row per observation of the fit", call. = FALSE)
  res$.fitted <- x$fitted
  res$.resid <- x$resid
  res$.fixed <- fixed
  res$.offset <- x$offset
  res$.weights <- x$weights
  if (requireNamespace("tibble", quietly = TRUE)) res <- tibble::as_tibble(res)
  res
}
