# Fit speed: lemma::lmm against lme4::lmer (2.1-0 or later; glmmTMB too where it fits
# the same model) in one R process, on the models of issue 11.
#
# Usage:
#   Rscript inst/bench/bench-speed.R [--lme4-lib=DIR] [--reps=N] [--only=a,b] [--big]
#                                    [--reps-large=N] [--no-mem] [--no-glmmtmb] [--allow-old-lme4]
#                                    [--threads=N]
#   --lme4-lib  library holding the newer lme4 (also env LEMMA_BENCH_LME4_LIB);
#               default /work/lib/bench when it exists.
#   --reps      timed repetitions of each fit for the small and medium models (default 5).
#   --reps-large  repetitions of the 200,000-row model (default 2); the 1e6-row one runs once.
#   --only      comma-separated case ids (see `cases` below); default all but "big".
#   --big       also the 1,000,000-row crossed model (lemma only; lme4 with --big-lme4).
#   --no-mem    skip the peak-memory runs.
#   --allow-old-lme4  run with an lme4 older than 2.1-0 (for the 1.1-31 column).
#   --threads   lemma's OpenMP threads for its large dense blocks (options(lemma.threads));
#               default 1. lme4's sparse Cholesky uses the BLAS's threads (all cores
#               with OpenBLAS) whatever this says.
#
# Timing: elapsed time of the whole call (lmm() / lmer() from formula and data),
# lemma and its peers interleaved (peer, lemma, peer, lemma, ...) so that load from
# other processes on the machine hits both alike; the median is reported, and the
# median CPU time (user + system; steadier on a loaded machine). Fits under ~25 ms
# are timed in batches (column `batch`: fits per timed run, time per fit reported).
# Evaluations: lme4 fit@optinfo$feval (its optimizer's count; lme4's convergence
# check evaluates the deviance again for its finite-difference Hessian, not counted);
# lemma fit$optinfo$feval + fit$optinfo$ngrad (every evaluation of the criterion,
# including the boundary probes and the finite differences of the Newton polish and
# of the convergence check, plus every evaluation of its exact gradient, which
# drives the Newton steps from the start), with the gradient calls alone in
# lemma_ngrad. A criterion evaluation is one factorization; a gradient is one
# factorization (none when the criterion was just evaluated at the same theta),
# plus, with several terms, the selected inverse of the dense trailing block
# (about 1.5 factorizations' flops).
# Peak memory: each fit runs once more in a child R process that has loaded the
# packages and the data; the child reads VmHWM (peak resident set size) from
# /proc/self/status before and after the fit. Reported: the peak after the fit, and
# the increase over the child's peak before it.
args <- commandArgs(trailingOnly = TRUE)
opt <- function(name, default = NULL) {
  hit <- grep(paste0("^--", name, "(=|$)"), args, value = TRUE)
  if (!length(hit)) return(default)
  v <- sub(paste0("^--", name, "=?"), "", hit[1])
  if (v == "") TRUE else v
}
lme4_lib <- opt("lme4-lib", Sys.getenv("LEMMA_BENCH_LME4_LIB", ""))
if (identical(lme4_lib, "") && dir.exists("/work/lib/bench/lme4")) lme4_lib <- "/work/lib/bench"
if (!identical(lme4_lib, "")) .libPaths(c(lme4_lib, .libPaths()))
reps <- as.integer(opt("reps", 5L))
reps_large <- as.integer(opt("reps-large", 2L))
only <- opt("only", NULL)
if (!is.null(opt("threads"))) options(lemma.threads = as.integer(opt("threads")))
big <- isTRUE(opt("big", FALSE))
big_lme4 <- isTRUE(opt("big-lme4", FALSE))
do_mem <- !isTRUE(opt("no-mem", FALSE)) && file.exists("/proc/self/status")
do_tmb <- !isTRUE(opt("no-glmmtmb", FALSE)) && requireNamespace("glmmTMB", quietly = TRUE)

