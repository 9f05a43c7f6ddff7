# Reads valgrind's XML report of the memcheck workload and prints the verdict
# of tools/valgrind.sh. Base R only (no XML package): valgrind's XML is
# regular enough for a few regular expressions.
#
# Usage: Rscript valgrind-verdict.R valgrind.xml workload.log exit_code run_s total_s
# Exit: 0 pass, 1 errors in lemma's code, 2 workload not finished.

args <- commandArgs(trailingOnly = TRUE)
xml_file <- args[1]; log_file <- args[2]
rc <- as.integer(args[3]); run_s <- args[4]; total_s <- args[5]

tag <- function(x, name) {
  m <- regmatches(x, regexpr(sprintf("<%s>[^<]*</%s>", name, name), x))
  if (length(m)) sub(sprintf("<%s>([^<]*)</%s>", name, name), "\\1", m) else NA_character_
}
tags <- function(x, name) {
  m <- regmatches(x, gregexpr(sprintf("<%s>[^<]*</%s>", name, name), x))[[1]]
  sub(sprintf("<%s>([^<]*)</%s>", name, name), "\\1", m)
}

finished <- file.exists(log_file) &&
  any(grepl("MEMCHECK WORKLOAD DONE", readLines(log_file, warn = FALSE)))
if (!file.exists(xml_file)) {
  cat("VALGRIND VERDICT: ERROR - no valgrind report at", xml_file, "\n")
  quit(status = 2)
}
xml <- paste(readLines(xml_file, warn = FALSE), collapse = "\n")
blocks <- regmatches(xml, gregexpr("<error>.*?</error>", xml))[[1]]

describe <- function(b) {
  frames <- regmatches(b, gregexpr("<frame>.*?</frame>", b))[[1]]
  obj <- vapply(frames, tag, "", name = "obj")
  fn <- vapply(frames, tag, "", name = "fn")
  file <- vapply(frames, tag, "", name = "file")
  line <- vapply(frames, tag, "", name = "line")
  what <- tag(b, "what")
  if (is.na(what)) what <- tag(b, "text")  # leak records use <xwhat><text>
  in_lemma <- !is.na(obj) & grepl("/lemma\\.so$", obj)
  where <- ifelse(is.na(file), basename(ifelse(is.na(obj), "?", obj)),
                  paste0(file, ":", line))
  list(kind = tag(b, "kind"), what = what, lemma = any(in_lemma),
       stack = paste0("    ", ifelse(in_lemma, "* ", "  "), fn, " (", where, ")"))
}
errs <- lapply(blocks, describe)
is_lemma <- vapply(errs, `[[`, TRUE, "lemma")
n_lemma <- sum(is_lemma)
n_other <- length(errs) - n_lemma

if (n_lemma > 0) {
  cat("\nErrors with a frame in lemma.so (* marks lemma's frames):\n")
  for (e in utils::head(errs[is_lemma], 10)) {
    cat(" -", e$kind, ":", e$what, "\n")
    cat(utils::head(e$stack, 25), sep = "\n")
  }
}
if (n_other > 0) {
  kinds <- table(vapply(errs[!is_lemma], `[[`, "", "kind"))
  cat("\nErrors elsewhere (no lemma frame; R or BLAS):",
      paste(names(kinds), kinds, sep = " x", collapse = ", "), "\n")
}
status <- if (!finished) 2L else if (n_lemma > 0) 1L else 0L
verdict <- c("PASS", "FAIL", "ERROR")[status + 1L]
cat(sprintf(paste0("\nVALGRIND VERDICT: %s - %d error(s) in lemma's code, %d elsewhere; ",
                   "workload %s (R exit %d); %s s under valgrind, %s s in all; report %s\n"),
            verdict, n_lemma, n_other, if (finished) "finished" else "DID NOT FINISH",
            rc, run_s, total_s, xml_file))
if (!finished) {
  cat("Last lines of the workload log", log_file, ":\n")
  cat(utils::tail(readLines(log_file, warn = FALSE), 15), sep = "\n")
}
quit(status = status)
