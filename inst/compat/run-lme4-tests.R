# Run lme4's own testthat suite for linear mixed models against lemma::lmm.
#
# Usage: Rscript inst/compat/run-lme4-tests.R [path-to-lme4-tests/testthat]
#
# See README.md in this folder for what is run, how it is rewritten and how blocks
# are classified. lme4's test code is read at run time and never stored in lemma.

lme4_version <- "1.1-31"
tarball_url <- sprintf("https://cloud.r-project.org/src/contrib/Archive/lme4/lme4_%s.tar.gz", lme4_version)

args <- commandArgs(trailingOnly = TRUE)
worker <- length(args) == 3L && args[[1L]] == "--worker"   # internal: one file, one process

if (!worker) {
  test_dir <- if (length(args) >= 1L) args[[1L]] else {
    tmp <- tempfile("lme4-src-")
    dir.create(tmp)
    tgz <- file.path(tmp, basename(tarball_url))
    ok <- tryCatch(utils::download.file(tarball_url, tgz, quiet = TRUE, mode = "wb") == 0L,
                   error = function(e) FALSE, warning = function(w) FALSE)
    if (!ok)
      stop("could not download ", tarball_url, "; give the path of lme4's tests/testthat as the argument",
           call. = FALSE)
    utils::untar(tgz, exdir = tmp)
    file.path(tmp, "lme4", "tests", "testthat")
  }
  if (!dir.exists(test_dir)) stop("no such directory: ", test_dir, call. = FALSE)
}

suppressPackageStartupMessages({
  library(testthat)
  library(lme4)    # the tests use lme4's data and helpers ...
  library(lemma)   # ... and lemma above lme4, as a user switching would attach it
})
Sys.setenv(NOT_CRAN = "true")
# lme4's tests gate their longer blocks on LME4_TEST_LEVEL (1 on CRAN); the runner
# uses 2 unless it is set, so the predict/simulate blocks run too.
if (!nzchar(Sys.getenv("LME4_TEST_LEVEL"))) Sys.setenv(LME4_TEST_LEVEL = "2")

# Files about linear mixed models: those that call lmer(); the GLMM/NLMM files and
# lme4's internal-class files are left out by name.
select_files <- function(test_dir) {
  exclude <- "glmer|glmFamily|glmmFail|nbinom|nlmer|stepHalving|lmerResp|utils"
  files <- sort(list.files(test_dir, pattern = "^test.*\\.R$", full.names = TRUE))
  files <- files[!grepl(exclude, basename(files))]
  files[vapply(files, function(f) {
    any(grepl("(?<![A-Za-z0-9_.])lmer\\(", readLines(f, warn = FALSE), perl = TRUE))
  }, logical(1))]
}

# The rewrite, on the parsed code (strings and test names stay as written): the
# symbol lmer and lme4::lmer become lemma::lmm, as a call or as a function value;
# other pkg::name, x$name and x@name are left alone.
lmm_fun <- quote(lemma::lmm)
rewrite <- function(e) {
  if (is.symbol(e)) return(if (identical(as.character(e), "lmer")) lmm_fun else e)
  if (!is.call(e)) return(e)
  if (identical(e, quote(lme4::lmer))) return(lmm_fun)
  head <- if (is.symbol(e[[1L]])) as.character(e[[1L]]) else ""
  if (head %in% c("::", ":::")) return(e)
  idx <- if (head %in% c("$", "@")) 2L else seq_along(e)
  for (k in idx) {
    if (is.call(e[[k]]) || (is.symbol(e[[k]]) && identical(as.character(e[[k]]), "lmer")))
      e[[k]] <- rewrite(e[[k]])
  }
  e
}

# Aliases: lme4's class checks accept lemma's counterpart classes (a fit, its
# coef/ranef/VarCorr/summary results), so the substantive expectations of a block
# are reached and judged.
class_alias <- c(merMod = "lemma_fit", lmerMod = "lemma_fit", coef.mer = "lemma_coef",
                 ranef.mer = "lemma_ranef", VarCorr.merMod = "lemma_VarCorr",
                 summary.merMod = "summary.lemma_fit")
lemma_class <- function(object, class) {
  if (all(class %in% names(class_alias)) && inherits(object, unname(class_alias[class])))
    unname(class_alias[class]) else class
}
alias_env <- new.env(parent = globalenv())
alias_env$expect_is <- function(object, class, ...) testthat::expect_is(object, lemma_class(object, class), ...)
alias_env$is_a <- function(class) {
  function(x) testthat::expect_true(inherits(x, lemma_class(x, class)),
                                    label = sprintf("object inherits from \"%s\"", class[1]))
}

