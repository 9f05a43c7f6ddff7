# Bounded, seeded fuzzing of lemma's formula handling: random model formulas
# from a small grammar, fitted by lmm() (then summary, ranef, VarCorr and
# predict) and, when lme4 is installed, by lmer() on the same data.
#
#   Rscript tools/fuzz-formula.R [--minutes=2] [--seed=1] [--timeout=30] [--lme4=yes] [--out=DIR]
#
# Grammar: a response (mostly y; sometimes log(y), none, cbind(y, x), y + x),
# 0-3 fixed terms (numeric and factor variables, ':', '*', '-', '%in%', 0/1,
# parentheses, log(), poly(), I(), scale(), offset()) and 0-3 random terms
# (lhs | group) or (lhs || group) with nesting '/', ':' and interaction()
# groupings, plus rare malformed ones (a bar without parentheses, two bars,
# a numeric or unknown grouping); REML or ML, with or without weights and an
# offset argument. Each case runs in a child R session (see fuzz-helpers.R)
# and is classified as ok (fit and methods ran) / clean error / internal error
# (a message from R's internals) / crash / hang. With lme4, the report also
# counts formulas lme4 fits and lemma refuses (with examples), the reverse,
# and fits whose criterion (REML criterion or deviance) is worse than lme4's
# by more than 1e-3 (lemma's must be equal or better: same model, same data),
# or whose number of observations or of fixed effects differs.
# Formulas found mishandled by earlier runs (known_cases below) run first and
# are listed with lemma's and lme4's outcomes. Exit status 1 on any crash or hang.

script_dir <- dirname(normalizePath(sub("^--file=", "",
  grep("^--file=", commandArgs(FALSE), value = TRUE)[1])))
source(file.path(script_dir, "fuzz-helpers.R"))
opt <- fuzz_args(list(minutes = 2, seed = 1, timeout = 30, lme4 = "yes", out = ""))
if (!nzchar(opt$out)) opt$out <- tempfile("lemma-fuzz-formula-")
dir.create(opt$out, recursive = TRUE, showWarnings = FALSE)
use_lme4 <- opt$lme4 == "yes" && requireNamespace("lme4", quietly = TRUE)
set.seed(opt$seed)

# ---- the grammar ----------------------------------------------------------------
pick <- function(x, prob = NULL) x[sample.int(length(x), 1L, prob = prob)]
fixed_atoms <- c("1", "0", "-1", "x", "z", "a", "b", "x:a", "x*a", "a*b", "a:b", "log(t)",
                 "poly(x, 2)", "I(x^2)", "offset(off)", "(x + z)", "x %in% a", "scale(x)",
                 "sqrt(t)", "factor(t)", "b - 1", "x:z", "-x")
re_lhs <- c("1", "1", "1", "0 + x", "x", "1 + x", "x + z", "a", "0 + a", "log(t)", "I(x^2)",
            "poly(x, 2)", "b", "x:b", "0 + b", "-1 + x", "1 + offset(off)")
re_group <- c("g", "g", "h", "g/s", "g:s", "g:h", "(g)", "s %in% g", "a", "b",
              "g/s/h", "interaction(g, h)", "h/g", "g:b")
