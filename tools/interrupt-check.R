# How fast does Ctrl-C stop lmm()'s C++ set-up (the blocked cross-products of
# [Z X y])? A child R process builds the model of InstEval stacked `reps` times
# (lme4::InstEval, y ~ service + (1 | s) + (1 | d) + (1 | dept:service)); the parent
# sends it SIGINT `after` seconds into the C++ call and reports how long the child
# took to stop (a non-interactive R halts on an interrupt), next to the length of an
# uninterrupted set-up.
#
#   Rscript tools/interrupt-check.R [lib] [reps] [after]
#
# `lib`: the library holding lemma (default: the usual library paths).
args <- commandArgs(TRUE)
lib <- if (length(args) >= 1 && nzchar(args[1])) args[1] else ""
reps <- if (length(args) >= 2) as.integer(args[2]) else 10L
after <- if (length(args) >= 3) as.numeric(args[3]) else 0.5
stopifnot(.Platform$OS.type == "unix", requireNamespace("lme4", quietly = TRUE))

dir <- tempfile("interrupt-check")
dir.create(dir)
f <- function(name) file.path(dir, name)
child <- sprintf('
if (nzchar("%s")) .libPaths(c("%s", .libPaths()))
suppressPackageStartupMessages(library(lemma))
data(InstEval, package = "lme4")
d <- InstEval[rep(seq_len(nrow(InstEval)), %d), ]
fr <- lmm_frame(y ~ service + (1 | s) + (1 | d) + (1 | dept:service), d)
mark <- function(name) writeLines(format(as.numeric(Sys.time()), digits = 15), file.path("%s", name))
t0 <- Sys.time(); invisible(lemma:::new_model_ptr(fr)); full <- as.numeric(Sys.time() - t0, units = "secs")
writeLines(format(full, digits = 6), file.path("%s", "full"))
writeLines(as.character(Sys.getpid()), file.path("%s", "pid"))
mark("start")
invisible(lemma:::new_model_ptr(fr))
mark("finished")
', lib, lib, reps, dir, dir, dir)
writeLines(child, f("child.R"))
system2(file.path(R.home("bin"), "Rscript"), c("--vanilla", shQuote(f("child.R"))), wait = FALSE,
        stdout = f("child.log"), stderr = f("child.log"))
while (!file.exists(f("start"))) Sys.sleep(0.01)
Sys.sleep(after)
sent <- as.numeric(Sys.time())
pid <- as.integer(readLines(f("pid")))
tools::pskill(pid, tools::SIGINT)
# Signal 0 only asks whether the process still exists.
while (isTRUE(tools::pskill(pid, 0L))) Sys.sleep(0.005)
gone <- as.numeric(Sys.time())
outcome <- if (file.exists(f("finished"))) "finished the set-up, then stopped" else "stopped"
cat(sprintf("rows %d: uninterrupted set-up %.2f s; SIGINT sent %.2f s into the set-up; %s %.3f s later\n",
            nrow(lme4::InstEval) * reps, as.numeric(readLines(f("full"))), after, outcome, gone - sent))
unlink(dir, recursive = TRUE)
