# Parametric bootstrap and profile: lemma against lme4 in one R process, timed
# interleaved (lme4, lemma, lme4, lemma, ...) so that load on the machine hits both
# alike; prints medians (elapsed; the ratio also on CPU time), ratios and the
# evaluations of the criterion per bootstrap refit.
#
# Usage: Rscript inst/bench/bench-boot.R [reps] [nsim] [nsim_lme4_large]
#   LEMMA_BENCH_LME4_LIB=/work/lib/bench Rscript inst/bench/bench-boot.R
# The environment variable puts a library first on the search path for lme4 (e.g.
# CRAN's lme4 2.1-0; without it the lme4 installed with R is used). Models:
# sleepstudy `Reaction ~ Days + (Days | Subject)` and a simulated 4,000 subjects x 10
# visits `y ~ t + x + (t | id)`. Both packages bootstrap nsim (default 1000)
# replicates of the same statistics (fixed effects, variance parameters, sigma);
# on the large model lme4 runs nsim_lme4_large (default 50) replicates and its time
# is scaled linearly to nsim (said in the output).
lib <- Sys.getenv("LEMMA_BENCH_LME4_LIB")
if (nzchar(lib)) .libPaths(c(lib, .libPaths()))
suppressPackageStartupMessages({
  library(lemma)
  library(lme4)
})
args <- as.integer(commandArgs(trailingOnly = TRUE))
reps <- if (length(args) >= 1L) args[1] else 3L
nsim <- if (length(args) >= 2L) args[2] else 1000L
nsim_lme4_large <- if (length(args) >= 3L) args[3] else 50L
future::plan(future::sequential)  # the bar is measured sequentially

simulate_long <- function(n_subjects = 4000, n_visits = 10, seed = 1) {
  set.seed(seed)
  d <- expand.grid(t = 0:(n_visits - 1), id = factor(seq_len(n_subjects)))
  d$x <- rnorm(nrow(d))
  b0 <- rnorm(n_subjects, sd = 3)
  b1 <- rnorm(n_subjects, sd = 0.5)
  d$y <- 10 + 0.3 * d$t + 0.5 * d$x + b0[d$id] + b1[d$id] * d$t + rnorm(nrow(d), sd = 2)
  d
}

# Times each of the expressions in `exprs` reps times, interleaved in the given
# order: median elapsed and median CPU (user + system) seconds. On a loaded machine
# the CPU time is the steadier of the two; both are printed.
interleaved <- function(exprs, reps, env = parent.frame()) {
  times <- cpu <- matrix(NA_real_, reps, length(exprs), dimnames = list(NULL, names(exprs)))
  vals <- list()
  for (r in seq_len(reps)) for (nm in names(exprs)) {
    gc(FALSE)
    tm <- system.time(vals[[nm]] <- eval(exprs[[nm]], env))
    times[r, nm] <- tm[["elapsed"]]
    cpu[r, nm] <- tm[["user.self"]] + tm[["sys.self"]]
  }
  list(median = apply(times, 2, stats::median), cpu = apply(cpu, 2, stats::median), values = vals)
}

# lme4's statistic: the same quantities as lemma's default bootstrap statistics, and
# the evaluations of its refit.
lme4_stat <- function(m) c(fixef(m), getME(m, "theta"), sigma = sigma(m), feval = m@optinfo$feval)

# lemma's evaluations per replicate: the refit loop of confint() on 50 responses;
# evaluations of the criterion plus those of its exact gradient (each one
# factorization; the quasi-Newton refit of a single-term model uses only the latter).
lemma_feval <- function(fit) {
  rf <- lemma:::response_refitter(fit)
  sims <- simulate(fit, nsim = 50, seed = 2)
  mean(vapply(sims, function(y) { o <- rf(y); o$feval + o$ngrad }, numeric(1)))
}

cases <- list(
  list(name = "sleepstudy (Days | Subject)", formula = Reaction ~ Days + (Days | Subject),
       data = sleepstudy, nsim_lme4 = nsim),
  list(name = "4,000 x 10 y ~ t + x + (t | id)", formula = y ~ t + x + (t | id),
       data = simulate_long(), nsim_lme4 = min(nsim, nsim_lme4_large))
)