odd_group <- c("x", "nothere", "1", "g + h", "t", "factor(t)", "s")
random_term <- function() {
  lhs <- pick(re_lhs)
  grp <- if (runif(1) < 0.93) pick(re_group) else pick(odd_group)
  bar <- pick(c("|", "||"), prob = c(0.7, 0.3))
  form <- pick(c("(%s %s %s)", "%s %s %s", "((%s %s %s))", "(%s %s %s | h)", "(%s %s %s):x",
                 "(%s %s %s) * a", "-(%s %s %s)"), prob = c(0.9, rep(0.1 / 6, 6)))
  sprintf(form, lhs, bar, grp)
}
make_formula <- function() {
  lhs <- pick(c("y", "log(y)", "", "cbind(y, x)", "y + x"), prob = c(0.9, 0.04, 0.02, 0.02, 0.02))
  fx <- vapply(seq_len(pick(0:3, prob = c(0.15, 0.4, 0.3, 0.15))), function(i) pick(fixed_atoms), "")
  re <- vapply(seq_len(pick(0:3, prob = c(0.05, 0.55, 0.3, 0.1))), function(i) random_term(), "")
  terms <- sample(c(fx, re))
  if (!length(terms)) terms <- "1"
  ops <- vapply(seq_len(length(terms) - 1L), function(i)
    pick(c(" + ", " - ", " * "), prob = c(0.92, 0.04, 0.04)), "")
  rhs <- paste0(terms[1], paste0(ops, terms[-1], collapse = ""))
  paste(lhs, "~", rhs)
}
# Inputs that earlier runs found mishandled (see CONTRIBUTING.md); they run
# first, whatever the seed, so each run shows whether they are still there.
known_cases <- list(
  # a bar inside a bar's left-hand side: R-internal "dims [product 2] do not match"
  list(formula = "y ~ (1 + x || g | h)", REML = TRUE),
  list(formula = "y ~ (1 + offset(off) || (g)) + 0 + a || g", REML = TRUE),
  # offset() inside a random-effect term: lme4 adds it to the model, lemma drops it
  # silently (criterion -166.35 vs lme4's -81.43)
  list(formula = "log(y) ~ (1 + offset(off) | g)", REML = TRUE),
  # a sum as grouping factor: the message ends in "could not find function \"offset\""
  list(formula = "y ~ 0 + a | b + offset(off)", REML = TRUE),
  # optimizer: lemma stops at theta = 0, REML criterion 302.658 vs lme4's 302.536
  list(formula = "y ~ (b | h)", REML = TRUE),
  list(formula = "y ~ sqrt(t) + (poly(x, 2) | g/s) + a + factor(t)", REML = TRUE),
  # lme4 keeps the intercept of `(1 | g) - 1`; lemma drops it, as written
  list(formula = "y ~ (1 | g) - 1", REML = TRUE),
  # two basins (the mean carried by the intercept of h or of b): lemma stopped in
  # the worse, 287.44 against lme4's 275.07 (R/multistart.R)
  list(formula = "y ~ x:a + (x | b) + (b || h/g) - 1", REML = TRUE))

make_case <- function(k) {
  if (k <= length(known_cases))
    return(c(list(case = k), known_cases[[k]],
             list(weights = FALSE, offset = FALSE, lme4 = use_lme4, known = TRUE)))
  repeat {
    f <- make_formula()
    if (!inherits(try(str2lang(f), silent = TRUE), "try-error")) break
  }
  list(case = k, formula = f, REML = runif(1) < 0.7,
       weights = runif(1) < 0.1, offset = runif(1) < 0.05, lme4 = use_lme4, known = FALSE)
}

