# Bounded, seeded fuzzing of lemma's PLINK reader and what reads genotypes
# through it (as.matrix, grm, lmm_scan).
#
#   Rscript tools/fuzz-plink.R [--minutes=2] [--seed=1] [--timeout=30] [--out=DIR]
#
# Each case mutates a small fileset cut from inst/extdata/example.* (37
# individuals, so the last byte of each SNP has padding bits, x 40 SNPs):
# truncated or extended .bed, flipped bytes, wrong magic or mode bytes, lines
# dropped, duplicated or cut in .bim/.fam, odd fields (NA, -9, text, huge or
# negative numbers, empty), CRLF, tabs, binary garbage, missing files. It then
# runs read_plink(), as.matrix() of a random subset, grm() (both methods) and
# lmm_scan(test = "all") in a child R session and classifies the outcome:
#   ok              every step ran (a result with NaN/Inf and no warning is
#                   counted as an internal error)
#   clean error     an R error whose message is lemma's own
#   internal error  an error message from R's internals (see fuzz-helpers.R)
#   crash           the child R process died
#   hang            no result within --timeout seconds
# Cases that crash or hang are saved under --out (default: a temporary
# directory) with the mutations applied. Inputs found mishandled by earlier
# runs (known_cases below) run first. Exit status 1 on any crash or hang.

script_dir <- dirname(normalizePath(sub("^--file=", "",
  grep("^--file=", commandArgs(FALSE), value = TRUE)[1])))
source(file.path(script_dir, "fuzz-helpers.R"))
opt <- fuzz_args(list(minutes = 2, seed = 1, timeout = 30, out = ""))
if (!nzchar(opt$out)) opt$out <- tempfile("lemma-fuzz-plink-")
dir.create(opt$out, recursive = TRUE, showWarnings = FALSE)
suppressPackageStartupMessages(library(lemma))
set.seed(opt$seed)

# ---- the base fileset --------------------------------------------------------
ex <- sub("\\.bed$", "", system.file("extdata", "example.bed", package = "lemma"))
g0 <- read_plink(ex)
n0 <- 37L; m0 <- 40L
base_dir <- file.path(opt$out, "base")
dir.create(base_dir, showWarnings = FALSE)
lemma:::write_plink(file.path(base_dir, "ex"), as.matrix(g0, snps = 1:m0, individuals = 1:n0),
                    g0$bim[1:m0, ], g0$fam[1:n0, ])
# keep the original text of the tables (tabs in .bim, spaces in .fam)
writeLines(readLines(paste0(ex, ".bim"))[1:m0], file.path(base_dir, "ex.bim"))
writeLines(readLines(paste0(ex, ".fam"))[1:n0], file.path(base_dir, "ex.fam"))
base <- list(bed = readBin(file.path(base_dir, "ex.bed"), "raw", 1e6),
             bim = readLines(file.path(base_dir, "ex.bim")),
             fam = readLines(file.path(base_dir, "ex.fam")))

# ---- mutations ----------------------------------------------------------------
odd_fields <- c("NA", "-9", "0", "", "abc", "1e308", "-1e308", "Inf", "NaN", "-0", "3.5",
                "2147483648", "-2147483649", "\u00e9\u00e8", "#", "'", "\"", "1,5", "0x1F",
                strrep("A", 300), "-", ".", "TRUE")