suppressPackageStartupMessages({
  library(lemma)
  library(lme4)
})
lme4_version <- packageVersion("lme4")
if (lme4_version < "2.1.0" && !isTRUE(opt("allow-old-lme4", FALSE)))
  stop("lme4 ", lme4_version, " found; this benchmark's peer is lme4 >= 2.1-0: pass --lme4-lib=DIR ",
       "(or set LEMMA_BENCH_LME4_LIB), or --allow-old-lme4 for the older column", call. = FALSE)
cat(sprintf("lemma %s (%s), lme4 %s (%s)%s, R %s, %s\n", packageVersion("lemma"),
            dirname(find.package("lemma")), lme4_version, dirname(find.package("lme4")),
            if (do_tmb) paste0(", glmmTMB ", packageVersion("glmmTMB")) else "",
            getRversion(), format(Sys.time(), tz = "UTC", usetz = TRUE)))
cat(sprintf("lemma.threads = %s; load average %s\n", getOption("lemma.threads", 1L),
            paste(readLines("/proc/loadavg", warn = FALSE), collapse = " ")))

# ---- data ----------------------------------------------------------------------
simulate_slopes <- function(n_subjects = 4000, n_visits = 10, seed = 1) {
  set.seed(seed)
  d <- expand.grid(t = 0:(n_visits - 1), id = factor(seq_len(n_subjects)))
  d$x <- rnorm(nrow(d))
  b0 <- rnorm(n_subjects, sd = 3)
  b1 <- rnorm(n_subjects, sd = 0.5)
  d$y <- 10 + 0.3 * d$t + 0.5 * d$x + b0[d$id] + b1[d$id] * d$t + rnorm(nrow(d), sd = 2)
  d
}
# n ratings of 6,000 users x 4,000 items, pairs drawn at random without repetition.
simulate_ratings <- function(n, n_user = 6000, n_item = 4000, seed = 1) {
  set.seed(seed)
  cell <- sample.int(n_user * n_item, n)
  user <- (cell - 1L) %/% n_item + 1L
  item <- (cell - 1L) %% n_item + 1L
  bu <- rnorm(n_user, sd = 0.5)
  bi <- rnorm(n_item, sd = 0.8)
  data.frame(y = 3 + bu[user] + bi[item] + rnorm(n), user = factor(user, levels = seq_len(n_user)),
             item = factor(item, levels = seq_len(n_item)))
}
data("InstEval", "sleepstudy", "Dyestuff", "Penicillin", "Pastes", package = "lme4",
     envir = environment())
data("Orthodont", package = "nlme", envir = environment())

cases <- list(
  list(id = "sleepstudy", name = "sleepstudy (Days | Subject)", formula = Reaction ~ Days + (Days | Subject),
       data = quote(sleepstudy)),
  list(id = "sleep_uncor", name = "sleepstudy (Days || Subject)", formula = Reaction ~ Days + (Days || Subject),
       data = quote(sleepstudy)),
  list(id = "dyestuff", name = "Dyestuff (1 | Batch)", formula = Yield ~ 1 + (1 | Batch), data = quote(Dyestuff)),
  list(id = "penicillin", name = "Penicillin (1 | plate) + (1 | sample)",
       formula = diameter ~ 1 + (1 | plate) + (1 | sample), data = quote(Penicillin)),
  list(id = "pastes", name = "Pastes (1 | batch/cask)", formula = strength ~ 1 + (1 | batch / cask),
       data = quote(Pastes)),
  list(id = "orthodont", name = "Orthodont (age | Subject)", formula = distance ~ age + Sex + (age | Subject),
       data = quote(Orthodont)),
  list(id = "insteval1", name = "InstEval s + d + dept:service",
       formula = y ~ service + (1 | s) + (1 | d) + (1 | dept:service), data = quote(InstEval), tmb = FALSE),
  list(id = "insteval2", name = "InstEval service * dept + s + d",
       formula = y ~ service * dept + (1 | s) + (1 | d), data = quote(InstEval), tmb = FALSE),
  list(id = "slopes", name = "4,000 x 10 (t | id)", formula = y ~ t + x + (t | id),
       data = quote(simulate_slopes())),
  list(id = "crossed200k", name = "200,000 ratings 6,000 x 4,000", formula = y ~ 1 + (1 | user) + (1 | item),
       data = quote(simulate_ratings(2e5)), reps = reps_large, tmb = FALSE),
  list(id = "big", name = "1,000,000 ratings 6,000 x 4,000", formula = y ~ 1 + (1 | user) + (1 | item),
       data = quote(simulate_ratings(1e6)), reps = 1L, tmb = FALSE, lme4 = big_lme4)
)
ids <- vapply(cases, `[[`, "", "id")
keep <- if (!is.null(only)) ids %in% strsplit(only, ",")[[1]] else ids != "big" | big
cases <- cases[keep]