# Blocks testing lme4's internals: slots, GLMMs/NLMMs, the control and modular
# machinery, lme4:::, allFit, getME names lemma has no counterpart for.
internal_patterns <- c(
  slot = "[A-Za-z0-9_.)\\]]@[A-Za-z.]",
  glmer = "\\b(glmer|nlmer|glmer\\.nb|glmerControl|nlmerControl)\\b",
  lmerControl = "\\blmerControl\\b",
  modular = "\\b(mkMerMod|mkLmerDevfun|lFormula|glFormula|mkReTrms|optimizeLmer|devFunOnly|mkRespMod|merPredD|lmResp|glmResp)\\b",
  triple_colon = "lme4:::",
  allFit = "\\ballFit\\b"
)
# whole files about lme4's machinery (allFit: refits with each of lme4's optimizers)
internal_files <- c("test-allFit.R" = "allFit")
getme_ok <- lemma:::getme_names
# lme4's unexported functions (lme4's tests run inside its namespace and use them)
lme4_hidden <- local({
  ns <- asNamespace("lme4")
  nm <- setdiff(ls(ns, all.names = TRUE), getNamespaceExports("lme4"))
  nm[vapply(nm, function(x) is.function(get(x, envir = ns)) && !exists(x, envir = globalenv()), logical(1))]
})
call_heads <- function(e) {
  if (!is.call(e)) return(character(0))
  head <- if (is.symbol(e[[1L]])) as.character(e[[1L]]) else character(0)
  if (length(head) && head %in% c("::", ":::")) return(character(0))
  c(head, unlist(lapply(as.list(e), call_heads)))
}
internal_reason <- function(expr) {
  text <- paste(deparse(expr), collapse = "\n")
  hit <- names(internal_patterns)[vapply(internal_patterns, grepl, logical(1), x = text, perl = TRUE)]
  hidden <- intersect(call_heads(expr), lme4_hidden)
  if (length(hidden)) hit <- c(hit, paste0("lme4 internal ", paste(hidden, collapse = ",")))
  nm <- regmatches(text, gregexpr("getME\\([^()]*?\"([A-Za-z_.]+)\"", text, perl = TRUE))[[1]]
  nm <- sub(".*\"([A-Za-z_.]+)\"$", "\\1", nm)
  bad <- setdiff(nm, c(getme_ok, "ALL"))
  if (length(bad)) hit <- c(hit, paste0("getME(", paste(bad, collapse = ","), ")"))
  paste(hit, collapse = " ")
}

# A file's top-level code as a flat list of setup statements and test_that blocks,
# descending into `{` and `if` (the conditions on the way are kept with each item).
is_test <- function(e) is.call(e) && identical(e[[1]], as.name("test_that"))
has_test <- function(e) {
  if (is_test(e)) return(TRUE)
  if (!is.call(e)) return(FALSE)
  parts <- as.list(e)[-1]
  for (k in seq_along(parts)) if (is.call(parts[[k]]) && has_test(parts[[k]])) return(TRUE)
  FALSE
}
flatten <- function(e, conds = list()) {
  if (is_test(e)) return(list(list(type = "test", expr = e, conds = conds)))
  if (is.call(e) && identical(e[[1]], as.name("{")))
    return(do.call(c, c(list(list()), lapply(as.list(e)[-1], flatten, conds = conds))))
  if (is.call(e) && identical(e[[1]], as.name("if")) && has_test(e)) {
    out <- flatten(e[[3]], c(conds, list(e[[2]])))
    if (length(e) == 4L) out <- c(out, flatten(e[[4]], c(conds, list(call("!", e[[2]])))))
    return(out)
  }
  list(list(type = "setup", expr = e, conds = conds))
}
conds_hold <- function(conds, env) {
  all(vapply(conds, function(cnd) isTRUE(tryCatch(eval(cnd, env), error = function(e) FALSE)), logical(1)))
}

first_line <- function(msg) {
  lines <- strsplit(msg, "\n", fixed = TRUE)[[1]]
  # rlang shows a condition of a foreign class (Rcpp's) by its classes, then its message
  if (length(lines) > 1L && startsWith(lines[1], "<")) msg <- paste(lines[-1], collapse = "\n")
  msg <- gsub("\\s+", " ", trimws(strsplit(msg, "\n", fixed = TRUE)[[1]][1]))
  if (nchar(msg) > 110) paste0(substr(msg, 1, 107), "...") else msg
}

# test-methods.R and test-predict.R load fits that lme4 saved (lme-tst-fits.rda):
# each lmer fit among them is replaced by lemma's fit of the same call, so that
# lemma's fits are tested, not lme4's. GLMM fits stay lme4's; blocks using them
# are classified internal ("lme4 fit").
refit_saved <- function(env) {
  for (nm in ls(env)) {
    obj <- env[[nm]]
    if (!inherits(obj, "lmerMod")) next
    cl <- getCall(obj)
    cl[[1L]] <- lmm_fun
    cl$control <- NULL
    env[[nm]] <- tryCatch(suppressWarnings(suppressMessages(eval(cl, env))), error = function(e) obj)
  }
}

