## Benchmark of lemma's small-sample inference against lmerTest and pbkrtest.
##
## Run:  Rscript inst/bench/bench-inference.R [n_subjects_large] [n_subjects_kr]
## (defaults 2000 and 150: 40,000 and 3,000 rows, 20 visits per subject).
## LEMMA_BENCH_INSTEVAL=1 adds the crossed InstEval model (lme4::InstEval).
##
## Model: y ~ time * arm + (time | id), random intercept and slope.
## Large design: lemma fit, Satterthwaite df for all fixed effects, Kenward-Roger
## (adjusted covariance + df); lme4 fit and lmerTest's Satterthwaite (numerical
## Hessian and Jacobian). pbkrtest forms n x n matrices, so it is timed on the
## small design only; on the large one it is reported as impractical
## (a 40,000 x 40,000 dense matrix alone is 12.8 GB).
suppressPackageStartupMessages(library(lemma))
args <- commandArgs(trailingOnly = TRUE)
n_large <- if (length(args) >= 1) as.integer(args[1]) else 2000L
n_kr <- if (length(args) >= 2) as.integer(args[2]) else 150L

make_data <- function(nsub, nvis = 20, seed = 1) {
  set.seed(seed)
  d <- expand.grid(time = seq(0, 1, length.out = nvis), id = factor(seq_len(nsub)))
  d$arm <- factor(ifelse(as.integer(d$id) %% 2 == 0, "active", "placebo"), levels = c("placebo", "active"))
  b0 <- rnorm(nsub, 0, 2); b1 <- rnorm(nsub, 0, 1)
  d$y <- 10 + b0[d$id] + (1 - 0.5 * (d$arm == "active") + b1[d$id]) * d$time + rnorm(nrow(d), 0, 1)
  d
}
tm <- function(expr) {
  t0 <- proc.time()[["elapsed"]]
  val <- force(expr)
  list(value = val, sec = proc.time()[["elapsed"]] - t0)
}
form <- y ~ time * arm + (time | id)
have <- function(p) requireNamespace(p, quietly = TRUE)
rows <- list()
add <- function(design, n, tool, task, sec) {
  rows[[length(rows) + 1L]] <<- data.frame(design = design, n = n, tool = tool, task = task, seconds = round(sec, 3))
  cat(sprintf("%-6s n=%-6d %-9s %-34s %8.3f s\n", design, n, tool, task, sec))
}

for (design in c("small", "large")) {
  nsub <- if (design == "small") n_kr else n_large
  d <- make_data(nsub)
  n <- nrow(d)
  f <- tm(lmm(form, d))
  fit <- f$value
  add(design, n, "lemma", "fit (REML)", f$sec)
  s <- tm(fixef_table(fit, "Satterthwaite"))
  add(design, n, "lemma", "Satterthwaite df (all coefficients)", s$sec)
  k <- tm(fixef_table(fit, "Kenward-Roger"))
  add(design, n, "lemma", "Kenward-Roger (vcovAdj + df)", k$sec)
  a <- tm(anova_terms(fit, ddf = "Satterthwaite"))
  add(design, n, "lemma", "type III anova (Satterthwaite)", a$sec)
  if (have("lmerTest")) {
    l <- tm(suppressMessages(lme4::lmer(form, d)))
    add(design, n, "lme4", "fit (REML)", l$sec)
    lt <- tm(lmerTest::as_lmerModLmerTest(l$value))
    st <- tm(summary(lt$value, ddf = "Satterthwaite")$coefficients)
    add(design, n, "lmerTest", "Satterthwaite df (all coefficients)", lt$sec + st$sec)
    cat(sprintf("   max rel. diff of Satterthwaite df lemma vs lmerTest: %.2e\n",
                max(abs(s$value[, "df"] / st$value[, "df"] - 1))))
  }
  if (design == "small" && have("pbkrtest")) {
    pk <- tm(suppressWarnings(summary(lmerTest::as_lmerModLmerTest(l$value), ddf = "Kenward-Roger")$coefficients))
    add(design, n, "pbkrtest", "Kenward-Roger (vcovAdj + df)", pk$sec)
    cat(sprintf("   max rel. diff KR SE lemma vs pbkrtest: %.2e; KR df: %.2e\n",
                max(abs(k$value[, "Std. Error"] / pk$value[, "Std. Error"] - 1)),
                max(abs(k$value[, "df"] / pk$value[, "df"] - 1))))
  }
  if (design == "large")
    cat(sprintf("   pbkrtest on n = %d: impractical (n x n matrices: %.1f GB each); not run\n", n, 8 * n^2 / 1e9))
}
## Optional: a crossed design at InstEval size (73,421 rows; 2,972 x 1,128 x 28 levels).
if (nzchar(Sys.getenv("LEMMA_BENCH_INSTEVAL")) && have("lme4")) {
  data(InstEval, package = "lme4")
  fi <- y ~ service + (1 | s) + (1 | d) + (1 | dept:service)
  n <- nrow(InstEval)
  f <- tm(lmm(fi, InstEval)); add("insteval", n, "lemma", "fit (REML)", f$sec)
  s <- tm(fixef_table(f$value, "Satterthwaite")); add("insteval", n, "lemma", "Satterthwaite df (all coefficients)", s$sec)
  k <- tm(fixef_table(f$value, "Kenward-Roger")); add("insteval", n, "lemma", "Kenward-Roger (vcovAdj + df)", k$sec)
  if (have("lmerTest")) {
    l <- tm(suppressMessages(lme4::lmer(fi, InstEval))); add("insteval", n, "lme4", "fit (REML)", l$sec)
    lt <- tm(lmerTest::as_lmerModLmerTest(l$value))
    st <- tm(summary(lt$value, ddf = "Satterthwaite")$coefficients)
    add("insteval", n, "lmerTest", "Satterthwaite df (all coefficients)", lt$sec + st$sec)
    cat(sprintf("   max rel. diff of Satterthwaite df lemma vs lmerTest: %.2e\n",
                max(abs(s$value[, "df"] / st$value[, "df"] - 1))))
  }
}
res <- do.call(rbind, rows)
ratio <- function(design, task, a, b) {
  x <- res$seconds[res$design == design & res$task == task & res$tool == a]
  y <- res$seconds[res$design == design & res$task == task & res$tool == b]
  if (length(x) && length(y)) cat(sprintf("%-6s %-36s %s / %s = %.1fx faster\n", design, task, b, a, y / max(x, 1e-3)))
}
cat("\nRatios:\n")
for (dsg in c("small", "large", "insteval")) {
  ratio(dsg, "fit (REML)", "lemma", "lme4")
  ratio(dsg, "Satterthwaite df (all coefficients)", "lemma", "lmerTest")
  ratio(dsg, "Kenward-Roger (vcovAdj + df)", "lemma", "pbkrtest")
}
sl <- res[res$design == "large" & res$tool == "lemma", ]
cat(sprintf("large: Satterthwaite df %.3f s vs lemma fit %.3f s (must be less)\n",
            sl$seconds[sl$task == "Satterthwaite df (all coefficients)"], sl$seconds[sl$task == "fit (REML)"]))
invisible(res)