cat(sprintf("bench-boot.R: lemma %s vs lme4 %s, %d interleaved runs each (medians), %s\n",
            utils::packageVersion("lemma"), utils::packageVersion("lme4"), reps, format(Sys.time())))
rows <- list()
for (cs in cases) {
  fit <- lmm(cs$formula, cs$data)
  fm <- lmer(cs$formula, cs$data)
  scale <- nsim / cs$nsim_lme4
  # the large case takes minutes per lme4 run: one interleaved pair is enough there
  r <- if (cs$nsim_lme4 < nsim) 1L else reps
  b <- interleaved(list(
    lme4 = bquote(suppressWarnings(bootMer(fm, lme4_stat, nsim = .(cs$nsim_lme4), seed = 1))),
    lemma = bquote(suppressWarnings(confint(fit, method = "boot", nsim = .(nsim), seed = 1)))), r)
  bm <- b$values$lme4
  nonconv <- length(attr(attr(b$values$lemma, "boot"), "nonconverged"))
  rows[[length(rows) + 1L]] <- data.frame(
    model = cs$name, task = sprintf("bootstrap %d", nsim),
    lme4_s = b$median[["lme4"]] * scale, lemma_s = b$median[["lemma"]],
    ratio = b$median[["lme4"]] * scale / b$median[["lemma"]],
    cpu_ratio = b$cpu[["lme4"]] * scale / b$cpu[["lemma"]],
    lme4_evals = mean(bm$t[, "feval"]), lemma_evals = lemma_feval(fit),
    note = paste0(if (scale != 1) sprintf("lme4 timed on %d replicates x %g; ", cs$nsim_lme4, scale) else "",
                  sprintf("lemma non-converged %d", nonconv)),
    check.names = FALSE)
  print(rows[[length(rows)]], digits = 3, row.names = FALSE)  # partial results survive a timeout
  p <- interleaved(list(
    lme4 = quote(suppressWarnings(suppressMessages(profile(fm)))),
    lemma = quote(suppressWarnings(profile(fit)))), r)
  rows[[length(rows) + 1L]] <- data.frame(
    model = cs$name, task = "profile (all parameters)",
    lme4_s = p$median[["lme4"]], lemma_s = p$median[["lemma"]], ratio = p$median[["lme4"]] / p$median[["lemma"]],
    cpu_ratio = p$cpu[["lme4"]] / p$cpu[["lemma"]],
    lme4_evals = NA_real_, lemma_evals = NA_real_,
    note = sprintf("points: lme4 %d, lemma %d", nrow(p$values$lme4), nrow(p$values$lemma)), check.names = FALSE)
  print(rows[[length(rows)]], digits = 3, row.names = FALSE)
  ci_l <- suppressWarnings(confint(p$values$lemma))
  ci_4 <- suppressWarnings(confint(p$values$lme4))
  # lme4 2.x orders the variance parameters differently (all sds of a term, then
  # its correlations) under the same .sigNN names: rows are matched by the value at
  # the estimate (the profile's zeta = 0 point)
  at_est <- function(pr) vapply(rownames(ci_4), function(nm) {
    d <- pr[pr$.par == nm, , drop = FALSE]
    d[[nm]][which.min(abs(d$.zeta))]
  }, numeric(1))
  e4 <- at_est(p$values$lme4)
  el <- at_est(p$values$lemma)
  map <- vapply(el, function(v) names(e4)[which.min(abs(e4 - v))], "")
  cat(sprintf("%s: profile intervals, max |lemma - lme4| = %.2g (rows matched by estimate: %s)\n", cs$name,
              max(abs(ci_l[names(map), ] - ci_4[map, ]), na.rm = TRUE),
              paste(names(map), map, sep = "=", collapse = " ")))
}
res <- do.call(rbind, rows)
print(res, digits = 3, row.names = FALSE)