pick <- function(x) x[sample.int(length(x), 1L)]  # also right for a length-1 x
snp_bytes <- (n0 + 3L) %/% 4L
mutate_bed <- function(b) {
  n <- length(b)
  op <- pick(if (n < 3L + snp_bytes) c("extend", "empty", "magic")
             else c("truncate", "extend", "flip", "flip", "flip", "magic", "mode", "random",
                    "fill", "fill", "empty", "drop_snp", "add_snp"))
  b <- switch(op,
    truncate = b[seq_len(pick(0:(n - 1)))],
    extend = c(b, as.raw(sample(0:255, pick(1:300), TRUE))),
    flip = { i <- sample.int(n, min(n, pick(1:20))); b[i] <- as.raw(sample(0:255, length(i), TRUE)); b },
    magic = { if (n < 3L) b <- c(b, raw(3L - n)); b[pick(1:2)] <- as.raw(pick(0:255)); b },
    mode = { b[3] <- as.raw(pick(c(0:2, 255))); b },
    random = as.raw(sample(0:255, n, TRUE)),
    fill = c(b[1:3], rep(as.raw(pick(c(0x00, 0x55, 0xaa, 0xff))), n - 3L)),
    empty = raw(0),
    drop_snp = b[-(3L + seq_len(snp_bytes))],
    add_snp = c(b, b[3L + seq_len(snp_bytes)]))
  list(data = b, op = paste0("bed:", op))
}
mutate_table <- function(x, which) {
  n <- length(x)
  if (n == 0L) return(list(data = base[[which]][1], op = paste0(which, ":one_line")))
  op <- pick(c("drop_line", "dup_line", "add_line", "cut_line", "drop_field", "add_field",
               "odd_field", "odd_field", "odd_field", "crlf", "tabs", "spaces", "blank_line",
               "empty", "garbage", "header", "dup_id", "comment"))
  i <- pick(seq_len(n))
  fields <- function(s) strsplit(s, "[ \t]+")[[1]]
  x <- switch(op,
    drop_line = x[-i],
    dup_line = append(x, x[i], i),
    add_line = c(x, pick(x)),
    cut_line = { x[i] <- substr(x[i], 1, pick(0:nchar(x[i]))); x },
    drop_field = { f <- fields(x[i]); x[i] <- paste(f[-pick(seq_along(f))], collapse = " "); x },
    add_field = { x[i] <- paste(x[i], pick(odd_fields[odd_fields != ""])); x },
    odd_field = { f <- fields(x[i]); f[pick(seq_len(max(1L, length(f))))] <- pick(odd_fields)
                  x[i] <- paste(f, collapse = " "); x },
    crlf = paste0(x, "\r"),
    tabs = gsub(" ", "\t", x),
    spaces = gsub("[ \t]", "  ", x),
    blank_line = append(x, "", i),
    empty = character(0),
    garbage = { x[i] <- rawToChar(as.raw(sample(c(1:9, 11:255), 40, TRUE))); x },
    header = c(if (which == "bim") "CHR SNP CM POS A1 A2" else "FID IID PID MID SEX PHENO", x),
    dup_id = { f <- fields(x[i]); j <- pick(seq_len(n)); fj <- fields(x[j])
               fj[2] <- f[2]; x[j] <- paste(fj, collapse = " "); x },
    comment = { x[i] <- paste0("#", x[i]); x })
  list(data = x, op = paste0(which, ":", op))
}
# Inputs that earlier runs found mishandled; they run first, whatever the seed.
known_cases <- list(
  # a non-numeric phenotype is read as missing without a warning
  list(ops = "fam:pheno 'abc' (known)", edit = function(files) {
    f <- strsplit(files$fam[1], " ")[[1]]; f[6] <- "abc"
    files$fam[1] <- paste(f, collapse = " "); files }))

make_case <- function(k) {
  files <- base
  ops <- character(0)
  if (k <= length(known_cases)) {
    files <- known_cases[[k]]$edit(files)
    ops <- known_cases[[k]]$ops
  } else {
    for (r in seq_len(sample(3L, 1L, prob = c(0.6, 0.3, 0.1)))) {
      target <- sample(c("bed", "bim", "fam", "missing"), 1L, prob = c(0.45, 0.25, 0.25, 0.05))
      if (target == "missing") {
        w <- pick(c("bed", "bim", "fam"))
        files[[w]] <- NULL
        ops <- c(ops, paste0(w, ":missing"))
        next
      }
      if (is.null(files[[target]])) next
      m <- if (target == "bed") mutate_bed(files$bed) else mutate_table(files[[target]], target)
      files[target] <- list(m$data)
      ops <- c(ops, m$op)
    }
  }
  dir <- file.path(opt$out, "cases", sprintf("case%05d", k))
  dir.create(dir, recursive = TRUE, showWarnings = FALSE)
  prefix <- file.path(dir, "ex")
  if (!is.null(files$bed)) writeBin(files$bed, paste0(prefix, ".bed"))
  for (w in c("bim", "fam")) if (!is.null(files[[w]])) {
    con <- file(paste0(prefix, ".", w), "wb")  # keep \r and odd bytes as written
    writeLines(files[[w]], con, useBytes = TRUE)
    close(con)
  }
  list(case = k, prefix = prefix, dir = dir, ops = ops,
       snps = sort(sample.int(m0, pick(seq_len(m0)))), inds = sample.int(n0, pick(seq_len(n0))))
}

