# Does lmm() reach the optimum? Refits parametric-bootstrap responses of several
# designs with lemma and with lme4 (default optimizer, "bobyqa", "Nelder_Mead") and
# compares each lemma criterion (REML criterion or deviance) with the best of
# lme4's three. Prints per design and in total: how many lemma fits lie above
# lme4's best by more than 1e-6, the largest gap either way (lemma - best lme4;
# negative = lemma lower), and the time of each fitter (whole fits: lmm() for
# lemma; lFormula + mkLmerDevfun + optimizeLmer for lme4, without derivatives) and
# lemma's evaluations (criterion evaluations plus exact-gradient calls, summed).
#
# Usage (with lemma and lme4 installed):
#   Rscript inst/bench/bench-optimum.R [nsim]     # nsim responses per design (default 250)
#
# The designs and the lme4 reference fitter are also used by
# tests/testthat/ref/make-ref-optimum.R (which sources this file with
# LEMMA_BENCH_OPTIMUM_NO_RUN=true) to store the references of test-optimum.R.

suppressPackageStartupMessages({
  library(lemma)
  library(lme4)
})

# Each design: formula, base data, REML, optional weights column `w` and relmat.
# lemma fits the base data and simulate() draws the responses from that fit.
optimum_designs <- function() {
  ss <- lme4::sleepstudy
  set.seed(20261202)
  # Three correlated coefficients per group, few groups (lme4's summary test design).
  g8 <- data.frame(g = factor(rep(1:8, each = 10)), x1 = rnorm(80), x2 = rnorm(80))
  u <- matrix(rnorm(24), 8, 3)
  g8$y <- 5 + u[g8$g, 1] + g8$x1 * (2 + u[g8$g, 2]) + g8$x2 * (4 + u[g8$g, 3]) + rnorm(80)
  # Near-singular random slope: 6 groups of 5, slope sd 0.05 against residual sd 1.
  ns <- data.frame(g = factor(rep(1:6, each = 5)), x = rep(0:4, 6))
  ns$y <- 1 + 0.5 * ns$x + rnorm(6, sd = 0.3)[ns$g] + rnorm(6, sd = 0.05)[ns$g] * ns$x + rnorm(30)
  # Relationship matrix over 40 individuals, 3 records each, crossed with 6 batches.
  ids <- sprintf("i%02d", 1:40)
  A <- matrix(rnorm(40 * 15), 40)
  K <- tcrossprod(A) / 15 + diag(0.05, 40)
  dimnames(K) <- list(ids, ids)
  rm_d <- data.frame(id = factor(rep(ids, each = 3)), batch = factor(rep(1:6, 20)), x = rnorm(120))
  bu <- drop(t(chol(K)) %*% rnorm(40))
  rm_d$y <- 2 + rm_d$x + 0.8 * bu[rm_d$id] + rnorm(6, sd = 0.5)[rm_d$batch] + rnorm(120)
  # Prior weights on sleepstudy.
  ssw <- ss
  ssw$w <- rep(c(0.5, 1, 2), length.out = nrow(ss))
  # lme4's test-predict.R data for the poly case (set.seed(101)).
  set.seed(101)
  dd <- data.frame(x = 1:200, f = factor(rep(1:10, 20)), g = factor(rep(1:20, each = 10)),
                   h = factor(rep(1:5, 40)), y = rnorm(200))
  list(
    sleepstudy_slope2_reml = list(formula = Reaction ~ Days + (Days | Subject), data = ss, REML = TRUE),
    sleepstudy_slope2_ml = list(formula = Reaction ~ Days + (Days | Subject), data = ss, REML = FALSE),
    sleepstudy_uncor_reml = list(formula = Reaction ~ Days + (Days || Subject), data = ss, REML = TRUE),
    orthodont_slope2_ml = list(formula = distance ~ age + Sex + (age | Subject),
                               data = as.data.frame(nlme::Orthodont), REML = FALSE),
    slope3_reml = list(formula = y ~ x1 + x2 + (1 + x1 + x2 | g), data = g8, REML = TRUE),
    crossed_penicillin_reml = list(formula = diameter ~ 1 + (1 | plate) + (1 | sample),
                                   data = lme4::Penicillin, REML = TRUE),
    nested_pastes_reml = list(formula = strength ~ 1 + (1 | batch/cask), data = lme4::Pastes, REML = TRUE),
    nearsingular_slope_ml = list(formula = y ~ x + (x | g), data = ns, REML = FALSE),
    nearsingular_slope_reml = list(formula = y ~ x + (x | g), data = ns, REML = TRUE),
    relmat_crossed_reml = list(formula = y ~ x + (1 | id) + (1 | batch), data = rm_d, REML = TRUE,
                               relmat = list(id = K)),
    weights_slope2_reml = list(formula = Reaction ~ Days + (Days | Subject), data = ssw, REML = TRUE,
                               weights = TRUE),
    intercept_dyestuff_ml = list(formula = Yield ~ 1 + (1 | Batch), data = lme4::Dyestuff, REML = FALSE,
                                 nsim_share = 0.5),
    poly_nested_reml = list(formula = y ~ 1 + f + (1 | h/f) + (poly(x, 2) | g), data = dd, REML = TRUE,
                            nsim_share = 0.2)
  )
}

