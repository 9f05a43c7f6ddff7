## Timings of MMRM fits: lemma against mmrm and nlme::gls in the same process,
## interleaved (peer, lemma, peer, lemma, ...), medians and ratios, so that load on
## a shared machine hits all alike. Run from the package source:
##   R_LIBS=<lib with lemma>:<lib with mmrm> Rscript inst/bench/bench-mmrm.R [reps]
## Models: fev_data (mmrm's, 200 subjects x 4 visits, 537 rows) with us; a
## simulated 2,000-subject x 8-visit trial (1,500 visits missing at random) with us.
## nlme is timed on fev_data only (corSymm + varIdent on 8 visits x 2,000 subjects
## takes minutes). big_us_kr: the fit and Kenward-Roger (mmrm's method =
## "Kenward-Roger", which it computes at the fit; lemma's fixef_table()), and
## lemma's Kenward-Roger step alone on a fitted model.
suppressPackageStartupMessages({ library(lemma); library(mmrm); library(nlme) })
reps <- as.integer(commandArgs(TRUE)[1]); if (is.na(reps)) reps <- 3L
fev <- readRDS(file.path(Sys.getenv("LEMMA_SRC", "."), "tests/testthat/ref/fev_data.rds"))
sim_trial <- function(ns = 2000, m = 8, seed = 42) {
  set.seed(seed)
  d <- expand.grid(visit = factor(paste0("V", 1:m)), id = factor(1:ns))
  d$arm <- factor(ifelse(as.integer(d$id) %% 2 == 0, "TRT", "PBO"))
  d$base <- rnorm(ns)[d$id]
  S <- 0.7^abs(outer(1:m, 1:m, "-")) * tcrossprod(seq(1, 2, length.out = m))
  d$y <- as.numeric(t(chol(S)) %*% matrix(rnorm(ns * m), m)) + 0.3 * d$base +
    0.2 * (d$arm == "TRT") * as.integer(d$visit)
  d[-sample(nrow(d), 1500), ]
}
big <- sim_trial()
el <- function(expr) { t0 <- proc.time()[["elapsed"]]; force(expr); proc.time()[["elapsed"]] - t0 }
cases <- list(
  fev_us = list(
    lemma = function() lmm(FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID), fev),
    mmrm = function() mmrm(FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID), fev),
    nlme = function() gls(FEV1 ~ RACE + SEX + ARMCD * AVISIT, fev, na.action = na.omit,
                          correlation = corSymm(form = ~ VISITN | USUBJID), weights = varIdent(form = ~ 1 | AVISIT))),
  big_us = list(
    lemma = function() lmm(y ~ base + arm * visit + us(visit | id), big),
    mmrm = function() mmrm(y ~ base + arm * visit + us(visit | id), big)),
  big_us_kr = list(
    lemma = function() {
      fit <- lmm(y ~ base + arm * visit + us(visit | id), big)
      fixef_table(fit, "Kenward-Roger")
      fit
    },
    mmrm = function() mmrm(y ~ base + arm * visit + us(visit | id), big, method = "Kenward-Roger",
                           vcov = "Kenward-Roger")))
for (nm in names(cases)) {
  fns <- cases[[nm]]
  times <- matrix(NA_real_, reps, length(fns), dimnames = list(NULL, names(fns)))
  fits <- list()
  for (r in seq_len(reps)) for (k in rev(names(fns))) times[r, k] <- el(fits[[k]] <- fns[[k]]())
  med <- apply(times, 2, stats::median)
  ll <- vapply(fits, function(f) as.numeric(logLik(f)), numeric(1))
  cat(sprintf("%s: median seconds %s; peer / lemma: %s; logLik %s\n", nm,
              paste(sprintf("%s %.3f", names(med), med), collapse = ", "),
              paste(sprintf("%s %.1fx", names(med)[-1], med[-1] / med[["lemma"]]), collapse = ", "),
              paste(sprintf("%s %.6f", names(ll), ll), collapse = ", ")))
  cat(sprintf("  lemma's optimizer: %s\n", fits$lemma$optinfo$message))
}
fit <- lmm(y ~ base + arm * visit + us(visit | id), big)
kr_only <- vapply(seq_len(reps), function(r) {
  fit$model_env$inference <- NULL   # the cached Kenward-Roger pieces
  el(fixef_table(fit, "Kenward-Roger"))
}, numeric(1))
cat(sprintf("big_us Kenward-Roger step alone (lemma): median seconds %.3f\n", stats::median(kr_only)))