# ---- the child's work -------------------------------------------------------------
setup <- function() {
  suppressPackageStartupMessages(library(lemma))
  options(lemma.threads = 1L, warn = 1)
  set.seed(42)
  n <- 72
  d <- data.frame(g = factor(rep(paste0("g", 1:6), each = 12)),
                  h = factor(rep(paste0("h", 1:4), 18)),
                  s = factor(rep(rep(c("s1", "s2", "s3"), each = 4), 6)),  # nested in g
                  a = factor(rep(c("lo", "mid", "hi"), 24)),
                  b = factor(sample(c("u", "v"), n, TRUE)),
                  x = rnorm(n), z = rnorm(n), t = rep(1:12, 6),
                  w = runif(n, 0.5, 2), off = rnorm(n, sd = 0.1))
  d$y <- 20 + d$x + 0.5 * d$z + rnorm(6)[d$g] + rnorm(4, sd = 0.5)[d$h] +
    rnorm(18, sd = 0.5)[interaction(d$g, d$s)] + 0.3 * d$x * rnorm(6)[d$g] + rnorm(n)
  assign("d", d, envir = .GlobalEnv)
  if (requireNamespace("lme4", quietly = TRUE)) suppressPackageStartupMessages(loadNamespace("lme4"))
  invisible(TRUE)
}
child <- function(cs) {
  call_text <- function(fn) paste0(fn, "(", cs$formula, ", data = d, REML = ", cs$REML,
                                   if (cs$weights) ", weights = w", if (cs$offset) ", offset = off", ")")
  stage <- "lmm"
  res <- tryCatch(suppressWarnings(suppressMessages({
    fit <- eval(str2lang(call_text("lemma::lmm")), .GlobalEnv)
    crit <- if (cs$REML) REMLcrit(fit) else deviance(fit)
    stage <- "summary"; invisible(summary(fit))
    stage <- "ranef"; invisible(as.data.frame(ranef(fit, condVar = TRUE)))
    stage <- "VarCorr"; invisible(as.data.frame(VarCorr(fit)))
    stage <- "predict"; invisible(predict(fit, newdata = d[c(1, 30, 72), ]))
    if (!is.finite(crit)) stop("INTERNAL: non-finite criterion without an error")
    list(ok = TRUE, stage = "done", message = "", crit = crit, nobs = nobs(fit),
         p = length(fixef(fit)), ntheta = length(fit$theta))
  })), error = function(e) list(ok = FALSE, stage = stage, message = conditionMessage(e)))
  if (isTRUE(cs$lme4)) {
    ref <- tryCatch(suppressWarnings(suppressMessages({
      m <- eval(str2lang(call_text("lme4::lmer")), .GlobalEnv)
      list(ok = TRUE, crit = if (cs$REML) lme4::REMLcrit(m) else stats::deviance(m),
           nobs = stats::nobs(m), p = length(lme4::fixef(m)),
           ntheta = length(lme4::getME(m, "theta")))
    })), error = function(e) list(ok = FALSE, message = conditionMessage(e)))
    res$lme4 <- ref
  }
  res
}
internal_patterns <- c(internal_patterns, "^INTERNAL:")

# ---- the run -------------------------------------------------------------------------
cat(sprintf("fuzz-formula: seed %g, %g minute(s), timeout %g s per case, lme4 %s\n",
            opt$seed, opt$minutes, opt$timeout, if (use_lme4) "compared" else "not used"))
run <- fuzz_loop(make_case, child, setup, opt, function(cs, r, k) {
  out <- c(cs, list(class = r$class, message = r$message, stage = r$value$stage %||% NA_character_))
  out$value <- r$value
  out
})
results <- run$results
elapsed <- run$elapsed
describe <- function(r) sprintf("lmm(%s, REML = %s%s%s) [at %s]", r$formula, r$REML,
                                if (r$weights) ", weights = w" else "",
                                if (r$offset) ", offset = off" else "", r$stage)
describe_vs <- function(r) paste0(describe(r), if (!is.null(r$value$lme4))
  paste0("; lme4: ", if (isTRUE(r$value$lme4$ok)) "fits"
         else substr(gsub("\\s+", " ", r$value$lme4$message), 1, 120)))
tab <- print_summary(results, "fuzz-formula", describe_vs)
cat(sprintf("\nKnown cases (the first %d, always run):\n", length(known_cases)))
for (r in results[vapply(results, function(r) isTRUE(r$known), TRUE)])
  cat(sprintf("  %-15s %s\n     lemma: %s\n     lme4:  %s\n", r$class, describe(r),
              if (r$class == "ok") format(r$value$crit, digits = 8) else substr(r$message, 1, 150),
              if (is.null(r$value$lme4)) "-" else if (isTRUE(r$value$lme4$ok))
                format(r$value$lme4$crit, digits = 8)
              else substr(gsub("\\s+", " ", r$value$lme4$message), 1, 150)))
