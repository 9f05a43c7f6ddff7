## Timings of fits with a residual variance per factor level: lemma's
## lmm(dispformula = ~ f) against nlme::lme(weights = varIdent()) and
## glmmTMB(dispformula = ~ f), REML, in one process, interleaved (peer, lemma,
## peer, ...): medians, lemma's evaluations, ratios and the log-likelihoods.
## Run from the package source:
##   R_LIBS=<lib with lemma>:<lib with glmmTMB> Rscript inst/bench/bench-dispformula.R [reps]
## Models: the FDA's replicate-design model on rds11 (37 subjects, 148 rows) and
## on a simulated full replicate (TRTR | RTRT, 2,000 subjects, 8,000 rows).
suppressPackageStartupMessages({ library(lemma); library(nlme) })
has_tmb <- requireNamespace("glmmTMB", quietly = TRUE)
reps <- as.integer(commandArgs(TRUE)[1]); if (is.na(reps)) reps <- 3L
sim_replicate <- function(ns = 2000, seed = 7) {
  set.seed(seed)
  trt <- c("T", "R", "T", "R", "R", "T", "R", "T")
  d <- data.frame(subject = factor(rep(seq_len(ns), each = 4)), period = factor(rep(1:4, ns)))
  d$sequence <- factor(ifelse(as.integer(d$subject) %% 2 == 0, "TRTR", "RTRT"))
  d$treatment <- factor(ifelse(d$sequence == "TRTR", trt[1:4], trt[5:8])[seq_len(nrow(d))], levels = c("R", "T"))
  b <- matrix(rnorm(2 * ns), ns) %*% chol(matrix(c(0.5, 0.4, 0.4, 0.6), 2))
  d$PK <- exp(2 + 0.05 * (d$treatment == "T") + ifelse(d$treatment == "T", b[d$subject, 2], b[d$subject, 1]) +
              rnorm(nrow(d), sd = ifelse(d$treatment == "T", 0.25, 0.35)))
  d
}
big <- sim_replicate()
el <- function(expr) { t0 <- proc.time()[["elapsed"]]; force(expr); proc.time()[["elapsed"]] - t0 }
ctrl <- lmeControl(msMaxIter = 500, msMaxEval = 5000)
case <- function(d) {
  d$logPK <- log(d$PK)
  fns <- list(
    lemma = function() lmm(logPK ~ sequence + period + treatment + (0 + treatment | subject), d, dispformula = ~ treatment),
    nlme = function() lme(logPK ~ sequence + period + treatment, random = ~ 0 + treatment | subject, data = d,
                          weights = varIdent(form = ~ 1 | treatment), control = ctrl))
  if (has_tmb) fns$glmmTMB <- function()
    suppressWarnings(glmmTMB::glmmTMB(logPK ~ sequence + period + treatment + (0 + treatment | subject), d,
                                      dispformula = ~ treatment, REML = TRUE))
  fns
}
cases <- list(rds11 = case(rds11), sim_2000 = case(big))
for (nm in names(cases)) {
  fns <- cases[[nm]]
  times <- matrix(NA_real_, reps, length(fns), dimnames = list(NULL, names(fns)))
  fits <- list()
  for (r in seq_len(reps)) for (k in rev(names(fns))) times[r, k] <- el(fits[[k]] <- fns[[k]]())
  med <- apply(times, 2, stats::median)
  ll <- vapply(fits, function(f) as.numeric(logLik(f)), numeric(1))
  cat(sprintf("%s: median seconds %s; peer / lemma %s; lemma evaluations %d; REML logLik %s\n", nm,
              paste(sprintf("%s %.3f", names(med), med), collapse = ", "),
              paste(sprintf("%s %.1f", names(med)[-1], med[-1] / med[["lemma"]]), collapse = ", "),
              fits$lemma$optinfo$feval, paste(sprintf("%s %.4f", names(ll), ll), collapse = ", ")))
}
