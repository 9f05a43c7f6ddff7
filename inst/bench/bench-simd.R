# Per-evaluation speed of lemma's dense kernel sets (src/dense_simd*.cpp) on the two
# InstEval models of issue 11: the time of one criterion evaluation (one
# factorization) and of one gradient (a factorization plus the selected inverse of
# the dense trailing block), for each kernel set (LEMMA_SIMD), thread count and,
# optionally, lemma build (an installed library each, e.g. one built against Eigen
# 3.3 and one against Eigen 3.4).
#
# Usage:
#   Rscript inst/bench/bench-simd.R [--libs=name=DIR,...] [--levels=avx512,avx2,none]
#                                   [--threads=1,2] [--reps=N] [--rounds=R]
#   --libs     lemma builds to compare (default: the library that holds lemma, as "lemma").
#   --levels   kernel sets (LEMMA_SIMD); a set the CPU or the build lacks falls back
#              to the next one down, and the child reports the set it used.
#   --threads  thread counts (lemma's `threads`).
#   --reps     timed evaluations (and gradients) per child, alternating between two
#              thetas so that every call refactors (default 10).
#   --rounds   children per configuration (default 3).
#
# Each configuration runs in a child R process (the kernel set is chosen once per
# session), the configurations interleaved round by round so that load from other
# processes on the machine hits all alike. Reported: the median over all timed calls
# of all rounds, in ms, and the ratio to the first configuration; also the fastest
# call (on a loaded machine, the closest to the time without competition).
args <- commandArgs(trailingOnly = TRUE)
opt <- function(name, default = NULL) {
  hit <- grep(paste0("^--", name, "(=|$)"), args, value = TRUE)
  if (!length(hit)) return(default)
  sub(paste0("^--", name, "=?"), "", hit[1])
}
split_opt <- function(x) strsplit(x, ",", fixed = TRUE)[[1]]
libs_opt <- opt("libs", paste0("lemma=", dirname(find.package("lemma"))))
libs <- vapply(split_opt(libs_opt), function(s) sub("^[^=]*=", "", s), "")
names(libs) <- vapply(split_opt(libs_opt), function(s) sub("=.*$", "", s), "")
levels <- split_opt(opt("levels", "avx512,avx2"))
threads <- as.integer(split_opt(opt("threads", "1,2")))
reps <- as.integer(opt("reps", 10L))
rounds <- as.integer(opt("rounds", 3L))

child <- tempfile(fileext = ".R")
writeLines(c(
  "a <- commandArgs(TRUE); threads <- as.integer(a[1]); reps <- as.integer(a[2])",
  "suppressPackageStartupMessages(library(lemma))",
  "data(InstEval, package = 'lme4')",
  "models <- list(insteval1 = y ~ service + (1 | s) + (1 | d) + (1 | dept:service),",
  "               insteval2 = y ~ service * dept + (1 | s) + (1 | d))",
  "now <- function() as.numeric(Sys.time())",
  "for (id in names(models)) {",
  "  fr <- lmm_frame(models[[id]], InstEval)",
  "  ptr <- lemma:::new_model_ptr(fr, threads)",
  "  k <- length(fr$reterms$theta)",
  "  th <- list(rep(0.6, k), rep(0.5, k)); th0 <- rep(0.7, k)",
  "  # Every timed call at another theta than the call before it (the model reuses",
  "  # the factorization at the same theta).",
  "  invisible(lemma:::.model_objective_gradient(ptr, th0, TRUE))",
  "  te <- tg <- numeric(reps)",
  "  for (i in seq_len(reps)) {",
  "    t0 <- now(); invisible(lemma:::.model_objective(ptr, th[[(i - 1) %% 2 + 1]], TRUE)); te[i] <- now() - t0",
  "  }",
  "  invisible(lemma:::.model_objective(ptr, th0, TRUE))",
  "  for (i in seq_len(reps)) {",
  "    t0 <- now(); invisible(lemma:::.model_objective_gradient(ptr, th[[(i - 1) %% 2 + 1]], TRUE)); tg[i] <- now() - t0",
  "  }",
  "  lv <- if (exists('.simd_level', asNamespace('lemma'))) lemma:::.simd_level() else 'old'",
  "  cat(id, lv, paste(round(1000 * te, 3), collapse = ','),",
  "      paste(round(1000 * tg, 3), collapse = ','), '\\n')",
  "}"), child)

configs <- expand.grid(threads = threads, level = levels, lib = names(libs), stringsAsFactors = FALSE)
configs <- configs[, c("lib", "level", "threads")]
res <- list()
rscript <- file.path(R.home("bin"), "Rscript")
for (r in seq_len(rounds)) {
  for (i in seq_len(nrow(configs))) {
    cf <- configs[i, ]
    # The child's library path: the build under test first, then this session's
    # (lme4 for the data).
    lp <- paste(c(libs[[cf$lib]], .libPaths()), collapse = .Platform$path.sep)
    out <- system2(rscript, c("--vanilla", shQuote(child), cf$threads, reps), stdout = TRUE,
                   env = c(paste0("R_LIBS=", lp), paste0("LEMMA_SIMD=", cf$level)))
    for (line in out) {
      f <- strsplit(trimws(line), " ")[[1]]
      res[[length(res) + 1]] <- data.frame(config = i, model = f[1], used = f[2],
                                           eval = as.numeric(split_opt(f[3])),
                                           grad = as.numeric(split_opt(f[4])))
    }
  }
}
res <- do.call(rbind, res)
tab <- do.call(rbind, lapply(split(res, list(res$config, res$model), drop = TRUE), function(d) {
  cf <- configs[d$config[1], ]
  data.frame(model = d$model[1], lib = cf$lib, LEMMA_SIMD = cf$level, used = d$used[1],
             threads = cf$threads, eval_ms = median(d$eval), grad_ms = median(d$grad),
             eval_min = min(d$eval), grad_min = min(d$grad), n = nrow(d))
}))
tab <- tab[order(tab$model), ]
for (m in unique(tab$model)) {
  w <- tab$model == m
  tab$eval_ratio[w] <- tab$eval_ms[w] / tab$eval_ms[w][1]
  tab$grad_ratio[w] <- tab$grad_ms[w] / tab$grad_ms[w][1]
}
rownames(tab) <- NULL
cat(sprintf("lemma dense kernels, %d child(ren) x %d calls per configuration; times in ms (medians, and minima)\n",
            rounds, reps))
print(format(tab, digits = 3), row.names = FALSE, width = 200)