# ---- fitting, timing, memory ---------------------------------------------------
fitters <- list(
  lme4 = function(f, d) suppressMessages(suppressWarnings(lme4::lmer(f, d))),
  lemma = function(f, d) suppressMessages(suppressWarnings(lemma::lmm(f, d))),
  glmmTMB = function(f, d) suppressWarnings(glmmTMB::glmmTMB(f, d, REML = TRUE))
)
crit <- list(lme4 = function(m) lme4::REMLcrit(m), lemma = function(m) lemma::REMLcrit(m),
             glmmTMB = function(m) -2 * as.numeric(stats::logLik(m)))
nfev <- list(lme4 = function(m) m@optinfo$feval, lemma = function(m) m$optinfo$feval + m$optinfo$ngrad,
             glmmTMB = function(m) m$fit$evaluations[["function"]])

# A fit of a few milliseconds is timed as a batch of k fits (k chosen from a first
# fit so that a batch takes about 50 ms): proc.time() counts milliseconds, and on a
# loaded machine a lone short fit often waits a whole scheduler slice. Returns the
# time per fit, elapsed and CPU (user + system).
elapsed <- function(fun, f, d, k = 1L) {
  gc(FALSE)
  t0 <- proc.time()
  for (i in seq_len(k)) m <- fun(f, d)
  t1 <- proc.time() - t0
  list(time = t1[["elapsed"]] / k, cpu = (t1[["user.self"]] + t1[["sys.self"]]) / k, fit = m)
}
batch_size <- function(t) as.integer(max(1, min(50, floor(0.05 / max(t, 1e-4)))))

# Peak memory of one fit in a child R process (MB): VmHWM after the fit, and its
# increase over VmHWM before the fit (packages and data already loaded).
peak_memory <- function(pkg, formula, data) {
  dfile <- tempfile(fileext = ".rds")
  saveRDS(list(formula = formula, data = data), dfile)
  on.exit(unlink(dfile))
  code <- c(
    sprintf(".libPaths(c(%s, .libPaths()))", paste(deparse(.libPaths()), collapse = "")),
    "hwm <- function() { s <- readLines('/proc/self/status'); as.numeric(gsub('[^0-9]', '', grep('^VmHWM', s, value = TRUE))) / 1024 }",
    sprintf("suppressPackageStartupMessages(library(%s))", pkg),
    sprintf("x <- readRDS('%s'); gc()", dfile),
    "before <- hwm()",
    switch(pkg,
           lme4 = "m <- suppressWarnings(lme4::lmer(x$formula, x$data))",
           lemma = "m <- suppressWarnings(lemma::lmm(x$formula, x$data))",
           glmmTMB = "m <- suppressWarnings(glmmTMB::glmmTMB(x$formula, x$data, REML = TRUE))"),
    "cat(hwm(), hwm() - before, '\\n')")
  sfile <- tempfile(fileext = ".R")
  writeLines(code, sfile)
  on.exit(unlink(sfile), add = TRUE)
  out <- suppressWarnings(system2(file.path(R.home("bin"), "Rscript"), sfile, stdout = TRUE, stderr = FALSE))
  v <- suppressWarnings(as.numeric(strsplit(trimws(tail(out, 1)), " +")[[1]]))
  if (length(v) != 2 || anyNA(v)) c(NA_real_, NA_real_) else v
}