# ---- the child's work ----------------------------------------------------------
setup <- function() {
  suppressPackageStartupMessages(library(lemma))
  options(lemma.threads = 1L, warn = 1)
  future::plan("sequential")
  invisible(TRUE)
}
child <- function(cs) {
  stage <- "read_plink"
  warned <- character(0)
  out <- withCallingHandlers(tryCatch({
    g <- read_plink(cs$prefix)
    # a phenotype that is neither a number nor a missing code must not
    # become NA without a word
    raw <- tryCatch(utils::read.table(paste0(cs$prefix, ".fam"), colClasses = "character",
                                      comment.char = "", quote = "")[[6]], error = function(e) NULL)
    if (length(raw) == g$n) {
      odd <- is.na(g$fam$pheno) & !raw %in% c("-9", "NA") & !grepl("^-9(\\.0*)?$", raw)
      if (any(odd) && !length(warned))
        stop("INTERNAL: phenotype '", raw[odd][1], "' read as missing without a warning")
    }
    stage <- "as.matrix"
    G <- as.matrix(g)
    G2 <- as.matrix(g, snps = cs$snps[cs$snps <= g$m], individuals = cs$inds[cs$inds <= g$n])
    stage <- "grm"
    K <- suppressMessages(grm(g))
    if (!all(is.finite(K)) && !length(warned)) stop("INTERNAL: grm() returned non-finite values silently")
    stage <- "grm standardized"
    K2 <- suppressMessages(grm(g, method = "standardized"))
    if (!all(is.finite(K2)) && !length(warned))
      stop("INTERNAL: grm(standardized) returned non-finite values silently")
    stage <- "lmm_scan"
    res <- suppressMessages(lmm_scan(list(y = g$fam$pheno, X = matrix(1, g$n, 1), K = K), g,
                                     test = "all", threads = 1L))
    bad <- !is.finite(res$p_wald) | !is.finite(res$p_lrt) | !is.finite(res$p_score)
    if (any(bad) && !length(warned)) stop("INTERNAL: lmm_scan() returned non-finite p-values silently")
    list(ok = TRUE, stage = "done", message = "", warnings = warned)
  }, error = function(e) list(ok = FALSE, stage = stage, message = conditionMessage(e),
                              warnings = warned)),
  warning = function(w) { warned <<- c(warned, conditionMessage(w)); invokeRestart("muffleWarning") })
  out
}
# silent non-finite results count as internal errors
internal_patterns <- c(internal_patterns, "^INTERNAL:")

# ---- the run -------------------------------------------------------------------
cat(sprintf("fuzz-plink: seed %g, %g minute(s), timeout %g s per case, cases in %s\n",
            opt$seed, opt$minutes, opt$timeout, opt$out))
run <- fuzz_loop(make_case, child, setup, opt, function(cs, r, k) {
  # Keep the files of a crash or hang to replay; others are removed.
  if (r$class %in% c("crash", "hang")) saveRDS(cs, file.path(cs$dir, "case.rds"))
  else unlink(cs$dir, recursive = TRUE)
  list(case = k, class = r$class, message = r$message, ops = cs$ops,
       stage = r$value$stage %||% NA_character_, dir = cs$dir)
})
results <- run$results
elapsed <- run$elapsed

tab <- print_summary(results, "fuzz-plink",
                     function(r) paste0(paste(r$ops, collapse = " + "), " (", r$dir, ")"))
stages <- table(vapply(results, function(r) if (r$class == "ok") "all steps" else
  paste("error at", r$stage), ""))
cat("\nWhere the cases ended:\n")
for (s in names(stages)) cat(sprintf("  %-28s %6d\n", s, stages[[s]]))
mask <- function(m) gsub("[0-9]+", "N", gsub("'[^']*'", "'...'", gsub("/[^ ,']*/", "", m)))
msgs <- vapply(results, function(r) if (r$class == "clean error") substr(mask(r$message), 1, 90)
               else NA_character_, "")
top <- utils::head(sort(table(msgs[!is.na(msgs)]), decreasing = TRUE), 12)
cat("\nMost frequent clean error messages (numbers, directories and quoted names masked):\n")
for (m in names(top)) cat(sprintf("  %5d  %s\n", top[[m]], m))
saveRDS(results, file.path(opt$out, "results.rds"))
n_bad <- tab[["crash"]] + tab[["hang"]]
cat(sprintf("\nFUZZ-PLINK VERDICT: %s - %d cases in %.0f s (seed %g): %d ok, %d clean errors, %d internal errors, %d crashes, %d hangs; results %s\n",
            if (n_bad == 0) "PASS" else "FAIL", length(results), elapsed, opt$seed,
            tab[["ok"]], tab[["clean error"]], tab[["internal error"]], tab[["crash"]], tab[["hang"]],
            file.path(opt$out, "results.rds")))
quit(status = if (n_bad == 0) 0L else 1L)
