# Shared machinery of tools/fuzz-plink.R and tools/fuzz-formula.R: argument
# parsing, running each case in a child R session with a time limit, and
# classifying the outcome. Sourced by those scripts; not part of the package.
#
# Cases run one after another in a persistent child session (callr), so a
# case costs milliseconds rather than an R start-up. A crash kills only the
# child: it is recorded with its input, the case is replayed alone in a fresh
# session (to tell a crash of this input from damage left by earlier cases),
# and a new session continues. A case over the time limit is a hang: the child
# is killed and replaced.

fuzz_args <- function(defaults) {
  args <- commandArgs(trailingOnly = TRUE)
  if (any(args %in% c("-h", "--help"))) {
    cat("options (defaults):", paste0("--", names(defaults), "=", unlist(defaults)), sep = "\n  ")
    quit(status = 0)
  }
  for (a in args) {
    kv <- regmatches(a, regexec("^--([A-Za-z_]+)=(.*)$", a))[[1]]
    if (length(kv) != 3L || !kv[2] %in% names(defaults))
      stop("unknown argument '", a, "'; known: ", paste0("--", names(defaults), collapse = ", "))
    defaults[[kv[2]]] <- if (is.numeric(defaults[[kv[2]]])) as.numeric(kv[3]) else kv[3]
  }
  defaults
}

# Error messages that come from R's internals rather than from a check that
# names the user's argument, column or term: a missing check in lemma.
internal_patterns <- c(
  "subscript out of bounds", "argument \"[^\"]+\" is missing, with no default",
  "missing value where TRUE/FALSE needed", "argument is of length zero",
  "non-numeric argument to", "could not find function", "\\$ operator is invalid",
  "incorrect number of (dimensions|subscripts)", "replacement has [0-9]+ rows?",
  "arguments imply differing number of rows", "invalid (argument|subscript) type",
  "NAs are not allowed in subscripted", "Expecting a single", "Not compatible with requested type",
  "non-conformable", "attempt to apply non-function", "is not subsettable",
  "invalid 'times' argument", "undefined columns selected", "the condition has length",
  "number of items to replace", "std::", "bad_alloc", "Eigen", "argument of length 0",
  "invalid model formula", "cannot coerce type", "unused argument", "object of type 'closure'",
  "'x' must be (numeric|an array|atomic)", "invalid first argument", "dims \\[product",
  "negative length vectors", "cannot allocate", "index out of bounds", "is not TRUE",
  "must have the same length", "invalid 'length' argument", "non-finite value supplied")

is_internal_message <- function(msg)
  any(vapply(internal_patterns, grepl, TRUE, x = msg, ignore.case = TRUE))

classes <- c("ok", "clean error", "internal error", "crash", "hang")

new_session <- function(setup) {
  s <- callr::r_session$new(wait = TRUE)
  s$run(setup)
  s
}

# Runs fun(arg) in the session; returns list(class, message, session) where
# session is the (possibly new) session to use next.
run_case <- function(session, fun, arg, timeout, setup) {
  session$call(fun, list(arg))
  state <- session$poll_process(as.integer(timeout * 1000))
  if (state == "timeout") {
    session$kill()
    return(list(class = "hang", message = sprintf("no result after %g s", timeout),
                value = NULL, session = new_session(setup)))
  }
  r <- session$read()
  if (!session$is_alive() || identical(r$code, 501L)) {
    msg <- if (!is.null(r$error)) conditionMessage(r$error) else "the R session died"
    tail_err <- paste(utils::tail(strsplit(r$stderr %||% "", "\n")[[1]], 5), collapse = " | ")
    return(list(class = "crash", message = paste(msg, tail_err), value = NULL,
                session = new_session(setup)))
  }
  if (!is.null(r$error)) {
    # an error outside the case's own tryCatch (should not happen): record it
    e <- r$error$parent %||% r$error
    return(list(class = "internal error", message = paste("runner:", conditionMessage(e)),
                value = NULL, session = session))
  }
  v <- r$result
  cls <- if (isTRUE(v$ok)) "ok" else if (is_internal_message(v$message)) "internal error" else "clean error"
  list(class = cls, message = v$message %||% "", value = v, session = session)
}

# Replays one case in a fresh session: TRUE when it crashes or hangs alone too.
replay_alone <- function(fun, arg, timeout, setup) {
  s <- new_session(setup)
  res <- run_case(s, fun, arg, timeout, setup)
  try(res$session$close(), silent = TRUE)
  res$class %in% c("crash", "hang")
}

`%||%` <- function(a, b) if (is.null(a)) b else a

# The time-bounded loop both fuzzers run: cases from make_case(k) in one child
# session, a crash or hang replayed alone in a fresh one. record(cs, r) turns a
# case and its outcome into the stored result. Returns the results and the time.
fuzz_loop <- function(make_case, child, setup, opt, record) {
  t0 <- Sys.time()
  session <- new_session(setup)
  results <- list()
  k <- 0L
  while (as.numeric(difftime(Sys.time(), t0, units = "secs")) < opt$minutes * 60) {
    k <- k + 1L
    cs <- make_case(k)
    r <- run_case(session, child, cs, opt$timeout, setup)
    session <- r$session
    if (r$class %in% c("crash", "hang")) {
      alone <- replay_alone(child, cs, opt$timeout, setup)
      r$message <- paste0(r$message, if (alone) " [reproduced alone]" else " [NOT reproduced alone]")
    }
    results[[k]] <- record(cs, r, k)
  }
  try(session$close(), silent = TRUE)
  list(results = results, elapsed = as.numeric(difftime(Sys.time(), t0, units = "secs")))
}

print_summary <- function(results, what, describe, n_examples = 5L) {
  cls <- factor(vapply(results, `[[`, "", "class"), levels = classes)
  tab <- table(cls)
  cat(sprintf("\n%s: %d cases\n", what, length(results)))
  for (k in names(tab)) cat(sprintf("  %-15s %6d\n", k, tab[[k]]))
  for (k in c("crash", "hang", "internal error")) {
    idx <- which(cls == k)
    if (!length(idx)) next
    cat(sprintf("\nFirst %s cases (%d in all):\n", k, length(idx)))
    for (i in utils::head(idx, n_examples)) {
      cat("  case", results[[i]]$case, ":", describe(results[[i]]), "\n")
      cat("     ->", substr(gsub("\\s+", " ", results[[i]]$message), 1, 300), "\n")
    }
  }
  invisible(tab)
}