# lemma's fit of a design to data `d` (the response column replaced).
lemma_fit_design <- function(des, d) {
  if (isTRUE(des$weights))
    lmm(des$formula, d, REML = des$REML, weights = w, relmat = des$relmat)
  else lmm(des$formula, d, REML = des$REML, relmat = des$relmat)
}

# The response name of a design.
response_name <- function(des) all.vars(des$formula[[2]])

# lme4's criterion for data `d` with one optimizer, through the modular interface; a
# relationship matrix K = L L' enters by premultiplying the term's rows of Zt by L'.
lme4_criterion <- function(des, d, optimizer) {
  lf <- if (isTRUE(des$weights)) lFormula(des$formula, d, REML = des$REML, weights = w)
    else lFormula(des$formula, d, REML = des$REML)
  for (g in names(des$relmat)) {
    k <- which(names(lf$reTrms$cnms) == g)
    rows <- (lf$reTrms$Gp[k] + 1L):lf$reTrms$Gp[k + 1L]
    lev <- levels(lf$reTrms$flist[[g]])
    Lt <- chol(des$relmat[[g]][lev, lev])
    lf$reTrms$Zt[rows, ] <- Matrix::Matrix(Lt, sparse = TRUE) %*% lf$reTrms$Zt[rows, ]
  }
  devfun <- do.call(mkLmerDevfun, lf)
  opt <- suppressWarnings(suppressMessages(
    optimizeLmer(devfun, optimizer = optimizer, restart_edge = TRUE, boundary.tol = 1e-5,
                 calc.derivs = FALSE)))
  opt$fval
}

lme4_optimizers <- c(default = "nloptwrap", bobyqa = "bobyqa", Nelder_Mead = "Nelder_Mead")

# Simulated responses of a design (a data frame, one column per response).
design_responses <- function(des, nsim, seed) {
  fit <- suppressWarnings(lemma_fit_design(des, des$data))
  simulate(fit, nsim = nsim, seed = seed)
}

run_design <- function(des, ys) {
  yname <- response_name(des)
  n <- ncol(ys)
  crit <- matrix(NA_real_, n, 1 + length(lme4_optimizers),
                 dimnames = list(NULL, c("lemma", names(lme4_optimizers))))
  time <- setNames(numeric(ncol(crit)), colnames(crit))
  evals <- 0
  for (i in seq_len(n)) {
    d <- des$data
    d[[yname]] <- ys[[i]]
    time[["lemma"]] <- time[["lemma"]] + system.time(
      fit <- suppressWarnings(lemma_fit_design(des, d)), gcFirst = FALSE)[["elapsed"]]
    crit[i, "lemma"] <- if (des$REML) lemma::REMLcrit(fit) else deviance(fit)
    evals <- evals + sum(unlist(fit$optinfo[c("feval", "ngrad")]))
    for (o in names(lme4_optimizers))
      time[[o]] <- time[[o]] + system.time(
        crit[i, o] <- lme4_criterion(des, d, lme4_optimizers[[o]]), gcFirst = FALSE)[["elapsed"]]
  }
  list(crit = crit, time = time, evals = evals)
}

summarize_gaps <- function(crit) {
  gap <- crit[, "lemma"] - apply(crit[, -1, drop = FALSE], 1, min)
  c(fits = length(gap), above_1e6 = sum(gap > 1e-6), max_gap = max(gap), min_gap = min(gap))
}

if (!identical(Sys.getenv("LEMMA_BENCH_OPTIMUM_NO_RUN"), "true")) {
  args <- commandArgs(trailingOnly = TRUE)
  nsim <- if (length(args)) as.integer(args[1]) else 250L
  designs <- optimum_designs()
  rows <- list()
  all_crit <- NULL
  for (nm in names(designs)) {
    des <- designs[[nm]]
    m <- max(10L, round(nsim * if (is.null(des$nsim_share)) 1 else des$nsim_share))
    ys <- design_responses(des, m, seed = 1)
    r <- run_design(des, ys)
    s <- summarize_gaps(r$crit)
    rows[[nm]] <- c(s, r$time, evals = r$evals)
    all_crit <- rbind(all_crit, r$crit)
    cat(sprintf("%-26s fits %4d  above+1e-6 %3d  max gap %10.3g  min gap %10.3g  time (s) lemma %6.2f  lme4 default %6.2f  bobyqa %6.2f  Nelder_Mead %6.2f  lemma evals %6d\n",
                nm, s[["fits"]], s[["above_1e6"]], s[["max_gap"]], s[["min_gap"]],
                r$time[["lemma"]], r$time[["default"]], r$time[["bobyqa"]], r$time[["Nelder_Mead"]],
                as.integer(r$evals)))
  }
  tab <- do.call(rbind, rows)
  s <- summarize_gaps(all_crit)
  tt <- colSums(tab[, c("lemma", names(lme4_optimizers)), drop = FALSE])
  cat(sprintf("%-26s fits %4d  above+1e-6 %3d  max gap %10.3g  min gap %10.3g  time (s) lemma %6.2f  lme4 default %6.2f  bobyqa %6.2f  Nelder_Mead %6.2f  lemma evals %6d\n",
              "TOTAL", s[["fits"]], s[["above_1e6"]], s[["max_gap"]], s[["min_gap"]],
              tt[["lemma"]], tt[["default"]], tt[["bobyqa"]], tt[["Nelder_Mead"]],
              as.integer(sum(tab[, "evals"]))))
}