rows <- list()
for (cs in cases) {
  d <- eval(cs$data)
  n_reps <- if (!is.null(cs$reps)) cs$reps else reps
  pkgs <- c(if (!isFALSE(cs$lme4)) "lme4", if (do_tmb && !isFALSE(cs$tmb)) "glmmTMB", "lemma")
  times <- cpus <- setNames(vector("list", length(pkgs)), pkgs)
  last <- list()
  k <- setNames(rep(1L, length(pkgs)), pkgs)  # the first run (one fit) sets the batch size
  for (r in seq_len(n_reps)) for (pkg in pkgs) {
    e <- elapsed(fitters[[pkg]], cs$formula, d, k[[pkg]])
    if (r == 1L) k[[pkg]] <- batch_size(e$time)
    times[[pkg]] <- c(times[[pkg]], e$time)
    cpus[[pkg]] <- c(cpus[[pkg]], e$cpu)
    last[[pkg]] <- e$fit
  }
  for (pkg in pkgs) {
    mem <- if (do_mem) peak_memory(pkg, cs$formula, d) else c(NA_real_, NA_real_)
    rows[[length(rows) + 1L]] <- data.frame(
      model = cs$name, n = nrow(d), pkg = pkg, reps = n_reps, batch = k[[pkg]],
      median_s = stats::median(times[[pkg]]), median_cpu_s = stats::median(cpus[[pkg]]),
      evals = nfev[[pkg]](last[[pkg]]),
      ngrad = if (pkg == "lemma") last[[pkg]]$optinfo$ngrad else NA_integer_,
      criterion = crit[[pkg]](last[[pkg]]),
      peak_MB = mem[1], fit_MB = mem[2], stringsAsFactors = FALSE)
  }
  cat(sprintf("done: %s (%s)\n", cs$name, paste(sprintf("%s %.3f s", pkgs,
                                                        vapply(times, stats::median, 0)), collapse = ", ")))
}
res <- do.call(rbind, rows)

# ---- report --------------------------------------------------------------------
lemma_rows <- res[res$pkg == "lemma", ]
ref <- function(pkg, col) {
  r <- res[res$pkg == pkg, ]
  r[[col]][match(lemma_rows$model, r$model)]
}
summary_tab <- data.frame(
  model = lemma_rows$model, n = lemma_rows$n,
  lme4_s = ref("lme4", "median_s"), lemma_s = lemma_rows$median_s,
  ratio = ref("lme4", "median_s") / lemma_rows$median_s,
  cpu_ratio = ref("lme4", "median_cpu_s") / lemma_rows$median_cpu_s,
  lme4_evals = ref("lme4", "evals"), lemma_evals = lemma_rows$evals, lemma_ngrad = lemma_rows$ngrad,
  crit_lemma_minus_lme4 = lemma_rows$criterion - ref("lme4", "criterion"),
  lme4_peak_MB = ref("lme4", "peak_MB"), lemma_peak_MB = lemma_rows$peak_MB,
  lme4_fit_MB = ref("lme4", "fit_MB"), lemma_fit_MB = lemma_rows$fit_MB,
  check.names = FALSE)
if (do_tmb) {
  summary_tab$glmmTMB_s <- ref("glmmTMB", "median_s")
  summary_tab$crit_lemma_minus_glmmTMB <- lemma_rows$criterion - ref("glmmTMB", "criterion")
}
cat(sprintf("\nAll fits (median elapsed seconds of interleaved runs; criterion: REML criterion)\n"))
print(res, digits = 7, row.names = FALSE)
cat(sprintf("\nlemma %s vs lme4 %s: ratio = lme4 time / lemma time\n", packageVersion("lemma"), lme4_version))
print(summary_tab, digits = 3, row.names = FALSE)
worse <- which(summary_tab$crit_lemma_minus_lme4 > 1e-6)
if (length(worse)) {
  cat("\nlemma's criterion is above lme4's by more than 1e-6 on:",
      paste(summary_tab$model[worse], collapse = "; "), "\n")
} else if (any(!is.na(summary_tab$crit_lemma_minus_lme4))) {
  cat("\nlemma's criterion is at or below lme4's + 1e-6 on every model compared.\n")
}
invisible(res)
