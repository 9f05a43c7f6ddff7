# Times lemma::lmm against lme4::lmer in one R process on the same models and prints
# the ratios, with the criteria reached (lower is better; both should agree).
# Usage: Rscript inst/bench/bench-lmm.R [reps]   (needs lme4 installed)
suppressPackageStartupMessages({
  library(lemma)
  library(lme4)
})
args <- commandArgs(trailingOnly = TRUE)
reps <- if (length(args)) as.integer(args[1]) else 3L

best_time <- function(expr, reps) {
  expr <- substitute(expr)
  env <- parent.frame()
  times <- numeric(reps)
  for (i in seq_len(reps)) {
    gc(FALSE)
    times[i] <- system.time(val <- eval(expr, env))[["elapsed"]]
  }
  list(time = min(times), value = val)
}

simulate_slopes <- function(n_subjects = 4000, n_visits = 10, seed = 1) {
  set.seed(seed)
  d <- expand.grid(visit = 0:(n_visits - 1), id = factor(seq_len(n_subjects)))
  d$arm <- factor(ifelse(as.integer(d$id) %% 2 == 0, "treat", "control"))
  b0 <- rnorm(n_subjects, sd = 3)
  b1 <- rnorm(n_subjects, sd = 0.5)
  d$y <- 10 + 0.3 * d$visit + 0.2 * d$visit * (d$arm == "treat") + b0[d$id] + b1[d$id] * d$visit +
    rnorm(nrow(d), sd = 2)
  d
}

data("InstEval", package = "lme4")
cases <- list(
  list(name = "sleepstudy (Days | Subject), 180 rows", formula = Reaction ~ Days + (Days | Subject),
       data = sleepstudy),
  list(name = "InstEval s + d + dept:service, 73,421 rows",
       formula = y ~ service + (1 | s) + (1 | d) + (1 | dept:service), data = InstEval),
  list(name = "simulated random slopes, 40,000 rows", formula = y ~ visit * arm + (visit | id),
       data = simulate_slopes())
)

rows <- lapply(cases, function(cs) {
  r_lemma <- best_time(lmm(cs$formula, cs$data), reps)
  r_lme4 <- best_time(suppressWarnings(lmer(cs$formula, cs$data)), reps)
  data.frame(model = cs$name, lemma_s = r_lemma$time, lme4_s = r_lme4$time,
             speedup = r_lme4$time / r_lemma$time,
             crit_lemma = lemma::REMLcrit(r_lemma$value), crit_minus_lme4 = lemma::REMLcrit(r_lemma$value) - lme4::REMLcrit(r_lme4$value),
             check.names = FALSE)
})
res <- do.call(rbind, rows)
cat(sprintf("lemma vs lme4, best of %d runs each, %s\n", reps, format(Sys.time())))
print(res, digits = 4, row.names = FALSE)