saveRDS(results, file.path(opt$out, "results.rds"))

if (use_lme4) {
  ours <- vapply(results, function(r) r$class == "ok", TRUE)
  theirs <- vapply(results, function(r) isTRUE(r$value$lme4$ok), TRUE)
  has_ref <- vapply(results, function(r) !is.null(r$value$lme4), TRUE)
  cat(sprintf("\nAgainst lme4 (%d cases with both run): both fit %d, both refuse %d, lme4 fits and lemma refuses %d, lemma fits and lme4 refuses %d\n",
              sum(has_ref), sum(ours & theirs), sum(!ours & !theirs & has_ref),
              sum(!ours & theirs), sum(ours & !theirs & has_ref)))
  show <- function(idx, title, msg) {
    if (!length(idx)) return(invisible())
    # one example per distinct message (numbers and quoted names masked)
    key <- substr(gsub("\\([^()]*\\)", "()", gsub("[0-9]+", "N",
                  gsub("'[^']*'", "'...'", vapply(results[idx], msg, "")))), 1, 60)
    first <- idx[!duplicated(key)]
    cat(sprintf("\n%s: %d cases, %d distinct messages; one example each (up to 15):\n",
                title, length(idx), length(first)))
    for (i in utils::head(first, 15)) {
      cat("  ", describe(results[[i]]), sprintf("(x%d)\n", sum(key == key[idx == i])))
      cat("     ->", substr(gsub("\\s+", " ", msg(results[[i]])), 1, 200), "\n")
    }
  }
  show(which(!ours & theirs), "lme4 fits, lemma refuses", function(r) r$message)
  show(which(ours & !theirs & has_ref), "lemma fits, lme4 refuses", function(r) r$value$lme4$message)
  both <- which(ours & theirs)
  dcrit <- vapply(results[both], function(r) r$value$crit - r$value$lme4$crit, 0)
  same_shape <- vapply(results[both], function(r)
    r$value$nobs == r$value$lme4$nobs && r$value$p == r$value$lme4$p &&
      r$value$ntheta == r$value$lme4$ntheta, TRUE)
  finite <- is.finite(dcrit)  # lme4's REML criterion is not finite with no fixed effect
  worse <- both[same_shape & finite & dcrit > 1e-3]
  better <- both[same_shape & finite & dcrit < -1e-3]
  cat(sprintf("\nBoth fit: %d; criterion within 1e-3 of lme4's: %d; lemma worse by > 1e-3: %d; lemma better by > 1e-3: %d; a criterion not finite: %d; nobs, number of fixed effects or of theta differ: %d\n",
              length(both), sum(same_shape & finite & abs(dcrit) <= 1e-3), length(worse),
              length(better), sum(same_shape & !finite), sum(!same_shape)))
  for (i in utils::head(c(worse, both[!same_shape]), 15)) {
    v <- results[[i]]$value
    cat(sprintf("   %s: lemma %.6f (n %d, p %d, theta %d) vs lme4 %.6f (n %d, p %d, theta %d)\n",
                describe(results[[i]]), v$crit, v$nobs, v$p, v$ntheta,
                v$lme4$crit, v$lme4$nobs, v$lme4$p, v$lme4$ntheta))
  }
}
n_bad <- tab[["crash"]] + tab[["hang"]]
cat(sprintf("\nFUZZ-FORMULA VERDICT: %s - %d cases in %.0f s (seed %g): %d ok, %d clean errors, %d internal errors, %d crashes, %d hangs; results %s\n",
            if (n_bad == 0) "PASS" else "FAIL", length(results), elapsed, opt$seed,
            tab[["ok"]], tab[["clean error"]], tab[["internal error"]], tab[["crash"]], tab[["hang"]],
            file.path(opt$out, "results.rds")))
quit(status = if (n_bad == 0) 0L else 1L)