# One block: a fresh environment, the setup statements before it, then the block
# under a list reporter (testthat's 2nd edition, which lme4 1.1-31 uses).
run_block <- function(items, i, file) {
  env <- new.env(parent = alias_env)
  for (it in items[seq_len(i - 1L)]) {
    if (it$type == "setup" && conds_hold(it$conds, env)) {
      try(suppressWarnings(suppressMessages(eval(it$expr, env))), silent = TRUE)
      if (any(grepl("lme-tst-fits", deparse(it$expr), fixed = TRUE))) refit_saved(env)
    }
  }
  blk <- items[[i]]
  # lme4 fits (saved GLMMs, or lmer fits lemma could not refit) the block uses
  lme4_fits <- Filter(function(nm) inherits(env[[nm]], "merMod"), intersect(all.names(blk$expr), ls(env)))
  out <- function(status, message) list(status = status, message = message, lme4_fits = lme4_fits)
  if (!conds_hold(blk$conds, env))
    return(out("skip", paste("condition not met:", deparse1(blk$conds[[1]]))))
  old_opts <- options()
  on.exit(options(old_opts), add = TRUE)
  rep <- ListReporter$new()
  setTimeLimit(elapsed = 120, transient = TRUE)
  on.exit(setTimeLimit(elapsed = Inf), add = TRUE)
  res <- tryCatch({
    with_reporter(rep, {
      local_edition(2)
      rep$start_file(basename(file))
      suppressMessages(eval(blk$expr, env))
    }, start_end_reporter = TRUE)
    rep$get_results()
  }, error = function(e) e)
  if (inherits(res, "error")) return(out("error", first_line(conditionMessage(res))))
  exps <- unlist(lapply(res, `[[`, "results"), recursive = FALSE)
  kinds <- vapply(exps, function(x) class(x)[1], character(1))
  status <- c(expectation_error = "error", expectation_failure = "fail", expectation_skip = "skip")
  pick <- function(kind) {
    x <- exps[[which(kinds == kind)[1]]]
    out(status[[kind]], first_line(conditionMessage(x)))
  }
  for (k in c("expectation_error", "expectation_failure", "expectation_skip"))
    if (any(kinds == k)) return(pick(k))
  out("pass", "")
}

run_file <- function(f) {
  rows <- list()
  exprs <- tryCatch(parse(f, keep.source = FALSE), error = function(e) e)
  if (inherits(exprs, "error"))
    return(data.frame(file = basename(f), block = "<parse>", status = "error", internal = "",
                      message = first_line(conditionMessage(exprs))))
  items <- do.call(c, lapply(lapply(as.list(exprs), rewrite), flatten))
  for (i in which(vapply(items, function(it) it$type == "test", logical(1)))) {
    blk <- items[[i]]$expr
    desc <- tryCatch(as.character(eval(blk[[2]], baseenv())), error = function(e) deparse1(blk[[2]]))
    r <- run_block(items, i, f)
    why <- internal_reason(blk)
    if (length(r$lme4_fits)) why <- trimws(paste(why, paste0("lme4 fit ", paste(r$lme4_fits, collapse = ","))))
    if (basename(f) %in% names(internal_files)) why <- trimws(paste(internal_files[[basename(f)]], why))
    rows[[length(rows) + 1L]] <- data.frame(file = basename(f), block = desc, status = r$status,
                                            internal = why, message = r$message)
  }
  do.call(rbind, rows)
}

if (worker) {
  saveRDS(run_file(args[[2L]]), args[[3L]])
  quit(save = "no")
}

# Each file in its own R process, so no file sees what another left behind.
self <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
files <- select_files(test_dir)
tab <- do.call(rbind, lapply(files, function(f) {
  out <- tempfile(fileext = ".rds")
  system2(file.path(R.home("bin"), "Rscript"), c(shQuote(self), "--worker", shQuote(f), shQuote(out)),
          stdout = FALSE, stderr = FALSE)
  if (file.exists(out)) readRDS(out) else
    data.frame(file = basename(f), block = "<file>", status = "error", internal = "",
               message = "the R process running this file ended without a result")
}))

show <- function(d, extra = NULL) {
  f <- sub("^test-", "", sub("\\.R$", "", d$file))
  line <- sprintf("%-18s %-42s %-5s %s", substr(f, 1, 18), substr(d$block, 1, 42), d$status,
                  if (is.null(extra)) d$message else paste0("[", d[[extra]], "] ", d$message))
  cat(line, sep = "\n")
}
lin <- tab[tab$internal == "", ]
int <- tab[tab$internal != "", ]
cat(sprintf("lme4 %s testthat suite with lmer() -> lemma::lmm() (lemma %s), %d files, LME4_TEST_LEVEL=%s\n\n",
            lme4_version, utils::packageVersion("lemma"), length(files), Sys.getenv("LME4_TEST_LEVEL")))
cat(sprintf("%-18s %-42s %-5s %s\n", "file", "block", "status", "first message"))
cat("== Blocks about linear mixed models\n")
show(lin)
cat("\n== Blocks testing lme4 internals (not counted; [why internal])\n")
show(int, "internal")
count <- function(s) vapply(c("pass", "fail", "error", "skip"), function(k) sum(s == k), integer(1))
cat("\nTotals (linear-model blocks):", paste(names(count(lin$status)), count(lin$status), sep = " = ", collapse = ", "),
    sprintf("(of %d)\n", nrow(lin)))
cat("Internal blocks:", paste(names(count(int$status)), count(int$status), sep = " = ", collapse = ", "),
    sprintf("(of %d)\n", nrow(int)))
invisible(tab)
